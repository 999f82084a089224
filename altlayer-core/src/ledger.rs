//! The [`TokenLedger`] composition point: the token fees are paid in and stake is counted in.
//!
//! altlayer-core defines only the trait; the ALT ledger of altlayer-staking implements it.
//! Amounts are `U256` in the token's smallest unit, and every operation is checked: a failed
//! call changes nothing.

use crate::{evidence::Evidence, primitives::Header, settlement::Resolution};
use alloy_primitives::{Address, U256};

/// Balances, transfers, fee payment and stake weights of a token.
///
/// Heights are the ledger's own (rollup block heights). Voting power at a past height is what
/// quorum certificates and governance count, so an implementation must keep checkpoints.
///
/// # Example
///
/// A toy ledger with no staking, in which every holder's voting power is its balance now:
///
/// ```
/// use altlayer_core::ledger::TokenLedger;
/// use alloy_primitives::{Address, U256};
/// use std::collections::HashMap;
///
/// #[derive(Default)]
/// struct Toy { balances: HashMap<Address, U256>, supply: U256, height: u64 }
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("toy ledger: {0}")]
/// struct ToyError(&'static str);
///
/// impl TokenLedger for Toy {
///     type Error = ToyError;
///     fn balance_of(&self, who: &Address) -> U256 { self.balances.get(who).copied().unwrap_or_default() }
///     fn total_supply(&self) -> U256 { self.supply }
///     fn transfer(&mut self, from: &Address, to: &Address, amount: U256) -> Result<(), ToyError> {
///         let left = self.balance_of(from).checked_sub(amount).ok_or(ToyError("insufficient balance"))?;
///         self.balances.insert(*from, left);
///         *self.balances.entry(*to).or_default() += amount;
///         Ok(())
///     }
///     fn voting_power_at(&self, who: &Address, height: u64) -> Result<U256, ToyError> {
///         if height > self.height { return Err(ToyError("future height")); }
///         Ok(self.balance_of(who))
///     }
///     fn total_voting_power_at(&self, height: u64) -> Result<U256, ToyError> {
///         if height > self.height { return Err(ToyError("future height")); }
///         Ok(self.supply)
///     }
/// }
///
/// let (alice, vault) = (Address::repeat_byte(1), Address::repeat_byte(2));
/// let mut ledger = Toy { supply: U256::from(100), ..Default::default() };
/// ledger.balances.insert(alice, U256::from(100));
/// ledger.charge_fee(&alice, &vault, U256::from(7))?;
/// assert_eq!(ledger.balance_of(&vault), U256::from(7));
/// assert!(ledger.transfer(&alice, &vault, U256::from(1_000)).is_err());
/// assert_eq!(ledger.balance_of(&alice), U256::from(93));
/// # Ok::<(), ToyError>(())
/// ```
pub trait TokenLedger {
    /// Why an operation failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Liquid balance of an account.
    fn balance_of(&self, who: &Address) -> U256;

    /// Total supply.
    fn total_supply(&self) -> U256;

    /// Moves `amount` from `from` to `to`, or fails and changes nothing.
    fn transfer(&mut self, from: &Address, to: &Address, amount: U256) -> Result<(), Self::Error>;

    /// Charges a fee: moves `amount` from the payer to the fee collector. Ledgers that split
    /// fees (burn, rewards, treasury) override this.
    fn charge_fee(
        &mut self,
        payer: &Address,
        collector: &Address,
        amount: U256,
    ) -> Result<(), Self::Error> {
        self.transfer(payer, collector, amount)
    }

    /// Voting power (stake weight) of an account at a past height; a future height is an error.
    fn voting_power_at(&self, who: &Address, height: u64) -> Result<U256, Self::Error>;

    /// Total voting power at a past height; a future height is an error.
    fn total_voting_power_at(&self, height: u64) -> Result<U256, Self::Error>;
}

/// What the ledger of a rollup's token did, to report.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LedgerEvent {
    /// An operator was slashed on evidence.
    Slashed {
        /// The operator.
        operator: Address,
        /// What it lost.
        amount: U256,
        /// What the submitter of the evidence was paid.
        reward: U256,
        /// Who submitted the evidence.
        submitter: Address,
        /// The infraction (`equivocation`, `invalid state root`, `invalid vote`).
        infraction: &'static str,
        /// Whether the operator was also removed for good.
        tombstoned: bool,
    },
    /// Evidence that did not lead to a slash (already slashed for it, not an operator of the
    /// set, expired), and why.
    SlashRefused {
        /// Who the evidence accused.
        operator: Address,
        /// Why nothing was slashed.
        reason: String,
    },
    /// A challenger's bond moved: returned, or forfeited to the treasury.
    Bond {
        /// The challenger.
        challenger: Address,
        /// The bond.
        amount: U256,
        /// Whether it was returned (or else forfeited).
        returned: bool,
    },
    /// A block's fees were charged and split.
    Fees {
        /// The block.
        height: u64,
        /// The fee.
        amount: U256,
    },
    /// An epoch's rewards were distributed to the operator sets.
    Rewards {
        /// The height the epoch ended at.
        height: u64,
        /// The amount distributed.
        amount: U256,
    },
}

/// What a rollup driver asks of its token ledger: follow the chain (and charge its fees), hold
/// challengers' bonds, mirror what settlement decided, and slash on evidence.
///
/// Every method changes nothing when it fails. The default, [`NoLedger`], has no token: no
/// fees, no bonds to lock, nothing to slash. altlayer-avs implements it over the ALT ledger.
pub trait RollupLedger {
    /// Why an operation failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// A block was produced: the ledger follows the rollup's height and time and charges the
    /// block's fees.
    fn on_block(&mut self, _header: &Header) -> Result<Vec<LedgerEvent>, Self::Error> {
        Ok(Vec::new())
    }

    /// Locks a challenger's bond before its challenge goes to settlement.
    fn lock_bond(&mut self, _challenger: &Address, _bond: U256) -> Result<(), Self::Error> {
        Ok(())
    }

    /// Releases a bond locked for a challenge settlement refused.
    fn unlock_bond(&mut self, _challenger: &Address, _bond: U256) -> Result<(), Self::Error> {
        Ok(())
    }

    /// Settlement decided a challenge: the bonds move as it says, and a proposer proven wrong
    /// is slashed, with the decided challenge as the evidence.
    fn on_resolution(&mut self, _resolution: &Resolution) -> Result<Vec<LedgerEvent>, Self::Error> {
        Ok(Vec::new())
    }

    /// A component reported misbehaviour: slash on it, paying `submitter` its share.
    fn on_evidence(
        &mut self,
        _submitter: &Address,
        _evidence: &Evidence,
    ) -> Result<Vec<LedgerEvent>, Self::Error> {
        Ok(Vec::new())
    }

    /// The runtime state as a record, to resume from after a restart (see
    /// [`crate::persist`]). The default cannot.
    fn persist(&self) -> Result<Vec<u8>, crate::persist::PersistError> {
        Err(crate::persist::unsupported::<Self>())
    }

    /// Puts back what `persist` wrote, into a component built afresh from the same
    /// configuration; changes nothing on error.
    fn restore(
        &mut self,
        _record: &[u8],
        _replicas: &crate::persist::Replicas,
    ) -> Result<(), crate::persist::PersistError> {
        Err(crate::persist::unsupported::<Self>())
    }
}

/// A rollup without a token: nothing is charged, locked or slashed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoLedger;

impl RollupLedger for NoLedger {
    type Error = std::convert::Infallible;

    /// Nothing to keep.
    fn persist(&self) -> Result<Vec<u8>, crate::persist::PersistError> {
        Ok(Vec::new())
    }

    fn restore(
        &mut self,
        _record: &[u8],
        _replicas: &crate::persist::Replicas,
    ) -> Result<(), crate::persist::PersistError> {
        Ok(())
    }
}
