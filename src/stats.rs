// SPDX-License-Identifier: GPL-2.0

//! The module's counters: per-CPU, summed on read.

use kernel::prelude::*;

use crate::wrap::percpu::PerCpuCounters;

macro_rules! stats {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// One counter.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(usize)]
        pub(crate) enum Stat {
            $($(#[$doc])* $variant,)*
        }

        impl Stat {
            /// Every counter, in index order.
            pub(crate) const ALL: &'static [Stat] = &[$(Stat::$variant,)*];

            /// The counter's name as operators see it.
            pub(crate) fn name(self) -> &'static str {
                match self {
                    $(Stat::$variant => $name,)*
                }
            }
        }
    };
}

stats! {
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
}

const NSTATS: usize = Stat::ALL.len();

/// The module's counters.
pub(crate) struct Stats {
    counters: PerCpuCounters<NSTATS>,
}

impl Stats {
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            counters: PerCpuCounters::new()?,
        })
    }

    /// Counts one event. Lock-free, any context.
    #[inline]
    pub(crate) fn inc(&self, stat: Stat) {
        self.counters.add(stat as usize, 1);
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
