//! The per-connection state machine over arbitrary event sequences: peers
//! that accept, refuse, die or lose their answers, frames lost and
//! reordered, timer ticks, spoofed segments and closes. The invariants of
//! `tests/conn_model` must hold after every step, and every connection must
//! end served, reset or expired, and be freed once closed.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/conn_model/mod.rs"]
mod conn_model;

fuzz_target!(|data: &[u8]| conn_model::run_bytes(data));
