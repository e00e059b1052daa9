//! Least privilege, checked both ways (issue 15). The local stack does not
//! enforce IAM, so a policy that is too narrow would show only in
//! production. With `PUSHBATCH_AWS_CALL_LOG=<dir>`, every function logs
//! each AWS call it makes (`shared::aws::calls`); `scripts/test` sets it
//! for the whole run and then runs the ignored test below, which checks
//! that template.yaml's policy of each function allows every call it made,
//! and that every action the policy grants was made at least once (or is
//! an exception below, with its reason).
//!
//! The other tests here run with the workspace's: the checker on a small
//! template and log, and on copies of template.yaml with a needed action
//! removed and an unused one added, so the check is known to fail.

#[path = "least_privilege/fixture.rs"]
mod fixture;

use std::path::{Path, PathBuf};

use pushbatch_tests::iam::{Deployment, Exception, Model, check, read_logs};
use shared::aws::calls::CALL_LOG_ENV;

use fixture::{access, call, table};

/// Secrets are files on the local stack (stack.env's `*_FILE` variables);
/// in AWS `shared::aws::load_secret` reads them from Secrets Manager.
const SECRET_IS_A_FILE_LOCALLY: &str = "read once at start-up from Secrets Manager in AWS; the local stack \
     gives the function the secret as a file (APNS_KEY_FILE, FCM_SERVICE_ACCOUNT_FILE, WEBPUSH_VAPID_KEY_FILE, \
     an app's file: account, LINK_KEY_FILE), so the call is never made locally";

/// Streamed writes (`shared::objects::StreamedObject`) abort their own
/// multipart upload when a part or the completion fails.
const ABORT_ONLY_ON_FAILURE: &str = "only when a streamed write (failed.jsonl, skipped.jsonl, receipts.jsonl, a \
     variant, an approved copy) fails between its parts: the local runs write them whole or in parts without \
     a fault between them (shared::objects::streamed's tests abort on the in-memory store); the bucket's \
     abort-incomplete-uploads rule is the backstop";

/// Grants no local-stack run can exercise, each with its reason. The
/// check fails when an entry's grant is gone or was exercised after all.
const EXCEPTIONS: &[Exception] = &[
    Exception {
        function: "send-batch",
        sid: "ApnsKey",
        action: "secretsmanager:GetSecretValue",
        reason: SECRET_IS_A_FILE_LOCALLY,
    },
    Exception {
        function: "send-batch",
        sid: "FcmServiceAccount",
        action: "secretsmanager:GetSecretValue",
        reason: SECRET_IS_A_FILE_LOCALLY,
    },
    Exception {
        function: "send-batch",
        sid: "WebPushVapidKey",
        action: "secretsmanager:GetSecretValue",
        reason: SECRET_IS_A_FILE_LOCALLY,
    },
    Exception {
        function: "send-batch",
        sid: "AppsServiceAccounts",
        action: "secretsmanager:GetSecretValue",
        reason: SECRET_IS_A_FILE_LOCALLY,
    },
    Exception {
        function: "approval",
        sid: "LinkKey",
        action: "secretsmanager:GetSecretValue",
        reason: SECRET_IS_A_FILE_LOCALLY,
    },
    Exception {
        function: "send-batch",
        sid: "WriteReports",
        action: "s3:AbortMultipartUpload",
        reason: ABORT_ONLY_ON_FAILURE,
    },
    Exception {
        function: "ab-split",
        sid: "WriteVariantsAndControl",
        action: "s3:AbortMultipartUpload",
        reason: ABORT_ONLY_ON_FAILURE,
    },
    Exception {
        function: "approval",
        sid: "WriteApprovedBatches",
        action: "s3:AbortMultipartUpload",
        reason: ABORT_ONLY_ON_FAILURE,
    },
    Exception {
        function: "scheduled",
        sid: "WriteSegments",
        action: "s3:AbortMultipartUpload",
        reason: "only when a segment's multipart upload fails part-way: segments go multipart above 8 MiB \
                 (about 200,000 users), the local campaigns select a few hundred, and a failure needs a fault \
                 between parts; the bucket's abort-incomplete-uploads rule is the backstop",
    },
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn template() -> String {
    std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml")
}

#[test]
#[ignore = "reads a whole test run's call logs: scripts/test runs it after the workspace's tests"]
fn every_call_is_allowed_and_every_grant_is_made() {
    let dir = std::env::var_os(CALL_LOG_ENV)
        .unwrap_or_else(|| panic!("{CALL_LOG_ENV} names no directory: run scripts/test, which sets it for the run"));
    let records = read_logs(Path::new(&dir)).unwrap_or_else(|e| panic!("{e}"));
    let deployment = Deployment::local();
    let model = Model::load(&template(), &deployment).unwrap_or_else(|e| panic!("{e}"));
    let report = check(&model, &records, &deployment, EXCEPTIONS);
    assert!(report.passed(), "least privilege: template.yaml and the calls the functions made disagree:\n{report}");
    println!("least privilege, from {} calls in {}:\n{report}", records.len(), Path::new(&dir).display());
    for e in EXCEPTIONS {
        println!("excepted: {} {} ({}): {}", e.function, e.action, e.sid, e.reason);
    }
}

#[test]
fn template_yaml_is_read_whole() {
    let deployment = Deployment::local();
    let model = Model::load(&template(), &deployment).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = model.functions.iter().map(|f| f.binary.as_str()).collect();
    for binary in ["send-batch", "scheduled", "ab-split", "devices", "approval"] {
        assert!(names.contains(&binary), "{binary} is not among {names:?}");
    }
    for function in &model.functions {
        assert!(!function.statements.is_empty(), "{} has no statements", function.logical_id);
        assert_eq!(function.role_arn, format!("arn:aws:iam::000000000000:role/pushbatch-{}Role", function.logical_id));
    }
    assert_eq!(model.bucket_policies.len(), 1);
    assert_eq!(model.bucket_policies[0].bucket, shared::schema::DEFAULT_LOCAL_BUCKET);
}

/// Every exception names a grant the template has.
#[test]
fn every_exception_names_a_grant() {
    let model = Model::load(&template(), &Deployment::local()).unwrap_or_else(|e| panic!("{e}"));
    for e in EXCEPTIONS {
        let function = model.function(e.function).unwrap_or_else(|| panic!("no function {}", e.function));
        assert!(
            function.statements.iter().any(|s| s.sid == e.sid && s.actions.iter().any(|a| a == e.action)),
            "{} has no statement {} granting {}",
            e.function,
            e.sid,
            e.action
        );
        assert!(e.reason.len() > 40, "the exception for {} {} needs its reason", e.function, e.action);
    }
}

/// The production bug this check exists for: approval's status page read
/// shard records with GetItem while its policy allowed only the Query.
#[test]
fn a_needed_action_removed_from_template_yaml_fails_naming_function_call_and_statement() {
    let original = template();
    let needle =
        "            - Sid: JobRecords\n              Effect: Allow\n              Action: [dynamodb:GetItem]\n";
    assert!(original.contains(needle), "template.yaml's JobRecords statement moved: update this test");
    let narrowed = original.replace(
        needle,
        "            - Sid: JobRecords\n              Effect: Allow\n              Action: [dynamodb:DescribeTable]\n",
    );
    let deployment = Deployment::local();
    let model = Model::load(&narrowed, &deployment).unwrap_or_else(|e| panic!("{e}"));
    let get = call("approval", "GetItem", vec![access("dynamodb:GetItem", table("pushbatch-jobs", None))]);
    let report = check(&model, &[get], &deployment, EXCEPTIONS);
    let problem = report
        .problems
        .iter()
        .find(|p| {
            p.starts_with(
                "approval made dynamodb:GetItem on arn:aws:dynamodb:us-east-1:000000000000:table/pushbatch-jobs",
            )
        })
        .unwrap_or_else(|| panic!("the GetItem is not refused:\n{report}"));
    assert!(problem.contains("no statement of ApprovalFunction's policy allows"), "{problem}");
    assert!(
        problem.contains("JobRecords (dynamodb:DescribeTable on"),
        "the statement on the table is named: {problem}"
    );
}

#[test]
fn an_unused_action_added_to_template_yaml_fails_naming_the_grant() {
    let original = template();
    let needle = "Action: [dynamodb:GetItem, dynamodb:UpdateItem, dynamodb:DeleteItem]";
    assert_eq!(original.matches(needle).count(), 1, "the devices function's statement moved: update this test");
    let widened =
        original.replace(needle, "Action: [dynamodb:GetItem, dynamodb:UpdateItem, dynamodb:DeleteItem, dynamodb:Scan]");
    let deployment = Deployment::local();
    let model = Model::load(&widened, &deployment).unwrap_or_else(|e| panic!("{e}"));
    let get = call("devices", "GetItem", vec![access("dynamodb:GetItem", table("pushbatch-devices", None))]);
    let report = check(&model, &[get], &deployment, EXCEPTIONS);
    assert!(
        report.problems.iter().any(|p| p.starts_with(
            "devices: statement Devices of DevicesFunction's policy grants dynamodb:Scan on \
             arn:aws:dynamodb:us-east-1:000000000000:table/pushbatch-devices, and devices never made that call"
        )),
        "{report}"
    );
}

/// Every SDK client a function uses is built in `shared::aws`, where the
/// recorder is installed: one built anywhere else would make calls the
/// check never sees.
#[test]
fn every_client_is_built_by_shared_aws() {
    let mut offenders = Vec::new();
    let mut dirs: Vec<PathBuf> = vec![root().join("shared/src")];
    for entry in std::fs::read_dir(root().join("functions")).expect("functions/").flatten() {
        dirs.push(entry.path().join("src"));
    }
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for path in entries.flatten().map(|e| e.path()) {
            if path.is_dir() {
                if path != root().join("shared/src/aws") {
                    dirs.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("source");
                for (n, line) in text.lines().enumerate() {
                    let builds = line.contains("aws_sdk_")
                        && (line.contains("::Client::new(") || line.contains("::Client::from_conf("));
                    if builds && !line.trim_start().starts_with("//") {
                        offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "build these clients with shared::aws (it records their calls):\n{}",
        offenders.join("\n")
    );
}
