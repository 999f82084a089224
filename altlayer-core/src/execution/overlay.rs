//! The block overlay: a revm database layered over a read-only state that records every write,
//! so a block can be executed without touching the state and then either applied whole (with
//! a root after each transaction if asked) or dropped.
//!
//! The state underneath is a [`StateSource`]: the world state at the head for block building
//! and re-execution, the same with every read recorded when a one-step proof is prepared, or a
//! Merkle witness when a one-step proof is checked, where a read can find the witness lacking.

use super::MissingState;
use crate::{
    primitives::Header,
    state::{AccountChange, StateChanges, StateError, WorldState},
};
use alloy_primitives::{
    Address, B256, U256,
    map::{AddressMap, B256Map, HashMap},
};
use alloy_trie::KECCAK_EMPTY;
use revm::{
    Database, DatabaseCommit,
    bytecode::Bytecode,
    primitives::StorageKey,
    state::{Account, AccountInfo},
};
use std::borrow::Cow;
use std::collections::VecDeque;

/// The most recent block headers and their hashes, for the `BLOCKHASH` opcode (which sees the
/// last 256) and for the ancestor headers a one-step proof carries.
#[derive(Clone, Debug, Default)]
pub(crate) struct RecentHashes {
    /// Height of the first entry.
    first: u64,
    entries: VecDeque<(B256, Header)>,
}

impl RecentHashes {
    pub(crate) const WINDOW: usize = 256;

    /// Appends the header of the next height.
    pub(crate) fn push(&mut self, header: Header) {
        self.push_hashed(header.hash(), header);
    }

    /// [`Self::push`] with the header's hash already computed.
    pub(crate) fn push_hashed(&mut self, hash: B256, header: Header) {
        if self.entries.is_empty() {
            self.first = header.height;
        }
        self.entries.push_back((hash, header));
        if self.entries.len() > Self::WINDOW {
            self.entries.pop_front();
            self.first += 1;
        }
    }

    pub(crate) fn get(&self, height: u64) -> Option<B256> {
        self.entry(height).map(|(hash, _)| *hash)
    }

    /// The newest header.
    pub(crate) fn newest(&self) -> Option<&Header> {
        self.entries.back().map(|(_, header)| header)
    }

    pub(crate) fn header(&self, height: u64) -> Option<&Header> {
        self.entry(height).map(|(_, header)| header)
    }

    fn entry(&self, height: u64) -> Option<&(B256, Header)> {
        let index = usize::try_from(height.checked_sub(self.first)?).ok()?;
        self.entries.get(index)
    }
}

/// Read-only state under an [`Overlay`]. Reads fail only when the source is partial (a
/// witness) and lacks what was asked for.
pub(crate) trait StateSource: std::fmt::Debug {
    /// Nonce, balance and code hash, or `None` if the account does not exist.
    fn account(&self, address: &Address) -> Result<Option<(u64, U256, B256)>, MissingState>;
    /// A storage slot (zero when unset).
    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, MissingState>;
    /// Code by hash.
    fn code(&self, code_hash: &B256) -> Result<Option<Cow<'_, Bytecode>>, MissingState>;
    /// The hash of an earlier block (zero when out of the `BLOCKHASH` window).
    fn block_hash(&self, number: u64) -> Result<B256, MissingState>;
}

/// The world state at the chain head, with the recent block hashes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Head<'a> {
    pub(crate) state: &'a WorldState,
    pub(crate) hashes: &'a RecentHashes,
}

impl StateSource for Head<'_> {
    fn account(&self, address: &Address) -> Result<Option<(u64, U256, B256)>, MissingState> {
        self.state.leaf(address).map_err(MissingState::Store)
    }

    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, MissingState> {
        self.state
            .storage(address, slot)
            .map_err(MissingState::Store)
    }

    fn code(&self, code_hash: &B256) -> Result<Option<Cow<'_, Bytecode>>, MissingState> {
        self.state
            .code_by_hash(code_hash)
            .map(|code| code.map(Cow::Owned))
            .map_err(MissingState::Store)
    }

    fn block_hash(&self, number: u64) -> Result<B256, MissingState> {
        // revm only asks for the 256 blocks below the current one; anything we do not hold is
        // zero, as the opcode defines for blocks out of range.
        Ok(self.hashes.get(number).unwrap_or_default())
    }
}

/// An account as the overlay sees it after the writes so far.
#[derive(Clone, Debug, Default)]
struct OverlayAccount {
    /// `(nonce, balance, code_hash)`, or `None` if the account was deleted.
    info: Option<(u64, U256, B256)>,
    /// Storage of the base state is invisible (the account was deleted or created anew).
    storage_cleared: bool,
    storage: HashMap<U256, U256>,
}

/// Database over a [`StateSource`] that keeps all writes to itself.
#[derive(Debug)]
pub(crate) struct Overlay<'a, S> {
    base: &'a S,
    /// The first read the source could not answer. Execution cannot be trusted past it, so
    /// the runner checks this after every step and fails with it.
    missing: Option<MissingState>,
    accounts: AddressMap<OverlayAccount>,
    code: B256Map<Bytecode>,
    /// Changes since the last [`Overlay::end_step`].
    step: StateChanges,
    /// Finished steps, when per-step changes are kept.
    steps: Option<Vec<StateChanges>>,
}

impl<'a, S: StateSource> Overlay<'a, S> {
    pub(crate) fn new(base: &'a S, keep_steps: bool) -> Self {
        Self {
            base,
            missing: None,
            accounts: AddressMap::default(),
            code: B256Map::default(),
            step: StateChanges::default(),
            steps: keep_steps.then(Vec::new),
        }
    }

    /// Closes the current step (one transaction, or one system phase of the block).
    pub(crate) fn end_step(&mut self) {
        let step = core::mem::take(&mut self.step);
        if let Some(steps) = &mut self.steps {
            steps.push(step);
        }
    }

    /// The first read the source could not answer, if any.
    pub(crate) fn take_missing(&mut self) -> Option<MissingState> {
        self.missing.take()
    }

    /// The current nonce, balance and code hash of an account as execution sees it.
    pub(crate) fn account(
        &self,
        address: &Address,
    ) -> Result<Option<(u64, U256, B256)>, MissingState> {
        match self.accounts.get(address) {
            Some(account) => Ok(account.info),
            None => self.base.account(address),
        }
    }

    /// The code of an account as execution sees it.
    pub(crate) fn code_of(
        &self,
        code_hash: &B256,
    ) -> Result<Option<Cow<'_, Bytecode>>, MissingState> {
        match self.code.get(code_hash) {
            Some(code) => Ok(Some(Cow::Borrowed(code))),
            None => self.base.code(code_hash),
        }
    }

    /// Keeps the first failed read.
    pub(crate) fn note<T>(&mut self, read: Result<T, MissingState>) -> Result<T, StateError> {
        read.map_err(|missing| {
            self.missing.get_or_insert(missing);
            StateError
        })
    }

    /// Adds to a balance outside the EVM (fee distribution), recorded in the current step.
    pub(crate) fn credit(&mut self, address: Address, amount: U256) {
        if amount.is_zero() {
            return;
        }
        let read = self.account(&address);
        // A miss is noted and fails the run; there is nothing to credit meanwhile.
        let Ok(current) = self.note(read) else {
            return;
        };
        let (nonce, balance, code_hash) = current.unwrap_or((0, U256::ZERO, KECCAK_EMPTY));
        let change = AccountChange {
            info: Some((nonce, balance.saturating_add(amount), code_hash)),
            storage_cleared: false,
            storage: Vec::new(),
        };
        self.record(address, change);
    }

    fn record(&mut self, address: Address, change: AccountChange) {
        let account = self.accounts.entry(address).or_default();
        if change.info.is_none() || change.storage_cleared {
            account.storage.clear();
            account.storage_cleared = true;
        }
        account.info = change.info;
        account.storage.extend(change.storage.iter().copied());
        if self.steps.is_none() {
            // Per-step changes are not wanted: the merged view above is all there is to keep.
            return;
        }
        // Merge into the step: a later change to the same account in the same step wins, and
        // a wipe earlier in the step must survive a later plain write.
        match self.step.get_mut(&address) {
            Some(existing) => {
                if change.info.is_none() || change.storage_cleared {
                    existing.storage.clear();
                    existing.storage_cleared = true;
                }
                existing.info = change.info;
                existing.storage.extend(change.storage);
            }
            None => {
                self.step.insert(address, change);
            }
        }
    }

    /// All changes, merged per account, and the per-step changes if they were kept.
    pub(crate) fn into_changes(
        mut self,
    ) -> (StateChanges, Option<Vec<StateChanges>>, B256Map<Bytecode>) {
        if !self.step.is_empty() {
            self.end_step();
        }
        let merged = self
            .accounts
            .into_iter()
            .map(|(address, account)| {
                let change = AccountChange {
                    info: account.info,
                    storage_cleared: account.storage_cleared,
                    storage: account.storage.into_iter().collect(),
                };
                (address, change)
            })
            .collect();
        (merged, self.steps, self.code)
    }
}

impl<S: StateSource> Database for Overlay<'_, S> {
    type Error = StateError;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        let info = self.account(&address);
        let Some((nonce, balance, code_hash)) = self.note(info)? else {
            return Ok(None);
        };
        let code = if code_hash == KECCAK_EMPTY {
            None
        } else {
            let code = self
                .code_of(&code_hash)
                .map(|code| code.map(Cow::into_owned));
            self.note(code)?
        };
        Ok(Some(AccountInfo {
            nonce,
            balance,
            code_hash,
            code,
            ..Default::default()
        }))
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        let code = self
            .code_of(&code_hash)
            .map(|code| code.map(Cow::into_owned));
        Ok(self.note(code)?.unwrap_or_default())
    }

    fn storage(&mut self, address: Address, index: StorageKey) -> Result<U256, Self::Error> {
        if let Some(account) = self.accounts.get(&address) {
            if let Some(value) = account.storage.get(&index) {
                return Ok(*value);
            }
            if account.storage_cleared {
                return Ok(U256::ZERO);
            }
        }
        let value = self.base.storage(&address, &index);
        self.note(value)
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, Self::Error> {
        let hash = self.base.block_hash(number);
        self.note(hash)
    }
}

impl<S: StateSource> DatabaseCommit for Overlay<'_, S> {
    fn commit(&mut self, changes: AddressMap<Account>) {
        for (address, account) in changes {
            if !account.is_touched() {
                continue;
            }
            let change = if account.is_selfdestructed() {
                AccountChange {
                    info: None,
                    storage_cleared: true,
                    storage: Vec::new(),
                }
            } else if account.is_created() {
                if let Some(code) = &account.info.code
                    && account.info.code_hash != KECCAK_EMPTY
                {
                    self.code
                        .entry(account.info.code_hash)
                        .or_insert_with(|| code.clone());
                }
                AccountChange {
                    info: Some((
                        account.info.nonce,
                        account.info.balance,
                        account.info.code_hash,
                    )),
                    storage_cleared: true,
                    storage: changed_slots(&account),
                }
            } else if account.is_empty() {
                // EIP-161: a touched empty account is removed.
                AccountChange {
                    info: None,
                    storage_cleared: true,
                    storage: Vec::new(),
                }
            } else {
                AccountChange {
                    info: Some((
                        account.info.nonce,
                        account.info.balance,
                        account.info.code_hash,
                    )),
                    storage_cleared: false,
                    storage: changed_slots(&account),
                }
            };
            // An account that did not exist and still does not is no change at all. (Execution
            // has read every account it commits, so the read cannot be missing here; if it
            // were, the runner fails on the noted miss.)
            let existed = self.account(&address);
            if change.info.is_none() && matches!(self.note(existed), Ok(None)) {
                continue;
            }
            self.record(address, change);
        }
    }
}

fn changed_slots(account: &Account) -> Vec<(U256, U256)> {
    account
        .storage
        .iter()
        .filter(|(_, slot)| slot.is_changed())
        .map(|(key, slot)| (*key, slot.present_value))
        .collect()
}
