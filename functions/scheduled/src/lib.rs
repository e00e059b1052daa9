//! scheduled: run by one EventBridge schedule per campaign, it writes the
//! day's audience to `segments/<campaign>/<date>.jsonl` (ab-split takes it
//! from there). A library so that tests drive it in-process.

pub mod event;
pub mod handler;
pub mod settings;
