//! Fixtures shared by the benchmarks: large states and blocks of signed transfers.

use alloy_consensus::TxEnvelope;
use alloy_eips::Encodable2718;
use alloy_primitives::{Address, Bytes, U256, keccak256};
use altlayer_core::{
    EvmStateTransition, RollupConfig,
    dev::{DevAccount, dev_balance},
    execution::DEFAULT_INITIAL_BASE_FEE,
    state::WorldState,
};
use rayon::prelude::*;

/// Address of the `i`-th filler account (accounts that exist only to make the state large).
pub fn filler(i: usize) -> Address {
    Address::from_slice(&keccak256((i as u64).to_be_bytes())[12..])
}

/// A state of `accounts` accounts: `senders` funded development accounts, the rest fillers
/// holding 1 wei, with the root computed once so later roots are incremental.
pub fn large_state(accounts: usize, senders: &[DevAccount]) -> WorldState {
    let mut state = WorldState::new();
    for sender in senders {
        state.set_balance(sender.address, dev_balance()).unwrap();
    }
    for i in 0..accounts.saturating_sub(senders.len()) {
        state.set_balance(filler(i), U256::from(1)).unwrap();
    }
    state.state_root().unwrap();
    state
}

/// A block's worth of signed EIP-1559 transfers from distinct senders to distinct fillers, over
/// a state of `accounts` accounts.
pub struct TransferBlock {
    /// The state transition at genesis over the large state.
    pub stf: EvmStateTransition,
    /// The senders.
    pub senders: Vec<DevAccount>,
    /// The transactions.
    pub txs: Vec<TxEnvelope>,
    /// Their EIP-2718 encodings, as they arrive from the network.
    pub raw: Vec<Bytes>,
}

impl TransferBlock {
    /// Builds the fixture.
    pub fn new(accounts: usize, txs: usize) -> Self {
        let config = RollupConfig::default();
        let senders: Vec<DevAccount> = (0..txs as u64)
            .into_par_iter()
            .map(DevAccount::new)
            .collect();
        let state = large_state(accounts, &senders);
        let transactions: Vec<TxEnvelope> = senders
            .par_iter()
            .enumerate()
            .map(|(i, sender)| sender.transfer(config.chain_id, 0, filler(i), U256::from(1_000)))
            .collect();
        let raw = transactions
            .iter()
            .map(|tx| Bytes::from(tx.encoded_2718()))
            .collect();
        let stf = EvmStateTransition::new(config, state, 0, DEFAULT_INITIAL_BASE_FEE);
        Self {
            stf,
            senders,
            txs: transactions,
            raw,
        }
    }
}
