// SPDX-License-Identifier: GPL-2.0

//! VIP takeover, the front-end half of failover (`vip_takeover`).
//!
//! While this node holds the VIPs (it is the lowest-numbered live node of
//! the farm table, see `SyncNet::update_holder`), it answers ARP requests
//! for its services' VIPs on the public interface itself (the VIPs sit on
//! `lo` with `arp_ignore`, so the stack would not) and, when it takes them
//! over, announces them with gratuitous ARPs so that the router's
//! neighbour entry moves to it at once. Client packets of connections it
//! has no record of are then forwarded to their owners from the ownership
//! table (`owners`).

use crate::{
    baton_core::{
        arp::{Arp, ARP_FRAME_LEN, ARP_LEN},
        ether::MacAddr,
        ipv4::Ipv4Addr,
    },
    netstate::Snapshot,
    stats::{Stat, Stats},
    wrap::{
        netdev::{with_dev_rcu, Net},
        skb::{OwnedSkb, SkBuff},
    },
};

/// Gratuitous ARPs sent per takeover, a second apart (RFC 5227 announces
/// twice; a third covers a lost one on a busy segment).
pub(crate) const GARP_COUNT: u32 = 3;
/// Interval between them.
pub(crate) const GARP_INTERVAL_MS: u32 = 1000;

/// Sends `arp` out of device `ifindex` of `net`. Any context.
fn send(net: Net<'_>, ifindex: i32, arp: impl FnOnce(MacAddr) -> Arp) -> bool {
    with_dev_rcu(net, ifindex, |dev| {
        let Some(mut skb) = OwnedSkb::new(ARP_FRAME_LEN) else {
            return false;
        };
        let Some(buf) = skb.put_zeroed(ARP_FRAME_LEN) else {
            return false;
        };
        if arp(MacAddr(dev.mac())).emit_frame(buf).is_err() {
            return false;
        }
        skb.transmit(dev, crate::baton_core::ether::ETH_P_ARP)
    })
    .unwrap_or(false)
}

/// Announces every VIP of this namespace's services with a gratuitous ARP
/// on the public interface. Any context.
pub(crate) fn announce(config: &Snapshot, stats: &Stats, net: Net<'_>) {
    let mut vips = [[0u8; 4]; crate::baton_core::genl::limits::SERVICES_MAX];
    let (ifindex, n) = config.read(|c| {
        let ifindex = c.node().map_or(0, |n| n.public_ifindex);
        let mut n = 0usize;
        for (_, svc) in c.services().slots() {
            if !vips[..n].contains(&svc.key.vip) {
                if let Some(v) = vips.get_mut(n) {
                    *v = svc.key.vip;
                    n += 1;
                }
            }
        }
        (ifindex, n)
    });
    let Ok(ifindex) = i32::try_from(ifindex) else {
        return;
    };
    if ifindex == 0 {
        return;
    }
    for v in &vips[..n] {
        let addr = Ipv4Addr::from(*v);
        if send(net, ifindex, |mac| Arp::gratuitous(mac, addr)) {
            stats.inc(Stat::GarpSent);
        }
    }
}

/// An ARP packet that reached the public interface while this node holds
/// the VIPs (the caller asks `SyncNet::holds_vips`): if it asks for one of
/// our VIPs, answers it. The packet itself goes on to the stack either way.
/// Softirq context.
pub(crate) fn arp_received(config: &Snapshot, stats: &Stats, skb: &mut SkBuff<'_>) {
    let Some(req) = skb.header(ARP_LEN).and_then(Arp::parse) else {
        return;
    };
    let ours = config.read(|c| {
        c.services()
            .slots()
            .any(|(_, s)| req.asks_for(Ipv4Addr::from(s.key.vip)))
    });
    let (Some(net), Some(ifindex)) = (skb.net(), skb.ifindex()) else {
        return;
    };
    if ours && send(net, ifindex, |mac| req.reply(mac)) {
        stats.inc(Stat::ArpReplies);
    }
}
