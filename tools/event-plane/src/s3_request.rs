//! Recognises, from a proxied request alone, whether it creates an object.

use http::{HeaderMap, Method};
use percent_encoding::percent_decode_str;

use crate::http::query_pairs;
use crate::s3_event::CreatedBy;

/// Bucket and decoded key of a path-style request (`/bucket/key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPath {
    pub bucket: String,
    pub key: String,
}

/// `None` for bucket-level paths (`/`, `/bucket`, `/bucket/`) and for paths
/// that are not valid percent-encoded UTF-8.
pub fn parse_object_path(path: &str) -> Option<ObjectPath> {
    let rest = path.strip_prefix('/')?;
    let (bucket, key) = rest.split_once('/')?;
    if bucket.is_empty() || key.is_empty() {
        return None;
    }
    // In a path `+` is a literal plus; only %XX sequences are decoded.
    let bucket = percent_decode_str(bucket).decode_utf8().ok()?.into_owned();
    let key = percent_decode_str(key).decode_utf8().ok()?.into_owned();
    Some(ObjectPath { bucket, key })
}

/// Query parameters that turn a `PUT /bucket/key` into an operation on a
/// sub-resource of an existing object (or a part), not an object creation.
const PUT_SUBRESOURCES: [&str; 8] =
    ["uploadId", "partNumber", "tagging", "acl", "retention", "legal-hold", "torrent", "renameObject"];

pub fn classify(method: &Method, query: Option<&str>, headers: &HeaderMap) -> Option<CreatedBy> {
    let pairs = query_pairs(query);
    let has = |name: &str| pairs.iter().any(|(k, _)| k == name);
    // The AWS SDKs name the operation in `x-id`; trust it when present.
    let x_id = pairs.iter().find(|(k, _)| k == "x-id").map(|(_, v)| v.as_str());

    if *method == Method::PUT {
        if PUT_SUBRESOURCES.iter().any(|s| has(s)) {
            return None;
        }
        if matches!(x_id, Some(id) if id != "PutObject" && id != "CopyObject") {
            return None;
        }
        return Some(if headers.contains_key("x-amz-copy-source") { CreatedBy::Copy } else { CreatedBy::Put });
    }
    if *method == Method::POST && has("uploadId") && !has("uploads") {
        if matches!(x_id, Some(id) if id != "CompleteMultipartUpload") {
            return None;
        }
        return Some(CreatedBy::CompleteMultipartUpload);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn object_paths_are_decoded() {
        assert_eq!(
            parse_object_path("/b/batches/a%20b%2Bc+d%C3%A9.json"),
            Some(ObjectPath { bucket: "b".into(), key: "batches/a b+c+dé.json".into() })
        );
        assert_eq!(parse_object_path("/b"), None);
        assert_eq!(parse_object_path("/b/"), None);
        assert_eq!(parse_object_path("/"), None);
        assert_eq!(parse_object_path("/b/%FF"), None);
    }

    #[test]
    fn put_variants() {
        let none = HeaderMap::new();
        let mut copy = HeaderMap::new();
        copy.insert("x-amz-copy-source", HeaderValue::from_static("/b/src"));

        assert_eq!(classify(&Method::PUT, None, &none), Some(CreatedBy::Put));
        assert_eq!(classify(&Method::PUT, Some("x-id=PutObject"), &none), Some(CreatedBy::Put));
        assert_eq!(classify(&Method::PUT, Some("x-id=CopyObject"), &copy), Some(CreatedBy::Copy));
        assert_eq!(classify(&Method::PUT, Some("partNumber=1&uploadId=u"), &none), None);
        assert_eq!(classify(&Method::PUT, Some("partNumber=1&uploadId=u"), &copy), None);
        assert_eq!(classify(&Method::PUT, Some("tagging"), &none), None);
        assert_eq!(classify(&Method::PUT, Some("x-id=PutObjectTagging&tagging"), &none), None);
        assert_eq!(classify(&Method::PUT, Some("x-id=PutObjectAcl"), &none), None);
    }

    #[test]
    fn post_variants() {
        let none = HeaderMap::new();
        assert_eq!(classify(&Method::POST, Some("uploadId=abc"), &none), Some(CreatedBy::CompleteMultipartUpload));
        assert_eq!(classify(&Method::POST, Some("uploads"), &none), None);
        assert_eq!(classify(&Method::POST, Some("restore"), &none), None);
        assert_eq!(classify(&Method::GET, None, &none), None);
        assert_eq!(classify(&Method::DELETE, Some("uploadId=abc"), &none), None);
    }
}
