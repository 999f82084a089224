//! [`Account`]: one account of the world state, with its storage and storage trie.

use super::{B256, HashMap, KECCAK_EMPTY, U256, keccak256, trie};
use crate::storage::StorageError;
use alloy_primitives::map::HashSet;
use alloy_trie::EMPTY_ROOT_HASH;
use trie::{LoadNode, MerkleTrie};

/// An account of the world state.
#[derive(Clone, Debug, Default)]
pub struct Account {
    /// Nonce.
    pub nonce: u64,
    /// Balance in wei.
    pub balance: U256,
    /// Hash of the account's code ([`KECCAK_EMPTY`] for none).
    pub code_hash: B256,
    /// Storage slots. In memory: every non-zero slot. Over a store: the slots read or written
    /// since the account was loaded, zeros included (a zero written must hide the stored
    /// value).
    pub(super) storage: HashMap<U256, U256>,
    /// Storage trie, kept in step with `storage` when the root is taken.
    pub(super) storage_trie: MerkleTrie,
    /// Slots written since the storage root was last taken.
    pub(super) dirty_slots: Vec<U256>,
    /// `keccak256(address)`, the account's trie key, once it has been computed.
    pub(super) trie_key: Option<B256>,
    /// What an account of a state over a store tracks; `None` in memory.
    pub(super) stored: Option<Box<Stored>>,
}

/// The part of an account of a state over a store that the store's head does not know yet.
#[derive(Clone, Debug, Default)]
pub(super) struct Stored {
    /// Slots not in `storage` are in the store (false once the storage is wiped, or for an
    /// account the store does not have).
    pub(super) partial: bool,
    /// The stored storage (slots and trie) goes at the next commit.
    pub(super) wiped: bool,
    /// The account does not exist: a tombstone hiding the stored account until the commit.
    pub(super) deleted: bool,
    /// Slots written since the store's head.
    pub(super) written: HashSet<U256>,
}

impl Account {
    /// An account with a balance, nonce 0 and no code.
    pub fn with_balance(balance: U256) -> Self {
        Self {
            balance,
            code_hash: KECCAK_EMPTY,
            ..Default::default()
        }
    }

    /// An account as loaded from a store: its storage stays there until read.
    pub(super) fn loaded(leaf: &crate::storage::StoredAccount) -> Self {
        Self {
            nonce: leaf.nonce,
            balance: leaf.balance,
            code_hash: leaf.code_hash,
            storage_trie: MerkleTrie::stored(leaf.storage_root),
            stored: Some(Box::new(Stored {
                partial: leaf.storage_root != EMPTY_ROOT_HASH,
                ..Stored::default()
            })),
            ..Default::default()
        }
    }

    /// A new account of a state over a store (none stored under its address).
    pub(super) fn created() -> Self {
        Self {
            code_hash: KECCAK_EMPTY,
            storage_trie: MerkleTrie::stored(EMPTY_ROOT_HASH),
            stored: Some(Box::default()),
            ..Default::default()
        }
    }

    /// The value of a storage slot held in memory (zero when unset). For an account of a state
    /// over a store, read slots through [`super::WorldState::storage`], which asks the store.
    pub fn storage(&self, slot: &U256) -> U256 {
        self.storage.get(slot).copied().unwrap_or_default()
    }

    /// The value of a slot when memory decides it: `None` when it must be read from the store.
    pub(super) fn known_storage(&self, slot: &U256) -> Option<U256> {
        match self.storage.get(slot) {
            Some(value) => Some(*value),
            None if self.stored.as_ref().is_some_and(|s| s.partial) => None,
            None => Some(U256::ZERO),
        }
    }

    /// The account's non-zero storage slots held in memory (all of them in memory; over a
    /// store, those read or written since the account was loaded).
    pub fn storage_slots(&self) -> impl Iterator<Item = (&U256, &U256)> {
        self.storage.iter().filter(|(_, v)| !v.is_zero())
    }

    /// Whether the account is empty in the EIP-161 sense (no nonce, balance or code).
    pub fn is_empty(&self) -> bool {
        self.nonce == 0 && self.balance.is_zero() && self.code_hash == KECCAK_EMPTY
    }

    /// Whether this is a tombstone (an account deleted since the store's head).
    pub(super) fn is_deleted(&self) -> bool {
        self.stored.as_ref().is_some_and(|s| s.deleted)
    }

    pub(super) fn set_storage(&mut self, slot: U256, value: U256) {
        if let Some(stored) = self.stored.as_deref_mut() {
            // Over a store a zero is kept: it hides the value the store still has.
            stored.written.insert(slot);
            if self.storage.insert(slot, value) != Some(value) {
                self.dirty_slots.push(slot);
            }
            return;
        }
        if value.is_zero() {
            if self.storage.remove(&slot).is_none() {
                return;
            }
        } else if self.storage.insert(slot, value) == Some(value) {
            return;
        }
        self.dirty_slots.push(slot);
    }

    pub(super) fn clear_storage(&mut self) {
        self.storage.clear();
        self.dirty_slots.clear();
        match self.stored.as_deref_mut() {
            Some(stored) => {
                stored.partial = false;
                stored.wiped = true;
                stored.written.clear();
                self.storage_trie = MerkleTrie::stored(EMPTY_ROOT_HASH);
            }
            None => self.storage_trie = MerkleTrie::new(),
        }
    }

    /// Brings the storage trie up to date and returns its root; a stored trie loads the nodes
    /// its updates need through `load`.
    pub(super) fn storage_root(
        &mut self,
        load: Option<&LoadNode<'_>>,
    ) -> Result<B256, StorageError> {
        let dirty = std::mem::take(&mut self.dirty_slots);
        for (i, slot) in dirty.iter().enumerate() {
            let key = keccak256(B256::from(*slot));
            let value = self.storage.get(slot).copied().unwrap_or_default();
            if let Some(load) = load.filter(|_| self.storage_trie.is_stored())
                && let Err(error) = self.storage_trie.load_path(key, value.is_zero(), load)
            {
                // Keep the slots not hashed yet, so a retry hashes them.
                self.dirty_slots = dirty[i..].to_vec();
                return Err(error);
            }
            if value.is_zero() {
                self.storage_trie.remove(key);
            } else {
                self.storage_trie.insert(key, alloy_rlp::encode(value));
            }
        }
        Ok(self.storage_trie.root())
    }

    /// The account's storage root computed from scratch (reference for tests; an account in
    /// memory only).
    pub(super) fn storage_root_from_scratch(&self) -> B256 {
        let slots: Vec<(B256, Vec<u8>)> = self
            .storage_slots()
            .map(|(slot, value)| (keccak256(B256::from(*slot)), alloy_rlp::encode(value)))
            .collect();
        if slots.is_empty() {
            return EMPTY_ROOT_HASH;
        }
        trie::root_from_scratch(slots)
    }
}
