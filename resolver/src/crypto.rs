//! Signing and verification behind traits, so that the daemon uses ECDSA
//! P-256 while the simulator can swap in a cheap verifier.
//!
//! Profile (design §3, DEVIATION from MS-PNRP's RSA-1024/SHA-1): ECDSA over
//! P-256 with SHA-256, signatures as fixed 64-byte `r ‖ s` (big-endian scalars)
//! with low S; public keys as 33-byte SEC1 compressed points. A high-S
//! signature is refused, so every valid signature has exactly one encoding.
//!
//! # Backends
//!
//! * Verification runs on `ring` (`ECDSA_P256_SHA256_FIXED`, assembly field
//!   arithmetic; about 5× the pure-Rust `p256` crate). `ring` takes only
//!   uncompressed points, so the compressed key is first decompressed (and
//!   checked to be on the curve) with `p256`, the result kept in a small
//!   per-thread cache; the range and low-S checks of
//!   the signature are `p256`'s too, so the errors are exactly those of the
//!   profile.
//! * Signing has two nonce modes. The default is deterministic (RFC 6979,
//!   `p256`): a signature is a pure function of key and message, which the
//!   simulator, the golden vectors and the sans-IO rule rely on.
//!   [`P256Signer::hedged`] switches a signer to `ring` (about 10× faster),
//!   whose nonce hashes the key, the message and fresh OS randomness, so
//!   signatures differ from call to call (each valid and low S). Only the
//!   runtime shell turns it on, for the keys its daemon signs with.

use core::fmt;
use std::sync::Arc;

use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{SigningKey, VerifyingKey};
use ring::signature::KeyPair as _;

use crate::id::BinaryAuthority;

/// Length of a SEC1 compressed P-256 public key.
pub const PUBLIC_KEY_LEN: usize = 33;
/// Length of an `r ‖ s` signature.
pub const SIGNATURE_LEN: usize = 64;
/// The key algorithm as the CPA Public Key structure names it: the OID of the
/// P-256 curve as ASCII text (design §3).
pub const KEY_ALGORITHM_OID: &str = "1.2.840.10045.3.1.7";
/// CryptoAPI `CALG_SHA_256`, the ALG_ID of our SIGNATURE structures.
pub const ALG_ID_SHA256: u32 = 0x0000_800C;

/// A SEC1 compressed public key (33 bytes, `02`/`03` ‖ X). Only the
/// byte form is held; whether it is a point on the curve is decided when a
/// signature is verified.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; PUBLIC_KEY_LEN]);

impl PublicKey {
    /// The authority this key publishes under.
    pub fn authority(&self) -> BinaryAuthority {
        BinaryAuthority::of_public_key(&self.0)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.0))
    }
}

/// A 64-byte `r ‖ s` signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; SIGNATURE_LEN]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(self.0))
    }
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The public key is not a valid compressed P-256 point.
    #[error("public key is not a valid SEC1 compressed P-256 point")]
    BadPublicKey,
    /// The signature is not a valid `r ‖ s` encoding (zero or out-of-range scalar).
    #[error("signature is not a valid r||s encoding")]
    Malformed,
    /// The signature uses the high-S form; the profile only accepts low S.
    #[error("signature is not in low-S form")]
    HighS,
    /// The signature does not verify under the key.
    #[error("signature does not verify")]
    Mismatch,
}

/// Something that signs on behalf of one identity.
pub trait Signer {
    /// The key that verifies this signer's signatures.
    fn public_key(&self) -> PublicKey;
    /// Signs `message` (the signer hashes it).
    fn sign(&self, message: &[u8]) -> Signature;
}

/// Something that checks signatures.
pub trait Verifier {
    /// Checks that `signature` over `message` was made by `key`.
    fn verify(
        &self,
        key: &PublicKey,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), SignatureError>;
}

/// An ECDSA P-256 private key. Signatures are low S, with deterministic
/// RFC 6979 nonces unless [`hedged`](Self::hedged) was called.
#[derive(Clone)]
pub struct P256Signer {
    key: SigningKey,
    public: PublicKey,
    hedged: Option<Arc<HedgedKey>>,
}

/// The `ring` form of the same key, and where its nonces' randomness comes
/// from.
struct HedgedKey {
    pair: ring::signature::EcdsaKeyPair,
    rng: ring::rand::SystemRandom,
}

impl fmt::Debug for P256Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the private scalar.
        f.debug_struct("P256Signer")
            .field("public", &self.public)
            .field("hedged", &self.hedged.is_some())
            .finish_non_exhaustive()
    }
}

impl P256Signer {
    /// Draws a fresh key from `rng`.
    pub fn generate(rng: &mut impl rand_core::CryptoRngCore) -> Self {
        Self::from_signing_key(SigningKey::random(rng))
    }

    /// Wraps an existing `p256` key.
    pub fn from_signing_key(key: SigningKey) -> Self {
        let point = key.verifying_key().to_encoded_point(true);
        let mut public = [0u8; PUBLIC_KEY_LEN];
        public.copy_from_slice(point.as_bytes());
        Self {
            key,
            public: PublicKey(public),
            hedged: None,
        }
    }

    /// Builds a key from its 32-byte big-endian scalar; `None` if the scalar is
    /// zero or not below the group order.
    pub fn from_scalar_bytes(bytes: &[u8; 32]) -> Option<Self> {
        SigningKey::from_bytes(bytes.into())
            .ok()
            .map(Self::from_signing_key)
    }

    /// The underlying `p256` key (for key-file encoding).
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The same key, signing with hedged nonces on `ring`: about 10× faster
    /// than the deterministic default, but every signature draws 32 bytes of
    /// OS randomness (hashed with the key and the message, so a failing
    /// random source still gives safe nonces) and two signatures of one
    /// message differ. For the runtime shell; the sans-IO core, the simulator
    /// and the golden vectors keep the deterministic default. If `ring`
    /// refuses the key or the OS gives no randomness, the signer stays
    /// deterministic.
    #[must_use]
    pub fn hedged(mut self) -> Self {
        if self.hedged.is_none() {
            self.hedged = HedgedKey::new(&self.key).map(Arc::new);
        }
        self
    }

    /// Whether [`hedged`](Self::hedged) took effect.
    pub fn is_hedged(&self) -> bool {
        self.hedged.is_some()
    }

    /// The deterministic RFC 6979 signature, low S.
    fn sign_deterministic(&self, message: &[u8]) -> Signature {
        let sig: p256::ecdsa::Signature = self.key.sign(message);
        low_s(sig)
    }
}

impl HedgedKey {
    #[expect(
        clippy::disallowed_methods,
        reason = "the one place OS entropy enters: the daemon's opt-in hedged signer"
    )]
    fn new(key: &SigningKey) -> Option<Self> {
        let rng = ring::rand::SystemRandom::new();
        let secret: p256::elliptic_curve::zeroize::Zeroizing<[u8; 32]> =
            p256::elliptic_curve::zeroize::Zeroizing::new(key.to_bytes().into());
        let public = key.verifying_key().to_encoded_point(false);
        let pair = ring::signature::EcdsaKeyPair::from_private_key_and_public_key(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &secret[..],
            public.as_bytes(),
            &rng,
        )
        .ok()?;
        debug_assert_eq!(pair.public_key().as_ref(), public.as_bytes());
        Some(Self { pair, rng })
    }

    /// A hedged signature, low S; `None` if the OS gave no randomness.
    fn sign(&self, message: &[u8]) -> Option<Signature> {
        let sig = self.pair.sign(&self.rng, message).ok()?;
        // `ring` does not promise low S either.
        p256::ecdsa::Signature::from_slice(sig.as_ref())
            .ok()
            .map(low_s)
    }
}

/// Normalises `s` to the lower half of the group order and encodes `r ‖ s`.
fn low_s(sig: p256::ecdsa::Signature) -> Signature {
    let sig = sig.normalize_s().unwrap_or(sig);
    Signature(sig.to_bytes().into())
}

impl Signer for P256Signer {
    fn public_key(&self) -> PublicKey {
        self.public
    }

    fn sign(&self, message: &[u8]) -> Signature {
        self.hedged
            .as_ref()
            .and_then(|h| h.sign(message))
            .unwrap_or_else(|| self.sign_deterministic(message))
    }
}

/// Verifies ECDSA P-256/SHA-256 signatures, refusing high-S encodings.
#[derive(Debug, Clone, Copy, Default)]
pub struct P256Verifier;

impl Verifier for P256Verifier {
    fn verify(
        &self,
        key: &PublicKey,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        let point = uncompressed(key)?;
        let sig = p256::ecdsa::Signature::from_slice(&signature.0)
            .map_err(|_| SignatureError::Malformed)?;
        if sig.normalize_s().is_some() {
            return Err(SignatureError::HighS);
        }
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &point)
            .verify(message, &signature.0)
            .map_err(|_| SignatureError::Mismatch)
    }
}

/// Slots of the per-thread cache of decompressed keys.
const POINT_SLOTS: usize = 64;

/// A compressed key and its checked uncompressed form `04 ‖ X ‖ Y`.
type PointSlot = Option<([u8; PUBLIC_KEY_LEN], [u8; 65])>;

std::thread_local! {
    /// Direct-mapped by a byte of X. Decompressing costs a field square
    /// root (~8 µs, a sixth of a verification) and a resolver meets the
    /// same few publishers' keys again and again. A collision only costs a
    /// decompression; only keys that decompressed to a valid point enter.
    static POINTS: core::cell::RefCell<[PointSlot; POINT_SLOTS]> =
        const { core::cell::RefCell::new([None; POINT_SLOTS]) };
}

/// Decompresses `key` and checks that it is a point on the curve (ring only
/// takes `04 ‖ X ‖ Y`), through the per-thread cache.
fn uncompressed(key: &PublicKey) -> Result<[u8; 65], SignatureError> {
    let slot = usize::from(key.0[PUBLIC_KEY_LEN - 1]) % POINT_SLOTS;
    let hit = POINTS.with(|p| match &p.borrow()[slot] {
        Some((k, point)) if k == &key.0 => Some(*point),
        _ => None,
    });
    if let Some(point) = hit {
        return Ok(point);
    }
    let vk = VerifyingKey::from_sec1_bytes(&key.0).map_err(|_| SignatureError::BadPublicKey)?;
    let mut point = [0u8; 65];
    point.copy_from_slice(vk.to_encoded_point(false).as_bytes());
    POINTS.with(|p| p.borrow_mut()[slot] = Some((key.0, point)));
    Ok(point)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> P256Signer {
        let mut s = [0u8; 32];
        s[31] = n;
        P256Signer::from_scalar_bytes(&s).unwrap()
    }

    #[test]
    fn scalar_one_gives_the_generator() {
        assert_eq!(
            hex::encode(key(1).public_key().0),
            "036b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
        );
        assert_eq!(
            key(1).public_key().authority().to_string(),
            "5baff89de7de5c1d7b6193a1567ceeeb397cbda8"
        );
    }

    #[test]
    fn sign_then_verify() {
        let k = key(7);
        let sig = k.sign(b"hello");
        P256Verifier
            .verify(&k.public_key(), b"hello", &sig)
            .unwrap();
        assert_eq!(
            P256Verifier.verify(&k.public_key(), b"hellp", &sig),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            P256Verifier.verify(&key(8).public_key(), b"hello", &sig),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn high_s_is_refused() {
        let k = key(9);
        let sig = k.sign(b"m");
        let parsed = p256::ecdsa::Signature::from_slice(&sig.0).unwrap();
        let (r, s) = parsed.split_scalars();
        let high = p256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
        let high = Signature(high.to_bytes().into());
        assert_eq!(
            P256Verifier.verify(&k.public_key(), b"m", &high),
            Err(SignatureError::HighS)
        );
    }

    fn is_low_s(sig: &Signature) -> bool {
        p256::ecdsa::Signature::from_slice(&sig.0)
            .unwrap()
            .normalize_s()
            .is_none()
    }

    #[test]
    fn default_signatures_are_deterministic_rfc6979_and_low_s() {
        let k = key(11);
        for i in 0u8..32 {
            let m = [i; 40];
            let sig = k.sign(&m);
            assert_eq!(sig, k.sign(&m));
            assert!(is_low_s(&sig));
            // Exactly the bare `p256` RFC 6979 signature, normalised.
            let bare: p256::ecdsa::Signature = k.signing_key().sign(&m);
            assert_eq!(sig.0[..32], bare.to_bytes()[..32]);
            P256Verifier.verify(&k.public_key(), &m, &sig).unwrap();
        }
    }

    #[test]
    fn hedged_signatures_verify_are_low_s_and_fresh() {
        let k = key(12).hedged();
        assert!(k.is_hedged());
        assert!(k.clone().is_hedged());
        assert!(!key(12).is_hedged());
        assert_eq!(k.public_key(), key(12).public_key());
        // About half of the raw signatures are high S: 64 catch a missing
        // normalisation with probability 1 - 2^-64.
        for i in 0u8..64 {
            let m = [i; 33];
            let sig = k.sign(&m);
            assert!(is_low_s(&sig), "message {i}");
            P256Verifier.verify(&k.public_key(), &m, &sig).unwrap();
            assert_eq!(
                P256Verifier.verify(&key(13).public_key(), &m, &sig),
                Err(SignatureError::Mismatch)
            );
        }
        assert_ne!(k.sign(b"m"), k.sign(b"m"));
    }

    #[test]
    fn verifier_agrees_with_bare_p256_on_tampered_signatures() {
        use p256::ecdsa::signature::Verifier as _;
        let k = key(14);
        let vk = *k.signing_key().verifying_key();
        let m = b"the signed bytes";
        let good = k.sign(m);
        for byte in (0..64).step_by(5) {
            for bit in [0x01u8, 0x80] {
                let mut bad = good;
                bad.0[byte] ^= bit;
                let ours = P256Verifier.verify(&k.public_key(), m, &bad);
                let bare = p256::ecdsa::Signature::from_slice(&bad.0)
                    .is_ok_and(|s| vk.verify(m, &s).is_ok() && s.normalize_s().is_none());
                assert_eq!(ours.is_ok(), bare, "byte {byte} bit {bit:#x}");
                assert!(ours.is_err());
            }
        }
    }

    #[test]
    fn cached_points_never_answer_for_another_key() {
        // Many keys share the 64 slots: every verification, cached or not,
        // accepts only its own key's signature, and an invalid key that
        // maps to a filled slot is still refused.
        let keys: Vec<P256Signer> = (1..=200).map(|n| key(n as u8)).collect();
        for round in 0..2 {
            for (i, k) in keys.iter().enumerate() {
                let sig = k.sign(b"m");
                assert_eq!(P256Verifier.verify(&k.public_key(), b"m", &sig), Ok(()));
                let other = &keys[(i + 1) % keys.len()];
                assert_eq!(
                    P256Verifier.verify(&other.public_key(), b"m", &sig),
                    Err(SignatureError::Mismatch),
                    "round {round} key {i}"
                );
                let mut bad = k.public_key();
                bad.0[1] ^= 1;
                assert!(P256Verifier.verify(&bad, b"m", &sig).is_err());
            }
        }
    }

    #[test]
    fn garbage_key_and_signature_are_errors_not_panics() {
        let k = key(3);
        let sig = k.sign(b"m");
        assert_eq!(
            P256Verifier.verify(&PublicKey([0; 33]), b"m", &sig),
            Err(SignatureError::BadPublicKey)
        );
        assert_eq!(
            P256Verifier.verify(&k.public_key(), b"m", &Signature([0; 64])),
            Err(SignatureError::Malformed)
        );
    }
}
