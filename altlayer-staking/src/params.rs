//! Staking parameters: one struct, validated, with documented defaults and their sources, and
//! the trait through which governance reads and changes them.

use crate::rewards::FeeSplit;
use serde::{Deserialize, Serialize};

/// Basis points in one whole: 10,000 bips = 100 %.
pub const BIPS: u32 = 10_000;

/// Seconds in a day.
const DAY: u64 = 24 * 60 * 60;

/// Parameters of the staking state machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StakingParams {
    /// Time from undelegation to redemption, in the ledger's time (seconds). Default 21 days,
    /// AltLayer's ALT unstaking cooldown.
    pub unbonding_cooldown_secs: u64,
    /// Most unbonding entries per (delegator, operator) pair. Default 7, cosmos-sdk
    /// x/staking's `MaxEntries`.
    pub max_unbonding_entries: u32,
    /// Most commission an operator may set, in bips. Default 10,000 (no cap beyond 100 %);
    /// EigenLayer's default operator split is 1,000 bips.
    pub max_commission_bips: u32,
    /// Evidence older than this many blocks is refused.
    pub max_evidence_age_blocks: u64,
    /// Evidence older than this many seconds is refused. Default 21 days, the cooldown, so
    /// stake cannot leave before its infractions expire.
    pub max_evidence_age_secs: u64,
    /// Fraction slashed for equivocation, in bips. Default 500 (5 %), cosmos-sdk x/slashing's
    /// double-sign fraction.
    pub slash_equivocation_bips: u32,
    /// Fraction slashed for an invalid state root confirmed by a challenge, in bips.
    /// Default 10,000 (all of it): a wrong root is an attack on every user of the rollup.
    pub slash_invalid_state_root_bips: u32,
    /// Fraction slashed for an invalid finality vote, in bips. Default 500 (5 %).
    pub slash_invalid_vote_bips: u32,
    /// Share of a slash paid to whoever submitted the evidence, in bips; the rest is burned.
    /// Default 1,000 (10 %).
    pub evidence_reward_bips: u32,
    /// How fees paid in ALT are divided (burn, sequencers, operators, treasury). Default 10 %
    /// burned, 40 % to the SQUAD set, 40 % to the VITAL and MACH sets, 10 % to the treasury.
    pub fee_split: FeeSplit,
}

impl Default for StakingParams {
    fn default() -> Self {
        Self {
            unbonding_cooldown_secs: 21 * DAY,
            max_unbonding_entries: 7,
            max_commission_bips: BIPS,
            // 21 days of 1-second blocks.
            max_evidence_age_blocks: 21 * DAY,
            max_evidence_age_secs: 21 * DAY,
            slash_equivocation_bips: 500,
            slash_invalid_state_root_bips: BIPS,
            slash_invalid_vote_bips: 500,
            evidence_reward_bips: 1_000,
            fee_split: FeeSplit::default(),
        }
    }
}

/// Why a parameter set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid staking parameter {name}: {reason}")]
pub struct InvalidParams {
    /// The parameter.
    pub name: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl StakingParams {
    /// Checks every parameter: fractions within 0..=10,000 bips, delays and limits positive.
    pub fn validate(&self) -> Result<(), InvalidParams> {
        let positive = |name, value: u64| {
            if value == 0 {
                Err(InvalidParams {
                    name,
                    reason: "must be positive",
                })
            } else {
                Ok(())
            }
        };
        let fraction = |name, value: u32| {
            if value > BIPS {
                Err(InvalidParams {
                    name,
                    reason: "must be at most 10,000 bips",
                })
            } else {
                Ok(())
            }
        };
        positive("unbondingCooldownSecs", self.unbonding_cooldown_secs)?;
        positive("maxUnbondingEntries", u64::from(self.max_unbonding_entries))?;
        positive("maxEvidenceAgeBlocks", self.max_evidence_age_blocks)?;
        positive("maxEvidenceAgeSecs", self.max_evidence_age_secs)?;
        fraction("maxCommissionBips", self.max_commission_bips)?;
        fraction("slashEquivocationBips", self.slash_equivocation_bips)?;
        fraction(
            "slashInvalidStateRootBips",
            self.slash_invalid_state_root_bips,
        )?;
        fraction("slashInvalidVoteBips", self.slash_invalid_vote_bips)?;
        fraction("evidenceRewardBips", self.evidence_reward_bips)?;
        self.fee_split.validate()?;
        if self.max_evidence_age_secs > self.unbonding_cooldown_secs {
            // Evidence must expire before the stake it would slash can leave.
            return Err(InvalidParams {
                name: "maxEvidenceAgeSecs",
                reason: "must not exceed the unbonding cooldown",
            });
        }
        Ok(())
    }
}

pub use altlayer_core::params::ParameterStore;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bounds_are_checked() {
        StakingParams::default().validate().unwrap();
        let bad = StakingParams {
            slash_equivocation_bips: 10_001,
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().name, "slashEquivocationBips");
        let edge = StakingParams {
            slash_equivocation_bips: 10_000,
            ..Default::default()
        };
        edge.validate().unwrap();
        let bad = StakingParams {
            unbonding_cooldown_secs: 0,
            ..Default::default()
        };
        assert!(bad.validate().is_err());
        let bad = StakingParams {
            max_evidence_age_secs: 22 * DAY,
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().name, "maxEvidenceAgeSecs");
    }
}
