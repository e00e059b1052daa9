//! Every sample in events/ for approval is an API Gateway HTTP API (payload
//! v2) request that lambda_http accepts and the handler routes.

mod common;

use common::*;

fn sample(name: &str) -> lambda_http::Request {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn each_sample_reaches_its_route() {
    let app = App::with(&[("PUBLIC_BASE_URL", "https://{host}")]);
    let expect = [
        ("approval-form.json", 200, "Request a push notification"),
        ("approval-submit.json", 303, ""),
        ("approval-status.json", 404, "There is no such request."),
        // The sample token is not signed with any real key.
        ("approval-link-confirm.json", 403, "This link is not valid"),
        ("approval-link-act.json", 403, "This link is not valid"),
        ("approval-stop.json", 404, "There is no such request."),
    ];
    for (name, status, text) in expect {
        let reply = app.send(sample(name)).await;
        assert_eq!(reply.status, status, "{name}: {}", reply.body);
        assert!(reply.body.contains(text), "{name}: {}", reply.body);
    }
    let submitted = app.send(sample("approval-submit.json")).await;
    assert!(submitted.location.starts_with("https://abc123.execute-api.us-east-1.amazonaws.com/requests/"));
    let stored = app.deps.requests.all();
    assert_eq!(stored.iter().map(|r| r.requester.as_str()).collect::<Vec<_>>(), [MIA, MIA], "the claims' email");
}

#[test]
fn every_approval_sample_is_covered() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.starts_with("approval-") {
            let request = sample(&name);
            assert!(request.uri().path().starts_with("/requests"), "{name}");
            n += 1;
        }
    }
    assert_eq!(n, 6);
}
