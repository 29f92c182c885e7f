#![cfg_attr(not(MODULE), no_std)]
#![forbid(unsafe_code)]
//! Pure, `no_std`, allocation-free packet logic shared by the baton kernel
//! module and its host-side tests.
//!
//! Every parser in this crate takes attacker-controlled bytes and never
//! panics: lengths are checked, slices are taken with `get()`, and errors are
//! reported as [`error::ParseError`] values whose [`as_str`] names can be used
//! as drop-reason counters.
//!
//! The same source is compiled twice: as this host crate, and as a module of
//! the kernel crate (`#[path = ".../lib.rs"] mod ...;` with `--cfg MODULE`).
//! Inside the crate, sibling modules are therefore referenced with `super::`,
//! never with `crate::`, and the standard library is reached through
//! `::core::`.
//!
//! [`as_str`]: error::ParseError::as_str

// Which modules use which: each line uses only modules of the lines above
// it, so there is no cycle (`config` -> `farmpolicy` -> `policy` ->
// `config` was one until what they share moved to the leaf `service`).
// Keep it so: a type two of them need goes to the lower one, or to a leaf.
//
//   csum errno error genl http request seq siphash   (nothing of the crate)
//   auth ether ipv4 maglev service
//   arp lard tcp udp
//   cookie wire
//   config conn conntable synack
//   conninfo handoff icmp policy
//   farm
//   farmpolicy liveness

pub mod arp;
pub mod auth;
pub mod config;
pub mod conn;
pub mod conninfo;
pub mod conntable;
pub mod cookie;
pub mod csum;
pub mod errno;
pub mod error;
pub mod ether;
pub mod farm;
pub mod farmpolicy;
pub mod genl;
pub mod handoff;
pub mod http;
pub mod icmp;
pub mod ipv4;
pub mod lard;
pub mod liveness;
pub mod maglev;
pub mod policy;
pub mod request;
pub mod seq;
pub mod service;
pub mod siphash;
pub mod synack;
pub mod tcp;
pub mod udp;
pub mod wire;
