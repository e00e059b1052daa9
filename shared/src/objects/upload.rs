//! Writing new objects: create-only puts, so that a retried writer never
//! replaces what an earlier attempt wrote (nor raises a second S3 event and
//! with it a second send), and multipart uploads (`streamed` writes objects
//! through them with bounded memory).

use std::future::Future;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;

use super::{MemoryObjects, ObjectError, ObjectInfo, S3Objects, unquote};

/// The outcome of a create-only put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    New(ObjectInfo),
    /// The key existed; nothing was written.
    AlreadyExists,
}

pub trait ObjectCreate: Send + Sync {
    /// Writes `key` only if it does not exist (`If-None-Match: *`).
    fn create(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> impl Future<Output = Result<Created, ObjectError>> + Send;
}

/// A multipart upload, one part at a time.
pub trait ObjectUpload: Send + Sync {
    fn begin(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
    ) -> impl Future<Output = Result<String, ObjectError>> + Send;
    /// Returns the part's ETag. `number` counts from 1.
    fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: i32,
        body: Bytes,
    ) -> impl Future<Output = Result<String, ObjectError>> + Send;
    /// Makes the object visible; with `create_only`, only if the key does
    /// not exist (`If-None-Match: *`), else `AlreadyExists` and the upload
    /// is left to abort.
    fn complete(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String)],
        create_only: bool,
    ) -> impl Future<Output = Result<Created, ObjectError>> + Send;
    fn abort(&self, bucket: &str, key: &str, upload_id: &str) -> impl Future<Output = Result<(), ObjectError>> + Send;
}

impl ObjectCreate for S3Objects {
    async fn create(&self, bucket: &str, key: &str, body: Bytes, content_type: &str) -> Result<Created, ObjectError> {
        let result = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .if_none_match("*")
            .body(ByteStream::from(body))
            .send()
            .await;
        match result {
            Ok(out) => Ok(Created::New(ObjectInfo {
                etag: unquote(out.e_tag().unwrap_or_default()),
                size: out.size().unwrap_or(0).max(0) as u64,
            })),
            // 412: it exists. 409: a concurrent create of the same key is in flight.
            Err(e) if e.raw_response().is_some_and(|r| matches!(r.status().as_u16(), 412 | 409)) => {
                Ok(Created::AlreadyExists)
            }
            Err(e) => Err(Self::error("PutObject", bucket, key, None, e)),
        }
    }
}

impl ObjectUpload for S3Objects {
    async fn begin(&self, bucket: &str, key: &str, content_type: &str) -> Result<String, ObjectError> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .map_err(|e| Self::error("CreateMultipartUpload", bucket, key, None, e))?;
        out.upload_id().map(str::to_owned).ok_or_else(|| ObjectError::S3 {
            operation: "CreateMultipartUpload",
            bucket: bucket.into(),
            key: key.into(),
            source: "no UploadId in the answer".into(),
        })
    }

    async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: i32,
        body: Bytes,
    ) -> Result<String, ObjectError> {
        let out = self
            .client
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| Self::error("UploadPart", bucket, key, None, e))?;
        Ok(out.e_tag().unwrap_or_default().to_owned())
    }

    async fn complete(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String)],
        create_only: bool,
    ) -> Result<Created, ObjectError> {
        let parts =
            parts.iter().map(|(n, etag)| CompletedPart::builder().part_number(*n).e_tag(etag).build()).collect();
        let result = self
            .client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .set_if_none_match(create_only.then(|| "*".to_owned()))
            .send()
            .await;
        match result {
            // The answer has no size; the writer knows it (`StreamedObject`).
            Ok(out) => Ok(Created::New(ObjectInfo { etag: unquote(out.e_tag().unwrap_or_default()), size: 0 })),
            // 412: it exists. 409: a concurrent create of the same key is in flight.
            Err(e) if create_only && e.raw_response().is_some_and(|r| matches!(r.status().as_u16(), 412 | 409)) => {
                Ok(Created::AlreadyExists)
            }
            Err(e) => Err(Self::error("CompleteMultipartUpload", bucket, key, None, e)),
        }
    }

    async fn abort(&self, bucket: &str, key: &str, upload_id: &str) -> Result<(), ObjectError> {
        self.client
            .abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(|e| Self::error("AbortMultipartUpload", bucket, key, None, e))?;
        Ok(())
    }
}

impl ObjectCreate for MemoryObjects {
    async fn create(&self, bucket: &str, key: &str, body: Bytes, _content_type: &str) -> Result<Created, ObjectError> {
        if self.get(bucket, key).is_some() {
            return Ok(Created::AlreadyExists);
        }
        let size = body.len() as u64;
        let etag = self.insert(bucket, key, body);
        Ok(Created::New(ObjectInfo { etag, size }))
    }
}

impl ObjectUpload for MemoryObjects {
    async fn begin(&self, bucket: &str, key: &str, _content_type: &str) -> Result<String, ObjectError> {
        let mut uploads = self.uploads.lock().unwrap_or_else(|p| p.into_inner());
        let id = format!("upload-{}-{bucket}/{key}", uploads.len() + 1);
        uploads.insert(id.clone(), Vec::new());
        Ok(id)
    }

    async fn upload_part(
        &self,
        _bucket: &str,
        _key: &str,
        upload_id: &str,
        number: i32,
        body: Bytes,
    ) -> Result<String, ObjectError> {
        let mut uploads = self.uploads.lock().unwrap_or_else(|p| p.into_inner());
        let parts = uploads.get_mut(upload_id).ok_or_else(|| no_upload(upload_id))?;
        parts.push((number, body));
        Ok(format!("part-{number}"))
    }

    async fn complete(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String)],
        create_only: bool,
    ) -> Result<Created, ObjectError> {
        if create_only && self.get(bucket, key).is_some() {
            return Ok(Created::AlreadyExists);
        }
        let uploaded = self.uploads.lock().unwrap_or_else(|p| p.into_inner()).remove(upload_id);
        let uploaded = uploaded.ok_or_else(|| no_upload(upload_id))?;
        let mut body = Vec::new();
        for (number, _) in parts {
            let (_, part) = uploaded.iter().find(|(n, _)| n == number).ok_or_else(|| no_upload(upload_id))?;
            body.extend_from_slice(part);
        }
        let size = body.len() as u64;
        let etag = self.insert(bucket, key, body);
        Ok(Created::New(ObjectInfo { etag, size }))
    }

    async fn abort(&self, _bucket: &str, _key: &str, upload_id: &str) -> Result<(), ObjectError> {
        self.uploads.lock().unwrap_or_else(|p| p.into_inner()).remove(upload_id);
        Ok(())
    }
}

fn no_upload(upload_id: &str) -> ObjectError {
    ObjectError::S3 {
        operation: "UploadPart",
        bucket: String::new(),
        key: String::new(),
        source: format!("no such upload {upload_id}").into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn create_never_replaces() {
        let store = MemoryObjects::default();
        assert!(matches!(store.create("b", "k", Bytes::from("one"), "t").await.unwrap(), Created::New(_)));
        assert_eq!(store.create("b", "k", Bytes::from("two"), "t").await.unwrap(), Created::AlreadyExists);
        assert_eq!(store.get("b", "k").unwrap().as_ref(), b"one");
    }
}
