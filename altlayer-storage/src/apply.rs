//! Applying journaled blocks to the state tables on a thread of their own.
//!
//! Every `apply_every` blocks, the oldest journaled blocks beyond the history kept go into the
//! state tables. Written in the commit of the block that made them due, they stalled that
//! block for the whole write: 0.7–0.9 s for 64 blocks of 1,000 transfers over 100,000
//! accounts (the tables' pages rewritten and synced), a sequencer's block time gone once a
//! minute. Here a thread writes them in slices of keys, then their transactions' entries in
//! the hash index in slices by hash, each slice its own durable transaction taken between the
//! blocks' commits, while blocks go on.
//!
//! Why reads and a crash see nothing half done:
//!
//! - Every key an apply writes was written by a journaled block at or before `through`, and
//!   those blocks stay in the layers until the apply is done: a read at a block at or after
//!   `through` finds the key in the layers, never in the tables. Reads at blocks before
//!   `through` are refused from the moment the apply starts, as after an apply in the block's
//!   commit (the store's floor; in the file, the first slice's transaction records it).
//! - The journal keeps the blocks until the last transaction, which removes them and records
//!   the tables as applied through `through`: a store reopened after a crash half way has them
//!   all in its layers again, over tables that hold some of their last values already, and
//!   the next apply writes the same values again.
//! - An archive (history in the tables) and blocks that wipe storage apply in the block's
//!   commit, as before: history records the value each block replaced, and a wipe deletes
//!   what the tables held, both of which a half-done apply would get wrong.

use crate::{
    backend, chain,
    tables::{CODE, JOURNAL, Key, Kind, META, encode_account, node_key, slot_key, u64_of},
};
use alloy_primitives::{B256, map::HashMap};
use altlayer_core::storage::{StateDiff, StorageError};
use redb::{Database, ReadableTable};
use std::{
    borrow::Cow,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
    thread::JoinHandle,
};

/// Keys written per transaction: each holds the write lock for some 20–30 ms (its writes and
/// its sync), the most a block's commit waits for one.
const SLICE: usize = 8_192;

/// Block commits waiting for the write lock, or holding it. The apply's thread lets them go
/// first: redb's lock is not fair, and slices taken back to back kept a block's commit
/// waiting for several of them.
#[derive(Debug, Default)]
pub(crate) struct Committing(AtomicUsize);

impl Committing {
    /// Marks a commit as waiting for (or holding) the write lock until the mark is dropped.
    pub(crate) fn mark(&self) -> CommitMark<'_> {
        self.0.fetch_add(1, Ordering::AcqRel);
        CommitMark(&self.0)
    }

    /// Waits until no commit waits for the write lock.
    fn let_go_first(&self) {
        while self.0.load(Ordering::Acquire) > 0 {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }
}

/// A commit marked as waiting for or holding the write lock ([`Committing::mark`]).
#[derive(Debug)]
pub(crate) struct CommitMark<'a>(&'a AtomicUsize);

impl Drop for CommitMark<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The thread a store's applies run on, one after the other, started with the first. One
/// thread for the store's life, not one per apply: what it allocates (redb's pages among it)
/// stays in one arena of the allocator instead of in a new thread's each time.
#[derive(Debug, Default)]
pub(crate) struct Worker(Mutex<Option<(mpsc::Sender<Job>, JoinHandle<()>)>>);

type Job = Box<dyn FnOnce() + Send>;

impl Worker {
    /// Runs `job` on the thread (started if it is not running, or stopped by a panic).
    fn run(&self, job: Job) -> Result<(), StorageError> {
        let mut worker = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let job = match worker.as_ref() {
            Some((jobs, _)) => match jobs.send(job) {
                Ok(()) => return Ok(()),
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("altlayer-apply".into())
            .spawn(move || {
                for job in queue {
                    job();
                }
            })
            .map_err(|e| StorageError::Backend(format!("starting the apply thread: {e}")))?;
        jobs.send(job)
            .map_err(|_| StorageError::Backend("the apply thread stopped".into()))?;
        *worker = Some((jobs, thread));
        Ok(())
    }

    /// Stops the thread once its jobs are done.
    pub(crate) fn stop(&mut self) {
        let worker = self
            .0
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((jobs, thread)) = worker {
            drop(jobs);
            let _ = thread.join();
        }
    }
}

/// An apply under way on the store's apply thread.
#[derive(Debug)]
pub(crate) struct Applying {
    /// The last block it applies.
    pub(crate) through: u64,
    result: mpsc::Receiver<Result<(), StorageError>>,
    done: Option<Result<(), StorageError>>,
}

impl Applying {
    /// Starts applying `blocks` (the journaled blocks through `through`, oldest first, none of
    /// them wiping storage) and indexing their `transactions` (per block, in order).
    pub(crate) fn start(
        worker: &Worker,
        db: Arc<Database>,
        committing: Arc<Committing>,
        blocks: Vec<(u64, Arc<StateDiff>)>,
        transactions: Vec<(u64, Vec<B256>)>,
        through: u64,
    ) -> Result<Self, StorageError> {
        let (sender, result) = mpsc::channel();
        worker.run(Box::new(move || {
            let applied = apply(
                &db,
                &committing,
                &blocks,
                &transactions,
                through,
                SLICE,
                None,
            );
            // The database and the blocks go before the result: a store that waits for it
            // has the file to itself again.
            drop((db, blocks));
            let _ = sender.send(applied);
        }))?;
        Ok(Self {
            through,
            result,
            done: None,
        })
    }

    /// Whether the apply is done (its result waits in [`Applying::join`]).
    pub(crate) fn is_finished(&mut self) -> bool {
        if self.done.is_none() {
            self.done = match self.result.try_recv() {
                Ok(result) => Some(result),
                Err(mpsc::TryRecvError::Empty) => None,
                Err(mpsc::TryRecvError::Disconnected) => Some(Err(stopped())),
            };
        }
        self.done.is_some()
    }

    /// Waits for the apply: `Ok` once every block through [`Applying::through`] is in the
    /// tables and out of the journal.
    pub(crate) fn join(self) -> Result<(), StorageError> {
        match self.done {
            Some(result) => result,
            None => self.result.recv().unwrap_or_else(|_| Err(stopped())),
        }
    }
}

/// An apply whose thread stopped before it was done (it panicked).
fn stopped() -> StorageError {
    StorageError::Backend("the apply thread stopped before the apply was done".into())
}

/// Writes `blocks` into the tables, `slice` keys a transaction; `stop_after` slices stops
/// there, as a crash would (for tests).
fn apply(
    db: &Database,
    committing: &Committing,
    blocks: &[(u64, Arc<StateDiff>)],
    transactions: &[(u64, Vec<B256>)],
    through: u64,
    slice: usize,
    stop_after: Option<usize>,
) -> Result<(), StorageError> {
    // The last value each key took through `through` (`None`: deleted), in table order.
    let mut last: HashMap<(Kind, Key), Option<Cow<'_, [u8]>>> = HashMap::default();
    for (_, diff) in blocks {
        for (address, account) in &diff.accounts {
            let value = account
                .as_ref()
                .map(|a| Cow::Owned(encode_account(a).to_vec()));
            last.insert((Kind::Account, Key::new(address.as_slice())), value);
        }
        for (address, slot, value) in &diff.storage {
            let value = (!value.is_zero()).then(|| Cow::Owned(value.to_be_bytes::<32>().to_vec()));
            last.insert((Kind::Slot, Key::new(&slot_key(address, slot))), value);
        }
        for (owner, path, node) in &diff.nodes {
            let value = node.as_deref().map(Cow::Borrowed);
            last.insert((Kind::Node, node_key(owner, path)), value);
        }
    }
    let mut writes: Vec<_> = last.into_iter().collect();
    // In key order, so the B-tree pages a slice shares are written once.
    writes.sort_unstable_by(|((ka, a), _), ((kb, b), _)| {
        (*ka as u8, &a[..]).cmp(&(*kb as u8, &b[..]))
    });

    // The transaction index's entries in slices of their own, by hash: each slice rewrites
    // the index pages of its range of hashes only, so a slice holds the write lock for a
    // part of what one transaction for all of them did (which grows with the index: 260–530
    // ms at 300–600 blocks of 1,000 transactions, a block's commit waiting behind it), for
    // the same pages written in all.
    let entries = crate::layers::index_entries(
        transactions
            .iter()
            .map(|(height, hashes)| (*height, hashes.as_slice())),
    );
    let parts = writes
        .chunks(slice.max(1))
        .map(Part::State)
        .chain(entries.chunks(slice.max(1)).map(Part::Index))
        .chain(std::iter::once(Part::Finish));
    for (n, part) in parts.enumerate().take(stop_after.unwrap_or(usize::MAX)) {
        committing.let_go_first();
        let mut tx = db.begin_write().map_err(backend)?;
        tx.set_quick_repair(true);
        if n == 0 {
            // The blocks before `through` can no longer be read: their values are being
            // overwritten. Said in the file before any is.
            raise_oldest(&mut tx.open_table(META).map_err(backend)?, through)?;
        }
        match part {
            Part::State(slice) => {
                for kind in [Kind::Account, Kind::Slot, Kind::Node] {
                    let mut table = tx.open_table(kind.tables().0).map_err(backend)?;
                    for ((_, key), value) in slice.iter().filter(|((k, _), _)| *k == kind) {
                        match value {
                            Some(value) => table.insert(&key[..], &value[..]),
                            None => table.remove(&key[..]),
                        }
                        .map_err(backend)?;
                    }
                }
            }
            // Entries of journaled blocks in the table before the journal lets go of them:
            // reads find them in the layers first, with the same location, and an apply cut
            // short writes them again.
            Part::Index(entries) => chain::index_transactions(&tx, entries)?,
            Part::Finish => finish(&tx, blocks, through)?,
        }
        tx.commit().map_err(backend)?;
    }
    Ok(())
}

/// One durable transaction of an apply.
enum Part<'a, W> {
    /// State keys and their last values.
    State(&'a [W]),
    /// Transaction index entries.
    Index(&'a [(B256, (u64, u32))]),
    /// The blocks' code, their journal entries gone, the tables applied through.
    Finish,
}

/// Records in the file that no block before `through` can be read. Never lowered: an apply
/// cut short by a crash may have written values of blocks up to its `through` already.
pub(crate) fn raise_oldest(
    meta: &mut redb::Table<'_, &'static str, &'static [u8]>,
    through: u64,
) -> Result<(), StorageError> {
    let oldest = meta
        .get("oldest")
        .map_err(backend)?
        .map_or(Ok(0), |v| u64_of(v.value()))?;
    if through > oldest {
        meta.insert("oldest", through.to_be_bytes().as_slice())
            .map_err(backend)?;
    }
    Ok(())
}

/// The last transaction: the blocks' code, their journal entries gone and the tables
/// recorded as applied through `through`.
fn finish(
    tx: &redb::WriteTransaction,
    blocks: &[(u64, Arc<StateDiff>)],
    through: u64,
) -> Result<(), StorageError> {
    {
        let mut code = tx.open_table(CODE).map_err(backend)?;
        for (hash, bytes) in blocks.iter().flat_map(|(_, diff)| diff.code.iter()) {
            if code.get(hash.as_slice()).map_err(backend)?.is_none() {
                code.insert(hash.as_slice(), bytes.as_ref())
                    .map_err(backend)?;
            }
        }
    }
    {
        let mut journal = tx.open_table(JOURNAL).map_err(backend)?;
        for (block, _) in blocks {
            journal.remove(*block).map_err(backend)?;
        }
    }
    let mut meta = tx.open_table(META).map_err(backend)?;
    meta.insert("applied", through.to_be_bytes().as_slice())
        .map_err(backend)?;
    raise_oldest(&mut meta, through)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RedbStore, StoreOptions};
    use alloy_primitives::{Address, U256};
    use alloy_trie::EMPTY_ROOT_HASH;
    use altlayer_core::{
        primitives::{Block, Header},
        state::WorldState,
        storage::{ACCOUNT_TRIE, BlockCommit, MemoryStore, StateStore},
    };
    use nybbles::Nibbles;

    fn addr(i: u8) -> Address {
        Address::with_last_byte(i)
    }

    fn commit(store: &dyn StateStore, state: &mut WorldState, parent: &Header) -> Header {
        let header = Header {
            height: parent.height + 1,
            parent_hash: parent.hash(),
            state_root: state.state_root().unwrap(),
            transactions_root: EMPTY_ROOT_HASH,
            receipts_root: EMPTY_ROOT_HASH,
            ..Header::default()
        };
        let block = Block {
            header: header.clone(),
            transactions: vec![],
        };
        let diff = state.take_diff().unwrap();
        store
            .commit(BlockCommit {
                block: &block,
                hash: block.hash(),
                senders: &[],
                receipts: &[],
                state: &diff,
            })
            .unwrap();
        state.stand_on(header.height);
        header
    }

    fn genesis(store: &dyn StateStore) -> Header {
        let mut state = WorldState::new();
        state.set_balance(addr(1), U256::from(7)).unwrap();
        let header = Header {
            state_root: state.state_root().unwrap(),
            transactions_root: EMPTY_ROOT_HASH,
            receipts_root: EMPTY_ROOT_HASH,
            ..Header::default()
        };
        let block = Block {
            header: header.clone(),
            transactions: vec![],
        };
        store
            .commit(BlockCommit {
                block: &block,
                hash: header.hash(),
                senders: &[],
                receipts: &[],
                state: &state.genesis_diff().unwrap(),
            })
            .unwrap();
        header
    }

    fn same_reads(a: &dyn StateStore, b: &dyn StateStore, at: u64) {
        for i in 0..14u8 {
            assert_eq!(
                a.account(at, &addr(i)),
                b.account(at, &addr(i)),
                "{i} at {at}"
            );
            for slot in 0..3u8 {
                let slot = U256::from(slot);
                assert_eq!(
                    a.storage(at, &addr(i), &slot),
                    b.storage(at, &addr(i), &slot),
                    "{i} {slot} at {at}"
                );
            }
        }
        assert_eq!(
            a.trie_node(at, &ACCOUNT_TRIE, &Nibbles::new()),
            b.trie_node(at, &ACCOUNT_TRIE, &Nibbles::new())
        );
    }

    /// A crash half way through an apply: a store reopened on the file reads every block it
    /// keeps as the reference store does, refuses the blocks the apply began to overwrite
    /// (even after an unwind brings the head back), passes its check, and goes on to apply
    /// the same blocks again.
    #[test]
    fn an_apply_cut_short_by_a_crash_leaves_every_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let options = |apply_every| StoreOptions {
            cache_bytes: 8 << 20,
            history: Some(6),
            apply_every,
        };
        // No apply of its own: the test cuts one short.
        let store = Arc::new(RedbStore::open(dir.path(), options(1_000)).unwrap());
        let reference = Arc::new(MemoryStore::new(6));
        let g = genesis(&*store);
        genesis(&*reference);
        let mut on_redb = WorldState::stored(store.clone(), 0, g.state_root);
        let mut on_reference = WorldState::stored(reference.clone(), 0, g.state_root);
        let (mut head_r, mut head_m) = (g.clone(), g);
        for block in 1..=12u8 {
            for state in [&mut on_redb, &mut on_reference] {
                state.set_balance(addr(block), U256::from(block)).unwrap();
                state
                    .set_balance(addr(13), U256::from(100 + block))
                    .unwrap();
                state
                    .set_storage(addr(13), U256::from(block % 3), U256::from(block))
                    .unwrap();
                // Account 0 is first written by block 6, the last block applied: its key
                // sorts first, into the slice the crash leaves written.
                if block == 6 {
                    state.set_balance(addr(0), U256::from(6)).unwrap();
                }
            }
            head_r = commit(&*store, &mut on_redb, &head_r);
            head_m = commit(&*reference, &mut on_reference, &head_m);
            assert_eq!(head_r, head_m);
        }
        // Blocks 1 to 6 applied (12 less the history kept), one slice of three keys written.
        let (blocks, transactions) = {
            let layers = store.layers();
            let blocks: Vec<_> = layers
                .blocks
                .range(..=6)
                .map(|(h, d)| (*h, Arc::clone(d)))
                .collect();
            (blocks, layers.block_transactions_through(6))
        };
        apply(
            &store.db,
            &Committing::default(),
            &blocks,
            &transactions,
            6,
            3,
            Some(1),
        )
        .unwrap();
        drop((on_redb, blocks));
        drop(store);

        let store = Arc::new(RedbStore::open(dir.path(), options(1)).unwrap());
        assert_eq!(
            store.snapshot().applied,
            0,
            "the journal still holds every block"
        );
        for at in 6..=12 {
            same_reads(&*store, &*reference, at);
        }
        let report = store.check().unwrap();
        assert!(report.is_ok(), "{:?}", report.problems);
        // Back to block 8: block 5 stays out of reach (account 0's value there is not in the
        // tables any more, block 6's is).
        store.unwind(8).unwrap();
        reference.unwind(8).unwrap();
        assert_eq!(
            store.account(5, &addr(0)),
            Err(StorageError::Pruned { at: 5, oldest: 6 })
        );
        for at in 6..=8 {
            same_reads(&*store, &*reference, at);
        }
        // The next blocks apply again, on the apply's thread, from block 6 at least.
        let header = store.header(8).unwrap().unwrap();
        let mut on_redb = WorldState::stored(store.clone(), 8, header.state_root);
        let mut on_reference = WorldState::stored(reference.clone(), 8, header.state_root);
        let (mut head_r, mut head_m) = (header.clone(), header);
        for block in 9..=11u8 {
            for state in [&mut on_redb, &mut on_reference] {
                state.set_balance(addr(block), U256::from(1_000)).unwrap();
            }
            head_r = commit(&*store, &mut on_redb, &head_r);
            head_m = commit(&*reference, &mut on_reference, &head_m);
        }
        assert!(store.stats().unwrap().applied >= 6);
        for at in 6..=11 {
            same_reads(&*store, &*reference, at);
        }
        assert!(store.check().unwrap().is_ok());
    }
}
