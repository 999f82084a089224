//! VITAL's bisection game: an honest challenger narrows a wrong batch to the first wrong
//! transaction in at most ceil(log2 n) rounds; a dishonest challenger can only end at a transaction
//! the proposer got right; missed deadlines lose; refusals change nothing.

use alloy_primitives::{Address, B256, keccak256};
use altlayer_avs::vital::bisection::{Dispute, DisputeError, Move, Party, Reason, Status};
use proptest::prelude::*;

/// The true roots r_0..r_n of a batch of n transactions.
fn truth(n: u64) -> Vec<B256> {
    (0..=n).map(|i| keccak256(i.to_be_bytes())).collect()
}

/// The proposer's roots: true up to transaction `bad` (1-based), wrong from there on.
fn claimed(truth: &[B256], bad: Option<u64>) -> Vec<B256> {
    truth
        .iter()
        .enumerate()
        .map(|(i, r)| match bad {
            Some(k) if i as u64 >= k => keccak256(r),
            _ => *r,
        })
        .collect()
}

const TIMEOUT: u64 = 100;

fn open(n: u64, claim: &[B256], now: u64) -> Dispute {
    Dispute::open(
        7,
        Address::repeat_byte(1),
        Address::repeat_byte(2),
        n,
        claim[0],
        claim[n as usize],
        Some(claim[1..].to_vec()),
        now,
        TIMEOUT,
    )
    .unwrap()
}

/// Plays the game out: the proposer answers with `claim`, the challenger with `verdict`.
fn play(
    dispute: &mut Dispute,
    claim: &[B256],
    verdict: &mut dyn FnMut(u64, B256) -> bool,
) -> Status {
    let mut now = 0;
    loop {
        now += 10;
        match dispute.status() {
            Status::Bisecting {
                turn: Party::Proposer,
                ..
            } => {
                let index = dispute.midpoint();
                dispute
                    .play(
                        now,
                        Party::Proposer,
                        Move::Root {
                            index,
                            root: claim[index as usize],
                        },
                    )
                    .unwrap();
            }
            Status::Bisecting {
                turn: Party::Challenger,
                ..
            } => {
                let index = dispute.midpoint();
                let agree = verdict(index, claim[index as usize]);
                dispute
                    .play(now, Party::Challenger, Move::Verdict { agree })
                    .unwrap();
            }
            other => return other,
        }
    }
}

#[test]
fn a_wrong_root_at_transaction_k_of_100_is_found_at_k_in_at_most_seven_rounds() {
    let n = 100;
    let truth = truth(n);
    for k in [1u64, 2, 37, 64, 99, 100] {
        let claim = claimed(&truth, Some(k));
        let mut dispute = open(n, &claim, 0);
        let status = play(&mut dispute, &claim, &mut |i, root| {
            truth[i as usize] == root
        });
        let Status::OneStep {
            index,
            pre_root,
            claimed_root,
            ..
        } = status
        else {
            panic!("ended in {status:?}");
        };
        assert_eq!(
            (index, pre_root, claimed_root),
            (k - 1, truth[k as usize - 1], claim[k as usize])
        );
        // At most ceil(log2 100) = 7; at least floor(log2 100) = 6 (uneven halves).
        assert!((6..=7).contains(&dispute.rounds()), "{}", dispute.rounds());
        // The one-step proof computes the true root: the challenger wins.
        let decided = dispute.decide(truth[k as usize]).unwrap();
        assert_eq!(
            decided,
            Status::Decided {
                winner: Party::Challenger,
                reason: Reason::OneStepProof
            }
        );
    }
}

#[test]
fn missing_a_deadline_loses() {
    let truth = truth(8);
    let claim = claimed(&truth, Some(3));
    // The proposer never answers.
    let mut dispute = open(8, &claim, 0);
    assert!(matches!(dispute.tick(TIMEOUT), Status::Bisecting { .. }));
    assert_eq!(
        dispute.tick(TIMEOUT + 1),
        Status::Decided {
            winner: Party::Challenger,
            reason: Reason::Timeout
        }
    );
    // The challenger stops answering after one move; a late verdict does not count.
    let mut dispute = open(8, &claim, 0);
    dispute
        .play(
            10,
            Party::Proposer,
            Move::Root {
                index: 4,
                root: claim[4],
            },
        )
        .unwrap();
    assert_eq!(
        dispute.play(
            10 + TIMEOUT + 1,
            Party::Challenger,
            Move::Verdict { agree: false }
        ),
        Err(DisputeError::NotBisecting)
    );
    assert_eq!(
        dispute.status(),
        Status::Decided {
            winner: Party::Proposer,
            reason: Reason::Timeout
        }
    );
}

#[test]
fn a_proposer_that_contradicts_its_posted_roots_loses() {
    let truth = truth(16);
    let claim = claimed(&truth, Some(5));
    let mut dispute = open(16, &claim, 0);
    // It posted claim[8] with the batch; in the game it says the true root instead.
    let status = dispute
        .play(
            1,
            Party::Proposer,
            Move::Root {
                index: 8,
                root: truth[8],
            },
        )
        .unwrap();
    assert_eq!(
        status,
        Status::Decided {
            winner: Party::Challenger,
            reason: Reason::Contradiction
        }
    );
}

#[test]
fn refused_moves_change_nothing() {
    let truth = truth(10);
    let claim = claimed(&truth, Some(2));
    let mut dispute = open(10, &claim, 0);
    let before = dispute.clone();
    assert_eq!(
        dispute.play(1, Party::Challenger, Move::Verdict { agree: true }),
        Err(DisputeError::NotYourMove(Party::Challenger))
    );
    assert_eq!(
        dispute.play(
            1,
            Party::Proposer,
            Move::Root {
                index: 3,
                root: claim[3]
            }
        ),
        Err(DisputeError::WrongIndex {
            expected: 5,
            got: 3
        })
    );
    assert_eq!(
        dispute.play(1, Party::Proposer, Move::Verdict { agree: true }),
        Err(DisputeError::NotYourMove(Party::Proposer))
    );
    assert_eq!(dispute.decide(B256::ZERO), Err(DisputeError::NotBisecting));
    assert_eq!(dispute, before);
    assert_eq!(
        Dispute::open(
            0,
            Address::ZERO,
            Address::ZERO,
            0,
            B256::ZERO,
            B256::ZERO,
            None,
            0,
            1
        ),
        Err(DisputeError::Empty)
    );
    assert_eq!(
        Dispute::open(
            0,
            Address::ZERO,
            Address::ZERO,
            3,
            B256::ZERO,
            B256::ZERO,
            Some(vec![B256::ZERO]),
            0,
            1
        ),
        Err(DisputeError::PostedRoots {
            expected: 3,
            got: 1
        })
    );
}

proptest! {
    /// Any batch size and any first wrong transaction (or none): an honest challenger ends
    /// at exactly the first wrong transaction in ceil(log2 n) rounds; any challenger against
    /// an honest proposer ends at a transaction whose claimed root is true, so the one-step
    /// proof sides with the proposer.
    #[test]
    fn bisection_finds_the_first_wrong_transaction(
        n in 1u64..1_000,
        bad in any::<prop::sample::Index>(),
        lies in any::<u64>(),
    ) {
        let truth = truth(n);
        let ceil = 64 - (n - 1).leading_zeros();
        let floor = 63 - n.leading_zeros();
        let k = bad.index(n as usize) as u64 + 1;
        let claim = claimed(&truth, Some(k));
        let mut dispute = open(n, &claim, 0);
        let status = play(&mut dispute, &claim, &mut |i, root| truth[i as usize] == root);
        let Status::OneStep { index, pre_root, claimed_root, .. } = status else {
            return Err(TestCaseError::fail(format!("ended in {status:?}")));
        };
        prop_assert_eq!((index, pre_root, claimed_root), (k - 1, truth[k as usize - 1], claim[k as usize]));
        prop_assert!(dispute.rounds() >= floor && dispute.rounds() <= ceil, "{} rounds for {}", dispute.rounds(), n);

        // A challenger against a correct batch, answering at random.
        let mut dispute = open(n, &truth, 0);
        let mut bits = lies;
        let status = play(&mut dispute, &truth, &mut |_, _| { bits = bits.rotate_left(1); bits & 1 == 1 });
        if let Status::OneStep { index, claimed_root, .. } = status {
            prop_assert_eq!(claimed_root, truth[index as usize + 1]);
            let decided = dispute.decide(truth[index as usize + 1]).unwrap();
            prop_assert_eq!(decided, Status::Decided { winner: Party::Proposer, reason: Reason::OneStepProof });
        } else {
            prop_assert!(false, "ended in {:?}", status);
        }
    }
}
