//! `pushbatch metrics`: what the CloudWatch dashboard would show, from the
//! EMF documents the local stack's functions wrote.
//!
//! `local up` starts a collection ([`collect::Collector::begin`]) when it
//! starts `cargo lambda watch`; each `pushbatch metrics` copies the
//! documents written since into `<state>/metrics/emf.jsonl` and reports on
//! all of them.

pub mod collect;
pub mod emf;
pub mod render;
pub mod report;

use std::path::Path;
use std::process::ExitCode;

use clap::Args;

use crate::context::Context;
use crate::local::{Part, StateDir};
pub use collect::{CollectError, Collector};
pub use report::Report;

#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("collecting the functions' metrics")]
    Collect(#[from] CollectError),
    #[error("reading {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Context(#[from] crate::context::ContextError),
}

/// The collector of the stack whose state is in `state_dir`.
pub fn collector(state_dir: &Path) -> Collector {
    let state = StateDir::new(state_dir);
    Collector::new(state.log_file(Part::Watch), &state.path().join("metrics"))
}

/// What `pushbatch metrics` reports: every collected document's
/// datapoints, and the lines that did not parse (with their error).
pub fn load(state_dir: &Path) -> Result<(Vec<emf::Datapoint>, Vec<String>), MetricsError> {
    let c = collector(state_dir);
    c.collect()?;
    let path = c.documents();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => return Err(MetricsError::Read { path: path.display().to_string(), source }),
    };
    let mut points = Vec::new();
    let mut problems = Vec::new();
    for line in text.lines() {
        match emf::parse(line) {
            Ok(p) => points.extend(p),
            Err(e) => problems.push(format!("{e}: {line}")),
        }
    }
    Ok((points, problems))
}

pub fn run(args: MetricsArgs, ctx: &Context) -> Result<ExitCode, MetricsError> {
    let (points, problems) = load(ctx.state_dir()?)?;
    let report = Report::from_datapoints(&points);
    if args.json {
        let value = serde_json::json!({"report": report, "invalid_documents": problems});
        println!("{value:#}");
    } else {
        print!("{}", render::render(&report));
        for p in &problems {
            eprintln!("invalid EMF document: {p}");
        }
    }
    Ok(if problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

#[cfg(test)]
mod tests;
