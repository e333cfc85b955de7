//! The answer cache: one compact record per host name, kept for its TTL.
//!
//! A record holds the lowercase host name (the key), the expiry and the
//! answer data the stub needs to write A, AAAA, SRV and TXT records. Records
//! are packed into 64 KiB arena blocks and the table (a
//! `hashbrown::HashTable` with a per-process random hasher) holds 4-byte
//! handles into them: with a typical name (`peer12345`, one address) a name
//! costs about 35 bytes in all (the budget is 96), against several
//! hundred for a `HashMap<String, LookupAnswer>`.
//!
//! Layout of a record (all integers big-endian):
//!
//! | bytes | field |
//! | --- | --- |
//! | 1 + n | key length, key (lowercase dotted host name without the
//! `.pnrp.net` every key shares, no trailing dot) |
//! | 4 | expiry, seconds on the stub's clock |
//! | 1 | 0 = found, 1 = not found |
//! | 1 + 4·k | IPv4 addresses |
//! | 1 + 16·k | IPv6 addresses |
//! | 1 + 3·k | service ports: port, protocol (6 or 17) |
//! | 1 + Σ(2 + len) | texts (comments and text payloads) |

use core::hash::BuildHasher as _;
use std::collections::hash_map::RandomState;
use std::net::IpAddr;

use crate::LookupAnswer;

/// A read-only view of one record.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    bytes: &'a [u8],
    body: usize,
}

impl<'a> Record<'a> {
    /// Views an encoded record (see [`encode`]).
    pub fn view(bytes: &'a [u8]) -> Self {
        let body = 1 + usize::from(bytes.first().copied().unwrap_or(0));
        Self { bytes, body }
    }

    /// The host name this record answers, without `.pnrp.net`.
    pub fn key(&self) -> &'a [u8] {
        self.bytes.get(1..self.body).unwrap_or_default()
    }

    /// Expiry on the stub's clock.
    pub fn expires(&self) -> u32 {
        self.bytes
            .get(self.body..self.body + 4)
            .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Whether the name was found.
    pub fn found(&self) -> bool {
        self.bytes.get(self.body + 4) == Some(&0)
    }

    fn section(&self, index: usize) -> (usize, &'a [u8]) {
        // Walks the count-prefixed sections up to `index`.
        let mut at = self.body + 5;
        for i in 0..=index {
            let n = usize::from(self.bytes.get(at).copied().unwrap_or(0));
            let len = match i {
                0 => 4 * n,
                1 => 16 * n,
                2 => 3 * n,
                _ => {
                    let mut end = at + 1;
                    for _ in 0..n {
                        let l = self
                            .bytes
                            .get(end..end + 2)
                            .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
                        end += 2 + l;
                    }
                    end - at - 1
                }
            };
            if i == index {
                let data = self.bytes.get(at + 1..at + 1 + len).unwrap_or_default();
                return (n, data);
            }
            at += 1 + len;
        }
        (0, &[])
    }

    /// IPv4 addresses.
    pub fn v4(&self) -> impl Iterator<Item = &'a [u8]> {
        self.section(0).1.chunks_exact(4)
    }

    /// IPv6 addresses.
    pub fn v6(&self) -> impl Iterator<Item = &'a [u8]> {
        self.section(1).1.chunks_exact(16)
    }

    /// Registered (port, protocol) pairs.
    pub fn services(&self) -> impl Iterator<Item = (u16, u8)> + 'a {
        self.section(2)
            .1
            .chunks_exact(3)
            .map(|c| (u16::from_be_bytes([c[0], c[1]]), c[2]))
    }

    /// Texts for TXT records.
    pub fn texts(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let (n, mut rest) = self.section(3);
        (0..n).map_while(move |_| {
            let len = usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
            let text = rest.get(2..2 + len)?;
            rest = &rest[2 + len..];
            Some(text)
        })
    }
}

/// The stored key of a host name: the zone suffix every name shares is
/// left out (a typical record then fits the allocator's smallest block).
fn stored_key(host: &str) -> &[u8] {
    let k = host.strip_suffix(".pnrp.net").unwrap_or(host).as_bytes();
    &k[..k.len().min(255)]
}

/// Encodes a record for `host` (lowercase host name).
pub fn encode(host: &str, expires: u32, answer: Option<&LookupAnswer>) -> Box<[u8]> {
    let key = stored_key(host);
    let mut b = Vec::with_capacity(key.len() + 12);
    b.push(key.len() as u8);
    b.extend_from_slice(key);
    b.extend_from_slice(&expires.to_be_bytes());
    b.push(u8::from(answer.is_none()));
    let empty = LookupAnswer::default();
    let a = answer.unwrap_or(&empty);
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    let mut services: Vec<(u16, u8)> = Vec::new();
    for e in &a.endpoints {
        match e.addr {
            IpAddr::V4(x) if !v4.contains(&x) => v4.push(x),
            IpAddr::V6(x) if !v6.contains(&x) => v6.push(x),
            _ => {}
        }
        let proto = u8::try_from(e.protocol).unwrap_or(0);
        if e.port != 0 && matches!(proto, 6 | 17) && !services.contains(&(e.port, proto)) {
            services.push((e.port, proto));
        }
    }
    v4.truncate(255);
    v6.truncate(255);
    services.truncate(255);
    b.push(v4.len() as u8);
    v4.iter().for_each(|x| b.extend_from_slice(&x.octets()));
    b.push(v6.len() as u8);
    v6.iter().for_each(|x| b.extend_from_slice(&x.octets()));
    b.push(services.len() as u8);
    for (port, proto) in services {
        b.extend_from_slice(&port.to_be_bytes());
        b.push(proto);
    }
    let texts: Vec<&[u8]> = a
        .comments
        .iter()
        .chain(&a.texts)
        .map(|t| &t.as_bytes()[..t.len().min(usize::from(u16::MAX))])
        .filter(|t| !t.is_empty())
        .take(255)
        .collect();
    b.push(texts.len() as u8);
    for t in texts {
        b.extend_from_slice(&(t.len() as u16).to_be_bytes());
        b.extend_from_slice(t);
    }
    b.into_boxed_slice()
}

/// Bytes per arena block. Records are packed back to back in blocks of
/// this size instead of one heap allocation each: a 23-byte record costs
/// 25 bytes here (with its length), where a `Box<[u8]>` took a 32-byte
/// allocator chunk plus a 16-byte fat pointer in the table, and long-lived
/// small chunks scattered among the lookups' short-lived allocations kept
/// the heap from ever giving pages back (measured: ~150 B per name of
/// resident memory at 10^5 names, against ~35 B now).
const BLOCK: usize = 64 * 1024;
/// The longest record kept (with its 2-byte length it fits a block).
const MAX_RECORD: usize = BLOCK - 2;

/// Bounded map from host name to [`Record`], the records packed in an
/// arena of 64 KiB blocks and the table holding 4-byte handles
/// (block index × block size + offset). A replaced or expired record leaves
/// a hole that is reclaimed by compaction when the holes outgrow the live
/// records.
#[derive(Debug)]
pub struct AnswerCache {
    table: hashbrown::HashTable<u32>,
    blocks: Vec<Vec<u8>>,
    hasher: RandomState,
    capacity: usize,
    /// Bytes of the blocks taken by live records (lengths included).
    live: usize,
    /// Bytes of the blocks taken by records no longer in the table.
    holes: usize,
}

/// The record stored at `handle`.
fn at(blocks: &[Vec<u8>], handle: u32) -> &[u8] {
    let h = handle as usize;
    let (b, off) = (h / BLOCK, h % BLOCK);
    let Some(block) = blocks.get(b) else {
        return &[];
    };
    let len = block
        .get(off..off + 2)
        .map_or(0, |l| usize::from(u16::from_be_bytes([l[0], l[1]])));
    block.get(off + 2..off + 2 + len).unwrap_or_default()
}

/// Appends `record` (at most [`MAX_RECORD`] bytes) to the arena and
/// returns its handle, or `None` when the arena is at its 4 GiB limit.
fn push(blocks: &mut Vec<Vec<u8>>, record: &[u8]) -> Option<u32> {
    let need = 2 + record.len();
    if blocks.last().is_none_or(|b| b.len() + need > BLOCK) {
        blocks.push(Vec::with_capacity(BLOCK));
    }
    let index = blocks.len() - 1;
    let block = blocks.last_mut()?;
    let handle = u32::try_from(index * BLOCK + block.len()).ok()?;
    block.extend_from_slice(&u16::try_from(record.len()).ok()?.to_be_bytes());
    block.extend_from_slice(record);
    Some(handle)
}

impl AnswerCache {
    /// An empty cache that holds at most `capacity` names.
    pub fn new(capacity: usize) -> Self {
        Self {
            table: hashbrown::HashTable::new(),
            blocks: Vec::new(),
            hasher: RandomState::new(),
            capacity,
            live: 0,
            holes: 0,
        }
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The live record for `key` at time `now`.
    pub fn get(&self, host: &str, now: u32) -> Option<Record<'_>> {
        let key = stored_key(host);
        let blocks = &self.blocks;
        self.table
            .find(self.hash(key), |&h| {
                Record::view(at(blocks, h)).key() == key
            })
            .map(|&h| Record::view(at(blocks, h)))
            .filter(|r| r.expires() > now)
    }

    /// Stores `record`, replacing the one for the same name. When the
    /// cache is full, expired records are dropped first; if it is still
    /// full the record is not kept (the answer is still sent). Records
    /// longer than 64 KiB are not kept either.
    pub fn insert(&mut self, record: Box<[u8]>, now: u32) -> bool {
        if record.len() > MAX_RECORD {
            return false;
        }
        let key = Record::view(&record).key();
        let hash = self.hash(key);
        let blocks = &self.blocks;
        let old = self
            .table
            .find(hash, |&h| Record::view(at(blocks, h)).key() == key)
            .copied();
        if old.is_none() && self.table.len() >= self.capacity {
            self.compact(now);
            if self.table.len() >= self.capacity {
                return false;
            }
        }
        let Some(handle) = push(&mut self.blocks, &record) else {
            return false;
        };
        self.live += 2 + record.len();
        let blocks = &self.blocks;
        if let Some(old) = old
            && let Some(slot) = self.table.find_mut(hash, |&h| h == old)
        {
            *slot = handle;
            let freed = 2 + at(blocks, old).len();
            self.live -= freed;
            self.holes += freed;
        } else {
            let hasher = &self.hasher;
            self.table.insert_unique(hash, handle, |&h| {
                hasher.hash_one(Record::view(at(blocks, h)).key())
            });
        }
        if self.holes > BLOCK && self.holes > self.live {
            self.compact(now);
        }
        true
    }

    /// Drops the records expired at `now` and copies the others into fresh
    /// blocks, leaving no holes.
    fn compact(&mut self, now: u32) {
        let old = core::mem::take(&mut self.blocks);
        let mut fresh: Vec<Vec<u8>> = Vec::new();
        let mut live = 0;
        self.table.retain(|h| {
            let r = at(&old, *h);
            if Record::view(r).expires() <= now {
                return false;
            }
            match push(&mut fresh, r) {
                Some(n) => {
                    *h = n;
                    live += 2 + r.len();
                    true
                }
                None => false,
            }
        });
        self.blocks = fresh;
        self.live = live;
        self.holes = 0;
        let (hasher, blocks) = (&self.hasher, &self.blocks);
        self.table
            .shrink_to_fit(|&h| hasher.hash_one(Record::view(at(blocks, h)).key()));
    }

    /// Forgets every record (a registration changed).
    pub fn clear(&mut self) {
        self.table = hashbrown::HashTable::new();
        self.blocks = Vec::new();
        self.live = 0;
        self.holes = 0;
    }

    /// Names held (live or expired).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether no name is held.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Bytes allocated: the table and the arena's blocks.
    pub fn memory_bytes(&self) -> usize {
        self.table.allocation_size() + self.blocks.iter().map(Vec::capacity).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LookupEndpoint;
    use core::time::Duration;

    fn answer() -> LookupAnswer {
        LookupAnswer {
            endpoints: vec![
                LookupEndpoint {
                    addr: "192.0.2.1".parse().unwrap(),
                    port: 80,
                    protocol: 6,
                },
                LookupEndpoint {
                    addr: "2001:db8::1".parse().unwrap(),
                    port: 53,
                    protocol: 17,
                },
                LookupEndpoint {
                    addr: "192.0.2.1".parse().unwrap(),
                    port: 80,
                    protocol: 6,
                },
            ],
            comments: vec!["hello".into()],
            texts: vec![String::new(), "payload".into()],
            ttl: Duration::from_secs(10),
        }
    }

    #[test]
    fn record_round_trips() {
        let b = encode("host.pnrp.net", 42, Some(&answer()));
        let r = Record::view(&b);
        assert_eq!(r.key(), b"host");
        assert_eq!(b.len(), 1 + 4 + 4 + 1 + 5 + 17 + 7 + 1 + 2 * 2 + 5 + 7);
        let small = encode(
            "peer12345.pnrp.net",
            1,
            Some(&LookupAnswer {
                endpoints: answer().endpoints[..1].to_vec(),
                ..Default::default()
            }),
        );
        assert_eq!(small.len(), 23 + 3, "one address, one service port");
        assert_eq!(r.expires(), 42);
        assert!(r.found());
        assert_eq!(r.v4().collect::<Vec<_>>(), vec![&[192, 0, 2, 1][..]]);
        assert_eq!(r.v6().count(), 1);
        assert_eq!(r.services().collect::<Vec<_>>(), vec![(80, 6), (53, 17)]);
        assert_eq!(
            r.texts().collect::<Vec<_>>(),
            vec![&b"hello"[..], &b"payload"[..]]
        );
        let b = encode("gone.pnrp.net", 7, None);
        let r = Record::view(&b);
        assert!(!r.found());
        assert_eq!(r.v4().count() + r.texts().count(), 0);
    }

    fn one_address(i: usize) -> LookupAnswer {
        LookupAnswer {
            endpoints: vec![LookupEndpoint {
                addr: IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]),
                port: 0,
                protocol: 0,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_hundred_thousand_names_fit_the_budget() {
        let n = 100_000;
        let mut c = AnswerCache::new(n);
        for i in 0..n {
            let host = format!("peer{i}.pnrp.net");
            assert!(c.insert(encode(&host, 100, Some(&one_address(i))), 0));
        }
        assert_eq!(c.len(), n);
        for i in (0..n).step_by(997) {
            let r = c.get(&format!("peer{i}.pnrp.net"), 50).expect("cached");
            assert_eq!(r.key(), format!("peer{i}").as_bytes());
            assert_eq!(
                r.v4().next(),
                Some(&[10, (i >> 16) as u8, (i >> 8) as u8, i as u8][..])
            );
        }
        let per_name = c.memory_bytes() / n;
        assert!(per_name <= 40, "{per_name} bytes per name");
    }

    #[test]
    fn replacing_records_reuses_the_arena() {
        let mut c = AnswerCache::new(1000);
        for round in 0..200u32 {
            for i in 0..1000 {
                let host = format!("peer{i}.pnrp.net");
                assert!(c.insert(encode(&host, 1000 + round, Some(&one_address(i))), 0));
            }
        }
        assert_eq!(c.len(), 1000);
        for i in 0..1000 {
            let r = c.get(&format!("peer{i}.pnrp.net"), 0).expect("cached");
            assert_eq!(r.expires(), 1199, "the last record stored wins");
        }
        // Holes are compacted away: live data is ~25 kB, never 200 rounds'.
        assert!(c.memory_bytes() < 4 * BLOCK, "{}", c.memory_bytes());
    }

    #[test]
    fn a_full_cache_compacts_out_expired_records() {
        let mut c = AnswerCache::new(100);
        for i in 0..100 {
            let expires = if i % 2 == 0 { 10 } else { 1000 };
            assert!(c.insert(encode(&format!("h{i}.pnrp.net"), expires, None), 0));
        }
        assert!(!c.insert(encode("new.pnrp.net", 1000, None), 5), "full");
        assert!(c.insert(encode("new.pnrp.net", 1000, None), 10));
        assert_eq!(c.len(), 51);
        assert!(c.get("h1.pnrp.net", 10).is_some());
        assert!(c.get("h2.pnrp.net", 10).is_none());
        assert!(c.get("new.pnrp.net", 10).is_some());
        assert!(!c.insert(vec![0u8; MAX_RECORD + 1].into_boxed_slice(), 0));
    }

    #[test]
    fn cache_expires_replaces_and_bounds() {
        let mut c = AnswerCache::new(2);
        assert!(c.insert(encode("a.pnrp.net", 10, None), 0));
        assert!(c.get("a.pnrp.net", 9).is_some());
        assert!(c.get("a.pnrp.net", 10).is_none());
        assert!(c.insert(encode("a.pnrp.net", 20, Some(&answer())), 0));
        assert!(c.get("a.pnrp.net", 15).unwrap().found());
        assert!(c.insert(encode("b.pnrp.net", 30, None), 0));
        assert!(!c.insert(encode("c.pnrp.net", 30, None), 5), "full");
        assert!(c.insert(encode("c.pnrp.net", 30, None), 25), "a expired");
        assert_eq!(c.len(), 2);
        c.clear();
        assert!(c.is_empty());
    }
}
