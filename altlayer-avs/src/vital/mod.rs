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

pub mod bisection;
pub mod court;
pub mod finality;
pub mod operator;
pub mod process;

use alloy_primitives::{Address, U256};
use altlayer_core::settlement::{ChallengeOutcome, LocalSettlement, SettlementError};
use altlayer_staking::{AltLedger, Evidence, OperatorSetId, SlashOutcome, StakingError};
use bisection::Party;
use court::{Court, Decision, DisputeId};

/// Why a decision could not be enforced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VitalError {
    /// Settlement refused the resolution.
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

/// What enforcing a decision did.
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

/// Locks a challenger's bond: moves it to escrow on the ledger. Call before opening the game
/// (settlement and court); [`enforce`] returns or forfeits it.
pub fn lock_bond(
    ledger: &mut AltLedger,
    accounts: &Accounts,
    challenger: &Address,
    bond: U256,
) -> Result<(), VitalError> {
    use altlayer_core::TokenLedger;
    ledger.transfer(challenger, &accounts.escrow, bond)?;
    Ok(())
}

/// Applies a decision: on settlement (revert, or the challenge dropped), on the court (games
/// on reverted batches dismissed) and on the ledger (slash, bonds).
///
/// A challenger who proves a batch wrong gets its bond back and the submitter's share of the
/// proposer's slash; the evidence is the decided challenge, recorded first so that
/// [`Evidence::InvalidStateRoot`] verifies. A challenger who loses forfeits its bond to the
/// treasury.
pub fn enforce(
    decision: Decision,
    court: &mut Court,
    settlement: &LocalSettlement,
    ledger: &mut AltLedger,
    accounts: &Accounts,
) -> Result<Enforcement, VitalError> {
    use altlayer_core::TokenLedger;
    let mut enforcement = Enforcement {
        decision: decision.clone(),
        reverted_from: None,
        slash: None,
        slash_refused: None,
        returned: Vec::new(),
        dismissed: Vec::new(),
        forfeited: U256::ZERO,
    };
    match decision.winner {
        Party::Challenger => {
            settlement.resolve(
                decision.batch,
                decision.challenger,
                ChallengeOutcome::BatchInvalid,
            )?;
            enforcement.reverted_from = Some(decision.batch);
            enforcement
                .returned
                .push((decision.challenger, decision.bond));
            for (id, challenger, bond) in court.dismiss_from(decision.batch) {
                enforcement.dismissed.push(id);
                enforcement.returned.push((challenger, bond));
            }
            for (who, bond) in &enforcement.returned {
                ledger.transfer(&accounts.escrow, who, *bond)?;
            }
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
        Party::Proposer => {
            settlement.resolve(
                decision.batch,
                decision.challenger,
                ChallengeOutcome::BatchValid,
            )?;
            if !decision.bond.is_zero() {
                ledger.pay_treasury(&accounts.escrow, decision.bond)?;
            }
            enforcement.forfeited = decision.bond;
        }
    }
    Ok(enforcement)
}
