//! `local/users.json`: the local issuer's app clients and test users, what a
//! Cognito user pool would hold.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::json_file::{self, JsonFileError};

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("users file: {0}")]
    File(#[from] JsonFileError),
    #[error("invalid users file: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    /// The `aud` of its ID tokens, the `client_id` of its access tokens.
    pub client_id: String,
    /// What the client is (for people reading the file).
    #[serde(default)]
    pub description: String,
}

#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub username: String,
    pub password: String,
    /// The token's `sub`; for app users, their user id.
    pub sub: String,
    pub email: String,
    /// What the user is for (for people reading the file).
    #[serde(default)]
    pub description: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User").field("username", &self.username).field("sub", &self.sub).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Directory {
    pub clients: Vec<Client>,
    pub users: Vec<User>,
}

impl Directory {
    pub fn load(path: &Path) -> Result<Directory, DirectoryError> {
        let directory: Directory = json_file::read(path)?;
        directory.validate()?;
        Ok(directory)
    }

    pub fn validate(&self) -> Result<(), DirectoryError> {
        let invalid = |what: String| Err(DirectoryError::Invalid(what));
        let mut client_ids = HashSet::new();
        for client in &self.clients {
            if client.client_id.is_empty() || !client_ids.insert(client.client_id.as_str()) {
                return invalid(format!("client_id {:?} is empty or appears twice", client.client_id));
            }
        }
        let (mut usernames, mut subs) = (HashSet::new(), HashSet::new());
        for user in &self.users {
            if user.username.is_empty() || !usernames.insert(user.username.as_str()) {
                return invalid(format!("username {:?} is empty or appears twice", user.username));
            }
            if user.sub.is_empty() || !subs.insert(user.sub.as_str()) {
                return invalid(format!("user {:?}: sub {:?} is empty or taken", user.username, user.sub));
            }
            if user.password.is_empty() {
                return invalid(format!("user {:?} has no password", user.username));
            }
            if !user.email.contains('@') {
                return invalid(format!("user {:?}: {:?} is not an email address", user.username, user.email));
            }
        }
        Ok(())
    }

    pub fn client(&self, client_id: &str) -> Option<&Client> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }

    /// The user whose username and password these are.
    pub fn sign_in(&self, username: &str, password: &str) -> Option<&User> {
        let user = self.users.iter().find(|u| u.username == username)?;
        bool::from(user.password.as_bytes().ct_eq(password.as_bytes())).then_some(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directory(json: &str) -> Result<Directory, DirectoryError> {
        let d: Directory = serde_json::from_str(json).expect("the test's JSON has the file's shape");
        d.validate().map(|()| d)
    }

    #[test]
    fn signs_in_only_with_the_right_password() {
        let d = directory(
            r#"{"clients": [{"client_id": "app"}],
                "users": [{"username": "ann@example.com", "password": "pw", "sub": "u-1", "email": "ann@example.com"}]}"#,
        )
        .unwrap();
        assert_eq!(d.sign_in("ann@example.com", "pw").map(|u| u.sub.as_str()), Some("u-1"));
        assert!(d.sign_in("ann@example.com", "pW").is_none());
        assert!(d.sign_in("bob@example.com", "pw").is_none());
        assert!(d.client("app").is_some() && d.client("other").is_none());
    }

    #[test]
    fn refuses_ambiguous_or_incomplete_entries() {
        let user = |name: &str, sub: &str, pw: &str, email: &str| {
            format!(r#"{{"username": "{name}", "password": "{pw}", "sub": "{sub}", "email": "{email}"}}"#)
        };
        for users in [
            format!("{},{}", user("a", "1", "p", "a@x"), user("a", "2", "p", "b@x")),
            format!("{},{}", user("a", "1", "p", "a@x"), user("b", "1", "p", "b@x")),
            user("a", "1", "", "a@x"),
            user("a", "1", "p", "nobody"),
            user("", "1", "p", "a@x"),
        ] {
            let json = format!(r#"{{"clients": [], "users": [{users}]}}"#);
            assert!(matches!(directory(&json), Err(DirectoryError::Invalid(_))), "{json}");
        }
        let clients = r#"{"clients": [{"client_id": "a"}, {"client_id": "a"}], "users": []}"#;
        assert!(matches!(directory(clients), Err(DirectoryError::Invalid(_))));
        let unknown_field = serde_json::from_str::<Directory>(r#"{"clients": [], "users": [], "groups": []}"#);
        assert!(unknown_field.is_err(), "typos in the file must fail at start");
    }

    #[test]
    fn the_repo_users_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../local/users.json");
        let d = Directory::load(&path).unwrap();
        assert!(d.clients.len() >= 2, "the devices API's client and one other, for wrong-audience checks");
        assert!(!d.users.is_empty());
    }
}
