//! The multi-level route-entry cache: PNRP's routing table (MS-PNRP §3.2.1.1
//! and its notes 4–6; digest §3.7, §3.8, §3.11 and §4.4).
//!
//! # Shape
//!
//! A [`RouteCache`] holds [`CacheEntry`]s — a route entry, optionally the
//! [`VerifiedCpa`] that admitted it, and when it was last validated — for
//! one node in one cloud. It is organised around a *centre* `C`: the
//! node's first registered PNRP ID, or a random ID drawn at cloud open for a
//! resolve-only node (the caller chooses; [`RouteCache::set_centre`] moves
//! it when the primary local ID changes).
//!
//! * **Levels** (digest §3.7, "proposed concrete design"). Level `k ≥ 1`
//!   covers the ring interval of width `2^256 / 10^(k−1)` centred on `C` —
//!   every ID whose ring distance to `C` is at most `⌊2^255 / 10^(k−1)⌋` —
//!   minus the interval of level `k + 1`. The deepest configured level keeps
//!   its whole interval. An entry belongs to the deepest level whose interval
//!   contains it ([`RouteCache::placement`]), so level 1 spans nine tenths of
//!   the ring and each deeper level a tenth of the one above: a node's view is
//!   dense near `C` and sparse far away, which gives the O(log₁₀ n) lookups
//!   MS-PNRP §3.2.1.1 requires.
//! * **Sub-buckets.** A level's own region (its interval minus the deeper
//!   one: an arc on each side of `C`) is cut into ten arcs of equal width,
//!   five per side, numbered 0–9 in ring order (0 = farthest below `C`,
//!   9 = farthest above). The deeper level's hole is left out on purpose:
//!   slicing the whole interval would leave the two middle slices half
//!   empty by construction.
//! * **Leaf sets** (level 0; MS-PNRP §1.1, digest §3.8). For every locally
//!   registered ID the cache keeps its leaf set: the `leaf_set_side` (5)
//!   nearest cached entries below it and the 5 nearest above on the ring.
//!   Leaf sets are not stored separately; they are read off the ordered
//!   index, so they are always exactly the nearest entries. Only each
//!   entry's membership is kept, as a flag updated incrementally: an
//!   insertion, a removal or a change of the local IDs moves at most the
//!   `leaf_set_side` entries on each side of it in or out of leaf sets, so
//!   a node with thousands of local IDs never recomputes them all, and
//!   "is X in a leaf set" is two binary searches over the local IDs (the
//!   nearest below and above X) rather than one per local ID.
//!
//! # Invariants
//!
//! 1. Entries are kept in one `Vec`, sorted strictly ascending by PNRP ID:
//!    ring order is this order rotated. Every ring query (closest,
//!    neighbours, leaf sets, a level's arcs) is a binary search plus a walk.
//! 2. No entry carries a locally registered ID; [`RouteCache::add_local`]
//!    drops a cached entry for an ID that becomes local.
//! 3. Per level, the entries that are in no leaf set number at most
//!    `per_level` (20). Leaf-set members are never evicted by level
//!    pressure while they are in a leaf set, so
//!    `len() ≤ max_levels · per_level + 2 · leaf_set_side · locals`.
//! 4. Every entry has at least one address and a port ≥ [`MIN_PORT`]
//!    (digest §3.6 step 1); its [`CpaRecord`], if any, comes from a CPA that
//!    was verified (the type says so), is not a revocation and describes the
//!    entry's ID ([`RouteCache::insert`] refuses any other).
//! 5. Each entry's bookkeeping (3 bytes, in a vector beside the entries) is
//!    current: whether it is in a leaf set, and how many neighbours on each
//!    side share its endpoints (up to 255), which lets a query that
//!    excludes an endpoint (a LOOKUP's flagged path) skip a run of one
//!    node's IDs at once instead of walking it.
//!
//! [`RouteCache::check_invariants`] checks all five (the CPA part of 4 at
//! insertion, since only its record is kept), for tests and the
//! simulator's per-step invariant checks (house style §3.10).
//!
//! # Admission and eviction
//!
//! [`RouteCache::insert`] assumes the caller already proved the entry
//! (INQUIRE, digest §3.6); the cache only decides whether it has room. An
//! entry that falls inside a leaf set is always taken; this can push the
//! farthest member of that side out of the leaf set, which then competes in
//! its level like any other entry. Otherwise, when the entry's level is
//! full, the victim is chosen among the level's unprotected entries plus the
//! newcomer: first the most crowded sub-bucket (counting the newcomer), then
//! inside it the least recently validated entry (at equal times incumbents
//! go before the newcomer, then the smaller ID). If the victim would be the
//! newcomer itself, the insertion is refused and nothing changes. While time
//! only moves forward a newcomer is never the oldest, so a proven entry
//! always gets in and the level sheds its stalest member in the crowded
//! bucket; refusals come from entries validated earlier than everything in
//! their bucket (a restored snapshot) or from `per_level` below ten.
//! Immediate removals (N flag, retries exhausted, revoke, expired CPA;
//! digest §3.7) are the engine's calls to [`RouteCache::remove`] and
//! [`RouteCache::evict_expired`].
//!
//! Recency is the entry's own `validated` instant rather than a separate LRU
//! list: eviction must filter by sub-bucket and leaf membership anyway (a
//! scan of one level, ≤ `per_level` + leaf entries), `validated` already
//! exists, and an `lru::LruCache` would add a heap node and a hash-table
//! slot per entry (≈ 90 bytes, measured), nearly doubling the per-entry
//! cost against the 20 KiB per-node budget (house style §3.10). Reads
//! ([`RouteCache::get`], queries) never change recency; only
//! [`RouteCache::insert`] and [`RouteCache::touch`] do.
//!
//! # Determinism and time
//!
//! No clock, no randomness, no hashing: time arrives as [`Instant`]
//! arguments, every container is ordered, and every tie is broken by ID.
//! The same calls in the same order give the same cache, byte for byte.
//!
//! # Memory
//!
//! One entry costs `size_of::<CacheEntry>()` (80 bytes on 64-bit targets)
//! in the sorted vector and 3 bytes of bookkeeping beside it, plus its
//! address list on the heap (16 bytes per
//! address and the allocator's overhead), plus a boxed [`CpaRecord`] (48
//! bytes and the allocator's overhead) if a CPA admitted it — the CPA
//! itself is not kept. The vector grows in steps of an eighth, so
//! slack stays small. After 10^5 uniformly random IDs were offered to a
//! default cache with one local ID, it held 92 entries in 11,299 bytes
//! (≈ 122 bytes per entry; see the `memory_stays_within_budget…` test).
//! [`RouteCache::memory_bytes`] gives the estimate.

use core::cmp::Ordering;
use core::iter::FusedIterator;
use core::ops::Range;
use std::net::Ipv6Addr;

use crate::cpa::VerifiedCpa;
use crate::crypto::PublicKey;
use crate::id::{Distance, PnrpId};
use crate::time::{Instant, UnixTime};
use crate::wire::{Endpoint, RouteEntry};

/// Lowest port a cached route entry may carry (digest §3.6 step 1: entries
/// with a port below 1024 are ignored).
pub const MIN_PORT: u16 = 1024;

/// The most levels a [`CacheConfig`] may ask for. Level 64 is an interval of
/// about 10^-63 of the ring — far below any cloud that can exist.
pub const MAX_LEVELS: usize = 64;

/// Sub-buckets per level.
pub const BUCKETS: usize = 10;

/// Allocator bookkeeping assumed per heap block in [`RouteCache::memory_bytes`].
const ALLOC_OVERHEAD: usize = 16;

/// Sizes of a [`RouteCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// Most entries a level keeps outside leaf sets, in entries. Default 20
    /// (NET-DOCS "PNRP Caches"; digest §3.2).
    pub per_level: usize,
    /// Leaf-set members per side of each local ID, in entries. Default 5
    /// (MS-PNRP §1.1).
    pub leaf_set_side: usize,
    /// Number of levels, 1 to [`MAX_LEVELS`] (larger values are clamped,
    /// 0 counts as 1). Default 32: level 32 is a 10^-31 slice of the ring,
    /// deeper than any real cloud fills.
    pub max_levels: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            per_level: 20,
            leaf_set_side: 5,
            max_levels: 32,
        }
    }
}

/// What the cache keeps of the [`VerifiedCpa`] that admitted an entry
/// (digest §3.6 step 4): the key that signed it — a revocation must come
/// from the same key — and its Not After, when the entry expires unless it
/// is validated again. The CPA itself (its encoding, endpoints and comment,
/// several hundred bytes) is not kept: nothing reads it again, and the
/// entry's addresses were checked against it at admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpaRecord {
    public_key: PublicKey,
    not_after: UnixTime,
}

impl CpaRecord {
    /// The record of a verified CPA.
    pub fn of(cpa: &VerifiedCpa) -> Self {
        Self {
            public_key: *cpa.public_key(),
            not_after: cpa.content().not_after.to_unix(),
        }
    }

    /// The key that signed the CPA.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The CPA's Not After.
    pub fn not_after(&self) -> UnixTime {
        self.not_after
    }
}

/// One cached route entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    /// Where the holder of the ID listens.
    pub route: RouteEntry,
    /// What is kept of the CPA that admitted the entry, when admission
    /// required one (leaf-set entries of a publisher, digest §3.6 step 4)
    /// or the entry is a resolution's verified result.
    pub cpa: Option<Box<CpaRecord>>,
    /// When the entry last proved alive (admission, an answer without the
    /// N flag, [`RouteCache::touch`]). Eviction removes the least recently
    /// validated first.
    pub validated: Instant,
}

impl CacheEntry {
    /// The entry's PNRP ID.
    pub fn id(&self) -> &PnrpId {
        &self.route.id
    }
}

/// What [`RouteCache::insert`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum InsertOutcome {
    /// The entry is new and now cached.
    Added {
        /// It entered the leaf set of a local ID: the engine floods it to
        /// the leaf set (digest §3.8).
        leaf: bool,
        /// Entries removed to make room, oldest decision first.
        evicted: Vec<CacheEntry>,
    },
    /// The ID was cached already: its route, CPA and validation time were
    /// updated and nothing else changed.
    Refreshed,
    /// Nothing changed.
    Refused(RefuseReason),
}

/// Why [`RouteCache::insert`] refused an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RefuseReason {
    /// The ID is one of the node's own registered IDs.
    #[error("the ID is registered locally")]
    LocalId,
    /// The route entry lists no address.
    #[error("the route entry has no address")]
    NoAddress,
    /// The port is below [`MIN_PORT`].
    #[error("the port is below 1024")]
    PrivilegedPort,
    /// The CPA describes another PNRP ID.
    #[error("the CPA describes another PNRP ID")]
    CpaMismatch,
    /// The CPA is a revocation: it withdraws the ID instead of backing it.
    #[error("the CPA is a revocation")]
    Revoked,
    /// The entry's level is full and the entry itself would be the
    /// eviction victim.
    #[error("the entry's cache level is full")]
    LevelFull,
}

/// Where an ID falls relative to the cache centre.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Placement {
    /// The level, 1 (farthest) to the configured maximum (nearest).
    pub level: usize,
    /// The sub-bucket, 0–9 in ring order: 0–4 below the centre (0
    /// farthest), 5–9 above it (9 farthest).
    pub bucket: usize,
}

/// Occupancy of one level, from [`RouteCache::level_stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelStat {
    /// The level, from 1.
    pub level: usize,
    /// Entries placed in this level, leaf-set members included.
    pub entries: usize,
    /// How many of them are protected by a leaf set.
    pub leaf_members: usize,
    /// Unprotected entries per sub-bucket (they sum to at most `per_level`).
    pub buckets: [usize; BUCKETS],
}

impl LevelStat {
    /// `(level, sub-bucket)` of each sub-bucket without an unprotected entry.
    pub fn empty_buckets(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..BUCKETS)
            .filter(|&b| self.buckets[b] == 0)
            .map(|b| (self.level, b))
    }
}

/// Filters for the ring queries ([`RouteCache::closest`],
/// [`RouteCache::closest_n`], [`RouteCache::neighbours_matching`]).
///
/// `Query::ANY` matches every entry; fill in the fields that apply, e.g.
/// the flagged path of a LOOKUP and its Validate PNRP ID (digest §4.4
/// step 5).
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<'a> {
    /// Skip entries with any endpoint (address and port) in this list.
    pub exclude_endpoints: &'a [Endpoint],
    /// Only entries strictly closer (by ring distance) to the target than
    /// this ID.
    pub closer_than: Option<PnrpId>,
    /// Skip entries with these IDs.
    pub exclude_ids: &'a [PnrpId],
}

impl Query<'static> {
    /// No filter.
    pub const ANY: Self = Self {
        exclude_endpoints: &[],
        closer_than: None,
        exclude_ids: &[],
    };
}

impl Query<'_> {
    /// Whether the ID and endpoint filters let `entry` through.
    fn admits(&self, entry: &CacheEntry) -> bool {
        !self.exclude_ids.contains(&entry.route.id)
            && !entry
                .route
                .endpoints()
                .any(|ep| self.exclude_endpoints.contains(&ep))
    }

    /// Whether one of `entry`'s endpoints is excluded.
    fn excludes_endpoint_of(&self, entry: &CacheEntry) -> bool {
        !self.exclude_endpoints.is_empty()
            && entry
                .route
                .endpoints()
                .any(|ep| self.exclude_endpoints.contains(&ep))
    }

    /// Whether `entry` satisfies `closer_than` for `target`.
    fn close_enough(&self, entry: &CacheEntry, target: &PnrpId) -> bool {
        self.closer_than
            .is_none_or(|bound| target.distance(&entry.route.id) < target.distance(&bound))
    }
}

/// The multi-level route-entry cache of one node in one cloud. See the
/// [module documentation](self) for its structure and invariants.
#[derive(Debug, Clone)]
pub struct RouteCache {
    centre: PnrpId,
    config: CacheConfig,
    /// Sorted strictly ascending by ID; never a local ID.
    entries: Vec<CacheEntry>,
    /// `meta[i]` is `entries[i]`'s bookkeeping, kept in step with `entries`.
    meta: Vec<Meta>,
    /// The locally registered IDs, sorted, without duplicates.
    locals: Vec<PnrpId>,
    /// `local_at[j]`: how many entries lie below `locals[j]` (where it
    /// would sit in `entries`), kept in step with both, so that
    /// [`in_leaf_range`](Self::in_leaf_range) counts arcs by subtraction.
    local_at: Vec<usize>,
    /// Bumped by the changes that can empty a sub-bucket or move the
    /// cloud-size estimate: removals other than victim evictions (which
    /// take from the most crowded sub-bucket, never its last entry),
    /// entries joining a leaf set, local IDs, the centre. Inserting outside
    /// the leaf sets, with or without evicting a victim, leaves it alone.
    gap_generation: u64,
    /// No cached CPA expires before this (`None`: no entry holds a CPA). A
    /// lower bound, exact after [`evict_expired`](Self::evict_expired)
    /// scanned; the maintenance tick skips its scans of the cache while
    /// nothing is near expiry.
    expiry_bound: Option<UnixTime>,
    /// Admissible inserts that brought a CPA, whether or not the entry
    /// stayed ([`RouteCache::cpa_generation`]).
    cpa_generation: u64,
}

/// Per-entry bookkeeping of a [`RouteCache`] (5 bytes an entry), updated
/// incrementally with every change of the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Meta {
    /// The entry is in the leaf set of a local ID
    /// ([`RouteCache::in_leaf_range`]). One change of the ring moves only
    /// the `leaf_set_side` entries on each side of it in or out of leaf
    /// sets ([`RouteCache::reprotect`]).
    protected: bool,
    /// How many entries from this one upward (itself included, not
    /// wrapping past the largest ID) have the same endpoints (port and
    /// addresses), at most 255. A ring walk that excludes an endpoint skips
    /// the whole run at once: a node holding thousands of IDs puts long
    /// runs of one endpoint into its neighbours' caches.
    run_up: u8,
    /// The same downward (not wrapping past the smallest ID).
    run_down: u8,
    /// The entry's [`Placement`] around the centre (level, sub-bucket),
    /// computed when it is inserted or the centre moves: level statistics
    /// and victim choice read it instead of redoing 256-bit arithmetic.
    level: u8,
    bucket: u8,
}

impl Meta {
    const NEW: Self = Self {
        protected: false,
        run_up: 1,
        run_down: 1,
        level: 0,
        bucket: 0,
    };

    fn place(&mut self, p: Placement) {
        // Levels are at most MAX_LEVELS (32), buckets at most BUCKETS − 1.
        self.level = p.level as u8;
        self.bucket = p.bucket as u8;
    }
}

/// Whether two entries have the same endpoints (port and address list).
fn same_endpoints(a: &CacheEntry, b: &CacheEntry) -> bool {
    a.route.port == b.route.port && a.route.addresses == b.route.addresses
}

/// Who [`RouteCache::pick_victim`] would evict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Victim {
    /// The entry being inserted.
    Newcomer,
    /// The cached entry at this index.
    At(usize),
}

impl RouteCache {
    /// An empty cache centred on `centre`.
    pub fn new(centre: PnrpId, config: CacheConfig) -> Self {
        let config = CacheConfig {
            max_levels: config.max_levels.clamp(1, MAX_LEVELS),
            ..config
        };
        Self {
            centre,
            config,
            entries: Vec::new(),
            meta: Vec::new(),
            locals: Vec::new(),
            local_at: Vec::new(),
            gap_generation: 0,
            expiry_bound: None,
            cpa_generation: 0,
        }
    }

    /// A counter that moves with every change that may empty a sub-bucket
    /// of [`level_stats`](Self::level_stats) or change
    /// [`estimate_cloud_size`](Self::estimate_cloud_size): while it stands
    /// still, a cache without an empty sub-bucket stays without one.
    pub fn gap_generation(&self) -> u64 {
        self.gap_generation
    }

    /// A counter that moves with every insert that brings a CPA: while it
    /// stands still, no entry has taken a CPA it did not hold before (an
    /// observer checking cached CPAs need only look again when it moved).
    pub fn cpa_generation(&self) -> u64 {
        self.cpa_generation
    }

    /// `true` unless every cached CPA is known to expire after `horizon`
    /// (then nothing is due for renewal or eviction before it).
    pub fn may_expire_by(&self, horizon: UnixTime) -> bool {
        self.expiry_bound.is_some_and(|t| t <= horizon)
    }

    /// Recomputes the expiry bound exactly (after renewals raised the CPAs
    /// that held it down).
    pub fn tighten_expiry_bound(&mut self) {
        self.expiry_bound = self.earliest_expiry();
    }

    /// The earliest Not After of a cached CPA.
    fn earliest_expiry(&self) -> Option<UnixTime> {
        self.entries
            .iter()
            .filter_map(|e| e.cpa.as_deref().map(CpaRecord::not_after))
            .min()
    }

    /// Lowers the expiry bound to cover a CPA expiring at `t`.
    fn note_expiry(&mut self, t: UnixTime) {
        self.expiry_bound = Some(self.expiry_bound.map_or(t, |b| b.min(t)));
    }

    /// The cache centre.
    pub fn centre(&self) -> PnrpId {
        self.centre
    }

    /// The configuration in force (`max_levels` clamped).
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// Moves the centre (the primary local ID changed) and re-applies the
    /// level bounds around it. Returns the entries evicted to do so.
    pub fn set_centre(&mut self, centre: PnrpId) -> Vec<CacheEntry> {
        let mut evicted = Vec::new();
        if centre == self.centre {
            return evicted;
        }
        self.centre = centre;
        self.gap_generation += 1;
        self.refresh_placements();
        for level in 1..=self.config.max_levels {
            self.enforce(level, &mut evicted);
        }
        evicted
    }

    // ---- local IDs and leaf sets -------------------------------------

    /// The locally registered IDs, ascending.
    pub fn locals(&self) -> &[PnrpId] {
        &self.locals
    }

    /// Registers a local ID, whose leaf set the cache then maintains. A
    /// cached remote entry with the same ID is dropped (invariant 2).
    /// Returns `false` if the ID was already local.
    pub fn add_local(&mut self, id: PnrpId) -> bool {
        let Err(at) = self.locals.binary_search(&id) else {
            return false;
        };
        if let Ok(i) = self.search(&id) {
            self.remove_at(i);
        }
        self.locals.insert(at, id);
        self.local_at.insert(at, self.lower_bound(&id));
        self.gap_generation += 1;
        // Only the entries next to the new local ID join a leaf set.
        let _ = self.reprotect_around_gap(self.lower_bound(&id));
        true
    }

    /// Withdraws a local ID. Entries that were protected only by its leaf
    /// set compete in their levels again, which may evict some; they are
    /// returned. `None` if the ID was not local.
    pub fn remove_local(&mut self, id: &PnrpId) -> Option<Vec<CacheEntry>> {
        let at = self.locals.binary_search(id).ok()?;
        self.locals.remove(at);
        self.local_at.remove(at);
        self.gap_generation += 1;
        // Only members of this ID's leaf set can lose their protection.
        let lost = self.reprotect_around_gap(self.lower_bound(id));
        let mut evicted = Vec::new();
        self.enforce_unprotected(&lost, &mut evicted);
        Some(evicted)
    }

    /// The leaf set of `local`: its nearest cached entries below (nearest
    /// first) and above (nearest first), `leaf_set_side` each. With fewer
    /// than `2 · leaf_set_side` entries cached, every entry is in the leaf
    /// set, the odd one out on the upper side. Works for any ID, local or
    /// not (a cached entry with that exact ID is left out).
    pub fn leaf_set(&self, local: &PnrpId) -> (Vec<&CacheEntry>, Vec<&CacheEntry>) {
        let side = self.config.leaf_set_side;
        let others = self.walk_up(local).len();
        let (up, down) = if others >= 2 * side {
            (side, side)
        } else {
            let up = others.div_ceil(2);
            (up, others - up)
        };
        let below = self
            .walk_down(local)
            .take(down)
            .map(|i| &self.entries[i])
            .collect();
        let above = self
            .walk_up(local)
            .take(up)
            .map(|i| &self.entries[i])
            .collect();
        (below, above)
    }

    /// Whether `id` falls inside the leaf set of any local ID: between the
    /// `leaf_set_side`-th nearest entry below and the `leaf_set_side`-th
    /// nearest above (inclusive), or anywhere while that leaf set is not
    /// full. For an ID not yet cached this says whether it *would* join a
    /// leaf set once inserted (digest §3.6 NeedCpa, §4.4 step 6); for a
    /// cached ID, whether it is protected now.
    ///
    /// One binary search over the local IDs and one over the entries: of
    /// all local IDs, the nearest one below `id` has the fewest entries
    /// between itself and `id` going up, and the nearest one above has the
    /// fewest going down, so only those two need asking, and the positions
    /// of local IDs among the entries are kept (`local_at`).
    pub fn in_leaf_range(&self, id: &PnrpId) -> bool {
        if self.config.leaf_set_side == 0 || self.locals.is_empty() {
            return false;
        }
        let (lo, hi) = match self.search(id) {
            Ok(i) => (i, i + 1),
            Err(i) => (i, i),
        };
        self.leaf_range_at(id, lo, hi)
    }

    /// [`in_leaf_range`](Self::in_leaf_range) for `id`, which has the
    /// entries `lo..hi` (itself if cached) and those below them below it.
    fn leaf_range_at(&self, id: &PnrpId, lo: usize, hi: usize) -> bool {
        let (below, above) = match self.locals_around(id) {
            Ok(around) => around,
            Err(answer) => return answer,
        };
        let side = self.config.leaf_set_side;
        let n = self.entries.len();
        // Entries strictly inside the arc going up from the local ID below
        // to `id`, and going up from `id` to the local ID above (local IDs
        // are never cached, so each sits at one index).
        let from_below = if self.locals[below] < *id {
            lo - self.local_at[below]
        } else {
            n - self.local_at[below] + lo
        };
        let to_above = if *id < self.locals[above] {
            self.local_at[above] - hi
        } else {
            n - hi + self.local_at[above]
        };
        from_below < side || to_above < side
    }

    /// [`in_leaf_range`](Self::in_leaf_range) from binary searches alone,
    /// without `local_at`: the invariant check's independent answer.
    fn in_leaf_range_by_search(&self, id: &PnrpId) -> bool {
        let (below, above) = match self.locals_around(id) {
            Ok((below, above)) => (&self.locals[below], &self.locals[above]),
            Err(answer) => return answer,
        };
        let side = self.config.leaf_set_side;
        self.count_open_arc(below, id) < side || self.count_open_arc(id, above) < side
    }

    /// The indices in `locals` of the local IDs nearest below and above
    /// `id` (wrapping), or the leaf-range answer without them: `false`
    /// without leaf sets, `true` for a local ID itself.
    fn locals_around(&self, id: &PnrpId) -> Result<(usize, usize), bool> {
        let k = self.locals.len();
        if self.config.leaf_set_side == 0 || k == 0 {
            return Err(false);
        }
        let at = self.locals.partition_point(|l| l < id);
        if at < k && self.locals[at] == *id {
            return Err(true);
        }
        Ok(((at + k - 1) % k, at % k))
    }

    /// Whether the cached entry at `i` is in a leaf set.
    fn leaf_range_of_entry(&self, i: usize) -> bool {
        self.leaf_range_at(&self.entries[i].route.id, i, i + 1)
    }

    /// Keeps `local_at` in step with the entry `id` just inserted (`added`)
    /// or removed.
    fn shift_locals(&mut self, id: &PnrpId, added: bool) {
        let from = self.locals.partition_point(|l| l < id);
        for a in &mut self.local_at[from..] {
            if added {
                *a += 1;
            } else {
                *a -= 1;
            }
        }
    }

    /// Recomputes `local_at` from scratch.
    fn rebuild_local_at(&mut self) {
        self.local_at = self.locals.iter().map(|l| self.lower_bound(l)).collect();
    }

    /// [`in_leaf_range`](Self::in_leaf_range) for the leaf set of one ID
    /// (`local` need not be registered). An ID is in its own range.
    pub fn in_leaf_range_of(&self, local: &PnrpId, id: &PnrpId) -> bool {
        let side = self.config.leaf_set_side;
        if side == 0 {
            return false;
        }
        if local == id {
            return true;
        }
        self.count_open_arc(local, id) < side || self.count_open_arc(id, local) < side
    }

    // ---- entries -------------------------------------------------------

    /// Caches a proven route entry (digest §3.6 step 4), validated at `now`.
    ///
    /// * A new ID inside a leaf set is always added; one outside competes
    ///   for its level (module documentation, "Admission and eviction").
    /// * A cached ID is refreshed: route replaced, validation time raised
    ///   to `now` (never lowered), CPA replaced when one is given — or
    ///   dropped when the route changed without a new one, since it
    ///   vouched for the old addresses.
    ///
    /// The address list is shrunk to fit before it is stored.
    pub fn insert(
        &mut self,
        mut route: RouteEntry,
        cpa: Option<&VerifiedCpa>,
        now: Instant,
    ) -> InsertOutcome {
        if let Err(reason) = self.admissible(&route, cpa) {
            return InsertOutcome::Refused(reason);
        }
        let cpa = cpa.map(|c| Box::new(CpaRecord::of(c)));
        if let Some(c) = &cpa {
            self.note_expiry(c.not_after);
            self.cpa_generation += 1;
        }
        route.addresses.shrink_to_fit();
        let pos = match self.search(&route.id) {
            Ok(i) => {
                let e = &mut self.entries[i];
                let moved = e.route != route;
                if cpa.is_some() || moved {
                    e.cpa = cpa;
                }
                e.route = route;
                e.validated = e.validated.max(now);
                if moved {
                    self.fix_runs_up(i);
                    self.fix_runs_down(i);
                }
                return InsertOutcome::Refreshed;
            }
            Err(pos) => pos,
        };
        let entry = CacheEntry {
            route,
            cpa,
            validated: now,
        };
        if self.in_leaf_range(&entry.route.id) {
            let lost = self.insert_at(pos, entry, true);
            let mut evicted = Vec::new();
            self.enforce_unprotected(&lost, &mut evicted);
            return InsertOutcome::Added {
                leaf: true,
                evicted,
            };
        }
        // Outside every leaf set the newcomer changes no leaf set.
        let level = self.placement(&entry.route.id).level;
        match self.pick_victim(level, Some(&entry)) {
            None => {
                let _ = self.insert_at(pos, entry, false);
                InsertOutcome::Added {
                    leaf: false,
                    evicted: Vec::new(),
                }
            }
            Some(Victim::Newcomer) => InsertOutcome::Refused(RefuseReason::LevelFull),
            Some(Victim::At(i)) => {
                if !self.victims_keep_gaps() {
                    self.gap_generation += 1;
                }
                let old = self.remove_at(i);
                let _ = self.insert_at(if i < pos { pos - 1 } else { pos }, entry, false);
                InsertOutcome::Added {
                    leaf: false,
                    evicted: vec![old],
                }
            }
        }
    }

    /// Whether caching `id` (not cached, outside every leaf set) now could
    /// only take the place of an entry of its own sub-bucket validated at
    /// or after `since`: its level is full and its sub-bucket, counting it,
    /// is strictly the most crowded, so the victim would be that
    /// sub-bucket's least recently validated entry. Such an admission
    /// changes neither what the level covers nor, while `since` is recent,
    /// how fresh it is.
    pub fn would_only_replace(&self, id: &PnrpId, since: Instant) -> bool {
        // One search answers both "cached?" and where a leaf-range check
        // starts.
        match self.search(id) {
            Ok(_) => return false,
            Err(i) if self.leaf_range_at(id, i, i) => return false,
            Err(_) => {}
        }
        let p = self.placement(id);
        let mut counts = [0usize; BUCKETS];
        let mut members = 0;
        let mut oldest: Option<Instant> = None;
        for i in self.level_ranges(p.level).into_iter().flatten() {
            if self.meta[i].protected {
                continue;
            }
            members += 1;
            let b = usize::from(self.meta[i].bucket);
            counts[b] += 1;
            if b == p.bucket {
                let v = self.entries[i].validated;
                oldest = Some(oldest.map_or(v, |o| o.min(v)));
            }
        }
        if members < self.config.per_level {
            return false;
        }
        let own = counts[p.bucket] + 1;
        let strictly_most = counts
            .iter()
            .enumerate()
            .all(|(b, &c)| b == p.bucket || c < own);
        strictly_most && oldest.is_some_and(|o| o >= since)
    }

    /// Removes an entry (N flag, retries exhausted, revocation; digest
    /// §3.7). Leaf sets close up over the gap; nothing else is evicted.
    pub fn remove(&mut self, id: &PnrpId) -> Option<CacheEntry> {
        let i = self.search(id).ok()?;
        self.gap_generation += 1;
        Some(self.remove_at(i))
    }

    /// Removes every entry whose CPA expired before `now` (digest §3.7);
    /// entries without a CPA are left alone.
    pub fn evict_expired(&mut self, now: UnixTime) -> Vec<CacheEntry> {
        if self.expiry_bound.is_none_or(|t| t >= now) {
            return Vec::new();
        }
        let expired = |e: &CacheEntry| e.cpa.as_ref().is_some_and(|c| c.not_after < now);
        let gone: Vec<CacheEntry> = self.entries.extract_if(.., |e| expired(e)).collect();
        // The survivors' bound is exact again.
        self.tighten_expiry_bound();
        if gone.is_empty() {
            return gone;
        }
        self.gap_generation += 1;
        // Several gaps at once: recompute every entry's bookkeeping.
        self.rebuild_meta();
        self.trim_capacity();
        gone
    }

    /// The entry for `id`, without touching its recency.
    pub fn get(&self, id: &PnrpId) -> Option<&CacheEntry> {
        self.search(id).ok().map(|i| &self.entries[i])
    }

    /// Whether `id` is cached.
    pub fn contains(&self, id: &PnrpId) -> bool {
        self.search(id).is_ok()
    }

    /// Marks an entry validated at `now` (it answered; digest §4.5 step 4).
    /// The time is never lowered. Returns `false` if `id` is not cached.
    pub fn touch(&mut self, id: &PnrpId, now: Instant) -> bool {
        let Ok(i) = self.search(id) else {
            return false;
        };
        let e = &mut self.entries[i];
        e.validated = e.validated.max(now);
        true
    }

    /// Number of cached entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All entries in ring order, starting from the smallest ID.
    pub fn iter(&self) -> core::slice::Iter<'_, CacheEntry> {
        self.entries.iter()
    }

    // ---- ring queries --------------------------------------------------

    /// All entries by increasing ring distance to `target`, ties to the
    /// smaller ID — the order of [`PnrpId::cmp_closeness`]. Costs a binary
    /// search, then O(1) per item.
    pub fn by_distance(&self, target: &PnrpId) -> ByDistance<'_> {
        let n = self.entries.len();
        let start = self.lower_bound(target);
        ByDistance {
            entries: &self.entries,
            meta: &self.meta,
            last: None,
            target: U256::from_id(target),
            up: if n == 0 { 0 } else { start % n },
            down: if n == 0 { 0 } else { (start + n - 1) % n },
            left: n,
        }
    }

    /// The entry nearest `target` that `query` admits: ClosestRemoteMatch
    /// (digest §4.4 step 5). Walks outward from `target` in both directions
    /// and stops at the first admitted entry, or as soon as entries are no
    /// longer closer than `query.closer_than`.
    pub fn closest(&self, target: &PnrpId, query: &Query<'_>) -> Option<&CacheEntry> {
        self.closest_n(target, 1, query).pop()
    }

    /// Up to `n` entries nearest `target` that `query` admits, nearest first
    /// (for picking among several candidates with a weight favouring
    /// closeness, digest §4.4 step 5).
    pub fn closest_n(&self, target: &PnrpId, n: usize, query: &Query<'_>) -> Vec<&CacheEntry> {
        let mut out = Vec::new();
        if n == 0 {
            return out;
        }
        let mut walk = self.by_distance(target);
        while let Some(e) = walk.next() {
            if !query.close_enough(e, target) {
                break;
            }
            if query.admits(e) {
                out.push(e);
                if out.len() == n {
                    break;
                }
            } else if query.excludes_endpoint_of(e) {
                // Its neighbours with the same endpoints are excluded too
                // (and farther on this side, so no closer): skip them.
                walk.skip_run();
            }
        }
        out
    }

    /// The nearest cached entries below and above `id` on the ring (`id`
    /// itself excluded), for leaf-set flooding (digest §3.8 step 2, §3.10).
    /// With a single other entry, both sides name it.
    pub fn neighbours(&self, id: &PnrpId) -> (Option<&CacheEntry>, Option<&CacheEntry>) {
        self.neighbours_matching(id, &Query::ANY)
    }

    /// [`neighbours`](Self::neighbours) skipping entries `query` rejects,
    /// e.g. those whose endpoints are in a FLOOD's Already Flooded List
    /// (digest §3.8 step 2). `closer_than` is measured from `id`.
    pub fn neighbours_matching(
        &self,
        id: &PnrpId,
        query: &Query<'_>,
    ) -> (Option<&CacheEntry>, Option<&CacheEntry>) {
        let ok = |e: &&CacheEntry| query.admits(e) && query.close_enough(e, id);
        let below = self.walk_down(id).map(|i| &self.entries[i]).find(ok);
        let above = self.walk_up(id).map(|i| &self.entries[i]).find(ok);
        (below, above)
    }

    /// About `n` cached IDs spread evenly around the ring, ascending, for an
    /// ADVERTISE (digest §3.2: "5 IDs, roughly evenly spread"). Takes the
    /// entry nearest each of `n` equally spaced points starting at the
    /// centre, then, if some points shared an entry, adds the entries
    /// farthest from those already chosen. Returns every ID when `n ≥ len()`.
    pub fn spread_sample(&self, n: usize) -> Vec<PnrpId> {
        if n >= self.entries.len() {
            return self.entries.iter().map(|e| e.route.id).collect();
        }
        let mut chosen: Vec<PnrpId> = Vec::with_capacity(n);
        if n == 0 {
            return chosen;
        }
        let step = U256::MAX.div_small(u64::try_from(n).unwrap_or(u64::MAX));
        let mut point = U256::from_id(&self.centre);
        for _ in 0..n {
            if let Some(e) = self.by_distance(&point.to_id()).next()
                && let Err(at) = chosen.binary_search(&e.route.id)
            {
                chosen.insert(at, e.route.id);
            }
            point = point.wrapping_add(step);
        }
        while chosen.len() < n {
            let mut best: Option<(Distance, PnrpId)> = None;
            for e in &self.entries {
                let id = e.route.id;
                let Err(at) = chosen.binary_search(&id) else {
                    continue;
                };
                let k = chosen.len();
                let gap = core::cmp::min(
                    id.distance(&chosen[at % k]),
                    id.distance(&chosen[(at + k - 1) % k]),
                );
                if best.is_none_or(|(d, _)| gap > d) {
                    best = Some((gap, id));
                }
            }
            let Some((_, id)) = best else { break };
            if let Err(at) = chosen.binary_search(&id) {
                chosen.insert(at, id);
            }
        }
        chosen
    }

    /// The cloud-size estimate of MS-PNRP §3.2.6.2.1.1 (digest §3.11): for
    /// each local ID with a neighbour on both sides, A below and B above,
    /// `2 · 2^256 / (B − A)`; estimates of 2^32 or more are discarded (a name
    /// registered many times crowds its neighbours together); the rest are
    /// averaged. The result counts IDs in the cloud — divide by the number
    /// of local IDs for nodes. `None` when no local ID yields an estimate.
    ///
    /// One estimate rests on two gaps, so it is noisy: for uniformly spread
    /// IDs it is `2N/G` with `G ~ Gamma(2)`, median ≈ 1.2 N.
    pub fn estimate_cloud_size(&self) -> Option<u64> {
        let mut sum: u128 = 0;
        let mut count: u128 = 0;
        for local in &self.locals {
            let (Some(a), Some(b)) = self.neighbours(local) else {
                continue;
            };
            if a.route.id == b.route.id {
                continue;
            }
            let gap = U256::from_id(&b.route.id).wrapping_sub(U256::from_id(&a.route.id));
            // 2^257 / gap ≥ 2^32  ⇔  gap ≤ 2^225.
            if gap <= U256([1 << 33, 0, 0, 0]) {
                continue;
            }
            // gap > 2^225, so its top 63 bits (gap >> 193) are ≥ 2^32 and
            // 2^257 / gap ≈ 2^64 / (gap >> 193) to within 2^-32.
            let top = u128::from(gap.0[0] >> 1);
            sum += (1u128 << 64) / top;
            count += 1;
        }
        if count == 0 {
            return None;
        }
        u64::try_from(sum / count).ok()
    }

    // ---- levels ----------------------------------------------------------

    /// The level and sub-bucket `id` falls in around the current centre.
    pub fn placement(&self, id: &PnrpId) -> Placement {
        let up = U256::from_id(id).wrapping_sub(U256::from_id(&self.centre));
        let (upper, d) = if up <= U256::HALF {
            (true, up)
        } else {
            (false, U256::ZERO.wrapping_sub(up))
        };
        let max = self.config.max_levels;
        let mut level = 1;
        while level < max && d <= HALF_WIDTH[level + 1] {
            level += 1;
        }
        let (lo, q) = self.band_geometry(level);
        let mut band = 0;
        if q != U256::ZERO {
            let off = d.wrapping_sub(lo);
            let mut edge = q;
            while band < 4 && off >= edge {
                band += 1;
                edge = edge.wrapping_add(q);
            }
        }
        let bucket = if upper { 5 + band } else { 4 - band };
        Placement { level, bucket }
    }

    /// The middle of a sub-bucket's arc: a target for a maintenance LOOKUP
    /// that fills an empty bucket (digest §3.7, "balances the cache").
    /// `None` for a level or bucket out of range.
    pub fn bucket_midpoint(&self, level: usize, bucket: usize) -> Option<PnrpId> {
        if level == 0 || level > self.config.max_levels || bucket >= BUCKETS {
            return None;
        }
        let (lo, q) = self.band_geometry(level);
        let band = if bucket >= 5 { bucket - 5 } else { 4 - bucket };
        let band = u64::try_from(band).unwrap_or(4);
        let d = lo
            .wrapping_add(q.mul_small(band))
            .wrapping_add(q.div_small(2));
        let c = U256::from_id(&self.centre);
        let id = if bucket >= 5 {
            c.wrapping_add(d)
        } else {
            c.wrapping_sub(d)
        };
        Some(id.to_id())
    }

    /// Occupancy of every level, level 1 first (index `k − 1` is level `k`).
    pub fn level_stats(&self) -> Vec<LevelStat> {
        self.level_stats_upto(self.config.max_levels)
    }

    /// [`level_stats`](Self::level_stats) of levels `1..=levels` only (the
    /// maintenance tick needs the populated ones, not all 32).
    pub fn level_stats_upto(&self, levels: usize) -> Vec<LevelStat> {
        let levels = levels.min(self.config.max_levels);
        let mut stats: Vec<LevelStat> = (1..=levels)
            .map(|level| LevelStat {
                level,
                entries: 0,
                leaf_members: 0,
                buckets: [0; BUCKETS],
            })
            .collect();
        // One pass over the compact bookkeeping, not over the entries.
        for m in &self.meta {
            let Some(st) = stats.get_mut(usize::from(m.level).wrapping_sub(1)) else {
                continue;
            };
            st.entries += 1;
            if m.protected {
                st.leaf_members += 1;
            } else {
                st.buckets[usize::from(m.bucket)] += 1;
            }
        }
        stats
    }

    /// Estimated heap and inline bytes of the cache: the structure, the
    /// entry vector's capacity, each address list and each CPA (counted in
    /// full for every entry holding it), plus 16 bytes of allocator
    /// bookkeeping per heap block.
    pub fn memory_bytes(&self) -> usize {
        fn block(bytes: usize) -> usize {
            if bytes == 0 {
                0
            } else {
                bytes + ALLOC_OVERHEAD
            }
        }
        let mut total = size_of::<Self>()
            + block(self.entries.capacity() * size_of::<CacheEntry>())
            + block(self.meta.capacity() * size_of::<Meta>())
            + block(self.locals.capacity() * size_of::<PnrpId>());
        for e in &self.entries {
            total += block(e.route.addresses.capacity() * size_of::<Ipv6Addr>());
            if e.cpa.is_some() {
                total += block(size_of::<CpaRecord>());
            }
        }
        total
    }

    /// Checks the module's invariants; the error names the first one broken.
    /// Cheap enough for the simulator to call after every step in debug
    /// builds.
    pub fn check_invariants(&self) -> Result<(), &'static str> {
        if !self
            .entries
            .windows(2)
            .all(|w| w[0].route.id < w[1].route.id)
        {
            return Err("entries are not strictly ascending");
        }
        if !self.locals.windows(2).all(|w| w[0] < w[1]) {
            return Err("local IDs are not strictly ascending");
        }
        if self.meta.len() != self.entries.len() {
            return Err("the entry bookkeeping is out of step with the entries");
        }
        if self.local_at.len() != self.locals.len()
            || self
                .locals
                .iter()
                .zip(&self.local_at)
                .any(|(l, &at)| self.lower_bound(l) != at)
        {
            return Err("a local ID's position among the entries is wrong");
        }
        let n = self.entries.len();
        for (i, (e, m)) in self.entries.iter().zip(&self.meta).enumerate() {
            if self.locals.binary_search(&e.route.id).is_ok() {
                return Err("a local ID is cached");
            }
            if m.protected != self.in_leaf_range_by_search(&e.route.id) {
                return Err("an entry's leaf-set flag is wrong");
            }
            let up = (i..n)
                .take_while(|&j| same_endpoints(e, &self.entries[j]))
                .take(255)
                .count();
            let down = (0..=i)
                .rev()
                .take_while(|&j| same_endpoints(e, &self.entries[j]))
                .take(255)
                .count();
            if usize::from(m.run_up) != up || usize::from(m.run_down) != down {
                return Err("an entry's endpoint-run lengths are wrong");
            }
            if self.admissible(&e.route, None).is_err() {
                return Err("an entry breaks the admission rules");
            }
        }
        if let Some(t) = self.earliest_expiry()
            && self.expiry_bound.is_none_or(|b| b > t)
        {
            return Err("a cached CPA expires before the expiry bound");
        }
        let mut placed = 0;
        for st in self.level_stats() {
            placed += st.entries;
            if st.entries - st.leaf_members > self.config.per_level {
                return Err("a level holds more unprotected entries than per_level");
            }
            for i in self.level_ranges(st.level).into_iter().flatten() {
                let p = self.placement(&self.entries[i].route.id);
                if p.level != st.level {
                    return Err("a level's arcs disagree with placement()");
                }
                let m = self.meta[i];
                if (usize::from(m.level), usize::from(m.bucket)) != (p.level, p.bucket) {
                    return Err("an entry's recorded placement is stale");
                }
            }
        }
        if placed != self.entries.len() {
            return Err("the levels do not partition the entries");
        }
        Ok(())
    }

    // ---- internals -------------------------------------------------------

    fn admissible(
        &self,
        route: &RouteEntry,
        cpa: Option<&VerifiedCpa>,
    ) -> Result<(), RefuseReason> {
        if self.locals.binary_search(&route.id).is_ok() {
            return Err(RefuseReason::LocalId);
        }
        if route.addresses.is_empty() {
            return Err(RefuseReason::NoAddress);
        }
        if route.port < MIN_PORT {
            return Err(RefuseReason::PrivilegedPort);
        }
        if let Some(cpa) = cpa {
            if cpa.pnrp_id() != route.id {
                return Err(RefuseReason::CpaMismatch);
            }
            if cpa.content().revoke {
                return Err(RefuseReason::Revoked);
            }
        }
        Ok(())
    }

    fn search(&self, id: &PnrpId) -> Result<usize, usize> {
        self.entries.binary_search_by(|e| e.route.id.cmp(id))
    }

    /// Index of the first entry `≥ id`.
    fn lower_bound(&self, id: &PnrpId) -> usize {
        self.entries.partition_point(|e| e.route.id < *id)
    }

    /// Index of the first entry `> id`.
    fn upper_bound(&self, id: &PnrpId) -> usize {
        self.entries.partition_point(|e| e.route.id <= *id)
    }

    /// Entries strictly inside the clockwise arc from `from` to `to` (the
    /// whole ring minus `from` when they are equal).
    fn count_open_arc(&self, from: &PnrpId, to: &PnrpId) -> usize {
        let n = self.entries.len();
        match from.cmp(to) {
            Ordering::Less => self.lower_bound(to) - self.upper_bound(from),
            Ordering::Greater => n - self.upper_bound(from) + self.lower_bound(to),
            Ordering::Equal => n - (self.upper_bound(from) - self.lower_bound(from)),
        }
    }

    /// Indices of every entry other than `id`, clockwise from just above it.
    fn walk_up(&self, id: &PnrpId) -> impl ExactSizeIterator<Item = usize> + use<> {
        let n = self.entries.len();
        let (lo, hi) = (self.lower_bound(id), self.upper_bound(id));
        (0..n - (hi - lo)).map(move |j| (hi + j) % n)
    }

    /// Indices of every entry other than `id`, anticlockwise from just below
    /// it.
    fn walk_down(&self, id: &PnrpId) -> impl ExactSizeIterator<Item = usize> + use<> {
        let n = self.entries.len();
        let (lo, hi) = (self.lower_bound(id), self.upper_bound(id));
        (0..n - (hi - lo)).map(move |j| (lo + n - 1 - j) % n)
    }

    /// Recomputes the leaf-set flags of the `leaf_set_side` entries
    /// clockwise from index `up` and anticlockwise from index `down` (both
    /// included; fewer when the cache is smaller), and returns the IDs of
    /// those that lost their protection.
    ///
    /// One change of the ring moves only these in or out of leaf sets. An
    /// entry's membership rests on its count of entries between it and the
    /// nearest local ID on either side (fewer than `side`). Inserting X
    /// raises the counts of arcs across X: an entry Y that drops out had
    /// `side − 1` before, so at most `side − 1` entries lie between X and
    /// Y. Removing an entry (or adding a local ID) can only lower counts,
    /// and an entry that joins now has `side − 1`, so it lies within `side`
    /// of the gap; withdrawing a local ID touches only its own leaf set.
    /// (Inserting or removing an entry outside every leaf set moves
    /// nothing: any arc across it already holds `side` or more.)
    fn reprotect(&mut self, up: usize, down: usize) -> Vec<PnrpId> {
        let n = self.entries.len();
        let mut lost = Vec::new();
        for j in 0..self.config.leaf_set_side.min(n) {
            for i in [(up + j) % n, (down + n - j) % n] {
                let now = self.leaf_range_of_entry(i);
                if self.meta[i].protected && !now {
                    lost.push(self.entries[i].route.id);
                }
                if now && !self.meta[i].protected {
                    self.gap_generation += 1;
                }
                self.meta[i].protected = now;
            }
        }
        lost
    }

    /// [`reprotect`](Self::reprotect) on both sides of the gap before
    /// index `gap` (where an entry was removed or a local ID sits).
    fn reprotect_around_gap(&mut self, gap: usize) -> Vec<PnrpId> {
        let n = self.entries.len();
        if n == 0 {
            return Vec::new();
        }
        self.reprotect(gap % n, (gap + n - 1) % n)
    }

    /// The IDs of every leaf-set member of every local ID, ascending,
    /// recomputed from scratch: the test oracle for the incremental flags.
    #[cfg(test)]
    fn leaf_ids(&self) -> Vec<PnrpId> {
        let side = self.config.leaf_set_side;
        if side == 0 || self.locals.is_empty() {
            return Vec::new();
        }
        if self.entries.len() <= 2 * side {
            return self.entries.iter().map(|e| e.route.id).collect();
        }
        let mut out = Vec::with_capacity(2 * side * self.locals.len());
        for local in &self.locals {
            let up = self.walk_up(local).take(side);
            let down = self.walk_down(local).take(side);
            out.extend(up.chain(down).map(|i| self.entries[i].route.id));
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// `(lo, q)` of a level: its region on each side is the distances
    /// `lo ..= HALF_WIDTH[level]`, cut into five bands of width `q` (the
    /// last band takes the remainder).
    fn band_geometry(&self, level: usize) -> (U256, U256) {
        if level < self.config.max_levels {
            (HALF_WIDTH[level + 1].wrapping_add(U256::ONE), BAND[level])
        } else {
            (U256::ZERO, BAND_DEEPEST[level])
        }
    }

    /// Index ranges of the entries placed in `level` (up to four: two arcs,
    /// each of which may wrap past zero).
    fn level_ranges(&self, level: usize) -> [Range<usize>; 4] {
        let n = self.entries.len();
        let c = U256::from_id(&self.centre);
        let hi = HALF_WIDTH[level];
        if level == self.config.max_levels {
            if level == 1 {
                return [0..n, 0..0, 0..0, 0..0];
            }
            let [a, b] = self.arc(c.wrapping_sub(hi), c.wrapping_add(hi));
            return [a, b, 0..0, 0..0];
        }
        let lo = HALF_WIDTH[level + 1].wrapping_add(U256::ONE);
        // The antipode (distance exactly 2^255) belongs to the upper side.
        let lower_hi = if hi == U256::HALF {
            hi.wrapping_sub(U256::ONE)
        } else {
            hi
        };
        let [a, b] = self.arc(c.wrapping_add(lo), c.wrapping_add(hi));
        let [d, e] = self.arc(c.wrapping_sub(lower_hi), c.wrapping_sub(lo));
        [a, b, d, e]
    }

    /// Index ranges of the entries on the inclusive clockwise arc
    /// `from ..= to`.
    fn arc(&self, from: U256, to: U256) -> [Range<usize>; 2] {
        let (from, to) = (from.to_id(), to.to_id());
        let start = self.lower_bound(&from);
        let end = self.upper_bound(&to);
        if from <= to {
            [start..end, 0..0]
        } else {
            [start..self.entries.len(), 0..end]
        }
    }

    /// Chooses whom to evict from `level` if it is over its bound with
    /// `newcomer` added: `None` if there is room.
    fn pick_victim(&self, level: usize, newcomer: Option<&CacheEntry>) -> Option<Victim> {
        self.pick_victim_by(level, |i| self.meta[i].protected, newcomer)
    }

    /// [`pick_victim`](Self::pick_victim) with leaf-set membership (by
    /// entry index) given.
    fn pick_victim_by(
        &self,
        level: usize,
        protected: impl Fn(usize) -> bool,
        newcomer: Option<&CacheEntry>,
    ) -> Option<Victim> {
        let members: Vec<(usize, usize)> = self
            .level_ranges(level)
            .into_iter()
            .flatten()
            .filter(|&i| !protected(i))
            .map(|i| (i, usize::from(self.meta[i].bucket)))
            .collect();
        if members.len() + usize::from(newcomer.is_some()) <= self.config.per_level {
            return None;
        }
        let newcomer = newcomer.map(|e| (e, self.placement(&e.route.id).bucket));
        let mut counts = [0usize; BUCKETS];
        for &(_, b) in &members {
            counts[b] += 1;
        }
        if let Some((_, b)) = newcomer {
            counts[b] += 1;
        }
        let crowd = counts.iter().copied().max().unwrap_or(0);
        // Oldest first; at equal times incumbents go before the newcomer,
        // then the smaller ID.
        let incumbents = members
            .iter()
            .filter(|&&(_, b)| counts[b] == crowd)
            .map(|&(i, _)| (&self.entries[i], false, Victim::At(i)));
        let newcomer = newcomer
            .filter(|&(_, b)| counts[b] == crowd)
            .map(|(e, _)| (e, true, Victim::Newcomer));
        incumbents
            .chain(newcomer)
            .min_by(|(a, a_new, _), (b, b_new, _)| {
                (a.validated, a_new, &a.route.id).cmp(&(b.validated, b_new, &b.route.id))
            })
            .map(|(_, _, v)| v)
    }

    /// Evicts from `level` until its unprotected entries fit.
    fn enforce(&mut self, level: usize, evicted: &mut Vec<CacheEntry>) {
        while let Some(Victim::At(i)) = self.pick_victim(level, None) {
            evicted.push(self.remove_at(i));
        }
    }

    /// Re-applies the level bounds where entries (`lost`) lost their
    /// leaf-set protection.
    fn enforce_unprotected(&mut self, lost: &[PnrpId], evicted: &mut Vec<CacheEntry>) {
        let mut levels: Vec<usize> = lost
            .iter()
            .filter(|id| self.contains(id))
            .map(|id| self.placement(id).level)
            .collect();
        levels.sort_unstable();
        levels.dedup();
        for level in levels {
            self.enforce(level, evicted);
        }
    }

    /// Inserts `entry` at `pos`; `protected` says whether it falls inside a
    /// leaf set ([`in_leaf_range`](Self::in_leaf_range), which its own
    /// insertion does not change). Returns the IDs of entries it pushed out
    /// of leaf sets.
    fn insert_at(&mut self, pos: usize, entry: CacheEntry, protected: bool) -> Vec<PnrpId> {
        let len = self.entries.len();
        if len == self.entries.capacity() {
            self.entries.reserve_exact((len / 8).max(4));
        }
        if len == self.meta.capacity() {
            self.meta.reserve_exact((len / 8).max(4));
        }
        let mut meta = Meta {
            protected,
            ..Meta::NEW
        };
        meta.place(self.placement(&entry.route.id));
        let id = entry.route.id;
        self.entries.insert(pos, entry);
        self.shift_locals(&id, true);
        if protected || !self.victims_keep_gaps() {
            self.gap_generation += 1;
        }
        self.meta.insert(pos, meta);
        self.fix_runs_up(pos);
        self.fix_runs_down(pos);
        if !protected {
            return Vec::new();
        }
        let n = len + 1;
        self.reprotect((pos + 1) % n, (pos + n - 1) % n)
    }

    /// Removes the entry at `i`; entries next to a removed leaf-set member
    /// may join a leaf set (none leaves one).
    fn remove_at(&mut self, i: usize) -> CacheEntry {
        let e = self.entries.remove(i);
        self.shift_locals(&e.route.id, false);
        let was = self.meta.remove(i);
        if i > 0 {
            self.fix_runs_up(i - 1);
        }
        if i < self.entries.len() {
            self.fix_runs_down(i);
        }
        if was.protected {
            let _ = self.reprotect_around_gap(i);
        }
        self.trim_capacity();
        e
    }

    /// Whether inserting an entry outside the leaf sets, evicting a victim
    /// or not, can neither empty a sub-bucket nor move the size estimate:
    /// a full level then holds more entries than there are sub-buckets, so
    /// the most crowded one that gives the victim keeps others, and a
    /// local ID's nearest neighbours are always leaf-set members.
    fn victims_keep_gaps(&self) -> bool {
        self.config.per_level >= BUCKETS && self.config.leaf_set_side > 0
    }

    /// Recomputes every entry's recorded placement (the centre moved).
    fn refresh_placements(&mut self) {
        for i in 0..self.entries.len() {
            let p = self.placement(&self.entries[i].route.id);
            self.meta[i].place(p);
        }
    }

    /// Recomputes every entry's [`Meta`] from scratch.
    fn rebuild_meta(&mut self) {
        let n = self.entries.len();
        self.rebuild_local_at();
        self.meta.clear();
        self.meta.resize(n, Meta::NEW);
        for i in 0..n {
            self.meta[i].protected = self.leaf_range_of_entry(i);
            let p = self.placement(&self.entries[i].route.id);
            self.meta[i].place(p);
            if i > 0 && same_endpoints(&self.entries[i], &self.entries[i - 1]) {
                self.meta[i].run_down = self.meta[i - 1].run_down.saturating_add(1);
            }
        }
        for i in (0..n.saturating_sub(1)).rev() {
            if same_endpoints(&self.entries[i], &self.entries[i + 1]) {
                self.meta[i].run_up = self.meta[i + 1].run_up.saturating_add(1);
            }
        }
    }

    /// Recomputes `run_up` from index `from` downward, as far as it changes
    /// (at most 255 entries past `from`, where the count saturates).
    fn fix_runs_up(&mut self, from: usize) {
        let n = self.entries.len();
        for j in (0..=from.min(n.saturating_sub(1))).rev() {
            let run = if j + 1 < n && same_endpoints(&self.entries[j], &self.entries[j + 1]) {
                self.meta[j + 1].run_up.saturating_add(1)
            } else {
                1
            };
            if j < from && self.meta[j].run_up == run {
                break;
            }
            self.meta[j].run_up = run;
        }
    }

    /// Recomputes `run_down` from index `from` upward, as far as it changes.
    fn fix_runs_down(&mut self, from: usize) {
        for j in from..self.entries.len() {
            let run = if j > 0 && same_endpoints(&self.entries[j], &self.entries[j - 1]) {
                self.meta[j - 1].run_down.saturating_add(1)
            } else {
                1
            };
            if j > from && self.meta[j].run_down == run {
                break;
            }
            self.meta[j].run_down = run;
        }
    }

    /// Gives back capacity once it exceeds the length by a quarter (and 16).
    fn trim_capacity(&mut self) {
        let len = self.entries.len();
        if self.entries.capacity() > len + len / 4 + 16 {
            self.entries.shrink_to(len + len / 8 + 4);
        }
        if self.meta.capacity() > len + len / 4 + 16 {
            self.meta.shrink_to(len + len / 8 + 4);
        }
    }
}

impl<'a> IntoIterator for &'a RouteCache {
    type Item = &'a CacheEntry;
    type IntoIter = core::slice::Iter<'a, CacheEntry>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Entries by increasing ring distance to a target, from
/// [`RouteCache::by_distance`].
#[derive(Debug, Clone)]
pub struct ByDistance<'a> {
    entries: &'a [CacheEntry],
    meta: &'a [Meta],
    /// Index and side (`true` = clockwise) of the entry yielded last.
    last: Option<(usize, bool)>,
    target: U256,
    /// Next candidate clockwise.
    up: usize,
    /// Next candidate anticlockwise.
    down: usize,
    /// Entries not yet yielded.
    left: usize,
}

impl<'a> Iterator for ByDistance<'a> {
    type Item = &'a CacheEntry;

    fn next(&mut self) -> Option<Self::Item> {
        // Merging the two walks by offset visits every entry once, at its
        // ring distance, in the first `n` steps (each entry's shorter way
        // round is the smaller of its two offsets).
        if self.left == 0 {
            return None;
        }
        let n = self.entries.len();
        let up = &self.entries[self.up];
        let down = &self.entries[self.down];
        let up_off = U256::from_id(&up.route.id).wrapping_sub(self.target);
        let down_off = self.target.wrapping_sub(U256::from_id(&down.route.id));
        let take_up = match up_off.cmp(&down_off) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => up.route.id <= down.route.id,
        };
        self.left -= 1;
        if take_up {
            self.last = Some((self.up, true));
            self.up = (self.up + 1) % n;
            Some(up)
        } else {
            self.last = Some((self.down, false));
            self.down = (self.down + n - 1) % n;
            Some(down)
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ByDistance<'_> {
    /// Skips, on its side of the walk, the entries after the one yielded
    /// last that have the same endpoints (its run; see `Meta`). The entries
    /// not yet yielded are the arc from `up` clockwise to `down`, `left` of
    /// them, so at most `left` are skipped.
    fn skip_run(&mut self) {
        let Some((i, up)) = self.last.take() else {
            return;
        };
        let n = self.entries.len();
        let m = self.meta[i];
        if up {
            let k = usize::from(m.run_up).saturating_sub(1).min(self.left);
            self.up = (self.up + k) % n;
            self.left -= k;
        } else {
            let k = usize::from(m.run_down).saturating_sub(1).min(self.left);
            self.down = (self.down + n - k) % n;
            self.left -= k;
        }
    }
}

impl ExactSizeIterator for ByDistance<'_> {}
impl FusedIterator for ByDistance<'_> {}

/// A 256-bit unsigned integer, most significant limb first: the ring
/// arithmetic the levels need (division by small numbers, offsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct U256([u64; 4]);

impl U256 {
    const ZERO: Self = Self([0; 4]);
    const ONE: Self = Self([0, 0, 0, 1]);
    const MAX: Self = Self([u64::MAX; 4]);
    /// 2^255, half the ring.
    const HALF: Self = Self([1 << 63, 0, 0, 0]);

    fn from_id(id: &PnrpId) -> Self {
        let mut l = [0u64; 4];
        for (limb, chunk) in l.iter_mut().zip(id.0.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            *limb = u64::from_be_bytes(b);
        }
        Self(l)
    }

    fn to_id(self) -> PnrpId {
        let mut out = [0u8; 32];
        for (chunk, limb) in out.chunks_exact_mut(8).zip(self.0) {
            chunk.copy_from_slice(&limb.to_be_bytes());
        }
        PnrpId(out)
    }

    #[must_use]
    fn wrapping_add(self, rhs: Self) -> Self {
        let mut out = [0u64; 4];
        let mut carry = false;
        for i in (0..4).rev() {
            let (s1, c1) = self.0[i].overflowing_add(rhs.0[i]);
            let (s2, c2) = s1.overflowing_add(u64::from(carry));
            out[i] = s2;
            carry = c1 || c2;
        }
        Self(out)
    }

    #[must_use]
    fn wrapping_sub(self, rhs: Self) -> Self {
        let mut out = [0u64; 4];
        let mut borrow = false;
        for i in (0..4).rev() {
            let (d1, b1) = self.0[i].overflowing_sub(rhs.0[i]);
            let (d2, b2) = d1.overflowing_sub(u64::from(borrow));
            out[i] = d2;
            borrow = b1 || b2;
        }
        Self(out)
    }

    /// `self · m` modulo 2^256.
    #[must_use]
    fn mul_small(self, m: u64) -> Self {
        let mut out = [0u64; 4];
        let mut carry: u128 = 0;
        for i in (0..4).rev() {
            let p = u128::from(self.0[i]) * u128::from(m) + carry;
            out[i] = p as u64;
            carry = p >> 64;
        }
        Self(out)
    }

    /// `self − rhs` for `rhs ≤ self`, usable in constants.
    const fn const_sub(self, rhs: Self) -> Self {
        let mut out = [0u64; 4];
        let mut borrow = 0u64;
        let mut i = 4;
        while i > 0 {
            i -= 1;
            let (d1, b1) = self.0[i].overflowing_sub(rhs.0[i]);
            let (d2, b2) = d1.overflowing_sub(borrow);
            out[i] = d2;
            borrow = (b1 | b2) as u64;
        }
        Self(out)
    }

    /// `⌊self / d⌋`; `d` must not be zero.
    #[must_use]
    const fn div_small(self, d: u64) -> Self {
        let d = d as u128;
        let mut out = [0u64; 4];
        let mut rem: u128 = 0;
        let mut i = 0;
        while i < 4 {
            let cur = (rem << 64) | self.0[i] as u128;
            out[i] = (cur / d) as u64;
            rem = cur % d;
            i += 1;
        }
        Self(out)
    }
}

/// `HALF_WIDTH[k] = ⌊2^255 / 10^(k−1)⌋`: level `k` holds IDs at ring
/// distance at most this from the centre (index 0 unused).
const HALF_WIDTH: [U256; MAX_LEVELS + 1] = {
    let mut t = [U256::ZERO; MAX_LEVELS + 1];
    t[1] = U256::HALF;
    let mut k = 2;
    while k <= MAX_LEVELS {
        t[k] = t[k - 1].div_small(10);
        k += 1;
    }
    t
};

/// `BAND[k]`: the band width of level `k` when a deeper level exists — its
/// region `HALF_WIDTH[k + 1] + 1 ..= HALF_WIDTH[k]` split in five.
const BAND: [U256; MAX_LEVELS + 1] = {
    let mut t = [U256::ZERO; MAX_LEVELS + 1];
    let mut k = 1;
    while k < MAX_LEVELS {
        t[k] = HALF_WIDTH[k].const_sub(HALF_WIDTH[k + 1]).div_small(5);
        k += 1;
    }
    t
};

/// `BAND_DEEPEST[k]`: the band width of level `k` when it is the deepest —
/// its region `0 ..= HALF_WIDTH[k]` split in five (`⌊HALF_WIDTH[k] / 5⌋`).
const BAND_DEEPEST: [U256; MAX_LEVELS + 1] = {
    let mut t = [U256::ZERO; MAX_LEVELS + 1];
    let mut k = 1;
    while k <= MAX_LEVELS {
        t[k] = HALF_WIDTH[k].div_small(5);
        k += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// xorshift64*: a tiny deterministic generator for bulk tests.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn id(&mut self) -> PnrpId {
            let mut b = [0u8; 32];
            for chunk in b.chunks_exact_mut(8) {
                chunk.copy_from_slice(&self.next().to_be_bytes());
            }
            PnrpId(b)
        }
    }

    fn id_u64(hi: u64, lo: u64) -> PnrpId {
        U256([hi, 0, 0, lo]).to_id()
    }

    fn route(id: PnrpId) -> RouteEntry {
        let mut a = [0u8; 16];
        a[0] = 0x20;
        a[1] = 0x01;
        a[4..].copy_from_slice(&id.0[20..]);
        RouteEntry {
            id,
            port: 3540,
            addresses: vec![Ipv6Addr::from(a)],
        }
    }

    fn at(t: u64) -> Instant {
        Instant(t)
    }

    fn add(cache: &mut RouteCache, id: PnrpId, t: u64) -> InsertOutcome {
        cache.insert(route(id), None, at(t))
    }

    fn ids(entries: &[&CacheEntry]) -> Vec<PnrpId> {
        entries.iter().map(|e| e.route.id).collect()
    }

    fn roomy() -> CacheConfig {
        CacheConfig {
            per_level: 100_000,
            ..CacheConfig::default()
        }
    }

    #[test]
    fn level_half_widths_are_powers_of_ten_of_half_the_ring() {
        assert_eq!(HALF_WIDTH[1], U256::HALF);
        // 2^255 / 10 = 0x0ccc…cccc (2^255 = 0x8000…; 8/10 = 0.8 = 0xc.cc…/16).
        assert_eq!(HALF_WIDTH[2].0[0], 0x0ccc_cccc_cccc_cccc);
        assert_eq!(HALF_WIDTH[2].0[3], 0xcccc_cccc_cccc_cccc);
        assert!(HALF_WIDTH[MAX_LEVELS] > U256::ZERO);
        assert_eq!(HALF_WIDTH[3], U256::HALF.div_small(100));
        for k in 1..MAX_LEVELS {
            let region = HALF_WIDTH[k].wrapping_sub(HALF_WIDTH[k + 1]);
            assert_eq!(BAND[k], region.div_small(5));
            assert!(BAND[k] > U256::ZERO && BAND_DEEPEST[k] > BAND[k]);
        }
    }

    #[test]
    fn placement_boundaries_near_the_centre() {
        let c = id_u64(0x1234, 0);
        let cache = RouteCache::new(c, CacheConfig::default());
        let cu = U256::from_id(&c);
        let at_dist = |d: U256, up: bool| {
            let id = if up {
                cu.wrapping_add(d)
            } else {
                cu.wrapping_sub(d)
            };
            id.to_id()
        };
        assert_eq!(cache.placement(&c).level, 32);
        // Exactly on the level-2 edge is inside level 2; one more is level 1.
        for up in [true, false] {
            assert_eq!(cache.placement(&at_dist(HALF_WIDTH[2], up)).level, 2);
            let out = HALF_WIDTH[2].wrapping_add(U256::ONE);
            assert_eq!(cache.placement(&at_dist(out, up)).level, 1);
            assert_eq!(cache.placement(&at_dist(HALF_WIDTH[5], up)).level, 5);
        }
        // Level 1's nearest band sits next to the centre on either side.
        let just_out = HALF_WIDTH[2].wrapping_add(U256::ONE);
        assert_eq!(cache.placement(&at_dist(just_out, true)).bucket, 5);
        assert_eq!(cache.placement(&at_dist(just_out, false)).bucket, 4);
        // The antipode is level 1's farthest upper bucket; one step back
        // down is the farthest lower bucket.
        assert_eq!(cache.placement(&at_dist(U256::HALF, true)).bucket, 9);
        let below = U256::HALF.wrapping_sub(U256::ONE);
        assert_eq!(
            cache.placement(&at_dist(below, false)),
            Placement {
                level: 1,
                bucket: 0
            }
        );
    }

    #[test]
    fn placement_wraps_around_two_to_the_256() {
        // Centre just below 2^256; IDs just above zero are its close
        // neighbours, on the upper side.
        let c = U256::MAX.wrapping_sub(U256([0, 0, 0, 2])).to_id(); // 2^256 − 3
        let cache = RouteCache::new(c, CacheConfig::default());
        let near = id_u64(0, 5); // distance 8, upper side
        assert_eq!(cache.placement(&near).level, 32);
        assert!(cache.placement(&near).bucket >= 5);
        let before = U256::from_id(&c).wrapping_sub(U256([0, 0, 0, 8])).to_id();
        assert!(cache.placement(&before).bucket <= 4);
        // Across zero, a level-3 distance.
        let d = HALF_WIDTH[3];
        let across = U256::from_id(&c).wrapping_add(d).to_id();
        assert!(across < c, "wrapped past zero");
        assert_eq!(cache.placement(&across).level, 3);
    }

    #[test]
    fn level_arcs_agree_with_placement_across_the_wrap() {
        let mut rng = Rng(7);
        for centre in [
            PnrpId::ZERO,
            PnrpId([0xff; 32]),
            id_u64(1 << 63, 0),
            rng.id(),
        ] {
            let mut cache = RouteCache::new(centre, roomy());
            let cu = U256::from_id(&centre);
            for &d in &HALF_WIDTH[1..=6] {
                for up in [true, false] {
                    for delta in [0, 1] {
                        let dd = d.wrapping_sub(U256([0, 0, 0, delta]));
                        let id = if up {
                            cu.wrapping_add(dd)
                        } else {
                            cu.wrapping_sub(dd)
                        };
                        let _ = add(&mut cache, id.to_id(), 0);
                    }
                }
            }
            for _ in 0..300 {
                let _ = add(&mut cache, rng.id(), 0);
            }
            cache.check_invariants().unwrap();
        }
    }

    #[test]
    fn one_level_cache_puts_everything_in_level_one() {
        let cfg = CacheConfig {
            max_levels: 1,
            ..roomy()
        };
        let mut cache = RouteCache::new(PnrpId::ZERO, cfg);
        let mut rng = Rng(3);
        for _ in 0..50 {
            let _ = add(&mut cache, rng.id(), 0);
        }
        assert_eq!(cache.level_stats()[0].entries, 50);
        cache.check_invariants().unwrap();
    }

    #[test]
    fn per_level_bound_holds_under_ten_thousand_random_inserts() {
        let mut rng = Rng(0x5eed);
        let centre = rng.id();
        let mut cache = RouteCache::new(centre, CacheConfig::default());
        cache.add_local(centre);
        let (mut added, mut evicted, mut refused) = (0usize, 0usize, 0usize);
        for t in 0..10_000u64 {
            match add(&mut cache, rng.id(), t) {
                InsertOutcome::Added { evicted: e, .. } => {
                    added += 1;
                    evicted += e.len();
                }
                InsertOutcome::Refused(RefuseReason::LevelFull) => refused += 1,
                other => panic!("unexpected {other:?}"),
            }
            if t % 500 == 0 {
                cache.check_invariants().unwrap();
            }
        }
        cache.check_invariants().unwrap();
        assert_eq!(added - evicted, cache.len());
        // Time only moves forward, so a newcomer is never the oldest entry
        // of its level: it always gets in and the level evicts instead.
        assert_eq!(refused, 0);
        assert!(evicted > 9_000, "{evicted}");
        for st in cache.level_stats() {
            assert!(st.entries - st.leaf_members <= 20, "{st:?}");
        }
        assert!(cache.len() <= 32 * 20 + 10);
        // 10^4 uniform IDs fill levels 1–3 and part of 4.
        let stats = cache.level_stats();
        assert!(stats[..3].iter().all(|s| s.entries >= 20), "{stats:?}");
    }

    #[test]
    fn eviction_prefers_the_most_crowded_sub_bucket() {
        let cfg = CacheConfig {
            per_level: 4,
            ..CacheConfig::default()
        };
        let mut cache = RouteCache::new(PnrpId::ZERO, cfg);
        let mid = |b| U256::from_id(&cache.bucket_midpoint(1, b).unwrap());
        let (m9, m2, m6) = (mid(9), mid(2), mid(6));
        // The oldest entry sits alone in bucket 2; bucket 9 holds three.
        let lonely = m2.to_id();
        let crowded: Vec<PnrpId> = (1..=3u64)
            .map(|j| m9.wrapping_add(U256([0, 0, 0, j])).to_id())
            .collect();
        assert!(matches!(
            add(&mut cache, lonely, 1),
            InsertOutcome::Added { .. }
        ));
        for (t, id) in (10..).zip(&crowded) {
            assert!(matches!(
                add(&mut cache, *id, t),
                InsertOutcome::Added { .. }
            ));
        }
        // A newcomer in empty bucket 6 evicts the oldest of bucket 9, not
        // the older but lonely entry of bucket 2.
        let newcomer = m6.to_id();
        match add(&mut cache, newcomer, 20) {
            InsertOutcome::Added { leaf, evicted } => {
                assert!(!leaf);
                assert_eq!(evicted.len(), 1);
                assert_eq!(evicted[0].route.id, crowded[0]);
            }
            other => panic!("{other:?}"),
        }
        assert!(cache.contains(&lonely));
        assert_eq!(cache.level_stats()[0].buckets[9], 2);
        cache.check_invariants().unwrap();
    }

    #[test]
    fn a_newcomer_that_would_be_the_victim_is_refused() {
        let cfg = CacheConfig {
            per_level: 2,
            ..CacheConfig::default()
        };
        let mut cache = RouteCache::new(PnrpId::ZERO, cfg);
        let m9 = U256::from_id(&cache.bucket_midpoint(1, 9).unwrap());
        let a = m9.to_id();
        let b = m9.wrapping_add(U256::ONE).to_id();
        let c = m9.wrapping_add(U256([0, 0, 0, 2])).to_id();
        let _ = add(&mut cache, a, 100);
        let _ = add(&mut cache, b, 100);
        // Validated earlier than both incumbents: it would be evicted first.
        assert_eq!(
            add(&mut cache, c, 50),
            InsertOutcome::Refused(RefuseReason::LevelFull)
        );
        assert_eq!(cache.len(), 2);
        // At the same instant the incumbents go first (smaller ID first).
        match add(&mut cache, c, 100) {
            InsertOutcome::Added { evicted, .. } => assert_eq!(evicted[0].route.id, a),
            other => panic!("{other:?}"),
        }
        // With no room at all, only leaf-set members get in.
        let mut none = RouteCache::new(
            PnrpId::ZERO,
            CacheConfig {
                per_level: 0,
                ..CacheConfig::default()
            },
        );
        assert_eq!(
            add(&mut none, a, 0),
            InsertOutcome::Refused(RefuseReason::LevelFull)
        );
        none.add_local(b);
        assert!(matches!(
            add(&mut none, a, 0),
            InsertOutcome::Added { leaf: true, .. }
        ));
    }

    #[test]
    fn only_a_full_crowded_sub_bucket_with_fresh_entries_makes_a_newcomer_redundant() {
        let cfg = CacheConfig {
            per_level: 3,
            max_levels: 1,
            ..CacheConfig::default()
        };
        let mut cache = RouteCache::new(PnrpId::ZERO, cfg);
        let m9 = U256::from_id(&cache.bucket_midpoint(1, 9).unwrap());
        let m2 = U256::from_id(&cache.bucket_midpoint(1, 2).unwrap());
        let in9 = |k: u64| m9.wrapping_add(U256([0, 0, 0, k])).to_id();
        let in2 = |k: u64| m2.wrapping_add(U256([0, 0, 0, k])).to_id();
        let _ = add(&mut cache, in9(1), 100);
        let _ = add(&mut cache, in9(2), 200);
        // Room left in the level: every newcomer adds something.
        assert!(!cache.would_only_replace(&in9(3), at(0)));
        let _ = add(&mut cache, in2(1), 300);
        // Full, and sub-bucket 9 (2 + the newcomer) is the most crowded:
        // the victim would be its oldest entry, validated at 100.
        assert!(cache.would_only_replace(&in9(3), at(100)));
        assert!(!cache.would_only_replace(&in9(3), at(101)), "stale victim");
        // A newcomer elsewhere would take sub-bucket 9's place: coverage
        // changes, so it is wanted.
        assert!(!cache.would_only_replace(&in2(2), at(0)));
        // Sub-bucket 9 gives up its oldest: 9 holds 1 entry, 2 holds 2.
        let _ = add(&mut cache, in2(2), 400);
        assert!(!cache.contains(&in9(1)));
        assert!(cache.would_only_replace(&in2(3), at(300)));
        // 9 would tie with 2: the victim might come from 2.
        assert!(!cache.would_only_replace(&in9(3), at(0)));
        // Cached IDs are never redundant candidates.
        assert!(!cache.would_only_replace(&in2(2), at(0)));
        cache.check_invariants().unwrap();
    }

    /// The `side` nearest of `all` below and above `local`, nearest first.
    fn brute_leaf_set(all: &[PnrpId], local: &PnrpId, side: usize) -> (Vec<PnrpId>, Vec<PnrpId>) {
        let l = U256::from_id(local);
        let mut up: Vec<PnrpId> = all.iter().copied().filter(|x| x != local).collect();
        up.sort_by_key(|x| U256::from_id(x).wrapping_sub(l));
        let mut down = up.clone();
        down.sort_by_key(|x| l.wrapping_sub(U256::from_id(x)));
        up.truncate(side);
        down.truncate(side);
        (down, up)
    }

    #[test]
    fn leaf_sets_are_exactly_the_nearest_and_never_evicted() {
        let mut rng = Rng(99);
        let l1 = rng.id();
        let l2 = rng.id();
        // Tiny levels: almost everything outside the leaf sets is evicted.
        let cfg = CacheConfig {
            per_level: 1,
            ..CacheConfig::default()
        };
        let mut cache = RouteCache::new(l1, cfg);
        cache.add_local(l1);
        cache.add_local(l2);
        let mut all = Vec::new();
        let mut evicted_ids = Vec::new();
        for t in 0..3_000u64 {
            // Every third ID lands near l2 to stress its leaf set.
            let id = if t % 3 == 0 {
                U256::from_id(&l2)
                    .wrapping_add(U256([0, 0, rng.next() >> 8, rng.next()]))
                    .wrapping_sub(U256([0, 0, 1 << 55, 0]))
                    .to_id()
            } else {
                rng.id()
            };
            all.push(id);
            if let InsertOutcome::Added { evicted, .. } = add(&mut cache, id, t) {
                evicted_ids.extend(evicted.into_iter().map(|e| e.route.id));
            }
        }
        cache.check_invariants().unwrap();
        for local in [l1, l2] {
            let (below, above) = cache.leaf_set(&local);
            let (want_below, want_above) = brute_leaf_set(&all, &local, 5);
            assert_eq!(ids(&below), want_below);
            assert_eq!(ids(&above), want_above);
            for id in want_below.iter().chain(&want_above) {
                assert!(!evicted_ids.contains(id));
                assert!(cache.in_leaf_range(id));
            }
        }
        // Just outside the range: the sixth nearest is not a member.
        let (_, wider) = brute_leaf_set(&all, &l1, 6);
        assert!(!cache.in_leaf_range_of(&l1, &wider[5]));
    }

    #[test]
    fn small_caches_put_every_entry_in_the_leaf_set() {
        let local = id_u64(1 << 62, 0);
        let mut cache = RouteCache::new(local, CacheConfig::default());
        cache.add_local(local);
        let mut rng = Rng(5);
        for n in 1..=9u64 {
            let InsertOutcome::Added { leaf, .. } = add(&mut cache, rng.id(), n) else {
                panic!("refused");
            };
            assert!(leaf);
            let (below, above) = cache.leaf_set(&local);
            assert_eq!(below.len() + above.len(), cache.len());
            assert!(above.len() >= below.len());
        }
        assert!(cache.in_leaf_range(&rng.id()), "leaf set not full yet");
    }

    #[test]
    fn losing_leaf_protection_reapplies_the_level_bound() {
        let mut rng = Rng(11);
        let local = rng.id();
        let cfg = CacheConfig {
            per_level: 0,
            ..CacheConfig::default()
        };
        let mut cache = RouteCache::new(local, cfg);
        cache.add_local(local);
        let mut n = 0;
        for t in 0..200 {
            if matches!(add(&mut cache, rng.id(), t), InsertOutcome::Added { .. }) {
                n += 1;
            }
        }
        assert!(n > 10);
        assert_eq!(cache.len(), 10, "only the leaf set survives");
        let evicted = cache.remove_local(&local).unwrap();
        assert_eq!(evicted.len(), 10);
        assert!(cache.is_empty());
        assert_eq!(cache.remove_local(&local), None);
    }

    #[test]
    fn local_ids_are_never_cached() {
        let mut cache = RouteCache::new(PnrpId::ZERO, CacheConfig::default());
        let x = id_u64(5, 5);
        let _ = add(&mut cache, x, 0);
        assert!(cache.add_local(x));
        assert!(!cache.add_local(x));
        assert!(!cache.contains(&x));
        assert_eq!(
            add(&mut cache, x, 1),
            InsertOutcome::Refused(RefuseReason::LocalId)
        );
    }

    #[test]
    fn malformed_entries_are_refused() {
        let mut cache = RouteCache::new(PnrpId::ZERO, CacheConfig::default());
        let mut r = route(id_u64(1, 1));
        r.port = 80;
        assert_eq!(
            cache.insert(r.clone(), None, at(0)),
            InsertOutcome::Refused(RefuseReason::PrivilegedPort)
        );
        r.port = 3540;
        r.addresses.clear();
        assert_eq!(
            cache.insert(r, None, at(0)),
            InsertOutcome::Refused(RefuseReason::NoAddress)
        );
        assert!(cache.is_empty());
    }

    fn verified_cpa(location: u64) -> VerifiedCpa {
        use crate::cpa::{CpaContent, VerifyContext};
        use crate::crypto::{P256Signer, P256Verifier};
        use crate::id::ServiceLocation;
        use crate::name::PeerName;

        let now = UnixTime(1_700_000_000);
        let name: PeerName = "0.cachetest".parse().unwrap();
        let mut c = CpaContent::new(
            &name,
            ServiceLocation::new(1, location),
            now.plus_secs(86_400),
        );
        c.nonce = [7; 16];
        c.service_addresses = vec![Endpoint {
            addr: "2001:db8::1".parse().unwrap(),
            port: 3540,
        }];
        let mut scalar = [0u8; 32];
        scalar[31] = 3;
        let signer = P256Signer::from_scalar_bytes(&scalar).unwrap();
        c.sign(&signer, now)
            .unwrap()
            .verify(
                &P256Verifier,
                &VerifyContext::inquiry(now, [7; 16]).expecting(c.pnrp_id()),
            )
            .unwrap()
    }

    #[test]
    fn cpa_must_match_the_entry_and_expiry_evicts_it() {
        let cpa = verified_cpa(42);
        let id = cpa.pnrp_id();
        let mut cache = RouteCache::new(PnrpId::ZERO, CacheConfig::default());
        assert_eq!(
            cache.insert(route(id_u64(3, 3)), Some(&cpa), at(0)),
            InsertOutcome::Refused(RefuseReason::CpaMismatch)
        );
        assert_eq!(cache.cpa_generation(), 0, "a refused CPA is not counted");
        assert!(matches!(
            cache.insert(route(id), Some(&cpa), at(0)),
            InsertOutcome::Added { .. }
        ));
        assert_eq!(cache.cpa_generation(), 1);
        let _ = add(&mut cache, id_u64(9, 9), 0);
        // Refreshing the same route without a CPA keeps the CPA…
        assert_eq!(add(&mut cache, id, 5), InsertOutcome::Refreshed);
        assert!(cache.get(&id).unwrap().cpa.is_some());
        assert_eq!(cache.get(&id).unwrap().validated, at(5));
        // …a changed route without one drops it.
        let mut moved = route(id);
        moved.port = 4000;
        assert_eq!(cache.insert(moved, None, at(6)), InsertOutcome::Refreshed);
        assert!(cache.get(&id).unwrap().cpa.is_none());
        assert_eq!(cache.cpa_generation(), 1, "inserts without a CPA");
        assert_eq!(
            cache.insert(route(id), Some(&cpa), at(7)),
            InsertOutcome::Refreshed
        );
        assert_eq!(cache.cpa_generation(), 2, "a refresh that brings a CPA");
        assert_eq!(
            cache.get(&id).unwrap().cpa.as_deref(),
            Some(&CpaRecord::of(&cpa))
        );
        assert!(cache.memory_bytes() > 2 * size_of::<CacheEntry>() + size_of::<CpaRecord>());
        assert!(cache.evict_expired(UnixTime(1_700_000_000)).is_empty());
        let gone = cache.evict_expired(UnixTime(1_700_000_000 + 86_401));
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].route.id, id);
        assert_eq!(cache.len(), 1, "entries without a CPA stay");
    }

    #[test]
    fn touch_raises_validation_time_and_reads_do_not() {
        let mut cache = RouteCache::new(PnrpId::ZERO, CacheConfig::default());
        let x = id_u64(1, 2);
        let _ = add(&mut cache, x, 10);
        let _ = cache.get(&x);
        let _ = cache.closest(&x, &Query::ANY);
        assert_eq!(cache.get(&x).unwrap().validated, at(10));
        assert!(cache.touch(&x, at(30)));
        assert!(cache.touch(&x, at(20)));
        assert_eq!(cache.get(&x).unwrap().validated, at(30));
        assert!(!cache.touch(&id_u64(7, 7), at(1)));
    }

    #[test]
    fn closest_breaks_distance_ties_towards_the_smaller_id() {
        let mut cache = RouteCache::new(PnrpId::ZERO, roomy());
        let (a, b) = (id_u64(0, 90), id_u64(0, 110));
        let _ = add(&mut cache, a, 0);
        let _ = add(&mut cache, b, 0);
        let t = id_u64(0, 100);
        assert_eq!(cache.closest(&t, &Query::ANY).unwrap().route.id, a);
        // closer_than is strict: an equally distant bound admits nothing.
        let q = Query {
            closer_than: Some(b),
            ..Query::ANY
        };
        assert!(cache.closest(&t, &q).is_none());
        let q = Query {
            exclude_ids: &[a],
            ..Query::ANY
        };
        assert_eq!(cache.closest(&t, &q).unwrap().route.id, b);
        let ep: Vec<Endpoint> = route(b).endpoints().collect();
        let q = Query {
            exclude_ids: &[a],
            exclude_endpoints: &ep,
            ..Query::ANY
        };
        assert!(cache.closest(&t, &q).is_none());
        // Across zero.
        let max = PnrpId([0xff; 32]);
        assert_eq!(cache.closest(&max, &Query::ANY).unwrap().route.id, a);
    }

    #[test]
    fn neighbours_wrap_around_the_ring() {
        let mut cache = RouteCache::new(PnrpId::ZERO, roomy());
        assert_eq!(cache.neighbours(&PnrpId::ZERO), (None, None));
        let (a, b, c) = (id_u64(1, 1), id_u64(2, 2), id_u64(3, 3));
        let _ = add(&mut cache, a, 0);
        let (lo, hi) = cache.neighbours(&a);
        assert!(lo.is_none() && hi.is_none(), "only itself");
        let (lo, hi) = cache.neighbours(&b);
        assert_eq!((lo.unwrap().route.id, hi.unwrap().route.id), (a, a));
        let _ = add(&mut cache, b, 0);
        let _ = add(&mut cache, c, 0);
        let n = |x: &PnrpId| {
            let (lo, hi) = cache.neighbours(x);
            (lo.unwrap().route.id, hi.unwrap().route.id)
        };
        assert_eq!(n(&a), (c, b));
        assert_eq!(n(&c), (b, a));
        assert_eq!(n(&PnrpId([0xff; 32])), (c, a));
        assert_eq!(n(&id_u64(2, 5)), (b, c));
        let ep: Vec<Endpoint> = route(b).endpoints().collect();
        let q = Query {
            exclude_endpoints: &ep,
            ..Query::ANY
        };
        let (lo, hi) = cache.neighbours_matching(&c, &q);
        assert_eq!((lo.unwrap().route.id, hi.unwrap().route.id), (a, a));
    }

    #[test]
    fn spread_sample_spreads_around_the_ring() {
        let mut rng = Rng(21);
        let centre = rng.id();
        let mut cache = RouteCache::new(centre, CacheConfig::default());
        cache.add_local(centre);
        for t in 0..10_000 {
            let _ = add(&mut cache, rng.id(), t);
        }
        // Most entries crowd near the centre; the sample must not.
        let sample = cache.spread_sample(5);
        assert_eq!(sample.len(), 5);
        assert!(sample.windows(2).all(|w| w[0] < w[1]));
        let mut largest_gap = U256::ZERO;
        for (i, a) in sample.iter().enumerate() {
            let b = sample[(i + 1) % sample.len()];
            let gap = U256::from_id(&b).wrapping_sub(U256::from_id(a));
            largest_gap = largest_gap.max(gap);
        }
        // Ideal gap is 1/5 of the ring; allow 2/5.
        assert!(
            largest_gap < U256::MAX.div_small(5).mul_small(2),
            "{sample:?}"
        );
        // Few entries: all of them; none asked: none.
        let mut small = RouteCache::new(centre, CacheConfig::default());
        let _ = add(&mut small, id_u64(1, 1), 0);
        let _ = add(&mut small, id_u64(1, 2), 0);
        assert_eq!(small.spread_sample(5), vec![id_u64(1, 1), id_u64(1, 2)]);
        assert!(cache.spread_sample(0).is_empty());
        // Clustered entries still give n distinct IDs.
        let mut clustered = RouteCache::new(PnrpId::ZERO, roomy());
        for j in 0..40 {
            let _ = add(&mut clustered, id_u64(7, j), 0);
        }
        assert_eq!(clustered.spread_sample(5).len(), 5);
    }

    #[test]
    fn cloud_size_estimate_is_exact_for_evenly_spaced_ids() {
        let n = 1_000u64;
        let step = U256::MAX.div_small(n).wrapping_add(U256::ONE);
        let local = step.mul_small(500).to_id();
        let mut cache = RouteCache::new(local, CacheConfig::default());
        cache.add_local(local);
        for j in (0..n).filter(|&j| j != 500) {
            let _ = add(&mut cache, step.mul_small(j).to_id(), 0);
        }
        let est = cache.estimate_cloud_size().unwrap();
        assert!((999..=1_001).contains(&est), "{est}");
    }

    #[test]
    fn cloud_size_estimate_is_near_truth_for_random_ids() {
        // One estimate is 2N/G with G ~ Gamma(2): it misses 2× a third of
        // the time. Its median is ≈ 1.19 N; test that over many clouds.
        let n = 1_000;
        let mut estimates = Vec::new();
        for seed in 1..=101u64 {
            let mut rng = Rng(seed * 0x9e37_79b9);
            let local = rng.id();
            let mut cache = RouteCache::new(local, CacheConfig::default());
            cache.add_local(local);
            for t in 0..n - 1 {
                let _ = add(&mut cache, rng.id(), t);
            }
            estimates.push(cache.estimate_cloud_size().unwrap());
        }
        estimates.sort_unstable();
        let median = estimates[50];
        assert!((800..=1_600).contains(&median), "median {median}");
        let within_2x = estimates
            .iter()
            .filter(|&&e| (500..=2_000).contains(&e))
            .count();
        assert!(within_2x >= 50, "{within_2x} of 101 within 2x");
    }

    #[test]
    fn cloud_size_estimate_skips_crowded_and_lonely_ids() {
        let local = id_u64(1 << 62, 0);
        let mut cache = RouteCache::new(local, CacheConfig::default());
        assert_eq!(cache.estimate_cloud_size(), None, "no local ID");
        cache.add_local(local);
        let _ = add(&mut cache, id_u64(1 << 63, 0), 0);
        assert_eq!(cache.estimate_cloud_size(), None, "one neighbour");
        // Neighbours 2 apart: 2^256 IDs, far above the 2^32 cut-off.
        let lu = U256::from_id(&local);
        let _ = add(&mut cache, lu.wrapping_sub(U256::ONE).to_id(), 0);
        let _ = add(&mut cache, lu.wrapping_add(U256::ONE).to_id(), 0);
        assert_eq!(cache.estimate_cloud_size(), None);
    }

    #[test]
    fn remove_and_reinsert_restore_the_entry() {
        let mut rng = Rng(4);
        let local = rng.id();
        let mut cache = RouteCache::new(local, CacheConfig::default());
        cache.add_local(local);
        for t in 0..50 {
            let _ = add(&mut cache, rng.id(), t);
        }
        let (_, above) = cache.leaf_set(&local);
        let first = above[0].route.id;
        let before: Vec<PnrpId> = cache.iter().map(|e| e.route.id).collect();
        let removed = cache.remove(&first).unwrap();
        assert!(!cache.contains(&first));
        assert_eq!(cache.len(), before.len() - 1);
        assert_ne!(cache.leaf_set(&local).1[0].route.id, first);
        assert!(cache.remove(&first).is_none());
        assert!(removed.cpa.is_none());
        let out = cache.insert(removed.route, None, removed.validated);
        assert!(matches!(out, InsertOutcome::Added { leaf: true, .. }));
        let after: Vec<PnrpId> = cache.iter().map(|e| e.route.id).collect();
        assert_eq!(after, before);
        cache.check_invariants().unwrap();
    }

    #[test]
    fn set_centre_rebuckets_and_keeps_the_bound() {
        let mut rng = Rng(8);
        let cfg = CacheConfig {
            per_level: 3,
            ..CacheConfig::default()
        };
        let mut cache = RouteCache::new(PnrpId::ZERO, cfg);
        for t in 0..2_000 {
            let _ = add(&mut cache, rng.id(), t);
        }
        let len = cache.len();
        let far = id_u64(1 << 63, 0);
        let evicted = cache.set_centre(far);
        assert_eq!(cache.centre(), far);
        assert_eq!(cache.len() + evicted.len(), len);
        cache.check_invariants().unwrap();
        assert!(cache.set_centre(far).is_empty());
    }

    #[test]
    fn iteration_is_in_ring_order_and_deterministic() {
        let run = || {
            let mut rng = Rng(1234);
            let local = rng.id();
            let mut cache = RouteCache::new(local, CacheConfig::default());
            cache.add_local(local);
            let mut log = Vec::new();
            for t in 0..3_000 {
                log.push(add(&mut cache, rng.id(), t));
            }
            (cache, log)
        };
        let (a, log_a) = run();
        let (b, log_b) = run();
        assert_eq!(log_a, log_b);
        let ia: Vec<&CacheEntry> = a.iter().collect();
        let ib: Vec<&CacheEntry> = (&b).into_iter().collect();
        assert_eq!(ia, ib);
        assert!(ia.windows(2).all(|w| w[0].route.id < w[1].route.id));
        assert_eq!(a.spread_sample(5), b.spread_sample(5));
        assert_eq!(a.level_stats(), b.level_stats());
    }

    #[test]
    fn memory_stays_within_budget_for_a_large_cloud() {
        let mut rng = Rng(77);
        let local = rng.id();
        let mut cache = RouteCache::new(local, CacheConfig::default());
        cache.add_local(local);
        for t in 0..100_000 {
            let _ = add(&mut cache, rng.id(), t);
        }
        cache.check_invariants().unwrap();
        let bytes = cache.memory_bytes();
        let per_entry = bytes / cache.len();
        assert!(cache.len() <= 130, "{} entries", cache.len());
        assert!(per_entry <= 140, "{per_entry} bytes per entry");
        assert!(bytes <= 16 * 1024, "{bytes} bytes");
    }

    /// IDs from a coarse grid (top and bottom limbs only) so that distance
    /// ties, exact hits and wrap-around are common.
    fn arb_id() -> impl Strategy<Value = PnrpId> {
        prop_oneof![
            any::<[u8; 32]>().prop_map(PnrpId),
            (any::<u8>(), 0u64..64).prop_map(|(hi, lo)| id_u64(u64::from(hi) << 56, lo)),
        ]
    }

    proptest! {
        #[test]
        fn closest_matches_a_brute_force_scan(
            all in proptest::collection::vec(arb_id(), 0..120),
            centre in arb_id(),
            target in arb_id(),
            bound in proptest::option::of(arb_id()),
            exclude in proptest::collection::vec(any::<proptest::sample::Index>(), 0..6),
            n in 1usize..6,
            small_levels in any::<bool>(),
        ) {
            let cfg = if small_levels { CacheConfig::default() } else { roomy() };
            let mut cache = RouteCache::new(centre, cfg);
            for (t, id) in (0u64..).zip(&all) {
                let _ = add(&mut cache, *id, t);
            }
            cache.check_invariants().unwrap();
            let cached: Vec<&CacheEntry> = cache.iter().collect();
            let (ex_ids, ex_eps): (Vec<PnrpId>, Vec<Endpoint>) = if cached.is_empty() {
                (vec![], vec![])
            } else {
                let picked: Vec<&CacheEntry> = exclude.iter().map(|i| *i.get(&cached)).collect();
                let half = picked.len() / 2;
                (
                    picked[..half].iter().map(|e| e.route.id).collect(),
                    picked[half..].iter().flat_map(|e| e.route.endpoints()).collect(),
                )
            };
            let q = Query { exclude_endpoints: &ex_eps, closer_than: bound, exclude_ids: &ex_ids };
            let mut brute: Vec<&CacheEntry> = cached
                .iter()
                .copied()
                .filter(|e| q.admits(e) && q.close_enough(e, &target))
                .collect();
            brute.sort_by(|a, b| target.cmp_closeness(&a.route.id, &b.route.id));
            prop_assert_eq!(cache.closest(&target, &q).map(|e| e.route.id), brute.first().map(|e| e.route.id));
            brute.truncate(n);
            prop_assert_eq!(ids(&cache.closest_n(&target, n, &q)), ids(&brute));
            // The unfiltered walk visits every entry once, in closeness order.
            let walk: Vec<PnrpId> = cache.by_distance(&target).map(|e| e.route.id).collect();
            let mut sorted: Vec<PnrpId> = cached.iter().map(|e| e.route.id).collect();
            sorted.sort_by(|a, b| target.cmp_closeness(a, b));
            prop_assert_eq!(walk, sorted);
        }

        #[test]
        fn leaf_sets_match_brute_force(
            all in proptest::collection::vec(arb_id(), 0..60),
            local in arb_id(),
            probe in arb_id(),
        ) {
            let mut cache = RouteCache::new(local, CacheConfig { per_level: 0, ..CacheConfig::default() });
            cache.add_local(local);
            let mut kept = Vec::new();
            for (t, id) in (0u64..).zip(&all) {
                if *id != local && !kept.contains(id) {
                    kept.push(*id);
                }
                let _ = add(&mut cache, *id, t);
            }
            cache.check_invariants().unwrap();
            let (below, above) = cache.leaf_set(&local);
            let members: Vec<PnrpId> = ids(&below).into_iter().chain(ids(&above)).collect();
            if kept.len() >= 10 {
                let (want_below, want_above) = brute_leaf_set(&kept, &local, 5);
                prop_assert_eq!(ids(&below), want_below);
                prop_assert_eq!(ids(&above), want_above);
            } else {
                prop_assert_eq!(members.len(), kept.len());
            }
            // per_level 0: exactly the leaf set is cached.
            prop_assert_eq!(cache.len(), members.len());
            // in_leaf_range agrees with what inserting the probe does.
            if probe != local && !cache.contains(&probe) {
                let predicted = cache.in_leaf_range(&probe);
                let got = add(&mut cache, probe, 1_000);
                prop_assert_eq!(predicted, matches!(got, InsertOutcome::Added { leaf: true, .. }));
            }
        }
    }

    // ---- the old full recomputation, as an oracle --------------------------

    /// `in_leaf_range` as it was: every local ID asked in turn.
    fn in_leaf_range_oracle(cache: &RouteCache, id: &PnrpId) -> bool {
        cache.locals.iter().any(|l| cache.in_leaf_range_of(l, id))
    }

    /// `enforce` as it was: the leaf sets recomputed before every eviction.
    fn enforce_oracle(cache: &mut RouteCache, level: usize, evicted: &mut Vec<CacheEntry>) {
        loop {
            let leaf = cache.leaf_ids();
            let victim = cache.pick_victim_by(
                level,
                |i| leaf.binary_search(&cache.entries[i].route.id).is_ok(),
                None,
            );
            match victim {
                Some(Victim::At(i)) => evicted.push(cache.remove_at(i)),
                Some(Victim::Newcomer) | None => break,
            }
        }
    }

    /// `enforce_unprotected` as it was: every member before against every
    /// member after.
    fn enforce_unprotected_oracle(
        cache: &mut RouteCache,
        before: &[PnrpId],
        evicted: &mut Vec<CacheEntry>,
    ) {
        let after = cache.leaf_ids();
        let mut levels: Vec<usize> = before
            .iter()
            .filter(|id| after.binary_search(id).is_err() && cache.contains(id))
            .map(|id| cache.placement(id).level)
            .collect();
        levels.sort_unstable();
        levels.dedup();
        for level in levels {
            enforce_oracle(cache, level, evicted);
        }
    }

    /// `insert` as it was, deciding from leaf sets recomputed in full.
    fn insert_oracle(
        cache: &mut RouteCache,
        route: RouteEntry,
        cpa: Option<&VerifiedCpa>,
        now: Instant,
    ) -> InsertOutcome {
        if let Err(reason) = cache.admissible(&route, cpa) {
            return InsertOutcome::Refused(reason);
        }
        let cpa = cpa.map(|c| Box::new(CpaRecord::of(c)));
        let pos = match cache.search(&route.id) {
            Ok(i) => {
                let e = &mut cache.entries[i];
                if cpa.is_some() || e.route != route {
                    e.cpa = cpa;
                }
                e.route = route;
                e.validated = e.validated.max(now);
                return InsertOutcome::Refreshed;
            }
            Err(pos) => pos,
        };
        let entry = CacheEntry {
            route,
            cpa,
            validated: now,
        };
        if in_leaf_range_oracle(cache, &entry.route.id) {
            let before = cache.leaf_ids();
            let _ = cache.insert_at(pos, entry, true);
            let mut evicted = Vec::new();
            enforce_unprotected_oracle(cache, &before, &mut evicted);
            return InsertOutcome::Added {
                leaf: true,
                evicted,
            };
        }
        let level = cache.placement(&entry.route.id).level;
        let leaf = cache.leaf_ids();
        let victim = cache.pick_victim_by(
            level,
            |i| leaf.binary_search(&cache.entries[i].route.id).is_ok(),
            Some(&entry),
        );
        match victim {
            None => {
                let _ = cache.insert_at(pos, entry, false);
                InsertOutcome::Added {
                    leaf: false,
                    evicted: Vec::new(),
                }
            }
            Some(Victim::Newcomer) => InsertOutcome::Refused(RefuseReason::LevelFull),
            Some(Victim::At(i)) => {
                let old = cache.remove_at(i);
                let _ = cache.insert_at(if i < pos { pos - 1 } else { pos }, entry, false);
                InsertOutcome::Added {
                    leaf: false,
                    evicted: vec![old],
                }
            }
        }
    }

    /// Every empty sub-bucket (level, bucket) of every level.
    fn empty_buckets(cache: &RouteCache) -> std::collections::BTreeSet<(usize, usize)> {
        cache
            .level_stats()
            .iter()
            .flat_map(LevelStat::empty_buckets)
            .collect()
    }

    /// `evict_expired` as it was: every entry scanned, whatever the bound.
    fn evict_expired_oracle(cache: &mut RouteCache, now: UnixTime) -> Vec<CacheEntry> {
        let expired = |e: &CacheEntry| e.cpa.as_ref().is_some_and(|c| c.not_after < now);
        let gone: Vec<CacheEntry> = cache.entries.extract_if(.., |e| expired(e)).collect();
        if !gone.is_empty() {
            cache.rebuild_meta();
            cache.trim_capacity();
        }
        gone
    }

    /// `remove_local` as it was.
    fn remove_local_oracle(cache: &mut RouteCache, id: &PnrpId) -> Option<Vec<CacheEntry>> {
        let at = cache.locals.binary_search(id).ok()?;
        let before = cache.leaf_ids();
        cache.locals.remove(at);
        cache.local_at.remove(at);
        let _ = cache.reprotect_around_gap(cache.lower_bound(id));
        let mut evicted = Vec::new();
        enforce_unprotected_oracle(cache, &before, &mut evicted);
        Some(evicted)
    }

    /// `set_centre` as it was.
    fn set_centre_oracle(cache: &mut RouteCache, centre: PnrpId) -> Vec<CacheEntry> {
        let mut evicted = Vec::new();
        if centre == cache.centre {
            return evicted;
        }
        cache.centre = centre;
        cache.refresh_placements();
        for level in 1..=cache.config.max_levels {
            enforce_oracle(cache, level, &mut evicted);
        }
        evicted
    }

    /// `level_stats` as it was, from the recomputed leaf sets.
    fn level_stats_oracle(cache: &RouteCache) -> Vec<LevelStat> {
        let leaf = cache.leaf_ids();
        (1..=cache.config.max_levels)
            .map(|level| {
                let mut st = LevelStat {
                    level,
                    entries: 0,
                    leaf_members: 0,
                    buckets: [0; BUCKETS],
                };
                for i in cache.level_ranges(level).into_iter().flatten() {
                    let id = &cache.entries[i].route.id;
                    st.entries += 1;
                    if leaf.binary_search(id).is_ok() {
                        st.leaf_members += 1;
                    } else {
                        st.buckets[cache.placement(id).bucket] += 1;
                    }
                }
                st
            })
            .collect()
    }

    /// A few verified CPAs (signing is slow: made once), valid for a day
    /// from 1,700,000,000.
    fn shared_cpas() -> &'static [VerifiedCpa] {
        static CPAS: std::sync::OnceLock<Vec<VerifiedCpa>> = std::sync::OnceLock::new();
        CPAS.get_or_init(|| (0..4).map(|k| verified_cpa(1000 + k)).collect())
    }

    /// A route entry for `id`, at a shared address when `owner` is given
    /// (a node holding several IDs), else at its own.
    fn owned_route(id: PnrpId, owner: Option<u8>) -> RouteEntry {
        match owner {
            None => route(id),
            Some(k) => RouteEntry {
                id,
                port: 3540,
                addresses: vec![Ipv6Addr::from([
                    0x2001,
                    0xdb8,
                    0xffff,
                    0,
                    0,
                    0,
                    0,
                    u16::from(k),
                ])],
            },
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(PnrpId, Option<u8>),
        InsertWithCpa(usize),
        Remove(proptest::sample::Index),
        AddLocal(PnrpId),
        RemoveLocal(proptest::sample::Index),
        SetCentre(PnrpId),
        EvictExpired,
    }

    fn arb_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            12 => (arb_id(), proptest::option::of(0u8..3)).prop_map(|(id, o)| Op::Insert(id, o)),
            1 => (0usize..4).prop_map(Op::InsertWithCpa),
            2 => any::<proptest::sample::Index>().prop_map(Op::Remove),
            4 => arb_id().prop_map(Op::AddLocal),
            2 => any::<proptest::sample::Index>().prop_map(Op::RemoveLocal),
            1 => arb_id().prop_map(Op::SetCentre),
            1 => Just(Op::EvictExpired),
        ]
    }

    fn snapshot(cache: &RouteCache) -> Vec<(PnrpId, Instant, bool)> {
        cache
            .iter()
            .map(|e| (e.route.id, e.validated, e.cpa.is_some()))
            .collect()
    }

    fn evicted_ids(v: &[CacheEntry]) -> Vec<PnrpId> {
        v.iter().map(|e| e.route.id).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// The incremental leaf-set flags make exactly the decisions of the
        /// old full recomputation, on caches with many local IDs: same
        /// outcomes, same evictions in the same order, same entries; the
        /// flags equal the recomputed leaf sets after every step; and
        /// `in_leaf_range` agrees with asking every local ID.
        #[test]
        fn incremental_leaf_sets_match_the_full_recomputation(
            centre in arb_id(),
            initial_locals in proptest::collection::vec(arb_id(), 0..40),
            ops in proptest::collection::vec(arb_op(), 1..160),
            probes in proptest::collection::vec(arb_id(), 4),
            per_level in 0usize..24,
            side in 0usize..7,
            max_levels in 1usize..6,
        ) {
            let cfg = CacheConfig { per_level, leaf_set_side: side, max_levels };
            let mut new = RouteCache::new(centre, cfg);
            let mut old = RouteCache::new(centre, cfg);
            for l in &initial_locals {
                prop_assert_eq!(new.add_local(*l), old.add_local(*l));
            }
            let cpas = shared_cpas();
            for (t, op) in (0u64..).zip(&ops) {
                let gaps_before = (
                    new.gap_generation(),
                    empty_buckets(&new),
                    new.estimate_cloud_size(),
                );
                match op {
                    Op::Insert(id, owner) => {
                        let a = new.insert(owned_route(*id, *owner), None, at(t));
                        let b = insert_oracle(&mut old, owned_route(*id, *owner), None, at(t));
                        prop_assert_eq!(a, b);
                    }
                    Op::InsertWithCpa(k) => {
                        let cpa = &cpas[*k];
                        let r = route(cpa.pnrp_id());
                        let a = new.insert(r.clone(), Some(cpa), at(t));
                        let b = insert_oracle(&mut old, r, Some(cpa), at(t));
                        prop_assert_eq!(a, b);
                    }
                    Op::Remove(i) => {
                        if !new.is_empty() {
                            let id = i.get(&new.entries).route.id;
                            prop_assert_eq!(new.remove(&id), old.remove(&id));
                        }
                    }
                    Op::AddLocal(id) => {
                        prop_assert_eq!(new.add_local(*id), old.add_local(*id));
                    }
                    Op::RemoveLocal(i) => {
                        if !new.locals.is_empty() {
                            let id = *i.get(&new.locals);
                            let a = new.remove_local(&id).map(|v| evicted_ids(&v));
                            let b = remove_local_oracle(&mut old, &id).map(|v| evicted_ids(&v));
                            prop_assert_eq!(a, b);
                        }
                    }
                    Op::SetCentre(c) => {
                        let a = evicted_ids(&new.set_centre(*c));
                        let b = evicted_ids(&set_centre_oracle(&mut old, *c));
                        prop_assert_eq!(a, b);
                    }
                    Op::EvictExpired => {
                        let when = UnixTime(1_700_000_000 + 86_401);
                        prop_assert_eq!(
                            evicted_ids(&new.evict_expired(when)),
                            evicted_ids(&evict_expired_oracle(&mut old, when))
                        );
                    }
                }
                prop_assert_eq!(snapshot(&new), snapshot(&old));
                prop_assert_eq!(&new.locals, &old.locals);
                let leaf = new.leaf_ids();
                for (e, m) in new.entries.iter().zip(&new.meta) {
                    prop_assert_eq!(m.protected, leaf.binary_search(&e.route.id).is_ok());
                }
                for probe in probes.iter().chain(new.locals.first()) {
                    prop_assert_eq!(new.in_leaf_range(probe), in_leaf_range_oracle(&new, probe));
                }
                prop_assert_eq!(new.check_invariants(), Ok(()));
                prop_assert_eq!(new.level_stats(), level_stats_oracle(&new));
                // While gap_generation stands still no sub-bucket empties
                // and the size estimate holds.
                let after = (empty_buckets(&new), new.estimate_cloud_size());
                if new.gap_generation() == gaps_before.0 {
                    prop_assert!(after.0.is_subset(&gaps_before.1));
                    prop_assert_eq!(after.1, gaps_before.2);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Skipping runs of entries with an excluded endpoint returns what a
        /// full scan returns, with long runs (past the 255 the run lengths
        /// count to) and few owners.
        #[test]
        fn closest_with_excluded_endpoints_matches_a_brute_force_scan(
            mut all in proptest::collection::vec(arb_id(), 0..900),
            blocks in proptest::collection::vec((proptest::option::of(0u8..3), 1usize..400), 1..6),
            target in arb_id(),
            bound in proptest::option::of(arb_id()),
            excluded_owners in proptest::collection::vec(0u8..3, 0..3),
            exclude_ids in proptest::collection::vec(any::<proptest::sample::Index>(), 0..4),
            unique_excluded in proptest::collection::vec(any::<proptest::sample::Index>(), 0..3),
            n in 1usize..5,
            removals in proptest::collection::vec(any::<proptest::sample::Index>(), 0..40),
        ) {
            // Owners hold contiguous blocks of IDs, so runs get long.
            all.sort_unstable();
            let owners = blocks.iter().cycle().flat_map(|&(o, len)| core::iter::repeat_n(o, len));
            let mut cache = RouteCache::new(target, roomy());
            for (t, (id, owner)) in (0u64..).zip(all.iter().zip(owners)) {
                let _ = cache.insert(owned_route(*id, owner), None, at(t));
            }
            for r in &removals {
                if !cache.is_empty() {
                    let id = r.get(&cache.entries).route.id;
                    let _ = cache.remove(&id);
                }
            }
            cache.check_invariants().unwrap();
            let cached: Vec<&CacheEntry> = cache.iter().collect();
            let mut ex_eps: Vec<Endpoint> = excluded_owners
                .iter()
                .flat_map(|k| owned_route(PnrpId::ZERO, Some(*k)).endpoints().collect::<Vec<_>>())
                .collect();
            let mut ex_ids = Vec::new();
            if !cached.is_empty() {
                ex_eps.extend(unique_excluded.iter().flat_map(|i| i.get(&cached).route.endpoints()));
                ex_ids.extend(exclude_ids.iter().map(|i| i.get(&cached).route.id));
            }
            let q = Query { exclude_endpoints: &ex_eps, closer_than: bound, exclude_ids: &ex_ids };
            let mut brute: Vec<&CacheEntry> = cached
                .iter()
                .copied()
                .filter(|e| q.admits(e) && q.close_enough(e, &target))
                .collect();
            brute.sort_by(|a, b| target.cmp_closeness(&a.route.id, &b.route.id));
            brute.truncate(n);
            prop_assert_eq!(ids(&cache.closest_n(&target, n, &q)), ids(&brute));
        }
    }
}
