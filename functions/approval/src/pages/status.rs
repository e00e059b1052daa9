//! `GET /requests/{id}`: the request, its decision, and its send job.

use shared::approval::{ApprovalRequest, Status};
use shared::jobs::JobRecord;

use crate::html::{esc, page, time};
use crate::pages::confirm::summary;

/// A send job as the page shows it.
pub struct JobView {
    pub job: JobRecord,
    /// Who stopped it, while its links have not all seen the stop yet.
    pub stopping: Option<String>,
}

/// What the caller may do on the page.
pub struct Viewer {
    /// Where the Stop button posts; None for those who may only look.
    pub stop_url: Option<String>,
}

impl JobView {
    fn runs(&self) -> bool {
        !self.job.status.is_terminal() && self.stopping.is_none()
    }
}

/// The Stop button: a plain POST form (the pages run no script).
fn stop_button(url: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{}\" class=\"stop\"><p>Stopping ends the send within one batch of each \
         part; the users not reached yet get nothing, and it cannot be undone.</p>\
         <button type=\"submit\" class=\"danger\" id=\"stop\">Stop sending</button></form>",
        esc(url)
    )
}

fn shards_note(job: &JobRecord) -> String {
    let Some(set) = &job.shards else { return String::new() };
    let finished = (0..set.count()).filter(|i| set.is_finished(*i)).count();
    format!("<p>Sent in {} parallel parts; {finished} finished.</p>", set.count())
}

fn job_block(view: &JobView) -> String {
    let job = &view.job;
    let c = &job.counters;
    let d = c.total_devices();
    let state = if job.status.is_terminal() { "Summary" } else { "Progress" };
    let shown_status = if view.stopping.is_some() { "stopping" } else { job.status.as_str() };
    let stopped = match (&view.stopping, &job.stop) {
        (Some(by), _) => {
            format!("<p>Stopped by <strong>{}</strong>; the parts still sending stop at their next batch.</p>", esc(by))
        }
        (None, Some(note)) => format!(
            "<p>Stopped by <strong>{}</strong>{}.</p>",
            esc(&note.by),
            note.reason.as_deref().map(|r| format!(" ({})", esc(r))).unwrap_or_default()
        ),
        (None, None) => String::new(),
    };
    // A stopped job's reason repeats its stop note, shown above.
    let reason = match (&job.reason, &job.stop) {
        (Some(r), None) => format!("<p class=\"error\">{}</p>", esc(r)),
        _ => String::new(),
    };
    let parts = shards_note(job);
    format!(
        "<h2>Sending: {state}</h2><p>Job <code>{}</code> is <strong id=\"job-status\">{shown_status}</strong>.</p>{stopped}{parts}{reason}\
         <table><tbody>\
         <tr><th scope=\"row\">Entries read</th><td>{}</td></tr>\
         <tr><th scope=\"row\">Users targeted</th><td>{}</td></tr>\
         <tr><th scope=\"row\">Opted out</th><td>{}</td></tr>\
         <tr><th scope=\"row\">Without devices</th><td>{}</td></tr>\
         <tr><th scope=\"row\">Devices delivered</th><td>{}</td></tr>\
         <tr><th scope=\"row\">Devices pruned (dead tokens)</th><td>{}</td></tr>\
         <tr><th scope=\"row\">Devices failed</th><td>{}</td></tr>\
         </tbody></table>",
        esc(&job.job_id),
        c.entries,
        c.targeted_users,
        c.opted_out,
        c.no_devices,
        d.delivered,
        d.pruned,
        d.failed,
    )
}

/// `jobs` is None when the job could not be looked up (shown, not fatal).
pub fn render(
    r: &ApprovalRequest,
    now: i64,
    jobs: Option<&[JobView]>,
    notice: Option<&str>,
    viewer: &Viewer,
) -> String {
    let label = r.status_label(now);
    let decision = match (&r.decided_by, r.decided_at) {
        (Some(by), Some(at)) => {
            format!("<dt>Decided by</dt><dd>{}</dd><dt>Decided at</dt><dd>{}</dd>", esc(by), time(at))
        }
        _ => format!("<dt>Expires</dt><dd>{}</dd>", time(r.expires_at)),
    };
    let reason = r.reason.as_deref().map(|x| format!("<dt>Reason</dt><dd>{}</dd>", esc(x))).unwrap_or_default();
    let tests: String = r.tests.iter().map(|(who, t)| format!("<li>{}: {} test(s)</li>", esc(who), t.count)).collect();
    let tests = if tests.is_empty() { String::new() } else { format!("<h2>Test sends</h2><ul>{tests}</ul>") };
    let mut refresh = None;
    let sending = match (&r.batch, jobs) {
        (Some(b), Some([])) => {
            refresh = Some(5);
            format!("<p>The batch file <code>{}</code> is written; sending is about to start.</p>", esc(&b.key))
        }
        (Some(b), Some(jobs)) => {
            if jobs.iter().any(|j| !j.job.status.is_terminal()) {
                refresh = Some(5);
            }
            let stop = match &viewer.stop_url {
                Some(url) if jobs.iter().any(JobView::runs) => stop_button(url),
                _ => String::new(),
            };
            format!(
                "<p>Batch file: <code>{}</code></p>{}{stop}",
                esc(&b.key),
                jobs.iter().map(job_block).collect::<String>()
            )
        }
        (Some(b), None) => format!("<p>Batch file: <code>{}</code> (its progress is not available right now).</p>", esc(&b.key)),
        (None, _) if r.status == Status::Approved => {
            "<p class=\"error\">Approved, but the batch file is not written yet. Pressing Approve again on the same link \
             retries it.</p>"
                .to_owned()
        }
        (None, _) => String::new(),
    };
    let notice = notice
        .map(|n| format!("<div class=\"notice good\" role=\"status\"><p>{}</p></div>", esc(n)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Push request</h1>{notice}<p>Status: <strong id=\"status\" class=\"status-{label}\">{label}</strong></p>\
         <dl><dt>Request</dt><dd><code>{}</code></dd>{decision}{reason}</dl>{sending}{tests}<h2>The request</h2>{}",
        esc(&r.request_id),
        summary(r)
    );
    page(&format!("Request {label}"), &body, refresh)
}
