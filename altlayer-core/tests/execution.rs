//! The EVM state transition end to end: transfers, contract creation and calls, receipts,
//! fees, intermediate roots, followers re-executing, and every refusal leaving state untouched.

use alloy_consensus::{
    SignableTransaction, Transaction as _, TxEip1559, TxEnvelope, TxLegacy, transaction::Recovered,
};
use alloy_eips::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, Signature, TxKind, U256, keccak256};
use altlayer_core::{
    Block, EvmStateTransition, RollupConfig,
    dev::{DevAccount, counter_init_code, dev_balance, dev_state_transition},
    execution::{BlockAttributes, ExecuteOptions, ExecutionError},
    transaction::{
        DEFAULT_MAX_TX_SIZE, RecoveryBackend, TxError, decode_transaction, recover, recover_all,
    },
};

const CHAIN: u64 = 1_337;

fn recovered(tx: TxEnvelope) -> Recovered<TxEnvelope> {
    recover(tx, RecoveryBackend::Libsecp256k1).unwrap()
}

fn attrs(timestamp: u64) -> BlockAttributes {
    BlockAttributes {
        timestamp,
        sequencer: Address::repeat_byte(0xc0),
        ..Default::default()
    }
}

fn setup(accounts: u64) -> (EvmStateTransition, Vec<DevAccount>) {
    (
        dev_state_transition(RollupConfig::default(), accounts),
        DevAccount::many(accounts),
    )
}

#[test]
fn transfers_contract_creation_and_calls() {
    let (mut stf, accounts) = setup(4);
    let mut follower = stf.clone();
    let (alice, bob) = (&accounts[0], &accounts[1]);
    let contract = alice.address.create(1);
    let txs = vec![
        alice.transfer(CHAIN, 0, bob.address, U256::from(1_000)),
        alice.call(CHAIN, 1, TxKind::Create, counter_init_code(), 200_000),
        bob.call(CHAIN, 0, TxKind::Call(contract), Bytes::new(), 100_000),
        alice.call(CHAIN, 2, TxKind::Call(contract), Bytes::new(), 100_000),
    ];
    let built = stf
        .build_block(
            attrs(1),
            txs.into_iter().map(recovered).collect(),
            ExecuteOptions::default(),
        )
        .unwrap();
    assert!(built.rejected.is_empty(), "{:?}", built.rejected);
    assert_eq!(built.block.transactions.len(), 4);

    let state = stf.state();
    assert_eq!(
        state.code(&contract).unwrap().map(|c| c.original_bytes()),
        Some(Bytes::from_static(&altlayer_core::dev::COUNTER_RUNTIME))
    );
    assert_eq!(
        state.storage(&contract, &U256::ZERO).unwrap(),
        U256::from(2)
    );
    assert_eq!(state.nonce(&alice.address).unwrap(), 3);
    assert_eq!(
        state.nonce(&contract).unwrap(),
        1,
        "EIP-161: created contracts start at nonce 1"
    );

    // Receipts: all succeed, cumulative gas rises, the calls log (new value, caller).
    let receipts = &built.outcome.receipts;
    assert!(receipts.iter().all(|r| r.status()));
    assert_eq!(receipts[0].cumulative_gas_used(), 21_000);
    assert!(
        receipts
            .windows(2)
            .all(|w| w[0].cumulative_gas_used() < w[1].cumulative_gas_used())
    );
    assert_eq!(
        receipts[3].cumulative_gas_used(),
        built.block.header.gas_used
    );
    let log = &receipts[2].logs()[0];
    assert_eq!(log.address, contract);
    assert_eq!(log.topics(), &[bob.address.into_word()]);
    assert_eq!(log.data.data, Bytes::from(U256::from(1).to_be_bytes_vec()));
    assert!(
        built
            .block
            .header
            .logs_bloom
            .contains_input(alloy_primitives::BloomInput::Raw(contract.as_slice()))
    );

    // A follower re-executing the block reaches the same head, and the root is the one a
    // from-scratch rebuild gives.
    let outcome = follower
        .execute_block_recovering(&built.block, ExecuteOptions::default())
        .unwrap();
    assert_eq!(outcome.header, built.block.header);
    assert_eq!(follower.head().hash(), stf.head().hash());
    assert_eq!(
        stf.state().clone().state_root_from_scratch(),
        stf.state_root()
    );

    // The block survives its canonical encoding.
    assert_eq!(
        Block::decode_exact(&built.block.encoded()).unwrap(),
        built.block
    );
}

#[test]
fn fees_follow_eip1559_and_go_where_configured() {
    let vault = Address::repeat_byte(0xfe);
    for base_fee_recipient in [None, Some(vault)] {
        let config = RollupConfig {
            base_fee_recipient,
            ..Default::default()
        };
        let mut stf = dev_state_transition(config, 2);
        let accounts = DevAccount::many(2);
        let sequencer = Address::repeat_byte(0xc0);
        let tx = accounts[0].transfer(CHAIN, 0, accounts[1].address, U256::from(5));
        let base_fee = stf.next_base_fee();
        let built = stf
            .build_block(attrs(1), vec![recovered(tx)], ExecuteOptions::default())
            .unwrap();
        let gas = U256::from(21_000u64);
        let tip = U256::from(2_000_000_000u64);
        let state = stf.state();
        assert_eq!(
            state.balance(&sequencer).unwrap(),
            gas * tip,
            "priority fee to the sequencer"
        );
        let base = gas * U256::from(base_fee);
        assert_eq!(
            state.balance(&accounts[0].address).unwrap(),
            dev_balance() - U256::from(5) - gas * tip - base
        );
        let vault_balance = state.balance(&vault).unwrap();
        match base_fee_recipient {
            None => assert_eq!(vault_balance, U256::ZERO, "base fee burned"),
            Some(_) => assert_eq!(vault_balance, base, "base fee to the vault"),
        }
        assert_eq!(built.block.header.base_fee, base_fee);
    }
}

#[test]
fn base_fee_adjusts_by_eip1559() {
    let (mut stf, accounts) = setup(1);
    // An empty block 1 keeps the initial base fee; an empty block 2 lowers it by 1/8.
    let first = stf
        .build_block(attrs(1), vec![], ExecuteOptions::default())
        .unwrap();
    let second = stf
        .build_block(attrs(2), vec![], ExecuteOptions::default())
        .unwrap();
    assert_eq!(
        second.block.header.base_fee,
        first.block.header.base_fee - first.block.header.base_fee / 8
    );
    let _ = accounts;
}

#[test]
fn intermediate_roots_track_every_transaction() {
    let (mut stf, accounts) = setup(8);
    let mut follower = stf.clone();
    let mut replay = stf.clone();
    let txs: Vec<_> = accounts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            a.transfer(
                CHAIN,
                0,
                Address::repeat_byte(i as u8 + 1),
                U256::from(i + 1),
            )
        })
        .collect();
    let built = stf
        .build_block(
            attrs(1),
            txs.iter().cloned().map(recovered).collect(),
            ExecuteOptions::with_intermediate_roots(),
        )
        .unwrap();
    let roots = &built.outcome.intermediate_roots;
    assert_eq!(roots.len(), txs.len());
    assert_eq!(*roots.last().unwrap(), built.block.header.state_root);
    assert_eq!(
        roots.iter().collect::<std::collections::HashSet<_>>().len(),
        roots.len()
    );
    let followed = follower
        .execute_block_recovering(&built.block, ExecuteOptions::with_intermediate_roots())
        .unwrap();
    assert_eq!(&followed.intermediate_roots, roots);

    // The root after transaction k is the root after a block holding only the first k + 1.
    for k in [0usize, 3] {
        let mut partial = replay.clone();
        let prefix = txs[..=k].iter().cloned().map(recovered).collect();
        let block = partial
            .build_block(attrs(1), prefix, ExecuteOptions::default())
            .unwrap();
        assert_eq!(block.block.header.state_root, roots[k]);
    }
    replay
        .build_block(attrs(1), vec![], ExecuteOptions::default())
        .unwrap();
}

/// Builds a block from `candidates`, expecting exactly one refusal with `expected`, and checks
/// that the refused transaction changed nothing.
fn assert_refused(
    stf: &mut EvmStateTransition,
    tx: TxEnvelope,
    expected: impl Fn(&TxError) -> bool,
) {
    let sender = recovered(tx.clone()).signer();
    let (balance, nonce) = (
        stf.state().balance(&sender).unwrap(),
        stf.state().nonce(&sender).unwrap(),
    );
    let built = stf
        .build_block(
            attrs(stf.head().timestamp),
            vec![recovered(tx)],
            ExecuteOptions::default(),
        )
        .unwrap();
    assert_eq!(built.rejected.len(), 1);
    assert!(
        expected(&built.rejected[0].error),
        "unexpected reason: {:?}",
        built.rejected[0].error
    );
    assert!(built.block.transactions.is_empty());
    assert_eq!(stf.state().balance(&sender).unwrap(), balance);
    assert_eq!(stf.state().nonce(&sender).unwrap(), nonce);
}

#[test]
fn each_invalid_transaction_has_its_typed_reason_and_changes_nothing() {
    let (mut stf, accounts) = setup(3);
    let (alice, bob) = (&accounts[0], &accounts[1]);
    let to = TxKind::Call(bob.address);
    let base = TxEip1559 {
        chain_id: CHAIN,
        nonce: 0,
        gas_limit: 21_000,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: 1,
        to,
        value: U256::from(1),
        access_list: Default::default(),
        input: Bytes::new(),
    };
    let with = |f: &dyn Fn(&mut TxEip1559)| {
        let mut tx = base.clone();
        f(&mut tx);
        alice.sign_eip1559(tx)
    };
    assert_refused(&mut stf, with(&|t| t.chain_id = 1), |e| {
        matches!(
            e,
            TxError::WrongChainId {
                expected: CHAIN,
                got: 1
            }
        )
    });
    assert_refused(&mut stf, with(&|t| t.nonce = 5), |e| {
        matches!(
            e,
            TxError::NonceTooHigh {
                expected: 0,
                got: 5
            }
        )
    });
    assert_refused(&mut stf, with(&|t| t.value = dev_balance()), |e| {
        matches!(e, TxError::InsufficientFunds { .. })
    });
    assert_refused(&mut stf, with(&|t| t.gas_limit = 20_999), |e| {
        matches!(
            e,
            TxError::IntrinsicGasTooLow {
                intrinsic: 21_000,
                ..
            }
        )
    });
    assert_refused(&mut stf, with(&|t| t.gas_limit = 30_000_001), |e| {
        matches!(e, TxError::GasLimitAboveBlockLimit { .. })
    });
    assert_refused(&mut stf, with(&|t| t.max_fee_per_gas = 1), |e| {
        matches!(e, TxError::FeeCapBelowBaseFee { .. })
    });
    assert_refused(
        &mut stf,
        with(&|t| t.max_priority_fee_per_gas = u128::MAX),
        |e| matches!(e, TxError::PriorityFeeAboveFeeCap { .. }),
    );
    assert_refused(
        &mut stf,
        with(&|t| t.input = vec![1u8; DEFAULT_MAX_TX_SIZE].into()),
        |e| matches!(e, TxError::Oversize { .. }),
    );
    let legacy = alice.sign_legacy(TxLegacy {
        chain_id: None,
        nonce: 0,
        gas_price: 100_000_000_000,
        gas_limit: 21_000,
        to,
        value: U256::from(1),
        input: Bytes::new(),
    });
    assert_refused(&mut stf, legacy, |e| matches!(e, TxError::MissingChainId));

    // Replay: the same transaction twice, the second is a nonce-too-low.
    let good = with(&|_| ());
    let built = stf
        .build_block(
            attrs(1),
            vec![recovered(good.clone()), recovered(good.clone())],
            ExecuteOptions::default(),
        )
        .unwrap();
    assert_eq!(built.block.transactions.len(), 1);
    assert!(matches!(
        built.rejected[0].error,
        TxError::NonceTooLow {
            expected: 1,
            got: 0
        }
    ));
    assert_refused(&mut stf, good, |e| matches!(e, TxError::NonceTooLow { .. }));

    // Block gas exhaustion: what counts is gas used so far plus the new gas limit, so after a
    // 21,000-gas transfer a second transaction asking for 29,990,000 no longer fits in 30M.
    let big = |nonce| {
        with(&|t: &mut TxEip1559| {
            t.nonce = nonce;
            t.gas_limit = 29_990_000
        })
    };
    let built = stf
        .build_block(
            attrs(2),
            vec![recovered(big(1)), recovered(big(2))],
            ExecuteOptions::default(),
        )
        .unwrap();
    assert_eq!(built.block.transactions.len(), 1);
    assert!(matches!(
        built.rejected[0].error,
        TxError::BlockGasExhausted { .. }
    ));
}

#[test]
fn bad_signatures_are_refused_with_their_reason() {
    let account = DevAccount::new(0);
    let tx = account.transfer(CHAIN, 0, Address::ZERO, U256::from(1));
    let TxEnvelope::Eip1559(signed) = &tx else {
        unreachable!()
    };
    let sig = *signed.signature();
    let n_minus = |s: U256| {
        U256::from_str_radix(
            "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
            16,
        )
        .unwrap()
            - s
    };
    let high_s = TxEnvelope::Eip1559(signed.tx().clone().into_signed(Signature::new(
        sig.r(),
        n_minus(sig.s()),
        !sig.v(),
    )));
    assert_eq!(
        recover(high_s, RecoveryBackend::Libsecp256k1).unwrap_err(),
        TxError::HighS
    );
    let zero_r = TxEnvelope::Eip1559(signed.tx().clone().into_signed(Signature::new(
        U256::ZERO,
        sig.s(),
        sig.v(),
    )));
    assert_eq!(
        recover(zero_r, RecoveryBackend::K256).unwrap_err(),
        TxError::InvalidSignatureScalars
    );
    // r not the x-coordinate of a curve point: no key recovers.
    let mut bad_r = U256::from(5);
    let bad = loop {
        let candidate = TxEnvelope::Eip1559(signed.tx().clone().into_signed(Signature::new(
            bad_r,
            sig.s(),
            sig.v(),
        )));
        if let Err(e) = recover(candidate.clone(), RecoveryBackend::Libsecp256k1) {
            break (candidate, e);
        }
        bad_r += U256::from(1);
    };
    assert_eq!(bad.1, TxError::InvalidV);
    assert_eq!(
        recover(bad.0, RecoveryBackend::K256).unwrap_err(),
        TxError::InvalidV
    );
    // Wrong v on a legacy transaction: v = 29 is neither 27/28 nor EIP-155 for any chain.
    let legacy = account.sign_legacy(TxLegacy {
        chain_id: Some(CHAIN),
        nonce: 0,
        gas_price: 1,
        gas_limit: 21_000,
        to: TxKind::Call(Address::ZERO),
        value: U256::ZERO,
        input: Bytes::new(),
    });
    let TxEnvelope::Legacy(signed) = &legacy else {
        unreachable!()
    };
    let (t, sig) = (signed.tx(), signed.signature());
    let mut payload = Vec::new();
    alloy_rlp::Encodable::encode(&t.nonce, &mut payload);
    alloy_rlp::Encodable::encode(&t.gas_price, &mut payload);
    alloy_rlp::Encodable::encode(&t.gas_limit, &mut payload);
    alloy_rlp::Encodable::encode(&t.to, &mut payload);
    alloy_rlp::Encodable::encode(&t.value, &mut payload);
    alloy_rlp::Encodable::encode(&t.input, &mut payload);
    alloy_rlp::Encodable::encode(&29u64, &mut payload);
    alloy_rlp::Encodable::encode(&sig.r(), &mut payload);
    alloy_rlp::Encodable::encode(&sig.s(), &mut payload);
    let mut raw = Vec::new();
    alloy_rlp::Header {
        list: true,
        payload_length: payload.len(),
    }
    .encode(&mut raw);
    raw.extend(payload);
    assert_eq!(
        decode_transaction(&raw, DEFAULT_MAX_TX_SIZE).unwrap_err(),
        TxError::InvalidV
    );
    // And a truncated encoding is simply malformed.
    assert!(matches!(
        decode_transaction(&raw[..raw.len() - 5], DEFAULT_MAX_TX_SIZE),
        Err(TxError::Malformed(_))
    ));
}

#[test]
fn a_block_with_an_invalid_transaction_or_wrong_root_is_refused_and_changes_nothing() {
    let (mut sequencer, accounts) = setup(4);
    let mut follower = sequencer.clone();
    let txs: Vec<_> = accounts
        .iter()
        .map(|a| recovered(a.transfer(CHAIN, 0, Address::repeat_byte(9), U256::from(7))))
        .collect();
    let good = sequencer
        .build_block(attrs(1), txs, ExecuteOptions::default())
        .unwrap()
        .block;
    let before = (
        follower.head().clone(),
        follower.state().balance(&accounts[0].address).unwrap(),
    );

    // A lying state root.
    let mut lying = good.clone();
    lying.header.state_root = B256::repeat_byte(0xbb);
    let err = follower
        .execute_block_recovering(&lying, ExecuteOptions::with_intermediate_roots())
        .unwrap_err();
    match err {
        ExecutionError::StateRootMismatch {
            expected,
            got,
            intermediate_roots,
        } => {
            assert_eq!(expected, good.header.state_root);
            assert_eq!(got, B256::repeat_byte(0xbb));
            assert_eq!(intermediate_roots.len(), 4);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        (
            follower.head().clone(),
            follower.state().balance(&accounts[0].address).unwrap()
        ),
        before
    );
    let mut copy = follower.state().clone();
    assert_eq!(
        copy.state_root().unwrap(),
        before.0.state_root,
        "undo restored the root"
    );
    assert_eq!(copy.state_root_from_scratch(), before.0.state_root);

    // A transaction the sequencer could not have included: a replay of the first.
    let mut replayed = good.clone();
    replayed.transactions.push(good.transactions[0].clone());
    let err = follower
        .execute_block_recovering(&replayed, Default::default())
        .unwrap_err();
    assert!(
        matches!(
            err,
            ExecutionError::InvalidTransaction {
                index: 4,
                error: TxError::NonceTooLow { .. },
                ..
            }
        ),
        "{err:?}"
    );
    // A wrong receipts root, a wrong parent, a foreign chain.
    let mut wrong = good.clone();
    wrong.header.receipts_root = B256::ZERO;
    // The error names the block that should have been: the good one.
    let good_hash = good.hash();
    assert!(matches!(
        follower.execute_block_recovering(&wrong, Default::default()),
        Err(ExecutionError::HeaderMismatch {
            field: "receipts_root",
            expected_hash: Some(hash),
            ..
        }) if hash == good_hash
    ));
    let mut orphan = good.clone();
    orphan.header.parent_hash = B256::ZERO;
    assert!(matches!(
        follower.execute_block_recovering(&orphan, Default::default()),
        Err(ExecutionError::NotChild { .. })
    ));
    let mut foreign = good.clone();
    foreign.header.chain_id = 1;
    assert!(matches!(
        follower.execute_block_recovering(&foreign, Default::default()),
        Err(ExecutionError::WrongRollup { .. })
    ));
    assert_eq!(
        (
            follower.head().clone(),
            follower.state().balance(&accounts[0].address).unwrap()
        ),
        before
    );

    // The good block still applies after all of that.
    follower
        .execute_block_recovering(&good, Default::default())
        .unwrap();
    assert_eq!(follower.head(), sequencer.head());
}

#[test]
fn recovery_backends_agree_serial_and_parallel() {
    let accounts = DevAccount::many(40);
    let txs: Vec<_> = accounts
        .iter()
        .map(|a| a.transfer(CHAIN, 3, Address::ZERO, U256::from(1)))
        .collect();
    let parallel = recover_all(txs.clone(), RecoveryBackend::Libsecp256k1);
    let serial = altlayer_core::transaction::recover_all_serial(txs.clone(), RecoveryBackend::K256);
    for ((p, s), a) in parallel.into_iter().zip(serial).zip(&accounts) {
        assert_eq!(p.unwrap().signer(), a.address);
        assert_eq!(s.unwrap().signer(), a.address);
    }
    assert_eq!(keccak256(txs[0].encoded_2718()), *txs[0].tx_hash());
    assert_eq!(txs[0].nonce(), 3);
}

#[test]
fn raw_blocks_are_built_and_followed_through_the_pipelined_path() {
    // Enough transactions that decoding and recovery run pipelined with execution.
    let (mut stf, accounts) = setup(150);
    let mut follower = stf.clone();
    let mut raw: Vec<Bytes> = accounts
        .iter()
        .map(|a| {
            a.transfer(CHAIN, 0, Address::repeat_byte(3), U256::from(9))
                .encoded_2718()
                .into()
        })
        .collect();
    raw.insert(40, Bytes::from_static(&[0xde, 0xad]));
    raw.insert(120, Bytes::from_static(&[0x7f]));
    let built = stf
        .build_block_from_raw(attrs(1), &raw, ExecuteOptions::default())
        .unwrap();
    assert_eq!(built.block.transactions.len(), 150);
    assert_eq!(built.rejected.len(), 2);
    assert_eq!(built.rejected[0].hash, keccak256([0xde, 0xad]));
    assert!(matches!(built.rejected[0].error, TxError::Malformed(_)));
    assert_eq!(built.rejected[0].sender, None);
    assert_eq!(built.rejected[1].error, TxError::UnsupportedType(0x7f));
    // Same order as the raw input, minus the refusals.
    let expected: Vec<TxEnvelope> = accounts
        .iter()
        .map(|a| a.transfer(CHAIN, 0, Address::repeat_byte(3), U256::from(9)))
        .collect();
    assert_eq!(built.block.transactions, expected);

    let outcome = follower
        .execute_block_recovering(&built.block, ExecuteOptions::default())
        .unwrap();
    assert_eq!(outcome.header, built.block.header);

    // A bad signature deep in a large block refuses the whole block, naming the transaction.
    let mut follower = stf.clone();
    let mut next: Vec<Recovered<TxEnvelope>> = accounts
        .iter()
        .map(|a| recovered(a.transfer(CHAIN, 1, Address::repeat_byte(4), U256::from(1))))
        .collect();
    let sequenced = stf
        .build_block(
            attrs(2),
            std::mem::take(&mut next),
            ExecuteOptions::default(),
        )
        .unwrap();
    let mut forged = sequenced.block.clone();
    let TxEnvelope::Eip1559(signed) = &forged.transactions[70] else {
        unreachable!()
    };
    let sig = *signed.signature();
    forged.transactions[70] = TxEnvelope::Eip1559(signed.tx().clone().into_signed(Signature::new(
        U256::ZERO,
        sig.s(),
        sig.v(),
    )));
    let err = follower
        .execute_block_recovering(&forged, ExecuteOptions::default())
        .unwrap_err();
    assert!(
        matches!(
            err,
            ExecutionError::InvalidTransaction {
                index: 70,
                error: TxError::InvalidSignatureScalars,
                ..
            }
        ),
        "{err:?}"
    );
    follower
        .execute_block_recovering(&sequenced.block, ExecuteOptions::default())
        .unwrap();
    assert_eq!(follower.head(), stf.head());
}
