//! Delegation (restaking) into operators' pools by shares, undelegation into unbonding
//! entries, and redemption after the cooldown.

use super::*;

impl AltLedger {
    /// Shares a delegator holds in an operator's pool.
    pub fn shares_of(&self, delegator: &Address, operator: &Address) -> U256 {
        self.shares
            .get(delegator)
            .and_then(|m| m.get(operator))
            .map(Checkpoints::latest)
            .unwrap_or_default()
    }

    pub(super) fn set_shares(&mut self, delegator: &Address, operator: &Address, shares: U256) {
        let height = self.height;
        self.shares
            .entry(*delegator)
            .or_default()
            .entry(*operator)
            .or_default()
            .record(height, shares);
    }

    /// Delegates (restakes) `amount` of the delegator's stALT to an operator, returning the
    /// shares issued.
    pub fn delegate(
        &mut self,
        delegator: &Address,
        operator: &Address,
        amount: U256,
    ) -> Result<U256, StakingError> {
        Self::nonzero(amount)?;
        let pool = self
            .pool(operator)
            .ok_or(StakingError::UnknownOperator(*operator))?;
        let have = self.staked_of(delegator);
        let left = have
            .checked_sub(amount)
            .ok_or(StakingError::InsufficientStake { have, need: amount })?;
        let issued = if pool.shares.is_zero() {
            amount
        } else if pool.stake.is_zero() {
            return Err(StakingError::PoolDepleted(*operator));
        } else {
            mul_div(amount, pool.shares, pool.stake)
        };
        if issued.is_zero() {
            return Err(StakingError::ZeroAmount);
        }
        let new_pool = Pool {
            stake: add(pool.stake, amount)?,
            shares: add(pool.shares, issued)?,
        };
        let shares = add(self.shares_of(delegator, operator), issued)?;
        let settlement = self.settlement(delegator, operator, shares)?;
        self.set_staked(delegator, left);
        self.settle(delegator, operator, settlement);
        self.set_shares(delegator, operator, shares);
        self.update_pool(operator, new_pool);
        Ok(issued)
    }

    /// Starts unbonding `shares` from an operator: their value leaves the pool now and can be
    /// redeemed after the cooldown, staying slashable for infractions at or before this height.
    /// Returns the amount unbonding.
    pub fn undelegate(
        &mut self,
        delegator: &Address,
        operator: &Address,
        shares: U256,
    ) -> Result<U256, StakingError> {
        Self::nonzero(shares)?;
        let pool = self
            .pool(operator)
            .ok_or(StakingError::UnknownOperator(*operator))?;
        let have = self.shares_of(delegator, operator);
        let left = have
            .checked_sub(shares)
            .ok_or(StakingError::InsufficientShares { have, need: shares })?;
        let entries = self
            .unbonding
            .get(operator)
            .and_then(|m| m.get(delegator))
            .map_or(0, Vec::len);
        if entries >= self.params.max_unbonding_entries as usize {
            return Err(StakingError::TooManyUnbondingEntries {
                max: self.params.max_unbonding_entries,
            });
        }
        let amount = pool.value_of(shares);
        let new_pool = Pool {
            stake: pool.stake - amount,
            shares: pool.shares - shares,
        };
        let settlement = self.settlement(delegator, operator, left)?;
        self.settle(delegator, operator, settlement);
        self.set_shares(delegator, operator, left);
        self.update_pool(operator, new_pool);
        let entry = UnbondingEntry {
            amount,
            created_height: self.height,
            completes_at: self.now.saturating_add(self.params.unbonding_cooldown_secs),
        };
        self.unbonding
            .entry(*operator)
            .or_default()
            .entry(*delegator)
            .or_default()
            .push(entry);
        self.total_unbonding += amount;
        Ok(amount)
    }

    /// The delegator's unbonding entries with an operator.
    pub fn unbonding_entries(&self, delegator: &Address, operator: &Address) -> &[UnbondingEntry] {
        self.unbonding
            .get(operator)
            .and_then(|m| m.get(delegator))
            .map_or(&[], Vec::as_slice)
    }

    /// Returns every finished unbonding entry of the delegator with an operator to its stALT;
    /// returns the amount redeemed.
    pub fn redeem(
        &mut self,
        delegator: &Address,
        operator: &Address,
    ) -> Result<U256, StakingError> {
        let now = self.now;
        let entries = self.unbonding_entries(delegator, operator);
        let amount = entries
            .iter()
            .filter(|e| e.completes_at <= now)
            .fold(U256::ZERO, |s, e| s + e.amount);
        if !entries.iter().any(|e| e.completes_at <= now) {
            return Err(StakingError::NothingToRedeem);
        }
        let staked = add(self.staked_of(delegator), amount)?;
        if let Some(by_delegator) = self.unbonding.get_mut(operator) {
            if let Some(list) = by_delegator.get_mut(delegator) {
                list.retain(|e| e.completes_at > now);
                if list.is_empty() {
                    by_delegator.remove(delegator);
                }
            }
            if by_delegator.is_empty() {
                self.unbonding.remove(operator);
            }
        }
        self.total_unbonding -= amount;
        self.set_staked(delegator, staked);
        Ok(amount)
    }
}
