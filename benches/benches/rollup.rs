//! The whole restaked rollup per block: a SQUAD set of 4 sequencers, a MACH committee of 4
//! operators and a VITAL verifier, BLS on, driven in virtual time with a constant 10 ms
//! one-way delay, blocks of 1,000 transfers over a state of 100,000 accounts. Baseline in the
//! same run: the single sequencer with the challenge-window gadget (and its verifier) on the
//! same load.
//!
//! Criterion times the in-process CPU per block (every replica's execution, signatures,
//! aggregation, batching, verification). Each iteration submits a block's worth of transfers
//! (signed outside the timing) and runs the rollup in virtual time until that block is
//! fast-final (restaked) or its batch re-executed by the verifier (baseline). The virtual
//! latencies from proposal to soft and to fast finality, and the CPU per executing node, are
//! printed at the end.

use alloy_consensus::{TxEnvelope, transaction::Recovered};
use alloy_primitives::U256;
use altlayer_avs::{
    mach::committee::{CommitteeConfig, MachCommittee},
    restaked::{Restaked, RestakedConfig, alt},
    squad::{
        CryptoMode,
        sequencer::{SquadSequencer, SquadSequencerConfig},
    },
    vital::operator::{Conduct, VitalOperator},
};
use altlayer_benches::{filler, large_state};
use altlayer_core::{
    EvmStateTransition, FinalityGadget, RollupConfig, Sequencer,
    da::InMemoryDa,
    dev::DevAccount,
    execution::DEFAULT_INITIAL_BASE_FEE,
    ledger::RollupLedger,
    rollup::{Input, Rollup, RollupEvent, RollupSettings},
    settlement::LocalSettlement,
    transaction::{RecoveryBackend, recover},
    verifier::Verifier,
};
use criterion::{Criterion, criterion_group, criterion_main};
use rayon::prelude::*;
use std::{
    cell::RefCell,
    time::{Duration, Instant},
};

const ACCOUNTS: usize = 100_000;
const TXS: usize = 1_000;
const DELAY_MS: u64 = 10;
const START_MS: u64 = 1_700_000_000_000;

/// The load: `TXS` funded senders, each sending one transfer per block.
struct Load {
    senders: Vec<DevAccount>,
    round: u64,
}

impl Load {
    fn new() -> (Self, EvmStateTransition) {
        let senders: Vec<DevAccount> = (0..TXS as u64)
            .into_par_iter()
            .map(DevAccount::new)
            .collect();
        let state = large_state(ACCOUNTS, &senders);
        let stf =
            EvmStateTransition::new(RollupConfig::default(), state, 0, DEFAULT_INITIAL_BASE_FEE);
        (Self { senders, round: 0 }, stf)
    }

    /// The next block's transfers, signed and recovered (outside the timing).
    fn next(&mut self) -> Vec<Recovered<TxEnvelope>> {
        let round = self.round;
        self.round += 1;
        self.senders
            .par_iter()
            .enumerate()
            .map(|(i, sender)| {
                let tx = sender.transfer(1_337, round, filler(i), U256::from(1_000));
                recover(tx, RecoveryBackend::Libsecp256k1).expect("signed")
            })
            .collect()
    }
}

/// What one block took, in virtual time.
#[derive(Clone, Copy, Debug, Default)]
struct Latency {
    soft_ms: Option<u64>,
    fast_ms: Option<u64>,
}

/// Carries out every effect until nothing is left; returns the events.
fn settle<S, V, F, L>(
    rollup: &mut Rollup<S, V, F, L, InMemoryDa, LocalSettlement>,
    input: Input<S::Message, F::Message>,
) -> Vec<RollupEvent>
where
    S: Sequencer,
    V: Verifier,
    F: FinalityGadget,
    L: RollupLedger,
{
    rollup.handle_locally(input).expect("the rollup goes on")
}

/// Submits a block's load and runs in virtual time until `done` says the block is through;
/// returns the virtual time its events came at.
fn one_block<S, V, F, L>(
    rollup: &mut Rollup<S, V, F, L, InMemoryDa, LocalSettlement>,
    txs: Vec<Recovered<TxEnvelope>>,
    mut done: impl FnMut(u64, &RollupEvent) -> bool,
) -> Vec<(u64, RollupEvent)>
where
    S: Sequencer,
    V: Verifier,
    F: FinalityGadget,
    L: RollupLedger,
{
    for tx in txs {
        rollup.submit(tx).expect("pooled");
    }
    let target = rollup.head().height + 1;
    let mut seen = Vec::new();
    for _ in 0..10_000 {
        let now = rollup
            .next_wake()
            .unwrap_or(rollup.now_ms() + DELAY_MS)
            .max(rollup.now_ms() + 1);
        let events = settle(rollup, Input::Tick { now_ms: now });
        let finished = events.iter().any(|e| done(target, e));
        seen.extend(events.into_iter().map(|e| (now, e)));
        if finished {
            return seen;
        }
    }
    panic!("block {target} never got through");
}

type Restaked4 = Rollup<
    SquadSequencer<EvmStateTransition>,
    VitalOperator,
    MachCommittee,
    altlayer_avs::ledger::AltStake,
    InMemoryDa,
    LocalSettlement,
>;

fn restaked(genesis: &EvmStateTransition, crypto: CryptoMode) -> Restaked4 {
    let operators = Restaked::dev(&RestakedConfig::default()).expect("operators");
    let settings = RollupSettings {
        blocks_per_batch: 1,
        block_time_ms: 100,
        max_txs_per_block: TXS,
        challenge_window_secs: 3_600,
        challenge_bond: alt(1_000),
        proposer: operators.proposer,
        operator: operators.proposer,
        verifier: operators.verifier,
        ..Default::default()
    };
    let (squad_roster, sequencers) = operators.squad.clone().expect("a SQUAD set");
    let (mach_roster, mach_operators) = operators.mach.clone();
    let squad = SquadSequencer::new(
        genesis.clone(),
        SquadSequencerConfig {
            block_time_ms: settings.block_time_ms,
            network_delay_ms: DELAY_MS,
            coinbase: operators.proposer,
            intermediate_roots: true,
            max_block_transactions: TXS,
            crypto,
        },
        squad_roster,
        sequencers,
        START_MS,
    )
    .expect("a set");
    let mach = MachCommittee::new(
        CommitteeConfig {
            delay_ms: DELAY_MS,
            challenge_window: settings.challenge_window_secs,
            ..Default::default()
        },
        mach_roster,
        mach_operators,
        genesis,
    );
    let vital = VitalOperator::new(
        operators.verifier,
        alt(1_000),
        Conduct::Honest,
        genesis.clone(),
        0,
    );
    Rollup::builder(genesis.clone(), settings)
        .sequencer(squad)
        .finality(mach)
        .verifier(vital)
        .ledger(operators.ledger)
        .build()
        .expect("builds")
}

fn bench(c: &mut Criterion) {
    let (load, genesis) = Load::new();
    let load = RefCell::new(load);
    let mut group = c.benchmark_group("rollup");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));

    // Baseline: the single sequencer with core's defaults.
    let settings = RollupSettings {
        blocks_per_batch: 1,
        max_txs_per_block: TXS,
        challenge_window_secs: 3_600,
        ..Default::default()
    };
    let single = RefCell::new(
        Rollup::builder(genesis.clone(), settings)
            .build()
            .expect("builds"),
    );
    let single_per_block = RefCell::new(Vec::new());
    group.bench_function("single_sequencer_block", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let txs = load.borrow_mut().next();
                let mut rollup = single.borrow_mut();
                let started = Instant::now();
                one_block(&mut rollup, txs, |target, e| {
                    matches!(e, RollupEvent::BatchChecked { index, .. } if *index + 1 == target)
                });
                let took = started.elapsed();
                single_per_block.borrow_mut().push(took);
                total += took;
            }
            total
        });
    });

    for (name, crypto) in [
        ("restaked_block", CryptoMode::Full),
        ("restaked_block_unchecked_crypto", CryptoMode::Unchecked),
    ] {
        let rollup = RefCell::new(restaked(&genesis, crypto));
        let latencies = RefCell::new(Vec::new());
        let per_block = RefCell::new(Vec::new());
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let txs = load.borrow_mut().next();
                    let mut rollup = rollup.borrow_mut();
                    let started = Instant::now();
                    let seen = one_block(&mut rollup, txs, |target, e| {
                        matches!(e, RollupEvent::FastFinal { height, .. } if *height == target)
                    });
                    let took = started.elapsed();
                    per_block.borrow_mut().push(took);
                    total += took;
                    let height = rollup.head().height;
                    let proposed = rollup.sequencer().proposed_at(height);
                    let mut latency = Latency::default();
                    for (at, event) in &seen {
                        match event {
                            RollupEvent::SoftConfirmed { height: h, at_ms, .. } if *h == height => {
                                latency.soft_ms = proposed.map(|p| at_ms - p);
                            }
                            RollupEvent::FastFinal { height: h, .. } if *h == height => {
                                latency.fast_ms = proposed.map(|p| at - p);
                            }
                            _ => {}
                        }
                    }
                    latencies.borrow_mut().push(latency);
                }
                total
            });
        });
        let rollup = rollup.borrow();
        let executions = rollup.sequencer().blocks_executed() + rollup.finality().executions();
        let blocks = rollup.head().height.max(1);
        // Each sequencer and each MACH operator executed every block; the verifier too.
        let per_block_nodes = executions as f64 / blocks as f64 + 1.0;
        let soft = median(
            latencies
                .borrow()
                .iter()
                .filter_map(|l| l.soft_ms)
                .collect(),
        );
        let fast = median(
            latencies
                .borrow()
                .iter()
                .filter_map(|l| l.fast_ms)
                .collect(),
        );
        let cpu = median_duration(per_block.borrow().clone());
        let single = median_duration(single_per_block.borrow().clone());
        println!(
            "{name}: virtual latency from proposal: soft {soft:?} ms, fast-final {fast:?} ms ({DELAY_MS} ms one-way delay)"
        );
        println!(
            "{name}: CPU per block {:.1} ms over {per_block_nodes:.1} executing nodes = {:.1} ms per node; single sequencer {:.1} ms over 2 nodes (sequencer, verifier) = {:.1} ms per node; ratio {:.2}x",
            cpu.as_secs_f64() * 1e3,
            cpu.as_secs_f64() * 1e3 / per_block_nodes,
            single.as_secs_f64() * 1e3,
            single.as_secs_f64() * 1e3 / 2.0,
            (cpu.as_secs_f64() / per_block_nodes) / (single.as_secs_f64() / 2.0)
        );
    }
    group.finish();
}

fn median(mut values: Vec<u64>) -> Option<u64> {
    values.sort_unstable();
    values.get(values.len() / 2).copied()
}

fn median_duration(mut values: Vec<Duration>) -> Duration {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

criterion_group!(benches, bench);
criterion_main!(benches);
