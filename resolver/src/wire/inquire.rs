//! INQUIRE (0x07): ask a publisher to prove, or return the CPA of, one of its
//! IDs (MS-PNRP §2.2.2.5; digest §2.4.5). Without flags it is a liveness probe.
//!
//! ```text
//!  FLAGS_FIELD 8        A 0x0010 CPA, X 0x0008 extended payload, C 0x0004 chain
//!  VALIDATE_PNRP_ID 36  the ID asked about
//! [NONCE 20]            copied into the answering CPA (anti-replay)
//! ```

use super::EncodeError;
use super::elements::{Nonce, read_fixed, read_flags, read_id, write_fixed, write_flags};
use super::error::Result;
use super::field::FieldId;
use super::reader::Reader;
use super::writer::Writer;
use crate::id::PnrpId;

const FLAG_A: u16 = 0x0010;
const FLAG_X: u16 = 0x0008;
const FLAG_C: u16 = 0x0004;

/// An INQUIRE message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inquire {
    /// A: include a CPA.
    pub want_cpa: bool,
    /// X: include the extended payload, if any.
    pub want_payload: bool,
    /// C: include the certificate chain, if any.
    pub want_chain: bool,
    /// The ID asked about.
    pub validate: PnrpId,
    /// Nonce for the CPA, if any.
    pub nonce: Option<Nonce>,
}

impl Inquire {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let flags = read_flags(r)?;
        let validate = read_id(r, FieldId::VALIDATE_PNRP_ID)?;
        let nonce = if r.peek_field() == Some(FieldId::NONCE) {
            Some(read_fixed(r, FieldId::NONCE)?)
        } else {
            None
        };
        Ok(Self {
            want_cpa: flags & FLAG_A != 0,
            want_payload: flags & FLAG_X != 0,
            want_chain: flags & FLAG_C != 0,
            validate,
            nonce,
        })
    }

    #[allow(clippy::unnecessary_wraps)]
    pub(crate) fn check(&self) -> core::result::Result<(), EncodeError> {
        Ok(())
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        let mut flags = 0;
        if self.want_cpa {
            flags |= FLAG_A;
        }
        if self.want_payload {
            flags |= FLAG_X;
        }
        if self.want_chain {
            flags |= FLAG_C;
        }
        write_flags(w, flags);
        write_fixed(w, FieldId::VALIDATE_PNRP_ID, &self.validate.0);
        if let Some(n) = &self.nonce {
            write_fixed(w, FieldId::NONCE, n);
        }
    }
}
