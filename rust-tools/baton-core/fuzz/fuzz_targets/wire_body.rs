//! Frame bodies straight into the body decoders (the first byte picks the
//! type), so the fuzzer need not get past header checks and tags; plus the
//! request reassembly driven by the decoded HANDOFF chunks.
#![no_main]

use baton_core::wire::{
    frame::{encode, FrameParams, MsgType, MAX_FRAME_LEN},
    message::Message,
    reassembly::Reassembly,
};
use libfuzzer_sys::fuzz_target;

const TYPES: [MsgType; 5] = [
    MsgType::Handoff,
    MsgType::HandoffAck,
    MsgType::Close,
    MsgType::Announce,
    MsgType::Ownership,
];

fuzz_target!(|data: &[u8]| {
    let Some((sel, body)) = data.split_first() else {
        return;
    };
    let t = TYPES[usize::from(*sel) % TYPES.len()];
    if let Ok(m) = Message::decode(t, body) {
        let p = FrameParams {
            key_id: 1,
            sender: 1,
            epoch: 1,
            seq: 1,
        };
        let mut out = [0u8; MAX_FRAME_LEN];
        if body.len() <= MAX_FRAME_LEN - 40 {
            let n = encode(&mut out, &p, &m, &[0; 16]).expect("decoded message re-encodes");
            assert_eq!(&out[24..n - 16], body);
        }
        if let Message::Handoff(h) = m {
            let mut buf = [0u8; 4096];
            let mut r = Reassembly::new();
            let _ = r.push(&mut buf, &h);
            let _ = r.push(&mut buf, &h);
            let _ = r.data(&buf);
        }
    }
});
