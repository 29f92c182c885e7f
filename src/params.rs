// SPDX-License-Identifier: GPL-2.0

//! Global tunables, as module parameters under
//! `/sys/module/baton/parameters/`. Each write is range-checked; a rejected
//! write leaves the old value. `Documentation/admin-guide.md` has the table.

use crate::wrap::param::uint_params;

uint_params! {
    /// Maximum number of connection records per network namespace.
    conn_table_max: "maximum connection records per namespace (read when a namespace appears)" = 16384, 64..=4194304;
    /// Pending handshakes kept before answering SYNs with cookies only.
    syn_table_max: "pending handshakes before SYN cookies take over" = 4096, 0..=1048576;
    /// Idle timeout of an established connection record, in seconds.
    conn_idle_timeout_s: "idle timeout of a connection record (s)" = 900, 5..=86400;
    /// Interval between sync announcements, in milliseconds.
    sync_interval_ms: "interval between sync announcements (ms)" = 100, 10..=10000;
    /// Missed sync intervals after which a node is declared dead.
    sync_missed_limit: "missed sync intervals before a node is dead" = 5, 2..=100;
    /// Front-end failover: 1 = this node takes the VIPs of its services
    /// over (answers ARP for them, announces them with gratuitous ARP)
    /// while every lower-numbered node of the farm is dead.
    vip_takeover: "take the VIPs over while every lower-numbered node is dead (0/1)" = 0, 0..=1;
    /// 1 = count every IPv4 packet at pre-routing, in every namespace, and
    /// per service (what `/proc/net/snmp` mostly counts already): off by
    /// default, so that traffic baton has no part in is not parsed.
    ipv4_counters: "count every IPv4 packet at pre-routing, and per service (0/1)" = 0, 0..=1;
}
