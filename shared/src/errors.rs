//! Printing an error with its causes, for logs and Lambda diagnostics:
//! errors keep the SDK's error as their `source`, whose own Display says
//! little ("service error"); the chain says what went wrong.

use std::error::Error;
use std::fmt;

/// `top: cause: cause's cause`, each level once.
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut shown = self.0.to_string();
        let mut next = self.0.source();
        while let Some(cause) = next {
            let text = cause.to_string();
            // Some errors repeat their source's text in their own.
            if !text.is_empty() && !shown.contains(&text) {
                write!(f, ": {text}")?;
                shown = text;
            }
            next = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner: {0}")]
    struct Inner(#[source] std::io::Error);

    #[test]
    fn prints_every_cause_once() {
        let e = Outer(Inner(std::io::Error::other("disk")));
        assert_eq!(Chain(&e).to_string(), "outer: inner: disk");
    }
}
