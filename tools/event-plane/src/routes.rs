//! `routes.json`: which S3 objects notify which function (the local mirror of
//! the bucket notification configuration in template.yaml).

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

use crate::json_file::{self, JsonFileError};

#[derive(Debug, thiserror::Error)]
pub enum RoutesError {
    #[error("routes file: {0}")]
    File(#[from] JsonFileError),
    #[error("invalid route: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Becomes `s3.configurationId` in the event.
    pub name: String,
    /// Restricts the route to one bucket; absent means every bucket.
    #[serde(default)]
    pub bucket: Option<String>,
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub suffix: String,
    pub function: String,
}

impl Route {
    /// S3 filter rules compare against the decoded key name.
    pub fn matches(&self, bucket: &str, key: &str) -> bool {
        self.bucket.as_deref().is_none_or(|b| b == bucket)
            && key.starts_with(&self.prefix)
            && key.ends_with(&self.suffix)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Routes {
    pub routes: Vec<Route>,
}

impl Routes {
    pub fn load(path: &Path) -> Result<Self, RoutesError> {
        let routes: Routes = json_file::read(path)?;
        routes.validate()?;
        Ok(routes)
    }

    pub fn new(routes: Vec<Route>) -> Result<Self, RoutesError> {
        let routes = Routes { routes };
        routes.validate()?;
        Ok(routes)
    }

    fn validate(&self) -> Result<(), RoutesError> {
        let mut names = HashSet::new();
        for route in &self.routes {
            if route.name.is_empty() {
                return Err(RoutesError::Invalid("a route has an empty name".into()));
            }
            if !names.insert(route.name.as_str()) {
                return Err(RoutesError::Invalid(format!("route name {:?} appears twice", route.name)));
            }
            if !is_function_name(&route.function) {
                return Err(RoutesError::Invalid(format!(
                    "route {:?}: {:?} is not a Lambda function name",
                    route.name, route.function
                )));
            }
        }
        Ok(())
    }

    pub fn matching<'a>(&'a self, bucket: &'a str, key: &'a str) -> impl Iterator<Item = &'a Route> {
        self.routes.iter().filter(move |r| r.matches(bucket, key))
    }
}

/// Lambda's own rule for a plain function name.
pub fn is_function_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(prefix: &str, suffix: &str) -> Route {
        Route { name: "r".into(), bucket: None, prefix: prefix.into(), suffix: suffix.into(), function: "f".into() }
    }

    #[test]
    fn prefix_and_suffix_filter() {
        let r = route("segments/", ".jsonl");
        assert!(r.matches("any", "segments/c/2024-01-01.jsonl"));
        assert!(!r.matches("any", "segments/c/2024-01-01.json"));
        assert!(!r.matches("any", "batches/x.jsonl"));
    }

    #[test]
    fn bucket_filter_is_optional() {
        let mut r = route("", "");
        assert!(r.matches("one", "k"));
        r.bucket = Some("two".into());
        assert!(!r.matches("one", "k"));
        assert!(r.matches("two", "k"));
    }

    #[test]
    fn the_repo_routes_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../local/routes.json");
        let routes = Routes::load(&path).unwrap();
        let to: Vec<&str> = routes.matching("bucket", "batches/a.json").map(|r| r.function.as_str()).collect();
        assert_eq!(to, ["send-batch"]);
        // Which other prefixes are routed is template.yaml's business; the
        // tests crate checks that the two agree.
        assert_eq!(routes.matching("bucket", "reports/j/summary.json").count(), 0);
    }

    #[test]
    fn rejects_duplicates_and_bad_names() {
        let dup = Routes::new(vec![route("a", ""), route("b", "")]);
        assert!(matches!(dup, Err(RoutesError::Invalid(_))));
        let mut bad = route("", "");
        bad.function = "arn:aws:lambda:x".into();
        assert!(matches!(Routes::new(vec![bad]), Err(RoutesError::Invalid(_))));
    }
}
