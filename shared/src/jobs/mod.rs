//! The jobs table: one record per job (and per shard of a sharded job), its
//! ports, and their DynamoDB and in-memory adapters.
//!
//! Every write is conditional on the record's `version`, so two invocations
//! can never both believe they own the same segment of a file.

mod control;
mod control_dynamo;
mod dynamo;
mod memory;
mod ports;
mod record;

pub use control::{Control, ControlRead, ControlState, ControlWrite, control_id};
pub use dynamo::{DynamoJobs, from_item, to_item};
pub use memory::MemoryJobs;
pub use ports::{JobError, JobRead, JobWrite, JobsByObject, LiveJobs};
pub use record::{
    FinishedPart, FinishedShard, JobRecord, JobStatus, PartOf, PartSet, ShardOf, ShardSet, StopNote, object_id,
    part_id, shard_id,
};

#[cfg(test)]
pub(crate) use record::tests::sample;
