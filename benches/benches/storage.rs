//! The node's database (redb) against the same work in memory, in the same run:
//!
//! - a block of 1,000 transfers over 100,000 accounts through the full pipeline (decode,
//!   recover, execute, root) with a durable commit to redb, against the same in memory;
//! - the incremental root after 1,000 touched accounts in a 1,000,000-account state on disk,
//!   with a warm and with a cold cache, against the in-memory root;
//! - reopening a replica on the 1,000,000-account database (a restart), against rebuilding
//!   the state in memory from the genesis allocation (what a node without a database does).

use alloy_eips::Encodable2718;
use alloy_primitives::{Bytes, U256};
use altlayer_benches::{filler, large_state};
use altlayer_core::{
    EvmStateTransition, RollupConfig,
    dev::DevAccount,
    execution::{BlockAttributes, DEFAULT_INITIAL_BASE_FEE, ExecuteOptions},
    state::WorldState,
    storage::StateStore,
};
use altlayer_storage::{RedbStore, StoreOptions};
use criterion::{Criterion, criterion_group, criterion_main};
use rayon::prelude::*;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// The node binary's allocator (`altlayer-node`), in memory and on disk alike.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const TXS: usize = 1_000;
/// Blocks of history the store keeps (the default).
const HISTORY: u64 = 128;
const TOUCHED: usize = 1_000;

fn options() -> StoreOptions {
    StoreOptions {
        cache_bytes: 256 << 20,
        history: Some(HISTORY),
        ..StoreOptions::default()
    }
}

/// Signed transfers from every sender at `nonce`, one to each of 1,000 fillers.
fn transfers(config: &RollupConfig, senders: &[DevAccount], nonce: u64) -> Vec<Bytes> {
    senders
        .par_iter()
        .enumerate()
        .map(|(i, sender)| {
            let to = filler((i * 97 + nonce as usize * 13) % 100_000);
            Bytes::from(
                sender
                    .transfer(config.chain_id, nonce, to, U256::from(1_000))
                    .encoded_2718(),
            )
        })
        .collect()
}

fn block(c: &mut Criterion) {
    // Blocks of 21M gas under a target of 50M: the base fee falls instead of climbing past
    // what the transfers pay, however many blocks the measurement builds.
    let config = RollupConfig {
        block_gas_limit: 100_000_000,
        ..RollupConfig::default()
    };
    let senders: Vec<DevAccount> = (0..TXS as u64)
        .into_par_iter()
        .map(DevAccount::new)
        .collect();
    let state = large_state(100_000, &senders);
    let mut memory =
        EvmStateTransition::new(config.clone(), state.clone(), 0, DEFAULT_INITIAL_BASE_FEE);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Arc::new(RedbStore::open(dir.path(), options()).expect("a database"));
    let mut durable = EvmStateTransition::new(config.clone(), state, 0, DEFAULT_INITIAL_BASE_FEE)
        .store_genesis(store.clone())
        .expect("genesis written");
    // A node's steady state: the journal holds the 128 blocks of history, so the blocks
    // measured (≈ 200) go through applying the oldest 64 to the tables, as a node's do every
    // 64 blocks.
    for nonce in 0..HISTORY {
        let raw = transfers(&config, &senders, nonce);
        let attributes = BlockAttributes {
            timestamp: durable.head().timestamp + 1,
            ..BlockAttributes::default()
        };
        durable
            .build_block_from_raw(attributes, &raw, ExecuteOptions::default())
            .expect("a block");
    }
    let mut group = c.benchmark_group("storage");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(30));
    let (mut memory_nonce, mut durable_nonce) = (0, HISTORY);
    // `durable_redb`: each block's commit is durable before the call returns;
    // `durable_redb_write_behind`: the same replica writing behind (each block's commit on
    // another thread beside the next block; the measurement ends once the last is durable).
    for (name, behind) in [
        ("in_memory", false),
        ("durable_redb", false),
        ("durable_redb_write_behind", true),
    ] {
        let (stf, nonce) = if name == "in_memory" {
            (&mut memory, &mut memory_nonce)
        } else {
            (&mut durable, &mut durable_nonce)
        };
        stf.set_write_behind(behind).expect("write behind set");
        group.bench_function(format!("block_1000_transfers_100k/{name}"), |b| {
            b.iter_custom(|iters| {
                // Signed before the clock starts: a block written behind gets no time of its
                // own between the blocks measured.
                let blocks: Vec<Vec<Bytes>> = (0..iters)
                    .map(|i| transfers(&config, &senders, *nonce + i))
                    .collect();
                *nonce += iters;
                let start = Instant::now();
                for raw in &blocks {
                    let attributes = BlockAttributes {
                        timestamp: stf.head().timestamp + 1,
                        ..BlockAttributes::default()
                    };
                    let built = stf
                        .build_block_from_raw(attributes, raw, ExecuteOptions::default())
                        .expect("a block");
                    assert_eq!(built.block.transactions.len(), TXS);
                }
                stf.flush().expect("the last block written");
                start.elapsed()
            })
        });
    }
    group.finish();
}

fn root_and_restart(c: &mut Criterion) {
    const ACCOUNTS: usize = 1_000_000;
    let config = RollupConfig::default();
    let mut memory = large_state(ACCOUNTS, &[]);
    let dir = tempfile::tempdir().expect("a temporary directory");
    {
        let store = Arc::new(RedbStore::open(dir.path(), options()).expect("a database"));
        EvmStateTransition::new(config.clone(), memory.clone(), 0, DEFAULT_INITIAL_BASE_FEE)
            .store_genesis(store)
            .expect("genesis written");
    }
    let store = Arc::new(RedbStore::open(dir.path(), options()).expect("the database"));
    let root = store.head().expect("a head").expect("genesis").state_root;
    let on_disk = WorldState::stored(store.clone(), 0, root);
    let stride = ACCOUNTS / TOUCHED;
    let mut group = c.benchmark_group("storage");
    group.sample_size(20);
    let mut round = 1u64;
    group.bench_function("root_1000_touched_1m/in_memory", |b| {
        b.iter(|| {
            round += 1;
            for i in 0..TOUCHED {
                memory
                    .set_balance(filler(i * stride), U256::from(round))
                    .expect("in memory");
            }
            memory.state_root().expect("in memory")
        })
    });
    // Warm: the same accounts every time, so after the first their trie nodes are in the
    // store's cache of decoded nodes and their pages in redb's; each iteration starts from the
    // stored state with nothing of it loaded (a replica opened at the head).
    group.bench_function("root_1000_touched_1m/on_disk_warm", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                round += 1;
                let mut state = on_disk.clone();
                let start = Instant::now();
                for i in 0..TOUCHED {
                    state
                        .set_balance(filler(i * stride), U256::from(round))
                        .expect("readable");
                }
                std::hint::black_box(state.state_root().expect("readable"));
                total += start.elapsed();
            }
            total
        })
    });
    // The file is opened again below: one process holds it at a time.
    drop(on_disk);
    drop(store);
    // Cold: the database just opened (empty caches) and accounts not read before.
    let mut offset = 1usize;
    group.bench_function("root_1000_touched_1m/on_disk_cold", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                offset = (offset + 1) % stride;
                let store = Arc::new(RedbStore::open(dir.path(), options()).expect("reopened"));
                let mut state = WorldState::stored(store, 0, root);
                let start = Instant::now();
                for i in 0..TOUCHED {
                    state
                        .set_balance(filler(i * stride + offset), U256::from(7))
                        .expect("readable");
                }
                std::hint::black_box(state.state_root().expect("readable"));
                total += start.elapsed();
            }
            total
        })
    });
    group.sample_size(10);
    group.bench_function("restart_1m/reopen_database", |b| {
        b.iter(|| {
            let store = Arc::new(RedbStore::open(dir.path(), options()).expect("reopened"));
            EvmStateTransition::open(config.clone(), store).expect("opened")
        })
    });
    group.bench_function("restart_1m/rebuild_in_memory", |b| {
        b.iter(|| {
            let state = large_state(ACCOUNTS, &[]);
            EvmStateTransition::new(config.clone(), state, 0, DEFAULT_INITIAL_BASE_FEE)
        })
    });
    group.finish();
}

criterion_group!(benches, block, root_and_restart);
criterion_main!(benches);
