//! The requests table in DynamoDB: one item per request. `status`,
//! `requester`, the times and `version` are attributes of their own (to read
//! and query by hand); the rest is one JSON document, and an uploaded
//! audience file is a binary attribute that only `create` writes.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use bytes::Bytes;

use super::model::ApprovalRequest;
use super::store::{RequestGet, RequestPut, StoreError};
use crate::dynamo::{DynamoError, condition_failed, n, s, text};

pub struct DynamoRequests {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoRequests {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    async fn get_item(
        &self,
        request_id: &str,
        projection: Option<&str>,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("request_id", s(request_id))
            .consistent_read(true)
            .set_projection_expression(projection.map(str::to_owned))
            .send()
            .await
            .map_err(|e| DynamoError::new("GetItem", &self.table, e))?;
        Ok(out.item)
    }
}

fn doc(r: &ApprovalRequest) -> Result<AttributeValue, StoreError> {
    let json =
        serde_json::to_string(r).map_err(|source| StoreError::Encode { request_id: r.request_id.clone(), source })?;
    Ok(s(json))
}

pub fn from_item(item: &HashMap<String, AttributeValue>) -> Result<ApprovalRequest, StoreError> {
    let request_id = text(item, "request_id").cloned().unwrap_or_else(|| "(no request_id)".into());
    let text = item
        .get("doc")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| StoreError::Corrupt { request_id: request_id.clone(), message: "no doc attribute".into() })?;
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt { request_id, message: e.to_string() })
}

impl RequestGet for DynamoRequests {
    async fn get(&self, request_id: &str) -> Result<Option<ApprovalRequest>, StoreError> {
        // The audience blob can be large and is not needed here.
        let item = self.get_item(request_id, Some("request_id, doc")).await?;
        item.as_ref().map(from_item).transpose()
    }

    async fn audience(&self, request_id: &str) -> Result<Option<Bytes>, StoreError> {
        let item = self.get_item(request_id, Some("audience")).await?;
        Ok(item
            .and_then(|mut i| i.remove("audience"))
            .and_then(|v| v.as_b().ok().map(|b| Bytes::copy_from_slice(b.as_ref()))))
    }
}

impl RequestPut for DynamoRequests {
    async fn create(&self, r: &ApprovalRequest, audience: Option<Bytes>) -> Result<bool, StoreError> {
        let mut item = HashMap::from([
            ("request_id".to_owned(), s(&r.request_id)),
            ("status".to_owned(), s(r.status.as_str())),
            ("requester".to_owned(), s(&r.requester)),
            ("created_at".to_owned(), n(r.created_at)),
            ("expires_at".to_owned(), n(r.expires_at)),
            ("version".to_owned(), n(r.version)),
            ("doc".to_owned(), doc(r)?),
        ]);
        if let Some(bytes) = audience {
            item.insert("audience".into(), AttributeValue::B(Blob::new(bytes.to_vec())));
        }
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(request_id)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(DynamoError::new("PutItem", &self.table, e).into()),
        }
    }

    async fn replace(&self, r: &ApprovalRequest, expected: u64) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("request_id", s(&r.request_id))
            .update_expression("SET #doc = :doc, #status = :status, #version = :version")
            .condition_expression("#version = :expected")
            .expression_attribute_names("#doc", "doc")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":doc", doc(r)?)
            .expression_attribute_values(":status", s(r.status.as_str()))
            .expression_attribute_values(":version", n(r.version))
            .expression_attribute_values(":expected", n(expected))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(DynamoError::new("UpdateItem", &self.table, e).into()),
        }
    }
}
