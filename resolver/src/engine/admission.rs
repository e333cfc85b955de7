//! Route-entry admission: nothing enters the cache on someone's word
//! (MS-PNRP §3.1.5.11, §3.2.5.1; digest §3.6). A candidate is probed with an
//! INQUIRE for exactly its ID at its own address; only an answer without N
//! admits it, and inside a leaf set only with a CPA that verifies, names the
//! same ID and lists the same service endpoints.

use std::net::SocketAddr;

use super::cache::InsertOutcome;
use super::node::Node;
use super::pending::Purpose;
use crate::cpa::VerifyContext;
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
}

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
        if re.port < MIN_PORT
            || re.addresses.is_empty()
            || re.id.is_zero()
            || self.registrations.contains_key(&re.id)
            || re.endpoints().any(|e| self.is_local_endpoint(&e))
        {
            return;
        }
        if self.cache.get(&re.id).is_some() {
            // Known: a duplicate FLOOD is dropped (§3.8 step 5).
            return;
        }
        if self.admissions.values().any(|c| c.route.id == re.id)
            || self.admissions.len() >= self.config.max_admissions
        {
            return;
        }
        let Some(to) = Self::address_of(&re) else {
            return;
        };
        let need_cpa = !self.registrations.is_empty() && self.cache.in_leaf_range(&re.id);
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
                    flood: flood_from.map(|f| (f, already_flooded.unwrap_or_default())),
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
            self.stats.admission_refused += 1;
            return;
        }
        let mut cpa = None;
        if cand.need_cpa {
            let Some(unverified) = buffer.cpa else {
                self.stats.admission_refused += 1;
                return;
            };
            let ctx = VerifyContext::inquiry(self.now.wall, cand.nonce).expecting(cand.route.id);
            let Ok(verified) = unverified.verify(self.verifier.as_ref(), &ctx) else {
                self.stats.cpa_rejected += 1;
                self.stats.admission_refused += 1;
                return;
            };
            // The route entry's endpoints must be the CPA's service
            // addresses (MS-PNRP §3.1.5.6.1.2).
            let mut re_eps: Vec<Endpoint> = cand.route.endpoints().collect();
            let mut cpa_eps = verified.content().service_addresses.clone();
            re_eps.sort();
            cpa_eps.sort();
            if re_eps != cpa_eps {
                self.stats.admission_refused += 1;
                return;
            }
            cpa = Some(std::sync::Arc::new(verified));
        }
        self.stats.admitted += 1;
        let id = cand.route.id;
        if let InsertOutcome::Added { leaf, .. } = self.cache.insert(cand.route, cpa, self.now.mono)
        {
            self.set_state(super::io::CloudState::Active);
            if leaf && !self.registrations.is_empty() {
                self.leaf_set_flood(id, cand.flood);
            }
        }
    }
}
