//! [`Reader`]: checked reads over a byte slice. Every read returns
//! [`DecodeError::Truncated`] instead of indexing out of bounds; nothing here
//! can panic on any input.

use super::error::{DecodeError, Result};
use super::field::FieldId;

/// A cursor over an input slice. Alignment is measured from the start of the
/// slice the top-level reader was made for (MS-PNRP §2.2: every FieldID starts
/// on a 4-byte boundary measured from the start of the message).
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf[0]` within the outermost structure (for error offsets and
    /// alignment).
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, positioned at its start.
    pub fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            base: 0,
        }
    }

    /// Absolute offset of the next byte.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// `true` when everything was read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Reads `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let rest = &self.buf[self.pos..];
        if rest.len() < n {
            return Err(DecodeError::Truncated {
                at: self.offset(),
                needed: n - rest.len(),
            });
        }
        self.pos += n;
        Ok(&rest[..n])
    }

    /// Reads a fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    /// Reads everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        let rest = &self.buf[self.pos..];
        self.pos = self.buf.len();
        rest
    }

    /// Reads a byte.
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    /// Reads a big-endian `u16`.
    pub fn u16_be(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian `u32`.
    pub fn u32_be(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Reads a little-endian `u16`.
    pub fn u16_le(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    /// Reads a little-endian `u32`.
    pub fn u32_le(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// Reads a little-endian `u64`.
    pub fn u64_le(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Reads `len` bytes as a sub-reader that reports offsets in this
    /// reader's frame.
    pub fn sub(&mut self, len: usize) -> Result<Self> {
        let base = self.offset();
        let buf = self.bytes(len)?;
        Ok(Self { buf, pos: 0, base })
    }

    /// How many padding bytes precede the next element.
    fn pad_len(&self) -> usize {
        (4 - self.offset() % 4) % 4
    }

    /// The FieldID of the next element, if any input is left; the padding
    /// in front of it is not consumed.
    pub fn peek_field(&self) -> Option<FieldId> {
        let at = self.pos + self.pad_len();
        let b = self.buf.get(at..at + 2)?;
        Some(FieldId(u16::from_be_bytes([b[0], b[1]])))
    }

    /// Skips the padding in front of the next element, which must be there
    /// since more input follows. Padding bytes are ignored on receipt
    /// (MS-PNRP §2.2).
    fn skip_padding(&mut self) -> Result<()> {
        let pad = self.pad_len();
        self.bytes(pad).map(|_| ())
    }

    /// Reads the element header of a required element `expected` and returns
    /// a reader over its content (Length − 4 bytes). `len_ok` validates the
    /// element Length (which counts the 4 header bytes).
    pub fn element(&mut self, expected: FieldId, len_ok: impl Fn(usize) -> bool) -> Result<Self> {
        self.skip_padding()?;
        let at = self.offset();
        let found = self.u16_be()?;
        if found != expected.0 {
            return Err(DecodeError::UnexpectedField {
                at,
                expected,
                found,
            });
        }
        let len = usize::from(self.u16_be()?);
        if len < 4 || !len_ok(len) {
            return Err(DecodeError::BadLength {
                at,
                field: expected,
                len,
            });
        }
        self.sub(len - 4)
    }

    /// Reads an optional element: `Some(content)` if the next FieldID is
    /// `field`, else `None` with nothing consumed.
    pub fn optional_element(
        &mut self,
        field: FieldId,
        len_ok: impl Fn(usize) -> bool,
    ) -> Result<Option<Self>> {
        if self.peek_field() == Some(field) {
            self.element(field, len_ok).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Fails with [`DecodeError::TrailingBytes`] unless everything was read.
    pub fn finish(&self) -> Result<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                at: self.offset(),
                extra: self.remaining(),
            })
        }
    }
}
