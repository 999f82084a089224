//! [`GovernedLedger`]: what governance needs of a staking ledger, so that altlayer-gov depends
//! on this trait rather than on [`crate::AltLedger`] itself.

use crate::{OperatorSetId, StakingError, StakingParams};
use alloy_primitives::{Address, U256};
use altlayer_core::{TokenLedger, params::ParameterStore};

/// A ledger governance can run over: voting power at past heights and transfers (from
/// [`TokenLedger`]), its staking parameters (through [`ParameterStore`]), and the protocol
/// authority's operations a passed proposal executes. [`crate::AltLedger`] implements it.
pub trait GovernedLedger:
    TokenLedger<Error = StakingError> + ParameterStore<Params = StakingParams, Error = StakingError>
{
    /// The last height the ledger recorded (votes read stake at heights up to it).
    fn height(&self) -> u64;

    /// ALT held by the treasury.
    fn treasury(&self) -> U256;

    /// Burns `amount` from `from`'s liquid balance; only the protocol authority may.
    fn burn(
        &mut self,
        authority: &Address,
        from: &Address,
        amount: U256,
    ) -> Result<(), StakingError>;

    /// Pays `amount` from the treasury to `to`; only the protocol authority may.
    fn spend_treasury(
        &mut self,
        authority: &Address,
        to: &Address,
        amount: U256,
    ) -> Result<(), StakingError>;

    /// Sets an operator set's minimum stake; only the protocol authority may.
    fn set_min_stake(
        &mut self,
        authority: &Address,
        set: OperatorSetId,
        amount: U256,
    ) -> Result<(), StakingError>;
}

impl GovernedLedger for crate::AltLedger {
    fn height(&self) -> u64 {
        Self::height(self)
    }

    fn treasury(&self) -> U256 {
        Self::treasury(self)
    }

    fn burn(
        &mut self,
        authority: &Address,
        from: &Address,
        amount: U256,
    ) -> Result<(), StakingError> {
        Self::burn(self, authority, from, amount)
    }

    fn spend_treasury(
        &mut self,
        authority: &Address,
        to: &Address,
        amount: U256,
    ) -> Result<(), StakingError> {
        Self::spend_treasury(self, authority, to, amount)
    }

    fn set_min_stake(
        &mut self,
        authority: &Address,
        set: OperatorSetId,
        amount: U256,
    ) -> Result<(), StakingError> {
        Self::set_min_stake(self, authority, set, amount)
    }
}
