//! Each kind of push through the local stack (issue 19): a file uploaded to
//! the bucket, send-batch under `cargo lambda watch`, push-sandbox as APNs,
//! FCM and a Web Push service. What the sandbox received is compared field
//! by field with what the file renders to (the APNs payload, the FCM
//! request, the decrypted Web Push message), and a few fields each kind is
//! about are named. One stack for all of them.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pushbatch_tests::StackOptions;
use pushbatch_tests::reliability::Bench;
use serde_json::{Map, Value, json};
use shared::batch::Header;
use shared::push::vapid::VapidKey;
use shared::render::Renderer;
use shared::report::Summary;

const TOPIC: &str = "com.example.pushbatch";
const WAIT: Duration = Duration::from_secs(300);

fn ios(i: u64) -> String {
    format!("{:064x}", 0x6b1d_0000 + i)
}

fn android(i: u64) -> String {
    format!("kind{i:04}:APA91b{}", "Qx_-".repeat(30))
}

struct Kinds {
    bench: Bench,
    http: reqwest::Client,
}

impl Kinds {
    async fn send(&self, header: &Value, entries: &[Value]) -> anyhow::Result<Summary> {
        let mut body = header.to_string();
        for e in entries {
            body.push('\n');
            body.push_str(&e.to_string());
        }
        let key = format!("batches/{}.jsonl", header["campaign"].as_str().unwrap_or("kind"));
        let etag = self.bench.put(&key, body.into_bytes()).await?;
        let job = self.bench.job_of(&key, &etag).await?;
        let (_, s) = self.bench.finished_within(&job.job_id, WAIT).await?;
        anyhow::ensure!(s.status == "done", "{key}: {s:?}");
        s.counters.check_identities().map_err(|b| anyhow::anyhow!("{b:?}"))?;
        Ok(s)
    }

    async fn received(&self, token: &str) -> anyhow::Result<Value> {
        self.bench.stack.sandbox_payload(token).await
    }

    fn sandbox(&self, path: &str) -> anyhow::Result<String> {
        Ok(format!("{}{path}", self.bench.stack.var("SANDBOX_URL")?))
    }

    /// A browser's subscription at the sandbox's push service, for the
    /// stack's VAPID key.
    async fn subscribe(&self) -> anyhow::Result<Value> {
        let key = std::fs::read(self.bench.stack.var("WEBPUSH_VAPID_KEY_FILE")?)?;
        let public = VapidKey::parse(&key)?.public_key().to_owned();
        let response = self
            .http
            .post(self.sandbox("/webpush/subscriptions")?)
            .json(&json!({"application_server_key": public}))
            .send()
            .await?;
        anyhow::ensure!(response.status() == 201, "subscribe: {}", response.status());
        Ok(response.json().await?)
    }

    async fn messages(&self, subscription: &Value) -> anyhow::Result<Value> {
        let id = subscription["id"].as_str().unwrap_or_default();
        Ok(self.http.get(self.sandbox(&format!("/webpush/subscriptions/{id}"))?).send().await?.json().await?)
    }
}

fn renderer(header: &Value) -> anyhow::Result<Renderer> {
    let header: Header = serde_json::from_value(header.clone())?;
    Ok(Renderer::new(&header, TOPIC)?)
}

/// What the sandbox got for the user's iOS and Android devices equals what
/// their vars render to.
async fn check_rendered(k: &Kinds, header: &Value, i: u64, vars: &Value) -> anyhow::Result<(Value, Value)> {
    let payloads = renderer(header)?.for_user(vars.as_object().unwrap_or(&Map::new()))?;
    let apns = k.received(&ios(i)).await?;
    anyhow::ensure!(apns == serde_json::from_slice::<Value>(&payloads.apns)?, "APNs got {apns}");
    let fcm = k.received(&android(i)).await?;
    let expected: Value = serde_json::from_slice(&payloads.fcm_body(&android(i)))?;
    anyhow::ensure!(fcm == expected, "FCM got {fcm}\nnot {expected}");
    Ok((apns, fcm))
}

fn both(i: u64, vars: Value) -> Value {
    json!({"user_id": format!("k-{i}"), "vars": vars,
           "devices": [{"platform": "ios", "token": ios(i)}, {"platform": "android", "token": android(i)}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_reaches_the_providers_as_rendered() -> anyhow::Result<()> {
    let opts = StackOptions { sandbox_args: vec!["--track-tokens".into()], ..StackOptions::default() };
    let k = Kinds { bench: Bench::bare(opts).await?, http: reqwest::Client::builder().no_proxy().build()? };

    // A rich alert.
    let rich = json!({"campaign": "rich", "notification": {"title": "{{name|Hi}}", "body": "Up to {{pct}}% off",
        "sound": "default", "badge": 3, "image": "https://cdn.example/sale.png", "interruption_level": "time-sensitive",
        "relevance_score": 0.75, "thread_id": "sale", "analytics_label": "sale_2026", "collapse_key": "sale",
        "ttl_seconds": 3600, "data": {"deeplink": "app://sale/{{pct}}"}}});
    let vars = json!({"name": "Ann", "pct": 30});
    k.send(&rich, &[both(1, vars.clone())]).await?;
    let (apns, fcm) = check_rendered(&k, &rich, 1, &vars).await?;
    let aps = &apns["aps"];
    anyhow::ensure!(aps["alert"]["title"] == "Ann" && aps["mutable-content"] == 1, "{apns}");
    anyhow::ensure!(aps["interruption-level"] == "time-sensitive" && aps["thread-id"] == "sale", "{apns}");
    anyhow::ensure!(fcm["message"]["notification"]["image"] == "https://cdn.example/sale.png", "{fcm}");
    anyhow::ensure!(fcm["message"]["fcm_options"]["analytics_label"] == "sale_2026", "{fcm}");

    // A background push: no alert, content-available; FCM data only.
    let background = json!({"campaign": "background", "kind": "background",
        "notification": {"data": {"sync": "inbox", "since": "{{cursor|0}}"}}});
    let vars = json!({"cursor": "c9"});
    k.send(&background, &[both(2, vars.clone())]).await?;
    let (apns, fcm) = check_rendered(&k, &background, 2, &vars).await?;
    anyhow::ensure!(apns["aps"]["content-available"] == 1 && apns["aps"].get("alert").is_none(), "{apns}");
    anyhow::ensure!(fcm["message"].get("notification").is_none() && fcm["message"]["data"]["since"] == "c9", "{fcm}");

    // A data push: FCM data values are strings.
    let data = json!({"campaign": "data", "kind": "data", "notification": {"priority": "high",
        "data": {"score": "{{home}}-{{away}}", "minute": 78, "final": false}}});
    let vars = json!({"home": 2, "away": 1});
    k.send(&data, &[both(3, vars.clone())]).await?;
    let (_, fcm) = check_rendered(&k, &data, 3, &vars).await?;
    let d = &fcm["message"]["data"];
    anyhow::ensure!(d["score"] == "2-1" && d["minute"] == "78" && d["final"] == "false", "{fcm}");

    // A Live Activity update: iOS only; the Android device fails, named.
    let now = shared::clock::now_secs();
    let live = json!({"campaign": "live", "kind": "live_activity", "notification": {
        "title": "Goal!", "body": "{{scorer}} scores",
        "live_activity": {"event": "update", "timestamp": now, "content_state": {"score": "{{home}}-{{away}}"}}}});
    let vars = json!({"home": 2, "away": 1, "scorer": "Lee"});
    let s = k.send(&live, &[both(4, vars.clone())]).await?;
    let payloads = renderer(&live)?.for_user(vars.as_object().unwrap_or(&Map::new()))?;
    let apns = k.received(&ios(4)).await?;
    anyhow::ensure!(apns == serde_json::from_slice::<Value>(&payloads.apns)?, "{apns}");
    anyhow::ensure!(apns["aps"]["event"] == "update" && apns["aps"]["content-state"]["score"] == "2-1", "{apns}");
    let devices: BTreeMap<_, _> =
        s.counters.devices.iter().map(|(p, d)| (p.as_str(), (d.delivered, d.failed))).collect();
    anyhow::ensure!(devices == BTreeMap::from([("ios", (1, 0)), ("android", (0, 1))]), "{devices:?}");

    // Web Push: a subscription at the sandbox, inline; it decrypts the
    // message to exactly what was rendered.
    let subscription = k.subscribe().await?;
    let web = json!({"campaign": "web", "notification": {"title": "Hi {{name|there}}", "body": "News",
        "data": {"url": "/news/{{id}}"}, "ttl_seconds": 600, "collapse_key": "news-1"}});
    let vars = json!({"name": "Bo", "id": 9});
    let entry = json!({"user_id": "k-5", "vars": vars, "devices": [{"platform": "web",
        "subscription": {"endpoint": subscription["endpoint"], "keys": subscription["keys"]}}]});
    let malformed = json!({"user_id": "k-6", "devices": [{"platform": "web",
        "subscription": {"endpoint": "https://push.example/x", "keys": {"p256dh": "short", "auth": "x"}}}]});
    let s = k.send(&web, &[entry, malformed]).await?;
    anyhow::ensure!(s.counters.invalid_by_reason.contains_key("malformed_subscription"), "{:?}", s.counters);
    let got = k.messages(&subscription).await?;
    let message = &got["messages"][0];
    let rendered = renderer(&web)?.for_user(vars.as_object().unwrap_or(&Map::new()))?.web;
    let decrypted = URL_SAFE_NO_PAD.decode(message["plaintext_base64url"].as_str().unwrap_or_default())?;
    anyhow::ensure!(decrypted == rendered.to_vec(), "decrypted {message}");
    anyhow::ensure!(message["ttl"] == 600 && message["topic"] == "news-1", "{message}");

    let stats = k.bench.stack.sandbox_stats().await?;
    for provider in ["apns", "fcm", "webpush"] {
        let rejected = &stats[provider]["rejected"];
        anyhow::ensure!(rejected.as_object().is_none_or(Map::is_empty), "{provider} refused: {rejected}");
    }
    Ok(())
}
