//! A replica writing its blocks behind execution ([`EvmStateTransition::set_write_behind`]):
//! the same chain as in memory, the store one block behind at most and whole once flushed,
//! and a failed write that loses only the blocks not written.

mod common;

use alloy_primitives::{Address, B256, Bytes, U256};
use altlayer_core::{
    EvmStateTransition, RollupConfig,
    dev::{DevAccount, dev_state, dev_state_transition},
    primitives::Header,
    storage::{
        BlockCommit, MemoryStore, NodeCache, StateStore, StorageError, StoredAccount, StoredHead,
        TrieOwner,
    },
};
use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

/// A store in memory whose commit of block `fail_at` fails.
#[derive(Debug)]
struct FailingStore {
    inner: MemoryStore,
    fail_at: AtomicU64,
}

/// No block fails.
const NONE: u64 = u64::MAX;

impl StateStore for FailingStore {
    fn head(&self) -> Result<Option<StoredHead>, StorageError> {
        self.inner.head()
    }
    fn block_hash(&self, height: u64) -> Result<Option<B256>, StorageError> {
        self.inner.block_hash(height)
    }
    fn header(&self, height: u64) -> Result<Option<Header>, StorageError> {
        self.inner.header(height)
    }
    fn account(&self, at: u64, address: &Address) -> Result<Option<StoredAccount>, StorageError> {
        self.inner.account(at, address)
    }
    fn storage(&self, at: u64, address: &Address, slot: &U256) -> Result<U256, StorageError> {
        self.inner.storage(at, address, slot)
    }
    fn code(&self, hash: &B256) -> Result<Option<Bytes>, StorageError> {
        self.inner.code(hash)
    }
    fn trie_node(
        &self,
        at: u64,
        owner: &TrieOwner,
        path: &nybbles::Nibbles,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.trie_node(at, owner, path)
    }
    fn commit(&self, commit: BlockCommit<'_>) -> Result<(), StorageError> {
        if commit.block.header.height == self.fail_at.load(Ordering::SeqCst) {
            return Err(StorageError::Backend("disk full".into()));
        }
        self.inner.commit(commit)
    }
    fn unwind(&self, height: u64) -> Result<(), StorageError> {
        self.inner.unwind(height)
    }
    fn node_cache(&self) -> Option<&NodeCache> {
        self.inner.node_cache()
    }
}

const ACCOUNTS: u64 = 16;

fn over(store: Arc<dyn StateStore>, memory: &EvmStateTransition) -> EvmStateTransition {
    let mut stf = EvmStateTransition::new(
        memory.config().clone(),
        dev_state(ACCOUNTS),
        0,
        memory.head().base_fee,
    )
    .store_genesis(store)
    .unwrap();
    stf.set_write_behind(true).unwrap();
    stf
}

#[test]
fn a_replica_writing_behind_builds_the_chain_it_builds_in_memory() {
    let config = RollupConfig::default();
    let accounts = DevAccount::many(ACCOUNTS);
    let mut memory = dev_state_transition(config.clone(), ACCOUNTS);
    // No node cache: memory lets go of all it may after every block.
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::default().with_node_cache(0));
    let mut behind = over(store.clone(), &memory);
    let (mut memory_nonces, mut nonces) = (vec![0; 16], vec![0; 16]);
    for height in 1..=12 {
        let a = common::transfer_block(&mut memory, &accounts, &mut memory_nonces, height).unwrap();
        let b = common::transfer_block(&mut behind, &accounts, &mut nonces, height).unwrap();
        assert_eq!(a.block, b.block, "block {height}");
        assert_eq!(a.outcome.receipts, b.outcome.receipts);
        // The store is at most one block behind the replica.
        let stored = store.head().unwrap().unwrap().height;
        assert!(
            stored + 1 >= height && stored <= height,
            "{stored} at {height}"
        );
        for account in &accounts {
            assert_eq!(
                behind.state().account_info(&account.address).unwrap(),
                memory.state().account_info(&account.address).unwrap()
            );
        }
    }
    behind.flush().unwrap();
    assert_eq!(
        store.head().unwrap().map(|h| h.hash),
        Some(memory.head().hash())
    );
    // What the store holds alone (a restart) continues the chain identically.
    let mut reopened = EvmStateTransition::open(config, store).unwrap();
    reopened.set_write_behind(true).unwrap();
    for height in 13..=16 {
        let a = common::transfer_block(&mut memory, &accounts, &mut memory_nonces, height).unwrap();
        let b = common::transfer_block(&mut reopened, &accounts, &mut nonces, height).unwrap();
        assert_eq!(a.block, b.block, "block {height} after reopening");
    }
    reopened.set_write_behind(false).unwrap();
    assert_eq!(reopened.head(), memory.head());
}

#[test]
fn a_failed_write_behind_loses_only_the_blocks_not_written() {
    let config = RollupConfig::default();
    let accounts = DevAccount::many(ACCOUNTS);
    let memory = dev_state_transition(config.clone(), ACCOUNTS);
    let store = Arc::new(FailingStore {
        inner: MemoryStore::default().with_node_cache(0),
        fail_at: AtomicU64::new(NONE),
    });
    let mut behind = over(store.clone(), &memory);
    let mut nonces = vec![0; 16];
    for height in 1..=4 {
        common::transfer_block(&mut behind, &accounts, &mut nonces, height).unwrap();
    }
    // Block 5's write fails: the build of block 6, which waits for it, says so, and the
    // replica stands on the store's head (block 4) again, its state the store's.
    store.fail_at.store(5, Ordering::SeqCst);
    let mut before_failure = nonces.clone();
    common::transfer_block(&mut behind, &accounts, &mut nonces, 5).unwrap();
    let error = common::transfer_block(&mut behind, &accounts, &mut nonces, 6).unwrap_err();
    assert!(error.contains("disk full"), "{error}");
    let head = store.head().unwrap().unwrap();
    assert_eq!(head.height, 4);
    assert_eq!(behind.head().hash(), head.hash);
    let reopened = EvmStateTransition::open(config, store.clone()).unwrap();
    for account in &accounts {
        assert_eq!(
            behind.state().account_info(&account.address).unwrap(),
            reopened.state().account_info(&account.address).unwrap()
        );
    }
    // The chain goes on from there once the store takes blocks again.
    store.fail_at.store(NONE, Ordering::SeqCst);
    for height in 5..=7 {
        common::transfer_block(&mut behind, &accounts, &mut before_failure, height).unwrap();
    }
    behind.flush().unwrap();
    assert_eq!(store.head().unwrap().map(|h| h.height), Some(7));
    assert_eq!(
        store.head().unwrap().map(|h| h.state_root),
        Some(behind.head().state_root)
    );
}
