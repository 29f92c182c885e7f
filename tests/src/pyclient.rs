//! A small Python HTTP client for the client VM, for what curl cannot do:
//! hold many keep-alive connections open, fetch from fixed source ports,
//! and download slowly. Every mode prints one line per connection with
//! what the client actually received (the body, or its length and
//! SHA-256), so that scenarios check the client's view.
//!
//! Modes (`python3 /tmp/baton-client.py MODE ...`):
//!
//! * `hold N PATH RELEASE`: opens N keep-alive connections to the VIP one
//!   after the other, each fetching PATH; prints `conn I BODY` for each,
//!   then `ready`. Every 20 s, while opening and after (nginx's idle
//!   keep-alive limit is 75 s), and
//!   once RELEASE exists, it fetches PATH again on every connection and
//!   prints `again I BODY` only when the body differs from the first
//!   one's; on release it prints `final I BODY` for each, closes them all
//!   and prints `closed`. Gives up after 600 s.
//! * `ports FIRST COUNT PATH`: for each source port FIRST..FIRST+COUNT,
//!   one connection bound to that port fetches PATH and ends with a reset
//!   (`SO_LINGER` 0, no TIME_WAIT anywhere, so the port can be used again
//!   at once); prints `port P BODY`.
//! * `slow N PATH GO`: N concurrent downloads of PATH with a 16 KiB
//!   receive buffer, each read 4 KiB at a time with a 0.5 s pause until
//!   GO exists, then as fast as it comes; prints `started I` once the
//!   response head is in, `done I LEN SHA256` at the end and `finished`
//!   after the last one.
//!
//! A failed connection prints `error I MESSAGE`.

use crate::farmsetup::VIP;
use baton_farm::{bail, Result, Vm};
use std::time::Duration;

/// Where the script lives in the client VM.
pub const SCRIPT: &str = "/tmp/baton-client.py";

const SOURCE: &str = r#"
import hashlib, os, socket, struct, sys, threading, time

VIP = sys.argv[1]
MODE = sys.argv[2]
ARGS = sys.argv[3:]

def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()

def connect(port=None, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(120)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if port:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("", port))
    s.connect((VIP, 80))
    return s

def head(s, path):
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, VIP)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        b = s.recv(4096)
        if not b:
            raise IOError("closed in the response head")
        buf += b
    h, rest = buf.split(b"\r\n\r\n", 1)
    status = h.split(b"\r\n")[0].decode()
    if " 200 " not in status + " ":
        raise IOError("status " + status)
    length = None
    for l in h.split(b"\r\n")[1:]:
        k, _, v = l.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    if length is None:
        raise IOError("no content-length")
    return length, rest

def fetch(s, path):
    length, body = head(s, path)
    while len(body) < length:
        b = s.recv(65536)
        if not b:
            raise IOError("closed after %d of %d body bytes" % (len(body), length))
        body += b
    return body.decode(errors="replace").strip()

def hold(n, path, release):
    conns, first = [], []
    def again(tag):
        for i, s in enumerate(conns):
            if s is None:
                continue
            try:
                body = fetch(s, path)
            except Exception as e:
                say("error %d %s: %s" % (i, tag, e))
                conns[i] = None
                continue
            if tag == "final" or body != first[i]:
                say("%s %d %s" % (tag, i, body))
    last = time.time()
    for i in range(n):
        try:
            s = connect()
            body = fetch(s, path)
        except Exception as e:
            say("error %d %s" % (i, e))
            s, body = None, None
        conns.append(s)
        first.append(body)
        if body is not None:
            say("conn %d %s" % (i, body))
        if time.time() - last > 20:
            again("again")
            last = time.time()
    say("ready")
    end = time.time() + 600
    while not os.path.exists(release) and time.time() < end:
        time.sleep(0.2)
        if time.time() - last > 20:
            again("again")
            last = time.time()
    again("final")
    for s in conns:
        if s is not None:
            s.close()
    say("closed")

def ports(first, count, path):
    for p in range(first, first + count):
        try:
            s = connect(port=p)
            body = fetch(s, path)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
            say("port %d %s" % (p, body))
        except Exception as e:
            say("error %d %s" % (p, e))

def slow_one(i, path, go):
    try:
        s = connect(rcvbuf=16384)
        length, body = head(s, path)
        say("started %d" % i)
        h = hashlib.sha256(body)
        got = len(body)
        while got < length:
            fast = os.path.exists(go)
            if not fast:
                time.sleep(0.5)
            b = s.recv(65536 if fast else 4096)
            if not b:
                break
            h.update(b)
            got += len(b)
        s.close()
        say("done %d %d %s" % (i, got, h.hexdigest()))
    except Exception as e:
        say("error %d %s" % (i, e))

def slow(n, path, go):
    ts = [threading.Thread(target=slow_one, args=(i, path, go)) for i in range(n)]
    for t in ts:
        t.start()
        time.sleep(0.2)
    for t in ts:
        t.join()
    say("finished")

if MODE == "hold":
    hold(int(ARGS[0]), ARGS[1], ARGS[2])
elif MODE == "ports":
    ports(int(ARGS[0]), int(ARGS[1]), ARGS[2])
elif MODE == "slow":
    slow(int(ARGS[0]), ARGS[1], ARGS[2])
"#;

/// Writes the script into `client`.
pub fn install(client: &Vm) -> Result<()> {
    client.sh(&format!("cat > {SCRIPT} <<'PYEOF'\n{SOURCE}\nPYEOF"))?;
    Ok(())
}

/// Starts the script in the background in `client` with `args` (mode and
/// its arguments), its output going to `out`.
pub fn spawn(client: &Vm, args: &str, out: &str) -> Result<()> {
    client.sh(&format!(
        "rm -f {out}; setsid nohup python3 {SCRIPT} {VIP} {args} > {out} 2>&1 < /dev/null &"
    ))?;
    Ok(())
}

/// Waits up to `limit` until `out` in `client` has a line starting with
/// `word` (or the script died); returns the whole file.
pub fn wait_line(client: &Vm, out: &str, word: &str, limit: Duration) -> Result<String> {
    let polls = limit.as_millis() / 500;
    let o = client.run(
        &format!(
            "for i in $(seq {polls}); do grep -q '^{word}' {out} && break; \
               pgrep -f '^python3 {SCRIPT}' >/dev/null || {{ sleep 1; break; }}; sleep 0.5; done; \
             cat {out}"
        ),
        limit + Duration::from_secs(60),
    )?;
    if !o.stdout.lines().any(|l| l.starts_with(word)) {
        bail!(
            "the client's {out} has no `{word}` line within {limit:?}:\n{}{}",
            o.stdout,
            o.stderr
        );
    }
    Ok(o.stdout)
}

/// Runs the script in the foreground with `args`; its output.
pub fn run(client: &Vm, args: &str, limit: Duration) -> Result<String> {
    client.run_ok(&format!("python3 {SCRIPT} {VIP} {args}"), limit)
}

/// The lines of `out` that start with `word`, split after it into
/// (index, rest).
pub fn lines<'a>(out: &'a str, word: &str) -> Vec<(u64, &'a str)> {
    out.lines()
        .filter_map(|l| l.strip_prefix(word)?.strip_prefix(' '))
        .filter_map(|l| {
            let (i, rest) = l.split_once(' ').unwrap_or((l, ""));
            Some((i.parse().ok()?, rest))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split() {
        let out = "conn 0 served-by-node2\nerror 1 boom\nconn 2 served-by-node3\nready\n";
        assert_eq!(
            lines(out, "conn"),
            vec![(0, "served-by-node2"), (2, "served-by-node3")]
        );
        assert_eq!(lines(out, "error"), vec![(1, "boom")]);
        assert!(lines(out, "ready").is_empty());
    }
}
