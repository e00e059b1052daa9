//! EventBridge Scheduler's one-time schedules, for the local stack: the
//! restJson1 operations send-batch and awscli use (CreateSchedule,
//! GetSchedule, DeleteSchedule, ListSchedules, CreateScheduleGroup) on the
//! Lambda listener (`AWS_ENDPOINT_URL_SCHEDULER`), and a task that invokes
//! each schedule's Lambda target asynchronously, through the plane's queue,
//! once its `at()` has come by the schedule clock (which tests move with a
//! clock file instead of waiting for 09:00).
//!
//! What AWS refuses is refused with its error type; what this emulation
//! does not do (`rate()`, `cron()`, targets other than Lambda) is refused
//! with a ValidationException that says so.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use http::header::HeaderValue;
use http::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::clock::Clock;
use crate::function_name::plain_function_name;
use crate::http::{Body, json_response, query_pairs};
use crate::queue::{Job, Queue};
use crate::stats::Source;

/// How often due schedules are looked for. Scheduler's own precision is a
/// minute; a test moving the clock file sees its schedule fire within this.
const TICK: Duration = Duration::from_millis(200);

/// Scheduler's limit on a target's `Input`.
const MAX_INPUT_CHARS: usize = 8192;

#[derive(Debug, Clone)]
struct Schedule {
    name: String,
    group: String,
    expression: String,
    timezone: String,
    at: DateTime<Utc>,
    /// The whole `Target` as sent, returned by GetSchedule.
    target: Value,
    function: String,
    input: Option<String>,
    window: Value,
    delete_after: bool,
    enabled: bool,
    created: DateTime<Utc>,
    invoked: bool,
}

#[derive(Debug, thiserror::Error)]
enum SchedulerError {
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
}

impl SchedulerError {
    fn response(&self) -> Response<Body> {
        let (status, kind) = match self {
            SchedulerError::Validation(_) => (StatusCode::BAD_REQUEST, "ValidationException"),
            SchedulerError::NotFound(_) => (StatusCode::NOT_FOUND, "ResourceNotFoundException"),
            SchedulerError::Conflict(_) => (StatusCode::CONFLICT, "ConflictException"),
        };
        let mut resp = json_response(status, &json!({"Message": self.to_string()}));
        resp.headers_mut().insert("x-amzn-errortype", HeaderValue::from_static(kind));
        resp
    }
}

pub struct Scheduler {
    schedules: Mutex<BTreeMap<(String, String), Schedule>>,
    groups: Mutex<Vec<String>>,
    clock: Arc<dyn Clock>,
    queue: Arc<Queue>,
    region: String,
    account_id: String,
}

impl Scheduler {
    pub fn new(clock: Arc<dyn Clock>, queue: Arc<Queue>, region: &str, account_id: &str) -> Self {
        Self {
            schedules: Mutex::new(BTreeMap::new()),
            groups: Mutex::new(vec!["default".to_owned()]),
            clock,
            queue,
            region: region.to_owned(),
            account_id: account_id.to_owned(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<(String, String), Schedule>> {
        self.schedules.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a request is one of Scheduler's, by its path.
    pub fn serves(path: &str) -> bool {
        path == "/schedules" || path.starts_with("/schedules/") || path.starts_with("/schedule-groups/")
    }

    pub fn handle(&self, method: &Method, path: &str, query: Option<&str>, body: &[u8]) -> Response<Body> {
        let pairs = query_pairs(query);
        let param = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let result = match (method, path.strip_prefix("/schedules/"), path.strip_prefix("/schedule-groups/")) {
            (&Method::POST, Some(name), _) => self.create(name, body),
            (&Method::GET, Some(name), _) => self.get(name, &param("groupName").unwrap_or_else(|| "default".into())),
            (&Method::DELETE, Some(name), _) => {
                self.delete(name, &param("groupName").unwrap_or_else(|| "default".into()))
            }
            (&Method::GET, None, None) if path == "/schedules" => Ok(self.list(param("ScheduleGroup").as_deref())),
            (&Method::POST, _, Some(group)) => self.create_group(group),
            _ => Err(SchedulerError::Validation(format!(
                "event-plane's Scheduler implements CreateSchedule, GetSchedule, DeleteSchedule, ListSchedules and \
                 CreateScheduleGroup, not {method} {path}"
            ))),
        };
        result.unwrap_or_else(|e| e.response())
    }

    fn arn(&self, group: &str, name: &str) -> String {
        format!("arn:aws:scheduler:{}:{}:schedule/{group}/{name}", self.region, self.account_id)
    }

    fn create_group(&self, group: &str) -> Result<Response<Body>, SchedulerError> {
        check_name("schedule group", group)?;
        let mut groups = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        if groups.iter().any(|g| g == group) {
            return Err(SchedulerError::Conflict(format!("Schedule group {group} already exists.")));
        }
        groups.push(group.to_owned());
        let arn = format!("arn:aws:scheduler:{}:{}:schedule-group/{group}", self.region, self.account_id);
        Ok(json_response(StatusCode::OK, &json!({"ScheduleGroupArn": arn})))
    }

    fn create(&self, name: &str, body: &[u8]) -> Result<Response<Body>, SchedulerError> {
        check_name("schedule", name)?;
        let request: Value = serde_json::from_slice(body)
            .map_err(|e| SchedulerError::Validation(format!("the request body is not JSON: {e}")))?;
        let group = request["GroupName"].as_str().unwrap_or("default").to_owned();
        if !self.groups.lock().unwrap_or_else(PoisonError::into_inner).contains(&group) {
            return Err(SchedulerError::NotFound(format!("Schedule group {group} does not exist.")));
        }
        let schedule = parse_schedule(name, &group, &request, self.clock.now().into())?;
        let mut schedules = self.lock();
        let key = (group.clone(), name.to_owned());
        if schedules.contains_key(&key) {
            return Err(SchedulerError::Conflict(format!("Schedule {name} already exists.")));
        }
        tracing::info!(schedule = %name, %group, at = %schedule.at, function = %schedule.function, "schedule created");
        schedules.insert(key, schedule);
        Ok(json_response(StatusCode::OK, &json!({"ScheduleArn": self.arn(&group, name)})))
    }

    fn get(&self, name: &str, group: &str) -> Result<Response<Body>, SchedulerError> {
        let schedules = self.lock();
        let s = schedules.get(&(group.to_owned(), name.to_owned())).ok_or_else(|| not_found(name))?;
        Ok(json_response(
            StatusCode::OK,
            &json!({
                "Arn": self.arn(group, name),
                "Name": s.name,
                "GroupName": s.group,
                "ScheduleExpression": s.expression,
                "ScheduleExpressionTimezone": s.timezone,
                "State": if s.enabled { "ENABLED" } else { "DISABLED" },
                "Target": s.target,
                "FlexibleTimeWindow": s.window,
                "ActionAfterCompletion": if s.delete_after { "DELETE" } else { "NONE" },
                "CreationDate": s.created.timestamp(),
                "LastModificationDate": s.created.timestamp(),
            }),
        ))
    }

    fn delete(&self, name: &str, group: &str) -> Result<Response<Body>, SchedulerError> {
        match self.lock().remove(&(group.to_owned(), name.to_owned())) {
            Some(_) => {
                tracing::info!(schedule = %name, %group, "schedule deleted");
                Ok(json_response(StatusCode::OK, &json!({})))
            }
            None => Err(not_found(name)),
        }
    }

    fn list(&self, group: Option<&str>) -> Response<Body> {
        let schedules: Vec<Value> = self
            .lock()
            .values()
            .filter(|s| group.is_none_or(|g| g == s.group))
            .map(|s| {
                json!({
                    "Arn": self.arn(&s.group, &s.name),
                    "Name": s.name,
                    "GroupName": s.group,
                    "State": if s.enabled { "ENABLED" } else { "DISABLED" },
                    "Target": {"Arn": s.target["Arn"]},
                    "CreationDate": s.created.timestamp(),
                    "LastModificationDate": s.created.timestamp(),
                })
            })
            .collect();
        json_response(StatusCode::OK, &json!({"Schedules": schedules}))
    }

    /// Invokes every enabled schedule whose time has come, once; deletes
    /// those whose `ActionAfterCompletion` is DELETE.
    pub fn fire_due(&self) -> usize {
        let now: DateTime<Utc> = self.clock.now().into();
        let mut schedules = self.lock();
        let due: Vec<(String, String)> =
            schedules.iter().filter(|(_, s)| s.enabled && !s.invoked && s.at <= now).map(|(k, _)| k.clone()).collect();
        for key in &due {
            let Some(s) = schedules.get_mut(key) else { continue };
            let payload = Bytes::from(s.input.clone().unwrap_or_else(|| "{}".to_owned()));
            let id = uuid::Uuid::new_v4().to_string();
            tracing::info!(schedule = %s.name, group = %s.group, function = %s.function, %id, "schedule invoked");
            self.queue.push(Job {
                id,
                function: s.function.clone(),
                payload,
                source: Source::Schedule,
                attempts_made: 0,
            });
            s.invoked = true;
            if s.delete_after {
                schedules.remove(key);
            }
        }
        due.len()
    }

    /// Fires due schedules until the plane stops.
    pub async fn run(self: Arc<Self>) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.fire_due();
        }
    }
}

fn not_found(name: &str) -> SchedulerError {
    SchedulerError::NotFound(format!("Schedule {name} does not exist."))
}

/// Scheduler's names: 1 to 64 of `[0-9a-zA-Z-_.]`.
fn check_name(what: &str, name: &str) -> Result<(), SchedulerError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(SchedulerError::Validation(format!("{what} name {name:?} must be 1 to 64 of [0-9a-zA-Z-_.]")))
    }
}

fn parse_schedule(name: &str, group: &str, r: &Value, now: DateTime<Utc>) -> Result<Schedule, SchedulerError> {
    let invalid = |m: String| SchedulerError::Validation(m);
    let expression =
        r["ScheduleExpression"].as_str().ok_or_else(|| invalid("ScheduleExpression is required".into()))?;
    let timezone = r["ScheduleExpressionTimezone"].as_str().unwrap_or("UTC").to_owned();
    let zone: chrono_tz::Tz =
        timezone.parse().map_err(|_| invalid(format!("Invalid ScheduleExpressionTimezone: {timezone}")))?;
    let at = at_instant(expression, zone)?;
    let window =
        r.get("FlexibleTimeWindow").cloned().ok_or_else(|| invalid("FlexibleTimeWindow is required".into()))?;
    match window["Mode"].as_str() {
        Some("OFF") => {}
        Some("FLEXIBLE") if window["MaximumWindowInMinutes"].as_u64().is_some_and(|m| (1..=1440).contains(&m)) => {}
        Some("FLEXIBLE") => return Err(invalid("FLEXIBLE needs MaximumWindowInMinutes from 1 to 1440".into())),
        _ => return Err(invalid("FlexibleTimeWindow.Mode must be OFF or FLEXIBLE".into())),
    }
    let target = r.get("Target").cloned().ok_or_else(|| invalid("Target is required".into()))?;
    let arn = target["Arn"].as_str().ok_or_else(|| invalid("Target.Arn is required".into()))?;
    if target["RoleArn"].as_str().is_none_or(|r| !r.starts_with("arn:")) {
        return Err(invalid("Target.RoleArn is required: the role Scheduler assumes to invoke the target".into()));
    }
    let function = arn
        .starts_with("arn:")
        .then(|| plain_function_name(arn))
        .flatten()
        .filter(|_| arn.contains(":lambda:"))
        .ok_or_else(|| invalid(format!("event-plane's Scheduler invokes Lambda functions only, not {arn}")))?;
    let input = target["Input"].as_str().map(str::to_owned);
    if input.as_ref().is_some_and(|i| i.chars().count() > MAX_INPUT_CHARS) {
        return Err(invalid(format!("Target.Input is longer than {MAX_INPUT_CHARS} characters")));
    }
    let delete_after = match r["ActionAfterCompletion"].as_str() {
        None | Some("NONE") => false,
        Some("DELETE") => true,
        Some(other) => return Err(invalid(format!("ActionAfterCompletion must be NONE or DELETE, not {other}"))),
    };
    let enabled = match r["State"].as_str() {
        None | Some("ENABLED") => true,
        Some("DISABLED") => false,
        Some(other) => return Err(invalid(format!("State must be ENABLED or DISABLED, not {other}"))),
    };
    Ok(Schedule {
        name: name.to_owned(),
        group: group.to_owned(),
        expression: expression.to_owned(),
        timezone,
        at,
        target,
        function,
        input,
        window,
        delete_after,
        enabled,
        created: now,
        invoked: false,
    })
}

/// `at(yyyy-mm-ddThh:mm:ss)` in `zone`, as an instant.
fn at_instant(expression: &str, zone: chrono_tz::Tz) -> Result<DateTime<Utc>, SchedulerError> {
    let Some(inner) = expression.strip_prefix("at(").and_then(|e| e.strip_suffix(')')) else {
        let kind = if expression.starts_with("rate(") || expression.starts_with("cron(") {
            "event-plane's Scheduler runs one-time at() schedules only"
        } else {
            "Invalid Schedule Expression"
        };
        return Err(SchedulerError::Validation(format!("{kind}: {expression}")));
    };
    let naive = NaiveDateTime::parse_from_str(inner, "%Y-%m-%dT%H:%M:%S")
        .map_err(|_| SchedulerError::Validation(format!("Invalid Schedule Expression: {expression}")))?;
    zone.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| SchedulerError::Validation(format!("{expression} does not exist in {zone}")))
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::clock::ManualClock;

    fn scheduler(at_epoch: u64) -> (Scheduler, Arc<ManualClock>, Arc<Queue>) {
        let clock = Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_secs(at_epoch)));
        let queue = Arc::new(Queue::default());
        (Scheduler::new(clock.clone(), queue.clone(), "us-east-1", "123456789012"), clock, queue)
    }

    fn body(expression: &str, extra: Value) -> Vec<u8> {
        let mut v = json!({
            "ScheduleExpression": expression,
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {"Arn": "arn:aws:lambda:us-east-1:123456789012:function:send-batch",
                       "RoleArn": "arn:aws:iam::123456789012:role/r", "Input": "{\"seq\":1}"},
            "ActionAfterCompletion": "DELETE"
        });
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn a_schedule_fires_once_when_its_time_comes_and_deletes_itself() {
        // 2026-12-01T08:00:00Z
        let (s, clock, queue) = scheduler(1_796_112_000);
        let resp = s.handle(&Method::POST, "/schedules/pb-1", None, &body("at(2026-12-01T09:00:00)", json!({})));
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(s.handle(&Method::GET, "/schedules/pb-1", None, b"").status(), StatusCode::OK);
        assert_eq!(s.fire_due(), 0, "not yet");
        clock.advance(Duration::from_secs(3600));
        assert_eq!(s.fire_due(), 1);
        assert_eq!(queue.counts().queued, 1);
        assert_eq!(s.fire_due(), 0, "once");
        assert_eq!(s.handle(&Method::GET, "/schedules/pb-1", None, b"").status(), StatusCode::NOT_FOUND, "deleted");
    }

    #[test]
    fn time_zones_conflicts_and_deletes_are_aws_s() {
        let (s, clock, queue) = scheduler(1_796_112_000);
        let paris = body("at(2026-12-01T10:00:00)", json!({"ScheduleExpressionTimezone": "Europe/Paris"}));
        assert_eq!(s.handle(&Method::POST, "/schedules/p", None, &paris).status(), StatusCode::OK);
        let again = s.handle(&Method::POST, "/schedules/p", None, &paris);
        assert_eq!(
            (again.status(), again.headers()["x-amzn-errortype"].to_str().unwrap()),
            (StatusCode::CONFLICT, "ConflictException")
        );
        clock.advance(Duration::from_secs(3600));
        assert_eq!(s.fire_due(), 1, "10:00 in Paris is 09:00 UTC");
        let gone = s.handle(&Method::DELETE, "/schedules/p", Some("groupName=default"), b"");
        assert_eq!(gone.status(), StatusCode::NOT_FOUND);
        let kept = body("at(2026-12-01T11:00:00)", json!({"ActionAfterCompletion": "NONE"}));
        s.handle(&Method::POST, "/schedules/k", None, &kept);
        assert_eq!(s.handle(&Method::DELETE, "/schedules/k", None, b"").status(), StatusCode::OK);
        clock.advance(Duration::from_secs(7200));
        assert_eq!(s.fire_due(), 0, "a deleted schedule never fires");
        assert_eq!(queue.counts().queued, 1);
    }

    #[test]
    fn what_scheduler_refuses_is_refused() {
        let (s, _, _) = scheduler(0);
        for (name, b) in [
            ("bad name!", body("at(2026-12-01T09:00:00)", json!({}))),
            ("a", body("at(2026-12-01 09:00)", json!({}))),
            ("b", body("rate(5 minutes)", json!({}))),
            ("c", body("at(2026-12-01T09:00:00)", json!({"ScheduleExpressionTimezone": "Mars/Base"}))),
            ("d", body("at(2026-12-01T09:00:00)", json!({"FlexibleTimeWindow": {"Mode": "FLEXIBLE"}}))),
            (
                "e",
                body(
                    "at(2026-12-01T09:00:00)",
                    json!({"Target": {"Arn": "arn:aws:sqs:us-east-1:1:q", "RoleArn": "arn:aws:iam::1:role/r"}}),
                ),
            ),
            ("f", body("at(2026-12-01T09:00:00)", json!({"Target": {"Arn": "arn:aws:lambda:us-east-1:1:function:f"}}))),
        ] {
            let resp = s.handle(&Method::POST, &format!("/schedules/{name}"), None, &b);
            assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{name}");
        }
        let other_group = body("at(2026-12-01T09:00:00)", json!({"GroupName": "nope"}));
        assert_eq!(s.handle(&Method::POST, "/schedules/g", None, &other_group).status(), StatusCode::NOT_FOUND);
        assert_eq!(s.handle(&Method::POST, "/schedule-groups/nope", None, b"{}").status(), StatusCode::OK);
        assert_eq!(s.handle(&Method::POST, "/schedules/g", None, &other_group).status(), StatusCode::OK);
    }
}
