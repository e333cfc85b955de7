//! The host table (`hosts.table` next to `lookup.sock`): `pnrpd` publishes
//! the verified host answers it already keeps for their TTL in a fixed-size,
//! world-readable file, and the module answers from it without waking the
//! daemon (the nscd "shared cache" idea: a reader only reads). Layout and
//! rules are in `docs/nss.md`; this file is the one definition of the
//! format, shared by the writer (`pnrpd`, `resolver/src/daemon/hosttable.rs`)
//! and the reader (the module).
//!
//! ```text
//! header (at 0, 64 bytes, little-endian; the rest of the first 4 KiB is zero)
//!   0 magic "PNRPHTAB" · 8 version u32 = 1 · 12 slot_size u32 = 512
//!   16 ways u32 = 4 · 20 buckets u32 = 256 · 24 buckets_at u64 = 4096
//!   32 zero [24] · 56 checksum u64 of bytes 0..56
//! bucket b (0..256) at 4096 + 2048·b: 4 slots
//! slot (512 bytes; all zero = empty)
//!   0 checksum u64 of bytes 8..used (seeded with the version)
//!   8 expires i64 (CLOCK_REALTIME, ns since 1970)
//!   16 family u8 (0 any, 4, 6) · 17 name_len u8 (1..=253) · 18 count u8 (1..=12)
//!   19 version u8 = 1 · 20 v6 mask u16 (bit i: address i is IPv6) · 22 zero [10]
//!   32 count × 16 address bytes (IPv4 in the first 4, the rest zero)
//!   32 + 16·count: the name (lowercase ASCII, no trailing dot)
//!   used = 32 + 16·count + name_len; the rest of the slot is ignored
//! ```
//!
//! The geometry is fixed by the version, so a reader needs no header: the
//! bucket of a name is `hash(name) mod 256`, all families of a name share
//! it, and one `pread` of that bucket answers any lookup (the header is for
//! tools and people). The writer replaces a slot with a single `pwrite` and
//! clears one by writing zeros over it. A reader never trusts a slot whose
//! version, shape, checksum or expiry is wrong: a torn copy (the writer was
//! mid-`pwrite`) fails its checksum, a cleared one is empty, and an expired
//! one (or one that claims to live longer than [`MAX_TTL_NS`], as after the
//! clock was set back) is stale. Every such case, and any I/O error, is "not
//! in the table": the module then asks the daemon over `lookup.sock`.
//!
//! Everything here that reads bytes is total: any file contents give an
//! answer or `None`, never a panic (fuzzed: `fuzz/fuzz_targets/host_table.rs`).

use core::ffi::CStr;

use crate::frame::{Addr, Family, MAX_NAME};

/// File name of the table, in the directory of `lookup.sock`.
pub const FILE_NAME: &str = "hosts.table";
/// The first eight bytes of the file.
pub const MAGIC: [u8; 8] = *b"PNRPHTAB";
/// Format version (header and every slot).
pub const VERSION: u8 = 1;
/// Bytes of the header.
pub const HEADER_LEN: usize = 64;
/// Bytes of one slot.
pub const SLOT_SIZE: usize = 512;
/// Slots per bucket.
pub const WAYS: usize = 4;
/// Buckets.
pub const BUCKETS: usize = 256;
/// Bytes of one bucket (one `pread`).
pub const BUCKET_LEN: usize = WAYS * SLOT_SIZE;
/// File offset of bucket 0 (page-aligned: no bucket spans two pages).
pub const BUCKETS_AT: u64 = 4096;
/// Length of the file.
pub const FILE_LEN: u64 = BUCKETS_AT + (BUCKETS * BUCKET_LEN) as u64;
/// Most addresses in one slot; longer answers are not published.
pub const MAX_SLOT_ADDRS: usize = 12;
/// A slot that claims to live longer than this from now is not trusted
/// (the daemon's TTL is 10 s; this bounds a clock set back).
pub const MAX_TTL_NS: i64 = 60_000_000_000;

const SLOT_HEAD: usize = 32;
const SEED_HEADER: u64 = 0x6865_6164_6572_7631;
const SEED_SLOT: u64 = 0x736c_6f74_5f76_3000 | VERSION as u64;
const SEED_BUCKET: u64 = 0x6275_636b_6574_7631;

/// 64-bit hash of `data`, eight bytes at a time. Every step is a bijection
/// of the state, so two inputs of equal length that differ in one word
/// always hash differently; a torn copy (several words from another slot)
/// matches with probability about 2⁻⁶⁴.
pub fn hash(seed: u64, data: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(K);
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        h = (h ^ u64::from_le_bytes(b)).wrapping_mul(K);
        h ^= h >> 32;
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut b = [0u8; 8];
        b[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(b)).wrapping_mul(K);
        h ^= h >> 32;
    }
    h ^= h >> 29;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^ (h >> 32)
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The table key of a host name: ASCII-lowercased, one trailing dot
/// dropped, written into `out`. `None` if empty or longer than
/// [`MAX_NAME`].
pub fn key<'a>(name: &[u8], out: &'a mut [u8; MAX_NAME]) -> Option<&'a [u8]> {
    let name = name.strip_suffix(b".").unwrap_or(name);
    if name.is_empty() || name.len() > MAX_NAME {
        return None;
    }
    let out = out.get_mut(..name.len())?;
    for (o, c) in out.iter_mut().zip(name) {
        *o = c.to_ascii_lowercase();
    }
    Some(out)
}

/// The header bytes (what [`FILE_LEN`] bytes of table start with).
pub fn header() -> [u8; HEADER_LEN] {
    let mut b = [0u8; HEADER_LEN];
    b[..8].copy_from_slice(&MAGIC);
    b[8..12].copy_from_slice(&u32::from(VERSION).to_le_bytes());
    b[12..16].copy_from_slice(&(SLOT_SIZE as u32).to_le_bytes());
    b[16..20].copy_from_slice(&(WAYS as u32).to_le_bytes());
    b[20..24].copy_from_slice(&(BUCKETS as u32).to_le_bytes());
    b[24..32].copy_from_slice(&BUCKETS_AT.to_le_bytes());
    let sum = hash(SEED_HEADER, &b[..56]);
    b[56..].copy_from_slice(&sum.to_le_bytes());
    b
}

/// Whether `b` starts with this version's header (for tools; the reader
/// does not need it).
pub fn is_header(b: &[u8]) -> bool {
    b.get(..HEADER_LEN) == Some(&header()[..])
}

/// The bucket that holds every slot of `key`.
pub fn bucket_of(key: &[u8]) -> usize {
    // BUCKETS is a power of two.
    (hash(SEED_BUCKET, key) as usize) & (BUCKETS - 1)
}

/// File offset of bucket `b`.
pub fn bucket_offset(b: usize) -> u64 {
    BUCKETS_AT + (b * BUCKET_LEN) as u64
}

fn family_to_u8(f: Family) -> u8 {
    match f {
        Family::Any => 0,
        Family::V4 => 4,
        Family::V6 => 6,
    }
}

fn family_from_u8(v: u8) -> Option<Family> {
    Some(match v {
        0 => Family::Any,
        4 => Family::V4,
        6 => Family::V6,
        _ => return None,
    })
}

/// One published answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot<'a> {
    /// Expiry, CLOCK_REALTIME nanoseconds.
    pub expires_ns: i64,
    /// The family asked.
    pub family: Family,
    /// The key ([`key`]).
    pub name: &'a [u8],
    /// The answer (1..=[`MAX_SLOT_ADDRS`]).
    pub addrs: Vec<Addr>,
}

impl Slot<'_> {
    /// The slot bytes; `None` (nothing to publish) for an invalid key or
    /// an answer with no address or more than [`MAX_SLOT_ADDRS`].
    pub fn encode(&self) -> Option<[u8; SLOT_SIZE]> {
        let count = self.addrs.len();
        if !(1..=MAX_SLOT_ADDRS).contains(&count)
            || self.name.is_empty()
            || self.name.len() > MAX_NAME
        {
            return None;
        }
        let mut b = [0u8; SLOT_SIZE];
        b[8..16].copy_from_slice(&self.expires_ns.to_le_bytes());
        b[16] = family_to_u8(self.family);
        b[17] = self.name.len() as u8;
        b[18] = count as u8;
        b[19] = VERSION;
        let mut mask = 0u16;
        for (i, a) in self.addrs.iter().enumerate() {
            let at = SLOT_HEAD + 16 * i;
            match a {
                Addr::V4(v4) => b[at..at + 4].copy_from_slice(v4),
                Addr::V6(v6) => {
                    b[at..at + 16].copy_from_slice(v6);
                    mask |= 1 << i;
                }
            }
        }
        b[20..22].copy_from_slice(&mask.to_le_bytes());
        let name_at = SLOT_HEAD + 16 * count;
        let used = name_at + self.name.len();
        b[name_at..used].copy_from_slice(self.name);
        let sum = hash(SEED_SLOT, &b[8..used]);
        b[..8].copy_from_slice(&sum.to_le_bytes());
        Some(b)
    }

    /// Decodes and checks one slot (version, shape and checksum; not
    /// expiry). Total: `None` for an empty, torn or malformed slot.
    pub fn decode(b: &[u8]) -> Option<Slot<'_>> {
        let b = b.get(..SLOT_SIZE)?;
        let name_len = usize::from(b[17]);
        let count = usize::from(b[18]);
        let mask = u16_at(b, 20)?;
        if b[19] != VERSION
            || !(1..=MAX_SLOT_ADDRS).contains(&count)
            || !(1..=MAX_NAME).contains(&name_len)
            || b[22..SLOT_HEAD].iter().any(|&z| z != 0)
            || mask >> count != 0
        {
            return None;
        }
        let name_at = SLOT_HEAD + 16 * count;
        let used = name_at + name_len;
        if u64_at(b, 0)? != hash(SEED_SLOT, b.get(8..used)?) {
            return None;
        }
        let family = family_from_u8(b[16])?;
        let mut addrs = Vec::with_capacity(count);
        for i in 0..count {
            let raw = b.get(SLOT_HEAD + 16 * i..SLOT_HEAD + 16 * (i + 1))?;
            if mask & (1 << i) != 0 {
                let mut v6 = [0u8; 16];
                v6.copy_from_slice(raw);
                addrs.push(Addr::V6(v6));
            } else {
                if raw[4..].iter().any(|&z| z != 0) {
                    return None;
                }
                addrs.push(Addr::V4([raw[0], raw[1], raw[2], raw[3]]));
            }
        }
        let wanted = match family {
            Family::Any => true,
            Family::V4 => addrs.iter().all(|a| matches!(a, Addr::V4(_))),
            Family::V6 => addrs.iter().all(|a| matches!(a, Addr::V6(_))),
        };
        if !wanted {
            return None;
        }
        Some(Slot {
            expires_ns: i64::from_le_bytes(b.get(8..16)?.try_into().ok()?),
            family,
            name: b.get(name_at..used)?,
            addrs,
        })
    }

    /// Whether this slot may answer at `now_ns`.
    pub fn is_live(&self, now_ns: i64) -> bool {
        self.expires_ns > now_ns && self.expires_ns.saturating_sub(now_ns) <= MAX_TTL_NS
    }
}

/// The answer for `key` and `family` in one bucket's bytes: the live slot
/// of exactly that family, else (for IPv4 or IPv6) the live "any" slot with
/// the other family's addresses left out, if some remain. Total.
pub fn find_in_bucket(bucket: &[u8], key: &[u8], family: Family, now_ns: i64) -> Option<Vec<Addr>> {
    let mut any = None;
    for raw in bucket.chunks_exact(SLOT_SIZE).take(WAYS) {
        // Other names (and empty slots) are skipped before any checksum.
        let name_at = SLOT_HEAD + 16 * usize::from(raw[18]);
        if usize::from(raw[17]) != key.len() || raw.get(name_at..name_at + key.len()) != Some(key) {
            continue;
        }
        let Some(slot) = Slot::decode(raw) else {
            continue;
        };
        if slot.name != key || !slot.is_live(now_ns) {
            continue;
        }
        if slot.family == family {
            return Some(slot.addrs);
        }
        if slot.family == Family::Any {
            any = Some(slot.addrs);
        }
    }
    let mut addrs = any?;
    addrs.retain(|a| match family {
        Family::Any => true,
        Family::V4 => matches!(a, Addr::V4(_)),
        Family::V6 => matches!(a, Addr::V6(_)),
    });
    (!addrs.is_empty()).then_some(addrs)
}

/// Looks `name` up through `read_at(offset, buf)` (which returns the bytes
/// read, or `None`): one read, of the name's bucket. Total.
pub fn lookup_with(
    read_at: impl FnOnce(u64, &mut [u8]) -> Option<usize>,
    name: &[u8],
    family: Family,
    now_ns: i64,
) -> Option<Vec<Addr>> {
    let mut key_buf = [0u8; MAX_NAME];
    let key = key(name, &mut key_buf)?;
    let mut bucket = [0u8; BUCKET_LEN];
    if read_at(bucket_offset(bucket_of(key)), &mut bucket)? != BUCKET_LEN {
        return None;
    }
    find_in_bucket(&bucket, key, family, now_ns)
}

/// [`lookup_with`] over a file image in memory.
pub fn lookup_in(image: &[u8], name: &[u8], family: Family, now_ns: i64) -> Option<Vec<Addr>> {
    lookup_with(
        |at, buf| {
            let at = usize::try_from(at).ok()?;
            let src = image.get(at..)?;
            let n = src.len().min(buf.len());
            buf.get_mut(..n)?.copy_from_slice(src.get(..n)?);
            Some(n)
        },
        name,
        family,
        now_ns,
    )
}

/// CLOCK_REALTIME in nanoseconds since 1970 (a vDSO call, no system call).
#[allow(
    clippy::useless_conversion,
    reason = "time_t and c_long are narrower than i64 on some targets"
)]
pub fn now_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-parameter.
    if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) } != 0 {
        return i64::MAX;
    }
    i64::from(ts.tv_sec)
        .saturating_mul(1_000_000_000)
        .saturating_add(i64::from(ts.tv_nsec))
}

/// Looks `name` up in the table file at `path`: open read-only, one
/// `pread`, close. Any error is `None`.
pub fn lookup_file(path: &CStr, name: &[u8], family: Family) -> Option<Vec<Addr>> {
    // O_NONBLOCK: a FIFO planted at the path must not block the caller.
    // SAFETY: `path` is NUL-terminated; open has no other preconditions.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY,
        )
    };
    if fd < 0 {
        return None;
    }
    let found = lookup_with(
        |at, buf| {
            let at = libc::off_t::try_from(at).ok()?;
            // SAFETY: `buf` is valid for `buf.len()` bytes; `fd` is open.
            let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), at) };
            usize::try_from(n).ok()
        },
        name,
        family,
        now_ns(),
    );
    // SAFETY: `fd` is ours and closed once.
    unsafe { libc::close(fd) };
    found
}

/// Longest table path, NUL included. The socket's own path fits a
/// `sockaddr_un` (108 bytes), so its directory is shorter still.
pub const MAX_PATH: usize = 256;

/// The table path for a lookup socket path, written into `buf`: the same
/// directory, file [`FILE_NAME`]. `None` if the path holds a NUL or is too
/// long. No allocation.
pub fn path_for_socket<'a>(socket: &str, buf: &'a mut [u8; MAX_PATH]) -> Option<&'a CStr> {
    let dir = socket
        .rfind('/')
        .map_or(&b""[..], |i| &socket.as_bytes()[..=i]);
    let len = dir.len() + FILE_NAME.len();
    buf.get_mut(..dir.len())?.copy_from_slice(dir);
    buf.get_mut(dir.len()..len)?
        .copy_from_slice(FILE_NAME.as_bytes());
    *buf.get_mut(len)? = 0;
    CStr::from_bytes_with_nul(buf.get(..=len)?).ok()
}

/// The fuzz oracle (`fuzz/fuzz_targets/host_table.rs`): `data` is taken
/// both as one bucket and as a whole file. Decoding must not panic, what
/// decodes re-encodes to the same bytes, and every answer is well formed.
pub fn fuzz_oracle(data: &[u8]) {
    fn check(found: Option<Vec<Addr>>, family: Family) {
        if let Some(addrs) = found {
            assert!(!addrs.is_empty() && addrs.len() <= MAX_SLOT_ADDRS);
            assert!(addrs.iter().all(|a| match family {
                Family::Any => true,
                Family::V4 => matches!(a, Addr::V4(_)),
                Family::V6 => matches!(a, Addr::V6(_)),
            }));
        }
    }
    let mut names: Vec<&[u8]> = vec![b"a.pnrp.net", b"MyHost.pnrp.net.", b"x"];
    for chunk in data.chunks(SLOT_SIZE) {
        if let Some(s) = Slot::decode(chunk) {
            let again = s.encode().expect("a decoded slot encodes");
            let used = SLOT_HEAD + 16 * s.addrs.len() + s.name.len();
            assert_eq!(again.get(..used), chunk.get(..used));
            names.push(s.name);
        }
    }
    for name in names {
        for family in [Family::Any, Family::V4, Family::V6] {
            for now in [0, 1, i64::MAX, i64::MIN] {
                let mut buf = [0u8; MAX_NAME];
                if let Some(k) = key(name, &mut buf) {
                    check(find_in_bucket(data, k, family, now), family);
                }
                check(lookup_in(data, name, family, now), family);
            }
        }
    }
    let _ = is_header(data);
}

#[cfg(test)]
mod tests;
