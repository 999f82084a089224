//! The settlement side of VITAL: every open dispute, their deadlines, and the one-step proofs
//! that decide them, as a sans-IO state machine.
//!
//! The court holds the data of each disputed batch (as read from DA and checked against the
//! commitment posted to settlement) and one [`Dispute`] per challenger: several challengers on
//! one batch play separate games against the proposer. A game that reaches its last step is
//! decided by [`verify_step`] over the submitted witness; a witness that does not match the
//! agreed root or lacks anything is refused and decides nothing. Each finished game yields a
//! [`Decision`], which settlement enforces ([`super::LocalSettlement`] runs a court inside): a
//! batch proven wrong reverts with every batch after it, and every other game on those batches
//! is then moot ([`Court::dismiss_from`]); the ledger of the rollup's token moves the bonds and
//! slashes the proposer.

use super::bisection::{Dispute, DisputeError, Move, Party, Reason, Status};
use crate::{
    Batch, RollupConfig,
    execution::stateless::{
        StepError, StepOutcome, StepWitness, claimed_step_roots, plan_step, step_count, verify_step,
    },
    settlement::BatchCommitment,
};
use alloy_primitives::{Address, B256, U256, keccak256};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A dispute's number at the court.
pub type DisputeId = u64;

/// The court's rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CourtConfig {
    /// The rollup, whose execution rules decide one-step proofs.
    pub rollup: RollupConfig,
    /// Time each move (and the one-step proof) has, in settlement seconds.
    pub move_timeout: u64,
    /// Least bond a challenger locks.
    pub min_bond: U256,
}

/// Why the court refused something. A refusal changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CourtError {
    /// No such dispute, or it is over.
    #[error("no open dispute {0}")]
    UnknownDispute(DisputeId),
    /// The batch data does not match the commitment posted to settlement.
    #[error("batch data does not match commitment {0}")]
    WrongBatch(B256),
    /// The challenger already disputes this batch.
    #[error("{challenger} already disputes batch {batch}")]
    AlreadyDisputing {
        /// Batch.
        batch: u64,
        /// Challenger.
        challenger: Address,
    },
    /// The bond is below the minimum.
    #[error("bond {got} below the minimum {minimum}")]
    BondTooLow {
        /// Minimum.
        minimum: U256,
        /// Offered.
        got: U256,
    },
    /// Only the dispute's proposer or challenger may move, and only as itself.
    #[error("{0} is not a party to dispute {1}")]
    NotAParty(Address, DisputeId),
    /// The move itself was refused by the game.
    #[error(transparent)]
    Move(#[from] DisputeError),
    /// The one-step proof was refused.
    #[error("one-step proof refused: {0}")]
    Proof(#[from] StepError),
}

/// How a game ended, for enforcement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// The dispute.
    pub dispute: DisputeId,
    /// Identity of the challenge, as slashing evidence names it.
    pub challenge: B256,
    /// The batch.
    pub batch: u64,
    /// Who posted it.
    pub proposer: Address,
    /// Who disputed it.
    pub challenger: Address,
    /// The challenger's bond.
    pub bond: U256,
    /// Who won.
    pub winner: Party,
    /// Why.
    pub reason: Reason,
    /// The step the game ended on, when it got to one.
    pub step: Option<u64>,
    /// Height of the block the decision blames: the disputed step's block, or the batch's
    /// first block when the game ended before narrowing down.
    pub height: u64,
}

/// One game at the court.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Case {
    batch: u64,
    bond: U256,
    challenge: B256,
    dispute: Dispute,
}

/// Every open dispute, with the data of the batches they are about.
#[derive(Clone, Debug)]
pub struct Court {
    config: CourtConfig,
    /// The AVS parameters last set through [`ParameterStore`] (the move timeout and the
    /// minimum bond come from them).
    params: crate::params::AvsParams,
    /// Disputed batches by index: the data and the step roots the proposer posted.
    batches: BTreeMap<u64, Batch>,
    cases: BTreeMap<DisputeId, Case>,
    next: DisputeId,
}

/// What a court keeps beyond its rules, as persisted.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct CourtRecord {
    params: crate::params::AvsParams,
    #[serde(with = "crate::persist::rlp::map")]
    batches: BTreeMap<u64, Batch>,
    cases: Vec<(DisputeId, Case)>,
    next: DisputeId,
}

impl Court {
    pub(crate) fn record(&self) -> CourtRecord {
        CourtRecord {
            params: self.params.clone(),
            batches: self.batches.clone(),
            cases: self.cases.iter().map(|(id, c)| (*id, c.clone())).collect(),
            next: self.next,
        }
    }

    pub(crate) fn restore(&mut self, record: CourtRecord) {
        self.params = record.params;
        self.batches = record.batches;
        self.cases = record.cases.into_iter().collect();
        self.next = record.next;
    }

    /// An empty court.
    pub fn new(config: CourtConfig) -> Self {
        let params = crate::params::AvsParams {
            challenge_bond: config.min_bond,
            move_timeout_secs: config.move_timeout,
            ..Default::default()
        };
        Self {
            config,
            params,
            batches: BTreeMap::new(),
            cases: BTreeMap::new(),
            next: 0,
        }
    }

    /// Its rules.
    pub const fn config(&self) -> &CourtConfig {
        &self.config
    }

    /// Opens a dispute by `challenger` over the batch committed as `commitment`, whose data
    /// (from DA) is `batch`, at settlement time `now`.
    pub fn open(
        &mut self,
        commitment: &BatchCommitment,
        batch: &Batch,
        challenger: Address,
        bond: U256,
        now: u64,
    ) -> Result<DisputeId, CourtError> {
        if bond < self.config.min_bond {
            return Err(CourtError::BondTooLow {
                minimum: self.config.min_bond,
                got: bond,
            });
        }
        if batch.commitment(self.config.rollup.chain_id) != commitment.commitment
            || batch.index != commitment.index
        {
            return Err(CourtError::WrongBatch(commitment.commitment));
        }
        if self
            .cases
            .values()
            .any(|case| case.batch == batch.index && case.dispute.challenger == challenger)
        {
            return Err(CourtError::AlreadyDisputing {
                batch: batch.index,
                challenger,
            });
        }
        let steps = step_count(batch) as u64;
        let dispute = Dispute::open(
            batch.index,
            commitment.proposer,
            challenger,
            steps,
            batch.pre_state_root,
            batch.post_state_root,
            Some(claimed_step_roots(batch)),
            now,
            self.config.move_timeout,
        )?;
        let id = self.next;
        self.next += 1;
        let challenge = keccak256(
            [
                commitment.commitment.as_slice(),
                challenger.as_slice(),
                &id.to_be_bytes(),
            ]
            .concat(),
        );
        self.batches
            .entry(batch.index)
            .or_insert_with(|| batch.clone());
        self.cases.insert(
            id,
            Case {
                batch: batch.index,
                bond,
                challenge,
                dispute,
            },
        );
        Ok(id)
    }

    /// An open dispute.
    pub fn dispute(&self, id: DisputeId) -> Option<&Dispute> {
        self.cases.get(&id).map(|case| &case.dispute)
    }

    /// Open disputes, by id.
    pub fn disputes(&self) -> impl Iterator<Item = (DisputeId, &Dispute)> {
        self.cases.iter().map(|(id, case)| (*id, &case.dispute))
    }

    /// The data of a disputed batch.
    pub fn batch(&self, index: u64) -> Option<&Batch> {
        self.batches.get(&index)
    }

    /// A move by `mover` at `now`. Returns the decision if the move ended the game (a
    /// contradiction, or a move after its deadline).
    pub fn play(
        &mut self,
        id: DisputeId,
        now: u64,
        mover: Address,
        mv: Move,
    ) -> Result<Option<Decision>, CourtError> {
        let case = self
            .cases
            .get_mut(&id)
            .ok_or(CourtError::UnknownDispute(id))?;
        let party = match mv {
            Move::Root { .. } if mover == case.dispute.proposer => Party::Proposer,
            Move::Verdict { .. } if mover == case.dispute.challenger => Party::Challenger,
            _ => return Err(CourtError::NotAParty(mover, id)),
        };
        case.dispute.play(now, party, mv)?;
        Ok(self.settle(id))
    }

    /// Decides the game's last step from a witness, submitted by anyone, at `now`.
    pub fn prove(
        &mut self,
        id: DisputeId,
        now: u64,
        witness: &StepWitness,
    ) -> Result<Decision, CourtError> {
        let case = self
            .cases
            .get_mut(&id)
            .ok_or(CourtError::UnknownDispute(id))?;
        let Status::OneStep {
            index, pre_root, ..
        } = case.dispute.tick(now)
        else {
            // Over by a missed deadline, or not at its last step yet.
            if let Some(decision) = self.settle(id) {
                return Ok(decision);
            }
            return Err(CourtError::Move(DisputeError::NotBisecting));
        };
        let batch = &self.batches[&case.batch];
        let outcome = verify_step(
            &self.config.rollup,
            batch,
            index as usize,
            pre_root,
            witness,
        )?;
        match outcome {
            StepOutcome::Root(root) => case.dispute.decide(root)?,
            StepOutcome::Invalid(_) => case.dispute.decide_invalid()?,
        };
        Ok(self
            .settle(id)
            .expect("a decided dispute settles into a decision"))
    }

    /// Advances settlement time: every game whose deadline passed is decided against the party
    /// that missed it.
    pub fn tick(&mut self, now: u64) -> Vec<Decision> {
        let ids: Vec<DisputeId> = self.cases.keys().copied().collect();
        ids.into_iter()
            .filter_map(|id| {
                self.cases.get_mut(&id)?.dispute.tick(now);
                self.settle(id)
            })
            .collect()
    }

    /// Ends every game on batch `from` and later ones without a winner, once settlement has
    /// reverted them: their challengers get their bonds back. Returns the games ended.
    pub fn dismiss_from(&mut self, from: u64) -> Vec<(DisputeId, Address, U256)> {
        let moot: Vec<DisputeId> = self
            .cases
            .iter()
            .filter(|(_, case)| case.batch >= from)
            .map(|(id, _)| *id)
            .collect();
        self.batches.split_off(&from);
        moot.into_iter()
            .filter_map(|id| {
                let case = self.cases.remove(&id)?;
                Some((id, case.dispute.challenger, case.bond))
            })
            .collect()
    }

    /// Removes a decided game and turns it into a decision.
    fn settle(&mut self, id: DisputeId) -> Option<Decision> {
        let case = self.cases.get(&id)?;
        let Status::Decided { winner, reason } = case.dispute.status() else {
            return None;
        };
        let case = self.cases.remove(&id)?;
        let batch = &self.batches[&case.batch];
        let step = case.dispute.final_step();
        let height = step
            .and_then(|step| {
                let plan = plan_step(batch, step as usize).ok()?;
                let part = plan
                    .parts
                    .iter()
                    .find(|part| part.transaction.is_some())
                    .or(plan.parts.last())?;
                Some(batch.blocks[part.block].header.height)
            })
            .or_else(|| batch.first_height())
            .unwrap_or_default();
        let decision = Decision {
            dispute: id,
            challenge: case.challenge,
            batch: case.batch,
            proposer: case.dispute.proposer,
            challenger: case.dispute.challenger,
            bond: case.bond,
            winner,
            reason,
            step,
            height,
        };
        if !self.cases.values().any(|other| other.batch == case.batch) {
            self.batches.remove(&case.batch);
        }
        Some(decision)
    }
}

impl crate::params::ParameterStore for Court {
    type Params = crate::params::AvsParams;
    type Error = crate::params::InvalidAvsParams;

    fn params(&self) -> &crate::params::AvsParams {
        &self.params
    }

    /// New games take the move timeout and minimum bond from `params`; games already open
    /// keep the deadlines they started with.
    fn set_params(&mut self, params: crate::params::AvsParams) -> Result<(), Self::Error> {
        params.validate()?;
        self.config.move_timeout = params.move_timeout_secs;
        self.config.min_bond = params.challenge_bond;
        self.params = params;
        Ok(())
    }
}
