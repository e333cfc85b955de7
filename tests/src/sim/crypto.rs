//! Cheap but unforgeable signatures for the simulator (`SimCrypto`), and the
//! switch to real ECDSA P-256 for small clouds.
//!
//! # The scheme
//!
//! Every identity is a 32-bit key id. Its secret is
//! `SHA-256("pnrp-sim key" ‖ master ‖ id)`, where `master` is drawn from the
//! scenario seed; its public key (33 bytes, the shape of a SEC1 compressed
//! point so that every CPA and authority computation is unchanged) is
//!
//! ```text
//! 0x02 ‖ id (4 bytes, little-endian) ‖ SHA-256(secret)[..28]
//! ```
//!
//! and a signature over `m` is `SHA-256(secret ‖ m) ‖ SHA-256(m ‖ secret)`.
//! [`SimVerifier`] holds the master secret, re-derives the secret of the key
//! id embedded in the public key, checks that the key's tail matches it and
//! recomputes the signature. So inside the simulation only the holder of a
//! [`SimSigner`] can sign for its key: a malicious node is handed its own
//! signer and nothing else, and can forge a signature for someone else's key
//! only by guessing 64 hash bytes. Costs three to four SHA-256 blocks per
//! operation instead of a P-256 scalar multiplication.
//!
//! `--crypto real` uses [`P256Signer`] / [`P256Verifier`] instead, with the
//! scalar derived from the same seed (practical up to about 10^3 nodes).

use std::sync::Arc;

use pnrp::crypto::{
    P256Signer, P256Verifier, PUBLIC_KEY_LEN, PublicKey, SIGNATURE_LEN, Signature, SignatureError,
    Signer, Verifier,
};
use pnrp::engine::SharedSigner;
use sha2::{Digest, Sha256};

/// A verifier shared by every node of a simulation.
pub type SharedVerifier = Arc<dyn Verifier + Send + Sync>;

/// Which signature scheme the simulated nodes use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CryptoMode {
    /// [`SimSigner`] / [`SimVerifier`]: keyed SHA-256 (the default).
    #[default]
    Sim,
    /// ECDSA P-256, exactly as the daemon signs.
    Real,
}

impl core::str::FromStr for CryptoMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sim" => Ok(Self::Sim),
            "real" => Ok(Self::Real),
            other => Err(format!("crypto must be `sim` or `real`, got {other:?}")),
        }
    }
}

impl core::fmt::Display for CryptoMode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Sim => "sim",
            Self::Real => "real",
        })
    }
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn secret_of(master: &[u8; 32], id: u32) -> [u8; 32] {
    sha256(&[b"pnrp-sim key", master, &id.to_le_bytes()])
}

fn public_of(id: u32, secret: &[u8; 32]) -> PublicKey {
    let mut pk = [0u8; PUBLIC_KEY_LEN];
    pk[0] = 0x02;
    pk[1..5].copy_from_slice(&id.to_le_bytes());
    pk[5..].copy_from_slice(&sha256(&[secret])[..PUBLIC_KEY_LEN - 5]);
    PublicKey(pk)
}

fn sign_with(secret: &[u8; 32], message: &[u8]) -> Signature {
    let mut sig = [0u8; SIGNATURE_LEN];
    sig[..32].copy_from_slice(&sha256(&[secret, message]));
    sig[32..].copy_from_slice(&sha256(&[message, secret]));
    Signature(sig)
}

/// The signing half of one simulated identity.
#[derive(Clone)]
pub struct SimSigner {
    secret: [u8; 32],
    public: PublicKey,
}

impl core::fmt::Debug for SimSigner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print the secret.
        f.debug_struct("SimSigner")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl Signer for SimSigner {
    fn public_key(&self) -> PublicKey {
        self.public
    }

    fn sign(&self, message: &[u8]) -> Signature {
        sign_with(&self.secret, message)
    }
}

/// Checks [`SimSigner`] signatures of every identity of one simulation.
#[derive(Clone)]
pub struct SimVerifier {
    master: [u8; 32],
}

impl core::fmt::Debug for SimVerifier {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SimVerifier").finish_non_exhaustive()
    }
}

impl Verifier for SimVerifier {
    fn verify(
        &self,
        key: &PublicKey,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        if key.0[0] != 0x02 {
            return Err(SignatureError::BadPublicKey);
        }
        let mut id = [0u8; 4];
        id.copy_from_slice(&key.0[1..5]);
        let secret = secret_of(&self.master, u32::from_le_bytes(id));
        if public_of(u32::from_le_bytes(id), &secret) != *key {
            return Err(SignatureError::BadPublicKey);
        }
        if sign_with(&secret, message) == *signature {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

/// Makes the identities of one simulation and the verifier that checks
/// them. Only the world holds it; nodes (malicious ones included) only
/// ever receive their own signer.
#[derive(Clone)]
pub struct KeyFactory {
    mode: CryptoMode,
    master: [u8; 32],
}

impl core::fmt::Debug for KeyFactory {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyFactory")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl KeyFactory {
    /// The identities of the simulation seeded with `seed`.
    pub fn new(mode: CryptoMode, seed: u64) -> Self {
        Self {
            mode,
            master: sha256(&[b"pnrp-sim master", &seed.to_le_bytes()]),
        }
    }

    /// The scheme in use.
    pub fn mode(&self) -> CryptoMode {
        self.mode
    }

    /// The signer of identity `id` (the same id always gives the same key).
    pub fn signer(&self, id: u32) -> SharedSigner {
        match self.mode {
            CryptoMode::Sim => {
                let secret = secret_of(&self.master, id);
                Arc::new(SimSigner {
                    secret,
                    public: public_of(id, &secret),
                })
            }
            CryptoMode::Real => {
                // A scalar derived from the seed; the chance that it is zero
                // or above the group order is below 2^-32 per try.
                let mut counter = 0u32;
                loop {
                    let scalar = sha256(&[
                        b"pnrp-sim p256",
                        &self.master,
                        &id.to_le_bytes(),
                        &counter.to_le_bytes(),
                    ]);
                    if let Some(k) = P256Signer::from_scalar_bytes(&scalar) {
                        return Arc::new(k);
                    }
                    counter += 1;
                }
            }
        }
    }

    /// The verifier every node checks CPAs with.
    pub fn verifier(&self) -> SharedVerifier {
        match self.mode {
            CryptoMode::Sim => Arc::new(SimVerifier {
                master: self.master,
            }),
            CryptoMode::Real => Arc::new(P256Verifier),
        }
    }
}

/// A signer that claims someone else's public key but signs with its own
/// secret: how a malicious node forges "that key's" signature (it fails to
/// verify).
pub(crate) struct StolenKeySigner {
    pub(crate) claimed: PublicKey,
    pub(crate) inner: SharedSigner,
}

impl Signer for StolenKeySigner {
    fn public_key(&self) -> PublicKey {
        self.claimed
    }

    fn sign(&self, message: &[u8]) -> Signature {
        self.inner.sign(message)
    }
}

/// A signer that claims someone else's key and "signs" with fixed garbage.
pub(crate) struct GarbageSigner {
    pub(crate) claimed: PublicKey,
    pub(crate) garbage: [u8; SIGNATURE_LEN],
}

impl Signer for GarbageSigner {
    fn public_key(&self) -> PublicKey {
        self.claimed
    }

    fn sign(&self, _message: &[u8]) -> Signature {
        Signature(self.garbage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_signatures_verify_only_under_their_own_key() {
        let keys = KeyFactory::new(CryptoMode::Sim, 7);
        let (a, b) = (keys.signer(1), keys.signer(2));
        let v = keys.verifier();
        let sig = a.sign(b"hello");
        assert_eq!(v.verify(&a.public_key(), b"hello", &sig), Ok(()));
        assert_eq!(
            v.verify(&b.public_key(), b"hello", &sig),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v.verify(&a.public_key(), b"hellO", &sig),
            Err(SignatureError::Mismatch)
        );
        // A key whose tail does not belong to its id is refused.
        let mut pk = a.public_key();
        pk.0[20] ^= 1;
        assert_eq!(
            v.verify(&pk, b"hello", &sig),
            Err(SignatureError::BadPublicKey)
        );
        // Another simulation's verifier knows other secrets.
        let other = KeyFactory::new(CryptoMode::Sim, 8).verifier();
        assert!(other.verify(&a.public_key(), b"hello", &sig).is_err());
    }

    #[test]
    fn a_stolen_key_signature_does_not_verify() {
        let keys = KeyFactory::new(CryptoMode::Sim, 1);
        let thief = StolenKeySigner {
            claimed: keys.signer(5).public_key(),
            inner: keys.signer(6),
        };
        let sig = thief.sign(b"m");
        assert!(
            keys.verifier()
                .verify(&thief.public_key(), b"m", &sig)
                .is_err()
        );
    }

    #[test]
    fn real_keys_are_deterministic_p256() {
        let keys = KeyFactory::new(CryptoMode::Real, 3);
        let a = keys.signer(1);
        assert_eq!(a.public_key(), keys.signer(1).public_key());
        let sig = a.sign(b"x");
        assert_eq!(keys.verifier().verify(&a.public_key(), b"x", &sig), Ok(()));
    }
}
