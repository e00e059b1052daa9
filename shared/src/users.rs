//! The users table (being built).
