//! The slow path, on hickory-proto: every datagram the fast parser of
//! [`crate::wire`] does not take (several questions, records in the answer
//! or authority section of a query, compression in the question name…) is
//! decoded here in full. A decodable standard query with exactly one
//! question is re-encoded in the canonical shape (header, question, OPT)
//! and answered like any other; everything else gets its rcode.

use hickory_proto::op::{Message, MessageType, OpCode};

use crate::wire::{Reject, rcode};

/// What the slow path makes of a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Slow {
    /// The same query in the fast path's shape.
    Rebuilt(Vec<u8>),
    /// Answer with this rcode only.
    Reject(Reject),
    /// Not answerable (no header, or a response).
    Ignore,
}

/// Decodes `msg` with hickory-proto (total: hickory's decoder bounds
/// pointers and counts by the message length).
pub(crate) fn normalise(msg: &[u8]) -> Slow {
    let (Some(&[a, b]), Some(&[c, d])) = (msg.get(0..2).map(<[u8]>::as_ref), msg.get(2..4)) else {
        return Slow::Ignore;
    };
    let (id, flags) = (u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
    if msg.len() < crate::wire::HEADER_LEN || flags & 0x8000 != 0 {
        return Slow::Ignore;
    }
    let reject = |rcode| {
        Slow::Reject(Reject {
            id,
            flags,
            rcode,
            edns: None,
        })
    };
    let Ok(m) = Message::from_vec(msg) else {
        return reject(rcode::FORMERR);
    };
    if m.metadata.op_code != OpCode::Query {
        return reject(rcode::NOTIMP);
    }
    let [query] = m.queries.as_slice() else {
        return reject(rcode::FORMERR);
    };
    let mut canonical = Message::new(id, MessageType::Query, OpCode::Query);
    canonical.metadata.recursion_desired = m.metadata.recursion_desired;
    canonical.metadata.checking_disabled = m.metadata.checking_disabled;
    canonical.add_query(query.clone());
    if let Some(e) = m.edns {
        canonical.set_edns(e);
    }
    match canonical.to_vec() {
        Ok(v) => Slow::Rebuilt(v),
        Err(_) => reject(rcode::FORMERR),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Parsed, parse};

    #[test]
    fn two_questions_are_formerr_and_answer_records_are_dropped() {
        let mut m = vec![0, 7, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0];
        for _ in 0..2 {
            m.extend_from_slice(b"\x01a\x04pnrp\x03net\x00\x00\x01\x00\x01");
        }
        assert!(matches!(
            normalise(&m),
            Slow::Reject(Reject {
                rcode: rcode::FORMERR,
                id: 7,
                ..
            })
        ));
        // One question plus an answer record: rebuilt without it.
        let mut m = vec![0, 7, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(b"\x01a\x04pnrp\x03net\x00\x00\x01\x00\x01");
        m.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x0a\x00\x04\x01\x02\x03\x04");
        assert_eq!(parse(&m), Parsed::Other);
        let Slow::Rebuilt(v) = normalise(&m) else {
            panic!("not rebuilt")
        };
        let Parsed::Query(q) = parse(&v) else {
            panic!("rebuilt query is not canonical")
        };
        assert_eq!(q.qname, b"\x01a\x04pnrp\x03net\x00");
    }

    #[test]
    fn compression_loop_is_formerr() {
        let mut m = vec![0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01");
        assert!(matches!(
            normalise(&m),
            Slow::Reject(Reject {
                rcode: rcode::FORMERR,
                ..
            })
        ));
    }
}
