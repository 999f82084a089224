//! The [`Settlement`] composition point: the L1 side of a rollup.
//!
//! Settlement records each batch's state commitment in order, runs the challenge window, holds
//! challengers' bonds, and reverts batches proven wrong. It is an I/O edge (an L1 contract in
//! production), so it is an async trait. [`LocalSettlement`] is the in-process default: an L1
//! with its own clock, advanced explicitly, so tests and the simulator control time.

use crate::primitives::{Batch, ChainId, DaRef, RollupId};
use alloy_primitives::{Address, B256, U256};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, sync::Mutex};

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

/// Why settlement refused an operation.
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
    /// No open challenge on the batch by that challenger.
    #[error("no open challenge on batch {index} by {challenger}")]
    NoChallenge {
        /// Batch index.
        index: u64,
        /// Challenger named.
        challenger: Address,
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
}

/// How a challenge ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChallengeOutcome {
    /// The batch was proven wrong: it and every later batch are reverted, and every open
    /// challenge on them is moot, its bond returned.
    BatchInvalid,
    /// The batch stood against this challenger: its bond is forfeited. Other challenges on the
    /// batch go on.
    BatchValid,
}

/// The L1 side of a rollup.
///
/// # Example
///
/// ```
/// use altlayer_core::{RollupId, settlement::*};
/// use alloy_primitives::{Address, B256, U256};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let l1 = LocalSettlement::new(RollupId(1), B256::ZERO, 100, U256::from(10));
/// let commitment = BatchCommitment {
///     rollup_id: RollupId(1), index: 0, pre_state_root: B256::ZERO,
///     post_state_root: B256::repeat_byte(1), last_height: 5,
///     commitment: B256::repeat_byte(2), da_ref: Default::default(), proposer: Address::ZERO,
/// };
/// l1.commit_batch(commitment).await?;
/// assert_eq!(l1.status(0).await?, BatchStatus::Pending { window_ends: 100 });
/// l1.advance_time(100);
/// assert_eq!(l1.status(0).await?, BatchStatus::Final);
/// assert_eq!(l1.finalized_height().await?, Some(5));
/// # Ok::<(), SettlementError>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait Settlement: Send + Sync {
    /// Current settlement time (seconds; an L1 timestamp).
    async fn now(&self) -> Result<u64, SettlementError>;

    /// Records the next batch's commitment; its challenge window starts now.
    async fn commit_batch(&self, commitment: BatchCommitment) -> Result<(), SettlementError>;

    /// A committed batch.
    async fn batch(&self, index: u64) -> Result<BatchCommitment, SettlementError>;

    /// Where a committed batch stands now.
    async fn status(&self, index: u64) -> Result<BatchStatus, SettlementError>;

    /// Opens a challenge against a batch in its window, locking `bond`. Several challengers
    /// may challenge one batch, each once.
    async fn open_challenge(
        &self,
        index: u64,
        challenger: Address,
        bond: U256,
    ) -> Result<(), SettlementError>;

    /// Decides `challenger`'s open challenge on a batch (the verdict comes from the challenge
    /// game).
    async fn resolve_challenge(
        &self,
        index: u64,
        challenger: Address,
        outcome: ChallengeOutcome,
    ) -> Result<(), SettlementError>;

    /// Height of the last block of the last final batch, if any.
    async fn finalized_height(&self) -> Result<Option<u64>, SettlementError>;
}

/// An in-process L1: ordered batch commitments, a challenge window, bonds and reverts.
#[derive(Debug)]
pub struct LocalSettlement {
    rollup_id: RollupId,
    challenge_window: u64,
    min_bond: U256,
    inner: Mutex<LocalState>,
}

/// A committed batch as the local L1 holds it.
#[derive(Debug)]
struct Entry {
    commitment: BatchCommitment,
    window_ends: u64,
    /// Open challenges: challenger and bond.
    challenges: BTreeMap<Address, U256>,
    reverted: bool,
}

impl Entry {
    /// Whether the batch could still be reverted at `now`.
    fn open(&self, now: u64) -> bool {
        !self.reverted && (!self.challenges.is_empty() || now < self.window_ends)
    }
}

#[derive(Debug)]
struct LocalState {
    now: u64,
    genesis_root: B256,
    batches: BTreeMap<u64, Entry>,
    /// Bonds forfeited by losing challengers, and returned to winners, by address.
    forfeited: U256,
    refunds: BTreeMap<Address, U256>,
}

impl LocalSettlement {
    /// A settlement for one rollup starting at `genesis_root`, with a challenge window in
    /// settlement seconds and a minimum challenge bond.
    pub fn new(
        rollup_id: RollupId,
        genesis_root: B256,
        challenge_window: u64,
        min_bond: U256,
    ) -> Self {
        Self {
            rollup_id,
            challenge_window,
            min_bond,
            inner: Mutex::new(LocalState {
                now: 0,
                genesis_root,
                batches: BTreeMap::new(),
                forfeited: U256::ZERO,
                refunds: BTreeMap::new(),
            }),
        }
    }

    /// Moves the settlement clock forward.
    pub fn advance_time(&self, seconds: u64) {
        let mut state = self.lock();
        state.now = state.now.saturating_add(seconds);
    }

    /// Sets the settlement clock (never backwards).
    pub fn set_time(&self, now: u64) {
        let mut state = self.lock();
        state.now = state.now.max(now);
    }

    /// Total bonds forfeited by losing challengers.
    pub fn forfeited_bonds(&self) -> U256 {
        self.lock().forfeited
    }

    /// Bond returned to a winning challenger.
    pub fn refunded(&self, challenger: &Address) -> U256 {
        self.lock()
            .refunds
            .get(challenger)
            .copied()
            .unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LocalState> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn status_of(state: &LocalState, index: u64) -> Result<BatchStatus, SettlementError> {
        let entry = state
            .batches
            .get(&index)
            .ok_or(SettlementError::UnknownBatch(index))?;
        let window_ends = entry.window_ends;
        Ok(if entry.reverted {
            BatchStatus::Reverted
        } else if !entry.challenges.is_empty() {
            BatchStatus::Challenged
        } else if state.now >= window_ends {
            // A batch is final only once every earlier batch is: an open challenge on an
            // earlier batch could revert this one too.
            let earlier_open = state
                .batches
                .range(..index)
                .any(|(_, earlier)| earlier.open(state.now));
            if earlier_open {
                BatchStatus::Pending { window_ends }
            } else {
                BatchStatus::Final
            }
        } else {
            BatchStatus::Pending { window_ends }
        })
    }
}

impl LocalSettlement {
    /// [`Settlement::now`], without the async wrapper (the local L1 never waits).
    pub fn time(&self) -> u64 {
        self.lock().now
    }

    /// [`Settlement::commit_batch`], synchronously.
    pub fn commit(&self, commitment: BatchCommitment) -> Result<(), SettlementError> {
        if commitment.rollup_id != self.rollup_id {
            return Err(SettlementError::WrongRollup {
                expected: self.rollup_id,
                got: commitment.rollup_id,
            });
        }
        let mut state = self.lock();
        let live = state
            .batches
            .iter()
            .rev()
            .find(|(_, entry)| !entry.reverted);
        let (expected_index, expected_root) = match live {
            Some((index, entry)) => (index + 1, entry.commitment.post_state_root),
            None => (0, state.genesis_root),
        };
        if commitment.index != expected_index {
            return Err(SettlementError::OutOfOrder {
                expected: expected_index,
                got: commitment.index,
            });
        }
        if commitment.pre_state_root != expected_root {
            return Err(SettlementError::RootGap {
                expected: expected_root,
                got: commitment.pre_state_root,
            });
        }
        let window_ends = state.now.saturating_add(self.challenge_window);
        let entry = Entry {
            commitment,
            window_ends,
            challenges: BTreeMap::new(),
            reverted: false,
        };
        state.batches.insert(entry.commitment.index, entry);
        Ok(())
    }

    /// [`Settlement::batch`], synchronously.
    pub fn commitment(&self, index: u64) -> Result<BatchCommitment, SettlementError> {
        let state = self.lock();
        state
            .batches
            .get(&index)
            .map(|entry| entry.commitment.clone())
            .ok_or(SettlementError::UnknownBatch(index))
    }

    /// [`Settlement::status`], synchronously.
    pub fn status_now(&self, index: u64) -> Result<BatchStatus, SettlementError> {
        Self::status_of(&self.lock(), index)
    }

    /// [`Settlement::open_challenge`], synchronously.
    pub fn challenge(
        &self,
        index: u64,
        challenger: Address,
        bond: U256,
    ) -> Result<(), SettlementError> {
        if bond < self.min_bond {
            return Err(SettlementError::BondTooLow {
                minimum: self.min_bond,
                got: bond,
            });
        }
        let mut state = self.lock();
        let status = Self::status_of(&state, index)?;
        let now = state.now;
        let Some(entry) = state.batches.get_mut(&index) else {
            return Err(SettlementError::UnknownBatch(index));
        };
        // Past its window (even if held back by an earlier batch) a batch cannot be challenged.
        if entry.reverted || now >= entry.window_ends {
            return Err(SettlementError::NotChallengeable { index, status });
        }
        if entry.challenges.contains_key(&challenger) {
            return Err(SettlementError::AlreadyChallenging { index, challenger });
        }
        entry.challenges.insert(challenger, bond);
        Ok(())
    }

    /// [`Settlement::resolve_challenge`], synchronously.
    pub fn resolve(
        &self,
        index: u64,
        challenger: Address,
        outcome: ChallengeOutcome,
    ) -> Result<(), SettlementError> {
        let mut state = self.lock();
        let entry = state
            .batches
            .get_mut(&index)
            .ok_or(SettlementError::UnknownBatch(index))?;
        let Some(bond) = entry.challenges.remove(&challenger) else {
            return Err(SettlementError::NoChallenge { index, challenger });
        };
        match outcome {
            ChallengeOutcome::BatchValid => state.forfeited = state.forfeited.saturating_add(bond),
            ChallengeOutcome::BatchInvalid => {
                let mut returned = vec![(challenger, bond)];
                for (_, entry) in state.batches.range_mut(index..) {
                    entry.reverted = true;
                    // Challenges on the reverted batches are moot: their bonds go back too.
                    returned.extend(std::mem::take(&mut entry.challenges));
                }
                for (who, amount) in returned {
                    let refund = state.refunds.entry(who).or_default();
                    *refund = refund.saturating_add(amount);
                }
            }
        }
        Ok(())
    }

    /// [`Settlement::finalized_height`], synchronously.
    pub fn final_height(&self) -> Option<u64> {
        let state = self.lock();
        let mut finalized = None;
        for (index, entry) in &state.batches {
            match Self::status_of(&state, *index) {
                Ok(BatchStatus::Final) => finalized = Some(entry.commitment.last_height),
                _ => break,
            }
        }
        finalized
    }
}

#[async_trait]
impl Settlement for LocalSettlement {
    async fn now(&self) -> Result<u64, SettlementError> {
        Ok(self.time())
    }

    async fn commit_batch(&self, commitment: BatchCommitment) -> Result<(), SettlementError> {
        self.commit(commitment)
    }

    async fn batch(&self, index: u64) -> Result<BatchCommitment, SettlementError> {
        self.commitment(index)
    }

    async fn status(&self, index: u64) -> Result<BatchStatus, SettlementError> {
        self.status_now(index)
    }

    async fn open_challenge(
        &self,
        index: u64,
        challenger: Address,
        bond: U256,
    ) -> Result<(), SettlementError> {
        self.challenge(index, challenger, bond)
    }

    async fn resolve_challenge(
        &self,
        index: u64,
        challenger: Address,
        outcome: ChallengeOutcome,
    ) -> Result<(), SettlementError> {
        self.resolve(index, challenger, outcome)
    }

    async fn finalized_height(&self) -> Result<Option<u64>, SettlementError> {
        Ok(self.final_height())
    }
}
