//! Iterative resolution (MS-PNRP §3.1.4.4.2, §3.1.5.6; digest §4.3–§4.8):
//! one Outstanding Resolves Table entry per resolution, with the flagged
//! path, the next-hop and best-match stacks, the stop rules (more than 6
//! suspicious or 22 useful hops) and the final INQUIRE with CPA
//! verification.
//!
//! Several results: after a verified match the resolution goes on — the
//! publisher joins the flagged path and is asked (with the A flag) for the
//! closest other entry, which for a name with several publishers is the
//! next instance on the ring (digest §12 #12).
//!
//! DEVIATION (resolver behaviour only; every message is as MS-PNRP sends
//! it), to route around dead nodes, measured in `docs/simulation.md`:
//!
//! * a LOOKUP unanswered after one retransmission period no longer holds
//!   the walk up — the next hop is asked meanwhile, at most
//!   [`MAX_FLIGHTS`] LOOKUPs in flight — and when the resolution ends its
//!   unanswered messages are still waited for, so that a dead hop leaves
//!   the cache as the spec's retries would have it (§3.1.6.3);
//! * a lost hop (timeout, N answer, forged CPA) is replaced by the closest
//!   cached entry not yet asked, and a resolution other than cache
//!   maintenance may take [`EXTRA_REFILLS`] more when its stacks run dry;
//! * a route entry that already matches the criteria is INQUIREd at once
//!   instead of being sent a LOOKUP first;
//! * a hop that answered without a (usable) closer entry is not asked
//!   again: it would answer the same;
//! * a cache-maintenance walk ends at the first answer that brings it no
//!   closer.

use std::net::SocketAddr;

use rand_core::RngCore;

use super::io::{Event, RequestId, ResolveError, Resolved};
use super::node::Node;
use super::pending::Purpose;
use crate::cpa::VerifyContext;
use crate::engine::cache::{LevelStat, Placement, Query};
use crate::id::{PnrpId, RESOLVE_SUFFIX, ServiceLocation};
use crate::name::PeerName;
use crate::time::Instant;
use crate::wire::{
    AuthorityBuffer, Endpoint, Inquire, Lookup, MAX_PATH_ENDPOINTS, Message, MessageId, Nonce,
    ResolveCriteria, ResolveReason, RouteEntry,
};

/// Hops answering with L before giving up (MS-PNRP §3.1.4.4.2).
const MAX_SUSPICIOUS: u32 = 6;
/// Useful hops before giving up.
const MAX_USEFUL: u32 = 22;
/// A next hop is dropped once asked this often (§3.1.5.6.1).
const MAX_USE: u8 = 3;
/// Split tests the whole cloud runs per maintenance period (digest §12 #13).
const SPLIT_TESTS_PER_TICK: u64 = 4;
/// Below this many cache entries, LOOKUPs set A and keep non-closer hops.
const SMALL_CACHE: usize = 8;
/// LOOKUPs of one resolution in flight at once: one that has gone a
/// retransmission period without an answer no longer holds up the next.
const MAX_FLIGHTS: usize = 3;
/// Extra next hops a resolution other than cache maintenance may take from
/// its cache when its stacks run dry (beyond one per lost hop).
const EXTRA_REFILLS: u32 = 2;

/// A LOOKUP in flight.
#[derive(Debug)]
struct Flight {
    id: MessageId,
    hop: RouteEntry,
    uses: u8,
    /// Its first transmission went unanswered: the resolution no longer
    /// waits for it before trying the next hop (it may still answer).
    slow: bool,
}

/// One ORT entry.
#[derive(Debug)]
pub(crate) struct ResolveState {
    request: Option<RequestId>,
    reason: ResolveReason,
    criteria: ResolveCriteria,
    target: PnrpId,
    pub(super) deadline: Instant,
    path: Vec<Endpoint>,
    next_hops: Vec<(RouteEntry, u8)>,
    best_stack: Vec<RouteEntry>,
    best: Option<RouteEntry>,
    /// The best match travelling in LOOKUPs (registration: our own entry).
    initial_best: Option<RouteEntry>,
    /// LOOKUPs awaiting an answer.
    flights: Vec<Flight>,
    /// The final INQUIRE awaiting an answer, and whom it asked.
    inquiry: Option<(MessageId, RouteEntry)>,
    suspicious: u32,
    useful: u32,
    nonce: Nonce,
    /// IDs already inquired (verified or refused): never again.
    tried: Vec<PnrpId>,
    /// IDs of every hop sent a LOOKUP.
    asked: Vec<PnrpId>,
    /// Hops lost (timed out or answered N): each may be replaced by the
    /// next-closest cached entry.
    lost: u32,
    /// Next hops taken from the cache after the first.
    refills: u32,
    results: Vec<Resolved>,
    max_results: usize,
    /// Collecting further instances after a first match.
    collecting: bool,
    /// A balancing walk: the empty sub-bucket it is to fill. It ends at
    /// the first hop proven to lie there.
    gap: Option<Placement>,
    /// The seeds were already tried as a last resort.
    seeds_tried: bool,
}

impl ResolveState {
    fn matches(&self, id: &PnrpId) -> bool {
        match self.criteria {
            ResolveCriteria::None => *id == self.target,
            ResolveCriteria::AnyPeerName
            | ResolveCriteria::NearestPeerName
            | ResolveCriteria::Nearest64PeerName => id.p2p_id() == self.target.p2p_id(),
            ResolveCriteria::UpperBits => id.common_prefix_len(&self.target) >= 128,
        }
    }

    fn closer(&self, a: &PnrpId, b: &PnrpId) -> bool {
        self.target.distance(a) < self.target.distance(b)
    }
}

impl Node {
    /// Command::Resolve for a peer name (criteria ANY_PEERNAME).
    pub(super) fn start_name_resolve(
        &mut self,
        request: RequestId,
        name: &PeerName,
        max_results: usize,
        deadline: Instant,
    ) {
        let prefix = self
            .config
            .local
            .first()
            .map_or(0, |e| ServiceLocation::prefix_of(e.to_socket_addr().ip()));
        let target = PnrpId::new(name.p2p_id(), ServiceLocation::new(prefix, RESOLVE_SUFFIX));
        if self.resolves.len() >= self.config.max_resolves {
            self.events.push_back(Event::Resolved {
                request,
                result: Err(ResolveError::Busy),
            });
            return;
        }
        let key = self.new_resolve(
            Some(request),
            ResolveReason::APP_REQUEST,
            ResolveCriteria::AnyPeerName,
            target,
            deadline,
            None,
            max_results,
        );
        // Our own registrations answer first (a node alone still resolves
        // its own names, design §5).
        let locals: Vec<PnrpId> = self.registrations_of(target.p2p_id()).collect();
        for id in locals {
            if let Some(r) = self.local_result(&id)
                && let Some(s) = self.resolves.get_mut(&key)
            {
                s.tried.push(id);
                s.results.push(r);
            }
        }
        // Beyond the spec (docs/protocol.md D18): when the closest cached
        // entry already publishes the name, it is the best match from the
        // start and its publisher is INQUIREd at once, saving the LOOKUP
        // that would only have pointed back at it. Should it fail, the walk
        // starts from the next closest entry as usual.
        if let Some(s) = self.resolves.get_mut(&key)
            && s.results.is_empty()
            && s.best.is_none()
            && let Some((first, _)) = s.next_hops.last()
            && !first.id.is_zero()
            && s.matches(&first.id)
        {
            s.best = s.next_hops.pop().map(|(e, _)| e);
        }
        self.step(key);
    }

    /// A verified result for one of our own registrations.
    fn local_result(&mut self, id: &PnrpId) -> Option<Resolved> {
        let nonce = self.random_nonce();
        let cpa = self.sign_cpa(id, nonce)?;
        let ctx = VerifyContext::inquiry(self.now.wall, nonce).expecting(*id);
        let cpa = cpa.verify(self.verifier.as_ref(), &ctx).ok()?;
        let payload = self
            .sign_payload(id, nonce)
            .and_then(|p| cpa.verify_payload(p, self.verifier.as_ref(), &ctx).ok());
        let reg = self.registrations.get(id)?;
        Some(Resolved {
            id: *id,
            classifier: reg.name.classifier().as_str().to_owned(),
            cpa,
            payload,
            hops: 0,
            from: self.config.local.first()?.to_socket_addr(),
            path: Vec::new(),
        })
    }

    /// Resolutions the node runs for itself (registration, maintenance).
    pub(super) fn start_internal_resolve(
        &mut self,
        target: PnrpId,
        reason: ResolveReason,
        initial_best: Option<RouteEntry>,
    ) {
        self.start_walk(target, reason, initial_best, None);
    }

    /// A balancing walk toward the middle of the empty sub-bucket `gap`
    /// (REASON_CACHE_MAINTENANCE): like Windows' lookups with just enough
    /// Precision to land in the gap (digest §3.7), it ends at the first
    /// hop proven to lie in the sub-bucket rather than at the node closest
    /// to the middle.
    pub(super) fn start_balancing_resolve(&mut self, target: PnrpId, gap: Placement) {
        self.start_walk(target, ResolveReason::CACHE_MAINTENANCE, None, Some(gap));
    }

    fn start_walk(
        &mut self,
        target: PnrpId,
        reason: ResolveReason,
        initial_best: Option<RouteEntry>,
        gap: Option<Placement>,
    ) {
        if self.resolves.len() >= self.config.max_resolves {
            return;
        }
        let deadline = self.now.mono.plus(core::time::Duration::from_secs(30));
        let key = self.new_resolve(
            None,
            reason,
            ResolveCriteria::None,
            target,
            deadline,
            initial_best,
            1,
        );
        if let Some(s) = self.resolves.get_mut(&key) {
            s.gap = gap;
        }
        self.step(key);
    }

    /// The middle of an empty sub-bucket among the levels a cloud of the
    /// estimated size fills (digest §3.7: Windows "balances" the cache by
    /// looking up IDs in the gaps), if there is one.
    ///
    /// A sub-bucket of level `k` spans about `0.09 / 10^(k−1)` of the ring,
    /// so in a cloud of `n` IDs it expects `0.09 n / 10^(k−1)` of them. Only
    /// levels whose sub-buckets expect at least ~4 are balanced: below that
    /// an empty one is as likely as not a true gap, and chasing it would
    /// cost a lookup every tick for ever. Also returns how many sub-buckets
    /// are empty.
    pub(super) fn balancing_target(&mut self) -> Option<(PnrpId, Placement, usize)> {
        // A cache without an empty sub-bucket keeps none until a change
        // that may empty one (the cache's gap generation).
        let generation = self.cache.gap_generation();
        if self.balanced_at == Some(generation) {
            return None;
        }
        let n = self
            .cloud_size_estimate()
            .unwrap_or(self.cache.len() as u64);
        // 0.09 n / 10^(k−1) ≥ 4  ⇔  k ≤ log10(n / 44.4) + 1.
        let levels = match n / 44 {
            0 => return None,
            m => m.ilog10() as usize + 1,
        };
        let empty: Vec<(usize, usize)> = self
            .cache
            .level_stats_upto(levels)
            .iter()
            .flat_map(LevelStat::empty_buckets)
            .collect();
        if empty.is_empty() {
            self.balanced_at = Some(generation);
            return None;
        }
        let (level, bucket) = empty[self.rng.next_u32() as usize % empty.len()];
        self.cache
            .bucket_midpoint(level, bucket)
            .map(|target| (target, Placement { level, bucket }, empty.len()))
    }

    /// [`RouteCache::estimate_cloud_size`](crate::engine::cache::RouteCache::estimate_cloud_size),
    /// recomputed only after a change that may move it
    /// ([`RouteCache::gap_generation`](crate::engine::cache::RouteCache::gap_generation);
    /// every maintenance tick asks).
    fn cloud_size_estimate(&mut self) -> Option<u64> {
        let generation = self.cache.gap_generation();
        match self.size_estimate {
            Some((g, n)) if g == generation => n,
            _ => {
                let n = self.cache.estimate_cloud_size();
                self.size_estimate = Some((generation, n));
                n
            }
        }
    }

    /// A cache-maintenance lookup toward a random ID inside a random cache
    /// level around the centre, so that every level fills.
    pub(super) fn start_maintenance_resolve(&mut self) {
        let target = match self.registrations.keys().next().copied() {
            Some(centre) => {
                // Width 2^256 / 10^k for k in 0..4: offset = random >> (3.32 k) bits.
                let k = self.rng.next_u32() % 5;
                let mut off = self.random_id();
                let shift = (k * 332 / 100) as usize;
                off = shr(off, shift);
                centre.wrapping_add(&off)
            }
            None => self.random_id(),
        };
        self.start_internal_resolve(target, ResolveReason::CACHE_MAINTENANCE, None);
    }

    /// Split detection and repair (MS-PNRP §3.2.6.2; digest §3.11). With a
    /// probability inversely proportional to the estimated cloud size (so
    /// that the cloud as a whole runs about [`SPLIT_TESTS_PER_TICK`] tests per
    /// maintenance period), a publisher resolves one of its IDs + 1 starting
    /// from a seed instead of from its own cache, carrying its own route
    /// entry as the best match. If the seed sits in another piece of a split
    /// ring, every hop there learns (and validates) our entry and we learn
    /// theirs, which merges the pieces through the normal admission and
    /// leaf-set machinery.
    pub(super) fn maybe_split_detection(&mut self) {
        let Some(&local) = self.registrations.keys().next() else {
            return;
        };
        if self.config.seeds.is_empty() {
            return;
        }
        // Without an estimate (no neighbour on one side, or neighbours that
        // are other instances of the same name, so close that the estimate
        // is discarded) the cache size stands in: everything is cached in a
        // tiny cloud, and a name published several times must not test
        // every tick.
        if self.tick < self.split_at.0 {
            return;
        }
        let fire = self.split_at.1;
        let nodes = self
            .cloud_size_estimate()
            .unwrap_or(self.cache.len() as u64)
            .max(1);
        // The ticks until the next test, drawn ahead (the per-tick coin of
        // the paragraph above, so that idle ticks can be skipped).
        self.split_at =
            self.draw_ticks(|r| u64::from(r) * nodes < SPLIT_TESTS_PER_TICK * u64::from(u32::MAX));
        if !fire {
            return;
        }
        let seed = self.config.seeds[self.seed_cursor % self.config.seeds.len()];
        self.seed_cursor = self.seed_cursor.wrapping_add(1);
        if self.config.local.iter().any(|e| e.to_socket_addr() == seed) {
            return;
        }
        let seed_entry = seed_entry(seed);
        let own = self.own_route_entry(local);
        if self.resolves.len() >= self.config.max_resolves {
            return;
        }
        let deadline = self.now.mono.plus(core::time::Duration::from_secs(30));
        let key = self.new_resolve(
            None,
            ResolveReason::SPLIT_DETECTION,
            ResolveCriteria::None,
            local.add_u64(1),
            deadline,
            Some(own),
            1,
        );
        if let Some(s) = self.resolves.get_mut(&key) {
            s.next_hops = vec![(seed_entry, 0)];
        }
        self.stats.split_tests += 1;
        self.step(key);
    }

    #[allow(clippy::too_many_arguments)]
    fn new_resolve(
        &mut self,
        request: Option<RequestId>,
        reason: ResolveReason,
        criteria: ResolveCriteria,
        target: PnrpId,
        deadline: Instant,
        initial_best: Option<RouteEntry>,
        max_results: usize,
    ) -> u64 {
        let key = self.next_resolve;
        self.next_resolve += 1;
        // Steps 3 and 5: the path starts with our own endpoint; the first
        // next hop is the closest cached entry.
        let path: Vec<Endpoint> = self.config.local.first().copied().into_iter().collect();
        let first = self
            .cache
            .closest(
                &target,
                &Query {
                    exclude_endpoints: &path,
                    closer_than: None,
                    exclude_ids: &[],
                },
            )
            .map(|e| (e.route.clone(), 0u8));
        // With an empty cache, start at the seeds (synthetic entries with
        // PNRP ID 0, as split detection does): a joining node can resolve
        // before its cache has filled.
        let first_id = first.as_ref().map(|(e, _)| e.id);
        let mut next_hops: Vec<(RouteEntry, u8)> = first.into_iter().collect();
        if next_hops.is_empty() {
            for seed in self.config.seeds.iter().rev().take(3) {
                if !self
                    .config
                    .local
                    .iter()
                    .any(|e| e.to_socket_addr() == *seed)
                {
                    next_hops.push((seed_entry(*seed), 0));
                }
            }
        }
        let nonce = self.random_nonce();
        self.resolves.insert(
            key,
            ResolveState {
                request,
                reason,
                criteria,
                target,
                deadline,
                path,
                next_hops,
                best_stack: Vec::new(),
                best: initial_best.clone(),
                initial_best,
                flights: Vec::new(),
                inquiry: None,
                suspicious: 0,
                useful: 0,
                nonce,
                tried: Vec::new(),
                asked: first_id.into_iter().collect(),
                lost: 0,
                refills: 0,
                results: Vec::new(),
                max_results,
                collecting: false,
                seeds_tried: false,
                gap: None,
            },
        );
        key
    }

    /// Steps 7–10 of MS-PNRP §3.1.4.4.2: INQUIRE a sufficiently close best
    /// match, else LOOKUP the next hop, else finish.
    ///
    /// Beyond the spec, to route around dead nodes: a LOOKUP unanswered
    /// after one retransmission period stops holding the resolution up (the
    /// next hop is asked while it may still answer, at most
    /// [`MAX_FLIGHTS`] at once), and when the stacks run dry the next
    /// closest cached entry not yet asked replaces each lost hop.
    fn step(&mut self, key: u64) {
        loop {
            let cache_small = self.cache.len() < SMALL_CACHE;
            let Some(s) = self.resolves.get_mut(&key) else {
                return;
            };
            if s.results.len() >= s.max_results {
                self.finish(key, None);
                return;
            }
            if s.inquiry.is_some() {
                return;
            }
            // Step 7: best-match check.
            if let Some(best) = s.best.clone()
                && s.matches(&best.id)
                && !s.tried.contains(&best.id)
            {
                s.tried.push(best.id);
                s.best = s.best_stack.pop();
                let Some(to) = Self::address_of(&best) else {
                    continue;
                };
                let msg = Message::Inquire(Inquire {
                    want_cpa: true,
                    want_payload: true,
                    want_chain: true,
                    validate: best.id,
                    nonce: Some(s.nonce),
                });
                match self.send(to, msg, Some(Purpose::Inquire { resolve: key })) {
                    Some(id) => {
                        if let Some(s) = self.resolves.get_mut(&key) {
                            s.inquiry = Some((id, best));
                        }
                        return;
                    }
                    None => {
                        self.finish(key, None);
                        return;
                    }
                }
            }
            if s.flights.iter().any(|f| !f.slow) || s.flights.len() >= MAX_FLIGHTS {
                return;
            }
            // Step 8: next hop, or stop. A lost hop (or, for a name, a dry
            // stack) is replaced by the closest cached entry not yet asked.
            let app = s.reason == ResolveReason::APP_REQUEST;
            let extra = if s.reason == ResolveReason::CACHE_MAINTENANCE {
                0
            } else {
                EXTRA_REFILLS
            };
            if s.next_hops.is_empty() && s.results.is_empty() && s.refills < s.lost + extra {
                let next = self
                    .cache
                    .closest(
                        &s.target,
                        &Query {
                            exclude_endpoints: &s.path,
                            closer_than: None,
                            exclude_ids: &s.asked,
                        },
                    )
                    .map(|e| e.route.clone());
                if let Some(next) = next {
                    s.refills += 1;
                    s.next_hops.push((next, 0));
                }
            }
            // Before giving up on a name, try once more from the seeds: a
            // young or sparse cache can lead into a dead end that the rest
            // of the cloud does not have.
            if s.next_hops.is_empty() && s.results.is_empty() && !s.seeds_tried && app {
                s.seeds_tried = true;
                let local = &self.config.local;
                for seed in self.config.seeds.iter().rev().take(3) {
                    let ep = Endpoint::from_socket_addr(*seed);
                    if !local.contains(&ep) && !s.path.contains(&ep) {
                        s.next_hops.push((seed_entry(*seed), 0));
                    }
                }
            }
            let Some((hop, uses)) = s.next_hops.pop() else {
                if s.flights.is_empty() {
                    self.finish(key, None);
                }
                return;
            };
            if s.suspicious > MAX_SUSPICIOUS || s.useful > MAX_USEFUL {
                self.finish(key, None);
                return;
            }
            let Some(to) = Self::address_of(&hop) else {
                continue;
            };
            // Steps 9–10.
            let msg = Message::Lookup(Lookup {
                accept_not_closer: cache_small || s.collecting,
                precision: 0,
                criteria: s.criteria,
                reason: s.reason,
                target: s.target,
                validate: hop.id,
                best_match: s.initial_best.clone().or_else(|| s.best.clone()),
                flagged_path: s.path.clone(),
            });
            if !hop.id.is_zero() && !s.asked.contains(&hop.id) {
                s.asked.push(hop.id);
            }
            match self.send(to, msg, Some(Purpose::Lookup { resolve: key })) {
                Some(id) => {
                    if let Some(s) = self.resolves.get_mut(&key) {
                        s.flights.push(Flight {
                            id,
                            hop,
                            uses: uses + 1,
                            slow: false,
                        });
                    }
                    return;
                }
                None => {
                    self.finish(key, None);
                    return;
                }
            }
        }
    }

    /// A LOOKUP of resolution `key` went one retransmission period without
    /// an answer: stop waiting for it before asking the next hop.
    pub(super) fn on_lookup_slow(&mut self, key: u64, id: MessageId) {
        let Some(s) = self.resolves.get_mut(&key) else {
            return;
        };
        let Some(f) = s.flights.iter_mut().find(|f| f.id == id) else {
            return;
        };
        if !f.slow {
            f.slow = true;
            self.step(key);
        }
    }

    /// The AUTHORITY answering one of our LOOKUPs (MS-PNRP §3.1.5.6.1).
    pub(super) fn on_lookup_answer(
        &mut self,
        key: u64,
        acked: MessageId,
        from: SocketAddr,
        b: AuthorityBuffer,
    ) {
        let cache_small = self.cache.len() < SMALL_CACHE;
        // The hop, proven alive by this answer, and the entry it gave us
        // (with whether it is queued as a next hop).
        let mut proven = None;
        let mut learned = None;
        let mut evict = None;
        let mut advanced = false;
        let done;
        {
            let Some(s) = self.resolves.get_mut(&key) else {
                return;
            };
            let Some(at) = s.flights.iter().position(|f| f.id == acked) else {
                return;
            };
            let Flight { hop, uses, .. } = s.flights.remove(at);
            if b.flags.busy {
                // Skip a busy hop without counting it (digest §12 #15).
                drop(hop);
                self.step(key);
                return;
            }
            // Steps 1–3.
            if s.path.len() < MAX_PATH_ENDPOINTS {
                s.path.push(Endpoint::from_socket_addr(from));
            }
            s.useful += 1;
            if b.flags.leaf_set_hint {
                s.suspicious += 1;
            }
            // Steps 4–6.
            let mut keep = false;
            if b.flags.not_found {
                evict = Some(hop.id);
                s.lost += 1;
            } else {
                proven = Some(hop.clone());
                if s.best
                    .as_ref()
                    .is_none_or(|best| s.closer(&hop.id, &best.id))
                    && !s.tried.contains(&hop.id)
                {
                    if let Some(old) = s.best.take() {
                        s.best_stack.push(old);
                    }
                    s.best = Some(hop.clone());
                }
                keep = uses < MAX_USE;
            }
            // Steps 7–10. The hop goes back on the stack (to be asked
            // again, with a longer flagged path, when we backtrack) only
            // under a closer next hop it gave us: asked again after
            // answering nothing new, it would answer the same.
            if let Some(new) = b.route_entry {
                let in_path = new
                    .endpoints()
                    .any(|e| s.path[..s.path.len().saturating_sub(1)].contains(&e));
                let known = s.tried.contains(&new.id)
                    || s.asked.contains(&new.id)
                    || s.next_hops.iter().any(|(h, _)| h.id == new.id)
                    || s.flights.iter().any(|f| f.hop.id == new.id);
                if !in_path && !known && s.matches(&new.id) {
                    // A match is INQUIREd at once (step 7): the INQUIRE
                    // proves it alive, and it may be a hop that just
                    // answered N for an older registration of the same
                    // name at its address.
                    if keep {
                        s.next_hops.push((hop.clone(), uses));
                    }
                    if let Some(old) = s.best.replace(new) {
                        s.best_stack.push(old);
                    }
                } else if !in_path && !known {
                    let queued = s.closer(&new.id, &hop.id) || cache_small || s.collecting;
                    learned = Some((new.clone(), queued));
                    if queued {
                        if keep {
                            s.next_hops.push((hop.clone(), uses));
                        }
                        s.next_hops.push((new, 0));
                        advanced = true;
                    }
                }
            }
            // A cache-maintenance walk has done its work once it reaches
            // the node closest to its target (the entries on the way are
            // learned, and backtracking would only visit more of them), a
            // balancing walk once a hop proved alive lies in its gap.
            let in_gap = s.gap.is_some_and(|g| self.cache.placement(&hop.id) == g);
            done = (!advanced || in_gap)
                && s.reason == ResolveReason::CACHE_MAINTENANCE
                && !b.flags.not_found
                && s.flights.is_empty();
            if done && learned.as_ref().is_some_and(|(_, queued)| *queued) {
                // The gap is filled; the hop it was to ask next is dropped
                // unproven, as entries learned are when a walk ends.
                learned = None;
            }
        }
        if done {
            self.finish(key, None);
        }
        if let Some(id) = evict {
            self.cache.remove(&id);
        }
        if let Some(re) = proven {
            self.admit_answered(re);
        }
        if let Some((re, queued)) = learned {
            if self.cache.get(&re.id).is_some() {
                self.cache.touch(&re.id, self.now.mono);
            } else if !queued || self.admission_needs_cpa(&re.id) {
                self.consider_route_entry(re, None, None);
            }
            // A queued next hop is asked next with its ID as the Validate
            // PNRP ID: its answer proves it as an INQUIRE would.
        }
        self.step(key);
    }

    /// The AUTHORITY answering our final INQUIRE (MS-PNRP §3.1.5.6.1.1).
    pub(super) fn on_inquire_answer(
        &mut self,
        key: u64,
        acked: MessageId,
        from: SocketAddr,
        b: AuthorityBuffer,
    ) {
        let now = self.now;
        let Some(s) = self.resolves.get_mut(&key) else {
            return;
        };
        let best = match s.inquiry.take() {
            Some((id, best)) if id == acked => best,
            other => {
                s.inquiry = other;
                return;
            }
        };
        let ctx = VerifyContext::inquiry(now.wall, s.nonce).expecting(best.id);
        let verdict = match (b.flags.not_found, b.cpa) {
            (false, Some(cpa)) => Some(cpa.verify(self.verifier.as_ref(), &ctx)),
            _ => None,
        };
        let Some(s) = self.resolves.get_mut(&key) else {
            return;
        };
        match verdict {
            Some(Ok(cpa)) => {
                let classifier = b
                    .classifier
                    .filter(|c| {
                        PeerName::new(crate::name::Authority::Unsecured, c)
                            .is_ok_and(|n| n.classifier_hash() == cpa.content().classifier_hash)
                            || c.is_empty()
                    })
                    .unwrap_or_default();
                let payload = b
                    .extended_payload
                    .and_then(|p| cpa.verify_payload(p, self.verifier.as_ref(), &ctx).ok());
                let hops = s.useful;
                let path = s.path.iter().map(|e| e.to_socket_addr()).collect();
                s.results.push(Resolved {
                    id: best.id,
                    classifier,
                    cpa: cpa.clone(),
                    payload,
                    hops,
                    from,
                    path,
                });
                // Look for further instances next to this one.
                s.collecting = true;
                if let Some(ep) = best.endpoints().next()
                    && s.path.len() < MAX_PATH_ENDPOINTS
                {
                    s.path.push(ep);
                }
                s.next_hops.push((best.clone(), 0));
                let _ = self.cache.insert(best, Some(&cpa), now.mono);
            }
            Some(Err(_)) => {
                // A forged answer discredits its sender for the rest of
                // this resolution, and its entry leaves the cache.
                self.stats.cpa_rejected += 1;
                if let Some(ep) = best.endpoints().next() {
                    let from_forger = |h: &RouteEntry| h.endpoints().any(|e| e == ep);
                    s.next_hops.retain(|(h, _)| !from_forger(h));
                    s.best_stack.retain(|h| !from_forger(h));
                    if s.best.as_ref().is_some_and(from_forger) {
                        s.best = s.best_stack.pop();
                    }
                    if s.path.len() < MAX_PATH_ENDPOINTS && !s.path.contains(&ep) {
                        s.path.push(ep);
                    }
                }
                s.lost += 1;
                self.cache.remove(&best.id);
            }
            None => {
                if b.flags.not_found {
                    s.lost += 1;
                    self.cache.remove(&best.id);
                }
            }
        }
        self.step(key);
    }

    /// A LOOKUP ran out of retries: the hop is gone.
    pub(super) fn on_lookup_timeout(&mut self, key: u64, id: MessageId) {
        let Some(s) = self.resolves.get_mut(&key) else {
            return;
        };
        let Some(at) = s.flights.iter().position(|f| f.id == id) else {
            return;
        };
        let hop = s.flights.remove(at).hop;
        s.next_hops.retain(|(h, _)| h.id != hop.id);
        s.lost += 1;
        self.cache.remove(&hop.id);
        self.step(key);
    }

    /// The final INQUIRE ran out of retries: back to the previous best match.
    pub(super) fn on_inquire_timeout(&mut self, key: u64, id: MessageId) {
        let Some(s) = self.resolves.get_mut(&key) else {
            return;
        };
        match s.inquiry.take() {
            Some((sent, best)) if sent == id => {
                s.lost += 1;
                self.cache.remove(&best.id);
            }
            other => {
                s.inquiry = other;
                return;
            }
        }
        self.step(key);
    }

    /// Command::Cancel.
    pub(super) fn cancel(&mut self, request: RequestId) {
        let key = self
            .resolves
            .iter()
            .find(|(_, s)| s.request == Some(request))
            .map(|(k, _)| *k);
        if let Some(key) = key {
            self.finish(key, Some(ResolveError::Cancelled));
        }
    }

    /// Finishes resolutions past their deadline.
    pub(super) fn expire_resolves(&mut self) {
        let now = self.now.mono;
        let due: Vec<u64> = self
            .resolves
            .iter()
            .filter(|(_, s)| s.deadline <= now)
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            self.finish(key, Some(ResolveError::Timeout));
        }
    }

    /// Ends resolution `key`, reporting results (or `error` if none).
    fn finish(&mut self, key: u64, error: Option<ResolveError>) {
        let Some(s) = self.resolves.remove(&key) else {
            return;
        };
        // Messages still unanswered keep waiting, to evict their node if it
        // proves dead; the rest of the resolution's state goes.
        let asked = s.flights.iter().map(|f| (f.id, f.hop.id));
        for (id, validate) in asked.chain(s.inquiry.as_ref().map(|(id, b)| (*id, b.id))) {
            if !validate.is_zero() {
                self.pending.set_purpose(id, Purpose::Orphan { validate });
            }
        }
        self.pending.remove_resolve(key);
        if let Some(request) = s.request {
            let result = if error == Some(ResolveError::Cancelled) {
                Err(ResolveError::Cancelled)
            } else if s.results.is_empty() {
                Err(error.unwrap_or(ResolveError::NotFound))
            } else {
                Ok(s.results)
            };
            self.events.push_back(Event::Resolved { request, result });
        }
    }
}

/// A synthetic route entry for a seed: PNRP ID 0 at the seed's address.
fn seed_entry(seed: SocketAddr) -> RouteEntry {
    RouteEntry {
        id: PnrpId::ZERO,
        port: seed.port(),
        addresses: vec![Endpoint::from_socket_addr(seed).addr],
    }
}

/// `id >> bits` (logical shift of a 256-bit big-endian number).
fn shr(id: PnrpId, bits: usize) -> PnrpId {
    if bits >= 256 {
        return PnrpId::ZERO;
    }
    let (bytes, rem) = (bits / 8, bits % 8);
    let mut out = [0u8; 32];
    for i in (bytes..32).rev() {
        let src = i - bytes;
        let hi = id.0[src] >> rem;
        let carry = if rem > 0 && src > 0 {
            id.0[src - 1] << (8 - rem)
        } else {
            0
        };
        out[i] = hi | carry;
    }
    PnrpId(out)
}
