//! FCM HTTP v1 and the OAuth2 token endpoint, driven by a real gcp_auth client
//! reading the generated service-account file.

mod support;

use gcp_auth::TokenProvider as _;
use support::Sandbox;

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

fn fcm_token(tag: &str) -> String {
    // Shaped like a real registration token: 152 chars of [A-Za-z0-9_:-].
    let base = format!("{tag}:APA91b");
    format!("{base}{}", "x_Y-9".repeat(30)).chars().take(152).collect()
}

#[tokio::test]
async fn gcp_auth_gets_a_token_and_messages_send() {
    let sb = Sandbox::start(&[]);
    let sa = gcp_auth::CustomServiceAccount::from_file(&sb.ready.fcm_service_account)
        .expect("service account file loads in gcp_auth");
    assert_eq!(sa.project_id(), Some("pushbatch-local"));
    let token = sa.token(&[SCOPE]).await.expect("token from the sandbox");
    assert!(token.as_str().starts_with("sbx-"), "{}", token.as_str());
    let bearer = format!("Bearer {}", token.as_str());

    let path = "/v1/projects/pushbatch-local/messages:send";
    let message = |tok: &str| {
        serde_json::json!({"message": {
            "token": tok,
            "notification": {"title": "We miss you", "body": "See what's new"},
            "data": {"deeplink": "app://home"},
            "android": {"priority": "HIGH", "ttl": "86400s", "collapse_key": "day21"}
        }})
    };

    // Plain listener, HTTP/1.1.
    let http = reqwest::Client::new();
    let resp = http
        .post(sb.http_url(path))
        .header("authorization", &bearer)
        .json(&message(&fcm_token("live1")))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.expect("json");
    let name = body["name"].as_str().expect("name");
    assert!(name.starts_with("projects/pushbatch-local/messages/"), "{name}");

    // TLS listener, HTTP/2, trusting only the generated CA.
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&sb.ready.ca).expect("ca")).expect("pem");
    let tls = reqwest::Client::builder().tls_certs_only([ca]).build().expect("client");
    let resp = tls
        .post(sb.tls_url(path))
        .header("authorization", &bearer)
        .json(&message(&fcm_token("live2")))
        .send()
        .await
        .expect("send over TLS");
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 200);

    // Dead token: 404 UNREGISTERED, exactly Google's body.
    let resp = http
        .post(sb.http_url(path))
        .header("authorization", &bearer)
        .json(&message(&fcm_token("dead")))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 404);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(
        body,
        serde_json::json!({"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}})
    );

    // Malformed token: 400 INVALID_ARGUMENT.
    let resp = http
        .post(sb.http_url(path))
        .header("authorization", &bearer)
        .json(&message("too-short"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(body["error"]["details"][0]["errorCode"], "INVALID_ARGUMENT");

    // No / unknown bearer: 401 UNAUTHENTICATED.
    for auth in [None, Some("Bearer sbx-not-issued")] {
        let mut req = http.post(sb.http_url(path)).json(&message(&fcm_token("live3")));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.expect("send");
        assert_eq!(resp.status(), 401);
        let body: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
    }

    // Another project: 403 PERMISSION_DENIED.
    let resp = http
        .post(sb.http_url("/v1/projects/someone-else/messages:send"))
        .header("authorization", &bearer)
        .json(&message(&fcm_token("live4")))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 403);

    let stats = sb.stats().await;
    assert_eq!(stats.oauth.tokens_issued, 1);
    assert_eq!(stats.fcm.requests, 7);
    assert_eq!(stats.fcm.delivered, 2);
    assert_eq!(stats.fcm.rejected.get("UNREGISTERED"), Some(&1));
    assert_eq!(stats.fcm.rejected.get("INVALID_ARGUMENT"), Some(&1));
    assert_eq!(stats.fcm.rejected.get("UNAUTHENTICATED"), Some(&2));
    assert_eq!(stats.fcm.rejected.get("PERMISSION_DENIED"), Some(&1));
}

#[tokio::test]
async fn token_endpoint_refuses_bad_grants() {
    let sb = Sandbox::start(&[]);
    let http = reqwest::Client::new();
    let resp = http
        .post(sb.http_url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=a.b.c")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"].is_string());

    let resp = http.post(sb.http_url("/token")).body("grant_type=client_credentials").send().await.expect("send");
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["error"], "unsupported_grant_type");

    assert_eq!(sb.stats().await.oauth.rejected, 2);
}
