//! SQUAD in the deterministic simulator with 4, 7 and 16 sequencers: all honest, f crashed,
//! f equivocating (and slashed), a partition that heals, a leader that withholds proposals,
//! crash and restart, determinism, and a sweep of random seeds. Safety (no two different
//! committed blocks at one height on honest nodes) is checked after every simulator step.

use alloy_primitives::{Address, B256, U256};
use altlayer_avs::{
    Roster,
    restaked::DEV_AUTHORITY,
    sim::{NetworkConfig, Rng, Simulator},
    squad::{
        CryptoMode, SquadConfig,
        process::{Behaviour, SquadEvent, SquadProcess},
    },
};
use altlayer_core::dev::DevAccount;
use altlayer_staking::{Evidence, StakingError};
use std::{collections::BTreeMap, sync::Arc};

const AUTHORITY: Address = DEV_AUTHORITY;
mod squad_support;

use squad_support::{CHAIN, Setup, config, setup};

fn simulator(
    s: &Setup,
    config: &SquadConfig,
    behaviours: &[Behaviour],
    seed: u64,
    network: NetworkConfig,
) -> Simulator<SquadProcess> {
    let nodes = (0..s.peers.len())
        .map(|i| {
            let behaviour = behaviours.get(i).copied().unwrap_or(Behaviour::Honest);
            SquadProcess::build(config, &s.roster, &s.peers, &s.keys[i], i, behaviour, None)
                .unwrap()
        })
        .collect();
    Simulator::new(seed, network, nodes)
}

/// Checks, incrementally, that no two honest nodes committed different blocks at a height.
#[derive(Default)]
struct Safety {
    committed: BTreeMap<u64, B256>,
    checked: BTreeMap<usize, usize>,
}

impl Safety {
    fn check(&mut self, sim: &Simulator<SquadProcess>) -> Result<(), String> {
        for (i, node) in sim.nodes().iter().enumerate() {
            let Some(node) = node else { continue };
            if node.behaviour() != Behaviour::Honest {
                continue;
            }
            let chain = node.node().chain();
            let from = self.checked.get(&i).copied().unwrap_or(0).min(chain.len());
            for decision in &chain[from..] {
                let hash = decision.block.hash();
                let known = *self.committed.entry(decision.block.height).or_insert(hash);
                if known != hash {
                    return Err(format!(
                        "safety violated at height {}: {known} and {hash} (node {i})",
                        decision.block.height
                    ));
                }
            }
            self.checked.insert(i, chain.len());
        }
        Ok(())
    }

    fn height(&self) -> u64 {
        self.committed.keys().next_back().copied().unwrap_or(0)
    }
}

fn min_height(sim: &Simulator<SquadProcess>) -> u64 {
    sim.nodes()
        .iter()
        .flatten()
        .filter(|n| n.behaviour() == Behaviour::Honest)
        .map(|n| n.node().chain().len() as u64)
        .min()
        .unwrap_or(0)
}

const SIZES: [usize; 3] = [4, 7, 16];

#[test]
fn all_honest_commit_and_agree() {
    for n in SIZES {
        let s = setup(n);
        let mut sim = simulator(
            &s,
            &config(CryptoMode::Full),
            &[],
            1,
            NetworkConfig::default(),
        );
        let mut safety = Safety::default();
        sim.run_until(3_000, |sim| safety.check(sim)).unwrap();
        assert!(
            min_height(&sim) >= 5,
            "n = {n}: only {} blocks",
            min_height(&sim)
        );
    }
}

#[test]
fn progress_with_f_crashed() {
    for n in SIZES {
        let f = (n - 1) / 3;
        let s = setup(n);
        let mut sim = simulator(
            &s,
            &config(CryptoMode::Unchecked),
            &[],
            2,
            NetworkConfig::default(),
        );
        for i in 0..f {
            sim.crash(i);
        }
        let mut safety = Safety::default();
        sim.run_until(20_000, |sim| safety.check(sim)).unwrap();
        assert!(
            min_height(&sim) >= 5,
            "n = {n}, f = {f}: {}",
            min_height(&sim)
        );
    }
}

#[test]
fn equivocators_are_detected_slashed_and_do_not_break_safety() {
    for n in SIZES {
        let f = (n - 1) / 3;
        let mut s = setup(n);
        let behaviours: Vec<_> = (0..n)
            .map(|i| {
                if i < f {
                    Behaviour::Equivocate
                } else {
                    Behaviour::Honest
                }
            })
            .collect();
        let mut sim = simulator(
            &s,
            &config(CryptoMode::Full),
            &behaviours,
            3,
            NetworkConfig::default(),
        );
        let mut safety = Safety::default();
        // Until three blocks are committed and every equivocator has been caught (at most
        // 20 s of virtual time).
        let caught = |sim: &Simulator<SquadProcess>| {
            let mut who = std::collections::BTreeSet::new();
            for (_, _, e) in sim.events() {
                if let SquadEvent::Evidence(e) = e
                    && let Evidence::Equivocation { first, .. } = &**e
                    && let altlayer_staking::VoteSignature::Bls { signer, .. } = first.signature
                {
                    who.insert(signer);
                }
            }
            who.len()
        };
        let mut t = 0;
        while t < 20_000 && (min_height(&sim) < 3 || caught(&sim) < f) {
            t += 500;
            sim.run_until(t, |sim| safety.check(sim)).unwrap();
        }
        assert!(min_height(&sim) >= 3, "n = {n}: {}", min_height(&sim));
        let evidence: Vec<Evidence> = sim
            .events()
            .iter()
            .filter_map(|(_, _, e)| match e {
                SquadEvent::Evidence(e) => Some((**e).clone()),
                _ => None,
            })
            .collect();
        assert!(!evidence.is_empty(), "n = {n}: no evidence");
        // The ledger follows the rollup's heights, which are SQUAD's.
        let top = sim
            .nodes()
            .iter()
            .flatten()
            .map(|n| n.node().height())
            .max()
            .unwrap();
        s.ledger.advance(top, top).unwrap();
        // Each equivocator is slashed once and tombstoned; honest sequencers never are.
        let mut slashed = std::collections::BTreeSet::new();
        for e in &evidence {
            match s.ledger.slash(&AUTHORITY, e) {
                Ok(outcome) => {
                    assert!(s.peers[..f].contains(&outcome.operator), "honest slashed");
                    assert!(slashed.insert(outcome.operator));
                }
                // The same equivocator again: already tombstoned, or the same evidence.
                Err(error) => assert!(
                    matches!(
                        error,
                        StakingError::Tombstoned(_) | StakingError::DuplicateEvidence(_)
                    ),
                    "{error}"
                ),
            }
        }
        assert_eq!(slashed.len(), f, "n = {n}");
        s.ledger.check_invariants().unwrap();
    }
}

#[test]
fn a_partition_stalls_safely_and_progress_resumes_when_it_heals() {
    for n in SIZES {
        let s = setup(n);
        let mut sim = simulator(
            &s,
            &config(CryptoMode::Unchecked),
            &[],
            4,
            NetworkConfig::default(),
        );
        let mut safety = Safety::default();
        sim.run_until(2_000, |sim| safety.check(sim)).unwrap();
        // Split in two halves: neither has more than two thirds.
        sim.partition((0..n).map(|i| u32::from(i >= n / 2)).collect());
        sim.run_until(4_000, |sim| safety.check(sim)).unwrap();
        let during = safety.height();
        sim.run_until(10_000, |sim| safety.check(sim)).unwrap();
        assert!(safety.height() <= during + 1, "progress without a quorum");
        sim.heal();
        sim.run_until(40_000, |sim| safety.check(sim)).unwrap();
        assert!(
            min_height(&sim) >= during + 3,
            "n = {n}: no progress after healing"
        );
    }
}

#[test]
fn a_leader_that_withholds_proposals_only_costs_its_rounds() {
    for n in SIZES {
        let s = setup(n);
        let behaviours = [Behaviour::WithholdProposals];
        let mut sim = simulator(
            &s,
            &config(CryptoMode::Unchecked),
            &behaviours,
            5,
            NetworkConfig::default(),
        );
        let mut safety = Safety::default();
        sim.run_until(20_000, |sim| safety.check(sim)).unwrap();
        assert!(min_height(&sim) >= 5, "n = {n}: {}", min_height(&sim));
    }
}

#[test]
fn a_crashed_sequencer_restarts_from_its_state_and_catches_up() {
    let n = 4;
    let s = setup(n);
    let config = config(CryptoMode::Unchecked);
    let mut sim = simulator(&s, &config, &[], 6, NetworkConfig::default());
    let mut safety = Safety::default();
    sim.run_until(1_000, |sim| safety.check(sim)).unwrap();
    sim.crash(3);
    sim.run_until(5_000, |sim| safety.check(sim)).unwrap();
    let (roster, peers, key) = (s.roster.clone(), s.peers.clone(), s.keys[3].clone());
    sim.restart(3, |state| {
        SquadProcess::build(
            &config,
            &roster,
            &peers,
            &key,
            3,
            Behaviour::Honest,
            Some(state),
        )
        .unwrap()
    });
    sim.run_until(15_000, |sim| safety.check(sim)).unwrap();
    let heights: Vec<u64> = sim
        .nodes()
        .iter()
        .flatten()
        .map(|n| n.node().chain().len() as u64)
        .collect();
    let top = *heights.iter().max().unwrap();
    assert!(
        heights[3] + 2 >= top,
        "restarted node stuck at {} of {top}",
        heights[3]
    );
}

#[test]
fn same_seed_same_run() {
    let s = setup(4);
    let network = NetworkConfig {
        drop_ppm: 50_000,
        duplicate_ppm: 50_000,
        ..NetworkConfig::default()
    };
    let run = |seed| {
        let mut sim = simulator(&s, &config(CryptoMode::Unchecked), &[], seed, network);
        sim.run_until(5_000, |_| Ok::<_, ()>(())).unwrap();
        sim.state_hash()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

/// One random run: lossy, duplicating, reordering network; up to f crashes and restarts; a
/// partition that heals. Safety after every step; progress after the network heals.
fn random_run(s: &Setup, seed: u64) -> Result<(), String> {
    let n = s.peers.len();
    let f = (n - 1) / 3;
    let mut rng = Rng::new(seed ^ 0x5eed);
    let network = NetworkConfig {
        min_delay_ms: 1 + rng.range(0, 20),
        max_delay_ms: 30 + rng.range(0, 200),
        drop_ppm: rng.range(0, 150_000) as u32,
        duplicate_ppm: rng.range(0, 100_000) as u32,
    };
    let config = config(CryptoMode::Unchecked);
    let mut sim = simulator(s, &config, &[], seed, network);
    let mut safety = Safety::default();
    let crashed: Vec<usize> = (0..rng.range(0, f as u64))
        .map(|_| rng.range(0, n as u64 - 1) as usize)
        .collect();
    sim.run_until(rng.range(0, 2_000), |sim| safety.check(sim))?;
    for i in &crashed {
        sim.crash(*i);
    }
    if rng.chance(500_000) {
        sim.partition((0..n).map(|_| rng.range(0, 1) as u32).collect());
    }
    sim.run_until(4_000, |sim| safety.check(sim))?;
    sim.heal();
    sim.set_network(NetworkConfig::default());
    for i in crashed {
        let (roster, peers, key) = (s.roster.clone(), s.peers.clone(), s.keys[i].clone());
        sim.restart(i, |state| {
            SquadProcess::build(
                &config,
                &roster,
                &peers,
                &key,
                i,
                Behaviour::Honest,
                Some(state),
            )
            .unwrap()
        });
    }
    let before = min_height(&sim);
    let mut t = 4_000;
    while t < 40_000 && min_height(&sim) < before + 2 {
        t += 1_000;
        sim.run_until(t, |sim| safety.check(sim))?;
    }
    if min_height(&sim) < before + 2 {
        return Err(format!(
            "seed {seed}: no progress after healing ({before} -> {})",
            min_height(&sim)
        ));
    }
    Ok(())
}

/// 320 seeds: 150 with 4 sequencers, 150 with 7, 20 with 16.
#[test]
fn random_seeds() {
    for (n, seeds) in [(4, 150), (7, 150), (16, 20)] {
        let s = setup(n);
        for seed in 0..seeds {
            random_run(&s, seed).unwrap();
        }
    }
}

#[test]
#[ignore = "long: thousands of seeds; run with --ignored"]
fn many_random_seeds() {
    for n in SIZES {
        let s = setup(n);
        for seed in 0..2_000 {
            random_run(&s, seed).unwrap();
        }
    }
}

#[test]
fn squad_behind_the_sequencer_trait_orders_and_executes_blocks() {
    use altlayer_avs::squad::sequencer::{SquadSequencer, SquadSequencerConfig};
    use altlayer_core::{
        RollupConfig,
        dev::dev_state_transition,
        sequencer::{Sequencer, SequencerEvent},
        transaction::{RecoveryBackend, recover},
    };
    let stf = dev_state_transition(RollupConfig::default(), 4);
    let start = 1_700_000_000_000;
    let mut squad = SquadSequencer::dev(
        stf.clone(),
        SquadSequencerConfig {
            block_time_ms: 100,
            ..Default::default()
        },
        4,
        &[],
        start,
    )
    .unwrap();
    let alice = DevAccount::new(0);
    for nonce in 0..5 {
        let tx = alice.transfer(CHAIN, nonce, Address::repeat_byte(7), U256::from(1));
        squad
            .submit(recover(tx, RecoveryBackend::Libsecp256k1).unwrap())
            .unwrap();
    }
    // A duplicate is refused with core's typed error.
    let again = recover(
        alice.transfer(CHAIN, 0, Address::repeat_byte(7), U256::from(1)),
        RecoveryBackend::Libsecp256k1,
    )
    .unwrap();
    assert!(squad.submit(again).is_err());
    let mut blocks = Vec::new();
    for t in 1..=20 {
        for event in squad.on_tick(start + t * 100).unwrap() {
            if let SequencerEvent::Block(built) = event {
                blocks.push(built.block);
            }
        }
    }
    assert!(blocks.len() >= 5, "{} blocks", blocks.len());
    let included: usize = blocks.iter().map(|b| b.transactions.len()).sum();
    assert_eq!(included, 5);
    assert_eq!(
        squad.pending(),
        0,
        "committed transactions leave every pool"
    );
    // An independent replica re-executes the same chain to the same root.
    let mut replica = stf;
    for block in &blocks {
        replica
            .execute_block_recovering(block, Default::default())
            .unwrap();
    }
    assert_eq!(replica.state_root(), squad.state_transition().state_root());
    // Every sequencer executed the chain on its own replica.
    assert_eq!(squad.blocks_executed(), 4 * blocks.len() as u64);
}

#[test]
fn the_happy_path_commits_three_message_delays_after_the_proposal() {
    // Constant 10 ms one-way delay, no pause between heights: each height is a proposal,
    // a prevote round and a precommit round, so commits are 30 ms (1.5 round trips) apart.
    let s = setup(7);
    let network = NetworkConfig {
        min_delay_ms: 10,
        max_delay_ms: 10,
        drop_ppm: 0,
        duplicate_ppm: 0,
    };
    let mut sim = simulator(&s, &config(CryptoMode::Unchecked), &[], 9, network);
    sim.run_until(1_000, |_| Ok::<_, ()>(())).unwrap();
    let commits: Vec<u64> = sim
        .events()
        .iter()
        .filter(|(_, node, e)| *node == 0 && matches!(e, SquadEvent::Committed(_)))
        .map(|(t, _, _)| *t)
        .collect();
    assert!(commits.len() >= 30);
    for pair in commits.windows(2) {
        assert_eq!(pair[1] - pair[0], 30, "{commits:?}");
    }
}

#[test]
fn rosters_change_only_at_epoch_boundaries() {
    let s = setup(5);
    let config = SquadConfig {
        epoch_length: 5,
        ..config(CryptoMode::Unchecked)
    };
    let mut sim = simulator(&s, &config, &[], 10, NetworkConfig::default());
    // Epoch 1 (heights 6..=10): sequencer 4 has left the set.
    let epoch1 = Arc::new(Roster::new(
        s.roster.snapshot(),
        s.roster
            .entries()
            .iter()
            .filter(|e| e.operator != s.peers[4])
            .cloned()
            .collect(),
    ));
    for i in 0..5 {
        let roster = epoch1.clone();
        sim.act(i, |p, now| {
            let out = p.node_mut().add_roster(1, roster, now).unwrap();
            p.effects(out)
        });
    }
    let mut safety = Safety::default();
    sim.run_until(20_000, |sim| safety.check(sim)).unwrap();
    // Epoch 2's roster was never handed in: everyone stops at its boundary and asks for it.
    assert_eq!(min_height(&sim), 10);
    assert!(
        sim.events()
            .iter()
            .any(|(_, _, e)| matches!(e, SquadEvent::NeedRoster(2)))
    );
    for decision in &sim.nodes()[0].as_ref().unwrap().node().chain()[5..10] {
        // Certificates of epoch 1 are over its four sequencers.
        assert_eq!(decision.certificate.signers.as_bytes().len(), 1);
        assert!(epoch1.signed_stake(&decision.certificate.signers).is_ok());
    }
    assert!(!sim.nodes()[4].as_ref().unwrap().node().is_member());
    // Handing it in resumes the chain, with sequencer 4 back.
    for i in 0..5 {
        let roster = s.roster.clone();
        sim.act(i, |p, now| {
            let out = p.node_mut().add_roster(2, roster, now).unwrap();
            p.effects(out)
        });
    }
    sim.run_until(30_000, |sim| safety.check(sim)).unwrap();
    assert!(min_height(&sim) >= 12, "{}", min_height(&sim));
    assert!(sim.nodes()[4].as_ref().unwrap().node().is_member());
}

#[test]
fn bad_messages_change_nothing_and_never_panic() {
    use altlayer_avs::{
        QuorumCertificate, SignerBitmap,
        bls::Signature,
        squad::{
            Decision, Input, Message, Payload, Proposal, SquadBlock, SquadNode, Vote, VoteKind,
        },
    };
    let s = setup(4);
    let mut node = SquadNode::new(
        config(CryptoMode::Full),
        s.roster.clone(),
        s.peers[0],
        s.keys[0].clone(),
    )
    .unwrap();
    node.start(0);
    let before = serde_json::to_string(node.state()).unwrap();
    let stranger = Address::repeat_byte(0x77);
    let junk_signature = s.keys[3].sign(&B256::ZERO);
    let block = SquadBlock {
        height: 1,
        parent: B256::repeat_byte(1),
        payload: Payload::default(),
        last_commit: None,
    };
    let vote = |round, height, signer| Vote {
        kind: VoteKind::Prevote,
        height,
        round,
        block: None,
        signer,
        signature: junk_signature,
    };
    let messages = vec![
        // Not a sequencer.
        Message::Vote(vote(0, 1, stranger)),
        // A round far ahead, and the largest round there is.
        Message::Vote(vote(1_000, 1, s.peers[1])),
        Message::Vote(vote(u32::MAX, 1, s.peers[1])),
        // Height zero and a height far ahead.
        Message::Vote(vote(0, 0, s.peers[1])),
        // A vote relayed by another node with a signature that is not the signer's.
        Message::Vote(vote(0, 1, s.peers[2])),
        // A proposal by someone who is not the leader, and one with a bad signature.
        Message::Proposal(Box::new(Proposal {
            block: block.clone(),
            round: 0,
            valid_round: None,
            polka: None,
            proposer: stranger,
            signature: junk_signature,
        })),
        Message::Proposal(Box::new(Proposal {
            block: block.clone(),
            round: 0,
            valid_round: None,
            polka: None,
            proposer: node.leader(0),
            signature: junk_signature,
        })),
        // A decision whose certificate has no signers.
        Message::Decision(Box::new(Decision {
            block,
            round: 0,
            certificate: QuorumCertificate {
                digest: B256::ZERO,
                snapshot: s.roster.snapshot(),
                signers: SignerBitmap::new(4),
                signature: Signature::aggregate(&[junk_signature]),
            },
        })),
        Message::Decision(Box::new(Decision {
            block: SquadBlock {
                height: u64::MAX,
                parent: B256::ZERO,
                payload: Payload::default(),
                last_commit: None,
            },
            round: u32::MAX,
            certificate: QuorumCertificate {
                digest: B256::ZERO,
                snapshot: s.roster.snapshot(),
                signers: SignerBitmap::from_bytes(vec![0xff; 9]),
                signature: junk_signature,
            },
        })),
    ];
    for message in messages {
        // Sent by node 3 (a sequencer, so relayed messages are checked on their own).
        node.handle(
            10,
            Input::Message {
                from: s.peers[3],
                message,
            },
        );
        assert_eq!(serde_json::to_string(node.state()).unwrap(), before);
    }
    // Garbage transactions are refused with core's typed reasons, and the pool is unchanged.
    let out = node.handle(
        10,
        Input::Transaction(alloy_primitives::Bytes::from_static(&[0x02, 0xff])),
    );
    assert!(
        out.iter()
            .any(|o| matches!(o, altlayer_avs::squad::Output::Rejected { .. }))
    );
    assert!(node.pool().is_empty());
}

#[test]
fn persisted_state_round_trips_through_json() {
    let s = setup(4);
    let mut sim = simulator(
        &s,
        &config(CryptoMode::Full),
        &[],
        11,
        NetworkConfig::default(),
    );
    sim.run_until(700, |_| Ok::<_, ()>(())).unwrap();
    for node in sim.nodes().iter().flatten() {
        let state = node.node().state();
        assert!(!state.chain.is_empty() || !state.signed.is_empty());
        let json = serde_json::to_string(state).unwrap();
        let back: altlayer_avs::squad::SquadState = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, state);
    }
}

#[test]
fn a_proposal_from_the_future_is_prevoted_nil() {
    use altlayer_avs::squad::{
        Input, Message, Output, Payload, Proposal, SquadBlock, SquadNode, VoteKind,
    };
    let s = setup(4);
    let config = config(CryptoMode::Full);
    let mut nodes: Vec<SquadNode> = (0..4)
        .map(|i| {
            SquadNode::new(
                config.clone(),
                s.roster.clone(),
                s.peers[i],
                s.keys[i].clone(),
            )
            .unwrap()
        })
        .collect();
    let leader = nodes[0].leader(0);
    let l = s.peers.iter().position(|p| *p == leader).unwrap();
    let follower = (l + 1) % 4;
    nodes[follower].start(0);
    let now_ms = 1_000_000;
    let signer = SquadNode::new(
        config.clone(),
        s.roster.clone(),
        s.peers[l],
        s.keys[l].clone(),
    )
    .unwrap();
    let propose = |timestamp: u64| {
        let block = SquadBlock {
            height: 1,
            parent: config.genesis,
            payload: Payload {
                timestamp,
                transactions: vec![],
            },
            last_commit: None,
        };
        let digest = signer.vote_digest(1, 0, VoteKind::Proposal, Some(block.hash()));
        Message::Proposal(Box::new(Proposal {
            signature: s.keys[l].sign(&digest),
            block,
            round: 0,
            valid_round: None,
            polka: None,
            proposer: leader,
        }))
    };
    let prevote = |out: &[Output]| {
        out.iter().find_map(|o| match o {
            Output::Send {
                message: Message::Vote(v),
                ..
            } if v.kind == VoteKind::Prevote => Some(v.block),
            _ => None,
        })
    };
    // An hour ahead of the follower's clock: nil.
    let mut late = SquadNode::new(
        config.clone(),
        s.roster.clone(),
        s.peers[follower],
        s.keys[follower].clone(),
    )
    .unwrap();
    late.start(0);
    let out = late.handle(
        now_ms,
        Input::Message {
            from: leader,
            message: propose(now_ms / 1_000 + 3_600),
        },
    );
    assert_eq!(prevote(&out), Some(None));
    // Within the drift: the block.
    let out = nodes[follower].handle(
        now_ms,
        Input::Message {
            from: leader,
            message: propose(now_ms / 1_000 + 5),
        },
    );
    assert!(matches!(prevote(&out), Some(Some(_))));
}
