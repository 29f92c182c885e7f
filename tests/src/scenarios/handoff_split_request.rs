//! `handoff_split_request`: requests that span several segments arrive
//! whole. A client POSTs 20 000 bytes with a 3 000-byte header to the VIP;
//! the first segment alone (a full MSS) is larger than one handoff frame,
//! so node1 hands it to node2 or node3 in two frames, which the serving
//! node reassembles before rebuilding the socket; the request's later
//! segments follow the connection to its owner. The serving application (a
//! plain Python HTTP server, unaware of baton) answers with the body's
//! length and SHA-256 and the header's length, which must match what the
//! client sent.

use crate::context::Context;
use crate::farmsetup::{self, counter, diagnose, stats, VIP};
use baton_farm::{bail, log, Result};
use std::time::Duration;

const PORT: u16 = 8080;
const BODY: usize = 20_000;
const HEADER: usize = 3_000;
const REQUESTS: usize = 4;
const T: Duration = Duration::from_secs(120);

const SERVICES: &str = "\n[[service]]\nvip = \"203.0.113.100\"\nport = 8080\nproto = \"tcp\"\npolicy = \"round-robin\"\n";

/// An HTTP server answering a POST with "NAME LENGTH SHA256 XBIG-LENGTH";
/// the command returns once it listens.
fn app(name: &str) -> String {
    format!(
        "rm -f /run/app.ready; nohup python3 -c \"
import hashlib, http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers['Content-Length'])
        body = self.rfile.read(n)
        big = len(self.headers.get('X-Big', ''))
        out = ('{name} %d %s %d' % (len(body), hashlib.sha256(body).hexdigest(), big)).encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(('0.0.0.0', {PORT}), H)
open('/run/app.ready', 'w').write('up')
s.serve_forever()
\" >/run/app.log 2>&1 &
         for i in $(seq 150); do [ -e /run/app.ready ] && break; sleep 0.2; done
         [ -e /run/app.ready ] || {{ cat /run/app.log; exit 1; }}"
    )
}

pub fn run(ctx: &Context) -> Result<()> {
    let (farm, b) = farmsetup::start(ctx, SERVICES, None)?;
    let client = farm.vm("client")?;
    farm.par(&farm.node_names(), |vm| vm.sh(&app(vm.name())))?;
    client.sh(&format!(
        "head -c {BODY} /dev/urandom > /tmp/body.bin; \
         head -c {HEADER} /dev/zero | tr '\\0' x > /tmp/xbig; \
         sha256sum /tmp/body.bin | cut -c1-64 > /tmp/body.sha; sleep 1"
    ))?;
    let want_sha = client.sh("cat /tmp/body.sha")?.trim().to_string();
    log(&format!(
        "POST of {BODY} bytes (sha256 {}…) with a {HEADER}-byte header, {REQUESTS} times",
        &want_sha[..16]
    ));
    let out = client.run(
        &format!(
            "for i in $(seq {REQUESTS}); do \
               curl -s --max-time 30 -H \"X-Big: $(cat /tmp/xbig)\" -H 'Expect:' \
                 --data-binary @/tmp/body.bin http://{VIP}:{PORT}/ || echo curl-failed-$?; echo; \
             done"
        ),
        T,
    )?;
    let answers: Vec<&str> = out.stdout.lines().filter(|l| !l.is_empty()).collect();
    let mut served = Vec::new();
    for a in &answers {
        let f: Vec<&str> = a.split_whitespace().collect();
        match f.as_slice() {
            [name, len, sha, big]
                if *len == BODY.to_string()
                    && *sha == want_sha
                    && *big == HEADER.to_string()
                    && (*name == "node2" || *name == "node3") =>
            {
                served.push(*name)
            }
            _ => bail!(
                "the request did not arrive whole at node2/node3: {a:?}\n{}",
                diagnose(&farm, &b)
            ),
        }
    }
    if served.len() != REQUESTS || served != ["node2", "node3", "node2", "node3"] {
        bail!("expected {REQUESTS} answers alternating node2/node3: {answers:?}");
    }
    log(&format!(
        "every request arrived whole (length, sha256, header): {served:?}"
    ));
    let s1 = stats(farm.vm("node1")?, &b)?;
    let mut received = 0;
    for n in ["node2", "node3"] {
        received += counter(&stats(farm.vm(n)?, &b)?, "handoffs_received");
    }
    // Two frames per handoff: the first segment is a full MSS.
    if counter(&s1, "handoff_frames_tx") < 2 * REQUESTS as u64 || received != REQUESTS as u64 {
        bail!(
            "node1 sent {} frames; node2+node3 received {received} handoffs:\n{s1}",
            counter(&s1, "handoff_frames_tx")
        );
    }
    log(&format!(
        "node1 sent {} handoff frames for {REQUESTS} connections; node2+node3 rebuilt {received}",
        counter(&s1, "handoff_frames_tx")
    ));
    farmsetup::finish(ctx, farm)
}
