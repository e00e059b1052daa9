//! The HTML pages, one module each.

pub mod confirm;
pub mod form;
pub mod status;
