//! The schedule's input. template.yaml's EventBridge Scheduler targets send
//! `{"campaign": "<id>", "time": "<aws.scheduler.scheduled-time>"}`: the
//! scheduled time, not the delivery time, so a late or retried delivery
//! still runs the intended day. `date` overrides both, for back-fill.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleEvent {
    pub campaign: String,
    #[serde(default)]
    pub time: Option<DateTime<Utc>>,
    /// `YYYY-MM-DD`, UTC: run as if on this day.
    #[serde(default)]
    pub date: Option<NaiveDate>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the event for {campaign} has neither `time` nor `date`: nothing says which day to run")]
pub struct NoRunDay {
    pub campaign: String,
}

impl ScheduleEvent {
    /// The run's UTC day.
    pub fn run_day(&self) -> Result<NaiveDate, NoRunDay> {
        self.date
            .or_else(|| self.time.map(|t| t.date_naive()))
            .ok_or_else(|| NoRunDay { campaign: self.campaign.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_date_overrides_the_time() {
        let e: ScheduleEvent = serde_json::from_str(r#"{"campaign":"c","time":"2026-11-24T23:59:59Z"}"#).unwrap();
        assert_eq!(e.run_day().unwrap().to_string(), "2026-11-24");
        let e: ScheduleEvent =
            serde_json::from_str(r#"{"campaign":"c","time":"2026-11-24T10:00:00Z","date":"2026-11-01"}"#).unwrap();
        assert_eq!(e.run_day().unwrap().to_string(), "2026-11-01");
        let e: ScheduleEvent = serde_json::from_str(r#"{"campaign":"c"}"#).unwrap();
        assert!(e.run_day().is_err());
        assert!(serde_json::from_str::<ScheduleEvent>(r#"{"campaign":"c","dat":"2026-11-01"}"#).is_err());
    }
}
