//! A rollup with core's defaults behind the RPC: the sequencer's pool as the [`TxPool`], a
//! [`MemoryChain`] fed with the rollup's events, and the server on a free port. Blocks are
//! produced when a test says so, so every answer is deterministic.

#![allow(dead_code, unreachable_pub)]

use alloy_consensus::TxEnvelope;
use alloy_eips::Encodable2718;
use alloy_primitives::{B256, Bytes};
use altlayer_core::{
    RollupConfig,
    dev::{DevAccount, dev_state_transition},
    rollup::{DefaultRollup, Input, Rollup, RollupEvent, RollupSettings},
};
use altlayer_rpc::{MemoryChain, MemoryChainOptions, RpcConfig, RpcServer, SharedRollup};
use jsonrpsee_http_client::{HttpClient, HttpClientBuilder};
use std::sync::{Arc, Mutex};

pub const CHAIN: u64 = 1_337;
pub const ACCOUNTS: u64 = 8;

alloy_sol_types::sol! {
    /// The e2e contract's interface (e2e/contracts/Demo.sol).
    interface IDemo {
        event Stored(address indexed who, uint256 indexed key, uint256 value);
        error Unauthorized(address who);
        function store(uint256 key, uint256 value) external;
        function fail(uint256 code) external pure returns (uint256);
        function guarded() external view;
        function divide(uint256 a, uint256 b) external pure returns (uint256);
        function values(uint256 key) external view returns (uint256);
        function total() external view returns (uint256);
    }
}

/// The JSON-RPC error of a failed call: its code, message and `data`.
pub fn rpc_error(
    result: Result<serde_json::Value, jsonrpsee::core::ClientError>,
) -> (i32, String, Option<String>) {
    match result {
        Err(jsonrpsee::core::ClientError::Call(error)) => (
            error.code(),
            error.message().to_string(),
            error.data().map(|d| d.get().to_string()),
        ),
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
}

/// The Demo contract's creation code, from the committed solc artifact.
pub fn demo_bytecode() -> Bytes {
    let artifact: serde_json::Value =
        serde_json::from_str(include_str!("../../../e2e/artifacts/Demo.json")).unwrap();
    artifact["bytecode"].as_str().unwrap().parse().unwrap()
}

/// A rollup behind a running RPC server.
pub struct Node {
    pub rollup: Arc<Mutex<DefaultRollup>>,
    pub chain: Arc<MemoryChain>,
    pub server: RpcServer,
    pub http: HttpClient,
    pub accounts: Vec<DevAccount>,
    second: Mutex<u64>,
}

impl Node {
    /// A rollup of `ACCOUNTS` funded development accounts, batches of `blocks_per_batch`
    /// blocks and a challenge window of `window_secs`, served with `config`.
    pub async fn start_with(blocks_per_batch: u64, window_secs: u64, config: RpcConfig) -> Self {
        let genesis = dev_state_transition(RollupConfig::default(), ACCOUNTS);
        let chain = Arc::new(MemoryChain::new(
            &genesis,
            MemoryChainOptions {
                fast_finality: false,
                ..Default::default()
            },
        ));
        let settings = RollupSettings {
            blocks_per_batch,
            challenge_window_secs: window_secs,
            move_timeout_secs: 0,
            ..Default::default()
        };
        let rollup = Arc::new(Mutex::new(
            Rollup::builder(genesis, settings).build().unwrap(),
        ));
        let pool = Arc::new(SharedRollup::new(rollup.clone(), chain.clone()));
        let server = RpcServer::start("127.0.0.1:0".parse().unwrap(), chain.clone(), pool, config)
            .await
            .unwrap();
        let http = HttpClientBuilder::default()
            .build(server.http_url())
            .unwrap();
        Self {
            rollup,
            chain,
            server,
            http,
            accounts: DevAccount::many(ACCOUNTS),
            second: Mutex::new(0),
        }
    }

    /// [`Node::start_with`] one-block batches, a 3 s window and the default limits.
    pub async fn start() -> Self {
        Self::start_with(1, 3, RpcConfig::default()).await
    }

    /// One second passes: the next block is built from the pool, batches go to DA and
    /// settlement, and the chain takes in what happened.
    pub fn produce(&self) -> Vec<RollupEvent> {
        self.produce_many(1)
    }

    /// `seconds` pass, a block each, and the chain takes in all of it at once, with only the
    /// last head's state: as a node whose step committed several blocks.
    pub fn produce_many(&self, seconds: u64) -> Vec<RollupEvent> {
        let mut second = self.second.lock().unwrap();
        let mut rollup = self.rollup.lock().unwrap();
        let mut events = Vec::new();
        for _ in 0..seconds {
            *second += 1;
            let now_ms = *second * 1_000;
            events.extend(rollup.handle_locally(Input::Tick { now_ms }).unwrap());
        }
        self.chain.apply(&events, rollup.state_transition());
        events
    }

    /// Every method the server answers (its module's names, subscriptions included).
    pub fn method_names(&self) -> Vec<String> {
        let pool = Arc::new(SharedRollup::new(self.rollup.clone(), self.chain.clone()));
        let eth = altlayer_rpc::Eth::new(self.chain.clone(), pool, RpcConfig::default());
        altlayer_rpc::rpc_module(eth)
            .method_names()
            .map(str::to_owned)
            .collect()
    }

    /// The hash of the block at `height`.
    pub fn chain_head_hash(&self, height: u64) -> B256 {
        use altlayer_rpc::ChainReader;
        self.chain.block(height).unwrap().hash
    }

    /// The EIP-2718 bytes of a transaction.
    pub fn raw(tx: &TxEnvelope) -> Bytes {
        tx.encoded_2718().into()
    }
}
