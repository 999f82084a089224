//! The rosters and MACH contracts on anvil, through the bindings, with certificates the Rust
//! side makes: fast finality, alerts, the threshold's exact boundary, the hand-over to the
//! next epoch, and every refusal. Each call's gas is printed (`--nocapture`).

mod common;

use alloy_primitives::{B256, U256};
use alloy_provider::Provider;
use altlayer_avs::mach::{Alert, AlertKind, FinalityVote};
use altlayer_core::params::Threshold;
use altlayer_l1::{
    bindings::{
        mach::MachServiceManager,
        rosters::Rosters::{self, RostersErrors},
    },
    handoff_digest,
};
use common::*;

fn vote(height: u64, epoch: u64) -> FinalityVote {
    FinalityVote {
        chain_id: CHAIN_ID,
        rollup: ROLLUP,
        height,
        block_hash: B256::repeat_byte(height as u8),
        state_root: B256::repeat_byte(0x50 + height as u8),
        snapshot_height: epoch,
    }
}

/// The contracts' error in a failed call.
fn rosters_error(error: alloy_contract::Error) -> RostersErrors {
    error
        .as_decoded_interface_error::<RostersErrors>()
        .unwrap_or_else(|| panic!("not a Rosters error: {error}"))
}

fn mach_error(error: alloy_contract::Error) -> MachServiceManager::MachServiceManagerErrors {
    error
        .as_decoded_interface_error::<MachServiceManager::MachServiceManagerErrors>()
        .unwrap_or_else(|| panic!("not a MachServiceManager error: {error}"))
}

#[tokio::test]
async fn a_certificate_made_in_rust_makes_a_block_fast_final_on_the_l1() {
    let l1 = L1::start(epoch_sets(1, &[25, 25, 25, 25])).await;
    mine(&l1.provider).await;
    let rosters = Rosters::new(l1.deployment.rosters, &l1.provider);
    let mach = MachServiceManager::new(l1.deployment.mach, &l1.provider);
    let set = l1.mach_set();
    // The contract keeps the hash the Rust side computes, and signs what the Rust side signs.
    assert_eq!(
        rosters
            .hashRoster(set.l1().into_sol())
            .call()
            .await
            .unwrap(),
        set.l1().hash()
    );
    assert_eq!(
        rosters.rosterHash(2, 1).call().await.unwrap(),
        set.l1().hash()
    );
    let vote = vote(5, 1);
    assert_eq!(
        mach.voteDigest(5, vote.block_hash, vote.state_root, 1)
            .call()
            .await
            .unwrap(),
        vote.digest()
    );
    for (signers, what) in [
        (&[0, 1, 2, 3][..], "all 4 signing"),
        (&[0, 1, 3][..], "3 of 4"),
    ] {
        let height = 5 + signers.len() as u64;
        let vote = self::vote(height, 1);
        let certificate = set.certify(vote.digest(), signers);
        let receipt = mach
            .confirmFastFinality(
                height,
                vote.block_hash,
                vote.state_root,
                set.l1().into_sol().into(),
                certificate.into(),
            )
            .mined()
            .await;
        println!("gas: confirmFastFinality, {what}: {}", gas_of(&receipt));
        let fast = mach.fastFinal(height).call().await.unwrap();
        assert_eq!(
            (fast.blockHash, fast.stateRoot, fast.epoch),
            (vote.block_hash, vote.state_root, 1)
        );
        assert!(
            mach.isFastFinal(height, vote.block_hash)
                .call()
                .await
                .unwrap()
        );
    }
    assert_eq!(mach.latestFastFinalHeight().call().await.unwrap(), 9);
    // The same block again, and another block at a fast-final height, are refused.
    let again = self::vote(9, 1);
    let certificate = set.certify(again.digest(), &[0, 1, 2, 3]);
    let error = mach
        .confirmFastFinality(
            9,
            again.block_hash,
            again.state_root,
            set.l1().into_sol().into(),
            certificate.into(),
        )
        .call()
        .await
        .unwrap_err();
    assert!(matches!(
        mach_error(error),
        MachServiceManager::MachServiceManagerErrors::AlreadyConfirmed(_)
    ));
    let other = FinalityVote {
        block_hash: B256::repeat_byte(0xee),
        ..again
    };
    let certificate = set.certify(other.digest(), &[0, 1, 2, 3]);
    let error = mach
        .confirmFastFinality(
            9,
            other.block_hash,
            other.state_root,
            set.l1().into_sol().into(),
            certificate.into(),
        )
        .call()
        .await
        .unwrap_err();
    assert!(matches!(
        mach_error(error),
        MachServiceManager::MachServiceManagerErrors::ConflictingFinality(_)
    ));
}

#[tokio::test]
async fn the_threshold_is_inclusive_at_66_percent_as_in_rust() {
    // 32 + 33 + 1 = 66 of 100 signs; 32 + 33 = 65 does not.
    let l1 = L1::start(epoch_sets(1, &[32, 33, 1, 34])).await;
    mine(&l1.provider).await;
    let rosters = Rosters::new(l1.deployment.rosters, &l1.provider);
    let set = l1.mach_set();
    let digest = vote(3, 1).digest();
    let threshold = Threshold::new(66).unwrap();
    let total = U256::from(100);
    let signed = rosters
        .checkCertificate(
            set.l1().into_sol(),
            digest,
            set.certify(digest, &[0, 1, 2]),
            66,
        )
        .call()
        .await
        .unwrap();
    assert_eq!(signed, U256::from(66));
    assert!(
        threshold.is_met(signed, total),
        "Rust agrees at the boundary"
    );
    let error = rosters
        .checkCertificate(
            set.l1().into_sol(),
            digest,
            set.certify(digest, &[0, 1]),
            66,
        )
        .call()
        .await
        .unwrap_err();
    match rosters_error(error) {
        RostersErrors::BelowThreshold(e) => {
            assert_eq!((e.signed, e.total, e.percent), (U256::from(65), total, 66));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        !threshold.is_met(U256::from(65), total),
        "Rust agrees below it"
    );
    // 100 % needs every stake; a threshold outside 1..=100 is refused.
    let all = set.certify(digest, &[0, 1, 2, 3]);
    assert_eq!(
        rosters
            .checkCertificate(set.l1().into_sol(), digest, all.clone(), 100)
            .call()
            .await
            .unwrap(),
        total
    );
    for percent in [0, 101] {
        let error = rosters
            .checkCertificate(set.l1().into_sol(), digest, all.clone(), percent)
            .call()
            .await
            .unwrap_err();
        assert!(matches!(
            rosters_error(error),
            RostersErrors::InvalidThreshold(_)
        ));
    }
}

#[tokio::test]
async fn certificates_for_another_chain_rollup_or_epoch_are_refused() {
    let l1 = L1::start(epoch_sets(1, &[25, 25, 25, 25])).await;
    mine(&l1.provider).await;
    let mach = MachServiceManager::new(l1.deployment.mach, &l1.provider);
    let set = l1.mach_set();
    let good = vote(4, 1);
    let others = [
        FinalityVote {
            chain_id: CHAIN_ID + 1,
            ..good
        },
        FinalityVote {
            rollup: altlayer_core::RollupId(ROLLUP.0 + 1),
            ..good
        },
        FinalityVote {
            snapshot_height: 2,
            ..good
        },
    ];
    for other in others {
        let certificate = set.certify(other.digest(), &[0, 1, 2, 3]);
        let error = mach
            .confirmFastFinality(
                4,
                good.block_hash,
                good.state_root,
                set.l1().into_sol().into(),
                certificate.into(),
            )
            .call()
            .await
            .unwrap_err();
        assert!(
            matches!(rosters_error(error), RostersErrors::BadSignature(_)),
            "{other:?}"
        );
    }
    // A roster the contract does not hold (stakes changed) is refused before any signature.
    let mut forged = set.clone();
    forged.members[0].1 = U256::from(1_000);
    let certificate = forged.certify(good.digest(), &[0]);
    let error = mach
        .confirmFastFinality(
            4,
            good.block_hash,
            good.state_root,
            forged.l1().into_sol().into(),
            certificate.into(),
        )
        .call()
        .await
        .unwrap_err();
    assert!(matches!(
        rosters_error(error),
        RostersErrors::UnknownRoster(_)
    ));
    // A roster of another service.
    let squad = &l1.sets[0];
    let certificate = squad.certify(good.digest(), &[0, 1, 2, 3]);
    let error = mach
        .confirmFastFinality(
            4,
            good.block_hash,
            good.state_root,
            squad.l1().into_sol().into(),
            certificate.into(),
        )
        .call()
        .await
        .unwrap_err();
    assert!(matches!(
        mach_error(error),
        MachServiceManager::MachServiceManagerErrors::NotMach(_)
    ));
}

#[tokio::test]
async fn the_rosters_hand_over_only_with_a_certificate_of_the_current_mach_set() {
    let l1 = L1::start(epoch_sets(1, &[25, 25, 25, 25])).await;
    mine(&l1.provider).await;
    let rosters = Rosters::new(l1.deployment.rosters, &l1.provider);
    let mach = MachServiceManager::new(l1.deployment.mach, &l1.provider);
    let current = l1.mach_set();
    let next = epoch_sets(9, &[40, 30, 20, 10, 5]);
    let next_l1: Vec<_> = next
        .iter()
        .map(|s| s.l1().operators_sol().to_vec())
        .collect();
    let hashes = [
        next[0].l1().hash(),
        next[1].l1().hash(),
        next[2].l1().hash(),
    ];
    let digest = handoff_digest(CHAIN_ID, ROLLUP, 9, hashes);
    assert_eq!(
        rosters.handoffDigest(9, hashes).call().await.unwrap(),
        digest
    );
    // Signed by keys outside the current set, claiming its operators (everyone signed, and
    // the "proof" is the current set's root): a forgery.
    let mut forged =
        Set::new(1, current.service, 50, &[25, 25, 25, 25]).certify(digest, &[0, 1, 2, 3]);
    forged.proof = vec![current.l1().as_sol().operatorsRoot];
    let error = rosters
        .advanceEpoch(9, next_l1.clone(), current.l1().into_sol(), forged)
        .call()
        .await
        .unwrap_err();
    assert!(matches!(
        rosters_error(error),
        RostersErrors::BadSignature(_)
    ));
    // The current set, below the threshold.
    let error = rosters
        .advanceEpoch(
            9,
            next_l1.clone(),
            current.l1().into_sol(),
            current.certify(digest, &[0, 1]),
        )
        .call()
        .await
        .unwrap_err();
    assert!(matches!(
        rosters_error(error),
        RostersErrors::BelowThreshold(_)
    ));
    // The current set over other hashes.
    let other = handoff_digest(CHAIN_ID, ROLLUP, 10, hashes);
    let error = rosters
        .advanceEpoch(
            9,
            next_l1.clone(),
            current.l1().into_sol(),
            current.certify(other, &[0, 1, 2]),
        )
        .call()
        .await
        .unwrap_err();
    assert!(matches!(
        rosters_error(error),
        RostersErrors::BadSignature(_)
    ));
    // The real hand-over.
    let receipt = rosters
        .advanceEpoch(
            9,
            next_l1.clone(),
            current.l1().into_sol(),
            current.certify(digest, &[0, 1, 2]),
        )
        .mined()
        .await;
    println!(
        "gas: advanceEpoch (3 rosters of 4, 2 and 5 operators): {}",
        gas_of(&receipt)
    );
    assert_eq!(rosters.currentEpoch().call().await.unwrap(), 9);
    for (i, hash) in hashes.iter().enumerate() {
        assert_eq!(rosters.rosterHash(i as u8, 9).call().await.unwrap(), *hash);
    }
    // Replaying it, or handing over to an older epoch, is refused.
    let error = rosters
        .advanceEpoch(
            9,
            next_l1,
            current.l1().into_sol(),
            current.certify(digest, &[0, 1, 2]),
        )
        .call()
        .await
        .unwrap_err();
    assert!(matches!(rosters_error(error), RostersErrors::WrongEpoch(_)));
    // The old set no longer certifies; the new one does, from the next L1 block.
    mine(&l1.provider).await;
    let vote = vote(20, 1);
    let error = mach
        .confirmFastFinality(
            20,
            vote.block_hash,
            vote.state_root,
            current.l1().into_sol().into(),
            current.certify(vote.digest(), &[0, 1, 2, 3]).into(),
        )
        .call()
        .await
        .unwrap_err();
    assert!(matches!(
        mach_error(error),
        MachServiceManager::MachServiceManagerErrors::NotCurrentEpoch(_)
    ));
    let vote = FinalityVote {
        snapshot_height: 9,
        ..vote
    };
    let receipt = mach
        .confirmFastFinality(
            20,
            vote.block_hash,
            vote.state_root,
            next[2].l1().into_sol().into(),
            next[2].certify(vote.digest(), &[0, 1]).into(),
        )
        .mined()
        .await;
    gas_of(&receipt);
}

#[tokio::test]
async fn alerts_are_confirmed_queried_and_resolved() {
    let l1 = L1::start(epoch_sets(1, &[25, 25, 25, 25])).await;
    mine(&l1.provider).await;
    let mach = MachServiceManager::new(l1.deployment.mach, &l1.provider);
    let set = l1.mach_set();
    let alert = Alert {
        chain_id: CHAIN_ID,
        rollup: ROLLUP,
        height: 12,
        block_hash: B256::repeat_byte(0xbb),
        kind: AlertKind::StateRootMismatch {
            invalid_root: B256::repeat_byte(1),
            expected_root: B256::repeat_byte(2),
        },
        snapshot_height: 1,
    };
    let sol_alert = MachServiceManager::Alert {
        height: 12,
        blockHash: alert.block_hash,
        kind: 1,
        invalid: B256::repeat_byte(1),
        expected: B256::repeat_byte(2),
        snapshotHeight: 1,
    };
    assert_eq!(
        mach.alertDigest(sol_alert.clone()).call().await.unwrap(),
        alert.digest()
    );
    assert!(!mach.hasActiveAlerts().call().await.unwrap());
    let certificate = set.certify(alert.digest(), &[1, 2, 3]);
    let receipt = mach
        .confirmAlert(
            sol_alert.clone(),
            set.l1().into_sol().into(),
            certificate.clone().into(),
        )
        .mined()
        .await;
    println!("gas: confirmAlert, 3 of 4: {}", gas_of(&receipt));
    assert!(mach.hasActiveAlerts().call().await.unwrap());
    assert_eq!(mach.totalAlerts().call().await.unwrap(), U256::from(1));
    assert!(mach.contains(alert.digest()).call().await.unwrap());
    assert_eq!(
        mach.queryMessageHashes(U256::ZERO, U256::from(10))
            .call()
            .await
            .unwrap(),
        vec![alert.digest()]
    );
    assert!(
        mach.queryMessageHashes(U256::from(1), U256::from(10))
            .call()
            .await
            .unwrap()
            .is_empty()
    );
    // Confirmed once; the alerted block never becomes fast-final.
    let error = mach
        .confirmAlert(
            sol_alert.clone(),
            set.l1().into_sol().into(),
            certificate.into(),
        )
        .call()
        .await
        .unwrap_err();
    assert!(matches!(
        mach_error(error),
        MachServiceManager::MachServiceManagerErrors::AlreadyConfirmed(_)
    ));
    let vote = FinalityVote {
        block_hash: alert.block_hash,
        ..vote(12, 1)
    };
    let error = mach
        .confirmFastFinality(
            12,
            vote.block_hash,
            vote.state_root,
            set.l1().into_sol().into(),
            set.certify(vote.digest(), &[0, 1, 2, 3]).into(),
        )
        .call()
        .await
        .unwrap_err();
    assert!(matches!(
        mach_error(error),
        MachServiceManager::MachServiceManagerErrors::BlockAlerted(_)
    ));
    // An alert whose snapshot is not the roster's epoch, or of an unknown kind.
    for bad in [
        MachServiceManager::Alert {
            snapshotHeight: 2,
            ..sol_alert.clone()
        },
        MachServiceManager::Alert {
            kind: 3,
            ..sol_alert.clone()
        },
    ] {
        let certificate = set.certify(alert.digest(), &[0, 1, 2, 3]);
        let error = mach
            .confirmAlert(bad, set.l1().into_sol().into(), certificate.into())
            .call()
            .await
            .unwrap_err();
        assert!(matches!(
            mach_error(error),
            MachServiceManager::MachServiceManagerErrors::WrongSnapshot(_)
                | MachServiceManager::MachServiceManagerErrors::InvalidAlertKind(_)
        ));
    }
    // Only the resolver (here the deployer) ends an alert.
    let stranger = l1.anvil.addresses()[3];
    let error = mach
        .resolveAlert(alert.digest())
        .from(stranger)
        .call()
        .await
        .unwrap_err();
    assert!(matches!(
        mach_error(error),
        MachServiceManager::MachServiceManagerErrors::Unauthorized(_)
    ));
    let receipt = mach.resolveAlert(alert.digest()).mined().await;
    println!("gas: resolveAlert: {}", gas_of(&receipt));
    assert!(!mach.hasActiveAlerts().call().await.unwrap());
    assert!(mach.contains(alert.digest()).call().await.unwrap());
}

#[tokio::test]
async fn malformed_certificates_and_too_recent_rosters_are_refused() {
    let l1 = L1::start(epoch_sets(1, &[20, 20, 20, 20, 20, 20, 20, 20, 20])).await;
    let rosters = Rosters::new(l1.deployment.rosters, &l1.provider);
    let mach = MachServiceManager::new(l1.deployment.mach, &l1.provider);
    let set = l1.mach_set();
    let digest = vote(2, 1).digest();
    mine(&l1.provider).await;
    let good = set.certify(digest, &[0, 1, 2, 3, 4, 5, 6]);
    rosters
        .checkCertificate(set.l1().into_sol(), digest, good.clone(), 66)
        .call()
        .await
        .unwrap();
    // Seven of nine sign: the two non-signers are listed, with the multiproof.
    assert!(!good.signersListed);
    assert_eq!(good.listed.len(), 2);
    let mut forged_stake = good.clone();
    forged_stake.listed[0].stake = U256::ZERO;
    let mut reversed = good.clone();
    reversed.listed.reverse();
    let mut dropped = good.clone();
    dropped.listed.pop();
    let flipped = Rosters::Certificate {
        signersListed: true,
        ..good.clone()
    };
    let nobody = Rosters::Certificate {
        signersListed: true,
        listed: Vec::new(),
        proof: vec![set.l1().as_sol().operatorsRoot],
        proofFlags: Vec::new(),
        ..good.clone()
    };
    let cases = [
        (
            forged_stake,
            "a non-signer's stake changed: not the roster's",
        ),
        (reversed, "non-signers out of order"),
        (dropped, "a non-signer left out of its multiproof"),
        (flipped, "the non-signers claimed as the signers"),
        (nobody, "no signer"),
    ];
    for (certificate, what) in cases {
        let error = rosters
            .checkCertificate(set.l1().into_sol(), digest, certificate, 66)
            .call()
            .await
            .unwrap_err();
        let error = rosters_error(error);
        assert!(
            matches!(
                error,
                RostersErrors::NotInRoster(_)
                    | RostersErrors::UnsortedOperators(_)
                    | RostersErrors::BelowThreshold(_)
                    | RostersErrors::NoSigners(_)
            ),
            "{what}: {error:?}"
        );
    }
    // Leaving a non-signer out of the list (its multiproof rebuilt for the one left) would
    // count its stake as signed: the signature then does not verify.
    let set_l1 = set.l1();
    let mut bitmap = altlayer_avs::qc::SignerBitmap::new(9);
    for i in 0..8 {
        bitmap.set(i);
    }
    let liar = set_l1
        .certificate(
            &bitmap,
            &set.rust().aggregate_key(&bitmap).unwrap(),
            &altlayer_core::bls::Signature::aggregate(
                &(0..7)
                    .map(|i| set.members[i].2.sign(&digest))
                    .collect::<Vec<_>>(),
            ),
        )
        .unwrap();
    let error = rosters
        .checkCertificate(set.l1().into_sol(), digest, liar, 66)
        .call()
        .await
        .unwrap_err();
    assert!(matches!(
        rosters_error(error),
        RostersErrors::BadSignature(_)
    ));
    // The first rosters are set once, by the deployer.
    let initial: Vec<_> = l1
        .sets
        .iter()
        .map(|s| s.l1().operators_sol().to_vec())
        .collect();
    let error = rosters
        .initialize(1, initial.clone())
        .call()
        .await
        .unwrap_err();
    assert!(matches!(
        rosters_error(error),
        RostersErrors::AlreadyInitialized(_)
    ));
    let error = rosters
        .initialize(1, initial)
        .from(l1.anvil.addresses()[4])
        .call()
        .await
        .unwrap_err();
    assert!(matches!(
        rosters_error(error),
        RostersErrors::NotDeployer(_)
    ));
    // A signature point off the curve: the precompile refuses it.
    let off_curve = Rosters::Certificate {
        sigma: altlayer_l1::bindings::rosters::BN254::G1Point {
            X: U256::from(1),
            Y: U256::from(3),
        },
        ..good.clone()
    };
    assert!(
        rosters
            .checkCertificate(set.l1().into_sol(), digest, off_curve, 66)
            .call()
            .await
            .is_err()
    );
    // MACH refuses a threshold above 100 % at deployment.
    let error = MachServiceManager::deploy(&l1.provider, l1.deployment.rosters, 101)
        .await
        .unwrap_err();
    assert!(matches!(
        mach_error(error),
        MachServiceManager::MachServiceManagerErrors::InvalidThreshold(_)
    ));
    let _ = mach;
}

#[tokio::test]
async fn a_roster_certifies_nothing_in_the_l1_block_that_accepts_it() {
    let l1 = L1::start(epoch_sets(1, &[25, 25, 25, 25])).await;
    mine(&l1.provider).await;
    let rosters = Rosters::new(l1.deployment.rosters, &l1.provider);
    let mach = MachServiceManager::new(l1.deployment.mach, &l1.provider);
    let current = l1.mach_set();
    let next = epoch_sets(2, &[50, 50]);
    let hashes = [
        next[0].l1().hash(),
        next[1].l1().hash(),
        next[2].l1().hash(),
    ];
    let digest = handoff_digest(CHAIN_ID, ROLLUP, 2, hashes);
    let vote = FinalityVote {
        snapshot_height: 2,
        ..vote(30, 2)
    };
    let confirm = || {
        mach.confirmFastFinality(
            30,
            vote.block_hash,
            vote.state_root,
            next[2].l1().into_sol().into(),
            next[2].certify(vote.digest(), &[0, 1]).into(),
        )
        .gas(2_000_000)
    };
    // The hand-over and a certificate of the new set in one L1 block: the certificate fails.
    l1.provider
        .raw_request::<_, serde_json::Value>("evm_setAutomine".into(), (false,))
        .await
        .unwrap();
    let handoff = rosters
        .advanceEpoch(
            2,
            next.iter()
                .map(|s| s.l1().operators_sol().to_vec())
                .collect(),
            current.l1().into_sol(),
            current.certify(digest, &[0, 1, 2]),
        )
        .gas(5_000_000)
        .send()
        .await
        .unwrap();
    let early = confirm().send().await.unwrap();
    mine(&l1.provider).await;
    let (handoff, early) = (
        handoff.get_receipt().await.unwrap(),
        early.get_receipt().await.unwrap(),
    );
    assert_eq!(handoff.block_number, early.block_number, "one block");
    assert!(handoff.status());
    assert!(
        !early.status(),
        "a roster accepted in this block signs nothing yet"
    );
    // From the next block it does.
    let late = confirm().send().await.unwrap();
    mine(&l1.provider).await;
    assert!(late.get_receipt().await.unwrap().status());
}
