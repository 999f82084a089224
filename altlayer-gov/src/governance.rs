//! The governance state machine: proposals from deposit to execution, over the ALT ledger.

use crate::{
    action::{Action, InvalidProtocolParams, ProtocolParams},
    proposal::{Ballot, Clock, Defeat, Proposal, Status, Tally},
};
use alloy_primitives::{Address, U256};
use altlayer_core::params::{AvsParams, InvalidAvsParams};
use altlayer_staking::{GovernedLedger, ParameterStore, StakingError};
use std::collections::BTreeMap;

/// Why governance refused an operation. A refused operation changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GovError {
    /// No such proposal.
    #[error("unknown proposal {0}")]
    UnknownProposal(u64),
    /// A proposal needs at least one action.
    #[error("a proposal needs at least one action")]
    NoActions,
    /// An action is not valid against the parameters in force.
    #[error("action {index} is invalid: {reason}")]
    InvalidAction {
        /// Its position.
        index: usize,
        /// Why.
        reason: InvalidProtocolParams,
    },
    /// The treasury cannot pay what the proposal spends.
    #[error("the proposal spends {spend} but the treasury holds {treasury}")]
    TreasuryShort {
        /// Total spent.
        spend: U256,
        /// Treasury balance.
        treasury: U256,
    },
    /// The initial deposit is below the minimum.
    #[error("deposit {got} below the minimum initial deposit {minimum}")]
    DepositTooLow {
        /// Minimum.
        minimum: U256,
        /// Offered.
        got: U256,
    },
    /// Zero deposits and zero-weight votes are refused.
    #[error("amount must be positive")]
    ZeroAmount,
    /// The operation does not fit the proposal's state or the time.
    #[error("proposal {id} is {status:?}: cannot {operation}")]
    WrongState {
        /// The proposal.
        id: u64,
        /// Its state.
        status: Status,
        /// What was attempted.
        operation: &'static str,
    },
    /// The timelock has not passed yet.
    #[error("proposal {id} cannot execute before {eta}")]
    Timelocked {
        /// The proposal.
        id: u64,
        /// Earliest execution time.
        eta: u64,
    },
    /// The voter had no stake at the snapshot.
    #[error("{voter} had no voting power at height {height}")]
    NoVotingPower {
        /// The voter.
        voter: Address,
        /// The height read.
        height: u64,
    },
    /// Only the proposer (before voting) or the guardian may cancel.
    #[error("{0} may not cancel proposal {1}")]
    Unauthorized(Address, u64),
    /// The ledger refused (a deposit beyond the balance, say).
    #[error("ledger: {0}")]
    Ledger(#[from] StakingError),
    /// Governance's own parameters are invalid.
    #[error(transparent)]
    Params(#[from] InvalidProtocolParams),
    /// A parameter target refused the parameters at an epoch boundary.
    #[error("AVS parameters refused: {0}")]
    Avs(#[from] InvalidAvsParams),
}

/// ALT governance: proposals, deposits, checkpointed stake-weighted votes, tally, timelock,
/// and execution of typed parameter changes that take effect at the next epoch.
///
/// Deposits are held in `escrow` on the ledger; the ledger's protocol `authority` is what
/// governance acts as to burn vetoed deposits, pay treasury spends and set minimum stakes.
#[derive(Clone, Debug)]
pub struct Governance {
    params: ProtocolParams,
    /// Parameters passed and executed, waiting for the next epoch.
    scheduled: Option<ProtocolParams>,
    epoch: u64,
    proposals: BTreeMap<u64, Proposal>,
    next: u64,
    authority: Address,
    escrow: Address,
    guardian: Option<Address>,
}

impl Governance {
    /// Governance over `params` (validated), acting on the ledger as `authority`, holding
    /// deposits at `escrow`; `guardian`, if any, may cancel any proposal not yet executed.
    pub fn new(
        params: ProtocolParams,
        authority: Address,
        escrow: Address,
        guardian: Option<Address>,
    ) -> Result<Self, GovError> {
        params.validate()?;
        Ok(Self {
            params,
            scheduled: None,
            epoch: 0,
            proposals: BTreeMap::new(),
            next: 0,
            authority,
            escrow,
            guardian,
        })
    }

    /// The parameters in force.
    pub const fn params(&self) -> &ProtocolParams {
        &self.params
    }

    /// Parameters executed and waiting for the next epoch.
    pub const fn scheduled(&self) -> Option<&ProtocolParams> {
        self.scheduled.as_ref()
    }

    /// The current epoch.
    pub const fn epoch(&self) -> u64 {
        self.epoch
    }

    /// A proposal.
    pub fn proposal(&self, id: u64) -> Option<&Proposal> {
        self.proposals.get(&id)
    }

    /// Every proposal, by id.
    pub fn proposals(&self) -> impl Iterator<Item = &Proposal> {
        self.proposals.values()
    }

    /// The parameters a new action is checked against: the scheduled ones if any, else those
    /// in force.
    fn latest(&self) -> &ProtocolParams {
        self.scheduled.as_ref().unwrap_or(&self.params)
    }

    /// Checks actions against `base`: each applied in order must leave valid parameters.
    fn check_actions(
        base: &ProtocolParams,
        actions: &[Action],
    ) -> Result<ProtocolParams, GovError> {
        let mut params = base.clone();
        for (index, action) in actions.iter().enumerate() {
            action.apply(&mut params);
            params
                .validate()
                .map_err(|reason| GovError::InvalidAction { index, reason })?;
            if let Action::TreasurySpend { amount, .. } = action
                && amount.is_zero()
            {
                return Err(GovError::ZeroAmount);
            }
        }
        Ok(params)
    }

    /// Creates a proposal with the proposer's initial deposit. With the full minimum deposit it
    /// goes straight to `Pending`; otherwise it waits in its deposit period.
    pub fn propose(
        &mut self,
        ledger: &mut impl GovernedLedger,
        proposer: Address,
        actions: Vec<Action>,
        deposit: U256,
        now: Clock,
    ) -> Result<u64, GovError> {
        if actions.is_empty() {
            return Err(GovError::NoActions);
        }
        Self::check_actions(self.latest(), &actions)?;
        let params = self.params.gov.clone();
        if deposit < params.min_initial_deposit || deposit.is_zero() {
            return Err(GovError::DepositTooLow {
                minimum: params.min_initial_deposit,
                got: deposit,
            });
        }
        ledger.transfer(&proposer, &self.escrow, deposit)?;
        let id = self.next;
        self.next += 1;
        let mut proposal = Proposal {
            id,
            proposer,
            actions,
            created: now,
            deposits: BTreeMap::from([(proposer, deposit)]),
            snapshot: None,
            total_power: U256::ZERO,
            votes: BTreeMap::new(),
            tally: Tally::default(),
            status: Status::DepositPeriod {
                ends: now.time.saturating_add(params.deposit_period_secs),
            },
            params,
        };
        Self::check_deposit(&mut proposal, now);
        self.proposals.insert(id, proposal);
        Ok(id)
    }

    /// Moves a proposal whose deposit reached the minimum to `Pending`, setting its snapshot.
    fn check_deposit(proposal: &mut Proposal, now: Clock) {
        if matches!(proposal.status, Status::DepositPeriod { .. })
            && proposal.deposit() >= proposal.params.min_deposit
        {
            proposal.snapshot = Some(
                now.height
                    .saturating_add(proposal.params.voting_delay_blocks),
            );
            proposal.status = Status::Pending;
        }
    }

    /// Adds to a proposal's deposit during its deposit period.
    pub fn deposit(
        &mut self,
        ledger: &mut impl GovernedLedger,
        depositor: Address,
        id: u64,
        amount: U256,
        now: Clock,
    ) -> Result<(), GovError> {
        if amount.is_zero() {
            return Err(GovError::ZeroAmount);
        }
        let proposal = self
            .proposals
            .get(&id)
            .ok_or(GovError::UnknownProposal(id))?;
        match proposal.status {
            Status::DepositPeriod { ends } if now.time < ends => {}
            ref status => {
                return Err(GovError::WrongState {
                    id,
                    status: status.clone(),
                    operation: "take deposits",
                });
            }
        }
        ledger.transfer(&depositor, &self.escrow, amount)?;
        let proposal = self.proposals.get_mut(&id).expect("checked above");
        *proposal.deposits.entry(depositor).or_default() += amount;
        Self::check_deposit(proposal, now);
        Ok(())
    }

    /// Casts `voter`'s ballot, weighted by its stake at the height before the snapshot.
    ///
    /// Recasting: while the proposal is active a voter may vote again; the new ballot replaces
    /// the old one entirely (its weight is taken out of the tally first), so a voter's stake
    /// counts exactly once whatever it does. Stake moved after the snapshot adds no weight
    /// anywhere: every vote is weighed at the snapshot.
    pub fn vote(
        &mut self,
        ledger: &impl GovernedLedger,
        voter: Address,
        id: u64,
        ballot: Ballot,
        now: Clock,
    ) -> Result<(), GovError> {
        let proposal = self
            .proposals
            .get(&id)
            .ok_or(GovError::UnknownProposal(id))?;
        let open = matches!(proposal.status, Status::Active)
            && proposal.snapshot.is_some_and(|s| now.height >= s)
            && proposal.voting_ends().is_some_and(|end| now.height < end);
        if !open {
            return Err(GovError::WrongState {
                id,
                status: proposal.status.clone(),
                operation: "take votes",
            });
        }
        let height = proposal
            .power_height()
            .expect("active proposals have a snapshot");
        let power = ledger.voting_power_at(&voter, height)?;
        if power.is_zero() {
            return Err(GovError::NoVotingPower { voter, height });
        }
        let proposal = self.proposals.get_mut(&id).expect("checked above");
        if let Some((old, old_power)) = proposal.votes.get(&voter) {
            let parts = old.apportion(*old_power);
            proposal.tally.remove(&parts);
        }
        proposal.tally.add(&ballot.apportion(power));
        proposal.votes.insert(voter, (ballot, power));
        Ok(())
    }

    /// Advances time: deposit periods and grace periods run out, voting starts at the
    /// snapshot and ends with the tally. A proposal moves as far as `now` allows, through
    /// several states if time jumped (Pending past its whole voting period ends Defeated, with
    /// no votes). Returns every status change, in order.
    pub fn advance(
        &mut self,
        ledger: &mut impl GovernedLedger,
        now: Clock,
    ) -> Result<Vec<(u64, Status)>, GovError> {
        let mut changed = Vec::new();
        // Each pass moves a proposal one state; a lifecycle has fewer than eight.
        loop {
            let moved = self.advance_once(ledger, now)?;
            if moved.is_empty() {
                return Ok(changed);
            }
            changed.extend(moved);
        }
    }

    fn advance_once(
        &mut self,
        ledger: &mut impl GovernedLedger,
        now: Clock,
    ) -> Result<Vec<(u64, Status)>, GovError> {
        let mut changed = Vec::new();
        let ids: Vec<u64> = self
            .proposals
            .iter()
            .filter(|(_, p)| !p.status.is_terminal())
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let proposal = &self.proposals[&id];
            let next = match &proposal.status {
                Status::DepositPeriod { ends } if now.time >= *ends => Some(Status::Expired),
                Status::Pending => {
                    let snapshot = proposal
                        .snapshot
                        .expect("pending proposals have a snapshot");
                    // Voting opens once the ledger has recorded the height whose stake counts.
                    (now.height >= snapshot && ledger.height() >= snapshot - 1)
                        .then_some(Status::Active)
                }
                Status::Active if proposal.voting_ends().is_some_and(|end| now.height >= end) => {
                    Some(
                        match proposal
                            .tally
                            .outcome(proposal.total_power, &proposal.params)
                        {
                            Ok(()) => Status::Succeeded,
                            Err(reason) => Status::Defeated { reason },
                        },
                    )
                }
                Status::Queued { eta }
                    if now.time >= eta.saturating_add(proposal.params.grace_period_secs) =>
                {
                    Some(Status::Expired)
                }
                _ => None,
            };
            let Some(next) = next else { continue };
            if next == Status::Active {
                let height = proposal
                    .power_height()
                    .expect("pending proposals have a snapshot");
                let total = ledger.total_voting_power_at(height)?;
                self.proposals.get_mut(&id).expect("listed").total_power = total;
            }
            self.settle_deposits(ledger, id, &next)?;
            self.proposals.get_mut(&id).expect("listed").status = next.clone();
            changed.push((id, next));
        }
        Ok(changed)
    }

    /// Returns or burns a proposal's deposits as its new status requires: burned when vetoed,
    /// returned when it expires in its deposit period, is canceled, or when voting ends
    /// otherwise.
    fn settle_deposits(
        &mut self,
        ledger: &mut impl GovernedLedger,
        id: u64,
        next: &Status,
    ) -> Result<(), GovError> {
        let proposal = &self.proposals[&id];
        let held = !matches!(proposal.status, Status::Succeeded | Status::Queued { .. });
        let release = match next {
            Status::Defeated {
                reason: Defeat::Vetoed,
            } => Some(true),
            Status::Defeated { .. } | Status::Succeeded | Status::Canceled => Some(false),
            Status::Expired if matches!(proposal.status, Status::DepositPeriod { .. }) => {
                Some(false)
            }
            _ => None,
        };
        let Some(burn) = release.filter(|_| held) else {
            return Ok(());
        };
        let deposits: Vec<(Address, U256)> =
            proposal.deposits.iter().map(|(a, v)| (*a, *v)).collect();
        let total: U256 = deposits.iter().map(|(_, v)| *v).sum();
        if burn {
            ledger.burn(&self.authority, &self.escrow, total)?;
        } else {
            for (depositor, amount) in deposits {
                ledger.transfer(&self.escrow, &depositor, amount)?;
            }
        }
        Ok(())
    }

    /// Queues a passed proposal behind the timelock.
    pub fn queue(&mut self, id: u64, now: Clock) -> Result<u64, GovError> {
        let proposal = self
            .proposals
            .get_mut(&id)
            .ok_or(GovError::UnknownProposal(id))?;
        if proposal.status != Status::Succeeded {
            return Err(GovError::WrongState {
                id,
                status: proposal.status.clone(),
                operation: "queue",
            });
        }
        let eta = now.time.saturating_add(proposal.params.timelock_secs);
        proposal.status = Status::Queued { eta };
        Ok(eta)
    }

    /// Executes a queued proposal once its timelock has passed and before its grace period
    /// ends: all actions or none. Parameter changes take effect at the next epoch
    /// ([`Governance::begin_epoch`]); treasury spends are paid now. An action no longer valid
    /// (parameters moved since it was proposed) or a treasury that cannot pay marks the
    /// proposal `Failed`, with no effect; the returned status says which.
    pub fn execute(
        &mut self,
        ledger: &mut impl GovernedLedger,
        id: u64,
        now: Clock,
    ) -> Result<Status, GovError> {
        let proposal = self
            .proposals
            .get(&id)
            .ok_or(GovError::UnknownProposal(id))?;
        let Status::Queued { eta } = proposal.status else {
            return Err(GovError::WrongState {
                id,
                status: proposal.status.clone(),
                operation: "execute",
            });
        };
        if now.time < eta {
            return Err(GovError::Timelocked { id, eta });
        }
        if now.time >= eta.saturating_add(proposal.params.grace_period_secs) {
            return Err(GovError::WrongState {
                id,
                status: Status::Expired,
                operation: "execute after the grace period",
            });
        }
        let spends: Vec<(Address, U256)> =
            proposal.actions.iter().filter_map(Action::spend).collect();
        let spend: U256 = spends.iter().map(|(_, a)| *a).sum();
        let outcome = Self::check_actions(self.latest(), &proposal.actions).and_then(|params| {
            if spend > ledger.treasury() {
                Err(GovError::TreasuryShort {
                    spend,
                    treasury: ledger.treasury(),
                })
            } else {
                Ok(params)
            }
        });
        let status = match outcome {
            Ok(params) => {
                // Nothing below can fail: every spend fits the treasury.
                for (to, amount) in spends {
                    ledger.spend_treasury(&self.authority, &to, amount)?;
                }
                self.scheduled = Some(params);
                Status::Executed {
                    effective_epoch: self.epoch + 1,
                }
            }
            Err(reason) => Status::Failed {
                reason: reason.to_string(),
            },
        };
        self.proposals.get_mut(&id).expect("checked above").status = status.clone();
        Ok(status)
    }

    /// Cancels a proposal: its proposer may before voting starts, the guardian at any time
    /// before execution. Deposits are returned.
    pub fn cancel(
        &mut self,
        ledger: &mut impl GovernedLedger,
        caller: Address,
        id: u64,
    ) -> Result<(), GovError> {
        let proposal = self
            .proposals
            .get(&id)
            .ok_or(GovError::UnknownProposal(id))?;
        if proposal.status.is_terminal() {
            return Err(GovError::WrongState {
                id,
                status: proposal.status.clone(),
                operation: "cancel",
            });
        }
        let before_voting = matches!(
            proposal.status,
            Status::DepositPeriod { .. } | Status::Pending
        );
        let allowed =
            Some(caller) == self.guardian || (caller == proposal.proposer && before_voting);
        if !allowed {
            return Err(GovError::Unauthorized(caller, id));
        }
        self.settle_deposits(ledger, id, &Status::Canceled)?;
        self.proposals.get_mut(&id).expect("checked above").status = Status::Canceled;
        Ok(())
    }

    /// Starts the next epoch: parameters executed during the last one take effect, pushed to
    /// the ledger and to every AVS target through [`ParameterStore`], minimum stakes set on
    /// the ledger's operator sets. The parameters are validated as a whole first, and the
    /// targets here validate by the same rules, so none refuses; a foreign target that still
    /// did would stop the change there with an error (the targets before it already
    /// changed) and the parameters stay scheduled. Returns whether anything changed.
    pub fn begin_epoch(
        &mut self,
        ledger: &mut impl GovernedLedger,
        avs: &mut [&mut dyn ParameterStore<Params = AvsParams, Error = InvalidAvsParams>],
    ) -> Result<bool, GovError> {
        let Some(params) = self.scheduled.clone() else {
            self.epoch += 1;
            return Ok(false);
        };
        params.validate()?;
        ledger.set_params(params.staking.clone())?;
        for target in avs.iter_mut() {
            target.set_params(params.avs.clone())?;
        }
        for (set, amount) in &params.min_stakes {
            if self.params.min_stakes.get(set) != Some(amount) {
                ledger.set_min_stake(&self.authority, *set, *amount)?;
            }
        }
        self.params = params;
        self.scheduled = None;
        self.epoch += 1;
        Ok(true)
    }
}
