//! Certified Peer Addresses (CPA) and extended payloads: build, sign, verify
//! (MS-PNRP §2.2.3.1–§2.2.3.3, §3.1.5.7–§3.1.5.9; digest §1.5, §2.5, §5.2–§5.3).
//!
//! A CPA binds a PNRP ID (P2P ID + service location) to the publisher's
//! endpoints under the publisher's key. The types follow the data's trust:
//!
//! * [`CpaContent`] — what a publisher wants to say (plain data);
//! * [`UnverifiedCpa`] — an encoded, signed CPA as it travels: produced by
//!   [`CpaContent::sign`] or decoded from the wire. Its fields can be read
//!   but nothing vouches for them;
//! * [`VerifiedCpa`] — the only type a cache accepts. It has no public
//!   constructor: the one way to get it is [`UnverifiedCpa::verify`], which
//!   checks the signature, the authority binding, the validity window, the
//!   nonce and the PNRP ID.
//!
//! ```compile_fail
//! // A VerifiedCpa cannot be made by hand.
//! let v = pnrp::cpa::VerifiedCpa { inner: todo!() };
//! ```
//!
//! Extended payloads follow the same pattern with
//! [`UnverifiedExtendedPayload`] and [`VerifiedExtendedPayload`], verified
//! against an already verified CPA.
//!
//! Profile (design §3; `docs/protocol.md`): Cpa version 2.1 and PNRP version
//! 4.1 inside the CPA; P-256 public key (OID text `1.2.840.10045.3.1.7`,
//! 33-byte compressed point); SIGNATURE with ALG_ID 0x800C and a 64-byte
//! `r ‖ s`; the ClassifierHash is always present; the FriendlyName (comment)
//! is UTF-8 with the U flag set; application-endpoint port and protocol are
//! little-endian; a revoke CPA keeps its 16 zero nonce bytes.

mod codec;
mod payload;

use core::fmt;
use std::net::{Ipv6Addr, SocketAddr};

use crate::crypto::{PublicKey, Signature, SignatureError, Signer, Verifier};
use crate::id::{BinaryAuthority, ClassifierHash, P2pId, PnrpId, ServiceLocation};
use crate::name::{Authority, PeerName};
use crate::time::{FileTime, UnixTime};
use crate::wire::{DecodeError, EncodeError, Endpoint, Nonce};

pub use payload::{
    MAX_EXTENDED_PAYLOAD, PayloadData, UnverifiedExtendedPayload, VerifiedExtendedPayload,
};

/// Most PNRP service addresses in a CPA.
pub const MAX_SERVICE_ADDRESSES: usize = 4;
/// Most application endpoints in a CPA.
pub const MAX_APP_ENDPOINTS: usize = 10;
/// Most characters in a comment (FriendlyName).
pub const MAX_COMMENT_CHARS: usize = 39;
/// Most bytes in an encoded comment (FriendlyName Len).
pub const MAX_COMMENT_BYTES: usize = 78;
/// Shortest allowed validity: Not After at least 12 h ahead when signing.
pub const MIN_LIFETIME_S: u64 = 12 * 3600;
/// Longest allowed validity: Not After at most 7 days ahead.
pub const MAX_LIFETIME_S: u64 = 7 * 24 * 3600;
/// Clock skew tolerated when checking that a received Not After is not too
/// far in the future.
pub const CLOCK_SKEW_S: u64 = 3600;

/// IANA protocol number of TCP.
pub const PROTO_TCP: u16 = 6;
/// IANA protocol number of UDP.
pub const PROTO_UDP: u16 = 17;

/// An application endpoint (IPV6_APP_ENDPOINT): where the published service
/// listens. IPv4 addresses travel v4-mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AppEndpoint {
    /// Address (IPv4 as `::ffff:a.b.c.d`).
    pub addr: Ipv6Addr,
    /// Port (0 = none given).
    pub port: u16,
    /// IANA protocol number (6 TCP, 17 UDP, 0 unspecified).
    pub protocol: u16,
}

impl AppEndpoint {
    /// Builds an endpoint from a socket address, mapping IPv4.
    pub fn new(sa: SocketAddr, protocol: u16) -> Self {
        let e = Endpoint::from_socket_addr(sa);
        Self {
            addr: e.addr,
            port: e.port,
            protocol,
        }
    }

    /// The endpoint as a socket address (v4-mapped become IPv4).
    pub fn socket_addr(&self) -> SocketAddr {
        Endpoint {
            addr: self.addr,
            port: self.port,
        }
        .to_socket_addr()
    }
}

/// What a CPA states, signature aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpaContent {
    /// R flag: this CPA withdraws the registration.
    pub revoke: bool,
    /// End of validity.
    pub not_after: FileTime,
    /// Lower half of the PNRP ID.
    pub service_location: ServiceLocation,
    /// The INQUIRE's nonce (zero if none; always zero in a revoke).
    pub nonce: Nonce,
    /// The authority of a secured name (`None` for unsecured names).
    pub authority: Option<BinaryAuthority>,
    /// Hash of the canonical classifier.
    pub classifier_hash: ClassifierHash,
    /// The comment (FriendlyName): ≤39 characters, ≤78 bytes of UTF-8.
    pub comment: Option<String>,
    /// The publisher's PNRP service endpoints (≤4; ≥1 unless revoke).
    pub service_addresses: Vec<Endpoint>,
    /// The published application endpoints (≤10).
    pub endpoints: Vec<AppEndpoint>,
    /// X flag: an extended payload exists.
    pub has_extended_payload: bool,
}

impl CpaContent {
    /// Content for `name` at `service_location`, valid until `not_after`,
    /// with no endpoints, comment or payload yet.
    pub fn new(name: &PeerName, service_location: ServiceLocation, not_after: UnixTime) -> Self {
        Self {
            revoke: false,
            not_after: not_after.to_filetime(),
            service_location,
            nonce: [0; 16],
            authority: match name.authority() {
                Authority::Unsecured => None,
                Authority::Secured(a) => Some(*a),
            },
            classifier_hash: name.classifier_hash(),
            comment: None,
            service_addresses: Vec::new(),
            endpoints: Vec::new(),
            has_extended_payload: false,
        }
    }

    /// The PNRP ID this content describes.
    pub fn pnrp_id(&self) -> PnrpId {
        let ba = self.authority.unwrap_or(BinaryAuthority::ZERO);
        PnrpId::new(
            P2pId::new(&self.classifier_hash, &ba),
            self.service_location,
        )
    }

    /// Checks every profile limit.
    pub fn check(&self) -> Result<(), CpaError> {
        codec::check(self).map_err(CpaError::Limit)
    }

    /// Signs the content with `signer` at time `now`. Refuses content that
    /// breaks a limit, a secured authority that is not the signer's, a
    /// revoke with a non-zero nonce, and Not After outside 12 h–7 d from
    /// `now`.
    pub fn sign(&self, signer: &dyn Signer, now: UnixTime) -> Result<UnverifiedCpa, CpaError> {
        self.check()?;
        let key = signer.public_key();
        if let Some(a) = self.authority
            && a != key.authority()
        {
            return Err(CpaError::AuthorityMismatch);
        }
        if self.revoke && self.nonce != [0; 16] {
            return Err(CpaError::RevokeWithNonce);
        }
        let na = self.not_after.to_unix();
        if na < now.plus_secs(MIN_LIFETIME_S) || na > now.plus_secs(MAX_LIFETIME_S) {
            return Err(CpaError::LifetimeOutOfRange { not_after: na, now });
        }
        let mut bytes = Vec::with_capacity(codec::encoded_len(self));
        let sig_at = codec::write_unsigned(self, &key, &mut bytes);
        let signature = signer.sign(&bytes[..sig_at]);
        codec::write_signature(&signature, &mut bytes);
        Ok(UnverifiedCpa {
            content: self.clone(),
            public_key: key,
            signature,
            signed_len: sig_at,
            bytes,
        })
    }
}

/// Why a CPA (or extended payload) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CpaError {
    /// The bytes do not parse.
    #[error("malformed CPA: {0}")]
    Malformed(#[from] DecodeError),
    /// A profile limit is broken.
    #[error("CPA limit: {0}")]
    Limit(EncodeError),
    /// The signature does not verify.
    #[error("CPA signature: {0}")]
    BadSignature(#[from] SignatureError),
    /// The secured authority is not the hash of the CPA's public key.
    #[error("authority is not the hash of the CPA's public key")]
    AuthorityMismatch,
    /// Not After has passed.
    #[error("CPA expired at {not_after:?} (now {now:?})")]
    Expired {
        /// Not After.
        not_after: UnixTime,
        /// The time of the check.
        now: UnixTime,
    },
    /// Not After is further ahead than the profile allows (or, when signing,
    /// nearer than 12 h).
    #[error("CPA Not After {not_after:?} is outside the allowed window from {now:?} (12 h to 7 d)")]
    LifetimeOutOfRange {
        /// Not After.
        not_after: UnixTime,
        /// The time of the check.
        now: UnixTime,
    },
    /// The nonce is not the one our INQUIRE sent.
    #[error("CPA nonce does not match the INQUIRE's")]
    NonceMismatch,
    /// A revoke CPA with a non-zero nonce.
    #[error("revoke CPA must carry a zero nonce")]
    RevokeWithNonce,
    /// A revoke arrived where a normal CPA was expected, or the reverse.
    #[error("CPA revoke flag is {found} where {expected} was expected")]
    RevokeFlag {
        /// Expected R.
        expected: bool,
        /// Found R.
        found: bool,
    },
    /// The CPA's PNRP ID is not the expected one.
    #[error("CPA describes PNRP ID {found} but {expected} was expected")]
    IdMismatch {
        /// The ID expected (route entry or target).
        expected: PnrpId,
        /// The ID the CPA describes.
        found: PnrpId,
    },
    /// An extended payload arrived for a CPA without the X flag.
    #[error("extended payload present but the CPA's X flag is clear")]
    UnexpectedPayload,
}

/// What a verifier knows about the CPA it expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyContext {
    /// The time of the check.
    pub now: UnixTime,
    /// The nonce our INQUIRE sent, if any. Ignored for revokes, whose nonce
    /// must be zero.
    pub nonce: Option<Nonce>,
    /// The PNRP ID the CPA must describe, if known (route entry or target).
    pub expected_id: Option<PnrpId>,
    /// Whether a revoke CPA is expected (FLOOD) or a normal one (AUTHORITY).
    pub revoke: bool,
}

impl VerifyContext {
    /// A context for a normal CPA answering an INQUIRE with `nonce`.
    pub fn inquiry(now: UnixTime, nonce: Nonce) -> Self {
        Self {
            now,
            nonce: Some(nonce),
            expected_id: None,
            revoke: false,
        }
    }

    /// A context for a revoke CPA.
    pub fn revocation(now: UnixTime) -> Self {
        Self {
            now,
            nonce: None,
            expected_id: None,
            revoke: true,
        }
    }

    /// Also require the CPA to describe `id`.
    #[must_use]
    pub fn expecting(mut self, id: PnrpId) -> Self {
        self.expected_id = Some(id);
        self
    }
}

/// Constant-time equality of two nonces.
fn nonce_eq(a: &Nonce, b: &Nonce) -> bool {
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

fn check_window(not_after: FileTime, now: UnixTime) -> Result<(), CpaError> {
    let na = not_after.to_unix();
    if na < now {
        return Err(CpaError::Expired { not_after: na, now });
    }
    if na > now.plus_secs(MAX_LIFETIME_S + CLOCK_SKEW_S) {
        return Err(CpaError::LifetimeOutOfRange { not_after: na, now });
    }
    Ok(())
}

/// A signed CPA whose signature and claims have not been checked.
#[derive(Clone, PartialEq, Eq)]
pub struct UnverifiedCpa {
    content: CpaContent,
    public_key: PublicKey,
    signature: Signature,
    /// Bytes covered by the signature: everything before the SIGNATURE.
    signed_len: usize,
    bytes: Vec<u8>,
}

impl fmt::Debug for UnverifiedCpa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedCpa")
            .field("content", &self.content)
            .field("public_key", &self.public_key)
            .field("len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

impl UnverifiedCpa {
    /// Decodes an Encoded CPA. Total: never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (content, public_key, signature, signed_len) = codec::read(bytes)?;
        Ok(Self {
            content,
            public_key,
            signature,
            signed_len,
            bytes: bytes.to_vec(),
        })
    }

    /// The encoding.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The claims, unchecked.
    pub fn content(&self) -> &CpaContent {
        &self.content
    }

    /// The public key carried in the CPA.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The PNRP ID the CPA claims.
    pub fn pnrp_id(&self) -> PnrpId {
        self.content.pnrp_id()
    }

    /// Checks everything MS-PNRP §3.1.5.7 asks (digest §5.2) plus the
    /// profile's rules, cheapest first, the signature last.
    pub fn verify(
        self,
        verifier: &dyn Verifier,
        ctx: &VerifyContext,
    ) -> Result<VerifiedCpa, CpaError> {
        let c = &self.content;
        if c.revoke != ctx.revoke {
            return Err(CpaError::RevokeFlag {
                expected: ctx.revoke,
                found: c.revoke,
            });
        }
        if let Some(a) = c.authority
            && a != self.public_key.authority()
        {
            return Err(CpaError::AuthorityMismatch);
        }
        check_window(c.not_after, ctx.now)?;
        if c.revoke {
            if c.nonce != [0; 16] {
                return Err(CpaError::RevokeWithNonce);
            }
        } else if let Some(n) = &ctx.nonce
            && !nonce_eq(n, &c.nonce)
        {
            return Err(CpaError::NonceMismatch);
        }
        if let Some(expected) = ctx.expected_id {
            let found = c.pnrp_id();
            if found != expected {
                return Err(CpaError::IdMismatch { expected, found });
            }
        }
        let signed = self.bytes.get(..self.signed_len).unwrap_or_default();
        verifier.verify(&self.public_key, signed, &self.signature)?;
        Ok(VerifiedCpa { inner: self })
    }
}

/// A CPA whose signature, authority, validity, nonce and ID were checked.
/// Only [`UnverifiedCpa::verify`] makes one.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifiedCpa {
    inner: UnverifiedCpa,
}

impl fmt::Debug for VerifiedCpa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("VerifiedCpa").field(&self.inner).finish()
    }
}

impl VerifiedCpa {
    /// The verified claims.
    pub fn content(&self) -> &CpaContent {
        &self.inner.content
    }

    /// The publisher's key.
    pub fn public_key(&self) -> &PublicKey {
        &self.inner.public_key
    }

    /// The PNRP ID.
    pub fn pnrp_id(&self) -> PnrpId {
        self.inner.pnrp_id()
    }

    /// The encoding (to forward it, e.g. a revoke in a FLOOD).
    pub fn as_bytes(&self) -> &[u8] {
        self.inner.as_bytes()
    }

    /// The wire form, for re-sending.
    pub fn to_unverified(&self) -> UnverifiedCpa {
        self.inner.clone()
    }

    /// Verifies an extended payload against this CPA: X flag set, same PNRP
    /// ID, validity, nonce, and a signature by this CPA's key
    /// (MS-PNRP §3.1.5.8).
    pub fn verify_payload(
        &self,
        payload: UnverifiedExtendedPayload,
        verifier: &dyn Verifier,
        ctx: &VerifyContext,
    ) -> Result<VerifiedExtendedPayload, CpaError> {
        if !self.content().has_extended_payload {
            return Err(CpaError::UnexpectedPayload);
        }
        payload.verify(verifier, self.public_key(), self.pnrp_id(), ctx)
    }
}

#[cfg(test)]
mod tests;
