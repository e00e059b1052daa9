//! Asynchronous Lambda invocation: how one link of the chain starts the next.

use std::future::Future;
use std::sync::Mutex;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;

#[derive(Debug, thiserror::Error)]
#[error("cannot invoke {function}")]
pub struct InvokeError {
    pub function: String,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

pub trait InvokeAsync: Send + Sync {
    /// Queues an `Event` invocation; returns once Lambda has accepted it.
    fn invoke_async(&self, function: &str, payload: Vec<u8>) -> impl Future<Output = Result<(), InvokeError>> + Send;
}

pub struct LambdaInvoker {
    client: aws_sdk_lambda::Client,
}

impl LambdaInvoker {
    pub fn new(client: aws_sdk_lambda::Client) -> Self {
        Self { client }
    }
}

impl InvokeAsync for LambdaInvoker {
    async fn invoke_async(&self, function: &str, payload: Vec<u8>) -> Result<(), InvokeError> {
        let out = self
            .client
            .invoke()
            .function_name(function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|e| InvokeError { function: function.into(), source: Box::new(e) })?;
        if out.status_code() != 202 {
            let status = format!("Lambda answered {} instead of 202 Accepted", out.status_code());
            return Err(InvokeError { function: function.into(), source: status.into() });
        }
        Ok(())
    }
}

/// Records invocations instead of making them, for tests.
#[derive(Default)]
pub struct RecordingInvoker {
    pub sent: Mutex<Vec<(String, Vec<u8>)>>,
}

impl RecordingInvoker {
    pub fn take(&self) -> Vec<(String, Vec<u8>)> {
        std::mem::take(&mut *self.sent.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl InvokeAsync for RecordingInvoker {
    async fn invoke_async(&self, function: &str, payload: Vec<u8>) -> Result<(), InvokeError> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).push((function.into(), payload));
        Ok(())
    }
}
