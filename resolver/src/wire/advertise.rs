//! ADVERTISE (0x02): the answer to a SOLICIT (MS-PNRP §2.2.2.2; digest
//! §2.4.2). An empty ID list means "busy".
//!
//! ```text
//! PNRP_HEADER_ACKED 8   MessageID of the SOLICIT
//! PNRP_ID_ARRAY 12+32n  sample of cached IDs
//! HASHED_NONCE 24       copy of the SOLICIT's
//! ```

use super::EncodeError;
use super::elements::{
    HashedNonce, MAX_ID_ARRAY, MessageId, check_range, read_acked, read_fixed, read_id_array,
    write_acked, write_fixed, write_id_array,
};
use super::error::Result;
use super::field::FieldId;
use super::reader::Reader;
use super::writer::Writer;
use crate::id::PnrpId;

/// An ADVERTISE message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertise {
    /// The SOLICIT being answered.
    pub acked: MessageId,
    /// The advertised IDs (empty = busy).
    pub ids: Vec<PnrpId>,
    /// Echo of the SOLICIT's hashed nonce.
    pub hashed_nonce: HashedNonce,
}

impl Advertise {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Self {
            acked: read_acked(r)?,
            ids: read_id_array(r)?,
            hashed_nonce: read_fixed(r, FieldId::HASHED_NONCE)?,
        })
    }

    pub(crate) fn check(&self) -> core::result::Result<(), EncodeError> {
        check_range("advertised IDs", self.ids.len(), 0, MAX_ID_ARRAY)
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        write_acked(w, self.acked);
        write_id_array(w, &self.ids);
        write_fixed(w, FieldId::HASHED_NONCE, &self.hashed_nonce);
    }
}
