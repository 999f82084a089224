//! Reading the chain from a [`ChainStore`]: failures logged, the log index intersected.

use crate::provider::LogCriteria;
use altlayer_core::storage::{ChainStore, LogKey, StorageError};
use std::collections::BTreeSet;

/// A store's answer, with its failure logged: the RPC then answers as for what is not there.
pub(super) fn stored<T>(result: Result<Option<T>, StorageError>) -> Option<T> {
    result.unwrap_or_else(|error| {
        tracing::error!(%error, "the chain could not be read from the store");
        None
    })
}

/// The heights in `from..=to` that may match `criteria`, from the store's log index: per
/// criterion the union of its keys' heights, and the intersection over criteria. `None` when
/// nothing narrows the range (or the store failed: the RPC then scans with the blooms).
pub(super) fn store_log_blocks(
    store: &dyn ChainStore,
    criteria: &LogCriteria,
    from: u64,
    to: u64,
) -> Option<Vec<u64>> {
    let union = |keys: &mut dyn Iterator<Item = LogKey>| -> Result<BTreeSet<u64>, StorageError> {
        let mut heights = BTreeSet::new();
        for key in keys {
            heights.extend(store.log_heights(&key, from, to)?);
        }
        Ok(heights)
    };
    let mut sets = Vec::new();
    let found = (|| {
        if !criteria.addresses.is_empty() {
            sets.push(union(
                &mut criteria.addresses.iter().map(|a| LogKey::Address(*a)),
            )?);
        }
        for position in &criteria.topics {
            if !position.is_empty() {
                sets.push(union(&mut position.iter().map(|t| LogKey::Topic(*t)))?);
            }
        }
        Ok::<_, StorageError>(())
    })();
    if let Err(error) = found {
        tracing::error!(%error, "the log index could not be read; scanning blooms instead");
        return None;
    }
    intersect(sets)
}

/// The heights in every set (each set: the heights that may match one criterion); `None`
/// for no sets, when nothing narrows the range.
pub(super) fn intersect(mut sets: Vec<BTreeSet<u64>>) -> Option<Vec<u64>> {
    sets.sort_by_key(BTreeSet::len);
    let mut sets = sets.into_iter();
    let first = sets.next()?;
    let rest: Vec<BTreeSet<u64>> = sets.collect();
    Some(
        first
            .into_iter()
            .filter(|h| rest.iter().all(|set| set.contains(h)))
            .collect(),
    )
}
