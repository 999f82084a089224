//! A replica over redb writing its blocks behind execution: each block's commit runs beside
//! the next block, whose reads go on meanwhile, through the journal's applies to the tables.

use alloy_consensus::{TxEnvelope, transaction::Recovered};
use alloy_primitives::{TxKind, U256};
use altlayer_core::{
    EvmStateTransition, RollupConfig,
    dev::{DevAccount, counter_init_code, dev_state_transition, store_call, store_init_code},
    execution::{BlockAttributes, ExecuteOptions},
    storage::{ChainStore, MemoryStore, StateStore},
};
use altlayer_storage::{RedbStore, StoreOptions};
use std::sync::Arc;

/// Blocks of a counter's increments, slots set and zeroed and transfers to new accounts,
/// from one sender.
struct Txs {
    account: DevAccount,
    chain_id: u64,
    nonce: u64,
}

impl Txs {
    fn block(&mut self, height: u64) -> Vec<Recovered<TxEnvelope>> {
        let a = &self.account;
        let (counter, storer) = (a.address.create(0), a.address.create(1));
        let calls = if height == 1 {
            vec![
                (TxKind::Create, counter_init_code(), 200_000),
                (TxKind::Create, store_init_code(), 200_000),
            ]
        } else {
            let recipient = alloy_primitives::Address::with_last_byte(height as u8);
            vec![
                (TxKind::Call(counter), Default::default(), 100_000),
                (
                    TxKind::Call(storer),
                    store_call(U256::from(height % 3), U256::from(height % 2)),
                    1_500_000,
                ),
                (TxKind::Call(recipient), Default::default(), 21_000),
            ]
        };
        calls
            .into_iter()
            .map(|(to, input, gas)| {
                let tx = a.call(self.chain_id, self.nonce, to, input, gas);
                self.nonce += 1;
                Recovered::new_unchecked(tx, a.address)
            })
            .collect()
    }
}

fn build(stf: &mut EvmStateTransition, height: u64, txs: Vec<Recovered<TxEnvelope>>) {
    let built = stf
        .build_block(
            BlockAttributes {
                timestamp: height,
                ..BlockAttributes::default()
            },
            txs,
            ExecuteOptions::default(),
        )
        .unwrap();
    assert!(built.rejected.is_empty(), "{:?}", built.rejected);
}

#[test]
fn a_replica_writing_behind_over_redb_builds_the_chain_and_restarts_on_it() {
    let config = RollupConfig::default();
    let dir = tempfile::tempdir().unwrap();
    let reference = Arc::new(MemoryStore::archive());
    let mut memory = dev_state_transition(config.clone(), 4)
        .store_genesis(reference.clone())
        .unwrap();
    // Four blocks of history applied four at a time (on the apply's thread), and a cache
    // so small that memory lets go of all it may after every block.
    let options = StoreOptions {
        cache_bytes: 16 << 10,
        history: Some(4),
        apply_every: 4,
    };
    let store = Arc::new(RedbStore::open(dir.path(), options).unwrap());
    let mut behind = dev_state_transition(config.clone(), 4)
        .store_genesis(store.clone())
        .unwrap();
    behind.set_write_behind(true).unwrap();
    let mut txs = Txs {
        account: DevAccount::many(1).remove(0),
        chain_id: config.chain_id,
        nonce: 0,
    };
    for height in 1..=30 {
        let block = txs.block(height);
        build(&mut memory, height, block.clone());
        build(&mut behind, height, block);
        assert_eq!(behind.head(), memory.head(), "block {height}");
        let written = store.head().unwrap().unwrap().height;
        assert!(written + 1 >= height, "block {written} written at {height}");
    }
    behind.flush().unwrap();
    for height in 1..=30 {
        assert_eq!(
            store.block(height).unwrap(),
            reference.block(height).unwrap()
        );
    }
    for height in 26..=30 {
        for i in 0..40u8 {
            let address = alloy_primitives::Address::with_last_byte(i);
            assert_eq!(
                store.account(height, &address).unwrap(),
                reference.account(height, &address).unwrap()
            );
        }
    }
    // A restart on the file continues the chain, writing behind again.
    drop(behind);
    drop(store);
    let store = Arc::new(RedbStore::open(dir.path(), options).unwrap());
    let mut reopened = EvmStateTransition::open(config, store.clone()).unwrap();
    assert_eq!(reopened.head(), memory.head());
    reopened.set_write_behind(true).unwrap();
    for height in 31..=36 {
        let block = txs.block(height);
        build(&mut memory, height, block.clone());
        build(&mut reopened, height, block);
        assert_eq!(
            reopened.head(),
            memory.head(),
            "block {height} after the restart"
        );
    }
    reopened.flush().unwrap();
    assert_eq!(
        store.head().unwrap().map(|h| h.hash),
        Some(memory.head().hash())
    );
    let report = store.check().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.trie_root, Some(memory.head().state_root));
}
