//! The Pending List (MS-PNRP §3.1.1): messages awaiting an ACK or an
//! answer, each with its retransmission deadline and remaining retries.

use std::collections::{BTreeMap, BTreeSet};
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

/// Pending messages by MessageID, and their deadlines in time order (so
/// that the next deadline and the expired entries are found without a scan
/// of the whole list, which `poll_timeout` would otherwise do on every
/// call).
#[derive(Debug, Default)]
pub(super) struct Pending {
    entries: BTreeMap<MessageId, Entry>,
    deadlines: BTreeSet<(Instant, MessageId)>,
}

impl Pending {
    pub(super) fn insert(&mut self, id: MessageId, e: Entry) {
        let deadline = e.deadline;
        if let Some(old) = self.entries.insert(id, e) {
            self.deadlines.remove(&(old.deadline, id));
        }
        self.deadlines.insert((deadline, id));
    }

    pub(super) fn get(&self, id: MessageId) -> Option<&Entry> {
        self.entries.get(&id)
    }

    pub(super) fn remove(&mut self, id: MessageId) -> Option<Entry> {
        let e = self.entries.remove(&id)?;
        self.deadlines.remove(&(e.deadline, id));
        Some(e)
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Removes and returns every entry whose deadline has passed, in
    /// MessageID order (deterministic).
    pub(super) fn expired(&mut self, now: Instant) -> Vec<(MessageId, Entry)> {
        let mut due: Vec<MessageId> = Vec::new();
        while let Some(&(deadline, id)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_first();
            due.push(id);
        }
        due.sort_unstable();
        due.into_iter()
            .filter_map(|id| self.entries.remove(&id).map(|e| (id, e)))
            .collect()
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(deadline, _)| deadline)
    }

    /// Changes what the message `id` is waiting for.
    pub(super) fn set_purpose(&mut self, id: MessageId, purpose: Purpose) {
        if let Some(e) = self.entries.get_mut(&id) {
            e.purpose = purpose;
        }
    }

    /// Removes every entry of the resolution `resolve`.
    pub(super) fn remove_resolve(&mut self, resolve: u64) {
        let deadlines = &mut self.deadlines;
        self.entries.retain(|id, e| {
            let keep = !matches!(e.purpose, Purpose::Lookup { resolve: r } | Purpose::Inquire { resolve: r } if r == resolve);
            if !keep {
                deadlines.remove(&(e.deadline, *id));
            }
            keep
        });
    }

    /// Estimated heap bytes: the datagrams, ~96 bytes of map and entry per
    /// message and ~24 of deadline index.
    pub(super) fn memory_bytes(&self) -> usize {
        self.entries
            .values()
            .map(|e| e.bytes.capacity() + 120)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(deadline_ms: u64, resolve: u64) -> Entry {
        Entry {
            to: SocketAddr::from(([127, 0, 0, 1], 3540)),
            bytes: vec![0; 8],
            retries_left: 2,
            deadline: Instant(deadline_ms * 1000),
            purpose: Purpose::Lookup { resolve },
        }
    }

    #[test]
    fn the_deadline_index_follows_every_change() {
        let mut p = Pending::default();
        p.insert(MessageId(5), entry(30, 1));
        p.insert(MessageId(2), entry(10, 2));
        p.insert(MessageId(9), entry(20, 1));
        assert_eq!(p.next_deadline(), Some(Instant(10_000)));
        // Re-inserting an ID replaces its deadline, even with the same one.
        p.insert(MessageId(2), entry(40, 2));
        assert_eq!(p.next_deadline(), Some(Instant(20_000)));
        p.insert(MessageId(2), entry(40, 2));
        assert!(p.deadlines.contains(&(Instant(40_000), MessageId(2))));
        assert!(p.remove(MessageId(9)).is_some());
        assert_eq!(p.next_deadline(), Some(Instant(30_000)));
        p.insert(MessageId(1), entry(35, 1));
        p.remove_resolve(1);
        assert_eq!(p.len(), 1);
        assert_eq!(p.next_deadline(), Some(Instant(40_000)));
        p.insert(MessageId(7), entry(15, 3));
        p.insert(MessageId(3), entry(15, 3));
        // Expired ones come out in MessageID order, whatever their deadlines.
        let out: Vec<MessageId> = p
            .expired(Instant(40_000))
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(out, [MessageId(2), MessageId(3), MessageId(7)]);
        assert_eq!(p.len(), 0);
        assert_eq!(p.next_deadline(), None);
        assert!(p.deadlines.is_empty());
    }
}
