//! What the in-process tests share: API Gateway HTTP API (payload 2.0)
//! events for any route, and the handler called on them with the in-memory
//! devices table.

#![allow(dead_code)]

use chrono::{DateTime, Duration, Utc};
use devices::handler::handle;
use devices::settings::Settings;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::devices::{DeviceLookup, MemoryDevices};

pub const IOS: &str = "ab0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd";
pub const FCM: &str = "fcm-instance:APA91bExampleRegistrationToken_0123456789";

/// How API Gateway authenticated the request.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    Jwt(&'a str),
    Iam,
    None,
}

/// `method` on `/users/{user}/{resource}` (`devices`, `devices/{token}` or
/// `preferences`), as API Gateway delivers it.
pub fn request(method: &str, user: &str, resource: &str, auth: Auth<'_>, body: Option<&Value>) -> Request {
    // API Gateway gets the path percent-encoded and decodes the parameters.
    let path = format!("/users/{}/{resource}", user.replace('#', "%23"));
    let (route, params) = match resource.strip_prefix("devices/") {
        Some(token) => (format!("{method} /users/{{id}}/devices/{{token}}"), json!({"id": user, "token": token})),
        None => (format!("{method} /users/{{id}}/{resource}"), json!({"id": user})),
    };
    let mut e = json!({
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "api.example.com"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "stage": "$default", "requestId": "r",
            "routeKey": route, "timeEpoch": 0,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "t"}
        },
        "pathParameters": params,
        "isBase64Encoded": false
    });
    match auth {
        Auth::Jwt(sub) => {
            e["requestContext"]["authorizer"] = json!({"jwt": {"claims": {"sub": sub, "aud": "app"}, "scopes": null}});
        }
        Auth::Iam => {
            e["requestContext"]["authorizer"] =
                json!({"iam": {"userArn": "arn:aws:iam::123456789012:role/backend", "callerId": "AROA"}});
        }
        Auth::None => {}
    }
    if let Some(b) = body {
        e["body"] = json!(b.to_string());
    }
    lambda_http::request::from_str(&e.to_string()).expect("an API Gateway v2 event")
}

pub struct Api {
    pub store: MemoryDevices,
    pub settings: Settings,
    pub now: DateTime<Utc>,
}

impl Api {
    /// With `APPS` unset and a cap of `max_devices`.
    pub fn with_cap(max_devices: usize) -> Self {
        Self::new(Settings::new("unused", max_devices))
    }

    pub fn new(settings: Settings) -> Self {
        Self { store: MemoryDevices::default(), settings, now: DateTime::from_timestamp(1_795_320_000, 0).unwrap() }
    }

    /// Status and JSON body (null when empty); each call is a second later.
    pub async fn call(&mut self, request: Request) -> (u16, Value) {
        self.now += Duration::seconds(1);
        let response: Response<Body> = handle(&self.store, &self.settings, request, self.now).await;
        let status = response.status().as_u16();
        let body = match response.body() {
            Body::Empty => Value::Null,
            Body::Text(t) => serde_json::from_str(t).expect("JSON body"),
            other => panic!("unexpected body {other:?}"),
        };
        (status, body)
    }

    pub async fn register(&mut self, user: &str, body: Value) -> (u16, Value) {
        self.call(request("PUT", user, "devices", Auth::Jwt(user), Some(&body))).await
    }

    pub async fn tokens(&self, user: &str) -> Vec<String> {
        let found = self.store.lookup(&[user.to_owned()]).await.unwrap();
        found.get(user).map(|u| u.devices.iter().map(|d| d.token.clone()).collect()).unwrap_or_default()
    }
}
