//! The world: a discrete-event loop over real engine nodes (house style
//! §3.10), optionally spread over several threads.
//!
//! # Events and time
//!
//! Node indices are split into `threads` partitions (index `i` belongs to
//! partition `i % threads`). Each partition has its own queue of
//! node-local events — `Ev::Deliver` (a datagram arrives), `Ev::Wake` (a
//! node's timer), `Ev::Register` (a node publishes its name after joining)
//! — and the world has one queue of global events — `Gev::Join` /
//! `Gev::Leave` (churn), `Gev::Lookup` (one scenario resolution),
//! `Gev::Partition` (a split starts or heals), `Gev::Scan` (the periodic
//! forged-record scan) and `Gev::Mark` (the measurement window). Queues
//! are calendar queues (`queue.rs`) keyed by `(time µs, seq)`. The `seq` of
//! a node-local event is `(source node, that node's own counter)`: every
//! node numbers what it schedules, so the key, and with it the order of
//! simultaneous events, does not depend on how the nodes are partitioned.
//! Global events run in the order they were scheduled, before the
//! node-local events of the same instant.
//!
//! The loop alternates global events, run one at a time, and *windows*:
//! every partition processes its node-local events up to the next global
//! event, and with several partitions at most the smallest link delay
//! (`Latency::min`, the lookahead) beyond the earliest pending event.
//! A datagram to another partition cannot arrive inside the window it was
//! sent in, so it waits in an outbox until the window ends (conservative
//! parallel discrete-event simulation). Within a window each partition only
//! touches its own nodes; everything shared (the directory, the network
//! model) is read-only. Resolutions that end inside a window are judged
//! after it, in `(time, request)` order.
//!
//! The virtual clock is the time of the event being processed; nodes get it
//! as [`Now`] (`wall` = a fixed epoch plus the virtual seconds).
//!
//! Each node has at most one live `Wake`: after every input the world
//! drains the node (transmits, then events, then `poll_timeout`) and, if the
//! deadline changed, bumps the node's wake generation and schedules a new
//! `Wake`; a popped `Wake` with an old generation is ignored. The queues
//! thus hold O(nodes + datagrams in flight) entries.
//!
//! # Determinism
//!
//! One master seed; the world's generator (global random choices: seeds of
//! joiners, lookups, churn times), every node's engine seed (`(seed, index,
//! incarnation)`), each malicious node's generator and the network's loss
//! and jitter draws (a hash of the seed and the datagram's key) derive from
//! it. Only ordered containers are iterated. Every processed event is
//! folded into an [`EventHash`]: global events and commands into the
//! world's, node-local events into the node's own (in the node's order);
//! [`World::event_hash`] combines them in index order. The result — and
//! the whole run — is the same for any number of threads.
//!
//! # Lookups and attribution
//!
//! A resolution started through [`World::resolve`] (or by the scenario's
//! lookup schedule) is judged when its `Event::Resolved` arrives: success
//! means a returned record whose P2P ID is the name's, whose key is the
//! name's legitimate key and whose application endpoint is the address of
//! one of the name's publishers. While it runs, the datagrams its node sends
//! — LOOKUPs with reason APP_REQUEST for the same P2P ID and the final
//! INQUIRE (the only INQUIRE asking for the payload) — and the AUTHORITY
//! fragments that answer those message IDs are counted as its messages.

use core::time::Duration;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, mpsc};

use pnrp::cpa::{AppEndpoint, PROTO_TCP};
use pnrp::crypto::PublicKey;
use pnrp::engine::{
    Command, Config, Event, Node, Now, RegisterError, Registration, RequestId, ResolveError,
    Resolved, SharedSigner,
};
use pnrp::id::{P2pId, PnrpId};
use pnrp::name::{Authority, PeerName};
use pnrp::time::{Instant, UnixTime};
use pnrp::wire::{Endpoint, Message, MessageId, Packet, ResolveReason};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use sha2::{Digest, Sha256};

use super::crypto::{CryptoMode, KeyFactory, SharedVerifier};
use super::malicious::{self, Action, Adversary, Behaviour};
use super::metrics::{EngineTotals, EventHash, LookupStats, Metrics, kind, reason};
use super::net::{
    self, Latency, Lifetime, NetModel, Partition, addr_of, below, index_of, index_of_ip,
};
use super::queue::CalendarQueue;

/// The wall-clock epoch of virtual time 0 (CPA validity windows).
pub const EPOCH: UnixTime = UnixTime(1_790_000_000);

/// A node's index (its address is [`addr_of`] of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeIdx(pub u32);

/// A published name's index in the [`Directory`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NameIdx(pub u32);

/// Whether a node follows the protocol.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Role {
    /// A well-behaved node.
    Honest,
    /// A node whose traffic `malicious::intercept` tampers with.
    Malicious(Behaviour),
}

/// Parameters of a [`World`].
#[derive(Debug, Clone)]
pub struct WorldConfig {
    /// Master seed.
    pub seed: u64,
    /// Signature scheme.
    pub crypto: CryptoMode,
    /// Latency model.
    pub latency: Latency,
    /// Loss probability per datagram.
    pub loss: f64,
    /// Engine configuration template (`local` and `seeds` are set per node).
    pub engine: Config,
    /// Check every node's cache invariants after each of its inputs.
    pub check_invariants: bool,
    /// Deadline of scenario lookups.
    pub lookup_timeout: Duration,
    /// A scenario lookup's issuer and target publisher must have been up
    /// (respectively registered) this long.
    pub grace: Duration,
    /// Delay between a node's start and its registration (scenario joins).
    pub register_delay: Duration,
    /// Session length distribution (scenario joins schedule a leave).
    pub session: Lifetime,
    /// Off-time distribution (a left node rejoins after it).
    pub offtime: Lifetime,
    /// Node partitions processed in parallel, one thread each (≥ 1). The
    /// run is the same event for event whatever the value.
    pub threads: usize,
}

impl Default for WorldConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            crypto: CryptoMode::Sim,
            latency: Latency::default(),
            loss: 0.0,
            engine: Config::default(),
            check_invariants: cfg!(debug_assertions),
            lookup_timeout: Duration::from_secs(20),
            grace: Duration::from_secs(30),
            register_delay: Duration::from_secs(5),
            session: Lifetime::Forever,
            offtime: Lifetime::Forever,
            threads: 1,
        }
    }
}

/// One published name: public knowledge.
#[derive(Debug, Clone)]
pub struct NameRecord {
    /// The peer name.
    pub name: PeerName,
    /// The key its records must be signed with.
    pub public: PublicKey,
    /// Published by honest nodes.
    pub honest: bool,
    /// The nodes that publish it (when live and registered).
    pub publishers: Vec<u32>,
}

/// Every name of the simulation, by index and by P2P ID.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    names: Vec<NameRecord>,
    by_p2p: BTreeMap<P2pId, u32>,
}

impl Directory {
    /// The name with this P2P ID.
    pub fn by_p2p(&self, p2p: &P2pId) -> Option<&NameRecord> {
        self.by_p2p.get(p2p).map(|&i| &self.names[i as usize])
    }

    /// The index of the name with this P2P ID.
    pub fn index_of(&self, p2p: &P2pId) -> Option<NameIdx> {
        self.by_p2p.get(p2p).map(|&i| NameIdx(i))
    }

    /// A name by index.
    pub fn get(&self, i: NameIdx) -> Option<&NameRecord> {
        self.names.get(i.0 as usize)
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// `true` when no name exists.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// How a lookup was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A verified record of the intended publisher came back.
    Success {
        /// Its `Resolved::hops`.
        hops: u32,
    },
    /// Counted as a failure, with the reason.
    Failed(&'static str),
    /// Left out of the success rate, with the reason.
    Excluded(&'static str),
}

/// The terminal event of a command issued through the world.
#[derive(Debug, Clone)]
pub enum OutcomeKind {
    /// `Event::Registered`.
    Registered(Result<PnrpId, RegisterError>),
    /// `Event::Unregistered` (how many registrations were withdrawn).
    Unregistered(usize),
    /// `Event::Resolved`, with the world's judgement.
    Resolved {
        /// The engine's answer.
        result: Result<Vec<Resolved>, ResolveError>,
        /// Success, failure or exclusion.
        verdict: Verdict,
        /// Attributed datagrams.
        messages: u32,
    },
    /// The node stopped before answering.
    Aborted,
}

/// A finished command.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The node that ran it.
    pub node: NodeIdx,
    /// When it finished (virtual time).
    pub at: Duration,
    /// What happened.
    pub kind: OutcomeKind,
}

/// What a cache scan found in honest nodes' caches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanResult {
    /// Route entries.
    pub entries: u64,
    /// Entries holding a CPA not signed by the name's legitimate key.
    pub forged: u64,
    /// Entries pointing at a malicious node that does not hold the ID.
    pub poisoned: u64,
    /// Entries pointing at a dead node or at an honest node without the ID.
    pub stale: u64,
}

/// One datagram sent by a traced node ([`World::trace`]).
#[derive(Debug, Clone)]
pub struct TraceRecord {
    /// When it was sent.
    pub at: Duration,
    /// The sender.
    pub from: NodeIdx,
    /// The destination.
    pub to: NodeIdx,
    /// The decoded message (`None` if it did not decode).
    pub packet: Option<Packet>,
}

/// A node-local event (a partition's queue).
#[derive(Debug)]
pub(crate) enum Ev {
    /// A datagram arrives at `to`.
    Deliver { to: u32, from: u32, bytes: Vec<u8> },
    /// `node`'s timer, valid if `gen` is still its wake generation.
    Wake { node: u32, generation: u32 },
    /// `node` registers its name if it is still incarnation `incarnation`.
    Register { node: u32, incarnation: u32 },
}

/// A global event (the world's queue): run alone, between windows.
#[derive(Debug)]
pub(crate) enum Gev {
    /// `node` starts (initial join or rejoin after churn).
    Join { node: u32 },
    /// `node` leaves if it is still incarnation `incarnation`.
    Leave { node: u32, incarnation: u32 },
    /// One scenario lookup from a random issuer for a random name.
    Lookup,
    /// Partition `index` starts (`true`) or heals.
    Partition { index: u32, active: bool },
    /// Scan honest caches for forged records, then again after `period_us`.
    Scan { period_us: u64 },
    /// Measurement window start (0) or end (1).
    Mark(u8),
}

/// A resolution in progress.
#[derive(Debug)]
struct LookupRec {
    node: u32,
    name: Option<u32>,
    p2p: P2pId,
    issued: u64,
    scenario: bool,
    messages: u32,
    message_ids: Vec<MessageId>,
}

#[derive(Debug)]
enum Req {
    Register { node: u32, name: u32 },
    Unregister { node: u32, name: u32 },
    Resolve(Box<LookupRec>),
}

impl Req {
    fn node(&self) -> u32 {
        match self {
            Self::Register { node, .. } | Self::Unregister { node, .. } => *node,
            Self::Resolve(r) => r.node,
        }
    }
}

/// A terminal event seen inside a window, handled after it.
#[derive(Debug)]
enum Finished {
    /// A registration or withdrawal ended.
    Outcome { request: u64, outcome: Outcome },
    /// A resolution ended: judged after the window.
    Resolved {
        at: u64,
        request: u64,
        rec: Box<LookupRec>,
        result: Result<Vec<Resolved>, ResolveError>,
    },
}

impl Finished {
    fn key(&self) -> (u64, u64) {
        match self {
            Self::Outcome { request, outcome } => (micros(outcome.at), *request),
            Self::Resolved { at, request, .. } => (*at, *request),
        }
    }
}

/// One node index: the engine (when live) and the world's bookkeeping.
#[derive(Debug)]
struct Slot {
    node: Option<Node>,
    role: Role,
    incarnation: u32,
    wake_generation: u32,
    wake_at: u64,
    up_since: u64,
    /// Events this node has scheduled (the `seq` of their keys).
    scheduled: u32,
    /// The node's own event hash.
    hash: EventHash,
    /// A malicious node's generator.
    rng: Option<Box<ChaCha8Rng>>,
    /// The name this index publishes after each (scenario) join.
    publishes: Option<u32>,
    /// Live registrations: (name, ID, since).
    registered: Vec<(u32, PnrpId, u64)>,
    /// Resolutions running on this node (request ids).
    active: Vec<u64>,
    /// The engine's `cpa_generation` when the forged-record scan last
    /// looked at its cache (0 for a fresh engine, which holds no CPA).
    scanned_cpas: u64,
}

/// The measurement window's counters.
#[derive(Debug, Clone, Copy, Default)]
struct Snapshot {
    at: u64,
    bytes: u64,
    datagrams: u64,
    by_type: [u64; 16],
    node_us: u128,
}

/// What every partition reads and nobody writes during a window.
struct Shared {
    cfg: WorldConfig,
    net: NetModel,
    directory: Directory,
    signers: Vec<SharedSigner>,
    verifier: SharedVerifier,
    traced: BTreeSet<u32>,
    /// Node indices in the world.
    total: u32,
    /// Partitions.
    parts: u32,
}

/// One partition: its nodes, their queue and their counters.
#[derive(Debug)]
struct Part {
    index: u32,
    /// Partitions in the world (node `i` is at `slots[i / stride]`).
    stride: u32,
    now: u64,
    slots: Vec<Slot>,
    queue: CalendarQueue<Ev>,
    metrics: Metrics,
    requests: BTreeMap<u64, Req>,
    finished: Vec<Finished>,
    /// Datagrams for other partitions: (target partition, at, seq, event).
    outbox: Vec<(u32, u64, u64, Ev)>,
    trace: Vec<TraceRecord>,
}

/// The simulated cloud. See the module documentation.
pub struct World {
    shared: Arc<Shared>,
    parts: Vec<Part>,
    now: u64,
    gseq: u64,
    gqueue: CalendarQueue<Gev>,
    rng: ChaCha8Rng,
    keys: KeyFactory,
    honest_names: Vec<u32>,
    next_request: u64,
    outcomes: BTreeMap<u64, Outcome>,
    metrics: Metrics,
    lookups: LookupStats,
    engine_totals: EngineTotals,
    forged: BTreeSet<(u32, [u8; 32], [u8; 33])>,
    hash: EventHash,
    live: u64,
    node_us: u128,
    window: [Option<Snapshot>; 2],
    trace: Vec<TraceRecord>,
}

impl core::fmt::Debug for World {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("World")
            .field("now_us", &self.now)
            .field("nodes", &self.shared.total)
            .field("live", &self.live)
            .field(
                "queued",
                &(self.gqueue.len() + self.parts.iter().map(|p| p.queue.len()).sum::<usize>()),
            )
            .finish_non_exhaustive()
    }
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn now_struct(t: u64) -> Now {
    Now {
        mono: Instant(t),
        wall: EPOCH.plus_secs(t / 1_000_000),
    }
}

/// Runs one window: every partition processes its events before `until`.
type WindowFn<'a> = dyn FnMut(&mut Vec<Part>, &Arc<Shared>, u64) + 'a;

/// Receives from `rx`, spinning a little first: windows are short (a few
/// milliseconds of virtual time), and parking a thread for each costs more
/// than the window itself.
fn recv_soon<T>(rx: &mpsc::Receiver<T>) -> Option<T> {
    for k in 0..4_000u32 {
        match rx.try_recv() {
            Ok(v) => return Some(v),
            Err(mpsc::TryRecvError::Disconnected) => return None,
            Err(mpsc::TryRecvError::Empty) if k % 64 == 63 => std::thread::yield_now(),
            Err(mpsc::TryRecvError::Empty) => core::hint::spin_loop(),
        }
    }
    rx.recv().ok()
}

/// The request id of the scenario registration of `node`'s incarnation
/// `inc` (made inside a window, so it cannot come from the world's
/// counter): the top bit set, then the incarnation and the index.
fn scenario_register_request(node: u32, inc: u32) -> u64 {
    (1 << 63) | (u64::from(inc) << 32) | u64::from(node)
}
impl Part {
    fn slot(&self, i: u32) -> &Slot {
        &self.slots[(i / self.stride) as usize]
    }

    fn slot_mut(&mut self, i: u32) -> &mut Slot {
        let k = (i / self.stride) as usize;
        &mut self.slots[k]
    }

    /// Queues a node-local event that node `src` schedules at `at`, for a
    /// node of partition `target`.
    fn push(&mut self, src: u32, target: u32, at: u64, ev: Ev) -> u64 {
        let slot = self.slot_mut(src);
        slot.scheduled = slot.scheduled.wrapping_add(1);
        let seq = (u64::from(src) << 32) | u64::from(slot.scheduled);
        let at = at.max(self.now);
        if target == self.index {
            self.queue.push(at, seq, ev);
        } else {
            self.outbox.push((target, at, seq, ev));
        }
        seq
    }

    /// Processes every node-local event before `until`.
    fn run_window(&mut self, sh: &Shared, until: u64) {
        while self.queue.peek_at().is_some_and(|at| at < until) {
            let Some(q) = self.queue.pop() else { break };
            self.now = q.at;
            self.metrics.events += 1;
            self.dispatch(sh, q.item);
        }
    }

    fn dispatch(&mut self, sh: &Shared, ev: Ev) {
        let t = self.now;
        match ev {
            Ev::Deliver { to, from, bytes } => {
                let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
                self.slot_mut(to).hash.add(t, kind::DELIVER, from, to, len);
                self.deliver(sh, to, from, &bytes);
            }
            Ev::Wake { node, generation } => {
                let slot = self.slot_mut(node);
                slot.hash.add(t, kind::WAKE, node, node, generation);
                if slot.wake_generation != generation || slot.node.is_none() {
                    self.metrics.stale_wakes += 1;
                    return;
                }
                slot.wake_at = u64::MAX;
                if let Some(n) = slot.node.as_mut() {
                    n.handle_timeout(now_struct(t));
                }
                self.after_input(sh, node, true);
            }
            Ev::Register { node, incarnation } => {
                let slot = self.slot_mut(node);
                slot.hash.add(t, kind::REGISTER, node, node, incarnation);
                if slot.incarnation == incarnation
                    && slot.node.is_some()
                    && let Some(name) = slot.publishes
                {
                    // `set_publisher` already listed the node as a publisher.
                    let r = scenario_register_request(node, incarnation);
                    self.register(sh, node, name, r);
                }
            }
        }
    }

    fn command(&mut self, sh: &Shared, i: u32, cmd: Command) {
        let now = now_struct(self.now);
        if let Some(node) = self.slot_mut(i).node.as_mut() {
            node.handle_command(now, cmd);
            self.after_input(sh, i, false);
        }
    }

    /// Registers `name` on node `i` as request `r`.
    fn register(&mut self, sh: &Shared, i: u32, name: u32, r: u64) {
        let rec = &sh.directory.names[name as usize];
        let registration = Registration {
            name: rec.name.clone(),
            signer: sh.signers[name as usize].clone(),
            endpoints: vec![AppEndpoint::new(
                SocketAddr::new(addr_of(i).ip(), 443),
                PROTO_TCP,
            )],
            comment: None,
            payload: None,
            prefix: None,
        };
        self.requests.insert(r, Req::Register { node: i, name });
        self.command(
            sh,
            i,
            Command::Register {
                request: RequestId(r),
                registration: Box::new(registration),
            },
        );
    }

    fn deliver(&mut self, sh: &Shared, to: u32, from: u32, bytes: &[u8]) {
        let now = now_struct(self.now);
        let k = (to / self.stride) as usize;
        if self.slots[k].node.is_none() {
            self.metrics.dropped_dead += 1;
            return;
        }
        self.metrics.delivered += 1;
        let slot = &self.slots[k];
        // A malicious node acts once it has an identity of its own (the
        // name it publishes); until then it behaves.
        if let (Role::Malicious(behaviour), Some(name)) = (slot.role, slot.publishes) {
            let own_ids: Vec<PnrpId> = slot
                .node
                .as_ref()
                .map(|n| n.local_ids().copied().collect())
                .unwrap_or_default();
            let Some(rng) = self.slots[k].rng.as_deref_mut() else {
                return;
            };
            let mut adv = Adversary {
                me: addr_of(to),
                own_ids,
                signer: &sh.signers[name as usize],
                directory: &sh.directory,
                rng,
                wall: now.wall,
                metrics: &mut self.metrics,
                behaviour,
            };
            match malicious::intercept(&mut adv, bytes) {
                Action::Pass => {}
                Action::Drop => return,
                Action::Reply(out) => {
                    for d in out {
                        self.transmit(sh, to, addr_of(from), d);
                    }
                    return;
                }
            }
        }
        if !self.slot(to).active.is_empty() {
            self.attribute_received(to, bytes);
        }
        if let Some(node) = self.slot_mut(to).node.as_mut() {
            node.handle_datagram(now, addr_of(from), bytes);
        }
        self.after_input(sh, to, false);
    }

    fn transmit(&mut self, sh: &Shared, from: u32, to: SocketAddr, bytes: Vec<u8>) {
        self.metrics.datagrams_sent += 1;
        self.metrics.bytes_sent += bytes.len() as u64;
        if let Some(&t) = bytes.get(7) {
            self.metrics.sent_by_type[usize::from(t & 0x0f)] += 1;
        }
        let Some(j) = index_of(&to).filter(|&j| j < sh.total) else {
            self.metrics.dropped_unroutable += 1;
            return;
        };
        if !self.slot(from).active.is_empty() {
            self.attribute_sent(from, &bytes);
        }
        if sh.traced.contains(&from) {
            self.trace.push(TraceRecord {
                at: Duration::from_micros(self.now),
                from: NodeIdx(from),
                to: NodeIdx(j),
                packet: Packet::decode(&bytes).ok(),
            });
        }
        let slot = self.slot_mut(from);
        slot.scheduled = slot.scheduled.wrapping_add(1);
        let key = (u64::from(from) << 32) | u64::from(slot.scheduled);
        match sh.net.carry(from, j, key) {
            Ok(delay) => {
                let at = self.now.saturating_add(delay);
                let ev = Ev::Deliver { to: j, from, bytes };
                let target = j % sh.parts;
                if target == self.index {
                    self.queue.push(at, key, ev);
                } else {
                    self.outbox.push((target, at, key, ev));
                }
            }
            Err(net::Drop::Loss) => self.metrics.dropped_loss += 1,
            Err(net::Drop::Partition) => self.metrics.dropped_partition += 1,
        }
    }

    /// Counts a datagram `i` sends toward the lookup it belongs to.
    fn attribute_sent(&mut self, i: u32, bytes: &[u8]) {
        let Ok(p) = Packet::decode(bytes) else { return };
        let p2p = match &p.message {
            Message::Lookup(l) if l.reason == ResolveReason::APP_REQUEST => l.target.p2p_id(),
            Message::Inquire(q) if q.want_payload => q.validate.p2p_id(),
            _ => return,
        };
        let k = (i / self.stride) as usize;
        for r in &self.slots[k].active {
            if let Some(Req::Resolve(rec)) = self.requests.get_mut(r)
                && rec.p2p == p2p
            {
                rec.messages += 1;
                if !rec.message_ids.contains(&p.message_id) {
                    rec.message_ids.push(p.message_id);
                }
                return;
            }
        }
    }

    /// Counts an AUTHORITY `i` receives toward the lookup whose message it
    /// answers.
    fn attribute_received(&mut self, i: u32, bytes: &[u8]) {
        if bytes.get(7) != Some(&0x08) {
            return;
        }
        let Ok(Packet {
            message: Message::Authority(f),
            ..
        }) = Packet::decode(bytes)
        else {
            return;
        };
        let k = (i / self.stride) as usize;
        for r in &self.slots[k].active {
            if let Some(Req::Resolve(rec)) = self.requests.get_mut(r)
                && rec.message_ids.contains(&f.acked)
            {
                rec.messages += 1;
                return;
            }
        }
    }

    /// Drains node `i` after an input (transmits, events, timer) in the
    /// order of the engine's call contract.
    fn after_input(&mut self, sh: &Shared, i: u32, woke: bool) {
        while let Some((to, bytes)) = self
            .slot_mut(i)
            .node
            .as_mut()
            .and_then(Node::poll_transmit_owned)
        {
            self.transmit(sh, i, to, bytes);
        }
        while let Some(ev) = self.slot_mut(i).node.as_mut().and_then(Node::poll_event) {
            self.on_node_event(i, ev);
        }
        let now = self.now;
        let k = (i / self.stride) as usize;
        let slot = &self.slots[k];
        let Some(node) = slot.node.as_ref() else {
            return;
        };
        if sh.cfg.check_invariants && node.cache().check_invariants().is_err() {
            self.metrics.invariant_violations += 1;
        }
        let mut t = node.poll_timeout().map_or(u64::MAX, |t| t.0);
        if woke && t <= now {
            self.metrics.stuck_timers += 1;
            t = now + 1_000;
        }
        let t = t.max(now);
        if t != slot.wake_at {
            let slot = &mut self.slots[k];
            slot.wake_generation = slot.wake_generation.wrapping_add(1);
            slot.wake_at = t;
            if t != u64::MAX {
                let generation = slot.wake_generation;
                self.push(
                    i,
                    self.index,
                    t,
                    Ev::Wake {
                        node: i,
                        generation,
                    },
                );
            }
        }
    }

    fn on_node_event(&mut self, i: u32, ev: Event) {
        let at = Duration::from_micros(self.now);
        let (request, kind) = match ev {
            Event::StateChanged(_) => return,
            Event::Registered { request, result } => {
                if let Some(Req::Register { node, name }) = self.requests.get(&request.0)
                    && *node == i
                    && let Ok(id) = result
                {
                    let (name, now) = (*name, self.now);
                    self.slot_mut(i).registered.push((name, id, now));
                }
                (request, OutcomeKind::Registered(result))
            }
            Event::Unregistered { request, removed } => {
                if let Some(Req::Unregister { node, name }) = self.requests.get(&request.0)
                    && *node == i
                {
                    let name = *name;
                    self.slot_mut(i).registered.retain(|&(n, _, _)| n != name);
                }
                (request, OutcomeKind::Unregistered(removed))
            }
            Event::Resolved { request, result } => {
                self.slot_mut(i).active.retain(|&r| r != request.0);
                match self.requests.remove(&request.0) {
                    Some(Req::Resolve(rec)) if rec.node == i => {
                        self.finished.push(Finished::Resolved {
                            at: self.now,
                            request: request.0,
                            rec,
                            result,
                        });
                    }
                    _ => self.metrics.unexpected_events += 1,
                }
                return;
            }
        };
        match self.requests.remove(&request.0) {
            Some(r) if r.node() == i => self.finished.push(Finished::Outcome {
                request: request.0,
                outcome: Outcome {
                    node: NodeIdx(i),
                    at,
                    kind,
                },
            }),
            _ => self.metrics.unexpected_events += 1,
        }
    }
}
impl World {
    /// An empty world.
    pub fn new(cfg: WorldConfig) -> Self {
        let keys = KeyFactory::new(cfg.crypto, cfg.seed);
        let rng = ChaCha8Rng::from_seed(sha256(&[b"pnrp-sim world", &cfg.seed.to_le_bytes()]));
        let parts = u32::try_from(cfg.threads.clamp(1, 64)).unwrap_or(1);
        Self {
            shared: Arc::new(Shared {
                net: NetModel::new(cfg.seed, cfg.latency, cfg.loss),
                directory: Directory::default(),
                signers: Vec::new(),
                verifier: keys.verifier(),
                traced: BTreeSet::new(),
                total: 0,
                parts,
                cfg,
            }),
            parts: (0..parts)
                .map(|index| Part {
                    index,
                    stride: parts,
                    now: 0,
                    slots: Vec::new(),
                    queue: CalendarQueue::default(),
                    metrics: Metrics::default(),
                    requests: BTreeMap::new(),
                    finished: Vec::new(),
                    outbox: Vec::new(),
                    trace: Vec::new(),
                })
                .collect(),
            keys,
            rng,
            now: 0,
            gseq: 0,
            gqueue: CalendarQueue::default(),
            honest_names: Vec::new(),
            next_request: 1,
            outcomes: BTreeMap::new(),
            metrics: Metrics::default(),
            lookups: LookupStats::default(),
            engine_totals: EngineTotals::default(),
            forged: BTreeSet::new(),
            hash: EventHash::default(),
            live: 0,
            node_us: 0,
            window: [None, None],
            trace: Vec::new(),
        }
    }

    /// The shared state, writable: only between windows (no worker holds
    /// a reference then).
    fn sh_mut(&mut self) -> &mut Shared {
        Arc::get_mut(&mut self.shared).expect("no window is running")
    }

    fn slot(&self, i: u32) -> &Slot {
        self.parts[(i % self.shared.parts) as usize].slot(i)
    }

    fn slot_mut(&mut self, i: u32) -> &mut Slot {
        let p = (i % self.shared.parts) as usize;
        self.parts[p].slot_mut(i)
    }

    /// Every slot with its index, in no particular order.
    fn slots(&self) -> impl Iterator<Item = (u32, &Slot)> {
        let stride = self.shared.parts;
        self.parts.iter().flat_map(move |p| {
            p.slots
                .iter()
                .enumerate()
                .map(move |(k, s)| (k as u32 * stride + p.index, s))
        })
    }

    /// The partition of node `i` (its clock set to the world's) and the
    /// shared state, for an input made between windows.
    fn part_of(&mut self, i: u32) -> (&Shared, &mut Part) {
        let p = &mut self.parts[(i % self.shared.parts) as usize];
        p.now = self.now;
        (&self.shared, p)
    }

    // ---- set-up ------------------------------------------------------------

    /// Adds a node index (not started). Nodes are numbered from 0.
    pub fn add_node(&mut self, role: Role) -> NodeIdx {
        let i = self.shared.total;
        let rng = matches!(role, Role::Malicious(_)).then(|| {
            Box::new(ChaCha8Rng::from_seed(sha256(&[
                b"pnrp-sim adversary",
                &self.shared.cfg.seed.to_le_bytes(),
                &i.to_le_bytes(),
            ])))
        });
        let sh = self.sh_mut();
        sh.total = i.checked_add(1).expect("fewer than 2^32 nodes");
        let p = (i % sh.parts) as usize;
        self.parts[p].slots.push(Slot {
            node: None,
            role,
            incarnation: 0,
            wake_generation: 0,
            wake_at: u64::MAX,
            up_since: 0,
            scheduled: 0,
            hash: EventHash::default(),
            rng,
            publishes: None,
            registered: Vec::new(),
            active: Vec::new(),
            scanned_cpas: 0,
        });
        NodeIdx(i)
    }

    /// Adds a node and starts it now with these seeds.
    pub fn spawn(&mut self, role: Role, seeds: &[NodeIdx]) -> NodeIdx {
        let i = self.add_node(role);
        self.start(i, seeds);
        i
    }

    /// A new name with its own identity: secured (`<authority>.<classifier>`)
    /// or unsecured (`0.<classifier>`). Malicious names are marked
    /// `honest = false`.
    pub fn new_name(&mut self, classifier: &str, secured: bool, honest: bool) -> NameIdx {
        let i = u32::try_from(self.shared.directory.names.len()).expect("fewer than 2^32 names");
        let signer = self.keys.signer(i);
        let public = signer.public_key();
        let authority = if secured {
            Authority::Secured(public.authority())
        } else {
            Authority::Unsecured
        };
        let name = PeerName::new(authority, classifier).expect("simulator classifiers are valid");
        let sh = self.sh_mut();
        sh.directory.by_p2p.insert(name.p2p_id(), i);
        sh.directory.names.push(NameRecord {
            name,
            public,
            honest,
            publishers: Vec::new(),
        });
        sh.signers.push(signer);
        if honest {
            self.honest_names.push(i);
        }
        NameIdx(i)
    }

    /// Makes `node` publish `name` after every scenario join
    /// (`Gev::Join`), and records it as a publisher.
    pub fn set_publisher(&mut self, node: NodeIdx, name: NameIdx) {
        self.slot_mut(node.0).publishes = Some(name.0);
        self.add_publisher(node, name);
    }

    fn add_publisher(&mut self, node: NodeIdx, name: NameIdx) {
        if let Some(r) = self.sh_mut().directory.names.get_mut(name.0 as usize)
            && !r.publishers.contains(&node.0)
        {
            r.publishers.push(node.0);
        }
    }

    /// Schedules a partition (start and heal events). Returns its index.
    pub fn add_partition(&mut self, p: Partition) -> usize {
        let start = micros(p.start);
        let end = start.saturating_add(micros(p.duration));
        let n = self.shared.total;
        let index = self.sh_mut().net.add_partition(p, n);
        let ix = u32::try_from(index).unwrap_or(u32::MAX);
        self.push(
            start,
            Gev::Partition {
                index: ix,
                active: true,
            },
        );
        self.push(
            end,
            Gev::Partition {
                index: ix,
                active: false,
            },
        );
        index
    }

    /// Splits `side_a` from everyone else from now until [`World::heal`].
    pub fn split(&mut self, side_a: &[NodeIdx]) -> usize {
        let n = self.shared.total;
        let p = Partition {
            start: self.now(),
            duration: Duration::MAX,
            side_a: net::Side::Nodes(side_a.iter().map(|i| i.0).collect()),
        };
        let sh = self.sh_mut();
        let index = sh.net.add_partition(p, n);
        sh.net.set_partition(index, true);
        self.hash_command(0, 0);
        index
    }

    /// Ends partition `index` now.
    pub fn heal(&mut self, index: usize) {
        self.sh_mut().net.set_partition(index, false);
        self.hash_command(0, 0);
    }

    fn push(&mut self, at: u64, ev: Gev) {
        self.gseq += 1;
        self.gqueue.push(at.max(self.now), self.gseq, ev);
    }

    /// Schedules a scenario join of `node` at virtual time `at`.
    pub fn schedule_join(&mut self, node: NodeIdx, at: Duration) {
        self.push(micros(at), Gev::Join { node: node.0 });
    }

    /// Schedules one scenario lookup at `at`.
    pub fn schedule_lookup(&mut self, at: Duration) {
        self.push(micros(at), Gev::Lookup);
    }

    /// Schedules periodic forged-record scans from `at`.
    pub fn schedule_scans(&mut self, at: Duration, period: Duration) {
        self.push(
            micros(at),
            Gev::Scan {
                period_us: micros(period).max(1),
            },
        );
    }

    /// Schedules the measurement window `[start, end)`.
    pub fn schedule_window(&mut self, start: Duration, end: Duration) {
        self.push(micros(start), Gev::Mark(0));
        self.push(micros(end), Gev::Mark(1));
    }

    // ---- node life ---------------------------------------------------------

    /// Starts `node` now (a fresh engine: new seed, empty state) with these
    /// seeds. A live node is restarted.
    pub fn start(&mut self, node: NodeIdx, seeds: &[NodeIdx]) {
        self.hash_command(node.0, node.0);
        let seeds: Vec<SocketAddr> = seeds.iter().map(|s| addr_of(s.0)).collect();
        self.start_inner(node.0, seeds);
    }

    fn start_inner(&mut self, i: u32, seeds: Vec<SocketAddr>) {
        if self.slot(i).node.is_some() {
            self.stop_inner(i);
        }
        let now = self.now;
        let master = self.shared.cfg.seed;
        let config = Config {
            local: vec![Endpoint::from_socket_addr(addr_of(i))],
            seeds,
            ..self.shared.cfg.engine.clone()
        };
        let verifier = self.shared.verifier.clone();
        let slot = self.slot_mut(i);
        slot.incarnation += 1;
        let seed = sha256(&[
            b"pnrp-sim node",
            &master.to_le_bytes(),
            &i.to_le_bytes(),
            &slot.incarnation.to_le_bytes(),
        ]);
        slot.node = Some(Node::new(config, verifier, seed, now_struct(now)));
        slot.up_since = now;
        slot.registered.clear();
        slot.wake_at = u64::MAX;
        slot.scanned_cpas = 0;
        self.live += 1;
        self.metrics.joins += 1;
        let (sh, part) = self.part_of(i);
        part.after_input(sh, i, false);
    }

    /// Stops `node` now: its engine and all its state are dropped; its
    /// running requests end as [`OutcomeKind::Aborted`].
    pub fn stop(&mut self, node: NodeIdx) {
        self.hash_command(node.0, node.0);
        self.stop_inner(node.0);
    }

    fn stop_inner(&mut self, i: u32) {
        let slot = self.slot_mut(i);
        let Some(node) = slot.node.take() else {
            return;
        };
        slot.wake_generation = slot.wake_generation.wrapping_add(1);
        slot.wake_at = u64::MAX;
        slot.registered.clear();
        slot.active.clear();
        self.engine_totals.add(node.stats());
        self.live -= 1;
        self.metrics.leaves += 1;
        let p = (i % self.shared.parts) as usize;
        let requests = &mut self.parts[p].requests;
        let mine: Vec<u64> = requests
            .iter()
            .filter(|(_, r)| r.node() == i)
            .map(|(k, _)| *k)
            .collect();
        for k in mine {
            if let Some(Req::Resolve(rec)) = self.parts[p].requests.remove(&k) {
                if rec.scenario {
                    *self
                        .lookups
                        .excluded
                        .entry(reason::ISSUER_LEFT)
                        .or_default() += 1;
                } else {
                    self.outcomes.insert(
                        k,
                        Outcome {
                            node: NodeIdx(i),
                            at: Duration::from_micros(self.now),
                            kind: OutcomeKind::Aborted,
                        },
                    );
                }
            }
        }
    }

    // ---- commands ----------------------------------------------------------

    fn hash_command(&mut self, src: u32, dst: u32) {
        self.hash.add(self.now, kind::COMMAND, src, dst, 0);
    }

    fn command(&mut self, i: u32, cmd: Command) {
        let (sh, part) = self.part_of(i);
        part.command(sh, i, cmd);
        self.after_commands();
    }

    /// Handles what a command made happen at once (a resolution refused
    /// as busy, a datagram to another partition).
    fn after_commands(&mut self) {
        self.flush_outboxes();
        self.process_finished();
    }

    fn fresh_request(&mut self) -> u64 {
        let r = self.next_request;
        self.next_request += 1;
        r
    }

    /// Registers `name` on `node` (secured names with the name's identity).
    /// The application endpoint is `[node address]:443/tcp`. Returns the
    /// request, answered in [`World::outcome`].
    pub fn register(&mut self, node: NodeIdx, name: NameIdx) -> RequestId {
        self.hash_command(node.0, node.0);
        let r = self.fresh_request();
        self.add_publisher(node, name);
        let (sh, part) = self.part_of(node.0);
        part.register(sh, node.0, name.0, r);
        self.after_commands();
        RequestId(r)
    }

    /// Withdraws `name` from `node`.
    pub fn unregister(&mut self, node: NodeIdx, name: NameIdx) -> RequestId {
        self.hash_command(node.0, node.0);
        let r = self.fresh_request();
        let (_, part) = self.part_of(node.0);
        part.requests.insert(
            r,
            Req::Unregister {
                node: node.0,
                name: name.0,
            },
        );
        let peer = self.shared.directory.names[name.0 as usize].name.clone();
        self.command(
            node.0,
            Command::Unregister {
                request: RequestId(r),
                name: peer,
            },
        );
        RequestId(r)
    }

    /// Resolves `name` from `node` (up to `max_results` records, giving up
    /// after `timeout`). Any peer name works; a name outside the directory
    /// can only fail.
    pub fn resolve(
        &mut self,
        node: NodeIdx,
        name: &PeerName,
        max_results: usize,
        timeout: Duration,
    ) -> RequestId {
        self.hash_command(node.0, node.0);
        let r = self.fresh_request();
        self.resolve_inner(node.0, name.clone(), max_results, timeout, r, false);
        RequestId(r)
    }

    fn resolve_inner(
        &mut self,
        i: u32,
        name: PeerName,
        max_results: usize,
        timeout: Duration,
        r: u64,
        scenario: bool,
    ) {
        let p2p = name.p2p_id();
        let rec = LookupRec {
            node: i,
            name: self.shared.directory.index_of(&p2p).map(|n| n.0),
            p2p,
            issued: self.now,
            scenario,
            messages: 0,
            message_ids: Vec::new(),
        };
        let deadline = Instant(self.now).plus(timeout);
        let (_, part) = self.part_of(i);
        part.requests.insert(r, Req::Resolve(Box::new(rec)));
        part.slot_mut(i).active.push(r);
        self.command(
            i,
            Command::Resolve {
                request: RequestId(r),
                name,
                max_results,
                deadline,
            },
        );
    }

    // ---- running -----------------------------------------------------------

    /// Virtual time now.
    pub fn now(&self) -> Duration {
        Duration::from_micros(self.now)
    }

    /// Processes every event up to and including `t`, then sets the clock
    /// to `t`.
    pub fn run_until(&mut self, t: Duration) {
        let end = micros(t);
        if self.parts.len() == 1 {
            self.run_loop(end, &mut |parts, sh, until| parts[0].run_window(sh, until));
            return;
        }
        // One helper thread per partition but the first, which this thread
        // runs; each window sends the partition (and the shared state) to
        // its thread and waits for it to come back.
        std::thread::scope(|scope| {
            let mut lanes = Vec::new();
            for _ in 1..self.parts.len() {
                let (job_tx, job_rx) = mpsc::channel::<(Part, Arc<Shared>, u64)>();
                let (done_tx, done_rx) = mpsc::channel::<Part>();
                scope.spawn(move || {
                    while let Some((mut part, sh, until)) = recv_soon(&job_rx) {
                        part.run_window(&sh, until);
                        drop(sh);
                        if done_tx.send(part).is_err() {
                            break;
                        }
                    }
                });
                lanes.push((job_tx, done_rx));
            }
            self.run_loop(end, &mut |parts, sh, until| {
                // A partition with nothing to do in this window stays here.
                let mut rest: Vec<Option<Part>> = parts.drain(1..).map(Some).collect();
                let mut busy = Vec::new();
                for (k, (slot, (job_tx, _))) in rest.iter_mut().zip(&lanes).enumerate() {
                    let Some(mut part) = slot.take() else {
                        continue;
                    };
                    if part.queue.peek_at().is_some_and(|t| t < until) {
                        job_tx
                            .send((part, Arc::clone(sh), until))
                            .expect("worker alive");
                        busy.push(k);
                    } else {
                        *slot = Some(part);
                    }
                }
                parts[0].run_window(sh, until);
                for k in busy {
                    rest[k] = Some(recv_soon(&lanes[k].1).expect("worker returns its partition"));
                }
                parts.extend(rest.into_iter().flatten());
            });
            drop(lanes);
        });
    }

    /// The loop of [`World::run_until`]; `window(parts, shared, until)`
    /// makes every partition process its events before `until`.
    fn run_loop(&mut self, end: u64, window: &mut WindowFn<'_>) {
        let lookahead = if self.parts.len() > 1 {
            self.shared.net.min_delay_us()
        } else {
            u64::MAX
        };
        loop {
            self.flush_outboxes();
            self.process_finished();
            let global = self.gqueue.peek_at().filter(|&t| t <= end);
            let local = self
                .parts
                .iter_mut()
                .filter_map(|p| p.queue.peek_at())
                .min()
                .filter(|&t| t <= end);
            match (global, local) {
                (None, None) => break,
                (Some(g), l) if l.is_none_or(|l| g <= l) => {
                    let Some(q) = self.gqueue.pop() else { break };
                    self.advance(q.at);
                    self.metrics.events += 1;
                    self.dispatch(q.item);
                }
                (g, Some(l)) => {
                    let until = g
                        .unwrap_or(u64::MAX)
                        .min(end.saturating_add(1))
                        .min(l.saturating_add(lookahead));
                    window(&mut self.parts, &self.shared, until);
                    let last = self.parts.iter().map(|p| p.now).max().unwrap_or(l);
                    self.advance(last);
                }
                (Some(_), None) => unreachable!("handled by the global arm"),
            }
        }
        self.advance(end.max(self.now));
        for p in &mut self.parts {
            p.now = self.now;
        }
    }

    /// Moves datagrams sent to other partitions into their queues.
    fn flush_outboxes(&mut self) {
        for p in 0..self.parts.len() {
            if self.parts[p].outbox.is_empty() {
                continue;
            }
            let out = core::mem::take(&mut self.parts[p].outbox);
            for (target, at, seq, ev) in out {
                self.parts[target as usize].queue.push(at, seq, ev);
            }
        }
    }

    /// Judges the resolutions that ended and records the outcomes of the
    /// commands that ended, in `(time, request)` order.
    fn process_finished(&mut self) {
        let mut done: Vec<Finished> = Vec::new();
        for p in &mut self.parts {
            done.append(&mut p.finished);
        }
        if done.is_empty() {
            return;
        }
        done.sort_by_key(Finished::key);
        for f in done {
            match f {
                Finished::Outcome { request, outcome } => {
                    self.outcomes.insert(request, outcome);
                }
                Finished::Resolved {
                    at,
                    request,
                    rec,
                    result,
                } => {
                    let verdict = self.judge(&rec, &result);
                    if rec.scenario {
                        self.count_lookup(&rec, verdict, at);
                    } else {
                        self.outcomes.insert(
                            request,
                            Outcome {
                                node: NodeIdx(rec.node),
                                at: Duration::from_micros(at),
                                kind: OutcomeKind::Resolved {
                                    result,
                                    verdict,
                                    messages: rec.messages,
                                },
                            },
                        );
                    }
                }
            }
        }
    }

    /// [`World::run_until`] `now + d`.
    pub fn run_for(&mut self, d: Duration) {
        let t = self.now().saturating_add(d);
        self.run_until(t);
    }

    fn advance(&mut self, t: u64) {
        if t > self.now {
            self.node_us += u128::from(self.live) * u128::from(t - self.now);
            self.now = t;
        }
    }

    fn dispatch(&mut self, ev: Gev) {
        let t = self.now;
        for p in &mut self.parts {
            p.now = t;
        }
        match ev {
            Gev::Join { node } => {
                self.hash.add(t, kind::JOIN, node, node, 0);
                self.scenario_join(node);
            }
            Gev::Leave { node, incarnation } => {
                self.hash.add(t, kind::LEAVE, node, node, incarnation);
                let slot = self.slot(node);
                if slot.incarnation == incarnation && slot.node.is_some() {
                    self.stop_inner(node);
                    if let Some(off) = self.shared.cfg.offtime.sample(&mut self.rng) {
                        self.push(t.saturating_add(micros(off)), Gev::Join { node });
                    }
                }
            }
            Gev::Lookup => {
                self.hash.add(t, kind::LOOKUP, 0, 0, 0);
                self.scenario_lookup();
            }
            Gev::Partition { index, active } => {
                self.hash
                    .add(t, kind::PARTITION, index, u32::from(active), 0);
                self.sh_mut().net.set_partition(index as usize, active);
            }
            Gev::Scan { period_us } => {
                self.hash.add(t, kind::SCAN, 0, 0, 0);
                self.scan_forged();
                self.push(t.saturating_add(period_us), Gev::Scan { period_us });
            }
            Gev::Mark(m) => {
                self.hash.add(t, kind::MARK, u32::from(m), 0, 0);
                let metrics = self.metrics();
                self.window[usize::from(m.min(1))] = Some(Snapshot {
                    at: t,
                    bytes: metrics.bytes_sent,
                    datagrams: metrics.datagrams_sent,
                    by_type: metrics.sent_by_type,
                    node_us: self.node_us,
                });
            }
        }
    }

    /// A scenario join: fresh engine, 1–3 random live seeds, a delayed
    /// registration and, under churn, a scheduled leave.
    fn scenario_join(&mut self, i: u32) {
        if self.slot(i).node.is_some() {
            return;
        }
        let want = 1 + below(&mut self.rng, 3);
        let mut seeds: Vec<SocketAddr> = Vec::new();
        if self.live > 0 {
            let n = u64::from(self.shared.total);
            for _ in 0..64 {
                if seeds.len() as u64 >= want {
                    break;
                }
                let j = below(&mut self.rng, n) as u32;
                let a = addr_of(j);
                if j != i && self.slot(j).node.is_some() && !seeds.contains(&a) {
                    seeds.push(a);
                }
            }
            // Few live nodes among many indices (early waves): random
            // probes can all miss, so walk on from a random index to the
            // next live node rather than start without a seed.
            if seeds.is_empty() {
                let start = below(&mut self.rng, n);
                if let Some(j) = (0..n)
                    .map(|k| ((start + k) % n) as u32)
                    .find(|&j| j != i && self.slot(j).node.is_some())
                {
                    seeds.push(addr_of(j));
                }
            }
        }
        self.start_inner(i, seeds);
        let inc = self.slot(i).incarnation;
        if self.slot(i).publishes.is_some() {
            let at = self
                .now
                .saturating_add(micros(self.shared.cfg.register_delay));
            let (_, part) = self.part_of(i);
            let own = part.index;
            part.push(
                i,
                own,
                at,
                Ev::Register {
                    node: i,
                    incarnation: inc,
                },
            );
        }
        if let Some(session) = self.shared.cfg.session.sample(&mut self.rng) {
            let at = self.now.saturating_add(micros(session));
            self.push(
                at,
                Gev::Leave {
                    node: i,
                    incarnation: inc,
                },
            );
        }
    }

    /// Whether some publisher of `name` is live and has been registered
    /// since `t` or earlier.
    fn published_since(&self, name: u32, t: u64) -> bool {
        self.shared.directory.names[name as usize]
            .publishers
            .iter()
            .any(|&p| {
                let s = self.slot(p);
                s.node.is_some()
                    && s.registered
                        .iter()
                        .any(|&(n, _, since)| n == name && since <= t)
            })
    }

    /// One scenario lookup: a random honest node up for at least the grace
    /// time resolves a random honest name that a live node other than
    /// itself has published for at least the grace time.
    fn scenario_lookup(&mut self) {
        let grace = micros(self.shared.cfg.grace);
        let cutoff = self.now.saturating_sub(grace);
        let n = u64::from(self.shared.total);
        let names = self.honest_names.len() as u64;
        if n == 0 || names == 0 {
            self.lookups.no_candidate += 1;
            return;
        }
        let mut pick = None;
        for _ in 0..256 {
            let i = below(&mut self.rng, n) as u32;
            let s = self.slot(i);
            if s.node.is_none() || !matches!(s.role, Role::Honest) || s.up_since > cutoff {
                continue;
            }
            let name = self.honest_names[below(&mut self.rng, names) as usize];
            if self.shared.directory.names[name as usize]
                .publishers
                .contains(&i)
                || !self.published_since(name, cutoff)
            {
                continue;
            }
            pick = Some((i, name));
            break;
        }
        let Some((i, name)) = pick else {
            self.lookups.no_candidate += 1;
            return;
        };
        self.lookups.issued += 1;
        let r = self.fresh_request();
        let peer = self.shared.directory.names[name as usize].name.clone();
        let timeout = self.shared.cfg.lookup_timeout;
        self.resolve_inner(i, peer, 1, timeout, r, true);
    }

    /// Judges a finished resolution (module documentation) and records
    /// forged records among its results.
    fn judge(&mut self, rec: &LookupRec, result: &Result<Vec<Resolved>, ResolveError>) -> Verdict {
        if let Ok(list) = result {
            for r in list {
                let legit = self
                    .shared
                    .directory
                    .by_p2p(&r.id.p2p_id())
                    .map(|n| n.public);
                if legit != Some(*r.cpa.public_key()) {
                    self.forged.insert((rec.node, r.id.0, r.cpa.public_key().0));
                }
            }
        }
        let found = match (result, rec.name) {
            (Ok(list), Some(name)) => {
                let record = &self.shared.directory.names[name as usize];
                list.iter().find(|r| {
                    r.id.p2p_id() == rec.p2p
                        && *r.cpa.public_key() == record.public
                        && r.cpa.content().endpoints.iter().any(|e| {
                            index_of_ip(&IpAddr::V6(e.addr))
                                .is_some_and(|p| record.publishers.contains(&p))
                        })
                })
            }
            _ => None,
        };
        if let Some(r) = found {
            return Verdict::Success { hops: r.hops };
        }
        let why = match result {
            Err(ResolveError::NotFound) => reason::NOT_FOUND,
            Err(ResolveError::Timeout) => reason::TIMEOUT,
            Err(ResolveError::Busy) => reason::BUSY,
            Err(ResolveError::Cancelled) => reason::CANCELLED,
            Err(_) => reason::OTHER,
            Ok(_) => reason::WRONG_RESULT,
        };
        match rec.name {
            Some(name) if !self.published_since(name, rec.issued) => {
                Verdict::Excluded(reason::TARGET_LEFT)
            }
            _ => Verdict::Failed(why),
        }
    }

    fn count_lookup(&mut self, rec: &LookupRec, verdict: Verdict, at: u64) {
        let l = &mut self.lookups;
        match verdict {
            Verdict::Success { hops } => {
                l.succeeded += 1;
                l.hops.push(hops);
                l.messages.push(rec.messages);
                l.latency_us.push(at - rec.issued);
            }
            Verdict::Failed(why) => {
                *l.failures.entry(why).or_default() += 1;
                l.messages.push(rec.messages);
            }
            Verdict::Excluded(why) => *l.excluded.entry(why).or_default() += 1,
        }
    }

    // ---- inspection --------------------------------------------------------

    /// Records (or stops recording) every datagram `node` sends, decoded,
    /// for [`World::take_trace`].
    pub fn trace(&mut self, node: NodeIdx, on: bool) {
        let traced = &mut self.sh_mut().traced;
        if on {
            traced.insert(node.0);
        } else {
            traced.remove(&node.0);
        }
    }

    /// The datagrams recorded since the last call.
    pub fn take_trace(&mut self) -> Vec<TraceRecord> {
        for p in &mut self.parts {
            self.trace.append(&mut p.trace);
        }
        // Each partition's records are in its own order; merge by time
        // (stable: one node's records keep their order).
        self.trace.sort_by_key(|r| (r.at, r.from));
        core::mem::take(&mut self.trace)
    }

    /// The outcome of a command issued through the world, once finished.
    pub fn outcome(&self, request: RequestId) -> Option<&Outcome> {
        self.outcomes.get(&request.0)
    }

    /// The engine of `node`, if live.
    pub fn node(&self, node: NodeIdx) -> Option<&Node> {
        (node.0 < self.shared.total)
            .then(|| self.slot(node.0).node.as_ref())
            .flatten()
    }

    /// Node indices (live or not).
    pub fn len(&self) -> usize {
        self.shared.total as usize
    }

    /// `true` with no node index.
    pub fn is_empty(&self) -> bool {
        self.shared.total == 0
    }

    /// Live nodes now.
    pub fn live(&self) -> u64 {
        self.live
    }

    /// Whether `node` is malicious.
    pub fn is_malicious(&self, node: NodeIdx) -> bool {
        node.0 < self.shared.total && matches!(self.slot(node.0).role, Role::Malicious(_))
    }

    /// The directory of names.
    pub fn directory(&self) -> &Directory {
        &self.shared.directory
    }

    /// The peer name of `name`.
    pub fn name(&self, name: NameIdx) -> &PeerName {
        &self.shared.directory.names[name.0 as usize].name
    }

    /// Counters (the world's and every partition's).
    pub fn metrics(&self) -> Metrics {
        let mut m = self.metrics.clone();
        for p in &self.parts {
            m.add(&p.metrics);
        }
        m
    }

    /// Scenario lookup statistics.
    pub fn lookup_stats(&self) -> &LookupStats {
        &self.lookups
    }

    /// The event hash so far: the world's hash (global events, commands)
    /// folded with every node's own hash, in index order.
    pub fn event_hash(&self) -> EventHash {
        let mut h = self.hash;
        for i in 0..self.shared.total {
            let v = self.slot(i).hash.value();
            h.add(v, kind::NODE, i, (v >> 32) as u32, v as u32);
        }
        h
    }

    /// The configuration.
    pub fn config(&self) -> &WorldConfig {
        &self.shared.cfg
    }

    /// The network model (partitions).
    pub fn net(&self) -> &NetModel {
        &self.shared.net
    }

    /// Engine counters summed over stopped incarnations and live nodes.
    pub fn engine_totals(&self) -> EngineTotals {
        let mut t = self.engine_totals.clone();
        for (_, s) in self.slots() {
            if let Some(n) = &s.node {
                t.add(n.stats());
            }
        }
        t
    }

    /// Checks every live node's cache invariants now; returns how many
    /// nodes broke one (also added to `invariant_violations`).
    pub fn check_all_invariants(&mut self) -> u64 {
        let bad = self
            .slots()
            .filter_map(|(_, s)| s.node.as_ref())
            .filter(|n| n.cache().check_invariants().is_err())
            .count() as u64;
        self.metrics.invariant_violations += bad;
        bad
    }

    /// Resolutions still without a terminal event although their deadline
    /// passed more than `slack` ago (must be 0: every request gets exactly
    /// one terminal event).
    pub fn overdue_requests(&self, slack: Duration) -> u64 {
        let timeout = micros(self.shared.cfg.lookup_timeout).max(1);
        self.parts
            .iter()
            .flat_map(|p| p.requests.values())
            .filter(|r| match r {
                Req::Resolve(rec) => {
                    rec.issued
                        .saturating_add(timeout)
                        .saturating_add(micros(slack))
                        < self.now
                }
                _ => false,
            })
            .count() as u64
    }

    /// Distinct forged records seen so far (scans and results).
    pub fn forged_accepted(&self) -> u64 {
        self.forged.len() as u64
    }

    /// Maintenance cost over the measurement window: (payload bytes,
    /// datagrams, node-seconds, seconds), if the window closed.
    pub fn window(&self) -> Option<(u64, u64, f64, f64)> {
        let (Some(a), Some(b)) = (self.window[0], self.window[1]) else {
            return None;
        };
        Some((
            b.bytes - a.bytes,
            b.datagrams - a.datagrams,
            (b.node_us - a.node_us) as f64 / 1e6,
            (b.at - a.at) as f64 / 1e6,
        ))
    }

    /// Datagrams sent in the measurement window, by PNRP message type byte
    /// (index = type), once the window has ended.
    pub fn window_by_type(&self) -> Option<[u64; 16]> {
        let (Some(a), Some(b)) = (self.window[0], self.window[1]) else {
            return None;
        };
        Some(std::array::from_fn(|t| b.by_type[t] - a.by_type[t]))
    }

    /// Mean `Node::memory_bytes()` and cache entries over live nodes, and
    /// the world's own bytes per node index.
    pub fn memory(&self) -> (f64, f64, f64) {
        let mut engine = 0usize;
        let mut entries = 0usize;
        let mut live = 0usize;
        for n in self.slots().filter_map(|(_, s)| s.node.as_ref()) {
            engine += n.memory_bytes();
            entries += n.cache().len();
            live += 1;
        }
        let in_flight: usize = self
            .parts
            .iter()
            .flat_map(|p| p.queue.iter())
            .map(|ev| match ev {
                Ev::Deliver { bytes, .. } => bytes.capacity(),
                _ => 0,
            })
            .sum();
        let slots: usize = self
            .slots()
            .map(|(_, s)| {
                size_of::<Slot>() - size_of::<Option<Node>>()
                    + s.registered.capacity() * size_of::<(u32, PnrpId, u64)>()
                    + s.active.capacity() * 8
                    + s.rng.as_ref().map_or(0, |_| size_of::<ChaCha8Rng>())
            })
            .sum();
        let queues: usize = self
            .parts
            .iter()
            .map(|p| p.queue.capacity_bytes())
            .sum::<usize>()
            + self.gqueue.capacity_bytes();
        let overhead = slots + queues + in_flight;
        let n = (self.shared.total as usize).max(1) as f64;
        let live = live.max(1) as f64;
        (
            engine as f64 / live,
            entries as f64 / live,
            overhead as f64 / n,
        )
    }

    /// Scans honest caches for CPAs not signed by the legitimate key,
    /// remembering each forged record. A cache that took no CPA since the
    /// last scan of the same engine holds nothing new to check.
    fn scan_forged(&mut self) {
        let mut found = Vec::new();
        let mut scanned = Vec::new();
        for (i, s) in self.slots() {
            let (Some(node), Role::Honest) = (&s.node, s.role) else {
                continue;
            };
            let generation = node.cache().cpa_generation();
            if generation == s.scanned_cpas {
                continue;
            }
            scanned.push((i, generation));
            for e in node.cache().iter() {
                if let Some(key) = self.forged_key(e) {
                    found.push((i, e.route.id.0, key.0));
                }
            }
        }
        for (i, generation) in scanned {
            self.slot_mut(i).scanned_cpas = generation;
        }
        self.forged.extend(found);
    }

    /// The key of `e`'s CPA if it is not the legitimate publisher's.
    fn forged_key(&self, e: &pnrp::engine::cache::CacheEntry) -> Option<PublicKey> {
        let key = *e.cpa.as_ref()?.public_key();
        let legit = self
            .shared
            .directory
            .by_p2p(&e.route.id.p2p_id())
            .map(|n| n.public);
        (legit != Some(key)).then_some(key)
    }

    /// Scans every honest cache: forged CPAs (remembered for
    /// [`World::forged_accepted`]), poisoned and stale route entries.
    pub fn scan(&mut self) -> ScanResult {
        self.scan_forged();
        let mut r = ScanResult::default();
        for (_, s) in self.slots() {
            let (Some(node), Role::Honest) = (&s.node, s.role) else {
                continue;
            };
            for e in node.cache().iter() {
                r.entries += 1;
                if self.forged_key(e).is_some() {
                    r.forged += 1;
                }
                let holder = e
                    .route
                    .addresses
                    .first()
                    .and_then(|a| index_of_ip(&IpAddr::V6(*a)))
                    .filter(|&j| j < self.shared.total)
                    .map(|j| self.slot(j));
                let Some(h) = holder else {
                    r.stale += 1;
                    continue;
                };
                let holds = h
                    .node
                    .as_ref()
                    .is_some_and(|n| n.local_ids().any(|id| *id == e.route.id));
                if holds {
                    continue;
                }
                match (h.role, h.node.is_some()) {
                    (Role::Malicious(_), true) => r.poisoned += 1,
                    _ => r.stale += 1,
                }
            }
        }
        r
    }
}
