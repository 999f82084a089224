//! The ALT ledger: refusals change nothing, weights at past heights, unbonding, and a property
//! test of every accounting invariant over random operation sequences.

use alloy_primitives::{Address, B256, U256};
use altlayer_core::{RollupId, TokenLedger};
use altlayer_staking::*;
use proptest::prelude::*;

const AUTHORITY: Address = Address::repeat_byte(0xaa);
const DAY: u64 = 86_400;

fn addr(i: u8) -> Address {
    Address::repeat_byte(i)
}

fn set(service: Service) -> OperatorSetId {
    OperatorSetId::new(service, RollupId(1))
}

fn ledger() -> AltLedger {
    let mut ledger = AltLedger::new(StakingParams::default(), AUTHORITY, 1_337).unwrap();
    for service in [Service::Squad, Service::Mach] {
        ledger
            .create_set(
                &AUTHORITY,
                set(service),
                OperatorSetConfig {
                    min_stake: U256::from(100),
                },
            )
            .unwrap();
    }
    ledger
}

/// Runs `op`, expecting a refusal that leaves the ledger exactly as it was.
fn refused<T: std::fmt::Debug>(
    ledger: &mut AltLedger,
    op: impl FnOnce(&mut AltLedger) -> Result<T, StakingError>,
) -> StakingError {
    let before = ledger.state_hash();
    let err = op(ledger).expect_err("refused");
    assert_eq!(
        ledger.state_hash(),
        before,
        "a refused operation changed the ledger: {err}"
    );
    err
}

#[test]
fn every_refusal_is_typed_and_changes_nothing() {
    let mut l = ledger();
    let (alice, bob, op) = (addr(1), addr(2), addr(3));
    l.mint(&AUTHORITY, &alice, U256::from(1_000)).unwrap();
    assert_eq!(
        refused(&mut l, |l| l.mint(&alice, &alice, U256::from(1))),
        StakingError::Unauthorized(alice)
    );
    assert_eq!(
        refused(&mut l, |l| l.transfer(&alice, &bob, U256::ZERO)),
        StakingError::ZeroAmount
    );
    assert!(matches!(
        refused(&mut l, |l| l.transfer(&alice, &bob, U256::from(1_001))),
        StakingError::InsufficientBalance { .. }
    ));
    assert!(matches!(
        refused(&mut l, |l| l.stake(&bob, U256::from(1))),
        StakingError::InsufficientBalance { .. }
    ));
    assert!(matches!(
        refused(&mut l, |l| l.unstake(&alice, U256::from(1))),
        StakingError::InsufficientStake { .. }
    ));
    assert_eq!(
        refused(&mut l, |l| l.delegate(&alice, &op, U256::from(1))),
        StakingError::UnknownOperator(op)
    );
    l.register_operator(op, OperatorKey::EcdsaOnly, 500)
        .unwrap();
    assert_eq!(
        refused(&mut l, |l| l.register_operator(
            op,
            OperatorKey::EcdsaOnly,
            0
        )),
        StakingError::AlreadyRegistered(op)
    );
    l.set_params(StakingParams {
        max_commission_bips: 1_000,
        ..Default::default()
    })
    .unwrap();
    assert!(matches!(
        refused(&mut l, |l| l.set_commission(&op, 1_001)),
        StakingError::CommissionTooHigh {
            max: 1_000,
            got: 1_001
        }
    ));
    let bad = StakingParams {
        slash_equivocation_bips: 20_000,
        ..Default::default()
    };
    assert!(matches!(
        refused(&mut l, |l| l.set_params(bad)),
        StakingError::InvalidParams(_)
    ));
    assert!(matches!(
        refused(&mut l, |l| l.delegate(&alice, &op, U256::from(1))),
        StakingError::InsufficientStake { .. }
    ));
    l.stake(&alice, U256::from(150)).unwrap();
    l.delegate(&alice, &op, U256::from(50)).unwrap();
    assert!(matches!(
        refused(&mut l, |l| l.join_set(&op, set(Service::Mach))),
        StakingError::BelowMinimumStake { .. }
    ));
    let unknown = OperatorSetId::new(Service::Vital, RollupId(9));
    assert_eq!(
        refused(&mut l, |l| l.join_set(&op, unknown)),
        StakingError::UnknownSet(unknown)
    );
    assert_eq!(
        refused(&mut l, |l| l.leave_set(&op, set(Service::Mach))),
        StakingError::NotMember(op)
    );
    assert_eq!(
        refused(&mut l, |l| l.create_set(
            &AUTHORITY,
            set(Service::Mach),
            OperatorSetConfig {
                min_stake: U256::ZERO
            }
        )),
        StakingError::SetExists(set(Service::Mach))
    );
    assert!(matches!(
        refused(&mut l, |l| l.undelegate(&alice, &op, U256::from(51))),
        StakingError::InsufficientShares { .. }
    ));
    assert_eq!(
        refused(&mut l, |l| l.redeem(&alice, &op)),
        StakingError::NothingToRedeem
    );
    assert!(matches!(
        refused(&mut l, |l| l.stake_at(&op, set(Service::Mach), 1)),
        StakingError::FutureHeight {
            requested: 1,
            current: 0
        }
    ));
    assert!(matches!(
        refused(&mut l, |l| l.voting_power_at(&alice, 5)),
        StakingError::FutureHeight { .. }
    ));
    l.advance(5, 100).unwrap();
    assert_eq!(
        refused(&mut l, |l| l.advance(4, 200)),
        StakingError::ClockBackwards
    );
    assert_eq!(
        refused(&mut l, |l| l.advance(6, 99)),
        StakingError::ClockBackwards
    );
    // At most seven unbonding entries per delegator and operator.
    for _ in 0..7 {
        l.undelegate(&alice, &op, U256::from(1)).unwrap();
    }
    assert_eq!(
        refused(&mut l, |l| l.undelegate(&alice, &op, U256::from(1))),
        StakingError::TooManyUnbondingEntries { max: 7 }
    );
    l.check_invariants().unwrap();
}

#[test]
fn weights_are_read_at_past_heights_and_follow_the_minimum() {
    let mut l = ledger();
    let (alice, op1, op2) = (addr(1), addr(3), addr(4));
    let mach = set(Service::Mach);
    l.mint(&AUTHORITY, &alice, U256::from(10_000)).unwrap();
    l.stake(&alice, U256::from(10_000)).unwrap();
    for op in [op1, op2] {
        l.register_operator(op, OperatorKey::EcdsaOnly, 0).unwrap();
        l.delegate(&alice, &op, U256::from(1_000)).unwrap();
        l.join_set(&op, mach).unwrap();
    }
    // Restaking: op1 also joins SQUAD with the same stake.
    l.join_set(&op1, set(Service::Squad)).unwrap();
    l.advance(1, 10).unwrap();
    l.delegate(&alice, &op1, U256::from(500)).unwrap();
    l.advance(2, 20).unwrap();
    // op2 falls below the minimum of 100: its weight stops counting, though it stays a member.
    l.undelegate(&alice, &op2, U256::from(950)).unwrap();
    l.advance(3, 30).unwrap();
    l.leave_set(&op1, set(Service::Squad)).unwrap();

    assert_eq!(l.total_stake_at(mach, 0).unwrap(), U256::from(2_000));
    assert_eq!(l.total_stake_at(mach, 1).unwrap(), U256::from(2_500));
    assert_eq!(l.total_stake_at(mach, 2).unwrap(), U256::from(1_500));
    assert_eq!(l.stake_at(&op2, mach, 1).unwrap(), U256::from(1_000));
    assert_eq!(l.stake_at(&op2, mach, 2).unwrap(), U256::ZERO);
    assert_eq!(
        l.stake_at(&op1, set(Service::Squad), 2).unwrap(),
        U256::from(1_500)
    );
    assert_eq!(
        l.stake_at(&op1, set(Service::Squad), 3).unwrap(),
        U256::ZERO
    );
    assert_eq!(
        l.members_at(mach, 3).unwrap(),
        vec![(op1, U256::from(1_500)), (op2, U256::ZERO)]
    );
    // Voting power: stALT plus delegated value, as of each height.
    assert_eq!(l.voting_power_at(&alice, 0).unwrap(), U256::from(10_000));
    assert_eq!(
        l.voting_power_at(&alice, 2).unwrap(),
        U256::from(10_000 - 950)
    );
    assert_eq!(
        l.total_voting_power_at(2).unwrap(),
        U256::from(10_000 - 950)
    );
    l.check_invariants().unwrap();
}

#[test]
fn unbonding_waits_out_the_cooldown() {
    let mut l = ledger();
    let (alice, op) = (addr(1), addr(3));
    l.mint(&AUTHORITY, &alice, U256::from(1_000)).unwrap();
    l.stake(&alice, U256::from(1_000)).unwrap();
    l.register_operator(op, OperatorKey::EcdsaOnly, 0).unwrap();
    l.delegate(&alice, &op, U256::from(1_000)).unwrap();
    l.advance(1, 1_000).unwrap();
    assert_eq!(
        l.undelegate(&alice, &op, U256::from(400)).unwrap(),
        U256::from(400)
    );
    l.advance(2, 1_000 + 21 * DAY - 1).unwrap();
    assert_eq!(l.redeem(&alice, &op), Err(StakingError::NothingToRedeem));
    l.advance(3, 1_000 + 21 * DAY).unwrap();
    assert_eq!(l.redeem(&alice, &op).unwrap(), U256::from(400));
    assert_eq!(l.staked_of(&alice), U256::from(400));
    assert!(l.unbonding_entries(&alice, &op).is_empty());
    l.unstake(&alice, U256::from(400)).unwrap();
    assert_eq!(l.balance_of(&alice), U256::from(400));
    l.check_invariants().unwrap();
}

#[test]
fn same_operations_same_hash_and_snapshots_round_trip() {
    let run = || {
        let mut l = ledger();
        l.mint(&AUTHORITY, &addr(1), U256::from(77)).unwrap();
        l.stake(&addr(1), U256::from(7)).unwrap();
        l
    };
    let (a, b) = (run(), run());
    assert_eq!(a.state_hash(), b.state_hash());
    let snapshot = serde_json::to_string(&a).unwrap();
    let restored: AltLedger = serde_json::from_str(&snapshot).unwrap();
    assert_eq!(restored, a);
    let mut c = run();
    c.transfer(&addr(1), &addr(2), U256::from(1)).unwrap();
    assert_ne!(c.state_hash(), a.state_hash());
}

#[derive(Debug, Clone)]
enum Op {
    Mint(u8, u64),
    Transfer(u8, u8, u64),
    Stake(u8, u64),
    Unstake(u8, u64),
    Delegate(u8, u8, u64),
    Undelegate(u8, u8, u64),
    Redeem(u8, u8),
    Join(u8, bool),
    Leave(u8, bool),
    Time(u64, u64),
    /// Equivocation by operator `o` at `back` heights ago, with conflicting digest `d`.
    Equivocate(u8, u64, u8),
    /// A lost challenge `c` against operator `o`'s root at `back` heights ago, then its slash.
    SlashRoot(u8, u64, u8),
    /// A fee paid in ALT for the rollup.
    Fee(u8, u64),
    /// The end of an epoch in SQUAD (`false`) or MACH (`true`).
    Epoch(bool),
    Claim(u8),
}

fn op() -> impl Strategy<Value = Op> {
    let who = 0u8..5;
    let operator = 0u8..3;
    let amount = 0u64..2_000;
    prop_oneof![
        1 => (who.clone(), amount.clone()).prop_map(|(w, a)| Op::Mint(w, a)),
        1 => (who.clone(), who.clone(), amount.clone()).prop_map(|(f, t, a)| Op::Transfer(f, t, a)),
        1 => (who.clone(), amount.clone()).prop_map(|(w, a)| Op::Stake(w, a)),
        1 => (who.clone(), amount.clone()).prop_map(|(w, a)| Op::Unstake(w, a)),
        1 => (who.clone(), operator.clone(), amount.clone()).prop_map(|(w, o, a)| Op::Delegate(w, o, a)),
        1 => (who.clone(), operator.clone(), amount.clone())
            .prop_map(|(w, o, a)| Op::Undelegate(w, o, a)),
        1 => (who.clone(), operator.clone()).prop_map(|(w, o)| Op::Redeem(w, o)),
        1 => (operator.clone(), any::<bool>()).prop_map(|(o, s)| Op::Join(o, s)),
        1 => (operator.clone(), any::<bool>()).prop_map(|(o, s)| Op::Leave(o, s)),
        1 => (0u64..3, 0u64..(30 * DAY)).prop_map(|(h, t)| Op::Time(h, t)),
        1 => (operator.clone(), 0u64..3, 1u8..4).prop_map(|(o, b, d)| Op::Equivocate(o, b, d)),
        1 => (operator, 0u64..3, 0u8..4).prop_map(|(o, b, c)| Op::SlashRoot(o, b, c)),
        3 => (who.clone(), amount).prop_map(|(w, a)| Op::Fee(w, a)),
        2 => any::<bool>().prop_map(Op::Epoch),
        2 => who.prop_map(Op::Claim),
    ]
}

/// What the test knows without looking inside the ledger.
#[derive(Default)]
struct Model {
    /// (operator, height) -> the operator's pool stake at the end of that height.
    pool_at_end: std::collections::BTreeMap<(u8, u64), U256>,
    /// (operator, height) -> stake undelegated from it during that height.
    left_during: std::collections::BTreeMap<(u8, u64), U256>,
    /// Rewards each delegator is due by a naive per-delegator loop at every epoch.
    due: [U256; 5],
    /// Rewards each delegator has claimed.
    claimed: [U256; 5],
    /// Settlements of each delegator's positions (delegations, undelegations, claims).
    touches: [u64; 5],
    epochs: u64,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// After every step of a random sequence: supply is conserved, shares sum to the pools,
    /// set totals equal their members' weights, no pool owes more rewards than it holds; a
    /// refused step changes nothing; weights recorded at a height never change once the ledger
    /// has moved past it; a slash never takes more than its fraction of the stake at the
    /// infraction height, computed from what the test saw; a tombstoned operator is never
    /// slashed again; and every delegator's rewards match a naive per-delegator computation to
    /// within rounding.
    #[test]
    fn invariants_hold_after_every_step(
        start in prop::collection::vec((0u64..3_000, 0u8..3), 5),
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let mut l = ledger();
        let keys: Vec<_> = (0..3).map(altlayer_core::dev::DevAccount::new).collect();
        let operator = |i: u8| keys[i as usize].address;
        let mut tombstoned = std::collections::BTreeSet::new();
        for i in 0..3 {
            l.register_operator(operator(i), OperatorKey::EcdsaOnly, 1_000 * u32::from(i)).unwrap();
        }
        // A random start in which delegations and set memberships exist, so that rewards,
        // slashes and epochs have something to work on from the first step.
        for (d, (amount, o)) in start.into_iter().enumerate() {
            let (d, amount) = (addr(d as u8), U256::from(amount));
            l.mint(&AUTHORITY, &d, U256::from(5_000)).unwrap();
            l.stake(&d, U256::from(3_000)).unwrap();
            if !amount.is_zero() {
                l.delegate(&d, &operator(o), amount).unwrap();
            }
        }
        for o in 0..3 {
            for s in [Service::Squad, Service::Mach] {
                let _ = l.join_set(&operator(o), set(s));
            }
        }
        let mut m = Model::default();
        let mut history: Vec<(u64, U256, U256)> = Vec::new();
        for op in ops {
            let before = l.state_hash();
            let sets = |s: bool| set(if s { Service::Mach } else { Service::Squad });
            // The independent slash bound: the fraction of the stake at the end of the
            // infraction height plus what left during it (checked against every slash).
            let bound = |l: &AltLedger, m: &Model, o: u8, height: u64, bips: u32| {
                let end = if height == l.height() {
                    l.pool(&operator(o)).unwrap().stake
                } else {
                    m.pool_at_end[&(o, height)]
                };
                let base = end + m.left_during.get(&(o, height)).copied().unwrap_or_default();
                base * U256::from(bips) / U256::from(10_000)
            };
            let result = match op {
                Op::Mint(w, a) => l.mint(&AUTHORITY, &addr(w), U256::from(a)),
                Op::Transfer(f, t, a) => l.transfer(&addr(f), &addr(t), U256::from(a)),
                Op::Stake(w, a) => l.stake(&addr(w), U256::from(a)),
                Op::Unstake(w, a) => l.unstake(&addr(w), U256::from(a)),
                Op::Delegate(w, o, a) => {
                    let result = l.delegate(&addr(w), &operator(o), U256::from(a)).map(drop);
                    m.touches[w as usize] += u64::from(result.is_ok());
                    result
                }
                Op::Undelegate(w, o, a) => {
                    let result = l.undelegate(&addr(w), &operator(o), U256::from(a));
                    if let Ok(amount) = &result {
                        *m.left_during.entry((o, l.height())).or_default() += *amount;
                        m.touches[w as usize] += 1;
                    }
                    result.map(drop)
                }
                Op::Redeem(w, o) => l.redeem(&addr(w), &operator(o)).map(drop),
                Op::Join(o, s) => l.join_set(&operator(o), sets(s)),
                Op::Leave(o, s) => l.leave_set(&operator(o), sets(s)),
                Op::Time(dh, dt) => {
                    let (h, now) = (l.height(), l.now());
                    // A height's weights are final once the ledger moves past it: remember them
                    // as they stand when it does.
                    if dh > 0 {
                        history.push((h, l.total_stake_at(set(Service::Mach), h).unwrap(), l.total_voting_power_at(h).unwrap()));
                        for o in 0..3 {
                            for skipped in h..h + dh {
                                m.pool_at_end.insert((o, skipped), l.pool(&operator(o)).unwrap().stake);
                            }
                        }
                    }
                    l.advance(h + dh, now + dt)
                }
                Op::Equivocate(o, back, d) => {
                    let height = l.height().saturating_sub(back);
                    let mach = set(Service::Mach);
                    let vote = |digest: B256| {
                        let hash = SignedVote::signing_hash(mach, 1_337, height, 0, digest);
                        SignedVote { height, round: 0, digest, signature: VoteSignature::Ecdsa(keys[o as usize].sign_hash(&hash)) }
                    };
                    let evidence = Evidence::Equivocation { set: mach, first: vote(B256::ZERO), second: vote(B256::repeat_byte(d)) };
                    let bound = bound(&l, &m, o, height, l.params().slash_equivocation_bips);
                    let result = l.slash(&addr(0), &evidence);
                    if tombstoned.contains(&o) {
                        // Tombstoned (or the very same evidence again, or too old): never
                        // slashed twice.
                        prop_assert!(matches!(result, Err(StakingError::Tombstoned(_) | StakingError::DuplicateEvidence(_) | StakingError::EvidenceExpired { .. })), "{:?}", result);
                    }
                    if let Ok(outcome) = &result {
                        prop_assert!(outcome.slashed <= outcome.due);
                        prop_assert!(outcome.slashed <= bound, "slashed {} > bound {}", outcome.slashed, bound);
                        prop_assert!(outcome.reward <= outcome.slashed);
                        tombstoned.insert(o);
                    }
                    result.map(drop)
                }
                Op::SlashRoot(o, back, c) => {
                    let height = l.height().saturating_sub(back);
                    let squad = set(Service::Squad);
                    let challenge = B256::repeat_byte(c);
                    let evidence = Evidence::InvalidStateRoot { set: squad, operator: operator(o), height, challenge };
                    let bound = bound(&l, &m, o, height, l.params().slash_invalid_state_root_bips);
                    let record = l.record_lost_challenge(&AUTHORITY, challenge, operator(o), height);
                    prop_assert!(record.is_ok());
                    let before = l.state_hash();
                    let result = l.slash(&addr(0), &evidence);
                    if let Ok(outcome) = &result {
                        prop_assert!(outcome.slashed <= bound, "slashed {} > bound {}", outcome.slashed, bound);
                    } else {
                        prop_assert_eq!(l.state_hash(), before);
                    }
                    // Recording the challenge is a change of its own even when the slash is refused.
                    Ok(())
                }
                Op::Fee(w, a) => l.collect_fees(&addr(w), RollupId(1), U256::from(a)).map(drop),
                Op::Epoch(s) => {
                    let id = sets(s);
                    // The naive computation: every delegator of every member, one by one.
                    let amount = l.undistributed(id).unwrap();
                    let total = l.total_stake_at(id, l.height()).unwrap();
                    let members = l.members_at(id, l.height()).unwrap();
                    let mut due = m.due;
                    if !amount.is_zero() && !total.is_zero() {
                        for (address, weight) in members {
                            let pool = l.pool(&address).unwrap();
                            let share = amount * weight / total;
                            let commission = share * U256::from(l.operator(&address).unwrap().commission_bips) / U256::from(10_000);
                            for (d, due) in due.iter_mut().enumerate() {
                                let shares = l.shares_of(&addr(d as u8), &address);
                                if !shares.is_zero() {
                                    *due += (share - commission) * shares / pool.shares;
                                }
                            }
                        }
                    }
                    let result = l.distribute_epoch(&AUTHORITY, id);
                    if let Ok(outcome) = &result {
                        prop_assert_eq!(outcome.distributed + outcome.carried, amount);
                        m.due = due;
                        m.epochs += u64::from(outcome.operators > 0);
                    }
                    result.map(drop)
                }
                Op::Claim(w) => {
                    let pending = l.pending_rewards(&addr(w)).unwrap();
                    let liquid = l.balance_of(&addr(w));
                    let result = l.claim(&addr(w));
                    if let Ok(amount) = &result {
                        prop_assert_eq!(*amount, pending);
                        prop_assert_eq!(l.balance_of(&addr(w)), liquid + pending);
                        prop_assert_eq!(l.pending_rewards(&addr(w)).unwrap(), U256::ZERO);
                        m.claimed[w as usize] += *amount;
                        m.touches[w as usize] += 1;
                    } else {
                        prop_assert!(pending.is_zero());
                    }
                    result.map(drop)
                }
            };
            if result.is_err() {
                prop_assert_eq!(l.state_hash(), before);
            }
            prop_assert_eq!(l.check_invariants(), Ok(()));
            for (h, mach, power) in &history {
                if *h < l.height() {
                    prop_assert_eq!(l.total_stake_at(set(Service::Mach), *h).unwrap(), *mach);
                    prop_assert_eq!(l.total_voting_power_at(*h).unwrap(), *power);
                }
            }
            // Share accounting rounds down once per epoch and position in the naive loop and at
            // most twice per settlement in the ledger; beyond that the two agree exactly.
            for d in 0..5 {
                let earned = m.claimed[d] + l.pending_rewards(&addr(d as u8)).unwrap();
                let naive = m.due[d];
                prop_assert!(earned <= naive + U256::from(3 * m.epochs), "delegator {d}: earned {earned}, naive {naive}");
                prop_assert!(naive <= earned + U256::from(2 * (m.touches[d] + 3)), "delegator {d}: earned {earned}, naive {naive}");
            }
        }
    }
}
