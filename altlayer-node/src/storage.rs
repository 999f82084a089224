//! The node's database: opening the data directory a spec or the command line names, and
//! putting the rollup's genesis in it (or checking that it is the one already there).

use crate::spec::Spec;
use altlayer_core::{
    EvmStateTransition,
    execution::ExecutionError,
    storage::{StateStore, StorageError},
};
use altlayer_storage::{OpenError, RedbStore, StoreOptions};
use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

/// Why the node's database cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeStoreError {
    /// The directory or the database file cannot be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// Reading or writing failed.
    #[error("data directory {dir}: {error}")]
    Storage {
        /// The data directory.
        dir: PathBuf,
        /// What failed.
        error: StorageError,
    },
    /// The database holds another chain.
    #[error(
        "data directory {dir} holds another chain (genesis {stored}); this spec's genesis is {spec}"
    )]
    ForeignChain {
        /// The data directory.
        dir: PathBuf,
        /// The genesis hash in the database.
        stored: alloy_primitives::B256,
        /// The spec's genesis hash.
        spec: alloy_primitives::B256,
    },
    /// The database holds a chain past genesis, and the rollup's protocol state (batches,
    /// finality, ledger, operators' signing state) is not kept in it yet: starting over
    /// from genesis would fork the chain, so the node refuses.
    #[error(
        "data directory {dir} holds this chain up to block {height}; resuming a rollup from its data directory is not supported yet: use a new directory"
    )]
    Resume {
        /// The data directory.
        dir: PathBuf,
        /// The stored head.
        height: u64,
    },
}

/// The node's database, opened.
#[derive(Clone, Debug)]
pub struct NodeStore {
    /// The data directory.
    pub dir: PathBuf,
    /// The database.
    pub store: Arc<RedbStore>,
}

impl NodeStore {
    /// Opens the data directory of `spec` (relative to `base`), `None` when the spec names
    /// none (the node then runs in memory).
    pub fn open(spec: &Spec, base: &Path) -> Result<Option<Self>, NodeStoreError> {
        let Some(datadir) = &spec.storage.datadir else {
            return Ok(None);
        };
        let dir = base.join(datadir);
        let options = StoreOptions {
            cache_bytes: usize::try_from(spec.storage.cache_mb << 20).unwrap_or(usize::MAX),
            history: (!spec.storage.archive).then_some(spec.storage.history),
            ..StoreOptions::default()
        };
        let store = Arc::new(RedbStore::open(&dir, options)?);
        Ok(Some(Self { dir, store }))
    }

    /// The genesis replica over this database: `genesis` written to an empty database, or
    /// checked against the genesis block of one holding this chain. Nothing is written to a
    /// database of another chain.
    pub fn genesis(
        &self,
        genesis: EvmStateTransition,
    ) -> Result<EvmStateTransition, NodeStoreError> {
        let failed = |error: StorageError| NodeStoreError::Storage {
            dir: self.dir.clone(),
            error,
        };
        let expected = genesis.head().hash();
        let Some(head) = self.store.head().map_err(failed)? else {
            return genesis
                .store_genesis(self.store.clone())
                .map_err(|error| failed(execution_storage(error)));
        };
        let stored = self
            .store
            .genesis_hash()
            .map_err(failed)?
            .unwrap_or_default();
        if stored != expected {
            return Err(NodeStoreError::ForeignChain {
                dir: self.dir.clone(),
                stored,
                spec: expected,
            });
        }
        if head.height > 0 {
            return Err(NodeStoreError::Resume {
                dir: self.dir.clone(),
                height: head.height,
            });
        }
        EvmStateTransition::open(genesis.config().clone(), self.store.clone())
            .map_err(|error| failed(execution_storage(error)))
    }

    /// One line for the run's report: where the data is, or that there is none.
    pub fn describe(store: Option<&Self>, spec: &Spec) -> String {
        match store {
            None => "storage in memory (no data directory: everything is lost when the node stops)"
                .to_owned(),
            Some(store) => format!(
                "storage {} (redb, {} MiB cache, {})",
                store.store.path().display(),
                spec.storage.cache_mb,
                if spec.storage.archive {
                    "archive".to_owned()
                } else {
                    format!("{} blocks of history", spec.storage.history)
                }
            ),
        }
    }
}

/// A replica's failure to read or write its store, as the store's error.
fn execution_storage(error: ExecutionError) -> StorageError {
    match error {
        ExecutionError::Storage(error) => error,
        other => StorageError::Backend(other.to_string()),
    }
}
