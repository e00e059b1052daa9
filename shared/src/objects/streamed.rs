//! An object written as a stream with bounded memory: appended to in small
//! pieces and sent as a multipart upload, or as one put when it stays small.

use bytes::Bytes;

use super::{Created, ObjectCreate, ObjectError, ObjectInfo, ObjectUpload, ObjectWrite};
use crate::errors::Chain;

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

impl<'a, U: ObjectUpload> StreamedObject<'a, U> {
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

    /// Makes the object visible only if its key does not exist yet
    /// (`If-None-Match: *`, on the put or on the multipart completion):
    /// a retried writer never replaces, nor raises a second S3 event.
    pub async fn finish_new(mut self) -> Result<Created, ObjectError>
    where
        U: ObjectCreate,
    {
        let Some(upload_id) = self.upload_id.clone() else {
            let body = Bytes::from(std::mem::take(&mut self.buf));
            return self.store.create(&self.bucket, &self.key, body, &self.content_type).await;
        };
        if !self.buf.is_empty()
            && let Err(e) = self.flush_part().await
        {
            self.abort().await;
            return Err(e);
        }
        let created = self.store.complete(&self.bucket, &self.key, &upload_id, &self.parts, true).await;
        match created {
            Ok(Created::New(info)) => Ok(Created::New(ObjectInfo { size: self.size, ..info })),
            Ok(Created::AlreadyExists) => {
                self.abort().await;
                Ok(Created::AlreadyExists)
            }
            Err(e) => {
                self.abort().await;
                Err(e)
            }
        }
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

impl<U: ObjectUpload + ObjectWrite> StreamedObject<'_, U> {
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
        if let Err(e) = self.store.complete(&self.bucket, &self.key, &upload_id, &self.parts, false).await {
            self.abort().await;
            return Err(e);
        }
        Ok(self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::MemoryObjects;

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
    async fn a_create_only_stream_never_replaces_and_leaves_no_upload() {
        for part_bytes in [4, 1000] {
            let store = MemoryObjects::default();
            for (body, expected) in [("first\n", true), ("second\n", false)] {
                let mut object = StreamedObject::new(&store, "b", "k", "t").with_part_bytes(part_bytes);
                object.write(body.as_bytes()).await.unwrap();
                let created = object.finish_new().await.unwrap();
                assert_eq!(matches!(created, Created::New(_)), expected, "part size {part_bytes}");
            }
            assert_eq!(store.get("b", "k").unwrap().as_ref(), b"first\n");
            assert!(store.uploads.lock().unwrap().is_empty(), "the losing upload is aborted");
        }
    }
}
