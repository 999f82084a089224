//! Protocol parameters shared by the services and changed by governance: the
//! [`ParameterStore`] trait, the signed-stake [`Threshold`] of quorum certificates, and the
//! [`AvsParams`] of SQUAD, MACH and VITAL.
//!
//! They live in altlayer-core so that governance, staking and the services agree on them
//! without depending on one another.

use alloy_primitives::{U256, U512};
use serde::{Deserialize, Serialize};

/// Read and change protocol parameters. Governance executes passed proposals through this.
pub trait ParameterStore {
    /// The parameters.
    type Params: Clone;
    /// Why a change was refused.
    type Error: std::error::Error;

    /// The parameters in force.
    fn params(&self) -> &Self::Params;

    /// Replaces the parameters after validating them; a refused change changes nothing.
    fn set_params(&mut self, params: Self::Params) -> Result<(), Self::Error>;
}

/// A threshold percentage outside 1..=100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("threshold {0} % is not in 1..=100")]
pub struct InvalidThreshold(pub u8);

/// A signed-stake threshold: a fraction of the snapshot's total, inclusive or strict.
///
/// - The default, MACH's rule (AltLayer `MachServiceManager`): inclusive 66 %, met when
///   `signed x 100 >= total x 66`.
/// - [`Threshold::MORE_THAN_TWO_THIRDS`], the BFT commit rule (CometBFT): strict, met when
///   `signed x 3 > total x 2`.
///
/// A snapshot with no stake meets no threshold. Products are formed in 512 bits, so no stake
/// is too large.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Threshold {
    numerator: u32,
    denominator: u32,
    strict: bool,
}

impl Default for Threshold {
    /// 66 %, inclusive: MACH's confirmation threshold (DESIGN.md §6).
    fn default() -> Self {
        Self {
            numerator: 66,
            denominator: 100,
            strict: false,
        }
    }
}

impl core::fmt::Display for Threshold {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let op = if self.strict { ">" } else { ">=" };
        write!(f, "{op} {}/{}", self.numerator, self.denominator)
    }
}

impl Threshold {
    /// More than two thirds (strict): the BFT quorum.
    pub const MORE_THAN_TWO_THIRDS: Self = Self {
        numerator: 2,
        denominator: 3,
        strict: true,
    };

    /// More than one third (strict): at least one honest signer when byzantine stake is
    /// below a third.
    pub const MORE_THAN_ONE_THIRD: Self = Self {
        numerator: 1,
        denominator: 3,
        strict: true,
    };

    /// An inclusive threshold of `percent` (1..=100).
    pub const fn new(percent: u8) -> Result<Self, InvalidThreshold> {
        if percent == 0 || percent > 100 {
            Err(InvalidThreshold(percent))
        } else {
            Ok(Self {
                numerator: percent as u32,
                denominator: 100,
                strict: false,
            })
        }
    }

    /// Whether it is a fraction in (0, 1] (a threshold read from a file or a proposal may not
    /// be; the constructors only make valid ones).
    pub const fn is_valid(self) -> bool {
        self.denominator > 0 && self.numerator > 0 && self.numerator <= self.denominator
    }

    /// Whether `signed` of `total` meets it.
    pub fn is_met(self, signed: U256, total: U256) -> bool {
        if total.is_zero() {
            return false;
        }
        let left = U512::from(signed) * U512::from(self.denominator);
        let right = U512::from(total) * U512::from(self.numerator);
        if self.strict {
            left > right
        } else {
            left >= right
        }
    }

    /// The fraction's numerator.
    pub const fn numerator(self) -> u32 {
        self.numerator
    }

    /// The fraction's denominator.
    pub const fn denominator(self) -> u32 {
        self.denominator
    }

    /// Whether the signed share must exceed the fraction (strict) rather than reach it.
    pub const fn is_strict(self) -> bool {
        self.strict
    }
}

/// Seconds in a day.
const DAY: u64 = 86_400;

/// Parameters of MACH and VITAL that governance changes. (Who sequences is not a parameter:
/// a SQUAD set is the operators staked in it above its minimum stake, which governance sets
/// per operator set.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AvsParams {
    /// Share of a snapshot's stake a MACH quorum certificate needs. Default 66 %, inclusive
    /// (DESIGN.md §6, AltLayer's `MachServiceManager`).
    pub mach_threshold: Threshold,
    /// L1 challenge window for VITAL, in seconds. Default 7 days.
    pub challenge_window_secs: u64,
    /// Least bond a VITAL challenger locks, in ALT base units. Default 1,000 ALT.
    pub challenge_bond: U256,
    /// Time each bisection move (and the one-step proof) has, in seconds. Default 1 hour; a
    /// whole game over up to 2^64 steps (64 roots, 64 verdicts and the proof: 129 moves) must
    /// fit in the challenge window.
    pub move_timeout_secs: u64,
}

impl Default for AvsParams {
    fn default() -> Self {
        Self {
            mach_threshold: Threshold::default(),
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
