//! The Encoded CPA layout (MS-PNRP §2.2.3.1; digest §2.5.1–§2.5.3), PNRP 4.1
//! profile. "LE" = little-endian; "LSB first" = the whole value byte-reversed.
//!
//! ```text
//! off  size
//!   0  2   CPA Length (LE, whole structure)
//!   2  1   Cpa MinorVersion   0x01 (profile)
//!   3  1   Cpa MajorVersion   0x02
//!   4  1   PnrpMinorVersion   0x01 (profile)
//!   5  1   PnrpMajorVersion   0x04
//!   6  1   flags: X 0x20 payload, F 0x10 name, C 0x08 CH, A 0x04 BA, U 0x02 UTF-8, R 0x01 revoke
//!   7  1   reserved
//!   8  8   Not After (LE FILETIME)
//!  16 16   Service Location (LSB first)
//!  32 16   Nonce
//!  48 20   BinaryAuthority (LSB first)                      iff A
//!  .. 20   ClassifierHash (digest order)                    C, always set in this profile
//!  .. 2+k  FriendlyName Len (LE, 1..=78) + UTF-8 bytes      iff F (then U)
//!  .. 4+18m NumServiceAddresses (LE, ≤4) · 18 (LE) · m × IPV6_ENDPOINT (port BE, addr)
//!  ..  2   NumPayloads (LE, 0 or 1)
//!  ..  2   Total Bytes (LE) = 4, or 10 + 20n with a payload
//!  .. 6+20n PAYLOAD: Type 1 (LE u32) · DataLength 20n (LE) · n × (addr 16, port LE, protocol LE)
//!  .. 61   Public Key: Field Length 61 · OID Length 19 · reserved 0 · cbData 33 · unused 0 ·
//!          "1.2.840.10045.3.1.7" · 33-byte compressed point   (all LE)
//!  .. 72   SIGNATURE: Field Length 72 · Signature Length 64 · ALG_ID 0x800C · r ‖ s (LE fields)
//! ```
//!
//! The signature covers every byte before the SIGNATURE structure.

use std::net::Ipv6Addr;

use super::MAX_SERVICE_ADDRESSES;
use super::{AppEndpoint, CpaContent, MAX_APP_ENDPOINTS, MAX_COMMENT_BYTES, MAX_COMMENT_CHARS};
use crate::crypto::{
    ALG_ID_SHA256, KEY_ALGORITHM_OID, PUBLIC_KEY_LEN, PublicKey, SIGNATURE_LEN, Signature,
};
use crate::id::{BinaryAuthority, ClassifierHash, ServiceLocation};
use crate::time::FileTime;
use crate::wire::elements::check_range;
use crate::wire::reader::Reader;
use crate::wire::writer::Writer;
use crate::wire::{DecodeError, ENDPOINT_LEN, EncodeError, Endpoint};

pub(crate) const CPA_MINOR: u8 = 0x01;
pub(crate) const CPA_MAJOR: u8 = 0x02;
const PNRP_MINOR: u8 = crate::wire::VERSION_MINOR;
const PNRP_MAJOR: u8 = crate::wire::VERSION_MAJOR;

const F_X: u8 = 0x20;
const F_F: u8 = 0x10;
const F_C: u8 = 0x08;
const F_A: u8 = 0x04;
const F_U: u8 = 0x02;
const F_R: u8 = 0x01;

const PAYLOAD_TYPE_ENDPOINTS: u32 = 1;
const APP_ENDPOINT_LEN: usize = 20;
/// Length of the CPA Public Key structure in this profile.
pub(crate) const PUBLIC_KEY_FIELD_LEN: usize = 9 + KEY_ALGORITHM_OID.len() + PUBLIC_KEY_LEN;
/// Length of the SIGNATURE structure in this profile.
pub(crate) const SIGNATURE_FIELD_LEN: usize = 8 + SIGNATURE_LEN;

fn reversed<const N: usize>(mut b: [u8; N]) -> [u8; N] {
    b.reverse();
    b
}

pub(crate) fn check(c: &CpaContent) -> Result<(), EncodeError> {
    if let Some(name) = &c.comment {
        check_range(
            "comment characters",
            name.chars().count(),
            1,
            MAX_COMMENT_CHARS,
        )?;
        check_range("comment bytes", name.len(), 1, MAX_COMMENT_BYTES)?;
    }
    let min_addrs = usize::from(!c.revoke);
    check_range(
        "CPA service addresses",
        c.service_addresses.len(),
        min_addrs,
        MAX_SERVICE_ADDRESSES,
    )?;
    check_range(
        "CPA application endpoints",
        c.endpoints.len(),
        0,
        MAX_APP_ENDPOINTS,
    )?;
    if c.authority == Some(BinaryAuthority::ZERO) {
        return Err(EncodeError::Invalid(
            "a secured CPA cannot carry the zero authority",
        ));
    }
    Ok(())
}

pub(crate) fn encoded_len(c: &CpaContent) -> usize {
    48 + if c.authority.is_some() { 20 } else { 0 }
        + 20
        + c.comment.as_ref().map_or(0, |n| 2 + n.len())
        + 4
        + ENDPOINT_LEN * c.service_addresses.len()
        + 4
        + if c.endpoints.is_empty() {
            0
        } else {
            6 + APP_ENDPOINT_LEN * c.endpoints.len()
        }
        + PUBLIC_KEY_FIELD_LEN
        + SIGNATURE_FIELD_LEN
}

fn as_u16(n: usize) -> u16 {
    // Every length here is bounded by `check` far below 65,535.
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// Writes everything up to the SIGNATURE; returns the signed length.
pub(crate) fn write_unsigned(c: &CpaContent, key: &PublicKey, out: &mut Vec<u8>) -> usize {
    let mut w = Writer::new(out);
    let mut flags = F_C;
    if c.revoke {
        flags |= F_R;
    }
    if c.authority.is_some() {
        flags |= F_A;
    }
    if c.comment.is_some() {
        flags |= F_F | F_U;
    }
    if c.has_extended_payload {
        flags |= F_X;
    }
    w.u16_le(as_u16(encoded_len(c)));
    w.u8(CPA_MINOR);
    w.u8(CPA_MAJOR);
    w.u8(PNRP_MINOR);
    w.u8(PNRP_MAJOR);
    w.u8(flags);
    w.u8(0);
    w.u64_le(c.not_after.0);
    w.bytes(&reversed(c.service_location.0));
    w.bytes(&c.nonce);
    if let Some(a) = &c.authority {
        w.bytes(&reversed(a.0));
    }
    w.bytes(&c.classifier_hash.0);
    if let Some(name) = &c.comment {
        w.u16_le(as_u16(name.len()));
        w.bytes(name.as_bytes());
    }
    w.u16_le(as_u16(c.service_addresses.len()));
    w.u16_le(as_u16(ENDPOINT_LEN));
    for ep in &c.service_addresses {
        w.u16_be(ep.port);
        w.bytes(&ep.addr.octets());
    }
    if c.endpoints.is_empty() {
        w.u16_le(0);
        w.u16_le(4);
    } else {
        let data = APP_ENDPOINT_LEN * c.endpoints.len();
        w.u16_le(1);
        w.u16_le(as_u16(4 + 6 + data));
        w.u32_le(PAYLOAD_TYPE_ENDPOINTS);
        w.u16_le(as_u16(data));
        for e in &c.endpoints {
            w.bytes(&e.addr.octets());
            w.u16_le(e.port);
            w.u16_le(e.protocol);
        }
    }
    w.u16_le(as_u16(PUBLIC_KEY_FIELD_LEN));
    w.u16_le(as_u16(KEY_ALGORITHM_OID.len()));
    w.u16_le(0);
    w.u16_le(as_u16(PUBLIC_KEY_LEN));
    w.u8(0);
    w.bytes(KEY_ALGORITHM_OID.as_bytes());
    w.bytes(&key.0);
    w.len()
}

pub(crate) fn write_signature(sig: &Signature, out: &mut Vec<u8>) {
    let mut w = Writer::new(out);
    w.u16_le(as_u16(SIGNATURE_FIELD_LEN));
    w.u16_le(as_u16(SIGNATURE_LEN));
    w.u32_le(ALG_ID_SHA256);
    w.bytes(&sig.0);
}

fn expect(what: &'static str, got: u64, want: u64) -> Result<(), DecodeError> {
    if got == want {
        Ok(())
    } else {
        Err(DecodeError::InvalidValue { what, value: got })
    }
}

/// Decodes an Encoded CPA: content, key, signature and signed length.
pub(crate) fn read(bytes: &[u8]) -> Result<(CpaContent, PublicKey, Signature, usize), DecodeError> {
    let mut r = Reader::new(bytes);
    let len = usize::from(r.u16_le()?);
    if len != bytes.len() {
        return Err(DecodeError::InvalidValue {
            what: "CPA Length",
            value: len as u64,
        });
    }
    let versions = r.array::<4>()?;
    if versions != [CPA_MINOR, CPA_MAJOR, PNRP_MINOR, PNRP_MAJOR] {
        return Err(DecodeError::UnsupportedVersion {
            major: versions[3],
            minor: versions[2],
        });
    }
    let flags = r.u8()?;
    let _reserved = r.u8()?;
    if flags & F_C == 0 {
        return Err(DecodeError::InvalidValue {
            what: "CPA flags (ClassifierHash required)",
            value: u64::from(flags),
        });
    }
    if flags & F_F != 0 && flags & F_U == 0 || flags & F_F == 0 && flags & F_U != 0 {
        return Err(DecodeError::InvalidValue {
            what: "CPA flags (FriendlyName must be UTF-8: F and U together)",
            value: u64::from(flags),
        });
    }
    let revoke = flags & F_R != 0;
    let not_after = FileTime(r.u64_le()?);
    let service_location = ServiceLocation(reversed(r.array()?));
    let nonce = r.array()?;
    let authority = if flags & F_A != 0 {
        let a = BinaryAuthority(reversed(r.array()?));
        if a.is_zero() {
            return Err(DecodeError::InvalidValue {
                what: "CPA BinaryAuthority (zero)",
                value: 0,
            });
        }
        Some(a)
    } else {
        None
    };
    let classifier_hash = ClassifierHash(r.array()?);
    let comment = if flags & F_F != 0 {
        let n = usize::from(r.u16_le()?);
        if !(1..=MAX_COMMENT_BYTES).contains(&n) {
            return Err(DecodeError::LimitExceeded {
                what: "CPA FriendlyName bytes (1-78)",
                limit: MAX_COMMENT_BYTES,
                got: n,
            });
        }
        let s = core::str::from_utf8(r.bytes(n)?).map_err(|_| DecodeError::BadText {
            what: "CPA FriendlyName",
        })?;
        if s.chars().count() > MAX_COMMENT_CHARS {
            return Err(DecodeError::LimitExceeded {
                what: "CPA FriendlyName characters",
                limit: MAX_COMMENT_CHARS,
                got: s.chars().count(),
            });
        }
        Some(s.to_owned())
    } else {
        None
    };
    let n_addr = usize::from(r.u16_le()?);
    expect(
        "CPA ServiceAddressLength",
        u64::from(r.u16_le()?),
        ENDPOINT_LEN as u64,
    )?;
    if n_addr > MAX_SERVICE_ADDRESSES || (n_addr == 0 && !revoke) {
        return Err(DecodeError::LimitExceeded {
            what: "CPA service addresses (1-4, 0-4 for a revoke)",
            limit: MAX_SERVICE_ADDRESSES,
            got: n_addr,
        });
    }
    let service_addresses = (0..n_addr)
        .map(|_| Endpoint::read(&mut r))
        .collect::<Result<Vec<_>, _>>()?;
    let n_payloads = r.u16_le()?;
    let total = usize::from(r.u16_le()?);
    let endpoints = match n_payloads {
        0 => {
            expect("CPA payload Total Bytes", total as u64, 4)?;
            Vec::new()
        }
        1 => {
            expect(
                "CPA payload Type",
                u64::from(r.u32_le()?),
                u64::from(PAYLOAD_TYPE_ENDPOINTS),
            )?;
            let data = usize::from(r.u16_le()?);
            if data == 0
                || data % APP_ENDPOINT_LEN != 0
                || data > APP_ENDPOINT_LEN * MAX_APP_ENDPOINTS
            {
                return Err(DecodeError::InvalidValue {
                    what: "CPA payload DataLength (20-200, multiple of 20)",
                    value: data as u64,
                });
            }
            expect("CPA payload Total Bytes", total as u64, (10 + data) as u64)?;
            (0..data / APP_ENDPOINT_LEN)
                .map(|_| {
                    Ok(AppEndpoint {
                        addr: Ipv6Addr::from(r.array::<16>()?),
                        port: r.u16_le()?,
                        protocol: r.u16_le()?,
                    })
                })
                .collect::<Result<Vec<_>, DecodeError>>()?
        }
        n => {
            return Err(DecodeError::InvalidValue {
                what: "CPA NumPayloads",
                value: u64::from(n),
            });
        }
    };
    expect(
        "CPA Public Key Field Length",
        u64::from(r.u16_le()?),
        PUBLIC_KEY_FIELD_LEN as u64,
    )?;
    expect(
        "CPA key OID length",
        u64::from(r.u16_le()?),
        KEY_ALGORITHM_OID.len() as u64,
    )?;
    let _reserved = r.u16_le()?;
    expect(
        "CPA key cbData",
        u64::from(r.u16_le()?),
        PUBLIC_KEY_LEN as u64,
    )?;
    expect("CPA key unused bits", u64::from(r.u8()?), 0)?;
    if r.bytes(KEY_ALGORITHM_OID.len())? != KEY_ALGORITHM_OID.as_bytes() {
        return Err(DecodeError::InvalidValue {
            what: "CPA key algorithm OID (1.2.840.10045.3.1.7 required)",
            value: 0,
        });
    }
    let public_key = PublicKey(r.array()?);
    let signed_len = r.offset();
    expect(
        "SIGNATURE Field Length",
        u64::from(r.u16_le()?),
        SIGNATURE_FIELD_LEN as u64,
    )?;
    expect(
        "SIGNATURE Length",
        u64::from(r.u16_le()?),
        SIGNATURE_LEN as u64,
    )?;
    expect(
        "SIGNATURE ALG_ID",
        u64::from(r.u32_le()?),
        u64::from(ALG_ID_SHA256),
    )?;
    let signature = Signature(r.array()?);
    r.finish()?;
    let content = CpaContent {
        revoke,
        not_after,
        service_location,
        nonce,
        authority,
        classifier_hash,
        comment,
        service_addresses,
        endpoints,
        has_extended_payload: flags & F_X != 0,
    };
    Ok((content, public_key, signature, signed_len))
}
