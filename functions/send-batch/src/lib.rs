//! send-batch's handler and its parts, as a library so that tests can drive
//! it in-process with in-memory ports.

pub mod deps;
pub mod fanout;
pub mod handler;
pub mod job;
pub mod report;
pub mod send;
pub mod settings;
