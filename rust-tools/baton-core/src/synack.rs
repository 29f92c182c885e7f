//! The front-end's answer to a client's SYN, in one of two modes
//! ([`SynMode`]):
//!
//! * **pending** (the normal case): the front-end keeps a pending-handshake
//!   entry with the options the SYN offered ([`SynOptions`]), so every
//!   option is negotiated as Linux does with a request sock: MSS, window
//!   scaling, SACK, timestamps, ECN. Our ISN is a keyed hash that is *not*
//!   a valid cookie, so an ACK whose entry is gone is not mistaken for a
//!   cookie handshake with fewer options;
//! * **cookie** (when the pending table is full: a SYN flood): nothing is
//!   kept; our ISN is a SYN cookie ([`super::cookie`]) and the options are
//!   negotiated as Linux does in cookie mode: window scaling, SACK and ECN
//!   only when the client sent timestamps (they travel in the low bits of
//!   our tsval and come back in the client's tsecr); MSS always (encoded in
//!   the cookie).

use super::cookie::{self, CookieOptions, FourTuple};
use super::ether::{EthernetFrame, EthernetRepr, ETH_HLEN, ETH_P_IP};
use super::ipv4::{Ipv4Packet, Ipv4Repr, IPPROTO_TCP};
use super::seq::SeqNum;
use super::siphash::SipKey;
use super::tcp::{self, TcpFlags, TcpOptions, TcpRepr, TcpSegment};

/// Largest SYN-ACK frame [`answer_syn`] writes: Ethernet, IPv4 and TCP
/// headers with 20 bytes of options.
pub const SYNACK_MAX_LEN: usize = ETH_HLEN + 20 + 20 + 20;

/// MSS assumed when a SYN carries none (RFC 9293).
pub const DEFAULT_MSS: u16 = 536;

/// How the state of a handshake is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynMode {
    /// Nothing is kept: our ISN is a cookie under [`SynAckParams::key`].
    Cookie,
    /// The caller keeps the [`SynOptions`] of [`Answered::options`]; our
    /// ISN is the same construction under this other key, so it does not
    /// verify as a cookie.
    Pending(SipKey),
}

/// What a SYN negotiated: what a pending-handshake entry keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct SynOptions {
    /// The MSS we will send with: the client's (or [`DEFAULT_MSS`]),
    /// capped at ours.
    pub mss: u16,
    /// The client's window-scale shift, if window scaling is in effect.
    pub wscale: Option<u8>,
    /// SACK is in effect.
    pub sack: bool,
    /// ECN is in effect.
    pub ecn: bool,
    /// The tsval of the client's SYN, if timestamps are in effect.
    pub tsval: Option<u32>,
}

/// This node's side of the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SynAckParams {
    /// The cookie key.
    pub key: SipKey,
    /// Cookie or pending mode.
    pub mode: SynMode,
    /// A monotonic clock in seconds (cookie time slots).
    pub now_secs: u64,
    /// Our TCP timestamp clock (milliseconds, with the node's offset).
    pub now_ts: u32,
    /// The MSS we advertise: the public interface's MTU minus 40.
    pub our_mss: u16,
    /// The window scale we offer.
    pub our_wscale: u8,
    /// The (unscaled) window of the SYN-ACK.
    pub window: u16,
}

/// Why a packet gets no SYN-ACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotASyn {
    /// The headers could not be parsed.
    Malformed,
    /// Not a TCP SYN without ACK/RST/FIN, or a fragment.
    NotSyn,
    /// The output buffer is too small.
    NoRoom,
}

/// What was answered, for counters and the connection record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answered {
    /// Length of the SYN-ACK frame written.
    pub len: usize,
    /// The connection.
    pub tuple: FourTuple,
    /// The client's ISN.
    pub client_isn: u32,
    /// Our ISN (the cookie in cookie mode).
    pub isn: u32,
    /// The options in effect.
    pub options: SynOptions,
}

/// Writes into `out` the SYN-ACK frame answering the SYN whose Ethernet
/// header is `eth` and whose IPv4 packet starts `packet` (a prefix holding
/// the headers is enough).
pub fn answer_syn(
    eth: &[u8],
    packet: &[u8],
    p: &SynAckParams,
    out: &mut [u8],
) -> Result<Answered, NotASyn> {
    let eth = EthernetFrame::parse(eth).map_err(|_| NotASyn::Malformed)?;
    let ip = Ipv4Packet::parse_prefix(packet).map_err(|_| NotASyn::Malformed)?;
    if ip.protocol() != IPPROTO_TCP || ip.is_fragment() {
        return Err(NotASyn::NotSyn);
    }
    let seg = TcpSegment::parse(ip.payload()).map_err(|_| NotASyn::Malformed)?;
    let f = seg.flags();
    if !f.contains(TcpFlags::SYN) || f.intersects(TcpFlags::ACK | TcpFlags::RST | TcpFlags::FIN) {
        return Err(NotASyn::NotSyn);
    }
    // Like Linux, options after a malformed one are ignored.
    let theirs = TcpOptions::parse_lenient(seg.options());
    let tuple = FourTuple {
        client: ip.src(),
        client_port: seg.src_port(),
        vip: ip.dst(),
        vip_port: seg.dst_port(),
    };
    let client_isn = seg.seq().get();
    // A tiny MSS (a tunnel, a hostile client) is raised to Linux's floor,
    // not refused: the serving socket gets the same.
    // An MSS option of 0 counts as none, as in Linux.
    let their_mss = theirs
        .mss
        .filter(|&m| m != 0)
        .unwrap_or(DEFAULT_MSS)
        .min(p.our_mss)
        .max(tcp::TCP_MIN_SND_MSS);
    let (isn_key, pending) = match &p.mode {
        SynMode::Cookie => (&p.key, false),
        SynMode::Pending(k) => (k, true),
    };
    // A pending-mode ISN needs no time slot (its entry expires by itself),
    // and must not have one: a SYN sent again is answered with the same
    // ISN, as Linux's request sock sends the same SYN-ACK again, whenever
    // it comes — across a slot boundary, a client that had the first
    // SYN-ACK would acknowledge an ISN its entry no longer has.
    let slot = if pending {
        0
    } else {
        cookie::slot_of_secs(p.now_secs)
    };
    let isn = cookie::cookie_make(
        isn_key,
        &tuple,
        client_isn,
        slot,
        cookie::mss_index(their_mss),
    );

    let mut flags = TcpFlags::SYN | TcpFlags::ACK;
    let mut ours = TcpOptions {
        mss: Some(p.our_mss),
        wscale: None,
        sack_permitted: false,
        timestamp: None,
    };
    let mut agreed = SynOptions {
        mss: their_mss,
        ..SynOptions::default()
    };
    let tsval = theirs.timestamp.map(|(tsval, _)| tsval);
    // In cookie mode the other options need the timestamp to come back in.
    if pending || tsval.is_some() {
        agreed.wscale = theirs.wscale.map(|s| s.min(tcp::TCP_MAX_WSCALE));
        agreed.sack = theirs.sack_permitted;
        agreed.ecn = f.contains(TcpFlags::ECE | TcpFlags::CWR);
        agreed.tsval = tsval;
        ours.sack_permitted = agreed.sack;
        ours.wscale = agreed.wscale.map(|_| p.our_wscale.min(tcp::TCP_MAX_WSCALE));
        if agreed.ecn {
            flags.insert(TcpFlags::ECE);
        }
    }
    if let Some(tsval) = tsval {
        let opts = CookieOptions {
            wscale: agreed.wscale,
            sack: agreed.sack,
            ecn: agreed.ecn,
        };
        ours.timestamp = Some((cookie::ts_encode(p.now_ts, &opts), tsval));
    }

    let mut options = [0u8; 40];
    let optlen = ours.write_syn(&mut options).map_err(|_| NotASyn::NoRoom)?;
    let tcp_len = 20 + optlen;
    let total = ETH_HLEN + 20 + tcp_len;
    let frame = out.get_mut(..total).ok_or(NotASyn::NoRoom)?;
    EthernetRepr {
        dst: eth.src(),
        src: eth.dst(),
        ethertype: ETH_P_IP,
    }
    .emit(frame)
    .map_err(|_| NotASyn::NoRoom)?;
    let (_, rest) = frame.split_at_mut(ETH_HLEN);
    Ipv4Repr {
        src: tuple.vip,
        dst: tuple.client,
        protocol: IPPROTO_TCP,
        ttl: 64,
        tos: 0,
        identification: 0,
        dont_fragment: true,
        payload_len: tcp_len as u16,
    }
    .emit(rest)
    .map_err(|_| NotASyn::NoRoom)?;
    let (_, segment) = rest.split_at_mut(20);
    TcpRepr {
        src_port: tuple.vip_port,
        dst_port: tuple.client_port,
        seq: SeqNum(isn),
        ack: SeqNum(client_isn.wrapping_add(1)),
        flags,
        window: p.window,
        urgent_ptr: 0,
    }
    .emit(segment, options.get(..optlen).unwrap_or(&[]))
    .map_err(|_| NotASyn::NoRoom)?;
    tcp::fill_checksum(segment, tuple.vip, tuple.client).map_err(|_| NotASyn::NoRoom)?;
    Ok(Answered {
        len: total,
        tuple,
        client_isn,
        isn,
        options: agreed,
    })
}
