//! Every transition of a proposal, the tally's exact boundaries, flash-loan and post-vote
//! transfers, timelock and expiry, failed execution, and refused input changing nothing.

use alloy_primitives::{Address, U256};
use altlayer_core::TokenLedger;
use altlayer_gov::{
    Action, Ballot, Clock, Defeat, GovError, GovParams, Governance, Infraction, ProtocolParams,
    Status, Tally, VoteOption,
};
use altlayer_staking::{AltLedger, FeeSplit, ParameterStore, StakingParams};

const AUTHORITY: Address = Address::repeat_byte(0xaa);
const ESCROW: Address = Address::repeat_byte(0xe5);
const GUARDIAN: Address = Address::repeat_byte(0x9a);
const ALICE: Address = Address::repeat_byte(1);
const BOB: Address = Address::repeat_byte(2);
const CAROL: Address = Address::repeat_byte(3);
const MALLORY: Address = Address::repeat_byte(4);

fn gov_params() -> GovParams {
    GovParams {
        min_deposit: U256::from(100),
        min_initial_deposit: U256::from(40),
        deposit_period_secs: 100,
        voting_delay_blocks: 2,
        voting_period_blocks: 10,
        timelock_secs: 50,
        grace_period_secs: 100,
        ..GovParams::default()
    }
}

/// Alice 600, Bob 300, Carol 100 staked at height 1 (1,000 in all); each has 1,000 liquid;
/// Mallory has 10,000 liquid and nothing staked.
fn setup() -> (AltLedger, Governance) {
    let mut ledger = AltLedger::new(StakingParams::default(), AUTHORITY, 1_337).unwrap();
    for (who, stake) in [(ALICE, 600u64), (BOB, 300), (CAROL, 100)] {
        ledger
            .mint(&AUTHORITY, &who, U256::from(stake + 1_000))
            .unwrap();
        ledger.stake(&who, U256::from(stake)).unwrap();
    }
    ledger
        .mint(&AUTHORITY, &MALLORY, U256::from(10_000))
        .unwrap();
    ledger.advance(1, 10).unwrap();
    let params = ProtocolParams {
        gov: gov_params(),
        ..ProtocolParams::default()
    };
    let gov = Governance::new(params, AUTHORITY, ESCROW, Some(GUARDIAN)).unwrap();
    (ledger, gov)
}

fn split() -> Action {
    Action::SetFeeSplit {
        split: FeeSplit {
            burn_bips: 2_000,
            sequencers_bips: 3_000,
            operators_bips: 4_000,
            treasury_bips: 1_000,
        },
    }
}

fn at(ledger: &mut AltLedger, gov: &mut Governance, height: u64, time: u64) -> Clock {
    if height > ledger.height() {
        ledger.advance(height, time.max(ledger.now())).unwrap();
    }
    let now = Clock::new(height, time);
    gov.advance(ledger, now).unwrap();
    now
}

fn status(gov: &Governance, id: u64) -> Status {
    gov.proposal(id).unwrap().status.clone()
}

/// Alice's fee-split proposal with its full deposit, at height 1: snapshot 3.
fn proposed(ledger: &mut AltLedger, gov: &mut Governance) -> u64 {
    gov.propose(
        ledger,
        ALICE,
        vec![split()],
        U256::from(100),
        Clock::new(1, 10),
    )
    .unwrap()
}

/// A proposal with its full deposit from Alice at height 1: snapshot 3, voting 3..13.
fn active(ledger: &mut AltLedger, gov: &mut Governance) -> u64 {
    let id = proposed(ledger, gov);
    assert_eq!(status(gov, id), Status::Pending);
    at(ledger, gov, 2, 20);
    assert_eq!(status(gov, id), Status::Pending, "before the snapshot");
    at(ledger, gov, 3, 30);
    assert_eq!(status(gov, id), Status::Active);
    id
}

fn vote(ledger: &AltLedger, gov: &mut Governance, who: Address, option: VoteOption, height: u64) {
    gov.vote(
        ledger,
        who,
        0,
        Ballot::single(option),
        Clock::new(height, height * 10),
    )
    .unwrap();
}

#[test]
fn from_deposit_to_execution_every_step() {
    let (mut ledger, mut gov) = setup();
    // Deposit period: 40 from Alice, 60 from Bob reaches the minimum.
    let id = gov
        .propose(
            &mut ledger,
            ALICE,
            vec![split()],
            U256::from(40),
            Clock::new(1, 10),
        )
        .unwrap();
    assert_eq!(status(&gov, id), Status::DepositPeriod { ends: 110 });
    gov.deposit(&mut ledger, BOB, id, U256::from(60), Clock::new(1, 12))
        .unwrap();
    assert_eq!(status(&gov, id), Status::Pending);
    assert_eq!(ledger.balance_of(&ESCROW), U256::from(100));
    assert_eq!(gov.proposal(id).unwrap().snapshot, Some(3));
    at(&mut ledger, &mut gov, 3, 30);
    assert_eq!(status(&gov, id), Status::Active);
    assert_eq!(gov.proposal(id).unwrap().total_power, U256::from(1_000));
    vote(&ledger, &mut gov, ALICE, VoteOption::Yes, 3);
    vote(&ledger, &mut gov, BOB, VoteOption::No, 4);
    at(&mut ledger, &mut gov, 12, 120);
    assert_eq!(status(&gov, id), Status::Active, "the window closes at 13");
    at(&mut ledger, &mut gov, 13, 130);
    assert_eq!(status(&gov, id), Status::Succeeded);
    // Deposits go back when voting ends without a veto.
    assert_eq!(ledger.balance_of(&ESCROW), U256::ZERO);
    assert_eq!(ledger.balance_of(&BOB), U256::from(1_000));
    let eta = gov.queue(id, Clock::new(13, 130)).unwrap();
    assert_eq!(eta, 180);
    assert_eq!(status(&gov, id), Status::Queued { eta: 180 });
    assert_eq!(
        gov.execute(&mut ledger, id, Clock::new(14, 179)),
        Err(GovError::Timelocked { id, eta: 180 })
    );
    assert_eq!(
        gov.execute(&mut ledger, id, Clock::new(14, 180)).unwrap(),
        Status::Executed { effective_epoch: 1 }
    );
    // Nothing changes until the epoch boundary.
    assert_eq!(ledger.params().fee_split, FeeSplit::default());
    assert!(gov.scheduled().is_some());
    assert!(gov.begin_epoch(&mut ledger, &mut []).unwrap());
    let Action::SetFeeSplit { split } = split() else {
        unreachable!()
    };
    assert_eq!(ledger.params().fee_split, split);
    assert_eq!(gov.params().staking.fee_split, split);
    assert!(
        !gov.begin_epoch(&mut ledger, &mut []).unwrap(),
        "nothing left to apply"
    );
    // Executed is terminal.
    assert!(matches!(
        gov.queue(id, Clock::new(15, 200)),
        Err(GovError::WrongState { .. })
    ));
    assert!(matches!(
        gov.cancel(&mut ledger, GUARDIAN, id),
        Err(GovError::WrongState { .. })
    ));
}

#[test]
fn deposit_period_expiry_refunds() {
    let (mut ledger, mut gov) = setup();
    let id = gov
        .propose(
            &mut ledger,
            ALICE,
            vec![split()],
            U256::from(40),
            Clock::new(1, 10),
        )
        .unwrap();
    at(&mut ledger, &mut gov, 5, 109);
    assert!(matches!(status(&gov, id), Status::DepositPeriod { .. }));
    at(&mut ledger, &mut gov, 6, 110);
    assert_eq!(status(&gov, id), Status::Expired);
    assert_eq!(ledger.balance_of(&ALICE), U256::from(1_000));
    assert!(matches!(
        gov.deposit(&mut ledger, BOB, id, U256::from(60), Clock::new(6, 111)),
        Err(GovError::WrongState { .. })
    ));
}

#[test]
fn defeats_no_quorum_rejected_and_vetoed_which_burns() {
    // No quorum: Carol's 100 of 1,000 is below 33.4 %.
    let (mut ledger, mut gov) = setup();
    let id = active(&mut ledger, &mut gov);
    vote(&ledger, &mut gov, CAROL, VoteOption::Yes, 3);
    at(&mut ledger, &mut gov, 13, 130);
    assert_eq!(
        status(&gov, id),
        Status::Defeated {
            reason: Defeat::NoQuorum
        }
    );
    assert_eq!(ledger.balance_of(&ALICE), U256::from(1_000), "refunded");

    // Rejected: 300 No against 100 Yes.
    let (mut ledger, mut gov) = setup();
    let id = active(&mut ledger, &mut gov);
    vote(&ledger, &mut gov, BOB, VoteOption::No, 3);
    vote(&ledger, &mut gov, CAROL, VoteOption::Yes, 3);
    at(&mut ledger, &mut gov, 13, 130);
    assert_eq!(
        status(&gov, id),
        Status::Defeated {
            reason: Defeat::Rejected
        }
    );

    // Vetoed: Bob's 300 NoWithVeto is 33.3 % of 900 voted... not above 33.4 %: passes.
    let (mut ledger, mut gov) = setup();
    let id = active(&mut ledger, &mut gov);
    vote(&ledger, &mut gov, ALICE, VoteOption::Yes, 3);
    vote(&ledger, &mut gov, BOB, VoteOption::NoWithVeto, 3);
    at(&mut ledger, &mut gov, 13, 130);
    assert_eq!(status(&gov, id), Status::Succeeded);

    // ...but with Carol abstaining out, 300 of 400 voted vetoes, and the deposit burns.
    let (mut ledger, mut gov) = setup();
    let id = active(&mut ledger, &mut gov);
    vote(&ledger, &mut gov, CAROL, VoteOption::Yes, 3);
    vote(&ledger, &mut gov, BOB, VoteOption::NoWithVeto, 3);
    let supply = ledger.total_supply();
    at(&mut ledger, &mut gov, 13, 130);
    assert_eq!(
        status(&gov, id),
        Status::Defeated {
            reason: Defeat::Vetoed
        }
    );
    assert_eq!(ledger.total_supply(), supply - U256::from(100));
    assert_eq!(ledger.balance_of(&ESCROW), U256::ZERO);
    assert_eq!(ledger.balance_of(&ALICE), U256::from(900));
    ledger.check_invariants().unwrap();
}

#[test]
fn tally_boundaries_are_exact() {
    let params = GovParams::default();
    let total = U256::from(10_000);
    let tally = |yes: u64, no: u64, abstain: u64, veto: u64| Tally {
        yes: U256::from(yes),
        no: U256::from(no),
        abstain: U256::from(abstain),
        no_with_veto: U256::from(veto),
    };
    // Quorum 33.4 % inclusive: 3,340 of 10,000 is enough, 3,339 is not.
    assert_eq!(tally(3_340, 0, 0, 0).outcome(total, &params), Ok(()));
    assert_eq!(
        tally(3_339, 0, 0, 0).outcome(total, &params),
        Err(Defeat::NoQuorum)
    );
    // Abstentions count toward the quorum only.
    assert_eq!(tally(1, 0, 3_339, 0).outcome(total, &params), Ok(()));
    assert_eq!(
        tally(0, 0, 3_340, 0).outcome(total, &params),
        Err(Defeat::Rejected)
    );
    // Threshold > 50 % strict: 2,501 to 2,499 passes, 2,500 to 2,500 does not.
    assert_eq!(tally(2_501, 2_499, 0, 0).outcome(total, &params), Ok(()));
    assert_eq!(
        tally(2_500, 2_500, 0, 0).outcome(total, &params),
        Err(Defeat::Rejected)
    );
    // NoWithVeto counts as No in the threshold.
    assert_eq!(
        tally(2_500, 1_000, 0, 1_500).outcome(total, &params),
        Err(Defeat::Rejected)
    );
    // Veto > 33.4 % strict of all votes: 3,340 of 10,000 is not a veto, 3,341 is.
    assert_eq!(tally(6_660, 0, 0, 3_340).outcome(total, &params), Ok(()));
    assert_eq!(
        tally(6_659, 0, 0, 3_341).outcome(total, &params),
        Err(Defeat::Vetoed)
    );
    // No stake at the snapshot: no quorum.
    assert_eq!(
        tally(0, 0, 0, 0).outcome(U256::ZERO, &params),
        Err(Defeat::NoQuorum)
    );
}

#[test]
fn flash_stake_counts_zero_and_moving_stake_after_voting_adds_nothing() {
    let (mut ledger, mut gov) = setup();
    // Mallory stakes at height 3, the snapshot height: it counts zero.
    let id = proposed(&mut ledger, &mut gov);
    ledger.advance(3, 30).unwrap();
    ledger.stake(&MALLORY, U256::from(5_000)).unwrap();
    at(&mut ledger, &mut gov, 3, 30);
    assert_eq!(status(&gov, id), Status::Active);
    assert_eq!(
        gov.vote(
            &ledger,
            MALLORY,
            id,
            Ballot::single(VoteOption::NoWithVeto),
            Clock::new(3, 30)
        ),
        Err(GovError::NoVotingPower {
            voter: MALLORY,
            height: 2
        })
    );
    assert_eq!(
        gov.proposal(id).unwrap().total_power,
        U256::from(1_000),
        "not in the quorum either"
    );

    // Bob votes, then unstakes and hands his ALT to Carol, who stakes it: Carol's vote still
    // weighs only her own stake at the snapshot.
    vote(&ledger, &mut gov, BOB, VoteOption::No, 3);
    ledger.advance(4, 40).unwrap();
    ledger.unstake(&BOB, U256::from(300)).unwrap();
    ledger.transfer(&BOB, &CAROL, U256::from(300)).unwrap();
    ledger.stake(&CAROL, U256::from(300)).unwrap();
    vote(&ledger, &mut gov, CAROL, VoteOption::Yes, 4);
    let tally = gov.proposal(id).unwrap().tally;
    assert_eq!((tally.no, tally.yes), (U256::from(300), U256::from(100)));
}

#[test]
fn recasting_replaces_the_ballot_and_split_votes_apportion_exactly() {
    let (mut ledger, mut gov) = setup();
    let id = active(&mut ledger, &mut gov);
    vote(&ledger, &mut gov, ALICE, VoteOption::No, 3);
    vote(&ledger, &mut gov, ALICE, VoteOption::Yes, 4);
    let tally = gov.proposal(id).unwrap().tally;
    assert_eq!((tally.yes, tally.no), (U256::from(600), U256::ZERO));
    // Bob splits his 300 three ways: 1/3 each rounds down to 99.99; the remainder goes to
    // the heaviest (the first of equals), so the parts add up to 300.
    let ballot = Ballot::split(vec![
        (VoteOption::Yes, 3_333),
        (VoteOption::No, 3_333),
        (VoteOption::Abstain, 3_334),
    ])
    .unwrap();
    gov.vote(&ledger, BOB, id, ballot, Clock::new(4, 40))
        .unwrap();
    let tally = gov.proposal(id).unwrap().tally;
    assert_eq!(tally.voted(), U256::from(900));
    assert_eq!(
        (tally.yes, tally.no, tally.abstain),
        (U256::from(699), U256::from(99), U256::from(102))
    );
    assert!(Ballot::split(vec![(VoteOption::Yes, 5_000)]).is_err());
    assert!(Ballot::split(vec![(VoteOption::Yes, 5_000), (VoteOption::Yes, 5_000)]).is_err());
    assert!(Ballot::split(vec![(VoteOption::Yes, 10_000), (VoteOption::No, 0)]).is_err());
}

#[test]
fn timelock_and_grace_period() {
    let (mut ledger, mut gov) = setup();
    let id = active(&mut ledger, &mut gov);
    vote(&ledger, &mut gov, ALICE, VoteOption::Yes, 3);
    at(&mut ledger, &mut gov, 13, 130);
    let eta = gov.queue(id, Clock::new(13, 130)).unwrap();
    // The grace period ends at eta + 100: execution is refused at it, and the proposal
    // expires.
    assert!(matches!(
        gov.execute(&mut ledger, id, Clock::new(14, eta + 100)),
        Err(GovError::WrongState { .. })
    ));
    at(&mut ledger, &mut gov, 14, eta + 99);
    assert!(matches!(status(&gov, id), Status::Queued { .. }));
    at(&mut ledger, &mut gov, 15, eta + 100);
    assert_eq!(status(&gov, id), Status::Expired);
    assert!(gov.scheduled().is_none());
}

#[test]
fn a_failing_execution_has_no_effect() {
    let (mut ledger, mut gov) = setup();
    // The treasury holds 10 ALT; the proposal changes a slash fraction and spends 11.
    ledger.mint(&AUTHORITY, &MALLORY, U256::from(10)).unwrap();
    ledger.pay_treasury(&MALLORY, U256::from(10)).unwrap();
    let actions = vec![
        Action::SetSlashFraction {
            infraction: Infraction::Equivocation,
            bips: 1_000,
        },
        Action::TreasurySpend {
            to: CAROL,
            amount: U256::from(11),
        },
    ];
    let id = gov
        .propose(
            &mut ledger,
            ALICE,
            actions,
            U256::from(100),
            Clock::new(1, 10),
        )
        .unwrap();
    at(&mut ledger, &mut gov, 3, 30);
    vote(&ledger, &mut gov, ALICE, VoteOption::Yes, 3);
    at(&mut ledger, &mut gov, 13, 130);
    let eta = gov.queue(id, Clock::new(13, 130)).unwrap();
    let carol = ledger.balance_of(&CAROL);
    let outcome = gov.execute(&mut ledger, id, Clock::new(14, eta)).unwrap();
    assert!(matches!(outcome, Status::Failed { .. }), "{outcome:?}");
    assert_eq!(ledger.balance_of(&CAROL), carol);
    assert_eq!(ledger.treasury(), U256::from(10));
    assert!(gov.scheduled().is_none());
    assert!(!gov.begin_epoch(&mut ledger, &mut []).unwrap());
    assert_eq!(ledger.params().slash_equivocation_bips, 500);

    // Within the treasury, the spend is paid at execution.
    let id = gov
        .propose(
            &mut ledger,
            ALICE,
            vec![Action::TreasurySpend {
                to: CAROL,
                amount: U256::from(7),
            }],
            U256::from(100),
            Clock::new(14, 200),
        )
        .unwrap();
    at(&mut ledger, &mut gov, 16, 220);
    gov.vote(
        &ledger,
        ALICE,
        id,
        Ballot::single(VoteOption::Yes),
        Clock::new(16, 220),
    )
    .unwrap();
    at(&mut ledger, &mut gov, 26, 300);
    let eta = gov.queue(id, Clock::new(26, 300)).unwrap();
    gov.execute(&mut ledger, id, Clock::new(26, eta)).unwrap();
    assert_eq!(ledger.balance_of(&CAROL), carol + U256::from(7));
    assert_eq!(ledger.treasury(), U256::from(3));
    ledger.check_invariants().unwrap();
}

#[test]
fn cancel_rules() {
    let (mut ledger, mut gov) = setup();
    let id = proposed(&mut ledger, &mut gov);
    assert_eq!(
        gov.cancel(&mut ledger, BOB, id),
        Err(GovError::Unauthorized(BOB, id))
    );
    gov.cancel(&mut ledger, ALICE, id).unwrap();
    assert_eq!(status(&gov, id), Status::Canceled);
    assert_eq!(ledger.balance_of(&ALICE), U256::from(1_000));
    // Once voting started only the guardian can.
    let (mut ledger, mut gov) = setup();
    let id = active(&mut ledger, &mut gov);
    assert_eq!(
        gov.cancel(&mut ledger, ALICE, id),
        Err(GovError::Unauthorized(ALICE, id))
    );
    gov.cancel(&mut ledger, GUARDIAN, id).unwrap();
    assert_eq!(status(&gov, id), Status::Canceled);
    assert!(matches!(
        gov.vote(
            &ledger,
            ALICE,
            id,
            Ballot::single(VoteOption::Yes),
            Clock::new(4, 40)
        ),
        Err(GovError::WrongState { .. })
    ));
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let (mut ledger, mut gov) = setup();
    let before = (ledger.state_hash(), gov.proposals().count());
    assert_eq!(
        gov.propose(
            &mut ledger,
            ALICE,
            vec![],
            U256::from(100),
            Clock::new(1, 10)
        ),
        Err(GovError::NoActions)
    );
    assert!(matches!(
        gov.propose(
            &mut ledger,
            ALICE,
            vec![split()],
            U256::from(39),
            Clock::new(1, 10)
        ),
        Err(GovError::DepositTooLow { .. })
    ));
    // A deposit beyond the proposer's balance.
    assert!(matches!(
        gov.propose(
            &mut ledger,
            ALICE,
            vec![split()],
            U256::from(5_000),
            Clock::new(1, 10)
        ),
        Err(GovError::Ledger(_))
    ));
    // Invalid actions: a split not summing to 100 %, a fraction above 100 %, a set of three
    // sequencers, a strict threshold of 100 %, a zero spend; the index names the action.
    let bad = [
        Action::SetFeeSplit {
            split: FeeSplit {
                burn_bips: 1,
                ..FeeSplit::default()
            },
        },
        Action::SetSlashFraction {
            infraction: Infraction::InvalidVote,
            bips: 10_001,
        },
        Action::SetChallengeWindow { secs: 60 },
        Action::SetGovParams {
            params: GovParams {
                threshold_bips: 10_000,
                ..gov_params()
            },
        },
        Action::TreasurySpend {
            to: CAROL,
            amount: U256::ZERO,
        },
    ];
    for action in bad {
        let result = gov.propose(
            &mut ledger,
            ALICE,
            vec![split(), action.clone()],
            U256::from(100),
            Clock::new(1, 10),
        );
        assert!(
            matches!(
                result,
                Err(GovError::InvalidAction { index: 1, .. } | GovError::ZeroAmount)
            ),
            "{action:?}: {result:?}"
        );
    }
    assert_eq!(
        gov.queue(7, Clock::new(1, 10)),
        Err(GovError::UnknownProposal(7))
    );
    assert_eq!(
        gov.vote(
            &ledger,
            ALICE,
            7,
            Ballot::single(VoteOption::Yes),
            Clock::new(1, 10)
        ),
        Err(GovError::UnknownProposal(7))
    );
    assert_eq!((ledger.state_hash(), gov.proposals().count()), before);

    // Votes outside the window: before the snapshot, and at its end.
    let id = proposed(&mut ledger, &mut gov);
    assert!(matches!(
        gov.vote(
            &ledger,
            BOB,
            id,
            Ballot::single(VoteOption::Yes),
            Clock::new(2, 20)
        ),
        Err(GovError::WrongState { .. })
    ));
    at(&mut ledger, &mut gov, 3, 30);
    ledger.advance(13, 130).unwrap();
    assert!(matches!(
        gov.vote(
            &ledger,
            BOB,
            id,
            Ballot::single(VoteOption::Yes),
            Clock::new(13, 130)
        ),
        Err(GovError::WrongState { .. })
    ));
    assert_eq!(gov.proposal(id).unwrap().tally.voted(), U256::ZERO);
    // Queue before it succeeded; a zero deposit.
    assert!(matches!(
        gov.queue(id, Clock::new(13, 130)),
        Err(GovError::WrongState { .. })
    ));
    assert_eq!(
        gov.deposit(&mut ledger, BOB, id, U256::ZERO, Clock::new(13, 130)),
        Err(GovError::ZeroAmount)
    );
}

#[test]
fn a_proposal_keeps_the_rules_it_was_created_with() {
    let (mut ledger, mut gov) = setup();
    // First proposal: quorum to 90 %.
    let strict = GovParams {
        quorum_bips: 9_000,
        ..gov_params()
    };
    let first = gov
        .propose(
            &mut ledger,
            ALICE,
            vec![Action::SetGovParams { params: strict }],
            U256::from(100),
            Clock::new(1, 10),
        )
        .unwrap();
    // Second proposal, created under the old quorum.
    let second = gov
        .propose(
            &mut ledger,
            BOB,
            vec![split()],
            U256::from(100),
            Clock::new(1, 10),
        )
        .unwrap();
    at(&mut ledger, &mut gov, 3, 30);
    for id in [first, second] {
        gov.vote(
            &ledger,
            ALICE,
            id,
            Ballot::single(VoteOption::Yes),
            Clock::new(3, 30),
        )
        .unwrap();
    }
    at(&mut ledger, &mut gov, 13, 130);
    let eta = gov.queue(first, Clock::new(13, 130)).unwrap();
    gov.execute(&mut ledger, first, Clock::new(13, eta))
        .unwrap();
    gov.begin_epoch(&mut ledger, &mut []).unwrap();
    assert_eq!(gov.params().gov.quorum_bips, 9_000);
    // The second passed with 60 % turnout, under the 33.4 % quorum it was created with.
    assert_eq!(status(&gov, second), Status::Succeeded);
    assert_eq!(gov.proposal(second).unwrap().params.quorum_bips, 3_340);
}

#[test]
fn a_jump_in_time_moves_a_proposal_through_every_state_it_passes() {
    let (mut ledger, mut gov) = setup();
    let id = proposed(&mut ledger, &mut gov);
    ledger.advance(20, 200).unwrap();
    let changes = gov.advance(&mut ledger, Clock::new(20, 200)).unwrap();
    assert_eq!(
        changes,
        vec![
            (id, Status::Active),
            (
                id,
                Status::Defeated {
                    reason: Defeat::NoQuorum
                }
            )
        ]
    );
    assert_eq!(ledger.balance_of(&ALICE), U256::from(1_000));
}
