//! `altlayer db`: what a node's database holds, whether it is whole, and pruning it.
//!
//! Each command opens an existing database (it never creates one) while the node is stopped:
//! redb lets one process at a time hold the file, so a running node's database is refused
//! with redb's "already open" error rather than read half-written. Opening writes nothing but
//! redb's own bookkeeping (and drops a genesis import cut short, as the node would).

use altlayer_core::storage::StorageError;
use altlayer_storage::{OpenError, RedbStore, StoreOptions};
use std::{io::Write, path::Path};

/// Why a `db` command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The database cannot be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// Reading or writing it failed.
    #[error("{0}")]
    Storage(#[from] StorageError),
    /// `db check` found problems (listed on the output).
    #[error("{path}: {problems} problems found")]
    Damaged {
        /// The database file.
        path: String,
        /// How many.
        problems: usize,
    },
    /// The output could not be written.
    #[error("output: {0}")]
    Io(#[from] std::io::Error),
}

fn open(dir: &Path) -> Result<RedbStore, DbError> {
    // History `None`: open to read everything there is.
    Ok(RedbStore::open_existing(
        dir,
        StoreOptions {
            history: None,
            ..StoreOptions::default()
        },
    )?)
}

/// Bytes as KiB, MiB or GiB.
fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.2} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// `altlayer db stats DIR`: sizes, heights and counts.
pub fn stats(dir: &Path, out: &mut dyn Write) -> Result<(), DbError> {
    let store = open(dir)?;
    let stats = store.stats()?;
    writeln!(
        out,
        "database {} ({})",
        store.path().display(),
        size(stats.file_bytes)
    )?;
    match stats.head {
        None => writeln!(out, "head     none (empty)")?,
        Some(head) => writeln!(
            out,
            "head     block {} {} state root {}",
            head.height, head.hash, head.state_root
        )?,
    }
    if let Some(genesis) = stats.genesis {
        writeln!(out, "genesis  {genesis}")?;
    }
    writeln!(
        out,
        "state    readable from block {}; tables at block {}, later blocks in the journal",
        stats.oldest_state, stats.applied
    )?;
    for table in &stats.tables {
        writeln!(
            out,
            "table    {:<16} {:>12} entries {:>12}",
            table.name,
            table.entries,
            size(table.stored_bytes)
        )?;
    }
    Ok(())
}

/// `altlayer db check DIR`: the state root recomputed from the stored state and from the
/// stored trie against the head's, and the indexes against the blocks. Problems are listed,
/// then the command fails.
pub fn check(dir: &Path, out: &mut dyn Write) -> Result<(), DbError> {
    let store = open(dir)?;
    let started = std::time::Instant::now();
    let report = store.check()?;
    let Some(head) = report.head else {
        writeln!(out, "{}: empty", store.path().display())?;
        return Ok(());
    };
    writeln!(
        out,
        "head     block {} state root {}",
        head.height, head.state_root
    )?;
    let root = |root: Option<alloy_primitives::B256>| root.map_or("-".into(), |r| r.to_string());
    writeln!(
        out,
        "state    {} accounts, {} slots: root {}",
        report.accounts,
        report.slots,
        root(report.flat_root)
    )?;
    writeln!(
        out,
        "trie     {} nodes walked: root {}",
        report.trie_nodes,
        root(report.trie_root)
    )?;
    writeln!(
        out,
        "chain    {} blocks, {} transactions indexed, {} log index entries",
        report.blocks, report.transactions, report.log_entries
    )?;
    for problem in &report.problems {
        writeln!(out, "problem  {problem}")?;
    }
    if !report.is_ok() {
        return Err(DbError::Damaged {
            path: store.path().display().to_string(),
            problems: report.problems.len(),
        });
    }
    writeln!(out, "ok       ({:.1} s)", started.elapsed().as_secs_f64())?;
    Ok(())
}

/// `altlayer db prune DIR --history N`: deletes the state history of blocks more than `N`
/// behind the head and gives the space back.
pub fn prune(dir: &Path, history: u64, out: &mut dyn Write) -> Result<(), DbError> {
    let store = open(dir)?;
    let head = altlayer_core::storage::StateStore::head(&store)?.map_or(0, |h| h.height);
    let mut before = head.saturating_sub(history);
    // Never the history the rollup's records still need: its batches' pre-states.
    if let Some(record) = altlayer_core::storage::ProtocolStore::record(&store, "rollup")? {
        let needed = altlayer_core::rollup::recorded_oldest_state(&record)
            .map_err(|e| DbError::Storage(StorageError::Corrupt(e.to_string())))?;
        if needed < before {
            writeln!(
                out,
                "keeping history from block {needed}: the rollup's batches not final yet need it"
            )?;
            before = needed;
        }
    }
    let path = store.path().display().to_string();
    let report = store.prune(before)?;
    writeln!(
        out,
        "{path}: {} history entries before block {before} deleted; {} -> {}",
        report.history_entries,
        size(report.bytes_before),
        size(report.bytes_after)
    )?;
    Ok(())
}
