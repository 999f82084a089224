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

/// Balance given to each development account at genesis: one million ether.
pub fn dev_balance() -> U256 {
    U256::from(1_000_000u64) * U256::from(10u64).pow(U256::from(18u64))
}

/// A world state in which the first `n` development accounts hold [`dev_balance`].
pub fn dev_state(n: u64) -> WorldState {
    let mut state = WorldState::new();
    for account in DevAccount::many(n) {
        state.set_balance(account.address, dev_balance());
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
