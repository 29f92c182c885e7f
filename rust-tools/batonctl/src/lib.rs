//! `batonctl`: the operator's CLI for the baton kernel module, over the
//! `baton` generic netlink family (`Documentation/netlink/specs/baton.yaml`,
//! numbers from [`baton_core::genl`]).
//!
//! Layers, each testable on its own:
//! - [`cli`]: command-line grammar → [`cli::Command`] (no I/O);
//! - [`model`]: objects as read from the kernel, and the operations on them;
//! - [`codec`]: operations ↔ generic netlink attribute bytes (no I/O);
//! - [`nl`]: the netlink socket (neli), the only part that needs a kernel;
//! - [`output`]: tables and JSON;
//! - [`apply`]: the declarative TOML farm file and the plan that reaches it.

pub mod apply;
pub mod cli;
pub mod codec;
pub mod model;
pub mod nl;
pub mod output;

use std::fmt;

/// Exit code: a request the kernel refused.
pub const EXIT_KERNEL: i32 = 1;
/// Exit code: bad command line or input file.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: the `baton` family is not registered.
pub const EXIT_NOT_LOADED: i32 = 3;
/// Exit code: any other failure (socket, I/O, malformed reply).
pub const EXIT_SYSTEM: i32 = 4;

/// Everything that can go wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// Bad arguments or input file.
    Usage(String),
    /// The kernel refused a request: positive errno and extack message.
    Kernel {
        /// Positive errno.
        errno: i32,
        /// The extended ack message, if the kernel sent one.
        msg: Option<String>,
    },
    /// The `baton` generic netlink family is not registered.
    NotLoaded,
    /// Socket, I/O or protocol failure.
    System(String),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => EXIT_USAGE,
            Error::Kernel { .. } => EXIT_KERNEL,
            Error::NotLoaded => EXIT_NOT_LOADED,
            Error::System(_) => EXIT_SYSTEM,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) | Error::System(m) => f.write_str(m),
            Error::NotLoaded => {
                f.write_str("baton module not loaded (generic netlink family \"baton\" not found)")
            }
            Error::Kernel { errno, msg } => {
                let text = match msg {
                    Some(m) if !m.is_empty() => m.clone(),
                    _ => strerror(*errno),
                };
                write!(f, "{text} ({})", errno_name(*errno))
            }
        }
    }
}

impl std::error::Error for Error {}

/// The symbolic name of a (positive) errno, e.g. `EEXIST`.
pub fn errno_name(errno: i32) -> String {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EIO => "EIO",
        libc::E2BIG => "E2BIG",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ENOSPC => "ENOSPC",
        libc::ERANGE => "ERANGE",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::EPROTO => "EPROTO",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ENOBUFS => "ENOBUFS",
        libc::ESHUTDOWN => "ESHUTDOWN",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        524 => "ENOTSUPP",
        _ => return format!("errno {errno}"),
    };
    name.to_string()
}

/// The C library's description of a (positive) errno.
pub fn strerror(errno: i32) -> String {
    let s = std::io::Error::from_raw_os_error(errno).to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}
