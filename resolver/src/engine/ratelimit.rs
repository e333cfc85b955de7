//! Per-source token buckets (digest §3.14): bounded state, no clock of its
//! own. MS-PNRP defines no numeric limits; the defaults are in
//! [`super::RateConfig`].
//!
//! The source table is an open-addressing hash table (linear probing,
//! backward-shift deletion, at most half full) of at most `max_sources`
//! entries of 48 bytes, stored inline: a datagram costs one keyed hash and a
//! probe of a small array, no allocation. (It replaced an `lru::LruCache`
//! with a heap node per source and SipHash under fixed keys: the table makes
//! the 10^4-node simulation ~15 % faster, `docs/simulation.md`.) The hash
//! is keyed with a secret derived from the node's seed, so a sender cannot
//! choose source addresses that collide.
//!
//! A source unheard of for [`RATE_IDLE`] has a full bucket again (every
//! `burst / rate` is shorter) and may be forgotten at any time without
//! changing a decision: they are forgotten before the table would grow
//! and at maintenance, which also shrinks the table. When the table is
//! full a new source displaces the least recently seen of a sample of 16
//! entries (all of them in a table that small), so a flood of spoofed
//! sources cannot grow memory. Displacing a source only ever hands it a
//! full bucket back; it locks nobody out.

use std::net::IpAddr;

use sha2::{Digest, Sha256};

use super::config::RateConfig;
use crate::time::Instant;

/// A source unheard of for this long has a full bucket again (every
/// `burst / rate` is shorter) and is forgotten.
const RATE_IDLE: core::time::Duration = core::time::Duration::from_secs(10);

/// Entries looked at to choose one to displace from a full table.
const EVICTION_SAMPLE: usize = 16;

/// Smallest table allocated.
const MIN_SLOTS: usize = 4;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Tokens in millitokens.
    requests: u32,
    lookups: u32,
    solicits: u32,
    last: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Source {
    bucket: Bucket,
    /// The limiter's use counter at this source's last use: recency
    /// without ties (wrapping; compared as an age).
    used: u32,
    ip: IpAddr,
}

/// Token buckets keyed by source address.
#[derive(Debug)]
pub(super) struct RateLimiter {
    config: RateConfig,
    /// Secret hash keys (from the node's seed: deterministic for a seed,
    /// unknown to peers).
    keys: [u64; 3],
    /// A power of two long, or empty.
    slots: Vec<Option<Source>>,
    len: usize,
    /// Uses so far (wrapping).
    uses: u32,
}

/// The high and low halves of a 128-bit product, folded.
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

impl RateLimiter {
    /// A table keyed from `seed` (the node's seed; hashed, never used as is).
    pub(super) fn new(config: RateConfig, seed: &[u8; 32]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"pnrp rate-limit table key")
            .chain_update(seed)
            .finalize();
        let word = |k: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&digest[8 * k..8 * k + 8]);
            u64::from_le_bytes(w)
        };
        Self {
            config,
            keys: [word(0), word(1), word(2)],
            slots: Vec::new(),
            len: 0,
            uses: 0,
        }
    }

    fn hash(&self, ip: &IpAddr) -> u64 {
        let (tag, bits) = match ip {
            IpAddr::V4(a) => (4, u128::from(u32::from(*a))),
            IpAddr::V6(a) => (6, u128::from(*a)),
        };
        let [k0, k1, k2] = self.keys;
        let h = fold_mul((bits as u64) ^ k0, ((bits >> 64) as u64) ^ k1 ^ tag);
        fold_mul(h ^ k2, 0x9e37_79b9_7f4a_7c15)
    }

    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    fn home(&self, ip: &IpAddr) -> usize {
        (self.hash(ip) as usize) & self.mask()
    }

    /// The slot holding `ip`, whose hash is `h`.
    fn find(&self, ip: &IpAddr, h: u64) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask();
        let mut i = (h as usize) & mask;
        loop {
            match &self.slots[i] {
                None => return None,
                Some(s) if s.ip == *ip => return Some(i),
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    /// Empties slot `i` and shifts the entries after it back over the hole
    /// where their probe sequence allows, so that no search stops early.
    fn remove_at(&mut self, mut hole: usize) {
        self.slots[hole] = None;
        self.len -= 1;
        let mask = self.mask();
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let Some(s) = self.slots[j] else { break };
            let home = self.home(&s.ip);
            // `s` may sit anywhere from its home to `j`: the hole is on
            // that stretch unless it lies after the home.
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.slots[hole] = Some(s);
                self.slots[j] = None;
                hole = j;
            }
        }
    }

    /// Rebuilds the table with `slots` slots (a power of two ≥ 2·len, or 0
    /// when it is empty).
    fn resize(&mut self, slots: usize) {
        let old = core::mem::replace(&mut self.slots, vec![None; slots]);
        if slots == 0 {
            return;
        }
        let mask = slots - 1;
        for s in old.into_iter().flatten() {
            let mut i = self.home(&s.ip);
            while self.slots[i].is_some() {
                i = (i + 1) & mask;
            }
            self.slots[i] = Some(s);
        }
    }

    /// Displaces the least recently seen of up to [`EVICTION_SAMPLE`]
    /// entries, from a place that depends on `h` (the newcomer's hash).
    fn evict_one(&mut self, h: u64) {
        let mask = self.mask();
        let start = ((h >> 32) as usize) & mask;
        let mut victim: Option<(u32, usize)> = None;
        let mut seen = 0;
        for k in 0..self.slots.len() {
            let i = (start + k) & mask;
            if let Some(s) = &self.slots[i] {
                let age = self.uses.wrapping_sub(s.used);
                if victim.is_none_or(|(oldest, _)| age > oldest) {
                    victim = Some((age, i));
                }
                seen += 1;
                if seen == EVICTION_SAMPLE {
                    break;
                }
            }
        }
        if let Some((_, i)) = victim {
            self.remove_at(i);
        }
    }

    /// Forgets every source unheard of for longer than `RATE_IDLE`.
    fn forget_idle(&mut self, now: Instant) {
        let idle = u64::try_from(RATE_IDLE.as_micros()).unwrap_or(u64::MAX);
        let mut i = 0;
        while i < self.slots.len() {
            if self.slots[i].is_some_and(|s| now.0.saturating_sub(s.bucket.last.0) > idle) {
                // An entry may shift into slot `i`: look at it again.
                self.remove_at(i);
            } else {
                i += 1;
            }
        }
    }

    fn bucket(&mut self, now: Instant, ip: IpAddr) -> &mut Bucket {
        let c = self.config;
        let h = self.hash(&ip);
        let i = match self.find(&ip, h) {
            Some(i) => i,
            None => {
                if self.len >= c.max_sources.max(1) {
                    self.evict_one(h);
                }
                if 2 * (self.len + 1) > self.slots.len() {
                    // Before growing, forget the idle sources, so that the
                    // table follows the traffic between the maintenance
                    // sweeps (which an idle node skips); grow unless that
                    // freed an eighth of the slots (so a sweep comes at
                    // most every slots / 8 new sources).
                    self.forget_idle(now);
                    if 8 * (self.len + 1) > 3 * self.slots.len() {
                        self.resize((2 * self.slots.len()).max(MIN_SLOTS));
                    }
                }
                let mask = self.mask();
                let mut i = (h as usize) & mask;
                while self.slots[i].is_some() {
                    i = (i + 1) & mask;
                }
                self.slots[i] = Some(Source {
                    bucket: Bucket {
                        requests: full(c.request_burst),
                        lookups: full(c.lookup_burst),
                        solicits: full(c.solicit_burst),
                        last: now,
                    },
                    used: 0,
                    ip,
                });
                self.len += 1;
                i
            }
        };
        self.uses = self.uses.wrapping_add(1);
        let Some(Source {
            bucket: b, used, ..
        }) = &mut self.slots[i]
        else {
            unreachable!("slot {i} was just found or filled");
        };
        *used = self.uses;
        let elapsed_us = now.0.saturating_sub(b.last.0);
        b.last = now;
        let refill = |tokens: u32, rate: u32, burst: u32| {
            let t = u64::from(tokens) + elapsed_us.saturating_mul(u64::from(rate)) / 1000;
            u32::try_from(t.min(u64::from(full(burst)))).unwrap_or(u32::MAX)
        };
        b.requests = refill(b.requests, c.requests_per_s, c.request_burst);
        b.lookups = refill(b.lookups, c.lookups_per_s, c.lookup_burst);
        b.solicits = refill(b.solicits, c.solicits_per_s, c.solicit_burst);
        b
    }

    /// Forgets sources idle for [`RATE_IDLE`] (their buckets would be full
    /// again anyway once `burst / rate` has passed) and shrinks the table to
    /// what is left.
    pub(super) fn expire_idle(&mut self, now: Instant) {
        self.forget_idle(now);
        if self.len == 0 {
            self.resize(0);
        } else if self.slots.len() > MIN_SLOTS && 8 * self.len < self.slots.len() {
            self.resize((2 * self.len).next_power_of_two().max(MIN_SLOTS));
        }
    }

    /// Sources tracked.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    /// Memory in bytes (the table's slots).
    pub(super) fn memory_bytes(&self) -> usize {
        self.slots.capacity() * size_of::<Option<Source>>()
    }

    /// Takes one request token (INQUIRE, FLOOD, REQUEST) from `ip`'s bucket.
    pub(super) fn allow_request(&mut self, now: Instant, ip: IpAddr) -> bool {
        take(&mut self.bucket(now, ip).requests)
    }

    /// Takes one LOOKUP token from `ip`'s bucket.
    pub(super) fn allow_lookup(&mut self, now: Instant, ip: IpAddr) -> bool {
        take(&mut self.bucket(now, ip).lookups)
    }

    /// Takes one SOLICIT token from `ip`'s bucket.
    pub(super) fn allow_solicit(&mut self, now: Instant, ip: IpAddr) -> bool {
        take(&mut self.bucket(now, ip).solicits)
    }
}

/// A full bucket in millitokens (bursts beyond 4.29 million tokens are
/// capped there).
fn full(burst: u32) -> u32 {
    u32::try_from(u64::from(burst) * 1000).unwrap_or(u32::MAX)
}

fn take(tokens: &mut u32) -> bool {
    if *tokens >= 1000 {
        *tokens -= 1000;
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha8Rng;
    use rand_core::{RngCore, SeedableRng};

    use std::net::Ipv6Addr;

    use super::*;

    const SEED: [u8; 32] = [7; 32];

    impl RateLimiter {
        /// Every entry is found where it is, and `len` counts them.
        fn check(&self) {
            let mut n = 0;
            for (i, s) in self.slots.iter().enumerate() {
                if let Some(s) = s {
                    let h = self.hash(&s.ip);
                    assert_eq!(self.find(&s.ip, h), Some(i), "{} unreachable", s.ip);
                    n += 1;
                }
            }
            assert_eq!(n, self.len);
            assert!(self.slots.is_empty() || 2 * self.len <= self.slots.len());
        }
    }

    #[test]
    fn bursts_then_refills_at_the_rate() {
        let mut l = RateLimiter::new(
            RateConfig {
                requests_per_s: 10,
                request_burst: 3,
                ..RateConfig::default()
            },
            &SEED,
        );
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        let t = Instant(0);
        assert!((0..3).all(|_| l.allow_request(t, ip)));
        assert!(!l.allow_request(t, ip));
        // 100 ms later one token is back.
        assert!(l.allow_request(Instant(100_000), ip));
        assert!(!l.allow_request(Instant(100_000), ip));
    }

    #[test]
    fn lookups_have_their_own_bucket() {
        let mut l = RateLimiter::new(
            RateConfig {
                requests_per_s: 1,
                request_burst: 2,
                lookups_per_s: 1,
                lookup_burst: 3,
                ..RateConfig::default()
            },
            &SEED,
        );
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        let t = Instant(0);
        assert!((0..2).all(|_| l.allow_request(t, ip)));
        assert!(!l.allow_request(t, ip));
        assert!((0..3).all(|_| l.allow_lookup(t, ip)), "INQUIREs spent none");
        assert!(!l.allow_lookup(t, ip));
    }

    #[test]
    fn defaults_carry_a_busy_dns_stub() {
        // A stub resolving 400 names/s on one publisher for a minute, one
        // LOOKUP and one INQUIRE per name and a retransmission for one
        // request in four: 500 of each a second from one address, none
        // dropped (D20).
        let mut l = RateLimiter::new(RateConfig::default(), &SEED);
        let ip: IpAddr = "::1".parse().unwrap();
        for k in 0..60 * 500u64 {
            let t = Instant(k * 2_000);
            assert!(l.allow_lookup(t, ip), "LOOKUP {k}");
            assert!(l.allow_request(t, ip), "INQUIRE {k}");
        }
        // The old default (50/s, burst 100) dropped most of them.
        let mut old = RateLimiter::new(
            RateConfig {
                requests_per_s: 50,
                request_burst: 100,
                ..RateConfig::default()
            },
            &SEED,
        );
        let passed = (0..500u64)
            .filter(|k| old.allow_request(Instant(k * 2_000), ip))
            .count();
        assert!(passed < 150, "{passed}: the burst of 100 and 50/s");
    }

    #[test]
    fn idle_sources_are_forgotten() {
        let mut l = RateLimiter::new(RateConfig::default(), &SEED);
        l.allow_request(Instant(0), "10.0.0.1".parse().unwrap());
        l.allow_request(Instant(8_000_000), "10.0.0.2".parse().unwrap());
        l.expire_idle(Instant(12_000_000));
        assert_eq!(l.len(), 1, "only the source seen 4 s ago is kept");
    }

    #[test]
    fn table_is_bounded_and_forgets_the_least_recent_source() {
        let mut l = RateLimiter::new(
            RateConfig {
                max_sources: 2,
                request_burst: 1,
                requests_per_s: 1,
                ..RateConfig::default()
            },
            &SEED,
        );
        let t = Instant(0);
        let (a, b, c) = (
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            "10.0.0.3".parse().unwrap(),
        );
        assert!(l.allow_request(t, a));
        assert!(l.allow_request(t, b));
        assert!(!l.allow_request(t, a), "a spent its burst");
        assert!(l.allow_request(t, c), "c displaces b, the least recent");
        assert_eq!(l.len(), 2);
        assert!(!l.allow_request(t, a), "a is still remembered");
    }

    /// The table decides exactly as buckets that are never forgotten, over
    /// random traffic from 300 sources with idle gaps, sweeps and shrinks.
    #[test]
    fn decides_like_buckets_that_are_never_forgotten() {
        let config = RateConfig {
            requests_per_s: 1,
            request_burst: 3,
            lookups_per_s: 2,
            lookup_burst: 4,
            ..RateConfig::default()
        };
        let mut l = RateLimiter::new(config, &SEED);
        let mut model: Vec<(IpAddr, [u64; 3], u64)> = Vec::new();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let pool: Vec<IpAddr> = (0..300u32)
            .map(|k| {
                if k % 3 == 0 {
                    IpAddr::from([10, 0, (k >> 8) as u8, k as u8])
                } else {
                    IpAddr::from(Ipv6Addr::from(u128::from(k) << (k % 5 * 16)))
                }
            })
            .collect();
        let mut now = 0u64;
        let (mut allowed, mut denied) = (0, 0);
        for step in 0..60_000u32 {
            now += match rng.next_u32() % 100 {
                0 => u64::from(rng.next_u32() % 15_000_000),
                1..=10 => u64::from(rng.next_u32() % 100_000),
                _ => 0,
            };
            // Bursts from a few sources, then everyone.
            let ip = pool[(rng.next_u32() % if step % 1000 < 500 { 5 } else { 300 }) as usize];
            let kind = (rng.next_u32() % 3) as usize;
            let got = match kind {
                0 => l.allow_request(Instant(now), ip),
                1 => l.allow_lookup(Instant(now), ip),
                _ => l.allow_solicit(Instant(now), ip),
            };
            let rates = [
                (1, 3),
                (2, 4),
                (config.solicits_per_s, config.solicit_burst),
            ];
            let k = match model.iter().position(|m| m.0 == ip) {
                Some(k) => k,
                None => {
                    let full = rates.map(|(_, b)| u64::from(b) * 1000);
                    model.push((ip, full, now));
                    model.len() - 1
                }
            };
            let m = &mut model[k];
            let elapsed = now - m.2;
            m.2 = now;
            for (t, (rate, burst)) in m.1.iter_mut().zip(rates) {
                *t = (*t + elapsed * u64::from(rate) / 1000).min(u64::from(burst) * 1000);
            }
            let want = m.1[kind] >= 1000;
            if want {
                m.1[kind] -= 1000;
            }
            assert_eq!(got, want, "step {step}: {ip} kind {kind} at {now}");
            if got {
                allowed += 1
            } else {
                denied += 1
            }
            if step % 97 == 0 {
                l.expire_idle(Instant(now));
            }
            if step % 13 == 0 {
                l.check();
            }
        }
        assert!(
            allowed > 10_000 && denied > 10_000,
            "{allowed} allowed, {denied} denied"
        );
    }

    /// A flood of spoofed sources keeps the table at `max_sources`, and it
    /// is given back once they go quiet.
    #[test]
    fn a_flood_of_sources_stays_bounded_and_is_given_back() {
        let mut l = RateLimiter::new(
            RateConfig {
                max_sources: 64,
                ..RateConfig::default()
            },
            &SEED,
        );
        let t = Instant(1_000_000);
        for k in 0..10_000u32 {
            assert!(l.allow_request(
                t,
                IpAddr::from(Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(k)))
            ));
            assert!(l.len() <= 64);
        }
        l.check();
        assert_eq!(l.len(), 64);
        assert_eq!(size_of::<Option<Source>>(), 48, "as the module says");
        assert!(l.memory_bytes() <= 128 * size_of::<Option<Source>>());
        l.expire_idle(Instant(12_000_000));
        assert_eq!((l.len(), l.memory_bytes()), (0, 0));
    }

    /// Without maintenance sweeps, sources heard of once a second keep the
    /// table at the size the last ten seconds need.
    #[test]
    fn the_table_follows_the_traffic_between_sweeps() {
        let mut l = RateLimiter::new(RateConfig::default(), &SEED);
        for k in 0..1_000u32 {
            let ip = IpAddr::from(Ipv6Addr::from(u128::from(k) << 64));
            assert!(l.allow_lookup(Instant(u64::from(k) * 1_000_000), ip));
            assert!(l.len() <= 32, "{} sources after {k}", l.len());
        }
        l.check();
        assert!(l.slots.len() <= 32, "{} slots", l.slots.len());
    }

    /// Different seeds key the table differently.
    #[test]
    fn the_hash_is_keyed_by_the_seed() {
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        let a = RateLimiter::new(RateConfig::default(), &[1; 32]);
        let b = RateLimiter::new(RateConfig::default(), &[2; 32]);
        assert_ne!(a.hash(&ip), b.hash(&ip));
        assert_eq!(
            a.hash(&ip),
            RateLimiter::new(RateConfig::default(), &[1; 32]).hash(&ip)
        );
    }
}
