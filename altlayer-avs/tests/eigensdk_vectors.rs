//! Compatibility with EigenLayer: vectors generated once with eigensdk-rs's BLS crates
//! (`eigen-crypto-bls` 2.0.0, `eigen-crypto-bn254` 2.0.0) by the program in
//! `tests/fixtures/eigensdk-vectors` (outside the workspace). Six secret keys (1, 2, a small
//! and a random-looking one, r - 1 and r - 2) each sign four messages (all zeros, all ones,
//! one, "altlayer"); every hash-to-G1 point, signature and both public keys must match to the
//! byte, decode with all checks, and verify.

use alloy_primitives::{B256, U256, hex};
use altlayer_avs::bls::{
    self, GROUP_ORDER, PublicKeyG1, PublicKeyG2, SecretKey, Signature, verify, verify_with_g1_key,
};
use serde_json::Value;

fn word(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("hex")
}

fn g1(v: &Value) -> Vec<u8> {
    [word(&v["x"]), word(&v["y"])].concat()
}

fn g2(v: &Value) -> Vec<u8> {
    [
        word(&v["x"][0]),
        word(&v["x"][1]),
        word(&v["y"][0]),
        word(&v["y"][1]),
    ]
    .concat()
}

#[test]
fn keys_hashes_and_signatures_match_eigensdk_byte_for_byte() {
    let doc: Value =
        serde_json::from_str(include_str!("fixtures/eigensdk-bls-vectors.json")).unwrap();
    assert_eq!(
        U256::from_str_radix(doc["groupOrder"].as_str().unwrap(), 10).unwrap(),
        GROUP_ORDER
    );
    let vectors = doc["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 5);
    let mut checked = 0;
    for vector in vectors {
        let scalar = U256::from_str_radix(vector["secretKey"].as_str().unwrap(), 10).unwrap();
        let secret = SecretKey::from_u256(scalar).unwrap();
        let key_g1 = secret.public_key_g1();
        let key_g2 = secret.public_key_g2();
        assert_eq!(
            key_g1.to_bytes().to_vec(),
            g1(&vector["publicKeyG1"]),
            "G1 key of {scalar}"
        );
        assert_eq!(
            key_g2.to_bytes().to_vec(),
            g2(&vector["publicKeyG2"]),
            "G2 key of {scalar}"
        );
        assert_eq!(
            PublicKeyG1::from_bytes(&g1(&vector["publicKeyG1"])),
            Ok(key_g1)
        );
        assert_eq!(
            PublicKeyG2::from_bytes(&g2(&vector["publicKeyG2"])),
            Ok(key_g2)
        );
        for case in vector["signatures"].as_array().unwrap() {
            let message = B256::from_slice(&word(&case["message"]));
            let point = bls::hash_to_g1(&message);
            let expected_point = g1(&case["hashToG1"]);
            let ours = Signature::from_trusted_sum(point).unwrap().to_bytes();
            assert_eq!(ours.to_vec(), expected_point, "hash of {message}");
            let signature = secret.sign(&message);
            assert_eq!(
                signature.to_bytes().to_vec(),
                g1(&case["signature"]),
                "signature of {message} by {scalar}"
            );
            assert_eq!(
                Signature::from_bytes(&g1(&case["signature"])),
                Ok(signature)
            );
            assert!(verify(&key_g2, &message, &signature));
            assert!(verify_with_g1_key(&message, &key_g1, &key_g2, &signature));
            checked += 1;
        }
    }
    assert_eq!(checked, vectors.len() * 4);
    // The vectors include the keys at both ends of the range.
    let scalars: Vec<_> = vectors
        .iter()
        .map(|v| v["secretKey"].as_str().unwrap())
        .collect();
    assert!(scalars.contains(&"1"));
    assert!(scalars.contains(&(GROUP_ORDER - U256::from(1)).to_string().as_str()));
}
