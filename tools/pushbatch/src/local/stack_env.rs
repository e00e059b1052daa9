//! `stack.env`: the environment functions (through `cargo lambda watch
//! --env-file`), tests and the CLI share to reach the local stack.

use std::path::{Path, PathBuf};

use shared::schema::{ALL_TABLES, BUCKET_ENV};

use super::parts::{Ports, StateDir, http_url};
use super::{REGION, StackConfig};
use crate::env_file::EnvMap;

/// Process variables copied into stack.env by `local up`, so a caller can
/// shorten the send-batch chain without editing files.
pub const PASSTHROUGH_VARS: &[&str] = &["MAX_RUN_SECONDS", "BATCH_SIZE"];
/// The local stack's approver (its test sends go to the seeded `u-000001`).
pub const LOCAL_APPROVER: &str = "approver@example.com";
/// Process variables with this prefix are copied with the prefix removed:
/// `PUSHBATCH_FN_RUST_LOG=debug` becomes `RUST_LOG=debug`.
pub const FN_ENV_PREFIX: &str = "PUSHBATCH_FN_";

/// `<state>/sandbox/ready.json`: the sandbox's own type, so the file has one
/// definition.
pub use push_sandbox::credentials::ReadyFile as SandboxReady;

/// The ready file, if present and well-formed.
pub fn read_sandbox_ready(path: &Path) -> Option<SandboxReady> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Function variables taken from a process environment: the passthrough
/// variables, and `PUSHBATCH_FN_*` with the prefix stripped.
pub fn fn_env_from(process: &EnvMap) -> EnvMap {
    let mut out = EnvMap::new();
    for (key, value) in process.iter() {
        if PASSTHROUGH_VARS.contains(&key) {
            out.set(key, value);
        } else if let Some(name) = key.strip_prefix(FN_ENV_PREFIX).filter(|n| !n.is_empty()) {
            out.set(name, value);
        }
    }
    out
}

/// The full stack.env for `config`; `sandbox` supplies key ids and file
/// paths when the sandbox has written its ready file (else the defaults it
/// is documented to use). `config.fn_env` is applied last and wins.
pub fn render(config: &StackConfig, sandbox: Option<&SandboxReady>) -> EnvMap {
    let ports = Ports::new(config.port_base);
    let state = StateDir::new(&config.state_dir);
    let sandbox_dir = state.sandbox_dir();
    let path = |p: PathBuf| p.to_string_lossy().into_owned();
    let apns_key = sandbox.map_or_else(|| sandbox_dir.join("apns-key.p8"), |s| s.apns_key.clone());
    let fcm_account =
        sandbox.map_or_else(|| sandbox_dir.join("fcm-service-account.json"), |s| s.fcm_service_account.clone());
    let ca = sandbox.map_or_else(|| sandbox_dir.join("ca.pem"), |s| s.ca.clone());
    let push_endpoint = format!("https://127.0.0.1:{}", ports.sandbox_tls());

    let mut env = EnvMap::new();
    env.set("AWS_REGION", REGION);
    env.set("AWS_DEFAULT_REGION", REGION);
    env.set("AWS_ACCESS_KEY_ID", "local");
    env.set("AWS_SECRET_ACCESS_KEY", "local");
    env.set("AWS_ENDPOINT_URL_S3", http_url(ports.s3_proxy()));
    env.set("AWS_ENDPOINT_URL_LAMBDA", http_url(ports.plane()));
    env.set("AWS_ENDPOINT_URL_DYNAMODB", http_url(ports.dynalite()));
    env.set("AWS_ENDPOINT_URL_SESV2", http_url(ports.ses()));
    env.set("S3_FORCE_PATH_STYLE", "true");
    env.set(BUCKET_ENV, config.bucket.as_str());
    for table in ALL_TABLES {
        env.set(table.env, table.default_name);
    }
    env.set("APNS_ENDPOINT", push_endpoint.as_str());
    env.set("APNS_KEY_FILE", path(apns_key));
    env.set("APNS_KEY_ID", sandbox.map_or("PUSHBATCH1", |s| s.apns_key_id.as_str()));
    env.set("APNS_TEAM_ID", sandbox.map_or("PUSHBATCHT", |s| s.apns_team_id.as_str()));
    env.set("APNS_TOPIC", "com.example.pushbatch");
    env.set("FCM_ENDPOINT", push_endpoint.as_str());
    env.set("FCM_SERVICE_ACCOUNT_FILE", path(fcm_account));
    env.set("FCM_PROJECT_ID", sandbox.map_or("pushbatch-local", |s| s.fcm_project.as_str()));
    env.set("PUSH_EXTRA_CA_FILE", path(ca));
    env.set("SANDBOX_URL", http_url(ports.sandbox_http()));
    env.set("EVENT_PLANE_URL", http_url(ports.plane()));
    // EventBridge Scheduler for `send_at`: the event plane emulates it.
    env.set("AWS_ENDPOINT_URL_SCHEDULER", http_url(ports.plane()));
    env.set("SCHEDULER_ROLE_ARN", "arn:aws:iam::000000000000:role/pushbatch-local-scheduler");
    env.set("SEND_BATCH_FUNCTION", "send-batch");
    env.set(crate::waiting::STATE_DIR_ENV, path(config.state_dir.clone()));
    // Direct addresses, for tests and tools that must bypass the plane.
    env.set("MOTO_URL", http_url(ports.moto()));
    env.set("LAMBDA_WATCH_URL", http_url(ports.watch()));
    // The approval flow, for trying it locally: mail goes to aws-ses-v2-local.
    env.set("APPROVERS", LOCAL_APPROVER);
    env.set("REQUESTERS", "@example.com");
    env.set("APPROVER_USERS", format!("{{\"{LOCAL_APPROVER}\": [\"u-000001\"]}}"));
    env.set("MAIL_FROM", "pushbatch@example.com");
    env.set("PUBLIC_BASE_URL", "http://{host}/lambda-url/approval");
    env.set("LINK_KEY_FILE", path(state.approval_link_key()));
    env.set("RUST_LOG", "info");
    env.overlaid_with(&config.fn_env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_the_documented_contract() {
        let mut config = StackConfig::new("/repo", "/state");
        config.port_base = 9100;
        let env = render(&config, None);
        let expected = [
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "local"),
            ("AWS_SECRET_ACCESS_KEY", "local"),
            ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9101"),
            ("AWS_ENDPOINT_URL_LAMBDA", "http://127.0.0.1:9102"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9103"),
            ("AWS_ENDPOINT_URL_SESV2", "http://127.0.0.1:9104"),
            ("S3_FORCE_PATH_STYLE", "true"),
            ("BUCKET", "pushbatch-local"),
            ("DEVICES_TABLE", "pushbatch-devices"),
            ("JOBS_TABLE", "pushbatch-jobs"),
            ("APNS_ENDPOINT", "https://127.0.0.1:9105"),
            ("APNS_KEY_FILE", "/state/sandbox/apns-key.p8"),
            ("APNS_KEY_ID", "PUSHBATCH1"),
            ("APNS_TEAM_ID", "PUSHBATCHT"),
            ("APNS_TOPIC", "com.example.pushbatch"),
            ("FCM_ENDPOINT", "https://127.0.0.1:9105"),
            ("FCM_SERVICE_ACCOUNT_FILE", "/state/sandbox/fcm-service-account.json"),
            ("PUSH_EXTRA_CA_FILE", "/state/sandbox/ca.pem"),
            ("SANDBOX_URL", "http://127.0.0.1:9106"),
            ("EVENT_PLANE_URL", "http://127.0.0.1:9102"),
            ("RUST_LOG", "info"),
            ("APPROVERS", "approver@example.com"),
            ("PUBLIC_BASE_URL", "http://{host}/lambda-url/approval"),
            ("LINK_KEY_FILE", "/state/approval-link.key"),
        ];
        for (key, value) in expected {
            assert_eq!(env.get(key), Some(value), "{key}");
        }
    }

    #[test]
    fn function_env_overrides_and_extends() {
        let mut config = StackConfig::new("/repo", "/state");
        config.fn_env = [("MAX_RUN_SECONDS", "3"), ("RUST_LOG", "debug")].into_iter().collect();
        let env = render(&config, None);
        assert_eq!(env.get("MAX_RUN_SECONDS"), Some("3"));
        assert_eq!(env.get("RUST_LOG"), Some("debug"));
    }

    #[test]
    fn takes_passthrough_and_prefixed_process_vars() {
        let process: EnvMap = [
            ("BATCH_SIZE", "50"),
            ("PUSHBATCH_FN_APNS_CONCURRENCY", "4"),
            ("PUSHBATCH_FN_", "ignored"),
            ("HOME", "/root"),
        ]
        .into_iter()
        .collect();
        let env = fn_env_from(&process);
        assert_eq!(env.get("BATCH_SIZE"), Some("50"));
        assert_eq!(env.get("APNS_CONCURRENCY"), Some("4"));
        assert_eq!(env.len(), 2);
    }

    #[test]
    fn sandbox_ready_file_supplies_credentials() {
        let ready: SandboxReady = serde_json::from_str(
            r#"{"tls":"127.0.0.1:1","http":"127.0.0.1:2","ca":"/s/ca.pem","apns_key":"/s/k.p8",
                "apns_key_id":"KID","apns_team_id":"TEAM","fcm_service_account":"/s/sa.json",
                "fcm_project":"proj","pid":1}"#,
        )
        .expect("ready.json shape");
        let env = render(&StackConfig::new("/repo", "/state"), Some(&ready));
        assert_eq!(env.get("APNS_KEY_FILE"), Some("/s/k.p8"));
        assert_eq!(env.get("APNS_KEY_ID"), Some("KID"));
        assert_eq!(env.get("FCM_SERVICE_ACCOUNT_FILE"), Some("/s/sa.json"));
        assert_eq!(env.get("FCM_PROJECT_ID"), Some("proj"));
        assert_eq!(env.get("PUSH_EXTRA_CA_FILE"), Some("/s/ca.pem"));
    }
}
