//! `RollupSettlement` and `VitalStepVerifier` on anvil: batches committed with bonds in order,
//! finalized after their window, challenged, bisected move by move, decided by the VITAL set's
//! certified verdict or by a missed deadline, reverted with every later batch, and the bonds
//! moved. Each call's gas is printed (`--nocapture`).

mod common;

use alloy_primitives::{Address, B256, U256};
use alloy_provider::DynProvider;
use altlayer_l1::{
    bindings::settlement::RollupSettlement::{
        self, RollupSettlementErrors, RollupSettlementInstance,
    },
    step_verdict_digest, vital_step_proof,
};
use common::*;

/// The true state roots after each of a batch's four steps, from `pre`.
fn true_roots(pre: B256) -> [B256; 5] {
    let mut roots = [pre; 5];
    for (i, root) in roots.iter_mut().enumerate().skip(1) {
        *root = alloy_primitives::keccak256([pre.as_slice(), &[i as u8]].concat());
    }
    roots
}

fn settlement_error(error: alloy_contract::Error) -> RollupSettlementErrors {
    error
        .as_decoded_interface_error::<RollupSettlementErrors>()
        .unwrap_or_else(|| panic!("not a RollupSettlement error: {error}"))
}

struct Game<'a> {
    l1: &'a L1,
    settlement: RollupSettlementInstance<&'a DynProvider>,
    proposer: Address,
}

impl<'a> Game<'a> {
    fn new(l1: &'a L1) -> Self {
        Self {
            l1,
            settlement: RollupSettlement::new(l1.deployment.settlement, &l1.provider),
            proposer: l1.anvil.addresses()[0],
        }
    }

    /// Commits batch `index` of four steps from `pre` to `post`.
    async fn commit(&self, index: u64, pre: B256, post: B256) -> u64 {
        let receipt = self
            .settlement
            .commitBatch(
                index,
                pre,
                post,
                (index + 1) * 10,
                da(index),
                4,
                3,
                B256::repeat_byte(0xee),
            )
            .value(U256::from(PROPOSER_BOND))
            .mined()
            .await;
        gas_of(&receipt)
    }

    async fn owed(&self, who: Address) -> U256 {
        self.settlement.owed(who).call().await.unwrap()
    }

    /// The VITAL set's certified verdict on step `step` of batch `batch` from `pre`.
    fn verdict(
        &self,
        batch: u64,
        step: u64,
        pre: B256,
        valid: bool,
        post: B256,
        signers: &[usize],
    ) -> alloy_primitives::Bytes {
        let vital = &self.l1.sets[1];
        let digest =
            step_verdict_digest(CHAIN_ID, ROLLUP, batch, da(batch), step, pre, valid, post);
        vital_step_proof(valid, post, &vital.l1(), vital.certify(digest, signers))
    }
}

fn da(index: u64) -> B256 {
    B256::repeat_byte(0xd0 + index as u8)
}

#[tokio::test]
async fn batches_commit_in_order_with_bonds_and_finalize_after_their_window() {
    let l1 = L1::start(epoch_sets(1, &[25, 25, 25, 25])).await;
    let game = Game::new(&l1);
    let roots = true_roots(GENESIS_ROOT);
    // Refused: not from the genesis root, out of order, without the bond, by someone else.
    for (call, what) in [
        (
            game.settlement
                .commitBatch(
                    0,
                    B256::ZERO,
                    roots[4],
                    10,
                    da(0),
                    4,
                    3,
                    B256::repeat_byte(0xee),
                )
                .value(U256::from(PROPOSER_BOND)),
            "root gap",
        ),
        (
            game.settlement
                .commitBatch(
                    1,
                    GENESIS_ROOT,
                    roots[4],
                    10,
                    da(0),
                    4,
                    3,
                    B256::repeat_byte(0xee),
                )
                .value(U256::from(PROPOSER_BOND)),
            "out of order",
        ),
        (
            game.settlement
                .commitBatch(
                    0,
                    GENESIS_ROOT,
                    roots[4],
                    10,
                    da(0),
                    4,
                    3,
                    B256::repeat_byte(0xee),
                )
                .value(U256::from(1)),
            "bond too low",
        ),
        (
            game.settlement
                .commitBatch(
                    0,
                    GENESIS_ROOT,
                    roots[4],
                    10,
                    da(0),
                    0,
                    3,
                    B256::repeat_byte(0xee),
                )
                .value(U256::from(PROPOSER_BOND)),
            "no steps",
        ),
        (
            game.settlement
                .commitBatch(
                    0,
                    GENESIS_ROOT,
                    roots[4],
                    10,
                    da(0),
                    4,
                    3,
                    B256::repeat_byte(0xee),
                )
                .value(U256::from(PROPOSER_BOND))
                .from(l1.anvil.addresses()[5]),
            "not the proposer",
        ),
    ] {
        let error = settlement_error(call.call().await.unwrap_err());
        assert!(
            matches!(
                error,
                RollupSettlementErrors::RootGap(_)
                    | RollupSettlementErrors::OutOfOrder(_)
                    | RollupSettlementErrors::BondTooLow(_)
                    | RollupSettlementErrors::NoSteps(_)
                    | RollupSettlementErrors::NotProposer(_)
            ),
            "{what}: {error:?}"
        );
    }
    println!(
        "gas: commitBatch (first): {}",
        game.commit(0, GENESIS_ROOT, roots[4]).await
    );
    let next = true_roots(roots[4]);
    println!(
        "gas: commitBatch (next): {}",
        game.commit(1, roots[4], next[4]).await
    );
    // The batch as committed: its commitment and steps kept, its DA reference in the event.
    let first = game.settlement.batches(0).call().await.unwrap();
    assert_eq!(
        (first.commitment, first.steps, first.proposer),
        (da(0), 4, game.proposer)
    );
    let committed = game
        .settlement
        .BatchCommitted_filter()
        .from_block(0)
        .query()
        .await
        .unwrap();
    let (event, _) = &committed[0];
    assert_eq!(
        (
            event.index,
            event.daPosition,
            event.daCommitment,
            event.windowEnds
        ),
        (0, 3, B256::repeat_byte(0xee), first.windowEnds)
    );
    // Nothing is final inside the window.
    game.settlement.finalize().mined().await;
    assert!(!game.settlement.isFinal(0).call().await.unwrap());
    advance(&l1.provider, WINDOW).await;
    let receipt = game.settlement.finalize().mined().await;
    println!("gas: finalize (2 batches): {}", gas_of(&receipt));
    assert!(game.settlement.isFinal(0).call().await.unwrap());
    assert!(game.settlement.isFinal(1).call().await.unwrap());
    assert_eq!(game.settlement.finalizedCount().call().await.unwrap(), 2);
    // Past its window a batch cannot be challenged; the proposer's bonds come back.
    let error = game
        .settlement
        .challenge(1)
        .value(U256::from(CHALLENGE_BOND))
        .call()
        .await
        .unwrap_err();
    assert!(matches!(
        settlement_error(error),
        RollupSettlementErrors::NotChallengeable(_)
    ));
    assert_eq!(
        game.owed(game.proposer).await,
        U256::from(2 * PROPOSER_BOND)
    );
    let receipt = game.settlement.withdraw().mined().await;
    println!("gas: withdraw: {}", gas_of(&receipt));
    assert_eq!(game.owed(game.proposer).await, U256::ZERO);
}

#[tokio::test]
async fn a_wrong_batch_is_bisected_proven_wrong_by_vital_and_reverted_with_every_later_one() {
    let l1 = L1::start(epoch_sets(1, &[25, 25, 25, 25])).await;
    let game = Game::new(&l1);
    let truth = true_roots(GENESIS_ROOT);
    // The proposer's batch 0 agrees with the truth for two steps, then goes wrong.
    let claimed = [
        truth[0],
        truth[1],
        truth[2],
        B256::repeat_byte(0xba),
        B256::repeat_byte(0xbb),
    ];
    game.commit(0, GENESIS_ROOT, claimed[4]).await;
    game.commit(1, claimed[4], B256::repeat_byte(0x11)).await;
    let challenger = l1.anvil.addresses()[1];
    let bystander = l1.anvil.addresses()[2];
    let receipt = game
        .settlement
        .challenge(0)
        .value(U256::from(CHALLENGE_BOND))
        .from(challenger)
        .mined()
        .await;
    println!("gas: challenge: {}", gas_of(&receipt));
    // A second challenger on the later batch: made moot by the revert.
    game.settlement
        .challenge(1)
        .value(U256::from(CHALLENGE_BOND))
        .from(bystander)
        .mined()
        .await;
    let error = game
        .settlement
        .challenge(0)
        .value(U256::from(CHALLENGE_BOND))
        .from(challenger)
        .call()
        .await
        .unwrap_err();
    assert!(matches!(
        settlement_error(error),
        RollupSettlementErrors::AlreadyChallenging(_)
    ));
    // Bisection: the proposer posts its roots at the midpoints, the challenger judges them.
    let error = game
        .settlement
        .giveVerdict(U256::ZERO, true)
        .from(challenger)
        .call()
        .await
        .unwrap_err();
    assert!(matches!(
        settlement_error(error),
        RollupSettlementErrors::NotYourMove(_)
    ));
    let error = game
        .settlement
        .postRoot(U256::ZERO, 1, claimed[1])
        .call()
        .await
        .unwrap_err();
    assert!(matches!(
        settlement_error(error),
        RollupSettlementErrors::WrongIndex(_)
    ));
    let receipt = game
        .settlement
        .postRoot(U256::ZERO, 2, claimed[2])
        .mined()
        .await;
    println!("gas: postRoot: {}", gas_of(&receipt));
    let receipt = game
        .settlement
        .giveVerdict(U256::ZERO, true)
        .from(challenger)
        .mined()
        .await;
    println!("gas: giveVerdict: {}", gas_of(&receipt));
    game.settlement
        .postRoot(U256::ZERO, 3, claimed[3])
        .mined()
        .await;
    game.settlement
        .giveVerdict(U256::ZERO, false)
        .from(challenger)
        .mined()
        .await;
    let dispute = game.settlement.dispute(U256::ZERO).call().await.unwrap();
    assert_eq!(
        (dispute.lo, dispute.hi, dispute.loRoot, dispute.hiRoot),
        (2, 3, truth[2], claimed[3])
    );
    // The VITAL set's verdict must meet its threshold and be for this chain and step.
    let weak = game.verdict(0, 2, truth[2], true, truth[3], &[0]);
    assert!(
        game.settlement
            .proveStep(U256::ZERO, weak)
            .call()
            .await
            .is_err()
    );
    let elsewhere = {
        let vital = &l1.sets[1];
        let digest =
            step_verdict_digest(CHAIN_ID + 1, ROLLUP, 0, da(0), 2, truth[2], true, truth[3]);
        vital_step_proof(true, truth[3], &vital.l1(), vital.certify(digest, &[0, 1]))
    };
    assert!(
        game.settlement
            .proveStep(U256::ZERO, elsewhere)
            .call()
            .await
            .is_err()
    );
    let other_step = game.verdict(0, 1, truth[2], true, truth[3], &[0, 1]);
    assert!(
        game.settlement
            .proveStep(U256::ZERO, other_step)
            .call()
            .await
            .is_err()
    );
    // Step 2 leads to the true root, not the proposer's: the challenger wins.
    let proof = game.verdict(0, 2, truth[2], true, truth[3], &[0, 1]);
    let receipt = game
        .settlement
        .proveStep(U256::ZERO, proof)
        .from(bystander)
        .mined()
        .await;
    println!(
        "gas: proveStep (VITAL verdict, 2 signers) and revert of 2 batches: {}",
        gas_of(&receipt)
    );
    let decided: Vec<_> = receipt
        .inner
        .logs()
        .iter()
        .filter_map(|log| log.log_decode::<RollupSettlement::ChallengeDecided>().ok())
        .map(|log| log.inner.data)
        .collect();
    assert_eq!(
        decided.len(),
        2,
        "the game, and the later batch's game made moot"
    );
    assert_eq!(
        (
            decided[0].batch,
            decided[0].proposer,
            decided[0].challenger,
            decided[0].winner,
            decided[0].reason,
            decided[0].step
        ),
        (0, game.proposer, challenger, 1, 1, 2)
    );
    assert_eq!(
        (decided[1].batch, decided[1].challenger, decided[1].reason),
        (1, bystander, 2)
    );
    assert!(receipt.inner.logs().iter().any(|log| {
        log.log_decode::<RollupSettlement::BatchesReverted>()
            .is_ok_and(|l| l.inner.data.fromIndex == 0 && l.inner.data.count == 2)
    }));
    // Bonds: the challenger takes its own and the proposer's; the bystander gets its own back;
    // the later batch's proposer bond goes back to the proposer.
    assert_eq!(
        game.owed(challenger).await,
        U256::from(CHALLENGE_BOND + PROPOSER_BOND)
    );
    assert_eq!(game.owed(bystander).await, U256::from(CHALLENGE_BOND));
    assert_eq!(game.owed(game.proposer).await, U256::from(PROPOSER_BOND));
    assert_eq!(game.settlement.nextIndex().call().await.unwrap(), 0);
    // The chain goes on from the genesis root: batch 0 again, the truth this time, and the
    // same challenger may challenge the new batch.
    game.commit(0, GENESIS_ROOT, truth[4]).await;
    game.settlement
        .challenge(0)
        .value(U256::from(CHALLENGE_BOND))
        .from(challenger)
        .call()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_right_batch_survives_its_challenge_and_the_challenger_forfeits_its_bond() {
    let l1 = L1::start(epoch_sets(1, &[25, 25, 25, 25])).await;
    let game = Game::new(&l1);
    let truth = true_roots(GENESIS_ROOT);
    game.commit(0, GENESIS_ROOT, truth[4]).await;
    let challenger = l1.anvil.addresses()[1];
    game.settlement
        .challenge(0)
        .value(U256::from(CHALLENGE_BOND))
        .from(challenger)
        .mined()
        .await;
    game.settlement
        .postRoot(U256::ZERO, 2, truth[2])
        .mined()
        .await;
    game.settlement
        .giveVerdict(U256::ZERO, false)
        .from(challenger)
        .mined()
        .await;
    game.settlement
        .postRoot(U256::ZERO, 1, truth[1])
        .mined()
        .await;
    game.settlement
        .giveVerdict(U256::ZERO, true)
        .from(challenger)
        .mined()
        .await;
    let proof = game.verdict(0, 1, truth[1], true, truth[2], &[0, 1]);
    game.settlement.proveStep(U256::ZERO, proof).mined().await;
    assert_eq!(game.owed(game.proposer).await, U256::from(CHALLENGE_BOND));
    assert_eq!(game.owed(challenger).await, U256::ZERO);
    advance(&l1.provider, WINDOW).await;
    game.settlement.finalize().mined().await;
    assert!(game.settlement.isFinal(0).call().await.unwrap());
}

#[tokio::test]
async fn a_missed_deadline_loses_the_game() {
    let l1 = L1::start(epoch_sets(1, &[25, 25, 25, 25])).await;
    let game = Game::new(&l1);
    let truth = true_roots(GENESIS_ROOT);
    game.commit(0, GENESIS_ROOT, truth[4]).await;
    let challenger = l1.anvil.addresses()[1];
    game.settlement
        .challenge(0)
        .value(U256::from(CHALLENGE_BOND))
        .from(challenger)
        .mined()
        .await;
    // Nobody may call time before the deadline.
    let error = game
        .settlement
        .timeout(U256::ZERO)
        .call()
        .await
        .unwrap_err();
    assert!(matches!(
        settlement_error(error),
        RollupSettlementErrors::DeadlineNotPassed(_)
    ));
    // The proposer does not answer: the challenger wins, the batch is reverted.
    advance(&l1.provider, MOVE_TIMEOUT + 1).await;
    let receipt = game
        .settlement
        .timeout(U256::ZERO)
        .from(l1.anvil.addresses()[7])
        .mined()
        .await;
    println!(
        "gas: timeout (proposer missed its move) and revert: {}",
        gas_of(&receipt)
    );
    assert!(receipt.status());
    assert_eq!(game.settlement.nextIndex().call().await.unwrap(), 0);
    assert_eq!(
        game.owed(challenger).await,
        U256::from(CHALLENGE_BOND + PROPOSER_BOND)
    );
    // A move after the game ended is refused.
    let error = game
        .settlement
        .postRoot(U256::ZERO, 2, truth[2])
        .call()
        .await
        .unwrap_err();
    assert!(matches!(
        settlement_error(error),
        RollupSettlementErrors::UnknownDispute(_)
    ));
}
