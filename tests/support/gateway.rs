//! Calling the local stack's APIs as their clients do: sign in at the local
//! issuer (`ISSUER_URL`) as one of `LOCAL_USERS_FILE`'s users, or sign a
//! request with SigV4 as a backend does, then call `GATEWAY_URL`.

use std::time::SystemTime;

use anyhow::Context as _;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use serde::Deserialize;
use serde_json::Value;

use crate::Stack;

/// One of the issuer's test users (`local/users.json`).
#[derive(Debug, Clone, Deserialize)]
pub struct LocalUser {
    pub username: String,
    pub password: String,
    pub sub: String,
    pub email: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LocalClient {
    pub client_id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LocalUsers {
    pub clients: Vec<LocalClient>,
    pub users: Vec<LocalUser>,
}

impl LocalUsers {
    /// The file stack.env names.
    pub fn of(stack: &Stack) -> anyhow::Result<LocalUsers> {
        let path = stack.var("LOCAL_USERS_FILE")?;
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {path}"))
    }

    /// The user whose `sub` (user id) this is.
    pub fn with_sub(&self, sub: &str) -> anyhow::Result<&LocalUser> {
        self.users.iter().find(|u| u.sub == sub).with_context(|| format!("no local user has sub {sub}"))
    }
}

/// The issuer's answer to a password sign-in (`id_token`, `access_token`, …).
pub async fn sign_in(stack: &Stack, user: &LocalUser, client_id: &str) -> anyhow::Result<Value> {
    let url = format!("{}/token", stack.var("ISSUER_URL")?);
    let form = [
        ("grant_type", "password"),
        ("username", user.username.as_str()),
        ("password", user.password.as_str()),
        ("client_id", client_id),
    ];
    let body = form
        .iter()
        .map(|(k, v)| format!("{k}={}", form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()))
        .collect::<Vec<_>>()
        .join("&");
    let response = stack
        .http()
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let tokens: Value = response.json().await?;
    anyhow::ensure!(status.is_success(), "signing in as {} failed ({status}): {tokens}", user.username);
    Ok(tokens)
}

/// SigV4 headers (`x-amz-date`, `authorization`) for a call to the gateway
/// with stack.env's credentials, signed as the AWS SDK signs (service
/// `execute-api`). `headers` are the other headers to sign (`host` is added).
pub fn sigv4_headers(
    stack: &Stack,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> anyhow::Result<Vec<(String, String)>> {
    let identity: Identity =
        Credentials::new(stack.var("AWS_ACCESS_KEY_ID")?, stack.var("AWS_SECRET_ACCESS_KEY")?, None, None, "stack.env")
            .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(stack.var("AWS_REGION")?)
        .name("execute-api")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()?
        .into();
    let uri: http::Uri = url.parse()?;
    let host = uri.authority().context("the URL has no host")?.to_string();
    let mut signed: Vec<(&str, &str)> = vec![("host", &host)];
    signed.extend_from_slice(headers);
    let request = SignableRequest::new(method, url, signed.into_iter(), SignableBody::Bytes(body))?;
    let (instructions, _) = sign(request, &params)?.into_parts();
    Ok(instructions.headers().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
}

/// A `/backend/` PUT through the gateway, signed as a backend signs it
/// (`path` from the API's root, e.g. `/backend/users/u-1/preferences`):
/// the status and the JSON answer.
pub async fn backend_put(stack: &Stack, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
    let url = format!("{}{path}", stack.var("GATEWAY_URL")?);
    let bytes = body.to_string();
    let content_type = ("content-type", "application/json");
    let mut request = stack.http().put(&url).header(content_type.0, content_type.1).body(bytes.clone());
    for (name, value) in sigv4_headers(stack, "PUT", &url, &[content_type], bytes.as_bytes())? {
        request = request.header(name, value);
    }
    let response = request.send().await.with_context(|| format!("PUT {url}"))?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    let answer = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((status, answer))
}
