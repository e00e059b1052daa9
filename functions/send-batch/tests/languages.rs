//! Languages: each user gets `notification.localized`'s texts for their
//! locale (from the devices table), falling back `pt-BR` → `pt` → the file's
//! own; every language is checked before anything is sent.

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::{Value, json};
use shared::batch::{Device, Platform};
use shared::devices::{MemoryDevices, UserDevices};

fn user(i: usize, locale: Option<&str>) -> (String, UserDevices) {
    let devices =
        vec![Device::new(Platform::Ios, ios_token(i, "")), Device::new(Platform::Android, format!("fcm-{i}"))];
    (
        format!("u-{i}"),
        UserDevices {
            devices,
            push_enabled: true,
            muted_categories: HashSet::new(),
            locale: locale.map(str::to_owned),
            ..UserDevices::default()
        },
    )
}

fn file(notification: Value, users: usize) -> String {
    let mut body = json!({"campaign": "lang", "notification": notification}).to_string();
    for i in 0..users {
        body.push_str(&format!("\n\"u-{i}\""));
    }
    body
}

/// The APNs alert title and the FCM notification title a token's push had.
fn titles(d: &TestDeps, i: usize) -> (String, String) {
    let sent = d.push.sent.lock().unwrap();
    let apns = &sent[&ios_token(i, "")].body;
    let fcm = &sent[&format!("fcm-{i}")].body;
    (
        apns["aps"]["alert"]["title"].as_str().unwrap().to_owned(),
        fcm["message"]["notification"]["title"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn each_user_gets_their_language_or_the_nearest_one() {
    let locales = [Some("pt-BR"), Some("pt-PT"), Some("fr-CA"), Some("de"), None, Some("PT-br")];
    let mut d = deps(0, 50, None);
    d.devices = MemoryDevices::with(locales.iter().enumerate().map(|(i, l)| user(i, *l)));
    let notification = json!({
        "title": "Hello", "body": "Hi {{name|there}}", "data": {"link": "app://en"},
        "localized": {
            "pt": {"title": "Olá", "body": "Oi {{name|você}}", "data": {"link": "app://pt"}},
            "pt-BR": {"title": "Oi"},
            "fr": {"title": "Bonjour", "body": "Salut"}
        }
    });
    let s = run(&d, "batches/lang.jsonl", file(notification, locales.len())).await;
    assert_eq!(s.status, "done", "{:?}", s.reason);
    let expected = ["Oi", "Olá", "Bonjour", "Hello", "Hello", "Oi"];
    for (i, title) in expected.iter().enumerate() {
        assert_eq!(titles(&d, i), (title.to_string(), title.to_string()), "u-{i} ({:?})", locales[i]);
    }
    // Text by text: pt-BR has only a title, its body and data are `pt`'s.
    let sent = d.push.sent.lock().unwrap();
    let pt_pt = &sent[&ios_token(1, "")].body;
    assert_eq!((pt_pt["aps"]["alert"]["body"].as_str(), pt_pt["link"].as_str()), (Some("Oi você"), Some("app://pt")));
    let pt_br = &sent[&ios_token(0, "")].body;
    assert_eq!((pt_br["aps"]["alert"]["body"].as_str(), pt_br["link"].as_str()), (Some("Oi você"), Some("app://pt")));
    let fr = &sent[&ios_token(2, "")].body;
    assert_eq!((fr["aps"]["alert"]["body"].as_str(), fr["link"].as_str()), (Some("Salut"), Some("app://en")));
    s.counters.check_identities().unwrap();
}

#[tokio::test]
async fn a_bad_language_fails_the_job_before_anything_is_sent_naming_it() {
    for (localized, needle) in [
        (json!({"pt_BR": {"title": "Oi"}}), "`notification.localized.pt_BR`: \"pt_BR\" is not a BCP 47 language tag"),
        (json!({"pt-br": {"title": "Oi"}, "pt-BR": {"title": "Oi"}}), "the same language (pt-BR)"),
        (json!({"fr": {"tilte": "Bonjour"}}), "unknown field `tilte`"),
        (json!({"fr": {"body": "x".repeat(5000)}}), "in `notification.localized.fr`: the notification renders to"),
        (
            json!({"fr": {"title": " ", "body": ""}}),
            "in `notification.localized.fr`: `notification` needs a `title` or a `body`",
        ),
    ] {
        let mut d = deps(0, 50, None);
        d.devices = MemoryDevices::with((0..5).map(|i| user(i, Some("fr"))));
        let notification = json!({"title": "Hello", "localized": localized});
        let s = run(&d, "batches/bad-lang.jsonl", file(notification, 5)).await;
        assert_eq!(s.status, "failed", "{localized}");
        let reason = s.reason.unwrap_or_default();
        assert!(reason.contains(needle), "{localized}\n  said: {reason}\n  wanted: {needle}");
        assert!(d.push.sent.lock().unwrap().is_empty(), "nothing sent");
    }
}
