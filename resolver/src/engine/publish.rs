//! Publishing: registration (MS-PNRP §3.2.4.1), refresh, leaf-set flooding
//! (§3.2.5.11), CPA signing for INQUIRE answers (§3.2.5.7) and unregistration
//! with revoke CPAs (§3.2.4.2).

use std::net::SocketAddr;

use rand_core::RngCore;

use super::io::{Event, RegisterError, Registration, RequestId, SharedSigner};
use super::node::Node;
use super::pending::Purpose;
use crate::cpa::{CpaContent, PayloadData, UnverifiedCpa, UnverifiedExtendedPayload};
use crate::id::{PnrpId, ServiceLocation};
use crate::name::{Authority, PeerName};
use crate::time::{Instant, UnixTime};
use crate::wire::{Endpoint, Flood, MAX_PATH_ENDPOINTS, Message};

/// One registration held by this node.
#[derive(Clone)]
pub(crate) struct LocalRegistration {
    pub(super) name: PeerName,
    pub(super) signer: SharedSigner,
    pub(super) endpoints: Vec<crate::cpa::AppEndpoint>,
    pub(super) comment: Option<String>,
    pub(super) payload: Option<PayloadData>,
    pub(super) next_refresh: Instant,
    /// When the last refresh was decided (announced or skipped), or the
    /// registration made.
    pub(super) decided: Instant,
    /// [`Node::leaf_mark`] of the ID then.
    pub(super) leaf_mark: u64,
    /// The cache's [`gap_generation`](super::cache::RouteCache::gap_generation)
    /// then: while it stands still no member joined or left the leaf set.
    pub(super) gap_mark: u64,
    /// The node's request timeouts ([`Stats::timeouts`](super::Stats)) then.
    pub(super) timeouts_mark: u64,
    /// Refresh periods in a row that found nothing changed (at most
    /// [`MAX_REFRESH_BACKOFF`]): the next one waits `refresh << this`.
    pub(super) refresh_backoff: u32,
}

/// A registration whose neighbourhood stays the same re-announces itself
/// at most every `refresh << MAX_REFRESH_BACKOFF` (80 min by default).
pub(super) const MAX_REFRESH_BACKOFF: u32 = 3;

impl LocalRegistration {
    /// Nothing the refresh decision rests on moved: the leaf set's
    /// fingerprint is `mark` and the node's timeout count `timeouts`, as
    /// at the last decision.
    fn unchanged(&self, mark: u64, timeouts: u64) -> bool {
        mark == self.leaf_mark && timeouts == self.timeouts_mark
    }
}

impl core::fmt::Debug for LocalRegistration {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LocalRegistration")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Node {
    fn cpa_not_after(&self) -> UnixTime {
        self.now.wall.plus_secs(self.config.cpa_lifetime.as_secs())
    }

    /// The CPA content of registration `id` answering a nonce.
    fn cpa_content(&self, id: &PnrpId, nonce: [u8; 16]) -> Option<CpaContent> {
        let reg = self.registrations.get(id)?;
        let mut c = CpaContent::new(&reg.name, id.service_location(), self.cpa_not_after());
        c.nonce = nonce;
        c.comment.clone_from(&reg.comment);
        c.endpoints.clone_from(&reg.endpoints);
        c.service_addresses = self.config.local.iter().take(4).copied().collect();
        c.has_extended_payload = reg.payload.is_some();
        Some(c)
    }

    /// A freshly signed CPA for one of our registrations (MS-PNRP §3.2.5.7).
    pub(super) fn sign_cpa(&self, id: &PnrpId, nonce: [u8; 16]) -> Option<UnverifiedCpa> {
        let c = self.cpa_content(id, nonce)?;
        let reg = self.registrations.get(id)?;
        c.sign(reg.signer.as_ref(), self.now.wall).ok()
    }

    /// A freshly signed extended payload for one of our registrations.
    pub(super) fn sign_payload(
        &self,
        id: &PnrpId,
        nonce: [u8; 16],
    ) -> Option<UnverifiedExtendedPayload> {
        let reg = self.registrations.get(id)?;
        let data = reg.payload.clone()?;
        UnverifiedExtendedPayload::sign(data, *id, self.cpa_not_after(), nonce, reg.signer.as_ref())
            .ok()
    }

    /// Command::Register.
    pub(super) fn register(&mut self, request: RequestId, r: Registration) {
        let result = self.try_register(r);
        self.events.push_back(Event::Registered { request, result });
    }

    fn try_register(&mut self, r: Registration) -> Result<PnrpId, RegisterError> {
        let first = *self
            .config
            .local
            .first()
            .ok_or(RegisterError::NoLocalEndpoint)?;
        if let Authority::Secured(a) = r.name.authority()
            && *a != r.signer.public_key().authority()
        {
            return Err(RegisterError::KeyMismatch);
        }
        if self.registrations.len() >= self.config.max_registrations {
            return Err(RegisterError::TooMany);
        }
        // Check the limits once by signing a throw-away CPA.
        let prefix = r
            .prefix
            .unwrap_or_else(|| ServiceLocation::prefix_of(first.to_socket_addr().ip()));
        let location = ServiceLocation::new(prefix, self.rng.next_u64());
        let id = PnrpId::new(r.name.p2p_id(), location);
        let reg = LocalRegistration {
            name: r.name,
            signer: r.signer,
            endpoints: r.endpoints,
            comment: r.comment,
            payload: r.payload,
            next_refresh: self.now.mono.plus(self.config.refresh),
            decided: self.now.mono,
            leaf_mark: 0,
            gap_mark: 0,
            timeouts_mark: self.stats.timeouts,
            refresh_backoff: 0,
        };
        self.registrations.insert(id, reg);
        let ok = self.sign_cpa(&id, [0; 16]).is_some()
            && self
                .registrations
                .get(&id)
                .and_then(|g| g.payload.as_ref())
                .is_none_or(|_| self.sign_payload(&id, [0; 16]).is_some());
        if !ok {
            self.registrations.remove(&id);
            return Err(RegisterError::Limit);
        }
        self.cache.add_local(id);
        // The cache's levels centre on the first registered ID (digest §3.7).
        if self.cache.locals().len() == 1 {
            let _ = self.cache.set_centre(id);
        }
        let (mark, gap) = (self.leaf_mark(&id), self.cache.gap_generation());
        if let Some(reg) = self.registrations.get_mut(&id) {
            reg.leaf_mark = mark;
            reg.gap_mark = gap;
        }
        self.announce(id);
        Ok(id)
    }

    /// The registration step: resolve ID + 1 carrying our own route entry
    /// (MS-PNRP §3.2.4.1 step 4), then flood our leaf set.
    fn announce(&mut self, id: PnrpId) {
        let own = self.own_route_entry(id);
        self.start_internal_resolve(
            id.add_u64(1),
            crate::wire::ResolveReason::REGISTRATION,
            Some(own),
        );
        if self.cache.is_empty() && !self.config.seeds.is_empty() {
            self.discover();
        }
    }

    /// Re-announces registrations whose refresh time has come, oldest
    /// first, at most as many per tick as half the free resolution slots:
    /// the rest stay due for the next tick, so names registered in a burst
    /// spread out over the ticks instead of all re-announcing at once (which
    /// overran the resolution limit, dropping announces beyond it, and the
    /// pending list with their floods), and user lookups keep their slots.
    ///
    /// A registration whose leaf set is the same as when its last refresh
    /// was decided, on a node whose requests met no dead peer since, has
    /// nobody new to tell: it skips the announcement and waits twice as
    /// long as before (up to [`MAX_REFRESH_BACKOFF`] doublings). A change
    /// seen while it waits brings its refresh back to at most one period
    /// after the last decision (docs/protocol.md D22).
    pub(super) fn refresh_registrations(&mut self) {
        let now = self.now.mono;
        let timeouts = self.stats.timeouts;
        let gap = self.cache.gap_generation();
        let waiting: Vec<PnrpId> = self
            .registrations
            .iter()
            .filter(|(_, r)| r.refresh_backoff > 0)
            .filter(|(_, r)| r.gap_mark != gap || r.timeouts_mark != timeouts)
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            let mark = self.leaf_mark(&id);
            let Some(r) = self.registrations.get_mut(&id) else {
                continue;
            };
            if r.unchanged(mark, timeouts) {
                r.gap_mark = gap;
            } else {
                r.refresh_backoff = 0;
                r.next_refresh = r.next_refresh.min(r.decided.plus(self.config.refresh));
            }
        }
        let due: Vec<(Instant, PnrpId)> = self
            .registrations
            .iter()
            .filter(|(_, r)| r.next_refresh <= now)
            .map(|(id, r)| (r.next_refresh, *id))
            .collect();
        let mut loud = Vec::with_capacity(due.len());
        for (at, id) in due {
            let mark = self.leaf_mark(&id);
            let Some(r) = self.registrations.get_mut(&id) else {
                continue;
            };
            if r.unchanged(mark, timeouts) {
                r.refresh_backoff = (r.refresh_backoff + 1).min(MAX_REFRESH_BACKOFF);
                r.next_refresh = now.plus(self.config.refresh * (1 << r.refresh_backoff));
                r.decided = now;
                r.gap_mark = gap;
                self.stats.refreshes_skipped += 1;
            } else {
                loud.push((at, id, mark));
            }
        }
        let free = self.config.max_resolves.saturating_sub(self.resolves.len());
        let budget = free.div_ceil(2);
        if loud.is_empty() || budget == 0 {
            return;
        }
        if loud.len() > budget {
            loud.select_nth_unstable(budget - 1);
            loud.truncate(budget);
        }
        loud.sort_unstable();
        for (_, id, mark) in loud {
            if let Some(r) = self.registrations.get_mut(&id) {
                r.next_refresh = now.plus(self.config.refresh);
                r.decided = now;
                r.refresh_backoff = 0;
                r.leaf_mark = mark;
                r.gap_mark = gap;
                r.timeouts_mark = timeouts;
            }
            self.stats.refreshes += 1;
            self.announce(id);
            self.leaf_set_flood(id, None);
        }
    }

    /// A fingerprint of the leaf set around `id` in the cache (IDs and
    /// endpoints of its members, in ring order): while it stands still, no
    /// neighbour of the registration came, went or moved. A multiply-rotate
    /// fold: the marks are compared, never exposed, so it need not resist
    /// anyone.
    pub(super) fn leaf_mark(&self, id: &PnrpId) -> u64 {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut h = 0u64;
        let mut mix = |x: u64| h = (h ^ x).wrapping_mul(K).rotate_left(29);
        let (below, above) = self.cache.leaf_set(id);
        for e in below.iter().rev().chain(&above) {
            for limb in e.route.id.0.chunks_exact(8) {
                let mut w = [0u8; 8];
                w.copy_from_slice(limb);
                mix(u64::from_le_bytes(w));
            }
            mix(u64::from(e.route.port));
            for a in &e.route.addresses {
                let v = u128::from(*a);
                mix(v as u64);
                mix((v >> 64) as u64);
            }
        }
        h
    }

    /// Leaf-set flooding of the entry `x` (MS-PNRP §3.2.5.11): send it to the
    /// nearest cached node on each side of it, then tell the FLOOD's sender
    /// who we are.
    pub(super) fn leaf_set_flood(&mut self, x: PnrpId, flood: Option<(SocketAddr, Vec<Endpoint>)>) {
        let route = if self.registrations.contains_key(&x) {
            self.own_route_entry(x)
        } else if let Some(e) = self.cache.get(&x) {
            e.route.clone()
        } else {
            return;
        };
        let (from, mut already) =
            flood.unwrap_or((self.config.local[0].to_socket_addr(), Vec::new()));
        let (below, above) = self.cache.neighbours(&x);
        let targets: Vec<(SocketAddr, PnrpId, Endpoint)> = [below, above]
            .into_iter()
            .flatten()
            .filter(|e| e.route.id != x)
            .filter_map(|e| {
                let ep = e.route.endpoints().next()?;
                (!already.contains(&ep)).then(|| (ep.to_socket_addr(), e.route.id, ep))
            })
            .collect();
        for (_, _, ep) in &targets {
            already.push(*ep);
        }
        already.truncate(MAX_PATH_ENDPOINTS);
        for (addr, validate, _) in targets {
            let msg = Message::Flood(Flood {
                no_ack: false,
                validate,
                revoke: None,
                route_entry: Some(route.clone()),
                already_flooded: already.clone(),
            });
            self.send(addr, msg, Some(Purpose::Flood { validate }));
        }
        // The newcomer itself learns that we hold it in a leaf set, so that
        // its own leaf set fills from the nodes around it — unless it told
        // us itself: then it holds our entry already.
        let from_x = route.endpoints().any(|e| e.to_socket_addr() == from);
        if !self.registrations.contains_key(&x)
            && !from_x
            && let Some(to) = route.endpoints().next().map(|e| e.to_socket_addr())
        {
            self.flood_own_entry(to, x);
        }
        // Step 4: the FLOOD's sender learns who holds it in a leaf set.
        if !from_x && !self.config.local.iter().any(|e| e.to_socket_addr() == from) {
            self.flood_own_entry(from, x);
        }
    }

    /// Sends `to` a FLOOD with the route entry of our registration nearest
    /// to `x`, addressed to `x`.
    fn flood_own_entry(&mut self, to: SocketAddr, x: PnrpId) {
        let Some(own) = self.closest_registration(&x) else {
            return;
        };
        let msg = Message::Flood(Flood {
            no_ack: false,
            validate: x,
            revoke: None,
            route_entry: Some(self.own_route_entry(own)),
            already_flooded: Vec::new(),
        });
        self.send(to, msg, Some(Purpose::Flood { validate: x }));
    }

    /// Command::Unregister: revoke every registration of `name` (MS-PNRP
    /// §3.2.4.2). The revoke CPA goes to the whole leaf set.
    pub(super) fn unregister(&mut self, request: RequestId, name: &PeerName) {
        let ids: Vec<PnrpId> = self
            .registrations_of(name.p2p_id())
            .filter(|id| self.registrations.get(id).is_some_and(|r| r.name == *name))
            .collect();
        for id in &ids {
            let mut targets = Vec::new();
            let (below, above) = self.cache.leaf_set(id);
            for e in below.into_iter().chain(above) {
                if let Some(a) = Self::address_of(&e.route) {
                    targets.push((a, e.route.id));
                }
            }
            let revoke = self.cpa_content(id, [0; 16]).and_then(|mut c| {
                c.revoke = true;
                c.service_addresses.clear();
                c.endpoints.clear();
                c.comment = None;
                c.has_extended_payload = false;
                let reg = self.registrations.get(id)?;
                c.sign(reg.signer.as_ref(), self.now.wall).ok()
            });
            self.registrations.remove(id);
            self.cache.remove_local(id);
            if let Some(revoke) = revoke {
                for (addr, validate) in targets {
                    let msg = Message::Flood(Flood {
                        no_ack: false,
                        validate,
                        revoke: Some(Box::new(revoke.clone())),
                        route_entry: None,
                        already_flooded: Vec::new(),
                    });
                    self.send(addr, msg, Some(Purpose::Flood { validate }));
                }
            }
        }
        self.events.push_back(Event::Unregistered {
            request,
            removed: ids.len(),
        });
    }
}
