//! The world's event queue: a calendar queue (a timing wheel of 1.024 ms
//! buckets over a 4.2 s horizon, a binary heap beyond it) that pops events
//! in exactly the order of a binary heap keyed by `(time µs, seq)`.
//!
//! Almost every event of a run is a datagram 5–50 ms ahead or a node timer
//! a few seconds ahead; with 10^5 nodes a single binary heap holds a few
//! hundred thousand entries and every pop walks ~18 levels of cache misses.
//! Here a push is an append to its bucket's vector, and only the events of
//! the bucket being drained are in a (small) heap.
//!
//! Invariants, with `cursor` the bucket being drained:
//! * `current` holds every queued event whose bucket is ≤ `cursor`
//!   (ordered by `(at, seq)`);
//! * `wheel[b % SLOTS]` holds the events of bucket `b` for
//!   `cursor < b < cursor + SLOTS`, unordered;
//! * `far` holds the events of buckets ≥ `cursor + SLOTS`.
//!
//! So the earliest event is always the top of `current` once `current` has
//! been refilled from the next non-empty bucket.

use std::collections::BinaryHeap;

/// Bucket width: 2^10 µs.
const SHIFT: u32 = 10;
/// Buckets in the wheel (a power of two).
const SLOTS: u64 = 4096;

/// One queued item with its ordering key.
#[derive(Debug)]
pub(crate) struct Keyed<T> {
    pub(crate) at: u64,
    pub(crate) seq: u64,
    pub(crate) item: T,
}

impl<T> PartialEq for Keyed<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<T> Eq for Keyed<T> {}
impl<T> PartialOrd for Keyed<T> {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Keyed<T> {
    /// Reversed: the max-heap pops the earliest `(at, seq)`.
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// A calendar queue; see the module documentation.
#[derive(Debug)]
pub(crate) struct CalendarQueue<T> {
    cursor: u64,
    current: BinaryHeap<Keyed<T>>,
    wheel: Vec<Vec<Keyed<T>>>,
    in_wheel: usize,
    far: BinaryHeap<Keyed<T>>,
}

impl<T> Default for CalendarQueue<T> {
    fn default() -> Self {
        Self {
            cursor: 0,
            current: BinaryHeap::new(),
            wheel: (0..SLOTS).map(|_| Vec::new()).collect(),
            in_wheel: 0,
            far: BinaryHeap::new(),
        }
    }
}

impl<T> CalendarQueue<T> {
    /// Queues `item` at `(at, seq)`; `seq` must be unique.
    pub(crate) fn push(&mut self, at: u64, seq: u64, item: T) {
        let k = Keyed { at, seq, item };
        let b = at >> SHIFT;
        if b <= self.cursor {
            self.current.push(k);
        } else if b < self.cursor + SLOTS {
            self.wheel[(b % SLOTS) as usize].push(k);
            self.in_wheel += 1;
        } else {
            self.far.push(k);
        }
    }

    /// Events queued.
    pub(crate) fn len(&self) -> usize {
        self.current.len() + self.in_wheel + self.far.len()
    }

    /// Makes `current` hold the earliest event if any is queued.
    fn refill(&mut self) {
        while self.current.is_empty() {
            if self.in_wheel == 0 {
                // Jump straight to the far heap's first bucket.
                let Some(first) = self.far.peek() else { return };
                self.cursor = first.at >> SHIFT;
            } else {
                self.cursor += 1;
            }
            let slot = &mut self.wheel[(self.cursor % SLOTS) as usize];
            self.in_wheel -= slot.len();
            self.current.extend(slot.drain(..));
            // The bucket entering the horizon's far end.
            let horizon = self.cursor + SLOTS;
            while self.far.peek().is_some_and(|k| (k.at >> SHIFT) < horizon) {
                let Some(k) = self.far.pop() else { break };
                let b = k.at >> SHIFT;
                if b <= self.cursor {
                    self.current.push(k);
                } else {
                    self.wheel[(b % SLOTS) as usize].push(k);
                    self.in_wheel += 1;
                }
            }
        }
    }

    /// The time of the earliest event.
    pub(crate) fn peek_at(&mut self) -> Option<u64> {
        self.refill();
        self.current.peek().map(|k| k.at)
    }

    /// Removes the earliest event.
    pub(crate) fn pop(&mut self) -> Option<Keyed<T>> {
        self.refill();
        self.current.pop()
    }

    /// Every queued item, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.current
            .iter()
            .chain(self.wheel.iter().flatten())
            .chain(self.far.iter())
            .map(|k| &k.item)
    }

    /// Bytes held by the queue's own storage.
    pub(crate) fn capacity_bytes(&self) -> usize {
        let cap: usize = self.current.capacity()
            + self.far.capacity()
            + self.wheel.iter().map(Vec::capacity).sum::<usize>();
        cap * size_of::<Keyed<T>>() + self.wheel.capacity() * size_of::<Vec<Keyed<T>>>()
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha8Rng;
    use rand_core::{RngCore, SeedableRng};

    use super::*;

    /// Pops in the same order as a binary heap keyed by `(at, seq)`, with
    /// pushes interleaved with pops and times spread from 0 to far beyond
    /// the horizon.
    #[test]
    fn pops_in_binary_heap_order() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut q = CalendarQueue::default();
        let mut h = BinaryHeap::new();
        let mut seq = 0u64;
        let mut now = 0u64;
        for round in 0..200_000u32 {
            let pushes = rng.next_u32() % 3;
            for _ in 0..pushes {
                seq += 1;
                let delta = match rng.next_u32() % 4 {
                    0 => 0,
                    1 => u64::from(rng.next_u32() % 2_000),
                    2 => u64::from(rng.next_u32() % 60_000),
                    _ => u64::from(rng.next_u32() % 20_000_000),
                };
                q.push(now + delta, seq, round);
                h.push(Keyed {
                    at: now + delta,
                    seq,
                    item: round,
                });
            }
            if rng.next_u32() % 2 == 0 {
                let a = q.pop().map(|k| (k.at, k.seq, k.item));
                let b = h.pop().map(|k| (k.at, k.seq, k.item));
                assert_eq!(a, b);
                if let Some((at, _, _)) = a {
                    now = at;
                }
            }
            assert_eq!(q.len(), h.len());
        }
        while let Some(b) = h.pop() {
            let a = q.pop().expect("same length");
            assert_eq!((a.at, a.seq), (b.at, b.seq));
        }
        assert!(q.pop().is_none());
    }

    /// A push behind the cursor (after a peek ran ahead) still comes first.
    #[test]
    fn a_push_behind_the_cursor_comes_first() {
        let mut q = CalendarQueue::default();
        q.push(10_000_000, 1, 'b');
        assert_eq!(q.peek_at(), Some(10_000_000));
        q.push(5, 2, 'a');
        assert_eq!(q.pop().map(|k| k.item), Some('a'));
        assert_eq!(q.pop().map(|k| k.item), Some('b'));
        assert_eq!(q.peek_at(), None);
    }
}
