//! The state tables as of the last applied block, opened once: what state reads go through.
//!
//! Opening a read transaction and its tables for each read would cost more than the read (a
//! block reads thousands of accounts, slots and trie nodes). A snapshot holds the tables of
//! one read transaction, and the head and the oldest block of history they show; the store
//! replaces it after each commit or unwind. Readers holding an older snapshot keep a
//! consistent view: redb keeps its pages until the last snapshot on them goes.

use crate::{
    backend,
    tables::{
        ACCOUNT_HISTORY, ACCOUNTS, CODE, META, NODE_HISTORY, NODES, STORAGE, STORAGE_HISTORY,
        at_block, decode_option, u64_of,
    },
};
use altlayer_core::storage::StorageError;
use redb::{Database, ReadOnlyTable, ReadableDatabase};

type Bin = ReadOnlyTable<&'static [u8], &'static [u8]>;

/// Which of the versioned tables a read is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Versioned {
    Account,
    Slot,
    Node,
}

pub(crate) struct Snapshot {
    /// The block whose state the tables hold (blocks after it are in the journal).
    pub(crate) applied: u64,
    pub(crate) oldest: u64,
    pub(crate) accounts: Bin,
    pub(crate) storage: Bin,
    nodes: Bin,
    pub(crate) code: Bin,
    account_history: Bin,
    storage_history: Bin,
    node_history: Bin,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("applied", &self.applied)
            .field("oldest", &self.oldest)
            .finish_non_exhaustive()
    }
}

impl Snapshot {
    pub(crate) fn take(db: &Database) -> Result<Self, StorageError> {
        let tx = db.begin_read().map_err(backend)?;
        let meta = tx.open_table(META).map_err(backend)?;
        let number = |key: &str| -> Result<u64, StorageError> {
            meta.get(key)
                .map_err(backend)?
                .map_or(Ok(0), |v| u64_of(v.value()))
        };
        let (applied, oldest) = (number("applied")?, number("oldest")?);
        let open = |t| tx.open_table(t).map_err(backend);
        Ok(Self {
            applied,
            oldest,
            accounts: open(ACCOUNTS)?,
            storage: open(STORAGE)?,
            nodes: open(NODES)?,
            code: open(CODE)?,
            account_history: open(ACCOUNT_HISTORY)?,
            storage_history: open(STORAGE_HISTORY)?,
            node_history: open(NODE_HISTORY)?,
        })
    }

    /// The value of `key` as of block `at`: from history when a later block changed it, else
    /// the table's.
    pub(crate) fn value_at(
        &self,
        at: u64,
        which: Versioned,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, StorageError> {
        let head = self.applied;
        if at > head {
            return Err(StorageError::Ahead { at, head });
        }
        // The tables as they are can always be read: above the applied block, keys an apply
        // under way (or cut short) wrote are the journal's, which the caller reads first.
        if at < head && at < self.oldest {
            return Err(StorageError::Pruned {
                at,
                oldest: self.oldest,
            });
        }
        let (table, history) = match which {
            Versioned::Account => (&self.accounts, &self.account_history),
            Versioned::Slot => (&self.storage, &self.storage_history),
            Versioned::Node => (&self.nodes, &self.node_history),
        };
        if at < head {
            let from = at_block(key, at + 1);
            let to = at_block(key, u64::MAX);
            if let Some(entry) = history
                .range(from.as_slice()..=to.as_slice())
                .map_err(backend)?
                .next()
            {
                let (_, value) = entry.map_err(backend)?;
                return Ok(decode_option(value.value())?.map(<[u8]>::to_vec));
            }
        }
        Ok(table.get(key).map_err(backend)?.map(|v| v.value().to_vec()))
    }
}
