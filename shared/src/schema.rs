//! The DynamoDB tables pushbatch owns: names come from the environment, key
//! schemas live here so that the local stack creates exactly what
//! `template.yaml` declares (a test compares the two).

/// One DynamoDB table: its environment variable, default name and key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableDef {
    /// Environment variable that carries the table's name.
    pub env: &'static str,
    /// Name used by the local stack when the variable is not set.
    pub default_name: &'static str,
    /// Logical id of the table in `template.yaml`.
    pub logical_id: &'static str,
    /// Partition key attribute (type S).
    pub partition_key: &'static str,
    /// Sort key attribute (type S), for tables queried by range.
    pub sort_key: Option<&'static str>,
    /// Global secondary indexes (partition key only, type S, all attributes).
    pub indexes: &'static [IndexDef],
}

/// A global secondary index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexDef {
    pub name: &'static str,
    pub partition_key: &'static str,
}

/// Finds a file's jobs: `object` is `<bucket>/<key>#<etag>`.
pub const JOBS_BY_OBJECT: IndexDef = IndexDef { name: "by_object", partition_key: "object" };
/// Jobs that are not finished, by status (`running`, `scheduled`): a sparse
/// index, since a finished job's record drops `live`.
pub const JOBS_LIVE: IndexDef = IndexDef { name: "live_jobs", partition_key: "live" };

/// Devices per user: `user_id` → `devices` (list of maps: platform, token,
/// app, updated_at), `push_enabled` (BOOL), `muted_categories` (SS).
pub const DEVICES: TableDef = TableDef {
    env: "DEVICES_TABLE",
    default_name: "pushbatch-devices",
    logical_id: "DevicesTable",
    partition_key: "user_id",
    sort_key: None,
    indexes: &[],
};

/// One item per send-batch job: status, offset, counters, chain `seq`.
pub const JOBS: TableDef = TableDef {
    env: "JOBS_TABLE",
    default_name: "pushbatch-jobs",
    logical_id: "JobsTable",
    partition_key: "job_id",
    sort_key: None,
    indexes: &[JOBS_BY_OBJECT, JOBS_LIVE],
};

/// Users who signed up on a UTC day (`YYYY-MM-DD`).
pub const USERS_BY_SIGNUP_DAY: IndexDef = IndexDef { name: "by_signup_day", partition_key: "signup_day" };
/// Users last active on a UTC day (`YYYY-MM-DD`).
pub const USERS_BY_ACTIVE_DAY: IndexDef = IndexDef { name: "by_active_day", partition_key: "last_active_day" };

/// The app's users, as the scheduled campaigns select them: `user_id`,
/// `signup_day`, `last_active_day` (both `YYYY-MM-DD`, UTC),
/// `signup_completed` (BOOL), and optionally `name` (a template variable).
/// Campaigns query the two day indexes; nothing ever scans the table.
pub const USERS: TableDef = TableDef {
    env: "USERS_TABLE",
    default_name: "pushbatch-users",
    logical_id: "UsersTable",
    partition_key: "user_id",
    sort_key: None,
    indexes: &[USERS_BY_SIGNUP_DAY, USERS_BY_ACTIVE_DAY],
};

/// One item per scheduled campaign and UTC day (`run_date`): the run's
/// conditional marker, the segment it wrote, and the A/B assignment counts.
pub const CAMPAIGN_RUNS: TableDef = TableDef {
    env: "CAMPAIGN_RUNS_TABLE",
    default_name: "pushbatch-campaign-runs",
    logical_id: "CampaignRunsTable",
    partition_key: "campaign",
    sort_key: Some("run_date"),
    indexes: &[],
};

/// Approval requests: one item per request (status, payload, audience,
/// decisions, used links).
pub const REQUESTS: TableDef = TableDef {
    env: "REQUESTS_TABLE",
    default_name: "pushbatch-requests",
    logical_id: "RequestsTable",
    partition_key: "request_id",
    sort_key: None,
    indexes: &[],
};

/// Frequency caps: pushes per user and local day (`YYYY-MM-DD`), in total
/// (`total`) and per category (`c#<category>`), expiring (`expires_at`).
pub const CAPS: TableDef = TableDef {
    env: "CAPS_TABLE",
    default_name: "pushbatch-caps",
    logical_id: "CapsTable",
    partition_key: "user_id",
    sort_key: Some("day"),
    indexes: &[],
};

/// Every table, in the order the local stack creates them.
pub const ALL_TABLES: &[TableDef] = &[DEVICES, JOBS, USERS, CAMPAIGN_RUNS, REQUESTS, CAPS];

/// Bucket name variable and its local default.
pub const BUCKET_ENV: &str = "BUCKET";
pub const DEFAULT_LOCAL_BUCKET: &str = "pushbatch-local";
