//! Cap counts as items `(user_id, day)`: `total`, `c#<category>` and the
//! marks of the entries counted (`marks`, a string set no bigger than the
//! caps), kept three days (`expires_at`, the table's TTL) for users whose
//! day is late.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use super::{CapError, CapTake, Limits};
use crate::dynamo::{DynamoError, n, s};

/// Days a count outlives its day: the latest zone is 26 hours behind the
/// earliest, and a count must last past every zone's end of that day.
const KEEP_SECONDS: i64 = 3 * 24 * 3600;

pub struct DynamoCaps {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoCaps {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

impl DynamoCaps {
    /// Whether `mark` was counted, read back: for a table that does not
    /// return the item with a failed condition (DynamoDB does; some
    /// emulators do not).
    async fn counted(&self, user_id: &str, day: &str, mark: &str) -> Result<bool, CapError> {
        let read = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("user_id", s(user_id))
            .key("day", s(day))
            .projection_expression("marks")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| DynamoError::new("GetItem", &self.table, e))?;
        Ok(already_counted(read.item.as_ref().and_then(|i| i.get("marks")), mark))
    }
}

impl CapTake for DynamoCaps {
    async fn take(&self, user_id: &str, day: &str, limits: &Limits, mark: &str) -> Result<bool, CapError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("user_id", s(user_id))
            .key("day", s(day))
            .expression_attribute_names("#t", "total")
            .expression_attribute_names("#m", "marks")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":mark", AttributeValue::Ss(vec![mark.to_owned()]))
            .expression_attribute_values(":this", s(mark))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .expression_attribute_values(":exp", n(crate::clock::now_ms() / 1000 + KEEP_SECONDS));
        let mut conditions = vec!["NOT contains(#m, :this)"];
        let mut adds = vec!["#t :one", "#m :mark"];
        if let Some(cap) = limits.per_day {
            conditions.push("(attribute_not_exists(#t) OR #t < :cap)");
            update = update.expression_attribute_values(":cap", n(cap));
        }
        if let Some((category, cap)) = &limits.category {
            adds.push("#c :one");
            conditions.push("(attribute_not_exists(#c) OR #c < :ccap)");
            update = update
                .expression_attribute_names("#c", format!("c#{category}"))
                .expression_attribute_values(":ccap", n(cap));
        }
        update = update.update_expression(format!("ADD {} SET expires_at = :exp", adds.join(", ")));
        update = update.condition_expression(conditions.join(" AND "));
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) => match e.as_service_error() {
                // The item as it was says which condition failed: this
                // entry's own mark (counted before a crash), or a cap.
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => match &failed.item {
                    Some(item) => Ok(already_counted(item.get("marks"), mark)),
                    None => self.counted(user_id, day, mark).await,
                },
                _ => Err(DynamoError::new("UpdateItem", &self.table, e).into()),
            },
        }
    }
}

fn already_counted(marks: Option<&AttributeValue>, mark: &str) -> bool {
    matches!(marks, Some(AttributeValue::Ss(set)) if set.iter().any(|m| m == mark))
}
