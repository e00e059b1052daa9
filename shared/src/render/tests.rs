use serde_json::{Value, json};

use super::*;

fn header(v: Value) -> Header {
    let h: Header = serde_json::from_value(v).unwrap();
    h.validate().unwrap();
    h
}

fn vars(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

struct Sent {
    apns: Value,
    fcm: Value,
    web: Value,
}

/// What each provider is sent (the FCM message without its token); Null
/// for a platform the kind does not go to.
fn sent(r: &Renderer, v: Value) -> Sent {
    let p = r.for_user(&vars(v)).unwrap();
    let (mut fcm, mut web) = (Value::Null, Value::Null);
    if r.sends_to(Platform::Android) {
        fcm = serde_json::from_slice::<Value>(&p.fcm_body("tok")).unwrap()["message"].take();
        assert_eq!(fcm.as_object_mut().unwrap().remove("token").unwrap(), "tok");
        web = serde_json::from_slice(&p.web).unwrap();
    }
    Sent { apns: serde_json::from_slice(&p.apns).unwrap(), fcm, web }
}

#[test]
fn payloads_follow_each_provider_and_overrides() {
    let h = header(json!({
        "campaign": "c",
        "notification": {"title": "T", "body": "Hello {{name}}", "data": {"deeplink": "app://x", "n": 1},
            "sound": "default", "badge": 2, "ttl_seconds": 60, "priority": "normal", "collapse_key": "k",
            "apns": {"topic": "com.t", "aps": {"category": "MSG"}},
            "fcm": {"android": {"notification": {"channel_id": "news"}}},
            "web": {"icon": "/i.png"}}
    }));
    let r = Renderer::new(&h, "com.default").unwrap();
    assert_eq!(r.apns_headers().topic, "com.t");
    assert_eq!((r.apns_headers().priority, r.apns_headers().push_type.as_str()), (5, "alert"));
    let s = sent(&r, json!({"name": "Zoë"}));
    assert_eq!(s.apns["aps"]["alert"]["body"], "Hello Zoë");
    assert_eq!(s.apns["aps"]["category"], "MSG");
    assert_eq!(s.apns["aps"]["badge"], 2);
    assert_eq!(s.apns["deeplink"], "app://x");
    assert!(s.apns.get("topic").is_none());
    let p = r.for_user(&vars(json!({"name": "Zoë"}))).unwrap();
    let fcm: Value = serde_json::from_slice(&p.fcm_body("tok\"en")).unwrap();
    assert_eq!(fcm["message"]["token"], "tok\"en");
    let m = &s.fcm;
    assert_eq!(m["notification"]["body"], "Hello Zoë");
    assert_eq!(m["data"]["n"], "1");
    assert_eq!(m["android"]["priority"], "NORMAL");
    assert_eq!(m["android"]["ttl"], "60s");
    assert_eq!(m["android"]["notification"]["channel_id"], "news");
    assert_eq!(m["android"]["notification"]["sound"], "default");
    assert_eq!(
        s.web,
        json!({"title": "T", "body": "Hello Zoë", "badge": 2, "icon": "/i.png",
        "data": {"deeplink": "app://x", "n": 1}})
    );
    let web = &r.headers().web;
    assert_eq!((web.ttl.to_str().unwrap(), web.urgency.to_str().unwrap()), ("60", "normal"));
    assert_eq!(web.topic.as_ref().unwrap(), "k");
}

#[test]
fn vars_fill_data_and_content_state_with_defaults() {
    let h = header(json!({"campaign": "c", "notification": {"title": "Hi {{name|there}}",
        "data": {"link": "app://u/{{id}}", "n": 2, "nested": {"who": "{{name}}"}}}}));
    let r = Renderer::new(&h, "t").unwrap();
    let s = sent(&r, json!({"id": "7\"x"}));
    assert_eq!(s.apns["aps"]["alert"]["title"], "Hi there");
    assert_eq!(s.apns["link"], "app://u/7\"x");
    assert_eq!(s.apns["nested"]["who"], "");
    assert_eq!(s.apns["n"], 2, "APNs data keeps its JSON types");
    assert_eq!(s.fcm["data"]["link"], "app://u/7\"x");
    assert_eq!(s.fcm["data"]["nested"], "{\"who\":\"{{name}}\"}", "FCM: non-string data is sent as its encoding");
    assert_eq!(s.web["data"]["link"], "app://u/7\"x");

    let la = header(json!({"campaign": "c", "kind": "live_activity", "notification": {
        "live_activity": {"event": "update", "timestamp": 1_700_000_000,
            "content_state": {"score": "{{home}}-{{away|0}}", "minute": 78}}}}));
    let s = sent(&Renderer::new(&la, "t").unwrap(), json!({"home": 2}));
    assert_eq!(s.apns["aps"]["content-state"], json!({"score": "2-0", "minute": 78}));
}

#[test]
fn without_placeholders_every_user_shares_the_bytes() {
    let h = header(json!({"campaign": "c", "notification": {"title": "T", "body": "B", "data": {"a": "{not a var}"}}}));
    let r = Renderer::new(&h, "t").unwrap();
    let (a, b) = (r.for_user(&vars(json!({"x": 1}))).unwrap(), r.for_user(&Map::new()).unwrap());
    assert_eq!(a.apns.as_ptr(), b.apns.as_ptr(), "one render, shared");
    assert_eq!(a.web.as_ptr(), b.web.as_ptr());
    let with = header(json!({"campaign": "c", "notification": {"title": "T", "data": {"a": "{{x}}"}}}));
    let r = Renderer::new(&with, "t").unwrap();
    assert_ne!(r.for_user(&Map::new()).unwrap().apns.as_ptr(), r.for_user(&Map::new()).unwrap().apns.as_ptr());
}

#[test]
fn background_and_data_pushes() {
    let bg = header(json!({"campaign": "c", "kind": "background", "notification": {"data": {"sync": "inbox"}}}));
    let r = Renderer::new(&bg, "com.app").unwrap();
    let a = r.apns_headers();
    assert_eq!((a.push_type.as_str(), a.priority), ("background", 5));
    let s = sent(&r, json!({}));
    assert_eq!(s.apns, json!({"aps": {"content-available": 1}, "sync": "inbox"}));
    assert_eq!(s.fcm, json!({"data": {"sync": "inbox"}, "android": {"priority": "NORMAL"}}));
    assert_eq!(s.web, json!({"data": {"sync": "inbox"}}));

    let data = header(json!({"campaign": "c", "kind": "data", "notification": {"data": {"k": "v"}, "priority": "high",
        "analytics_label": "sync_1"}}));
    let r = Renderer::new(&data, "com.app").unwrap();
    assert_eq!((r.apns_headers().push_type.as_str(), r.apns_headers().priority), ("background", 5));
    let s = sent(&r, json!({}));
    assert_eq!(s.apns["aps"], json!({"content-available": 1}));
    assert_eq!(s.fcm["android"]["priority"], "HIGH", "FCM honours a data push's priority");
    assert!(s.fcm.get("notification").is_none());
    assert_eq!(s.fcm["fcm_options"]["analytics_label"], "sync_1");
    assert_eq!(r.headers().web.urgency, "high");
    let normal = header(json!({"campaign": "c", "kind": "data", "notification": {"data": {"k": "v"}}}));
    let s = sent(&Renderer::new(&normal, "t").unwrap(), json!({}));
    assert_eq!(s.fcm["android"]["priority"], "NORMAL", "data messages default to normal");
}

#[test]
fn live_activities_go_to_the_liveactivity_topic() {
    let h = header(json!({"campaign": "c", "kind": "live_activity", "notification": {
        "title": "Goal!", "body": "{{team}} scores", "sound": "chime.aiff", "relevance_score": 0.5,
        "live_activity": {"event": "end", "timestamp": 1_700_000_000, "content_state": {"s": "1-0"},
            "dismissal_date": 1_700_003_600, "stale_date": 1_700_000_900}}}));
    let r = Renderer::new(&h, "com.app").unwrap();
    let a = r.apns_headers();
    assert_eq!((a.push_type.as_str(), a.priority), ("liveactivity", 10));
    let topic = a.topic_for(&http::HeaderValue::from_static("com.app")).unwrap();
    assert_eq!(topic, "com.app.push-type.liveactivity");
    assert_eq!(a.topic_for(&topic).unwrap(), topic, "never suffixed twice");
    let s = sent(&r, json!({"team": "Ajax"}));
    assert_eq!(
        s.apns["aps"],
        json!({"event": "end", "timestamp": 1_700_000_000, "content-state": {"s": "1-0"},
            "dismissal-date": 1_700_003_600, "stale-date": 1_700_000_900, "relevance-score": 0.5,
            "alert": {"title": "Goal!", "body": "Ajax scores", "sound": "chime.aiff"}})
    );
    assert!(r.sends_to(Platform::Ios) && !r.sends_to(Platform::Android) && !r.sends_to(Platform::Web));
    let alert = Renderer::new(&header(json!({"campaign": "c", "notification": {"body": "b"}})), "com.app").unwrap();
    assert_eq!(alert.apns_headers().topic_for(&http::HeaderValue::from_static("com.app")).unwrap(), "com.app");
}

#[test]
fn rich_alerts() {
    let h = header(json!({"campaign": "c", "notification": {"title": "Sale", "image": "https://cdn.example/i.png",
        "interruption_level": "time-sensitive", "relevance_score": 0.8, "thread_id": "sales",
        "analytics_label": "bf-2026", "data": {"deeplink": "app://sale"}}}));
    let s = sent(&Renderer::new(&h, "t").unwrap(), json!({}));
    let aps = &s.apns["aps"];
    assert_eq!(aps["mutable-content"], 1, "the image needs the service extension");
    assert_eq!(
        (&aps["interruption-level"], &aps["relevance-score"], &aps["thread-id"]),
        (&json!("time-sensitive"), &json!(0.8), &json!("sales"))
    );
    assert_eq!(s.apns["image"], "https://cdn.example/i.png");
    assert_eq!(s.fcm["notification"]["image"], "https://cdn.example/i.png");
    assert_eq!(s.fcm["fcm_options"], json!({"analytics_label": "bf-2026"}));
    assert_eq!(s.web["image"], "https://cdn.example/i.png");
    let plain = header(json!({"campaign": "c", "notification": {"body": "b", "mutable_content": true}}));
    let s = sent(&Renderer::new(&plain, "t").unwrap(), json!({}));
    assert_eq!(s.apns["aps"]["mutable-content"], 1);
    assert!(s.apns.get("image").is_none());
}

#[test]
fn too_big_fails_before_sending() {
    let too_large = |v: Value| match Renderer::new(&header(v), "t") {
        Err(RenderError::TooLarge { platform, .. }) => platform,
        other => panic!("{:?}", other.map(|_| ())),
    };
    assert_eq!(too_large(json!({"campaign": "c", "notification": {"body": "x".repeat(4100)}})), Platform::Ios);
    // Fits APNs but not FCM once the token allowance is counted.
    assert_eq!(too_large(json!({"campaign": "c", "notification": {"body": "x".repeat(3900)}})), Platform::Android);
    // Fits both, but not Web Push's 3993 bytes of plaintext.
    let web = json!({"campaign": "c", "notification": {"body": "x", "web": {"extra": "y".repeat(3990)}}});
    assert_eq!(too_large(web), Platform::Web);
    let data = json!({"campaign": "c", "kind": "data", "notification": {"data": {"k": "x".repeat(4090)}}});
    assert_eq!(too_large(data), Platform::Ios);
    let la = json!({"campaign": "c", "kind": "live_activity", "notification": {"live_activity": {"event": "update",
        "timestamp": 1, "content_state": {"k": "x".repeat(4090)}}}});
    assert_eq!(too_large(la), Platform::Ios);
    // Vars can push one user over the limit without failing the job.
    let h = header(json!({"campaign": "c", "notification": {"body": "{{bio}}"}}));
    let r = Renderer::new(&h, "t").unwrap();
    assert!(r.for_user(&vars(json!({"bio": "y".repeat(5000)}))).is_err());
    // A default counts: every user without the var gets it.
    let h = header(json!({"campaign": "c", "notification": {"body": format!("{{{{bio|{}}}}}", "z".repeat(4100))}}));
    assert!(Renderer::new(&h, "t").is_err());
}
