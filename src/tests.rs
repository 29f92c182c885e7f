// SPDX-License-Identifier: GPL-2.0

//! The `baton` KUnit suite: runs when the module loads on a kernel with
//! KUnit, exercising the wrapper layer against the real kernel and the
//! shared packet logic as compiled into the module.

use core::sync::atomic::{AtomicU32, Ordering};

use kernel::{c_str, prelude::*, sync::Arc};

use crate::{
    baton_core::{
        auth::{derive_key, KeyPurpose},
        config::{Config, ConfigError, KeySpec, NodeSpec, PeerSpec, ServiceSpec},
        conninfo::{ConnFilter, ConnInfo},
        conntable::{ConnKey, ConnTable},
        cookie::FourTuple,
        ether::MacAddr,
        farm::Outcome,
        farmpolicy::FarmPolicy,
        genl::{AdminState, Attr, ConnState as WireState, LoadMetric, Protocol},
        handoff::{rebuild_len, rebuild_segment},
        http::{self, Status},
        ipv4::Ipv4Addr,
        policy::{choose, Choice, PolicyState, Request},
        seq::SeqNum,
        service::{FarmParams, ServiceKey},
        siphash::SipKey,
        synack::{Answered, SynMode, SynOptions},
        wire::{
            self,
            error::WireError,
            frame::FrameParams,
            list::List,
            message::Message,
            redist::{
                AckStatus, Close, CloseReason, ConnRecord, Handoff, HandoffAck, RefuseReason,
                Timestamps, WindowScale,
            },
            sync::{Announce, Health, Ownership, OwnershipEntry, OwnershipOp},
        },
    },
    conns::{select_from, Conn, ConnState, Conns, Scan, Selection, SELECT_BATCH},
    frontend::FrontEnd,
    heap::{Wipe, Wiped},
    netstate::{empty_config, NetState, Shared},
    nl::{config_error, conn_filter, rule_error, rule_spec},
    observer::Ipv4Observer,
    owners::{Owners, OWNERSHIP_TTL_MS, SWEEP_PERIOD_MS},
    pending_syn::{PendingSyns, PENDING_TIMEOUT_MS, PENDING_WAIT_MS},
    reasm::{Outcome as Reassembled, Reassemblies},
    rebuild::{self, attrs_of, tuple_of},
    redist,
    reqbuf::{RequestBuffers, REQUEST_BUFFERS, REQUEST_BUFFER_SIZE},
    stats::{ServiceStat, Stat},
    sync::SyncReceived,
    wrap::{
        boottime_ms,
        genl::AttrBuilder,
        kunit::{dev_addr, kassert, kassert_eq, kunit_suite, Listener, Test},
        netdev::{with_dev_rcu, Net, NetDevice},
        netfilter::{self, Hook, HookPoint, Verdict},
        packet::{self, FrameHandler, RxVerdict},
        param::{parse_u32, UintParam},
        percpu::PerCpuCounters,
        pernet::{with_state, PernetState, StateNet},
        rcu::{RcuBox, ReadGuard},
        realtime_ms,
        skb::{OwnedSkb, SkBuff},
        tcp::{connection_exists, RebuildError},
        timer::{Rearm, Timer, TimerHandler},
        work::{DelayedWork, WorkHandler},
        BhDisabled,
    },
};

kunit_suite!(
    "baton",
    [
        param_parse_and_range,
        percpu_counters_sum,
        observer_counts_and_survives_garbage,
        netdev_ingress_hook_registers_on_lo,
        packet_type_registers,
        timer_fires_and_rearms,
        delayed_work_runs_and_requeues,
        netstate_of_init_net_is_unconfigured,
        configuring_a_namespace_allocates_its_state,
        config_lifecycle_in_kernel,
        config_errors_become_extack,
        attrs_are_read_safely,
        observer_counts_per_service_from_the_rcu_snapshot,
        conn_ids_name_their_slot,
        rebuild_without_listener_is_refused,
        handoff_frames_authenticated_and_replay_checked,
        sync_announce_authenticated_and_applied,
        farm_policies_choose_from_the_table,
        conn_dump_selects_in_batches_and_filters,
        conn_dump_filter_attributes,
        syn_table_bounded_then_cookies,
        request_buffers_bounded_and_swept,
        rule_attributes_and_policy,
        ownership_table_learns_and_forgets,
        reassembly_in_any_order_and_superseded,
        announced_loads_are_bounded,
        unreadable_packets_are_dropped,
        snapshots_are_wiped_when_freed,
        rebuild_only_into_a_service,
        unsent_ownership_changes_are_sent_next_tick,
    ]
);

fn param_parse_and_range(t: &Test) {
    kassert_eq!(t, parse_u32(b"0"), Some(0));
    kassert_eq!(t, parse_u32(b"4294967295\n"), Some(u32::MAX));
    kassert_eq!(t, parse_u32(b"4294967296"), None);
    kassert_eq!(t, parse_u32(b""), None);
    kassert_eq!(t, parse_u32(b"\n"), None);
    kassert_eq!(t, parse_u32(b"-1"), None);
    kassert_eq!(t, parse_u32(b"12a"), None);
    let p = UintParam::new("test", 10, 5, 20);
    kassert!(t, p.set_from_str(b"21").is_err());
    kassert!(t, p.set_from_str(b"4").is_err());
    kassert!(t, p.set_from_str(b"x").is_err());
    kassert_eq!(t, p.get(), 10);
    kassert!(t, p.set_from_str(b"20\n").is_ok());
    kassert_eq!(t, p.get(), 20);
    kassert_eq!(t, p.range(), (5, 20));
}

fn percpu_counters_sum(t: &Test) {
    let Ok(c) = PerCpuCounters::<4>::new() else {
        return t.fail(file!(), line!(), format_args!("allocation failed"));
    };
    kassert_eq!(t, c.sum(0), 0);
    for _ in 0..1000 {
        c.add(1, 1);
    }
    c.add(3, 7);
    c.add(4, 9); // out of range: ignored
    kassert_eq!(t, c.sum(0), 0);
    kassert_eq!(t, c.sum(1), 1000);
    kassert_eq!(t, c.sum(3), 7);
    kassert_eq!(t, c.sum(4), 0);
}

/// A SYN from 198.51.100.2:40000 to 203.0.113.100:80 with Linux's options.
const SYN: [u8; 60] = [
    0x45, 0x00, 0x00, 0x3c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 198, 51, 100, 2, 203,
    0, 113, 100, // IPv4 (checksum filled in by the test)
    0x9c, 0x40, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0,
    0x00, 0x00, 0x00, 0x00, // TCP, data offset 10
    0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x03, 0x03, 0x07, // MSS, SACK_PERM, TS, NOP, WS
];

fn with_ip_checksum(mut p: [u8; 60]) -> [u8; 60] {
    let mut sum: u32 = 0;
    for i in (0..20).step_by(2) {
        sum += u32::from(u16::from_be_bytes([p[i], p[i + 1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let c = !(sum as u16);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p
}

fn new_shared(t: &Test) -> Option<Arc<Shared>> {
    let shared = Shared::new();
    if shared.is_err() {
        t.fail(file!(), line!(), format_args!("allocation failed"));
    }
    shared.ok()
}

/// The shared secret of key 1 in the tests.
const TEST_SECRET: [u8; 20] = *b"0123456789abcdef0123";

/// A fresh namespace state configured with key 1 (active, [`TEST_SECRET`])
/// and, if given, this node's id.
fn shared_with_key(t: &Test, node: Option<u32>) -> Option<Arc<Shared>> {
    let shared = new_shared(t)?;
    let Ok(mut c) = empty_config() else {
        t.fail(file!(), line!(), format_args!("allocation failed"));
        return None;
    };
    let spec = KeySpec {
        id: Some(1),
        secret: Some(&TEST_SECRET),
        active: true,
    };
    let node_ok = node.is_none_or(|id| {
        let node = NodeSpec {
            id: Some(id),
            ..Default::default()
        };
        c.node_new(&node).is_ok()
    });
    if c.key_new(&spec).is_err() || !node_ok {
        t.fail(file!(), line!(), format_args!("test configuration refused"));
        return None;
    }
    shared.snapshot.replace(c);
    Some(shared)
}

/// [`TEST_SECRET`]'s key for `purpose`.
fn test_key(t: &Test, purpose: KeyPurpose) -> Option<SipKey> {
    let k = derive_key(&TEST_SECRET, purpose).ok();
    if k.is_none() {
        t.fail(file!(), line!(), format_args!("key derivation failed"));
    }
    k
}

fn observer_counts_and_survives_garbage(t: &Test) {
    let Some(shared) = new_shared(t) else { return };
    let stats = &shared.stats;
    let obs = Ipv4Observer::new(shared.clone());
    let syn = with_ip_checksum(SYN);
    obs.observe(&syn);
    kassert_eq!(t, stats.get(Stat::Ipv4Packets), 1);
    kassert_eq!(t, stats.get(Stat::TcpSegments), 1);
    kassert_eq!(t, stats.get(Stat::TcpSyns), 1);
    kassert_eq!(t, stats.malformed_total(), 0);

    // Every truncation of a valid packet is malformed, never a crash.
    for len in 0..syn.len() {
        obs.observe(&syn[..len]);
    }
    kassert_eq!(t, stats.get(Stat::Ipv4Packets), 61);
    kassert_eq!(t, stats.get(Stat::TcpSyns), 1);
    kassert!(t, stats.malformed_total() >= 40);

    // A broken option (length 1) is a malformed TCP header.
    let mut bad = SYN;
    bad[40 + 1] = 1;
    obs.observe(&with_ip_checksum(bad));
    kassert_eq!(t, stats.get(Stat::MalformedTcp) >= 1, true);
}

struct CountingHook(AtomicU32);

impl Hook for CountingHook {
    fn hook(&self, _skb: &mut SkBuff<'_>) -> Verdict {
        self.0.fetch_add(1, Ordering::Relaxed);
        Verdict::Accept
    }
}

impl FrameHandler for CountingHook {
    fn receive(&self, _skb: &mut SkBuff<'_>) -> RxVerdict {
        self.0.fetch_add(1, Ordering::Relaxed);
        RxVerdict::Dropped
    }
}

fn netdev_ingress_hook_registers_on_lo(t: &Test) {
    let Some(lo) = NetDevice::by_name(Net::init(), c_str!("lo")) else {
        return t.fail(file!(), line!(), format_args!("no lo device"));
    };
    kassert_eq!(t, lo.ifindex(), 1);
    let reg = netfilter::Registration::new(
        &StateNet::init(),
        HookPoint::NetdevIngress {
            dev: lo,
            priority: 0,
        },
        CountingHook(AtomicU32::new(0)),
    );
    kassert!(t, reg.is_ok());
    // Dropping unregisters and waits for in-flight hooks.
    drop(reg);
    kassert!(
        t,
        NetDevice::by_name(Net::init(), c_str!("no-such-dev0")).is_none()
    );
}

fn packet_type_registers(t: &Test) {
    let reg = packet::Registration::new(0x88b7, None, CountingHook(AtomicU32::new(0)));
    kassert!(t, reg.is_ok());
    if let Ok(reg) = reg {
        kassert_eq!(t, reg.handler().0.load(Ordering::Relaxed), 0);
    }
}

struct Ticks {
    count: AtomicU32,
    limit: u32,
}

impl TimerHandler for Ticks {
    fn expired(&self) -> Rearm {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        if n < self.limit {
            Rearm::AfterMs(1)
        } else {
            Rearm::No
        }
    }
}

/// `count` once it reaches `n`, or after 2 s (a bounded wait for a
/// handler re-armed every millisecond).
fn count_after_waiting(count: &AtomicU32, n: u32) -> u32 {
    for _ in 0..200 {
        if count.load(Ordering::Relaxed) >= n {
            break;
        }
        crate::wrap::sleep_ms(10);
    }
    count.load(Ordering::Relaxed)
}

fn timer_fires_and_rearms(t: &Test) {
    let Ok(timer) = Timer::new(Ticks {
        count: AtomicU32::new(0),
        limit: 3,
    }) else {
        return t.fail(file!(), line!(), format_args!("allocation failed"));
    };
    timer.start(1);
    kassert_eq!(t, count_after_waiting(&timer.handler().count, 3), 3);
    // A timer dropped while armed is shut down before its handler is freed.
    let Ok(armed) = Timer::new(Ticks {
        count: AtomicU32::new(0),
        limit: u32::MAX,
    }) else {
        return;
    };
    armed.start(1);
    crate::wrap::sleep_ms(20);
    drop(armed);
}

impl WorkHandler for Ticks {
    fn run(&self) -> Rearm {
        // Process context: sleeping is allowed.
        crate::wrap::sleep_ms(1);
        self.expired()
    }
}

fn delayed_work_runs_and_requeues(t: &Test) {
    let Ok(work) = DelayedWork::new(Ticks {
        count: AtomicU32::new(0),
        limit: 3,
    }) else {
        return t.fail(file!(), line!(), format_args!("allocation failed"));
    };
    work.start(1);
    kassert_eq!(t, count_after_waiting(&work.handler().count, 3), 3);
    // Work dropped while queued or running is disabled and waited for
    // before its handler is freed.
    let Ok(queued) = DelayedWork::new(Ticks {
        count: AtomicU32::new(0),
        limit: u32::MAX,
    }) else {
        return;
    };
    queued.start(1);
    crate::wrap::sleep_ms(20);
    drop(queued);
}

fn netstate_of_init_net_is_unconfigured(t: &Test) {
    // The pernet registration created the state of the initial namespace
    // before the suite ran (it runs at the end of module load); nothing has
    // configured it, so it has no tables, hooks or timers.
    let configured = with_state::<NetState, _>(Net::init(), |s| s.configured().is_some());
    kassert_eq!(t, configured, Some(false));
}

fn configuring_a_namespace_allocates_its_state(t: &Test) {
    // A state of its own for the initial namespace (which never exits), not
    // the registered one: the suite leaves the namespace as it found it.
    let Ok(state) = <NetState as PernetState>::new(StateNet::init()) else {
        return t.fail(file!(), line!(), format_args!("allocation failed"));
    };
    kassert!(t, state.configured().is_none());
    // A refused change (no node to delete) configures nothing.
    let refused = state.change(|c| c.node_del());
    kassert!(t, matches!(refused, Ok(Err(ConfigError::NoNode))));
    kassert!(t, state.configured().is_none());
    // The first change that succeeds allocates the tables and applies.
    let Ok(first) = state.configure() else {
        return t.fail(file!(), line!(), format_args!("allocation failed"));
    };
    kassert!(t, first.config.lock().node().is_none());
    kassert!(t, first.shared.conns.with(|c| c.table().is_some()));
    // Configured once: later calls find the same state.
    let again = state.configure().map(|c| core::ptr::eq(c, first));
    kassert!(t, matches!(again, Ok(true)));
}

/// A configuration of node 1 with peer 2 (its spec returned too).
fn node1_with_peer2(t: &Test) -> Option<(KBox<Wiped<Config>>, PeerSpec)> {
    let Ok(mut c) = empty_config() else {
        t.fail(file!(), line!(), format_args!("allocation failed"));
        return None;
    };
    let node = NodeSpec {
        id: Some(1),
        ..Default::default()
    };
    let peer = PeerSpec {
        id: Some(2),
        mac: Some([0x52, 0x54, 0, 3, 0, 12]),
        ..Default::default()
    };
    if c.node_new(&node).is_err() || c.peer_new(&peer).is_err() {
        t.fail(file!(), line!(), format_args!("node 1 with peer 2 refused"));
        return None;
    }
    Some((c, peer))
}

fn config_lifecycle_in_kernel(t: &Test) {
    // The shared rules, as compiled into the module: create, refuse a
    // duplicate without change, change, delete.
    let Some((mut c, peer)) = node1_with_peer2(t) else {
        return;
    };
    // Compared box to box: a configuration is too large for the stack.
    let Ok(mut before) = empty_config() else {
        return t.fail(file!(), line!(), format_args!("allocation failed"));
    };
    before.0 = c.0;
    kassert_eq!(t, c.peer_new(&peer), Err(ConfigError::PeerExists));
    kassert!(t, c.0 == before.0);
    let heavier = PeerSpec {
        id: Some(2),
        weight: Some(500),
        ..Default::default()
    };
    kassert!(t, c.peer_set(&heavier).is_ok());
    kassert_eq!(t, c.peer(2).map(|p| p.weight), Some(500));
    kassert!(t, c.peer_del(Some(2)).is_ok());
    kassert_eq!(t, c.peers().len(), 0);
    kassert!(t, c.node_del().is_ok());
}

fn config_errors_become_extack(t: &Test) {
    let e = config_error(ConfigError::Missing(Attr::PeerId));
    kassert_eq!(t, e.errno(), 22);
    kassert_eq!(t, e.attr(), Some(Attr::PeerId as u16));
    kassert_eq!(t, e.message(), Some("missing attribute: peer id"));
    let e = config_error(ConfigError::PeerExists);
    kassert_eq!(t, e.errno(), 17);
    kassert_eq!(t, e.attr(), None);
}

fn attrs_are_read_safely(t: &Test) {
    // A u32 PeerId, a 5-byte Mac (one short) and a string Policy.
    let Ok(mut b) = KBox::new(AttrBuilder::new(), GFP_KERNEL) else {
        return t.fail(file!(), line!(), format_args!("allocation failed"));
    };
    b.put(Attr::PeerId as u16, &7u32.to_ne_bytes());
    b.put(Attr::Mac as u16, &[0x52, 0x54, 0, 3, 0]);
    b.put(Attr::Policy as u16, b"hash\0");
    let attrs = b.attrs();
    kassert_eq!(t, attrs.u32(Attr::PeerId as u16), Some(7));
    kassert!(t, attrs.array::<6>(Attr::Mac as u16).is_err());
    kassert_eq!(t, attrs.str(Attr::Policy as u16), Some(&b"hash"[..]));
    kassert_eq!(t, attrs.u32(Attr::Weight as u16), None);
    // Out of the table's range: absent, not a read past its end.
    kassert_eq!(t, attrs.u32(200), None);
}

fn observer_counts_per_service_from_the_rcu_snapshot(t: &Test) {
    let Some(shared) = new_shared(t) else { return };
    let obs = Ipv4Observer::new(shared.clone());
    let syn = with_ip_checksum(SYN);
    // No service yet: nothing per service.
    obs.observe(&syn);
    kassert_eq!(t, shared.service_stats.get(0, ServiceStat::Packets), 0);
    // Publish a configuration with the SYN's service in slot 1.
    let Ok(mut c) = empty_config() else {
        return t.fail(file!(), line!(), format_args!("allocation failed"));
    };
    for port in [443u16, 80] {
        let spec = ServiceSpec {
            vip: Some([203, 0, 113, 100]),
            port: Some(port),
            ..Default::default()
        };
        kassert!(t, c.service_new(&spec).is_ok());
    }
    shared.snapshot.replace(c);
    obs.observe(&syn);
    obs.observe(&syn);
    kassert_eq!(t, shared.service_stats.get(1, ServiceStat::Packets), 2);
    kassert_eq!(t, shared.service_stats.get(1, ServiceStat::Syns), 2);
    kassert_eq!(t, shared.service_stats.get(0, ServiceStat::Packets), 0);
    shared.service_stats.reset(1);
    kassert_eq!(t, shared.service_stats.get(1, ServiceStat::Packets), 0);
}

/// A record of a connection from 198.51.100.2:40000 to `vip`:`port`.
fn record(vip: [u8; 4], port: u16) -> ConnRecord {
    let isn = SeqNum::new(1000);
    let ours = SeqNum::new(5000);
    ConnRecord {
        conn_id: 1,
        client: [198, 51, 100, 2].into(),
        client_port: 40000,
        vip: vip.into(),
        vip_port: port,
        client_isn: isn,
        our_isn: ours,
        rcv_nxt: isn + 1,
        snd_nxt: ours + 1,
        snd_una: ours + 1,
        client_window: 65535,
        our_window: 65535,
        mss: 1460,
        wscale: Some(WindowScale { snd: 7, rcv: 7 }),
        sack: true,
        timestamps: Some(Timestamps {
            offset: 0,
            recent: 77,
            last_sent: 88,
        }),
        ecn: false,
    }
}

fn conn_ids_name_their_slot(t: &Test) {
    let Some(shared) = new_shared(t) else { return };
    let r = record([203, 0, 113, 100], 80);
    let key = ConnKey::from(&r);
    let conn = Conn::new(r, ConnState::Local, 0, 0);
    let index = shared.conns.with(|s| {
        let mut table = s.table()?;
        table.insert(key, conn).ok()?;
        table.index_of(&key)
    });
    kassert!(t, index.is_some());
    let index = index.unwrap_or(0);
    let id = shared.conns.id_of(index);
    kassert_eq!(t, shared.conns.index_of_id(id), Some(index));
    // An id of another table (other top bits) names nothing here.
    kassert_eq!(t, shared.conns.index_of_id(id ^ (1 << 56)), None);
    // A new record in the same slot gets another id, of the same slot.
    let (a, b) = (shared.conns.new_id(index), shared.conns.new_id(index));
    kassert!(t, a != b && a != id);
    kassert_eq!(t, shared.conns.index_of_id(b), Some(index));
    let removed = shared
        .conns
        .with(|s| s.table().and_then(|mut t| t.remove(&key)));
    kassert!(t, removed.is_some());
    kassert_eq!(
        t,
        shared.conns.with(|s| s.table().map(|t| t.len())),
        Some(0)
    );
    late_answers_name_no_newer_record(t, &shared, key, conn);
}

/// A connection handed off (`old`, in `key`'s slot) closes and its record
/// goes; the client's next connection from the same port takes the same
/// slot and is handed off too. The old connection's late HANDOFF_ACK, and
/// its late CLOSE notice, change nothing of the new one, even 65 536
/// connections later (the generation's 16 bits then wrapped).
#[inline(never)]
fn late_answers_name_no_newer_record(t: &Test, shared: &Shared, key: ConnKey, old: Conn) {
    let peer = ConnState::Pending {
        peer: 2,
        mac: PEER_MAC,
        since_ms: boottime_ms(),
    };
    let insert = |generations: u32| {
        for _ in 0..generations {
            let _ = shared.conns.new_id(0);
        }
        shared.conns.with(|s| {
            let mut table = s.table()?;
            table.insert(key, Conn::new(old.record, peer, 0, 0)).ok()?;
            let index = table.index_of(&key)?;
            let id = shared.conns.new_id(index);
            table.get_at_mut(index)?.1.record.conn_id = id;
            Some((index, id))
        })
    };
    let remove = || shared.conns.with(|s| s.table()?.remove(&key));
    let state = || shared.conns.with(|s| Some(s.table()?.get_mut(&key)?.state));
    let Some((index, old_id)) = insert(0) else {
        return t.fail(file!(), line!(), format_args!("insert failed"));
    };
    // The first new record comes next; the second is the 65 536th since
    // the old one.
    for generations in [0, 65_534] {
        kassert!(t, remove().is_some());
        let Some((new_index, new_id)) = insert(generations) else {
            return t.fail(file!(), line!(), format_args!("insert failed"));
        };
        kassert_eq!(t, new_index, index);
        kassert!(t, new_id != old_id);
        let ack = HandoffAck {
            conn_id: old_id,
            status: AckStatus::Accepted,
        };
        redist::confirm(shared, &ack, PEER_MAC);
        kassert_eq!(t, state(), Some(peer));
        let close = Close {
            conn_id: old_id,
            reason: CloseReason::FIN,
        };
        redist::closed(shared, &close, PEER_MAC);
        kassert_eq!(t, shared.conns.update_id(old_id, |_| ()), None);
        let record = shared.conns.with(|s| Some(*s.table()?.get_mut(&key)?));
        kassert!(
            t,
            record.is_some_and(|c| c.state == peer && c.teardown == Default::default())
        );
    }
    kassert!(t, remove().is_some());
}

fn rebuild_without_listener_is_refused(t: &Test) {
    // Nothing listens on 127.0.0.1:9 in the test's namespace: the request
    // sock is refused before anything is attached, and the packet (freed on
    // drop) leaks nothing.
    let r = record([127, 0, 0, 1], 9);
    let len = rebuild_len(3, true);
    let Some(mut skb) = OwnedSkb::new_rx(len) else {
        return t.fail(file!(), line!(), format_args!("allocation failed"));
    };
    let built = skb
        .put_zeroed(len)
        .and_then(|buf| rebuild_segment(&r, b"GET", buf).ok());
    kassert_eq!(t, built, Some(len));
    let _rcu = ReadGuard::new();
    let res = skb.attach_request_sock(Net::init(), &tuple_of(&r), &attrs_of(&r));
    kassert_eq!(t, res, Err(RebuildError::NoListener));
    // Out-of-range attributes are refused whatever listens.
    let mut bad = attrs_of(&r);
    bad.mss = 40;
    let res = skb.attach_request_sock(Net::init(), &tuple_of(&r), &bad);
    kassert_eq!(t, res, Err(RebuildError::BadAttrs));
}

fn handoff_frames_authenticated_and_replay_checked(t: &Test) {
    let Some(shared) = shared_with_key(t, None) else {
        return;
    };
    let Some(key) = test_key(t, KeyPurpose::Handoff) else {
        return;
    };
    let msg = Message::HandoffAck(HandoffAck {
        conn_id: 42,
        status: AckStatus::Accepted,
    });
    let mut buf = [0u8; 64];
    let params = fresh_params();
    let len = wire::frame::encode(&mut buf, &params, &msg, &key).unwrap_or(0);
    kassert!(t, len > 0);
    let frame = &buf[..len];
    // A flipped bit anywhere fails the tag (or the header checks) and
    // leaves the replay window alone: the intact frame still opens once.
    for i in [5usize, 20, len - 1] {
        let mut bad = buf;
        bad[i] ^= 1;
        kassert!(t, shared.redist.open(&shared, &bad[..len]).is_err());
    }
    kassert!(t, shared.redist.open(&shared, frame).is_ok());
    kassert_eq!(
        t,
        shared.redist.open(&shared, frame).err(),
        Some(WireError::Duplicate)
    );
    // Truncated, and garbage.
    kassert!(t, shared.redist.open(&shared, &buf[..len - 1]).is_err());
    kassert!(t, shared.redist.open(&shared, &[0xba; 40]).is_err());
    // A key id nobody configured.
    let other = FrameParams {
        key_id: 7,
        seq: params.seq + 1,
        ..params
    };
    let len = wire::frame::encode(&mut buf, &other, &msg, &key).unwrap_or(0);
    kassert_eq!(
        t,
        shared.redist.open(&shared, &buf[..len]).err(),
        Some(WireError::UnknownKey)
    );
    // Sent two minutes ago (a captured frame), from a sender this node has
    // not heard since it started: expired, not taken.
    let then = realtime_ms().saturating_sub(120_000);
    let epoch = wire::epoch::epoch_at(then);
    let old = FrameParams {
        sender: 3,
        epoch,
        seq: wire::epoch::next_seq(epoch, then, 0),
        ..params
    };
    let len = wire::frame::encode(&mut buf, &old, &msg, &key).unwrap_or(0);
    kassert_eq!(
        t,
        shared.redist.open(&shared, &buf[..len]).err(),
        Some(WireError::Expired)
    );
}

/// Frame parameters of node 2 sending now, key 1.
fn fresh_params() -> FrameParams {
    let now = realtime_ms();
    let epoch = wire::epoch::epoch_at(now);
    FrameParams {
        key_id: 1,
        sender: 2,
        epoch,
        seq: wire::epoch::next_seq(epoch, now, 0),
    }
}

/// The sync receive path: an ANNOUNCE signed with the sync key of a
/// configured key is applied to the farm table once; forged, replayed,
/// truncated or wrongly keyed ones are refused and change nothing.
fn sync_announce_authenticated_and_applied(t: &Test) {
    let Some(shared) = shared_with_key(t, Some(1)) else {
        return;
    };
    shared.sync.merge_config(&shared);
    let (Some(sync_key), Some(handoff_key)) = (
        test_key(t, KeyPurpose::Sync),
        test_key(t, KeyPurpose::Handoff),
    ) else {
        return;
    };
    let mac = MacAddr([0x52, 0x54, 0, 0, 2, 2]);
    let msg = Message::Announce(Announce {
        redist_mac: mac,
        weight: 250,
        admin: AdminState::Active,
        health: Health::Ok,
        cpu_permille: 10,
        owned_conns: 3,
        interval_ms: 100,
        holds_vips: false,
        services: List::Items(&[]),
    });
    let params = fresh_params();
    let mut buf = [0u8; 96];
    let len = wire::frame::encode(&mut buf, &params, &msg, &sync_key).unwrap_or(0);
    kassert!(t, len > 0);
    let known = |s: &Shared| s.sync.with(|i| i.farm.get(2).is_some());
    // Flipped bits, a truncated frame, the handoff key: refused.
    for i in [5usize, 30, len - 1] {
        let mut bad = buf;
        bad[i] ^= 1;
        kassert!(t, shared.sync.open_and_apply(&shared, &bad[..len]).is_err());
    }
    kassert!(
        t,
        shared
            .sync
            .open_and_apply(&shared, &buf[..len - 1])
            .is_err()
    );
    let mut other = [0u8; 96];
    let olen = wire::frame::encode(&mut other, &params, &msg, &handoff_key).unwrap_or(0);
    kassert_eq!(
        t,
        shared.sync.open_and_apply(&shared, &other[..olen]).err(),
        Some(WireError::BadTag)
    );
    kassert!(t, !known(&shared));
    // The intact frame is applied once, then is a replay.
    kassert_eq!(
        t,
        shared.sync.open_and_apply(&shared, &buf[..len]).ok(),
        Some(SyncReceived::Announce(2, Outcome::New))
    );
    kassert_eq!(
        t,
        shared.sync.open_and_apply(&shared, &buf[..len]).err(),
        Some(WireError::Duplicate)
    );
    let entry = shared.sync.with(|i| {
        i.farm
            .get(2)
            .map(|e| (e.mac(), e.weight(), e.owned_conns(), e.is_alive()))
    });
    kassert_eq!(t, entry, Some((mac, 250, Some(3), true)));
    // Our own id from the network is refused by the table.
    let own = FrameParams {
        sender: 1,
        ..params
    };
    let len = wire::frame::encode(&mut buf, &own, &msg, &sync_key).unwrap_or(0);
    kassert_eq!(
        t,
        shared.sync.open_and_apply(&shared, &buf[..len]).ok(),
        Some(SyncReceived::Announce(1, Outcome::OwnId))
    );
}

/// The farm-aware policies in the module: with nodes 2 and 3 announced
/// (3 connections and none), least-loaded picks node 3, and excluding it
/// node 2; consistent-hash keeps a client on one node.
fn farm_policies_choose_from_the_table(t: &Test) {
    let Some(shared) = new_shared(t) else { return };
    let Ok(mut c) = empty_config() else {
        return t.fail(file!(), line!(), format_args!("allocation failed"));
    };
    let node = NodeSpec {
        id: Some(1),
        ..Default::default()
    };
    kassert!(t, c.node_new(&node).is_ok());
    shared.snapshot.replace(c);
    shared.sync.merge_config(&shared);
    let now = crate::wrap::boottime_ms();
    // node2: 3 connections, CPU 10 %; node3: none, CPU 90 %.
    for (id, owned, cpu) in [(2u16, 3u32, 100u16), (3, 0, 900)] {
        let a = Announce {
            redist_mac: MacAddr([0x52, 0x54, 0, 0, 2, id as u8]),
            weight: 100,
            admin: AdminState::Active,
            health: Health::Ok,
            cpu_permille: cpu,
            owned_conns: owned,
            holds_vips: false,
            interval_ms: 100,
            services: List::Items(&[]),
        };
        // This node, announcing 5 connections of its own, CPU 50 %.
        let local = Announce {
            owned_conns: 5,
            cpu_permille: 500,
            redist_mac: MacAddr([0x52, 0x54, 0, 0, 2, 1]),
            ..a
        };
        let outcome = shared.sync.with(|i| {
            i.farm.update_local(&local, now);
            i.farm.apply_announce(id, 1, 1, &a, now)
        });
        kassert_eq!(t, outcome, Outcome::New);
    }
    let svc = ServiceKey {
        vip: [203, 0, 113, 100],
        port: 80,
        protocol: Protocol::Tcp,
    };
    let client = (Ipv4Addr::new(198, 51, 100, 2), 40000);
    let pick_with = |policy, params: &FarmParams, exclude: &[u32]| match shared
        .sync
        .choose(&shared, policy, params, 0, svc, client, exclude, None)
    {
        Choice::Local => 1,
        Choice::Peer { id, .. } => id,
    };
    let pick = |policy, exclude: &[u32]| pick_with(policy, &FarmParams::DEFAULT, exclude);
    kassert_eq!(t, pick(FarmPolicy::LeastLoaded, &[]), 3);
    kassert_eq!(t, pick(FarmPolicy::LeastLoaded, &[3]), 2);
    let first = pick(FarmPolicy::ConsistentHash, &[]);
    kassert!(t, (1..=3).contains(&first));
    kassert_eq!(t, pick(FarmPolicy::ConsistentHash, &[]), first);
    // The service's own load metric and threshold: by CPU node2 is the
    // least loaded; local-first keeps the connection here while this
    // node's 5 connections are within its threshold, not above it.
    let cpu = FarmParams {
        metric: LoadMetric::Cpu,
        ..FarmParams::DEFAULT
    };
    kassert_eq!(t, pick_with(FarmPolicy::LeastLoaded, &cpu, &[]), 2);
    kassert_eq!(t, pick(FarmPolicy::LocalFirst, &[]), 1);
    let low = FarmParams {
        local_max: 4,
        ..FarmParams::DEFAULT
    };
    kassert_eq!(t, pick_with(FarmPolicy::LocalFirst, &low, &[]), 3);
}

const FE_MAC: MacAddr = MacAddr([0x52, 0x54, 0, 0, 1, 1]);
const PEER_MAC: MacAddr = MacAddr([0x52, 0x54, 0, 0, 1, 2]);

/// A record of client `198.51.100.<client>:<cport>` to `203.0.113.<vip>:<port>`,
/// created at 1000 ms and last seen at 1500 ms (boot time).
fn conn_record(
    id: u64,
    client: u8,
    cport: u16,
    vip: u8,
    port: u16,
    state: ConnState,
) -> (ConnKey, Conn) {
    let key = ConnKey {
        client: Ipv4Addr::new(198, 51, 100, client),
        client_port: cport,
        vip: Ipv4Addr::new(203, 0, 113, vip),
        vip_port: port,
        protocol: 6,
    };
    let record = ConnRecord {
        conn_id: id,
        client: key.client,
        client_port: cport,
        vip: key.vip,
        vip_port: port,
        client_isn: SeqNum(100),
        our_isn: SeqNum(200),
        rcv_nxt: SeqNum(101 + u32::from(client)),
        snd_nxt: SeqNum(201),
        snd_una: SeqNum(201),
        client_window: 65535,
        our_window: 65535,
        mss: 1460,
        wscale: None,
        sack: false,
        timestamps: None,
        ecn: false,
    };
    let conn = Conn {
        last_ms: 1500,
        ..Conn::new(record, state, 0, 1000)
    };
    (key, conn)
}

/// Every record `filter` keeps, batch after batch, as the dump walks them.
fn select_all(t: &Test, conns: &Conns, filter: &ConnFilter) -> KVec<(usize, ConnInfo)> {
    let mut all = KVec::new();
    let mut batch: Selection = [None; SELECT_BATCH];
    let mut from = 0;
    // Bounded: a 600-slot table takes at most 3 windows and 3 full batches.
    for _ in 0..16 {
        let scan = conns.select(from, filter, &mut batch);
        for e in batch.iter().flatten() {
            if all.push(*e, GFP_KERNEL).is_err() {
                t.fail(file!(), line!(), format_args!("allocation failed"));
            }
        }
        match scan {
            Scan::More(next) => from = next,
            Scan::Done => return all,
        }
    }
    t.fail(file!(), line!(), format_args!("select never finished"));
    all
}

fn indices(v: &[(usize, ConnInfo)]) -> KVec<usize> {
    let mut out = KVec::new();
    for (i, _) in v {
        let _ = out.push(*i, GFP_KERNEL);
    }
    out
}

/// A 600-slot table for the dump tests: records a..e in slots 0..=4,
/// f in 299, g (a UDP flow) in 300, a few fillers in 5..=14. Its own
/// function: the records would otherwise share a frame with the checks
/// (the 2 KiB `scripts/stack-frames.sh` allows).
#[inline(never)]
fn conn_dump_fixture(t: &Test) -> Option<Pin<KBox<Conns>>> {
    let Ok(conns) = Conns::new(600).and_then(|init| KBox::pin_init(init, GFP_KERNEL)) else {
        t.fail(file!(), line!(), format_args!("allocation failed"));
        return None;
    };
    let pending = ConnState::Pending {
        peer: 2,
        mac: PEER_MAC,
        since_ms: 1400,
    };
    let handed = |peer| ConnState::Handed {
        peer,
        mac: PEER_MAC,
    };
    // Slots are handed out in order from an empty table: a..e in 0..=4,
    // fillers in 5..=298, f in 299, g (a UDP flow: no id of its own, no
    // sequence numbers) in 300; fillers past slot 14 are then removed.
    // Each record is built in `insert_record`'s frame, not this one.
    let inserted = conns.with(|s| {
        let mut table = s.table()?;
        let mut ok = true;
        let records = [
            (0xa, 1, 40001, 100, 80, ConnState::AwaitRequest),
            (0xb, 2, 40002, 100, 80, pending),
            (0xc, 1, 40003, 100, 443, handed(3)),
            (0xd, 3, 40004, 101, 80, ConnState::Local),
            (
                0xe,
                4,
                40005,
                100,
                80,
                ConnState::Owned { front_end: FE_MAC },
            ),
        ];
        let mut d = None;
        for (id, client, cport, vip, port, state) in records {
            let key = insert_record(&mut table, id, client, cport, vip, port, state, false);
            ok &= key.is_some();
            if id == 0xd {
                d = key;
            }
        }
        for n in 0..294u16 {
            let key = insert_record(
                &mut table,
                0x100 + u64::from(n),
                9,
                1000 + n,
                200,
                8080,
                ConnState::Local,
                false,
            );
            ok &= key.is_some();
        }
        let f = insert_record(&mut table, 0xf, 1, 40006, 100, 80, handed(2), false);
        ok &= insert_record(&mut table, 0, 5, 5353, 100, 53, handed(3), true).is_some();
        for n in 10..294u16 {
            let k = ConnKey {
                client: Ipv4Addr::new(198, 51, 100, 9),
                client_port: 1000 + n,
                vip: Ipv4Addr::new(203, 0, 113, 200),
                vip_port: 8080,
                protocol: 6,
            };
            ok &= table.remove(&k).is_some();
        }
        if let Some(d) = d.and_then(|d| table.get_mut(&d)) {
            d.teardown.client_fin = true;
        }
        Some(ok && f.and_then(|f| table.index_of(&f)) == Some(299) && table.len() == 17)
    });
    if inserted != Some(true) {
        t.fail(file!(), line!(), format_args!("fixture: {inserted:?}"));
        return None;
    }
    Some(conns)
}

/// Inserts [`conn_record`] (made a UDP flow if `udp`) into `table`;
/// its key, if it went in.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn insert_record(
    table: &mut ConnTable<'_, Conn>,
    id: u64,
    client: u8,
    cport: u16,
    vip: u8,
    port: u16,
    state: ConnState,
    udp: bool,
) -> Option<ConnKey> {
    let (mut k, mut v) = conn_record(id, client, cport, vip, port, state);
    if udp {
        k.protocol = 17;
        v.record.client_isn = SeqNum(0);
    }
    table.insert(k, v).ok()?;
    Some(k)
}

fn conn_dump_selects_in_batches_and_filters(t: &Test) {
    let Some(conns) = conn_dump_fixture(t) else {
        return;
    };
    // The selection itself: a full batch of 8 stops at the 9th match.
    let mut batch: Selection = [None; SELECT_BATCH];
    let none = ConnFilter::default();
    let scan = conns.with(|s| {
        s.table()
            .map(|tb| select_from(&tb, 0, &none, 2000, &mut batch))
    });
    kassert_eq!(t, scan, Some(Scan::More(8)));
    kassert_eq!(t, batch.iter().flatten().count(), 8);
    let Some((0, first)) = batch[0] else {
        return t.fail(file!(), line!(), format_args!("slot 0 not first"));
    };
    kassert_eq!(t, first.id, 0xa);
    kassert_eq!(
        t,
        first.key,
        conn_record(0xa, 1, 40001, 100, 80, ConnState::AwaitRequest).0
    );
    kassert_eq!(t, first.state, WireState::AwaitRequest);
    kassert_eq!(t, (first.age_ms, first.idle_ms), (1000, 500));
    kassert_eq!(t, (first.client_isn, first.our_isn), (100, 200));
    kassert_eq!(t, (first.rcv_nxt, first.snd_nxt), (102, 201));
    kassert_eq!(t, (first.peer, first.front_end), (None, None));
    // Ages wrap with the 32-bit millisecond clock.
    let scan = conns.with(|s| {
        s.table()
            .map(|tb| select_from(&tb, 0, &none, 500, &mut batch))
    });
    kassert_eq!(t, scan, Some(Scan::More(8)));
    kassert_eq!(
        t,
        batch[0].map(|(_, i)| i.age_ms),
        Some(500u32.wrapping_sub(1000))
    );
    // A window ends after SELECT_SCAN slots, even with room in the batch.
    let scan = conns.with(|s| {
        s.table()
            .map(|tb| select_from(&tb, 8, &none, 2000, &mut batch))
    });
    kassert_eq!(t, scan, Some(Scan::More(8 + crate::conns::SELECT_SCAN)));
    kassert_eq!(t, batch.iter().flatten().count(), 7);
    // Past the end: nothing, done.
    let scan = conns.with(|s| {
        s.table()
            .map(|tb| select_from(&tb, usize::MAX, &none, 0, &mut batch))
    });
    kassert_eq!(t, scan, Some(Scan::Done));
    kassert_eq!(t, batch.iter().flatten().count(), 0);

    // Whole walks through the lock, as the dump does.
    let all = select_all(t, &conns, &none);
    kassert_eq!(t, all.len(), 17);
    kassert_eq!(t, all.iter().map(|(i, _)| *i).last(), Some(300));
    kassert!(t, all.windows(2).all(|w| w[0].0 < w[1].0));

    use crate::baton_core::conninfo::ConnFilterSpec as Spec;
    let by = |spec: Spec| -> KVec<(usize, ConnInfo)> {
        match ConnFilter::new(&spec) {
            Ok(flt) => select_all(t, &conns, &flt),
            Err(e) => {
                t.fail(file!(), line!(), format_args!("filter refused: {e:?}"));
                KVec::new()
            }
        }
    };
    let slots = |spec: Spec| indices(&by(spec));
    let got = slots(Spec {
        state: Some(WireState::HandedOff as u8),
        ..Default::default()
    });
    kassert_eq!(t, &got[..], &[2usize, 299, 300][..]);
    let got = slots(Spec {
        peer: Some(2),
        ..Default::default()
    });
    kassert_eq!(t, &got[..], &[1usize, 299][..]);
    let got = by(Spec {
        vip: Some([203, 0, 113, 101]),
        ..Default::default()
    });
    kassert_eq!(t, &indices(&got)[..], &[3usize][..]);
    kassert_eq!(t, got.first().map(|(_, i)| i.client_done), Some(true));
    let got = slots(Spec {
        port: Some(443),
        ..Default::default()
    });
    kassert_eq!(t, &got[..], &[2usize][..]);
    let got = slots(Spec {
        client: Some([198, 51, 100, 1]),
        ..Default::default()
    });
    kassert_eq!(t, &got[..], &[0usize, 2, 299][..]);
    let got = slots(Spec {
        client: Some([198, 51, 100, 1]),
        port: Some(80),
        ..Default::default()
    });
    kassert_eq!(t, &got[..], &[0usize, 299][..]);
    // The UDP flow goes by its slot's id; it has no sequence numbers.
    let got = by(Spec {
        port: Some(53),
        ..Default::default()
    });
    kassert_eq!(
        t,
        got.first()
            .map(|(i, c)| (*i, c.id, c.key.protocol, c.has_seq(), c.peer)),
        Some((300, conns.id_of(300), 17, false, Some(3)))
    );
    kassert!(
        t,
        all.iter()
            .all(|(_, c)| c.has_seq() == (c.key.protocol == 6))
    );
    let got = by(Spec {
        state: Some(WireState::Owned as u8),
        ..Default::default()
    });
    kassert_eq!(
        t,
        got.first().map(|(_, i)| (i.id, i.peer, i.front_end)),
        Some((0xe, None, Some(FE_MAC)))
    );
    let got = by(Spec {
        state: Some(WireState::Pending as u8),
        ..Default::default()
    });
    kassert_eq!(
        t,
        got.first().map(|(_, i)| (i.peer, i.front_end)),
        Some((Some(2), None))
    );
}

fn conn_dump_filter_attributes(t: &Test) {
    let Ok(mut b) = KBox::new(AttrBuilder::new(), GFP_KERNEL) else {
        return t.fail(file!(), line!(), format_args!("allocation failed"));
    };
    // No attributes: no criterion.
    kassert!(t, conn_filter(&b.attrs()).is_ok_and(|f| f.is_empty()));
    b.put(Attr::ConnState as u16, &[WireState::Retry as u8]);
    b.put(Attr::PeerId as u16, &7u32.to_ne_bytes());
    b.put(Attr::Vip as u16, &[203, 0, 113, 100]);
    b.put(Attr::Port as u16, &80u16.to_ne_bytes());
    b.put(Attr::Client as u16, &[198, 51, 100, 2]);
    let f = conn_filter(&b.attrs()).ok();
    kassert_eq!(t, f.map(|f| f.state), Some(Some(WireState::Retry)));
    kassert_eq!(t, f.map(|f| f.peer), Some(Some(7)));
    kassert_eq!(
        t,
        f.map(|f| f.vip),
        Some(Some(Ipv4Addr::new(203, 0, 113, 100)))
    );
    kassert_eq!(t, f.map(|f| f.port), Some(Some(80)));
    kassert_eq!(
        t,
        f.map(|f| f.client),
        Some(Some(Ipv4Addr::new(198, 51, 100, 2)))
    );
    // Present but invalid: the rule's message, errno and attribute.
    b.put(Attr::ConnState as u16, &[9]);
    let e = conn_filter(&b.attrs()).err();
    kassert_eq!(
        t,
        e.map(|e| (e.errno(), e.attr())),
        Some((22, Some(Attr::ConnState as u16)))
    );
    kassert!(
        t,
        e.and_then(|e| e.message())
            .is_some_and(|m| m.starts_with("unknown connection state"))
    );
    b.put(Attr::ConnState as u16, &[WireState::Owned as u8]);
    b.put(Attr::PeerId as u16, &70000u32.to_ne_bytes());
    let e = conn_filter(&b.attrs()).err();
    kassert_eq!(
        t,
        e.map(|e| (e.errno(), e.attr())),
        Some((34, Some(Attr::PeerId as u16)))
    );
    b.put(Attr::PeerId as u16, &1u32.to_ne_bytes());
    b.put(Attr::Port as u16, &0u16.to_ne_bytes());
    let e = conn_filter(&b.attrs()).err();
    kassert_eq!(
        t,
        e.map(|e| (e.errno(), e.attr())),
        Some((22, Some(Attr::Port as u16)))
    );
    kassert_eq!(
        t,
        e.and_then(|e| e.message()),
        Some("port in filter must be 1..=65535")
    );
}

/// A SYN answered without building a frame: our ISN says which mode.
fn fake_synack(mode: SynMode) -> Result<Answered, ()> {
    let vip = Ipv4Addr::new(203, 0, 113, 100);
    Ok(Answered {
        len: 0,
        tuple: FourTuple {
            client: Ipv4Addr::new(198, 51, 100, 2),
            client_port: 1,
            vip,
            vip_port: 80,
        },
        client_isn: 1000,
        isn: match mode {
            SynMode::Cookie => 1,
            SynMode::Pending(_) => 2,
        },
        options: SynOptions::default(),
    })
}

fn syn_table_bounded_then_cookies(t: &Test) {
    let Ok(syns) = PendingSyns::new(3).and_then(|init| KBox::pin_init(init, GFP_KERNEL)) else {
        kassert!(t, false);
        return;
    };
    let key = |port: u16| ConnKey {
        client: Ipv4Addr::new(198, 51, 100, 2),
        client_port: port,
        vip: Ipv4Addr::new(203, 0, 113, 100),
        vip_port: 80,
        protocol: 6,
    };
    let mode = |port: u16, now: u32| {
        syns.answer(&key(port), now, fake_synack)
            .map(|(a, cookie)| (a.isn, cookie))
    };
    // Three pending handshakes fit; the fourth SYN gets a cookie and no
    // entry; a retransmitted SYN of a pending one stays pending.
    for port in 1..=3 {
        kassert_eq!(t, mode(port, 0), Ok((2, false)));
    }
    kassert_eq!(t, mode(4, 0), Ok((1, true)));
    kassert_eq!(t, mode(1, 5), Ok((2, false)));
    kassert_eq!(t, syns.usage(), (3, 3));
    // The ACK of a handshake without entry, a failed check (the entry
    // stays) and a completed one (the entry goes).
    kassert!(t, syns.complete(&key(4), |_| Ok::<(), ()>(())).is_none());
    kassert_eq!(
        t,
        syns.complete(&key(2), |_| Err::<(), ()>(())),
        Some(Err(()))
    );
    kassert_eq!(
        t,
        syns.complete(&key(3), |p| if p.client_isn == 1000 {
            Ok(p.our_isn)
        } else {
            Err(())
        }),
        Some(Ok(2))
    );
    kassert_eq!(t, syns.usage(), (2, 3));
    // Entries expire by the time their SYN (last) came.
    kassert_eq!(t, syns.expire(PENDING_TIMEOUT_MS - 1, 1), 0);
    kassert_eq!(t, syns.expire(PENDING_TIMEOUT_MS, 1), 1);
    kassert_eq!(t, syns.usage(), (1, 3));
    kassert_eq!(t, syns.expire(PENDING_TIMEOUT_MS + 5, 1), 1);
    kassert_eq!(t, syns.usage(), (0, 3));
    // An entry whose ACK came while the connection table was full waits
    // for the client's retransmission, longer.
    kassert_eq!(t, mode(5, 100), Ok((2, false)));
    syns.refresh(&key(5), 200);
    kassert_eq!(t, syns.expire(200 + PENDING_TIMEOUT_MS, 1), 0);
    kassert_eq!(t, syns.expire(200 + PENDING_WAIT_MS - 1, 1), 0);
    kassert_eq!(t, syns.expire(200 + PENDING_WAIT_MS, 1), 1);
}

fn request_buffers_bounded_and_swept(t: &Test) {
    let Ok(mut bufs) = RequestBuffers::new() else {
        kassert!(t, false);
        return;
    };
    // Every buffer can be taken once, by a distinct owner.
    let mut taken = KVec::new();
    for owner in 1..=REQUEST_BUFFERS as u64 {
        match bufs.alloc(owner) {
            Some(b) => kassert!(t, taken.push(b, GFP_KERNEL).is_ok()),
            None => kassert!(t, false),
        }
    }
    kassert!(t, bufs.alloc(999).is_none());
    kassert_eq!(t, bufs.used(), REQUEST_BUFFERS);
    // Bytes go in within the buffer only, and come back as written.
    let b = taken[3];
    let owner = 4;
    kassert!(t, bufs.write(b, owner, 0, b"GET / HTTP/1.1\r\n").is_some());
    kassert!(t, bufs.write(b, owner, 16, b"Host: a\r\n\r\n").is_some());
    kassert_eq!(
        t,
        bufs.bytes(b, owner, 27),
        Some(&b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..])
    );
    kassert!(
        t,
        bufs.write(b, owner, REQUEST_BUFFER_SIZE - 1, b"xy")
            .is_none()
    );
    kassert!(t, bufs.write(b, owner, usize::MAX, b"x").is_none());
    kassert!(t, bufs.bytes(b, owner, REQUEST_BUFFER_SIZE + 1).is_none());
    kassert!(
        t,
        bufs.write(REQUEST_BUFFERS as u8, owner, 0, b"x").is_none()
    );
    // Only its owner reads, writes or frees a buffer.
    kassert!(t, bufs.write(b, 5, 0, b"x").is_none());
    kassert!(t, bufs.bytes(b, 5, 1).is_none());
    bufs.free(b, 5);
    kassert_eq!(t, bufs.used(), REQUEST_BUFFERS);
    // Freed, a buffer is taken again; the sweep frees what owners let go.
    bufs.free(b, owner);
    kassert_eq!(t, bufs.alloc(1000), Some(b));
    let freed = bufs.sweep(|owner, _| owner % 2 == 0);
    kassert_eq!(t, freed, REQUEST_BUFFERS / 2);
    kassert_eq!(t, bufs.used(), REQUEST_BUFFERS / 2);
}

fn rule_attributes_and_policy(t: &Test) {
    let Ok(mut b) = KBox::new(AttrBuilder::new(), GFP_KERNEL) else {
        return t.fail(file!(), line!(), format_args!("allocation failed"));
    };
    let Some((mut c, _)) = node1_with_peer2(t) else {
        return;
    };
    let svc = http_rules_service();
    kassert!(t, c.service_new(&svc).is_ok());
    // A rule request as the netlink core lays it out.
    b.put(Attr::Vip as u16, &[203, 0, 113, 100]);
    b.put(Attr::Port as u16, &80u16.to_ne_bytes());
    b.put(Attr::RuleId as u16, &10u32.to_ne_bytes());
    b.put(Attr::Host as u16, b"WWW.example.com\0");
    b.put(Attr::PathPrefix as u16, b"/api\0");
    let peers: [u8; 8] = [2u32.to_ne_bytes(), 1u32.to_ne_bytes()]
        .as_flattened()
        .try_into()
        .unwrap_or([0; 8]);
    b.put(Attr::RulePeers as u16, &peers);
    let attrs = b.attrs();
    let spec = rule_spec(&attrs);
    kassert!(t, c.rule_new(&spec).is_ok());
    let Ok(key) = Config::service_key(&svc) else {
        return t.fail(file!(), line!(), format_args!("service key"));
    };
    kassert_eq!(t, c.rule(&key, 10).map(|r| r.peers()), Some(&[2u32, 1][..]));
    // Refusals point at their attribute.
    let e = rule_error(ConfigError::BadHost);
    kassert_eq!(t, (e.errno(), e.attr()), (22, Some(Attr::Host as u16)));
    let e = rule_error(ConfigError::NodeIdRange);
    kassert_eq!(t, e.attr(), Some(Attr::RulePeers as u16));
    // The policy, as compiled into the module: the rule's set in turn
    // (peer 2, then this node), round robin for other requests.
    let req = b"GET /api/v1 HTTP/1.1\r\nHost: www.EXAMPLE.com:80\r\n\r\n";
    let head = match http::parse(req) {
        Status::Complete(h) => Some(h),
        _ => None,
    };
    kassert!(t, head.is_some());
    let mut st = PolicyState::new();
    let mut pick = |http| {
        let r = Request {
            client: Ipv4Addr::new(198, 51, 100, 2),
            client_port: 40000,
            exclude: &[],
            http,
        };
        choose(
            crate::baton_core::genl::Policy::HttpRules,
            c.peers(),
            &c.rules_of(&key),
            &mut st,
            &[0; 16],
            &r,
        )
    };
    kassert!(t, matches!(pick(head), Choice::Local));
    kassert!(t, matches!(pick(head), Choice::Peer { id: 2, .. }));
    kassert!(t, matches!(pick(head), Choice::Local));
    kassert!(t, matches!(pick(None), Choice::Peer { id: 2, .. }));
    // Deleting the service deletes its rules.
    kassert!(t, c.service_del(&svc).is_ok());
    kassert_eq!(t, c.rules().len(), 0);
}

/// The ownership table: a node speaks only for its own connections; a
/// full table refuses new entries; CLOSED takes an entry away only for its
/// owner; entries expire unrefreshed or with their dead owner. An
/// OWNERSHIP frame goes through authentication to the table.
fn ownership_table_learns_and_forgets(t: &Test) {
    let Ok(owners) = Owners::new(3).and_then(|init| KBox::pin_init(init, GFP_KERNEL)) else {
        kassert!(t, false);
        return;
    };
    let entry = |port: u16, owner: u16, op: OwnershipOp| OwnershipEntry {
        conn_id: u64::from(port),
        client: Ipv4Addr::new(198, 51, 100, 2),
        client_port: port,
        vip: Ipv4Addr::new(203, 0, 113, 100),
        vip_port: 80,
        owner,
        protocol: 6,
        op,
    };
    let key = |port: u16| ConnKey {
        client: Ipv4Addr::new(198, 51, 100, 2),
        client_port: port,
        vip: Ipv4Addr::new(203, 0, 113, 100),
        vip_port: 80,
        protocol: 6,
    };
    let batch = [
        entry(1, 2, OwnershipOp::Opened),
        entry(2, 3, OwnershipOp::Opened),
        entry(3, 2, OwnershipOp::Opened),
        entry(4, 2, OwnershipOp::Opened),
        entry(5, 2, OwnershipOp::Opened),
    ];
    let a = owners.apply(2, &List::Items(&batch), 0);
    kassert_eq!(t, (a.opened, a.foreign, a.full), (3, 1, 1));
    kassert_eq!(t, owners.owner_of(&key(1)), Some(2));
    kassert_eq!(t, owners.owner_of(&key(2)), None);
    kassert_eq!(t, owners.usage(), (3, 3));
    // What a front-end takes as a lost confirmation: the node it asked,
    // for this very connection (its id).
    kassert!(t, owners.serves(&key(1), 2, 1));
    kassert!(t, !owners.serves(&key(1), 3, 1));
    kassert!(t, !owners.serves(&key(1), 2, 99));
    kassert!(t, !owners.serves(&key(2), 3, 2));
    // Node 3 cannot close node 2's connection; node 2 can.
    let close = [entry(1, 3, OwnershipOp::Closed)];
    kassert_eq!(t, owners.apply(3, &List::Items(&close), 1).closed, 0);
    let close = [entry(1, 2, OwnershipOp::Closed)];
    kassert_eq!(t, owners.apply(2, &List::Items(&close), 1).closed, 1);
    kassert_eq!(t, owners.owner_of(&key(1)), None);
    // A refresh keeps an entry; the unrefreshed one expires; then the
    // dead owner's.
    let refresh = [entry(3, 2, OwnershipOp::Opened)];
    owners.apply(2, &List::Items(&refresh), 5_000);
    kassert_eq!(
        t,
        owners.expire(OWNERSHIP_TTL_MS, SWEEP_PERIOD_MS, |_| false),
        1
    );
    kassert_eq!(t, owners.owner_of(&key(3)), Some(2));
    // A tick's slice: a third of the period visits one of the three slots
    // per call, so the dead owner's entry is gone within three calls.
    let mut went = 0;
    for _ in 0..3 {
        went += owners.expire(OWNERSHIP_TTL_MS, SWEEP_PERIOD_MS / 3, |n| n == 2);
    }
    kassert_eq!(t, went, 1);
    kassert_eq!(t, owners.usage(), (0, 3));

    // The same through an authenticated frame.
    let Some(shared) = shared_with_key(t, None) else {
        return;
    };
    let Some(sync_key) = test_key(t, KeyPurpose::Sync) else {
        return;
    };
    let msg = Message::Ownership(Ownership {
        entries: List::Items(&batch[..2]),
    });
    let params = fresh_params();
    let mut buf = [0u8; 160];
    let len = wire::frame::encode(&mut buf, &params, &msg, &sync_key).unwrap_or(0);
    kassert!(t, len > 0);
    match shared.sync.open_and_apply(&shared, &buf[..len]) {
        Ok(SyncReceived::Ownership(sender, entries)) => {
            kassert_eq!(t, sender, 2);
            let a = shared.owners.apply(sender, &entries, 0);
            kassert_eq!(t, (a.opened, a.foreign), (1, 1));
            kassert_eq!(t, shared.owners.owner_of(&key(1)), Some(2));
        }
        _ => kassert!(t, false),
    }
}

/// A request handed off in several frames is whole whatever order its
/// chunks come in; a newer handoff of the connection (another request
/// length, after a lost chunk) takes the place of the older one.
fn reassembly_in_any_order_and_superseded(t: &Test) {
    let Ok(slots) = Reassemblies::new().and_then(|init| KBox::pin_init(init, GFP_KERNEL)) else {
        kassert!(t, false);
        return;
    };
    let from = MacAddr([2, 0, 0, 0, 0, 1]);
    let mut request = KVec::new();
    for i in 0..3000u32 {
        if request.push(i as u8, GFP_KERNEL).is_err() {
            kassert!(t, false);
            return;
        }
    }
    let chunk = |len: u32, offset: u32| Handoff {
        record: record([203, 0, 113, 100], 80),
        request_len: len,
        offset,
        chunk: &request[offset as usize..(offset + 1384).min(len) as usize],
    };
    let whole = |o: Result<Reassembled, _>, len: usize| match o {
        Ok(Reassembled::Complete(buf)) => buf[..] == request[..len],
        _ => false,
    };
    // Last chunk first, then the first, then the middle one.
    kassert!(
        t,
        matches!(
            slots.push(from, &chunk(3000, 2768), 0),
            Ok(Reassembled::Incomplete)
        )
    );
    kassert!(
        t,
        matches!(
            slots.push(from, &chunk(3000, 0), 0),
            Ok(Reassembled::Incomplete)
        )
    );
    kassert!(t, whole(slots.push(from, &chunk(3000, 1384), 0), 3000));
    // The first chunk of 3000 bytes, its others lost; the front-end hands
    // the connection again with the client's retransmitted first segment.
    kassert!(
        t,
        matches!(
            slots.push(from, &chunk(3000, 0), 10),
            Ok(Reassembled::Incomplete)
        )
    );
    kassert!(
        t,
        matches!(
            slots.push(from, &chunk(1448, 1384), 1500),
            Ok(Reassembled::Incomplete)
        )
    );
    kassert!(t, whole(slots.push(from, &chunk(1448, 0), 1500), 1448));
}

/// The loads a node announces: the CPU load stays within what the wire
/// allows, and a port nothing listens on has no accept queue.
fn announced_loads_are_bounded(t: &Test) {
    kassert!(t, crate::wrap::load_permille() <= 1000);
    kassert_eq!(
        t,
        crate::wrap::tcp::accept_queue(Net::init(), [192, 0, 2, 254], 9),
        None
    );
}

/// The TCP service 203.0.113.100:80 under the content policy `http-rules`.
fn http_rules_service() -> ServiceSpec<'static> {
    ServiceSpec {
        vip: Some([203, 0, 113, 100]),
        port: Some(80),
        policy: Some(b"http-rules"),
        ..Default::default()
    }
}

/// Changes `shared`'s configuration with `f` and publishes the result, as
/// a netlink request does; whether `f` accepted the change (and there was
/// memory for the copy).
fn reconfigure(shared: &Shared, f: impl FnOnce(&mut Config) -> Result<(), ConfigError>) -> bool {
    let Ok(mut c) = empty_config() else {
        return false;
    };
    shared.snapshot.read(|now| c.0 = now.0);
    let changed = f(&mut c).is_ok();
    if changed {
        shared.snapshot.replace(c);
    }
    changed
}

/// A segment of 198.51.100.2:40000 to 203.0.113.100:80 at `seq` (ACK,
/// PSH), acknowledging our ISN 200, with `payload` bytes of request; the
/// IPv4 checksum filled in, the TCP one left zero (the test stops before
/// it is checked).
fn request_segment(seq: u32, payload: usize) -> Option<KVec<u8>> {
    let len = u16::try_from(40 + payload).ok()?;
    let mut h = [0u8; 60];
    h[..40].copy_from_slice(&SYN[..40]);
    h[2..4].copy_from_slice(&len.to_be_bytes());
    h[24..28].copy_from_slice(&seq.to_be_bytes());
    h[28..32].copy_from_slice(&201u32.to_be_bytes());
    h[32] = 0x50; // data offset 5
    h[33] = 0x18; // ACK, PSH
    let h = with_ip_checksum(h);
    let mut p = KVec::with_capacity(40 + payload, GFP_KERNEL).ok()?;
    p.extend_from_slice(&h[..40], GFP_KERNEL).ok()?;
    for _ in 0..payload {
        p.push(b'a', GFP_KERNEL).ok()?;
    }
    Some(p)
}

/// A packet whose bytes cannot be pulled into the linear area (the pull's
/// allocation failed; here a stubbed `pskb_may_pull`) is dropped and
/// counted, never let up to the local stack, which has no socket for a
/// connection baton answered and would reset it: the headers of any
/// packet to a service, and the request bytes of a connection waiting for
/// its request, whose record stays as it was for the client's
/// retransmission.
fn unreadable_packets_are_dropped(t: &Test) {
    let Some(shared) = shared_with_key(t, Some(1)) else {
        return;
    };
    // A content policy: the request is read before anything is decided.
    let svc = http_rules_service();
    kassert!(t, reconfigure(&shared, |c| c.service_new(&svc)));
    let now = boottime_ms();
    let (key, mut conn) = conn_record(1, 2, 40000, 100, 80, ConnState::AwaitRequest);
    conn.record.rcv_nxt = conn.record.client_isn + 1;
    let conn = Conn::new(conn.record, ConnState::AwaitRequest, 0, now);
    let inserted = shared.conns.with(|store| {
        let (mut table, _, _) = store.parts()?;
        table.insert(key, conn).ok().map(|_| ())
    });
    kassert!(t, inserted.is_some());
    // 140 bytes: the headers (120 at most are pulled for them) and then,
    // on their own, the 100 bytes of request.
    let Some(bytes) = request_segment(101, 100) else {
        return t.fail(file!(), line!(), format_args!("allocation failed"));
    };
    let fe = FrontEnd::new(shared.clone());
    let unreadable = || shared.stats.get(Stat::PacketsUnreadable);
    let hook = |bytes: &[u8]| {
        with_dev_rcu(Net::init(), 1, |lo| {
            let mut skb = OwnedSkb::new_rx(bytes.len())?;
            skb.append(bytes)?;
            let _bh = BhDisabled::new();
            Some(fe.hook(&mut skb.as_received(lo)))
        })
        .flatten()
    };
    // No byte can be pulled: the headers are not read.
    t.fail_pulls_over(0);
    kassert_eq!(t, hook(&bytes), Some(Verdict::Drop));
    kassert_eq!(t, unreadable(), 1);
    // The headers can, the request cannot.
    t.fail_pulls_over(crate::baton_core::tcp::IPV4_TCP_MAX_HLEN);
    kassert_eq!(t, hook(&bytes), Some(Verdict::Drop));
    kassert_eq!(t, unreadable(), 2);
    let record = shared
        .conns
        .with(|store| Some(*store.parts()?.0.get_mut(&key)?));
    kassert!(
        t,
        record.is_some_and(|r| r.state == ConnState::AwaitRequest
            && r.record.rcv_nxt == r.record.client_isn + 1
            && r.buf.is_none())
    );
}

/// A configuration snapshot replaced by a change, and the last one when
/// the namespace goes, is wiped before its memory is freed; a
/// configuration's wipe removes its keys, a key's zeroes it.
fn snapshots_are_wiped_when_freed(t: &Test) {
    static WIPES: AtomicU32 = AtomicU32::new(0);
    struct Probe;
    impl Wipe for Probe {
        fn wipe(&mut self) {
            WIPES.fetch_add(1, Ordering::Relaxed);
        }
    }
    let (Ok(first), Ok(second)) = (
        KBox::new(Wiped(Probe), GFP_KERNEL),
        KBox::new(Wiped(Probe), GFP_KERNEL),
    ) else {
        return t.fail(file!(), line!(), format_args!("allocation failed"));
    };
    let snapshot = RcuBox::new(first);
    kassert_eq!(t, WIPES.load(Ordering::Relaxed), 0);
    snapshot.replace(second);
    kassert_eq!(t, WIPES.load(Ordering::Relaxed), 1);
    drop(snapshot);
    kassert_eq!(t, WIPES.load(Ordering::Relaxed), 2);
    let Some((mut c, _)) = node1_with_peer2(t) else {
        return;
    };
    let key = KeySpec {
        id: Some(1),
        secret: Some(&TEST_SECRET),
        active: true,
    };
    kassert!(t, c.key_new(&key).is_ok());
    c.wipe();
    kassert_eq!(t, c.keys().len(), 0);
    kassert!(t, c.peer(2).is_some());
    // The SYN-cookie key a namespace's state holds is zeroed the same way.
    let mut cookie_key: SipKey = [0x5a; 16];
    cookie_key.wipe();
    kassert_eq!(t, cookie_key, [0; 16]);
}

/// A serving node rebuilds a handed connection only into the listener of
/// a service configured here: a handoff to a port something else listens
/// on (sshd's, say) is refused and builds nothing; once that port is a
/// service, the same handoff builds the socket.
fn rebuild_only_into_a_service(t: &Test) {
    let Some(shared) = shared_with_key(t, Some(1)) else {
        return;
    };
    let net = Net::init();
    let Some(redist) = NetDevice::by_name(net, c_str!("redist")) else {
        return t.fail(file!(), line!(), format_args!("no redist device"));
    };
    let ifindex = redist.ifindex();
    let Some(addr) = with_dev_rcu(net, ifindex, dev_addr).flatten() else {
        return t.fail(file!(), line!(), format_args!("redist has no address"));
    };
    let Some(listener) = Listener::new(net, 8080) else {
        return t.fail(file!(), line!(), format_args!("cannot listen on 8080"));
    };
    let r = record(addr, 8080);
    let rebuild = || {
        let _bh = BhDisabled::new();
        rebuild::rebuild(
            &shared.stats,
            &shared.snapshot,
            net,
            ifindex,
            &r,
            b"GET / HTTP/1.0\r\n\r\n",
        )
    };
    kassert_eq!(t, rebuild(), AckStatus::Refused(RefuseReason::NO_LISTENER));
    kassert_eq!(t, shared.stats.get(Stat::HandoffsRefusedNoService), 1);
    kassert!(t, !connection_exists(net, &tuple_of(&r)));
    let svc = ServiceSpec {
        vip: Some(addr),
        port: Some(8080),
        ..Default::default()
    };
    kassert!(t, reconfigure(&shared, |c| c.service_new(&svc)));
    kassert_eq!(t, rebuild(), AckStatus::Accepted);
    kassert!(t, connection_exists(net, &tuple_of(&r)));
    kassert_eq!(t, shared.stats.get(Stat::SocketsRebuilt), 1);
    // Closing the listener closes the connection waiting in its queue.
    drop(listener);
}

/// An OWNERSHIP batch of changes that cannot be sent (no memory for the
/// frame) is sent with the next tick's: a `Closed` entry is announced
/// nowhere else.
fn unsent_ownership_changes_are_sent_next_tick(t: &Test) {
    let Some(shared) = shared_with_key(t, None) else {
        return;
    };
    let net = Net::init();
    let Some(sync_dev) = NetDevice::by_name(net, c_str!("sync")) else {
        return t.fail(file!(), line!(), format_args!("no sync device"));
    };
    let node = NodeSpec {
        id: Some(1),
        sync_ifindex: u32::try_from(sync_dev.ifindex()).ok(),
        ..Default::default()
    };
    kassert!(t, reconfigure(&shared, |c| c.node_new(&node)));
    let (key, conn) = conn_record(7, 2, 40000, 100, 80, ConnState::Local);
    let entry = |op| crate::conns::ownership_entry(&key, conn.record.conn_id, 1, op);
    shared.sync.ownership_changed(entry(OwnershipOp::Opened));
    shared.sync.ownership_changed(entry(OwnershipOp::Closed));
    kassert_eq!(t, shared.sync.changes_queued(), 2);
    let sent = || shared.stats.get(Stat::SyncOwnershipSent);
    t.fail_skb_allocs(true);
    shared.sync.send_ownership(&shared, net);
    kassert_eq!(t, sent(), 0);
    kassert!(t, shared.stats.get(Stat::FramesSendFailed) >= 1);
    kassert_eq!(t, shared.sync.changes_queued(), 2);
    t.fail_skb_allocs(false);
    shared.sync.send_ownership(&shared, net);
    kassert_eq!(t, sent(), 1);
    kassert_eq!(t, shared.sync.changes_queued(), 0);
}
