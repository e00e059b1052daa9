//! The status page's Stop button (issue 16): shown to the requester and the
//! request's approvers while the job runs; it asks send-batch, in the
//! caller's name, to stop the job; it refuses other sites' pages, outsiders
//! and finished jobs, and says what send-batch refused.

mod common;

use common::*;
use serde_json::json;
use shared::approval::RequestGet;
use shared::jobs::{Control, ControlState, JobRecord, JobStatus, StopNote};

const ZED: &str = "zed@example.com";
const JOB: &str = "approval-job";

/// An approved request whose batch file's job is running.
async fn running() -> (App, String) {
    let app = App::with(&[("REQUESTERS", "@example.com"), ("SEND_BATCH_FUNCTION", "pb-send-batch")]);
    let id = app.submit("Sale", "Hi").await;
    assert_eq!(app.post_form(&app.link(BOB, "Approve"), &[]).await.status, 303);
    let b = app.deps.requests.get(&id).await.unwrap().unwrap().batch.expect("the batch file");
    let job = JobRecord::new(JOB, &b.bucket, &b.key, b.etag.as_deref().unwrap(), 0);
    app.deps.jobs.records.lock().unwrap().insert(JOB.into(), job);
    (app, id)
}

fn set_status(app: &App, status: JobStatus) {
    app.deps.jobs.records.lock().unwrap().get_mut(JOB).unwrap().status = status;
}

async fn press_stop(app: &App, id: &str, who: &str, site: &str) -> Reply {
    app.signed_in(who).header("sec-fetch-site", site).post_form(&format!("{BASE}/requests/{id}/stop"), &[]).await
}

#[tokio::test]
async fn the_requester_and_approvers_see_stop_while_the_job_runs() {
    let (app, id) = running().await;
    let url = format!("{BASE}/requests/{id}");
    for who in [MIA, ANN, BOB] {
        let page = app.signed_in(who).get(&url).await;
        assert!(page.body.contains(&format!("action=\"{BASE}/requests/{id}/stop\"")), "{who}: {}", page.body);
        assert!(page.body.contains("id=\"stop\">Stop sending</button>"));
        assert_eq!(page.headers["referrer-policy"], "same-origin", "so the button's POST carries its Origin");
    }
    let zed = app.signed_in(ZED).get(&url).await;
    assert_eq!(zed.status, 200, "another requester may look");
    assert!(!zed.body.contains("Stop sending"), "but not stop");
    set_status(&app, JobStatus::Done);
    assert!(!app.status_page(&id).await.body.contains("Stop sending"), "a finished job has no button");
}

#[tokio::test]
async fn stop_invokes_send_batch_in_the_callers_name() {
    let (app, id) = running().await;
    let r = press_stop(&app, &id, BOB, "same-origin").await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location, format!("{BASE}/requests/{id}?notice=stopping"));
    assert_eq!(
        app.deps.controls.sent(),
        [(
            "pb-send-batch".to_owned(),
            json!({"control": {"job_id": JOB, "action": "stop", "by": BOB, "reason": "stopped from the approval page"}})
        )]
    );
    // An older browser without Sec-Fetch-Site, from this site's page.
    let r = app.signed_in(MIA).header("origin", BASE).post_form(&format!("{BASE}/requests/{id}/stop"), &[]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(app.deps.controls.sent()[1].1["control"]["by"], MIA);

    // Until the job's links have seen it, the page says it is stopping.
    let control = Control { state: ControlState::Stopped, by: BOB.into(), version: 1, ..Control::initial(JOB) };
    app.deps.jobs.controls.lock().unwrap().insert(JOB.into(), control);
    let page = app.signed_in(MIA).get(&format!("{BASE}/requests/{id}?notice=stopping")).await;
    assert!(
        page.body.contains("id=\"job-status\">stopping<") && page.body.contains("Stopped by <strong>bob@example.com")
    );
    assert!(page.body.contains("Stop sent") && !page.body.contains("Stop sending</button>"), "{}", page.body);
}

#[tokio::test]
async fn stop_refuses_other_sites_outsiders_and_callers_without_claims() {
    let (app, id) = running().await;
    let url = format!("{BASE}/requests/{id}/stop");
    for site in ["cross-site", "same-site", "none"] {
        let r = press_stop(&app, &id, MIA, site).await;
        assert_eq!(r.status, 403, "{site}");
        assert!(r.body.contains("another site") && r.body.contains("Nothing was stopped"), "{}", r.body);
    }
    let r = app.signed_in(MIA).header("origin", "https://evil.example.net").post_form(&url, &[]).await;
    assert_eq!(r.status, 403);
    let r = app.signed_in(MIA).post_form(&url, &[]).await;
    assert_eq!(r.status, 403, "neither header: refused");
    let r = press_stop(&app, &id, ZED, "same-origin").await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("only the requester and the request&#39;s approvers"), "{}", r.body);
    let r = app.anonymous().header("sec-fetch-site", "same-origin").post_form(&url, &[]).await;
    assert_eq!(r.status, 401);
    assert!(app.deps.controls.sent().is_empty(), "nothing was sent to send-batch");
}

#[tokio::test]
async fn what_send_batch_refuses_is_shown() {
    let (app, id) = running().await;
    let reason = "job approval-job is already done: there is nothing to control";
    *app.deps.controls.answer.lock().unwrap() = Some(json!({"refused": {"job_id": JOB, "reason": reason}}));
    let r = press_stop(&app, &id, MIA, "same-origin").await;
    assert_eq!(r.status, 409);
    assert!(r.body.contains(reason), "{}", r.body);

    *app.deps.controls.answer.lock().unwrap() = None;
    let r = press_stop(&app, &id, MIA, "same-origin").await;
    assert_eq!(r.status, 502);
    assert!(r.body.contains("may still be sending") && r.body.contains("pushbatch stop approval-job"), "{}", r.body);
    assert_eq!(app.deps.controls.sent().len(), 2);
}

#[tokio::test]
async fn nothing_to_stop_is_said_without_calling_send_batch() {
    let (app, id) = running().await;
    {
        let mut records = app.deps.jobs.records.lock().unwrap();
        let job = records.get_mut(JOB).unwrap();
        job.status = JobStatus::Stopped;
        job.reason = Some("stopped by bob@example.com: stopped from the approval page".into());
        let note =
            StopNote { by: BOB.into(), reason: Some("stopped from the approval page".into()), at_ms: 0, offset: 9 };
        job.stop = Some(note);
    }
    let page = app.status_page(&id).await;
    assert!(page.body.contains("Stopped by <strong>bob@example.com</strong> (stopped from the approval page)."));
    assert_eq!(page.body.matches("stopped from the approval page").count(), 1, "said once: {}", page.body);
    let r = press_stop(&app, &id, MIA, "same-origin").await;
    assert_eq!(r.status, 409);
    assert!(r.body.contains("already ended (stopped)"), "{}", r.body);

    // A pending request has no job at all.
    let pending = app.submit("Later", "Hi").await;
    let r = press_stop(&app, &pending, MIA, "same-origin").await;
    assert_eq!(r.status, 409);
    assert!(r.body.contains("Nothing is being sent"));
    assert!(app.deps.controls.sent().is_empty());
}
