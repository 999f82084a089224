//! A restaked rollup run in process (a SQUAD set of four, a MACH committee of four, VITAL,
//! the ALT ledger) over a store resumes from its records after a crash: the store a step
//! ahead of the records (the crash came between a block's commit and the records) is taken
//! back, the rollup is built afresh and restored, and it goes on — every transaction sent is
//! included once, no height is built twice, nobody equivocates, fast finality and L1
//! finality go on.

use alloy_primitives::{Address, B256, U256};
use altlayer_avs::{
    mach::committee::{CommitteeConfig, MachCommittee},
    restaked::{Restaked, RestakedConfig, alt},
    squad::sequencer::{SquadSequencer, SquadSequencerConfig},
    vital::operator::{Conduct, VitalOperator},
};
use altlayer_core::{
    EvmStateTransition, RollupConfig, StateTransition,
    da::InMemoryDa,
    dev::{DevAccount, dev_state_transition},
    execution::ExecuteOptions,
    persist::{PersistError, Replicas},
    rollup::{Input, Rollup, RollupEvent, RollupSettings, recorded_head},
    settlement::LocalSettlement,
    storage::{ChainStore, MemoryStore, ProtocolStore, StateStore},
    transaction::{RecoveryBackend, recover},
};
use std::{collections::BTreeMap, sync::Arc};

const CHAIN: u64 = 1_337;
const ACCOUNTS: u64 = 4;
const BLOCK_MS: u64 = 500;
const START_MS: u64 = 1_700_000_000_000;

type Restaked4 = Rollup<
    SquadSequencer<EvmStateTransition>,
    VitalOperator,
    MachCommittee,
    altlayer_avs::ledger::AltStake,
    InMemoryDa,
    LocalSettlement,
>;

/// The rollup built from genesis over `store` (written there when the store is empty), its
/// clocks at `now_ms`.
fn build(store: &Arc<MemoryStore>, now_ms: u64) -> Restaked4 {
    let config = RollupConfig::default();
    let genesis = if store.head().unwrap().is_none() {
        dev_state_transition(config, ACCOUNTS)
            .store_genesis(store.clone())
            .unwrap()
    } else {
        EvmStateTransition::open_at(config, store.clone(), 0).unwrap()
    };
    let operators = Restaked::dev(&RestakedConfig::default()).unwrap();
    let settings = RollupSettings {
        blocks_per_batch: 2,
        block_time_ms: BLOCK_MS,
        challenge_window_secs: 3,
        move_timeout_secs: 0,
        challenge_bond: alt(1_000),
        proposer: operators.proposer,
        operator: operators.proposer,
        verifier: operators.verifier,
        ..Default::default()
    };
    let (squad_roster, sequencers) = operators.squad.clone().unwrap();
    let (mach_roster, mach_operators) = operators.mach.clone();
    let squad = SquadSequencer::new(
        genesis.clone(),
        SquadSequencerConfig {
            block_time_ms: BLOCK_MS,
            network_delay_ms: 5,
            coinbase: operators.proposer,
            intermediate_roots: true,
            ..Default::default()
        },
        squad_roster,
        sequencers,
        now_ms,
    )
    .unwrap();
    let mach = MachCommittee::new(
        CommitteeConfig {
            delay_ms: 5,
            challenge_window: settings.challenge_window_secs,
            ..Default::default()
        },
        mach_roster,
        mach_operators,
        &genesis,
    );
    let vital = VitalOperator::new(
        operators.verifier,
        alt(1_000),
        Conduct::Honest,
        genesis.clone(),
        0,
    );
    Rollup::builder(genesis, settings)
        .sequencer(squad)
        .finality(mach)
        .verifier(vital)
        .ledger(operators.ledger)
        .build()
        .unwrap()
}

/// What a run saw.
#[derive(Default)]
struct Seen {
    /// Height -> hash of every block built.
    blocks: BTreeMap<u64, B256>,
    /// Heights built more than once.
    rebuilt: Vec<u64>,
    fast: Vec<u64>,
    finalized: Option<u64>,
    evidence: usize,
}

impl Seen {
    fn take(&mut self, events: &[RollupEvent]) {
        for event in events {
            match event {
                RollupEvent::Block { built, hash } => {
                    let height = built.block.header.height;
                    if self.blocks.insert(height, *hash).is_some() {
                        self.rebuilt.push(height);
                    }
                }
                RollupEvent::FastFinal { height, .. } => self.fast.push(*height),
                RollupEvent::Finalized { height } => self.finalized = Some(*height),
                RollupEvent::Evidence(_) => self.evidence += 1,
                _ => {}
            }
        }
    }
}

/// Runs the rollup from `from_ms` to `until_ms` in steps of a tenth of a block time, sending
/// one transfer from every account (with the next nonce) every block time; after each step
/// that produced events, `after` sees the rollup (to write its records).
fn run(
    rollup: &mut Restaked4,
    seen: &mut Seen,
    from_ms: u64,
    until_ms: u64,
    mut after: impl FnMut(&Restaked4),
) {
    let mut now = from_ms;
    while now < until_ms {
        if now.is_multiple_of(BLOCK_MS) {
            for (i, account) in DevAccount::many(ACCOUNTS).iter().enumerate() {
                let nonce = rollup.pool_nonce(&account.address).unwrap();
                let to = Address::with_last_byte(0x80 + i as u8);
                let tx = account.transfer(CHAIN, nonce, to, U256::from(1_000));
                // A transfer already pooled with this nonce is refused: no matter.
                let _ = rollup.submit(recover(tx, RecoveryBackend::Libsecp256k1).unwrap());
            }
        }
        now += BLOCK_MS / 10;
        let events = rollup.handle_locally(Input::Tick { now_ms: now }).unwrap();
        seen.take(&events);
        if !events.is_empty() {
            after(rollup);
        }
    }
}

fn write(store: &MemoryStore, rollup: &Restaked4) {
    store.save_records(&rollup.persist().unwrap()).unwrap();
}

#[test]
fn a_restaked_rollup_resumes_from_its_records_without_equivocating() {
    let store = Arc::new(MemoryStore::archive());
    let mut rollup = build(&store, START_MS);
    let mut seen = Seen::default();
    // Records after every step that produced events, as the node writes them.
    run(
        &mut rollup,
        &mut seen,
        START_MS,
        START_MS + 12 * BLOCK_MS,
        |rollup| write(&store, rollup),
    );
    let stopped = rollup.head().height;
    assert!(stopped >= 8, "blocks before the crash: {stopped}");
    assert!(
        !seen.fast.is_empty(),
        "no block fast-final before the crash"
    );
    // The crash comes after the next steps' blocks reach the store, before their records.
    let recorded = recorded_head(&store.record("rollup").unwrap().unwrap()).unwrap();
    let before_crash = START_MS + 14 * BLOCK_MS;
    run(
        &mut rollup,
        &mut Seen::default(),
        START_MS + 12 * BLOCK_MS,
        before_crash,
        |_| {},
    );
    assert!(store.head().unwrap().unwrap().height > recorded.height);
    drop(rollup);

    // The restart, two seconds later: the store goes back to the recorded head, the rollup
    // is built afresh and restored.
    store.unwind(recorded.height).unwrap();
    let restarted = before_crash + 2_000;
    let mut resumed = build(&store, restarted);
    let records = |name: &'static str| Ok::<_, PersistError>(store.record(name)?);
    resumed
        .restore(
            &records,
            &Replicas::new(RollupConfig::default(), store.clone()),
        )
        .unwrap();
    assert_eq!(resumed.head().hash(), recorded.hash);
    // What was seen past the records never left the process: forget it.
    seen.blocks.split_off(&(recorded.height + 1));
    let fast_before = seen.fast.len();

    // The clock jumps to the restart; the rollup goes on.
    let mut after_restart = Seen::default();
    run(
        &mut resumed,
        &mut after_restart,
        restarted,
        restarted + 16 * BLOCK_MS,
        |_| {},
    );

    // No height built twice, no gap: the chain continues from the recorded head, at about
    // one block per block time (the set does not make up the blocks of its downtime).
    assert!(
        after_restart.rebuilt.is_empty(),
        "{:?}",
        after_restart.rebuilt
    );
    let heights: Vec<u64> = after_restart.blocks.keys().copied().collect();
    assert_eq!(heights.first(), Some(&(recorded.height + 1)));
    assert!(heights.windows(2).all(|w| w[1] == w[0] + 1));
    assert!(
        (12..=17).contains(&heights.len()),
        "{} blocks in 16 block times after the restart",
        heights.len()
    );
    // Nobody equivocated: no evidence, before or after.
    assert_eq!(seen.evidence + after_restart.evidence, 0);
    // Fast finality goes on for blocks built after the restart, and so does L1 finality.
    assert!(
        after_restart.fast.iter().any(|h| *h > recorded.height + 1),
        "fast-final after the restart: {:?} (before: {fast_before})",
        after_restart.fast
    );
    assert!(after_restart.finalized > seen.finalized);
    // Every block is the store's, and re-executing the stored chain from genesis gives the
    // head's state root.
    let mut replay = dev_state_transition(RollupConfig::default(), ACCOUNTS);
    let head = resumed.head().height;
    for height in 1..=head {
        let block = store.block(height).unwrap().unwrap().block;
        if let Some(hash) = after_restart.blocks.get(&height) {
            assert_eq!(block.hash(), *hash, "block {height}");
        }
        replay
            .execute_block_recovering(&block, ExecuteOptions::default())
            .unwrap();
    }
    assert_eq!(replay.state_root(), resumed.head().state_root);
    // Every account's transfers went in once each, in nonce order: the head's nonces are
    // the number of transfers included.
    let included: usize = (1..=head)
        .map(|h| store.block(h).unwrap().unwrap().block.transactions.len())
        .sum();
    let nonces: u64 = DevAccount::many(ACCOUNTS)
        .iter()
        .map(|a| resumed.state_transition().nonce(&a.address).unwrap())
        .sum();
    assert_eq!(included as u64, nonces);
}

#[test]
fn records_that_are_not_the_sets_are_refused_and_change_nothing() {
    let store = Arc::new(MemoryStore::archive());
    let mut rollup = build(&store, START_MS);
    run(
        &mut rollup,
        &mut Seen::default(),
        START_MS,
        START_MS + 4 * BLOCK_MS,
        |rollup| write(&store, rollup),
    );
    let replicas = Replicas::new(RollupConfig::default(), store.clone());
    let head = rollup.head();
    // A single sequencer's record where the set's is expected, and garbage for MACH's.
    for (name, bytes) in [
        (
            "sequencer",
            br#"{"head":{"height":0,"hash":"0x00"},"next_block_ms":null}"#.to_vec(),
        ),
        ("finality", b"{not json".to_vec()),
        ("finality", br#"{"tiers":1}"#.to_vec()),
    ] {
        let mut fresh = build(&store, START_MS);
        let records = |wanted: &'static str| {
            Ok::<_, PersistError>(if wanted == name {
                Some(bytes.clone())
            } else {
                store.record(wanted)?
            })
        };
        let error = fresh.restore(&records, &replicas).unwrap_err();
        assert!(
            matches!(error, PersistError::Decode { what, .. } if what == name),
            "{name}: {error}"
        );
    }
    // The set's own record puts it back at the head it was written at.
    let mut fresh = build(&store, START_MS);
    let records = |name: &'static str| Ok::<_, PersistError>(store.record(name)?);
    fresh.restore(&records, &replicas).unwrap();
    assert_eq!(fresh.head(), head);
}

#[test]
fn a_revert_after_a_restart_builds_the_reverted_blocks_again() {
    // The first sequencer credits itself outside any transaction before block `bad`; the
    // node stops as soon as the block is built (before MACH's alert reaches a challenge)
    // and resumes: the set's record no longer holds the decision of the block the revert
    // takes back.
    let store = Arc::new(MemoryStore::archive());
    let mut rollup = build(&store, START_MS);
    let mut seen = Seen::default();
    let records = |rollup: &Restaked4| write(&store, rollup);
    run(
        &mut rollup,
        &mut seen,
        START_MS,
        START_MS + 4 * BLOCK_MS,
        records,
    );
    let bad = rollup.head().height + 2;
    let thief = rollup.settings().proposer;
    rollup
        .sequencer_mut()
        .member_mut(0)
        .unwrap()
        .state_transition_mut()
        .credit_before(bad, thief, alt(1_000));
    let mut now = START_MS + 4 * BLOCK_MS;
    while rollup.head().height < bad {
        run(&mut rollup, &mut seen, now, now + BLOCK_MS / 10, records);
        now += BLOCK_MS / 10;
    }
    let bad_hash = seen.blocks[&bad];
    assert!(seen.rebuilt.is_empty());
    drop(rollup);

    let mut resumed = build(&store, now);
    let read = |name: &'static str| Ok::<_, PersistError>(store.record(name)?);
    resumed
        .restore(
            &read,
            &Replicas::new(RollupConfig::default(), store.clone()),
        )
        .unwrap();
    let mut after = Seen::default();
    let mut rewound = None;
    for _ in 0..40 {
        let events = (0..10)
            .flat_map(|_| {
                now += BLOCK_MS / 10;
                resumed.handle_locally(Input::Tick { now_ms: now }).unwrap()
            })
            .collect::<Vec<_>>();
        after.take(&events);
        rewound = rewound.or(events.iter().find_map(|e| match e {
            RollupEvent::Rewound { height, .. } => Some(*height),
            _ => None,
        }));
        if rewound.is_some() && resumed.head().height > bad + 2 {
            break;
        }
    }
    assert_eq!(rewound, Some(bad - 1), "the bad block is reverted");
    // The block at `bad` was built again, right this time, and the chain goes on from it.
    let rebuilt = store.block(bad).unwrap().unwrap().block;
    assert_ne!(rebuilt.hash(), bad_hash);
    assert!(resumed.head().height > bad + 2);
    let mut replay = dev_state_transition(RollupConfig::default(), ACCOUNTS);
    for height in 1..=resumed.head().height {
        let block = store.block(height).unwrap().unwrap().block;
        replay
            .execute_block_recovering(&block, ExecuteOptions::default())
            .unwrap_or_else(|e| panic!("block {height}: {e}"));
    }
    assert_eq!(replay.state_root(), resumed.head().state_root);
}
