//! The Pending List (MS-PNRP §3.1.1): messages awaiting an ACK or an
//! answer, each with its retransmission deadline and remaining retries.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::id::PnrpId;
use crate::time::Instant;
use crate::wire::MessageId;

/// Why a message is pending: decides what happens when it is answered or
/// times out (MS-PNRP §3.1.6.3, §3.2.6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    /// A SOLICIT; the conversation nonce is in `Node::solicits`.
    Solicit,
    /// A REQUEST.
    Request,
    /// A FLOOD with D clear, addressed to `validate` (zero if unknown).
    Flood { validate: PnrpId },
    /// An INQUIRE validating a route entry before it is cached.
    Admission,
    /// A LOOKUP of the resolution `resolve`.
    Lookup { resolve: u64 },
    /// The final INQUIRE of the resolution `resolve`.
    Inquire { resolve: u64 },
    /// A LOOKUP or INQUIRE to `validate` whose resolution has ended: it is
    /// still waited for, so that a node that never answers leaves the cache
    /// (MS-PNRP §3.1.6.3) and one that answers N does too.
    Orphan { validate: PnrpId },
}

/// One pending message.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) to: SocketAddr,
    pub(super) bytes: Vec<u8>,
    pub(super) retries_left: u8,
    pub(super) deadline: Instant,
    pub(super) purpose: Purpose,
}

/// Pending messages by MessageID.
#[derive(Debug, Default)]
pub(super) struct Pending {
    entries: BTreeMap<MessageId, Entry>,
}

impl Pending {
    pub(super) fn insert(&mut self, id: MessageId, e: Entry) {
        self.entries.insert(id, e);
    }

    pub(super) fn get(&self, id: MessageId) -> Option<&Entry> {
        self.entries.get(&id)
    }

    pub(super) fn remove(&mut self, id: MessageId) -> Option<Entry> {
        self.entries.remove(&id)
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Removes and returns every entry whose deadline has passed, in
    /// MessageID order (deterministic).
    pub(super) fn expired(&mut self, now: Instant) -> Vec<(MessageId, Entry)> {
        let due: Vec<MessageId> = self
            .entries
            .iter()
            .filter(|(_, e)| e.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        due.into_iter()
            .filter_map(|id| self.entries.remove(&id).map(|e| (id, e)))
            .collect()
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.entries.values().map(|e| e.deadline).min()
    }

    /// Changes what the message `id` is waiting for.
    pub(super) fn set_purpose(&mut self, id: MessageId, purpose: Purpose) {
        if let Some(e) = self.entries.get_mut(&id) {
            e.purpose = purpose;
        }
    }

    /// Removes every entry of the resolution `resolve`.
    pub(super) fn remove_resolve(&mut self, resolve: u64) {
        self.entries.retain(|_, e| {
            !matches!(e.purpose, Purpose::Lookup { resolve: r } | Purpose::Inquire { resolve: r } if r == resolve)
        });
    }

    pub(super) fn memory_bytes(&self) -> usize {
        self.entries.values().map(|e| e.bytes.capacity() + 96).sum()
    }
}
