//! Who in a batch is pushed now, and why not the others: their settings
//! (looked up for every user, inline devices or not), their devices, their
//! time (local delivery, quiet hours) and their caps. Every user not sent
//! gets a line for `skipped.jsonl` naming the reason; users due later go to
//! the job's part for their instant.

use std::collections::BTreeMap;

use futures::stream::{self, StreamExt, TryStreamExt};
use serde_json::{Value, json};
use shared::batch::{Device, RawItem, UserEntry};
use shared::caps::{CapError, CapTake, Limits};
use shared::counters::Counters;
use shared::devices::{DeviceError, DeviceLookup, UserDevices};

use crate::deps::Ports;
use crate::timing::{Calendar, When};

/// What applies to every user of a batch.
pub struct Rules<'a> {
    /// The job (or part) whose file this is: caps mark their takes with it.
    pub job_id: &'a str,
    pub category: Option<&'a str>,
    pub calendar: &'a Calendar,
    pub limits: &'a Limits,
}

/// A batch's users, sorted.
pub struct Audience<'a> {
    pub counters: Counters,
    /// Users to push now, with their devices.
    pub now: Vec<Due<'a>>,
    pub skipped_lines: Vec<String>,
    /// Users due later, by instant (epoch ms): lines of their part's file.
    pub deferred: BTreeMap<i64, Vec<String>>,
}

/// A user pushed now: their entry, their devices, their language.
pub struct Due<'a> {
    pub user: &'a UserEntry,
    pub devices: Vec<Device>,
    pub locale: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AudienceError {
    #[error(transparent)]
    Devices(#[from] DeviceError),
    #[error(transparent)]
    Caps(#[from] CapError),
}

/// How many cap updates are in flight at once.
const CAP_CALLS: usize = 32;

pub async fn sort<'a, P: Ports>(
    ports: &P,
    rules: &Rules<'_>,
    items: &'a [RawItem],
) -> Result<Audience<'a>, AudienceError> {
    let mut out = Audience {
        counters: Counters { batches: 1, ..Counters::default() },
        now: Vec::new(),
        skipped_lines: Vec::new(),
        deferred: BTreeMap::new(),
    };
    let mut users = Vec::with_capacity(items.len());
    for item in items {
        match &item.entry {
            Ok(user) => {
                out.counters.entries += 1;
                out.counters.valid_users += 1;
                users.push((item.offset, user));
            }
            Err(reason) => {
                out.counters.invalid(reason.key());
                out.skipped_lines.push(invalid_line(item, reason.key()));
            }
        }
    }

    // Every user's settings apply, whatever the source of their devices: a
    // re-drive carries its devices inline, and the user may have turned
    // pushes off since. So every user is looked up, in the same BatchGetItem;
    // inline devices only skip the use of the stored ones.
    let ids: Vec<String> = users.iter().map(|(_, u)| u.user_id.clone()).collect();
    let stored = if ids.is_empty() { Default::default() } else { ports.devices().lookup(&ids).await? };

    let mut candidates = Vec::new();
    for (offset, user) in users {
        let settings = stored.get(&user.user_id);
        let skip = |reason: &str| skipped_line(&user.user_id, reason);
        match settings {
            Some(s) if !s.push_enabled => {
                out.counters.opted_out("push_disabled");
                out.skipped_lines.push(skip("opted_out"));
                continue;
            }
            Some(s) if rules.category.is_some_and(|c| s.muted_categories.contains(c)) => {
                out.counters.opted_out("category_muted");
                out.skipped_lines.push(skip("category_muted"));
                continue;
            }
            _ => {}
        }
        // A user with no item in the table is sent as the file says.
        let devices = match (&user.devices, settings) {
            (Some(inline), _) => inline.clone(),
            (None, Some(s)) => s.devices.clone(),
            (None, None) => Vec::new(),
        };
        if devices.is_empty() {
            out.counters.no_devices += 1;
            out.skipped_lines.push(skip("no_devices"));
            continue;
        }
        match rules.calendar.when(settings) {
            When::Now => candidates.push(Candidate { offset, user, devices, settings }),
            When::SkipQuiet => {
                out.counters.quiet_hours += 1;
                out.skipped_lines.push(skip("quiet_hours"));
            }
            When::Later(at_ms) => {
                out.counters.deferred += 1;
                // Strings, numbers and the JSON it was read from: it encodes.
                let line = serde_json::to_string(user).expect("a user entry encodes as JSON");
                out.deferred.entry(at_ms).or_default().push(line);
            }
        }
    }

    let admitted = admit(ports, rules, &candidates).await?;
    for (c, ok) in candidates.into_iter().zip(admitted) {
        if ok {
            out.counters.targeted_users += 1;
            out.now.push(Due { user: c.user, devices: c.devices, locale: c.settings.and_then(|s| s.locale.clone()) });
        } else {
            out.counters.capped += 1;
            out.skipped_lines.push(skipped_line(&c.user.user_id, "capped"));
        }
    }
    Ok(out)
}

/// A user who may be pushed now, if their caps allow.
struct Candidate<'a, 'b> {
    /// Of their entry in the file: what marks their cap take.
    offset: u64,
    user: &'a UserEntry,
    devices: Vec<Device>,
    settings: Option<&'b UserDevices>,
}

/// Takes a push from each candidate's caps for their local day; false for
/// those who reached one. Without caps, everyone.
async fn admit<P: Ports>(
    ports: &P,
    rules: &Rules<'_>,
    candidates: &[Candidate<'_, '_>],
) -> Result<Vec<bool>, CapError> {
    if !rules.limits.any() {
        return Ok(vec![true; candidates.len()]);
    }
    stream::iter(candidates)
        .map(|c| async move {
            let day = rules.calendar.local_day(c.settings);
            let mark = shared::caps::mark(rules.job_id, c.offset);
            ports.caps().take(&c.user.user_id, &day, rules.limits, &mark).await
        })
        .buffered(CAP_CALLS)
        .try_collect()
        .await
}

fn skipped_line(user_id: &str, reason: &str) -> String {
    json!({"user_id": user_id, "reason": reason}).to_string()
}

fn invalid_line(item: &RawItem, key: &str) -> String {
    let mut line = json!({"reason": "invalid", "detail": key, "offset": item.offset});
    if let Some(l) = item.line {
        line["line"] = Value::from(l);
    }
    line.to_string()
}
