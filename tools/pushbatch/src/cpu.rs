//! CPU time per process of the local stack while a job runs, from /proc
//! (Linux): where a run's time went, process by process. A process is
//! named by its executable, except dynalite, which is `node` running
//! dynalite's script. Processes are sampled every tick, so one that exits
//! mid-run keeps the time it had at the last sample.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The stack's processes, as the sampler names them.
pub const STACK: &[&str] = &["send-batch", "dynalite", "push-sandbox", "event-plane", "cargo-lambda", "pushbatch"];

/// Which of `names` the process `pid` is, if any.
fn name_of(pid: &str, names: &[&'static str]) -> Option<&'static str> {
    let dir = std::path::Path::new("/proc").join(pid);
    let exe = std::fs::read_link(dir.join("exe")).ok()?;
    let exe = exe.file_name()?.to_str()?;
    if exe == "node" {
        let cmdline = std::fs::read(dir.join("cmdline")).ok()?;
        let is_dynalite =
            cmdline.split(|b| *b == 0).any(|arg| arg.ends_with(b"dynalite") || arg.ends_with(b"dynalite/cli.js"));
        return (is_dynalite && names.contains(&"dynalite")).then_some("dynalite");
    }
    names.iter().copied().find(|n| *n == exe)
}

/// User plus system CPU seconds a process has used (`/proc/<pid>/stat`
/// fields 14 and 15); `pid` may be `self`.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command may hold spaces: the fields start after its closing ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf only reads a constant of the system.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| ticks / hz as f64)
}

#[derive(Default)]
struct Seen {
    /// Per pid: its name, its CPU when first seen, its CPU when last seen.
    pids: HashMap<String, (&'static str, f64, f64)>,
    first_tick: bool,
}

impl Seen {
    fn sample(&mut self, names: &[&'static str]) {
        let Ok(entries) = std::fs::read_dir("/proc") else { return };
        for entry in entries.flatten() {
            let pid = entry.file_name().to_string_lossy().into_owned();
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let known = self.pids.get(&pid).map(|(name, _, _)| *name);
            let Some(name) = known.or_else(|| name_of(&pid, names)) else { continue };
            let Some(cpu) = cpu_seconds(&pid) else { continue };
            // A process already running at the start counts from there; one
            // started later counts from zero.
            let base = if self.first_tick { cpu } else { 0.0 };
            self.pids.entry(pid).or_insert((name, base, cpu)).2 = cpu;
        }
        self.first_tick = false;
    }
}

/// Samples the CPU time of the processes named `names` in the background.
pub struct CpuSampler {
    seen: Arc<Mutex<Seen>>,
    names: &'static [&'static str],
    task: tokio::task::JoinHandle<()>,
}

impl CpuSampler {
    pub fn start(names: &'static [&'static str], every: Duration) -> Self {
        let seen = Arc::new(Mutex::new(Seen { first_tick: true, ..Seen::default() }));
        seen.lock().unwrap_or_else(|p| p.into_inner()).sample(names);
        let sampling = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                sampling.lock().unwrap_or_else(|p| p.into_inner()).sample(names);
            }
        });
        Self { seen, names, task }
    }

    /// CPU seconds per name since the start, with a last sample taken now.
    pub fn totals(&self) -> BTreeMap<&'static str, f64> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.sample(self.names);
        let mut totals: BTreeMap<&'static str, f64> = self.names.iter().map(|n| (*n, 0.0)).collect();
        for (name, base, last) in seen.pids.values() {
            *totals.entry(name).or_default() += last - base;
        }
        totals
    }
}

impl Drop for CpuSampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_this_process_from_the_start() {
        let exe = std::env::current_exe().unwrap();
        let name: &'static str = Box::leak(exe.file_name().unwrap().to_str().unwrap().to_owned().into_boxed_str());
        let names: &'static [&'static str] = Box::leak(vec![name].into_boxed_slice());
        let burn = || {
            let mut x = 0u64;
            for i in 0..30_000_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            std::hint::black_box(x);
        };
        // CPU before the start is not counted; after it, it is.
        burn();
        let sampler = CpuSampler::start(names, Duration::from_millis(10));
        burn();
        let used = sampler.totals()[name];
        assert!(used > 0.0, "{used}");
        assert!(used < cpu_seconds("self").unwrap(), "counted from the start, not the process's life: {used}");
    }
}
