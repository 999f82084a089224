//! The sans-IO rollup driven from a plain loop, without tokio: an embedder's own event loop
//! hands the driver time and carries out its effects (here against core's in-process DA and
//! settlement, which answer synchronously). The sequencer mints itself ether before block 3;
//! the verifier catches the batch, wins the dispute game with a one-step proof, settlement
//! reverts, and the chain goes on from the last valid block.

use altlayer_core::{
    RollupConfig,
    alloy::primitives::U256,
    dev::dev_state_transition,
    rollup::{Input, Rollup, RollupEvent, RollupSettings},
    settlement::bisection::Party,
};

/// What the loop saw.
#[derive(Debug, Default)]
pub struct Report {
    /// The challenge's winner.
    pub winner: Option<Party>,
    /// The height the chain went back to.
    pub rewound_to: Option<u64>,
    /// The head when the loop stopped.
    pub head: u64,
    /// The highest final height.
    pub finalized: Option<u64>,
}

/// Runs twenty one-second ticks.
pub fn run() -> Result<Report, Box<dyn std::error::Error>> {
    let genesis = dev_state_transition(RollupConfig::default(), 4);
    let settings = RollupSettings {
        blocks_per_batch: 2,
        challenge_window_secs: 5,
        move_timeout_secs: 0,
        ..Default::default()
    };
    let mut rollup = Rollup::builder(genesis, settings).build()?;
    let thief = rollup.settings().proposer;
    rollup.sequencer_mut().state_transition_mut().credit_before(
        3,
        thief,
        U256::from(10u64).pow(U256::from(21u64)),
    );

    let mut report = Report::default();
    for second in 1..=20 {
        let mut inputs = vec![Input::Tick {
            now_ms: second * 1_000,
        }];
        while let Some(input) = inputs.pop() {
            let out = rollup.handle(input)?;
            for event in out.events {
                match event {
                    RollupEvent::Decided(resolution) => {
                        report.winner = Some(resolution.decision.winner)
                    }
                    RollupEvent::Rewound { height, .. } => report.rewound_to = Some(height),
                    RollupEvent::Finalized { height } => report.finalized = Some(height),
                    _ => {}
                }
            }
            inputs.extend(
                out.effects
                    .into_iter()
                    .filter_map(|e| rollup.execute_locally(e)),
            );
        }
    }
    report.head = rollup.head().height;
    Ok(report)
}
