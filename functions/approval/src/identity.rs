//! Who is calling, as the HTTP API's JWT authorizer established it.
//!
//! API Gateway has checked the bearer token's signature, issuer, audience
//! and expiry before the request reaches Lambda, and put its claims in
//! `requestContext.authorizer.jwt.claims`. That is the only identity this
//! function trusts: never a form field, a header or a query. A request
//! without it (a route left open by mistake, a direct invoke, `cargo lambda
//! watch`'s own URL) is nobody, and staff pages answer it with 401.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

use crate::html::message;
use crate::reply::html;
use crate::settings::is_email;

/// A signed-in member of staff: the token's `email` claim, lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub email: String,
}

/// The caller API Gateway authenticated, if any. An `email_verified` claim
/// of `false` is nobody: anyone may type an address into a self-service
/// sign-up, and the address is what approvals are checked against.
pub fn caller(request: &Request) -> Option<Caller> {
    let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
        return None;
    };
    let claims = &context.authorizer.as_ref()?.jwt.as_ref()?.claims;
    if claims.get("email_verified").is_some_and(|v| v == "false") {
        return None;
    }
    let email = claims.get("email")?.trim().to_ascii_lowercase();
    is_email(&email).then_some(Caller { email })
}

/// 401: the page needs a signed-in caller. In AWS the authorizer answers
/// this before the function runs; here it is the function's own refusal.
pub fn unauthorized() -> Response<Body> {
    let mut r = html(
        StatusCode::UNAUTHORIZED,
        message(
            "Sign in first",
            "bad",
            "This page is for signed-in staff: open it through your organisation's sign-in. Nothing was changed.",
            "",
        ),
    );
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

/// 403 with a page that says why.
pub fn forbidden(title: &str, text: &str) -> Response<Body> {
    html(StatusCode::FORBIDDEN, message(title, "bad", text, ""))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn request(authorizer: Option<Value>) -> Request {
        let mut event = json!({
            "version": "2.0", "routeKey": "GET /requests/new", "rawPath": "/requests/new", "rawQueryString": "",
            "headers": {"host": "push.example.com"},
            "requestContext": {"http": {"method": "GET", "path": "/requests/new", "protocol": "HTTP/1.1",
                                        "sourceIp": "192.0.2.1", "userAgent": "test"},
                               "stage": "$default", "requestId": "r", "timeEpoch": 0},
            "isBase64Encoded": false
        });
        if let Some(a) = authorizer {
            event["requestContext"]["authorizer"] = a;
        }
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    fn claims(claims: Value) -> Request {
        request(Some(json!({"jwt": {"claims": claims, "scopes": null}})))
    }

    #[test]
    fn the_email_claim_is_the_caller() {
        let r = claims(json!({"sub": "s-1", "email": " Mia@Example.com", "email_verified": "true"}));
        assert_eq!(caller(&r), Some(Caller { email: "mia@example.com".into() }));
    }

    #[test]
    fn no_verified_email_is_nobody() {
        assert_eq!(caller(&request(None)), None);
        assert_eq!(caller(&claims(json!({"sub": "s-1"}))), None);
        assert_eq!(caller(&claims(json!({"email": "not an email"}))), None);
        assert_eq!(caller(&claims(json!({"email": "mia@example.com", "email_verified": "false"}))), None);
        let iam = request(Some(json!({"iam": {"accessKey": "AKIA", "accountId": "1", "callerId": "c",
            "userArn": "arn:aws:iam::1:user/x", "userId": "u", "cognitoIdentity": null, "principalOrgId": null}})));
        assert_eq!(caller(&iam), None);
    }
}
