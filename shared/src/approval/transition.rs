//! The status transitions, as one pure function: the DynamoDB and in-memory
//! stores both apply it under a version check, so they cannot disagree.

use super::link::Action;
use super::model::{ApprovalRequest, Status};

/// How often an approver may send themselves a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestLimit {
    pub max_per_approver: u32,
    pub min_interval_secs: i64,
}

/// What a link's POST asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub action: Action,
    pub approver: String,
    pub nonce: String,
    /// Unix seconds.
    pub at: i64,
    /// Reject only.
    pub reason: Option<String>,
    pub test_limit: TestLimit,
}

/// Why a command was refused; each has its own page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this link has already been used")]
    LinkUsed,
    #[error("the request is already {}", .0.as_str())]
    NotPending(Status),
    #[error("the request expired")]
    Expired,
    #[error("you are not an approver of this request")]
    NotAnApprover,
    #[error("you asked for this push, so you cannot approve, reject or test it: another approver decides")]
    OwnRequest,
    #[error("you have sent {0} tests already, the most allowed")]
    TestLimit(u32),
    #[error("a test was sent moments ago; wait {0} s before the next")]
    TooSoon(i64),
}

/// The request after `cmd`, or why not. The caller writes the result
/// conditional on the version it read.
pub fn apply(request: &ApprovalRequest, cmd: &Command) -> Result<ApprovalRequest, Refusal> {
    // First, so that a requester who is also an approver (and holds a link
    // from an older request, or one made for them by hand) hears why.
    if request.requester.eq_ignore_ascii_case(&cmd.approver) {
        return Err(Refusal::OwnRequest);
    }
    if !request.approvers.iter().any(|a| a.eq_ignore_ascii_case(&cmd.approver)) {
        return Err(Refusal::NotAnApprover);
    }
    if request.used_links.contains(&cmd.nonce) {
        return Err(Refusal::LinkUsed);
    }
    if request.status != Status::Pending {
        return Err(Refusal::NotPending(request.status));
    }
    if request.is_expired(cmd.at) {
        return Err(Refusal::Expired);
    }
    let mut next = request.clone();
    next.used_links.insert(cmd.nonce.clone());
    next.version += 1;
    match cmd.action {
        Action::Approve => {
            next.status = Status::Approved;
            next.decided_by = Some(cmd.approver.clone());
            next.decided_at = Some(cmd.at);
            next.approved_link = Some(cmd.nonce.clone());
        }
        Action::Reject => {
            next.status = Status::Rejected;
            next.decided_by = Some(cmd.approver.clone());
            next.decided_at = Some(cmd.at);
            next.reason = cmd.reason.clone().filter(|r| !r.trim().is_empty());
        }
        Action::Test => {
            let sends = next.tests.entry(cmd.approver.to_ascii_lowercase()).or_default();
            if sends.count >= cmd.test_limit.max_per_approver {
                return Err(Refusal::TestLimit(sends.count));
            }
            let wait = sends.last_at + cmd.test_limit.min_interval_secs - cmd.at;
            if sends.count > 0 && wait > 0 {
                return Err(Refusal::TooSoon(wait));
            }
            sends.count += 1;
            sends.last_at = cmd.at;
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approval::model::AudienceSource;
    use crate::batch::{Encoding, Header, Notification};

    pub(crate) fn request() -> ApprovalRequest {
        ApprovalRequest {
            request_id: "r1".into(),
            status: Status::Pending,
            requester: "req@example.com".into(),
            created_at: 0,
            expires_at: 1_000,
            header: Header::new("approval-r1", Notification { body: Some("hi".into()), ..Notification::default() }),
            audience: AudienceSource::S3 { key: "requests/r1/audience.jsonl".into(), etag: "e".into() },
            encoding: Encoding::Jsonl,
            users_start: 10,
            first_line: 2,
            counts: Default::default(),
            samples: Vec::new(),
            own_devices: false,
            approvers: vec!["ann@example.com".into(), "bob@example.com".into()],
            decided_by: None,
            decided_at: None,
            reason: None,
            approved_link: None,
            used_links: Default::default(),
            tests: Default::default(),
            batch: None,
            version: 1,
        }
    }

    fn cmd(action: Action, who: &str, nonce: &str, at: i64) -> Command {
        Command {
            action,
            approver: who.into(),
            nonce: nonce.into(),
            at,
            reason: Some("no".into()),
            test_limit: TestLimit { max_per_approver: 2, min_interval_secs: 60 },
        }
    }

    #[test]
    fn approve_once_then_refuse_everything_that_decides() {
        let r = request();
        let approved = apply(&r, &cmd(Action::Approve, "ann@example.com", "n1", 5)).unwrap();
        assert_eq!(approved.status, Status::Approved);
        assert_eq!(approved.decided_by.as_deref(), Some("ann@example.com"));
        assert_eq!(approved.approved_link.as_deref(), Some("n1"));
        assert_eq!(approved.version, 2);
        assert_eq!(apply(&approved, &cmd(Action::Approve, "ann@example.com", "n1", 6)), Err(Refusal::LinkUsed));
        assert_eq!(
            apply(&approved, &cmd(Action::Approve, "bob@example.com", "n2", 6)),
            Err(Refusal::NotPending(Status::Approved))
        );
        assert_eq!(
            apply(&approved, &cmd(Action::Test, "bob@example.com", "n3", 6)),
            Err(Refusal::NotPending(Status::Approved))
        );
    }

    #[test]
    fn reject_records_the_reason_and_blocks_approval() {
        let rejected = apply(&request(), &cmd(Action::Reject, "bob@example.com", "n1", 5)).unwrap();
        assert_eq!((rejected.status, rejected.reason.as_deref()), (Status::Rejected, Some("no")));
        assert_eq!(
            apply(&rejected, &cmd(Action::Approve, "ann@example.com", "n2", 6)),
            Err(Refusal::NotPending(Status::Rejected))
        );
    }

    #[test]
    fn expiry_and_strangers() {
        assert_eq!(apply(&request(), &cmd(Action::Approve, "ann@example.com", "n", 1_000)), Err(Refusal::Expired));
        assert_eq!(apply(&request(), &cmd(Action::Approve, "eve@example.com", "n", 5)), Err(Refusal::NotAnApprover));
    }

    #[test]
    fn the_requester_never_acts_on_their_own_request() {
        let mut r = request();
        r.approvers.push("req@example.com".into());
        for action in Action::ALL {
            assert_eq!(apply(&r, &cmd(action, "Req@Example.com", "n", 5)), Err(Refusal::OwnRequest), "{action:?}");
        }
    }

    #[test]
    fn tests_are_counted_spaced_and_capped() {
        let r = request();
        let t1 = apply(&r, &cmd(Action::Test, "ann@example.com", "n1", 100)).unwrap();
        assert_eq!(t1.status, Status::Pending);
        assert_eq!(t1.tests["ann@example.com"].count, 1);
        assert_eq!(apply(&t1, &cmd(Action::Test, "ann@example.com", "n2", 130)), Err(Refusal::TooSoon(30)));
        let t2 = apply(&t1, &cmd(Action::Test, "ann@example.com", "n2", 160)).unwrap();
        assert_eq!(apply(&t2, &cmd(Action::Test, "ann@example.com", "n3", 900)), Err(Refusal::TestLimit(2)));
        // Another approver has their own allowance, and tests never decide.
        let b = apply(&t2, &cmd(Action::Test, "bob@example.com", "n4", 900)).unwrap();
        assert_eq!(b.tests["bob@example.com"].count, 1);
        assert!(apply(&b, &cmd(Action::Approve, "bob@example.com", "n5", 901)).is_ok());
    }
}
