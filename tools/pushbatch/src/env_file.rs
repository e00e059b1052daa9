//! `KEY=VALUE` environment files (the local stack's `stack.env`), and the
//! layered environment every command reads its configuration from.
//!
//! The format is the common dotenv subset that `cargo lambda watch --env-file`
//! also reads: one `KEY=VALUE` per line, blank lines and `#` comments ignored,
//! an optional `export ` prefix, values optionally wrapped in single or double
//! quotes. Values are written unquoted unless they need quoting.

use std::path::{Path, PathBuf};

/// Why an environment file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EnvFileError {
    #[error("reading env file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing env file {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {reason}")]
    Syntax { path: PathBuf, line: usize, reason: String },
}

/// An ordered set of environment variables; setting an existing key replaces
/// its value in place so rendered files keep a stable, readable order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvMap {
    entries: Vec<(String, String)>,
}

impl EnvMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses file text; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, EnvFileError> {
        let mut map = Self::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line.strip_prefix("export ").unwrap_or(line);
            let syntax = |reason: &str| EnvFileError::Syntax {
                path: path.to_path_buf(),
                line: index + 1,
                reason: reason.to_string(),
            };
            let (key, value) = line.split_once('=').ok_or_else(|| syntax("expected KEY=VALUE"))?;
            let key = key.trim();
            if !is_valid_key(key) {
                return Err(syntax("key must be [A-Za-z_][A-Za-z0-9_]*"));
            }
            let value = unquote(value.trim()).map_err(syntax)?;
            map.set(key, value);
        }
        Ok(map)
    }

    /// Reads and parses a file.
    pub fn read(path: &Path) -> Result<Self, EnvFileError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| EnvFileError::Read { path: path.to_path_buf(), source })?;
        Self::parse(&text, path)
    }

    /// Writes the rendered map atomically (temp file + rename), so a reader
    /// such as `cargo lambda watch` never sees a half-written file.
    pub fn write(&self, path: &Path) -> Result<(), EnvFileError> {
        let write_err = |source| EnvFileError::Write { path: path.to_path_buf(), source };
        let tmp = path.with_extension("env.tmp");
        std::fs::write(&tmp, self.render()).map_err(write_err)?;
        std::fs::rename(&tmp, path).map_err(write_err)
    }

    /// The process environment (non-UTF-8 variables are skipped).
    pub fn from_process() -> Self {
        let mut map = Self::new();
        for (key, value) in std::env::vars_os() {
            if let (Ok(key), Ok(value)) = (key.into_string(), value.into_string()) {
                map.set(&key, value);
            }
        }
        map
    }

    /// `self` with every entry of `top` set over it.
    pub fn overlaid_with(mut self, top: &EnvMap) -> Self {
        for (key, value) in &top.entries {
            self.set(key, value.clone());
        }
        self
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key.to_string(), value)),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn get_or<'a>(&'a self, key: &str, default: &'a str) -> &'a str {
        self.get(key).unwrap_or(default)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// File text: one `KEY=VALUE` line per entry, in insertion order.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (key, value) in &self.entries {
            out.push_str(key);
            out.push('=');
            out.push_str(&quote_if_needed(value));
            out.push('\n');
        }
        out
    }
}

impl<K: AsRef<str>, V: Into<String>> FromIterator<(K, V)> for EnvMap {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = Self::new();
        for (key, value) in iter {
            map.set(key.as_ref(), value);
        }
        map
    }
}

/// Parses `KEY=VALUE` as given on a command line (`--fn-env`).
pub fn parse_assignment(text: &str) -> Result<(String, String), String> {
    let (key, value) = text.split_once('=').ok_or_else(|| format!("expected KEY=VALUE, got {text:?}"))?;
    if !is_valid_key(key) {
        return Err(format!("invalid variable name {key:?}"));
    }
    Ok((key.to_string(), value.to_string()))
}

fn is_valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

fn unquote(value: &str) -> Result<String, &'static str> {
    if let Some(inner) = value.strip_prefix('\'') {
        return inner.strip_suffix('\'').map(str::to_string).ok_or("unterminated single quote");
    }
    if let Some(inner) = value.strip_prefix('"') {
        let inner = inner.strip_suffix('"').ok_or("unterminated double quote")?;
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(other) => out.push(other),
                    None => return Err("dangling backslash"),
                }
            } else {
                out.push(c);
            }
        }
        return Ok(out);
    }
    // An unquoted value ends at an inline comment, as in dotenv.
    Ok(match value.find(" #") {
        Some(at) => value[..at].trim_end().to_string(),
        None => value.to_string(),
    })
}

fn quote_if_needed(value: &str) -> String {
    let plain = !value.is_empty()
        && !value.chars().any(|c| c.is_whitespace() || matches!(c, '#' | '\'' | '"' | '\\' | '$' | '`'));
    if plain || value.is_empty() {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_comments_quotes_and_export() {
        let text = "# stack\n\nA=1\nexport B = two \nC='x y'\nD=\"q\\\"uote\"\nE=v # note\nA=3\n";
        let map = EnvMap::parse(text, Path::new("t.env")).expect("parses");
        assert_eq!(map.get("A"), Some("3"));
        assert_eq!(map.get("B"), Some("two"));
        assert_eq!(map.get("C"), Some("x y"));
        assert_eq!(map.get("D"), Some("q\"uote"));
        assert_eq!(map.get("E"), Some("v"));
        // A keeps its first position though its value was replaced.
        let keys: Vec<_> = map.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["A", "B", "C", "D", "E"]);
    }

    #[test]
    fn reports_line_of_bad_syntax() {
        let err = EnvMap::parse("A=1\nnot an assignment\n", Path::new("s.env")).unwrap_err();
        assert_eq!(err.to_string(), "s.env:2: expected KEY=VALUE");
        let err = EnvMap::parse("1A=1\n", Path::new("s.env")).unwrap_err();
        assert!(err.to_string().starts_with("s.env:1: key must be"));
    }

    #[test]
    fn render_round_trips() {
        let map: EnvMap = [
            ("PLAIN", "http://127.0.0.1:9101"),
            ("SPACED", "/tmp/my dir/ca.pem"),
            ("TRICKY", "a\"b\\c#d"),
            ("EMPTY", ""),
        ]
        .into_iter()
        .collect();
        let text = map.render();
        assert!(text.starts_with("PLAIN=http://127.0.0.1:9101\n"));
        assert_eq!(EnvMap::parse(&text, Path::new("r.env")).expect("parses"), map);
    }

    #[test]
    fn overlay_replaces_and_appends() {
        let base: EnvMap = [("A", "1"), ("B", "2")].into_iter().collect();
        let top: EnvMap = [("B", "20"), ("C", "30")].into_iter().collect();
        let merged = base.overlaid_with(&top);
        assert_eq!(merged.get("A"), Some("1"));
        assert_eq!(merged.get("B"), Some("20"));
        assert_eq!(merged.get("C"), Some("30"));
    }

    #[test]
    fn parses_cli_assignments() {
        assert_eq!(parse_assignment("MAX_RUN_SECONDS=5"), Ok(("MAX_RUN_SECONDS".into(), "5".into())));
        assert_eq!(parse_assignment("X=a=b"), Ok(("X".into(), "a=b".into())));
        assert!(parse_assignment("novalue").is_err());
        assert!(parse_assignment("BAD-KEY=1").is_err());
    }
}
