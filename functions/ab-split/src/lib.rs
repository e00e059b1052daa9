//! ab-split: takes a segment written by scheduled (an S3 event on
//! `segments/`), assigns every user to a variant or the control group, and
//! writes one batch file per variant under `batches/` (send-batch sends
//! them) and the control group under `reports/` (never sent). A library so
//! that tests drive it in-process.

pub mod handler;
pub mod split;
