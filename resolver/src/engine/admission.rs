//! Route-entry admission: nothing enters the cache on someone's word
//! (MS-PNRP §3.1.5.11, §3.2.5.1; digest §3.6). A candidate is probed with an
//! INQUIRE for exactly its ID at its own address; only an answer without N
//! admits it, and inside a leaf set only with a CPA that verifies, names the
//! same ID and lists the same service endpoints.

use std::net::SocketAddr;

use super::cache::InsertOutcome;
use super::node::Node;
use super::pending::Purpose;
use crate::cpa::{MIN_LIFETIME_S, VerifyContext};
use crate::id::PnrpId;
use crate::time::Instant;
use crate::wire::{AuthorityBuffer, Endpoint, Inquire, Message, MessageId, Nonce, RouteEntry};

/// A route entry being validated (Pending Route Entry Add List).
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub(super) route: RouteEntry,
    /// A CPA is required (the entry falls into one of our leaf sets).
    pub(super) need_cpa: bool,
    pub(super) nonce: Nonce,
    /// Set when the entry arrived in a FLOOD: who sent it and the Already
    /// Flooded List.
    pub(super) flood: Option<(SocketAddr, Vec<Endpoint>)>,
    /// The entry is cached already and is being validated again before its
    /// CPA's Not After: a refusal or a timeout removes it.
    pub(super) renewal: bool,
}

/// CPA-holding entries validated again per maintenance tick, at most.
const RENEWALS_PER_TICK: usize = 4;

/// An entry validated this recently (5 minutes) is taken to be alive: a
/// candidate that could only take its place is not validated.
const FRESH_WINDOW_US: u64 = 300_000_000;

/// Lowest acceptable route-entry port (digest §12 #18).
const MIN_PORT: u16 = 1024;

impl Node {
    /// A route entry seen in a SOLICIT, LOOKUP, FLOOD or AUTHORITY: start
    /// validating it unless it is ours, known, pending or unusable.
    pub(super) fn consider_route_entry(
        &mut self,
        re: RouteEntry,
        flood_from: Option<SocketAddr>,
        already_flooded: Option<Vec<Endpoint>>,
    ) {
        if !self.usable_candidate(&re) {
            return;
        }
        if self.cache.get(&re.id).is_some() {
            // Known: a duplicate FLOOD is dropped (§3.8 step 5).
            return;
        }
        if self.admission_pending(&re.id) || self.admissions.len() >= self.config.max_admissions {
            return;
        }
        let need_cpa = self.admission_needs_cpa(&re.id);
        if !need_cpa && self.met_no_dead_peer() {
            let since = Instant(self.now.mono.0.saturating_sub(FRESH_WINDOW_US));
            if self.cache.would_only_replace(&re.id, since) {
                self.stats.admission_skipped += 1;
                return;
            }
        }
        let flood = flood_from.map(|f| (f, already_flooded.unwrap_or_default()));
        self.probe(re, need_cpa, flood, false);
    }

    /// Whether a route entry may be cached at all: a port of at least
    /// 1024, an address, a nonzero ID, and neither the ID nor an endpoint
    /// our own.
    fn usable_candidate(&self, re: &RouteEntry) -> bool {
        re.port >= MIN_PORT
            && !re.addresses.is_empty()
            && !re.id.is_zero()
            && !self.registrations.contains_key(&re.id)
            && !re.endpoints().any(|e| self.is_local_endpoint(&e))
    }

    /// Whether an admission INQUIRE for `id` is awaiting its answer.
    fn admission_pending(&self, id: &PnrpId) -> bool {
        self.admissions.values().any(|c| c.route.id == *id)
    }

    /// Whether caching `id` requires its CPA: it falls into the leaf set
    /// of one of our registrations (digest §3.6 step 2, NeedCpa).
    pub(super) fn admission_needs_cpa(&self, id: &PnrpId) -> bool {
        !self.registrations.is_empty() && self.cache.in_leaf_range(id)
    }

    /// The hop of a LOOKUP that answered without the N flag: the answer to
    /// a message carrying its ID as the Validate PNRP ID, sent to its
    /// address under a fresh MessageID, proves what an admission INQUIRE
    /// without a CPA would (digest §4.5 step 4: "it proved alive"), so it
    /// is cached at once. One that needs a CPA, or whose INQUIRE is already
    /// out, goes through admission as before.
    pub(super) fn admit_answered(&mut self, re: RouteEntry) {
        if self.cache.get(&re.id).is_some() {
            self.cache.touch(&re.id, self.now.mono);
            return;
        }
        if !self.usable_candidate(&re) {
            return;
        }
        if self.admission_needs_cpa(&re.id) || self.admission_pending(&re.id) {
            self.consider_route_entry(re, None, None);
            return;
        }
        self.stats.admitted += 1;
        if let InsertOutcome::Added { .. } = self.cache.insert(re, None, self.now.mono) {
            self.set_state(super::io::CloudState::Active);
        }
    }

    /// How long before its Not After a cached CPA is renewed (below).
    pub(super) fn renewal_margin_s(&self) -> u64 {
        (self.config.cpa_lifetime.as_secs() / 4).min(MIN_LIFETIME_S / 2)
    }

    /// Entries whose CPA ends within a quarter of our own CPA lifetime (at
    /// most 6 h, half the shortest lifetime a CPA may be signed with, so
    /// that a renewed CPA is not due again at once) are INQUIREd again for a
    /// fresh CPA, a few per tick, so that live leaf-set members are not
    /// evicted at Not After: a refreshed entry's FLOOD is dropped as a
    /// duplicate (digest §3.8 step 5), so nothing else would renew them.
    pub(super) fn renew_expiring(&mut self) {
        let horizon = self.now.wall.plus_secs(self.renewal_margin_s());
        if !self.cache.may_expire_by(horizon) {
            return;
        }
        let due: Vec<RouteEntry> = self
            .cache
            .iter()
            .filter(|e| e.cpa.as_ref().is_some_and(|c| c.not_after() <= horizon))
            .filter(|e| !self.admissions.values().any(|c| c.route.id == e.route.id))
            .take(RENEWALS_PER_TICK)
            .map(|e| e.route.clone())
            .collect();
        if due.is_empty() {
            // Renewed CPAs may have held the bound down.
            self.cache.tighten_expiry_bound();
        }
        for re in due {
            if self.admissions.len() >= self.config.max_admissions {
                break;
            }
            self.probe(re, true, None, true);
        }
    }

    /// Sends the admission INQUIRE for `re` and records the candidate.
    fn probe(
        &mut self,
        re: RouteEntry,
        need_cpa: bool,
        flood: Option<(SocketAddr, Vec<Endpoint>)>,
        renewal: bool,
    ) {
        let Some(to) = Self::address_of(&re) else {
            return;
        };
        let nonce = self.random_nonce();
        let msg = Message::Inquire(Inquire {
            want_cpa: need_cpa,
            want_payload: false,
            want_chain: need_cpa,
            validate: re.id,
            nonce: need_cpa.then_some(nonce),
        });
        if let Some(id) = self.send(to, msg, Some(Purpose::Admission)) {
            self.admissions.insert(
                id,
                Candidate {
                    route: re,
                    need_cpa,
                    nonce,
                    flood,
                    renewal,
                },
            );
        }
    }

    /// The AUTHORITY answering an admission INQUIRE.
    pub(super) fn on_admission_answer(&mut self, acked: MessageId, buffer: AuthorityBuffer) {
        let Some(cand) = self.admissions.remove(&acked) else {
            return;
        };
        if buffer.flags.not_found {
            self.refuse(&cand);
            return;
        }
        let mut cpa = None;
        if cand.need_cpa {
            let Some(unverified) = buffer.cpa else {
                self.refuse(&cand);
                return;
            };
            let ctx = VerifyContext::inquiry(self.now.wall, cand.nonce).expecting(cand.route.id);
            let Ok(verified) = unverified.verify(self.verifier.as_ref(), &ctx) else {
                self.stats.cpa_rejected += 1;
                self.refuse(&cand);
                return;
            };
            // The route entry's endpoints must be the CPA's service
            // addresses (MS-PNRP §3.1.5.6.1.2).
            let mut re_eps: Vec<Endpoint> = cand.route.endpoints().collect();
            let mut cpa_eps = verified.content().service_addresses.clone();
            re_eps.sort();
            cpa_eps.sort();
            if re_eps != cpa_eps {
                self.refuse(&cand);
                return;
            }
            cpa = Some(verified);
        }
        self.stats.admitted += 1;
        let id = cand.route.id;
        if let InsertOutcome::Added { leaf, .. } =
            self.cache.insert(cand.route, cpa.as_ref(), self.now.mono)
        {
            self.set_state(super::io::CloudState::Active);
            if leaf && !self.registrations.is_empty() {
                self.leaf_set_flood(id, cand.flood);
            }
        }
    }

    /// A candidate failed validation; a cached entry being renewed leaves
    /// the cache.
    fn refuse(&mut self, cand: &Candidate) {
        self.stats.admission_refused += 1;
        if cand.renewal {
            self.cache.remove(&cand.route.id);
        }
    }

    /// An admission INQUIRE ran out of retries.
    pub(super) fn on_admission_timeout(&mut self, id: MessageId) {
        if let Some(cand) = self.admissions.remove(&id)
            && cand.renewal
        {
            self.cache.remove(&cand.route.id);
        }
    }
}
