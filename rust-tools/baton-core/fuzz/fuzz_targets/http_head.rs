//! The HTTP/1.x request-head parser on arbitrary bytes: it must not panic,
//! and what it calls complete must be consistent (slices inside the head,
//! the head alone parses the same, one byte less is incomplete).
#![no_main]

use baton_core::http::{parse, Status};
use libfuzzer_sys::fuzz_target;

fn inside(head: &[u8], s: &[u8]) -> bool {
    let start = head.as_ptr() as usize;
    let p = s.as_ptr() as usize;
    s == b"/" || (p >= start && p + s.len() <= start + head.len())
}

fuzz_target!(|data: &[u8]| {
    if let Status::Complete(h) = parse(data) {
        assert!(h.len >= 4 && h.len <= data.len());
        let head = &data[..h.len];
        assert!(inside(head, h.method) && inside(head, h.path));
        assert!(h.host.is_none_or(|x| !x.is_empty() && inside(head, x)));
        assert_eq!(parse(head), Status::Complete(h));
        assert_eq!(parse(&data[..h.len - 1]), Status::Incomplete);
    }
});
