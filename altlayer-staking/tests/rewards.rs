//! Rewards: fees split and routed to sets, epochs paid by weight with commission first,
//! delegators paid by shares, claims, and refusals that change nothing.

use alloy_primitives::{Address, B256, U256};
use altlayer_core::{RollupId, TokenLedger};
use altlayer_staking::*;

const AUTHORITY: Address = Address::repeat_byte(0xaa);
const ROLLUP: RollupId = RollupId(7);

fn id(service: Service) -> OperatorSetId {
    OperatorSetId::new(service, ROLLUP)
}

fn u(x: u64) -> U256 {
    U256::from(x)
}

/// MACH of rollup 7 with operator A (10 % commission: d1 300, d2 100) and operator B (no
/// commission: d3 600).
struct World {
    l: AltLedger,
    a: Address,
    b: Address,
    d: [Address; 4],
}

fn world() -> World {
    let mut l = AltLedger::new(StakingParams::default(), AUTHORITY, 1).unwrap();
    l.create_set(
        &AUTHORITY,
        id(Service::Mach),
        OperatorSetConfig { min_stake: u(100) },
    )
    .unwrap();
    let (a, b) = (Address::repeat_byte(0xa1), Address::repeat_byte(0xb1));
    let d = [1, 2, 3, 4].map(Address::repeat_byte);
    l.register_operator(a, OperatorKey::EcdsaOnly, 1_000)
        .unwrap();
    l.register_operator(b, OperatorKey::EcdsaOnly, 0).unwrap();
    for who in d {
        l.mint(&AUTHORITY, &who, u(10_000)).unwrap();
        l.stake(&who, u(5_000)).unwrap();
    }
    l.delegate(&d[0], &a, u(300)).unwrap();
    l.delegate(&d[1], &a, u(100)).unwrap();
    l.delegate(&d[2], &b, u(600)).unwrap();
    l.join_set(&a, id(Service::Mach)).unwrap();
    l.join_set(&b, id(Service::Mach)).unwrap();
    World { l, a, b, d }
}

#[test]
fn an_epoch_pays_by_weight_commission_first_then_every_share_alike() {
    let World { mut l, a, b, d } = world();
    l.fund_rewards(&d[3], id(Service::Mach), u(1_000)).unwrap();
    assert_eq!(l.undistributed(id(Service::Mach)).unwrap(), u(1_000));

    let epoch = l.distribute_epoch(&AUTHORITY, id(Service::Mach)).unwrap();
    // A weighs 400 of 1,000: 400, of which 40 commission; B weighs 600: 600, no commission.
    assert_eq!(
        epoch,
        EpochRewards {
            operators: 2,
            distributed: u(1_000),
            commission: u(40),
            carried: U256::ZERO
        }
    );
    assert_eq!(l.pending_rewards(&a).unwrap(), u(40));
    assert_eq!(l.pending_rewards(&b).unwrap(), U256::ZERO);
    assert_eq!(l.pending_rewards(&d[0]).unwrap(), u(270));
    assert_eq!(l.pending_rewards(&d[1]).unwrap(), u(90));
    assert_eq!(l.pending_rewards(&d[2]).unwrap(), u(600));
    assert_eq!(l.unclaimed_rewards(), u(1_000));
    l.check_invariants().unwrap();

    let before = l.balance_of(&d[0]);
    assert_eq!(l.claim(&d[0]).unwrap(), u(270));
    assert_eq!(l.balance_of(&d[0]), before + u(270));
    assert_eq!(l.claim(&a).unwrap(), u(40));
    assert_eq!(l.unclaimed_rewards(), u(690));
    l.check_invariants().unwrap();
}

#[test]
fn late_delegators_earn_nothing_of_past_epochs_and_leavers_keep_theirs() {
    let World { mut l, a, d, .. } = world();
    l.fund_rewards(&d[3], id(Service::Mach), u(1_000)).unwrap();
    l.distribute_epoch(&AUTHORITY, id(Service::Mach)).unwrap();

    // d4 joins A after the epoch: equal shares per ALT, but nothing of the epoch before.
    l.delegate(&d[3], &a, u(400)).unwrap();
    assert_eq!(l.pending_rewards(&d[3]).unwrap(), U256::ZERO);
    // d1 leaves A entirely: its 270 are settled and stay claimable.
    let shares = l.shares_of(&d[0], &a);
    l.undelegate(&d[0], &a, shares).unwrap();
    assert_eq!(l.pending_rewards(&d[0]).unwrap(), u(270));

    // Next epoch: A (d2 100 + d4 400 = 500) and B (600) of 1,100; A gets 500 of 1,100 ALT.
    l.fund_rewards(&d[3], id(Service::Mach), u(1_100)).unwrap();
    l.distribute_epoch(&AUTHORITY, id(Service::Mach)).unwrap();
    // 500 - 50 commission = 450 over 500 shares: d2 90 more, d4 360; d1 nothing more.
    assert_eq!(l.pending_rewards(&d[0]).unwrap(), u(270));
    assert_eq!(l.pending_rewards(&d[1]).unwrap(), u(90 + 90));
    assert_eq!(l.pending_rewards(&d[3]).unwrap(), u(360));
    assert_eq!(l.pending_rewards(&a).unwrap(), u(40 + 50));
    l.check_invariants().unwrap();
}

#[test]
fn slashing_takes_stake_not_earned_rewards_and_shrinks_later_ones() {
    let World { mut l, a, b, d } = world();
    l.fund_rewards(&d[3], id(Service::Mach), u(1_000)).unwrap();
    l.distribute_epoch(&AUTHORITY, id(Service::Mach)).unwrap();
    l.advance(1, 1).unwrap();
    let challenge = B256::repeat_byte(9);
    l.record_lost_challenge(&AUTHORITY, challenge, b, 1)
        .unwrap();
    let outcome = l
        .slash(
            &d[3],
            &Evidence::InvalidStateRoot {
                set: id(Service::Mach),
                operator: b,
                height: 1,
                challenge,
            },
        )
        .unwrap();
    // All of B's 600 is gone; d3 keeps the 600 of rewards it had earned.
    assert_eq!(outcome.slashed, u(600));
    assert_eq!(l.pending_rewards(&d[2]).unwrap(), u(600));
    // The next epoch goes to A alone: B has no weight left.
    l.fund_rewards(&d[3], id(Service::Mach), u(1_000)).unwrap();
    let epoch = l.distribute_epoch(&AUTHORITY, id(Service::Mach)).unwrap();
    assert_eq!((epoch.operators, epoch.distributed), (1, u(1_000)));
    assert_eq!(l.pending_rewards(&d[2]).unwrap(), u(600));
    assert_eq!(l.pending_rewards(&d[0]).unwrap(), u(270 + 675));
    assert_eq!(l.pending_rewards(&a).unwrap(), u(40 + 100));
    l.check_invariants().unwrap();
}

#[test]
fn rounding_remainders_carry_over_and_nobody_is_paid_more_than_was_distributed() {
    let mut l = AltLedger::new(StakingParams::default(), AUTHORITY, 1).unwrap();
    let mach = id(Service::Mach);
    l.create_set(&AUTHORITY, mach, OperatorSetConfig { min_stake: u(1) })
        .unwrap();
    let operators = [0x51, 0x52, 0x53].map(Address::repeat_byte);
    let delegators = [1, 2, 3, 4, 5, 6, 7].map(Address::repeat_byte);
    for o in operators {
        l.register_operator(o, OperatorKey::EcdsaOnly, 333).unwrap();
    }
    for (i, d) in delegators.iter().enumerate() {
        l.mint(&AUTHORITY, d, u(1_000)).unwrap();
        l.stake(d, u(1_000)).unwrap();
        l.delegate(d, &operators[i % 3], u(7 + 13 * i as u64))
            .unwrap();
    }
    for o in operators {
        l.join_set(&o, mach).unwrap();
    }
    let funder = Address::repeat_byte(0xf0);
    l.mint(&AUTHORITY, &funder, u(1_000_000)).unwrap();
    let mut paid = U256::ZERO;
    for amount in [1u64, 2, 3, 97, 1_009, 10_007] {
        l.fund_rewards(&funder, mach, u(amount)).unwrap();
        let epoch = l.distribute_epoch(&AUTHORITY, mach).unwrap();
        assert_eq!(epoch.carried, l.undistributed(mach).unwrap());
        paid += epoch.distributed;
        l.check_invariants().unwrap();
    }
    let claimable = delegators
        .iter()
        .chain(&operators)
        .map(|who| l.pending_rewards(who).unwrap())
        .fold(U256::ZERO, |s, x| s + x);
    assert!(claimable <= paid);
    // Only dust is lost to rounding: at most a wei per delegator and epoch.
    assert!(paid - claimable <= u(7 * 6));
    for who in delegators.iter().chain(&operators) {
        if !l.pending_rewards(who).unwrap().is_zero() {
            l.claim(who).unwrap();
        }
    }
    l.check_invariants().unwrap();
}

#[test]
fn fees_are_split_and_routed_to_the_rollups_sets() {
    let World { mut l, d, .. } = world();
    l.mint(&AUTHORITY, &d[3], u(20_000)).unwrap();
    // With only MACH, sequencers' share (SQUAD) goes to the treasury with its own.
    let fees = l.collect_fees(&d[3], ROLLUP, u(10_001)).unwrap();
    assert_eq!(
        fees.split,
        FeeShares {
            burn: u(1_000),
            sequencers: u(4_000),
            operators: u(4_000),
            treasury: u(1_001)
        }
    );
    assert_eq!(fees.to_sets, vec![(id(Service::Mach), u(4_000))]);
    assert_eq!(fees.to_treasury, u(5_001));
    assert_eq!((l.treasury(), l.burned()), (u(5_001), u(1_000)));

    // SQUAD and VITAL exist too: sequencers get theirs, VITAL and MACH split by total stake.
    l.create_set(
        &AUTHORITY,
        id(Service::Squad),
        OperatorSetConfig { min_stake: u(1) },
    )
    .unwrap();
    l.create_set(
        &AUTHORITY,
        id(Service::Vital),
        OperatorSetConfig { min_stake: u(1) },
    )
    .unwrap();
    let b = Address::repeat_byte(0xb1);
    l.join_set(&b, id(Service::Vital)).unwrap(); // 600 in VITAL, 1,000 in MACH
    let fees = l.collect_fees(&d[3], ROLLUP, u(1_000)).unwrap();
    assert_eq!(
        fees.to_sets,
        vec![
            (id(Service::Squad), u(400)),
            (id(Service::Vital), u(150)),
            (id(Service::Mach), u(250)),
        ]
    );
    l.check_invariants().unwrap();

    // Through the TokenLedger door: a registered fee account routes, any other is credited.
    let collector = Address::repeat_byte(0xfe);
    l.charge_fee(&d[3], &collector, u(100)).unwrap();
    assert_eq!(l.balance_of(&collector), u(100));
    l.register_fee_account(&AUTHORITY, collector, ROLLUP)
        .unwrap();
    let squad = l.undistributed(id(Service::Squad)).unwrap();
    l.charge_fee(&d[3], &collector, u(100)).unwrap();
    assert_eq!(l.balance_of(&collector), u(100));
    assert_eq!(l.undistributed(id(Service::Squad)).unwrap(), squad + u(40));
    l.check_invariants().unwrap();
}

#[test]
fn a_set_without_weight_carries_its_rewards() {
    let mut l = AltLedger::new(StakingParams::default(), AUTHORITY, 1).unwrap();
    let mach = id(Service::Mach);
    l.create_set(&AUTHORITY, mach, OperatorSetConfig { min_stake: u(1) })
        .unwrap();
    l.mint(&AUTHORITY, &AUTHORITY, u(50)).unwrap();
    l.fund_rewards(&AUTHORITY, mach, u(50)).unwrap();
    let epoch = l.distribute_epoch(&AUTHORITY, mach).unwrap();
    assert_eq!((epoch.operators, epoch.carried), (0, u(50)));
    assert_eq!(l.undistributed(mach).unwrap(), u(50));
    l.check_invariants().unwrap();
}

#[test]
fn refused_reward_operations_change_nothing() {
    let World { mut l, a, d, .. } = world();
    let check = |l: &mut AltLedger,
                 op: &dyn Fn(&mut AltLedger) -> Result<(), StakingError>|
     -> StakingError {
        let before = l.state_hash();
        let err = op(l).expect_err("refused");
        assert_eq!(l.state_hash(), before, "{err}");
        err
    };
    let mach = id(Service::Mach);
    let unknown = id(Service::Squad);
    assert_eq!(
        check(&mut l, &|l| l.distribute_epoch(&a, mach).map(drop)),
        StakingError::Unauthorized(a)
    );
    assert_eq!(
        check(&mut l, &|l| l
            .distribute_epoch(&AUTHORITY, unknown)
            .map(drop)),
        StakingError::UnknownSet(unknown)
    );
    assert_eq!(
        check(&mut l, &|l| l.fund_rewards(&d[0], unknown, u(1))),
        StakingError::UnknownSet(unknown)
    );
    assert_eq!(
        check(&mut l, &|l| l.fund_rewards(&d[0], mach, U256::ZERO)),
        StakingError::ZeroAmount
    );
    assert!(matches!(
        check(&mut l, &|l| l.fund_rewards(&d[0], mach, u(1_000_000))),
        StakingError::InsufficientBalance { .. }
    ));
    assert!(matches!(
        check(&mut l, &|l| l
            .collect_fees(&d[0], ROLLUP, u(1_000_000))
            .map(drop)),
        StakingError::InsufficientBalance { .. }
    ));
    assert_eq!(
        check(&mut l, &|l| l.claim(&d[0]).map(drop)),
        StakingError::NothingToClaim
    );
    assert_eq!(
        check(&mut l, &|l| l.register_fee_account(&a, a, ROLLUP)),
        StakingError::Unauthorized(a)
    );
}
