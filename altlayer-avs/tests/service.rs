//! The tokio service: tasks and signatures through the handle, events on the receiver,
//! expiry driven by the runtime's clock, refusals answered to the caller.

use alloy_primitives::{Address, B256, U256};
use altlayer_avs::{
    AggregatorError, AggregatorEvent, Quorum, Roster, RosterEntry, StakeSnapshot, TaskConfig,
    Threshold, bls::SecretKey, service,
};
use altlayer_core::RollupId;
use altlayer_staking::{OperatorSetId, Service};
use std::{sync::Arc, time::Duration};

fn setup() -> (Vec<SecretKey>, Arc<Roster>) {
    let keys: Vec<_> = (1..=4u8)
        .map(|i| SecretKey::from_seed(&[i]).unwrap())
        .collect();
    let snapshot = StakeSnapshot::new(OperatorSetId::new(Service::Mach, RollupId(1)), 0);
    let roster = Roster::new(
        snapshot,
        keys.iter()
            .enumerate()
            .map(|(i, k)| RosterEntry {
                operator: Address::repeat_byte(i as u8 + 1),
                stake: U256::from(25),
                key: Some(k.public_key_g2()),
            })
            .collect(),
    );
    (keys, Arc::new(roster))
}

fn config(roster: &Arc<Roster>, digest: B256, ttl: u64, window: u64) -> TaskConfig {
    TaskConfig {
        digest,
        quorums: vec![Quorum {
            roster: roster.clone(),
            threshold: Threshold::default(),
        }],
        time_to_live_ms: ttl,
        window_ms: window,
    }
}

#[tokio::test]
async fn the_service_certifies_expires_and_refuses() {
    let (keys, roster) = setup();
    let (handle, mut events, task) = service::spawn(16);
    let op = |i: usize| Address::repeat_byte(i as u8 + 1);

    // Certified after a 30 ms window that lets the fourth signature in.
    let digest = B256::repeat_byte(1);
    handle
        .initialize_task(config(&roster, digest, 10_000, 30))
        .await
        .unwrap();
    for (i, key) in keys.iter().enumerate() {
        handle
            .process_signature(digest, op(i), key.sign(&digest))
            .await
            .unwrap();
    }
    match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
        Ok(Some(AggregatorEvent::Certified { certificates, .. })) => {
            assert_eq!(certificates[0].signers.count(), 4);
        }
        other => panic!("{other:?}"),
    }

    // Refusals come back to the caller.
    assert_eq!(
        handle
            .initialize_task(config(&roster, digest, 10_000, 0))
            .await,
        Err(service::ServiceError::Aggregator(
            AggregatorError::DuplicateTask(digest)
        ))
    );
    assert_eq!(
        handle
            .process_signature(B256::ZERO, op(0), keys[0].sign(&B256::ZERO))
            .await,
        Err(service::ServiceError::Aggregator(
            AggregatorError::UnknownTask(B256::ZERO)
        ))
    );

    // A task with one signature expires on the runtime's clock.
    let lonely = B256::repeat_byte(2);
    handle
        .initialize_task(config(&roster, lonely, 50, 0))
        .await
        .unwrap();
    handle
        .process_signature(lonely, op(0), keys[0].sign(&lonely))
        .await
        .unwrap();
    match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
        Ok(Some(AggregatorEvent::Expired { digest, signed })) => {
            assert_eq!(digest, lonely);
            assert_eq!(signed[0].1, U256::from(25));
        }
        other => panic!("{other:?}"),
    }

    // Dropping every handle stops the service.
    drop(handle);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}
