//! Approval requests (issue #4): the request model and its status
//! transitions, signed single-use links, and the request store.

mod dynamo;
mod link;
mod model;
mod store;
mod transition;

pub use dynamo::DynamoRequests;
pub use link::{Action, Link, LinkError, LinkSigner, MIN_KEY_BYTES};
pub use model::{ApprovalRequest, AudienceCounts, AudienceSource, BatchRef, SampleEntry, Status, TestSends};
pub use store::{MemoryRequests, RequestGet, RequestPut, StoreError, UpdateError, update};
pub use transition::{Command, Refusal, TestLimit, apply};
