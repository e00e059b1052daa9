//! One line of the AWS call log (`super::calls`): the call, and what IAM
//! evaluates for it. Written by the functions, read by the least-privilege
//! check in tests/.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One AWS call, as one line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// The Lambda function that made it (`send-batch` locally).
    pub function: String,
    /// The SDK's service name (`S3`, `DynamoDB`, `Lambda`, …).
    pub service: String,
    /// The API operation (`HeadObject`, `BatchGetItem`, `Invoke`, …).
    pub operation: String,
    /// What IAM evaluates for it: one entry per action and resource (a
    /// BatchGetItem over two tables is two; CreateSchedule with a role also
    /// needs `iam:PassRole`).
    pub access: Vec<Access>,
    /// The final answer was a success (after the SDK's retries).
    pub ok: bool,
    /// The HTTP status of the last attempt, when there was an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The error code, where the protocol names it in a header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One action on one resource, with the condition keys the request sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// The IAM action, e.g. `s3:GetObject` (for a HeadObject too).
    pub action: String,
    pub resource: Resource,
    /// Request-specific condition keys, e.g. `s3:prefix`, `ses:FromAddress`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub context: BTreeMap<String, String>,
}

/// The resource an action is evaluated against, by the names the function
/// used (the checker turns them into ARNs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Resource {
    /// A DynamoDB table, or one of its indexes.
    Table {
        table: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        index: Option<String>,
    },
    Bucket {
        bucket: String,
    },
    Object {
        bucket: String,
        key: String,
    },
    /// A Lambda function by name (an ARN's name part, no qualifier).
    Function {
        name: String,
    },
    Schedule {
        group: String,
        name: String,
    },
    /// An IAM role by ARN (passed to a service).
    Role {
        arn: String,
    },
    /// An SES identity: the sender's address.
    Identity {
        identity: String,
    },
    Secret {
        id: String,
    },
    /// An operation `super::access` does not know: the checker refuses it,
    /// naming the operation, until it is taught.
    Unknown {
        operation: String,
    },
}
