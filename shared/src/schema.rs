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

/// Devices per user: `user_id` → `devices` (list of maps: platform, token,
/// app, updated_at), `push_enabled` (BOOL), `muted_categories` (SS).
pub const DEVICES: TableDef = TableDef {
    env: "DEVICES_TABLE",
    default_name: "pushbatch-devices",
    logical_id: "DevicesTable",
    partition_key: "user_id",
    indexes: &[],
};

/// One item per send-batch job: status, offset, counters, chain `seq`.
pub const JOBS: TableDef = TableDef {
    env: "JOBS_TABLE",
    default_name: "pushbatch-jobs",
    logical_id: "JobsTable",
    partition_key: "job_id",
    indexes: &[JOBS_BY_OBJECT],
};

/// Every table, in the order the local stack creates them.
pub const ALL_TABLES: &[TableDef] = &[DEVICES, JOBS];

/// Bucket name variable and its local default.
pub const BUCKET_ENV: &str = "BUCKET";
pub const DEFAULT_LOCAL_BUCKET: &str = "pushbatch-local";
