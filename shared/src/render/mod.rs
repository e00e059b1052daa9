//! Turns a batch's notification into what APNs, FCM and Web Push are sent,
//! per user, for each kind of push (`crate::batch::Kind`).
//!
//! The templates are compiled and checked once, before anything is sent: a
//! notification too big for a provider fails the job at once rather than
//! after a million 400s. Each payload is compiled into bytes with holes for
//! the users' `{{vars}}` (`template`); a notification without placeholders
//! is rendered once and its bytes shared by every user.

mod apns;
mod fcm;
mod languages;
mod template;
mod web;

use bytes::Bytes;
use serde_json::{Map, Value};

pub use apns::{ApnsHeaders, LIVE_ACTIVITY_TOPIC_SUFFIX, WireHeaders};
pub use languages::{LanguageError, Renderers, RenderersError};
pub use template::fill;
pub use web::{
    DEFAULT_TTL_SECONDS as WEB_DEFAULT_TTL_SECONDS, MAX_PLAINTEXT_BYTES as MAX_WEB_PLAINTEXT_BYTES, WebHeaders,
};

use crate::batch::{Header, Kind, Notification, Platform};
use template::{Compiled, Marker};

/// APNs and FCM both cap the payload at 4 KB.
pub const MAX_PAYLOAD_BYTES: usize = 4096;

/// Room reserved for the FCM token spliced into each request body: FCM
/// tokens are about 160 characters today.
const FCM_TOKEN_ALLOWANCE: usize = 200;
/// The FCM body up to its token: `{"message":{"token":<token>,...}}`.
const FCM_PREFIX: &[u8] = br#"{"message":{"token":"#;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("the notification renders to {bytes} bytes for {}; the limit is {limit}", .platform.as_str())]
    TooLarge { platform: Platform, bytes: usize, limit: usize },
    #[error("`{field}` cannot be sent as an HTTP header: {value:?}")]
    BadHeader { field: &'static str, value: String },
    #[error("the notification uses every private-use character, so its placeholders cannot be marked")]
    NoSentinel,
}

/// Everything a request carries besides its payload, the same for every
/// device of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers {
    pub apns: ApnsHeaders,
    pub web: WebHeaders,
}

/// One user's payloads.
#[derive(Debug, Clone)]
pub struct Payloads {
    pub apns: Bytes,
    /// The FCM body after its token (see [`Payloads::fcm_body`]).
    fcm_suffix: Bytes,
    /// The Web Push plaintext, before encryption.
    pub web: Bytes,
}

impl Payloads {
    /// The full `messages:send` body for one FCM token: a copy around the
    /// token rather than a serialization.
    pub fn fcm_body(&self, token: &str) -> Bytes {
        // Room for the quotes; a token needs no escaping (its check allows
        // none of JSON's special characters), though it would get it.
        let mut out = Vec::with_capacity(FCM_PREFIX.len() + token.len() + 2 + self.fcm_suffix.len());
        out.extend_from_slice(FCM_PREFIX);
        let mut quoted = serde_json::Serializer::new(&mut out);
        // Writing a string into a Vec cannot fail.
        let _ = serde::Serialize::serialize(token, &mut quoted);
        out.extend_from_slice(&self.fcm_suffix);
        Bytes::from(out)
    }
}

pub struct Renderer {
    kind: Kind,
    headers: Headers,
    apns: Compiled,
    /// None for a kind the provider does not carry.
    fcm_suffix: Option<Compiled>,
    web: Option<Compiled>,
    /// Set when no text has placeholders: every user gets the same bytes.
    shared: Option<Payloads>,
}

impl Renderer {
    /// Compiles the notification for its kind, checks it against every
    /// provider's size limit, and prepares the request headers.
    pub fn new(header: &Header, default_topic: &str) -> Result<Self, RenderError> {
        let (kind, n) = (header.kind, &header.notification);
        let headers = Headers { apns: apns::headers(kind, n, default_topic)?, web: web::headers(kind, n) };
        let mut marker = Marker::new(&literal_text(n)).ok_or(RenderError::NoSentinel)?;
        let apns_doc = apns::payload(kind, n, &mut marker).to_string();
        let fcm_doc = fcm::message(kind, n, &mut marker).map(|m| fcm_suffix(&m.to_string()));
        let web_doc = web::payload(kind, n, &mut marker).map(|w| w.to_string());
        let mut renderer = Self {
            kind,
            headers,
            apns: marker.compile(&apns_doc),
            fcm_suffix: fcm_doc.map(|d| marker.compile(&d)),
            web: web_doc.map(|d| marker.compile(&d)),
            shared: None,
        };
        // Rendering with no vars (defaults filled in) must already fit.
        let probe = renderer.render(&Map::new())?;
        let templates = [Some(&renderer.apns), renderer.fcm_suffix.as_ref(), renderer.web.as_ref()];
        if !templates.into_iter().flatten().any(Compiled::has_vars) {
            renderer.shared = Some(probe);
        }
        Ok(renderer)
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Whether this kind of push goes to the platform at all: a Live
    /// Activity exists only on iOS.
    pub fn sends_to(&self, platform: Platform) -> bool {
        self.kind != Kind::LiveActivity || platform == Platform::Ios
    }

    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    pub fn apns_headers(&self) -> &ApnsHeaders {
        &self.headers.apns
    }

    /// The payloads for one user, or which limit their vars broke.
    pub fn for_user(&self, vars: &Map<String, Value>) -> Result<Payloads, RenderError> {
        match &self.shared {
            Some(p) => Ok(p.clone()),
            None => self.render(vars),
        }
    }

    fn render(&self, vars: &Map<String, Value>) -> Result<Payloads, RenderError> {
        let too_large = |platform, bytes, limit| RenderError::TooLarge { platform, bytes, limit };
        let apns = self.apns.render(vars);
        if apns.len() > MAX_PAYLOAD_BYTES {
            return Err(too_large(Platform::Ios, apns.len(), MAX_PAYLOAD_BYTES));
        }
        let fcm_suffix = self.fcm_suffix.as_ref().map_or_else(Vec::new, |c| c.render(vars));
        let fcm_bytes = FCM_PREFIX.len() + fcm_suffix.len() + FCM_TOKEN_ALLOWANCE;
        if self.fcm_suffix.is_some() && fcm_bytes > MAX_PAYLOAD_BYTES {
            return Err(too_large(Platform::Android, fcm_bytes, MAX_PAYLOAD_BYTES));
        }
        let web = self.web.as_ref().map_or_else(Vec::new, |c| c.render(vars));
        if web.len() > MAX_WEB_PLAINTEXT_BYTES {
            return Err(too_large(Platform::Web, web.len(), MAX_WEB_PLAINTEXT_BYTES));
        }
        Ok(Payloads { apns: Bytes::from(apns), fcm_suffix: Bytes::from(fcm_suffix), web: Bytes::from(web) })
    }
}

/// The message `{...}` as the rest of the body after the token:
/// `,...}}` (or `}}` for an empty message).
fn fcm_suffix(message: &str) -> String {
    let inner = message.strip_prefix('{').unwrap_or(message);
    let comma = if inner == "}" { "" } else { "," };
    format!("{comma}{inner}}}")
}

/// Every text of the notification a payload's literal bytes come from (keys
/// included), for the choice of the placeholder marker.
fn literal_text(n: &Notification) -> String {
    let mut out = String::new();
    let texts = [&n.title, &n.body, &n.image, &n.thread_id, &n.sound, &n.collapse_key, &n.analytics_label];
    for text in texts.into_iter().flatten() {
        out.push_str(text);
    }
    let mut maps = vec![&n.data, &n.apns, &n.fcm, &n.web];
    if let Some(la) = &n.live_activity {
        maps.extend(la.content_state.iter().chain(la.attributes.iter()));
        out.push_str(la.attributes_type.as_deref().unwrap_or(""));
    }
    for map in maps {
        // A JSON value's Display is its encoding and cannot fail.
        out.push_str(&Value::Object(map.clone()).to_string());
    }
    out
}

/// Deep-merges `overrides` into `base`: objects merge, anything else replaces.
fn merge(base: &mut Map<String, Value>, overrides: &Map<String, Value>) {
    for (k, v) in overrides {
        match (base.get_mut(k), v) {
            (Some(Value::Object(b)), Value::Object(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests;
