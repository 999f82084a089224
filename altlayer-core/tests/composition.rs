//! The in-process defaults of the composition traits: sequencer and pool, verifier, DA,
//! settlement and challenge-window finality, including their refusals.

use alloy_consensus::{Transaction as _, TxEnvelope, transaction::Recovered};
use alloy_primitives::{Address, B256, U256};
use altlayer_core::{
    Batch, Block, DataAvailability, EvmStateTransition, FinalityGadget, RollupConfig, RollupId,
    Sequencer, Settlement,
    da::{DaError, DaFault, InMemoryDa},
    dev::{DevAccount, dev_state_transition},
    execution::{BlockAttributes, ExecuteOptions},
    finality::{ChallengeWindowFinality, FinalityStatus},
    sequencer::{
        Mempool, PoolError, SequencerConfig, SequencerEvent, SingleSequencer, SubmitError,
    },
    settlement::{
        BatchCommitment, BatchStatus, LocalSettlement, SettlementConfig, SettlementError,
        SettlementEvent,
        bisection::{Move, Party},
        court::CourtError,
    },
    transaction::{RecoveryBackend, TxError, recover},
    verifier::{BatchCheck, ReExecutionVerifier},
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
    let hashes = [pool.insert(transfer(&a, 1), 10).unwrap()];
    pool.insert(transfer(&b, 0), 10).unwrap();
    pool.insert(transfer(&a, 0), 10).unwrap();
    assert!(matches!(
        pool.insert(transfer(&a, 0), 10),
        Err(PoolError::Duplicate(_))
    ));
    // The same nonce at the same price does not replace; 10 % more in fee cap and tip does.
    let other_tx_same_nonce = rec(a.transfer(CHAIN, 1, Address::repeat_byte(1), U256::from(2)));
    assert!(matches!(
        pool.insert(other_tx_same_nonce, 10),
        Err(PoolError::ReplacementUnderpriced { nonce: 1, .. })
    ));
    let pooled = pool.get(&hashes[0]).unwrap().inner().clone();
    let (fee, tip) = (
        pooled.max_fee_per_gas(),
        pooled.max_priority_fee_per_gas().unwrap(),
    );
    let bump = |by: u128| {
        let tx = alloy_consensus::TxEip1559 {
            chain_id: CHAIN,
            nonce: 1,
            gas_limit: 21_000,
            max_fee_per_gas: fee * by / 100,
            max_priority_fee_per_gas: tip * by / 100,
            to: alloy_primitives::TxKind::Call(Address::repeat_byte(1)),
            ..Default::default()
        };
        rec(a.sign_eip1559(tx))
    };
    assert!(matches!(
        pool.insert(bump(109), 10),
        Err(PoolError::ReplacementUnderpriced { nonce: 1, .. })
    ));
    let replacement = pool.insert(bump(110), 10).unwrap();
    assert!(pool.get(&hashes[0]).is_none());
    assert_eq!(pool.get(&replacement).unwrap().signer(), a.address);
    assert_eq!(pool.len(), 3);
    // The pending nonce counts the pooled nonces that follow the account's without a gap.
    assert_eq!(pool.next_nonce(&a.address, 0), 2);
    assert_eq!(pool.next_nonce(&a.address, 1), 2);
    assert_eq!(pool.next_nonce(&b.address, 0), 1);
    assert_eq!(pool.next_nonce(&b.address, 3), 3);
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
fn batch_of(n: u64) -> (Batch, ReExecutionVerifier) {
    let mut stf = dev_state_transition(RollupConfig::default(), n);
    let verifier =
        ReExecutionVerifier::new(Address::repeat_byte(0x7a), U256::from(1), stf.clone(), 0);
    let batch = next_batch(&mut stf, 0, &DevAccount::many(n), 0);
    (batch, verifier)
}

/// Batch `index`: one block in which each account sends a transfer with `nonce`.
fn next_batch(
    stf: &mut EvmStateTransition,
    index: u64,
    accounts: &[DevAccount],
    nonce: u64,
) -> Batch {
    let pre = stf.state_root();
    let txs = accounts.iter().map(|a| transfer(a, nonce)).collect();
    let built = stf
        .build_block(
            BlockAttributes {
                timestamp: 1 + index,
                ..Default::default()
            },
            txs,
            ExecuteOptions::with_intermediate_roots(),
        )
        .unwrap();
    Batch {
        rollup_id: RollupId(1),
        index,
        pre_state_root: pre,
        post_state_root: built.block.header.state_root,
        intermediate_roots: built.outcome.intermediate_roots,
        blocks: vec![built.block],
    }
}

#[test]
fn verifier_accepts_an_honest_batch_and_points_at_the_first_wrong_transaction() {
    let (batch, verifier) = batch_of(10);
    assert_eq!(verifier.clone().check(&batch), BatchCheck::Valid);

    // A sequencer that lies from transaction 6 on: wrong per-transaction roots and header root.
    let mut lying = batch.clone();
    for root in &mut lying.intermediate_roots[6..] {
        *root = B256::repeat_byte(0xee);
    }
    lying.blocks[0].header.state_root = B256::repeat_byte(0xee);
    lying.post_state_root = B256::repeat_byte(0xee);
    let mut checking = verifier.clone();
    assert_eq!(
        checking.check(&lying),
        BatchCheck::Wrong {
            step: 6,
            invalid: None
        }
    );
    // The verifier's replica did not move, and its root after step 6 is the honest one.
    assert_eq!(checking.replica().head().height, 0);
    assert_eq!(checking.root_after(0, 7), Some(batch.intermediate_roots[6]));

    let mut wrong_pre = batch.clone();
    wrong_pre.pre_state_root = B256::ZERO;
    assert_eq!(verifier.clone().check(&wrong_pre), BatchCheck::Unknown);
    let mut missing_roots = batch;
    missing_roots.intermediate_roots.pop();
    assert!(matches!(
        verifier.clone().check(&missing_roots),
        BatchCheck::Stuck(_)
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

fn committed(batch: &Batch) -> BatchCommitment {
    BatchCommitment::new(batch, CHAIN, Default::default(), Address::repeat_byte(0x5e))
}

#[tokio::test]
async fn local_settlement_orders_challenges_reverts_and_finalizes() {
    let accounts = DevAccount::many(4);
    let mut stf = dev_state_transition(RollupConfig::default(), 4);
    let l1 = LocalSettlement::new(SettlementConfig {
        challenge_window: 10,
        min_bond: U256::from(100),
        move_timeout: 20,
        ..SettlementConfig::new(RollupConfig::default(), stf.state_root())
    });
    let genesis = stf.clone();
    let batches: Vec<Batch> = (0..3)
        .map(|i| next_batch(&mut stf, i, &accounts, i))
        .collect();
    let wrong_rollup = BatchCommitment {
        rollup_id: RollupId(2),
        ..committed(&batches[0])
    };
    assert!(matches!(
        l1.commit_batch(wrong_rollup).await,
        Err(SettlementError::WrongRollup { .. })
    ));
    assert!(matches!(
        l1.commit_batch(committed(&batches[1])).await,
        Err(SettlementError::OutOfOrder {
            expected: 0,
            got: 1
        })
    ));
    assert!(matches!(
        l1.commit_batch(commitment(0, 9, 1, 5)).await,
        Err(SettlementError::RootGap { .. })
    ));
    l1.commit_batch(committed(&batches[0])).await.unwrap();
    l1.advance_time(5);
    l1.commit_batch(committed(&batches[1])).await.unwrap();
    l1.commit_batch(committed(&batches[2])).await.unwrap();

    let challenger = Address::repeat_byte(0xcc);
    assert!(matches!(
        l1.open_challenge(&batches[1], challenger, U256::from(99))
            .await,
        Err(SettlementError::BondTooLow { .. })
    ));
    // The data must be the committed batch's.
    let mut forged = batches[1].clone();
    forged.post_state_root = B256::repeat_byte(0xf0);
    assert!(matches!(
        l1.open_challenge(&forged, challenger, U256::from(100))
            .await,
        Err(SettlementError::Dispute(CourtError::WrongBatch(_)))
    ));
    let game = l1
        .open_challenge(&batches[1], challenger, U256::from(100))
        .await
        .unwrap();
    assert!(matches!(
        l1.open_challenge(&batches[1], challenger, U256::from(100))
            .await,
        Err(SettlementError::AlreadyChallenging { .. })
    ));
    let other = Address::repeat_byte(0xdd);
    l1.open_challenge(&batches[2], other, U256::from(150))
        .await
        .unwrap();
    // Only the parties move, each in turn.
    assert!(matches!(
        l1.play(game, challenger, Move::Verdict { agree: true })
            .await,
        Err(SettlementError::Dispute(_))
    ));
    assert!(matches!(
        l1.play(99, challenger, Move::Verdict { agree: true }).await,
        Err(SettlementError::Dispute(CourtError::UnknownDispute(99)))
    ));

    // Batch 0's window passes; 1 and 2 are challenged, so nothing after 0 is final.
    l1.observe_time(15).await.unwrap();
    assert_eq!(l1.status(0).await.unwrap(), BatchStatus::Final);
    assert_eq!(l1.status(1).await.unwrap(), BatchStatus::Challenged);
    assert_eq!(l1.finalized_height().await.unwrap(), Some(1));
    assert!(matches!(
        l1.open_challenge(&batches[0], challenger, U256::from(100))
            .await,
        Err(SettlementError::NotChallengeable { .. })
    ));
    l1.observe_time(26).await.unwrap();

    // The proposer never moves: it loses by timeout, batch 1 and batch 2 are reverted, and both
    // challengers get their bonds back (the game on batch 2 is moot).
    assert_eq!(l1.status(1).await.unwrap(), BatchStatus::Reverted);
    assert_eq!(l1.status(2).await.unwrap(), BatchStatus::Reverted);
    assert_eq!(l1.refunded(&challenger), U256::from(100));
    assert_eq!(l1.refunded(&other), U256::from(150));
    let (events, _) = l1.events(0).await.unwrap();
    let decided: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            SettlementEvent::ChallengeDecided(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(decided.len(), 1, "{events:#?}");
    assert_eq!(decided[0].decision.winner, Party::Challenger);
    assert_eq!(decided[0].reverted_from, Some(1));
    assert_eq!(decided[0].returned.len(), 2);

    // The rollup re-posts from the last valid root; a challenger that stops answering forfeits
    // its bond.
    let mut again = genesis;
    let reposted: Vec<Batch> = (0..2)
        .map(|i| next_batch(&mut again, i, &accounts, i))
        .collect();
    assert!(matches!(
        l1.commit_batch(committed(&batches[2])).await,
        Err(SettlementError::OutOfOrder { .. }) | Err(SettlementError::RootGap { .. })
    ));
    l1.commit_batch(committed(&reposted[1])).await.unwrap();
    let game = l1
        .open_challenge(&reposted[1], challenger, U256::from(100))
        .await
        .unwrap();
    let root = reposted[1].intermediate_roots[1];
    l1.play(
        game,
        Address::repeat_byte(0x5e),
        Move::Root { index: 2, root },
    )
    .await
    .unwrap();
    assert_eq!(l1.status(1).await.unwrap(), BatchStatus::Challenged);
    l1.observe_time(47).await.unwrap();
    assert_eq!(l1.forfeited_bonds(), U256::from(100));
    // Its window had passed while it was challenged: with the challenge lost it is final.
    assert_eq!(l1.status(1).await.unwrap(), BatchStatus::Final);
    assert_eq!(l1.finalized_height().await.unwrap(), Some(2));
    assert!(matches!(
        l1.batch(7).await,
        Err(SettlementError::UnknownBatch(7))
    ));
}

fn block_at(height: u64) -> Block {
    let mut block = Block::default();
    block.header.height = height;
    block
}

#[test]
fn challenge_window_finality_holds_back_behind_a_challenge() {
    let mut gadget = ChallengeWindowFinality::new(10);
    for height in 1..=15 {
        let block = block_at(height);
        gadget.on_block(0, block.hash(), &block);
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
    assert_eq!(gadget.on_settlement_time(50), Some(5));
    assert_eq!(gadget.status(5), FinalityStatus::Final);
    assert_eq!(
        gadget.status(6),
        FinalityStatus::Committed {
            batch: 1,
            window_ends: 11
        }
    );
    gadget.on_challenge_failed(1);
    assert_eq!(gadget.on_settlement_time(51), Some(15));
    assert_eq!(gadget.finalized_height(), Some(15));

    let mut reverted = ChallengeWindowFinality::new(10);
    reverted.on_batch_committed(&commitment(0, 0, 1, 5), 0);
    reverted.on_batch_committed(&commitment(1, 1, 2, 10), 0);
    reverted.on_challenge(1);
    reverted.on_revert(1, 5);
    assert_eq!(reverted.on_settlement_time(100), Some(5));
    assert_eq!(reverted.status(7), FinalityStatus::Unknown);
}

#[tokio::test]
async fn governance_changes_the_window_of_batches_committed_after() {
    use altlayer_core::params::{AvsParams, ParameterStore};
    let accounts = DevAccount::many(2);
    let mut stf = dev_state_transition(RollupConfig::default(), 2);
    let mut l1 = LocalSettlement::new(SettlementConfig {
        challenge_window: 7 * 86_400,
        move_timeout: 3_600,
        ..SettlementConfig::new(RollupConfig::default(), stf.state_root())
    });
    let first = next_batch(&mut stf, 0, &accounts, 0);
    l1.commit_batch(committed(&first)).await.unwrap();
    // A window too short for a whole game is refused and changes nothing.
    let refused = AvsParams {
        challenge_window_secs: 3_600,
        ..l1.params().clone()
    };
    assert!(l1.set_params(refused).is_err());
    assert_eq!(l1.challenge_window(), 7 * 86_400);
    let shorter = AvsParams {
        challenge_window_secs: 6 * 86_400,
        ..l1.params().clone()
    };
    l1.set_params(shorter).unwrap();
    let second = next_batch(&mut stf, 1, &accounts, 1);
    l1.commit_batch(committed(&second)).await.unwrap();
    assert_eq!(
        l1.status(0).await.unwrap(),
        BatchStatus::Pending {
            window_ends: 7 * 86_400
        }
    );
    assert_eq!(
        l1.status(1).await.unwrap(),
        BatchStatus::Pending {
            window_ends: 6 * 86_400
        }
    );
}
