//! Engine scale: one publisher node registering thousands of names in a
//! small in-memory cloud (the situation of a DNS-benchmark publisher). Real
//! encoded datagrams, virtual time, fixed latency, no sockets — the same
//! driving contract as the engine's scenario tests, through the public API
//! only.
//!
//! `cargo test -p pnrp --test engine_scale` runs a small case that checks
//! behaviour (every registration succeeds, caches keep their invariants,
//! sampled names resolve from another node). The measuring runs are
//! ignored by default and assert nothing about timing:
//!
//! ```text
//! cargo test --release -p pnrp --test engine_scale -- --ignored --nocapture
//! ```
//!
//! They print the publisher's CPU time per registration (every input the
//! publisher handled while the names were being registered, i.e. the
//! registration itself plus the traffic it caused) as registrations/s.
#![allow(
    clippy::disallowed_methods,
    reason = "the benchmark reads the wall clock around engine calls, like any shell"
)]

use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use pnrp::cpa::{AppEndpoint, PROTO_TCP};
use pnrp::crypto::{P256Signer, P256Verifier, Signer};
use pnrp::engine::{Command, Config, Event, Node, Now, RateConfig, Registration, RequestId};
use pnrp::time::{Instant, UnixTime};
use pnrp::wire::Endpoint;

const LATENCY_US: u64 = 1_000;
const T0: UnixTime = UnixTime(1_790_000_000);

fn addr(i: usize) -> SocketAddr {
    SocketAddr::new(
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i as u16 + 1).into(),
        3540,
    )
}

struct Net {
    nodes: Vec<Node>,
    now: Instant,
    queue: VecDeque<(Instant, usize, SocketAddr, Vec<u8>)>,
    events: Vec<(usize, Event)>,
    index: BTreeMap<SocketAddr, usize>,
    /// Wall time spent inside each node's input calls.
    cpu: Vec<Duration>,
}

impl Net {
    fn now(&self) -> Now {
        Now {
            mono: self.now,
            wall: T0.plus_secs(self.now.0 / 1_000_000),
        }
    }

    /// `n` nodes seeded with node 0, each allowed `max_registrations`.
    fn new(n: usize, max_registrations: usize, rate: RateConfig) -> Self {
        let mut net = Self {
            nodes: Vec::new(),
            now: Instant(0),
            queue: VecDeque::new(),
            events: Vec::new(),
            index: BTreeMap::new(),
            cpu: Vec::new(),
        };
        for i in 0..n {
            let config = Config {
                local: vec![Endpoint::from_socket_addr(addr(i))],
                seeds: if i == 0 { vec![] } else { vec![addr(0)] },
                max_registrations,
                rate,
                ..Config::default()
            };
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let now = net.now();
            net.nodes
                .push(Node::new(config, Arc::new(P256Verifier), seed, now));
            net.index.insert(addr(i), i);
            net.cpu.push(Duration::ZERO);
            net.drain(i);
        }
        net
    }

    fn drain(&mut self, i: usize) {
        let mut buf = Vec::new();
        let at = self.now.plus(Duration::from_micros(LATENCY_US));
        while let Some(to) = self.nodes[i].poll_transmit(&mut buf) {
            self.queue.push_back((at, i, to, buf.clone()));
        }
        while let Some(e) = self.nodes[i].poll_event() {
            self.events.push((i, e));
        }
    }

    fn timed(&mut self, i: usize, f: impl FnOnce(&mut Node, Now)) {
        let now = self.now();
        let t = std::time::Instant::now();
        f(&mut self.nodes[i], now);
        self.cpu[i] += t.elapsed();
        self.drain(i);
    }

    fn command(&mut self, i: usize, cmd: Command) {
        self.timed(i, |n, now| n.handle_command(now, cmd));
    }

    /// Runs the network until `end` (virtual time).
    fn run_until(&mut self, end: Instant) {
        loop {
            let next_msg = self.queue.front().map(|m| m.0);
            let next_timer = self
                .nodes
                .iter()
                .enumerate()
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
                if let Some(&j) = self.index.get(&to) {
                    self.timed(j, |n, now| n.handle_datagram(now, addr(from), &bytes));
                }
            } else if let Some((_, i)) = next_timer {
                self.timed(i, |n, now| n.handle_timeout(now));
            }
        }
        self.now = self.now.max(end);
    }

    fn run(&mut self, secs: u64) {
        let end = self.now.plus(Duration::from_secs(secs));
        self.run_until(end);
    }

    fn take_event(&mut self, f: impl Fn(&(usize, Event)) -> bool) -> Option<(usize, Event)> {
        let pos = self.events.iter().position(f)?;
        Some(self.events.remove(pos))
    }
}

fn signer(n: u8) -> Arc<P256Signer> {
    let mut s = [0u8; 32];
    s[31] = n;
    Arc::new(P256Signer::from_scalar_bytes(&s).expect("scalar"))
}

fn registration(name: &str, signer: Arc<dyn Signer + Send + Sync>, port: u16) -> Box<Registration> {
    Box::new(Registration {
        name: name.parse().expect("name"),
        signer,
        endpoints: vec![AppEndpoint::new(
            SocketAddr::from(([10, 1, 2, 3], port)),
            PROTO_TCP,
        )],
        comment: None,
        payload: None,
        prefix: None,
    })
}

struct Report {
    publisher_cpu: Duration,
    register_cpu: Duration,
    dropped_rate: u64,
}

/// Per-source limits high enough never to drop anything.
fn unlimited() -> RateConfig {
    RateConfig {
        requests_per_s: 1_000_000,
        request_burst: 1_000_000,
        lookups_per_s: 1_000_000,
        lookup_burst: 1_000_000,
        ..RateConfig::default()
    }
}

/// A cloud of `cloud` nodes, each with one name; then nodes
/// `0..publishers` each register `names` names, taking turns, at `per_s`
/// registrations per virtual second in all, and the cloud runs 5 s more.
/// The report is node 0's: with other publishers' names arriving in its
/// leaf sets, its cache grows with its registrations, as on a publisher of
/// the DNS benchmark.
fn publish(
    names: usize,
    publishers: usize,
    cloud: usize,
    per_s: u64,
    hedged: bool,
    rate: RateConfig,
) -> (Net, Report) {
    let mut net = Net::new(cloud, names + 16, rate);
    for i in 1..cloud {
        let cmd = Command::Register {
            request: RequestId(i as u64),
            registration: registration(&format!("0.node{i}"), signer(i as u8), 7000),
        };
        net.command(i, cmd);
        net.run(1);
    }
    net.run(60);
    let key: Arc<dyn Signer + Send + Sync> = if hedged {
        Arc::new(
            P256Signer::from_scalar_bytes(&[7; 32])
                .expect("scalar")
                .hedged(),
        )
    } else {
        signer(200)
    };
    let cpu0 = net.cpu[0];
    let drops0 = net.nodes[0].stats().dropped_rate;
    let mut register_cpu = Duration::ZERO;
    let step = 1_000_000 / per_s.max(1);
    let start = net.now;
    for k in 0..names * publishers {
        net.run_until(Instant(start.0 + k as u64 * step));
        let (p, n) = (k % publishers, k / publishers);
        let name = if p == 0 {
            format!("0.host{n}")
        } else {
            format!("0.p{p}-host{n}")
        };
        let cmd = Command::Register {
            request: RequestId(1_000_000 + k as u64),
            registration: registration(&name, key.clone(), 8000),
        };
        let before = net.cpu[p];
        net.command(p, cmd);
        if p == 0 {
            register_cpu += net.cpu[0] - before;
        }
    }
    net.run(5);
    let report = Report {
        publisher_cpu: net.cpu[0] - cpu0,
        register_cpu,
        dropped_rate: net.nodes[0].stats().dropped_rate - drops0,
    };
    let ok = net
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::Registered { result: Ok(_), .. }))
        .count();
    assert_eq!(
        ok,
        names * publishers + cloud - 1,
        "every registration succeeds"
    );
    (net, report)
}

fn print(names: usize, publishers: usize, cloud: usize, per_s: u64, r: &Report, cache: usize) {
    let secs = r.publisher_cpu.as_secs_f64();
    println!(
        "{names} names on each of {publishers} publishers, {cloud} nodes, offered {per_s}/s: \
         node 0 CPU {secs:.2} s ({:.0} registrations/s), in Register commands {:.2} s, \
         rate-limit drops {}, cache {cache} entries",
        names as f64 / secs,
        r.register_cpu.as_secs_f64(),
        r.dropped_rate,
    );
}

#[test]
fn a_publisher_with_many_names_keeps_serving_them() {
    let (mut net, r) = publish(200, 2, 6, 200, false, RateConfig::default());
    print(200, 2, 6, 200, &r, net.nodes[0].cache().len());
    for n in &net.nodes {
        n.cache().check_invariants().expect("cache invariants");
    }
    assert_eq!(net.nodes[0].local_ids().count(), 200);
    net.events.clear();
    for k in (0..200).step_by(29) {
        let req = RequestId(5_000_000 + k as u64);
        let deadline = net.now.plus(Duration::from_secs(10));
        net.command(
            1 + k % 5,
            Command::Resolve {
                request: req,
                name: format!("0.host{k}").parse().expect("name"),
                max_results: 1,
                deadline,
            },
        );
        net.run(12);
        let got = net
            .take_event(|(_, e)| matches!(e, Event::Resolved { request, .. } if *request == req));
        assert!(
            matches!(got, Some((_, Event::Resolved { result: Ok(ref v), .. })) if !v.is_empty()),
            "0.host{k} resolves: {got:?}"
        );
    }
}

#[test]
#[ignore = "measurement: run with --release --ignored --nocapture"]
fn measure_registration_throughput() {
    // ENGINE_SCALE_NAMES=5000,20000 and ENGINE_SCALE_LIMITS=none|default
    // pick the runs (default: both sizes, both settings).
    let sizes: Vec<usize> = std::env::var("ENGINE_SCALE_NAMES")
        .unwrap_or_else(|_| "5000,20000".into())
        .split(',')
        .map(|n| n.trim().parse().expect("ENGINE_SCALE_NAMES: numbers"))
        .collect();
    let which = std::env::var("ENGINE_SCALE_LIMITS").unwrap_or_default();
    let settings = [
        ("none", "no rate limits", unlimited()),
        ("default", "default rate limits", RateConfig::default()),
    ];
    for &(key, limits, rate) in &settings {
        if !which.is_empty() && which != key {
            continue;
        }
        println!("{limits}:");
        for &names in &sizes {
            let (net, r) = publish(names, 2, 8, 500, true, rate);
            print(names, 2, 8, 500, &r, net.nodes[0].cache().len());
            net.nodes[0].cache().check_invariants().expect("invariants");
        }
    }
}

/// What one LOOKUP and one INQUIRE cost a publisher holding 5,000 names
/// (handling plus encoding the answer), the figures behind the rate-limit
/// defaults (docs/protocol.md, D20).
#[test]
#[ignore = "measurement: run with --release --ignored --nocapture"]
fn measure_request_costs() {
    use pnrp::cpa::PayloadData;
    use pnrp::id::PnrpId;
    use pnrp::wire::{Inquire, Lookup, Message, MessageId, Packet, ResolveCriteria, ResolveReason};

    const NAMES: usize = 5_000;
    const ROUNDS: u32 = 20_000;
    let config = Config {
        local: vec![Endpoint::from_socket_addr(addr(0))],
        max_registrations: NAMES,
        rate: unlimited(),
        ..Config::default()
    };
    let now = Now {
        mono: Instant(0),
        wall: T0,
    };
    let mut node = Node::new(config, Arc::new(P256Verifier), [9; 32], now);
    let key: Arc<dyn Signer + Send + Sync> = Arc::new(
        P256Signer::from_scalar_bytes(&[7; 32])
            .expect("scalar")
            .hedged(),
    );
    for k in 0..NAMES {
        let mut r = registration(&format!("0.host{k}"), key.clone(), 8000);
        if k % 2 == 1 {
            r.payload = Some(PayloadData::Text("x".repeat(1000)));
        }
        node.handle_command(
            now,
            Command::Register {
                request: RequestId(k as u64),
                registration: r,
            },
        );
    }
    // Registered IDs by request: even without payload, odd with one.
    let mut ids = vec![PnrpId([0; 32]); NAMES];
    while let Some(e) = node.poll_event() {
        if let Event::Registered {
            request,
            result: Ok(id),
        } = e
        {
            ids[request.0 as usize] = id;
        }
    }
    let mut buf = Vec::new();
    while node.poll_transmit(&mut buf).is_some() {}
    let from = addr(99);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut time = |node: &mut Node, msg: Message, t: u64| {
        let bytes = Packet {
            message_id: MessageId(t as u32 + 1),
            message: msg,
        }
        .to_vec()
        .expect("encode");
        let now = Now {
            mono: Instant(1_000_000 + t),
            wall: T0,
        };
        let start = std::time::Instant::now();
        node.handle_datagram(now, from, &bytes);
        let mut out = 0;
        while node.poll_transmit(&mut buf).is_some() {
            out += buf.len();
        }
        (start.elapsed(), out)
    };
    let mut lookup = (Duration::ZERO, 0);
    for t in 0..ROUNDS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut target = [0u8; 32];
        for (i, b) in target.iter_mut().enumerate() {
            *b = (x >> (i % 8 * 8)) as u8 ^ i as u8;
        }
        let msg = Message::Lookup(Lookup {
            accept_not_closer: false,
            precision: 0,
            criteria: ResolveCriteria::AnyPeerName,
            reason: ResolveReason::APP_REQUEST,
            target: PnrpId(target),
            validate: ids[t as usize % ids.len()],
            best_match: None,
            flagged_path: vec![Endpoint::from_socket_addr(from)],
        });
        let (d, n) = time(&mut node, msg, u64::from(t));
        lookup = (lookup.0 + d, lookup.1 + n);
    }
    for with_payload in [false, true] {
        let mut inquire = (Duration::ZERO, 0);
        for t in 0..ROUNDS {
            // Even indices carry no payload, odd ones 1,000 bytes.
            let i = (t as usize * 2 + usize::from(with_payload)) % ids.len();
            let msg = Message::Inquire(Inquire {
                want_cpa: true,
                want_payload: true,
                want_chain: true,
                validate: ids[i],
                nonce: Some([t as u8; 16]),
            });
            let (d, n) = time(&mut node, msg, u64::from(ROUNDS + t));
            inquire = (inquire.0 + d, inquire.1 + n);
        }
        println!(
            "INQUIRE (CPA{}): {:.1} µs, {} bytes answered",
            if with_payload {
                " + 1,000-byte payload"
            } else {
                ""
            },
            inquire.0.as_secs_f64() * 1e6 / f64::from(ROUNDS),
            inquire.1 / ROUNDS as usize,
        );
    }
    println!(
        "LOOKUP: {:.1} µs, {} bytes answered ({NAMES} names held)",
        lookup.0.as_secs_f64() * 1e6 / f64::from(ROUNDS),
        lookup.1 / ROUNDS as usize,
    );
    assert_eq!(node.stats().dropped_rate, 0);
}
