//! Operators, their pools and commission, and operator sets: registration, membership,
//! minimum stakes.

use super::*;

impl AltLedger {
    /// Registers an operator. A BLS key must carry a proof of possession for this operator
    /// and the ledger's chain ([`altlayer_core::bls::SecretKey::register`]), and may belong
    /// to one operator only.
    pub fn register_operator(
        &mut self,
        address: Address,
        key: OperatorKey,
        commission_bips: u32,
    ) -> Result<(), StakingError> {
        if self.operators.contains_key(&address) {
            return Err(StakingError::AlreadyRegistered(address));
        }
        self.check_commission(commission_bips)?;
        if let OperatorKey::Bn254(registration) = &key {
            if !registration.verify(self.chain_id, address) {
                return Err(StakingError::InvalidKey(address));
            }
            let taken = self.operators.values().any(|o| match &o.info.key {
                OperatorKey::Bn254(other) => other.g1 == registration.g1,
                OperatorKey::EcdsaOnly => false,
            });
            if taken {
                return Err(StakingError::KeyInUse(address));
            }
        }
        let info = Operator {
            address,
            key,
            commission_bips,
        };
        self.operators.insert(
            address,
            OperatorState {
                info,
                pool: Checkpoints::default(),
                sets: BTreeSet::new(),
                reward_per_share: U256::ZERO,
                reward_pot: U256::ZERO,
                commission: U256::ZERO,
            },
        );
        Ok(())
    }

    pub(super) fn check_commission(&self, bips: u32) -> Result<(), StakingError> {
        let max = self.params.max_commission_bips.min(BIPS);
        if bips > max {
            Err(StakingError::CommissionTooHigh { max, got: bips })
        } else {
            Ok(())
        }
    }

    /// Changes an operator's commission.
    pub fn set_commission(&mut self, operator: &Address, bips: u32) -> Result<(), StakingError> {
        self.check_commission(bips)?;
        let state = self
            .operators
            .get_mut(operator)
            .ok_or(StakingError::UnknownOperator(*operator))?;
        state.info.commission_bips = bips;
        Ok(())
    }

    /// A registered operator.
    pub fn operator(&self, address: &Address) -> Option<&Operator> {
        self.operators.get(address).map(|o| &o.info)
    }

    /// An operator's pool now.
    pub fn pool(&self, operator: &Address) -> Option<Pool> {
        self.operators.get(operator).map(|o| o.pool.latest())
    }

    /// Creates an operator set (protocol authority only).
    pub fn create_set(
        &mut self,
        caller: &Address,
        id: OperatorSetId,
        config: OperatorSetConfig,
    ) -> Result<(), StakingError> {
        self.authorize(caller)?;
        if self.sets.contains_key(&id) {
            return Err(StakingError::SetExists(id));
        }
        let mut min_stake = Checkpoints::default();
        min_stake.record(self.height, config.min_stake);
        let set = SetState {
            config,
            min_stake,
            membership: BTreeMap::new(),
            total: Checkpoints::default(),
            tombstoned: BTreeSet::new(),
            undistributed: U256::ZERO,
        };
        self.sets.insert(id, set);
        Ok(())
    }

    /// Weight an operator with `stake` carries in a set now: all of it at or above the
    /// minimum, nothing below.
    pub(super) fn effective(set: &SetState, stake: U256) -> U256 {
        if stake >= set.min_stake.latest() {
            stake
        } else {
            U256::ZERO
        }
    }

    /// [`Self::effective`] under the minimum in force at `height`.
    pub(super) fn effective_at(set: &SetState, stake: U256, height: u64) -> U256 {
        if stake >= set.min_stake.at(height) {
            stake
        } else {
            U256::ZERO
        }
    }

    /// Changes a set's minimum stake from now on (protocol authority only, which governance
    /// acts as): members below it stop counting, members at or above it count in full, and
    /// the set's total is recomputed at this height. Past heights keep the minimum they had.
    pub fn set_min_stake(
        &mut self,
        caller: &Address,
        id: OperatorSetId,
        amount: U256,
    ) -> Result<(), StakingError> {
        self.authorize(caller)?;
        let height = self.height;
        let set = self.sets.get(&id).ok_or(StakingError::UnknownSet(id))?;
        let mut total = U256::ZERO;
        for (operator, membership) in &set.membership {
            if membership.latest() {
                let stake = self
                    .operators
                    .get(operator)
                    .map(|o| o.pool.latest().stake)
                    .unwrap_or_default();
                if stake >= amount {
                    total += stake;
                }
            }
        }
        let set = self.sets.get_mut(&id).expect("checked above");
        set.min_stake.record(height, amount);
        set.config.min_stake = amount;
        set.total.record(height, total);
        Ok(())
    }

    /// Adds an operator to a set; its pooled stake must meet the set's minimum.
    pub fn join_set(&mut self, operator: &Address, id: OperatorSetId) -> Result<(), StakingError> {
        let state = self
            .operators
            .get(operator)
            .ok_or(StakingError::UnknownOperator(*operator))?;
        let set = self.sets.get(&id).ok_or(StakingError::UnknownSet(id))?;
        if state.sets.contains(&id) {
            return Err(StakingError::AlreadyMember(*operator));
        }
        if set.tombstoned.contains(operator) {
            return Err(StakingError::Tombstoned(*operator));
        }
        let stake = state.pool.latest().stake;
        if stake < set.min_stake.latest() {
            return Err(StakingError::BelowMinimumStake {
                minimum: set.min_stake.latest(),
                stake,
            });
        }
        let height = self.height;
        let set = self.sets.get_mut(&id).expect("checked above");
        set.membership
            .entry(*operator)
            .or_default()
            .record(height, true);
        let total = set.total.latest() + stake;
        set.total.record(height, total);
        self.operators
            .get_mut(operator)
            .expect("checked above")
            .sets
            .insert(id);
        Ok(())
    }

    /// Removes an operator from a set.
    pub fn leave_set(&mut self, operator: &Address, id: OperatorSetId) -> Result<(), StakingError> {
        let state = self
            .operators
            .get(operator)
            .ok_or(StakingError::UnknownOperator(*operator))?;
        if !self.sets.contains_key(&id) {
            return Err(StakingError::UnknownSet(id));
        }
        if !state.sets.contains(&id) {
            return Err(StakingError::NotMember(*operator));
        }
        let stake = state.pool.latest().stake;
        self.remove_member(operator, id, stake);
        Ok(())
    }

    pub(super) fn remove_member(&mut self, operator: &Address, id: OperatorSetId, stake: U256) {
        let height = self.height;
        if let Some(set) = self.sets.get_mut(&id) {
            set.membership
                .entry(*operator)
                .or_default()
                .record(height, false);
            let total = set.total.latest() - Self::effective(set, stake);
            set.total.record(height, total);
        }
        if let Some(state) = self.operators.get_mut(operator) {
            state.sets.remove(&id);
        }
    }

    /// Records an operator's new pool and moves the totals of every set it is in.
    pub(super) fn update_pool(&mut self, operator: &Address, pool: Pool) {
        let height = self.height;
        let Some(state) = self.operators.get_mut(operator) else {
            return;
        };
        let old = state.pool.latest();
        state.pool.record(height, pool.clone());
        for id in &state.sets {
            if let Some(set) = self.sets.get_mut(id) {
                let total = set.total.latest() - Self::effective(set, old.stake)
                    + Self::effective(set, pool.stake);
                set.total.record(height, total);
            }
        }
        let pooled = self.total_pooled.latest() - old.stake + pool.stake;
        self.total_pooled.record(height, pooled);
    }
}
