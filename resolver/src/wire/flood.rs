//! FLOOD (0x04): push a route entry or a revocation to a neighbour
//! (MS-PNRP §2.2.2.4, §3.1.5.5; digest §2.4.4).
//!
//! ```text
//!  FLOOD_CONTROLS 8          FieldID 0x0043, Length 7: u16 flags (D = 0x0001 "do not ACK"),
//!                            Reserved2 u8 (ignored), pad 1
//!  VALIDATE_PNRP_ID 36       the destination's ID, or zero
//! [REVOKE_CPA 4+c+pad]       an encoded CPA with the R flag
//! [ROUTING_ENTRY 4+38+16k]   the route entry being pushed
//!  IPV6_ENDPOINT_ARRAY 12+18m  Already Flooded List, 0..=22 entries
//! ```

use super::EncodeError;
use super::elements::{
    Endpoint, MAX_PATH_ENDPOINTS, RouteEntry, check_range, read_endpoint_array, read_id,
    write_endpoint_array, write_fixed,
};
use super::error::{DecodeError, Result};
use super::field::FieldId;
use super::reader::Reader;
use super::writer::Writer;
use crate::cpa::UnverifiedCpa;
use crate::id::PnrpId;

const FLAG_D: u16 = 0x0001;

/// A FLOOD message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flood {
    /// D flag: the receiver must not ACK.
    pub no_ack: bool,
    /// The destination's PNRP ID, or [`PnrpId::ZERO`].
    pub validate: PnrpId,
    /// A revoke CPA (not yet verified).
    pub revoke: Option<Box<UnverifiedCpa>>,
    /// The route entry being flooded.
    pub route_entry: Option<RouteEntry>,
    /// The Already Flooded List.
    pub already_flooded: Vec<Endpoint>,
}

impl Flood {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let mut c = r.element(FieldId::FLOOD_CONTROLS, |l| l == 7)?;
        let flags = c.u16_be()?;
        let _reserved2 = c.u8()?;
        let validate = read_id(r, FieldId::VALIDATE_PNRP_ID)?;
        let revoke = match r.optional_element(FieldId::REVOKE_CPA, |_| true)? {
            Some(mut c) => {
                let at = c.offset();
                let bytes = c.rest();
                Some(Box::new(
                    UnverifiedCpa::decode(bytes).map_err(|e| shift(e, at))?,
                ))
            }
            None => None,
        };
        let route_entry = RouteEntry::read_optional(r)?;
        let already_flooded = read_endpoint_array(r, 0, MAX_PATH_ENDPOINTS)?;
        Ok(Self {
            no_ack: flags & FLAG_D != 0,
            validate,
            revoke,
            route_entry,
            already_flooded,
        })
    }

    pub(crate) fn check(&self) -> core::result::Result<(), EncodeError> {
        if let Some(re) = &self.route_entry {
            re.check()?;
        }
        check_range(
            "already-flooded endpoints",
            self.already_flooded.len(),
            0,
            MAX_PATH_ENDPOINTS,
        )
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.element(FieldId::FLOOD_CONTROLS, |w| {
            w.u16_be(if self.no_ack { FLAG_D } else { 0 });
            w.u8(0);
        });
        write_fixed(w, FieldId::VALIDATE_PNRP_ID, &self.validate.0);
        if let Some(cpa) = &self.revoke {
            write_fixed(w, FieldId::REVOKE_CPA, cpa.as_bytes());
        }
        if let Some(re) = &self.route_entry {
            re.write_element(w);
        }
        write_endpoint_array(w, &self.already_flooded);
    }
}

/// Re-bases an error found inside a nested structure to message offsets.
pub(crate) fn shift(e: DecodeError, by: usize) -> DecodeError {
    match e {
        DecodeError::Truncated { at, needed } => DecodeError::Truncated {
            at: at + by,
            needed,
        },
        DecodeError::UnexpectedField {
            at,
            expected,
            found,
        } => DecodeError::UnexpectedField {
            at: at + by,
            expected,
            found,
        },
        DecodeError::BadLength { at, field, len } => DecodeError::BadLength {
            at: at + by,
            field,
            len,
        },
        DecodeError::BadArray { at, field } => DecodeError::BadArray { at: at + by, field },
        DecodeError::TrailingBytes { at, extra } => {
            DecodeError::TrailingBytes { at: at + by, extra }
        }
        other => other,
    }
}
