//! Placeholders (`{{name}}`, `{{name|default}}`) inside a JSON document,
//! compiled once per job into literal bytes with holes, so that a user's
//! payload costs copies and the escaping of their values, not the building
//! and serializing of serde_json maps.
//!
//! Compiling marks each placeholder in the document's strings with a
//! sentinel (a private-use character the header does not contain),
//! serializes the document once with serde_json, then cuts the bytes at the
//! sentinels. serde_json writes non-ASCII characters as they are, so the
//! sentinels come out whole.

use serde_json::{Map, Value};

/// One placeholder: the var's name and what to write when the user has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    pub name: String,
    pub default: Option<String>,
}

/// The pieces of a text: literal runs and placeholders, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Var(Placeholder),
}

/// Splits `{{ name }}` and `{{name|default}}` out of a text; an unclosed
/// `{{` is literal text.
pub fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        if start > 0 {
            out.push(Piece::Text(&rest[..start]));
        }
        let inner = &after[..end];
        let (name, default) = match inner.split_once('|') {
            Some((name, default)) => (name, Some(default.trim().to_owned())),
            None => (inner, None),
        };
        out.push(Piece::Var(Placeholder { name: name.trim().to_owned(), default }));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    out
}

/// A var's text: strings as they are, other JSON as its encoding; a
/// missing (or null) var is its default, or nothing.
fn value_of<'a>(p: &'a Placeholder, vars: &'a Map<String, Value>) -> std::borrow::Cow<'a, str> {
    match vars.get(&p.name) {
        Some(Value::String(s)) => s.into(),
        Some(Value::Null) | None => p.default.as_deref().unwrap_or("").into(),
        Some(other) => other.to_string().into(),
    }
}

/// Replaces the placeholders of `template` with the user's values.
pub fn fill(template: &str, vars: &Map<String, Value>) -> String {
    let mut out = String::with_capacity(template.len());
    for piece in pieces(template) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Var(p) => out.push_str(&value_of(&p, vars)),
        }
    }
    out
}

/// Turns texts into marked strings while a document is built.
pub struct Marker {
    sentinel: char,
    placeholders: Vec<Placeholder>,
}

impl Marker {
    /// `context` is everything the document's literal text can come from
    /// (the header, serialized): the sentinel is a private-use character it
    /// lacks. None only for a header that holds every one of them.
    pub fn new(context: &str) -> Option<Self> {
        let sentinel = ('\u{E000}'..='\u{F8FF}').chain('\u{F0000}'..='\u{FFFFD}').find(|c| !context.contains(*c))?;
        Some(Self { sentinel, placeholders: Vec::new() })
    }

    /// A string value for the document, with its placeholders marked.
    pub fn text(&mut self, template: &str) -> Value {
        let mut out = String::with_capacity(template.len());
        for piece in pieces(template) {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(p) => {
                    out.push(self.sentinel);
                    out.push_str(&self.placeholders.len().to_string());
                    out.push(self.sentinel);
                    self.placeholders.push(p);
                }
            }
        }
        Value::String(out)
    }

    /// A JSON value with every string in it (not the keys) marked.
    pub fn tree(&mut self, value: &Value) -> Value {
        match value {
            Value::String(s) => self.text(s),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.tree(v)).collect()),
            Value::Object(map) => Value::Object(self.map(map)),
            other => other.clone(),
        }
    }

    pub fn map(&mut self, map: &Map<String, Value>) -> Map<String, Value> {
        map.iter().map(|(k, v)| (k.clone(), self.tree(v))).collect()
    }

    /// Cuts serialized JSON (built from this marker's texts) at its marks.
    pub fn compile(&self, json: &str) -> Compiled {
        let mut parts = Vec::new();
        let mut rest = json;
        while let Some(start) = rest.find(self.sentinel) {
            let after = &rest[start + self.sentinel.len_utf8()..];
            let Some(end) = after.find(self.sentinel) else { break };
            let index = after[..end].parse::<usize>().ok().and_then(|i| self.placeholders.get(i));
            let Some(placeholder) = index else { break };
            if start > 0 {
                parts.push(Part::Literal(rest.as_bytes()[..start].to_vec()));
            }
            parts.push(Part::Var(placeholder.clone()));
            rest = &after[end + self.sentinel.len_utf8()..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.as_bytes().to_vec()));
        }
        Compiled { parts }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(Vec<u8>),
    Var(Placeholder),
}

/// A serialized document with holes where the users' values go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compiled {
    parts: Vec<Part>,
}

impl Compiled {
    pub fn has_vars(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Var(_)))
    }

    /// The document for one user: values escaped as JSON string contents.
    pub fn render(&self, vars: &Map<String, Value>) -> Vec<u8> {
        let literal: usize = self.parts.iter().map(|p| if let Part::Literal(l) = p { l.len() } else { 16 }).sum();
        let mut out = Vec::with_capacity(literal);
        for part in &self.parts {
            match part {
                Part::Literal(bytes) => out.extend_from_slice(bytes),
                Part::Var(p) => push_escaped(&mut out, &value_of(p, vars)),
            }
        }
        out
    }
}

/// Appends `text` as the inside of a JSON string (serde_json's escaping,
/// without the quotes).
fn push_escaped(out: &mut Vec<u8>, text: &str) {
    let start = out.len();
    // Writing a str into a Vec cannot fail; were it to, the value is left out.
    if serde_json::to_writer(&mut *out, text).is_ok() {
        out.remove(start);
        out.pop();
    } else {
        out.truncate(start);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn vars(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn placeholders_are_filled_with_defaults() {
        let v = vars(json!({"name": "Ann", "n": 3, "gone": null}));
        assert_eq!(fill("Hi {{name}}, {{ n }} new {{missing}}!", &v), "Hi Ann, 3 new !");
        assert_eq!(fill("Hi {{who|there}} and {{ name | friend }}", &v), "Hi there and Ann");
        assert_eq!(fill("{{gone|again}} {{who|}}.", &v), "again .");
        assert_eq!(fill("broken {{name", &v), "broken {{name");
        assert_eq!(fill("a {{x}} then {{name", &v), "a  then {{name");
    }

    #[test]
    fn compiled_documents_escape_values_and_keep_literals() {
        let mut m = Marker::new("").unwrap();
        let doc = json!({"t": m.text("Hi {{name|you}} \"q\""), "d": m.tree(&json!({"k": ["{{n}}", 1]}))});
        let c = m.compile(&doc.to_string());
        assert!(c.has_vars());
        let out = c.render(&vars(json!({"name": "A\"n\n\u{1}", "n": {"x": 1}})));
        let parsed: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed, json!({"t": "Hi A\"n\n\u{1} \"q\"", "d": {"k": ["{\"x\":1}", 1]}}));
        let out: Value = serde_json::from_slice(&c.render(&Map::new())).unwrap();
        assert_eq!(out["t"], "Hi you \"q\"");
        let plain = Marker::new("").unwrap().compile(r#"{"a":"b"}"#);
        assert!(!plain.has_vars());
        assert_eq!(plain.render(&Map::new()), br#"{"a":"b"}"#);
    }

    #[test]
    fn the_sentinel_is_a_character_the_header_lacks() {
        let text = "\u{E000}literal\u{E000} {{name}}";
        let mut m = Marker::new(text).unwrap();
        let doc = json!({"t": m.text(text)});
        let out = m.compile(&doc.to_string()).render(&vars(json!({"name": "Ann"})));
        assert_eq!(serde_json::from_slice::<Value>(&out).unwrap()["t"], "\u{E000}literal\u{E000} Ann");
    }
}
