//! Test fixtures shared by the adapters' and the planner's tests.

use chrono::{DateTime, Utc};

use super::model::Registration;
use super::plan::Slot;
use crate::batch::{Device, Platform};

pub fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

pub fn slot(token: &str, secs: Option<i64>) -> Slot {
    Slot { token: Some(token.into()), updated_at: secs.map(at) }
}

pub fn reg(token: &str, secs: i64) -> Registration {
    Registration { device: Device::new(Platform::Android, token), app: Some("com.example".into()), at: at(secs) }
}
