//! Command lines for each part of the stack and where their programs are.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::parts::{APIS_FILE, Part, Ports, StateDir, USERS_FILE, http_url, listen_addr};
use super::{LocalError, StackConfig};

/// Variables removed from `cargo lambda watch`'s environment so a function
/// started locally can never pick up a developer's real AWS identity or a
/// blanket endpoint override; stack.env supplies what it needs.
const WATCH_ENV_REMOVE: &[&str] =
    &["AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"];

/// Variables cargo sets for the program it runs (`cargo run`, `cargo
/// test`): package metadata of *that* package. Build scripts such as ring's
/// track some of them (`rerun-if-env-changed=CARGO_PKG_NAME`, …), so a cargo
/// started with them inherited fingerprints differently from one started in
/// a shell and rebuilds half the dependency tree. Names present in this
/// process's environment are returned, to be removed from children that run
/// cargo.
pub fn inherited_cargo_package_vars() -> Vec<String> {
    const PREFIXES: &[&str] = &["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_BIN_", "CARGO_CRATE_"];
    const NAMES: &[&str] = &["CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "OUT_DIR"];
    std::env::vars_os()
        .filter_map(|(key, _)| key.into_string().ok())
        .filter(|key| PREFIXES.iter().any(|p| key.starts_with(p)) || NAMES.contains(&key.as_str()))
        .collect()
}

/// The program that runs `part`, checked to exist.
pub fn program(config: &StackConfig, part: Part) -> Result<PathBuf, LocalError> {
    let root = &config.root;
    let (path, hint) = match part {
        Part::Moto => (
            root.join(".local/venv/bin/moto_server"),
            "run scripts/setup (installs local/requirements.txt into .local/venv)",
        ),
        Part::Watch => (
            root.join(".local/venv/bin/cargo-lambda"),
            "run scripts/setup (installs local/requirements.txt into .local/venv)",
        ),
        Part::Dynalite => (root.join("local/node_modules/.bin/dynalite"), "run scripts/setup (npm ci in local/)"),
        Part::Ses => (root.join("local/node_modules/.bin/aws-ses-v2-local"), "run scripts/setup (npm ci in local/)"),
        Part::Sandbox => (
            workspace_bin(config, "push-sandbox"),
            "cargo build -p push-sandbox (same CARGO_TARGET_DIR and profile as pushbatch)",
        ),
        Part::EventPlane => (
            workspace_bin(config, "event-plane"),
            "cargo build -p event-plane (same CARGO_TARGET_DIR and profile as pushbatch)",
        ),
    };
    if path.is_file() { Ok(path) } else { Err(LocalError::MissingProgram { part, path, hint: hint.to_string() }) }
}

fn workspace_bin(config: &StackConfig, name: &str) -> PathBuf {
    let dir = config.bin_dir.clone().unwrap_or_else(default_bin_dir);
    dir.join(name)
}

/// The directory holding the workspace's binaries of the running build: the
/// current executable's directory, or its parent when running from
/// `target/<profile>/deps` (test binaries).
pub fn default_bin_dir() -> PathBuf {
    let exe_dir = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf)).unwrap_or_default();
    if exe_dir.file_name().is_some_and(|name| name == "deps") {
        exe_dir.parent().map(Path::to_path_buf).unwrap_or(exe_dir)
    } else {
        exe_dir
    }
}

/// Everything needed to start `part`.
pub fn launch(config: &StackConfig, part: Part) -> Result<super::process::Launch, LocalError> {
    let program = program(config, part)?;
    let ports = Ports::new(config.port_base);
    let state = StateDir::new(&config.state_dir);
    let mut env_set: Vec<(String, OsString)> = Vec::new();
    let mut env_remove: Vec<String> = Vec::new();
    let mut args: Vec<OsString> = match part {
        Part::Sandbox => vec![
            "--state-dir".into(),
            state.sandbox_dir().into(),
            "--tls-listen".into(),
            listen_addr(ports.sandbox_tls()).into(),
            "--http-listen".into(),
            listen_addr(ports.sandbox_http()).into(),
        ],
        Part::Moto => vec!["--host".into(), "127.0.0.1".into(), "--port".into(), ports.moto().to_string().into()],
        Part::Dynalite => vec![
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            ports.dynalite().to_string().into(),
            // In memory, and no CREATING/DELETING/UPDATING delays.
            "--createTableMs".into(),
            "0".into(),
            "--deleteTableMs".into(),
            "0".into(),
            "--updateTableMs".into(),
            "0".into(),
        ],
        Part::Ses => vec!["--host".into(), "127.0.0.1".into(), "--port".into(), ports.ses().to_string().into()],
        Part::Watch => {
            if let Some(dir) = &config.cargo_target_dir {
                env_set.push(("CARGO_TARGET_DIR".into(), dir.clone().into()));
            }
            env_remove.extend(WATCH_ENV_REMOVE.iter().map(|s| s.to_string()));
            env_remove.extend(inherited_cargo_package_vars());
            let mut args: Vec<OsString> = vec![
                "lambda".into(),
                "watch".into(),
                "--invoke-address".into(),
                "127.0.0.1".into(),
                "--invoke-port".into(),
                ports.watch().to_string().into(),
                "--env-file".into(),
                state.stack_env().into(),
            ];
            if config.ignore_changes {
                args.push("--ignore-changes".into());
            }
            args
        }
        Part::EventPlane => {
            // IAM routes accept the credentials the stack gives everyone
            // else (stack.env's), never a developer's own from the shell.
            let env = super::stack_env::render(config, None);
            for key in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
                if let Some(value) = env.get(key) {
                    env_set.push((key.to_string(), value.into()));
                }
            }
            env_remove.push("AWS_SESSION_TOKEN".to_string());
            event_plane_args(config, ports, &state)
        }
    };
    if let Some(extra) = config.extra_args.get(&part) {
        args.extend(extra.iter().map(OsString::from));
    }
    Ok(super::process::Launch {
        program,
        args,
        cwd: config.root.clone(),
        env_set,
        env_remove,
        marker: marker(part).to_string(),
    })
}

fn event_plane_args(config: &StackConfig, ports: Ports, state: &StateDir) -> Vec<OsString> {
    let mut args = vec![
        "--s3-listen".into(),
        listen_addr(ports.s3_proxy()).into(),
        "--s3-upstream".into(),
        http_url(ports.moto()).into(),
        "--lambda-listen".into(),
        listen_addr(ports.plane()).into(),
        "--lambda-upstream".into(),
        http_url(ports.watch()).into(),
        "--routes".into(),
        config.root.join("local/routes.json").into(),
        "--state-dir".into(),
        state.plane_dir().into(),
        "--region".into(),
        super::REGION.into(),
        "--gateway-listen".into(),
        listen_addr(ports.gateway()).into(),
        "--apis".into(),
        config.root.join(APIS_FILE).into(),
        "--issuer-listen".into(),
        listen_addr(ports.issuer()).into(),
        "--users".into(),
        config.root.join(USERS_FILE).into(),
    ];
    // The functions' calendar is the schedules' too: a test that moves the
    // clock file to 09:00 sees the 09:00 schedules fire.
    if let Some(file) = config.fn_env.get(shared::clock::CLOCK_FILE_ENV) {
        args.extend(["--clock-file".into(), OsString::from(file)]);
    }
    args
}

/// The marker for `part` without resolving its program (for `down`).
pub fn marker(part: Part) -> &'static str {
    match part {
        Part::Sandbox => "push-sandbox",
        Part::Moto => "moto_server",
        Part::Dynalite => "dynalite",
        Part::Ses => "aws-ses-v2-local",
        Part::Watch => "cargo-lambda",
        Part::EventPlane => "event-plane",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_gets_env_file_target_dir_and_loopback_address() {
        let root = std::env::temp_dir().join(format!("pushbatch-launch-{}", std::process::id()));
        let venv_bin = root.join(".local/venv/bin");
        std::fs::create_dir_all(&venv_bin).expect("fake venv");
        std::fs::write(venv_bin.join("cargo-lambda"), "").expect("fake program");
        let mut config = StackConfig::new(&root, root.join("state"));
        config.port_base = 20000;
        config.cargo_target_dir = Some(PathBuf::from("/tmp/target"));
        config.ignore_changes = true;
        let launch = launch(&config, Part::Watch).expect("launch");
        let args: Vec<String> = launch.args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        let joined = args.join(" ");
        assert!(joined.starts_with("lambda watch --invoke-address 127.0.0.1 --invoke-port 20007"));
        assert!(joined.contains(&format!("--env-file {}", root.join("state/stack.env").display())));
        assert!(args.iter().any(|a| a == "--ignore-changes"));
        assert_eq!(launch.cwd, root);
        assert!(launch.env_set.iter().any(|(k, v)| k == "CARGO_TARGET_DIR" && v == "/tmp/target"));
        assert!(launch.env_remove.iter().any(|k| k == "AWS_PROFILE"));
        // cargo test runs this with its package's variables set.
        assert!(launch.env_remove.iter().any(|k| k == "CARGO_PKG_NAME"));
        assert_eq!(launch.marker, "cargo-lambda");
        std::fs::remove_dir_all(&root).expect("cleanup");
    }

    #[test]
    fn the_event_plane_runs_gateway_and_issuer_with_the_stack_credentials() {
        let root = std::env::temp_dir().join(format!("pushbatch-launch-plane-{}", std::process::id()));
        let mut config = StackConfig::new(&root, root.join("state"));
        config.port_base = 20000;
        config.bin_dir = Some(root.join("bin"));
        std::fs::create_dir_all(root.join("bin")).expect("bin dir");
        std::fs::write(root.join("bin/event-plane"), "").expect("fake program");
        let launch = launch(&config, Part::EventPlane).expect("launch");
        let args: Vec<String> = launch.args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        let joined = args.join(" ");
        assert!(joined.contains("--gateway-listen 127.0.0.1:20008"), "{joined}");
        assert!(joined.contains("--issuer-listen 127.0.0.1:20009"), "{joined}");
        assert!(joined.contains(&format!("--apis {}", root.join("local/apis.json").display())), "{joined}");
        assert!(joined.contains(&format!("--users {}", root.join("local/users.json").display())), "{joined}");
        assert!(launch.env_set.iter().any(|(k, v)| k == "AWS_ACCESS_KEY_ID" && v == "local"));
        assert!(launch.env_set.iter().any(|(k, v)| k == "AWS_SECRET_ACCESS_KEY" && v == "local"));
        assert!(launch.env_remove.iter().any(|k| k == "AWS_SESSION_TOKEN"));
        std::fs::remove_dir_all(&root).expect("cleanup");
    }

    #[test]
    fn missing_programs_name_their_fix() {
        let config = StackConfig::new("/nonexistent-repo", "/nonexistent-repo/.local/stack");
        let err = program(&config, Part::Dynalite).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("local/node_modules/.bin/dynalite"), "{text}");
        assert!(text.contains("scripts/setup"), "{text}");
    }
}
