//! Writing a large genesis into a store in parts, so that memory holds a small piece of the
//! state at a time instead of all of it (a genesis of a million accounts built in memory, its
//! trie and its diff take well over a gigabyte).
//!
//! The accounts are split by the first byte of their hashed address: each of the 256 groups
//! is built in memory alone, and its trie nodes at or below its two-nibble path are exactly the
//! genesis trie's there (the nodes of a group's own trie above that path are not, and are left
//! out). The node at the group's path and the two levels of branches above it are built from
//! the groups' roots. That holds when every first nibble has at least two groups and there
//! are at least two first nibbles, as any large set of hashed addresses has; otherwise the
//! genesis is built in memory and committed at once, as a small one is.

use super::{Genesis, genesis_state, state_transition_from_genesis};
use crate::{
    execution::{EvmStateTransition, ExecutionError, RollupConfig},
    state::WorldState,
    storage::{ACCOUNT_TRIE, BlockCommit, StateDiff, StateStore, StorageError},
};
use alloy_primitives::{Address, keccak256};
use alloy_trie::{
    TrieMask,
    nodes::{BranchNode, ExtensionNode, LeafNode, RlpNode, TrieNode},
};
use nybbles::Nibbles;
use std::sync::Arc;

/// Accounts from which [`import_genesis`] writes the genesis in parts.
pub const IMPORT_IN_PARTS_FROM: usize = 65_536;

/// The genesis of `genesis` written to the empty `store`, and the replica opened on it: in
/// parts for a large genesis ([`IMPORT_IN_PARTS_FROM`] accounts or more), at once otherwise.
/// The result is the same either way: the same genesis block, state and trie nodes.
pub fn import_genesis(
    config: RollupConfig,
    genesis: &Genesis,
    store: Arc<dyn StateStore>,
) -> Result<EvmStateTransition, ExecutionError> {
    if genesis.alloc.len() < IMPORT_IN_PARTS_FROM {
        return state_transition_from_genesis(config, genesis).store_genesis(store);
    }
    import_in_parts(config, genesis, store)
}

/// [`import_genesis`] in parts whatever the genesis's size (when its hashed addresses allow).
pub fn import_in_parts(
    config: RollupConfig,
    genesis: &Genesis,
    store: Arc<dyn StateStore>,
) -> Result<EvmStateTransition, ExecutionError> {
    let mut groups: Vec<Vec<&Address>> = vec![Vec::new(); 256];
    for address in genesis.alloc.keys() {
        groups[usize::from(keccak256(address)[0])].push(address);
    }
    let nibbles_used = |first: usize| {
        (0..16)
            .filter(|second| !groups[first * 16 + second].is_empty())
            .count()
    };
    let firsts = (0..16).filter(|first| nibbles_used(*first) > 0).count();
    if firsts < 2 || (0..16).any(|first| (1..2).contains(&nibbles_used(first))) {
        return state_transition_from_genesis(config, genesis).store_genesis(store);
    }
    // The reference to each group's node at its two-nibble path, by first and second nibble.
    let mut level_two: Vec<Vec<(u8, RlpNode)>> = vec![Vec::new(); 16];
    for (byte, group) in groups.iter().enumerate() {
        if group.is_empty() {
            continue;
        }
        let one = Genesis {
            alloc: group
                .iter()
                .map(|address| (**address, genesis.alloc[*address].clone()))
                .collect(),
            ..Genesis::default()
        };
        // The group's accounts, as a genesis of its own.
        let mut part: WorldState = genesis_state(&one);
        let mut diff = part.genesis_diff()?;
        let (first, second) = (byte as u8 >> 4, byte as u8 & 0x0f);
        let prefix = Nibbles::from_nibbles([first, second]);
        let root = diff
            .nodes
            .iter()
            .find(|(owner, path, _)| *owner == ACCOUNT_TRIE && path.is_empty())
            .and_then(|(_, _, node)| node.clone())
            .ok_or_else(|| corrupt("a group's trie has no root"))?;
        diff.nodes
            .retain(|(owner, path, _)| *owner != ACCOUNT_TRIE || path.len() >= 2);
        // The node at the group's path: the group's root, its key shortened by the path.
        let reference = match decode(&root)? {
            TrieNode::Extension(extension) if extension.key.len() == 2 => extension.child,
            TrieNode::Extension(extension) => {
                let node = ExtensionNode::new(extension.key.slice(2..), extension.child);
                standalone(&mut diff, prefix, alloy_rlp::encode(&node))
            }
            TrieNode::Leaf(leaf) => {
                let node = LeafNode::new(leaf.key.slice(2..), leaf.value);
                standalone(&mut diff, prefix, alloy_rlp::encode(&node))
            }
            _ => return Err(corrupt("a group's root is not under its path").into()),
        };
        level_two[usize::from(first)].push((second, reference));
        store.import(&diff)?;
    }
    let mut top = StateDiff::default();
    let mut level_one = Vec::new();
    for (first, children) in level_two.into_iter().enumerate() {
        if children.is_empty() {
            continue;
        }
        let rlp = branch(children);
        let path = Nibbles::from_nibbles([first as u8]);
        level_one.push((first as u8, standalone(&mut top, path, rlp)));
    }
    let root = branch(level_one);
    let state_root = keccak256(&root);
    top.nodes.push((ACCOUNT_TRIE, Nibbles::new(), Some(root)));
    store.import(&top)?;
    let (config, timestamp, base_fee) = super::genesis_parameters(config, genesis);
    let header = crate::execution::genesis_header(&config, state_root, timestamp, base_fee);
    let block = crate::primitives::Block {
        header,
        transactions: Vec::new(),
    };
    store.commit(BlockCommit {
        block: &block,
        hash: block.hash(),
        senders: &[],
        receipts: &[],
        state: &StateDiff::default(),
    })?;
    EvmStateTransition::open(config, store)
}

fn corrupt(what: &str) -> StorageError {
    StorageError::Corrupt(format!("genesis import: {what}"))
}

fn decode(rlp: &[u8]) -> Result<TrieNode, StorageError> {
    alloy_rlp::decode_exact(rlp).map_err(|e| corrupt(&e.to_string()))
}

/// Records `rlp` as the node at `path` (when it stands alone: 32 bytes or more) and returns
/// its reference in its parent.
fn standalone(diff: &mut StateDiff, path: Nibbles, rlp: Vec<u8>) -> RlpNode {
    let reference = RlpNode::from_rlp(&rlp);
    if rlp.len() >= 32 {
        diff.nodes.push((ACCOUNT_TRIE, path, Some(rlp)));
    }
    reference
}

/// A branch node's RLP over `children` (nibble, reference), in nibble order.
fn branch(mut children: Vec<(u8, RlpNode)>) -> Vec<u8> {
    children.sort_by_key(|(nibble, _)| *nibble);
    let mut mask = TrieMask::default();
    for (nibble, _) in &children {
        mask.set_bit(*nibble);
    }
    let stack = children
        .into_iter()
        .map(|(_, reference)| reference)
        .collect();
    alloy_rlp::encode(BranchNode::new(stack, mask))
}
