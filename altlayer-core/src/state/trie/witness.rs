//! Witnesses: a trie pruned to the paths some keys need (the rest as stubs carrying their
//! references), extended with what updates need, encoded as trie nodes and rebuilt from
//! them.

use super::*;

impl MerkleTrie {
    /// A copy holding only what reading or writing `keys` needs: the nodes on their paths,
    /// every other subtree as a stub (its reference). See [`MerkleTrie::witness`] for a copy
    /// that is enough to apply updates, too.
    pub fn prune(&mut self, keys: &[B256]) -> PartialTrie {
        self.root();
        let paths: Vec<Nibbles> = keys.iter().map(|k| Nibbles::unpack_array(&k.0)).collect();
        PartialTrie {
            root: prune(&self.root, &paths),
        }
    }

    /// The witness for applying `updates` (a `None` value removes the key) after reading
    /// `reads`: [`MerkleTrie::prune`] to every key involved, plus each node the updates turn
    /// out to need beyond their own paths (a branch folding onto its last child after a
    /// removal needs that child). Applying the updates to it gives the same root as applying
    /// them here.
    pub fn witness(&mut self, reads: &[B256], updates: &[(B256, Option<Vec<u8>>)]) -> PartialTrie {
        // Without a loader nothing can fail.
        self.witness_loading(reads, updates, None)
            .unwrap_or_else(|_| PartialTrie {
                root: Cell::new(Node::Empty),
            })
    }

    /// [`MerkleTrie::witness`] of a trie whose nodes are in a store: the nodes the witness
    /// needs are loaded through `load` first.
    pub fn witness_loading(
        &mut self,
        reads: &[B256],
        updates: &[(B256, Option<Vec<u8>>)],
        load: Option<&super::LoadNode<'_>>,
    ) -> Result<PartialTrie, crate::storage::StorageError> {
        let keys: Vec<B256> = reads
            .iter()
            .copied()
            .chain(updates.iter().map(|(k, _)| *k))
            .collect();
        if let Some(load) = load {
            for key in &keys {
                self.load_path(*key, false, load)?;
            }
        }
        let mut witness = self.prune(&keys);
        // Each round expands one stub of a finite trie (loading it first if need be), so
        // this ends.
        loop {
            let mut attempt = witness.clone();
            match attempt.apply(updates) {
                Ok(()) => return Ok(witness),
                Err(MissingNode { path }) => {
                    if let Some(load) = load {
                        super::stored::load_at(
                            &mut self.root,
                            &path,
                            Nibbles::new(),
                            load,
                            &mut self.loaded,
                        )?;
                    }
                    if !expand(&mut witness.root, &self.root, path, Nibbles::new()) {
                        // The full trie cannot supply it either; nothing more to add.
                        return Ok(witness);
                    }
                }
            }
        }
    }
}

/// A Merkle-Patricia trie of which only some paths are known, the rest being stubs: a
/// witness. Reading or writing through a stub fails with [`MissingNode`]; the root is
/// exact, since a stub carries its subtree's reference.
#[derive(Clone, Debug)]
pub struct PartialTrie {
    root: Cell,
}

/// Why witness nodes could not be assembled into a trie.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessError {
    /// A node is not valid RLP of a trie node.
    #[error("malformed trie node: {0}")]
    Malformed(String),
    /// The root node is not among the nodes.
    #[error("the root node {0} is not in the witness")]
    MissingRoot(B256),
}

impl PartialTrie {
    /// The root hash.
    pub fn root(&mut self) -> B256 {
        root_hash(&mut self.root, None)
    }

    /// The value under `key`, `None` if it is provably absent, or the missing node.
    pub fn get(&self, key: B256) -> Result<Option<&[u8]>, MissingNode> {
        let mut path = Nibbles::unpack_array(&key.0);
        let mut prefix = Nibbles::new();
        let mut cell = &self.root;
        loop {
            match &cell.node {
                Node::Stub(_) => return Err(MissingNode { path: prefix }),
                Node::Empty => return Ok(None),
                Node::Leaf { key, value } => {
                    return Ok((*key == path).then_some(value.as_slice()));
                }
                Node::Extension { key, child } => {
                    if !path.starts_with(key) {
                        return Ok(None);
                    }
                    prefix = prefix.join(key);
                    path = path.slice(key.len()..);
                    cell = child;
                }
                Node::Branch { children } => {
                    let nibble = path.get_unchecked(0);
                    let Some(child) = children[nibble as usize].as_deref() else {
                        return Ok(None);
                    };
                    prefix.push(nibble);
                    path = path.slice(1..);
                    cell = child;
                }
            }
        }
    }

    /// Applies updates (a `None` or empty value removes the key) all or nothing.
    pub fn apply(&mut self, updates: &[(B256, Option<Vec<u8>>)]) -> Result<(), MissingNode> {
        let mut root = self.root.clone();
        for (key, value) in updates {
            let path = Nibbles::unpack_array(&key.0);
            match value {
                Some(value) if !value.is_empty() => {
                    insert(&mut root, path, value.clone(), Nibbles::new())?;
                }
                _ => {
                    remove(&mut root, path, Nibbles::new(), &mut Graveyard(None))?;
                }
            }
        }
        self.root = root;
        Ok(())
    }

    /// The witness as trie nodes: the RLP of every known node that is referenced by hash
    /// (nodes under 32 bytes travel inside their parent), the root first.
    pub fn nodes(&mut self) -> Vec<alloy_primitives::Bytes> {
        self.root();
        let mut out = Vec::new();
        collect_nodes(&self.root, true, &mut out);
        out
    }

    /// Assembles a witness from trie nodes under `root`: every node reachable from the root
    /// through the given nodes becomes known, every other reference a stub. Nodes are taken
    /// by their hash, so a node that does not belong is simply never reached, and a tampered
    /// one cannot hash to the reference that would reach it.
    pub fn from_nodes(root: B256, nodes: &[alloy_primitives::Bytes]) -> Result<Self, WitnessError> {
        Self::from_node_map(root, &node_map(nodes))
    }

    /// [`PartialTrie::from_nodes`] over nodes already keyed by hash ([`node_map`]), so that
    /// several tries (an account trie and storage tries) share one pass of hashing.
    pub fn from_node_map(root: B256, by_hash: &NodeMap<'_>) -> Result<Self, WitnessError> {
        if root == EMPTY_ROOT_HASH {
            return Ok(Self {
                root: Cell::new(Node::Empty),
            });
        }
        let bytes = by_hash.get(&root).ok_or(WitnessError::MissingRoot(root))?;
        let mut cell = decode_cell(bytes, by_hash, 0)?;
        cell.rlp = Some(RlpNode::word_rlp(&root));
        Ok(Self { root: cell })
    }
}

/// Trie nodes keyed by their hash.
pub type NodeMap<'a> = std::collections::HashMap<B256, &'a [u8]>;

/// Keys trie nodes by their hash.
pub fn node_map(nodes: &[alloy_primitives::Bytes]) -> NodeMap<'_> {
    nodes.iter().map(|n| (keccak256(n), n.as_ref())).collect()
}

/// The copy of `cell` keeping the paths in `paths` (relative to it).
pub(super) fn prune(cell: &Cell, paths: &[Nibbles]) -> Cell {
    let stub = |cell: &Cell| match (&cell.node, &cell.rlp) {
        (Node::Empty, _) => Cell::new(Node::Empty),
        (_, Some(rlp)) => Cell {
            node: Node::Stub(rlp.clone()),
            rlp: Some(rlp.clone()),
        },
        // Hashes are computed before pruning; an unhashed node is kept whole.
        (_, None) => cell.clone(),
    };
    if paths.is_empty() {
        return stub(cell);
    }
    let node = match &cell.node {
        Node::Empty => Node::Empty,
        Node::Stub(rlp) => Node::Stub(rlp.clone()),
        Node::Leaf { key, value } => Node::Leaf {
            key: *key,
            value: value.clone(),
        },
        Node::Extension { key, child } => {
            let below: Vec<Nibbles> = paths
                .iter()
                .filter(|p| p.starts_with(key))
                .map(|p| p.slice(key.len()..))
                .collect();
            Node::Extension {
                key: *key,
                child: Arc::new(prune(child, &below)),
            }
        }
        Node::Branch { children } => {
            let mut pruned = empty_children();
            for (i, child) in children.iter().enumerate() {
                if let Some(child) = child {
                    let below: Vec<Nibbles> = paths
                        .iter()
                        .filter(|p| !p.is_empty() && p.get_unchecked(0) as usize == i)
                        .map(|p| p.slice(1..))
                        .collect();
                    pruned[i] = Some(Arc::new(prune(child, &below)));
                }
            }
            Node::Branch { children: pruned }
        }
    };
    Cell {
        node,
        rlp: cell.rlp.clone(),
    }
}

/// Replaces the stub at `path` in `partial` with the matching node of `full` (its children
/// as stubs); returns whether it found one to replace.
pub(super) fn expand(partial: &mut Cell, full: &Cell, path: Nibbles, at: Nibbles) -> bool {
    if let Node::Stub(_) = partial.node {
        if at != path || matches!(full.node, Node::Stub(_)) {
            return false;
        }
        // One level: the node itself, with its children as stubs.
        *partial = shallow(full);
        return true;
    }
    match (&mut partial.node, &full.node) {
        (
            Node::Extension { key, child },
            Node::Extension {
                child: full_child, ..
            },
        ) => {
            let below = at.join(key);
            expand(Arc::make_mut(child), full_child, path, below)
        }
        (
            Node::Branch { children },
            Node::Branch {
                children: full_children,
            },
        ) => {
            if path.len() <= at.len() {
                return false;
            }
            let nibble = path.get_unchecked(at.len()) as usize;
            match (children[nibble].as_mut(), full_children[nibble].as_ref()) {
                (Some(child), Some(full_child)) => {
                    let mut below = at;
                    below.push(nibble as u8);
                    expand(Arc::make_mut(child), full_child, path, below)
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// `cell`'s node with its children replaced by stubs.
pub(super) fn shallow(cell: &Cell) -> Cell {
    let stub = |c: &Cell| {
        Arc::new(match &c.rlp {
            Some(rlp) => Cell {
                node: Node::Stub(rlp.clone()),
                rlp: Some(rlp.clone()),
            },
            None => c.clone(),
        })
    };
    let node = match &cell.node {
        Node::Extension { key, child } => Node::Extension {
            key: *key,
            child: stub(child),
        },
        Node::Branch { children } => {
            let mut out = empty_children();
            for (i, child) in children.iter().enumerate() {
                out[i] = child.as_deref().map(stub);
            }
            Node::Branch { children: out }
        }
        other => other.clone(),
    };
    Cell {
        node,
        rlp: cell.rlp.clone(),
    }
}

/// The RLP of a node whose children are hashed; `None` for an empty trie, a stub, or a node
/// with a child not hashed yet.
pub(super) fn encode_node(cell: &Cell) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    match &cell.node {
        Node::Leaf { key, value } => {
            LeafNodeRef::new(key, value).rlp(&mut buf);
        }
        Node::Extension { key, child } => {
            let child = child.rlp.clone()?;
            ExtensionNodeRef::new(key, &child).rlp(&mut buf);
        }
        Node::Branch { children } => {
            let mut stack = Vec::with_capacity(16);
            let mut mask = TrieMask::default();
            for (i, child) in children.iter().enumerate() {
                if let Some(child) = child {
                    mask.set_bit(i as u8);
                    stack.push(child.rlp.clone()?);
                }
            }
            BranchNodeRef::new(&stack, mask).rlp(&mut buf);
        }
        Node::Empty | Node::Stub(_) => return None,
    }
    Some(buf)
}

pub(super) fn collect_nodes(cell: &Cell, is_root: bool, out: &mut Vec<alloy_primitives::Bytes>) {
    let encode = |cell: &Cell| encode_node(cell).map(alloy_primitives::Bytes::from);
    // A node shorter than 32 bytes is embedded in its parent (the root always stands alone).
    if let Some(bytes) = encode(cell)
        && (is_root || bytes.len() >= 32)
    {
        out.push(bytes);
    }
    match &cell.node {
        Node::Extension { child, .. } => collect_nodes(child, false, out),
        Node::Branch { children } => {
            for child in children.iter().flatten() {
                collect_nodes(child, false, out);
            }
        }
        _ => {}
    }
}

/// Depth bound for decoding: 64 nibbles of path, each at most one node.
const MAX_DEPTH: usize = 65;

pub(super) fn decode_cell(
    bytes: &[u8],
    by_hash: &NodeMap<'_>,
    depth: usize,
) -> Result<Cell, WitnessError> {
    use alloy_rlp::Decodable;
    use alloy_trie::nodes::TrieNode;
    if depth > MAX_DEPTH {
        return Err(WitnessError::Malformed(
            "trie deeper than 64 nibbles".into(),
        ));
    }
    let node =
        TrieNode::decode(&mut &bytes[..]).map_err(|e| WitnessError::Malformed(e.to_string()))?;
    let child = |rlp: &RlpNode| -> Result<Arc<Cell>, WitnessError> {
        let mut cell = match rlp.as_hash() {
            Some(hash) => match by_hash.get(&hash) {
                Some(bytes) => decode_cell(bytes, by_hash, depth + 1)?,
                None => Cell::new(Node::Stub(rlp.clone())),
            },
            // Embedded: the reference is the node itself.
            None => decode_cell(rlp.as_slice(), by_hash, depth + 1)?,
        };
        cell.rlp = Some(rlp.clone());
        Ok(Arc::new(cell))
    };
    let node = match node {
        TrieNode::EmptyRoot => Node::Empty,
        TrieNode::Leaf(leaf) => Node::Leaf {
            key: leaf.key,
            value: leaf.value,
        },
        TrieNode::Extension(ext) => Node::Extension {
            key: ext.key,
            child: child(&ext.child)?,
        },
        TrieNode::Branch(branch) => {
            let mut children = empty_children();
            let mut stack = branch.stack.iter();
            for i in 0..16u8 {
                if branch.state_mask.is_bit_set(i) {
                    let rlp = stack.next().ok_or_else(|| {
                        WitnessError::Malformed("branch mask and children disagree".into())
                    })?;
                    children[i as usize] = Some(child(rlp)?);
                }
            }
            Node::Branch { children }
        }
    };
    Ok(Cell::new(node))
}

impl MerkleTrie {
    /// The Merkle proof of `key` as `eth_getProof` (EIP-1186) gives it: the RLP of each node
    /// on the key's path from the root, leaving out the nodes under 32 bytes that travel
    /// inside their parent. It proves the value under `key`, or its absence. `None` when a
    /// change has not been hashed yet ([`MerkleTrie::root`] brings the trie up to date).
    pub fn proof(&self, key: B256) -> Option<Vec<alloy_primitives::Bytes>> {
        if self.is_dirty() {
            return None;
        }
        let mut path = Nibbles::unpack_array(&key.0);
        let mut out = Vec::new();
        let mut cell = &self.root;
        let mut is_root = true;
        loop {
            let mut buf = Vec::new();
            let next = match &cell.node {
                Node::Empty | Node::Stub(_) => break,
                Node::Leaf { key, value } => {
                    LeafNodeRef::new(key, value).rlp(&mut buf);
                    None
                }
                Node::Extension { key, child } => {
                    ExtensionNodeRef::new(key, child.rlp.as_ref()?).rlp(&mut buf);
                    path.starts_with(key).then(|| {
                        path = path.slice(key.len()..);
                        child.as_ref()
                    })
                }
                Node::Branch { children } => {
                    let mut stack = Vec::with_capacity(16);
                    let mut mask = TrieMask::default();
                    for (i, child) in children.iter().enumerate() {
                        if let Some(child) = child {
                            mask.set_bit(i as u8);
                            stack.push(child.rlp.clone()?);
                        }
                    }
                    BranchNodeRef::new(&stack, mask).rlp(&mut buf);
                    let nibble = path.get_unchecked(0);
                    path = path.slice(1..);
                    children[nibble as usize].as_deref()
                }
            };
            if is_root || buf.len() >= 32 {
                out.push(buf.into());
            }
            is_root = false;
            match next {
                Some(child) => cell = child,
                None => break,
            }
        }
        Some(out)
    }
}
