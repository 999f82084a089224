//! What governance changes on the ledger directly: a set's minimum stake (from now on, the
//! past keeps its own) and treasury spends.

use alloy_primitives::{Address, U256};
use altlayer_core::{RollupId, TokenLedger};
use altlayer_staking::*;

const AUTHORITY: Address = Address::repeat_byte(0xaa);

fn set() -> OperatorSetId {
    OperatorSetId::new(Service::Vital, RollupId(1))
}

#[test]
fn a_new_minimum_stake_counts_from_now_on() {
    let mut l = AltLedger::new(StakingParams::default(), AUTHORITY, 1_337).unwrap();
    l.create_set(
        &AUTHORITY,
        set(),
        OperatorSetConfig {
            min_stake: U256::from(10),
        },
    )
    .unwrap();
    let (big, small) = (Address::repeat_byte(1), Address::repeat_byte(2));
    for (operator, stake) in [(big, 100u64), (small, 40)] {
        l.register_operator(operator, OperatorKey::EcdsaOnly, 0)
            .unwrap();
        l.mint(&AUTHORITY, &operator, U256::from(stake)).unwrap();
        l.stake(&operator, U256::from(stake)).unwrap();
        l.delegate(&operator, &operator, U256::from(stake)).unwrap();
        l.join_set(&operator, set()).unwrap();
    }
    l.advance(5, 50).unwrap();
    assert_eq!(
        l.set_min_stake(&big, set(), U256::from(50)),
        Err(StakingError::Unauthorized(big))
    );
    l.set_min_stake(&AUTHORITY, set(), U256::from(50)).unwrap();
    // Now: the small operator is below the minimum and weighs nothing.
    assert_eq!(l.total_stake_at(set(), 5).unwrap(), U256::from(100));
    assert_eq!(l.stake_at(&small, set(), 5).unwrap(), U256::ZERO);
    // Before: it counted.
    assert_eq!(l.total_stake_at(set(), 4).unwrap(), U256::from(140));
    assert_eq!(l.stake_at(&small, set(), 4).unwrap(), U256::from(40));
    l.check_invariants().unwrap();
    // Lowering it again brings the operator back.
    l.advance(6, 60).unwrap();
    l.set_min_stake(&AUTHORITY, set(), U256::from(40)).unwrap();
    assert_eq!(l.total_stake_at(set(), 6).unwrap(), U256::from(140));
    l.check_invariants().unwrap();
}

#[test]
fn treasury_spends_are_the_authoritys_and_bounded_by_the_treasury() {
    let mut l = AltLedger::new(StakingParams::default(), AUTHORITY, 1_337).unwrap();
    let (payer, grantee) = (Address::repeat_byte(1), Address::repeat_byte(2));
    l.mint(&AUTHORITY, &payer, U256::from(100)).unwrap();
    l.pay_treasury(&payer, U256::from(100)).unwrap();
    assert_eq!(
        l.spend_treasury(&payer, &grantee, U256::from(1)),
        Err(StakingError::Unauthorized(payer))
    );
    assert!(matches!(
        l.spend_treasury(&AUTHORITY, &grantee, U256::from(101)),
        Err(StakingError::InsufficientBalance { .. })
    ));
    l.spend_treasury(&AUTHORITY, &grantee, U256::from(60))
        .unwrap();
    assert_eq!(
        (l.treasury(), l.balance_of(&grantee)),
        (U256::from(40), U256::from(60))
    );
    l.check_invariants().unwrap();
}
