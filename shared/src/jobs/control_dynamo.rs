//! The control item in DynamoDB, beside the job records.

use std::collections::HashMap;

use super::control::{Control, ControlRead, ControlState, ControlWrite, control_id};
use super::dynamo::DynamoJobs;
use super::ports::JobError;
use crate::dynamo::{DynamoError, Item, condition_failed, n, number, required_number, s, text};

fn to_item(c: &Control) -> Item {
    let mut item = HashMap::from([
        ("job_id".to_owned(), s(control_id(&c.job_id))),
        ("controls".to_owned(), s(&c.job_id)),
        ("state".to_owned(), s(c.state.as_str())),
        ("by".to_owned(), s(&c.by)),
        ("at_ms".to_owned(), n(c.at_ms)),
        ("version".to_owned(), n(c.version)),
    ]);
    if let Some(rate) = c.rate_per_second {
        item.insert("rate_per_second".into(), n(rate));
    }
    if let Some(reason) = &c.reason {
        item.insert("reason".into(), s(reason));
    }
    item
}

fn from_item(item: &Item) -> Result<Control, JobError> {
    let job_id = text(item, "controls").cloned().unwrap_or_else(|| "(no job)".into());
    let corrupt = |message: String| JobError::Corrupt { job_id: control_id(&job_id), message };
    let state = text(item, "state").and_then(|s| ControlState::parse(s)).ok_or_else(|| corrupt("bad state".into()))?;
    Ok(Control {
        state,
        rate_per_second: number(item, "rate_per_second").map_err(corrupt)?,
        by: text(item, "by").cloned().ok_or_else(|| corrupt("missing by".into()))?,
        reason: text(item, "reason").cloned(),
        at_ms: required_number(item, "at_ms").map_err(corrupt)?,
        version: required_number(item, "version").map_err(corrupt)?,
        job_id,
    })
}

impl ControlRead for DynamoJobs {
    async fn control(&self, job_id: &str) -> Result<Option<Control>, JobError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .key("job_id", s(control_id(job_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| DynamoError::new("GetItem", self.table(), e))?;
        out.item.as_ref().map(from_item).transpose()
    }
}

impl ControlWrite for DynamoJobs {
    async fn put_control(&self, control: &Control, expected: u64) -> Result<bool, JobError> {
        let put = self.client().put_item().table_name(self.table()).set_item(Some(to_item(control)));
        let put = if expected == 0 {
            put.condition_expression("attribute_not_exists(job_id)")
        } else {
            put.condition_expression("version = :expected").expression_attribute_values(":expected", n(expected))
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(DynamoError::new("PutItem", self.table(), e).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip() {
        let c = Control {
            job_id: "j".into(),
            state: ControlState::Paused,
            rate_per_second: Some(250.5),
            by: "ops@example.com".into(),
            reason: Some("wrong link".into()),
            at_ms: 5,
            version: 2,
        };
        assert_eq!(from_item(&to_item(&c)).unwrap(), c);
        assert_eq!(text(&to_item(&c), "job_id").unwrap(), "j#control");
    }
}
