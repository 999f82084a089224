//! Transactions: EIP-2718 decoding, sender recovery, and the typed reasons a transaction is
//! refused.
//!
//! Decoding accepts legacy (with or without EIP-155), EIP-2930, EIP-1559 and EIP-7702
//! transactions exactly as Ethereum encodes them; EIP-4844 blob transactions are refused because
//! a rollup has no blob sidecars to carry. Recovery runs on libsecp256k1 (the `secp256k1` crate),
//! the fastest ECDSA recovery available to Rust, and fans out over all cores with rayon for a
//! block's worth of transactions; a pure-Rust `k256` path is kept for comparison and for targets
//! without a C compiler.

use alloy_consensus::{Transaction as _, TxEnvelope, transaction::Recovered};
use alloy_eips::eip2718::{Decodable2718, Eip2718Error};
use alloy_primitives::{Address, B256, Signature, U256, keccak256};
use rayon::prelude::*;

/// Largest encoded transaction accepted, in bytes: geth's transaction pool limit (4 x 32 KiB).
pub const DEFAULT_MAX_TX_SIZE: usize = 4 * 32 * 1024;

/// Half the secp256k1 group order: EIP-2 refuses signatures whose `s` is above it.
pub const SECP256K1N_HALF: U256 = U256::from_be_bytes([
    0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0x5D, 0x57, 0x6E, 0x73, 0x57, 0xA4, 0x50, 0x1D, 0xDF, 0xE9, 0x2F, 0x46, 0x68, 0x1B, 0x20, 0xA0,
]);

/// Why a transaction was refused. Every variant leaves state untouched; the sequencer reports it
/// for each transaction it leaves out of a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxError {
    /// The bytes are not a well-formed EIP-2718 transaction.
    #[error("malformed transaction: {0}")]
    Malformed(String),
    /// The envelope type is not accepted on a rollup.
    #[error("unsupported transaction type {0:#04x}")]
    UnsupportedType(u8),
    /// The encoded transaction is larger than the configured limit.
    #[error("transaction is {size} bytes, above the limit of {limit}")]
    Oversize {
        /// Encoded size.
        size: usize,
        /// Configured limit.
        limit: usize,
    },
    /// `s` is in the upper half of the curve order (EIP-2 malleability rule).
    #[error("invalid signature: s is above secp256k1n/2 (EIP-2)")]
    HighS,
    /// The signature's `v` / y-parity does not lead to a public key.
    #[error("invalid signature: v does not recover a public key")]
    InvalidV,
    /// `r` or `s` is zero or not below the group order.
    #[error("invalid signature: r or s out of range")]
    InvalidSignatureScalars,
    /// The transaction is signed for another chain.
    #[error("wrong chain id: expected {expected}, got {got}")]
    WrongChainId {
        /// The rollup's chain id.
        expected: u64,
        /// The transaction's chain id.
        got: u64,
    },
    /// A legacy transaction without EIP-155 replay protection, refused by configuration.
    #[error("transaction has no chain id (pre-EIP-155) and unprotected transactions are refused")]
    MissingChainId,
    /// The nonce was already used: a replay.
    #[error("nonce too low: account nonce is {expected}, transaction nonce is {got}")]
    NonceTooLow {
        /// Account's next nonce.
        expected: u64,
        /// Transaction's nonce.
        got: u64,
    },
    /// The nonce is ahead of the account's: a gap.
    #[error("nonce too high: account nonce is {expected}, transaction nonce is {got}")]
    NonceTooHigh {
        /// Account's next nonce.
        expected: u64,
        /// Transaction's nonce.
        got: u64,
    },
    /// The sender cannot pay `gas_limit * max_fee + value`.
    #[error("insufficient funds: balance {balance}, maximum cost {cost}")]
    InsufficientFunds {
        /// Sender's balance.
        balance: U256,
        /// Value plus gas limit times the maximum fee per gas.
        cost: U256,
    },
    /// The gas limit does not cover the intrinsic gas.
    #[error("intrinsic gas too low: gas limit {gas_limit}, intrinsic gas {intrinsic}")]
    IntrinsicGasTooLow {
        /// Transaction's gas limit.
        gas_limit: u64,
        /// Intrinsic gas (including the EIP-7623 floor where active).
        intrinsic: u64,
    },
    /// The gas limit is above the block's gas limit.
    #[error("gas limit {gas_limit} above the block gas limit {block_gas_limit}")]
    GasLimitAboveBlockLimit {
        /// Transaction's gas limit.
        gas_limit: u64,
        /// Block's gas limit.
        block_gas_limit: u64,
    },
    /// The gas limit is above what is left in the block.
    #[error("gas limit {gas_limit} above the {available} gas left in the block")]
    BlockGasExhausted {
        /// Transaction's gas limit.
        gas_limit: u64,
        /// Gas left in the block.
        available: u64,
    },
    /// The maximum fee per gas is below the block's base fee.
    #[error("max fee per gas {max_fee} below the base fee {base_fee}")]
    FeeCapBelowBaseFee {
        /// Transaction's maximum fee (or gas price).
        max_fee: u128,
        /// Block's base fee.
        base_fee: u64,
    },
    /// The priority fee is above the maximum fee.
    #[error("max priority fee {priority_fee} above max fee {max_fee}")]
    PriorityFeeAboveFeeCap {
        /// Transaction's maximum priority fee.
        priority_fee: u128,
        /// Transaction's maximum fee.
        max_fee: u128,
    },
    /// The sender has deployed code and is not delegated (EIP-3607).
    #[error("sender {0} has code (EIP-3607)")]
    SenderHasCode(Address),
    /// The EVM refused the transaction for a reason not covered above.
    #[error("rejected by the EVM: {0}")]
    Evm(String),
}

/// Decodes one EIP-2718 transaction (a typed envelope, or an RLP list for legacy), refusing
/// trailing bytes, oversize input and blob transactions.
pub fn decode_transaction(bytes: &[u8], max_size: usize) -> Result<TxEnvelope, TxError> {
    if bytes.len() > max_size {
        return Err(TxError::Oversize {
            size: bytes.len(),
            limit: max_size,
        });
    }
    // A first byte up to 0x7f is an EIP-2718 type; legacy transactions start with an RLP list
    // header (0xc0 and up). Refusing unknown and blob types here gives them a typed error.
    if let Some(&ty) = bytes.first()
        && ty <= 0x7f
        && !matches!(ty, 0x01 | 0x02 | 0x04)
    {
        return Err(TxError::UnsupportedType(ty));
    }
    let tx = TxEnvelope::decode_2718_exact(bytes).map_err(|err| match err {
        _ if legacy_v_is_invalid(bytes) => TxError::InvalidV,
        // alloy reports some malformed legacy encodings as type 0; only a real type byte is a type.
        Eip2718Error::UnexpectedType(ty) if bytes.first().is_some_and(|b| *b <= 0x7f) => {
            TxError::UnsupportedType(ty)
        }
        other => TxError::Malformed(other.to_string()),
    })?;
    if tx.is_eip4844() {
        return Err(TxError::UnsupportedType(0x03));
    }
    Ok(tx)
}

/// Whether `bytes` is a legacy transaction whose structure is sound but whose `v` is neither
/// 27/28 nor an EIP-155 value (35 and up), so the refusal can say so rather than "malformed".
fn legacy_v_is_invalid(mut bytes: &[u8]) -> bool {
    let Ok(header) = alloy_rlp::Header::decode(&mut bytes) else {
        return false;
    };
    if !header.list || bytes.len() != header.payload_length {
        return false;
    }
    // nonce, gasPrice, gas, to, value, data, then v.
    for _ in 0..6 {
        let Ok(field) = alloy_rlp::Header::decode(&mut bytes) else {
            return false;
        };
        if field.list || bytes.len() < field.payload_length {
            return false;
        }
        bytes = &bytes[field.payload_length..];
    }
    match <u64 as alloy_rlp::Decodable>::decode(&mut bytes) {
        Ok(v) => !matches!(v, 27 | 28) && v < 35,
        Err(_) => false,
    }
}

/// Which implementation of ECDSA public-key recovery to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RecoveryBackend {
    /// libsecp256k1 through the `secp256k1` crate (the default, and the fastest).
    #[default]
    Libsecp256k1,
    /// The pure-Rust `k256` crate.
    K256,
}

/// Checks the signature scalars as Ethereum does: `0 < r < n`, `0 < s <= n/2` (EIP-2).
fn check_scalars(signature: &Signature) -> Result<(), TxError> {
    let (r, s) = (signature.r(), signature.s());
    if r.is_zero() || s.is_zero() {
        return Err(TxError::InvalidSignatureScalars);
    }
    if s > SECP256K1N_HALF {
        return Err(TxError::HighS);
    }
    Ok(())
}

/// Recovers the signer of `hash` with the chosen backend, after the EIP-2 checks.
pub fn recover_signer(
    signature: &Signature,
    hash: &B256,
    backend: RecoveryBackend,
) -> Result<Address, TxError> {
    check_scalars(signature)?;
    match backend {
        RecoveryBackend::Libsecp256k1 => recover_libsecp256k1(signature, hash),
        RecoveryBackend::K256 => recover_k256(signature, hash),
    }
}

fn recover_libsecp256k1(signature: &Signature, hash: &B256) -> Result<Address, TxError> {
    use secp256k1::{
        Message, SECP256K1,
        ecdsa::{RecoverableSignature, RecoveryId},
    };
    let mut compact = [0u8; 64];
    compact[..32].copy_from_slice(&signature.r().to_be_bytes::<32>());
    compact[32..].copy_from_slice(&signature.s().to_be_bytes::<32>());
    let recid = RecoveryId::try_from(i32::from(signature.v())).map_err(|_| TxError::InvalidV)?;
    let sig = RecoverableSignature::from_compact(&compact, recid)
        .map_err(|_| TxError::InvalidSignatureScalars)?;
    let key = SECP256K1
        .recover_ecdsa(Message::from_digest(hash.0), &sig)
        .map_err(|_| TxError::InvalidV)?;
    let uncompressed = key.serialize_uncompressed();
    Ok(Address::from_slice(&keccak256(&uncompressed[1..])[12..]))
}

fn recover_k256(signature: &Signature, hash: &B256) -> Result<Address, TxError> {
    use k256::ecdsa::{RecoveryId, Signature as K256Signature, VerifyingKey};
    let sig = K256Signature::from_scalars(
        signature.r().to_be_bytes::<32>(),
        signature.s().to_be_bytes::<32>(),
    )
    .map_err(|_| TxError::InvalidSignatureScalars)?;
    let recid = RecoveryId::new(signature.v(), false);
    let key = VerifyingKey::recover_from_prehash(hash.as_slice(), &sig, recid)
        .map_err(|_| TxError::InvalidV)?;
    let point = key.to_encoded_point(false);
    Ok(Address::from_slice(
        &keccak256(&point.as_bytes()[1..])[12..],
    ))
}

/// Recovers a transaction's sender.
pub fn recover_sender(tx: &TxEnvelope, backend: RecoveryBackend) -> Result<Address, TxError> {
    recover_signer(tx.signature(), &tx.signature_hash(), backend)
}

/// Recovers a transaction's sender and pairs the two.
pub fn recover(tx: TxEnvelope, backend: RecoveryBackend) -> Result<Recovered<TxEnvelope>, TxError> {
    let sender = recover_sender(&tx, backend)?;
    Ok(Recovered::new_unchecked(tx, sender))
}

/// Below this many transactions the rayon fan-out costs more than it saves.
const PARALLEL_RECOVERY_MIN: usize = 8;

/// Recovers the senders of many transactions across all cores, keeping their order.
pub fn recover_all(
    txs: Vec<TxEnvelope>,
    backend: RecoveryBackend,
) -> Vec<Result<Recovered<TxEnvelope>, TxError>> {
    if txs.len() < PARALLEL_RECOVERY_MIN {
        return txs.into_iter().map(|tx| recover(tx, backend)).collect();
    }
    txs.into_par_iter()
        .with_min_len(PARALLEL_RECOVERY_MIN)
        .map(|tx| recover(tx, backend))
        .collect()
}

/// Recovers the senders of many transactions on the calling thread only (the serial baseline).
pub fn recover_all_serial(
    txs: Vec<TxEnvelope>,
    backend: RecoveryBackend,
) -> Vec<Result<Recovered<TxEnvelope>, TxError>> {
    txs.into_iter().map(|tx| recover(tx, backend)).collect()
}

/// Decodes one raw transaction and recovers its sender with libsecp256k1.
pub fn decode_and_recover(bytes: &[u8], max_size: usize) -> Result<Recovered<TxEnvelope>, TxError> {
    recover(
        decode_transaction(bytes, max_size)?,
        RecoveryBackend::Libsecp256k1,
    )
}

/// Decodes and recovers many raw transactions across all cores, keeping their order.
pub fn decode_and_recover_all(
    raw: &[impl AsRef<[u8]> + Sync],
    max_size: usize,
) -> Vec<Result<Recovered<TxEnvelope>, TxError>> {
    raw.par_iter()
        .with_min_len(PARALLEL_RECOVERY_MIN)
        .map(|bytes| decode_and_recover(bytes.as_ref(), max_size))
        .collect()
}

/// Items per job when mapping is pipelined with consumption: small enough that the consumer
/// starts early, large enough that scheduling costs little against an ECDSA recovery.
const PIPELINE_CHUNK: usize = 32;

/// Maps `items` on the rayon pool, in chunks, while `consume` receives the results in order on
/// the calling thread as soon as each chunk is ready: sender recovery on all cores overlapped
/// with execution, which must run in order on one thread.
///
/// Called from inside the rayon pool (where blocking on a channel could starve the pool), with
/// a pool of one thread, or for a few items, it maps everything first and then consumes.
pub fn map_in_order<T, U, R>(
    items: &[T],
    map: impl Fn(&T) -> U + Sync,
    consume: impl FnOnce(&mut dyn Iterator<Item = U>) -> R,
) -> R
where
    T: Sync,
    U: Send,
{
    if items.len() < 2 * PIPELINE_CHUNK
        || rayon::current_thread_index().is_some()
        || rayon::current_num_threads() < 2
    {
        let mapped: Vec<U> = items
            .par_iter()
            .with_min_len(PARALLEL_RECOVERY_MIN)
            .map(&map)
            .collect();
        return consume(&mut mapped.into_iter());
    }
    let (sender, receiver) = std::sync::mpsc::channel();
    rayon::in_place_scope(|scope| {
        for (index, chunk) in items.chunks(PIPELINE_CHUNK).enumerate() {
            let (sender, map) = (sender.clone(), &map);
            scope.spawn(move |_| {
                let mapped: Vec<U> = chunk.iter().map(map).collect();
                // The consumer may have stopped early (a refused block); then nobody listens.
                let _ = sender.send((index, mapped));
            });
        }
        drop(sender);
        let mut in_order = InOrder {
            receiver,
            next: 0,
            early: std::collections::BTreeMap::new(),
            current: Vec::new().into_iter(),
        };
        consume(&mut in_order)
    })
}

/// Chunks arriving in any order, handed out in order.
struct InOrder<U> {
    receiver: std::sync::mpsc::Receiver<(usize, Vec<U>)>,
    next: usize,
    early: std::collections::BTreeMap<usize, Vec<U>>,
    current: std::vec::IntoIter<U>,
}

impl<U> Iterator for InOrder<U> {
    type Item = U;

    fn next(&mut self) -> Option<U> {
        loop {
            if let Some(item) = self.current.next() {
                return Some(item);
            }
            if let Some(chunk) = self.early.remove(&self.next) {
                self.next += 1;
                self.current = chunk.into_iter();
                continue;
            }
            // Every sender gone means every chunk was delivered (or a job panicked, which the
            // scope re-raises once the consumer returns).
            let (index, chunk) = self.receiver.recv().ok()?;
            self.early.insert(index, chunk);
        }
    }
}

/// Checks a transaction's chain id against the rollup's.
pub fn check_chain_id(
    tx: &TxEnvelope,
    chain_id: u64,
    allow_unprotected: bool,
) -> Result<(), TxError> {
    match tx.chain_id() {
        Some(got) if got == chain_id => Ok(()),
        Some(got) => Err(TxError::WrongChainId {
            expected: chain_id,
            got,
        }),
        None if allow_unprotected => Ok(()),
        None => Err(TxError::MissingChainId),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{address, b256, hex};

    /// The worked example of EIP-155: nonce 9, 20 gwei, 21000 gas, 1 ether to
    /// 0x3535..35, chain id 1, signed with the key 0x4646..46.
    const EIP155_SIGNED: &str = "f86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83";

    #[test]
    fn eip155_example_decodes_and_recovers_with_both_backends() {
        let raw = hex::decode(EIP155_SIGNED).unwrap();
        let tx = decode_transaction(&raw, DEFAULT_MAX_TX_SIZE).unwrap();
        assert_eq!(tx.chain_id(), Some(1));
        assert_eq!(tx.nonce(), 9);
        // The EIP gives the signing hash of the example.
        assert_eq!(
            tx.signature_hash(),
            b256!("daf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53")
        );
        let expected = address!("9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F");
        assert_eq!(
            recover_sender(&tx, RecoveryBackend::Libsecp256k1).unwrap(),
            expected
        );
        assert_eq!(
            recover_sender(&tx, RecoveryBackend::K256).unwrap(),
            expected
        );
    }

    #[test]
    fn high_s_is_refused() {
        let raw = hex::decode(EIP155_SIGNED).unwrap();
        let tx = decode_transaction(&raw, DEFAULT_MAX_TX_SIZE).unwrap();
        let sig = *tx.signature();
        // n - s flips the parity and gives the malleable twin, which EIP-2 refuses.
        let n = SECP256K1N_HALF * U256::from(2) + U256::from(1);
        let twin = Signature::new(sig.r(), n - sig.s(), !sig.v());
        assert_eq!(
            recover_signer(&twin, &tx.signature_hash(), Default::default()),
            Err(TxError::HighS)
        );
    }

    #[test]
    fn size_limit_and_trailing_bytes_are_refused() {
        let mut raw = hex::decode(EIP155_SIGNED).unwrap();
        assert!(matches!(
            decode_transaction(&raw, 10),
            Err(TxError::Oversize {
                size: 110,
                limit: 10
            })
        ));
        raw.push(0);
        assert!(matches!(
            decode_transaction(&raw, DEFAULT_MAX_TX_SIZE),
            Err(TxError::Malformed(_))
        ));
        let unknown = decode_transaction(&[0x7f, 1, 2], DEFAULT_MAX_TX_SIZE);
        assert!(
            matches!(unknown, Err(TxError::UnsupportedType(0x7f))),
            "{unknown:?}"
        );
        assert!(decode_transaction(&[], DEFAULT_MAX_TX_SIZE).is_err());
    }
}
