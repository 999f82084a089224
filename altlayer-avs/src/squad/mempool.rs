//! SQUAD's transaction pool: de-duplication, each sender's transactions in nonce order, fee
//! priority across senders, size and count limits with eviction of the cheapest, and typed
//! refusals from core's decoder.
//!
//! Proposals read from the pool without taking: a transaction leaves only when a block
//! carrying it commits, so the transactions of a block that did not commit are still there
//! for the next proposal.

use alloy_consensus::{Transaction as _, TxEnvelope, transaction::Recovered};
use alloy_eips::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, keccak256};
use altlayer_core::transaction::{TxError, check_chain_id, decode_and_recover};
use std::collections::{BTreeMap, BinaryHeap, HashMap};

/// Limits of the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolLimits {
    /// Most transactions held.
    pub max_transactions: usize,
    /// Most bytes held.
    pub max_bytes: usize,
    /// Largest transaction accepted.
    pub max_transaction_bytes: usize,
    /// A replacement (same sender and nonce) must raise the tip by this many percent.
    pub replacement_bump_percent: u64,
}

impl Default for PoolLimits {
    /// 100,000 transactions, 256 MiB, 128 KiB per transaction (geth's `txMaxSize`), a 10 %
    /// replacement bump (geth's `PriceBump`).
    fn default() -> Self {
        Self {
            max_transactions: 100_000,
            max_bytes: 256 << 20,
            max_transaction_bytes: 128 << 10,
            replacement_bump_percent: 10,
        }
    }
}

/// Why the pool refused a transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The transaction is invalid (core's typed reason).
    #[error(transparent)]
    Invalid(#[from] TxError),
    /// Already pooled.
    #[error("transaction {0} is already pooled")]
    Duplicate(B256),
    /// Same sender and nonce pooled with a tip not sufficiently lower.
    #[error("replacement for {sender} nonce {nonce} must raise the tip to at least {needed}")]
    ReplacementUnderpriced {
        /// Sender.
        sender: Address,
        /// Nonce.
        nonce: u64,
        /// Smallest acceptable tip.
        needed: u128,
    },
    /// The pool is full of transactions paying at least as much.
    #[error("pool full; tip {tip} does not beat the cheapest evictable transaction")]
    Full {
        /// The refused transaction's tip.
        tip: u128,
    },
}

#[derive(Clone, Debug)]
struct Entry {
    bytes: Bytes,
    /// The transaction with its sender, recovered once at admission: a committed block is
    /// executed from it rather than recovered again.
    tx: Recovered<TxEnvelope>,
    sender: Address,
    nonce: u64,
    tip: u128,
    /// Arrival order, the tie-break after the tip.
    seq: u64,
}

/// The pool.
#[derive(Clone, Debug)]
pub struct Mempool {
    chain_id: u64,
    limits: PoolLimits,
    entries: HashMap<B256, Entry>,
    by_sender: HashMap<Address, BTreeMap<u64, B256>>,
    bytes: usize,
    seq: u64,
}

impl Mempool {
    /// An empty pool for transactions of `chain_id`.
    pub fn new(chain_id: u64, limits: PoolLimits) -> Self {
        Self {
            chain_id,
            limits,
            entries: HashMap::new(),
            by_sender: HashMap::new(),
            bytes: 0,
            seq: 0,
        }
    }

    /// Number of transactions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a transaction (by keccak of its bytes) is pooled.
    pub fn contains(&self, hash: &B256) -> bool {
        self.entries.contains_key(hash)
    }

    /// A pooled transaction with its sender.
    pub fn get(&self, hash: &B256) -> Option<&Recovered<TxEnvelope>> {
        self.entries.get(hash).map(|entry| &entry.tx)
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

    /// Adds a raw transaction; returns its hash. A refused transaction changes nothing.
    pub fn insert(&mut self, bytes: Bytes) -> Result<B256, PoolError> {
        let hash = keccak256(&bytes);
        if self.entries.contains_key(&hash) {
            return Err(PoolError::Duplicate(hash));
        }
        let tx = decode_and_recover(&bytes, self.limits.max_transaction_bytes)?;
        self.admit(hash, bytes, tx)
    }

    /// Adds a transaction whose sender is already recovered (one submitted to this node by
    /// its own RPC, which recovered it): checked as [`Mempool::insert`] checks, but not
    /// recovered again.
    pub fn insert_recovered(&mut self, tx: Recovered<TxEnvelope>) -> Result<B256, PoolError> {
        let bytes = Bytes::from(tx.inner().encoded_2718());
        let hash = keccak256(&bytes);
        if self.entries.contains_key(&hash) {
            return Err(PoolError::Duplicate(hash));
        }
        if bytes.len() > self.limits.max_transaction_bytes {
            return Err(PoolError::Invalid(TxError::Oversize {
                size: bytes.len(),
                limit: self.limits.max_transaction_bytes,
            }));
        }
        self.admit(hash, bytes, tx)
    }

    fn admit(
        &mut self,
        hash: B256,
        bytes: Bytes,
        tx: Recovered<TxEnvelope>,
    ) -> Result<B256, PoolError> {
        check_chain_id(tx.inner(), self.chain_id, false)?;
        let (sender, nonce) = (tx.signer(), tx.inner().nonce());
        let tip = tx.inner().priority_fee_or_price();
        let mut replaced = None;
        if let Some(existing) = self.by_sender.get(&sender).and_then(|q| q.get(&nonce)) {
            let old = self.entries[existing].tip;
            let needed = old.saturating_add(
                old.saturating_mul(u128::from(self.limits.replacement_bump_percent)) / 100,
            );
            if tip < needed.max(old.saturating_add(1)) {
                return Err(PoolError::ReplacementUnderpriced {
                    sender,
                    nonce,
                    needed: needed.max(old.saturating_add(1)),
                });
            }
            replaced = Some(*existing);
        }
        // Make room: evict the cheapest transaction that is last in its sender's queue (so no
        // gap opens), if it is cheaper than the newcomer.
        let mut evict = Vec::new();
        let (mut count, mut size) = (
            self.entries.len() - usize::from(replaced.is_some()),
            self.bytes - replaced.map_or(0, |h| self.entries[&h].bytes.len()),
        );
        while count + 1 > self.limits.max_transactions || size + bytes.len() > self.limits.max_bytes
        {
            let victim = self
                .by_sender
                .values()
                .filter_map(|q| q.last_key_value().map(|(_, h)| *h))
                .filter(|h| Some(*h) != replaced && !evict.contains(h))
                .min_by_key(|h| (self.entries[h].tip, std::cmp::Reverse(self.entries[h].seq)));
            match victim {
                Some(victim) if self.entries[&victim].tip < tip => {
                    count -= 1;
                    size -= self.entries[&victim].bytes.len();
                    evict.push(victim);
                }
                _ => return Err(PoolError::Full { tip }),
            }
        }
        for victim in evict.into_iter().chain(replaced) {
            self.remove_one(&victim);
        }
        self.seq += 1;
        self.bytes += bytes.len();
        self.by_sender
            .entry(sender)
            .or_default()
            .insert(nonce, hash);
        self.entries.insert(
            hash,
            Entry {
                bytes,
                tx,
                sender,
                nonce,
                tip,
                seq: self.seq,
            },
        );
        Ok(hash)
    }

    fn remove_one(&mut self, hash: &B256) {
        if let Some(entry) = self.entries.remove(hash) {
            self.bytes -= entry.bytes.len();
            if let Some(queue) = self.by_sender.get_mut(&entry.sender) {
                queue.remove(&entry.nonce);
                if queue.is_empty() {
                    self.by_sender.remove(&entry.sender);
                }
            }
        }
    }

    /// Removes transactions (committed ones).
    pub fn remove(&mut self, hashes: &[B256]) {
        for hash in hashes {
            self.remove_one(hash);
        }
    }

    /// Removes committed transactions, returning those it held with their recovered senders.
    pub fn take(&mut self, hashes: &[B256]) -> Vec<(B256, Recovered<TxEnvelope>)> {
        let mut taken = Vec::with_capacity(hashes.len());
        for hash in hashes {
            if let Some(entry) = self.entries.get(hash) {
                taken.push((*hash, entry.tx.clone()));
            }
            self.remove_one(hash);
        }
        taken
    }

    /// Up to `max` transactions for a proposal, without removing them: the highest tip first
    /// among each sender's next transaction, each sender's in nonce order, ties by arrival.
    pub fn select(&self, max: usize) -> Vec<Bytes> {
        let mut heads: BinaryHeap<(u128, std::cmp::Reverse<u64>, B256)> = BinaryHeap::new();
        let mut cursors: HashMap<Address, std::collections::btree_map::Values<'_, u64, B256>> =
            HashMap::new();
        for (sender, queue) in &self.by_sender {
            let mut cursor = queue.values();
            if let Some(hash) = cursor.next() {
                let e = &self.entries[hash];
                heads.push((e.tip, std::cmp::Reverse(e.seq), *hash));
            }
            cursors.insert(*sender, cursor);
        }
        let mut out = Vec::with_capacity(max.min(self.entries.len()));
        while out.len() < max {
            let Some((_, _, hash)) = heads.pop() else {
                break;
            };
            let entry = &self.entries[&hash];
            out.push(entry.bytes.clone());
            if let Some(next) = cursors.get_mut(&entry.sender).and_then(Iterator::next) {
                let e = &self.entries[next];
                heads.push((e.tip, std::cmp::Reverse(e.seq), *next));
            }
        }
        out
    }
}
