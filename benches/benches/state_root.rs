//! The incremental state root after 1,000 touched accounts in states of 10k, 100k and 1M
//! accounts, against a from-scratch rebuild of the 100k state measured in the same run.

use alloy_primitives::U256;
use altlayer_benches::{filler, large_state};
use criterion::{Criterion, criterion_group, criterion_main};

const TOUCHED: usize = 1_000;

fn state_root(c: &mut Criterion) {
    let mut group = c.benchmark_group("state_root");
    group.sample_size(20);
    for accounts in [10_000usize, 100_000, 1_000_000] {
        let mut state = large_state(accounts, &[]);
        // Touch accounts spread over the whole key space: every stride-th filler.
        let stride = accounts / TOUCHED;
        let mut round = 1u64;
        group.bench_function(format!("incremental_1000_touched/{accounts}"), |b| {
            b.iter(|| {
                round += 1;
                for i in 0..TOUCHED {
                    state
                        .set_balance(filler(i * stride), U256::from(round))
                        .unwrap();
                }
                state.state_root().unwrap()
            })
        });
        if accounts == 100_000 {
            group.bench_function("from_scratch/100000", |b| {
                b.iter(|| state.state_root_from_scratch())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, state_root);
criterion_main!(benches);
