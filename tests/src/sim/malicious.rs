//! Malicious nodes. A malicious node runs a real [`pnrp::engine::Node`] — it
//! joins, registers its own name and routes — but the world hands every
//! datagram addressed to it to `intercept` first, which may drop it or
//! answer in the node's place with real wire messages:
//!
//! * **drop**: a LOOKUP is dropped with probability
//!   [`Behaviour::drop_lookups`] (the asker retransmits, then gives the hop
//!   up);
//! * **claim** ("closest to every target"): any other LOOKUP is answered
//!   with an AUTHORITY whose route entry claims the LOOKUP's target ID
//!   itself, at the malicious node's address;
//! * **forge**: an INQUIRE for an ID the node does not hold is answered
//!   with a positive AUTHORITY (no N flag, a route entry claiming the ID)
//!   and, when a CPA is asked for, a forged one for the requested ID. The
//!   variants rotate: signed with the node's own key (under its own
//!   authority for a secured victim — the ID no longer matches; unsecured
//!   victims get a CPA that *does* verify, which is the documented
//!   weakness of unsecured names), the victim's key with the node's own
//!   signature, the victim's key with a garbage signature, and the node's
//!   own key under the victim's authority.
//!
//! INQUIREs for the node's own IDs and every other message go to the real
//! node, so it stays a well-behaved member of everybody's cache. The
//! adversary knows every published name (names are public) but holds only
//! its own signer.

use std::net::SocketAddr;

use pnrp::cpa::{AppEndpoint, CpaContent, PROTO_TCP, UnverifiedCpa};
use pnrp::crypto::SIGNATURE_LEN;
use pnrp::engine::SharedSigner;
use pnrp::id::PnrpId;
use pnrp::name::{Authority, PeerName};
use pnrp::time::UnixTime;
use pnrp::wire::{
    AuthorityBuffer, Endpoint, Message, MessageId, Nonce, Packet, RouteEntry, fragment,
};
use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;

use super::crypto::{GarbageSigner, StolenKeySigner};
use super::metrics::Metrics;
use super::net::{below, unit};
use super::world::Directory;

/// What a malicious node does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Behaviour {
    /// Probability of dropping an incoming LOOKUP (0–1).
    pub drop_lookups: f64,
    /// Answer the LOOKUPs it does not drop with a route entry claiming the
    /// target ID at its own address.
    pub claim_closest: bool,
    /// Answer INQUIREs for IDs it does not hold positively, with forged
    /// CPAs when asked for one.
    pub forge_cpas: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            drop_lookups: 0.3,
            claim_closest: true,
            forge_cpas: true,
        }
    }
}

/// The verdict on one datagram addressed to a malicious node.
#[derive(Debug)]
pub(crate) enum Action {
    /// Hand it to the node's real engine.
    Pass,
    /// Swallow it.
    Drop,
    /// Swallow it and send these datagrams back to the sender.
    Reply(Vec<Vec<u8>>),
}

/// Everything `intercept` may use: the node's own identity and address,
/// public knowledge, the world's generator and counters.
pub(crate) struct Adversary<'a> {
    pub(crate) me: SocketAddr,
    pub(crate) own_ids: Vec<PnrpId>,
    pub(crate) signer: &'a SharedSigner,
    pub(crate) directory: &'a Directory,
    pub(crate) rng: &'a mut ChaCha8Rng,
    pub(crate) wall: UnixTime,
    pub(crate) metrics: &'a mut Metrics,
    pub(crate) behaviour: Behaviour,
}

/// Decides what a malicious node does with `datagram`.
pub(crate) fn intercept(adv: &mut Adversary<'_>, datagram: &[u8]) -> Action {
    let Ok(packet) = Packet::decode(datagram) else {
        return Action::Pass;
    };
    match packet.message {
        Message::Lookup(l) => {
            if unit(adv.rng) < adv.behaviour.drop_lookups {
                adv.metrics.malicious_dropped += 1;
                return Action::Drop;
            }
            if !adv.behaviour.claim_closest {
                return Action::Pass;
            }
            adv.metrics.malicious_claims += 1;
            let buffer = AuthorityBuffer {
                route_entry: Some(claim(adv.me, l.target)),
                ..AuthorityBuffer::default()
            };
            reply(adv, packet.message_id, &buffer)
        }
        Message::Inquire(q) => {
            if adv.own_ids.contains(&q.validate) {
                return Action::Pass;
            }
            if !adv.behaviour.forge_cpas && !adv.behaviour.claim_closest {
                return Action::Pass;
            }
            let mut buffer = AuthorityBuffer {
                route_entry: Some(claim(adv.me, q.validate)),
                ..AuthorityBuffer::default()
            };
            if adv.behaviour.forge_cpas {
                buffer.classifier = adv
                    .directory
                    .by_p2p(&q.validate.p2p_id())
                    .map(|r| r.name.classifier().as_str().to_owned());
                if q.want_cpa {
                    buffer.cpa = forge(adv, q.validate, q.nonce.unwrap_or([0; 16]));
                    if buffer.cpa.is_some() {
                        adv.metrics.forged_sent += 1;
                    }
                }
            }
            reply(adv, packet.message_id, &buffer)
        }
        _ => Action::Pass,
    }
}

/// A route entry claiming `id` at `me`.
fn claim(me: SocketAddr, id: PnrpId) -> RouteEntry {
    let ep = Endpoint::from_socket_addr(me);
    RouteEntry {
        id,
        port: ep.port,
        addresses: vec![ep.addr],
    }
}

/// The AUTHORITY datagrams answering `acked` with `buffer`.
fn reply(adv: &mut Adversary<'_>, acked: MessageId, buffer: &AuthorityBuffer) -> Action {
    let mut bytes = Vec::new();
    if buffer.encode(&mut bytes).is_err() {
        return Action::Pass;
    }
    let Ok(frags) = fragment(acked, &bytes) else {
        return Action::Pass;
    };
    let id = MessageId(adv.rng.next_u32());
    let out = frags
        .into_iter()
        .filter_map(|f| {
            Packet {
                message_id: id,
                message: Message::Authority(f),
            }
            .to_vec()
            .ok()
        })
        .collect();
    Action::Reply(out)
}

/// A forged CPA for `requested`, answering `nonce` (variants in the module
/// documentation).
fn forge(adv: &mut Adversary<'_>, requested: PnrpId, nonce: Nonce) -> Option<UnverifiedCpa> {
    let not_after = adv.wall.plus_secs(24 * 3600);
    let me = Endpoint::from_socket_addr(adv.me);
    let fill = |c: &mut CpaContent| {
        c.nonce = nonce;
        c.service_addresses = vec![me];
        c.endpoints = vec![AppEndpoint::new(
            SocketAddr::new(me.to_socket_addr().ip(), 443),
            PROTO_TCP,
        )];
    };
    let own: &SharedSigner = adv.signer;
    let Some(victim) = adv.directory.by_p2p(&requested.p2p_id()) else {
        // Not a published name (a maintenance target): the best it can do
        // is a CPA for some name of its own at that service location.
        let name = PeerName::new(Authority::Unsecured, "forged").ok()?;
        let mut c = CpaContent::new(&name, requested.service_location(), not_after);
        fill(&mut c);
        return c.sign(own.as_ref(), adv.wall).ok();
    };
    let mut c = CpaContent::new(&victim.name, requested.service_location(), not_after);
    fill(&mut c);
    let variant = below(adv.rng, 4);
    match (variant, victim.name.is_secured()) {
        // Own key. Secured: under its own authority (the ID changes).
        // Unsecured: the content is exactly the victim's, and verifies.
        (0, secured) | (3, secured @ false) => {
            if secured {
                c.authority = Some(own.public_key().authority());
            }
            c.sign(own.as_ref(), adv.wall).ok()
        }
        // The victim's key, the node's own signature.
        (1, _) => {
            let thief = StolenKeySigner {
                claimed: victim.public,
                inner: own.clone(),
            };
            c.sign(&thief, adv.wall).ok()
        }
        // The victim's key, a garbage signature.
        (2, _) => {
            let mut garbage = [0u8; SIGNATURE_LEN];
            adv.rng.fill_bytes(&mut garbage);
            let liar = GarbageSigner {
                claimed: victim.public,
                garbage,
            };
            c.sign(&liar, adv.wall).ok()
        }
        // The node's own key under the victim's authority: signed as the
        // victim, then the key swapped in the encoding.
        _ => {
            let thief = StolenKeySigner {
                claimed: victim.public,
                inner: own.clone(),
            };
            let cpa = c.sign(&thief, adv.wall).ok()?;
            let mut bytes = cpa.as_bytes().to_vec();
            let key = victim.public.0;
            let at = bytes.windows(key.len()).position(|w| w == key)?;
            bytes[at..at + key.len()].copy_from_slice(&own.public_key().0);
            UnverifiedCpa::decode(&bytes).ok()
        }
    }
}
