//! Storage: what the rollup's state reads and writes when it lives in a database.
//!
//! A [`WorldState`](crate::state::WorldState) lives in memory by default. Built over a
//! [`StateStore`] ([`WorldState::stored`](crate::state::WorldState::stored)) it keeps in memory
//! what changed since the store's block, the top of the account trie and, up to a bound, what
//! it read, and reads everything else through the store: accounts, storage slots and code
//! from flat tables, trie nodes by path (looked for first, decoded, in the store's
//! [`NodeCache`], by hash). The EVM and the incremental state root run unchanged over it: a
//! trie update loads the nodes on its key's path and nothing else, so the state can be larger
//! than memory.
//!
//! A store keeps the state of its head block and, for recent blocks, what each block changed,
//! so that it can answer reads *as of* any block it still has history for (replicas kept at
//! a batch's pre-state, JSON-RPC queries at past blocks) and unwind blocks a revert takes
//! back. A block and its state changes are written in one [`StateStore::commit`], all or
//! nothing.
//!
//! A [`ChainStore`] keeps the blocks too, with their receipts and indexes, committed and unwound
//! with the state.
//!
//! A [`ProtocolStore`] keeps the records the protocol state machines resume from.
//!
//! [`MemoryStore`] is the in-memory implementation: the reference the database-backed one
//! (`altlayer-storage`, on redb) is tested against, and what tests and embedders without a
//! database use.

mod chain;
mod memory;
mod protocol;

pub use chain::{ChainStore, LogKey, StoredBlock};
pub use memory::MemoryStore;
pub use protocol::ProtocolStore;

pub use crate::state::trie::{NodeCache, NodeCacheStats};

use crate::primitives::{Block, Header, Receipt};
use alloy_primitives::{Address, B256, Bytes, U256};
use nybbles::Nibbles;
use std::fmt;

/// Why a store could not answer or write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The database failed (I/O, a lock, a transaction).
    #[error("storage: {0}")]
    Backend(String),
    /// The data read is not what was written: a missing or tampered trie node, an entry that
    /// does not decode.
    #[error("storage is corrupt: {0}")]
    Corrupt(String),
    /// The state at block `at` was asked for, but history is kept only from block `oldest`.
    #[error("the state at block {at} is no longer kept (history starts at block {oldest})")]
    Pruned {
        /// The block asked for.
        at: u64,
        /// The oldest block whose state can be read.
        oldest: u64,
    },
    /// The state at a block after the head was asked for.
    #[error("block {at} is after the stored head {head}")]
    Ahead {
        /// The block asked for.
        at: u64,
        /// The stored head.
        head: u64,
    },
    /// A block was committed that does not extend the stored head.
    #[error("block {height} ({hash}) does not extend the stored head {head:?}")]
    NotNext {
        /// Height of the block.
        height: u64,
        /// Its hash.
        hash: B256,
        /// The stored head, if any.
        head: Option<StoredHead>,
    },
}

/// An account as stored: its trie leaf.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoredAccount {
    /// Nonce.
    pub nonce: u64,
    /// Balance in wei.
    pub balance: U256,
    /// Hash of the code (`KECCAK_EMPTY` for none).
    pub code_hash: B256,
    /// Root of the account's storage trie.
    pub storage_root: B256,
}

/// The last block a store holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredHead {
    /// Its height (0 for genesis).
    pub height: u64,
    /// Its hash.
    pub hash: B256,
    /// The state root after it.
    pub state_root: B256,
}

/// The trie a node belongs to: [`ACCOUNT_TRIE`] for the account trie, `keccak256(address)`
/// for an account's storage trie (geth's "owner").
pub type TrieOwner = B256;

/// The owner of the account trie.
pub const ACCOUNT_TRIE: TrieOwner = B256::ZERO;

/// What one block changed in the state, as the store writes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateDiff {
    /// Accounts written (`None`: deleted), with their new leaf.
    pub accounts: Vec<(Address, Option<StoredAccount>)>,
    /// Accounts whose whole storage (slots and storage trie) is deleted before `storage` and
    /// `nodes` apply: deleted accounts and contracts created anew.
    pub wiped: Vec<Address>,
    /// Storage slots written: address, slot, new value (zero deletes the slot).
    pub storage: Vec<(Address, U256, U256)>,
    /// Code first seen, by hash.
    pub code: Vec<(B256, Bytes)>,
    /// Trie nodes written (`Some`: the node's RLP) or deleted (`None`), by owner and path.
    pub nodes: Vec<(TrieOwner, Nibbles, Option<Vec<u8>>)>,
}

/// One block as committed: the block, its hash, senders and receipts, and its state changes.
#[derive(Clone, Copy, Debug)]
pub struct BlockCommit<'a> {
    /// The block.
    pub block: &'a Block,
    /// Its hash.
    pub hash: B256,
    /// The senders of its transactions, in order.
    pub senders: &'a [Address],
    /// One receipt per transaction.
    pub receipts: &'a [Receipt],
    /// What it changed in the state.
    pub state: &'a StateDiff,
}

/// A database of the rollup's state: the state at the head, and enough history to read the
/// state as of recent blocks and to unwind them.
///
/// Reads take `at`, the block whose post-state is wanted; reading at the head is the fast path
/// every implementation should make cheap. Implementations are shared between the replicas of
/// a node (and its JSON-RPC threads), so they take `&self` and synchronise inside.
pub trait StateStore: Send + Sync + fmt::Debug {
    /// The last block committed, `None` for an empty store.
    fn head(&self) -> Result<Option<StoredHead>, StorageError>;

    /// The hash of the block at `height`.
    fn block_hash(&self, height: u64) -> Result<Option<B256>, StorageError>;

    /// The header of the block at `height` (a replica opened on the store needs the head's
    /// and the 256 before it, for `BLOCKHASH`).
    fn header(&self, height: u64) -> Result<Option<Header>, StorageError>;

    /// An account as of block `at`.
    fn account(&self, at: u64, address: &Address) -> Result<Option<StoredAccount>, StorageError>;

    /// A storage slot as of block `at` (zero when unset).
    fn storage(&self, at: u64, address: &Address, slot: &U256) -> Result<U256, StorageError>;

    /// Code by hash (code is never deleted, so this takes no block).
    fn code(&self, hash: &B256) -> Result<Option<Bytes>, StorageError>;

    /// The trie node of `owner` at `path` as of block `at`.
    fn trie_node(
        &self,
        at: u64,
        owner: &TrieOwner,
        path: &Nibbles,
    ) -> Result<Option<Vec<u8>>, StorageError>;

    /// Writes a block and its state changes in one transaction. The block must extend the
    /// head (the first block committed to an empty store is the genesis block, at height 0).
    fn commit(&self, commit: BlockCommit<'_>) -> Result<(), StorageError>;

    /// Takes back every block after `height` in one transaction, putting the state back as it
    /// was after block `height`. Fails, changing nothing, when history does not reach back.
    fn unwind(&self, height: u64) -> Result<(), StorageError>;

    /// Writes part of a genesis state into an empty store, before its genesis block: a
    /// genesis too large for one block's diff in memory goes in parts (accounts, slots,
    /// code and trie nodes), then the genesis block is committed with what is left (see
    /// [`crate::genesis::import_genesis`]). Until that commit the store has no head, and a
    /// store that finds an import cut short starts again empty. The default refuses.
    fn import(&self, _part: &StateDiff) -> Result<(), StorageError> {
        Err(StorageError::Backend(
            "this store takes its genesis in one commit".into(),
        ))
    }

    /// Decoded trie nodes shared by the states over this store, looked in before
    /// [`StateStore::trie_node`] (nodes are keyed by hash, so the cache holds for every
    /// block). `None` by default: every node is read and decoded where it is needed.
    fn node_cache(&self) -> Option<&NodeCache> {
        None
    }
}
