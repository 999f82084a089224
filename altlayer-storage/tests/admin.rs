//! Looking after a database: `stats`, `check` (which must pass on what the EVM wrote and
//! catch what was tampered with) and `prune` (which must keep what it promises to keep).

use alloy_consensus::transaction::Recovered;
use alloy_primitives::{TxKind, U256};
use altlayer_core::{
    EvmStateTransition, RollupConfig,
    dev::{DevAccount, counter_init_code, dev_state_transition, store_call, store_init_code},
    execution::{BlockAttributes, ExecuteOptions},
    storage::{StateStore, StorageError},
};
use altlayer_storage::{RedbStore, StoreOptions};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use std::{path::Path, sync::Arc};

const BLOCKS: u64 = 12;

/// An archive applying the journal every 4 blocks: after block 12 everything is in the
/// tables, which the tampering below edits.
fn options() -> StoreOptions {
    StoreOptions {
        cache_bytes: 4 << 20,
        history: None,
        apply_every: 4,
    }
}

/// A chain of [`BLOCKS`] blocks with a logging counter and a contract setting 32 slots in
/// every other block; returns the number of transactions.
fn build(dir: &Path) -> u64 {
    let config = RollupConfig::default();
    let store = Arc::new(RedbStore::open(dir, options()).unwrap());
    let mut state = dev_state_transition(config.clone(), 2)
        .store_genesis(store)
        .unwrap();
    let account = &DevAccount::many(2)[0];
    let (counter, storer) = (account.address.create(0), account.address.create(1));
    let mut nonce = 0;
    let mut transactions = 0;
    for height in 1..=BLOCKS {
        let calls = if height == 1 {
            vec![
                (TxKind::Create, counter_init_code(), 200_000),
                (TxKind::Create, store_init_code(), 200_000),
            ]
        } else {
            vec![
                (TxKind::Call(counter), Default::default(), 100_000),
                (
                    TxKind::Call(storer),
                    store_call(U256::from(height % 3), U256::from(height % 2)),
                    1_500_000,
                ),
            ]
        };
        let txs: Vec<_> = calls
            .into_iter()
            .map(|(to, input, gas)| {
                let tx = account.call(config.chain_id, nonce, to, input, gas);
                nonce += 1;
                Recovered::new_unchecked(tx, account.address)
            })
            .collect();
        transactions += txs.len() as u64;
        let attributes = BlockAttributes {
            timestamp: height,
            ..BlockAttributes::default()
        };
        let built = state
            .build_block(attributes, txs, ExecuteOptions::default())
            .unwrap();
        assert!(built.rejected.is_empty());
    }
    transactions
}

const BYTES: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("accounts");
const NODES: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("trie_nodes");
const TX_INDEX: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("tx_index");

/// Edits the database file directly, as a failing disk or a hand would.
fn tamper(dir: &Path, edit: impl FnOnce(&redb::WriteTransaction)) {
    let db = redb::Database::open(dir.join(altlayer_storage::DB_FILE)).unwrap();
    let tx = db.begin_write().unwrap();
    edit(&tx);
    tx.commit().unwrap();
}

/// The first entry of a table.
fn first(dir: &Path, table: TableDefinition<'_, &[u8], &[u8]>) -> (Vec<u8>, Vec<u8>) {
    let db = redb::Database::open(dir.join(altlayer_storage::DB_FILE)).unwrap();
    let tx = db.begin_read().unwrap();
    let table = tx.open_table(table).unwrap();
    let (key, value) = table.first().unwrap().unwrap();
    (key.value().to_vec(), value.value().to_vec())
}

fn check(dir: &Path) -> altlayer_storage::CheckReport {
    RedbStore::open(dir, options()).unwrap().check().unwrap()
}

#[test]
fn check_passes_on_what_the_evm_wrote_and_stats_count_it() {
    let dir = tempfile::tempdir().unwrap();
    let transactions = build(dir.path());
    let store = RedbStore::open(dir.path(), options()).unwrap();
    let report = store.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    let head = store.head().unwrap().unwrap();
    assert_eq!(report.flat_root, Some(head.state_root));
    assert_eq!(report.trie_root, Some(head.state_root));
    assert_eq!(report.blocks, BLOCKS + 1);
    assert_eq!(report.transactions, transactions);
    // 2 development accounts, the 10 prefunded system and operator accounts of the dev
    // genesis, and the two contracts: whatever the genesis holds, both roots agree on it.
    assert!(report.accounts >= 4);
    assert!(report.slots > 0);
    assert!(report.trie_nodes > report.accounts);
    assert!(report.log_entries > 0);
    let stats = store.stats().unwrap();
    assert_eq!(stats.head, Some(head));
    assert_eq!(stats.applied, BLOCKS);
    assert!(stats.file_bytes > 0);
    let entries = |name: &str| {
        stats
            .tables
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.entries)
    };
    assert_eq!(entries("headers"), Some(BLOCKS + 1));
    assert_eq!(entries("tx_index"), Some(transactions));
    assert_eq!(entries("accounts"), Some(report.accounts));

    // Two blocks more stay in the journal (their transactions are indexed when applied):
    // the check counts and finds them there.
    drop(store);
    let store = Arc::new(RedbStore::open(dir.path(), options()).unwrap());
    let mut state = EvmStateTransition::open(RollupConfig::default(), store.clone()).unwrap();
    let sender = &DevAccount::many(2)[1];
    for nonce in 0..2 {
        let tx = sender.transfer(
            RollupConfig::default().chain_id,
            nonce,
            sender.address,
            U256::from(1),
        );
        state
            .build_block(
                BlockAttributes {
                    timestamp: BLOCKS + 1 + nonce,
                    ..BlockAttributes::default()
                },
                vec![Recovered::new_unchecked(tx, sender.address)],
                ExecuteOptions::default(),
            )
            .unwrap();
    }
    let report = store.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.transactions, transactions + 2);
    assert_eq!(store.stats().unwrap().applied, BLOCKS);
}

#[test]
fn check_finds_a_changed_account_a_lost_trie_node_and_a_lost_index_entry() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    assert!(check(dir.path()).is_ok());

    // A balance changed on disk: the accounts no longer make the head's root.
    let (key, mut value) = first(dir.path(), BYTES);
    let original = value.clone();
    value[39] ^= 1;
    tamper(dir.path(), |tx| {
        tx.open_table(BYTES)
            .unwrap()
            .insert(key.as_slice(), value.as_slice())
            .unwrap();
    });
    let report = check(dir.path());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("the accounts make state root")),
        "{:?}",
        report.problems
    );
    tamper(dir.path(), |tx| {
        tx.open_table(BYTES)
            .unwrap()
            .insert(key.as_slice(), original.as_slice())
            .unwrap();
    });
    assert!(check(dir.path()).is_ok());

    // A trie node lost: the walk finds its parent's reference dangling.
    let (key, node) = first(dir.path(), NODES);
    // The first key is the account trie's root (owner zero, empty path): take a child.
    let child = {
        let db = redb::Database::open(dir.path().join(altlayer_storage::DB_FILE)).unwrap();
        let tx = db.begin_read().unwrap();
        let table = tx.open_table(NODES).unwrap();
        let mut iter = table.iter().unwrap();
        iter.next();
        let (key, value) = iter.next().unwrap().unwrap();
        (key.value().to_vec(), value.value().to_vec())
    };
    assert_eq!(
        key.len(),
        33,
        "the root's key is the owner and a zero length"
    );
    assert!(!node.is_empty());
    tamper(dir.path(), |tx| {
        tx.open_table(NODES)
            .unwrap()
            .remove(child.0.as_slice())
            .unwrap();
    });
    let report = check(dir.path());
    assert!(
        report.problems.iter().any(|p| p.contains("is missing")),
        "{:?}",
        report.problems
    );
    tamper(dir.path(), |tx| {
        tx.open_table(NODES)
            .unwrap()
            .insert(child.0.as_slice(), child.1.as_slice())
            .unwrap();
    });
    assert!(check(dir.path()).is_ok());

    // A transaction's index entry lost.
    let (key, _) = first(dir.path(), TX_INDEX);
    tamper(dir.path(), |tx| {
        tx.open_table(TX_INDEX)
            .unwrap()
            .remove(key.as_slice())
            .unwrap();
    });
    let report = check(dir.path());
    assert!(
        report.problems.iter().any(|p| p.contains("is not indexed")),
        "{:?}",
        report.problems
    );
}

#[test]
fn prune_drops_old_history_keeps_the_rest_and_shrinks_nothing_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let storer = DevAccount::many(2)[0].address.create(1);
    let slot = U256::from(1u64);
    // Slot 1 is written by blocks whose height % 3 == 1 (to height % 2): read it at each.
    let before: Vec<U256> = {
        let store = RedbStore::open(dir.path(), options()).unwrap();
        (0..=BLOCKS)
            .map(|at| store.storage(at, &storer, &slot).unwrap())
            .collect()
    };
    let store = RedbStore::open(dir.path(), options()).unwrap();
    let report = store.prune(8).unwrap();
    assert!(report.history_entries > 0);
    assert!(report.bytes_after <= report.bytes_before);
    let store = RedbStore::open(dir.path(), options()).unwrap();
    for at in 0..8 {
        assert!(
            matches!(
                store.storage(at, &storer, &slot),
                Err(StorageError::Pruned { oldest: 8, .. })
            ),
            "block {at}"
        );
    }
    for at in 8..=BLOCKS {
        assert_eq!(
            store.storage(at, &storer, &slot).unwrap(),
            before[at as usize]
        );
    }
    assert!(store.check().unwrap().is_ok());
    // The chain goes on after a prune.
    drop(store);
    let store = Arc::new(RedbStore::open(dir.path(), options()).unwrap());
    let mut state = EvmStateTransition::open(RollupConfig::default(), store.clone()).unwrap();
    state
        .build_block(
            BlockAttributes {
                timestamp: BLOCKS + 1,
                ..BlockAttributes::default()
            },
            Vec::new(),
            ExecuteOptions::default(),
        )
        .unwrap();
    assert_eq!(store.head().unwrap().map(|h| h.height), Some(BLOCKS + 1));
}
