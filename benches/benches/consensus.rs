//! SQUAD consensus: CPU time of the whole set per committed block with 4, 16 and 64
//! sequencers, with BLS signing and verification and without, on the deterministic
//! simulator's network (constant 10 ms one-way delay, all honest). The ratio that matters is
//! within the run: 64 against 4 sequencers (at most 16 x is linear). Commit latency in round
//! trips is measured in virtual time and printed.

use altlayer_avs::{
    sim::{NetworkConfig, Simulator},
    squad::{
        CryptoMode, DevSet, SquadConfig, dev_set,
        process::{Behaviour, SquadEvent, SquadProcess},
    },
};
use altlayer_core::RollupId;
use criterion::{Criterion, criterion_group, criterion_main};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

const DELAY_MS: u64 = 10;

fn simulator(n: usize, crypto: CryptoMode) -> Simulator<SquadProcess> {
    let DevSet {
        keys,
        peers,
        roster,
    } = dev_set(n, RollupId(1)).expect("keys derive");
    let config = SquadConfig {
        crypto,
        ..SquadConfig::default()
    };
    let peers = Arc::new(peers);
    let nodes = (0..n)
        .map(|i| {
            SquadProcess::build(
                &config,
                &roster,
                &peers,
                &keys[i],
                i,
                Behaviour::Honest,
                None,
            )
            .expect("valid set")
        })
        .collect();
    let network = NetworkConfig {
        min_delay_ms: DELAY_MS,
        max_delay_ms: DELAY_MS,
        drop_ppm: 0,
        duplicate_ppm: 0,
    };
    Simulator::new(1, network, nodes)
}

/// Height every node has committed.
fn committed(sim: &Simulator<SquadProcess>) -> usize {
    sim.nodes()
        .iter()
        .flatten()
        .map(|n| n.node().chain().len())
        .min()
        .unwrap_or(0)
}

/// Steps the simulator until every node has committed `target` blocks.
fn run_to(sim: &mut Simulator<SquadProcess>, target: usize) {
    while committed(sim) < target {
        if !sim.step() {
            break;
        }
    }
}

/// Mean virtual time between node 0's commits, in round trips (2 x the one-way delay): with
/// no pause between heights this is the latency from a proposal to its commit.
fn latency_round_trips(n: usize) -> f64 {
    let mut sim = simulator(n, CryptoMode::Unchecked);
    run_to(&mut sim, 21);
    let commits: Vec<u64> = sim
        .events()
        .iter()
        .filter(|(_, node, e)| *node == 0 && matches!(e, SquadEvent::Committed(_)))
        .map(|(t, _, _)| *t)
        .collect();
    let span = commits[commits.len() - 1] - commits[0];
    span as f64 / (commits.len() - 1) as f64 / (2 * DELAY_MS) as f64
}

fn consensus(c: &mut Criterion) {
    for n in [4, 16, 64] {
        println!(
            "consensus/latency/{n}: {:.2} round trips from proposal to commit",
            latency_round_trips(n)
        );
    }
    let mut group = c.benchmark_group("consensus");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    for (name, crypto) in [
        ("unsigned", CryptoMode::Unchecked),
        ("bls", CryptoMode::Full),
    ] {
        for n in [4, 16, 64] {
            group.bench_function(format!("per_block/{name}/{n}"), |b| {
                b.iter_custom(|iters| {
                    let mut sim = simulator(n, crypto);
                    run_to(&mut sim, 1);
                    let start = Instant::now();
                    run_to(&mut sim, 1 + iters as usize);
                    start.elapsed()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, consensus);
criterion_main!(benches);
