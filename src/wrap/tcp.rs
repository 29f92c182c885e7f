// SPDX-License-Identifier: GPL-2.0

//! Rebuilding a TCP connection for an unmodified listener through the
//! kernel's request-sock path, as `bpf_sk_assign_tcp_reqsk()`
//! (`net/core/filter.c`) does: a request sock with the negotiated options is
//! attached to an ACK carrying `seq = client ISN + 1`, `ack = our ISN + 1`
//! (and the request bytes); when that ACK reaches the listener,
//! `cookie_v4_check()` creates the child socket with those ISNs, queues it
//! for `accept()` and processes the bytes.
//!
//! The listener is found without taking a reference: listeners are freed
//! after an RCU grace period, and the packet carrying the request sock must
//! reach `tcp_v4_rcv()` inside the same RCU read-side section. That holds at
//! netdev ingress (the rest of the receive runs synchronously) and for
//! packets handed to [`super::skb::OwnedSkb::receive`].

use super::netdev::Net;
use crate::bindings as b;

/// The TCP connection, network byte order applied inside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tuple {
    /// Client address.
    pub(crate) client: [u8; 4],
    /// Client port.
    pub(crate) client_port: u16,
    /// Local (service) address.
    pub(crate) local: [u8; 4],
    /// Local port.
    pub(crate) local_port: u16,
}

/// What the rebuilt socket is given (the fields `bpf_tcp_req_attrs` has).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RequestAttrs {
    /// MSS to send with.
    pub(crate) mss: u16,
    /// Window scaling: (client's shift, our shift), if negotiated.
    pub(crate) wscale: Option<(u8, u8)>,
    /// SACK permitted.
    pub(crate) sack: bool,
    /// ECN negotiated.
    pub(crate) ecn: bool,
    /// Timestamps: (the client's last tsval, our last tsval), if negotiated.
    pub(crate) timestamps: Option<(u32, u32)>,
}

/// Why a socket could not be rebuilt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RebuildError {
    /// Nothing listens on the service address and port.
    NoListener,
    /// The namespace's TCP settings cannot honour the negotiated options
    /// (syncookies, timestamps, SACK or window scaling turned off).
    Sysctl,
    /// The attributes are out of range (MSS below 48, shift above 14).
    BadAttrs,
    /// No memory for the request sock.
    NoMemory,
    /// The listener is an MPTCP subflow listener, whose request socks are
    /// larger than the TCP ones the rebuild allocates and fills in
    /// (`bpf_sk_assign_tcp_reqsk()` refuses it likewise).
    MptcpListener,
}

/// Smallest MSS a rebuilt socket may have: the floor Linux raises a
/// peer's MSS to (`tcp_min_snd_mss`). (`bpf_sk_assign_tcp_reqsk()` asks
/// for 536, its cookies' smallest; a client with a smaller MSS, behind a
/// tunnel, must get its socket all the same.)
const MIN_MSS: u16 = crate::baton_core::tcp::TCP_MIN_SND_MSS;
/// Largest window-scale shift.
const MAX_WSCALE: u8 = 14;

fn be32(a: [u8; 4]) -> u32 {
    u32::from_ne_bytes(a)
}

fn be16(p: u16) -> u16 {
    p.to_be()
}

/// The current TCP timestamp clock (milliseconds), as the stack uses it.
pub(crate) fn ts_now() -> u32 {
    // SAFETY: reads a clock; any context.
    unsafe { b::baton_tcp_ts_now() }
}

/// A TIME_WAIT socket's memory of its connection, as
/// `tcp_timewait_state_process()` reads it for a new SYN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimeWait {
    /// The next sequence number it expected from the client.
    pub(crate) rcv_nxt: u32,
    /// The client's last timestamp, if the connection had timestamps.
    pub(crate) ts_recent: Option<u32>,
}

/// What the stack holds for a four-tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Existing {
    /// Nothing.
    Nothing,
    /// A socket of a live connection.
    Socket,
    /// A closed connection's TIME_WAIT socket.
    TimeWait(TimeWait),
}

/// What socket exists for `t` in `net`. Any context; takes and drops a
/// reference.
pub(crate) fn existing(net: Net<'_>, t: &Tuple) -> Existing {
    // SAFETY: `net` is alive (its invariant); the lookup takes a reference
    // on what it returns, dropped before returning.
    unsafe {
        let sk = lookup(net, t);
        if sk.is_null() {
            return Existing::Nothing;
        }
        let found = if b::baton_sk_time_wait(sk) {
            let mut ts = 0u32;
            let has_ts = b::baton_tw_ts_recent(sk, &mut ts);
            Existing::TimeWait(TimeWait {
                rcv_nxt: b::baton_tw_rcv_nxt(sk),
                ts_recent: has_ts.then_some(ts),
            })
        } else {
            Existing::Socket
        };
        b::sock_gen_put(sk);
        found
    }
}

/// Ends the TIME_WAIT socket of `t` in `net`, if there is one, so that a
/// new connection on the same four-tuple can be rebuilt (Linux lets a new
/// SYN take over a TIME_WAIT socket likewise). Any context.
pub(crate) fn end_time_wait(net: Net<'_>, t: &Tuple) -> bool {
    // SAFETY: as in `existing`; `baton_tw_kill` consumes the lookup's
    // reference, which `sock_gen_put` drops otherwise.
    unsafe {
        let sk = lookup(net, t);
        if sk.is_null() {
            return false;
        }
        if b::baton_sk_time_wait(sk) {
            b::baton_tw_kill(sk);
            true
        } else {
            b::sock_gen_put(sk);
            false
        }
    }
}

/// The established-table lookup of `t`: a referenced socket or null.
///
/// # Safety
///
/// `net` must be alive; the caller drops the reference.
unsafe fn lookup(net: Net<'_>, t: &Tuple) -> *mut b::sock {
    // SAFETY: the caller's.
    unsafe {
        b::baton_tcp_established(
            net.as_raw(),
            be32(t.client),
            be16(t.client_port),
            be32(t.local),
            be16(t.local_port),
            0,
        )
    }
}

/// Whether a socket (established, or in TIME_WAIT) exists for `t` in `net`.
/// Any context; takes and drops a reference.
pub(crate) fn connection_exists(net: Net<'_>, t: &Tuple) -> bool {
    existing(net, t) != Existing::Nothing
}

/// Checks `a` against the namespace's TCP settings, as the BPF kfunc does.
fn check(net: Net<'_>, a: &RequestAttrs) -> Result<(), RebuildError> {
    if a.mss < MIN_MSS {
        return Err(RebuildError::BadAttrs);
    }
    if let Some((snd, rcv)) = a.wscale {
        if snd > MAX_WSCALE || rcv > MAX_WSCALE {
            return Err(RebuildError::BadAttrs);
        }
    }
    let n = net.as_raw();
    // SAFETY: `net` is alive; these read sysctl integers.
    let (cookies, ts, sack, ws) = unsafe {
        (
            b::baton_sysctl_tcp_syncookies(n),
            b::baton_sysctl_tcp_timestamps(n),
            b::baton_sysctl_tcp_sack(n),
            b::baton_sysctl_tcp_window_scaling(n),
        )
    };
    let refused = cookies == 0
        || (a.timestamps.is_some() && ts == 0)
        || (a.sack && sack == 0)
        || (a.wscale.is_some() && ws == 0);
    if refused {
        return Err(RebuildError::Sysctl);
    }
    Ok(())
}

/// Attaches to `skb` (an IPv4 TCP ACK of connection `t` arriving in `net`)
/// a request sock for the listener of `t.local:t.local_port`.
///
/// # Safety
///
/// `skb` must be a valid socket buffer owned by the caller, with
/// `skb->data` at its IPv4 header, that reaches the IPv4 receive path
/// within the caller's RCU read-side section (see the module doc).
pub(crate) unsafe fn attach_request_sock(
    skb: *mut b::sk_buff,
    net: Net<'_>,
    t: &Tuple,
    a: &RequestAttrs,
) -> Result<(), RebuildError> {
    check(net, a)?;
    // SAFETY: `net` is alive, `skb` valid (caller); the caller is inside an
    // RCU read-side section, which keeps the returned listener alive.
    let listener = unsafe {
        b::baton_tcp_listener(
            net.as_raw(),
            skb,
            be32(t.client),
            be16(t.client_port),
            be32(t.local),
            be16(t.local_port),
            0,
        )
    };
    if listener.is_null() {
        return Err(RebuildError::NoListener);
    }
    // An MPTCP listener's request socks come from
    // `mptcp_subflow_request_sock_ops`, which is not exported; a TCP-sized
    // one would be overrun by `mptcp_subflow_init_cookie_req()` when the
    // listener takes the ACK (slab corruption in softirq).
    // SAFETY: `listener` is a live socket (above).
    if unsafe { b::baton_sk_is_mptcp(listener) } {
        return Err(RebuildError::MptcpListener);
    }
    // SAFETY: `listener` is a live TCP listener (above), not MPTCP.
    let req = unsafe { b::baton_reqsk_alloc(listener) };
    if req.is_null() {
        return Err(RebuildError::NoMemory);
    }
    // The clock offset makes the child's tsval continue from the last one
    // the client saw (our last tsval), as `bpf_sk_assign_tcp_reqsk()`
    // derives it from `rcv_tsecr`.
    let (ts_recent, ts_off) = match a.timestamps {
        Some((recent, last_sent)) => (recent, last_sent.wrapping_sub(ts_now())),
        None => (0, 0),
    };
    let (ws_ok, snd, rcv) = match a.wscale {
        Some((snd, rcv)) => (true, snd, rcv),
        None => (false, 0, 0),
    };
    // SAFETY: `req` is a fresh request sock for `listener`, ours until it is
    // attached to `skb`, whose destructor (`sock_pfree`) frees it if the
    // packet never reaches the listener.
    unsafe {
        b::baton_reqsk_set_listener(req, listener);
        b::baton_reqsk_set_mss(req, a.mss);
        b::baton_reqsk_set_ts(req, ts_recent, ts_off);
        b::baton_ireq_set_wscale(req, ws_ok, snd, rcv);
        b::baton_ireq_set_flags(req, a.timestamps.is_some(), a.sack, a.ecn);
        b::baton_skb_set_reqsk(skb, req);
    }
    Ok(())
}

/// Whether `skb` already carries a socket (for instance a request sock
/// attached by [`attach_request_sock`] before it was injected).
///
/// # Safety
///
/// `skb` must be valid.
pub(crate) unsafe fn has_socket(skb: *const b::sk_buff) -> bool {
    // SAFETY: `skb` is valid (caller).
    !unsafe { b::baton_skb_sk(skb) }.is_null()
}

/// The accept queue of the TCP listener that would take a connection to
/// `addr`:`port` in `net`: (connections waiting for `accept()`, the
/// queue's limit), or `None` if nothing listens there. Any context.
pub(crate) fn accept_queue(net: Net<'_>, addr: [u8; 4], port: u16) -> Option<(u32, u32)> {
    accept_queue_of(net, ([0; 4], 0), addr, port)
}

/// [`accept_queue`] for a connection from `client` (address, port): with
/// `SO_REUSEPORT`, the listener of the group its packets would reach
/// (selected by the hash of the four-tuple, as without a BPF program).
pub(crate) fn accept_queue_of(
    net: Net<'_>,
    client: ([u8; 4], u16),
    addr: [u8; 4],
    port: u16,
) -> Option<(u32, u32)> {
    let _rcu = super::rcu::ReadGuard::new();
    // SAFETY: `net` is alive (its invariant); a lookup without an skb is
    // allowed (reuseport then selects by hash); `_rcu` keeps the returned
    // listener alive while it is read.
    let listener = unsafe {
        b::baton_tcp_listener(
            net.as_raw(),
            core::ptr::null_mut(),
            u32::from_ne_bytes(client.0),
            client.1.to_be(),
            u32::from_ne_bytes(addr),
            port.to_be(),
            0,
        )
    };
    if listener.is_null() {
        return None;
    }
    // SAFETY: `listener` is a live socket inside `_rcu` (above).
    unsafe {
        Some((
            b::baton_sk_ack_backlog(listener),
            b::baton_sk_max_ack_backlog(listener),
        ))
    }
}
