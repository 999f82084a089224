//! Rewards: fees split and routed to operator sets, distributed once per epoch by stake weight
//! (commission first), and owed to delegators through a cumulative reward per share.
//!
//! An epoch costs O(members of the set), whatever the number of delegators: each pool's
//! `reward_per_share` grows by `rewards / shares`, and a delegator's earnings are
//! `shares * reward_per_share - debt`, settled only when its shares change or it claims. The
//! debt is rounded up and the earnings down, so delegators can never be owed more than was
//! distributed to their pool; the rounding dust stays in the pool's pot.

use super::{AltLedger, StakingError, add, checked_mul_div, checked_mul_div_ceil, mul_div};
use crate::{
    operator::{OperatorSetId, Service},
    params::BIPS,
    rewards::FeeShares,
};
use alloy_primitives::{Address, U256};
use altlayer_core::{RollupId, TokenLedger};

/// Fixed-point scale of the cumulative reward per share: 10^36, so a pool of 10^27 shares
/// (a billion ALT in wei) still resolves 10^-9 wei per share.
pub const REWARD_SCALE: U256 =
    U256::from_limbs([0xb34b_9f10_0000_0000, 0x00c0_97ce_7bc9_0715, 0, 0]);

/// What one epoch's distribution in a set did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EpochRewards {
    /// Operators paid.
    pub operators: usize,
    /// Paid out: commission plus delegators' rewards.
    pub distributed: U256,
    /// Of which commission.
    pub commission: U256,
    /// Left for the next epoch: rounding remainders, or everything when the set has no weight.
    pub carried: U256,
}

/// Where a fee paid into the ledger went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CollectedFees {
    /// The split by [`crate::StakingParams::fee_split`].
    pub split: FeeShares,
    /// Added to each operator set's rewards for its next epoch.
    pub to_sets: Vec<(OperatorSetId, U256)>,
    /// To the treasury: its own share, plus the shares of services the rollup has no set for.
    pub to_treasury: U256,
}

/// A position's pending rewards and its debt after the settlement.
pub(super) struct Settlement {
    earned: U256,
    debt: U256,
}

impl AltLedger {
    /// The reward debt of a position (zero when it has none).
    fn debt(&self, delegator: &Address, operator: &Address) -> U256 {
        self.reward_debt
            .get(delegator)
            .and_then(|m| m.get(operator))
            .copied()
            .unwrap_or_default()
    }

    /// Rewards `delegator`'s position with `operator` has earned since it was last settled.
    fn earned(&self, delegator: &Address, operator: &Address) -> Result<U256, StakingError> {
        let Some(state) = self.operators.get(operator) else {
            return Ok(U256::ZERO);
        };
        let shares = self.shares_of(delegator, operator);
        if shares.is_zero() || state.reward_per_share.is_zero() {
            return Ok(U256::ZERO);
        }
        let accrued = checked_mul_div(shares, state.reward_per_share, REWARD_SCALE)
            .ok_or(StakingError::Overflow)?;
        let debt = self.debt(delegator, operator);
        Ok(accrued.saturating_sub(debt).min(state.reward_pot))
    }

    /// Computes, without changing anything, the settlement of a position that is about to hold
    /// `new_shares`; the caller applies it with [`AltLedger::settle`] once nothing can fail.
    pub(super) fn settlement(
        &self,
        delegator: &Address,
        operator: &Address,
        new_shares: U256,
    ) -> Result<Settlement, StakingError> {
        let earned = self.earned(delegator, operator)?;
        let per_share = self
            .operators
            .get(operator)
            .map(|o| o.reward_per_share)
            .unwrap_or_default();
        let debt = checked_mul_div_ceil(new_shares, per_share, REWARD_SCALE)
            .ok_or(StakingError::Overflow)?;
        add(
            self.owed.get(delegator).copied().unwrap_or_default(),
            earned,
        )?;
        Ok(Settlement { earned, debt })
    }

    /// Moves a position's earnings from its pool's pot to the delegator and resets its debt.
    pub(super) fn settle(&mut self, delegator: &Address, operator: &Address, s: Settlement) {
        if !s.earned.is_zero() {
            if let Some(state) = self.operators.get_mut(operator) {
                state.reward_pot -= s.earned;
            }
            *self.owed.entry(*delegator).or_default() += s.earned;
        }
        let debts = self.reward_debt.entry(*delegator).or_default();
        if s.debt.is_zero() {
            debts.remove(operator);
            if debts.is_empty() {
                self.reward_debt.remove(delegator);
            }
        } else {
            debts.insert(*operator, s.debt);
        }
    }

    /// Adds `amount` of the payer's liquid ALT to a set's rewards for its next epoch (fees
    /// routed by hand, or an incentive programme).
    pub fn fund_rewards(
        &mut self,
        payer: &Address,
        id: OperatorSetId,
        amount: U256,
    ) -> Result<(), StakingError> {
        Self::nonzero(amount)?;
        let set = self.sets.get(&id).ok_or(StakingError::UnknownSet(id))?;
        let undistributed = add(set.undistributed, amount)?;
        self.debit(payer, amount)?;
        if let Some(set) = self.sets.get_mut(&id) {
            set.undistributed = undistributed;
        }
        Ok(())
    }

    /// Rewards waiting for a set's next epoch.
    pub fn undistributed(&self, id: OperatorSetId) -> Result<U256, StakingError> {
        self.sets
            .get(&id)
            .map(|s| s.undistributed)
            .ok_or(StakingError::UnknownSet(id))
    }

    /// Makes `account` a fee account of `rollup` (protocol authority only): fees charged to
    /// it through [`altlayer_core::TokenLedger::charge_fee`] are split and routed by
    /// [`AltLedger::collect_fees`] instead of being credited to it.
    pub fn register_fee_account(
        &mut self,
        caller: &Address,
        account: Address,
        rollup: RollupId,
    ) -> Result<(), StakingError> {
        self.authorize(caller)?;
        self.fee_accounts.insert(account, rollup.0);
        Ok(())
    }

    /// The rollup whose fees `account` collects, if it is a fee account.
    pub fn fee_account_rollup(&self, account: &Address) -> Option<RollupId> {
        self.fee_accounts.get(account).copied().map(RollupId)
    }

    /// Takes a fee of `amount` ALT from `payer` for `rollup` and splits it by the fee split:
    /// the burn share is burned; the sequencers' share goes to the rollup's SQUAD set; the
    /// operators' share to its VITAL and MACH sets in proportion to their total stake now
    /// (evenly when neither has stake); the treasury's share, and the share of any service the
    /// rollup has no set for, to the treasury. Set shares wait for the set's next epoch.
    pub fn collect_fees(
        &mut self,
        payer: &Address,
        rollup: RollupId,
        amount: U256,
    ) -> Result<CollectedFees, StakingError> {
        Self::nonzero(amount)?;
        let split = self.params.fee_split.split(amount);
        let set = |service| OperatorSetId::new(service, rollup);
        let mut to_sets = Vec::new();
        let mut to_treasury = split.treasury;
        if self.sets.contains_key(&set(Service::Squad)) {
            to_sets.push((set(Service::Squad), split.sequencers));
        } else {
            to_treasury += split.sequencers;
        }
        let stake_of = |id: OperatorSetId| self.sets.get(&id).map(|s| (id, s.total.latest()));
        match (stake_of(set(Service::Vital)), stake_of(set(Service::Mach))) {
            (None, None) => to_treasury += split.operators,
            (Some((only, _)), None) | (None, Some((only, _))) => {
                to_sets.push((only, split.operators));
            }
            (Some((vital, vital_stake)), Some((mach, mach_stake))) => {
                let both = vital_stake + mach_stake;
                let to_vital = if both.is_zero() {
                    split.operators / U256::from(2)
                } else {
                    mul_div(split.operators, vital_stake, both)
                };
                to_sets.push((vital, to_vital));
                to_sets.push((mach, split.operators - to_vital));
            }
        }
        // Every amount is part of `amount`, which the payer holds, and the sum of all places
        // ALT can be is the minted supply: after the debit none of these additions can overflow.
        self.debit(payer, amount)?;
        self.burned += split.burn;
        self.treasury += to_treasury;
        for (id, share) in &to_sets {
            if let Some(set) = self.sets.get_mut(id) {
                set.undistributed += *share;
            }
        }
        to_sets.retain(|(_, share)| !share.is_zero());
        Ok(CollectedFees {
            split,
            to_sets,
            to_treasury,
        })
    }

    /// Ends a set's epoch (protocol authority only): its undistributed rewards go to its
    /// members by their weight now, each operator's commission first and the rest to its pool,
    /// where every share earns alike. Costs O(members), not O(delegators). Rounding remainders,
    /// and everything when the set has no weight, carry over to the next epoch.
    pub fn distribute_epoch(
        &mut self,
        caller: &Address,
        id: OperatorSetId,
    ) -> Result<EpochRewards, StakingError> {
        self.authorize(caller)?;
        let set = self.sets.get(&id).ok_or(StakingError::UnknownSet(id))?;
        let amount = set.undistributed;
        let total = set.total.latest();
        if amount.is_zero() || total.is_zero() {
            return Ok(EpochRewards {
                carried: amount,
                ..EpochRewards::default()
            });
        }
        // Plan first, apply after: an overflow (only possible with absurd amounts against a
        // nearly empty pool) must leave the ledger untouched.
        let mut plan = Vec::with_capacity(set.membership.len());
        let (mut distributed, mut commission) = (U256::ZERO, U256::ZERO);
        for (address, membership) in &set.membership {
            if !membership.latest() {
                continue;
            }
            let Some(state) = self.operators.get(address) else {
                continue;
            };
            let pool = state.pool.latest();
            let weight = Self::effective(set, pool.stake);
            if weight.is_zero() {
                continue;
            }
            // weight <= total, so the share fits.
            let share = mul_div(amount, weight, total);
            let cut = mul_div(
                share,
                U256::from(state.info.commission_bips),
                U256::from(BIPS),
            );
            let rest = share - cut;
            // Weight > 0 means stake > 0, which means shares > 0.
            let per_share =
                checked_mul_div(rest, REWARD_SCALE, pool.shares).ok_or(StakingError::Overflow)?;
            let reward_per_share = state
                .reward_per_share
                .checked_add(per_share)
                .ok_or(StakingError::Overflow)?;
            plan.push((*address, reward_per_share, rest, cut));
            distributed += share;
            commission += cut;
        }
        let operators = plan.len();
        for (address, reward_per_share, rest, cut) in plan {
            if let Some(state) = self.operators.get_mut(&address) {
                state.reward_per_share = reward_per_share;
                state.reward_pot += rest;
                state.commission += cut;
            }
        }
        let carried = amount - distributed;
        if let Some(set) = self.sets.get_mut(&id) {
            set.undistributed = carried;
        }
        Ok(EpochRewards {
            operators,
            distributed,
            commission,
            carried,
        })
    }

    /// Rewards `who` can claim now: settled and unsettled delegator rewards, plus commission
    /// if `who` is an operator.
    pub fn pending_rewards(&self, who: &Address) -> Result<U256, StakingError> {
        let mut total = self.owed.get(who).copied().unwrap_or_default();
        if let Some(state) = self.operators.get(who) {
            total = add(total, state.commission)?;
        }
        for operator in self.shares.get(who).into_iter().flat_map(|m| m.keys()) {
            total = add(total, self.earned(who, operator)?)?;
        }
        Ok(total)
    }

    /// Pays every reward `who` can claim (see [`AltLedger::pending_rewards`]) into its liquid
    /// balance; returns the amount.
    pub fn claim(&mut self, who: &Address) -> Result<U256, StakingError> {
        // What `pending_rewards` reports, computed once along with each position's settlement.
        let mut amount = self.owed.get(who).copied().unwrap_or_default();
        if let Some(state) = self.operators.get(who) {
            amount = add(amount, state.commission)?;
        }
        let mut settlements = Vec::new();
        for operator in self.shares.get(who).into_iter().flat_map(|m| m.keys()) {
            let settlement = self.settlement(who, operator, self.shares_of(who, operator))?;
            if !settlement.earned.is_zero() {
                amount = add(amount, settlement.earned)?;
                settlements.push((*operator, settlement));
            }
        }
        if amount.is_zero() {
            return Err(StakingError::NothingToClaim);
        }
        let balance = add(self.balance_of(who), amount)?;
        for (operator, settlement) in settlements {
            self.settle(who, &operator, settlement);
        }
        self.owed.remove(who);
        if let Some(state) = self.operators.get_mut(who) {
            state.commission = U256::ZERO;
        }
        self.liquid.insert(*who, balance);
        Ok(amount)
    }

    /// All rewards in the ledger not yet claimed: undistributed, in pools, commission and
    /// settled.
    pub fn unclaimed_rewards(&self) -> U256 {
        let undistributed = self
            .sets
            .values()
            .fold(U256::ZERO, |s, set| s + set.undistributed);
        let in_pools = self
            .operators
            .values()
            .fold(U256::ZERO, |s, o| s + o.reward_pot + o.commission);
        let owed = self.owed.values().fold(U256::ZERO, |s, v| s + v);
        undistributed + in_pools + owed
    }

    /// Checks that no pool owes its delegators more than its pot holds.
    pub(super) fn check_reward_pots(&self) -> Result<(), String> {
        for (address, state) in &self.operators {
            let mut owed = U256::ZERO;
            for (delegator, positions) in &self.shares {
                if positions.contains_key(address) {
                    owed += self.earned_unbounded(delegator, address)?;
                }
            }
            if owed > state.reward_pot {
                return Err(format!(
                    "operator {address}: delegators are owed {owed} but the pot holds {}",
                    state.reward_pot
                ));
            }
        }
        Ok(())
    }

    /// [`AltLedger::earned`] without the cap at the pot, for the invariant check.
    fn earned_unbounded(&self, delegator: &Address, operator: &Address) -> Result<U256, String> {
        let per_share = self
            .operators
            .get(operator)
            .map(|o| o.reward_per_share)
            .unwrap_or_default();
        let accrued = checked_mul_div(self.shares_of(delegator, operator), per_share, REWARD_SCALE)
            .ok_or("reward overflow")?;
        let debt = self.debt(delegator, operator);
        Ok(accrued.saturating_sub(debt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reward_scale_is_ten_to_the_36() {
        assert_eq!(REWARD_SCALE, U256::from(10u64).pow(U256::from(36)));
    }
}
