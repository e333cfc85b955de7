//! The DNS ⇄ PNRP translation for `*.pnrp.net` (design §6, the "NSP shim"):
//! a small authoritative DNS server for the `pnrp.net` zone that answers
//! from PNRP resolutions, so any resolver on the host (systemd-resolved,
//! dnsmasq, unbound, glibc) can route `pnrp.net` to pnrp.
//!
//! The shim defines the one interface it needs, [`PeerLookup`]; the daemon
//! implements it and serves the shim in-process ([`Stub::start`]), so the
//! dependency points from `pnrp` (the daemon) to this crate and never back.
//!
//! * [`wire`] — the fast path: a total parser for the one-question queries
//!   stub resolvers send, and an answer writer that points every owner name
//!   at the question (so answers keep the query's letter case);
//! * `dns` — the slow path on hickory-proto for every other shape;
//! * [`zone`] — which names exist and which records they have;
//! * [`cache`] — one compact record per host name, kept for its TTL;
//! * [`server`] — UDP threads, lookup tasks, TCP connections.

pub mod cache;
mod dns;
mod fuzz;
mod mmsg;
pub mod server;
pub mod wire;
pub mod zone;

pub use fuzz::fuzz_oracle;
pub use server::{CacheHandle, Stub, StubConfig, StubStats};

use core::future::Future;
use core::time::Duration;
use std::net::IpAddr;

/// One published application endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookupEndpoint {
    /// Address (v4-mapped IPv6 addresses are given as IPv4).
    pub addr: IpAddr,
    /// Registered port, 0 if none.
    pub port: u16,
    /// IANA protocol number (6 TCP, 17 UDP, 0 unspecified).
    pub protocol: u16,
}

/// A verified answer for one host name: every registration found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LookupAnswer {
    /// Endpoints of all registrations, in the daemon's order.
    pub endpoints: Vec<LookupEndpoint>,
    /// Comments of the registrations, for TXT.
    pub comments: Vec<String>,
    /// Text extended payloads, for TXT.
    pub texts: Vec<String>,
    /// How long the answer may be cached, at most; zero leaves it to the
    /// stub's configured TTL.
    pub ttl: Duration,
}

/// Why a lookup produced no answer; each maps to one DNS rcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LookupError {
    /// The name is not registered in any cloud (NXDOMAIN).
    #[error("name not found")]
    NotFound,
    /// The host name has no peer-name form (NXDOMAIN).
    #[error("invalid host name")]
    Invalid,
    /// The cloud could not answer within the budget (SERVFAIL).
    #[error("lookup timed out")]
    Timeout,
    /// The node is overloaded or not running (SERVFAIL).
    #[error("resolver unavailable")]
    Unavailable,
}

/// How the shim looks a `*.pnrp.net` host name up. Implemented by the
/// daemon (in-process) and by clients of its lookup socket.
pub trait PeerLookup {
    /// Resolves `host` (any letter case, inside `pnrp.net`) within `budget`.
    fn lookup(
        &self,
        host: &str,
        budget: Duration,
    ) -> impl Future<Output = Result<LookupAnswer, LookupError>> + Send;
}
