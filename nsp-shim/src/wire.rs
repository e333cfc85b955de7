//! The DNS message layout the stub reads and writes on its fast path
//! (RFC 1035 §4.1, EDNS0 of RFC 6891).
//!
//! [`parse`] is total: any byte string yields a [`Parsed`] value, never a
//! panic, and it reads each byte at most once (names in the question may not
//! use compression, names elsewhere are skipped without following pointers,
//! so compression loops cannot make it spin). It accepts the shape every
//! stub resolver sends — one question, optionally an OPT record — and sends
//! everything else to the hickory-proto path in `dns.rs`, which either
//! rebuilds it into that shape or rejects it.
//!
//! [`Writer`] appends answers to a copy of the query's header and question,
//! so answers name their owner with a pointer to offset 12 and keep the
//! query's letter case (design §4).

/// Length of the fixed header.
pub const HEADER_LEN: usize = 12;
/// Offset of the question name: the target of owner-name pointers.
pub const QNAME_OFFSET: u16 = 12;

/// Record types the stub knows.
pub mod rtype {
    /// IPv4 address.
    pub const A: u16 = 1;
    /// Name server.
    pub const NS: u16 = 2;
    /// Start of authority.
    pub const SOA: u16 = 6;
    /// Text.
    pub const TXT: u16 = 16;
    /// IPv6 address.
    pub const AAAA: u16 = 28;
    /// Service location.
    pub const SRV: u16 = 33;
    /// EDNS0 pseudo-record.
    pub const OPT: u16 = 41;
    /// Incremental zone transfer.
    pub const IXFR: u16 = 251;
    /// Zone transfer.
    pub const AXFR: u16 = 252;
    /// Any type.
    pub const ANY: u16 = 255;
}

/// Classes.
pub mod class {
    /// Internet.
    pub const IN: u16 = 1;
    /// Any class.
    pub const ANY: u16 = 255;
}

/// Response codes (the low four bits; BADVERS also needs the OPT record).
pub mod rcode {
    /// No error.
    pub const NOERROR: u16 = 0;
    /// Malformed query.
    pub const FORMERR: u16 = 1;
    /// The server could not answer.
    pub const SERVFAIL: u16 = 2;
    /// The name does not exist.
    pub const NXDOMAIN: u16 = 3;
    /// Operation not implemented.
    pub const NOTIMP: u16 = 4;
    /// Refused by policy.
    pub const REFUSED: u16 = 5;
    /// Unsupported EDNS version (extended: 16).
    pub const BADVERS: u16 = 16;
}

const QR: u16 = 0x8000;
const AA: u16 = 0x0400;
const TC: u16 = 0x0200;
const RD: u16 = 0x0100;
const CD: u16 = 0x0010;
const OPCODE_MASK: u16 = 0x7800;

/// Largest UDP answer the stub sends (the DNS flag day 2020 value).
pub const MAX_UDP_PAYLOAD: u16 = 1232;
/// Answer limit for UDP clients without EDNS.
pub const PLAIN_UDP_LIMIT: usize = 512;

/// EDNS0 parameters of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    /// Requestor's UDP payload size.
    pub udp_size: u16,
    /// EDNS version.
    pub version: u8,
    /// The DNSSEC OK bit (copied to the answer, RFC 3225).
    pub dnssec_ok: bool,
}

/// A query in the shape the fast path answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query<'a> {
    /// Message ID.
    pub id: u16,
    /// Header flags as received.
    pub flags: u16,
    /// Question name in wire form (length-prefixed labels, no pointers).
    pub qname: &'a [u8],
    /// Question type.
    pub qtype: u16,
    /// Question class.
    pub qclass: u16,
    /// The OPT record, if any.
    pub edns: Option<Edns>,
    /// Header and question: the prefix every answer starts with.
    pub head: &'a [u8],
}

/// A query answered with just an rcode: header only, plus an OPT record
/// when the query had one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reject {
    /// Message ID.
    pub id: u16,
    /// Header flags as received.
    pub flags: u16,
    /// The rcode to send.
    pub rcode: u16,
    /// The query's OPT record.
    pub edns: Option<Edns>,
}

impl Reject {
    /// Writes the answer into `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&response_flags(self.flags, false, self.rcode).to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&u16::from(self.edns.is_some()).to_be_bytes());
        if let Some(e) = self.edns {
            put_opt(out, e, self.rcode);
        }
    }
}

/// What [`parse`] makes of a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A standard query with one question.
    Query(Query<'a>),
    /// A query to answer with just an rcode.
    Reject(Reject),
    /// Not the fast path's shape: hand to hickory-proto (`dns.rs`).
    Other,
    /// Not answerable: shorter than a header, or itself a response.
    Ignore,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Skips a possibly compressed name; returns the offset after it.
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)?;
        match len & 0xC0 {
            0x00 if len == 0 => return Some(at + 1),
            0x00 => at += 1 + usize::from(len),
            0xC0 => return (at + 2 <= msg.len()).then_some(at + 2),
            _ => return None,
        }
    }
}

/// Reads an uncompressed question name; returns its end.
fn question_name(msg: &[u8], mut at: usize) -> Option<usize> {
    let start = at;
    loop {
        let len = usize::from(*msg.get(at)?);
        if len & 0xC0 != 0 {
            return None;
        }
        at += 1 + len;
        if at - start > 255 {
            return None;
        }
        if len == 0 {
            return Some(at);
        }
    }
}

/// Classifies a datagram (total; see the module doc).
pub fn parse(msg: &[u8]) -> Parsed<'_> {
    let (Some(id), Some(flags)) = (be16(msg, 0), be16(msg, 2)) else {
        return Parsed::Ignore;
    };
    if msg.len() < HEADER_LEN || flags & QR != 0 {
        return Parsed::Ignore;
    }
    let reject = |rcode, edns| {
        Parsed::Reject(Reject {
            id,
            flags,
            rcode,
            edns,
        })
    };
    if flags & OPCODE_MASK != 0 {
        return reject(rcode::NOTIMP, None);
    }
    let count = |at| be16(msg, at).unwrap_or(0);
    let (qd, an, ns, ar) = (count(4), count(6), count(8), count(10));
    if qd != 1 || an != 0 || ns != 0 {
        return Parsed::Other;
    }
    let Some(name_end) = question_name(msg, HEADER_LEN) else {
        return Parsed::Other;
    };
    let (Some(qtype), Some(qclass)) = (be16(msg, name_end), be16(msg, name_end + 2)) else {
        return reject(rcode::FORMERR, None);
    };
    let head_end = name_end + 4;
    let mut at = head_end;
    let mut edns = None;
    for _ in 0..ar {
        let Some(after_name) = skip_name(msg, at) else {
            return reject(rcode::FORMERR, edns);
        };
        let (Some(rt), Some(rc)) = (be16(msg, after_name), be16(msg, after_name + 2)) else {
            return reject(rcode::FORMERR, edns);
        };
        let (Some(ttl_hi), Some(ttl_lo), Some(rdlen)) = (
            be16(msg, after_name + 4),
            be16(msg, after_name + 6),
            be16(msg, after_name + 8),
        ) else {
            return reject(rcode::FORMERR, edns);
        };
        let next = after_name + 10 + usize::from(rdlen);
        if next > msg.len() {
            return reject(rcode::FORMERR, edns);
        }
        if rt == rtype::OPT {
            // One OPT, owned by the root (RFC 6891 §6.1.1).
            if edns.is_some() || after_name != at + 1 {
                return reject(rcode::FORMERR, None);
            }
            edns = Some(Edns {
                udp_size: rc,
                version: (ttl_hi & 0xFF) as u8,
                dnssec_ok: ttl_lo & 0x8000 != 0,
            });
        }
        at = next;
    }
    if at != msg.len() {
        return reject(rcode::FORMERR, edns);
    }
    if let Some(e) = edns
        && e.version != 0
    {
        return reject(rcode::BADVERS, edns);
    }
    Parsed::Query(Query {
        id,
        flags,
        qname: &msg[HEADER_LEN..name_end],
        qtype,
        qclass,
        edns,
        head: &msg[..head_end],
    })
}

/// The answer limit for a query over UDP: 512 without EDNS, else the
/// client's size clamped to 512..=[`MAX_UDP_PAYLOAD`].
pub fn udp_limit(edns: Option<Edns>) -> usize {
    match edns {
        None => PLAIN_UDP_LIMIT,
        Some(e) => usize::from(e.udp_size.clamp(512, MAX_UDP_PAYLOAD)),
    }
}

fn response_flags(query_flags: u16, authoritative: bool, rcode: u16) -> u16 {
    let mut f = QR | (query_flags & (OPCODE_MASK | RD | CD)) | (rcode & 0x000F);
    if authoritative {
        f |= AA;
    }
    f
}

fn put_opt(out: &mut Vec<u8>, edns: Edns, rcode: u16) {
    out.push(0);
    out.extend_from_slice(&rtype::OPT.to_be_bytes());
    out.extend_from_slice(&MAX_UDP_PAYLOAD.to_be_bytes());
    out.push((rcode >> 4) as u8);
    out.push(0);
    out.extend_from_slice(&(if edns.dnssec_ok { 0x8000u16 } else { 0 }).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
}

/// Which section a record goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Answer section.
    Answer,
    /// Authority section.
    Authority,
}

/// Builds an answer to one [`Query`] in a reusable buffer.
#[derive(Debug)]
pub struct Writer<'b> {
    out: &'b mut Vec<u8>,
    answers: u16,
    authority: u16,
}

impl<'b> Writer<'b> {
    /// Starts an answer: the query's header and question, flags set for an
    /// authoritative answer with `rcode`.
    pub fn new(out: &'b mut Vec<u8>, q: &Query<'_>, authoritative: bool, rcode: u16) -> Self {
        out.clear();
        out.extend_from_slice(q.head);
        out[2..4].copy_from_slice(&response_flags(q.flags, authoritative, rcode).to_be_bytes());
        out[4..12].copy_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        Self {
            out,
            answers: 0,
            authority: 0,
        }
    }

    fn record(&mut self, section: Section, owner: &[u8], rt: u16, ttl: u32, rdata_len: usize) {
        match section {
            Section::Answer => self.answers = self.answers.saturating_add(1),
            Section::Authority => self.authority = self.authority.saturating_add(1),
        }
        self.out.extend_from_slice(owner);
        self.out.extend_from_slice(&rt.to_be_bytes());
        self.out.extend_from_slice(&class::IN.to_be_bytes());
        self.out.extend_from_slice(&ttl.to_be_bytes());
        self.out
            .extend_from_slice(&u16::try_from(rdata_len).unwrap_or(u16::MAX).to_be_bytes());
    }

    /// An A (4-byte) or AAAA (16-byte) record owned by the question name.
    pub fn address(&mut self, ttl: u32, addr: &[u8]) {
        let rt = if addr.len() == 4 {
            rtype::A
        } else {
            rtype::AAAA
        };
        self.record(Section::Answer, &pointer(QNAME_OFFSET), rt, ttl, addr.len());
        self.out.extend_from_slice(addr);
    }

    /// A TXT record owned by the question name; `text` is split into
    /// character-strings of at most 255 bytes.
    pub fn txt(&mut self, ttl: u32, text: &[u8]) {
        let chunks = text.len().div_ceil(255).max(1);
        self.record(
            Section::Answer,
            &pointer(QNAME_OFFSET),
            rtype::TXT,
            ttl,
            text.len() + chunks,
        );
        if text.is_empty() {
            self.out.push(0);
        }
        for c in text.chunks(255) {
            self.out.push(c.len() as u8);
            self.out.extend_from_slice(c);
        }
    }

    /// An SRV record owned by the question name whose target is the name
    /// at `target` in this message.
    pub fn srv(&mut self, ttl: u32, port: u16, target: u16) {
        self.record(Section::Answer, &pointer(QNAME_OFFSET), rtype::SRV, ttl, 8);
        self.out.extend_from_slice(&[0, 0, 0, 0]);
        self.out.extend_from_slice(&port.to_be_bytes());
        self.out.extend_from_slice(&pointer(target));
    }

    /// The zone's SOA, owned by the apex name at `apex` in this message.
    pub fn soa(&mut self, section: Section, apex: u16, ttl: u32, serial: u32, minimum: u32) {
        const HOSTMASTER: &[u8] = b"\x0ahostmaster";
        self.record(
            section,
            &pointer(apex),
            rtype::SOA,
            ttl,
            2 + HOSTMASTER.len() + 2 + 20,
        );
        self.out.extend_from_slice(&pointer(apex));
        self.out.extend_from_slice(HOSTMASTER);
        self.out.extend_from_slice(&pointer(apex));
        for v in [serial, 3600, 600, 86_400, minimum] {
            self.out.extend_from_slice(&v.to_be_bytes());
        }
    }

    /// The zone's NS record at the apex: the stub itself (`ns.<apex>`).
    pub fn ns(&mut self, apex: u16) {
        self.record(Section::Answer, &pointer(apex), rtype::NS, 3600, 5);
        self.out.extend_from_slice(b"\x02ns");
        self.out.extend_from_slice(&pointer(apex));
    }

    /// Finishes the answer: counts, the OPT record when the query had one,
    /// and truncation (TC, no records) when it exceeds `limit` bytes.
    pub fn finish(self, q: &Query<'_>, limit: usize) {
        let opt_len = if q.edns.is_some() { 11 } else { 0 };
        if self.out.len() + opt_len > limit {
            self.out.truncate(q.head.len());
            self.out[2] |= (TC >> 8) as u8;
            self.out[6..10].copy_from_slice(&[0, 0, 0, 0]);
        } else {
            self.out[6..8].copy_from_slice(&self.answers.to_be_bytes());
            self.out[8..10].copy_from_slice(&self.authority.to_be_bytes());
        }
        if let Some(e) = q.edns {
            self.out[10..12].copy_from_slice(&1u16.to_be_bytes());
            let rcode = u16::from(self.out[3] & 0x0F);
            put_opt(self.out, e, rcode);
        }
    }
}

fn pointer(offset: u16) -> [u8; 2] {
    (0xC000 | offset).to_be_bytes()
}

/// Lowercase dotted form of a wire name (`\x03Foo\x00` → `foo`), or `None`
/// if a label holds a byte that cannot appear in a host name (a dot,
/// control characters, non-ASCII).
pub fn dotted_lowercase(qname: &[u8], out: &mut String) -> Option<()> {
    out.clear();
    let mut at = 0;
    loop {
        let len = usize::from(*qname.get(at)?);
        if len == 0 {
            return Some(());
        }
        let label = qname.get(at + 1..at + 1 + len)?;
        if !out.is_empty() {
            out.push('.');
        }
        for &b in label {
            if !b.is_ascii_graphic() || b == b'.' {
                return None;
            }
            out.push(char::from(b.to_ascii_lowercase()));
        }
        at += 1 + len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &[u8], qtype: u16, opt: Option<(u16, u8, bool)>) -> Vec<u8> {
        let mut m = vec![
            0x12,
            0x34,
            0x01,
            0x00,
            0,
            1,
            0,
            0,
            0,
            0,
            0,
            u8::from(opt.is_some()),
        ];
        m.extend_from_slice(name);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        if let Some((size, version, dnssec_ok)) = opt {
            m.push(0);
            m.extend_from_slice(&41u16.to_be_bytes());
            m.extend_from_slice(&size.to_be_bytes());
            m.extend_from_slice(&[0, version, if dnssec_ok { 0x80 } else { 0 }, 0, 0, 0]);
        }
        m
    }

    const NAME: &[u8] = b"\x04Host\x04pnrp\x03net\x00";

    #[test]
    fn plain_query_parses() {
        let m = query(NAME, rtype::A, None);
        let Parsed::Query(q) = parse(&m) else {
            panic!("not a query")
        };
        assert_eq!((q.id, q.qtype, q.qclass, q.edns), (0x1234, 1, 1, None));
        assert_eq!(q.qname, NAME);
        let mut s = String::new();
        dotted_lowercase(q.qname, &mut s).unwrap();
        assert_eq!(s, "host.pnrp.net");
    }

    #[test]
    fn edns_parses_and_bad_version_is_badvers() {
        let m = query(NAME, rtype::A, Some((4096, 0, true)));
        let Parsed::Query(q) = parse(&m) else {
            panic!()
        };
        assert_eq!(
            q.edns,
            Some(Edns {
                udp_size: 4096,
                version: 0,
                dnssec_ok: true
            })
        );
        assert_eq!(udp_limit(q.edns), 1232);
        let m = query(NAME, rtype::A, Some((4096, 1, false)));
        assert!(matches!(
            parse(&m),
            Parsed::Reject(Reject {
                rcode: rcode::BADVERS,
                ..
            })
        ));
    }

    #[test]
    fn malformed_shapes_are_classified() {
        assert_eq!(parse(&[1, 2, 3]), Parsed::Ignore);
        let mut m = query(NAME, rtype::A, None);
        m[2] |= 0x80; // a response
        assert_eq!(parse(&m), Parsed::Ignore);
        let mut m = query(NAME, rtype::A, None);
        m[2] |= 0x10; // opcode 2 (STATUS)
        assert!(matches!(
            parse(&m),
            Parsed::Reject(Reject {
                rcode: rcode::NOTIMP,
                ..
            })
        ));
        let mut m = query(NAME, rtype::A, None);
        m.truncate(m.len() - 2); // no class
        assert!(matches!(
            parse(&m),
            Parsed::Reject(Reject {
                rcode: rcode::FORMERR,
                ..
            })
        ));
        let mut m = query(NAME, rtype::A, None);
        m.push(0); // trailing byte
        assert!(matches!(
            parse(&m),
            Parsed::Reject(Reject {
                rcode: rcode::FORMERR,
                ..
            })
        ));
        // A pointer in the question and two questions go to hickory-proto.
        let m = query(b"\xc0\x0c", rtype::A, None);
        assert_eq!(parse(&m), Parsed::Other);
        let mut m = query(NAME, rtype::A, None);
        m[5] = 2;
        assert_eq!(parse(&m), Parsed::Other);
        // Additional count far beyond the data.
        let mut m = query(NAME, rtype::A, None);
        m[10] = 0xFF;
        assert!(matches!(
            parse(&m),
            Parsed::Reject(Reject {
                rcode: rcode::FORMERR,
                ..
            })
        ));
    }

    #[test]
    fn answers_point_at_the_question_and_truncate() {
        let m = query(NAME, rtype::A, None);
        let Parsed::Query(q) = parse(&m) else {
            panic!()
        };
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out, &q, true, rcode::NOERROR);
        w.address(10, &[192, 0, 2, 1]);
        w.finish(&q, 512);
        assert_eq!(&out[..2], &[0x12, 0x34]);
        assert_eq!(out[2] & 0x84, 0x84, "QR and AA");
        assert_eq!(&out[6..8], &[0, 1]);
        assert_eq!(&out[m.len()..m.len() + 2], &[0xC0, 0x0C]);
        assert_eq!(&out[out.len() - 4..], &[192, 0, 2, 1]);

        let mut w = Writer::new(&mut out, &q, true, rcode::NOERROR);
        w.txt(10, &[b'x'; 600]);
        w.finish(&q, 512);
        assert_eq!(out.len(), m.len());
        assert_ne!(out[2] & 0x02, 0, "TC");
        assert_eq!(&out[6..8], &[0, 0]);
    }

    #[test]
    fn parse_is_total_on_prefixes_and_bit_flips() {
        let m = query(NAME, rtype::AAAA, Some((1232, 0, false)));
        for n in 0..=m.len() {
            let _ = parse(&m[..n]);
        }
        for i in 0..m.len() {
            for bit in 0..8 {
                let mut x = m.clone();
                x[i] ^= 1 << bit;
                let _ = parse(&x);
            }
        }
    }
}
