//! The AWS call log: with `PUSHBATCH_AWS_CALL_LOG=<dir>` set, every call a
//! function makes through the clients `crate::aws` builds is appended as
//! one JSON line to `<dir>/<function>.jsonl`, with the IAM actions and
//! resources it needs (`super::access`), whether it succeeded or not.
//!
//! The local stack does not enforce IAM, so a policy that is too narrow
//! would show only in production; `tests/least_privilege.rs` compares these
//! lines with template.yaml's policies. Unset (production), no interceptor
//! is installed at all: nothing is paid per call.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::access::{self, Service};
use super::record::{Access, CallRecord};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// The directory the log is written to; unset, nothing is recorded.
pub const CALL_LOG_ENV: &str = "PUSHBATCH_AWS_CALL_LOG";
/// Who is calling: Lambda (and `cargo lambda watch`) set it to the
/// function's name. Without it the process is no function (a test, a tool)
/// and records nothing.
const FUNCTION_ENV: &str = "AWS_LAMBDA_FUNCTION_NAME";

/// The open log of this process, shared by every client.
#[derive(Debug)]
pub struct CallLog {
    function: String,
    path: PathBuf,
    file: File,
}

impl CallLog {
    /// Opens `<dir>/<function>.jsonl` for appending, creating both.
    pub fn open(dir: &Path, function: &str) -> std::io::Result<CallLog> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{function}.jsonl"));
        // O_APPEND: every write lands at the end, whoever else writes.
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(CallLog { function: function.to_owned(), path, file })
    }

    /// Appends one record. Several invocations (processes) of a function
    /// append to the same file: a line is one `write(2)` to an O_APPEND
    /// file, which the kernel never interleaves with another's.
    pub fn append(&self, record: &CallRecord) {
        let mut line = match serde_json::to_vec(record) {
            Ok(line) => line,
            Err(e) => return tracing::warn!(error = %e, "cannot encode an AWS call record"),
        };
        line.push(b'\n');
        match (&self.file).write(&line) {
            Ok(n) if n == line.len() => {}
            Ok(n) => {
                tracing::warn!(path = %self.path.display(), n, len = line.len(), "short write to the AWS call log")
            }
            Err(e) => tracing::warn!(path = %self.path.display(), error = %e, "cannot append to the AWS call log"),
        }
    }
}

/// The process's log, opened on first use; `None` when recording is off.
fn process_log() -> Option<Arc<CallLog>> {
    static LOG: OnceLock<Option<Arc<CallLog>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let dir = std::env::var_os(CALL_LOG_ENV).filter(|d| !d.is_empty())?;
        let function = std::env::var(FUNCTION_ENV).ok().filter(|f| !f.is_empty())?;
        match CallLog::open(Path::new(&dir), &function) {
            Ok(log) => Some(Arc::new(log)),
            Err(e) => {
                // The least-privilege check then finds no calls for this
                // function and fails saying so.
                tracing::error!(dir = ?dir, error = %e, "{CALL_LOG_ENV} is set but the log cannot be opened");
                None
            }
        }
    })
    .clone()
}

/// The interceptor for one service's client, or `None` when recording is
/// off (then the client has no interceptor and pays nothing).
pub fn recorder(service: Service) -> Option<CallRecorder> {
    process_log().map(|log| CallRecorder { service, log })
}

/// Records each operation once, however many attempts the SDK made.
#[derive(Debug, Clone)]
pub struct CallRecorder {
    service: Service,
    log: Arc<CallLog>,
}

impl CallRecorder {
    /// A recorder writing to `log` (tests give their own).
    pub fn new(service: Service, log: Arc<CallLog>) -> Self {
        CallRecorder { service, log }
    }
}

/// What the input said, kept until the answer is known: the input is gone
/// once serialized. `None`: an operation `access::describe` does not know.
#[derive(Debug, Clone)]
struct Pending(Option<Vec<Access>>);

impl Storable for Pending {
    type Storer = StoreReplace<Self>;
}

impl Intercept for CallRecorder {
    fn name(&self) -> &'static str {
        "pushbatch-call-recorder"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Pending(access::describe(self.service, context.input())));
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = match cfg.load::<Metadata>() {
            Some(meta) => (meta.service().to_owned(), meta.name().to_owned()),
            None => (format!("{:?}", self.service), String::new()),
        };
        let access = cfg
            .load::<Pending>()
            .and_then(|p| p.0.clone())
            .unwrap_or_else(|| vec![access::unknown(self.service, &operation)]);
        let response = context.response();
        let error = response.filter(|r| !r.status().is_success()).and_then(error_code);
        self.log.append(&CallRecord {
            function: self.log.function.clone(),
            service,
            operation,
            access,
            ok: matches!(context.output_or_error(), Some(Ok(_))),
            status: response.map(|r| r.status().as_u16()),
            error,
        });
        Ok(())
    }
}

/// The error code an answer names: JSON protocols in a header or in
/// `__type`, S3 in its XML body's `<Code>` (a HEAD's answer has none).
fn error_code(response: &aws_smithy_runtime_api::http::Response) -> Option<String> {
    let short = |code: &str| {
        let code = code.split(':').next().unwrap_or(code);
        code.rsplit('#').next().unwrap_or(code).to_owned()
    };
    if let Some(code) = response.headers().get("x-amzn-errortype") {
        return Some(short(code));
    }
    let body = std::str::from_utf8(response.body().bytes()?).ok()?;
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(body) {
        return json.get("__type").and_then(|t| t.as_str()).map(short);
    }
    let start = body.find("<Code>")? + "<Code>".len();
    let end = start + body[start..].find("</Code>")?;
    Some(body[start..end].to_owned())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::record::Resource;
    use super::*;

    #[test]
    fn appends_one_line_per_record_from_several_writers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let record = |n: usize| CallRecord {
            function: "f".into(),
            service: "DynamoDB".into(),
            operation: "GetItem".into(),
            access: vec![Access {
                action: "dynamodb:GetItem".into(),
                resource: Resource::Table { table: format!("t{n}"), index: None },
                context: BTreeMap::new(),
            }],
            ok: true,
            status: Some(200),
            error: None,
        };
        // Two opens of one file, as two processes of one function would.
        let (a, b) = (CallLog::open(dir.path(), "f").expect("open"), CallLog::open(dir.path(), "f").expect("open"));
        std::thread::scope(|s| {
            s.spawn(|| (0..200).for_each(|n| a.append(&record(n))));
            s.spawn(|| (200..400).for_each(|n| b.append(&record(n))));
        });
        let text = std::fs::read_to_string(dir.path().join("f.jsonl")).expect("log");
        let mut tables: Vec<String> = text
            .lines()
            .map(|l| match serde_json::from_str::<CallRecord>(l).expect("a whole record").access[0].resource.clone() {
                Resource::Table { table, .. } => table,
                other => panic!("{other:?}"),
            })
            .collect();
        tables.sort_by_key(|t| t[1..].parse::<usize>().expect("n"));
        assert_eq!(tables, (0..400).map(|n| format!("t{n}")).collect::<Vec<_>>());
    }

    /// The recorder on real clients: a call that never reached a service
    /// (nothing listens on port 1) is recorded, failed, with what it needed.
    #[tokio::test]
    async fn a_client_records_its_calls_and_their_failures() {
        use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Arc::new(CallLog::open(dir.path(), "f").expect("open"));
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("a", "b", None, None, "test"))
            .endpoint_url("http://127.0.0.1:1")
            .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
            .interceptor(CallRecorder::new(Service::DynamoDb, log.clone()))
            .build();
        let key = aws_sdk_dynamodb::types::AttributeValue::S("k".into());
        let result = aws_sdk_dynamodb::Client::from_conf(conf).get_item().table_name("t").key("id", key).send().await;
        assert!(result.is_err());
        let s3 = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new("a", "b", None, None, "test"))
            .endpoint_url("http://127.0.0.1:1")
            .force_path_style(true)
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .interceptor(CallRecorder::new(Service::S3, log))
            .build();
        let result = aws_sdk_s3::Client::from_conf(s3).put_object().bucket("b").key("reports/x").send().await;
        assert!(result.is_err());

        let text = std::fs::read_to_string(dir.path().join("f.jsonl")).expect("log");
        let records: Vec<CallRecord> = text.lines().map(|l| serde_json::from_str(l).expect("a record")).collect();
        let seen: Vec<(&str, &str, bool, Option<u16>, &Resource)> = records
            .iter()
            .map(|r| (r.service.as_str(), r.operation.as_str(), r.ok, r.status, &r.access[0].resource))
            .collect();
        let table = Resource::Table { table: "t".into(), index: None };
        let object = Resource::Object { bucket: "b".into(), key: "reports/x".into() };
        assert_eq!(seen, vec![("DynamoDB", "GetItem", false, None, &table), ("S3", "PutObject", false, None, &object)]);
        assert_eq!(
            (records[0].access[0].action.as_str(), records[1].access[0].action.as_str()),
            ("dynamodb:GetItem", "s3:PutObject")
        );
    }
}
