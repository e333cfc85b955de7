//! Identifiers of the PNRP ID space: [`ClassifierHash`], [`BinaryAuthority`],
//! [`P2pId`], [`ServiceLocation`] and the 256-bit [`PnrpId`], with ring
//! arithmetic ([`PnrpId::distance`]) and ordering.
//!
//! Profile (design §3, `docs/protocol.md` §3): every hash is SHA-256 truncated
//! to the field width of MS-PNRP (DEVIATION from SHA-1, sizes unchanged).
//!
//! * `ClassifierHash` = first 160 bits of SHA-256 over the UTF-8 bytes of the
//!   canonical (NFC, lowercase) classifier, no terminator.
//! * `BinaryAuthority` = first 160 bits of SHA-256 over the 33-byte SEC1
//!   compressed P-256 public key; 20 zero bytes for unsecured names.
//! * `P2pId` = first 128 bits of SHA-256(CH ‖ BA ‖ CH ‖ "PNRP").
//! * `PnrpId` = P2P ID (upper 128 bits) ‖ service location (lower 128 bits),
//!   held most-significant byte first, exactly as it travels in messages.
//!
//! The ID space is a ring of size 2^256 (MS-PNRP §1.3.3): the distance between
//! two IDs is the shorter way round.

use core::cmp::Ordering;
use core::fmt;
use std::net::IpAddr;

use sha2::{Digest, Sha256};

/// The constant appended to the P2P ID hash input (MS-PNRP §3.1.4.4.1, "Goo").
const P2P_ID_SUFFIX: &[u8; 4] = b"PNRP";

/// Service-location suffix used when resolving: the middle of the suffix range
/// (MS-PNRP §3.1.4.4), so the target sits amid all registrations sharing a
/// prefix.
pub const RESOLVE_SUFFIX: u64 = 0x8000_0000_0000_0000;

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn first<const N: usize>(digest: &[u8; 32]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&digest[..N]);
    out
}

macro_rules! hex_debug {
    ($t:ident) => {
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($t), "({})"), self)
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                for b in &self.0 {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }
    };
}

/// 160-bit hash of a canonical classifier (MS-PNRP §1.3.1.2; SHA-256/160 here).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClassifierHash(pub [u8; 20]);
hex_debug!(ClassifierHash);

impl ClassifierHash {
    /// Hashes an already canonical classifier (NFC, lowercase). Callers with a
    /// [`crate::name::Classifier`] should use its `hash()` instead, which
    /// guarantees the canonical form.
    pub fn of_canonical(canonical: &str) -> Self {
        Self(first(&sha256(&[canonical.as_bytes()])))
    }
}

/// The 160-bit authority of a peer name: zero for unsecured names, else the
/// truncated SHA-256 of the publisher's compressed public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BinaryAuthority(pub [u8; 20]);
hex_debug!(BinaryAuthority);

impl BinaryAuthority {
    /// The authority of unsecured names: 20 zero bytes.
    pub const ZERO: Self = Self([0; 20]);

    /// First 160 bits of SHA-256 over a SEC1 compressed public key.
    pub fn of_public_key(sec1_compressed: &[u8; 33]) -> Self {
        Self(first(&sha256(&[sec1_compressed])))
    }

    /// `true` for the all-zero authority of unsecured names.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 20]
    }

    /// Parses 40 hexadecimal characters (either case).
    pub fn from_hex(s: &str) -> Option<Self> {
        if s.len() != 40 {
            return None;
        }
        let mut out = [0u8; 20];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Self(out))
    }
}

/// The 128-bit P2P ID: the upper half of every PNRP ID of one peer name.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct P2pId(pub [u8; 16]);
hex_debug!(P2pId);

impl P2pId {
    /// First 128 bits of SHA-256(CH ‖ BA ‖ CH ‖ "PNRP") (MS-PNRP §3.1.4.4.1).
    pub fn new(classifier: &ClassifierHash, authority: &BinaryAuthority) -> Self {
        Self(first(&sha256(&[
            &classifier.0,
            &authority.0,
            &classifier.0,
            P2P_ID_SUFFIX,
        ])))
    }
}

/// The 128-bit service location: the lower half of a PNRP ID. The upper 64
/// bits are a network prefix (the registering IPv6 address's /64, zero for
/// IPv4), the lower 64 a random suffix (registration) or [`RESOLVE_SUFFIX`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceLocation(pub [u8; 16]);
hex_debug!(ServiceLocation);

impl ServiceLocation {
    /// Builds a location from its two halves.
    pub fn new(prefix: u64, suffix: u64) -> Self {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&prefix.to_be_bytes());
        out[8..].copy_from_slice(&suffix.to_be_bytes());
        Self(out)
    }

    /// The prefix half for an address: the upper 64 bits of an IPv6 address,
    /// 0 for IPv4 (design §3).
    pub fn prefix_of(addr: IpAddr) -> u64 {
        match addr {
            IpAddr::V4(_) => 0,
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(_) => 0,
                None => u64::from_be_bytes(first8(&v6.octets())),
            },
        }
    }

    /// The upper 64 bits.
    pub fn prefix(&self) -> u64 {
        u64::from_be_bytes(first8(&self.0))
    }

    /// The lower 64 bits.
    pub fn suffix(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[8..]);
        u64::from_be_bytes(b)
    }
}

fn first8(b: &[u8; 16]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&b[..8]);
    out
}

/// A 256-bit PNRP ID, most-significant byte first. Ordering is numeric.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PnrpId(pub [u8; 32]);
hex_debug!(PnrpId);

/// The circular distance between two [`PnrpId`]s: a 256-bit unsigned number
/// no larger than 2^255, ordered numerically.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Distance(pub [u8; 32]);
hex_debug!(Distance);

/// A 256-bit big-endian number as four 64-bit limbs, most significant first.
/// Comparing limbs gives the numeric order of the bytes, in four integer
/// comparisons instead of a `memcmp` call (IDs are compared everywhere in
/// the route cache).
#[inline]
fn be_limbs(b: &[u8; 32]) -> [u64; 4] {
    let mut l = [0u64; 4];
    for (limb, chunk) in l.iter_mut().zip(b.chunks_exact(8)) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        *limb = u64::from_be_bytes(w);
    }
    l
}

/// `a - b` modulo 2^256, on limbs.
#[inline]
fn sub_limbs(a: [u64; 4], b: [u64; 4]) -> [u64; 4] {
    let mut out = [0u64; 4];
    let mut borrow = false;
    for i in (0..4).rev() {
        let (d1, b1) = a[i].overflowing_sub(b[i]);
        let (d2, b2) = d1.overflowing_sub(u64::from(borrow));
        out[i] = d2;
        borrow = b1 || b2;
    }
    out
}

/// The circular distance of two IDs given as limbs, as limbs.
#[inline]
fn distance_limbs(a: [u64; 4], b: [u64; 4]) -> [u64; 4] {
    core::cmp::min(sub_limbs(b, a), sub_limbs(a, b))
}

/// Numeric order of a 256-bit big-endian newtype, on limbs.
macro_rules! limb_ord {
    ($t:ident) => {
        impl Ord for $t {
            #[inline]
            fn cmp(&self, other: &Self) -> Ordering {
                be_limbs(&self.0).cmp(&be_limbs(&other.0))
            }
        }
        impl PartialOrd for $t {
            #[inline]
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }
    };
}
limb_ord!(PnrpId);
limb_ord!(Distance);

impl PnrpId {
    /// The all-zero ID (used on the wire for "no ID").
    pub const ZERO: Self = Self([0; 32]);

    /// Joins a P2P ID and a service location.
    pub fn new(p2p: P2pId, location: ServiceLocation) -> Self {
        let mut out = [0u8; 32];
        out[..16].copy_from_slice(&p2p.0);
        out[16..].copy_from_slice(&location.0);
        Self(out)
    }

    /// The upper 128 bits.
    pub fn p2p_id(&self) -> P2pId {
        let mut b = [0u8; 16];
        b.copy_from_slice(&self.0[..16]);
        P2pId(b)
    }

    /// The lower 128 bits.
    pub fn service_location(&self) -> ServiceLocation {
        let mut b = [0u8; 16];
        b.copy_from_slice(&self.0[16..]);
        ServiceLocation(b)
    }

    /// `true` for [`PnrpId::ZERO`].
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 32]
    }

    fn limbs(&self) -> [u64; 4] {
        be_limbs(&self.0)
    }

    fn from_limbs(l: [u64; 4]) -> Self {
        let mut out = [0u8; 32];
        for (i, limb) in l.iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&limb.to_be_bytes());
        }
        Self(out)
    }

    /// `self + rhs` modulo 2^256 (registration resolves `ID + 1`).
    #[must_use]
    pub fn wrapping_add(&self, rhs: &Self) -> Self {
        let (a, b) = (self.limbs(), rhs.limbs());
        let mut out = [0u64; 4];
        let mut carry = false;
        for i in (0..4).rev() {
            let (s1, c1) = a[i].overflowing_add(b[i]);
            let (s2, c2) = s1.overflowing_add(u64::from(carry));
            out[i] = s2;
            carry = c1 || c2;
        }
        Self::from_limbs(out)
    }

    /// `self - rhs` modulo 2^256.
    #[must_use]
    pub fn wrapping_sub(&self, rhs: &Self) -> Self {
        Self::from_limbs(sub_limbs(self.limbs(), rhs.limbs()))
    }

    /// `self + n` modulo 2^256.
    #[must_use]
    pub fn add_u64(&self, n: u64) -> Self {
        self.wrapping_add(&Self::from_limbs([0, 0, 0, n]))
    }

    /// Circular distance: `min(self − other, other − self)` modulo 2^256.
    pub fn distance(&self, other: &Self) -> Distance {
        Distance(Self::from_limbs(distance_limbs(self.limbs(), other.limbs())).0)
    }

    /// Which of `a` and `b` is nearer to `self` on the ring; ties go to the
    /// numerically smaller ID so that the order is total and deterministic.
    pub fn cmp_closeness(&self, a: &Self, b: &Self) -> Ordering {
        let (c, a, b) = (self.limbs(), a.limbs(), b.limbs());
        distance_limbs(c, a)
            .cmp(&distance_limbs(c, b))
            .then_with(|| a.cmp(&b))
    }

    /// Number of leading bits `self` and `other` share (0–256).
    pub fn common_prefix_len(&self, other: &Self) -> u32 {
        let mut n = 0;
        for (x, y) in self.0.iter().zip(other.0.iter()) {
            let d = x ^ y;
            if d == 0 {
                n += 8;
            } else {
                return n + d.leading_zeros();
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(last: u8) -> PnrpId {
        let mut b = [0u8; 32];
        b[31] = last;
        PnrpId(b)
    }

    #[test]
    fn authority_of_generator_matches_digest_vector() {
        // Digest §5.7: private scalar 1 ⇒ public key G.
        let g = hex::decode("036b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296")
            .unwrap();
        let a = BinaryAuthority::of_public_key(&g.try_into().unwrap());
        assert_eq!(a.to_string(), "5baff89de7de5c1d7b6193a1567ceeeb397cbda8");
    }

    #[test]
    fn classifier_hash_is_truncated_sha256_of_utf8() {
        // SHA-256("myapplication") truncated to 160 bits.
        let ch = ClassifierHash::of_canonical("myapplication");
        let full = sha256(&[b"myapplication"]);
        assert_eq!(ch.0, full[..20]);
    }

    #[test]
    fn ring_distance_wraps_around() {
        let max = PnrpId([0xff; 32]);
        assert_eq!(max.distance(&PnrpId::ZERO), id(1).distance(&PnrpId::ZERO));
        assert_eq!(max.add_u64(1), PnrpId::ZERO);
        assert_eq!(PnrpId::ZERO.wrapping_sub(&id(1)), max);
    }

    #[test]
    fn service_location_prefix_of_v4_is_zero() {
        assert_eq!(ServiceLocation::prefix_of("10.1.2.3".parse().unwrap()), 0);
        assert_eq!(
            ServiceLocation::prefix_of("::ffff:10.1.2.3".parse().unwrap()),
            0
        );
        assert_eq!(
            ServiceLocation::prefix_of("2001:db8:1:2::5".parse().unwrap()),
            0x2001_0db8_0001_0002
        );
    }

    fn arb_id() -> impl Strategy<Value = PnrpId> {
        any::<[u8; 32]>().prop_map(PnrpId)
    }

    proptest! {
        #[test]
        fn distance_is_symmetric_and_zero_on_self(a in arb_id(), b in arb_id()) {
            prop_assert_eq!(a.distance(&b), b.distance(&a));
            prop_assert_eq!(a.distance(&a).0, [0u8; 32]);
        }

        #[test]
        fn distance_never_exceeds_half_ring(a in arb_id(), b in arb_id()) {
            let mut half = [0u8; 32];
            half[0] = 0x80;
            prop_assert!(a.distance(&b).0 <= half);
        }

        #[test]
        fn ids_and_distances_order_as_their_big_endian_bytes(
            a in arb_id(),
            b in arb_id(),
            prefix in 0usize..32,
        ) {
            // Share a prefix now and then, so that low limbs decide too.
            let mut b = b;
            b.0[..prefix].copy_from_slice(&a.0[..prefix]);
            prop_assert_eq!(a.cmp(&b), a.0.cmp(&b.0));
            let (x, y) = (a.distance(&PnrpId::ZERO), b.distance(&PnrpId::ZERO));
            prop_assert_eq!(x.cmp(&y), x.0.cmp(&y.0));
        }

        #[test]
        fn closeness_orders_by_distance_then_id(c in arb_id(), a in arb_id(), b in arb_id()) {
            let bytes = |d: Distance| d.0;
            let expected = bytes(c.distance(&a))
                .cmp(&bytes(c.distance(&b)))
                .then_with(|| a.0.cmp(&b.0));
            prop_assert_eq!(c.cmp_closeness(&a, &b), expected);
            let down = c.wrapping_sub(&a).0;
            let up = a.wrapping_sub(&c).0;
            prop_assert_eq!(c.distance(&a).0, core::cmp::min(up, down));
        }

        #[test]
        fn add_then_sub_is_identity(a in arb_id(), b in arb_id()) {
            prop_assert_eq!(a.wrapping_add(&b).wrapping_sub(&b), a);
        }

        #[test]
        fn id_halves_round_trip(p in any::<[u8; 16]>(), l in any::<[u8; 16]>()) {
            let id = PnrpId::new(P2pId(p), ServiceLocation(l));
            prop_assert_eq!(id.p2p_id(), P2pId(p));
            prop_assert_eq!(id.service_location(), ServiceLocation(l));
        }
    }
}
