//! Helpers shared by core's integration tests.

use alloy_consensus::transaction::Recovered;
use alloy_primitives::{Address, U256};
use altlayer_core::{
    EvmStateTransition,
    dev::DevAccount,
    execution::{BlockAttributes, BuiltBlock, ExecuteOptions},
};

/// Block `height`: eight transfers, some to new accounts, some to accounts an earlier block
/// paid, from senders that change block to block.
pub(crate) fn transfer_block(
    stf: &mut EvmStateTransition,
    accounts: &[DevAccount],
    nonces: &mut [u64],
    height: u64,
) -> Result<BuiltBlock, String> {
    let chain_id = stf.config().chain_id;
    let txs = (0..8)
        .map(|i| {
            let from = (height as usize * 3 + i) % accounts.len();
            let to = Address::with_last_byte(((height * 5 + i as u64) % 40) as u8);
            let tx = accounts[from].transfer(chain_id, nonces[from], to, U256::from(1_000 + i));
            nonces[from] += 1;
            Recovered::new_unchecked(tx, accounts[from].address)
        })
        .collect();
    stf.build_block(
        BlockAttributes {
            timestamp: height,
            ..BlockAttributes::default()
        },
        txs,
        ExecuteOptions::default(),
    )
    .map_err(|error| error.to_string())
}
