// SPDX-License-Identifier: GPL-2.0

//! The module's counters: per-CPU, summed on read.

use kernel::prelude::*;

use crate::{baton_core::wire::error::WireError, wrap::percpu::PerCpuCounters};

/// Declares an enum of counters with their operator-visible names.
macro_rules! counters {
    ($(#[$edoc:meta])* $enum:ident { $($(#[$doc:meta])* $variant:ident => $name:literal,)* }) => {
        $(#[$edoc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(usize)]
        pub(crate) enum $enum {
            $($(#[$doc])* $variant,)*
        }

        impl $enum {
            /// Every counter, in index order.
            pub(crate) const ALL: &'static [$enum] = &[$($enum::$variant,)*];

            /// The counter's name as operators see it.
            pub(crate) fn name(self) -> &'static str {
                match self {
                    $($enum::$variant => $name,)*
                }
            }
        }
    };
}

counters! {
    /// One counter of a namespace.
    Stat {
    /// IPv4 packets seen at pre-routing.
    Ipv4Packets => "ipv4_packets",
    /// TCP segments among them.
    TcpSegments => "tcp_segments",
    /// TCP SYNs (without ACK) among them.
    TcpSyns => "tcp_syns",
    /// UDP datagrams among them.
    UdpDatagrams => "udp_datagrams",
    /// Malformed IPv4 headers.
    MalformedIpv4 => "malformed_ipv4",
    /// Malformed TCP headers or options.
    MalformedTcp => "malformed_tcp",
    /// Malformed UDP headers.
    MalformedUdp => "malformed_udp",
    /// Frames received with the handoff ethertype.
    HandoffFrames => "handoff_frames_rx",
    /// Frames received with the sync ethertype.
    SyncFrames => "sync_frames_rx",
    /// Frames rejected because no key is configured to authenticate them.
    FramesRejectedNoKey => "frames_rejected_no_key",
    /// Frames rejected because they are too short to carry a header.
    FramesRejectedShort => "frames_rejected_short",
    /// IPv4 packets seen by the front-end at the public interface's ingress.
    FrontendPackets => "frontend_packets",
    /// SYNs to a service answered with a SYN-cookie SYN-ACK.
    SynsAnswered => "syns_answered",
    /// SYN-ACKs that could not be allocated or queued (the SYN is dropped;
    /// the client retries).
    SynAckFailed => "synack_failed",
    SynCookiesSent => "syn_cookies_sent",
    SynsPendingCompleted => "syn_pending_completed",
    SynsPendingExpired => "syn_pending_expired",
    /// ACKs to a service whose SYN cookie checked out.
    CookiesValidated => "cookies_validated",
    /// ACKs to a service with no connection record and a cookie that did
    /// not check out (passed to the local stack, which resets them).
    CookiesRejected => "cookies_rejected",
    /// Connection records created (handshakes completed at the front-end).
    ConnsCreated => "conns_created",
    /// Connections served on this node (front-end policy chose it).
    ConnsServedLocally => "conns_served_locally",
    /// Handoffs sent to a peer.
    HandoffsSent => "handoffs_sent",
    /// Handoffs a peer confirmed.
    HandoffsConfirmed => "handoffs_confirmed",
    /// Handoffs a peer refused, or that timed out.
    HandoffsFailed => "handoffs_failed",
    /// Handoffs whose confirmation never came but whose client
    /// acknowledged the peer's data (the peer has the socket).
    HandoffsConfirmedByClient => "handoffs_confirmed_by_client",
    /// Handoffs whose confirmation never came but whose peer announced
    /// the connection as its own on the sync network (OWNERSHIP).
    HandoffsConfirmedByOwner => "handoffs_confirmed_by_owner",
    /// Segments of connections still being decided that were outside the
    /// window (or in it but of no use yet), dropped.
    SegmentsOutOfWindow => "segments_out_of_window",
    /// Challenge ACKs sent (RFC 5961: a RST in the window but not at its
    /// start, a SYN on an established connection).
    ChallengeAcks => "challenge_acks",
    /// ACKs not checked as SYN-cookie ACKs because no cookie went out
    /// lately (every handshake was remembered): they go to the stack.
    CookiesNotExpected => "cookies_not_expected",
    /// Records of connections the client reset (exactly at the next
    /// sequence number) before they were placed, freed.
    ClientResets => "client_resets",
    /// Records replaced by a new connection on the same four-tuple (a SYN
    /// after the old one was closed).
    ConnsReplaced => "conns_replaced",
    /// Client packets forwarded to the owning peer.
    PacketsForwarded => "packets_forwarded",
    /// ICMP errors about a connection another node serves (fragmentation
    /// needed, unreachable, time exceeded) forwarded to it.
    IcmpForwarded => "icmp_forwarded",
    /// Connections reset because no node could take them.
    ConnsReset => "conns_reset",
    /// Connections handed to a peer the farm found dead (declared dead and
    /// silent for `conn::OWNER_SILENT_MS`): lost with its sockets.
    ConnsLost => "conns_lost",
    /// Resets sent to the clients of lost connections: at once from the
    /// expiry timer, and in answer to each segment they send after.
    LostResetsSent => "lost_resets_sent",
    /// Connection records removed after FIN/RST or a close notice.
    ConnsClosed => "conns_closed",
    /// Connection records removed by a timeout.
    ConnsExpired => "conns_expired",
    /// Connections not recorded because the table was full.
    ConnTableFull => "conn_table_full",
    /// Handoffs received from a front-end and rebuilt here.
    HandoffsReceived => "handoffs_received",
    /// Sockets rebuilt for a listener (handed off or served locally).
    SocketsRebuilt => "sockets_rebuilt",
    /// Rebuilds that failed (no listener, accept queue full, no memory).
    RebuildFailed => "rebuild_failed",
    /// Rebuilds refused because the listener is MPTCP (also counted in
    /// `rebuild_failed`): the connection goes to another node.
    RebuildMptcpListener => "rebuild_refused_mptcp",
    /// TIME_WAIT sockets of closed connections ended for a new connection
    /// on the same four-tuple handed here (the client reused its port).
    RebuildTimeWaitReplaced => "rebuild_time_wait_replaced",
    /// Frames sent on the redistribution network.
    HandoffFramesSent => "handoff_frames_tx",
    /// Frames of either network not sent: no memory for the frame, or the
    /// device refused it (the message's own retry, or the next tick's,
    /// makes up for it).
    FramesSendFailed => "frames_tx_failed",
    /// ACKs and RSTs the front-end could not send to a client (no memory
    /// for the packet, or no route): the client's next segment gets
    /// another.
    RepliesFailed => "replies_tx_failed",
    /// Frames that failed authentication or replay checks, or were
    /// malformed.
    FramesRejected => "frames_rejected",
    /// Frames that arrived on an interface other than the redistribution
    /// one.
    FramesWrongInterface => "frames_wrong_interface",
    /// Answers to our handoffs refusing for want of room (the peer's
    /// accept queue was full): the peer gets no more until it announces
    /// room; the connection is placed again on the client's retransmission.
    HandoffsBusy => "handoffs_busy",
    /// Handoffs this node refused because the listener's accept queue was
    /// full (nothing rebuilt).
    HandoffsRefusedQueueFull => "handoffs_refused_queue_full",
    /// Handoffs this node refused because their address and port are not
    /// a service configured here (nothing rebuilt, whatever listens there).
    HandoffsRefusedNoService => "handoffs_refused_no_service",
    /// Handoffs in several frames refused for want of memory for the
    /// request's reassembly buffer.
    ReassemblyNoMemory => "reassembly_no_memory",
    /// Connections to serve here whose listener's accept queue was full:
    /// the client's retransmission is placed again.
    LocalAcceptQueueFull => "local_accept_queue_full",
    /// Records of connections this node serves that reached their idle
    /// timeout with their socket still open: kept (their traffic goes by
    /// the socket, not the record).
    ConnsKeptBySocket => "conns_kept_by_socket",
    /// Segments of connections served here whose socket was not in the
    /// stack (it dropped the request): dropped instead of reset, the
    /// client's retransmission of the request serves it anew.
    LocalSocketMissing => "local_socket_missing",
    /// Connections served here whose socket was gone when the client sent
    /// its request again (the stack dropped the first copy): served anew.
    LocalServesRepeated => "local_serves_repeated",
    /// Packets whose headers (or request bytes) could not be read: no
    /// memory for the pull. Dropped, as the stack would.
    PacketsUnreadable => "packets_unreadable",
    /// UDP flows recorded (their first datagram picked the node).
    UdpFlows => "udp_flows",
    /// UDP datagrams of new flows served where they arrived, without a
    /// record: UDP's share of the connection table was used up.
    UdpDatagramsNotRecorded => "udp_datagrams_not_recorded",
    CloseNoticesSent => "close_notices_tx",
    CloseNoticesReceived => "close_notices_rx",
    /// Front-end: connections whose owner's close was learnt from its
    /// OWNERSHIP `Closed` entry on the sync network, its CLOSE notice not
    /// having come (lost, or late).
    ClosesFromOwnership => "closes_from_ownership",
    RequestSegmentsBuffered => "request_segments_buffered",
    RequestSegmentsOutOfOrder => "request_segments_out_of_order",
    RequestAcksSent => "request_acks_sent",
    RequestBuffersBusy => "request_buffers_busy",
    RequestHeadTooLarge => "request_head_too_large",
    /// Frames sent on the sync network (ANNOUNCEs).
    SyncFramesSent => "sync_frames_tx",
    /// Authenticated ANNOUNCEs received.
    SyncAnnounces => "sync_announces_rx",
    /// Among them: newer states of live nodes.
    SyncAnnouncesApplied => "sync_announces_applied",
    /// Among them: not applied (stale epoch, out of order, our own id,
    /// table full).
    SyncAnnouncesIgnored => "sync_announces_ignored",
    /// Among them: a node heard for the first time.
    SyncNodesNew => "sync_nodes_new",
    /// Among them: a dead node heard again.
    SyncNodesRevived => "sync_nodes_revived",
    /// Among them: a node heard with a new epoch (it restarted).
    SyncNodesRestarted => "sync_nodes_restarted",
    /// Nodes declared dead (not heard for `sync_missed_limit` intervals).
    SyncNodesDied => "sync_nodes_died",
    /// Expiry ticks that came more than two intervals after the previous
    /// one (this node was not running); the excess was not counted
    /// against the other nodes.
    SyncTicksStalled => "sync_ticks_stalled",
    /// Authenticated OWNERSHIP frames received.
    SyncOwnership => "sync_ownership_rx",
    /// OWNERSHIP frames sent (this node's connections, a rolling refresh).
    SyncOwnershipSent => "sync_ownership_tx",
    /// Ownership entries learnt or refreshed from peers.
    OwnershipOpened => "ownership_opened",
    /// Ownership entries removed by their owner's CLOSED entry.
    OwnershipClosed => "ownership_closed",
    /// Ownership entries dropped: not refreshed in time, or owner dead.
    OwnershipExpired => "ownership_expired",
    /// Ownership entries refused: they named another node than the sender.
    OwnershipForeign => "ownership_foreign",
    /// New ownership entries dropped because the table was full.
    OwnershipTableFull => "ownership_table_full",
    /// Client packets without a record forwarded to the owner the
    /// ownership table names (after a VIP takeover).
    OwnershipForwarded => "ownership_forwarded",
    /// Times this node took the VIPs over (`vip_takeover`).
    VipTakeovers => "vip_takeovers",
    /// Times it gave them back (a lower-numbered node is alive again).
    VipReleases => "vip_releases",
    /// Gratuitous ARPs sent for the VIPs.
    GarpSent => "garp_sent",
    /// ARP requests for a VIP answered while holding it.
    ArpReplies => "arp_replies",
}}

const NSTATS: usize = Stat::ALL.len();

const NWIRE: usize = WireError::COUNT;

/// The module's counters.
pub(crate) struct Stats {
    counters: PerCpuCounters<NSTATS>,
    /// Handoff frames rejected, by reason.
    rejects: PerCpuCounters<NWIRE>,
    /// Sync frames rejected, by reason.
    sync_rejects: PerCpuCounters<NWIRE>,
}

impl Stats {
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            counters: PerCpuCounters::new()?,
            rejects: PerCpuCounters::new()?,
            sync_rejects: PerCpuCounters::new()?,
        })
    }

    /// Counts a handoff frame rejected for `reason`. Lock-free, any context.
    pub(crate) fn reject(&self, reason: WireError) {
        self.rejects.add(reason.index(), 1);
    }

    /// Handoff frames rejected for `reason` so far.
    pub(crate) fn rejected(&self, reason: WireError) -> u64 {
        self.rejects.sum(reason.index())
    }

    /// Counts a sync frame rejected for `reason`. Lock-free, any context.
    pub(crate) fn sync_reject(&self, reason: WireError) {
        self.sync_rejects.add(reason.index(), 1);
    }

    /// Sync frames rejected for `reason` so far.
    pub(crate) fn sync_rejected(&self, reason: WireError) -> u64 {
        self.sync_rejects.sum(reason.index())
    }

    /// Counts one event. Lock-free, any context.
    #[inline]
    pub(crate) fn inc(&self, stat: Stat) {
        self.counters.add(stat as usize, 1);
    }

    /// Counts `n` events. Lock-free, any context.
    #[inline]
    pub(crate) fn add(&self, stat: Stat, n: u64) {
        if n != 0 {
            self.counters.add(stat as usize, n);
        }
    }

    /// The current total of one counter.
    pub(crate) fn get(&self, stat: Stat) -> u64 {
        self.counters.sum(stat as usize)
    }

    /// All malformed-packet counters added up.
    pub(crate) fn malformed_total(&self) -> u64 {
        self.get(Stat::MalformedIpv4) + self.get(Stat::MalformedTcp) + self.get(Stat::MalformedUdp)
    }
}

counters! {
    /// One per-service counter.
    ServiceStat {
    /// IPv4 packets to the service (VIP, port, protocol).
    Packets => "packets",
    /// TCP SYNs (without ACK) to the service, seen at IPv4 pre-routing.
    Syns => "tcp_syns",
    /// SYNs to the service answered by the front-end.
    SynsAnswered => "syns_answered",
    /// Connections of the service handed off to a peer.
    HandedOff => "handed_off",
    /// Connections of the service served on this node.
    ServedLocally => "served_locally",
}}

const NSERVICES: usize = crate::baton_core::genl::limits::SERVICES_MAX;
const NSVCSTATS: usize = ServiceStat::ALL.len();

/// Per-service counters, indexed by the service's slot in the
/// configuration (stable while the service exists).
pub(crate) struct ServiceStats {
    counters: PerCpuCounters<{ NSERVICES * NSVCSTATS }>,
}

impl ServiceStats {
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            counters: PerCpuCounters::new()?,
        })
    }

    fn index(slot: usize, stat: ServiceStat) -> usize {
        slot * NSVCSTATS + stat as usize
    }

    /// Counts one event for the service in `slot`. Lock-free, any context.
    #[inline]
    pub(crate) fn inc(&self, slot: usize, stat: ServiceStat) {
        if slot < NSERVICES {
            self.counters.add(Self::index(slot, stat), 1);
        }
    }

    /// The current total of one counter of the service in `slot`.
    pub(crate) fn get(&self, slot: usize, stat: ServiceStat) -> u64 {
        if slot < NSERVICES {
            self.counters.sum(Self::index(slot, stat))
        } else {
            0
        }
    }

    /// Zeroes the counters of `slot` (a new service took it).
    pub(crate) fn reset(&self, slot: usize) {
        if slot < NSERVICES {
            for &stat in ServiceStat::ALL {
                self.counters.reset(Self::index(slot, stat));
            }
        }
    }
}
