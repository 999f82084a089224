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
        child: Box<Cell>,
    },
    Branch {
        children: Box<[Option<Box<Cell>>; 16]>,
    },
}

impl Cell {
    const fn new(node: Node) -> Self {
        Self { node, rlp: None }
    }

    fn boxed(node: Node) -> Box<Self> {
        Box::new(Self::new(node))
    }
}

fn empty_children() -> Box<[Option<Box<Cell>>; 16]> {
    Box::default()
}

/// A Merkle-Patricia trie over 32-byte keys with cached node hashes.
#[derive(Clone, Debug)]
pub struct MerkleTrie {
    root: Cell,
    len: usize,
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
        }
    }

    /// Number of keys in the trie.
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
        if insert(&mut self.root, path, value) {
            self.len += 1;
        }
    }

    /// Removes the value under `key`; returns whether it was there.
    pub fn remove(&mut self, key: B256) -> bool {
        let path = Nibbles::unpack_array(&key.0);
        let removed = remove(&mut self.root, path);
        if removed {
            self.len -= 1;
        }
        removed
    }

    /// The value under `key`, if any.
    pub fn get(&self, key: B256) -> Option<&[u8]> {
        let mut path = Nibbles::unpack_array(&key.0);
        let mut cell = &self.root;
        loop {
            match &cell.node {
                Node::Empty => return None,
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
                children.par_iter_mut().flatten().for_each(|child| {
                    let mut buf = Vec::with_capacity(600);
                    rlp_node(child, &mut buf);
                });
            }
        }
        let mut buf = Vec::with_capacity(600);
        match self.root.node {
            Node::Empty => EMPTY_ROOT_HASH,
            _ => {
                let rlp = rlp_node(&mut self.root, &mut buf);
                // The root is always hashed, even when its encoding is shorter than 32 bytes.
                rlp.as_hash().unwrap_or_else(|| keccak256(rlp.as_slice()))
            }
        }
    }

    /// Whether some change has not been hashed yet.
    pub const fn is_dirty(&self) -> bool {
        self.root.rlp.is_none() && !matches!(self.root.node, Node::Empty)
    }
}

/// Inserts `value` at `path` below `cell`; returns whether the key is new.
fn insert(cell: &mut Cell, path: Nibbles, value: Vec<u8>) -> bool {
    cell.rlp = None;
    match &mut cell.node {
        Node::Empty => {
            cell.node = Node::Leaf { key: path, value };
            true
        }
        Node::Leaf { key, value: old } => {
            if *key == path {
                *old = value;
                return false;
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
                return insert(child, path.slice(common..), value);
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
            let slot = &mut children[path.get_unchecked(0) as usize];
            match slot {
                Some(child) => insert(child, path.slice(1..), value),
                None => {
                    *slot = Some(Cell::boxed(Node::Leaf {
                        key: path.slice(1..),
                        value,
                    }));
                    true
                }
            }
        }
    }
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

/// Removes `path` below `cell`, restoring the canonical shape (no branch with one child, no
/// extension pointing at a leaf or an extension); returns whether the key was there.
fn remove(cell: &mut Cell, path: Nibbles) -> bool {
    let removed = match &mut cell.node {
        Node::Empty => false,
        Node::Leaf { key, .. } => {
            if *key != path {
                return false;
            }
            cell.node = Node::Empty;
            true
        }
        Node::Extension { key, child } => {
            if !path.starts_with(key) {
                return false;
            }
            let key = *key;
            if !remove(child, path.slice(key.len()..)) {
                return false;
            }
            // The child was a branch; after the removal it may have collapsed into a leaf or an
            // extension, which the extension must absorb.
            match core::mem::replace(&mut child.node, Node::Empty) {
                Node::Leaf { key: rest, value } => {
                    cell.node = Node::Leaf {
                        key: key.join(&rest),
                        value,
                    }
                }
                Node::Extension {
                    key: rest,
                    child: grandchild,
                } => {
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
                return false;
            };
            if !remove(child, path.slice(1..)) {
                return false;
            }
            if matches!(child.node, Node::Empty) {
                children[index] = None;
            }
            let mut remaining = children.iter().enumerate().filter(|(_, c)| c.is_some());
            let (only, _) = remaining.next().expect("a branch keeps at least one child");
            if remaining.next().is_none() {
                // One child left: fold the branch into it.
                let last = children[only].take().expect("child present");
                let nibble = Nibbles::from_nibbles_unchecked([only as u8]);
                cell.node = match last.node {
                    Node::Leaf { key, value } => Node::Leaf {
                        key: nibble.join(&key),
                        value,
                    },
                    Node::Extension { key, child } => Node::Extension {
                        key: nibble.join(&key),
                        child,
                    },
                    branch @ Node::Branch { .. } => Node::Extension {
                        key: nibble,
                        child: Box::new(Cell {
                            node: branch,
                            rlp: last.rlp,
                        }),
                    },
                    Node::Empty => Node::Empty,
                };
            }
            true
        }
    };
    if removed {
        cell.rlp = None;
    }
    removed
}

/// The node's RLP reference, computed from its children's (cached where clean).
fn rlp_node(cell: &mut Cell, buf: &mut Vec<u8>) -> RlpNode {
    if let Some(rlp) = &cell.rlp {
        return rlp.clone();
    }
    let rlp = match &mut cell.node {
        Node::Empty => RlpNode::from_rlp(&[alloy_rlp::EMPTY_STRING_CODE]),
        Node::Leaf { key, value } => {
            buf.clear();
            LeafNodeRef::new(key, value).rlp(buf)
        }
        Node::Extension { key, child } => {
            let child = rlp_node(child, buf);
            buf.clear();
            ExtensionNodeRef::new(key, &child).rlp(buf)
        }
        Node::Branch { children } => {
            let mut stack = Vec::with_capacity(16);
            let mut mask = TrieMask::default();
            for (i, child) in children.iter_mut().enumerate() {
                if let Some(child) = child {
                    mask.set_bit(i as u8);
                    stack.push(rlp_node(child, buf));
                }
            }
            buf.clear();
            BranchNodeRef::new(&stack, mask).rlp(buf)
        }
    };
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
