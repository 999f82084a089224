//! The composition root with core's defaults: a rollup driven from a plain loop against the
//! in-process DA and settlement, honest and with a sequencer whose state is corrupted.

use alloy_primitives::{Address, U256};
use altlayer_core::{
    RollupConfig, Sequencer,
    dev::{DevAccount, dev_state_transition},
    rollup::{DefaultRollup, Input, Rollup, RollupEvent, RollupSettings},
    sequencer::SubmitError,
    settlement::bisection::{Party, Reason},
    transaction::{RecoveryBackend, TxError, recover},
    verifier::BatchCheck,
};

const CHAIN: u64 = 1_337;
const ACCOUNTS: u64 = 8;

fn rollup(blocks_per_batch: u64, challenge_window_secs: u64) -> DefaultRollup {
    let genesis = dev_state_transition(RollupConfig::default(), ACCOUNTS);
    let settings = RollupSettings {
        blocks_per_batch,
        challenge_window_secs,
        move_timeout_secs: 0,
        ..Default::default()
    };
    Rollup::builder(genesis, settings).build().unwrap()
}

/// Submits one transfer from every account (nonce `round`), then [`tick`]s.
fn round(rollup: &mut DefaultRollup, round: u64) -> Vec<RollupEvent> {
    for (i, account) in DevAccount::many(ACCOUNTS).iter().enumerate() {
        let to = Address::with_last_byte(0x80 + i as u8);
        let tx = account.transfer(CHAIN, round, to, U256::from(1_000));
        rollup
            .submit(recover(tx, RecoveryBackend::Libsecp256k1).unwrap())
            .unwrap();
    }
    tick(rollup, round)
}

/// Ticks at second `second + 1` and carries out every effect until nothing is left; returns
/// the events.
fn tick(rollup: &mut DefaultRollup, second: u64) -> Vec<RollupEvent> {
    rollup
        .handle_locally(Input::Tick {
            now_ms: (second + 1) * 1_000,
        })
        .unwrap()
}

#[test]
fn an_honest_rollup_batches_verifies_and_finalizes_every_block() {
    let mut rollup = rollup(2, 0);
    let mut events = Vec::new();
    for r in 0..6 {
        events.extend(round(&mut rollup, r));
    }
    let blocks = events
        .iter()
        .filter(|e| matches!(e, RollupEvent::Block { built, .. } if built.block.transactions.len() == ACCOUNTS as usize))
        .count();
    assert_eq!(blocks, 6);
    let valid = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                RollupEvent::BatchChecked {
                    check: BatchCheck::Valid,
                    ..
                }
            )
        })
        .count();
    assert_eq!(valid, 3, "{events:#?}");
    let finalized = events.iter().rev().find_map(|e| match e {
        RollupEvent::Finalized { height } => Some(*height),
        _ => None,
    });
    assert_eq!(finalized, Some(6));
    assert!(rollup.is_settled());
    assert_eq!(rollup.settlement().final_height(), Some(6));
}

#[test]
fn a_corrupted_sequencer_is_caught_reverted_and_the_chain_goes_on_from_the_last_valid_block() {
    // A window of 5 s: the verifier reads each batch back at once, well within it.
    let mut rollup = rollup(2, 5);
    let mut events = Vec::new();
    for r in 0..3 {
        if r == 3 - 1 {
            // Before block 3 (the first of batch 1) the sequencer mints itself a fortune.
            rollup
                .sequencer_mut()
                .state_transition_mut()
                .corrupt_state(|state| {
                    let thief = Address::repeat_byte(0x5e);
                    state
                        .set_balance(
                            thief,
                            state.balance(&thief).unwrap() + U256::from(10u64).pow(U256::from(21)),
                        )
                        .unwrap();
                });
        }
        events.extend(round(&mut rollup, r));
    }
    // Block 4 completes batch 1 (blocks 3 and 4): it is checked, challenged and decided.
    for r in 3..6 {
        events.extend(round(&mut rollup, r));
    }
    let wrong = events.iter().find(|e| {
        matches!(
            e,
            RollupEvent::BatchChecked {
                index: 1,
                check: BatchCheck::Wrong { .. },
                located: Some((3, Some(0)))
            }
        )
    });
    assert!(wrong.is_some(), "{events:#?}");
    let decided = events
        .iter()
        .find_map(|e| match e {
            RollupEvent::Decided(resolution) => Some(resolution),
            _ => None,
        })
        .unwrap_or_else(|| {
            panic!(
                "the challenge is decided: {:#?}",
                events
                    .iter()
                    .filter(|e| !matches!(e, RollupEvent::Block { .. }))
                    .collect::<Vec<_>>()
            )
        });
    assert_eq!(decided.decision.winner, Party::Challenger);
    assert_eq!(decided.decision.reason, Reason::OneStepProof);
    assert_eq!(decided.decision.height, 3);
    assert_eq!(decided.reverted_from, Some(1));
    let rewound = events
        .iter()
        .find_map(|e| match e {
            RollupEvent::Rewound {
                height,
                kept,
                requeued,
                ..
            } => Some((*height, *kept, *requeued)),
            _ => None,
        })
        .expect("the sequencer rewinds");
    // Nothing of batch 1 was valid: back to block 2, every reverted transaction requeued.
    assert_eq!(rewound.0, 2);
    assert_eq!(rewound.1, 0);
    assert!(rewound.2 >= ACCOUNTS as usize, "{rewound:?}");
    // The chain goes on; every reverted transaction executes again, exactly once.
    for r in 6..8 {
        events.extend(round(&mut rollup, r));
    }
    // Then time passes with no new transactions until everything is final.
    let target = rollup.head().height;
    let mut now = 9;
    while rollup.settlement().final_height() < Some(target) {
        events.extend(tick(&mut rollup, now));
        now += 1;
        assert!(now < 40, "the chain does not finalize");
    }
    let settle = 8;
    // Each account sent one transfer per round: its nonce is the number of rounds.
    let state = rollup.sequencer().state_transition().state();
    for account in DevAccount::many(ACCOUNTS) {
        assert_eq!(state.nonce(&account.address).unwrap(), settle);
    }
    for i in 0..ACCOUNTS {
        let to = Address::with_last_byte(0x80 + i as u8);
        assert_eq!(state.balance(&to).unwrap(), U256::from(1_000 * settle));
    }
    // The fortune went with the revert.
    assert!(
        state.balance(&Address::repeat_byte(0x5e)).unwrap() < U256::from(10u64).pow(U256::from(21))
    );
    // After the rewind every batch re-executes right.
    let after = events
        .iter()
        .position(|e| matches!(e, RollupEvent::Rewound { .. }))
        .unwrap();
    assert!(!events[after..].iter().any(
        |e| matches!(e, RollupEvent::BatchChecked { check, .. } if *check != BatchCheck::Valid)
    ));
}

#[test]
fn a_da_outage_delays_batches_and_loses_none() {
    let mut rollup = rollup(1, 0);
    rollup
        .da()
        .set_fault(altlayer_core::da::DaFault::Unavailable);
    let mut events = Vec::new();
    for r in 0..3 {
        events.extend(round(&mut rollup, r));
    }
    let warnings = events
        .iter()
        .filter(|e| matches!(e, RollupEvent::Warning(w) if w.contains("publishing batch 0")))
        .count();
    assert!(warnings >= 2, "{events:#?}");
    assert_eq!(rollup.settlement().final_height(), None);
    rollup.da().set_fault(altlayer_core::da::DaFault::None);
    for r in 3..6 {
        events.extend(tick(&mut rollup, r));
    }
    // Every block went out, in order, once DA was back.
    let published: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            RollupEvent::BatchPublished { index, .. } => Some(*index),
            _ => None,
        })
        .collect();
    assert_eq!(published[..3], [0, 1, 2], "{published:?}");
    assert!(rollup.settlement().final_height() >= Some(3));
}

#[test]
fn an_ended_rollup_posts_its_last_batch_and_is_final() {
    let mut rollup = rollup(3, 0);
    for r in 0..4 {
        round(&mut rollup, r);
    }
    assert_eq!(rollup.head().height, 4);
    rollup.end();
    assert!(rollup.is_ending() && !rollup.is_ended());
    let alice = DevAccount::new(0);
    let late = alice.transfer(CHAIN, 4, Address::ZERO, U256::from(1));
    assert_eq!(
        rollup.submit(recover(late, RecoveryBackend::Libsecp256k1).unwrap()),
        Err(altlayer_core::sequencer::SubmitError::Ended)
    );
    let mut second = 4;
    while !rollup.is_ended() {
        tick(&mut rollup, second);
        second += 1;
        assert!(second < 10, "the rollup does not end");
    }
    // No block after the end; the last, partial batch (block 4) is final on L1.
    assert_eq!(rollup.head().height, 4);
    assert_eq!(rollup.settlement().final_height(), Some(4));
}

#[test]
fn the_pool_admits_what_the_head_state_allows_and_counts_pending_nonces() {
    let mut rollup = rollup(2, 10);
    round(&mut rollup, 0);
    let account = &DevAccount::many(ACCOUNTS)[0];
    let to = Address::repeat_byte(0x55);
    let sign = |nonce, value| {
        recover(
            account.transfer(CHAIN, nonce, to, value),
            RecoveryBackend::Libsecp256k1,
        )
        .unwrap()
    };
    // Nonce 0 is used: a replay is refused at the door, with the account's next nonce.
    assert!(matches!(
        rollup.submit(sign(0, U256::from(1))),
        Err(SubmitError::Invalid(TxError::NonceTooLow {
            expected: 1,
            got: 0
        }))
    ));
    // More than the balance: refused, naming the cost.
    let balance = rollup
        .state_transition()
        .state()
        .balance(&account.address)
        .unwrap();
    assert!(matches!(
        rollup.submit(sign(1, balance)),
        Err(SubmitError::Invalid(TxError::InsufficientFunds { .. }))
    ));
    assert_eq!(rollup.pool_nonce(&account.address).unwrap(), 1);
    // A nonce ahead waits for the one before it; the pending nonce stops at the gap.
    let ahead = rollup.submit(sign(2, U256::from(1))).unwrap();
    assert_eq!(rollup.pool_nonce(&account.address).unwrap(), 1);
    let next = rollup.submit(sign(1, U256::from(1))).unwrap();
    assert_eq!(rollup.pool_nonce(&account.address).unwrap(), 3);
    assert_eq!(rollup.pooled(&ahead).unwrap().signer(), account.address);
    // Both go into the next block, in nonce order, and leave the pool.
    let events = tick(&mut rollup, 1);
    let block = events
        .iter()
        .find_map(|e| match e {
            RollupEvent::Block { built, .. } => Some(built),
            _ => None,
        })
        .unwrap();
    let hashes: Vec<_> = block
        .block
        .transactions
        .iter()
        .map(|t| *t.tx_hash())
        .collect();
    assert_eq!(hashes, vec![next, ahead]);
    assert_eq!(block.senders, vec![account.address; 2]);
    assert!(rollup.pooled(&ahead).is_none());
    assert_eq!(rollup.pool_nonce(&account.address).unwrap(), 3);
}
