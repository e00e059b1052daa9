//! The approval flow on the local stack: submit over HTTP, the emails arrive
//! in aws-ses-v2-local, the approve link from the HTML is followed (GET →
//! confirm page → POST), the batch file appears and send-batch's job runs
//! to completion against the sandbox. Then links that are tampered with,
//! reused or too late are refused with nothing written, and a real browser
//! drives the same flow.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use pushbatch_tests::approval::*;
use pushbatch_tests::{Stack, eventually};
use serde_json::{Value, json};
use shared::jobs::{DynamoJobs, JobRecord, JobsByObject};

const USERS: u64 = 40;
const JOB_WAIT: Duration = Duration::from_secs(300);

/// Users with inline devices (one iOS, one Android each, shaped as the
/// sandbox expects), so every push is delivered without seeding the devices
/// table.
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

struct Harness {
    stack: Stack,
    base: String,
    http: reqwest::Client,
    jobs: DynamoJobs,
    _key_dir: tempfile::TempDir,
}

impl Harness {
    async fn start() -> anyhow::Result<Self> {
        let key_dir = tempfile::tempdir()?;
        let stack = Stack::start(stack_options(key_dir.path())?).await?;
        let base = base_url(&stack)?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(120))
            .build()?;
        let jobs = DynamoJobs::new(stack.dynamodb().await, stack.var("JOBS_TABLE")?);
        let h = Self { stack, base, http, jobs, _key_dir: key_dir };
        h.put("requests/e2e/audience.jsonl", audience().into_bytes()).await?;
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
        Ok(out.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect())
    }

    async fn etag(&self, key: &str) -> anyhow::Result<String> {
        let s3 = self.stack.s3().await;
        let out = s3.head_object().bucket(self.stack.bucket()).key(key).send().await?;
        Ok(shared::objects::unquote(out.e_tag().unwrap_or_default()))
    }

    async fn finished_job(&self, key: &str) -> anyhow::Result<JobRecord> {
        let etag = self.etag(key).await?;
        let bucket = self.stack.bucket().to_owned();
        eventually(&format!("the job of {key} to end"), JOB_WAIT, || async {
            let jobs = self.jobs.find_by_object(&bucket, key, &etag).await?;
            Ok(jobs.into_iter().find(|j| j.status.is_terminal()))
        })
        .await
    }

    async fn get(&self, url: &str) -> anyhow::Result<(u16, String)> {
        let r = self.http.get(url).send().await?;
        Ok((r.status().as_u16(), r.text().await?))
    }

    async fn post(&self, url: &str, form: &[(&str, &str)]) -> anyhow::Result<(u16, String, String)> {
        let r = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(urlencoded(form))
            .send()
            .await?;
        let location = r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        Ok((r.status().as_u16(), location, r.text().await?))
    }

    async fn submit(&self, title: &str) -> anyhow::Result<String> {
        let (status, location, body) = self
            .post(
                &format!("{}/requests", self.base),
                &[
                    ("requester", REQUESTER),
                    ("title", title),
                    ("body", "Hello {{name}}, <b>50%</b> off today"),
                    ("data", r#"{"deeplink": "app://sale"}"#),
                    ("category", "promo"),
                    ("audience_key", "requests/e2e/audience.jsonl"),
                ],
            )
            .await?;
        anyhow::ensure!(status == 303, "submitting answered {status}: {body}");
        request_id_in(&location).ok_or_else(|| anyhow::anyhow!("no request id in {location:?}"))
    }
}

/// `application/x-www-form-urlencoded`, as a browser sends a form.
fn urlencoded(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => (b as char).to_string(),
                b' ' => "+".to_owned(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_flow_on_the_local_stack() -> anyhow::Result<()> {
    let h = Harness::start().await?;

    // 1. The form, then a submission over HTTP.
    let (status, form) = h.get(&format!("{}/requests/new", h.base)).await?;
    assert_eq!(status, 200, "{form}");
    assert!(form.contains(&format!("action=\"{}/requests\"", h.base)), "links use the stack's address");
    let id = h.submit("Summer <sale>").await?;

    // 2. Everyone is emailed, through SES v2.
    let submitted = mail_to(&h.stack, REQUESTER, "sent for approval").await?;
    assert!(submitted.html.contains(&format!("{}/requests/{id}", h.base)));
    let bob = mail_to(&h.stack, APPROVER_BOB, "Approval needed").await?;
    assert!(bob.subject.contains(&format!("({USERS} users)")), "{}", bob.subject);
    assert!(bob.html.contains("Summer &lt;sale&gt;") && !bob.html.contains("Summer <sale>"), "escaped");
    assert!(bob.html.contains("&quot;deeplink&quot;: &quot;app://sale&quot;"));
    assert!(link_in(&bob.html, "Send me a test").is_none(), "bob has no test users");
    let ann = mail_to(&h.stack, APPROVER_ANN, "Approval needed").await?;
    assert!(link_in(&ann.html, "Send me a test").is_some());
    assert!(h.keys("batches/").await?.is_empty(), "nothing is written before approval");

    // 3. Bob's approve link: the GET only confirms, the POST approves.
    let approve = link_in(&bob.html, "Approve").expect("an Approve link");
    assert!(approve.starts_with(&format!("{}/requests/{id}/links/", h.base)));
    let (status, page) = h.get(&approve).await?;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Approve this push?") && page.contains(&format!("{USERS} users")));
    assert!(h.keys("batches/").await?.is_empty(), "a GET never acts");
    let (status, location, body) = h.post(&approve, &[]).await?;
    assert_eq!(status, 303, "{body}");
    assert_eq!(location, format!("{}/requests/{id}?notice=approved", h.base));

    // 4. The batch file appears and its job runs to completion.
    let key = format!("batches/approval/{id}.jsonl");
    assert_eq!(h.keys("batches/").await?, std::slice::from_ref(&key));
    let job = h.finished_job(&key).await?;
    assert_eq!(job.status.as_str(), "done", "{:?}", job.reason);
    assert_eq!(job.counters.entries, USERS);
    assert_eq!(job.counters.targeted_users, USERS);
    assert_eq!(job.counters.total_devices().delivered, 2 * USERS, "{:?}", job.counters);
    let told = mail_to(&h.stack, REQUESTER, "approved").await?;
    assert!(told.text.contains(APPROVER_BOB));
    let (_, status_page) = h.get(&format!("{}/requests/{id}", h.base)).await?;
    assert!(status_page.contains(">approved<") && status_page.contains(APPROVER_BOB));
    assert!(
        status_page.contains("Sending: Summary") && status_page.contains("id=\"job-status\">done<"),
        "{status_page}"
    );

    // 5. Links refused on the stack, and nothing more written.
    let (status, _, body) = h.post(&approve, &[]).await?;
    assert_eq!(status, 409, "reused: {body}");
    assert!(body.contains("already been used"));
    let ann_approve = link_in(&ann.html, "Approve").expect("Ann's Approve link");
    let (status, _, body) = h.post(&ann_approve, &[]).await?;
    assert_eq!(status, 409);
    assert!(body.contains("Already approved"));
    let tampered = format!("{}x", &ann_approve[..ann_approve.len() - 1]);
    let (status, _, _) = h.post(&tampered, &[]).await?;
    assert_eq!(status, 403, "tampered");
    assert_eq!(h.keys("batches/").await?, std::slice::from_ref(&key), "refused links wrote nothing");

    // 6. A second request: Ann sends herself a test, another link of hers
    //    for the first request is refused here, then Bob rejects.
    let second = h.submit("Second").await?;
    let ann2 = mail_to(&h.stack, APPROVER_ANN, "Second").await?;
    let test = link_in(&ann2.html, "Send me a test").expect("a test link");
    let (status, _, body) = h.post(&test, &[]).await?;
    assert_eq!(status, 200, "{body}");
    let test_key = format!("batches/approval/{second}/test-ann_example.com-1.jsonl");
    let test_job = h.finished_job(&test_key).await?;
    assert_eq!(test_job.counters.entries, 1, "only Ann's own user");
    let other = ann_approve.replace(&id, &second);
    let (status, _, body) = h.post(&other, &[]).await?;
    assert_eq!(status, 403, "a link of another request: {body}");
    let bob2 = mail_to(&h.stack, APPROVER_BOB, "Second").await?;
    let (status, _, _) =
        h.post(&link_in(&bob2.html, "Reject").expect("a Reject link"), &[("reason", "Not this week")]).await?;
    assert_eq!(status, 303);
    let rejected = mail_to(&h.stack, REQUESTER, "rejected").await?;
    assert!(rejected.text.contains("Not this week"));
    let (status, _, _) = h.post(&link_in(&ann2.html, "Approve").expect("Ann's second Approve link"), &[]).await?;
    assert_eq!(status, 409, "approve after reject");
    let mut keys = h.keys("batches/").await?;
    keys.sort();
    let mut expected = vec![key, test_key];
    expected.sort();
    assert_eq!(keys, expected);
    Ok(())
}

/// Headless Chromium (Debian's, through playwright-core) fills in the form,
/// opens the approver's email link, confirms, and saves screenshots.
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
    let artifacts = pushbatch_tests::target_dir()?.join("artifacts/approval");
    std::fs::create_dir_all(&artifacts)?;
    let profile = tempfile::tempdir()?;
    let child = tokio::process::Command::new("node")
        .arg(&script)
        .env("APPROVAL_BASE", &h.base)
        .env("SES_STORE", format!("{}/store", h.stack.var("AWS_ENDPOINT_URL_SESV2")?))
        .env("APPROVER", APPROVER_BOB)
        .env("REQUESTER", REQUESTER)
        .env("AUDIENCE_KEY", "requests/e2e/audience.jsonl")
        .env("CHROMIUM", CHROMIUM)
        .env("PROFILE_DIR", profile.path())
        .env("ARTIFACTS", &artifacts)
        .current_dir(&root)
        // A timed-out run is dropped, and with it the browser it started.
        .kill_on_drop(true)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let output = tokio::time::timeout(Duration::from_secs(240), child.wait_with_output())
        .await
        .map_err(|_| anyhow::anyhow!("the browser script did not finish within 240 s"))??;
    let (status, out, err) =
        (output.status, String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(status.success(), "the browser script failed:\n{out}\n{err}");
    let result: Value = serde_json::from_str(out.lines().last().unwrap_or("{}"))
        .map_err(|e| anyhow::anyhow!("the script's last line is not JSON ({e}):\n{out}\n{err}"))?;
    let id = result["request_id"].as_str().expect("the script reports the request id").to_owned();
    for shot in ["approval-form.png", "approval-email.png", "approval-confirm.png", "approval-status.png"] {
        let path = artifacts.join(shot);
        assert!(std::fs::metadata(&path).map(|m| m.len() > 1000).unwrap_or(false), "{} was not saved", path.display());
    }
    let key = format!("batches/approval/{id}.jsonl");
    assert_eq!(h.keys("batches/").await?, std::slice::from_ref(&key));
    let job = h.finished_job(&key).await?;
    assert_eq!(job.counters.total_devices().delivered, 2 * USERS);
    Ok(())
}
