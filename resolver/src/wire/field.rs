//! FieldIDs of PNRP elements (MS-PNRP §2.2, digest §2.2) and the fixed
//! element lengths.

use core::fmt;

/// A PNRP element FieldID.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldId(pub u16);

macro_rules! field_ids {
    ($($name:ident = $v:expr, $doc:expr;)*) => {
        impl FieldId {
            $(#[doc = $doc] pub const $name: Self = Self($v);)*

            /// The spec's name for a known FieldID.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($v => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

field_ids! {
    PNRP_HEADER = 0x0010, "The common header.";
    PNRP_HEADER_ACKED = 0x0018, "MessageID being acknowledged.";
    PNRP_ID = 0x0030, "One PNRP ID (array entry type).";
    TARGET_PNRP_ID = 0x0038, "The ID being looked up.";
    VALIDATE_PNRP_ID = 0x0039, "The ID the recipient is believed to hold.";
    FLAGS_FIELD = 0x0040, "A message-specific 16-bit flag word.";
    FLOOD_CONTROLS = 0x0043, "FLOOD control bits.";
    SOLICIT_CONTROLS = 0x0044, "SOLICIT control bits.";
    LOOKUP_CONTROLS = 0x0045, "LOOKUP criteria.";
    EXTENDED_PAYLOAD = 0x005A, "A signed extended payload.";
    PNRP_ID_ARRAY = 0x0060, "Array of PNRP IDs.";
    CERT_CHAIN = 0x0080, "A certificate chain (opaque here).";
    WCHAR = 0x0084, "One UTF-16 code unit (array entry type).";
    CLASSIFIER = 0x0085, "A classifier string.";
    HASHED_NONCE = 0x0092, "160-bit hash of a nonce.";
    NONCE = 0x0093, "A 16-byte nonce.";
    SPLIT_CONTROLS = 0x0098, "AUTHORITY fragmentation info.";
    ROUTING_ENTRY = 0x009A, "A ROUTE_ENTRY.";
    VALIDATE_CPA = 0x009B, "An encoded CPA to validate.";
    REVOKE_CPA = 0x009C, "An encoded revoke CPA.";
    IPV6_ENDPOINT = 0x009D, "One IPV6_ENDPOINT (array entry type).";
    IPV6_ENDPOINT_ARRAY = 0x009E, "Array of IPV6_ENDPOINTs.";
}

impl fmt::Debug for FieldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for FieldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n}"),
            None => write!(f, "{:#06x}", self.0),
        }
    }
}
