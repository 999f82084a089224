//! Genesis state roots against the published genesis `stateRoot` of public Ethereum networks.
//!
//! The allocations are those of Sepolia and Holesky (taken from ethereumjs' `@ethereumjs/genesis`
//! package and written out in geth's format); the expected roots are the `stateRoot` fields of
//! the networks' genesis blocks (as in geth's and reth's chain specs). Holesky's allocation holds
//! the beacon deposit contract with its code and 31 storage slots.

use alloy_primitives::{address, b256};
use altlayer_core::genesis::{genesis_state, genesis_state_root, load_genesis, parse_genesis};

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn sepolia_genesis_state_root() {
    let genesis = load_genesis(fixture("sepolia-genesis.json")).unwrap();
    assert_eq!(genesis.alloc.len(), 15);
    assert_eq!(
        genesis_state_root(&genesis),
        b256!("5eb6e371a698b8d68f665192350ffcecbbbf322916f4b51bd79bb6887da3f494")
    );
}

#[test]
fn holesky_genesis_state_root_with_contract_code_and_storage() {
    let genesis = load_genesis(fixture("holesky-genesis.json")).unwrap();
    let deposit = &genesis.alloc[&address!("4242424242424242424242424242424242424242")];
    assert!(deposit.code.as_ref().is_some_and(|c| c.len() > 1_000));
    assert_eq!(deposit.storage.as_ref().map(|s| s.len()), Some(31));
    assert_eq!(
        genesis_state_root(&genesis),
        b256!("69d8c9d72f6fa4ad42d4702b433707212f90db395eb54dc20bc85de253788783")
    );
    // The incremental root and a from-scratch rebuild agree on a real state too.
    let mut state = genesis_state(&genesis);
    assert_eq!(state.state_root().unwrap(), state.state_root_from_scratch());
}

#[test]
fn bad_genesis_input_is_a_typed_error() {
    assert!(parse_genesis("{").is_err());
    assert!(parse_genesis(r#"{"alloc": {"0xnot-an-address": {"balance": "1"}}}"#).is_err());
    assert!(load_genesis(fixture("does-not-exist.json")).is_err());
}
