//! The PNRP 4.1 wire codec: the common header, every element of MS-PNRP §2.2
//! and all eight messages, plus AUTHORITY_BUFFER fragmentation and reassembly.
//!
//! # Contract
//!
//! * **Decoding is total.** [`Packet::decode`] and every `read` below accept
//!   any byte slice and return a typed [`DecodeError`]; they never panic,
//!   never index unchecked and never allocate more than the input justifies.
//! * **Strict where the spec is strict.** Element order and optionality are
//!   exactly those of MS-PNRP §2.2.2 (digest §2.4); every Length, array count
//!   and profile limit is checked; bytes after the last element are an error.
//!   Padding and reserved bits are ignored on receipt, as MS-PNRP §2.2 says,
//!   and always sent as zero.
//! * **Encoding is checked, then infallible.** [`Packet::encode`] first checks
//!   every limit (returning [`EncodeError`]) and then writes; elements start
//!   on 4-byte boundaries measured from the start of the message and a
//!   message never ends in padding.
//! * **Round trips.** For every value `m` that encodes,
//!   `decode(encode(m)) == m`, and for every datagram `d` that decodes,
//!   `encode(decode(d))` decodes to the same value; a datagram produced by
//!   this encoder re-encodes to the same bytes.
//!
//! Byte order follows design §3 and the digest's §2.7 matrix: network order
//! for every element field and PNRP ID, little-endian inside the Encoded CPA
//! and EXTENDED_PAYLOAD (see [`crate::cpa`]), CLASSIFIER text in UTF-16BE.

mod ack;
mod advertise;
mod authority;
pub(crate) mod elements;
mod error;
mod field;
mod flood;
mod inquire;
mod lookup;
pub mod reader;
mod reassembly;
mod request;
mod solicit;
pub mod writer;

#[cfg(test)]
pub(crate) mod tests;

pub use ack::Ack;
pub use advertise::Advertise;
pub use authority::{
    AUTHORITY_FRAGMENT_LEN, Authority, AuthorityBuffer, AuthorityFlags, MAX_AUTHORITY_BUFFER,
    fragment,
};
pub use elements::{
    ENDPOINT_LEN, Endpoint, HASHED_NONCE_LEN, HashedNonce, MAX_CLASSIFIER_UNITS, MAX_ID_ARRAY,
    MAX_PATH_ENDPOINTS, MAX_ROUTE_ENTRY_ADDRESSES, MessageId, NONCE_LEN, Nonce, RouteEntry,
};
pub use error::DecodeError;
pub use field::FieldId;
pub use flood::Flood;
pub use inquire::Inquire;
pub use lookup::{Lookup, ResolveCriteria, ResolveReason};
pub use reassembly::{Reassembled, Reassembler, ReassemblyLimits};
pub use request::Request;
pub use solicit::{Solicit, SolicitType};

use reader::Reader;
use writer::Writer;

/// Header Identifier byte (MS-PNRP §2.2.1).
pub const IDENTIFIER: u8 = 0x51;
/// VersionMajor of this profile.
pub const VERSION_MAJOR: u8 = 4;
/// VersionMinor of this profile (DEVIATION: MS-PNRP uses 0; see
/// `docs/protocol.md`).
pub const VERSION_MINOR: u8 = 1;
/// Length of the common header.
pub const HEADER_LEN: usize = 12;
/// The PNRP UDP port (IANA).
pub const DEFAULT_PORT: u16 = 3540;

/// Why a value could not be encoded: a profile limit is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A count or length is outside its allowed range.
    #[error("{what} must be {min}..={max}, got {got}")]
    OutOfRange {
        /// What is limited.
        what: &'static str,
        /// Smallest allowed.
        min: usize,
        /// Largest allowed.
        max: usize,
        /// The value given.
        got: usize,
    },
    /// A combination of fields the message layout forbids.
    #[error("{0}")]
    Invalid(&'static str),
}

/// The eight PNRP message types (MS-PNRP §2.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum MessageType {
    /// 0x01
    Solicit = 0x01,
    /// 0x02
    Advertise = 0x02,
    /// 0x03
    Request = 0x03,
    /// 0x04
    Flood = 0x04,
    /// 0x07
    Inquire = 0x07,
    /// 0x08
    Authority = 0x08,
    /// 0x09
    Ack = 0x09,
    /// 0x0B
    Lookup = 0x0B,
}

impl MessageType {
    /// Maps the header byte; `None` for unused or unknown types.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0x01 => Self::Solicit,
            0x02 => Self::Advertise,
            0x03 => Self::Request,
            0x04 => Self::Flood,
            0x07 => Self::Inquire,
            0x08 => Self::Authority,
            0x09 => Self::Ack,
            0x0B => Self::Lookup,
            _ => return None,
        })
    }
}

/// The body of a PNRP message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Message {
    Solicit(Solicit),
    Advertise(Advertise),
    Request(Request),
    Flood(Flood),
    Inquire(Inquire),
    Authority(Authority),
    Ack(Ack),
    Lookup(Lookup),
}

impl Message {
    /// The header MessageType of this body.
    pub fn message_type(&self) -> MessageType {
        match self {
            Self::Solicit(_) => MessageType::Solicit,
            Self::Advertise(_) => MessageType::Advertise,
            Self::Request(_) => MessageType::Request,
            Self::Flood(_) => MessageType::Flood,
            Self::Inquire(_) => MessageType::Inquire,
            Self::Authority(_) => MessageType::Authority,
            Self::Ack(_) => MessageType::Ack,
            Self::Lookup(_) => MessageType::Lookup,
        }
    }
}

/// One datagram: header MessageID plus the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The header MessageID.
    pub message_id: MessageId,
    /// The message.
    pub message: Message,
}

impl Packet {
    /// Decodes one datagram. Total: never panics.
    pub fn decode(datagram: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(datagram);
        let field = r.u16_be()?;
        let len = r.u16_be()?;
        let ident = r.u8()?;
        if field != FieldId::PNRP_HEADER.0 || len != 12 || ident != IDENTIFIER {
            return Err(DecodeError::BadHeader);
        }
        let major = r.u8()?;
        let minor = r.u8()?;
        if (major, minor) != (VERSION_MAJOR, VERSION_MINOR) {
            return Err(DecodeError::UnsupportedVersion { major, minor });
        }
        let ty = r.u8()?;
        let ty = MessageType::from_u8(ty).ok_or(DecodeError::UnknownMessageType(ty))?;
        let message_id = MessageId(r.u32_be()?);
        let message = match ty {
            MessageType::Solicit => Message::Solicit(Solicit::read(&mut r)?),
            MessageType::Advertise => Message::Advertise(Advertise::read(&mut r)?),
            MessageType::Request => Message::Request(Request::read(&mut r)?),
            MessageType::Flood => Message::Flood(Flood::read(&mut r)?),
            MessageType::Inquire => Message::Inquire(Inquire::read(&mut r)?),
            MessageType::Authority => Message::Authority(Authority::read(&mut r)?),
            MessageType::Ack => Message::Ack(Ack::read(&mut r)?),
            MessageType::Lookup => Message::Lookup(Lookup::read(&mut r)?),
        };
        r.finish()?;
        Ok(Self {
            message_id,
            message,
        })
    }

    /// Checks every limit without writing anything.
    pub fn check(&self) -> Result<(), EncodeError> {
        match &self.message {
            Message::Solicit(m) => m.check(),
            Message::Advertise(m) => m.check(),
            Message::Request(m) => m.check(),
            Message::Flood(m) => m.check(),
            Message::Inquire(m) => m.check(),
            Message::Authority(m) => m.check(),
            Message::Ack(m) => m.check(),
            Message::Lookup(m) => m.check(),
        }
    }

    /// Appends the datagram to `out` (caller-owned buffer). On error nothing
    /// is appended.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.check()?;
        let mut w = Writer::new(out);
        w.u16_be(FieldId::PNRP_HEADER.0);
        w.u16_be(HEADER_LEN as u16);
        w.u8(IDENTIFIER);
        w.u8(VERSION_MAJOR);
        w.u8(VERSION_MINOR);
        w.u8(self.message.message_type() as u8);
        w.u32_be(self.message_id.0);
        match &self.message {
            Message::Solicit(m) => m.write(&mut w),
            Message::Advertise(m) => m.write(&mut w),
            Message::Request(m) => m.write(&mut w),
            Message::Flood(m) => m.write(&mut w),
            Message::Inquire(m) => m.write(&mut w),
            Message::Authority(m) => m.write(&mut w),
            Message::Ack(m) => m.write(&mut w),
            Message::Lookup(m) => m.write(&mut w),
        }
        Ok(())
    }

    /// Encodes into a fresh vector, allocated once: a fragment's data plus
    /// room for its header, else room for any other message's usual size.
    pub fn to_vec(&self) -> Result<Vec<u8>, EncodeError> {
        let hint = match &self.message {
            Message::Authority(a) => a.data.len() + 64,
            _ => 256,
        };
        let mut v = Vec::with_capacity(hint);
        self.encode(&mut v)?;
        Ok(v)
    }
}
