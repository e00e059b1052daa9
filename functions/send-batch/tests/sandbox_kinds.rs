//! Every kind of push through send-batch in-process and the real
//! `shared::push` clients (APNs, FCM, Web Push) against push-sandbox, which
//! refuses what Apple, Google and the Web Push RFCs refuse: a background
//! push at priority 10 or with an alert, a Live Activity off its topic or
//! without its fields, a reserved FCM data key, a Web Push message that
//! does not decrypt or whose VAPID `aud` lacks the port. Each job must be
//! delivered in full with nothing refused; Web Push messages are read back
//! decrypted and compared with what was rendered.

mod common;

use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Parser as _;
use common::*;
use push_sandbox::{Args, Sandbox, StatsSnapshot};
use send_batch::settings::{ApnsSettings, FcmSettings, WebPushSettings};
use serde_json::{Map, Value, json};
use shared::apps::Apps;
use shared::batch::{Device, Header, Platform, WebKeys};
use shared::config::SecretSource;
use shared::devices::{MemoryDevices, UserDevices};
use shared::push::Providers;
use shared::render::Renderer;
use shared::report::Summary;

const TOPIC: &str = "com.example.app";
/// web-push-native's documented example key: any P-256 scalar serves a test.
const VAPID_KEY: &str = "RS0WdYWWo1HajXg3NZR1olzCf31i-ZBGDkFyCs7j1jw";

struct Stand {
    sandbox: Sandbox,
    d: Memory<Providers>,
    _dir: tempfile::TempDir,
}

impl Stand {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("sandbox");
        let args = Args::try_parse_from([
            "push-sandbox",
            "--state-dir",
            state.to_str().unwrap(),
            "--tls-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
            "--track-tokens",
        ])
        .unwrap();
        let sandbox = Sandbox::start(args).await.unwrap();
        let ready = sandbox.ready.clone();
        let vapid = dir.path().join("vapid.key");
        std::fs::write(&vapid, VAPID_KEY).unwrap();
        let endpoint = format!("https://{}", ready.tls);
        let mut settings = common::settings(50, None);
        settings.default_topic = TOPIC.into();
        settings.extra_ca = Some(ready.ca.clone());
        settings.apns = Some(ApnsSettings {
            endpoint: endpoint.clone(),
            development_endpoint: endpoint.clone(),
            key: SecretSource::File(ready.apns_key.clone()),
            key_id: ready.apns_key_id.clone(),
            team_id: ready.apns_team_id.clone(),
            connections: 1,
            max_in_flight: 32,
        });
        settings.fcm = Some(FcmSettings {
            endpoint,
            service_account: SecretSource::File(ready.fcm_service_account.clone()),
            project_id: None,
            connections: 1,
            max_in_flight: 32,
            rate_per_minute: None,
        });
        settings.webpush = Some(WebPushSettings {
            vapid_key: SecretSource::File(vapid),
            subject: "mailto:ops@example.com".into(),
            max_in_flight: 32,
        });
        settings.apps = Apps::single(Some(TOPIC), true).unwrap();
        let aws = shared::aws::SdkConfig::builder().build();
        let push = send_batch::providers::build(&aws, &settings).await.unwrap();
        let d = Memory {
            objects: Default::default(),
            devices: MemoryDevices::default(),
            jobs: Default::default(),
            push,
            invoker: Default::default(),
            schedules: Default::default(),
            rates: Default::default(),
            caps: Default::default(),
            settings,
        };
        Self { sandbox, d, _dir: dir }
    }

    async fn send(&self, header: &Value, entries: &[Value]) -> Summary {
        let mut body = header.to_string();
        for e in entries {
            body.push('\n');
            body.push_str(&e.to_string());
        }
        let s = run(&self.d, &format!("batches/{}.jsonl", header["campaign"].as_str().unwrap()), body).await;
        assert_eq!(s.status, "done", "{:?}", s.reason);
        s.counters.check_identities().unwrap();
        s
    }

    fn stats(&self) -> StatsSnapshot {
        self.sandbox.stats()
    }

    /// A browser's subscription, restricted to our VAPID key.
    async fn subscribe(&self) -> Value {
        let key = self.d.push.webpush.as_ref().unwrap().public_key();
        let resp = reqwest::Client::new()
            .post(format!("http://{}/webpush/subscriptions", self.sandbox.ready.http))
            .json(&json!({"application_server_key": key}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        resp.json().await.unwrap()
    }

    async fn control(&self, method: reqwest::Method, id: &str) -> Value {
        let url = format!("http://{}/webpush/subscriptions/{id}", self.sandbox.ready.http);
        reqwest::Client::new().request(method, url).send().await.unwrap().json().await.unwrap()
    }
}

fn ios(i: usize) -> String {
    format!("{:064x}", 0xa11c_e000 + i)
}

fn android(i: usize) -> String {
    format!("fcm{i:04}:APA91b{}", "Qx_-".repeat(30))
}

fn fan(id: &str, vars: Value, devices: Value) -> Value {
    json!({"user_id": id, "vars": vars, "devices": devices})
}

fn assert_nothing_refused(stats: &StatsSnapshot) {
    assert!(stats.apns.rejected.is_empty(), "APNs refused: {:?}", stats.apns.rejected);
    assert!(stats.fcm.rejected.is_empty(), "FCM refused: {:?}", stats.fcm.rejected);
    assert!(stats.webpush.rejected.is_empty(), "Web Push refused: {:?}", stats.webpush.rejected);
}

#[tokio::test]
async fn a_rich_alert_is_accepted_by_apns_and_fcm_and_dead_tokens_are_pruned() {
    let stand = Stand::start().await;
    let header = json!({"campaign": "rich", "notification": {"title": "{{name|Hi}}", "body": "Up to {{pct}}% off",
        "sound": "default", "badge": 3, "image": "https://cdn.example/sale.png", "interruption_level": "time-sensitive",
        "relevance_score": 0.75, "thread_id": "sale", "analytics_label": "sale_2026", "collapse_key": "sale",
        "ttl_seconds": 3600, "data": {"deeplink": "app://sale/{{pct}}"}}});
    let s = stand
        .send(
            &header,
            &[
                fan(
                    "a",
                    json!({"name": "Ann", "pct": 30}),
                    json!([{"platform": "ios", "token": ios(1)},
                    {"platform": "android", "token": android(1)}]),
                ),
                fan(
                    "b",
                    json!({"pct": 50}),
                    json!([{"platform": "ios", "token": format!("dead{}", &ios(2)[4..])},
                    {"platform": "android", "token": format!("dead{}", android(2))}]),
                ),
            ],
        )
        .await;
    let (ios_c, android_c) = (s.counters.devices[&Platform::Ios], s.counters.devices[&Platform::Android]);
    assert_eq!((ios_c.delivered, ios_c.pruned, android_c.delivered, android_c.pruned), (1, 1, 1, 1));
    let stats = stand.stats();
    assert_eq!((stats.apns.delivered, stats.fcm.delivered), (1, 1));
    assert_eq!(stats.apns.rejected.get("Unregistered"), Some(&1), "{:?}", stats.apns.rejected);
    assert_eq!(stats.fcm.rejected.get("UNREGISTERED"), Some(&1), "{:?}", stats.fcm.rejected);
    assert_eq!(stats.apns.rejected.len() + stats.fcm.rejected.len(), 2, "nothing else refused");
    let deliveries = stats.deliveries.unwrap();
    assert_eq!((deliveries[&ios(1)], deliveries[&android(1)]), (1, 1), "each live token once");
}

#[tokio::test]
async fn background_and_data_pushes_pass_the_providers_rules() {
    let stand = Stand::start().await;
    let devices =
        |i: usize| json!([{"platform": "ios", "token": ios(i)}, {"platform": "android", "token": android(i)}]);
    let background = json!({"campaign": "bg", "kind": "background",
        "notification": {"data": {"sync": "inbox", "since": "{{cursor|0}}"}}});
    stand.send(&background, &[fan("a", json!({"cursor": "c9"}), devices(1)), fan("b", json!({}), devices(2))]).await;
    // Reserved-looking but allowed keys, non-string values, high priority
    // (FCM only: APNs background pushes stay at 5).
    let data = json!({"campaign": "data", "kind": "data", "notification": {"priority": "high", "collapse_key": "m7",
        "data": {"score": "{{home}}-{{away}}", "minute": 78, "notification": "n", "final": false}}});
    let s = stand.send(&data, &[fan("a", json!({"home": 2, "away": 1}), devices(3))]).await;
    assert_eq!(s.counters.total_devices().delivered, 2);
    let stats = stand.stats();
    assert_nothing_refused(&stats);
    assert_eq!((stats.apns.delivered, stats.fcm.delivered), (3, 3));
}

#[tokio::test]
async fn a_live_activity_goes_to_its_topic_with_its_fields() {
    let stand = Stand::start().await;
    let now = shared::clock::now_secs();
    let update = json!({"campaign": "match", "kind": "live_activity", "notification": {
        "title": "Goal!", "body": "{{scorer}} scores", "sound": "chime.aiff", "relevance_score": 0.5,
        "live_activity": {"event": "update", "timestamp": now, "stale_date": now + 900,
            "content_state": {"score": "{{home}}-{{away}}", "minute": 78}}}});
    let entries = [
        fan("a", json!({"home": 2, "away": 1, "scorer": "Lee"}), json!([{"platform": "ios", "token": ios(1)}])),
        fan(
            "b",
            json!({"home": 2, "away": 1}),
            json!([{"platform": "ios", "token": ios(2)},
            {"platform": "android", "token": android(2)}]),
        ),
    ];
    let s = stand.send(&update, &entries).await;
    assert_eq!(s.counters.devices[&Platform::Ios].delivered, 2);
    assert_eq!(s.counters.devices[&Platform::Android].failed, 1, "iOS only, named in failed.jsonl");
    let start = json!({"campaign": "kickoff", "kind": "live_activity", "notification": {"title": "Kick-off",
        "live_activity": {"event": "start", "timestamp": now, "content_state": {"score": "0-0"},
            "attributes_type": "MatchAttributes", "attributes": {"home": "{{home_team}}", "away": "B"}}}});
    stand.send(&start, &[fan("c", json!({"home_team": "A"}), json!([{"platform": "ios", "token": ios(3)}]))]).await;
    let end = json!({"campaign": "final", "kind": "live_activity", "notification": {
        "live_activity": {"event": "end", "timestamp": now, "dismissal_date": now + 3600, "content_state": {"score": "2-1"}}}});
    stand.send(&end, &[fan("a", json!({}), json!([{"platform": "ios", "token": ios(1)}]))]).await;
    let stats = stand.stats();
    assert_nothing_refused(&stats);
    assert_eq!((stats.apns.delivered, stats.fcm.requests), (4, 0));
}

#[tokio::test]
async fn web_push_messages_decrypt_to_what_was_rendered() {
    let stand = Stand::start().await;
    let subs = [stand.subscribe().await, stand.subscribe().await, stand.subscribe().await];
    let keys = |sub: &Value| WebKeys {
        p256dh: sub["keys"]["p256dh"].as_str().unwrap().into(),
        auth: sub["keys"]["auth"].as_str().unwrap().into(),
    };
    // Two stored as the devices API stores them; the third inline.
    let stored = |sub: &Value| Device::web(sub["endpoint"].as_str().unwrap(), keys(sub));
    let user = |devices| UserDevices {
        devices,
        push_enabled: true,
        muted_categories: HashSet::new(),
        ..UserDevices::default()
    };
    *stand.d.devices.users.lock().unwrap() =
        [("w-0".to_owned(), user(vec![stored(&subs[0])])), ("w-1".to_owned(), user(vec![stored(&subs[1])]))].into();
    // The browser behind subs[1] unsubscribed: its endpoint answers 410.
    let expired = stand.control(reqwest::Method::DELETE, subs[1]["id"].as_str().unwrap()).await;
    assert_eq!(expired["state"], "expired");

    let header = json!({"campaign": "web", "notification": {"title": "Hi {{name|there}}", "body": "News ✓ \"quoted\"",
        "image": "https://cdn.example/n.png", "data": {"url": "/news/{{id}}"}, "ttl_seconds": 600,
        "priority": "high", "collapse_key": "news-1"}});
    let inline =
        json!([{"platform": "web", "subscription": {"endpoint": subs[2]["endpoint"], "keys": subs[2]["keys"]}}]);
    let vars = [json!({"id": 7}), json!({}), json!({"name": "Bo", "id": 9})];
    let entries = [
        json!({"user_id": "w-0", "vars": vars[0]}),
        json!({"user_id": "w-1", "vars": vars[1]}),
        fan("w-2", vars[2].clone(), inline),
    ];
    let s = stand.send(&header, &entries).await;
    let web = s.counters.devices[&Platform::Web];
    assert_eq!((web.delivered, web.pruned, web.failed), (2, 1, 0));
    assert!(stand.d.devices.users.lock().unwrap()["w-1"].devices.is_empty(), "pruned by its endpoint");

    let header: Header = serde_json::from_value(header).unwrap();
    let renderer = Renderer::new(&header, TOPIC).unwrap();
    for (sub, vars) in [(&subs[0], &vars[0]), (&subs[2], &vars[2])] {
        let got = stand.control(reqwest::Method::GET, sub["id"].as_str().unwrap()).await;
        assert_eq!(got["received_total"], 1, "{got}");
        let message = &got["messages"][0];
        let rendered = renderer.for_user(vars.as_object().unwrap_or(&Map::new())).unwrap().web;
        let decrypted = URL_SAFE_NO_PAD.decode(message["plaintext_base64url"].as_str().unwrap()).unwrap();
        assert_eq!(decrypted, rendered.to_vec(), "the sandbox decrypted exactly what was rendered");
        assert_eq!(
            (&message["ttl"], &message["urgency"], &message["topic"]),
            (&json!(600), &json!("high"), &json!("news-1"))
        );
        assert_eq!(message["vapid_sub"], "mailto:ops@example.com");
        assert_eq!(message["vapid_key"], stand.d.push.webpush.as_ref().unwrap().public_key());
    }
    let bo: Value = serde_json::from_str(
        stand.control(reqwest::Method::GET, subs[2]["id"].as_str().unwrap()).await["messages"][0]["plaintext"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        bo,
        json!({"title": "Hi Bo", "body": "News ✓ \"quoted\"", "image": "https://cdn.example/n.png", "data": {"url": "/news/9"}})
    );
    let stats = stand.stats();
    assert_eq!((stats.webpush.delivered, stats.webpush.rejected.get("Gone")), (2, Some(&1)));
    assert_eq!(stats.webpush.rejected.len(), 1, "{:?}", stats.webpush.rejected);
}
