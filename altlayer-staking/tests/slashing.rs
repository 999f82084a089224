//! Slashing with evidence: signatures verified, pro-rata loss, unbonding stake slashable for
//! earlier infractions, tombstoning, de-duplication, age limits, rewards to the submitter.

use alloy_primitives::{Address, B256, U256};
use altlayer_core::{RollupId, TokenLedger, dev::DevAccount};
use altlayer_staking::*;

const AUTHORITY: Address = Address::repeat_byte(0xaa);
const CHAIN: u64 = 1_337;
const DAY: u64 = 86_400;

fn mach() -> OperatorSetId {
    OperatorSetId::new(Service::Mach, RollupId(1))
}

fn vote(signer: &DevAccount, height: u64, round: u64, digest: B256) -> SignedVote {
    let hash = SignedVote::signing_hash(mach(), CHAIN, height, round, digest);
    SignedVote {
        height,
        round,
        digest,
        signature: VoteSignature::Ecdsa(signer.sign_hash(&hash)),
    }
}

/// An operator (development account 0) in MACH with 1,000 ALT delegated by Alice (600) and
/// Bob (400), at height 10.
fn setup() -> (AltLedger, DevAccount, Address, Address) {
    let operator = DevAccount::new(0);
    let (alice, bob) = (Address::repeat_byte(1), Address::repeat_byte(2));
    let mut l = AltLedger::new(StakingParams::default(), AUTHORITY, CHAIN).unwrap();
    l.create_set(
        &AUTHORITY,
        mach(),
        OperatorSetConfig {
            min_stake: U256::from(100),
        },
    )
    .unwrap();
    l.register_operator(operator.address, OperatorKey::EcdsaOnly, 0)
        .unwrap();
    for (who, amount) in [(alice, 600u64), (bob, 400)] {
        l.mint(&AUTHORITY, &who, U256::from(amount)).unwrap();
        l.stake(&who, U256::from(amount)).unwrap();
        l.delegate(&who, &operator.address, U256::from(amount))
            .unwrap();
    }
    l.join_set(&operator.address, mach()).unwrap();
    l.advance(10, 1_000).unwrap();
    (l, operator, alice, bob)
}

#[test]
fn equivocation_is_slashed_pro_rata_rewarded_and_tombstoned() {
    let (mut l, operator, alice, bob) = setup();
    let submitter = Address::repeat_byte(0x99);
    let evidence = Evidence::Equivocation {
        set: mach(),
        first: vote(&operator, 10, 0, B256::repeat_byte(1)),
        second: vote(&operator, 10, 0, B256::repeat_byte(2)),
    };
    let supply = l.total_supply();
    let outcome = l.slash(&submitter, &evidence).unwrap();
    // 5 % of 1,000; 10 % of that to the submitter, the rest burned.
    assert_eq!(
        (outcome.due, outcome.slashed, outcome.reward),
        (U256::from(50), U256::from(50), U256::from(5))
    );
    assert_eq!(l.balance_of(&submitter), U256::from(5));
    assert_eq!(l.total_supply(), supply - U256::from(45));
    assert_eq!(l.voting_power_at(&alice, 10).unwrap(), U256::from(570));
    assert_eq!(l.voting_power_at(&bob, 10).unwrap(), U256::from(380));
    // Tombstoned: out of the set, never back, never slashed again for the set.
    assert_eq!(
        l.stake_at(&operator.address, mach(), 10).unwrap(),
        U256::ZERO
    );
    assert_eq!(
        l.join_set(&operator.address, mach()),
        Err(StakingError::Tombstoned(operator.address))
    );
    let swapped = Evidence::Equivocation {
        set: mach(),
        first: vote(&operator, 10, 0, B256::repeat_byte(2)),
        second: vote(&operator, 10, 0, B256::repeat_byte(1)),
    };
    assert!(matches!(
        l.slash(&submitter, &swapped),
        Err(StakingError::DuplicateEvidence(_))
    ));
    let another = Evidence::Equivocation {
        set: mach(),
        first: vote(&operator, 10, 0, B256::repeat_byte(1)),
        second: vote(&operator, 10, 0, B256::repeat_byte(3)),
    };
    assert_eq!(
        l.slash(&submitter, &another),
        Err(StakingError::Tombstoned(operator.address))
    );
    l.check_invariants().unwrap();
}

#[test]
fn unbonding_stays_slashable_for_earlier_infractions_only() {
    let (mut l, operator, alice, bob) = setup();
    // Alice starts unbonding at height 10 (the infraction height), Bob at height 5 is before it.
    l.undelegate(&alice, &operator.address, U256::from(600))
        .unwrap();
    let evidence = Evidence::Equivocation {
        set: mach(),
        first: vote(&operator, 10, 3, B256::repeat_byte(1)),
        second: vote(&operator, 10, 3, B256::repeat_byte(2)),
    };
    let outcome = l.slash(&Address::ZERO, &evidence).unwrap();
    // Due: 5 % of the 1,000 at height 10 = 50: 30 from Alice's entry, 20 from the pool (Bob).
    assert_eq!(outcome.slashed, U256::from(50));
    assert_eq!(
        l.unbonding_entries(&alice, &operator.address)[0].amount,
        U256::from(570)
    );
    assert_eq!(l.pool(&operator.address).unwrap().stake, U256::from(380));
    assert_eq!(l.voting_power_at(&bob, 10).unwrap(), U256::from(380));
    l.check_invariants().unwrap();
}

#[test]
fn stake_that_left_before_the_infraction_is_not_slashed_and_the_cap_holds() {
    let (mut l, operator, alice, _) = setup();
    l.advance(11, 1_100).unwrap();
    l.record_canonical(&AUTHORITY, RollupId(1), 10, B256::repeat_byte(0xca))
        .unwrap();
    // Alice leaves at 11, after the infraction at 10: her entry is slashable.
    l.undelegate(&alice, &operator.address, U256::from(600))
        .unwrap();
    let bad_vote = Evidence::InvalidVote {
        set: mach(),
        vote: vote(&operator, 10, 0, B256::repeat_byte(0xbb)),
    };
    let outcome = l.slash(&Address::ZERO, &bad_vote).unwrap();
    assert_eq!(outcome.slashed, U256::from(50));
    assert_eq!(
        l.unbonding_entries(&alice, &operator.address)[0].amount,
        U256::from(570)
    );
    // A vote for the canonical block is no infraction.
    let good_vote = Evidence::InvalidVote {
        set: mach(),
        vote: vote(&operator, 10, 1, B256::repeat_byte(0xca)),
    };
    assert!(matches!(
        l.slash(&Address::ZERO, &good_vote),
        Err(StakingError::InvalidEvidence(_))
    ));
    l.check_invariants().unwrap();
}

#[test]
fn invalid_state_root_needs_a_decided_challenge() {
    let (mut l, operator, _, _) = setup();
    let evidence = Evidence::InvalidStateRoot {
        set: mach(),
        operator: operator.address,
        height: 10,
        challenge: B256::repeat_byte(7),
    };
    let before = l.state_hash();
    assert!(matches!(
        l.slash(&Address::ZERO, &evidence),
        Err(StakingError::InvalidEvidence(_))
    ));
    assert_eq!(l.state_hash(), before);
    assert_eq!(
        l.record_lost_challenge(
            &operator.address,
            B256::repeat_byte(7),
            operator.address,
            10
        ),
        Err(StakingError::Unauthorized(operator.address))
    );
    l.record_lost_challenge(&AUTHORITY, B256::repeat_byte(7), operator.address, 10)
        .unwrap();
    let outcome = l.slash(&Address::ZERO, &evidence).unwrap();
    // The default fraction for a wrong state root is all of it.
    assert_eq!(outcome.slashed, U256::from(1_000));
    assert_eq!(l.pool(&operator.address).unwrap().stake, U256::ZERO);
    assert_eq!(
        l.delegate(&operator.address, &operator.address, U256::from(1)),
        Err(StakingError::InsufficientStake {
            have: U256::ZERO,
            need: U256::from(1)
        })
    );
    l.check_invariants().unwrap();
}

#[test]
fn bad_evidence_is_refused_and_changes_nothing() {
    let (mut l, operator, _, _) = setup();
    let stranger = DevAccount::new(9);
    let refused = |l: &mut AltLedger, evidence: Evidence| {
        let before = l.state_hash();
        let err = l.slash(&Address::ZERO, &evidence).unwrap_err();
        assert_eq!(l.state_hash(), before);
        err
    };
    let same = Evidence::Equivocation {
        set: mach(),
        first: vote(&operator, 10, 0, B256::ZERO),
        second: vote(&operator, 10, 0, B256::ZERO),
    };
    assert!(matches!(
        refused(&mut l, same),
        StakingError::InvalidEvidence(_)
    ));
    let slots = Evidence::Equivocation {
        set: mach(),
        first: vote(&operator, 10, 0, B256::ZERO),
        second: vote(&operator, 10, 1, B256::repeat_byte(1)),
    };
    assert!(matches!(
        refused(&mut l, slots),
        StakingError::InvalidEvidence(_)
    ));
    let mixed = Evidence::Equivocation {
        set: mach(),
        first: vote(&operator, 10, 0, B256::ZERO),
        second: vote(&stranger, 10, 0, B256::repeat_byte(1)),
    };
    assert!(matches!(
        refused(&mut l, mixed),
        StakingError::InvalidEvidence(_)
    ));
    let outsider = Evidence::Equivocation {
        set: mach(),
        first: vote(&stranger, 10, 0, B256::ZERO),
        second: vote(&stranger, 10, 0, B256::repeat_byte(1)),
    };
    assert_eq!(
        refused(&mut l, outsider),
        StakingError::UnknownOperator(stranger.address)
    );
    // A vote signed for another chain recovers another signer.
    let other_chain = SignedVote::signing_hash(mach(), 1, 10, 0, B256::ZERO);
    let foreign = SignedVote {
        height: 10,
        round: 0,
        digest: B256::ZERO,
        signature: VoteSignature::Ecdsa(operator.sign_hash(&other_chain)),
    };
    let forged = Evidence::Equivocation {
        set: mach(),
        first: foreign,
        second: vote(&operator, 10, 0, B256::repeat_byte(1)),
    };
    assert!(matches!(
        refused(&mut l, forged),
        StakingError::InvalidEvidence(_)
    ));
    let future = Evidence::Equivocation {
        set: mach(),
        first: vote(&operator, 11, 0, B256::ZERO),
        second: vote(&operator, 11, 0, B256::repeat_byte(1)),
    };
    assert!(matches!(
        refused(&mut l, future),
        StakingError::FutureHeight { .. }
    ));
    // Too old by time (21 days) and by blocks.
    l.advance(20, 1_000 + 21 * DAY + 1).unwrap();
    let old = Evidence::Equivocation {
        set: mach(),
        first: vote(&operator, 10, 0, B256::ZERO),
        second: vote(&operator, 10, 0, B256::repeat_byte(1)),
    };
    assert_eq!(
        refused(&mut l, old),
        StakingError::EvidenceExpired { height: 10 }
    );
}

#[test]
fn bls_keys_need_a_proof_of_possession_and_bls_equivocation_is_slashed() {
    use altlayer_core::bls::SecretKey;
    let mut l = AltLedger::new(StakingParams::default(), AUTHORITY, CHAIN).unwrap();
    l.create_set(
        &AUTHORITY,
        mach(),
        OperatorSetConfig {
            min_stake: U256::from(100),
        },
    )
    .unwrap();
    let (operator, other) = (Address::repeat_byte(0x0e), Address::repeat_byte(0x0f));
    let key = SecretKey::from_seed(b"mach operator").unwrap();

    // A proof made for another chain, or for another operator, is refused; so is a key that
    // another operator registered already.
    let before = l.state_hash();
    assert_eq!(
        l.register_operator(
            operator,
            OperatorKey::bn254(key.register(CHAIN + 1, operator)),
            0
        ),
        Err(StakingError::InvalidKey(operator))
    );
    assert_eq!(
        l.register_operator(operator, OperatorKey::bn254(key.register(CHAIN, other)), 0),
        Err(StakingError::InvalidKey(operator))
    );
    assert_eq!(l.state_hash(), before);
    l.register_operator(
        operator,
        OperatorKey::bn254(key.register(CHAIN, operator)),
        0,
    )
    .unwrap();
    assert_eq!(
        l.register_operator(other, OperatorKey::bn254(key.register(CHAIN, other)), 0),
        Err(StakingError::KeyInUse(other))
    );

    let alice = Address::repeat_byte(1);
    l.mint(&AUTHORITY, &alice, U256::from(1_000)).unwrap();
    l.stake(&alice, U256::from(1_000)).unwrap();
    l.delegate(&alice, &operator, U256::from(1_000)).unwrap();
    l.join_set(&operator, mach()).unwrap();
    l.advance(5, 60).unwrap();

    let bls_vote = |signer: &SecretKey, digest: B256| {
        let hash = SignedVote::signing_hash(mach(), CHAIN, 5, 0, digest);
        SignedVote {
            height: 5,
            round: 0,
            digest,
            signature: VoteSignature::Bls {
                signer: operator,
                signature: signer.sign(&hash),
            },
        }
    };
    // A vote "by" the operator signed with somebody else's key proves nothing.
    let forged = Evidence::Equivocation {
        set: mach(),
        first: bls_vote(&key, B256::repeat_byte(1)),
        second: bls_vote(
            &SecretKey::from_seed(b"forger").unwrap(),
            B256::repeat_byte(2),
        ),
    };
    let before = l.state_hash();
    assert!(matches!(
        l.slash(&alice, &forged),
        Err(StakingError::InvalidEvidence(_))
    ));
    assert_eq!(l.state_hash(), before);

    let evidence = Evidence::Equivocation {
        set: mach(),
        first: bls_vote(&key, B256::repeat_byte(1)),
        second: bls_vote(&key, B256::repeat_byte(2)),
    };
    let outcome = l.slash(&alice, &evidence).unwrap();
    assert_eq!(
        (outcome.operator, outcome.slashed),
        (operator, U256::from(50))
    );
    assert_eq!(
        l.slash(&alice, &evidence),
        Err(StakingError::DuplicateEvidence(evidence.hash()))
    );
    l.check_invariants().unwrap();
}
