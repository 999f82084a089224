//! A component of the user's own, swapped in with one call: a finality gadget that calls a
//! block safe once `depth` blocks are built on it (the sequencer's word, like a PoW chain's
//! confirmations), and leaves L1 finality to core's challenge-window gadget inside it.

use altlayer_core::{
    Block, FinalityGadget, RollupConfig,
    alloy::primitives::B256,
    dev::dev_state_transition,
    finality::{ChallengeWindowFinality, FinalityEvent, FinalityStatus},
    rollup::{Input, Rollup, RollupSettings},
    settlement::BatchCommitment,
};

/// Safe at `depth` confirmations; final when the batch's challenge window passes.
#[derive(Debug)]
pub struct DepthFinality {
    depth: u64,
    head: u64,
    l1: ChallengeWindowFinality,
}

impl DepthFinality {
    /// A gadget with `depth` confirmations and an L1 window of `window` seconds.
    pub const fn new(depth: u64, window: u64) -> Self {
        Self {
            depth,
            head: 0,
            l1: ChallengeWindowFinality::new(window),
        }
    }
}

impl FinalityGadget for DepthFinality {
    type Message = std::convert::Infallible;

    fn status(&self, height: u64) -> FinalityStatus {
        self.l1.status(height)
    }

    fn finalized_height(&self) -> Option<u64> {
        self.l1.finalized_height()
    }

    fn safe_height(&self) -> Option<u64> {
        self.head
            .checked_sub(self.depth)
            .filter(|h| *h > 0)
            .max(self.l1.finalized_height())
    }

    fn on_block(&mut self, now_ms: u64, hash: B256, block: &Block) -> Vec<FinalityEvent> {
        self.head = self.head.max(block.header.height);
        self.l1.on_block(now_ms, hash, block)
    }

    fn on_batch_committed(&mut self, batch: &BatchCommitment, at: u64) {
        self.l1.on_batch_committed(batch, at);
    }

    fn on_challenge(&mut self, batch: u64) {
        self.l1.on_challenge(batch);
    }

    fn on_challenge_failed(&mut self, batch: u64) {
        self.l1.on_challenge_failed(batch);
    }

    fn on_revert(&mut self, batch: u64, to_height: u64) {
        self.head = self.head.min(to_height);
        self.l1.on_revert(batch, to_height);
    }

    fn on_settlement_time(&mut self, now: u64) -> Option<u64> {
        self.l1.on_settlement_time(now)
    }
}

/// The safe height after ten blocks with three confirmations, and the final one after a
/// one-hour window (none yet).
pub fn run() -> Result<(Option<u64>, Option<u64>), Box<dyn std::error::Error>> {
    let genesis = dev_state_transition(RollupConfig::default(), 1);
    let mut rollup = Rollup::builder(genesis, RollupSettings::default())
        .finality(DepthFinality::new(3, 3_600))
        .build()?;
    for second in 1..=10 {
        rollup.handle_locally(Input::Tick {
            now_ms: second * 1_000,
        })?;
    }
    Ok((
        rollup.finality().safe_height(),
        rollup.finality().finalized_height(),
    ))
}
