//! The in-process defaults of the composition traits: sequencer and pool, verifier, DA,
//! settlement and challenge-window finality, including their refusals.

use alloy_consensus::{TxEnvelope, transaction::Recovered};
use alloy_primitives::{Address, B256, U256};
use altlayer_core::{
    Batch, DataAvailability, FinalityGadget, RollupConfig, RollupId, Sequencer, Settlement,
    Verifier,
    da::{DaError, DaFault, InMemoryDa},
    dev::{DevAccount, dev_state_transition},
    execution::{BlockAttributes, ExecuteOptions},
    finality::{ChallengeWindowFinality, FinalityStatus},
    sequencer::{
        Mempool, PoolError, SequencerConfig, SequencerEvent, SingleSequencer, SubmitError,
    },
    settlement::{
        BatchCommitment, BatchStatus, ChallengeOutcome, LocalSettlement, SettlementError,
    },
    transaction::{RecoveryBackend, TxError, recover},
    verifier::{BatchVerdict, ReExecutionVerifier},
};

const CHAIN: u64 = 1_337;

fn rec(tx: TxEnvelope) -> Recovered<TxEnvelope> {
    recover(tx, RecoveryBackend::Libsecp256k1).unwrap()
}

fn transfer(account: &DevAccount, nonce: u64) -> Recovered<TxEnvelope> {
    rec(account.transfer(CHAIN, nonce, Address::repeat_byte(0x77), U256::from(1)))
}

#[test]
fn mempool_orders_by_arrival_then_nonce_and_refuses_duplicates() {
    let (a, b) = (DevAccount::new(0), DevAccount::new(1));
    let mut pool = Mempool::default();
    pool.insert(transfer(&a, 1), 10).unwrap();
    pool.insert(transfer(&b, 0), 10).unwrap();
    pool.insert(transfer(&a, 0), 10).unwrap();
    assert!(matches!(
        pool.insert(transfer(&a, 0), 10),
        Err(PoolError::Duplicate(_))
    ));
    let other_tx_same_nonce = rec(a.transfer(CHAIN, 1, Address::repeat_byte(1), U256::from(2)));
    assert!(matches!(
        pool.insert(other_tx_same_nonce, 10),
        Err(PoolError::NonceTaken { nonce: 1, .. })
    ));
    assert!(matches!(
        pool.insert(transfer(&b, 1), 3),
        Err(PoolError::Full(3))
    ));
    let taken: Vec<_> = pool
        .take(2)
        .iter()
        .map(|tx| (tx.signer(), alloy_consensus::Transaction::nonce(tx.inner())))
        .collect();
    assert_eq!(taken, vec![(a.address, 0), (a.address, 1)]);
    assert_eq!(pool.len(), 1);
    assert_eq!(pool.take(10)[0].signer(), b.address);
    assert!(pool.is_empty());
}

#[test]
fn single_sequencer_builds_on_schedule_and_reports_refusals() {
    let accounts = DevAccount::many(2);
    let stf = dev_state_transition(RollupConfig::default(), 2);
    let mut sequencer = SingleSequencer::new(
        stf,
        SequencerConfig {
            block_time_ms: 1_000,
            ..Default::default()
        },
    );
    let foreign = rec(accounts[0].transfer(1, 0, Address::ZERO, U256::from(1)));
    assert!(matches!(
        sequencer.submit(foreign),
        Err(SubmitError::Invalid(TxError::WrongChainId { .. }))
    ));
    sequencer.submit(transfer(&accounts[0], 0)).unwrap();
    sequencer.submit(transfer(&accounts[1], 5)).unwrap(); // a nonce gap
    assert_eq!(sequencer.pending(), 2);
    assert!(sequencer.on_tick(999).unwrap().is_empty());
    let events = sequencer.on_tick(1_000).unwrap();
    let SequencerEvent::Block(built) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(built.block.transactions.len(), 1);
    assert!(
        matches!(&events[1], SequencerEvent::Rejected(r) if matches!(r.error, TxError::NonceTooHigh { expected: 0, got: 5 }))
    );
    assert_eq!(sequencer.pending(), 0);
    assert!(sequencer.on_tick(1_999).unwrap().is_empty());
    assert_eq!(sequencer.on_tick(2_000).unwrap().len(), 1);
    assert_eq!(sequencer.state_transition().head().height, 2);
}

/// A batch of one block of `n` transfers built honestly, with its verifier at the genesis.
fn batch_of(
    n: u64,
) -> (
    Batch,
    ReExecutionVerifier<altlayer_core::EvmStateTransition>,
) {
    let mut stf = dev_state_transition(RollupConfig::default(), n);
    let verifier = ReExecutionVerifier::new(stf.clone());
    let pre = stf.state_root();
    let txs = DevAccount::many(n).iter().map(|a| transfer(a, 0)).collect();
    let built = stf
        .build_block(
            BlockAttributes {
                timestamp: 1,
                ..Default::default()
            },
            txs,
            ExecuteOptions::with_intermediate_roots(),
        )
        .unwrap();
    let batch = Batch {
        rollup_id: RollupId(1),
        index: 0,
        pre_state_root: pre,
        post_state_root: built.block.header.state_root,
        intermediate_roots: built.outcome.intermediate_roots,
        blocks: vec![built.block],
    };
    (batch, verifier)
}

#[test]
fn verifier_accepts_an_honest_batch_and_points_at_the_first_wrong_transaction() {
    let (batch, mut verifier) = batch_of(10);
    assert_eq!(verifier.clone().verify_batch(&batch), BatchVerdict::Valid);

    // A sequencer that lies from transaction 6 on: wrong per-transaction roots and header root.
    let mut lying = batch.clone();
    for root in &mut lying.intermediate_roots[6..] {
        *root = B256::repeat_byte(0xee);
    }
    lying.blocks[0].header.state_root = B256::repeat_byte(0xee);
    lying.post_state_root = B256::repeat_byte(0xee);
    match verifier.verify_batch(&lying) {
        BatchVerdict::Invalid {
            first_bad_tx,
            expected_root,
            ..
        } => {
            assert_eq!(first_bad_tx, Some(6));
            assert_eq!(expected_root, Some(batch.intermediate_roots[6]));
        }
        other => panic!("{other:?}"),
    }
    // The verifier's replica did not move.
    assert_eq!(verifier.replica().head().height, 0);

    let mut wrong_pre = batch.clone();
    wrong_pre.pre_state_root = B256::ZERO;
    assert!(matches!(
        verifier.verify_batch(&wrong_pre),
        BatchVerdict::Invalid {
            first_bad_tx: None,
            ..
        }
    ));
    let mut missing_roots = batch;
    missing_roots.intermediate_roots.pop();
    assert!(matches!(
        verifier.verify_batch(&missing_roots),
        BatchVerdict::Invalid { .. }
    ));
}

#[tokio::test]
async fn in_memory_da_round_trips_and_injects_faults() {
    let (batch, _) = batch_of(3);
    let da = InMemoryDa::default();
    let reference = da.publish(&batch).await.unwrap();
    assert_eq!(da.retrieve(&reference).await.unwrap(), batch);
    let forged = altlayer_core::DaRef {
        commitment: B256::ZERO,
        ..reference
    };
    assert!(matches!(
        da.retrieve(&forged).await,
        Err(DaError::Corrupt { .. })
    ));
    let missing = altlayer_core::DaRef {
        position: 99,
        ..reference
    };
    assert_eq!(da.retrieve(&missing).await, Err(DaError::NotFound(99)));

    da.set_fault(DaFault::Withhold);
    assert_eq!(da.retrieve(&reference).await, Err(DaError::NotFound(0)));
    da.set_fault(DaFault::Corrupt);
    let corrupt = da.publish(&batch).await.unwrap();
    da.set_fault(DaFault::None);
    assert!(matches!(
        da.retrieve(&corrupt).await,
        Err(DaError::Corrupt { .. })
    ));
    da.set_fault(DaFault::Unavailable);
    assert!(matches!(
        da.publish(&batch).await,
        Err(DaError::Unavailable(_))
    ));
    assert_eq!(da.len(), 2);
}

fn commitment(index: u64, pre: u8, post: u8, last_height: u64) -> BatchCommitment {
    BatchCommitment {
        rollup_id: RollupId(1),
        index,
        pre_state_root: B256::repeat_byte(pre),
        post_state_root: B256::repeat_byte(post),
        last_height,
        commitment: B256::repeat_byte(index as u8),
        da_ref: Default::default(),
        proposer: Address::repeat_byte(0x5e),
    }
}

#[tokio::test]
async fn local_settlement_orders_challenges_reverts_and_finalizes() {
    let l1 = LocalSettlement::new(RollupId(1), B256::repeat_byte(0), 10, U256::from(100));
    let wrong_rollup = BatchCommitment {
        rollup_id: RollupId(2),
        ..commitment(0, 0, 1, 5)
    };
    assert!(matches!(
        l1.commit_batch(wrong_rollup).await,
        Err(SettlementError::WrongRollup { .. })
    ));
    assert!(matches!(
        l1.commit_batch(commitment(1, 0, 1, 5)).await,
        Err(SettlementError::OutOfOrder {
            expected: 0,
            got: 1
        })
    ));
    assert!(matches!(
        l1.commit_batch(commitment(0, 9, 1, 5)).await,
        Err(SettlementError::RootGap { .. })
    ));
    l1.commit_batch(commitment(0, 0, 1, 5)).await.unwrap();
    l1.advance_time(5);
    l1.commit_batch(commitment(1, 1, 2, 10)).await.unwrap();
    l1.commit_batch(commitment(2, 2, 3, 15)).await.unwrap();

    let challenger = Address::repeat_byte(0xcc);
    assert!(matches!(
        l1.open_challenge(1, challenger, U256::from(99)).await,
        Err(SettlementError::BondTooLow { .. })
    ));
    l1.open_challenge(1, challenger, U256::from(100))
        .await
        .unwrap();
    assert!(matches!(
        l1.open_challenge(1, challenger, U256::from(100)).await,
        Err(SettlementError::AlreadyChallenging { .. })
    ));
    l1.open_challenge(2, Address::repeat_byte(0xdd), U256::from(150))
        .await
        .unwrap();
    assert!(matches!(
        l1.resolve_challenge(0, challenger, ChallengeOutcome::BatchInvalid)
            .await,
        Err(SettlementError::NoChallenge { index: 0, .. })
    ));

    // Batch 0's window passes; 1 is challenged, so nothing after 0 is final.
    l1.advance_time(20);
    assert_eq!(l1.status(0).await.unwrap(), BatchStatus::Final);
    assert_eq!(l1.status(1).await.unwrap(), BatchStatus::Challenged);
    assert_eq!(l1.finalized_height().await.unwrap(), Some(5));
    assert!(matches!(
        l1.open_challenge(0, challenger, U256::from(100)).await,
        Err(SettlementError::NotChallengeable { .. })
    ));

    // Batch 1 proven wrong: it and batch 2 are reverted, both challengers get their bonds back.
    l1.resolve_challenge(1, challenger, ChallengeOutcome::BatchInvalid)
        .await
        .unwrap();
    assert_eq!(l1.status(1).await.unwrap(), BatchStatus::Reverted);
    assert_eq!(l1.status(2).await.unwrap(), BatchStatus::Reverted);
    assert_eq!(l1.refunded(&challenger), U256::from(100));
    assert_eq!(l1.refunded(&Address::repeat_byte(0xdd)), U256::from(150));

    // The rollup re-posts from the last valid root; a failed challenge forfeits the bond.
    assert!(matches!(
        l1.commit_batch(commitment(1, 2, 7, 10)).await,
        Err(SettlementError::RootGap { .. })
    ));
    l1.commit_batch(commitment(1, 1, 7, 10)).await.unwrap();
    l1.open_challenge(1, challenger, U256::from(100))
        .await
        .unwrap();
    // Two challengers on one batch: the first loses, the batch stays challenged until the
    // second is decided too.
    let second = Address::repeat_byte(0xee);
    l1.open_challenge(1, second, U256::from(100)).await.unwrap();
    l1.resolve_challenge(1, challenger, ChallengeOutcome::BatchValid)
        .await
        .unwrap();
    assert_eq!(l1.forfeited_bonds(), U256::from(100));
    assert_eq!(l1.status(1).await.unwrap(), BatchStatus::Challenged);
    assert!(matches!(
        l1.resolve_challenge(1, challenger, ChallengeOutcome::BatchValid)
            .await,
        Err(SettlementError::NoChallenge { .. })
    ));
    l1.resolve_challenge(1, second, ChallengeOutcome::BatchValid)
        .await
        .unwrap();
    assert_eq!(l1.forfeited_bonds(), U256::from(200));
    assert!(matches!(
        l1.status(1).await.unwrap(),
        BatchStatus::Pending { .. }
    ));
    l1.advance_time(10);
    assert_eq!(l1.finalized_height().await.unwrap(), Some(10));
    assert!(matches!(
        l1.batch(7).await,
        Err(SettlementError::UnknownBatch(7))
    ));
}

#[test]
fn challenge_window_finality_holds_back_behind_a_challenge() {
    let mut gadget = ChallengeWindowFinality::new(10);
    for height in 1..=15 {
        gadget.on_block(height);
    }
    assert_eq!(gadget.status(16), FinalityStatus::Unknown);
    gadget.on_batch_committed(&commitment(0, 0, 1, 5), 0);
    gadget.on_batch_committed(&commitment(1, 1, 2, 10), 1);
    gadget.on_batch_committed(&commitment(2, 2, 3, 15), 2);
    assert_eq!(
        gadget.status(7),
        FinalityStatus::Committed {
            batch: 1,
            window_ends: 11
        }
    );
    gadget.on_challenge(1);
    assert_eq!(gadget.on_tick(50), Some(5));
    assert_eq!(gadget.status(5), FinalityStatus::Final);
    assert_eq!(
        gadget.status(6),
        FinalityStatus::Committed {
            batch: 1,
            window_ends: 11
        }
    );
    gadget.on_challenge_failed(1);
    assert_eq!(gadget.on_tick(51), Some(15));
    assert_eq!(gadget.finalized_height(), Some(15));

    let mut reverted = ChallengeWindowFinality::new(10);
    reverted.on_batch_committed(&commitment(0, 0, 1, 5), 0);
    reverted.on_batch_committed(&commitment(1, 1, 2, 10), 0);
    reverted.on_challenge(1);
    reverted.on_revert(1);
    assert_eq!(reverted.on_tick(100), Some(5));
    assert_eq!(reverted.status(7), FinalityStatus::Unknown);
}
