//! The per-connection state machine (`baton_core::conn`): its rules one by
//! one, then a model of a whole connection — a client, the front-end's
//! record, three peers that accept, refuse, die or lose their answers, a
//! lossy redistribution network, spoofed segments — driven by random event
//! sequences, with the invariants checked after every step.

use baton_core::conn::{
    Answer, Choice, Conn, Expired, Place, ReadAction, Reading, Segment, SegmentAction, State,
    SynAction, DECIDE_MAX_MS, HALF_CLOSED_MS, HANDOFF_TIMEOUT_MS, LINGER_MS, MAX_BUSY, MAX_RESENDS,
    MAX_TRIES, REQUEST_TIMEOUT_MS,
};
use baton_core::seq::SeqNum;
use baton_core::tcp::TcpFlags;
use baton_core::wire::redist::{AckStatus, RefuseReason};
use proptest::prelude::*;

mod conn_model;

use conn_model::{
    conn, mac, request, run_bytes, seg, Model, Op, Peer, CLIENT_ISN, IDLE, OUR_ISN, REQ,
};

fn handed() -> Conn<u8> {
    let mut c = conn(State::Handed {
        peer: 2,
        mac: mac(2),
    });
    c.rcv_hi = SeqNum::new(CLIENT_ISN + 1 + REQ);
    c
}

fn handed_with_fin() -> Conn<u8> {
    let mut c = handed();
    let fin = seg(TcpFlags::FIN, CLIENT_ISN + 1 + REQ, 0);
    c.on_segment(&fin, 100, Reading::FirstSegment);
    c
}

#[test]
fn the_request_is_placed() {
    let mut c = conn(State::AwaitRequest);
    assert_eq!(
        c.on_segment(&request(), 5, Reading::FirstSegment),
        SegmentAction::Decide
    );
    assert_eq!(c.last_ms, 5);
    // The handshake's ACK alone: only `local` decides on it.
    let ack = seg(TcpFlags::EMPTY, CLIENT_ISN + 1, 0);
    assert_eq!(
        conn(State::AwaitRequest).on_segment(&ack, 5, Reading::FirstSegment),
        SegmentAction::Drop
    );
    assert_eq!(
        conn(State::AwaitRequest).on_segment(&ack, 5, Reading::Handshake),
        SegmentAction::Decide
    );
    assert_eq!(
        conn(State::AwaitRequest).on_segment(&request(), 5, Reading::Content),
        SegmentAction::Read
    );
}

#[test]
fn a_fin_before_any_request_is_a_request() {
    // A health check: connect, then close without a word.
    for reading in [Reading::FirstSegment, Reading::Content, Reading::Handshake] {
        let mut c = conn(State::AwaitRequest);
        let fin = seg(TcpFlags::FIN, CLIENT_ISN + 1, 0);
        assert_eq!(
            c.on_segment(&fin, 1, reading),
            SegmentAction::Decide,
            "{reading:?}"
        );
    }
    // After buffered bytes, at the next expected byte.
    let mut c = conn(State::AwaitRequest);
    c.request.offer(0, &[b'x'; 40], 8192, |_, _| true);
    let fin = seg(TcpFlags::FIN, CLIENT_ISN + 41, 0);
    assert_eq!(
        c.on_segment(&fin, 1, Reading::Content),
        SegmentAction::Decide
    );
    // A FIN beyond a gap waits for the missing bytes.
    let fin = seg(TcpFlags::FIN, CLIENT_ISN + 80, 0);
    assert_eq!(
        c.on_segment(&fin, 1, Reading::FirstSegment),
        SegmentAction::Drop
    );
}

#[test]
fn request_segments_out_of_order_are_held_and_go_together() {
    use baton_core::conn::ReadAction;
    use conn_model::{Store, BUFFER};
    let mut store = Store {
        bytes: vec![0; BUFFER],
        taken: false,
    };
    // The state machine asks for the bytes, then reads them.
    let mut arrive = |c: &mut Conn<u8>, s: &Segment, byte: u8, now: u32| {
        assert_eq!(
            c.on_segment(s, now, Reading::FirstSegment),
            SegmentAction::Read
        );
        let bytes = vec![byte; s.payload as usize];
        c.read(s, &bytes, Reading::FirstSegment, BUFFER, &mut store, now)
    };
    let mut c = conn(State::AwaitRequest);
    // The request's second half arrives first: held, not dropped.
    let tail = seg(TcpFlags::PSH, CLIENT_ISN + 51, 50);
    assert_eq!(arrive(&mut c, &tail, b't', 1), ReadAction::Ack);
    assert_eq!(c.state, State::AwaitRequest);
    assert!(c.request.has_held());
    // Then the first half: the whole request goes with the placement.
    let head = seg(TcpFlags::PSH, CLIENT_ISN + 1, 50);
    assert_eq!(arrive(&mut c, &head, b'h', 2), ReadAction::Decide);
    assert_eq!(c.request.contiguous(), 100);
    assert_eq!(&store.bytes[..100], [[b'h'; 50], [b't'; 50]].concat());
    // A content policy reads until its head is complete (here: always).
    let mut c = conn(State::AwaitRequest);
    assert_eq!(
        c.on_segment(&tail, 1, Reading::Content),
        SegmentAction::Read
    );
    let r = c.read(&tail, &[b't'; 50], Reading::Content, BUFFER, &mut store, 1);
    assert_eq!(r, ReadAction::Ack);
    // Beyond the buffer: dropped, nothing changed.
    let far = seg(TcpFlags::PSH, CLIENT_ISN + 1 + BUFFER as u32, 50);
    assert_eq!(
        c.read(&far, &[0; 50], Reading::Content, BUFFER, &mut store, 2),
        ReadAction::Drop
    );
    // Without a first segment in time, the record still expires.
    assert!(c
        .on_tick(REQUEST_TIMEOUT_MS + 10, IDLE, false)
        .expired
        .is_some());
}

#[test]
fn a_request_head_holds_its_buffer_for_a_bounded_time() {
    use baton_core::conn::REQUEST_HEAD_MS;
    let mut c = conn(State::AwaitRequest);
    c.buf = Some(3);
    // A slow client: one acceptable byte every 5 s keeps the record from
    // idling out, but not past the head deadline.
    let mut now = 0;
    let mut seq = CLIENT_ISN + 1;
    while now < REQUEST_HEAD_MS - 5_000 {
        now += 5_000;
        let s = seg(TcpFlags::PSH, seq, 1);
        c.on_segment(&s, now, Reading::Content);
        c.request
            .offer(seq - CLIENT_ISN - 1, b"x", 8192, |_, _| true);
        seq += 1;
        assert_eq!(c.on_tick(now, IDLE, false).expired, None, "at {now} ms");
    }
    assert_eq!(
        c.on_tick(REQUEST_HEAD_MS, IDLE, false).expired,
        Some(Expired::Idle)
    );
    // Without a buffer (a request decided on its first segment, not yet
    // sent), only the idle timeout applies.
    let mut c = conn(State::AwaitRequest);
    assert_eq!(c.on_tick(REQUEST_HEAD_MS, IDLE, false).expired, None);
}

#[test]
fn udp_flows_take_a_bounded_share_of_the_table() {
    use baton_core::conn::{udp_flow_admitted, UDP_SHARE};
    assert!(udp_flow_admitted(0, 16_384));
    assert!(udp_flow_admitted(16_384 / UDP_SHARE - 1, 16_384));
    assert!(!udp_flow_admitted(16_384 / UDP_SHARE, 16_384));
    assert!(!udp_flow_admitted(0, UDP_SHARE - 1));
}

#[test]
fn rfc5961_while_deciding() {
    let mut c = conn(State::AwaitRequest);
    // Exactly at the next expected byte: the connection ends.
    let rst = seg(TcpFlags::RST, CLIENT_ISN + 1, 0);
    assert_eq!(
        c.on_segment(&rst, 1, Reading::FirstSegment),
        SegmentAction::Reset
    );
    // In the window but not there: a challenge ACK.
    let rst = seg(TcpFlags::RST, CLIENT_ISN + 5000, 0);
    assert_eq!(
        c.on_segment(&rst, 1, Reading::FirstSegment),
        SegmentAction::ChallengeAck
    );
    // Outside: nothing, not even the idle clock.
    for bad in [
        CLIENT_ISN.wrapping_sub(10),
        CLIENT_ISN + (65535 << 7) + 10,
        0,
        u32::MAX / 2,
    ] {
        let mut c = conn(State::AwaitRequest);
        for flags in [TcpFlags::RST, TcpFlags::FIN, TcpFlags::PSH, TcpFlags::EMPTY] {
            let s = seg(flags, bad, 10);
            assert_eq!(
                c.on_segment(&s, 99, Reading::FirstSegment),
                SegmentAction::OutOfWindow
            );
            assert_eq!((c.state, c.last_ms), (State::AwaitRequest, 0));
        }
    }
    // A SYN on a connection being decided: a challenge ACK.
    assert_eq!(c.on_syn(), SynAction::ChallengeAck);
}

#[test]
fn blind_rst_and_fin_do_not_end_a_served_connection() {
    let mut c = handed();
    for seq in [
        0u32,
        12345,
        CLIENT_ISN + 1 + REQ + 1,
        CLIENT_ISN + REQ,
        u32::MAX,
    ] {
        assert_eq!(
            c.on_segment(&seg(TcpFlags::RST, seq, 0), 10, Reading::FirstSegment),
            SegmentAction::Forward(mac(2)),
            "forwarded: the owner's stack judges it"
        );
        let fin = seg(TcpFlags::FIN, seq, 0);
        c.on_segment(&fin, 10, Reading::FirstSegment);
        assert!(!c.teardown.done() && !c.teardown.client_fin, "seq {seq}");
    }
    // Exactly at the next byte: as the owner, taken.
    let rst = seg(TcpFlags::RST, CLIENT_ISN + 1 + REQ, 0);
    c.on_segment(&rst, 20, Reading::FirstSegment);
    assert!(c.teardown.done());
    // ... unless the connection goes on (the owner answered a challenge).
    let more = seg(TcpFlags::PSH, CLIENT_ISN + 1 + REQ, 10);
    c.on_segment(&more, 30, Reading::FirstSegment);
    assert!(!c.teardown.done());
}

#[test]
fn teardown_needs_both_directions_then_lingers() {
    let mut c = handed();
    let fin = seg(TcpFlags::FIN, CLIENT_ISN + 1 + REQ, 0);
    c.on_segment(&fin, 100, Reading::FirstSegment);
    assert!(c.teardown.client_fin && !c.teardown.done());
    // Still forwarding, still here long after (the owner may answer),
    // though not forever in silence.
    assert_eq!(c.on_tick(100 + LINGER_MS * 3, IDLE, false).expired, None);
    assert_eq!(
        handed_with_fin()
            .on_tick(100 + HALF_CLOSED_MS, IDLE, false)
            .expired,
        Some(Expired::Idle)
    );
    // A close notice from another node changes nothing.
    assert!(!c.on_close_notice(mac(3), false, 200));
    assert!(c.on_close_notice(mac(2), false, 200));
    assert!(c.teardown.done());
    // The client's last ACK keeps going to the owner during the linger,
    // which traffic does not extend.
    let ack = seg(TcpFlags::EMPTY, CLIENT_ISN + 2 + REQ, 0);
    for t in [300, 5_000, 9_000] {
        assert_eq!(
            c.on_segment(&ack, t, Reading::FirstSegment),
            SegmentAction::Forward(mac(2))
        );
        assert_eq!(c.on_tick(t, IDLE, false).expired, None);
    }
    assert_eq!(
        c.on_tick(200 + LINGER_MS, IDLE, false).expired,
        Some(Expired::Closed)
    );
}

#[test]
fn an_owner_close_without_the_clients_fin_ends_after_the_fin_timeout() {
    let mut c = handed();
    assert!(c.on_close_notice(mac(2), false, 0));
    assert_eq!(c.on_tick(HALF_CLOSED_MS - 1, IDLE, false).expired, None);
    assert_eq!(
        c.on_tick(HALF_CLOSED_MS, IDLE, false).expired,
        Some(Expired::Idle)
    );
}

#[test]
fn syn_on_a_recorded_four_tuple() {
    let mut c = handed();
    assert_eq!(c.on_syn(), SynAction::Forward(mac(2)));
    assert_eq!(conn(State::Local).on_syn(), SynAction::Accept);
    c.on_close_notice(mac(2), true, 0);
    assert_eq!(
        c.on_syn(),
        SynAction::Replace,
        "a new connection over a closed one"
    );
}

#[test]
fn answers() {
    let mut c = conn(State::AwaitRequest);
    assert_eq!(
        c.place(Choice::Peer(2, mac(2)), 100, 1000, true, 0),
        Place::Peer(mac(2))
    );
    assert_eq!(c.on_answer(mac(3), AckStatus::Accepted), Answer::Ignored);
    assert_eq!(
        c.on_answer(mac(2), AckStatus::Refused(RefuseReason::NO_LISTENER)),
        Answer::Refused
    );
    assert_eq!(c.state, State::Retry { again: None });
    assert_eq!(c.on_answer(mac(2), AckStatus::Accepted), Answer::Ignored);
    assert_eq!(
        c.place(Choice::Peer(3, mac(3)), 100, 1000, true, 0),
        Place::Peer(mac(3))
    );
    assert_eq!(c.on_answer(mac(3), AckStatus::Accepted), Answer::Confirmed);
    assert_eq!(
        c.state,
        State::Handed {
            peer: 3,
            mac: mac(3)
        }
    );
    assert_eq!(c.tried(), &[2, 3]);
}

#[test]
fn a_busy_peer_is_not_a_try() {
    let mut c = conn(State::AwaitRequest);
    c.place(Choice::Peer(2, mac(2)), 100, 1000, true, 0);
    assert_eq!(
        c.on_answer(mac(2), AckStatus::Refused(RefuseReason::QUEUE_FULL)),
        Answer::Busy { peer: 2 }
    );
    assert_eq!(c.state, State::Retry { again: None });
    assert_eq!(c.tried(), &[] as &[u32], "room may come: not excluded");
    // Refused for want of room again and again, never served here for it.
    for now in 1..=(MAX_TRIES as u32 + 2) {
        assert_eq!(
            c.place(Choice::Peer(2, mac(2)), 100, 1000, true, now),
            Place::Peer(mac(2))
        );
        c.on_answer(mac(2), AckStatus::Refused(RefuseReason::QUEUE_FULL));
    }
    c.place(Choice::Peer(3, mac(3)), 100, 1000, true, 10);
    c.on_answer(mac(3), AckStatus::Refused(RefuseReason::NO_LISTENER));
    assert_eq!(c.tried(), &[3], "a refusal for good counts");
    // Past MAX_BUSY, a node that still answers so is tried no more.
    let mut c = conn(State::AwaitRequest);
    for now in 0..u32::from(MAX_BUSY) {
        c.place(Choice::Peer(2, mac(2)), 100, 1000, true, now);
        assert_eq!(
            c.on_answer(mac(2), AckStatus::Refused(RefuseReason::QUEUE_FULL)),
            Answer::Busy { peer: 2 }
        );
    }
    c.place(Choice::Peer(2, mac(2)), 100, 1000, true, 20);
    assert_eq!(
        c.on_answer(mac(2), AckStatus::Refused(RefuseReason::QUEUE_FULL)),
        Answer::Refused
    );
    assert_eq!(c.tried(), &[2]);
}

#[test]
fn an_undecided_connection_goes_after_decide_max() {
    let mut c = conn(State::AwaitRequest);
    c.place(Choice::Peer(2, mac(2)), 100, 1000, true, 0);
    c.on_answer(mac(2), AckStatus::Refused(RefuseReason::QUEUE_FULL));
    // The client keeps sending its request again; no node has room (the
    // placements find none and the segments are dropped).
    let mut now = 0;
    while now < DECIDE_MAX_MS {
        assert_eq!(c.on_tick(now, IDLE, false).expired, None, "at {now}");
        c.on_segment(&request(), now, Reading::FirstSegment);
        now += 1000;
    }
    assert_eq!(
        c.on_tick(DECIDE_MAX_MS, IDLE, false).expired,
        Some(Expired::Idle)
    );
}

#[test]
fn the_clients_ack_of_the_peers_data_confirms() {
    let mut c = conn(State::AwaitRequest);
    c.place(Choice::Peer(2, mac(2)), 100, 1000, true, 0);
    let mut s = seg(TcpFlags::EMPTY, CLIENT_ISN + 1 + REQ, 0);
    s.ack = SeqNum::new(OUR_ISN + 1 + 500);
    assert_eq!(
        c.on_segment(&s, 2000, Reading::FirstSegment),
        SegmentAction::Forward(mac(2))
    );
    assert_eq!(
        c.state,
        State::Handed {
            peer: 2,
            mac: mac(2)
        }
    );
    // An ACK beyond anything the peer can have sent is nobody's.
    for ack in [
        OUR_ISN + 1,
        OUR_ISN + 70_000 + 64240,
        OUR_ISN.wrapping_sub(5),
        0,
    ] {
        let mut c = conn(State::AwaitRequest);
        c.place(Choice::Peer(2, mac(2)), 100, 1000, true, 0);
        s.ack = SeqNum::new(ack);
        assert_eq!(
            c.on_segment(&s, 10, Reading::FirstSegment),
            SegmentAction::Drop
        );
        assert!(matches!(c.state, State::Pending { .. }), "ack {ack}");
    }
}

#[test]
fn the_owners_announcement_confirms_a_request_it_has_in_part() {
    // The request's first segment (half of it) is handed to peer 2, which
    // builds the socket and acknowledges that half to the client; its
    // confirmation is lost.
    let mut c = conn(State::AwaitRequest);
    let first = seg(TcpFlags::PSH, CLIENT_ISN + 1, REQ / 2);
    assert_eq!(
        c.on_segment(&first, 0, Reading::FirstSegment),
        SegmentAction::Decide
    );
    c.place(Choice::Peer(2, mac(2)), (REQ / 2) as usize, 1000, true, 0);
    assert_eq!(c.asked_peer(), Some(2));
    // The client sends only the rest, acknowledging nothing of the peer's
    // (its application waits for the whole request): the front-end can
    // neither place it nor learn from it, however often it comes.
    let rest = seg(TcpFlags::PSH, CLIENT_ISN + 1 + REQ / 2, REQ / 2);
    let bytes = [b'r'; (REQ / 2) as usize];
    let mut store = conn_model::Store {
        bytes: vec![0; conn_model::BUFFER],
        taken: false,
    };
    let mut now = 0;
    for _ in 0..5 {
        now += 2 * HANDOFF_TIMEOUT_MS;
        c.on_tick(now, IDLE, false);
        match c.on_segment(&rest, now, Reading::FirstSegment) {
            SegmentAction::Read => assert_eq!(
                c.read(
                    &rest,
                    &bytes,
                    Reading::FirstSegment,
                    conn_model::BUFFER,
                    &mut store,
                    now
                ),
                ReadAction::Drop
            ),
            other => assert_eq!(other, SegmentAction::Drop),
        }
        assert_eq!(c.asked_peer(), Some(2));
    }
    // Another node's announcement, or one about a connection not being
    // placed, changes nothing.
    assert!(!c.on_owner_announced(3));
    assert_eq!(c.asked_peer(), Some(2));
    for state in [
        State::AwaitRequest,
        State::Local,
        State::Retry { again: None },
        State::Handed {
            peer: 3,
            mac: mac(3),
        },
    ] {
        let mut other = conn(state);
        assert!(!other.on_owner_announced(2), "{state:?}");
        assert_eq!(other.state, state);
    }
    // Peer 2's OWNERSHIP entry for the connection: its socket is there.
    assert!(c.on_owner_announced(2));
    assert_eq!(
        c.state,
        State::Handed {
            peer: 2,
            mac: mac(2)
        }
    );
    assert_eq!(
        c.on_segment(&rest, now, Reading::FirstSegment),
        SegmentAction::Forward(mac(2))
    );
}

#[test]
fn a_silent_peer_is_asked_again_while_alive() {
    let mut c = conn(State::AwaitRequest);
    c.place(Choice::Peer(2, mac(2)), 100, 1000, true, 0);
    let mut now = 0;
    for _ in 0..10 {
        now += HANDOFF_TIMEOUT_MS;
        assert!(c.on_tick(now, IDLE, false).handoff_timed_out);
        assert!(c.asks_again(true));
        assert_eq!(
            c.place(Choice::Peer(3, mac(3)), 100, 1000, true, now),
            Place::Peer(mac(2))
        );
    }
    // Dead (or unknown to the farm): the next peer, after the resends.
    now += HANDOFF_TIMEOUT_MS;
    c.on_tick(now, IDLE, false);
    assert!(c.resends >= MAX_RESENDS && !c.asks_again(false));
    assert_eq!(
        c.place(Choice::Peer(3, mac(3)), 100, 1000, false, now),
        Place::Peer(mac(3))
    );
    // Too large for a peer: served here.
    let mut c = conn(State::AwaitRequest);
    assert_eq!(
        c.place(Choice::Peer(2, mac(2)), 2000, 1000, true, 0),
        Place::Local
    );
}

#[test]
fn an_owned_record_lives_as_long_as_its_socket() {
    let mut c = conn(State::Owned { front_end: mac(1) });
    assert!(c.socket_decides());
    // Idle as far as the record sees (the owner's stack has the traffic),
    // its socket still open at every idle expiry: kept.
    let mut now = 0;
    for _ in 0..5 {
        now += IDLE;
        assert_eq!(c.on_tick(now, IDLE, false).expired, Some(Expired::Idle));
        c.socket_open(now);
        assert_eq!(c.on_tick(now + 1, IDLE, false).expired, None);
    }
    // Done (both sides closed): the socket no longer decides, it lingers.
    c.follow(&seg(TcpFlags::FIN, CLIENT_ISN + 1, 0), now);
    c.owner_closed(false, now);
    assert!(!c.socket_decides());
    c.socket_open(now + LINGER_MS);
    assert_eq!(
        c.on_tick(now + LINGER_MS, IDLE, false).expired,
        Some(Expired::Closed)
    );
    // A handed-off record on the front-end sees the traffic itself.
    assert!(!handed().socket_decides());
}

#[test]
fn a_connection_handed_to_a_lost_peer_resets_its_client() {
    let mut c = handed();
    // The client acknowledges the owner's data as it comes; not backwards.
    let mut ack = seg(TcpFlags::EMPTY, CLIENT_ISN + 1 + REQ, 0);
    ack.ack = SeqNum::new(OUR_ISN + 1 + 5000);
    c.on_segment(&ack, 10, Reading::FirstSegment);
    ack.ack = SeqNum::new(OUR_ISN + 1 + 3000);
    c.on_segment(&ack, 20, Reading::FirstSegment);
    assert_eq!(c.client_acked, SeqNum::new(OUR_ISN + 1 + 5000));
    // Another peer lost: nothing changes.
    assert_eq!(c.lose_owner(|p| p == 3, 30), None);
    assert!(matches!(c.state, State::Handed { .. }));
    // Its own: lost, done, and the reset goes where the client expects.
    assert_eq!(
        c.lose_owner(|p| p == 2, 40),
        Some(SeqNum::new(OUR_ISN + 1 + 5000))
    );
    assert_eq!(c.state, State::Lost { peer: 2 });
    assert!(c.teardown.done());
    // Once only.
    assert_eq!(c.lose_owner(|p| p == 2, 50), None);
    // Every segment the client sends meanwhile is answered with a reset;
    // its own reset is not.
    assert_eq!(
        c.on_segment(&ack, 60, Reading::FirstSegment),
        SegmentAction::ResetClient
    );
    assert_eq!(
        c.on_segment(&request(), 60, Reading::Content),
        SegmentAction::ResetClient
    );
    let rst = seg(TcpFlags::RST, CLIENT_ISN + 1 + REQ, 0);
    assert_eq!(
        c.on_segment(&rst, 60, Reading::FirstSegment),
        SegmentAction::Drop
    );
    // A new connection on the four-tuple replaces it; else it goes after
    // the linger.
    assert_eq!(c.on_syn(), SynAction::Replace);
    assert_eq!(c.on_tick(40 + LINGER_MS - 1, IDLE, false).expired, None);
    assert_eq!(
        c.on_tick(40 + LINGER_MS, IDLE, false).expired,
        Some(Expired::Closed)
    );
}

#[test]
fn only_a_live_handed_connection_is_lost() {
    // Closed on both sides already: it lingers as it was.
    let mut c = handed_with_fin();
    c.on_close_notice(mac(2), false, 200);
    assert_eq!(c.lose_owner(|_| true, 300), None);
    // Still being decided, or served elsewhere: not the lost peer's.
    for state in [
        State::AwaitRequest,
        State::Local,
        State::Retry { again: None },
        State::Owned { front_end: mac(1) },
    ] {
        let mut c = conn(state);
        assert_eq!(c.lose_owner(|_| true, 300), None, "{state:?}");
        assert_eq!(c.state, state);
    }
}

#[test]
fn a_handoff_to_a_lost_peer_is_not_asked_again() {
    let mut c = conn(State::Pending {
        peer: 2,
        mac: mac(2),
        since_ms: 0,
    });
    assert!(c.note_try(2));
    assert_eq!(c.lose_owner(|p| p == 2, 100), None);
    assert_eq!(c.state, State::Retry { again: None });
    // The request again: placed elsewhere.
    assert_eq!(
        c.on_segment(&request(), 200, Reading::FirstSegment),
        SegmentAction::Decide
    );
    // But if the client acknowledges data, the lost peer had answered it:
    // the connection died with it.
    let mut c = conn(State::Retry { again: None });
    assert!(c.note_try(2));
    let mut ack = seg(TcpFlags::EMPTY, CLIENT_ISN + 1 + REQ, 0);
    ack.ack = SeqNum::new(OUR_ISN + 1 + 700);
    assert_eq!(
        c.on_segment(&ack, 300, Reading::FirstSegment),
        SegmentAction::ResetClient
    );
    assert_eq!(c.state, State::Lost { peer: 2 });
    assert!(c.teardown.done());
}

#[test]
fn a_request_that_never_comes_expires() {
    let mut c = conn(State::AwaitRequest);
    assert_eq!(c.on_tick(REQUEST_TIMEOUT_MS - 1, IDLE, false).expired, None);
    assert_eq!(
        c.on_tick(REQUEST_TIMEOUT_MS, IDLE, false).expired,
        Some(Expired::Idle)
    );
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::ClientSends),
        2 => (0u8..2).prop_map(Op::ClientSendsHalf),
        6 => (any::<usize>(), prop::bool::weighted(0.3)).prop_map(|(i, l)| Op::Deliver(i, l)),
        3 => (0u32..3000).prop_map(Op::Wait),
        3 => (0u8..4, any::<u32>()).prop_map(|(f, s)| Op::Spoof(f, s)),
        2 => (0u8..4, 0u32..200).prop_map(|(f, d)| Op::Spoof(f, CLIENT_ISN + d - 100)),
        1 => Just(Op::OwnerAnswers),
        1 => Just(Op::OwnerCloses),
        1 => Just(Op::ClientCloses),
        1 => Just(Op::OwnerDies),
        1 => Just(Op::OwnerAnnounces),
        1 => Just(Op::ClientAborts),
        1 => Just(Op::OwnerForgets),
    ]
}

fn peer() -> impl Strategy<Value = Peer> {
    prop_oneof![
        Just(Peer::Accept),
        Just(Peer::Refuse),
        Just(Peer::Busy),
        Just(Peer::Dead),
        Just(Peer::Mute)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    /// Any sequence of client segments, frame deliveries and losses,
    /// timer ticks, spoofed segments (any sequence number, and near the
    /// window's edges), closes and the owner's death keeps the invariants
    /// (at most one owner, a handed connection's peer holds its socket
    /// until the farm finds it dead, a lost connection's client is reset,
    /// tries bounded, spoofed out-of-window segments change nothing); and
    /// afterwards, with the client retransmitting and frames arriving,
    /// every connection is served, reset or gone within a bounded time,
    /// and a closed or reset one is freed.
    #[test]
    fn model(peers in [peer(), peer(), peer()], no_request in prop::bool::weighted(0.2),
             ops in prop::collection::vec(op(), 0..80)) {
        let mut m = Model::new(peers, no_request);
        for op in ops {
            m.step(op);
            m.check();
        }
        if let Err(e) = m.settle() {
            prop_assert!(false, "{}", e);
        }
    }
}

/// The fuzz target's driver (`fuzz/fuzz_targets/conn_events.rs`) over a
/// fixed pseudo-random corpus: what `make check` runs of it without a
/// nightly toolchain.
#[test]
fn fuzz_corpus() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for len in 0..3000usize {
        let data: Vec<u8> = (0..len % 300)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        run_bytes(&data);
    }
}

#[test]
fn a_new_connection_takes_over_a_time_wait_socket() {
    use baton_core::conn::new_over_time_wait;
    use baton_core::wire::redist::Timestamps;
    let mut r = conn_model::record();
    // The old connection ended at client ISN + 1 + 100 (+ its FIN).
    let tw_next = CLIENT_ISN + 102;
    // The same connection handed again: not new.
    assert!(!new_over_time_wait(tw_next, None, &r));
    // A new ISN beyond the old connection's: new.
    r.client_isn = SeqNum::new(CLIENT_ISN + 50_000);
    assert!(new_over_time_wait(tw_next, None, &r));
    // An ISN before it, but a newer timestamp: new (PAWS says so).
    r.client_isn = SeqNum::new(CLIENT_ISN - 50_000);
    assert!(!new_over_time_wait(tw_next, Some(5000), &r));
    r.timestamps = Some(Timestamps {
        offset: 0,
        recent: 5001,
        last_sent: 0,
    });
    assert!(new_over_time_wait(tw_next, Some(5000), &r));
    assert!(!new_over_time_wait(tw_next, Some(5001), &r));
}

#[test]
fn the_owners_ownership_entry_closes_when_its_notice_was_lost() {
    // The client's FIN went by; the owner's CLOSE notice never came.
    let mut c = handed_with_fin();
    assert!(!c.teardown.done());
    // Another node's entry changes nothing.
    assert!(!c.on_owner_gone(3, 500));
    assert!(!c.teardown.done());
    // The owner's record went: it closed.
    assert!(c.on_owner_gone(2, 500));
    assert_eq!(c.teardown.done_since, Some(500));
    // The notice, late, changes nothing more; nor the entry again.
    assert!(c.on_close_notice(mac(2), false, 900));
    assert_eq!(c.teardown.done_since, Some(500));
    assert!(!c.on_owner_gone(2, 900));
    // The record lingers from the entry on, and goes.
    assert_eq!(
        c.on_tick(500 + LINGER_MS, IDLE, false).expired,
        Some(Expired::Closed)
    );
    // Before any FIN of the client: half closed, as with the notice.
    let mut c = handed();
    assert!(c.on_owner_gone(2, 100));
    assert!(c.teardown.owner_closed && !c.teardown.done());
    // Not a connection handed off: nothing.
    let mut c = conn(State::AwaitRequest);
    assert!(!c.on_owner_gone(2, 100));
}

#[test]
fn a_reset_at_the_clients_fin_ends_the_connection() {
    // wrk stops with a response in flight: its socket, closed, resets from
    // its FIN's sequence number, one before what the owner expects next;
    // Linux's owner socket (CLOSE_WAIT, LAST_ACK) takes it.
    let fin_seq = CLIENT_ISN + 1 + REQ;
    let rst = seg(TcpFlags::RST, fin_seq, 0);
    let mut c = handed_with_fin();
    assert_eq!(
        c.on_segment(&rst, 200, Reading::FirstSegment),
        SegmentAction::Forward(mac(2))
    );
    assert_eq!(c.teardown.done_since, Some(200));
    // The serving node's record: the FIN, then the reset at it.
    let mut o = conn(State::Owned { front_end: mac(1) });
    o.rcv_hi = SeqNum::new(fin_seq);
    o.observe_close(&seg(TcpFlags::FIN, fin_seq, 0), 50);
    o.observe_close(&rst, 60);
    assert_eq!(o.teardown.done_since, Some(60));
    // Without the FIN, a reset one before the next sequence number is a
    // blind guess that missed: the owner answers a challenge ACK.
    let mut c = handed();
    c.on_segment(
        &seg(TcpFlags::RST, fin_seq - 1, 0),
        200,
        Reading::FirstSegment,
    );
    assert!(!c.teardown.done());
    let mut o = conn(State::Owned { front_end: mac(1) });
    o.rcv_hi = SeqNum::new(fin_seq);
    o.observe_close(&seg(TcpFlags::RST, fin_seq - 1, 0), 60);
    assert!(!o.teardown.done());
}

#[test]
fn a_serving_node_counts_a_fin_ahead_of_what_it_saw() {
    // The serving node's record saw the first request only; the client sent
    // 20 more on the connection, then its FIN.
    let mut c = conn(State::Owned { front_end: mac(1) });
    c.rcv_hi = SeqNum::new(CLIENT_ISN + 1 + REQ);
    let fin = seg(TcpFlags::FIN, CLIENT_ISN + 1 + REQ * 21, 0);
    c.observe_close(&fin, 50);
    assert!(c.teardown.client_fin);
    c.owner_closed(false, 60);
    assert_eq!(c.teardown.done_since, Some(60));
    // Behind what it saw, or beyond a window ahead: nothing.
    for seq in [CLIENT_ISN, CLIENT_ISN + 1 + REQ + (65_535 << 7) + 1] {
        let mut c = conn(State::Owned { front_end: mac(1) });
        c.rcv_hi = SeqNum::new(CLIENT_ISN + 1 + REQ);
        c.observe_close(&seg(TcpFlags::FIN, seq, 0), 50);
        c.observe_close(&seg(TcpFlags::RST, seq, 0), 50);
        assert_eq!(
            (c.teardown.client_fin, c.teardown.reset, c.last_ms),
            (false, false, 0)
        );
    }
}
