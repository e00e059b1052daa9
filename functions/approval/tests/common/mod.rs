//! An approval function in-process: the real handler over in-memory ports.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use approval::control::RecordingControls;
use approval::deps::Deps;
use approval::settings::Settings;
use base64::Engine as _;
use lambda_http::http::{Method, header};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::approval::{LinkSigner, MemoryRequests};
use shared::config::EnvReader;
use shared::jobs::MemoryJobs;
use shared::mail::{Mail, MemoryMail};
use shared::objects::MemoryObjects;

pub const BUCKET: &str = "test-bucket";
pub const BASE: &str = "https://push.example.com";
pub const KEY: &[u8] = b"0123456789abcdef0123456789abcdef-test-key";
pub const ANN: &str = "ann@example.com";
pub const BOB: &str = "bob@example.com";
pub const MIA: &str = "mia@example.com";
pub const AUDIENCE_KEY: &str = "requests/q1/audience.jsonl";
pub const T0: i64 = 1_750_000_000;

pub type TestDeps = Deps<MemoryObjects, MemoryRequests, MemoryMail, MemoryJobs, RecordingControls>;

pub struct App {
    pub deps: TestDeps,
    pub now: Arc<AtomicI64>,
}

pub fn settings(extra: &[(&str, &str)]) -> Settings {
    let mut map: BTreeMap<String, String> = [
        ("BUCKET", BUCKET),
        ("REQUESTS_TABLE", "requests"),
        ("JOBS_TABLE", "jobs"),
        ("APPROVERS", "ann@example.com, bob@example.com"),
        ("REQUESTERS", "@example.com"),
        ("APPROVER_USERS", r#"{"ann@example.com": ["u-ann-1", "u-ann-2"]}"#),
        ("PUBLIC_BASE_URL", BASE),
        ("MAIL_FROM", "push@example.com"),
        ("LINK_KEY_FILE", "/unused"),
        ("TEST_SENDS_PER_APPROVER", "2"),
        ("TEST_MIN_INTERVAL_SECONDS", "30"),
        ("MAX_UPLOAD_KB", "4"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        map.insert(k.to_string(), v.to_string());
    }
    let mut env = EnvReader::from_map(&map);
    let s = Settings::from_env(&mut env);
    env.finish().expect("test settings are valid");
    s
}

pub fn audience_jsonl(n: usize) -> String {
    let mut out = String::from("{\"campaign\":\"bi-export\",\"notification\":{\"body\":\"ignored\"}}\n");
    for i in 0..n {
        out.push_str(&format!("\"u-{i}\"\n"));
    }
    out.push_str("{\"no_user\": true}\n");
    out
}

impl App {
    pub fn new() -> Self {
        Self::with(&[])
    }

    pub fn with(extra: &[(&str, &str)]) -> Self {
        let now = Arc::new(AtomicI64::new(T0));
        let clock_now = now.clone();
        let objects = MemoryObjects::default();
        objects.insert(BUCKET, AUDIENCE_KEY, audience_jsonl(5));
        let deps = Deps {
            objects,
            requests: MemoryRequests::default(),
            mail: MemoryMail::default(),
            jobs: MemoryJobs::default(),
            controls: RecordingControls::default(),
            signer: LinkSigner::new(KEY).unwrap(),
            settings: settings(extra),
            clock: Box::new(move || clock_now.load(Ordering::SeqCst)),
        };
        Self { deps, now }
    }

    pub fn advance(&self, secs: i64) {
        self.now.fetch_add(secs, Ordering::SeqCst);
    }

    pub async fn send(&self, request: Request) -> Reply {
        Reply::from(approval::handler::handle(&self.deps, request).await)
    }

    /// Requests with nobody signed in: an approver's link, or a page that
    /// must refuse.
    pub fn anonymous(&self) -> As<'_> {
        As { app: self, who: None, headers: Vec::new() }
    }

    /// Requests that API Gateway's JWT authorizer let through for `who`.
    pub fn signed_in(&self, who: &str) -> As<'_> {
        As { app: self, who: Some(who.to_owned()), headers: Vec::new() }
    }

    pub async fn get(&self, url: &str) -> Reply {
        self.anonymous().get(url).await
    }

    pub async fn post_form(&self, url: &str, pairs: &[(&str, &str)]) -> Reply {
        self.anonymous().post_form(url, pairs).await
    }

    /// Submits the standard form as MIA (audience under requests/); returns the id.
    pub async fn submit(&self, title: &str, body: &str) -> String {
        let reply = self.signed_in(MIA).post_form(&format!("{BASE}/requests"), &pairs(&form(title, body))).await;
        assert_eq!(reply.status, 303, "{}", reply.body);
        request_id_of(&reply.location)
    }

    /// The status page as MIA sees it.
    pub async fn status_page(&self, id: &str) -> Reply {
        self.signed_in(MIA).get(&format!("{BASE}/requests/{id}")).await
    }

    pub fn mails_to(&self, who: &str) -> Vec<Mail> {
        self.deps.mail.to(who)
    }

    /// The link with this button text in the last email to `who`.
    pub fn link(&self, who: &str, button: &str) -> String {
        let mail = self.mails_to(who).pop().unwrap_or_else(|| panic!("no mail to {who}"));
        link_in(&mail.html, button).unwrap_or_else(|| panic!("no {button} link in mail to {who}"))
    }

    pub fn object(&self, key: &str) -> Option<String> {
        self.deps.objects.get(BUCKET, key).map(|b| String::from_utf8(b.to_vec()).unwrap())
    }

    /// Every key under `batches/`.
    pub async fn batches(&self) -> Vec<String> {
        use shared::objects::ObjectList;
        self.deps.objects.list(BUCKET, "batches/").await.unwrap()
    }
}

/// The form's fields; who asks is whoever is signed in.
pub fn form(title: &str, body: &str) -> Vec<(&'static str, String)> {
    vec![
        ("title", title.to_owned()),
        ("body", body.to_owned()),
        ("data", r#"{"deeplink": "app://promo"}"#.to_owned()),
        ("category", "promo".to_owned()),
        ("audience_key", AUDIENCE_KEY.to_owned()),
    ]
}

/// One caller's requests, built as API Gateway delivers them.
pub struct As<'a> {
    app: &'a App,
    who: Option<String>,
    headers: Vec<(String, String)>,
}

impl As<'_> {
    /// Adds a header to every request this makes.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub async fn send(&self, method: Method, url: &str, content_type: Option<&str>, body: Vec<u8>) -> Reply {
        let mut headers: Vec<(&str, &str)> = self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        if let Some(ct) = content_type {
            headers.push(("content-type", ct));
        }
        self.app.send(request(method, url, self.who.as_deref(), &headers, &body)).await
    }

    pub async fn get(&self, url: &str) -> Reply {
        self.send(Method::GET, url, None, Vec::new()).await
    }

    pub async fn post_form(&self, url: &str, pairs: &[(&str, &str)]) -> Reply {
        let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
        self.send(Method::POST, url, Some("application/x-www-form-urlencoded"), body.into_bytes()).await
    }

    pub async fn post_multipart(&self, url: &str, pairs: &[(&str, &str)], file: Option<(&str, &[u8])>) -> Reply {
        let boundary = "----pushbatchtestboundary";
        let mut body = Vec::new();
        for (k, v) in pairs {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes(),
            );
        }
        if let Some((name, bytes)) = file {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"audience_file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let ct = format!("multipart/form-data; boundary={boundary}");
        self.send(Method::POST, url, Some(&ct), body).await
    }
}

/// A payload format 2.0 event, as API Gateway (and the local gateway) sends
/// it: the body base64 unless it is text, and with `who` the JWT
/// authorizer's claims (all strings). Parsed by lambda_http, exactly as the
/// runtime parses what Lambda delivers.
pub fn request(method: Method, url: &str, who: Option<&str>, headers: &[(&str, &str)], body: &[u8]) -> Request {
    request_with_claims(method, url, who.map(claims_of), headers, body)
}

/// The claims the local issuer's ID token carries for `email`, as strings.
pub fn claims_of(email: &str) -> Value {
    json!({
        "sub": format!("staff-{}", email.split('@').next().unwrap_or_default()),
        "email": email, "email_verified": "true", "aud": "pushbatch-console",
        "iss": "https://issuer.example.com", "exp": "1795323600"
    })
}

pub fn request_with_claims(
    method: Method,
    url: &str,
    claims: Option<Value>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Request {
    let uri: lambda_http::http::Uri = url.parse().unwrap();
    let mut header_map = serde_json::Map::new();
    header_map.insert("host".into(), json!("push.example.com"));
    for (k, v) in headers {
        header_map.insert(k.to_ascii_lowercase(), json!(v));
    }
    let text = std::str::from_utf8(body).ok().filter(|_| {
        !headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v.starts_with("multipart/"))
    });
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": uri.path(),
        "rawQueryString": uri.query().unwrap_or(""),
        "headers": header_map,
        "requestContext": {
            "accountId": "123456789012", "apiId": "approval", "domainName": "push.example.com",
            "http": {"method": method.as_str(), "path": uri.path(), "protocol": "HTTP/1.1",
                     "sourceIp": "192.0.2.1", "userAgent": "test"},
            "requestId": "test", "routeKey": "$default", "stage": "$default", "timeEpoch": 0
        },
        "isBase64Encoded": text.is_none(),
    });
    if !body.is_empty() {
        event["body"] = match text {
            Some(t) => json!(t),
            None => json!(base64::engine::general_purpose::STANDARD.encode(body)),
        };
    }
    if let Some(claims) = claims {
        event["requestContext"]["authorizer"] = json!({"jwt": {"claims": claims, "scopes": Value::Null}});
    }
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

pub fn request_id_of(url: &str) -> String {
    let after = url.split("/requests/").nth(1).unwrap_or_else(|| panic!("no request id in {url}"));
    after.chars().take_while(|c| c.is_ascii_hexdigit()).collect()
}

/// The `href` of the `<a>` whose text is `text`.
pub fn link_in(html: &str, text: &str) -> Option<String> {
    let end = html.find(&format!(">{text}</a>"))?;
    let start = html[..end].rfind("href=\"")? + 6;
    let href = &html[start..end];
    Some(href[..href.find('"')?].replace("&amp;", "&"))
}

/// The `action` of the first form on a page.
pub fn form_action(html: &str) -> Option<String> {
    let start = html.find("<form method=\"post\" action=\"")? + 28;
    Some(html[start..start + html[start..].find('"')?].replace("&amp;", "&"))
}

pub struct Reply {
    pub status: u16,
    pub location: String,
    pub content_type: String,
    pub body: String,
    pub headers: lambda_http::http::HeaderMap,
}

impl From<Response<Body>> for Reply {
    fn from(r: Response<Body>) -> Self {
        let header = |name| r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let body = match r.body() {
            Body::Text(t) => t.clone(),
            Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        };
        Self {
            status: r.status().as_u16(),
            location: header(header::LOCATION),
            content_type: header(header::CONTENT_TYPE),
            body,
            headers: r.headers().clone(),
        }
    }
}

pub fn pairs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}
