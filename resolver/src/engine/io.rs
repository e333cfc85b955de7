//! The types that cross the sans-IO boundary (house style §3.2): what the
//! shell hands a [`super::Node`] and what it drains from it. All plain data.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::cpa::{AppEndpoint, PayloadData, VerifiedCpa, VerifiedExtendedPayload};
use crate::crypto::Signer;
use crate::id::PnrpId;
use crate::name::PeerName;
use crate::time::{Instant, UnixTime};

/// The time of an input: a monotonic instant for timers and the wall clock
/// for CPA validity windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time (timers, deadlines).
    pub mono: Instant,
    /// Wall-clock time (Not After).
    pub wall: UnixTime,
}

/// A caller-chosen handle that correlates a [`Command`] with its [`Event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// A signer shared between the caller and the node.
pub type SharedSigner = Arc<dyn Signer + Send + Sync>;

/// What to publish.
#[derive(Clone)]
pub struct Registration {
    /// The peer name. A secured name must match `signer`'s authority.
    pub name: PeerName,
    /// Signs this registration's CPAs.
    pub signer: SharedSigner,
    /// Application endpoints (≤ 10).
    pub endpoints: Vec<AppEndpoint>,
    /// Comment (≤ 39 characters).
    pub comment: Option<String>,
    /// Extended payload (≤ 4,096 bytes).
    pub payload: Option<PayloadData>,
    /// Upper 64 bits of the service location; `None` = from the node's first
    /// local address.
    pub prefix: Option<u64>,
}

impl core::fmt::Debug for Registration {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Registration")
            .field("name", &self.name)
            .field("endpoints", &self.endpoints)
            .field("comment", &self.comment)
            .field("payload_len", &self.payload.as_ref().map(PayloadData::len))
            .finish_non_exhaustive()
    }
}

/// An instruction to the node. Each one that takes a [`RequestId`] is
/// answered by exactly one terminal [`Event`] carrying it.
#[derive(Debug, Clone)]
pub enum Command {
    /// Publish a name (answered by [`Event::Registered`]).
    Register {
        /// Correlation handle.
        request: RequestId,
        /// What to publish.
        registration: Box<Registration>,
    },
    /// Withdraw every registration of a name made on this node (answered
    /// by [`Event::Unregistered`]).
    Unregister {
        /// Correlation handle.
        request: RequestId,
        /// The name.
        name: PeerName,
    },
    /// Resolve a name (answered by [`Event::Resolved`]).
    Resolve {
        /// Correlation handle.
        request: RequestId,
        /// The name.
        name: PeerName,
        /// Most results wanted (≥ 1).
        max_results: usize,
        /// Give up (returning what was found) at this instant.
        deadline: Instant,
    },
    /// Abandon a resolution (answered by [`Event::Resolved`] with
    /// [`ResolveError::Cancelled`] if it was running).
    Cancel {
        /// The resolution's handle.
        request: RequestId,
    },
    /// Learn a bootstrap node.
    AddSeed(SocketAddr),
}

/// One verified registration found by a resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The registration's PNRP ID.
    pub id: PnrpId,
    /// The classifier as the publisher spells it.
    pub classifier: String,
    /// The verified CPA (endpoints, comment, key).
    pub cpa: VerifiedCpa,
    /// The verified extended payload, if the publisher has one.
    pub payload: Option<VerifiedExtendedPayload>,
    /// LOOKUP exchanges before this result (the final INQUIRE not counted).
    pub hops: u32,
    /// Where the publisher answered from.
    pub from: SocketAddr,
    /// The flagged path when the result was found: our own endpoint, then
    /// every node consulted, in order (for `pnrp trace`).
    pub path: Vec<SocketAddr>,
}

/// Why a resolution produced nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// No registration of the name was found.
    #[error("not found")]
    NotFound,
    /// The deadline passed first.
    #[error("timed out")]
    Timeout,
    /// Cancelled by the caller.
    #[error("cancelled")]
    Cancelled,
    /// Too many resolutions in progress.
    #[error("too many resolutions in progress")]
    Busy,
}

/// Why a registration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// A secured name whose authority is not the signer's.
    #[error("the signer does not hold the name's authority")]
    KeyMismatch,
    /// The node has no local endpoint in this cloud.
    #[error("no local endpoint in this cloud")]
    NoLocalEndpoint,
    /// A CPA limit is broken (endpoints, comment, payload).
    #[error("registration breaks a CPA limit")]
    Limit,
    /// Too many registrations on this node.
    #[error("too many registrations")]
    TooMany,
}

/// Cloud states (PNRP_CLOUD_STATE, digest §1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloudState {
    /// Filling the cache from seeds.
    Synchronising,
    /// Knows other members.
    Active,
    /// Bootstrapped but found no other node.
    Alone,
}

/// An output of the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A registration is published.
    Registered {
        /// The command's handle.
        request: RequestId,
        /// The new PNRP ID, or why not.
        result: Result<PnrpId, RegisterError>,
    },
    /// A name was withdrawn (`removed` registrations).
    Unregistered {
        /// The command's handle.
        request: RequestId,
        /// How many registrations were withdrawn (0 = the name was not registered here).
        removed: usize,
    },
    /// A resolution finished.
    Resolved {
        /// The command's handle.
        request: RequestId,
        /// The verified results, or why there are none.
        result: Result<Vec<Resolved>, ResolveError>,
    },
    /// The cloud state changed.
    StateChanged(CloudState),
}
