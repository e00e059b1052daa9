//! Web Push: subscriptions as a browser makes them, messages encrypted on this side
//! with web-push-native (RFC 8291) and signed with VAPID (RFC 8292), decrypted and
//! recorded by the sandbox; and every refusal a push service makes.

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};
use serde_json::{Value, json};
use support::{Sandbox, now_secs};
use web_push_native::{Auth, p256};

/// The application server: its VAPID key pair.
struct AppServer {
    pem: String,
    public: String,
}

impl AppServer {
    fn new() -> Self {
        let pair = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
        Self { pem: pair.serialize_pem(), public: B64.encode(pair.public_key_raw()) }
    }

    fn jwt(&self, claims: Value) -> String {
        let key = EncodingKey::from_ec_pem(self.pem.as_bytes()).expect("p-256 key");
        jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &key).expect("sign")
    }

    /// `vapid t=..., k=...` for the endpoint's origin, valid for 12 hours.
    fn vapid(&self, endpoint: &str) -> String {
        self.vapid_with(
            json!({"aud": origin(endpoint), "exp": now_secs() + 12 * 3600, "sub": "mailto:ops@example.com"}),
        )
    }

    fn vapid_with(&self, claims: Value) -> String {
        format!("vapid t={}, k={}", self.jwt(claims), self.public)
    }
}

/// scheme://host:port of an endpoint URL.
fn origin(endpoint: &str) -> String {
    let after_scheme = endpoint.find("://").expect("absolute URL") + 3;
    let path = endpoint[after_scheme..].find('/').expect("path") + after_scheme;
    endpoint[..path].to_owned()
}

/// Encrypts for a subscription as a sender would, with web-push-native.
fn encrypt(subscription: &Value, plaintext: &[u8]) -> Vec<u8> {
    let key = B64.decode(subscription["keys"]["p256dh"].as_str().expect("p256dh")).expect("base64url");
    let auth: [u8; 16] =
        B64.decode(subscription["keys"]["auth"].as_str().expect("auth")).expect("base64url").try_into().expect("16");
    let public = p256::PublicKey::from_sec1_bytes(&key).expect("p256dh is a P-256 point");
    web_push_native::encrypt(plaintext.to_vec(), &public, &Auth::from(auth)).expect("encrypt")
}

fn tls_client(sb: &Sandbox) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&sb.ready.ca).expect("ca")).expect("pem");
    reqwest::Client::builder().tls_certs_only([ca]).build().expect("client")
}

async fn subscribe(sb: &Sandbox, options: Value) -> Value {
    let resp = reqwest::Client::new()
        .post(sb.http_url("/webpush/subscriptions"))
        .json(&options)
        .send()
        .await
        .expect("subscribe");
    assert_eq!(resp.status(), 201);
    resp.json().await.expect("subscription json")
}

async fn received(sb: &Sandbox, id: &str) -> Value {
    let resp = reqwest::get(sb.http_url(&format!("/webpush/subscriptions/{id}"))).await.expect("GET subscription");
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("json")
}

struct Push<'a> {
    ttl: Option<&'a str>,
    encoding: Option<&'a str>,
    authorization: Option<String>,
    extra: Vec<(&'a str, &'a str)>,
    body: Vec<u8>,
}

impl<'a> Push<'a> {
    fn new(authorization: String, body: Vec<u8>) -> Self {
        Self { ttl: Some("60"), encoding: Some("aes128gcm"), authorization: Some(authorization), extra: vec![], body }
    }

    async fn send(self, client: &reqwest::Client, endpoint: &str) -> reqwest::Response {
        let mut req = client.post(endpoint).body(self.body);
        if let Some(t) = self.ttl {
            req = req.header("TTL", t);
        }
        if let Some(e) = self.encoding {
            req = req.header("Content-Encoding", e);
        }
        if let Some(a) = self.authorization {
            req = req.header("Authorization", a);
        }
        for (k, v) in self.extra {
            req = req.header(k, v);
        }
        req.send().await.expect("push")
    }
}

async fn refused(resp: reqwest::Response, status: u16, reason: &str) -> Value {
    assert_eq!(resp.status(), status, "expected {reason}");
    let body: Value = resp.json().await.expect("error json");
    assert_eq!(body["reason"], reason, "{body}");
    assert_eq!(body["code"], status);
    body
}

#[tokio::test]
async fn a_message_arrives_decrypted_with_its_headers() {
    let sb = Sandbox::start(&[]);
    let server = AppServer::new();
    let sub = subscribe(&sb, json!({"application_server_key": server.public})).await;
    let endpoint = sub["endpoint"].as_str().expect("endpoint");
    let id = sub["id"].as_str().expect("id");
    assert_eq!(endpoint, format!("https://{}/wp/{id}", sb.ready.tls));
    assert_eq!(sub["expirationTime"], Value::Null);
    assert_eq!(B64.decode(sub["keys"]["p256dh"].as_str().expect("p256dh")).expect("b64").len(), 65);
    assert_eq!(B64.decode(sub["keys"]["auth"].as_str().expect("auth")).expect("b64").len(), 16);

    let client = tls_client(&sb);
    let payload = br#"{"title":"Goal!","body":"2-1, 78'"}"#;
    let mut push = Push::new(server.vapid(endpoint), encrypt(&sub, payload));
    push.extra = vec![("Urgency", "high"), ("Topic", "match-7")];
    let resp = push.send(&client, endpoint).await;
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["ttl"], "60");
    let location = resp.headers()["location"].to_str().expect("ascii").to_owned();
    assert_eq!(location, format!("https://{}/wp/m/{id}-1", sb.ready.tls));

    // A push without a payload (RFC 8030 §5) needs no Content-Encoding.
    let mut tickle = Push::new(server.vapid(endpoint), vec![]);
    tickle.encoding = None;
    assert_eq!(tickle.send(&client, endpoint).await.status(), 201);

    let got = received(&sb, id).await;
    assert_eq!(got["state"], "active");
    assert_eq!(got["received_total"], 2);
    let first = &got["messages"][0];
    assert_eq!(first["plaintext"], std::str::from_utf8(payload).expect("utf-8"));
    assert_eq!(first["plaintext_base64url"], B64.encode(payload));
    assert_eq!(first["ttl"], 60);
    assert_eq!(first["urgency"], "high");
    assert_eq!(first["topic"], "match-7");
    assert_eq!(first["vapid_sub"], "mailto:ops@example.com");
    assert_eq!(first["vapid_key"], server.public);
    assert_eq!(first["message_id"], format!("{id}-1"));
    let second = &got["messages"][1];
    assert_eq!(
        (&second["plaintext"], &second["urgency"], &second["topic"]),
        (&json!(""), &json!("normal"), &Value::Null)
    );

    let stats = sb.stats().await;
    assert_eq!((stats.webpush.requests, stats.webpush.delivered), (2, 2));
    assert!(stats.webpush.rejected.is_empty(), "{stats:?}");
}

#[tokio::test]
async fn the_plain_listener_and_an_unrestricted_subscription() {
    let sb = Sandbox::start(&[]);
    let sub = subscribe(&sb, json!({"listener": "plain"})).await;
    let endpoint = sub["endpoint"].as_str().expect("endpoint");
    assert_eq!(origin(endpoint), format!("http://{}", sb.ready.http));
    // Any application server may send to a subscription made without a key.
    let server = AppServer::new();
    let resp = Push::new(server.vapid(endpoint), encrypt(&sub, b"hi")).send(&reqwest::Client::new(), endpoint).await;
    assert_eq!(resp.status(), 201);
    let got = received(&sb, sub["id"].as_str().expect("id")).await;
    assert_eq!(got["messages"][0]["plaintext"], "hi");
}

#[tokio::test]
async fn every_refusal_of_a_push_service() {
    let sb = Sandbox::start(&[]);
    let server = AppServer::new();
    let sub = subscribe(&sb, json!({"application_server_key": server.public})).await;
    let endpoint = sub["endpoint"].as_str().expect("endpoint").to_owned();
    let client = tls_client(&sb);
    let body = || encrypt(&sub, b"payload");
    let ok = || Push::new(server.vapid(&endpoint), body());

    let mut no_ttl = ok();
    no_ttl.ttl = None;
    let err = refused(no_ttl.send(&client, &endpoint).await, 400, "MissingTtl").await;
    assert_eq!(err["errno"], 111);

    let mut no_auth = ok();
    no_auth.authorization = None;
    let resp = no_auth.send(&client, &endpoint).await;
    assert_eq!(resp.headers()["www-authenticate"], "vapid");
    refused(resp, 401, "MissingVapid").await;

    let host_only = server.vapid_with(
        json!({"aud": format!("https://{}", "127.0.0.1"), "exp": now_secs() + 3600, "sub": "mailto:a@b.c"}),
    );
    refused(Push::new(host_only, body()).send(&client, &endpoint).await, 403, "VapidAudience").await;

    let expired = server.vapid_with(json!({"aud": origin(&endpoint), "exp": now_secs() - 60, "sub": "mailto:a@b.c"}));
    refused(Push::new(expired, body()).send(&client, &endpoint).await, 403, "VapidExpired").await;

    let too_far =
        server.vapid_with(json!({"aud": origin(&endpoint), "exp": now_secs() + 25 * 3600, "sub": "mailto:a@b.c"}));
    refused(Push::new(too_far, body()).send(&client, &endpoint).await, 403, "VapidExpiryTooFar").await;

    let other_server = AppServer::new();
    let wrong_key = Push::new(other_server.vapid(&endpoint), body());
    refused(wrong_key.send(&client, &endpoint).await, 403, "VapidKeyMismatch").await;

    // Encrypted for another subscription: a push service would pass it on and
    // the browser would drop it; the sandbox says so.
    let other_sub = subscribe(&sb, json!({})).await;
    let foreign = Push::new(server.vapid(&endpoint), encrypt(&other_sub, b"not yours"));
    refused(foreign.send(&client, &endpoint).await, 400, "Undecryptable").await;

    let mut legacy = ok();
    legacy.encoding = Some("aesgcm");
    refused(legacy.send(&client, &endpoint).await, 400, "UnsupportedEncoding").await;

    let mut urgent = ok();
    urgent.extra = vec![("Urgency", "urgent")];
    refused(urgent.send(&client, &endpoint).await, 400, "InvalidUrgency").await;

    let long_topic = "t".repeat(33);
    let mut topic = ok();
    topic.extra = vec![("Topic", long_topic.as_str())];
    refused(topic.send(&client, &endpoint).await, 400, "InvalidTopic").await;

    let big = Push::new(server.vapid(&endpoint), encrypt(&sub, &[b'x'; 4096 - 86 - 16]));
    refused(big.send(&client, &endpoint).await, 413, "PayloadTooLarge").await;

    let unknown = format!("https://{}/wp/{}", sb.ready.tls, "0".repeat(32));
    refused(ok().send(&client, &unknown).await, 404, "NotFound").await;

    let stats = sb.stats().await;
    assert_eq!(stats.webpush.delivered, 0);
    for reason in [
        "MissingTtl",
        "MissingVapid",
        "VapidAudience",
        "VapidExpired",
        "VapidExpiryTooFar",
        "VapidKeyMismatch",
        "Undecryptable",
        "UnsupportedEncoding",
        "InvalidUrgency",
        "InvalidTopic",
        "PayloadTooLarge",
        "NotFound",
    ] {
        assert_eq!(stats.webpush.rejected.get(reason), Some(&1), "{reason}: {stats:?}");
    }
    assert_eq!(received(&sb, sub["id"].as_str().expect("id")).await["received_total"], 0);
}

#[tokio::test]
async fn expired_subscriptions_answer_410_and_faults_429() {
    let sb = Sandbox::start(&["--retry-after-secs", "9"]);
    let server = AppServer::new();
    let sub = subscribe(&sb, json!({})).await;
    let endpoint = sub["endpoint"].as_str().expect("endpoint").to_owned();
    let id = sub["id"].as_str().expect("id");
    let client = tls_client(&sb);

    sb.post_config(json!({"rate_429": 1.0})).await;
    let resp = Push::new(server.vapid(&endpoint), encrypt(&sub, b"x")).send(&client, &endpoint).await;
    assert_eq!(resp.headers()["retry-after"], "9");
    refused(resp, 429, "TooManyRequests").await;
    sb.post_config(json!({"rate_429": 0.0})).await;
    let resp = Push::new(server.vapid(&endpoint), encrypt(&sub, b"y")).send(&client, &endpoint).await;
    assert_eq!(resp.status(), 201);

    let expire = reqwest::Client::new().delete(sb.http_url(&format!("/webpush/subscriptions/{id}"))).send().await;
    let view: Value = expire.expect("DELETE").json().await.expect("json");
    assert_eq!(view["state"], "expired");
    let resp = Push::new(server.vapid(&endpoint), encrypt(&sub, b"z")).send(&client, &endpoint).await;
    let err = refused(resp, 410, "Gone").await;
    assert_eq!(err["errno"], 103);

    let got = received(&sb, id).await;
    assert_eq!(got["received_total"], 1, "what arrived before stays readable");
    assert_eq!(got["messages"][0]["plaintext"], "y");
    let stats = sb.stats().await;
    assert_eq!(stats.webpush.injected.get("TooManyRequests"), Some(&1));
    assert_eq!(stats.webpush.rejected.get("Gone"), Some(&1));
    assert_eq!(stats.webpush.delivered, 1);
}

#[tokio::test]
async fn control_routes_refuse_bad_input() {
    let sb = Sandbox::start(&[]);
    let http = reqwest::Client::new();
    let post = |body: Value| http.post(sb.http_url("/webpush/subscriptions")).json(&body).send();
    assert_eq!(post(json!({"application_server_key": "not-a-key"})).await.expect("post").status(), 400);
    assert_eq!(post(json!({"listener": "udp"})).await.expect("post").status(), 400);
    assert_eq!(post(json!({"applicationServerKey": "x"})).await.expect("post").status(), 400, "unknown field");
    let resp = http.post(sb.http_url("/webpush/subscriptions")).send().await.expect("post without a body");
    assert_eq!(resp.status(), 201);
    let missing = http.get(sb.http_url("/webpush/subscriptions/nope")).send().await.expect("get");
    assert_eq!(missing.status(), 404);
    let missing = http.delete(sb.http_url("/webpush/subscriptions/nope")).send().await.expect("delete");
    assert_eq!(missing.status(), 404);
}
