//! Approval requests, signed links and their store (being built).
