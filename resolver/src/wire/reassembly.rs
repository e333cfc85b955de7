//! Reassembly of fragmented AUTHORITY_BUFFERs (MS-PNRP §3.1.5.6; digest
//! §2.6, receiver steps 2–6).
//!
//! Entries are keyed by (header MessageID, source address and port). The
//! table is bounded ([`ReassemblyLimits`]): when it is full a new buffer is
//! dropped rather than evicting one in progress, and entries expire after a
//! lifetime. Because [`super::Authority`] decoding already guarantees that
//! every fragment but the last is exactly 1,188 bytes at a multiple of 1,188,
//! a buffer is at most 32 fragments and completeness is a 32-bit mask.

use core::time::Duration;
use std::net::SocketAddr;

use super::authority::{AUTHORITY_FRAGMENT_LEN, Authority};
use super::elements::MessageId;
use crate::time::Instant;

/// Bounds of a [`Reassembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblyLimits {
    /// Buffers in progress at once.
    pub max_entries: usize,
    /// How long an incomplete buffer is kept.
    pub lifetime: Duration,
}

impl Default for ReassemblyLimits {
    /// 64 entries, 5 s (digest §3.14).
    fn default() -> Self {
        Self {
            max_entries: 64,
            lifetime: Duration::from_secs(5),
        }
    }
}

/// What [`Reassembler::push`] made of a fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reassembled {
    /// The buffer is complete: here it is.
    Complete(Vec<u8>),
    /// Stored; more fragments are needed.
    Pending,
    /// Dropped: its Size disagrees with earlier fragments (the entry was
    /// deleted too, as MS-PNRP §3.1.5.6 requires).
    SizeMismatch,
    /// Dropped: the table is full.
    TableFull,
}

#[derive(Debug)]
struct Entry {
    id: MessageId,
    from: SocketAddr,
    size: u16,
    have: u32,
    buf: Vec<u8>,
    deadline: Instant,
}

/// Reassembles AUTHORITY fragments into buffers.
#[derive(Debug)]
pub struct Reassembler {
    limits: ReassemblyLimits,
    entries: Vec<Entry>,
}

fn fragments(size: u16) -> u32 {
    // `size` ≤ 37,348 ⇒ at most 32 fragments.
    u32::try_from(usize::from(size).div_ceil(AUTHORITY_FRAGMENT_LEN)).unwrap_or(32)
}

fn full_mask(size: u16) -> u32 {
    let n = fragments(size);
    if n >= 32 { u32::MAX } else { (1u32 << n) - 1 }
}

impl Reassembler {
    /// An empty table.
    pub fn new(limits: ReassemblyLimits) -> Self {
        Self {
            limits,
            entries: Vec::new(),
        }
    }

    /// Buffers in progress.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` if nothing is in progress.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Takes one fragment `frag` (header MessageID `id`) from `from`.
    pub fn push(
        &mut self,
        now: Instant,
        id: MessageId,
        from: SocketAddr,
        frag: &Authority,
    ) -> Reassembled {
        if frag.is_whole() {
            return Reassembled::Complete(frag.data.clone());
        }
        self.expire(now);
        let idx = match self
            .entries
            .iter()
            .position(|e| e.id == id && e.from == from)
        {
            Some(i) => i,
            None => {
                if self.entries.len() >= self.limits.max_entries {
                    return Reassembled::TableFull;
                }
                self.entries.push(Entry {
                    id,
                    from,
                    size: frag.size,
                    have: 0,
                    buf: vec![0; usize::from(frag.size)],
                    deadline: now.plus(self.limits.lifetime),
                });
                self.entries.len() - 1
            }
        };
        let entry = &mut self.entries[idx];
        if entry.size != frag.size {
            self.entries.swap_remove(idx);
            return Reassembled::SizeMismatch;
        }
        let off = usize::from(frag.offset);
        // Decoding guarantees off + len ≤ size.
        if let Some(dst) = entry.buf.get_mut(off..off + frag.data.len()) {
            dst.copy_from_slice(&frag.data);
        }
        let bit = off / AUTHORITY_FRAGMENT_LEN;
        entry.have |= 1u32
            .checked_shl(u32::try_from(bit).unwrap_or(32))
            .unwrap_or(0);
        if entry.have == full_mask(entry.size) {
            let done = self.entries.swap_remove(idx);
            Reassembled::Complete(done.buf)
        } else {
            Reassembled::Pending
        }
    }

    /// Drops the entry for a LOOKUP/INQUIRE that timed out (MS-PNRP §3.1.6.3).
    pub fn discard(&mut self, id: MessageId, from: SocketAddr) {
        self.entries.retain(|e| !(e.id == id && e.from == from));
    }

    /// Drops entries past their lifetime.
    pub fn expire(&mut self, now: Instant) {
        self.entries.retain(|e| e.deadline > now);
    }

    /// The earliest expiry, if any entry is in progress.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.entries.iter().map(|e| e.deadline).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fragment;

    fn addr(p: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], p))
    }

    #[test]
    fn reassembles_out_of_order_fragments() {
        let buf: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        let frags = fragment(MessageId(7), &buf).unwrap();
        assert_eq!(frags.len(), 3);
        let mut r = Reassembler::new(ReassemblyLimits::default());
        let t = Instant(0);
        assert_eq!(
            r.push(t, MessageId(1), addr(4000), &frags[2]),
            Reassembled::Pending
        );
        assert_eq!(
            r.push(t, MessageId(1), addr(4000), &frags[0]),
            Reassembled::Pending
        );
        assert_eq!(
            r.push(t, MessageId(1), addr(4000), &frags[1]),
            Reassembled::Complete(buf)
        );
        assert!(r.is_empty());
    }

    #[test]
    fn size_mismatch_deletes_the_entry() {
        let a = fragment(MessageId(7), &[1u8; 2000]).unwrap();
        let b = fragment(MessageId(7), &[1u8; 2500]).unwrap();
        let mut r = Reassembler::new(ReassemblyLimits::default());
        let t = Instant(0);
        assert_eq!(
            r.push(t, MessageId(1), addr(4000), &a[0]),
            Reassembled::Pending
        );
        assert_eq!(
            r.push(t, MessageId(1), addr(4000), &b[1]),
            Reassembled::SizeMismatch
        );
        assert!(r.is_empty());
    }

    #[test]
    fn sources_are_kept_apart_and_table_is_bounded() {
        let f = fragment(MessageId(7), &[9u8; 2000]).unwrap();
        let mut r = Reassembler::new(ReassemblyLimits {
            max_entries: 2,
            lifetime: Duration::from_secs(5),
        });
        let t = Instant(0);
        assert_eq!(
            r.push(t, MessageId(1), addr(4000), &f[0]),
            Reassembled::Pending
        );
        assert_eq!(
            r.push(t, MessageId(1), addr(4001), &f[0]),
            Reassembled::Pending
        );
        assert_eq!(
            r.push(t, MessageId(2), addr(4000), &f[0]),
            Reassembled::TableFull
        );
        // After the lifetime the table has room again.
        let later = t.plus(Duration::from_secs(6));
        assert_eq!(
            r.push(later, MessageId(2), addr(4000), &f[0]),
            Reassembled::Pending
        );
        assert_eq!(r.len(), 1);
        r.discard(MessageId(2), addr(4000));
        assert!(r.is_empty());
    }

    #[test]
    fn largest_buffer_uses_32_fragments() {
        let buf = vec![3u8; crate::wire::MAX_AUTHORITY_BUFFER];
        let frags = fragment(MessageId(1), &buf).unwrap();
        assert_eq!(frags.len(), 32);
        assert_eq!(frags[31].data.len(), 520);
        let mut r = Reassembler::new(ReassemblyLimits::default());
        let mut out = Reassembled::Pending;
        for f in frags.iter().rev() {
            out = r.push(Instant(0), MessageId(1), addr(5000), f);
        }
        assert_eq!(out, Reassembled::Complete(buf));
    }
}
