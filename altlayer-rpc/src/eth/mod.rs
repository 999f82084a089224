//! The `eth_`, `net_` and `web3_` methods over a [`ChainReader`] and a [`TxPool`].

mod call;
mod fees;
pub(crate) mod filters;
mod logs;
mod pubsub;

use crate::{
    api::{EthApiServer, NetApiServer, Web3ApiServer},
    convert,
    error::RpcError,
    provider::{ChainBlock, ChainReader, StateView, TxPool},
    server::RpcConfig,
};
use alloy_consensus::Transaction as _;
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, U64, U256, keccak256};
use alloy_rpc_types_eth::{
    AccessListResult, Block, BlockOverrides, EIP1186AccountProofResponse, EIP1186StorageProof,
    FeeHistory, Filter, Index, Log, SyncStatus, Transaction, TransactionReceipt,
    TransactionRequest, state::StateOverride,
};
use alloy_serde::JsonStorageKey;
use altlayer_core::transaction::{TxError, decode_and_recover};
use jsonrpsee::core::{RpcResult, async_trait};
use std::sync::Arc;

pub(crate) use filters::Filters;

/// The handler behind every namespace: the chain it reads, the pool it submits to, the
/// server's limits and the installed filters. Cheap to clone.
#[derive(Clone)]
pub struct Eth {
    pub(crate) inner: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) chain: Arc<dyn ChainReader>,
    pub(crate) pool: Arc<dyn TxPool>,
    pub(crate) config: RpcConfig,
    pub(crate) filters: Filters,
}

impl std::fmt::Debug for Eth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Eth")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Eth {
    /// A handler reading `chain` and submitting to `pool`.
    pub fn new(chain: Arc<dyn ChainReader>, pool: Arc<dyn TxPool>, config: RpcConfig) -> Self {
        let filters = Filters::new(config.max_filters, config.filter_timeout);
        Self {
            inner: Arc::new(Shared {
                chain,
                pool,
                config,
                filters,
            }),
        }
    }

    pub(crate) fn chain(&self) -> &dyn ChainReader {
        &*self.inner.chain
    }

    pub(crate) fn config(&self) -> &RpcConfig {
        &self.inner.config
    }

    /// The height a tag stands for, `None` above the head.
    pub(crate) fn number(&self, tag: BlockNumberOrTag) -> Option<u64> {
        let tip = self.chain().tip();
        match tag {
            BlockNumberOrTag::Latest | BlockNumberOrTag::Pending => Some(tip.latest),
            BlockNumberOrTag::Safe => Some(tip.safe),
            BlockNumberOrTag::Finalized => Some(tip.finalized),
            BlockNumberOrTag::Earliest => Some(self.chain().earliest()),
            BlockNumberOrTag::Number(n) => (n <= tip.latest).then_some(n),
        }
    }

    /// The height a block parameter stands for (`latest` when absent).
    pub(crate) fn resolve(&self, block: Option<BlockId>) -> Result<u64, RpcError> {
        match block.unwrap_or_default() {
            BlockId::Number(tag) => self.number(tag).ok_or(RpcError::HeaderNotFound),
            BlockId::Hash(hash) => self
                .chain()
                .block_number(&hash.block_hash)
                .ok_or(RpcError::HashNotFound),
        }
    }

    /// The state after the block a parameter stands for.
    pub(crate) fn state_at(&self, block: Option<BlockId>) -> Result<Arc<dyn StateView>, RpcError> {
        let number = self.resolve(block)?;
        self.chain()
            .state(number)
            .ok_or(RpcError::StateUnavailable(number))
    }

    fn block_at(&self, tag: BlockNumberOrTag) -> Option<Arc<ChainBlock>> {
        self.number(tag).and_then(|n| self.chain().block(n))
    }

    fn block_with_hash(&self, hash: &B256) -> Option<Arc<ChainBlock>> {
        self.chain()
            .block_number(hash)
            .and_then(|n| self.chain().block(n))
    }

    fn block_by_id(&self, block: BlockId) -> Option<Arc<ChainBlock>> {
        match block {
            BlockId::Number(tag) => self.block_at(tag),
            BlockId::Hash(hash) => self.block_with_hash(&hash.block_hash),
        }
    }
}

impl Web3ApiServer for Eth {
    fn client_version(&self) -> RpcResult<String> {
        Ok(self.config().client_version.clone())
    }

    fn sha3(&self, data: Bytes) -> RpcResult<B256> {
        Ok(keccak256(data))
    }
}

impl NetApiServer for Eth {
    fn version(&self) -> RpcResult<String> {
        Ok(self.chain().config().chain_id.to_string())
    }

    fn listening(&self) -> RpcResult<bool> {
        Ok(true)
    }

    fn peer_count(&self) -> RpcResult<U64> {
        Ok(U64::ZERO)
    }
}

#[async_trait]
impl EthApiServer for Eth {
    fn chain_id(&self) -> RpcResult<U64> {
        Ok(U64::from(self.chain().config().chain_id))
    }

    fn block_number(&self) -> RpcResult<U64> {
        Ok(U64::from(self.chain().tip().latest))
    }

    fn syncing(&self) -> RpcResult<SyncStatus> {
        Ok(SyncStatus::None)
    }

    fn accounts(&self) -> RpcResult<Vec<Address>> {
        Ok(Vec::new())
    }

    async fn gas_price(&self) -> RpcResult<U256> {
        Ok(self.suggested_gas_price())
    }

    async fn max_priority_fee_per_gas(&self) -> RpcResult<U256> {
        Ok(self.suggested_tip())
    }

    fn blob_base_fee(&self) -> RpcResult<U256> {
        Ok(U256::from(1))
    }

    async fn fee_history(
        &self,
        block_count: U64,
        newest: BlockNumberOrTag,
        percentiles: Option<Vec<f64>>,
    ) -> RpcResult<FeeHistory> {
        Ok(self.history(block_count.to::<u64>(), newest, percentiles)?)
    }

    async fn balance(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256> {
        let state = self.state_at(block)?;
        let account = state.account(&address).map_err(internal)?;
        Ok(account.map_or(U256::ZERO, |a| a.balance))
    }

    async fn code(&self, address: Address, block: Option<BlockId>) -> RpcResult<Bytes> {
        let state = self.state_at(block)?;
        let code = match state.account(&address).map_err(internal)? {
            Some(revm::state::AccountInfo {
                code: Some(code), ..
            }) => Some(code),
            Some(account) => state.code_by_hash(&account.code_hash).map_err(internal)?,
            None => None,
        };
        Ok(code.map(|c| c.original_bytes()).unwrap_or_default())
    }

    async fn storage_at(
        &self,
        address: Address,
        slot: JsonStorageKey,
        block: Option<BlockId>,
    ) -> RpcResult<B256> {
        let state = self.state_at(block)?;
        let slot = U256::from_be_bytes(slot.as_b256().0);
        Ok(B256::from(
            state.storage(&address, &slot).map_err(internal)?,
        ))
    }

    async fn transaction_count(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256> {
        if matches!(block, Some(BlockId::Number(BlockNumberOrTag::Pending)))
            && let Some(nonce) = self.inner.pool.pending_nonce(address).await
        {
            return Ok(U256::from(nonce));
        }
        let state = self.state_at(block)?;
        let account = state.account(&address).map_err(internal)?;
        Ok(U256::from(account.map_or(0, |a| a.nonce)))
    }

    async fn proof(
        &self,
        address: Address,
        slots: Vec<JsonStorageKey>,
        block: Option<BlockId>,
    ) -> RpcResult<EIP1186AccountProofResponse> {
        if slots.len() > self.config().max_proof_slots {
            return Err(RpcError::LimitExceeded(format!(
                "too many storage keys: {} > {}",
                slots.len(),
                self.config().max_proof_slots
            ))
            .into());
        }
        let state = self.state_at(block)?;
        let keys: Vec<B256> = slots.iter().map(JsonStorageKey::as_b256).collect();
        let proof = state
            .proof(&address, &keys)
            .map_err(internal)?
            .ok_or_else(|| RpcError::Internal("the state cannot prove".into()))?;
        Ok(EIP1186AccountProofResponse {
            address,
            balance: proof.balance,
            code_hash: proof.code_hash,
            nonce: proof.nonce,
            storage_hash: proof.storage_root,
            account_proof: proof.account_proof,
            storage_proof: slots
                .into_iter()
                .zip(proof.storage)
                .map(|(key, slot)| EIP1186StorageProof {
                    key,
                    value: slot.value,
                    proof: slot.proof,
                })
                .collect(),
        })
    }

    async fn call(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        state: Option<StateOverride>,
        overrides: Option<Box<BlockOverrides>>,
    ) -> RpcResult<Bytes> {
        Ok(self.run_call(request, block, state, overrides).await?)
    }

    async fn estimate_gas(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        state: Option<StateOverride>,
    ) -> RpcResult<U64> {
        Ok(self.run_estimate(request, block, state).await?)
    }

    async fn create_access_list(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
    ) -> RpcResult<AccessListResult> {
        Ok(self.run_access_list(request, block).await?)
    }

    async fn send_raw_transaction(&self, bytes: Bytes) -> RpcResult<B256> {
        let max = self.chain().config().max_tx_size;
        let tx = decode_and_recover(&bytes, max).map_err(RpcError::from)?;
        if !self.config().allow_unprotected_txs && tx.inner().chain_id().is_none() {
            return Err(RpcError::from(TxError::MissingChainId).into());
        }
        Ok(self.inner.pool.submit(tx).await.map_err(RpcError::from)?)
    }

    async fn transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Transaction>> {
        if let Some((number, index)) = self.chain().transaction_location(&hash) {
            return Ok(self
                .chain()
                .block(number)
                .and_then(|block| convert::rpc_transaction(&block, index)));
        }
        Ok(self
            .inner
            .pool
            .pooled(hash)
            .await
            .map(convert::rpc_pending_transaction))
    }

    fn transaction_by_block_hash_and_index(
        &self,
        hash: B256,
        index: Index,
    ) -> RpcResult<Option<Transaction>> {
        Ok(self
            .block_with_hash(&hash)
            .and_then(|block| convert::rpc_transaction(&block, index.0)))
    }

    fn transaction_by_block_number_and_index(
        &self,
        number: BlockNumberOrTag,
        index: Index,
    ) -> RpcResult<Option<Transaction>> {
        Ok(self
            .block_at(number)
            .and_then(|block| convert::rpc_transaction(&block, index.0)))
    }

    fn transaction_receipt(&self, hash: B256) -> RpcResult<Option<TransactionReceipt>> {
        let Some((number, index)) = self.chain().transaction_location(&hash) else {
            return Ok(None);
        };
        Ok(self
            .chain()
            .block(number)
            .and_then(|block| convert::rpc_receipt(&block, index)))
    }

    fn block_receipts(&self, block: BlockId) -> RpcResult<Option<Vec<TransactionReceipt>>> {
        Ok(self
            .block_by_id(block)
            .map(|block| convert::rpc_receipts(&block)))
    }

    fn block_by_number(&self, number: BlockNumberOrTag, full: bool) -> RpcResult<Option<Block>> {
        let config = self.chain().config();
        Ok(self
            .block_at(number)
            .map(|block| convert::rpc_block(&block, config, full)))
    }

    fn block_by_hash(&self, hash: B256, full: bool) -> RpcResult<Option<Block>> {
        let config = self.chain().config();
        Ok(self
            .block_with_hash(&hash)
            .map(|block| convert::rpc_block(&block, config, full)))
    }

    fn block_transaction_count_by_number(
        &self,
        number: BlockNumberOrTag,
    ) -> RpcResult<Option<U64>> {
        Ok(self
            .block_at(number)
            .map(|b| U64::from(b.block.transactions.len())))
    }

    fn block_transaction_count_by_hash(&self, hash: B256) -> RpcResult<Option<U64>> {
        Ok(self
            .block_with_hash(&hash)
            .map(|b| U64::from(b.block.transactions.len())))
    }

    fn uncle_count_by_number(&self, number: BlockNumberOrTag) -> RpcResult<Option<U64>> {
        Ok(self.block_at(number).map(|_| U64::ZERO))
    }

    fn uncle_count_by_hash(&self, hash: B256) -> RpcResult<Option<U64>> {
        Ok(self.block_with_hash(&hash).map(|_| U64::ZERO))
    }

    fn uncle_by_number_and_index(
        &self,
        _number: BlockNumberOrTag,
        _index: Index,
    ) -> RpcResult<Option<Block>> {
        Ok(None)
    }

    fn uncle_by_hash_and_index(&self, _hash: B256, _index: Index) -> RpcResult<Option<Block>> {
        Ok(None)
    }

    async fn logs(&self, filter: Filter) -> RpcResult<Vec<Log>> {
        Ok(self.find_logs(&filter).await?)
    }
}

/// A store that failed under a state read: an internal error, as geth answers a database
/// failure.
fn internal(error: altlayer_core::storage::StorageError) -> RpcError {
    RpcError::Internal(error.to_string())
}
