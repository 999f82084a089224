//! The redb store against core's in-memory store (the reference), the EVM over it with
//! contracts, logs and a restart, and what it does with files that are not its own.

use alloy_consensus::transaction::Recovered;
use alloy_primitives::{Address, TxKind, U256, map::AddressMap};
use alloy_trie::KECCAK_EMPTY;
use altlayer_core::{
    EvmStateTransition, RollupConfig,
    dev::{DevAccount, counter_init_code, dev_state_transition, store_call, store_init_code},
    execution::{BlockAttributes, ExecuteOptions},
    primitives::{Block, Header},
    state::{AccountChange, StateChanges, WorldState},
    storage::{
        ACCOUNT_TRIE, BlockCommit, ChainStore, LogKey, MemoryStore, StateDiff, StateStore,
        StorageError,
    },
};
use altlayer_storage::{OpenError, RedbStore, StoreOptions};
use nybbles::Nibbles;
use proptest::prelude::*;
use std::sync::Arc;

fn addr(i: u8) -> Address {
    Address::with_last_byte(i)
}

/// Small batches, so that the tests go through applying the journal to the tables.
fn options(history: Option<u64>) -> StoreOptions {
    StoreOptions {
        cache_bytes: 4 << 20,
        history,
        apply_every: 4,
    }
}

/// One block's changes; without `wipes`, accounts are (all but never) deleted or wiped, so
/// the journal goes into the tables merged, key by key (proptest's weights must be below 1).
fn block_changes(wipes: bool) -> impl Strategy<Value = StateChanges> {
    let (deletions, cleared) = if wipes {
        (0.9, 0.05)
    } else {
        (0.999_999, 0.000_001)
    };
    let change = (
        0u8..30,
        prop::option::weighted(deletions, (0u64..1_000, 0u64..5)),
        prop::bool::weighted(cleared),
        prop::collection::vec((0u8..12, prop_oneof![Just(0u64), 1u64..50]), 0..5),
    )
        .prop_map(|(a, info, cleared, slots)| {
            (
                addr(a),
                AccountChange {
                    info: info.map(|(b, n)| (n, U256::from(b), KECCAK_EMPTY)),
                    storage_cleared: cleared,
                    storage: slots
                        .into_iter()
                        .map(|(s, v)| (U256::from(s), U256::from(v)))
                        .collect(),
                },
            )
        });
    prop::collection::vec(change, 1..10).prop_map(|c| c.into_iter().collect::<AddressMap<_>>())
}

/// Commits the changes of `state` as the block after `parent` to `store`.
fn commit(store: &dyn StateStore, state: &mut WorldState, parent: &Header) -> Header {
    let header = Header {
        height: parent.height + 1,
        parent_hash: parent.hash(),
        state_root: state.state_root().unwrap(),
        ..Header::default()
    };
    let block = Block {
        header: header.clone(),
        transactions: vec![],
    };
    let diff = state.take_diff().unwrap();
    store
        .commit(BlockCommit {
            block: &block,
            hash: block.hash(),
            senders: &[],
            receipts: &[],
            state: &diff,
        })
        .unwrap();
    state.stand_on(header.height);
    header
}

fn genesis(store: &dyn StateStore) -> Header {
    let mut state = WorldState::new();
    state.set_balance(addr(1), U256::from(7)).unwrap();
    let header = Header {
        state_root: state.state_root().unwrap(),
        ..Header::default()
    };
    let block = Block {
        header: header.clone(),
        transactions: vec![],
    };
    store
        .commit(BlockCommit {
            block: &block,
            hash: header.hash(),
            senders: &[],
            receipts: &[],
            state: &state.genesis_diff().unwrap(),
        })
        .unwrap();
    header
}

/// Every key the test touches reads the same from both stores, as of `at`.
fn same_reads(a: &dyn StateStore, b: &dyn StateStore, at: u64) {
    for i in 0..30u8 {
        assert_eq!(
            a.account(at, &addr(i)),
            b.account(at, &addr(i)),
            "account {i} at {at}"
        );
        for s in 0..12u8 {
            let s = U256::from(s);
            assert_eq!(a.storage(at, &addr(i), &s), b.storage(at, &addr(i), &s));
        }
    }
    assert_eq!(
        a.trie_node(at, &ACCOUNT_TRIE, &Nibbles::new()),
        b.trie_node(at, &ACCOUNT_TRIE, &Nibbles::new())
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The same blocks committed to redb and to the in-memory reference give the same head,
    /// the same reads as of every block kept (archive, or 5 blocks of history), the same
    /// unwinding, and the same after reopening the file.
    #[test]
    fn redb_answers_as_the_reference_store(
        // Up to 40 blocks: the journal goes into the tables every 4 beyond the history.
        blocks in any::<bool>().prop_flat_map(|wipes| prop::collection::vec(block_changes(wipes), 1..40)),
        history in prop_oneof![Just(None), Just(Some(5u64))],
        unwind in any::<prop::sample::Index>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let redb = Arc::new(RedbStore::open(dir.path(), options(history)).unwrap());
        let memory = Arc::new(history.map_or_else(MemoryStore::archive, MemoryStore::new));
        let g = genesis(&*redb);
        prop_assert_eq!(genesis(&*memory), g.clone());
        let mut on_redb = WorldState::stored(redb.clone(), 0, g.state_root);
        let mut on_memory = WorldState::stored(memory.clone(), 0, g.state_root);
        let (mut head_r, mut head_m) = (g.clone(), g);
        for changes in &blocks {
            on_redb.apply(changes).unwrap();
            on_memory.apply(changes).unwrap();
            head_r = commit(&*redb, &mut on_redb, &head_r);
            head_m = commit(&*memory, &mut on_memory, &head_m);
            prop_assert_eq!(&head_r, &head_m);
        }
        prop_assert_eq!(redb.head().unwrap(), memory.head().unwrap());
        let head = head_r.height;
        let oldest = history.map_or(0, |h| head.saturating_sub(h));
        for at in oldest..=head {
            same_reads(&*redb, &*memory, at);
        }
        if oldest > 0 {
            prop_assert_eq!(
                redb.account(oldest - 1, &addr(1)),
                Err(StorageError::Pruned { at: oldest - 1, oldest })
            );
        }
        // Reopened from the file (the journal replayed), it still answers the same.
        drop(on_redb);
        drop(redb);
        let redb = Arc::new(RedbStore::open(dir.path(), options(history)).unwrap());
        for at in oldest..=head {
            same_reads(&*redb, &*memory, at);
        }
        let to = oldest + unwind.index((head - oldest) as usize + 1) as u64;
        redb.unwind(to).unwrap();
        memory.unwind(to).unwrap();
        prop_assert_eq!(redb.head().unwrap(), memory.head().unwrap());
        same_reads(&*redb, &*memory, to);
        let root = redb.head().unwrap().unwrap().state_root;
        let mut state = WorldState::stored(redb.clone(), to, root);
        prop_assert_eq!(state.state_root().unwrap(), root);
        // And it goes on from there.
        let header = redb.header(to).unwrap().unwrap();
        state.apply(&blocks[0]).unwrap();
        commit(&*redb, &mut state, &header);
    }
}

#[test]
fn history_is_pruned_to_its_depth_and_older_reads_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path(), options(Some(3))).unwrap());
    let mut head = genesis(&*store);
    let mut state = WorldState::stored(store.clone(), 0, head.state_root);
    for i in 0..6u64 {
        state.set_balance(addr(1), U256::from(100 + i)).unwrap();
        head = commit(&*store, &mut state, &head);
    }
    assert_eq!(head.height, 6);
    assert_eq!(
        store.account(3, &addr(1)).unwrap().map(|a| a.balance),
        Some(U256::from(102))
    );
    assert_eq!(
        store.account(2, &addr(1)),
        Err(StorageError::Pruned { at: 2, oldest: 3 })
    );
    assert!(matches!(store.unwind(2), Err(StorageError::Pruned { .. })));
    assert!(matches!(
        store.account(7, &addr(1)),
        Err(StorageError::Ahead { .. })
    ));
    // Past the journal's window the oldest blocks go into the tables without history: their
    // states are gone, and the file says so, so that opening it as an archive refuses them
    // instead of answering with a later state.
    for i in 6..10u64 {
        state.set_balance(addr(1), U256::from(100 + i)).unwrap();
        head = commit(&*store, &mut state, &head);
    }
    drop(state);
    drop(store);
    let archive = RedbStore::open(dir.path(), options(None)).unwrap();
    let oldest = match archive.account(1, &addr(1)) {
        Err(StorageError::Pruned { oldest, .. }) => oldest,
        other => panic!("{other:?}"),
    };
    assert!(oldest > 1);
    for at in oldest..=head.height {
        assert_eq!(
            archive.account(at, &addr(1)).unwrap().map(|a| a.balance),
            Some(U256::from(99 + at))
        );
    }
}

/// Contracts with storage and logs over redb: the same blocks as in memory, the chain's
/// blocks, receipts, transaction and log indexes read back, and a restart from the file.
#[test]
fn the_evm_over_redb_builds_the_in_memory_chain_and_restarts_from_the_file() {
    let config = RollupConfig::default();
    let chain_id = config.chain_id;
    let dir = tempfile::tempdir().unwrap();
    let accounts = DevAccount::many(4);
    // The same chain over the in-memory store: the reference for every chain read.
    let reference = Arc::new(MemoryStore::archive());
    let mut memory = dev_state_transition(config.clone(), 4)
        .store_genesis(reference.clone())
        .unwrap();
    // An archive applying the journal every 4 blocks: the unwind below goes through the
    // tables' history.
    let store = Arc::new(RedbStore::open(dir.path(), options(None)).unwrap());
    let mut stored = dev_state_transition(config.clone(), 4)
        .store_genesis(store.clone())
        .unwrap();
    let counter = accounts[0].address.create(0);
    let storer = accounts[0].address.create(1);
    let mut nonce = 0u64;
    let mut txs_for = |height: u64| -> Vec<Recovered<alloy_consensus::TxEnvelope>> {
        let a = &accounts[0];
        let calls = if height == 1 {
            vec![
                (TxKind::Create, counter_init_code(), 200_000),
                (TxKind::Create, store_init_code(), 200_000),
            ]
        } else {
            // Every other block sets 32 slots, the blocks between delete them again.
            let value = U256::from(height % 2);
            vec![
                (TxKind::Call(counter), Default::default(), 100_000),
                (
                    TxKind::Call(storer),
                    store_call(U256::from(height % 3), value),
                    1_500_000,
                ),
            ]
        };
        calls
            .into_iter()
            .map(|(to, input, gas)| {
                let tx = a.call(chain_id, nonce, to, input, gas);
                nonce += 1;
                Recovered::new_unchecked(tx, a.address)
            })
            .collect()
    };
    let mut hashes = Vec::new();
    for height in 1..=18u64 {
        let txs = txs_for(height);
        let attributes = BlockAttributes {
            timestamp: height,
            ..BlockAttributes::default()
        };
        let a = memory
            .build_block(attributes.clone(), txs.clone(), ExecuteOptions::default())
            .unwrap();
        let b = stored
            .build_block(attributes, txs, ExecuteOptions::default())
            .unwrap();
        assert!(a.rejected.is_empty(), "{:?}", a.rejected);
        assert_eq!(a.block, b.block, "block {height}");
        hashes.push((b.block.clone(), b.outcome.receipts.clone()));
    }
    // The chain reads back as written.
    for (block, receipts) in &hashes {
        let height = block.header.height;
        let stored = store.block(height).unwrap().unwrap();
        assert_eq!(&stored.block, block);
        assert_eq!(stored.hash, block.hash());
        assert_eq!(&stored.receipts, receipts);
        assert_eq!(stored.senders.len(), block.transactions.len());
        assert_eq!(Some(stored), reference.block(height).unwrap());
        assert_eq!(store.block_height(&block.hash()).unwrap(), Some(height));
        for (i, tx) in block.transactions.iter().enumerate() {
            assert_eq!(
                store.transaction_location(tx.tx_hash()).unwrap(),
                Some((height, i))
            );
        }
    }
    // The log index answers as the reference's does, for every key and range.
    for key in [
        LogKey::Address(counter),
        LogKey::Address(storer),
        LogKey::Topic(accounts[0].address.into_word()),
        LogKey::Topic(alloy_primitives::B256::ZERO),
    ] {
        for (from, to) in [(0, 18), (3, 3), (5, 2), (17, 40)] {
            assert_eq!(
                store.log_heights(&key, from, to).unwrap(),
                reference.log_heights(&key, from, to).unwrap(),
                "{key:?} {from}..={to}"
            );
        }
    }
    // The counter logs every call from block 2 on, with the caller as its topic.
    assert_eq!(
        store.log_heights(&LogKey::Address(counter), 0, 18).unwrap(),
        (2..=18).collect::<Vec<_>>()
    );
    let caller = accounts[0].address.into_word();
    assert_eq!(
        store.log_heights(&LogKey::Topic(caller), 4, 6).unwrap(),
        vec![4, 5, 6]
    );
    assert!(
        store
            .log_heights(&LogKey::Address(storer), 0, 18)
            .unwrap()
            .is_empty()
    );
    // A restart: drop everything, open the file, continue the chain identically.
    let root = stored.state_root();
    drop(stored);
    drop(store);
    let store = Arc::new(RedbStore::open(dir.path(), options(None)).unwrap());
    let mut reopened = EvmStateTransition::open(config, store.clone()).unwrap();
    assert_eq!(reopened.state_root(), root);
    // Every transaction is found again: those of applied blocks in the index table, those of
    // the blocks still in the journal (17 and 18) from their bodies.
    for (block, _) in &hashes {
        for (i, tx) in block.transactions.iter().enumerate() {
            assert_eq!(
                store.transaction_location(tx.tx_hash()).unwrap(),
                Some((block.header.height, i)),
                "after the reopen"
            );
        }
    }
    assert_eq!(reopened.head(), memory.head());
    for height in 19..=20u64 {
        let txs = txs_for(height);
        let attributes = BlockAttributes {
            timestamp: height,
            ..BlockAttributes::default()
        };
        let a = memory
            .build_block(attributes.clone(), txs.clone(), ExecuteOptions::default())
            .unwrap();
        let b = reopened
            .build_block(attributes, txs, ExecuteOptions::default())
            .unwrap();
        assert_eq!(a.block, b.block, "block {height} after the restart");
    }
    // Unwinding the last blocks takes the chain and its indexes back too.
    // Back to block 8: the tables' history takes back what the journal applied.
    let last = store.block(20).unwrap().unwrap();
    store.unwind(8).unwrap();
    assert!(store.block(20).unwrap().is_none());
    assert_eq!(
        store
            .transaction_location(last.block.transactions[0].tx_hash())
            .unwrap(),
        None
    );
    assert_eq!(
        store.log_heights(&LogKey::Address(counter), 0, 20).unwrap(),
        (2..=8).collect::<Vec<_>>()
    );
    for (block, _) in &hashes {
        let kept = block.header.height <= 8;
        for (i, tx) in block.transactions.iter().enumerate() {
            assert_eq!(
                store.transaction_location(tx.tx_hash()).unwrap(),
                kept.then_some((block.header.height, i)),
                "after the unwind"
            );
        }
    }
    assert_eq!(
        store.head().unwrap().map(|h| (h.height, h.hash)),
        Some((8, hashes[7].0.hash()))
    );
    // The state is block 8's: a replica opened on it has block 8's root, and so does the
    // store after reopening the file.
    drop(reopened);
    let at_eight = EvmStateTransition::open(RollupConfig::default(), store.clone()).unwrap();
    assert_eq!(at_eight.state_root(), hashes[7].0.header.state_root);
    drop(at_eight);
    drop(store);
    let store = Arc::new(RedbStore::open(dir.path(), options(None)).unwrap());
    let mut state = WorldState::stored(store.clone(), 8, hashes[7].0.header.state_root);
    assert_eq!(state.state_root().unwrap(), hashes[7].0.header.state_root);
    assert_eq!(store.head().unwrap().map(|h| h.height), Some(8));
}

#[test]
fn a_file_that_is_not_an_altlayer_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(altlayer_storage::DB_FILE);
    std::fs::write(&path, b"this is not a database, and must stay as it is").unwrap();
    let before = std::fs::read(&path).unwrap();
    let error = RedbStore::open(dir.path(), options(None)).unwrap_err();
    assert!(matches!(error, OpenError::Database { .. }), "{error}");
    assert!(!error.to_string().contains('\n'));
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // A real database cut short is refused too, and not rewritten.
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RedbStore::open(dir.path(), options(None)).unwrap();
        genesis(&store);
    }
    let path = dir.path().join(altlayer_storage::DB_FILE);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
    let cut = std::fs::read(&path).unwrap();
    let error = RedbStore::open(dir.path(), options(None)).unwrap_err();
    assert!(!error.to_string().contains('\n'), "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), cut);
}

#[test]
fn protocol_records_are_written_together_and_read_back_after_a_reopen() {
    use altlayer_core::storage::ProtocolStore;
    let dir = tempfile::tempdir().unwrap();
    let reference = MemoryStore::default();
    // Each write: records by name, `None` deleting one.
    type Records<'a> = &'a [(&'a str, Option<&'a [u8]>)];
    let writes: [Records<'_>; 3] = [
        &[("rollup", Some(b"one")), ("squad/0", Some(b"locked"))],
        &[("rollup", Some(b"two")), ("mach/1", Some(b""))],
        &[("squad/0", None), ("absent", None)],
    ];
    {
        let store = RedbStore::open(dir.path(), options(None)).unwrap();
        for records in writes {
            store.write_records(records).unwrap();
            reference.write_records(records).unwrap();
        }
    }
    let store = RedbStore::open(dir.path(), options(None)).unwrap();
    for name in ["rollup", "squad/0", "mach/1", "absent", ""] {
        assert_eq!(
            store.record(name).unwrap(),
            reference.record(name).unwrap(),
            "{name}"
        );
    }
    assert_eq!(
        store.record("rollup").unwrap().as_deref(),
        Some(&b"two"[..])
    );
    assert_eq!(store.record("mach/1").unwrap().as_deref(), Some(&b""[..]));
    assert_eq!(store.record("squad/0").unwrap(), None);
}

/// A genesis import cut short (parts written, no genesis block) is dropped when the store is
/// opened again, and the import starts from nothing.
#[test]
fn a_genesis_import_cut_short_starts_again_empty() {
    use altlayer_core::storage::StoredAccount;
    let dir = tempfile::tempdir().unwrap();
    let part = StateDiff {
        accounts: vec![(
            addr(1),
            Some(StoredAccount {
                nonce: 1,
                balance: U256::from(5),
                code_hash: KECCAK_EMPTY,
                storage_root: alloy_trie::EMPTY_ROOT_HASH,
            }),
        )],
        nodes: vec![(
            ACCOUNT_TRIE,
            Nibbles::from_nibbles([1, 2]),
            Some(vec![0xc0; 40]),
        )],
        ..StateDiff::default()
    };
    {
        let store = RedbStore::open(dir.path(), options(Some(4))).unwrap();
        store.import(&part).unwrap();
        assert_eq!(store.head().unwrap(), None);
    }
    let store = RedbStore::open(dir.path(), options(Some(4))).unwrap();
    assert_eq!(store.head().unwrap(), None);
    let stats = store.stats().unwrap();
    for table in ["accounts", "trie_nodes"] {
        let entries = stats
            .tables
            .iter()
            .find(|t| t.name == table)
            .unwrap()
            .entries;
        assert_eq!(entries, 0, "{table}");
    }
    // After a genesis block, an import is refused.
    genesis(&store);
    assert!(matches!(
        store.import(&part),
        Err(StorageError::NotNext { .. })
    ));
}

#[test]
fn a_chain_taken_back_goes_forward_again_to_the_block_the_records_stand_on() {
    // A revert takes the chain back from block 10 to 6 and builds another block 7; the node
    // stops before recording it. Its records stand on the old block 10: the store goes
    // forward again to it from the blocks the unwind kept.
    let config = RollupConfig::default();
    let chain_id = config.chain_id;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path(), options(Some(8))).unwrap());
    let accounts = DevAccount::many(2);
    let mut replica = dev_state_transition(config.clone(), 2)
        .store_genesis(store.clone())
        .unwrap();
    let transfer = |from: usize, nonce: u64, to: u8| {
        let account = &accounts[from];
        Recovered::new_unchecked(
            account.transfer(chain_id, nonce, addr(to), U256::from(1_000)),
            account.address,
        )
    };
    let mut old = Vec::new();
    for height in 1..=10u64 {
        let built = replica
            .build_block(
                BlockAttributes {
                    timestamp: height,
                    ..BlockAttributes::default()
                },
                vec![transfer(0, height - 1, 0x10)],
                ExecuteOptions::default(),
            )
            .unwrap();
        old.push(built.block);
    }
    let (old_head, old_root) = (old[9].hash(), old[9].header.state_root);
    drop(replica);

    store.unwind(6).unwrap();
    let mut other = EvmStateTransition::open_at(config.clone(), store.clone(), 6).unwrap();
    let new = other
        .build_block(
            BlockAttributes {
                timestamp: 7,
                ..BlockAttributes::default()
            },
            vec![transfer(1, 0, 0x20)],
            ExecuteOptions::default(),
        )
        .unwrap()
        .block;
    drop(other);
    assert_eq!(store.block_hash(7).unwrap(), Some(new.hash()));

    // Not a block the unwind kept: nothing changes.
    assert!(!store.forward_to(10, new.hash()).unwrap());
    assert!(!store.forward_to(12, old_head).unwrap());
    assert_eq!(store.head().unwrap().unwrap().hash, new.hash());

    assert!(store.forward_to(10, old_head).unwrap());
    let head = store.head().unwrap().unwrap();
    assert_eq!(
        (head.height, head.hash, head.state_root),
        (10, old_head, old_root)
    );
    for block in &old {
        let height = block.header.height;
        assert_eq!(store.block(height).unwrap().unwrap().block, *block);
        assert_eq!(
            store
                .transaction_location(block.transactions[0].tx_hash())
                .unwrap(),
            Some((height, 0))
        );
    }
    assert_eq!(
        store
            .transaction_location(new.transactions[0].tx_hash())
            .unwrap(),
        None
    );
    // The state is the old chain's, and it is on disk: a replica over the reopened file has
    // the old root and goes on.
    drop(store);
    let store = Arc::new(RedbStore::open(dir.path(), options(Some(8))).unwrap());
    let mut resumed = EvmStateTransition::open(config, store.clone()).unwrap();
    assert_eq!(resumed.state_root(), old_root);
    resumed
        .build_block(
            BlockAttributes {
                timestamp: 11,
                ..BlockAttributes::default()
            },
            vec![transfer(0, 10, 0x10)],
            ExecuteOptions::default(),
        )
        .unwrap();
    assert_eq!(store.head().unwrap().unwrap().height, 11);
}

/// The decoded trie nodes the states over a store keep (in the state between blocks, and in
/// the store's cache by hash) never change a root: with a cache of nothing (every block lets
/// go of everything and reads it again), a small one (the states let go after every block,
/// into the cache) and a large one (the state keeps everything), 20 blocks of 300 accounts
/// and storage give the roots of the same blocks in memory; a replica opened afterwards at
/// an older block (nodes of another root) hashes to that block's root and goes on exactly,
/// finding its nodes in the cache the state let go of them into.
#[test]
fn decoded_nodes_kept_between_blocks_and_shared_by_hash_leave_every_root_exact() {
    let block = |b: u64| -> StateChanges {
        (0..300u64)
            .map(|i| {
                let address = Address::from_word(alloy_primitives::keccak256(
                    ((b * 131 + i * 7) % 1_000).to_be_bytes(),
                ));
                let slots = (i % 10 == 0)
                    .then(|| (U256::from(b % 3), U256::from(b * 1_000 + i)))
                    .into_iter()
                    .collect();
                let change = AccountChange {
                    info: Some((b, U256::from(b * 10 + i), KECCAK_EMPTY)),
                    storage_cleared: false,
                    storage: slots,
                };
                (address, change)
            })
            .collect()
    };
    for cache_bytes in [0, 1 << 20, 64 << 20] {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            cache_bytes,
            history: Some(16),
            apply_every: 4,
        };
        let store = Arc::new(RedbStore::open(dir.path(), options).unwrap());
        let g = genesis(&*store);
        let mut memory = WorldState::new();
        memory.set_balance(addr(1), U256::from(7)).unwrap();
        let mut stored = WorldState::stored(store.clone(), 0, g.state_root);
        let mut head = g;
        let mut roots = vec![head.state_root];
        for b in 1..=20 {
            memory.apply(&block(b)).unwrap();
            stored.apply(&block(b)).unwrap();
            head = commit(&*store, &mut stored, &head);
            assert_eq!(head.state_root, memory.state_root().unwrap(), "block {b}");
            roots.push(head.state_root);
        }
        let hits = store.node_cache().map_or(0, |c| c.stats().hits);
        let mut replica = WorldState::stored(store.clone(), 15, roots[15]);
        assert_eq!(replica.state_root().unwrap(), roots[15]);
        replica.apply(&block(16)).unwrap();
        assert_eq!(
            replica.state_root().unwrap(),
            roots[16],
            "cache {cache_bytes}"
        );
        let cache = store.node_cache().unwrap().stats();
        assert!(cache.bytes <= cache.budget, "{cache:?}");
        if cache_bytes == 1 << 20 {
            assert!(
                cache.hits > hits,
                "the replica found no node in the cache: {cache:?}"
            );
        }
    }
}
