//! The devices API on the local stack: API Gateway (payload 2.0) events sent
//! to `cargo lambda watch`'s Invoke endpoint, as the HTTP API's JWT and IAM
//! authorizers would deliver them, against dynalite; then the devices table
//! and send-batch's own lookup (`DynamoDevices`) see what was registered.
//! The authorizer context cannot be produced by watch's function-URL
//! emulation, so events are invoked whole, exactly as in AWS.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use pushbatch_tests::{Part, Stack, StackOptions};
use serde_json::{Value, json};
use shared::batch::{Device, Platform};
use shared::devices::{DeviceError, DeviceLookup, DeviceRegister, DeviceUnregister, DynamoDevices, Registration};

const MAX_DEVICES: usize = 2;
/// The first invoke may still link the function on a busy 2-core machine.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(600);

fn sample(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The PUT sample, for another user (and JWT subject) and body.
fn put_event(user: &str, sub: &str, body: &Value) -> Value {
    let mut e = sample("devices-put.json");
    e["rawPath"] = json!(format!("/users/{user}/devices"));
    e["requestContext"]["http"]["path"] = e["rawPath"].clone();
    e["pathParameters"]["id"] = json!(user);
    e["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!(sub);
    e["body"] = json!(body.to_string());
    e
}

fn delete_event(user: &str, token: &str) -> Value {
    let mut e = sample("devices-delete.json");
    e["rawPath"] = json!(format!("/users/{user}/devices/{token}"));
    e["requestContext"]["http"]["path"] = e["rawPath"].clone();
    e["pathParameters"] = json!({"id": user, "token": token});
    e["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!(user);
    e
}

struct Api {
    stack: Stack,
    http: reqwest::Client,
    url: String,
    table: String,
}

impl Api {
    async fn start() -> anyhow::Result<Api> {
        // Builds the functions ahead, so watch does not compile inside an invoke.
        pushbatch_tests::ensure_workspace_bins()?;
        let opts = StackOptions::only(&[Part::Dynalite, Part::Watch]).fn_env("MAX_DEVICES_PER_USER", MAX_DEVICES);
        let stack = Stack::start(opts).await?;
        let url = format!("{}/2015-03-31/functions/devices/invocations", stack.var("LAMBDA_WATCH_URL")?);
        let table = stack.var("DEVICES_TABLE")?.to_owned();
        let http = reqwest::Client::builder().no_proxy().timeout(INVOKE_TIMEOUT).build()?;
        Ok(Api { stack, http, url, table })
    }

    /// Invokes the function with an API Gateway event; (status, JSON body).
    async fn invoke(&self, event: &Value) -> anyhow::Result<(u16, Value)> {
        let response = self.http.post(&self.url).json(event).send().await?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(
            status.is_success(),
            "invoke failed ({status}): {text}\nwatch log:\n{}",
            self.stack.log_tail(Part::Watch, 30)
        );
        let out: Value = serde_json::from_str(&text)?;
        let code = out["statusCode"].as_u64().ok_or_else(|| anyhow::anyhow!("no statusCode in {out}"))? as u16;
        let body = match out["body"].as_str() {
            Some(b) if !b.is_empty() => serde_json::from_str(b)?,
            _ => Value::Null,
        };
        Ok((code, body))
    }

    async fn item(&self, user: &str) -> anyhow::Result<Option<HashMap<String, AttributeValue>>> {
        let out = self
            .stack
            .dynamodb()
            .await
            .get_item()
            .table_name(&self.table)
            .key("user_id", AttributeValue::S(user.into()))
            .consistent_read(true)
            .send()
            .await?;
        Ok(out.item)
    }

    async fn lookup(&self, user: &str) -> anyhow::Result<Vec<Device>> {
        let devices = DynamoDevices::new(self.stack.dynamodb().await, &self.table);
        Ok(devices.lookup(&[user.to_owned()]).await?.remove(user).map(|u| u.devices).unwrap_or_default())
    }
}

fn android(n: usize) -> String {
    format!("local-test:APA91b_registration-token-{n:04}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_api_on_the_local_stack() -> anyhow::Result<()> {
    let api = Api::start().await?;
    let put = sample("devices-put.json");
    let put_body: Value = serde_json::from_str(put["body"].as_str().expect("the PUT sample has a body"))?;
    let ios = put_body["token"].as_str().expect("the PUT sample has a token").to_owned();

    // Register through the sample event, exactly as API Gateway sends it.
    let (status, body) = api.invoke(&put).await?;
    assert_eq!(status, 201, "{body}");
    let item = api.item("u-1").await?.expect("an item for u-1");
    let devices = item["devices"].as_l().expect("devices is a list");
    assert_eq!(devices.len(), 1);
    let device = devices[0].as_m().expect("a device is a map");
    assert_eq!(device["platform"].as_s().unwrap(), "ios");
    assert_eq!(device["token"].as_s().unwrap(), &ios);
    assert_eq!(device["app"].as_s().unwrap(), "com.example.pushbatch");
    let updated_at = device["updated_at"].as_s().unwrap();
    assert!(updated_at.ends_with('Z') && updated_at.len() == "2026-11-24T04:00:00.000Z".len(), "{updated_at}");
    // send-batch's lookup sees it.
    assert_eq!(api.lookup("u-1").await?, vec![Device::new(Platform::Ios, ios.clone())]);

    // Registering again refreshes it: no duplicate.
    let (status, body) = api.invoke(&put).await?;
    assert_eq!((status, body["created"].as_bool()), (200, Some(false)), "{body}");
    assert_eq!(api.lookup("u-1").await?.len(), 1);

    // Another user's JWT may not touch u-1, and nothing is written.
    let (status, body) =
        api.invoke(&put_event("u-1", "u-2", &json!({"platform": "android", "token": android(0)}))).await?;
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")));
    // A bad token is refused naming the field.
    let (status, body) = api.invoke(&put_event("u-1", "u-1", &json!({"platform": "ios", "token": "12ab"}))).await?;
    assert_eq!((status, body["field"].as_str()), (400, Some("token")));
    assert_eq!(api.lookup("u-1").await?.len(), 1);

    // The cap (2 here): the third device evicts the least recently updated.
    let (status, _) =
        api.invoke(&put_event("u-1", "u-1", &json!({"platform": "android", "token": android(1)}))).await?;
    assert_eq!(status, 201);
    let (status, body) =
        api.invoke(&put_event("u-1", "u-1", &json!({"platform": "android", "token": android(2)}))).await?;
    assert_eq!(status, 201);
    assert_eq!(body["evicted"], json!([{"platform": "ios", "token": ios}]), "{body}");
    let tokens: Vec<String> = api.lookup("u-1").await?.into_iter().map(|d| d.token).collect();
    assert_eq!(tokens, vec![android(1), android(2)]);

    // DELETE: removed, then absent; both 204.
    let (status, _) = api.invoke(&delete_event("u-1", &android(1))).await?;
    assert_eq!(status, 204);
    let (status, _) = api.invoke(&delete_event("u-1", &android(1))).await?;
    assert_eq!(status, 204);
    let (status, _) = api.invoke(&sample("devices-delete.json")).await?;
    assert_eq!(status, 204);
    assert_eq!(api.lookup("u-1").await?, vec![Device::new(Platform::Android, android(2))]);

    // Registration leaves a user's settings alone.
    api.stack
        .dynamodb()
        .await
        .put_item()
        .table_name(&api.table)
        .item("user_id", AttributeValue::S("u-3".into()))
        .item("push_enabled", AttributeValue::Bool(false))
        .item("muted_categories", AttributeValue::Ss(vec!["promo".into()]))
        .send()
        .await?;
    let (status, _) =
        api.invoke(&put_event("u-3", "u-3", &json!({"platform": "android", "token": android(3)}))).await?;
    assert_eq!(status, 201);
    let item = api.item("u-3").await?.expect("u-3");
    assert_eq!(item["push_enabled"].as_bool().ok(), Some(&false));
    assert_eq!(item["muted_categories"].as_ss().map(Vec::len).ok(), Some(1));
    assert_eq!(api.lookup("u-3").await?.len(), 1);

    // The IAM (backend) sample registers for its user.
    let (status, body) = api.invoke(&sample("devices-put-backend.json")).await?;
    assert_eq!(status, 201, "{body}");
    assert_eq!(api.lookup("u-2").await?.len(), 1);
    Ok(())
}

/// Concurrent registrations and unregistrations of one user's devices all
/// land: each write is conditional on the list it read, and retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_to_one_user_lose_nothing() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::only(&[Part::Dynalite])).await?;
    let store = Arc::new(DynamoDevices::new(stack.dynamodb().await, stack.var("DEVICES_TABLE")?));
    let registration = |n: usize| Registration {
        device: Device::new(Platform::Android, android(n)),
        app: None,
        at: chrono::Utc::now(),
    };
    // As a client does on a 503 ("busy"): try again.
    async fn retried<T, F, Fut>(mut op: F) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, DeviceError>>,
    {
        for _ in 0..5 {
            match op().await {
                Err(DeviceError::Contended { .. }) => continue,
                other => return Ok(other?),
            }
        }
        anyhow::bail!("still contended after 5 tries")
    }

    for n in 0..4 {
        store.register("u-c", &registration(n), 50).await?;
    }
    let mut tasks = tokio::task::JoinSet::new();
    for n in 4..10 {
        let (store, r) = (store.clone(), registration(n));
        tasks.spawn(async move { retried(|| store.register("u-c", &r, 50)).await.map(|_| ()) });
    }
    for n in 0..2 {
        let (store, token) = (store.clone(), android(n));
        tasks.spawn(async move { retried(|| store.unregister("u-c", &token)).await.map(|_| ()) });
    }
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    let tokens: BTreeSet<String> =
        store.lookup(&["u-c".into()]).await?.remove("u-c").unwrap().devices.into_iter().map(|d| d.token).collect();
    assert_eq!(tokens, (2..10).map(android).collect::<BTreeSet<_>>());
    Ok(())
}
