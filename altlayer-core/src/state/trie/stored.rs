//! A trie whose nodes live in a store: loaded on the paths an update walks, recorded by path
//! when they change, and dropped from memory again below a depth.
//!
//! Nodes are stored by path (geth's path scheme, reth's layout): the node at a path is
//! overwritten when it changes and deleted when it goes, so the store holds exactly one trie
//! and needs no garbage collection. A stub in memory carries its node's hash, which a node
//! loaded in its place must hash to: a store that answers with the wrong bytes is caught.

use super::*;
use crate::storage::StorageError;
use alloy_primitives::map::HashMap;

/// Node writes (`Some`: the node's encoding) and deletions (`None`) of a stored trie, by path,
/// since they were last taken. Later changes to a path replace earlier ones.
#[derive(Clone, Debug, Default)]
pub struct NodeJournal {
    changes: HashMap<Nibbles, Option<Vec<u8>>>,
}

impl NodeJournal {
    pub(super) fn removed(&mut self, path: Nibbles) {
        self.changes.insert(path, None);
    }

    pub(super) fn written(&mut self, nodes: impl IntoIterator<Item = (Nibbles, Option<Vec<u8>>)>) {
        self.changes.extend(nodes);
    }
}

/// Where a stored trie's nodes come from: the node at a path (`None` when the store has
/// none), and the cache of decoded nodes to look in first. Any
/// `Fn(&Nibbles) -> Result<Option<Vec<u8>>, StorageError>` is one, without a cache.
pub trait NodeSource: Sync {
    /// The encoding of the node at `path`, `None` when there is none.
    fn node(&self, path: &Nibbles) -> Result<Option<Vec<u8>>, StorageError>;

    /// Decoded nodes by hash, looked in before [`NodeSource::node`] (none by default).
    fn cache(&self) -> Option<&NodeCache> {
        None
    }
}

impl<F> NodeSource for F
where
    F: Fn(&Nibbles) -> Result<Option<Vec<u8>>, StorageError> + Sync,
{
    fn node(&self, path: &Nibbles) -> Result<Option<Vec<u8>>, StorageError> {
        self(path)
    }
}

/// A [`NodeSource`] that looks in a [`NodeCache`] before reading.
#[derive(Clone, Copy)]
pub struct Cached<'a, F> {
    /// Reads a node by path.
    pub read: F,
    /// Where decoded nodes are kept.
    pub cache: Option<&'a NodeCache>,
}

impl<F> NodeSource for Cached<'_, F>
where
    F: Fn(&Nibbles) -> Result<Option<Vec<u8>>, StorageError> + Sync,
{
    fn node(&self, path: &Nibbles) -> Result<Option<Vec<u8>>, StorageError> {
        (self.read)(path)
    }

    fn cache(&self) -> Option<&NodeCache> {
        self.cache
    }
}

/// How a stored trie loads a node.
pub type LoadNode<'a> = dyn NodeSource + 'a;

impl MerkleTrie {
    /// The trie with root `root` whose nodes are in a store: only the root is known (as a
    /// stub) until [`MerkleTrie::load_path`] brings in the nodes an update needs. Its changes
    /// are recorded for [`MerkleTrie::take_node_changes`].
    pub fn stored(root: B256) -> Self {
        let cell = if root == EMPTY_ROOT_HASH {
            Cell::new(Node::Empty)
        } else {
            let rlp = RlpNode::word_rlp(&root);
            Cell {
                node: Node::Stub(rlp.clone()),
                rlp: Some(rlp),
            }
        };
        Self {
            root: cell,
            len: 0,
            journal: Some(Box::default()),
            loaded: 0,
        }
    }

    /// Whether the trie's nodes live in a store ([`MerkleTrie::stored`]).
    pub const fn is_stored(&self) -> bool {
        self.journal.is_some()
    }

    /// Loads every stub on `key`'s path, and for a removal the one sibling a branch may fold
    /// into, so that inserting or removing `key` meets no stub. Nothing changes on an error.
    pub fn load_path(
        &mut self,
        key: B256,
        removal: bool,
        load: &LoadNode<'_>,
    ) -> Result<(), StorageError> {
        let path = Nibbles::unpack_array(&key.0);
        load_path(
            &mut self.root,
            path,
            Nibbles::new(),
            removal,
            load,
            &mut self.loaded,
        )
    }

    /// Nodes loaded from the store (or its cache) since the trie was made or last evicted:
    /// how much of it memory holds beyond its top.
    pub const fn loaded(&self) -> usize {
        self.loaded
    }

    /// The node changes recorded since the last call, by path (`None`: delete the node). Call
    /// after [`MerkleTrie::root`], which records the nodes it hashes.
    pub fn take_node_changes(&mut self) -> Vec<(Nibbles, Option<Vec<u8>>)> {
        self.journal
            .as_deref_mut()
            .map(|journal| journal.changes.drain().collect())
            .unwrap_or_default()
    }

    /// Forgets recorded changes (a block that failed and was put back).
    pub fn clear_node_changes(&mut self) {
        if let Some(journal) = self.journal.as_deref_mut() {
            journal.changes.clear();
        }
    }

    /// Every node that stands alone (the root, and each node of 32 bytes or more) with its
    /// path: what a store holds of this trie. Hashes the trie first; stubs are left out.
    pub fn nodes_by_path(&mut self) -> Vec<(Nibbles, Vec<u8>)> {
        self.root();
        let mut out = Vec::new();
        walk(&self.root, Nibbles::new(), &mut out);
        out
    }

    /// Replaces every hashed subtree deeper than `keep` nibbles by a stub, so that memory
    /// holds the top of the trie and the store the rest, but for the paths to the `kept` keys
    /// (sorted): what the next block is likely to touch again. The subtrees go into `cache`,
    /// where the next block finds them. Unhashed changes stay.
    pub fn evict(&mut self, keep: usize, kept: &[B256], cache: Option<&NodeCache>) {
        self.loaded = evict(&mut self.root, 0, keep, kept, cache);
    }

    /// Puts the whole trie, as far as it is loaded and hashed, into `cache` under its root
    /// hash (a storage trie whose account leaves memory).
    pub fn cache_into(&self, cache: &NodeCache) {
        if let Some(hash) = self.root.rlp.as_ref().and_then(RlpNode::as_hash)
            && !matches!(self.root.node, Node::Stub(_) | Node::Empty)
        {
            cache.insert(hash, Arc::new(self.root.clone()));
        }
    }
}

/// Replaces the stub `cell` (at `prefix`) by the node the store holds there, counting it in
/// `count`.
fn load_stub(
    cell: &mut Cell,
    prefix: &Nibbles,
    load: &LoadNode<'_>,
    count: &mut usize,
) -> Result<(), StorageError> {
    let Node::Stub(rlp) = &cell.node else {
        return Ok(());
    };
    let rlp = rlp.clone();
    let expected = rlp.as_hash().unwrap_or_else(|| keccak256(rlp.as_slice()));
    let cache = load.cache();
    if let Some(hit) = cache.and_then(|cache| cache.get(&expected)) {
        *cell = Cell::clone(&hit);
        *count += 1;
        return Ok(());
    }
    let bytes = load.node(prefix)?.ok_or_else(|| {
        StorageError::Corrupt(format!(
            "trie node {expected} at path {prefix:?} is missing"
        ))
    })?;
    if keccak256(&bytes) != expected {
        return Err(StorageError::Corrupt(format!(
            "trie node at path {prefix:?} does not hash to {expected}"
        )));
    }
    let mut loaded = witness::decode_cell(&bytes, &NodeMap::default(), prefix.len())
        .map_err(|e| StorageError::Corrupt(format!("trie node at path {prefix:?}: {e}")))?;
    loaded.rlp = Some(rlp);
    if let Some(cache) = cache {
        cache.insert(expected, Arc::new(loaded.clone()));
    }
    *cell = loaded;
    *count += 1;
    Ok(())
}

fn load_path(
    cell: &mut Cell,
    path: Nibbles,
    prefix: Nibbles,
    removal: bool,
    load: &LoadNode<'_>,
    loaded: &mut usize,
) -> Result<(), StorageError> {
    load_stub(cell, &prefix, load, loaded)?;
    match &mut cell.node {
        Node::Extension { key, child } if path.starts_with(key) => {
            // The update copies the nodes on its path anyway, so copying them here is free.
            let below = prefix.join(key);
            load_path(
                Arc::make_mut(child),
                path.slice(key.len()..),
                below,
                removal,
                load,
                loaded,
            )
        }
        Node::Branch { children } if !path.is_empty() => {
            let nibble = path.get_unchecked(0) as usize;
            if removal && children[nibble].is_some() {
                // Removing the key may leave this branch one child, which it then folds into:
                // that child must be known.
                let mut others = (0..16).filter(|&i| i != nibble && children[i].is_some());
                if let (Some(other), None) = (others.next(), others.next())
                    && let Some(sibling) = children[other].as_mut()
                    && matches!(sibling.node, Node::Stub(_))
                {
                    let mut at = prefix;
                    at.push(other as u8);
                    load_stub(Arc::make_mut(sibling), &at, load, loaded)?;
                }
            }
            match children[nibble].as_mut() {
                Some(child) => {
                    let mut below = prefix;
                    below.push(nibble as u8);
                    load_path(
                        Arc::make_mut(child),
                        path.slice(1..),
                        below,
                        removal,
                        load,
                        loaded,
                    )
                }
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// Loads the stub at `target` (and every stub on the way to it) below `cell`, at `prefix`.
pub(super) fn load_at(
    cell: &mut Cell,
    target: &Nibbles,
    prefix: Nibbles,
    load: &LoadNode<'_>,
    loaded: &mut usize,
) -> Result<(), StorageError> {
    load_stub(cell, &prefix, load, loaded)?;
    if prefix.len() >= target.len() {
        return Ok(());
    }
    match &mut cell.node {
        Node::Extension { key, child } if target.slice(prefix.len()..).starts_with(key) => {
            let below = prefix.join(key);
            load_at(Arc::make_mut(child), target, below, load, loaded)
        }
        Node::Branch { children } => {
            let nibble = target.get_unchecked(prefix.len());
            match children[nibble as usize].as_mut() {
                Some(child) => {
                    let mut below = prefix;
                    below.push(nibble);
                    load_at(Arc::make_mut(child), target, below, load, loaded)
                }
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// The nibble of `key` at `depth`.
fn nibble(key: &B256, depth: usize) -> u8 {
    let byte = key[depth / 2];
    if depth.is_multiple_of(2) {
        byte >> 4
    } else {
        byte & 0x0f
    }
}

/// Evicts below `cell` (at `depth`), keeping the paths to the `kept` keys (sorted, all under
/// `cell`'s path); returns the nodes deeper than `keep` left in memory.
fn evict(
    cell: &mut Cell,
    depth: usize,
    keep: usize,
    kept: &[B256],
    cache: Option<&NodeCache>,
) -> usize {
    let stub = |child: &mut Arc<Cell>, depth: usize| {
        if depth > keep
            && let Some(rlp) = &child.rlp
            && let Some(hash) = rlp.as_hash()
            && !matches!(child.node, Node::Stub(_))
        {
            if let Some(cache) = cache {
                cache.insert(hash, Arc::clone(child));
            }
            *child = Arc::new(Cell {
                node: Node::Stub(rlp.clone()),
                rlp: Some(rlp.clone()),
            });
            return true;
        }
        false
    };
    let held = |child: &Cell, depth: usize| {
        usize::from(depth > keep && !matches!(child.node, Node::Stub(_)))
    };
    match &mut cell.node {
        Node::Extension { key, child } => {
            let below = depth + key.len();
            let under: Vec<B256> = kept
                .iter()
                .filter(|k| (0..key.len()).all(|i| nibble(k, depth + i) == key.get_unchecked(i)))
                .copied()
                .collect();
            if (!under.is_empty() || !stub(child, below)) && !matches!(child.node, Node::Stub(_)) {
                return held(child, below)
                    + evict(Arc::make_mut(child), below, keep, &under, cache);
            }
            0
        }
        Node::Branch { children } => {
            let mut count = 0;
            let mut rest = kept;
            for (i, child) in children.iter_mut().enumerate() {
                let at = rest.partition_point(|k| nibble(k, depth) <= i as u8);
                let (under, after) = rest.split_at(at);
                rest = after;
                let Some(child) = child else { continue };
                if (!under.is_empty() || !stub(child, depth + 1))
                    && matches!(child.node, Node::Branch { .. } | Node::Extension { .. })
                {
                    count += held(child, depth + 1)
                        + evict(Arc::make_mut(child), depth + 1, keep, under, cache);
                } else {
                    count += held(child, depth + 1);
                }
            }
            count
        }
        _ => 0,
    }
}

fn walk(cell: &Cell, path: Nibbles, out: &mut Vec<(Nibbles, Vec<u8>)>) {
    if let Some(bytes) = witness::encode_node(cell)
        && (path.is_empty() || bytes.len() >= 32)
    {
        out.push((path, bytes));
    }
    match &cell.node {
        Node::Extension { key, child } => walk(child, path.join(key), out),
        Node::Branch { children } => {
            for (i, child) in children.iter().enumerate() {
                if let Some(child) = child {
                    let mut below = path;
                    below.push(i as u8);
                    walk(child, below, out);
                }
            }
        }
        _ => {}
    }
}
