//! The node's database: opening the data directory a spec or the command line names, and
//! putting the rollup's genesis in it (or checking that it is the one already there).

use crate::spec::Spec;
use altlayer_core::{
    EvmStateTransition,
    execution::ExecutionError,
    persist::{PersistError, ReplicaRef, Replicas},
    rollup::recorded_head,
    storage::{ProtocolStore, StateStore, StorageError},
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
        error: Box<StorageError>,
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
    /// The database holds a chain past genesis that the node cannot resume: starting over
    /// from genesis would fork it, so the node refuses.
    #[error(
        "data directory {dir} holds this chain up to block {height}, and {reason}: use a new directory"
    )]
    Resume {
        /// The data directory.
        dir: PathBuf,
        /// The stored head.
        height: u64,
        /// Why it cannot resume.
        reason: String,
    },
    /// The spec's genesis could not be built.
    #[error(transparent)]
    Genesis(#[from] crate::spec::SpecError),
    /// The rollup's records could not be written or put back.
    #[error("data directory {dir}: {error}")]
    Persist {
        /// The data directory.
        dir: PathBuf,
        /// What failed.
        error: Box<PersistError>,
    },
}

/// The record of the spec genesis digest the database's genesis was built from.
const GENESIS_DIGEST: &str = "genesis/digest";
/// The record of the components the chain was run with (the rollup's records are theirs).
const COMPOSITION: &str = "node/composition";

/// Where a restarted node resumes: the block its records stood on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resume {
    /// The block.
    pub head: ReplicaRef,
    /// Blocks after it that were written but never left the node, taken back.
    pub unwound: u64,
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

    /// The genesis replica over this database, and where to resume: `genesis` written to an
    /// empty database; or checked against the genesis block of one holding this chain, which
    /// resumes from the rollup's records when it has them, its blocks after the recorded head (written, never out of the process) taken
    /// back. Nothing is written to a database of another chain, or to one the node refuses.
    ///
    /// `genesis` builds the spec's genesis; `digest` ([`crate::spec::Spec::genesis_digest`])
    /// stands for it: recorded with the genesis, it spares building a large genesis again at
    /// every start (the stored genesis block is then the spec's). `composition` names the
    /// components the spec runs: a chain run with others is refused (their records are not
    /// these components').
    pub fn open_chain(
        &self,
        config: altlayer_core::RollupConfig,
        digest: alloy_primitives::B256,
        composition: &str,
        genesis: impl FnOnce() -> Result<
            (altlayer_core::RollupConfig, altlayer_core::genesis::Genesis),
            crate::spec::SpecError,
        >,
    ) -> Result<(EvmStateTransition, Option<Resume>), NodeStoreError> {
        let failed = |error: StorageError| NodeStoreError::Storage {
            dir: self.dir.clone(),
            error: error.into(),
        };
        let record_digest = || {
            self.store
                .write_records(&[
                    (GENESIS_DIGEST, Some(digest.as_slice())),
                    (COMPOSITION, Some(composition.as_bytes())),
                ])
                .map_err(failed)
        };
        let Some(head) = self.store.head().map_err(failed)? else {
            // Recorded first: an import cut short starts again from the same spec, and one
            // that completes never needs the genesis built again to be recognised.
            record_digest()?;
            // A large genesis goes in parts: memory holds a piece of it at a time.
            let (config, genesis) = genesis()?;
            let genesis =
                altlayer_core::genesis::import_genesis(config, &genesis, self.store.clone())
                    .map_err(|error| failed(execution_storage(error)))?;
            return Ok((genesis, None));
        };
        let known = self.store.record(GENESIS_DIGEST).map_err(failed)?;
        if known.as_deref() != Some(digest.as_slice()) {
            // Not recorded (or the spec's genesis table changed): compare the genesis itself.
            let (config, genesis) = genesis()?;
            let expected = altlayer_core::genesis::state_transition_from_genesis(config, &genesis)
                .head()
                .hash();
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
            record_digest()?;
        }
        let refuse = |reason: String| NodeStoreError::Resume {
            dir: self.dir.clone(),
            height: head.height,
            reason,
        };
        let record = self.store.record("rollup").map_err(failed)?;
        let resume = match record {
            None if head.height == 0 => None,
            None => {
                return Err(refuse(
                    "none of the rollup's records (a node that could not resume wrote it)".into(),
                ));
            }
            Some(record) => {
                let ran_as = self.store.record(COMPOSITION).map_err(failed)?;
                if let Some(ran_as) = ran_as.filter(|r| r.as_slice() != composition.as_bytes()) {
                    return Err(refuse(format!(
                        "it was run with {}, this spec runs {composition}",
                        String::from_utf8_lossy(&ran_as)
                    )));
                }
                let recorded = recorded_head(&record).map_err(|error| NodeStoreError::Persist {
                    dir: self.dir.clone(),
                    error: error.into(),
                })?;
                let mut head = head;
                if self.store.block_hash(recorded.height).map_err(failed)? != Some(recorded.hash) {
                    // A revert took the chain back in the step the crash cut short (before the
                    // records could say so): forward again to the recorded block; the revert
                    // happens again from the records.
                    if !self
                        .store
                        .forward_to(recorded.height, recorded.hash)
                        .map_err(failed)?
                    {
                        return Err(failed(StorageError::Corrupt(format!(
                            "the rollup's records stand on block {} ({}), which the chain does not hold",
                            recorded.height, recorded.hash
                        ))));
                    }
                    head = self.store.head().map_err(failed)?.unwrap_or(head);
                }
                // Blocks after the recorded head were written in the step the crash cut short:
                // nothing about them left the node (the records come first), so they go.
                let unwound = head.height - recorded.height;
                if unwound > 0 {
                    self.store.unwind(recorded.height).map_err(failed)?;
                }
                Some(Resume {
                    head: recorded,
                    unwound,
                })
            }
        };
        let genesis = EvmStateTransition::open_at(config, self.store.clone(), 0)
            .map_err(|error| failed(execution_storage(error)))?;
        Ok((genesis, resume))
    }

    /// Writes the rollup's records in one durable transaction.
    pub fn write_records(&self, records: &[(&'static str, Vec<u8>)]) -> Result<(), NodeStoreError> {
        self.store
            .save_records(records)
            .map_err(|error| NodeStoreError::Storage {
                dir: self.dir.clone(),
                error: error.into(),
            })
    }

    /// Reads one of the rollup's records.
    pub fn record(&self, name: &'static str) -> Result<Option<Vec<u8>>, PersistError> {
        Ok(self.store.record(name)?)
    }

    /// Replicas of the rollup `config` describes over this database.
    pub fn replicas(&self, config: altlayer_core::RollupConfig) -> Replicas {
        Replicas::new(config, self.store.clone())
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
