//! What the RPC reads and where it submits: the [`ChainReader`] (blocks, receipts,
//! transactions, logs, state, finality, batches, operators) and the [`TxPool`]. The RPC has no
//! storage or network of its own; a node implements these over whatever it keeps
//! ([`crate::MemoryChain`] is the in-memory one), an embedder over its own.

use alloy_consensus::{TxEnvelope, transaction::Recovered};
use alloy_primitives::{Address, B256, U256};
use altlayer_core::{
    EvmStateTransition, Header, RollupConfig, evidence::Service, primitives::DaRef,
    sequencer::SubmitError, state::AccountProof, storage::StorageError,
};
use revm::{bytecode::Bytecode, state::AccountInfo};
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::broadcast;

/// A block as the chain holds it: the block, its hash, its transactions' senders and its
/// receipts (core's [`StoredBlock`](altlayer_core::storage::StoredBlock), what a store keeps).
pub type ChainBlock = altlayer_core::storage::StoredBlock;

/// The heights the block tags stand for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ChainTip {
    /// `latest`: the head.
    pub latest: u64,
    /// `safe`: the highest fast-final block (MACH); without fast finality, `finalized`.
    pub safe: u64,
    /// `finalized`: the highest block whose batch outlived its challenge window.
    pub finalized: u64,
}

/// A block's finality tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Tier {
    /// Not in the chain yet.
    Pending,
    /// In the chain on the sequencer's word (or SQUAD's certificate).
    Soft,
    /// Certified by a MACH quorum of restaked operators.
    Fast,
    /// In a batch that outlived its challenge window on settlement.
    Firm,
    /// Re-execution disagreed and an alert reached its threshold: never fast-final.
    Alerted,
}

/// Where a block stands, and what proves it (`altlayer_finality`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockFinality {
    /// The block's height.
    #[serde(with = "alloy_serde::quantity")]
    pub number: u64,
    /// The block's hash (`None` for a pending height).
    pub hash: Option<B256>,
    /// The highest tier reached.
    pub tier: Tier,
    /// The SQUAD quorum certificate's hash, when a sequencer set soft-confirmed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soft_certificate: Option<B256>,
    /// The MACH quorum certificate's hash, when it is fast-final.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fast_certificate: Option<B256>,
    /// The confirmed alert's hash, when it was alerted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<B256>,
    /// The batch holding it, once published.
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "alloy_serde::quantity::opt"
    )]
    pub batch: Option<u64>,
}

/// A confirmed alert: MACH's operators found a block's re-execution disagreeing with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertInfo {
    /// The alerted block's height.
    #[serde(with = "alloy_serde::quantity")]
    pub number: u64,
    /// The alerted block's hash.
    pub hash: B256,
    /// The confirmed alert's hash.
    pub alert: B256,
    /// Whether it still stands (its block was not reverted away yet).
    pub active: bool,
}

/// Where a batch stands on settlement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum BatchStatus {
    /// Published to DA, not yet committed.
    Published,
    /// Committed; its challenge window is open.
    Committed,
    /// A challenge is being played.
    Challenged,
    /// Its window passed: final.
    Finalized,
    /// A challenge proved it (or an earlier batch) wrong: reverted.
    Reverted,
}

/// A challenge against a batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeInfo {
    /// The dispute game.
    #[serde(with = "alloy_serde::quantity")]
    pub dispute: u64,
    /// Who challenged.
    pub challenger: Address,
    /// The challenger's bond.
    pub bond: U256,
    /// How it ended, once it did: `"challengerWon"` or `"proposerWon"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// A batch: its blocks, roots, DA reference, status and challenges (`altlayer_getBatch`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchInfo {
    /// The batch's index.
    #[serde(with = "alloy_serde::quantity")]
    pub index: u64,
    /// Its first block.
    #[serde(with = "alloy_serde::quantity")]
    pub first_block: u64,
    /// Its last block.
    #[serde(with = "alloy_serde::quantity")]
    pub last_block: u64,
    /// Its transactions.
    #[serde(with = "alloy_serde::quantity")]
    pub transactions: u64,
    /// Where it is on DA.
    pub da_ref: DaRef,
    /// Its commitment on settlement, once committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commitment: Option<B256>,
    /// The state root before its first block, once committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_state_root: Option<B256>,
    /// The state root after its last block, once committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_state_root: Option<B256>,
    /// Settlement time (seconds) at which its challenge window closes, once committed.
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "alloy_serde::quantity::opt"
    )]
    pub window_ends: Option<u64>,
    /// Where it stands.
    pub status: BatchStatus,
    /// Challenges against it.
    pub challenges: Vec<ChallengeInfo>,
}

/// An operator of one of the rollup's services and its stake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorInfo {
    /// The operator.
    pub address: Address,
    /// Stake delegated to it at the snapshot.
    pub stake: U256,
}

/// The operator set of a service at its current stake snapshot (`altlayer_operators`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorSetInfo {
    /// The service.
    pub service: Service,
    /// The ledger height of the stake snapshot.
    #[serde(with = "alloy_serde::quantity")]
    pub snapshot: u64,
    /// The operators, by address.
    pub operators: Vec<OperatorInfo>,
    /// Their total stake.
    pub total_stake: U256,
    /// The share of stake a certificate needs, in percent (MACH), if the service has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold_percent: Option<u8>,
}

/// What happens to the chain, as subscriptions and filters see it.
#[derive(Clone, Debug)]
pub enum ChainEvent {
    /// A block became the head.
    Block(Arc<ChainBlock>),
    /// A revert took the chain back: `removed` are the blocks gone (oldest first) and the
    /// head is now at `head`.
    Reverted {
        /// The new head's height.
        head: u64,
        /// The blocks that are gone.
        removed: Vec<Arc<ChainBlock>>,
    },
    /// A transaction entered the pool.
    Pending(B256),
}

/// The state after a block, read by `eth_getBalance`, `eth_call`, `eth_getProof` and the
/// tracers. Implemented for core's [`EvmStateTransition`] (a replica at the block). Reads
/// fail only when the state lives in a store that cannot be read (or no longer keeps the
/// block's state).
pub trait StateView: Send + Sync + std::fmt::Debug {
    /// The header of the block this is the state after.
    fn header(&self) -> &Header;
    /// Nonce, balance and code hash of an account (with its code), `None` if it does not
    /// exist.
    fn account(&self, address: &Address) -> Result<Option<AccountInfo>, StorageError>;
    /// A storage slot (zero when unset).
    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, StorageError>;
    /// Code by its hash.
    fn code_by_hash(&self, hash: &B256) -> Result<Option<Bytecode>, StorageError>;
    /// The hash of a block among the 256 before the next one (`BLOCKHASH`).
    fn block_hash(&self, number: u64) -> Option<B256>;
    /// The EIP-1186 proof of an account and some of its slots, `None` if this state cannot
    /// prove.
    fn proof(
        &self,
        address: &Address,
        slots: &[B256],
    ) -> Result<Option<AccountProof>, StorageError>;
}

impl StateView for EvmStateTransition {
    fn header(&self) -> &Header {
        self.head()
    }

    fn account(&self, address: &Address) -> Result<Option<AccountInfo>, StorageError> {
        self.state().account_info(address)
    }

    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, StorageError> {
        self.state().storage(address, slot)
    }

    fn code_by_hash(&self, hash: &B256) -> Result<Option<Bytecode>, StorageError> {
        self.state().code_by_hash(hash)
    }

    fn block_hash(&self, number: u64) -> Option<B256> {
        EvmStateTransition::block_hash(self, number)
    }

    fn proof(
        &self,
        address: &Address,
        slots: &[B256],
    ) -> Result<Option<AccountProof>, StorageError> {
        self.state().proof(address, slots)
    }
}

/// Log filter criteria an index can narrow the blocks by: any of `addresses` (empty: any),
/// and at each of the four topic positions any of its hashes (empty: any).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogCriteria {
    /// Emitting contracts.
    pub addresses: Vec<Address>,
    /// Topics by position.
    pub topics: [Vec<B256>; 4],
}

/// What the RPC reads. Every method answers from the canonical chain only: after a revert,
/// what was reverted is gone from every answer.
pub trait ChainReader: Send + Sync + 'static {
    /// The rollup's configuration (chain id, spec, gas limit, fee parameters).
    fn config(&self) -> &RollupConfig;

    /// The heights `latest`, `safe` and `finalized` stand for.
    fn tip(&self) -> ChainTip;

    /// The lowest height whose block is kept (`earliest`).
    fn earliest(&self) -> u64 {
        0
    }

    /// The block at `number`.
    fn block(&self, number: u64) -> Option<Arc<ChainBlock>>;

    /// The height of the block with `hash`.
    fn block_number(&self, hash: &B256) -> Option<u64>;

    /// Where a transaction was included: its block's height and its index there.
    fn transaction_location(&self, hash: &B256) -> Option<(u64, usize)>;

    /// The state after block `number`, if it is kept.
    fn state(&self, number: u64) -> Option<Arc<dyn StateView>>;

    /// The heights in `from..=to` whose blocks may hold logs matching `criteria`, in
    /// ascending order, when an index can tell; `None` makes the RPC scan the range with each
    /// block's bloom. The answer may include blocks without a match, never miss one.
    fn log_blocks(&self, _criteria: &LogCriteria, _from: u64, _to: u64) -> Option<Vec<u64>> {
        None
    }

    /// Where block `number` stands, `None` above the head.
    fn finality(&self, number: u64) -> Option<BlockFinality>;

    /// The confirmed alerts.
    fn alerts(&self) -> Vec<AlertInfo>;

    /// Batch `index`.
    fn batch(&self, index: u64) -> Option<BatchInfo>;

    /// The operator set of `service`.
    fn operators(&self, service: Service) -> Option<OperatorSetInfo>;

    /// Events from now on: blocks, reverts and pooled transactions.
    fn subscribe(&self) -> broadcast::Receiver<ChainEvent>;
}

/// Where the RPC submits transactions: the sequencer's pool.
#[async_trait::async_trait]
pub trait TxPool: Send + Sync + 'static {
    /// Offers a transaction with its recovered sender; its hash once pooled.
    async fn submit(&self, tx: Recovered<TxEnvelope>) -> Result<B256, SubmitError>;

    /// The next nonce of `sender` counting its pooled transactions.
    async fn pending_nonce(&self, sender: Address) -> Option<u64>;

    /// A pooled transaction.
    async fn pooled(&self, hash: B256) -> Option<Recovered<TxEnvelope>>;
}
