//! CPA golden vector (built byte by byte from the layout in `codec.rs`),
//! signing and every verification rule.

use sha2::{Digest, Sha256};

use super::*;
use crate::crypto::{P256Signer, P256Verifier};
use crate::wire::tests::{NOW, h};

fn key(n: u8) -> P256Signer {
    let mut s = [0u8; 32];
    s[31] = n;
    P256Signer::from_scalar_bytes(&s).unwrap()
}

fn content(signer: &P256Signer) -> CpaContent {
    let ch: [u8; 32] = Sha256::digest(b"service").into();
    CpaContent {
        revoke: false,
        not_after: NOW.plus_secs(86_400).to_filetime(),
        service_location: ServiceLocation::new(0x2001_0db8_0001_0002, 0x0102_0304_0506_0708),
        nonce: [0xaa; 16],
        authority: Some(signer.public_key().authority()),
        classifier_hash: ClassifierHash(ch[..20].try_into().unwrap()),
        comment: None,
        service_addresses: vec![Endpoint {
            addr: "2001:db8::1".parse().unwrap(),
            port: 3540,
        }],
        endpoints: vec![],
        has_extended_payload: false,
    }
}

fn ctx() -> VerifyContext {
    VerifyContext::inquiry(NOW, [0xaa; 16])
}

#[test]
fn golden_secured_cpa_247_bytes() {
    let k = key(1);
    let c = content(&k);
    let signed = c.sign(&k, NOW).unwrap();
    let mut ba = hex::decode("5baff89de7de5c1d7b6193a1567ceeeb397cbda8").unwrap();
    ba.reverse();
    let ch: [u8; 32] = Sha256::digest(b"service").into();
    let not_after = (NOW.0 + 86_400 + 11_644_473_600) * 10_000_000;
    let unsigned = h(&format!(
        "f700 01 02 01 04 0c 00 {na} {loc} {nonce} {ba} {ch}
         0100 1200 0dd4 20010db8000000000000000000000001
         0000 0400
         3d00 1300 0000 2100 00 {oid} {key}",
        na = hex::encode(not_after.to_le_bytes()),
        loc = "0807060504030201 02000100b80d0120".replace(' ', ""),
        nonce = "aa".repeat(16),
        ba = hex::encode(&ba),
        ch = hex::encode(&ch[..20]),
        oid = hex::encode(b"1.2.840.10045.3.1.7"),
        key = "036b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296",
    ));
    assert_eq!(unsigned.len(), 247 - 72);
    let sig = k.sign(&unsigned);
    let mut expected = unsigned.clone();
    expected.extend(h("4800 4000 0c800000"));
    expected.extend(sig.0);
    assert_eq!(hex::encode(signed.as_bytes()), hex::encode(&expected));
    let decoded = UnverifiedCpa::decode(&expected).unwrap();
    assert_eq!(decoded, signed);
    assert_eq!(decoded.content(), &c);
    let v = decoded
        .verify(&P256Verifier, &ctx().expecting(c.pnrp_id()))
        .unwrap();
    assert_eq!(v.pnrp_id(), c.pnrp_id());
}

#[test]
fn unsecured_cpa_with_comment_and_endpoints_verifies() {
    let k = key(2);
    let mut c = content(&k);
    c.authority = None;
    c.comment = Some("Büro-Drucker".into());
    c.endpoints = vec![
        AppEndpoint::new("10.1.2.3:631".parse().unwrap(), PROTO_TCP),
        AppEndpoint::new("[2001:db8::7]:5353".parse().unwrap(), PROTO_UDP),
    ];
    let cpa = c.sign(&k, NOW).unwrap();
    let v = UnverifiedCpa::decode(cpa.as_bytes())
        .unwrap()
        .verify(&P256Verifier, &ctx())
        .unwrap();
    assert_eq!(
        v.content().endpoints[0].socket_addr(),
        "10.1.2.3:631".parse().unwrap()
    );
    assert_eq!(v.content().comment.as_deref(), Some("Büro-Drucker"));
}

#[test]
fn signing_refuses_a_key_that_is_not_the_authority() {
    let c = content(&key(1));
    assert_eq!(c.sign(&key(2), NOW), Err(CpaError::AuthorityMismatch));
}

#[test]
fn signing_enforces_limits_and_lifetime() {
    let k = key(1);
    let mut c = content(&k);
    c.comment = Some("x".repeat(40));
    assert!(matches!(c.sign(&k, NOW), Err(CpaError::Limit(_))));
    let mut c = content(&k);
    c.service_addresses = vec![c.service_addresses[0]; 5];
    assert!(matches!(c.sign(&k, NOW), Err(CpaError::Limit(_))));
    let mut c = content(&k);
    c.service_addresses.clear();
    assert!(matches!(c.sign(&k, NOW), Err(CpaError::Limit(_))));
    let mut c = content(&k);
    c.endpoints = vec![AppEndpoint::new("[::1]:1".parse().unwrap(), 6); 11];
    assert!(matches!(c.sign(&k, NOW), Err(CpaError::Limit(_))));
    let mut c = content(&k);
    c.not_after = NOW.plus_secs(3600).to_filetime();
    assert!(matches!(
        c.sign(&k, NOW),
        Err(CpaError::LifetimeOutOfRange { .. })
    ));
    c.not_after = NOW.plus_secs(8 * 86_400).to_filetime();
    assert!(matches!(
        c.sign(&k, NOW),
        Err(CpaError::LifetimeOutOfRange { .. })
    ));
    let mut c = content(&k);
    c.revoke = true;
    assert_eq!(c.sign(&k, NOW), Err(CpaError::RevokeWithNonce));
}

#[test]
fn verification_rules() {
    let k = key(1);
    let c = content(&k);
    let cpa = c.sign(&k, NOW).unwrap();
    let v = |cpa: &UnverifiedCpa, ctx: &VerifyContext| cpa.clone().verify(&P256Verifier, ctx);
    assert!(v(&cpa, &ctx()).is_ok());
    // Expired.
    let later = VerifyContext::inquiry(NOW.plus_secs(86_401), [0xaa; 16]);
    assert!(matches!(v(&cpa, &later), Err(CpaError::Expired { .. })));
    // Too far ahead (a clock far behind, or a forged long lifetime).
    let earlier = VerifyContext::inquiry(UnixTime(NOW.0 - 8 * 86_400), [0xaa; 16]);
    assert!(matches!(
        v(&cpa, &earlier),
        Err(CpaError::LifetimeOutOfRange { .. })
    ));
    // Replay with another nonce.
    let other = VerifyContext::inquiry(NOW, [0xab; 16]);
    assert_eq!(v(&cpa, &other), Err(CpaError::NonceMismatch));
    // Wrong ID.
    let wrong = ctx().expecting(PnrpId::ZERO);
    assert!(matches!(v(&cpa, &wrong), Err(CpaError::IdMismatch { .. })));
    // A normal CPA is not a revoke.
    let rev = VerifyContext::revocation(NOW);
    assert!(matches!(v(&cpa, &rev), Err(CpaError::RevokeFlag { .. })));
}

#[test]
fn tampering_breaks_the_signature() {
    let k = key(1);
    let cpa = content(&k).sign(&k, NOW).unwrap();
    let mut bytes = cpa.as_bytes().to_vec();
    // Change the service address port (offset 48 + 20 + 20 + 4).
    bytes[92] ^= 1;
    let forged = UnverifiedCpa::decode(&bytes).unwrap();
    assert!(matches!(
        forged.verify(&P256Verifier, &ctx()),
        Err(CpaError::BadSignature(_))
    ));
}

#[test]
fn a_stolen_name_under_another_key_is_refused() {
    // Attacker copies the victim's authority but signs with its own key.
    let victim = key(1);
    let attacker = key(3);
    let mut c = content(&victim);
    c.authority = None;
    let mut cpa_bytes = c.sign(&attacker, NOW).unwrap().as_bytes().to_vec();
    // Re-insert the victim's authority by rebuilding the content with the A
    // flag: the attacker cannot sign it (sign refuses), so forge by hand.
    let mut forged = content(&victim);
    forged.nonce = [0xaa; 16];
    let unsigned_len = codec::encoded_len(&forged) - codec::SIGNATURE_FIELD_LEN;
    let mut bytes = Vec::new();
    codec::write_unsigned(&forged, &attacker.public_key(), &mut bytes);
    assert_eq!(bytes.len(), unsigned_len);
    let sig = attacker.sign(&bytes);
    codec::write_signature(&sig, &mut bytes);
    let cpa = UnverifiedCpa::decode(&bytes).unwrap();
    assert_eq!(
        cpa.verify(&P256Verifier, &ctx()),
        Err(CpaError::AuthorityMismatch)
    );
    cpa_bytes.clear();
}

#[test]
fn revoke_cpa_round_trip() {
    let k = key(1);
    let mut c = content(&k);
    c.revoke = true;
    c.nonce = [0; 16];
    c.service_addresses.clear();
    let cpa = c.sign(&k, NOW).unwrap();
    // 16 zero nonce bytes are kept (design §3).
    assert_eq!(&cpa.as_bytes()[32..48], &[0; 16]);
    let v = UnverifiedCpa::decode(cpa.as_bytes())
        .unwrap()
        .verify(&P256Verifier, &VerifyContext::revocation(NOW))
        .unwrap();
    assert!(v.content().revoke);
}

#[test]
fn extended_payload_verifies_against_its_cpa() {
    let k = key(1);
    let mut c = content(&k);
    c.has_extended_payload = true;
    let cpa = c
        .sign(&k, NOW)
        .unwrap()
        .verify(&P256Verifier, &ctx())
        .unwrap();
    let data = PayloadData::Text("hello, world".into());
    let p = UnverifiedExtendedPayload::sign(
        data.clone(),
        cpa.pnrp_id(),
        NOW.plus_secs(86_400),
        [0xaa; 16],
        &k,
    )
    .unwrap();
    let decoded = UnverifiedExtendedPayload::decode(p.as_bytes()).unwrap();
    assert_eq!(decoded, p);
    let v = cpa.verify_payload(decoded, &P256Verifier, &ctx()).unwrap();
    assert_eq!(v.data(), &data);
    // Signed by someone else: refused.
    let other = UnverifiedExtendedPayload::sign(
        data.clone(),
        cpa.pnrp_id(),
        NOW.plus_secs(86_400),
        [0xaa; 16],
        &key(4),
    )
    .unwrap();
    assert!(matches!(
        cpa.verify_payload(other, &P256Verifier, &ctx()),
        Err(CpaError::BadSignature(_))
    ));
    // For another registration: refused.
    let wrong =
        UnverifiedExtendedPayload::sign(data, PnrpId::ZERO, NOW.plus_secs(86_400), [0xaa; 16], &k)
            .unwrap();
    assert!(matches!(
        cpa.verify_payload(wrong, &P256Verifier, &ctx()),
        Err(CpaError::IdMismatch { .. })
    ));
}

#[test]
fn extended_payload_limits() {
    let k = key(1);
    let ok = PayloadData::Binary(vec![7; MAX_EXTENDED_PAYLOAD]);
    let p = UnverifiedExtendedPayload::sign(ok, PnrpId::ZERO, NOW, [0; 16], &k).unwrap();
    assert_eq!(p.as_bytes().len(), 74 + 4096 + 72);
    assert!(UnverifiedExtendedPayload::decode(p.as_bytes()).is_ok());
    for bad in [
        PayloadData::Binary(vec![]),
        PayloadData::Binary(vec![0; MAX_EXTENDED_PAYLOAD + 1]),
        PayloadData::Text(String::new()),
        PayloadData::Text("a\0b".into()),
        PayloadData::Text("x".repeat(MAX_EXTENDED_PAYLOAD)),
    ] {
        assert!(UnverifiedExtendedPayload::sign(bad, PnrpId::ZERO, NOW, [0; 16], &k).is_err());
    }
}
