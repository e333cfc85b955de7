//! The sans-IO PNRP engine: one node's protocol state per cloud, driven
//! entirely from outside (house style §3.2). It never reads a clock, draws
//! OS entropy, touches a socket or spawns a thread; time arrives in [`Now`]
//! arguments and randomness from a seed given at construction.
//!
//! * [`Node`] — the participant: `handle_datagram` / `handle_timeout` /
//!   `handle_command` in, `poll_transmit` / `poll_event` / `poll_timeout`
//!   out (see its call contract);
//! * [`cache`] — the multi-level route-entry cache with leaf sets (MS-PNRP
//!   §3.2.1.1; digest §3.7);
//! * private parts: the Pending List with retransmission (`pending`), the
//!   responder (`responder`: SOLICIT, REQUEST, LOOKUP, INQUIRE, FLOOD),
//!   route-entry admission by INQUIRE (`admission`), resolution with the
//!   Outstanding Resolves Table (`resolve`), registration, flooding and
//!   revocation (`publish`), per-source rate limits (`ratelimit`).

mod admission;
pub mod cache;
mod config;
mod io;
mod node;
mod pending;
mod publish;
mod ratelimit;
mod resolve;
mod responder;
mod stats;

#[cfg(test)]
pub(crate) mod tests;

pub use config::{Config, RateConfig};
pub use io::{
    CloudState, Command, Event, Now, RegisterError, Registration, RequestId, ResolveError,
    Resolved, SharedSigner,
};
pub use node::Node;
pub use stats::Stats;
