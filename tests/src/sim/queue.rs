//! The world's event queue: a two-level calendar queue (a fine timing wheel
//! of 1.024 ms buckets over two 2.1 s epochs, a coarse wheel of epochs over
//! 2.4 h, a binary heap beyond) that pops events in exactly the order of a
//! binary heap keyed by `(time µs, seq)`.
//!
//! Almost every event of a run is a datagram 5–50 ms ahead or a node timer
//! a few seconds to minutes ahead; with 10^5 nodes a single binary heap
//! holds a few hundred thousand entries and every pop walks ~18 levels of
//! cache misses. Here a push is an append to a bucket's vector, a timer
//! beyond the fine wheel is moved once more (with its whole epoch) when its
//! epoch comes near, and only the events of the bucket being drained are in
//! a (small) heap.
//!
//! Invariants, with `cursor` the fine bucket being drained and `E` its
//! epoch (`cursor >> EPOCH_BITS`):
//! * `current` holds every queued event whose bucket is ≤ `cursor`
//!   (ordered by `(at, seq)`);
//! * `wheel[b % FINE]` holds the events of bucket `b` for `cursor < b` in
//!   epochs `E` and `E + 1`, unordered (fewer than `FINE` buckets apart);
//! * `coarse[e % COARSE]` holds the events of epoch `e` for
//!   `E + 1 < e < E + COARSE`, unordered;
//! * `far` holds the events of epochs ≥ `E + COARSE`.
//!
//! When the cursor enters epoch `E`, the events of epoch `E + 1` move from
//! `coarse` to `wheel` and those of epoch `E + COARSE - 1` from `far` to
//! `coarse`; so the earliest event is always the top of `current` once
//! `current` has been refilled from the next non-empty bucket.

use std::collections::BinaryHeap;

/// Fine bucket width: 2^10 µs.
const SHIFT: u32 = 10;
/// Fine buckets per epoch: 2^11 (an epoch is 2.1 s).
const EPOCH_BITS: u32 = 11;
/// Fine buckets in the wheel: two epochs (4,096, as many as before the
/// coarse wheel: each keeps the capacity of its busiest millisecond).
const FINE: u64 = 2 << EPOCH_BITS;
/// Epochs in the coarse wheel (2.39 h).
const COARSE: u64 = 4096;

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
    coarse: Vec<Vec<Keyed<T>>>,
    in_coarse: usize,
    far: BinaryHeap<Keyed<T>>,
}

impl<T> Default for CalendarQueue<T> {
    fn default() -> Self {
        Self {
            cursor: 0,
            current: BinaryHeap::new(),
            wheel: (0..FINE).map(|_| Vec::new()).collect(),
            in_wheel: 0,
            coarse: (0..COARSE).map(|_| Vec::new()).collect(),
            in_coarse: 0,
            far: BinaryHeap::new(),
        }
    }
}

impl<T> CalendarQueue<T> {
    /// Queues `item` at `(at, seq)`; `seq` must be unique.
    pub(crate) fn push(&mut self, at: u64, seq: u64, item: T) {
        self.place(Keyed { at, seq, item });
    }

    /// Files `k` where the invariants want it.
    fn place(&mut self, k: Keyed<T>) {
        let b = k.at >> SHIFT;
        let e = b >> EPOCH_BITS;
        let epoch = self.cursor >> EPOCH_BITS;
        if b <= self.cursor {
            self.current.push(k);
        } else if e <= epoch + 1 {
            self.wheel[(b % FINE) as usize].push(k);
            self.in_wheel += 1;
        } else if e < epoch + COARSE {
            self.coarse[(e % COARSE) as usize].push(k);
            self.in_coarse += 1;
        } else {
            self.far.push(k);
        }
    }

    /// Events queued.
    pub(crate) fn len(&self) -> usize {
        self.current.len() + self.in_wheel + self.in_coarse + self.far.len()
    }

    /// The first epoch after the wheel's two that holds an event.
    fn next_busy_epoch(&self) -> Option<u64> {
        let epoch = self.cursor >> EPOCH_BITS;
        let in_coarse = if self.in_coarse == 0 {
            None
        } else {
            (epoch + 2..epoch + COARSE).find(|e| !self.coarse[(e % COARSE) as usize].is_empty())
        };
        in_coarse.or_else(|| self.far.peek().map(|k| k.at >> SHIFT >> EPOCH_BITS))
    }

    /// The cursor has just entered its epoch: the next epoch's events move
    /// into the fine wheel, the far heap's that now fit into the coarse one.
    fn enter_epoch(&mut self) {
        let epoch = self.cursor >> EPOCH_BITS;
        let next = core::mem::take(&mut self.coarse[((epoch + 1) % COARSE) as usize]);
        self.in_coarse -= next.len();
        for k in next {
            self.place(k);
        }
        let horizon = epoch + COARSE;
        while self
            .far
            .peek()
            .is_some_and(|k| (k.at >> SHIFT >> EPOCH_BITS) < horizon)
        {
            let Some(k) = self.far.pop() else { break };
            self.place(k);
        }
    }

    /// Makes `current` hold the earliest event if any is queued.
    fn refill(&mut self) {
        while self.current.is_empty() {
            if self.in_wheel == 0 {
                // Nothing in the next two epochs: jump to just before the
                // epoch that precedes the first busy one.
                let Some(busy) = self.next_busy_epoch() else {
                    return;
                };
                self.cursor = self.cursor.max(((busy - 1) << EPOCH_BITS) - 1);
            }
            self.cursor += 1;
            if self.cursor.is_multiple_of(1 << EPOCH_BITS) {
                self.enter_epoch();
            }
            let slot = &mut self.wheel[(self.cursor % FINE) as usize];
            self.in_wheel -= slot.len();
            self.current.extend(slot.drain(..));
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
            .chain(self.coarse.iter().flatten())
            .chain(self.far.iter())
            .map(|k| &k.item)
    }

    /// Bytes held by the queue's own storage.
    pub(crate) fn capacity_bytes(&self) -> usize {
        let cap: usize = self.current.capacity()
            + self.far.capacity()
            + self.wheel.iter().map(Vec::capacity).sum::<usize>()
            + self.coarse.iter().map(Vec::capacity).sum::<usize>();
        cap * size_of::<Keyed<T>>()
            + (self.wheel.capacity() + self.coarse.capacity()) * size_of::<Vec<Keyed<T>>>()
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha8Rng;
    use rand_core::{RngCore, SeedableRng};

    use super::*;

    /// Pops in the same order as a binary heap keyed by `(at, seq)`, with
    /// pushes interleaved with pops and times spread from 0 to far beyond
    /// both wheels' horizons.
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
                let delta = match rng.next_u32() % 16 {
                    0..=3 => 0,
                    4..=7 => u64::from(rng.next_u32() % 2_000),
                    8..=10 => u64::from(rng.next_u32() % 60_000),
                    11..=13 => u64::from(rng.next_u32() % 20_000_000),
                    // minutes: the coarse wheel
                    14 => rng.next_u64() % 900_000_000,
                    // hours: beyond it
                    _ => rng.next_u64() % 40_000_000_000,
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

    /// Events hours apart, alone in the queue: each jump lands on its
    /// epoch, and one pushed behind a jump still comes first.
    #[test]
    fn sparse_events_hours_apart() {
        let mut q = CalendarQueue::default();
        let hour = 3_600_000_000u64;
        for (seq, at) in [(1, 5 * hour), (2, hour + 7), (3, 20 * hour), (4, hour + 7)] {
            q.push(at, seq, seq);
        }
        assert_eq!(q.pop().map(|k| (k.at, k.seq)), Some((hour + 7, 2)));
        assert_eq!(q.pop().map(|k| (k.at, k.seq)), Some((hour + 7, 4)));
        assert_eq!(q.peek_at(), Some(5 * hour));
        q.push(2 * hour, 5, 5);
        q.push(5 * hour + 1, 6, 6);
        let rest: Vec<u64> = core::iter::from_fn(|| q.pop().map(|k| k.seq)).collect();
        assert_eq!(rest, [5, 1, 6, 3]);
        assert_eq!(q.len(), 0);
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
