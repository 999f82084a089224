//! VITAL decentralized verification: verifiers re-execute every batch and dispute a wrong
//! one with an interactive bisection game that narrows the disagreement to one transaction.
//!
//! This module has the game ([`bisection`]); the one-step proof that decides the last
//! transaction from a state witness, and the settlement outcome, come with the rest of
//! VITAL.

pub mod bisection;
