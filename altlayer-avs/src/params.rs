//! The parameters of the three services that governance controls, validated, and the MACH
//! gadget's side of [`ParameterStore`].

use crate::qc::Threshold;
use alloy_primitives::U256;
use altlayer_staking::ParameterStore;
use serde::{Deserialize, Serialize};

/// Seconds in a day.
const DAY: u64 = 86_400;

/// Parameters of SQUAD, MACH and VITAL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AvsParams {
    /// Share of a snapshot's stake a MACH quorum certificate needs. Default 66 %, inclusive
    /// (DESIGN.md §6, AltLayer's `MachServiceManager`).
    pub mach_threshold: Threshold,
    /// Sequencers in a SQUAD set. Default 5 (AltLayer's recommended minimum); at least 4,
    /// the least a BFT set tolerating one fault needs.
    pub squad_sequencers: u32,
    /// L1 challenge window for VITAL, in seconds. Default 7 days.
    pub challenge_window_secs: u64,
    /// Least bond a VITAL challenger locks, in ALT base units. Default 1,000 ALT.
    pub challenge_bond: U256,
    /// Time each bisection move has, in seconds. Default 1 day; must leave room for a whole
    /// game of 64 moves inside the challenge window.
    pub move_timeout_secs: u64,
}

impl Default for AvsParams {
    fn default() -> Self {
        Self {
            mach_threshold: Threshold::default(),
            squad_sequencers: 5,
            challenge_window_secs: 7 * DAY,
            challenge_bond: U256::from(1_000u64) * U256::from(10u64).pow(U256::from(18u64)),
            move_timeout_secs: DAY / 24,
        }
    }
}

/// Why a set of AVS parameters was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid AVS parameter {name}: {reason}")]
pub struct InvalidAvsParams {
    /// The parameter.
    pub name: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl AvsParams {
    /// Checks every parameter.
    pub fn validate(&self) -> Result<(), InvalidAvsParams> {
        let fail = |name, reason| Err(InvalidAvsParams { name, reason });
        if !self.mach_threshold.is_valid() {
            return fail("machThreshold", "must be a fraction in (0, 1]");
        }
        if self.squad_sequencers < 4 {
            return fail("squadSequencers", "a BFT set needs at least 4");
        }
        if self.challenge_window_secs == 0 {
            return fail("challengeWindowSecs", "must be positive");
        }
        if self.challenge_bond.is_zero() {
            return fail("challengeBond", "must be positive");
        }
        if self.move_timeout_secs == 0 {
            return fail("moveTimeoutSecs", "must be positive");
        }
        // A bisection over 2^64 steps takes 64 verdicts and as many roots, plus the proof.
        if self.move_timeout_secs.saturating_mul(129) > self.challenge_window_secs {
            return fail(
                "moveTimeoutSecs",
                "a whole game (129 moves) must fit in the challenge window",
            );
        }
        Ok(())
    }
}

impl ParameterStore for crate::mach::MachFinality {
    type Params = AvsParams;
    type Error = InvalidAvsParams;

    /// The AVS parameters this gadget runs by; it uses the MACH threshold.
    fn params(&self) -> &AvsParams {
        self.avs_params()
    }

    /// Certificates are checked against the new threshold from now on; certificates already
    /// accepted stay.
    fn set_params(&mut self, params: AvsParams) -> Result<(), InvalidAvsParams> {
        params.validate()?;
        self.set_avs_params(params);
        Ok(())
    }
}
