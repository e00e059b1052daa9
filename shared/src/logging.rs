//! Structured JSON logs, one object per line, as CloudWatch Logs Insights
//! queries them.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber; `RUST_LOG` filters (default `info`).
pub fn init_json() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
