//! The approval flow on the local stack, as people use it: through the
//! event plane's API gateway, signed in at the local issuer (ID tokens of
//! `pushbatch-console`), never by a form field. A requester submits, the
//! emails arrive in aws-ses-v2-local with the preview, an approver follows
//! the link from the HTML (GET → confirm page → POST), the batch file
//! appears and send-batch's job runs to completion against the sandbox.
//! Links that are reused, tampered with or too late are refused with
//! nothing written; a request's Stop stops a running send in the caller's
//! name; and a real browser drives the same flow.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use pushbatch_tests::approval::*;
use pushbatch_tests::{Part, Stack, eventually};
use serde_json::{Value, json};
use shared::jobs::{DynamoJobs, JobRecord, JobsByObject};

const USERS: u64 = 40;
const AUDIENCE: &str = "requests/e2e/audience.jsonl";
const JOB_WAIT: Duration = Duration::from_secs(300);
/// Added to every push while a send must last long enough to be stopped:
/// with one user (two devices, sent at once) a batch, a job of USERS users
/// takes at least USERS × this.
const SLOW_PUSH_MS: u64 = 500;

/// Users with vars and inline devices (one iOS, one Android each, shaped as
/// the sandbox expects), so every push is delivered without seeding the
/// devices table.
fn audience() -> String {
    let mut out = json!({"campaign": "bi-export", "notification": {"body": "replaced by the request"}}).to_string();
    for i in 0..USERS {
        let user = json!({"user_id": format!("e2e-{i}"), "vars": {"name": format!("User {i}")}, "devices": [
            {"platform": "ios", "token": format!("{:064x}", 0xA000 + i)},
            {"platform": "android", "token": format!("e2e-{i:04}:{}", "Fcm_token-".repeat(12))},
        ]});
        out.push('\n');
        out.push_str(&user.to_string());
    }
    out.push('\n');
    out
}

/// What a call answered.
struct Answer {
    status: u16,
    location: String,
    challenge: Option<String>,
    body: String,
}

struct Harness {
    stack: Stack,
    base: String,
    http: reqwest::Client,
    jobs: DynamoJobs,
}

impl Harness {
    async fn start() -> anyhow::Result<Self> {
        // Builds the functions ahead, so watch does not compile inside a call.
        pushbatch_tests::ensure_workspace_bins()?;
        let stack = Stack::start(stack_options()).await?;
        let base = stack.var("GATEWAY_URL")?.to_owned();
        anyhow::ensure!(stack.var("PUBLIC_BASE_URL")? == base, "the pages' links must point at the gateway");
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(CALL_TIMEOUT)
            .build()?;
        let jobs = DynamoJobs::new(stack.dynamodb().await, stack.var("JOBS_TABLE")?);
        let h = Self { stack, base, http, jobs };
        h.put(AUDIENCE, audience().into_bytes()).await?;
        Ok(h)
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> anyhow::Result<()> {
        let s3 = self.stack.s3().await;
        s3.put_object().bucket(self.stack.bucket()).key(key).body(ByteStream::from(body)).send().await?;
        Ok(())
    }

    async fn keys(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        let s3 = self.stack.s3().await;
        let out = s3.list_objects_v2().bucket(self.stack.bucket()).prefix(prefix).send().await?;
        let mut keys: Vec<String> = out.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect();
        keys.sort();
        Ok(keys)
    }

    async fn jobs_of(&self, key: &str) -> anyhow::Result<Vec<JobRecord>> {
        let s3 = self.stack.s3().await;
        let head = s3.head_object().bucket(self.stack.bucket()).key(key).send().await?;
        let etag = shared::objects::unquote(head.e_tag().unwrap_or_default());
        Ok(self.jobs.find_by_object(self.stack.bucket(), key, &etag).await?)
    }

    /// The job of `key` once `done(job)` holds.
    async fn job_when(&self, key: &str, what: &str, done: impl Fn(&JobRecord) -> bool) -> anyhow::Result<JobRecord> {
        eventually(&format!("the job of {key} {what}"), JOB_WAIT, || async {
            Ok(self.jobs_of(key).await?.into_iter().find(|j| done(j)))
        })
        .await
    }

    async fn finished_job(&self, key: &str) -> anyhow::Result<JobRecord> {
        self.job_when(key, "to end", |j| j.status.is_terminal()).await
    }

    /// A call through the gateway; `token` is an ID token, `headers` more.
    async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        form: Option<&[(&str, &str)]>,
    ) -> anyhow::Result<Answer> {
        let mut request = self.http.request(method, url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(form) = form {
            let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
            request = request.header("content-type", "application/x-www-form-urlencoded").body(body);
        }
        let r = request.send().await?;
        let header = |name: &str| r.headers().get(name).map(|v| v.to_str().unwrap_or("?").to_owned());
        let (status, location, challenge) =
            (r.status().as_u16(), header("location").unwrap_or_default(), header("www-authenticate"));
        let body = r.text().await?;
        anyhow::ensure!(
            status < 500,
            "{url}: HTTP {status}: {body}\nwatch log:\n{}",
            self.stack.log_tail(Part::Watch, 30)
        );
        Ok(Answer { status, location, challenge, body })
    }

    async fn get(&self, url: &str, token: Option<&str>) -> anyhow::Result<Answer> {
        self.call(reqwest::Method::GET, url, token, &[], None).await
    }

    async fn post(&self, url: &str, token: Option<&str>, form: &[(&str, &str)]) -> anyhow::Result<Answer> {
        self.call(reqwest::Method::POST, url, token, &[], Some(form)).await
    }

    /// The Stop button as a browser presses it on the status page.
    async fn stop(&self, id: &str, token: &str, site: &str) -> anyhow::Result<Answer> {
        let url = format!("{}/requests/{id}/stop", self.base);
        self.call(reqwest::Method::POST, &url, Some(token), &[("sec-fetch-site", site)], Some(&[][..])).await
    }

    async fn submit(&self, token: Option<&str>, title: &str, extra: &[(&str, &str)]) -> anyhow::Result<Answer> {
        let mut form = vec![
            ("title", title),
            ("body", "Hello {{name}}, <b>50%</b> off today"),
            ("data", r#"{"deeplink": "app://sale"}"#),
            ("category", "promo"),
            ("audience_key", AUDIENCE),
        ];
        form.extend_from_slice(extra);
        self.post(&format!("{}/requests", self.base), token, &form).await
    }

    /// Submits with the inline devices declared; the new request's id.
    async fn submitted(&self, token: &str, title: &str) -> anyhow::Result<String> {
        let a = self.submit(Some(token), title, &[("own_devices", "yes")]).await?;
        anyhow::ensure!(a.status == 303, "submitting answered {}: {}", a.status, a.body);
        request_id_in(&a.location).ok_or_else(|| anyhow::anyhow!("no request id in {:?}", a.location))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_flow_on_the_local_stack() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let requester = id_token(&h.stack, REQUESTER).await?;
    let approver = id_token(&h.stack, APPROVER).await?;
    let approver2 = id_token(&h.stack, APPROVER2).await?;
    let outsider = id_token(&h.stack, OUTSIDER).await?;

    // 1. Without a token the gateway refuses the pages, and nothing is kept.
    let a = h.get(&format!("{}/requests/new", h.base), None).await?;
    assert_eq!(a.status, 401);
    assert!(a.challenge.is_some_and(|c| c.starts_with("Bearer")));
    let a = h.submit(None, "No token", &[("own_devices", "yes")]).await?;
    assert_eq!(a.status, 401, "a form posted without a token");
    assert!(stored_mail(&h.stack).await?.is_empty() && h.keys("batches/").await?.is_empty());

    // 2. The form, signed in; inline devices must be declared; the
    //    requester is whoever signed in, whatever a field says.
    let form = h.get(&format!("{}/requests/new", h.base), Some(&requester)).await?;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains(&format!("action=\"{}/requests\"", h.base)), "links use the gateway's address");
    assert!(form.body.contains(REQUESTER));
    let undeclared = h.submit(Some(&requester), "Summer <sale>", &[]).await?;
    assert_eq!(undeclared.status, 422);
    assert!(undeclared.body.contains("id=\"own_devices-error\">40 of the audience"), "{}", undeclared.body);
    let a = h.submit(Some(&requester), "Summer <sale>", &[("own_devices", "yes"), ("requester", APPROVER)]).await?;
    assert_eq!(a.status, 303, "{}", a.body);
    let id = request_id_in(&a.location).expect("a request id");

    // 3. Everyone is emailed through SES v2, with the preview.
    let submitted = mail_to(&h.stack, REQUESTER, "sent for approval").await?;
    assert!(submitted.html.contains(&format!("{}/requests/{id}", h.base)));
    let mail2 = mail_to(&h.stack, APPROVER2, "Approval needed").await?;
    assert!(mail2.subject.contains(&format!("({USERS} users)")), "{}", mail2.subject);
    assert!(mail2.html.contains(&format!("<strong>{REQUESTER}</strong> asks")), "the signed-in requester");
    assert!(mail2.html.contains("Summer &lt;sale&gt;") && !mail2.html.contains("Summer <sale>"), "escaped");
    assert!(mail2.html.contains("Hello User 0, &lt;b&gt;50%&lt;/b&gt; off today"), "rendered with the user's vars");
    assert!(mail2.html.contains("Hello User 2,") && !mail2.html.contains("Hello User 3,"), "three users");
    assert!(mail2.html.contains("<strong>This audience carries its own devices: 40 of its 40 users"));
    let mail1 = mail_to(&h.stack, APPROVER, "Approval needed").await?;
    assert!(link_in(&mail1.html, "Send me a test").is_some());
    assert!(h.keys("batches/").await?.is_empty(), "nothing is written before approval");

    // 4. The second approver's link: the GET only confirms, the POST approves.
    let approve = link_in(&mail2.html, "Approve").expect("an Approve link");
    assert!(approve.starts_with(&format!("{}/requests/{id}/links/", h.base)));
    let page = h.get(&approve, None).await?;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Approve this push?") && page.body.contains(&format!("{USERS} users")));
    assert!(h.keys("batches/").await?.is_empty(), "a GET never acts");
    let done = h.post(&approve, None, &[]).await?;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location, format!("{}/requests/{id}?notice=approved", h.base));

    // 5. The batch file appears and its job runs to completion.
    let key = format!("batches/approval/{id}.jsonl");
    assert_eq!(h.keys("batches/").await?, std::slice::from_ref(&key));
    let job = h.finished_job(&key).await?;
    assert_eq!(job.status.as_str(), "done", "{:?}", job.reason);
    assert_eq!((job.counters.entries, job.counters.targeted_users), (USERS, USERS));
    assert_eq!(job.counters.total_devices().delivered, 2 * USERS, "{:?}", job.counters);
    let told = mail_to(&h.stack, REQUESTER, "approved").await?;
    assert!(told.text.contains(APPROVER2));
    let status = h.get(&format!("{}/requests/{id}", h.base), Some(&requester)).await?;
    assert!(status.body.contains(">approved<") && status.body.contains(APPROVER2));
    assert!(
        status.body.contains("id=\"job-status\">done<") && !status.body.contains("Stop sending"),
        "{}",
        status.body
    );
    let outsiders = h.get(&format!("{}/requests/{id}", h.base), Some(&outsider)).await?;
    assert_eq!(outsiders.status, 403, "an app user has no part in pushes");

    // 6. Links refused on the stack, and nothing more written.
    let reused = h.post(&approve, None, &[]).await?;
    assert_eq!(reused.status, 409, "reused: {}", reused.body);
    assert!(reused.body.contains("already been used"));
    let approve1 = link_in(&mail1.html, "Approve").expect("the first approver's Approve link");
    let second = h.post(&approve1, None, &[]).await?;
    assert_eq!(second.status, 409);
    assert!(second.body.contains("Already approved"));
    let tampered = format!("{}x", &approve1[..approve1.len() - 1]);
    assert_eq!(h.post(&tampered, None, &[]).await?.status, 403, "tampered");
    assert_eq!(h.keys("batches/").await?, std::slice::from_ref(&key), "refused links wrote nothing");

    // 7. A second request: the first approver sends themselves a test, a
    //    link of theirs for the first request is refused here, then the
    //    second approver rejects.
    let second = h.submitted(&requester, "Second").await?;
    let mail1b = mail_to(&h.stack, APPROVER, "Second").await?;
    let test = link_in(&mail1b.html, "Send me a test").expect("a test link");
    let sent = h.post(&test, None, &[]).await?;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let test_key = format!("batches/approval/{second}/test-approver_example.com-1.jsonl");
    let test_job = h.finished_job(&test_key).await?;
    assert_eq!(test_job.counters.entries, 1, "only the approver's own user");
    let other = approve1.replace(&id, &second);
    assert_eq!(h.post(&other, None, &[]).await?.status, 403, "a link of another request");
    let mail2b = mail_to(&h.stack, APPROVER2, "Second").await?;
    let reject = link_in(&mail2b.html, "Reject").expect("a Reject link");
    assert_eq!(h.post(&reject, None, &[("reason", "Not this week")]).await?.status, 303);
    let rejected = mail_to(&h.stack, REQUESTER, "rejected").await?;
    assert!(rejected.text.contains("Not this week"));
    let late = link_in(&mail1b.html, "Approve").expect("the first approver's second Approve link");
    assert_eq!(h.post(&late, None, &[]).await?.status, 409, "approve after reject");
    let mut expected = vec![key, test_key];
    expected.sort();
    assert_eq!(h.keys("batches/").await?, expected);

    // 8. An approver asks: only the other approver is emailed. Approved, the
    //    send runs slowly; Stop from another site or by an outsider is
    //    refused; the requester's Stop ends it within a batch.
    let third = h.submitted(&approver, "Long sale").await?;
    let mail2c = mail_to(&h.stack, APPROVER2, "Long sale").await?;
    let own = stored_mail(&h.stack).await?;
    assert!(
        !own.iter().any(|m| m.to.iter().any(|t| t == APPROVER) && m.subject.contains("Approval needed: Long sale")),
        "a requester is never asked to approve their own request"
    );
    h.stack.sandbox_config(&json!({"latency_ms": SLOW_PUSH_MS})).await?;
    let approved = h.post(&link_in(&mail2c.html, "Approve").expect("an Approve link"), None, &[]).await?;
    assert_eq!(approved.status, 303, "{}", approved.body);
    let key = format!("batches/approval/{third}.jsonl");
    h.job_when(&key, "to send", |j| !j.status.is_terminal() && j.counters.entries > 0).await?;
    let page = h.get(&format!("{}/requests/{third}", h.base), Some(&approver)).await?;
    assert!(page.body.contains("Stop sending</button>"), "{}", page.body);
    let refused = h.stop(&third, &approver, "cross-site").await?;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(h.stop(&third, &outsider, "same-origin").await?.status, 403);
    assert_eq!(h.stop(&third, &requester, "same-origin").await?.status, 403, "not this request's requester");
    let stopped = h.stop(&third, &approver, "same-origin").await?;
    assert_eq!(stopped.status, 303, "{}", stopped.body);
    let job = h.finished_job(&key).await?;
    h.stack.sandbox_config(&json!({"latency_ms": 0})).await?;
    assert_eq!(job.status.as_str(), "stopped", "{:?}", job.reason);
    let note = job.stop.as_ref().expect("who stopped it");
    assert_eq!((note.by.as_str(), note.reason.as_deref()), (APPROVER, Some("stopped from the approval page")));
    assert!(job.counters.entries < USERS, "stopped before the end: {:?}", job.counters);
    let page = h.get(&format!("{}/requests/{third}", h.base), Some(&approver2)).await?;
    assert!(page.body.contains("id=\"job-status\">stopped<") && !page.body.contains("Stop sending</button>"));
    Ok(())
}

/// Headless Chromium (Debian's, through playwright-core) signs in at the
/// local issuer and sends its ID token with every page request, as an
/// identity-aware proxy would: it fills in the form, opens the approver's
/// email link, confirms, and stops the running send from the status page;
/// it saves screenshots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_flow_in_a_real_browser() -> anyhow::Result<()> {
    const CHROMIUM: &str = "/usr/bin/chromium";
    if !std::path::Path::new(CHROMIUM).exists() {
        eprintln!(
            "\n\n!!!!!!!! SKIPPED: approval_flow_in_a_real_browser needs {CHROMIUM} (Debian's chromium; scripts/setup installs it) !!!!!!!!\n\n"
        );
        return Ok(());
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf();
    let script = root.join("tests/browser/approval.mjs");
    let h = Harness::start().await?;
    // Slow pushes, so the send is still running when the Stop button is pressed.
    h.stack.sandbox_config(&json!({"latency_ms": SLOW_PUSH_MS})).await?;
    let artifacts = pushbatch_tests::target_dir()?.join("artifacts/approval");
    std::fs::create_dir_all(&artifacts)?;
    let profile = tempfile::tempdir()?;
    let users = h.stack.var("LOCAL_USERS_FILE")?;
    let child = tokio::process::Command::new("node")
        .arg(&script)
        .env("APPROVAL_BASE", &h.base)
        .env("ISSUER_URL", h.stack.var("ISSUER_URL")?)
        .env("LOCAL_USERS_FILE", users)
        .env("CLIENT_ID", CONSOLE_CLIENT)
        .env("SES_STORE", format!("{}/store", h.stack.var("AWS_ENDPOINT_URL_SESV2")?))
        .env("APPROVER", APPROVER2)
        .env("REQUESTER", REQUESTER)
        .env("AUDIENCE_KEY", AUDIENCE)
        .env("CHROMIUM", CHROMIUM)
        .env("PROFILE_DIR", profile.path())
        .env("ARTIFACTS", &artifacts)
        .current_dir(&root)
        // A timed-out run is dropped, and with it the browser it started.
        .kill_on_drop(true)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let output = tokio::time::timeout(Duration::from_secs(300), child.wait_with_output())
        .await
        .map_err(|_| anyhow::anyhow!("the browser script did not finish within 300 s"))??;
    let (status, out, err) =
        (output.status, String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(status.success(), "the browser script failed:\n{out}\n{err}");
    let result: Value = serde_json::from_str(out.lines().last().unwrap_or("{}"))
        .map_err(|e| anyhow::anyhow!("the script's last line is not JSON ({e}):\n{out}\n{err}"))?;
    let id = result["request_id"].as_str().expect("the script reports the request id").to_owned();
    for shot in [
        "approval-form.png",
        "approval-form-errors.png",
        "approval-email.png",
        "approval-confirm.png",
        "approval-status.png",
        "approval-stopped.png",
    ] {
        let path = artifacts.join(shot);
        assert!(std::fs::metadata(&path).map(|m| m.len() > 1000).unwrap_or(false), "{} was not saved", path.display());
    }
    let key = format!("batches/approval/{id}.jsonl");
    assert_eq!(h.keys("batches/").await?, std::slice::from_ref(&key));
    let job = h.finished_job(&key).await?;
    assert_eq!(job.status.as_str(), "stopped", "{:?}", job.reason);
    assert_eq!(job.stop.as_ref().map(|s| s.by.as_str()), Some(REQUESTER), "stopped in the requester's name");
    assert!(job.counters.entries < USERS, "{:?}", job.counters);
    Ok(())
}
