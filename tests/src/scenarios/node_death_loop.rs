//! `node_death_loop`: a serving node dies under load.
//!
//! Round robin over the farm, nginx everywhere. A burst leaves its records
//! lingering in node1's table; four downloads are then read slowly (two
//! handed to node2, two to node3), and a loop of fetches runs (four at a
//! time, one round after the other). node3 is powered off (qemu killed:
//! no goodbye on any network). node1 declares it dead on the sync
//! network; once it has been silent for `conn::OWNER_SILENT_MS` the
//! connections handed to it are lost: node1 resets their clients (from
//! its expiry timer: they are waiting for data and send nothing) instead
//! of leaving them to hang until their own timeouts. Checked: node3's
//! downloads end with a reset within seconds of the death, node2's
//! complete intact, and no fetch of the loop started after node1 saw the
//! death fails (they go to node1 and node2; none of the lingering records
//! of the burst gets in their way).

use crate::context::Context;
use crate::farmsetup::{self, counter, diagnose, stats, wait_for, VIP};
use baton_farm::{bail, log, Farm, Result};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Size of each download (KiB): long enough to be read slowly for minutes.
const BIG_KIB: usize = 4096;
/// Concurrent downloads (round robin: half on node2, half on node3).
const DOWNLOADS: usize = 4;
/// Requests of the burst before the downloads.
const BURST: usize = 60;
/// How long node3's clients may wait for their reset (on the wire) after
/// node1 saw the death: two seconds of silence, the once-a-second expiry
/// tick, and the harness's polling on a loaded host.
const RESET_WITHIN_S: f64 = 6.0;
/// How long the fetch loop runs after node1 saw the death.
const LOOP_AFTER_S: u64 = 15;

const SERVICES: &str = "\n[[service]]\nvip = \"203.0.113.100\"\nport = 80\nproto = \"tcp\"\npolicy = \"round-robin\"\n";

/// Seconds since the epoch on the host (the client namespace shares its
/// clock).
fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Starts download `i` on the client: the first MiB at once, then slowly
/// (a small receive buffer, 4 KiB per 0.5 s) until `/tmp/go` exists. It
/// writes its local port to `/tmp/dl-I.port`, its progress to
/// `/tmp/dl-I.progress`, and ends with one line in `/tmp/dl-I.out`:
/// `done LEN SHA256`, `reset TIME LEN` (the socket reported the reset at
/// host time TIME, once it had read what it had received before it) or
/// `error TIME LEN WHAT`.
fn start_download(farm: &Farm, i: usize) -> Result<()> {
    farm.vm("client")?.sh(&format!(
        "rm -f /tmp/go; setsid nohup python3 -c \"
import hashlib, os, socket, time
total, h = 0, hashlib.sha256()
try:
    s = socket.create_connection(('{VIP}', 80))
    open('/tmp/dl-{i}.port', 'w').write(str(s.getsockname()[1]))
    s.settimeout(120)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(b'GET /big.bin HTTP/1.1\\r\\nHost: {VIP}\\r\\nConnection: close\\r\\n\\r\\n')
    head, body = b'', None
    while True:
        b = s.recv(4096)
        if not b:
            break
        if body is None:
            head += b
            if b'\\r\\n\\r\\n' not in head:
                continue
            head, _, b = head.partition(b'\\r\\n\\r\\n')
            body = True
        h.update(b)
        total += len(b)
        if total % 262144 < len(b):
            open('/tmp/dl-{i}.progress', 'w').write(str(total))
        if total > 1048576 and not os.path.exists('/tmp/go'):
            time.sleep(0.5)
    print('done', total, h.hexdigest())
except ConnectionResetError:
    print('reset', time.time(), total)
except Exception as e:
    print('error', time.time(), total, repr(e))
\" > /tmp/dl-{i}.out 2>&1 < /dev/null &"
    ))?;
    Ok(())
}

/// The fetch loop: rounds of four concurrent fetches until `/tmp/stop`
/// exists; one line per fetch in `/tmp/loop.out`: start time, end time,
/// body (or `FAIL`).
const FETCH_LOOP: &str = "rm -f /tmp/stop /tmp/loop.out; setsid nohup bash -c '
while [ ! -e /tmp/stop ]; do
  for i in 1 2 3 4; do
    ( s=$(date +%s.%N); r=$(curl -s --max-time 15 http://203.0.113.100/who.txt) || r=FAIL
      echo \"$s $(date +%s.%N) ${r:-FAIL}\" >> /tmp/loop.out ) &
  done
  wait
done' > /dev/null 2>&1 < /dev/null &";

/// What the client sees, for failure reports.
fn client_view(farm: &Farm) -> String {
    farm.vm("client")
        .and_then(|c| {
            c.sh(&format!(
                "for f in /tmp/dl-*; do echo \"$f: $(cat $f)\"; done; ss -tin dst {VIP}"
            ))
        })
        .unwrap_or_else(|e| e.to_string())
}

pub fn run(ctx: &Context) -> Result<()> {
    let (farm, b) = farmsetup::start(ctx, SERVICES, Some(BIG_KIB))?;
    farmsetup::wait_farm_converged(&farm, &b, Duration::from_secs(10))?;
    let (node1, node2, node3) = (farm.vm("node1")?, farm.vm("node2")?, farm.vm("node3")?);
    let client = farm.vm("client")?;

    // A burst whose records linger in node1's table (10 s after close).
    let answers = farmsetup::burst(&farm, BURST, 60)?;
    if answers.len() != BURST {
        bail!(
            "the burst got {} answers of {BURST}\n{}",
            answers.len(),
            diagnose(&farm, &b)
        );
    }
    let node2_sum = node2
        .sh("sha256sum /tmp/www/big.bin | cut -c1-64")?
        .trim()
        .to_string();
    for i in 0..DOWNLOADS {
        start_download(&farm, i)?;
    }
    let slow = wait_for(Duration::from_secs(60), || {
        let p = client.sh("for f in /tmp/dl-*.progress; do cat $f 2>/dev/null; echo; done")?;
        let n = p
            .split_whitespace()
            .filter(|v| v.parse::<usize>().is_ok_and(|v| v > 1 << 20))
            .count();
        Ok((n == DOWNLOADS).then_some(()))
    })?;
    if slow.is_none() {
        bail!(
            "the downloads did not get past their first MiB\n{}\n{}",
            client_view(&farm),
            diagnose(&farm, &b)
        );
    }
    let on3 = counter(&stats(node3, &b)?, "conn_table_entries");
    client.sh(FETCH_LOOP)?;
    std::thread::sleep(Duration::from_secs(3));
    log(&format!(
        "burst of {BURST} answered; {DOWNLOADS} downloads in their slow phase \
         (node3's table: {on3} records); fetch loop running"
    ));

    // The resets the client gets, for the report.
    client.sh(
        "setsid nohup tcpdump -l -i any -n -tt 'src host 203.0.113.100 and \
         tcp[tcpflags] & tcp-rst != 0' > /tmp/rst.txt 2>/dev/null < /dev/null & sleep 1",
    )?;
    node3.power_off();
    let killed = now_s();
    log("node3 powered off");
    let seen = wait_for(Duration::from_secs(30), || {
        Ok((counter(&stats(node1, &b)?, "sync_nodes_died") >= 1).then_some(()))
    })?;
    if seen.is_none() {
        bail!("node1 did not declare node3 dead\n{}", diagnose(&farm, &b));
    }
    let dead = now_s();
    log(&format!(
        "node1 declared node3 dead {:.1} s after the kill (as the harness polls)",
        dead - killed
    ));

    // node3's clients are reset; node2's downloads go on.
    let resets = wait_for(Duration::from_secs(30), || {
        let out = client.sh("cat /tmp/dl-*.out 2>/dev/null; true")?;
        let n = out.lines().filter(|l| l.starts_with("reset")).count();
        Ok((n >= DOWNLOADS / 2).then_some(out))
    })?;
    let Some(ends) = resets else {
        bail!(
            "node3's downloads were not reset within 30 s of its death\n{}\n{}",
            client_view(&farm),
            diagnose(&farm, &b)
        );
    };
    // When each reset reached the client (its socket reports it only once
    // the application has read what came before).
    let rsts = client.sh("cat /tmp/rst.txt")?;
    let mut latest = f64::NEG_INFINITY;
    for l in ends.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.first() != Some(&"reset") {
            bail!(
                "a download ended otherwise than by node3's reset: {l}\n{}\n{}",
                client_view(&farm),
                diagnose(&farm, &b)
            );
        }
    }
    let ports = client.sh(
        "for i in $(seq 0 3); do grep -q '^reset' /tmp/dl-$i.out && cat /tmp/dl-$i.port && echo; done; true",
    )?;
    for port in ports.split_whitespace() {
        let to = format!(".{port}: Flags [R");
        let first = rsts
            .lines()
            .filter(|l| l.contains(&to))
            .find_map(|l| l.split_whitespace().next()?.parse::<f64>().ok());
        let Some(at) = first else {
            bail!("no reset to port {port} captured on the client:\n{rsts}");
        };
        latest = latest.max(at - dead);
    }
    if latest > RESET_WITHIN_S {
        let s1 = stats(node1, &b)?;
        bail!(
            "node3's clients were reset up to {latest:.1} s after node1 saw the death \
             (node1: conns_lost {}, lost_resets_sent {})\n{ends}\nresets seen:\n{rsts}\n{}",
            counter(&s1, "conns_lost"),
            counter(&s1, "lost_resets_sent"),
            diagnose(&farm, &b)
        );
    }
    log(&format!(
        "node3's {} downloads reset, the last reset on the wire {:.1} s after the kill \
         ({latest:+.1} s from when the harness saw node1 declare the death)",
        DOWNLOADS / 2,
        latest + dead - killed
    ));

    // The loop goes on, then node2's downloads finish.
    std::thread::sleep(Duration::from_secs(LOOP_AFTER_S));
    client.sh("touch /tmp/stop /tmp/go")?;
    let finished = wait_for(Duration::from_secs(120), || {
        let n = client.sh("cat /tmp/dl-*.out 2>/dev/null | grep -c . || true")?;
        let looping =
            client.sh("pgrep -f 'while \\[ ! -e /tmp/stop' >/dev/null && echo y || true")?;
        Ok(
            (n.trim().parse::<usize>().unwrap_or(0) >= DOWNLOADS && looping.trim().is_empty())
                .then_some(()),
        )
    })?;
    let results = client.sh("for f in /tmp/dl-*.out; do echo \"$(cat $f)\"; done")?;
    if finished.is_none() {
        bail!(
            "node2's downloads or the fetch loop did not finish:\n{results}\n{}\n{}",
            client_view(&farm),
            diagnose(&farm, &b)
        );
    }
    for l in results.lines().filter(|l| !l.starts_with("reset")) {
        let want = format!("done {} {node2_sum}", BIG_KIB * 1024);
        if l.trim() != want {
            bail!(
                "node2's download is not intact: {l} (want {want})\n{}",
                diagnose(&farm, &b)
            );
        }
    }

    let lines = client.sh("cat /tmp/loop.out")?;
    let (mut before, mut after, mut failed_before) = (0usize, 0usize, 0usize);
    let mut failed = Vec::new();
    let mut slowest = 0.0f64;
    for l in lines.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (Some(start), Some(end), Some(body)) = (
            f.first().and_then(|t| t.parse::<f64>().ok()),
            f.get(1).and_then(|t| t.parse::<f64>().ok()),
            f.get(2),
        ) else {
            bail!("unreadable line of the fetch loop: {l}");
        };
        let ok = *body == "served-by-node1" || *body == "served-by-node2";
        if start >= dead {
            after += 1;
            slowest = slowest.max(end - start);
            if !ok {
                failed.push(l.to_string());
            }
        } else {
            before += 1;
            if *body == "FAIL" {
                failed_before += 1;
            }
        }
    }
    if after < 8 || !failed.is_empty() {
        bail!(
            "{} of {after} fetches started after node1 saw the death failed:\n{}\n{}",
            failed.len(),
            failed.join("\n"),
            diagnose(&farm, &b)
        );
    }
    let s1 = stats(node1, &b)?;
    let (lost, sent) = (counter(&s1, "conns_lost"), counter(&s1, "lost_resets_sent"));
    if lost < (DOWNLOADS / 2) as u64 || sent < (DOWNLOADS / 2) as u64 {
        bail!(
            "node1 counted {lost} lost connections and {sent} resets sent for them, \
             expected at least {} each\n{}",
            DOWNLOADS / 2,
            diagnose(&farm, &b)
        );
    }
    log(&format!(
        "fetch loop: {after} fetches started after node1 saw the death, all answered (slowest \
         {slowest:.1} s); before it {before}, {failed_before} of them failed (in flight to node3 \
         as it died); node1: conns_lost {lost}, lost_resets_sent {sent}; node2's downloads intact"
    ));
    farmsetup::assert_tables_drain(&farm, &b)?;
    farmsetup::finish(ctx, farm)
}
