//! Hostile input to the approval form (issue #8, item 5), beyond routes.rs
//! (each field's limits, malformed `data`, bad audiences) and injection.rs
//! (markup escaped everywhere): broken form encodings, bytes that are not
//! UTF-8, huge and deeply nested values, and markup where a path is
//! expected. Each is a 4xx with the problem named, and nothing is stored,
//! written or emailed.

mod common;

use common::*;
use lambda_http::http::Method;

/// A raw POST of the form, with the given content type and bytes.
async fn post_raw(app: &App, content_type: &str, bytes: Vec<u8>) -> (u16, String) {
    let r = app.signed_in(MIA).send(Method::POST, &format!("{BASE}/requests"), Some(content_type), bytes).await;
    (r.status, r.body)
}

async fn assert_nothing_kept(app: &App) {
    assert!(app.deps.requests.all().is_empty(), "nothing is stored");
    assert!(app.deps.mail.sent().is_empty(), "nobody is emailed");
    assert!(app.batches().await.is_empty(), "no batch file is written");
}

fn encoded(fields: &[(&str, String)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            let v: String = v
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
                    _ => format!("%{b:02X}"),
                })
                .collect();
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[tokio::test]
async fn broken_form_bodies_are_refused() {
    let app = App::new();
    let valid = encoded(&form("Hi", "There"));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        // A multipart body with no boundary, and one whose boundary never closes.
        ("multipart/form-data", valid.clone().into_bytes()),
        (
            "multipart/form-data; boundary=XyZ",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHi".to_vec(),
        ),
        // JSON, or nothing at all, where a form is expected.
        ("application/json", br#"{"title": "Hi"}"#.to_vec()),
        ("application/x-www-form-urlencoded", Vec::new()),
    ];
    for (content_type, bytes) in cases {
        let shown = String::from_utf8_lossy(&bytes).into_owned();
        let (status, body) = post_raw(&app, content_type, bytes).await;
        assert!((400..500).contains(&status), "{content_type} {shown:?} → {status}");
        assert!(body.contains("role=\"alert\"") || body.contains("could not be read"), "{shown:?}: {body}");
    }
    assert_nothing_kept(&app).await;
}

#[tokio::test]
async fn broken_percent_escapes_and_non_utf8_are_decoded_as_browsers_do() {
    // Pinned behaviour, not a refusal: the urlencoded parser follows WHATWG,
    // as browsers do, so a bad escape is kept literally and bytes that are
    // not UTF-8 become U+FFFD. The requester sees the decoded values on the
    // status page and in the approvers' email before anything is sent.
    let app = App::new();
    let mut fields = encoded(&form("Hi", "There"));
    fields = fields.replace("title=Hi", "title=100%ZZ%E").replace("body=There", "body=Caf%FF");
    let (status, _) = post_raw(&app, "application/x-www-form-urlencoded", fields.into_bytes()).await;
    assert_eq!(status, 303);
    let stored = app.deps.requests.all();
    assert_eq!(stored.len(), 1);
    let n = &stored[0].header.notification;
    assert_eq!(n.title.as_deref(), Some("100%ZZ%E"));
    assert_eq!(n.body.as_deref(), Some("Caf\u{FFFD}"));
    assert!(app.batches().await.is_empty(), "nothing is written before approval");
}

#[tokio::test]
async fn huge_fields_are_refused() {
    let app = App::new();
    let huge = "x".repeat(1_000_000);
    for field in ["title", "body", "category", "audience_key", "data"] {
        let mut fields = form("Hi", "There");
        fields.retain(|(k, _)| *k != field);
        let value = if field == "data" { format!("{{\"k\": \"{huge}\"}}") } else { huge.clone() };
        fields.push((field, value));
        let (status, body) = post_raw(&app, "application/x-www-form-urlencoded", encoded(&fields).into_bytes()).await;
        assert_eq!(status, 422, "{field}");
        assert!(body.contains("role=\"alert\""), "{field}: an error summary");
    }
    assert_nothing_kept(&app).await;
}

#[tokio::test]
async fn deeply_nested_data_is_refused() {
    let app = App::new();
    let deep = format!("{{\"k\": {}{}}}", "[".repeat(10_000), "]".repeat(10_000));
    let mut fields = form("Hi", "There");
    fields.retain(|(k, _)| *k != "data");
    fields.push(("data", deep));
    let (status, body) = post_raw(&app, "application/x-www-form-urlencoded", encoded(&fields).into_bytes()).await;
    assert_eq!(status, 422);
    assert!(body.contains("id=\"data-error\">Data is not valid JSON"), "{body}");
    assert_nothing_kept(&app).await;
}

#[tokio::test]
async fn markup_and_traversal_in_the_audience_key_are_refused_and_escaped() {
    let app = App::new();
    for key in [
        "requests/<script>alert(1)</script>.jsonl",
        "requests/../batches/x.jsonl",
        "requests/a\u{0}.jsonl",
        "requests/\"><img src=x onerror=alert(1)>.json",
    ] {
        let mut fields = form("Hi", "There");
        fields.retain(|(k, _)| *k != "audience_key");
        fields.push(("audience_key", key.to_owned()));
        let (status, body) = post_raw(&app, "application/x-www-form-urlencoded", encoded(&fields).into_bytes()).await;
        assert_eq!(status, 422, "{key}");
        assert!(body.contains("id=\"audience_key-error\""), "{key}: {body}");
        assert!(!body.contains("<script>alert") && !body.contains("<img src=x"), "{key} is escaped");
    }
    assert_nothing_kept(&app).await;
}
