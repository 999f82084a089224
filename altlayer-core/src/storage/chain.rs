//! [`ChainStore`]: the blocks a store keeps beside the state, and their indexes.

use super::{StateStore, StorageError};
use crate::primitives::{Block, Receipt};
use alloy_primitives::{Address, B256};

/// A block as a store keeps it: the block, its hash, its transactions' senders and receipts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBlock {
    /// The block.
    pub block: Block,
    /// Its hash.
    pub hash: B256,
    /// The senders of its transactions, in order.
    pub senders: Vec<Address>,
    /// One receipt per transaction.
    pub receipts: Vec<Receipt>,
}

impl StoredBlock {
    /// A block as the state transition built it, with its hash.
    pub fn from_built(built: &crate::execution::BuiltBlock, hash: B256) -> Self {
        Self {
            block: built.block.clone(),
            hash,
            senders: built.senders.clone(),
            receipts: built.outcome.receipts.clone(),
        }
    }

    /// The genesis block of a chain whose genesis state transition is `genesis`.
    pub fn genesis(genesis: &crate::EvmStateTransition) -> Self {
        let header = genesis.head().clone();
        Self {
            hash: header.hash(),
            block: Block {
                header,
                transactions: Vec::new(),
            },
            senders: Vec::new(),
            receipts: Vec::new(),
        }
    }

    /// The block's height.
    pub const fn number(&self) -> u64 {
        self.block.header.height
    }

    /// The block's header.
    pub const fn header(&self) -> &crate::primitives::Header {
        &self.block.header
    }
}

/// What a log index is searched by: a log's emitter, or one of its topics (at any position).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogKey {
    /// The contract that emitted the log.
    Address(Address),
    /// A topic of the log.
    Topic(B256),
}

impl LogKey {
    /// The keys one log is indexed under: its address and each of its topics.
    pub fn of(log: &alloy_primitives::Log) -> impl Iterator<Item = Self> + '_ {
        std::iter::once(Self::Address(log.address))
            .chain(log.topics().iter().map(|t| Self::Topic(*t)))
    }
}

/// A store that keeps the chain as well as the state: every committed block with its senders
/// and receipts, where each transaction is, and which blocks hold logs by each address and
/// topic (so `eth_getLogs` reads the blocks that may match instead of scanning a range).
///
/// [`StateStore::commit`] writes all of it with the block, and [`StateStore::unwind`] takes it
/// back with the block, in the same transaction.
pub trait ChainStore: StateStore {
    /// The block at `height`.
    fn block(&self, height: u64) -> Result<Option<StoredBlock>, StorageError>;

    /// The height of the block with hash `hash`.
    fn block_height(&self, hash: &B256) -> Result<Option<u64>, StorageError>;

    /// Where a transaction is: its block's height and its index in the block.
    fn transaction_location(&self, hash: &B256) -> Result<Option<(u64, usize)>, StorageError>;

    /// The heights in `from..=to` of blocks with a log under `key`, ascending.
    fn log_heights(&self, key: &LogKey, from: u64, to: u64) -> Result<Vec<u64>, StorageError>;
}
