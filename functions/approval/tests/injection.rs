//! HTML or script in what a requester types is escaped in every page and
//! email it appears in.

mod common;

use common::*;

const TITLE: &str = "<script>alert('t')</script>";
const BODY: &str = "\"><img src=x onerror=alert(1)> & more";
const DATA: &str = r#"{"deeplink": "</pre><script>alert(2)</script>"}"#;

fn assert_clean(what: &str, html: &str) {
    for raw in ["<script>alert", "<img src=x", "</pre><script>"] {
        assert!(!html.contains(raw), "{what} contains raw {raw:?}");
    }
}

#[tokio::test]
async fn markup_is_escaped_in_pages_and_emails() {
    let app = App::new();
    let mut fields = form(TITLE, BODY);
    fields.retain(|(k, _)| *k != "data");
    fields.push(("data", DATA.to_owned()));
    let r = app.signed_in(MIA).post_form(&format!("{BASE}/requests"), &pairs(&fields)).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let id = request_id_of(&r.location);

    for mail in app.deps.mail.sent() {
        assert_clean(&format!("mail {:?}", mail.subject), &mail.html);
        assert!(mail.html.contains("&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt;"), "the title is shown, escaped");
    }
    let approver_mail = app.mails_to(ANN).pop().unwrap();
    assert!(approver_mail.html.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt; &amp; more"));
    assert!(!approver_mail.subject.contains('\n'));

    let status = app.status_page(&id).await;
    assert_clean("status page", &status.body);
    let confirm = app.get(&app.link(ANN, "Reject")).await;
    assert_clean("confirm page", &confirm.body);
    app.post_form(&app.link(ANN, "Reject"), &[("reason", "<script>alert('r')</script>")]).await;
    let rejected = app.status_page(&id).await;
    assert_clean("status page with reason", &rejected.body);
    assert!(!rejected.body.contains("<script>alert('r')"));
    for mail in app.deps.mail.sent() {
        assert!(!mail.html.contains("<script>alert('r')"));
    }

    // Re-displayed form values are escaped too.
    let mut bad = form("\"><script>alert(3)</script>", BODY);
    bad.retain(|(k, _)| *k != "category");
    bad.push(("category", "two words".to_owned()));
    let r = app.signed_in(MIA).post_form(&format!("{BASE}/requests"), &pairs(&bad)).await;
    assert_eq!(r.status, 422);
    assert_clean("form with errors", &r.body);
    assert!(r.body.contains("value=\"&quot;&gt;&lt;script&gt;alert(3)&lt;/script&gt;\""));
    // An unknown field's name is escaped in its error too.
    let mut unknown = form("Hi", BODY);
    unknown.push(("<script>alert(4)</script>", "x".to_owned()));
    let r = app.signed_in(MIA).post_form(&format!("{BASE}/requests"), &pairs(&unknown)).await;
    assert_eq!(r.status, 422);
    assert!(!r.body.contains("<script>alert(4)") && r.body.contains("&lt;script&gt;alert(4)"), "{}", r.body);
}

#[tokio::test]
async fn pages_send_a_strict_content_security_policy() {
    let app = App::new();
    let get = |who: Option<&str>, url: &str| request(lambda_http::http::Method::GET, url, who, &[], b"");
    let response = approval::handler::handle(&app.deps, get(Some(MIA), &format!("{BASE}/requests/new"))).await;
    let csp = response.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"));
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    assert_eq!(response.headers()["cache-control"], "no-store");
    // Refusals are pages with the same headers.
    let refused = approval::handler::handle(&app.deps, get(None, &format!("{BASE}/requests/new"))).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["content-security-policy"], response.headers()["content-security-policy"]);
}
