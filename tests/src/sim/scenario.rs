//! A whole benchmark run, as `pnrp-sim` performs it: build the cloud, let it
//! settle, measure maintenance traffic, resolve, report.
//!
//! # Timeline (virtual time)
//!
//! 1. **Joins.** Node 0 starts at 0 s with no seed. Then waves start every
//!    `wave_gap`: wave *k* has as many nodes as already started (capped at
//!    a tenth of the cloud), each starting at a uniformly random moment in
//!    its wave with 1–3 seeds picked among the live nodes. Each node
//!    registers its name `register_delay` after starting.
//! 2. **Warm-up** of `warmup` after the last registration.
//! 3. **Measurement window** of `measure`: no lookups run; the bytes sent
//!    by all nodes over the live node-seconds give `bytes_per_node_per_s`.
//! 4. **Lookups**: `lookups` resolutions at `lookup_rate` per second, each
//!    from a random honest node up for `grace` for a random honest name
//!    published by another live node for `grace`, with a deadline of
//!    `lookup_timeout`.
//! 5. The run ends `lookup_timeout + 5 s` after the last lookup; honest
//!    caches are scanned (also every `scan_period` from the end of the
//!    warm-up) and the [`Report`] is built.
//!
//! Churn (`exp:MEDIAN`) applies from each node's first join: sessions and
//! off-times are exponential with the given medians; a node that comes back
//! is a fresh engine (new seed, empty cache) at the same index and
//! re-registers its name. Partitions are scheduled at absolute times.

use core::time::Duration;

use pnrp::engine::Config;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use sha2::{Digest, Sha256};

use super::crypto::CryptoMode;
use super::malicious::Behaviour;
use super::metrics::{Report, mean, percentile, rss_bytes, type_name};
use super::net::{Latency, Lifetime, Partition, Side, below, unit};
use super::world::{NodeIdx, Role, World, WorldConfig};

/// Every parameter of a run. [`Scenario::default`] is the documented
/// default of each `pnrp-sim` flag.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Population size.
    pub nodes: u32,
    /// Scenario lookups.
    pub lookups: u32,
    /// Master seed.
    pub seed: u64,
    /// Session lengths.
    pub churn: Lifetime,
    /// Off-times (`None` = the same as `churn`).
    pub offtime: Option<Lifetime>,
    /// Loss probability per datagram.
    pub loss: f64,
    /// Fraction of malicious nodes (never node 0).
    pub malicious: f64,
    /// What malicious nodes do.
    pub behaviour: Behaviour,
    /// Signature scheme.
    pub crypto: CryptoMode,
    /// Publish unsecured names (`0.node<i>`) instead of secured ones.
    pub unsecured: bool,
    /// Honest nodes per name (names with several publishers).
    pub publishers_per_name: u32,
    /// Scheduled partitions.
    pub partitions: Vec<Partition>,
    /// Settling time after the last registration.
    pub warmup: Duration,
    /// Length of the maintenance measurement window.
    pub measure: Duration,
    /// Lookups per virtual second.
    pub lookup_rate: f64,
    /// Deadline of each lookup.
    pub lookup_timeout: Duration,
    /// Minimum age of a lookup's issuer and of the target's registration.
    pub grace: Duration,
    /// Start-to-registration delay of each node.
    pub register_delay: Duration,
    /// Time between join waves.
    pub wave_gap: Duration,
    /// Period of the forged-record scans.
    pub scan_period: Duration,
    /// Latency model.
    pub latency: Latency,
    /// Check cache invariants after every node input.
    pub check_invariants: bool,
    /// Engine configuration template.
    pub engine: Config,
    /// Print progress lines to stderr.
    pub progress: bool,
    /// Threads (node partitions run in parallel); the run is the same for
    /// any value.
    pub threads: usize,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            nodes: 1000,
            lookups: 1000,
            seed: 1,
            churn: Lifetime::Forever,
            offtime: None,
            loss: 0.0,
            malicious: 0.0,
            behaviour: Behaviour::default(),
            crypto: CryptoMode::Sim,
            unsecured: false,
            publishers_per_name: 1,
            partitions: Vec::new(),
            warmup: Duration::from_secs(120),
            measure: Duration::from_secs(60),
            lookup_rate: 20.0,
            lookup_timeout: Duration::from_secs(20),
            grace: Duration::from_secs(30),
            register_delay: Duration::from_secs(5),
            wave_gap: Duration::from_secs(5),
            scan_period: Duration::from_secs(60),
            latency: Latency::default(),
            check_invariants: false,
            engine: Config::default(),
            progress: false,
            threads: 1,
        }
    }
}

/// Most nodes a run accepts.
pub const MAX_NODES: u32 = 10_000_000;
/// Most nodes `--crypto real` accepts (P-256 would dominate beyond).
pub const MAX_REAL_CRYPTO_NODES: u32 = 10_000;

impl Scenario {
    /// Checks every parameter; the error names the rule broken.
    pub fn validate(&self) -> Result<(), String> {
        if self.nodes == 0 || self.nodes > MAX_NODES {
            return Err(format!(
                "--nodes must be 1..={MAX_NODES}, got {}",
                self.nodes
            ));
        }
        if !(0.0..=1.0).contains(&self.loss) {
            return Err(format!("--loss must be in 0..=1, got {}", self.loss));
        }
        if !(0.0..1.0).contains(&self.malicious) {
            return Err(format!(
                "--malicious must be in 0..1 (some honest nodes must remain), got {}",
                self.malicious
            ));
        }
        if !(0.0..=1.0).contains(&self.behaviour.drop_lookups) {
            return Err(format!(
                "--malicious-drop must be in 0..=1, got {}",
                self.behaviour.drop_lookups
            ));
        }
        if self.crypto == CryptoMode::Real && self.nodes > MAX_REAL_CRYPTO_NODES {
            return Err(format!(
                "--crypto real is limited to {MAX_REAL_CRYPTO_NODES} nodes (P-256 verification \
                 would dominate); use --crypto sim"
            ));
        }
        if !(self.lookup_rate.is_finite() && self.lookup_rate > 0.0) {
            return Err(format!(
                "--lookup-rate must be positive, got {}",
                self.lookup_rate
            ));
        }
        if self.publishers_per_name == 0 {
            return Err("--publishers-per-name must be at least 1".into());
        }
        if self.lookup_timeout.is_zero() {
            return Err("--lookup-timeout must be positive".into());
        }
        if !(1..=64).contains(&self.threads) {
            return Err(format!("--threads must be 1..=64, got {}", self.threads));
        }
        if self.wave_gap.is_zero() {
            return Err("--wave-gap must be positive".into());
        }
        Ok(())
    }

    fn schedule_rng(&self) -> ChaCha8Rng {
        let mut h = Sha256::new();
        h.update(b"pnrp-sim schedule");
        h.update(self.seed.to_le_bytes());
        ChaCha8Rng::from_seed(h.finalize().into())
    }
}

/// Why [`run_checked`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// A parameter is invalid.
    Invalid(String),
    /// Two runs of the same scenario gave different event hashes.
    NotDeterministic {
        /// First run's hash.
        first: String,
        /// Second run's hash.
        second: String,
    },
}

impl core::fmt::Display for RunError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Invalid(m) => f.write_str(m),
            Self::NotDeterministic { first, second } => write!(
                f,
                "determinism check failed: event hash {first} on the first run, {second} on the second"
            ),
        }
    }
}

impl std::error::Error for RunError {}

#[expect(
    clippy::disallowed_methods,
    reason = "the one wall-clock read: timing the run for wall_seconds and speedup"
)]
fn wall_clock() -> std::time::Instant {
    std::time::Instant::now()
}

/// Builds the world of `s` with its whole schedule, and returns it with the
/// virtual instants (end of warm-up, end of the run).
pub fn build(s: &Scenario) -> Result<(World, Duration, Duration), RunError> {
    s.validate().map_err(RunError::Invalid)?;
    let mut rng = s.schedule_rng();
    let mut world = World::new(WorldConfig {
        seed: s.seed,
        crypto: s.crypto,
        latency: s.latency,
        loss: s.loss,
        engine: s.engine.clone(),
        check_invariants: s.check_invariants,
        lookup_timeout: s.lookup_timeout,
        grace: s.grace,
        register_delay: s.register_delay,
        session: s.churn,
        offtime: s.offtime.unwrap_or(s.churn),
        threads: s.threads,
    });

    // Malicious indices: an exact count, never node 0, chosen by a seeded
    // partial shuffle.
    let n = s.nodes;
    let bad = ((f64::from(n) * s.malicious).round() as u32).min(n.saturating_sub(1));
    let mut order: Vec<u32> = (1..n).collect();
    for k in 0..bad as usize {
        let j = k + below(&mut rng, (order.len() - k) as u64) as usize;
        order.swap(k, j);
    }
    let mut malicious = vec![false; n as usize];
    for &i in &order[..bad as usize] {
        malicious[i as usize] = true;
    }

    // Nodes and names.
    let mut current: Option<(super::world::NameIdx, u32)> = None;
    for i in 0..n {
        if malicious[i as usize] {
            let node = world.add_node(Role::Malicious(s.behaviour));
            let name = world.new_name(&format!("evil{i}"), true, false);
            world.set_publisher(node, name);
        } else {
            let node = world.add_node(Role::Honest);
            let name = match current {
                Some((name, count)) if count < s.publishers_per_name => {
                    current = Some((name, count + 1));
                    name
                }
                _ => {
                    let name = world.new_name(&format!("node{i}"), !s.unsecured, true);
                    current = Some((name, 1));
                    name
                }
            };
            world.set_publisher(node, name);
        }
    }

    // Join waves.
    let gap = s.wave_gap.as_secs_f64();
    let cap = (n / 10).max(1);
    world.schedule_join(NodeIdx(0), Duration::ZERO);
    let mut started = 1u32;
    let mut wave = 1u32;
    let mut last_join = 0.0f64;
    while started < n {
        let size = started.min(cap).min(n - started);
        let base = f64::from(wave) * gap;
        for k in 0..size {
            let t = base + unit(&mut rng) * gap;
            last_join = last_join.max(t);
            world.schedule_join(NodeIdx(started + k), Duration::from_secs_f64(t));
        }
        started += size;
        wave += 1;
    }

    let warmup_end = Duration::from_secs_f64(last_join) + s.register_delay + s.warmup;
    let lookups_start = warmup_end + s.measure;
    world.schedule_window(warmup_end, lookups_start);
    world.schedule_scans(warmup_end, s.scan_period);
    for k in 0..s.lookups {
        let t = lookups_start + Duration::from_secs_f64(f64::from(k) / s.lookup_rate);
        world.schedule_lookup(t);
    }
    for p in &s.partitions {
        world.add_partition(p.clone());
    }
    let last_lookup = lookups_start
        + Duration::from_secs_f64(f64::from(s.lookups.saturating_sub(1)) / s.lookup_rate);
    let end = last_lookup + s.lookup_timeout + Duration::from_secs(5);
    let end = s
        .partitions
        .iter()
        .map(|p| p.start.saturating_add(p.duration) + Duration::from_secs(1))
        .fold(end, Duration::max);
    Ok((world, warmup_end, end))
}

/// Runs `s` once.
pub fn run(s: &Scenario) -> Result<Report, RunError> {
    let (mut world, warmup_end, end) = build(s)?;
    let started = wall_clock();
    let step = Duration::from_secs(30);
    let mut t = Duration::ZERO;
    let mut steady = None;
    while t < end {
        t = (t + step).min(end);
        if steady.is_none() && t >= warmup_end {
            // Stop at the end of the warm-up to time the steady part apart.
            world.run_until(warmup_end);
            steady = Some((started.elapsed().as_secs_f64(), world.metrics().events));
        }
        world.run_until(t);
        if s.progress {
            eprintln!(
                "pnrp-sim: t={:>6.0}s/{:.0}s live={} events={} lookups={}/{} wall={:.1}s",
                t.as_secs_f64(),
                end.as_secs_f64(),
                world.live(),
                world.metrics().events,
                world.lookup_stats().succeeded,
                world.lookup_stats().issued,
                started.elapsed().as_secs_f64(),
            );
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let steady = steady.unwrap_or((wall, world.metrics().events));
    Ok(report(s, &mut world, warmup_end, wall, steady))
}

/// Runs `s` twice and compares the event hashes (`--check-determinism`).
pub fn run_checked(s: &Scenario) -> Result<Report, RunError> {
    let mut first = run(s)?;
    let second = run(s)?;
    if first.event_hash != second.event_hash {
        return Err(RunError::NotDeterministic {
            first: first.event_hash,
            second: second.event_hash,
        });
    }
    first.determinism = Some("ok".into());
    Ok(first)
}

fn report(
    s: &Scenario,
    world: &mut World,
    warmup_end: Duration,
    wall: f64,
    (steady_from_wall, steady_from_events): (f64, u64),
) -> Report {
    let scan = world.scan();
    world.check_all_invariants();
    let missing = world.overdue_requests(Duration::from_secs(5));
    let l = world.lookup_stats().clone();
    let m = world.metrics();
    let mut hops = l.hops.clone();
    hops.sort_unstable();
    let mut msgs = l.messages.clone();
    msgs.sort_unstable();
    let mut lat = l.latency_us.clone();
    lat.sort_unstable();
    let valid = l.valid();
    let window = world.window();
    let per_node_s =
        |x: u64| window.and_then(|(_, _, node_s, _)| (node_s > 0.0).then(|| x as f64 / node_s));
    let (engine_mem, entries, overhead) = world.memory();
    let rss = rss_bytes();
    let sim_seconds = world.now().as_secs_f64();
    let wall = wall.max(1e-9);
    let fraction = |p: &Partition| match &p.side_a {
        Side::Fraction(f) => format!("{f}"),
        Side::Nodes(v) => format!("{} nodes", v.len()),
    };
    Report {
        success_rate: (valid > 0).then(|| l.succeeded as f64 / valid as f64),
        hops_mean: mean(&hops),
        hops_p50: percentile(&hops, 50.0),
        hops_p99: percentile(&hops, 99.0),
        messages_per_lookup: mean(&msgs),
        bytes_per_node_per_s: window.and_then(|(b, _, _, _)| per_node_s(b)),
        memory_bytes_per_node: engine_mem + overhead,
        events_per_wall_s: m.events as f64 / wall,
        forged_accepted: world.forged_accepted(),
        nodes: s.nodes,
        lookups: s.lookups,
        seed: s.seed,
        churn: s.churn.to_string(),
        loss: s.loss,
        malicious: s.malicious,
        crypto: s.crypto.to_string(),
        unsecured: s.unsecured,
        partitions: s
            .partitions
            .iter()
            .map(|p| {
                format!(
                    "{}+{}:{}",
                    p.start.as_secs_f64(),
                    p.duration.as_secs_f64(),
                    fraction(p)
                )
            })
            .collect(),
        sim_seconds,
        wall_seconds: wall,
        speedup: sim_seconds / wall,
        threads: s.threads,
        wall_seconds_steady: (wall - steady_from_wall).max(0.0),
        sim_seconds_steady: (sim_seconds - warmup_end.as_secs_f64()).max(0.0),
        speedup_steady: (sim_seconds - warmup_end.as_secs_f64()).max(0.0)
            / (wall - steady_from_wall).max(1e-9),
        events_steady: m.events - steady_from_events,
        events: m.events,
        event_hash: world.event_hash().hex(),
        determinism: None,
        lookups_issued: l.issued,
        lookups_valid: valid,
        lookups_succeeded: l.succeeded,
        success_rate_all: (l.issued > 0).then(|| l.succeeded as f64 / l.issued as f64),
        failures: l
            .failures
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect(),
        excluded: l
            .excluded
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect(),
        lookups_skipped: l.no_candidate,
        hops_max: hops.last().copied(),
        messages_p99: percentile(&msgs, 99.0),
        latency_ms_p50: percentile(&lat, 50.0).map(|us| us as f64 / 1000.0),
        latency_ms_p99: percentile(&lat, 99.0).map(|us| us as f64 / 1000.0),
        poisoned_route_entries: scan.poisoned,
        stale_route_entries: scan.stale,
        route_entries: scan.entries,
        malicious_nodes: (0..s.nodes)
            .filter(|&i| world.is_malicious(NodeIdx(i)))
            .count() as u32,
        malicious_dropped: m.malicious_dropped,
        malicious_claims: m.malicious_claims,
        forged_sent: m.forged_sent,
        wire_bytes_per_node_per_s: window.and_then(|(b, d, _, _)| per_node_s(b + 48 * d)),
        datagrams_per_node_per_s: window.and_then(|(_, d, _, _)| per_node_s(d)),
        live_nodes_mean: window
            .and_then(|(_, _, node_s, secs)| (secs > 0.0).then(|| node_s / secs)),
        measure_seconds: s.measure.as_secs_f64(),
        warmup_end_s: warmup_end.as_secs_f64(),
        engine_memory_bytes_per_node: engine_mem,
        sim_overhead_bytes_per_node: overhead,
        rss_bytes_per_node: rss.map(|(r, _)| r as f64 / f64::from(s.nodes)),
        peak_rss_bytes: rss.map(|(_, p)| p),
        cache_entries_mean: entries,
        live_nodes_end: world.live(),
        datagrams: m.datagrams_sent,
        datagrams_by_type: m
            .sent_by_type
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(t, c)| (type_name(t).to_owned(), *c))
            .collect(),
        datagrams_per_node_per_s_by_type: world
            .window_by_type()
            .map(|by| {
                by.iter()
                    .enumerate()
                    .filter(|(_, c)| **c > 0)
                    .filter_map(|(t, c)| Some((type_name(t).to_owned(), per_node_s(*c)?)))
                    .collect()
            })
            .unwrap_or_default(),
        dropped: [
            ("loss", m.dropped_loss),
            ("partition", m.dropped_partition),
            ("dead_node", m.dropped_dead),
            ("unroutable", m.dropped_unroutable),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
        engine: world.engine_totals(),
        joins: m.joins,
        leaves: m.leaves,
        invariant_violations: m.invariant_violations,
        stuck_timers: m.stuck_timers,
        stale_wakes: m.stale_wakes,
        unexpected_events: m.unexpected_events,
        missing_events: missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The run does not depend on the number of threads: same events, same
    /// hash, same results — with churn, loss, malicious nodes and a
    /// partition, so that every kind of event crosses partitions.
    #[test]
    fn the_thread_count_does_not_change_the_run() {
        let s = Scenario {
            nodes: 80,
            lookups: 60,
            seed: 5,
            churn: Lifetime::parse("exp:3m").expect("model"),
            loss: 0.02,
            malicious: 0.1,
            partitions: vec![Partition::parse("150+20:0.3").expect("partition")],
            warmup: Duration::from_secs(30),
            measure: Duration::from_secs(10),
            check_invariants: true,
            ..Scenario::default()
        };
        let one = run(&s).expect("valid");
        for threads in [2, 3] {
            let many = run(&Scenario {
                threads,
                ..s.clone()
            })
            .expect("valid");
            assert_eq!(one.event_hash, many.event_hash, "{threads} threads");
            assert_eq!(one.events, many.events);
            assert_eq!(one.lookups_succeeded, many.lookups_succeeded);
            assert_eq!(one.hops_mean, many.hops_mean);
            assert_eq!(one.messages_per_lookup, many.messages_per_lookup);
            assert_eq!(one.datagrams, many.datagrams);
            assert_eq!(one.forged_accepted, many.forged_accepted);
            assert_eq!(one.invariant_violations, 0);
            assert_eq!(one.missing_events, 0);
        }
    }
}
