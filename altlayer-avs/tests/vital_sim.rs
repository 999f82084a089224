//! VITAL end to end on the deterministic simulator, several seeds each: an L1 (settlement,
//! court, ALT ledger), a proposer posting 100-transaction batches, and VITAL operators
//! re-executing them, disputing by bisection and deciding by one-step proofs.

use alloy_consensus::{TxEnvelope, transaction::Recovered};
use alloy_primitives::TxKind;
use alloy_primitives::{Address, U256};
use altlayer_avs::{
    restaked::{DEV_AUTHORITY, dev_ledger},
    sim::{NetworkConfig, Simulator},
    vital::{
        Accounts,
        bisection::{Party, Reason},
        operator::{BatchCheck, BatchProposer, Conduct, Lie, VitalOperator},
        process::{L1Node, OperatorNode, ProposerConfig, ProposerNode, VitalEvent, VitalProcess},
    },
};
use altlayer_core::{
    EvmStateTransition, RollupConfig, RollupId, TokenLedger,
    dev::{DevAccount, dev_state, store_call, store_init_code},
    execution::DEFAULT_INITIAL_BASE_FEE,
    settlement::{LocalSettlement, SettlementConfig},
    transaction::{RecoveryBackend, recover},
    verifier::Verifier,
};
use altlayer_staking::{AltLedger, OperatorKey, OperatorSetId, Service, StakingParams};

const CHAIN: u64 = 1_337;
const AUTHORITY: Address = DEV_AUTHORITY;
const ESCROW: Address = Address::repeat_byte(0xe5);
const PROPOSER: Address = Address::repeat_byte(0x50);
const BOND: u64 = 1_000;
const STAKE: u64 = 100_000;
const WINDOW_SECS: u64 = 60;
const BATCHES: usize = 3;
const TXS_PER_BATCH: usize = 100;

fn squad() -> OperatorSetId {
    OperatorSetId::new(Service::Squad, RollupId(1))
}

fn operator_address(i: usize) -> Address {
    Address::with_last_byte(0x10 + i as u8)
}

/// 300 transactions: a store contract deployed, then transfers among 30 accounts with a
/// store call (32 slot writes) every tenth transaction.
fn load() -> Vec<Recovered<TxEnvelope>> {
    let accounts = DevAccount::many(30);
    let store = accounts[0].address.create(0);
    let mut nonces = [0u64; 30];
    let mut txs = Vec::new();
    for i in 0..BATCHES * TXS_PER_BATCH {
        let who = i % 30;
        let nonce = nonces[who];
        nonces[who] += 1;
        let tx = if i == 0 {
            accounts[0].call(CHAIN, nonce, TxKind::Create, store_init_code(), 500_000)
        } else if i % 10 == 5 {
            let input = store_call(U256::from(i), U256::from(i as u64 + 1));
            accounts[who].call(CHAIN, nonce, TxKind::Call(store), input, 1_000_000)
        } else {
            accounts[who].transfer(
                CHAIN,
                nonce,
                accounts[(who + 7) % 30].address,
                U256::from(1_000u64 + i as u64),
            )
        };
        txs.push(recover(tx, RecoveryBackend::Libsecp256k1).unwrap());
    }
    txs
}

fn genesis() -> EvmStateTransition {
    EvmStateTransition::new(
        RollupConfig::default(),
        dev_state(30),
        0,
        DEFAULT_INITIAL_BASE_FEE,
    )
}

/// The chain that ended final is the proposer's true state, and it holds every transaction
/// of the load exactly once (each of the 30 senders at nonce 10): reverted transactions were
/// re-executed, none lost or doubled.
fn assert_true_and_complete(sim: &Simulator<VitalProcess>, events: &[VitalEvent], seed: u64) {
    let proposer = sim.nodes()[1]
        .as_ref()
        .and_then(VitalProcess::proposer)
        .unwrap();
    let state = proposer.proposer().state();
    assert_eq!(
        final_root(events),
        Some(state.state_root()),
        "seed {seed}: final root is the true one"
    );
    for account in DevAccount::many(30) {
        assert_eq!(
            state.state().nonce(&account.address).unwrap(),
            10,
            "seed {seed}"
        );
    }
}

struct Setup {
    operators: Vec<Conduct>,
    lies: Vec<Lie>,
    silent_proposer: bool,
}

fn ledger(operators: usize) -> AltLedger {
    let mut ledger = dev_ledger(StakingParams::default(), CHAIN, &[squad()]).unwrap();
    ledger
        .register_operator(PROPOSER, OperatorKey::EcdsaOnly, 0)
        .unwrap();
    let delegator = Address::repeat_byte(0xde);
    ledger
        .mint(&AUTHORITY, &delegator, U256::from(STAKE))
        .unwrap();
    ledger.stake(&delegator, U256::from(STAKE)).unwrap();
    ledger
        .delegate(&delegator, &PROPOSER, U256::from(STAKE))
        .unwrap();
    ledger.join_set(&PROPOSER, squad()).unwrap();
    for i in 0..operators {
        ledger
            .mint(&AUTHORITY, &operator_address(i), U256::from(10 * BOND))
            .unwrap();
    }
    ledger
}

fn simulator(seed: u64, setup: &Setup) -> Simulator<VitalProcess> {
    let genesis = genesis();
    let config = genesis.config().clone();
    let settlement = LocalSettlement::new(SettlementConfig {
        challenge_window: WINDOW_SECS,
        min_bond: U256::from(BOND),
        move_timeout: 5,
        ..SettlementConfig::new(config, genesis.state_root())
    });
    let accounts = Accounts {
        authority: AUTHORITY,
        escrow: ESCROW,
        proposers: squad(),
    };
    let mut addresses = vec![AUTHORITY, PROPOSER];
    addresses.extend((0..setup.operators.len()).map(operator_address));
    let l1 = L1Node::new(
        settlement,
        ledger(setup.operators.len()),
        accounts,
        addresses,
        500,
    );
    let mut proposer = BatchProposer::new(PROPOSER, genesis.clone());
    proposer.submit(load());
    for lie in &setup.lies {
        proposer.lie(*lie);
    }
    if setup.silent_proposer {
        proposer.go_silent();
    }
    let mut nodes = vec![
        VitalProcess::L1(Box::new(l1)),
        VitalProcess::Proposer(Box::new(ProposerNode::new(
            proposer,
            ProposerConfig {
                blocks_per_batch: 4,
                txs_per_block: 25,
                interval_ms: 2_000,
            },
        ))),
    ];
    for (i, conduct) in setup.operators.iter().enumerate() {
        let operator = VitalOperator::new(
            operator_address(i),
            U256::from(BOND),
            *conduct,
            genesis.clone(),
            0,
        );
        nodes.push(VitalProcess::Operator(Box::new(OperatorNode::new(
            operator,
        ))));
    }
    Simulator::new(seed, NetworkConfig::default(), nodes)
}

/// Runs until every batch of the load is final (or 20 virtual minutes pass).
fn run(sim: &mut Simulator<VitalProcess>) -> Vec<VitalEvent> {
    let deadline = 20 * 60 * 1_000;
    while sim.now() < deadline {
        if !sim.step() {
            break;
        }
        let queued = sim.nodes()[1]
            .as_ref()
            .and_then(VitalProcess::proposer)
            .map(|p| p.proposer().queued());
        let finals = sim
            .events()
            .iter()
            .filter(|(_, _, e)| matches!(e, VitalEvent::Final { .. }))
            .count();
        let live_final = final_index(sim).map_or(0, |i| i + 1);
        if queued == Some(0) && live_final as usize >= BATCHES && finals > 0 {
            break;
        }
    }
    sim.events().iter().map(|(_, _, e)| e.clone()).collect()
}

/// The highest batch reported final since the last revert.
fn final_index(sim: &Simulator<VitalProcess>) -> Option<u64> {
    let mut last = None;
    for (_, _, event) in sim.events() {
        match event {
            VitalEvent::Final { index, .. } => last = Some(*index),
            VitalEvent::Enforced(e) if e.reverted_from.is_some() => {
                last = e.reverted_from.and_then(|from| from.checked_sub(1));
            }
            _ => {}
        }
    }
    last
}

fn l1(sim: &Simulator<VitalProcess>) -> &L1Node {
    sim.nodes()[0].as_ref().and_then(VitalProcess::l1).unwrap()
}

fn enforced(events: &[VitalEvent]) -> Vec<altlayer_avs::vital::Enforcement> {
    events
        .iter()
        .filter_map(|e| match e {
            VitalEvent::Enforced(e) => Some((**e).clone()),
            _ => None,
        })
        .collect()
}

fn final_root(events: &[VitalEvent]) -> Option<alloy_primitives::B256> {
    events.iter().rev().find_map(|e| match e {
        VitalEvent::Final {
            index,
            post_state_root,
        } if *index as usize == BATCHES - 1 => Some(*post_state_root),
        _ => None,
    })
}

const SEEDS: [u64; 3] = [1, 2, 3];

#[test]
fn honest_batches_are_never_challenged_successfully_and_a_griefer_loses_its_bonds() {
    for seed in SEEDS {
        let setup = Setup {
            operators: vec![Conduct::Honest, Conduct::Honest, Conduct::Griefer(seed)],
            lies: vec![],
            silent_proposer: false,
        };
        let mut sim = simulator(seed, &setup);
        let events = run(&mut sim);
        let decisions = enforced(&events);
        assert_eq!(
            decisions.len(),
            BATCHES,
            "seed {seed}: the griefer challenges every batch"
        );
        for e in &decisions {
            assert_eq!(e.decision.winner, Party::Proposer, "seed {seed}: {e:?}");
            assert_eq!(e.decision.challenger, operator_address(2));
            assert_eq!(e.forfeited, U256::from(BOND));
            assert!(e.reverted_from.is_none());
        }
        for (_, _, event) in sim.events() {
            if let VitalEvent::Checked { check, .. } = event {
                assert_eq!(*check, BatchCheck::Valid, "seed {seed}");
            }
        }
        assert_true_and_complete(&sim, &events, seed);
        let ledger = l1(&sim).ledger();
        assert_eq!(
            ledger.balance_of(&operator_address(2)),
            U256::from(10 * BOND - BATCHES as u64 * BOND)
        );
        assert_eq!(
            ledger.balance_of(&operator_address(0)),
            U256::from(10 * BOND)
        );
        assert_eq!(ledger.balance_of(&ESCROW), U256::ZERO);
        ledger.check_invariants().unwrap();
    }
}

#[test]
fn a_wrong_root_at_transaction_k_is_found_at_k_proven_reverted_slashed_and_reexecuted() {
    for (seed, k) in SEEDS.into_iter().zip([1usize, 37, 100]) {
        let setup = Setup {
            operators: vec![Conduct::Honest],
            lies: vec![Lie {
                batch: 1,
                step: k - 1,
            }],
            silent_proposer: false,
        };
        let mut sim = simulator(seed, &setup);
        let events = run(&mut sim);
        let decisions = enforced(&events);
        assert_eq!(decisions.len(), 1, "seed {seed}: {decisions:?}");
        let e = &decisions[0];
        assert_eq!(
            (e.decision.winner, e.decision.reason),
            (Party::Challenger, Reason::OneStepProof)
        );
        assert_eq!(e.decision.batch, 1);
        assert_eq!(
            e.decision.step,
            Some(k as u64 - 1),
            "seed {seed}: found at transaction k"
        );
        assert_eq!(e.reverted_from, Some(1));
        let slash = e.slash.as_ref().expect("the proposer is slashed");
        assert_eq!(slash.operator, PROPOSER);
        assert_eq!(
            slash.slashed,
            U256::from(STAKE),
            "invalid state root: the whole stake"
        );
        let ledger = l1(&sim).ledger();
        assert_eq!(
            ledger.balance_of(&operator_address(0)),
            U256::from(10 * BOND) + slash.reward,
            "bond back and the submitter's share"
        );
        // The proposer rewound to the block before the blamed one (the blocks before it in
        // the batch are kept as they were) and re-executed the rest: the chain ends where an
        // honest one does.
        assert_true_and_complete(&sim, &events, seed);
        let proposer = sim.nodes()[1]
            .as_ref()
            .and_then(VitalProcess::proposer)
            .unwrap();
        let kept = (k - 1) / 25 * 25;
        assert!(
            proposer.proposer().reexecuted() >= (TXS_PER_BATCH - kept) as u64,
            "seed {seed}, k {k}: {} re-executed",
            proposer.proposer().reexecuted()
        );
        ledger.check_invariants().unwrap();
    }
}

#[test]
fn a_party_that_stops_answering_loses() {
    for seed in SEEDS {
        // A proposer that lies and then goes quiet.
        let setup = Setup {
            operators: vec![Conduct::Honest],
            lies: vec![Lie { batch: 0, step: 50 }],
            silent_proposer: true,
        };
        let mut sim = simulator(seed, &setup);
        let decisions = enforced(&run(&mut sim));
        assert_eq!(
            (decisions[0].decision.winner, decisions[0].decision.reason),
            (Party::Challenger, Reason::Timeout),
            "seed {seed}"
        );
        assert!(decisions[0].slash.is_some());

        // A challenger that opens a game and goes quiet: it loses its bond, and with nobody
        // else watching the (wrong) batch stands.
        let setup = Setup {
            operators: vec![Conduct::Silent],
            lies: vec![Lie { batch: 0, step: 50 }],
            silent_proposer: false,
        };
        let mut sim = simulator(seed, &setup);
        let decisions = enforced(&run(&mut sim));
        assert_eq!(
            (decisions[0].decision.winner, decisions[0].decision.reason),
            (Party::Proposer, Reason::Timeout),
            "seed {seed}"
        );
        assert_eq!(decisions[0].forfeited, U256::from(BOND));
    }
}

#[test]
fn several_challengers_on_one_batch() {
    for seed in SEEDS {
        let setup = Setup {
            operators: vec![
                Conduct::Honest,
                Conduct::Honest,
                Conduct::Honest,
                Conduct::Griefer(seed),
            ],
            lies: vec![Lie { batch: 0, step: 10 }],
            silent_proposer: false,
        };
        let mut sim = simulator(seed, &setup);
        let events = run(&mut sim);
        let decisions = enforced(&events);
        let won: Vec<_> = decisions
            .iter()
            .filter(|e| e.decision.winner == Party::Challenger)
            .collect();
        assert!(!won.is_empty(), "seed {seed}");
        let first = won[0];
        assert_eq!(first.decision.batch, 0);
        // The other honest challengers' games were still running: dismissed, bonds returned.
        assert!(first.dismissed.len() >= 2, "seed {seed}: {first:?}");
        // Every other game on the batch (and later ones) was dismissed with its bond back,
        // unless it had already been decided.
        let opened = events
            .iter()
            .filter(|e| matches!(e, VitalEvent::Opened { batch: 0, .. }))
            .count();
        assert!(opened >= 3, "seed {seed}: {opened} challengers");
        let ledger = l1(&sim).ledger();
        assert_eq!(
            ledger.balance_of(&ESCROW),
            U256::ZERO,
            "seed {seed}: no bond left in escrow"
        );
        let slashed = won.iter().filter(|e| e.slash.is_some()).count();
        assert_eq!(
            slashed,
            won.len(),
            "each revert slashes for its own challenge"
        );
        for i in 0..3 {
            assert!(
                ledger.balance_of(&operator_address(i)) >= U256::from(10 * BOND),
                "seed {seed}: honest operator {i} lost"
            );
        }
        ledger.check_invariants().unwrap();
    }
}

#[test]
fn two_consecutive_bad_batches_are_each_caught() {
    for seed in SEEDS {
        let setup = Setup {
            operators: vec![Conduct::Honest, Conduct::Honest],
            lies: vec![Lie { batch: 1, step: 3 }, Lie { batch: 2, step: 90 }],
            silent_proposer: false,
        };
        let mut sim = simulator(seed, &setup);
        let events = run(&mut sim);
        let reverts: Vec<u64> = enforced(&events)
            .iter()
            .filter_map(|e| e.reverted_from)
            .collect();
        assert_eq!(reverts, vec![1, 2], "seed {seed}");
        assert_true_and_complete(&sim, &events, seed);
        l1(&sim).ledger().check_invariants().unwrap();
    }
}

#[test]
fn a_bad_witness_is_refused_and_decides_nothing() {
    for seed in SEEDS {
        let setup = Setup {
            operators: vec![Conduct::SloppyProver],
            lies: vec![Lie { batch: 0, step: 42 }],
            silent_proposer: false,
        };
        let mut sim = simulator(seed, &setup);
        let events = run(&mut sim);
        let refused = events
            .iter()
            .filter(|e| matches!(e, VitalEvent::Refused(reason) if reason.contains("one-step proof refused")))
            .count();
        assert_eq!(refused, 1, "seed {seed}: {events:?}");
        let decisions = enforced(&events);
        assert_eq!(
            (
                decisions[0].decision.winner,
                decisions[0].decision.reason,
                decisions[0].decision.step
            ),
            (Party::Challenger, Reason::OneStepProof, Some(42))
        );
    }
}

#[test]
fn a_confirmed_alert_opens_a_challenge_unless_reexecution_found_the_batch_right() {
    use altlayer_avs::vital::operator::Action;
    let mut proposer = BatchProposer::new(PROPOSER, genesis());
    proposer.submit(load().into_iter().take(40));
    proposer.lie(Lie { batch: 1, step: 3 });
    let good = proposer.build_batch(2, 10, 1).unwrap();
    let bad = proposer.build_batch(2, 10, 2).unwrap();
    let mut operator = VitalOperator::new(
        operator_address(0),
        U256::from(BOND),
        Conduct::Honest,
        genesis(),
        0,
    );
    // An alert arriving before the operator has re-executed the batch: challenge.
    assert_eq!(
        operator.on_alert(1),
        vec![Action::Challenge {
            batch: 1,
            bond: U256::from(BOND)
        }]
    );
    assert_eq!(operator.on_batch(&good).0, BatchCheck::Valid);
    // Its own check of batch 1 finds the lie, but it already asked: no second challenge.
    let (check, actions) = operator.on_batch(&bad);
    assert_eq!(
        check,
        BatchCheck::Wrong {
            step: 3,
            invalid: None
        }
    );
    assert!(actions.is_empty());
    // An alert against a batch it found right is not followed.
    assert!(operator.on_alert(0).is_empty());
}
