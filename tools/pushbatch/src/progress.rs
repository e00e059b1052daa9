//! Progress indicators on stderr; hidden when disabled or not a terminal
//! (indicatif's stderr target hides itself then), so tests stay quiet.

use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A spinner with a message, ticking on its own.
pub fn spinner(enabled: bool, message: impl Into<String>) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]") {
        bar.set_style(style);
    }
    bar.set_message(message.into());
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// A bar counting `len` units with rate and ETA.
pub fn counter(enabled: bool, len: u64, unit: &str) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let template = format!("{{bar:40}} {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}})");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// A bar over a file's bytes, with a message for the counters.
pub fn bytes(enabled: bool, len: u64) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {msg} [{elapsed}]") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Bars drawn together on stderr; hidden when disabled (a bar added to it
/// draws where it does, so a hidden one stays hidden).
pub fn multi(enabled: bool) -> MultiProgress {
    if enabled { MultiProgress::new() } else { MultiProgress::with_draw_target(ProgressDrawTarget::hidden()) }
}

/// One shard's bar under its job's, over the bytes of its range.
pub fn shard_bytes(multi: &MultiProgress, len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("  {bar:28} {bytes}/{total_bytes} {msg}") {
        bar.set_style(style);
    }
    multi.add(bar)
}
