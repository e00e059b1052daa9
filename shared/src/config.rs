//! Settings from environment variables (Contract 4), validated at cold start.
//!
//! Every problem is collected, not just the first, so one failed cold start
//! names every missing or bad value at once.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Everything wrong with the environment, one line per variable.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// Reads variables from a source and remembers each problem it meets.
pub struct EnvReader<'a> {
    lookup: Lookup<'a>,
    problems: Vec<String>,
}

impl EnvReader<'static> {
    /// Reads the process environment.
    pub fn from_process() -> Self {
        Self::new(|k| std::env::var(k).ok())
    }
}

impl<'a> EnvReader<'a> {
    pub fn new(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Self { lookup: Box::new(lookup), problems: Vec::new() }
    }

    /// For tests and tools: read from a map instead of the process.
    pub fn from_map(map: &'a BTreeMap<String, String>) -> Self {
        Self::new(move |k| map.get(k).cloned())
    }

    fn raw(&self, key: &str) -> Option<String> {
        (self.lookup)(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    pub fn optional_string(&mut self, key: &str) -> Option<String> {
        self.raw(key)
    }

    pub fn required_string(&mut self, key: &str, what: &str) -> String {
        self.raw(key).unwrap_or_else(|| {
            self.problems.push(format!("{key} is not set ({what})"));
            String::new()
        })
    }

    pub fn string_or(&mut self, key: &str, default: &str) -> String {
        self.raw(key).unwrap_or_else(|| default.to_owned())
    }

    pub fn optional_path(&mut self, key: &str) -> Option<PathBuf> {
        self.raw(key).map(PathBuf::from)
    }

    /// A value that parses, or the default when unset.
    pub fn parsed_or<T>(&mut self, key: &str, default: T) -> T
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.optional_parsed(key).unwrap_or(default)
    }

    pub fn optional_parsed<T>(&mut self, key: &str) -> Option<T>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        let raw = self.raw(key)?;
        match raw.parse::<T>() {
            Ok(v) => Some(v),
            Err(e) => {
                self.problems.push(format!("{key}={raw:?} is not valid: {e}"));
                None
            }
        }
    }

    /// A number that must lie in `range`; out of range is a problem, not a clamp.
    pub fn bounded_or<T>(&mut self, key: &str, default: T, range: std::ops::RangeInclusive<T>) -> T
    where
        T: FromStr + PartialOrd + fmt::Display + Copy,
        T::Err: fmt::Display,
    {
        let v = self.parsed_or(key, default);
        if !range.contains(&v) {
            self.problems.push(format!("{key}={v} is out of range ({}..={})", range.start(), range.end()));
            return default;
        }
        v
    }

    pub fn seconds_or(&mut self, key: &str, default: u64) -> Duration {
        Duration::from_secs(self.parsed_or(key, default))
    }

    pub fn bool_or(&mut self, key: &str, default: bool) -> bool {
        match self.raw(key).as_deref().map(str::to_ascii_lowercase).as_deref() {
            None => default,
            Some("1" | "true" | "yes" | "on") => true,
            Some("0" | "false" | "no" | "off") => false,
            Some(other) => {
                self.problems.push(format!("{key}={other:?} is not a boolean (true/false)"));
                default
            }
        }
    }

    /// Records a problem found while combining several variables.
    pub fn problem(&mut self, message: impl Into<String>) {
        self.problems.push(message.into());
    }

    /// Ends reading: Ok when nothing was wrong.
    pub fn finish(self) -> Result<(), ConfigError> {
        if self.problems.is_empty() { Ok(()) } else { Err(ConfigError { problems: self.problems }) }
    }
}

/// Where a secret comes from: a file locally, Secrets Manager in AWS.
///
/// SSM SecureString would serve as well; one source keeps the IAM policy and
/// the dependency tree small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    File(PathBuf),
    SecretsManager(String),
}

impl SecretSource {
    /// `file:/path` is a file (locally); anything else a Secrets Manager id.
    pub fn parse(text: &str) -> Self {
        match text.strip_prefix("file:") {
            Some(path) => SecretSource::File(PathBuf::from(path)),
            None => SecretSource::SecretsManager(text.to_owned()),
        }
    }

    /// Reads `<PREFIX>_FILE` or `<PREFIX>_SECRET_ARN`; exactly one must be set.
    pub fn from_env(env: &mut EnvReader<'_>, prefix: &str, what: &str) -> Option<Self> {
        let file = env.optional_path(&format!("{prefix}_FILE")).map(SecretSource::File);
        let arn = env.optional_string(&format!("{prefix}_SECRET_ARN")).map(SecretSource::SecretsManager);
        let set: Vec<_> = [file, arn].into_iter().flatten().collect();
        match set.len() {
            1 => set.into_iter().next(),
            0 => {
                env.problem(format!("{what}: set {prefix}_FILE or {prefix}_SECRET_ARN"));
                None
            }
            _ => {
                env.problem(format!("{what}: set only one of {prefix}_FILE and {prefix}_SECRET_ARN"));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_every_problem() {
        let map =
            BTreeMap::from([("BATCH_SIZE".to_owned(), "lots".to_owned()), ("FLAG".to_owned(), "maybe".to_owned())]);
        let mut env = EnvReader::from_map(&map);
        let _ = env.required_string("TABLE", "the jobs table");
        let _: usize = env.parsed_or("BATCH_SIZE", 500);
        let _ = env.bool_or("FLAG", false);
        let err = env.finish().unwrap_err();
        assert_eq!(err.problems.len(), 3, "{err}");
        let text = err.to_string();
        assert!(text.contains("TABLE is not set"));
        assert!(text.contains("BATCH_SIZE=\"lots\""));
        assert!(text.contains("FLAG"));
    }

    #[test]
    fn bounds_are_enforced() {
        let map = BTreeMap::from([("N".to_owned(), "0".to_owned())]);
        let mut env = EnvReader::from_map(&map);
        assert_eq!(env.bounded_or("N", 5u32, 1..=10), 5);
        assert!(env.finish().is_err());
    }

    #[test]
    fn secret_source_needs_exactly_one() {
        let map =
            BTreeMap::from([("K_FILE".to_owned(), "/x".to_owned()), ("K_SECRET_ARN".to_owned(), "arn".to_owned())]);
        let mut env = EnvReader::from_map(&map);
        assert_eq!(SecretSource::from_env(&mut env, "K", "key"), None);
        assert!(env.finish().is_err());
        let map = BTreeMap::from([("K_SECRET_ARN".to_owned(), "arn:x".to_owned())]);
        let mut env = EnvReader::from_map(&map);
        assert_eq!(SecretSource::from_env(&mut env, "K", "key"), Some(SecretSource::SecretsManager("arn:x".into())));
        env.finish().unwrap();
    }
}
