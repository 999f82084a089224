//! Development helpers: deterministic funded accounts, transaction signing, a genesis for them,
//! and a small contract to deploy and call. Used by the devnet, the tests, the benchmarks and
//! the examples; never key material for real funds.

use crate::{
    execution::{DEFAULT_INITIAL_BASE_FEE, RollupConfig},
    state::WorldState,
};
use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy};
use alloy_eips::eip2930::AccessList;
use alloy_primitives::{Address, B256, Bytes, Signature, TxKind, U256, keccak256};
use secp256k1::{Message, SECP256K1, SecretKey};

/// A deterministic development account: its secret key is `keccak256("altlayer-dev" || index)`.
#[derive(Clone, Debug)]
pub struct DevAccount {
    secret: SecretKey,
    /// The account's address.
    pub address: Address,
}

impl DevAccount {
    /// The development account with this index.
    pub fn new(index: u64) -> Self {
        let mut seed = b"altlayer-dev".to_vec();
        seed.extend_from_slice(&index.to_be_bytes());
        let mut digest = keccak256(&seed);
        // A keccak output is a valid secp256k1 key with overwhelming probability; re-hash in
        // the astronomically unlikely other case so the function is total.
        let secret = loop {
            if let Ok(secret) = SecretKey::from_byte_array(digest.0) {
                break secret;
            }
            digest = keccak256(digest);
        };
        Self::from_secret(secret)
    }

    /// An account from a secret key.
    pub fn from_secret(secret: SecretKey) -> Self {
        let public = secret.public_key(SECP256K1).serialize_uncompressed();
        let address = Address::from_slice(&keccak256(&public[1..])[12..]);
        Self { secret, address }
    }

    /// The first `n` development accounts.
    pub fn many(n: u64) -> Vec<Self> {
        (0..n).map(Self::new).collect()
    }

    /// Signs a 32-byte digest (low-s, as EIP-2 requires).
    pub fn sign_hash(&self, hash: &B256) -> Signature {
        let signature =
            SECP256K1.sign_ecdsa_recoverable(Message::from_digest(hash.0), &self.secret);
        let (recid, compact) = signature.serialize_compact();
        Signature::new(
            U256::from_be_slice(&compact[..32]),
            U256::from_be_slice(&compact[32..]),
            i32::from(recid) == 1,
        )
    }

    /// Signs an EIP-1559 transaction.
    pub fn sign_eip1559(&self, tx: TxEip1559) -> TxEnvelope {
        let signature = self.sign_hash(&tx.signature_hash());
        TxEnvelope::Eip1559(tx.into_signed(signature))
    }

    /// Signs a legacy transaction (EIP-155 when it has a chain id).
    pub fn sign_legacy(&self, tx: TxLegacy) -> TxEnvelope {
        let signature = self.sign_hash(&tx.signature_hash());
        TxEnvelope::Legacy(tx.into_signed(signature))
    }

    /// A signed EIP-1559 value transfer with a 2 gwei tip and a 100 gwei fee cap.
    pub fn transfer(&self, chain_id: u64, nonce: u64, to: Address, value: U256) -> TxEnvelope {
        self.sign_eip1559(TxEip1559 {
            chain_id,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: 100_000_000_000,
            max_priority_fee_per_gas: 2_000_000_000,
            to: TxKind::Call(to),
            value,
            access_list: AccessList::default(),
            input: Bytes::new(),
        })
    }

    /// A signed EIP-1559 contract call or creation.
    pub fn call(
        &self,
        chain_id: u64,
        nonce: u64,
        to: TxKind,
        input: Bytes,
        gas_limit: u64,
    ) -> TxEnvelope {
        self.sign_eip1559(TxEip1559 {
            chain_id,
            nonce,
            gas_limit,
            max_fee_per_gas: 100_000_000_000,
            max_priority_fee_per_gas: 2_000_000_000,
            to,
            value: U256::ZERO,
            access_list: AccessList::default(),
            input,
        })
    }
}

/// Runtime code of the development counter: each call increments storage slot 0 and emits
/// `LOG1(data = new value, topic0 = caller)`.
pub const COUNTER_RUNTIME: [u8; 20] = [
    0x60, 0x00, 0x54, // SLOAD(0)
    0x60, 0x01, 0x01, // + 1
    0x80, 0x60, 0x00, 0x55, // SSTORE(0, v)
    0x60, 0x00, 0x52, // MSTORE(0, v)
    0x33, 0x60, 0x20, 0x60, 0x00, 0xa1, // LOG1(0, 32, CALLER)
    0x00, // STOP
];

/// Creation code of the development counter: copies [`COUNTER_RUNTIME`] to memory and
/// returns it.
pub fn counter_init_code() -> Bytes {
    let mut code = vec![
        0x60, 0x14, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, 0x14, 0x60, 0x00, 0xf3,
    ];
    code.extend_from_slice(&COUNTER_RUNTIME);
    code.into()
}

/// Runtime code of the development store, a storage-heavy contract: a call with calldata
/// `(base, value)` (two 32-byte words) sets the 32 slots `base..base + 32` to `value` (zero
/// deletes them), then records `BLOCKHASH(NUMBER - 1)` in slot `0xff` and
/// `BLOCKHASH(NUMBER - 3)` in slot `0xfe`.
pub const STORE_RUNTIME: [u8; 46] = [
    0x60, 0x00, 0x35, // base = CALLDATALOAD(0)
    0x60, 0x20, 0x35, // value = CALLDATALOAD(32)
    0x60, 0x00, // i = 0
    0x5b, // loop:
    0x60, 0x20, 0x81, 0x10, 0x15, 0x60, 0x1c, 0x57, // if !(i < 32) goto end
    0x81, 0x81, 0x84, 0x01, 0x55, // SSTORE(base + i, value)
    0x60, 0x01, 0x01, 0x60, 0x08, 0x56, // i += 1; goto loop
    0x5b, // end:
    0x60, 0x01, 0x43, 0x03, 0x40, 0x60, 0xff, 0x55, // SSTORE(0xff, BLOCKHASH(NUMBER - 1))
    0x60, 0x03, 0x43, 0x03, 0x40, 0x60, 0xfe, 0x55, // SSTORE(0xfe, BLOCKHASH(NUMBER - 3))
    0x00, // STOP
];

/// Creation code of the development store ([`STORE_RUNTIME`]).
pub fn store_init_code() -> Bytes {
    let mut code = vec![
        0x60, 0x2e, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, 0x2e, 0x60, 0x00, 0xf3,
    ];
    code.extend_from_slice(&STORE_RUNTIME);
    code.into()
}

/// Calldata for the development store: set slots `base..base + 32` to `value`.
pub fn store_call(base: U256, value: U256) -> Bytes {
    let mut data = Vec::with_capacity(64);
    data.extend_from_slice(&base.to_be_bytes::<32>());
    data.extend_from_slice(&value.to_be_bytes::<32>());
    data.into()
}

/// Installs Ethereum's system contracts at their addresses, as mainnet has them from Prague:
/// the EIP-2935 block-hash history, the EIP-4788 beacon-roots contract, and the EIP-7002 and
/// EIP-7251 request queues. With them, every block's system calls write state, as on Ethereum;
/// without them the calls find no code and change nothing.
pub fn install_system_contracts(
    state: &mut WorldState,
) -> Result<(), crate::storage::StorageError> {
    use alloy_eips::{eip2935, eip4788, eip7002, eip7251};
    for (address, code) in [
        (
            eip2935::HISTORY_STORAGE_ADDRESS,
            &eip2935::HISTORY_STORAGE_CODE,
        ),
        (eip4788::BEACON_ROOTS_ADDRESS, &eip4788::BEACON_ROOTS_CODE),
        (
            eip7002::WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
            &eip7002::WITHDRAWAL_REQUEST_PREDEPLOY_CODE,
        ),
        (
            eip7251::CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
            &eip7251::CONSOLIDATION_REQUEST_PREDEPLOY_CODE,
        ),
    ] {
        state.set_code(address, code.clone())?;
        // Nonce 1, as the deployments on mainnet have.
        state.set_nonce(address, 1)?;
    }
    Ok(())
}

/// Balance given to each development account at genesis: one million ether.
pub fn dev_balance() -> U256 {
    U256::from(1_000_000u64) * U256::from(10u64).pow(U256::from(18u64))
}

/// A world state in which the first `n` development accounts hold [`dev_balance`].
pub fn dev_state(n: u64) -> WorldState {
    let mut state = WorldState::new();
    for account in DevAccount::many(n) {
        state
            .set_balance(account.address, dev_balance())
            .expect("a state in memory reads no store");
    }
    state
}

/// A state transition over [`dev_state`] with the default configuration.
pub fn dev_state_transition(config: RollupConfig, accounts: u64) -> crate::EvmStateTransition {
    crate::EvmStateTransition::new(config, dev_state(accounts), 0, DEFAULT_INITIAL_BASE_FEE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transaction::{RecoveryBackend, recover_sender};

    #[test]
    fn signatures_recover_to_the_account() {
        let account = DevAccount::new(7);
        let tx = account.transfer(1337, 0, Address::ZERO, U256::from(1));
        assert_eq!(
            recover_sender(&tx, RecoveryBackend::Libsecp256k1).unwrap(),
            account.address
        );
        assert_eq!(
            recover_sender(&tx, RecoveryBackend::K256).unwrap(),
            account.address
        );
    }

    #[test]
    fn accounts_are_deterministic_and_distinct() {
        assert_eq!(DevAccount::new(3).address, DevAccount::new(3).address);
        assert_ne!(DevAccount::new(3).address, DevAccount::new(4).address);
    }
}
