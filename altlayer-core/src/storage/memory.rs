//! [`MemoryStore`]: a [`StateStore`] in memory, with history.

use super::*;
use std::{
    collections::BTreeMap,
    sync::{PoisonError, RwLock},
};

/// A [`StateStore`] in memory, keeping the history of the last `history` blocks (all of it
/// with [`MemoryStore::archive`]), and the blocks with their receipts and indexes (a
/// [`ChainStore`]).
#[derive(Debug)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
    /// Decoded trie nodes for the states over the store, as a database's store keeps them.
    nodes: NodeCache,
}

/// The default budget of a [`MemoryStore`]'s [`NodeCache`].
const NODE_CACHE_BYTES: usize = 16 << 20;

/// What block `block` overwrote: the key, and its value before.
#[derive(Clone, Debug)]
enum Before {
    Account(Address, Option<StoredAccount>),
    Slot(Address, U256, U256),
    Node(TrieOwner, Nibbles, Option<Vec<u8>>),
}

#[derive(Debug, Default)]
struct Inner {
    head: Option<StoredHead>,
    /// The blocks by height, and the indexes over them.
    blocks: BTreeMap<u64, StoredBlock>,
    by_hash: std::collections::HashMap<B256, u64>,
    transactions: std::collections::HashMap<B256, (u64, usize)>,
    logs: std::collections::BTreeSet<(LogKey, u64)>,
    /// Protocol records by name.
    records: BTreeMap<String, Vec<u8>>,
    accounts: BTreeMap<Address, StoredAccount>,
    slots: BTreeMap<(Address, U256), U256>,
    code: BTreeMap<B256, Bytes>,
    nodes: BTreeMap<(TrieOwner, Nibbles), Vec<u8>>,
    /// Value before block `b`, by key and `b`: the first entry after `at` is the value at `at`.
    account_history: BTreeMap<(Address, u64), Option<StoredAccount>>,
    slot_history: BTreeMap<(Address, U256, u64), U256>,
    node_history: BTreeMap<(TrieOwner, Nibbles, u64), Option<Vec<u8>>>,
    /// Per block, what it overwrote, to unwind it and to prune its history.
    changes: BTreeMap<u64, Vec<Before>>,
    /// The oldest block whose state can be read.
    oldest: u64,
    /// Blocks of history kept behind the head (`None`: all).
    history: Option<u64>,
}

impl MemoryStore {
    /// An empty store keeping `history` blocks of history behind its head.
    pub fn new(history: u64) -> Self {
        Self {
            inner: RwLock::new(Inner {
                history: Some(history),
                ..Inner::default()
            }),
            nodes: NodeCache::new(NODE_CACHE_BYTES),
        }
    }

    /// An empty store keeping all history.
    pub fn archive() -> Self {
        Self {
            inner: RwLock::new(Inner::default()),
            nodes: NodeCache::new(NODE_CACHE_BYTES),
        }
    }

    /// The same store with a cache of decoded trie nodes of `bytes` (16 MiB by default; 0
    /// keeps none, and the states over it hold nothing between blocks but the top of the
    /// account trie).
    pub fn with_node_cache(mut self, bytes: usize) -> Self {
        self.nodes = NodeCache::new(bytes);
        self
    }

    /// Number of accounts at the head.
    pub fn accounts(&self) -> usize {
        self.read().accounts.len()
    }

    /// Number of trie nodes at the head (all tries).
    pub fn trie_nodes(&self) -> usize {
        self.read().nodes.len()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for MemoryStore {
    /// Keeps 128 blocks of history, as geth does.
    fn default() -> Self {
        Self::new(128)
    }
}

impl Inner {
    /// Whether `at` is the head (read the tables) or an older block (read history first).
    fn check(&self, at: u64) -> Result<bool, StorageError> {
        let head = self.head.map_or(0, |h| h.height);
        if at > head {
            return Err(StorageError::Ahead { at, head });
        }
        if at < self.oldest {
            return Err(StorageError::Pruned {
                at,
                oldest: self.oldest,
            });
        }
        Ok(at == head)
    }
}

impl StateStore for MemoryStore {
    fn head(&self) -> Result<Option<StoredHead>, StorageError> {
        Ok(self.read().head)
    }

    fn block_hash(&self, height: u64) -> Result<Option<B256>, StorageError> {
        Ok(self.read().blocks.get(&height).map(|b| b.hash))
    }

    fn header(&self, height: u64) -> Result<Option<Header>, StorageError> {
        Ok(self
            .read()
            .blocks
            .get(&height)
            .map(|b| b.block.header.clone()))
    }

    fn account(&self, at: u64, address: &Address) -> Result<Option<StoredAccount>, StorageError> {
        let inner = self.read();
        if !inner.check(at)?
            && let Some((_, before)) = inner
                .account_history
                .range((*address, at + 1)..=(*address, u64::MAX))
                .next()
        {
            return Ok(*before);
        }
        Ok(inner.accounts.get(address).copied())
    }

    fn storage(&self, at: u64, address: &Address, slot: &U256) -> Result<U256, StorageError> {
        let inner = self.read();
        if !inner.check(at)?
            && let Some((_, before)) = inner
                .slot_history
                .range((*address, *slot, at + 1)..=(*address, *slot, u64::MAX))
                .next()
        {
            return Ok(*before);
        }
        Ok(inner
            .slots
            .get(&(*address, *slot))
            .copied()
            .unwrap_or_default())
    }

    fn code(&self, hash: &B256) -> Result<Option<Bytes>, StorageError> {
        Ok(self.read().code.get(hash).cloned())
    }

    fn trie_node(
        &self,
        at: u64,
        owner: &TrieOwner,
        path: &Nibbles,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        let inner = self.read();
        if !inner.check(at)?
            && let Some((_, before)) = inner
                .node_history
                .range((*owner, *path, at + 1)..=(*owner, *path, u64::MAX))
                .next()
        {
            return Ok(before.clone());
        }
        Ok(inner.nodes.get(&(*owner, *path)).cloned())
    }

    fn commit(&self, commit: BlockCommit<'_>) -> Result<(), StorageError> {
        let mut inner = self.write();
        let height = commit.block.header.height;
        let extends = match inner.head {
            None => height == 0,
            Some(head) => height == head.height + 1 && commit.block.header.parent_hash == head.hash,
        };
        if !extends {
            return Err(StorageError::NotNext {
                height,
                hash: commit.hash,
                head: inner.head,
            });
        }
        let genesis = inner.head.is_none();
        let mut before = Vec::new();
        let diff = commit.state;
        for address in &diff.wiped {
            let slots: Vec<(U256, U256)> = inner
                .slots
                .range((*address, U256::ZERO)..=(*address, U256::MAX))
                .map(|((_, slot), value)| (*slot, *value))
                .collect();
            for (slot, value) in slots {
                inner.slots.remove(&(*address, slot));
                before.push(Before::Slot(*address, slot, value));
            }
            let owner = alloy_primitives::keccak256(address);
            let nodes: Vec<Nibbles> = inner
                .nodes
                .range((owner, Nibbles::new())..)
                .take_while(|((o, _), _)| *o == owner)
                .map(|((_, path), _)| *path)
                .collect();
            for path in nodes {
                let old = inner.nodes.remove(&(owner, path));
                before.push(Before::Node(owner, path, old));
            }
        }
        for (address, account) in &diff.accounts {
            let old = match account {
                Some(account) => inner.accounts.insert(*address, *account),
                None => inner.accounts.remove(address),
            };
            before.push(Before::Account(*address, old));
        }
        for (address, slot, value) in &diff.storage {
            let old = if value.is_zero() {
                inner.slots.remove(&(*address, *slot))
            } else {
                inner.slots.insert((*address, *slot), *value)
            };
            before.push(Before::Slot(*address, *slot, old.unwrap_or_default()));
        }
        for (hash, code) in &diff.code {
            inner.code.entry(*hash).or_insert_with(|| code.clone());
        }
        for (owner, path, node) in &diff.nodes {
            let old = match node {
                Some(node) => inner.nodes.insert((*owner, *path), node.clone()),
                None => inner.nodes.remove(&(*owner, *path)),
            };
            before.push(Before::Node(*owner, *path, old));
        }
        if !genesis {
            // A key written twice in a block keeps its value from before the block: the first.
            for entry in before.iter().rev() {
                match entry {
                    Before::Account(a, v) => {
                        inner.account_history.insert((*a, height), *v);
                    }
                    Before::Slot(a, s, v) => {
                        inner.slot_history.insert((*a, *s, height), *v);
                    }
                    Before::Node(o, p, v) => {
                        inner.node_history.insert((*o, *p, height), v.clone());
                    }
                }
            }
            inner.changes.insert(height, before);
        }
        inner.insert_block(&commit);
        inner.head = Some(StoredHead {
            height,
            hash: commit.hash,
            state_root: commit.block.header.state_root,
        });
        if let Some(history) = inner.history {
            let oldest = height.saturating_sub(history);
            inner.prune(oldest);
        }
        Ok(())
    }

    fn node_cache(&self) -> Option<&NodeCache> {
        Some(&self.nodes)
    }

    fn import(&self, part: &StateDiff) -> Result<(), StorageError> {
        let mut inner = self.write();
        if let Some(head) = inner.head {
            return Err(StorageError::NotNext {
                height: 0,
                hash: B256::ZERO,
                head: Some(head),
            });
        }
        for (address, account) in &part.accounts {
            match account {
                Some(account) => inner.accounts.insert(*address, *account),
                None => inner.accounts.remove(address),
            };
        }
        for (address, slot, value) in &part.storage {
            if value.is_zero() {
                inner.slots.remove(&(*address, *slot));
            } else {
                inner.slots.insert((*address, *slot), *value);
            }
        }
        for (hash, code) in &part.code {
            inner.code.entry(*hash).or_insert_with(|| code.clone());
        }
        for (owner, path, node) in &part.nodes {
            match node {
                Some(node) => inner.nodes.insert((*owner, *path), node.clone()),
                None => inner.nodes.remove(&(*owner, *path)),
            };
        }
        Ok(())
    }

    fn unwind(&self, height: u64) -> Result<(), StorageError> {
        let mut inner = self.write();
        let Some(head) = inner.head else {
            return Ok(());
        };
        if height >= head.height {
            return Ok(());
        }
        if height < inner.oldest {
            return Err(StorageError::Pruned {
                at: height,
                oldest: inner.oldest,
            });
        }
        for block in ((height + 1)..=head.height).rev() {
            let before = inner.changes.remove(&block).unwrap_or_default();
            for entry in before.into_iter().rev() {
                match entry {
                    Before::Account(a, v) => {
                        inner.account_history.remove(&(a, block));
                        match v {
                            Some(v) => inner.accounts.insert(a, v),
                            None => inner.accounts.remove(&a),
                        };
                    }
                    Before::Slot(a, s, v) => {
                        inner.slot_history.remove(&(a, s, block));
                        if v.is_zero() {
                            inner.slots.remove(&(a, s));
                        } else {
                            inner.slots.insert((a, s), v);
                        }
                    }
                    Before::Node(o, p, v) => {
                        inner.node_history.remove(&(o, p, block));
                        match v {
                            Some(v) => inner.nodes.insert((o, p), v),
                            None => inner.nodes.remove(&(o, p)),
                        };
                    }
                }
            }
            inner.remove_block(block);
        }
        let hash = inner
            .blocks
            .get(&height)
            .map(|b| b.hash)
            .unwrap_or_default();
        let state_root = inner
            .nodes
            .get(&(ACCOUNT_TRIE, Nibbles::new()))
            .map_or(alloy_trie::EMPTY_ROOT_HASH, alloy_primitives::keccak256);
        inner.head = Some(StoredHead {
            height,
            hash,
            state_root,
        });
        Ok(())
    }
}

impl ProtocolStore for MemoryStore {
    fn record(&self, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.read().records.get(name).cloned())
    }

    fn write_records(&self, records: &[(&str, Option<&[u8]>)]) -> Result<(), StorageError> {
        let mut inner = self.write();
        for (name, value) in records {
            match value {
                Some(value) => inner.records.insert((*name).to_owned(), value.to_vec()),
                None => inner.records.remove(*name),
            };
        }
        Ok(())
    }
}

impl ChainStore for MemoryStore {
    fn block(&self, height: u64) -> Result<Option<StoredBlock>, StorageError> {
        Ok(self.read().blocks.get(&height).cloned())
    }

    fn block_height(&self, hash: &B256) -> Result<Option<u64>, StorageError> {
        Ok(self.read().by_hash.get(hash).copied())
    }

    fn transaction_location(&self, hash: &B256) -> Result<Option<(u64, usize)>, StorageError> {
        Ok(self.read().transactions.get(hash).copied())
    }

    fn log_heights(&self, key: &LogKey, from: u64, to: u64) -> Result<Vec<u64>, StorageError> {
        if from > to {
            return Ok(Vec::new());
        }
        Ok(self
            .read()
            .logs
            .range((*key, from)..=(*key, to))
            .map(|(_, height)| *height)
            .collect())
    }
}

impl Inner {
    fn insert_block(&mut self, commit: &BlockCommit<'_>) {
        let height = commit.block.header.height;
        self.by_hash.insert(commit.hash, height);
        for (index, tx) in commit.block.transactions.iter().enumerate() {
            self.transactions.insert(*tx.tx_hash(), (height, index));
        }
        for log in commit.receipts.iter().flat_map(|r| r.logs()) {
            for key in LogKey::of(log) {
                self.logs.insert((key, height));
            }
        }
        self.blocks.insert(
            height,
            StoredBlock {
                block: commit.block.clone(),
                hash: commit.hash,
                senders: commit.senders.to_vec(),
                receipts: commit.receipts.to_vec(),
            },
        );
    }

    fn remove_block(&mut self, height: u64) {
        let Some(block) = self.blocks.remove(&height) else {
            return;
        };
        self.by_hash.remove(&block.hash);
        for tx in &block.block.transactions {
            self.transactions.remove(tx.tx_hash());
        }
        for log in block.receipts.iter().flat_map(|r| r.logs()) {
            for key in LogKey::of(log) {
                self.logs.remove(&(key, height));
            }
        }
    }

    /// Drops the history of blocks up to `oldest`: the state can then be read at `oldest` and
    /// later only.
    fn prune(&mut self, oldest: u64) {
        if oldest <= self.oldest {
            return;
        }
        let kept = self.changes.split_off(&(oldest + 1));
        for (block, before) in std::mem::replace(&mut self.changes, kept) {
            for entry in before {
                match entry {
                    Before::Account(a, _) => {
                        self.account_history.remove(&(a, block));
                    }
                    Before::Slot(a, s, _) => {
                        self.slot_history.remove(&(a, s, block));
                    }
                    Before::Node(o, p, _) => {
                        self.node_history.remove(&(o, p, block));
                    }
                }
            }
        }
        self.oldest = oldest;
    }
}
