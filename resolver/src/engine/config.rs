//! Engine configuration: every tunable with its default, unit and source.

use core::time::Duration;
use std::net::SocketAddr;

use super::cache::CacheConfig;
use crate::wire::Endpoint;

/// Per-source request budgets: token buckets keyed by source address
/// (digest §3.14 asks for them; MS-PNRP gives no numbers). The defaults and
/// their costs are profile decision D20 in `docs/protocol.md`: a local DNS
/// stub resolving hundreds of names per second on one publisher sends that
/// publisher one LOOKUP and one INQUIRE per name, all from one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateConfig {
    /// Requests that cost a signature or a validation (INQUIRE, FLOOD,
    /// REQUEST) per second per source address. Default 500.
    pub requests_per_s: u32,
    /// Burst allowance for those requests. Default 1,000.
    pub request_burst: u32,
    /// LOOKUPs per second per source address (a cache query and an answer
    /// no larger than the question). Default 2,000.
    pub lookups_per_s: u32,
    /// Burst allowance for LOOKUPs. Default 4,000.
    pub lookup_burst: u32,
    /// SOLICITs per second per source address.
    pub solicits_per_s: u32,
    /// Burst allowance for SOLICITs.
    pub solicit_burst: u32,
    /// Sources tracked at once.
    pub max_sources: usize,
}

impl Default for RateConfig {
    fn default() -> Self {
        Self {
            requests_per_s: 500,
            request_burst: 1000,
            lookups_per_s: 2000,
            lookup_burst: 4000,
            solicits_per_s: 1,
            solicit_burst: 5,
            max_sources: 4096,
        }
    }
}

/// Configuration of one [`super::Node`].
#[derive(Debug, Clone)]
pub struct Config {
    /// The node's PNRP endpoints in this cloud: 1–4 addresses sharing one
    /// port (MS-PNRP §3.1.4.1). Route entries and CPAs advertise them.
    pub local: Vec<Endpoint>,
    /// Bootstrap nodes (seed servers, persisted cache entries).
    pub seeds: Vec<SocketAddr>,
    /// Maintenance period (MS-PNRP §3.1.2: SHOULD be 15 s).
    pub maintenance: Duration,
    /// Retransmission timer (MS-PNRP §3.1.2: 1 s).
    pub retransmit: Duration,
    /// Retries after the first send (MS-PNRP: 2).
    pub retries: u8,
    /// Publisher conversation lifetime (MS-PNRP §3.2.2: 15 s).
    pub conversation: Duration,
    /// Not After of the CPAs this node signs, from signing time (12 h – 7 d).
    pub cpa_lifetime: Duration,
    /// How often a registration is re-announced (registration resolve and
    /// leaf-set flood), well before Not After. Default 10 min: the nodes
    /// that join next to a registration meanwhile learn it from the
    /// re-announcement, so it must be short against session times. While
    /// a registration's leaf set stays the same it waits up to 8× longer
    /// (docs/protocol.md D22).
    pub refresh: Duration,
    /// Route-entry cache shape.
    pub cache: CacheConfig,
    /// Resolutions (ORT entries) in progress at once.
    pub max_resolves: usize,
    /// Route entries awaiting validation at once.
    pub max_admissions: usize,
    /// Publisher conversations at once.
    pub max_conversations: usize,
    /// Registrations on this node.
    pub max_registrations: usize,
    /// Messages awaiting an answer at once.
    pub max_pending: usize,
    /// Datagrams queued for the shell at once (more are dropped and counted).
    pub max_transmit_queue: usize,
    /// Per-source rate limits.
    pub rate: RateConfig,
    /// Probability (per maintenance tick) of a cache-maintenance lookup
    /// toward a random ID, in 1/1000, while the node meets dead peers;
    /// halved at each draw without one since the last, down to a 64th
    /// (the default 250 becomes 3: one every ~83 minutes of 15 s ticks).
    pub maintenance_lookup_permille: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            local: Vec::new(),
            seeds: Vec::new(),
            maintenance: Duration::from_secs(15),
            retransmit: Duration::from_secs(1),
            retries: 2,
            conversation: Duration::from_secs(15),
            cpa_lifetime: Duration::from_secs(24 * 3600),
            refresh: Duration::from_secs(600),
            cache: CacheConfig::default(),
            max_resolves: 64,
            max_admissions: 256,
            max_conversations: 64,
            max_registrations: 64,
            max_pending: 2048,
            max_transmit_queue: 4096,
            rate: RateConfig::default(),
            maintenance_lookup_permille: 250,
        }
    }
}
