//! Every metric pushbatch publishes: its CloudWatch name, unit and
//! dimensions. The typed functions in the sibling modules are the only
//! writers, and the dashboard test reads this table, so a name exists once.

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "pushbatch";

/// The dimension every metric carries: the Lambda function's name.
pub const FUNCTION: &str = "function";

/// How CloudWatch should read a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Summed per period.
    Count,
    /// A distribution: percentiles (p50, p99) are meaningful.
    Distribution,
    /// A level at flush time; alarms read its Maximum.
    Level,
}

/// One published metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    /// CloudWatch's unit name, as EMF writes it.
    pub unit: &'static str,
    pub kind: Kind,
    /// Dimensions besides [`FUNCTION`].
    pub dimensions: &'static [&'static str],
    pub meaning: &'static str,
}

const fn metric(
    name: &'static str,
    unit: &'static str,
    kind: Kind,
    dimensions: &'static [&'static str],
    meaning: &'static str,
) -> Metric {
    Metric { name, unit, kind, dimensions, meaning }
}

/// Most metrics are counts.
const fn count(name: &'static str, dimensions: &'static [&'static str], meaning: &'static str) -> Metric {
    metric(name, "Count", Kind::Count, dimensions, meaning)
}

const PROVIDER: &[&str] = &["provider"];

pub const PUSH_ANSWERS: Metric = count(
    "PushAnswers",
    &["provider", "outcome"],
    "provider answers by outcome class (delivered, dead, retry, auth_expired, failed); a retried device answers more than once",
);
pub const PUSH_LATENCY: Metric =
    metric("PushLatency", "Microseconds", Kind::Distribution, PROVIDER, "time from sending a request to its answer");
pub const THROTTLED_TIME: Metric = metric(
    "ThrottledTime",
    "Microseconds",
    Kind::Count,
    PROVIDER,
    "time requests waited for this invocation's rate limit or the shared provider quota",
);
pub const AWS_CALL_LATENCY: Metric = metric(
    "AwsCallLatency",
    "Microseconds",
    Kind::Distribution,
    &["service", "operation"],
    "DynamoDB and S3 calls, SDK retries included",
);
pub const AWS_CALL_ERRORS: Metric = count(
    "AwsCallErrors",
    &["service", "operation"],
    "DynamoDB and S3 calls that ended in an error (a failed condition counts: it is an answer the caller handles)",
);
pub const LINK_USERS: Metric = count("LinkUsers", &[], "batch-file entries a chain link read (valid or not)");
pub const USERS_PER_SECOND: Metric =
    metric("UsersPerSecond", "Count/Second", Kind::Distribution, &[], "one link's entries over its busy time");
pub const DEVICES_ATTEMPTED: Metric =
    count("DevicesAttempted", PROVIDER, "devices sent to: delivered + pruned + failed");
pub const DEVICES_DELIVERED: Metric = count("DevicesDelivered", PROVIDER, "devices the provider accepted");
pub const DEVICES_PRUNED: Metric = count("DevicesPruned", PROVIDER, "dead tokens removed from the devices table");
pub const DEVICES_FAILED: Metric = count("DevicesFailed", PROVIDER, "devices written to failed.jsonl");
pub const PUSH_RETRIES: Metric = count("PushRetries", PROVIDER, "extra attempts after retryable answers (requests)");
pub const SECONDS_SINCE_CHECKPOINT: Metric = metric(
    "SecondsSinceCheckpoint",
    "Seconds",
    Kind::Level,
    &[],
    "while a link runs: seconds since its job's last checkpoint (or the link's start); the job id is in the document",
);
pub const REQUESTS_SUBMITTED: Metric =
    count("RequestsSubmitted", &[], "approval requests accepted and mailed to approvers");
pub const APPROVALS: Metric = count("Approvals", &[], "requests approved (their batch file written)");
pub const REJECTIONS: Metric = count("Rejections", &[], "requests rejected");
pub const EXPIRED_LINKS: Metric = count("ExpiredLinks", &[], "approver links used after their request expired");
pub const TEST_SENDS: Metric = count("TestSends", &[], "test batches written to an approver's own devices");
pub const DEVICE_REGISTRATIONS: Metric =
    count("DeviceRegistrations", &["provider", "result"], "devices API registrations (result: created or refreshed)");
pub const DEVICES_EVICTED: Metric =
    count("DevicesEvicted", PROVIDER, "devices dropped for a new one over the per-user cap");
pub const DEVICE_UNREGISTRATIONS: Metric =
    count("DeviceUnregistrations", &[], "devices API removals (absent tokens included)");
pub const USERS_SEGMENTED: Metric =
    count("UsersSegmented", &["campaign"], "users a scheduled run wrote to its segment");
pub const USERS_ASSIGNED: Metric =
    count("UsersAssigned", &["campaign", "variant"], "users ab-split assigned, per variant (control included)");

const _: () = assert!(ALL.len() <= 100, "EMF allows 100 metrics per document");

/// Every metric, in the order the README lists them.
pub const ALL: &[Metric] = &[
    PUSH_ANSWERS,
    PUSH_LATENCY,
    THROTTLED_TIME,
    AWS_CALL_LATENCY,
    AWS_CALL_ERRORS,
    LINK_USERS,
    USERS_PER_SECOND,
    DEVICES_ATTEMPTED,
    DEVICES_DELIVERED,
    DEVICES_PRUNED,
    DEVICES_FAILED,
    PUSH_RETRIES,
    SECONDS_SINCE_CHECKPOINT,
    REQUESTS_SUBMITTED,
    APPROVALS,
    REJECTIONS,
    EXPIRED_LINKS,
    TEST_SENDS,
    DEVICE_REGISTRATIONS,
    DEVICES_EVICTED,
    DEVICE_UNREGISTRATIONS,
    USERS_SEGMENTED,
    USERS_ASSIGNED,
];

/// The metric called `name`, if pushbatch publishes one.
pub fn find(name: &str) -> Option<&'static Metric> {
    ALL.iter().find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn names_are_unique_and_within_emf_limits() {
        let names: BTreeSet<_> = ALL.iter().map(|m| m.name).collect();
        assert_eq!(names.len(), ALL.len(), "a metric name is listed twice");
        // One EMF document holds at most 100 metrics and 30 dimensions; a
        // flush puts the metrics of one dimension set in one document.
        assert!(ALL.iter().all(|m| m.dimensions.len() < 30 && !m.dimensions.contains(&FUNCTION)));
        assert_eq!(find("PushLatency"), Some(&PUSH_LATENCY));
        assert_eq!(find("pushlatency"), None);
    }
}
