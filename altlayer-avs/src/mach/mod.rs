//! MACH fast finality: operators re-execute every block and sign a finality vote, or an alert
//! when re-execution disagrees; a quorum certificate on a vote makes the block fast-final, a
//! certificate on an alert makes it (and every descendant) never fast-final.
//!
//! - [`FinalityVote`] and [`Alert`] are the signed messages. A vote's digest is
//!   [`SignedVote::signing_hash`] of the MACH set, so two conflicting votes are equivocation
//!   evidence that altlayer-staking verifies and slashes as they are.
//! - [`MachOperator`] is one operator: a replica of the rollup's state transition, a BLS key,
//!   and the height it last signed (its [`SignerState`], to persist across restarts).
//! - [`MachFinality`] implements [`FinalityGadget`]: L1 finality after the challenge window,
//!   plus fast finality from certificates, and the status of any height.
//! - [`VoteBook`] watches individual votes and turns two conflicting ones into evidence.

pub mod committee;
pub mod durable;

use crate::qc::{QcError, QuorumCertificate, Roster, StakeSnapshot, Threshold};
use alloy_primitives::{Address, B256, keccak256};
use altlayer_core::{
    ChainId, RollupId,
    bls::{SecretKey, Signature},
    execution::{ExecuteOptions, ExecutionError},
    finality::{ChallengeWindowFinality, FinalityEvent, FinalityGadget, FinalityStatus},
    primitives::{Block, Domain, Header, signing_digest},
    settlement::BatchCommitment,
    transition::StateTransition,
};
use altlayer_staking::{Evidence, OperatorSetId, Service, SignedVote, VoteSignature};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The MACH operator set of a rollup.
pub const fn mach_set(rollup: RollupId) -> OperatorSetId {
    OperatorSetId::new(Service::Mach, rollup)
}

/// A finality vote: "block `block_hash` at `height`, with state root `state_root`, is what
/// re-execution gives", counted against the MACH stake at `snapshot_height`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FinalityVote {
    /// The chain.
    pub chain_id: ChainId,
    /// The rollup.
    pub rollup: RollupId,
    /// Block height.
    pub height: u64,
    /// Block hash.
    pub block_hash: B256,
    /// The block's post-state root.
    pub state_root: B256,
    /// Height of the stake snapshot.
    pub snapshot_height: u64,
}

impl FinalityVote {
    /// The snapshot the vote counts against.
    pub const fn snapshot(&self) -> StakeSnapshot {
        StakeSnapshot::new(mach_set(self.rollup), self.snapshot_height)
    }

    /// What the vote is for: `keccak256(block_hash || state_root)`.
    pub fn subject(&self) -> B256 {
        let mut buf = [0u8; 64];
        buf[..32].copy_from_slice(self.block_hash.as_slice());
        buf[32..].copy_from_slice(self.state_root.as_slice());
        keccak256(buf)
    }

    /// The digest signed: the MACH finality-vote domain, chain id, rollup id, height, the
    /// snapshot height (as the vote's round) and [`FinalityVote::subject`].
    pub fn digest(&self) -> B256 {
        SignedVote::signing_hash(
            mach_set(self.rollup),
            self.chain_id,
            self.height,
            self.snapshot_height,
            self.subject(),
        )
    }

    /// The vote as altlayer-staking's evidence carries it.
    pub fn signed(&self, signer: Address, signature: Signature) -> SignedVote {
        SignedVote {
            height: self.height,
            round: self.snapshot_height,
            digest: self.subject(),
            signature: VoteSignature::Bls { signer, signature },
        }
    }
}

/// What re-execution found wrong with a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AlertKind {
    /// The header's state root is not the one re-execution computes.
    StateRootMismatch {
        /// The root in the block.
        invalid_root: B256,
        /// The root re-execution computes.
        expected_root: B256,
    },
    /// Another header field differs, so the block hash is not the one re-execution gives.
    BlockHashMismatch {
        /// The block's hash.
        invalid_hash: B256,
        /// The hash of the header re-execution computes.
        expected_hash: B256,
    },
}

/// An alert against block `block_hash` at `height`, counted against the MACH stake at
/// `snapshot_height`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// The chain.
    pub chain_id: ChainId,
    /// The rollup.
    pub rollup: RollupId,
    /// Height of the bad block.
    pub height: u64,
    /// Hash of the bad block.
    pub block_hash: B256,
    /// What is wrong.
    pub kind: AlertKind,
    /// Height of the stake snapshot.
    pub snapshot_height: u64,
}

impl Alert {
    /// The snapshot the alert counts against.
    pub const fn snapshot(&self) -> StakeSnapshot {
        StakeSnapshot::new(mach_set(self.rollup), self.snapshot_height)
    }

    /// The digest signed: the MACH alert domain, chain id, rollup id, and the hash of height,
    /// snapshot height, block hash, the kind's tag and its two values.
    pub fn digest(&self) -> B256 {
        let (tag, a, b) = match self.kind {
            AlertKind::StateRootMismatch {
                invalid_root,
                expected_root,
            } => (1u8, invalid_root, expected_root),
            AlertKind::BlockHashMismatch {
                invalid_hash,
                expected_hash,
            } => (2u8, invalid_hash, expected_hash),
        };
        let mut buf = Vec::with_capacity(8 + 8 + 32 + 1 + 64);
        buf.extend_from_slice(&self.height.to_be_bytes());
        buf.extend_from_slice(&self.snapshot_height.to_be_bytes());
        buf.extend_from_slice(self.block_hash.as_slice());
        buf.push(tag);
        buf.extend_from_slice(a.as_slice());
        buf.extend_from_slice(b.as_slice());
        signing_digest(Domain::Alert, self.chain_id, self.rollup, keccak256(&buf))
    }
}

/// What an operator signs for a block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MachMessage {
    /// Re-execution agrees: a finality vote.
    Vote {
        /// The vote.
        vote: FinalityVote,
        /// The operator.
        signer: Address,
        /// Its signature on [`FinalityVote::digest`].
        signature: Signature,
    },
    /// Re-execution disagrees: an alert.
    Alert {
        /// The alert.
        alert: Alert,
        /// The operator.
        signer: Address,
        /// Its signature on [`Alert::digest`].
        signature: Signature,
    },
}

impl MachMessage {
    /// The digest signed.
    pub fn digest(&self) -> B256 {
        match self {
            Self::Vote { vote, .. } => vote.digest(),
            Self::Alert { alert, .. } => alert.digest(),
        }
    }

    /// Who signed.
    pub const fn signer(&self) -> Address {
        match self {
            Self::Vote { signer, .. } | Self::Alert { signer, .. } => *signer,
        }
    }

    /// The signature.
    pub const fn signature(&self) -> Signature {
        match self {
            Self::Vote { signature, .. } | Self::Alert { signature, .. } => *signature,
        }
    }
}

/// Why MACH refused an input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MachError {
    /// The operator already signed at or above this height.
    #[error("already signed height {last}; refusing height {height}")]
    AlreadySigned {
        /// Height asked to sign.
        height: u64,
        /// Last height signed.
        last: u64,
    },
    /// The block is for another chain or rollup.
    #[error("block of chain {chain_id} rollup {rollup} is not ours")]
    WrongRollup {
        /// Its chain.
        chain_id: ChainId,
        /// Its rollup.
        rollup: RollupId,
    },
    /// Re-execution failed for a reason that says nothing about the block's roots (for
    /// example it does not extend this replica's head): nothing is signed.
    #[error("cannot judge the block: {0}")]
    CannotJudge(Box<ExecutionError>),
    /// The certificate does not verify.
    #[error(transparent)]
    Certificate(#[from] QcError),
    /// The certificate's digest is not the message's.
    #[error("certificate is for another message")]
    DigestMismatch,
    /// The certified vote is for a block other than the one known at its height.
    #[error("certified block {certified} is not the known block {known} at height {height}")]
    UnknownBlock {
        /// Height.
        height: u64,
        /// Block the vote is for.
        certified: B256,
        /// Block known at that height.
        known: B256,
    },
    /// The block is alerted: it can never be fast-final.
    #[error("block at height {0} is alerted")]
    Alerted(u64),
}

/// What an operator must remember across restarts: the last height it signed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignerState {
    /// Last height signed (vote or alert), if any.
    pub last_signed_height: Option<u64>,
    /// Last height a finality vote was signed at, if any (alerts excluded).
    #[serde(default)]
    pub last_vote_height: Option<u64>,
}

/// A MACH operator: re-executes every block on its own replica and signs a vote or an alert,
/// never twice at one height and never below the height it last signed.
pub struct MachOperator<T> {
    address: Address,
    key: SecretKey,
    transition: T,
    state: SignerState,
}

impl<T: StateTransition> MachOperator<T> {
    /// An operator with a replica at the rollup's current head and its persisted state.
    pub const fn new(address: Address, key: SecretKey, transition: T, state: SignerState) -> Self {
        Self {
            address,
            key,
            transition,
            state,
        }
    }

    /// The operator's address.
    pub const fn address(&self) -> Address {
        self.address
    }

    /// The same operator resumed on `transition` with its persisted `state`.
    pub(crate) fn resume(&mut self, transition: T, state: SignerState) {
        self.transition = transition;
        self.state = state;
    }

    /// What to persist.
    pub const fn state(&self) -> SignerState {
        self.state
    }

    /// The replica.
    pub const fn transition(&self) -> &T {
        &self.transition
    }

    /// Re-executes `block` and signs a vote (re-execution agrees) or an alert (the state
    /// root, or another header field, differs), counted against the MACH stake at
    /// `snapshot_height`. Signs nothing when the height is not above the last signed, or when
    /// re-execution cannot judge the block.
    pub fn on_block(
        &mut self,
        block: &Block,
        snapshot_height: u64,
    ) -> Result<MachMessage, MachError> {
        let header = &block.header;
        let config = self.transition.config();
        if header.chain_id != config.chain_id || header.rollup_id != config.rollup_id {
            return Err(MachError::WrongRollup {
                chain_id: header.chain_id,
                rollup: header.rollup_id,
            });
        }
        if let Some(last) = self.state.last_signed_height
            && header.height <= last
        {
            return Err(MachError::AlreadySigned {
                height: header.height,
                last,
            });
        }
        let (chain_id, rollup) = (header.chain_id, header.rollup_id);
        let kind = match self
            .transition
            .execute_block_recovering(block, ExecuteOptions::default())
        {
            Ok(_) => None,
            Err(ExecutionError::StateRootMismatch { expected, got, .. }) => {
                Some(AlertKind::StateRootMismatch {
                    invalid_root: got,
                    expected_root: expected,
                })
            }
            Err(ExecutionError::HeaderMismatch {
                expected_hash: Some(expected_hash),
                ..
            }) => Some(AlertKind::BlockHashMismatch {
                invalid_hash: block.hash(),
                expected_hash,
            }),
            Err(other) => return Err(MachError::CannotJudge(Box::new(other))),
        };
        self.state.last_signed_height = Some(header.height);
        Ok(match kind {
            None => {
                self.state.last_vote_height = Some(header.height);
                let vote = FinalityVote {
                    chain_id,
                    rollup,
                    height: header.height,
                    block_hash: block.hash(),
                    state_root: header.state_root,
                    snapshot_height,
                };
                MachMessage::Vote {
                    signature: self.key.sign(&vote.digest()),
                    vote,
                    signer: self.address,
                }
            }
            Some(kind) => {
                let alert = Alert {
                    chain_id,
                    rollup,
                    height: header.height,
                    block_hash: block.hash(),
                    kind,
                    snapshot_height,
                };
                MachMessage::Alert {
                    signature: self.key.sign(&alert.digest()),
                    alert,
                    signer: self.address,
                }
            }
        })
    }
}

impl<T> MachOperator<T> {
    /// Settlement reverted the chain above `to_height` (the blocks an alert said were wrong,
    /// proven so): the operator may sign the new blocks at those heights, unless it voted for
    /// a block there (a vote is never taken back, so it could only equivocate). Its replica
    /// never applied a block it alerted against, so it is already at the last valid block.
    pub fn on_revert(&mut self, to_height: u64) {
        if self
            .state
            .last_vote_height
            .is_none_or(|voted| voted <= to_height)
        {
            self.state.last_signed_height = self
                .state
                .last_signed_height
                .map(|last| last.min(to_height));
        }
    }
}

/// An alert that reached the threshold: the block and its descendants are never fast-final.
/// It is the evidence VITAL turns into a challenge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmedAlert {
    /// The alert.
    pub alert: Alert,
    /// Its certificate.
    pub certificate: QuorumCertificate,
}

impl ConfirmedAlert {
    /// Identifies the confirmed alert (the certificate's hash).
    pub fn hash(&self) -> B256 {
        self.certificate.hash()
    }

    /// Checks the confirmation independently (what a challenger, settlement or VITAL does
    /// before acting on it): the certificate is for this alert and verifies against the
    /// snapshot's roster at `threshold`.
    pub fn verify(&self, roster: &Roster, threshold: Threshold) -> Result<(), MachError> {
        if self.certificate.digest != self.alert.digest()
            || self.certificate.snapshot != self.alert.snapshot()
        {
            return Err(MachError::DigestMismatch);
        }
        self.certificate.verify(roster, threshold)?;
        Ok(())
    }
}

/// The status of a height, with what proves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MachStatus<'a> {
    /// Nothing known, or produced and not yet certified.
    Pending,
    /// Carried by a finality certificate.
    FastFinal {
        /// The vote.
        vote: &'a FinalityVote,
        /// Its certificate.
        certificate: &'a QuorumCertificate,
    },
    /// The block, or an ancestor, is alerted.
    Alerted(&'a ConfirmedAlert),
    /// Final on L1 (its batch's challenge window passed).
    FinalOnL1,
}

/// MACH finality for one rollup: L1 finality from the challenge window, fast finality from
/// certificates on finality votes, and confirmed alerts.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MachFinality {
    chain_id: ChainId,
    rollup: RollupId,
    /// The AVS parameters in force; certificates are checked at their MACH threshold.
    params: crate::params::AvsParams,
    l1: ChallengeWindowFinality,
    /// Height -> (block hash, parent hash) of the blocks produced.
    blocks: BTreeMap<u64, (B256, B256)>,
    fast: BTreeMap<u64, (FinalityVote, QuorumCertificate)>,
    /// Block hash -> the confirmed alert it falls under (its own, or an ancestor's).
    alerted: BTreeMap<B256, usize>,
    alerts: Vec<ConfirmedAlert>,
    /// Highest height up to which every block is fast-final or final on L1.
    safe: Option<u64>,
}

impl MachFinality {
    /// A gadget for `rollup` on `chain_id` with the given certificate threshold and L1
    /// challenge window (settlement seconds). Its AVS parameters
    /// ([`altlayer_staking::ParameterStore`]) are the defaults with this threshold until they
    /// are set.
    pub fn new(
        chain_id: ChainId,
        rollup: RollupId,
        threshold: Threshold,
        challenge_window: u64,
    ) -> Self {
        Self {
            chain_id,
            rollup,
            params: crate::params::AvsParams {
                mach_threshold: threshold,
                ..Default::default()
            },
            l1: ChallengeWindowFinality::new(challenge_window),
            blocks: BTreeMap::new(),
            fast: BTreeMap::new(),
            alerted: BTreeMap::new(),
            alerts: Vec::new(),
            safe: None,
        }
    }

    /// A block was produced: remembered by hash, so certificates must name it, and alerted if
    /// its parent is.
    pub fn on_header(&mut self, header: &Header) {
        let hash = header.hash();
        self.blocks
            .insert(header.height, (hash, header.parent_hash));
        if let Some(alert) = self.alerted.get(&header.parent_hash).copied() {
            self.alerted.insert(hash, alert);
        }
        self.l1.on_produced(header.height);
    }

    /// Moves the safe height up over every fast-final (or firm) block that follows it.
    fn advance_safe(&mut self) {
        let mut safe = self.safe.max(self.l1.finalized_height());
        while let Some(next) = safe.map_or(Some(1), |h| h.checked_add(1)) {
            if !matches!(self.query(next), MachStatus::FastFinal { .. }) {
                break;
            }
            safe = Some(next);
        }
        self.safe = safe;
    }

    fn check_rollup(&self, chain_id: ChainId, rollup: RollupId) -> Result<(), MachError> {
        if chain_id == self.chain_id && rollup == self.rollup {
            Ok(())
        } else {
            Err(MachError::WrongRollup { chain_id, rollup })
        }
    }

    /// A certificate on a finality vote: verified against the snapshot's roster; the block
    /// must be the one produced at that height and not alerted. It becomes fast-final.
    pub fn on_vote_certificate(
        &mut self,
        vote: FinalityVote,
        certificate: QuorumCertificate,
        roster: &Roster,
    ) -> Result<(), MachError> {
        self.check_rollup(vote.chain_id, vote.rollup)?;
        if certificate.digest != vote.digest() || certificate.snapshot != vote.snapshot() {
            return Err(MachError::DigestMismatch);
        }
        if let Some((known, _)) = self.blocks.get(&vote.height)
            && *known != vote.block_hash
        {
            return Err(MachError::UnknownBlock {
                height: vote.height,
                certified: vote.block_hash,
                known: *known,
            });
        }
        if self.alerted.contains_key(&vote.block_hash) {
            return Err(MachError::Alerted(vote.height));
        }
        certificate.verify(roster, self.params.mach_threshold)?;
        self.fast.insert(vote.height, (vote, certificate));
        self.advance_safe();
        Ok(())
    }

    /// A certificate on an alert: verified; the block and every known descendant are alerted
    /// for good. Returns the confirmed alert (evidence for staking and VITAL).
    pub fn on_alert_certificate(
        &mut self,
        alert: Alert,
        certificate: QuorumCertificate,
        roster: &Roster,
    ) -> Result<ConfirmedAlert, MachError> {
        self.check_rollup(alert.chain_id, alert.rollup)?;
        if certificate.digest != alert.digest() || certificate.snapshot != alert.snapshot() {
            return Err(MachError::DigestMismatch);
        }
        certificate.verify(roster, self.params.mach_threshold)?;
        let confirmed = ConfirmedAlert { alert, certificate };
        let index = self.alerts.len();
        self.alerts.push(confirmed.clone());
        let mut tainted = BTreeSet::from([alert.block_hash]);
        self.alerted.entry(alert.block_hash).or_insert(index);
        for (hash, parent) in self.blocks.range(alert.height + 1..).map(|(_, b)| *b) {
            if tainted.contains(&parent) {
                tainted.insert(hash);
                self.alerted.entry(hash).or_insert(index);
            }
        }
        // A block that is alerted is never fast-final, whatever was certified before.
        self.fast
            .retain(|_, (vote, _)| !tainted.contains(&vote.block_hash));
        let below = alert.height.checked_sub(1).max(self.l1.finalized_height());
        self.safe = self.safe.min(below).max(self.l1.finalized_height());
        Ok(confirmed)
    }

    /// The AVS parameters in force.
    pub const fn avs_params(&self) -> &crate::params::AvsParams {
        &self.params
    }

    /// Replaces the AVS parameters (validated by the caller; see the `ParameterStore` impl).
    pub(crate) fn set_avs_params(&mut self, params: crate::params::AvsParams) {
        self.l1.set_window(params.challenge_window_secs);
        self.params = params;
    }

    /// Every confirmed alert, in order.
    pub fn confirmed_alerts(&self) -> &[ConfirmedAlert] {
        &self.alerts
    }

    /// The status of a height, with its certificate or alert.
    pub fn query(&self, height: u64) -> MachStatus<'_> {
        if self.l1.status(height) == FinalityStatus::Final {
            return MachStatus::FinalOnL1;
        }
        if let Some((hash, _)) = self.blocks.get(&height)
            && let Some(index) = self.alerted.get(hash)
        {
            return MachStatus::Alerted(&self.alerts[*index]);
        }
        match self.fast.get(&height) {
            Some((vote, certificate)) => MachStatus::FastFinal { vote, certificate },
            None => MachStatus::Pending,
        }
    }
}

impl FinalityGadget for MachFinality {
    type Message = std::convert::Infallible;

    fn status(&self, height: u64) -> FinalityStatus {
        match self.query(height) {
            MachStatus::FinalOnL1 => FinalityStatus::Final,
            MachStatus::Alerted(alert) => FinalityStatus::Alerted {
                alert: alert.hash(),
            },
            MachStatus::FastFinal { certificate, .. } => FinalityStatus::FastFinal {
                certificate: certificate.hash(),
            },
            MachStatus::Pending => self.l1.status(height),
        }
    }

    fn finalized_height(&self) -> Option<u64> {
        self.l1.finalized_height()
    }

    /// The highest height up to which every block is fast-final or final on L1.
    fn safe_height(&self) -> Option<u64> {
        self.safe.max(self.l1.finalized_height())
    }

    fn on_block(&mut self, _now_ms: u64, _hash: B256, block: &Block) -> Vec<FinalityEvent> {
        self.on_header(&block.header);
        Vec::new()
    }

    fn on_batch_committed(&mut self, batch: &BatchCommitment, at: u64) {
        self.l1.on_batch_committed(batch, at);
    }

    fn on_challenge(&mut self, batch: u64) {
        self.l1.on_challenge(batch);
    }

    fn on_challenge_failed(&mut self, batch: u64) {
        self.l1.on_challenge_failed(batch);
    }

    /// Blocks above `to_height` are forgotten (new ones take their heights); certificates on
    /// them with them.
    fn on_revert(&mut self, batch: u64, to_height: u64) {
        self.l1.on_revert(batch, to_height);
        self.blocks.split_off(&(to_height + 1));
        self.fast.split_off(&(to_height + 1));
        self.safe = self.safe.min(Some(to_height));
    }

    /// Blocks final on L1 need no certificate or link to their parent any more (their
    /// status is firm whatever else is known): they are forgotten, so memory stays bounded.
    fn on_settlement_time(&mut self, now: u64) -> Option<u64> {
        let moved = self.l1.on_settlement_time(now);
        if let Some(finalized) = moved {
            self.blocks = self.blocks.split_off(&finalized);
            self.fast = self.fast.split_off(&(finalized + 1));
        }
        self.advance_safe();
        moved
    }
}

/// Remembers every individual finality vote by (signer, height, snapshot) and produces
/// equivocation evidence when a signer signs two different ones.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct VoteBook {
    #[serde(with = "altlayer_core::serde_pairs")]
    votes: BTreeMap<(Address, u64, u64), (FinalityVote, Signature)>,
}

impl VoteBook {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a vote whose signature the caller verified (or that a certificate covers);
    /// returns evidence if the signer voted differently before for the same height and
    /// snapshot.
    pub fn record(
        &mut self,
        signer: Address,
        vote: FinalityVote,
        signature: Signature,
    ) -> Option<Evidence> {
        let key = (signer, vote.height, vote.snapshot_height);
        match self.votes.get(&key) {
            Some((first, first_signature)) if first.subject() != vote.subject() => {
                Some(Evidence::Equivocation {
                    set: mach_set(vote.rollup),
                    first: first.signed(signer, *first_signature),
                    second: vote.signed(signer, signature),
                })
            }
            Some(_) => None,
            None => {
                self.votes.insert(key, (vote, signature));
                None
            }
        }
    }

    /// Forgets votes below `height` (their evidence would be too old to slash anyway).
    pub fn prune_below(&mut self, height: u64) {
        self.votes.retain(|(_, h, _), _| *h >= height);
    }
}
