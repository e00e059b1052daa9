//! DynamoDB attribute helpers and the one error type every table adapter
//! reports: the operation, the table, and the SDK's error kept as its source
//! (its Display is terse; [`crate::errors::Chain`] prints the whole chain).

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;

pub type Item = HashMap<String, AttributeValue>;

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A string attribute, if the item has one under `key`.
pub fn text<'a>(item: &'a Item, key: &str) -> Option<&'a String> {
    item.get(key)?.as_s().ok()
}

/// A number attribute parsed as `T`: `Ok(None)` when absent, `Err` (naming
/// the attribute) when it is not a number of that type.
pub fn number<T: FromStr>(item: &Item, key: &str) -> Result<Option<T>, String>
where
    T::Err: std::fmt::Display,
{
    match item.get(key) {
        None => Ok(None),
        Some(v) => {
            let raw = v.as_n().map_err(|_| format!("{key} is not a number"))?;
            raw.parse::<T>().map(Some).map_err(|e| format!("{key}: {e}"))
        }
    }
}

/// A number attribute that must be there.
pub fn required_number<T: FromStr>(item: &Item, key: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    number(item, key)?.ok_or_else(|| format!("missing {key}"))
}

/// A DynamoDB call that failed.
#[derive(Debug, thiserror::Error)]
#[error("DynamoDB {operation} on {table}")]
pub struct DynamoError {
    pub operation: &'static str,
    pub table: String,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl DynamoError {
    pub fn new<E, R>(operation: &'static str, table: &str, e: SdkError<E, R>) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        Self { operation, table: table.to_owned(), source: Box::new(e) }
    }

    /// A failure that is not the SDK's (a request that cannot be built).
    pub fn other(operation: &'static str, table: &str, e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self { operation, table: table.to_owned(), source: Box::new(e) }
    }
}

/// Whether a conditional write failed its condition (and not the call).
pub fn condition_failed<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error().and_then(ProvideErrorMetadata::code) == Some("ConditionalCheckFailedException")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_parsed_or_named() {
        let item = Item::from([("a".into(), n(5)), ("b".into(), s("x")), ("c".into(), n("1.5"))]);
        assert_eq!(number::<u64>(&item, "a"), Ok(Some(5)));
        assert_eq!(number::<u64>(&item, "z"), Ok(None));
        assert_eq!(required_number::<u64>(&item, "z"), Err("missing z".into()));
        assert!(number::<u64>(&item, "b").unwrap_err().contains("b is not a number"));
        assert!(number::<u64>(&item, "c").unwrap_err().starts_with("c: "));
        assert_eq!(text(&item, "b").map(String::as_str), Some("x"));
    }
}
