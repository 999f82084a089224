//! The database's tables and how keys and values are laid out in them.
//!
//! Keys are big-endian where order matters (heights), so that a range over a key prefix walks
//! blocks in order. History is keyed by the changed key first and the block last: the first
//! entry after block `at` holds the value the key had at `at` (reth's change sets, geth's
//! state history).

use alloy_primitives::{Address, B256, U256};
use altlayer_core::storage::{StorageError, StoredAccount, TrieOwner};
use nybbles::Nibbles;
use redb::TableDefinition;

/// Format of the data in this crate's tables; a database of another format is refused.
pub(crate) const FORMAT: u64 = 1;

/// Metadata: format, chain, head, oldest block of history, history depth.
pub(crate) const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");
/// Height → block hash ++ RLP of the header.
pub(crate) const HEADERS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("headers");
/// Block hash → height.
pub(crate) const HASHES: TableDefinition<'_, &[u8], u64> = TableDefinition::new("block_hashes");
/// Height → transactions (EIP-2718) and senders.
pub(crate) const BODIES: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("bodies");
/// Height → receipts (EIP-2718).
pub(crate) const RECEIPTS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("receipts");
/// Transaction hash → height ++ index.
pub(crate) const TX_INDEX: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("tx_index");
/// Log index: `0 ++ address ++ height` and `1 ++ topic ++ height`, for the blocks whose logs
/// name the address or the topic (what `eth_getLogs` looks up instead of scanning blocks).
pub(crate) const LOG_INDEX: TableDefinition<'_, &[u8], ()> = TableDefinition::new("log_index");
/// Address → account leaf (nonce, balance, code hash, storage root).
pub(crate) const ACCOUNTS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("accounts");
/// Address ++ slot → value (non-zero).
pub(crate) const STORAGE: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("storage");
/// Code hash → code.
pub(crate) const CODE: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("code");
/// Owner ++ path length ++ path nibbles → trie node.
pub(crate) const NODES: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("trie_nodes");
/// Address ++ block → the account before the block (absent or present).
pub(crate) const ACCOUNT_HISTORY: TableDefinition<'_, &[u8], &[u8]> =
    TableDefinition::new("account_history");
/// Address ++ slot ++ block → the slot's value before the block.
pub(crate) const STORAGE_HISTORY: TableDefinition<'_, &[u8], &[u8]> =
    TableDefinition::new("storage_history");
/// Node key ++ block → the node before the block (absent or present).
pub(crate) const NODE_HISTORY: TableDefinition<'_, &[u8], &[u8]> =
    TableDefinition::new("node_history");
/// Block → its state changes, for blocks committed and not yet applied to the state tables.
pub(crate) const JOURNAL: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("journal");
/// Height → a block the last unwind took back while its changes were in the journal (its
/// journal entry, stored header, body and receipts, as a list of items): a node that stopped
/// between a revert taking its chain back and recording the revert takes the chain forward
/// again to where its records stand ([`crate::RedbStore::forward_to`]).
pub(crate) const UNWOUND: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("unwound");
/// Block → the keys it changed, to unwind it and to prune its history.
pub(crate) const CHANGESETS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("changesets");

/// Protocol record name → its bytes (batches, finality, ledger, signing state).
pub(crate) const PROTOCOL: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("protocol");

/// Which history table a changed key belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Account = 0,
    Slot = 1,
    Node = 2,
}

/// A table of keys, or its history.
pub(crate) type BytesTable = TableDefinition<'static, &'static [u8], &'static [u8]>;

impl Kind {
    /// The table holding this kind of key, and its history table.
    pub(crate) const fn tables(self) -> (BytesTable, BytesTable) {
        match self {
            Self::Account => (ACCOUNTS, ACCOUNT_HISTORY),
            Self::Slot => (STORAGE, STORAGE_HISTORY),
            Self::Node => (NODES, NODE_HISTORY),
        }
    }

    fn from_byte(byte: u8) -> Result<Self, StorageError> {
        match byte {
            0 => Ok(Self::Account),
            1 => Ok(Self::Slot),
            2 => Ok(Self::Node),
            other => Err(corrupt(format!("change set entry of unknown kind {other}"))),
        }
    }
}

pub(crate) fn corrupt(what: impl Into<String>) -> StorageError {
    StorageError::Corrupt(what.into())
}

pub(crate) fn slot_key(address: &Address, slot: &U256) -> [u8; 52] {
    let mut key = [0u8; 52];
    key[..20].copy_from_slice(address.as_slice());
    key[20..].copy_from_slice(&slot.to_be_bytes::<32>());
    key
}

/// A key of the state tables, held inline: an account (20 bytes), a slot (52) or a trie node
/// (33 and up to 64 nibbles). The journal's index holds hundreds of thousands of keys, and
/// every trie read makes one: a heap copy of each cost a durable block more than the
/// look-ups themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    len: u8,
    bytes: [u8; MAX_KEY],
}

/// The longest key: a trie node's, owner (32), path length (1), 64 nibbles.
const MAX_KEY: usize = 33 + 64;

impl Key {
    /// The key of `bytes`, which [`MAX_KEY`] bounds (no key laid out here is longer).
    pub(crate) fn new(bytes: &[u8]) -> Self {
        let len = bytes.len().min(MAX_KEY);
        let mut key = Self {
            len: len as u8,
            bytes: [0; MAX_KEY],
        };
        key.bytes[..len].copy_from_slice(&bytes[..len]);
        key
    }
}

impl std::ops::Deref for Key {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// A trie node's key: the owner, the path's length, one byte per nibble. The length keeps
/// paths of different lengths apart when a block number follows them in history keys.
pub(crate) fn node_key(owner: &TrieOwner, path: &Nibbles) -> Key {
    // A path has at most 64 nibbles (a 32-byte key's).
    let len = path.len().min(64);
    let mut key = Key {
        len: (33 + len) as u8,
        bytes: [0; MAX_KEY],
    };
    key.bytes[..32].copy_from_slice(owner.as_slice());
    key.bytes[32] = len as u8;
    for (byte, nibble) in key.bytes[33..33 + len].iter_mut().zip(path.iter()) {
        *byte = nibble;
    }
    key
}

/// `key ++ block`, big-endian: a history key.
pub(crate) fn at_block(key: &[u8], block: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 8);
    out.extend_from_slice(key);
    out.extend_from_slice(&block.to_be_bytes());
    out
}

pub(crate) fn encode_account(account: &StoredAccount) -> [u8; 104] {
    let mut out = [0u8; 104];
    out[..8].copy_from_slice(&account.nonce.to_be_bytes());
    out[8..40].copy_from_slice(&account.balance.to_be_bytes::<32>());
    out[40..72].copy_from_slice(account.code_hash.as_slice());
    out[72..].copy_from_slice(account.storage_root.as_slice());
    out
}

pub(crate) fn decode_account(bytes: &[u8]) -> Result<StoredAccount, StorageError> {
    if bytes.len() != 104 {
        return Err(corrupt(format!("account of {} bytes", bytes.len())));
    }
    let mut nonce = [0u8; 8];
    nonce.copy_from_slice(&bytes[..8]);
    Ok(StoredAccount {
        nonce: u64::from_be_bytes(nonce),
        balance: U256::from_be_slice(&bytes[8..40]),
        code_hash: B256::from_slice(&bytes[40..72]),
        storage_root: B256::from_slice(&bytes[72..]),
    })
}

/// A value that may be absent, as history keeps it: `0` absent, `1 ++ bytes` present.
pub(crate) fn encode_option(value: Option<&[u8]>) -> Vec<u8> {
    match value {
        None => vec![0],
        Some(bytes) => {
            let mut out = Vec::with_capacity(bytes.len() + 1);
            out.push(1);
            out.extend_from_slice(bytes);
            out
        }
    }
}

pub(crate) fn decode_option(bytes: &[u8]) -> Result<Option<&[u8]>, StorageError> {
    match bytes.split_first() {
        Some((0, [])) => Ok(None),
        Some((1, rest)) => Ok(Some(rest)),
        _ => Err(corrupt("history entry is neither absent nor present")),
    }
}

/// One key a block changed, as its change set lists it.
pub(crate) struct Changed {
    pub(crate) kind: Kind,
    pub(crate) key: Vec<u8>,
}

pub(crate) fn encode_changes(changes: &[Changed]) -> Vec<u8> {
    let mut out = Vec::new();
    for change in changes {
        out.push(change.kind as u8);
        out.push(change.key.len() as u8);
        out.extend_from_slice(&change.key);
    }
    out
}

pub(crate) fn decode_changes(mut bytes: &[u8]) -> Result<Vec<Changed>, StorageError> {
    let mut out = Vec::new();
    while let [kind, len, rest @ ..] = bytes {
        let len = *len as usize;
        if rest.len() < len {
            return Err(corrupt("change set entry cut short"));
        }
        out.push(Changed {
            kind: Kind::from_byte(*kind)?,
            key: rest[..len].to_vec(),
        });
        bytes = &rest[len..];
    }
    if !bytes.is_empty() {
        return Err(corrupt("change set entry cut short"));
    }
    Ok(out)
}

/// Length-prefixed items: `u32 count`, then `u32 length ++ bytes` each.
pub(crate) fn encode_items<'a>(items: impl ExactSizeIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(items.len() as u32).to_be_bytes());
    for item in items {
        out.extend_from_slice(&(item.len() as u32).to_be_bytes());
        out.extend_from_slice(item);
    }
    out
}

pub(crate) fn decode_items(bytes: &[u8]) -> Result<(Vec<&[u8]>, &[u8]), StorageError> {
    let cut = || corrupt("list of items cut short");
    let (count, mut rest) = split_u32(bytes).ok_or_else(cut)?;
    let mut items = Vec::with_capacity((count as usize).min(1 << 16));
    for _ in 0..count {
        let (len, after) = split_u32(rest).ok_or_else(cut)?;
        let len = len as usize;
        if after.len() < len {
            return Err(cut());
        }
        items.push(&after[..len]);
        rest = &after[len..];
    }
    Ok((items, rest))
}

fn split_u32(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<4>()?;
    Some((u32::from_be_bytes(*head), rest))
}

pub(crate) fn u64_of(bytes: &[u8]) -> Result<u64, StorageError> {
    let array: [u8; 8] = bytes
        .try_into()
        .map_err(|_| corrupt(format!("a number of {} bytes", bytes.len())))?;
    Ok(u64::from_be_bytes(array))
}

/// Creates every table but [`META`] (opened by the caller).
pub(crate) fn create_all(tx: &redb::WriteTransaction) -> Result<(), StorageError> {
    let e = crate::backend;
    tx.open_table(HEADERS).map_err(e)?;
    tx.open_table(HASHES).map_err(e)?;
    tx.open_table(BODIES).map_err(e)?;
    tx.open_table(RECEIPTS).map_err(e)?;
    tx.open_table(TX_INDEX).map_err(e)?;
    tx.open_table(LOG_INDEX).map_err(e)?;
    tx.open_table(ACCOUNTS).map_err(e)?;
    tx.open_table(STORAGE).map_err(e)?;
    tx.open_table(CODE).map_err(e)?;
    tx.open_table(NODES).map_err(e)?;
    tx.open_table(ACCOUNT_HISTORY).map_err(e)?;
    tx.open_table(STORAGE_HISTORY).map_err(e)?;
    tx.open_table(NODE_HISTORY).map_err(e)?;
    tx.open_table(CHANGESETS).map_err(e)?;
    tx.open_table(JOURNAL).map_err(e)?;
    tx.open_table(PROTOCOL).map_err(e)?;
    Ok(())
}
