//! Golden vectors, written byte by byte from the layouts of the digest §2.4
//! and §9 (adjusted to the 4.1 profile: VersionMinor 1 in the header and in
//! route entries), and property tests of the round-trip contract.

use std::net::Ipv6Addr;

use proptest::prelude::*;

use super::*;
use crate::cpa::{AppEndpoint, CpaContent, PayloadData, UnverifiedCpa, UnverifiedExtendedPayload};
use crate::crypto::P256Signer;
use crate::id::{BinaryAuthority, ClassifierHash, PnrpId, ServiceLocation};
use crate::time::UnixTime;

/// Hex with free whitespace.
pub(crate) fn h(s: &str) -> Vec<u8> {
    let clean: String = s.split_whitespace().collect();
    hex::decode(clean).expect("test hex")
}

fn rep(b: u8, n: usize) -> String {
    hex::encode(vec![b; n])
}

fn id(b: u8) -> PnrpId {
    PnrpId([b; 32])
}

fn addr1() -> Ipv6Addr {
    "2001:db8::1".parse().unwrap()
}

fn addr2() -> Ipv6Addr {
    "fe80::2".parse().unwrap()
}

fn a1() -> String {
    "20010db8000000000000000000000001".into()
}

fn a2() -> String {
    "fe800000000000000000000000000002".into()
}

/// Checks both directions: the value encodes to exactly `bytes`, and `bytes`
/// decode to exactly the value.
fn golden(p: &Packet, bytes: &[u8]) {
    assert_eq!(
        hex::encode(p.to_vec().unwrap()),
        hex::encode(bytes),
        "encode"
    );
    assert_eq!(&Packet::decode(bytes).unwrap(), p, "decode");
}

fn pkt(id: u32, message: Message) -> Packet {
    Packet {
        message_id: MessageId(id),
        message,
    }
}

#[test]
fn golden_solicit_with_controls_44_bytes() {
    let p = pkt(
        0x0a0b0c0d,
        Message::Solicit(Solicit {
            solicit_type: Some(SolicitType::Any),
            route_entry: None,
            hashed_nonce: [0x11; 20],
        }),
    );
    let b = h(&format!(
        "0010000c 51040101 0a0b0c0d  00440006 00000000  00920018 {}",
        rep(0x11, 20)
    ));
    assert_eq!(b.len(), 44);
    golden(&p, &b);
}

#[test]
fn golden_solicit_minimal_36_bytes() {
    let p = pkt(
        1,
        Message::Solicit(Solicit {
            solicit_type: None,
            route_entry: None,
            hashed_nonce: [0x22; 20],
        }),
    );
    let b = h(&format!(
        "0010000c 51040101 00000001 00920018 {}",
        rep(0x22, 20)
    ));
    assert_eq!(b.len(), 36);
    golden(&p, &b);
}

#[test]
fn golden_solicit_with_route_entry_104_bytes() {
    let p = pkt(
        2,
        Message::Solicit(Solicit {
            solicit_type: Some(SolicitType::Local),
            route_entry: Some(RouteEntry {
                id: id(0x33),
                port: 3540,
                addresses: vec![addr1()],
            }),
            hashed_nonce: [0x44; 20],
        }),
    );
    // ROUTING_ENTRY: Length 58 = 4 + 38 + 16, then 2 pad bytes.
    let b = h(&format!(
        "0010000c 51040101 00000002  00440006 00010000
         009a003a {} 0401 0dd4 00 01 {} 0000
         00920018 {}",
        rep(0x33, 32),
        a1(),
        rep(0x44, 20)
    ));
    assert_eq!(b.len(), 88 + 16);
    golden(&p, &b);
}

#[test]
fn golden_advertise_two_ids_and_busy() {
    let p = pkt(
        3,
        Message::Advertise(Advertise {
            acked: MessageId(0x0a0b0c0d),
            ids: vec![id(1), id(2)],
            hashed_nonce: [0x55; 20],
        }),
    );
    let b = h(&format!(
        "0010000c 51040102 00000003  00180008 0a0b0c0d
         0060004c 00020048 00300020 {}{}  00920018 {}",
        rep(1, 32),
        rep(2, 32),
        rep(0x55, 20)
    ));
    assert_eq!(b.len(), 56 + 64);
    golden(&p, &b);

    let busy = pkt(
        3,
        Message::Advertise(Advertise {
            acked: MessageId(9),
            ids: vec![],
            hashed_nonce: [0; 20],
        }),
    );
    // Empty PNRP_ID_ARRAY: Length 12, NumEntries 0, ArrayLength 8.
    let b = h(&format!(
        "0010000c 51040102 00000003  00180008 00000009  0060000c 00000008 00300020  00920018 {}",
        rep(0, 20)
    ));
    assert_eq!(b.len(), 56);
    golden(&busy, &b);
}

#[test]
fn golden_request_one_id_76_bytes() {
    let p = pkt(
        4,
        Message::Request(Request {
            nonce: [0x66; 16],
            ids: vec![id(7)],
        }),
    );
    let b = h(&format!(
        "0010000c 51040103 00000004  00930014 {}  0060002c 00010028 00300020 {}",
        rep(0x66, 16),
        rep(7, 32)
    ));
    assert_eq!(b.len(), 44 + 32);
    golden(&p, &b);
}

#[test]
fn golden_flood_route_entry_162_bytes() {
    let p = pkt(
        5,
        Message::Flood(Flood {
            no_ack: true,
            validate: id(8),
            revoke: None,
            route_entry: Some(RouteEntry {
                id: id(9),
                port: 3540,
                addresses: vec![addr1(), addr2()],
            }),
            already_flooded: vec![Endpoint {
                addr: addr1(),
                port: 3540,
            }],
        }),
    );
    // FLOOD_CONTROLS: Length 7 = 4 + u16 flags (D) + u8 reserved2, then 1 pad byte.
    let b = h(&format!(
        "0010000c 51040104 00000005  00430007 0001 00 00  00390024 {}
         009a004a {} 0401 0dd4 00 02 {}{} 0000
         009e001e 0001001a 009d0012 0dd4 {}",
        rep(8, 32),
        rep(9, 32),
        a1(),
        a2(),
        a1()
    ));
    assert_eq!(b.len(), 162);
    golden(&p, &b);
}

#[test]
fn golden_flood_minimal_68_bytes() {
    let p = pkt(
        6,
        Message::Flood(Flood {
            no_ack: false,
            validate: PnrpId::ZERO,
            revoke: None,
            route_entry: None,
            already_flooded: vec![],
        }),
    );
    let b = h(&format!(
        "0010000c 51040104 00000006  00430007 0000 00 00  00390024 {}  009e000c 00000008 009d0012",
        rep(0, 32)
    ));
    assert_eq!(b.len(), 68);
    golden(&p, &b);
}

#[test]
fn golden_inquire_with_nonce_76_and_bare_56() {
    let p = pkt(
        0x1234abcd,
        Message::Inquire(Inquire {
            want_cpa: true,
            want_payload: false,
            want_chain: true,
            validate: id(0x77),
            nonce: Some([0x88; 16]),
        }),
    );
    let b = h(&format!(
        "0010000c 51040107 1234abcd  00400006 0014 0000  00390024 {}  00930014 {}",
        rep(0x77, 32),
        rep(0x88, 16)
    ));
    assert_eq!(b.len(), 76);
    golden(&p, &b);

    let bare = pkt(
        1,
        Message::Inquire(Inquire {
            want_cpa: false,
            want_payload: false,
            want_chain: false,
            validate: id(0x77),
            nonce: None,
        }),
    );
    let b = h(&format!(
        "0010000c 51040107 00000001  00400006 0000 0000  00390024 {}",
        rep(0x77, 32)
    ));
    assert_eq!(b.len(), 56);
    golden(&bare, &b);
}

#[test]
fn golden_ack_20_and_26_bytes_without_trailing_padding() {
    let plain = pkt(
        0x77777777,
        Message::Ack(Ack {
            acked: MessageId(0x1234abcd),
            not_registered: false,
        }),
    );
    golden(&plain, &h("0010000c 51040109 77777777 00180008 1234abcd"));
    let n = pkt(
        0x77777777,
        Message::Ack(Ack {
            acked: MessageId(0x1234abcd),
            not_registered: true,
        }),
    );
    golden(
        &n,
        &h("0010000c 51040109 77777777 00180008 1234abcd 00400006 0001"),
    );
    // A padded ACK (28 bytes) is refused: no trailing bytes.
    assert!(matches!(
        Packet::decode(&h(
            "0010000c 51040109 77777777 00180008 1234abcd 00400006 0001 0000"
        )),
        Err(DecodeError::TrailingBytes { at: 26, extra: 2 })
    ));
}

#[test]
fn golden_lookup_registration_186_bytes() {
    let p = pkt(
        0x0c0c0c0c,
        Message::Lookup(Lookup {
            accept_not_closer: true,
            precision: 0,
            criteria: ResolveCriteria::None,
            reason: ResolveReason::REGISTRATION,
            target: id(0x21),
            validate: id(0x31),
            best_match: Some(RouteEntry {
                id: id(0x20),
                port: 3540,
                addresses: vec![addr1()],
            }),
            flagged_path: vec![Endpoint {
                addr: addr1(),
                port: 3540,
            }],
        }),
    );
    let b = h(&format!(
        "0010000c 5104010b 0c0c0c0c
         0045000c 0002 0000 00 01 0000
         00380024 {}  00390024 {}
         009a003a {} 0401 0dd4 00 01 {} 0000
         009e001e 0001001a 009d0012 0dd4 {}",
        rep(0x21, 32),
        rep(0x31, 32),
        rep(0x20, 32),
        a1(),
        a1()
    ));
    assert_eq!(b.len(), 186);
    golden(&p, &b);
}

#[test]
fn lookup_worst_case_is_868_bytes() {
    let p = pkt(
        1,
        Message::Lookup(Lookup {
            accept_not_closer: false,
            precision: 0,
            criteria: ResolveCriteria::AnyPeerName,
            reason: ResolveReason::APP_REQUEST,
            target: id(1),
            validate: id(2),
            best_match: Some(RouteEntry {
                id: id(3),
                port: 5000,
                addresses: vec![addr1(); 20],
            }),
            flagged_path: vec![
                Endpoint {
                    addr: addr2(),
                    port: 5000
                };
                22
            ],
        }),
    );
    let b = p.to_vec().unwrap();
    assert_eq!(b.len(), 868);
    assert_eq!(Packet::decode(&b).unwrap(), p);
}

#[test]
fn golden_authority_not_found_34_bytes() {
    let buffer = AuthorityBuffer {
        flags: AuthorityFlags {
            not_found: true,
            ..AuthorityFlags::default()
        },
        ..AuthorityBuffer::default()
    };
    let mut enc = Vec::new();
    buffer.encode(&mut enc).unwrap();
    assert_eq!(enc, h("00400006 0001"));
    let frags = fragment(MessageId(0xabcd), &enc).unwrap();
    assert_eq!(frags.len(), 1);
    let p = pkt(0x99, Message::Authority(frags[0].clone()));
    golden(
        &p,
        &h("0010000c 51040108 00000099  00180008 0000abcd  00980008 0006 0000  00400006 0001"),
    );
    assert_eq!(AuthorityBuffer::decode(&enc).unwrap(), buffer);
}

#[test]
fn golden_authority_buffer_classifier_and_route_entry() {
    let buffer = AuthorityBuffer {
        flags: AuthorityFlags {
            leaf_set_hint: true,
            busy: false,
            not_found: false,
        },
        cert_chain: None,
        classifier: Some("MyApplication".into()),
        extended_payload: None,
        route_entry: Some(RouteEntry {
            id: id(0x42),
            port: 3540,
            addresses: vec![addr1()],
        }),
        cpa: None,
    };
    // CLASSIFIER "MyApplication": 13 UTF-16BE units, Length 38, 2 pad bytes.
    let text: String = "MyApplication"
        .encode_utf16()
        .map(|u| format!("{u:04x}"))
        .collect();
    let b = h(&format!(
        "00400006 0200 0000
         00850026 000d0022 00840002 {text} 0000
         009a003a {} 0401 0dd4 00 01 {}",
        rep(0x42, 32),
        a1()
    ));
    assert_eq!(b.len(), 8 + 40 + 58);
    let mut enc = Vec::new();
    buffer.encode(&mut enc).unwrap();
    assert_eq!(hex::encode(&enc), hex::encode(&b));
    assert_eq!(AuthorityBuffer::decode(&b).unwrap(), buffer);
}

#[test]
fn fragmentation_of_2000_bytes_gives_1216_and_840_byte_datagrams() {
    let buf: Vec<u8> = (0..2000u32).map(|i| (i % 256) as u8).collect();
    let frags = fragment(MessageId(5), &buf).unwrap();
    let lens: Vec<usize> = frags
        .iter()
        .map(|f| {
            pkt(9, Message::Authority(f.clone()))
                .to_vec()
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(lens, vec![1216, 840]);
    assert_eq!(frags[1].offset, 1188);
    assert_eq!(frags[1].size, 2000);
}

#[test]
fn authority_fragments_that_break_the_rules_are_refused() {
    // Offset not a multiple of 1188.
    let bad = h("0010000c 51040108 00000001 00180008 00000002 00980008 07d0 0001 ff");
    assert!(Packet::decode(&bad).is_err());
    // Non-final fragment shorter than 1188.
    let bad = h("0010000c 51040108 00000001 00180008 00000002 00980008 07d0 0000 ff");
    assert!(Packet::decode(&bad).is_err());
    // Size beyond 37,348.
    let bad = h("0010000c 51040108 00000001 00180008 00000002 00980008 91e5 0000 ff");
    assert!(Packet::decode(&bad).is_err());
}

#[test]
fn header_checks() {
    let ok = h("0010000c 51040109 00000001 00180008 00000002");
    assert!(Packet::decode(&ok).is_ok());
    // MS-PNRP 4.0 (legacy) is a different profile.
    let legacy = h("0010000c 51040009 00000001 00180008 00000002");
    assert_eq!(
        Packet::decode(&legacy),
        Err(DecodeError::UnsupportedVersion { major: 4, minor: 0 })
    );
    for ty in [0x00, 0x05, 0x06, 0x0a, 0x0c, 0xff] {
        let mut b = ok.clone();
        b[7] = ty;
        assert_eq!(Packet::decode(&b), Err(DecodeError::UnknownMessageType(ty)));
    }
    let mut b = ok.clone();
    b[4] = 0x52;
    assert_eq!(Packet::decode(&b), Err(DecodeError::BadHeader));
    for n in 0..ok.len() {
        assert!(Packet::decode(&ok[..n]).is_err(), "prefix {n}");
    }
}

#[test]
fn array_consistency_is_checked() {
    // REQUEST whose ArrayLength disagrees with NumEntries.
    let b = h(&format!(
        "0010000c 51040103 00000004  00930014 {}  0060002c 00010029 00300020 {}",
        rep(0x66, 16),
        rep(7, 32)
    ));
    assert!(matches!(
        Packet::decode(&b),
        Err(DecodeError::BadArray { .. })
    ));
    // Wrong entry type.
    let b = h(&format!(
        "0010000c 51040103 00000004  00930014 {}  0060002c 00010028 009d0020 {}",
        rep(0x66, 16),
        rep(7, 32)
    ));
    assert!(matches!(
        Packet::decode(&b),
        Err(DecodeError::BadArray { .. })
    ));
}

#[test]
fn limits_are_enforced_on_encode() {
    let too_many = pkt(
        1,
        Message::Lookup(Lookup {
            accept_not_closer: false,
            precision: 0,
            criteria: ResolveCriteria::None,
            reason: ResolveReason::APP_REQUEST,
            target: id(1),
            validate: id(2),
            best_match: None,
            flagged_path: vec![
                Endpoint {
                    addr: addr1(),
                    port: 4000
                };
                23
            ],
        }),
    );
    let mut out = vec![1, 2, 3];
    assert!(too_many.encode(&mut out).is_err());
    assert_eq!(out, vec![1, 2, 3], "nothing appended on error");
    let empty_path = pkt(
        1,
        Message::Lookup(Lookup {
            accept_not_closer: false,
            precision: 0,
            criteria: ResolveCriteria::None,
            reason: ResolveReason::APP_REQUEST,
            target: id(1),
            validate: id(2),
            best_match: None,
            flagged_path: vec![],
        }),
    );
    assert!(empty_path.to_vec().is_err());
    let re = RouteEntry {
        id: id(1),
        port: 1,
        addresses: vec![addr1(); 21],
    };
    let solicit = pkt(
        1,
        Message::Solicit(Solicit {
            solicit_type: None,
            route_entry: Some(re),
            hashed_nonce: [0; 20],
        }),
    );
    assert!(solicit.to_vec().is_err());
}

// ---- property tests ----------------------------------------------------

fn signer() -> P256Signer {
    let mut s = [0u8; 32];
    s[31] = 5;
    P256Signer::from_scalar_bytes(&s).unwrap()
}

pub(crate) const NOW: UnixTime = UnixTime(1_790_000_000);

fn arb_id() -> impl Strategy<Value = PnrpId> {
    any::<[u8; 32]>().prop_map(PnrpId)
}

fn arb_addr() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u8; 16]>().prop_map(Ipv6Addr::from)
}

fn arb_endpoint() -> impl Strategy<Value = Endpoint> {
    (arb_addr(), any::<u16>()).prop_map(|(addr, port)| Endpoint { addr, port })
}

fn arb_route_entry() -> impl Strategy<Value = RouteEntry> {
    (
        arb_id(),
        any::<u16>(),
        prop::collection::vec(arb_addr(), 1..=20),
    )
        .prop_map(|(id, port, addresses)| RouteEntry {
            id,
            port,
            addresses,
        })
}

prop_compose! {
    pub(crate) fn arb_cpa()(
        revoke in any::<bool>(),
        secured in any::<bool>(),
        life in (12 * 3600u64)..=(7 * 24 * 3600),
        loc in any::<[u8; 16]>(),
        nonce in any::<[u8; 16]>(),
        ch in any::<[u8; 20]>(),
        comment in prop::option::of("[a-zA-Zé ]{1,39}"),
        svc in prop::collection::vec(arb_endpoint(), 1..=4),
        eps in prop::collection::vec((arb_addr(), any::<u16>(), any::<u16>()), 0..=10),
        x in any::<bool>(),
    ) -> UnverifiedCpa {
        let s = signer();
        let content = CpaContent {
            revoke,
            not_after: NOW.plus_secs(life).to_filetime(),
            service_location: ServiceLocation(loc),
            nonce: if revoke { [0; 16] } else { nonce },
            authority: secured.then(|| crate::crypto::Signer::public_key(&s).authority()),
            classifier_hash: ClassifierHash(ch),
            comment: comment.filter(|c| c.len() <= 78),
            service_addresses: svc,
            endpoints: eps
                .into_iter()
                .map(|(addr, port, protocol)| AppEndpoint { addr, port, protocol })
                .collect(),
            has_extended_payload: x,
        };
        content.sign(&s, NOW).unwrap()
    }
}

fn arb_payload() -> impl Strategy<Value = UnverifiedExtendedPayload> {
    let data = prop_oneof![
        prop::collection::vec(any::<u8>(), 1..=64).prop_map(PayloadData::Binary),
        "[^\u{0}]{1,40}".prop_map(PayloadData::Text),
    ];
    (data, arb_id(), any::<[u8; 16]>()).prop_map(|(d, id, nonce)| {
        UnverifiedExtendedPayload::sign(d, id, NOW.plus_secs(86_400), nonce, &signer()).unwrap()
    })
}

fn arb_buffer() -> impl Strategy<Value = AuthorityBuffer> {
    (
        any::<(bool, bool, bool)>(),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
        prop::option::of("[a-zA-Z0-9.éü日本-]{0,40}"),
        prop::option::of(arb_payload()),
        prop::option::of(arb_route_entry()),
        prop::option::of(arb_cpa()),
    )
        .prop_map(
            |((l, b, n), cert_chain, classifier, extended_payload, route_entry, cpa)| {
                AuthorityBuffer {
                    flags: AuthorityFlags {
                        leaf_set_hint: l,
                        busy: b,
                        not_found: n,
                    },
                    cert_chain,
                    classifier,
                    extended_payload,
                    route_entry,
                    cpa,
                }
            },
        )
}

fn arb_authority() -> impl Strategy<Value = Authority> {
    (
        any::<u32>(),
        prop::collection::vec(any::<u8>(), 1..3000),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(acked, buf, i)| {
            let frags = fragment(MessageId(acked), &buf).unwrap();
            frags[i.index(frags.len())].clone()
        })
}

fn arb_criteria() -> impl Strategy<Value = ResolveCriteria> {
    prop_oneof![
        Just(ResolveCriteria::None),
        Just(ResolveCriteria::AnyPeerName),
        Just(ResolveCriteria::NearestPeerName),
        Just(ResolveCriteria::Nearest64PeerName),
        Just(ResolveCriteria::UpperBits),
    ]
}

pub(crate) fn arb_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (
            prop::option::of(prop_oneof![
                Just(SolicitType::Any),
                Just(SolicitType::Local)
            ]),
            prop::option::of(arb_route_entry()),
            any::<[u8; 20]>()
        )
            .prop_map(
                |(solicit_type, route_entry, hashed_nonce)| Message::Solicit(Solicit {
                    solicit_type,
                    route_entry,
                    hashed_nonce
                })
            ),
        (
            any::<u32>(),
            prop::collection::vec(arb_id(), 0..8),
            any::<[u8; 20]>()
        )
            .prop_map(|(a, ids, hashed_nonce)| Message::Advertise(Advertise {
                acked: MessageId(a),
                ids,
                hashed_nonce
            })),
        (any::<[u8; 16]>(), prop::collection::vec(arb_id(), 0..8))
            .prop_map(|(nonce, ids)| Message::Request(Request { nonce, ids })),
        (
            any::<bool>(),
            arb_id(),
            prop::option::of(arb_cpa().prop_map(Box::new)),
            prop::option::of(arb_route_entry()),
            prop::collection::vec(arb_endpoint(), 0..=22)
        )
            .prop_map(|(no_ack, validate, revoke, route_entry, already_flooded)| {
                Message::Flood(Flood {
                    no_ack,
                    validate,
                    revoke,
                    route_entry,
                    already_flooded,
                })
            }),
        (
            any::<(bool, bool, bool)>(),
            arb_id(),
            prop::option::of(any::<[u8; 16]>())
        )
            .prop_map(|((a, x, c), validate, nonce)| Message::Inquire(Inquire {
                want_cpa: a,
                want_payload: x,
                want_chain: c,
                validate,
                nonce
            })),
        arb_authority().prop_map(Message::Authority),
        (any::<u32>(), any::<bool>()).prop_map(|(a, n)| Message::Ack(Ack {
            acked: MessageId(a),
            not_registered: n
        })),
        (
            (any::<bool>(), any::<u16>(), arb_criteria(), any::<u8>()),
            arb_id(),
            arb_id(),
            prop::option::of(arb_route_entry()),
            prop::collection::vec(arb_endpoint(), 1..=22)
        )
            .prop_map(
                |((a, precision, criteria, reason), target, validate, best_match, flagged_path)| {
                    Message::Lookup(Lookup {
                        accept_not_closer: a,
                        precision,
                        criteria,
                        reason: ResolveReason(reason),
                        target,
                        validate,
                        best_match,
                        flagged_path,
                    })
                }
            ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn decode_of_encode_is_identity(id in any::<u32>(), message in arb_message()) {
        let p = Packet { message_id: MessageId(id), message };
        let bytes = p.to_vec().unwrap();
        let back = Packet::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &p);
        // Re-encoding a decoded datagram gives the same bytes.
        prop_assert_eq!(back.to_vec().unwrap(), bytes);
    }

    #[test]
    fn authority_buffer_round_trips(b in arb_buffer()) {
        let mut enc = Vec::new();
        b.encode(&mut enc).unwrap();
        let back = AuthorityBuffer::decode(&enc).unwrap();
        prop_assert_eq!(&back, &b);
        let mut again = Vec::new();
        back.encode(&mut again).unwrap();
        prop_assert_eq!(again, enc);
    }

    #[test]
    fn decoder_is_total_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..1400)) {
        let _ = Packet::decode(&bytes);
        let _ = AuthorityBuffer::decode(&bytes);
        let _ = UnverifiedCpa::decode(&bytes);
        let _ = UnverifiedExtendedPayload::decode(&bytes);
    }

    #[test]
    fn decoder_is_total_on_mutated_datagrams(
        message in arb_message(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let p = Packet { message_id: MessageId(1), message };
        let mut bytes = p.to_vec().unwrap();
        for (i, v) in flips {
            let i = i.index(bytes.len());
            bytes[i] = v;
        }
        if let Ok(m) = Packet::decode(&bytes) {
            // Whatever decodes, re-encodes to something that decodes the same.
            let again = m.to_vec().unwrap();
            prop_assert_eq!(Packet::decode(&again).unwrap(), m);
        }
        let _ = Packet::decode(&bytes[..cut.index(bytes.len())]);
    }
}

#[test]
fn sizes_match_the_digest_table() {
    // Digest §9: a modern secured CPA with one service address, no comment,
    // no payload, is 247 bytes.
    let s = signer();
    let content = CpaContent {
        revoke: false,
        not_after: NOW.plus_secs(86_400).to_filetime(),
        service_location: ServiceLocation::new(1, 2),
        nonce: [0; 16],
        authority: Some(crate::crypto::Signer::public_key(&s).authority()),
        classifier_hash: ClassifierHash([1; 20]),
        comment: None,
        service_addresses: vec![Endpoint {
            addr: addr1(),
            port: 3540,
        }],
        endpoints: vec![],
        has_extended_payload: false,
    };
    assert_eq!(content.sign(&s, NOW).unwrap().as_bytes().len(), 247);
    // An unsecured one with one application endpoint: 247 - 20 + 26.
    let content = CpaContent {
        authority: None,
        endpoints: vec![AppEndpoint {
            addr: addr1(),
            port: 80,
            protocol: 6,
        }],
        ..content
    };
    assert_eq!(content.sign(&s, NOW).unwrap().as_bytes().len(), 253);
    let _ = BinaryAuthority::ZERO;
}
