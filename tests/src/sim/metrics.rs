//! What a run measured: raw counters ([`Metrics`], [`LookupStats`]), the
//! determinism hash ([`EventHash`]) and the final [`Report`] with the keys
//! design §7 fixes (plus more). `docs/simulation.md` defines every key.

use std::collections::BTreeMap;

use serde::Serialize;

/// A rolling 64-bit FNV-1a hash over `(time, kind, src, dst, len)` of every
/// event the world processes, in order. Two runs of the same scenario and
/// seed must end with the same value (`--check-determinism`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventHash(u64);

impl Default for EventHash {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl EventHash {
    /// Folds one event in.
    pub fn add(&mut self, time_us: u64, kind: u8, src: u32, dst: u32, len: u32) {
        let mut h = self.0;
        let mut feed = |bytes: &[u8]| {
            for &b in bytes {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        feed(&time_us.to_le_bytes());
        feed(&[kind]);
        feed(&src.to_le_bytes());
        feed(&dst.to_le_bytes());
        feed(&len.to_le_bytes());
        self.0 = h;
    }

    /// The value so far.
    pub fn value(&self) -> u64 {
        self.0
    }

    /// The value as 16 hex digits (JSON numbers cannot hold all 64 bits).
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

/// Event kinds, as folded into [`EventHash`].
pub(crate) mod kind {
    pub(crate) const DELIVER: u8 = 1;
    pub(crate) const WAKE: u8 = 2;
    pub(crate) const JOIN: u8 = 3;
    pub(crate) const LEAVE: u8 = 4;
    pub(crate) const LOOKUP: u8 = 5;
    pub(crate) const PARTITION: u8 = 6;
    pub(crate) const REGISTER: u8 = 7;
    pub(crate) const SCAN: u8 = 8;
    pub(crate) const COMMAND: u8 = 9;
    pub(crate) const MARK: u8 = 10;
    /// A node's own hash, folded into the final value.
    pub(crate) const NODE: u8 = 11;
}

/// Network and world counters (cumulative since the start).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Events popped from the queue (stale wakes included).
    pub events: u64,
    /// Datagrams handed to the network by nodes (and malicious stand-ins).
    pub datagrams_sent: u64,
    /// Their UDP payload bytes.
    pub bytes_sent: u64,
    /// Datagrams sent, by PNRP message type byte (index = type, 0..=15).
    pub sent_by_type: [u64; 16],
    /// Datagrams delivered to a live node.
    pub delivered: u64,
    /// Dropped by random loss.
    pub dropped_loss: u64,
    /// Dropped by an active partition.
    pub dropped_partition: u64,
    /// Arrived at an index with no live node.
    pub dropped_dead: u64,
    /// Addressed outside the simulated prefix.
    pub dropped_unroutable: u64,
    /// Wake events whose node had moved on (stale generation).
    pub stale_wakes: u64,
    /// Wakes after which the node still reported a deadline in the past.
    pub stuck_timers: u64,
    /// Nodes started (initial joins and rejoins).
    pub joins: u64,
    /// Nodes stopped by churn or [`super::World::stop`].
    pub leaves: u64,
    /// Cache invariant violations seen by the per-step checks.
    pub invariant_violations: u64,
    /// Terminal events for requests the world did not know (or twice).
    pub unexpected_events: u64,
    /// LOOKUPs malicious nodes dropped.
    pub malicious_dropped: u64,
    /// Fake "closest to the target" answers malicious nodes sent.
    pub malicious_claims: u64,
    /// Forged CPAs malicious nodes sent.
    pub forged_sent: u64,
}

impl Metrics {
    /// Adds `o`'s counters to these (the world's and each partition's).
    pub fn add(&mut self, o: &Self) {
        self.events += o.events;
        self.datagrams_sent += o.datagrams_sent;
        self.bytes_sent += o.bytes_sent;
        for (a, b) in self.sent_by_type.iter_mut().zip(o.sent_by_type) {
            *a += b;
        }
        self.delivered += o.delivered;
        self.dropped_loss += o.dropped_loss;
        self.dropped_partition += o.dropped_partition;
        self.dropped_dead += o.dropped_dead;
        self.dropped_unroutable += o.dropped_unroutable;
        self.stale_wakes += o.stale_wakes;
        self.stuck_timers += o.stuck_timers;
        self.joins += o.joins;
        self.leaves += o.leaves;
        self.invariant_violations += o.invariant_violations;
        self.unexpected_events += o.unexpected_events;
        self.malicious_dropped += o.malicious_dropped;
        self.malicious_claims += o.malicious_claims;
        self.forged_sent += o.forged_sent;
    }
}

/// Why a lookup did not count as a success.
pub(crate) mod reason {
    pub(crate) const NOT_FOUND: &str = "not_found";
    pub(crate) const TIMEOUT: &str = "timeout";
    pub(crate) const BUSY: &str = "busy";
    pub(crate) const CANCELLED: &str = "cancelled";
    pub(crate) const OTHER: &str = "other_error";
    pub(crate) const WRONG_RESULT: &str = "wrong_result";
    pub(crate) const ISSUER_LEFT: &str = "issuer_left";
    pub(crate) const TARGET_LEFT: &str = "target_left";
}

/// Scenario lookups (those issued by the lookup schedule).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LookupStats {
    /// Lookups started.
    pub issued: u64,
    /// Lookups that found a verified record of the intended publisher.
    pub succeeded: u64,
    /// Valid lookups that failed, by reason.
    pub failures: BTreeMap<&'static str, u64>,
    /// Lookups left out of the success rate, by reason (the issuer left, or
    /// every publisher of the name left before the answer).
    pub excluded: BTreeMap<&'static str, u64>,
    /// Hops (`Resolved::hops`) of each success.
    pub hops: Vec<u32>,
    /// Attributed datagrams of each valid lookup.
    pub messages: Vec<u32>,
    /// Virtual time from command to answer of each success, µs.
    pub latency_us: Vec<u64>,
    /// Lookup slots skipped because no live issuer or target qualified.
    pub no_candidate: u64,
}

impl LookupStats {
    /// Valid lookups: successes plus counted failures.
    pub fn valid(&self) -> u64 {
        self.succeeded + self.failures.values().sum::<u64>()
    }
}

/// Nearest-rank percentile of sorted data (`p` in 0..=100).
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Mean of some values, `None` when empty.
pub fn mean<T: Copy + Into<f64>>(v: &[T]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    Some(v.iter().map(|&x| x.into()).sum::<f64>() / v.len() as f64)
}

/// Sums of the engine's own counters over every node incarnation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EngineTotals {
    /// Datagrams retransmitted.
    pub retransmits: u64,
    /// Messages that ran out of retries.
    pub timeouts: u64,
    /// CPAs that failed verification.
    pub cpa_rejected: u64,
    /// Route entries admitted after validation.
    pub admitted: u64,
    /// Route entries refused at admission.
    pub admission_refused: u64,
    /// Route entries not validated (they could only replace a fresh entry).
    pub admission_skipped: u64,
    /// Requests dropped by per-source rate limits.
    pub dropped_rate: u64,
    /// Malformed datagrams dropped.
    pub dropped_malformed: u64,
    /// Unsolicited answers dropped.
    pub dropped_unsolicited: u64,
    /// Messages not sent because the pending list was full.
    pub dropped_pending_full: u64,
    /// Datagrams dropped because the transmit queue was full.
    pub dropped_tx_queue: u64,
    /// LOOKUPs answered.
    pub lookups_served: u64,
    /// INQUIREs answered.
    pub inquires_served: u64,
    /// Maintenance runs (grid ticks with work; idle ones are skipped).
    pub maintenance_ticks: u64,
    /// Registration refreshes announced.
    pub refreshes: u64,
    /// Registration refreshes skipped (nothing around the ID changed).
    pub refreshes_skipped: u64,
}

impl EngineTotals {
    /// Adds one node's counters.
    pub fn add(&mut self, s: &pnrp::engine::Stats) {
        self.retransmits += s.retransmits;
        self.timeouts += s.timeouts;
        self.cpa_rejected += s.cpa_rejected;
        self.admitted += s.admitted;
        self.admission_refused += s.admission_refused;
        self.admission_skipped += s.admission_skipped;
        self.dropped_rate += s.dropped_rate;
        self.dropped_malformed += s.dropped_malformed;
        self.dropped_unsolicited += s.dropped_unsolicited;
        self.dropped_pending_full += s.dropped_pending_full;
        self.dropped_tx_queue += s.dropped_tx_queue;
        self.lookups_served += s.lookups_served;
        self.inquires_served += s.inquires_served;
        self.maintenance_ticks += s.maintenance_ticks;
        self.refreshes += s.refreshes;
        self.refreshes_skipped += s.refreshes_skipped;
    }
}

/// The result of one run. Field names are the JSON keys (design §7 keys
/// first); `docs/simulation.md` defines each.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Successful ÷ valid scenario lookups (0–1).
    pub success_rate: Option<f64>,
    /// Mean hops of successful lookups.
    pub hops_mean: Option<f64>,
    /// Median hops of successful lookups.
    pub hops_p50: Option<u32>,
    /// 99th-percentile hops of successful lookups.
    pub hops_p99: Option<u32>,
    /// Mean attributed datagrams per valid lookup.
    pub messages_per_lookup: Option<f64>,
    /// Maintenance cost: UDP payload bytes sent per live node per second in
    /// the measurement window (no lookups running).
    pub bytes_per_node_per_s: Option<f64>,
    /// Mean engine estimate (`Node::memory_bytes`) plus the simulator's own
    /// per-node overhead, over live nodes at the end.
    pub memory_bytes_per_node: f64,
    /// Events processed per wall-clock second.
    pub events_per_wall_s: f64,
    /// Forged records (CPA whose key is not the legitimate one) seen in any
    /// honest node's cache or results.
    pub forged_accepted: u64,

    /// Nodes (population size; under churn about half are live at a time).
    pub nodes: u32,
    /// Lookups requested.
    pub lookups: u32,
    /// Master seed.
    pub seed: u64,
    /// Churn model (`none` or `exp:<median>s`).
    pub churn: String,
    /// Loss probability per datagram.
    pub loss: f64,
    /// Fraction of malicious nodes.
    pub malicious: f64,
    /// `sim` or `real`.
    pub crypto: String,
    /// Whether honest names were unsecured (`0.<classifier>`).
    pub unsecured: bool,
    /// Partitions as `START+DURATION:FRACTION` in seconds.
    pub partitions: Vec<String>,

    /// Virtual seconds simulated.
    pub sim_seconds: f64,
    /// Wall-clock seconds the run took.
    pub wall_seconds: f64,
    /// `sim_seconds / wall_seconds`.
    pub speedup: f64,
    /// Threads the run used (the run itself does not depend on it).
    pub threads: usize,
    /// Wall-clock seconds of the steady part: from the end of the warm-up
    /// (`warmup_end_s`: joins, registrations and warm-up done) to the end.
    pub wall_seconds_steady: f64,
    /// Virtual seconds of the steady part.
    pub sim_seconds_steady: f64,
    /// `sim_seconds_steady / wall_seconds_steady`.
    pub speedup_steady: f64,
    /// Events processed in the steady part.
    pub events_steady: u64,
    /// Events processed.
    pub events: u64,
    /// Final [`EventHash`], 16 hex digits.
    pub event_hash: String,
    /// `"ok"` when `--check-determinism` ran twice with equal hashes.
    pub determinism: Option<String>,

    /// Scenario lookups started.
    pub lookups_issued: u64,
    /// Lookups counted in `success_rate` (issued minus excluded).
    pub lookups_valid: u64,
    /// Successful lookups.
    pub lookups_succeeded: u64,
    /// Successes ÷ issued, exclusions counted as failures.
    pub success_rate_all: Option<f64>,
    /// Valid failures by reason.
    pub failures: BTreeMap<String, u64>,
    /// Exclusions by reason.
    pub excluded: BTreeMap<String, u64>,
    /// Lookup slots with no eligible issuer or target.
    pub lookups_skipped: u64,
    /// Largest hop count of a success.
    pub hops_max: Option<u32>,
    /// 99th percentile of attributed datagrams per lookup.
    pub messages_p99: Option<u32>,
    /// Median virtual latency of successes, ms.
    pub latency_ms_p50: Option<f64>,
    /// 99th-percentile virtual latency of successes, ms.
    pub latency_ms_p99: Option<f64>,

    /// Route entries in honest caches at the end pointing at a malicious
    /// node that does not hold the ID (admitted on return-routability).
    pub poisoned_route_entries: u64,
    /// Route entries at the end pointing at a dead node, or at a live
    /// honest node that does not hold the ID (churn leftovers).
    pub stale_route_entries: u64,
    /// Route entries in honest caches at the end.
    pub route_entries: u64,
    /// Malicious nodes.
    pub malicious_nodes: u32,
    /// LOOKUPs dropped by malicious nodes.
    pub malicious_dropped: u64,
    /// Fake "closest to every target" answers sent.
    pub malicious_claims: u64,
    /// Forged CPAs sent by malicious nodes.
    pub forged_sent: u64,

    /// `bytes_per_node_per_s` plus 48 bytes of IPv6 + UDP header per
    /// datagram.
    pub wire_bytes_per_node_per_s: Option<f64>,
    /// Datagrams sent per live node per second in the measurement window.
    pub datagrams_per_node_per_s: Option<f64>,
    /// Mean live nodes in the measurement window.
    pub live_nodes_mean: Option<f64>,
    /// Length of the measurement window, s.
    pub measure_seconds: f64,
    /// Virtual time at which the measurement window began, s.
    pub warmup_end_s: f64,
    /// Mean `Node::memory_bytes()` over live nodes at the end.
    pub engine_memory_bytes_per_node: f64,
    /// The simulator's own per-node bytes (slot, share of queue).
    pub sim_overhead_bytes_per_node: f64,
    /// Resident set size of the process at the end ÷ nodes (Linux only).
    pub rss_bytes_per_node: Option<f64>,
    /// Peak resident set size of the process, bytes (Linux only).
    pub peak_rss_bytes: Option<u64>,
    /// Mean route entries per live node at the end.
    pub cache_entries_mean: f64,
    /// Live nodes at the end.
    pub live_nodes_end: u64,

    /// Datagrams sent in total.
    pub datagrams: u64,
    /// Datagrams sent by PNRP message type.
    pub datagrams_by_type: BTreeMap<String, u64>,
    /// Datagrams sent in the measurement window, per live node-second, by
    /// PNRP message type: what the maintenance budget is spent on.
    pub datagrams_per_node_per_s_by_type: BTreeMap<String, f64>,
    /// Datagrams dropped by the network, by reason.
    pub dropped: BTreeMap<String, u64>,
    /// Engine counters summed over all node incarnations.
    pub engine: EngineTotals,
    /// Node starts (initial and rejoins).
    pub joins: u64,
    /// Node stops.
    pub leaves: u64,
    /// Cache invariant violations found by the checks (must be 0).
    pub invariant_violations: u64,
    /// Wakes after which a node's deadline was still in the past.
    pub stuck_timers: u64,
    /// Timer wake-ups that found the node's deadline moved (counted in
    /// `events`).
    pub stale_wakes: u64,
    /// Terminal events for unknown or finished requests (must be 0).
    pub unexpected_events: u64,
    /// Scenario lookups with no terminal event 5 s after their deadline
    /// (must be 0).
    pub missing_events: u64,
}

impl Report {
    /// The report as a stable plain-text table: one `key value` line per
    /// field, keys sorted.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let Ok(serde_json::Value::Object(map)) = serde_json::to_value(self) else {
            return out;
        };
        for (k, v) in map {
            let v = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => "-".to_owned(),
                serde_json::Value::Number(n) => match n.as_f64() {
                    Some(f) if n.is_f64() => format!("{f:.4}"),
                    _ => n.to_string(),
                },
                other => other.to_string(),
            };
            out.push_str(&format!("{k:<30} {v}\n"));
        }
        out
    }
}

/// The name of a PNRP message type byte.
pub fn type_name(t: usize) -> &'static str {
    match t {
        0x01 => "solicit",
        0x02 => "advertise",
        0x03 => "request",
        0x04 => "flood",
        0x07 => "inquire",
        0x08 => "authority",
        0x09 => "ack",
        0x0b => "lookup",
        _ => "other",
    }
}

/// Resident and peak resident set size of this process in bytes, from
/// `/proc/self/status` (`None` elsewhere).
pub fn rss_bytes() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line
            .trim_start_matches(name)
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&[7u32], 99.0), Some(7));
        assert_eq!(percentile::<u32>(&[], 50.0), None);
        assert_eq!(mean(&[1u32, 2, 3]), Some(2.0));
    }

    #[test]
    fn the_event_hash_depends_on_every_field() {
        let base = {
            let mut h = EventHash::default();
            h.add(1, 2, 3, 4, 5);
            h
        };
        for (t, k, s, d, l) in [
            (2, 2, 3, 4, 5),
            (1, 3, 3, 4, 5),
            (1, 2, 4, 4, 5),
            (1, 2, 3, 5, 5),
        ] {
            let mut h = EventHash::default();
            h.add(t, k, s, d, l);
            assert_ne!(h, base);
        }
        let mut h = EventHash::default();
        h.add(1, 2, 3, 4, 6);
        assert_ne!(h, base);
    }
}
