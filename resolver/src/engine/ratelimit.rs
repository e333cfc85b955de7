//! Per-source token buckets (digest §3.14): bounded state, no clock of its
//! own. MS-PNRP defines no numeric limits; the defaults are in
//! [`super::RateConfig`]. The source table is an LRU (the `lru` crate) of
//! `max_sources` entries: a new source displaces the least recently seen
//! one, so a flood of spoofed sources cannot grow memory or lock out
//! established peers for long.

use core::hash::BuildHasherDefault;
use std::collections::hash_map::DefaultHasher;
use std::net::IpAddr;

use lru::LruCache;

use super::config::RateConfig;
use crate::time::Instant;

/// A source unheard of for this long has a full bucket again (every
/// `burst / rate` is shorter) and is forgotten.
pub(super) const RATE_IDLE: core::time::Duration = core::time::Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Tokens in millitokens.
    requests: u64,
    lookups: u64,
    solicits: u64,
    last: Instant,
}

/// Token buckets keyed by source address.
#[derive(Debug)]
pub(super) struct RateLimiter {
    config: RateConfig,
    /// Keyed with fixed SipHash keys: deterministic, and only looked up,
    /// never iterated.
    buckets: LruCache<IpAddr, Bucket, BuildHasherDefault<DefaultHasher>>,
}

impl RateLimiter {
    pub(super) fn new(config: RateConfig) -> Self {
        // Grows with the sources actually seen (a preallocated table of
        // `max_sources` would cost ~136 KB per node); bounded in `bucket`.
        Self {
            config,
            buckets: LruCache::unbounded_with_hasher(BuildHasherDefault::default()),
        }
    }

    fn bucket(&mut self, now: Instant, ip: IpAddr) -> &mut Bucket {
        let c = self.config;
        // Forget up to two idle sources per use, so that the table follows
        // the traffic between the maintenance ticks' sweeps (which an idle
        // node skips).
        let idle = u64::try_from(RATE_IDLE.as_micros()).unwrap_or(u64::MAX);
        for _ in 0..2 {
            match self.buckets.peek_lru() {
                Some((_, b)) if now.0.saturating_sub(b.last.0) > idle => {
                    self.buckets.pop_lru();
                }
                _ => break,
            }
        }
        // Below the limit no source needs to go: one hash lookup, not two.
        if self.buckets.len() >= c.max_sources.max(1) && !self.buckets.contains(&ip) {
            self.buckets.pop_lru();
        }
        let b = self.buckets.get_or_insert_mut(ip, || Bucket {
            requests: u64::from(c.request_burst) * 1000,
            lookups: u64::from(c.lookup_burst) * 1000,
            solicits: u64::from(c.solicit_burst) * 1000,
            last: now,
        });
        let elapsed_us = now.0.saturating_sub(b.last.0);
        b.last = now;
        let refill = |tokens: u64, rate: u32, burst: u32| {
            (tokens + elapsed_us * u64::from(rate) / 1000).min(u64::from(burst) * 1000)
        };
        b.requests = refill(b.requests, c.requests_per_s, c.request_burst);
        b.lookups = refill(b.lookups, c.lookups_per_s, c.lookup_burst);
        b.solicits = refill(b.solicits, c.solicits_per_s, c.solicit_burst);
        b
    }

    /// Forgets sources idle for `idle` (their buckets would be full again
    /// anyway once `burst / rate` has passed), least recently seen first.
    pub(super) fn expire_idle(&mut self, now: Instant, idle: core::time::Duration) {
        let horizon = Instant(
            now.0
                .saturating_sub(u64::try_from(idle.as_micros()).unwrap_or(u64::MAX)),
        );
        while let Some((_, b)) = self.buckets.peek_lru() {
            if b.last >= horizon {
                break;
            }
            self.buckets.pop_lru();
        }
    }

    /// Approximate memory in bytes (entries of the LRU table).
    pub(super) fn memory_bytes(&self) -> usize {
        self.buckets.len() * 104
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

fn take(tokens: &mut u64) -> bool {
    if *tokens >= 1000 {
        *tokens -= 1000;
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refills_at_the_rate() {
        let mut l = RateLimiter::new(RateConfig {
            requests_per_s: 10,
            request_burst: 3,
            ..RateConfig::default()
        });
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
        let mut l = RateLimiter::new(RateConfig {
            requests_per_s: 1,
            request_burst: 2,
            lookups_per_s: 1,
            lookup_burst: 3,
            ..RateConfig::default()
        });
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
        let mut l = RateLimiter::new(RateConfig::default());
        let ip: IpAddr = "::1".parse().unwrap();
        for k in 0..60 * 500u64 {
            let t = Instant(k * 2_000);
            assert!(l.allow_lookup(t, ip), "LOOKUP {k}");
            assert!(l.allow_request(t, ip), "INQUIRE {k}");
        }
        // The old default (50/s, burst 100) dropped most of them.
        let mut old = RateLimiter::new(RateConfig {
            requests_per_s: 50,
            request_burst: 100,
            ..RateConfig::default()
        });
        let passed = (0..500u64)
            .filter(|k| old.allow_request(Instant(k * 2_000), ip))
            .count();
        assert!(passed < 150, "{passed}: the burst of 100 and 50/s");
    }

    #[test]
    fn idle_sources_are_forgotten() {
        let mut l = RateLimiter::new(RateConfig::default());
        l.allow_request(Instant(0), "10.0.0.1".parse().unwrap());
        l.allow_request(Instant(8_000_000), "10.0.0.2".parse().unwrap());
        l.expire_idle(Instant(12_000_000), core::time::Duration::from_secs(10));
        assert_eq!(l.buckets.len(), 1, "only the source seen 4 s ago is kept");
    }

    #[test]
    fn table_is_bounded_and_forgets_the_least_recent_source() {
        let mut l = RateLimiter::new(RateConfig {
            max_sources: 2,
            request_burst: 1,
            requests_per_s: 1,
            ..RateConfig::default()
        });
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
        assert_eq!(l.buckets.len(), 2);
        assert!(!l.allow_request(t, a), "a is still remembered");
    }
}
