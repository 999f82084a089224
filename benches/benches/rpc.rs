//! The JSON-RPC's hot paths, each against the same work in process, same run:
//!
//! - `ingest`: 10,000 signed transfers (100 senders, 100 nonces each) through
//!   `eth_sendRawTransaction` over HTTP on loopback, in batches of 100 from 4 connections at
//!   once (as a wallet backend or a load tester sends), against `Rollup::submit_raw` in
//!   batches of 100 in process (decode, sender recovery on all cores, admission, pooling: the
//!   same work without HTTP and JSON). Each iteration starts from an empty pool.
//! - `call`: `eth_call` of Demo's `values(7)` view over HTTP, against the same call through
//!   the `Eth` API in process (the EVM on the head's state, no transport).
//! - `logs`: `eth_getLogs` for one address over a chain of 10,000 blocks in which that
//!   address logged 10 times (another contract logs in every block), against the same query
//!   over the one block holding a match, and against an address that logs in every block
//!   over the whole range (9,999 matches: every block after the deployments): the cost must
//!   follow the matches, not the range.

use alloy_consensus::TxEnvelope;
use alloy_eips::Encodable2718;
use alloy_primitives::{Address, Bytes, TxKind, U256, hex};
use alloy_rpc_types_eth::{Filter, TransactionInput, TransactionRequest};
use alloy_sol_types::{SolCall, sol};
use altlayer_core::{
    RollupConfig,
    dev::{DevAccount, dev_state_transition},
    rollup::{DefaultRollup, Input, Rollup, RollupSettings},
};
use altlayer_rpc::{
    ChainReader, Eth, MemoryChain, MemoryChainOptions, RpcConfig, RpcServer, SharedRollup,
    api::EthApiServer,
};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use jsonrpsee::{
    core::{client::ClientT, params::BatchRequestBuilder},
    rpc_params,
};
use jsonrpsee_http_client::{HttpClient, HttpClientBuilder};
use serde_json::Value;
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

sol! {
    function store(uint256 key, uint256 value) external;
    function values(uint256 key) external view returns (uint256);
}

const CHAIN: u64 = 1_337;
const SENDERS: u64 = 100;
const PER_SENDER: u64 = 100;
const BATCH: usize = 100;
const CONNECTIONS: usize = 4;
const LOG_BLOCKS: u64 = 10_000;
const RARE_EVERY: u64 = 1_000;

fn demo_bytecode() -> Bytes {
    let artifact: Value =
        serde_json::from_str(include_str!("../../e2e/artifacts/Demo.json")).expect("artifact");
    artifact["bytecode"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("bytecode")
}

/// A rollup of core's defaults behind a running server, fed by hand.
struct Node {
    rollup: Arc<Mutex<DefaultRollup>>,
    chain: Arc<MemoryChain>,
    eth: Eth,
    /// Serving while the node lives.
    _server: RpcServer,
    client: HttpClient,
    second: u64,
}

impl Node {
    async fn start(accounts: u64) -> Self {
        let genesis = dev_state_transition(RollupConfig::default(), accounts);
        let chain = Arc::new(MemoryChain::new(
            &genesis,
            MemoryChainOptions {
                fast_finality: false,
                ..Default::default()
            },
        ));
        let settings = RollupSettings {
            blocks_per_batch: 100,
            move_timeout_secs: 0,
            ..Default::default()
        };
        let rollup = Arc::new(Mutex::new(
            Rollup::builder(genesis, settings).build().expect("rollup"),
        ));
        let pool = Arc::new(SharedRollup::new(rollup.clone(), chain.clone()));
        let config = RpcConfig {
            max_logs: 100_000,
            ..RpcConfig::default()
        };
        let eth = Eth::new(chain.clone(), pool.clone(), config.clone());
        let server = RpcServer::start(
            "127.0.0.1:0".parse().expect("addr"),
            chain.clone(),
            pool,
            config,
        )
        .await
        .expect("server");
        let client = HttpClientBuilder::default()
            .max_request_size(u32::MAX)
            .max_response_size(u32::MAX)
            .request_timeout(Duration::from_secs(120))
            .build(server.http_url())
            .expect("client");
        Self {
            rollup,
            chain,
            eth,
            _server: server,
            client,
            second: 0,
        }
    }

    /// One second passes: a block from the pool, and the chain takes it in.
    fn produce(&mut self) {
        self.second += 1;
        let mut rollup = self.rollup.lock().expect("rollup");
        let events = rollup
            .handle_locally(Input::Tick {
                now_ms: self.second * 1_000,
            })
            .expect("handled");
        self.chain.apply(&events, rollup.state_transition());
    }

    fn submit(&self, tx: &TxEnvelope) {
        let raw = Bytes::from(tx.encoded_2718());
        for result in self.rollup.lock().expect("rollup").submit_raw(&[raw]) {
            result.expect("admitted");
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// 10,000 transfers, nonce-major so every batch of 100 holds one nonce of every sender.
fn transfers(accounts: &[DevAccount]) -> Vec<Bytes> {
    let mut raw = Vec::new();
    for nonce in 0..PER_SENDER {
        for account in accounts {
            let tx = account.transfer(CHAIN, nonce, Address::repeat_byte(0x42), U256::from(1));
            raw.push(tx.encoded_2718().into());
        }
    }
    raw
}

async fn send_over_http(client: &HttpClient, batches: Arc<Vec<Vec<String>>>) {
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..CONNECTIONS {
        let client = client.clone();
        let batches = batches.clone();
        tasks.spawn(async move {
            for batch in batches.iter().skip(lane).step_by(CONNECTIONS) {
                let mut request = BatchRequestBuilder::new();
                for raw in batch {
                    request
                        .insert("eth_sendRawTransaction", rpc_params![raw])
                        .expect("params");
                }
                let answers = client
                    .batch_request::<Value>(request)
                    .await
                    .expect("batch answered");
                assert_eq!(answers.num_successful_calls(), batch.len(), "all admitted");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("lane");
    }
}

fn ingest(c: &mut Criterion) {
    let rt = runtime();
    let accounts = DevAccount::many(SENDERS);
    let raw = transfers(&accounts);
    let hex_batches: Arc<Vec<Vec<String>>> = Arc::new(
        raw.chunks(BATCH)
            .map(|chunk| chunk.iter().map(hex::encode_prefixed).collect())
            .collect(),
    );
    let mut group = c.benchmark_group("rpc/ingest_10000");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("http_batches_of_100", |b| {
        b.iter_batched(
            || rt.block_on(Node::start(SENDERS)),
            |node| {
                rt.block_on(send_over_http(&node.client, hex_batches.clone()));
                node
            },
            BatchSize::PerIteration,
        );
    });
    group.bench_function("in_process_submit_raw_batches_of_100", |b| {
        b.iter_batched(
            || rt.block_on(Node::start(SENDERS)),
            |node| {
                {
                    let mut rollup = node.rollup.lock().expect("rollup");
                    for chunk in raw.chunks(BATCH) {
                        for result in rollup.submit_raw(chunk) {
                            result.expect("admitted");
                        }
                    }
                }
                node
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn call(c: &mut Criterion) {
    let rt = runtime();
    let mut node = rt.block_on(Node::start(2));
    let owner = DevAccount::new(0);
    node.submit(&owner.call(CHAIN, 0, TxKind::Create, demo_bytecode(), 1_000_000));
    node.produce();
    let demo = owner.address.create(0);
    let input = storeCall {
        key: U256::from(7),
        value: U256::from(42),
    }
    .abi_encode();
    node.submit(&owner.call(CHAIN, 1, TxKind::Call(demo), input.into(), 200_000));
    node.produce();
    let request = TransactionRequest {
        to: Some(TxKind::Call(demo)),
        input: TransactionInput::new(valuesCall { key: U256::from(7) }.abi_encode().into()),
        ..Default::default()
    };
    let answer: Bytes = rt
        .block_on(
            node.client
                .request("eth_call", rpc_params![request.clone(), "latest"]),
        )
        .expect("call");
    assert_eq!(U256::from_be_slice(&answer), U256::from(42));

    let mut group = c.benchmark_group("rpc/eth_call");
    group.bench_function("http", |b| {
        b.iter(|| {
            let answer: Bytes = rt
                .block_on(
                    node.client
                        .request("eth_call", rpc_params![request.clone(), "latest"]),
                )
                .expect("call");
            answer
        });
    });
    group.bench_function("in_process", |b| {
        b.iter(|| {
            rt.block_on(EthApiServer::call(
                &node.eth,
                request.clone(),
                None,
                None,
                None,
            ))
            .expect("call")
        });
    });
    group.finish();
}

fn logs(c: &mut Criterion) {
    let rt = runtime();
    let mut node = rt.block_on(Node::start(2));
    let (rare_owner, busy_owner) = (DevAccount::new(0), DevAccount::new(1));
    node.submit(&rare_owner.call(CHAIN, 0, TxKind::Create, demo_bytecode(), 1_000_000));
    node.submit(&busy_owner.call(CHAIN, 0, TxKind::Create, demo_bytecode(), 1_000_000));
    node.produce();
    let (rare, busy) = (rare_owner.address.create(0), busy_owner.address.create(0));
    let store = |key: u64| -> Bytes {
        storeCall {
            key: U256::from(key),
            value: U256::from(1),
        }
        .abi_encode()
        .into()
    };
    let (mut rare_nonce, mut busy_nonce) = (1, 1);
    let mut rare_blocks = Vec::new();
    let start = std::time::Instant::now();
    while node.chain.tip().latest < LOG_BLOCKS {
        let height = node.chain.tip().latest + 1;
        node.submit(&busy_owner.call(
            CHAIN,
            busy_nonce,
            TxKind::Call(busy),
            store(height),
            100_000,
        ));
        busy_nonce += 1;
        if height.is_multiple_of(RARE_EVERY) {
            node.submit(&rare_owner.call(
                CHAIN,
                rare_nonce,
                TxKind::Call(rare),
                store(height),
                100_000,
            ));
            rare_nonce += 1;
            rare_blocks.push(height);
        }
        node.produce();
    }
    let head = node.chain.tip().latest;
    println!(
        "rpc/logs: built {head} blocks in {:.1} s; {} matches for the rare address",
        start.elapsed().as_secs_f64(),
        rare_blocks.len()
    );
    let query = |address: Address, from: u64, to: u64| {
        Filter::new().address(address).from_block(from).to_block(to)
    };
    let count = |filter: &Filter| -> usize {
        let logs: Vec<Value> = rt
            .block_on(
                node.client
                    .request("eth_getLogs", rpc_params![filter.clone()]),
            )
            .expect("logs");
        logs.len()
    };
    let few = query(rare, 1, head);
    let one = query(rare, rare_blocks[0], rare_blocks[0]);
    let many = query(busy, 1, head);
    assert_eq!(count(&few), rare_blocks.len());
    assert_eq!(count(&one), 1);
    assert_eq!(count(&many) as u64, head - 1);

    let mut group = c.benchmark_group("rpc/eth_getLogs");
    group.bench_function("one_block_one_match", |b| b.iter(|| count(&one)));
    group.bench_function("10000_blocks_10_matches", |b| b.iter(|| count(&few)));
    group.sample_size(20);
    group.bench_function("10000_blocks_9999_matches", |b| b.iter(|| count(&many)));
    group.finish();
}

criterion_group!(benches, ingest, call, logs);
criterion_main!(benches);
