//! Who may do what (issue 15): the requester is the JWT authorizer's
//! `email` claim and nothing else; staff pages refuse callers without
//! claims; a requester never approves their own request; with
//! `APPROVER_SIGN_IN=required` a link's POST also needs its own approver
//! signed in.

mod common;

use common::*;
use lambda_http::http::Method;
use shared::approval::{Action, Link, RequestGet, Status};

const ZED: &str = "zed@example.com";

async fn nothing_kept(app: &App) {
    assert!(app.deps.requests.all().is_empty(), "nothing is stored");
    assert!(app.deps.mail.sent().is_empty(), "nobody is emailed");
    assert!(app.batches().await.is_empty(), "no batch file is written");
}

#[tokio::test]
async fn staff_pages_refuse_callers_without_claims() {
    let app = App::new();
    let id = "a".repeat(32);
    for (method, url) in [
        (Method::GET, format!("{BASE}/")),
        (Method::GET, format!("{BASE}/requests")),
        (Method::GET, format!("{BASE}/requests/new")),
        (Method::POST, format!("{BASE}/requests")),
        (Method::GET, format!("{BASE}/requests/{id}")),
        (Method::POST, format!("{BASE}/requests/{id}/stop")),
    ] {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs(&form("Hi", "There"))).finish();
        let r = app
            .anonymous()
            .header("sec-fetch-site", "same-origin")
            .send(method.clone(), &url, Some("application/x-www-form-urlencoded"), body.into_bytes())
            .await;
        assert_eq!(r.status, 401, "{method} {url}: {}", r.body);
        assert_eq!(r.headers["www-authenticate"], "Bearer", "{method} {url}");
        assert!(r.body.contains("Sign in first") && r.body.contains("Nothing was changed"));
    }
    // An unverified address is nobody too: self-service sign-ups can type any.
    let mut claims = claims_of(MIA);
    claims["email_verified"] = "false".into();
    let unverified = request_with_claims(Method::POST, &format!("{BASE}/requests"), Some(claims), &[], b"title=x");
    assert_eq!(app.send(unverified).await.status, 401);
    nothing_kept(&app).await;
    assert!(app.deps.controls.sent().is_empty(), "nothing is stopped");
}

#[tokio::test]
async fn the_requester_is_the_signed_in_caller_never_a_field() {
    let app = App::new();
    let mut fields = form("Hi", "There");
    // An old form, or someone hoping to ask in another's name.
    fields.push(("requester", ANN.to_owned()));
    let r = app.signed_in(MIA).post_form(&format!("{BASE}/requests"), &pairs(&fields)).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let stored = app.deps.requests.get(&request_id_of(&r.location)).await.unwrap().unwrap();
    assert_eq!(stored.requester, MIA);
    assert_eq!(stored.approvers, [ANN, BOB], "Ann is asked to approve, as any approver");
    assert_eq!(app.mails_to(MIA).len(), 1, "the summary goes to the caller");
    assert!(app.mails_to(ANN).iter().all(|m| m.subject.starts_with("Approval needed")), "not a requester's mail");
}

#[tokio::test]
async fn only_requesters_may_ask() {
    let app = App::new();
    let outsider = app.signed_in("eve@other.org");
    let form_page = outsider.get(&format!("{BASE}/requests/new")).await;
    assert_eq!(form_page.status, 403);
    assert!(form_page.body.contains("eve@other.org, who may not request pushes"), "{}", form_page.body);
    let r = outsider.post_form(&format!("{BASE}/requests"), &pairs(&form("Hi", "There"))).await;
    assert_eq!(r.status, 403);
    nothing_kept(&app).await;
}

#[tokio::test]
async fn the_status_page_is_for_those_with_a_part_in_pushes() {
    let app = App::with(&[("REQUESTERS", "mia@example.com, zed@example.com")]);
    let id = app.submit("Sale", "Hi").await;
    let url = format!("{BASE}/requests/{id}");
    for who in [MIA, ANN, BOB, ZED] {
        assert_eq!(app.signed_in(who).get(&url).await.status, 200, "{who}");
    }
    let r = app.signed_in("eve@other.org").get(&url).await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("no part in this request") && !r.body.contains("Sale"), "{}", r.body);
}

#[tokio::test]
async fn a_requester_who_approves_is_never_asked_and_their_link_is_refused() {
    let app = App::new();
    let r = app.signed_in(ANN).post_form(&format!("{BASE}/requests"), &pairs(&form("Sale", "Hi"))).await;
    let id = request_id_of(&r.location);
    let stored = app.deps.requests.get(&id).await.unwrap().unwrap();
    assert_eq!(stored.approvers, [BOB], "the approver list leaves the requester out");
    assert!(app.mails_to(ANN).iter().all(|m| !m.subject.starts_with("Approval needed")));

    // A link made out to the requester (signed with the real key) is refused,
    // with a page that says why, on GET and POST, and changes nothing.
    for action in Action::ALL {
        let token = app.deps.signer.sign(&Link::new(&id, action, ANN, T0 + 3600));
        let url = format!("{BASE}/requests/{id}/links/{token}");
        for r in [app.get(&url).await, app.signed_in(ANN).post_form(&url, &[]).await] {
            assert_eq!(r.status, 403, "{action:?}: {}", r.body);
            assert!(r.body.contains("Your own request") && r.body.contains("You asked for this push"), "{}", r.body);
            assert!(r.body.contains("Nothing was changed"));
        }
    }
    let after = app.deps.requests.get(&id).await.unwrap().unwrap();
    assert_eq!((after.status, after.version), (Status::Pending, stored.version));
    assert!(app.batches().await.is_empty());
}

#[tokio::test]
async fn approver_sign_in_required_needs_the_links_own_approver() {
    let app = App::with(&[("APPROVER_SIGN_IN", "required")]);
    let id = app.submit("Sale", "Hi").await;
    let approve = app.link(BOB, "Approve");

    // The GET stays open: it is only a confirm page, and says what is needed.
    let confirm = app.get(&approve).await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("needs you signed in as that approver"), "{}", confirm.body);

    let version = app.deps.requests.get(&id).await.unwrap().unwrap().version;
    let nobody = app.post_form(&approve, &[]).await;
    assert_eq!(nobody.status, 401, "{}", nobody.body);
    for who in [ANN, MIA] {
        let r = app.signed_in(who).post_form(&approve, &[]).await;
        assert_eq!(r.status, 403, "{who}: {}", r.body);
        assert!(r.body.contains(&format!("sent to {BOB}, but you are signed in as {who}")), "{}", r.body);
    }
    let stored = app.deps.requests.get(&id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.version), (Status::Pending, version), "refusals change nothing");
    assert!(stored.used_links.is_empty(), "the link is not used up");
    assert!(app.batches().await.is_empty());

    let done = app.signed_in(BOB).post_form(&approve, &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(app.deps.requests.get(&id).await.unwrap().unwrap().decided_by.as_deref(), Some(BOB));

    // Without the setting, the link alone is enough (the product's design).
    let open = App::new();
    open.submit("Sale", "Hi").await;
    assert_eq!(open.post_form(&open.link(BOB, "Approve"), &[]).await.status, 303);
}
