//! Fault drills on a replica: what a faulty or dishonest sequencer's state looks like, for
//! tests and `altlayer devnet --fault`.

use super::EvmStateTransition;
use alloy_primitives::{Address, U256};

/// A credit outside any transaction, made just before a given block is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Drill {
    height: u64,
    to: Address,
    amount: U256,
}

impl EvmStateTransition {
    /// Arms a drill: just before it builds block `height`, this replica credits `amount` wei to
    /// `to` outside any transaction, so that block (and every one after it) carries a state
    /// root no honest replica computes, which is what VITAL and MACH exist to catch. Clones of
    /// the replica are not armed.
    pub fn credit_before(&mut self, height: u64, to: Address, amount: U256) {
        self.drill = Some(Drill { height, to, amount });
    }

    /// Whether a drill is armed and not yet sprung.
    pub const fn drill_armed(&self) -> bool {
        self.drill.is_some()
    }

    /// Springs an armed drill whose block is the next one.
    pub(super) fn spring_drill(&mut self) {
        if let Some(drill) = self.drill
            && self.head.height + 1 == drill.height
        {
            self.drill = None;
            self.corrupt_state(|state| {
                let sprung = state
                    .balance(&drill.to)
                    .and_then(|balance| state.set_balance(drill.to, balance + drill.amount));
                if let Err(error) = sprung {
                    tracing::warn!(%error, "the fault drill could not change the state");
                }
            });
        }
    }
}
