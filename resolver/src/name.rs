//! Peer names: `authority "." classifier`.
//!
//! A [`PeerName`] is what users publish and resolve. This module parses and
//! validates the text form, keeps the classifier in two spellings (the one to
//! show, and the canonical one to hash and compare), and derives the
//! identifiers of [`crate::id`] from it. The host-name form (`*.pnrp.net`)
//! lives in [`crate::host`].
//!
//! # Rules (design §3, protocol digest §1.2)
//!
//! * A peer name is `authority "." classifier`, split at the **first** `.`;
//!   the classifier may itself contain dots (`0.Games.Lobby`).
//! * The authority is `0` (unsecured) or exactly 40 hexadecimal digits
//!   (secured). Upper-case hex is accepted and folded to lower case. The
//!   all-zero secured authority is refused: its identifiers would collide
//!   with the unsecured name of the same classifier.
//! * A bare 40-hex string without a dot is a secured name with an empty
//!   classifier, as is `A.` (the .NET parser's behaviour).
//! * The classifier is normalised to Unicode NFC. Its length is counted in
//!   UTF-16 code units of that NFC form (the wire CLASSIFIER element is
//!   UTF-16): 1–149 for unsecured names, 0–149 for secured ones.
//! * No control character ([`char::is_control`]) and no whitespace
//!   ([`char::is_whitespace`]) may appear in the classifier.
//! * The peer name as given is at most 190 UTF-16 code units long
//!   (40 + 1 + 149, the .NET limit); it is checked before any normalisation,
//!   which also bounds the work done on hostile input.
//!
//! # Case
//!
//! Matching is case-insensitive (design §3): the [canonical
//! form](Classifier::canonical) of a classifier is `NFC(lowercase(NFC(c)))`
//! with [`str::to_lowercase`], and it alone feeds the
//! [`ClassifierHash`], equality and hashing. The original spelling is kept
//! for display, so `0.MyPrinter` prints as typed and equals `0.myprinter`.
//!
//! ```
//! use pnrp::name::PeerName;
//!
//! let a: PeerName = "0.MyPrinter".parse()?;
//! let b: PeerName = "0.MYPRINTER".parse()?;
//! assert_eq!(a, b);
//! assert_eq!(a.to_string(), "0.MyPrinter");
//! assert_eq!(a.canonical_string(), "0.myprinter");
//! assert_eq!(a.p2p_id(), b.p2p_id());
//! # Ok::<(), pnrp::name::NameError>(())
//! ```

use core::fmt;
use core::hash::{Hash, Hasher};
use core::str::FromStr;

use unicode_normalization::UnicodeNormalization;

use crate::id::{BinaryAuthority, ClassifierHash, P2pId};

/// Longest classifier, in UTF-16 code units of its NFC form.
pub const MAX_CLASSIFIER_LEN: usize = 149;

/// Longest peer name, in UTF-16 code units (40 + 1 + 149).
pub const MAX_PEER_NAME_LEN: usize = 190;

/// Length of a secured authority in hexadecimal characters.
pub const SECURED_AUTHORITY_LEN: usize = 40;

/// The authority half of a peer name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Authority {
    /// The authority `0`: anyone may publish the name.
    Unsecured,
    /// A 160-bit authority derived from the publisher's public key, written
    /// as 40 lowercase hexadecimal characters.
    Secured(BinaryAuthority),
}

impl Authority {
    /// The 160-bit binary authority: [`BinaryAuthority::ZERO`] for unsecured
    /// names.
    pub fn binary(&self) -> BinaryAuthority {
        match self {
            Self::Unsecured => BinaryAuthority::ZERO,
            Self::Secured(ba) => *ba,
        }
    }

    /// `true` for a secured authority.
    pub fn is_secured(&self) -> bool {
        matches!(self, Self::Secured(_))
    }

    /// Parses the text form: `0`, or 40 hexadecimal digits of either case.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s == "0" {
            return Ok(Self::Unsecured);
        }
        let len = s.chars().count();
        if len != SECURED_AUTHORITY_LEN {
            return Err(NameError::AuthorityLength { len });
        }
        if let Some((index, ch)) = s.chars().enumerate().find(|(_, c)| !c.is_ascii_hexdigit()) {
            return Err(NameError::AuthorityNotHex {
                ch,
                position: index + 1,
            });
        }
        match BinaryAuthority::from_hex(s) {
            Some(ba) if ba.is_zero() => Err(NameError::ZeroSecuredAuthority),
            Some(ba) => Ok(Self::Secured(ba)),
            // Unreachable after the checks above; kept total rather than
            // panicking.
            None => Err(NameError::AuthorityLength { len }),
        }
    }
}

impl fmt::Display for Authority {
    /// `0`, or 40 lowercase hexadecimal characters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unsecured => f.write_str("0"),
            Self::Secured(ba) => fmt::Display::fmt(ba, f),
        }
    }
}

/// The classifier half of a peer name, in its display and canonical
/// spellings.
///
/// Equality and hashing use the canonical spelling only.
#[derive(Debug, Clone)]
pub struct Classifier {
    display: String,
    canonical: String,
}

impl Classifier {
    /// Validates and normalises a classifier. `secured` allows the empty
    /// classifier.
    fn new(raw: &str, secured: bool) -> Result<Self, NameError> {
        check_characters(raw)?;
        let display: String = raw.nfc().collect();
        // NFC does not introduce whitespace or controls, but the stored form
        // is what the rules are about, so check it too (cheap, and total).
        check_characters(&display)?;
        if display.is_empty() && !secured {
            return Err(NameError::EmptyUnsecuredClassifier);
        }
        let len = utf16_len(&display);
        if len > MAX_CLASSIFIER_LEN {
            return Err(NameError::ClassifierTooLong { len });
        }
        let canonical = canonicalize(&display);
        Ok(Self { display, canonical })
    }

    /// The display spelling: NFC, original case.
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The canonical spelling: NFC of the lowercased NFC form. Used for
    /// hashing and matching.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// `true` for the empty classifier (secured names only).
    pub fn is_empty(&self) -> bool {
        self.display.is_empty()
    }

    /// Length of the display spelling in UTF-16 code units, as it travels in
    /// the CLASSIFIER element.
    pub fn utf16_len(&self) -> usize {
        utf16_len(&self.display)
    }

    /// The [`ClassifierHash`] of the canonical spelling.
    pub fn hash(&self) -> ClassifierHash {
        ClassifierHash::of_canonical(&self.canonical)
    }
}

impl PartialEq for Classifier {
    fn eq(&self, other: &Self) -> bool {
        self.canonical == other.canonical
    }
}

impl Eq for Classifier {}

impl Hash for Classifier {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.canonical.hash(state);
    }
}

impl fmt::Display for Classifier {
    /// The display spelling.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

/// A validated peer name.
///
/// Equality and hashing are case-insensitive: they compare the authority and
/// the [canonical](Classifier::canonical) classifier.
#[derive(Debug, Clone)]
pub struct PeerName {
    authority: Authority,
    classifier: Classifier,
}

/// Why a text is not a valid peer name. Each message names the rule broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The input is empty.
    #[error("peer name is empty; it must be `authority.classifier`")]
    Empty,
    /// The input has no `.` and is not a bare 40-hex secured authority.
    #[error(
        "peer name must be `authority.classifier` (found no `.`, and the text is not a 40-hex secured authority)"
    )]
    MissingDot,
    /// The input starts with `.`, so its authority is empty.
    #[error(
        "peer name must be `authority.classifier`; the authority before the first `.` is empty"
    )]
    LeadingDot,
    /// The peer name as given is too long.
    #[error("peer name is {len} UTF-16 code units long; the limit is 190")]
    PeerNameTooLong {
        /// Length in UTF-16 code units.
        len: usize,
    },
    /// The authority is neither `0` nor 40 characters long.
    #[error(
        "authority must be `0` or 40 hexadecimal characters (got {len} character{})",
        if *.len == 1 { "" } else { "s" }
    )]
    AuthorityLength {
        /// Length of the authority in characters.
        len: usize,
    },
    /// A 40-character authority holds a non-hexadecimal character.
    #[error(
        "authority must be `0` or 40 hexadecimal characters (character {position} is `{}`, U+{:04X}, not a hexadecimal digit)",
        .ch.escape_debug(), u32::from(*.ch)
    )]
    AuthorityNotHex {
        /// The offending character.
        ch: char,
        /// Its 1-based position in the authority.
        position: usize,
    },
    /// A secured authority of 40 zeros: it would collide with the unsecured
    /// authority `0`.
    #[error(
        "a secured authority must not be all zeros (that is the binary form of the unsecured authority `0`)"
    )]
    ZeroSecuredAuthority,
    /// An unsecured name with an empty classifier (`0.` or `0`).
    #[error("classifier of an unsecured name must not be empty")]
    EmptyUnsecuredClassifier,
    /// The NFC classifier is longer than 149 UTF-16 code units.
    #[error("classifier is {len} UTF-16 code units long; the limit is 149")]
    ClassifierTooLong {
        /// Length of the NFC classifier in UTF-16 code units.
        len: usize,
    },
    /// The classifier contains whitespace.
    #[error(
        "classifier contains whitespace (U+{:04X}) at character {position}; whitespace is not allowed",
        u32::from(*.ch)
    )]
    Whitespace {
        /// The offending character.
        ch: char,
        /// Its 1-based position in the classifier.
        position: usize,
    },
    /// The classifier contains a control character.
    #[error(
        "classifier contains a control character (U+{:04X}) at character {position}; control characters are not allowed",
        u32::from(*.ch)
    )]
    ControlCharacter {
        /// The offending character.
        ch: char,
        /// Its 1-based position in the classifier.
        position: usize,
    },
}

impl PeerName {
    /// Parses `authority.classifier` (design §3).
    ///
    /// The text is split at the first `.`; a bare 40-hex authority without a
    /// dot is a secured name with an empty classifier.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        let len = utf16_len(s);
        if len > MAX_PEER_NAME_LEN {
            return Err(NameError::PeerNameTooLong { len });
        }
        let (authority, classifier) = match s.split_once('.') {
            Some(("", _)) => return Err(NameError::LeadingDot),
            Some(parts) => parts,
            None if s == "0" => return Err(NameError::EmptyUnsecuredClassifier),
            None if s.len() == SECURED_AUTHORITY_LEN
                && s.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                (s, "")
            }
            None => return Err(NameError::MissingDot),
        };
        let authority = Authority::parse(authority)?;
        Self::build(authority, classifier)
    }

    /// Builds a peer name from its parts, validating and normalising the
    /// classifier as [`PeerName::parse`] does.
    pub fn new(authority: Authority, classifier: &str) -> Result<Self, NameError> {
        if let Authority::Secured(ba) = authority
            && ba.is_zero()
        {
            return Err(NameError::ZeroSecuredAuthority);
        }
        let authority_len = match authority {
            Authority::Unsecured => 1,
            Authority::Secured(_) => SECURED_AUTHORITY_LEN,
        };
        let len = authority_len + 1 + utf16_len(classifier);
        if len > MAX_PEER_NAME_LEN {
            return Err(NameError::PeerNameTooLong { len });
        }
        Self::build(authority, classifier)
    }

    fn build(authority: Authority, classifier: &str) -> Result<Self, NameError> {
        let classifier = Classifier::new(classifier, authority.is_secured())?;
        Ok(Self {
            authority,
            classifier,
        })
    }

    /// The authority.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// The classifier.
    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    /// `true` for a secured name.
    pub fn is_secured(&self) -> bool {
        self.authority.is_secured()
    }

    /// The 160-bit authority: [`BinaryAuthority::ZERO`] for unsecured names.
    pub fn binary_authority(&self) -> BinaryAuthority {
        self.authority.binary()
    }

    /// The [`ClassifierHash`] of the canonical classifier.
    pub fn classifier_hash(&self) -> ClassifierHash {
        self.classifier.hash()
    }

    /// The P2P ID: the upper half of every PNRP ID of this name.
    pub fn p2p_id(&self) -> P2pId {
        P2pId::new(&self.classifier_hash(), &self.binary_authority())
    }

    /// `authority.classifier` with the canonical (NFC, lowercase) classifier.
    pub fn canonical_string(&self) -> String {
        format!("{}.{}", self.authority, self.classifier.canonical)
    }
}

impl PartialEq for PeerName {
    fn eq(&self, other: &Self) -> bool {
        self.authority == other.authority && self.classifier == other.classifier
    }
}

impl Eq for PeerName {}

impl Hash for PeerName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.authority.hash(state);
        Hash::hash(&self.classifier, state);
    }
}

impl FromStr for PeerName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, NameError> {
        Self::parse(s)
    }
}

impl fmt::Display for PeerName {
    /// `authority.classifier` in the display spelling (`0.MyPrinter`,
    /// `<40 hex>.` for an empty secured classifier).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.authority, self.classifier.display)
    }
}

/// The canonical form of an NFC classifier: `NFC(lowercase(c))`.
fn canonicalize(nfc: &str) -> String {
    nfc.to_lowercase().nfc().collect()
}

fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Refuses control characters and whitespace, reporting the first one.
fn check_characters(classifier: &str) -> Result<(), NameError> {
    for (index, ch) in classifier.chars().enumerate() {
        let position = index + 1;
        if ch.is_control() {
            return Err(NameError::ControlCharacter { ch, position });
        }
        if ch.is_whitespace() {
            return Err(NameError::Whitespace { ch, position });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const A: &str = "5baff89de7de5c1d7b6193a1567ceeeb397cbda8";

    fn name(s: &str) -> PeerName {
        PeerName::parse(s).unwrap()
    }

    #[test]
    fn unsecured_name_parses_and_keeps_spelling() {
        let n = name("0.MyPrinter");
        assert_eq!(n.authority(), &Authority::Unsecured);
        assert!(!n.is_secured());
        assert_eq!(n.binary_authority(), BinaryAuthority::ZERO);
        assert_eq!(n.classifier().as_str(), "MyPrinter");
        assert_eq!(n.classifier().canonical(), "myprinter");
        assert_eq!(n.to_string(), "0.MyPrinter");
        assert_eq!(n.canonical_string(), "0.myprinter");
    }

    #[test]
    fn secured_name_parses() {
        let n = name(&format!("{A}.Service"));
        assert!(n.is_secured());
        assert_eq!(n.binary_authority(), BinaryAuthority::from_hex(A).unwrap());
        assert_eq!(n.to_string(), format!("{A}.Service"));
        assert_eq!(n.canonical_string(), format!("{A}.service"));
    }

    #[test]
    fn uppercase_hex_authority_is_folded_to_lowercase() {
        let n = name(&format!("{}.Service", A.to_uppercase()));
        assert_eq!(n.to_string(), format!("{A}.Service"));
        assert_eq!(n, name(&format!("{A}.service")));
    }

    #[test]
    fn bare_authority_is_secured_name_with_empty_classifier() {
        let bare = name(A);
        let dotted = name(&format!("{A}."));
        assert_eq!(bare, dotted);
        assert!(bare.is_secured());
        assert!(bare.classifier().is_empty());
        assert_eq!(bare.to_string(), format!("{A}."));
        assert_eq!(bare.canonical_string(), format!("{A}."));
    }

    #[test]
    fn split_is_at_first_dot_and_classifier_keeps_dots() {
        let n = name("0.Games.Lobby");
        assert_eq!(n.classifier().as_str(), "Games.Lobby");
        let n = name(&format!("{A}.a.b.c"));
        assert_eq!(n.classifier().as_str(), "a.b.c");
    }

    #[test]
    #[expect(
        clippy::disallowed_types,
        reason = "this test checks the Hash impl itself"
    )]
    fn equality_and_hash_are_case_insensitive() {
        use std::collections::HashSet;
        let a = name("0.MyPrinter");
        let b = name("0.myprinter");
        assert_eq!(a, b);
        assert_eq!(a.p2p_id(), b.p2p_id());
        assert_eq!(a.classifier_hash(), b.classifier_hash());
        let set: HashSet<_> = [a, b].into_iter().collect();
        assert_eq!(set.len(), 1);
        assert_ne!(name("0.x"), name(&format!("{A}.x")));
    }

    #[test]
    fn classifier_hash_uses_canonical_form() {
        let n = name("0.MyPrinter");
        assert_eq!(
            n.classifier_hash(),
            ClassifierHash::of_canonical("myprinter")
        );
        assert_eq!(
            n.p2p_id(),
            P2pId::new(
                &ClassifierHash::of_canonical("myprinter"),
                &BinaryAuthority::ZERO
            )
        );
    }

    #[test]
    fn classifier_is_normalised_to_nfc() {
        let decomposed = name("0.Cafe\u{301}");
        assert_eq!(decomposed.classifier().as_str(), "Caf\u{e9}");
        assert_eq!(decomposed, name("0.CAF\u{c9}"));
    }

    #[test]
    fn unicode_lowercase_is_canonical() {
        let n = name("0.ÜNÏCODE.GRÜSSE");
        assert_eq!(n.classifier().canonical(), "ünïcode.grüsse");
        // ß is lowercase already; to_lowercase does not fold it to "ss".
        assert_ne!(name("0.grüße"), name("0.grüsse"));
        assert_eq!(name("0.GRÜẞE"), name("0.grüße"));
    }

    #[test]
    fn empty_input_is_refused() {
        assert_eq!(PeerName::parse(""), Err(NameError::Empty));
    }

    #[test]
    fn leading_dot_is_refused() {
        assert_eq!(PeerName::parse(".foo"), Err(NameError::LeadingDot));
        assert_eq!(PeerName::parse("."), Err(NameError::LeadingDot));
    }

    #[test]
    fn missing_dot_is_refused() {
        let err = PeerName::parse("MyPrinter").unwrap_err();
        assert_eq!(err, NameError::MissingDot);
        assert!(err.to_string().contains("`authority.classifier`"));
    }

    #[test]
    fn unsecured_name_needs_a_classifier() {
        for s in ["0.", "0"] {
            let err = PeerName::parse(s).unwrap_err();
            assert_eq!(err, NameError::EmptyUnsecuredClassifier, "{s}");
            assert_eq!(
                err.to_string(),
                "classifier of an unsecured name must not be empty"
            );
        }
    }

    #[test]
    fn authority_of_wrong_length_is_refused() {
        let err = PeerName::parse(&format!("{}.x", &A[..39])).unwrap_err();
        assert_eq!(err, NameError::AuthorityLength { len: 39 });
        assert_eq!(
            err.to_string(),
            "authority must be `0` or 40 hexadecimal characters (got 39 characters)"
        );
        assert_eq!(
            PeerName::parse("1.x"),
            Err(NameError::AuthorityLength { len: 1 })
        );
        assert_eq!(
            PeerName::parse("00.x"),
            Err(NameError::AuthorityLength { len: 2 })
        );
    }

    #[test]
    fn authority_with_non_hex_character_is_refused() {
        let bad = format!("{}g{}", &A[..4], &A[5..]);
        let err = PeerName::parse(&format!("{bad}.x")).unwrap_err();
        assert_eq!(
            err,
            NameError::AuthorityNotHex {
                ch: 'g',
                position: 5
            }
        );
        assert!(err.to_string().contains("character 5 is `g`"), "{err}");
    }

    #[test]
    fn all_zero_secured_authority_is_refused() {
        let zeros = "0".repeat(40);
        assert_eq!(
            PeerName::parse(&format!("{zeros}.x")),
            Err(NameError::ZeroSecuredAuthority)
        );
        assert_eq!(
            PeerName::new(Authority::Secured(BinaryAuthority::ZERO), "x"),
            Err(NameError::ZeroSecuredAuthority)
        );
    }

    #[test]
    fn whitespace_is_refused_with_position() {
        let err = PeerName::parse("0.ab cd").unwrap_err();
        assert_eq!(
            err,
            NameError::Whitespace {
                ch: ' ',
                position: 3
            }
        );
        assert_eq!(
            err.to_string(),
            "classifier contains whitespace (U+0020) at character 3; whitespace is not allowed"
        );
        assert!(matches!(
            PeerName::parse("0.a\u{3000}b"),
            Err(NameError::Whitespace {
                ch: '\u{3000}',
                position: 2
            })
        ));
    }

    #[test]
    fn control_characters_are_refused() {
        let err = PeerName::parse("0.bell\u{7}").unwrap_err();
        assert_eq!(
            err,
            NameError::ControlCharacter {
                ch: '\u{7}',
                position: 5
            }
        );
        assert!(
            err.to_string().contains("control character (U+0007)"),
            "{err}"
        );
        assert!(matches!(
            PeerName::parse("0.a\0"),
            Err(NameError::ControlCharacter { ch: '\0', .. })
        ));
    }

    #[test]
    fn classifier_limit_is_149_utf16_units() {
        assert!(PeerName::parse(&format!("0.{}", "a".repeat(149))).is_ok());
        let err = PeerName::parse(&format!("0.{}", "a".repeat(150))).unwrap_err();
        assert_eq!(err, NameError::ClassifierTooLong { len: 150 });
        assert_eq!(
            err.to_string(),
            "classifier is 150 UTF-16 code units long; the limit is 149"
        );
        // An astral character is two UTF-16 code units.
        let astral = format!("0.{}\u{1F600}", "a".repeat(148));
        assert_eq!(
            PeerName::parse(&astral),
            Err(NameError::ClassifierTooLong { len: 150 })
        );
        assert!(PeerName::parse(&format!("{A}.{}", "a".repeat(149))).is_ok());
    }

    #[test]
    fn classifier_limit_counts_the_nfc_form() {
        // U+0958 has a composition exclusion: NFC expands it to two units.
        let expands = format!("0.{}", "\u{958}".repeat(75));
        assert_eq!(
            PeerName::parse(&expands),
            Err(NameError::ClassifierTooLong { len: 150 })
        );
    }

    #[test]
    fn peer_name_limit_is_190_characters() {
        let err = PeerName::parse(&format!("{A}.{}", "a".repeat(150))).unwrap_err();
        assert_eq!(err, NameError::PeerNameTooLong { len: 191 });
        assert!(err.to_string().contains("the limit is 190"));
        let long = PeerName::new(Authority::Unsecured, &"e\u{301}".repeat(100));
        assert_eq!(long, Err(NameError::PeerNameTooLong { len: 202 }));
    }

    #[test]
    fn new_validates_like_parse() {
        let ba = BinaryAuthority::from_hex(A).unwrap();
        assert_eq!(
            PeerName::new(Authority::Secured(ba), "Service").unwrap(),
            name(&format!("{A}.Service"))
        );
        assert!(PeerName::new(Authority::Secured(ba), "").is_ok());
        assert_eq!(
            PeerName::new(Authority::Unsecured, ""),
            Err(NameError::EmptyUnsecuredClassifier)
        );
        assert!(matches!(
            PeerName::new(Authority::Unsecured, "a b"),
            Err(NameError::Whitespace { .. })
        ));
    }

    #[test]
    fn display_parses_back_to_an_equal_name() {
        for s in [
            "0.MyPrinter",
            "0.Games.Lobby",
            "0.Ünïcode.Grüße",
            A,
            "0.日本",
        ] {
            let n = name(s);
            assert_eq!(name(&n.to_string()), n);
            assert_eq!(name(&n.canonical_string()), n);
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = PeerName::parse(&s);
        }

        #[test]
        fn parse_never_panics_on_dotted_input(a in "[0-9a-fA-F.]{0,42}", c in "\\PC{0,160}") {
            let _ = PeerName::parse(&format!("{a}.{c}"));
        }

        #[test]
        fn display_round_trips(c in "[\\p{L}\\p{N}.\\-_]{1,60}") {
            if let Ok(n) = PeerName::parse(&format!("0.{c}")) {
                let again = PeerName::parse(&n.to_string()).unwrap();
                prop_assert_eq!(&again, &n);
                prop_assert_eq!(again.canonical_string(), n.canonical_string());
            }
        }
    }
}
