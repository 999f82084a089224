//! ECDSA certificates for small operator sets: a list of secp256k1 signatures on one
//! digest, each recovering to a distinct operator of the snapshot. No registration of a
//! second key is needed, at the cost of one recovery per signer (done on all cores).

use crate::qc::{QcError, Roster, StakeSnapshot, Threshold};
use alloy_primitives::{Address, B256, Signature, U256};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Why an ECDSA certificate, or a signature for one, was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EcdsaError {
    /// Signature `index` does not recover.
    #[error("signature {index} does not recover")]
    BadSignature {
        /// Position in the certificate.
        index: usize,
    },
    /// Signature `index` recovers to an address outside the snapshot.
    #[error("signature {index} is by {signer}, not an operator of the snapshot")]
    NotAnOperator {
        /// Position in the certificate.
        index: usize,
        /// Who signed.
        signer: Address,
    },
    /// Two signatures by one operator.
    #[error("{0} signed twice")]
    DuplicateSigner(Address),
    /// Stake, snapshot or threshold check failed.
    #[error(transparent)]
    Quorum(#[from] QcError),
}

/// Signatures of a snapshot's operators on a digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcdsaCertificate {
    /// What was signed.
    pub digest: B256,
    /// The stake it counts against.
    pub snapshot: StakeSnapshot,
    /// One signature per signer, any order.
    pub signatures: Vec<Signature>,
}

impl EcdsaCertificate {
    /// An empty certificate.
    pub const fn new(digest: B256, snapshot: StakeSnapshot) -> Self {
        Self {
            digest,
            snapshot,
            signatures: Vec::new(),
        }
    }

    /// Recovers every signer on all cores (k256), in certificate order.
    pub fn recover(&self) -> Result<Vec<Address>, EcdsaError> {
        self.signatures
            .par_iter()
            .enumerate()
            .map(|(index, s)| self.recover_one(index, s))
            .collect()
    }

    /// [`EcdsaCertificate::recover`] on the calling thread only.
    pub fn recover_serial(&self) -> Result<Vec<Address>, EcdsaError> {
        self.signatures
            .iter()
            .enumerate()
            .map(|(index, s)| self.recover_one(index, s))
            .collect()
    }

    fn recover_one(&self, index: usize, signature: &Signature) -> Result<Address, EcdsaError> {
        signature
            .recover_address_from_prehash(&self.digest)
            .map_err(|_| EcdsaError::BadSignature { index })
    }

    /// Verifies the certificate against its snapshot's roster with recovery on all cores:
    /// every signature recovers to a distinct operator, and their stake meets `threshold`.
    /// Returns the signed stake.
    pub fn verify(&self, roster: &Roster, threshold: Threshold) -> Result<U256, EcdsaError> {
        self.check(roster, threshold, self.recover()?)
    }

    /// [`EcdsaCertificate::verify`] with recovery on the calling thread.
    pub fn verify_serial(&self, roster: &Roster, threshold: Threshold) -> Result<U256, EcdsaError> {
        self.check(roster, threshold, self.recover_serial()?)
    }

    fn check(
        &self,
        roster: &Roster,
        threshold: Threshold,
        signers: Vec<Address>,
    ) -> Result<U256, EcdsaError> {
        if roster.snapshot() != self.snapshot {
            return Err(QcError::WrongSnapshot {
                expected: roster.snapshot(),
                got: self.snapshot,
            }
            .into());
        }
        let mut seen = BTreeSet::new();
        let mut signed = U256::ZERO;
        for (index, signer) in signers.into_iter().enumerate() {
            let i = roster
                .index_of(&signer)
                .ok_or(EcdsaError::NotAnOperator { index, signer })?;
            if !seen.insert(signer) {
                return Err(EcdsaError::DuplicateSigner(signer));
            }
            signed += roster.entries()[i].stake;
        }
        if seen.is_empty() {
            return Err(QcError::NoSigners.into());
        }
        crate::qc::check_threshold(threshold, signed, roster.total())?;
        Ok(signed)
    }
}

/// Collects signatures into an [`EcdsaCertificate`], checking each as it comes: it must
/// recover to an operator of the roster that has not signed yet.
#[derive(Clone, Debug)]
pub struct EcdsaCollector {
    certificate: EcdsaCertificate,
    signers: BTreeSet<Address>,
    signed: U256,
}

impl EcdsaCollector {
    /// Starts collecting signatures on `digest` from `roster`'s operators.
    pub const fn new(digest: B256, snapshot: StakeSnapshot) -> Self {
        Self {
            certificate: EcdsaCertificate::new(digest, snapshot),
            signers: BTreeSet::new(),
            signed: U256::ZERO,
        }
    }

    /// Adds a signature and returns its signer; a refused signature is not added.
    pub fn add(&mut self, roster: &Roster, signature: Signature) -> Result<Address, EcdsaError> {
        let index = self.certificate.signatures.len();
        let signer = self.certificate.recover_one(index, &signature)?;
        let i = roster
            .index_of(&signer)
            .ok_or(EcdsaError::NotAnOperator { index, signer })?;
        if !self.signers.insert(signer) {
            return Err(EcdsaError::DuplicateSigner(signer));
        }
        self.signed += roster.entries()[i].stake;
        self.certificate.signatures.push(signature);
        Ok(signer)
    }

    /// Stake that has signed.
    pub const fn signed(&self) -> U256 {
        self.signed
    }

    /// The certificate, once the signed stake meets `threshold`.
    pub fn finish(
        self,
        roster: &Roster,
        threshold: Threshold,
    ) -> Result<EcdsaCertificate, EcdsaError> {
        crate::qc::check_threshold(threshold, self.signed, roster.total())?;
        Ok(self.certificate)
    }
}
