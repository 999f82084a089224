//! The rollup's world state and its Ethereum state root.
//!
//! [`WorldState`] holds accounts, storage and code, lets revm read them through its
//! `DatabaseRef` trait, and maintains the Ethereum Merkle-Patricia state root incrementally:
//! the account trie is keyed by `keccak256(address)` with values `rlp([nonce, balance,
//! storage_root, code_hash])`, and each account's storage trie by `keccak256(slot)` with values
//! `rlp(value)`. Writes mark accounts and slots dirty; [`WorldState::state_root`] re-encodes only
//! those and re-hashes only their trie paths (see [`trie`]).
//!
//! A state lives in memory ([`WorldState::new`]) or over a [`StateStore`]
//! ([`WorldState::stored`]): then memory holds what changed since the store's head, the top
//! of the account trie and, up to a bound, what earlier blocks read (see
//! [`WorldState::stand_on`]), and the rest is read from the store as of the block the state
//! stands on. [`WorldState::take_diff`] gives what a block changed, for the store to commit.

mod account;
mod proof;
mod stored;
use stored::Backing;
pub mod trie;

pub use account::Account;
pub use proof::{AccountProof, StorageProof};

use crate::storage::{ACCOUNT_TRIE, StateDiff, StateStore, StorageError, StoredAccount};
use alloy_primitives::{
    Address, B256, Bytes, U256, keccak256,
    map::{AddressMap, AddressSet, B256Map, B256Set, HashMap},
};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};
use nybbles::Nibbles;
use rayon::prelude::*;
use revm::{
    bytecode::Bytecode, database_interface::DBErrorMarker, primitives::StorageKey,
    state::AccountInfo,
};
use std::sync::Arc;
use trie::MerkleTrie;

/// A change to one account, as produced by executing a transaction: the account's new fields
/// (or its deletion) and the storage slots written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountChange {
    /// New nonce, balance and code hash; `None` deletes the account (self-destruct, or an empty
    /// account touched under EIP-161).
    pub info: Option<(u64, U256, B256)>,
    /// Whether the account's storage was wiped before `storage` applies (contract created anew).
    pub storage_cleared: bool,
    /// Slots written, with their new values (zero deletes the slot).
    pub storage: Vec<(U256, U256)>,
}

/// The state changes of one transaction (or one system step), by account.
pub type StateChanges = AddressMap<AccountChange>;

/// What [`WorldState::apply_with_undo`] returns: the previous values of everything changed.
#[derive(Debug, Default)]
#[must_use = "an undo that is dropped can no longer put the state back"]
pub struct Undo {
    entries: Vec<(Address, Before)>,
}

#[derive(Debug)]
enum Before {
    /// Not held: absent in memory, or (over a store) not loaded.
    Absent,
    /// The fields and the slots the change wrote (an account in memory).
    Fields(AccountSnapshot),
    /// The whole account, shared (an account over a store: its loaded part is small).
    Whole(Arc<Account>),
}

#[derive(Debug)]
struct AccountSnapshot {
    nonce: u64,
    balance: U256,
    code_hash: B256,
    /// Old values of the slots written, or the whole storage when `wiped`.
    slots: Vec<(U256, U256)>,
    wiped: bool,
}

/// Error of the state as a revm database over the overlay. Reads of the overlay never fail
/// themselves; what its source failed to answer is kept by the overlay and reported by the
/// runner. The type exists because revm's database traits require one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("state read failed")]
pub struct StateError;

impl DBErrorMarker for StateError {}

impl DBErrorMarker for StorageError {}

/// How many nibbles of the account trie a state over a store keeps in memory between blocks:
/// 4,369 nodes at most, the part of every path that a block is sure to touch again.
const RESIDENT_DEPTH: usize = 3;

/// World state with an incrementally maintained Ethereum state root, in memory or over a
/// [`StateStore`].
#[derive(Clone, Debug, Default)]
pub struct WorldState {
    /// Shared with clones, copied on write: a replica kept at a batch's pre-state costs
    /// nothing until the accounts it shares change. Over a store, the accounts read or
    /// written since memory last let go of them, deleted ones as tombstones until the commit.
    accounts: AddressMap<Arc<Account>>,
    code: B256Map<Bytecode>,
    trie: MerkleTrie,
    /// Accounts whose trie leaf must be re-encoded (changed or deleted).
    dirty: AddressSet,
    backing: Option<Backing>,
}

/// Decodes stored code as [`WorldState::set_code`] does.
fn bytecode(code: Bytes) -> Bytecode {
    // Bytes that start like an EIP-7702 delegation but are not one (a genesis file may hold
    // anything) are plain legacy code, as Ethereum treats them: revm's `new_raw` would panic
    // on them.
    Bytecode::new_raw_checked(code.clone()).unwrap_or_else(|_| Bytecode::new_legacy(code))
}

impl WorldState {
    /// An empty state in memory, whose root is [`EMPTY_ROOT_HASH`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The state after block `at` of `store`: nothing is loaded until read. Reads at a block
    /// older than the store's head go through the store's history.
    pub fn stored(store: Arc<dyn StateStore>, at: u64, state_root: B256) -> Self {
        Self {
            trie: MerkleTrie::stored(state_root),
            backing: Some(Backing {
                store,
                at,
                changed: AddressSet::default(),
                new_code: B256Set::default(),
                read: stored::ReadCache::default(),
                last_block: Vec::new(),
            }),
            ..Self::default()
        }
    }

    /// The store this state reads through and the block it stands on, if it is over one.
    pub fn store(&self) -> Option<(&Arc<dyn StateStore>, u64)> {
        self.backing.as_ref().map(|b| (&b.store, b.at))
    }

    /// Number of accounts held in memory (all of them for a state in memory).
    pub fn len(&self) -> usize {
        self.accounts.values().filter(|a| !a.is_deleted()).count()
    }

    /// Whether no account is held in memory.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An account held in memory (every account of a state in memory; over a store, those
    /// read or written since memory last let go of them: use [`WorldState::account_info`]
    /// for any account).
    pub fn account(&self, address: &Address) -> Option<&Account> {
        self.accounts
            .get(address)
            .map(Arc::as_ref)
            .filter(|a| !a.is_deleted())
    }

    /// The accounts held in memory (all of them for a state in memory).
    pub fn accounts(&self) -> impl Iterator<Item = (&Address, &Account)> {
        self.accounts
            .iter()
            .map(|(address, account)| (address, &**account))
            .filter(|(_, a)| !a.is_deleted())
    }

    /// Nonce, balance and code hash of an account, `None` if it does not exist.
    pub fn leaf(&self, address: &Address) -> Result<Option<(u64, U256, B256)>, StorageError> {
        if let Some(account) = self.accounts.get(address) {
            return Ok((!account.is_deleted()).then_some((
                account.nonce,
                account.balance,
                account.code_hash,
            )));
        }
        match &self.backing {
            Some(b) => Ok(b.read(address)?.map(|a| (a.nonce, a.balance, a.code_hash))),
            None => Ok(None),
        }
    }

    /// Balance of an account (zero when it does not exist).
    pub fn balance(&self, address: &Address) -> Result<U256, StorageError> {
        Ok(self.leaf(address)?.map(|(_, b, _)| b).unwrap_or_default())
    }

    /// Nonce of an account (zero when it does not exist).
    pub fn nonce(&self, address: &Address) -> Result<u64, StorageError> {
        Ok(self.leaf(address)?.map(|(n, _, _)| n).unwrap_or_default())
    }

    /// A storage slot (zero when unset).
    pub fn storage(&self, address: &Address, slot: &U256) -> Result<U256, StorageError> {
        match (self.accounts.get(address), &self.backing) {
            (Some(account), _) if account.is_deleted() => Ok(U256::ZERO),
            (Some(account), backing) => match (account.known_storage(slot), backing) {
                (Some(value), _) => Ok(value),
                (None, Some(b)) => b.store.storage(b.at, address, slot),
                (None, None) => Ok(U256::ZERO),
            },
            (None, Some(b)) => b.store.storage(b.at, address, slot),
            (None, None) => Ok(U256::ZERO),
        }
    }

    /// Code by hash.
    pub fn code_by_hash(&self, hash: &B256) -> Result<Option<Bytecode>, StorageError> {
        if let Some(code) = self.code.get(hash) {
            return Ok(Some(code.clone()));
        }
        match &self.backing {
            Some(b) if *hash != KECCAK_EMPTY => Ok(b.store.code(hash)?.map(bytecode)),
            _ => Ok(None),
        }
    }

    /// Code of an account.
    pub fn code(&self, address: &Address) -> Result<Option<Bytecode>, StorageError> {
        match self.leaf(address)? {
            Some((_, _, hash)) if hash != KECCAK_EMPTY => self.code_by_hash(&hash),
            _ => Ok(None),
        }
    }

    /// Account info as revm wants it.
    pub fn account_info(&self, address: &Address) -> Result<Option<AccountInfo>, StorageError> {
        let Some((nonce, balance, code_hash)) = self.leaf(address)? else {
            return Ok(None);
        };
        let code = if code_hash == KECCAK_EMPTY {
            None
        } else {
            self.code_by_hash(&code_hash)?
        };
        Ok(Some(AccountInfo {
            balance,
            nonce,
            code_hash,
            code,
            ..Default::default()
        }))
    }

    /// The account at `address` for writing: loaded from the store (or created) first.
    fn account_mut(&mut self, address: Address) -> Result<&mut Account, StorageError> {
        self.load(address)?;
        self.dirty.insert(address);
        if let Some(b) = self.backing.as_mut() {
            b.changed.insert(address);
        }
        let stored = self.backing.is_some();
        let account = Arc::make_mut(self.accounts.entry(address).or_insert_with(|| {
            Arc::new(if stored {
                Account::created()
            } else {
                Account::with_balance(U256::ZERO)
            })
        }));
        if let Some(s) = account.stored.as_deref_mut()
            && s.deleted
        {
            // Writing to a deleted account creates it anew, without the old storage.
            s.deleted = false;
            account.nonce = 0;
            account.balance = U256::ZERO;
            account.code_hash = KECCAK_EMPTY;
        }
        Ok(account)
    }

    /// Brings a stored account into memory (nothing for a state in memory).
    fn load(&mut self, address: Address) -> Result<(), StorageError> {
        let Some(b) = &self.backing else {
            return Ok(());
        };
        if self.accounts.contains_key(&address) {
            return Ok(());
        }
        if let Some(leaf) = b
            .read
            .take(&address)
            .map_or_else(|| b.store.account(b.at, &address), Ok)?
        {
            self.accounts
                .insert(address, Arc::new(Account::loaded(&leaf)));
        }
        Ok(())
    }

    /// Sets an account's balance, creating the account if needed.
    pub fn set_balance(&mut self, address: Address, balance: U256) -> Result<(), StorageError> {
        self.account_mut(address)?.balance = balance;
        Ok(())
    }

    /// Sets an account's nonce, creating the account if needed.
    pub fn set_nonce(&mut self, address: Address, nonce: u64) -> Result<(), StorageError> {
        self.account_mut(address)?.nonce = nonce;
        Ok(())
    }

    /// Sets an account's code, creating the account if needed; empty code clears it.
    pub fn set_code(&mut self, address: Address, code: Bytes) -> Result<(), StorageError> {
        let hash = if code.is_empty() {
            KECCAK_EMPTY
        } else {
            self.insert_code(bytecode(code))
        };
        self.account_mut(address)?.code_hash = hash;
        Ok(())
    }

    /// Sets a storage slot, creating the account if needed; zero deletes the slot.
    pub fn set_storage(
        &mut self,
        address: Address,
        slot: U256,
        value: U256,
    ) -> Result<(), StorageError> {
        self.account_mut(address)?.set_storage(slot, value);
        Ok(())
    }

    /// Inserts a whole account (genesis allocation, test fixtures), replacing any account
    /// and storage under the address.
    pub fn insert_account(
        &mut self,
        address: Address,
        nonce: u64,
        balance: U256,
        code: Option<Bytes>,
        storage: impl IntoIterator<Item = (U256, U256)>,
    ) -> Result<(), StorageError> {
        {
            let account = self.account_mut(address)?;
            account.clear_storage();
            account.nonce = nonce;
            account.balance = balance;
            account.code_hash = KECCAK_EMPTY;
        }
        if let Some(code) = code {
            self.set_code(address, code)?;
        }
        let account = self.account_mut(address)?;
        for (slot, value) in storage {
            account.set_storage(slot, value);
        }
        Ok(())
    }

    /// Registers code by its hash (bytecode deployed during execution).
    pub fn insert_code(&mut self, code: Bytecode) -> B256 {
        let hash = code.hash_slow();
        self.code.entry(hash).or_insert(code);
        if let Some(b) = self.backing.as_mut() {
            b.new_code.insert(hash);
        }
        hash
    }

    /// Deletes an account and its storage.
    pub fn remove_account(&mut self, address: Address) -> Result<(), StorageError> {
        if self.backing.is_none() {
            if self.accounts.remove(&address).is_some() {
                self.dirty.insert(address);
            }
            return Ok(());
        }
        self.load(address)?;
        if self.accounts.get(&address).is_none_or(|a| a.is_deleted()) {
            return Ok(());
        }
        let account = self.account_mut(address)?;
        account.clear_storage();
        if let Some(s) = account.stored.as_deref_mut() {
            s.deleted = true;
        }
        Ok(())
    }

    /// Applies the changes of one transaction (or system step). On an error (a store that
    /// cannot be read) the accounts before the failing one are changed: use
    /// [`WorldState::apply_with_undo`] to be able to put them back.
    pub fn apply(&mut self, changes: &StateChanges) -> Result<(), StorageError> {
        for (address, change) in changes {
            self.apply_one(address, change)?;
        }
        Ok(())
    }

    fn apply_one(&mut self, address: &Address, change: &AccountChange) -> Result<(), StorageError> {
        let Some((nonce, balance, code_hash)) = change.info else {
            return self.remove_account(*address);
        };
        let account = self.account_mut(*address)?;
        if change.storage_cleared {
            account.clear_storage();
        }
        account.nonce = nonce;
        account.balance = balance;
        account.code_hash = code_hash;
        for (slot, value) in &change.storage {
            account.set_storage(*slot, *value);
        }
        Ok(())
    }

    /// Applies changes like [`WorldState::apply`] and returns what puts the state back; on an
    /// error nothing is changed. The undo is `O(changed accounts and slots)`, except for
    /// accounts in memory whose storage the changes wipe (self-destruct, re-creation), whose
    /// whole storage it keeps.
    pub fn apply_with_undo(&mut self, changes: &StateChanges) -> Result<Undo, StorageError> {
        let mut undo = Undo {
            entries: Vec::with_capacity(changes.len()),
        };
        for (address, change) in changes {
            if let Err(error) = self.load(*address) {
                self.revert(undo);
                return Err(error);
            }
            let before = match self.accounts.get(address) {
                None => Before::Absent,
                Some(account) if account.stored.is_some() => Before::Whole(Arc::clone(account)),
                Some(account) => {
                    let wipes = change.info.is_none() || change.storage_cleared;
                    Before::Fields(AccountSnapshot {
                        nonce: account.nonce,
                        balance: account.balance,
                        code_hash: account.code_hash,
                        slots: if wipes {
                            account.storage.iter().map(|(k, v)| (*k, *v)).collect()
                        } else {
                            change
                                .storage
                                .iter()
                                .map(|(slot, _)| (*slot, account.storage(slot)))
                                .collect()
                        },
                        wiped: wipes,
                    })
                }
            };
            undo.entries.push((*address, before));
            if let Err(error) = self.apply_one(address, change) {
                self.revert(undo);
                return Err(error);
            }
        }
        Ok(undo)
    }

    /// Puts back the state an [`Undo`] was taken from. Undos must be reverted newest first.
    pub fn revert(&mut self, undo: Undo) {
        for (address, before) in undo.entries.into_iter().rev() {
            self.dirty.insert(address);
            match before {
                Before::Absent => {
                    self.accounts.remove(&address);
                }
                Before::Whole(account) => {
                    self.accounts.insert(address, account);
                }
                Before::Fields(snapshot) => {
                    let account = Arc::make_mut(
                        self.accounts
                            .entry(address)
                            .or_insert_with(|| Arc::new(Account::with_balance(U256::ZERO))),
                    );
                    if snapshot.wiped {
                        account.clear_storage();
                    }
                    account.nonce = snapshot.nonce;
                    account.balance = snapshot.balance;
                    account.code_hash = snapshot.code_hash;
                    for (slot, value) in snapshot.slots {
                        account.set_storage(slot, value);
                    }
                }
            }
        }
    }

    /// The Ethereum state root, bringing the tries up to date with every change since the last
    /// call. Storage roots of changed accounts are computed in parallel. Over a store, the
    /// trie nodes the updates need are loaded from it; an error there leaves the changes not
    /// hashed yet for the next call.
    pub fn state_root(&mut self) -> Result<B256, StorageError> {
        if self.dirty.is_empty() {
            return Ok(self.trie.root());
        }
        let dirty: Vec<Address> = self.dirty.drain().collect();
        // Storage roots first (independent per account, so in parallel), then leaves. The
        // dirty accounts are taken out of the map for the parallel pass so each thread owns
        // the accounts it hashes, and put back after.
        let mut present: Vec<(Address, Arc<Account>)> = Vec::with_capacity(dirty.len());
        let mut absent = Vec::new();
        for address in dirty {
            match self.accounts.remove(&address) {
                Some(account) if account.is_deleted() => {
                    absent.push(address);
                    self.accounts.insert(address, account);
                }
                Some(account) => present.push((address, account)),
                None => absent.push(address),
            }
        }
        let backing = self.backing.as_ref();
        let leaves: Vec<Result<(B256, Vec<u8>), StorageError>> = present
            .par_iter_mut()
            .with_min_len(16)
            .map(|(address, account)| {
                let account = Arc::make_mut(account);
                let key = *account.trie_key.get_or_insert_with(|| keccak256(*address));
                let storage_root = match backing {
                    Some(b) => {
                        let load = b.nodes(&key);
                        account.storage_root(Some(&load))?
                    }
                    None => account.storage_root(None)?,
                };
                let leaf = TrieAccount {
                    nonce: account.nonce,
                    balance: account.balance,
                    storage_root,
                    code_hash: account.code_hash,
                };
                Ok((key, alloy_rlp::encode(leaf)))
            })
            .collect();
        let addresses: Vec<Address> = present.iter().map(|(a, _)| *a).collect();
        self.accounts.extend(present);
        let mut updates = Vec::with_capacity(leaves.len() + absent.len());
        let mut failed = None;
        for (address, leaf) in addresses.iter().zip(leaves) {
            match leaf {
                Ok((key, leaf)) => updates.push((*address, key, Some(leaf))),
                Err(error) => {
                    self.dirty.insert(*address);
                    failed.get_or_insert(error);
                }
            }
        }
        updates.extend(absent.into_iter().map(|a| (a, keccak256(a), None)));
        let backing = self.backing.as_ref();
        for (i, (_, key, leaf)) in updates.iter().enumerate() {
            if let Some(b) = backing {
                let load = b.nodes(&ACCOUNT_TRIE);
                if let Err(error) = self.trie.load_path(*key, leaf.is_none(), &load) {
                    // What is not in the trie yet is hashed by the next call.
                    self.dirty.extend(updates[i..].iter().map(|(a, _, _)| *a));
                    return Err(error);
                }
            }
            match leaf {
                Some(leaf) => self.trie.insert(*key, leaf.clone()),
                None => {
                    self.trie.remove(*key);
                }
            }
        }
        match failed {
            Some(error) => Err(error),
            None => Ok(self.trie.root()),
        }
    }

    /// The state root computed from scratch with alloy-trie's `HashBuilder`, ignoring every
    /// cached hash: the reference the incremental root is tested against. A state in memory
    /// only (over a store it covers only the accounts held in memory).
    pub fn state_root_from_scratch(&self) -> B256 {
        let leaves: Vec<(B256, Vec<u8>)> = self
            .accounts
            .par_iter()
            .filter(|(_, account)| !account.is_deleted())
            .map(|(address, account)| {
                let leaf = TrieAccount {
                    nonce: account.nonce,
                    balance: account.balance,
                    storage_root: account.storage_root_from_scratch(),
                    code_hash: account.code_hash,
                };
                (keccak256(address), alloy_rlp::encode(leaf))
            })
            .collect();
        if leaves.is_empty() {
            return EMPTY_ROOT_HASH;
        }
        trie::root_from_scratch(leaves)
    }

    /// The storage root of an account (bringing its storage trie up to date), `None` if the
    /// account does not exist.
    pub fn account_storage_root(
        &mut self,
        address: &Address,
    ) -> Result<Option<B256>, StorageError> {
        self.load(*address)?;
        let backing = self.backing.as_ref();
        let Some(account) = self.accounts.get_mut(address).filter(|a| !a.is_deleted()) else {
            return Ok(None);
        };
        let account = Arc::make_mut(account);
        let key = *account.trie_key.get_or_insert_with(|| keccak256(*address));
        match backing {
            Some(b) => {
                let load = b.nodes(&key);
                account.storage_root(Some(&load)).map(Some)
            }
            None => account.storage_root(None).map(Some),
        }
    }

    /// The account-trie witness for reading the accounts `reads` and writing `writes` (`true`
    /// for a deletion), against the current root. Takes the root first so the trie is current.
    pub(crate) fn account_witness(
        &mut self,
        reads: &[Address],
        writes: &[(Address, bool)],
    ) -> Result<trie::PartialTrie, StorageError> {
        self.state_root()?;
        let reads: Vec<B256> = reads.iter().map(keccak256).collect();
        let updates: Vec<(B256, Option<Vec<u8>>)> = writes
            .iter()
            .map(|(address, deleted)| (keccak256(address), (!deleted).then(|| vec![1])))
            .collect();
        match &self.backing {
            Some(b) => {
                let load = b.nodes(&ACCOUNT_TRIE);
                self.trie.witness_loading(&reads, &updates, Some(&load))
            }
            None => self.trie.witness_loading(&reads, &updates, None),
        }
    }

    /// The storage-trie witness of an account for reading `reads` and writing `writes`
    /// (`true` for a slot set to zero); `None` if the account does not exist. Call after
    /// [`WorldState::state_root`], which brings storage tries up to date.
    pub(crate) fn storage_witness(
        &mut self,
        address: &Address,
        reads: &[U256],
        writes: &[(U256, bool)],
    ) -> Result<Option<trie::PartialTrie>, StorageError> {
        if self.account_storage_root(address)?.is_none() {
            return Ok(None);
        }
        let backing = self.backing.as_ref();
        let Some(account) = self.accounts.get_mut(address) else {
            return Ok(None);
        };
        let account = Arc::make_mut(account);
        let owner = keccak256(address);
        let reads: Vec<B256> = reads.iter().map(|s| keccak256(B256::from(*s))).collect();
        let updates: Vec<(B256, Option<Vec<u8>>)> = writes
            .iter()
            .map(|(slot, zero)| (keccak256(B256::from(*slot)), (!zero).then(|| vec![1])))
            .collect();
        let witness = match backing {
            Some(b) => {
                let load = b.nodes(&owner);
                account
                    .storage_trie
                    .witness_loading(&reads, &updates, Some(&load))?
            }
            None => account
                .storage_trie
                .witness_loading(&reads, &updates, None)?,
        };
        Ok(Some(witness))
    }
}

impl revm::DatabaseRef for WorldState {
    type Error = StorageError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        self.account_info(&address)
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        Ok(self.code_by_hash(&code_hash)?.unwrap_or_default())
    }

    fn storage_ref(&self, address: Address, index: StorageKey) -> Result<U256, Self::Error> {
        self.storage(&address, &index)
    }

    fn block_hash_ref(&self, _number: u64) -> Result<B256, Self::Error> {
        // The world state knows no blocks; the executor's overlay answers BLOCKHASH.
        Ok(B256::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn code_that_only_looks_like_a_delegation_is_kept_as_legacy_code() {
        // 0xef01 starts an EIP-7702 designator, but three bytes are not one; found by the
        // property test below (revm's `Bytecode::new_raw` panics on it).
        let mut state = WorldState::new();
        let code = alloy_primitives::Bytes::from_static(&[0xef, 0x01, 0x03]);
        state
            .set_code(Address::repeat_byte(1), code.clone())
            .unwrap();
        assert_eq!(
            state
                .code(&Address::repeat_byte(1))
                .unwrap()
                .map(|c| c.original_bytes()),
            Some(code.clone())
        );
        assert_eq!(
            state.account(&Address::repeat_byte(1)).unwrap().code_hash,
            keccak256(&code)
        );
    }

    #[test]
    fn empty_state_root() {
        assert_eq!(WorldState::new().state_root().unwrap(), EMPTY_ROOT_HASH);
    }

    fn addr(i: u8) -> Address {
        Address::repeat_byte(i)
    }

    #[derive(Debug, Clone)]
    enum Op {
        Balance(u8, u64),
        Nonce(u8, u64),
        Store(u8, u8, u64),
        Code(u8, Vec<u8>),
        Delete(u8),
        Root,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..24, any::<u64>()).prop_map(|(a, b)| Op::Balance(a, b)),
            (0u8..24, 0u64..5).prop_map(|(a, n)| Op::Nonce(a, n)),
            (0u8..24, 0u8..12, 0u64..4).prop_map(|(a, s, v)| Op::Store(a, s, v)),
            (0u8..24, prop::collection::vec(any::<u8>(), 0..40)).prop_map(|(a, c)| Op::Code(a, c)),
            (0u8..24).prop_map(Op::Delete),
            Just(Op::Root),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Random sequences of blocks (writes separated by root computations) always give the
        /// same root incrementally as from scratch.
        #[test]
        fn incremental_state_root_equals_rebuild(ops in prop::collection::vec(op(), 1..300)) {
            let mut state = WorldState::new();
            for op in ops {
                match op {
                    Op::Balance(a, b) => state.set_balance(addr(a), U256::from(b)).unwrap(),
                    Op::Nonce(a, n) => state.set_nonce(addr(a), n).unwrap(),
                    Op::Store(a, s, v) => state.set_storage(addr(a), U256::from(s), U256::from(v)).unwrap(),
                    Op::Code(a, c) => state.set_code(addr(a), c.into()).unwrap(),
                    Op::Delete(a) => state.remove_account(addr(a)).unwrap(),
                    Op::Root => {
                        let expected = state.state_root_from_scratch();
                        prop_assert_eq!(state.state_root().unwrap(), expected);
                    }
                }
            }
            let expected = state.state_root_from_scratch();
            prop_assert_eq!(state.state_root().unwrap(), expected);
        }
    }
}
