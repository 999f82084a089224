//! What a proposal does when it executes: typed changes to protocol parameters and treasury
//! spends, and the parameters governance itself runs by.

use alloy_primitives::{Address, U256};
use altlayer_core::params::{AvsParams, InvalidAvsParams, Threshold};
use altlayer_staking::{FeeSplit, OperatorSetId, StakingParams, params::InvalidParams};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Basis points in one whole.
pub const BIPS: u32 = 10_000;

/// Seconds in a day.
const DAY: u64 = 86_400;

/// The rules proposals are made and decided by. A proposal keeps the ones in force when it was
/// created, whatever later proposals change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GovParams {
    /// Deposit a proposal needs before voting starts, in ALT base units.
    pub min_deposit: U256,
    /// Deposit the proposer must put down when proposing (the rest may come from anyone during
    /// the deposit period).
    pub min_initial_deposit: U256,
    /// Time to reach `min_deposit`, in seconds; after it the proposal expires and deposits are
    /// refunded.
    pub deposit_period_secs: u64,
    /// Heights from the deposit being met to the snapshot (at least 1). Voting power is read
    /// at the height before the snapshot, so stake acquired at or after it counts zero.
    pub voting_delay_blocks: u64,
    /// Heights voting lasts, from the snapshot.
    pub voting_period_blocks: u64,
    /// Share of the snapshot's total stake that must vote (abstain included), inclusive:
    /// `voted x 10,000 >= total x quorum`. Default 3,340 (33.4 %, cosmos-sdk x/gov).
    pub quorum_bips: u32,
    /// Share of non-abstaining votes that must be Yes, strict: `yes x 10,000 > (yes + no +
    /// veto) x threshold`. Default 5,000 (more than half, cosmos-sdk x/gov).
    pub threshold_bips: u32,
    /// Share of all votes that vetoes, strict: `veto x 10,000 > voted x veto`. A vetoed
    /// proposal fails and its deposits are burned. Default 3,340 (33.4 %, cosmos-sdk x/gov).
    pub veto_bips: u32,
    /// Least time between a proposal passing (queued) and its execution, in seconds.
    pub timelock_secs: u64,
    /// Time after the timelock during which a queued proposal can execute; after it, it
    /// expires.
    pub grace_period_secs: u64,
}

impl Default for GovParams {
    fn default() -> Self {
        let alt = U256::from(10u64).pow(U256::from(18u64));
        Self {
            min_deposit: U256::from(10_000u64) * alt,
            min_initial_deposit: U256::from(2_500u64) * alt,
            deposit_period_secs: 14 * DAY,
            voting_delay_blocks: 1,
            // A week of 1-second blocks.
            voting_period_blocks: 7 * DAY,
            quorum_bips: 3_340,
            threshold_bips: 5_000,
            veto_bips: 3_340,
            timelock_secs: 2 * DAY,
            grace_period_secs: 14 * DAY,
        }
    }
}

/// Why a set of governance parameters was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid governance parameter {name}: {reason}")]
pub struct InvalidGovParams {
    /// The parameter.
    pub name: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl GovParams {
    /// Checks every parameter.
    pub fn validate(&self) -> Result<(), InvalidGovParams> {
        let fail = |name, reason| Err(InvalidGovParams { name, reason });
        if self.min_deposit.is_zero() {
            return fail("minDeposit", "must be positive");
        }
        if self.min_initial_deposit > self.min_deposit {
            return fail("minInitialDeposit", "must not exceed the minimum deposit");
        }
        for (name, value) in [
            ("depositPeriodSecs", self.deposit_period_secs),
            ("votingDelayBlocks", self.voting_delay_blocks),
            ("votingPeriodBlocks", self.voting_period_blocks),
            ("timelockSecs", self.timelock_secs),
            ("gracePeriodSecs", self.grace_period_secs),
        ] {
            if value == 0 {
                return fail(name, "must be positive");
            }
        }
        if self.quorum_bips == 0 || self.quorum_bips > BIPS {
            return fail("quorumBips", "must be within 1..=10,000");
        }
        // A strict threshold of 100 % could never pass.
        if self.threshold_bips >= BIPS {
            return fail("thresholdBips", "must be below 10,000");
        }
        if self.veto_bips == 0 || self.veto_bips >= BIPS {
            return fail("vetoBips", "must be within 1..10,000");
        }
        Ok(())
    }
}

/// Every parameter governance controls.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProtocolParams {
    /// altlayer-staking's.
    pub staking: StakingParams,
    /// altlayer-avs's (SQUAD, MACH, VITAL).
    pub avs: AvsParams,
    /// Governance's own.
    pub gov: GovParams,
    /// Minimum stakes of operator sets changed by governance (sets not named keep theirs).
    #[serde(with = "altlayer_core::serde_pairs")]
    pub min_stakes: BTreeMap<OperatorSetId, U256>,
}

/// Why a set of protocol parameters was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidProtocolParams {
    /// A staking parameter.
    #[error(transparent)]
    Staking(#[from] InvalidParams),
    /// An AVS parameter.
    #[error(transparent)]
    Avs(#[from] InvalidAvsParams),
    /// A governance parameter.
    #[error(transparent)]
    Gov(#[from] InvalidGovParams),
}

impl ProtocolParams {
    /// Checks every parameter.
    pub fn validate(&self) -> Result<(), InvalidProtocolParams> {
        self.staking.validate()?;
        self.avs.validate()?;
        self.gov.validate()?;
        Ok(())
    }
}

/// An infraction with a slash fraction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Infraction {
    /// Two conflicting votes.
    Equivocation,
    /// A state root proven wrong by a challenge.
    InvalidStateRoot,
    /// A vote for a non-canonical block.
    InvalidVote,
}

/// One typed change a proposal makes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "action")]
#[non_exhaustive]
pub enum Action {
    /// How ALT fees are split (burn, sequencers, operators, treasury).
    SetFeeSplit {
        /// The split.
        split: FeeSplit,
    },
    /// The fraction slashed for an infraction.
    SetSlashFraction {
        /// The infraction.
        infraction: Infraction,
        /// Fraction, in bips.
        bips: u32,
    },
    /// The share of a slash paid to the evidence's submitter.
    SetEvidenceReward {
        /// Share, in bips.
        bips: u32,
    },
    /// The unbonding cooldown.
    SetUnbondingCooldown {
        /// Seconds.
        secs: u64,
    },
    /// An operator set's minimum stake.
    SetMinStake {
        /// The set.
        set: OperatorSetId,
        /// Minimum, in ALT base units.
        amount: U256,
    },
    /// MACH's finality threshold.
    SetFinalityThreshold {
        /// The threshold.
        threshold: Threshold,
    },
    /// The L1 challenge window of VITAL.
    SetChallengeWindow {
        /// Seconds.
        secs: u64,
    },
    /// The least bond a VITAL challenger locks.
    SetChallengeBond {
        /// Bond, in ALT base units.
        amount: U256,
    },
    /// Governance's own parameters (for proposals created after the change takes effect).
    SetGovParams {
        /// The parameters.
        params: GovParams,
    },
    /// Pays ALT from the treasury.
    TreasurySpend {
        /// Recipient.
        to: Address,
        /// Amount.
        amount: U256,
    },
}

impl Action {
    /// Applies the change to `params` (a treasury spend changes no parameter).
    pub fn apply(&self, params: &mut ProtocolParams) {
        match self {
            Self::SetFeeSplit { split } => params.staking.fee_split = *split,
            Self::SetSlashFraction { infraction, bips } => {
                let field = match infraction {
                    Infraction::Equivocation => &mut params.staking.slash_equivocation_bips,
                    Infraction::InvalidStateRoot => {
                        &mut params.staking.slash_invalid_state_root_bips
                    }
                    Infraction::InvalidVote => &mut params.staking.slash_invalid_vote_bips,
                };
                *field = *bips;
            }
            Self::SetEvidenceReward { bips } => params.staking.evidence_reward_bips = *bips,
            Self::SetUnbondingCooldown { secs } => params.staking.unbonding_cooldown_secs = *secs,
            Self::SetMinStake { set, amount } => {
                params.min_stakes.insert(*set, *amount);
            }
            Self::SetFinalityThreshold { threshold } => params.avs.mach_threshold = *threshold,
            Self::SetChallengeWindow { secs } => params.avs.challenge_window_secs = *secs,
            Self::SetChallengeBond { amount } => params.avs.challenge_bond = *amount,
            Self::SetGovParams { params: gov } => params.gov = gov.clone(),
            Self::TreasurySpend { .. } => {}
        }
    }

    /// The treasury spend, if this is one.
    pub const fn spend(&self) -> Option<(Address, U256)> {
        match self {
            Self::TreasurySpend { to, amount } => Some((*to, *amount)),
            _ => None,
        }
    }
}
