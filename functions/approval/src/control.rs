//! Asking send-batch to stop a job: one synchronous Invoke with
//! `{"control": {...}}`, exactly as `pushbatch stop` sends it, so the one
//! piece of code that owns the control record sets it and wakes the job's
//! idle links (README, "Controlling a send").

use std::future::Future;
use std::sync::Mutex;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use serde::Serialize;
use serde_json::Value;

/// What the status page's Stop button asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StopRequest {
    pub job_id: String,
    /// Always `stop`: the page offers nothing else.
    pub action: &'static str,
    /// The caller's email, from the authorizer's claims.
    pub by: String,
    pub reason: String,
}

impl StopRequest {
    pub fn new(job_id: &str, by: &str) -> Self {
        Self {
            job_id: job_id.to_owned(),
            action: "stop",
            by: by.to_owned(),
            reason: "stopped from the approval page".to_owned(),
        }
    }

    /// The event send-batch reads.
    pub fn event(&self) -> Value {
        serde_json::json!({ "control": self })
    }
}

/// send-batch's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum StopAnswer {
    /// The control in force now (`{"control": {...}}`).
    Applied { state: String, status: String },
    /// Why nothing was done (`{"refused": {"reason"}}`): an unknown or
    /// finished job. A caller's mistake, not a failure.
    Refused(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot invoke {function}")]
    Invoke {
        function: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{function} failed ({kind}): {message}")]
    FunctionFailed { function: String, kind: String, message: String },
    #[error("{function} answered something that is neither a control nor a refusal: {answer}")]
    Unexpected { function: String, answer: String },
}

pub trait SendControl: Send + Sync {
    fn stop(
        &self,
        function: &str,
        request: &StopRequest,
    ) -> impl Future<Output = Result<StopAnswer, ControlError>> + Send;
}

/// Reads send-batch's answer; `function_error` is Lambda's
/// `X-Amz-Function-Error` (the function crashed or returned an error).
pub fn parse_answer(function: &str, body: &[u8], function_error: Option<&str>) -> Result<StopAnswer, ControlError> {
    let answer: Value =
        serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into()));
    if let Some(kind) = function_error {
        let message = answer["errorMessage"].as_str().map_or_else(|| answer.to_string(), str::to_owned);
        return Err(ControlError::FunctionFailed { function: function.into(), kind: kind.into(), message });
    }
    let text = |v: &Value| v.as_str().map(str::to_owned);
    if let Some(c) = answer.get("control") {
        if let (Some(state), Some(status)) = (text(&c["state"]), text(&c["status"])) {
            return Ok(StopAnswer::Applied { state, status });
        }
    } else if let Some(reason) = answer.get("refused").and_then(|r| text(&r["reason"])) {
        return Ok(StopAnswer::Refused(reason));
    }
    Err(ControlError::Unexpected { function: function.into(), answer: answer.to_string() })
}

pub struct LambdaControls {
    client: aws_sdk_lambda::Client,
}

impl LambdaControls {
    pub fn new(client: aws_sdk_lambda::Client) -> Self {
        Self { client }
    }
}

impl SendControl for LambdaControls {
    async fn stop(&self, function: &str, request: &StopRequest) -> Result<StopAnswer, ControlError> {
        let out = self
            .client
            .invoke()
            .function_name(function)
            .invocation_type(InvocationType::RequestResponse)
            .payload(Blob::new(request.event().to_string()))
            .send()
            .await
            .map_err(|e| ControlError::Invoke { function: function.into(), source: Box::new(e) })?;
        let body = out.payload().map(|b| b.as_ref()).unwrap_or_default();
        parse_answer(function, body, out.function_error())
    }
}

/// Records stop requests and answers with a canned send-batch answer, for
/// tests: `answer` is the raw JSON send-batch would return, or None for a
/// function error.
pub struct RecordingControls {
    pub sent: Mutex<Vec<(String, Value)>>,
    pub answer: Mutex<Option<Value>>,
}

impl Default for RecordingControls {
    fn default() -> Self {
        let applied = serde_json::json!({"control": {"state": "stopped", "status": "running"}});
        Self { sent: Mutex::default(), answer: Mutex::new(Some(applied)) }
    }
}

impl RecordingControls {
    pub fn sent(&self) -> Vec<(String, Value)> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl SendControl for RecordingControls {
    async fn stop(&self, function: &str, request: &StopRequest) -> Result<StopAnswer, ControlError> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).push((function.into(), request.event()));
        let answer = self.answer.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match answer {
            Some(body) => parse_answer(function, body.to_string().as_bytes(), None),
            None => parse_answer(function, br#"{"errorMessage": "boom"}"#, Some("Unhandled")),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_event_is_the_one_send_batch_reads() {
        let event = StopRequest::new("j-1", "mia@example.com").event();
        assert_eq!(
            event,
            json!({"control": {"job_id": "j-1", "action": "stop", "by": "mia@example.com",
                               "reason": "stopped from the approval page"}})
        );
    }

    #[test]
    fn answers_are_read_as_send_batch_writes_them() {
        let applied = json!({"control": {"job_id": "j", "state": "stopped", "status": "running", "links_woken": 0}});
        assert_eq!(
            parse_answer("sb", applied.to_string().as_bytes(), None).unwrap(),
            StopAnswer::Applied { state: "stopped".into(), status: "running".into() }
        );
        let refused =
            json!({"refused": {"job_id": "j", "reason": "job j is already done: there is nothing to control"}});
        assert!(
            matches!(parse_answer("sb", refused.to_string().as_bytes(), None), Ok(StopAnswer::Refused(r)) if r.contains("already done"))
        );
        let failed =
            parse_answer("sb", br#"{"errorType": "X", "errorMessage": "the jobs table is down"}"#, Some("Unhandled"));
        assert!(failed.unwrap_err().to_string().contains("the jobs table is down"));
        assert!(matches!(parse_answer("sb", b"null", None), Err(ControlError::Unexpected { .. })));
        assert!(matches!(parse_answer("sb", b"<html>", None), Err(ControlError::Unexpected { .. })));
    }
}
