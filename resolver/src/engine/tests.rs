//! Scenario tests on a tiny in-memory network (quinn's `Pair` idea): real
//! encoded datagrams, virtual time, fixed latency, no sockets.

use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv6Addr, SocketAddr};
use std::sync::Arc;

use super::node::MAX_LOOKUP_BACKOFF;
use super::publish::MAX_REFRESH_BACKOFF;
use super::*;
use crate::cpa::{AppEndpoint, PROTO_TCP, PayloadData};
use crate::crypto::{P256Signer, P256Verifier, Signer};
use crate::name::PeerName;
use crate::time::{Instant, UnixTime};
use crate::wire::Endpoint;

const LATENCY_US: u64 = 1_000;
const T0: UnixTime = UnixTime(1_790_000_000);

fn addr(i: usize) -> SocketAddr {
    SocketAddr::new(
        Ipv6Addr::new(
            0x2001,
            0xdb8,
            0,
            (i >> 16) as u16,
            0,
            0,
            0,
            (i & 0xffff) as u16 + 1,
        )
        .into(),
        3540,
    )
}

pub(crate) struct Net {
    pub(crate) nodes: Vec<Node>,
    pub(crate) up: Vec<bool>,
    now: Instant,
    queue: VecDeque<(Instant, usize, SocketAddr, Vec<u8>)>,
    pub(crate) events: Vec<(usize, Event)>,
    index: BTreeMap<SocketAddr, usize>,
    pub(crate) delivered: u64,
}

impl Net {
    fn now(&self) -> Now {
        Now {
            mono: self.now,
            wall: T0.plus_secs(self.now.0 / 1_000_000),
        }
    }

    /// `n` nodes; node i > 0 is seeded with node 0 (and a random earlier one).
    pub(crate) fn new(n: usize) -> Self {
        let mut net = Self {
            nodes: Vec::new(),
            up: Vec::new(),
            now: Instant(0),
            queue: VecDeque::new(),
            events: Vec::new(),
            index: BTreeMap::new(),
            delivered: 0,
        };
        for i in 0..n {
            net.add_node(i);
        }
        net
    }

    fn add_node(&mut self, i: usize) {
        let mut seeds = Vec::new();
        if i > 0 {
            seeds.push(addr(0));
            seeds.push(addr((i * 7919) % i));
        }
        self.add_node_with_seeds(i, seeds);
    }

    /// Two clouds that grew apart: nodes `0..a` seeded among themselves,
    /// nodes `a..a+b` among themselves.
    pub(crate) fn split(a: usize, b: usize) -> Self {
        let mut net = Self::new(0);
        for i in 0..a + b {
            let root = if i < a { 0 } else { a };
            let seeds = if i == root { vec![] } else { vec![addr(root)] };
            net.add_node_with_seeds(i, seeds);
        }
        net
    }

    fn add_node_with_seeds(&mut self, i: usize, seeds: Vec<SocketAddr>) {
        let config = Config {
            local: vec![Endpoint::from_socket_addr(addr(i))],
            seeds,
            ..Config::default()
        };
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let node = Node::new(config, Arc::new(P256Verifier), seed, self.now());
        self.nodes.push(node);
        self.up.push(true);
        self.index.insert(addr(i), i);
        self.drain(i);
    }

    fn drain(&mut self, i: usize) {
        let mut buf = Vec::new();
        while let Some(to) = self.nodes[i].poll_transmit(&mut buf) {
            self.queue.push_back((
                self.now.plus(core::time::Duration::from_micros(LATENCY_US)),
                i,
                to,
                buf.clone(),
            ));
        }
        while let Some(e) = self.nodes[i].poll_event() {
            self.events.push((i, e));
        }
    }

    pub(crate) fn command(&mut self, i: usize, cmd: Command) {
        let now = self.now();
        self.nodes[i].handle_command(now, cmd);
        self.drain(i);
    }

    /// Runs the network for `secs` of virtual time.
    pub(crate) fn run(&mut self, secs: u64) {
        let end = self.now.plus(core::time::Duration::from_secs(secs));
        loop {
            let next_msg = self.queue.front().map(|m| m.0);
            let next_timer = self
                .nodes
                .iter()
                .enumerate()
                .filter(|(i, _)| self.up[*i])
                .filter_map(|(i, n)| n.poll_timeout().map(|t| (t, i)))
                .min();
            let t = match (next_msg, next_timer) {
                (Some(m), Some((t, _))) => m.min(t),
                (Some(m), None) => m,
                (None, Some((t, _))) => t,
                (None, None) => break,
            };
            if t > end {
                break;
            }
            self.now = self.now.max(t);
            if next_msg == Some(t) {
                let (_, from, to, bytes) = self.queue.pop_front().expect("peeked");
                if let Some(&j) = self.index.get(&to)
                    && self.up[j]
                {
                    self.delivered += 1;
                    let now = self.now();
                    self.nodes[j].handle_datagram(now, addr(from), &bytes);
                    self.drain(j);
                }
            } else if let Some((_, i)) = next_timer {
                let now = self.now();
                self.nodes[i].handle_timeout(now);
                self.drain(i);
            }
        }
        self.now = end;
    }

    pub(crate) fn take_event(
        &mut self,
        f: impl Fn(&(usize, Event)) -> bool,
    ) -> Option<(usize, Event)> {
        let pos = self.events.iter().position(f)?;
        Some(self.events.remove(pos))
    }

    pub(crate) fn resolve(
        &mut self,
        i: usize,
        name: &str,
        req: u64,
        max: usize,
    ) -> Result<Vec<Resolved>, ResolveError> {
        let deadline = self.now.plus(core::time::Duration::from_secs(20));
        self.command(
            i,
            Command::Resolve {
                request: RequestId(req),
                name: name.parse().expect("name"),
                max_results: max,
                deadline,
            },
        );
        self.run(25);
        match self.take_event(|(n, e)| {
            *n == i && matches!(e, Event::Resolved { request, .. } if *request == RequestId(req))
        }) {
            Some((_, Event::Resolved { result, .. })) => result,
            other => panic!("no resolve event: {other:?}"),
        }
    }
}

fn key(n: u8) -> Arc<P256Signer> {
    let mut s = [0u8; 32];
    s[31] = n;
    Arc::new(P256Signer::from_scalar_bytes(&s).expect("scalar"))
}

pub(crate) fn registration(name: &str, signer: Arc<P256Signer>, port: u16) -> Box<Registration> {
    Box::new(Registration {
        name: name.parse::<PeerName>().expect("name"),
        signer,
        endpoints: vec![AppEndpoint::new(
            SocketAddr::from(([10, 1, 2, 3], port)),
            PROTO_TCP,
        )],
        comment: Some("test".into()),
        payload: Some(PayloadData::Text("hello".into())),
        prefix: None,
    })
}

fn register(net: &mut Net, i: usize, name: &str, req: u64) -> crate::id::PnrpId {
    net.command(
        i,
        Command::Register {
            request: RequestId(req),
            registration: registration(name, key(i as u8 + 1), 8000 + i as u16),
        },
    );
    match net.take_event(|(n, e)| *n == i && matches!(e, Event::Registered { .. })) {
        Some((_, Event::Registered { result, .. })) => result.expect("registered"),
        other => panic!("no register event: {other:?}"),
    }
}

/// Every node registers `0.n<i>` (request 10 + i), two seconds apart.
fn register_all(net: &mut Net) {
    for i in 0..net.nodes.len() {
        register(net, i, &format!("0.n{i}"), 10 + i as u64);
        net.run(2);
    }
}

#[test]
fn a_node_alone_resolves_its_own_registration() {
    let mut net = Net::new(1);
    register(&mut net, 0, "0.alone", 1);
    let r = net.resolve(0, "0.Alone", 2, 5).expect("found");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].classifier, "alone");
    assert_eq!(r[0].cpa.content().endpoints[0].port, 8000);
    assert_eq!(net.resolve(0, "0.other", 3, 5), Err(ResolveError::NotFound));
}

#[test]
fn two_nodes_join_and_resolve_each_other() {
    let mut net = Net::new(2);
    register(&mut net, 0, "0.first", 1);
    register(&mut net, 1, "0.second", 2);
    net.run(60);
    assert!(!net.nodes[1].cache().is_empty(), "node 1 learnt node 0");
    let r = net.resolve(1, "0.first", 10, 5).expect("found");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].cpa.content().endpoints[0].port, 8000);
    assert_eq!(
        r[0].payload.as_ref().map(|p| p.data().clone()),
        Some(PayloadData::Text("hello".into()))
    );
    let r = net.resolve(0, "0.second", 11, 5).expect("found");
    assert_eq!(r[0].cpa.content().endpoints[0].port, 8001);
}

#[test]
fn secured_names_resolve_in_a_small_cloud() {
    let mut net = Net::new(20);
    let mut names = Vec::new();
    for i in 0..20 {
        let a = key(i as u8 + 1).public_key().authority();
        let name = format!("{a}.node{i}");
        register(&mut net, i, &name, 100 + i as u64);
        names.push(name);
        net.run(2);
    }
    net.run(120);
    let mut ok = 0;
    for (k, name) in names.iter().enumerate() {
        let from = (k * 7 + 3) % 20;
        if let Ok(r) = net.resolve(from, name, 1000 + k as u64, 1) {
            assert_eq!(r[0].cpa.content().endpoints[0].port, 8000 + k as u16);
            ok += 1;
        }
    }
    assert_eq!(ok, 20, "every name resolves");
}

#[test]
fn several_publishers_of_one_name_are_all_found() {
    let mut net = Net::new(12);
    for i in 0..12 {
        let name = if i % 4 == 0 {
            "0.printer".to_string()
        } else {
            format!("0.n{i}")
        };
        register(&mut net, i, &name, 10 + i as u64);
        net.run(2);
    }
    net.run(120);
    let r = net.resolve(5, "0.printer", 500, 10).expect("found");
    let mut ports: Vec<u16> = r
        .iter()
        .map(|x| x.cpa.content().endpoints[0].port)
        .collect();
    ports.sort_unstable();
    assert_eq!(ports, vec![8000, 8004, 8008]);
}

#[test]
fn unregistered_names_stop_resolving() {
    let mut net = Net::new(6);
    for i in 0..6 {
        register(&mut net, i, &format!("0.n{i}"), 10 + i as u64);
        net.run(2);
    }
    net.run(60);
    assert!(net.resolve(4, "0.n2", 100, 1).is_ok());
    net.command(
        2,
        Command::Unregister {
            request: RequestId(101),
            name: "0.n2".parse().expect("name"),
        },
    );
    assert!(matches!(
        net.take_event(|(n, e)| *n == 2 && matches!(e, Event::Unregistered { .. })),
        Some((_, Event::Unregistered { removed: 1, .. }))
    ));
    net.run(10);
    assert_eq!(net.resolve(4, "0.n2", 102, 1), Err(ResolveError::NotFound));
}

#[test]
fn a_split_cloud_heals_through_its_seeds() {
    let mut net = Net::split(6, 6);
    register_all(&mut net);
    net.run(60);
    // The halves do not know each other.
    assert_eq!(net.resolve(1, "0.n8", 100, 1), Err(ResolveError::NotFound));
    // Each half learns a seed in the other one; split detection merges them.
    net.command(0, Command::AddSeed(addr(6)));
    net.command(6, Command::AddSeed(addr(0)));
    net.run(600);
    let mut ok = 0;
    for k in 0..12 {
        let from = (k + 6) % 12;
        if net
            .resolve(from, &format!("0.n{k}"), 200 + k as u64, 1)
            .is_ok()
        {
            ok += 1;
        }
    }
    assert_eq!(ok, 12, "every name resolves from the other half");
}

#[test]
fn cached_cpas_expire_and_registrations_refresh() {
    let mut net = Net::new(4);
    register_all(&mut net);
    net.run(60);
    assert!(net.resolve(3, "0.n0", 100, 1).is_ok());
    // Two days later every CPA a cache held has expired and been evicted,
    // yet names still resolve: publishers sign fresh CPAs per INQUIRE and
    // leaf-set members are re-INQUIREd before Not After.
    net.run(2 * 86_400);
    let now = net.now().wall;
    let mut cpas = 0;
    for node in &net.nodes {
        for e in node.cache().iter() {
            if let Some(cpa) = &e.cpa {
                assert!(cpa.not_after() >= now, "expired CPA still cached");
                cpas += 1;
            }
        }
    }
    assert!(cpas > 0, "leaf-set entries carry fresh CPAs");
    assert!(net.resolve(3, "0.n0", 101, 1).is_ok());
    assert!(net.resolve(0, "0.n3", 102, 1).is_ok());
}

#[test]
fn registrations_due_together_refresh_over_several_ticks() {
    let mut net = Net::new(3);
    net.run(5);
    let burst = 60;
    for k in 0..burst {
        register(&mut net, 0, &format!("0.burst{k}"), 500 + k as u64);
    }
    // The other two nodes publish too: every burst name's leaf set changes,
    // so none of the sixty may skip its refresh.
    register(&mut net, 1, "0.other1", 600);
    register(&mut net, 2, "0.other2", 601);
    net.run(30);
    let first: Vec<Instant> = net.nodes[0]
        .registrations
        .values()
        .map(|r| r.next_refresh)
        .collect();
    let last_due = *first.iter().max().unwrap();
    // Step through the refresh: all sixty fall due in one tick.
    let budget = Config::default().max_resolves / 2;
    let mut peak = 0;
    for _ in 0..Config::default().refresh.as_secs() + 60 {
        net.run(1);
        peak = peak.max(net.nodes[0].resolves.len());
    }
    let after: std::collections::BTreeSet<Instant> = net.nodes[0]
        .registrations
        .values()
        .map(|r| r.next_refresh)
        .collect();
    // Every name was re-announced (none dropped)…
    assert!(
        after.iter().all(|t| *t > last_due),
        "every registration refreshed"
    );
    // …at most half the resolution slots at a time, so over several ticks.
    assert!(
        peak <= budget + 2,
        "{peak} resolutions at once (budget {budget})"
    );
    assert!(after.len() >= 2, "refreshes spread over ticks: {after:?}");
    assert_eq!(net.nodes[0].stats.refreshes, burst as u64);
    assert!(net.resolve(2, "0.burst59", 900, 1).is_ok());
}

#[test]
fn quiet_registrations_refresh_less_often_until_a_neighbour_goes() {
    let mut net = Net::new(12);
    register_all(&mut net);
    let refresh = Config::default().refresh.as_secs();
    // The first refresh announces (the leaf sets filled since the
    // registrations); the next ones find nothing changed and back off to
    // one announcement every `refresh << MAX_REFRESH_BACKOFF`. (A node
    // whose leaf set was still missing a member announces again when a
    // maintenance lookup finds it, and backs off from there.)
    net.run(refresh * 9);
    let backoffs = |net: &Net| -> Vec<u32> {
        net.nodes
            .iter()
            .flat_map(|n| n.registrations.values().map(|r| r.refresh_backoff))
            .collect()
    };
    let settled = backoffs(&net)
        .iter()
        .filter(|&&b| b == MAX_REFRESH_BACKOFF)
        .count();
    assert!(settled >= 9, "{:?}", backoffs(&net));
    let announced: u64 = net.nodes.iter().map(|n| n.stats.refreshes).sum();
    let skipped: u64 = net.nodes.iter().map(|n| n.stats.refreshes_skipped).sum();
    assert!(skipped >= 12 * u64::from(MAX_REFRESH_BACKOFF), "{skipped}");
    assert!(
        announced < skipped,
        "{announced} announced, {skipped} skipped"
    );
    // A neighbour vanishes: the nodes that find it dead (a timeout, then
    // a changed leaf set) go back to the refresh period and announce.
    let before = backoffs(&net);
    net.up[4] = false;
    net.run(refresh * 4);
    let after = backoffs(&net);
    assert!(
        (0..12).any(|i| i != 4 && after[i] < before[i]),
        "{before:?} -> {after:?}"
    );
    let again: u64 = net.nodes.iter().map(|n| n.stats.refreshes).sum();
    assert!(again > announced, "nobody re-announced after the loss");
    assert!(net.resolve(0, "0.n11", 100, 1).is_ok());
    assert!(net.resolve(11, "0.n3", 101, 1).is_ok());
}

#[test]
fn live_leaf_set_members_are_revalidated_before_not_after() {
    let mut net = Net::new(4);
    register_all(&mut net);
    net.run(60);
    let admitted_until = net
        .now()
        .wall
        .plus_secs(Config::default().cpa_lifetime.as_secs());
    let leaf: Vec<crate::id::PnrpId> = net.nodes[0]
        .cache()
        .iter()
        .filter(|e| e.cpa.is_some())
        .map(|e| e.route.id)
        .collect();
    assert_eq!(leaf.len(), 3, "node 0 holds the other three with CPAs");
    // Their FLOODs on refresh are duplicates, so only re-validation renews
    // the CPAs: an hour before the first Not After every one is renewed…
    net.run(Config::default().cpa_lifetime.as_secs() - 3600);
    for id in &leaf {
        let e = net.nodes[0].cache().get(id).expect("still cached");
        let cpa = e.cpa.as_ref().expect("with a CPA");
        assert!(cpa.not_after() > admitted_until.plus_secs(3600), "renewed");
    }
    // …and past it nothing was evicted.
    net.run(2 * 3600);
    for id in &leaf {
        assert!(
            net.nodes[0]
                .cache()
                .get(id)
                .is_some_and(|e| e.cpa.is_some())
        );
    }
}

#[test]
fn a_cached_publisher_is_inquired_without_a_lookup() {
    let mut net = Net::new(2);
    register(&mut net, 0, "0.first", 1);
    register(&mut net, 1, "0.second", 2);
    net.run(60);
    let id = *net.nodes[0].local_ids().next().expect("registered");
    assert!(
        net.nodes[1].cache().get(&id).is_some(),
        "node 1 caches node 0's entry"
    );
    // Hop count 0: the publisher's answer came from the INQUIRE alone (a
    // LOOKUP that pointed back at it would count as a useful hop).
    let r = net.resolve(1, "0.first", 10, 1).expect("found");
    assert_eq!(r[0].hops, 0);
    assert_eq!(r[0].cpa.content().endpoints[0].port, 8000);
}

#[test]
fn a_settled_node_skips_idle_maintenance_ticks() {
    let mut net = Net::new(12);
    register_all(&mut net);
    net.run(900);
    let period = Config::default().maintenance;
    let before: Vec<u64> = net
        .nodes
        .iter()
        .map(|n| n.stats.maintenance_ticks)
        .collect();
    // Some node plans idle ticks: its next maintenance run lies beyond the
    // next grid tick.
    let mut idle = None;
    for _ in 0..600 {
        net.run(1);
        idle = (0..12).find(|&i| {
            let n = &net.nodes[i];
            n.maintenance_deadline() > n.next_maintenance.plus(period)
        });
        if idle.is_some() {
            break;
        }
    }
    let i = idle.expect("a settled node skips idle ticks");
    // A change of what the plan rests on (a new registration) brings the
    // next run back to the first grid tick after it.
    register(&mut net, i, "0.late", 99);
    let next = net.nodes[i].maintenance_deadline();
    assert!(next > net.now && next <= net.now.plus(period), "{next:?}");
    // Over an hour the settled cloud runs far fewer than one maintenance
    // per grid tick and per node, and still resolves.
    net.run(3600);
    let runs: u64 = net
        .nodes
        .iter()
        .zip(&before)
        .map(|(n, b)| n.stats.maintenance_ticks - b)
        .sum();
    let grid = 12 * (3600 + 600) / period.as_secs();
    assert!(
        runs < grid / 2,
        "{runs} maintenance runs for {grid} grid ticks"
    );
    assert!(net.resolve(3, "0.n7", 100, 1).is_ok());
    assert!(net.resolve(5, "0.late", 101, 1).is_ok());
}

#[test]
fn random_maintenance_lookups_back_off_until_a_peer_is_found_dead() {
    let mut net = Net::new(12);
    register_all(&mut net);
    // Six draws, each at most 40 ticks (10 min) ahead.
    net.run(3900);
    // No peer died: every node has slowed its random lookups down.
    assert!(
        net.nodes
            .iter()
            .all(|n| n.lookup_backoff == MAX_LOOKUP_BACKOFF),
        "{:?}",
        net.nodes
            .iter()
            .map(|n| n.lookup_backoff)
            .collect::<Vec<_>>()
    );
    // At that floor a node looks once every ~83 minutes (3/1000 per tick).
    assert_eq!(
        Config::default().maintenance_lookup_permille >> MAX_LOOKUP_BACKOFF,
        3
    );
    // Three peers vanish: the nodes whose requests then run out of retries
    // go back to the full rate at their next draw.
    for j in [2, 6, 9] {
        net.up[j] = false;
    }
    let mut reset = false;
    for _ in 0..480 {
        net.run(15);
        reset |= net
            .nodes
            .iter()
            .enumerate()
            .any(|(i, n)| net.up[i] && n.lookup_backoff == 0);
        if reset {
            break;
        }
    }
    assert!(
        reset,
        "a node that met a dead peer looks up at the full rate"
    );
    assert!(net.resolve(0, "0.n11", 100, 1).is_ok());
}

/// Everything `node` has queued to send, decoded.
fn sent(node: &mut Node) -> Vec<(SocketAddr, crate::wire::Packet)> {
    let mut out = Vec::new();
    while let Some((to, bytes)) = node.poll_transmit_owned() {
        out.push((to, crate::wire::Packet::decode(&bytes).expect("decodes")));
    }
    out
}

/// A node at `addr(0)` with no seeds and no registration, at time 0.
fn lone_node(seed: u8) -> (Node, Now) {
    let now = Now {
        mono: Instant(0),
        wall: T0,
    };
    let config = Config {
        local: vec![Endpoint::from_socket_addr(addr(0))],
        ..Config::default()
    };
    let node = Node::new(config, Arc::new(P256Verifier), [seed; 32], now);
    (node, now)
}

/// The MessageID of the first LOOKUP in `out` to node `i`.
fn lookup_to(
    out: &[(SocketAddr, crate::wire::Packet)],
    i: usize,
) -> Option<crate::wire::MessageId> {
    out.iter()
        .find(|(to, p)| *to == addr(i) && matches!(p.message, crate::wire::Message::Lookup(_)))
        .map(|(_, p)| p.message_id)
}

/// A route entry for `id` at node `i`'s address.
fn entry(id: crate::id::PnrpId, i: usize) -> crate::wire::RouteEntry {
    crate::wire::RouteEntry {
        id,
        port: 3540,
        addresses: vec![match addr(i).ip() {
            std::net::IpAddr::V6(v6) => v6,
            std::net::IpAddr::V4(_) => unreachable!("test addresses are IPv6"),
        }],
    }
}

/// `node` receives from `from` the AUTHORITY_BUFFER `b` answering `acked`.
fn answer(
    node: &mut Node,
    now: Now,
    from: SocketAddr,
    acked: crate::wire::MessageId,
    b: &crate::wire::AuthorityBuffer,
) {
    let mut bytes = Vec::new();
    b.encode(&mut bytes).expect("encodes");
    for frag in crate::wire::fragment(acked, &bytes).expect("fragments") {
        let packet = crate::wire::Packet {
            message_id: crate::wire::MessageId(7),
            message: crate::wire::Message::Authority(frag),
        };
        node.handle_datagram(now, from, &packet.to_vec().expect("encodes"));
    }
}

#[test]
fn a_hop_that_answers_a_lookup_is_cached_without_an_inquire() {
    use crate::wire::{AuthorityBuffer, Message};
    let (mut a, mut now) = lone_node(1);
    let name = "0.target";
    // Far from the target: B, the only cached entry; close to it but of
    // another name: C, which B will point to.
    let target = name.parse::<PeerName>().expect("name").p2p_id();
    let mut far = crate::id::PnrpId([0; 32]);
    far.0[..16].copy_from_slice(&target.0);
    let mut near = far;
    far.0[0] ^= 0x80;
    near.0[15] ^= 1;
    let (b, c) = (entry(far, 1), entry(near, 2));
    let _ = sent(&mut a);
    let _ = a.cache.insert(b, None, now.mono);
    a.handle_command(
        now,
        Command::Resolve {
            request: RequestId(2),
            name: name.parse().expect("name"),
            max_results: 1,
            deadline: now.mono.plus(core::time::Duration::from_secs(20)),
        },
    );
    let out = sent(&mut a);
    let lookup_b = out
        .iter()
        .find(|(to, p)| {
            *to == addr(1) && matches!(&p.message, Message::Lookup(l) if l.validate == far)
        })
        .map(|(_, p)| p.message_id)
        .expect("a LOOKUP to B validating B's ID");
    now.mono = now.mono.plus(core::time::Duration::from_millis(1));
    let to_c = AuthorityBuffer {
        route_entry: Some(c),
        ..AuthorityBuffer::default()
    };
    answer(&mut a, now, addr(1), lookup_b, &to_c);
    let out = sent(&mut a);
    assert!(
        out.iter()
            .all(|(to, p)| *to != addr(2) || !matches!(p.message, Message::Inquire(_))),
        "no admission INQUIRE to C while it is about to be asked: {out:?}"
    );
    let lookup_c = out
        .iter()
        .find(|(to, p)| {
            *to == addr(2) && matches!(&p.message, Message::Lookup(l) if l.validate == near)
        })
        .map(|(_, p)| p.message_id)
        .expect("C is asked next, validating its ID");
    assert!(!a.cache().contains(&near), "not cached before it answers");
    now.mono = now.mono.plus(core::time::Duration::from_millis(1));
    answer(&mut a, now, addr(2), lookup_c, &AuthorityBuffer::default());
    assert!(a.cache().contains(&near), "its answer proved it");
    assert!(
        sent(&mut a)
            .iter()
            .all(|(to, p)| *to != addr(2) || !matches!(p.message, Message::Inquire(_))),
        "nor after it answered"
    );
}

#[test]
fn a_balancing_walk_ends_at_the_first_hop_in_its_gap() {
    use crate::engine::cache::Placement;
    use crate::wire::{AuthorityBuffer, Message};
    let (mut a, mut now) = lone_node(2);
    let _ = sent(&mut a);
    let gap = Placement {
        level: 1,
        bucket: 3,
    };
    let target = a.cache().bucket_midpoint(1, 3).expect("a sub-bucket");
    let offset = |k: u8| {
        let mut o = crate::id::PnrpId([0; 32]);
        o.0[31] = k;
        target.wrapping_add(&o)
    };
    // B lies on the other side of the centre; C and D in the gap, D
    // nearer its middle.
    let b = a.cache().bucket_midpoint(1, 8).expect("a sub-bucket");
    let (c, d) = (offset(200), offset(1));
    assert_eq!(a.cache().placement(&c), gap);
    let _ = a.cache.insert(entry(b, 1), None, now.mono);
    a.start_balancing_resolve(target, gap);
    let lookup_b = lookup_to(&sent(&mut a), 1).expect("B is asked first");
    now.mono = now.mono.plus(core::time::Duration::from_millis(1));
    let to_c = AuthorityBuffer {
        route_entry: Some(entry(c, 2)),
        ..AuthorityBuffer::default()
    };
    answer(&mut a, now, addr(1), lookup_b, &to_c);
    let lookup_c = lookup_to(&sent(&mut a), 2).expect("C, closer to the middle, is asked next");
    now.mono = now.mono.plus(core::time::Duration::from_millis(1));
    let to_d = AuthorityBuffer {
        route_entry: Some(entry(d, 3)),
        ..AuthorityBuffer::default()
    };
    answer(&mut a, now, addr(2), lookup_c, &to_d);
    // C answered from inside the gap: the walk is over. D, nearer the
    // middle, is neither asked nor INQUIREd.
    let out = sent(&mut a);
    assert!(a.cache().contains(&c), "C proved alive in the gap");
    assert!(
        !out.iter()
            .any(|(to, p)| *to == addr(3) && matches!(p.message, Message::Lookup(_))),
        "no LOOKUP past the gap: {out:?}"
    );
    assert!(
        out.iter().all(|(to, _)| *to != addr(3)),
        "nothing goes to D: {out:?}"
    );
    assert!(!a.cache().contains(&d));
    assert!(a.resolves.is_empty(), "the walk ended");
}

#[test]
fn a_registration_lookup_counts_its_path_as_already_flooded() {
    use crate::wire::{Lookup, Message, MessageId, Packet, ResolveCriteria, ResolveReason};
    let mut net = Net::new(1);
    let y = register(&mut net, 0, "0.holder", 1);
    let now = net.now();
    let h = &mut net.nodes[0];
    let _ = sent(h);
    let above_y = |k: u8| {
        let mut o = crate::id::PnrpId([0; 32]);
        o.0[31] = k;
        y.wrapping_add(&o)
    };
    // Around X, just above our registration: N1 below it, N2 above it.
    let (n1, x, n2) = (above_y(5), above_y(10), above_y(20));
    let _ = h.cache.insert(entry(n1, 1), None, now.mono);
    let _ = h.cache.insert(entry(n2, 2), None, now.mono);
    let ep = |i: usize| Endpoint::from_socket_addr(addr(i));
    // X's registration LOOKUP, with its own entry as the best match; N2
    // was asked before us.
    let lookup = Packet {
        message_id: MessageId(99),
        message: Message::Lookup(Lookup {
            accept_not_closer: false,
            precision: 0,
            criteria: ResolveCriteria::None,
            reason: ResolveReason::REGISTRATION,
            target: above_y(11),
            validate: y,
            best_match: Some(entry(x, 3)),
            flagged_path: vec![ep(3), ep(2)],
        }),
    };
    h.handle_datagram(now, addr(3), &lookup.to_vec().expect("encodes"));
    let cand = h
        .admissions
        .values()
        .find(|c| c.route.id == x)
        .expect("X, in our leaf set, is being validated");
    assert!(cand.need_cpa);
    let origin = cand.flood.clone();
    assert_eq!(origin, Some((addr(3), vec![ep(3), ep(2)])));
    // Once X is admitted it is flooded to N1 alone: N2 was sent X's
    // LOOKUP, and X, which told us itself, holds our entry.
    let _ = sent(h);
    let _ = h.cache.insert(entry(x, 3), None, now.mono);
    h.leaf_set_flood(x, origin);
    let floods: Vec<SocketAddr> = sent(h)
        .into_iter()
        .filter(|(_, p)| matches!(p.message, Message::Flood(_)))
        .map(|(to, _)| to)
        .collect();
    assert_eq!(floods, vec![addr(1)]);
}

#[test]
fn a_candidate_that_could_only_replace_a_fresh_entry_is_not_inquired() {
    use crate::wire::{Flood, Message, MessageId, Packet};
    let (mut a, now) = lone_node(3);
    let _ = sent(&mut a);
    // Level 1 full: 11 entries in sub-bucket 3, 9 in sub-bucket 7, all
    // validated now.
    let in_bucket = |b: usize, k: u8| {
        let mut o = crate::id::PnrpId([0; 32]);
        o.0[31] = k;
        a.cache()
            .bucket_midpoint(1, b)
            .expect("a sub-bucket")
            .wrapping_add(&o)
    };
    let mut cached = Vec::new();
    for k in 0..11 {
        cached.push(in_bucket(3, k));
    }
    for k in 0..9 {
        cached.push(in_bucket(7, k));
    }
    let (crowded, elsewhere) = (in_bucket(3, 100), in_bucket(5, 0));
    for (i, id) in cached.into_iter().enumerate() {
        assert!(matches!(
            a.cache.insert(entry(id, 10 + i), None, now.mono),
            cache::InsertOutcome::Added { .. }
        ));
    }
    let flood = |a: &mut Node, id: crate::id::PnrpId, i: usize| {
        let packet = Packet {
            message_id: MessageId(1000 + i as u32),
            message: Message::Flood(Flood {
                no_ack: false,
                validate: crate::id::PnrpId([0; 32]),
                revoke: None,
                route_entry: Some(entry(id, i)),
                already_flooded: Vec::new(),
            }),
        };
        a.handle_datagram(now, addr(i), &packet.to_vec().expect("encodes"));
        sent(a)
            .into_iter()
            .any(|(to, p)| to == addr(i) && matches!(p.message, Message::Inquire(_)))
    };
    // It would only take the place of a fresh entry of sub-bucket 3.
    assert!(!flood(&mut a, crowded, 1), "not validated");
    assert_eq!(a.stats.admission_skipped, 1);
    // One for sub-bucket 5 changes what the level covers.
    assert!(flood(&mut a, elsewhere, 2), "validated");
    // A node that met a dead peer validates every candidate.
    a.stats.timeouts += 1;
    assert!(
        flood(&mut a, crowded, 3),
        "validated once a peer was found dead"
    );
    assert_eq!(a.stats.admission_skipped, 1);
}
