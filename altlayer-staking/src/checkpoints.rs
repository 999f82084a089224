//! Values recorded by height, so weights can be read at any past height.

use serde::{Deserialize, Serialize};

/// A value's history: `(height, value)` pairs in increasing height, each value holding from
/// its height until the next entry. Writes happen at the current height only, so the history
/// is append-only but for the last entry, and a lookup is a binary search.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoints<T> {
    entries: Vec<(u64, T)>,
}

impl<T: Clone + Default + PartialEq> Checkpoints<T> {
    /// Records `value` from `height` on. A later write at the same height replaces the earlier;
    /// a write equal to the current value records nothing.
    ///
    /// Heights must not decrease; the owner of the history (the staking state machine) only
    /// writes at its current height, which only moves forward.
    pub fn record(&mut self, height: u64, value: T) {
        match self.entries.last_mut() {
            Some((last, current)) if *last == height => *current = value,
            Some((_, current)) if *current == value => {}
            None if value == T::default() => {}
            _ => {
                debug_assert!(self.entries.last().is_none_or(|(h, _)| *h < height));
                self.entries.push((height, value));
            }
        }
    }

    /// The value at `height` (the default before the first entry).
    pub fn at(&self, height: u64) -> T {
        let index = self.entries.partition_point(|(h, _)| *h <= height);
        index
            .checked_sub(1)
            .map(|i| self.entries[i].1.clone())
            .unwrap_or_default()
    }

    /// The latest value.
    pub fn latest(&self) -> T {
        self.entries
            .last()
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// Number of recorded changes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was ever recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_hold_from_their_height_until_the_next() {
        let mut c = Checkpoints::<u64>::default();
        assert_eq!(c.at(5), 0);
        c.record(3, 10);
        c.record(3, 11);
        c.record(7, 11);
        c.record(9, 4);
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c.at(2), c.at(3), c.at(8), c.at(9), c.at(1_000)),
            (0, 11, 11, 4, 4)
        );
        assert_eq!(c.latest(), 4);
    }
}
