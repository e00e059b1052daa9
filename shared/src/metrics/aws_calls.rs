//! DynamoDB and S3 call latency by operation, from one SDK interceptor
//! that `crate::aws` puts on every client it builds: no adapter has to
//! time its own calls.

use std::time::Instant;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

use super::names::{AWS_CALL_ERRORS, AWS_CALL_LATENCY};
use super::quantize;

/// Times each operation from before it is serialized to its final answer
/// (SDK retries included).
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsCallTimer;

#[derive(Debug, Clone, Copy)]
struct Started(Instant);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

impl Intercept for AwsCallTimer {
    fn name(&self) -> &'static str {
        "pushbatch-call-timer"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(Instant::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (Some(started), Some(meta)) = (cfg.load::<Started>(), cfg.load::<Metadata>()) else {
            return Ok(());
        };
        let failed = !matches!(context.output_or_error(), Some(Ok(_)));
        record(meta.service(), meta.name(), started.0.elapsed(), failed);
        Ok(())
    }
}

/// Service names as the SDK gives them (`S3`, `DynamoDB`); operations as
/// the API names them (`GetObject`, `BatchGetItem`).
pub(super) fn record(service: &str, operation: &str, elapsed: std::time::Duration, failed: bool) {
    let (service, operation) = (service.to_owned(), operation.to_owned());
    metrics::histogram!(AWS_CALL_LATENCY.name, "service" => service.clone(), "operation" => operation.clone())
        .record(quantize::micros(elapsed));
    if failed {
        metrics::counter!(AWS_CALL_ERRORS.name, "service" => service, "operation" => operation).increment(1);
    }
}
