//! `pnrp-sim`: a seeded, deterministic discrete-event simulation of a PNRP
//! cloud that runs the real engine ([`pnrp::engine::Node`]) and exchanges
//! real encoded datagrams (design §7, house style §3.10).
//!
//! * [`world`] — the event loop (node partitions run in parallel windows),
//!   the virtual clock, the nodes and the bookkeeping of commands, lookups
//!   and attribution;
//! * `queue` — the calendar queue the world's events wait in;
//! * [`net`] — addresses, latency, loss, partitions, churn distributions;
//! * [`crypto`] — `SimCrypto`, cheap unforgeable signatures (and the switch
//!   to real P-256);
//! * [`malicious`] — nodes that drop LOOKUPs, claim to be closest to every
//!   target and forge CPAs;
//! * [`metrics`] — counters, the determinism hash and the JSON [`Report`];
//! * [`scenario`] — a whole benchmark run as the binary performs it.
//!
//! How to run it, every flag and the exact definition of every report key
//! are in `docs/simulation.md`.
//!
//! ```no_run
//! use pnrp_tests::sim::{Scenario, run};
//! let report = run(&Scenario { nodes: 200, lookups: 100, ..Scenario::default() })?;
//! assert!(report.success_rate.unwrap_or(0.0) > 0.9);
//! # Ok::<(), pnrp_tests::sim::RunError>(())
//! ```

pub mod crypto;
pub mod malicious;
pub mod metrics;
pub mod net;
mod queue;
pub mod scenario;
pub mod world;

pub use crypto::{CryptoMode, KeyFactory, SimSigner, SimVerifier};
pub use malicious::Behaviour;
pub use metrics::{EventHash, Report};
pub use net::{Latency, Lifetime, Partition};
pub use scenario::{RunError, Scenario, run, run_checked};
pub use world::{
    NameIdx, NodeIdx, Outcome, OutcomeKind, Role, TraceRecord, Verdict, World, WorldConfig,
};
