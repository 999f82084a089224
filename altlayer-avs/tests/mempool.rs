//! SQUAD's mempool: de-duplication, nonce order, fee priority, limits and eviction, typed
//! refusals that change nothing, and transactions staying until committed.

use alloy_consensus::TxEip1559;
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, Bytes, TxKind, U256, keccak256};
use altlayer_avs::squad::mempool::{Mempool, PoolError, PoolLimits};
use altlayer_core::{dev::DevAccount, transaction::TxError};

const CHAIN: u64 = 1_337;

fn tx(from: &DevAccount, nonce: u64, tip: u128) -> Bytes {
    from.sign_eip1559(TxEip1559 {
        chain_id: CHAIN,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: tip,
        to: TxKind::Call(Address::repeat_byte(9)),
        value: U256::from(1),
        ..Default::default()
    })
    .encoded_2718()
    .into()
}

#[test]
fn selection_is_by_tip_across_senders_and_by_nonce_within_one() {
    let (a, b) = (DevAccount::new(1), DevAccount::new(2));
    let mut pool = Mempool::new(CHAIN, PoolLimits::default());
    // a: nonce 1 (tip 9) arrives before nonce 0 (tip 1); b: nonce 0 tip 5.
    let a1 = tx(&a, 1, 9);
    let a0 = tx(&a, 0, 1);
    let b0 = tx(&b, 0, 5);
    for t in [&a1, &a0, &b0] {
        pool.insert(t.clone()).unwrap();
    }
    // b0 (tip 5) beats a's next (a0, tip 1); then a0, then a1: a's nonces stay in order
    // even though a1 pays more.
    assert_eq!(pool.select(10), vec![b0.clone(), a0.clone(), a1.clone()]);
    assert_eq!(pool.select(1), vec![b0.clone()]);
    // Selecting takes nothing: a proposal that does not commit leaves them in place.
    assert_eq!(pool.len(), 3);
    pool.remove(&[keccak256(&b0), keccak256(&a0)]);
    assert_eq!(pool.select(10), vec![a1]);
}

#[test]
fn refusals_are_typed_and_change_nothing() {
    let a = DevAccount::new(1);
    let mut pool = Mempool::new(CHAIN, PoolLimits::default());
    let t = tx(&a, 0, 2);
    pool.insert(t.clone()).unwrap();
    assert_eq!(
        pool.insert(t.clone()),
        Err(PoolError::Duplicate(keccak256(&t)))
    );
    assert!(matches!(
        pool.insert(Bytes::from_static(&[0x02, 0x01])),
        Err(PoolError::Invalid(TxError::Malformed(_)))
    ));
    let foreign = a
        .transfer(CHAIN + 1, 1, Address::ZERO, U256::from(1))
        .encoded_2718();
    assert!(matches!(
        pool.insert(foreign.into()),
        Err(PoolError::Invalid(TxError::WrongChainId { .. }))
    ));
    // Same sender and nonce: needs a 10 % higher tip.
    assert!(matches!(
        pool.insert(tx(&a, 0, 2)),
        Err(PoolError::Duplicate(_) | PoolError::ReplacementUnderpriced { .. })
    ));
    assert_eq!(
        pool.insert(tx(&a, 0, 3)).map(drop),
        Ok(()),
        "3 >= 2 + 10 %, rounded up to one more"
    );
    assert_eq!(pool.len(), 1);
    assert_eq!(pool.select(5), vec![tx(&a, 0, 3)]);
    let big = PoolLimits {
        max_transaction_bytes: 10,
        ..PoolLimits::default()
    };
    let mut small = Mempool::new(CHAIN, big);
    assert!(matches!(
        small.insert(tx(&a, 0, 1)),
        Err(PoolError::Invalid(TxError::Oversize { .. }))
    ));
    assert!(small.is_empty());
}

#[test]
fn a_full_pool_evicts_the_cheapest_tail_or_refuses() {
    let accounts = DevAccount::many(4);
    let limits = PoolLimits {
        max_transactions: 3,
        ..PoolLimits::default()
    };
    let mut pool = Mempool::new(CHAIN, limits);
    pool.insert(tx(&accounts[0], 0, 5)).unwrap();
    pool.insert(tx(&accounts[1], 0, 2)).unwrap();
    pool.insert(tx(&accounts[2], 0, 7)).unwrap();
    // Cheaper than everything: refused.
    assert_eq!(
        pool.insert(tx(&accounts[3], 0, 1)),
        Err(PoolError::Full { tip: 1 })
    );
    // Pays more than the cheapest (tip 2): that one goes.
    let rich = tx(&accounts[3], 0, 9);
    pool.insert(rich.clone()).unwrap();
    assert_eq!(pool.len(), 3);
    assert!(!pool.contains(&keccak256(tx(&accounts[1], 0, 2))));
    assert_eq!(pool.select(1), vec![rich]);
    // Never opens a gap: a sender's earlier nonce is not evicted before its later one.
    let mut pool = Mempool::new(CHAIN, limits);
    pool.insert(tx(&accounts[0], 0, 1)).unwrap();
    pool.insert(tx(&accounts[0], 1, 50)).unwrap();
    pool.insert(tx(&accounts[1], 0, 3)).unwrap();
    pool.insert(tx(&accounts[2], 0, 4)).unwrap();
    assert!(pool.contains(&keccak256(tx(&accounts[0], 0, 1))));
    assert!(!pool.contains(&keccak256(tx(&accounts[1], 0, 3))));
}

#[test]
fn a_recovered_transaction_is_pooled_without_recovery_and_handed_back_at_commit() {
    use altlayer_core::transaction::{RecoveryBackend, decode_and_recover};
    let a = DevAccount::new(1);
    let mut pool = Mempool::new(CHAIN, PoolLimits::default());
    let raw = tx(&a, 0, 1);
    let recovered = decode_and_recover(&raw, usize::MAX).unwrap();
    let hash = pool.insert_recovered(recovered.clone()).unwrap();
    assert_eq!(hash, keccak256(&raw));
    // The same transaction again, recovered or raw, is a duplicate.
    assert!(matches!(
        pool.insert_recovered(recovered.clone()),
        Err(PoolError::Duplicate(_))
    ));
    assert!(matches!(
        pool.insert(raw.clone()),
        Err(PoolError::Duplicate(_))
    ));
    // Another chain's is refused as a raw one would be.
    let foreign = altlayer_core::transaction::recover(
        a.transfer(1, 0, Address::ZERO, U256::from(1)),
        RecoveryBackend::Libsecp256k1,
    )
    .unwrap();
    assert!(matches!(
        pool.insert_recovered(foreign),
        Err(PoolError::Invalid(TxError::WrongChainId { .. }))
    ));
    // Committed: it leaves the pool and comes back with its sender.
    let taken = pool.take(&[hash, keccak256(b"unknown")]);
    assert_eq!(taken, vec![(hash, recovered)]);
    assert!(pool.is_empty());
}
