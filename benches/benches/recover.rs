//! Sender recovery: libsecp256k1 against k256, serial against parallel, on 1,000 signed
//! EIP-1559 transfers.

use altlayer_benches::TransferBlock;
use altlayer_core::transaction::{RecoveryBackend, recover_all, recover_all_serial};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

fn recover(c: &mut Criterion) {
    let fixture = TransferBlock::new(1_000, 1_000);
    let mut group = c.benchmark_group("recover");
    group.throughput(Throughput::Elements(fixture.txs.len() as u64));
    for (name, backend) in [
        ("libsecp256k1", RecoveryBackend::Libsecp256k1),
        ("k256", RecoveryBackend::K256),
    ] {
        group.bench_function(format!("{name}/serial"), |b| {
            b.iter_batched(
                || fixture.txs.clone(),
                |txs| recover_all_serial(txs, backend),
                BatchSize::LargeInput,
            )
        });
        group.bench_function(format!("{name}/parallel"), |b| {
            b.iter_batched(
                || fixture.txs.clone(),
                |txs| recover_all(txs, backend),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, recover);
criterion_main!(benches);
