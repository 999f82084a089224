//! BLS aggregation for MACH at 10, 100 and 1,000 signers: signing, aggregating, verifying a
//! quorum certificate, and the aggregator taking in every signature of a task, against
//! eigensdk-rs's approach (every signature verified on arrival with two pairings). And an
//! ECDSA certificate of 100 signers, recovered in parallel and serially.

use alloy_primitives::{Address, B256, U256};
use altlayer_avs::{
    Aggregator, AggregatorEvent, EcdsaCertificate, Quorum, QuorumCertificate, Roster, RosterEntry,
    SignerBitmap, StakeSnapshot, TaskConfig, Threshold,
    bls::{self, PublicKeyG2, SecretKey, Signature},
};
use altlayer_core::{RollupId, dev::DevAccount};
use altlayer_staking::{OperatorSetId, Service};
use ark_bn254::{Bn254, G2Affine};
use ark_ec::{AffineRepr, pairing::Pairing};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::{hint::black_box, sync::Arc, time::Duration};

const SIZES: [usize; 3] = [10, 100, 1_000];
const ECDSA_SIGNERS: u64 = 100;

struct Fixture {
    digest: B256,
    keys: Vec<PublicKeyG2>,
    signatures: Vec<Signature>,
    roster: Arc<Roster>,
}

fn operator(i: usize) -> Address {
    let mut bytes = [0u8; 20];
    bytes[12..].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    Address::from(bytes)
}

fn fixture(n: usize) -> Fixture {
    let digest = B256::repeat_byte(0x4d);
    let secrets: Vec<_> = (0..n)
        .map(|i| SecretKey::from_seed(&(i as u64).to_be_bytes()).expect("nonzero"))
        .collect();
    let keys: Vec<_> = secrets.iter().map(SecretKey::public_key_g2).collect();
    let signatures = secrets.iter().map(|s| s.sign(&digest)).collect();
    let snapshot = StakeSnapshot::new(OperatorSetId::new(Service::Mach, RollupId(1)), 0);
    let roster = Roster::new(
        snapshot,
        keys.iter()
            .enumerate()
            .map(|(i, k)| RosterEntry {
                operator: operator(i),
                stake: U256::from(1_000),
                key: Some(*k),
            })
            .collect(),
    );
    Fixture {
        digest,
        keys,
        signatures,
        roster: Arc::new(roster),
    }
}

/// eigensdk-rs's check of one incoming signature: `e(pk, H(m)) == e(g2, sigma)`, two
/// pairings.
fn anchor_verify(key: &PublicKeyG2, digest: &B256, signature: &Signature) -> bool {
    let point = bls::hash_to_g1(digest);
    Bn254::pairing(point, *key.point()) == Bn254::pairing(*signature.point(), G2Affine::generator())
}

fn certificate(f: &Fixture, signers: usize) -> QuorumCertificate {
    let mut bitmap = SignerBitmap::new(f.roster.len());
    for i in 0..signers {
        bitmap.set(i);
    }
    QuorumCertificate {
        digest: f.digest,
        snapshot: f.roster.snapshot(),
        signers: bitmap,
        signature: Signature::aggregate(&f.signatures[..signers]),
    }
}

fn task(f: &Fixture) -> TaskConfig {
    TaskConfig {
        digest: f.digest,
        quorums: vec![Quorum {
            roster: f.roster.clone(),
            // Every signature must come in before the certificate.
            threshold: Threshold::new(100).expect("valid"),
        }],
        time_to_live_ms: 60_000,
        window_ms: 0,
    }
}

fn aggregation(c: &mut Criterion) {
    let mut group = c.benchmark_group("aggregation");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));

    let one = fixture(1);
    let secret = SecretKey::from_seed(b"bench").expect("nonzero");
    group.bench_function("sign", |b| b.iter(|| secret.sign(black_box(&one.digest))));
    group.bench_function("verify_single", |b| {
        b.iter(|| bls::verify(&one.keys[0], black_box(&one.digest), &one.signatures[0]))
    });
    group.bench_function("verify_single_anchor_two_pairings", |b| {
        b.iter(|| anchor_verify(&one.keys[0], black_box(&one.digest), &one.signatures[0]))
    });

    for n in SIZES {
        let f = fixture(n);
        group.bench_function(format!("aggregate/{n}"), |b| {
            b.iter(|| Signature::aggregate(black_box(&f.signatures)))
        });
        let all = certificate(&f, n);
        let two_thirds = certificate(&f, (n * 2).div_ceil(3) + 1);
        assert!(all.verify(&f.roster, Threshold::default()).is_ok());
        assert!(two_thirds.verify(&f.roster, Threshold::default()).is_ok());
        group.bench_function(format!("qc_verify/{n}/all_signed"), |b| {
            b.iter(|| all.verify(black_box(&f.roster), Threshold::default()))
        });
        group.bench_function(format!("qc_verify/{n}/two_thirds_signed"), |b| {
            b.iter(|| two_thirds.verify(black_box(&f.roster), Threshold::default()))
        });
        group.bench_function(format!("intake/{n}/aggregator"), |b| {
            b.iter_batched(
                Aggregator::new,
                |mut aggregator| {
                    aggregator.new_task(0, task(&f)).expect("new task");
                    let mut certified = false;
                    for (i, signature) in f.signatures.iter().enumerate() {
                        let events = aggregator
                            .add_signature(1, f.digest, operator(i), *signature)
                            .expect("accepted");
                        certified |= events
                            .iter()
                            .any(|e| matches!(e, AggregatorEvent::Certified { .. }));
                    }
                    assert!(certified);
                },
                BatchSize::SmallInput,
            )
        });
        group.bench_function(format!("intake/{n}/anchor_verify_each"), |b| {
            b.iter(|| {
                let mut sum = Vec::with_capacity(n);
                for (key, signature) in f.keys.iter().zip(&f.signatures) {
                    assert!(anchor_verify(key, &f.digest, signature));
                    sum.push(*signature);
                }
                Signature::aggregate(&sum)
            })
        });
    }

    // ECDSA: 100 signers, recovered on all cores and on one.
    let accounts = DevAccount::many(ECDSA_SIGNERS);
    let digest = B256::repeat_byte(0xec);
    let snapshot = StakeSnapshot::new(OperatorSetId::new(Service::Squad, RollupId(1)), 0);
    let roster = Roster::new(
        snapshot,
        accounts
            .iter()
            .map(|a| RosterEntry {
                operator: a.address,
                stake: U256::from(1),
                key: None,
            })
            .collect(),
    );
    let ecdsa = EcdsaCertificate {
        digest,
        snapshot,
        signatures: accounts.iter().map(|a| a.sign_hash(&digest)).collect(),
    };
    group.finish();
    // Two cores shared with the host: parallel timings are noisy, so more and longer samples.
    let mut group = c.benchmark_group("aggregation");
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(8));
    group.bench_function(format!("ecdsa/{ECDSA_SIGNERS}/parallel"), |b| {
        b.iter(|| ecdsa.verify(black_box(&roster), Threshold::default()))
    });
    group.bench_function(format!("ecdsa/{ECDSA_SIGNERS}/serial"), |b| {
        b.iter(|| ecdsa.verify_serial(black_box(&roster), Threshold::default()))
    });
    group.finish();
}

criterion_group!(benches, aggregation);
criterion_main!(benches);
