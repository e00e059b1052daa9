//! Every route in-process, through the real handler: the form, submission
//! and its checks, the emails, the three actions and the status page.

mod common;

use common::*;
use shared::approval::{RequestGet, Status};
use shared::jobs::{JobRecord, JobStatus};

#[tokio::test]
async fn the_form_is_plain_accessible_html() {
    let app = App::new();
    let r = app.signed_in(MIA).get(&format!("{BASE}/requests/new")).await;
    assert_eq!(r.status, 200);
    assert!(r.content_type.starts_with("text/html"));
    assert!(r.body.contains("signed in as <strong id=\"signed-in\">mia@example.com</strong>"), "{}", r.body);
    assert!(!r.body.contains("name=\"requester\""), "who asks is never a field");
    for (name, label) in [
        ("title", "Title"),
        ("body", "Body"),
        ("data", "Data"),
        ("category", "Category"),
        ("audience_key", "S3 key"),
        ("audience_file", "upload"),
        ("own_devices", "This audience carries its own devices"),
    ] {
        assert!(r.body.contains(&format!("<label for=\"{name}\"")), "no label for {name}");
        assert!(
            r.body.contains(&format!("id=\"{name}\" name=\"{name}\"")) || r.body.contains(&format!("name=\"{name}\"")),
            "{name}"
        );
        assert!(r.body.contains(label), "{label}");
    }
    assert!(r.body.contains(&format!("action=\"{BASE}/requests\"")));
    assert!(r.body.contains("enctype=\"multipart/form-data\""));
    assert!(!r.body.contains("<script"), "the form needs no JavaScript");
    // The root and /requests lead to the form.
    assert_eq!(app.signed_in(MIA).get(&format!("{BASE}/")).await.location, format!("{BASE}/requests/new"));
}

#[tokio::test]
async fn submitting_stores_a_pending_request_and_emails_everyone() {
    let app = App::new();
    let id = app.submit("Summer sale", "Everything -20% today").await;
    let stored = app.deps.requests.get(&id).await.unwrap().unwrap();
    assert_eq!(stored.status, Status::Pending);
    assert_eq!(stored.requester, MIA);
    assert_eq!(stored.created_at, T0);
    assert_eq!(stored.expires_at, T0 + 24 * 3600, "links live a day");
    assert_eq!((stored.counts.entries, stored.counts.valid_users), (6, 5));
    assert_eq!(stored.counts.invalid["missing_user_id"], 1);
    assert_eq!(stored.header.campaign, format!("approval-{id}"));
    assert_eq!(stored.header.category.as_deref(), Some("promo"));
    assert_eq!(stored.header.notification.data["deeplink"], "app://promo");
    assert_eq!(stored.approvers, [ANN, BOB]);

    let requester = app.mails_to(MIA);
    assert_eq!(requester.len(), 1);
    assert!(requester[0].subject.contains("Summer sale"));
    assert!(requester[0].html.contains(&format!("{BASE}/requests/{id}")));
    for approver in [ANN, BOB] {
        let mail = &app.mails_to(approver)[0];
        assert_eq!(mail.from, "push@example.com");
        assert!(mail.subject.contains("(5 users)"), "{}", mail.subject);
        assert!(mail.html.contains("5 users"));
        assert!(mail.html.contains("&quot;deeplink&quot;: &quot;app://promo&quot;"), "the payload JSON");
        assert!(mail.html.contains("iOS") && mail.html.contains("Android"), "both previews");
        assert!(mail.html.contains("APNs payload") && mail.html.contains("&quot;aps&quot;"));
        assert!(mail.html.contains("FCM message"));
        for button in ["Approve", "Reject"] {
            assert!(link_in(&mail.html, button).unwrap().starts_with(&format!("{BASE}/requests/{id}/links/")));
        }
        assert!(mail.text.contains("Approve: https://"));
    }
    // A requester who is also an approver is not asked.
    let app2 = App::new();
    let r = app2.signed_in(ANN).post_form(&format!("{BASE}/requests"), &pairs(&form("Hi", "There"))).await;
    let own = app2.deps.requests.get(&request_id_of(&r.location)).await.unwrap().unwrap();
    assert_eq!(own.approvers, [BOB]);
    assert!(app2.mails_to(ANN).iter().all(|m| !m.subject.starts_with("Approval needed")));
    // Only approvers with test users get the test button.
    assert!(link_in(&app.mails_to(ANN)[0].html, "Send me a test").is_some());
    assert!(link_in(&app.mails_to(BOB)[0].html, "Send me a test").is_none());
    // Each approver has their own links.
    assert_ne!(app.link(ANN, "Approve"), app.link(BOB, "Approve"));
    assert!(app.batches().await.is_empty(), "nothing is written before approval");

    let page = app.signed_in(MIA).get(&format!("{BASE}/requests/{id}?notice=submitted")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(">pending<"));
    assert!(page.body.contains("sent to the approvers"));
}

#[tokio::test]
async fn an_uploaded_audience_is_kept_with_the_request() {
    let app = App::new();
    let owned = form("Hi", "There");
    let mut fields = pairs(&owned);
    fields.retain(|(k, _)| *k != "audience_key");
    let file = b"\"u-a\"\n{\"user_id\":\"u-b\",\"vars\":{\"name\":\"B\"}}\n";
    let r = app.signed_in(MIA).post_multipart(&format!("{BASE}/requests"), &fields, Some(("list.jsonl", file))).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let id = request_id_of(&r.location);
    let stored = app.deps.requests.get(&id).await.unwrap().unwrap();
    assert_eq!(stored.counts.valid_users, 2);
    assert_eq!(app.deps.requests.audience(&id).await.unwrap().unwrap().as_ref(), file);

    let confirm = app.get(&app.link(ANN, "Approve")).await;
    let done = app.post_form(&form_action(&confirm.body).unwrap(), &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let batch = app.object(&format!("batches/approval/{id}.jsonl")).unwrap();
    let lines: Vec<&str> = batch.lines().collect();
    assert_eq!(lines[1..], ["{\"user_id\":\"u-a\"}", "{\"user_id\":\"u-b\",\"vars\":{\"name\":\"B\"}}"]);
}

async fn errors_for(app: &App, fields: &[(&str, &str)]) -> String {
    let r = app.signed_in(MIA).post_form(&format!("{BASE}/requests"), fields).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(app.deps.requests.all().is_empty(), "nothing is stored");
    assert!(app.deps.mail.sent().is_empty(), "nobody is emailed");
    r.body
}

fn with(field: &'static str, value: &str) -> Vec<(&'static str, String)> {
    let mut f = form("Hi", "There");
    f.retain(|(k, _)| *k != field);
    f.push((field, value.to_owned()));
    f
}

#[tokio::test]
async fn each_bad_field_is_reported_beside_it_and_nothing_is_stored() {
    let app = App::new();
    type Case = (Vec<(&'static str, String)>, &'static str, &'static str);
    let cases: Vec<Case> = vec![
        (with("data", "{oops"), "data", "not valid JSON"),
        (with("data", "[1, 2]"), "data", "must be a JSON object"),
        (with("category", "two words"), "category", "letters, digits"),
        (with("audience_key", "batches/x.jsonl"), "audience_key", "must start with requests/"),
        (with("audience_key", "requests/missing.jsonl"), "audience_key", "no file at this key"),
        (with("title", &"t".repeat(201)), "title", "longer than 200"),
        (with("body", &"b".repeat(2001)), "body", "longer than 2000"),
    ];
    for (fields, field, text) in cases {
        let body = errors_for(&app, &pairs(&fields)).await;
        let error = format!("<p class=\"error\" id=\"{field}-error\">");
        let at = body.find(&error).unwrap_or_else(|| panic!("no error beside {field}: {body}"));
        assert!(body[at..].split("</p>").next().unwrap().contains(text), "{field}: {text}");
        assert!(
            body.contains(&format!("{field}-error\" aria-invalid=\"true\"")) || field == "audience_file",
            "{field} is marked invalid"
        );
        assert!(body.contains("role=\"alert\""), "an error summary");
    }
    // Values typed are kept.
    let mut f = with("category", "two words");
    f.retain(|(k, _)| *k != "title");
    f.push(("title", "Kept title".to_owned()));
    let body = errors_for(&app, &pairs(&f)).await;
    assert!(body.contains("value=\"Kept title\""));
    // Neither title nor body.
    let mut f = with("title", "");
    f.retain(|(k, _)| *k != "body");
    let body = errors_for(&app, &pairs(&f)).await;
    assert!(body.contains("id=\"body-error\">Enter a title or a body"));
    // A requester who is the only approver cannot approve their own request.
    let alone = App::with(&[("APPROVERS", MIA), ("APPROVER_USERS", "{}")]);
    let body = errors_for(&alone, &pairs(&form("Hi", "There"))).await;
    assert!(body.contains("id=\"form-error\">No approver other than you"), "{body}");
    // Neither audience.
    let body = errors_for(&app, &pairs(&with("audience_key", ""))).await;
    assert!(body.contains("id=\"audience-error\""));
}

#[tokio::test]
async fn the_notification_must_fit_4_kb_on_both_platforms() {
    let app = App::new();
    let big = format!("{{\"blob\": \"{}\"}}", "x".repeat(3900));
    let body = errors_for(&app, &pairs(&with("data", &big))).await;
    assert!(body.contains("id=\"body-error\">the notification renders to"), "{body}");
    assert!(body.contains("limit is 4096"));
}

#[tokio::test]
async fn bad_audiences_are_explained() {
    let app = App::new();
    app.deps.objects.insert(BUCKET, "requests/broken.jsonl", "\"u-1\"\n{\"user_id\": oops}\n");
    app.deps.objects.insert(
        BUCKET,
        "requests/empty.jsonl",
        "{\"campaign\":\"c\",\"notification\":{\"body\":\"b\"}}\n[]\n",
    );
    let body = errors_for(&app, &pairs(&with("audience_key", "requests/broken.jsonl"))).await;
    assert!(body.contains("not a valid audience") && body.contains("line 2"), "{body}");
    let body = errors_for(&app, &pairs(&with("audience_key", "requests/empty.jsonl"))).await;
    assert!(body.contains("no valid users (1 entries read)"), "{body}");

    let owned = form("Hi", "There");
    let mut fields = pairs(&owned);
    fields.retain(|(k, _)| *k != "audience_key");
    let mia = app.signed_in(MIA);
    let r = mia.post_multipart(&format!("{BASE}/requests"), &fields, Some(("list.csv", b"u-1\n"))).await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("id=\"audience_file-error\">The file must end in .json"));
    let big = vec![b' '; 5 * 1024];
    let r = mia.post_multipart(&format!("{BASE}/requests"), &fields, Some(("big.json", &big))).await;
    assert!(r.body.contains("larger than 4 KB"), "{}", r.body);
    let r = mia
        .post_multipart(&format!("{BASE}/requests"), &pairs(&form("Hi", "There")), Some(("a.json", b"[\"u\"]")))
        .await;
    assert!(r.body.contains("not both"));
    let r =
        mia.send(lambda_http::http::Method::POST, &format!("{BASE}/requests"), Some("text/plain"), b"x".to_vec()).await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("could not be read"));
    assert!(app.deps.requests.all().is_empty());
}

#[tokio::test]
async fn approving_writes_the_batch_file_and_tells_the_requester() {
    let app = App::new();
    let id = app.submit("Sale", "Hi {{name}}").await;
    let link = app.link(BOB, "Approve");

    let confirm = app.get(&link).await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("Approve this push?"));
    assert!(confirm.body.contains("sends this notification to 5 users"));
    assert_eq!(form_action(&confirm.body).unwrap(), link, "the button posts to the same link");
    assert!(app.batches().await.is_empty(), "a GET never acts");

    app.advance(60);
    let done = app.post_form(&link, &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location, format!("{BASE}/requests/{id}?notice=approved"));
    let key = format!("batches/approval/{id}.jsonl");
    let batch = app.object(&key).expect("the batch file");
    let mut lines = batch.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["campaign"], format!("approval-{id}"));
    assert_eq!(header["category"], "promo");
    assert_eq!(header["notification"]["body"], "Hi {{name}}");
    assert_eq!(header["notification"]["data"]["deeplink"], "app://promo");
    assert_eq!(lines.collect::<Vec<_>>(), (0..5).map(|i| format!("{{\"user_id\":\"u-{i}\"}}")).collect::<Vec<_>>());
    assert_eq!(app.batches().await, std::slice::from_ref(&key));

    let stored = app.deps.requests.get(&id).await.unwrap().unwrap();
    assert_eq!(stored.status, Status::Approved);
    assert_eq!(stored.decided_by.as_deref(), Some(BOB));
    assert_eq!(stored.decided_at, Some(T0 + 60));
    let batch_ref = stored.batch.expect("the batch is recorded");
    assert_eq!(batch_ref.key, key);
    let told = app.mails_to(MIA).pop().unwrap();
    assert!(told.subject.contains("approved"), "{}", told.subject);
    assert!(told.text.contains(BOB));

    // The status page shows who decided, then the job's progress.
    let page = app.status_page(&id).await;
    assert!(page.body.contains(">approved<") && page.body.contains(BOB));
    assert!(page.body.contains("sending is about to start"));
    let mut job = sample_job(&batch_ref.bucket, &batch_ref.key, batch_ref.etag.as_deref().unwrap());
    app.deps.jobs.records.lock().unwrap().insert(job.job_id.clone(), job.clone());
    let page = app.status_page(&id).await;
    assert!(page.body.contains("Sending: Progress") && page.body.contains("id=\"job-status\">running<"));
    assert!(page.body.contains("http-equiv=\"refresh\""), "the page refreshes itself while sending");
    job.status = JobStatus::Done;
    job.counters.entries = 5;
    app.deps.jobs.records.lock().unwrap().insert(job.job_id.clone(), job);
    let page = app.status_page(&id).await;
    assert!(page.body.contains("Sending: Summary") && page.body.contains(">done<"));
    assert!(!page.body.contains("http-equiv=\"refresh\""));
}

fn sample_job(bucket: &str, key: &str, etag: &str) -> JobRecord {
    JobRecord { invocations: 1, ..JobRecord::new("approval-job", bucket, key, etag, 0) }
}

/// A job's row in the page's table: `<th scope="row">{label}</th><td>{n}</td>`.
fn row(label: &str, n: u64) -> String {
    format!("<th scope=\"row\">{label}</th><td>{n}</td>")
}

#[tokio::test]
async fn a_running_sharded_job_shows_its_shards_summed() {
    use shared::batch::Platform;
    use shared::counters::Counters;
    use shared::jobs::{FinishedShard, ShardOf, ShardSet, shard_id};

    let app = App::new();
    let id = app.submit("Sale", "Hi").await;
    assert_eq!(app.post_form(&app.link(BOB, "Approve"), &[]).await.status, 303);
    let stored = app.deps.requests.get(&id).await.unwrap().unwrap();
    let b = stored.batch.expect("the batch is recorded");
    let counts = |users: u64, delivered: u64, pruned: u64, failed: u64| {
        let mut c = Counters { entries: users, targeted_users: users, ..Counters::default() };
        let d = c.platform(Platform::Android);
        (d.delivered, d.pruned, d.failed) = (delivered, pruned, failed);
        c
    };
    // Three shards: 0 finished and rolled up into the job, 1 running,
    // 2 running but not yet past its first link.
    let mut job = sample_job(&b.bucket, &b.key, b.etag.as_deref().unwrap());
    let mut set = ShardSet::new(vec![10, 20, 30, 40]);
    set.finished.push(FinishedShard { index: 0, status: JobStatus::Done, reason: None });
    job.shards = Some(set);
    job.counters = counts(2, 2, 0, 0);
    let shard = |index: u32, status: JobStatus, c: Counters| JobRecord {
        job_id: shard_id(&job.job_id, index),
        status,
        counters: c,
        shard: Some(ShardOf { parent: job.job_id.clone(), index, end: 20 + 10 * index as u64 }),
        shards: None,
        ..job.clone()
    };
    let records = [
        shard(0, JobStatus::Done, counts(2, 2, 0, 0)),
        shard(1, JobStatus::Running, counts(3, 1, 1, 1)),
        shard(2, JobStatus::Running, Counters::default()),
    ];
    {
        let mut all = app.deps.jobs.records.lock().unwrap();
        all.insert(job.job_id.clone(), job.clone());
        for r in records {
            all.insert(r.job_id.clone(), r);
        }
    }
    let page = app.status_page(&id).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body.matches("Sending: Progress").count(), 1, "shards are not jobs of their own");
    assert!(page.body.contains("Sent in 3 parallel parts; 1 finished."), "{}", page.body);
    for (label, n) in [
        ("Entries read", 5),
        ("Users targeted", 5),
        ("Devices delivered", 3),
        ("Devices pruned (dead tokens)", 1),
        ("Devices failed", 1),
    ] {
        assert!(page.body.contains(&row(label, n)), "{label} {n}: {}", page.body);
    }

    // Done: the job's record holds every shard's counts; nothing is added.
    job.status = JobStatus::Done;
    job.counters = counts(5, 3, 1, 1);
    app.deps.jobs.records.lock().unwrap().insert(job.job_id.clone(), job);
    let page = app.status_page(&id).await;
    assert!(page.body.contains("Sending: Summary") && page.body.contains(&row("Entries read", 5)));
}

#[tokio::test]
async fn rejecting_records_the_reason_and_blocks_approval() {
    let app = App::new();
    let id = app.submit("Sale", "Hi").await;
    let reject = app.link(ANN, "Reject");
    let confirm = app.get(&reject).await;
    assert!(confirm.body.contains("<label for=\"reason\">"));
    let r = app.post_form(&reject, &[("reason", "Too <b>pushy</b>")]).await;
    assert_eq!(r.status, 303);
    let stored = app.deps.requests.get(&id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.reason.as_deref()), (Status::Rejected, Some("Too <b>pushy</b>")));
    let told = app.mails_to(MIA).pop().unwrap();
    assert!(told.subject.contains("rejected") && told.html.contains("Too &lt;b&gt;pushy&lt;/b&gt;"));
    let page = app.status_page(&id).await;
    assert!(page.body.contains(">rejected<") && page.body.contains("Too &lt;b&gt;pushy&lt;/b&gt;"));

    // Bob's approve link now only says so, on GET and on POST.
    let approve = app.link(BOB, "Approve");
    for r in [app.get(&approve).await, app.post_form(&approve, &[]).await] {
        assert_eq!(r.status, 409);
        assert!(r.body.contains("Already rejected"));
    }
    assert!(app.batches().await.is_empty());
}

#[tokio::test]
async fn a_second_approval_is_refused_clearly() {
    let app = App::new();
    let id = app.submit("Sale", "Hi").await;
    assert_eq!(app.post_form(&app.link(ANN, "Approve"), &[]).await.status, 303);
    let second = app.post_form(&app.link(BOB, "Approve"), &[]).await;
    assert_eq!(second.status, 409);
    assert!(second.body.contains("Already approved") && second.body.contains("already approved"));
    let reject_after = app.post_form(&app.link(BOB, "Reject"), &[]).await;
    assert_eq!(reject_after.status, 409);
    assert_eq!(app.batches().await, [format!("batches/approval/{id}.jsonl")]);
    assert_eq!(app.deps.requests.get(&id).await.unwrap().unwrap().decided_by.as_deref(), Some(ANN));
}

#[tokio::test]
async fn tests_go_to_the_approvers_own_users_and_are_rate_limited() {
    let app = App::new();
    let id = app.submit("Sale", "Hi").await;
    let link = app.link(ANN, "Send me a test");
    let confirm = app.get(&link).await;
    assert!(confirm.body.contains("u-ann-1, u-ann-2"));
    let sent = app.post_form(&link, &[]).await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert!(sent.body.contains("Test 1 of 2"));
    let key = format!("batches/approval/{id}/test-ann_example.com-1.jsonl");
    let file = app.object(&key).expect("the test batch");
    let lines: Vec<&str> = file.lines().collect();
    let header: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(header["campaign"], format!("approval-{id}-test"));
    assert!(header.get("category").is_none());
    assert_eq!(lines[1..], ["\"u-ann-1\"", "\"u-ann-2\""]);
    assert_eq!(app.deps.requests.get(&id).await.unwrap().unwrap().status, Status::Pending, "a test decides nothing");

    // The result page offers another test, which must wait the interval.
    let again = form_action(&sent.body).expect("a send-another form");
    let too_soon = app.post_form(&again, &[]).await;
    assert_eq!(too_soon.status, 429);
    assert!(too_soon.body.contains("wait 30 s"));
    app.advance(31);
    // The refused attempt did not use the link up.
    let second = app.post_form(&again, &[]).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert!(second.body.contains("Test 2 of 2") && form_action(&second.body).is_none());
    assert!(app.object(&format!("batches/approval/{id}/test-ann_example.com-2.jsonl")).is_some());

    // Bob has no test users configured.
    let bob_test =
        app.deps.signer.sign(&shared::approval::Link::new(&id, shared::approval::Action::Test, BOB, T0 + 3600));
    let r = app.post_form(&format!("{BASE}/requests/{id}/links/{bob_test}"), &[]).await;
    assert_eq!(r.status, 409);
    assert!(r.body.contains("No test users"));
    assert_eq!(app.batches().await.len(), 2);
    let page = app.status_page(&id).await;
    assert!(page.body.contains("ann@example.com: 2 test(s)"));
}

#[tokio::test]
async fn unknown_pages_methods_and_requests() {
    let app = App::new();
    assert_eq!(app.get(&format!("{BASE}/nope")).await.status, 404);
    assert_eq!(app.get(&format!("{BASE}/requests/not-an-id")).await.status, 404);
    assert_eq!(app.signed_in(MIA).get(&format!("{BASE}/requests/{}", "a".repeat(32))).await.status, 404);
    let r = app.post_form(&format!("{BASE}/requests/new"), &[]).await;
    assert_eq!(r.status, 405);
    // The local emulator's prefix is accepted too.
    let r = app.signed_in(MIA).get("http://127.0.0.1:9000/lambda-url/approval/requests/new").await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn a_host_placeholder_makes_local_links_absolute() {
    let app = App::with(&[("PUBLIC_BASE_URL", "http://{host}/lambda-url/approval")]);
    let r = app.signed_in(MIA).get("http://127.0.0.1:9000/lambda-url/approval/requests/new").await;
    assert!(r.body.contains("action=\"http://push.example.com/lambda-url/approval/requests\""), "{}", r.body);
}

#[tokio::test]
async fn failing_email_is_reported_not_hidden() {
    let app = App::new();
    *app.deps.mail.fail_with.lock().unwrap() = Some("SES is down".into());
    let r = app.signed_in(MIA).post_form(&format!("{BASE}/requests"), &pairs(&form("Hi", "There"))).await;
    assert_eq!(r.status, 502);
    assert!(r.body.contains("could not be sent") && r.body.contains(ANN) && r.body.contains(MIA));
}
