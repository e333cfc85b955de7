//! The host-name form of peer names: `*.pnrp.net` (design §4).
//!
//! This is how `getaddrinfo` (through the NSS module) and the DNS stub see
//! peer names. DNS puts the most significant part on the right and PNRP on
//! the left, so the authority moves behind the classifier:
//!
//! | peer name | host name |
//! | --- | --- |
//! | `0.MyPrinter` | `myprinter.pnrp.net` |
//! | `0.Games.Lobby` | `games.lobby.pnrp.net` |
//! | `0.Café` | `xn--caf-dma.pnrp.net` |
//! | `A.Service` | `service.pA.pnrp.net` |
//! | `A.` (empty classifier) | `pA.pnrp.net` |
//!
//! where `A` is a 40-hex secured authority; the authority label is always `p`
//! followed by the 40 lowercase hex digits.
//!
//! # Encoding ([`to_host`])
//!
//! The canonical classifier (NFC, lowercase) is split on `.` and every label
//! goes through IDNA (UTS #46) ToASCII with the STD3 ASCII rules (only
//! letters, digits and `-` in ASCII), no hyphen at either end of a label, and
//! the DNS lengths checked (label 1–63 octets, whole name at most 253). Two
//! more rules keep the mapping faithful, so that
//! `from_host(to_host(n)) == n` always holds:
//!
//! * UTS #46 maps more than case (full-width letters, ligatures such as `ﬁ`,
//!   compatibility characters, Cherokee case). A label whose ToUnicode of its
//!   ToASCII is not the label itself has no faithful host form and is
//!   refused, as is a label that already starts with `xn--`.
//! * The last label of an **unsecured** classifier must not look like an
//!   authority label (`p` + 40 hex): decoding would read it as secured.
//!
//! # Decoding ([`from_host`])
//!
//! Any letter case is accepted. One trailing dot and the `.pnrp.net` suffix
//! (ASCII, case-insensitive) are stripped. If the last remaining label is an
//! authority label (`p` and 40 hex digits, any case) it gives the authority
//! and the labels before it (possibly none) are the classifier; otherwise the
//! name is unsecured. Each label goes through IDNA ToUnicode (so `xn--`
//! labels are decoded, and Unicode labels are accepted as typed). The result
//! must itself have a faithful host form: [`from_host`] only returns names
//! that [`to_host`] can encode. Plain ASCII labels keep the case of the query
//! in the returned classifier's display spelling (`MyPrinter.pnrp.net` gives
//! `0.MyPrinter`); decoded `xn--` labels come back in lower case.
//!
//! ```
//! use pnrp::host::{from_host, to_host};
//! use pnrp::name::PeerName;
//!
//! let name: PeerName = "0.Café".parse()?;
//! assert_eq!(to_host(&name)?, "xn--caf-dma.pnrp.net");
//! assert_eq!(from_host("XN--CAF-DMA.PNRP.NET.")?, name);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};

use crate::id::BinaryAuthority;
use crate::name::{Authority, NameError, PeerName};

/// The DNS zone under which peer names live.
pub const ZONE: &str = "pnrp.net";

/// `.` + [`ZONE`]: the suffix stripped by [`from_host`].
const DOT_ZONE: &str = ".pnrp.net";

/// Longest DNS label in octets (RFC 1035).
pub const MAX_LABEL_LEN: usize = 63;

/// Longest DNS name in octets, without the trailing dot (RFC 1035 with the
/// usual text-form reading).
pub const MAX_HOST_LEN: usize = 253;

/// Length of an authority label: `p` + 40 hex.
const AUTHORITY_LABEL_LEN: usize = 41;

/// The IDNA profile: STD3 ASCII rules, no hyphen at the edges of a label.
/// Lengths are checked here, to name the label that breaks them.
const DENY: AsciiDenyList = AsciiDenyList::STD3;
const HYPHENS: Hyphens = Hyphens::CheckFirstLast;

/// Why a peer name has no host form, or a host name is not a peer name.
/// Each message names the rule broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostNameError {
    /// The host name is empty (or just `.`).
    #[error("host name is empty")]
    EmptyHost,
    /// The host name does not end in `.pnrp.net`.
    #[error("host name is not under the `pnrp.net` zone")]
    NotInZone,
    /// The host name is the zone itself, with no label before `.pnrp.net`.
    #[error("host name has no label before `.pnrp.net`")]
    NothingBeforeZone,
    /// A label is empty: two dots in a row, or a classifier that starts or
    /// ends with a dot.
    #[error(
        "label {position} is empty; host-name labels must not be empty (no two dots in a row, no leading or trailing dot)"
    )]
    EmptyLabel {
        /// 1-based position of the empty label, counted from the left.
        position: usize,
    },
    /// A label starts or ends with a hyphen.
    #[error("label `{}` starts or ends with `-`, which host names do not allow", .label.escape_debug())]
    HyphenAtEdge {
        /// The label.
        label: String,
    },
    /// A classifier label starts with the IDNA ACE prefix `xn--`.
    #[error("label `{}` starts with `xn--`, which is reserved for IDNA-encoded labels", .label.escape_debug())]
    AcePrefix {
        /// The label.
        label: String,
    },
    /// A host label starting with `xn--` does not decode (bad Punycode, or an
    /// encoding IDNA does not produce).
    #[error("label `{}` is not a valid IDNA A-label (`xn--` + Punycode)", .label.escape_debug())]
    InvalidALabel {
        /// The label as given.
        label: String,
    },
    /// A label holds a character that IDNA refuses in host names.
    #[error(
        "label `{}` contains `{}` (U+{:04X}), which IDNA (UTS #46 with STD3 rules) refuses in host names",
        .label.escape_debug(), .ch.escape_debug(), u32::from(*.ch)
    )]
    RefusedCharacter {
        /// The label.
        label: String,
        /// The first refused character.
        ch: char,
    },
    /// A label is refused by IDNA as a whole (bidi, joiner or combining-mark
    /// rules), though each of its characters is allowed somewhere.
    #[error(
        "label `{}` is refused by IDNA (UTS #46): it breaks the bidi, joiner or combining-mark rules",
        .label.escape_debug()
    )]
    RefusedLabel {
        /// The label.
        label: String,
    },
    /// The labels are each valid but refused together (the bidi rule applies
    /// across all labels of a name that holds right-to-left text).
    #[error(
        "host name `{host}` is refused by IDNA (UTS #46): its labels break the bidi rule together"
    )]
    RefusedName {
        /// The host name that was built.
        host: String,
    },
    /// UTS #46 maps the label to something else (full-width forms, ligatures,
    /// compatibility characters…), so decoding would not give it back.
    #[error(
        "label `{}` is altered by IDNA (UTS #46) mapping and has no faithful host form",
        .label.escape_debug()
    )]
    AlteredByIdna {
        /// The label.
        label: String,
    },
    /// A label is longer than 63 octets in its ASCII form.
    #[error(
        "label `{}` is {len} octets long in its host form; the DNS limit is 63",
        .label.escape_debug()
    )]
    LabelTooLong {
        /// The label (Unicode form).
        label: String,
        /// Octets of its ASCII (`xn--`) form.
        len: usize,
    },
    /// The whole host name is longer than 253 octets.
    #[error("host name is {len} octets long; the DNS limit is 253")]
    HostTooLong {
        /// Octets of the host name, without a trailing dot.
        len: usize,
    },
    /// The last label of an unsecured classifier looks like an authority
    /// label, so the host name would decode as a secured name.
    #[error(
        "the last label `{}` of an unsecured classifier looks like a secured authority label (`p` + 40 hex), so its host name would be ambiguous",
        .label.escape_debug()
    )]
    AmbiguousUnsecured {
        /// The label.
        label: String,
    },
    /// The decoded name is not a valid peer name.
    #[error(transparent)]
    Name(#[from] NameError),
}

/// `true` if `host` is [`ZONE`] or a name under it: a suffix check, ASCII
/// case-insensitive, one trailing dot allowed. Does not allocate.
pub fn is_in_zone(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    host.eq_ignore_ascii_case(ZONE) || strip_zone(host).is_some()
}

/// The host name of a peer name (design §4). Output is lowercase ASCII,
/// without a trailing dot.
pub fn to_host(name: &PeerName) -> Result<String, HostNameError> {
    let classifier = name.classifier().canonical();
    let mut host = String::with_capacity(classifier.len() + AUTHORITY_LABEL_LEN + DOT_ZONE.len());
    if !classifier.is_empty() {
        if !name.is_secured()
            && let Some(last) = classifier.rsplit('.').next()
            && authority_label(last).is_some()
        {
            return Err(HostNameError::AmbiguousUnsecured {
                label: last.to_owned(),
            });
        }
        for (index, label) in classifier.split('.').enumerate() {
            if label.is_empty() {
                return Err(HostNameError::EmptyLabel {
                    position: index + 1,
                });
            }
            host.push_str(&encode_label(label)?);
            host.push('.');
        }
    }
    if let Authority::Secured(ba) = name.authority() {
        host.push('p');
        host.push_str(&ba.to_string());
        host.push('.');
    }
    host.push_str(ZONE);
    if host.len() > MAX_HOST_LEN {
        return Err(HostNameError::HostTooLong { len: host.len() });
    }
    // The labels passed one by one; the bidi rule also applies across the
    // labels of the whole name. The name is already ASCII, so this decodes the
    // `xn--` labels and validates them together.
    match uts46().to_ascii(host.as_bytes(), DENY, HYPHENS, DnsLength::Verify) {
        Ok(again) if again == host => Ok(host),
        _ => Err(HostNameError::RefusedName { host }),
    }
}

/// A name as users type it: a `*.pnrp.net` host name (any case, optional
/// trailing dot) or a peer name.
pub fn parse_any(text: &str) -> Result<PeerName, HostNameError> {
    if is_in_zone(text) {
        from_host(text)
    } else {
        Ok(text.parse::<PeerName>()?)
    }
}

/// The peer name of a host name (design §4). Accepts any letter case, one
/// trailing dot, and Unicode or `xn--` labels. Only names that [`to_host`]
/// can encode are returned.
pub fn from_host(host: &str) -> Result<PeerName, HostNameError> {
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() {
        return Err(HostNameError::EmptyHost);
    }
    // An ASCII host is measured as given; a Unicode one after decoding (its
    // `xn--` form is what counts), through `to_host` below.
    if host.is_ascii() && host.len() > MAX_HOST_LEN {
        return Err(HostNameError::HostTooLong { len: host.len() });
    }
    if host.eq_ignore_ascii_case(ZONE) {
        return Err(HostNameError::NothingBeforeZone);
    }
    let rest = strip_zone(host).ok_or(HostNameError::NotInZone)?;
    if rest.is_empty() {
        return Err(HostNameError::NothingBeforeZone);
    }
    let (authority, classifier_labels) = match rest.rsplit_once('.') {
        Some((front, last)) => match authority_label(last) {
            Some(ba) => (Authority::Secured(ba), Some(front)),
            None => (Authority::Unsecured, Some(rest)),
        },
        None => match authority_label(rest) {
            Some(ba) => (Authority::Secured(ba), None),
            None => (Authority::Unsecured, Some(rest)),
        },
    };
    let mut classifier = String::with_capacity(rest.len());
    if let Some(labels) = classifier_labels {
        for (index, label) in labels.split('.').enumerate() {
            if index > 0 {
                classifier.push('.');
            }
            decode_label(label, index + 1, &mut classifier)?;
        }
    }
    let name = PeerName::new(authority, &classifier)?;
    // Refuse what has no faithful host form (lengths, mapping, ambiguity,
    // bidi across labels), so that every accepted host name is one that
    // `to_host` produces, up to case and IDNA mapping.
    to_host(&name)?;
    Ok(name)
}

fn uts46() -> Uts46 {
    Uts46::new()
}

/// The part of `host` before `.pnrp.net` (ASCII case-insensitive), if any.
fn strip_zone(host: &str) -> Option<&str> {
    let cut = host.len().checked_sub(DOT_ZONE.len())?;
    let suffix = host.as_bytes().get(cut..)?;
    if suffix.eq_ignore_ascii_case(DOT_ZONE.as_bytes()) {
        host.get(..cut)
    } else {
        None
    }
}

/// The authority of a `p` + 40 hex label (either case), if it is one.
fn authority_label(label: &str) -> Option<BinaryAuthority> {
    let hex = label
        .strip_prefix('p')
        .or_else(|| label.strip_prefix('P'))?;
    if label.len() == AUTHORITY_LABEL_LEN && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        BinaryAuthority::from_hex(hex)
    } else {
        None
    }
}

fn starts_with_ace_prefix(label: &str) -> bool {
    label
        .as_bytes()
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"xn--"))
}

/// ToASCII of one canonical (NFC, lowercase, non-empty) classifier label,
/// with the faithfulness and length checks.
fn encode_label(label: &str) -> Result<String, HostNameError> {
    if label.starts_with('-') || label.ends_with('-') {
        return Err(HostNameError::HyphenAtEdge {
            label: label.to_owned(),
        });
    }
    if starts_with_ace_prefix(label) {
        return Err(HostNameError::AcePrefix {
            label: label.to_owned(),
        });
    }
    let idna = uts46();
    let Ok(ascii) = idna.to_ascii(label.as_bytes(), DENY, HYPHENS, DnsLength::Ignore) else {
        return Err(refusal(label));
    };
    let (unicode, checked) = idna.to_unicode(ascii.as_bytes(), DENY, HYPHENS);
    if checked.is_err() || unicode != label {
        return Err(HostNameError::AlteredByIdna {
            label: label.to_owned(),
        });
    }
    if ascii.len() > MAX_LABEL_LEN {
        return Err(HostNameError::LabelTooLong {
            label: label.to_owned(),
            len: ascii.len(),
        });
    }
    Ok(ascii.into_owned())
}

/// ToUnicode of one host label, appended to `out`. Plain ASCII labels keep
/// the case they were given in.
fn decode_label(label: &str, position: usize, out: &mut String) -> Result<(), HostNameError> {
    if label.is_empty() {
        return Err(HostNameError::EmptyLabel { position });
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(HostNameError::HyphenAtEdge {
            label: label.to_owned(),
        });
    }
    let (unicode, checked) = uts46().to_unicode(label.as_bytes(), DENY, HYPHENS);
    if checked.is_err() {
        return Err(if starts_with_ace_prefix(label) {
            HostNameError::InvalidALabel {
                label: label.to_owned(),
            }
        } else {
            refusal(label)
        });
    }
    let keeps_case = label.is_ascii()
        && !starts_with_ace_prefix(label)
        && unicode.len() == label.len()
        && unicode.eq_ignore_ascii_case(label);
    out.push_str(if keeps_case { label } else { &unicode });
    Ok(())
}

/// Explains why IDNA refused `label`: the first character it refuses
/// anywhere, else the label as a whole (bidi, joiner, combining-mark rules).
fn refusal(label: &str) -> HostNameError {
    let idna = uts46();
    let refused = |text: &str| {
        idna.to_ascii(text.as_bytes(), DENY, Hyphens::Allow, DnsLength::Ignore)
            .is_err()
    };
    let mut buf = String::with_capacity(8);
    let culprit = label.chars().find(|&ch| {
        // Alone (a right-to-left letter is fine alone) and between two ASCII
        // letters (a combining mark is fine after a base letter): refused in
        // both places means refused outright.
        buf.clear();
        buf.push(ch);
        if !refused(&buf) {
            return false;
        }
        buf.clear();
        buf.push('a');
        buf.push(ch);
        buf.push('a');
        refused(&buf)
    });
    match culprit {
        Some(ch) => HostNameError::RefusedCharacter {
            label: label.to_owned(),
            ch,
        },
        None => HostNameError::RefusedLabel {
            label: label.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const A: &str = "5baff89de7de5c1d7b6193a1567ceeeb397cbda8";

    fn name(s: &str) -> PeerName {
        PeerName::parse(s).unwrap()
    }

    fn host(s: &str) -> String {
        to_host(&name(s)).unwrap()
    }

    fn host_err(s: &str) -> HostNameError {
        to_host(&name(s)).unwrap_err()
    }

    #[test]
    fn unsecured_examples_from_the_design() {
        assert_eq!(host("0.MyPrinter"), "myprinter.pnrp.net");
        assert_eq!(host("0.Games.Lobby"), "games.lobby.pnrp.net");
        assert_eq!(host("0.Café"), "xn--caf-dma.pnrp.net");
    }

    #[test]
    fn unsecured_examples_decode() {
        assert_eq!(
            from_host("myprinter.pnrp.net").unwrap(),
            name("0.MyPrinter")
        );
        assert_eq!(
            from_host("games.lobby.pnrp.net").unwrap(),
            name("0.Games.Lobby")
        );
        let cafe = from_host("xn--caf-dma.pnrp.net").unwrap();
        assert_eq!(cafe, name("0.Café"));
        assert_eq!(cafe.classifier().as_str(), "café");
    }

    #[test]
    fn secured_name_puts_authority_label_before_zone() {
        let n = name(&format!("{A}.Service"));
        let h = format!("service.p{A}.pnrp.net");
        assert_eq!(to_host(&n).unwrap(), h);
        let back = from_host(&h).unwrap();
        assert_eq!(back, n);
        assert!(back.is_secured());
    }

    #[test]
    fn secured_empty_classifier_is_the_authority_label_alone() {
        let n = name(A);
        let h = format!("p{A}.pnrp.net");
        assert_eq!(to_host(&n).unwrap(), h);
        let back = from_host(&h).unwrap();
        assert_eq!(back, n);
        assert!(back.classifier().is_empty());
    }

    #[test]
    fn secured_multi_label_classifier() {
        let n = name(&format!("{A}.Games.Lobby"));
        let h = format!("games.lobby.p{A}.pnrp.net");
        assert_eq!(to_host(&n).unwrap(), h);
        assert_eq!(from_host(&h).unwrap(), n);
    }

    #[test]
    fn uppercase_hex_authority_is_folded() {
        let n = name(&format!("{}.Service", A.to_uppercase()));
        assert_eq!(to_host(&n).unwrap(), format!("service.p{A}.pnrp.net"));
        let back = from_host(&format!("SERVICE.P{}.PNRP.NET", A.to_uppercase())).unwrap();
        assert_eq!(back, n);
        assert_eq!(back.authority().to_string(), A);
    }

    #[test]
    fn any_case_and_trailing_dot_are_accepted() {
        let expected = name("0.myprinter");
        for h in [
            "MYPRINTER.PNRP.NET",
            "myprinter.pnrp.net.",
            "MyPrinter.Pnrp.Net.",
        ] {
            assert_eq!(from_host(h).unwrap(), expected, "{h}");
        }
    }

    #[test]
    fn ascii_labels_keep_the_query_case_for_display() {
        let n = from_host("MyPrinter.pnrp.net").unwrap();
        assert_eq!(n.to_string(), "0.MyPrinter");
        assert_eq!(to_host(&n).unwrap(), "myprinter.pnrp.net");
    }

    #[test]
    fn output_is_lowercase() {
        assert_eq!(host("0.ÜNÏCODE"), host("0.ünïcode"));
        assert_eq!(host("0.MYPRINTER"), "myprinter.pnrp.net");
    }

    #[test]
    fn non_ascii_multi_label_classifier_round_trips_including_sharp_s() {
        // idna 1.x does nontransitional processing: ß is kept (xn--zca), not
        // mapped to "ss", so it round-trips.
        let n = name("0.Ünïcode.Grüße");
        let h = to_host(&n).unwrap();
        assert_eq!(h, "xn--ncode-cta3g.xn--gre-6ka8l.pnrp.net");
        let back = from_host(&h).unwrap();
        assert_eq!(back, n);
        assert_eq!(back.classifier().as_str(), "ünïcode.grüße");
        assert_ne!(h, host("0.Ünïcode.Grüsse"));
        assert_eq!(host("0.ß"), "xn--zca.pnrp.net");
    }

    #[test]
    fn other_scripts_round_trip() {
        for s in [
            "0.日本",
            "0.Жук",
            "0.σοφία",
            "0.שלום",
            &format!("{A}.日本.ж"),
        ] {
            let n = name(s);
            let h = to_host(&n).unwrap();
            assert!(h.is_ascii(), "{h}");
            assert_eq!(from_host(&h).unwrap(), n, "{s} -> {h}");
        }
    }

    #[test]
    fn unicode_host_labels_are_accepted() {
        assert_eq!(from_host("café.pnrp.net").unwrap(), name("0.café"));
        assert_eq!(from_host("CAFÉ.pnrp.net").unwrap(), name("0.café"));
    }

    #[test]
    fn characters_idna_refuses_are_named() {
        for (s, ch) in [
            ("0.a_b", '_'),
            ("0.a@b", '@'),
            ("0.x!", '!'),
            ("0.\u{fffd}", '\u{fffd}'),
        ] {
            let err = host_err(s);
            assert_eq!(
                err,
                HostNameError::RefusedCharacter {
                    label: name(s).classifier().canonical().to_owned(),
                    ch
                },
                "{s}"
            );
        }
        let msg = host_err("0.my_printer").to_string();
        assert!(
            msg.contains("`my_printer`") && msg.contains("U+005F"),
            "{msg}"
        );
    }

    #[test]
    fn joiner_and_bidi_violations_refuse_the_label() {
        assert!(matches!(
            host_err("0.a\u{200d}b"),
            HostNameError::RefusedCharacter { ch: '\u{200d}', .. }
        ));
        // Latin and Hebrew in one label: each character is fine, the label
        // breaks the bidi rule.
        assert_eq!(
            host_err("0.aשb"),
            HostNameError::RefusedLabel {
                label: "aשb".to_owned()
            }
        );
    }

    #[test]
    fn bidi_rule_across_labels_refuses_the_name() {
        assert!(matches!(
            host_err("0.1abc.שלום"),
            HostNameError::RefusedName { .. }
        ));
    }

    #[test]
    fn hyphen_at_label_edge_is_refused() {
        for s in ["0.-ab", "0.ab-", "0.x.-y"] {
            assert!(
                matches!(host_err(s), HostNameError::HyphenAtEdge { .. }),
                "{s}"
            );
        }
        assert_eq!(host("0.a-b"), "a-b.pnrp.net");
        assert!(matches!(
            from_host("-ab.pnrp.net"),
            Err(HostNameError::HyphenAtEdge { .. })
        ));
    }

    #[test]
    fn ace_prefix_in_classifier_is_refused() {
        assert_eq!(
            host_err("0.xn--caf-dma"),
            HostNameError::AcePrefix {
                label: "xn--caf-dma".to_owned()
            }
        );
    }

    #[test]
    fn empty_labels_are_refused() {
        assert_eq!(
            host_err("0.a..b"),
            HostNameError::EmptyLabel { position: 2 }
        );
        assert_eq!(host_err("0..a"), HostNameError::EmptyLabel { position: 1 });
        assert_eq!(host_err("0.a."), HostNameError::EmptyLabel { position: 2 });
        assert_eq!(
            host_err(&format!("{A}..")),
            HostNameError::EmptyLabel { position: 1 }
        );
        assert_eq!(
            from_host("a..b.pnrp.net"),
            Err(HostNameError::EmptyLabel { position: 2 })
        );
        assert!(
            host_err("0.a..b")
                .to_string()
                .contains("no two dots in a row")
        );
    }

    #[test]
    fn idna_mapping_that_changes_more_than_case_is_refused() {
        for (s, label) in [
            ("0.ﬁle", "ﬁle"),
            ("0.ｆｏｏ", "ｆｏｏ"),
            ("0.ⅷ", "ⅷ"),
            // Rust lowercases Cherokee to U+AB70, UTS #46 folds it back to
            // U+13A0.
            ("0.Ꭰ", "ꭰ"),
            ("0.a\u{ad}b", "a\u{ad}b"),
        ] {
            let err = host_err(s);
            assert_eq!(
                err,
                HostNameError::AlteredByIdna {
                    label: label.to_owned()
                },
                "{s}"
            );
        }
        assert!(
            host_err("0.ﬁle")
                .to_string()
                .contains("altered by IDNA (UTS #46) mapping and has no faithful host form")
        );
        // The ideographic full stop maps to `.`.
        assert!(matches!(
            host_err("0.a\u{3002}b"),
            HostNameError::AlteredByIdna { .. }
        ));
    }

    #[test]
    fn label_over_63_octets_is_refused_and_named() {
        assert!(to_host(&name(&format!("0.{}", "a".repeat(63)))).is_ok());
        let long = "a".repeat(64);
        assert_eq!(
            host_err(&format!("0.x.{long}")),
            HostNameError::LabelTooLong {
                label: long.clone(),
                len: 64
            }
        );
        // Non-ASCII labels are measured in their xn-- form.
        let distinct: String = ('\u{4e00}'..).step_by(331).take(30).collect();
        let err = host_err(&format!("0.{distinct}"));
        assert!(
            matches!(err, HostNameError::LabelTooLong { len, .. } if len > 63),
            "{err}"
        );
        assert!(err.to_string().contains("the DNS limit is 63"));
        assert!(matches!(
            from_host(&format!("{long}.pnrp.net")),
            Err(HostNameError::LabelTooLong { len: 64, .. })
        ));
    }

    #[test]
    fn host_over_253_octets_is_refused() {
        // ASCII classifiers (at most 149 characters) always fit; Punycode
        // growth can exceed the limit while every label stays under 63.
        let label = "日本語漢字仮名東京大阪京都";
        let classifier = [label; 10].join(".");
        let n = name(&format!("0.{classifier}"));
        let err = to_host(&n).unwrap_err();
        assert!(
            matches!(err, HostNameError::HostTooLong { len } if len > 253),
            "{err}"
        );
        assert!(err.to_string().contains("the DNS limit is 253"));
        let ascii = format!("{}.pnrp.net", vec!["a".repeat(60); 5].join("."));
        assert_eq!(
            from_host(&ascii),
            Err(HostNameError::HostTooLong {
                len: 5 * 61 - 1 + 9
            })
        );
    }

    #[test]
    fn unsecured_classifier_ending_in_authority_label_is_ambiguous() {
        let err = host_err(&format!("0.p{A}"));
        assert_eq!(
            err,
            HostNameError::AmbiguousUnsecured {
                label: format!("p{A}")
            }
        );
        assert!(err.to_string().contains("ambiguous"));
        assert!(matches!(
            host_err(&format!("0.x.P{}", A.to_uppercase())),
            HostNameError::AmbiguousUnsecured { .. }
        ));
        // Not last: fine, and it round-trips.
        let n = name(&format!("0.p{A}.x"));
        assert_eq!(from_host(&to_host(&n).unwrap()).unwrap(), n);
        // Secured: only the last host label decides, so this is fine too.
        let n = name(&format!("{A}.p{A}"));
        let h = to_host(&n).unwrap();
        assert_eq!(h, format!("p{A}.p{A}.pnrp.net"));
        assert_eq!(from_host(&h).unwrap(), n);
    }

    #[test]
    fn full_width_authority_label_does_not_sneak_in_as_unsecured() {
        let fw: String = format!("p{A}")
            .chars()
            .map(|c| char::from_u32(u32::from(c) + 0xFEE0).unwrap())
            .collect();
        assert!(matches!(
            from_host(&format!("{fw}.pnrp.net")),
            Err(HostNameError::AmbiguousUnsecured { .. })
        ));
    }

    #[test]
    fn missing_zone_is_refused() {
        for h in [
            "myprinter.example.com",
            "myprinter.pnrp.org",
            "pnrp.net.evil",
            "xpnrp.net",
        ] {
            assert_eq!(from_host(h), Err(HostNameError::NotInZone), "{h}");
        }
    }

    #[test]
    fn empty_host_and_bare_zone_are_refused() {
        assert_eq!(from_host(""), Err(HostNameError::EmptyHost));
        assert_eq!(from_host("."), Err(HostNameError::EmptyHost));
        for h in ["pnrp.net", "PNRP.NET.", ".pnrp.net"] {
            assert_eq!(from_host(h), Err(HostNameError::NothingBeforeZone), "{h}");
        }
    }

    #[test]
    fn bad_host_labels_are_refused() {
        assert!(matches!(
            from_host("a_b.pnrp.net"),
            Err(HostNameError::RefusedCharacter { ch: '_', .. })
        ));
        assert!(matches!(
            from_host("a b.pnrp.net"),
            Err(HostNameError::RefusedCharacter { ch: ' ', .. })
        ));
        assert!(matches!(
            from_host("xn--a.pnrp.net"),
            Err(HostNameError::InvalidALabel { .. })
        ));
    }

    #[test]
    fn zero_secured_authority_label_is_refused() {
        let zeros = "0".repeat(40);
        assert_eq!(
            from_host(&format!("x.p{zeros}.pnrp.net")),
            Err(HostNameError::Name(NameError::ZeroSecuredAuthority))
        );
    }

    #[test]
    fn name_errors_pass_through() {
        let long = ["a"; 76].join(".");
        assert_eq!(
            from_host(&format!("{long}.pnrp.net")),
            Err(HostNameError::Name(NameError::ClassifierTooLong {
                len: 151
            }))
        );
        assert!(from_host(&format!("{}.pnrp.net", ["a"; 75].join("."))).is_ok());
    }

    #[test]
    fn zone_check_is_a_suffix_check() {
        assert!(is_in_zone("myprinter.pnrp.net"));
        assert!(is_in_zone("MYPRINTER.PNRP.NET."));
        assert!(is_in_zone("pnrp.net"));
        assert!(is_in_zone("PNRP.NET."));
        assert!(!is_in_zone("xpnrp.net"));
        assert!(!is_in_zone("pnrp.net.evil"));
        assert!(!is_in_zone(""));
        assert!(!is_in_zone("é"));
    }

    /// A classifier label from a mixed alphabet: ASCII letters and digits,
    /// hyphens only inside, and some non-ASCII letters.
    fn label() -> impl Strategy<Value = String> {
        let chars = prop::sample::select(vec![
            'a', 'B', 'c', 'Z', 'q', '0', '7', 'é', 'Ü', 'ü', 'ж', 'Д', '日', '本', 'ß', 'ø', 'ñ',
        ]);
        (
            prop::collection::vec(chars.clone(), 1..8),
            prop::collection::vec(prop_oneof![chars, Just('-')], 0..8),
        )
            .prop_map(|(head, tail)| {
                let mut s: String = head.into_iter().collect();
                let tail: String = tail.into_iter().collect();
                let tail = tail.trim_end_matches('-');
                s.push_str(tail);
                s
            })
            .prop_filter("no ACE prefix", |s| !s.to_lowercase().starts_with("xn--"))
    }

    fn classifier() -> impl Strategy<Value = String> {
        prop::collection::vec(label(), 1..5).prop_map(|labels| labels.join("."))
    }

    proptest! {
        #[test]
        fn unsecured_names_round_trip_through_host(c in classifier()) {
            let n = PeerName::new(Authority::Unsecured, &c).unwrap();
            let h = to_host(&n).unwrap();
            prop_assert!(h.is_ascii() && h == h.to_ascii_lowercase());
            let back = from_host(&h).unwrap();
            prop_assert_eq!(&back, &n);
            prop_assert_eq!(back.p2p_id(), n.p2p_id());
            prop_assert_eq!(from_host(&h.to_uppercase()).unwrap(), n);
        }

        #[test]
        fn secured_names_round_trip_through_host(
            c in prop_oneof![Just(String::new()), classifier()],
            ba in any::<[u8; 20]>().prop_filter("non-zero", |b| b != &[0; 20]),
        ) {
            let n = PeerName::new(Authority::Secured(BinaryAuthority(ba)), &c).unwrap();
            let h = to_host(&n).unwrap();
            let back = from_host(&format!("{h}.")).unwrap();
            prop_assert_eq!(&back, &n);
            prop_assert_eq!(back.p2p_id(), n.p2p_id());
        }

        #[test]
        fn from_host_never_panics(s in any::<String>()) {
            let _ = from_host(&s);
            let _ = is_in_zone(&s);
        }

        #[test]
        fn from_host_never_panics_on_zone_names(s in "\\PC{0,80}") {
            if let Ok(n) = from_host(&format!("{s}.pnrp.net")) {
                // Whatever is accepted has a host form that decodes back.
                let h = to_host(&n).unwrap();
                prop_assert_eq!(from_host(&h).unwrap(), n);
            }
        }

        #[test]
        fn encodable_names_decode_back(
            c in prop_oneof!["\\PC{1,60}", "[\\p{L}\\p{M}\\p{N}\\-.]{1,40}"],
        ) {
            if let Ok(n) = PeerName::new(Authority::Unsecured, &c)
                && let Ok(h) = to_host(&n)
            {
                    prop_assert_eq!(from_host(&h).unwrap(), n);
            }
        }
    }
}
