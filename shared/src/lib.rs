//! The library every pushbatch function and tool shares: the batch-file
//! reader, push clients, ports (small traits) and their AWS adapters.

pub mod approval;
pub mod apps;
pub mod aws;
pub mod batch;
pub mod campaigns;
pub mod caps;
pub mod chain;
pub mod clock;
pub mod config;
pub mod cost;
pub mod counters;
pub mod devices;
pub mod dynamo;
pub mod errors;
pub mod invoke;
pub mod jobs;
pub mod locale;
pub mod logging;
pub mod mail;
pub mod metrics;
pub mod objects;
pub mod push;
pub mod quota;
pub mod render;
pub mod report;
pub mod schedules;
pub mod schema;
pub mod shards;
pub mod users;
