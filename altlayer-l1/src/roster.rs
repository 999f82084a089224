//! The rollup's operator sets, quorum certificates and signed digests in the form the L1
//! contracts take them: a roster is committed to as the Merkle root of its operators (each
//! with its BLS key in G1, what the contract adds with `ecAdd`, and its stake) with their
//! aggregate key and stakes; a certificate lists its non-signers (or its signers, when fewer
//! signed) with a multiproof, the signers' aggregate key in G2 and the aggregate signature.

use crate::bindings::rosters::{BN254, Rosters};
use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_sol_types::SolValue;
use altlayer_avs::qc::{QcError, QuorumCertificate, Roster, SignerBitmap, StakeSnapshot};
use altlayer_core::{
    ChainId, RollupId,
    bls::{PublicKeyG1, PublicKeyG2, Signature},
    primitives::{Domain, signing_digest},
};
use altlayer_staking::{AltLedger, OperatorKey, Service, StakingError};
use ark_bn254::G1Projective;
use ark_ec::CurveGroup;
use std::collections::VecDeque;

/// The contracts' number for a service (`Rosters.SQUAD`, `VITAL`, `MACH`), the byte the Rust
/// stake snapshots encode it as.
pub const fn service_code(service: Service) -> u8 {
    match service {
        Service::Squad => 0,
        Service::Vital => 1,
        Service::Mach => 2,
    }
}

/// The services in the contracts' order: one roster of each per epoch.
pub const SERVICES: [Service; 3] = [Service::Squad, Service::Vital, Service::Mach];

/// A G1 point (key or signature) as the contracts take it.
pub fn g1_point(bytes: [u8; 64]) -> BN254::G1Point {
    BN254::G1Point {
        X: U256::from_be_slice(&bytes[..32]),
        Y: U256::from_be_slice(&bytes[32..]),
    }
}

/// A G2 key as the contracts take it: each coordinate imaginary part first, as the pairing
/// precompile reads it (and as [`PublicKeyG2::to_bytes`] writes it).
pub fn g2_point(key: &PublicKeyG2) -> BN254::G2Point {
    let bytes = key.to_bytes();
    let word = |i: usize| U256::from_be_slice(&bytes[32 * i..32 * (i + 1)]);
    BN254::G2Point {
        X: [word(0), word(1)],
        Y: [word(2), word(3)],
    }
}

/// One operator of an [`L1Roster`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L1Operator {
    /// The operator's address.
    pub operator: Address,
    /// Its stake at the roster's epoch.
    pub stake: U256,
    /// Its BLS key in G1; `None`: it has none, counts in the total and cannot sign.
    pub key: Option<PublicKeyG1>,
}

/// One service's operators at one epoch, as the `Rosters` contract commits to them: sorted by
/// address, in a Merkle tree whose root, with the operator count, the aggregate G1 key, the
/// total stake and the stake of operators without a key, makes the roster the contract keeps
/// (by hash) and certificates pass ([`L1Roster::as_sol`]). The operators themselves go to the
/// L1 once, when the roster is accepted ([`L1Roster::operators_sol`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L1Roster {
    header: Rosters::Roster,
    operators: Vec<Rosters::Operator>,
    /// The Merkle tree as an array: leaf `i` at `2n - 2 - i`, the children of node `j` at
    /// `2j + 1` and `2j + 2` (OpenZeppelin's layout).
    tree: Vec<B256>,
}

impl L1Roster {
    /// The roster of `service` at `epoch` (the stake snapshot's height) from its operators,
    /// sorted and de-duplicated by address as the Rust [`Roster`] orders them, so a signer
    /// bitmap means the same operators on both sides.
    pub fn new(epoch: u64, service: Service, mut operators: Vec<L1Operator>) -> Self {
        operators.sort_by_key(|o| o.operator);
        operators.dedup_by_key(|o| o.operator);
        let total = operators.iter().fold(U256::ZERO, |sum, o| sum + o.stake);
        let keyless = operators
            .iter()
            .filter(|o| o.key.is_none())
            .fold(U256::ZERO, |sum, o| sum + o.stake);
        let apk: G1Projective = operators
            .iter()
            .filter_map(|o| o.key.as_ref())
            .map(|k| *k.point())
            .sum();
        let apk = PublicKeyG1::from_trusted_sum(apk.into_affine())
            .map_or(zero_point(), |k| g1_point(k.to_bytes()));
        let operators: Vec<Rosters::Operator> = operators
            .into_iter()
            .map(|o| Rosters::Operator {
                operator: o.operator,
                stake: o.stake,
                key: o.key.map_or(zero_point(), |k| g1_point(k.to_bytes())),
            })
            .collect();
        let n = operators.len();
        let mut tree = vec![B256::ZERO; (2 * n).saturating_sub(1)];
        for (i, operator) in operators.iter().enumerate() {
            tree[2 * n - 2 - i] = leaf(operator);
        }
        for node in (0..n.saturating_sub(1)).rev() {
            tree[node] = hash_pair(tree[2 * node + 1], tree[2 * node + 2]);
        }
        let header = Rosters::Roster {
            epoch,
            service: service_code(service),
            operators: n as u32,
            operatorsRoot: tree.first().copied().unwrap_or_default(),
            apk,
            totalStake: total,
            keylessStake: keyless,
        };
        Self {
            header,
            operators,
            tree,
        }
    }

    /// The roster of `snapshot` as the ALT ledger recorded it: members, stakes and the G1
    /// keys they registered with their proof of possession.
    pub fn from_ledger(ledger: &AltLedger, snapshot: StakeSnapshot) -> Result<Self, StakingError> {
        let members = ledger.members_at(snapshot.set, snapshot.height)?;
        let operators = members
            .into_iter()
            .map(|(operator, stake)| L1Operator {
                operator,
                stake,
                key: ledger.operator(&operator).and_then(|o| match &o.key {
                    OperatorKey::Bn254(registration) => Some(registration.g1),
                    _ => None,
                }),
            })
            .collect();
        Ok(Self::new(snapshot.height, snapshot.set.service, operators))
    }

    /// The epoch.
    pub const fn epoch(&self) -> u64 {
        self.header.epoch
    }

    /// The total stake.
    pub const fn total_stake(&self) -> U256 {
        self.header.totalStake
    }

    /// What the contract keeps: `keccak256(abi.encode(roster))`.
    pub fn hash(&self) -> B256 {
        keccak256(self.header.abi_encode())
    }

    /// The roster as certificates pass it.
    pub const fn as_sol(&self) -> &Rosters::Roster {
        &self.header
    }

    /// The roster as certificates pass it, owned.
    pub fn into_sol(self) -> Rosters::Roster {
        self.header
    }

    /// The operators, in address order, as `initialize` and `advanceEpoch` take them.
    pub fn operators_sol(&self) -> &[Rosters::Operator] {
        &self.operators
    }

    /// The certificate of the operators marked in `signers` (a bitmap over this roster, as the
    /// Rust certificates carry it), whose aggregate G2 key is `apk` and aggregate signature
    /// `signature`: the non-signers with keys are listed, or the signers when fewer signed,
    /// with the multiproof that they are this roster's.
    pub fn certificate(
        &self,
        signers: &SignerBitmap,
        apk: &PublicKeyG2,
        signature: &Signature,
    ) -> Result<Rosters::Certificate, QcError> {
        let n = self.operators.len();
        signers.check(n)?;
        let signers_listed = signers.count() * 2 < n;
        if let Some(i) = signers.ones().find(|&i| is_zero(&self.operators[i].key)) {
            return Err(QcError::SignerWithoutKey(self.operators[i].operator));
        }
        let listed: Vec<usize> = (0..n)
            .filter(|&i| {
                if signers_listed {
                    signers.get(i)
                } else {
                    !signers.get(i) && !is_zero(&self.operators[i].key)
                }
            })
            .collect();
        let (proof, proof_flags) = self.multiproof(&listed);
        Ok(Rosters::Certificate {
            signersListed: signers_listed,
            listed: listed.iter().map(|&i| self.operators[i].clone()).collect(),
            proof,
            proofFlags: proof_flags,
            apkG2: g2_point(apk),
            sigma: g1_point(signature.to_bytes()),
        })
    }

    /// OpenZeppelin's `getMultiProof` for operators `listed` (ascending positions): the proof
    /// hashes and flags that, with their leaves in ascending address order (descending tree
    /// positions), give the root.
    fn multiproof(&self, listed: &[usize]) -> (Vec<B256>, Vec<bool>) {
        let n = self.operators.len();
        if n == 0 {
            return (vec![B256::ZERO], Vec::new());
        }
        let mut stack: VecDeque<usize> = listed.iter().map(|&i| 2 * n - 2 - i).collect();
        let (mut proof, mut flags) = (Vec::new(), Vec::new());
        while let Some(&j) = stack.front() {
            if j == 0 {
                break;
            }
            stack.pop_front();
            let sibling = if j % 2 == 1 { j + 1 } else { j - 1 };
            if stack.front() == Some(&sibling) {
                flags.push(true);
                stack.pop_front();
            } else {
                flags.push(false);
                proof.push(self.tree[sibling]);
            }
            stack.push_back((j - 1) / 2);
        }
        if listed.is_empty() {
            proof.push(self.tree[0]);
        }
        (proof, flags)
    }
}

const fn zero_point() -> BN254::G1Point {
    BN254::G1Point {
        X: U256::ZERO,
        Y: U256::ZERO,
    }
}

fn is_zero(point: &BN254::G1Point) -> bool {
    point.X.is_zero() && point.Y.is_zero()
}

/// `Rosters.leaf`: `keccak256(keccak256(abi.encode(operator, stake, key.X, key.Y)))`.
fn leaf(operator: &Rosters::Operator) -> B256 {
    let inner = keccak256(
        (
            operator.operator,
            operator.stake,
            operator.key.X,
            operator.key.Y,
        )
            .abi_encode_params(),
    );
    keccak256(inner)
}

/// A commutative pair hash, as OpenZeppelin's `MerkleProof`.
fn hash_pair(a: B256, b: B256) -> B256 {
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    keccak256([low.as_slice(), high.as_slice()].concat())
}

/// A certificate as the contracts take it: the Rust certificate's signers and signature, with
/// the signers' aggregate key in G2 formed from `roster` (the Rust roster of the certificate's
/// snapshot) and the multiproof from `l1_roster` (the same operators on the L1).
pub fn l1_certificate(
    certificate: &QuorumCertificate,
    roster: &Roster,
    l1_roster: &L1Roster,
) -> Result<Rosters::Certificate, QcError> {
    let apk = roster.aggregate_key(&certificate.signers)?;
    l1_roster.certificate(&certificate.signers, &apk, &certificate.signature)
}

/// The digest the MACH set of the current epoch signs to hand the L1 over to `epoch`'s
/// rosters (`Rosters.handoffDigest`): the hand-over domain of the rollup, over the epoch and
/// the three rosters' hashes in service order.
pub fn handoff_digest(
    chain_id: ChainId,
    rollup: RollupId,
    epoch: u64,
    roster_hashes: [B256; 3],
) -> B256 {
    let mut payload = Vec::with_capacity(8 + 3 * 32);
    payload.extend_from_slice(&epoch.to_be_bytes());
    for hash in roster_hashes {
        payload.extend_from_slice(hash.as_slice());
    }
    signing_digest(Domain::RosterHandoff, chain_id, rollup, keccak256(&payload))
}

/// The digest the VITAL set signs for its verdict on step `step` of batch `batch_index`
/// (committed with the batch commitment `commitment`) from the agreed root `pre_root`: `valid`
/// and the root the step leads to (`VitalStepVerifier.verdictDigest`).
#[allow(clippy::too_many_arguments)]
pub fn step_verdict_digest(
    chain_id: ChainId,
    rollup: RollupId,
    batch_index: u64,
    commitment: B256,
    step: u64,
    pre_root: B256,
    valid: bool,
    post_root: B256,
) -> B256 {
    let mut payload = Vec::with_capacity(8 + 32 + 8 + 32 + 1 + 32);
    payload.extend_from_slice(&batch_index.to_be_bytes());
    payload.extend_from_slice(commitment.as_slice());
    payload.extend_from_slice(&step.to_be_bytes());
    payload.extend_from_slice(pre_root.as_slice());
    payload.push(u8::from(valid));
    payload.extend_from_slice(post_root.as_slice());
    signing_digest(Domain::StepVerdict, chain_id, rollup, keccak256(&payload))
}

/// The proof `VitalStepVerifier` takes: the verdict with the VITAL roster and its certificate,
/// `abi.encode(valid, postRoot, roster, certificate)`.
pub fn vital_step_proof(
    valid: bool,
    post_root: B256,
    roster: &L1Roster,
    certificate: Rosters::Certificate,
) -> alloy_primitives::Bytes {
    (valid, post_root, roster.as_sol().clone(), certificate)
        .abi_encode_params()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use altlayer_core::bls::SecretKey;
    use proptest::prelude::*;

    /// OpenZeppelin's `processMultiProof`, as `Rosters` runs it.
    fn process(proof: &[B256], flags: &[bool], leaves: &[B256]) -> Option<B256> {
        if leaves.len() + proof.len() != flags.len() + 1 {
            return None;
        }
        let (mut leaf_pos, mut hash_pos, mut proof_pos) = (0, 0, 0);
        let mut hashes = Vec::with_capacity(flags.len());
        let next = |hashes: &Vec<B256>, leaf_pos: &mut usize, hash_pos: &mut usize| {
            if *leaf_pos < leaves.len() {
                *leaf_pos += 1;
                leaves[*leaf_pos - 1]
            } else {
                *hash_pos += 1;
                hashes[*hash_pos - 1]
            }
        };
        for &flag in flags {
            let a = next(&hashes, &mut leaf_pos, &mut hash_pos);
            let b = if flag {
                next(&hashes, &mut leaf_pos, &mut hash_pos)
            } else {
                proof_pos += 1;
                *proof.get(proof_pos - 1)?
            };
            hashes.push(hash_pair(a, b));
        }
        if let Some(last) = hashes.last() {
            (proof_pos == proof.len()).then_some(*last)
        } else {
            leaves.first().or(proof.first()).copied()
        }
    }

    proptest! {
        /// For any roster size and any signer set, the certificate's listed operators and
        /// multiproof lead to the roster's root, in the order the contract requires.
        #[test]
        fn every_certificate_proves_its_listed_operators(
            n in 1usize..40,
            bits in proptest::collection::vec(any::<bool>(), 40),
        ) {
            let keys: Vec<SecretKey> = (0..n)
                .map(|i| SecretKey::from_u256(U256::from(7 + i as u64)).unwrap())
                .collect();
            let roster = L1Roster::new(
                3,
                Service::Mach,
                keys.iter()
                    .enumerate()
                    .map(|(i, k)| L1Operator {
                        operator: Address::with_last_byte(i as u8 + 1),
                        stake: U256::from(10 + i),
                        key: Some(k.public_key_g1()),
                    })
                    .collect(),
            );
            let mut signers = SignerBitmap::new(n);
            for i in (0..n).filter(|&i| bits[i]) {
                signers.set(i);
            }
            let apk = PublicKeyG2::aggregate(&keys.iter().map(SecretKey::public_key_g2).collect::<Vec<_>>());
            let certificate = roster
                .certificate(&signers, &apk, &keys[0].sign(&B256::ZERO))
                .unwrap();
            let leaves: Vec<B256> = certificate.listed.iter().map(leaf).collect();
            prop_assert!(certificate
                .listed
                .windows(2)
                .all(|w| w[0].operator < w[1].operator));
            let listed = if certificate.signersListed {
                signers.count()
            } else {
                n - signers.count()
            };
            prop_assert_eq!(leaves.len(), listed);
            prop_assert_eq!(
                process(&certificate.proof, &certificate.proofFlags, &leaves),
                Some(roster.as_sol().operatorsRoot)
            );
        }
    }
}
