//! Staking at scale: 1,000 operators in one MACH set, 100,000 delegators (100 per operator),
//! delegations made over ten heights. A `stake_at` query at a past height, a slash, and one
//! epoch's reward distribution, each against the naive per-delegator loop that does the same
//! without share accounting.

use alloy_primitives::{Address, B256, U256, keccak256};
use altlayer_core::RollupId;
use altlayer_staking::{
    AltLedger, Evidence, OperatorKey, OperatorSetConfig, OperatorSetId, Service, StakingParams,
    checkpoints::Checkpoints,
};
use criterion::{Criterion, criterion_group, criterion_main};
use std::{
    collections::{BTreeMap, HashMap},
    hint::black_box,
    time::{Duration, Instant},
};

const OPERATORS: usize = 1_000;
const DELEGATORS: usize = 100_000;
const HEIGHTS: u64 = 10;
/// Fraction a slash takes, in bips (1 %, so repeated slashes in the measurement leave stake).
const SLASH_BIPS: u32 = 100;
const AUTHORITY: Address = Address::repeat_byte(0xaa);
const ALT: u64 = 1_000_000_000_000_000_000;

fn address(domain: u8, i: usize) -> Address {
    let mut seed = [0u8; 9];
    seed[0] = domain;
    seed[1..].copy_from_slice(&(i as u64).to_be_bytes());
    Address::from_slice(&keccak256(seed)[12..])
}

fn operator(i: usize) -> Address {
    address(1, i)
}

fn delegator(i: usize) -> Address {
    address(2, i)
}

fn amount(i: usize) -> U256 {
    U256::from(ALT) * U256::from(1 + i % 97)
}

fn mach() -> OperatorSetId {
    OperatorSetId::new(Service::Mach, RollupId(1))
}

/// The ledger: delegator `i` delegates to operator `i % 1,000` at height `i % 10`.
fn ledger() -> AltLedger {
    let params = StakingParams {
        slash_invalid_state_root_bips: SLASH_BIPS,
        ..StakingParams::default()
    };
    let mut l = AltLedger::new(params, AUTHORITY, 1).expect("valid parameters");
    l.create_set(
        &AUTHORITY,
        mach(),
        OperatorSetConfig {
            min_stake: U256::ZERO,
        },
    )
    .expect("new set");
    for o in 0..OPERATORS {
        l.register_operator(operator(o), OperatorKey::EcdsaOnly, 1_000)
            .expect("new operator");
        l.join_set(&operator(o), mach()).expect("no minimum");
    }
    for height in 0..HEIGHTS {
        l.advance(height, height * 12).expect("forward");
        for d in (height as usize..DELEGATORS).step_by(HEIGHTS as usize) {
            let who = delegator(d);
            l.mint(&AUTHORITY, &who, amount(d)).expect("mint");
            l.stake(&who, amount(d)).expect("stake");
            l.delegate(&who, &operator(d % OPERATORS), amount(d))
                .expect("delegate");
        }
    }
    l
}

/// Staking without share accounting: every delegation is a balance of its own, so a slash
/// or an epoch must visit delegators one by one. Keyed by delegator, as the ledger keys its
/// shares.
struct Naive {
    delegations: BTreeMap<Address, NaiveDelegation>,
    commission_bips: u32,
}

struct NaiveDelegation {
    operator: Address,
    amount: Checkpoints<U256>,
    rewards: U256,
}

impl Naive {
    fn new() -> Self {
        let mut delegations = BTreeMap::new();
        for d in 0..DELEGATORS {
            let mut amount = Checkpoints::default();
            amount.record(d as u64 % HEIGHTS, self::amount(d));
            delegations.insert(
                delegator(d),
                NaiveDelegation {
                    operator: operator(d % OPERATORS),
                    amount,
                    rewards: U256::ZERO,
                },
            );
        }
        Self {
            delegations,
            commission_bips: 1_000,
        }
    }

    fn stake_at(&self, operator: &Address, height: u64) -> U256 {
        self.delegations
            .values()
            .filter(|d| d.operator == *operator)
            .fold(U256::ZERO, |sum, d| sum + d.amount.at(height))
    }

    fn slash(&mut self, operator: &Address, height: u64) -> U256 {
        let mut taken = U256::ZERO;
        for d in self.delegations.values_mut() {
            if d.operator == *operator {
                let amount = d.amount.latest();
                let cut = amount * U256::from(SLASH_BIPS) / U256::from(10_000);
                d.amount.record(height, amount - cut);
                taken += cut;
            }
        }
        taken
    }

    fn distribute(&mut self, rewards: U256) {
        let mut stakes: HashMap<Address, U256> = HashMap::with_capacity(OPERATORS);
        for d in self.delegations.values() {
            *stakes.entry(d.operator).or_default() += d.amount.latest();
        }
        let total = stakes.values().fold(U256::ZERO, |s, x| s + x);
        // What each operator's delegators share, after commission, and its stake.
        let pools: HashMap<Address, (U256, U256)> = stakes
            .into_iter()
            .map(|(operator, stake)| {
                let share = rewards * stake / total;
                let commission = share * U256::from(self.commission_bips) / U256::from(10_000);
                (operator, (share - commission, stake))
            })
            .collect();
        for d in self.delegations.values_mut() {
            let (rest, stake) = pools[&d.operator];
            d.rewards += rest * d.amount.latest() / stake;
        }
    }
}

/// The naive slash with an index from operator to its delegations: it visits only the
/// slashed operator's delegators (100 here), the most favourable case for the per-delegator
/// loop when delegators are spread evenly.
struct NaiveIndexed {
    by_operator: HashMap<Address, Vec<(Address, Checkpoints<U256>)>>,
}

impl NaiveIndexed {
    fn new() -> Self {
        let mut by_operator: HashMap<_, Vec<_>> = HashMap::with_capacity(OPERATORS);
        for d in 0..DELEGATORS {
            let mut amount = Checkpoints::default();
            amount.record(d as u64 % HEIGHTS, self::amount(d));
            by_operator
                .entry(operator(d % OPERATORS))
                .or_default()
                .push((delegator(d), amount));
        }
        Self { by_operator }
    }

    fn slash(&mut self, operator: &Address, height: u64) -> U256 {
        let mut taken = U256::ZERO;
        for (_, amount) in self.by_operator.get_mut(operator).into_iter().flatten() {
            let before = amount.latest();
            let cut = before * U256::from(SLASH_BIPS) / U256::from(10_000);
            amount.record(height, before - cut);
            taken += cut;
        }
        taken
    }
}

fn staking(c: &mut Criterion) {
    let mut ledger = ledger();
    let mut naive = Naive::new();
    let now = HEIGHTS - 1;
    let past = HEIGHTS / 2;
    let target = operator(OPERATORS / 2);
    assert_eq!(
        ledger.stake_at(&target, mach(), past).expect("past"),
        naive.stake_at(&target, past),
        "the baseline computes the same weight"
    );
    let funder = Address::repeat_byte(0xf0);
    ledger
        .mint(
            &AUTHORITY,
            &funder,
            U256::from(ALT) * U256::from(1u64 << 40),
        )
        .expect("mint");
    let reward = U256::from(ALT) * U256::from(1_000);

    let mut group = c.benchmark_group("staking");
    group.bench_function("stake_at/share_accounting", |b| {
        b.iter(|| ledger.stake_at(black_box(&target), mach(), black_box(past)))
    });
    group.bench_function("stake_at/naive_per_delegator", |b| {
        b.iter(|| naive.stake_at(black_box(&target), black_box(past)))
    });

    // Each slash is new evidence (a new decided challenge) against the next operator.
    let mut next = 0usize;
    group.bench_function("slash/share_accounting", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                next += 1;
                let offender = operator(next % OPERATORS);
                let challenge = B256::from(U256::from(next));
                ledger
                    .record_lost_challenge(&AUTHORITY, challenge, offender, now)
                    .expect("authority");
                let evidence = Evidence::InvalidStateRoot {
                    set: mach(),
                    operator: offender,
                    height: now,
                    challenge,
                };
                let start = Instant::now();
                let outcome = ledger.slash(&funder, black_box(&evidence));
                elapsed += start.elapsed();
                black_box(outcome.expect("valid evidence"));
            }
            elapsed
        })
    });
    group.bench_function("slash/naive_per_delegator", |b| {
        b.iter(|| {
            next += 1;
            naive.slash(&operator(next % OPERATORS), now)
        })
    });

    let mut indexed = NaiveIndexed::new();
    group.bench_function("slash/naive_operator_indexed", |b| {
        b.iter(|| {
            next += 1;
            indexed.slash(&operator(next % OPERATORS), now)
        })
    });

    group.bench_function("epoch/share_accounting", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                ledger
                    .fund_rewards(&funder, mach(), reward)
                    .expect("funded");
                let start = Instant::now();
                let epoch = ledger.distribute_epoch(&AUTHORITY, black_box(mach()));
                elapsed += start.elapsed();
                black_box(epoch.expect("authority"));
            }
            elapsed
        })
    });
    group.bench_function("epoch/naive_per_delegator", |b| {
        b.iter(|| naive.distribute(black_box(reward)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = staking
}
criterion_main!(benches);
