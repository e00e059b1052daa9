//! One owner per token on DynamoDB (dynalite): the protocol through
//! `DynamoDevices` itself, and through the gateway as apps call it.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use pushbatch_tests::{Part, Stack, StackOptions};
use serde_json::json;
use shared::batch::{Device, Platform};
use shared::devices::{
    DeviceError, DeviceLookup, DevicePrune, DeviceRegister, DeviceUnregister, DynamoDevices, Registration, TokenKey,
};

use super::{Api, USER_A, USER_B, android};

type Item = HashMap<String, AttributeValue>;

async fn item(client: &aws_sdk_dynamodb::Client, table: &str, id: &str) -> anyhow::Result<Option<Item>> {
    let out = client
        .get_item()
        .table_name(table)
        .key("user_id", AttributeValue::S(id.into()))
        .consistent_read(true)
        .send()
        .await?;
    Ok(out.item)
}

/// Who the token item of an Android token names, read from the table.
async fn owner(client: &aws_sdk_dynamodb::Client, table: &str, token: &str) -> anyhow::Result<Option<String>> {
    let id = TokenKey::new(Platform::Android, token).item_id();
    Ok(item(client, table, &id).await?.and_then(|i| i.get("owner").and_then(|o| o.as_s().ok()).cloned()))
}

/// The users among `users` whose devices, as send-batch's lookup reads them, hold `token`.
async fn holders(store: &DynamoDevices, users: &[&str], token: &str) -> anyhow::Result<Vec<String>> {
    let ids: Vec<String> = users.iter().map(|u| u.to_string()).collect();
    let mut out: Vec<String> = store
        .lookup(&ids)
        .await?
        .into_iter()
        .filter(|(_, u)| u.devices.iter().any(|d| d.token == token))
        .map(|(id, _)| id)
        .collect();
    out.sort();
    Ok(out)
}

fn registration(token: &str) -> Registration {
    Registration { device: Device::new(Platform::Android, token), app: None, at: chrono::Utc::now() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_owner_per_token_on_dynalite() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::only(&[Part::Dynalite])).await?;
    let client = stack.dynamodb().await;
    let table = stack.var("DEVICES_TABLE")?.to_owned();
    let store = Arc::new(DynamoDevices::new(client.clone(), &table));

    // A registers, B registers the same token: A's next lookup has it no more.
    let phone = android(100);
    store.register("d-a", &registration(&phone), 10).await?;
    store.register("d-a", &registration(&android(101)), 10).await?;
    assert_eq!(owner(&client, &table, &phone).await?.as_deref(), Some("d-a"));
    store.register("d-b", &registration(&phone), 10).await?;
    assert_eq!(holders(&store, &["d-a", "d-b"], &phone).await?, ["d-b"]);
    assert_eq!(holders(&store, &["d-a"], &android(101)).await?, ["d-a"], "A keeps its other device");
    assert_eq!(owner(&client, &table, &phone).await?.as_deref(), Some("d-b"));
    let a = item(&client, &table, "d-a").await?.expect("A's item");
    assert!(a["fences"].as_m().is_ok_and(|f| f.len() == 1), "B's claim fenced A: {a:?}");
    // A token item is no user to send-batch.
    let token_item = TokenKey::new(Platform::Android, &phone).item_id();
    assert!(store.lookup(std::slice::from_ref(&token_item)).await?.is_empty());
    assert!(item(&client, &table, &token_item).await?.is_some());

    // Back to A: its fence is below its new claim.
    store.register("d-a", &registration(&phone), 10).await?;
    assert_eq!(holders(&store, &["d-a", "d-b"], &phone).await?, ["d-a"]);

    // Unregister by a user the item does not name leaves it; by its owner drops it.
    assert!(!store.unregister("d-b", &phone).await?);
    assert_eq!(owner(&client, &table, &phone).await?.as_deref(), Some("d-a"));
    assert!(store.unregister("d-a", &phone).await?);
    assert_eq!(owner(&client, &table, &phone).await?, None);
    // A prune (send-batch's) drops it too, only for the user it names.
    store.register("d-b", &registration(&phone), 10).await?;
    assert!(!store.prune("d-a", &phone).await?);
    assert_eq!(owner(&client, &table, &phone).await?.as_deref(), Some("d-b"));
    assert!(store.prune("d-b", &phone).await?);
    assert_eq!(owner(&client, &table, &phone).await?, None);
    assert!(holders(&store, &["d-a", "d-b"], &phone).await?.is_empty());
    // Where the lookup saw it (one conditional write), and where it is no
    // more (the list moved): the token goes either way, and nothing else.
    let (first, second) = (android(150), android(151));
    store.register("d-c", &registration(&first), 10).await?;
    store.register("d-c", &registration(&second), 10).await?;
    let seen = store.lookup(&["d-c".to_owned()]).await?;
    let at = seen["d-c"].devices.iter().position(|d| d.token == second).expect("seen");
    assert!(store.prune_seen("d-c", Platform::Android, &second, at).await?);
    assert_eq!(holders(&store, &["d-c"], &first).await?, ["d-c"], "the other device stays");
    store.register("d-c", &registration(&second), 10).await?;
    assert!(store.prune_seen("d-c", Platform::Android, &first, 1).await?, "a stale position falls back");
    assert!(holders(&store, &["d-c"], &first).await?.is_empty());
    assert_eq!(holders(&store, &["d-c"], &second).await?, ["d-c"]);

    // Two users register one token at once, round after round: never two
    // lists; the list is the token item's owner's, whose call succeeded.
    let mut conflicts = 0;
    for round in 0..40 {
        let token = android(200 + round);
        let (sa, sb) = (store.clone(), store.clone());
        let (ta, tb) = (token.clone(), token.clone());
        let a = tokio::spawn(async move { sa.register("r-a", &registration(&ta), 10).await });
        let b = tokio::spawn(async move { sb.register("r-b", &registration(&tb), 10).await });
        let (ra, rb) = (a.await?, b.await?);
        let held = holders(&store, &["r-a", "r-b"], &token).await?;
        let owner = owner(&client, &table, &token).await?.expect("an owner");
        assert_eq!(held, std::slice::from_ref(&owner), "round {round}: {ra:?} {rb:?}");
        for (user, result) in [("r-a", ra), ("r-b", rb)] {
            match result {
                Ok(_) => {}
                Err(DeviceError::Claimed { .. }) => {
                    assert_ne!(user, owner, "round {round}: the owner was answered 409");
                    conflicts += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    println!("{conflicts} of 40 rounds answered one registration 409");
    Ok(())
}

/// Through the gateway with real tokens: a phone moving from A to B, a
/// race between them, and an app the deployment does not know.
pub async fn ownership_and_apps_through_the_gateway(api: &Api, token_a: &str, token_b: &str) -> anyhow::Result<()> {
    let client = api.stack.dynamodb().await;
    let store = DynamoDevices::new(client.clone(), &api.table);
    let phone = android(300);
    let body = json!({"platform": "android", "token": phone});
    assert_eq!(api.put(USER_A, Some(token_a), &body).await?.status, 201);
    let answer = api.put(USER_B, Some(token_b), &body).await?;
    assert_eq!((answer.status, answer.body["created"].as_bool()), (201, Some(true)), "{}", answer.body);
    assert_eq!(holders(&store, &[USER_A, USER_B], &phone).await?, [USER_B], "A's next lookup has it no more");

    // A race, round after round: one list, its owner's; a loser is a 409 naming `token`.
    for round in 0..6 {
        let token = android(310 + round);
        let body = json!({"platform": "android", "token": token});
        let (a, b) = tokio::join!(api.put(USER_A, Some(token_a), &body), api.put(USER_B, Some(token_b), &body));
        let owner = owner(&client, &api.table, &token).await?.expect("an owner");
        assert_eq!(holders(&store, &[USER_A, USER_B], &token).await?, std::slice::from_ref(&owner), "round {round}");
        for (user, answer) in [(USER_A, a?), (USER_B, b?)] {
            match answer.status {
                200 | 201 => {}
                409 => {
                    assert_ne!(user, owner, "round {round}: the owner was answered 409");
                    assert_eq!(answer.body["field"], "token", "{}", answer.body);
                }
                other => panic!("round {round}: {other} {}", answer.body),
            }
        }
    }

    // APPS is set on this stack: an app it does not list is a 400 naming `app`, and nothing is written.
    let before = item(&client, &api.table, USER_A).await?;
    let unknown = json!({"platform": "android", "token": android(320), "app": "com.unknown.app"});
    let answer = api.put(USER_A, Some(token_a), &unknown).await?;
    assert_eq!((answer.status, answer.body["field"].as_str()), (400, Some("app")), "{}", answer.body);
    assert_eq!(item(&client, &api.table, USER_A).await?, before);
    assert_eq!(owner(&client, &api.table, &android(320)).await?, None);
    let listed = json!({"platform": "android", "token": android(320), "app": "com.example.pushbatch"});
    assert_eq!(api.put(USER_A, Some(token_a), &listed).await?.status, 201);
    Ok(())
}
