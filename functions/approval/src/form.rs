//! The request form: reading it (urlencoded, or multipart when a file is
//! uploaded) and checking each field, with a message per field.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};
use shared::batch::{Encoding, Header, Notification};

use crate::multipart;

/// The fields, as typed (re-shown on errors).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormInput {
    pub title: String,
    pub body: String,
    pub data: String,
    pub category: String,
    pub audience_key: String,
    /// "This audience carries its own devices" was ticked.
    pub own_devices: bool,
    pub upload: Option<Upload>,
    /// Fields this form does not have, refused by name.
    pub unknown: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// Field name → what is wrong with it. `form` is for the whole form.
pub type FieldErrors = BTreeMap<&'static str, String>;

pub const MAX_TITLE: usize = 200;
pub const MAX_BODY: usize = 2000;

#[derive(Debug, thiserror::Error)]
pub enum FormError {
    #[error("send the form as application/x-www-form-urlencoded or multipart/form-data")]
    ContentType,
    #[error(transparent)]
    Multipart(#[from] multipart::MultipartError),
}

fn set(input: &mut FormInput, name: &str, value: String) {
    match name {
        "title" => input.title = value,
        "body" => input.body = value,
        "data" => input.data = value,
        "category" => input.category = value,
        "audience_key" => input.audience_key = value,
        // A checkbox sends its value only when ticked.
        "own_devices" => input.own_devices = !value.is_empty(),
        // The form once asked who was requesting; a page or script from
        // then may still send it. The requester is the signed-in caller,
        // so the field is dropped unread rather than refused.
        "requester" => {}
        // The file input sent as text (a form posted without multipart
        // encoding sends the file's name): no file, said as such below.
        "audience_file" => {}
        other => {
            input.unknown.insert(other.chars().take(64).collect());
        }
    }
}

/// Reads the form from a request body and its Content-Type.
pub fn read(content_type: &str, body: &[u8]) -> Result<FormInput, FormError> {
    let mut input = FormInput::default();
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/x-www-form-urlencoded" => {
            for (k, v) in form_urlencoded::parse(body) {
                set(&mut input, &k, v.into_owned());
            }
        }
        "multipart/form-data" => {
            for part in multipart::parse(body, &multipart::boundary(content_type)?)? {
                match (&part.file_name, part.name.as_str()) {
                    // A file input left empty still sends a part, with no name and no data.
                    (Some(file_name), "audience_file") if !file_name.is_empty() || !part.data.is_empty() => {
                        input.upload = Some(Upload { file_name: file_name.clone(), bytes: part.data });
                    }
                    (None, name) => set(&mut input, name, String::from_utf8_lossy(&part.data).into_owned()),
                    (Some(_), "audience_file") => {}
                    (Some(_), name) => {
                        input.unknown.insert(name.chars().take(64).collect());
                    }
                }
            }
        }
        _ => return Err(FormError::ContentType),
    }
    Ok(input)
}

/// Where the audience comes from, once its field checks out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudienceInput {
    S3 { key: String, encoding: Encoding },
    Upload { file_name: String, encoding: Encoding, bytes: Vec<u8> },
}

/// A form whose fields are each well-formed (the audience is not read yet).
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub category: Option<String>,
    pub notification: Notification,
    pub audience: AudienceInput,
    pub own_devices: bool,
}

fn audience_key_problem(key: &str) -> Option<String> {
    if !key.starts_with("requests/") {
        return Some("The key must start with requests/ (where BI query results are kept).".into());
    }
    if key.split('/').any(|s| s == ".." || s == ".") || key.contains("//") || key.chars().any(char::is_control) {
        return Some("The key must be a plain path under requests/.".into());
    }
    if Encoding::from_key(key).is_none() {
        return Some("The file must end in .json, .jsonl or .ndjson.".into());
    }
    None
}

/// Checks every field; all problems are reported at once.
pub fn check(input: &FormInput, max_upload_bytes: usize) -> Result<Checked, FieldErrors> {
    let mut errors = FieldErrors::new();
    if !input.unknown.is_empty() {
        let names: Vec<String> = input.unknown.iter().map(|n| format!("{n:?}")).collect();
        errors.insert("form", format!("The form has fields this page does not know: {}.", names.join(", ")));
    }

    let title = input.title.trim();
    let body = input.body.trim();
    if title.is_empty() && body.is_empty() {
        errors.insert("body", "Enter a title or a body (or both).".into());
    }
    if title.chars().count() > MAX_TITLE {
        errors.insert("title", format!("The title is longer than {MAX_TITLE} characters."));
    }
    if body.chars().count() > MAX_BODY {
        errors.insert("body", format!("The body is longer than {MAX_BODY} characters."));
    }

    let data = match input.data.trim() {
        "" => Map::new(),
        text => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                errors.insert("data", "Data must be a JSON object, like {\"deeplink\": \"app://home\"}.".into());
                Map::new()
            }
            Err(e) => {
                errors.insert("data", format!("Data is not valid JSON: {e}."));
                Map::new()
            }
        },
    };

    let category = input.category.trim();
    if category.len() > 64 || !category.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')) {
        errors.insert("category", "Use up to 64 letters, digits, - or _.".into());
    }

    let key = input.audience_key.trim();
    let audience = match (&input.upload, key.is_empty()) {
        (Some(_), false) => {
            errors.insert("audience", "Give either an S3 key or a file, not both.".into());
            None
        }
        (None, true) => {
            errors.insert("audience", "Give the S3 key of the audience under requests/, or upload a file.".into());
            None
        }
        (None, false) => match (audience_key_problem(key), Encoding::from_key(key)) {
            (None, Some(encoding)) => Some(AudienceInput::S3 { key: key.to_owned(), encoding }),
            (problem, _) => {
                errors.insert("audience_key", problem.unwrap_or_default());
                None
            }
        },
        (Some(upload), true) => match Encoding::from_key(&upload.file_name) {
            _ if upload.bytes.len() > max_upload_bytes => {
                errors.insert(
                    "audience_file",
                    format!(
                        "The file is larger than {} KB; put it under requests/ in the bucket and give its key instead.",
                        max_upload_bytes / 1024
                    ),
                );
                None
            }
            None => {
                errors.insert("audience_file", "The file must end in .json, .jsonl or .ndjson.".into());
                None
            }
            Some(encoding) => Some(AudienceInput::Upload {
                file_name: upload.file_name.clone(),
                encoding,
                bytes: upload.bytes.clone(),
            }),
        },
    };

    match (errors.is_empty(), audience) {
        (true, Some(audience)) => Ok(Checked {
            category: (!category.is_empty()).then(|| category.to_owned()),
            notification: Notification {
                title: (!title.is_empty()).then(|| title.to_owned()),
                body: (!body.is_empty()).then(|| body.to_owned()),
                data,
                ..Notification::default()
            },
            audience,
            own_devices: input.own_devices,
        }),
        _ => Err(errors),
    }
}

impl Checked {
    pub fn header(&self, campaign: &str) -> Header {
        Header { category: self.category.clone(), ..Header::new(campaign, self.notification.clone()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> FormInput {
        FormInput {
            title: "Hi".into(),
            body: "There".into(),
            data: r#"{"deeplink":"app://x"}"#.into(),
            category: "news".into(),
            audience_key: "requests/q1/audience.jsonl".into(),
            ..FormInput::default()
        }
    }

    #[test]
    fn reads_urlencoded_and_checks() {
        let form = read(
            "application/x-www-form-urlencoded",
            b"title=A+%3Cb%3E&requester=eve%40example.com&own_devices=on&x=1&%3Cy%3E=2",
        )
        .unwrap();
        assert_eq!(form.title, "A <b>");
        assert!(form.own_devices);
        assert_eq!(form.unknown, BTreeSet::from(["x".to_owned(), "<y>".to_owned()]), "requester is dropped, not kept");
        let c = check(&input(), 1024).unwrap();
        assert_eq!(c.notification.data["deeplink"], "app://x");
        assert!(matches!(c.audience, AudienceInput::S3 { encoding: Encoding::Jsonl, .. }));
        assert!(!c.own_devices);
        let errors = check(&FormInput { unknown: form.unknown, ..input() }, 1024).unwrap_err();
        assert_eq!(errors["form"], "The form has fields this page does not know: \"<y>\", \"x\".");
        assert!(read("text/plain", b"").is_err());
    }

    #[test]
    fn every_field_has_its_message() {
        let bad = FormInput {
            title: "t".repeat(MAX_TITLE + 1),
            body: String::new(),
            data: "[1]".into(),
            category: "no spaces".into(),
            audience_key: "batches/x.jsonl".into(),
            ..FormInput::default()
        };
        let errors = check(&bad, 1024).unwrap_err();
        for field in ["title", "data", "category", "audience_key"] {
            assert!(errors.contains_key(field), "{field}: {errors:?}");
        }
        let errors = check(&FormInput::default(), 1024).unwrap_err();
        for field in ["body", "audience"] {
            assert!(errors.contains_key(field), "{field}: {errors:?}");
        }
        let both = FormInput { upload: Some(Upload { file_name: "a.json".into(), bytes: vec![] }), ..input() };
        assert!(check(&both, 1024).unwrap_err().contains_key("audience"));
        for key in ["requests/../batches/x.jsonl", "requests/a.csv", "requests//a.json"] {
            let i = FormInput { audience_key: key.into(), ..input() };
            assert!(check(&i, 1024).unwrap_err().contains_key("audience_key"), "{key}");
        }
        let big = FormInput {
            audience_key: String::new(),
            upload: Some(Upload { file_name: "a.jsonl".into(), bytes: vec![b' '; 2048] }),
            ..input()
        };
        assert!(check(&big, 1024).unwrap_err().contains_key("audience_file"));
    }
}
