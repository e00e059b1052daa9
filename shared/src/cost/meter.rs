//! What this process used since it was last asked: Lambda time, S3
//! requests by price class, DynamoDB capacity units. An SDK interceptor on
//! every S3 and DynamoDB client `crate::aws` builds does the counting; it
//! asks DynamoDB for `ReturnConsumedCapacity: TOTAL` on every request, so
//! the units are DynamoDB's own, not a model's.
//!
//! The meter is per process, because Lambda runs one invocation at a time
//! per execution environment: send-batch charges what a link used to its
//! job at each record write (`take`), so a warm container's next job starts
//! from zero.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use aws_sdk_dynamodb::operation::{
    batch_get_item::{BatchGetItemInput, BatchGetItemOutput},
    batch_write_item::{BatchWriteItemInput, BatchWriteItemOutput},
    delete_item::{DeleteItemInput, DeleteItemOutput},
    get_item::{GetItemInput, GetItemOutput},
    put_item::{PutItemInput, PutItemOutput},
    query::{QueryInput, QueryOutput},
    update_item::{UpdateItemInput, UpdateItemOutput},
};
use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextMut, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use super::Usage;

/// Capacity units are counted in thousandths (DynamoDB reports halves).
const MILLI: f64 = 1000.0;

struct Meter {
    s3_get: AtomicU64,
    s3_put: AtomicU64,
    s3_list: AtomicU64,
    read_milli: AtomicU64,
    write_milli: AtomicU64,
    /// Since when, and at how many MB, Lambda time is being charged.
    clock: Mutex<Option<(Instant, u32)>>,
}

static METER: Meter = Meter {
    s3_get: AtomicU64::new(0),
    s3_put: AtomicU64::new(0),
    s3_list: AtomicU64::new(0),
    read_milli: AtomicU64::new(0),
    write_milli: AtomicU64::new(0),
    clock: Mutex::new(None),
};

/// An invocation starts: its time is charged from now, at `memory_mb`,
/// and what an earlier invocation of this container used after its last
/// charge is not this one's.
pub fn start_invocation(memory_mb: u32) {
    *METER.clock.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), memory_mb));
    for counter in [&METER.s3_get, &METER.s3_put, &METER.s3_list, &METER.read_milli, &METER.write_milli] {
        counter.store(0, Ordering::Relaxed);
    }
}

/// What was used since the last `take` (or the invocation's start), and
/// starts counting again from zero. `invocations` is left to the caller,
/// which knows whether this is a new one.
pub fn take() -> Usage {
    let units = |a: &AtomicU64| a.swap(0, Ordering::Relaxed) as f64 / MILLI;
    let gb_seconds = {
        let mut clock = METER.clock.lock().unwrap_or_else(|p| p.into_inner());
        match clock.as_mut() {
            Some((since, memory_mb)) => {
                let now = Instant::now();
                let seconds = now.duration_since(*since).as_secs_f64();
                *since = now;
                Usage::gb_seconds(*memory_mb, seconds)
            }
            None => 0.0,
        }
    };
    Usage {
        gb_seconds,
        invocations: 0,
        s3_get: METER.s3_get.swap(0, Ordering::Relaxed),
        s3_put: METER.s3_put.swap(0, Ordering::Relaxed),
        s3_list: METER.s3_list.swap(0, Ordering::Relaxed),
        dynamodb_read_units: units(&METER.read_milli),
        dynamodb_write_units: units(&METER.write_milli),
    }
}

fn add_units(counter: &AtomicU64, units: f64) {
    counter.fetch_add((units * MILLI).round() as u64, Ordering::Relaxed);
}

/// S3's price classes by operation: GET and HEAD; PUT, POST, COPY and
/// LIST; anything else (DELETE is free) not counted.
fn s3_class(operation: &str) -> Option<&'static AtomicU64> {
    match operation {
        "GetObject" | "HeadObject" => Some(&METER.s3_get),
        "PutObject" | "CreateMultipartUpload" | "UploadPart" | "CompleteMultipartUpload" | "CopyObject" => {
            Some(&METER.s3_put)
        }
        "ListObjectsV2" | "ListObjects" => Some(&METER.s3_list),
        _ => None,
    }
}

fn condition_failed(e: &aws_smithy_runtime_api::client::interceptors::context::Error) -> bool {
    use aws_sdk_dynamodb::operation::{
        delete_item::DeleteItemError, put_item::PutItemError, update_item::UpdateItemError,
    };
    matches!(e.downcast_ref::<PutItemError>(), Some(PutItemError::ConditionalCheckFailedException(_)))
        || matches!(e.downcast_ref::<UpdateItemError>(), Some(UpdateItemError::ConditionalCheckFailedException(_)))
        || matches!(e.downcast_ref::<DeleteItemError>(), Some(DeleteItemError::ConditionalCheckFailedException(_)))
}

fn capacity(c: &ConsumedCapacity) -> f64 {
    c.capacity_units.unwrap_or(0.0)
}

/// The interceptor; see the module's comment.
#[derive(Debug, Clone, Copy, Default)]
pub struct UsageMeter;

impl Intercept for UsageMeter {
    fn name(&self) -> &'static str {
        "pushbatch-usage-meter"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input_mut();
        let total = Some(ReturnConsumedCapacity::Total);
        macro_rules! ask {
            ($($t:ty),*) => {
                $(if let Some(i) = input.downcast_mut::<$t>() {
                    i.return_consumed_capacity = i.return_consumed_capacity.take().or(total);
                    return Ok(());
                })*
            };
        }
        ask!(
            GetItemInput,
            BatchGetItemInput,
            QueryInput,
            PutItemInput,
            UpdateItemInput,
            DeleteItemInput,
            BatchWriteItemInput
        );
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(meta) = cfg.load::<Metadata>() else { return Ok(()) };
        match (meta.service(), context.output_or_error()) {
            // S3 bills every request, answered or not (but not 5xx; rare
            // enough not to model).
            ("S3" | "s3", Some(_)) => {
                if let Some(counter) = s3_class(meta.name()) {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
            ("DynamoDB" | "dynamodb", Some(Ok(output))) => {
                let reads = |c: Option<&ConsumedCapacity>| add_units(&METER.read_milli, c.map_or(0.0, capacity));
                let writes = |c: Option<&ConsumedCapacity>| add_units(&METER.write_milli, c.map_or(0.0, capacity));
                if let Some(o) = output.downcast_ref::<GetItemOutput>() {
                    reads(o.consumed_capacity());
                } else if let Some(o) = output.downcast_ref::<BatchGetItemOutput>() {
                    o.consumed_capacity().iter().for_each(|c| reads(Some(c)));
                } else if let Some(o) = output.downcast_ref::<QueryOutput>() {
                    reads(o.consumed_capacity());
                } else if let Some(o) = output.downcast_ref::<PutItemOutput>() {
                    writes(o.consumed_capacity());
                } else if let Some(o) = output.downcast_ref::<UpdateItemOutput>() {
                    writes(o.consumed_capacity());
                } else if let Some(o) = output.downcast_ref::<DeleteItemOutput>() {
                    writes(o.consumed_capacity());
                } else if let Some(o) = output.downcast_ref::<BatchWriteItemOutput>() {
                    o.consumed_capacity().iter().for_each(|c| writes(Some(c)));
                }
            }
            // A write whose condition failed is billed (at least one unit)
            // but its error carries no capacity: count the minimum.
            ("DynamoDB" | "dynamodb", Some(Err(e))) if e.as_operation_error().is_some_and(condition_failed) => {
                add_units(&METER.write_milli, 1.0);
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_requests_are_counted_by_price_class() {
        assert!(std::ptr::eq(s3_class("HeadObject").unwrap(), &METER.s3_get));
        assert!(std::ptr::eq(s3_class("UploadPart").unwrap(), &METER.s3_put));
        assert!(std::ptr::eq(s3_class("ListObjectsV2").unwrap(), &METER.s3_list));
        assert!(s3_class("DeleteObject").is_none(), "free");
    }
}
