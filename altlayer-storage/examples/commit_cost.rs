//! Where a durable block's time goes: prints, for blocks of 1,000 transfers over 100,000
//! accounts, the time inside the store's reads and commits against the whole block.
//! `cargo run --release -p altlayer-storage --example commit_cost` (`BEHIND=1`: the replica
//! writes behind, each block's commit beside the next block).

use alloy_consensus::{TxEnvelope, transaction::Recovered};
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use altlayer_core::{
    EvmStateTransition, RollupConfig,
    dev::DevAccount,
    execution::{BlockAttributes, DEFAULT_INITIAL_BASE_FEE, ExecuteOptions},
    primitives::Header,
    state::WorldState,
    storage::{
        BlockCommit, NodeCache, StateStore, StorageError, StoredAccount, StoredHead, TrieOwner,
    },
};
use altlayer_storage::{RedbStore, StoreOptions};
use nybbles::Nibbles;
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// The node binary's allocator, as in the storage benchmark.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug)]
struct Timed {
    inner: RedbStore,
    reads: Mutex<(u64, Duration)>,
    commits: Mutex<Duration>,
    accounts: Mutex<(u64,)>,
}

impl Timed {
    fn read<T>(&self, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        let mut r = self.reads.lock().unwrap();
        r.0 += 1;
        r.1 += start.elapsed();
        out
    }
}

impl StateStore for Timed {
    fn head(&self) -> Result<Option<StoredHead>, StorageError> {
        self.inner.head()
    }
    fn block_hash(&self, height: u64) -> Result<Option<B256>, StorageError> {
        self.inner.block_hash(height)
    }
    fn header(&self, height: u64) -> Result<Option<Header>, StorageError> {
        self.inner.header(height)
    }
    fn account(&self, at: u64, a: &Address) -> Result<Option<StoredAccount>, StorageError> {
        self.accounts.lock().unwrap().0 += 1;
        self.read(|| self.inner.account(at, a))
    }
    fn storage(&self, at: u64, a: &Address, s: &U256) -> Result<U256, StorageError> {
        self.read(|| self.inner.storage(at, a, s))
    }
    fn code(&self, h: &B256) -> Result<Option<Bytes>, StorageError> {
        self.read(|| self.inner.code(h))
    }
    fn trie_node(
        &self,
        at: u64,
        o: &TrieOwner,
        p: &Nibbles,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        self.read(|| self.inner.trie_node(at, o, p))
    }
    fn commit(&self, commit: BlockCommit<'_>) -> Result<(), StorageError> {
        let start = Instant::now();
        let out = self.inner.commit(commit);
        *self.commits.lock().unwrap() += start.elapsed();
        out
    }
    fn unwind(&self, height: u64) -> Result<(), StorageError> {
        self.inner.unwind(height)
    }
    fn node_cache(&self) -> Option<&NodeCache> {
        self.inner.node_cache()
    }
}

fn filler(i: usize) -> Address {
    Address::from_slice(&keccak256((i as u64).to_be_bytes())[12..])
}

fn main() {
    let config = RollupConfig {
        block_gas_limit: 100_000_000,
        ..RollupConfig::default()
    };
    let senders: Vec<DevAccount> = (0..1_000u64).map(DevAccount::new).collect();
    let mut state = WorldState::new();
    for s in &senders {
        state
            .set_balance(s.address, U256::from(10u64).pow(U256::from(24)))
            .unwrap();
    }
    for i in 0..99_000 {
        state.set_balance(filler(i), U256::from(1)).unwrap();
    }
    // `BLOCKS`: how many (200 by default).
    let blocks: u64 = std::env::var("BLOCKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    // Every block's transactions signed before any is built: a block written behind gets no
    // time of its own between the blocks measured.
    let signed: Vec<Vec<Recovered<TxEnvelope>>> = (0..blocks)
        .map(|nonce| {
            senders
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let tx = s.transfer(
                        config.chain_id,
                        nonce,
                        filler((i * 97 + nonce as usize * 13) % 99_000),
                        U256::from(1),
                    );
                    Recovered::new_unchecked(tx, s.address)
                })
                .collect()
        })
        .collect();
    let transfers = |nonce: u64| signed[nonce as usize].clone();
    let attributes = |nonce: u64| BlockAttributes {
        timestamp: nonce + 1,
        ..Default::default()
    };
    // `RAW=1`: from signed bytes, decoding and recovering the senders alongside execution
    // (what the storage benchmark measures), instead of transactions already recovered.
    let raw = std::env::var("RAW").is_ok();
    let build = |stf: &mut EvmStateTransition, nonce: u64, txs: Vec<Recovered<TxEnvelope>>| {
        if raw {
            let bytes: Vec<Vec<u8>> = txs
                .iter()
                .map(|tx| alloy_eips::Encodable2718::encoded_2718(tx.inner()))
                .collect();
            stf.build_block_from_raw(attributes(nonce), &bytes, ExecuteOptions::default())
                .unwrap();
        } else {
            stf.build_block(attributes(nonce), txs, ExecuteOptions::default())
                .unwrap();
        }
    };
    // The same blocks in memory first: the baseline the durable block is compared with.
    let mut memory =
        EvmStateTransition::new(config.clone(), state.clone(), 0, DEFAULT_INITIAL_BASE_FEE);
    let mut in_memory = Duration::ZERO;
    for nonce in 0..blocks {
        let txs = transfers(nonce);
        let start = Instant::now();
        build(&mut memory, nonce, txs);
        in_memory += start.elapsed();
    }
    // `HISTORY` and `APPLY_EVERY` set the store's journal (the storage benchmark uses the
    // defaults, 128 and 64), `CACHE_MB` its cache.
    let number = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let options = StoreOptions {
        history: Some(number("HISTORY", 128) as u64),
        apply_every: number("APPLY_EVERY", 64),
        cache_bytes: number("CACHE_MB", 256) << 20,
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Timed {
        inner: RedbStore::open(dir.path(), options).unwrap(),
        reads: Mutex::new((0, Duration::ZERO)),
        commits: Mutex::new(Duration::ZERO),
        accounts: Mutex::new((0,)),
    });
    let mut stf = EvmStateTransition::new(config.clone(), state, 0, DEFAULT_INITIAL_BASE_FEE)
        .store_genesis(store.clone())
        .unwrap();
    let behind = std::env::var("BEHIND").is_ok();
    stf.set_write_behind(behind).unwrap();
    let size = |s: &Timed| std::fs::metadata(s.inner.path()).unwrap().len();
    let mut durable = Duration::ZERO;
    for nonce in 0..blocks {
        let txs = transfers(nonce);
        *store.reads.lock().unwrap() = (0, Duration::ZERO);
        *store.commits.lock().unwrap() = Duration::ZERO;
        *store.accounts.lock().unwrap() = (0,);
        let before = size(&store);
        let start = Instant::now();
        build(&mut stf, nonce, txs);
        let total = start.elapsed();
        durable += total;
        let (reads, read_time) = *store.reads.lock().unwrap();
        let cache = store
            .inner
            .node_cache()
            .map(|c| c.stats())
            .unwrap_or_default();
        println!(
            "block {}: {:?} total, {} reads ({} accounts) in {:?}, commit {:?}, file +{} KiB, node cache {} KiB {}/{} hits",
            nonce + 1,
            total,
            reads,
            store.accounts.lock().unwrap().0,
            read_time,
            *store.commits.lock().unwrap(),
            (size(&store) as i64 - before as i64) / 1024,
            cache.bytes / 1024,
            cache.hits,
            cache.hits + cache.misses,
        );
    }
    let start = Instant::now();
    stf.flush().unwrap();
    durable += start.elapsed();
    println!(
        "mean over {blocks} blocks: durable {:?}, in memory {:?} ({:.2} x)",
        durable / blocks as u32,
        in_memory / blocks as u32,
        durable.as_secs_f64() / in_memory.as_secs_f64()
    );
}
