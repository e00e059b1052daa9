//! Metrics on the local stack: a small send's EMF documents, written by
//! send-batch to stdout and collected from `cargo lambda watch`'s log, all
//! parse, the push clients' counts add up to what the sandbox saw, and the
//! links' counts add up to the job's summary.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use pushbatch::metrics::{Report, load};
use pushbatch::seed::{SeedOptions, write_users};
use pushbatch_tests::{Stack, StackOptions, eventually};
use serde_json::{Value, json};
use shared::jobs::{DynamoJobs, JobRead, JobsByObject};

const USERS: u64 = 3_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_publishes_metrics_that_add_up_to_the_sandbox() -> anyhow::Result<()> {
    // Flushing every second: the test waits for the last flush, not a minute.
    let opts = StackOptions::default().fn_env("METRICS_FLUSH_SECONDS", 1).fn_env("MAX_RUN_SECONDS", 3);
    let stack = Stack::start(opts).await?;
    let seed = SeedOptions { users: USERS, dead_fraction: 0.05, ..SeedOptions::default() };
    write_users(&stack.dynamodb().await, stack.var("DEVICES_TABLE")?, &seed, 8, &indicatif::ProgressBar::hidden())
        .await?;

    let mut body = json!({"campaign": "metrics", "notification": {"title": "Hi", "body": "there"}}).to_string();
    for i in 0..USERS {
        body.push('\n');
        body.push_str(&Value::String(pushbatch::seed::user_id(i, &seed.prefix)).to_string());
    }
    let key = "batches/metrics.jsonl";
    let put = stack
        .s3()
        .await
        .put_object()
        .bucket(stack.bucket())
        .key(key)
        .body(ByteStream::from(body.into_bytes()))
        .send()
        .await?;
    let etag = shared::objects::unquote(put.e_tag().unwrap_or_default());
    let jobs = DynamoJobs::new(stack.dynamodb().await, stack.var("JOBS_TABLE")?);
    let job = eventually("the job", Duration::from_secs(120), || async {
        Ok(jobs.find_by_object(stack.bucket(), key, &etag).await?.pop())
    })
    .await?
    .job_id;
    eventually("the job to end", Duration::from_secs(600), || async {
        Ok(jobs.get(&job).await?.filter(|r| r.status.is_terminal()))
    })
    .await?;

    let stats = stack.sandbox_stats().await?;
    let expected = |provider: &str, what: &str| stats[provider][what].as_u64().unwrap_or(0);
    assert!(expected("apns", "requests") + expected("fcm", "requests") > 0, "{stats}");
    // The last flush comes within a second of the last request.
    let report = eventually("the answers to add up to the sandbox's requests", Duration::from_secs(60), || async {
        let (points, problems) = load(stack.state_dir())?;
        assert_eq!(problems, Vec::<String>::new(), "every collected document is valid EMF");
        let report = Report::from_datapoints(&points);
        let answers = |provider: &str| -> u64 {
            report.answers.iter().filter(|(k, _)| k.starts_with(&format!("{provider}/"))).map(|(_, n)| n).sum()
        };
        let done = ["apns", "fcm"].iter().all(|p| answers(p) == expected(p, "requests"));
        Ok(done.then_some(report))
    })
    .await?;
    for provider in ["apns", "fcm"] {
        let delivered = report.answers.get(&format!("{provider}/delivered")).copied().unwrap_or(0);
        assert_eq!(delivered, expected(provider, "delivered"), "{provider} delivered");
        let requests = expected(provider, "requests");
        if requests > 0 {
            let latency = &report.push_latency[provider];
            assert_eq!(latency.count, requests, "one latency per {provider} request");
            assert!(latency.p50 <= latency.p99);
        }
    }
    assert!(report.aws_latency.contains_key("DynamoDB BatchGetItem"), "{:?}", report.aws_latency.keys());
    assert!(report.aws_latency.contains_key("S3 GetObject"), "{:?}", report.aws_latency.keys());

    // The links' own counts add up to the job's summary: users read, and
    // devices by provider and outcome.
    let summary = stack
        .s3()
        .await
        .get_object()
        .bucket(stack.bucket())
        .key(format!("reports/{job}/summary.json"))
        .send()
        .await?
        .body
        .collect()
        .await?
        .into_bytes();
    let summary: shared::report::Summary = serde_json::from_slice(&summary)?;
    let count = |key: &str| report.counts.get(key).copied().unwrap_or(0);
    assert_eq!(count("LinkUsers"), summary.counters.entries, "{:?}", report.counts);
    for (platform, d) in &summary.counters.devices {
        let provider = shared::metrics::Provider::from(*platform).as_str();
        for (metric, n) in [
            ("DevicesAttempted", d.attempted),
            ("DevicesDelivered", d.delivered),
            ("DevicesPruned", d.pruned),
            ("DevicesFailed", d.failed),
        ] {
            assert_eq!(count(&format!("{metric} {provider}")), n, "{metric} {provider} vs the summary");
        }
    }
    Ok(())
}
