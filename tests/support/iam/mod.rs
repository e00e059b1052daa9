//! Least privilege, checked both ways: the AWS calls each function made on
//! the local stack (`shared::aws::calls`, one JSON line per call) against
//! the function's policy in template.yaml. Every call must be allowed, and
//! every action a policy grants must have been made (or be excepted with
//! its reason). Pure: it reads files.

mod check;
mod intrinsics;
mod model;
mod policy;
mod requests;

use std::collections::BTreeMap;
use std::path::Path;

use pushbatch::local::{REGION, StackConfig, stack_env};
use shared::aws::record::CallRecord;

pub use check::{Exception, Report, check};
pub use model::{FunctionPolicy, Model, ResourcePolicy};
pub use policy::{Effect, Request, Statement, glob};

/// Why the template (or a log) cannot be read as the check needs.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template.yaml is not YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
    #[error("the check does not understand {0}")]
    Unsupported(String),
    #[error("the template has no resource {0}")]
    UnknownResource(String),
    #[error("the parameter {0} has no default and no local value (Deployment::parameters)")]
    NoParameterValue(String),
    #[error("{path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}, line {line}: not a call record: {source}")]
    Record { path: String, line: usize, source: serde_json::Error },
}

/// The deployment the template is resolved for: the local stack, named as
/// the stack `pushbatch` would be in AWS.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub partition: String,
    pub region: String,
    pub account: String,
    pub stack: String,
    /// Parameter values where the default is not the local one.
    pub parameters: BTreeMap<String, String>,
    /// stack.env, as the functions see it: a value a function took from
    /// its environment stands for the template's value of that variable
    /// (the local scheduler role is the template's `SendLaterSchedulerRole`).
    pub local_env: BTreeMap<String, String>,
}

impl Deployment {
    /// The local stack. Tables are named as `shared::schema` names them,
    /// the bucket and the mail sender as stack.env says; functions are their
    /// binaries' names locally and `${AWS::StackName}-<binary>` in AWS.
    /// The secret parameters are set, so that the statements their
    /// conditions add are checked (and excepted, with the reason).
    pub fn local() -> Deployment {
        let env = stack_env::render(&StackConfig::new("/repo", "/state"), None);
        let local_env: BTreeMap<String, String> = env.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        let account = "000000000000".to_owned();
        let secret = |name: &str| format!("arn:aws:secretsmanager:{REGION}:{account}:secret:{name}");
        let mut parameters = BTreeMap::new();
        let local = |key: &str| local_env.get(key).cloned().unwrap_or_default();
        parameters.insert("BucketName".to_owned(), local(shared::schema::BUCKET_ENV));
        parameters.insert("ApprovalMailFrom".to_owned(), local("MAIL_FROM"));
        parameters.insert("ApnsKeySecretArn".to_owned(), secret("pushbatch-apns-key"));
        parameters.insert("FcmServiceAccountSecretArn".to_owned(), secret("pushbatch-fcm-service-account"));
        parameters.insert("WebPushVapidKeySecretArn".to_owned(), secret("pushbatch-webpush-vapid-key"));
        parameters.insert("WebPushSubject".to_owned(), local("WEBPUSH_SUBJECT"));
        parameters.insert("AppsSecretArns".to_owned(), secret("pushbatch-brand-fcm-service-account"));
        parameters.insert("ApprovalLinkKeySecretArn".to_owned(), secret("pushbatch-approval-link-key"));
        Deployment {
            partition: "aws".to_owned(),
            region: REGION.to_owned(),
            account,
            stack: "pushbatch".to_owned(),
            parameters,
            local_env,
        }
    }
}

/// Every record of every `<function>.jsonl` in `dir`.
pub fn read_logs(dir: &Path) -> Result<Vec<CallRecord>, TemplateError> {
    let read_error = |path: &Path, source| TemplateError::Read { path: path.display().to_string(), source };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| read_error(dir, e))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    let mut records = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(|e| read_error(&path, e))?;
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let record = serde_json::from_str(line).map_err(|source| TemplateError::Record {
                path: path.display().to_string(),
                line: n + 1,
                source,
            })?;
            records.push(record);
        }
    }
    Ok(records)
}
