//! What a request is: who asked, what would be sent to whom, and what the
//! approvers did with it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::batch::{Encoding, FileCounts, Header};

/// The audience as counted at submission (the shared reader's counts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudienceCounts {
    pub entries: u64,
    pub valid_users: u64,
    /// Invalid entries by reason; send-batch would skip them too.
    pub invalid: BTreeMap<String, u64>,
    /// Valid users that carry their own (inline) devices: send-batch sends
    /// to those tokens without looking the user up.
    #[serde(default)]
    pub with_devices: u64,
}

impl From<FileCounts> for AudienceCounts {
    fn from(c: FileCounts) -> Self {
        Self { entries: c.entries, valid_users: c.valid_users, invalid: c.invalid, with_devices: 0 }
    }
}

/// One of the audience's first users, kept so approvers see the message
/// as those users will get it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SampleEntry {
    pub user_id: String,
    /// The vars the notification's title and body use (the others change
    /// nothing that is shown, and would only make the item bigger).
    #[serde(default)]
    pub vars: Map<String, Value>,
    /// How many inline devices the entry carries; None: its devices are
    /// looked up in the devices table.
    #[serde(default)]
    pub devices: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Approved,
    Rejected,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Status::Pending,
            "approved" => Status::Approved,
            "rejected" => Status::Rejected,
            _ => return None,
        })
    }
}

/// Where the audience's users are, and where in that file they start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum AudienceSource {
    /// A BI query result under `requests/`, pinned to the version that was
    /// counted: approvers approve exactly what they were shown.
    S3 { key: String, etag: String },
    /// A file uploaded with the form, kept in the request item (the
    /// function may not write under `requests/`).
    Inline { file_name: String },
}

/// The written batch file, so the status page can find its job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRef {
    pub bucket: String,
    pub key: String,
    /// None when an earlier attempt wrote the file and this one could not
    /// learn its ETag.
    pub etag: Option<String>,
}

/// Test sends by one approver: how many, and when the last one was.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestSends {
    pub count: u32,
    pub last_at: i64,
}

/// One approval request. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    pub request_id: String,
    pub status: Status,
    pub requester: String,
    pub created_at: i64,
    /// Links and the request itself stop working at this time.
    pub expires_at: i64,
    /// The batch header that approval writes (campaign, category, message).
    pub header: Header,
    pub audience: AudienceSource,
    pub encoding: Encoding,
    /// Offset of the first user entry in the audience file, and its line.
    pub users_start: u64,
    pub first_line: u64,
    pub counts: AudienceCounts,
    /// The first valid users (at most three), for the preview.
    #[serde(default)]
    pub samples: Vec<SampleEntry>,
    /// The requester declared that the audience carries its own devices
    /// (required when any entry does).
    #[serde(default)]
    pub own_devices: bool,
    /// The approvers who were emailed.
    pub approvers: Vec<String>,
    #[serde(default)]
    pub decided_by: Option<String>,
    #[serde(default)]
    pub decided_at: Option<i64>,
    #[serde(default)]
    pub reason: Option<String>,
    /// The nonce of the link that approved, so that link's retry can
    /// finish writing the batch file if the first attempt failed.
    #[serde(default)]
    pub approved_link: Option<String>,
    /// Nonces of links that have been used (single use).
    #[serde(default)]
    pub used_links: BTreeSet<String>,
    #[serde(default)]
    pub tests: BTreeMap<String, TestSends>,
    #[serde(default)]
    pub batch: Option<BatchRef>,
    /// Bumped by every write; writes are conditional on it.
    pub version: u64,
}

impl ApprovalRequest {
    pub fn is_expired(&self, now: i64) -> bool {
        self.status == Status::Pending && now >= self.expires_at
    }

    /// What the status page and emails call the state right now.
    pub fn status_label(&self, now: i64) -> &'static str {
        if self.is_expired(now) { "expired" } else { self.status.as_str() }
    }
}
