//! The reliability suite, CI-sized (issue #8 items 1–4): duplicates,
//! provider faults with a re-drive, crashes mid-batch and AWS-side faults,
//! each on its own local stack. `tests/soak.rs` runs the same scenarios
//! longer. Each test prints its seed (`RELIABILITY_SEED=<n>` repeats it) and
//! a `RELIABILITY | …` row for RELIABILITY.md; on failure the error carries
//! the stack's log tails.
//!
//! The stacks run one at a time: on a 2-core machine two of them at once
//! would turn timing (leases, link budgets) into the thing under test.

use anyhow::Context as _;
use pushbatch_tests::reliability::{self, aws, crash, duplicates, provider};
use tokio::sync::Mutex;

static ONE_STACK_AT_A_TIME: Mutex<()> = Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_events_and_continuations_never_send_twice() -> anyhow::Result<()> {
    let _turn = ONE_STACK_AT_A_TIME.lock().await;
    let seed = reliability::seed("duplicates");
    let row = duplicates::run(duplicates::Size { users_per_job: 3000 }, seed)
        .await
        .with_context(|| format!("seed {seed}"))?;
    reliability::report(&row);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_faults_end_delivered_pruned_or_failed_and_redrive_delivers_the_rest() -> anyhow::Result<()> {
    let _turn = ONE_STACK_AT_A_TIME.lock().await;
    let seed = reliability::seed("provider faults");
    let row = provider::run(provider::Size { users: 3000 }, seed).await.with_context(|| format!("seed {seed}"))?;
    reliability::report(&row);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_mid_batch_lose_nothing_and_resend_at_most_the_open_window() -> anyhow::Result<()> {
    let _turn = ONE_STACK_AT_A_TIME.lock().await;
    let seed = reliability::seed("crash");
    let row = crash::run(crash::Size { runs: 20, users: 1000 }, seed).await.with_context(|| format!("seed {seed}"))?;
    reliability::report(&row);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_side_faults_back_off_and_lose_nothing() -> anyhow::Result<()> {
    let _turn = ONE_STACK_AT_A_TIME.lock().await;
    let seed = reliability::seed("aws faults");
    let rows =
        aws::run(aws::Size { users: 2000, trip_users: 300 }, seed).await.with_context(|| format!("seed {seed}"))?;
    rows.iter().for_each(reliability::report);
    Ok(())
}
