//! `sam validate --lint` passes on template.yaml: the SAM transform accepts
//! it and cfn-lint finds nothing, offline and without an AWS account.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// sam takes about 5 s here; far more means it is stuck (e.g. on network).
const SAM_TIMEOUT: Duration = Duration::from_secs(180);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// `sam validate --lint --region us-east-1` on `template`, bounded in time.
fn sam_validate(template: &Path) -> Output {
    let sam = root().join(".local/venv/bin/sam");
    assert!(sam.exists(), "{} is missing: run scripts/setup (it installs local/requirements.txt)", sam.display());
    // A private HOME: sam writes its metadata there and must not read the
    // developer's AWS profiles; the region is given, no credentials are used.
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(&sam)
        .args(["validate", "--lint", "--region", "us-east-1", "--template-file"])
        .arg(template)
        .current_dir(root())
        .env("HOME", home.path())
        .env("SAM_CLI_TELEMETRY", "0")
        .env_remove("AWS_PROFILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > SAM_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sam validate --lint did not finish within {SAM_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn sam_validate_lint_passes() {
    let out = sam_validate(&root().join("template.yaml"));
    assert!(out.status.success(), "sam validate --lint found problems:\n{}", text(&out));
}

/// The check above can fail: a lint error in a copy of the template is
/// reported with its rule and a non-zero exit.
#[test]
fn sam_validate_lint_reports_errors() {
    let original = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let broken = original.replacen(
        "\nResources:\n",
        "\nResources:\n  BrokenForTheTest:\n    Type: AWS::SQS::Queue\n    Properties:\n      MessageRetentionPeriod: 1\n",
        1,
    );
    assert_ne!(broken, original, "template.yaml has no `Resources:` line to break");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("template.yaml");
    std::fs::write(&path, broken).unwrap();
    let out = sam_validate(&path);
    assert!(!out.status.success(), "a broken template passed:\n{}", text(&out));
    assert!(text(&out).contains("E3034"), "{}", text(&out));
}
