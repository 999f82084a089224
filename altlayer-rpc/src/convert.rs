//! The chain's blocks, transactions, receipts and logs in alloy's RPC types, so that field
//! names and encodings are Ethereum's.
//!
//! A rollup header carries more than Ethereum's (chain and rollup id, DA reference) and hashes
//! differently: the RPC header shows the Ethereum fields the EVM saw (the sequencer as
//! `miner`, the parent hash as `mixHash`, since `PREVRANDAO` is the parent hash) with the
//! rollup's own block hash.

use crate::provider::ChainBlock;
use alloy_consensus::{
    Eip658Value, Receipt as ConsensusReceipt, ReceiptEnvelope, ReceiptWithBloom, Sealed,
    Transaction as _, TxEnvelope, TxReceipt as _, constants::EMPTY_OMMER_ROOT_HASH,
    transaction::Recovered,
};
use alloy_eips::{Encodable2718, eip7685::EMPTY_REQUESTS_HASH};
use alloy_primitives::{B64, B256, Bytes, U256};
use alloy_rpc_types_eth::{
    Block as RpcBlock, BlockTransactions, Header as RpcHeader, Log, Transaction, TransactionInfo,
    TransactionReceipt,
};
use alloy_trie::EMPTY_ROOT_HASH;
use altlayer_core::{Header, RollupConfig};
use revm::primitives::hardfork::SpecId;

/// The Ethereum header a rollup header stands for under `spec`.
pub fn consensus_header(header: &Header, spec: SpecId) -> alloy_consensus::Header {
    let shanghai = spec.is_enabled_in(SpecId::SHANGHAI);
    let cancun = spec.is_enabled_in(SpecId::CANCUN);
    alloy_consensus::Header {
        parent_hash: header.parent_hash,
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        beneficiary: header.sequencer,
        state_root: header.state_root,
        transactions_root: header.transactions_root,
        receipts_root: header.receipts_root,
        logs_bloom: header.logs_bloom,
        difficulty: U256::ZERO,
        number: header.height,
        gas_limit: header.gas_limit,
        gas_used: header.gas_used,
        timestamp: header.timestamp,
        extra_data: Bytes::new(),
        mix_hash: header.parent_hash,
        nonce: B64::ZERO,
        base_fee_per_gas: spec
            .is_enabled_in(SpecId::LONDON)
            .then_some(header.base_fee),
        withdrawals_root: shanghai.then_some(EMPTY_ROOT_HASH),
        blob_gas_used: cancun.then_some(0),
        excess_blob_gas: cancun.then_some(0),
        parent_beacon_block_root: cancun.then_some(B256::ZERO),
        requests_hash: spec
            .is_enabled_in(SpecId::PRAGUE)
            .then_some(EMPTY_REQUESTS_HASH),
        ..Default::default()
    }
}

/// A block's RPC header, with its size (the RLP length of the block).
pub fn rpc_header(block: &ChainBlock, config: &RollupConfig) -> RpcHeader {
    let inner = consensus_header(block.header(), config.spec);
    let size = block.block.encoded().len();
    RpcHeader::from_consensus(
        Sealed::new_unchecked(inner, block.hash),
        None,
        Some(U256::from(size)),
    )
}

/// A block in the RPC's shape: with its transactions' hashes, or the transactions in full.
pub fn rpc_block(block: &ChainBlock, config: &RollupConfig, full: bool) -> RpcBlock {
    let header = rpc_header(block, config);
    let transactions = if full {
        BlockTransactions::Full(
            (0..block.block.transactions.len())
                .filter_map(|index| rpc_transaction(block, index))
                .collect(),
        )
    } else {
        BlockTransactions::Hashes(
            block
                .block
                .transactions
                .iter()
                .map(|tx| *tx.tx_hash())
                .collect(),
        )
    };
    let mut rpc = RpcBlock::new(header, transactions);
    if config.spec.is_enabled_in(SpecId::SHANGHAI) {
        rpc = rpc.with_withdrawals(Some(Default::default()));
    }
    rpc
}

/// Transaction `index` of a block, with its sender and place.
pub fn rpc_transaction(block: &ChainBlock, index: usize) -> Option<Transaction> {
    let tx = block.block.transactions.get(index)?;
    let sender = *block.senders.get(index)?;
    let header = block.header();
    Some(Transaction::from_transaction(
        Recovered::new_unchecked(tx.clone(), sender),
        TransactionInfo {
            hash: Some(*tx.tx_hash()),
            index: Some(index as u64),
            block_hash: Some(block.hash),
            block_number: Some(header.height),
            base_fee: Some(header.base_fee),
            block_timestamp: None,
        },
    ))
}

/// A pooled transaction: no block, index or effective price yet (`null`s, as geth answers).
pub fn rpc_pending_transaction(tx: Recovered<TxEnvelope>) -> Transaction {
    let hash = *tx.inner().tx_hash();
    Transaction::from_transaction(
        tx,
        TransactionInfo {
            hash: Some(hash),
            ..Default::default()
        },
    )
}

/// The logs of a block in order, with their block, transaction and log index (counted across
/// the block); `removed` marks logs of a reverted block.
pub fn rpc_logs(block: &ChainBlock, removed: bool) -> Vec<Vec<Log>> {
    let header = block.header();
    let mut log_index = 0u64;
    block
        .receipts
        .iter()
        .zip(&block.block.transactions)
        .enumerate()
        .map(|(index, (receipt, tx))| {
            receipt
                .logs()
                .iter()
                .map(|inner| {
                    let log = Log {
                        inner: inner.clone(),
                        block_hash: Some(block.hash),
                        block_number: Some(header.height),
                        block_timestamp: Some(header.timestamp),
                        transaction_hash: Some(*tx.tx_hash()),
                        transaction_index: Some(index as u64),
                        log_index: Some(log_index),
                        removed,
                    };
                    log_index += 1;
                    log
                })
                .collect()
        })
        .collect()
}

/// The receipt of transaction `index` of a block.
pub fn rpc_receipt(block: &ChainBlock, index: usize) -> Option<TransactionReceipt> {
    let mut logs = rpc_logs(block, false);
    rpc_receipt_with_logs(block, index, std::mem::take(logs.get_mut(index)?))
}

/// Every receipt of a block, in order.
pub fn rpc_receipts(block: &ChainBlock) -> Vec<TransactionReceipt> {
    rpc_logs(block, false)
        .into_iter()
        .enumerate()
        .filter_map(|(index, logs)| rpc_receipt_with_logs(block, index, logs))
        .collect()
}

fn rpc_receipt_with_logs(
    block: &ChainBlock,
    index: usize,
    logs: Vec<Log>,
) -> Option<TransactionReceipt> {
    let tx = block.block.transactions.get(index)?;
    let receipt = block.receipts.get(index)?;
    let sender = *block.senders.get(index)?;
    let header = block.header();
    let before = index
        .checked_sub(1)
        .and_then(|i| block.receipts.get(i))
        .map_or(0, |r| r.cumulative_gas_used());
    let inner = ReceiptEnvelope::from_typed(
        tx.tx_type(),
        ReceiptWithBloom::new(
            ConsensusReceipt {
                status: Eip658Value::Eip658(receipt.status()),
                cumulative_gas_used: receipt.cumulative_gas_used(),
                logs,
            },
            receipt.bloom(),
        ),
    );
    Some(TransactionReceipt {
        inner,
        transaction_hash: *tx.tx_hash(),
        transaction_index: Some(index as u64),
        block_hash: Some(block.hash),
        block_number: Some(header.height),
        gas_used: receipt.cumulative_gas_used() - before,
        effective_gas_price: tx.effective_gas_price(Some(header.base_fee)),
        blob_gas_used: None,
        blob_gas_price: None,
        from: sender,
        to: tx.to(),
        contract_address: tx.kind().is_create().then(|| sender.create(tx.nonce())),
    })
}

/// The EIP-2718 bytes of a transaction (for `eth_getRawTransaction*`).
pub fn raw_transaction(tx: &TxEnvelope) -> Bytes {
    tx.encoded_2718().into()
}
