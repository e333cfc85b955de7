//! The oracles behind the fuzz targets in `fuzz/` (cargo-fuzz). Each takes
//! arbitrary bytes and panics only if a contract of the codec is broken; the
//! normal test suite replays the committed corpora through the same
//! functions (`tests/tests/fuzz_corpus.rs`), so every CI run covers them.

use std::net::SocketAddr;

use crate::cpa::{UnverifiedCpa, UnverifiedExtendedPayload, VerifyContext};
use crate::crypto::P256Verifier;
use crate::time::{Instant, UnixTime};
use crate::wire::{
    AuthorityBuffer, Message, MessageId, Packet, Reassembled, Reassembler, ReassemblyLimits,
};

/// Target `wire_message`: decoding never panics; whatever decodes re-encodes
/// to a datagram that decodes to the same value, and re-encodes to the same
/// bytes again.
pub fn wire_message(data: &[u8]) {
    if let Ok(p) = Packet::decode(data) {
        let first = p.to_vec().expect("a decoded packet must encode");
        let again = Packet::decode(&first).expect("an encoded packet must decode");
        assert_eq!(again, p, "decode(encode(decode(x))) != decode(x)");
        let second = again.to_vec().expect("a decoded packet must encode");
        assert_eq!(first, second, "encoding is not canonical");
    }
    if let Ok(b) = AuthorityBuffer::decode(data) {
        let mut enc = Vec::new();
        b.encode(&mut enc).expect("a decoded buffer must encode");
        assert_eq!(
            AuthorityBuffer::decode(&enc).expect("an encoded buffer must decode"),
            b
        );
    }
}

/// Target `authority_reassembly`: the input is a sequence of datagrams, each
/// prefixed by a source selector byte and a big-endian `u16` length. They are
/// fed to a small [`Reassembler`]; the table never exceeds its bound, and
/// every completed buffer has the size its fragments announced and is then
/// decoded (totally) as an AUTHORITY_BUFFER.
pub fn authority_reassembly(data: &[u8]) {
    let limits = ReassemblyLimits {
        max_entries: 4,
        lifetime: core::time::Duration::from_secs(5),
    };
    let mut r = Reassembler::new(limits);
    let mut rest = data;
    let mut now = Instant(0);
    while let [src, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (datagram, next) = tail.split_at(len);
        rest = next;
        now = now.plus(core::time::Duration::from_millis(
            u64::from(*src & 0x0f) * 500,
        ));
        let from = SocketAddr::from(([127, 0, 0, 1], 2000 + u16::from(*src >> 4)));
        let Ok(Packet {
            message_id,
            message: Message::Authority(frag),
        }) = Packet::decode(datagram)
        else {
            continue;
        };
        match r.push(now, message_id, from, &frag) {
            Reassembled::Complete(buf) => {
                assert_eq!(buf.len(), usize::from(frag.size), "completed buffer size");
                let _ = AuthorityBuffer::decode(&buf);
            }
            Reassembled::Pending | Reassembled::SizeMismatch | Reassembled::TableFull => {}
        }
        assert!(
            r.len() <= limits.max_entries,
            "reassembly table over its bound"
        );
        if *src == 0xff {
            r.discard(message_id, from);
        }
    }
    let _ = MessageId(0);
}

/// Target `cpa_verify`: decoding a CPA or an extended payload never panics,
/// keeps the exact bytes, and verification returns a verdict without
/// panicking (a forged input must never verify unless its signature is
/// valid, which the fuzzer cannot produce).
pub fn cpa_verify(data: &[u8]) {
    let now = UnixTime(1_790_000_000);
    if let Ok(cpa) = UnverifiedCpa::decode(data) {
        assert_eq!(cpa.as_bytes(), data, "CPA bytes must be kept exactly");
        let ctx = VerifyContext {
            now,
            nonce: None,
            expected_id: Some(cpa.pnrp_id()),
            revoke: cpa.content().revoke,
        };
        let _ = cpa.verify(&P256Verifier, &ctx);
    }
    if let Ok(p) = UnverifiedExtendedPayload::decode(data) {
        assert_eq!(p.as_bytes(), data, "payload bytes must be kept exactly");
    }
}
