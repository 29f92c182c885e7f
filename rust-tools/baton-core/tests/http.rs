//! The HTTP/1.x request-head parser (`baton_core::http`): what it takes
//! out of a head, when it waits for more bytes, what it refuses, and
//! property tests over generated requests and arbitrary bytes.

use baton_core::http::{parse, Head, HttpError, Status};
use proptest::prelude::*;

#[track_caller]
fn complete(buf: &[u8]) -> Head<'_> {
    match parse(buf) {
        Status::Complete(h) => h,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(buf)),
    }
}

#[track_caller]
fn invalid(buf: &[u8]) -> HttpError {
    match parse(buf) {
        Status::Invalid(e) => e,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(buf)),
    }
}

#[track_caller]
fn incomplete(buf: &[u8]) {
    assert_eq!(
        parse(buf),
        Status::Incomplete,
        "{:?}",
        String::from_utf8_lossy(buf)
    );
}

#[test]
fn a_simple_get() {
    let req = b"GET /index.html?x=1 HTTP/1.1\r\nHost: www.example.com\r\nAccept: */*\r\n\r\nBODY";
    let h = complete(req);
    assert_eq!(h.method, b"GET");
    assert_eq!(h.path, b"/index.html?x=1");
    assert_eq!(h.host, Some(&b"www.example.com"[..]));
    assert_eq!(h.len, req.len() - 4, "the body starts at len");
}

#[test]
fn bare_lf_and_mixed_line_ends() {
    let h = complete(b"POST /a HTTP/1.0\nHost: x\r\nA: b\n\n");
    assert_eq!(
        (h.method, h.path, h.host),
        (&b"POST"[..], &b"/a"[..], Some(&b"x"[..]))
    );
    assert_eq!(complete(b"GET / HTTP/1.1\n\n").len, 16);
    assert_eq!(complete(b"GET / HTTP/1.1\r\n\n").len, 17);
}

#[test]
fn host_header_forms() {
    let host = |line: &str| {
        let req = format!("GET / HTTP/1.1\r\n{line}\r\n\r\n");
        complete(req.as_bytes()).host.map(|h| h.to_vec())
    };
    let some = |s: &str| Some(s.as_bytes().to_vec());
    assert_eq!(host("host: a.example"), some("a.example"));
    assert_eq!(host("HOST:a.example"), some("a.example"));
    assert_eq!(host("Host: \t A.Example:8080 \t"), some("A.Example"));
    assert_eq!(host("Host: [2001:db8::1]:443"), some("[2001:db8::1]"));
    assert_eq!(host("Host: [2001:db8::1]"), some("[2001:db8::1]"));
    assert_eq!(host("Host: 192.0.2.1:80"), some("192.0.2.1"));
    assert_eq!(host("Host:"), None);
    assert_eq!(host("Host: :80"), None);
    assert_eq!(host("X-Host: a"), None);
    assert_eq!(complete(b"GET / HTTP/1.0\r\n\r\n").host, None);
}

#[test]
fn target_forms() {
    let h = complete(b"GET http://user@Example.COM:8080/p/q?r HTTP/1.1\r\nHost: other\r\n\r\n");
    assert_eq!(h.host, Some(&b"Example.COM"[..]), "absolute form wins");
    assert_eq!(h.path, b"/p/q?r");
    let h = complete(b"GET https://a.example HTTP/1.1\r\n\r\n");
    assert_eq!((h.host, h.path), (Some(&b"a.example"[..]), &b"/"[..]));
    let h = complete(b"GET http://a.example?q HTTP/1.1\r\n\r\n");
    assert_eq!((h.host, h.path), (Some(&b"a.example"[..]), &b"?q"[..]));
    let h = complete(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!((h.path, h.host), (&b"*"[..], Some(&b"a"[..])));
    let h = complete(b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n");
    assert_eq!(
        (h.path, h.host),
        (&b"a.example:443"[..], Some(&b"a.example"[..]))
    );
    // Raw UTF-8 in a path is let through.
    assert_eq!(
        complete("GET /caf\u{e9} HTTP/1.1\r\n\r\n".as_bytes()).path,
        "/café".as_bytes()
    );
    assert_eq!(invalid(b"GET foo HTTP/1.1\r\n\r\n"), HttpError::BadTarget);
    assert_eq!(
        invalid(b"GET 1http://a/ HTTP/1.1\r\n\r\n"),
        HttpError::BadTarget
    );
}

#[test]
fn waits_for_more() {
    for p in [
        &b""[..],
        b"G",
        b"GET",
        b"GET ",
        b"GET /",
        b"GET / ",
        b"GET / HTTP/1",
        b"GET / HTTP/1.1",
        b"GET / HTTP/1.1\r",
        b"GET / HTTP/1.1\r\n",
        b"GET / HTTP/1.1\r\nHo",
        b"GET / HTTP/1.1\r\nHost",
        b"GET / HTTP/1.1\r\nHost:",
        b"GET / HTTP/1.1\r\nHost: a",
        b"GET / HTTP/1.1\r\nHost: a\r",
        b"GET / HTTP/1.1\r\nHost: a\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\r",
        b"GET / HTTP/1.1\nHost: a\n",
    ] {
        incomplete(p);
    }
}

#[test]
fn refuses_what_is_not_http1() {
    use HttpError::*;
    // A TLS ClientHello and the HTTP/2 preface, at once.
    assert_eq!(invalid(&[0x16, 0x03, 0x01, 0x02, 0x00]), BadMethod);
    assert_eq!(invalid(b"PRI * HTTP/2"), BadVersion);
    assert_eq!(invalid(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), BadVersion);
    assert_eq!(invalid(b"\r\nGET / HTTP/1.1\r\n\r\n"), BadMethod);
    assert_eq!(invalid(b" GET / HTTP/1.1\r\n\r\n"), BadMethod);
    assert_eq!(invalid(b"G(T / HTTP/1.1\r\n\r\n"), BadMethod);
    assert_eq!(invalid(b"GET\r\n"), BadVersion);
    assert_eq!(invalid(b"GET /\r\n"), BadVersion, "HTTP/0.9");
    assert_eq!(invalid(b"GET  / HTTP/1.1\r\n"), BadTarget);
    assert_eq!(invalid(b"GET /\x01 HTTP/1.1\r\n"), BadTarget);
    assert_eq!(invalid(b"GET / HTTP/1.1 \r\n"), BadVersion);
    assert_eq!(invalid(b"GET / HTTP/1.12"), BadVersion);
    assert_eq!(invalid(b"GET / HTTP/1.x"), BadVersion);
    assert_eq!(invalid(b"GET / http/1.1"), BadVersion);
    assert_eq!(invalid(b"GET / HTTP/1.1\rX"), BadVersion, "a CR alone");
    assert_eq!(invalid(b"GET / HTTP/1.1\r\nFoo bar\r\n"), BadHeaderName);
    // A header name without colon is refused once its line has ended.
    incomplete(b"GET / HTTP/1.1\r\nFoo");
    assert_eq!(invalid(b"GET / HTTP/1.1\r\nFoo\r\n"), MissingColon);
    assert_eq!(invalid(b"GET / HTTP/1.1\r\nHost : a\r\n"), BadHeaderName);
    assert_eq!(invalid(b"GET / HTTP/1.1\r\n: a\r\n"), BadHeaderName);
    assert_eq!(invalid(b"GET / HTTP/1.1\r\nA: b\x00c\r\n"), BadHeaderValue);
    assert_eq!(invalid(b"GET / HTTP/1.1\r\nA: b\rc\r\n"), BadHeaderValue);
    assert_eq!(
        invalid(b"GET / HTTP/1.1\r\nA: b\r\n c\r\n"),
        ObsoleteFolding
    );
    assert_eq!(
        invalid(b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"),
        DuplicateHost
    );
    let names: std::collections::HashSet<&str> = [
        BadMethod,
        BadTarget,
        BadVersion,
        BadHeaderName,
        MissingColon,
        BadHeaderValue,
        ObsoleteFolding,
        DuplicateHost,
    ]
    .iter()
    .map(HttpError::as_str)
    .collect();
    assert_eq!(names.len(), 8);
}

// ---- property tests ----

/// A valid request head, with what the parser should take out of it.
#[derive(Clone, Debug)]
struct Valid {
    bytes: Vec<u8>,
    method: String,
    path: String,
    host: Option<String>,
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}"
}

fn arb_valid() -> impl Strategy<Value = Valid> {
    let method = prop_oneof![
        Just("GET".to_string()),
        Just("POST".to_string()),
        Just("HEAD".to_string()),
        token(),
    ];
    let name = "[a-z][a-z0-9.-]{0,15}";
    let port = proptest::option::of(1u16..);
    let origin = "/[A-Za-z0-9._~!$&'()*+,;=:@%/-]{0,24}(\\?[a-z0-9=&]{0,10})?";
    // (target, path, host from the target)
    let target = prop_oneof![
        3 => origin.prop_map(|p| (p.clone(), p, None)),
        1 => (name, port.clone(), proptest::option::of(origin)).prop_map(|(h, port, p)| {
            let auth = match port {
                Some(n) => format!("{h}:{n}"),
                None => h.clone(),
            };
            let p = p.unwrap_or_default();
            let path = if p.is_empty() { "/".to_string() } else { p.clone() };
            (format!("http://{auth}{p}"), path, Some(h))
        }),
    ];
    let host_header = proptest::option::of((
        prop_oneof![Just("Host"), Just("host"), Just("HOST")],
        "[ \t]{0,2}",
        name,
        port,
        "[ \t]{0,2}",
    ));
    let other = proptest::collection::vec(
        (
            token().prop_filter("not host", |n| !n.eq_ignore_ascii_case("host")),
            "[ \t]{0,2}",
            "[ -~\t]{0,20}",
        ),
        0..6,
    );
    (
        method,
        target,
        any::<bool>(),
        host_header,
        other,
        0usize..7,
        proptest::collection::vec(any::<bool>(), 8),
    )
        .prop_map(
            |(method, (target, path, thost), v11, hh, other, at, crlf)| {
                let mut lines = vec![format!(
                    "{method} {target} HTTP/1.{}",
                    if v11 { 1 } else { 0 }
                )];
                let mut headers: Vec<String> = other
                    .iter()
                    .map(|(n, ws, v)| format!("{n}:{ws}{v}"))
                    .collect();
                let mut hhost = None;
                if let Some((n, ws1, h, port, ws2)) = &hh {
                    let p = port.map(|p| format!(":{p}")).unwrap_or_default();
                    headers.insert(at.min(headers.len()), format!("{n}:{ws1}{h}{p}{ws2}"));
                    hhost = Some(h.clone());
                }
                lines.extend(headers);
                lines.push(String::new());
                let mut bytes = Vec::new();
                for (i, l) in lines.iter().enumerate() {
                    bytes.extend_from_slice(l.as_bytes());
                    bytes.extend_from_slice(if crlf[i % crlf.len()] { b"\r\n" } else { b"\n" });
                }
                Valid {
                    bytes,
                    method,
                    path,
                    host: thost.or(hhost),
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// A valid head parses to what it says, whatever follows it.
    #[test]
    fn valid_heads_parse(v in arb_valid(), body in proptest::collection::vec(any::<u8>(), 0..16)) {
        let mut buf = v.bytes.clone();
        buf.extend_from_slice(&body);
        let h = complete(&buf);
        prop_assert_eq!(h.method, v.method.as_bytes());
        prop_assert_eq!(h.path, v.path.as_bytes());
        prop_assert_eq!(h.host, v.host.as_deref().map(str::as_bytes));
        prop_assert_eq!(h.len, v.bytes.len());
    }

    /// Every proper prefix of a valid head is incomplete.
    #[test]
    fn prefixes_are_incomplete(v in arb_valid()) {
        for n in 0..v.bytes.len() {
            prop_assert_eq!(parse(&v.bytes[..n]), Status::Incomplete, "prefix of {} bytes", n);
        }
    }

    /// Delivered in arbitrary pieces, a valid request is never refused:
    /// it is incomplete until its head is there, complete from then on.
    #[test]
    fn arbitrary_splits_never_refuse(
        v in arb_valid(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(v.bytes.len() + 1)).collect();
        cuts.push(v.bytes.len());
        cuts.sort_unstable();
        for n in cuts {
            match parse(&v.bytes[..n]) {
                Status::Invalid(e) => prop_assert!(false, "refused after {} bytes: {:?}", n, e),
                Status::Incomplete => prop_assert!(n < v.bytes.len()),
                Status::Complete(h) => prop_assert_eq!(h.len, n),
            }
        }
    }

    /// Arbitrary bytes never make it panic; what it calls complete is
    /// consistent: the slices lie in the head, the head alone parses the
    /// same, and one byte less is incomplete.
    #[test]
    fn arbitrary_bytes(buf in proptest::collection::vec(any::<u8>(), 0..200)) {
        check_consistent(&buf)?;
    }

    /// The same from the start of a valid head with random bytes after
    /// a random cut (to get past the request line).
    #[test]
    fn valid_then_garbage(
        v in arb_valid(),
        cut in any::<prop::sample::Index>(),
        tail in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let mut buf = v.bytes[..cut.index(v.bytes.len())].to_vec();
        buf.extend_from_slice(&tail);
        check_consistent(&buf)?;
    }
}

fn within(buf: &[u8], s: &[u8]) -> bool {
    let (b, e) = (buf.as_ptr() as usize, buf.as_ptr() as usize + buf.len());
    let p = s.as_ptr() as usize;
    s == b"/" || (p >= b && p + s.len() <= e)
}

fn check_consistent(buf: &[u8]) -> Result<(), TestCaseError> {
    if let Status::Complete(h) = parse(buf) {
        prop_assert!(h.len >= 4 && h.len <= buf.len());
        let head = &buf[..h.len];
        prop_assert!(within(head, h.method) && within(head, h.path));
        prop_assert!(h.host.is_none_or(|x| within(head, x) && !x.is_empty()));
        prop_assert_eq!(parse(head), Status::Complete(h));
        prop_assert_eq!(parse(&buf[..h.len - 1]), Status::Incomplete);
    }
    Ok(())
}
