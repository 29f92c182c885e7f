//! Whole frames: the structural parser, tag verification, body decoding and
//! the replay-checked `open`, on both networks. Whatever decodes must
//! re-encode to the same body bytes.
#![no_main]

use baton_core::auth::ReplayTable;
use baton_core::wire::epoch::frame_time_ms;
use baton_core::wire::frame::{encode, open, Frame, FrameParams, Network, MAX_FRAME_LEN};
use libfuzzer_sys::fuzz_target;

const KEY: [u8; 16] = *b"fuzzing key 0123";

fuzz_target!(|data: &[u8]| {
    for net in [Network::Handoff, Network::Sync] {
        if let Ok(f) = Frame::parse(data, net) {
            let _ = f.verify(&KEY);
            if let Ok(m) = f.message() {
                let h = f.header();
                let p = FrameParams {
                    key_id: h.key_id,
                    sender: h.sender,
                    epoch: h.epoch,
                    seq: h.seq,
                };
                let mut out = [0u8; MAX_FRAME_LEN];
                let n = encode(&mut out, &p, &m, &KEY).expect("decoded message re-encodes");
                assert_eq!(&out[24..n - 16], f.body());
                assert_eq!(&out[..24], &data[..24]);
            }
        }
        // The frame's own time as now, so that a well-formed frame is fresh
        // and reaches the checks after the freshness one.
        let now_ms = Frame::parse(data, net)
            .map(|f| frame_time_ms(f.header().epoch, f.header().seq))
            .unwrap_or(0);
        let mut replay: ReplayTable<4> = ReplayTable::new();
        let _ = open(data, net, |_| Some(KEY), &mut replay, now_ms);
    }
});
