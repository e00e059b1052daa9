//! Turns a successful object-creating request into S3 events on the queue,
//! and remembers the last events per object so they can be delivered again.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use chrono::Utc;

use crate::queue::{Job, Queue};
use crate::routes::Routes;
use crate::s3_event::{CreatedBy, CreatedObject, Sequencer, build_event, to_payload};
use crate::s3_head::{HeadError, S3Head};
use crate::stats::{Source, Stats};

/// Objects whose last events are kept for `/_plane/redeliver-s3`; the oldest
/// are forgotten first.
const REMEMBERED_OBJECTS: usize = 10_000;

/// What the proxy knows when an object-creating request succeeds.
#[derive(Debug, Clone)]
pub struct CreatedRequest {
    pub bucket: String,
    pub key: String,
    pub created_by: CreatedBy,
    pub source_ip: String,
    pub request_id: Option<String>,
    pub host_id: Option<String>,
}

#[derive(Debug, Clone)]
struct Emitted {
    function: String,
    payload: Bytes,
}

#[derive(Default)]
struct Remembered {
    by_object: HashMap<(String, String), Vec<Emitted>>,
    order: VecDeque<(String, String)>,
}

pub struct Notifier {
    pub routes: Routes,
    pub region: String,
    pub head: S3Head,
    pub queue: Arc<Queue>,
    pub stats: Arc<Stats>,
    sequencer: Sequencer,
    remembered: Mutex<Remembered>,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Head(#[from] HeadError),
    #[error("serialising the S3 event: {0}")]
    Serialise(#[from] serde_json::Error),
}

impl Notifier {
    pub fn new(routes: Routes, region: String, head: S3Head, queue: Arc<Queue>, stats: Arc<Stats>) -> Self {
        Notifier {
            routes,
            region,
            head,
            queue,
            stats,
            sequencer: Sequencer::default(),
            remembered: Mutex::new(Remembered::default()),
        }
    }

    fn remembered(&self) -> MutexGuard<'_, Remembered> {
        self.remembered.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Enqueues one event per matching route; returns how many.
    pub async fn object_created(&self, req: CreatedRequest) -> Result<usize, NotifyError> {
        let routes: Vec<_> = self.routes.matching(&req.bucket, &req.key).cloned().collect();
        if routes.is_empty() {
            return Ok(0);
        }
        let header = self.head.head(&req.bucket, &req.key).await?;
        let object = CreatedObject {
            bucket: req.bucket.clone(),
            key: req.key.clone(),
            size: header.size,
            etag: header.etag,
            created_by: req.created_by,
            source_ip: req.source_ip,
            request_id: req.request_id.unwrap_or_else(fake_request_id),
            host_id: req.host_id.unwrap_or_else(fake_host_id),
        };
        // One sequencer per object change, shared by all its notifications, as S3 does.
        let sequencer = self.sequencer.next();
        let now = Utc::now();
        let mut emitted = Vec::with_capacity(routes.len());
        for route in &routes {
            let event = build_event(&object, &route.name, &sequencer, &self.region, now);
            emitted.push(Emitted { function: route.function.clone(), payload: to_payload(&event)? });
        }
        for e in &emitted {
            self.enqueue(e);
            tracing::info!(
                bucket = %object.bucket,
                key = %object.key,
                event_name = object.created_by.event_name(),
                function = %e.function,
                sequencer = %sequencer,
                "s3 event queued"
            );
        }
        self.remember(req.bucket, req.key, emitted.clone());
        Ok(emitted.len())
    }

    /// Queues the last events built for an object again, unchanged.
    pub fn redeliver(&self, bucket: &str, key: &str) -> usize {
        let emitted =
            self.remembered().by_object.get(&(bucket.to_owned(), key.to_owned())).cloned().unwrap_or_default();
        for e in &emitted {
            self.enqueue(e);
        }
        emitted.len()
    }

    fn enqueue(&self, e: &Emitted) {
        self.stats.record_s3_event();
        self.queue.push(Job {
            id: uuid::Uuid::new_v4().to_string(),
            function: e.function.clone(),
            payload: e.payload.clone(),
            source: Source::S3,
            attempts_made: 0,
        });
    }

    fn remember(&self, bucket: String, key: String, emitted: Vec<Emitted>) {
        let mut r = self.remembered();
        let id = (bucket, key);
        if r.by_object.insert(id.clone(), emitted).is_none() {
            r.order.push_back(id);
            if r.order.len() > REMEMBERED_OBJECTS
                && let Some(oldest) = r.order.pop_front()
            {
                r.by_object.remove(&oldest);
            }
        }
    }
}

fn fake_request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_uppercase()
}

fn fake_host_id() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}
