//! Peak resident memory of a process, by executable name, sampled from
//! /proc (Linux). `cargo lambda watch` runs each function as a child
//! process that stays up between invocations, like a warm Lambda container,
//! so its peak (`VmHWM`) is what the function's memory setting must cover.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Largest `VmHWM` in kB of any live process whose executable's file name
/// is `name`, or None when there is none.
pub fn peak_kb(name: &str) -> Option<u64> {
    let mut peak = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let dir = entry.path();
        let Ok(exe) = std::fs::read_link(dir.join("exe")) else { continue };
        if exe.file_name().and_then(|n| n.to_str()) != Some(name) {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(dir.join("status")) else { continue };
        let hwm = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
        if let Some(kb) = hwm {
            peak = Some(peak.map_or(kb, |p: u64| p.max(kb)));
        }
    }
    peak
}

/// Samples `peak_kb(name)` every `every` in the background; `max_kb` reads
/// the largest value seen so far (0 when none).
pub struct PeakSampler {
    max: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl PeakSampler {
    pub fn start(name: &'static str, every: Duration) -> Self {
        let max = Arc::new(AtomicU64::new(0));
        let seen = max.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Some(kb) = peak_kb(name) {
                    seen.fetch_max(kb, Ordering::Relaxed);
                }
                tokio::time::sleep(every).await;
            }
        });
        Self { max, task }
    }

    pub fn max_kb(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }
}

impl Drop for PeakSampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_this_process_by_its_executable_name() {
        let exe = std::env::current_exe().unwrap();
        let name = exe.file_name().unwrap().to_str().unwrap();
        let kb = super::peak_kb(name).expect("this test's own process");
        assert!(kb > 100, "{kb} kB");
        assert_eq!(super::peak_kb("no-such-executable-name"), None);
    }
}
