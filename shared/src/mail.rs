//! Sending email (being built).
