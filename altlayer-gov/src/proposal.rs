//! Proposals: their lifecycle, ballots and tally.

use crate::action::{Action, BIPS, GovParams};
use alloy_primitives::{Address, U256};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Governance's view of time: the ledger's height (for stake snapshots and the voting window)
/// and time in seconds (for the deposit period, the timelock and the grace period).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    /// Height.
    pub height: u64,
    /// Seconds.
    pub time: u64,
}

impl Clock {
    /// A clock reading.
    pub const fn new(height: u64, time: u64) -> Self {
        Self { height, time }
    }
}

/// Why a proposal was defeated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Defeat {
    /// Too little of the snapshot's stake voted. Deposits are refunded.
    NoQuorum,
    /// Not enough Yes. Deposits are refunded.
    Rejected,
    /// Too much NoWithVeto. Deposits are burned.
    Vetoed,
}

/// Where a proposal stands. The terminal states (`Defeated`, `Executed`, `Expired`,
/// `Canceled`, `Failed`) are absorbing: nothing moves a proposal out of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum Status {
    /// Waiting for deposits to reach the minimum.
    DepositPeriod {
        /// Time at which it expires without them.
        ends: u64,
    },
    /// Deposit met; voting starts at the snapshot height.
    Pending,
    /// Voting.
    Active,
    /// Voting ended without passing.
    Defeated {
        /// Why.
        reason: Defeat,
    },
    /// Passed; waiting to be queued.
    Succeeded,
    /// Queued behind the timelock.
    Queued {
        /// Earliest execution time.
        eta: u64,
    },
    /// Executed.
    Executed {
        /// The epoch its parameter changes take effect in (its first epoch boundary).
        effective_epoch: u64,
    },
    /// The deposit period or the grace period passed.
    Expired,
    /// Canceled by its proposer or the guardian.
    Canceled,
    /// Executing it failed (an action no longer valid); nothing of it took effect.
    Failed {
        /// Why.
        reason: String,
    },
}

impl Status {
    /// Whether the proposal can no longer change.
    pub const fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Defeated { .. }
                | Self::Executed { .. }
                | Self::Expired
                | Self::Canceled
                | Self::Failed { .. }
        )
    }
}

/// A voting option.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum VoteOption {
    /// For.
    Yes,
    /// Against.
    No,
    /// Counts toward the quorum only.
    Abstain,
    /// Against, and counts toward the veto.
    NoWithVeto,
}

/// A voter's ballot: its power split over options by weights in bips summing to 10,000 (a
/// plain vote is one option at 10,000).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ballot(Vec<(VoteOption, u32)>);

/// Why a ballot is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BallotError {
    /// The weights do not sum to 10,000 bips.
    #[error("ballot weights sum to {0} bips, not 10,000")]
    Weights(u64),
    /// An option appears twice, or with a zero weight.
    #[error("option {0:?} repeated or weighted zero")]
    Option(VoteOption),
}

impl Ballot {
    /// All of the voter's power on one option.
    pub fn single(option: VoteOption) -> Self {
        Self(vec![(option, BIPS)])
    }

    /// A split vote: weights in bips, summing to 10,000, each option once.
    pub fn split(weights: Vec<(VoteOption, u32)>) -> Result<Self, BallotError> {
        let sum: u64 = weights.iter().map(|(_, w)| u64::from(*w)).sum();
        if sum != u64::from(BIPS) {
            return Err(BallotError::Weights(sum));
        }
        for (i, (option, weight)) in weights.iter().enumerate() {
            if *weight == 0 || weights[..i].iter().any(|(o, _)| o == option) {
                return Err(BallotError::Option(*option));
            }
        }
        Ok(Self(weights))
    }

    /// The options and weights.
    pub fn weights(&self) -> &[(VoteOption, u32)] {
        &self.0
    }

    /// `power` divided over the options: rounded down, the remainder to the heaviest option
    /// (the first of equals), so the parts always add up to `power`.
    pub fn apportion(&self, power: U256) -> Vec<(VoteOption, U256)> {
        let mut parts: Vec<(VoteOption, U256)> = self
            .0
            .iter()
            .map(|(option, weight)| (*option, power * U256::from(*weight) / U256::from(BIPS)))
            .collect();
        let given: U256 = parts.iter().map(|(_, p)| *p).sum();
        let heaviest = (0..self.0.len())
            .max_by_key(|i| (self.0[*i].1, usize::MAX - i))
            .unwrap_or(0);
        if let Some((_, part)) = parts.get_mut(heaviest) {
            *part += power - given;
        }
        parts
    }
}

/// Votes counted, by option.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Yes.
    pub yes: U256,
    /// No.
    pub no: U256,
    /// Abstain.
    pub abstain: U256,
    /// NoWithVeto.
    pub no_with_veto: U256,
}

impl Tally {
    fn slot(&mut self, option: VoteOption) -> &mut U256 {
        match option {
            VoteOption::Yes => &mut self.yes,
            VoteOption::No => &mut self.no,
            VoteOption::Abstain => &mut self.abstain,
            VoteOption::NoWithVeto => &mut self.no_with_veto,
        }
    }

    pub(crate) fn add(&mut self, parts: &[(VoteOption, U256)]) {
        for (option, power) in parts {
            *self.slot(*option) += *power;
        }
    }

    pub(crate) fn remove(&mut self, parts: &[(VoteOption, U256)]) {
        for (option, power) in parts {
            let slot = self.slot(*option);
            *slot = slot.saturating_sub(*power);
        }
    }

    /// Every vote, abstentions included.
    pub fn voted(&self) -> U256 {
        self.yes + self.no + self.abstain + self.no_with_veto
    }

    /// The outcome against `total` (the snapshot's stake) under `params`, in cosmos-sdk
    /// x/gov's order: quorum (inclusive), then veto (strict), then threshold (strict). With
    /// no stake at the snapshot there is no quorum; with only abstentions, no pass.
    pub fn outcome(&self, total: U256, params: &GovParams) -> Result<(), Defeat> {
        let bips = |value: U256, fraction: u32| value * U256::from(fraction);
        let whole = |value: U256| value * U256::from(BIPS);
        let voted = self.voted();
        if total.is_zero() || whole(voted) < bips(total, params.quorum_bips) {
            return Err(Defeat::NoQuorum);
        }
        if whole(self.no_with_veto) > bips(voted, params.veto_bips) {
            return Err(Defeat::Vetoed);
        }
        let decisive = self.yes + self.no + self.no_with_veto;
        if decisive.is_zero() || whole(self.yes) <= bips(decisive, params.threshold_bips) {
            return Err(Defeat::Rejected);
        }
        Ok(())
    }
}

/// A proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Proposal {
    /// Its number.
    pub id: u64,
    /// Who proposed it.
    pub proposer: Address,
    /// What it does, in order, all or nothing.
    pub actions: Vec<Action>,
    /// The rules it is decided by, as they were when it was created.
    pub params: GovParams,
    /// When it was created.
    pub created: Clock,
    /// Deposits, by depositor.
    #[serde(with = "altlayer_core::serde_pairs")]
    pub deposits: BTreeMap<Address, U256>,
    /// Height whose preceding height's stake weighs the votes; set when the deposit is met.
    pub snapshot: Option<u64>,
    /// Total stake at the snapshot, read when voting starts.
    pub total_power: U256,
    /// Each voter's ballot and the power it carried.
    #[serde(with = "altlayer_core::serde_pairs")]
    pub votes: BTreeMap<Address, (Ballot, U256)>,
    /// Votes counted.
    pub tally: Tally,
    /// Where it stands.
    pub status: Status,
}

impl Proposal {
    /// Sum of deposits.
    pub fn deposit(&self) -> U256 {
        self.deposits.values().copied().sum()
    }

    /// Height the voting window closes at (exclusive), once the snapshot is set.
    pub fn voting_ends(&self) -> Option<u64> {
        self.snapshot
            .map(|s| s.saturating_add(self.params.voting_period_blocks))
    }

    /// The height whose stake weighs the votes: the one before the snapshot, so stake that
    /// arrives at or after the snapshot height counts zero.
    pub fn power_height(&self) -> Option<u64> {
        self.snapshot.map(|s| s.saturating_sub(1))
    }
}
