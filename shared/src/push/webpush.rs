//! Web Push (RFC 8030): one POST to the subscription's endpoint, the payload
//! encrypted for the browser (RFC 8291, `aes128gcm`), signed with VAPID
//! (RFC 8292, see `vapid`).
//!
//! Encryption: web-push-native's `encrypt`. It is RFC 8291 as a whole (ECDH,
//! the two HKDF steps, one aes128gcm record) on RustCrypto, so no C library
//! next to aws-lc, and it is the crate the local sandbox decrypts with; the
//! sandbox's tests also decrypt RFC 8291's own example, so a mistake both
//! sides shared would still show. Its VAPID is not used (see `vapid`).
//!
//! Transport: hyper-util's pooled client over hyper-rustls. Endpoints point
//! at whatever push service each browser uses (FCM, Mozilla, Apple, WNS),
//! some over HTTP/2 and some over HTTP/1.1; the pooled client keeps
//! connections per origin and speaks what ALPN agrees. `h2::H2Pool`, which
//! APNs and FCM use, is HTTP/2 only and built for one origin, so a map of
//! them would refuse HTTP/1.1 services. The cost is one HTTP/2 connection
//! per origin, whose 100-odd streams outrun the encryption's CPU long before
//! they fill.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use http::{HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde_json::Value;
use tokio::sync::Semaphore;
use web_push_native::Auth;

use super::vapid::VapidSigner;
use super::{Outcome, Receipt, header_text};
use crate::batch::{WebKeys, endpoint_problem};
use crate::clock::now_secs;
use crate::render::WebHeaders;

#[derive(Debug, Clone)]
pub struct WebPushOptions {
    pub max_in_flight: usize,
    pub request_timeout: Duration,
}

pub struct WebPushClient {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    signer: VapidSigner,
    in_flight: Semaphore,
    timeout: Duration,
    /// Read each delivery's `Location` (see `with_receipts`).
    receipts: bool,
}

impl WebPushClient {
    /// `tls` is the push clients' config (roots, extra CA); ALPN is set here
    /// to offer both h2 and http/1.1.
    pub fn new(tls: &Arc<rustls::ClientConfig>, signer: VapidSigner, options: &WebPushOptions) -> Self {
        let mut config = (**tls).clone();
        config.alpn_protocols.clear();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            // Plain http reaches only loopback endpoints (the local stack):
            // `endpoint_problem` refuses it anywhere else.
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        let http = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        let in_flight = Semaphore::new(options.max_in_flight.max(1));
        Self { http, signer, in_flight, timeout: options.request_timeout, receipts: false }
    }

    /// Keeps the push service's message resource for each delivery in its
    /// `Outcome::Delivered`.
    pub fn with_receipts(mut self, receipts: bool) -> Self {
        self.receipts = receipts;
        self
    }

    /// The `applicationServerKey` sites must subscribe with.
    pub fn public_key(&self) -> &str {
        self.signer.public_key()
    }

    /// Encrypts `plaintext` for the subscription and sends it.
    pub async fn send(&self, endpoint: &str, keys: &WebKeys, plaintext: &[u8], headers: &WebHeaders) -> Outcome {
        let request = match self.request(endpoint, keys, plaintext, headers) {
            Ok(r) => r,
            Err(reason) => return Outcome::Failed(reason),
        };
        let Ok(_permit) = self.in_flight.acquire().await else {
            return Outcome::Failed("the Web Push client is shut down".into());
        };
        let work = async {
            let response = self.http.request(request).await.map_err(|e| e.to_string())?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok::<_, String>((parts, body))
        };
        // The push service's time, from here: not the wait for a permit.
        let started = std::time::Instant::now();
        let outcome = match tokio::time::timeout(self.timeout, work).await {
            Ok(Ok((parts, body))) => {
                classify(parts.status, &body, super::retry_after(&parts.headers)).with_receipt(self.receipts, || {
                    Receipt { webpush_location: header_text(&parts.headers, "location"), ..Receipt::default() }
                })
            }
            Ok(Err(e)) => Outcome::Retry { reason: format!("request failed: {e}"), after: None },
            Err(_) => Outcome::Retry { reason: format!("no answer within {:?}", self.timeout), after: None },
        };
        crate::metrics::latency(crate::metrics::Provider::WebPush, started.elapsed());
        crate::metrics::answer(crate::metrics::Provider::WebPush, outcome.class());
        outcome
    }

    /// Called when a send came back [`Outcome::AuthExpired`].
    pub fn renew(&self) {
        self.signer.forget();
    }

    fn request(
        &self,
        endpoint: &str,
        keys: &WebKeys,
        plaintext: &[u8],
        headers: &WebHeaders,
    ) -> Result<Request<Full<Bytes>>, String> {
        if let Some(problem) = endpoint_problem(endpoint) {
            return Err(format!("the subscription's endpoint {problem}"));
        }
        let uri: Uri = endpoint.parse().map_err(|e| format!("the endpoint is not a URL: {e}"))?;
        let (public, auth) = keys.decode().map_err(|e| e.to_string())?;
        let body = web_push_native::encrypt(plaintext.to_vec(), &public, &Auth::from(auth))
            .map_err(|e| format!("cannot encrypt the message: {e}"))?;
        let authorization = self.signer.authorization(&origin(&uri), now_secs()).map_err(|e| e.to_string())?;
        let mut request = Request::post(uri).body(Full::new(Bytes::from(body))).map_err(|e| e.to_string())?;
        let map = request.headers_mut();
        map.insert(AUTHORIZATION, authorization);
        map.insert("ttl", headers.ttl.clone());
        map.insert("urgency", headers.urgency.clone());
        if let Some(topic) = &headers.topic {
            map.insert("topic", topic.clone());
        }
        map.insert(CONTENT_ENCODING, HeaderValue::from_static("aes128gcm"));
        map.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        Ok(request)
    }
}

/// The push resource's origin (RFC 6454: scheme, host, and the port unless
/// it is the scheme's default), which VAPID's `aud` must name.
pub fn origin(uri: &Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("https");
    let host = uri.host().unwrap_or("");
    match uri.port_u16() {
        Some(port) if !matches!((scheme, port), ("https", 443) | ("http", 80)) => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    }
}

/// Maps a push service's answer (RFC 8030 §5, §6.2, §8.3; autopush's error
/// bodies) to an outcome.
pub fn classify(status: StatusCode, body: &[u8], retry_after: Option<Duration>) -> Outcome {
    if status.is_success() {
        return Outcome::Delivered(Receipt::default());
    }
    let json = serde_json::from_slice::<Value>(body).ok();
    let said = |key: &str| json.as_ref().and_then(|v| v.get(key)).and_then(Value::as_str).map(str::to_owned);
    let reason = match said("reason").or_else(|| said("message")) {
        Some(said) => format!("{} {said}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    };
    match status.as_u16() {
        // The subscription is gone or was never there: the browser
        // unsubscribed, or the push service expired it.
        404 | 410 => Outcome::Dead(reason),
        429 | 500..=599 => Outcome::Retry { reason, after: retry_after },
        // The JWT itself was refused: sign a new one once.
        401 => Outcome::AuthExpired(reason),
        // 400 (a header or the encryption), 403 (a subscription made for
        // another applicationServerKey: live, but not ours to reach), 413.
        _ => Outcome::Failed(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_answer_maps() {
        let c = |s: u16, body: &str| classify(StatusCode::from_u16(s).unwrap(), body.as_bytes(), None);
        assert_eq!(c(201, ""), Outcome::Delivered(Receipt::default()));
        assert_eq!(c(410, r#"{"errno":103,"reason":"Gone"}"#), Outcome::Dead("410 Gone".into()));
        assert!(matches!(c(404, ""), Outcome::Dead(_)));
        for s in [429, 500, 502, 503] {
            assert!(matches!(c(s, ""), Outcome::Retry { .. }), "{s}");
        }
        assert_eq!(c(413, r#"{"message":"too big"}"#), Outcome::Failed("413 too big".into()));
        assert!(matches!(c(400, r#"{"reason":"InvalidTopic"}"#), Outcome::Failed(r) if r.contains("InvalidTopic")));
        assert!(matches!(c(403, ""), Outcome::Failed(_)), "another application server's subscription");
        assert!(matches!(c(401, ""), Outcome::AuthExpired(_)));
        let o = classify(StatusCode::TOO_MANY_REQUESTS, b"", Some(Duration::from_secs(9)));
        assert_eq!(o, Outcome::Retry { reason: "HTTP 429".into(), after: Some(Duration::from_secs(9)) });
    }

    #[test]
    fn the_origin_keeps_a_port_only_when_it_is_not_the_default() {
        let o = |u: &str| origin(&u.parse().unwrap());
        assert_eq!(o("https://127.0.0.1:9443/wp/1"), "https://127.0.0.1:9443");
        assert_eq!(o("https://fcm.googleapis.com/fcm/send/x"), "https://fcm.googleapis.com");
        assert_eq!(o("https://web.push.apple.com:443/x"), "https://web.push.apple.com");
        assert_eq!(o("http://127.0.0.1:80/x"), "http://127.0.0.1");
    }
}
