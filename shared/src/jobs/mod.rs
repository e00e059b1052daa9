//! The jobs table: one record per job (and per shard of a sharded job), its
//! ports, and their DynamoDB and in-memory adapters.
//!
//! Every write is conditional on the record's `version`, so two invocations
//! can never both believe they own the same segment of a file.

mod dynamo;
mod memory;
mod ports;
mod record;

pub use dynamo::{DynamoJobs, from_item, to_item};
pub use memory::MemoryJobs;
pub use ports::{JobError, JobRead, JobWrite, JobsByObject};
pub use record::{FinishedShard, JobRecord, JobStatus, ShardOf, ShardSet, object_id, shard_id};

#[cfg(test)]
pub(crate) use record::tests::sample;
