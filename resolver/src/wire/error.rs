//! The one error type of the decoders: [`DecodeError`]. It is `Copy`, carries
//! the byte offset where decoding stopped, and never allocates.

use super::field::FieldId;

/// Why a datagram (or structure) was refused. `at` is the byte offset from the
/// start of the structure being decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended early.
    #[error("truncated at byte {at}: {needed} more byte(s) needed")]
    Truncated {
        /// Offset of the read that failed.
        at: usize,
        /// Bytes missing.
        needed: usize,
    },
    /// The common header is not `00 10 00 0c 51 ..`.
    #[error("not a PNRP header")]
    BadHeader,
    /// The header names a version other than 4.1.
    #[error("unsupported PNRP version {major}.{minor} (this profile speaks 4.1)")]
    UnsupportedVersion {
        /// VersionMajor byte.
        major: u8,
        /// VersionMinor byte.
        minor: u8,
    },
    /// MessageType is not one of the eight PNRP messages.
    #[error("unknown message type {0:#04x}")]
    UnknownMessageType(u8),
    /// A mandatory element is missing or out of order.
    #[error("at byte {at}: expected element {expected}, found field id {found:#06x}")]
    UnexpectedField {
        /// Offset of the element.
        at: usize,
        /// The element required here.
        expected: FieldId,
        /// The FieldID found instead.
        found: u16,
    },
    /// An element's Length (or a structure's length field) is wrong.
    #[error("at byte {at}: element {field} has invalid length {len}")]
    BadLength {
        /// Offset of the element.
        at: usize,
        /// The element.
        field: FieldId,
        /// The length found.
        len: usize,
    },
    /// The redundant counts of an array element disagree, or its entry type is wrong.
    #[error("at byte {at}: inconsistent array header in {field}")]
    BadArray {
        /// Offset of the element.
        at: usize,
        /// The array element.
        field: FieldId,
    },
    /// A profile limit is exceeded.
    #[error("{what}: {got} exceeds the limit of {limit}")]
    LimitExceeded {
        /// What is limited.
        what: &'static str,
        /// The limit.
        limit: usize,
        /// The value found.
        got: usize,
    },
    /// A value is outside its allowed set.
    #[error("{what}: invalid value {value:#x}")]
    InvalidValue {
        /// Which field.
        what: &'static str,
        /// The value found.
        value: u64,
    },
    /// Bytes remain after the last element.
    #[error("{extra} trailing byte(s) at byte {at}")]
    TrailingBytes {
        /// Offset of the first extra byte.
        at: usize,
        /// How many.
        extra: usize,
    },
    /// Text is not valid UTF-16 / UTF-8.
    #[error("{what}: invalid text encoding")]
    BadText {
        /// Which field.
        what: &'static str,
    },
}

/// Shorthand for decoder results.
pub(crate) type Result<T> = core::result::Result<T, DecodeError>;
