//! `eth_call`, `eth_estimateGas` and `eth_createAccessList`. Each runs on a blocking thread
//! under the server's time limit; the gas cap bounds how long one can run at all.

use super::Eth;
use crate::evm::Cancel;
use crate::{
    error::RpcError,
    evm::{self, PreparedCall},
};
use alloy_eips::BlockId;
use alloy_evm::{Evm, EvmFactory, eth::EthEvmFactory};
use alloy_primitives::{Bytes, TxKind, U64, U256};
use alloy_rpc_types_eth::{
    AccessList, AccessListResult, BlockOverrides, TransactionRequest, state::StateOverride,
};
use revm::{
    context::{
        TxEnv,
        result::{ExecutionResult, HaltReason},
    },
    interpreter::gas::CALL_STIPEND,
};
use revm_inspectors::access_list::AccessListInspector;

/// The least gas a transaction uses.
const MIN_TRANSACTION_GAS: u64 = 21_000;
/// The binary search stops once the bounds are this close, relatively (reth's 1.5 %).
const ESTIMATE_ERROR_RATIO: f64 = 0.015;

impl Eth {
    /// Runs `work` on a blocking thread, failing with a timeout after the server's limit;
    /// then `work`'s [`Cancel`] stops the EVMs it runs.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Cancel) -> Result<T, RpcError> + Send + 'static,
    ) -> Result<T, RpcError> {
        let limit = self.config().evm_timeout;
        let cancel = Cancel::default();
        let watched = cancel.clone();
        let task = tokio::task::spawn_blocking(move || work(&watched));
        match tokio::time::timeout(limit, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(RpcError::Internal(join.to_string())),
            Err(_) => {
                cancel.cancel();
                Err(RpcError::Timeout(limit))
            }
        }
    }

    fn prepare(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        state: Option<StateOverride>,
        overrides: Option<Box<BlockOverrides>>,
    ) -> Result<PreparedCall, RpcError> {
        let view = self.state_at(block)?;
        evm::prepare(
            self.chain().config(),
            view,
            request,
            state,
            overrides,
            self.config().gas_cap,
        )
    }

    pub(crate) async fn run_call(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        state: Option<StateOverride>,
        overrides: Option<Box<BlockOverrides>>,
    ) -> Result<Bytes, RpcError> {
        let call = self.prepare(request, block, state, overrides)?;
        self.blocking(move |cancel| {
            let result = evm::run(&call, call.tx.gas_limit, cancel)?;
            evm::output(result.result)
        })
        .await
    }

    pub(crate) async fn run_estimate(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        state: Option<StateOverride>,
    ) -> Result<U64, RpcError> {
        let block_gas_limit = self.chain().config().block_gas_limit;
        // As geth: the search goes up to the block's gas limit, capped by the server's gas cap.
        let cap = self.config().gas_cap.min(block_gas_limit);
        let given = request.gas;
        let view = self.state_at(block)?;
        let call = evm::prepare(self.chain().config(), view, request, state, None, cap)?;
        self.blocking(move |cancel| estimate(call, given, block_gas_limit, cancel).map(U64::from))
            .await
    }

    pub(crate) async fn run_access_list(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
    ) -> Result<AccessListResult, RpcError> {
        let initial = request.access_list.clone().unwrap_or_default();
        let call = self.prepare(request, block, None, None)?;
        self.blocking(move |cancel| access_list(call, initial, cancel))
            .await
    }
}

/// geth's and reth's estimate: try the highest limit, then a guess from the gas used, then
/// bisect until the bounds are within 1.5 %.
fn estimate(
    mut call: PreparedCall,
    given: Option<u64>,
    block_gas_limit: u64,
    cancel: &Cancel,
) -> Result<u64, RpcError> {
    let mut highest = given.unwrap_or(block_gas_limit).min(call.tx.gas_limit);
    if call.tx.gas_price > 0 {
        highest = highest.min(evm::caller_allowance(&mut call.db, &call.tx)?);
    }
    // A plain transfer to an account without code needs exactly 21,000.
    if call.tx.data.is_empty()
        && let TxKind::Call(to) = call.tx.kind
        && revm::Database::basic(&mut call.db, to)
            .map_err(|e| RpcError::Internal(e.to_string()))?
            .is_none_or(|a| a.is_empty_code_hash())
        && let Ok(result) = evm::run(&call, MIN_TRANSACTION_GAS, cancel)
        && result.result.is_success()
    {
        return Ok(MIN_TRANSACTION_GAS);
    }
    let first = evm::run(&call, highest, cancel)?;
    let (gas_used, refund) = match first.result {
        ExecutionResult::Success { gas, .. } => (gas.tx_gas_used(), gas.final_refunded()),
        ExecutionResult::Revert { output, .. } => return Err(RpcError::Reverted(output)),
        ExecutionResult::Halt {
            reason: HaltReason::OutOfGas(_),
            ..
        } => return Err(RpcError::GasRequiredExceedsAllowance(highest)),
        ExecutionResult::Halt { reason, .. } => {
            return Err(RpcError::Execution(evm::halt_message(&reason)));
        }
    };
    let succeeds = |gas: u64| -> Result<bool, RpcError> {
        // Stopped by the time limit: no answer, not a failure at this limit.
        if cancel.is_cancelled() {
            return Err(RpcError::Execution("execution aborted".into()));
        }
        match evm::run(&call, gas, cancel) {
            Ok(result) => Ok(result.result.is_success()),
            // Too little gas for the intrinsic cost is a failure at this limit, not an error.
            Err(RpcError::Execution(_)) => Ok(false),
            Err(other) => Err(other),
        }
    };
    let mut lowest = gas_used.saturating_sub(1);
    let optimistic = (gas_used + refund + CALL_STIPEND) * 64 / 63;
    if optimistic < highest {
        if succeeds(optimistic)? {
            highest = optimistic;
        } else {
            lowest = optimistic;
        }
    }
    let mut mid =
        (u128::from(gas_used) * 3).min((u128::from(highest) + u128::from(lowest)) / 2) as u64;
    while lowest + 1 < highest {
        if ((highest - lowest) as f64 / highest as f64) < ESTIMATE_ERROR_RATIO {
            break;
        }
        if succeeds(mid)? {
            highest = mid;
        } else {
            lowest = mid;
        }
        mid = ((u128::from(highest) + u128::from(lowest)) / 2) as u64;
    }
    Ok(highest)
}

/// geth's access list: run with the list found so far until it stops changing; then the gas
/// used with it, and the failure if the call fails.
fn access_list(
    call: PreparedCall,
    initial: AccessList,
    cancel: &Cancel,
) -> Result<AccessListResult, RpcError> {
    let mut previous = initial;
    // Each round can only add what the last one touched; the loop ends, but bound it anyway.
    for _ in 0..64 {
        let mut db = call.db.clone();
        let inspector = (AccessListInspector::new(previous.clone()), cancel.clone());
        let mut evm = EthEvmFactory::default().create_evm_with_inspector(
            &mut db,
            call.env.clone(),
            inspector,
        );
        let tx = TxEnv {
            access_list: previous.clone(),
            tx_type: call.tx.tx_type.max(1),
            ..call.tx.clone()
        };
        let result = evm.transact(tx).map_err(evm::evm_error)?;
        if cancel.is_cancelled() {
            return Err(RpcError::Execution("execution aborted".into()));
        }
        let list = std::mem::take(&mut evm.inspector_mut().0).into_access_list();
        if list == previous {
            let error = match &result.result {
                ExecutionResult::Success { .. } => None,
                ExecutionResult::Revert { output, .. } => {
                    Some(crate::error::revert_message(&output[..]))
                }
                ExecutionResult::Halt { reason, .. } => Some(evm::halt_message(reason)),
            };
            return Ok(AccessListResult {
                access_list: list,
                gas_used: U256::from(result.result.tx_gas_used()),
                error,
            });
        }
        previous = list;
    }
    Err(RpcError::Internal("the access list did not settle".into()))
}
