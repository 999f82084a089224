//! The rollup's operator sets and quorum certificates in the form the L1 contracts take them:
//! a roster carries each operator's BLS key in G1 (what the contract adds with `ecAdd`), its
//! stake, the aggregate key and the total; a certificate carries the signer bitmap, the
//! signers' aggregate key in G2 and the aggregate signature.

use crate::bindings::rosters::{BN254, Rosters};
use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_sol_types::SolValue;
use altlayer_avs::qc::{QcError, QuorumCertificate, Roster, StakeSnapshot};
use altlayer_core::{
    ChainId, RollupId,
    bls::{PublicKeyG1, PublicKeyG2, Signature},
    primitives::{Domain, signing_digest},
};
use altlayer_staking::{AltLedger, OperatorKey, Service, StakingError};
use ark_bn254::G1Projective;
use ark_ec::CurveGroup;

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

/// One service's operators at one epoch, as the `Rosters` contract keeps them (by hash) and
/// takes them (in calldata): sorted by address, with their aggregate G1 key and total stake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L1Roster(Rosters::Roster);

impl L1Roster {
    /// The roster of `service` at `epoch` (the stake snapshot's height) from its operators,
    /// sorted and de-duplicated by address as the Rust [`Roster`] orders them, so a signer
    /// bitmap means the same operators on both sides.
    pub fn new(epoch: u64, service: Service, mut operators: Vec<L1Operator>) -> Self {
        operators.sort_by_key(|o| o.operator);
        operators.dedup_by_key(|o| o.operator);
        let total = operators.iter().fold(U256::ZERO, |sum, o| sum + o.stake);
        let apk: G1Projective = operators
            .iter()
            .filter_map(|o| o.key.as_ref())
            .map(|k| *k.point())
            .sum();
        let apk = PublicKeyG1::from_trusted_sum(apk.into_affine())
            .map(|k| g1_point(k.to_bytes()))
            .unwrap_or(BN254::G1Point {
                X: U256::ZERO,
                Y: U256::ZERO,
            });
        let operators = operators
            .into_iter()
            .map(|o| Rosters::Operator {
                operator: o.operator,
                stake: o.stake,
                key: o.key.map_or(
                    BN254::G1Point {
                        X: U256::ZERO,
                        Y: U256::ZERO,
                    },
                    |k| g1_point(k.to_bytes()),
                ),
            })
            .collect();
        Self(Rosters::Roster {
            epoch,
            service: service_code(service),
            operators,
            apk,
            totalStake: total,
        })
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
        self.0.epoch
    }

    /// The total stake.
    pub const fn total_stake(&self) -> U256 {
        self.0.totalStake
    }

    /// What the contract keeps: `keccak256(abi.encode(roster))`.
    pub fn hash(&self) -> B256 {
        keccak256(self.0.abi_encode())
    }

    /// The roster as the bindings take it.
    pub const fn as_sol(&self) -> &Rosters::Roster {
        &self.0
    }

    /// The roster as the bindings take it, owned.
    pub fn into_sol(self) -> Rosters::Roster {
        self.0
    }
}

/// A certificate as the contracts take it: the Rust certificate's bitmap and signature, with
/// the signers' aggregate key in G2 formed from `roster` (the Rust roster of the
/// certificate's snapshot).
pub fn l1_certificate(
    certificate: &QuorumCertificate,
    roster: &Roster,
) -> Result<Rosters::Certificate, QcError> {
    let apk = roster.aggregate_key(&certificate.signers)?;
    Ok(sol_certificate(
        certificate.signers.as_bytes(),
        &apk,
        &certificate.signature,
    ))
}

/// A certificate from its parts: the signer bitmap, the signers' aggregate G2 key and their
/// aggregate signature.
pub fn sol_certificate(
    signers: &[u8],
    apk: &PublicKeyG2,
    signature: &Signature,
) -> Rosters::Certificate {
    Rosters::Certificate {
        signers: signers.to_vec().into(),
        apkG2: g2_point(apk),
        sigma: g1_point(signature.to_bytes()),
    }
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
/// (committed with `da_commitment`) from the agreed root `pre_root`: `valid` and the root the
/// step leads to (`VitalStepVerifier.verdictDigest`).
#[allow(clippy::too_many_arguments)]
pub fn step_verdict_digest(
    chain_id: ChainId,
    rollup: RollupId,
    batch_index: u64,
    da_commitment: B256,
    step: u64,
    pre_root: B256,
    valid: bool,
    post_root: B256,
) -> B256 {
    let mut payload = Vec::with_capacity(8 + 32 + 8 + 32 + 1 + 32);
    payload.extend_from_slice(&batch_index.to_be_bytes());
    payload.extend_from_slice(da_commitment.as_slice());
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
