//! The [`TokenLedger`] composition point: the token fees are paid in and stake is counted in.
//!
//! altlayer-core defines only the trait; the ALT ledger of altlayer-staking implements it.
//! Amounts are `U256` in the token's smallest unit, and every operation is checked: a failed
//! call changes nothing.

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
