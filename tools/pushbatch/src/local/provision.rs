//! Creates the bucket and tables the functions expect, if missing.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TableStatus,
};
use shared::schema::{ALL_TABLES, TableDef};

use super::LocalError;
use crate::env_file::EnvMap;

/// What provisioning found or did, per resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    pub kind: &'static str,
    pub name: String,
    pub created: bool,
}

/// Creates `bucket` unless it exists.
pub async fn ensure_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Provisioned, LocalError> {
    let provision_err = |message: String| LocalError::Provision { what: format!("bucket {bucket}"), message };
    if s3.head_bucket().bucket(bucket).send().await.is_ok() {
        return Ok(Provisioned { kind: "bucket", name: bucket.to_string(), created: false });
    }
    match s3.create_bucket().bucket(bucket).send().await {
        Ok(_) => {}
        // A concurrent `local up` may have won the race; that is fine.
        Err(e) if e.as_service_error().is_some_and(|se| se.is_bucket_already_owned_by_you()) => {}
        Err(e) => {
            return Err(provision_err(aws_sdk_s3::error::DisplayErrorContext(e).to_string()));
        }
    }
    Ok(Provisioned { kind: "bucket", name: bucket.to_string(), created: true })
}

/// Creates every table in `ALL_TABLES` that is missing (names from `env`,
/// falling back to the defaults) and waits until each is ACTIVE.
pub async fn ensure_tables(dynamodb: &aws_sdk_dynamodb::Client, env: &EnvMap) -> Result<Vec<Provisioned>, LocalError> {
    let mut done = Vec::with_capacity(ALL_TABLES.len());
    for table in ALL_TABLES {
        let name = env.get_or(table.env, table.default_name).to_string();
        done.push(ensure_table(dynamodb, table, &name).await?);
    }
    Ok(done)
}

async fn ensure_table(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &TableDef,
    name: &str,
) -> Result<Provisioned, LocalError> {
    let provision_err = |message: String| LocalError::Provision { what: format!("table {name}"), message };
    let created = match dynamodb.describe_table().table_name(name).send().await {
        Ok(_) => false,
        Err(e) if e.as_service_error().is_some_and(|se| se.is_resource_not_found_exception()) => {
            let string_attribute = |name: &str| {
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(|e| provision_err(e.to_string()))
            };
            let hash_key = |name: &str| {
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(|e| provision_err(e.to_string()))
            };
            let mut request = dynamodb
                .create_table()
                .table_name(name)
                .billing_mode(BillingMode::PayPerRequest)
                .attribute_definitions(string_attribute(table.partition_key)?)
                .key_schema(hash_key(table.partition_key)?);
            if let Some(sort_key) = table.sort_key {
                let range_key = KeySchemaElement::builder()
                    .attribute_name(sort_key)
                    .key_type(KeyType::Range)
                    .build()
                    .map_err(|e| provision_err(e.to_string()))?;
                request = request.attribute_definitions(string_attribute(sort_key)?).key_schema(range_key);
            }
            // The same global secondary indexes as template.yaml.
            for index in table.indexes {
                request =
                    request.attribute_definitions(string_attribute(index.partition_key)?).global_secondary_indexes(
                        GlobalSecondaryIndex::builder()
                            .index_name(index.name)
                            .key_schema(hash_key(index.partition_key)?)
                            .projection(Projection::builder().projection_type(ProjectionType::All).build())
                            .build()
                            .map_err(|e| provision_err(e.to_string()))?,
                    );
            }
            let result = request.send().await;
            match result {
                Ok(_) => true,
                Err(e) if e.as_service_error().is_some_and(|se| se.is_resource_in_use_exception()) => false,
                Err(e) => {
                    return Err(provision_err(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()));
                }
            }
        }
        Err(e) => {
            return Err(provision_err(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()));
        }
    };
    wait_active(dynamodb, name).await.map_err(provision_err)?;
    Ok(Provisioned { kind: "table", name: name.to_string(), created })
}

async fn wait_active(dynamodb: &aws_sdk_dynamodb::Client, name: &str) -> Result<(), String> {
    // dynalite runs with --createTableMs 0, so this normally passes at once;
    // the wait covers a stack started with other settings.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let output = dynamodb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
        let status = output.table().and_then(|t| t.table_status());
        if status == Some(&TableStatus::Active) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("not ACTIVE after 30s (status {status:?})"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
