//! The ALT ledger: liquid balances, staking into stALT, delegation (restaking) to operators,
//! unbonding, and checkpointed stake weights, in one deterministic sans-IO state machine.
//!
//! Money moves between these places, and the sum never changes except by mint:
//! `minted = liquid + staked (stALT) + pooled (delegated) + unbonding + unclaimed rewards +
//! treasury + burned`.
//!
//! Delegation is share accounting: each operator has one pool `{stake, shares}`; a delegator
//! holds shares, worth `shares * stake / total_shares`. Taking a fraction of a pool's stake
//! (a slash) is therefore one subtraction, and every delegator loses pro rata. An operator's
//! pooled stake is restaked into every operator set it joins: it weighs, and is slashable, in
//! each of them.

use crate::evidence::Evidence;
use crate::{
    checkpoints::Checkpoints,
    operator::{Operator, OperatorKey, OperatorSetConfig, OperatorSetId},
    params::{BIPS, InvalidParams, ParameterStore, StakingParams},
};
use alloy_primitives::{Address, B256, U256, U512, keccak256};
use altlayer_core::{ChainId, TokenLedger};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

mod distribution;

pub use distribution::{CollectedFees, EpochRewards, REWARD_SCALE};

/// Why a ledger operation was refused. A refused operation changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StakingError {
    /// The amount is zero.
    #[error("amount must be positive")]
    ZeroAmount,
    /// Not enough liquid ALT.
    #[error("insufficient balance: have {have}, need {need}")]
    InsufficientBalance {
        /// Available.
        have: U256,
        /// Required.
        need: U256,
    },
    /// Not enough stALT.
    #[error("insufficient staked balance: have {have}, need {need}")]
    InsufficientStake {
        /// Available.
        have: U256,
        /// Required.
        need: U256,
    },
    /// Not enough delegation shares.
    #[error("insufficient shares: have {have}, need {need}")]
    InsufficientShares {
        /// Held.
        have: U256,
        /// Required.
        need: U256,
    },
    /// The operator's stake is below the set's minimum.
    #[error("stake {stake} below the minimum {minimum}")]
    BelowMinimumStake {
        /// The set's minimum.
        minimum: U256,
        /// The operator's stake.
        stake: U256,
    },
    /// No such operator.
    #[error("unknown operator {0}")]
    UnknownOperator(Address),
    /// The BLS key's proof of possession does not verify for this operator and chain.
    #[error("the BLS key registration of {0} does not verify")]
    InvalidKey(Address),
    /// Another operator registered the same BLS key.
    #[error("the BLS key of {0} is registered to another operator")]
    KeyInUse(Address),
    /// The operator is registered already.
    #[error("operator {0} is already registered")]
    AlreadyRegistered(Address),
    /// No such operator set.
    #[error("unknown operator set {0:?}")]
    UnknownSet(OperatorSetId),
    /// The operator set exists already.
    #[error("operator set {0:?} exists already")]
    SetExists(OperatorSetId),
    /// The operator is already in the set.
    #[error("operator {0} is already in the set")]
    AlreadyMember(Address),
    /// The operator is not in the set.
    #[error("operator {0} is not in the set")]
    NotMember(Address),
    /// The operator was tombstoned in the set and may not return.
    #[error("operator {0} is tombstoned in the set")]
    Tombstoned(Address),
    /// Commission above the maximum.
    #[error("commission {got} bips above the maximum {max}")]
    CommissionTooHigh {
        /// Maximum.
        max: u32,
        /// Asked.
        got: u32,
    },
    /// The pool lost all its stake to slashing; it takes no new delegations.
    #[error("operator {0}'s pool is depleted")]
    PoolDepleted(Address),
    /// Too many unbonding entries for this delegator and operator.
    #[error("at most {max} unbonding entries per delegator and operator")]
    TooManyUnbondingEntries {
        /// The limit.
        max: u32,
    },
    /// Nothing has finished unbonding.
    #[error("nothing to redeem")]
    NothingToRedeem,
    /// No rewards to claim.
    #[error("no rewards to claim")]
    NothingToClaim,
    /// A lookup at a height the ledger has not reached.
    #[error("height {requested} is in the future (current {current})")]
    FutureHeight {
        /// Asked.
        requested: u64,
        /// Current height.
        current: u64,
    },
    /// Height or time went backwards.
    #[error("height and time must not go backwards")]
    ClockBackwards,
    /// The caller is not the protocol authority.
    #[error("{0} is not the protocol authority")]
    Unauthorized(Address),
    /// Parameters refused.
    #[error(transparent)]
    InvalidParams(#[from] InvalidParams),
    /// The evidence does not prove what it claims.
    #[error("invalid evidence: {0}")]
    InvalidEvidence(String),
    /// The same infraction was already slashed.
    #[error("evidence {0} was already used")]
    DuplicateEvidence(B256),
    /// The infraction is older than the evidence age limits.
    #[error("evidence of height {height} is too old")]
    EvidenceExpired {
        /// Infraction height.
        height: u64,
    },
    /// An amount does not fit in 256 bits.
    #[error("arithmetic overflow")]
    Overflow,
}

/// What a slash did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlashOutcome {
    /// The slashed operator.
    pub operator: Address,
    /// The fraction of its stake at the infraction height: the most the slash may take.
    pub due: U256,
    /// What was taken (less than `due` when stake had already left or been slashed).
    pub slashed: U256,
    /// Paid to the submitter of the evidence; the rest was burned.
    pub reward: U256,
}

/// An operator's delegation pool.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// ALT in the pool.
    pub stake: U256,
    /// Shares issued against it.
    pub shares: U256,
}

impl Pool {
    /// What `shares` are worth now, rounded down.
    pub fn value_of(&self, shares: U256) -> U256 {
        if self.shares.is_zero() {
            U256::ZERO
        } else {
            mul_div(shares, self.stake, self.shares)
        }
    }
}

/// Stake on its way out: still slashable for infractions before it started unbonding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnbondingEntry {
    /// ALT unbonding (reduced by slashes).
    pub amount: U256,
    /// Height at which unbonding started.
    pub created_height: u64,
    /// Ledger time at which it can be redeemed.
    pub completes_at: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OperatorState {
    info: Operator,
    pool: Checkpoints<Pool>,
    sets: BTreeSet<OperatorSetId>,
    /// Cumulative rewards per pool share, scaled by [`distribution::REWARD_SCALE`].
    reward_per_share: U256,
    /// Rewards distributed to the pool's delegators and not yet settled to them.
    reward_pot: U256,
    /// Commission earned and not yet claimed.
    commission: U256,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetState {
    config: OperatorSetConfig,
    /// The minimum stake over time (governance may change it); starts at `config.min_stake`.
    #[serde(default)]
    min_stake: Checkpoints<U256>,
    membership: BTreeMap<Address, Checkpoints<bool>>,
    total: Checkpoints<U256>,
    tombstoned: BTreeSet<Address>,
    /// Rewards waiting for the set's next epoch distribution.
    undistributed: U256,
}

/// `a * b / c` rounded down and whether it was inexact, or `None` when the quotient does not
/// fit in 256 bits; `c > 0`. Products that fit in 256 bits (every realistic amount of ALT)
/// take the fast path; the rest go through 512-bit intermediates.
fn mul_div_rem(a: U256, b: U256, c: U256) -> Option<(U256, bool)> {
    if let Some(product) = a.checked_mul(b) {
        return Some((product / c, !(product % c).is_zero()));
    }
    let widen = |x: U256| {
        let l = x.as_limbs();
        U512::from_limbs([l[0], l[1], l[2], l[3], 0, 0, 0, 0])
    };
    let product: U512 = a.widening_mul(b);
    let (quotient, remainder) = product.div_rem(widen(c));
    let l = quotient.as_limbs();
    if l[4..].iter().any(|limb| *limb != 0) {
        None
    } else {
        Some((
            U256::from_limbs([l[0], l[1], l[2], l[3]]),
            !remainder.is_zero(),
        ))
    }
}

/// `a * b / c` rounded down, or `None` when it does not fit; `c > 0`.
pub(crate) fn checked_mul_div(a: U256, b: U256, c: U256) -> Option<U256> {
    mul_div_rem(a, b, c).map(|(q, _)| q)
}

/// `a * b / c` rounded up, or `None` when it does not fit; `c > 0`.
fn checked_mul_div_ceil(a: U256, b: U256, c: U256) -> Option<U256> {
    let (q, inexact) = mul_div_rem(a, b, c)?;
    if inexact {
        q.checked_add(U256::from(1))
    } else {
        Some(q)
    }
}

/// `a * b / c` rounded down; callers guarantee `c > 0` and a result that fits (a share of a
/// pool is never larger than the pool). Saturates rather than panics if that is ever wrong.
fn mul_div(a: U256, b: U256, c: U256) -> U256 {
    checked_mul_div(a, b, c).unwrap_or(U256::MAX)
}

fn add(a: U256, b: U256) -> Result<U256, StakingError> {
    a.checked_add(b).ok_or(StakingError::Overflow)
}

/// The ALT ledger with staking and restaking.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AltLedger {
    params: StakingParams,
    authority: Address,
    chain_id: ChainId,
    height: u64,
    now: u64,
    /// Ledger time at each height, for the evidence age limit.
    times: Checkpoints<u64>,
    seen_evidence: BTreeSet<B256>,
    /// Challenge id -> (losing proposer, height), as settlement decided.
    lost_challenges: BTreeMap<B256, (Address, u64)>,
    /// Rollup -> height -> canonical block hash.
    canonical: BTreeMap<u64, BTreeMap<u64, B256>>,
    liquid: BTreeMap<Address, U256>,
    staked: BTreeMap<Address, Checkpoints<U256>>,
    total_staked: Checkpoints<U256>,
    total_pooled: Checkpoints<U256>,
    total_unbonding: U256,
    minted: U256,
    burned: U256,
    treasury: U256,
    operators: BTreeMap<Address, OperatorState>,
    #[serde(with = "altlayer_core::serde_pairs")]
    sets: BTreeMap<OperatorSetId, SetState>,
    /// Delegator -> operator -> shares over time.
    shares: BTreeMap<Address, BTreeMap<Address, Checkpoints<U256>>>,
    /// Operator -> delegator -> unbonding entries.
    unbonding: BTreeMap<Address, BTreeMap<Address, Vec<UnbondingEntry>>>,
    /// Delegator -> operator -> rewards per share already accounted for, as an amount
    /// (`shares * reward_per_share / scale`, rounded up, at the last settlement).
    reward_debt: BTreeMap<Address, BTreeMap<Address, U256>>,
    /// Settled delegator rewards, not yet claimed.
    owed: BTreeMap<Address, U256>,
    /// Fee accounts whose incoming fees are split and routed to a rollup's operator sets.
    fee_accounts: BTreeMap<Address, u64>,
}

impl AltLedger {
    /// An empty ledger whose protocol authority (the only account that mints, burns, creates
    /// operator sets and records settlement outcomes) is `authority`. Votes in evidence are
    /// verified for `chain_id`.
    pub fn new(
        params: StakingParams,
        authority: Address,
        chain_id: ChainId,
    ) -> Result<Self, StakingError> {
        params.validate()?;
        Ok(Self {
            params,
            authority,
            chain_id,
            height: 0,
            now: 0,
            times: Checkpoints::default(),
            seen_evidence: BTreeSet::new(),
            lost_challenges: BTreeMap::new(),
            canonical: BTreeMap::new(),
            liquid: BTreeMap::new(),
            staked: BTreeMap::new(),
            total_staked: Checkpoints::default(),
            total_pooled: Checkpoints::default(),
            total_unbonding: U256::ZERO,
            minted: U256::ZERO,
            burned: U256::ZERO,
            treasury: U256::ZERO,
            operators: BTreeMap::new(),
            sets: BTreeMap::new(),
            shares: BTreeMap::new(),
            unbonding: BTreeMap::new(),
            reward_debt: BTreeMap::new(),
            owed: BTreeMap::new(),
            fee_accounts: BTreeMap::new(),
        })
    }

    /// Current height.
    pub const fn height(&self) -> u64 {
        self.height
    }

    /// The chain id its signed evidence is bound to.
    pub const fn chain_id(&self) -> ChainId {
        self.chain_id
    }

    /// Current ledger time (seconds).
    pub const fn now(&self) -> u64 {
        self.now
    }

    /// Moves the ledger to a new height and time; neither may go backwards.
    pub fn advance(&mut self, height: u64, now: u64) -> Result<(), StakingError> {
        if height < self.height || now < self.now {
            return Err(StakingError::ClockBackwards);
        }
        self.height = height;
        self.now = now;
        self.times.record(height, now);
        Ok(())
    }

    fn authorize(&self, caller: &Address) -> Result<(), StakingError> {
        if *caller == self.authority {
            Ok(())
        } else {
            Err(StakingError::Unauthorized(*caller))
        }
    }

    fn nonzero(amount: U256) -> Result<(), StakingError> {
        if amount.is_zero() {
            Err(StakingError::ZeroAmount)
        } else {
            Ok(())
        }
    }

    // ---- token ----

    /// Creates ALT (protocol authority only).
    pub fn mint(
        &mut self,
        caller: &Address,
        to: &Address,
        amount: U256,
    ) -> Result<(), StakingError> {
        self.authorize(caller)?;
        Self::nonzero(amount)?;
        let minted = add(self.minted, amount)?;
        let balance = add(self.balance_of(to), amount)?;
        self.minted = minted;
        self.liquid.insert(*to, balance);
        Ok(())
    }

    /// Destroys liquid ALT of `from` (protocol authority only).
    pub fn burn(
        &mut self,
        caller: &Address,
        from: &Address,
        amount: U256,
    ) -> Result<(), StakingError> {
        self.authorize(caller)?;
        Self::nonzero(amount)?;
        self.debit(from, amount)?;
        self.burned += amount;
        Ok(())
    }

    fn debit(&mut self, from: &Address, amount: U256) -> Result<(), StakingError> {
        let have = self.balance_of(from);
        let left = have
            .checked_sub(amount)
            .ok_or(StakingError::InsufficientBalance { have, need: amount })?;
        if left.is_zero() {
            self.liquid.remove(from);
        } else {
            self.liquid.insert(*from, left);
        }
        Ok(())
    }

    /// Moves `amount` of liquid ALT into the treasury (fee payment, for example).
    pub fn pay_treasury(&mut self, from: &Address, amount: U256) -> Result<(), StakingError> {
        Self::nonzero(amount)?;
        let treasury = add(self.treasury, amount)?;
        self.debit(from, amount)?;
        self.treasury = treasury;
        Ok(())
    }

    /// Pays `amount` from the treasury to `to` (protocol authority only: a governance
    /// spend).
    pub fn spend_treasury(
        &mut self,
        caller: &Address,
        to: &Address,
        amount: U256,
    ) -> Result<(), StakingError> {
        self.authorize(caller)?;
        Self::nonzero(amount)?;
        let left = self
            .treasury
            .checked_sub(amount)
            .ok_or(StakingError::InsufficientBalance {
                have: self.treasury,
                need: amount,
            })?;
        let credited = add(self.balance_of(to), amount)?;
        self.treasury = left;
        self.liquid.insert(*to, credited);
        Ok(())
    }

    /// ALT held by the treasury.
    pub const fn treasury(&self) -> U256 {
        self.treasury
    }

    /// ALT ever burned.
    pub const fn burned(&self) -> U256 {
        self.burned
    }

    /// ALT ever minted.
    pub const fn minted(&self) -> U256 {
        self.minted
    }

    // ---- staking ----

    /// stALT (staked, not delegated) of an account.
    pub fn staked_of(&self, who: &Address) -> U256 {
        self.staked
            .get(who)
            .map(Checkpoints::latest)
            .unwrap_or_default()
    }

    fn set_staked(&mut self, who: &Address, value: U256) {
        let total = self.total_staked.latest() - self.staked_of(who) + value;
        self.staked
            .entry(*who)
            .or_default()
            .record(self.height, value);
        self.total_staked.record(self.height, total);
    }

    /// Stakes liquid ALT into stALT, 1:1.
    pub fn stake(&mut self, who: &Address, amount: U256) -> Result<(), StakingError> {
        Self::nonzero(amount)?;
        let staked = add(self.staked_of(who), amount)?;
        self.debit(who, amount)?;
        self.set_staked(who, staked);
        Ok(())
    }

    /// Turns stALT back into liquid ALT. stALT that is not delegated secures nothing, so this
    /// is immediate; delegated stake leaves through [`AltLedger::undelegate`].
    pub fn unstake(&mut self, who: &Address, amount: U256) -> Result<(), StakingError> {
        Self::nonzero(amount)?;
        let have = self.staked_of(who);
        let left = have
            .checked_sub(amount)
            .ok_or(StakingError::InsufficientStake { have, need: amount })?;
        let balance = add(self.balance_of(who), amount)?;
        self.set_staked(who, left);
        self.liquid.insert(*who, balance);
        Ok(())
    }

    // ---- operators and sets ----

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

    fn check_commission(&self, bips: u32) -> Result<(), StakingError> {
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
    fn effective(set: &SetState, stake: U256) -> U256 {
        if stake >= set.min_stake.latest() {
            stake
        } else {
            U256::ZERO
        }
    }

    /// [`Self::effective`] under the minimum in force at `height`.
    fn effective_at(set: &SetState, stake: U256, height: u64) -> U256 {
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

    fn remove_member(&mut self, operator: &Address, id: OperatorSetId, stake: U256) {
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
    fn update_pool(&mut self, operator: &Address, pool: Pool) {
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

    // ---- delegation ----

    /// Shares a delegator holds in an operator's pool.
    pub fn shares_of(&self, delegator: &Address, operator: &Address) -> U256 {
        self.shares
            .get(delegator)
            .and_then(|m| m.get(operator))
            .map(Checkpoints::latest)
            .unwrap_or_default()
    }

    fn set_shares(&mut self, delegator: &Address, operator: &Address, shares: U256) {
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

    // ---- weights ----

    fn check_height(&self, height: u64) -> Result<(), StakingError> {
        if height > self.height {
            Err(StakingError::FutureHeight {
                requested: height,
                current: self.height,
            })
        } else {
            Ok(())
        }
    }

    /// An operator's weight in a set at a past (or the current) height: its pooled stake if it
    /// was a member and met the minimum, zero otherwise.
    pub fn stake_at(
        &self,
        operator: &Address,
        id: OperatorSetId,
        height: u64,
    ) -> Result<U256, StakingError> {
        self.check_height(height)?;
        let set = self.sets.get(&id).ok_or(StakingError::UnknownSet(id))?;
        let state = self
            .operators
            .get(operator)
            .ok_or(StakingError::UnknownOperator(*operator))?;
        let member = set.membership.get(operator).is_some_and(|m| m.at(height));
        Ok(if member {
            Self::effective_at(set, state.pool.at(height).stake, height)
        } else {
            U256::ZERO
        })
    }

    /// A set's total weight at a past (or the current) height.
    pub fn total_stake_at(&self, id: OperatorSetId, height: u64) -> Result<U256, StakingError> {
        self.check_height(height)?;
        let set = self.sets.get(&id).ok_or(StakingError::UnknownSet(id))?;
        Ok(set.total.at(height))
    }

    /// The set's members at a height, in address order, with their weights (zero weights
    /// included, so signer bitmaps index a stable list).
    pub fn members_at(
        &self,
        id: OperatorSetId,
        height: u64,
    ) -> Result<Vec<(Address, U256)>, StakingError> {
        self.check_height(height)?;
        let set = self.sets.get(&id).ok_or(StakingError::UnknownSet(id))?;
        let mut members = Vec::new();
        for (operator, membership) in &set.membership {
            if membership.at(height) {
                let stake = self
                    .operators
                    .get(operator)
                    .map(|o| o.pool.at(height).stake)
                    .unwrap_or_default();
                members.push((*operator, Self::effective_at(set, stake, height)));
            }
        }
        Ok(members)
    }

    // ---- slashing ----

    /// Records that settlement decided a challenge against `operator`'s state root at `height`
    /// (protocol authority only); [`Evidence::InvalidStateRoot`] then refers to it.
    pub fn record_lost_challenge(
        &mut self,
        caller: &Address,
        challenge: B256,
        operator: Address,
        height: u64,
    ) -> Result<(), StakingError> {
        self.authorize(caller)?;
        self.lost_challenges.insert(challenge, (operator, height));
        Ok(())
    }

    /// Records the canonical block of a rollup at a height (protocol authority only);
    /// [`Evidence::InvalidVote`] is a vote for anything else.
    pub fn record_canonical(
        &mut self,
        caller: &Address,
        rollup: altlayer_core::RollupId,
        height: u64,
        block: B256,
    ) -> Result<(), StakingError> {
        self.authorize(caller)?;
        self.canonical
            .entry(rollup.0)
            .or_default()
            .insert(height, block);
        Ok(())
    }

    /// Verifies evidence and slashes the offender: the slash takes the infraction's fraction of
    /// the operator's stake at the infraction height, first from unbonding entries created at or
    /// after that height, then from the pool (every delegator pro rata), capped at what
    /// remains. A share goes to `submitter`, the rest is burned; equivocation also tombstones
    /// the operator in the set. Refused evidence changes nothing.
    pub fn slash(
        &mut self,
        submitter: &Address,
        evidence: &Evidence,
    ) -> Result<SlashOutcome, StakingError> {
        let id = evidence.hash();
        if self.seen_evidence.contains(&id) {
            return Err(StakingError::DuplicateEvidence(id));
        }
        let set_id = evidence.set();
        let set = self
            .sets
            .get(&set_id)
            .ok_or(StakingError::UnknownSet(set_id))?;
        let height = evidence.height();
        self.check_height(height)?;
        if self.height - height > self.params.max_evidence_age_blocks
            || self.now - self.times.at(height) > self.params.max_evidence_age_secs
        {
            return Err(StakingError::EvidenceExpired { height });
        }
        let invalid = |reason: &str| StakingError::InvalidEvidence(reason.to_owned());
        let bad_signature = |e: crate::evidence::VoteError| {
            StakingError::InvalidEvidence(format!("bad signature: {e}"))
        };
        let key_of = |a: &Address| self.operators.get(a).and_then(|o| o.info.key.bls());
        let (operator, fraction, tombstone) = match evidence {
            Evidence::Equivocation { first, second, .. } => {
                if (first.height, first.round) != (second.height, second.round) {
                    return Err(invalid("the votes are for different slots"));
                }
                if first.digest == second.digest {
                    return Err(invalid("the votes do not conflict"));
                }
                let signer = first
                    .signer(set_id, self.chain_id, key_of)
                    .map_err(bad_signature)?;
                if second
                    .signer(set_id, self.chain_id, key_of)
                    .map_err(bad_signature)?
                    != signer
                {
                    return Err(invalid("the votes have different signers"));
                }
                (signer, self.params.slash_equivocation_bips, true)
            }
            Evidence::InvalidStateRoot {
                operator,
                height,
                challenge,
                ..
            } => {
                if self.lost_challenges.get(challenge) != Some(&(*operator, *height)) {
                    return Err(invalid(
                        "no decided challenge against this operator at this height",
                    ));
                }
                (*operator, self.params.slash_invalid_state_root_bips, false)
            }
            Evidence::InvalidVote { vote, .. } => {
                let canonical = self
                    .canonical
                    .get(&set_id.rollup.0)
                    .and_then(|m| m.get(&vote.height));
                match canonical {
                    None => return Err(invalid("no canonical block recorded at that height")),
                    Some(block) if *block == vote.digest => {
                        return Err(invalid("the vote is for the canonical block"));
                    }
                    Some(_) => {}
                }
                (
                    vote.signer(set_id, self.chain_id, key_of)
                        .map_err(bad_signature)?,
                    self.params.slash_invalid_vote_bips,
                    false,
                )
            }
        };
        let state = self
            .operators
            .get(&operator)
            .ok_or(StakingError::UnknownOperator(operator))?;
        if set.tombstoned.contains(&operator) {
            return Err(StakingError::Tombstoned(operator));
        }
        if !set.membership.get(&operator).is_some_and(|m| m.at(height)) {
            return Err(invalid("the signer was not in the set at that height"));
        }

        // Checkpoints hold a height's final state, so stake undelegated during the infraction
        // height itself is added back: the base is the stake the operator had at h.
        let left_during = self
            .unbonding
            .get(&operator)
            .into_iter()
            .flat_map(|m| m.values().flatten())
            .filter(|e| e.created_height == height)
            .fold(U256::ZERO, |sum, e| sum + e.amount);
        let base = state.pool.at(height).stake + left_during;
        let due = mul_div(base, U256::from(fraction), U256::from(BIPS));
        let mut taken = U256::ZERO;
        for entries in self
            .unbonding
            .get_mut(&operator)
            .into_iter()
            .flat_map(|m| m.values_mut())
        {
            for entry in entries.iter_mut().filter(|e| e.created_height >= height) {
                let cut =
                    mul_div(entry.amount, U256::from(fraction), U256::from(BIPS)).min(due - taken);
                entry.amount -= cut;
                taken += cut;
            }
        }
        self.total_unbonding -= taken;
        let pool = self.pool(&operator).unwrap_or_default();
        let from_pool = (due - taken).min(pool.stake);
        taken += from_pool;
        self.update_pool(
            &operator,
            Pool {
                stake: pool.stake - from_pool,
                shares: pool.shares,
            },
        );

        let reward = mul_div(
            taken,
            U256::from(self.params.evidence_reward_bips),
            U256::from(BIPS),
        );
        if !reward.is_zero() {
            let balance = self.balance_of(submitter) + reward;
            self.liquid.insert(*submitter, balance);
        }
        self.burned += taken - reward;
        self.seen_evidence.insert(id);
        if tombstone {
            if self
                .operators
                .get(&operator)
                .is_some_and(|o| o.sets.contains(&set_id))
            {
                let stake = pool.stake - from_pool;
                self.remove_member(&operator, set_id, stake);
            }
            if let Some(set) = self.sets.get_mut(&set_id) {
                set.tombstoned.insert(operator);
            }
        }
        Ok(SlashOutcome {
            operator,
            due,
            slashed: taken,
            reward,
        })
    }

    // ---- integrity ----

    /// Checks every accounting invariant; `Err` names the first that fails.
    pub fn check_invariants(&self) -> Result<(), String> {
        let liquid = self.liquid.values().fold(U256::ZERO, |s, v| s + v);
        let staked = self.staked.values().fold(U256::ZERO, |s, c| s + c.latest());
        let pooled = self
            .operators
            .values()
            .fold(U256::ZERO, |s, o| s + o.pool.latest().stake);
        let unbonding = self
            .unbonding
            .values()
            .flat_map(|m| m.values())
            .flatten()
            .fold(U256::ZERO, |s, e| s + e.amount);
        if staked != self.total_staked.latest() {
            return Err(format!(
                "stALT total {} != sum {}",
                self.total_staked.latest(),
                staked
            ));
        }
        if pooled != self.total_pooled.latest() {
            return Err(format!(
                "pooled total {} != sum {}",
                self.total_pooled.latest(),
                pooled
            ));
        }
        if unbonding != self.total_unbonding {
            return Err(format!(
                "unbonding total {} != sum {}",
                self.total_unbonding, unbonding
            ));
        }
        let rewards = self.unclaimed_rewards();
        let held = liquid + staked + pooled + unbonding + rewards + self.treasury + self.burned;
        if held != self.minted {
            return Err(format!(
                "supply: minted {} != held and burned {}",
                self.minted, held
            ));
        }
        self.check_reward_pots()?;
        for (address, operator) in &self.operators {
            let pool = operator.pool.latest();
            let shares = self
                .shares
                .values()
                .filter_map(|m| m.get(address))
                .fold(U256::ZERO, |s, c| s + c.latest());
            if shares != pool.shares {
                return Err(format!(
                    "operator {address}: shares {shares} != pool shares {}",
                    pool.shares
                ));
            }
            if pool.shares.is_zero() && !pool.stake.is_zero() {
                return Err(format!("operator {address}: stake without shares"));
            }
        }
        for (id, set) in &self.sets {
            let members = self
                .members_at(*id, self.height)
                .map_err(|e| e.to_string())?;
            let total = members.iter().fold(U256::ZERO, |s, (_, w)| s + w);
            if total != set.total.latest() {
                return Err(format!(
                    "set {id:?}: total {} != members' weights {total}",
                    set.total.latest()
                ));
            }
        }
        Ok(())
    }

    /// Deterministic hash of the whole state (same operations, same hash): keccak-256 of its
    /// canonical JSON snapshot, every map ordered by key.
    pub fn state_hash(&self) -> B256 {
        // Serializing plain maps and numbers into memory cannot fail; an empty hash input in
        // the impossible case still yields a deterministic (if useless) value, not a panic.
        keccak256(serde_json::to_vec(self).unwrap_or_default())
    }
}

impl ParameterStore for AltLedger {
    type Params = StakingParams;
    type Error = StakingError;

    fn params(&self) -> &StakingParams {
        &self.params
    }

    fn set_params(&mut self, params: StakingParams) -> Result<(), StakingError> {
        params.validate()?;
        self.params = params;
        Ok(())
    }
}

impl TokenLedger for AltLedger {
    type Error = StakingError;

    fn balance_of(&self, who: &Address) -> U256 {
        self.liquid.get(who).copied().unwrap_or_default()
    }

    fn total_supply(&self) -> U256 {
        self.minted - self.burned
    }

    fn transfer(&mut self, from: &Address, to: &Address, amount: U256) -> Result<(), StakingError> {
        Self::nonzero(amount)?;
        if from == to {
            let have = self.balance_of(from);
            return if have >= amount {
                Ok(())
            } else {
                Err(StakingError::InsufficientBalance { have, need: amount })
            };
        }
        let credited = add(self.balance_of(to), amount)?;
        self.debit(from, amount)?;
        self.liquid.insert(*to, credited);
        Ok(())
    }

    /// Fees charged to a registered fee account (see [`AltLedger::register_fee_account`]) are
    /// split and routed by [`AltLedger::collect_fees`]; to any other account they are a
    /// transfer.
    fn charge_fee(
        &mut self,
        payer: &Address,
        collector: &Address,
        amount: U256,
    ) -> Result<(), StakingError> {
        match self.fee_account_rollup(collector) {
            Some(rollup) => self.collect_fees(payer, rollup, amount).map(drop),
            None => self.transfer(payer, collector, amount),
        }
    }

    /// Voting power: stALT plus the value of delegated shares, both as they stood at `height`.
    fn voting_power_at(&self, who: &Address, height: u64) -> Result<U256, StakingError> {
        self.check_height(height)?;
        let mut power = self
            .staked
            .get(who)
            .map(|c| c.at(height))
            .unwrap_or_default();
        for (operator, shares) in self.shares.get(who).into_iter().flatten() {
            let pool = self
                .operators
                .get(operator)
                .map(|o| o.pool.at(height))
                .unwrap_or_default();
            power += pool.value_of(shares.at(height));
        }
        Ok(power)
    }

    fn total_voting_power_at(&self, height: u64) -> Result<U256, StakingError> {
        self.check_height(height)?;
        Ok(self.total_staked.at(height) + self.total_pooled.at(height))
    }
}
