//! The shared send quota against dynalite: two senders (as two send-batch
//! invocations would) draw on one bucket, and together they never exceed
//! what a token bucket allows: its capacity, plus one unspent block per
//! sender, plus the rate over the window.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pushbatch_tests::{Part, Stack, StackOptions};
use shared::quota::{Bucket, DynamoQuota, SharedQuota};

const PER_MINUTE: u64 = 1_200; // 20 a second
const BLOCK: u64 = 5;
const SENDERS: usize = 2;
const TASKS_PER_SENDER: usize = 4;
const TAKES_PER_TASK: usize = 15;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_senders_share_one_rate() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::only(&[Part::Dynalite])).await?;
    let table = stack.var("JOBS_TABLE")?.to_owned();
    let bucket = Bucket::new(PER_MINUTE, BLOCK);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..SENDERS {
        let store = DynamoQuota::new(stack.dynamodb().await, &table, "fcm#test", bucket);
        let sender = Arc::new(SharedQuota::new(store, BLOCK));
        for _ in 0..TASKS_PER_SENDER {
            let sender = sender.clone();
            tasks.push(tokio::spawn(async move {
                let mut times = Vec::new();
                for _ in 0..TAKES_PER_TASK {
                    sender.take_one().await;
                    times.push(started.elapsed());
                }
                times
            }));
        }
    }
    let mut times: Vec<Duration> = Vec::new();
    for task in tasks {
        times.extend(task.await?);
    }
    times.sort();
    let total = times.len() as f64;
    let rate = PER_MINUTE as f64 / 60.0;
    let slack = bucket.capacity as f64 + (SENDERS as u64 * BLOCK) as f64;
    // Every window [t_i, t_j]: at most slack + rate × (t_j − t_i) requests.
    for i in 0..times.len() {
        for j in i..times.len() {
            let window = (times[j] - times[i]).as_secs_f64();
            let count = (j - i + 1) as f64;
            assert!(
                count <= slack + rate * window + 1.0,
                "{count} requests within {window:.2}s: more than the bucket allows ({slack} + {rate}/s)"
            );
        }
    }
    let elapsed = times.last().copied().unwrap_or_default().as_secs_f64();
    assert!(elapsed >= (total - slack) / rate * 0.95, "{total} requests in {elapsed:.2}s is over the rate");
    println!("{total} requests in {elapsed:.2}s from {SENDERS} senders sharing {rate}/s");
    Ok(())
}
