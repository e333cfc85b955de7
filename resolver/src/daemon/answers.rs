//! Verified host answers for the NSS path, kept for their TTL: the most
//! recently used ones, at most a fixed number.
//!
//! The NSS module asks `pnrpd` for a host name only when the shared host
//! table lacks it (`super::hosttable`); a repeated question within the TTL
//! is answered from here without a resolution. When the cache is full a
//! new answer displaces the least recently used one (`lru::LruCache`), so
//! a working set larger than the cache keeps its most active names instead
//! of freezing on whichever filled it first.

use core::num::NonZeroUsize;

use tokio::time::Instant;

/// (lowercased host name, family).
pub(crate) type Key = (Vec<u8>, u8);

/// The host answers: key → (expiry, encoded answer frame).
#[derive(Debug)]
pub(crate) struct HostAnswers {
    answers: lru::LruCache<Key, (Instant, Vec<u8>)>,
}

impl HostAnswers {
    /// An empty cache for at most `capacity` answers.
    pub(crate) fn new(capacity: NonZeroUsize) -> Self {
        Self {
            answers: lru::LruCache::new(capacity),
        }
    }

    /// The answer for `key` and when it expires, unless it has expired by
    /// `now` (then it is dropped). A hit counts as a use.
    pub(crate) fn get(&mut self, key: &Key, now: Instant) -> Option<(Instant, Vec<u8>)> {
        match self.answers.get(key) {
            Some((expires, frame)) if *expires > now => Some((*expires, frame.clone())),
            Some(_) => {
                self.answers.pop(key);
                None
            }
            None => None,
        }
    }

    /// Keeps `frame` for `key` until `expires`, displacing the least
    /// recently used answer when the cache is full.
    pub(crate) fn put(&mut self, key: Key, expires: Instant, frame: Vec<u8>) {
        self.answers.put(key, (expires, frame));
    }

    /// Forgets every answer.
    pub(crate) fn clear(&mut self) {
        self.answers.clear();
    }

    /// Answers held (expired ones not yet dropped included).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.answers.len()
    }
}

#[cfg(test)]
mod tests {
    use core::time::Duration;

    use super::*;

    fn key(name: &str) -> Key {
        (name.as_bytes().to_vec(), 0)
    }

    #[test]
    fn a_full_cache_keeps_its_most_recently_used_answers() {
        let now = Instant::now();
        let later = now + Duration::from_secs(10);
        let mut c = HostAnswers::new(NonZeroUsize::new(2).expect("nonzero"));
        c.put(key("a"), later, vec![1]);
        c.put(key("b"), later, vec![2]);
        // "a" is used again, so "b" is the least recently used.
        assert_eq!(c.get(&key("a"), now), Some((later, vec![1])));
        c.put(key("c"), later, vec![3]);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&key("b"), now), None, "displaced");
        assert_eq!(c.get(&key("a"), now), Some((later, vec![1])));
        assert_eq!(c.get(&key("c"), now), Some((later, vec![3])));
    }

    #[test]
    fn an_expired_answer_is_dropped_and_clear_forgets_all() {
        let now = Instant::now();
        let mut c = HostAnswers::new(NonZeroUsize::new(8).expect("nonzero"));
        c.put(key("a"), now + Duration::from_secs(1), vec![1]);
        c.put(key("b"), now + Duration::from_secs(60), vec![2]);
        let then = now + Duration::from_secs(1);
        assert_eq!(c.get(&key("a"), then), None, "expiry is exclusive");
        assert_eq!(c.len(), 1);
        // Families are distinct answers.
        assert_eq!(c.get(&(b"b".to_vec(), 2), then), None);
        assert!(c.get(&key("b"), then).is_some());
        c.clear();
        assert_eq!(c.len(), 0);
    }
}
