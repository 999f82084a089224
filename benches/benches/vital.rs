//! VITAL's one-step proof against re-executing the whole block, in the same run.
//!
//! Two blocks over a state of 100,000 accounts: 200 transfers, and a full block (30 M gas) of
//! 40 calls to a storage-heavy contract (each writes 32 new slots of a contract already holding
//! 10,000, and reads two block hashes). For the transaction in the middle of each block:
//! the witness's size (printed), checking the one-step proof (`verify_step`: recover the
//! sender, assemble the partial tries from the witness, run revm over them, recompute the
//! post-state root), and preparing it (`prove`: a replay of the block up to it, recording).
//! Baseline: re-executing the whole block on a full replica. Also printed: bisection rounds
//! against batch size.

use alloy_consensus::{TxEnvelope, transaction::Recovered};
use alloy_primitives::{Address, B256, TxKind, U256, keccak256};
use altlayer_avs::vital::bisection::{Dispute, Move, Party, Status};
use altlayer_benches::{filler, large_state};
use altlayer_core::{
    Batch, EvmStateTransition, RollupConfig,
    dev::{DevAccount, STORE_RUNTIME, store_call},
    execution::{
        BlockAttributes, DEFAULT_INITIAL_BASE_FEE, ExecuteOptions,
        stateless::{Replay, StepOutcome, StepWitness, verify_step},
    },
    transaction::{RecoveryBackend, recover},
};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rayon::prelude::*;

const ACCOUNTS: usize = 100_000;
const TRANSFERS: usize = 200;
/// Store calls that fit a 30 M gas block (32 fresh slots each, ~740 k gas).
const STORE_CALLS: usize = 40;
const STORE_SLOTS: u64 = 10_000;

/// A block over a large state, with the one-step proof of its middle transaction.
struct Fixture {
    pre: EvmStateTransition,
    batch: Batch,
    step: usize,
    pre_root: B256,
    post_root: B256,
    witness: StepWitness,
}

fn fixture(kind: &str) -> Fixture {
    let config = RollupConfig::default();
    let count = if kind == "transfer" {
        TRANSFERS
    } else {
        STORE_CALLS
    };
    let step = count / 2;
    let senders: Vec<DevAccount> = (0..count as u64)
        .into_par_iter()
        .map(DevAccount::new)
        .collect();
    let mut state = large_state(ACCOUNTS, &senders);
    let store = Address::repeat_byte(0x5b);
    state
        .set_code(store, STORE_RUNTIME.to_vec().into())
        .unwrap();
    for slot in 0..STORE_SLOTS {
        state
            .set_storage(store, U256::from(1_000_000 + slot), U256::from(slot + 1))
            .unwrap();
    }
    state.state_root().unwrap();
    let pre = EvmStateTransition::new(config.clone(), state, 0, DEFAULT_INITIAL_BASE_FEE);
    let txs: Vec<Recovered<TxEnvelope>> = senders
        .par_iter()
        .enumerate()
        .map(|(i, sender)| {
            let tx = match kind {
                "transfer" => sender.transfer(config.chain_id, 0, filler(i), U256::from(1_000)),
                _ => sender.call(
                    config.chain_id,
                    0,
                    TxKind::Call(store),
                    store_call(U256::from(i * 32), U256::from(i + 1)),
                    1_000_000,
                ),
            };
            recover(tx, RecoveryBackend::Libsecp256k1).expect("valid")
        })
        .collect();
    let mut sequencer = pre.clone();
    let built = sequencer
        .build_block(
            BlockAttributes {
                timestamp: 1,
                sequencer: Address::repeat_byte(0xc0),
                ..Default::default()
            },
            txs,
            ExecuteOptions::with_intermediate_roots(),
        )
        .expect("builds");
    assert_eq!(built.block.transactions.len(), count);
    let roots = built.outcome.intermediate_roots.clone();
    let batch = Batch {
        rollup_id: config.rollup_id,
        index: 0,
        pre_state_root: pre.state_root(),
        post_state_root: built.block.header.state_root,
        blocks: vec![built.block],
        intermediate_roots: roots.clone(),
    };
    let witness = Replay::new(&pre, batch.clone())
        .and_then(|mut replay| replay.prove(step))
        .expect("proves");
    let fixture = Fixture {
        pre,
        batch,
        step,
        pre_root: roots[step - 1],
        post_root: roots[step],
        witness,
    };
    assert_eq!(verify(&fixture), StepOutcome::Root(fixture.post_root));
    eprintln!(
        "vital/{kind}: witness of step {step} of {count}: {} trie nodes, {} contracts, {} ancestor headers, {} bytes",
        fixture.witness.state.len(),
        fixture.witness.codes.len(),
        fixture.witness.ancestors.len(),
        fixture.witness.size()
    );
    fixture
}

fn verify(fixture: &Fixture) -> StepOutcome {
    verify_step(
        fixture.pre.config(),
        &fixture.batch,
        fixture.step,
        fixture.pre_root,
        &fixture.witness,
    )
    .expect("the witness is complete")
}

/// Rounds of an honest challenger against a root wrong from step `k` of `n`.
fn rounds(n: u64, k: u64) -> u32 {
    let truth = |i: u64| keccak256(i.to_be_bytes());
    let claim = |i: u64| {
        if i >= k {
            keccak256([i.to_be_bytes(), [1; 8]].concat())
        } else {
            truth(i)
        }
    };
    let posted: Vec<B256> = (1..=n).map(claim).collect();
    let mut dispute = Dispute::open(
        0,
        Address::ZERO,
        Address::ZERO,
        n,
        truth(0),
        claim(n),
        Some(posted),
        0,
        10,
    )
    .expect("opens");
    loop {
        let status = match dispute.status() {
            Status::Bisecting {
                turn: Party::Proposer,
                ..
            } => {
                let index = dispute.midpoint();
                dispute.play(
                    0,
                    Party::Proposer,
                    Move::Root {
                        index,
                        root: claim(index),
                    },
                )
            }
            Status::Bisecting { .. } => {
                let (index, root) = dispute.pending().expect("a root awaits a verdict");
                dispute.play(
                    0,
                    Party::Challenger,
                    Move::Verdict {
                        agree: truth(index) == root,
                    },
                )
            }
            _ => return dispute.rounds(),
        };
        status.expect("legal move");
    }
}

fn vital(c: &mut Criterion) {
    for n in [10u64, 100, 1_000, 10_000, 100_000, 1_000_000] {
        let worst = (1..=n)
            .step_by((n as usize / 97).max(1))
            .map(|k| rounds(n, k))
            .max()
            .unwrap_or(0);
        eprintln!(
            "vital/bisection: {n} steps: at most {worst} rounds (ceil(log2 n) = {})",
            64 - (n - 1).leading_zeros()
        );
    }
    let mut group = c.benchmark_group("vital");
    group.sample_size(20);
    for kind in ["transfer", "store"] {
        let fixture = fixture(kind);
        group.bench_function(format!("{kind}/one_step_verify"), |b| {
            b.iter(|| verify(&fixture))
        });
        group.bench_function(format!("{kind}/reexecute_block"), |b| {
            b.iter_batched(
                || fixture.pre.clone(),
                |mut replica| {
                    replica
                        .execute_block_recovering(
                            &fixture.batch.blocks[0],
                            ExecuteOptions::default(),
                        )
                        .expect("valid block");
                    replica
                },
                BatchSize::LargeInput,
            )
        });
        group.bench_function(format!("{kind}/prove"), |b| {
            b.iter(|| {
                Replay::new(&fixture.pre, fixture.batch.clone())
                    .and_then(|mut replay| replay.prove(fixture.step))
                    .expect("proves")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, vital);
criterion_main!(benches);
