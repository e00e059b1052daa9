//! Preferences in the user's item of the devices table: one UpdateItem that
//! sets what the document has and removes the rest, never naming `devices`.

use super::dynamo::DynamoDevices;
use super::ports::{DeviceError, PreferencesStore};
use super::preferences::{ATTRIBUTES, Preferences};
use crate::dynamo::{DynamoError, s};

/// `#locale` for `locale`: placeholders keep the expressions clear of
/// DynamoDB's reserved words.
fn placeholder(name: &str) -> String {
    format!("#{name}")
}

impl PreferencesStore for DynamoDevices {
    async fn put_preferences(&self, user_id: &str, preferences: &Preferences) -> Result<(), DeviceError> {
        let set = preferences.to_attributes();
        let removed: Vec<&str> = ATTRIBUTES.iter().copied().filter(|a| set.iter().all(|(name, _)| name != a)).collect();
        let mut expression = Vec::new();
        if !set.is_empty() {
            let parts: Vec<String> = set.iter().map(|(name, _)| format!("{} = :{name}", placeholder(name))).collect();
            expression.push(format!("SET {}", parts.join(", ")));
        }
        if !removed.is_empty() {
            let parts: Vec<String> = removed.iter().map(|name| placeholder(name)).collect();
            expression.push(format!("REMOVE {}", parts.join(", ")));
        }
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("user_id", s(user_id))
            .update_expression(expression.join(" "));
        for name in ATTRIBUTES {
            request = request.expression_attribute_names(placeholder(name), name);
        }
        for (name, value) in set {
            request = request.expression_attribute_values(format!(":{name}"), value);
        }
        request.send().await.map_err(|e| DynamoError::new("UpdateItem", &self.table, e))?;
        Ok(())
    }

    async fn get_preferences(&self, user_id: &str) -> Result<Preferences, DeviceError> {
        let projection: Vec<String> = ATTRIBUTES.iter().map(|name| placeholder(name)).collect();
        let mut request = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("user_id", s(user_id))
            .projection_expression(projection.join(", "))
            .consistent_read(true);
        for name in ATTRIBUTES {
            request = request.expression_attribute_names(placeholder(name), name);
        }
        let out = request.send().await.map_err(|e| DynamoError::new("GetItem", &self.table, e))?;
        let Some(item) = out.item else { return Ok(Preferences::default()) };
        Preferences::from_item(&item).map_err(|reason| DeviceError::BadPreferences {
            table: self.table.clone(),
            user_id: user_id.to_owned(),
            reason,
        })
    }
}
