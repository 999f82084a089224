//! The JSON-RPC methods, declared once with jsonrpsee's macro over alloy's types. Parameters
//! are positional, as geth takes them; a trailing optional parameter may be left out.

use crate::provider::{AlertInfo, BatchInfo, BlockFinality, OperatorSetInfo};
use alloy_eips::BlockId;
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use alloy_rpc_types_eth::{
    AccessListResult, Block, BlockNumberOrTag, BlockOverrides, EIP1186AccountProofResponse,
    FeeHistory, Filter, FilterChanges, Index, Log, SyncStatus, Transaction, TransactionReceipt,
    TransactionRequest,
    pubsub::{Params, SubscriptionKind},
    state::StateOverride,
};
use alloy_rpc_types_trace::geth::{
    GethDebugTracingCallOptions, GethDebugTracingOptions, GethTrace,
};
use alloy_serde::JsonStorageKey;
use altlayer_core::evidence::Service;
use jsonrpsee::{
    core::{RpcResult, SubscriptionResult},
    proc_macros::rpc,
};

/// `web3_` methods.
#[rpc(server, namespace = "web3")]
pub trait Web3Api {
    /// The node's name and version.
    #[method(name = "clientVersion")]
    fn client_version(&self) -> RpcResult<String>;

    /// `keccak256` of the data.
    #[method(name = "sha3")]
    fn sha3(&self, data: Bytes) -> RpcResult<B256>;
}

/// `net_` methods.
#[rpc(server, namespace = "net")]
pub trait NetApi {
    /// The network id: the chain id, in decimal.
    #[method(name = "version")]
    fn version(&self) -> RpcResult<String>;

    /// Whether the node listens for peers.
    #[method(name = "listening")]
    fn listening(&self) -> RpcResult<bool>;

    /// Connected peers.
    #[method(name = "peerCount")]
    fn peer_count(&self) -> RpcResult<U64>;
}

/// `eth_` methods: chain, state, calls, transactions, blocks and logs.
#[rpc(server, namespace = "eth")]
pub trait EthApi {
    /// The chain id (EIP-155).
    #[method(name = "chainId")]
    fn chain_id(&self) -> RpcResult<U64>;

    /// The head's height.
    #[method(name = "blockNumber")]
    fn block_number(&self) -> RpcResult<U64>;

    /// Never syncing: the chain is produced here.
    #[method(name = "syncing")]
    fn syncing(&self) -> RpcResult<SyncStatus>;

    /// No accounts: the node holds no keys.
    #[method(name = "accounts")]
    fn accounts(&self) -> RpcResult<Vec<Address>>;

    /// A gas price that gets a legacy transaction into the next block.
    #[method(name = "gasPrice")]
    async fn gas_price(&self) -> RpcResult<U256>;

    /// A priority fee that gets a transaction into the next block.
    #[method(name = "maxPriorityFeePerGas")]
    async fn max_priority_fee_per_gas(&self) -> RpcResult<U256>;

    /// The current blob base fee (blobs are not accepted; the minimum).
    #[method(name = "blobBaseFee")]
    fn blob_base_fee(&self) -> RpcResult<U256>;

    /// Base fees, gas used ratios and priority fee percentiles of recent blocks.
    #[method(name = "feeHistory")]
    async fn fee_history(
        &self,
        block_count: U64,
        newest: BlockNumberOrTag,
        percentiles: Option<Vec<f64>>,
    ) -> RpcResult<FeeHistory>;

    /// An account's balance.
    #[method(name = "getBalance")]
    async fn balance(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256>;

    /// An account's code.
    #[method(name = "getCode")]
    async fn code(&self, address: Address, block: Option<BlockId>) -> RpcResult<Bytes>;

    /// A storage slot.
    #[method(name = "getStorageAt")]
    async fn storage_at(
        &self,
        address: Address,
        slot: JsonStorageKey,
        block: Option<BlockId>,
    ) -> RpcResult<B256>;

    /// An account's nonce; at `pending`, counting its pooled transactions.
    #[method(name = "getTransactionCount")]
    async fn transaction_count(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256>;

    /// EIP-1186: an account and some of its slots with Merkle proofs against the state root.
    #[method(name = "getProof")]
    async fn proof(
        &self,
        address: Address,
        slots: Vec<JsonStorageKey>,
        block: Option<BlockId>,
    ) -> RpcResult<EIP1186AccountProofResponse>;

    /// Executes a call without a transaction.
    #[method(name = "call")]
    async fn call(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        state: Option<StateOverride>,
        overrides: Option<Box<BlockOverrides>>,
    ) -> RpcResult<Bytes>;

    /// The gas a transaction needs, by binary search as geth does.
    #[method(name = "estimateGas")]
    async fn estimate_gas(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        state: Option<StateOverride>,
    ) -> RpcResult<U64>;

    /// The EIP-2930 access list a transaction touches, and the gas it uses with it.
    #[method(name = "createAccessList")]
    async fn create_access_list(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
    ) -> RpcResult<AccessListResult>;

    /// Submits a signed transaction; its hash.
    #[method(name = "sendRawTransaction")]
    async fn send_raw_transaction(&self, bytes: Bytes) -> RpcResult<B256>;

    /// A transaction by hash, pooled (with `blockNumber: null`) or included.
    #[method(name = "getTransactionByHash")]
    async fn transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Transaction>>;

    /// A transaction by block hash and index.
    #[method(name = "getTransactionByBlockHashAndIndex")]
    fn transaction_by_block_hash_and_index(
        &self,
        hash: B256,
        index: Index,
    ) -> RpcResult<Option<Transaction>>;

    /// A transaction by block number and index.
    #[method(name = "getTransactionByBlockNumberAndIndex")]
    fn transaction_by_block_number_and_index(
        &self,
        number: BlockNumberOrTag,
        index: Index,
    ) -> RpcResult<Option<Transaction>>;

    /// A transaction's receipt; `null` while it is pending.
    #[method(name = "getTransactionReceipt")]
    fn transaction_receipt(&self, hash: B256) -> RpcResult<Option<TransactionReceipt>>;

    /// Every receipt of a block.
    #[method(name = "getBlockReceipts")]
    fn block_receipts(&self, block: BlockId) -> RpcResult<Option<Vec<TransactionReceipt>>>;

    /// A block by height or tag.
    #[method(name = "getBlockByNumber")]
    fn block_by_number(&self, number: BlockNumberOrTag, full: bool) -> RpcResult<Option<Block>>;

    /// A block by hash.
    #[method(name = "getBlockByHash")]
    fn block_by_hash(&self, hash: B256, full: bool) -> RpcResult<Option<Block>>;

    /// The number of transactions in a block.
    #[method(name = "getBlockTransactionCountByNumber")]
    fn block_transaction_count_by_number(&self, number: BlockNumberOrTag)
    -> RpcResult<Option<U64>>;

    /// The number of transactions in a block.
    #[method(name = "getBlockTransactionCountByHash")]
    fn block_transaction_count_by_hash(&self, hash: B256) -> RpcResult<Option<U64>>;

    /// Uncles: none, ever.
    #[method(name = "getUncleCountByBlockNumber")]
    fn uncle_count_by_number(&self, number: BlockNumberOrTag) -> RpcResult<Option<U64>>;

    /// Uncles: none, ever.
    #[method(name = "getUncleCountByBlockHash")]
    fn uncle_count_by_hash(&self, hash: B256) -> RpcResult<Option<U64>>;

    /// Uncles: none, ever.
    #[method(name = "getUncleByBlockNumberAndIndex")]
    fn uncle_by_number_and_index(
        &self,
        number: BlockNumberOrTag,
        index: Index,
    ) -> RpcResult<Option<Block>>;

    /// Uncles: none, ever.
    #[method(name = "getUncleByBlockHashAndIndex")]
    fn uncle_by_hash_and_index(&self, hash: B256, index: Index) -> RpcResult<Option<Block>>;

    /// Logs matching a filter, over a block range or one block.
    #[method(name = "getLogs")]
    async fn logs(&self, filter: Filter) -> RpcResult<Vec<Log>>;
}

/// `eth_` filters: polled from the last poll on, and dropped when not polled for a while.
#[rpc(server, namespace = "eth")]
pub trait EthFilterApi {
    /// A log filter.
    #[method(name = "newFilter")]
    fn new_filter(&self, filter: Filter) -> RpcResult<String>;

    /// A filter of new block hashes.
    #[method(name = "newBlockFilter")]
    fn new_block_filter(&self) -> RpcResult<String>;

    /// A filter of transactions entering the pool.
    #[method(name = "newPendingTransactionFilter")]
    fn new_pending_transaction_filter(&self) -> RpcResult<String>;

    /// What a filter caught since the last poll.
    #[method(name = "getFilterChanges")]
    fn filter_changes(&self, id: String) -> RpcResult<FilterChanges>;

    /// Every log a log filter matches.
    #[method(name = "getFilterLogs")]
    async fn filter_logs(&self, id: String) -> RpcResult<Vec<Log>>;

    /// Removes a filter; whether it existed.
    #[method(name = "uninstallFilter")]
    fn uninstall_filter(&self, id: String) -> RpcResult<bool>;
}

/// `eth_subscribe` over WebSocket: `newHeads`, `logs`, `newPendingTransactions`.
#[rpc(server, namespace = "eth")]
pub trait EthPubSubApi {
    /// Subscribes to a kind of event.
    #[subscription(
        name = "subscribe" => "subscription",
        unsubscribe = "unsubscribe",
        item = alloy_rpc_types_eth::pubsub::SubscriptionResult
    )]
    async fn subscribe(&self, kind: SubscriptionKind, params: Option<Params>)
    -> SubscriptionResult;
}

/// `debug_` tracing with geth's built-in tracers.
#[rpc(server, namespace = "debug")]
pub trait DebugApi {
    /// Re-executes an included transaction under a tracer.
    #[method(name = "traceTransaction")]
    async fn trace_transaction(
        &self,
        hash: B256,
        options: Option<GethDebugTracingOptions>,
    ) -> RpcResult<GethTrace>;

    /// Executes a call under a tracer.
    #[method(name = "traceCall")]
    async fn trace_call(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        options: Option<GethDebugTracingCallOptions>,
    ) -> RpcResult<GethTrace>;
}

/// `altlayer_`: restaked finality, alerts, batches and operators.
#[rpc(server, namespace = "altlayer")]
pub trait AltlayerApi {
    /// Where a block stands (pending, soft, fast, firm, alerted) and what proves it.
    #[method(name = "finality")]
    fn finality(&self, block: BlockId) -> RpcResult<BlockFinality>;

    /// Whether a confirmed alert stands against a block of the chain (MACH's registry
    /// answer to dApps and bridges).
    #[method(name = "hasActiveAlerts")]
    fn has_active_alerts(&self) -> RpcResult<bool>;

    /// The confirmed alerts, active and not.
    #[method(name = "alerts")]
    fn alerts(&self) -> RpcResult<Vec<AlertInfo>>;

    /// A batch: its blocks, roots, DA reference, status and challenges.
    #[method(name = "getBatch")]
    fn batch(&self, index: U64) -> RpcResult<Option<BatchInfo>>;

    /// The operator set of a service (`"squad"`, `"mach"`, `"vital"`; any of the three
    /// spellings `mach`, `Mach`, `MACH`) at its stake snapshot.
    #[method(name = "operators")]
    fn operators(&self, service: Service) -> RpcResult<Option<OperatorSetInfo>>;
}
