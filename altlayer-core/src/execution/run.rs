//! Running a block, or part of one, with alloy-evm over any state source; checking
//! transactions before revm sees them, and headers against their parents.

use super::*;

/// The EVM environment a block executes in: the configuration's spec and chain id, and the
/// block's number, coinbase (its sequencer), timestamp, gas limit and base fee. `PREVRANDAO`
/// is the parent hash (there is no beacon chain). For `eth_call`, tracing and any other
/// execution that must see what the block's transactions saw.
pub fn evm_env(config: &RollupConfig, header: &Header) -> EvmEnv {
    let mut cfg = CfgEnv::new_with_spec(config.spec);
    cfg.chain_id = config.chain_id;
    // Chain id is checked (with a typed error) before the EVM sees the transaction.
    cfg.tx_chain_id_check = true;
    let block = BlockEnv {
        number: U256::from(header.height),
        beneficiary: header.sequencer,
        timestamp: U256::from(header.timestamp),
        gas_limit: header.gas_limit,
        basefee: header.base_fee,
        difficulty: U256::ZERO,
        // There is no beacon chain: PREVRANDAO is the parent hash. Predictable to the
        // sequencer, so contracts must not use it as a source of secret randomness.
        prevrandao: Some(header.parent_hash),
        blob_excess_gas_and_price: config
            .spec
            .is_enabled_in(SpecId::CANCUN)
            .then(|| BlobExcessGasAndPrice::new_with_spec(0, config.spec)),
        ..Default::default()
    };
    EvmEnv::new(cfg, block)
}

/// What alloy-evm's block executor needs to know of a block beyond its EVM environment.
pub(super) fn block_ctx(header: &Header, count_hint: usize) -> EthBlockExecutionCtx<'static> {
    EthBlockExecutionCtx {
        parent_hash: header.parent_hash,
        // No beacon chain: the EIP-4788 system call records a zero root.
        parent_beacon_block_root: Some(B256::ZERO),
        ommers: &[],
        withdrawals: Some(Cow::Borrowed(&[])),
        extra_data: Bytes::new(),
        tx_count_hint: Some(count_hint),
        slot_number: None,
    }
}

/// How a nonce ahead of the sender's is taken.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Nonces {
    /// Refused: a block executes each sender's transactions in nonce order.
    Exact,
    /// Accepted: a pool holds it until the ones before it arrive.
    Future,
}

/// Checks a transaction against the rules Ethereum's transaction pool and block validation
/// apply, in the order geth applies them, with the sender's state as execution sees it.
pub(super) fn validate<S: StateSource>(
    config: &RollupConfig,
    tx: &Recovered<TxEnvelope>,
    header: &Header,
    overlay: &mut Overlay<'_, S>,
    gas_left: u64,
    nonces: Nonces,
) -> Result<(), TxError> {
    let envelope = tx.inner();
    let size = envelope.encode_2718_len();
    if size > config.max_tx_size {
        return Err(TxError::Oversize {
            size,
            limit: config.max_tx_size,
        });
    }
    if envelope.is_eip4844() {
        return Err(TxError::UnsupportedType(0x03));
    }
    check_chain_id(envelope, config.chain_id, config.allow_unprotected_txs)?;
    let gas_limit = envelope.gas_limit();
    if gas_limit > header.gas_limit {
        return Err(TxError::GasLimitAboveBlockLimit {
            gas_limit,
            block_gas_limit: header.gas_limit,
        });
    }
    if gas_limit > gas_left {
        return Err(TxError::BlockGasExhausted {
            gas_limit,
            available: gas_left,
        });
    }
    let max_fee = envelope.max_fee_per_gas();
    if let Some(priority_fee) = envelope.max_priority_fee_per_gas()
        && priority_fee > max_fee
    {
        return Err(TxError::PriorityFeeAboveFeeCap {
            priority_fee,
            max_fee,
        });
    }
    if max_fee < u128::from(header.base_fee) {
        return Err(TxError::FeeCapBelowBaseFee {
            max_fee,
            base_fee: header.base_fee,
        });
    }
    let access_list = envelope.access_list();
    let intrinsic = calculate_initial_tx_gas(
        config.spec,
        envelope.input(),
        envelope.kind().is_create(),
        access_list.map_or(0, |list| list.len() as u64),
        access_list.map_or(0, |list| {
            list.iter().map(|item| item.storage_keys.len() as u64).sum()
        }),
        envelope
            .authorization_list()
            .map_or(0, |list| list.len() as u64),
        None,
    );
    let required =
        (intrinsic.initial_regular_gas + intrinsic.initial_state_gas).max(intrinsic.floor_gas);
    if gas_limit < required {
        return Err(TxError::IntrinsicGasTooLow {
            gas_limit,
            intrinsic: required,
        });
    }
    // A read the witness cannot answer is noted in the overlay, and the runner fails on it
    // before looking at this verdict.
    let missing = || TxError::Evm("state missing from the witness".into());
    let sender = overlay.account(&tx.signer());
    let (nonce, balance, code_hash) = overlay.note(sender).map_err(|_| missing())?.unwrap_or((
        0,
        U256::ZERO,
        alloy_trie::KECCAK_EMPTY,
    ));
    if envelope.nonce() < nonce {
        return Err(TxError::NonceTooLow {
            expected: nonce,
            got: envelope.nonce(),
        });
    }
    if envelope.nonce() > nonce && nonces == Nonces::Exact {
        return Err(TxError::NonceTooHigh {
            expected: nonce,
            got: envelope.nonce(),
        });
    }
    if code_hash != alloy_trie::KECCAK_EMPTY {
        let code = overlay
            .code_of(&code_hash)
            .map(|code| code.is_some_and(|code| code.is_eip7702()));
        let delegated = overlay.note(code).map_err(|_| missing())?;
        if !delegated {
            return Err(TxError::SenderHasCode(tx.signer()));
        }
    }
    let cost = U256::from(gas_limit)
        .saturating_mul(U256::from(max_fee))
        .saturating_add(envelope.value());
    if balance < cost {
        return Err(TxError::InsufficientFunds { balance, cost });
    }
    Ok(())
}

/// Executes part of a block into `overlay` (see [`Part`]). Candidates arrive as a stream so
/// that sender recovery can still be running on other cores while earlier transactions execute.
/// A read the overlay's source cannot answer fails the run with [`ExecutionError::MissingState`]
/// whatever else went wrong, since nothing after it can be trusted.
pub(crate) fn run_part<S: StateSource>(
    config: &RollupConfig,
    overlay: &mut Overlay<'_, S>,
    header: &Header,
    txs: &mut dyn Iterator<Item = Candidate>,
    count_hint: usize,
    mode: Mode,
    part: Part,
) -> Result<PartRun, ExecutionError> {
    let hardforks = RollupHardforks::new(config.spec);
    let env = evm_env(config, header);
    let ctx = block_ctx(header, count_hint);
    let base_fee = U256::from(header.base_fee);
    let mut included = Vec::with_capacity(count_hint);
    let mut rejected = Vec::new();
    let evm = EthEvmFactory::default().create_evm(&mut *overlay, env);
    let mut executor = EthBlockExecutor::new(evm, ctx, &hardforks, AlloyReceiptBuilder::default());
    if part.pre {
        let pre = executor.apply_pre_execution_changes();
        if let Some(missing) = executor.evm_mut().db_mut().take_missing() {
            return Err(ExecutionError::MissingState(missing));
        }
        pre.map_err(|e| ExecutionError::Evm(e.to_string()))?;
    }
    executor.evm_mut().db_mut().end_step();
    let mut gas_used = part.gas_used_before;
    for (index, candidate) in txs.enumerate() {
        let tx = match candidate {
            Ok(tx) => tx,
            Err(refused) => {
                if mode == Mode::Strict {
                    return Err(ExecutionError::InvalidTransaction {
                        index,
                        hash: refused.hash,
                        error: refused.error,
                    });
                }
                rejected.push(*refused);
                continue;
            }
        };
        let gas_left = header.gas_limit.saturating_sub(gas_used);
        let checked = validate(
            config,
            &tx,
            header,
            executor.evm_mut().db_mut(),
            gas_left,
            Nonces::Exact,
        );
        let result = match checked {
            Ok(()) => executor.execute_transaction(&tx).map_err(evm_tx_error),
            Err(err) => Err(Some(err)),
        };
        if let Some(missing) = executor.evm_mut().db_mut().take_missing() {
            return Err(ExecutionError::MissingState(missing));
        }
        match result {
            Ok(gas) => {
                let gas = gas.tx_gas_used();
                gas_used += gas;
                if let Some(recipient) = config.base_fee_recipient {
                    executor
                        .evm_mut()
                        .db_mut()
                        .credit(recipient, base_fee * U256::from(gas));
                }
                executor.evm_mut().db_mut().end_step();
                included.push(tx);
            }
            Err(None) => {
                return Err(ExecutionError::Evm(format!(
                    "transaction {} failed inside the EVM",
                    tx.inner().tx_hash()
                )));
            }
            Err(Some(error)) => {
                // The hash is computed only when a refusal has to name the transaction.
                let hash = *tx.inner().tx_hash();
                if mode == Mode::Strict {
                    return Err(ExecutionError::InvalidTransaction { index, hash, error });
                }
                rejected.push(RejectedTx {
                    hash,
                    sender: Some(tx.signer()),
                    error,
                });
            }
        }
    }
    let receipts = if part.post {
        let finished = executor.finish().map(|(_evm, result)| result.receipts);
        if let Some(missing) = overlay.take_missing() {
            return Err(ExecutionError::MissingState(missing));
        }
        finished.map_err(|e| ExecutionError::Evm(e.to_string()))?
    } else {
        executor.receipts().to_vec()
    };
    Ok(PartRun {
        included,
        receipts,
        gas_used: gas_used - part.gas_used_before,
        rejected,
    })
}

/// Base fee of the block after `parent`, by EIP-1559 (the first block keeps genesis's).
pub fn base_fee_after(config: &RollupConfig, parent: &Header) -> u64 {
    if parent.height == 0 {
        return parent.base_fee;
    }
    config
        .base_fee_params
        .next_block_base_fee(parent.gas_used, parent.gas_limit, parent.base_fee)
}

/// Checks what a block's header must be given its parent alone, before anything executes:
/// rollup, parent link and height, timestamp, base fee and gas limit.
pub(crate) fn check_child(
    config: &RollupConfig,
    parent: &Header,
    got: &Header,
) -> Result<(), ExecutionError> {
    if got.chain_id != config.chain_id || got.rollup_id != config.rollup_id {
        return Err(ExecutionError::WrongRollup {
            chain_id: got.chain_id,
            rollup_id: got.rollup_id,
        });
    }
    let parent_hash = parent.hash();
    if got.parent_hash != parent_hash || got.height != parent.height + 1 {
        return Err(ExecutionError::NotChild {
            expected: parent_hash,
            expected_height: parent.height + 1,
            got: got.parent_hash,
            got_height: got.height,
        });
    }
    if got.timestamp < parent.timestamp {
        return Err(ExecutionError::TimestampBeforeParent {
            parent: parent.timestamp,
            got: got.timestamp,
        });
    }
    check_field(
        "base_fee",
        base_fee_after(config, parent),
        got.base_fee,
        None,
    )?;
    check_field("gas_limit", config.block_gas_limit, got.gas_limit, None)
}

/// Compares the header execution computed with the one received, field by field, so the error
/// names the first field that differs.
pub(super) fn compare_headers(
    computed: &Header,
    got: &Header,
    outcome: &mut BlockOutcome,
) -> Result<(), ExecutionError> {
    let expected_hash = computed.hash();
    let hash = Some(expected_hash);
    check_field(
        "transactions_root",
        computed.transactions_root,
        got.transactions_root,
        hash,
    )?;
    check_field(
        "receipts_root",
        computed.receipts_root,
        got.receipts_root,
        hash,
    )?;
    check_field("gas_used", computed.gas_used, got.gas_used, hash)?;
    check_field("logs_bloom", computed.logs_bloom, got.logs_bloom, hash)?;
    if computed.state_root != got.state_root {
        return Err(ExecutionError::StateRootMismatch {
            expected: computed.state_root,
            got: got.state_root,
            intermediate_roots: core::mem::take(&mut outcome.intermediate_roots),
        });
    }
    // Every other field was taken from the received header; equality is a final guard.
    check_field("hash", expected_hash, got.hash(), hash)
}

/// Compares one header field; a mismatch names it, with the hash of the header execution
/// computed when there is one.
pub(super) fn check_field<T: PartialEq + std::fmt::Display>(
    field: &'static str,
    expected: T,
    got: T,
    expected_hash: Option<B256>,
) -> Result<(), ExecutionError> {
    if expected == got {
        Ok(())
    } else {
        Err(ExecutionError::HeaderMismatch {
            field,
            expected: expected.to_string(),
            got: got.to_string(),
            expected_hash,
        })
    }
}

/// Maps an executor error on one transaction to a typed reason, or `None` when the fault is not
/// the transaction's (a database or internal EVM error). The checks in `validate` run first and
/// cover every rule revm enforces before execution, so the EVM's own refusals are a fallback.
pub(super) fn evm_tx_error(err: BlockExecutionError) -> Option<TxError> {
    match err {
        BlockExecutionError::Validation(
            BlockValidationError::TransactionGasLimitMoreThanAvailableBlockGas {
                transaction_gas_limit,
                block_available_gas,
            },
        ) => Some(TxError::BlockGasExhausted {
            gas_limit: transaction_gas_limit,
            available: block_available_gas,
        }),
        BlockExecutionError::Validation(BlockValidationError::InvalidTx { error, .. }) => {
            Some(TxError::Evm(error.to_string()))
        }
        _ => None,
    }
}
