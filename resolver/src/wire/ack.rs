//! ACK (0x09): acknowledges a REQUEST or FLOOD (MS-PNRP §2.2.2.7; digest
//! §2.4.7).
//!
//! ```text
//!  PNRP_HEADER_ACKED 8  MessageID acknowledged
//! [FLAGS_FIELD 6]       N = 0x0001: "the FLOOD's Validate PNRP ID is not registered here"
//! ```
//!
//! The FLAGS_FIELD is the last element, so it is not padded (20 or 26 bytes).

use super::EncodeError;
use super::elements::{MessageId, read_acked, read_flags, write_acked, write_flags};
use super::error::Result;
use super::field::FieldId;
use super::reader::Reader;
use super::writer::Writer;

const FLAG_N: u16 = 0x0001;

/// An ACK message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The REQUEST or FLOOD acknowledged.
    pub acked: MessageId,
    /// N flag. The FLAGS_FIELD is sent only when it is set.
    pub not_registered: bool,
}

impl Ack {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let acked = read_acked(r)?;
        let flags = if r.peek_field() == Some(FieldId::FLAGS_FIELD) {
            read_flags(r)?
        } else {
            0
        };
        Ok(Self {
            acked,
            not_registered: flags & FLAG_N != 0,
        })
    }

    #[allow(clippy::unnecessary_wraps)]
    pub(crate) fn check(&self) -> core::result::Result<(), EncodeError> {
        Ok(())
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        write_acked(w, self.acked);
        if self.not_registered {
            write_flags(w, FLAG_N);
        }
    }
}
