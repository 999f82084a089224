//! VITAL decentralized verification: operators re-execute every batch, dispute a wrong one
//! with an interactive bisection game that narrows the disagreement to one step, and the step
//! is decided by a one-step proof over a Merkle witness.
//!
//! - [`bisection`]: the game between a proposer and one challenger.
//! - [`court`]: the settlement side: every open game, deadlines, one-step proofs, decisions.
//! - [`operator`]: a verifier's side (re-execute, challenge with an ALT bond, answer, prove)
//!   and a proposer's side (post batches, answer with the posted roots, prove, rewind and
//!   re-execute after a revert).
//! - [`enforce`]: a decision applied to settlement and to the ALT ledger: the batch and every
//!   later one reverted, the proposer slashed with the challenge as evidence, the challenger
//!   paid; or the losing challenger's bond forfeited.
//! - [`finality`]: the three tiers (soft by SQUAD, fast by MACH, firm on L1) behind one
//!   [`altlayer_core::FinalityGadget`], a confirmed MACH alert opening a challenge.
//! - [`process`]: all of it as simulator nodes.

pub mod finality;
pub mod operator;
pub mod process;

/// The dispute game and the court that decides it (settlement's side, in altlayer-core).
pub use altlayer_core::settlement::{bisection, court};

use alloy_primitives::{Address, U256};
use altlayer_core::settlement::{Resolution, SettlementError};
use altlayer_staking::{AltLedger, Evidence, OperatorSetId, SlashOutcome, StakingError};
use bisection::Party;
use court::{Decision, DisputeId};

/// Why a decision could not be enforced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VitalError {
    /// Settlement refused the call.
    #[error("settlement: {0}")]
    Settlement(#[from] SettlementError),
    /// The ledger refused a bond movement.
    #[error("ledger: {0}")]
    Ledger(#[from] StakingError),
}

/// Where VITAL keeps and pays ALT on the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accounts {
    /// The protocol authority of the ledger (records decided challenges).
    pub authority: Address,
    /// Holds challengers' bonds while their games run.
    pub escrow: Address,
    /// The proposers' set, in which a proven-wrong proposer is slashed (SQUAD's).
    pub proposers: OperatorSetId,
}

/// What enforcing a decision did on settlement and on the ALT ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enforcement {
    /// The decision.
    pub decision: Decision,
    /// The first batch reverted (the disputed one), when the challenger won.
    pub reverted_from: Option<u64>,
    /// The proposer's slash, when the challenger won and the ledger took it.
    pub slash: Option<SlashOutcome>,
    /// Why the ledger did not slash although the challenger won (the proposer is no operator
    /// of the set, or was already slashed for this infraction); the revert stands regardless.
    pub slash_refused: Option<StakingError>,
    /// Bonds returned: the winner's, and those of games made moot by the revert.
    pub returned: Vec<(Address, U256)>,
    /// Games made moot by the revert.
    pub dismissed: Vec<DisputeId>,
    /// Bond forfeited to the treasury, when the proposer won.
    pub forfeited: U256,
}

/// Locks a challenger's bond: moves it to escrow on the ledger. Call before the challenge
/// goes to settlement; [`enforce`] returns or forfeits it.
pub fn lock_bond(
    ledger: &mut AltLedger,
    accounts: &Accounts,
    challenger: &Address,
    bond: U256,
) -> Result<(), StakingError> {
    use altlayer_core::TokenLedger;
    ledger.transfer(challenger, &accounts.escrow, bond)
}

/// Mirrors on the ALT ledger what settlement did with a decided game: bonds come back from
/// escrow (the winner's, and those of games made moot by a revert) or go to the treasury; a
/// proposer proven wrong is slashed with the decided challenge as evidence (recorded first,
/// so that [`Evidence::InvalidStateRoot`] verifies), the challenger paid the submitter's
/// share.
pub fn enforce(
    resolution: &Resolution,
    ledger: &mut AltLedger,
    accounts: &Accounts,
) -> Result<Enforcement, StakingError> {
    use altlayer_core::TokenLedger;
    let decision = &resolution.decision;
    let mut enforcement = Enforcement {
        decision: decision.clone(),
        reverted_from: resolution.reverted_from,
        slash: None,
        slash_refused: None,
        returned: resolution.returned.clone(),
        dismissed: resolution.dismissed.clone(),
        forfeited: resolution.forfeited,
    };
    for (who, bond) in &resolution.returned {
        ledger.transfer(&accounts.escrow, who, *bond)?;
    }
    if !resolution.forfeited.is_zero() {
        ledger.pay_treasury(&accounts.escrow, resolution.forfeited)?;
    }
    if decision.winner == Party::Challenger {
        let evidence = Evidence::InvalidStateRoot {
            set: accounts.proposers,
            operator: decision.proposer,
            height: decision.height,
            challenge: decision.challenge,
        };
        let slashed = ledger
            .record_lost_challenge(
                &accounts.authority,
                decision.challenge,
                decision.proposer,
                decision.height,
            )
            .and_then(|()| ledger.slash(&decision.challenger, &evidence));
        match slashed {
            Ok(outcome) => enforcement.slash = Some(outcome),
            Err(refused) => enforcement.slash_refused = Some(refused),
        }
    }
    Ok(enforcement)
}
