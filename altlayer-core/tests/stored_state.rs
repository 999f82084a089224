//! A world state over a store behaves as the same state in memory: same roots, same reads,
//! at the head and as of older blocks, and after unwinding; and the EVM state transition over
//! a store builds the same chain as in memory, and reopens from the store alone.

use alloy_primitives::{Address, U256, map::AddressMap};
use alloy_trie::KECCAK_EMPTY;
use altlayer_core::{
    EvmStateTransition, RollupConfig, StateTransition,
    dev::{DevAccount, dev_state, dev_state_transition},
    primitives::{Block, Header},
    state::{AccountChange, StateChanges, WorldState},
    storage::{BlockCommit, MemoryStore, StateDiff, StateStore, StorageError},
};
use proptest::prelude::*;

mod common;
use std::sync::Arc;

fn addr(i: u8) -> Address {
    Address::with_last_byte(i)
}

/// One account's change in a block: new balance and nonce (or deletion), a wipe, slots.
fn change() -> impl Strategy<Value = (u8, AccountChange)> {
    (
        0u8..40,
        prop::option::weighted(0.9, (0u64..1_000, 0u64..5)),
        prop::bool::weighted(0.05),
        prop::collection::vec((0u8..16, prop_oneof![Just(0u64), 1u64..50]), 0..6),
    )
        .prop_map(|(a, info, cleared, slots)| {
            (
                a,
                AccountChange {
                    info: info.map(|(balance, nonce)| (nonce, U256::from(balance), KECCAK_EMPTY)),
                    storage_cleared: cleared,
                    storage: slots
                        .into_iter()
                        .map(|(s, v)| (U256::from(s), U256::from(v)))
                        .collect(),
                },
            )
        })
}

fn block_changes() -> impl Strategy<Value = StateChanges> {
    prop::collection::vec(change(), 1..12).prop_map(|changes| {
        let mut map = AddressMap::default();
        for (a, change) in changes {
            map.insert(addr(a), change);
        }
        map
    })
}

/// The block after `parent` with `state`'s changes, and the changes taken for the store.
fn block_after(state: &mut WorldState, parent: &Header) -> (Block, StateDiff) {
    let header = Header {
        height: parent.height + 1,
        parent_hash: parent.hash(),
        state_root: state.state_root().unwrap(),
        ..Header::default()
    };
    let block = Block {
        header,
        transactions: vec![],
    };
    (block, state.take_diff().unwrap())
}

fn store_block(store: &MemoryStore, (block, diff): &(Block, StateDiff)) {
    store
        .commit(BlockCommit {
            block,
            hash: block.hash(),
            senders: &[],
            receipts: &[],
            state: diff,
        })
        .unwrap();
}

/// Commits `state`'s changes as the block after `parent` and lets it stand on the store.
fn commit(store: &MemoryStore, state: &mut WorldState, parent: &Header) -> Header {
    let block = block_after(state, parent);
    store_block(store, &block);
    state.stand_on(block.0.header.height);
    block.0.header
}

fn assert_same_reads(memory: &WorldState, stored: &WorldState) {
    for a in 0..40u8 {
        let a = addr(a);
        assert_eq!(memory.leaf(&a).unwrap(), stored.leaf(&a).unwrap(), "{a}");
        for s in 0..16u8 {
            let s = U256::from(s);
            assert_eq!(
                memory.storage(&a, &s).unwrap(),
                stored.storage(&a, &s).unwrap(),
                "{a} slot {s}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Blocks of random changes (creations, deletions, wipes, slots set and zeroed) give the
    /// same root over the store as in memory; replicas kept at older blocks read the state
    /// as of their block; unwinding puts the store back to an older block exactly.
    #[test]
    fn a_state_over_a_store_is_the_state_in_memory(
        blocks in prop::collection::vec(block_changes(), 1..14),
        unwind_to in any::<prop::sample::Index>(),
    ) {
        let store = Arc::new(MemoryStore::archive());
        let mut memory = WorldState::new();
        let genesis_root = memory.state_root().unwrap();
        let genesis = Header { state_root: genesis_root, ..Header::default() };
        let genesis_block = Block { header: genesis.clone(), transactions: vec![] };
        store.commit(BlockCommit {
            block: &genesis_block,
            hash: genesis.hash(),
            senders: &[],
            receipts: &[],
            state: &memory.genesis_diff().unwrap(),
        }).unwrap();
        let mut stored = WorldState::stored(store.clone(), 0, genesis_root);
        let mut head = genesis;
        let mut history = vec![(head.clone(), memory.clone(), stored.clone())];
        for changes in &blocks {
            memory.apply(changes).unwrap();
            stored.apply(changes).unwrap();
            let root = memory.state_root().unwrap();
            prop_assert_eq!(stored.state_root().unwrap(), root);
            prop_assert_eq!(root, memory.state_root_from_scratch());
            head = commit(&store, &mut stored, &head);
            prop_assert_eq!(head.state_root, root);
            assert_same_reads(&memory, &stored);
            history.push((head.clone(), memory.clone(), stored.clone()));
        }
        // Replicas kept at every block still read their block's state, and their roots.
        for (header, memory, stored) in &history {
            assert_same_reads(memory, stored);
            let mut reopened = WorldState::stored(store.clone(), header.height, header.state_root);
            assert_same_reads(memory, &reopened);
            prop_assert_eq!(reopened.state_root().unwrap(), header.state_root);
        }
        // A replica behind the store executes on its own, in memory, and agrees.
        let (behind_header, mut behind_memory, mut behind) = history[0].clone();
        prop_assert_eq!(behind_header.height, 0);
        behind_memory.apply(&blocks[0]).unwrap();
        behind.apply(&blocks[0]).unwrap();
        prop_assert_eq!(behind.state_root().unwrap(), behind_memory.state_root().unwrap());
        // Unwinding takes the store back to an older block, which then reads as it did.
        let to = unwind_to.index(history.len());
        store.unwind(to as u64).unwrap();
        let (header, memory, _) = &history[to];
        prop_assert_eq!(store.head().unwrap().map(|h| h.state_root), Some(header.state_root));
        let mut back = WorldState::stored(store.clone(), header.height, header.state_root);
        assert_same_reads(memory, &back);
        prop_assert_eq!(back.state_root().unwrap(), header.state_root);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A state one block ahead of its store (a replica writing behind: each block's changes
    /// go to the store once the next block is applied) reads as the state in memory after
    /// every block, with memory let go of after every block (a store without a cache keeps
    /// nothing but what the ahead block changed); a block that deletes or wipes is stored
    /// before the next, as such a replica does.
    #[test]
    fn a_state_ahead_of_its_store_is_the_state_in_memory(
        blocks in prop::collection::vec(block_changes(), 1..14),
    ) {
        let store = Arc::new(MemoryStore::default().with_node_cache(0));
        let mut memory = WorldState::new();
        let genesis = Header { state_root: memory.state_root().unwrap(), ..Header::default() };
        store_block(&store, &(
            Block { header: genesis.clone(), transactions: vec![] },
            memory.genesis_diff().unwrap(),
        ));
        let mut stored = WorldState::stored(store.clone(), 0, genesis.state_root);
        let mut head = genesis;
        let mut ahead: Option<(Block, StateDiff)> = None;
        for changes in &blocks {
            memory.apply(changes).unwrap();
            stored.apply(changes).unwrap();
            prop_assert_eq!(stored.state_root().unwrap(), memory.state_root().unwrap());
            let block = block_after(&mut stored, &head);
            head = block.0.header.clone();
            if let Some(previous) = ahead.take() {
                store_block(&store, &previous);
                stored.stand_on_ahead(previous.0.header.height);
            }
            if block.1.wiped.is_empty() {
                ahead = Some(block);
            } else {
                store_block(&store, &block);
                stored.stand_on(head.height);
            }
            assert_same_reads(&memory, &stored);
        }
        if let Some(last) = ahead.take() {
            store_block(&store, &last);
            stored.stand_on(head.height);
        }
        assert_same_reads(&memory, &stored);
        prop_assert_eq!(stored.state_root().unwrap(), head.state_root);
        let reopened = WorldState::stored(store.clone(), head.height, head.state_root);
        assert_same_reads(&memory, &reopened);
    }
}

#[test]
fn history_past_what_is_kept_is_an_error_not_a_wrong_answer() {
    let store = Arc::new(MemoryStore::new(2));
    let mut state = WorldState::new();
    state.set_balance(addr(1), U256::from(1)).unwrap();
    let root = state.state_root().unwrap();
    let genesis = Header {
        state_root: root,
        ..Header::default()
    };
    let block = Block {
        header: genesis.clone(),
        transactions: vec![],
    };
    store
        .commit(BlockCommit {
            block: &block,
            hash: genesis.hash(),
            senders: &[],
            receipts: &[],
            state: &state.genesis_diff().unwrap(),
        })
        .unwrap();
    let mut stored = WorldState::stored(store.clone(), 0, root);
    let old = stored.clone();
    let mut head = genesis;
    for i in 2..6u64 {
        stored.set_balance(addr(1), U256::from(i)).unwrap();
        head = commit(&store, &mut stored, &head);
    }
    assert_eq!(
        old.balance(&addr(1)),
        Err(StorageError::Pruned { at: 0, oldest: 2 })
    );
    assert!(matches!(store.unwind(1), Err(StorageError::Pruned { .. })));
    assert_eq!(stored.balance(&addr(1)), Ok(U256::from(5)));
    // A block that does not extend the head is refused and changes nothing.
    let stray = Block {
        header: Header {
            height: 9,
            ..Header::default()
        },
        transactions: vec![],
    };
    let refused = store.commit(BlockCommit {
        block: &stray,
        hash: stray.hash(),
        senders: &[],
        receipts: &[],
        state: &Default::default(),
    });
    assert!(matches!(refused, Err(StorageError::NotNext { .. })));
    assert_eq!(store.head().unwrap().map(|h| h.height), Some(4));
}

/// Transfers over a state on a store build the same blocks as in
/// memory; a replica opened from the store alone continues the chain identically.
#[test]
fn the_evm_over_a_store_builds_the_chain_it_builds_in_memory_and_reopens() {
    let config = RollupConfig::default();
    let accounts = DevAccount::many(16);
    let mut memory = dev_state_transition(config.clone(), 16);
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::default());
    let mut stored =
        EvmStateTransition::new(config.clone(), dev_state(16), 0, memory.head().base_fee)
            .store_genesis(store.clone())
            .unwrap();
    assert_eq!(stored.head(), memory.head());
    let mut nonces = vec![0u64; accounts.len()];
    let build = |stf: &mut EvmStateTransition, height: u64, nonces: &mut Vec<u64>| {
        common::transfer_block(stf, &accounts, nonces, height).unwrap()
    };
    let mut memory_nonces = nonces.clone();
    for height in 1..=6 {
        let a = build(&mut memory, height, &mut memory_nonces);
        let b = build(&mut stored, height, &mut nonces);
        assert_eq!(a.block, b.block, "block {height}");
        assert_eq!(a.outcome.receipts, b.outcome.receipts);
    }
    assert_eq!(store.head().unwrap().map(|h| h.height), Some(6));
    // A replica opened from the store alone (a restart) continues the chain identically.
    let mut reopened = EvmStateTransition::open(config, store.clone()).unwrap();
    assert_eq!(reopened.head(), memory.head());
    for height in 7..=9 {
        let a = build(&mut memory, height, &mut memory_nonces);
        let b = build(&mut reopened, height, &mut nonces);
        assert_eq!(a.block, b.block, "block {height} after reopening");
    }
    assert_eq!(
        reopened.nonce(&accounts[0].address).unwrap(),
        memory.nonce(&accounts[0].address).unwrap()
    );
    let proof = reopened
        .state()
        .proof(&accounts[1].address, &[])
        .unwrap()
        .unwrap();
    assert_eq!(
        Some(proof),
        memory.state().proof(&accounts[1].address, &[]).unwrap()
    );
}

/// A store that counts the accounts read from it.
#[derive(Debug)]
struct CountingStore {
    inner: MemoryStore,
    accounts: std::sync::atomic::AtomicUsize,
}

impl StateStore for CountingStore {
    fn head(&self) -> Result<Option<altlayer_core::storage::StoredHead>, StorageError> {
        self.inner.head()
    }
    fn block_hash(&self, height: u64) -> Result<Option<alloy_primitives::B256>, StorageError> {
        self.inner.block_hash(height)
    }
    fn header(&self, height: u64) -> Result<Option<Header>, StorageError> {
        self.inner.header(height)
    }
    fn account(
        &self,
        at: u64,
        address: &Address,
    ) -> Result<Option<altlayer_core::storage::StoredAccount>, StorageError> {
        self.accounts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.account(at, address)
    }
    fn storage(&self, at: u64, address: &Address, slot: &U256) -> Result<U256, StorageError> {
        self.inner.storage(at, address, slot)
    }
    fn code(
        &self,
        hash: &alloy_primitives::B256,
    ) -> Result<Option<alloy_primitives::Bytes>, StorageError> {
        self.inner.code(hash)
    }
    fn trie_node(
        &self,
        at: u64,
        owner: &altlayer_core::storage::TrieOwner,
        path: &nybbles::Nibbles,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.trie_node(at, owner, path)
    }
    fn commit(&self, commit: BlockCommit<'_>) -> Result<(), StorageError> {
        self.inner.commit(commit)
    }
    fn unwind(&self, height: u64) -> Result<(), StorageError> {
        self.inner.unwind(height)
    }
    fn node_cache(&self) -> Option<&altlayer_core::storage::NodeCache> {
        self.inner.node_cache()
    }
}

/// Execution reads an account before it writes it (a transfer's recipient more than once):
/// the store answers each account once a block, and answers again once the state stands on
/// the next block, with that block's value.
#[test]
fn an_account_is_read_from_the_store_once_a_block() {
    let store = Arc::new(CountingStore {
        inner: MemoryStore::new(8),
        accounts: Default::default(),
    });
    let reads = || store.accounts.load(std::sync::atomic::Ordering::Relaxed);
    let mut state = WorldState::new();
    state.set_balance(addr(1), U256::from(7)).unwrap();
    let root = state.state_root().unwrap();
    let genesis = Header {
        state_root: root,
        ..Header::default()
    };
    let block = Block {
        header: genesis.clone(),
        transactions: vec![],
    };
    store
        .commit(BlockCommit {
            block: &block,
            hash: genesis.hash(),
            senders: &[],
            receipts: &[],
            state: &state.genesis_diff().unwrap(),
        })
        .unwrap();
    let mut stored = WorldState::stored(store.clone(), 0, root);
    let before = reads();
    assert_eq!(stored.balance(&addr(1)), Ok(U256::from(7)));
    assert_eq!(stored.nonce(&addr(1)), Ok(0));
    assert_eq!(stored.balance(&addr(2)), Ok(U256::ZERO));
    assert_eq!(stored.balance(&addr(2)), Ok(U256::ZERO));
    assert_eq!(reads() - before, 2, "one read per account");
    stored.set_balance(addr(1), U256::from(8)).unwrap();
    assert_eq!(
        reads() - before,
        2,
        "loading an account read already reads nothing"
    );
    assert_eq!(stored.balance(&addr(1)), Ok(U256::from(8)));

    // The block committed, the state stands on it: what was read at block 0 is not
    // answered for block 1 (read again, once).
    let header = commit(&store.inner, &mut stored, &genesis);
    let before = reads();
    assert_eq!(stored.balance(&addr(2)), Ok(U256::ZERO));
    assert_eq!(stored.balance(&addr(2)), Ok(U256::ZERO));
    assert_eq!(reads() - before, 1);
    assert_eq!(stored.balance(&addr(1)), Ok(U256::from(8)));
    let reopened = WorldState::stored(store.clone(), 1, header.state_root);
    assert_eq!(reopened.balance(&addr(1)), Ok(U256::from(8)));
}

/// A state that holds more than its bound lets go of it, but for the accounts the block just
/// committed changed: the next block finds them (a block's senders, a hot contract) without
/// reading them, and the others are read again. Roots stay exact.
#[test]
fn letting_go_keeps_what_the_last_block_changed() {
    // A 64 KiB node cache: a state holds 64 accounts or nodes between blocks.
    let store = Arc::new(CountingStore {
        inner: MemoryStore::new(8).with_node_cache(64 << 10),
        accounts: Default::default(),
    });
    let reads = || store.accounts.load(std::sync::atomic::Ordering::Relaxed);
    let mut memory = WorldState::new();
    for i in 1..=200u8 {
        memory.set_balance(addr(i), U256::from(i)).unwrap();
    }
    let root = memory.state_root().unwrap();
    let mut head = Header {
        state_root: root,
        ..Header::default()
    };
    let block = Block {
        header: head.clone(),
        transactions: vec![],
    };
    store
        .commit(BlockCommit {
            block: &block,
            hash: head.hash(),
            senders: &[],
            receipts: &[],
            state: &memory.genesis_diff().unwrap(),
        })
        .unwrap();
    let mut stored = WorldState::stored(store.clone(), 0, root);
    // Three blocks of eight accounts each: the third takes the state past its bound.
    for block in 0..3u8 {
        for i in 1 + 8 * block..=8 + 8 * block {
            memory.set_balance(addr(i), U256::from(1_000)).unwrap();
            stored.set_balance(addr(i), U256::from(1_000)).unwrap();
        }
        head = commit(&store.inner, &mut stored, &head);
        assert_eq!(head.state_root, memory.state_root().unwrap());
    }
    let before = reads();
    for i in 17..=24 {
        assert_eq!(stored.balance(&addr(i)), Ok(U256::from(1_000)));
    }
    assert_eq!(reads() - before, 0, "the last block's accounts are held");
    assert_eq!(stored.balance(&addr(1)), Ok(U256::from(1_000)));
    assert_eq!(reads() - before, 1, "the earlier blocks' were let go of");
    for i in [1u8, 17, 30] {
        memory.set_balance(addr(i), U256::from(7)).unwrap();
        stored.set_balance(addr(i), U256::from(7)).unwrap();
    }
    let head = commit(&store.inner, &mut stored, &head);
    assert_eq!(head.state_root, memory.state_root().unwrap());
}
