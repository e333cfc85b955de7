//! Answering others: SOLICIT → ADVERTISE, REQUEST → ACK + FLOODs, LOOKUP and
//! INQUIRE → AUTHORITY, FLOOD → ACK (+ admission or revocation), and the
//! dispatch of ACKs and AUTHORITY answers to what we sent (MS-PNRP §3.1.5,
//! §3.2.5).

use std::net::SocketAddr;

use super::node::{Conversation, Node, hash_nonce};
use super::pending::Purpose;
use crate::cpa::VerifyContext;
use crate::engine::cache::Query;
use crate::id::PnrpId;
use crate::wire::{
    Ack, Advertise, AuthorityBuffer, AuthorityFlags, Flood, Inquire, Lookup, Message, MessageId,
    Request, Solicit, fragment,
};

/// IDs advertised per SOLICIT (MS-PNRP §3.2.5.3).
const ADVERTISED_IDS: usize = 5;

impl Node {
    /// SOLICIT (MS-PNRP §3.2.5.3).
    pub(super) fn on_solicit(&mut self, from: SocketAddr, id: MessageId, m: Solicit) {
        let joiner = m.route_entry.as_ref().map(|re| re.id);
        if let Some(re) = m.route_entry {
            self.consider_route_entry(re, None, None);
        }
        let ids = if self.conversations.len() >= self.config.max_conversations {
            // Busy: an empty ADVERTISE.
            Vec::new()
        } else {
            self.conversations.retain(|c| c.peer != from);
            self.conversations.push(Conversation {
                peer: from,
                hashed_nonce: m.hashed_nonce,
                joiner,
                expires: self.now.mono.plus(self.config.conversation),
            });
            let mut ids = self.cache.spread_sample(ADVERTISED_IDS);
            if ids.len() < ADVERTISED_IDS {
                ids.extend(
                    self.registrations
                        .keys()
                        .copied()
                        .take(ADVERTISED_IDS - ids.len()),
                );
            }
            ids
        };
        let msg = Message::Advertise(Advertise {
            acked: id,
            ids,
            hashed_nonce: m.hashed_nonce,
        });
        self.send(from, msg, None);
    }

    /// ADVERTISE: the answer to our SOLICIT (MS-PNRP §3.1.5.3).
    pub(super) fn on_advertise(&mut self, from: SocketAddr, m: Advertise) {
        let Some(entry) = self.pending.get(m.acked) else {
            self.stats.dropped_unsolicited += 1;
            return;
        };
        if entry.to != from || !matches!(entry.purpose, Purpose::Solicit) {
            self.stats.dropped_unsolicited += 1;
            return;
        }
        self.pending.remove(m.acked);
        let Some(nonce) = self.solicits.remove(&m.acked) else {
            return;
        };
        if hash_nonce(&nonce) != m.hashed_nonce || m.ids.is_empty() {
            return;
        }
        let wanted: Vec<PnrpId> = m
            .ids
            .into_iter()
            .filter(|id| !self.registrations.contains_key(id) && self.cache.get(id).is_none())
            .take(ADVERTISED_IDS * 4)
            .collect();
        if wanted.is_empty() {
            return;
        }
        let msg = Message::Request(Request { nonce, ids: wanted });
        self.send(from, msg, Some(Purpose::Request));
    }

    /// REQUEST (MS-PNRP §3.2.5.4).
    pub(super) fn on_request(&mut self, from: SocketAddr, id: MessageId, m: Request) {
        let Some(pos) = self.conversations.iter().position(|c| c.peer == from) else {
            return;
        };
        if hash_nonce(&m.nonce) != self.conversations[pos].hashed_nonce {
            return;
        }
        let conv = self.conversations.swap_remove(pos);
        self.send(
            from,
            Message::Ack(Ack {
                acked: id,
                not_registered: false,
            }),
            None,
        );
        for wanted in m.ids.iter().take(ADVERTISED_IDS * 4) {
            let re = if self.registrations.contains_key(wanted) {
                Some(self.own_route_entry(*wanted))
            } else {
                self.cache.get(wanted).map(|e| e.route.clone())
            };
            if let Some(re) = re {
                let msg = Message::Flood(Flood {
                    no_ack: true,
                    validate: conv.joiner.unwrap_or(PnrpId::ZERO),
                    revoke: None,
                    route_entry: Some(re),
                    already_flooded: Vec::new(),
                });
                self.send(from, msg, None);
            }
        }
    }

    /// ACK (MS-PNRP §3.1.5.4).
    pub(super) fn on_ack(&mut self, m: Ack) {
        if let Some(entry) = self.pending.remove(m.acked)
            && let Purpose::Flood { validate } = entry.purpose
            && m.not_registered
            && !validate.is_zero()
        {
            self.cache.remove(&validate);
        }
    }

    /// FLOOD (MS-PNRP §3.1.5.5, §3.2.5.11).
    pub(super) fn on_flood(&mut self, from: SocketAddr, id: MessageId, m: Flood) {
        if !m.no_ack {
            let not_registered =
                !m.validate.is_zero() && !self.registrations.contains_key(&m.validate);
            self.send(
                from,
                Message::Ack(Ack {
                    acked: id,
                    not_registered,
                }),
                None,
            );
        }
        if let Some(revoke) = m.revoke {
            self.on_revoke(*revoke);
        }
        if let Some(re) = m.route_entry {
            self.consider_route_entry(re, Some(from), Some(m.already_flooded));
        }
    }

    /// A revoke CPA: verify it, forget the ID, pass it along the leaf set.
    fn on_revoke(&mut self, revoke: crate::cpa::UnverifiedCpa) {
        let id = revoke.pnrp_id();
        if self.cache.get(&id).is_none() {
            // Propagation stops at nodes that do not know the ID (§3.10).
            return;
        }
        let ctx = VerifyContext::revocation(self.now.wall).expecting(id);
        let Ok(verified) = revoke.verify(self.verifier.as_ref(), &ctx) else {
            self.stats.cpa_rejected += 1;
            return;
        };
        // The revoke must come from the key that published the entry, if
        // we know that key.
        if let Some(entry) = self.cache.get(&id)
            && let Some(cpa) = &entry.cpa
            && cpa.public_key() != verified.public_key()
        {
            self.stats.cpa_rejected += 1;
            return;
        }
        self.cache.remove(&id);
        // Forward to the next leaf-set member on each side.
        let (below, above) = self.cache.neighbours(&id);
        let targets: Vec<_> = [below, above]
            .into_iter()
            .flatten()
            .filter_map(|e| Self::address_of(&e.route).map(|a| (a, e.route.id)))
            .collect();
        for (addr, validate) in targets {
            let msg = Message::Flood(Flood {
                no_ack: false,
                validate,
                revoke: Some(Box::new(verified.to_unverified())),
                route_entry: None,
                already_flooded: Vec::new(),
            });
            self.send(addr, msg, Some(Purpose::Flood { validate }));
        }
    }

    /// INQUIRE (MS-PNRP §3.2.5.6, §3.2.5.7).
    pub(super) fn on_inquire(&mut self, from: SocketAddr, id: MessageId, m: Inquire) {
        self.stats.inquires_served += 1;
        let mut buffer = AuthorityBuffer::default();
        match self.registrations.get(&m.validate) {
            None => buffer.flags.not_found = true,
            Some(reg) => {
                buffer.classifier = Some(reg.name.classifier().as_str().to_owned());
                buffer.route_entry = Some(self.own_route_entry(m.validate));
                if m.want_cpa {
                    let nonce = m.nonce.unwrap_or([0; 16]);
                    buffer.cpa = self.sign_cpa(&m.validate, nonce);
                    // Large payloads only to askers that sent a nonce (no
                    // blind amplification, digest §3.14).
                    if m.want_payload && m.nonce.is_some() {
                        buffer.extended_payload = self.sign_payload(&m.validate, nonce);
                    }
                }
            }
        }
        self.send_authority(from, id, &buffer);
    }

    /// LOOKUP (MS-PNRP §3.2.5.2; digest §4.4).
    pub(super) fn on_lookup(&mut self, from: SocketAddr, id: MessageId, m: Lookup) {
        self.stats.lookups_served += 1;
        if let Some(re) = m.best_match.clone() {
            if re.endpoints().any(|e| e.to_socket_addr() == from) {
                // The resolver's own entry (a registration resolve): every
                // hop on its flagged path was sent it too, and it holds
                // ours. Like a FLOOD from it whose Already Flooded List is
                // that path, it is not flooded back to any of them.
                self.consider_route_entry(re, Some(from), Some(m.flagged_path.clone()));
            } else {
                self.consider_route_entry(re, None, None);
            }
        }
        let validate_not_local =
            !m.validate.is_zero() && !self.registrations.contains_key(&m.validate);
        let target = m.target;
        let in_path = self.config.local.iter().any(|e| m.flagged_path.contains(e));
        // ClosestLocalMatch.
        let local = if in_path {
            None
        } else {
            self.closest_registration(&target).filter(|l| {
                validate_not_local
                    || m.validate.is_zero()
                    || target.distance(l) < target.distance(&m.validate)
            })
        };
        // ClosestRemoteMatch.
        let closer_than = (!m.accept_not_closer && !m.validate.is_zero()).then_some(m.validate);
        let remote = self
            .cache
            .closest(
                &target,
                &Query {
                    exclude_endpoints: &m.flagged_path,
                    closer_than,
                    exclude_ids: &[],
                },
            )
            .map(|e| e.route.clone());
        let mut buffer = AuthorityBuffer {
            flags: AuthorityFlags {
                not_found: validate_not_local,
                ..AuthorityFlags::default()
            },
            ..AuthorityBuffer::default()
        };
        buffer.route_entry = match (local, remote) {
            (Some(l), Some(r)) => {
                if target.cmp_closeness(&l, &r.id).is_le() {
                    Some(self.own_route_entry(l))
                } else {
                    Some(r)
                }
            }
            (Some(l), None) => Some(self.own_route_entry(l)),
            (None, Some(r)) => Some(r),
            (None, None) => {
                // TargetSuspicious: the target should be in our leaf set.
                buffer.flags.leaf_set_hint = self.cache.in_leaf_range(&target);
                None
            }
        };
        self.send_authority(from, id, &buffer);
    }

    /// Sends an AUTHORITY_BUFFER answering `acked`, fragmented as needed.
    pub(super) fn send_authority(&mut self, to: SocketAddr, acked: MessageId, b: &AuthorityBuffer) {
        let mut bytes = Vec::with_capacity(1024);
        if b.encode(&mut bytes).is_err() {
            self.stats.encode_errors += 1;
            return;
        }
        let Ok(frags) = fragment(acked, &bytes) else {
            self.stats.encode_errors += 1;
            return;
        };
        let id = MessageId(rand_core::RngCore::next_u32(&mut self.rng));
        for f in frags {
            self.send_with_id(to, id, Message::Authority(f), None);
        }
    }

    /// An AUTHORITY_BUFFER answering our message `acked`.
    pub(super) fn on_authority(&mut self, from: SocketAddr, acked: MessageId, buf: &[u8]) {
        let Some(entry) = self.pending.remove(acked) else {
            return;
        };
        let Ok(buffer) = AuthorityBuffer::decode(buf) else {
            self.stats.dropped_malformed += 1;
            // Put it back: a later good answer or the timeout decides.
            self.pending.insert(acked, entry);
            return;
        };
        match entry.purpose {
            Purpose::Admission => self.on_admission_answer(acked, buffer),
            Purpose::Lookup { resolve } => self.on_lookup_answer(resolve, acked, from, buffer),
            Purpose::Inquire { resolve } => self.on_inquire_answer(resolve, acked, from, buffer),
            Purpose::Orphan { validate } => {
                if buffer.flags.not_found {
                    self.cache.remove(&validate);
                } else {
                    self.cache.touch(&validate, self.now.mono);
                }
            }
            Purpose::Solicit | Purpose::Request | Purpose::Flood { .. } => {
                self.stats.dropped_unsolicited += 1;
            }
        }
    }
}
