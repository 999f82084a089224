//! The [`Settlement`] composition point: the L1 side of a rollup.
//!
//! Settlement records each batch's state commitment in order, runs the challenge window, plays
//! VITAL's dispute games ([`bisection`]) and decides their last step with a one-step proof
//! ([`court`]), holds challengers' bonds, and reverts batches proven wrong. It is an I/O edge
//! (contracts on an L1 in production), so it is an async trait; what happened on it is read
//! back as an ordered log of [`SettlementEvent`]s, as a node reads a contract's logs.
//! [`LocalSettlement`] is the in-process default: an L1 with its own clock, advanced
//! explicitly, so tests and the simulator control time.

pub mod bisection;
pub mod court;
mod local;

pub use local::{LocalSettlement, SettlementConfig};

use crate::{
    execution::stateless::StepWitness,
    primitives::{Batch, ChainId, DaRef, RollupId},
};
use alloy_primitives::{Address, B256, U256};
use async_trait::async_trait;
use bisection::{Dispute, Move};
use court::{CourtError, Decision, DisputeId};
use serde::{Deserialize, Serialize};

/// What settlement stores of a batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchCommitment {
    /// Rollup.
    pub rollup_id: RollupId,
    /// Batch index (consecutive from 0).
    pub index: u64,
    /// State root before the batch.
    pub pre_state_root: B256,
    /// State root after the batch.
    pub post_state_root: B256,
    /// Height of the batch's last block.
    pub last_height: u64,
    /// The batch's commitment ([`Batch::commitment`]).
    pub commitment: B256,
    /// Where the batch data is.
    pub da_ref: DaRef,
    /// Who posted it (bonded, slashable if proven wrong).
    pub proposer: Address,
}

impl BatchCommitment {
    /// The commitment of a batch published at `da_ref` by `proposer`.
    pub fn new(batch: &Batch, chain_id: ChainId, da_ref: DaRef, proposer: Address) -> Self {
        Self {
            rollup_id: batch.rollup_id,
            index: batch.index,
            pre_state_root: batch.pre_state_root,
            post_state_root: batch.post_state_root,
            last_height: batch.last_height().unwrap_or_default(),
            commitment: batch.commitment(chain_id),
            da_ref,
            proposer,
        }
    }
}

/// Where a committed batch stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BatchStatus {
    /// In its challenge window until the given settlement time.
    Pending {
        /// Settlement time at which the window closes.
        window_ends: u64,
    },
    /// At least one challenge is open; the batch cannot finalize until all are decided.
    Challenged,
    /// The window passed without a successful challenge.
    Final,
    /// Proven wrong (or after a batch proven wrong), and removed.
    Reverted,
}

/// Why settlement refused an operation. A refused operation changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettlementError {
    /// The batch index is not the next one.
    #[error("batch index {got} is not the next one ({expected})")]
    OutOfOrder {
        /// Next index.
        expected: u64,
        /// Index given.
        got: u64,
    },
    /// The batch does not start from the previous batch's post-state root.
    #[error("batch pre-state root {got} does not follow the previous post-state root {expected}")]
    RootGap {
        /// Previous post-state root.
        expected: B256,
        /// Pre-state root given.
        got: B256,
    },
    /// No such batch.
    #[error("unknown batch {0}")]
    UnknownBatch(u64),
    /// The batch is past its window, or reverted.
    #[error("batch {index} cannot be challenged: {status:?}")]
    NotChallengeable {
        /// Batch index.
        index: u64,
        /// Its status.
        status: BatchStatus,
    },
    /// The bond is below the minimum.
    #[error("challenge bond {got} below the minimum {minimum}")]
    BondTooLow {
        /// Minimum bond.
        minimum: U256,
        /// Bond offered.
        got: U256,
    },
    /// The challenger already has a challenge open on the batch.
    #[error("{challenger} already challenges batch {index}")]
    AlreadyChallenging {
        /// Batch index.
        index: u64,
        /// Challenger.
        challenger: Address,
    },
    /// The rollup is not the one this settlement serves.
    #[error("settlement serves {expected}, not {got}")]
    WrongRollup {
        /// Rollup served.
        expected: RollupId,
        /// Rollup given.
        got: RollupId,
    },
    /// The dispute game refused a challenge, a move or a proof.
    #[error("dispute: {0}")]
    Dispute(#[from] CourtError),
    /// The settlement layer could not be reached or refused the call for its own reasons.
    #[error("settlement unavailable: {0}")]
    Unavailable(String),
}

/// How a decided challenge was enforced on settlement: what the token ledger must mirror.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resolution {
    /// The court's decision.
    pub decision: Decision,
    /// The first batch reverted (the disputed one, with every later one), when the challenger
    /// won.
    pub reverted_from: Option<u64>,
    /// Bonds returned: the winner's, and those of games made moot by the revert.
    pub returned: Vec<(Address, U256)>,
    /// Games made moot by the revert.
    pub dismissed: Vec<DisputeId>,
    /// Bond forfeited by a losing challenger.
    pub forfeited: U256,
}

/// Something that happened on settlement, in the order it happened: what a node reads back
/// (an L1 contract's logs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum SettlementEvent {
    /// A batch was committed; its challenge window runs from `at` to `window_ends`.
    BatchCommitted {
        /// The commitment.
        commitment: BatchCommitment,
        /// Settlement time of the commit.
        at: u64,
        /// Settlement time at which its window closes.
        window_ends: u64,
    },
    /// A challenge opened a dispute game.
    ChallengeOpened {
        /// The game.
        dispute: DisputeId,
        /// The batch.
        batch: u64,
        /// Who challenges.
        challenger: Address,
        /// Its bond.
        bond: U256,
    },
    /// A game moved: its state now.
    DisputeMoved {
        /// The game.
        dispute: DisputeId,
        /// Its state.
        state: Box<Dispute>,
    },
    /// A game ended and its decision was enforced.
    ChallengeDecided(Box<Resolution>),
    /// A batch became final: its window passed with no challenge standing, and every earlier
    /// batch is final.
    BatchFinalized {
        /// The batch.
        index: u64,
        /// Height of its last block.
        last_height: u64,
        /// Its post-state root.
        post_state_root: B256,
    },
}

/// The L1 side of a rollup.
///
/// Calls that change settlement return whether they were accepted; what they caused (a game
/// moving or ending, a revert, a batch becoming final) is read from [`Settlement::events`], so
/// a node drives an in-process L1 and contracts on Ethereum the same way.
///
/// # Example
///
/// ```
/// use altlayer_core::{RollupConfig, settlement::*};
/// use alloy_primitives::{Address, B256, U256};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let l1 = LocalSettlement::new(SettlementConfig {
///     challenge_window: 100,
///     ..SettlementConfig::new(RollupConfig::default(), B256::ZERO)
/// });
/// let commitment = BatchCommitment {
///     rollup_id: RollupConfig::default().rollup_id, index: 0, pre_state_root: B256::ZERO,
///     post_state_root: B256::repeat_byte(1), last_height: 5,
///     commitment: B256::repeat_byte(2), da_ref: Default::default(), proposer: Address::ZERO,
/// };
/// l1.commit_batch(commitment).await?;
/// assert_eq!(l1.status(0).await?, BatchStatus::Pending { window_ends: 100 });
/// l1.observe_time(100).await?;
/// assert_eq!(l1.status(0).await?, BatchStatus::Final);
/// assert_eq!(l1.finalized_height().await?, Some(5));
/// let (events, next) = l1.events(0).await?;
/// assert!(matches!(events[1], SettlementEvent::BatchFinalized { index: 0, .. }));
/// assert_eq!(next, 2);
/// # Ok::<(), SettlementError>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait Settlement: Send + Sync {
    /// Current settlement time (seconds; an L1 timestamp).
    async fn now(&self) -> Result<u64, SettlementError>;

    /// Tells settlement the time the caller's clock reads. An in-process L1 takes it as its
    /// clock (and decides the games whose deadlines passed); an L1 with its own clock ignores
    /// it, which the default does.
    async fn observe_time(&self, _now: u64) -> Result<(), SettlementError> {
        Ok(())
    }

    /// Records the next batch's commitment; its challenge window starts now.
    async fn commit_batch(&self, commitment: BatchCommitment) -> Result<(), SettlementError>;

    /// A committed batch.
    async fn batch(&self, index: u64) -> Result<BatchCommitment, SettlementError>;

    /// Where a committed batch stands now.
    async fn status(&self, index: u64) -> Result<BatchStatus, SettlementError>;

    /// Challenges a batch in its window, locking `bond`, with the batch's data (as read from DA,
    /// checked against the commitment): opens a dispute game between its proposer and
    /// `challenger`. Several challengers may challenge one batch, each once.
    async fn open_challenge(
        &self,
        batch: &Batch,
        challenger: Address,
        bond: U256,
    ) -> Result<DisputeId, SettlementError>;

    /// A move in a dispute game by one of its parties.
    async fn play(
        &self,
        dispute: DisputeId,
        mover: Address,
        mv: Move,
    ) -> Result<(), SettlementError>;

    /// A one-step proof deciding a game at its last step (anyone may submit one). A refused
    /// witness decides nothing.
    async fn prove(&self, dispute: DisputeId, witness: &StepWitness)
    -> Result<(), SettlementError>;

    /// An open dispute game.
    async fn dispute(&self, dispute: DisputeId) -> Result<Option<Dispute>, SettlementError>;

    /// Events from position `from` on, and the position after the last one returned.
    async fn events(&self, from: u64) -> Result<(Vec<SettlementEvent>, u64), SettlementError>;

    /// Height of the last block of the last final batch, if any.
    async fn finalized_height(&self) -> Result<Option<u64>, SettlementError>;
    /// The runtime state as a record, to resume from after a restart (see
    /// [`crate::persist`]). The default cannot.
    fn persist(&self) -> Result<Vec<u8>, crate::persist::PersistError> {
        Err(crate::persist::unsupported::<Self>())
    }

    /// Puts back what `persist` wrote, into a component built afresh from the same
    /// configuration; changes nothing on error.
    fn restore(&self, _record: &[u8]) -> Result<(), crate::persist::PersistError> {
        Err(crate::persist::unsupported::<Self>())
    }
}
