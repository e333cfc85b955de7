//! LOOKUP (0x0B): one step of an iterative resolution (MS-PNRP §2.2.2.8,
//! §3.1.4.4.2; digest §2.4.8).
//!
//! ```text
//!  LOOKUP_CONTROLS 12         FieldID 0x0045, Length 12: u16 flags (A = 0x0002),
//!                             u16 Precision, u8 ResolveCriteria, u8 ResolveReasonCode, u16 reserved
//!  TARGET_PNRP_ID 36
//!  VALIDATE_PNRP_ID 36        the ID the recipient is believed to hold
//! [ROUTING_ENTRY 4+38+16k]    the sender's best match so far
//!  IPV6_ENDPOINT_ARRAY 12+18m Flagged Path, 1..=22 entries
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
use crate::id::PnrpId;

const FLAG_A: u16 = 0x0002;

/// How a candidate ID must match the target (MS-PNRP §2.2.2.8; a value, not
/// a bit set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResolveCriteria {
    /// 0x00: all 256 bits must match.
    None,
    /// 0x01: the upper 128 bits (the P2P ID) must match.
    AnyPeerName,
    /// 0x02: compare all 256 bits, return the closest.
    NearestPeerName,
    /// 0x04: compare the upper 192 bits, return the closest.
    Nearest64PeerName,
    /// 0x08: compare the upper Precision bits.
    UpperBits,
}

impl ResolveCriteria {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0x00 => Self::None,
            0x01 => Self::AnyPeerName,
            0x02 => Self::NearestPeerName,
            0x04 => Self::Nearest64PeerName,
            0x08 => Self::UpperBits,
            _ => return None,
        })
    }

    fn to_u8(self) -> u8 {
        match self {
            Self::None => 0x00,
            Self::AnyPeerName => 0x01,
            Self::NearestPeerName => 0x02,
            Self::Nearest64PeerName => 0x04,
            Self::UpperBits => 0x08,
        }
    }
}

/// Why a LOOKUP was sent. Informational: receivers must ignore it, so any
/// value is carried through unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResolveReason(pub u8);

impl ResolveReason {
    /// 0x00 REASON_APP_REQUEST.
    pub const APP_REQUEST: Self = Self(0);
    /// 0x01 REASON_REGISTRATION.
    pub const REGISTRATION: Self = Self(1);
    /// 0x02 REASON_CACHE_MAINTENANCE.
    pub const CACHE_MAINTENANCE: Self = Self(2);
    /// 0x03 REASON_SPLIT_DETECTION.
    pub const SPLIT_DETECTION: Self = Self(3);
}

/// A LOOKUP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// A flag: the sender accepts returned nodes that are not closer than the
    /// Validate PNRP ID.
    pub accept_not_closer: bool,
    /// Leading bits compared under [`ResolveCriteria::UpperBits`].
    pub precision: u16,
    /// Match rule.
    pub criteria: ResolveCriteria,
    /// Informational reason code.
    pub reason: ResolveReason,
    /// The ID being resolved.
    pub target: PnrpId,
    /// The ID the recipient is believed to hold.
    pub validate: PnrpId,
    /// The sender's best match so far.
    pub best_match: Option<RouteEntry>,
    /// Endpoints already consulted.
    pub flagged_path: Vec<Endpoint>,
}

impl Lookup {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let mut c = r.element(FieldId::LOOKUP_CONTROLS, |l| l == 12)?;
        let flags = c.u16_be()?;
        let precision = c.u16_be()?;
        let crit = c.u8()?;
        let criteria = ResolveCriteria::from_u8(crit).ok_or(DecodeError::InvalidValue {
            what: "ResolveCriteria",
            value: u64::from(crit),
        })?;
        let reason = ResolveReason(c.u8()?);
        let _reserved = c.u16_be()?;
        let target = read_id(r, FieldId::TARGET_PNRP_ID)?;
        let validate = read_id(r, FieldId::VALIDATE_PNRP_ID)?;
        let best_match = RouteEntry::read_optional(r)?;
        let flagged_path = read_endpoint_array(r, 1, MAX_PATH_ENDPOINTS)?;
        Ok(Self {
            accept_not_closer: flags & FLAG_A != 0,
            precision,
            criteria,
            reason,
            target,
            validate,
            best_match,
            flagged_path,
        })
    }

    pub(crate) fn check(&self) -> core::result::Result<(), EncodeError> {
        if let Some(re) = &self.best_match {
            re.check()?;
        }
        check_range(
            "flagged path endpoints",
            self.flagged_path.len(),
            1,
            MAX_PATH_ENDPOINTS,
        )
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        w.element(FieldId::LOOKUP_CONTROLS, |w| {
            w.u16_be(if self.accept_not_closer { FLAG_A } else { 0 });
            w.u16_be(self.precision);
            w.u8(self.criteria.to_u8());
            w.u8(self.reason.0);
            w.u16_be(0);
        });
        write_fixed(w, FieldId::TARGET_PNRP_ID, &self.target.0);
        write_fixed(w, FieldId::VALIDATE_PNRP_ID, &self.validate.0);
        if let Some(re) = &self.best_match {
            re.write_element(w);
        }
        write_endpoint_array(w, &self.flagged_path);
    }
}
