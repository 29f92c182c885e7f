//! The head of an HTTP/1.x request, as far as the `http-rules` policy
//! needs it: the method, the request-target and the `Host`.
//!
//! [`parse`] looks at the bytes a client has sent so far (the start of the
//! TCP stream) and says whether they hold a whole request head — the
//! request line and the header lines up to the empty line — ([`Status::
//! Complete`]), could still become one ([`Status::Incomplete`]), or cannot
//! be an HTTP/1.x request ([`Status::Invalid`], as soon as a byte rules it
//! out: a TLS ClientHello or an HTTP/2 preface is refused at once, without
//! waiting for more bytes). It allocates nothing, never panics, keeps
//! borrowed slices of the input, and is stateless: the caller calls it
//! again on the longer buffer when more bytes arrive.
//!
//! What is checked (RFC 9112, strictly where it matters to routing):
//!
//! * The request line is `method SP request-target SP HTTP/1.x`, with
//!   exactly one space between the parts. The method is a token; the
//!   target has no spaces or control characters (bytes above 0x7e are
//!   let through, as servers do); the version is `HTTP/1.` and one digit.
//! * Lines end with CRLF or a bare LF. A CR anywhere else is refused.
//! * A header line is `name: value` with a token as name and no space
//!   before the colon; the value has no control characters but HTAB.
//!   Continuation lines (obsolete line folding) are refused, and so are
//!   two `Host` headers.
//! * Leading empty lines before the request line are not skipped.
//!
//! What comes out:
//!
//! * `path` is the request-target as sent (query included) in origin form
//!   (`/a/b?c`), `*` in asterisk form, and the authority in authority form
//!   (`CONNECT host:port`). For an absolute-form target
//!   (`http://host:port/p?q`) it is the part from the first `/` or `?`
//!   after the authority (`/` when there is none), and the host is taken
//!   from the target, not from the `Host` header (RFC 9112 §3.2.2).
//! * `host` is the `Host` header's value (name matched ignoring case,
//!   surrounding spaces and tabs trimmed) or the absolute-form authority
//!   (without `user@`), with the port removed (`[v6]:port` keeps the
//!   brackets); `None` when there is none or it is empty. Its case is kept:
//!   the policy compares ignoring ASCII case.

/// The parts of a complete request head the policy uses, borrowed from
/// the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head<'a> {
    /// The method (`GET`).
    pub method: &'a [u8],
    /// The request path (see the [module documentation](self)).
    pub path: &'a [u8],
    /// The host, without port (see the [module documentation](self)).
    pub host: Option<&'a [u8]>,
    /// The length of the head, through its final empty line; the request
    /// body, if any, starts there.
    pub len: usize,
}

/// What the bytes so far are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status<'a> {
    /// A whole request head.
    Complete(Head<'a>),
    /// A valid beginning of a request head: more bytes are needed.
    Incomplete,
    /// Not an HTTP/1.x request.
    Invalid(HttpError),
}

/// Why bytes are not an HTTP/1.x request head.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HttpError {
    /// The method is empty or not a token.
    BadMethod,
    /// The request-target is empty, has a control character, or is of no
    /// known form.
    BadTarget,
    /// The version is missing or not `HTTP/1.x`, or the request line has
    /// extra spaces.
    BadVersion,
    /// A header name is empty, not a token, or followed by a space.
    BadHeaderName,
    /// A header line has no colon.
    MissingColon,
    /// A header value has a control character (a stray CR included).
    BadHeaderValue,
    /// A header line starts with a space or tab (obsolete line folding).
    ObsoleteFolding,
    /// Two `Host` headers.
    DuplicateHost,
}

impl HttpError {
    /// A short, stable, lower-case name for counters and logs.
    pub const fn as_str(&self) -> &'static str {
        match self {
            HttpError::BadMethod => "bad_method",
            HttpError::BadTarget => "bad_target",
            HttpError::BadVersion => "bad_version",
            HttpError::BadHeaderName => "bad_header_name",
            HttpError::MissingColon => "missing_colon",
            HttpError::BadHeaderValue => "bad_header_value",
            HttpError::ObsoleteFolding => "obsolete_folding",
            HttpError::DuplicateHost => "duplicate_host",
        }
    }
}

impl ::core::fmt::Display for HttpError {
    fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses the start of a client's byte stream as an HTTP/1.x request head
/// (see the [module documentation](self)).
pub fn parse(buf: &[u8]) -> Status<'_> {
    match parse_head(buf) {
        Ok(h) => Status::Complete(h),
        Err(Stop::More) => Status::Incomplete,
        Err(Stop::Bad(e)) => Status::Invalid(e),
    }
}

/// Why parsing stopped before a complete head.
enum Stop {
    More,
    Bad(HttpError),
}

impl From<HttpError> for Stop {
    fn from(e: HttpError) -> Self {
        Stop::Bad(e)
    }
}

/// The line of `buf` starting at `start`: its content without the line
/// end, and the index after its LF; without an LF yet, the bytes so far
/// (without a final CR, which may be the start of a CRLF) and `None`.
fn line(buf: &[u8], start: usize) -> (&[u8], Option<usize>) {
    let rest = buf.get(start..).unwrap_or(&[]);
    match rest.iter().position(|&b| b == b'\n') {
        Some(i) => {
            let l = rest.get(..i).unwrap_or(&[]);
            let next = start.saturating_add(i).saturating_add(1);
            (l.strip_suffix(b"\r").unwrap_or(l), Some(next))
        }
        None => (rest.strip_suffix(b"\r").unwrap_or(rest), None),
    }
}

/// `tchar` of RFC 9110: what a method or header name is made of.
fn is_tchar(b: &u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b)
}

/// A byte of a request-target: anything but controls and space.
fn is_target_byte(b: &u8) -> bool {
    *b > b' ' && *b != 0x7f
}

/// A byte of a header value: anything but controls, HTAB allowed.
fn is_value_byte(b: &u8) -> bool {
    *b == b'\t' || (*b >= b' ' && *b != 0x7f)
}

/// Splits at the first space.
fn split_sp(l: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = l.iter().position(|&b| b == b' ')?;
    Some((l.get(..i)?, l.get(i.saturating_add(1)..)?))
}

const VERSION: &[u8; 7] = b"HTTP/1.";

/// Checks a (possibly partial) version: `HTTP/1.` and one digit.
fn check_version(v: &[u8], complete: bool) -> Result<(), Stop> {
    let n = v.len().min(VERSION.len());
    let digit_ok = v.get(VERSION.len()).is_none_or(u8::is_ascii_digit);
    if v.get(..n) != VERSION.get(..n) || !digit_ok || v.len() > VERSION.len() + 1 {
        return Err(HttpError::BadVersion.into());
    }
    if !complete {
        return Err(Stop::More);
    }
    if v.len() != VERSION.len() + 1 {
        return Err(HttpError::BadVersion.into());
    }
    Ok(())
}

/// The method and request-target of a request line.
fn request_line(l: &[u8], complete: bool) -> Result<(&[u8], &[u8]), Stop> {
    let Some((method, rest)) = split_sp(l) else {
        if !l.iter().all(is_tchar) {
            return Err(HttpError::BadMethod.into());
        }
        return Err(if complete && !l.is_empty() {
            HttpError::BadVersion.into()
        } else if complete {
            HttpError::BadMethod.into()
        } else {
            Stop::More
        });
    };
    if method.is_empty() || !method.iter().all(is_tchar) {
        return Err(HttpError::BadMethod.into());
    }
    let Some((target, version)) = split_sp(rest) else {
        if !rest.iter().all(is_target_byte) {
            return Err(HttpError::BadTarget.into());
        }
        // `GET /` alone is HTTP/0.9.
        return Err(if complete {
            HttpError::BadVersion.into()
        } else {
            Stop::More
        });
    };
    if target.is_empty() || !target.iter().all(is_target_byte) {
        return Err(HttpError::BadTarget.into());
    }
    check_version(version, complete)?;
    Ok((method, target))
}

/// The name and value (trimmed) of a header line.
fn header_line(l: &[u8], complete: bool) -> Result<(&[u8], &[u8]), Stop> {
    if matches!(l.first(), Some(b' ' | b'\t')) {
        return Err(HttpError::ObsoleteFolding.into());
    }
    let Some(colon) = l.iter().position(|&b| b == b':') else {
        if !l.iter().all(is_tchar) {
            return Err(HttpError::BadHeaderName.into());
        }
        return Err(if complete {
            HttpError::MissingColon.into()
        } else {
            Stop::More
        });
    };
    let name = l.get(..colon).unwrap_or(&[]);
    let value = l.get(colon.saturating_add(1)..).unwrap_or(&[]);
    if name.is_empty() || !name.iter().all(is_tchar) {
        return Err(HttpError::BadHeaderName.into());
    }
    if !value.iter().all(is_value_byte) {
        return Err(HttpError::BadHeaderValue.into());
    }
    if !complete {
        return Err(Stop::More);
    }
    Ok((name, trim(value)))
}

/// Without leading and trailing spaces and tabs.
fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// A host without its port: `name[:port]` or `[v6][:port]`.
fn strip_port(h: &[u8]) -> &[u8] {
    let end = if h.first() == Some(&b'[') {
        h.iter()
            .position(|&b| b == b']')
            .map_or(h.len(), |i| i.saturating_add(1))
    } else {
        h.iter().position(|&b| b == b':').unwrap_or(h.len())
    };
    h.get(..end).unwrap_or(h)
}

/// `scheme "://" authority [path-abempty] [? query]`: the authority and
/// the path (from the first `/` or `?` after the authority).
fn absolute_form(target: &[u8]) -> Option<(&[u8], &[u8])> {
    let sep = target.windows(3).position(|w| w == b"://")?;
    let scheme = target.get(..sep)?;
    let (first, rest) = scheme.split_first()?;
    if !first.is_ascii_alphabetic()
        || !rest
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return None;
    }
    let after = target.get(sep.saturating_add(3)..)?;
    let end = after
        .iter()
        .position(|b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(after.len());
    Some((after.get(..end)?, after.get(end..)?))
}

/// The path and (absolute form only) host of a request-target.
fn target_parts<'a>(
    method: &[u8],
    target: &'a [u8],
) -> Result<(&'a [u8], Option<&'a [u8]>), HttpError> {
    if target.first() == Some(&b'/') || target == b"*" {
        return Ok((target, None));
    }
    if let Some((authority, path)) = absolute_form(target) {
        let host = authority
            .iter()
            .rposition(|&b| b == b'@')
            .and_then(|i| authority.get(i.saturating_add(1)..))
            .unwrap_or(authority);
        let path: &'a [u8] = if path.is_empty() { b"/" } else { path };
        return Ok((path, Some(host)));
    }
    if method == b"CONNECT" {
        return Ok((target, None));
    }
    Err(HttpError::BadTarget)
}

fn parse_head(buf: &[u8]) -> Result<Head<'_>, Stop> {
    let (l, next) = line(buf, 0);
    let (method, target) = request_line(l, next.is_some())?;
    let mut pos = next.ok_or(Stop::More)?;
    let (path, target_host) = target_parts(method, target)?;
    let mut host_header: Option<&[u8]> = None;
    loop {
        let (l, next) = line(buf, pos);
        if l.is_empty() {
            let len = next.ok_or(Stop::More)?;
            let host = target_host
                .or(host_header)
                .map(strip_port)
                .filter(|h| !h.is_empty());
            return Ok(Head {
                method,
                path,
                host,
                len,
            });
        }
        let (name, value) = header_line(l, next.is_some())?;
        if name.eq_ignore_ascii_case(b"host") {
            if host_header.is_some() {
                return Err(HttpError::DuplicateHost.into());
            }
            host_header = Some(value);
        }
        pos = next.ok_or(Stop::More)?;
    }
}
