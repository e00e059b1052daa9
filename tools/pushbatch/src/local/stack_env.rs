//! `stack.env`: the environment functions (through `cargo lambda watch
//! --env-file`), tests and the CLI share to reach the local stack.

use std::path::{Path, PathBuf};

use shared::schema::{ALL_TABLES, BUCKET_ENV};

use super::parts::{Ports, StateDir, USERS_FILE, http_url};
use super::{REGION, StackConfig};
use crate::env_file::EnvMap;

/// Process variables copied into stack.env by `local up`, so a caller can
/// shorten the send-batch chain without editing files, or have the
/// functions log their AWS calls (`shared::aws::calls`).
pub const PASSTHROUGH_VARS: &[&str] = &["MAX_RUN_SECONDS", "BATCH_SIZE", shared::aws::calls::CALL_LOG_ENV];
/// The local stack's approvers and the seeded users their test sends go to.
/// Each is a user of local/users.json, and so are those user ids (its
/// device-app users), so a local sign-in can act as any of them.
pub const LOCAL_APPROVERS: [(&str, &str); 2] =
    [("approver@example.com", "u-000001"), ("approver2@example.com", "u-000002")];
/// Who may request pushes locally: local/users.json's staff, not its app users.
pub const LOCAL_REQUESTERS: &str = "@example.com";
/// The app client of local/users.json whose tokens the devices API accepts
/// (its `DevicesJwtAudience`), as local/apis.json says.
pub const DEVICES_CLIENT_ID: &str = "pushbatch-app";
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
    // Web Push: the sandbox's push service takes subscriptions for this key.
    env.set("WEBPUSH_VAPID_KEY_FILE", path(state.vapid_key()));
    env.set("WEBPUSH_SUBJECT", "mailto:ops@example.com");
    env.set("SANDBOX_URL", http_url(ports.sandbox_http()));
    env.set("EVENT_PLANE_URL", http_url(ports.plane()));
    // EventBridge Scheduler for `send_at`: the event plane emulates it.
    env.set("AWS_ENDPOINT_URL_SCHEDULER", http_url(ports.plane()));
    env.set("SCHEDULER_ROLE_ARN", "arn:aws:iam::000000000000:role/pushbatch-local-scheduler");
    // The template gives the stack a group of its own; locally the plane's
    // default group stands for it. Named here, as the role is, so that the
    // least-privilege check (tests/least_privilege.rs) knows the one for
    // the other.
    env.set("SCHEDULE_GROUP", "default");
    // Under watch a function's invoked ARN is the placeholder `function-arn`:
    // schedules name send-batch by an ARN the plane resolves instead.
    env.set("SCHEDULE_TARGET_ARN", format!("arn:aws:lambda:{REGION}:000000000000:function:send-batch"));
    env.set("SEND_BATCH_FUNCTION", "send-batch");
    env.set(crate::waiting::STATE_DIR_ENV, path(config.state_dir.clone()));
    // Direct addresses, for tests and tools that must bypass the plane.
    env.set("MOTO_URL", http_url(ports.moto()));
    env.set("LAMBDA_WATCH_URL", http_url(ports.watch()));
    // The APIs as clients call them, and who can sign in to call them.
    env.set("GATEWAY_URL", http_url(ports.gateway()));
    env.set("ISSUER_URL", http_url(ports.issuer()));
    env.set("DEVICES_JWT_AUDIENCE", DEVICES_CLIENT_ID);
    env.set("LOCAL_USERS_FILE", path(config.root.join(USERS_FILE)));
    // The approval flow, for trying it locally: mail goes to aws-ses-v2-local.
    let approvers: Vec<&str> = LOCAL_APPROVERS.iter().map(|(email, _)| *email).collect();
    let approver_users: serde_json::Map<String, serde_json::Value> =
        LOCAL_APPROVERS.iter().map(|(email, user)| (email.to_string(), serde_json::json!([user]))).collect();
    env.set("APPROVERS", approvers.join(","));
    env.set("REQUESTERS", LOCAL_REQUESTERS);
    env.set("APPROVER_USERS", serde_json::Value::Object(approver_users).to_string());
    env.set("MAIL_FROM", "pushbatch@example.com");
    // People reach the approval pages through the gateway, signed in.
    env.set("PUBLIC_BASE_URL", http_url(ports.gateway()));
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
            ("SCHEDULE_TARGET_ARN", "arn:aws:lambda:us-east-1:000000000000:function:send-batch"),
            ("RUST_LOG", "info"),
            ("APPROVERS", "approver@example.com,approver2@example.com"),
            ("APPROVER_USERS", r#"{"approver2@example.com":["u-000002"],"approver@example.com":["u-000001"]}"#),
            ("REQUESTERS", "@example.com"),
            ("GATEWAY_URL", "http://127.0.0.1:9108"),
            ("ISSUER_URL", "http://127.0.0.1:9109"),
            ("DEVICES_JWT_AUDIENCE", "pushbatch-app"),
            ("LOCAL_USERS_FILE", "/repo/local/users.json"),
            ("PUBLIC_BASE_URL", "http://127.0.0.1:9108"),
            ("LINK_KEY_FILE", "/state/approval-link.key"),
        ];
        for (key, value) in expected {
            assert_eq!(env.get(key), Some(value), "{key}");
        }
    }

    /// local/users.json lines up with the approval defaults above and with
    /// local/apis.json: every approver can sign in, a requester who is not
    /// an approver can, approvers' test users are app users (who are not
    /// requesters), and the devices API accepts the app client's tokens.
    #[test]
    fn the_local_users_line_up_with_the_stack_defaults() {
        let read = |file: &str| -> serde_json::Value {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(file);
            serde_json::from_str(&std::fs::read_to_string(&path).expect("readable")).expect("JSON")
        };
        let users = read(USERS_FILE);
        let env = render(&StackConfig::new("/repo", "/state"), None);
        let list = |v: &serde_json::Value, key: &str| -> Vec<String> {
            v.as_array().expect("a list").iter().map(|x| x[key].as_str().expect("a string").to_owned()).collect()
        };
        let emails = list(&users["users"], "email");
        let subs = list(&users["users"], "sub");
        let requester_ok = |email: &str| {
            LOCAL_REQUESTERS.split(',').any(|r| match r.trim().strip_prefix('@') {
                Some(domain) => email.ends_with(&format!("@{domain}")),
                None => email == r.trim(),
            })
        };
        let approvers: Vec<&str> = env.get("APPROVERS").expect("APPROVERS").split(',').collect();
        assert_eq!(approvers.len(), 2);
        for approver in &approvers {
            assert!(emails.iter().any(|e| e == approver), "{approver} is not a local user");
        }
        assert!(emails.iter().any(|e| requester_ok(e) && !approvers.contains(&e.as_str())), "no plain requester");
        for (_, user_id) in LOCAL_APPROVERS {
            let i = subs.iter().position(|s| s == user_id).unwrap_or_else(|| panic!("{user_id} cannot sign in"));
            assert!(!requester_ok(&emails[i]), "app user {user_id} could request pushes");
        }
        assert!(list(&users["clients"], "client_id").iter().any(|c| c == DEVICES_CLIENT_ID));
        let apis = read(super::super::parts::APIS_FILE);
        let devices =
            apis["apis"].as_array().expect("apis").iter().find(|a| a["name"] == "DevicesApi").expect("DevicesApi");
        assert!(devices["jwt"]["audience"].as_array().expect("audience").iter().any(|a| a == DEVICES_CLIENT_ID));
        assert_eq!(devices["jwt"]["issuer"], "local");
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
