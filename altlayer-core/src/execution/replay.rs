//! Replaying the start of a block over any revm database: the state one of its transactions
//! saw, for tracers (`debug_traceTransaction`) that re-execute it alone.

use super::{
    BlockExecutor, EthBlockExecutor, EthEvmFactory, Evm, EvmFactory, ExecutionError, Header,
    RollupConfig, RollupHardforks, TxEnvelope, U256,
    run::{block_ctx, evm_env},
};
use alloy_consensus::transaction::Recovered;
use alloy_evm::eth::receipt_builder::AlloyReceiptBuilder;
use revm::{Database, DatabaseRef, database::CacheDB};

/// The state transaction `txs.len()` of the block with `header` saw: `parent` (the state
/// after the block's parent) with the block's pre-execution system calls and its first
/// transactions `txs` applied, as block execution applies them (the base fee credited to the
/// configured recipient included). Nothing is written to `parent`; the changes are in the
/// returned cache.
pub fn replay_prefix<DB>(
    config: &RollupConfig,
    header: &Header,
    parent: DB,
    txs: &[Recovered<TxEnvelope>],
) -> Result<CacheDB<DB>, ExecutionError>
where
    DB: DatabaseRef + std::fmt::Debug,
    DB::Error: std::error::Error + Send + Sync + 'static,
{
    let hardforks = RollupHardforks::new(config.spec);
    let mut db = CacheDB::new(parent);
    let evm = EthEvmFactory::default().create_evm(&mut db, evm_env(config, header));
    let mut executor = EthBlockExecutor::new(
        evm,
        block_ctx(header, txs.len()),
        &hardforks,
        AlloyReceiptBuilder::default(),
    );
    let failed = |e: &dyn std::fmt::Display| ExecutionError::Evm(e.to_string());
    executor
        .apply_pre_execution_changes()
        .map_err(|e| failed(&e))?;
    let base_fee = U256::from(header.base_fee);
    for tx in txs {
        let gas = executor
            .execute_transaction(tx)
            .map_err(|e| failed(&e))?
            .tx_gas_used();
        if let Some(recipient) = config.base_fee_recipient {
            let db = executor.evm_mut().db_mut();
            let mut info = db
                .basic(recipient)
                .map_err(|e| failed(&e))?
                .unwrap_or_default();
            info.balance = info.balance.saturating_add(base_fee * U256::from(gas));
            db.insert_account_info(recipient, info);
        }
    }
    drop(executor);
    Ok(db)
}
