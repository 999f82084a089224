//! Looking after a database: what it holds ([`RedbStore::stats`]), whether it is whole
//! ([`RedbStore::check`]), and giving back the space of history no longer kept
//! ([`RedbStore::prune`]).

use crate::{
    RedbStore, backend,
    tables::{
        CHANGESETS, LOG_INDEX, META, TX_INDEX, at_block, corrupt, decode_account, decode_changes,
    },
};
use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, HashBuilder, KECCAK_EMPTY, TrieAccount, nodes::TrieNode};
use altlayer_core::storage::{
    ACCOUNT_TRIE, ChainStore, LogKey, StateStore, StorageError, StoredAccount, StoredHead,
    TrieOwner,
};
use nybbles::Nibbles;
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableHandle};
use std::collections::{BTreeMap, BTreeSet};

/// One table's entries and bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableStats {
    /// The table's name.
    pub name: String,
    /// Entries.
    pub entries: u64,
    /// Bytes of keys and values stored.
    pub stored_bytes: u64,
}

/// What a database holds: [`RedbStore::stats`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreStats {
    /// Bytes of the database file.
    pub file_bytes: u64,
    /// The last block committed.
    pub head: Option<StoredHead>,
    /// The genesis block's hash.
    pub genesis: Option<B256>,
    /// The oldest block whose state can be read.
    pub oldest_state: u64,
    /// The last block applied to the state tables (later ones are in the journal).
    pub applied: u64,
    /// Each table.
    pub tables: Vec<TableStats>,
}

/// What [`RedbStore::check`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// The head checked.
    pub head: Option<StoredHead>,
    /// The state root recomputed from the accounts and slots.
    pub flat_root: Option<B256>,
    /// The state root the stored trie nodes hash to (every node checked against its parent's
    /// reference).
    pub trie_root: Option<B256>,
    /// Accounts at the head.
    pub accounts: u64,
    /// Storage slots at the head.
    pub slots: u64,
    /// Trie nodes walked (stored ones; embedded ones are part of their parent).
    pub trie_nodes: u64,
    /// Blocks checked.
    pub blocks: u64,
    /// Transactions checked in the transaction index.
    pub transactions: u64,
    /// Entries checked in the log index.
    pub log_entries: u64,
    /// What is wrong, one line each; empty when the database is whole.
    pub problems: Vec<String>,
}

impl CheckReport {
    /// Whether nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Space [`RedbStore::prune`] gave back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PruneReport {
    /// History entries deleted.
    pub history_entries: u64,
    /// Bytes of the file before.
    pub bytes_before: u64,
    /// Bytes of the file after.
    pub bytes_after: u64,
}

const PROBLEMS_SHOWN: usize = 20;

/// What a trie walk does with each leaf: its full key, its value, the report.
type OnLeaf<'a> = dyn FnMut(Vec<u8>, &[u8], &mut CheckReport) + 'a;

impl RedbStore {
    /// Sizes, heights and counts.
    pub fn stats(&self) -> Result<StoreStats, StorageError> {
        // Counted with no apply half way (its blocks would be in the journal and the tables)
        // and no commit half way.
        let _writer = self.exclusive();
        self.settle_apply(&mut self.layers_mut(), true)?;
        let tx = self.db.begin_read().map_err(backend)?;
        let mut tables = Vec::new();
        for handle in tx.list_tables().map_err(backend)? {
            let name = handle.name().to_owned();
            let table = tx.open_untyped_table(handle).map_err(backend)?;
            let stats = table.stats().map_err(backend)?;
            tables.push(TableStats {
                name,
                entries: table.len().map_err(backend)?,
                stored_bytes: stats.stored_bytes(),
            });
        }
        let head = self.head()?;
        let snapshot = self.snapshot();
        Ok(StoreStats {
            file_bytes: std::fs::metadata(&self.path).map_or(0, |m| m.len()),
            head,
            genesis: self.genesis_hash()?,
            oldest_state: self.oldest(head.map_or(0, |h| h.height)),
            applied: snapshot.applied,
            tables,
        })
    }

    /// Checks the database against itself: the state root recomputed from the accounts and
    /// slots, and the one the stored trie hashes to (walking every node from the root and
    /// checking it against its parent's reference), must both be the head's; every account's
    /// storage root must be its slots'; its code must be there; and every block's hash, body,
    /// receipts and index entries must agree.
    pub fn check(&self) -> Result<CheckReport, StorageError> {
        let _writer = self.exclusive();
        self.settle_apply(&mut self.layers_mut(), true)?;
        let mut report = CheckReport {
            head: self.head()?,
            ..CheckReport::default()
        };
        let Some(head) = report.head else {
            return Ok(report);
        };
        self.check_flat_state(head, &mut report)?;
        self.check_trie(head, &mut report)?;
        self.check_chain(head, &mut report)?;
        if report.problems.len() > PROBLEMS_SHOWN {
            let more = report.problems.len() - PROBLEMS_SHOWN;
            report.problems.truncate(PROBLEMS_SHOWN);
            report.problems.push(format!("... and {more} more"));
        }
        Ok(report)
    }

    /// The accounts and slots at the head (the tables with the journal's blocks on top), and
    /// the root they make.
    fn check_flat_state(
        &self,
        head: StoredHead,
        report: &mut CheckReport,
    ) -> Result<(), StorageError> {
        let layers = self.layers();
        let snapshot = self.snapshot();
        let mut accounts: BTreeMap<Address, StoredAccount> = BTreeMap::new();
        for entry in snapshot.accounts.iter().map_err(backend)? {
            let (key, value) = entry.map_err(backend)?;
            let address = Address::try_from(key.value())
                .map_err(|_| corrupt("an account key is not an address"))?;
            accounts.insert(address, decode_account(value.value())?);
        }
        let mut slots: BTreeMap<(Address, U256), U256> = BTreeMap::new();
        for entry in snapshot.storage.iter().map_err(backend)? {
            let (key, value) = entry.map_err(backend)?;
            let (key, value) = (key.value(), value.value());
            if key.len() != 52 || value.len() != 32 {
                return Err(corrupt("a storage entry of the wrong size"));
            }
            let address = Address::from_slice(&key[..20]);
            slots.insert(
                (address, U256::from_be_slice(&key[20..])),
                U256::from_be_slice(value),
            );
        }
        for diff in layers.blocks.values() {
            for address in &diff.wiped {
                let wiped: Vec<_> = slots
                    .range((*address, U256::ZERO)..=(*address, U256::MAX))
                    .map(|(k, _)| *k)
                    .collect();
                for key in wiped {
                    slots.remove(&key);
                }
            }
            for (address, account) in &diff.accounts {
                match account {
                    Some(account) => accounts.insert(*address, *account),
                    None => accounts.remove(address),
                };
            }
            for (address, slot, value) in &diff.storage {
                if value.is_zero() {
                    slots.remove(&(*address, *slot));
                } else {
                    slots.insert((*address, *slot), *value);
                }
            }
        }
        drop(layers);
        report.accounts = accounts.len() as u64;
        report.slots = slots.len() as u64;
        let mut leaves = Vec::with_capacity(accounts.len());
        for (address, account) in &accounts {
            let storage = slots
                .range((*address, U256::ZERO)..=(*address, U256::MAX))
                .map(|((_, slot), value)| (keccak256(slot.to_be_bytes::<32>()), *value));
            let storage_root = root(storage.map(|(k, v)| (k, alloy_rlp::encode(v))).collect());
            if storage_root != account.storage_root {
                report.problems.push(format!(
                    "account {address}: storage root {} but its slots make {storage_root}",
                    account.storage_root
                ));
            }
            if account.code_hash != KECCAK_EMPTY {
                match self.code(&account.code_hash)? {
                    Some(code) if keccak256(&code) == account.code_hash => {}
                    Some(_) => report.problems.push(format!(
                        "account {address}: its code does not hash to its code hash"
                    )),
                    None => report.problems.push(format!(
                        "account {address}: code {} is missing",
                        account.code_hash
                    )),
                }
            }
            let leaf = TrieAccount {
                nonce: account.nonce,
                balance: account.balance,
                storage_root: account.storage_root,
                code_hash: account.code_hash,
            };
            leaves.push((keccak256(address), alloy_rlp::encode(leaf)));
        }
        let flat = root(leaves);
        report.flat_root = Some(flat);
        if flat != head.state_root {
            report.problems.push(format!(
                "the accounts make state root {flat}, the head {} has {}",
                head.height, head.state_root
            ));
        }
        Ok(())
    }

    /// Walks the account trie and every storage trie from their roots, checking each stored
    /// node against the reference its parent holds.
    fn check_trie(&self, head: StoredHead, report: &mut CheckReport) -> Result<(), StorageError> {
        let mut storage_roots = Vec::new();
        let root = self.walk(
            head.height,
            &ACCOUNT_TRIE,
            Nibbles::new(),
            None,
            &mut |key, value, report| match alloy_rlp::decode_exact::<TrieAccount>(value) {
                Ok(account) if account.storage_root != EMPTY_ROOT_HASH => {
                    storage_roots.push((B256::from_slice(&key), account.storage_root));
                }
                Ok(_) => {}
                Err(e) => report
                    .problems
                    .push(format!("an account leaf does not decode: {e}")),
            },
            report,
        )?;
        report.trie_root = Some(root);
        if root != head.state_root {
            report.problems.push(format!(
                "the stored trie hashes to {root}, the head {} has state root {}",
                head.height, head.state_root
            ));
        }
        for (owner, expected) in storage_roots {
            let found = self.walk(
                head.height,
                &owner,
                Nibbles::new(),
                None,
                &mut |_, _, _| {},
                report,
            )?;
            if found != expected {
                report.problems.push(format!(
                    "storage trie {owner} hashes to {found}, its account says {expected}"
                ));
            }
        }
        Ok(())
    }

    /// Walks the subtrie of `owner` at `path` (the node stored there, or `embedded`, an
    /// inline node of its parent), calling `leaf` with each leaf's full key; returns the hash
    /// of the node at `path`.
    fn walk(
        &self,
        at: u64,
        owner: &TrieOwner,
        path: Nibbles,
        embedded: Option<&[u8]>,
        leaf: &mut OnLeaf<'_>,
        report: &mut CheckReport,
    ) -> Result<B256, StorageError> {
        let bytes = match embedded {
            Some(bytes) => bytes.to_vec(),
            None => {
                report.trie_nodes += 1;
                match self.trie_node(at, owner, &path)? {
                    Some(bytes) => bytes,
                    None if path.is_empty() => return Ok(EMPTY_ROOT_HASH),
                    None => {
                        report
                            .problems
                            .push(format!("trie {owner}: the node at {path:?} is missing"));
                        return Ok(B256::ZERO);
                    }
                }
            }
        };
        let node = match alloy_rlp::decode_exact::<TrieNode>(&bytes) {
            Ok(node) => node,
            Err(e) => {
                report.problems.push(format!(
                    "trie {owner}: the node at {path:?} does not decode: {e}"
                ));
                return Ok(B256::ZERO);
            }
        };
        let mut child = |path: Nibbles, reference: &[u8], report: &mut CheckReport| {
            let rlp = alloy_trie::nodes::RlpNode::from_raw(reference).ok_or_else(|| {
                corrupt(format!(
                    "trie {owner}: a child reference longer than a hash"
                ))
            })?;
            match rlp.as_hash() {
                Some(hash) => {
                    let found = self.walk(at, owner, path, None, leaf, report)?;
                    if found != hash {
                        report.problems.push(format!(
                            "trie {owner}: the node at {path:?} hashes to {found}, its parent names {hash}"
                        ));
                    }
                }
                None => {
                    self.walk(at, owner, path, Some(reference), leaf, report)?;
                }
            }
            Ok::<_, StorageError>(())
        };
        match &node {
            TrieNode::EmptyRoot => {}
            TrieNode::Branch(branch) => {
                for (nibble, reference) in branch.as_ref().children() {
                    if let Some(reference) = reference {
                        let mut next = path;
                        next.push(nibble);
                        child(next, reference.as_slice(), report)?;
                    }
                }
            }
            TrieNode::Extension(extension) => {
                let mut next = path;
                next.extend(&extension.key);
                child(next, extension.child.as_slice(), report)?;
            }
            TrieNode::Leaf(node) => {
                let mut key = path;
                key.extend(&node.key);
                if key.len() != 64 {
                    report.problems.push(format!(
                        "trie {owner}: a leaf at {path:?} has a key of {} nibbles",
                        key.len()
                    ));
                } else {
                    leaf(key.pack().to_vec(), &node.value, report);
                }
            }
        }
        Ok(keccak256(&bytes))
    }

    /// Every block: its hash, its body, its receipts (and their root), and the index entries
    /// they make; and no index entry for a block that is not there.
    fn check_chain(&self, head: StoredHead, report: &mut CheckReport) -> Result<(), StorageError> {
        let mut parent = None;
        let mut transactions = 0u64;
        let mut log_entries = 0u64;
        for height in 0..=head.height {
            let Some(block) = self.block(height)? else {
                report.problems.push(format!("block {height} is missing"));
                continue;
            };
            report.blocks += 1;
            let header = &block.block.header;
            if header.hash() != block.hash {
                report.problems.push(format!(
                    "block {height}: stored hash {} is not its header's",
                    block.hash
                ));
            }
            if self.block_height(&block.hash)? != Some(height) {
                report
                    .problems
                    .push(format!("block {height}: the hash index does not name it"));
            }
            if let Some(parent) = parent
                && header.parent_hash != parent
            {
                report.problems.push(format!(
                    "block {height}: its parent is not block {}",
                    height - 1
                ));
            }
            parent = Some(block.hash);
            let count = block.block.transactions.len();
            if block.receipts.len() != count || block.senders.len() != count {
                report.problems.push(format!(
                    "block {height}: {count} transactions, {} receipts, {} senders",
                    block.receipts.len(),
                    block.senders.len()
                ));
            }
            if altlayer_core::primitives::receipts_root(&block.receipts) != header.receipts_root {
                report.problems.push(format!(
                    "block {height}: its receipts do not make its receipts root"
                ));
            }
            for (index, tx) in block.block.transactions.iter().enumerate() {
                transactions += 1;
                if self.transaction_location(tx.tx_hash())? != Some((height, index)) {
                    report.problems.push(format!(
                        "block {height}: transaction {} is not indexed at ({height}, {index})",
                        tx.tx_hash()
                    ));
                }
            }
            let keys: BTreeSet<LogKey> = block
                .receipts
                .iter()
                .flat_map(|r| r.logs())
                .flat_map(LogKey::of)
                .collect();
            for key in &keys {
                log_entries += 1;
                if !self.log_heights(key, height, height)?.contains(&height) {
                    report
                        .problems
                        .push(format!("block {height}: the log index misses {key:?}"));
                }
            }
        }
        report.transactions = transactions;
        report.log_entries = log_entries;
        // Entries for blocks that are not there (an unwind that left some behind).
        let tx = self.db.begin_read().map_err(backend)?;
        let (tx_index, log_index) = (
            tx.open_table(TX_INDEX)
                .map_err(backend)?
                .len()
                .map_err(backend)?,
            tx.open_table(LOG_INDEX)
                .map_err(backend)?
                .len()
                .map_err(backend)?,
        );
        // The journaled blocks' transactions are indexed in the layers until they are applied.
        let tx_index = tx_index + self.layers().transaction_count() as u64;
        if tx_index != transactions {
            report.problems.push(format!(
                "the transaction index holds {tx_index} entries for {transactions} transactions"
            ));
        }
        if log_index != log_entries {
            report.problems.push(format!(
                "the log index holds {log_index} entries, the blocks' logs make {log_entries}"
            ));
        }
        Ok(())
    }

    /// Deletes the state history of blocks at or before `before` (an archive's, or one left
    /// by opening an archive with a history depth; a store keeping N blocks of history keeps
    /// it in its journal and has none in its tables), then compacts the file so the space
    /// goes back to the file system. Reads of the state before `before` are refused from then
    /// on.
    ///
    /// It takes the store: compacting needs the database to itself, so a node's own store
    /// is pruned while the node is stopped (`altlayer db prune`).
    pub fn prune(self, before: u64) -> Result<PruneReport, StorageError> {
        let writer = self.exclusive();
        self.settle_apply(&mut self.layers_mut(), true)?;
        drop(writer);
        let bytes_before = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        let applied = self.snapshot().applied;
        let before = before.min(applied);
        let mut deleted = 0u64;
        let mut tx = self.db.begin_write().map_err(backend)?;
        tx.set_quick_repair(true);
        {
            let mut changesets = tx.open_table(CHANGESETS).map_err(backend)?;
            let blocks: Vec<(u64, Vec<u8>)> = changesets
                .range(..=before)
                .map_err(backend)?
                .map(|entry| {
                    let (block, changes) = entry.map_err(backend)?;
                    Ok((block.value(), changes.value().to_vec()))
                })
                .collect::<Result<_, StorageError>>()?;
            for (block, changes) in blocks {
                for change in decode_changes(&changes)? {
                    let (_, history) = change.kind.tables();
                    let mut history = tx.open_table(history).map_err(backend)?;
                    if history
                        .remove(at_block(&change.key, block).as_slice())
                        .map_err(backend)?
                        .is_some()
                    {
                        deleted += 1;
                    }
                }
                changesets.remove(block).map_err(backend)?;
            }
            let mut meta = tx.open_table(META).map_err(backend)?;
            let oldest = meta
                .get("oldest")
                .map_err(backend)?
                .map_or(Ok(0), |v| crate::tables::u64_of(v.value()))?;
            if before > oldest {
                meta.insert("oldest", before.to_be_bytes().as_slice())
                    .map_err(backend)?;
            }
        }
        tx.commit().map_err(backend)?;
        // The snapshot's read transaction would keep the freed pages in use.
        let Self {
            mut db,
            path,
            snapshot,
            ..
        } = self;
        drop(snapshot);
        // Nothing else holds the database: the apply is done (above).
        std::sync::Arc::get_mut(&mut db)
            .ok_or_else(|| StorageError::Backend("the database is still in use".into()))?
            .compact()
            .map_err(backend)?;
        drop(db);
        Ok(PruneReport {
            history_entries: deleted,
            bytes_before,
            bytes_after: std::fs::metadata(&path).map_or(0, |m| m.len()),
        })
    }
}

/// The root of a trie of `leaves` (hashed key, RLP value), in any order.
fn root(mut leaves: Vec<(B256, Vec<u8>)>) -> B256 {
    leaves.sort_unstable_by_key(|leaf| leaf.0);
    let mut builder = HashBuilder::default();
    for (key, value) in &leaves {
        builder.add_leaf(Nibbles::unpack(key), value);
    }
    builder.root()
}
