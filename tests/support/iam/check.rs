//! Both ways: every request a function made is allowed by its policy (and
//! denied by no bucket policy), and every grant of its policy (statement ×
//! action × resource) was used by at least one request, or is excepted
//! with a reason.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use shared::aws::record::CallRecord;

use super::Deployment;
use super::model::{FunctionPolicy, Model};
use super::policy::{Effect, Request, Statement, glob};
use super::requests::Names;

/// A grant the local stack cannot exercise, and why.
#[derive(Debug, Clone, Copy)]
pub struct Exception {
    /// The function's binary (`send-batch`).
    pub function: &'static str,
    /// The statement's `Sid`.
    pub sid: &'static str,
    pub action: &'static str,
    pub reason: &'static str,
}

/// What the check found: `problems` empty means it passed.
#[derive(Debug, Default)]
pub struct Report {
    pub problems: Vec<String>,
    pub summary: Vec<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.summary {
            writeln!(f, "{line}")?;
        }
        for problem in &self.problems {
            writeln!(f, "\n- {problem}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Seen {
    calls: usize,
    failed: usize,
    operations: BTreeSet<String>,
}

/// (statement, action, resource) as the policy writes them.
type Grant = (String, String, String);

pub fn check(model: &Model, records: &[CallRecord], deployment: &Deployment, exceptions: &[Exception]) -> Report {
    let mut report = Report::default();
    let known: BTreeSet<&str> = model.functions.iter().map(|f| f.binary.as_str()).collect();
    let strangers: BTreeSet<&str> =
        records.iter().map(|r| r.function.as_str()).filter(|f| !known.contains(f)).collect();
    for stranger in strangers {
        report.problems.push(format!("calls were recorded for {stranger}, which template.yaml has no function for"));
    }
    let mut exceptions_used = vec![false; exceptions.len()];
    for function in &model.functions {
        let mine: Vec<&CallRecord> = records.iter().filter(|r| r.function == function.binary).collect();
        check_function(model, function, &mine, deployment, exceptions, &mut exceptions_used, &mut report);
    }
    for (exception, used) in exceptions.iter().zip(exceptions_used) {
        if !used {
            report.problems.push(format!(
                "the exception for {} {} in statement {} is stale: the template grants no such action there, or \
                 the run made the call; remove the exception",
                exception.function, exception.action, exception.sid
            ));
        }
    }
    report
}

fn check_function(
    model: &Model,
    function: &FunctionPolicy,
    records: &[&CallRecord],
    deployment: &Deployment,
    exceptions: &[Exception],
    exceptions_used: &mut [bool],
    report: &mut Report,
) {
    let name = &function.binary;
    if records.is_empty() {
        // One problem, not one per grant: the cause is the run, not the policy.
        report.problems.push(format!(
            "no calls were recorded for {name}, so none of its grants can be checked: did the run pass \
             PUSHBATCH_AWS_CALL_LOG to it, and does a test run it?"
        ));
        for (i, e) in exceptions.iter().enumerate().filter(|(_, e)| e.function == name.as_str()) {
            exceptions_used[i] = function.statements.iter().any(|s| s.sid == e.sid);
        }
        report.summary.push(format!("{name}: no calls recorded"));
        return;
    }
    let names = Names::new(deployment, function);
    let mut requests: BTreeMap<Request, Seen> = BTreeMap::new();
    let mut unreadable = BTreeSet::new();
    for record in records {
        for access in &record.access {
            match names.request(access) {
                Ok(request) => {
                    let seen = requests.entry(request).or_default();
                    seen.calls += 1;
                    seen.failed += usize::from(!record.ok);
                    seen.operations.insert(format!("{} {}", record.service, record.operation));
                }
                Err(why) => {
                    unreadable.insert(format!("{name}: {why}"));
                }
            }
        }
    }
    report.problems.extend(unreadable);

    let mut used: BTreeSet<Grant> = BTreeSet::new();
    let mut denied: BTreeMap<(String, String), Vec<(&Request, &Seen)>> = BTreeMap::new();
    let mut errors = BTreeSet::new();
    for (request, seen) in &requests {
        let allows: Vec<&Statement> = function
            .statements
            .iter()
            .filter(|s| s.effect == Effect::Allow && applies(s, request, &mut errors))
            .collect();
        let mut denies: Vec<String> = function
            .statements
            .iter()
            .filter(|s| s.effect == Effect::Deny && applies(s, request, &mut errors))
            .map(|s| format!("{}'s statement {}", function.logical_id, s.sid))
            .collect();
        for policy in &model.bucket_policies {
            let bucket_arn = format!("arn:{}:s3:::{}", deployment.partition, policy.bucket);
            if request.resource == bucket_arn || request.resource.starts_with(&format!("{bucket_arn}/")) {
                denies.extend(
                    policy
                        .statements
                        .iter()
                        .filter(|s| s.effect == Effect::Deny && applies(s, request, &mut errors))
                        .map(|s| format!("{}'s statement {}", policy.logical_id, s.sid)),
                );
            }
        }
        for statement in &allows {
            for action in statement.actions.iter().filter(|a| glob(&a.to_lowercase(), &request.action.to_lowercase())) {
                for resource in statement.resources.iter().filter(|r| glob(r, &request.resource)) {
                    used.insert((statement.sid.clone(), action.clone(), resource.clone()));
                }
            }
        }
        let verdict = if !denies.is_empty() {
            Some(format!("is denied by {}", denies.join(" and ")))
        } else if allows.is_empty() {
            Some(nothing_allows(function, request))
        } else {
            None
        };
        if let Some(verdict) = verdict {
            denied.entry((request.action.clone(), verdict)).or_default().push((request, seen));
        }
    }
    report.problems.extend(errors.into_iter().map(|e| format!("{name}: {e}")));
    for ((_, verdict), group) in &denied {
        let (first, seen) = group[0];
        let calls: usize = group.iter().map(|(_, s)| s.calls).sum();
        let failed: usize = group.iter().map(|(_, s)| s.failed).sum();
        let more = if group.len() > 1 { format!(" and {} more like it", group.len() - 1) } else { String::new() };
        let operations: Vec<&str> = seen.operations.iter().map(String::as_str).collect();
        report.problems.push(format!(
            "{name} made {first}{more} ({}; {calls} calls, {failed} failed), which {verdict}",
            operations.join(", ")
        ));
    }

    let (mut total, mut made, mut excepted) = (0, 0, 0);
    for statement in function.statements.iter().filter(|s| s.effect == Effect::Allow) {
        for action in &statement.actions {
            for resource in &statement.resources {
                total += 1;
                if used.contains(&(statement.sid.clone(), action.clone(), resource.clone())) {
                    made += 1;
                    continue;
                }
                let exception = exceptions
                    .iter()
                    .position(|e| e.function == name.as_str() && e.sid == statement.sid && e.action == action.as_str());
                if let Some(i) = exception {
                    exceptions_used[i] = true;
                    excepted += 1;
                    continue;
                }
                report.problems.push(format!(
                    "{name}: statement {} of {}'s policy grants {action} on {resource}, and {name} never made that \
                     call in this run: remove the grant, or add a test that makes the call (or an exception with \
                     its reason in tests/least_privilege.rs)",
                    statement.sid, function.logical_id
                ));
            }
        }
    }
    let failed = records.iter().filter(|r| !r.ok).count();
    let denied_count: usize = denied.values().map(Vec::len).sum();
    report.summary.push(format!(
        "{name}: {} calls ({failed} failed), {} distinct requests, {denied_count} not allowed; grants used {made} \
         of {total}, excepted {excepted}",
        records.len(),
        requests.len()
    ));
}

fn applies(statement: &Statement, request: &Request, errors: &mut BTreeSet<String>) -> bool {
    statement.applies(request).unwrap_or_else(|e| {
        errors.insert(e.to_string());
        false
    })
}

/// Why no statement allows `request`, naming the statements nearest to it.
fn nothing_allows(function: &FunctionPolicy, request: &Request) -> String {
    let allow = || function.statements.iter().filter(|s| s.effect == Effect::Allow);
    let describe = |s: &Statement| format!("{} ({} on {})", s.sid, s.actions.join(", "), s.resources.join(", "));
    let same_action: Vec<String> = allow().filter(|s| s.matches_action(&request.action)).map(describe).collect();
    let same_resource: Vec<String> = allow().filter(|s| s.matches_resource(&request.resource)).map(describe).collect();
    let mut why = format!("no statement of {}'s policy allows", function.logical_id);
    if !same_action.is_empty() {
        why.push_str(&format!("; {} grants the action elsewhere", same_action.join("; ")));
    }
    if !same_resource.is_empty() {
        why.push_str(&format!("; {} covers the resource with other actions or conditions", same_resource.join("; ")));
    }
    why
}
