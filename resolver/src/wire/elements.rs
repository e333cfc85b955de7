//! Elements and structures shared by several messages: IPV6_ENDPOINT,
//! ROUTE_ENTRY, the three array elements (PNRP_ID_ARRAY, IPV6_ENDPOINT_ARRAY,
//! CLASSIFIER) and the small fixed-size elements (MS-PNRP §2.2.3, digest
//! §2.2, §2.5.4–§2.5.5).

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};

use super::error::{DecodeError, Result};
use super::field::FieldId;
use super::reader::Reader;
use super::writer::Writer;
use super::{EncodeError, VERSION_MAJOR, VERSION_MINOR};
use crate::id::PnrpId;

/// Most addresses in one ROUTE_ENTRY (MS-PNRP §2.2.3.4).
pub const MAX_ROUTE_ENTRY_ADDRESSES: usize = 20;
/// Most entries in a Flagged Path or Already Flooded List (§2.2.2.4, §2.2.2.8).
pub const MAX_PATH_ENDPOINTS: usize = 22;
/// Most UTF-16 code units in a CLASSIFIER element (design §3: 149).
pub const MAX_CLASSIFIER_UNITS: usize = 149;
/// Length of a nonce.
pub const NONCE_LEN: usize = 16;
/// Length of a hashed nonce (first 160 bits of SHA-256 of the nonce).
pub const HASHED_NONCE_LEN: usize = 20;

/// A 16-byte conversation or INQUIRE nonce.
pub type Nonce = [u8; NONCE_LEN];
/// The 160-bit commitment to a [`Nonce`] sent in SOLICIT and ADVERTISE.
pub type HashedNonce = [u8; HASHED_NONCE_LEN];

/// A 32-bit MessageID (MS-PNRP §2.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MessageId(pub u32);

/// An IPV6_ENDPOINT: a port and an IPv6 address (IPv4 travels v4-mapped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint {
    /// The address.
    pub addr: Ipv6Addr,
    /// The UDP port.
    pub port: u16,
}

/// Wire size of an IPV6_ENDPOINT.
pub const ENDPOINT_LEN: usize = 18;

impl Endpoint {
    /// Builds an endpoint, mapping IPv4 to `::ffff:a.b.c.d`.
    pub fn from_socket_addr(sa: SocketAddr) -> Self {
        let addr = match sa {
            SocketAddr::V4(v4) => v4.ip().to_ipv6_mapped(),
            SocketAddr::V6(v6) => *v6.ip(),
        };
        Self {
            addr,
            port: sa.port(),
        }
    }

    /// The endpoint as a socket address (v4-mapped addresses become IPv4).
    pub fn to_socket_addr(self) -> SocketAddr {
        match self.addr.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), self.port),
            None => SocketAddr::V6(SocketAddrV6::new(self.addr, self.port, 0, 0)),
        }
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let port = r.u16_be()?;
        let addr = Ipv6Addr::from(r.array::<16>()?);
        Ok(Self { addr, port })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.u16_be(self.port);
        w.bytes(&self.addr.octets());
    }
}

/// A ROUTE_ENTRY (MS-PNRP §2.2.3.4): where the holder of a PNRP ID listens.
/// The version bytes are always 4.1 in this profile; the reserved Flags byte
/// is sent as zero and ignored on receipt.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteEntry {
    /// The PNRP ID.
    pub id: PnrpId,
    /// The UDP port of the node's PNRP socket for this cloud.
    pub port: u16,
    /// 1–20 addresses.
    pub addresses: Vec<Ipv6Addr>,
}

impl RouteEntry {
    /// Bytes of the structure (without the ROUTING_ENTRY element header).
    pub fn len(&self) -> usize {
        38 + 16 * self.addresses.len()
    }

    /// `true` if the entry has no address (never valid on the wire).
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty()
    }

    /// The endpoints of this entry.
    pub fn endpoints(&self) -> impl Iterator<Item = Endpoint> + '_ {
        self.addresses.iter().map(|&addr| Endpoint {
            addr,
            port: self.port,
        })
    }

    pub(crate) fn check(&self) -> core::result::Result<(), EncodeError> {
        check_range(
            "route entry addresses",
            self.addresses.len(),
            1,
            MAX_ROUTE_ENTRY_ADDRESSES,
        )
    }

    /// Reads the bare structure (content of a ROUTING_ENTRY element).
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let id = PnrpId(r.array()?);
        let major = r.u8()?;
        let minor = r.u8()?;
        if (major, minor) != (VERSION_MAJOR, VERSION_MINOR) {
            return Err(DecodeError::UnsupportedVersion { major, minor });
        }
        let port = r.u16_be()?;
        let _flags = r.u8()?;
        let count = usize::from(r.u8()?);
        if !(1..=MAX_ROUTE_ENTRY_ADDRESSES).contains(&count) {
            return Err(DecodeError::LimitExceeded {
                what: "route entry address count (1-20)",
                limit: MAX_ROUTE_ENTRY_ADDRESSES,
                got: count,
            });
        }
        let mut addresses = Vec::with_capacity(count);
        for _ in 0..count {
            addresses.push(Ipv6Addr::from(r.array::<16>()?));
        }
        Ok(Self {
            id,
            port,
            addresses,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.bytes(&self.id.0);
        w.u8(VERSION_MAJOR);
        w.u8(VERSION_MINOR);
        w.u16_be(self.port);
        w.u8(0);
        // `check` bounds the count to 20.
        w.u8(u8::try_from(self.addresses.len()).unwrap_or(u8::MAX));
        for a in &self.addresses {
            w.bytes(&a.octets());
        }
    }

    /// Reads a ROUTING_ENTRY element.
    pub(crate) fn read_element(r: &mut Reader<'_>) -> Result<Self> {
        let mut c = r.element(FieldId::ROUTING_ENTRY, |_| true)?;
        let at = c.offset();
        let re = Self::read(&mut c)?;
        if !c.is_empty() {
            return Err(DecodeError::BadLength {
                at: at - 4,
                field: FieldId::ROUTING_ENTRY,
                len: re.len() + 4 + c.remaining(),
            });
        }
        Ok(re)
    }

    /// Reads a ROUTING_ENTRY element if one comes next.
    pub(crate) fn read_optional(r: &mut Reader<'_>) -> Result<Option<Self>> {
        if r.peek_field() == Some(FieldId::ROUTING_ENTRY) {
            Self::read_element(r).map(Some)
        } else {
            Ok(None)
        }
    }

    pub(crate) fn write_element(&self, w: &mut Writer<'_>) {
        w.element(FieldId::ROUTING_ENTRY, |w| self.write(w));
    }
}

pub(crate) fn check_range(
    what: &'static str,
    got: usize,
    min: usize,
    max: usize,
) -> core::result::Result<(), EncodeError> {
    if got < min || got > max {
        Err(EncodeError::OutOfRange {
            what,
            min,
            max,
            got,
        })
    } else {
        Ok(())
    }
}

/// Reads the 8-byte sub-header of an array element and returns the entry
/// count after checking all four redundant numbers (digest §2.2).
fn read_array_header<'a>(
    r: &mut Reader<'a>,
    field: FieldId,
    entry_type: FieldId,
    entry_len: usize,
    max: usize,
) -> Result<(Reader<'a>, usize)> {
    let at = r.offset();
    let mut c = r.element(field, |_| true)?;
    let n = usize::from(c.u16_be()?);
    let array_len = usize::from(c.u16_be()?);
    let ty = c.u16_be()?;
    let el = usize::from(c.u16_be()?);
    if ty != entry_type.0 || el != entry_len || array_len != 8 + n * entry_len {
        return Err(DecodeError::BadArray { at, field });
    }
    if c.remaining() != n * entry_len {
        return Err(DecodeError::BadLength {
            at,
            field,
            len: 12 + c.remaining(),
        });
    }
    if n > max {
        return Err(DecodeError::LimitExceeded {
            what: array_name(field),
            limit: max,
            got: n,
        });
    }
    Ok((c, n))
}

fn array_name(field: FieldId) -> &'static str {
    match field {
        FieldId::PNRP_ID_ARRAY => "PNRP ID array entries",
        FieldId::IPV6_ENDPOINT_ARRAY => "endpoint array entries",
        _ => "classifier length (UTF-16 code units)",
    }
}

fn write_array_header(w: &mut Writer<'_>, n: usize, entry_type: FieldId, entry_len: usize) {
    // Callers check `n` so that every length fits in 16 bits.
    w.u16_be(u16::try_from(n).unwrap_or(u16::MAX));
    w.u16_be(u16::try_from(8 + n * entry_len).unwrap_or(u16::MAX));
    w.u16_be(entry_type.0);
    w.u16_be(u16::try_from(entry_len).unwrap_or(u16::MAX));
}

/// Largest PNRP_ID_ARRAY whose element Length fits in 16 bits.
pub const MAX_ID_ARRAY: usize = (u16::MAX as usize - 12) / 32;

/// Reads a PNRP_ID_ARRAY element.
pub(crate) fn read_id_array(r: &mut Reader<'_>) -> Result<Vec<PnrpId>> {
    let (mut c, n) = read_array_header(
        r,
        FieldId::PNRP_ID_ARRAY,
        FieldId::PNRP_ID,
        32,
        MAX_ID_ARRAY,
    )?;
    (0..n).map(|_| c.array().map(PnrpId)).collect()
}

pub(crate) fn write_id_array(w: &mut Writer<'_>, ids: &[PnrpId]) {
    w.element(FieldId::PNRP_ID_ARRAY, |w| {
        write_array_header(w, ids.len(), FieldId::PNRP_ID, 32);
        for id in ids {
            w.bytes(&id.0);
        }
    });
}

/// Reads an IPV6_ENDPOINT_ARRAY element with `min..=max` entries.
pub(crate) fn read_endpoint_array(
    r: &mut Reader<'_>,
    min: usize,
    max: usize,
) -> Result<Vec<Endpoint>> {
    let at = r.offset();
    let (mut c, n) = read_array_header(
        r,
        FieldId::IPV6_ENDPOINT_ARRAY,
        FieldId::IPV6_ENDPOINT,
        ENDPOINT_LEN,
        max,
    )?;
    if n < min {
        return Err(DecodeError::BadArray {
            at,
            field: FieldId::IPV6_ENDPOINT_ARRAY,
        });
    }
    (0..n).map(|_| Endpoint::read(&mut c)).collect()
}

pub(crate) fn write_endpoint_array(w: &mut Writer<'_>, eps: &[Endpoint]) {
    w.element(FieldId::IPV6_ENDPOINT_ARRAY, |w| {
        write_array_header(w, eps.len(), FieldId::IPV6_ENDPOINT, ENDPOINT_LEN);
        for ep in eps {
            ep.write(w);
        }
    });
}

/// Reads a CLASSIFIER element: UTF-16BE code units, no terminator (design §3).
pub(crate) fn read_classifier(r: &mut Reader<'_>) -> Result<String> {
    let (mut c, n) = read_array_header(
        r,
        FieldId::CLASSIFIER,
        FieldId::WCHAR,
        2,
        MAX_CLASSIFIER_UNITS,
    )?;
    let units = (0..n).map(|_| c.u16_be()).collect::<Result<Vec<u16>>>()?;
    String::from_utf16(&units).map_err(|_| DecodeError::BadText { what: "classifier" })
}

pub(crate) fn write_classifier(w: &mut Writer<'_>, s: &str) {
    let n = s.encode_utf16().count();
    w.element(FieldId::CLASSIFIER, |w| {
        write_array_header(w, n, FieldId::WCHAR, 2);
        for u in s.encode_utf16() {
            w.u16_be(u);
        }
    });
}

/// Reads an element holding exactly `N` bytes.
pub(crate) fn read_fixed<const N: usize>(r: &mut Reader<'_>, field: FieldId) -> Result<[u8; N]> {
    let mut c = r.element(field, |len| len == N + 4)?;
    c.array()
}

pub(crate) fn write_fixed(w: &mut Writer<'_>, field: FieldId, bytes: &[u8]) {
    w.element(field, |w| w.bytes(bytes));
}

/// Reads a TARGET_PNRP_ID or VALIDATE_PNRP_ID element.
pub(crate) fn read_id(r: &mut Reader<'_>, field: FieldId) -> Result<PnrpId> {
    read_fixed::<32>(r, field).map(PnrpId)
}

/// Reads a PNRP_HEADER_ACKED element.
pub(crate) fn read_acked(r: &mut Reader<'_>) -> Result<MessageId> {
    read_fixed::<4>(r, FieldId::PNRP_HEADER_ACKED).map(|b| MessageId(u32::from_be_bytes(b)))
}

pub(crate) fn write_acked(w: &mut Writer<'_>, id: MessageId) {
    write_fixed(w, FieldId::PNRP_HEADER_ACKED, &id.0.to_be_bytes());
}

/// Reads a FLAGS_FIELD element (Length 6: one big-endian flag word).
pub(crate) fn read_flags(r: &mut Reader<'_>) -> Result<u16> {
    read_fixed::<2>(r, FieldId::FLAGS_FIELD).map(u16::from_be_bytes)
}

pub(crate) fn write_flags(w: &mut Writer<'_>, flags: u16) {
    write_fixed(w, FieldId::FLAGS_FIELD, &flags.to_be_bytes());
}
