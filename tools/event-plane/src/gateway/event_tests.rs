use std::time::Duration;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use http::HeaderValue;
use serde_json::{Value, json};

use super::*;

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_static(v));
    }
    h
}

fn received<'a>(headers: &'a HeaderMap, body: &'a [u8], raw_query: &'a str) -> Received<'a> {
    Received {
        method: "PUT",
        raw_path: "/users/u-1/devices/a%3Ab",
        raw_query,
        protocol: "HTTP/1.1",
        headers,
        body,
        source_ip: "127.0.0.1",
        listen_port: 9108,
    }
}

fn routed(authorizer: Option<Authorizer>) -> Routed<'static> {
    Routed {
        route_key: "PUT /users/{id}/devices/{token}",
        path_parameters: [("id".to_owned(), "u-1".to_owned()), ("token".to_owned(), "a:b".to_owned())].into(),
        api_id: "devices",
        account_id: "123456789012",
        request_id: "Cx2bQhUeoAMEbcw=",
        trace_id: "Root=1-6742a8c0-0123456789abcdef01234567",
        time: UNIX_EPOCH + Duration::from_millis(1_795_320_000_123),
        authorizer,
    }
}

fn json_of(event: Event) -> Value {
    serde_json::to_value(event).unwrap()
}

#[test]
fn builds_the_documented_shape() {
    let h = headers(&[
        ("host", "127.0.0.1:9108"),
        ("content-type", "application/json"),
        ("user-agent", "app/1.0"),
        ("accept", "a/b"),
        ("accept", "c/d"),
        ("cookie", "c1=v1; c2=v2"),
        ("cookie", "c3=v3"),
        ("connection", "keep-alive"),
        ("x-forwarded-for", "198.51.100.7"),
    ]);
    let claims = [("sub".to_owned(), "u-1".to_owned())].into();
    let authorizer = Authorizer::Jwt { claims, scopes: None };
    let e = json_of(build(received(&h, br#"{"a":1}"#, "x=1&x=2&y=a%20b&flag"), routed(Some(authorizer))));
    assert_eq!(e["version"], "2.0");
    assert_eq!(e["routeKey"], "PUT /users/{id}/devices/{token}");
    assert_eq!(e["rawPath"], "/users/u-1/devices/a%3Ab");
    assert_eq!(e["rawQueryString"], "x=1&x=2&y=a%20b&flag");
    assert_eq!(e["queryStringParameters"], json!({"x": "1,2", "y": "a b", "flag": ""}));
    assert_eq!(e["pathParameters"], json!({"id": "u-1", "token": "a:b"}));
    assert_eq!(e["cookies"], json!(["c1=v1", "c2=v2", "c3=v3"]));
    let headers = &e["headers"];
    assert_eq!(headers["accept"], "a/b,c/d");
    assert!(headers.get("cookie").is_none() && headers.get("connection").is_none());
    assert_eq!(headers["x-forwarded-for"], "198.51.100.7, 127.0.0.1");
    assert_eq!(headers["x-forwarded-port"], "9108");
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert_eq!(headers["x-amzn-trace-id"], "Root=1-6742a8c0-0123456789abcdef01234567");
    let ctx = &e["requestContext"];
    assert_eq!(ctx["authorizer"], json!({"jwt": {"claims": {"sub": "u-1"}, "scopes": null}}));
    assert_eq!(ctx["domainName"], "127.0.0.1");
    assert_eq!(ctx["domainPrefix"], "127");
    assert_eq!(
        ctx["http"],
        json!({"method": "PUT", "path": "/users/u-1/devices/a%3Ab", "protocol": "HTTP/1.1",
                                   "sourceIp": "127.0.0.1", "userAgent": "app/1.0"})
    );
    assert_eq!(ctx["stage"], "$default");
    assert_eq!(ctx["routeKey"], e["routeKey"]);
    assert_eq!(ctx["time"], "22/Nov/2026:04:00:00 +0000");
    assert_eq!(ctx["timeEpoch"], 1_795_320_000_123u64);
    assert_eq!((e["body"].as_str(), e["isBase64Encoded"].as_bool()), (Some(r#"{"a":1}"#), Some(false)));
}

#[test]
fn lambda_runtimes_read_it_as_an_api_gateway_v2_request() {
    let h = headers(&[("host", "127.0.0.1:9108"), ("content-type", "application/json")]);
    let iam = IamContext {
        access_key: "local".into(),
        account_id: "123456789012".into(),
        caller_id: "AIDA".into(),
        cognito_identity: None,
        principal_org_id: None,
        user_arn: "arn:aws:iam::123456789012:user/x".into(),
        user_id: "AIDA".into(),
    };
    let text = serde_json::to_string(&build(received(&h, b"{}", ""), routed(Some(Authorizer::Iam(iam))))).unwrap();
    let parsed: ApiGatewayV2httpRequest = serde_json::from_str(&text).unwrap();
    let iam = parsed.request_context.authorizer.unwrap().iam.unwrap();
    assert_eq!(iam.user_arn.as_deref(), Some("arn:aws:iam::123456789012:user/x"));
    assert_eq!(parsed.path_parameters["token"], "a:b");
    assert!(parsed.query_string_parameters.is_empty());
    assert!(parsed.cookies.is_none());
}

#[test]
fn fields_without_content_are_left_out() {
    let h = headers(&[("host", "h")]);
    let mut r = routed(None);
    r.path_parameters.clear();
    let e = json_of(build(received(&h, b"", ""), r));
    for absent in ["cookies", "queryStringParameters", "pathParameters", "body"] {
        assert!(e.get(absent).is_none(), "{absent}");
    }
    assert!(e["requestContext"].get("authorizer").is_none());
    assert_eq!(e["isBase64Encoded"], false);
    assert_eq!(e["requestContext"]["http"]["userAgent"], "");
}

#[test]
fn only_text_types_travel_as_text() {
    let body = "a=1&b=é".as_bytes();
    for (content_type, base64) in [
        (Some("application/json; charset=utf-8"), false),
        (Some("Text/HTML"), false),
        (Some("application/xml"), false),
        (Some("application/javascript"), false),
        (Some("application/x-www-form-urlencoded"), true),
        (Some("application/problem+json"), true),
        (Some("application/octet-stream"), true),
        (None, true),
    ] {
        let mut h = headers(&[("host", "h")]);
        if let Some(t) = content_type {
            h.insert("content-type", HeaderValue::from_static(t));
        }
        let e = json_of(build(received(&h, body, ""), routed(None)));
        assert_eq!(e["isBase64Encoded"], base64, "{content_type:?}");
        let sent = e["body"].as_str().unwrap();
        let decoded = if base64 { STANDARD.decode(sent).unwrap() } else { sent.as_bytes().to_vec() };
        assert_eq!(decoded, body, "{content_type:?}");
    }
    // Bytes that are not UTF-8 cannot be sent as text whatever the type says.
    let h = headers(&[("content-type", "text/plain")]);
    let e = json_of(build(received(&h, &[0xff, 0xfe], ""), routed(None)));
    assert_eq!(e["isBase64Encoded"], true);
}
