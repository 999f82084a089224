//! [`StateStore`] for [`RedbStore`]: reads as of a block, a block's commit in one write
//! transaction, unwinding, and pruning history.

use crate::{
    RedbStore, backend, chain, encode_head,
    layers::{Found, Layers, encode_diff},
    snapshot::Versioned,
    tables::{
        ACCOUNT_HISTORY, ACCOUNTS, BODIES, CHANGESETS, CODE, Changed, HEADERS, JOURNAL, Kind, META,
        NODE_HISTORY, NODES, RECEIPTS, STORAGE, STORAGE_HISTORY, UNWOUND, at_block, corrupt,
        decode_account, decode_changes, decode_items, decode_option, encode_account,
        encode_changes, encode_items, encode_option, node_key, slot_key,
    },
};
use alloy_primitives::{Address, B256, Bytes, U256, keccak256, map::HashSet};
use altlayer_core::{
    primitives::Header,
    storage::{
        BlockCommit, NodeCache, StateDiff, StateStore, StorageError, StoredAccount, StoredHead,
        TrieOwner,
    },
};
use nybbles::Nibbles;
use redb::{ReadableDatabase, ReadableTable, Table};
use std::{collections::BTreeMap, sync::PoisonError};

impl RedbStore {
    /// The value of `key` as of block `at`: from the journaled blocks' layers, else the
    /// tables (as of the last applied block), else history for older blocks.
    fn read(&self, at: u64, which: Versioned, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let layers = self.layers();
        let head = self.head_height();
        if at > head {
            return Err(StorageError::Ahead { at, head });
        }
        let oldest = self.oldest(head);
        if at < oldest {
            return Err(StorageError::Pruned { at, oldest });
        }
        // The snapshot is taken under the layers' lock: an apply swaps both together.
        let snapshot = self.snapshot();
        if at >= snapshot.applied {
            if let Found::Value(value) = layers.get(at, which, key) {
                return Ok(value);
            }
            return snapshot.value_at(snapshot.applied, which, key);
        }
        snapshot.value_at(at, which, key)
    }

    /// The oldest block whose state is kept, with `head` the head.
    pub(crate) fn oldest(&self, head: u64) -> u64 {
        let pruned = self.floor();
        match self.history {
            Some(history) => pruned.max(head.saturating_sub(history)),
            None => pruned,
        }
    }

    /// Writes a block in one durable transaction: its state changes to the journal (the
    /// genesis block's straight into the tables), the block, its receipts and indexes and the
    /// new head, and, with `apply`, the journaled blocks through the given height into the
    /// tables (`record`: with their history).
    fn write_block(
        &self,
        commit: &BlockCommit<'_>,
        new_head: &StoredHead,
        apply: Option<(&Layers, u64)>,
        record: bool,
    ) -> Result<(), StorageError> {
        let height = new_head.height;
        let genesis = height == 0;
        let _first = self.committing.mark();
        let mut tx = self.db.begin_write().map_err(backend)?;
        tx.set_quick_repair(true);
        if genesis {
            let mut writer = Writer::new(&tx, height, false)?;
            writer.state(commit.state)?;
            writer.finish()?;
        } else {
            tx.open_table(JOURNAL)
                .map_err(backend)?
                .insert(height, encode_diff(commit.state).as_slice())
                .map_err(backend)?;
        }
        if let Some((layers, through)) = apply {
            let blocks: Vec<(u64, &StateDiff)> = layers
                .blocks
                .range(..=through)
                .map(|(h, d)| (*h, &**d))
                .collect();
            if blocks.iter().any(|(_, diff)| !diff.wiped.is_empty()) {
                // A wipe deletes what the blocks before it wrote: block by block.
                for (block, diff) in &blocks {
                    let mut writer = Writer::new(&tx, *block, record)?;
                    writer.state(diff)?;
                    writer.finish()?;
                }
            } else {
                apply_merged(&tx, layers, &blocks, through, record)?;
            }
            let mut journal = tx.open_table(JOURNAL).map_err(backend)?;
            for (block, _) in &blocks {
                journal.remove(*block).map_err(backend)?;
            }
            chain::index_transactions(&tx, &layers.transactions_through(through))?;
        }
        chain::write_block(&tx, commit)?;
        {
            let mut meta = tx.open_table(META).map_err(backend)?;
            meta.insert("head", encode_head(new_head).as_slice())
                .map_err(backend)?;
            if genesis {
                meta.remove("importing").map_err(backend)?;
            }
            let applied = apply
                .map(|(_, through)| through)
                .or(genesis.then_some(height));
            if let Some(through) = applied {
                meta.insert("applied", through.to_be_bytes().as_slice())
                    .map_err(backend)?;
                // Without history in the tables, the applied blocks' states are gone: said
                // in the file, so that opening it later as an archive does not read them.
                if !record && !genesis {
                    crate::apply::raise_oldest(&mut meta, through)?;
                }
            }
        }
        tx.commit().map_err(backend)
    }
}

impl StateStore for RedbStore {
    fn head(&self) -> Result<Option<StoredHead>, StorageError> {
        Ok(*self.head.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn block_hash(&self, height: u64) -> Result<Option<B256>, StorageError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let headers = tx.open_table(HEADERS).map_err(backend)?;
        let Some(entry) = headers.get(height).map_err(backend)? else {
            return Ok(None);
        };
        let bytes = entry.value();
        if bytes.len() < 32 {
            return Err(corrupt(format!("header {height} cut short")));
        }
        Ok(Some(B256::from_slice(&bytes[..32])))
    }

    fn header(&self, height: u64) -> Result<Option<Header>, StorageError> {
        Ok(self.block_header(height)?.map(|(_, header)| header))
    }

    fn account(&self, at: u64, address: &Address) -> Result<Option<StoredAccount>, StorageError> {
        self.read(at, Versioned::Account, address.as_slice())?
            .map(|bytes| decode_account(&bytes))
            .transpose()
    }

    fn storage(&self, at: u64, address: &Address, slot: &U256) -> Result<U256, StorageError> {
        let key = slot_key(address, slot);
        Ok(self
            .read(at, Versioned::Slot, &key)?
            .map(|bytes| U256::from_be_slice(&bytes))
            .unwrap_or_default())
    }

    fn code(&self, hash: &B256) -> Result<Option<Bytes>, StorageError> {
        if let Some(code) = self.layers().code(hash) {
            return Ok(Some(code));
        }
        Ok(self
            .snapshot()
            .code
            .get(hash.as_slice())
            .map_err(backend)?
            .map(|v| Bytes::copy_from_slice(v.value())))
    }

    fn trie_node(
        &self,
        at: u64,
        owner: &TrieOwner,
        path: &Nibbles,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        self.read(at, Versioned::Node, &node_key(owner, path))
    }

    fn node_cache(&self) -> Option<&NodeCache> {
        Some(&self.nodes)
    }

    fn commit(&self, commit: BlockCommit<'_>) -> Result<(), StorageError> {
        let _writer = self.exclusive();
        let mut layers = self.layers_mut();
        self.settle_apply(&mut layers, false)?;
        let header = &commit.block.header;
        let height = header.height;
        let head = self.head()?;
        let extends = match head {
            None => height == 0,
            Some(head) => height == head.height + 1 && header.parent_hash == head.hash,
        };
        if !extends {
            return Err(StorageError::NotNext {
                height,
                hash: commit.hash,
                head,
            });
        }
        let genesis = head.is_none();
        // Genesis goes straight into the tables; later blocks into the journal. With N blocks
        // of history, the journal keeps the last N blocks (every read and unwind the store
        // answers falls in them, so the tables need no history of their own) and the oldest
        // `apply_every` blocks beyond go into the tables together; an archive applies every
        // `apply_every` blocks and keeps history in the tables.
        let window = self.history.map_or(0, |h| h as usize);
        let (apply, through) = if genesis {
            (true, height)
        } else if layers.blocks.len() + 1 >= window + self.apply_every && !self.applying() {
            // Not below the floor: an apply cut short by a crash wrote values up to it.
            (true, height.saturating_sub(window as u64).max(self.floor()))
        } else {
            (false, 0)
        };
        let record = self.history.is_none() && !genesis;
        // Without history in the tables and without a wipe, the blocks due go to the tables
        // on a thread of their own once this block is written ([`crate::apply`]).
        let background = apply
            && !genesis
            && !record
            && layers
                .blocks
                .range(..=through)
                .all(|(_, diff)| diff.wiped.is_empty());
        let apply = apply && !background;
        let new_head = StoredHead {
            height,
            hash: commit.hash,
            state_root: header.state_root,
        };
        let transactions = || {
            commit
                .block
                .transactions
                .iter()
                .map(|tx| *tx.tx_hash())
                .collect()
        };
        let (written, mut layers) = if genesis {
            (self.write_block(&commit, &new_head, None, false), layers)
        } else if apply {
            // Applying reads the blocks' writes from the layers' index, this one's too: it
            // joins the layers first (the write lock keeps readers out until the commit).
            layers.push(height, commit.state.clone());
            layers.push_transactions(height, transactions());
            let written = self.write_block(&commit, &new_head, Some((&layers, through)), record);
            (written, layers)
        } else {
            // The block's index in memory and its durable write are independent: built side
            // by side, the index costs the commit nothing. A scoped thread, not `rayon::join`,
            // which here mostly ran the two one after the other (2.0 x the block in memory
            // against 1.77 x in `commit_cost`, the same hour). Readers are kept out only while
            // a part of the index goes in: no read sees the block's entries before the head
            // moves to it (they are above every block read), and a block executing beside
            // this commit (a replica writing behind) reads on while the block is synced.
            drop(layers);
            let written = std::thread::scope(|scope| {
                let indexed = scope.spawn(|| {
                    crate::layers::push_in_parts(&self.layers, height, commit.state.clone());
                });
                let written = self.write_block(&commit, &new_head, None, false);
                if let Err(panic) = indexed.join() {
                    std::panic::resume_unwind(panic);
                }
                written
            });
            (written, self.layers_mut())
        };
        if let Err(error) = written {
            if !genesis {
                layers.drop_after(height - 1);
            }
            return Err(error);
        }
        if apply {
            layers.take_through(through);
            self.refresh()?;
        } else if !genesis {
            // Indexed once the block is on disk: a transaction found by its hash is in a
            // stored block.
            layers.push_transactions(height, transactions());
        }
        *self.head.write().unwrap_or_else(PoisonError::into_inner) = Some(new_head);
        if background {
            // The block is written whatever happens here: a thread that cannot start is
            // started again by the next block.
            let _ = self.start_apply(&layers, through);
        }
        Ok(())
    }

    /// One durable transaction per part, straight into the state tables; the file says an
    /// import is under way until the genesis block's commit, and a store opened on an import
    /// cut short starts again empty ([`RedbStore::open`]).
    fn import(&self, part: &StateDiff) -> Result<(), StorageError> {
        let _writer = self.exclusive();
        let _layers = self.layers_mut();
        if let Some(head) = self.head()? {
            return Err(StorageError::NotNext {
                height: 0,
                hash: B256::ZERO,
                head: Some(head),
            });
        }
        let mut tx = self.db.begin_write().map_err(backend)?;
        tx.set_quick_repair(true);
        tx.open_table(META)
            .map_err(backend)?
            .insert("importing", [1u8].as_slice())
            .map_err(backend)?;
        let mut writer = Writer::new(&tx, 0, false)?;
        writer.state(part)?;
        writer.finish()?;
        tx.commit().map_err(backend)?;
        self.refresh()
    }

    /// Takes the chain back to `height`; the blocks taken back while their changes were in
    /// the journal are kept aside (the last unwind's only) for [`RedbStore::forward_to`].
    fn unwind(&self, height: u64) -> Result<(), StorageError> {
        self.unwind_keeping(height, true)
    }
}

impl RedbStore {
    /// Takes the chain forward again to block `height` (`hash`) from the blocks the last
    /// unwind took back, when they reach it: what a node does whose records stand on a block
    /// a revert took back before the node could record the revert (it stopped in between;
    /// the revert happens again from its records). Blocks committed since the unwind (they
    /// never left the node either) are taken back first. Returns whether the chain now
    /// stands on that block; `false` changes nothing.
    pub fn forward_to(&self, height: u64, hash: B256) -> Result<bool, StorageError> {
        let kept: Vec<(u64, Vec<u8>)> = {
            let tx = self.db.begin_read().map_err(backend)?;
            let table = match tx.open_table(UNWOUND) {
                Ok(table) => table,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(false),
                Err(e) => return Err(backend(e)),
            };
            table
                .range(..=height)
                .map_err(backend)?
                .map(|entry| {
                    let (h, bytes) = entry.map_err(backend)?;
                    Ok((h.value(), bytes.value().to_vec()))
                })
                .collect::<Result<_, StorageError>>()?
        };
        let mut blocks = Vec::with_capacity(kept.len());
        for (at, bytes) in &kept {
            let (items, rest) = decode_items(bytes)?;
            let [diff, header, body, receipts] = items.as_slice() else {
                return Err(corrupt(format!(
                    "unwound block {at}: {} items",
                    items.len()
                )));
            };
            if !rest.is_empty() {
                return Err(corrupt(format!("unwound block {at}: trailing bytes")));
            }
            let (block_hash, header) = chain::decode_header(*at, header)?;
            let body = chain::decode_body(*at, body)?;
            blocks.push((
                block_hash,
                altlayer_core::primitives::Block {
                    header,
                    transactions: body.transactions,
                },
                body.senders,
                chain::decode_receipts(*at, receipts)?,
                crate::layers::decode_diff(diff)?,
            ));
        }
        // The kept blocks must run from a stored block to the one asked for, unbroken.
        let reaches = blocks
            .last()
            .is_some_and(|(h, block, ..)| *h == hash && block.header.height == height);
        let unbroken = blocks.windows(2).all(|pair| {
            pair[1].1.header.height == pair[0].1.header.height + 1
                && pair[1].1.header.parent_hash == pair[0].0
        });
        let Some((_, first, ..)) = blocks.first() else {
            return Ok(false);
        };
        let base = first.header.height.saturating_sub(1);
        if !reaches || !unbroken || self.block_hash(base)? != Some(first.header.parent_hash) {
            return Ok(false);
        }
        self.unwind_keeping(base, false)?;
        for (block_hash, block, senders, receipts, diff) in &blocks {
            self.commit(BlockCommit {
                block,
                hash: *block_hash,
                senders,
                receipts,
                state: diff,
            })?;
        }
        Ok(true)
    }

    fn unwind_keeping(&self, height: u64, keep: bool) -> Result<(), StorageError> {
        let _writer = self.exclusive();
        let mut layers = self.layers_mut();
        self.settle_apply(&mut layers, true)?;
        let Some(head) = self.head()? else {
            return Ok(());
        };
        if height >= head.height {
            return Ok(());
        }
        let oldest = self.oldest(head.height);
        if height < oldest {
            return Err(StorageError::Pruned { at: height, oldest });
        }
        let applied = self.snapshot().applied;
        let mut tx = self.db.begin_write().map_err(backend)?;
        tx.set_quick_repair(true);
        if keep {
            keep_unwound(&tx, height, head.height, height >= applied)?;
        }
        {
            let mut journal = tx.open_table(JOURNAL).map_err(backend)?;
            for block in layers.blocks.keys().filter(|b| **b > height) {
                journal.remove(*block).map_err(backend)?;
            }
        }
        if height < applied {
            for block in ((height + 1)..=applied).rev() {
                undo_block(&tx, block)?;
            }
        }
        for block in ((height + 1)..=head.height).rev() {
            chain::remove_block(&tx, block)?;
        }
        let restored = {
            let headers = tx.open_table(HEADERS).map_err(backend)?;
            let entry = headers
                .get(height)
                .map_err(backend)?
                .ok_or_else(|| corrupt(format!("header {height} is missing")))?;
            let (hash, header) = chain::decode_header(height, entry.value())?;
            StoredHead {
                height,
                hash,
                state_root: header.state_root,
            }
        };
        {
            let mut meta = tx.open_table(META).map_err(backend)?;
            meta.insert("head", encode_head(&restored).as_slice())
                .map_err(backend)?;
            if height < applied {
                meta.insert("applied", height.to_be_bytes().as_slice())
                    .map_err(backend)?;
            }
        }
        tx.commit().map_err(backend)?;
        layers.drop_after(height);
        self.refresh()?;
        *self.head.write().unwrap_or_else(PoisonError::into_inner) = Some(restored);
        Ok(())
    }
}

/// Keeps the blocks after `height` up to `head` in [`UNWOUND`] (replacing what an earlier
/// unwind kept) when their changes are all in the journal (`journaled`); clears it otherwise.
fn keep_unwound(
    tx: &redb::WriteTransaction,
    height: u64,
    head: u64,
    journaled: bool,
) -> Result<(), StorageError> {
    let mut unwound = tx.open_table(UNWOUND).map_err(backend)?;
    unwound.retain(|_, _| false).map_err(backend)?;
    if !journaled {
        return Ok(());
    }
    let journal = tx.open_table(JOURNAL).map_err(backend)?;
    let headers = tx.open_table(HEADERS).map_err(backend)?;
    let bodies = tx.open_table(BODIES).map_err(backend)?;
    let receipts = tx.open_table(RECEIPTS).map_err(backend)?;
    for block in (height + 1)..=head {
        let missing = |what: &str| corrupt(format!("the {what} of block {block} is missing"));
        let diff = journal
            .get(block)
            .map_err(backend)?
            .ok_or_else(|| missing("journal entry"))?;
        let header = headers
            .get(block)
            .map_err(backend)?
            .ok_or_else(|| missing("header"))?;
        let body = bodies
            .get(block)
            .map_err(backend)?
            .ok_or_else(|| missing("body"))?;
        let list = receipts
            .get(block)
            .map_err(backend)?
            .ok_or_else(|| missing("receipts"))?;
        let items = [diff.value(), header.value(), body.value(), list.value()];
        unwound
            .insert(block, encode_items(items.into_iter()).as_slice())
            .map_err(backend)?;
    }
    Ok(())
}

/// Writes one block's state changes, recording each key's value before the block once.
struct Writer<'t> {
    accounts: Table<'t, &'static [u8], &'static [u8]>,
    storage: Table<'t, &'static [u8], &'static [u8]>,
    code: Table<'t, &'static [u8], &'static [u8]>,
    nodes: Table<'t, &'static [u8], &'static [u8]>,
    account_history: Table<'t, &'static [u8], &'static [u8]>,
    storage_history: Table<'t, &'static [u8], &'static [u8]>,
    node_history: Table<'t, &'static [u8], &'static [u8]>,
    changesets: Table<'t, u64, &'static [u8]>,
    height: u64,
    /// Whether history is kept in the tables (an archive; not for the genesis block, which
    /// nothing comes before).
    record: bool,
    recorded: HashSet<Vec<u8>>,
    changes: Vec<Changed>,
}

impl<'t> Writer<'t> {
    fn new(
        tx: &'t redb::WriteTransaction,
        height: u64,
        record: bool,
    ) -> Result<Self, StorageError> {
        Ok(Self {
            accounts: tx.open_table(ACCOUNTS).map_err(backend)?,
            storage: tx.open_table(STORAGE).map_err(backend)?,
            code: tx.open_table(CODE).map_err(backend)?,
            nodes: tx.open_table(NODES).map_err(backend)?,
            account_history: tx.open_table(ACCOUNT_HISTORY).map_err(backend)?,
            storage_history: tx.open_table(STORAGE_HISTORY).map_err(backend)?,
            node_history: tx.open_table(NODE_HISTORY).map_err(backend)?,
            changesets: tx.open_table(CHANGESETS).map_err(backend)?,
            height,
            record,
            recorded: HashSet::default(),
            changes: Vec::new(),
        })
    }

    fn state(&mut self, diff: &StateDiff) -> Result<(), StorageError> {
        for address in &diff.wiped {
            self.wipe(address)?;
        }
        for (address, account) in &diff.accounts {
            let value = account.as_ref().map(encode_account);
            self.put(
                Kind::Account,
                address.as_slice(),
                value.as_ref().map(|v| &v[..]),
            )?;
        }
        for (address, slot, value) in &diff.storage {
            let bytes = value.to_be_bytes::<32>();
            let value = (!value.is_zero()).then_some(&bytes[..]);
            self.put(Kind::Slot, &slot_key(address, slot), value)?;
        }
        for (hash, code) in &diff.code {
            if self.code.get(hash.as_slice()).map_err(backend)?.is_none() {
                self.code
                    .insert(hash.as_slice(), code.as_ref())
                    .map_err(backend)?;
            }
        }
        for (owner, path, node) in &diff.nodes {
            self.put(Kind::Node, &node_key(owner, path), node.as_deref())?;
        }
        Ok(())
    }

    /// Deletes an account's storage: its slots and its storage trie's nodes.
    fn wipe(&mut self, address: &Address) -> Result<(), StorageError> {
        let from = slot_key(address, &U256::ZERO);
        let to = slot_key(address, &U256::MAX);
        let slots: Vec<Vec<u8>> = self
            .storage
            .range(from.as_slice()..=to.as_slice())
            .map_err(backend)?
            .map(|entry| entry.map(|(k, _)| k.value().to_vec()).map_err(backend))
            .collect::<Result<_, _>>()?;
        for key in slots {
            self.put(Kind::Slot, &key, None)?;
        }
        let owner = keccak256(address);
        let mut to = owner.to_vec();
        to.extend_from_slice(&[0xff; 66]);
        let nodes: Vec<Vec<u8>> = self
            .nodes
            .range(owner.as_slice()..to.as_slice())
            .map_err(backend)?
            .map(|entry| entry.map(|(k, _)| k.value().to_vec()).map_err(backend))
            .collect::<Result<_, _>>()?;
        for key in nodes {
            self.put(Kind::Node, &key, None)?;
        }
        Ok(())
    }

    /// Sets (`Some`) or deletes `key`, keeping its value before the block in history.
    fn put(&mut self, kind: Kind, key: &[u8], value: Option<&[u8]>) -> Result<(), StorageError> {
        let (table, history) = match kind {
            Kind::Account => (&mut self.accounts, &mut self.account_history),
            Kind::Slot => (&mut self.storage, &mut self.storage_history),
            Kind::Node => (&mut self.nodes, &mut self.node_history),
        };
        let old = match value {
            Some(value) => table.insert(key, value).map_err(backend)?,
            None => table.remove(key).map_err(backend)?,
        }
        .map(|v| v.value().to_vec());
        if self.record && self.recorded.insert(key.to_vec()) {
            history
                .insert(
                    at_block(key, self.height).as_slice(),
                    encode_option(old.as_deref()).as_slice(),
                )
                .map_err(backend)?;
            self.changes.push(Changed {
                kind,
                key: key.to_vec(),
            });
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(), StorageError> {
        if self.record {
            self.changesets
                .insert(self.height, encode_changes(&self.changes).as_slice())
                .map_err(backend)?;
        }
        Ok(())
    }
}

/// Applies the journaled blocks up to `through` (`blocks`, none of them wiping storage)
/// together, from the layers' index of their writes: each key is written to its table once,
/// with its final value, and history gets the value each block found (the table's before the
/// first block that wrote the key, then each write's). Keys go in in order, so the B-tree
/// pages they share are rewritten once.
fn apply_merged(
    tx: &redb::WriteTransaction,
    layers: &Layers,
    blocks: &[(u64, &StateDiff)],
    through: u64,
    record: bool,
) -> Result<(), StorageError> {
    let mut changes: BTreeMap<u64, Vec<Changed>> =
        blocks.iter().map(|(h, _)| (*h, Vec::new())).collect();
    let writes = layers.writes_through(through);
    for kind in [Kind::Account, Kind::Slot, Kind::Node] {
        let (table, history) = kind.tables();
        let mut table = tx.open_table(table).map_err(backend)?;
        let mut history = tx.open_table(history).map_err(backend)?;
        let of_kind = writes.iter().filter(|(which, _, _)| match which {
            Versioned::Account => kind == Kind::Account,
            Versioned::Slot => kind == Kind::Slot,
            Versioned::Node => kind == Kind::Node,
        });
        for (_, key, writes) in of_kind {
            let Some(last) = writes.last() else {
                continue;
            };
            let which = match kind {
                Kind::Account => Versioned::Account,
                Kind::Slot => Versioned::Slot,
                Kind::Node => Versioned::Node,
            };
            let replaced = match layers.value_ref(which, *last).as_deref() {
                Some(value) => table.insert(*key, value),
                None => table.remove(*key),
            }
            .map_err(backend)?;
            if !record {
                // Without history the value replaced is not needed: not copied.
                continue;
            }
            let mut before = replaced.map(|v| v.value().to_vec());
            for written in *writes {
                let height = &written.0;
                history
                    .insert(
                        at_block(key, *height).as_slice(),
                        encode_option(before.as_deref()).as_slice(),
                    )
                    .map_err(backend)?;
                before = layers.value(which, *written);
                if let Some(list) = changes.get_mut(height) {
                    list.push(Changed {
                        kind,
                        key: key.to_vec(),
                    });
                }
            }
        }
    }
    let code = blocks.iter().flat_map(|(_, diff)| diff.code.iter());
    let mut code_table = tx.open_table(CODE).map_err(backend)?;
    for (hash, bytes) in code {
        if code_table.get(hash.as_slice()).map_err(backend)?.is_none() {
            code_table
                .insert(hash.as_slice(), bytes.as_ref())
                .map_err(backend)?;
        }
    }
    if !record {
        return Ok(());
    }
    let mut changesets = tx.open_table(CHANGESETS).map_err(backend)?;
    for (height, list) in changes {
        changesets
            .insert(height, encode_changes(&list).as_slice())
            .map_err(backend)?;
    }
    Ok(())
}

/// Puts back every key block `block` changed, from history, and forgets the block's history.
fn undo_block(tx: &redb::WriteTransaction, block: u64) -> Result<(), StorageError> {
    let changes = {
        let mut changesets = tx.open_table(CHANGESETS).map_err(backend)?;
        let entry = changesets
            .remove(block)
            .map_err(backend)?
            .ok_or_else(|| corrupt(format!("the change set of block {block} is missing")))?;
        decode_changes(entry.value())?
    };
    for kind in [Kind::Account, Kind::Slot, Kind::Node] {
        let (table, history) = kind.tables();
        let mut table = tx.open_table(table).map_err(backend)?;
        let mut history = tx.open_table(history).map_err(backend)?;
        for change in changes.iter().filter(|c| c.kind == kind) {
            let entry = history
                .remove(at_block(&change.key, block).as_slice())
                .map_err(backend)?
                .ok_or_else(|| corrupt(format!("history of block {block} is missing a key")))?;
            match decode_option(entry.value())? {
                Some(before) => {
                    table
                        .insert(change.key.as_slice(), before)
                        .map_err(backend)?;
                }
                None => {
                    table.remove(change.key.as_slice()).map_err(backend)?;
                }
            }
        }
    }
    Ok(())
}
