//! The filters of a `CONN_GET` dump: which attribute values are refused,
//! with which message, errno and attribute, and which connections each
//! criterion keeps; plus the connection states' numbers and names.

use baton_core::conninfo::{ConnFilter, ConnFilterSpec, ConnInfo, FilterError};
use baton_core::conntable::ConnKey;
use baton_core::cookie::FourTuple;
use baton_core::errno::Errno;
use baton_core::ether::MacAddr;
use baton_core::genl::{limits, Attr, ConnState};
use baton_core::ipv4::Ipv4Addr;
use proptest::prelude::*;

fn conn(client: u8, vip: u8, port: u16, state: ConnState, peer: Option<u32>) -> ConnInfo {
    ConnInfo {
        id: 0x1234_5678_0000_0001,
        key: ConnKey::tcp(FourTuple {
            client: Ipv4Addr::new(198, 51, 100, client),
            client_port: 40000,
            vip: Ipv4Addr::new(203, 0, 113, vip),
            vip_port: port,
        }),
        state,
        peer,
        front_end: (state == ConnState::Owned).then_some(MacAddr([2, 0, 0, 0, 0, 1])),
        client_isn: 1,
        our_isn: 2,
        rcv_nxt: 3,
        snd_nxt: 4,
        age_ms: 5,
        idle_ms: 6,
        client_done: false,
    }
}

fn filter(spec: ConnFilterSpec) -> ConnFilter {
    ConnFilter::new(&spec).expect("valid filter")
}

#[test]
fn state_numbers_and_names() {
    let names: Vec<&str> = ConnState::ALL.iter().map(|s| s.name()).collect();
    assert_eq!(
        names,
        [
            "await-request",
            "pending",
            "retry",
            "handed-off",
            "local",
            "owned",
            "lost"
        ]
    );
    for (i, s) in ConnState::ALL.iter().enumerate() {
        assert_eq!(*s as usize, i);
        assert_eq!(ConnState::from_raw(i as u8), Some(*s));
        assert_eq!(ConnState::from_name(s.name()), Some(*s));
    }
    assert_eq!(ConnState::from_raw(7), None);
    assert_eq!(ConnState::from_name("handed"), None);
    let with_peer: Vec<ConnState> = ConnState::ALL
        .iter()
        .copied()
        .filter(|s| s.has_peer())
        .collect();
    assert_eq!(
        with_peer,
        [ConnState::Pending, ConnState::HandedOff, ConnState::Lost]
    );
}

#[test]
fn refused_filters() {
    let err = |spec: ConnFilterSpec| ConnFilter::new(&spec).unwrap_err();
    let e = err(ConnFilterSpec {
        state: Some(7),
        ..Default::default()
    });
    assert_eq!(e, FilterError::UnknownState);
    assert_eq!((e.errno(), e.attr()), (Errno::Invalid, Attr::ConnState));
    assert!(e.message().starts_with("unknown connection state"));
    assert!(e.message().contains("handed-off"));
    for peer in [0, limits::NODE_ID_MAX + 1, u32::MAX] {
        let e = err(ConnFilterSpec {
            peer: Some(peer),
            ..Default::default()
        });
        assert_eq!(
            (e, e.errno(), e.attr()),
            (FilterError::PeerIdRange, Errno::OutOfRange, Attr::PeerId)
        );
    }
    let e = err(ConnFilterSpec {
        port: Some(0),
        ..Default::default()
    });
    assert_eq!(
        (e, e.errno(), e.attr()),
        (FilterError::BadPort, Errno::Invalid, Attr::Port)
    );
    // The first bad attribute in a fixed order: state, peer, port.
    let e = err(ConnFilterSpec {
        state: Some(200),
        peer: Some(0),
        port: Some(0),
        ..Default::default()
    });
    assert_eq!(e, FilterError::UnknownState);
    for e in FilterError::ALL {
        assert_eq!(e.message_c().to_str(), Ok(e.message()), "{e:?}");
        assert!(!e.message().is_empty(), "{e:?}");
    }
}

#[test]
fn accepted_filters() {
    assert!(filter(ConnFilterSpec::default()).is_empty());
    let f = filter(ConnFilterSpec {
        state: Some(3),
        peer: Some(limits::NODE_ID_MAX),
        vip: Some([203, 0, 113, 1]),
        port: Some(65535),
        client: Some([0, 0, 0, 0]),
    });
    assert_eq!(f.state, Some(ConnState::HandedOff));
    assert_eq!(f.vip, Some(Ipv4Addr::new(203, 0, 113, 1)));
    assert_eq!(f.client, Some(Ipv4Addr::UNSPECIFIED));
    assert!(!f.is_empty());
}

#[test]
fn each_criterion_selects() {
    let a = conn(1, 1, 80, ConnState::Pending, Some(2));
    let b = conn(2, 1, 443, ConnState::HandedOff, Some(3));
    let c = conn(1, 2, 80, ConnState::Owned, None);
    let d = conn(3, 1, 80, ConnState::Local, None);
    let all = [a, b, c, d];
    let pick = |spec: ConnFilterSpec| -> Vec<ConnInfo> {
        let f = filter(spec);
        all.iter().copied().filter(|x| f.matches(x)).collect()
    };
    assert_eq!(pick(ConnFilterSpec::default()), all);
    assert_eq!(
        pick(ConnFilterSpec {
            state: Some(ConnState::Owned as u8),
            ..Default::default()
        }),
        [c]
    );
    // Only pending and handed-off connections have a peer.
    assert_eq!(
        pick(ConnFilterSpec {
            peer: Some(3),
            ..Default::default()
        }),
        [b]
    );
    assert_eq!(
        pick(ConnFilterSpec {
            vip: Some([203, 0, 113, 1]),
            ..Default::default()
        }),
        [a, b, d]
    );
    assert_eq!(
        pick(ConnFilterSpec {
            port: Some(80),
            ..Default::default()
        }),
        [a, c, d]
    );
    assert_eq!(
        pick(ConnFilterSpec {
            client: Some([198, 51, 100, 1]),
            ..Default::default()
        }),
        [a, c]
    );
    // Criteria are AND-ed.
    assert_eq!(
        pick(ConnFilterSpec {
            client: Some([198, 51, 100, 1]),
            port: Some(80),
            vip: Some([203, 0, 113, 1]),
            ..Default::default()
        }),
        [a]
    );
    assert_eq!(
        pick(ConnFilterSpec {
            state: Some(ConnState::Local as u8),
            peer: Some(2),
            ..Default::default()
        }),
        []
    );
}

proptest! {
    /// A filter keeps a connection exactly when every criterion present
    /// equals the connection's value.
    #[test]
    fn matches_is_the_conjunction(
        state in 0u8..6, peer in 1u32..4, vip in 1u8..3, port in 79u16..82, client in 1u8..3,
        use_state: bool, use_peer: bool, use_vip: bool, use_port: bool, use_client: bool,
        cstate in 0u8..6, cpeer in 1u32..4, cvip in 1u8..3, cport in 79u16..82, cclient in 1u8..3,
    ) {
        let cs = ConnState::from_raw(cstate).unwrap();
        let c = conn(cclient, cvip, cport, cs, cs.has_peer().then_some(cpeer));
        let spec = ConnFilterSpec {
            state: use_state.then_some(state),
            peer: use_peer.then_some(peer),
            vip: use_vip.then_some([203, 0, 113, vip]),
            port: use_port.then_some(port),
            client: use_client.then_some([198, 51, 100, client]),
        };
        let want = (!use_state || state == cstate)
            && (!use_peer || c.peer == Some(peer))
            && (!use_vip || vip == cvip)
            && (!use_port || port == cport)
            && (!use_client || client == cclient);
        prop_assert_eq!(filter(spec).matches(&c), want);
    }
}
