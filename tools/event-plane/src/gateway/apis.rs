//! `local/apis.json`: the HTTP APIs the gateway serves, the local mirror of
//! template.yaml's `AWS::Serverless::HttpApi` resources and the `HttpApi`
//! events of their functions.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::Deserialize;

use super::route_key::{RouteKey, RouteKeyError};
use crate::json_file::{self, JsonFileError};
use crate::routes::is_function_name;

/// The `issuer` that names the plane's own issuer, whose URL is only known
/// once its listener is bound.
pub const LOCAL_ISSUER: &str = "local";

#[derive(Debug, thiserror::Error)]
pub enum ApisError {
    #[error("APIs file: {0}")]
    File(#[from] JsonFileError),
    #[error("parsing APIs: {0}")]
    Json(#[source] serde_json::Error),
    #[error("API {api:?}: {source}")]
    RouteKey { api: String, source: RouteKeyError },
    #[error("invalid APIs: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthKind {
    /// The API's JWT authorizer.
    Jwt,
    /// `AWS_IAM`: a SigV4 signature with the stack's credentials.
    Iam,
    /// No authorizer.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSpec {
    /// `"local"` or an `http://` issuer URL (the plane fetches keys over
    /// plain HTTP on loopback only).
    pub issuer: String,
    /// Accepted `aud` (or, for tokens without `aud`, `client_id`) values.
    pub audience: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteSpec {
    route: String,
    function: String,
    auth: AuthKind,
    #[serde(default)]
    scopes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiSpec {
    name: String,
    #[serde(default)]
    api_id: Option<String>,
    #[serde(default)]
    jwt: Option<JwtSpec>,
    routes: Vec<RouteSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApisFile {
    apis: Vec<ApiSpec>,
}

#[derive(Debug, Clone)]
pub struct Route {
    pub key: RouteKey,
    /// The key as API Gateway writes it into `routeKey`.
    pub key_text: String,
    pub function: String,
    pub auth: AuthKind,
    /// `authorizationScopes`: the token must carry one of them.
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Api {
    pub name: String,
    /// `requestContext.apiId`.
    pub api_id: String,
    pub jwt: Option<JwtSpec>,
    pub routes: Vec<Route>,
}

/// A request's route: which API, which route, and the decoded path parameters.
#[derive(Debug)]
pub struct Found<'a> {
    pub api: &'a Api,
    pub route: &'a Route,
    pub path_parameters: BTreeMap<String, String>,
}

/// Every API the gateway serves, validated. All share one listener, so a
/// route key may appear in one API only.
#[derive(Debug, Clone, Default)]
pub struct Apis {
    pub apis: Vec<Api>,
}

impl Apis {
    pub fn load(path: &Path) -> Result<Apis, ApisError> {
        Apis::validate(json_file::read(path)?)
    }

    pub fn from_json(text: &str) -> Result<Apis, ApisError> {
        Apis::validate(serde_json::from_str(text).map_err(ApisError::Json)?)
    }

    fn validate(file: ApisFile) -> Result<Apis, ApisError> {
        let invalid = |api: &str, what: String| ApisError::Invalid(format!("API {api:?}: {what}"));
        let mut names = HashSet::new();
        let mut keys = HashSet::new();
        let mut apis = Vec::with_capacity(file.apis.len());
        for spec in file.apis {
            let name = spec.name;
            if !names.insert(name.clone()) {
                return Err(ApisError::Invalid(format!("API name {name:?} appears twice")));
            }
            let api_id = match spec.api_id {
                Some(id) if is_api_id(&id) => id,
                Some(id) => return Err(invalid(&name, format!("api_id {id:?} is not 1 to 10 of a-z 0-9"))),
                None => {
                    derived_api_id(&name).ok_or_else(|| invalid(&name, "no api_id can be derived from it".into()))?
                }
            };
            if let Some(jwt) = &spec.jwt {
                if jwt.audience.is_empty() || jwt.audience.iter().any(String::is_empty) {
                    return Err(invalid(&name, "jwt.audience needs at least one non-empty value".into()));
                }
                if jwt.issuer != LOCAL_ISSUER && !jwt.issuer.starts_with("http://") {
                    return Err(invalid(
                        &name,
                        format!("jwt.issuer {:?} is neither \"local\" nor http://", jwt.issuer),
                    ));
                }
            }
            let mut routes = Vec::with_capacity(spec.routes.len());
            for r in spec.routes {
                let key =
                    RouteKey::parse(&r.route).map_err(|source| ApisError::RouteKey { api: name.clone(), source })?;
                let key_text = key.to_string();
                if !keys.insert(key_text.clone()) {
                    return Err(invalid(&name, format!("route {key_text:?} is already served by an API")));
                }
                if !is_function_name(&r.function) {
                    return Err(invalid(&name, format!("{:?} is not a Lambda function name", r.function)));
                }
                if r.auth == AuthKind::Jwt && spec.jwt.is_none() {
                    return Err(invalid(
                        &name,
                        format!("route {key_text:?} uses jwt but the API has no jwt authorizer"),
                    ));
                }
                if r.auth != AuthKind::Jwt && !r.scopes.is_empty() {
                    return Err(invalid(&name, format!("route {key_text:?}: scopes need the jwt authorizer")));
                }
                routes.push(Route { key, key_text, function: r.function, auth: r.auth, scopes: r.scopes });
            }
            apis.push(Api { name, api_id, jwt: spec.jwt, routes });
        }
        Ok(Apis { apis })
    }

    /// The route an HTTP API would choose for `method` and the raw `path`.
    pub fn find(&self, method: &str, path: &str) -> Option<Found<'_>> {
        let candidates = self.apis.iter().flat_map(|api| api.routes.iter().map(move |route| (api, route)));
        candidates
            .filter_map(|(api, route)| route.key.matches(method, path).map(|(params, rank)| (rank, api, route, params)))
            .min_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, api, route, path_parameters)| Found { api, route, path_parameters })
    }

    pub fn uses_local_issuer(&self) -> bool {
        self.apis.iter().any(|api| api.jwt.as_ref().is_some_and(|j| j.issuer == LOCAL_ISSUER))
    }

    pub fn uses_iam(&self) -> bool {
        self.apis.iter().flat_map(|api| &api.routes).any(|r| r.auth == AuthKind::Iam)
    }
}

/// API Gateway's API ids are ten characters of a-z and 0-9.
fn is_api_id(id: &str) -> bool {
    (1..=10).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn derived_api_id(name: &str) -> Option<String> {
    let id: String =
        name.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).take(10).collect();
    (!id.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEVICES: &str = r#"{"apis": [{"name": "Devices", "jwt": {"issuer": "local", "audience": ["app"]},
        "routes": [
          {"route": "PUT /users/{id}/devices", "function": "devices", "auth": "jwt"},
          {"route": "PUT /backend/users/{id}/devices", "function": "devices", "auth": "iam"},
          {"route": "GET /open", "function": "other", "auth": "none"}]}]}"#;

    #[test]
    fn finds_routes_with_their_api_and_parameters() {
        let apis = Apis::from_json(DEVICES).unwrap();
        let found = apis.find("PUT", "/users/u-1/devices").unwrap();
        assert_eq!(found.api.api_id, "devices");
        assert_eq!(found.route.key_text, "PUT /users/{id}/devices");
        assert_eq!(found.route.auth, AuthKind::Jwt);
        assert_eq!(found.path_parameters["id"], "u-1");
        assert_eq!(apis.find("PUT", "/backend/users/u-2/devices").unwrap().route.auth, AuthKind::Iam);
        assert!(apis.find("GET", "/users/u-1/devices").is_none());
        assert!(apis.uses_local_issuer() && apis.uses_iam());
    }

    #[test]
    fn refuses_what_api_gateway_would_refuse() {
        let bad = [
            r#"{"apis": [{"name": "a", "routes": [{"route": "GET /x", "function": "f", "auth": "jwt"}]}]}"#,
            r#"{"apis": [{"name": "a", "routes": [{"route": "GET /x", "function": "f", "auth": "iam", "scopes": ["s"]}]}]}"#,
            r#"{"apis": [{"name": "a", "routes": [{"route": "GET /x", "function": "arn:x", "auth": "none"}]}]}"#,
            r#"{"apis": [{"name": "a", "api_id": "Has-Caps", "routes": []}]}"#,
            r#"{"apis": [{"name": "a", "jwt": {"issuer": "local", "audience": []}, "routes": []}]}"#,
            r#"{"apis": [{"name": "a", "jwt": {"issuer": "https://idp", "audience": ["x"]}, "routes": []}]}"#,
            r#"{"apis": [{"name": "a", "routes": [{"route": "GET /x", "function": "f", "auth": "none"}]},
                        {"name": "b", "routes": [{"route": "GET /x", "function": "g", "auth": "none"}]}]}"#,
            r#"{"apis": [{"name": "a", "routes": []}, {"name": "a", "routes": []}]}"#,
        ];
        for text in bad {
            assert!(matches!(Apis::from_json(text), Err(ApisError::Invalid(_))), "{text}");
        }
        let typo = r#"{"apis": [{"name": "a", "routes": [{"route": "GET /x", "function": "f", "auth": "none", "scope": []}]}]}"#;
        assert!(matches!(Apis::from_json(typo), Err(ApisError::Json(_))));
        let key = r#"{"apis": [{"name": "a", "routes": [{"route": "GET x", "function": "f", "auth": "none"}]}]}"#;
        assert!(matches!(Apis::from_json(key), Err(ApisError::RouteKey { .. })));
    }

    #[test]
    fn the_repo_apis_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../local/apis.json");
        let apis = Apis::load(&path).unwrap();
        assert!(apis.find("DELETE", "/users/u-1/devices/t").is_some());
        // Which routes exist is template.yaml's business: the tests crate
        // compares the devices API's routes with it (tests/devices_api.rs).
    }
}
