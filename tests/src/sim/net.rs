//! The network model: virtual addresses, latency, loss, partitions and the
//! churn distribution (house style §3.10, `net.rs`).
//!
//! * **Addresses.** Node `i` listens on `[2001:db8::<i + 1>]:3540` (the
//!   documentation prefix, never bound to a real socket; the index sits in
//!   the low 32 bits). [`index_of`] decodes it back on delivery, so no
//!   address map exists.
//! * **Latency.** One-way delay = a base per unordered node pair, 5–50 ms
//!   drawn from a hash of `(seed, a, b)` (so it is stable for the pair and
//!   symmetric), plus a jitter uniform in `[0, base / 10]` drawn, for each
//!   datagram, from a hash of the seed and the datagram's key (its sender
//!   and the sender's own counter).
//! * **Loss.** Each datagram is dropped independently with probability
//!   `loss` (a draw from the same hash).
//! * **Partitions.** A [`Partition`] splits the nodes into two sides for a
//!   time window; datagrams between the sides are dropped when sent while
//!   it is active. Side membership is a hash of `(seed, partition, node)`
//!   against the fraction, or an explicit list.
//! * **Churn.** [`Lifetime::Exp`] draws exponential session (and off)
//!   times with a given median: mean = median / ln 2.

use core::time::Duration;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;
use sha2::{Digest, Sha256};

/// The PNRP port of every simulated node.
pub const SIM_PORT: u16 = 3540;

/// The address of node `index`.
pub fn addr_of(index: u32) -> SocketAddr {
    let v = index + 1;
    let ip = Ipv6Addr::new(
        0x2001,
        0x0db8,
        0,
        0,
        0,
        0,
        (v >> 16) as u16,
        (v & 0xffff) as u16,
    );
    SocketAddr::new(IpAddr::V6(ip), SIM_PORT)
}

/// The node index behind a simulated address, if it is one.
pub fn index_of(addr: &SocketAddr) -> Option<u32> {
    index_of_ip(&addr.ip())
}

/// [`index_of`] for a bare IP address (CPA endpoints, route entries).
pub fn index_of_ip(ip: &IpAddr) -> Option<u32> {
    let IpAddr::V6(ip) = ip else { return None };
    let s = ip.segments();
    if s[..6] != [0x2001, 0x0db8, 0, 0, 0, 0] {
        return None;
    }
    let v = (u32::from(s[6]) << 16) | u32::from(s[7]);
    v.checked_sub(1)
}

/// A uniform draw in `[0, 1)` from `rng`.
pub fn unit(rng: &mut ChaCha8Rng) -> f64 {
    // 53 random bits → an exactly representable double in [0, 1).
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A uniform draw in `0..n` (`n > 0`), without modulo bias worth noting
/// for the simulator's sizes.
pub fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    ((u128::from(rng.next_u64()) * u128::from(n)) >> 64) as u64
}

/// A stable 64-bit hash of some words, for per-pair and per-node draws that
/// must not depend on the order of events.
pub fn hash64(words: &[u64]) -> u64 {
    let mut h = Sha256::new();
    for w in words {
        h.update(w.to_le_bytes());
    }
    let d: [u8; 32] = h.finalize().into();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_le_bytes(b)
}

/// The latency part of the model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// Smallest base one-way delay.
    pub min: Duration,
    /// Largest base one-way delay.
    pub max: Duration,
    /// Jitter as a fraction of the base (uniform in `[0, base · jitter]`).
    pub jitter: f64,
}

impl Default for Latency {
    fn default() -> Self {
        Self {
            min: Duration::from_millis(5),
            max: Duration::from_millis(50),
            jitter: 0.1,
        }
    }
}

/// One scheduled split of the cloud.
#[derive(Debug, Clone, PartialEq)]
pub struct Partition {
    /// When the split starts (virtual time since the simulation began).
    pub start: Duration,
    /// How long it lasts.
    pub duration: Duration,
    /// Who is on side A.
    pub side_a: Side,
}

/// How the nodes of side A are chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum Side {
    /// Each node independently, by a hash of `(seed, partition, node)`,
    /// with this probability.
    Fraction(f64),
    /// Exactly these node indices.
    Nodes(Vec<u32>),
}

impl Partition {
    /// Parses `START+DURATION:FRACTION`, e.g. `300+120:0.5` (seconds, or
    /// with an `ms`, `s`, `m` or `h` suffix).
    pub fn parse(s: &str) -> Result<Self, String> {
        let err =
            || format!("partition must be START+DURATION:FRACTION (e.g. 300+120:0.5), got {s:?}");
        let (times, frac) = s.split_once(':').ok_or_else(err)?;
        let (start, dur) = times.split_once('+').ok_or_else(err)?;
        let start = parse_duration(start)?;
        let duration = parse_duration(dur)?;
        let f: f64 = frac.parse().map_err(|_| err())?;
        if !(f > 0.0 && f < 1.0) {
            return Err(format!(
                "partition fraction must be strictly between 0 and 1, got {f}"
            ));
        }
        if duration.is_zero() {
            return Err("partition duration must be positive".into());
        }
        Ok(Self {
            start,
            duration,
            side_a: Side::Fraction(f),
        })
    }
}

/// The state of the network model during a run.
#[derive(Debug, Clone)]
pub struct NetModel {
    seed: u64,
    /// Latency parameters.
    pub latency: Latency,
    /// Independent loss probability per datagram.
    pub loss: f64,
    partitions: Vec<(Partition, bool, Vec<bool>)>,
}

/// Why the network refused to carry a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    /// Random loss.
    Loss,
    /// The two ends are on different sides of an active partition.
    Partition,
}

impl NetModel {
    /// A model for the simulation seeded with `seed`.
    pub fn new(seed: u64, latency: Latency, loss: f64) -> Self {
        Self {
            seed,
            latency,
            loss,
            partitions: Vec::new(),
        }
    }

    /// Adds a partition (inactive until [`NetModel::set_partition`]).
    /// Returns its index.
    pub fn add_partition(&mut self, p: Partition, nodes: u32) -> usize {
        let index = self.partitions.len();
        let members = match &p.side_a {
            Side::Fraction(f) => (0..nodes)
                .map(|i| {
                    let h = hash64(&[self.seed, 0x7061_7274, index as u64, u64::from(i)]);
                    ((h >> 11) as f64 / (1u64 << 53) as f64) < *f
                })
                .collect(),
            Side::Nodes(list) => {
                let mut m = vec![false; nodes as usize];
                for &i in list {
                    if let Some(x) = m.get_mut(i as usize) {
                        *x = true;
                    }
                }
                m
            }
        };
        self.partitions.push((p, false, members));
        index
    }

    /// The scheduled partitions.
    pub fn partitions(&self) -> impl Iterator<Item = &Partition> {
        self.partitions.iter().map(|(p, _, _)| p)
    }

    /// Turns partition `index` on or off.
    pub fn set_partition(&mut self, index: usize, active: bool) {
        if let Some(p) = self.partitions.get_mut(index) {
            p.1 = active;
        }
    }

    /// Whether node `i` is on side A of partition `index`.
    pub fn on_side_a(&self, index: usize, i: u32) -> bool {
        self.partitions
            .get(index)
            .and_then(|p| p.2.get(i as usize).copied())
            .unwrap_or(false)
    }

    /// Whether an active partition separates `a` and `b`.
    pub fn separated(&self, a: u32, b: u32) -> bool {
        self.partitions.iter().any(|(_, active, m)| {
            *active
                && m.get(a as usize).copied().unwrap_or(false)
                    != m.get(b as usize).copied().unwrap_or(false)
        })
    }

    /// The base one-way delay between `a` and `b` in µs (symmetric).
    pub fn base_us(&self, a: u32, b: u32) -> u64 {
        let (lo, hi) = (a.min(b), a.max(b));
        let min = self.latency.min.as_micros() as u64;
        let max = self.latency.max.as_micros() as u64;
        if max <= min {
            return min;
        }
        let h = mix64(mix64(self.seed ^ 0x6c61_7465) ^ (u64::from(lo) << 32 | u64::from(hi)));
        min + h % (max - min + 1)
    }

    /// The smallest one-way delay a datagram can have, in µs (≥ 1): the
    /// lookahead of the world's parallel windows.
    pub fn min_delay_us(&self) -> u64 {
        (self.latency.min.as_micros() as u64).max(1)
    }

    /// Decides the fate of one datagram from `a` to `b`: its delay in µs,
    /// or why it is dropped. `key` identifies the datagram (its sender and
    /// the sender's own counter); the loss and jitter draws are a hash of
    /// it and the seed, so they do not depend on the order in which the
    /// world processes other nodes' events.
    pub fn carry(&self, a: u32, b: u32, key: u64) -> Result<u64, Drop> {
        if self.separated(a, b) {
            return Err(Drop::Partition);
        }
        let draw = |stream: u64| {
            let h = mix64(mix64(self.seed ^ stream) ^ key);
            (h >> 11) as f64 / (1u64 << 53) as f64
        };
        if self.loss > 0.0 && draw(0x6c6f_7373) < self.loss {
            return Err(Drop::Loss);
        }
        let base = self.base_us(a, b);
        let jitter = (base as f64 * self.latency.jitter * draw(0x6a69_7474)) as u64;
        Ok(base.max(1) + jitter)
    }
}

/// The SplitMix64 finaliser: a cheap, well-mixed 64-bit hash (latency,
/// loss and jitter draws).
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A distribution of session (or off) times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lifetime {
    /// Never leaves.
    Forever,
    /// Exponential with this median.
    Exp {
        /// The median; the mean is median / ln 2.
        median: Duration,
    },
}

impl Lifetime {
    /// Parses `none` or `exp:MEDIAN` (MEDIAN like `30m`, `84s`, `1.4m`,
    /// `2h`, `500ms`, or bare seconds).
    pub fn parse(s: &str) -> Result<Self, String> {
        if s == "none" {
            return Ok(Self::Forever);
        }
        let Some(m) = s.strip_prefix("exp:") else {
            return Err(format!(
                "churn must be `none` or `exp:MEDIAN` (e.g. exp:30m, exp:84s), got {s:?}"
            ));
        };
        let median = parse_duration(m)?;
        if median < Duration::from_secs(1) {
            return Err(format!("churn median must be at least 1 s, got {m:?}"));
        }
        Ok(Self::Exp { median })
    }

    /// One draw, or `None` for [`Lifetime::Forever`].
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> Option<Duration> {
        match self {
            Self::Forever => None,
            Self::Exp { median } => {
                let mean = median.as_secs_f64() / core::f64::consts::LN_2;
                // 1 − U is in (0, 1]: ln never sees 0.
                let u = 1.0 - unit(rng);
                let secs = -mean * u.ln();
                Some(Duration::from_secs_f64(secs.min(1e9)))
            }
        }
    }
}

impl core::fmt::Display for Lifetime {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Forever => f.write_str("none"),
            Self::Exp { median } => write!(f, "exp:{}s", median.as_secs_f64()),
        }
    }
}

/// Parses a duration: a non-negative number with an optional unit suffix
/// `ms`, `s`, `m` or `h` (no suffix = seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("not a duration (e.g. 84s, 1.4m, 30m, 2h): {s:?}"))?;
    if !v.is_finite() || v < 0.0 || v * scale > 1e9 {
        return Err(format!("duration out of range: {s:?}"));
    }
    Ok(Duration::from_secs_f64(v * scale))
}

#[cfg(test)]
mod tests {
    use rand_core::SeedableRng;

    use super::*;

    #[test]
    fn addresses_round_trip() {
        for i in [0, 1, 65_534, 65_535, 65_536, 999_999] {
            assert_eq!(index_of(&addr_of(i)), Some(i));
        }
        assert_eq!(index_of(&"[2001:db9::1]:3540".parse().unwrap()), None);
        assert_eq!(index_of(&"10.0.0.1:3540".parse().unwrap()), None);
    }

    #[test]
    fn durations_and_churn_models_parse() {
        assert_eq!(parse_duration("84s"), Ok(Duration::from_secs(84)));
        assert_eq!(parse_duration("1.4m"), Ok(Duration::from_secs(84)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("-3s").is_err());
        assert!(parse_duration("abc").is_err());
        assert_eq!(Lifetime::parse("none"), Ok(Lifetime::Forever));
        assert_eq!(
            Lifetime::parse("exp:30m"),
            Ok(Lifetime::Exp {
                median: Duration::from_secs(1800)
            })
        );
        assert!(Lifetime::parse("uniform:3s").is_err());
        assert!(Partition::parse("300+120:0.5").is_ok());
        assert!(Partition::parse("300+120:1.5").is_err());
        assert!(Partition::parse("300:0.5").is_err());
    }

    #[test]
    fn exponential_draws_have_the_requested_median() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let l = Lifetime::parse("exp:100s").unwrap();
        let mut v: Vec<f64> = (0..20_001)
            .map(|_| l.sample(&mut rng).unwrap().as_secs_f64())
            .collect();
        v.sort_by(f64::total_cmp);
        let median = v[10_000];
        assert!((90.0..110.0).contains(&median), "median {median}");
    }

    #[test]
    fn latency_is_symmetric_and_in_range() {
        let net = NetModel::new(5, Latency::default(), 0.0);
        for (a, b) in [(0, 1), (7, 3), (100, 99_999)] {
            let d = net.base_us(a, b);
            assert_eq!(d, net.base_us(b, a));
            assert!((5_000..=50_000).contains(&d));
        }
    }
}
