//! One record per campaign and UTC day in the campaign-runs table: the
//! conditional marker that makes a re-run of scheduled a no-op, the segment
//! it wrote, and what ab-split assigned. `pushbatch campaign report` reads it.

mod dynamo;
mod memory;
mod ports;
mod record;

pub use dynamo::DynamoRuns;
pub use memory::MemoryRuns;
pub use ports::{RunClaim, RunError, RunFinish, RunList, RunSplit};
pub use record::{CampaignRun, Claim, RunState, SplitRecord};
