//! The rollup's world state and its Ethereum state root.
//!
//! [`WorldState`] holds accounts, storage and code in memory, lets revm read them through its
//! `DatabaseRef` trait, and maintains the Ethereum Merkle-Patricia state root incrementally:
//! the account trie is keyed by `keccak256(address)` with values `rlp([nonce, balance,
//! storage_root, code_hash])`, and each account's storage trie by `keccak256(slot)` with values
//! `rlp(value)`. Writes mark accounts and slots dirty; [`WorldState::state_root`] re-encodes only
//! those and re-hashes only their trie paths (see [`trie`]).

mod proof;
pub mod trie;

pub use proof::{AccountProof, StorageProof};

use alloy_primitives::{
    Address, B256, Bytes, U256, keccak256,
    map::{AddressMap, AddressSet, B256Map, HashMap},
};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount};
use rayon::prelude::*;
use revm::{
    bytecode::Bytecode, database_interface::DBErrorMarker, primitives::StorageKey,
    state::AccountInfo,
};
use std::sync::Arc;
use trie::MerkleTrie;

/// An account of the world state.
#[derive(Clone, Debug, Default)]
pub struct Account {
    /// Nonce.
    pub nonce: u64,
    /// Balance in wei.
    pub balance: U256,
    /// Hash of the account's code ([`KECCAK_EMPTY`] for none).
    pub code_hash: B256,
    /// Non-zero storage slots.
    storage: HashMap<U256, U256>,
    /// Storage trie, kept in step with `storage` when the root is taken.
    storage_trie: MerkleTrie,
    /// Slots written since the storage root was last taken.
    dirty_slots: Vec<U256>,
    /// `keccak256(address)`, the account's trie key, once it has been computed.
    trie_key: Option<B256>,
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

    /// The value of a storage slot (zero when unset).
    pub fn storage(&self, slot: &U256) -> U256 {
        self.storage.get(slot).copied().unwrap_or_default()
    }

    /// The account's non-zero storage slots.
    pub fn storage_slots(&self) -> impl Iterator<Item = (&U256, &U256)> {
        self.storage.iter()
    }

    /// Whether the account is empty in the EIP-161 sense (no nonce, balance or code).
    pub fn is_empty(&self) -> bool {
        self.nonce == 0 && self.balance.is_zero() && self.code_hash == KECCAK_EMPTY
    }

    fn info(&self, code: Option<Bytecode>) -> AccountInfo {
        AccountInfo {
            balance: self.balance,
            nonce: self.nonce,
            code_hash: self.code_hash,
            code,
            ..Default::default()
        }
    }

    fn set_storage(&mut self, slot: U256, value: U256) {
        if value.is_zero() {
            if self.storage.remove(&slot).is_none() {
                return;
            }
        } else if self.storage.insert(slot, value) == Some(value) {
            return;
        }
        self.dirty_slots.push(slot);
    }

    fn clear_storage(&mut self) {
        self.storage.clear();
        self.storage_trie = MerkleTrie::new();
        self.dirty_slots.clear();
    }

    /// Brings the storage trie up to date and returns its root.
    fn storage_root(&mut self) -> B256 {
        for slot in self.dirty_slots.drain(..) {
            let key = keccak256(B256::from(slot));
            match self.storage.get(&slot) {
                Some(value) => self.storage_trie.insert(key, alloy_rlp::encode(value)),
                None => {
                    self.storage_trie.remove(key);
                }
            }
        }
        self.storage_trie.root()
    }

    /// The account's storage root computed from scratch (reference for tests).
    fn storage_root_from_scratch(&self) -> B256 {
        if self.storage.is_empty() {
            return EMPTY_ROOT_HASH;
        }
        trie::root_from_scratch(
            self.storage
                .iter()
                .map(|(slot, value)| (keccak256(B256::from(*slot)), alloy_rlp::encode(value)))
                .collect(),
        )
    }
}

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
    entries: Vec<(Address, Option<AccountSnapshot>)>,
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

/// Error of the in-memory state as a revm database. Reads never fail; the type exists because
/// revm's database traits require one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("in-memory state read failed")]
pub struct StateError;

impl DBErrorMarker for StateError {}

/// In-memory world state with an incrementally maintained Ethereum state root.
#[derive(Clone, Debug, Default)]
pub struct WorldState {
    /// Shared with clones, copied on write: a replica kept at a batch's pre-state costs
    /// nothing until the accounts it shares change.
    accounts: AddressMap<Arc<Account>>,
    code: B256Map<Bytecode>,
    trie: MerkleTrie,
    /// Accounts whose trie leaf must be re-encoded (changed or deleted).
    dirty: AddressSet,
}

impl WorldState {
    /// An empty state, whose root is [`EMPTY_ROOT_HASH`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Whether there is no account.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// An account, if it exists.
    pub fn account(&self, address: &Address) -> Option<&Account> {
        self.accounts.get(address).map(Arc::as_ref)
    }

    /// All accounts.
    pub fn accounts(&self) -> impl Iterator<Item = (&Address, &Account)> {
        self.accounts
            .iter()
            .map(|(address, account)| (address, &**account))
    }

    /// Balance of an account (zero when it does not exist).
    pub fn balance(&self, address: &Address) -> U256 {
        self.accounts
            .get(address)
            .map(|a| a.balance)
            .unwrap_or_default()
    }

    /// Nonce of an account (zero when it does not exist).
    pub fn nonce(&self, address: &Address) -> u64 {
        self.accounts
            .get(address)
            .map(|a| a.nonce)
            .unwrap_or_default()
    }

    /// A storage slot (zero when unset).
    pub fn storage(&self, address: &Address, slot: &U256) -> U256 {
        self.accounts
            .get(address)
            .map(|a| a.storage(slot))
            .unwrap_or_default()
    }

    /// Code by hash.
    pub fn code_by_hash(&self, hash: &B256) -> Option<&Bytecode> {
        self.code.get(hash)
    }

    /// Code of an account.
    pub fn code(&self, address: &Address) -> Option<&Bytecode> {
        self.accounts
            .get(address)
            .and_then(|a| self.code.get(&a.code_hash))
    }

    fn account_mut(&mut self, address: Address) -> &mut Account {
        self.dirty.insert(address);
        Arc::make_mut(
            self.accounts
                .entry(address)
                .or_insert_with(|| Arc::new(Account::with_balance(U256::ZERO))),
        )
    }

    /// Sets an account's balance, creating the account if needed.
    pub fn set_balance(&mut self, address: Address, balance: U256) {
        self.account_mut(address).balance = balance;
    }

    /// Sets an account's nonce, creating the account if needed.
    pub fn set_nonce(&mut self, address: Address, nonce: u64) {
        self.account_mut(address).nonce = nonce;
    }

    /// Sets an account's code, creating the account if needed; empty code clears it.
    pub fn set_code(&mut self, address: Address, code: alloy_primitives::Bytes) {
        let hash = if code.is_empty() {
            KECCAK_EMPTY
        } else {
            keccak256(&code)
        };
        if !code.is_empty() {
            // Bytes that start like an EIP-7702 delegation but are not one (a genesis file may
            // hold anything) are plain legacy code, as Ethereum treats them: revm's
            // `new_raw` would panic on them.
            self.code.entry(hash).or_insert_with(|| {
                Bytecode::new_raw_checked(code.clone())
                    .unwrap_or_else(|_| Bytecode::new_legacy(code))
            });
        }
        self.account_mut(address).code_hash = hash;
    }

    /// Sets a storage slot, creating the account if needed; zero deletes the slot.
    pub fn set_storage(&mut self, address: Address, slot: U256, value: U256) {
        self.account_mut(address).set_storage(slot, value);
    }

    /// Inserts a whole account (genesis allocation, test fixtures).
    pub fn insert_account(
        &mut self,
        address: Address,
        nonce: u64,
        balance: U256,
        code: Option<alloy_primitives::Bytes>,
        storage: impl IntoIterator<Item = (U256, U256)>,
    ) {
        {
            let account = self.account_mut(address);
            account.clear_storage();
            account.nonce = nonce;
            account.balance = balance;
            account.code_hash = KECCAK_EMPTY;
        }
        if let Some(code) = code {
            self.set_code(address, code);
        }
        let account = self.account_mut(address);
        for (slot, value) in storage {
            account.set_storage(slot, value);
        }
    }

    /// Registers code by its hash (bytecode deployed during execution).
    pub fn insert_code(&mut self, code: Bytecode) -> B256 {
        let hash = code.hash_slow();
        self.code.entry(hash).or_insert(code);
        hash
    }

    /// Deletes an account and its storage.
    pub fn remove_account(&mut self, address: Address) {
        if self.accounts.remove(&address).is_some() {
            self.dirty.insert(address);
        }
    }

    /// Applies the changes of one transaction (or system step).
    pub fn apply(&mut self, changes: &StateChanges) {
        for (address, change) in changes {
            let Some((nonce, balance, code_hash)) = change.info else {
                self.remove_account(*address);
                continue;
            };
            let account = self.account_mut(*address);
            if change.storage_cleared {
                account.clear_storage();
            }
            account.nonce = nonce;
            account.balance = balance;
            account.code_hash = code_hash;
            for (slot, value) in &change.storage {
                account.set_storage(*slot, *value);
            }
        }
    }

    /// Applies changes like [`WorldState::apply`] and returns what puts the state back.
    /// The undo is `O(changed accounts and slots)`, except for accounts whose storage the
    /// changes wipe (self-destruct, re-creation), whose whole storage it keeps.
    pub fn apply_with_undo(&mut self, changes: &StateChanges) -> Undo {
        let mut entries = Vec::with_capacity(changes.len());
        for (address, change) in changes {
            let snapshot = self.accounts.get(address).map(|account| {
                let wipes = change.info.is_none() || change.storage_cleared;
                AccountSnapshot {
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
                }
            });
            entries.push((*address, snapshot));
        }
        self.apply(changes);
        Undo { entries }
    }

    /// Puts back the state an [`Undo`] was taken from. Undos must be reverted newest first.
    pub fn revert(&mut self, undo: Undo) {
        for (address, snapshot) in undo.entries.into_iter().rev() {
            let Some(snapshot) = snapshot else {
                self.remove_account(address);
                continue;
            };
            let account = self.account_mut(address);
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

    /// The Ethereum state root, bringing the tries up to date with every change since the last
    /// call. Storage roots of changed accounts are computed in parallel.
    pub fn state_root(&mut self) -> B256 {
        if !self.dirty.is_empty() {
            let dirty: Vec<Address> = self.dirty.drain().collect();
            // Storage roots first (independent per account, so in parallel), then leaves. The
            // dirty accounts are taken out of the map for the parallel pass so each thread owns
            // the accounts it hashes, and put back after.
            let mut present: Vec<(Address, Arc<Account>)> = Vec::with_capacity(dirty.len());
            let mut absent = Vec::new();
            for address in dirty {
                match self.accounts.remove(&address) {
                    Some(account) => present.push((address, account)),
                    None => absent.push(address),
                }
            }
            let leaves: Vec<(B256, Vec<u8>)> = present
                .par_iter_mut()
                .with_min_len(16)
                .map(|(address, account)| {
                    let account = Arc::make_mut(account);
                    let storage_root = account.storage_root();
                    let leaf = TrieAccount {
                        nonce: account.nonce,
                        balance: account.balance,
                        storage_root,
                        code_hash: account.code_hash,
                    };
                    let key = *account.trie_key.get_or_insert_with(|| keccak256(*address));
                    (key, alloy_rlp::encode(leaf))
                })
                .collect();
            self.accounts.extend(present);
            for (key, leaf) in leaves {
                self.trie.insert(key, leaf);
            }
            for address in absent {
                self.trie.remove(keccak256(address));
            }
        }
        self.trie.root()
    }

    /// The state root computed from scratch with alloy-trie's `HashBuilder`, ignoring every
    /// cached hash: the reference the incremental root is tested against.
    pub fn state_root_from_scratch(&self) -> B256 {
        let leaves: Vec<(B256, Vec<u8>)> = self
            .accounts
            .par_iter()
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
    pub fn account_storage_root(&mut self, address: &Address) -> Option<B256> {
        self.accounts
            .get_mut(address)
            .map(|account| Arc::make_mut(account).storage_root())
    }

    /// The account-trie witness for reading the accounts `reads` and writing `writes` (`true`
    /// for a deletion), against the current root. Takes the root first so the trie is current.
    pub(crate) fn account_witness(
        &mut self,
        reads: &[Address],
        writes: &[(Address, bool)],
    ) -> trie::PartialTrie {
        self.state_root();
        let reads: Vec<B256> = reads.iter().map(keccak256).collect();
        let updates: Vec<(B256, Option<Vec<u8>>)> = writes
            .iter()
            .map(|(address, deleted)| (keccak256(address), (!deleted).then(|| vec![1])))
            .collect();
        self.trie.witness(&reads, &updates)
    }

    /// The storage-trie witness of an account for reading `reads` and writing `writes`
    /// (`true` for a slot set to zero); `None` if the account does not exist. Call after
    /// [`WorldState::state_root`], which brings storage tries up to date.
    pub(crate) fn storage_witness(
        &mut self,
        address: &Address,
        reads: &[U256],
        writes: &[(U256, bool)],
    ) -> Option<trie::PartialTrie> {
        let account = Arc::make_mut(self.accounts.get_mut(address)?);
        account.storage_root();
        let reads: Vec<B256> = reads.iter().map(|s| keccak256(B256::from(*s))).collect();
        let updates: Vec<(B256, Option<Vec<u8>>)> = writes
            .iter()
            .map(|(slot, zero)| (keccak256(B256::from(*slot)), (!zero).then(|| vec![1])))
            .collect();
        Some(account.storage_trie.witness(&reads, &updates))
    }

    /// Account info as revm wants it.
    pub fn account_info(&self, address: &Address) -> Option<AccountInfo> {
        self.accounts.get(address).map(|a| {
            let code = (a.code_hash != KECCAK_EMPTY)
                .then(|| self.code.get(&a.code_hash).cloned())
                .flatten();
            a.info(code)
        })
    }
}

impl revm::DatabaseRef for WorldState {
    type Error = StateError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        Ok(self.account_info(&address))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        Ok(self.code.get(&code_hash).cloned().unwrap_or_default())
    }

    fn storage_ref(&self, address: Address, index: StorageKey) -> Result<U256, Self::Error> {
        Ok(self.storage(&address, &index))
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
        state.set_code(Address::repeat_byte(1), code.clone());
        assert_eq!(
            state
                .code(&Address::repeat_byte(1))
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
        assert_eq!(WorldState::new().state_root(), EMPTY_ROOT_HASH);
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
                    Op::Balance(a, b) => state.set_balance(addr(a), U256::from(b)),
                    Op::Nonce(a, n) => state.set_nonce(addr(a), n),
                    Op::Store(a, s, v) => state.set_storage(addr(a), U256::from(s), U256::from(v)),
                    Op::Code(a, c) => state.set_code(addr(a), c.into()),
                    Op::Delete(a) => state.remove_account(addr(a)),
                    Op::Root => {
                        let expected = state.state_root_from_scratch();
                        prop_assert_eq!(state.state_root(), expected);
                    }
                }
            }
            let expected = state.state_root_from_scratch();
            prop_assert_eq!(state.state_root(), expected);
        }
    }
}
