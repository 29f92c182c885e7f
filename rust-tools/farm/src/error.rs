//! The harness's error type: a readable message that carries its context.
//!
//! Errors here end up in front of a person reading a test log, so they are
//! plain text built outward: `"boot node2: qemu exited early: <console tail>"`.

use std::fmt;

/// An error with a human-readable, context-prefixed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    msg: String,
}

/// `Result` with the harness's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error with the given message.
    pub fn new(msg: impl Into<String>) -> Self {
        Error { msg: msg.into() }
    }

    /// Prefixes the message with `ctx: `.
    pub fn context(self, ctx: impl fmt::Display) -> Self {
        Error {
            msg: format!("{ctx}: {}", self.msg),
        }
    }

    /// The full message.
    pub fn message(&self) -> &str {
        &self.msg
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::new(e.to_string())
    }
}

/// Adds context to any displayable error, turning it into an [`Error`].
pub trait Context<T> {
    /// Prefixes the error, if any, with `ctx`.
    fn context(self, ctx: impl fmt::Display) -> Result<T>;
    /// Like [`Context::context`], with the context built only on error.
    fn with_context<C: fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, ctx: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::new(format!("{ctx}: {e}")))
    }

    fn with_context<C: fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| Error::new(format!("{}: {e}", f())))
    }
}

/// Returns early with an [`Error`] built like `format!`.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::Error::new(format!($($arg)*)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_prefixes_outward() {
        let r: std::result::Result<(), _> = Err(std::io::Error::other("disk full"));
        let e = r.context("write config").unwrap_err().context("boot node1");
        assert_eq!(e.to_string(), "boot node1: write config: disk full");
    }
}
