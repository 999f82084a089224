//! A restaked rollup through the builder: a SQUAD set of four sequencers orders the
//! transactions, a MACH committee of four operators makes blocks fast-final with BLS quorum
//! certificates, a VITAL operator re-executes every batch, and the ALT ledger charges fees and
//! holds the operators' stake. Each component is swapped in with one call.

use altlayer_avs::{
    mach::committee::{CommitteeConfig, MachCommittee},
    restaked::{Restaked, RestakedConfig, alt},
    squad::sequencer::{SquadSequencer, SquadSequencerConfig},
    vital::operator::{Conduct, VitalOperator},
};
use altlayer_core::{
    RollupConfig, Sequencer,
    alloy::primitives::{Address, U256},
    dev::{DevAccount, dev_state_transition},
    rollup::{Input, Rollup, RollupEvent, RollupSettings},
    transaction::{RecoveryBackend, recover},
};
use altlayer_node::runner::step;

/// What the restaked rollup reached.
#[derive(Debug, Default)]
pub struct Report {
    /// Highest height soft-confirmed by SQUAD.
    pub soft: Option<u64>,
    /// Highest height fast-final by MACH.
    pub fast: Option<u64>,
    /// Highest height final on L1.
    pub firm: Option<u64>,
    /// Batches the VITAL operator found right.
    pub verified: u64,
    /// ALT charged as fees.
    pub fees: U256,
}

/// Runs the rollup for three seconds of virtual time with a payment in every block.
pub async fn run() -> Result<Report, Box<dyn std::error::Error>> {
    let genesis = dev_state_transition(RollupConfig::default(), 4);
    let operators = Restaked::dev(&RestakedConfig {
        fee_per_gas: U256::from(1_000_000_000u64),
        ..Default::default()
    })?;
    let settings = RollupSettings {
        blocks_per_batch: 2,
        block_time_ms: 200,
        challenge_window_secs: 1,
        challenge_bond: alt(1_000),
        proposer: operators.proposer,
        operator: operators.proposer,
        verifier: operators.verifier,
        ..Default::default()
    };
    let (squad_roster, sequencers) = operators.squad.clone().ok_or("no SQUAD set")?;
    let (mach_roster, mach_operators) = operators.mach.clone();
    let start = 1_700_000_000_000;
    let squad = SquadSequencer::new(
        genesis.clone(),
        SquadSequencerConfig {
            block_time_ms: settings.block_time_ms,
            coinbase: operators.proposer,
            intermediate_roots: true,
            ..Default::default()
        },
        squad_roster,
        sequencers,
        start,
    )?;
    let mach = MachCommittee::new(
        CommitteeConfig {
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
    let mut rollup = Rollup::builder(genesis, settings)
        .sequencer(squad)
        .finality(mach)
        .verifier(vital)
        .ledger(operators.ledger)
        .build()?;

    let mut report = Report::default();
    let alice = DevAccount::new(0);
    let mut nonce = 0;
    let mut now = start;
    while now < start + 3_000 {
        if rollup.sequencer().pending() == 0 {
            let tx = alice.transfer(1337, nonce, Address::repeat_byte(0xb0), U256::from(1));
            rollup.submit(recover(tx, RecoveryBackend::Libsecp256k1)?)?;
            nonce += 1;
        }
        // Virtual time: jump to whatever a component has due next.
        now = rollup.next_wake().unwrap_or(now + 10).max(now + 1);
        for event in step(&mut rollup, Input::Tick { now_ms: now }).await? {
            match event {
                RollupEvent::SoftConfirmed { height, .. } => {
                    report.soft = report.soft.max(Some(height))
                }
                RollupEvent::FastFinal { height, .. } => {
                    report.fast = report.fast.max(Some(height))
                }
                RollupEvent::Finalized { height } => report.firm = Some(height),
                RollupEvent::BatchChecked {
                    check: altlayer_core::verifier::BatchCheck::Valid,
                    ..
                } => {
                    report.verified += 1;
                }
                RollupEvent::Ledger(altlayer_core::ledger::LedgerEvent::Fees {
                    amount, ..
                }) => report.fees += amount,
                _ => {}
            }
        }
    }
    Ok(report)
}
