//! What the pre-flight check costs per GB of batch file (issue 16): the
//! same file read twice, interleaved round by round: once only for its
//! bytes (the floor: the read the check adds), once through
//! `shared::batch::preflight` (every entry parsed). Run it as a release
//! build, from the workspace root:
//!
//!     cargo run --release -p shared --example preflight_rate -- [MB] [ROUNDS]
//!
//! It prints one JSON line (bench/results/preflight.json keeps one).

use std::io::Write;
use std::time::Instant;

use serde_json::json;
use shared::batch::{Encoding, discover, preflight};
use tokio::io::{AsyncBufReadExt, AsyncSeekExt, BufReader};

const READ_BUFFER: usize = 256 * 1024;

/// A JSONL file of about `mb` megabytes in the shapes files have: bare
/// ids, ids with vars, users with inline devices.
fn write_file(path: &std::path::Path, mb: usize) -> std::io::Result<u64> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "{}", json!({"campaign": "bench", "notification": {"title": "Hi", "body": "Hello {{name}}"}}))?;
    let (mut bytes, mut i) = (0usize, 0u64);
    while bytes < mb * 1024 * 1024 {
        let line = match i % 3 {
            0 => json!(format!("u-{i:09}")),
            1 => json!({"user_id": format!("u-{i:09}"), "vars": {"name": "Ann", "order": i}}),
            _ => json!({"user_id": format!("u-{i:09}"), "devices": [
                {"platform": "ios", "token": format!("{i:064x}")},
                {"platform": "android", "token": format!("t{i:0>140}")}]}),
        }
        .to_string();
        writeln!(out, "{line}")?;
        bytes += line.len() + 1;
        i += 1;
    }
    out.flush()?;
    Ok(i)
}

async fn read_only(path: &std::path::Path) -> u64 {
    let mut r = BufReader::with_capacity(READ_BUFFER, tokio::fs::File::open(path).await.expect("open"));
    let mut total = 0u64;
    loop {
        let chunk = r.fill_buf().await.expect("read");
        if chunk.is_empty() {
            return total;
        }
        // Something the optimiser cannot drop: the lines.
        total += chunk.iter().filter(|b| **b == b'\n').count() as u64;
        let n = chunk.len();
        r.consume(n);
    }
}

async fn checked(path: &std::path::Path) -> u64 {
    let file = tokio::fs::File::open(path).await.expect("open");
    let layout = discover(BufReader::with_capacity(READ_BUFFER, file), Encoding::Jsonl).await.expect("header");
    let mut file = tokio::fs::File::open(path).await.expect("open");
    file.seek(std::io::SeekFrom::Start(layout.users_start)).await.expect("seek");
    preflight(BufReader::with_capacity(READ_BUFFER, file), &layout).await.expect("a valid file").entries
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (mb, rounds) = (args.first().copied().unwrap_or(256), args.get(1).copied().unwrap_or(5));
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("users.jsonl");
    let users = write_file(&path, mb).expect("write the file");
    let gb = std::fs::metadata(&path).expect("size").len() as f64 / 1e9;
    let (mut read_s, mut check_s) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        let lines = read_only(&path).await;
        read_s.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let entries = checked(&path).await;
        check_s.push(t.elapsed().as_secs_f64());
        assert_eq!(lines, entries + 1, "every entry, and the header");
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (read, check) = (median(&mut read_s), median(&mut check_s));
    // Lambda arm64 at send-batch's 1024 MB (shared::cost's list price).
    let per_gb_seconds = check / gb;
    let lambda_usd_per_gb = per_gb_seconds * shared::cost::LIST_PRICES.lambda_arm64_per_gb_second;
    let line = json!({
        "bench": "preflight", "file_gb": gb, "users": users, "rounds": rounds,
        "read_only_s": read, "preflight_s": check,
        "read_only_mb_per_s": gb * 1000.0 / read, "preflight_mb_per_s": gb * 1000.0 / check,
        "preflight_over_read": check / read,
        "preflight_seconds_per_gb": per_gb_seconds,
        "lambda_usd_per_gb_at_1024mb_one_core": lambda_usd_per_gb,
        "s3_get_usd_per_file": shared::cost::LIST_PRICES.s3_get_per_thousand / 1000.0,
    });
    println!("{line}");
}
