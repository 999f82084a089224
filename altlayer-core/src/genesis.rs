//! Genesis: geth-style genesis files and their state root.
//!
//! The file format is geth's (`config`, `timestamp`, `gasLimit`, `baseFeePerGas`, `alloc` with
//! `balance`, `nonce`, `code` and `storage` per account), parsed with alloy-genesis, the
//! parser reth uses. The state root of the allocation is the Ethereum state root, so it equals
//! the `stateRoot` of the genesis block of any Ethereum network built from the same file.

use crate::{
    execution::{DEFAULT_INITIAL_BASE_FEE, EvmStateTransition, RollupConfig},
    state::WorldState,
};
use alloy_primitives::{B256, U256};
use std::path::Path;

pub use alloy_genesis::{Genesis, GenesisAccount};
pub use import::{IMPORT_IN_PARTS_FROM, import_genesis, import_in_parts};

mod import;

/// Why a genesis file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenesisError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a geth genesis.
    #[error("invalid genesis JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Parses a geth-style genesis from JSON text.
pub fn parse_genesis(json: &str) -> Result<Genesis, GenesisError> {
    Ok(serde_json::from_str(json)?)
}

/// Reads and parses a geth-style genesis file.
pub fn load_genesis(path: impl AsRef<Path>) -> Result<Genesis, GenesisError> {
    let path = path.as_ref();
    let json = std::fs::read_to_string(path).map_err(|source| GenesisError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_genesis(&json)
}

/// The world state holding a genesis allocation.
pub fn genesis_state(genesis: &Genesis) -> WorldState {
    let mut state = WorldState::new();
    for (address, account) in &genesis.alloc {
        let storage = account
            .storage
            .iter()
            .flatten()
            .map(|(slot, value)| (U256::from_be_bytes(slot.0), U256::from_be_bytes(value.0)));
        state
            .insert_account(
                *address,
                account.nonce.unwrap_or_default(),
                account.balance,
                account.code.clone().filter(|code| !code.is_empty()),
                storage,
            )
            .expect(IN_MEMORY);
    }
    state
}

/// Why the state calls here cannot fail: a state in memory reads no store.
const IN_MEMORY: &str = "a state in memory reads no store";

/// The Ethereum state root of a genesis allocation.
pub fn genesis_state_root(genesis: &Genesis) -> B256 {
    genesis_state(genesis).state_root().expect(IN_MEMORY)
}

/// A state transition starting from a genesis. The chain id is the genesis's when it names one;
/// the block gas limit is the genesis's when it is non-zero.
pub fn state_transition_from_genesis(
    config: RollupConfig,
    genesis: &Genesis,
) -> EvmStateTransition {
    let (config, timestamp, base_fee) = genesis_parameters(config, genesis);
    EvmStateTransition::new(config, genesis_state(genesis), timestamp, base_fee)
}

/// The configuration a genesis makes of `config` (its chain id and gas limit when it names
/// them), its timestamp and its base fee.
fn genesis_parameters(mut config: RollupConfig, genesis: &Genesis) -> (RollupConfig, u64, u64) {
    if genesis.config.chain_id != 0 {
        config.chain_id = genesis.config.chain_id;
    }
    if genesis.gas_limit != 0 {
        config.block_gas_limit = genesis.gas_limit;
    }
    let base_fee = genesis
        .base_fee_per_gas
        .and_then(|fee| u64::try_from(fee).ok())
        .unwrap_or(DEFAULT_INITIAL_BASE_FEE);
    (config, genesis.timestamp, base_fee)
}
