//! The signed EXTENDED_PAYLOAD structure (MS-PNRP §2.2.3.3, §3.1.5.8; digest
//! §2.5.7), PNRP 4.1 profile: version 2.1, text payloads in UTF-8 only.
//!
//! ```text
//! off size
//!   0  2  Length (LE, whole structure)
//!   2  1  Minor Version 0x01 (profile)      3  1  Major Version 0x02
//!   4  2  reserved                          6  2  Signature Offset (LE)
//!   8  8  Not After (LE FILETIME)
//!  16 32  PNRP ID (LSB first)
//!  48 16  Nonce
//!  64  2  Number of Payloads = 1 (LE)      66  2  Total Payload Bytes = 10 + Payload Length (LE)
//!  68  4  Payload Type (LE): 0x80000002 string, 0x80000003 binary
//!  72  2  Payload Length (LE): binary 1..=4096; string 2 + bytes incl. NUL
//!  74  2  String Type (LE), strings only: 0x0001 UTF-8 (UTF-16 is not part of the profile)
//!  ..  n  payload (strings NUL-terminated)
//! SigOff 72  SIGNATURE over every byte before it (see the CPA codec)
//! ```

use core::fmt;

use super::codec::{CPA_MAJOR, CPA_MINOR, SIGNATURE_FIELD_LEN};
use super::{CpaError, VerifyContext, check_window, nonce_eq};
use crate::crypto::{ALG_ID_SHA256, PublicKey, SIGNATURE_LEN, Signature, Signer, Verifier};
use crate::id::PnrpId;
use crate::time::{FileTime, UnixTime};
use crate::wire::reader::Reader;
use crate::wire::writer::Writer;
use crate::wire::{DecodeError, EncodeError, Nonce};

/// Largest extended payload: 4,096 bytes (binary, or text including its NUL).
pub const MAX_EXTENDED_PAYLOAD: usize = 4096;

const TYPE_STRING: u32 = 0x8000_0002;
const TYPE_BINARY: u32 = 0x8000_0003;
const STRING_UTF8: u16 = 0x0001;
const HEADER_LEN: usize = 74;

/// The data of an extended payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PayloadData {
    /// 1–4,096 arbitrary bytes.
    Binary(Vec<u8>),
    /// UTF-8 text of 1–4,095 bytes without NUL (sent NUL-terminated).
    Text(String),
}

impl PayloadData {
    /// Payload bytes as the user sees them (text without its terminator).
    pub fn len(&self) -> usize {
        match self {
            Self::Binary(b) => b.len(),
            Self::Text(t) => t.len(),
        }
    }

    /// `true` for an empty payload (never valid on the wire).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn check(&self) -> Result<(), EncodeError> {
        let (n, max) = match self {
            Self::Binary(b) => (b.len(), MAX_EXTENDED_PAYLOAD),
            Self::Text(t) => {
                if t.contains('\0') {
                    return Err(EncodeError::Invalid("text payload must not contain NUL"));
                }
                (t.len(), MAX_EXTENDED_PAYLOAD - 1)
            }
        };
        if n == 0 || n > max {
            return Err(EncodeError::OutOfRange {
                what: "extended payload bytes",
                min: 1,
                max,
                got: n,
            });
        }
        Ok(())
    }

    /// The Payload Length field.
    fn wire_len(&self) -> usize {
        match self {
            Self::Binary(b) => b.len(),
            Self::Text(t) => 2 + t.len() + 1,
        }
    }
}

fn reversed<const N: usize>(mut b: [u8; N]) -> [u8; N] {
    b.reverse();
    b
}

fn as_u16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// A signed extended payload whose signature and claims are unchecked.
#[derive(Clone, PartialEq, Eq)]
pub struct UnverifiedExtendedPayload {
    not_after: FileTime,
    id: PnrpId,
    nonce: Nonce,
    data: PayloadData,
    signature: Signature,
    signed_len: usize,
    bytes: Vec<u8>,
}

impl fmt::Debug for UnverifiedExtendedPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedExtendedPayload")
            .field("id", &self.id)
            .field("not_after", &self.not_after)
            .field("len", &self.data.len())
            .finish_non_exhaustive()
    }
}

impl UnverifiedExtendedPayload {
    /// Builds and signs a payload for registration `id`, valid until
    /// `not_after`, answering an INQUIRE with `nonce`.
    pub fn sign(
        data: PayloadData,
        id: PnrpId,
        not_after: UnixTime,
        nonce: Nonce,
        signer: &dyn Signer,
    ) -> Result<Self, CpaError> {
        data.check().map_err(CpaError::Limit)?;
        let not_after = not_after.to_filetime();
        let sig_off = HEADER_LEN + data.wire_len();
        let mut bytes = Vec::with_capacity(sig_off + SIGNATURE_FIELD_LEN);
        let mut w = Writer::new(&mut bytes);
        w.u16_le(as_u16(sig_off + SIGNATURE_FIELD_LEN));
        w.u8(CPA_MINOR);
        w.u8(CPA_MAJOR);
        w.u16_le(0);
        w.u16_le(as_u16(sig_off));
        w.u64_le(not_after.0);
        w.bytes(&reversed(id.0));
        w.bytes(&nonce);
        w.u16_le(1);
        w.u16_le(as_u16(10 + data.wire_len()));
        match &data {
            PayloadData::Binary(b) => {
                w.u32_le(TYPE_BINARY);
                w.u16_le(as_u16(b.len()));
                w.bytes(b);
            }
            PayloadData::Text(t) => {
                w.u32_le(TYPE_STRING);
                w.u16_le(as_u16(data.wire_len()));
                w.u16_le(STRING_UTF8);
                w.bytes(t.as_bytes());
                w.u8(0);
            }
        }
        let signature = signer.sign(&bytes);
        let mut w = Writer::new(&mut bytes);
        w.u16_le(as_u16(SIGNATURE_FIELD_LEN));
        w.u16_le(as_u16(SIGNATURE_LEN));
        w.u32_le(ALG_ID_SHA256);
        w.bytes(&signature.0);
        Ok(Self {
            not_after,
            id,
            nonce,
            data,
            signature,
            signed_len: sig_off,
            bytes,
        })
    }

    /// Decodes the structure. Total: never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let len = usize::from(r.u16_le()?);
        if len != bytes.len() {
            return Err(DecodeError::InvalidValue {
                what: "EXTENDED_PAYLOAD Length",
                value: len as u64,
            });
        }
        let minor = r.u8()?;
        let major = r.u8()?;
        if (major, minor) != (CPA_MAJOR, CPA_MINOR) {
            return Err(DecodeError::UnsupportedVersion { major, minor });
        }
        let _reserved = r.u16_le()?;
        let sig_off = usize::from(r.u16_le()?);
        let not_after = FileTime(r.u64_le()?);
        let id = PnrpId(reversed(r.array()?));
        let nonce = r.array()?;
        let n = r.u16_le()?;
        if n != 1 {
            return Err(DecodeError::InvalidValue {
                what: "EXTENDED_PAYLOAD Number of Payloads",
                value: u64::from(n),
            });
        }
        let total = usize::from(r.u16_le()?);
        let ty = r.u32_le()?;
        let plen = usize::from(r.u16_le()?);
        let data = match ty {
            TYPE_BINARY => {
                if !(1..=MAX_EXTENDED_PAYLOAD).contains(&plen) {
                    return Err(DecodeError::LimitExceeded {
                        what: "binary extended payload bytes (1-4096)",
                        limit: MAX_EXTENDED_PAYLOAD,
                        got: plen,
                    });
                }
                PayloadData::Binary(r.bytes(plen)?.to_vec())
            }
            TYPE_STRING => {
                if !(4..=MAX_EXTENDED_PAYLOAD + 2).contains(&plen) {
                    return Err(DecodeError::LimitExceeded {
                        what: "text extended payload length (4-4098)",
                        limit: MAX_EXTENDED_PAYLOAD + 2,
                        got: plen,
                    });
                }
                let st = r.u16_le()?;
                if st != STRING_UTF8 {
                    return Err(DecodeError::InvalidValue {
                        what: "extended payload String Type (UTF-8 required)",
                        value: u64::from(st),
                    });
                }
                let raw = r.bytes(plen - 2)?;
                let (text, nul) = raw.split_at(raw.len() - 1);
                if nul != [0] || text.contains(&0) {
                    return Err(DecodeError::BadText {
                        what: "extended payload text (one terminating NUL)",
                    });
                }
                let text = core::str::from_utf8(text).map_err(|_| DecodeError::BadText {
                    what: "extended payload text",
                })?;
                PayloadData::Text(text.to_owned())
            }
            other => {
                return Err(DecodeError::InvalidValue {
                    what: "extended payload type",
                    value: u64::from(other),
                });
            }
        };
        if total != 10 + plen || sig_off != HEADER_LEN + plen || r.offset() != sig_off {
            return Err(DecodeError::InvalidValue {
                what: "EXTENDED_PAYLOAD Total Payload Bytes / Signature Offset",
                value: sig_off as u64,
            });
        }
        if r.u16_le()? != as_u16(SIGNATURE_FIELD_LEN)
            || r.u16_le()? != as_u16(SIGNATURE_LEN)
            || r.u32_le()? != ALG_ID_SHA256
        {
            return Err(DecodeError::InvalidValue {
                what: "EXTENDED_PAYLOAD SIGNATURE header",
                value: 0,
            });
        }
        let signature = Signature(r.array()?);
        r.finish()?;
        Ok(Self {
            not_after,
            id,
            nonce,
            data,
            signature,
            signed_len: sig_off,
            bytes: bytes.to_vec(),
        })
    }

    /// The encoding.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The claimed registration.
    pub fn pnrp_id(&self) -> PnrpId {
        self.id
    }

    /// The data, unchecked.
    pub fn data(&self) -> &PayloadData {
        &self.data
    }

    pub(super) fn verify(
        self,
        verifier: &dyn Verifier,
        key: &PublicKey,
        id: PnrpId,
        ctx: &VerifyContext,
    ) -> Result<VerifiedExtendedPayload, CpaError> {
        check_window(self.not_after, ctx.now)?;
        if self.id != id {
            return Err(CpaError::IdMismatch {
                expected: id,
                found: self.id,
            });
        }
        if let Some(n) = &ctx.nonce
            && !nonce_eq(n, &self.nonce)
        {
            return Err(CpaError::NonceMismatch);
        }
        let signed = self.bytes.get(..self.signed_len).unwrap_or_default();
        verifier.verify(key, signed, &self.signature)?;
        Ok(VerifiedExtendedPayload { inner: self })
    }
}

/// An extended payload verified against a [`super::VerifiedCpa`].
#[derive(Clone, PartialEq, Eq)]
pub struct VerifiedExtendedPayload {
    inner: UnverifiedExtendedPayload,
}

impl fmt::Debug for VerifiedExtendedPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("VerifiedExtendedPayload")
            .field(&self.inner)
            .finish()
    }
}

impl VerifiedExtendedPayload {
    /// The verified data.
    pub fn data(&self) -> &PayloadData {
        &self.inner.data
    }

    /// The encoding.
    pub fn as_bytes(&self) -> &[u8] {
        self.inner.as_bytes()
    }
}
