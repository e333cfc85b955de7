//! REQUEST (0x03): ask for the route entries of chosen IDs (MS-PNRP
//! §2.2.2.3; digest §2.4.3).
//!
//! ```text
//! NONCE 20             the conversation nonce (pre-image of the hashed nonce)
//! PNRP_ID_ARRAY 12+32n the IDs wanted
//! ```

use super::EncodeError;
use super::elements::{
    MAX_ID_ARRAY, Nonce, check_range, read_fixed, read_id_array, write_fixed, write_id_array,
};
use super::error::Result;
use super::field::FieldId;
use super::reader::Reader;
use super::writer::Writer;
use crate::id::PnrpId;

/// A REQUEST message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The conversation nonce.
    pub nonce: Nonce,
    /// The IDs whose route entries are wanted.
    pub ids: Vec<PnrpId>,
}

impl Request {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Self {
            nonce: read_fixed(r, FieldId::NONCE)?,
            ids: read_id_array(r)?,
        })
    }

    pub(crate) fn check(&self) -> core::result::Result<(), EncodeError> {
        check_range("requested IDs", self.ids.len(), 0, MAX_ID_ARRAY)
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        write_fixed(w, FieldId::NONCE, &self.nonce);
        write_id_array(w, &self.ids);
    }
}
