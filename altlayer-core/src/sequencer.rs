//! The [`Sequencer`] composition point: turning pending transactions into ordered blocks.
//!
//! A sequencer is a sans-IO state machine: transactions and clock ticks go in, blocks and
//! reports come out. The default, [`SingleSequencer`], is one operator ordering by arrival;
//! SQUAD (altlayer-avs) replaces it with a staked BFT sequencer set behind the same trait.

use crate::{
    evidence::Evidence,
    execution::{BlockAttributes, BuiltBlock, ExecuteOptions, ExecutionError, RejectedTx},
    primitives::{Block, DaRef},
    transaction::{RecoveryBackend, TxError},
    transition::StateTransition,
};
use alloy_consensus::{Transaction as _, TxEnvelope, transaction::Recovered};
use alloy_primitives::{
    Address, B256,
    map::{AddressMap, B256Map},
};
use std::collections::{BTreeMap, VecDeque};

/// Where a peer message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Peer {
    /// Every peer of the component's set.
    All,
    /// One peer, by operator address.
    One(Address),
}

/// What a sequencer reports after an input.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SequencerEvent<M = std::convert::Infallible> {
    /// A block was ordered and executed (for a BFT set: committed).
    Block(Box<BuiltBlock>),
    /// A transaction was dropped from the pool, and why.
    Rejected(RejectedTx),
    /// The block at `height` is soft-confirmed: a quorum of the sequencer set certified its
    /// ordering (its hash is `certificate`) at `at_ms`, which may be before the block was
    /// executed.
    SoftConfirmed {
        /// Height.
        height: u64,
        /// Hash of the certificate.
        certificate: B256,
        /// When the certificate formed.
        at_ms: u64,
    },
    /// A member of the set misbehaved (two conflicting signed messages).
    Evidence(Box<Evidence>),
    /// Send a message to the sequencer's peers.
    Send {
        /// To whom.
        to: Peer,
        /// What.
        message: M,
    },
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
    /// The rollup has ended: it takes no more transactions.
    #[error("the rollup has ended and takes no more transactions")]
    Ended,
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
/// A sequencer is a sans-IO state machine: transactions, clock ticks and peers' messages go in;
/// blocks, soft confirmations, evidence and messages to send come out. Time is an input
/// (`now_ms`, milliseconds since the Unix epoch), never read from the clock, so the node and
/// the deterministic simulator drive the same code. A sequencer holds the replica it builds on
/// ([`Sequencer::state_transition`]); the rollup driver rewinds it when settlement reverts
/// what came after a valid root ([`Sequencer::rewind`]).
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
    /// The replica the sequencer builds on.
    type Transition: StateTransition + Clone;
    /// Messages between the members of a sequencer set (`Infallible` for one operator).
    type Message: Clone + std::fmt::Debug + Send + 'static;

    /// Offers a transaction with its recovered sender. Returns its hash once pooled.
    fn submit(&mut self, tx: Recovered<TxEnvelope>) -> Result<B256, SubmitError>;

    /// Number of transactions waiting.
    fn pending(&self) -> usize;

    /// Advances the sequencer to `now_ms`; returns the blocks and reports this produced.
    fn on_tick(
        &mut self,
        now_ms: u64,
    ) -> Result<Vec<SequencerEvent<Self::Message>>, SequencerError>;

    /// A message from the peer `from` of the sequencer set, at `now_ms`.
    fn on_message(
        &mut self,
        _now_ms: u64,
        _from: Address,
        _message: Self::Message,
    ) -> Result<Vec<SequencerEvent<Self::Message>>, SequencerError> {
        Ok(Vec::new())
    }

    /// The replica at the head of the chain as this sequencer built it.
    fn state_transition(&self) -> &Self::Transition;

    /// Settlement reverted the blocks built after `to`'s head (`reverted`, oldest first): go
    /// on from `to`. A sequencer that decides order on its own pools the reverted blocks'
    /// transactions again, to be re-executed in its next blocks (those no longer valid are
    /// left out then); a BFT set re-executes the payloads it committed, whose order is final.
    /// Returns the transactions the pool refused.
    fn rewind(&mut self, to: Self::Transition, reverted: Vec<Block>) -> Vec<PoolError>;

    /// Records the latest DA publication, which the next blocks reference.
    fn set_da_ref(&mut self, da_ref: DaRef);

    /// The next nonce of `sender` after the transactions the pool holds for it, given its
    /// account nonce at the head: the pooled nonces from `account_nonce` on, without a gap,
    /// count (what `eth_getTransactionCount(sender, "pending")` answers).
    fn pool_nonce(&self, _sender: &Address, account_nonce: u64) -> u64 {
        account_nonce
    }

    /// A transaction waiting in the pool.
    fn pooled(&self, _hash: &B256) -> Option<Recovered<TxEnvelope>> {
        None
    }

    /// The earliest time at which [`Sequencer::on_tick`] has something to do, if known; a
    /// driver in virtual time jumps there.
    fn next_wake(&self) -> Option<u64> {
        None
    }

    /// The sequencer's runtime state as a record, to resume from after a restart (see
    /// [`crate::persist`]). The default cannot.
    fn persist(&self) -> Result<Vec<u8>, crate::persist::PersistError> {
        Err(crate::persist::unsupported::<Self>())
    }

    /// Puts back what [`Sequencer::persist`] wrote, into a sequencer built afresh from the
    /// same configuration; changes nothing on error.
    fn restore(
        &mut self,
        _record: &[u8],
        _replicas: &crate::persist::Replicas,
    ) -> Result<(), crate::persist::PersistError>
    where
        Self::Transition: crate::persist::Reopen,
    {
        Err(crate::persist::unsupported::<Self>())
    }
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
/// Deliberately simple: SQUAD's mempool adds fee priority and eviction. A transaction with a
/// pooled one's sender and nonce replaces it when it pays at least [`PRICE_BUMP_PERCENT`] more
/// in both fee cap and tip, as geth's pool requires.
#[derive(Debug, Default)]
pub struct Mempool {
    by_sender: AddressMap<BTreeMap<u64, Recovered<TxEnvelope>>>,
    /// Senders in order of their first pooled transaction.
    arrival: VecDeque<Address>,
    /// Each pooled transaction's sender and nonce, by hash.
    hashes: B256Map<(Address, u64)>,
    len: usize,
}

/// How much more (in percent) a replacement must pay than the transaction it replaces, in
/// fee cap and in tip: geth's default `--txpool.pricebump`.
pub const PRICE_BUMP_PERCENT: u128 = 10;

/// Why the pool refused a transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The same transaction is already pooled.
    #[error("transaction {0} is already pooled")]
    Duplicate(B256),
    /// Another transaction with this sender and nonce is pooled, and this one does not pay
    /// enough more to replace it.
    #[error(
        "replacement transaction underpriced: a transaction from {sender} with nonce {nonce} is pooled"
    )]
    ReplacementUnderpriced {
        /// Sender.
        sender: Address,
        /// Nonce.
        nonce: u64,
    },
    /// The pool is full.
    #[error("transaction pool is full ({0} transactions)")]
    Full(usize),
}

/// Whether `new` pays at least [`PRICE_BUMP_PERCENT`] more than `old` in fee cap and in tip.
pub fn outbids(new: &TxEnvelope, old: &TxEnvelope) -> bool {
    let bumped = |value: u128| value.saturating_mul(100 + PRICE_BUMP_PERCENT) / 100;
    let tip = |tx: &TxEnvelope| {
        tx.max_priority_fee_per_gas()
            .unwrap_or_else(|| tx.max_fee_per_gas())
    };
    new.max_fee_per_gas() >= bumped(old.max_fee_per_gas()) && tip(new) >= bumped(tip(old))
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

    /// Adds a transaction, or replaces the pooled one with its sender and nonce when it
    /// outbids it ([`outbids`]); fails on a duplicate, an underpriced replacement or a full
    /// pool.
    pub fn insert(&mut self, tx: Recovered<TxEnvelope>, max_len: usize) -> Result<B256, PoolError> {
        let hash = *tx.inner().tx_hash();
        if self.hashes.contains_key(&hash) {
            return Err(PoolError::Duplicate(hash));
        }
        let sender = tx.signer();
        let nonce = tx.inner().nonce();
        if let Some(old) = self
            .by_sender
            .get_mut(&sender)
            .and_then(|q| q.get_mut(&nonce))
        {
            if !outbids(tx.inner(), old.inner()) {
                return Err(PoolError::ReplacementUnderpriced { sender, nonce });
            }
            self.hashes.remove(old.inner().tx_hash());
            self.hashes.insert(hash, (sender, nonce));
            *old = tx;
            return Ok(hash);
        }
        if self.len >= max_len {
            return Err(PoolError::Full(self.len));
        }
        let queue = self.by_sender.entry(sender).or_default();
        if queue.is_empty() {
            self.arrival.push_back(sender);
        }
        queue.insert(nonce, tx);
        self.hashes.insert(hash, (sender, nonce));
        self.len += 1;
        Ok(hash)
    }

    /// A pooled transaction.
    pub fn get(&self, hash: &B256) -> Option<&Recovered<TxEnvelope>> {
        let (sender, nonce) = self.hashes.get(hash)?;
        self.by_sender.get(sender)?.get(nonce)
    }

    /// The next nonce of `sender` after its pooled transactions that follow `account_nonce`
    /// without a gap.
    pub fn next_nonce(&self, sender: &Address, account_nonce: u64) -> u64 {
        let Some(queue) = self.by_sender.get(sender) else {
            return account_nonce;
        };
        let mut next = account_nonce;
        for nonce in queue.range(account_nonce..).map(|(nonce, _)| *nonce) {
            if nonce != next {
                break;
            }
            next += 1;
        }
        next
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

/// [`SingleSequencer`]'s record.
#[derive(serde::Serialize, serde::Deserialize)]
struct SingleRecord {
    head: crate::persist::ReplicaRef,
    next_block_ms: Option<u64>,
    da_ref: DaRef,
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

    /// The state transition, to change what the sequencer builds on (fault drills).
    #[cfg(feature = "test-utils")]
    pub const fn state_transition_mut(&mut self) -> &mut S {
        &mut self.stf
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

impl<S: StateTransition + Clone> Sequencer for SingleSequencer<S> {
    type Transition = S;
    type Message = std::convert::Infallible;

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

    fn pool_nonce(&self, sender: &Address, account_nonce: u64) -> u64 {
        self.pool.next_nonce(sender, account_nonce)
    }

    fn pooled(&self, hash: &B256) -> Option<Recovered<TxEnvelope>> {
        self.pool.get(hash).cloned()
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

    fn state_transition(&self) -> &S {
        &self.stf
    }

    /// The head it builds on, when the next block is due and the DA reference; pooled
    /// transactions are not kept (as geth's pool without its journal: a client sends again
    /// what a restart lost).
    fn persist(&self) -> Result<Vec<u8>, crate::persist::PersistError> {
        crate::persist::encode(
            "sequencer",
            &SingleRecord {
                head: crate::persist::ReplicaRef::of(&self.stf),
                next_block_ms: self.next_block_ms,
                da_ref: self.da_ref,
            },
        )
    }

    fn restore(
        &mut self,
        record: &[u8],
        replicas: &crate::persist::Replicas,
    ) -> Result<(), crate::persist::PersistError>
    where
        S: crate::persist::Reopen,
    {
        let record: SingleRecord = crate::persist::decode("sequencer", record)?;
        self.stf = S::reopen(replicas, record.head)?;
        self.next_block_ms = record.next_block_ms;
        self.da_ref = record.da_ref;
        Ok(())
    }

    fn rewind(&mut self, to: S, reverted: Vec<Block>) -> Vec<PoolError> {
        self.stf = to;
        let transactions = reverted.into_iter().flat_map(|block| block.transactions);
        crate::transaction::recover_all(transactions.collect(), RecoveryBackend::Libsecp256k1)
            .into_iter()
            .filter_map(Result::ok)
            .filter_map(|tx| self.pool.insert(tx, usize::MAX).err())
            .collect()
    }

    fn set_da_ref(&mut self, da_ref: DaRef) {
        self.da_ref = da_ref;
    }

    fn next_wake(&self) -> Option<u64> {
        self.next_block_ms
    }
}
