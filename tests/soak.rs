//! The reliability scenarios of `tests/reliability.rs`, longer: more runs
//! and more users. Bounded (each scenario has its own waits), but minutes
//! long, so ignored by default:
//!
//! ```text
//! CARGO_TARGET_DIR=~/.cache/pushbatch-target \
//!   cargo test -p pushbatch-tests --test soak -- --ignored --nocapture --test-threads 1
//! ```
//!
//! `RELIABILITY_SEED=<n>` repeats a run; each prints `RELIABILITY | …` rows.

use anyhow::Context as _;
use pushbatch_tests::reliability::{self, aws, crash, duplicates, provider};
use tokio::sync::Mutex;

static ONE_STACK_AT_A_TIME: Mutex<()> = Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak: minutes long; run with --ignored"]
async fn soak_crashes() -> anyhow::Result<()> {
    let _turn = ONE_STACK_AT_A_TIME.lock().await;
    let seed = reliability::seed("soak crash");
    let row = crash::run(crash::Size { runs: 40, users: 5000 }, seed).await.with_context(|| format!("seed {seed}"))?;
    reliability::report(&row);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak: minutes long; run with --ignored"]
async fn soak_duplicates() -> anyhow::Result<()> {
    let _turn = ONE_STACK_AT_A_TIME.lock().await;
    let seed = reliability::seed("soak duplicates");
    let row = duplicates::run(duplicates::Size { users_per_job: 10_000 }, seed)
        .await
        .with_context(|| format!("seed {seed}"))?;
    reliability::report(&row);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak: minutes long; run with --ignored"]
async fn soak_provider_faults() -> anyhow::Result<()> {
    let _turn = ONE_STACK_AT_A_TIME.lock().await;
    let seed = reliability::seed("soak provider faults");
    let row = provider::run(provider::Size { users: 30_000 }, seed).await.with_context(|| format!("seed {seed}"))?;
    reliability::report(&row);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak: minutes long; run with --ignored"]
async fn soak_aws_faults() -> anyhow::Result<()> {
    let _turn = ONE_STACK_AT_A_TIME.lock().await;
    let seed = reliability::seed("soak aws faults");
    let rows =
        aws::run(aws::Size { users: 20_000, trip_users: 1000 }, seed).await.with_context(|| format!("seed {seed}"))?;
    rows.iter().for_each(reliability::report);
    Ok(())
}
