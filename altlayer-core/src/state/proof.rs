//! Merkle proofs of accounts and storage slots against the state root, as `eth_getProof`
//! (EIP-1186) answers them.

use super::{
    ACCOUNT_TRIE, Address, B256, Bytes, EMPTY_ROOT_HASH, KECCAK_EMPTY, MerkleTrie, StorageError,
    U256, WorldState, keccak256,
};

/// An account with its Merkle proof against a state root, as EIP-1186 (`eth_getProof`) gives
/// it; see [`WorldState::proof`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountProof {
    /// The account.
    pub address: Address,
    /// Its nonce (0 when it does not exist).
    pub nonce: u64,
    /// Its balance.
    pub balance: U256,
    /// Its code hash ([`KECCAK_EMPTY`] without code or account).
    pub code_hash: B256,
    /// Its storage root ([`EMPTY_ROOT_HASH`] without storage or account).
    pub storage_root: B256,
    /// The account trie's nodes on the path to `keccak256(address)`, root first.
    pub account_proof: Vec<Bytes>,
    /// One proof per slot asked for, in order.
    pub storage: Vec<StorageProof>,
}

/// A storage slot with its Merkle proof against its account's storage root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageProof {
    /// The slot, as asked for.
    pub slot: B256,
    /// Its value (zero when unset).
    pub value: U256,
    /// The storage trie's nodes on the path to `keccak256(slot)`, root first (empty when the
    /// account does not exist).
    pub proof: Vec<Bytes>,
}

impl WorldState {
    /// The EIP-1186 proof of an account and of some of its storage slots (`eth_getProof`),
    /// against the state root last taken. `None` when a change has not been hashed since
    /// ([`WorldState::state_root`] brings the tries up to date; every state the chain keeps
    /// after a block is). Over a store, the nodes on the proven paths are read from it.
    pub fn proof(
        &self,
        address: &Address,
        slots: &[B256],
    ) -> Result<Option<AccountProof>, StorageError> {
        if !self.dirty.is_empty() {
            return Ok(None);
        }
        let key = keccak256(address);
        let mut trie = self.trie.clone();
        if let Some(b) = &self.backing {
            let load = b.nodes(&ACCOUNT_TRIE);
            trie.load_path(key, false, &load)?;
        }
        let Some(account_proof) = trie.proof(key) else {
            return Ok(None);
        };
        let Some((nonce, balance, code_hash)) = self.leaf(address)? else {
            return Ok(Some(AccountProof {
                address: *address,
                nonce: 0,
                balance: U256::ZERO,
                code_hash: KECCAK_EMPTY,
                storage_root: EMPTY_ROOT_HASH,
                account_proof,
                storage: slots
                    .iter()
                    .map(|slot| StorageProof {
                        slot: *slot,
                        value: U256::ZERO,
                        proof: Vec::new(),
                    })
                    .collect(),
            }));
        };
        let mut storage_trie = match (self.accounts.get(address), &self.backing) {
            (Some(account), _) if !account.dirty_slots.is_empty() => return Ok(None),
            (Some(account), _) => account.storage_trie.clone(),
            (None, Some(b)) => {
                let root = b
                    .store
                    .account(b.at, address)?
                    .map_or(EMPTY_ROOT_HASH, |a| a.storage_root);
                MerkleTrie::stored(root)
            }
            (None, None) => return Ok(None),
        };
        let mut storage = Vec::with_capacity(slots.len());
        for slot in slots {
            let slot_key = keccak256(slot);
            if let Some(b) = self.backing.as_ref().filter(|_| storage_trie.is_stored()) {
                let load = b.nodes(&key);
                storage_trie.load_path(slot_key, false, &load)?;
            }
            let Some(proof) = storage_trie.proof(slot_key) else {
                return Ok(None);
            };
            storage.push(StorageProof {
                slot: *slot,
                value: self.storage(address, &U256::from_be_bytes(slot.0))?,
                proof,
            });
        }
        let Some(storage_root) = storage_trie.hashed_root() else {
            return Ok(None);
        };
        Ok(Some(AccountProof {
            address: *address,
            nonce,
            balance,
            code_hash,
            storage_root,
            account_proof,
            storage,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_trie::{TrieAccount, proof::verify_proof};
    use nybbles::Nibbles;
    use proptest::prelude::*;

    fn verify(root: B256, key: B256, value: Option<Vec<u8>>, proof: &[Bytes]) {
        verify_proof(root, Nibbles::unpack(key), value, proof).unwrap();
    }

    proptest! {
        /// Every account and slot proof, present or absent, checks out with alloy-trie's
        /// verifier against the state root.
        #[test]
        fn proofs_verify_against_the_state_root(
            accounts in prop::collection::vec(
                (any::<u8>(), 1u64..1_000, prop::collection::vec((0u8..8, 1u64..100), 0..6)),
                1..40,
            ),
            probes in prop::collection::vec((any::<u8>(), 0u8..10), 1..10),
        ) {
            let mut state = WorldState::new();
            for (seed, balance, slots) in &accounts {
                let address = Address::with_last_byte(*seed);
                state.set_balance(address, U256::from(*balance)).unwrap();
                for (slot, value) in slots {
                    state.set_storage(address, U256::from(*slot), U256::from(*value)).unwrap();
                }
            }
            // Before hashing, a proof would be stale: none is given.
            prop_assert!(state.proof(&Address::with_last_byte(accounts[0].0), &[]).unwrap().is_none());
            let root = state.state_root().unwrap();
            for (seed, slot) in probes {
                let address = Address::with_last_byte(seed);
                let slot = B256::from(U256::from(slot));
                let proof = state.proof(&address, &[slot]).unwrap().unwrap();
                let expected = state.account(&address).map(|_| {
                    alloy_rlp::encode(TrieAccount {
                        nonce: proof.nonce,
                        balance: proof.balance,
                        storage_root: proof.storage_root,
                        code_hash: proof.code_hash,
                    })
                });
                verify(root, keccak256(address), expected.clone(), &proof.account_proof);
                if expected.is_some() {
                    let value = proof.storage[0].value;
                    prop_assert_eq!(value, state.storage(&address, &U256::from_be_bytes(slot.0)).unwrap());
                    let encoded = (!value.is_zero()).then(|| alloy_rlp::encode(value));
                    verify(proof.storage_root, keccak256(slot), encoded, &proof.storage[0].proof);
                } else {
                    prop_assert_eq!(proof.storage_root, EMPTY_ROOT_HASH);
                }
            }
        }
    }

    #[test]
    fn the_empty_state_proves_absence_with_no_nodes() {
        let mut state = WorldState::new();
        let root = state.state_root().unwrap();
        let proof = state.proof(&Address::ZERO, &[B256::ZERO]).unwrap().unwrap();
        assert!(proof.account_proof.is_empty());
        verify(root, keccak256(Address::ZERO), None, &proof.account_proof);
    }
}
