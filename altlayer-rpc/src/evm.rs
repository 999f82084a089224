//! Executing calls for the RPC: the EVM over a [`StateView`], set up as geth sets up
//! `eth_call` (no nonce check, no base fee when no price is given, the gas cap, state and
//! block overrides), and geth's words for what goes wrong.

use crate::{error::RpcError, provider::StateView};
use alloy_evm::{
    Evm, EvmEnv, EvmFactory,
    eth::EthEvmFactory,
    overrides::{apply_block_overrides, apply_state_overrides},
    rpc::TryIntoTxEnv,
};
use alloy_primitives::{Address, B256, U256};
use alloy_rpc_types_eth::{BlockOverrides, TransactionRequest, state::StateOverride};
use altlayer_core::storage::StorageError;
use altlayer_core::{Header, RollupConfig, execution::evm_env};
use revm::{
    DatabaseRef, Inspector,
    bytecode::Bytecode,
    context::{
        TxEnv,
        result::{EVMError, ExecutionResult, HaltReason, InvalidTransaction, ResultAndState},
    },
    database::CacheDB,
    interpreter::{InstructionResult, Interpreter, InterpreterTypes},
    primitives::StorageKey,
    state::AccountInfo,
};
use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

/// A revm database over a [`StateView`]: what the EVM reads for calls and traces.
#[derive(Clone, Debug)]
pub struct StateDb(pub Arc<dyn StateView>);

impl DatabaseRef for StateDb {
    type Error = StorageError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        self.0.account(&address)
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        Ok(self.0.code_by_hash(&code_hash)?.unwrap_or_default())
    }

    fn storage_ref(&self, address: Address, index: StorageKey) -> Result<U256, Self::Error> {
        self.0.storage(&address, &index)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Self::Error> {
        Ok(self.0.block_hash(number).unwrap_or_default())
    }
}

/// The database a call runs against: the state after a block, with overrides on top.
pub type CallDb = CacheDB<StateDb>;

/// A call ready to run: its database, environment and transaction.
#[derive(Debug)]
pub struct PreparedCall {
    /// The state, overrides applied.
    pub db: CallDb,
    /// The block and configuration the call sees.
    pub env: EvmEnv,
    /// The transaction.
    pub tx: TxEnv,
    /// Whether the request named its own gas limit.
    pub gas_given: bool,
}

/// The EVM environment for calls at the state after `header`: the block's own, with the
/// checks geth's `eth_call` leaves out turned off.
pub fn call_env(config: &RollupConfig, header: &Header) -> EvmEnv {
    let mut env = evm_env(config, header);
    env.cfg_env.disable_nonce_check = true;
    env.cfg_env.disable_eip3607 = true;
    env.cfg_env.disable_block_gas_limit = true;
    // The base fee is checked only when the request pays a price (below).
    env.cfg_env.disable_base_fee = true;
    env
}

/// Prepares `request` against `state` as geth's `eth_call` does: overrides applied, the
/// nonce taken from the state, the gas limit the request's capped at `gas_cap` (or, without
/// one, `gas_cap` bounded by what the caller can pay when it gives a price).
pub fn prepare(
    config: &RollupConfig,
    state: Arc<dyn StateView>,
    mut request: TransactionRequest,
    state_overrides: Option<StateOverride>,
    block_overrides: Option<Box<BlockOverrides>>,
    gas_cap: u64,
) -> Result<PreparedCall, RpcError> {
    let mut env = call_env(config, state.header());
    let mut db = CacheDB::new(StateDb(state));
    if let Some(overrides) = block_overrides {
        apply_block_overrides(*overrides, &mut db, &mut env.block_env);
    }
    if let Some(overrides) = state_overrides {
        apply_state_overrides(overrides, &mut db)
            .map_err(|e| RpcError::InvalidParams(e.to_string()))?;
    }
    let gas_given = request.gas.is_some();
    request.gas = Some(request.gas.map_or(gas_cap, |gas| gas.min(gas_cap)));
    let nonce = request.nonce.take();
    let mut tx: TxEnv = request
        .try_into_tx_env(&env)
        .map_err(|e| RpcError::InvalidParams(e.to_string()))?;
    tx.nonce = match nonce {
        Some(nonce) => nonce,
        None => revm::Database::basic(&mut db, tx.caller)
            .map_err(|e| RpcError::Internal(e.to_string()))?
            .map_or(0, |a| a.nonce),
    };
    if tx.gas_price == 0 {
        // No price: nothing is charged, so no base fee applies either (geth's NoBaseFee).
        env.block_env.basefee = 0;
    } else {
        env.cfg_env.disable_base_fee = false;
        if !gas_given {
            tx.gas_limit = tx.gas_limit.min(caller_allowance(&mut db, &tx)?);
        }
    }
    Ok(PreparedCall {
        db,
        env,
        tx,
        gas_given,
    })
}

/// The gas the caller's balance pays for at the call's price, after its value.
pub fn caller_allowance(db: &mut CallDb, tx: &TxEnv) -> Result<u64, RpcError> {
    let balance = revm::Database::basic(db, tx.caller)
        .map_err(|e| RpcError::Internal(e.to_string()))?
        .map_or(U256::ZERO, |a| a.balance);
    let available = balance
        .checked_sub(tx.value)
        .ok_or(RpcError::InsufficientFunds {
            balance,
            cost: tx.value,
        })?;
    if tx.gas_price == 0 {
        return Ok(u64::MAX);
    }
    Ok((available / U256::from(tx.gas_price)).saturating_to())
}

/// Runs a prepared call with `gas_limit` against a copy of its database (nothing sticks).
pub fn run(
    call: &PreparedCall,
    gas_limit: u64,
    cancel: &Cancel,
) -> Result<ResultAndState<HaltReason>, RpcError> {
    let mut db = call.db.clone();
    let mut evm = EthEvmFactory::default().create_evm_with_inspector(
        &mut db,
        call.env.clone(),
        cancel.clone(),
    );
    let tx = TxEnv {
        gas_limit,
        ..call.tx.clone()
    };
    let result = evm.transact(tx).map_err(evm_error)?;
    if cancel.is_cancelled() {
        return Err(RpcError::Execution("execution aborted".into()));
    }
    Ok(result)
}

/// Stops a running EVM once set, as geth's `evm.Cancel()` stops a call past
/// `--rpc.evmtimeout`: a call that timed out stops within one instruction instead of running
/// to its gas limit on a blocking thread nobody waits for.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// Stops every EVM watching this.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether it was stopped.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl<CTX, INTR: InterpreterTypes> Inspector<CTX, INTR> for Cancel {
    fn step(&mut self, interp: &mut Interpreter<INTR>, _context: &mut CTX) {
        // Every frame halts at its next instruction, the callers after their callees.
        if self.is_cancelled() {
            interp.halt(InstructionResult::OutOfGas);
        }
    }
}

/// An EVM refusal in geth's words.
pub fn evm_error(error: EVMError<StorageError>) -> RpcError {
    match error {
        EVMError::Transaction(InvalidTransaction::LackOfFundForMaxFee { fee, balance }) => {
            RpcError::InsufficientFunds {
                balance: *balance,
                cost: *fee,
            }
        }
        EVMError::Transaction(InvalidTransaction::CallGasCostMoreThanGasLimit {
            initial_gas,
            gas_limit,
        }) => RpcError::Execution(format!(
            "intrinsic gas too low: gas {gas_limit}, minimum needed {initial_gas}"
        )),
        EVMError::Transaction(InvalidTransaction::GasPriceLessThanBasefee) => {
            RpcError::Execution("max fee per gas less than block base fee".into())
        }
        EVMError::Transaction(error) => RpcError::Execution(error.to_string()),
        EVMError::Database(error) => RpcError::Internal(error.to_string()),
        other => RpcError::Execution(other.to_string()),
    }
}

/// Why a call halted, in geth's words.
pub fn halt_message(reason: &HaltReason) -> String {
    match reason {
        HaltReason::OutOfGas(_) => "out of gas".into(),
        HaltReason::OpcodeNotFound | HaltReason::InvalidFEOpcode => "invalid opcode".into(),
        HaltReason::InvalidJump => "invalid jump destination".into(),
        HaltReason::StackUnderflow => "stack underflow".into(),
        HaltReason::StackOverflow => "stack limit reached 1024 (1023)".into(),
        HaltReason::OutOfOffset => "return data out of bounds".into(),
        HaltReason::CreateCollision => "contract address collision".into(),
        HaltReason::NonceOverflow => "nonce uint64 overflow".into(),
        HaltReason::CreateContractSizeLimit => "max code size exceeded".into(),
        HaltReason::CreateContractStartingWithEF => "invalid code: must not begin with 0xef".into(),
        HaltReason::CreateInitCodeSizeLimit => "max initcode size exceeded".into(),
        HaltReason::StateChangeDuringStaticCall | HaltReason::CallNotAllowedInsideStatic => {
            "write protection".into()
        }
        HaltReason::OutOfFunds => "insufficient balance for transfer".into(),
        HaltReason::CallTooDeep => "max call depth exceeded".into(),
        other => other.to_string(),
    }
}

/// A call's output, or its revert or halt as an error.
pub fn output(result: ExecutionResult<HaltReason>) -> Result<alloy_primitives::Bytes, RpcError> {
    match result {
        ExecutionResult::Success { output, .. } => Ok(output.into_data()),
        ExecutionResult::Revert { output, .. } => Err(RpcError::Reverted(output)),
        ExecutionResult::Halt { reason, .. } => Err(RpcError::Execution(halt_message(&reason))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Bytes, TxKind};
    use alloy_rpc_types_eth::{TransactionInput, state::AccountOverride};
    use altlayer_core::dev::dev_state_transition;

    #[test]
    fn a_cancelled_call_stops_instead_of_spending_its_gas() {
        let genesis = dev_state_transition(RollupConfig::default(), 1);
        let config = genesis.config().clone();
        // JUMPDEST PUSH1 0 JUMP, with ten billion gas: minutes of looping unless stopped.
        let spinner = Address::repeat_byte(0x5b);
        let mut overrides = StateOverride::default();
        overrides.insert(
            spinner,
            AccountOverride {
                code: Some(Bytes::from_static(&[0x5b, 0x60, 0x00, 0x56])),
                ..Default::default()
            },
        );
        let request = TransactionRequest {
            to: Some(TxKind::Call(spinner)),
            input: TransactionInput::default(),
            ..Default::default()
        };
        let gas = 10_000_000_000;
        let call = prepare(
            &config,
            Arc::new(genesis),
            request,
            Some(overrides),
            None,
            gas,
        )
        .expect("prepared");
        assert_eq!(call.tx.gas_limit, gas);
        let cancel = Cancel::default();
        let stopper = cancel.clone();
        let stop = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            stopper.cancel();
        });
        let result = run(&call, gas, &cancel);
        stop.join().unwrap();
        assert_eq!(
            result.unwrap_err().to_string(),
            RpcError::Execution("execution aborted".into()).to_string()
        );
        // A call that is not cancelled runs to its end: out of gas at a small limit.
        let done = run(&call, 100_000, &Cancel::default()).unwrap();
        assert!(matches!(done.result, ExecutionResult::Halt { .. }));
    }
}
