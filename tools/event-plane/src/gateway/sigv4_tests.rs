use std::time::UNIX_EPOCH;

use http::HeaderValue;

use super::*;

const HOST: &str = "127.0.0.1:9108";

fn verifier() -> IamVerifier {
    IamVerifier {
        credential: IamCredential { access_key_id: "local".into(), secret_access_key: "local-secret".into() },
        region: "us-east-1".into(),
        account_id: "123456789012".into(),
    }
}

fn at() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

struct Signing<'a> {
    secret: &'a str,
    token: Option<&'a str>,
    region: &'a str,
    service: &'a str,
}

const GOOD: Signing<'static> = Signing { secret: "local-secret", token: None, region: "us-east-1", service: SERVICE };

/// Signs as a client does with the SDK's signer (user-agent is left unsigned).
fn signed(method: &str, path_and_query: &str, body: &[u8], how: &Signing<'_>) -> HeaderMap {
    let identity: Identity = Credentials::new("local", how.secret, how.token.map(str::to_owned), None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(how.region)
        .name(how.service)
        .time(at())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("http://{HOST}{path_and_query}"))
        .header("host", HOST)
        .header("content-type", "application/json")
        .header("user-agent", "backend/1.0")
        .body(body.to_vec())
        .unwrap();
    let headers: Vec<(String, String)> =
        request.headers().iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned())).collect();
    let signable = SignableRequest::new(
        method,
        request.uri().to_string(),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(&mut request);
    request.headers().clone()
}

const PATH: &str = "/backend/users/u-2/devices?b=2&a=%20x";
const BODY: &[u8] = br#"{"platform":"android","token":"t"}"#;

#[test]
fn a_request_signed_with_the_stack_credentials_passes() {
    let headers = signed("PUT", PATH, BODY, &GOOD);
    let context = verifier().verify("PUT", PATH, &headers, BODY, at() + Duration::from_secs(60)).unwrap();
    assert_eq!(context.access_key, "local");
    assert_eq!(context.account_id, "123456789012");
    assert_eq!(context.user_arn, "arn:aws:iam::123456789012:user/pushbatch-local");
    assert_eq!(context.caller_id, context.user_id);
    // The proxy changing an unsigned header does not matter.
    let mut changed = headers.clone();
    changed.insert("user-agent", HeaderValue::from_static("proxy"));
    assert!(verifier().verify("PUT", PATH, &changed, BODY, at()).is_ok());
    // Temporary credentials sign their session token too.
    let with_token = Signing { token: Some("session-token"), ..GOOD };
    let headers = signed("PUT", PATH, BODY, &with_token);
    assert!(verifier().verify("PUT", PATH, &headers, BODY, at()).is_ok());
}

#[test]
fn any_change_to_a_signed_part_is_refused() {
    let headers = signed("PUT", PATH, BODY, &GOOD);
    let v = verifier();
    assert_eq!(v.verify("PUT", PATH, &headers, b"{}", at()), Err(IamRefusal::Mismatch));
    assert_eq!(v.verify("DELETE", PATH, &headers, BODY, at()), Err(IamRefusal::Mismatch));
    assert_eq!(
        v.verify("PUT", "/backend/users/u-3/devices?b=2&a=%20x", &headers, BODY, at()),
        Err(IamRefusal::Mismatch)
    );
    let mut other_type = headers.clone();
    other_type.insert("content-type", HeaderValue::from_static("text/plain"));
    assert_eq!(v.verify("PUT", PATH, &other_type, BODY, at()), Err(IamRefusal::Mismatch));
    let mut dropped = headers.clone();
    dropped.remove("content-type");
    assert!(matches!(v.verify("PUT", PATH, &dropped, BODY, at()), Err(IamRefusal::Malformed(_))));
    let wrong_secret = signed("PUT", PATH, BODY, &Signing { secret: "guess", ..GOOD });
    assert_eq!(v.verify("PUT", PATH, &wrong_secret, BODY, at()), Err(IamRefusal::Mismatch));
}

#[test]
fn scope_key_and_time_are_checked() {
    let v = verifier();
    let s3 = signed("PUT", PATH, BODY, &Signing { service: "s3", ..GOOD });
    assert!(matches!(v.verify("PUT", PATH, &s3, BODY, at()), Err(IamRefusal::Scope(_))));
    let west = signed("PUT", PATH, BODY, &Signing { region: "eu-west-1", ..GOOD });
    assert!(matches!(v.verify("PUT", PATH, &west, BODY, at()), Err(IamRefusal::Scope(_))));
    let headers = signed("PUT", PATH, BODY, &GOOD);
    let mut stranger = verifier();
    stranger.credential.access_key_id = "someone-else".into();
    assert_eq!(stranger.verify("PUT", PATH, &headers, BODY, at()), Err(IamRefusal::UnknownKey("local".into())));
    let late = at() + MAX_SKEW + Duration::from_secs(1);
    assert_eq!(v.verify("PUT", PATH, &headers, BODY, late), Err(IamRefusal::Expired));
    let early = at() - MAX_SKEW - Duration::from_secs(1);
    assert_eq!(v.verify("PUT", PATH, &headers, BODY, early), Err(IamRefusal::Expired));
}

#[test]
fn unsigned_or_garbled_requests_are_refused() {
    let v = verifier();
    assert_eq!(v.verify("PUT", PATH, &HeaderMap::new(), BODY, at()), Err(IamRefusal::Missing));
    let mut bearer = HeaderMap::new();
    bearer.insert("authorization", HeaderValue::from_static("Bearer abc"));
    assert_eq!(v.verify("PUT", PATH, &bearer, BODY, at()), Err(IamRefusal::Missing));
    let mut garbled = signed("PUT", PATH, BODY, &GOOD);
    garbled.insert("authorization", HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=local/20270115"));
    assert!(v.verify("PUT", PATH, &garbled, BODY, at()).is_err());
}
