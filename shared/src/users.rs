//! The users table, as the scheduled campaigns see it (schema in
//! `schema::USERS`): one UTC day of sign-ups or of last activity at a time,
//! through the day indexes, page by page. Nothing here scans the table.

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::schema::{USERS_BY_ACTIVE_DAY, USERS_BY_SIGNUP_DAY};

/// A user as the users table holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub user_id: String,
    pub signup_day: NaiveDate,
    pub last_active_day: NaiveDate,
    pub signup_completed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl UserRecord {
    /// The item, as `PutItem` / `BatchWriteItem` takes it.
    pub fn to_item(&self) -> HashMap<String, AttributeValue> {
        let mut item = HashMap::from([
            ("user_id".to_owned(), AttributeValue::S(self.user_id.clone())),
            (USERS_BY_SIGNUP_DAY.partition_key.to_owned(), AttributeValue::S(self.signup_day.to_string())),
            (USERS_BY_ACTIVE_DAY.partition_key.to_owned(), AttributeValue::S(self.last_active_day.to_string())),
            ("signup_completed".to_owned(), AttributeValue::Bool(self.signup_completed)),
        ]);
        if let Some(name) = &self.name {
            item.insert("name".to_owned(), AttributeValue::S(name.clone()));
        }
        item
    }
}

/// Which day index to query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayIndex {
    SignupDay,
    LastActiveDay,
}

/// One day's users, optionally only those whose sign-up is (not) completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayQuery {
    pub index: DayIndex,
    pub day: NaiveDate,
    pub signup_completed: Option<bool>,
}

impl DayQuery {
    fn matches(&self, user: &UserRecord) -> bool {
        let day = match self.index {
            DayIndex::SignupDay => user.signup_day,
            DayIndex::LastActiveDay => user.last_active_day,
        };
        day == self.day && self.signup_completed.is_none_or(|c| c == user.signup_completed)
    }
}

/// What a segment needs of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedUser {
    pub user_id: String,
    pub name: Option<String>,
}

/// Where the next page starts: DynamoDB's `LastEvaluatedKey`, whose values
/// on these indexes are all strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken(Vec<(String, String)>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub users: Vec<SelectedUser>,
    pub next: Option<PageToken>,
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct UsersError(#[from] pub crate::dynamo::DynamoError);

pub trait UsersByDay: Send + Sync {
    fn page(&self, query: &DayQuery, start: Option<PageToken>)
    -> impl Future<Output = Result<Page, UsersError>> + Send;
}

pub struct DynamoUsers {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoUsers {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

impl UsersByDay for DynamoUsers {
    async fn page(&self, query: &DayQuery, start: Option<PageToken>) -> Result<Page, UsersError> {
        let index = match query.index {
            DayIndex::SignupDay => USERS_BY_SIGNUP_DAY,
            DayIndex::LastActiveDay => USERS_BY_ACTIVE_DAY,
        };
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index.name)
            .key_condition_expression("#day = :day")
            .expression_attribute_names("#day", index.partition_key)
            .expression_attribute_values(":day", AttributeValue::S(query.day.to_string()))
            .projection_expression("user_id, #name")
            .expression_attribute_names("#name", "name");
        if let Some(completed) = query.signup_completed {
            request = request
                .filter_expression("signup_completed = :completed")
                .expression_attribute_values(":completed", AttributeValue::Bool(completed));
        }
        if let Some(PageToken(key)) = start {
            request = request
                .set_exclusive_start_key(Some(key.into_iter().map(|(k, v)| (k, AttributeValue::S(v))).collect()));
        }
        let out = request.send().await.map_err(|e| crate::dynamo::DynamoError::new("Query", &self.table, e))?;
        let users = out
            .items()
            .iter()
            .filter_map(|item| {
                let user_id = item.get("user_id")?.as_s().ok()?.clone();
                let name = item.get("name").and_then(|v| v.as_s().ok()).cloned();
                Some(SelectedUser { user_id, name })
            })
            .collect();
        let next = out
            .last_evaluated_key()
            .filter(|k| !k.is_empty())
            .map(|key| PageToken(key.iter().filter_map(|(k, v)| Some((k.clone(), v.as_s().ok()?.clone()))).collect()));
        Ok(Page { users, next })
    }
}

/// Users in memory, for tests; pages of `page_size` like DynamoDB's 1 MB pages.
pub struct MemoryUsers {
    pub users: Vec<UserRecord>,
    pub page_size: usize,
}

impl UsersByDay for MemoryUsers {
    async fn page(&self, query: &DayQuery, start: Option<PageToken>) -> Result<Page, UsersError> {
        let from = start.and_then(|PageToken(k)| k.first().and_then(|(_, v)| v.parse::<usize>().ok())).unwrap_or(0);
        let to = (from + self.page_size).min(self.users.len());
        let users = self.users[from..to]
            .iter()
            .filter(|u| query.matches(u))
            .map(|u| SelectedUser { user_id: u.user_id.clone(), name: u.name.clone() })
            .collect();
        let next = (to < self.users.len()).then(|| PageToken(vec![("at".into(), to.to_string())]));
        Ok(Page { users, next })
    }
}
