//! Faults, connection knobs, /stats, /config and restarts.

mod support;

use std::time::{Duration, Instant};

use support::{PAYLOAD, Sandbox, h2load, live_token, payload_file};

async fn apns_post(sb: &Sandbox, client: &reqwest::Client, jwt: &str, token: &str) -> reqwest::Response {
    client
        .post(sb.http_url(&format!("/3/device/{token}")))
        .header("authorization", format!("bearer {jwt}"))
        .header("apns-topic", support::TOPIC)
        .body(PAYLOAD)
        .send()
        .await
        .expect("apns request")
}

#[tokio::test]
async fn rate_429_answers_every_request_until_switched_off() {
    let sb = Sandbox::start(&["--rate-429", "1.0", "--retry-after-secs", "7"]);
    let client = sb.h2c_client();
    let jwt = sb.apns_jwt();
    for i in 0..20 {
        let resp = apns_post(&sb, &client, &jwt, &live_token(i)).await;
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()["retry-after"], "7");
        assert!(resp.headers().contains_key("apns-id"));
        let body: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(body["reason"], "TooManyRequests");
    }

    // FCM: 429 RESOURCE_EXHAUSTED / QUOTA_EXCEEDED, also with retry-after.
    let sa = gcp_auth::CustomServiceAccount::from_file(&sb.ready.fcm_service_account).expect("sa");
    let token = gcp_auth::TokenProvider::token(&sa, &["https://www.googleapis.com/auth/firebase.messaging"])
        .await
        .expect("oauth token");
    let fcm_url = sb.http_url("/v1/projects/pushbatch-local/messages:send");
    let msg = serde_json::json!({"message": {"token": "a".repeat(140), "data": {"k": "v"}}});
    let resp = client.post(&fcm_url).bearer_auth(token.as_str()).json(&msg).send().await.expect("fcm");
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(body["error"]["details"][0]["errorCode"], "QUOTA_EXCEEDED");

    let stats = sb.stats().await;
    assert_eq!(stats.apns.injected.get("TooManyRequests"), Some(&20));
    assert_eq!(stats.apns.delivered, 0);
    assert_eq!(stats.fcm.injected.get("QUOTA_EXCEEDED"), Some(&1));

    let config = sb.post_config(serde_json::json!({"rate_429": 0.0})).await;
    assert_eq!(config["rate_429"], 0.0);
    let resp = apns_post(&sb, &client, &jwt, &live_token(1)).await;
    assert_eq!(resp.status(), 200);
    let resp = client.post(&fcm_url).bearer_auth(token.as_str()).json(&msg).send().await.expect("fcm");
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn other_injected_faults() {
    let sb = Sandbox::start(&["--rate-503", "1.0"]);
    let client = sb.h2c_client();
    let jwt = sb.apns_jwt();
    let resp = apns_post(&sb, &client, &jwt, &live_token(1)).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.json::<serde_json::Value>().await.expect("json")["reason"], "ServiceUnavailable");
    sb.post_config(serde_json::json!({"rate_503": 0.0, "rate_500": 1.0})).await;
    let resp = apns_post(&sb, &client, &jwt, &live_token(1)).await;
    assert_eq!(resp.status(), 500);
    assert_eq!(resp.json::<serde_json::Value>().await.expect("json")["reason"], "InternalServerError");
    // Validation comes first: a bad token is still a 400 while faults are on.
    let resp = apns_post(&sb, &client, &jwt, "nothex").await;
    assert_eq!(resp.status(), 400);
    let stats = sb.stats().await;
    assert_eq!(stats.apns.injected.get("ServiceUnavailable"), Some(&1));
    assert_eq!(stats.apns.injected.get("InternalServerError"), Some(&1));
    assert_eq!(stats.apns.rejected.get("BadDeviceToken"), Some(&1));
}

#[tokio::test]
async fn goaway_after_closes_connections_under_h2load() {
    let sb = Sandbox::start(&["--goaway-after", "10"]);
    let auth = format!("authorization: bearer {}", sb.apns_jwt());
    let payload = payload_file(sb.dir.path());
    let url = sb.tls_url(&format!("/3/device/{}", live_token(9)));
    let summary = h2load(&[
        "-n",
        "200",
        "-c",
        "2",
        "-m",
        "5",
        "--header",
        &auth,
        "--header",
        "apns-topic: com.example.app",
        "-d",
        payload.to_str().expect("utf-8 path"),
        &url,
    ]);
    assert_eq!(summary.status_4xx + summary.status_5xx, 0, "{}", summary.raw);
    assert!(summary.status_2xx >= 10, "{}", summary.raw);
    let stats = sb.stats().await;
    assert!(stats.goaways > 0, "{stats:?}\n{}", summary.raw);
    assert_eq!(stats.apns.delivered, summary.status_2xx, "{}", summary.raw);
}

#[tokio::test]
async fn stats_track_tokens_and_reset() {
    let sb = Sandbox::start(&["--track-tokens"]);
    let client = sb.h2c_client();
    let jwt = sb.apns_jwt();
    let (a, b) = (live_token(100), live_token(200));
    for _ in 0..3 {
        assert_eq!(apns_post(&sb, &client, &jwt, &a).await.status(), 200);
    }
    assert_eq!(apns_post(&sb, &client, &jwt, &b).await.status(), 200);
    assert_eq!(apns_post(&sb, &client, &jwt, &support::dead_token(5)).await.status(), 410);

    let raw: serde_json::Value = reqwest::get(sb.http_url("/stats")).await.expect("stats").json().await.expect("json");
    assert_eq!(raw["apns"]["requests"], 5);
    assert_eq!(raw["apns"]["delivered"], 4);
    assert_eq!(raw["apns"]["rejected"], serde_json::json!({"Unregistered": 1}));
    assert_eq!(raw["apns"]["injected"], serde_json::json!({}));
    assert_eq!(raw["fcm"]["requests"], 0);
    assert_eq!(raw["oauth"], serde_json::json!({"tokens_issued": 0, "rejected": 0}));
    assert!(raw["connections"].as_u64().expect("connections") >= 1);
    assert_eq!(raw["goaways"], 0);
    assert_eq!(raw["deliveries"], serde_json::json!({ a.clone(): 3, b.clone(): 1 }));

    let resp = reqwest::Client::new().post(sb.http_url("/stats/reset")).send().await.expect("reset");
    assert_eq!(resp.status(), 200);
    let stats = sb.stats().await;
    assert_eq!(stats.apns.requests, 0);
    assert_eq!(stats.apns.delivered, 0);
    assert!(stats.apns.rejected.is_empty());
    assert_eq!(stats.deliveries, Some(Default::default()));

    sb.post_config(serde_json::json!({"track_tokens": false})).await;
    assert_eq!(apns_post(&sb, &client, &jwt, &a).await.status(), 200);
    let stats = sb.stats().await;
    assert_eq!(stats.apns.delivered, 1);
    assert!(stats.deliveries.is_none(), "no deliveries key without tracking");
}

#[tokio::test]
async fn config_round_trip_latency_and_dead_rules() {
    let tmp = tempfile::tempdir().expect("tmp");
    let listed = live_token(77);
    let list = tmp.path().join("dead.txt");
    std::fs::write(&list, format!("{listed}\n")).expect("write");
    let sb = Sandbox::start(&["--dead-tokens-file", list.to_str().expect("utf-8")]);
    let client = sb.h2c_client();
    let jwt = sb.apns_jwt();

    let config: serde_json::Value =
        reqwest::get(sb.http_url("/config")).await.expect("config").json().await.expect("json");
    for key in [
        "latency_ms",
        "jitter_ms",
        "spike_ms",
        "spike_rate",
        "rate_500",
        "rate_503",
        "rate_429",
        "retry_after_secs",
        "goaway_after",
        "dead_fraction",
        "track_tokens",
    ] {
        assert!(config.get(key).is_some(), "{key} missing from {config}");
    }
    assert_eq!(config["fixed"]["max_streams"], 1000);
    assert_eq!(config["fixed"]["dead_tokens_listed"], 1);

    // Unknown knobs and out-of-range values are refused and change nothing.
    let resp = reqwest::Client::new()
        .post(sb.http_url("/config"))
        .json(&serde_json::json!({"rate_42": 1.0}))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 400);
    let resp = reqwest::Client::new()
        .post(sb.http_url("/config"))
        .json(&serde_json::json!({"rate_429": 3.0}))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 400);

    assert_eq!(apns_post(&sb, &client, &jwt, &listed).await.status(), 410);
    assert_eq!(apns_post(&sb, &client, &jwt, &live_token(78)).await.status(), 200);

    sb.post_config(serde_json::json!({"latency_ms": 150})).await;
    let started = Instant::now();
    assert_eq!(apns_post(&sb, &client, &jwt, &live_token(78)).await.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(150), "{:?}", started.elapsed());

    sb.post_config(serde_json::json!({"latency_ms": 0, "dead_fraction": 1.0})).await;
    assert_eq!(apns_post(&sb, &client, &jwt, &live_token(78)).await.status(), 410);

    let health = reqwest::get(sb.http_url("/health")).await.expect("health");
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.expect("text"), "ok");
}

#[tokio::test]
async fn restart_keeps_credentials() {
    let mut sb = Sandbox::start(&[]);
    let state = sb.state_dir();
    let read = |name: &str| std::fs::read(state.join(name)).expect(name);
    let (ca, p8) = (read("ca.pem"), read("apns-key.p8"));
    let sa1: serde_json::Value = serde_json::from_slice(&read("fcm-service-account.json")).expect("sa");
    let old_jwt = sb.apns_jwt();

    sb.restart(&[]);
    assert_eq!(read("ca.pem"), ca);
    assert_eq!(read("apns-key.p8"), p8);
    let sa2: serde_json::Value = serde_json::from_slice(&read("fcm-service-account.json")).expect("sa");
    assert_eq!(sa1["private_key"], sa2["private_key"]);
    assert_eq!(sa2["token_uri"], format!("http://{}/token", sb.ready.http));

    // A provider token minted before the restart still verifies.
    let client = sb.h2c_client();
    assert_eq!(apns_post(&sb, &client, &old_jwt, &live_token(1)).await.status(), 200);
}

#[tokio::test]
async fn max_streams_is_announced_in_settings() {
    let sb = Sandbox::start(&["--max-streams", "7"]);
    let nghttp = support::require_tool("nghttp", "nghttp2-client");
    let out = std::process::Command::new("timeout")
        .arg("30")
        .arg(nghttp)
        .args(["-nv", &sb.tls_url("/health")])
        .output()
        .expect("run nghttp");
    let text = String::from_utf8_lossy(&out.stdout);
    let settings = text.split("recv SETTINGS frame").nth(1).expect("server SETTINGS frame");
    assert!(settings.contains("[SETTINGS_MAX_CONCURRENT_STREAMS(0x03):7]"), "{text}");
}

/// A minimal h2c client that only acknowledges SETTINGS and PING, and records the
/// frame types it receives until the server closes the connection.
fn idle_h2c_connection(addr: &str) -> std::thread::JoinHandle<Vec<u8>> {
    use std::io::{Read, Write};
    let mut sock = std::net::TcpStream::connect(addr).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(15))).expect("timeout");
    sock.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0").expect("preface");
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut header = [0u8; 9];
        while sock.read_exact(&mut header).is_ok() {
            let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
            let (kind, flags) = (header[3], header[4]);
            let mut payload = vec![0u8; len];
            if sock.read_exact(&mut payload).is_err() {
                break;
            }
            seen.push(kind);
            let ack = flags & 1 == 1;
            if kind == 4 && !ack {
                let _ = sock.write_all(&[0, 0, 0, 4, 1, 0, 0, 0, 0]);
            } else if kind == 6 && !ack {
                let mut pong = vec![0, 0, 8, 6, 1, 0, 0, 0, 0];
                pong.extend_from_slice(&payload);
                let _ = sock.write_all(&pong);
            }
        }
        seen
    })
}

#[tokio::test]
async fn sigterm_sends_goaway_stops_and_removes_ready_json() {
    let mut sb = Sandbox::start(&[]);
    let client = sb.h2c_client();
    let jwt = sb.apns_jwt();
    assert_eq!(apns_post(&sb, &client, &jwt, &live_token(1)).await.status(), 200);
    drop(client);
    let idle = idle_h2c_connection(&sb.ready.http);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = Instant::now();
    let status = sb.terminate().await;
    assert!(status.success(), "{status}");
    let frames = idle.join().expect("client thread");
    const GOAWAY: u8 = 7;
    assert!(frames.contains(&GOAWAY), "frames seen: {frames:?}");
    // The idle connection was closed by the GOAWAY exchange, not by the drain timeout.
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    assert!(!sb.state_dir().join("ready.json").exists());
    assert!(sb.state_dir().join("ca.pem").exists(), "credentials stay");
}
