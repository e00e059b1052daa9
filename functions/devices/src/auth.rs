//! Who is calling, as API Gateway's authorizer established it.
//!
//! The function never sees credentials: the HTTP API's JWT authorizer has
//! checked the bearer token's signature, issuer, audience and expiry, and
//! IAM routes have checked the SigV4 signature and the caller's policy,
//! before the request reaches Lambda. What API Gateway puts in
//! `requestContext.authorizer` is therefore the only identity trusted here;
//! headers and the body never are.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use crate::problem::ApiError;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An app user: the JWT's `sub` claim.
    User(String),
    /// A backend principal that called an IAM-authorized route (its ARN, or
    /// caller id when API Gateway gives no ARN).
    Backend(String),
}

/// The caller API Gateway authenticated, if any.
pub fn caller(request: &Request) -> Option<Caller> {
    let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
        return None;
    };
    let authorizer = context.authorizer.as_ref()?;
    if let Some(jwt) = &authorizer.jwt {
        return jwt.claims.get("sub").filter(|s| !s.is_empty()).map(|s| Caller::User(s.clone()));
    }
    let iam = authorizer.iam.as_ref()?;
    [&iam.user_arn, &iam.caller_id]
        .into_iter()
        .flatten()
        .find(|s| !s.is_empty())
        .map(|principal| Caller::Backend(principal.clone()))
}

/// Whether `caller` may manage the devices of `user_id`: users only their
/// own; backend principals any user's, since IAM already decided they may
/// call the route at all.
pub fn authorize(caller: &Caller, user_id: &str) -> Result<(), ApiError> {
    match caller {
        Caller::User(sub) if sub == user_id => Ok(()),
        Caller::User(_) => Err(ApiError::Forbidden),
        Caller::Backend(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn request(authorizer: Option<Value>) -> Request {
        let mut event = json!({
            "version": "2.0",
            "routeKey": "PUT /users/{id}/devices",
            "rawPath": "/users/u-1/devices",
            "rawQueryString": "",
            "headers": {},
            "requestContext": {
                "http": {"method": "PUT", "path": "/users/u-1/devices", "protocol": "HTTP/1.1",
                         "sourceIp": "192.0.2.1", "userAgent": "test"},
                "stage": "$default", "requestId": "r", "timeEpoch": 0
            },
            "isBase64Encoded": false
        });
        if let Some(a) = authorizer {
            event["requestContext"]["authorizer"] = a;
        }
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    #[test]
    fn jwt_subject_is_the_user() {
        let r = request(Some(json!({"jwt": {"claims": {"sub": "u-1", "aud": "app"}, "scopes": null}})));
        assert_eq!(caller(&r), Some(Caller::User("u-1".into())));
    }

    #[test]
    fn jwt_without_subject_is_nobody() {
        let r = request(Some(json!({"jwt": {"claims": {"aud": "app"}}})));
        assert_eq!(caller(&r), None);
        let r = request(Some(json!({"jwt": {"claims": {"sub": ""}}})));
        assert_eq!(caller(&r), None);
    }

    #[test]
    fn iam_principal_is_a_backend() {
        let r = request(Some(json!({"iam": {"accessKey": "AKIA", "accountId": "123456789012",
            "callerId": "AROA:session", "userArn": "arn:aws:sts::123456789012:assumed-role/backend/session",
            "userId": "AROA:session", "cognitoIdentity": null, "principalOrgId": null}})));
        assert_eq!(caller(&r), Some(Caller::Backend("arn:aws:sts::123456789012:assumed-role/backend/session".into())));
    }

    #[test]
    fn no_authorizer_is_nobody() {
        assert_eq!(caller(&request(None)), None);
    }

    #[test]
    fn users_manage_only_their_own_devices() {
        assert_eq!(authorize(&Caller::User("u-1".into()), "u-1"), Ok(()));
        assert_eq!(authorize(&Caller::User("u-1".into()), "u-2"), Err(ApiError::Forbidden));
        assert_eq!(authorize(&Caller::Backend("arn".into()), "u-2"), Ok(()));
    }
}
