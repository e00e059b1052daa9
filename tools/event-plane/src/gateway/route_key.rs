//! HTTP API route keys (`PUT /users/{id}/devices`, `ANY /{proxy+}`,
//! `$default`) and how one matches a request path.

use std::collections::BTreeMap;
use std::fmt;

use percent_encoding::percent_decode_str;

/// Methods a route key may name; `ANY` matches every method.
const METHODS: [&str; 8] = ["ANY", "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RouteKeyError {
    #[error("route key {0:?} is not \"$default\" or \"METHOD /path\"")]
    Shape(String),
    #[error("route key {key:?}: unknown method {method:?} (one of {})", METHODS.join(", "))]
    Method { key: String, method: String },
    #[error("route key {key:?}: {problem}")]
    Path { key: String, problem: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    /// `{name}`: exactly one non-empty segment.
    Param(String),
    /// `{name+}`: the rest of the path, one segment or more; last only.
    Greedy(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteKey {
    /// The catch-all for requests no other route matches.
    Default,
    /// `method` is `None` for `ANY`.
    Route { method: Option<String>, segments: Vec<Segment> },
}

/// How specific a match is; the lowest wins, as an HTTP API picks "the
/// most-specific match": a route without a greedy variable before one with,
/// `$default` last; then, segment by segment, a literal before a variable
/// before a greedy variable; then a named method before `ANY`.
pub type Specificity = (u8, Vec<u8>, u8);

impl RouteKey {
    pub fn parse(text: &str) -> Result<RouteKey, RouteKeyError> {
        if text == "$default" {
            return Ok(RouteKey::Default);
        }
        let Some((method, path)) = text.split_once(' ') else {
            return Err(RouteKeyError::Shape(text.to_owned()));
        };
        if !METHODS.contains(&method) {
            return Err(RouteKeyError::Method { key: text.to_owned(), method: method.to_owned() });
        }
        let segments = parse_path(path).map_err(|problem| RouteKeyError::Path { key: text.to_owned(), problem })?;
        let method = (method != "ANY").then(|| method.to_owned());
        Ok(RouteKey::Route { method, segments })
    }

    /// The path parameters (decoded) and the specificity, when `method` and
    /// the raw (still percent-encoded) `path` match this key.
    pub fn matches(&self, method: &str, path: &str) -> Option<(BTreeMap<String, String>, Specificity)> {
        let (want, segments) = match self {
            RouteKey::Default => return Some((BTreeMap::new(), (2, Vec::new(), 1))),
            RouteKey::Route { method, segments } => (method, segments),
        };
        if want.as_deref().is_some_and(|m| m != method) {
            return None;
        }
        let rest = path.strip_prefix('/')?;
        let parts: Vec<&str> = if rest.is_empty() { Vec::new() } else { rest.split('/').collect() };
        let mut params = BTreeMap::new();
        let mut kinds = Vec::with_capacity(segments.len());
        let mut greedy = 0;
        for (i, segment) in segments.iter().enumerate() {
            match segment {
                Segment::Literal(literal) => {
                    (decode(parts.get(i)?)? == *literal).then_some(())?;
                    kinds.push(0);
                }
                Segment::Param(name) => {
                    let value = decode(parts.get(i)?)?;
                    (!value.is_empty()).then_some(())?;
                    params.insert(name.clone(), value);
                    kinds.push(1);
                }
                Segment::Greedy(name) => {
                    let tail = parts.get(i..).filter(|t| !t.is_empty())?;
                    let value = decode(&tail.join("/"))?;
                    (!tail.iter().any(|p| p.is_empty())).then_some(())?;
                    params.insert(name.clone(), value);
                    kinds.push(2);
                    greedy = 1;
                }
            }
        }
        if greedy == 0 && parts.len() != segments.len() {
            return None;
        }
        Some((params, (greedy, kinds, u8::from(want.is_none()))))
    }
}

impl fmt::Display for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (method, segments) = match self {
            RouteKey::Default => return f.write_str("$default"),
            RouteKey::Route { method, segments } => (method.as_deref().unwrap_or("ANY"), segments),
        };
        write!(f, "{method} ")?;
        if segments.is_empty() {
            return f.write_str("/");
        }
        for segment in segments {
            match segment {
                Segment::Literal(s) => write!(f, "/{s}")?,
                Segment::Param(s) => write!(f, "/{{{s}}}")?,
                Segment::Greedy(s) => write!(f, "/{{{s}+}}")?,
            }
        }
        Ok(())
    }
}

fn decode(raw: &str) -> Option<String> {
    percent_decode_str(raw).decode_utf8().ok().map(|s| s.into_owned())
}

fn parse_path(path: &str) -> Result<Vec<Segment>, String> {
    let rest = path.strip_prefix('/').ok_or("the path must start with /")?;
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let parts: Vec<&str> = rest.split('/').collect();
    let last = parts.len() - 1;
    let mut names = Vec::new();
    let mut segments = Vec::with_capacity(parts.len());
    for (i, part) in parts.into_iter().enumerate() {
        let segment = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(inner) => match inner.strip_suffix('+') {
                Some(name) if i == last => Segment::Greedy(param_name(name)?),
                Some(_) => return Err("a greedy variable {name+} must be the last segment".into()),
                None => Segment::Param(param_name(inner)?),
            },
            None if part.is_empty() => return Err("empty segment (// or a trailing /)".into()),
            None if part.contains(['{', '}']) => return Err(format!("segment {part:?} mixes text and a variable")),
            None => Segment::Literal(part.to_owned()),
        };
        if let Segment::Param(name) | Segment::Greedy(name) = &segment {
            if names.contains(name) {
                return Err(format!("variable {name:?} appears twice"));
            }
            names.push(name.clone());
        }
        segments.push(segment);
    }
    Ok(segments)
}

fn param_name(name: &str) -> Result<String, String> {
    let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok { Ok(name.to_owned()) } else { Err(format!("{name:?} is not a variable name")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> RouteKey {
        RouteKey::parse(text).unwrap()
    }

    #[test]
    fn parses_and_prints_route_keys() {
        for text in ["$default", "PUT /users/{id}/devices", "ANY /{proxy+}", "GET /"] {
            assert_eq!(key(text).to_string(), text);
        }
        assert!(matches!(RouteKey::parse("PUT"), Err(RouteKeyError::Shape(_))));
        assert!(matches!(RouteKey::parse("FETCH /a"), Err(RouteKeyError::Method { .. })));
        for bad in ["GET a", "GET /a/", "GET /a//b", "GET /{p+}/b", "GET /x{id}", "GET /{}", "GET /{a}/{a}"] {
            assert!(matches!(RouteKey::parse(bad), Err(RouteKeyError::Path { .. })), "{bad}");
        }
    }

    #[test]
    fn variables_take_one_decoded_segment() {
        let k = key("DELETE /users/{id}/devices/{token}");
        let (params, _) = k.matches("DELETE", "/users/u-1/devices/local%3Atok%2Fen").unwrap();
        assert_eq!(params["id"], "u-1");
        assert_eq!(params["token"], "local:tok/en");
        assert!(k.matches("PUT", "/users/u-1/devices/t").is_none());
        assert!(k.matches("DELETE", "/users/u-1/devices").is_none());
        assert!(k.matches("DELETE", "/users/u-1/devices/t/x").is_none());
        assert!(k.matches("DELETE", "/users//devices/t").is_none());
        assert!(k.matches("DELETE", "/users/u-1/devices/t/").is_none());
    }

    #[test]
    fn greedy_variables_take_one_segment_or_more() {
        let k = key("ANY /files/{proxy+}");
        let (params, _) = k.matches("POST", "/files/a/b%20c").unwrap();
        assert_eq!(params["proxy"], "a/b c");
        assert!(k.matches("GET", "/files").is_none());
        assert!(k.matches("GET", "/files/").is_none());
        assert!(key("GET /").matches("GET", "/").is_some());
        assert!(key("GET /").matches("GET", "/a").is_none());
    }

    #[test]
    fn the_most_specific_route_wins() {
        // The order the HTTP API documentation describes: full matches,
        // then greedy variables (longest literal prefix first), then $default.
        let keys = ["GET /pets/dog/1", "GET /pets/dog/{id}", "GET /pets/{proxy+}", "ANY /{proxy+}", "$default"];
        let best = |method: &str, path: &str| {
            keys.iter().filter_map(|k| key(k).matches(method, path).map(|(_, s)| (s, *k))).min().map(|(_, k)| k)
        };
        assert_eq!(best("GET", "/pets/dog/1"), Some("GET /pets/dog/1"));
        assert_eq!(best("GET", "/pets/dog/2"), Some("GET /pets/dog/{id}"));
        assert_eq!(best("GET", "/pets/cat/1"), Some("GET /pets/{proxy+}"));
        assert_eq!(best("POST", "/pets/dog/1"), Some("ANY /{proxy+}"));
        assert_eq!(best("GET", "/"), Some("$default"));
        // A named method beats ANY on the same path.
        let get = key("GET /a").matches("GET", "/a").unwrap().1;
        let any = key("ANY /a").matches("GET", "/a").unwrap().1;
        assert!(get < any);
    }
}
