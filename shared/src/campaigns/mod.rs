//! Scheduled campaigns and their variants (being built).
