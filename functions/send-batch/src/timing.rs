//! When a user may be pushed, in their own time: the file's
//! `deliver_at_local`, their quiet hours, their local day. Pure: `now` comes
//! from the calendar (`shared::clock::calendar_now_ms`), which tests move.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use shared::batch::{Header, QuietMode};
use shared::devices::{QuietHours, UserDevices};

/// Within this of now, a due time is now: a part that starts a few seconds
/// after its instant must not push its users to the next day.
const NOW_SLACK_MS: i64 = 60_000;

/// Deferred instants are rounded up to this: each instant is a part (a
/// schedule, a record, a chain), and quiet hours may end at any minute.
/// Every zone's offset is a multiple of it, so `deliver_at_local` at a
/// quarter hour is never moved; a job has at most 96 parts a day.
const PART_QUANTUM_MS: i64 = 15 * 60_000;

/// What the file asks about time, read once per link.
#[derive(Debug, Clone)]
pub struct Calendar {
    pub now_ms: i64,
    default_zone: Tz,
    deliver_at: Option<NaiveTime>,
    quiet: QuietMode,
}

/// When one user gets the push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Now,
    /// At this instant (epoch ms): their local time, or the end of their
    /// quiet hours.
    Later(i64),
    /// Inside their quiet hours, and the file says skip.
    SkipQuiet,
}

impl Calendar {
    /// From a validated header (the pre-flight refused bad values).
    pub fn of(header: &Header, now_ms: i64) -> Self {
        Calendar {
            now_ms,
            default_zone: header.time_zone().unwrap_or(chrono_tz::UTC),
            deliver_at: header.local_time().ok().flatten(),
            quiet: header.quiet_hours.unwrap_or_default(),
        }
    }

    /// A part of a job sends its users at its instant: the file's
    /// `deliver_at_local` is what put them there, so it is done.
    pub fn for_part(mut self) -> Self {
        self.deliver_at = None;
        self
    }

    pub fn zone(&self, user: Option<&UserDevices>) -> Tz {
        user.and_then(|u| u.time_zone).unwrap_or(self.default_zone)
    }

    /// The user's day now, `YYYY-MM-DD`, as caps count it.
    pub fn local_day(&self, user: Option<&UserDevices>) -> String {
        let now = instant(self.now_ms);
        now.with_timezone(&self.zone(user)).format("%Y-%m-%d").to_string()
    }

    pub fn when(&self, user: Option<&UserDevices>) -> When {
        let zone = self.zone(user);
        let due = match self.deliver_at {
            Some(at) => next_local(zone, at, self.now_ms),
            None => self.now_ms,
        };
        let due = match (user.and_then(|u| u.quiet_hours), self.quiet) {
            (Some(quiet), mode) if quiet.contains(local_time(zone, due)) => match mode {
                QuietMode::Skip => return When::SkipQuiet,
                QuietMode::Defer => quiet_end(zone, quiet, due),
            },
            _ => due,
        };
        if due <= self.now_ms + NOW_SLACK_MS { When::Now } else { When::Later(round_up(due, PART_QUANTUM_MS)) }
    }
}

fn round_up(ms: i64, quantum: i64) -> i64 {
    ms.div_euclid(quantum) * quantum + if ms.rem_euclid(quantum) == 0 { 0 } else { quantum }
}

fn instant(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn local_time(zone: Tz, ms: i64) -> NaiveTime {
    instant(ms).with_timezone(&zone).time()
}

/// `time` on `date` in `zone`, as an instant; a time that does not exist
/// (the hour skipped when clocks go forward) is taken an hour later, and an
/// ambiguous one (the hour repeated) at its first occurrence.
fn at_local(zone: Tz, date: NaiveDate, time: NaiveTime) -> i64 {
    let naive = date.and_time(time);
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.timestamp_millis(),
        LocalResult::None => match zone.from_local_datetime(&(naive + Duration::hours(1))) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.timestamp_millis(),
            LocalResult::None => naive.and_utc().timestamp_millis(),
        },
    }
}

/// The next `time` in `zone` at or after `now` (less the slack: a part
/// running just after its instant is on time, not a day early).
fn next_local(zone: Tz, time: NaiveTime, now_ms: i64) -> i64 {
    let today = instant(now_ms).with_timezone(&zone).date_naive();
    let candidate = at_local(zone, today, time);
    if candidate + NOW_SLACK_MS >= now_ms {
        candidate
    } else {
        today.succ_opt().map_or(candidate, |tomorrow| at_local(zone, tomorrow, time))
    }
}

/// The end of the quiet hours that contain `ms`.
fn quiet_end(zone: Tz, quiet: QuietHours, ms: i64) -> i64 {
    let local = instant(ms).with_timezone(&zone);
    let date = local.date_naive();
    // Before the end on the same day (the morning of an overnight span, or a
    // daytime span), else the end is tomorrow.
    let date = if local.time() < quiet.end { date } else { date.succ_opt().unwrap_or(date) };
    at_local(zone, date, quiet.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text).unwrap().timestamp_millis()
    }

    fn header(extra: &str) -> Header {
        serde_json::from_str(&format!(r#"{{"campaign":"c","notification":{{"body":"b"}}{extra}}}"#)).unwrap()
    }

    fn user(zone: &str, quiet: Option<(&str, &str)>) -> UserDevices {
        UserDevices {
            time_zone: Some(zone.parse().unwrap()),
            quiet_hours: quiet.map(|(s, e)| QuietHours::parse(s, e).unwrap()),
            ..UserDevices::default()
        }
    }

    #[test]
    fn nine_in_the_morning_is_each_users_own() {
        let now = ms("2026-12-01T06:00:00Z");
        let cal = Calendar::of(&header(r#","deliver_at_local":"09:00""#), now);
        let paris = user("Europe/Paris", None);
        let tokyo = user("Asia/Tokyo", None);
        let ny = user("America/New_York", None);
        assert_eq!(cal.when(Some(&paris)), When::Later(ms("2026-12-01T08:00:00Z")));
        assert_eq!(cal.when(Some(&ny)), When::Later(ms("2026-12-01T14:00:00Z")));
        assert_eq!(
            cal.when(Some(&tokyo)),
            When::Later(ms("2026-12-02T00:00:00Z")),
            "09:00 passed in Tokyo: tomorrow's"
        );
        assert_eq!(cal.when(None), When::Later(ms("2026-12-01T09:00:00Z")), "no zone: the file's default, UTC");
        let part = cal.clone().for_part();
        assert_eq!(part.when(Some(&tokyo)), When::Now, "a part sends its users when it runs");
        let just_after = Calendar::of(&header(r#","deliver_at_local":"09:00""#), ms("2026-12-01T08:00:20Z"));
        assert_eq!(just_after.when(Some(&paris)), When::Now, "seconds late is on time, not tomorrow");
    }

    #[test]
    fn quiet_hours_defer_to_their_end_or_skip() {
        let night = user("Europe/Paris", Some(("22:00", "07:00")));
        let late = ms("2026-12-01T22:30:00Z"); // 23:30 in Paris
        let cal = Calendar::of(&header(""), late);
        assert_eq!(cal.when(Some(&night)), When::Later(ms("2026-12-02T06:00:00Z")), "07:00 Paris, tomorrow");
        let early = Calendar::of(&header(""), ms("2026-12-02T04:00:00Z")); // 05:00 in Paris
        assert_eq!(early.when(Some(&night)), When::Later(ms("2026-12-02T06:00:00Z")), "07:00 Paris, the same day");
        let skip = Calendar::of(&header(r#","quiet_hours":"skip""#), late);
        assert_eq!(skip.when(Some(&night)), When::SkipQuiet);
        let noon = Calendar::of(&header(""), ms("2026-12-02T11:00:00Z"));
        assert_eq!(noon.when(Some(&night)), When::Now);
        // 09:00 local falls in quiet hours until 10:00: the end of them.
        let morning = user("Europe/Paris", Some(("08:00", "10:00")));
        let at_nine = Calendar::of(&header(r#","deliver_at_local":"09:00""#), ms("2026-12-01T06:00:00Z"));
        assert_eq!(at_nine.when(Some(&morning)), When::Later(ms("2026-12-01T09:00:00Z")));
        // Quiet hours ending at 07:10 defer to the quarter hour after.
        let odd = user("Europe/Paris", Some(("22:00", "07:10")));
        assert_eq!(cal.when(Some(&odd)), When::Later(ms("2026-12-02T06:15:00Z")));
        let kathmandu = user("Asia/Kathmandu", None);
        let at_nine = Calendar::of(&header(r#","deliver_at_local":"09:00""#), ms("2026-12-01T00:00:00Z"));
        assert_eq!(at_nine.when(Some(&kathmandu)), When::Later(ms("2026-12-01T03:15:00Z")), "+05:45 is on a quarter");
    }

    #[test]
    fn days_and_clock_changes_are_local() {
        let cal = Calendar::of(&header(r#","default_time_zone":"America/Los_Angeles""#), ms("2026-12-01T03:00:00Z"));
        assert_eq!(cal.local_day(None), "2026-11-30", "still yesterday in Los Angeles");
        assert_eq!(cal.local_day(Some(&user("Asia/Tokyo", None))), "2026-12-01");
        // 02:30 does not exist in Paris on 2027-03-28: an hour later.
        let gap = at_local(
            chrono_tz::Europe::Paris,
            NaiveDate::from_ymd_opt(2027, 3, 28).unwrap(),
            NaiveTime::from_hms_opt(2, 30, 0).unwrap(),
        );
        assert_eq!(gap, ms("2027-03-28T01:30:00Z"));
    }
}
