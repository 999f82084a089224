//! MACH in process with 4, 16 and 64 operators over blocks produced by core's state
//! transition: honest finality, crashes below and above the threshold's complement, a wrong
//! state root alerted for good, equivocation slashed, and votes that never verify elsewhere.

use alloy_primitives::{Address, B256, U256};
use altlayer_avs::{
    Aggregator, AggregatorError, AggregatorEvent, FinalityVote, MachError, MachFinality,
    MachMessage, MachOperator, MachStatus, Quorum, QuorumCertificate, Roster, SignerBitmap,
    SignerState, StakeSnapshot, TaskConfig, Threshold, VoteBook,
    bls::SecretKey,
    mach::mach_set,
    restaked::{DEV_AUTHORITY, dev_ledger, stake_operator},
};
use altlayer_core::{
    EvmStateTransition, RollupConfig, RollupId,
    dev::{DevAccount, dev_state_transition},
    execution::{BlockAttributes, ExecuteOptions},
    finality::{FinalityGadget, FinalityStatus},
    primitives::Block,
    transaction::{RecoveryBackend, recover},
};
use altlayer_staking::{AltLedger, Evidence, OperatorKey, StakingParams};
use std::{collections::BTreeMap, sync::Arc};

const AUTHORITY: Address = DEV_AUTHORITY;
const CHAIN: u64 = 1_337;
const ROLLUP: RollupId = RollupId(1);
const SNAPSHOT: u64 = 0;

struct Net {
    ledger: AltLedger,
    keys: Vec<SecretKey>,
    operators: Vec<MachOperator<EvmStateTransition>>,
    roster: Arc<Roster>,
    sequencer: EvmStateTransition,
    users: Vec<DevAccount>,
    nonce: u64,
    gadget: MachFinality,
    aggregator: Aggregator,
    book: VoteBook,
    now: u64,
    /// How long the aggregator keeps collecting after the threshold.
    window_ms: u64,
}

fn operator_address(i: usize) -> Address {
    DevAccount::new(10_000 + i as u64).address
}

/// `n` MACH operators with BLS keys; operator `i` has `stake(i)` ALT delegated to it.
fn net(n: usize, stake: impl Fn(usize) -> u64) -> Net {
    let mach = mach_set(ROLLUP);
    let mut ledger = dev_ledger(StakingParams::default(), CHAIN, &[mach]).unwrap();
    let keys: Vec<_> = (0..n)
        .map(|i| SecretKey::from_seed(&(i as u64).to_be_bytes()).unwrap())
        .collect();
    let config = RollupConfig::default();
    let sequencer = dev_state_transition(config.clone(), 4);
    let mut operators = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let address = operator_address(i);
        let registration = OperatorKey::bn254(key.register(CHAIN, address));
        stake_operator(
            &mut ledger,
            address,
            registration,
            U256::from(stake(i)),
            mach,
        )
        .unwrap();
        operators.push(MachOperator::new(
            address,
            key.clone(),
            sequencer.clone(),
            SignerState::default(),
        ));
    }
    ledger.advance(1, 12).unwrap();
    let roster =
        Arc::new(Roster::from_ledger(&ledger, StakeSnapshot::new(mach, SNAPSHOT)).unwrap());
    assert_eq!(roster.len(), n);
    Net {
        ledger,
        keys,
        operators,
        roster,
        sequencer,
        users: DevAccount::many(4),
        nonce: 0,
        gadget: MachFinality::new(CHAIN, ROLLUP, Threshold::default(), 3_600),
        aggregator: Aggregator::new(),
        book: VoteBook::new(),
        now: 0,
        window_ms: 0,
    }
}

impl Net {
    /// The sequencer's next block: two transfers.
    fn produce(&mut self) -> Block {
        let (alice, bob) = (&self.users[0], &self.users[1]);
        let txs = (0..2)
            .map(|k| {
                let tx = alice.transfer(CHAIN, self.nonce + k, bob.address, U256::from(1));
                recover(tx, RecoveryBackend::Libsecp256k1).unwrap()
            })
            .collect();
        self.nonce += 2;
        let timestamp = self.sequencer.head().timestamp + 1;
        let built = self
            .sequencer
            .build_block(
                BlockAttributes {
                    timestamp,
                    sequencer: Address::repeat_byte(0x5e),
                    ..Default::default()
                },
                txs,
                ExecuteOptions::default(),
            )
            .unwrap();
        assert!(built.rejected.is_empty());
        built.block
    }

    /// Publishes `block`: every operator with `online(i)` re-executes it and signs; the
    /// signatures go through the aggregator; certificates go to the gadget. Returns the
    /// messages signed and the aggregator's events.
    fn publish(
        &mut self,
        block: &Block,
        online: impl Fn(usize) -> bool,
    ) -> (Vec<MachMessage>, Vec<AggregatorEvent>) {
        self.gadget.on_header(&block.header);
        self.now += 1_000;
        let mut messages = Vec::new();
        for (i, operator) in self.operators.iter_mut().enumerate() {
            if !online(i) {
                continue;
            }
            if let Ok(message) = operator.on_block(block, SNAPSHOT) {
                messages.push(message);
            }
        }
        let mut events = Vec::new();
        let mut by_digest: BTreeMap<B256, MachMessage> = BTreeMap::new();
        for message in &messages {
            let digest = message.digest();
            if let std::collections::btree_map::Entry::Vacant(entry) = by_digest.entry(digest) {
                self.aggregator
                    .new_task(
                        self.now,
                        TaskConfig {
                            digest,
                            quorums: vec![Quorum {
                                roster: self.roster.clone(),
                                threshold: Threshold::default(),
                            }],
                            time_to_live_ms: 500,
                            window_ms: self.window_ms,
                        },
                    )
                    .unwrap();
                entry.insert(message.clone());
            }
            if let MachMessage::Vote {
                vote,
                signer,
                signature,
            } = message
            {
                assert!(self.book.record(*signer, *vote, *signature).is_none());
            }
            // Signatures after the certificate are late: refused, and harmless.
            match self.aggregator.add_signature(
                self.now,
                digest,
                message.signer(),
                message.signature(),
            ) {
                Ok(out) => events.extend(out),
                Err(AggregatorError::TaskClosed(_)) => {}
                Err(other) => panic!("{other}"),
            }
        }
        events.extend(self.aggregator.tick(self.now + 500));
        for event in &events {
            if let AggregatorEvent::Certified {
                digest,
                certificates,
            } = event
            {
                match &by_digest[digest] {
                    MachMessage::Vote { vote, .. } => self
                        .gadget
                        .on_vote_certificate(*vote, certificates[0].clone(), &self.roster)
                        .unwrap(),
                    MachMessage::Alert { alert, .. } => {
                        self.gadget
                            .on_alert_certificate(*alert, certificates[0].clone(), &self.roster)
                            .unwrap();
                    }
                }
            }
        }
        (messages, events)
    }
}

fn certified(events: &[AggregatorEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, AggregatorEvent::Certified { .. }))
        .count()
}

const SIZES: [usize; 3] = [4, 16, 64];

#[test]
fn all_blocks_fast_final_when_everyone_is_honest() {
    for n in SIZES {
        let mut net = net(n, |i| 100 + i as u64);
        // Keep collecting after the threshold, so every signature makes the certificate.
        net.window_ms = 100;
        for height in 1..=3 {
            let block = net.produce();
            let (messages, events) = net.publish(&block, |_| true);
            assert_eq!(messages.len(), n);
            assert_eq!(certified(&events), 1, "n = {n}, height {height}");
            match net.gadget.query(height) {
                MachStatus::FastFinal { vote, certificate } => {
                    assert_eq!(vote.block_hash, block.hash());
                    assert_eq!(certificate.signers.count(), n);
                    assert!(matches!(
                        net.gadget.status(height),
                        FinalityStatus::FastFinal { .. }
                    ));
                }
                other => panic!("n = {n}: height {height} is {other:?}"),
            }
        }
        assert_eq!(net.gadget.safe_height(), Some(3));
    }
}

/// Equal stakes: the largest number of operators that may be offline with the rest still
/// at or above 66 %, and one more.
fn tolerable(n: usize) -> usize {
    (0..=n).rev().find(|f| (n - f) * 100 >= n * 66).unwrap()
}

#[test]
fn crashed_operators_below_the_complement_do_not_stop_finality() {
    for n in SIZES {
        let offline = tolerable(n);
        assert!(offline >= 1);
        let mut net = net(n, |_| 1_000);
        let block = net.produce();
        let (_, events) = net.publish(&block, |i| i >= offline);
        assert_eq!(certified(&events), 1, "n = {n}, {offline} offline");
        assert_eq!(net.gadget.safe_height(), Some(1));
    }
}

#[test]
fn no_finality_when_more_than_the_complement_is_offline() {
    for n in SIZES {
        let offline = tolerable(n) + 1;
        let mut net = net(n, |_| 1_000);
        let block = net.produce();
        let (messages, events) = net.publish(&block, |i| i >= offline);
        assert_eq!(messages.len(), n - offline);
        assert_eq!(certified(&events), 0, "n = {n}, {offline} offline");
        assert!(
            events
                .iter()
                .any(|e| matches!(e, AggregatorEvent::Expired { .. })),
            "the task expires"
        );
        assert_eq!(net.gadget.query(1), MachStatus::Pending);
        assert_eq!(net.gadget.safe_height(), None);
    }
}

#[test]
fn a_wrong_state_root_is_alerted_and_the_block_and_its_descendants_never_finalize() {
    for n in SIZES {
        let mut net = net(n, |i| 100 + 3 * i as u64);
        let good = net.produce();
        net.publish(&good, |_| true);

        // The sequencer publishes block 2 with a state root of its choosing.
        let honest = net.produce();
        let mut bad = honest.clone();
        bad.header.state_root = B256::repeat_byte(0xbd);
        let (messages, events) = net.publish(&bad, |_| true);
        assert!(
            messages
                .iter()
                .all(|m| matches!(m, MachMessage::Alert { .. }))
        );
        assert_eq!(certified(&events), 1);
        let MachStatus::Alerted(confirmed) = net.gadget.query(2) else {
            panic!("n = {n}: block 2 is not alerted");
        };
        assert!(matches!(
            confirmed.alert.kind,
            altlayer_avs::AlertKind::StateRootMismatch { invalid_root, expected_root }
                if invalid_root == B256::repeat_byte(0xbd) && expected_root == honest.header.state_root
        ));
        assert!(matches!(
            net.gadget.status(2),
            FinalityStatus::Alerted { .. }
        ));
        assert_eq!(net.gadget.confirmed_alerts().len(), 1);
        // The confirmed alert stands on its own: anyone can check it against the snapshot.
        confirmed.verify(&net.roster, Threshold::default()).unwrap();
        let mut forged = confirmed.clone();
        forged.alert.height += 1;
        assert_eq!(
            forged.verify(&net.roster, Threshold::default()),
            Err(MachError::DigestMismatch)
        );

        // A descendant of the bad block: operators cannot judge it (their replicas never
        // took the bad block), and even a certificate for it is refused.
        let mut child = net.produce();
        child.header.parent_hash = bad.hash();
        let (messages, _) = net.publish(&child, |_| true);
        assert!(messages.is_empty());
        assert!(matches!(net.gadget.query(3), MachStatus::Alerted(_)));
        let vote = FinalityVote {
            chain_id: CHAIN,
            rollup: ROLLUP,
            height: 3,
            block_hash: child.hash(),
            state_root: child.header.state_root,
            snapshot_height: SNAPSHOT,
        };
        let certificate = certificate_from_all(&net, vote.digest());
        assert_eq!(
            net.gadget
                .on_vote_certificate(vote, certificate, &net.roster),
            Err(MachError::Alerted(3))
        );
        assert_eq!(net.gadget.safe_height(), Some(1));
    }
}

/// A certificate every operator signed.
fn certificate_from_all(net: &Net, digest: B256) -> QuorumCertificate {
    let mut signers = SignerBitmap::new(net.roster.len());
    let mut signatures = Vec::new();
    for key in &net.keys {
        let public = Some(key.public_key_g2());
        let index = net
            .roster
            .entries()
            .iter()
            .position(|e| e.key == public)
            .unwrap();
        signers.set(index);
        signatures.push(key.sign(&digest));
    }
    QuorumCertificate {
        digest,
        snapshot: net.roster.snapshot(),
        signers,
        signature: altlayer_avs::bls::Signature::aggregate(&signatures),
    }
}

#[test]
fn an_equivocating_operator_is_slashed_through_staking() {
    let mut net = net(4, |_| 1_000);
    let block = net.produce();
    net.publish(&block, |_| true);
    // Operator 2 also signs a vote for another block at the same height and snapshot.
    let address = operator_address(2);
    let other = FinalityVote {
        chain_id: CHAIN,
        rollup: ROLLUP,
        height: 1,
        block_hash: B256::repeat_byte(0x0b),
        state_root: B256::repeat_byte(0x0c),
        snapshot_height: SNAPSHOT,
    };
    let evidence = net
        .book
        .record(address, other, net.keys[2].sign(&other.digest()))
        .expect("two votes for one height and snapshot");
    let before = net.ledger.pool(&address).unwrap().stake;
    let outcome = net.ledger.slash(&AUTHORITY, &evidence).unwrap();
    assert_eq!(outcome.operator, address);
    assert_eq!(
        outcome.slashed,
        before * U256::from(500) / U256::from(10_000)
    );
    // Tombstoned: out of the set, and the same infraction cannot be slashed again.
    assert_eq!(
        net.ledger.stake_at(&address, mach_set(ROLLUP), 1).unwrap(),
        U256::ZERO
    );
    assert!(net.ledger.slash(&AUTHORITY, &evidence).is_err());
    net.ledger.check_invariants().unwrap();
}

#[test]
fn a_vote_for_a_non_canonical_block_is_slashed_once_the_canonical_one_is_recorded() {
    let mut net = net(4, |_| 1_000);
    let honest = net.produce();
    let mut bad = honest.clone();
    bad.header.state_root = B256::repeat_byte(0xbd);
    net.publish(&bad, |_| true);
    // A dishonest operator votes for the bad block instead of alerting.
    let vote = FinalityVote {
        chain_id: CHAIN,
        rollup: ROLLUP,
        height: 1,
        block_hash: bad.hash(),
        state_root: bad.header.state_root,
        snapshot_height: SNAPSHOT,
    };
    let signed = vote.signed(operator_address(1), net.keys[1].sign(&vote.digest()));
    let canonical = FinalityVote {
        block_hash: honest.hash(),
        state_root: honest.header.state_root,
        ..vote
    };
    net.ledger
        .record_canonical(&AUTHORITY, ROLLUP, 1, canonical.subject())
        .unwrap();
    let outcome = net
        .ledger
        .slash(
            &AUTHORITY,
            &Evidence::InvalidVote {
                set: mach_set(ROLLUP),
                vote: signed,
            },
        )
        .unwrap();
    assert_eq!(outcome.operator, operator_address(1));
}

#[test]
fn votes_for_another_chain_rollup_or_snapshot_never_verify() {
    let mut net = net(4, |_| 1_000);
    let block = net.produce();
    let vote = FinalityVote {
        chain_id: CHAIN,
        rollup: ROLLUP,
        height: 1,
        block_hash: block.hash(),
        state_root: block.header.state_root,
        snapshot_height: SNAPSHOT,
    };
    for foreign in [
        FinalityVote {
            chain_id: CHAIN + 1,
            ..vote
        },
        FinalityVote {
            rollup: RollupId(2),
            ..vote
        },
        FinalityVote {
            snapshot_height: SNAPSHOT + 1,
            ..vote
        },
    ] {
        assert_ne!(foreign.digest(), vote.digest());
        // Every operator signed the foreign vote; presented as a certificate for ours, it fails.
        let mut certificate = certificate_from_all(&net, foreign.digest());
        certificate.digest = vote.digest();
        assert_eq!(
            certificate.verify(&net.roster, Threshold::default()),
            Err(altlayer_avs::QcError::BadSignature)
        );
        net.gadget.on_header(&block.header);
        assert!(
            net.gadget
                .on_vote_certificate(vote, certificate, &net.roster)
                .is_err()
        );
    }
    // And ours does verify.
    let certificate = certificate_from_all(&net, vote.digest());
    net.gadget
        .on_vote_certificate(vote, certificate, &net.roster)
        .unwrap();
}

#[test]
fn an_operator_never_signs_at_or_below_its_last_height_even_after_a_restart() {
    let mut net = net(4, |_| 1_000);
    let block = net.produce();
    net.publish(&block, |_| true);
    let saved = serde_json::to_string(&net.operators[0].state()).unwrap();
    // Restart: the replica is rebuilt from scratch (at genesis), the signer state restored.
    let state: SignerState = serde_json::from_str(&saved).unwrap();
    assert_eq!(state.last_signed_height, Some(1));
    let mut restarted = MachOperator::new(
        operator_address(0),
        net.keys[0].clone(),
        dev_state_transition(RollupConfig::default(), 4),
        state,
    );
    assert_eq!(
        restarted.on_block(&block, SNAPSHOT),
        Err(MachError::AlreadySigned { height: 1, last: 1 })
    );
}

/// Soft (SQUAD certificate), fast (MACH certificate) and firm (challenge window) behind one
/// gadget; a confirmed MACH alert asks VITAL to challenge the batch holding the block.
#[test]
fn tiers_soft_fast_firm_and_an_alert_opens_a_challenge() {
    use altlayer_avs::vital::finality::TieredFinality;
    use altlayer_core::settlement::BatchCommitment;

    let mut net = net(4, |_| 1_000);
    let mut tiers = TieredFinality::new(CHAIN, ROLLUP, Threshold::default(), 100);
    let mut blocks = Vec::new();
    for _ in 0..3 {
        let block = net.produce();
        tiers.on_header(&block.header);
        tiers.on_soft_certificate(
            block.header.height,
            B256::repeat_byte(block.header.height as u8),
        );
        blocks.push(block);
    }
    assert!(matches!(
        tiers.status(3),
        FinalityStatus::SoftConfirmed { .. }
    ));
    assert_eq!(tiers.status(4), FinalityStatus::Unknown);

    // Block 1 gets a MACH certificate: fast.
    let vote = FinalityVote {
        chain_id: CHAIN,
        rollup: ROLLUP,
        height: 1,
        block_hash: blocks[0].hash(),
        state_root: blocks[0].header.state_root,
        snapshot_height: SNAPSHOT,
    };
    tiers
        .on_vote_certificate(vote, certificate_from_all(&net, vote.digest()), &net.roster)
        .unwrap();
    assert!(matches!(tiers.status(1), FinalityStatus::FastFinal { .. }));

    // Block 3 as published carries a wrong root: the operators alert, the alert is certified.
    let mut bad = blocks[2].clone();
    bad.header.state_root = B256::repeat_byte(0xbd);
    tiers.on_header(&bad.header);
    net.operators[0].on_block(&blocks[0], SNAPSHOT).unwrap();
    net.operators[0].on_block(&blocks[1], SNAPSHOT).unwrap();
    let Ok(MachMessage::Alert { alert, .. }) = net.operators[0].on_block(&bad, SNAPSHOT) else {
        panic!("no alert for a wrong root");
    };
    tiers
        .on_alert_certificate(
            alert,
            certificate_from_all(&net, alert.digest()),
            &net.roster,
        )
        .unwrap();
    assert!(matches!(tiers.status(3), FinalityStatus::Alerted { .. }));
    // No batch holds block 3 yet: nothing to challenge until one is committed.
    assert!(tiers.take_challenges().is_empty());

    let commitment = |index: u64, last_height: u64| BatchCommitment {
        rollup_id: ROLLUP,
        index,
        pre_state_root: B256::ZERO,
        post_state_root: B256::ZERO,
        last_height,
        commitment: B256::ZERO,
        da_ref: Default::default(),
        proposer: Address::ZERO,
    };
    tiers.on_batch_committed(&commitment(0, 2), 0);
    assert!(tiers.take_challenges().is_empty());
    assert!(matches!(
        tiers.status(2),
        FinalityStatus::Committed { batch: 0, .. }
    ));
    tiers.on_batch_committed(&commitment(1, 3), 0);
    assert_eq!(
        tiers.take_challenges(),
        vec![1],
        "the alerted block's batch is challenged"
    );
    assert!(tiers.take_challenges().is_empty(), "once");

    // Firm: the window passes for batch 0; batch 1 is challenged and held back.
    tiers.on_challenge(1);
    tiers.on_settlement_time(100);
    assert_eq!(tiers.status(1), FinalityStatus::Final);
    assert_eq!(tiers.status(2), FinalityStatus::Final);
    assert!(matches!(tiers.status(3), FinalityStatus::Alerted { .. }));
    assert_eq!(tiers.finalized_height(), Some(2));
    tiers.on_revert(1, 2);
    assert!(!matches!(
        tiers.status(3),
        FinalityStatus::SoftConfirmed { .. }
    ));
}

/// A MACH operator killed after it signed a vote and before the vote left its process, then
/// restarted with its signer state read back from disk (redb), refuses to sign a different
/// block at that height; without the record it would sign it, an equivocation.
#[test]
fn an_operator_killed_between_signing_and_sending_cannot_equivocate_after_a_restart() {
    use altlayer_avs::mach::durable::{DurableMachError, DurableMachOperator};
    use altlayer_core::storage::ProtocolStore;
    use altlayer_storage::{RedbStore, StoreOptions};

    let config = RollupConfig::default();
    // Two different blocks at height 1 (their timestamps differ), both valid.
    let block = |timestamp: u64| {
        dev_state_transition(config.clone(), 2)
            .build_block(
                BlockAttributes {
                    timestamp,
                    ..Default::default()
                },
                Vec::new(),
                ExecuteOptions::default(),
            )
            .unwrap()
            .block
    };
    let (first, other) = (block(1), block(2));
    assert_ne!(first.hash(), other.hash());
    let key = SecretKey::from_seed(b"mach operator").unwrap();
    let address = operator_address(0);
    let dir = tempfile::tempdir().unwrap();
    let store = || -> Arc<dyn ProtocolStore> {
        Arc::new(RedbStore::open(dir.path(), StoreOptions::default()).unwrap())
    };
    {
        let mut operator = DurableMachOperator::open(
            address,
            key.clone(),
            dev_state_transition(config.clone(), 2),
            store(),
        )
        .unwrap();
        let vote = operator.on_block(&first, 0).unwrap();
        assert!(matches!(vote, MachMessage::Vote { .. }));
        // Killed here: the vote is dropped, never sent.
    }
    let mut restarted = DurableMachOperator::open(
        address,
        key.clone(),
        dev_state_transition(config.clone(), 2),
        store(),
    )
    .unwrap();
    assert_eq!(restarted.operator().state().last_signed_height, Some(1));
    assert!(matches!(
        restarted.on_block(&other, 0),
        Err(DurableMachError::Mach(MachError::AlreadySigned {
            height: 1,
            last: 1
        }))
    ));
    // Without the record the same operator signs the other block: an equivocation.
    let mut forgetful = MachOperator::new(
        address,
        key,
        dev_state_transition(config, 2),
        Default::default(),
    );
    assert!(matches!(
        forgetful.on_block(&other, 0),
        Ok(MachMessage::Vote { .. })
    ));
}
