//! The devices API on the local stack, called as apps and backends call it:
//! over HTTP through the event plane's API gateway, with an ID token from the
//! local issuer (JWT routes) or a SigV4 signature (the `/backend/` IAM
//! routes), against dynalite; then the devices table and send-batch's own
//! lookup (`DynamoDevices`) see what was registered. The gateway refuses what
//! API Gateway refuses before the function runs; the function refuses the
//! rest.

#[path = "devices_api/ownership.rs"]
mod ownership;
#[path = "devices_api/preferences.rs"]
mod preferences;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use pushbatch_tests::gateway::{LocalUser, LocalUsers, sign_in, sigv4_headers};
use pushbatch_tests::{Part, Stack, StackOptions};
use serde_json::{Value, json};
use shared::batch::{Device, Platform};
use shared::devices::{DeviceError, DeviceLookup, DeviceRegister, DeviceUnregister, DynamoDevices, Registration};

const MAX_DEVICES: usize = 2;
/// The first call may still link the function on a busy 2-core machine; the
/// gateway gets as long (API Gateway's own limit, 30 s, is its default).
const CALL_TIMEOUT: Duration = Duration::from_secs(600);
/// The two device-app users of local/users.json.
const USER_A: &str = "u-000001";
const USER_B: &str = "u-000002";
/// The stack's APPS: the devices API takes only these (and, naming none, the
/// default apps: APNS_TOPIC, the default FCM project).
const APPS: &str = r#"[{"app": "com.example.pushbatch", "platform": "ios"},
                      {"app": "com.example.pushbatch", "platform": "android"}]"#;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root")
}

fn sample(name: &str) -> Value {
    let path = root().join("events").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The body a sample event carries.
fn sample_body(name: &str) -> Value {
    serde_json::from_str(sample(name)["body"].as_str().expect("the sample has a body")).unwrap()
}

/// An answer: status, JSON body (null when empty) and the www-authenticate header.
struct Answer {
    status: u16,
    body: Value,
    challenge: Option<String>,
}

struct Api {
    stack: Stack,
    http: reqwest::Client,
    gateway: String,
    table: String,
    users: LocalUsers,
}

impl Api {
    async fn start() -> anyhow::Result<Api> {
        // Builds the functions ahead, so watch does not compile inside a call.
        pushbatch_tests::ensure_workspace_bins()?;
        let parts = [Part::Moto, Part::Dynalite, Part::Watch, Part::EventPlane];
        let mut opts = StackOptions::only(&parts).fn_env("MAX_DEVICES_PER_USER", MAX_DEVICES).fn_env("APPS", APPS);
        opts.plane_args.push(format!("--gateway-timeout-seconds={}", CALL_TIMEOUT.as_secs()));
        let stack = Stack::start(opts).await?;
        let gateway = stack.var("GATEWAY_URL")?.to_owned();
        let table = stack.var("DEVICES_TABLE")?.to_owned();
        let users = LocalUsers::of(&stack)?;
        let http = reqwest::Client::builder().no_proxy().timeout(CALL_TIMEOUT).build()?;
        Ok(Api { stack, http, gateway, table, users })
    }

    fn user(&self, sub: &str) -> anyhow::Result<&LocalUser> {
        self.users.with_sub(sub)
    }

    /// An ID token of the devices API's own client, for the user `sub`.
    async fn id_token(&self, sub: &str) -> anyhow::Result<String> {
        let tokens = sign_in(&self.stack, self.user(sub)?, self.stack.var("DEVICES_JWT_AUDIENCE")?).await?;
        Ok(tokens["id_token"].as_str().expect("an id_token").to_owned())
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(String, String)],
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        let mut request = self.http.request(method, format!("{}{path}", self.gateway));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap_or("?").to_owned());
        let text = response.text().await?;
        anyhow::ensure!(status < 500, "HTTP {status}: {text}\nwatch log:\n{}", self.stack.log_tail(Part::Watch, 30));
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text)? };
        Ok(Answer { status, body, challenge })
    }

    async fn put(&self, user: &str, token: Option<&str>, body: &Value) -> anyhow::Result<Answer> {
        let auth: Vec<(String, String)> =
            token.map(|t| ("authorization".into(), format!("Bearer {t}"))).into_iter().collect();
        self.call(reqwest::Method::PUT, &format!("/users/{user}/devices"), &auth, Some(body)).await
    }

    async fn delete(&self, user: &str, device: &str, token: &str) -> anyhow::Result<Answer> {
        let auth = [("authorization".to_owned(), format!("Bearer {token}"))];
        self.call(reqwest::Method::DELETE, &format!("/users/{user}/devices/{device}"), &auth, None).await
    }

    /// A `/backend/` call signed with stack.env's credentials (or unsigned).
    async fn backend(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        signed: bool,
    ) -> anyhow::Result<Answer> {
        let url = format!("{}{path}", self.gateway);
        let bytes = body.map(Value::to_string).unwrap_or_default();
        let content_type: &[(&str, &str)] = if body.is_some() { &[("content-type", "application/json")] } else { &[] };
        let headers = if signed {
            sigv4_headers(&self.stack, method.as_str(), &url, content_type, bytes.as_bytes())?
        } else {
            vec![]
        };
        self.call(method, path, &headers, body).await
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

/// A device as registered by the PUT sample, which names its app.
fn of_app(platform: Platform, token: &str) -> Device {
    Device { app: Some("com.example.pushbatch".into()), ..Device::new(platform, token) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_api_on_the_local_stack() -> anyhow::Result<()> {
    let api = Api::start().await?;
    let put_body = sample_body("devices-put.json");
    let ios = put_body["token"].as_str().expect("the PUT sample has a token").to_owned();
    the_gateway_refuses_missing_and_foreign_tokens(&api).await?;
    let token_a = api.id_token(USER_A).await?;
    let token_b = api.id_token(USER_B).await?;

    // Register the sample's device as A, signed in at the local issuer.
    let answer = api.put(USER_A, Some(&token_a), &put_body).await?;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let item = api.item(USER_A).await?.expect("an item for A");
    let devices = item["devices"].as_l().expect("devices is a list");
    assert_eq!(devices.len(), 1);
    let device = devices[0].as_m().expect("a device is a map");
    assert_eq!(device["platform"].as_s().unwrap(), "ios");
    assert_eq!(device["token"].as_s().unwrap(), &ios);
    assert_eq!(device["app"].as_s().unwrap(), "com.example.pushbatch");
    let updated_at = device["updated_at"].as_s().unwrap();
    assert!(updated_at.ends_with('Z') && updated_at.len() == "2026-11-24T04:00:00.000Z".len(), "{updated_at}");
    // send-batch's lookup sees it.
    assert_eq!(api.lookup(USER_A).await?, vec![of_app(Platform::Ios, &ios)]);

    // Registering again refreshes it: no duplicate.
    let answer = api.put(USER_A, Some(&token_a), &put_body).await?;
    assert_eq!((answer.status, answer.body["created"].as_bool()), (200, Some(false)), "{}", answer.body);
    assert_eq!(api.lookup(USER_A).await?.len(), 1);

    // B's token may not touch A's devices (the function's 403), and nothing is written.
    let answer = api.put(USER_A, Some(&token_b), &json!({"platform": "android", "token": android(0)})).await?;
    assert_eq!((answer.status, answer.body["error"].as_str()), (403, Some("forbidden")));
    let answer = api.delete(USER_A, &ios, &token_b).await?;
    assert_eq!((answer.status, answer.body["error"].as_str()), (403, Some("forbidden")));
    // A bad token is refused naming the field.
    let answer = api.put(USER_A, Some(&token_a), &json!({"platform": "ios", "token": "12ab"})).await?;
    assert_eq!((answer.status, answer.body["field"].as_str()), (400, Some("token")));
    assert_eq!(api.lookup(USER_A).await?, vec![of_app(Platform::Ios, &ios)]);

    // The cap (2 here): the third device evicts the least recently updated.
    let answer = api.put(USER_A, Some(&token_a), &json!({"platform": "android", "token": android(1)})).await?;
    assert_eq!(answer.status, 201);
    let answer = api.put(USER_A, Some(&token_a), &json!({"platform": "android", "token": android(2)})).await?;
    assert_eq!(answer.status, 201);
    assert_eq!(answer.body["evicted"], json!([{"platform": "ios", "token": ios}]), "{}", answer.body);
    let tokens: Vec<String> = api.lookup(USER_A).await?.into_iter().map(|d| d.token).collect();
    assert_eq!(tokens, vec![android(1), android(2)]);

    // DELETE: removed, then absent; both 204. The sample's token (evicted
    // above) is absent too.
    assert_eq!(api.delete(USER_A, &android(1), &token_a).await?.status, 204);
    assert_eq!(api.delete(USER_A, &android(1), &token_a).await?.status, 204);
    let sample_token = sample("devices-delete.json")["pathParameters"]["token"].as_str().expect("a token").to_owned();
    assert_eq!(api.delete(USER_A, &sample_token, &token_a).await?.status, 204);
    assert_eq!(api.lookup(USER_A).await?, vec![Device::new(Platform::Android, android(2))]);

    // Registration leaves a user's settings alone.
    api.stack
        .dynamodb()
        .await
        .put_item()
        .table_name(&api.table)
        .item("user_id", AttributeValue::S(USER_B.into()))
        .item("push_enabled", AttributeValue::Bool(false))
        .item("muted_categories", AttributeValue::Ss(vec!["promo".into()]))
        .send()
        .await?;
    let answer = api.put(USER_B, Some(&token_b), &json!({"platform": "android", "token": android(3)})).await?;
    assert_eq!(answer.status, 201);
    let item = api.item(USER_B).await?.expect("B");
    assert_eq!(item["push_enabled"].as_bool().ok(), Some(&false));
    assert_eq!(item["muted_categories"].as_ss().map(Vec::len).ok(), Some(1));
    assert_eq!(api.lookup(USER_B).await?.len(), 1);

    // A backend (IAM, SigV4) registers the backend sample's device for its
    // user, and may remove it; unsigned calls never reach the function.
    let backend = sample("devices-put-backend.json");
    let backend_user = backend["pathParameters"]["id"].as_str().expect("an id").to_owned();
    let backend_body = sample_body("devices-put-backend.json");
    let backend_path = format!("/backend/users/{backend_user}/devices");
    let answer = api.backend(reqwest::Method::PUT, &backend_path, Some(&backend_body), true).await?;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(api.lookup(&backend_user).await?.len(), 1);
    let unsigned = api
        .backend(reqwest::Method::PUT, &backend_path, Some(&json!({"platform": "android", "token": android(4)})), false)
        .await?;
    assert_eq!((unsigned.status, unsigned.body.clone()), (403, json!({"message": "Forbidden"})));
    let device_path = format!("{backend_path}/{}", backend_body["token"].as_str().expect("a token"));
    assert_eq!(api.backend(reqwest::Method::DELETE, &device_path, None, false).await?.status, 403);
    assert_eq!(api.lookup(&backend_user).await?.len(), 1, "the unsigned calls changed nothing");
    assert_eq!(api.backend(reqwest::Method::DELETE, &device_path, None, true).await?.status, 204);
    assert!(api.lookup(&backend_user).await?.is_empty());

    ownership::ownership_and_apps_through_the_gateway(&api, &token_a, &token_b).await?;
    preferences::preferences_through_the_gateway(&api, &token_a, &token_b).await?;
    Ok(())
}

/// What API Gateway's JWT authorizer refuses never reaches the function:
/// 401 `{"message":"Unauthorized"}`, and nothing is written. (Run inside
/// the test above: a second stack would cost another minute of start-up.)
async fn the_gateway_refuses_missing_and_foreign_tokens(api: &Api) -> anyhow::Result<()> {
    let body = json!({"platform": "android", "token": android(9)});

    let none = api.put(USER_A, None, &body).await?;
    assert_eq!(
        (none.status, none.body.clone(), none.challenge.as_deref()),
        (401, json!({"message": "Unauthorized"}), Some("Bearer"))
    );

    // A genuine token of the local issuer, but for another app client: only
    // the audience is wrong (asking the issuer, rather than minting one with
    // a key it does not know, so that the signature passes and the audience
    // check is what refuses it).
    let audience = api.stack.var("DEVICES_JWT_AUDIENCE")?;
    let other = api.users.clients.iter().find(|c| c.client_id != audience).expect("a second client");
    let tokens = sign_in(&api.stack, api.user(USER_A)?, &other.client_id).await?;
    let foreign = api.put(USER_A, tokens["id_token"].as_str(), &body).await?;
    assert_eq!((foreign.status, foreign.body.clone()), (401, json!({"message": "Unauthorized"})));
    assert!(
        foreign.challenge.as_deref().is_some_and(|c| c.contains("the token does not have a valid audience")),
        "{:?}",
        foreign.challenge
    );

    // A token whose signature the issuer's keys do not verify: A's token
    // with B's claims spliced in.
    let token_a = api.id_token(USER_A).await?;
    let token_b = api.id_token(USER_B).await?;
    let a: Vec<&str> = token_a.split('.').collect();
    let spliced = format!("{}.{}.{}", a[0], token_b.split('.').nth(1).expect("claims"), a[2]);
    let forged = api.put(USER_B, Some(&spliced), &body).await?;
    assert_eq!(forged.status, 401);
    assert!(forged.challenge.as_deref().is_some_and(|c| c.contains("signature")), "{:?}", forged.challenge);

    let unknown = api.call(reqwest::Method::GET, &format!("/users/{USER_A}/devices"), &[], None).await?;
    assert_eq!((unknown.status, unknown.body), (404, json!({"message": "Not Found"})));
    assert!(api.item(USER_A).await?.is_none() && api.item(USER_B).await?.is_none(), "a refused call wrote");
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
