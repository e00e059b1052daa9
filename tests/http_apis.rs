//! The local gateway serves template.yaml's HTTP APIs: local/apis.json has
//! exactly the template's routes, each to the same function with the same
//! authorizer, for every API (SAM `HttpApi` events, and plain
//! `AWS::ApiGatewayV2::Route` resources), and each API's JWT authorizer
//! trusts the local issuer for the client local/users.json has for it.
//!
//! A route whose authorizer depends on a condition is compared as the
//! template's default parameters make it: the local stack runs the
//! defaults.

use std::collections::BTreeSet;
use std::path::Path;

use serde_norway::Value;

/// (API, route key, function binary, auth: jwt | iam | none).
type RouteRow = (String, String, String, String);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root")
}

fn template() -> Value {
    serde_norway::from_str(&std::fs::read_to_string(root().join("template.yaml")).unwrap()).unwrap()
}

fn local_apis() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(root().join("local/apis.json")).unwrap()).unwrap()
}

/// The value under a short-form tag (`!Ref X` → `X`), if `v` has that tag.
fn tagged<'a>(v: &'a Value, tag: &str) -> Option<&'a Value> {
    match v {
        Value::Tagged(t) if t.tag == tag => Some(&t.value),
        _ => None,
    }
}

fn resource<'a>(t: &'a Value, name: &str) -> &'a Value {
    &t["Resources"][name]
}

fn binary_of(t: &Value, function: &str) -> String {
    resource(t, function)["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap().to_owned()
}

/// Resolves `!If [Condition, a, b]` with the template's default parameters;
/// conditions are `!Equals [!Ref Param, literal]`, the only shape used.
fn resolve<'a>(t: &Value, v: &'a Value) -> &'a Value {
    let Some(args) = tagged(v, "If").and_then(Value::as_sequence) else { return v };
    let condition = &t["Conditions"][args[0].as_str().unwrap()];
    let equals = tagged(condition, "Equals").and_then(Value::as_sequence).expect("an !Equals condition");
    let param = tagged(&equals[0], "Ref").and_then(Value::as_str).expect("!Ref of a parameter");
    let default = serde_norway::to_string(&t["Parameters"][param]["Default"]).unwrap();
    let holds = default.trim() == serde_norway::to_string(&equals[1]).unwrap().trim();
    resolve(t, &args[if holds { 1 } else { 2 }])
}

/// Every route of every HTTP API in the template.
fn template_routes(t: &Value) -> BTreeSet<RouteRow> {
    let mut out = BTreeSet::new();
    for (name, r) in t["Resources"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        match r["Type"].as_str() {
            Some("AWS::Serverless::Function") => {
                let Some(events) = r["Properties"]["Events"].as_mapping() else { continue };
                for (_, event) in events.iter().filter(|(_, e)| e["Type"].as_str() == Some("HttpApi")) {
                    let props = &event["Properties"];
                    let api = tagged(&props["ApiId"], "Ref").and_then(Value::as_str).unwrap().to_owned();
                    let default = &resource(t, &api)["Properties"]["Auth"]["DefaultAuthorizer"];
                    let auth = match (props["Auth"]["Authorizer"].as_str(), default.is_string()) {
                        (Some("AWS_IAM"), _) => "iam",
                        (Some("NONE"), _) | (None, false) => "none",
                        _ => "jwt",
                    };
                    let key = format!("{} {}", props["Method"].as_str().unwrap(), props["Path"].as_str().unwrap());
                    out.insert((api, key, binary_of(t, name), auth.to_owned()));
                }
            }
            Some("AWS::ApiGatewayV2::Route") => {
                let props = &r["Properties"];
                let api = tagged(&props["ApiId"], "Ref").and_then(Value::as_str).unwrap().to_owned();
                // Target: !Sub integrations/${Integration}
                let target = tagged(&props["Target"], "Sub").and_then(Value::as_str).unwrap();
                let integration = target.trim_start_matches("integrations/${").trim_end_matches('}');
                let uri = &resource(t, integration)["Properties"]["IntegrationUri"];
                let function = tagged(uri, "GetAtt").and_then(Value::as_str).unwrap().trim_end_matches(".Arn");
                let auth = match resolve(t, &props["AuthorizationType"]).as_str() {
                    Some("JWT") => "jwt",
                    Some("AWS_IAM") => "iam",
                    Some("NONE") => "none",
                    other => panic!("{name}: AuthorizationType {other:?}"),
                };
                let key = props["RouteKey"].as_str().unwrap().to_owned();
                out.insert((api, key, binary_of(t, function), auth.to_owned()));
            }
            _ => {}
        }
    }
    out
}

#[test]
fn the_gateway_serves_every_template_route_with_its_authorizer() {
    let t = template();
    let from_template = template_routes(&t);
    let apis = local_apis();
    let mut local = BTreeSet::new();
    for api in apis["apis"].as_array().unwrap() {
        for r in api["routes"].as_array().unwrap() {
            let text = |k: &str| r[k].as_str().unwrap().to_owned();
            local.insert((api["name"].as_str().unwrap().to_owned(), text("route"), text("function"), text("auth")));
        }
    }
    assert_eq!(local, from_template);
    for api in ["DevicesApi", "ApprovalHttpApi"] {
        assert!(from_template.iter().any(|r| r.0 == api), "{api} has no routes");
    }
    // The approval pages are for signed-in staff; only the links are open.
    for (_, key, _, auth) in from_template.iter().filter(|r| r.0 == "ApprovalHttpApi") {
        assert_eq!(auth == "none", key.contains("/links/"), "{key} is {auth}");
    }
}

/// The condition flips the link's POST, and only it, to the JWT authorizer.
#[test]
fn approver_sign_in_puts_the_authorizer_on_the_link_post() {
    let mut t = template();
    let default = template_routes(&t);
    t["Parameters"]["ApprovalApproverSignIn"]["Default"] = Value::String("required".into());
    let required = template_routes(&t);
    let changed: Vec<_> = required.difference(&default).collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!((changed[0].1.as_str(), changed[0].3.as_str()), ("POST /requests/{id}/links/{token}", "jwt"));
}

/// Each API's JWT authorizer trusts the local issuer and accepts the app
/// client local/users.json keeps for it.
#[test]
fn each_jwt_api_trusts_the_local_issuer_for_its_client() {
    let users: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("local/users.json")).unwrap()).unwrap();
    let clients: Vec<&str> =
        users["clients"].as_array().unwrap().iter().map(|c| c["client_id"].as_str().unwrap()).collect();
    for (api, client) in [("DevicesApi", "pushbatch-app"), ("ApprovalHttpApi", "pushbatch-console")] {
        let apis = local_apis();
        let local = apis["apis"].as_array().unwrap().iter().find(|a| a["name"] == api).unwrap().clone();
        assert_eq!(local["jwt"]["issuer"], "local", "{api}");
        assert_eq!(local["jwt"]["audience"], serde_json::json!([client]), "{api}");
        assert!(clients.contains(&client), "{client} is not a client of local/users.json");
    }
    let t = template();
    let approval = &resource(&t, "ApprovalJwtAuthorizer")["Properties"];
    assert_eq!(approval["AuthorizerType"].as_str(), Some("JWT"));
    assert_eq!(tagged(&approval["ApiId"], "Ref").and_then(Value::as_str), Some("ApprovalHttpApi"));
}
