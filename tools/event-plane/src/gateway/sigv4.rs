//! IAM authorization (`AWS_IAM`) of an HTTP API route. API Gateway checks
//! the request's SigV4 signature for service `execute-api`, then the caller's
//! IAM policy. Locally there is one credential pair, the stack's, and it may
//! call every IAM route; the signature is checked for real: it is recomputed
//! with the AWS SDK's own signer (aws-sigv4) over exactly the headers the
//! client says it signed, and compared in constant time.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use chrono::NaiveDateTime;
use http::HeaderMap;
use serde::Serialize;
use subtle::ConstantTimeEq;

const SERVICE: &str = "execute-api";
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// SigV4 requests are refused when their time is further than this from now.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);
/// The principal the stack's credentials stand for.
const LOCAL_USER: &str = "pushbatch-local";
const LOCAL_USER_ID: &str = "AIDAPUSHBATCHLOCAL";

/// The credential pair IAM routes accept.
#[derive(Clone, PartialEq, Eq)]
pub struct IamCredential {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for IamCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IamCredential").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

/// `requestContext.authorizer.iam`, as API Gateway fills it for a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IamContext {
    pub access_key: String,
    pub account_id: String,
    pub caller_id: String,
    pub cognito_identity: Option<String>,
    pub principal_org_id: Option<String>,
    pub user_arn: String,
    pub user_id: String,
}

/// Why a request is not let through (answered 403 either way; logged).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IamRefusal {
    #[error("no SigV4 Authorization header")]
    Missing,
    #[error("malformed SigV4 request: {0}")]
    Malformed(String),
    #[error("the credential scope {0:?} is not <key>/<date>/{region}/execute-api/aws4_request", region = "<region>")]
    Scope(String),
    #[error("access key {0:?} is not the local stack's")]
    UnknownKey(String),
    #[error("signature expired: x-amz-date is more than 15 minutes from now")]
    Expired,
    #[error("the signature does not match")]
    Mismatch,
    #[error("recomputing the signature: {0}")]
    Signing(String),
}

#[derive(Debug, Clone)]
pub struct IamVerifier {
    pub credential: IamCredential,
    pub region: String,
    pub account_id: String,
}

struct Authorization<'a> {
    key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

impl IamVerifier {
    /// `path_and_query` exactly as the client sent it (still encoded).
    pub fn verify(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<IamContext, IamRefusal> {
        let raw = headers.get(http::header::AUTHORIZATION).ok_or(IamRefusal::Missing)?;
        let raw = raw.to_str().map_err(|_| IamRefusal::Malformed("Authorization is not ASCII".into()))?;
        let auth = parse_authorization(raw)?;
        if auth.region != self.region || auth.service != SERVICE {
            return Err(IamRefusal::Scope(format!("{}/{}/{}/{}", auth.key, auth.date, auth.region, auth.service)));
        }
        if auth.key != self.credential.access_key_id {
            return Err(IamRefusal::UnknownKey(auth.key.to_owned()));
        }
        let amz_date = header_str(headers, "x-amz-date")?.ok_or_else(|| malformed("no x-amz-date header"))?;
        let time = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
            .map_err(|_| malformed("x-amz-date is not YYYYMMDDTHHMMSSZ"))?
            .and_utc();
        if !amz_date.starts_with(auth.date) || auth.date.len() != 8 {
            return Err(malformed("the credential scope's date is not x-amz-date's"));
        }
        let signed_at = SystemTime::from(time);
        let skew = match now.duration_since(signed_at) {
            Ok(behind) => behind,
            Err(ahead) => ahead.duration(),
        };
        if skew > MAX_SKEW {
            return Err(IamRefusal::Expired);
        }
        if !auth.signed_headers.contains(&"host") || !auth.signed_headers.contains(&"x-amz-date") {
            return Err(malformed("host and x-amz-date must be signed"));
        }

        // The signer adds x-amz-date (from the time) and the session token
        // (from the identity) itself; every other signed header is passed on.
        let mut signable: Vec<(&str, &str)> = Vec::new();
        for &name in &auth.signed_headers {
            if name == "x-amz-date" || name == "x-amz-security-token" {
                continue;
            }
            let mut found = false;
            for value in headers.get_all(name) {
                let value = value.to_str().map_err(|_| malformed(&format!("header {name} is not ASCII")))?;
                signable.push((name, value));
                found = true;
            }
            if !found {
                return Err(malformed(&format!("signed header {name} is missing")));
            }
        }
        let session_token = if auth.signed_headers.contains(&"x-amz-security-token") {
            header_str(headers, "x-amz-security-token")?.map(str::to_owned)
        } else {
            None
        };
        let identity: Identity = Credentials::new(
            &self.credential.access_key_id,
            &self.credential.secret_access_key,
            session_token,
            None,
            "event-plane",
        )
        .into();
        let mut settings = SigningSettings::default();
        // Sign what the client signed, user-agent included if it did.
        settings.excluded_headers = None;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(SERVICE)
            .time(signed_at)
            .settings(settings)
            .build()
            .map_err(|e| IamRefusal::Signing(e.to_string()))?
            .into();
        let request = SignableRequest::new(method, path_and_query, signable.into_iter(), SignableBody::Bytes(body))
            .map_err(|e| IamRefusal::Signing(e.to_string()))?;
        let (instructions, signature) =
            sign(request, &params).map_err(|e| IamRefusal::Signing(e.to_string()))?.into_parts();
        let recomputed_headers = instructions
            .headers()
            .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
            .and_then(|(_, value)| parse_authorization(value).ok().map(|a| a.signed_headers.join(";")));
        let same_headers = recomputed_headers.as_deref() == Some(auth.signed_headers.join(";").as_str());
        if !same_headers || !bool::from(signature.as_bytes().ct_eq(auth.signature.as_bytes())) {
            return Err(IamRefusal::Mismatch);
        }
        Ok(IamContext {
            access_key: auth.key.to_owned(),
            account_id: self.account_id.clone(),
            caller_id: LOCAL_USER_ID.to_owned(),
            cognito_identity: None,
            principal_org_id: None,
            user_arn: format!("arn:aws:iam::{}:user/{LOCAL_USER}", self.account_id),
            user_id: LOCAL_USER_ID.to_owned(),
        })
    }
}

fn malformed(what: &str) -> IamRefusal {
    IamRefusal::Malformed(what.to_owned())
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, IamRefusal> {
    headers.get(name).map(|v| v.to_str().map_err(|_| malformed(&format!("{name} is not ASCII")))).transpose()
}

/// `AWS4-HMAC-SHA256 Credential=K/D/R/S/aws4_request, SignedHeaders=a;b, Signature=hex`.
fn parse_authorization(raw: &str) -> Result<Authorization<'_>, IamRefusal> {
    let rest = raw.strip_prefix(ALGORITHM).filter(|r| r.starts_with(' ')).ok_or(IamRefusal::Missing)?;
    let mut fields = [None, None, None];
    for part in rest.split(',') {
        let (name, value) = part.trim().split_once('=').ok_or_else(|| malformed("Authorization field without ="))?;
        let slot = match name {
            "Credential" => 0,
            "SignedHeaders" => 1,
            "Signature" => 2,
            other => return Err(malformed(&format!("unknown Authorization field {other:?}"))),
        };
        fields[slot] = Some(value);
    }
    let [Some(credential), Some(signed), Some(signature)] = fields else {
        return Err(malformed("Authorization needs Credential, SignedHeaders and Signature"));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [key, date, region, service, "aws4_request"] = scope.as_slice() else {
        return Err(IamRefusal::Scope(credential.to_owned()));
    };
    Ok(Authorization { key, date, region, service, signed_headers: signed.split(';').collect(), signature })
}

#[cfg(test)]
#[path = "sigv4_tests.rs"]
mod tests;
