//! Writing new objects: create-only puts, so that a retried writer never
//! replaces what an earlier attempt wrote (nor raises a second S3 event and
//! with it a second send), and streamed multipart uploads with bounded memory.

use std::future::Future;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;

use super::{MemoryObjects, ObjectError, ObjectInfo, ObjectWrite, S3Objects, unquote};
use crate::errors::Chain;

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
    fn complete(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String)],
    ) -> impl Future<Output = Result<(), ObjectError>> + Send;
    fn abort(&self, bucket: &str, key: &str, upload_id: &str) -> impl Future<Output = Result<(), ObjectError>> + Send;
}

/// S3's smallest part is 5 MiB (but the last); 8 MiB keeps the number of
/// requests low and memory bounded.
pub const PART_BYTES: usize = 8 * 1024 * 1024;

/// An object written as a stream: appended to in small pieces, sent in
/// parts of `part_bytes`, and as a single put when it stays smaller.
pub struct StreamedObject<'a, U> {
    store: &'a U,
    bucket: String,
    key: String,
    content_type: String,
    part_bytes: usize,
    buf: Vec<u8>,
    upload_id: Option<String>,
    parts: Vec<(i32, String)>,
    size: u64,
}

impl<'a, U: ObjectUpload + ObjectWrite> StreamedObject<'a, U> {
    pub fn new(store: &'a U, bucket: &str, key: &str, content_type: &str) -> Self {
        Self {
            store,
            bucket: bucket.into(),
            key: key.into(),
            content_type: content_type.into(),
            part_bytes: PART_BYTES,
            buf: Vec::new(),
            upload_id: None,
            parts: Vec::new(),
            size: 0,
        }
    }

    /// Smaller parts, for tests (S3 itself refuses parts under 5 MiB).
    pub fn with_part_bytes(mut self, part_bytes: usize) -> Self {
        self.part_bytes = part_bytes.max(1);
        self
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), ObjectError> {
        self.buf.extend_from_slice(bytes);
        self.size += bytes.len() as u64;
        if self.buf.len() >= self.part_bytes {
            self.flush_part().await?;
        }
        Ok(())
    }

    async fn flush_part(&mut self) -> Result<(), ObjectError> {
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let id = self.store.begin(&self.bucket, &self.key, &self.content_type).await?;
                self.upload_id = Some(id.clone());
                id
            }
        };
        let number = self.parts.len() as i32 + 1;
        let body = Bytes::from(std::mem::take(&mut self.buf));
        let etag = self.store.upload_part(&self.bucket, &self.key, &upload_id, number, body).await?;
        self.parts.push((number, etag));
        Ok(())
    }

    /// Makes the object visible (and, on S3, raises its event); returns its size.
    pub async fn finish(mut self) -> Result<u64, ObjectError> {
        let Some(upload_id) = self.upload_id.clone() else {
            let body = Bytes::from(std::mem::take(&mut self.buf));
            self.store.put(&self.bucket, &self.key, body, &self.content_type).await?;
            return Ok(self.size);
        };
        if !self.buf.is_empty() {
            self.flush_part().await?;
        }
        if let Err(e) = self.store.complete(&self.bucket, &self.key, &upload_id, &self.parts).await {
            self.abort().await;
            return Err(e);
        }
        Ok(self.size)
    }

    /// Drops what was uploaded (parts are billed until aborted).
    pub async fn abort(self) {
        if let Some(upload_id) = &self.upload_id
            && let Err(e) = self.store.abort(&self.bucket, &self.key, upload_id).await
        {
            tracing::warn!(key = %self.key, error = %Chain(&e), "aborting a multipart upload failed; the bucket's lifecycle rule removes it");
        }
    }
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
    ) -> Result<(), ObjectError> {
        let parts =
            parts.iter().map(|(n, etag)| CompletedPart::builder().part_number(*n).e_tag(etag).build()).collect();
        self.client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(|e| Self::error("CompleteMultipartUpload", bucket, key, None, e))?;
        Ok(())
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
    ) -> Result<(), ObjectError> {
        let uploaded = self.uploads.lock().unwrap_or_else(|p| p.into_inner()).remove(upload_id);
        let uploaded = uploaded.ok_or_else(|| no_upload(upload_id))?;
        let mut body = Vec::new();
        for (number, _) in parts {
            let (_, part) = uploaded.iter().find(|(n, _)| n == number).ok_or_else(|| no_upload(upload_id))?;
            body.extend_from_slice(part);
        }
        self.insert(bucket, key, body);
        Ok(())
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
    async fn streamed_objects_match_what_was_written_in_parts_or_whole() {
        for part_bytes in [4, 1000] {
            let store = MemoryObjects::default();
            let mut object = StreamedObject::new(&store, "b", "k", "text/plain").with_part_bytes(part_bytes);
            let mut expected = Vec::new();
            for i in 0..50 {
                let line = format!("line {i}\n");
                object.write(line.as_bytes()).await.unwrap();
                expected.extend_from_slice(line.as_bytes());
            }
            assert_eq!(object.finish().await.unwrap(), expected.len() as u64);
            assert_eq!(store.get("b", "k").unwrap().as_ref(), expected.as_slice(), "part size {part_bytes}");
            assert!(store.uploads.lock().unwrap().is_empty());
        }
    }

    #[tokio::test]
    async fn create_never_replaces() {
        let store = MemoryObjects::default();
        assert!(matches!(store.create("b", "k", Bytes::from("one"), "t").await.unwrap(), Created::New(_)));
        assert_eq!(store.create("b", "k", Bytes::from("two"), "t").await.unwrap(), Created::AlreadyExists);
        assert_eq!(store.get("b", "k").unwrap().as_ref(), b"one");
    }
}
