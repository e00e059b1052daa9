//! The stack runs push-sandbox and event-plane from the same target
//! directory as the tests; `cargo test -p pushbatch-tests` does not build
//! other packages' binaries, so the harness builds them once per process.
//! It also builds the Lambda functions ahead of time: `cargo lambda watch`
//! compiles a function on its first invoke, which on a busy 2-core machine
//! can take minutes and would otherwise land inside a test's wait.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Packages whose binaries the stack runs.
const STACK_BINARIES: &[&str] = &["push-sandbox", "event-plane"];

/// The cargo target directory this test binary was built into
/// (`<target>/<profile>/deps/<test>` → `<target>`).
pub fn target_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let deps = exe.parent().ok_or_else(|| anyhow::anyhow!("test executable has no directory"))?;
    let profile_dir = if deps.file_name().is_some_and(|n| n == "deps") { deps.parent().unwrap_or(deps) } else { deps };
    profile_dir
        .parent()
        .map(PathBuf::from)
        .ok_or_else(|| anyhow::anyhow!("{} is not inside a target directory", exe.display()))
}

/// Builds the stack's workspace binaries (debug profile, this target
/// directory) once per test process, then the functions on a best-effort
/// basis (a function that does not compile yet fails at invoke time, which
/// tests may tolerate). Set PUSHBATCH_TESTS_SKIP_BUILD=1 to use whatever is
/// already built.
pub fn ensure_workspace_bins() -> anyhow::Result<()> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let result = BUILT.get_or_init(|| {
        if std::env::var_os("PUSHBATCH_TESTS_SKIP_BUILD").is_some_and(|v| v == "1") {
            return Ok(());
        }
        build().map_err(|e| format!("{e:#}"))
    });
    result.clone().map_err(|e| anyhow::anyhow!(e))
}

fn build() -> anyhow::Result<()> {
    let root = pushbatch::context::find_workspace_root(Path::new(env!("CARGO_MANIFEST_DIR")))
        .ok_or_else(|| anyhow::anyhow!("workspace root not found"))?;
    let stack_bins: Vec<String> = STACK_BINARIES.iter().map(|s| s.to_string()).collect();
    let output = cargo_build(&root, "-p", &stack_bins)?;
    if !output.status.success() {
        anyhow::bail!(
            "cargo build -p {} failed:\n{}",
            STACK_BINARIES.join(" -p "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // `--bin` without `-p`, exactly as `cargo lambda watch` runs them
    // (`cargo run --bin <fn>` at the root): features are then unified over
    // the whole workspace, and the artifacts are the ones watch will reuse.
    let functions = function_packages(&root);
    if !functions.is_empty() {
        let output = cargo_build(&root, "--bin", &functions)?;
        if !output.status.success() {
            eprintln!(
                "note: building functions ({}) failed; invokes of them will fail:\n{}",
                functions.join(", "),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    Ok(())
}

/// `cargo build <selector> a <selector> b …` in `root`, this target dir.
fn cargo_build(root: &Path, selector: &str, names: &[String]) -> anyhow::Result<Output> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(["build", "--quiet", "--keep-going"]).current_dir(root).env("CARGO_TARGET_DIR", target_dir()?);
    // As for `cargo lambda watch`: without this, cargo test's package
    // variables would make these builds differ from watch's and a shell's.
    for key in pushbatch::local::launch::inherited_cargo_package_vars() {
        command.env_remove(key);
    }
    for name in names {
        command.arg(selector).arg(name);
    }
    Ok(command.output()?)
}

/// Package names of `functions/*/Cargo.toml` (one crate per Lambda, whose
/// binary has the package's name).
fn function_packages(root: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root.join("functions")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|entry| {
            let manifest = std::fs::read_to_string(entry.ok()?.path().join("Cargo.toml")).ok()?;
            package_name(&manifest)
        })
        .collect();
    names.sort();
    names
}

/// `name = "…"` of the `[package]` table.
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package && let Some(value) = line.strip_prefix("name") {
            let value = value.trim_start().strip_prefix('=')?.trim();
            return Some(value.trim_matches('"').to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_package_name() {
        let manifest = "[package]\nname = \"send-batch\"\nversion = \"0.1.0\"\n[dependencies]\nname = 1\n";
        assert_eq!(super::package_name(manifest).as_deref(), Some("send-batch"));
        assert_eq!(super::package_name("[workspace]\nmembers = []\n"), None);
    }
}
