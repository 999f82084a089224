//! Quorum certificates (threshold boundary, bitmaps), ECDSA certificates, and the aggregator
//! (bad signatures found by bisection, duplicates, unknown signers, windows, expiry, several
//! quorums).

use alloy_primitives::{Address, B256, U256};
use altlayer_avs::{
    Aggregator, AggregatorError, AggregatorEvent, EcdsaCertificate, EcdsaCollector, EcdsaError,
    QcError, Quorum, QuorumCertificate, Roster, RosterEntry, SignerBitmap, StakeSnapshot,
    TaskConfig, Threshold,
    bls::{SecretKey, Signature},
};
use altlayer_core::{RollupId, dev::DevAccount};
use altlayer_staking::{OperatorSetId, Service};
use proptest::prelude::*;
use std::sync::Arc;

fn snapshot(service: Service) -> StakeSnapshot {
    StakeSnapshot::new(OperatorSetId::new(service, RollupId(1)), 5)
}

fn keys(n: usize) -> Vec<SecretKey> {
    (0..n)
        .map(|i| SecretKey::from_seed(&(i as u32).to_be_bytes()).unwrap())
        .collect()
}

/// A roster of operators `Address::repeat_byte(i + 1)` with the given stakes, in order.
fn roster(keys: &[SecretKey], stakes: &[u64], service: Service) -> Roster {
    Roster::new(
        snapshot(service),
        keys.iter()
            .zip(stakes)
            .enumerate()
            .map(|(i, (k, s))| RosterEntry {
                operator: Address::repeat_byte(i as u8 + 1),
                stake: U256::from(*s),
                key: Some(k.public_key_g2()),
            })
            .collect(),
    )
}

fn certificate(
    keys: &[SecretKey],
    roster: &Roster,
    digest: B256,
    who: &[usize],
) -> QuorumCertificate {
    let mut signers = SignerBitmap::new(roster.len());
    for i in who {
        signers.set(*i);
    }
    QuorumCertificate {
        digest,
        snapshot: roster.snapshot(),
        signers,
        signature: Signature::aggregate(
            &who.iter()
                .map(|i| keys[*i].sign(&digest))
                .collect::<Vec<_>>(),
        ),
    }
}

#[test]
fn the_threshold_is_inclusive_at_exactly_66_percent() {
    let t = Threshold::default();
    assert_eq!(t, Threshold::new(66).unwrap());
    // signed x 100 >= total x 66
    assert!(t.is_met(U256::from(66), U256::from(100)));
    assert!(!t.is_met(U256::from(65), U256::from(100)));
    assert!(t.is_met(U256::from(198), U256::from(300)));
    assert!(!t.is_met(U256::from(197), U256::from(300)));
    assert!(!t.is_met(U256::ZERO, U256::ZERO), "no stake, no quorum");
    // No overflow at the top of the range.
    assert!(t.is_met(U256::MAX, U256::MAX));
    assert!(!t.is_met(U256::MAX / U256::from(2), U256::MAX));
    assert_eq!(
        Threshold::new(0),
        Err(altlayer_core::params::InvalidThreshold(0))
    );
    // The BFT rule is strict: exactly two thirds is not enough, one more unit is.
    let bft = Threshold::MORE_THAN_TWO_THIRDS;
    assert!(!bft.is_met(U256::from(200), U256::from(300)));
    assert!(bft.is_met(U256::from(201), U256::from(300)));
    assert!(!Threshold::MORE_THAN_ONE_THIRD.is_met(U256::from(100), U256::from(300)));
    assert!(Threshold::MORE_THAN_ONE_THIRD.is_met(U256::from(101), U256::from(300)));
    assert_eq!(
        Threshold::new(101),
        Err(altlayer_core::params::InvalidThreshold(101))
    );

    // The boundary through a whole certificate: stakes 66 and 34 of 100.
    let k = keys(2);
    let r = roster(&k, &[66, 34], Service::Mach);
    let digest = B256::repeat_byte(1);
    assert_eq!(
        certificate(&k, &r, digest, &[0]).verify(&r, t),
        Ok(U256::from(66))
    );
    let r = roster(&k, &[65, 35], Service::Mach);
    assert_eq!(
        certificate(&k, &r, digest, &[0]).verify(&r, t),
        Err(QcError::BelowThreshold {
            signed: U256::from(65),
            total: U256::from(100),
            threshold: Threshold::default()
        })
    );
}

#[test]
fn bitmaps_must_fit_the_roster_exactly() {
    let k = keys(10);
    let r = roster(&k, &[10; 10], Service::Mach);
    let digest = B256::repeat_byte(2);
    let good = certificate(&k, &r, digest, &[0, 1, 2, 3, 4, 5, 6, 7, 9]);
    assert_eq!(good.verify(&r, Threshold::default()), Ok(U256::from(90)));

    let mut long = good.clone();
    long.signers = SignerBitmap::from_bytes(vec![0xff, 0x03, 0x00]);
    assert_eq!(
        long.verify(&r, Threshold::default()),
        Err(QcError::BitmapLength {
            expected: 2,
            got: 3
        })
    );
    let mut beyond = good.clone();
    beyond.signers = SignerBitmap::from_bytes(vec![0xff, 0x07]);
    assert_eq!(
        beyond.verify(&r, Threshold::default()),
        Err(QcError::BitOutOfRange(10))
    );
    let mut none = good.clone();
    none.signers = SignerBitmap::new(10);
    assert!(none.verify(&r, Threshold::default()).is_err());
    // Claiming a signer who did not sign breaks the aggregate.
    let mut claimed = good.clone();
    claimed.signers.set(8);
    assert_eq!(
        claimed.verify(&r, Threshold::default()),
        Err(QcError::BadSignature)
    );
    // Another snapshot's roster.
    let other = roster(&k, &[10; 10], Service::Vital);
    assert!(matches!(
        good.verify(&other, Threshold::default()),
        Err(QcError::WrongSnapshot { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any signer subset: the certificate verifies exactly when its stake meets the
    /// threshold, whether the key is summed from signers or from all minus non-signers.
    #[test]
    fn certificates_verify_exactly_when_the_threshold_is_met(
        stakes in prop::collection::vec(1u64..1_000, 1..12),
        mask in any::<u16>(),
    ) {
        let k = keys(stakes.len());
        let r = roster(&k, &stakes, Service::Mach);
        let who: Vec<usize> = (0..stakes.len()).filter(|i| mask & (1 << i) != 0).collect();
        prop_assume!(!who.is_empty());
        let digest = B256::repeat_byte(3);
        let signed: u64 = who.iter().map(|i| stakes[*i]).sum();
        let total: u64 = stakes.iter().sum();
        let result = certificate(&k, &r, digest, &who).verify(&r, Threshold::default());
        if signed * 100 >= total * 66 {
            prop_assert_eq!(result, Ok(U256::from(signed)));
        } else {
            let is_below = matches!(result, Err(QcError::BelowThreshold { .. }));
            prop_assert!(is_below);
        }
    }
}

fn task(roster: &Arc<Roster>, digest: B256, window_ms: u64) -> TaskConfig {
    TaskConfig {
        digest,
        quorums: vec![Quorum {
            roster: roster.clone(),
            threshold: Threshold::default(),
        }],
        time_to_live_ms: 1_000,
        window_ms,
    }
}

#[test]
fn bad_signatures_are_found_excluded_and_reported_and_the_rest_certifies() {
    let k = keys(12);
    let r = Arc::new(roster(&k, &[10; 12], Service::Mach));
    let digest = B256::repeat_byte(4);
    let mut a = Aggregator::new();
    a.new_task(0, task(&r, digest, 0)).unwrap();
    // Operators 3 and 7 sign something else; everyone else is honest.
    let mut events = Vec::new();
    for (i, key) in k.iter().enumerate() {
        let signature = if i == 3 || i == 7 {
            key.sign(&B256::ZERO)
        } else {
            key.sign(&digest)
        };
        match a.add_signature(1, digest, Address::repeat_byte(i as u8 + 1), signature) {
            Ok(out) => events.extend(out),
            Err(AggregatorError::TaskClosed(_)) => {}
            Err(other) => panic!("{other}"),
        }
    }
    let bad: Vec<Address> = events
        .iter()
        .filter_map(|e| match e {
            AggregatorEvent::InvalidSignature { signer, .. } => Some(*signer),
            _ => None,
        })
        .collect();
    assert_eq!(bad, vec![Address::repeat_byte(4), Address::repeat_byte(8)]);
    let Some(AggregatorEvent::Certified { certificates, .. }) = events.last() else {
        panic!("not certified: {events:?}");
    };
    assert_eq!(
        certificates[0].verify(&r, Threshold::default()),
        Ok(U256::from(80))
    );
    assert!(!certificates[0].signers.get(3) && !certificates[0].signers.get(7));
}

#[test]
fn refusals_duplicates_unknown_signers_windows_and_expiry() {
    let k = keys(4);
    let r = Arc::new(roster(&k, &[10; 4], Service::Mach));
    let digest = B256::repeat_byte(5);
    let mut a = Aggregator::new();
    a.new_task(0, task(&r, digest, 50)).unwrap();
    assert_eq!(
        a.new_task(0, task(&r, digest, 50)),
        Err(AggregatorError::DuplicateTask(digest))
    );
    let sign = |i: usize| k[i].sign(&digest);
    let op = |i: usize| Address::repeat_byte(i as u8 + 1);
    assert!(
        a.add_signature(1, digest, op(0), sign(0))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        a.add_signature(1, digest, op(0), sign(0)),
        Err(AggregatorError::DuplicateSigner(op(0)))
    );
    assert_eq!(
        a.add_signature(1, digest, Address::repeat_byte(0x99), sign(1)),
        Err(AggregatorError::UnknownSigner(Address::repeat_byte(0x99)))
    );
    assert_eq!(
        a.add_signature(1, B256::ZERO, op(1), sign(1)),
        Err(AggregatorError::UnknownTask(B256::ZERO))
    );
    // Threshold (3 of 4) reached at t = 2; the window keeps it open until t = 52.
    assert!(
        a.add_signature(2, digest, op(1), sign(1))
            .unwrap()
            .is_empty()
    );
    assert!(
        a.add_signature(2, digest, op(2), sign(2))
            .unwrap()
            .is_empty()
    );
    assert_eq!(a.next_deadline(), Some(52));
    assert!(
        a.add_signature(30, digest, op(3), sign(3))
            .unwrap()
            .is_empty()
    );
    let events = a.tick(52);
    let [AggregatorEvent::Certified { certificates, .. }] = events.as_slice() else {
        panic!("{events:?}");
    };
    assert_eq!(
        certificates[0].signers.count(),
        4,
        "the window let the fourth in"
    );
    assert_eq!(
        a.add_signature(53, digest, op(3), sign(3)),
        Err(AggregatorError::TaskClosed(digest))
    );
    assert_eq!(
        a.new_task(60, task(&r, digest, 0)),
        Err(AggregatorError::DuplicateTask(digest))
    );

    // A task that never reaches its threshold expires with what it had.
    let lonely = B256::repeat_byte(6);
    a.new_task(100, task(&r, lonely, 0)).unwrap();
    a.add_signature(101, lonely, op(0), k[0].sign(&lonely))
        .unwrap();
    assert!(a.tick(1_099).is_empty());
    let events = a.tick(1_100);
    assert_eq!(
        events,
        vec![AggregatorEvent::Expired {
            digest: lonely,
            signed: vec![(r.snapshot(), U256::from(10), U256::from(40))]
        }]
    );
    assert_eq!(a.open_tasks(), 0);
}

#[test]
fn every_quorum_must_reach_its_own_threshold() {
    let k = keys(6);
    // Quorum A: operators 1..=4 (10 each); quorum B: operators 3..=6 (10 each), 100 %.
    let a_roster = Arc::new(roster(&k[..4], &[10; 4], Service::Mach));
    let b_roster = Arc::new(Roster::new(
        snapshot(Service::Vital),
        (2..6)
            .map(|i| RosterEntry {
                operator: Address::repeat_byte(i as u8 + 1),
                stake: U256::from(10),
                key: Some(k[i].public_key_g2()),
            })
            .collect(),
    ));
    let digest = B256::repeat_byte(7);
    let mut agg = Aggregator::new();
    agg.new_task(
        0,
        TaskConfig {
            digest,
            quorums: vec![
                Quorum {
                    roster: a_roster.clone(),
                    threshold: Threshold::default(),
                },
                Quorum {
                    roster: b_roster.clone(),
                    threshold: Threshold::new(100).unwrap(),
                },
            ],
            time_to_live_ms: 1_000,
            window_ms: 0,
        },
    )
    .unwrap();
    let mut events = Vec::new();
    for (i, key) in k.iter().enumerate() {
        events.extend(
            agg.add_signature(
                1,
                digest,
                Address::repeat_byte(i as u8 + 1),
                key.sign(&digest),
            )
            .unwrap(),
        );
        if i < 5 {
            assert!(events.is_empty(), "B needs all four of its operators");
        }
    }
    let [AggregatorEvent::Certified { certificates, .. }] = events.as_slice() else {
        panic!("{events:?}");
    };
    assert_eq!(
        certificates[0].verify(&a_roster, Threshold::default()),
        Ok(U256::from(40))
    );
    assert_eq!(
        certificates[1].verify(&b_roster, Threshold::new(100).unwrap()),
        Ok(U256::from(40))
    );
}

#[test]
fn ecdsa_certificates_recover_distinct_operators_in_parallel() {
    let accounts = DevAccount::many(5);
    let snap = snapshot(Service::Squad);
    let r = Roster::new(
        snap,
        accounts
            .iter()
            .map(|a| RosterEntry {
                operator: a.address,
                stake: U256::from(20),
                key: None,
            })
            .collect(),
    );
    let digest = B256::repeat_byte(8);
    let mut collector = EcdsaCollector::new(digest, snap);
    for a in &accounts[..4] {
        assert_eq!(collector.add(&r, a.sign_hash(&digest)), Ok(a.address));
    }
    assert_eq!(
        collector.add(&r, accounts[0].sign_hash(&digest)),
        Err(EcdsaError::DuplicateSigner(accounts[0].address))
    );
    let outsider = DevAccount::new(99);
    assert!(matches!(
        collector.add(&r, outsider.sign_hash(&digest)),
        Err(EcdsaError::NotAnOperator { .. })
    ));
    assert_eq!(collector.signed(), U256::from(80));
    let certificate = collector.finish(&r, Threshold::default()).unwrap();
    assert_eq!(
        certificate.verify(&r, Threshold::default()),
        Ok(U256::from(80))
    );
    assert_eq!(
        certificate.verify_serial(&r, Threshold::default()),
        Ok(U256::from(80))
    );

    // A forged list: the same signature twice, or too few signers.
    let twice = EcdsaCertificate {
        signatures: vec![
            accounts[0].sign_hash(&digest),
            accounts[0].sign_hash(&digest),
        ],
        ..certificate.clone()
    };
    assert_eq!(
        twice.verify(&r, Threshold::default()),
        Err(EcdsaError::DuplicateSigner(accounts[0].address))
    );
    let short = EcdsaCertificate {
        signatures: certificate.signatures[..3].to_vec(),
        ..certificate
    };
    assert!(matches!(
        short.verify(&r, Threshold::default()),
        Err(EcdsaError::Quorum(QcError::BelowThreshold { .. }))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10))]

    /// Whatever subset of 16 signers sends bad signatures, the aggregator reports exactly
    /// that subset (those it received before it certified), never an honest signer, and
    /// certifies exactly when the honest stake meets the threshold.
    #[test]
    fn bisection_finds_exactly_the_bad_signers(bad_mask in any::<u16>(), order in Just(()).prop_perturb(|_, mut rng| {
        let mut order: Vec<usize> = (0..16).collect();
        for i in (1..16).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
        order
    })) {
        let k = keys(16);
        let r = Arc::new(roster(&k, &[10; 16], Service::Mach));
        let digest = B256::repeat_byte(9);
        let mut a = Aggregator::new();
        a.new_task(0, task(&r, digest, 0)).unwrap();
        let is_bad = |i: usize| bad_mask & (1 << i) != 0;
        let mut events = Vec::new();
        let mut received = Vec::new();
        for i in order {
            let signature = if is_bad(i) { k[i].sign(&B256::ZERO) } else { k[i].sign(&digest) };
            match a.add_signature(1, digest, Address::repeat_byte(i as u8 + 1), signature) {
                Ok(out) => {
                    received.push(i);
                    events.extend(out);
                }
                Err(AggregatorError::TaskClosed(_)) => {}
                Err(other) => panic!("{other}"),
            }
        }
        events.extend(a.tick(2_000));
        let reported: Vec<Address> = events.iter().filter_map(|e| match e {
            AggregatorEvent::InvalidSignature { signer, .. } => Some(*signer),
            _ => None,
        }).collect();
        // Reports are bad signers the aggregator received, each once.
        let mut seen = std::collections::BTreeSet::new();
        for signer in &reported {
            let i = usize::from(signer.0[0]) - 1;
            prop_assert!(is_bad(i), "honest signer {} reported", i);
            prop_assert!(received.contains(&i) && seen.insert(i));
        }
        let certified = events.iter().find_map(|e| match e {
            AggregatorEvent::Certified { certificates, .. } => Some(certificates[0].clone()),
            _ => None,
        });
        let honest = (0..16).filter(|i| !is_bad(*i)).count();
        prop_assert_eq!(certified.is_some(), honest * 100 >= 16 * 66);
        if let Some(certificate) = certified {
            // Only honest signers in it, and it verifies.
            prop_assert!(certificate.signers.ones().all(|i| !is_bad(i)));
            prop_assert!(certificate.verify(&r, Threshold::default()).is_ok());
        }
    }
}
