//! BLS signatures on BN254, compatible with EigenLayer (`BN254.sol`, `BLSSignatureChecker.sol`,
//! `BLSApkRegistry.sol`) and eigensdk.
//!
//! - Signatures are in G1, public keys in G2 (for verification) and in G1 (as EigenLayer
//!   registers them, so aggregate keys can be formed cheaply on chain).
//! - A 32-byte message (already a keccak digest) is hashed to G1 exactly as `BN254.hashToG1`
//!   does: try-and-increment from `x = message mod p`, `y = (x^3 + 3)^((p+1)/4)`.
//! - Verification is one multi-pairing product check: `e(sigma, -g2) * e(H(m), pk) == 1`.
//! - Encodings are the contracts': 32-byte big-endian coordinates; G1 as `x || y`, G2 as
//!   `x.c1 || x.c0 || y.c1 || y.c0` (the EIP-197 order). Every decoded point is checked: in
//!   the field, on the curve, in the prime-order subgroup, and not the point at infinity.
//!
//! Aggregating signatures on one message is only safe when every key has proven possession
//! of its secret ([`KeyRegistration`]), as EigenLayer requires at registration; otherwise a
//! rogue key can cancel the others.
//!
//! ```
//! use altlayer_core::bls::{SecretKey, Signature, PublicKeyG2, verify};
//! use alloy_primitives::{B256, U256};
//!
//! let keys: Vec<_> = (1..=3u64).map(|i| SecretKey::from_u256(U256::from(i)).unwrap()).collect();
//! let message = B256::repeat_byte(7);
//! let signatures: Vec<_> = keys.iter().map(|k| k.sign(&message)).collect();
//! let aggregate = Signature::aggregate(&signatures);
//! let key = PublicKeyG2::aggregate(&keys.iter().map(SecretKey::public_key_g2).collect::<Vec<_>>());
//! assert!(verify(&key, &message, &aggregate));
//! assert!(!verify(&key, &B256::ZERO, &aggregate));
//! // The contracts' encoding round-trips, with every check on the way in.
//! assert_eq!(Signature::from_bytes(&aggregate.to_bytes())?, aggregate);
//! # Ok::<(), altlayer_core::bls::BlsError>(())
//! ```

use alloy_primitives::{Address, B256, U256, keccak256};
use ark_bn254::{Bn254, Fq, Fq2, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{AffineRepr, CurveGroup, PrimeGroup, pairing::Pairing};
use ark_ff::{BigInteger, Field, One, PrimeField, Zero};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a key, signature or point was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlsError {
    /// Wrong encoding length.
    #[error("expected {expected} bytes, got {got}")]
    InvalidLength {
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// A coordinate is not below the field modulus.
    #[error("coordinate not in the base field")]
    NotInField,
    /// The point is not on the curve.
    #[error("point not on the curve")]
    NotOnCurve,
    /// The point is on the curve but not in the prime-order subgroup.
    #[error("point not in the prime-order subgroup")]
    NotInSubgroup,
    /// The point at infinity, which is neither a key nor a signature.
    #[error("point at infinity")]
    Infinity,
    /// A secret key must be in `1..r`.
    #[error("secret key not in 1..r")]
    InvalidSecretKey,
}

/// The BN254 base field modulus p.
pub const FIELD_MODULUS: U256 = U256::from_limbs([
    0x3c20_8c16_d87c_fd47,
    0x9781_6a91_6871_ca8d,
    0xb850_45b6_8181_585d,
    0x3064_4e72_e131_a029,
]);

/// The BN254 group order r (the scalar field modulus).
pub const GROUP_ORDER: U256 = U256::from_limbs([
    0x43e1_f593_f000_0001,
    0x2833_e848_79b9_7091,
    0xb850_45b6_8181_585d,
    0x3064_4e72_e131_a029,
]);

fn fq_from_be(bytes: &[u8]) -> Result<Fq, BlsError> {
    let value = U256::from_be_slice(bytes);
    if value >= FIELD_MODULUS {
        return Err(BlsError::NotInField);
    }
    Ok(Fq::from(ark_ff::BigInt::<4>(value.into_limbs())))
}

fn fq_to_be(x: &Fq) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&x.into_bigint().to_bytes_be());
    out
}

fn fr_to_u256(x: &Fr) -> U256 {
    U256::from_limbs(x.into_bigint().0)
}

fn check_length(bytes: &[u8], expected: usize) -> Result<(), BlsError> {
    if bytes.len() == expected {
        Ok(())
    } else {
        Err(BlsError::InvalidLength {
            expected,
            got: bytes.len(),
        })
    }
}

fn g1_from_bytes(bytes: &[u8]) -> Result<G1Affine, BlsError> {
    check_length(bytes, 64)?;
    let (x, y) = (fq_from_be(&bytes[..32])?, fq_from_be(&bytes[32..])?);
    if x.is_zero() && y.is_zero() {
        // The contracts' encoding of infinity.
        return Err(BlsError::Infinity);
    }
    let point = G1Affine::new_unchecked(x, y);
    if !point.is_on_curve() {
        return Err(BlsError::NotOnCurve);
    }
    // G1 of BN254 has cofactor 1, so this holds for every point on the curve; checked anyway
    // so the rule reads the same for both groups.
    if !point.is_in_correct_subgroup_assuming_on_curve() {
        return Err(BlsError::NotInSubgroup);
    }
    Ok(point)
}

fn g1_to_bytes(point: &G1Affine) -> [u8; 64] {
    let mut out = [0u8; 64];
    if let Some((x, y)) = point.xy() {
        out[..32].copy_from_slice(&fq_to_be(&x));
        out[32..].copy_from_slice(&fq_to_be(&y));
    }
    out
}

fn g2_from_bytes(bytes: &[u8]) -> Result<G2Affine, BlsError> {
    check_length(bytes, 128)?;
    let c = |i: usize| fq_from_be(&bytes[32 * i..32 * (i + 1)]);
    // EIP-197 order: the imaginary part first.
    let x = Fq2::new(c(1)?, c(0)?);
    let y = Fq2::new(c(3)?, c(2)?);
    if x.is_zero() && y.is_zero() {
        return Err(BlsError::Infinity);
    }
    let point = G2Affine::new_unchecked(x, y);
    if !point.is_on_curve() {
        return Err(BlsError::NotOnCurve);
    }
    if !point.is_in_correct_subgroup_assuming_on_curve() {
        return Err(BlsError::NotInSubgroup);
    }
    Ok(point)
}

fn g2_to_bytes(point: &G2Affine) -> [u8; 128] {
    let mut out = [0u8; 128];
    if let Some((x, y)) = point.xy() {
        out[..32].copy_from_slice(&fq_to_be(&x.c1));
        out[32..64].copy_from_slice(&fq_to_be(&x.c0));
        out[64..96].copy_from_slice(&fq_to_be(&y.c1));
        out[96..].copy_from_slice(&fq_to_be(&y.c0));
    }
    out
}

/// `(p + 1) / 4`, the exponent `BN254.sol` takes square roots with (p = 3 mod 4).
const SQRT_EXPONENT: [u64; 4] = [
    0x4f08_2305_b61f_3f52,
    0x65e0_5aa4_5a1c_72a3,
    0x6e14_116d_a060_5617,
    0x0c19_139c_b84c_680a,
];

/// Hashes a 32-byte message to G1 exactly as EigenLayer's `BN254.hashToG1`: starting from
/// `x = message mod p`, the first `x, x+1, ...` with `beta = x^3 + 3` a square gives the point
/// `(x, beta^((p+1)/4))`.
pub fn hash_to_g1(message: &B256) -> G1Affine {
    let mut x = Fq::from_be_bytes_mod_order(message.as_slice());
    let three = Fq::from(3u64);
    loop {
        let beta = x.square() * x + three;
        let y = beta.pow(SQRT_EXPONENT);
        if y.square() == beta {
            // On the curve by construction, and G1 has cofactor 1.
            return G1Affine::new_unchecked(x, y);
        }
        x += Fq::one();
    }
}

/// A secret key: a scalar in `1..r`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(Fr);

impl core::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    /// The key with scalar `value`, which must be in `1..r`.
    pub fn from_u256(value: U256) -> Result<Self, BlsError> {
        if value.is_zero() || value >= GROUP_ORDER {
            return Err(BlsError::InvalidSecretKey);
        }
        Ok(Self(Fr::from(ark_ff::BigInt::<4>(value.into_limbs()))))
    }

    /// The key from 32 big-endian bytes, which must encode a scalar in `1..r`.
    pub fn from_be_bytes(bytes: &[u8; 32]) -> Result<Self, BlsError> {
        Self::from_u256(U256::from_be_bytes(*bytes))
    }

    /// A key derived from a seed: `keccak256(seed)` reduced mod r (never zero in practice;
    /// refused if it is). For development and tests; operators generate keys with a CSPRNG.
    pub fn from_seed(seed: &[u8]) -> Result<Self, BlsError> {
        let scalar = Fr::from_be_bytes_mod_order(keccak256(seed).as_slice());
        if scalar.is_zero() {
            return Err(BlsError::InvalidSecretKey);
        }
        Ok(Self(scalar))
    }

    /// The scalar, big-endian.
    pub fn to_be_bytes(&self) -> [u8; 32] {
        fr_to_u256(&self.0).to_be_bytes()
    }

    /// The public key in G1: `sk * g1`.
    pub fn public_key_g1(&self) -> PublicKeyG1 {
        PublicKeyG1((G1Projective::generator() * self.0).into_affine())
    }

    /// The public key in G2: `sk * g2`.
    pub fn public_key_g2(&self) -> PublicKeyG2 {
        PublicKeyG2((G2Projective::generator() * self.0).into_affine())
    }

    /// Signs a 32-byte message: `sk * hash_to_g1(message)`.
    pub fn sign(&self, message: &B256) -> Signature {
        self.sign_point(&hash_to_g1(message))
    }

    /// Signs a message already hashed to G1.
    pub fn sign_point(&self, point: &G1Affine) -> Signature {
        Signature((*point * self.0).into_affine())
    }

    /// Proves possession of this key for `operator` on `chain_id` (see [`KeyRegistration`]).
    pub fn register(&self, chain_id: u64, operator: Address) -> KeyRegistration {
        let message = KeyRegistration::message(chain_id, operator);
        KeyRegistration {
            g1: self.public_key_g1(),
            g2: self.public_key_g2(),
            signature: self.sign(&message),
        }
    }
}

macro_rules! point_type {
    ($name:ident, $affine:ty, $projective:ty, $len:literal, $from:ident, $to:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy, PartialEq, Eq)]
        pub struct $name(pub(crate) $affine);

        impl $name {
            /// The encoded length in bytes.
            pub const LEN: usize = $len;

            /// Decodes the contracts' encoding, refusing anything not in the prime-order
            /// subgroup or the point at infinity.
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
                $from(bytes).map(Self)
            }

            /// The contracts' encoding.
            pub fn to_bytes(&self) -> [u8; $len] {
                $to(&self.0)
            }

            /// The arkworks point.
            pub const fn point(&self) -> &$affine {
                &self.0
            }

            /// Wraps a point, checking it as decoding does.
            pub fn from_point(point: $affine) -> Result<Self, BlsError> {
                if point.is_zero() {
                    return Err(BlsError::Infinity);
                }
                if !point.is_on_curve() {
                    return Err(BlsError::NotOnCurve);
                }
                if !point.is_in_correct_subgroup_assuming_on_curve() {
                    return Err(BlsError::NotInSubgroup);
                }
                Ok(Self(point))
            }

            /// Wraps a sum of points that were each checked (a running aggregate kept as a
            /// projective sum): such a sum is in the subgroup by construction, so only the
            /// curve equation is re-checked, not the (costly) subgroup membership. Never use
            /// it on a point from outside; decode those with `from_bytes`.
            pub fn from_trusted_sum(point: $affine) -> Result<Self, BlsError> {
                if point.is_on_curve() {
                    Ok(Self(point))
                } else {
                    Err(BlsError::NotOnCurve)
                }
            }

            /// The sum of `items` (the aggregate). Summing an empty list, or values that
            /// cancel, yields the point at infinity, which verifies nothing.
            pub fn aggregate<'a>(items: impl IntoIterator<Item = &'a Self>) -> Self {
                let sum: $projective = items.into_iter().map(|p| p.0).sum();
                Self(sum.into_affine())
            }

            /// Whether this is the point at infinity (an empty or cancelled aggregate).
            pub fn is_infinity(&self) -> bool {
                self.0.is_zero()
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(
                    f,
                    "{}({})",
                    stringify!($name),
                    alloy_primitives::hex::encode_prefixed(self.to_bytes())
                )
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&alloy_primitives::hex::encode_prefixed(self.to_bytes()))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                let bytes = alloy_primitives::hex::decode(text.as_ref())
                    .map_err(serde::de::Error::custom)?;
                Self::from_bytes(&bytes).map_err(serde::de::Error::custom)
            }
        }
    };
}

point_type!(
    PublicKeyG1,
    G1Affine,
    G1Projective,
    64,
    g1_from_bytes,
    g1_to_bytes,
    "A public key in G1 (`sk * g1`), as EigenLayer's registry stores it: 64 bytes `x || y`."
);
point_type!(
    PublicKeyG2,
    G2Affine,
    G2Projective,
    128,
    g2_from_bytes,
    g2_to_bytes,
    "A public key in G2 (`sk * g2`), what signatures verify against: 128 bytes \
     `x.c1 || x.c0 || y.c1 || y.c0`."
);
point_type!(
    Signature,
    G1Affine,
    G1Projective,
    64,
    g1_from_bytes,
    g1_to_bytes,
    "A signature in G1 (`sk * H(m)`), or an aggregate of signatures on one message: 64 bytes \
     `x || y`."
);

/// Verifies `signature` on `message` under `key` (a single key or an aggregate of the
/// signers' keys): `e(signature, -g2) * e(hash_to_g1(message), key) == 1`, one multi-pairing.
/// The point at infinity never verifies.
pub fn verify(key: &PublicKeyG2, message: &B256, signature: &Signature) -> bool {
    verify_point(key, &hash_to_g1(message), signature)
}

/// [`verify`] with the message already hashed to G1 (when many checks share one message).
pub fn verify_point(key: &PublicKeyG2, point: &G1Affine, signature: &Signature) -> bool {
    if key.is_infinity() || signature.is_infinity() {
        return false;
    }
    let minus_g2 = -G2Affine::generator();
    Bn254::multi_pairing([signature.0, *point], [minus_g2, key.0]).is_zero()
}

/// `keccak256(words) mod r`, the Fiat–Shamir challenge EigenLayer's checks use.
fn gamma(words: &[[u8; 32]]) -> Fr {
    Fr::from_be_bytes_mod_order(keccak256(words.concat()).as_slice())
}

fn words_g1(point: &G1Affine) -> [[u8; 32]; 2] {
    let bytes = g1_to_bytes(point);
    [
        bytes[..32].try_into().unwrap_or_default(),
        bytes[32..].try_into().unwrap_or_default(),
    ]
}

fn words_g2(point: &G2Affine) -> [[u8; 32]; 4] {
    let b = g2_to_bytes(point);
    let word = |i: usize| <[u8; 32]>::try_from(&b[32 * i..32 * (i + 1)]).unwrap_or_default();
    [word(0), word(1), word(2), word(3)]
}

/// EigenLayer's `BLSSignatureChecker.trySignatureAndApkVerification`: checks `signature` on
/// `message` and, in the same multi-pairing, that `key_g1` and `key_g2` are the same key:
/// with `gamma = keccak(message, key_g1, key_g2, signature) mod r`,
/// `e(signature + gamma * key_g1, -g2) * e(H(m) + gamma * g1, key_g2) == 1`.
/// What the contract will accept, checked off chain.
pub fn verify_with_g1_key(
    message: &B256,
    key_g1: &PublicKeyG1,
    key_g2: &PublicKeyG2,
    signature: &Signature,
) -> bool {
    if key_g1.is_infinity() || key_g2.is_infinity() || signature.is_infinity() {
        return false;
    }
    let mut words = vec![message.0];
    words.extend(words_g1(&key_g1.0));
    words.extend(words_g2(&key_g2.0));
    words.extend(words_g1(&signature.0));
    let gamma = gamma(&words);
    pairing_with_gamma(&hash_to_g1(message), key_g1, key_g2, signature, gamma)
}

fn pairing_with_gamma(
    point: &G1Affine,
    key_g1: &PublicKeyG1,
    key_g2: &PublicKeyG2,
    signature: &Signature,
    gamma: Fr,
) -> bool {
    let left = (signature.0 + key_g1.0 * gamma).into_affine();
    let right = (*point + G1Affine::generator() * gamma).into_affine();
    Bn254::multi_pairing([left, right], [-G2Affine::generator(), key_g2.0]).is_zero()
}

/// A key with its proof of possession, as EigenLayer's `BLSApkRegistry.registerBLSPublicKey`
/// takes it: both public keys and a signature, by the secret key, on a message that names
/// the operator, so nobody can register a key derived from others' keys (a rogue key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRegistration {
    /// The key in G1.
    pub g1: PublicKeyG1,
    /// The key in G2.
    pub g2: PublicKeyG2,
    /// Signature on [`KeyRegistration::message`] of the operator.
    pub signature: Signature,
}

impl KeyRegistration {
    /// The message a key signs to register for `operator` on `chain_id`:
    /// `keccak256("altlayer/bls/registration" || 0x00 || chain_id || operator)`.
    pub fn message(chain_id: u64, operator: Address) -> B256 {
        let mut buf = Vec::with_capacity(26 + 1 + 8 + 20);
        buf.extend_from_slice(b"altlayer/bls/registration");
        buf.push(0);
        buf.extend_from_slice(&chain_id.to_be_bytes());
        buf.extend_from_slice(operator.as_slice());
        keccak256(&buf)
    }

    /// Checks the proof as the registry contract does: with `H` the message hashed to G1 and
    /// `gamma = keccak(signature, g1, g2, H) mod r`,
    /// `e(signature + gamma * g1, -g2gen) * e(H + gamma * g1gen, g2) == 1`.
    pub fn verify(&self, chain_id: u64, operator: Address) -> bool {
        if self.g1.is_infinity() || self.g2.is_infinity() || self.signature.is_infinity() {
            return false;
        }
        let point = hash_to_g1(&Self::message(chain_id, operator));
        let mut words = Vec::with_capacity(10);
        words.extend(words_g1(&self.signature.0));
        words.extend(words_g1(&self.g1.0));
        words.extend(words_g2(&self.g2.0));
        words.extend(words_g1(&point));
        let gamma = gamma(&words);
        pairing_with_gamma(&point, &self.g1, &self.g2, &self.signature, gamma)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_are_the_curve_s() {
        assert_eq!(FIELD_MODULUS, U256::from_limbs(Fq::MODULUS.0));
        assert_eq!(GROUP_ORDER, U256::from_limbs(Fr::MODULUS.0));
        let exponent = (FIELD_MODULUS + U256::from(1)) / U256::from(4);
        assert_eq!(exponent.into_limbs(), SQRT_EXPONENT);
    }

    #[test]
    fn bad_encodings_are_refused() {
        let key = SecretKey::from_u256(U256::from(5)).unwrap();
        let sig = key.sign(&B256::ZERO).to_bytes();
        assert_eq!(
            Signature::from_bytes(&sig[..63]),
            Err(BlsError::InvalidLength {
                expected: 64,
                got: 63
            })
        );
        assert_eq!(Signature::from_bytes(&[0; 64]), Err(BlsError::Infinity));
        let mut off = sig;
        off[63] ^= 1;
        assert_eq!(Signature::from_bytes(&off), Err(BlsError::NotOnCurve));
        let mut big = sig;
        big[..32].copy_from_slice(&FIELD_MODULUS.to_be_bytes::<32>());
        assert_eq!(Signature::from_bytes(&big), Err(BlsError::NotInField));
        assert_eq!(PublicKeyG2::from_bytes(&[0; 128]), Err(BlsError::Infinity));
        assert!(SecretKey::from_u256(U256::ZERO).is_err());
        assert!(SecretKey::from_u256(GROUP_ORDER).is_err());
        assert!(SecretKey::from_u256(GROUP_ORDER - U256::from(1)).is_ok());
    }

    #[test]
    fn g2_points_outside_the_subgroup_are_refused() {
        // Points on the twist with x = 1, 2, ...: the twist's cofactor is large, so such a
        // point is almost never in the r-torsion subgroup.
        let mut found = false;
        for i in 1u64..50 {
            let x = Fq2::new(Fq::from(i), Fq::zero());
            if let Some(point) = G2Affine::get_point_from_x_unchecked(x, false) {
                let bytes = g2_to_bytes(&point);
                assert_eq!(
                    PublicKeyG2::from_bytes(&bytes),
                    Err(BlsError::NotInSubgroup)
                );
                found = true;
                break;
            }
        }
        assert!(found);
    }

    #[test]
    fn registration_proves_possession_for_one_operator_and_chain() {
        let key = SecretKey::from_seed(b"operator").unwrap();
        let operator = Address::repeat_byte(1);
        let registration = key.register(1, operator);
        assert!(registration.verify(1, operator));
        assert!(!registration.verify(2, operator));
        assert!(!registration.verify(1, Address::repeat_byte(2)));
        // A G1 key that does not match the G2 key is caught by the same check.
        let other = SecretKey::from_seed(b"other").unwrap();
        let mismatched = KeyRegistration {
            g1: other.public_key_g1(),
            ..registration.clone()
        };
        assert!(!mismatched.verify(1, operator));
    }

    #[test]
    fn eigenlayer_aggregate_check_binds_both_keys() {
        let keys: Vec<_> = (1..=4u64)
            .map(|i| SecretKey::from_u256(U256::from(i * 7919)).unwrap())
            .collect();
        let message = B256::repeat_byte(0x42);
        let sigma =
            Signature::aggregate(&keys.iter().map(|k| k.sign(&message)).collect::<Vec<_>>());
        let g1 = PublicKeyG1::aggregate(
            &keys
                .iter()
                .map(SecretKey::public_key_g1)
                .collect::<Vec<_>>(),
        );
        let g2 = PublicKeyG2::aggregate(
            &keys
                .iter()
                .map(SecretKey::public_key_g2)
                .collect::<Vec<_>>(),
        );
        assert!(verify(&g2, &message, &sigma));
        assert!(verify_with_g1_key(&message, &g1, &g2, &sigma));
        let short = PublicKeyG1::aggregate(
            &keys[1..]
                .iter()
                .map(SecretKey::public_key_g1)
                .collect::<Vec<_>>(),
        );
        assert!(!verify_with_g1_key(&message, &short, &g2, &sigma));
    }
}
