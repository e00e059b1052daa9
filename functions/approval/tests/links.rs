//! Links that are forged, tampered with, expired, reused or for another
//! request are refused, on GET and POST, and nothing is written.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use shared::approval::{Action, Link, LinkSigner, RequestGet, Status};

struct Before {
    version: u64,
    mails: usize,
}

async fn snapshot(app: &App, id: &str) -> Before {
    Before { version: app.deps.requests.get(id).await.unwrap().unwrap().version, mails: app.deps.mail.sent().len() }
}

/// Both methods refuse `url` with `status` and `text`; nothing changes.
async fn refused(app: &App, id: &str, url: &str, status: u16, text: &str) {
    let before = snapshot(app, id).await;
    for reply in [app.get(url).await, app.post_form(url, &[("reason", "x")]).await] {
        assert_eq!(reply.status, status, "{url}: {}", reply.body);
        assert!(reply.body.contains(text), "{text:?} not in {}", reply.body);
        assert!(reply.body.contains("Nothing was changed"));
        assert!(!reply.body.contains("<form"), "a refused link offers no button");
    }
    let after = snapshot(app, id).await;
    assert_eq!(after.version, before.version, "the request was written");
    assert_eq!(after.mails, before.mails, "someone was emailed");
    assert!(app.batches().await.is_empty(), "a batch file was written");
}

fn token_of(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_owned()
}

#[tokio::test]
async fn forged_and_tampered_links_are_refused() {
    let app = App::new();
    let id = app.submit("Sale", "Hi").await;
    let base = format!("{BASE}/requests/{id}/links");

    // Signed with another key.
    let forged = LinkSigner::new(&[b'z'; 32]).unwrap().sign(&Link::new(&id, Action::Approve, ANN, T0 + 3600));
    refused(&app, &id, &format!("{base}/{forged}"), 403, "not valid").await;

    // A real link's payload edited: another action, approver or expiry.
    let real = token_of(&app.link(BOB, "Reject"));
    let (payload, tag) = real.split_once('.').unwrap();
    let mut link: Link = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    for edit in [
        Link { action: Action::Approve, ..link.clone() },
        Link { approver: ANN.into(), ..link.clone() },
        Link { expires_at: link.expires_at + 86_400, ..link.clone() },
    ] {
        let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&edit).unwrap());
        refused(&app, &id, &format!("{base}/{p}.{tag}"), 403, "not valid").await;
    }
    // Truncated, garbled, or no signature at all.
    refused(&app, &id, &format!("{base}/{}", &real[..real.len() - 3]), 403, "not valid").await;
    refused(&app, &id, &format!("{base}/{payload}"), 403, "not valid").await;
    refused(&app, &id, &format!("{base}/%3Cscript%3E"), 403, "not valid").await;

    // A correctly signed link for someone who is not an approver.
    link.approver = "eve@example.com".into();
    let eve = app.deps.signer.sign(&link);
    refused(&app, &id, &format!("{base}/{eve}"), 403, "not an approver").await;

    // The real links still work afterwards.
    assert_eq!(app.post_form(&app.link(BOB, "Reject"), &[]).await.status, 303);
}

#[tokio::test]
async fn expired_links_are_refused() {
    let app = App::new();
    let id = app.submit("Sale", "Hi").await;
    let past = app.deps.signer.sign(&Link::new(&id, Action::Approve, ANN, T0 - 1));
    refused(&app, &id, &format!("{BASE}/requests/{id}/links/{past}"), 410, "expired").await;

    // The emailed links expire with the request, 24 hours after it was made.
    let approve = app.link(ANN, "Approve");
    app.advance(24 * 3600 - 1);
    assert_eq!(app.get(&approve).await.status, 200);
    app.advance(1);
    refused(&app, &id, &approve, 410, "expired").await;
    let page = app.status_page(&id).await;
    assert!(page.body.contains(">expired<"));
}

#[tokio::test]
async fn a_link_for_another_request_is_refused() {
    let app = App::new();
    let first = app.submit("First", "Hi").await;
    let first_link = token_of(&app.link(ANN, "Approve"));
    let second = app.submit("Second", "Hi").await;
    refused(&app, &second, &format!("{BASE}/requests/{second}/links/{first_link}"), 403, "another request").await;
    assert_eq!(app.deps.requests.get(&first).await.unwrap().unwrap().status, Status::Pending);
}

#[tokio::test]
async fn links_work_once() {
    let app = App::new();
    let id = app.submit("Sale", "Hi").await;

    // A test link, used, cannot be used again (its page offers a fresh one).
    let test = app.link(ANN, "Send me a test");
    assert_eq!(app.post_form(&test, &[]).await.status, 200);
    let before = app.batches().await;
    app.advance(3600);
    for reply in [app.get(&test).await, app.post_form(&test, &[]).await] {
        assert_eq!(reply.status, 409);
        assert!(reply.body.contains("already been used"));
    }
    assert_eq!(app.batches().await, before, "no second test");

    // The approve link, used, is refused as used (not re-approved).
    let approve = app.link(ANN, "Approve");
    assert_eq!(app.post_form(&approve, &[]).await.status, 303);
    let version = app.deps.requests.get(&id).await.unwrap().unwrap().version;
    let again = app.post_form(&approve, &[]).await;
    assert_eq!(again.status, 409);
    assert!(again.body.contains("already been used"));
    assert_eq!(app.deps.requests.get(&id).await.unwrap().unwrap().version, version);
}

#[tokio::test]
async fn a_get_never_acts() {
    let app = App::new();
    let id = app.submit("Sale", "Hi").await;
    let before = snapshot(&app, &id).await;
    // Mail scanners fetch every link, some several times.
    for button in ["Approve", "Reject", "Send me a test"] {
        for _ in 0..3 {
            let r = app.get(&app.link(ANN, button)).await;
            assert_eq!(r.status, 200);
            assert!(r.body.contains("<form method=\"post\""));
        }
    }
    let after = snapshot(&app, &id).await;
    assert_eq!((after.version, after.mails), (before.version, before.mails));
    assert!(app.batches().await.is_empty());
    assert_eq!(app.deps.requests.get(&id).await.unwrap().unwrap().status, Status::Pending);
}

#[tokio::test]
async fn a_changed_audience_cannot_be_approved() {
    let app = App::new();
    let id = app.submit("Sale", "Hi").await;
    app.deps.objects.insert(BUCKET, AUDIENCE_KEY, audience_jsonl(500));
    let r = app.post_form(&app.link(ANN, "Approve"), &[]).await;
    assert_eq!(r.status, 409);
    assert!(r.body.contains("changed after the request was made"));
    assert_eq!(app.deps.requests.get(&id).await.unwrap().unwrap().status, Status::Pending);
    assert!(app.batches().await.is_empty());
}
