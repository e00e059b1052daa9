//! APNs provider API, proven with outside clients: curl (HTTP/2 over TLS, trusting
//! only the generated ca.pem) and h2load.

mod support;

use support::{PAYLOAD, Sandbox, curl, curl_apns, dead_token, h2load, live_token, payload_file};

#[tokio::test]
async fn curl_sees_apples_answers() {
    let sb = Sandbox::start(&[]);
    let jwt = sb.apns_jwt();

    let ok = curl_apns(&sb, &live_token(1), Some(&jwt), PAYLOAD);
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.http_version, "2");
    assert!(ok.body.is_empty());
    let id = ok.header("apns-id").expect("apns-id header");
    assert_eq!(id.len(), 36, "{id}");

    let bad = curl_apns(&sb, "1234", Some(&jwt), PAYLOAD);
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json(), serde_json::json!({"reason": "BadDeviceToken"}));
    assert!(bad.header("apns-id").is_some());

    let before = support::now_secs() * 1000;
    let dead = curl_apns(&sb, &dead_token(1), Some(&jwt), PAYLOAD);
    assert_eq!(dead.status, 410);
    let body = dead.json();
    assert_eq!(body["reason"], "Unregistered");
    let ts = body["timestamp"].as_u64().expect("timestamp in ms");
    assert!(ts as i64 >= before - 1000, "{ts} vs {before}");

    let no_auth = curl_apns(&sb, &live_token(1), None, PAYLOAD);
    assert_eq!(no_auth.status, 403);
    assert_eq!(no_auth.json()["reason"], "MissingProviderToken");

    let forged = format!("{}x", &jwt[..jwt.len() - 1]);
    let invalid = curl_apns(&sb, &live_token(1), Some(&forged), PAYLOAD);
    assert_eq!(invalid.status, 403);
    assert_eq!(invalid.json()["reason"], "InvalidProviderToken");

    let old = sb.apns_jwt_at(support::now_secs() - 3700);
    let expired = curl_apns(&sb, &live_token(1), Some(&old), PAYLOAD);
    assert_eq!(expired.status, 403);
    assert_eq!(expired.json()["reason"], "ExpiredProviderToken");

    let not_for_topic = curl_apns(&sb, &format!("badbad{}", "0".repeat(58)), Some(&jwt), PAYLOAD);
    assert_eq!(not_for_topic.status, 400);
    assert_eq!(not_for_topic.json()["reason"], "DeviceTokenNotForTopic");

    let big = format!(r#"{{"aps":{{"alert":"{}"}}}}"#, "x".repeat(5000));
    let too_large = curl_apns(&sb, &live_token(1), Some(&jwt), &big);
    assert_eq!(too_large.status, 413);
    assert_eq!(too_large.json()["reason"], "PayloadTooLarge");

    let stats = sb.stats().await;
    assert_eq!(stats.apns.requests, 8);
    assert_eq!(stats.apns.delivered, 1);
    for reason in [
        "BadDeviceToken",
        "Unregistered",
        "MissingProviderToken",
        "InvalidProviderToken",
        "ExpiredProviderToken",
        "DeviceTokenNotForTopic",
        "PayloadTooLarge",
    ] {
        assert_eq!(stats.apns.rejected.get(reason), Some(&1), "{reason}: {stats:?}");
    }
    assert!(stats.apns.injected.is_empty());
}

#[tokio::test]
async fn a_token_registered_to_another_app_is_not_for_this_topic() {
    let sb = Sandbox::start(&[]);
    let jwt = sb.apns_jwt_at(support::now_secs());
    let (ours, theirs) = (live_token(7), live_token(8));
    let registered = reqwest::Client::new()
        .post(sb.http_url("/tokens"))
        .json(&serde_json::json!({ours.clone(): support::TOPIC, theirs.clone(): "com.example.other"}))
        .send()
        .await
        .expect("POST /tokens");
    assert_eq!(registered.status(), 200);
    assert_eq!(curl_apns(&sb, &ours, Some(&jwt), PAYLOAD).status, 200, "its own app's topic");
    let wrong = curl_apns(&sb, &theirs, Some(&jwt), PAYLOAD);
    assert_eq!((wrong.status, wrong.json()["reason"].as_str()), (400, Some("DeviceTokenNotForTopic")));
    assert_eq!(curl_apns(&sb, &live_token(9), Some(&jwt), PAYLOAD).status, 200, "an unregistered token: any topic");
}

#[tokio::test]
async fn apns_id_is_echoed_and_http1_refused_and_h2c_accepted() {
    let sb = Sandbox::start(&[]);
    let jwt = sb.apns_jwt();
    let auth = format!("authorization: bearer {jwt}");
    let ca = sb.ready.ca.to_string_lossy().to_string();
    let id = "0a1b2c3d-0000-4000-8000-00000000abcd";

    let tls_url = sb.tls_url(&format!("/3/device/{}", live_token(2)));
    let echoed = curl(&[
        "--http2",
        "--cacert",
        &ca,
        "-H",
        &auth,
        "-H",
        "apns-topic: t",
        "-H",
        &format!("apns-id: {id}"),
        "--data-binary",
        PAYLOAD,
        &tls_url,
    ]);
    assert_eq!(echoed.status, 200);
    assert_eq!(echoed.header("apns-id"), Some(id));

    let h1 =
        curl(&["--http1.1", "--cacert", &ca, "-H", &auth, "-H", "apns-topic: t", "--data-binary", PAYLOAD, &tls_url]);
    assert_eq!(h1.http_version, "1.1");
    assert_eq!(h1.status, 505);
    assert_eq!(h1.json()["reason"], "Http2Required");

    let h2c_url = sb.http_url(&format!("/3/device/{}", live_token(2)));
    let h2c =
        curl(&["--http2-prior-knowledge", "-H", &auth, "-H", "apns-topic: t", "--data-binary", PAYLOAD, &h2c_url]);
    assert_eq!(h2c.http_version, "2");
    assert_eq!(h2c.status, 200);

    let no_topic = curl(&["--http2-prior-knowledge", "-H", &auth, "--data-binary", PAYLOAD, &h2c_url]);
    assert_eq!(no_topic.status, 400);
    assert_eq!(no_topic.json()["reason"], "MissingTopic");

    let bad_type = curl(&[
        "--http2-prior-knowledge",
        "-H",
        &auth,
        "-H",
        "apns-topic: t",
        "-H",
        "apns-push-type: banner",
        "--data-binary",
        PAYLOAD,
        &h2c_url,
    ]);
    assert_eq!(bad_type.status, 400);
    assert_eq!(bad_type.json()["reason"], "InvalidPushType");

    let stats = sb.stats().await;
    assert_eq!(stats.apns.delivered, 2);
    assert_eq!(stats.apns.rejected.get("Http2Required"), Some(&1));
}

#[tokio::test]
async fn h2load_gets_only_2xx() {
    let sb = Sandbox::start(&[]);
    let auth = format!("authorization: bearer {}", sb.apns_jwt());
    let payload = payload_file(sb.dir.path());
    let url = sb.tls_url(&format!("/3/device/{}", live_token(3)));
    let summary = h2load(&[
        "-n",
        "2000",
        "-c",
        "2",
        "-m",
        "50",
        "--header",
        &auth,
        "--header",
        "apns-topic: com.example.app",
        "-d",
        payload.to_str().expect("utf-8 path"),
        &url,
    ]);
    assert_eq!(summary.succeeded, 2000, "{}", summary.raw);
    assert_eq!(summary.status_2xx, 2000, "{}", summary.raw);
    assert_eq!(summary.status_4xx + summary.status_5xx, 0, "{}", summary.raw);

    let stats = sb.stats().await;
    assert_eq!(stats.apns.requests, 2000);
    assert_eq!(stats.apns.delivered, 2000);
    assert!(stats.apns.rejected.is_empty(), "{stats:?}");
    assert!(stats.connections >= 2, "{stats:?}");
}
