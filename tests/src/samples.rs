//! One representative value per PNRP message (and the CPA structures), with
//! realistic sizes: the sizes of digest §9 where it gives one.

use std::net::Ipv6Addr;

use pnrp::cpa::{
    AppEndpoint, CpaContent, PROTO_TCP, PayloadData, UnverifiedCpa, UnverifiedExtendedPayload,
};
use pnrp::crypto::{P256Signer, Signer};
use pnrp::id::{PnrpId, ServiceLocation};
use pnrp::name::PeerName;
use pnrp::time::UnixTime;
use pnrp::wire::{
    Ack, Advertise, AuthorityBuffer, AuthorityFlags, Endpoint, Flood, Inquire, Lookup, Message,
    MessageId, Packet, Request, ResolveCriteria, ResolveReason, RouteEntry, Solicit, SolicitType,
    fragment,
};

/// A fixed time for reproducible samples.
pub const NOW: UnixTime = UnixTime(1_790_000_000);

/// A fixed signing key (scalar 7).
pub fn signer() -> P256Signer {
    let mut s = [0u8; 32];
    s[31] = 7;
    P256Signer::from_scalar_bytes(&s).expect("7 is a valid scalar")
}

fn addr(i: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i)
}

fn ep(i: u16) -> Endpoint {
    Endpoint {
        addr: addr(i),
        port: 3540,
    }
}

fn route_entry(id: u8, k: u16) -> RouteEntry {
    RouteEntry {
        id: PnrpId([id; 32]),
        port: 3540,
        addresses: (1..=k).map(addr).collect(),
    }
}

/// The CPA content a publisher of `name` would send with one service
/// address and `endpoints` application endpoints.
pub fn cpa_content(name: &str, endpoints: u16, revoke: bool) -> CpaContent {
    let name: PeerName = name.parse().expect("sample name is valid");
    let mut c = CpaContent::new(
        &name,
        ServiceLocation::new(0x2001_0db8, 42),
        NOW.plus_secs(86_400),
    );
    c.revoke = revoke;
    if !revoke {
        c.nonce = [0x5a; 16];
        c.service_addresses = vec![ep(1)];
        c.comment = Some("sample printer".into());
    }
    c.endpoints = (0..endpoints)
        .map(|i| {
            AppEndpoint::new(
                format!("[2001:db8::{i}]:631").parse().expect("addr"),
                PROTO_TCP,
            )
        })
        .collect();
    c
}

/// A signed secured CPA (authority of [`signer`]).
pub fn secured_cpa(endpoints: u16) -> UnverifiedCpa {
    let s = signer();
    let name = format!("{}.printer", s.public_key().authority());
    cpa_content(&name, endpoints, false)
        .sign(&s, NOW)
        .expect("sample CPA signs")
}

/// A signed revoke CPA for an unsecured name.
pub fn revoke_cpa() -> UnverifiedCpa {
    cpa_content("0.printer", 0, true)
        .sign(&signer(), NOW)
        .expect("sample revoke signs")
}

/// A signed extended payload of `len` bytes.
pub fn extended_payload(len: usize) -> UnverifiedExtendedPayload {
    UnverifiedExtendedPayload::sign(
        PayloadData::Binary(vec![0xab; len]),
        PnrpId([1; 32]),
        NOW.plus_secs(86_400),
        [0x5a; 16],
        &signer(),
    )
    .expect("sample payload signs")
}

/// An INQUIRE answer: flags, classifier, route entry and CPA.
pub fn inquire_answer(payload: Option<usize>) -> AuthorityBuffer {
    AuthorityBuffer {
        flags: AuthorityFlags::default(),
        cert_chain: None,
        classifier: Some("printer".into()),
        extended_payload: payload.map(extended_payload),
        route_entry: Some(route_entry(9, 1)),
        cpa: Some(secured_cpa(2)),
    }
}

/// One sample packet per message type, named after it.
pub fn packets() -> Vec<(&'static str, Packet)> {
    let pk = |m| Packet {
        message_id: MessageId(0x1234_5678),
        message: m,
    };
    let mut answer = Vec::new();
    inquire_answer(None)
        .encode(&mut answer)
        .expect("sample buffer encodes");
    let frag = fragment(MessageId(77), &answer).expect("fragments")[0].clone();
    vec![
        (
            "SOLICIT",
            pk(Message::Solicit(Solicit {
                solicit_type: Some(SolicitType::Any),
                route_entry: Some(route_entry(1, 1)),
                hashed_nonce: [3; 20],
            })),
        ),
        (
            "ADVERTISE",
            pk(Message::Advertise(Advertise {
                acked: MessageId(1),
                ids: (0..5).map(|i| PnrpId([i; 32])).collect(),
                hashed_nonce: [3; 20],
            })),
        ),
        (
            "REQUEST",
            pk(Message::Request(Request {
                nonce: [4; 16],
                ids: (0..5).map(|i| PnrpId([i; 32])).collect(),
            })),
        ),
        (
            "FLOOD",
            pk(Message::Flood(Flood {
                no_ack: false,
                validate: PnrpId([5; 32]),
                revoke: Some(Box::new(revoke_cpa())),
                route_entry: Some(route_entry(6, 2)),
                already_flooded: vec![ep(1), ep(2)],
            })),
        ),
        (
            "INQUIRE",
            pk(Message::Inquire(Inquire {
                want_cpa: true,
                want_payload: true,
                want_chain: false,
                validate: PnrpId([7; 32]),
                nonce: Some([0x5a; 16]),
            })),
        ),
        ("AUTHORITY", pk(Message::Authority(frag))),
        (
            "ACK",
            pk(Message::Ack(Ack {
                acked: MessageId(9),
                not_registered: true,
            })),
        ),
        (
            "LOOKUP",
            pk(Message::Lookup(Lookup {
                accept_not_closer: false,
                precision: 0,
                criteria: ResolveCriteria::AnyPeerName,
                reason: ResolveReason::APP_REQUEST,
                target: PnrpId([8; 32]),
                validate: PnrpId([9; 32]),
                best_match: Some(route_entry(10, 1)),
                flagged_path: (1..=4).map(ep).collect(),
            })),
        ),
    ]
}
