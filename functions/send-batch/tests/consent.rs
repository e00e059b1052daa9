//! Every user's settings apply whatever the source of their devices: looked
//! up, inline, or re-driven from a `failed.jsonl`.

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::{Value, json};
use shared::batch::{Device, Platform};
use shared::devices::UserDevices;

fn inline_user(i: usize, prefix: &str) -> Value {
    json!({"user_id": format!("u-{i}"), "devices": [{"platform": "ios", "token": ios_token(i, prefix)}]})
}

fn file_of(entries: &[Value]) -> String {
    let mut out = header().to_string();
    for e in entries {
        out.push('\n');
        out.push_str(&e.to_string());
    }
    out
}

async fn send(d: &TestDeps, key: &str, body: String) -> shared::report::Summary {
    let etag = d.objects.insert(BUCKET, key, body);
    invoke(d, s3_event(key, &etag, key)).await;
    drain(d).await;
    let jobs = d.jobs.records.lock().unwrap();
    let job = jobs.values().find(|r| r.key == key).expect("the job").job_id.clone();
    serde_json::from_slice(&d.objects.get(BUCKET, &format!("reports/{job}/summary.json")).unwrap()).unwrap()
}

#[tokio::test]
async fn an_inline_device_file_respects_muted_categories_and_push_off() {
    let d = deps(0, 50, None);
    {
        let mut users = d.devices.users.lock().unwrap();
        // u-0 muted the file's category, u-1 turned pushes off, u-2 muted
        // another category, u-3 has no item: the file decides for u-2 and u-3.
        for (i, enabled, muted) in [(0, true, "news"), (1, false, ""), (2, true, "promo")] {
            let stored = Device::new(Platform::Ios, ios_token(100 + i, ""));
            users.insert(
                format!("u-{i}"),
                UserDevices {
                    devices: vec![stored],
                    push_enabled: enabled,
                    muted_categories: HashSet::from([muted.to_owned()]),
                    ..UserDevices::default()
                },
            );
        }
    }
    let entries: Vec<Value> = (0..4).map(|i| inline_user(i, "")).collect();
    let s = send(&d, "batches/inline.jsonl", file_of(&entries)).await;

    let c = &s.counters;
    c.check_identities().unwrap();
    assert_eq!(c.opted_out_by_reason.get("category_muted"), Some(&1));
    assert_eq!(c.opted_out_by_reason.get("push_disabled"), Some(&1));
    assert_eq!(c.targeted_users, 2);
    let delivered = d.push.delivered.lock().unwrap();
    let mut tokens: Vec<&String> = delivered.keys().collect();
    tokens.sort();
    assert_eq!(tokens, [&ios_token(2, ""), &ios_token(3, "")], "inline devices, never the stored ones");
}

#[tokio::test]
async fn a_redrive_after_the_user_opts_out_sends_them_nothing() {
    let d = deps(0, 50, None);
    {
        let mut users = d.devices.users.lock().unwrap();
        for i in 0..3 {
            let device = Device::new(Platform::Ios, ios_token(i, "bad0"));
            users.insert(
                format!("u-{i}"),
                UserDevices {
                    devices: vec![device],
                    push_enabled: true,
                    muted_categories: HashSet::new(),
                    ..UserDevices::default()
                },
            );
        }
    }
    let first = send(&d, "batches/first.jsonl", file_of(&[json!("u-0"), json!("u-1"), json!("u-2")])).await;
    assert_eq!(first.counters.total_devices().failed, 3);
    let failed = d.objects.get(BUCKET, first.failed_report.as_deref().expect("a failed.jsonl")).unwrap();

    // Between the send and its re-drive, u-0 turns pushes off and u-1 mutes
    // the category; the devices start to work.
    {
        let mut users = d.devices.users.lock().unwrap();
        users.get_mut("u-0").unwrap().push_enabled = false;
        users.get_mut("u-1").unwrap().muted_categories.insert("news".into());
    }
    let redrive = String::from_utf8(failed.to_vec()).unwrap().replace("bad0", "0000");
    let again = send(&d, "batches/redrive.jsonl", redrive).await;

    let c = &again.counters;
    c.check_identities().unwrap();
    assert_eq!((c.entries, c.opted_out, c.targeted_users), (3, 2, 1));
    let delivered = d.push.delivered.lock().unwrap();
    assert_eq!(delivered.keys().collect::<Vec<_>>(), [&ios_token(2, "0000")], "only u-2 was pushed");
}
