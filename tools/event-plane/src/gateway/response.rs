//! A function's answer turned back into HTTP the way an HTTP API reads
//! payload format 2.0: an object with `statusCode` is a response (`headers`,
//! `cookies` as `set-cookie` lines, `body`, `isBase64Encoded`); any other
//! valid JSON is a 200 `application/json` whose body is that JSON (a JSON
//! string's contents). Anything else is the integration's failure, which the
//! caller answers with 500.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, SET_COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    #[error("the function's answer is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("statusCode {0} is not an HTTP status")]
    StatusCode(Value),
    #[error("header {name:?}: {problem}")]
    Header { name: String, problem: String },
    #[error("{0}")]
    Field(&'static str),
    #[error("body is not valid base64: {0}")]
    Base64(#[source] base64::DecodeError),
}

#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

pub fn from_function_output(output: &[u8]) -> Result<Answer, ResponseError> {
    let value: Value = serde_json::from_slice(output).map_err(ResponseError::NotJson)?;
    match value {
        Value::Object(fields) if fields.contains_key("statusCode") => structured(&fields),
        other => {
            let body = match other {
                Value::String(s) => Bytes::from(s),
                _ => Bytes::copy_from_slice(output),
            };
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            Ok(Answer { status: StatusCode::OK, headers, body })
        }
    }
}

fn structured(fields: &Map<String, Value>) -> Result<Answer, ResponseError> {
    let code = &fields["statusCode"];
    let status = code
        .as_u64()
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (100..=599).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| ResponseError::StatusCode(code.clone()))?;

    let mut headers = HeaderMap::new();
    if let Some(single) = object(fields, "headers")? {
        for (name, value) in single {
            if let Some(value) = scalar(value) {
                headers.append(header_name(name)?, header_value(name, &value)?);
            } else if !value.is_null() {
                return Err(ResponseError::Field("headers values must be strings, numbers or booleans"));
            }
        }
    }
    // Format 2.0 documents no multiValueHeaders; lambda_http sends an empty
    // map there. When a function fills it, each value becomes its own line,
    // unless `headers` already set that header.
    if let Some(multi) = object(fields, "multiValueHeaders")? {
        for (name, values) in multi {
            let Value::Array(values) = values else {
                return Err(ResponseError::Field("multiValueHeaders values must be lists"));
            };
            let header = header_name(name)?;
            if headers.contains_key(&header) {
                continue;
            }
            for value in values.iter().filter_map(scalar) {
                headers.append(header.clone(), header_value(name, &value)?);
            }
        }
    }
    match fields.get("cookies") {
        None | Some(Value::Null) => {}
        Some(Value::Array(cookies)) => {
            for cookie in cookies {
                let cookie = cookie.as_str().ok_or(ResponseError::Field("cookies must be strings"))?;
                headers.append(SET_COOKIE, header_value("set-cookie", cookie)?);
            }
        }
        Some(_) => return Err(ResponseError::Field("cookies must be a list")),
    }

    let base64 = match fields.get("isBase64Encoded") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ResponseError::Field("isBase64Encoded must be a boolean")),
    };
    let body = match fields.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(text)) if base64 => Bytes::from(STANDARD.decode(text).map_err(ResponseError::Base64)?),
        Some(Value::String(text)) => Bytes::from(text.clone()),
        Some(_) => return Err(ResponseError::Field("body must be a string")),
    };
    Ok(Answer { status, headers, body })
}

fn object<'a>(
    fields: &'a Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'a Map<String, Value>>, ResponseError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(ResponseError::Field(match name {
            "headers" => "headers must be an object",
            _ => "multiValueHeaders must be an object",
        })),
    }
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn header_name(name: &str) -> Result<HeaderName, ResponseError> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|e| ResponseError::Header { name: name.to_owned(), problem: e.to_string() })
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue, ResponseError> {
    HeaderValue::from_str(value).map_err(|e| ResponseError::Header { name: name.to_owned(), problem: e.to_string() })
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
