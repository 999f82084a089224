//! [`NodeCache`]: decoded trie nodes kept in memory by hash, shared by every state over one
//! store.

use super::{Arc, B256, Cell, Node};
use alloy_primitives::map::B256Map;
use std::sync::{Mutex, PoisonError};

/// Decoded trie nodes by hash, bounded in memory.
///
/// A state over a store lets go of the nodes below the resident top of its trie when it holds
/// too much, and a replica opened at a block starts with its root alone; without a cache, the
/// next block loads every node on its paths again (a read, a hash check and a decode per
/// node, thousands a block). Geth keeps a "clean cache" of trie nodes for the same reason.
/// Nodes are keyed by their hash, so an entry can never be stale: a block that changes a node
/// gives it a new hash, a revert brings back the old one, and replicas at different blocks
/// share the nodes their tries have in common.
///
/// The memory is bounded by two generations, each at most half the budget: entries go into
/// the current one; when it is full, the previous one is dropped and the current one takes
/// its place; an entry found in the previous one moves back to the current. What is used
/// block after block stays; what is not leaves within two generations. O(1) per operation,
/// no per-entry bookkeeping.
///
/// A store hands one to the states over it ([`crate::storage::StateStore::node_cache`]).
/// Subtrees share their nodes with the tries that loaded them (nodes are copied on write),
/// so an entry costs memory only while those tries let go of it.
pub struct NodeCache {
    /// Bytes of the current generation at most (half the budget).
    half: usize,
    inner: Mutex<Generations>,
}

/// Subtrees by hash, with their weights.
type Generation = B256Map<(Arc<Cell>, usize)>;

#[derive(Default)]
struct Generations {
    current: Generation,
    previous: Generation,
    /// Bytes held by `current`.
    weight: usize,
    /// Bytes held by `previous`.
    previous_weight: usize,
    hits: u64,
    misses: u64,
}

/// What a [`NodeCache`] holds and how often it answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeCacheStats {
    /// Subtrees held (each a node and whatever of its children was loaded with it).
    pub entries: usize,
    /// Estimated bytes held.
    pub bytes: usize,
    /// The budget, in bytes.
    pub budget: usize,
    /// Look-ups answered from memory.
    pub hits: u64,
    /// Look-ups that went to the store.
    pub misses: u64,
}

impl std::fmt::Debug for NodeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCache")
            .field("stats", &self.stats())
            .finish()
    }
}

impl NodeCache {
    /// A cache holding at most about `budget` bytes of decoded nodes (an estimate from the
    /// nodes' shapes; allocator overhead not counted).
    pub fn new(budget: usize) -> Self {
        Self {
            half: budget / 2,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        // A panic while holding the lock leaves maps that are still valid caches.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The budget, in bytes.
    pub const fn budget(&self) -> usize {
        self.half * 2
    }

    /// What the cache holds and how often it answered.
    pub fn stats(&self) -> NodeCacheStats {
        let g = self.lock();
        NodeCacheStats {
            entries: g.current.len() + g.previous.len(),
            bytes: g.weight + g.previous_weight,
            budget: self.budget(),
            hits: g.hits,
            misses: g.misses,
        }
    }

    /// The subtree whose root hashes to `hash`, if held.
    pub(super) fn get(&self, hash: &B256) -> Option<Arc<Cell>> {
        let mut g = self.lock();
        if let Some((cell, _)) = g.current.get(hash) {
            let cell = Arc::clone(cell);
            g.hits += 1;
            return Some(cell);
        }
        match g.previous.remove(hash) {
            Some((cell, weight)) => {
                g.hits += 1;
                g.previous_weight -= weight;
                let dropped = g.put(self.half, *hash, Arc::clone(&cell), weight);
                drop(g);
                let_go(dropped);
                Some(cell)
            }
            None => {
                g.misses += 1;
                None
            }
        }
    }

    /// Keeps `cell`, a hashed subtree whose root hashes to `hash`, replacing what was held
    /// under that hash (the same node, perhaps with fewer of its children loaded).
    pub(super) fn insert(&self, hash: B256, cell: Arc<Cell>) {
        let weight = weigh(&cell);
        if weight > self.half {
            return;
        }
        let dropped = self.lock().put(self.half, hash, cell, weight);
        let_go(dropped);
    }
}

/// A generation the cache dropped: freed outside the lock, aside ([`drop_aside`]).
fn let_go(generation: Option<Generation>) {
    if let Some(generation) = generation.filter(|g| !g.is_empty()) {
        drop_aside(generation);
    }
}

/// Frees `what` on a thread of its own (where it is, if no thread starts): tens of megabytes
/// of small nodes or accounts let go of at once took the block that did it a hundred
/// milliseconds.
pub(crate) fn drop_aside<T: Send + 'static>(what: T) {
    let _ = std::thread::Builder::new()
        .name("altlayer-free".into())
        .spawn(move || drop(what));
}

impl Generations {
    /// Puts `cell` in the current generation; returns the previous one when the current one
    /// took its place (for the caller to let go of outside the lock).
    fn put(
        &mut self,
        half: usize,
        hash: B256,
        cell: Arc<Cell>,
        weight: usize,
    ) -> Option<Generation> {
        if let Some((_, old)) = self.current.remove(&hash) {
            self.weight -= old;
        }
        let mut dropped = None;
        if self.weight + weight > half {
            dropped = Some(std::mem::replace(
                &mut self.previous,
                std::mem::take(&mut self.current),
            ));
            self.previous_weight = std::mem::take(&mut self.weight);
        }
        self.weight += weight;
        self.current.insert(hash, (cell, weight));
        dropped
    }
}

/// Estimated bytes of a subtree in memory: each cell behind its `Arc`, a leaf's value, a
/// branch's child array, and whatever is loaded below.
fn weigh(cell: &Cell) -> usize {
    const CELL: usize = std::mem::size_of::<Cell>() + 16;
    CELL + match &cell.node {
        Node::Leaf { value, .. } => value.len(),
        Node::Extension { child, .. } => weigh(child),
        Node::Branch { children } => {
            16 * std::mem::size_of::<Option<Arc<Cell>>>()
                + children.iter().flatten().map(|c| weigh(c)).sum::<usize>()
        }
        Node::Empty | Node::Stub(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_trie::nodes::RlpNode;

    fn leaf(byte: u8) -> Arc<Cell> {
        Arc::new(Cell::new(Node::Leaf {
            key: nybbles::Nibbles::unpack([byte]),
            value: vec![byte; 100],
        }))
    }

    #[test]
    fn entries_leave_within_two_generations_and_what_is_used_stays() {
        let one = weigh(&leaf(0));
        // Room for four leaves per generation.
        let cache = NodeCache::new(one * 8);
        let hash = |i: u8| B256::repeat_byte(i);
        for i in 0..4 {
            cache.insert(hash(i), leaf(i));
        }
        assert_eq!(cache.stats().entries, 4);
        // The fifth starts a new generation; the first four are now the previous one.
        cache.insert(hash(4), leaf(4));
        assert!(
            cache.get(&hash(0)).is_some(),
            "moved back to the current one"
        );
        for i in 5..8 {
            cache.insert(hash(i), leaf(i));
        }
        // Another turn: 1, 2, 3 (never used again) are gone, 0 stayed.
        assert!(cache.get(&hash(0)).is_some());
        for i in 1..4 {
            assert!(cache.get(&hash(i)).is_none(), "{i} should have left");
        }
        let stats = cache.stats();
        assert!(stats.bytes <= stats.budget, "{stats:?}");
        assert_eq!((stats.hits, stats.misses), (2, 3));
    }

    #[test]
    fn a_subtree_larger_than_half_the_budget_is_not_kept() {
        let cache = NodeCache::new(weigh(&leaf(0)));
        cache.insert(B256::ZERO, leaf(0));
        assert_eq!(cache.stats().entries, 0);
    }

    #[test]
    fn a_stub_weighs_its_cell_only() {
        let stub = Cell::new(Node::Stub(RlpNode::word_rlp(&B256::ZERO)));
        assert_eq!(weigh(&stub), std::mem::size_of::<Cell>() + 16);
    }
}
