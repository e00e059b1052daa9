//! Preferences through the gateway: what a PUT stores is exactly the item
//! format send-batch reads, GET returns it, a PUT replaces it, and neither
//! touches devices.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;

use super::{Api, USER_A, USER_B};

pub async fn preferences_through_the_gateway(api: &Api, token_a: &str, token_b: &str) -> anyhow::Result<()> {
    let auth = |t: &str| vec![("authorization".to_owned(), format!("Bearer {t}"))];
    let path = format!("/users/{USER_A}/preferences");
    let devices_before = api.item(USER_A).await?.expect("A's item")["devices"].clone();
    let document = json!({
        "push_enabled": false,
        "muted_categories": ["promo", "news"],
        "time_zone": "America/Sao_Paulo",
        "locale": "pt-BR",
        "quiet_hours": {"start": "22:00", "end": "07:00"}
    });
    let put = api.call(reqwest::Method::PUT, &path, &auth(token_a), Some(&document)).await?;
    assert_eq!(put.status, 200, "{}", put.body);
    let stored = json!({
        "push_enabled": false,
        "muted_categories": ["news", "promo"],
        "time_zone": "America/Sao_Paulo",
        "locale": "pt-BR",
        "quiet_hours": {"start": "22:00", "end": "07:00"}
    });
    assert_eq!(put.body, stored);
    let got = api.call(reqwest::Method::GET, &path, &auth(token_a), None).await?;
    assert_eq!((got.status, got.body), (200, stored));

    // The item holds exactly the format send-batch reads, and the devices as they were.
    let item = api.item(USER_A).await?.expect("A's item");
    assert_eq!(item["push_enabled"], AttributeValue::Bool(false));
    let mut muted = item["muted_categories"].as_ss().expect("a string set").clone();
    muted.sort();
    assert_eq!(muted, ["news", "promo"]);
    assert_eq!(item["time_zone"], AttributeValue::S("America/Sao_Paulo".into()));
    assert_eq!(item["locale"], AttributeValue::S("pt-BR".into()));
    let quiet = item["quiet_hours"].as_m().expect("a map");
    assert_eq!(
        (&quiet["start"], &quiet["end"]),
        (&AttributeValue::S("22:00".into()), &AttributeValue::S("07:00".into()))
    );
    assert_eq!(item["devices"], devices_before, "a PUT of preferences never touches devices");
    let lookup = super::DynamoDevices::new(api.stack.dynamodb().await, &api.table);
    let seen = shared::devices::DeviceLookup::lookup(&lookup, &[USER_A.to_owned()]).await?;
    assert!(!seen[USER_A].push_enabled && seen[USER_A].muted_categories.contains("promo"), "send-batch reads them");

    // A refusal names its field and changes nothing.
    let bad = json!({"time_zone": "Atlantis/Capital"});
    let refused = api.call(reqwest::Method::PUT, &path, &auth(token_a), Some(&bad)).await?;
    assert_eq!((refused.status, refused.body["field"].as_str()), (400, Some("time_zone")), "{}", refused.body);
    assert!(refused.body["message"].as_str().is_some_and(|m| m.contains("Atlantis/Capital")));
    assert_eq!(api.item(USER_A).await?.expect("A")["time_zone"], AttributeValue::S("America/Sao_Paulo".into()));

    // B may not read or write A's; a backend may.
    let foreign = api.call(reqwest::Method::GET, &path, &auth(token_b), None).await?;
    assert_eq!(foreign.status, 403);
    let backend = api.backend(reqwest::Method::GET, &format!("/backend{path}"), None, true).await?;
    assert_eq!((backend.status, backend.body["locale"].as_str()), (200, Some("pt-BR")));
    let unsigned = api.backend(reqwest::Method::GET, &format!("/backend{path}"), None, false).await?;
    assert_eq!(unsigned.status, 403);

    // A PUT replaces: what it leaves out is removed (devices never are).
    let put = api.call(reqwest::Method::PUT, &path, &auth(token_a), Some(&json!({"locale": "en"}))).await?;
    assert_eq!((put.status, put.body), (200, json!({"locale": "en"})));
    let item = api.item(USER_A).await?.expect("A's item");
    for gone in ["push_enabled", "muted_categories", "time_zone", "quiet_hours"] {
        assert!(!item.contains_key(gone), "{gone} is still there: {item:?}");
    }
    assert_eq!(item["devices"], devices_before);

    // And registration leaves preferences alone.
    let body = json!({"platform": "android", "token": super::android(400)});
    assert_eq!(api.put(USER_B, Some(token_b), &body).await?.status, 201);
    let b_path = format!("/users/{USER_B}/preferences");
    let b = api.call(reqwest::Method::PUT, &b_path, &auth(token_b), Some(&json!({"push_enabled": true}))).await?;
    assert_eq!(b.status, 200);
    assert_eq!(
        api.put(USER_B, Some(token_b), &json!({"platform": "android", "token": super::android(401)})).await?.status,
        201
    );
    let got = api.call(reqwest::Method::GET, &b_path, &auth(token_b), None).await?;
    assert_eq!(got.body, json!({"push_enabled": true}));
    Ok(())
}
