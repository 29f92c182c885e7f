//! The registry of named farm scenarios.

mod alloc_faults;
mod control_plane;
mod farm_smoke;
mod frontend_failover;
mod frontend_syn;
mod handoff_bad_frames;
mod handoff_concurrency;
mod handoff_http;
mod handoff_http_rules;
mod handoff_mptcp;
mod handoff_options;
mod handoff_split_request;
mod handoff_syn_flood;
mod harness_selftest;
mod hostile_client;
mod kunit_baton;
mod node_death_loop;
mod node_reboot;
mod overload_burst;
mod policy_consistent_hash;
mod policy_lard;
mod policy_least_loaded;
mod redist_faults;
mod sync_bad_frames;
mod sync_converge;
mod sync_drain;
mod sync_node_death;
mod udp_flows;
mod vip_fencing;
mod ynl_cli;

use crate::context::Context;
use baton_farm::Result;

/// A named end-to-end scenario. It boots the VMs it needs, checks
/// something, ends with the kernel-log check, and shuts the VMs down.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Its name, as printed in `ok NAME` and accepted on the command line.
    pub name: &'static str,
    /// One line on what it checks.
    pub about: &'static str,
    /// The check itself.
    pub run: fn(&Context) -> Result<()>,
    /// Whether it boots the standard farm ([`Context::boot_standard`]):
    /// the runner boots one ahead for it while the scenario before runs.
    pub standard_farm: bool,
}

/// The scenarios `xtask check` runs when none is named, in order. Under a
/// time budget (`make check`: CI's 90 minutes) the last ones may be
/// skipped on a slow host, so the order is by what a run must not miss:
/// the foundation, the handoff path, the farm state and failover (the
/// newest work), then the control plane and the data path's finer cases,
/// last the two remaining policies and the harness's own self-test.
pub const DEFAULT: &[&str] = &[
    "kunit_baton",
    "farm_smoke",
    "handoff_http",
    "handoff_mptcp",
    "hostile_client",
    "sync_node_death",
    "frontend_failover",
    "long_lived_failover",
    "node_death_loop",
    "vip_fencing",
    "node_reboot",
    "sync_bad_frames",
    "sync_drain",
    "policy_consistent_hash",
    "sync_converge",
    "control_plane",
    "handoff_bad_frames",
    "handoff_options",
    "handoff_split_request",
    "handoff_http_rules",
    "handoff_concurrency",
    "redist_faults",
    "alloc_faults",
    "overload_burst",
    "handoff_syn_flood",
    "udp_flows",
    "frontend_syn",
    "policy_least_loaded",
    "policy_lard",
    "harness_selftest",
];

/// Every scenario.
pub const ALL: &[Scenario] = &[
    Scenario {
        name: "kunit_baton",
        about: "one node: insmod baton.ko, its KUnit suite `baton` passes, rmmod, clean dmesg",
        run: kunit_baton::run,
        standard_farm: false,
    },
    Scenario {
        name: "farm_smoke",
        about: "whole farm: boots, baton loads on every node, the four networks connect \
                their members and only them, rmmod is clean, clean dmesg everywhere",
        run: farm_smoke::run,
        standard_farm: true,
    },
    Scenario {
        name: "control_plane",
        about: "whole farm: batonctl apply/read back/change/delete on every node, counters \
                move with traffic, invalid and non-admin requests refused with state unchanged, \
                rmmod under a batonctl loop, per-namespace config, the kernel's ynl cli.py \
                configures and dumps a namespace from the spec (ynl_cli), clean dmesg/kmemleak",
        run: control_plane::run,
        standard_farm: true,
    },
    Scenario {
        name: "ynl_cli",
        about: "node1 alone (also step 8 of control_plane, so not in the default set): the \
                kernel's tools/net/ynl/cli.py with baton's spec configures node, peer, service \
                and key in a namespace, its do/dump reads equal what was set and batonctl's view",
        run: ynl_cli::run,
        standard_farm: true,
    },
    Scenario {
        name: "frontend_failover",
        about: "whole farm, vip_takeover on every node: node1 (the front-end) is powered off \
                under four long downloads handed to node2/node3; node2 takes the VIP over \
                (gratuitous ARP), forwards node3's connections from the synced ownership \
                table, every download completes intact, new connections are served",
        run: frontend_failover::run,
        standard_farm: true,
    },
    Scenario {
        name: "long_lived_failover",
        about: "frontend_failover with conn_idle_timeout_s=5 on every node and the downloads \
                held 20 s before node1 dies: the serving nodes' records live by their open \
                sockets, node2 still knows every owner, every download completes intact",
        run: frontend_failover::run_long_lived,
        standard_farm: true,
    },
    Scenario {
        name: "node_death_loop",
        about: "whole farm: node3 is powered off under slow downloads and a loop of fetches, \
                after a burst left its records lingering: node1 resets node3's clients within \
                seconds of the death (conns_lost), node2's downloads complete intact, and no \
                fetch started after node1 saw the death fails",
        run: node_death_loop::run,
        standard_farm: true,
    },
    Scenario {
        name: "vip_fencing",
        about: "whole farm, vip_takeover and the VIP on lo everywhere: node1's module goes, \
                node2 takes the VIP; node1 returns with its clock an hour behind (its peers \
                refuse its stale epoch) and stays off the VIP node2 announces holding: only \
                node2 answers the router's ARP, requests are served",
        run: vip_fencing::run,
        standard_farm: true,
    },
    Scenario {
        name: "frontend_syn",
        about: "client + router + node1: node1's front-end answers the handshake to the VIP \
                itself (SYN-cookie SYN-ACK with MSS, SACK, timestamps, window scale), counted; \
                without a service or public role the kernel refuses",
        run: frontend_syn::run,
        standard_farm: true,
    },
    Scenario {
        name: "handoff_http",
        about: "whole farm: node1 answers each handshake, reads the request and hands the \
                connection to node2/node3 (round-robin) over the redistribution network; their \
                unmodified nginx answers the client directly from the VIP (bodies, an 8 MiB \
                checksum with node1's public interface nearly silent, who sent the responses, \
                frames on redist, counters), keep-alive, the rebuilt socket's options, policy \
                local through the same rebuild, tables empty again afterwards",
        run: handoff_http::run,
        standard_farm: true,
    },
    Scenario {
        name: "handoff_mptcp",
        about: "whole farm: node2's listener is MPTCP, node3's TCP: node2 refuses every rebuild \
                (counted), node1 hands the connections to node3, all answered, KASAN clean",
        run: handoff_mptcp::run,
        standard_farm: true,
    },
    Scenario {
        name: "overload_burst",
        about: "whole farm: 2000 clients at once through the VIP, every nginx with a listen \
                backlog of 64 and accepting nothing for 3 s: nodes without room refuse before \
                rebuilding (queue_full), the front-end holds the requests unacknowledged and \
                places them as room appears: every client answered, no rebuild failed, tables \
                drain",
        run: overload_burst::run,
        standard_farm: true,
    },
    Scenario {
        name: "hostile_client",
        about: "whole farm: blind RST/FIN against keep-alive connections (they survive), \
                connect-and-close without a request (the application reads EOF, the FIN is \
                acknowledged), client port reuse over a lingering record and a TIME_WAIT \
                socket (every fetch answered), MSS 500, a 1400-byte MTU hop (ICMP forwarded), \
                requests in reordered segments never retransmitted (held, answered), clients of a busy \
                listener under policy local (its full accept queue found, all answered), churn \
                with short connections (no errors, tables drain)",
        run: hostile_client::run,
        standard_farm: true,
    },
    Scenario {
        name: "handoff_bad_frames",
        about: "whole farm: a captured handoff replayed, bit-flipped (header, record, tag), \
                truncated, oversized and garbage frames sent to node2 are all dropped and \
                counted, no socket is created, and handoffs continue",
        run: handoff_bad_frames::run,
        standard_farm: true,
    },
    Scenario {
        name: "handoff_options",
        about: "whole farm: an 8 MiB download through the VIP under 1% loss, reordering and \
                delay (netem on a router VM) arrives intact; a client without timestamps, SACK \
                and window scaling gets an MSS-only SYN-ACK and its download arrives intact; \
                one without timestamps keeps SACK and window scaling (pending handshake)",
        run: handoff_options::run,
        standard_farm: false,
    },
    Scenario {
        name: "handoff_split_request",
        about: "whole farm: POSTs of 20 000 bytes with a 3 000-byte header through the VIP: \
                the first segment goes to node2/node3 in two handoff frames (reassembled), \
                the rest follows the connection; the application sees every byte",
        run: handoff_split_request::run,
        standard_farm: false,
    },
    Scenario {
        name: "handoff_http_rules",
        about: "whole farm: policy http-rules with Host and path-prefix rules on node1: each \
                request goes where its rule says (node2, node3, node1 itself), heads spanning \
                several segments are buffered and acknowledged by node1 first, a malformed \
                rule is refused with its reason, slow heads holding every buffer leave the \
                others routed by their heads and lose their buffers at the head deadline, \
                request buffers are free afterwards",
        run: handoff_http_rules::run,
        standard_farm: true,
    },
    Scenario {
        name: "handoff_concurrency",
        about: "whole farm: wrk with 200 keep-alive connections for 20 s through the VIP: \
                no errors, node2 and node3 both serve, every connection handed off, tables \
                drain afterwards",
        run: handoff_concurrency::run,
        standard_farm: true,
    },
    Scenario {
        name: "redist_faults",
        about: "whole farm: netem on every node's redist and sync interfaces drops, \
                duplicates and delays (reorders) a tenth of the frames of both ethertypes \
                while the client fetches (in sequence, with a multi-frame request head, a \
                burst, 8 MiB downloads): every fetch completes intact, duplicates are \
                refused by the replay windows, the tables drain once netem is gone",
        run: redist_faults::run,
        standard_farm: true,
    },
    Scenario {
        name: "node_reboot",
        about: "whole farm, vip_takeover: node1 (front-end, VIP holder) is power-cycled under                 a fetch loop: node2 takes the VIP over, node1 boots again, rejoins as a                 restarted node and serves; the router's ARP rounds never get two answers;                 fetches fail only between the power-off and the takeover",
        run: node_reboot::run,
        standard_farm: true,
    },
    Scenario {
        name: "alloc_faults",
        about: "whole farm: failslab makes 5 % of the slab allocations through baton's code                 fail on every node (its own, and the kernel's it asks for) while the client                 fetches and batonctl runs in a loop: every fetch answered or cleanly refused                 (none hangs), batonctl fails only for memory, baton counts the failures;                 afterwards every fetch answered, tables drain, no leak",
        run: alloc_faults::run,
        standard_farm: true,
    },
    Scenario {
        name: "handoff_syn_flood",
        about: "whole farm: a spoofed SYN flood from the client (30 s) against the VIP while \
                curls keep fetching through it: node1's pending-handshake table stays within \
                syn_table_max, cookies answer the rest, no record per spoofed SYN, spoofed UDP \
                flows within their quarter of a 128-record table, memory bounded, every fetch \
                intact and handed off, pending entries expire afterwards; a handshake while \
                the table is full waits (its ACK dropped) and is handed off once there is room",
        run: handoff_syn_flood::run,
        standard_farm: true,
    },
    Scenario {
        name: "udp_flows",
        about: "whole farm: a UDP echo service with policy round-robin; each flow's first \
                datagram picks node2 or node3, node1 forwards the flow's datagrams there, the \
                answers come straight from the VIP; counters",
        run: udp_flows::run,
        standard_farm: true,
    },
    Scenario {
        name: "harness_selftest",
        about: "one VM: the harness itself (results, errors, timeouts, collect, \
                overlays, and the dmesg check catching an injected WARNING)",
        run: harness_selftest::run,
        standard_farm: false,
    },
    Scenario {
        name: "sync_converge",
        about: "whole farm: every node's `batonctl farm` lists the three nodes alive with \
                their redistribution MACs within a few announce intervals; handed-off \
                connections show in node1's view as the serving nodes' announced owned \
                counts; sync frames sent and received, none rejected once configured",
        run: sync_converge::run,
        standard_farm: true,
    },
    Scenario {
        name: "sync_bad_frames",
        about: "whole farm: forged, replayed, truncated, oversized, wrong-version and \
                wrongly-keyed sync frames from node3 and one on the wrong interface are all \
                dropped and counted by node2; its farm table is unchanged",
        run: sync_bad_frames::run,
        standard_farm: true,
    },
    Scenario {
        name: "sync_node_death",
        about: "whole farm, least-loaded, no static peers: every node learns the others from the sync network and node1 hands off to them; baton unloaded on node3 -> node1 sees it dead within \
                sync_missed_limit intervals, requests keep succeeding without it; reloaded -> \
                alive again with a new epoch and served again",
        run: sync_node_death::run,
        standard_farm: true,
    },
    Scenario {
        name: "policy_least_loaded",
        about: "whole farm, least-loaded: held-open connections are spread over every node \
                and node1's owned counts match them node by node; a node's weight, drain and \
                health are announced at once and a drained or failing node gets nothing",
        run: policy_least_loaded::run,
        standard_farm: true,
    },
    Scenario {
        name: "sync_drain",
        about: "whole farm, least-loaded: node3 drained while slow downloads run on it gets \
                no new connections, its downloads complete intact; active again, it serves",
        run: sync_drain::run,
        standard_farm: true,
    },
    Scenario {
        name: "policy_consistent_hash",
        about: "whole farm, consistent-hash: fixed client ports keep their node; node3 \
                drained moves its keys (about 1/3) and barely any other; back, every key \
                returns",
        run: policy_consistent_hash::run,
        standard_farm: true,
    },
    Scenario {
        name: "policy_lard",
        about: "whole farm, lard: under light load each path keeps one node and paths \
                spread; more than T_high held connections on a path's node move the path \
                to another node",
        run: policy_lard::run,
        standard_farm: true,
    },
];

/// The scenario called `name`.
pub fn find(name: &str) -> Option<&'static Scenario> {
    ALL.iter().find(|s| s.name == name)
}
