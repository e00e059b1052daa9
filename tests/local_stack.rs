//! The local stack end to end: every part healthy, S3 object events routed
//! by prefix through the event plane, asynchronous invokes accepted, `up`
//! idempotent and `down` thorough.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_lambda::types::InvocationType;
use aws_sdk_s3::primitives::ByteStream;
use pushbatch_tests::{Part, Stack, StackOptions, eventually};
use serde_json::Value;

const SMALL_BATCH: &[u8] = include_bytes!("fixtures/small-batch.json");
/// The plane turns a PUT into an event at once.
const EVENT_WAIT: Duration = Duration::from_secs(30);
/// A delivery is recorded when the function returns; the harness builds
/// functions beforehand, but `cargo lambda watch` still checks freshness
/// (and may wait for cargo's lock) on the first invoke.
const DELIVERY_WAIT: Duration = Duration::from_secs(180);

fn is(record: &Value, function: &str, source: &str) -> bool {
    record["function"] == function && record["source"] == source
}

fn ids(records: &[Value], function: &str, source: &str) -> BTreeSet<String> {
    records.iter().filter(|r| is(r, function, source)).map(|r| r["id"].to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_stack_routes_events_and_invokes() -> anyhow::Result<()> {
    let mut stack = Stack::start(StackOptions::default()).await?;

    let status = stack.status().await;
    assert!(status.all_healthy(), "not all healthy:\n{}", status.render_table());
    assert_eq!(status.endpoints.len(), pushbatch_tests::Endpoint::ALL.len(), "every endpoint is reported");
    for part in Part::ALL {
        assert!(status.endpoints.iter().any(|e| e.part == part.name() && e.pid.is_some()), "{part} has no live pid");
    }

    // Under other/ first: if the plane wrongly emitted an event for it, that
    // event would be delivered before the one for batches/.
    let s3 = stack.s3().await;
    s3.put_object()
        .bucket(stack.bucket())
        .key("other/not-a-batch.json")
        .body(ByteStream::from_static(SMALL_BATCH))
        .send()
        .await?;
    s3.put_object()
        .bucket(stack.bucket())
        .key("batches/smoke.json")
        .body(ByteStream::from_static(SMALL_BATCH))
        .send()
        .await?;

    let event = eventually("the plane to emit an S3 event", EVENT_WAIT, || async {
        let stats = stack.plane_stats().await?;
        Ok((stats["s3_events"].as_u64() >= Some(1)).then_some(()))
    })
    .await;
    if let Err(e) = event {
        panic!("{e:#}\nevent-plane log:\n{}", stack.log_tail(Part::EventPlane, 30));
    }
    let delivered = eventually("an S3-sourced delivery to send-batch", DELIVERY_WAIT, || async {
        let records = stack.plane_invocations().await?;
        Ok((!ids(&records, "send-batch", "s3").is_empty()).then_some(records))
    })
    .await;
    let records = match delivered {
        Ok(records) => records,
        Err(e) => panic!("{e:#}\nwatch log:\n{}", stack.log_tail(Part::Watch, 30)),
    };
    // Give a wrongly routed other/ event time to show up too.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let records = stack.plane_invocations().await.unwrap_or(records);
    let s3_deliveries: Vec<&Value> = records.iter().filter(|r| r["source"] == "s3").collect();
    assert_eq!(
        ids(&records, "send-batch", "s3").len(),
        1,
        "exactly one S3 event (for batches/, none for other/): {s3_deliveries:#?}"
    );
    assert!(s3_deliveries.iter().all(|r| r["function"] == "send-batch"), "{s3_deliveries:#?}");
    let stats = stack.plane_stats().await?;
    assert_eq!(stats["s3_events"], 1, "plane stats: {stats}");

    // An asynchronous invoke, as send-batch's continuation will make it.
    let lambda = stack.lambda().await?;
    let continuation = serde_json::json!({"continue": {
        "job_id": "test-job", "bucket": stack.bucket(), "key": "batches/smoke.json",
        "etag": "0", "offset": 0, "seq": 1}});
    let invoked = lambda
        .invoke()
        .function_name("send-batch")
        .invocation_type(InvocationType::Event)
        .payload(aws_sdk_lambda::primitives::Blob::new(continuation.to_string()))
        .send()
        .await?;
    assert_eq!(invoked.status_code(), 202);
    eventually("the invoke's delivery to send-batch", DELIVERY_WAIT, || async {
        let records = stack.plane_invocations().await?;
        Ok((!ids(&records, "send-batch", "invoke").is_empty()).then_some(()))
    })
    .await?;

    // `up` again: everything is healthy, so nothing starts and the same
    // stack.env comes out.
    let again = pushbatch::local::up(stack.config()).await?;
    assert!(again.started.is_empty(), "restarted {:?}", again.started);
    assert_eq!(again.already_running.len(), Part::ALL.len());
    assert_eq!(&again.env, &stack.up_report().env);

    // down stops every process group and removes the pid files.
    let pids: Vec<u32> = stack.status().await.endpoints.iter().filter_map(|e| e.pid).collect();
    stack.stop()?;
    let after = stack.status().await;
    assert!(after.endpoints.iter().all(|e| !e.healthy && e.pid.is_none()), "{}", after.render_table());
    for pid in pids {
        assert!(!pushbatch::local::process::group_alive(pid), "group {pid} survived down");
    }
    let pid_dir = pushbatch::local::StateDir::new(stack.state_dir()).pids();
    assert_eq!(std::fs::read_dir(&pid_dir)?.count(), 0, "pid files left in {}", pid_dir.display());
    Ok(())
}
