//! The block overlay: a revm database layered over the world state that records every write,
//! so a block can be executed without touching the state and then either applied whole (with
//! a root after each transaction if asked) or dropped.

use crate::state::{AccountChange, StateChanges, StateError, WorldState};
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
use std::collections::VecDeque;

/// Hashes of the most recent blocks, for the `BLOCKHASH` opcode (which sees the last 256).
#[derive(Clone, Debug, Default)]
pub(crate) struct RecentHashes {
    /// Height of the first hash in `hashes`.
    first: u64,
    hashes: VecDeque<B256>,
}

impl RecentHashes {
    pub(crate) const WINDOW: usize = 256;

    pub(crate) fn push(&mut self, height: u64, hash: B256) {
        if self.hashes.is_empty() {
            self.first = height;
        }
        self.hashes.push_back(hash);
        if self.hashes.len() > Self::WINDOW {
            self.hashes.pop_front();
            self.first += 1;
        }
    }

    pub(crate) fn get(&self, height: u64) -> Option<B256> {
        let index = usize::try_from(height.checked_sub(self.first)?).ok()?;
        self.hashes.get(index).copied()
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

/// Database over a [`WorldState`] that keeps all writes to itself.
#[derive(Debug)]
pub(crate) struct Overlay<'a> {
    base: &'a WorldState,
    hashes: &'a RecentHashes,
    accounts: AddressMap<OverlayAccount>,
    code: B256Map<Bytecode>,
    /// Changes since the last [`Overlay::end_step`].
    step: StateChanges,
    /// Finished steps, when per-step changes are kept.
    steps: Option<Vec<StateChanges>>,
}

impl<'a> Overlay<'a> {
    pub(crate) fn new(base: &'a WorldState, hashes: &'a RecentHashes, keep_steps: bool) -> Self {
        Self {
            base,
            hashes,
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

    /// The current nonce, balance and code hash of an account as execution sees it.
    pub(crate) fn account(&self, address: &Address) -> Option<(u64, U256, B256)> {
        match self.accounts.get(address) {
            Some(account) => account.info,
            None => self
                .base
                .account(address)
                .map(|a| (a.nonce, a.balance, a.code_hash)),
        }
    }

    /// The code of an account as execution sees it.
    pub(crate) fn code_of(&self, code_hash: &B256) -> Option<&Bytecode> {
        self.code
            .get(code_hash)
            .or_else(|| self.base.code_by_hash(code_hash))
    }

    /// Adds to a balance outside the EVM (fee distribution), recorded in the current step.
    pub(crate) fn credit(&mut self, address: Address, amount: U256) {
        if amount.is_zero() {
            return;
        }
        let (nonce, balance, code_hash) =
            self.account(&address)
                .unwrap_or((0, U256::ZERO, KECCAK_EMPTY));
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

impl Database for Overlay<'_> {
    type Error = StateError;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        match self.accounts.get(&address) {
            Some(account) => Ok(account.info.map(|(nonce, balance, code_hash)| AccountInfo {
                nonce,
                balance,
                code_hash,
                code: (code_hash != KECCAK_EMPTY)
                    .then(|| self.code_of(&code_hash).cloned())
                    .flatten(),
                ..Default::default()
            })),
            None => Ok(self.base.account_info(&address)),
        }
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        Ok(self.code_of(&code_hash).cloned().unwrap_or_default())
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
        Ok(self.base.storage(&address, &index))
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, Self::Error> {
        // revm only asks for the 256 blocks below the current one; anything we do not hold is
        // zero, as the opcode defines for blocks out of range.
        Ok(self.hashes.get(number).unwrap_or_default())
    }
}

impl DatabaseCommit for Overlay<'_> {
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
            // An account that did not exist and still does not is no change at all.
            if change.info.is_none() && self.account(&address).is_none() {
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
