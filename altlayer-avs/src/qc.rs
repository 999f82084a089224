//! Stake-weighted quorum certificates: which operators signed a digest, against the stake
//! they held at a snapshot, with one aggregate BLS signature.

use alloy_primitives::{Address, B256, U256, keccak256};
use altlayer_core::bls::{self, PublicKeyG2, Signature};
use altlayer_staking::{AltLedger, OperatorSetId, Service, StakingError};
use ark_bn254::G2Projective;
use ark_ec::CurveGroup;
use serde::{Deserialize, Serialize};

/// The stake a certificate counts against: an operator set at a height.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StakeSnapshot {
    /// The operator set.
    pub set: OperatorSetId,
    /// The height whose end-of-block stake counts.
    pub height: u64,
}

impl StakeSnapshot {
    /// The snapshot of `set` at `height`.
    pub const fn new(set: OperatorSetId, height: u64) -> Self {
        Self { set, height }
    }

    /// `service (1 byte) || rollup id || height`, integers big-endian: what signed messages
    /// bind.
    pub fn to_bytes(&self) -> [u8; 17] {
        let mut out = [0u8; 17];
        out[0] = match self.set.service {
            Service::Squad => 0,
            Service::Vital => 1,
            Service::Mach => 2,
        };
        out[1..9].copy_from_slice(&self.set.rollup.0.to_be_bytes());
        out[9..].copy_from_slice(&self.height.to_be_bytes());
        out
    }
}

/// Why a certificate, or a roster, was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QcError {
    /// The certificate is for another snapshot than the roster given.
    #[error("certificate snapshot {got:?} is not the roster's {expected:?}")]
    WrongSnapshot {
        /// The roster's.
        expected: StakeSnapshot,
        /// The certificate's.
        got: StakeSnapshot,
    },
    /// The certificate is for another digest than the one checked.
    #[error("certificate digest {got} is not {expected}")]
    WrongDigest {
        /// Expected.
        expected: B256,
        /// The certificate's.
        got: B256,
    },
    /// The bitmap's length does not match the roster.
    #[error("signer bitmap has {got} bytes, the roster needs {expected}")]
    BitmapLength {
        /// Bytes for the roster's size.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// A bit is set beyond the roster's last operator.
    #[error("signer bit {0} is beyond the roster")]
    BitOutOfRange(usize),
    /// No operator signed.
    #[error("no signers")]
    NoSigners,
    /// A signer has no BLS key.
    #[error("signer {0} has no BLS key")]
    SignerWithoutKey(Address),
    /// Signed stake is below the threshold.
    #[error("signed stake {signed} of {total} does not meet {threshold}")]
    BelowThreshold {
        /// Stake that signed.
        signed: U256,
        /// The snapshot's total.
        total: U256,
        /// The threshold.
        threshold: Threshold,
    },
    /// The aggregate signature does not verify under the signers' aggregate key.
    #[error("aggregate signature does not verify")]
    BadSignature,
    /// The threshold is not in 1..=100.
    #[error("threshold {0} % is not in 1..=100")]
    InvalidThreshold(u8),
    /// The snapshot could not be read from the ledger.
    #[error(transparent)]
    Staking(#[from] StakingError),
}

pub use altlayer_core::params::Threshold;

impl From<altlayer_core::params::InvalidThreshold> for QcError {
    fn from(invalid: altlayer_core::params::InvalidThreshold) -> Self {
        Self::InvalidThreshold(invalid.0)
    }
}

/// `BelowThreshold` unless `threshold` is met by `signed` of `total`.
pub(crate) fn check_threshold(
    threshold: Threshold,
    signed: U256,
    total: U256,
) -> Result<(), QcError> {
    if threshold.is_met(signed, total) {
        Ok(())
    } else {
        Err(QcError::BelowThreshold {
            signed,
            total,
            threshold,
        })
    }
}

/// One operator of a roster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RosterEntry {
    /// The operator.
    pub operator: Address,
    /// Its stake at the snapshot (zero below the set's minimum).
    pub stake: U256,
    /// Its BLS key, if it registered one; an operator without one counts in the total but
    /// can never sign a BLS certificate.
    pub key: Option<PublicKeyG2>,
}

/// The operators of a snapshot in address order (signer bitmaps index it), their stakes, and
/// the aggregate of all their keys, computed once, so a certificate's key is formed from
/// whichever is fewer: its signers or its non-signers.
#[derive(Clone, Debug)]
pub struct Roster {
    snapshot: StakeSnapshot,
    entries: Vec<RosterEntry>,
    total: U256,
    all_keys: G2Projective,
}

impl Roster {
    /// A roster from its entries, sorted and de-duplicated by address.
    pub fn new(snapshot: StakeSnapshot, mut entries: Vec<RosterEntry>) -> Self {
        entries.sort_by_key(|e| e.operator);
        entries.dedup_by_key(|e| e.operator);
        let total = entries.iter().fold(U256::ZERO, |s, e| s + e.stake);
        let all_keys = entries
            .iter()
            .filter_map(|e| e.key)
            .map(|k| *k.point())
            .sum();
        Self {
            snapshot,
            entries,
            total,
            all_keys,
        }
    }

    /// The roster of `snapshot` as the ledger recorded it: members, weights, BLS keys.
    pub fn from_ledger(ledger: &AltLedger, snapshot: StakeSnapshot) -> Result<Self, QcError> {
        let members = ledger.members_at(snapshot.set, snapshot.height)?;
        let entries = members
            .into_iter()
            .map(|(operator, stake)| RosterEntry {
                operator,
                stake,
                key: ledger
                    .operator(&operator)
                    .and_then(|o| o.key.bls())
                    .copied(),
            })
            .collect();
        Ok(Self::new(snapshot, entries))
    }

    /// The snapshot.
    pub const fn snapshot(&self) -> StakeSnapshot {
        self.snapshot
    }

    /// The operators, in address order.
    pub fn entries(&self) -> &[RosterEntry] {
        &self.entries
    }

    /// Number of operators.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the roster is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Total stake.
    pub const fn total(&self) -> U256 {
        self.total
    }

    /// Position of an operator.
    pub fn index_of(&self, operator: &Address) -> Option<usize> {
        self.entries
            .binary_search_by_key(operator, |e| e.operator)
            .ok()
    }

    /// The aggregate key of the operators whose bits are set: the sum of the signers' keys,
    /// or the sum of all keys minus the non-signers', whichever takes fewer additions.
    pub fn aggregate_key(&self, signers: &SignerBitmap) -> Result<PublicKeyG2, QcError> {
        signers.check(self.len())?;
        let count = signers.count();
        let key = if count * 2 >= self.len() {
            let mut key = self.all_keys;
            for (i, entry) in self.entries.iter().enumerate() {
                if signers.get(i) {
                    if entry.key.is_none() {
                        return Err(QcError::SignerWithoutKey(entry.operator));
                    }
                } else if let Some(k) = entry.key {
                    key -= k.point();
                }
            }
            key
        } else {
            let mut key = G2Projective::default();
            for i in signers.ones() {
                let entry = &self.entries[i];
                key += entry
                    .key
                    .ok_or(QcError::SignerWithoutKey(entry.operator))?
                    .point();
            }
            key
        };
        // A sum of checked keys: in the subgroup by construction.
        PublicKeyG2::from_trusted_sum(key.into_affine()).map_err(|_| QcError::BadSignature)
    }

    /// Stake of the operators whose bits are set.
    pub fn signed_stake(&self, signers: &SignerBitmap) -> Result<U256, QcError> {
        signers.check(self.len())?;
        Ok(signers
            .ones()
            .fold(U256::ZERO, |s, i| s + self.entries[i].stake))
    }
}

/// Which operators of a roster signed: bit `i` (byte `i / 8`, bit `i % 8` from the least
/// significant) is operator `i`. Exactly `ceil(n / 8)` bytes, no bit beyond `n`: one
/// encoding per signer set, and a signer cannot appear twice.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SignerBitmap(Vec<u8>);

impl SignerBitmap {
    /// No signers among `n` operators.
    pub fn new(n: usize) -> Self {
        Self(vec![0; n.div_ceil(8)])
    }

    /// From raw bytes (checked against a roster on use).
    pub const fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Marks operator `i` (ignored beyond the bitmap).
    pub fn set(&mut self, i: usize) {
        if let Some(byte) = self.0.get_mut(i / 8) {
            *byte |= 1 << (i % 8);
        }
    }

    /// Unmarks operator `i`.
    pub fn clear(&mut self, i: usize) {
        if let Some(byte) = self.0.get_mut(i / 8) {
            *byte &= !(1 << (i % 8));
        }
    }

    /// Whether operator `i` is marked.
    pub fn get(&self, i: usize) -> bool {
        self.0.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0)
    }

    /// Number of marked operators.
    pub fn count(&self) -> usize {
        self.0.iter().map(|b| b.count_ones() as usize).sum()
    }

    /// Indices of the marked operators, ascending.
    pub fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(byte, bits)| {
            (0..8)
                .filter(move |bit| bits & (1 << bit) != 0)
                .map(move |bit| byte * 8 + bit)
        })
    }

    /// Checks the bitmap against a roster of `n` operators.
    pub fn check(&self, n: usize) -> Result<(), QcError> {
        if self.0.len() != n.div_ceil(8) {
            return Err(QcError::BitmapLength {
                expected: n.div_ceil(8),
                got: self.0.len(),
            });
        }
        if let Some(i) = self.ones().find(|i| *i >= n) {
            return Err(QcError::BitOutOfRange(i));
        }
        Ok(())
    }
}

/// A quorum certificate: operators of a stake snapshot signed `digest`, with one aggregate
/// BLS signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumCertificate {
    /// What was signed (a domain-separated digest).
    pub digest: B256,
    /// The stake it counts against.
    pub snapshot: StakeSnapshot,
    /// Who signed, over the snapshot's roster.
    pub signers: SignerBitmap,
    /// The sum of the signers' signatures.
    pub signature: Signature,
}

impl QuorumCertificate {
    /// Identifies the certificate: keccak256 of digest, set, height, bitmap and signature.
    pub fn hash(&self) -> B256 {
        let mut buf = Vec::with_capacity(32 + 17 + self.signers.0.len() + 64);
        buf.extend_from_slice(self.digest.as_slice());
        buf.extend_from_slice(&self.snapshot.to_bytes());
        buf.extend_from_slice(&self.signers.0);
        buf.extend_from_slice(&self.signature.to_bytes());
        keccak256(&buf)
    }

    /// Verifies the certificate against its snapshot's roster: the bitmap fits the roster,
    /// the signers' stake meets `threshold`, and the aggregate signature verifies under the
    /// aggregate of the signers' keys (one multi-pairing). Returns the signed stake.
    pub fn verify(&self, roster: &Roster, threshold: Threshold) -> Result<U256, QcError> {
        if roster.snapshot != self.snapshot {
            return Err(QcError::WrongSnapshot {
                expected: roster.snapshot,
                got: self.snapshot,
            });
        }
        let signed = roster.signed_stake(&self.signers)?;
        if self.signers.count() == 0 {
            return Err(QcError::NoSigners);
        }
        check_threshold(threshold, signed, roster.total)?;
        let key = roster.aggregate_key(&self.signers)?;
        if bls::verify(&key, &self.digest, &self.signature) {
            Ok(signed)
        } else {
            Err(QcError::BadSignature)
        }
    }
}
