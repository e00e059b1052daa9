//! approval (issue #4): the request form, approver emails with signed
//! links, and approved requests written as batch files. A library so that
//! tests drive the handler in-process with in-memory ports.

pub mod audience;
pub mod control;
pub mod decide;
pub mod deps;
pub mod form;
pub mod handler;
pub mod html;
pub mod identity;
pub mod links;
pub mod mails;
pub mod multipart;
pub mod pages;
pub mod preview;
pub mod reply;
pub mod settings;
pub mod status;
pub mod stop;
pub mod submit;
pub mod test_send;
pub mod urls;
