//! The library every pushbatch function and tool shares: the batch-file
//! reader, push clients, ports (small traits) and their AWS adapters.

pub mod aws;
pub mod batch;
pub mod config;
pub mod schema;
pub mod push;
pub mod render;
pub mod report;
pub mod chain;
pub mod devices;
pub mod jobs;
pub mod objects;
pub mod invoke;
pub mod logging;
