//! Crash mid-batch (issue #8 item 1): SIGKILL send-batch at seeded random
//! points of a job, over many runs. Every live device must be delivered,
//! and duplicates must stay within the window that was in flight: at most
//! `PIPELINE_BATCHES` batches a kill.
//!
//! Under `cargo lambda watch` a killed function is not Lambda's failed
//! invocation: watch neither answers the pending invoke nor starts a new
//! process, so the plane would wait out its 16-minute timeout. Lambda
//! replaces a crashed runtime; here the runtime (watch) is restarted with
//! the plane paused, which breaks the pending invoke's connection: the plane
//! counts the attempt as failed and retries it, as Lambda's async retry does.

use std::path::Path;
use std::time::{Duration, Instant};

use pushbatch::local::{self, StateDir, launch, process};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use super::{Bench, PIPELINE_BATCHES, Population, Row, Tally};
use crate::{Part, Stack, StackOptions, eventually};

pub const BATCH_SIZE: u64 = 100;

#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// Jobs, each killed once or twice.
    pub runs: u64,
    pub users: u64,
}

/// Pids of this stack's send-batch processes: the program is named
/// `send-batch` and is a child of the stack's watch (which starts it with
/// `cargo run`, in a process group of its own), so other stacks' functions
/// are never touched.
pub fn function_pids(stack: &Stack) -> anyhow::Result<Vec<i32>> {
    let state = StateDir::new(stack.state_dir());
    let Some(watch) = process::read_pid(&state.pid_file(Part::Watch)) else {
        anyhow::bail!("watch has no pid file");
    };
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // "pid (comm) state ppid …": comm may hold spaces, so split after
        // its closing parenthesis.
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else { continue };
        let parent = after.split_whitespace().nth(1).and_then(|s| s.parse::<u32>().ok());
        if parent != Some(watch) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let program = cmdline.split(|b| *b == 0).next().unwrap_or_default();
        let program = String::from_utf8_lossy(program);
        if Path::new(program.as_ref()).file_name().is_some_and(|n| n == "send-batch") {
            pids.push(pid);
        }
    }
    Ok(pids)
}

/// SIGKILLs this stack's send-batch processes; how many there were.
pub fn kill_function(stack: &Stack) -> anyhow::Result<usize> {
    let pids = function_pids(stack)?;
    for &pid in &pids {
        // SAFETY: plain signal delivery to a child of our own stack's
        // watch, found just above.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    Ok(pids.len())
}

/// Restarts the Lambda stand-in after a crash, with the plane's queue held
/// so that retries wait for the new runtime instead of being spent on a
/// closed port.
pub async fn restart_runtime(bench: &Bench) -> anyhow::Result<()> {
    bench.pause_plane().await?;
    let state = StateDir::new(bench.stack.state_dir());
    let pid_file = state.pid_file(Part::Watch);
    tokio::task::spawn_blocking(move || process::stop(&pid_file, launch::marker(Part::Watch), Duration::from_secs(5)))
        .await??;
    let restarted = local::up(bench.stack.config()).await;
    bench.resume_plane().await?;
    restarted?;
    Ok(())
}

/// Totals over all runs.
#[derive(Debug, Default)]
struct Totals {
    kills: u64,
    /// Kills that came after the job had ended (they test nothing).
    late_kills: u64,
    duplicated: u64,
    extra_deliveries: u64,
    largest_window_users: u64,
    largest_per_run: u64,
    invocations: u64,
}

pub async fn run(size: Size, seed: u64) -> anyhow::Result<Row> {
    let population = Population::new(size.users, seed);
    let mut opts = StackOptions::default()
        .fn_env("MAX_RUN_SECONDS", 8)
        .fn_env("BATCH_SIZE", BATCH_SIZE)
        .fn_env("PIPELINE_BATCHES", PIPELINE_BATCHES)
        // Short, so that a retry takes over from the dead holder quickly
        // (watch runs one invocation at a time, so a live holder is never
        // raced for its lease).
        .fn_env("LEASE_SECONDS", 1);
    opts.sandbox_args = vec!["--track-tokens".into(), "--latency-ms=10".into(), format!("--seed={seed}")];
    opts.plane_args = vec!["--retry-delays-ms=300,600".into()];
    let bench = Bench::start(opts, population).await?;
    bench.explain(scenario(&bench, size, seed)).await
}

async fn scenario(bench: &Bench, size: Size, seed: u64) -> anyhow::Result<Row> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let users = size.users;
    let expected = bench.population.expect(0..users);
    let mut totals = Totals::default();
    for run in 0..size.runs {
        bench.stack.sandbox_reset_stats().await?;
        let started = Instant::now();
        let key = format!("batches/crash-{run:03}.jsonl");
        let etag = bench.put(&key, bench.population.jsonl(&format!("crash-{run}"), 0..users)).await?;
        let job = bench.job_of(&key, &etag).await?.job_id;
        let planned = if rng.random_bool(0.3) { 2 } else { 1 };
        let mut kills = 0u64;
        let mut points = Vec::new();
        for _ in 0..planned {
            // A random checkpoint to pass, then a random moment inside the
            // next batch: before, during or after its sends.
            // Not the last two batches, so that the job is still running.
            let after_entries = rng.random_range(0..users.saturating_sub(2 * BATCH_SIZE).max(1));
            let jitter = Duration::from_millis(rng.random_range(0..300));
            let seen = eventually(
                &format!("run {run}: job to reach entry {after_entries}"),
                super::bench::JOB_WAIT,
                || async {
                    Ok(bench
                        .record(&job)
                        .await?
                        .filter(|r| r.counters.entries >= after_entries || r.status.is_terminal()))
                },
            )
            .await?;
            if seen.status.is_terminal() {
                break;
            }
            tokio::time::sleep(jitter).await;
            if kill_function(&bench.stack)? == 0 {
                continue;
            }
            kills += 1;
            let interrupted = bench.record(&job).await?.is_some_and(|r| !r.status.is_terminal());
            if !interrupted {
                totals.late_kills += 1;
            }
            let restarting = Instant::now();
            restart_runtime(bench).await?;
            points.push(format!(
                "target {after_entries}, at {}+{}ms, restart {}ms",
                seen.counters.entries,
                jitter.as_millis(),
                restarting.elapsed().as_millis()
            ));
        }
        let (record, summary) = bench.finished(&job).await?;
        let deliveries = bench.deliveries().await?;
        let failed = bench.failed(&summary).await?;
        let tally = Tally::new(&expected, &deliveries, &failed, BATCH_SIZE);
        println!(
            "crash run {run} (seed {seed}): {kills} kill(s) {points:?}, {} invocations, {:.1}s: {}",
            record.invocations,
            started.elapsed().as_secs_f64(),
            tally.describe()
        );
        let c = &summary.counters;
        anyhow::ensure!(summary.status == "done", "run {run}: {summary:?}");
        c.check_identities().map_err(|b| anyhow::anyhow!("run {run}: identities {b:?}"))?;
        anyhow::ensure!(c.entries == users, "run {run}: {} entries", c.entries);
        anyhow::ensure!(tally.lost.is_empty(), "run {run}: lost: {}", tally.describe());
        anyhow::ensure!(tally.stray.is_empty(), "run {run}: sent where it should not: {}", tally.describe());
        anyhow::ensure!(
            tally.duplicate_batches.len() as u64 <= kills * PIPELINE_BATCHES,
            "run {run}: duplicates in {} batches after {kills} kills (window {PIPELINE_BATCHES}): {}",
            tally.duplicate_batches.len(),
            tally.describe()
        );
        let sandbox_total: u64 = deliveries.values().sum();
        anyhow::ensure!(
            sandbox_total == c.total_devices().delivered + tally.extra_deliveries,
            "run {run}: the sandbox counted {sandbox_total}, the summary {} plus {} resent",
            c.total_devices().delivered,
            tally.extra_deliveries
        );
        totals.kills += kills;
        totals.duplicated += tally.duplicated.len() as u64;
        totals.extra_deliveries += tally.extra_deliveries;
        totals.largest_window_users = totals.largest_window_users.max(tally.largest_window_users);
        totals.largest_per_run = totals.largest_per_run.max(tally.duplicated.len() as u64);
        totals.invocations += record.invocations;
    }
    let plane = bench.plane_idle(Duration::from_secs(60)).await?;
    anyhow::ensure!(plane["dead_lettered"].as_u64() == Some(0), "the plane dead-lettered something: {plane}");
    println!("crash totals (seed {seed}): {totals:?}");
    Ok(Row {
        scenario: format!("crash mid-batch: SIGKILL send-batch at random points, {} users a run", size.users),
        runs: size.runs,
        result: "pass".into(),
        lost: 0,
        duplicated: totals.duplicated,
        largest_window_users: totals.largest_window_users,
        notes: format!(
            "{} kills mid-job ({} more after the job ended); at most {} devices sent twice in one run \
             (BATCH_SIZE {BATCH_SIZE}, PIPELINE_BATCHES {PIPELINE_BATCHES}); {} extra deliveries in all; {} invocations",
            totals.kills - totals.late_kills,
            totals.late_kills,
            totals.largest_per_run,
            totals.extra_deliveries,
            totals.invocations
        ),
    })
}
