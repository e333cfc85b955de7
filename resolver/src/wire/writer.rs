//! [`Writer`]: appends to a caller-owned `Vec<u8>`, pads elements to 4-byte
//! boundaries and back-patches element lengths.
//!
//! Writers never fail: every message is validated (`check`) before it is
//! written, so lengths always fit their fields.

use super::field::FieldId;

/// Position of an element header whose Length is patched by
/// [`Writer::end_element`].
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct Mark(usize);

/// An appender over a `Vec<u8>`; alignment is measured from the length the
/// vector had when the writer was made.
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut Vec<u8>,
    start: usize,
}

impl<'a> Writer<'a> {
    /// Appends to `buf`; offsets count from its current end.
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        let start = buf.len();
        Self { buf, start }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// `true` if nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// Appends a byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// Appends a big-endian `u16`.
    pub fn u16_be(&mut self, v: u16) {
        self.bytes(&v.to_be_bytes());
    }

    /// Appends a big-endian `u32`.
    pub fn u32_be(&mut self, v: u32) {
        self.bytes(&v.to_be_bytes());
    }

    /// Appends a little-endian `u16`.
    pub fn u16_le(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }

    /// Appends a little-endian `u32`.
    pub fn u32_le(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }

    /// Appends a little-endian `u64`.
    pub fn u64_le(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }

    /// Pads with zeros to the next 4-byte boundary, writes the FieldID and a
    /// placeholder Length. Padding is only ever written in front of an
    /// element, so a message never ends in padding.
    pub fn begin_element(&mut self, field: FieldId) -> Mark {
        let pad = (4 - self.len() % 4) % 4;
        self.buf.extend(core::iter::repeat_n(0u8, pad));
        let mark = Mark(self.buf.len());
        self.u16_be(field.0);
        self.u16_be(0);
        mark
    }

    /// Patches the Length of the element begun at `mark` (it counts the 4
    /// header bytes, not padding).
    pub fn end_element(&mut self, mark: Mark) {
        let len = self.buf.len() - mark.0;
        debug_assert!(len <= usize::from(u16::MAX), "element too long: {len}");
        let len = u16::try_from(len).unwrap_or(u16::MAX);
        self.buf[mark.0 + 2..mark.0 + 4].copy_from_slice(&len.to_be_bytes());
    }

    /// Writes a whole element whose content `body` produces.
    pub fn element(&mut self, field: FieldId, body: impl FnOnce(&mut Self)) {
        let mark = self.begin_element(field);
        body(self);
        self.end_element(mark);
    }
}
