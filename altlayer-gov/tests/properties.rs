//! Random orders of events (votes, deposits, stake moves, time steps, cancels, queues,
//! executions, epochs) against governance: terminal states are absorbing, no vote counts
//! twice, deposits in escrow are exactly those still held, and a refused event changes
//! nothing.

use alloy_primitives::{Address, U256};
use altlayer_core::TokenLedger;
use altlayer_gov::{
    Action, Ballot, Clock, GovParams, Governance, Proposal, ProtocolParams, Status, VoteOption,
};
use altlayer_staking::{AltLedger, FeeSplit, StakingParams};
use proptest::prelude::*;

const AUTHORITY: Address = Address::repeat_byte(0xaa);
const ESCROW: Address = Address::repeat_byte(0xe5);
const GUARDIAN: Address = Address::repeat_byte(0x9a);

fn who(i: u8) -> Address {
    Address::with_last_byte(1 + i % 5)
}

#[derive(Clone, Debug)]
enum Event {
    Vote {
        voter: u8,
        proposal: u64,
        option: u8,
        split: bool,
    },
    Deposit {
        depositor: u8,
        proposal: u64,
        amount: u64,
    },
    Stake {
        staker: u8,
        amount: u64,
    },
    Step {
        blocks: u64,
        secs: u64,
    },
    Cancel {
        caller: u8,
        proposal: u64,
    },
    Queue {
        proposal: u64,
    },
    Execute {
        proposal: u64,
    },
    Propose {
        proposer: u8,
        deposit: u64,
    },
    Epoch,
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        10 => (0u8..6, 0u64..3, 0u8..8, any::<bool>())
            .prop_map(|(voter, proposal, option, split)| Event::Vote { voter, proposal, option, split }),
        2 => (0u8..6, 0u64..4, 1u64..80)
            .prop_map(|(depositor, proposal, amount)| Event::Deposit { depositor, proposal, amount }),
        1 => (0u8..6, 1u64..200).prop_map(|(staker, amount)| Event::Stake { staker, amount }),
        4 => (0u64..4, 0u64..60).prop_map(|(blocks, secs)| Event::Step { blocks, secs }),
        1 => (0u8..7, 0u64..4).prop_map(|(caller, proposal)| Event::Cancel { caller, proposal }),
        3 => (0u64..3).prop_map(|proposal| Event::Queue { proposal }),
        3 => (0u64..3).prop_map(|proposal| Event::Execute { proposal }),
        1 => (0u8..6, 20u64..120).prop_map(|(proposer, deposit)| Event::Propose { proposer, deposit }),
        1 => Just(Event::Epoch),
    ]
}

fn option(i: u8) -> VoteOption {
    [
        VoteOption::Yes,
        VoteOption::No,
        VoteOption::Abstain,
        VoteOption::NoWithVeto,
    ][usize::from(i % 4)]
}

fn held(status: &Status) -> bool {
    matches!(
        status,
        Status::DepositPeriod { .. } | Status::Pending | Status::Active
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn governance_invariants_hold_under_any_order_of_events(events in prop::collection::vec(event(), 20..160)) {
        let mut ledger = AltLedger::new(StakingParams::default(), AUTHORITY, 1_337).unwrap();
        for i in 0..5u8 {
            ledger.mint(&AUTHORITY, &who(i), U256::from(2_000)).unwrap();
            ledger.stake(&who(i), U256::from(100 * u64::from(i + 1))).unwrap();
        }
        ledger.mint(&AUTHORITY, &AUTHORITY, U256::from(100)).unwrap();
        ledger.pay_treasury(&AUTHORITY, U256::from(100)).unwrap();
        ledger.advance(1, 10).unwrap();
        let params = ProtocolParams {
            gov: GovParams {
                min_deposit: U256::from(100),
                min_initial_deposit: U256::from(20),
                deposit_period_secs: 120,
                voting_delay_blocks: 2,
                voting_period_blocks: 12,
                timelock_secs: 30,
                grace_period_secs: 60,
                ..GovParams::default()
            },
            ..ProtocolParams::default()
        };
        let mut gov = Governance::new(params, AUTHORITY, ESCROW, Some(GUARDIAN)).unwrap();
        let mut now = Clock::new(1, 10);
        let actions = |i: u8| match i % 3 {
            0 => vec![Action::SetFeeSplit { split: FeeSplit { burn_bips: 0, sequencers_bips: 5_000, operators_bips: 4_000, treasury_bips: 1_000 } }],
            1 => vec![Action::TreasurySpend { to: who(i), amount: U256::from(60) }],
            _ => vec![Action::SetChallengeWindow { secs: 86_400 * 10 }],
        };
        // Two proposals with their full deposit from the start; more may come.
        for proposer in [0u8, 1] {
            gov.propose(&mut ledger, who(proposer), actions(proposer), U256::from(100), now).unwrap();
        }
        for e in &events {
            let before: Vec<Proposal> = gov.proposals().cloned().collect();
            let ledger_before = ledger.state_hash();
            let result: Result<(), String> = match e.clone() {
                Event::Vote { voter, proposal, option: o, split } => {
                    let ballot = if split {
                        Ballot::split(vec![(option(o), 6_000), (option(o + 1), 4_000)]).unwrap()
                    } else {
                        Ballot::single(option(o))
                    };
                    gov.vote(&ledger, who(voter), proposal, ballot, now).map_err(|e| e.to_string())
                }
                Event::Deposit { depositor, proposal, amount } => gov
                    .deposit(&mut ledger, who(depositor), proposal, U256::from(amount), now)
                    .map_err(|e| e.to_string()),
                Event::Stake { staker, amount } => ledger.stake(&who(staker), U256::from(amount)).map_err(|e| e.to_string()),
                Event::Step { blocks, secs } => {
                    now = Clock::new(now.height + blocks, now.time + secs);
                    ledger.advance(now.height, now.time).unwrap();
                    gov.advance(&mut ledger, now).map(drop).map_err(|e| e.to_string())
                }
                Event::Cancel { caller, proposal } => {
                    let caller = if caller == 6 { GUARDIAN } else { who(caller) };
                    gov.cancel(&mut ledger, caller, proposal).map_err(|e| e.to_string())
                }
                Event::Queue { proposal } => gov.queue(proposal, now).map(drop).map_err(|e| e.to_string()),
                Event::Execute { proposal } => gov.execute(&mut ledger, proposal, now).map(drop).map_err(|e| e.to_string()),
                Event::Propose { proposer, deposit } => gov
                    .propose(&mut ledger, who(proposer), actions(proposer), U256::from(deposit), now)
                    .map(drop)
                    .map_err(|e| e.to_string()),
                Event::Epoch => gov.begin_epoch(&mut ledger, &mut []).map(drop).map_err(|e| e.to_string()),
            };
            let after: Vec<Proposal> = gov.proposals().cloned().collect();
            if result.is_err() && !matches!(e, Event::Step { .. }) {
                prop_assert_eq!(&after, &before, "refused {:?} changed governance", e);
                prop_assert_eq!(ledger.state_hash(), ledger_before, "refused {:?} changed the ledger", e);
            }
            // Terminal states are absorbing.
            for old in &before {
                if old.status.is_terminal() {
                    prop_assert_eq!(&after[old.id as usize].status, &old.status);
                }
            }
            let mut escrow = U256::ZERO;
            for p in &after {
                // Each voter counts once, with its stake at the height before the snapshot.
                let mut powers = U256::ZERO;
                for (voter, (_, power)) in &p.votes {
                    let height = p.power_height().unwrap();
                    prop_assert_eq!(*power, ledger.voting_power_at(voter, height).unwrap());
                    powers += *power;
                }
                prop_assert_eq!(p.tally.voted(), powers, "proposal {} tally", p.id);
                prop_assert!(p.tally.voted() <= p.total_power || p.votes.is_empty());
                if held(&p.status) {
                    escrow += p.deposit();
                }
            }
            prop_assert_eq!(ledger.balance_of(&ESCROW), escrow);
            ledger.check_invariants().map_err(TestCaseError::fail)?;
        }
    }
}
