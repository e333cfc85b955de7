//! [`Node`]: one PNRP participant in one cloud, as a sans-IO state machine.
//!
//! # Call contract (quinn style)
//!
//! * Inputs: [`Node::handle_datagram`], [`Node::handle_timeout`],
//!   [`Node::handle_command`]. Each takes the current [`Now`]; time never
//!   goes backwards between calls. Spurious `handle_timeout` calls are
//!   harmless.
//! * Outputs, drained after every input in this order:
//!   [`Node::poll_transmit`] until `None`, then [`Node::poll_event`] until
//!   `None`, then [`Node::poll_timeout`] for the next deadline.
//!
//! The node never reads a clock, draws OS entropy or touches a socket: it is
//! seeded at construction and handed everything else.
//!
//! The roles live in sibling files as further `impl Node` blocks:
//! `responder.rs` answers others (SOLICIT, REQUEST, LOOKUP, INQUIRE, FLOOD),
//! `resolve.rs` drives our own resolutions (MS-PNRP §3.1.4.4, §3.1.5.6),
//! `admission.rs` validates route entries before they are cached
//! (§3.1.5.11) and `publish.rs` registers, refreshes, floods and revokes
//! (§3.2.4).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

use super::cache::RouteCache;
use super::config::Config;
use super::io::{CloudState, Command, Event, Now};
use super::pending::{Pending, Purpose};
use super::publish::LocalRegistration;
use super::ratelimit::RateLimiter;
use super::resolve::ResolveState;
use super::stats::Stats;
use crate::crypto::Verifier;
use crate::id::{P2pId, PnrpId, ServiceLocation};
use crate::time::Instant;
use crate::wire::{
    Endpoint, HashedNonce, Message, MessageId, Nonce, Packet, Reassembled, Reassembler,
    ReassemblyLimits, RouteEntry, Solicit, SolicitType,
};

/// At most this many maintenance grid ticks in a row (10 minutes at the
/// 15 s default) are skipped as idle.
pub(super) const MAX_IDLE_TICKS: u64 = 40;

/// The random maintenance lookups slow down to
/// `maintenance_lookup_permille >> MAX_LOOKUP_BACKOFF` per tick in a cloud
/// where no peer is found dead (at the defaults 250 >> 6 = 3/1000 per 15 s
/// tick: one every ~83 minutes).
pub(super) const MAX_LOOKUP_BACKOFF: u32 = 6;

/// Balancing lookups toward sub-buckets that stay empty wait up to
/// `2^MAX_BALANCE_BACKOFF` ticks (8 minutes) between them.
pub(super) const MAX_BALANCE_BACKOFF: u32 = 5;

/// A publisher-side synchronisation conversation (MS-PNRP §3.2.1).
#[derive(Debug, Clone)]
pub(super) struct Conversation {
    pub(super) peer: SocketAddr,
    pub(super) hashed_nonce: HashedNonce,
    pub(super) joiner: Option<PnrpId>,
    pub(super) expires: Instant,
}

/// One PNRP node in one cloud.
pub struct Node {
    pub(super) config: Config,
    pub(super) verifier: Arc<dyn Verifier + Send + Sync>,
    pub(super) rng: ChaCha20Rng,
    pub(super) state: CloudState,
    pub(super) cache: RouteCache,
    pub(super) registrations: BTreeMap<PnrpId, LocalRegistration>,
    pub(super) pending: Pending,
    pub(super) resolves: BTreeMap<u64, ResolveState>,
    pub(super) next_resolve: u64,
    pub(super) admissions: BTreeMap<MessageId, super::admission::Candidate>,
    pub(super) conversations: Vec<Conversation>,
    /// Joiner side: SOLICIT MessageID → nonce (MS-PNRP §3.1.1).
    pub(super) solicits: BTreeMap<MessageId, Nonce>,
    pub(super) reassembly: Reassembler,
    pub(super) limiter: RateLimiter,
    pub(super) transmits: VecDeque<(SocketAddr, Vec<u8>)>,
    pub(super) events: VecDeque<Event>,
    /// The next tick of the maintenance grid (a period after the last run).
    pub(super) next_maintenance: Instant,
    /// Maintenance grid ticks since the node started (skipped ones counted).
    pub(super) tick: u64,
    /// Grid ticks after `next_maintenance` that hold no maintenance work,
    /// valid while [`Node::idle_fingerprint`] equals `idle_mark`.
    idle_ticks: u64,
    idle_mark: (u64, usize, usize),
    /// The tick of the next random cache-maintenance lookup (if `.1`) or
    /// of the next draw for one.
    lookup_at: (u64, bool),
    /// The random lookups' rate is `maintenance_lookup_permille >>
    /// lookup_backoff`: halved at each draw while no request ran out of
    /// retries since the one before (`timeouts_seen`), back to the full
    /// rate when one did.
    pub(super) lookup_backoff: u32,
    timeouts_seen: u64,
    /// Balancing lookups: the tick of the next one, the exponent of the
    /// wait after it, and the empty sub-buckets when the last one started.
    /// While lookups leave as many sub-buckets empty (true gaps of a
    /// sparse region), each waits twice as long as the one before, up to
    /// [`MAX_BALANCE_BACKOFF`]; a change in their number resets the wait.
    balance_at: u64,
    pub(super) balance_backoff: u32,
    balance_empty: usize,
    /// The tick of the next split test (if `.1`) or of the next draw for
    /// one.
    pub(super) split_at: (u64, bool),
    /// The cache's gap generation at which the last balancing check found
    /// no empty sub-bucket ([`Node::balancing_target`]).
    pub(super) balanced_at: Option<u64>,
    /// The cache's gap generation and the cloud-size estimate computed at it.
    pub(super) size_estimate: Option<(u64, Option<u64>)>,
    pub(super) seed_cursor: usize,
    /// While the cache is empty, the next bootstrap attempt (backing off
    /// from 1 s to the maintenance period).
    next_discovery: Option<Instant>,
    discovery_backoff: core::time::Duration,
    pub(super) stats: Stats,
    pub(super) now: Now,
}

impl core::fmt::Debug for Node {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Node")
            .field("local", &self.config.local)
            .field("state", &self.state)
            .field("cache", &self.cache.len())
            .field("registrations", &self.registrations.len())
            .field("resolves", &self.resolves.len())
            .finish_non_exhaustive()
    }
}

/// First 160 bits of SHA-256 of a nonce (DEVIATION from SHA-1, profile D5).
pub(super) fn hash_nonce(nonce: &Nonce) -> HashedNonce {
    let d: [u8; 32] = Sha256::digest(nonce).into();
    let mut out = [0u8; 20];
    out.copy_from_slice(&d[..20]);
    out
}

impl Node {
    /// A node with `config`, checking CPAs with `verifier`, drawing all its
    /// randomness from `seed`. If seeds are configured it starts
    /// synchronising at once.
    pub fn new(
        config: Config,
        verifier: Arc<dyn Verifier + Send + Sync>,
        seed: [u8; 32],
        now: Now,
    ) -> Self {
        let mut rng = ChaCha20Rng::from_seed(seed);
        // A resolve-only node centres its cache on a random ID (digest §12 #24).
        let mut centre = [0u8; 32];
        rng.fill_bytes(&mut centre);
        let cache = RouteCache::new(PnrpId(centre), config.cache);
        let limiter = RateLimiter::new(config.rate, &seed);
        let mut node = Self {
            verifier,
            rng,
            state: CloudState::Alone,
            cache,
            registrations: BTreeMap::new(),
            pending: Pending::default(),
            resolves: BTreeMap::new(),
            next_resolve: 0,
            admissions: BTreeMap::new(),
            conversations: Vec::new(),
            solicits: BTreeMap::new(),
            reassembly: Reassembler::new(ReassemblyLimits::default()),
            limiter,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            next_maintenance: now.mono.plus(config.maintenance),
            tick: 0,
            idle_ticks: 0,
            idle_mark: (u64::MAX, 0, 0),
            lookup_at: (0, false),
            lookup_backoff: 0,
            timeouts_seen: 0,
            balance_at: 0,
            balance_backoff: 0,
            balance_empty: usize::MAX,
            split_at: (0, false),
            balanced_at: None,
            size_estimate: None,
            seed_cursor: 0,
            next_discovery: None,
            discovery_backoff: core::time::Duration::from_secs(1),
            stats: Stats::default(),
            now,
            config,
        };
        if !node.config.seeds.is_empty() {
            node.set_state(CloudState::Synchronising);
            node.discover();
        }
        node
    }

    // ---- inputs ----------------------------------------------------------

    /// A datagram arrived from `from`. Malformed input is dropped and
    /// counted; nothing here can panic on any bytes.
    pub fn handle_datagram(&mut self, now: Now, from: SocketAddr, data: &[u8]) {
        self.on_datagram(now, from, data);
        self.recheck_idle();
    }

    fn on_datagram(&mut self, now: Now, from: SocketAddr, data: &[u8]) {
        self.now = now;
        self.stats.rx_datagrams += 1;
        self.stats.rx_bytes += data.len() as u64;
        // Design §3: drop datagrams from source ports below 1024.
        if from.port() < 1024 {
            self.stats.dropped_low_port += 1;
            return;
        }
        let Ok(packet) = Packet::decode(data) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        let id = packet.message_id;
        match packet.message {
            Message::Solicit(m) => {
                if self.limiter.allow_solicit(now.mono, from.ip()) {
                    self.on_solicit(from, id, m);
                } else {
                    self.stats.dropped_rate += 1;
                }
            }
            Message::Advertise(m) => self.on_advertise(from, m),
            Message::Request(m) => {
                if self.limiter.allow_request(now.mono, from.ip()) {
                    self.on_request(from, id, m);
                } else {
                    self.stats.dropped_rate += 1;
                }
            }
            Message::Flood(m) => {
                if self.limiter.allow_request(now.mono, from.ip()) {
                    self.on_flood(from, id, m);
                } else {
                    self.stats.dropped_rate += 1;
                }
            }
            Message::Inquire(m) => {
                if self.limiter.allow_request(now.mono, from.ip()) {
                    self.on_inquire(from, id, m);
                } else {
                    self.stats.dropped_rate += 1;
                }
            }
            Message::Lookup(m) => {
                if self.limiter.allow_lookup(now.mono, from.ip()) {
                    self.on_lookup(from, id, m);
                } else {
                    self.stats.dropped_rate += 1;
                }
            }
            Message::Ack(m) => self.on_ack(m),
            Message::Authority(frag) => {
                // Only answers to something we sent are reassembled (§3.1.5.6).
                let Some(entry) = self.pending.get(frag.acked) else {
                    self.stats.dropped_unsolicited += 1;
                    return;
                };
                if entry.to != from {
                    self.stats.dropped_unsolicited += 1;
                    return;
                }
                match self.reassembly.push(now.mono, id, from, &frag) {
                    Reassembled::Complete(buf) => self.on_authority(from, frag.acked, &buf),
                    Reassembled::Pending => {}
                    Reassembled::SizeMismatch | Reassembled::TableFull => {
                        self.stats.dropped_malformed += 1;
                    }
                }
            }
        }
    }

    /// Timers: retransmissions, deadlines, maintenance. Call at (or after)
    /// the instant [`Node::poll_timeout`] returned; early calls do nothing
    /// harmful.
    pub fn handle_timeout(&mut self, now: Now) {
        self.now = now;
        for (id, entry) in self.pending.expired(now.mono) {
            if entry.retries_left > 0 {
                self.stats.retransmits += 1;
                self.push_transmit(entry.to, entry.bytes.clone());
                let first = entry.retries_left == self.config.retries;
                let purpose = entry.purpose;
                let mut e = entry;
                e.retries_left -= 1;
                e.deadline = now.mono.plus(self.config.retransmit);
                self.pending.insert(id, e);
                if first && let Purpose::Lookup { resolve } = purpose {
                    self.on_lookup_slow(resolve, id);
                }
            } else {
                self.reassembly.discard(id, entry.to);
                self.on_give_up(id, entry.purpose);
            }
        }
        self.expire_resolves();
        self.reassembly.expire(now.mono);
        self.conversations.retain(|c| c.expires > now.mono);
        if let Some(t) = self.next_discovery
            && now.mono >= t
        {
            self.next_discovery = None;
            if self.cache.is_empty() {
                self.discover();
            }
        }
        if now.mono >= self.maintenance_deadline() {
            // Grid ticks since the last run, skipped idle ones included.
            let late = now.mono.since(self.next_maintenance).as_micros();
            let period = self.config.maintenance.as_micros().max(1);
            self.tick += 1 + u64::try_from(late / period).unwrap_or(u64::MAX);
            self.next_maintenance = now.mono.plus(self.config.maintenance);
            let due = self.maintenance();
            self.plan_idle_ticks(due);
        }
        self.recheck_idle();
    }

    /// A command from the application.
    pub fn handle_command(&mut self, now: Now, command: Command) {
        self.now = now;
        match command {
            Command::Register {
                request,
                registration,
            } => self.register(request, *registration),
            Command::Unregister { request, name } => self.unregister(request, &name),
            Command::Resolve {
                request,
                name,
                max_results,
                deadline,
            } => self.start_name_resolve(request, &name, max_results.max(1), deadline),
            Command::Cancel { request } => self.cancel(request),
            Command::AddSeed(addr) => {
                if !self.config.seeds.contains(&addr) {
                    self.config.seeds.push(addr);
                }
                if self.cache.is_empty() {
                    self.set_state(CloudState::Synchronising);
                    self.discover();
                }
            }
        }
        self.recheck_idle();
    }

    // ---- outputs ---------------------------------------------------------

    /// The next datagram to send: its bytes replace `buf`'s content and its
    /// destination is returned. Drain until `None` after every input.
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<SocketAddr> {
        let (to, bytes) = self.transmits.pop_front()?;
        buf.clear();
        buf.extend_from_slice(&bytes);
        Some(to)
    }

    /// [`Node::poll_transmit`] handing over the datagram's own buffer
    /// (no copy): its destination and bytes.
    pub fn poll_transmit_owned(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.transmits.pop_front()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest instant at which [`Node::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.maintenance_deadline();
        if let Some(p) = self.pending.next_deadline() {
            t = t.min(p);
        }
        if let Some(r) = self.reassembly.next_deadline() {
            t = t.min(r);
        }
        if let Some(d) = self.next_discovery {
            t = t.min(d);
        }
        for r in self.resolves.values() {
            t = t.min(r.deadline);
        }
        for c in &self.conversations {
            t = t.min(c.expires);
        }
        Some(t)
    }

    // ---- inspection ------------------------------------------------------

    /// The cloud state.
    pub fn state(&self) -> CloudState {
        self.state
    }

    /// The route-entry cache (read only).
    pub fn cache(&self) -> &RouteCache {
        &self.cache
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The PNRP IDs registered on this node.
    pub fn local_ids(&self) -> impl Iterator<Item = &PnrpId> {
        self.registrations.keys()
    }

    /// The node's endpoints in this cloud.
    pub fn local_endpoints(&self) -> &[Endpoint] {
        &self.config.local
    }

    /// An estimate of the node's memory use in bytes (engine state only).
    pub fn memory_bytes(&self) -> usize {
        size_of::<Self>()
            + self.cache.memory_bytes()
            + self.registrations.len() * 512
            + self.pending.memory_bytes()
            + self.resolves.len() * 1024
            + self.admissions.len() * 128
            + self.limiter.memory_bytes()
            + self
                .transmits
                .iter()
                .map(|(_, b)| b.len() + 48)
                .sum::<usize>()
    }

    // ---- helpers shared by the role files ---------------------------------

    pub(super) fn set_state(&mut self, s: CloudState) {
        if self.state != s {
            self.state = s;
            self.events.push_back(Event::StateChanged(s));
        }
    }

    pub(super) fn random_nonce(&mut self) -> Nonce {
        let mut n = [0u8; 16];
        self.rng.fill_bytes(&mut n);
        n
    }

    pub(super) fn random_id(&mut self) -> PnrpId {
        let mut b = [0u8; 32];
        self.rng.fill_bytes(&mut b);
        PnrpId(b)
    }

    fn fresh_message_id(&mut self) -> MessageId {
        loop {
            let id = MessageId(self.rng.next_u32());
            if self.pending.get(id).is_none() {
                return id;
            }
        }
    }

    pub(super) fn push_transmit(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        if self.transmits.len() >= self.config.max_transmit_queue {
            self.stats.dropped_tx_queue += 1;
            return;
        }
        self.stats.tx_datagrams += 1;
        self.stats.tx_bytes += bytes.len() as u64;
        self.transmits.push_back((to, bytes));
    }

    /// Encodes and queues `message` to `to` with a fresh MessageID. With a
    /// `purpose`, the message goes on the Pending List (retransmitted every
    /// `retransmit`, `retries` times). Returns the MessageID, or `None` if the
    /// message could not be encoded or the Pending List is full.
    pub(super) fn send(
        &mut self,
        to: SocketAddr,
        message: Message,
        purpose: Option<Purpose>,
    ) -> Option<MessageId> {
        if purpose.is_some() && self.pending.len() >= self.config.max_pending {
            self.stats.dropped_pending_full += 1;
            return None;
        }
        let id = self.fresh_message_id();
        self.send_with_id(to, id, message, purpose)
    }

    pub(super) fn send_with_id(
        &mut self,
        to: SocketAddr,
        id: MessageId,
        message: Message,
        purpose: Option<Purpose>,
    ) -> Option<MessageId> {
        let packet = Packet {
            message_id: id,
            message,
        };
        let Ok(bytes) = packet.to_vec() else {
            self.stats.encode_errors += 1;
            return None;
        };
        if let Some(purpose) = purpose {
            self.pending.insert(
                id,
                super::pending::Entry {
                    to,
                    bytes: bytes.clone(),
                    retries_left: self.config.retries,
                    deadline: self.now.mono.plus(self.config.retransmit),
                    purpose,
                },
            );
        }
        self.push_transmit(to, bytes);
        Some(id)
    }

    /// Our registration nearest `target` by ring distance (ties to the
    /// smaller ID, as [`PnrpId::cmp_closeness`]): ClosestLocalMatch (digest
    /// §4.4 step 5). The nearest ID of a set is always the first one at or
    /// above the target or the first one below it (wrapping), so two range
    /// lookups answer it however many names the node holds.
    pub(super) fn closest_registration(&self, target: &PnrpId) -> Option<PnrpId> {
        let regs = &self.registrations;
        let (&above, _) = regs
            .range(*target..)
            .next()
            .or_else(|| regs.iter().next())?;
        let (&below, _) = regs
            .range(..*target)
            .next_back()
            .or_else(|| regs.iter().next_back())?;
        Some(if target.cmp_closeness(&below, &above).is_lt() {
            below
        } else {
            above
        })
    }

    /// Our registrations of P2P ID `p2p` (the upper half of their PNRP
    /// IDs), ascending: one contiguous range of the map.
    pub(super) fn registrations_of(&self, p2p: P2pId) -> impl Iterator<Item = PnrpId> + '_ {
        let lo = PnrpId::new(p2p, ServiceLocation::new(0, 0));
        let hi = PnrpId::new(p2p, ServiceLocation::new(u64::MAX, u64::MAX));
        self.registrations.range(lo..=hi).map(|(id, _)| *id)
    }

    /// The route entry of one of our registrations.
    pub(super) fn own_route_entry(&self, id: PnrpId) -> RouteEntry {
        RouteEntry {
            id,
            port: self.config.local.first().map_or(0, |e| e.port),
            addresses: self.config.local.iter().map(|e| e.addr).collect(),
        }
    }

    /// Whether `ep` is one of our own endpoints.
    pub(super) fn is_local_endpoint(&self, ep: &Endpoint) -> bool {
        self.config.local.contains(ep)
    }

    /// The socket address to reach a route entry at (its first address).
    pub(super) fn address_of(re: &RouteEntry) -> Option<SocketAddr> {
        re.endpoints().next().map(Endpoint::to_socket_addr)
    }

    // ---- bootstrap (MS-PNRP §3.1.4.2, §3.1.4.3) ----------------------------

    /// Starts a synchronisation conversation with the next seed (round robin).
    pub(super) fn discover(&mut self) {
        if self.config.seeds.is_empty() {
            return;
        }
        // Try again soon if this round finds nobody (backing off).
        self.next_discovery = Some(self.now.mono.plus(self.discovery_backoff));
        self.discovery_backoff = (self.discovery_backoff * 2).min(self.config.maintenance);
        // Up to two seeds per round, so one dead seed does not stall a join.
        let n = self.config.seeds.len().min(2);
        for _ in 0..n {
            let seed = self.config.seeds[self.seed_cursor % self.config.seeds.len()];
            self.seed_cursor = self.seed_cursor.wrapping_add(1);
            if self.config.local.iter().any(|e| e.to_socket_addr() == seed) {
                continue;
            }
            self.solicit(seed);
        }
    }

    pub(super) fn solicit(&mut self, to: SocketAddr) {
        let nonce = self.random_nonce();
        let route_entry = self
            .registrations
            .keys()
            .next()
            .map(|&id| self.own_route_entry(id));
        let msg = Message::Solicit(Solicit {
            solicit_type: Some(SolicitType::Any),
            route_entry,
            hashed_nonce: hash_nonce(&nonce),
        });
        if let Some(id) = self.send(to, msg, Some(Purpose::Solicit)) {
            self.solicits.insert(id, nonce);
        }
    }

    /// Retries exhausted for the message `id` sent to `to`.
    fn on_give_up(&mut self, id: MessageId, purpose: Purpose) {
        self.stats.timeouts += 1;
        match purpose {
            Purpose::Solicit => {
                self.solicits.remove(&id);
            }
            Purpose::Request => {}
            Purpose::Flood { validate } => {
                // MS-PNRP §3.2.6.3: an unresponsive flood target leaves the cache.
                if !validate.is_zero() {
                    self.cache.remove(&validate);
                }
            }
            Purpose::Admission => self.on_admission_timeout(id),
            Purpose::Orphan { validate } => {
                self.cache.remove(&validate);
            }
            Purpose::Lookup { resolve } => self.on_lookup_timeout(resolve, id),
            Purpose::Inquire { resolve } => self.on_inquire_timeout(resolve, id),
        }
    }

    /// The Maintenance Timer (MS-PNRP §3.1.6.2, §3.2.6.2). Returns the
    /// tick by which the next run has work whatever happens until then.
    fn maintenance(&mut self) -> Option<u64> {
        self.stats.maintenance_ticks += 1;
        if self.cache.is_empty() {
            if self.config.seeds.is_empty() {
                self.set_state(CloudState::Alone);
            } else {
                self.discover();
            }
        } else {
            self.set_state(CloudState::Active);
            self.discovery_backoff = core::time::Duration::from_secs(1);
        }
        // Per-source buckets refill within seconds: idle ones carry nothing.
        self.limiter.expire_idle(self.now.mono);
        // Entries whose CPA has expired leave the cache (digest §3.7).
        let _ = self.cache.evict_expired(self.now.wall);
        self.renew_expiring();
        self.refresh_registrations();
        self.maybe_split_detection();
        // Cache balancing (REASON_CACHE_MAINTENANCE): while a level the
        // cloud fills has an empty sub-bucket, a lookup into it (backing
        // off while the same number stay empty), else now and then toward
        // a random ID, so that the levels fill from answers.
        if self.cache.is_empty() {
            return Some(self.tick + 1);
        }
        let gap = if self.registrations.is_empty() {
            None
        } else {
            self.balancing_target()
        };
        if let Some((target, bucket, empty)) = gap {
            if empty != self.balance_empty {
                self.balance_backoff = 0;
                self.balance_at = self.balance_at.min(self.tick);
            }
            if self.tick >= self.balance_at {
                self.balance_empty = empty;
                self.start_balancing_resolve(target, bucket);
                self.balance_at = self.tick + (1 << self.balance_backoff);
                self.balance_backoff = (self.balance_backoff + 1).min(MAX_BALANCE_BACKOFF);
            }
            return Some(self.balance_at);
        }
        self.balance_backoff = 0;
        self.balance_empty = usize::MAX;
        if self.tick >= self.lookup_at.0 {
            if self.lookup_at.1 {
                self.start_maintenance_resolve();
            }
            // Random lookups find dead entries and fill the levels; a node
            // whose requests all found their peers alive since the last
            // draw has a sound cache and looks less often (down to a
            // 64th of the rate), one that met a dead peer at once again.
            self.lookup_backoff = if self.met_no_dead_peer() {
                (self.lookup_backoff + 1).min(MAX_LOOKUP_BACKOFF)
            } else {
                0
            };
            self.timeouts_seen = self.stats.timeouts;
            let permille = self.config.maintenance_lookup_permille >> self.lookup_backoff;
            self.lookup_at = self.draw_ticks(|r| r % 1000 < permille);
        }
        None
    }

    /// Whether none of this node's requests ran out of retries since the
    /// last draw of the random maintenance lookups: its peers are alive as
    /// far as it can tell.
    pub(super) fn met_no_dead_peer(&self) -> bool {
        self.stats.timeouts == self.timeouts_seen
    }

    /// The first of the next [`MAX_IDLE_TICKS`] grid ticks at which an
    /// event of probability `hit(random u32)` per tick happens, drawn tick
    /// by tick as a per-tick coin would be: `(tick, true)`, or `(last
    /// tick, false)` if none of them.
    pub(super) fn draw_ticks(&mut self, hit: impl Fn(u32) -> bool) -> (u64, bool) {
        for k in 1..=MAX_IDLE_TICKS {
            if hit(self.rng.next_u32()) {
                return (self.tick + k, true);
            }
        }
        (self.tick + MAX_IDLE_TICKS, false)
    }

    /// What an idle stretch of maintenance ticks rests on: the cache's
    /// gap generation (no sub-bucket to balance), the registrations and
    /// the seeds. While it holds, no tick before the planned one has
    /// anything to do.
    fn idle_fingerprint(&self) -> (u64, usize, usize) {
        (
            self.cache.gap_generation(),
            self.registrations.len(),
            self.config.seeds.len(),
        )
    }

    /// After a maintenance run: how many grid ticks from the next one on
    /// have no work (MS-PNRP gives the Maintenance Timer a period, not a
    /// duty per tick: a tick with nothing to do is skipped, which spares
    /// an idle node its wake-ups). Work is the next random lookup or split
    /// test (drawn ahead by [`Node::draw_ticks`]), a registration refresh,
    /// a CPA near expiry, the next balancing lookup or any tick the run
    /// asked for (`due`: an empty cache asks for the next); any change of
    /// [`Node::idle_fingerprint`] brings the next grid tick back.
    fn plan_idle_ticks(&mut self, due: Option<u64>) {
        self.idle_mark = self.idle_fingerprint();
        self.idle_ticks = 0;
        if due.is_some_and(|t| t <= self.tick + 1) {
            return;
        }
        let period_s = self.config.maintenance.as_secs().max(1);
        let horizon = self
            .now
            .wall
            .plus_secs(self.renewal_margin_s() + period_s * (MAX_IDLE_TICKS + 1));
        if self.cache.may_expire_by(horizon) {
            return;
        }
        // The tick indices at which something is due. While a gap waits
        // for its next balancing lookup, no random lookup runs.
        let mut due = due
            .unwrap_or(self.lookup_at.0)
            .min(self.tick + MAX_IDLE_TICKS);
        if !self.registrations.is_empty() && !self.config.seeds.is_empty() {
            due = due.min(self.split_at.0);
        }
        if let Some(r) = self.registrations.values().map(|r| r.next_refresh).min() {
            let wait = r.since(self.next_maintenance).as_micros();
            let period = self.config.maintenance.as_micros().max(1);
            let k = u64::try_from(wait.div_ceil(period)).unwrap_or(u64::MAX);
            due = due.min(self.tick.saturating_add(1).saturating_add(k));
        }
        self.idle_ticks = due.saturating_sub(self.tick + 1);
    }

    /// After an input: if it changed what the planned idle ticks rest on,
    /// maintenance runs again at the next grid tick from now.
    fn recheck_idle(&mut self) {
        if self.idle_ticks == 0 || self.idle_mark == self.idle_fingerprint() {
            return;
        }
        let late = self.now.mono.since(self.next_maintenance).as_micros();
        let period = self.config.maintenance.as_micros().max(1);
        let k = u64::try_from(late.div_ceil(period)).unwrap_or(u64::MAX);
        self.idle_ticks = self.idle_ticks.min(k);
    }

    /// When the next maintenance run is due: the next grid tick after the
    /// planned idle ones.
    pub(super) fn maintenance_deadline(&self) -> Instant {
        let period = u64::try_from(self.config.maintenance.as_micros()).unwrap_or(u64::MAX);
        Instant(
            self.next_maintenance
                .0
                .saturating_add(period.saturating_mul(self.idle_ticks)),
        )
    }
}
