//! The bridge on anvil: ETH deposited on the L1 and numbered in a hash chain; ETH withdrawn on
//! a rollup built by the Rust state transition through the `L2Withdrawals` predeploy, proven on
//! the L1 with the rollup's own `eth_getProof` proofs (Merkle-Patricia, verified in Solidity)
//! against a final batch's post-state root, and paid once. Gas printed with `--nocapture`.

mod common;

use alloy_consensus::TxEip1559;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use alloy_provider::Provider;
use alloy_sol_types::{SolCall, SolValue};
use altlayer_core::{
    RollupConfig,
    dev::DevAccount,
    execution::{BlockAttributes, ExecuteOptions},
    genesis::{parse_genesis, state_transition_from_genesis},
    state::AccountProof,
    transaction::{RecoveryBackend, recover},
};
use altlayer_l1::{
    L2_WITHDRAWALS,
    bindings::{
        bridge::Bridge::{self, BridgeErrors},
        l2_withdrawals::L2Withdrawals,
        mach::MachServiceManager,
        settlement::RollupSettlement,
    },
    step_verdict_digest, vital_step_proof,
};
use common::*;

const ETHER: u64 = 1_000_000_000_000_000_000;

/// A rollup whose genesis funds 1,000 accounts and holds the withdrawal predeploy; in block 1
/// sixteen of them withdraw, the first one ether to `recipient`. Returns the genesis root, the
/// block's post-state root, and the proof of the first withdrawal's slot.
fn rollup_withdrawal(recipient: Address) -> (B256, B256, AccountProof, Bridge::Withdrawal) {
    let users = DevAccount::many(1_000);
    let alloc: Vec<String> = users
        .iter()
        .map(|u| {
            format!(
                r#""{}": {{"balance": "0x{:x}"}}"#,
                u.address,
                U256::from(10 * ETHER)
            )
        })
        .collect();
    let genesis = parse_genesis(&format!(
        r#"{{"config": {{"chainId": {CHAIN_ID}}}, "alloc": {{
            {},
            "{L2_WITHDRAWALS}": {{"balance": "0x0", "code": "{}"}}
        }}}}"#,
        alloc.join(","),
        L2Withdrawals::DEPLOYED_BYTECODE
    ))
    .unwrap();
    let config = RollupConfig {
        chain_id: CHAIN_ID,
        rollup_id: ROLLUP,
        ..RollupConfig::default()
    };
    let mut l2 = state_transition_from_genesis(config, &genesis);
    let genesis_root = l2.head().state_root;
    let txs = users[..16]
        .iter()
        .enumerate()
        .map(|(i, user)| {
            let to = if i == 0 {
                recipient
            } else {
                Address::repeat_byte(i as u8)
            };
            let tx = user.sign_eip1559(TxEip1559 {
                chain_id: CHAIN_ID,
                nonce: 0,
                gas_limit: 200_000,
                max_fee_per_gas: 100_000_000_000,
                max_priority_fee_per_gas: 1_000_000_000,
                to: TxKind::Call(L2_WITHDRAWALS),
                value: U256::from(ETHER),
                access_list: Default::default(),
                input: L2Withdrawals::withdrawCall { recipient: to }
                    .abi_encode()
                    .into(),
            });
            recover(tx, RecoveryBackend::default()).unwrap()
        })
        .collect();
    let built = l2
        .build_block(
            BlockAttributes {
                timestamp: 1,
                ..Default::default()
            },
            txs,
            ExecuteOptions::default(),
        )
        .unwrap();
    assert!(built.rejected.is_empty());
    for receipt in &built.outcome.receipts {
        assert!(
            alloy_consensus::TxReceipt::status(receipt),
            "the withdrawals ran on the rollup"
        );
    }
    let withdrawal = Bridge::Withdrawal {
        nonce: U256::ZERO,
        sender: users[0].address,
        recipient,
        amount: U256::from(ETHER),
    };
    let slot = keccak256((hash(&withdrawal), U256::ZERO).abi_encode());
    let proof = l2.state().proof(&L2_WITHDRAWALS, &[slot]).unwrap().unwrap();
    assert_eq!(
        proof.storage[0].value,
        U256::from(1),
        "the predeploy recorded it"
    );
    (
        genesis_root,
        built.block.header.state_root,
        proof,
        withdrawal,
    )
}

fn hash(w: &Bridge::Withdrawal) -> B256 {
    keccak256((w.nonce, w.sender, w.recipient, w.amount).abi_encode())
}

fn bridge_error(error: alloy_contract::Error) -> BridgeErrors {
    error
        .as_decoded_interface_error::<BridgeErrors>()
        .unwrap_or_else(|| panic!("not a Bridge error: {error}"))
}

#[tokio::test]
async fn deposits_are_numbered_in_a_hash_chain() {
    let l1 = L1::start(epoch_sets(1, &[25, 25, 25, 25])).await;
    let bridge = Bridge::new(l1.deployment.bridge, &l1.provider);
    let (from, to) = (l1.anvil.addresses()[0], Address::repeat_byte(0x22));
    let mut chain = B256::ZERO;
    for nonce in 0..2u64 {
        let receipt = bridge.deposit(to).value(U256::from(ETHER)).mined().await;
        println!("gas: deposit #{nonce}: {}", gas_of(&receipt));
        let event = receipt
            .inner
            .logs()
            .iter()
            .find_map(|l| l.log_decode::<Bridge::Deposited>().ok())
            .unwrap()
            .inner
            .data;
        chain = keccak256((chain, U256::from(nonce), from, to, U256::from(ETHER)).abi_encode());
        assert_eq!(
            (event.nonce, event.from, event.to, event.amount, event.chain),
            (U256::from(nonce), from, to, U256::from(ETHER), chain)
        );
        assert_eq!(
            bridge.deposits(U256::from(nonce)).call().await.unwrap(),
            chain
        );
    }
    assert_eq!(bridge.depositCount().call().await.unwrap(), U256::from(2));
    let error = bridge.deposit(to).call().await.unwrap_err();
    assert!(matches!(
        bridge_error(error),
        BridgeErrors::NothingToDeposit(_)
    ));
}

#[tokio::test]
async fn a_withdrawal_made_on_the_rollup_is_proven_against_a_final_batch_and_paid_once() {
    let recipient = Address::repeat_byte(0x77);
    let (genesis_root, post_root, proof, withdrawal) = rollup_withdrawal(recipient);
    let l1 = L1::start_with_genesis(epoch_sets(1, &[25, 25, 25, 25]), genesis_root).await;
    let bridge = Bridge::new(l1.deployment.bridge, &l1.provider);
    let settlement = RollupSettlement::new(l1.deployment.settlement, &l1.provider);
    // The bridge holds deposits to pay withdrawals from.
    bridge
        .deposit(Address::repeat_byte(1))
        .value(U256::from(5 * ETHER))
        .mined()
        .await;
    settlement
        .commitBatch(
            0,
            genesis_root,
            post_root,
            1,
            B256::repeat_byte(0xda),
            1,
            3,
            B256::repeat_byte(0xee),
        )
        .value(U256::from(PROPOSER_BOND))
        .mined()
        .await;
    let account_proof = proof.account_proof.clone();
    let storage_proof = proof.storage[0].proof.clone();
    let finalize = |account_proof: Vec<Bytes>, storage_proof: Vec<Bytes>| {
        bridge.finalizeWithdrawal(0, withdrawal.clone(), account_proof, storage_proof)
    };
    // Not before the batch is final.
    let error = finalize(account_proof.clone(), storage_proof.clone())
        .call()
        .await
        .unwrap_err();
    assert!(matches!(bridge_error(error), BridgeErrors::NotFinal(_)));
    advance(&l1.provider, WINDOW).await;
    settlement.finalize().mined().await;
    // A proof with a node changed, or of another withdrawal, is refused.
    let mut tampered = storage_proof.clone();
    let mut node = tampered[0].to_vec();
    node[5] ^= 1;
    tampered[0] = node.into();
    assert!(
        finalize(account_proof.clone(), tampered)
            .call()
            .await
            .is_err()
    );
    let other = Bridge::Withdrawal {
        amount: U256::from(2 * ETHER),
        ..withdrawal.clone()
    };
    assert!(
        bridge
            .finalizeWithdrawal(0, other, account_proof.clone(), storage_proof.clone())
            .call()
            .await
            .is_err()
    );
    // The real one is paid, once.
    let before = l1.provider.get_balance(recipient).await.unwrap();
    let receipt = finalize(account_proof.clone(), storage_proof.clone())
        .mined()
        .await;
    println!(
        "gas: finalizeWithdrawal ({} account and {} storage proof nodes): {}",
        account_proof.len(),
        storage_proof.len(),
        gas_of(&receipt)
    );
    assert_eq!(
        l1.provider.get_balance(recipient).await.unwrap(),
        before + U256::from(ETHER)
    );
    assert!(bridge.claimed(hash(&withdrawal)).call().await.unwrap());
    let error = finalize(account_proof, storage_proof)
        .call()
        .await
        .unwrap_err();
    assert!(matches!(
        bridge_error(error),
        BridgeErrors::AlreadyClaimed(_)
    ));
}

#[tokio::test]
async fn withdrawals_against_a_reverted_batch_or_under_an_alert_wait() {
    let recipient = Address::repeat_byte(0x78);
    let (genesis_root, post_root, proof, withdrawal) = rollup_withdrawal(recipient);
    let l1 = L1::start_with_genesis(epoch_sets(1, &[25, 25, 25, 25]), genesis_root).await;
    mine(&l1.provider).await;
    let bridge = Bridge::new(l1.deployment.bridge, &l1.provider);
    let settlement = RollupSettlement::new(l1.deployment.settlement, &l1.provider);
    let mach = MachServiceManager::new(l1.deployment.mach, &l1.provider);
    bridge
        .deposit(Address::repeat_byte(1))
        .value(U256::from(5 * ETHER))
        .mined()
        .await;
    let da = B256::repeat_byte(0xda);
    let commit = || {
        settlement
            .commitBatch(
                0,
                genesis_root,
                post_root,
                1,
                da,
                1,
                3,
                B256::repeat_byte(0xee),
            )
            .value(U256::from(PROPOSER_BOND))
    };
    let finalize = || {
        bridge.finalizeWithdrawal(
            0,
            withdrawal.clone(),
            proof.account_proof.clone(),
            proof.storage[0].proof.clone(),
        )
    };
    // Batch 0 is challenged; its one step goes straight to the proof, and the VITAL set
    // certifies the step cannot execute: reverted, so never final.
    commit().mined().await;
    let challenger = l1.anvil.addresses()[1];
    settlement
        .challenge(0)
        .value(U256::from(CHALLENGE_BOND))
        .from(challenger)
        .mined()
        .await;
    let vital = &l1.sets[1];
    let digest = step_verdict_digest(CHAIN_ID, ROLLUP, 0, da, 0, genesis_root, false, B256::ZERO);
    let invalid = vital_step_proof(
        false,
        B256::ZERO,
        &vital.l1(),
        vital.certify(digest, &[0, 1]),
    );
    let receipt = settlement.proveStep(U256::ZERO, invalid).mined().await;
    println!(
        "gas: proveStep (the step is invalid) and revert of 1 batch: {}",
        gas_of(&receipt)
    );
    assert_eq!(settlement.nextIndex().call().await.unwrap(), 0);
    advance(&l1.provider, WINDOW).await;
    settlement.finalize().mined().await;
    let error = finalize().call().await.unwrap_err();
    assert!(matches!(bridge_error(error), BridgeErrors::NotFinal(_)));
    // Committed again, final after its window: but a MACH alert holds withdrawals.
    commit().mined().await;
    advance(&l1.provider, WINDOW).await;
    settlement.finalize().mined().await;
    assert!(settlement.isFinal(0).call().await.unwrap());
    let alert = MachServiceManager::Alert {
        height: 9,
        blockHash: B256::repeat_byte(9),
        kind: 1,
        invalid: B256::repeat_byte(1),
        expected: B256::repeat_byte(2),
        snapshotHeight: 1,
    };
    let alert_digest = mach.alertDigest(alert.clone()).call().await.unwrap();
    let set = l1.mach_set();
    mach.confirmAlert(
        alert,
        set.l1().into_sol().into(),
        set.certify(alert_digest, &[0, 1, 2]).into(),
    )
    .mined()
    .await;
    let error = finalize().call().await.unwrap_err();
    assert!(matches!(bridge_error(error), BridgeErrors::AlertsActive(_)));
    mach.resolveAlert(alert_digest).mined().await;
    gas_of(&finalize().mined().await);
    assert_eq!(
        l1.provider.get_balance(recipient).await.unwrap(),
        U256::from(ETHER)
    );
}
