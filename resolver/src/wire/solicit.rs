//! SOLICIT (0x01): ask a node for a sample of the IDs in its cache
//! (MS-PNRP §2.2.2.1, §3.1.4.3; digest §2.4.1).
//!
//! ```text
//! [SOLICIT_CONTROLS 8]   FieldID 0x0044, Length 6, reserved u8, SolicitType u8, pad 2
//! [ROUTING_ENTRY 4+38+16k] only if the sender has a registered ID
//!  HASHED_NONCE 24       FieldID 0x0092, Length 0x18, 20 bytes
//! ```

use super::EncodeError;
use super::elements::{HashedNonce, RouteEntry, read_fixed, write_fixed};
use super::error::{DecodeError, Result};
use super::field::FieldId;
use super::reader::Reader;
use super::writer::Writer;

/// What the solicitor wants advertised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SolicitType {
    /// 0x00: cached remote and local entries.
    Any,
    /// 0x01: only the responder's own registered IDs.
    Local,
}

/// A SOLICIT message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solicit {
    /// SOLICIT_CONTROLS, if present.
    pub solicit_type: Option<SolicitType>,
    /// The sender's own route entry, if it has a registered ID.
    pub route_entry: Option<RouteEntry>,
    /// First 160 bits of SHA-256 of the conversation nonce.
    pub hashed_nonce: HashedNonce,
}

impl Solicit {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let solicit_type = match r.optional_element(FieldId::SOLICIT_CONTROLS, |l| l == 6)? {
            Some(mut c) => {
                let _reserved = c.u8()?;
                Some(match c.u8()? {
                    0 => SolicitType::Any,
                    1 => SolicitType::Local,
                    v => {
                        return Err(DecodeError::InvalidValue {
                            what: "SolicitType",
                            value: u64::from(v),
                        });
                    }
                })
            }
            None => None,
        };
        let route_entry = RouteEntry::read_optional(r)?;
        let hashed_nonce = read_fixed(r, FieldId::HASHED_NONCE)?;
        Ok(Self {
            solicit_type,
            route_entry,
            hashed_nonce,
        })
    }

    pub(crate) fn check(&self) -> core::result::Result<(), EncodeError> {
        self.route_entry.as_ref().map_or(Ok(()), RouteEntry::check)
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        if let Some(t) = self.solicit_type {
            w.element(FieldId::SOLICIT_CONTROLS, |w| {
                w.u8(0);
                w.u8(match t {
                    SolicitType::Any => 0,
                    SolicitType::Local => 1,
                });
            });
        }
        if let Some(re) = &self.route_entry {
            re.write_element(w);
        }
        write_fixed(w, FieldId::HASHED_NONCE, &self.hashed_nonce);
    }
}
