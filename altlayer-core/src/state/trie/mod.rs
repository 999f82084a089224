//! An in-memory Merkle-Patricia trie that keeps every node's hash between updates.
//!
//! Ethereum's account and storage tries are keyed by 32-byte keccak hashes, so every key has 64
//! nibbles and no key is a prefix of another: branch nodes never carry values. This trie relies on
//! that. Each node caches its RLP reference (its encoding when shorter than 32 bytes, otherwise
//! the hash of it); an update clears the cache along the one path it walks, and [`MerkleTrie::root`]
//! re-hashes only nodes whose cache was cleared. The cost of a root after `k` updates is therefore
//! `O(k * depth)` hashes, whatever the size of the trie (depth grows as `log16(n)`).
//!
//! Node encoding is delegated to alloy-trie's node types, so the bytes hashed are exactly
//! Ethereum's; the property test in this module checks every root against alloy-trie's
//! `HashBuilder` computing it from scratch.
//!
//! alloy-trie has no incremental trie of its own (reth's sparse trie is not published), which is
//! why this one exists.

use alloy_primitives::{B256, keccak256};
use alloy_trie::{
    EMPTY_ROOT_HASH, TrieMask,
    nodes::{BranchNodeRef, ExtensionNodeRef, LeafNodeRef, RlpNode},
};
use nybbles::Nibbles;
use rayon::prelude::*;
use std::sync::Arc;

mod cache;
mod stored;
mod witness;

pub(crate) use cache::drop_aside;
pub use cache::{NodeCache, NodeCacheStats};
pub use stored::{Cached, LoadNode, NodeJournal, NodeSource};
pub use witness::{NodeMap, PartialTrie, WitnessError, node_map};

/// A node and its cached RLP reference (`None` when the node changed since it was last hashed).
#[derive(Clone, Debug)]
struct Cell {
    node: Node,
    rlp: Option<RlpNode>,
}

#[derive(Clone, Debug)]
enum Node {
    Empty,
    Leaf {
        key: Nibbles,
        value: Vec<u8>,
    },
    Extension {
        key: Nibbles,
        child: Arc<Cell>,
    },
    Branch {
        children: Box<[Option<Arc<Cell>>; 16]>,
    },
    /// A subtree known only by its reference: what a witness leaves out. Only a
    /// [`PartialTrie`] has stubs.
    Stub(RlpNode),
}

impl Cell {
    const fn new(node: Node) -> Self {
        Self { node, rlp: None }
    }

    fn boxed(node: Node) -> Arc<Self> {
        Arc::new(Self::new(node))
    }
}

fn empty_children() -> Box<[Option<Arc<Cell>>; 16]> {
    Box::default()
}

/// A Merkle-Patricia trie over 32-byte keys with cached node hashes.
///
/// Subtrees are shared between clones and copied on write: cloning a trie (a replica kept at
/// a batch's pre-state, a checkpoint to rewind to) costs nothing until one of them changes,
/// and a change copies only the nodes on its path.
#[derive(Clone, Debug)]
pub struct MerkleTrie {
    root: Cell,
    len: usize,
    /// Node writes and deletions since they were last taken, by path, for a trie whose nodes
    /// live in a store (`None` for a trie that lives in memory only, which records nothing).
    journal: Option<Box<NodeJournal>>,
    /// Nodes loaded from a store since the trie was made or last evicted.
    loaded: usize,
}

impl Default for MerkleTrie {
    fn default() -> Self {
        Self::new()
    }
}

/// Below this many dirty top-level subtrees, hashing them on one thread is cheaper than rayon.
const PARALLEL_HASH_MIN_DIRTY: usize = 4;

impl MerkleTrie {
    /// An empty trie, whose root is [`EMPTY_ROOT_HASH`].
    pub const fn new() -> Self {
        Self {
            root: Cell::new(Node::Empty),
            len: 0,
            journal: None,
            loaded: 0,
        }
    }

    /// Number of keys in the trie. A stored trie ([`MerkleTrie::stored`]) does not know its
    /// size: it counts the keys added in memory, less those removed, from zero.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether the trie holds no key.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets the value under `key` (already hashed: `keccak256(address)` or `keccak256(slot)`).
    /// An empty value removes the key, as Ethereum tries never store empty values.
    pub fn insert(&mut self, key: B256, value: Vec<u8>) {
        if value.is_empty() {
            self.remove(key);
            return;
        }
        let path = Nibbles::unpack_array(&key.0);
        // A trie in memory has no stubs, and a stored trie loads the stubs on a key's path
        // before it changes it (`MerkleTrie::load_path`), so nothing can be missing.
        if insert(&mut self.root, path, value, Nibbles::new()).unwrap_or(false) {
            self.len += 1;
        }
    }

    /// Removes the value under `key`; returns whether it was there.
    pub fn remove(&mut self, key: B256) -> bool {
        let path = Nibbles::unpack_array(&key.0);
        // Stubs on the way are loaded before (`MerkleTrie::load_path`), so nothing is missing.
        let removed = remove(
            &mut self.root,
            path,
            Nibbles::new(),
            &mut Graveyard(self.journal.as_deref_mut()),
        )
        .unwrap_or(false);
        if removed {
            self.len = self.len.saturating_sub(1);
        }
        removed
    }

    /// The value under `key`, if any.
    pub fn get(&self, key: B256) -> Option<&[u8]> {
        let mut path = Nibbles::unpack_array(&key.0);
        let mut cell = &self.root;
        loop {
            match &cell.node {
                Node::Empty | Node::Stub(_) => return None,
                Node::Leaf { key, value } => return (*key == path).then_some(value.as_slice()),
                Node::Extension { key, child } => {
                    if !path.starts_with(key) {
                        return None;
                    }
                    path = path.slice(key.len()..);
                    cell = child;
                }
                Node::Branch { children } => {
                    let nibble = path.get_unchecked(0);
                    cell = children[nibble as usize].as_deref()?;
                    path = path.slice(1..);
                }
            }
        }
    }

    /// The root hash, re-hashing only the nodes changed since the last call.
    pub fn root(&mut self) -> B256 {
        if let Node::Branch { children } = &mut self.root.node
            && self.root.rlp.is_none()
        {
            // Hash the top-level subtrees on all cores when enough of them changed; below
            // that the fan-out costs more than it saves.
            let dirty = children
                .iter()
                .flatten()
                .filter(|c| c.rlp.is_none())
                .count();
            if dirty >= PARALLEL_HASH_MIN_DIRTY {
                let record = self.journal.is_some();
                let written: Vec<Written> = children
                    .par_iter_mut()
                    .enumerate()
                    .filter_map(|(i, child)| child.as_mut().map(|child| (i, child)))
                    .map(|(i, child)| {
                        let mut buf = Vec::with_capacity(600);
                        let mut written = Vec::new();
                        let path = Nibbles::from_nibbles_unchecked([i as u8]);
                        rlp_of(child, &mut buf, path, record.then_some(&mut written));
                        written
                    })
                    .collect();
                if let Some(journal) = self.journal.as_deref_mut() {
                    journal.written(written.into_iter().flatten());
                }
            }
        }
        let mut written = Vec::new();
        let root = root_hash(
            &mut self.root,
            self.journal.is_some().then_some(&mut written),
        );
        if let Some(journal) = self.journal.as_deref_mut() {
            journal.written(written);
            if matches!(self.root.node, Node::Empty) {
                journal.removed(Nibbles::new());
            }
        }
        root
    }

    /// The root hash as last computed, without hashing; `None` when a change has not been
    /// hashed yet.
    pub fn hashed_root(&self) -> Option<B256> {
        match (&self.root.node, &self.root.rlp) {
            (Node::Empty, _) => Some(EMPTY_ROOT_HASH),
            (_, Some(rlp)) => Some(rlp.as_hash().unwrap_or_else(|| keccak256(rlp.as_slice()))),
            (_, None) => None,
        }
    }

    /// Whether some change has not been hashed yet.
    pub const fn is_dirty(&self) -> bool {
        self.root.rlp.is_none() && !matches!(self.root.node, Node::Empty)
    }
}

/// The hash of the trie under `root` (always hashed, even when its encoding is shorter than
/// 32 bytes), re-hashing only nodes whose cache was cleared.
/// With `written`, every node hashed is recorded there with its path and encoding (the root
/// always, other nodes only when referenced by hash: shorter ones travel inside their parent).
fn root_hash(root: &mut Cell, written: Option<&mut Written>) -> B256 {
    match root.node {
        Node::Empty => EMPTY_ROOT_HASH,
        _ => {
            let mut buf = Vec::with_capacity(600);
            let rlp = rlp_node(root, &mut buf, Nibbles::new(), written);
            rlp.as_hash().unwrap_or_else(|| keccak256(rlp.as_slice()))
        }
    }
}

/// A node a witness left out was needed, at `path` (nibbles from the root).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("trie node at path {path:?} is not in the witness")]
pub struct MissingNode {
    /// Where.
    pub path: Nibbles,
}

/// Inserts `value` at `path` below `cell` (which sits at `prefix`); returns whether the key
/// is new. Fails, before changing anything, when the way down meets a stub.
fn insert(
    cell: &mut Cell,
    path: Nibbles,
    value: Vec<u8>,
    prefix: Nibbles,
) -> Result<bool, MissingNode> {
    if let Node::Stub(_) = cell.node {
        return Err(MissingNode { path: prefix });
    }
    cell.rlp = None;
    Ok(match &mut cell.node {
        Node::Stub(_) => return Err(MissingNode { path: prefix }),
        Node::Empty => {
            cell.node = Node::Leaf { key: path, value };
            true
        }
        Node::Leaf { key, value: old } => {
            if *key == path {
                *old = value;
                return Ok(false);
            }
            let common = key.common_prefix_length(&path);
            let mut children = empty_children();
            let old_key = *key;
            let old_value = core::mem::take(old);
            children[old_key.get_unchecked(common) as usize] = Some(Cell::boxed(Node::Leaf {
                key: old_key.slice(common + 1..),
                value: old_value,
            }));
            children[path.get_unchecked(common) as usize] = Some(Cell::boxed(Node::Leaf {
                key: path.slice(common + 1..),
                value,
            }));
            cell.node = wrap_in_extension(path.slice(..common), Node::Branch { children });
            true
        }
        Node::Extension { key, child } => {
            let common = key.common_prefix_length(&path);
            if common == key.len() {
                let below = prefix.join(key);
                return insert(Arc::make_mut(child), path.slice(common..), value, below);
            }
            // The new key leaves the extension part-way: split it around a new branch.
            let ext_key = *key;
            let old_child = core::mem::replace(child, Cell::boxed(Node::Empty));
            let mut children = empty_children();
            let rest = ext_key.slice(common + 1..);
            children[ext_key.get_unchecked(common) as usize] = Some(if rest.is_empty() {
                old_child
            } else {
                Cell::boxed(Node::Extension {
                    key: rest,
                    child: old_child,
                })
            });
            children[path.get_unchecked(common) as usize] = Some(Cell::boxed(Node::Leaf {
                key: path.slice(common + 1..),
                value,
            }));
            cell.node = wrap_in_extension(path.slice(..common), Node::Branch { children });
            true
        }
        Node::Branch { children } => {
            let nibble = path.get_unchecked(0);
            let slot = &mut children[nibble as usize];
            match slot {
                Some(child) => {
                    let mut below = prefix;
                    below.push(nibble);
                    return insert(Arc::make_mut(child), path.slice(1..), value, below);
                }
                None => {
                    *slot = Some(Cell::boxed(Node::Leaf {
                        key: path.slice(1..),
                        value,
                    }));
                    true
                }
            }
        }
    })
}

fn wrap_in_extension(prefix: Nibbles, node: Node) -> Node {
    if prefix.is_empty() {
        node
    } else {
        Node::Extension {
            key: prefix,
            child: Cell::boxed(node),
        }
    }
}

/// Removes `path` below `cell` (which sits at `prefix`), restoring the canonical shape (no
/// branch with one child, no extension pointing at a leaf or an extension); returns whether
/// the key was there. Fails when it meets a stub: on the way down, or as the one child left
/// of a branch that must fold into it (the trie may then be half-changed: a `PartialTrie`
/// applies updates to a copy).
fn remove(
    cell: &mut Cell,
    path: Nibbles,
    prefix: Nibbles,
    grave: &mut Graveyard<'_>,
) -> Result<bool, MissingNode> {
    let removed = match &mut cell.node {
        Node::Stub(_) => return Err(MissingNode { path: prefix }),
        Node::Empty => false,
        Node::Leaf { key, .. } => {
            if *key != path {
                return Ok(false);
            }
            cell.node = Node::Empty;
            grave.bury(prefix);
            true
        }
        Node::Extension { key, child } => {
            if !path.starts_with(key) {
                return Ok(false);
            }
            let key = *key;
            let child = Arc::make_mut(child);
            if !remove(child, path.slice(key.len()..), prefix.join(&key), grave)? {
                return Ok(false);
            }
            // The child was a branch; after the removal it may have collapsed into a leaf or an
            // extension, which the extension must absorb.
            let absorbed = prefix.join(&key);
            match core::mem::replace(&mut child.node, Node::Empty) {
                Node::Leaf { key: rest, value } => {
                    grave.bury(absorbed);
                    cell.node = Node::Leaf {
                        key: key.join(&rest),
                        value,
                    }
                }
                Node::Extension {
                    key: rest,
                    child: grandchild,
                } => {
                    grave.bury(absorbed);
                    cell.node = Node::Extension {
                        key: key.join(&rest),
                        child: grandchild,
                    }
                }
                other => child.node = other,
            }
            true
        }
        Node::Branch { children } => {
            let index = path.get_unchecked(0) as usize;
            let Some(child) = children[index].as_mut() else {
                return Ok(false);
            };
            let mut below = prefix;
            below.push(index as u8);
            if !remove(Arc::make_mut(child), path.slice(1..), below, grave)? {
                return Ok(false);
            }
            if matches!(child.node, Node::Empty) {
                children[index] = None;
            }
            let mut remaining = children.iter().enumerate().filter(|(_, c)| c.is_some());
            let only = remaining.next().map(|(i, _)| i);
            if let (Some(only), None) = (only, remaining.next()) {
                // One child left: fold the branch into it, which needs to know what it is.
                if let Some(Node::Stub(_)) = children[only].as_ref().map(|c| &c.node) {
                    let mut sibling = prefix;
                    sibling.push(only as u8);
                    return Err(MissingNode { path: sibling });
                }
                if let Some(last) = children[only].take() {
                    let last = Arc::unwrap_or_clone(last);
                    let nibble = Nibbles::from_nibbles_unchecked([only as u8]);
                    let mut absorbed = prefix;
                    absorbed.push(only as u8);
                    cell.node = match last.node {
                        Node::Leaf { key, value } => {
                            grave.bury(absorbed);
                            Node::Leaf {
                                key: nibble.join(&key),
                                value,
                            }
                        }
                        Node::Extension { key, child } => {
                            grave.bury(absorbed);
                            Node::Extension {
                                key: nibble.join(&key),
                                child,
                            }
                        }
                        branch @ Node::Branch { .. } => Node::Extension {
                            key: nibble,
                            child: Arc::new(Cell {
                                node: branch,
                                rlp: last.rlp,
                            }),
                        },
                        Node::Empty | Node::Stub(_) => Node::Empty,
                    };
                }
            }
            true
        }
    };
    if removed {
        cell.rlp = None;
    }
    Ok(removed)
}

/// Nodes hashed, with their paths: the encoding of each node that stands alone (the root, and
/// every node of 32 bytes or more), `None` for one embedded in its parent.
pub(crate) type Written = Vec<(Nibbles, Option<Vec<u8>>)>;

/// Where [`remove`] reports the paths whose node it destroyed, which a stored trie deletes.
struct Graveyard<'a>(Option<&'a mut NodeJournal>);

impl Graveyard<'_> {
    fn bury(&mut self, path: Nibbles) {
        if let Some(journal) = self.0.as_deref_mut() {
            journal.removed(path);
        }
    }
}

/// A child's RLP reference: cached (the subtree may be shared with other tries, and is only
/// copied when it must be re-hashed), or computed.
fn rlp_of(
    child: &mut Arc<Cell>,
    buf: &mut Vec<u8>,
    path: Nibbles,
    written: Option<&mut Written>,
) -> RlpNode {
    match &child.rlp {
        Some(rlp) => rlp.clone(),
        None => rlp_node(Arc::make_mut(child), buf, path, written),
    }
}

/// The node's RLP reference, computed from its children's (cached where clean). The node sits
/// at `path`; with `written`, each node hashed is recorded there.
fn rlp_node(
    cell: &mut Cell,
    buf: &mut Vec<u8>,
    path: Nibbles,
    mut written: Option<&mut Written>,
) -> RlpNode {
    if let Some(rlp) = &cell.rlp {
        return rlp.clone();
    }
    let rlp = match &mut cell.node {
        Node::Stub(rlp) => {
            let rlp = rlp.clone();
            cell.rlp = Some(rlp.clone());
            return rlp;
        }
        Node::Empty => RlpNode::from_rlp(&[alloy_rlp::EMPTY_STRING_CODE]),
        Node::Leaf { key, value } => {
            buf.clear();
            LeafNodeRef::new(key, value).rlp(buf)
        }
        Node::Extension { key, child } => {
            let child = rlp_of(child, buf, path.join(key), written.as_deref_mut());
            buf.clear();
            ExtensionNodeRef::new(key, &child).rlp(buf)
        }
        Node::Branch { children } => {
            let mut stack = Vec::with_capacity(16);
            let mut mask = TrieMask::default();
            for (i, child) in children.iter_mut().enumerate() {
                if let Some(child) = child {
                    mask.set_bit(i as u8);
                    let mut below = path;
                    below.push(i as u8);
                    stack.push(rlp_of(child, buf, below, written.as_deref_mut()));
                }
            }
            buf.clear();
            BranchNodeRef::new(&stack, mask).rlp(buf)
        }
    };
    if let Some(written) = written {
        // `rlp` left the node's full encoding in `buf`.
        let stands_alone = path.is_empty() || rlp.as_hash().is_some();
        written.push((path, stands_alone.then(|| buf.clone())));
    }
    cell.rlp = Some(rlp.clone());
    rlp
}

/// The root of a trie holding `entries` (hashed key, non-empty value), computed from scratch
/// with alloy-trie's `HashBuilder`: the reference the incremental trie is checked against, and
/// the baseline its benchmark is measured against.
pub fn root_from_scratch(mut entries: Vec<(B256, Vec<u8>)>) -> B256 {
    entries.sort_unstable_by_key(|(key, _)| *key);
    let mut builder = alloy_trie::HashBuilder::default();
    for (key, value) in &entries {
        builder.add_leaf(Nibbles::unpack_array(&key.0), value);
    }
    builder.root()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::U256;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn key(i: u64) -> B256 {
        keccak256(i.to_be_bytes())
    }

    #[test]
    fn empty_trie_has_ethereums_empty_root() {
        assert_eq!(MerkleTrie::new().root(), EMPTY_ROOT_HASH);
    }

    #[test]
    fn single_storage_slot_matches_known_root() {
        // Storage trie of one slot 0 = 1: a root that geth and reth both produce.
        let mut trie = MerkleTrie::new();
        trie.insert(keccak256(B256::ZERO), alloy_rlp::encode(U256::from(1)));
        assert_eq!(
            trie.root(),
            alloy_primitives::b256!(
                "821e2556a290c86405f8160a2d662042a431ba456b9db265c79bb837c04be5f0"
            )
        );
    }

    #[test]
    fn insert_remove_everything_returns_to_empty() {
        let mut trie = MerkleTrie::new();
        for i in 0..300 {
            trie.insert(key(i), vec![1, 2, 3, i as u8]);
        }
        assert_eq!(trie.len(), 300);
        for i in 0..300 {
            assert!(trie.remove(key(i)));
            assert!(!trie.remove(key(i)));
        }
        assert!(trie.is_empty());
        assert_eq!(trie.root(), EMPTY_ROOT_HASH);
    }

    #[test]
    fn what_a_witness_lacks_is_a_typed_error() {
        let mut full = MerkleTrie::new();
        for i in 0..50 {
            full.insert(key(i), vec![i as u8 + 1]);
        }
        let root = full.root();
        let mut witness = full.prune(&[key(1)]);
        assert_eq!(witness.root(), root);
        assert_eq!(witness.get(key(1)).unwrap(), Some(&[2u8][..]));
        assert!(witness.get(key(2)).is_err());
        let before = witness.clone().root();
        assert!(witness.apply(&[(key(2), Some(vec![9]))]).is_err());
        assert_eq!(witness.root(), before, "a failed apply changes nothing");
        assert_eq!(
            PartialTrie::from_nodes(root, &[]).unwrap_err(),
            WitnessError::MissingRoot(root)
        );
        let garbage = alloy_primitives::Bytes::from_static(&[0xc3, 0x01, 0x02, 0x03]);
        assert!(matches!(
            PartialTrie::from_nodes(keccak256(&garbage), &[garbage]),
            Err(WitnessError::Malformed(_))
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// A witness for any reads and updates (inserts, overwrites, removals) over any trie
        /// has the trie's root, answers the reads as the trie does, survives a trip through
        /// its node encoding, and applying the updates to it gives the root the full trie
        /// gets from them.
        #[test]
        fn a_witness_applies_updates_like_the_full_trie(
            initial in prop::collection::btree_map(0u64..300, prop::collection::vec(any::<u8>(), 1..40), 0..120),
            updates in prop::collection::vec((0u64..300, prop::option::of(prop::collection::vec(any::<u8>(), 1..40))), 1..20),
            reads in prop::collection::vec(0u64..300, 0..5),
        ) {
            let mut full = MerkleTrie::new();
            for (k, v) in &initial {
                full.insert(key(*k), v.clone());
            }
            let pre = full.root();
            let updates: Vec<(B256, Option<Vec<u8>>)> = updates.into_iter().map(|(k, v)| (key(k), v)).collect();
            let reads: Vec<B256> = reads.into_iter().map(key).collect();
            let mut witness = full.witness(&reads, &updates);
            prop_assert_eq!(witness.root(), pre);
            for r in &reads {
                prop_assert_eq!(witness.get(*r).unwrap(), full.get(*r));
            }
            let nodes = witness.nodes();
            let mut rebuilt = PartialTrie::from_nodes(pre, &nodes).unwrap();
            prop_assert_eq!(rebuilt.root(), pre);
            for (k, v) in &updates {
                match v {
                    Some(v) => full.insert(*k, v.clone()),
                    None => { full.remove(*k); }
                }
            }
            let post = full.root();
            witness.apply(&updates).unwrap();
            prop_assert_eq!(witness.root(), post);
            rebuilt.apply(&updates).unwrap();
            prop_assert_eq!(rebuilt.root(), post);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        /// After any interleaving of inserts, updates, removals and root computations, the
        /// incremental root equals alloy-trie's root of the same entries built from scratch.
        #[test]
        fn incremental_root_equals_from_scratch(
            ops in prop::collection::vec((0u64..200, prop::option::of(prop::collection::vec(any::<u8>(), 1..70)), any::<bool>()), 1..400)
        ) {
            let mut trie = MerkleTrie::new();
            let mut model = BTreeMap::new();
            for (k, value, take_root) in ops {
                match value {
                    Some(v) => { trie.insert(key(k), v.clone()); model.insert(key(k), v); }
                    None => { prop_assert_eq!(trie.remove(key(k)), model.remove(&key(k)).is_some()); }
                }
                if take_root {
                    let expected = root_from_scratch(model.iter().map(|(k, v)| (*k, v.clone())).collect());
                    prop_assert_eq!(trie.root(), expected);
                }
                prop_assert_eq!(trie.len(), model.len());
            }
            for (k, v) in &model {
                prop_assert_eq!(trie.get(*k), Some(v.as_slice()));
            }
            let expected = root_from_scratch(model.into_iter().collect());
            prop_assert_eq!(trie.root(), expected);
        }
    }
}
