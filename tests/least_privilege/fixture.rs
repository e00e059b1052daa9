//! The checker on a small template and log: a function with a table, its
//! index, reports under a prefix with a conditional listing, a self-invoke
//! and a secret behind a condition; another that only reads batches/; a
//! bucket policy that lets only the first write batches/. The fixture
//! passes, then each test breaks it one way and reads the message.

use std::collections::BTreeMap;

use pushbatch_tests::iam::{Deployment, Exception, Model, Report, check};
use shared::aws::record::{Access, CallRecord, Resource};

pub const FIXTURE: &str = r#"
Parameters:
  BucketName:
    Type: String
  KeySecretArn:
    Type: String
    Default: ""
Conditions:
  HasKey: !Not [!Equals [!Ref KeySecretArn, ""]]
Resources:
  JobsTable:
    Type: AWS::DynamoDB::Table
  BucketPolicy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref BucketName
      PolicyDocument:
        Statement:
          - Sid: OnlyWorkerWrites
            Effect: Deny
            Principal: "*"
            Action: s3:PutObject
            Resource: !Sub arn:${AWS::Partition}:s3:::${BucketName}/batches/*
            Condition:
              ArnNotLike:
                aws:PrincipalArn: !Split [",", !Join [",", [!GetAtt WorkerFunctionRole.Arn]]]
  WorkerFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: worker
    Properties:
      FunctionName: !Sub ${AWS::StackName}-worker
      Environment:
        Variables:
          JOBS_TABLE: !Ref JobsTable
      Policies:
        - Statement:
            - Sid: Jobs
              Effect: Allow
              Action: [dynamodb:GetItem, dynamodb:PutItem]
              Resource: !GetAtt JobsTable.Arn
            - Sid: LiveJobs
              Effect: Allow
              Action: [dynamodb:Query]
              Resource: !Sub ${JobsTable.Arn}/index/live_jobs
            - Sid: Reports
              Effect: Allow
              Action: [s3:PutObject]
              Resource: !Sub arn:${AWS::Partition}:s3:::${BucketName}/reports/*
            - Sid: ListReports
              Effect: Allow
              Action: [s3:ListBucket]
              Resource: !Sub arn:${AWS::Partition}:s3:::${BucketName}
              Condition:
                StringLike:
                  s3:prefix: [reports/*]
            - Sid: InvokeItself
              Effect: Allow
              Action: [lambda:InvokeFunction]
              Resource: !Sub arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-worker
        - !If
          - HasKey
          - Statement:
              - Sid: Key
                Effect: Allow
                Action: [secretsmanager:GetSecretValue]
                Resource: !Ref KeySecretArn
          - !Ref AWS::NoValue
  OtherFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: other
    Properties:
      FunctionName: !Sub ${AWS::StackName}-other
      Policies:
        - Statement:
            - Sid: ReadBatches
              Effect: Allow
              Action: [s3:GetObject] # other
              Resource: !Sub arn:${AWS::Partition}:s3:::${BucketName}/batches/*
"#;

/// The fixture's deployment: the local names of pushbatch's own stack,
/// with the key's parameter set so its conditional statement exists.
pub fn fixture_deployment() -> Deployment {
    let mut deployment = Deployment::local();
    deployment.parameters = BTreeMap::from([
        ("BucketName".to_owned(), "pushbatch-local".to_owned()),
        ("KeySecretArn".to_owned(), "arn:aws:secretsmanager:us-east-1:000000000000:secret:key".to_owned()),
    ]);
    deployment
}

pub fn access(action: &str, resource: Resource) -> Access {
    Access { action: action.into(), resource, context: BTreeMap::new() }
}

pub fn with_context(mut access: Access, key: &str, value: &str) -> Access {
    access.context.insert(key.into(), value.into());
    access
}

pub fn call(function: &str, operation: &str, access: Vec<Access>) -> CallRecord {
    let service = match access.first().map(|a| a.action.split(':').next().unwrap_or_default()) {
        Some("dynamodb") => "DynamoDB",
        Some("s3") => "S3",
        Some("lambda") => "Lambda",
        Some("secretsmanager") => "Secrets Manager",
        _ => "other",
    };
    CallRecord {
        function: function.into(),
        service: service.into(),
        operation: operation.into(),
        access,
        ok: true,
        status: Some(200),
        error: None,
    }
}

pub fn table(name: &str, index: Option<&str>) -> Resource {
    Resource::Table { table: name.into(), index: index.map(Into::into) }
}

pub fn object(key: &str) -> Resource {
    Resource::Object { bucket: "pushbatch-local".into(), key: key.into() }
}

/// A log the fixture allows exactly: every grant used but the key's.
pub fn fixture_records() -> Vec<CallRecord> {
    let jobs = || table("pushbatch-jobs", None);
    let mut failed_put = call("worker", "PutItem", vec![access("dynamodb:PutItem", jobs())]);
    (failed_put.ok, failed_put.status, failed_put.error) =
        (false, Some(400), Some("ConditionalCheckFailedException".into()));
    let bucket = Resource::Bucket { bucket: "pushbatch-local".into() };
    vec![
        call("worker", "GetItem", vec![access("dynamodb:GetItem", jobs())]),
        failed_put,
        call("worker", "Query", vec![access("dynamodb:Query", table("pushbatch-jobs", Some("live_jobs")))]),
        call("worker", "PutObject", vec![access("s3:PutObject", object("reports/j/summary.json"))]),
        call("worker", "ListObjectsV2", vec![with_context(access("s3:ListBucket", bucket), "s3:prefix", "reports/j/")]),
        call("worker", "Invoke", vec![access("lambda:InvokeFunction", Resource::Function { name: "worker".into() })]),
        call("other", "GetObject", vec![access("s3:GetObject", object("batches/x.json"))]),
    ]
}

fn run(template: &str, records: &[CallRecord], exceptions: &[Exception]) -> Report {
    let deployment = fixture_deployment();
    let model = Model::load(template, &deployment).unwrap_or_else(|e| panic!("{e}"));
    check(&model, records, &deployment, exceptions)
}

const KEY: Exception = Exception {
    function: "worker",
    sid: "Key",
    action: "secretsmanager:GetSecretValue",
    reason: "the fixture's key comes from a file on the local stack, as pushbatch's secrets do",
};

#[test]
fn matching_calls_and_grants_pass() {
    let report = run(FIXTURE, &fixture_records(), &[KEY]);
    assert!(report.passed(), "{report}");
    assert!(
        report.summary.iter().any(|l| l.starts_with(
            "worker: 6 calls (1 failed), 6 distinct requests, 0 not allowed; grants used 6 of 7, excepted 1"
        )),
        "{report}"
    );
}

#[test]
fn a_call_no_statement_allows_is_named_with_the_nearest_statements() {
    let mut records = fixture_records();
    records.push(call("worker", "DeleteItem", vec![access("dynamodb:DeleteItem", table("pushbatch-jobs", None))]));
    let report = run(FIXTURE, &records, &[KEY]);
    assert_eq!(report.problems.len(), 1, "{report}");
    assert!(report.problems[0].starts_with("worker made dynamodb:DeleteItem on arn:aws:dynamodb:us-east-1:000000000000:table/pushbatch-jobs (DynamoDB DeleteItem; 1 calls, 0 failed), which no statement of WorkerFunction's policy allows; Jobs (dynamodb:GetItem, dynamodb:PutItem on"), "{report}");
}

#[test]
fn a_removed_action_fails_and_an_added_one_is_unused() {
    let narrowed =
        FIXTURE.replace("[dynamodb:GetItem, dynamodb:PutItem]", "[dynamodb:GetItem, dynamodb:BatchWriteItem]");
    let report = run(&narrowed, &fixture_records(), &[KEY]);
    assert!(
        report.problems.iter().any(|p| p.starts_with(
            "worker made dynamodb:PutItem on arn:aws:dynamodb:us-east-1:000000000000:table/pushbatch-jobs"
        )),
        "{report}"
    );
    assert!(report.problems.iter().any(|p| p.starts_with("worker: statement Jobs of WorkerFunction's policy grants dynamodb:BatchWriteItem on arn:aws:dynamodb:us-east-1:000000000000:table/pushbatch-jobs, and worker never made that call")), "{report}");
    assert_eq!(report.problems.len(), 2, "{report}");
}

#[test]
fn conditions_and_index_arns_are_evaluated() {
    let mut records = fixture_records();
    // Listing outside reports/ fails the s3:prefix condition; a query
    // of another index is not the index granted.
    records.push(call(
        "worker",
        "ListObjectsV2",
        vec![with_context(
            access("s3:ListBucket", Resource::Bucket { bucket: "pushbatch-local".into() }),
            "s3:prefix",
            "batches/",
        )],
    ));
    records.push(call("worker", "Query", vec![access("dynamodb:Query", table("pushbatch-jobs", Some("by_object")))]));
    let report = run(FIXTURE, &records, &[KEY]);
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("s3:ListBucket on arn:aws:s3:::pushbatch-local (s3:prefix=batches/)")
                && p.contains("ListReports (s3:ListBucket on arn:aws:s3:::pushbatch-local) covers the resource")),
        "{report}"
    );
    assert!(
        report.problems.iter().any(|p| p.contains(
            "dynamodb:Query on arn:aws:dynamodb:us-east-1:000000000000:table/pushbatch-jobs/index/by_object"
        )),
        "{report}"
    );
}

#[test]
fn a_bucket_policy_deny_wins_over_the_role() {
    let widened = FIXTURE.replace("Action: [s3:GetObject] # other", "Action: [s3:GetObject, s3:PutObject] # other");
    let mut records = fixture_records();
    records.push(call("other", "PutObject", vec![access("s3:PutObject", object("batches/x.json"))]));
    let report = run(&widened, &records, &[KEY]);
    assert_eq!(report.problems.len(), 1, "{report}");
    assert!(
        report.problems[0].starts_with("other made s3:PutObject on arn:aws:s3:::pushbatch-local/batches/x.json"),
        "{report}"
    );
    assert!(report.problems[0].ends_with("which is denied by BucketPolicy's statement OnlyWorkerWrites"), "{report}");
}

#[test]
fn a_stale_exception_an_unknown_operation_and_a_stranger_fail() {
    let mut records = fixture_records();
    records.push(call(
        "worker",
        "GetSecretValue",
        vec![access(
            "secretsmanager:GetSecretValue",
            Resource::Secret { id: "arn:aws:secretsmanager:us-east-1:000000000000:secret:key".into() },
        )],
    ));
    records.push(call(
        "worker",
        "DescribeTable",
        vec![access("dynamodb:DescribeTable", Resource::Unknown { operation: "DescribeTable".into() })],
    ));
    records.push(call("cron", "GetItem", vec![access("dynamodb:GetItem", table("pushbatch-jobs", None))]));
    let report = run(FIXTURE, &records, &[KEY]);
    let has = |start: &str| report.problems.iter().any(|p| p.starts_with(start));
    assert!(has("the exception for worker secretsmanager:GetSecretValue in statement Key is stale"), "{report}");
    assert!(has("worker: DescribeTable is an operation shared::aws::access does not describe"), "{report}");
    assert!(has("calls were recorded for cron, which template.yaml has no function for"), "{report}");
}

#[test]
fn a_function_without_calls_and_an_unexcepted_secret_fail() {
    let records: Vec<_> = fixture_records().into_iter().filter(|r| r.function != "other").collect();
    let report = run(FIXTURE, &records, &[]);
    let has = |start: &str| report.problems.iter().any(|p| p.starts_with(start));
    assert!(has("no calls were recorded for other"), "{report}");
    assert!(has("worker: statement Key of WorkerFunction's policy grants secretsmanager:GetSecretValue"), "{report}");
}
