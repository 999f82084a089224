//! What a state over a store hands to it (the changes of a block, or a whole genesis), how
//! its tries load nodes from it, and letting go of memory once the store holds them.

use super::{
    ACCOUNT_TRIE, Address, AddressMap, AddressSet, Arc, B256, B256Set, Bytes, EMPTY_ROOT_HASH,
    Nibbles, RESIDENT_DEPTH, StateDiff, StateStore, StorageError, StoredAccount, U256, WorldState,
    keccak256, trie,
};
use std::sync::{Mutex, PoisonError};

impl WorldState {
    /// What changed since the store's block, for the store to commit as the next block: the
    /// accounts, slots, code and trie nodes. Takes the state root first. Over no store, an
    /// empty diff.
    pub fn take_diff(&mut self) -> Result<StateDiff, StorageError> {
        self.state_root()?;
        let Some(b) = self.backing.as_mut() else {
            return Ok(StateDiff::default());
        };
        let mut diff = StateDiff::default();
        let mut changed: Vec<Address> = b.changed.drain().collect();
        changed.sort_unstable();
        b.last_block.clear();
        for address in changed {
            let Some(account) = self.accounts.get_mut(&address) else {
                continue;
            };
            let account = Arc::make_mut(account);
            let Some(stored) = account.stored.as_deref_mut() else {
                continue;
            };
            if stored.deleted {
                diff.accounts.push((address, None));
                diff.wiped.push(address);
                stored.written.clear();
                continue;
            }
            if stored.wiped {
                diff.wiped.push(address);
                stored.wiped = false;
            }
            let mut written: Vec<U256> = stored.written.drain().collect();
            written.sort_unstable();
            for slot in written {
                let value = account.storage.get(&slot).copied().unwrap_or_default();
                diff.storage.push((address, slot, value));
            }
            let owner = keccak256(address);
            b.last_block.push((address, owner));
            diff.nodes.extend(
                account
                    .storage_trie
                    .take_node_changes()
                    .into_iter()
                    .map(|(path, node)| (owner, path, node)),
            );
            diff.accounts.push((
                address,
                Some(StoredAccount {
                    nonce: account.nonce,
                    balance: account.balance,
                    code_hash: account.code_hash,
                    storage_root: account
                        .storage_trie
                        .hashed_root()
                        .unwrap_or(EMPTY_ROOT_HASH),
                }),
            ));
        }
        diff.nodes.extend(
            self.trie
                .take_node_changes()
                .into_iter()
                .map(|(path, node)| (ACCOUNT_TRIE, path, node)),
        );
        let mut code: Vec<B256> = b.new_code.drain().collect();
        code.sort_unstable();
        diff.code = code
            .into_iter()
            .filter_map(|hash| Some((hash, self.code.get(&hash)?.original_bytes())))
            .collect();
        diff.nodes.sort_unstable_by_key(|node| (node.0, node.1));
        Ok(diff)
    }

    /// Everything in this state as one diff, for a store to commit as its genesis block: every
    /// account, slot and code, and every trie node. For a state in memory (over a store,
    /// [`WorldState::take_diff`] gives what changed).
    pub fn genesis_diff(&mut self) -> Result<StateDiff, StorageError> {
        self.state_root()?;
        let mut diff = StateDiff::default();
        let mut addresses: Vec<Address> = self.accounts.keys().copied().collect();
        addresses.sort_unstable();
        for address in addresses {
            let Some(account) = self.accounts.get_mut(&address) else {
                continue;
            };
            if account.is_deleted() {
                continue;
            }
            let account = Arc::make_mut(account);
            let owner = keccak256(address);
            let mut slots: Vec<(U256, U256)> = account
                .storage_slots()
                .map(|(slot, value)| (*slot, *value))
                .collect();
            slots.sort_unstable();
            diff.storage.extend(
                slots
                    .into_iter()
                    .map(|(slot, value)| (address, slot, value)),
            );
            diff.nodes.extend(
                account
                    .storage_trie
                    .nodes_by_path()
                    .into_iter()
                    .map(|(path, node)| (owner, path, Some(node))),
            );
            diff.accounts.push((
                address,
                Some(StoredAccount {
                    nonce: account.nonce,
                    balance: account.balance,
                    code_hash: account.code_hash,
                    storage_root: account.storage_trie.root(),
                }),
            ));
        }
        diff.nodes.extend(
            self.trie
                .nodes_by_path()
                .into_iter()
                .map(|(path, node)| (ACCOUNT_TRIE, path, Some(node))),
        );
        let mut code: Vec<(B256, Bytes)> = self
            .code
            .iter()
            .map(|(hash, code)| (*hash, code.original_bytes()))
            .collect();
        code.sort_unstable();
        diff.code = code;
        diff.nodes.sort_unstable_by_key(|node| (node.0, node.1));
        Ok(diff)
    }

    /// The store now holds this state as block `at` (it was committed from
    /// [`WorldState::take_diff`], or is a block the store already had): reads go to the store
    /// at `at`. What memory holds of a state whose changes were taken for the store (accounts,
    /// trie nodes) is the store's block too, so it stays for the next block, up to a bound set
    /// by the store's
    /// [`NodeCache`](crate::storage::NodeCache) (half its budget, at about 512 bytes an
    /// account or node; none without a cache). Past the bound, memory lets go of everything
    /// but the top of the account trie and the accounts the block changed (with their paths
    /// and storage, unless they alone hold half the bound), and the subtrees it let go go
    /// into the cache.
    pub fn stand_on(&mut self, at: u64) {
        self.settle(at, false);
    }

    /// The store now holds block `at`, and this state is one block further: that block's
    /// changes were taken with [`WorldState::take_diff`] and are on their way to the store
    /// (a replica writing behind, [`crate::EvmStateTransition::set_write_behind`]). Reads go
    /// to the store at `at`; memory lets go as [`WorldState::stand_on`] does but keeps
    /// whatever that block changed, bound or not: the store does not have it yet. That block
    /// must not have deleted an account or wiped storage (memory does not keep what a wipe
    /// hides): a replica waits for such a block's write instead.
    pub fn stand_on_ahead(&mut self, at: u64) {
        self.settle(at, true);
    }

    fn settle(&mut self, at: u64, ahead: bool) {
        /// Bytes counted for an account or a trie node held.
        const HELD_BYTES: usize = 512;
        let Some(b) = self.backing.as_mut() else {
            return;
        };
        // Memory is the store's block only when its changes went into the store through
        // `take_diff` (which leaves nothing changed, nothing unhashed): a replica that reached
        // the store's block on its own still has its changes marked (slots written, storage
        // wiped), which the next commit must not write again.
        let taken = b.changed.is_empty() && self.dirty.is_empty();
        if ahead && !taken {
            // Changes since the take: nothing is let go and reads stay where they were (on
            // a block before them all).
            return;
        }
        b.at = at;
        b.read.clear();
        b.changed.clear();
        b.new_code.clear();
        self.dirty.clear();
        self.trie.clear_node_changes();
        let cache = b.store.node_cache();
        let bound = cache.map_or(0, |c| c.budget() / 2 / HELD_BYTES);
        let held = self.trie.loaded()
            + self
                .accounts
                .values()
                .map(|a| 1 + a.storage.len() + a.storage_trie.loaded())
                .sum::<usize>()
            + self
                .code
                .values()
                .map(|code| 1 + code.len() / HELD_BYTES)
                .sum::<usize>();
        if taken && held <= bound {
            // Tombstones only hid stored accounts until the commit that deleted them.
            self.accounts.retain(|_, a| !a.is_deleted());
            return;
        }
        // What the block just committed changed stays (its senders, a hot contract and its
        // storage: the next block is likely to touch them again), unless that alone is a good
        // part of the bound; a replica whose memory is not the store's block keeps nothing.
        let mut kept = std::mem::take(&mut b.last_block);
        let kept_units: usize = kept
            .iter()
            .filter_map(|(address, _)| self.accounts.get(address))
            .map(|a| 1 + a.storage.len() + a.storage_trie.loaded() + RESIDENT_DEPTH)
            .sum();
        if !ahead && (!taken || kept_units > bound / 2) {
            kept.clear();
        }
        let keep: AddressSet = kept.iter().map(|(address, _)| *address).collect();
        if let Some(cache) = cache {
            // The next block finds the storage tries this one loaded (a contract's hot slots)
            // without reading them again.
            for (address, account) in &self.accounts {
                if !keep.contains(address) && account.storage_trie.is_stored() {
                    account.storage_trie.cache_into(cache);
                }
            }
        }
        let mut gone = std::mem::take(&mut self.accounts);
        for address in &keep {
            if let Some(account) = gone.remove(address).filter(|a| !a.is_deleted()) {
                self.accounts.insert(*address, account);
            }
        }
        trie::drop_aside(gone);
        let code: B256Set = self.accounts.values().map(|a| a.code_hash).collect();
        self.code.retain(|hash, _| code.contains(hash));
        let mut keys: Vec<B256> = kept.into_iter().map(|(_, key)| key).collect();
        keys.sort_unstable();
        self.trie.evict(RESIDENT_DEPTH, &keys, cache);
    }
}

/// The store a state reads through, and what it changed since the store's block `at`.
#[derive(Clone, Debug)]
pub(super) struct Backing {
    pub(super) store: Arc<dyn StateStore>,
    /// The block whose post-state the store answers for this state.
    pub(super) at: u64,
    /// Accounts changed since `at`.
    pub(super) changed: AddressSet,
    /// Code added since `at`.
    pub(super) new_code: B256Set,
    /// Accounts read from the store at `at` and not loaded.
    pub(super) read: ReadCache,
    /// The accounts the last block committed through [`WorldState::take_diff`] changed, with
    /// their trie keys: what memory keeps when it lets go of the rest.
    pub(super) last_block: Vec<(Address, B256)>,
}

/// Accounts a state read from the store at its block without loading them (execution reads
/// an account before it writes it, and a transfer's recipient is read more than once): the
/// store answers each once a block. Cleared when the state moves to another block; bounded.
#[derive(Debug, Default)]
pub(super) struct ReadCache(Mutex<AddressMap<Option<StoredAccount>>>);

impl ReadCache {
    /// Accounts kept at most: past it, the cache starts again (a replica that only reads,
    /// such as a call at a past block, never stands on another block).
    const BOUND: usize = 1 << 16;

    fn lock(&self) -> std::sync::MutexGuard<'_, AddressMap<Option<StoredAccount>>> {
        // The map holds only whole entries: a panic elsewhere leaves it valid.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The read kept for `address`, taken out (the account is being loaded).
    pub(super) fn take(&self, address: &Address) -> Option<Option<StoredAccount>> {
        self.lock().remove(address)
    }

    pub(super) fn clear(&self) {
        self.lock().clear();
    }
}

/// A replica cloned from a state starts with no reads of its own (cheap to clone).
impl Clone for ReadCache {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl Backing {
    /// The account at `address` as of the store's block `at`, read once.
    pub(super) fn read(&self, address: &Address) -> Result<Option<StoredAccount>, StorageError> {
        if let Some(read) = self.read.lock().get(address) {
            return Ok(*read);
        }
        let read = self.store.account(self.at, address)?;
        let mut cache = self.read.lock();
        if cache.len() >= ReadCache::BOUND {
            cache.clear();
        }
        cache.insert(*address, read);
        Ok(read)
    }

    /// Where the trie of `owner` loads its nodes: the store's cache of decoded nodes, then
    /// the store as of `at`.
    pub(super) fn nodes<'a>(
        &'a self,
        owner: &'a B256,
    ) -> trie::Cached<'a, impl Fn(&Nibbles) -> Result<Option<Vec<u8>>, StorageError> + Sync + 'a>
    {
        trie::Cached {
            read: move |path: &Nibbles| self.store.trie_node(self.at, owner, path),
            cache: self.store.node_cache(),
        }
    }
}
