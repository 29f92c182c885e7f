// SPDX-License-Identifier: GPL-2.0

//! The serving node's side of a handoff: a verified HANDOFF frame becomes
//! the ACK that would have completed the handshake here, carrying the
//! request bytes and a request sock with the recorded options
//! (`wrap::tcp`); it enters the IPv4 receive path on the redistribution
//! interface, and the kernel builds the socket with the front-end's
//! sequence numbers, queues it for `accept()` and queues the request for
//! `read()`. The application answers the client directly, from the VIP.

use crate::{
    baton_core::{
        conn::new_over_time_wait,
        handoff::{rebuild_len, rebuild_segment},
        ipv4::IPPROTO_TCP,
        wire::redist::{AckStatus, ConnRecord, RefuseReason},
    },
    netstate::Snapshot,
    stats::{Stat, Stats},
    wrap::{
        netdev::{with_dev_rcu, Net},
        rcu::ReadGuard,
        skb::OwnedSkb,
        tcp::{
            accept_queue_of, connection_exists, end_time_wait, existing, Existing, RebuildError,
            RequestAttrs, Tuple,
        },
    },
};

/// The socket a record describes, from the serving node's side.
pub(crate) fn tuple_of(r: &ConnRecord) -> Tuple {
    Tuple {
        client: r.client.octets(),
        client_port: r.client_port,
        local: r.vip.octets(),
        local_port: r.vip_port,
    }
}

/// What the rebuilt socket inherits from the record.
pub(crate) fn attrs_of(r: &ConnRecord) -> RequestAttrs {
    RequestAttrs {
        mss: r.mss,
        wscale: r.wscale.map(|w| (w.snd, w.rcv)),
        sack: r.sack,
        ecn: r.ecn,
        timestamps: r.timestamps.map(|t| (t.recent, t.last_sent)),
    }
}

pub(crate) fn refusal(e: RebuildError) -> RefuseReason {
    match e {
        RebuildError::NoListener => RefuseReason::NO_LISTENER,
        RebuildError::NoMemory => RefuseReason::NO_MEMORY,
        RebuildError::Sysctl | RebuildError::BadAttrs => RefuseReason::BAD_RECORD,
        RebuildError::MptcpListener => RefuseReason::UNSUPPORTED_LISTENER,
    }
}

/// Rebuilds the socket of the handed-off connection `r` whose request is
/// `request` (whole), received on interface `ifindex`. Softirq context (the
/// frame handler). Returns the answer for the front-end.
pub(crate) fn rebuild(
    stats: &Stats,
    config: &Snapshot,
    net: Net<'_>,
    ifindex: i32,
    r: &ConnRecord,
    request: &[u8],
) -> AckStatus {
    stats.inc(Stat::HandoffsReceived);
    let tuple = tuple_of(r);
    // A front-end that did not hear our confirmation sends the same
    // handoff again: the socket is there (or, the connection closed since,
    // its TIME_WAIT socket), confirm again.
    if !make_room(stats, net, &tuple, r) {
        return AckStatus::Accepted;
    }
    // Only a service configured here gets a handed connection: whatever
    // else listens on the address (sshd, a database) is none of the farm's.
    if !is_service(config, r) {
        stats.inc(Stat::HandoffsRefusedNoService);
        return AckStatus::Refused(RefuseReason::NO_LISTENER);
    }
    // A listener whose accept queue is full would drop the rebuilt
    // handshake: refused before building anything, the front-end places
    // the connection again where there is room (the client's request is
    // not acknowledged meanwhile, so it sends it again).
    if accept_queue_full(net, r) {
        stats.inc(Stat::HandoffsRefusedQueueFull);
        return AckStatus::Refused(RefuseReason::QUEUE_FULL);
    }
    let status = inject(net, ifindex, r, request, &tuple);
    count_rebuild(stats, status);
    status
}

/// Whether `r` is addressed to a TCP service of this node's configuration.
fn is_service(config: &Snapshot, r: &ConnRecord) -> bool {
    config.read(|c| {
        c.service_for(r.vip.octets(), r.vip_port, IPPROTO_TCP)
            .is_some()
    })
}

/// Whether the listener that would take the connection `r` has a full
/// accept queue, as `sk_acceptq_is_full()` judges it: the stack would
/// drop its handshake. Any context.
pub(crate) fn accept_queue_full(net: Net<'_>, r: &ConnRecord) -> bool {
    accept_queue_of(
        net,
        (r.client.octets(), r.client_port),
        r.vip.octets(),
        r.vip_port,
    )
    .is_some_and(|(queued, limit)| queued > limit)
}

/// Makes room for the socket of `r` (four-tuple `tuple`): a TIME_WAIT
/// socket of an older connection on the same four-tuple (the client reused
/// its port) is ended, as a new SYN ends it in Linux; the kernel would not
/// hash the rebuilt socket beside it. False if the stack has a socket of
/// this very connection (live, or closed since and in TIME_WAIT). Softirq
/// context.
pub(crate) fn make_room(stats: &Stats, net: Net<'_>, tuple: &Tuple, r: &ConnRecord) -> bool {
    match existing(net, tuple) {
        Existing::Nothing => true,
        Existing::Socket => false,
        Existing::TimeWait(tw) if !new_over_time_wait(tw.rcv_nxt, tw.ts_recent, r) => false,
        Existing::TimeWait(_) => {
            if end_time_wait(net, tuple) {
                stats.inc(Stat::RebuildTimeWaitReplaced);
            }
            true
        }
    }
}

/// Counts the outcome of a rebuild (handed off or served locally).
pub(crate) fn count_rebuild(stats: &Stats, status: AckStatus) {
    match status {
        AckStatus::Accepted => stats.inc(Stat::SocketsRebuilt),
        AckStatus::Refused(why) => {
            stats.inc(Stat::RebuildFailed);
            if why == RefuseReason::UNSUPPORTED_LISTENER {
                stats.inc(Stat::RebuildMptcpListener);
            }
        }
    }
}

/// Builds the segment replaying the handshake's ACK of `r` with `request`,
/// attaches its request sock and receives it on `ifindex`: the socket
/// exists afterwards unless refused. Softirq context.
pub(crate) fn inject(
    net: Net<'_>,
    ifindex: i32,
    r: &ConnRecord,
    request: &[u8],
    tuple: &Tuple,
) -> AckStatus {
    // The listener found for the request sock is not referenced: it must
    // stay alive until the packet reaches it, inside this section.
    let _rcu = ReadGuard::new();
    let len = rebuild_len(request.len(), r.timestamps.is_some());
    let Some(mut skb) = OwnedSkb::new_rx(len) else {
        return AckStatus::Refused(RefuseReason::NO_MEMORY);
    };
    let built = skb
        .put_zeroed(len)
        .and_then(|buf| rebuild_segment(r, request, buf).ok());
    if built != Some(len) {
        return AckStatus::Refused(RefuseReason::BAD_RECORD);
    }
    if let Err(e) = skb.attach_request_sock(net, tuple, &attrs_of(r)) {
        return AckStatus::Refused(refusal(e));
    }
    // The packet enters the stack on the interface the handoff came in on,
    // where the front-end's later packets of the connection arrive too.
    if with_dev_rcu(net, ifindex, |dev| skb.receive(dev)).is_none() {
        return AckStatus::Refused(RefuseReason::NO_LISTENER);
    }
    // `receive` ran the whole IPv4/TCP receive synchronously: the socket
    // exists now unless the listener refused it (accept queue full).
    if connection_exists(net, tuple) {
        AckStatus::Accepted
    } else {
        AckStatus::Refused(RefuseReason::QUEUE_FULL)
    }
}
