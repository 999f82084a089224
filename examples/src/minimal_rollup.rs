//! A minimal rollup: core's defaults through the builder (one sequencer, re-execution
//! verifier, challenge-window finality, in-memory DA and settlement), run with the node's
//! tokio runner. Alice pays Bob; the block is batched, verified and final.

use altlayer_core::{
    RollupConfig, Sequencer,
    alloy::primitives::{Address, U256},
    dev::{DevAccount, dev_state_transition},
    rollup::{Input, Rollup, RollupEvent, RollupSettings},
    transaction::{RecoveryBackend, recover},
};
use altlayer_node::runner::step;

/// Bob's balance and the final height, once everything is final.
pub async fn run() -> Result<(U256, Option<u64>), Box<dyn std::error::Error>> {
    let genesis = dev_state_transition(RollupConfig::default(), 2);
    let settings = RollupSettings {
        blocks_per_batch: 1,
        challenge_window_secs: 0,
        ..Default::default()
    };
    let mut rollup = Rollup::builder(genesis, settings).build()?;

    let (alice, bob) = (DevAccount::new(0), Address::repeat_byte(0xb0));
    let tx = alice.transfer(1337, 0, bob, U256::from(1_000));
    rollup.submit(recover(tx, RecoveryBackend::Libsecp256k1)?)?;

    let mut finalized = None;
    for second in 1..=2 {
        for event in step(
            &mut rollup,
            Input::Tick {
                now_ms: second * 1_000,
            },
        )
        .await?
        {
            if let RollupEvent::Finalized { height } = event {
                finalized = Some(height);
            }
        }
    }
    let balance = rollup
        .sequencer()
        .state_transition()
        .state()
        .balance(&bob)
        .unwrap();
    Ok((balance, finalized))
}
