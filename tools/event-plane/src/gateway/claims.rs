//! A verified token's claims as an HTTP API hands them to Lambda in payload
//! format 2.0: `requestContext.authorizer.jwt.claims` maps every top-level
//! claim to a *string*, and `scopes` lists the token's scopes.
//!
//! How non-string claims become strings is not written down for HTTP APIs
//! (the REST-API JWT page that keeps JSON types does not apply). What is
//! observed: numbers keep their JSON text (`"exp": "1795323600"` in AWS's own
//! sample events), and arrays arrive as their elements separated by spaces in
//! brackets (`"[admin editor]"`), which is Go's formatting of a decoded JSON
//! value. Booleans, objects and null are rendered the same Go way (`true`,
//! `map[city:Seattle]` with sorted keys, `<nil>`), so every value has one
//! rendering and nothing is dropped.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

pub fn render_claims(claims: &Map<String, Value>) -> BTreeMap<String, String> {
    claims.iter().map(|(name, value)| (name.clone(), render(value))).collect()
}

fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "<nil>".to_owned(),
        Value::Array(items) => format!("[{}]", items.iter().map(render).collect::<Vec<_>>().join(" ")),
        // serde_json's map is ordered by key, as Go prints maps.
        Value::Object(map) => {
            let inner: Vec<String> = map.iter().map(|(k, v)| format!("{k}:{}", render(v))).collect();
            format!("map[{}]", inner.join(" "))
        }
    }
}

/// The token's scopes: `scope` (OAuth 2.0, space-separated) or `scp` (a
/// list, or a space-separated string, as some issuers write it).
pub fn token_scopes(claims: &Map<String, Value>) -> Vec<String> {
    let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    match (claims.get("scope"), claims.get("scp")) {
        (Some(Value::String(s)), _) => words(s),
        (_, Some(Value::String(s))) => words(s),
        (_, Some(Value::Array(items))) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// `scopes` in the event: `null` unless the route has authorization scopes,
/// as observed on HTTP APIs (a token's `scope` claim alone leaves it null).
pub fn event_scopes(route_scopes: &[String], claims: &Map<String, Value>) -> Option<Vec<String>> {
    (!route_scopes.is_empty()).then(|| token_scopes(claims))
}

/// The route's scope check: the token must carry at least one of them.
pub fn has_a_route_scope(route_scopes: &[String], claims: &Map<String, Value>) -> bool {
    route_scopes.is_empty() || token_scopes(claims).iter().any(|s| route_scopes.contains(s))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn every_claim_becomes_a_string() {
        let c = claims(json!({
            "sub": "u-1", "exp": 1795323600, "ratio": 0.5, "email_verified": true,
            "cognito:groups": ["admin", "editor"], "address": {"zip": "1", "city": "Seattle"},
            "nothing": null, "nested": [[1, 2], "x"]
        }));
        let r = render_claims(&c);
        assert_eq!(r["sub"], "u-1");
        assert_eq!(r["exp"], "1795323600");
        assert_eq!(r["ratio"], "0.5");
        assert_eq!(r["email_verified"], "true");
        assert_eq!(r["cognito:groups"], "[admin editor]");
        assert_eq!(r["address"], "map[city:Seattle zip:1]");
        assert_eq!(r["nothing"], "<nil>");
        assert_eq!(r["nested"], "[[1 2] x]");
        assert_eq!(r.len(), c.len());
    }

    #[test]
    fn scopes_come_from_scope_or_scp() {
        assert_eq!(token_scopes(&claims(json!({"scope": "openid  email"}))), ["openid", "email"]);
        assert_eq!(token_scopes(&claims(json!({"scp": ["a", "b"]}))), ["a", "b"]);
        assert_eq!(token_scopes(&claims(json!({"scp": "a b"}))), ["a", "b"]);
        assert!(token_scopes(&claims(json!({"sub": "x"}))).is_empty());
    }

    #[test]
    fn route_scopes_decide_the_check_and_the_event_field() {
        let c = claims(json!({"scope": "devices.write email"}));
        assert!(has_a_route_scope(&[], &c));
        assert!(has_a_route_scope(&["admin".into(), "devices.write".into()], &c));
        assert!(!has_a_route_scope(&["admin".into()], &c));
        assert_eq!(event_scopes(&[], &c), None);
        assert_eq!(event_scopes(&["admin".into()], &c), Some(vec!["devices.write".into(), "email".into()]));
    }
}
