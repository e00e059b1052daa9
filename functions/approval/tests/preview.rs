//! What approvers see (issue 15): the message as the audience's first three
//! users will get it, with their own vars; how many users there are and how
//! many bring their own devices, which must be declared; and bad input is
//! named and changes nothing.

mod common;

use common::*;
use shared::approval::RequestGet;

const VARS_AUDIENCE: &str = "requests/q2/vars.jsonl";
const DEVICES_AUDIENCE: &str = "requests/q3/devices.jsonl";

fn ios(n: u32) -> String {
    format!("{{\"platform\": \"ios\", \"token\": \"{:064x}\"}}", 0xA000 + n)
}

/// Four users with vars (one invalid entry first), the first three shown.
fn vars_audience() -> String {
    [
        r#"{"campaign": "bi", "notification": {"body": "ignored"}}"#.to_owned(),
        r#"{"no_user": true}"#.to_owned(),
        r#"{"user_id": "u-ann", "vars": {"name": "Ann", "city": "Oslo", "unused": "x"}}"#.to_owned(),
        r#"{"user_id": "u-bo", "vars": {"name": "<b>Bo</b>"}}"#.to_owned(),
        r#""u-nameless""#.to_owned(),
        r#"{"user_id": "u-fourth", "vars": {"name": "Fourth"}}"#.to_owned(),
    ]
    .join("\n")
}

fn devices_audience() -> String {
    [
        format!(r#"{{"user_id": "u-1", "vars": {{"name": "One"}}, "devices": [{}, {}]}}"#, ios(1), ios(2)),
        r#""u-2""#.to_owned(),
        format!(r#"{{"user_id": "u-3", "devices": [{}]}}"#, ios(3)),
    ]
    .join("\n")
}

fn app() -> App {
    let app = App::new();
    app.deps.objects.insert(BUCKET, VARS_AUDIENCE, vars_audience());
    app.deps.objects.insert(BUCKET, DEVICES_AUDIENCE, devices_audience());
    app
}

fn fields(audience: &str, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut f = form("Hello {{name}}", "Hi {{ name }} in {{city}}: -20% today");
    f.retain(|(k, _)| *k != "audience_key");
    f.push(("audience_key", audience.to_owned()));
    f.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    f
}

async fn submit(app: &App, fields: &[(&'static str, String)]) -> Reply {
    app.signed_in(MIA).post_form(&format!("{BASE}/requests"), &pairs(fields)).await
}

#[tokio::test]
async fn the_preview_renders_the_first_three_users_with_their_vars() {
    let app = app();
    let r = submit(&app, &fields(VARS_AUDIENCE, &[])).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let id = request_id_of(&r.location);
    let stored = app.deps.requests.get(&id).await.unwrap().unwrap();
    let ids: Vec<&str> = stored.samples.iter().map(|s| s.user_id.as_str()).collect();
    assert_eq!(ids, ["u-ann", "u-bo", "u-nameless"], "the first three real entries");
    assert!(!stored.samples[0].vars.contains_key("unused"), "only the vars the message uses are kept");

    let mail = app.mails_to(ANN).pop().unwrap();
    let confirm = app.get(&app.link(ANN, "Approve")).await;
    for (what, html) in [("email", &mail.html), ("confirm page", &confirm.body)] {
        assert!(html.contains("Hello Ann") && html.contains("Hi Ann in Oslo: -20% today"), "{what}: {html}");
        assert!(
            html.contains("Hello &lt;b&gt;Bo&lt;/b&gt;") && !html.contains("<b>Bo</b>"),
            "{what}: vars are escaped"
        );
        assert!(html.contains("Hi  in : -20% today"), "{what}: a user without vars");
        assert!(
            html.contains("<code>u-ann</code>") && html.contains("name = &quot;Ann&quot;"),
            "{what}: the user and vars"
        );
        assert!(!html.contains("Fourth"), "{what}: three users, not four");
        assert!(html.contains("4 users") || html.contains("to 4 users"), "{what}: the user count");
        assert!(html.contains("No entry carries its own devices"), "{what}");
    }
    assert!(mail.html.contains("APNs payload for <code>u-ann</code>"), "the exact payload is the first user's");
    assert!(mail.html.contains("&quot;body&quot;: &quot;Hi Ann in Oslo: -20% today&quot;"), "{}", mail.html);
    assert!(mail.text.contains("u-ann: Hello Ann / Hi Ann in Oslo: -20% today"), "{}", mail.text);
}

#[tokio::test]
async fn inline_devices_must_be_declared_and_are_then_bold() {
    let app = app();
    let r = submit(&app, &fields(DEVICES_AUDIENCE, &[])).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains("id=\"own_devices-error\">2 of the audience&#39;s 3 users carry their own devices"),
        "{}",
        r.body
    );
    assert!(r.body.contains("id=\"own_devices\" name=\"own_devices\" value=\"yes\" aria-describedby"));
    assert!(app.deps.requests.all().is_empty() && app.deps.mail.sent().is_empty(), "nothing is stored or sent");

    let r = submit(&app, &fields(DEVICES_AUDIENCE, &[("own_devices", "yes")])).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let stored = app.deps.requests.get(&request_id_of(&r.location)).await.unwrap().unwrap();
    assert!(stored.own_devices);
    assert_eq!((stored.counts.valid_users, stored.counts.with_devices), (3, 2));
    for approver in [ANN, BOB] {
        let mail = app.mails_to(approver).pop().unwrap();
        assert!(
            mail.html.contains(
                "<strong>This audience carries its own devices: 2 of its 3 users are sent to the device tokens"
            ),
            "{}",
            mail.html
        );
        assert!(mail.html.contains("<strong>2 inline devices</strong>"), "per sample user");
        assert!(mail.text.contains("THIS AUDIENCE CARRIES ITS OWN DEVICES: 2 users"));
    }
    let confirm = app.get(&app.link(BOB, "Approve")).await;
    assert!(confirm.body.contains("<strong>This audience carries its own devices"));
}

#[tokio::test]
async fn bad_input_is_named_and_changes_nothing() {
    let app = app();
    let cases: Vec<(Vec<(&'static str, String)>, &str)> = vec![
        (fields(VARS_AUDIENCE, &[("colour", "red")]), "fields this page does not know: &quot;colour&quot;"),
        (fields("requests/none.jsonl", &[]), "id=\"audience_key-error\">There is no file at this key"),
        (fields("requests/q2/vars.csv", &[]), "id=\"audience_key-error\">The file must end in .json"),
    ];
    for (f, text) in cases {
        let r = submit(&app, &f).await;
        assert_eq!(r.status, 422, "{text}");
        assert!(r.body.contains(text), "{text}: {}", r.body);
    }
    // A form posted without a token.
    let r = app.post_form(&format!("{BASE}/requests"), &pairs(&fields(VARS_AUDIENCE, &[]))).await;
    assert_eq!(r.status, 401);
    assert!(app.deps.requests.all().is_empty() && app.deps.mail.sent().is_empty());
    assert!(app.batches().await.is_empty());
}
