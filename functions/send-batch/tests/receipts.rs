//! Delivery receipts (`DELIVERY_RECEIPTS`): one line per delivered device
//! with what its provider answered, none for a device pruned or failed,
//! and nothing at all when they are off.

mod common;

use std::collections::HashMap;

use common::*;
use serde_json::Value;
use shared::apps::Route;
use shared::objects::ObjectList;

fn lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).expect("each receipt line is JSON")).collect()
}

#[tokio::test]
async fn each_delivery_has_one_receipt_with_its_providers_answer() {
    // Batches of 10: 30 parts, more than the join reads at once.
    let mut d = deps(300, 10, None);
    d.settings.delivery_receipts = true;
    let s = run(&d, "batches/receipts.jsonl", jsonl_file(300)).await;
    s.counters.check_identities().unwrap();
    let totals = s.counters.total_devices();
    assert!(totals.pruned > 0 && totals.failed > 0, "the population has dead and failing tokens: {totals:?}");

    let key = s.receipts_report.as_deref().expect("receipts.jsonl is in the summary");
    let receipts = lines(std::str::from_utf8(&d.objects.get(BUCKET, key).unwrap()).unwrap());
    assert_eq!(receipts.len() as u64, totals.delivered, "a line per delivered device, no more");

    let delivered = d.push.delivered.lock().unwrap();
    let routes = d.push.routes.lock().unwrap();
    let mut seen = HashMap::new();
    for line in &receipts {
        let token = line["token"].as_str().unwrap();
        *seen.entry(token.to_owned()).or_insert(0) += 1;
        assert_eq!(delivered.get(token), Some(&1), "{token}: a receipt only for a delivered device");
        let expected = receipt(&routes[token], token, 1);
        let field = match &routes[token] {
            Route::Apns { .. } => ("apns_id", &expected.apns_id),
            Route::Fcm { .. } => ("fcm_name", &expected.fcm_name),
            Route::WebPush => ("webpush_location", &expected.webpush_location),
        };
        assert_eq!(line[field.0].as_str(), field.1.as_deref(), "{line}");
        let user = line["user_id"].as_str().unwrap();
        let i: usize = user.trim_start_matches("u-").parse().unwrap();
        let users_tokens = [ios_token(i, ""), ios_token(i, "f1a0"), format!("android-token-{i:08}-abcdefghijklmnop")];
        assert!(users_tokens.iter().any(|t| t == token), "{line}: not {user}'s device");
        assert!(line["accepted_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{line}");
    }
    assert_eq!(seen.len(), receipts.len(), "no device twice");
    let batches: Vec<usize> = receipts
        .iter()
        .map(|l| l["user_id"].as_str().unwrap().trim_start_matches("u-").parse::<usize>().unwrap() / 10)
        .collect();
    assert!(batches.windows(2).all(|w| w[0] <= w[1]), "joined in file order: {batches:?}");
    assert!(receipts.iter().all(|l| !l["token"].as_str().unwrap().starts_with("dead")));
    assert!(receipts.iter().all(|l| !l["token"].as_str().unwrap().starts_with("bad0")));
    assert!(receipts.iter().any(|l| l["platform"] == "android") && receipts.iter().any(|l| l["platform"] == "ios"));
}

#[tokio::test]
async fn receipts_are_off_by_default() {
    let d = deps(120, 40, None);
    let s = run(&d, "batches/plain.jsonl", jsonl_file(120)).await;
    assert!(s.counters.total_devices().delivered > 0);
    assert_eq!(s.receipts_report, None);
    let written = d.objects.list(BUCKET, &format!("reports/{}/", s.job_id)).await.unwrap();
    assert!(written.iter().all(|k| !k.contains("receipts")), "{written:?}");
}
