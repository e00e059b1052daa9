//! Detached child processes: each part runs in its own session (so a
//! terminal's Ctrl-C or hang-up does not reach it, and its whole process
//! tree can be signalled as one group), logs to a file and is remembered by
//! a pid file.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::LocalError;

/// How to start one part.
#[derive(Debug, Clone)]
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub cwd: PathBuf,
    pub env_set: Vec<(String, OsString)>,
    pub env_remove: Vec<String>,
    /// A string that the part's command line contains, used to make sure a
    /// pid from a pid file still belongs to this part before signalling it.
    pub marker: String,
}

/// Starts `launch` in a new session with stdin closed and stdout+stderr
/// appended to `log`, and records its pid in `pid_file`.
pub fn spawn_detached(launch: &Launch, log: &Path, pid_file: &Path) -> Result<Child, LocalError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LocalError::Io { path, source }
    };
    let out = open_log(log).map_err(io_err(log))?;
    let err = out.try_clone().map_err(io_err(log))?;

    let mut command = Command::new(&launch.program);
    command
        .args(&launch.args)
        .current_dir(&launch.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    for key in &launch.env_remove {
        command.env_remove(key);
    }
    for (key, value) in &launch.env_set {
        command.env(key, value);
    }
    // SAFETY: setsid is async-signal-safe and touches no memory of the
    // parent, which is all that is allowed between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command.spawn().map_err(|source| LocalError::Spawn { program: launch.program.clone(), source })?;
    std::fs::write(pid_file, format!("{}\n", child.id())).map_err(io_err(pid_file))?;
    Ok(child)
}

fn open_log(path: &Path) -> std::io::Result<File> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    // A marker line makes restarts visible when reading the log.
    use std::io::Write;
    writeln!(file, "---- pushbatch local: starting at {} ----", chrono::Utc::now().to_rfc3339())?;
    Ok(file)
}

/// Hands a started child to a thread that waits for it, so it never lingers
/// as a zombie in a long-lived parent (the test harness).
pub fn reap_in_background(mut child: Child) {
    std::thread::spawn(move || {
        let _ = child.wait();
    });
}

/// The pid recorded in a pid file, if the file exists and parses.
pub fn read_pid(pid_file: &Path) -> Option<u32> {
    std::fs::read_to_string(pid_file).ok()?.trim().parse().ok()
}

/// Whether any process of the group led by `pgid` is still alive.
pub fn group_alive(pgid: u32) -> bool {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(-pgid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Whether `pid` is alive and its command line contains `marker`. Where
/// `/proc` is unavailable, liveness alone decides.
pub fn process_matches(pid: u32, marker: &str) -> bool {
    let proc_dir = Path::new("/proc");
    if !proc_dir.is_dir() {
        return group_alive(pid);
    }
    match std::fs::read(proc_dir.join(pid.to_string()).join("cmdline")) {
        Ok(raw) => String::from_utf8_lossy(&raw).contains(marker),
        Err(_) => false,
    }
}

/// What stopping a part did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopOutcome {
    /// No pid file, or its process was already gone.
    NotRunning,
    /// The pid in the pid file belongs to an unrelated process now.
    StalePid,
    Terminated,
    Killed,
}

/// A part to stop: its pid file and command-line marker.
#[derive(Debug, Clone)]
pub struct StopTarget {
    pub pid_file: PathBuf,
    pub marker: String,
}

/// Signals the process group in `pid_file` (SIGTERM, then SIGKILL after
/// `grace`) and removes the pid file.
pub fn stop(pid_file: &Path, marker: &str, grace: Duration) -> Result<StopOutcome, LocalError> {
    let target = StopTarget { pid_file: pid_file.to_path_buf(), marker: marker.to_string() };
    let outcomes = stop_all(std::slice::from_ref(&target), grace)?;
    Ok(outcomes.first().copied().unwrap_or(StopOutcome::NotRunning))
}

/// Stops several parts at once: every group gets SIGTERM first, so the
/// grace periods overlap instead of adding up. Outcomes are in input order.
pub fn stop_all(targets: &[StopTarget], grace: Duration) -> Result<Vec<StopOutcome>, LocalError> {
    let mut outcomes = Vec::with_capacity(targets.len());
    let mut signalled: Vec<(usize, u32)> = Vec::new();
    for (index, target) in targets.iter().enumerate() {
        let outcome = match read_pid(&target.pid_file) {
            None => StopOutcome::NotRunning,
            Some(pid) if !group_alive(pid) => StopOutcome::NotRunning,
            // The leader may have exited while its group lives on (cargo
            // lambda's function processes): only a live leader running
            // something else means the pid was reused.
            Some(pid) if group_leader_alive(pid) && !process_matches(pid, &target.marker) => StopOutcome::StalePid,
            Some(pid) => {
                signal_group(pid, libc::SIGTERM);
                signalled.push((index, pid));
                StopOutcome::Terminated
            }
        };
        outcomes.push(outcome);
    }

    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && signalled.iter().any(|&(_, pid)| group_alive(pid)) {
        signalled.iter().for_each(|&(_, pid)| reap(pid));
        std::thread::sleep(Duration::from_millis(50));
    }
    for &(index, pid) in &signalled {
        reap(pid);
        if group_alive(pid) {
            signal_group(pid, libc::SIGKILL);
            outcomes[index] = StopOutcome::Killed;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && signalled.iter().any(|&(_, pid)| group_alive(pid)) {
        signalled.iter().for_each(|&(_, pid)| reap(pid));
        std::thread::sleep(Duration::from_millis(20));
    }

    for target in targets {
        match std::fs::remove_file(&target.pid_file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(LocalError::Io { path: target.pid_file.clone(), source });
            }
        }
    }
    Ok(outcomes)
}

fn group_leader_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

fn signal_group(pgid: u32, signal: libc::c_int) {
    if let Ok(group) = libc::pid_t::try_from(pgid) {
        // SAFETY: plain signal delivery to a process group we started (the
        // caller checked that the pid file still names our process).
        unsafe { libc::kill(-group, signal) };
    }
}

/// Collects the exit status if `pid` is our own child; a zombie would
/// otherwise keep the group "alive" for `kill(…, 0)`.
fn reap(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    let mut status = 0;
    // SAFETY: WNOHANG never blocks; for a pid that is not our child this
    // fails with ECHILD and changes nothing.
    unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
}

/// The last `lines` lines of a log, for error messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(text) = std::fs::read(path) else {
        return String::new();
    };
    let text = String::from_utf8_lossy(&text);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawn_then_stop_a_process_group() {
        let dir = std::env::temp_dir().join(format!("pushbatch-process-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let log = dir.join("sleep.log");
        let pid_file = dir.join("sleep.pid");
        // A shell whose own child shares its group: stopping must end both.
        let launch = Launch {
            program: PathBuf::from("/bin/sh"),
            args: vec!["-c".into(), "sleep 30 & echo started; wait".into()],
            cwd: dir.clone(),
            env_set: vec![],
            env_remove: vec![],
            marker: "sleep 30".into(),
        };
        let child = spawn_detached(&launch, &log, &pid_file).expect("spawns");
        let pid = child.id();
        assert_eq!(read_pid(&pid_file), Some(pid));
        reap_in_background(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !log_tail(&log, 1).contains("started") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(group_alive(pid));
        assert!(process_matches(pid, "sleep 30"));
        assert!(!process_matches(pid, "no-such-marker"));

        let outcome = stop(&pid_file, "sleep 30", Duration::from_secs(3)).expect("stops");
        assert_eq!(outcome, StopOutcome::Terminated);
        assert!(!group_alive(pid));
        assert!(!pid_file.exists());
        assert_eq!(stop(&pid_file, "sleep 30", Duration::from_secs(1)).expect("idempotent"), StopOutcome::NotRunning);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
