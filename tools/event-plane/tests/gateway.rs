//! The gateway listener and the issuer, end to end over HTTP, in front of a
//! fake function: sign in, call routes, and see what reaches the function
//! and what comes back.

mod support;

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use serde_json::{Value, json};
use support::gateway::{ACCESS_KEY, FakeFunction, GatewayPlane, Reply, SECRET_KEY};
use support::header_str;

const TIMEOUT: Duration = Duration::from_secs(30);

fn created() -> Reply {
    Reply::Json(json!({"statusCode": 201, "headers": {"content-type": "application/json", "x-seen": "yes"},
                       "cookies": ["session=abc; HttpOnly"], "body": "{\"created\":true}", "isBase64Encoded": false}))
}

fn bearer(tokens: &Value, which: &str) -> String {
    format!("Bearer {}", tokens[which].as_str().expect("a token"))
}

#[tokio::test]
async fn a_signed_in_user_reaches_the_function_with_its_claims() {
    let function = FakeFunction::start(|_, _| created()).await;
    let gw = GatewayPlane::start(&function.server.url(), TIMEOUT).await;
    let tokens = gw.sign_in("one%40example.net", "pw-one", "app").await;

    let body = r#"{"platform":"ios","token":"ab"}"#;
    let headers = [("authorization", bearer(&tokens, "id_token")), ("content-type", "application/json".into())];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = gw.call("PUT", "/users/u-1/devices?via=app", &headers, body).await;

    assert_eq!(answer.status, 201);
    assert_eq!(header_str(&answer.headers, "x-seen"), Some("yes"));
    assert_eq!(header_str(&answer.headers, "set-cookie"), Some("session=abc; HttpOnly"));
    assert!(header_str(&answer.headers, "apigw-requestid").is_some_and(|id| !id.is_empty()));
    assert_eq!(&answer.body[..], br#"{"created":true}"#);

    let events = function.events();
    assert_eq!(events.len(), 1);
    let (name, event) = &events[0];
    assert_eq!(name, "devices");
    assert_eq!(event["routeKey"], "PUT /users/{id}/devices");
    assert_eq!(event["rawPath"], "/users/u-1/devices");
    assert_eq!(event["rawQueryString"], "via=app");
    assert_eq!(event["pathParameters"], json!({"id": "u-1"}));
    assert_eq!((event["body"].as_str(), event["isBase64Encoded"].as_bool()), (Some(body), Some(false)));
    let jwt = &event["requestContext"]["authorizer"]["jwt"];
    assert_eq!(jwt["claims"]["sub"], "u-1");
    assert_eq!(jwt["claims"]["email"], "one@example.net");
    assert_eq!(jwt["claims"]["aud"], "app");
    assert_eq!(jwt["claims"]["iss"], gw.issuer());
    assert!(jwt["claims"]["exp"].as_str().is_some_and(|e| e.parse::<u64>().is_ok()), "claims are strings");
    assert_eq!(jwt["claims"]["email_verified"], "true");
    assert_eq!(jwt["scopes"], Value::Null);
    assert_eq!(event["requestContext"]["apiId"], "devices");
    assert_eq!(event["requestContext"]["accountId"], "123456789012");
    assert_eq!(event["requestContext"]["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(event["headers"]["x-forwarded-proto"], "http");
    assert!(event["headers"].get("authorization").is_some(), "API Gateway passes the header on");

    // An access token carries client_id instead of aud, and passes too.
    let access = [("authorization", bearer(&tokens, "access_token"))];
    let access: Vec<(&str, &str)> = access.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(gw.call("DELETE", "/users/u-1/devices/ab", &access, "").await.status, 201);
    let (_, event) = &function.events()[1];
    assert_eq!(event["requestContext"]["authorizer"]["jwt"]["claims"]["client_id"], "app");
    assert_eq!(event["pathParameters"], json!({"id": "u-1", "token": "ab"}));
}

#[tokio::test]
async fn refused_requests_never_reach_the_function() {
    let function = FakeFunction::start(|_, _| created()).await;
    let gw = GatewayPlane::start(&function.server.url(), TIMEOUT).await;

    let none = gw.call("PUT", "/users/u-1/devices", &[], "{}").await;
    assert_eq!((none.status.as_u16(), none.json()), (401, json!({"message": "Unauthorized"})));
    assert_eq!(header_str(&none.headers, "www-authenticate"), Some("Bearer"));

    // A genuine token of the issuer, for another client.
    let console = gw.sign_in("one%40example.net", "pw-one", "console").await;
    let wrong = [("authorization", bearer(&console, "id_token"))];
    let wrong: Vec<(&str, &str)> = wrong.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = gw.call("PUT", "/users/u-1/devices", &wrong, "{}").await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        header_str(&answer.headers, "www-authenticate"),
        Some(r#"Bearer scope="" error="invalid_token" error_description="the token does not have a valid audience""#)
    );

    let garbage = gw.call("PUT", "/users/u-1/devices", &[("authorization", "Bearer a.b.c")], "{}").await;
    assert_eq!(garbage.status, 401);

    // A valid token without the route's scope is a 403.
    let app = gw.sign_in("one%40example.net", "pw-one", "app").await;
    let auth = [("authorization", bearer(&app, "access_token"))];
    let auth: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let scoped = gw.call("POST", "/admin", &auth, "").await;
    assert_eq!((scoped.status.as_u16(), scoped.json()), (403, json!({"message": "Forbidden"})));

    for (method, path) in [("GET", "/users/u-1/devices"), ("PUT", "/users/u-1"), ("PUT", "/nothing")] {
        let answer = gw.call(method, path, &auth, "").await;
        assert_eq!((answer.status.as_u16(), answer.json()), (404, json!({"message": "Not Found"})), "{method} {path}");
    }
    assert!(function.events().is_empty(), "the function was invoked: {:?}", function.events());
}

#[tokio::test]
async fn a_token_expires_when_the_clock_passes_its_exp() {
    let function = FakeFunction::start(|_, _| created()).await;
    let gw = GatewayPlane::start(&function.server.url(), TIMEOUT).await;
    let tokens = gw.sign_in("two%40example.net", "pw-two", "app").await;
    let auth = [("authorization", bearer(&tokens, "id_token"))];
    let auth: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();

    gw.clock.advance(Duration::from_secs(3599));
    assert_eq!(gw.call("PUT", "/users/u-2/devices", &auth, "{}").await.status, 201);
    gw.clock.advance(Duration::from_secs(1));
    let answer = gw.call("PUT", "/users/u-2/devices", &auth, "{}").await;
    assert_eq!(answer.status, 401);
    assert!(header_str(&answer.headers, "www-authenticate").is_some_and(|h| h.contains("the token has expired")));
    assert_eq!(function.events().len(), 1);
}

/// Signs as a backend does, with the SDK's signer.
fn sigv4(method: &str, url: &str, body: &[u8], secret: &str) -> Vec<(String, String)> {
    let identity: Identity = Credentials::new(ACCESS_KEY, secret, None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("execute-api")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let uri: http::Uri = url.parse().unwrap();
    let host = uri.authority().unwrap().to_string();
    let headers = [("host", host.as_str()), ("content-type", "application/json")];
    let signable = SignableRequest::new(method, url, headers.into_iter(), SignableBody::Bytes(body)).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut out: Vec<(String, String)> = vec![("content-type".into(), "application/json".into())];
    out.extend(instructions.headers().map(|(k, v)| (k.to_owned(), v.to_owned())));
    out
}

#[tokio::test]
async fn iam_routes_need_a_valid_signature() {
    let function = FakeFunction::start(|_, _| created()).await;
    let gw = GatewayPlane::start(&function.server.url(), TIMEOUT).await;
    let body = br#"{"platform":"android","token":"t"}"#;
    let url = gw.url("/backend/users/u-9/devices");

    let signed = sigv4("PUT", &url, body, SECRET_KEY);
    let signed: Vec<(&str, &str)> = signed.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(gw.call("PUT", "/backend/users/u-9/devices", &signed, &body[..]).await.status, 201);
    let (_, event) = &function.events()[0];
    let iam = &event["requestContext"]["authorizer"]["iam"];
    assert_eq!(iam["accessKey"], ACCESS_KEY);
    assert!(iam["userArn"].as_str().is_some_and(|arn| arn.starts_with("arn:aws:iam::123456789012:user/")));

    let unsigned =
        gw.call("PUT", "/backend/users/u-9/devices", &[("content-type", "application/json")], &body[..]).await;
    assert_eq!((unsigned.status.as_u16(), unsigned.json()), (403, json!({"message": "Forbidden"})));
    let forged = sigv4("PUT", &url, body, "not-the-secret");
    let forged: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(gw.call("PUT", "/backend/users/u-9/devices", &forged, &body[..]).await.status, 403);
    // A signature is for one request: another body under it is refused.
    assert_eq!(gw.call("PUT", "/backend/users/u-9/devices", &signed, "{}").await.status, 403);
    assert_eq!(function.events().len(), 1);
}

#[tokio::test]
async fn function_answers_become_http_as_api_gateway_reads_them() {
    let function = FakeFunction::start(|_, event| match event["pathParameters"]["proxy"].as_str() {
        Some("plain") => Reply::Json(json!({"hello": "world"})),
        Some("string") => Reply::Json(json!("Hello from Lambda!")),
        Some("binary") => Reply::Json(json!({"statusCode": 200, "body": "AP8=", "isBase64Encoded": true})),
        Some("panic") => Reply::FunctionError,
        Some("nonsense") => Reply::Raw("<html>"),
        Some("slow") => Reply::Hang,
        _ => Reply::Json(json!({"statusCode": 200, "body": event["body"].clone(),
                                "headers": {"x-b64": event["isBase64Encoded"].to_string()}})),
    })
    .await;
    let gw = GatewayPlane::start(&function.server.url(), Duration::from_millis(500)).await;

    let plain = gw.call("GET", "/open/plain", &[], "").await;
    assert_eq!((plain.status.as_u16(), plain.json()), (200, json!({"hello": "world"})));
    assert_eq!(header_str(&plain.headers, "content-type"), Some("application/json"));
    assert_eq!(&gw.call("GET", "/open/string", &[], "").await.body[..], b"Hello from Lambda!");
    assert_eq!(&gw.call("GET", "/open/binary", &[], "").await.body[..], &[0x00, 0xff]);
    for (path, status) in [("/open/panic", 500), ("/open/nonsense", 500), ("/open/slow", 503)] {
        let answer = gw.call("POST", path, &[], "").await;
        assert_eq!(answer.status.as_u16(), status, "{path}");
        assert!(answer.json()["message"].is_string());
    }
    // A form post reaches the function base64-encoded; it echoes the body.
    let form = gw.call("POST", "/open/echo", &[("content-type", "application/x-www-form-urlencoded")], "a=1").await;
    assert_eq!((header_str(&form.headers, "x-b64"), &form.body[..]), (Some("true"), &b"YT0x"[..]));
}
