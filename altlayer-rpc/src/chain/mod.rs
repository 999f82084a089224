//! [`MemoryChain`]: the chain as the RPC reads it, kept in memory from the rollup's events.
//!
//! The node feeds it every [`RollupEvent`] with the replica at the head after them; it keeps
//! the canonical blocks with their receipts, the transaction and log indexes, the states after
//! the most recent blocks, the finality of every block, the batches and the alerts. A revert
//! takes everything after the last valid block out of every index at once.
//!
//! Over a [`ChainStore`] ([`MemoryChain::stored`]) the blocks, receipts and indexes are the
//! store's, written with each block's state: the chain keeps only the most recent blocks in
//! memory, reads older ones from the store, and starts again from the store's head after a
//! restart.

use crate::provider::{
    AlertInfo, BatchInfo, BatchStatus, BlockFinality, ChainBlock, ChainEvent, ChainReader,
    ChainTip, ChallengeInfo, LogCriteria, OperatorSetInfo, StateView, Tier,
};
use alloy_primitives::{
    B256,
    map::{AddressMap, B256Map},
};
use altlayer_core::{
    EvmStateTransition, RollupConfig,
    evidence::Service,
    execution::ExecuteOptions,
    rollup::RollupEvent,
    settlement::bisection::Party,
    storage::{ChainStore, StorageError},
};
use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    sync::{Arc, RwLock},
};
use tokio::sync::broadcast;

mod store;

use store::{intersect, store_log_blocks, stored};

/// How much a [`MemoryChain`] keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryChainOptions {
    /// States kept after the most recent blocks (geth keeps 128): `eth_call` and
    /// `eth_getBalance` at older blocks answer that the state is not available.
    pub states: usize,
    /// Whether the rollup has a fast-finality gadget (MACH): without one, `safe` is
    /// `finalized`.
    pub fast_finality: bool,
    /// Events a slow subscriber may fall behind by before it misses some.
    pub event_capacity: usize,
}

impl Default for MemoryChainOptions {
    fn default() -> Self {
        Self {
            states: 128,
            fast_finality: true,
            event_capacity: 4_096,
        }
    }
}

/// Blocks a chain over a store keeps in memory at least: the most recent, which the RPC and
/// subscriptions read most.
const MIN_WINDOW: usize = 256;

#[derive(Clone, Debug, Default)]
struct Record {
    soft: Option<B256>,
    fast: Option<B256>,
    alert: Option<B256>,
    batch: Option<u64>,
}

#[derive(Debug)]
struct Inner {
    /// The blocks from height `first` to the head (all of them without a store; the most
    /// recent over one).
    blocks: VecDeque<Arc<ChainBlock>>,
    first: u64,
    head: u64,
    /// Blocks kept in memory over a store (`None`: all, and indexed here).
    window: Option<usize>,
    by_hash: B256Map<u64>,
    transactions: B256Map<(u64, usize)>,
    states: BTreeMap<u64, Arc<EvmStateTransition>>,
    /// Heights whose blocks hold a log by each address, and with each topic (at any position).
    addresses: AddressMap<BTreeSet<u64>>,
    topics: B256Map<BTreeSet<u64>>,
    fast: u64,
    finalized: u64,
    records: BTreeMap<u64, Record>,
    alerts: Vec<AlertInfo>,
    batches: BTreeMap<u64, BatchInfo>,
    operators: BTreeMap<Service, OperatorSetInfo>,
}

/// The chain in memory; see the [module docs](self).
#[derive(Debug)]
pub struct MemoryChain {
    config: RollupConfig,
    options: MemoryChainOptions,
    store: Option<Arc<dyn ChainStore>>,
    inner: RwLock<Inner>,
    events: broadcast::Sender<ChainEvent>,
}

impl MemoryChain {
    /// A chain holding the genesis block and state.
    pub fn new(genesis: &EvmStateTransition, options: MemoryChainOptions) -> Self {
        Self::with_head(
            genesis,
            Arc::new(ChainBlock::genesis(genesis)),
            options,
            None,
        )
    }

    /// A chain over `store`, whose head is `head`'s (a replica opened on the store): blocks,
    /// receipts and indexes are read from the store, only the most recent blocks (at least
    /// `options.states`) are kept in memory.
    pub fn stored(
        head: &EvmStateTransition,
        store: Arc<dyn ChainStore>,
        options: MemoryChainOptions,
    ) -> Result<Self, StorageError> {
        let height = head.head().height;
        let block = store.block(height)?.ok_or_else(|| {
            StorageError::Corrupt(format!("block {height}, the replica's head, is not stored"))
        })?;
        if block.hash != head.head().hash() {
            return Err(StorageError::Corrupt(format!(
                "block {height} is stored with hash {}, the replica's head is {}",
                block.hash,
                head.head().hash()
            )));
        }
        Ok(Self::with_head(head, Arc::new(block), options, Some(store)))
    }

    fn with_head(
        head: &EvmStateTransition,
        block: Arc<ChainBlock>,
        options: MemoryChainOptions,
        store: Option<Arc<dyn ChainStore>>,
    ) -> Self {
        let height = block.number();
        let mut inner = Inner {
            blocks: VecDeque::new(),
            first: height,
            head: height,
            window: store.as_ref().map(|_| options.states.max(MIN_WINDOW)),
            by_hash: B256Map::default(),
            transactions: B256Map::default(),
            states: BTreeMap::new(),
            addresses: AddressMap::default(),
            topics: B256Map::default(),
            fast: 0,
            finalized: 0,
            records: BTreeMap::new(),
            alerts: Vec::new(),
            batches: BTreeMap::new(),
            operators: BTreeMap::new(),
        };
        inner.push(block);
        inner.states.insert(height, Arc::new(head.clone()));
        Self {
            config: head.config().clone(),
            options,
            store,
            inner: RwLock::new(inner),
            events: broadcast::channel(options.event_capacity.max(1)).0,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every change is computed
        // first and applied after), so a poisoned lock is still good to read.
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the operator set of a service.
    pub fn set_operators(&self, set: OperatorSetInfo) {
        self.write().operators.insert(set.service, set);
    }

    /// Announces a transaction that entered the pool (to `newPendingTransactions`).
    pub fn announce_pending(&self, hash: B256) {
        // Nobody listening is fine.
        let _ = self.events.send(ChainEvent::Pending(hash));
    }

    /// Takes in what the rollup reported, and the replica at the head after it.
    ///
    /// When one step added several blocks (a SQUAD commit can), the states after the blocks
    /// below the head are rebuilt by executing those blocks on a copy of the state before
    /// them, so `eth_call`, balances and traces answer at every recent block, not only at
    /// the heads the driver stopped at.
    pub fn apply(&self, events: &[RollupEvent], head: &EvmStateTransition) {
        let mut out = Vec::new();
        let gap = {
            let mut inner = self.write();
            for event in events {
                inner.apply(event, &mut out);
            }
            let height = head.head().height;
            if inner.blocks.back().is_some_and(|b| b.number() == height)
                && inner.states.get(&height).map(|s| s.head().hash()) != Some(head.head().hash())
            {
                inner.states.insert(height, Arc::new(head.clone()));
            }
            inner.missing_states(height, self.options.states)
        };
        if let Some((base, blocks)) = gap {
            let rebuilt = rebuild_states(&base, &blocks);
            let mut inner = self.write();
            for state in rebuilt {
                // Only if the block is still the one there (no revert in between).
                let number = state.head().height;
                if inner.get(number).map(|b| b.hash) == Some(state.head().hash()) {
                    inner
                        .states
                        .entry(number)
                        .or_insert_with(|| Arc::new(state));
                }
            }
        }
        {
            let mut inner = self.write();
            while inner.states.len() > self.options.states.max(1) {
                inner.states.pop_first();
            }
        }
        for event in out {
            let _ = self.events.send(event);
        }
    }
}

/// The states after `blocks`, executing each on the state before it, from `base`. Stops at
/// the first block that does not execute (it cannot happen for blocks the rollup built;
/// the states missing then answer "not available" as any pruned state does).
fn rebuild_states(
    base: &EvmStateTransition,
    blocks: &[Arc<ChainBlock>],
) -> Vec<EvmStateTransition> {
    let mut state = base.clone();
    let mut states = Vec::with_capacity(blocks.len());
    for block in blocks {
        if let Err(error) =
            state.execute_block(&block.block, &block.senders, ExecuteOptions::default())
        {
            tracing::warn!(height = block.number(), %error, "state after the block not rebuilt");
            break;
        }
        states.push(state.clone());
    }
    states
}

impl Inner {
    fn head(&self) -> u64 {
        self.head
    }

    /// Block `number`, if it is in memory.
    fn get(&self, number: u64) -> Option<&Arc<ChainBlock>> {
        let index = number.checked_sub(self.first)?;
        self.blocks.get(usize::try_from(index).ok()?)
    }

    /// The blocks below `height` (within the `keep` most recent) whose states are missing
    /// though the state before them is held: the state to start from and those blocks.
    fn missing_states(
        &self,
        height: u64,
        keep: usize,
    ) -> Option<(Arc<EvmStateTransition>, Vec<Arc<ChainBlock>>)> {
        let oldest = height.saturating_sub(keep.max(1) as u64 - 1);
        let mut missing = (oldest..height).filter(|n| !self.states.contains_key(n));
        let first = missing.next()?;
        let base = self.states.get(&first.checked_sub(1)?)?.clone();
        // Up to the next held state: the blocks after `first` without one, in a row.
        let blocks = (first..height)
            .take_while(|n| !self.states.contains_key(n))
            .filter_map(|n| self.get(n).cloned())
            .collect();
        Some((base, blocks))
    }

    fn push(&mut self, block: Arc<ChainBlock>) {
        let height = block.number();
        self.by_hash.insert(block.hash, height);
        if self.window.is_none() {
            for (index, tx) in block.block.transactions.iter().enumerate() {
                self.transactions.insert(*tx.tx_hash(), (height, index));
            }
            for log in block.receipts.iter().flat_map(|r| r.logs()) {
                self.addresses
                    .entry(log.address)
                    .or_default()
                    .insert(height);
                for topic in log.topics() {
                    self.topics.entry(*topic).or_default().insert(height);
                }
            }
        }
        self.records.entry(height).or_default();
        self.blocks.push_back(block);
        self.head = height;
        if let Some(window) = self.window {
            while self.blocks.len() > window {
                if let Some(old) = self.blocks.pop_front() {
                    self.by_hash.remove(&old.hash);
                    // Certificates of blocks out of the window go too: memory stays bounded
                    // (their tier still follows from the finalized height).
                    self.records.remove(&old.number());
                    self.first += 1;
                }
            }
        }
    }

    /// Takes every block above `height` out; returns those held in memory, oldest first
    /// (over a store, a revert deeper than the memory window removes older ones too, which
    /// the store has already unwound).
    fn truncate(&mut self, height: u64) -> Vec<Arc<ChainBlock>> {
        let mut removed = Vec::new();
        while self.blocks.back().is_some_and(|b| b.number() > height) {
            removed.extend(self.blocks.pop_back());
        }
        removed.reverse();
        if self.blocks.is_empty() {
            self.first = self.first.min(height + 1);
        }
        self.head = self.head.min(height);
        for block in &removed {
            let number = block.number();
            self.by_hash.remove(&block.hash);
            for tx in &block.block.transactions {
                self.transactions.remove(tx.tx_hash());
            }
            for log in block.receipts.iter().flat_map(|r| r.logs()) {
                if let Some(heights) = self.addresses.get_mut(&log.address) {
                    heights.remove(&number);
                }
                for topic in log.topics() {
                    if let Some(heights) = self.topics.get_mut(topic) {
                        heights.remove(&number);
                    }
                }
            }
        }
        // Every alert above the height was on a removed block.
        for alert in &mut self.alerts {
            if alert.number > height {
                alert.active = false;
            }
        }
        drop(self.records.split_off(&(height + 1)));
        self.states.retain(|h, _| *h <= height);
        self.fast = self.fast.min(height);
        self.finalized = self.finalized.min(height);
        removed
    }

    fn apply(&mut self, event: &RollupEvent, out: &mut Vec<ChainEvent>) {
        match event {
            RollupEvent::Block { built, hash } => {
                let height = built.block.header.height;
                if height <= self.head() {
                    // A block at a height already held replaces it and what follows.
                    let removed = self.truncate(height - 1);
                    out.push(ChainEvent::Reverted {
                        head: self.head(),
                        removed,
                    });
                }
                if height == self.head() + 1 {
                    let block = Arc::new(ChainBlock::from_built(built, *hash));
                    self.push(block.clone());
                    out.push(ChainEvent::Block(block));
                }
            }
            RollupEvent::SoftConfirmed {
                height,
                certificate,
                ..
            } => {
                if let Some(record) = self.records.get_mut(height) {
                    record.soft = Some(*certificate);
                }
            }
            RollupEvent::FastFinal {
                height,
                hash,
                certificate,
            } => {
                // An alerted block, and every block on top of it, is never safe.
                let alerted = self.alerts.iter().any(|a| a.active && a.number <= *height);
                if !alerted
                    && self.by_hash.get(hash) == Some(height)
                    && let Some(record) = self.records.get_mut(height)
                {
                    record.fast = Some(*certificate);
                    self.fast = self.fast.max(*height);
                }
            }
            RollupEvent::Alerted {
                height,
                hash,
                alert,
            } => {
                if let Some(record) = self.records.get_mut(height) {
                    record.alert = Some(*alert);
                }
                let active = self.by_hash.get(hash) == Some(height);
                if active {
                    // Whatever certified it or a descendant before, `safe` stays below it.
                    self.fast = self.fast.min(height.saturating_sub(1));
                    for (_, record) in self.records.range_mut(height..) {
                        record.fast = None;
                    }
                }
                self.alerts.push(AlertInfo {
                    number: *height,
                    hash: *hash,
                    alert: *alert,
                    active,
                });
            }
            RollupEvent::Finalized { height } => {
                self.finalized = self.finalized.max((*height).min(self.head()));
                // A block that outlived its challenge window is settled: an alert on it (a
                // challenge lost, or none made) no longer holds `safe` back.
                for alert in &mut self.alerts {
                    if alert.number <= self.finalized {
                        alert.active = false;
                    }
                }
                for batch in self.batches.values_mut() {
                    if batch.last_block <= self.finalized && batch.status != BatchStatus::Reverted {
                        batch.status = BatchStatus::Finalized;
                    }
                }
            }
            RollupEvent::BatchPublished {
                index,
                da_ref,
                heights,
                transactions,
            } => {
                for height in heights.0..=heights.1 {
                    if let Some(record) = self.records.get_mut(&height) {
                        record.batch = Some(*index);
                    }
                }
                self.batches.insert(
                    *index,
                    BatchInfo {
                        index: *index,
                        first_block: heights.0,
                        last_block: heights.1,
                        transactions: *transactions as u64,
                        da_ref: *da_ref,
                        commitment: None,
                        pre_state_root: None,
                        post_state_root: None,
                        window_ends: None,
                        status: BatchStatus::Published,
                        challenges: Vec::new(),
                    },
                );
            }
            RollupEvent::BatchCommitted {
                commitment,
                window_ends,
            } => {
                if let Some(batch) = self.batches.get_mut(&commitment.index) {
                    batch.commitment = Some(commitment.commitment);
                    batch.pre_state_root = Some(commitment.pre_state_root);
                    batch.post_state_root = Some(commitment.post_state_root);
                    batch.window_ends = Some(*window_ends);
                    batch.da_ref = commitment.da_ref;
                    if batch.status == BatchStatus::Published {
                        batch.status = BatchStatus::Committed;
                    }
                }
            }
            RollupEvent::ChallengeOpened {
                dispute,
                batch,
                challenger,
                bond,
                ..
            } => {
                if let Some(batch) = self.batches.get_mut(batch) {
                    batch.challenges.push(ChallengeInfo {
                        dispute: *dispute,
                        challenger: *challenger,
                        bond: *bond,
                        outcome: None,
                    });
                    batch.status = BatchStatus::Challenged;
                }
            }
            RollupEvent::Decided(resolution) => {
                let decision = &resolution.decision;
                if let Some(batch) = self.batches.get_mut(&decision.batch) {
                    for challenge in &mut batch.challenges {
                        if challenge.dispute == decision.dispute {
                            challenge.outcome = Some(
                                match decision.winner {
                                    Party::Challenger => "challengerWon",
                                    Party::Proposer => "proposerWon",
                                }
                                .to_string(),
                            );
                        }
                    }
                    if batch.status == BatchStatus::Challenged
                        && batch.challenges.iter().all(|c| c.outcome.is_some())
                    {
                        batch.status = BatchStatus::Committed;
                    }
                }
                if let Some(from) = resolution.reverted_from {
                    for batch in self.batches.range_mut(from..).map(|(_, b)| b) {
                        batch.status = BatchStatus::Reverted;
                    }
                }
            }
            RollupEvent::Rewound {
                from_batch, height, ..
            } => {
                for batch in self.batches.range_mut(*from_batch..).map(|(_, b)| b) {
                    batch.status = BatchStatus::Reverted;
                }
                let removed = self.truncate(*height);
                if !removed.is_empty() {
                    out.push(ChainEvent::Reverted {
                        head: self.head(),
                        removed,
                    });
                }
            }
            _ => {}
        }
    }
}

impl ChainReader for MemoryChain {
    fn config(&self) -> &RollupConfig {
        &self.config
    }

    fn tip(&self) -> ChainTip {
        let inner = self.read();
        let finalized = inner.finalized;
        ChainTip {
            latest: inner.head(),
            safe: if self.options.fast_finality {
                inner.fast.max(finalized)
            } else {
                finalized
            },
            finalized,
        }
    }

    fn block(&self, number: u64) -> Option<Arc<ChainBlock>> {
        let (head, held) = {
            let inner = self.read();
            (inner.head(), inner.get(number).cloned())
        };
        if number > head {
            return None;
        }
        held.or_else(|| {
            let store = self.store.as_ref()?;
            Some(Arc::new(stored(store.block(number))?))
        })
    }

    fn block_number(&self, hash: &B256) -> Option<u64> {
        let (head, held) = {
            let inner = self.read();
            (inner.head(), inner.by_hash.get(hash).copied())
        };
        held.or_else(|| {
            let number = stored(self.store.as_ref()?.block_height(hash))?;
            (number <= head).then_some(number)
        })
    }

    fn transaction_location(&self, hash: &B256) -> Option<(u64, usize)> {
        let Some(store) = &self.store else {
            return self.read().transactions.get(hash).copied();
        };
        // The store may hold a block the chain has not taken in yet: not above the head.
        let head = self.read().head();
        stored(store.transaction_location(hash)).filter(|(number, _)| *number <= head)
    }

    fn state(&self, number: u64) -> Option<Arc<dyn StateView>> {
        self.read()
            .states
            .get(&number)
            .map(|state| state.clone() as Arc<dyn StateView>)
    }

    fn log_blocks(&self, criteria: &LogCriteria, from: u64, to: u64) -> Option<Vec<u64>> {
        if from > to {
            return Some(Vec::new());
        }
        if let Some(store) = &self.store {
            return store_log_blocks(store.as_ref(), criteria, from, to.min(self.tip().latest));
        }
        let inner = self.read();
        // Each non-empty criterion gives the heights that may match it; a block must be in
        // all of them. Start from the smallest.
        let mut sets: Vec<BTreeSet<u64>> = Vec::new();
        let union = |found: &mut dyn Iterator<Item = &BTreeSet<u64>>| {
            let mut heights = BTreeSet::new();
            for set in found {
                heights.extend(set.range(from..=to).copied());
            }
            heights
        };
        if !criteria.addresses.is_empty() {
            sets.push(union(
                &mut criteria
                    .addresses
                    .iter()
                    .filter_map(|a| inner.addresses.get(a)),
            ));
        }
        for position in &criteria.topics {
            if !position.is_empty() {
                sets.push(union(
                    &mut position.iter().filter_map(|t| inner.topics.get(t)),
                ));
            }
        }
        intersect(sets)
    }

    fn finality(&self, number: u64) -> Option<BlockFinality> {
        let tip = self.tip();
        let block = self.block(number)?;
        let inner = self.read();
        let record = inner.records.get(&number).cloned().unwrap_or_default();
        let tier = if record.alert.is_some() {
            Tier::Alerted
        } else if number <= tip.finalized {
            Tier::Firm
        } else if record.fast.is_some() {
            Tier::Fast
        } else {
            Tier::Soft
        };
        Some(BlockFinality {
            number,
            hash: Some(block.hash),
            tier,
            soft_certificate: record.soft,
            fast_certificate: record.fast,
            alert: record.alert,
            batch: record.batch,
        })
    }

    fn alerts(&self) -> Vec<AlertInfo> {
        self.read().alerts.clone()
    }

    fn batch(&self, index: u64) -> Option<BatchInfo> {
        self.read().batches.get(&index).cloned()
    }

    fn operators(&self, service: Service) -> Option<OperatorSetInfo> {
        self.read().operators.get(&service).cloned()
    }

    fn subscribe(&self) -> broadcast::Receiver<ChainEvent> {
        self.events.subscribe()
    }
}

#[cfg(test)]
mod tests;
