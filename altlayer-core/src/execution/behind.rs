//! Writing a replica's blocks to its store behind execution.
//!
//! A durable block costs its commit: the write of its changes, receipts and indexes and a
//! sync to disk, some 15–25 ms for a block of a thousand transfers, during which one core
//! waits on the disk. A replica that writes behind hands each block to a thread that commits
//! it while the next block executes, as reth's persistence task and geth's trie flushes run
//! behind their chains' heads: the state in memory is one block ahead of the store and keeps
//! that block's changes until the store has them ([`WorldState::stand_on_ahead`](crate::state::WorldState::stand_on_ahead)).
//!
//! What a block built or executed this way is: applied in memory when the call returns,
//! durable once [`EvmStateTransition::flush`] returns, or the next block's build or
//! execution (which waits for it before handing over its own). Whatever makes a block known
//! outside the process (a receipt answered, a block gossiped or posted) flushes first.
//! A write that fails loses the blocks not yet written: the replica is opened again at the
//! store's head and the call that found the failure returns it.
//!
//! What it gains depends on the cores free: most of a commit's work is the CPU's (encoding,
//! the B-tree's pages), so on two cores, both already running the next block's recovery and
//! root, a stream of blocks went from 1.91–2.09 x the blocks in memory to 1.77–2.03 x
//! (`benches/README.md`, storage); the sync alone is a few milliseconds.

use super::{EvmStateTransition, ExecutionError, Receipt};
use crate::{
    primitives::Block,
    storage::{BlockCommit, StateStore, StorageError},
};
use alloy_primitives::{Address, B256};
use std::{
    sync::{Arc, Mutex, PoisonError, mpsc},
    thread::JoinHandle,
};

/// A replica's writer while it writes behind, and the block being written.
#[derive(Debug, Default)]
pub(super) struct Behind {
    writer: Option<Writer>,
    /// The height of the block handed to the writer and not yet waited for.
    writing: Option<u64>,
}

/// A block's commit, to run on the writer's thread.
type Job = Box<dyn FnOnce() -> Result<(), StorageError> + Send>;

/// The thread a replica's blocks are committed on, one after the other: started when the
/// replica starts writing behind (where a thread that cannot start is an error to return,
/// not a block lost), stopped with it.
#[derive(Debug)]
struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    /// In a mutex so that a replica stays `Sync` (it is read from many threads); only the
    /// replica's owner, through `&mut`, ever waits on it.
    results: Mutex<mpsc::Receiver<Result<(), StorageError>>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    fn start() -> Result<Self, StorageError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let (done, results) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("altlayer-write".into())
            .spawn(move || {
                for job in queue {
                    if done.send(job()).is_err() {
                        break;
                    }
                }
            })
            .map_err(|error| {
                StorageError::Backend(format!("no thread to write blocks on: {error}"))
            })?;
        Ok(Self {
            jobs: Some(jobs),
            results: Mutex::new(results),
            thread: Some(thread),
        })
    }

    fn send(&self, job: Job) -> Result<(), StorageError> {
        self.jobs
            .as_ref()
            .and_then(|jobs| jobs.send(job).ok())
            .ok_or_else(stopped)
    }

    /// The result of the oldest job not waited for.
    fn wait(&self) -> Result<(), StorageError> {
        self.results
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv()
            .unwrap_or_else(|_| Err(stopped()))
    }
}

/// A writer whose thread stopped (it panicked).
fn stopped() -> StorageError {
    StorageError::Backend("the thread writing blocks stopped".into())
}

/// The writer's thread ends once its queue is closed; whatever was handed to it is written
/// (or failed) first.
impl Drop for Writer {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Behind {
    /// Waits for the block being written, if any: its height once written.
    fn wait(&mut self) -> Result<Option<u64>, StorageError> {
        let Some(height) = self.writing.take() else {
            return Ok(None);
        };
        match &self.writer {
            Some(writer) => writer.wait().map(|()| Some(height)),
            None => Err(stopped()),
        }
    }
}

impl EvmStateTransition {
    /// Writes each block this replica builds or executes on its store (a replica opened on
    /// one) on a thread of its own while the next block executes, instead of before the call
    /// returns: a stream of blocks (a node importing a chain, catching up) pays for its
    /// commits' writes and syncs on another core, as reth's persistence runs behind its
    /// head. The state in memory is then one block ahead of the store and keeps that block's
    /// changes until the store has them.
    ///
    /// A block built or executed this way is applied in memory when the call returns and
    /// durable once [`EvmStateTransition::flush`] returns, or once the next block is handed
    /// over (each block waits for the write of the one before it). Whatever makes a block
    /// known outside the process (a receipt answered, a block gossiped or posted) flushes
    /// first. A block that deletes an account or wipes storage is written before the call
    /// returns. A write that fails loses the blocks not yet written: the replica stands on
    /// the store's head again and the call that found the failure returns the error.
    ///
    /// The replica must be its store's only writer (the node's other replicas read it or
    /// keep their blocks in memory). Turning it off flushes. Copies of the replica do not
    /// write behind.
    pub fn set_write_behind(&mut self, on: bool) -> Result<(), ExecutionError> {
        if !on {
            self.flush()?;
            self.behind.writer = None;
        } else if self.behind.writer.is_none() {
            self.behind.writer = Some(Writer::start()?);
        }
        Ok(())
    }

    /// Waits until every block this replica built or executed is in its store (durable): a
    /// replica writing behind calls it before the blocks are made known outside the process.
    /// Returns at once otherwise. On a write that failed, the replica stands on the store's
    /// head again and the error is returned.
    pub fn flush(&mut self) -> Result<(), ExecutionError> {
        match self.behind.wait() {
            Ok(Some(height)) => {
                self.state.stand_on(height);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(error) => Err(self.reopen(error)),
        }
    }

    /// Whether the block about to be persisted goes behind: the replica writes behind and
    /// the block extends the store's head or the block being written (otherwise nothing is
    /// being written, and the block is persisted as without writing behind).
    pub(super) fn goes_behind(&self, store: &dyn StateStore, parent: &B256) -> bool {
        self.behind.writer.is_some()
            && (self.behind.writing.is_some()
                // (The head is the block being written, and blocks extend the head.)
                || store
                    .head()
                    .ok()
                    .flatten()
                    .is_some_and(|head| head.hash == *parent))
    }

    /// Hands a block just applied to a thread that commits it, once the block before it is
    /// written. The block's undos are gone: a failed write is put right by opening the
    /// replica again at the store's head.
    pub(super) fn persist_behind(
        &mut self,
        store: Arc<dyn StateStore>,
        block: &Block,
        hash: B256,
        senders: &[Address],
        receipts: &[Receipt],
    ) -> Result<(), ExecutionError> {
        let diff = match self.state.take_diff() {
            Ok(diff) => diff,
            Err(error) => return Err(self.reopen(error)),
        };
        match self.behind.wait() {
            Ok(Some(height)) => self.state.stand_on_ahead(height),
            Ok(None) => {}
            Err(error) => return Err(self.reopen(error)),
        }
        // Memory does not keep what a wipe hides: a block that deletes an account or wipes
        // storage is written before the next one starts.
        let wipes = !diff.wiped.is_empty();
        let height = block.header.height;
        let (block, senders, receipts) = (block.clone(), senders.to_vec(), receipts.to_vec());
        let write: Job = Box::new(move || {
            store.commit(BlockCommit {
                block: &block,
                hash,
                senders: &senders,
                receipts: &receipts,
                state: &diff,
            })
        });
        let sent = match &self.behind.writer {
            Some(writer) => writer.send(write),
            None => Err(stopped()),
        };
        if let Err(error) = sent {
            return Err(self.reopen(error));
        }
        self.behind.writing = Some(height);
        if wipes {
            self.flush()?;
        }
        Ok(())
    }

    /// The replica opened again at its store's head after a write failed (the blocks not
    /// written are gone); returns `error` to pass on. A store that cannot be read at all
    /// leaves the replica as it is (its reads fail as well).
    fn reopen(&mut self, error: StorageError) -> ExecutionError {
        // A block still being written first: the store's head is final once it is done, and
        // the writer's results stay in step with the blocks handed to it.
        let _ = self.behind.wait();
        let Some((store, at)) = self.state.store() else {
            return error.into();
        };
        let store = Arc::clone(store);
        let opened = Self::open(self.config.clone(), Arc::clone(&store))
            .or_else(|_| Self::open_at(self.config.clone(), store, at));
        if let Ok(opened) = opened {
            self.state = opened.state;
            self.head = opened.head;
            self.hashes = opened.hashes;
        }
        error.into()
    }
}

/// A replica is shared across threads (the JSON-RPC reads it from its workers) whether it
/// writes behind or not.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<EvmStateTransition>();
};
