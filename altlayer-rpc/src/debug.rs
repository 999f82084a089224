//! `debug_traceTransaction` and `debug_traceCall` with geth's tracers (`callTracer`,
//! `prestateTracer` with or without `diffMode`, the struct logger, `4byteTracer`, ...) from
//! revm-inspectors, the crate reth uses. An included transaction is traced over the state it
//! saw: its parent's, with the block's system calls and earlier transactions replayed.

use crate::{
    api::DebugApiServer,
    error::RpcError,
    eth::Eth,
    evm::{self, StateDb},
};
use alloy_consensus::transaction::Recovered;
use alloy_eips::BlockId;
use alloy_evm::{Evm, EvmFactory, IntoTxEnv, eth::EthEvmFactory};
use alloy_primitives::B256;
use alloy_rpc_types_eth::TransactionRequest;
use alloy_rpc_types_trace::geth::{
    GethDebugTracingCallOptions, GethDebugTracingOptions, GethTrace,
};
use altlayer_core::execution::{evm_env, replay_prefix};
use jsonrpsee::core::{RpcResult, async_trait};
use revm::context::TxEnv;
use revm_inspectors::tracing::{DebugInspector, TransactionContext};

fn tracer(options: GethDebugTracingOptions) -> Result<DebugInspector, RpcError> {
    DebugInspector::new(options).map_err(|e| RpcError::InvalidParams(e.to_string()))
}

impl Eth {
    async fn trace_included(
        &self,
        hash: B256,
        options: GethDebugTracingOptions,
    ) -> Result<GethTrace, RpcError> {
        let chain = self.chain();
        let (number, index) = chain
            .transaction_location(&hash)
            .ok_or_else(|| RpcError::Execution("transaction not found".into()))?;
        let block = chain.block(number).ok_or(RpcError::HeaderNotFound)?;
        let parent = number
            .checked_sub(1)
            .ok_or_else(|| RpcError::Execution("genesis is not traceable".into()))?;
        let state = chain
            .state(parent)
            .ok_or(RpcError::StateUnavailable(parent))?;
        let config = chain.config().clone();
        let mut inspector = tracer(options)?;
        self.blocking(move |cancel| {
            let header = block.header();
            let txs: Vec<Recovered<_>> = block
                .block
                .transactions
                .iter()
                .zip(&block.senders)
                .map(|(tx, sender)| Recovered::new_unchecked(tx.clone(), *sender))
                .collect();
            let target = txs
                .get(index)
                .cloned()
                .ok_or_else(|| RpcError::Internal("transaction index out of its block".into()))?;
            let mut db = replay_prefix(&config, header, StateDb(state), &txs[..index])
                .map_err(|e| RpcError::Internal(e.to_string()))?;
            let tx: TxEnv = target.into_tx_env();
            let mut vm = EthEvmFactory::default().create_evm_with_inspector(
                &mut db,
                evm_env(&config, header),
                (&mut inspector, cancel.clone()),
            );
            let result = vm.transact(tx.clone()).map_err(evm::evm_error)?;
            let (_, env) = vm.finish();
            aborted(cancel)?;
            let context = TransactionContext {
                block_hash: Some(block.hash),
                tx_index: Some(index),
                tx_hash: Some(hash),
            };
            inspector
                .get_result(Some(context), &tx, &env.block_env, &result, &mut db)
                .map_err(|e| RpcError::Execution(e.to_string()))
        })
        .await
    }

    async fn trace_request(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        options: GethDebugTracingCallOptions,
    ) -> Result<GethTrace, RpcError> {
        let GethDebugTracingCallOptions {
            tracing_options,
            state_overrides,
            block_overrides,
            ..
        } = options;
        let view = self.state_at(block)?;
        let call = evm::prepare(
            self.chain().config(),
            view,
            request,
            state_overrides,
            block_overrides.map(Box::new),
            self.config().gas_cap,
        )?;
        let mut inspector = tracer(tracing_options)?;
        self.blocking(move |cancel| {
            let mut db = call.db;
            let mut vm = EthEvmFactory::default().create_evm_with_inspector(
                &mut db,
                call.env,
                (&mut inspector, cancel.clone()),
            );
            let result = vm.transact(call.tx.clone()).map_err(evm::evm_error)?;
            let (_, env) = vm.finish();
            aborted(cancel)?;
            inspector
                .get_result(None, &call.tx, &env.block_env, &result, &mut db)
                .map_err(|e| RpcError::Execution(e.to_string()))
        })
        .await
    }
}

/// A trace stopped by its time limit is no trace.
fn aborted(cancel: &evm::Cancel) -> Result<(), RpcError> {
    if cancel.is_cancelled() {
        return Err(RpcError::Execution("execution aborted".into()));
    }
    Ok(())
}

#[async_trait]
impl DebugApiServer for Eth {
    async fn trace_transaction(
        &self,
        hash: B256,
        options: Option<GethDebugTracingOptions>,
    ) -> RpcResult<GethTrace> {
        Ok(self
            .trace_included(hash, options.unwrap_or_default())
            .await?)
    }

    async fn trace_call(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        options: Option<GethDebugTracingCallOptions>,
    ) -> RpcResult<GethTrace> {
        Ok(self
            .trace_request(request, block, options.unwrap_or_default())
            .await?)
    }
}
