//! [`LocalSettlement`]: an L1 in process memory, with a court for VITAL's dispute games.

use super::{
    BatchCommitment, BatchStatus, Resolution, Settlement, SettlementError, SettlementEvent,
    bisection::{Dispute, Move, Party},
    court::{Court, CourtConfig, Decision, DisputeId},
};
use crate::{
    Batch, RollupConfig,
    execution::stateless::StepWitness,
    params::{AvsParams, InvalidAvsParams, ParameterStore},
};
use alloy_primitives::{Address, B256, U256};
use async_trait::async_trait;
use std::{collections::BTreeMap, sync::Mutex};

/// How a [`LocalSettlement`] is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlementConfig {
    /// The rollup, whose execution rules decide one-step proofs.
    pub rollup: RollupConfig,
    /// State root of the rollup's genesis: the first batch's pre-state.
    pub genesis_root: B256,
    /// Challenge window, in settlement seconds.
    pub challenge_window: u64,
    /// Least bond a challenger locks.
    pub min_bond: U256,
    /// Time each move of a dispute game has, in settlement seconds. Zero makes every move due
    /// before the settlement clock advances, which only parties in the same process meet.
    pub move_timeout: u64,
}

impl SettlementConfig {
    /// A settlement for `rollup` from `genesis_root`: one-hour window and move timeout, a bond
    /// of one token unit. Override the fields as needed.
    pub const fn new(rollup: RollupConfig, genesis_root: B256) -> Self {
        Self {
            rollup,
            genesis_root,
            challenge_window: 3_600,
            min_bond: U256::from_limbs([1, 0, 0, 0]),
            move_timeout: 3_600,
        }
    }
}

/// An in-process L1: ordered batch commitments, a challenge window, dispute games decided by
/// one-step proofs, bonds and reverts, and the log of what happened.
///
/// Its clock moves only when told ([`LocalSettlement::set_time`], or
/// [`Settlement::observe_time`]), so tests and the simulator control time. Every operation is
/// also a plain method, for sans-IO drivers that run without an async runtime.
#[derive(Debug)]
pub struct LocalSettlement {
    rollup: RollupConfig,
    /// The parameters in force: the challenge window of new commits, and (in the court) the
    /// move timeout and minimum bond of new games.
    params: AvsParams,
    inner: Mutex<LocalState>,
}

/// A committed batch as the local L1 holds it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Entry {
    commitment: BatchCommitment,
    window_ends: u64,
    /// Open challenges: challenger -> (game, bond).
    challenges: BTreeMap<Address, (DisputeId, U256)>,
    reverted: bool,
}

impl Entry {
    /// Whether the batch could still be reverted at `now`.
    fn open(&self, now: u64) -> bool {
        !self.reverted && (!self.challenges.is_empty() || now < self.window_ends)
    }
}

/// [`LocalSettlement`]'s record: everything but its rules.
#[derive(serde::Serialize, serde::Deserialize)]
struct LocalRecord {
    now: u64,
    batches: Vec<(u64, Entry)>,
    court: super::court::CourtRecord,
    events: Vec<SettlementEvent>,
    next_final: u64,
    forfeited: U256,
    refunds: BTreeMap<Address, U256>,
}

#[derive(Debug)]
struct LocalState {
    now: u64,
    genesis_root: B256,
    batches: BTreeMap<u64, Entry>,
    court: Court,
    events: Vec<SettlementEvent>,
    /// The next batch not yet reported final.
    next_final: u64,
    /// Bonds forfeited by losing challengers, and returned to winners, by address.
    forfeited: U256,
    refunds: BTreeMap<Address, U256>,
}

impl LocalSettlement {
    /// A settlement for one rollup.
    pub fn new(config: SettlementConfig) -> Self {
        let court = Court::new(CourtConfig {
            rollup: config.rollup.clone(),
            move_timeout: config.move_timeout,
            min_bond: config.min_bond,
        });
        let params = AvsParams {
            challenge_window_secs: config.challenge_window,
            challenge_bond: config.min_bond,
            move_timeout_secs: config.move_timeout,
            ..AvsParams::default()
        };
        Self {
            rollup: config.rollup,
            params,
            inner: Mutex::new(LocalState {
                now: 0,
                genesis_root: config.genesis_root,
                batches: BTreeMap::new(),
                court,
                events: Vec::new(),
                next_final: 0,
                forfeited: U256::ZERO,
                refunds: BTreeMap::new(),
            }),
        }
    }

    /// The challenge window of new commits, in settlement seconds.
    pub const fn challenge_window(&self) -> u64 {
        self.params.challenge_window_secs
    }

    /// The least bond a challenger locks.
    pub fn min_bond(&self) -> U256 {
        self.lock().court.config().min_bond
    }

    /// Moves the settlement clock forward.
    pub fn advance_time(&self, seconds: u64) {
        let now = self.time().saturating_add(seconds);
        self.set_time(now);
    }

    /// Sets the settlement clock (never backwards); games whose deadline passed are decided
    /// against the party that missed it, and batches whose window passed become final.
    pub fn set_time(&self, now: u64) {
        let mut state = self.lock();
        state.now = state.now.max(now);
        let now = state.now;
        for decision in state.court.tick(now) {
            state.apply(decision);
        }
        state.report_finals();
    }

    /// Total bonds forfeited by losing challengers.
    pub fn forfeited_bonds(&self) -> U256 {
        self.lock().forfeited
    }

    /// Bonds returned to `challenger` (its won challenges and those made moot by a revert).
    pub fn refunded(&self, challenger: &Address) -> U256 {
        self.lock()
            .refunds
            .get(challenger)
            .copied()
            .unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LocalState> {
        // Every operation validates before it changes anything, so a panic cannot leave the
        // state half-written: poisoning is safe to ignore.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// [`Settlement::now`], without the async wrapper (the local L1 never waits).
    pub fn time(&self) -> u64 {
        self.lock().now
    }

    /// [`Settlement::commit_batch`], synchronously.
    pub fn commit(&self, commitment: BatchCommitment) -> Result<(), SettlementError> {
        if commitment.rollup_id != self.rollup.rollup_id {
            return Err(SettlementError::WrongRollup {
                expected: self.rollup.rollup_id,
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
        let at = state.now;
        let window_ends = at.saturating_add(self.params.challenge_window_secs);
        state.events.push(SettlementEvent::BatchCommitted {
            commitment: commitment.clone(),
            at,
            window_ends,
        });
        let entry = Entry {
            commitment,
            window_ends,
            challenges: BTreeMap::new(),
            reverted: false,
        };
        state.batches.insert(entry.commitment.index, entry);
        state.report_finals();
        Ok(())
    }

    /// [`Settlement::batch`], synchronously.
    pub fn commitment(&self, index: u64) -> Result<BatchCommitment, SettlementError> {
        self.lock()
            .batches
            .get(&index)
            .map(|entry| entry.commitment.clone())
            .ok_or(SettlementError::UnknownBatch(index))
    }

    /// [`Settlement::status`], synchronously.
    pub fn status_now(&self, index: u64) -> Result<BatchStatus, SettlementError> {
        self.lock().status_of(index)
    }

    /// [`Settlement::open_challenge`], synchronously.
    pub fn challenge(
        &self,
        batch: &Batch,
        challenger: Address,
        bond: U256,
    ) -> Result<DisputeId, SettlementError> {
        let mut state = self.lock();
        let index = batch.index;
        let status = state.status_of(index)?;
        let minimum = state.court.config().min_bond;
        if bond < minimum {
            return Err(SettlementError::BondTooLow { minimum, got: bond });
        }
        let now = state.now;
        let LocalState { batches, court, .. } = &mut *state;
        let Some(entry) = batches.get_mut(&index) else {
            return Err(SettlementError::UnknownBatch(index));
        };
        // Past its window (even if held back by an earlier batch) a batch cannot be challenged.
        if entry.reverted || now >= entry.window_ends {
            return Err(SettlementError::NotChallengeable { index, status });
        }
        if entry.challenges.contains_key(&challenger) {
            return Err(SettlementError::AlreadyChallenging { index, challenger });
        }
        // The court checks the data against the commitment and opens the game; it changes
        // nothing when it refuses.
        let dispute = court.open(&entry.commitment, batch, challenger, bond, now)?;
        entry.challenges.insert(challenger, (dispute, bond));
        let game = court.dispute(dispute).cloned();
        state.events.push(SettlementEvent::ChallengeOpened {
            dispute,
            batch: index,
            challenger,
            bond,
        });
        if let Some(game) = game {
            state.events.push(SettlementEvent::DisputeMoved {
                dispute,
                state: Box::new(game),
            });
        }
        Ok(dispute)
    }

    /// [`Settlement::play`], synchronously.
    pub fn play_move(
        &self,
        dispute: DisputeId,
        mover: Address,
        mv: Move,
    ) -> Result<(), SettlementError> {
        let mut state = self.lock();
        let now = state.now;
        match state.court.play(dispute, now, mover, mv)? {
            Some(decision) => state.apply(decision),
            None => state.moved(dispute),
        }
        state.report_finals();
        Ok(())
    }

    /// [`Settlement::prove`], synchronously.
    pub fn submit_proof(
        &self,
        dispute: DisputeId,
        witness: &StepWitness,
    ) -> Result<(), SettlementError> {
        let mut state = self.lock();
        let now = state.now;
        let decision = state.court.prove(dispute, now, witness)?;
        state.apply(decision);
        state.report_finals();
        Ok(())
    }

    /// [`Settlement::dispute`], synchronously.
    pub fn dispute_now(&self, dispute: DisputeId) -> Option<Dispute> {
        self.lock().court.dispute(dispute).cloned()
    }

    /// [`Settlement::events`], synchronously.
    pub fn events_since(&self, from: u64) -> (Vec<SettlementEvent>, u64) {
        let state = self.lock();
        let start = usize::try_from(from)
            .unwrap_or(usize::MAX)
            .min(state.events.len());
        (state.events[start..].to_vec(), state.events.len() as u64)
    }

    /// [`Settlement::finalized_height`], synchronously.
    pub fn final_height(&self) -> Option<u64> {
        let state = self.lock();
        let mut finalized = None;
        for (index, entry) in &state.batches {
            match state.status_of(*index) {
                Ok(BatchStatus::Final) => finalized = Some(entry.commitment.last_height),
                _ => break,
            }
        }
        finalized
    }
}

impl LocalState {
    fn status_of(&self, index: u64) -> Result<BatchStatus, SettlementError> {
        let entry = self
            .batches
            .get(&index)
            .ok_or(SettlementError::UnknownBatch(index))?;
        let window_ends = entry.window_ends;
        Ok(if entry.reverted {
            BatchStatus::Reverted
        } else if !entry.challenges.is_empty() {
            BatchStatus::Challenged
        } else if self.now >= window_ends {
            // A batch is final only once every earlier batch is: an open challenge on an
            // earlier batch could revert this one too.
            let earlier_open = self
                .batches
                .range(..index)
                .any(|(_, earlier)| earlier.open(self.now));
            if earlier_open {
                BatchStatus::Pending { window_ends }
            } else {
                BatchStatus::Final
            }
        } else {
            BatchStatus::Pending { window_ends }
        })
    }

    fn moved(&mut self, dispute: DisputeId) {
        if let Some(game) = self.court.dispute(dispute).cloned() {
            self.events.push(SettlementEvent::DisputeMoved {
                dispute,
                state: Box::new(game),
            });
        }
    }

    /// Enforces a decided game: a won challenge reverts the batch and every later one and
    /// returns every bond on them; a lost one forfeits the challenger's bond.
    fn apply(&mut self, decision: Decision) {
        let mut resolution = Resolution {
            decision: decision.clone(),
            reverted_from: None,
            returned: Vec::new(),
            dismissed: Vec::new(),
            forfeited: U256::ZERO,
        };
        // A game decided in the same tick as one that reverted its batch is moot: its bond
        // went back with the revert.
        let open = self
            .batches
            .get_mut(&decision.batch)
            .and_then(|entry| entry.challenges.remove(&decision.challenger));
        if open.is_none() {
            return;
        }
        match decision.winner {
            Party::Challenger => {
                resolution.reverted_from = Some(decision.batch);
                resolution
                    .returned
                    .push((decision.challenger, decision.bond));
                for (_, entry) in self.batches.range_mut(decision.batch..) {
                    entry.reverted = true;
                    // Challenges on the reverted batches are moot: their bonds go back too.
                    resolution.returned.extend(
                        std::mem::take(&mut entry.challenges)
                            .into_iter()
                            .map(|(who, (_, bond))| (who, bond)),
                    );
                }
                resolution.dismissed = self
                    .court
                    .dismiss_from(decision.batch)
                    .into_iter()
                    .map(|(id, ..)| id)
                    .collect();
                for (who, amount) in &resolution.returned {
                    let refund = self.refunds.entry(*who).or_default();
                    *refund = refund.saturating_add(*amount);
                }
                self.next_final = self.next_final.min(decision.batch);
            }
            Party::Proposer => {
                self.forfeited = self.forfeited.saturating_add(decision.bond);
                resolution.forfeited = decision.bond;
            }
        }
        self.events
            .push(SettlementEvent::ChallengeDecided(Box::new(resolution)));
    }

    /// Logs every batch that became final since the last report, in order.
    fn report_finals(&mut self) {
        while let Some(entry) = self.batches.get(&self.next_final) {
            if entry.reverted || self.status_of(self.next_final) != Ok(BatchStatus::Final) {
                break;
            }
            self.events.push(SettlementEvent::BatchFinalized {
                index: self.next_final,
                last_height: entry.commitment.last_height,
                post_state_root: entry.commitment.post_state_root,
            });
            self.next_final += 1;
        }
    }
}

impl ParameterStore for LocalSettlement {
    type Params = AvsParams;
    type Error = InvalidAvsParams;

    fn params(&self) -> &AvsParams {
        &self.params
    }

    /// Batches committed from now on get the new challenge window, games opened from now on
    /// the new move timeout and minimum bond; what is under way keeps its own.
    fn set_params(&mut self, params: AvsParams) -> Result<(), InvalidAvsParams> {
        params.validate()?;
        let state = self
            .inner
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.court.set_params(params.clone())?;
        self.params = params;
        Ok(())
    }
}

#[async_trait]
impl Settlement for LocalSettlement {
    /// The in-process L1's whole state (its batches, games, bonds and log): it lives in the
    /// node's process, so it is kept with the node's records.
    fn persist(&self) -> Result<Vec<u8>, crate::persist::PersistError> {
        let state = self.lock();
        crate::persist::encode(
            "settlement",
            &LocalRecord {
                now: state.now,
                batches: state
                    .batches
                    .iter()
                    .map(|(index, entry)| {
                        (
                            *index,
                            Entry {
                                commitment: entry.commitment.clone(),
                                window_ends: entry.window_ends,
                                challenges: entry.challenges.clone(),
                                reverted: entry.reverted,
                            },
                        )
                    })
                    .collect(),
                court: state.court.record(),
                events: state.events.clone(),
                next_final: state.next_final,
                forfeited: state.forfeited,
                refunds: state.refunds.clone(),
            },
        )
    }

    fn restore(&self, record: &[u8]) -> Result<(), crate::persist::PersistError> {
        let record: LocalRecord = crate::persist::decode("settlement", record)?;
        let mut state = self.lock();
        state.now = record.now;
        state.batches = record.batches.into_iter().collect();
        state.court.restore(record.court);
        state.events = record.events;
        state.next_final = record.next_final;
        state.forfeited = record.forfeited;
        state.refunds = record.refunds;
        Ok(())
    }

    async fn now(&self) -> Result<u64, SettlementError> {
        Ok(self.time())
    }

    async fn observe_time(&self, now: u64) -> Result<(), SettlementError> {
        self.set_time(now);
        Ok(())
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
        batch: &Batch,
        challenger: Address,
        bond: U256,
    ) -> Result<DisputeId, SettlementError> {
        self.challenge(batch, challenger, bond)
    }

    async fn play(
        &self,
        dispute: DisputeId,
        mover: Address,
        mv: Move,
    ) -> Result<(), SettlementError> {
        self.play_move(dispute, mover, mv)
    }

    async fn prove(
        &self,
        dispute: DisputeId,
        witness: &StepWitness,
    ) -> Result<(), SettlementError> {
        self.submit_proof(dispute, witness)
    }

    async fn dispute(&self, dispute: DisputeId) -> Result<Option<Dispute>, SettlementError> {
        Ok(self.dispute_now(dispute))
    }

    async fn events(&self, from: u64) -> Result<(Vec<SettlementEvent>, u64), SettlementError> {
        Ok(self.events_since(from))
    }

    async fn finalized_height(&self) -> Result<Option<u64>, SettlementError> {
        Ok(self.final_height())
    }
}
