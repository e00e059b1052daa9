//! What IAM evaluates for an SDK operation: its actions (named as IAM names
//! them: a HeadObject is `s3:GetObject`, a multipart upload `s3:PutObject`)
//! and the resources and condition keys each applies to, read from the
//! operation's typed input before it is serialized.
//!
//! Only operations pushbatch makes are described; any other is recorded as
//! `Resource::Unknown`, which the least-privilege check refuses by name, so
//! a new call cannot pass unchecked.

use std::collections::BTreeMap;

use aws_smithy_runtime_api::client::interceptors::context::Input;

use super::record::{Access, Resource};

/// The client a recorder is installed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    S3,
    DynamoDb,
    Lambda,
    Scheduler,
    Ses,
    SecretsManager,
}

/// The accesses an operation needs, from its input (each operation has an
/// input type of its own, so the type says which operation it is: the
/// operation's name is not known yet when the input is there to read).
/// `None` for an operation this module does not know.
pub fn describe(service: Service, input: &Input) -> Option<Vec<Access>> {
    match service {
        Service::S3 => s3(input),
        Service::DynamoDb => dynamodb(input),
        Service::Lambda => lambda(input),
        Service::Scheduler => scheduler(input),
        Service::Ses => ses(input),
        Service::SecretsManager => secrets_manager(input),
    }
}

/// What is recorded for an operation `describe` does not know.
pub fn unknown(service: Service, operation: &str) -> Access {
    let prefix = match service {
        Service::S3 => "s3",
        Service::DynamoDb => "dynamodb",
        Service::Lambda => "lambda",
        Service::Scheduler => "scheduler",
        Service::Ses => "ses",
        Service::SecretsManager => "secretsmanager",
    };
    plain(&format!("{prefix}:{operation}"), Resource::Unknown { operation: operation.to_owned() })
}

fn plain(action: &str, resource: Resource) -> Access {
    Access { action: action.to_owned(), resource, context: BTreeMap::new() }
}

fn with(action: &str, resource: Resource, key: &str, value: &str) -> Access {
    Access { action: action.to_owned(), resource, context: BTreeMap::from([(key.to_owned(), value.to_owned())]) }
}

fn object(action: &str, bucket: Option<&str>, key: Option<&str>) -> Option<Vec<Access>> {
    Some(vec![plain(action, Resource::Object { bucket: bucket?.to_owned(), key: key?.to_owned() })])
}

/// The first input type `input` is, with what to make of it.
macro_rules! first_of {
    ($input:expr; $($ty:ty => $describe:expr),+ $(,)?) => {{
        $(if let Some(i) = $input.downcast_ref::<$ty>() {
            return ($describe)(i);
        })+
        None
    }};
}

fn s3(input: &Input) -> Option<Vec<Access>> {
    use aws_sdk_s3::operation as op;
    first_of!(input;
        op::get_object::GetObjectInput => |i: &op::get_object::GetObjectInput| object("s3:GetObject", i.bucket(), i.key()),
        // HeadObject has no action of its own: it is authorized as a read.
        op::head_object::HeadObjectInput => |i: &op::head_object::HeadObjectInput| object("s3:GetObject", i.bucket(), i.key()),
        op::put_object::PutObjectInput => |i: &op::put_object::PutObjectInput| object("s3:PutObject", i.bucket(), i.key()),
        // Every step of a multipart upload is authorized as `s3:PutObject`.
        op::create_multipart_upload::CreateMultipartUploadInput =>
            |i: &op::create_multipart_upload::CreateMultipartUploadInput| object("s3:PutObject", i.bucket(), i.key()),
        op::upload_part::UploadPartInput => |i: &op::upload_part::UploadPartInput| object("s3:PutObject", i.bucket(), i.key()),
        op::complete_multipart_upload::CompleteMultipartUploadInput =>
            |i: &op::complete_multipart_upload::CompleteMultipartUploadInput| object("s3:PutObject", i.bucket(), i.key()),
        op::abort_multipart_upload::AbortMultipartUploadInput =>
            |i: &op::abort_multipart_upload::AbortMultipartUploadInput| object("s3:AbortMultipartUpload", i.bucket(), i.key()),
        op::delete_object::DeleteObjectInput =>
            |i: &op::delete_object::DeleteObjectInput| object("s3:DeleteObject", i.bucket(), i.key()),
        op::list_objects_v2::ListObjectsV2Input => |i: &op::list_objects_v2::ListObjectsV2Input| {
            let bucket = Resource::Bucket { bucket: i.bucket()?.to_owned() };
            Some(vec![match i.prefix() {
                Some(prefix) => with("s3:ListBucket", bucket, "s3:prefix", prefix),
                None => plain("s3:ListBucket", bucket),
            }])
        },
    )
}

fn table(action: &str, name: Option<&str>, index: Option<&str>) -> Option<Vec<Access>> {
    Some(vec![plain(action, Resource::Table { table: name?.to_owned(), index: index.map(str::to_owned) })])
}

/// A batch is authorized per table it names, under the batch's action.
fn per_table<'a>(action: &str, tables: impl Iterator<Item = &'a String>) -> Option<Vec<Access>> {
    let mut tables: Vec<&String> = tables.collect();
    tables.sort();
    Some(tables.into_iter().map(|t| plain(action, Resource::Table { table: t.clone(), index: None })).collect())
}

fn dynamodb(input: &Input) -> Option<Vec<Access>> {
    use aws_sdk_dynamodb::operation as op;
    first_of!(input;
        op::get_item::GetItemInput => |i: &op::get_item::GetItemInput| table("dynamodb:GetItem", i.table_name(), None),
        op::put_item::PutItemInput => |i: &op::put_item::PutItemInput| table("dynamodb:PutItem", i.table_name(), None),
        op::update_item::UpdateItemInput =>
            |i: &op::update_item::UpdateItemInput| table("dynamodb:UpdateItem", i.table_name(), None),
        op::delete_item::DeleteItemInput =>
            |i: &op::delete_item::DeleteItemInput| table("dynamodb:DeleteItem", i.table_name(), None),
        op::query::QueryInput => |i: &op::query::QueryInput| table("dynamodb:Query", i.table_name(), i.index_name()),
        op::scan::ScanInput => |i: &op::scan::ScanInput| table("dynamodb:Scan", i.table_name(), i.index_name()),
        op::batch_get_item::BatchGetItemInput =>
            |i: &op::batch_get_item::BatchGetItemInput| per_table("dynamodb:BatchGetItem", i.request_items()?.keys()),
        op::batch_write_item::BatchWriteItemInput =>
            |i: &op::batch_write_item::BatchWriteItemInput| per_table("dynamodb:BatchWriteItem", i.request_items()?.keys()),
    )
}

/// A function's name from a name, `name:qualifier`, or a (partial) ARN.
pub fn function_name(given: &str) -> &str {
    let name = given.rsplit_once("function:").map_or(given, |(_, rest)| rest);
    name.split(':').next().unwrap_or(name)
}

fn lambda(input: &Input) -> Option<Vec<Access>> {
    use aws_sdk_lambda::operation::invoke::InvokeInput;
    first_of!(input;
        InvokeInput => |i: &InvokeInput| {
            let name = function_name(i.function_name()?).to_owned();
            Some(vec![plain("lambda:InvokeFunction", Resource::Function { name })])
        },
    )
}

fn schedule(action: &str, group: Option<&str>, name: Option<&str>) -> Option<Access> {
    let resource = Resource::Schedule { group: group.unwrap_or("default").to_owned(), name: name?.to_owned() };
    Some(plain(action, resource))
}

/// The schedule's role is passed to Scheduler: the caller needs
/// `iam:PassRole` on it, for that service.
fn pass_role(target: Option<&aws_sdk_scheduler::types::Target>) -> Option<Access> {
    let role = Resource::Role { arn: target?.role_arn().to_owned() };
    Some(with("iam:PassRole", role, "iam:PassedToService", "scheduler.amazonaws.com"))
}

fn scheduler(input: &Input) -> Option<Vec<Access>> {
    use aws_sdk_scheduler::operation as op;
    first_of!(input;
        op::create_schedule::CreateScheduleInput => |i: &op::create_schedule::CreateScheduleInput| {
            let create = schedule("scheduler:CreateSchedule", i.group_name(), i.name())?;
            Some([Some(create), pass_role(i.target())].into_iter().flatten().collect())
        },
        op::update_schedule::UpdateScheduleInput => |i: &op::update_schedule::UpdateScheduleInput| {
            let update = schedule("scheduler:UpdateSchedule", i.group_name(), i.name())?;
            Some([Some(update), pass_role(i.target())].into_iter().flatten().collect())
        },
        op::delete_schedule::DeleteScheduleInput => |i: &op::delete_schedule::DeleteScheduleInput| {
            Some(vec![schedule("scheduler:DeleteSchedule", i.group_name(), i.name())?])
        },
        op::get_schedule::GetScheduleInput => |i: &op::get_schedule::GetScheduleInput| {
            Some(vec![schedule("scheduler:GetSchedule", i.group_name(), i.name())?])
        },
    )
}

/// The address of a `From`, which may be `Name <address>`.
pub fn from_address(from: &str) -> &str {
    match (from.rfind('<'), from.rfind('>')) {
        (Some(open), Some(close)) if open < close => &from[open + 1..close],
        _ => from.trim(),
    }
}

fn ses(input: &Input) -> Option<Vec<Access>> {
    use aws_sdk_sesv2::operation::send_email::SendEmailInput;
    first_of!(input;
        SendEmailInput => |i: &SendEmailInput| {
            let address = from_address(i.from_email_address()?);
            let identity = Resource::Identity { identity: address.to_owned() };
            Some(vec![with("ses:SendEmail", identity, "ses:FromAddress", address)])
        },
    )
}

fn secrets_manager(input: &Input) -> Option<Vec<Access>> {
    use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueInput;
    first_of!(input;
        GetSecretValueInput => |i: &GetSecretValueInput| {
            let id = i.secret_id()?.to_owned();
            Some(vec![plain("secretsmanager:GetSecretValue", Resource::Secret { id })])
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_what_callers_give() {
        assert_eq!(function_name("send-batch"), "send-batch");
        assert_eq!(function_name("send-batch:live"), "send-batch");
        assert_eq!(function_name("arn:aws:lambda:us-east-1:1:function:pb-send-batch:3"), "pb-send-batch");
        assert_eq!(from_address("Pushbatch <push@example.com>"), "push@example.com");
        assert_eq!(from_address(" push@example.com "), "push@example.com");
    }

    #[test]
    fn describes_typed_inputs() {
        let get = aws_sdk_s3::operation::head_object::HeadObjectInput::builder().bucket("b").key("k").build();
        let access = describe(Service::S3, &Input::erase(get.expect("input"))).expect("known");
        assert_eq!(access, vec![plain("s3:GetObject", Resource::Object { bucket: "b".into(), key: "k".into() })]);

        let list =
            aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Input::builder().bucket("b").prefix("reports/j/");
        let access = describe(Service::S3, &Input::erase(list.build().expect("input"))).expect("known");
        assert_eq!(
            access,
            vec![with("s3:ListBucket", Resource::Bucket { bucket: "b".into() }, "s3:prefix", "reports/j/")]
        );

        let query =
            aws_sdk_dynamodb::operation::query::QueryInput::builder().table_name("jobs").index_name("live_jobs");
        let access = describe(Service::DynamoDb, &Input::erase(query.build().expect("input"))).expect("known");
        assert_eq!(
            access,
            vec![plain("dynamodb:Query", Resource::Table { table: "jobs".into(), index: Some("live_jobs".into()) })]
        );

        let target = aws_sdk_scheduler::types::Target::builder().arn("arn:f").role_arn("arn:role").build();
        let create = aws_sdk_scheduler::operation::create_schedule::CreateScheduleInput::builder()
            .name("pb-j")
            .target(target.expect("target"))
            .build();
        let access = describe(Service::Scheduler, &Input::erase(create.expect("input"))).expect("known");
        assert_eq!(
            access[0],
            plain("scheduler:CreateSchedule", Resource::Schedule { group: "default".into(), name: "pb-j".into() })
        );
        assert_eq!(access[1].action, "iam:PassRole");
        assert_eq!(access[1].context["iam:PassedToService"], "scheduler.amazonaws.com");
    }

    #[test]
    fn an_operation_it_does_not_know_is_unknown() {
        let input = aws_sdk_dynamodb::operation::describe_table::DescribeTableInput::builder().table_name("t");
        assert_eq!(describe(Service::DynamoDb, &Input::erase(input.build().expect("input"))), None);
        assert_eq!(
            unknown(Service::DynamoDb, "DescribeTable"),
            plain("dynamodb:DescribeTable", Resource::Unknown { operation: "DescribeTable".into() })
        );
    }
}
