//! How fees are split: a pure function of the amount and the split in bips.

use crate::params::{BIPS, InvalidParams};
use alloy_primitives::U256;
use serde::{Deserialize, Serialize};

/// Shares of every fee, in bips; they must sum to exactly 10,000.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeeSplit {
    /// Burned.
    pub burn_bips: u32,
    /// To the rollup's sequencers (SQUAD).
    pub sequencers_bips: u32,
    /// To the rollup's restaked operators (VITAL and MACH).
    pub operators_bips: u32,
    /// To the treasury.
    pub treasury_bips: u32,
}

impl Default for FeeSplit {
    /// 10 % burned, 40 % to sequencers, 40 % to operators, 10 % to the treasury.
    fn default() -> Self {
        Self {
            burn_bips: 1_000,
            sequencers_bips: 4_000,
            operators_bips: 4_000,
            treasury_bips: 1_000,
        }
    }
}

/// A fee divided by a [`FeeSplit`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeeShares {
    /// Burned.
    pub burn: U256,
    /// To sequencers.
    pub sequencers: U256,
    /// To operators.
    pub operators: U256,
    /// To the treasury, including every rounding remainder.
    pub treasury: U256,
}

impl FeeSplit {
    /// Checks that the shares sum to 10,000 bips.
    pub fn validate(&self) -> Result<(), InvalidParams> {
        let sum = u64::from(self.burn_bips)
            + u64::from(self.sequencers_bips)
            + u64::from(self.operators_bips)
            + u64::from(self.treasury_bips);
        if sum == u64::from(BIPS) {
            Ok(())
        } else {
            Err(InvalidParams {
                name: "feeSplit",
                reason: "shares must sum to 10,000 bips",
            })
        }
    }

    /// Splits `amount`: each share rounds down, and the treasury takes what rounding leaves,
    /// so the shares always sum to `amount` exactly.
    pub fn split(&self, amount: U256) -> FeeShares {
        let part = |bips: u32| {
            // amount * bips / 10,000 without overflow: divide first, then add the remainder's part.
            let (q, r) = (amount / U256::from(BIPS), amount % U256::from(BIPS));
            q * U256::from(bips) + r * U256::from(bips) / U256::from(BIPS)
        };
        let burn = part(self.burn_bips);
        let sequencers = part(self.sequencers_bips);
        let operators = part(self.operators_bips);
        let treasury = amount - burn - sequencers - operators;
        FeeShares {
            burn,
            sequencers,
            operators,
            treasury,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn default_is_valid_and_exact_boundaries_are_checked() {
        FeeSplit::default().validate().unwrap();
        let short = FeeSplit {
            treasury_bips: 999,
            ..Default::default()
        };
        assert!(short.validate().is_err());
        let over = FeeSplit {
            treasury_bips: 1_001,
            ..Default::default()
        };
        assert!(over.validate().is_err());
        let shares = FeeSplit::default().split(U256::from(1_001));
        assert_eq!(
            shares,
            FeeShares {
                burn: U256::from(100),
                sequencers: U256::from(400),
                operators: U256::from(400),
                treasury: U256::from(101)
            }
        );
    }

    proptest! {
        #[test]
        fn shares_always_sum_to_the_fee(
            amount in any::<[u64; 4]>(),
            a in 0u32..=10_000, b in 0u32..=10_000, c in 0u32..=10_000,
        ) {
            let amount = U256::from_limbs(amount);
            let (burn, sequencers) = (a, b.min(BIPS - a));
            let operators = c.min(BIPS - burn - sequencers);
            let split = FeeSplit { burn_bips: burn, sequencers_bips: sequencers, operators_bips: operators, treasury_bips: BIPS - burn - sequencers - operators };
            prop_assert!(split.validate().is_ok());
            let s = split.split(amount);
            prop_assert_eq!(s.burn + s.sequencers + s.operators + s.treasury, amount);
            // No share but the treasury's exceeds its exact fraction.
            prop_assert!(s.burn <= amount / U256::from(BIPS) * U256::from(burn) + U256::from(burn));
        }
    }
}
