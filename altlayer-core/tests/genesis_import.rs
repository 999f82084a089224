//! A genesis written in parts is the genesis written at once: the same block, the same root
//! (the Ethereum root alloy-trie computes), the same accounts and trie nodes in the store.

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use altlayer_core::{
    RollupConfig,
    genesis::{
        Genesis, GenesisAccount, genesis_state_root, import_in_parts, state_transition_from_genesis,
    },
    storage::{ACCOUNT_TRIE, MemoryStore, StateStore},
};
use nybbles::Nibbles;
use std::sync::Arc;

/// `n` accounts at pseudo-random addresses; every 97th has code and storage, every 13th a
/// nonce.
fn genesis(n: u64) -> Genesis {
    let mut genesis = Genesis::default();
    for i in 0..n {
        let address = Address::from_slice(&keccak256(i.to_be_bytes())[12..]);
        let mut account = GenesisAccount::default().with_balance(U256::from(i + 1));
        if i % 13 == 0 {
            account.nonce = Some(i);
        }
        if i % 97 == 0 {
            account.code = Some(Bytes::from(vec![0x60, 0x00, 0x60, 0x00, 0xf3, i as u8]));
            account.storage = Some(
                (0..(i % 5 + 1))
                    .map(|s| {
                        (
                            B256::with_last_byte(s as u8),
                            B256::with_last_byte(i as u8 | 1),
                        )
                    })
                    .collect(),
            );
        }
        genesis.alloc.insert(address, account);
    }
    genesis
}

#[test]
fn a_genesis_written_in_parts_is_the_genesis_written_at_once() {
    let genesis = genesis(6_000);
    let config = RollupConfig::default();
    let at_once = Arc::new(MemoryStore::archive());
    let whole = state_transition_from_genesis(config.clone(), &genesis)
        .store_genesis(at_once.clone())
        .unwrap();
    let in_parts = Arc::new(MemoryStore::archive());
    let parts = import_in_parts(config, &genesis, in_parts.clone()).unwrap();
    assert_eq!(parts.head(), whole.head());
    assert_eq!(parts.state_root(), genesis_state_root(&genesis));
    assert_eq!(in_parts.head().unwrap(), at_once.head().unwrap());
    assert_eq!(in_parts.accounts(), at_once.accounts());
    assert_eq!(in_parts.trie_nodes(), at_once.trie_nodes());
    for address in genesis.alloc.keys() {
        assert_eq!(
            in_parts.account(0, address).unwrap(),
            at_once.account(0, address).unwrap()
        );
    }
    // Every account-trie node down three levels is the same, path by path.
    let mut paths = vec![Nibbles::new()];
    for depth in 0..3 {
        let mut next = Vec::new();
        for path in &paths {
            assert_eq!(
                in_parts.trie_node(0, &ACCOUNT_TRIE, path).unwrap(),
                at_once.trie_node(0, &ACCOUNT_TRIE, path).unwrap(),
                "depth {depth}"
            );
            for nibble in 0..16u8 {
                let mut child = *path;
                child.push(nibble);
                next.push(child);
            }
        }
        paths = next;
    }
}

#[test]
fn a_genesis_too_small_for_parts_is_written_at_once() {
    // Four accounts cannot fill two levels of branches: written at once, the same genesis.
    let genesis = genesis(4);
    let store = Arc::new(MemoryStore::archive());
    let replica = import_in_parts(RollupConfig::default(), &genesis, store.clone()).unwrap();
    assert_eq!(replica.state_root(), genesis_state_root(&genesis));
    assert_eq!(store.accounts(), 4);
}
