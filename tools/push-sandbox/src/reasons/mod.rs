//! What the providers answer with when they refuse a request. The counters in
//! `stats` are indexed by these, so they live below both `stats` and the
//! handlers: the handlers depend on `stats`, never the other way round.

mod apns;
mod fcm;
mod webpush;

pub use apns::ApnsReason;
pub use fcm::FcmCode;
pub use webpush::WebPushReason;
