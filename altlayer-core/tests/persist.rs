//! A rollup over a store resumes from its records: stopped part-way (with the store a block
//! ahead of the records, as a crash between the block's commit and the records leaves it),
//! built afresh and restored, it goes on to the very chain, batches and finality of a rollup
//! that never stopped.

use alloy_primitives::{Address, B256, U256};
use altlayer_core::{
    EvmStateTransition, RollupConfig,
    dev::{DevAccount, dev_state_transition},
    persist::{PersistError, Replicas},
    rollup::{DefaultRollup, Input, RECORDS, Rollup, RollupEvent, RollupSettings, recorded_head},
    storage::{MemoryStore, ProtocolStore, StateStore},
    transaction::{RecoveryBackend, recover},
};
use std::sync::Arc;

const CHAIN: u64 = 1_337;
const ACCOUNTS: u64 = 4;
const ROUNDS: u64 = 12;

fn settings() -> RollupSettings {
    RollupSettings {
        blocks_per_batch: 2,
        // Batches are final 3 s after their commit: some are final when the rollup stops,
        // some are not.
        challenge_window_secs: 3,
        move_timeout_secs: 0,
        ..Default::default()
    }
}

/// A rollup built from genesis over `store` (writing the genesis if the store is empty).
fn build(store: &Arc<MemoryStore>) -> DefaultRollup {
    let config = RollupConfig::default();
    let genesis = if store.head().unwrap().is_none() {
        dev_state_transition(config, ACCOUNTS)
            .store_genesis(store.clone())
            .unwrap()
    } else {
        EvmStateTransition::open_at(config, store.clone(), 0).unwrap()
    };
    Rollup::builder(genesis, settings()).build().unwrap()
}

/// One transfer from every account (nonce `round`), then a tick at second `round + 1`.
fn round(rollup: &mut DefaultRollup, round: u64) -> Vec<RollupEvent> {
    for (i, account) in DevAccount::many(ACCOUNTS).iter().enumerate() {
        let to = Address::with_last_byte(0x80 + i as u8);
        let tx = account.transfer(CHAIN, round, to, U256::from(1_000 + round));
        rollup
            .submit(recover(tx, RecoveryBackend::Libsecp256k1).unwrap())
            .unwrap();
    }
    rollup
        .handle_locally(Input::Tick {
            now_ms: (round + 1) * 1_000,
        })
        .unwrap()
}

/// The blocks' hashes and the finalized heights among `events`.
fn summary(events: &[RollupEvent]) -> (Vec<B256>, Vec<u64>) {
    let blocks = events
        .iter()
        .filter_map(|e| match e {
            RollupEvent::Block { hash, .. } => Some(*hash),
            _ => None,
        })
        .collect();
    let finalized = events
        .iter()
        .filter_map(|e| match e {
            RollupEvent::Finalized { height } => Some(*height),
            _ => None,
        })
        .collect();
    (blocks, finalized)
}

fn write(store: &MemoryStore, rollup: &DefaultRollup) {
    store.save_records(&rollup.persist().unwrap()).unwrap();
}

#[test]
fn a_rollup_resumes_from_its_records_to_the_chain_it_would_have_built() {
    // The rollup that never stops.
    let reference_store = Arc::new(MemoryStore::archive());
    let mut reference = build(&reference_store);
    let mut expected = Vec::new();
    for r in 0..ROUNDS {
        expected.push(summary(&round(&mut reference, r)));
    }

    // The one that stops after round 5, records written; round 6's block reaches the store
    // but not the records (the crash comes between them).
    let store = Arc::new(MemoryStore::archive());
    let mut rollup = build(&store);
    for r in 0..6 {
        assert_eq!(summary(&round(&mut rollup, r)), expected[r as usize]);
    }
    write(&store, &rollup);
    round(&mut rollup, 6);
    assert_eq!(store.head().unwrap().unwrap().height, 7);
    drop(rollup);

    // Restart: the store goes back to the recorded head, a rollup is built afresh from
    // genesis and restored.
    let head = recorded_head(&store.record("rollup").unwrap().unwrap()).unwrap();
    assert_eq!(head.height, 6);
    store.unwind(head.height).unwrap();
    let mut resumed = build(&store);
    let records = |name: &'static str| Ok::<_, PersistError>(store.record(name)?);
    resumed
        .restore(
            &records,
            &Replicas::new(RollupConfig::default(), store.clone()),
        )
        .unwrap();
    assert_eq!(resumed.head().hash(), head.hash);
    for r in 6..ROUNDS {
        assert_eq!(
            summary(&round(&mut resumed, r)),
            expected[r as usize],
            "round {r} after the restart"
        );
    }
    assert_eq!(resumed.head(), reference.head());
    assert_eq!(
        resumed.settlement().final_height(),
        reference.settlement().final_height()
    );
    assert!(resumed.settlement().final_height().is_some());
    // Every record the rollup writes is named in RECORDS.
    let names: Vec<&str> = resumed.persist().unwrap().iter().map(|(n, _)| *n).collect();
    assert_eq!(names, RECORDS);
}

#[test]
fn records_that_do_not_decode_or_are_missing_are_refused() {
    let store = Arc::new(MemoryStore::archive());
    let mut rollup = build(&store);
    round(&mut rollup, 0);
    write(&store, &rollup);
    let replicas = Replicas::new(RollupConfig::default(), store.clone());
    let mut fresh = build(&store);
    let missing = |name: &'static str| {
        Ok::<_, PersistError>(if name == "verifier" {
            None
        } else {
            store.record(name)?
        })
    };
    assert_eq!(
        fresh.restore(&missing, &replicas).unwrap_err(),
        PersistError::Missing("verifier")
    );
    let mut fresh = build(&store);
    let garbled = |name: &'static str| {
        Ok::<_, PersistError>(if name == "settlement" {
            Some(b"{not json".to_vec())
        } else {
            store.record(name)?
        })
    };
    assert!(matches!(
        fresh.restore(&garbled, &replicas).unwrap_err(),
        PersistError::Decode {
            what: "settlement",
            ..
        }
    ));
    assert!(matches!(
        recorded_head(b"[]"),
        Err(PersistError::Decode { what: "rollup", .. })
    ));
}
