//! `POST /token`: Google's OAuth2 token endpoint, over HTTP. The grant checks and
//! the issued tokens are in `token_endpoint`, which `App` holds.

use http::{Method, Request, StatusCode};
use hyper::body::Incoming;

// Defined below `app`, which holds the endpoint, so that it does not import this
// handler; re-exported to keep their public paths.
pub use crate::token_endpoint::{
    EXPIRES_IN_SECS, GRANT_TYPE_JWT_BEARER, IssuedToken, OAuthError, SCOPE_CLOUD_PLATFORM, SCOPE_FIREBASE_MESSAGING,
    TokenEndpoint,
};

use crate::app::App;
use crate::http_util::{self, JSON_UTF8, Resp};
use crate::stats::Counter;

const MAX_FORM_BYTES: usize = 64 * 1024;

pub async fn handle(app: &App, req: Request<Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    let result = if parts.method != Method::POST {
        Err(OAuthError { error: "invalid_request", error_description: "The token endpoint only accepts POST.".into() })
    } else {
        match http_util::read_limited(&parts.headers, body, MAX_FORM_BYTES).await {
            Ok(form) => app.oauth.exchange(&form, http_util::now_secs()),
            Err(_) => Err(OAuthError {
                error: "invalid_request",
                error_description: "Request body too large or unreadable.".into(),
            }),
        }
    };
    match result {
        Ok(token) => {
            app.stats.add(Counter::OauthIssued);
            tracing::debug!("oauth token issued");
            let body = serde_json::to_vec(&token).expect("IssuedToken serialises: only strings and an integer");
            let mut r = http_util::with_body(StatusCode::OK, JSON_UTF8, body);
            r.headers_mut().insert(
                http::header::CACHE_CONTROL,
                http::HeaderValue::from_static("no-cache, no-store, max-age=0, must-revalidate"),
            );
            r
        }
        Err(err) => {
            app.stats.add(Counter::OauthRejected);
            tracing::debug!(error = err.error, description = %err.error_description, "oauth rejected");
            let body = serde_json::to_vec(&err).expect("OAuthError serialises: only strings");
            http_util::with_body(StatusCode::BAD_REQUEST, JSON_UTF8, body)
        }
    }
}
