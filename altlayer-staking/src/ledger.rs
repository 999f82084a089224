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

mod delegation;
mod distribution;
mod integrity;
mod sets;
mod slashing;

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
