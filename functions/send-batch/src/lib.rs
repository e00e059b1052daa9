//! send-batch's handler and its parts, as a library so that tests can drive
//! it in-process with in-memory ports.
//!
//! One S3 event or continuation goes handler → claim (who runs the link) →
//! job (the batch loop) → send (one batch), with fanout for sharded jobs
//! and reports (receipts among them) for what lands in the bucket; link holds the words they share.

pub mod audience;
pub mod claim;
pub mod controls;
pub mod deps;
pub mod ending;
pub mod fanout;
pub mod gate;
pub mod handler;
pub mod job;
pub mod link;
pub mod parts;
pub mod pipeline;
pub mod providers;
pub mod reading;
pub mod receipts;
pub mod reports;
pub mod send;
pub mod settings;
pub mod timing;
pub mod watchdog;
pub mod window;
