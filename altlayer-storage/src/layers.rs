//! Blocks committed to the journal and not yet applied to the state tables, held in memory
//! as diff layers over the tables.
//!
//! A block's commit appends its state changes to the journal (one sequential write) with the
//! block itself, durably; every `apply_every` blocks the journaled changes go into the state
//! tables together ([`crate::apply`]). Rewriting the tables' B-tree pages for each block was
//! what made a durable block cost ten times the block in memory: a block's keys are spread
//! over the whole key space, so each commit rewrote nearly every leaf page. Applied together,
//! the pages the blocks share are written once. geth's path database keeps its recent diff
//! layers the same way.

use crate::tables::{
    Key, corrupt, decode_account, decode_items, encode_account, node_key, slot_key,
};
use alloy_primitives::{Address, B256, Bytes, U256, keccak256, map::HashMap};
use altlayer_core::storage::{StateDiff, StorageError, StoredAccount};
use nybbles::Nibbles;
use std::{
    borrow::Cow,
    collections::BTreeMap,
    ops::Range,
    sync::{Arc, PoisonError, RwLock},
};

use crate::snapshot::Versioned;

/// The blocks that wrote a key, by increasing height. A vector, not a map: most keys have one
/// entry, and the index holds hundreds of thousands.
type ByBlock = Vec<Written>;

/// A block's write of a key: its height and the write's position in the block's diff (in its
/// accounts, storage or nodes, by the key's kind). The value stays in the diff: copying every
/// value into the index cost a durable block more than its commit.
pub(crate) type Written = (u64, u32);

/// The journaled blocks' changes, by key, for reads.
#[derive(Debug, Default)]
pub(crate) struct Layers {
    /// The journaled blocks, by height.
    pub(crate) blocks: BTreeMap<u64, Arc<StateDiff>>,
    /// Per key, its value after each journaled block that wrote it.
    values: HashMap<(Versioned, Key), ByBlock>,
    /// Per account, the journaled blocks that wiped its storage.
    wiped_slots: HashMap<Address, Vec<u64>>,
    /// Per storage trie owner, the journaled blocks that wiped its nodes.
    wiped_nodes: HashMap<B256, Vec<u64>>,
    /// The journaled blocks' transactions: hash -> (block, index). Their entries in the
    /// transaction index are written when the blocks are applied, sorted, many blocks at a
    /// time: a block's thousand random hashes written each commit rewrote a thousand index
    /// pages, a third of a durable block's time.
    transactions: HashMap<B256, (u64, u32)>,
    /// The journaled blocks' transaction hashes, by block.
    block_transactions: BTreeMap<u64, Vec<B256>>,
}

/// Transaction index entries (hash -> block, index) of blocks' transactions, sorted by hash:
/// the order that writes the index's pages once.
pub(crate) fn index_entries<'a>(
    blocks: impl Iterator<Item = (u64, &'a [B256])>,
) -> Vec<(B256, (u64, u32))> {
    let mut entries: Vec<(B256, (u64, u32))> = blocks
        .flat_map(|(height, hashes)| {
            hashes
                .iter()
                .enumerate()
                .map(move |(i, hash)| (*hash, (height, i as u32)))
        })
        .collect();
    entries.sort_unstable_by_key(|(hash, _)| *hash);
    entries
}

/// What the layers say of a key as of a block.
pub(crate) enum Found {
    /// A journaled block set it (`None`: deleted it).
    Value(Option<Vec<u8>>),
    /// No journaled block up to the block touched it: the tables have it.
    Tables,
}

/// Keys indexed per hold of the layers' write lock by [`push_in_parts`]: a part keeps readers
/// out for well under a millisecond.
const PART: usize = 1_024;

/// Joins block `height`'s changes to `layers` as [`Layers::push`] does, taking the write lock
/// for [`PART`] keys at a time: readers (the next block executing, the RPC) wait for a part,
/// not for the whole index. Until the head moves to the block, no read is at its height, so
/// none sees it half indexed.
pub(crate) fn push_in_parts(layers: &RwLock<Layers>, height: u64, diff: StateDiff) {
    let write = || layers.write().unwrap_or_else(PoisonError::into_inner);
    let diff = Arc::new(diff);
    let keys = write().begin(height, Arc::clone(&diff));
    let mut from = 0;
    while from < keys {
        let to = (from + PART).min(keys);
        write().index(height, &diff, from..to);
        from = to;
    }
}

impl Layers {
    pub(crate) fn push(&mut self, height: u64, diff: StateDiff) {
        let diff = Arc::new(diff);
        let keys = self.begin(height, Arc::clone(&diff));
        self.index(height, &diff, 0..keys);
    }

    /// Holds block `height`'s diff and its wipes; returns how many keys it writes, for
    /// [`Layers::index`].
    fn begin(&mut self, height: u64, diff: Arc<StateDiff>) -> usize {
        for address in &diff.wiped {
            self.wiped_slots.entry(*address).or_default().push(height);
            self.wiped_nodes
                .entry(keccak256(address))
                .or_default()
                .push(height);
        }
        let keys = diff.accounts.len() + diff.storage.len() + diff.nodes.len();
        self.blocks.insert(height, diff);
        keys
    }

    /// Indexes the keys `range` of block `height`'s diff, counted over its accounts, then its
    /// slots, then its nodes.
    fn index(&mut self, height: u64, diff: &StateDiff, range: Range<usize>) {
        let mut set = |which, key: &[u8], position: usize| {
            let by_block = self.values.entry((which, Key::new(key))).or_default();
            // Blocks come in height order; a block pushed again replaces its entry.
            by_block.retain(|(h, _)| *h < height);
            by_block.push((height, position as u32));
        };
        let (accounts, slots) = (diff.accounts.len(), diff.storage.len());
        for i in range {
            if let Some((address, _)) = diff.accounts.get(i) {
                set(Versioned::Account, address.as_slice(), i);
            } else if let Some((address, slot, _)) = diff.storage.get(i - accounts) {
                set(Versioned::Slot, &slot_key(address, slot), i - accounts);
            } else if let Some((owner, path, _)) = diff.nodes.get(i - accounts - slots) {
                set(
                    Versioned::Node,
                    &node_key(owner, path),
                    i - accounts - slots,
                );
            }
        }
    }

    /// The value a journaled block wrote (`None`: deleted), as the tables keep it.
    pub(crate) fn value(&self, which: Versioned, written: Written) -> Option<Vec<u8>> {
        self.value_ref(which, written).map(Cow::into_owned)
    }

    /// [`Layers::value`] without copying a trie node out of the block's diff (applying
    /// writes hundreds of thousands).
    pub(crate) fn value_ref(
        &self,
        which: Versioned,
        (height, position): Written,
    ) -> Option<Cow<'_, [u8]>> {
        let diff = self.blocks.get(&height)?;
        let position = position as usize;
        match which {
            Versioned::Account => diff
                .accounts
                .get(position)
                .and_then(|(_, account)| account.as_ref())
                .map(|account| Cow::Owned(encode_account(account).to_vec())),
            Versioned::Slot => diff
                .storage
                .get(position)
                .filter(|(_, _, value)| !value.is_zero())
                .map(|(_, _, value)| Cow::Owned(value.to_be_bytes::<32>().to_vec())),
            Versioned::Node => diff
                .nodes
                .get(position)
                .and_then(|(_, _, node)| node.as_deref().map(Cow::Borrowed)),
        }
    }

    /// Block `height`'s transaction hashes, in order.
    pub(crate) fn push_transactions(&mut self, height: u64, hashes: Vec<B256>) {
        for (index, hash) in hashes.iter().enumerate() {
            self.transactions.insert(*hash, (height, index as u32));
        }
        self.block_transactions.insert(height, hashes);
    }

    /// How many transactions the journaled blocks hold.
    pub(crate) fn transaction_count(&self) -> usize {
        self.transactions.len()
    }

    /// Where a journaled block holds transaction `hash`: (block, index).
    pub(crate) fn transaction(&self, hash: &B256) -> Option<(u64, u32)> {
        self.transactions.get(hash).copied()
    }

    /// The transaction index entries of the journaled blocks up to `through`, by hash.
    pub(crate) fn transactions_through(&self, through: u64) -> Vec<(B256, (u64, u32))> {
        index_entries(
            self.block_transactions
                .range(..=through)
                .map(|(height, hashes)| (*height, hashes.as_slice())),
        )
    }

    /// The transaction hashes of the journaled blocks up to `through`, per block.
    pub(crate) fn block_transactions_through(&self, through: u64) -> Vec<(u64, Vec<B256>)> {
        self.block_transactions
            .range(..=through)
            .map(|(height, hashes)| (*height, hashes.clone()))
            .collect()
    }

    fn forget_transactions(&mut self, height: u64) {
        for hash in self.block_transactions.remove(&height).unwrap_or_default() {
            // A transaction included again by a later block keeps that block's entry.
            if self
                .transactions
                .get(&hash)
                .is_some_and(|(h, _)| *h == height)
            {
                self.transactions.remove(&hash);
            }
        }
    }

    /// Code the journaled blocks added.
    pub(crate) fn code(&self, hash: &B256) -> Option<Bytes> {
        self.blocks
            .values()
            .flat_map(|diff| diff.code.iter())
            .find(|(h, _)| h == hash)
            .map(|(_, code)| code.clone())
    }

    /// The value of `key` as of block `at`, if a journaled block up to `at` decides it.
    /// `wiped` names the account or trie owner whose wipe deletes the key.
    pub(crate) fn get(&self, at: u64, which: Versioned, key: &[u8]) -> Found {
        let written = self
            .values
            .get(&(which, Key::new(key)))
            .and_then(|by_block| by_block.iter().rev().find(|(h, _)| *h <= at))
            .map(|written| (written.0, self.value(which, *written)));
        let wiped = match which {
            Versioned::Account => None,
            Versioned::Slot => Address::try_from(&key[..20])
                .ok()
                .and_then(|a| self.wiped_slots.get(&a)),
            Versioned::Node => self.wiped_nodes.get(&B256::from_slice(&key[..32])),
        }
        .and_then(|heights| heights.iter().rev().find(|h| **h <= at).copied());
        match (written, wiped) {
            // A block wipes before it writes: a write in the wiping block stands.
            (Some((h, value)), Some(w)) if h >= w => Found::Value(value),
            (_, Some(_)) => Found::Value(None),
            (Some((_, value)), None) => Found::Value(value),
            (None, None) => Found::Tables,
        }
    }

    /// Every key the journaled blocks up to `through` wrote, in table order (accounts, slots,
    /// nodes; each by key), with the values those blocks wrote, oldest first: what applying
    /// them to the tables writes.
    pub(crate) fn writes_through(&self, through: u64) -> Vec<(Versioned, &[u8], &[Written])> {
        let mut writes: Vec<_> = self
            .values
            .iter()
            .filter_map(|((which, key), by_block)| {
                let upto = by_block.partition_point(|(h, _)| *h <= through);
                (upto > 0).then(|| (*which, &key[..], &by_block[..upto]))
            })
            .collect();
        writes.sort_unstable_by(|a, b| (a.0 as u8, a.1).cmp(&(b.0 as u8, b.1)));
        writes
    }

    /// Takes the journaled blocks up to `height` out (they are being applied).
    pub(crate) fn take_through(&mut self, height: u64) -> Vec<(u64, Arc<StateDiff>)> {
        let kept = self.blocks.split_off(&(height + 1));
        let taken = std::mem::replace(&mut self.blocks, kept);
        // One pass over the index (every key's entries up to `height` go), cheaper than
        // finding the taken blocks' keys one by one.
        self.values.retain(|_, by_block| {
            let upto = by_block.partition_point(|(h, _)| *h <= height);
            by_block.drain(..upto);
            !by_block.is_empty()
        });
        for heights in self.wiped_slots.values_mut() {
            heights.retain(|h| *h > height);
        }
        self.wiped_slots.retain(|_, heights| !heights.is_empty());
        for heights in self.wiped_nodes.values_mut() {
            heights.retain(|h| *h > height);
        }
        self.wiped_nodes.retain(|_, heights| !heights.is_empty());
        for height in taken.keys() {
            self.forget_transactions(*height);
        }
        taken.into_iter().collect()
    }

    /// Drops the journaled blocks after `height` (unwound).
    pub(crate) fn drop_after(&mut self, height: u64) {
        for (height, diff) in self.blocks.split_off(&(height + 1)) {
            self.forget(height, &diff);
            self.forget_transactions(height);
        }
    }

    /// Takes block `height`'s entries out of the index, key by key: rebuilding the index
    /// from the blocks left took seconds once a journal of a hundred blocks was applied.
    fn forget(&mut self, height: u64, diff: &StateDiff) {
        fn drop_height<K: std::hash::Hash + Eq>(
            map: &mut HashMap<K, Vec<u64>>,
            key: K,
            height: u64,
        ) {
            if let Some(heights) = map.get_mut(&key) {
                heights.retain(|h| *h != height);
                if heights.is_empty() {
                    map.remove(&key);
                }
            }
        }
        for address in &diff.wiped {
            drop_height(&mut self.wiped_slots, *address, height);
            drop_height(&mut self.wiped_nodes, keccak256(address), height);
        }
        let values = &mut self.values;
        let mut unset = |which, key: &[u8]| {
            let key = (which, Key::new(key));
            if let Some(by_block) = values.get_mut(&key) {
                by_block.retain(|(h, _)| *h != height);
                if by_block.is_empty() {
                    values.remove(&key);
                }
            }
        };
        for (address, _) in &diff.accounts {
            unset(Versioned::Account, address.as_slice());
        }
        for (address, slot, _) in &diff.storage {
            unset(Versioned::Slot, &slot_key(address, slot));
        }
        for (owner, path, _) in &diff.nodes {
            unset(Versioned::Node, &node_key(owner, path));
        }
    }
}

/// A state diff as the journal keeps it: five lists of items (accounts, wiped accounts, slots,
/// code, trie nodes) as [`crate::tables::decode_items`] reads them, written into one buffer.
pub(crate) fn encode_diff(diff: &StateDiff) -> Vec<u8> {
    /// One item: its length, then its parts.
    fn item(out: &mut Vec<u8>, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|part| part.len()).sum();
        out.extend_from_slice(&(len as u32).to_be_bytes());
        for part in parts {
            out.extend_from_slice(part);
        }
    }
    fn count(out: &mut Vec<u8>, n: usize) {
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    let nodes: usize = diff
        .nodes
        .iter()
        .map(|(_, path, node)| 38 + path.len() + node.as_ref().map_or(0, Vec::len))
        .sum();
    let mut out = Vec::with_capacity(
        20 + diff.accounts.len() * 128 + diff.storage.len() * 88 + diff.wiped.len() * 24 + nodes,
    );
    count(&mut out, diff.accounts.len());
    for (address, account) in &diff.accounts {
        match account {
            Some(account) => item(&mut out, &[address.as_slice(), &encode_account(account)]),
            None => item(&mut out, &[address.as_slice()]),
        }
    }
    count(&mut out, diff.wiped.len());
    for address in &diff.wiped {
        item(&mut out, &[address.as_slice()]);
    }
    count(&mut out, diff.storage.len());
    for (address, slot, value) in &diff.storage {
        item(
            &mut out,
            &[&slot_key(address, slot), &value.to_be_bytes::<32>()],
        );
    }
    count(&mut out, diff.code.len());
    for (hash, code) in &diff.code {
        item(&mut out, &[hash.as_slice(), code.as_ref()]);
    }
    count(&mut out, diff.nodes.len());
    for (owner, path, node) in &diff.nodes {
        // The node's key behind its length, then the node.
        let key = node_key(owner, path);
        item(
            &mut out,
            &[
                &[key.len() as u8],
                &key,
                node.as_deref().unwrap_or_default(),
            ],
        );
    }
    out
}

pub(crate) fn decode_diff(bytes: &[u8]) -> Result<StateDiff, StorageError> {
    let bad = |what: &str| corrupt(format!("journal entry: {what}"));
    let (accounts, rest) = decode_items(bytes)?;
    let (wiped, rest) = decode_items(rest)?;
    let (storage, rest) = decode_items(rest)?;
    let (code, rest) = decode_items(rest)?;
    let (nodes, rest) = decode_items(rest)?;
    if !rest.is_empty() {
        return Err(bad("trailing bytes"));
    }
    let address = |b: &[u8]| Address::try_from(b).map_err(|_| bad("an address"));
    let mut diff = StateDiff::default();
    for item in accounts {
        let account: Option<StoredAccount> = match item.len() {
            20 => None,
            124 => Some(decode_account(&item[20..])?),
            _ => return Err(bad("an account")),
        };
        diff.accounts
            .push((address(item.get(..20).unwrap_or_default())?, account));
    }
    for item in wiped {
        diff.wiped.push(address(item)?);
    }
    for item in storage {
        if item.len() != 84 {
            return Err(bad("a slot"));
        }
        diff.storage.push((
            address(&item[..20])?,
            U256::from_be_slice(&item[20..52]),
            U256::from_be_slice(&item[52..]),
        ));
    }
    for item in code {
        if item.len() < 32 {
            return Err(bad("code"));
        }
        diff.code.push((
            B256::from_slice(&item[..32]),
            Bytes::copy_from_slice(&item[32..]),
        ));
    }
    for item in nodes {
        let Some((&len, rest)) = item.split_first() else {
            return Err(bad("a trie node"));
        };
        let len = len as usize;
        if len < 33 || rest.len() < len || rest[32] as usize != len - 33 || len - 33 > 64 {
            return Err(bad("a trie node's key"));
        }
        let owner = B256::from_slice(&rest[..32]);
        let nibbles = &rest[33..len];
        if nibbles.iter().any(|n| *n > 0xf) {
            return Err(bad("a trie node's path"));
        }
        let path = Nibbles::from_nibbles(nibbles);
        let node = (rest.len() > len).then(|| rest[len..].to_vec());
        diff.nodes.push((owner, path, node));
    }
    Ok(diff)
}
