//! `handoff_mptcp`: a serving node whose listener is MPTCP refuses the
//! rebuild cleanly. node2's application listens with `IPPROTO_MPTCP` (as
//! `mptcpize run`, Go ≥ 1.24 or HAProxy's `mptcp@` do), node3's with plain
//! TCP. A request sock allocated for an MPTCP subflow listener through the
//! TCP path is smaller than what the listener writes into it when it takes
//! the ACK (slab corruption in softirq, which the debug kernel's KASAN
//! reports); baton must refuse such a rebuild (`rebuild_refused_mptcp`),
//! and the front-end then hands the connection to the next node: every
//! request is answered, by node3, and the kernel logs stay clean.

use crate::context::Context;
use crate::farmsetup::{self, counter, diagnose, stats, VIP};
use baton_farm::{bail, log, Result};
use std::time::Duration;

const PORT: u16 = 8080;
const REQUESTS: usize = 6;
const T: Duration = Duration::from_secs(120);

const SERVICES: &str = "\n[[service]]\nvip = \"203.0.113.100\"\nport = 8080\nproto = \"tcp\"\npolicy = \"round-robin\"\n";

/// An HTTP server answering every GET with its node's name, listening with
/// `proto` (`mptcp` or `tcp`); `/run/app.ready` says the listener is up.
fn app(name: &str, proto: &str) -> String {
    format!(
        "rm -f /run/app.ready; nohup python3 -c \"
import http.server, socket
proto = socket.IPPROTO_MPTCP if '{proto}' == 'mptcp' else 0
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        out = b'{name}'
        self.send_response(200)
        self.send_header('Content-Length', str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *a):
        pass
class S(http.server.HTTPServer):
    def __init__(self, addr, handler):
        super().__init__(addr, handler, bind_and_activate=False)
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
        self.server_bind()
        self.server_activate()
s = S(('0.0.0.0', {PORT}), H)
open('/run/app.ready', 'w').write('{proto}')
s.serve_forever()
\" >/run/app.log 2>&1 &
         for i in $(seq 100); do [ -e /run/app.ready ] && break; sleep 0.2; done
         cat /run/app.ready || {{ cat /run/app.log; exit 1; }}"
    )
}

pub fn run(ctx: &Context) -> Result<()> {
    let (farm, b) = farmsetup::start(ctx, SERVICES, None)?;
    let client = farm.vm("client")?;
    let node2 = farm.vm("node2")?;
    let node3 = farm.vm("node3")?;
    node2.sh(&app("node2", "mptcp"))?;
    node3.sh(&app("node3", "tcp"))?;
    // The listener is really MPTCP: the kernel lists it among MPTCP sockets.
    let listed = node2.sh(&format!("ss -Hln -M 'sport = :{PORT}' | wc -l"))?;
    if listed.trim() == "0" {
        bail!("node2's listener is not an MPTCP socket (`ss -M` lists none)");
    }
    log(&format!(
        "node2 listens with MPTCP (`ss -M` lists {} socket), node3 with TCP",
        listed.trim()
    ));
    let out = client.run(
        &format!(
            "for i in $(seq {REQUESTS}); do \
               curl -s --max-time 20 http://{VIP}:{PORT}/ || echo curl-failed-$?; echo; \
             done"
        ),
        T,
    )?;
    let answers: Vec<&str> = out.stdout.lines().filter(|l| !l.is_empty()).collect();
    if answers.len() != REQUESTS || answers.iter().any(|a| *a != "node3") {
        bail!(
            "expected {REQUESTS} answers, all from node3 (node2's listener is MPTCP): {answers:?}\n{}",
            diagnose(&farm, &b)
        );
    }
    let s1 = stats(farm.vm("node1")?, &b)?;
    let s2 = stats(node2, &b)?;
    let refused = counter(&s2, "rebuild_refused_mptcp");
    if refused == 0 || counter(&s2, "sockets_rebuilt") != 0 {
        bail!("node2 should have refused its handoffs as MPTCP and rebuilt none:\n{s2}");
    }
    if counter(&s1, "handoffs_failed") < refused {
        bail!("node1 did not see node2's {refused} refusals:\n{s1}");
    }
    log(&format!(
        "all {REQUESTS} requests answered by node3; node2 refused {refused} rebuilds for its MPTCP listener"
    ));
    farmsetup::finish(ctx, farm)
}
