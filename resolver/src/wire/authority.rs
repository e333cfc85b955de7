//! AUTHORITY (0x08) and the AUTHORITY_BUFFER it carries (MS-PNRP §2.2.2.6,
//! §2.2.2.6.1, §3.2.5.10; digest §2.4.6, §2.6).
//!
//! An AUTHORITY datagram carries one fragment of an AUTHORITY_BUFFER:
//!
//! ```text
//! PNRP_HEADER_ACKED 8   MessageID of the LOOKUP or INQUIRE answered
//! SPLIT_CONTROLS 8      FieldID 0x0098, Length 8: u16 Size (whole buffer), u16 Offset
//! buffer bytes          [Offset, Offset + len) of the buffer, len implied by the datagram
//! ```
//!
//! Buffers longer than [`AUTHORITY_FRAGMENT_LEN`] go out in 1,188-byte
//! fragments (the last may be shorter), all with the same header; see
//! [`fragment`] and [`super::Reassembler`]. The buffer itself:
//!
//! ```text
//!  FLAGS_FIELD 8            L 0x0200 leaf-set hint, B 0x0008 busy, N 0x0001 not found
//! [CERT_CHAIN 4+len+pad]    opaque here
//! [CLASSIFIER 12+2n+pad]    UTF-16BE, no terminator
//! [EXTENDED_PAYLOAD 4+len+pad]
//! [ROUTING_ENTRY 4+38+16k]
//! [VALIDATE_CPA 4+len]      last element
//! ```

use super::EncodeError;
use super::elements::{
    MAX_CLASSIFIER_UNITS, MessageId, RouteEntry, check_range, read_acked, read_classifier,
    read_flags, write_acked, write_classifier, write_fixed, write_flags,
};
use super::error::{DecodeError, Result};
use super::field::FieldId;
use super::flood::shift;
use super::reader::Reader;
use super::writer::Writer;
use crate::cpa::{UnverifiedCpa, UnverifiedExtendedPayload};

/// Fragment size of AUTHORITY_BUFFERs (keeps a datagram within the IPv6
/// minimum MTU).
pub const AUTHORITY_FRAGMENT_LEN: usize = 1188;
/// Largest AUTHORITY_BUFFER (0x91E4 bytes, 32 fragments).
pub const MAX_AUTHORITY_BUFFER: usize = 0x91E4;

const FLAG_L: u16 = 0x0200;
const FLAG_B: u16 = 0x0008;
const FLAG_N: u16 = 0x0001;

/// One AUTHORITY datagram (a fragment of an AUTHORITY_BUFFER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    /// The LOOKUP or INQUIRE answered.
    pub acked: MessageId,
    /// Length of the whole AUTHORITY_BUFFER.
    pub size: u16,
    /// Where this fragment starts (a multiple of 1,188).
    pub offset: u16,
    /// The fragment's bytes.
    pub data: Vec<u8>,
}

impl Authority {
    /// `true` if this fragment is the whole buffer.
    pub fn is_whole(&self) -> bool {
        self.offset == 0 && self.data.len() == usize::from(self.size)
    }

    fn validate(size: usize, offset: usize, len: usize) -> bool {
        size <= MAX_AUTHORITY_BUFFER
            && offset.is_multiple_of(AUTHORITY_FRAGMENT_LEN)
            && (1..=AUTHORITY_FRAGMENT_LEN).contains(&len)
            && offset + len <= size
            // Every fragment but the last is exactly 1,188 bytes.
            && (offset + len == size || len == AUTHORITY_FRAGMENT_LEN)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let acked = read_acked(r)?;
        let at = r.offset();
        let mut c = r.element(FieldId::SPLIT_CONTROLS, |l| l == 8)?;
        let size = c.u16_be()?;
        let offset = c.u16_be()?;
        let data = r.rest().to_vec();
        if !Self::validate(usize::from(size), usize::from(offset), data.len()) {
            return Err(DecodeError::InvalidValue {
                what: "AUTHORITY fragment (size/offset/length)",
                value: (u64::from(size) << 32) | (u64::from(offset) << 16) | at as u64,
            });
        }
        Ok(Self {
            acked,
            size,
            offset,
            data,
        })
    }

    pub(crate) fn check(&self) -> core::result::Result<(), EncodeError> {
        if Self::validate(
            usize::from(self.size),
            usize::from(self.offset),
            self.data.len(),
        ) {
            Ok(())
        } else {
            Err(EncodeError::Invalid(
                "AUTHORITY fragment: offset must be a multiple of 1188, data 1..=1188 bytes \
                 within size <= 37348, and only the last fragment may be short",
            ))
        }
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        write_acked(w, self.acked);
        w.element(FieldId::SPLIT_CONTROLS, |w| {
            w.u16_be(self.size);
            w.u16_be(self.offset);
        });
        w.bytes(&self.data);
    }
}

/// Cuts an encoded AUTHORITY_BUFFER into AUTHORITY messages answering
/// `acked`. Fails if the buffer is empty or longer than
/// [`MAX_AUTHORITY_BUFFER`].
pub fn fragment(
    acked: MessageId,
    buffer: &[u8],
) -> core::result::Result<Vec<Authority>, EncodeError> {
    check_range(
        "AUTHORITY_BUFFER bytes",
        buffer.len(),
        1,
        MAX_AUTHORITY_BUFFER,
    )?;
    let size = u16::try_from(buffer.len()).map_err(|_| EncodeError::Invalid("buffer too long"))?;
    Ok(buffer
        .chunks(AUTHORITY_FRAGMENT_LEN)
        .enumerate()
        .map(|(i, chunk)| Authority {
            acked,
            size,
            // i < 32, so the offset fits.
            offset: u16::try_from(i * AUTHORITY_FRAGMENT_LEN).unwrap_or(u16::MAX),
            data: chunk.to_vec(),
        })
        .collect())
}

/// Flags of an AUTHORITY_BUFFER.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AuthorityFlags {
    /// L: "I don't know the target, but it would be in my leaf set."
    pub leaf_set_hint: bool,
    /// B: too busy to serve this LOOKUP.
    pub busy: bool,
    /// N: the Validate PNRP ID is not registered here.
    pub not_found: bool,
}

/// The reassembled answer to a LOOKUP or INQUIRE.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthorityBuffer {
    /// Flag word.
    pub flags: AuthorityFlags,
    /// A certificate chain, carried opaquely (delegation is not part of this
    /// profile yet).
    pub cert_chain: Option<Vec<u8>>,
    /// The classifier of the name (display spelling), without terminator.
    pub classifier: Option<String>,
    /// The signed extended payload (not yet verified).
    pub extended_payload: Option<UnverifiedExtendedPayload>,
    /// A route entry: the closest known node (LOOKUP) or the publisher (INQUIRE).
    pub route_entry: Option<RouteEntry>,
    /// The CPA (not yet verified).
    pub cpa: Option<UnverifiedCpa>,
}

impl AuthorityBuffer {
    /// Decodes a whole (reassembled) buffer. Total: never panics.
    pub fn decode(buf: &[u8]) -> core::result::Result<Self, DecodeError> {
        if buf.len() > MAX_AUTHORITY_BUFFER {
            return Err(DecodeError::LimitExceeded {
                what: "AUTHORITY_BUFFER bytes",
                limit: MAX_AUTHORITY_BUFFER,
                got: buf.len(),
            });
        }
        let mut r = Reader::new(buf);
        let flags = read_flags(&mut r)?;
        let cert_chain = r
            .optional_element(FieldId::CERT_CHAIN, |_| true)?
            .map(|mut c| c.rest().to_vec());
        let classifier = if r.peek_field() == Some(FieldId::CLASSIFIER) {
            Some(read_classifier(&mut r)?)
        } else {
            None
        };
        let extended_payload = match r.optional_element(FieldId::EXTENDED_PAYLOAD, |_| true)? {
            Some(mut c) => {
                let at = c.offset();
                Some(UnverifiedExtendedPayload::decode(c.rest()).map_err(|e| shift(e, at))?)
            }
            None => None,
        };
        let route_entry = RouteEntry::read_optional(&mut r)?;
        let cpa = match r.optional_element(FieldId::VALIDATE_CPA, |_| true)? {
            Some(mut c) => {
                let at = c.offset();
                Some(UnverifiedCpa::decode(c.rest()).map_err(|e| shift(e, at))?)
            }
            None => None,
        };
        r.finish()?;
        Ok(Self {
            flags: AuthorityFlags {
                leaf_set_hint: flags & FLAG_L != 0,
                busy: flags & FLAG_B != 0,
                not_found: flags & FLAG_N != 0,
            },
            cert_chain,
            classifier,
            extended_payload,
            route_entry,
            cpa,
        })
    }

    /// Checks every limit without writing.
    pub fn check(&self) -> core::result::Result<(), EncodeError> {
        self.check_elements()?;
        Self::check_len(self.encoded_len())
    }

    /// The limits of the elements, all but the buffer's total length.
    fn check_elements(&self) -> core::result::Result<(), EncodeError> {
        if let Some(c) = &self.classifier {
            check_range(
                "classifier UTF-16 code units",
                c.encode_utf16().count(),
                0,
                MAX_CLASSIFIER_UNITS,
            )?;
        }
        if let Some(re) = &self.route_entry {
            re.check()?;
        }
        if let Some(chain) = &self.cert_chain {
            check_range(
                "certificate chain bytes",
                chain.len(),
                0,
                MAX_AUTHORITY_BUFFER,
            )?;
        }
        Ok(())
    }

    fn check_len(len: usize) -> core::result::Result<(), EncodeError> {
        check_range("AUTHORITY_BUFFER bytes", len, 1, MAX_AUTHORITY_BUFFER)
    }

    /// Length of the encoding.
    pub fn encoded_len(&self) -> usize {
        // Cheap enough (≤ 37 kB) and always exact.
        let mut v = Vec::new();
        self.write(&mut Writer::new(&mut v));
        v.len()
    }

    /// Appends the encoded buffer to `out`; nothing is appended on error.
    pub fn encode(&self, out: &mut Vec<u8>) -> core::result::Result<(), EncodeError> {
        self.check_elements()?;
        // Written once and measured, instead of written twice.
        let start = out.len();
        self.write(&mut Writer::new(out));
        if let Err(e) = Self::check_len(out.len() - start) {
            out.truncate(start);
            return Err(e);
        }
        Ok(())
    }

    fn write(&self, w: &mut Writer<'_>) {
        let f = &self.flags;
        let mut flags = 0;
        if f.leaf_set_hint {
            flags |= FLAG_L;
        }
        if f.busy {
            flags |= FLAG_B;
        }
        if f.not_found {
            flags |= FLAG_N;
        }
        write_flags(w, flags);
        if let Some(chain) = &self.cert_chain {
            write_fixed(w, FieldId::CERT_CHAIN, chain);
        }
        if let Some(c) = &self.classifier {
            write_classifier(w, c);
        }
        if let Some(p) = &self.extended_payload {
            write_fixed(w, FieldId::EXTENDED_PAYLOAD, p.as_bytes());
        }
        if let Some(re) = &self.route_entry {
            re.write_element(w);
        }
        if let Some(cpa) = &self.cpa {
            write_fixed(w, FieldId::VALIDATE_CPA, cpa.as_bytes());
        }
    }
}
