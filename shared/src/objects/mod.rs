//! The bucket: reading batch files (ranged, ETag-checked, cached while warm)
//! and writing reports.

use std::collections::HashMap;
use std::future::Future;
use std::io::Cursor;
use std::sync::Mutex;

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use tokio::io::{AsyncBufRead, BufReader};

mod event;
mod streamed;
mod upload;

pub use event::{CreatedObject, created_objects};
pub use streamed::{PART_BYTES, StreamedObject};
pub use upload::{Created, ObjectCreate, ObjectUpload};

pub type ByteReader = Box<dyn AsyncBufRead + Send + Unpin>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("s3://{bucket}/{key} changed (its ETag is no longer {etag})")]
    Changed { bucket: String, key: String, etag: String },
    #[error("s3://{bucket}/{key} does not exist")]
    NotFound { bucket: String, key: String },
    #[error("S3 {operation} s3://{bucket}/{key}")]
    S3 {
        operation: &'static str,
        bucket: String,
        key: String,
        #[source]
        source: BoxError,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Without the surrounding quotes, as S3 events carry it.
    pub etag: String,
    pub size: u64,
}

pub trait ObjectRead: Send + Sync {
    fn head(&self, bucket: &str, key: &str) -> impl Future<Output = Result<ObjectInfo, ObjectError>> + Send;
    /// Reads from `offset` to the end, only while the object's ETag is `etag`.
    fn open(
        &self,
        bucket: &str,
        key: &str,
        etag: &str,
        offset: u64,
    ) -> impl Future<Output = Result<ByteReader, ObjectError>> + Send;
    /// Up to `len` bytes from `offset` (fewer at the end of the object), only
    /// while the object's ETag is `etag`: one small ranged GET.
    fn read_range(
        &self,
        bucket: &str,
        key: &str,
        etag: &str,
        offset: u64,
        len: u64,
    ) -> impl Future<Output = Result<Bytes, ObjectError>> + Send;
}

pub trait ObjectWrite: Send + Sync {
    fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> impl Future<Output = Result<(), ObjectError>> + Send;
}

pub trait ObjectList: Send + Sync {
    fn list(&self, bucket: &str, prefix: &str) -> impl Future<Output = Result<Vec<String>, ObjectError>> + Send;
}

pub fn unquote(etag: &str) -> String {
    etag.trim_matches('"').to_owned()
}

fn quoted(etag: &str) -> String {
    format!("\"{}\"", unquote(etag))
}

struct Cached {
    bucket: String,
    key: String,
    etag: String,
    bytes: Bytes,
}

/// S3, with the last file kept in memory while the container is warm.
pub struct S3Objects {
    client: aws_sdk_s3::Client,
    cache_max_bytes: u64,
    cache: Mutex<Option<Cached>>,
}

impl S3Objects {
    /// Files up to `cache_max_bytes` are downloaded whole and kept for the
    /// next link of the chain; larger ones are streamed with ranged reads.
    pub fn new(client: aws_sdk_s3::Client, cache_max_bytes: u64) -> Self {
        Self { client, cache_max_bytes, cache: Mutex::new(None) }
    }

    fn cached(&self, bucket: &str, key: &str, etag: &str) -> Option<Bytes> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.as_ref().filter(|c| c.bucket == bucket && c.key == key && c.etag == etag).map(|c| c.bytes.clone())
    }

    fn error<E>(
        operation: &'static str,
        bucket: &str,
        key: &str,
        etag: Option<&str>,
        e: aws_sdk_s3::error::SdkError<E>,
    ) -> ObjectError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let status = e.raw_response().map(|r| r.status().as_u16());
        match (status, etag) {
            (Some(412), Some(etag)) => {
                ObjectError::Changed { bucket: bucket.into(), key: key.into(), etag: etag.into() }
            }
            (Some(404), _) => ObjectError::NotFound { bucket: bucket.into(), key: key.into() },
            _ => ObjectError::S3 { operation, bucket: bucket.into(), key: key.into(), source: Box::new(e) },
        }
    }

    async fn head_if_match(&self, bucket: &str, key: &str, etag: &str) -> Result<ObjectInfo, ObjectError> {
        let out = self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .if_match(quoted(etag))
            .send()
            .await
            .map_err(|e| Self::error("HeadObject", bucket, key, Some(etag), e))?;
        Ok(ObjectInfo {
            etag: unquote(out.e_tag().unwrap_or(etag)),
            size: out.content_length().unwrap_or(0).max(0) as u64,
        })
    }
}

fn slice_range(bytes: &Bytes, offset: u64, len: u64) -> Bytes {
    let start = (offset as usize).min(bytes.len());
    let end = (offset.saturating_add(len) as usize).min(bytes.len());
    bytes.slice(start..end)
}

fn slice_reader(bytes: Bytes, offset: u64) -> ByteReader {
    let start = (offset as usize).min(bytes.len());
    Box::new(Cursor::new(bytes.slice(start..)))
}

impl ObjectRead for S3Objects {
    async fn head(&self, bucket: &str, key: &str) -> Result<ObjectInfo, ObjectError> {
        let out = self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| Self::error("HeadObject", bucket, key, None, e))?;
        Ok(ObjectInfo {
            etag: unquote(out.e_tag().unwrap_or_default()),
            size: out.content_length().unwrap_or(0).max(0) as u64,
        })
    }

    async fn open(&self, bucket: &str, key: &str, etag: &str, offset: u64) -> Result<ByteReader, ObjectError> {
        let etag = unquote(etag);
        // Even a cached copy is used only after S3 confirms the ETag.
        let info = self.head_if_match(bucket, key, &etag).await?;
        if let Some(bytes) = self.cached(bucket, key, &etag) {
            tracing::debug!(bucket, key, offset, "reading the batch file from the warm cache");
            return Ok(slice_reader(bytes, offset));
        }
        if offset >= info.size {
            return Ok(Box::new(Cursor::new(Bytes::new())));
        }
        let whole = info.size <= self.cache_max_bytes;
        let mut request = self.client.get_object().bucket(bucket).key(key).if_match(quoted(&etag));
        if !whole {
            request = request.range(format!("bytes={offset}-"));
        }
        let out = request.send().await.map_err(|e| Self::error("GetObject", bucket, key, Some(&etag), e))?;
        if whole {
            let bytes = out
                .body
                .collect()
                .await
                .map_err(|e| ObjectError::S3 {
                    operation: "GetObject",
                    bucket: bucket.into(),
                    key: key.into(),
                    source: Box::new(e),
                })?
                .into_bytes();
            *self.cache.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(Cached { bucket: bucket.into(), key: key.into(), etag, bytes: bytes.clone() });
            return Ok(slice_reader(bytes, offset));
        }
        Ok(Box::new(BufReader::with_capacity(256 * 1024, out.body.into_async_read())))
    }

    async fn read_range(
        &self,
        bucket: &str,
        key: &str,
        etag: &str,
        offset: u64,
        len: u64,
    ) -> Result<Bytes, ObjectError> {
        let etag = unquote(etag);
        if let Some(bytes) = self.cached(bucket, key, &etag) {
            return Ok(slice_range(&bytes, offset, len));
        }
        if len == 0 {
            return Ok(Bytes::new());
        }
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .if_match(quoted(&etag))
            .range(format!("bytes={offset}-{}", offset + len - 1))
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            // 416: the range starts at or past the end of the object.
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 416) => return Ok(Bytes::new()),
            Err(e) => return Err(Self::error("GetObject", bucket, key, Some(&etag), e)),
        };
        let bytes = out.body.collect().await.map_err(|e| ObjectError::S3 {
            operation: "GetObject",
            bucket: bucket.into(),
            key: key.into(),
            source: Box::new(e),
        })?;
        Ok(bytes.into_bytes())
    }
}

impl ObjectWrite for S3Objects {
    async fn put(&self, bucket: &str, key: &str, body: Bytes, content_type: &str) -> Result<(), ObjectError> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| Self::error("PutObject", bucket, key, None, e))?;
        Ok(())
    }
}

impl ObjectList for S3Objects {
    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, ObjectError> {
        let mut keys = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| Self::error("ListObjectsV2", bucket, prefix, None, e))?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
        }
        keys.sort();
        Ok(keys)
    }
}

/// A bucket in memory, for tests. ETags change on every put.
#[derive(Default)]
pub struct MemoryObjects {
    objects: Mutex<HashMap<(String, String), (String, Bytes)>>,
    puts: Mutex<u64>,
    /// Multipart uploads in progress: id → numbered parts.
    uploads: Mutex<HashMap<String, Vec<(i32, Bytes)>>>,
}

impl MemoryObjects {
    pub fn get(&self, bucket: &str, key: &str) -> Option<Bytes> {
        let objects = self.objects.lock().unwrap_or_else(|p| p.into_inner());
        objects.get(&(bucket.to_owned(), key.to_owned())).map(|(_, b)| b.clone())
    }

    /// The object's bytes while its ETag is `etag` (S3's `If-Match`).
    fn matching(&self, bucket: &str, key: &str, etag: &str) -> Result<Bytes, ObjectError> {
        let objects = self.objects.lock().unwrap_or_else(|p| p.into_inner());
        match objects.get(&(bucket.to_owned(), key.to_owned())) {
            None => Err(ObjectError::NotFound { bucket: bucket.into(), key: key.into() }),
            Some((current, _)) if *current != unquote(etag) => {
                Err(ObjectError::Changed { bucket: bucket.into(), key: key.into(), etag: etag.into() })
            }
            Some((_, bytes)) => Ok(bytes.clone()),
        }
    }

    /// Stores an object and returns its new ETag.
    pub fn insert(&self, bucket: &str, key: &str, body: impl Into<Bytes>) -> String {
        let mut n = self.puts.lock().unwrap_or_else(|p| p.into_inner());
        *n += 1;
        let etag = format!("etag-{n}");
        self.objects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((bucket.to_owned(), key.to_owned()), (etag.clone(), body.into()));
        etag
    }
}

impl ObjectRead for MemoryObjects {
    async fn head(&self, bucket: &str, key: &str) -> Result<ObjectInfo, ObjectError> {
        let objects = self.objects.lock().unwrap_or_else(|p| p.into_inner());
        let (etag, bytes) = objects
            .get(&(bucket.to_owned(), key.to_owned()))
            .ok_or_else(|| ObjectError::NotFound { bucket: bucket.into(), key: key.into() })?;
        Ok(ObjectInfo { etag: etag.clone(), size: bytes.len() as u64 })
    }

    async fn open(&self, bucket: &str, key: &str, etag: &str, offset: u64) -> Result<ByteReader, ObjectError> {
        Ok(slice_reader(self.matching(bucket, key, etag)?, offset))
    }

    async fn read_range(
        &self,
        bucket: &str,
        key: &str,
        etag: &str,
        offset: u64,
        len: u64,
    ) -> Result<Bytes, ObjectError> {
        Ok(slice_range(&self.matching(bucket, key, etag)?, offset, len))
    }
}

impl ObjectWrite for MemoryObjects {
    async fn put(&self, bucket: &str, key: &str, body: Bytes, _content_type: &str) -> Result<(), ObjectError> {
        self.insert(bucket, key, body);
        Ok(())
    }
}

impl ObjectList for MemoryObjects {
    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, ObjectError> {
        let objects = self.objects.lock().unwrap_or_else(|p| p.into_inner());
        let mut keys: Vec<String> =
            objects.keys().filter(|(b, k)| b == bucket && k.starts_with(prefix)).map(|(_, k)| k.clone()).collect();
        keys.sort();
        Ok(keys)
    }
}
