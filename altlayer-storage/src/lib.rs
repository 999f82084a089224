#![doc = include_str!("../README.md")]

mod admin;
mod apply;
mod chain;
mod layers;
mod protocol;
mod snapshot;
mod state;
mod tables;

pub use admin::{CheckReport, PruneReport, StoreStats, TableStats};
pub use chain::BlockBody;

use alloy_primitives::B256;
use altlayer_core::storage::{NodeCache, StorageError, StoredHead};
use apply::{Applying, Committing, Worker};
use layers::Layers;
use redb::{Database, ReadableDatabase};
use snapshot::Snapshot;
use std::{
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, PoisonError, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};
use tables::{FORMAT, JOURNAL, META, corrupt, u64_of};

/// The database file inside a node's data directory.
pub const DB_FILE: &str = "altlayer.redb";

/// Blocks of history kept by default behind the head, as geth keeps 128 states.
pub const DEFAULT_HISTORY: u64 = 128;

/// How a store is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// Bytes of memory for reads: three quarters for redb's page cache, which every read
    /// goes through, and a quarter for the trie nodes the node's states decoded
    /// ([`altlayer_core::storage::NodeCache`]), which the next block finds without reading.
    pub cache_bytes: usize,
    /// Blocks of history kept behind the head (state at those blocks can be read, and they
    /// can be unwound); `None` keeps all (an archive).
    pub history: Option<u64>,
    /// Blocks whose state changes go into the state tables together. Blocks wait in the
    /// journal (on disk, and in memory as diff layers) until `history + apply_every` are
    /// there; then the oldest `apply_every` are applied, on a thread of their own (in one
    /// transaction with the block for an archive). More blocks per apply write the tables'
    /// pages less often, at the cost of memory.
    pub apply_every: usize,
}

impl Default for StoreOptions {
    /// 256 MiB of cache, 128 blocks of history, 64 blocks per apply.
    fn default() -> Self {
        Self {
            cache_bytes: 256 << 20,
            history: Some(DEFAULT_HISTORY),
            apply_every: 64,
        }
    }
}

/// Why a data directory could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The directory could not be created or read (missing permission, a file in the way).
    #[error("cannot use data directory {path}: {source}")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// There is no database in the directory (and it was to be opened, not created).
    #[error("no altlayer database in {path}")]
    Missing {
        /// The database file looked for.
        path: PathBuf,
    },
    /// redb refused the file: not a redb database, damaged beyond repair, or open in another
    /// process.
    #[error("cannot open database {path}: {reason}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// redb's reason.
        reason: String,
    },
    /// The database holds data this version cannot read, or data that does not decode.
    #[error("database {path} is not an altlayer database this version can read: {reason}")]
    Foreign {
        /// The database file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The node's database: one redb file in the node's data directory holding the state (with
/// recent history and the trie nodes by path), the blocks, receipts and their indexes.
///
/// It implements core's [`altlayer_core::storage::StateStore`]: a replica opened on it with
/// [`altlayer_core::EvmStateTransition::open`] reads the state from it and commits each
/// block to it in one durable write transaction (with redb's quick repair, so recovery after
/// a crash does not scan the file).
#[derive(Debug)]
pub struct RedbStore {
    db: Arc<Database>,
    path: PathBuf,
    history: Option<u64>,
    apply_every: usize,
    /// The state tables as of the last applied block, which state reads go through.
    snapshot: RwLock<Arc<Snapshot>>,
    /// Blocks committed to the journal and not applied to the state tables yet.
    layers: RwLock<Layers>,
    /// Held by whatever changes the chain (a commit, an unwind, an import) and by the
    /// commands that need it still: a commit holds the layers' write lock only while it
    /// changes them, not while it writes and syncs, so reads go on meanwhile.
    writer: Mutex<()>,
    /// The last block committed.
    head: RwLock<Option<StoredHead>>,
    /// Decoded trie nodes, by hash, shared by the states over this store.
    nodes: NodeCache,
    /// The apply under way on its thread, if any ([`apply`]).
    applying: ApplySlot,
    /// Block commits the apply's thread lets take the write lock first.
    committing: Arc<Committing>,
    /// No block before this one can be read: an apply under way overwrites their values.
    floor: AtomicU64,
}

impl RedbStore {
    /// Opens the database in `dir`, creating the directory and an empty database if there is
    /// none. An existing file that is not an altlayer database is refused, never overwritten.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<Self, OpenError> {
        std::fs::create_dir_all(dir).map_err(|source| OpenError::Directory {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        let exists = path.exists();
        let mut builder = Database::builder();
        let node_cache = options.cache_bytes / 4;
        builder.set_cache_size(options.cache_bytes - node_cache);
        let database = |e: &dyn std::fmt::Display| OpenError::Database {
            path: path.clone(),
            reason: e.to_string(),
        };
        let db = if exists {
            builder.open(&path).map_err(|e| database(&e))?
        } else {
            builder.create(&path).map_err(|e| database(&e))?
        };
        let foreign = |e: StorageError| OpenError::Foreign {
            path: path.clone(),
            reason: e.to_string(),
        };
        if !exists {
            Self::init(&db).map_err(foreign)?;
        }
        let snapshot = Snapshot::take(&db).map_err(foreign)?;
        let (head, layers) = Self::recover(&db, snapshot.applied).map_err(foreign)?;
        let store = Self {
            db: Arc::new(db),
            path: path.clone(),
            history: options.history,
            apply_every: options.apply_every.max(1),
            snapshot: RwLock::new(Arc::new(snapshot)),
            layers: RwLock::new(layers),
            writer: Mutex::new(()),
            head: RwLock::new(head),
            nodes: NodeCache::new(node_cache),
            applying: ApplySlot::default(),
            committing: Arc::default(),
            floor: AtomicU64::new(0),
        };
        match store.meta_u64("format").map_err(foreign)? {
            Some(FORMAT) => {}
            Some(other) => {
                return Err(OpenError::Foreign {
                    path,
                    reason: format!("format {other}, this version reads format {FORMAT}"),
                });
            }
            None => {
                return Err(OpenError::Foreign {
                    path,
                    reason: "a redb database without altlayer's tables".into(),
                });
            }
        }
        // Only in a database of this format, and only when an import was cut short.
        Self::drop_cut_import(&store.db).map_err(|e| OpenError::Foreign {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        store.refresh().map_err(|e| OpenError::Foreign {
            path,
            reason: e.to_string(),
        })?;
        Ok(store)
    }

    /// Opens the database in `dir`, which must exist: for tools looking at a node's data,
    /// which must not create a database where there is none.
    pub fn open_existing(dir: &Path, options: StoreOptions) -> Result<Self, OpenError> {
        let path = dir.join(DB_FILE);
        match std::fs::metadata(&path) {
            Ok(_) => Self::open(dir, options),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(OpenError::Missing { path }),
            Err(source) => Err(OpenError::Directory {
                path: dir.to_owned(),
                source,
            }),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Blocks of history kept behind the head (`None`: all).
    pub const fn history(&self) -> Option<u64> {
        self.history
    }

    /// The hash of the genesis block, once one is committed: what tells one chain's database
    /// from another's.
    pub fn genesis_hash(&self) -> Result<Option<B256>, StorageError> {
        altlayer_core::storage::StateStore::block_hash(self, 0)
    }

    fn init(db: &Database) -> Result<(), StorageError> {
        let mut tx = db.begin_write().map_err(backend)?;
        tx.set_quick_repair(true);
        {
            let mut meta = tx.open_table(META).map_err(backend)?;
            meta.insert("format", FORMAT.to_be_bytes().as_slice())
                .map_err(backend)?;
        }
        // Every table exists from the start, so readers never meet a missing one.
        tables::create_all(&tx)?;
        tx.commit().map_err(backend)
    }

    /// A genesis import cut short (parts written, no genesis block): its parts go, so that
    /// the next start imports again from nothing.
    fn drop_cut_import(db: &Database) -> Result<(), StorageError> {
        {
            let tx = db.begin_read().map_err(backend)?;
            let Ok(meta) = tx.open_table(META) else {
                return Ok(());
            };
            if meta.get("importing").map_err(backend)?.is_none() {
                return Ok(());
            }
        }
        let mut tx = db.begin_write().map_err(backend)?;
        tx.set_quick_repair(true);
        for table in [
            tables::ACCOUNTS,
            tables::STORAGE,
            tables::CODE,
            tables::NODES,
        ] {
            tx.delete_table(table).map_err(backend)?;
        }
        tables::create_all(&tx)?;
        tx.open_table(META)
            .map_err(backend)?
            .remove("importing")
            .map_err(backend)?;
        tx.commit().map_err(backend)
    }

    fn meta_u64(&self, key: &str) -> Result<Option<u64>, StorageError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let meta = match tx.open_table(META) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(backend(e)),
        };
        meta.get(key)
            .map_err(backend)?
            .map(|v| u64_of(v.value()))
            .transpose()
    }

    /// The head and the journaled blocks after the applied one, as the file holds them.
    fn recover(db: &Database, applied: u64) -> Result<(Option<StoredHead>, Layers), StorageError> {
        let tx = db.begin_read().map_err(backend)?;
        let head = Self::head_in(&tx)?;
        let mut layers = Layers::default();
        let journal = match tx.open_table(JOURNAL) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok((head, layers)),
            Err(e) => return Err(backend(e)),
        };
        let bodies = tx.open_table(tables::BODIES).map_err(backend)?;
        let mut expected = applied + 1;
        for entry in journal.range(0..).map_err(backend)? {
            let (height, diff) = entry.map_err(backend)?;
            let height = height.value();
            if height != expected {
                return Err(corrupt(format!(
                    "journal holds block {height} where block {expected} was expected"
                )));
            }
            layers.push(height, layers::decode_diff(diff.value())?);
            let body = bodies.get(height).map_err(backend)?.ok_or_else(|| {
                corrupt(format!("the body of journaled block {height} is missing"))
            })?;
            layers.push_transactions(height, chain::body_transaction_hashes(body.value())?);
            expected += 1;
        }
        let head_height = head.map_or(0, |h| h.height);
        if expected != head_height + 1 && head.is_some() {
            return Err(corrupt(format!(
                "journal ends at block {} but the head is block {head_height}",
                expected - 1
            )));
        }
        Ok((head, layers))
    }

    pub(crate) fn layers(&self) -> std::sync::RwLockReadGuard<'_, Layers> {
        self.layers.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn layers_mut(&self) -> std::sync::RwLockWriteGuard<'_, Layers> {
        self.layers.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The chain to this caller alone among those that change it (the `writer` lock).
    /// Taken before the layers' write lock, never after.
    pub(crate) fn exclusive(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn head_height(&self) -> u64 {
        self.head
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .map_or(0, |h| h.height)
    }

    /// Takes the apply under way into the layers and the snapshot once its thread is done
    /// (with `wait`, waits for it): the applied blocks leave the layers as the new snapshot,
    /// which has them in its tables, comes in. The caller holds the layers' write lock.
    /// An apply that failed is dropped and its error returned; nothing of it is visible, and
    /// the next block due to apply starts another.
    pub(crate) fn settle_apply(&self, layers: &mut Layers, wait: bool) -> Result<(), StorageError> {
        let done = {
            let mut applying = self.applying.lock();
            let done = applying.as_mut().is_some_and(|a| wait || a.is_finished());
            if done { applying.take() } else { None }
        };
        let Some(done) = done else {
            return Ok(());
        };
        let through = done.through;
        done.join()?;
        let taken = layers.take_through(through);
        // Hundreds of thousands of small allocations: freed beside the next block, not in it.
        let _ = std::thread::Builder::new()
            .name("altlayer-free".into())
            .spawn(move || drop(taken));
        self.refresh()
    }

    /// No block before this one can be read: the file's oldest, or an apply's under way.
    pub(crate) fn floor(&self) -> u64 {
        self.snapshot()
            .oldest
            .max(self.floor.load(Ordering::Relaxed))
    }

    /// Whether an apply is under way on its thread.
    pub(crate) fn applying(&self) -> bool {
        self.applying.lock().is_some()
    }

    /// Starts applying the journaled blocks through `through` on a thread of their own.
    pub(crate) fn start_apply(&self, layers: &Layers, through: u64) -> Result<(), StorageError> {
        let blocks = layers
            .blocks
            .range(..=through)
            .map(|(h, diff)| (*h, Arc::clone(diff)))
            .collect();
        let applying = Applying::start(
            &self.applying.worker,
            Arc::clone(&self.db),
            Arc::clone(&self.committing),
            blocks,
            layers.block_transactions_through(through),
            through,
        )?;
        self.floor.fetch_max(through, Ordering::Relaxed);
        *self.applying.lock() = Some(applying);
        Ok(())
    }

    /// The snapshot state reads go through.
    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshot.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Takes a new snapshot after a commit or an unwind.
    pub(crate) fn refresh(&self) -> Result<(), StorageError> {
        let snapshot = Arc::new(Snapshot::take(&self.db)?);
        *self
            .snapshot
            .write()
            .unwrap_or_else(PoisonError::into_inner) = snapshot;
        Ok(())
    }

    /// The stored head, read in `tx`.
    pub(crate) fn head_in(tx: &redb::ReadTransaction) -> Result<Option<StoredHead>, StorageError> {
        let meta = match tx.open_table(META) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(backend(e)),
        };
        let Some(bytes) = meta.get("head").map_err(backend)? else {
            return Ok(None);
        };
        decode_head(bytes.value()).map(Some)
    }
}

pub(crate) fn encode_head(head: &StoredHead) -> [u8; 72] {
    let mut out = [0u8; 72];
    out[..8].copy_from_slice(&head.height.to_be_bytes());
    out[8..40].copy_from_slice(head.hash.as_slice());
    out[40..].copy_from_slice(head.state_root.as_slice());
    out
}

pub(crate) fn decode_head(bytes: &[u8]) -> Result<StoredHead, StorageError> {
    if bytes.len() != 72 {
        return Err(corrupt(format!("head of {} bytes", bytes.len())));
    }
    Ok(StoredHead {
        height: u64_of(&bytes[..8])?,
        hash: B256::from_slice(&bytes[8..40]),
        state_root: B256::from_slice(&bytes[40..]),
    })
}

/// A redb failure as core's storage error.
pub(crate) fn backend(error: impl Into<redb::Error>) -> StorageError {
    StorageError::Backend(error.into().to_string())
}

/// Where a store keeps its apply under way. Dropped (with the store), it waits for the apply:
/// the thread holds the file open, and a store opened again on the directory would be refused
/// until it lets go. (Stopped instead, as by a crash, the apply is taken up again from the
/// journal.)
#[derive(Debug, Default)]
struct ApplySlot {
    current: Mutex<Option<Applying>>,
    worker: Worker,
}

impl ApplySlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Applying>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for ApplySlot {
    fn drop(&mut self) {
        let applying = self
            .current
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(applying) = applying {
            let _ = applying.join();
        }
        self.worker.stop();
    }
}
