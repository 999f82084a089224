//! The [`Sequencer`] composition point: turning pending transactions into ordered blocks.
//!
//! A sequencer is a sans-IO state machine: transactions and clock ticks go in, blocks and
//! reports come out. The default, [`SingleSequencer`], is one operator ordering by arrival;
//! SQUAD (altlayer-avs) replaces it with a staked BFT sequencer set behind the same trait.

use crate::{
    execution::{BlockAttributes, BuiltBlock, ExecuteOptions, ExecutionError, RejectedTx},
    primitives::DaRef,
    transaction::TxError,
    transition::StateTransition,
};
use alloy_consensus::{Transaction as _, TxEnvelope, transaction::Recovered};
use alloy_primitives::{Address, B256, map::AddressMap};
use std::collections::{BTreeMap, HashSet, VecDeque};

/// What a sequencer reports after a tick.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SequencerEvent {
    /// A block was ordered and executed (for a BFT set: committed).
    Block(Box<BuiltBlock>),
    /// A transaction was dropped from the pool, and why.
    Rejected(RejectedTx),
}

/// Why a sequencer refused a transaction at submission.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The transaction itself is invalid.
    #[error(transparent)]
    Invalid(#[from] TxError),
    /// The pool refused it.
    #[error(transparent)]
    Pool(#[from] PoolError),
}

/// Why a sequencer could not make progress.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SequencerError {
    /// Building the block failed outside any transaction's fault.
    #[error("block building failed: {0}")]
    Execution(Box<ExecutionError>),
}

impl From<ExecutionError> for SequencerError {
    fn from(error: ExecutionError) -> Self {
        Self::Execution(Box::new(error))
    }
}

/// Orders transactions into blocks.
///
/// Time is an input (`now_ms`, milliseconds since the Unix epoch), never read from the clock, so
/// the node and the deterministic simulator drive the same code.
///
/// # Example
///
/// ```
/// use altlayer_core::{
///     RollupConfig, Sequencer,
///     genesis::{parse_genesis, state_transition_from_genesis},
///     sequencer::{SequencerConfig, SequencerEvent, SingleSequencer},
/// };
///
/// let genesis = parse_genesis(r#"{"config":{"chainId":1337},"alloc":{}}"#)?;
/// let stf = state_transition_from_genesis(RollupConfig::default(), &genesis);
/// let mut sequencer = SingleSequencer::new(stf, SequencerConfig { block_time_ms: 1_000, ..Default::default() });
/// // The first tick at or after the block time produces block 1 (empty here).
/// let events = sequencer.on_tick(1_000)?;
/// assert!(matches!(&events[0], SequencerEvent::Block(b) if b.block.header.height == 1));
/// assert!(sequencer.on_tick(1_500)?.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Sequencer {
    /// Offers a transaction with its recovered sender. Returns its hash once pooled.
    fn submit(&mut self, tx: Recovered<TxEnvelope>) -> Result<B256, SubmitError>;

    /// Number of transactions waiting.
    fn pending(&self) -> usize;

    /// Advances the sequencer to `now_ms`; returns the blocks and reports this produced.
    fn on_tick(&mut self, now_ms: u64) -> Result<Vec<SequencerEvent>, SequencerError>;
}

/// Settings of the [`SingleSequencer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SequencerConfig {
    /// Target time between blocks.
    pub block_time_ms: u64,
    /// Most transactions offered to one block.
    pub max_txs_per_block: usize,
    /// Most transactions held in the pool.
    pub max_pool_size: usize,
    /// The sequencer's address: the blocks' `COINBASE`, receiving priority fees.
    pub address: Address,
    /// Ask the state transition for per-transaction state roots.
    pub intermediate_roots: bool,
}

impl Default for SequencerConfig {
    fn default() -> Self {
        Self {
            block_time_ms: 1_000,
            max_txs_per_block: 10_000,
            max_pool_size: 100_000,
            address: Address::ZERO,
            intermediate_roots: false,
        }
    }
}

/// A transaction pool ordered by arrival, with each sender's transactions in nonce order.
///
/// Deliberately simple: SQUAD's mempool adds fee priority and eviction.
#[derive(Debug, Default)]
pub struct Mempool {
    by_sender: AddressMap<BTreeMap<u64, Recovered<TxEnvelope>>>,
    /// Senders in order of their first pooled transaction.
    arrival: VecDeque<Address>,
    hashes: HashSet<B256>,
    len: usize,
}

/// Why the pool refused a transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The same transaction is already pooled.
    #[error("transaction {0} is already pooled")]
    Duplicate(B256),
    /// Another transaction with this sender and nonce is already pooled.
    #[error("a transaction from {sender} with nonce {nonce} is already pooled")]
    NonceTaken {
        /// Sender.
        sender: Address,
        /// Nonce.
        nonce: u64,
    },
    /// The pool is full.
    #[error("transaction pool is full ({0} transactions)")]
    Full(usize),
}

impl Mempool {
    /// Number of pooled transactions.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether the pool is empty.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a transaction; fails on a duplicate, a taken nonce or a full pool.
    pub fn insert(&mut self, tx: Recovered<TxEnvelope>, max_len: usize) -> Result<B256, PoolError> {
        let hash = *tx.inner().tx_hash();
        if self.hashes.contains(&hash) {
            return Err(PoolError::Duplicate(hash));
        }
        if self.len >= max_len {
            return Err(PoolError::Full(self.len));
        }
        let sender = tx.signer();
        let nonce = tx.inner().nonce();
        let queue = self.by_sender.entry(sender).or_default();
        if queue.contains_key(&nonce) {
            return Err(PoolError::NonceTaken { sender, nonce });
        }
        if queue.is_empty() {
            self.arrival.push_back(sender);
        }
        queue.insert(nonce, tx);
        self.hashes.insert(hash);
        self.len += 1;
        Ok(hash)
    }

    /// Takes up to `max` transactions: senders in arrival order, each sender's in nonce order.
    pub fn take(&mut self, max: usize) -> Vec<Recovered<TxEnvelope>> {
        let mut out = Vec::with_capacity(max.min(self.len));
        while out.len() < max {
            let Some(sender) = self.arrival.pop_front() else {
                break;
            };
            let Some(queue) = self.by_sender.get_mut(&sender) else {
                continue;
            };
            while out.len() < max {
                let Some((_, tx)) = queue.pop_first() else {
                    break;
                };
                self.hashes.remove(tx.inner().tx_hash());
                self.len -= 1;
                out.push(tx);
            }
            if queue.is_empty() {
                self.by_sender.remove(&sender);
            } else {
                // The block filled up part-way through this sender: it goes first next time.
                self.arrival.push_front(sender);
            }
        }
        out
    }
}

/// One operator ordering transactions by arrival and producing a block every `block_time_ms`.
#[derive(Debug)]
pub struct SingleSequencer<S> {
    stf: S,
    config: SequencerConfig,
    pool: Mempool,
    next_block_ms: Option<u64>,
    da_ref: DaRef,
}

impl<S: StateTransition> SingleSequencer<S> {
    /// A sequencer extending the head of `stf`.
    pub fn new(stf: S, config: SequencerConfig) -> Self {
        Self {
            stf,
            config,
            pool: Mempool::default(),
            next_block_ms: None,
            da_ref: DaRef::default(),
        }
    }

    /// The state transition (the sequencer's own replica).
    pub const fn state_transition(&self) -> &S {
        &self.stf
    }

    /// The state transition, to change what the sequencer builds on (fault drills).
    pub const fn state_transition_mut(&mut self) -> &mut S {
        &mut self.stf
    }

    /// Rewinds to `to` (a replica at the last valid root, after settlement reverted what came
    /// after it) and pools `requeue` again, the reverted blocks' transactions, so they are
    /// re-executed in the next blocks; those no longer valid are left out when the blocks are
    /// built. Returns the transactions the pool refused (duplicates of pooled ones).
    pub fn rewind(
        &mut self,
        to: S,
        requeue: impl IntoIterator<Item = Recovered<TxEnvelope>>,
    ) -> Vec<PoolError> {
        self.stf = to;
        requeue
            .into_iter()
            .filter_map(|tx| self.pool.insert(tx, usize::MAX).err())
            .collect()
    }

    /// Records the latest DA publication, which the next blocks reference.
    pub fn set_da_ref(&mut self, da_ref: DaRef) {
        self.da_ref = da_ref;
    }

    /// Builds a block now from the pool, whatever the clock says.
    pub fn build_now(&mut self, now_ms: u64) -> Result<Vec<SequencerEvent>, SequencerError> {
        let candidates = self.pool.take(self.config.max_txs_per_block);
        // Timestamps are seconds and never go backwards, even if the caller's clock does.
        let timestamp = (now_ms / 1_000).max(self.stf.head().timestamp);
        let attributes = BlockAttributes {
            timestamp,
            sequencer: self.config.address,
            da_ref: self.da_ref,
        };
        let options = if self.config.intermediate_roots {
            ExecuteOptions::with_intermediate_roots()
        } else {
            ExecuteOptions::default()
        };
        let built = self.stf.build_block(attributes, candidates, options)?;
        let mut events: Vec<SequencerEvent> = built
            .rejected
            .iter()
            .cloned()
            .map(SequencerEvent::Rejected)
            .collect();
        events.insert(0, SequencerEvent::Block(Box::new(built)));
        Ok(events)
    }
}

impl<S: StateTransition> Sequencer for SingleSequencer<S> {
    fn submit(&mut self, tx: Recovered<TxEnvelope>) -> Result<B256, SubmitError> {
        // Admission checks that do not depend on state; the rest happen at block building.
        let config = self.stf.config();
        crate::transaction::check_chain_id(
            tx.inner(),
            config.chain_id,
            config.allow_unprotected_txs,
        )?;
        Ok(self.pool.insert(tx, self.config.max_pool_size)?)
    }

    fn pending(&self) -> usize {
        self.pool.len()
    }

    fn on_tick(&mut self, now_ms: u64) -> Result<Vec<SequencerEvent>, SequencerError> {
        let due = *self
            .next_block_ms
            .get_or_insert(now_ms.max(self.config.block_time_ms));
        if now_ms < due {
            return Ok(Vec::new());
        }
        self.next_block_ms = Some(due.saturating_add(self.config.block_time_ms).max(now_ms));
        self.build_now(now_ms)
    }
}
