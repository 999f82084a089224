//! Tiered finality behind one [`FinalityGadget`]: a block is **soft**-confirmed by a SQUAD
//! quorum certificate, **fast**-final by a MACH quorum certificate, and **firm** once the
//! batch holding it outlives its challenge window on L1. A confirmed MACH alert takes the
//! block and its descendants out of the fast tier for good and, once the block's batch is
//! committed, asks for a VITAL challenge against that batch ([`TieredFinality::take_challenges`]).

use crate::{
    mach::{ConfirmedAlert, MachError, MachFinality},
    qc::{QuorumCertificate, Roster},
};
use alloy_primitives::B256;
use altlayer_core::{
    Block, FinalityGadget, Header,
    finality::{FinalityEvent, FinalityStatus},
    primitives::{ChainId, RollupId},
    settlement::BatchCommitment,
};
use std::collections::{BTreeMap, BTreeSet};

/// Soft, fast and firm finality for one rollup.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TieredFinality {
    mach: MachFinality,
    /// Height -> hash of the SQUAD certificate that soft-confirmed it.
    soft: BTreeMap<u64, B256>,
    /// Committed batches: index -> (first height, last height).
    batches: BTreeMap<u64, (u64, u64)>,
    /// Alerted heights whose batch has not been asked to be challenged yet.
    alerted: BTreeSet<u64>,
    /// Batches to challenge, in order.
    challenges: Vec<u64>,
    /// Confirmed alerts already seen.
    alerts_seen: usize,
}

impl TieredFinality {
    /// A gadget for `rollup` on `chain_id`: MACH certificates at `threshold` (see
    /// [`MachFinality::new`]) over an L1 challenge window in settlement seconds.
    pub fn new(
        chain_id: ChainId,
        rollup: RollupId,
        threshold: crate::qc::Threshold,
        challenge_window: u64,
    ) -> Self {
        Self {
            mach: MachFinality::new(chain_id, rollup, threshold, challenge_window),
            soft: BTreeMap::new(),
            batches: BTreeMap::new(),
            alerted: BTreeSet::new(),
            challenges: Vec::new(),
            alerts_seen: 0,
        }
    }

    /// The MACH tier, for its certificates and alerts.
    pub const fn mach(&self) -> &MachFinality {
        &self.mach
    }

    /// The MACH tier, mutably (its parameters).
    pub const fn mach_mut(&mut self) -> &mut MachFinality {
        &mut self.mach
    }

    /// A block was produced.
    pub fn on_header(&mut self, header: &Header) {
        self.mach.on_header(header);
    }

    /// SQUAD committed the block at `height` with a certificate: soft-confirmed.
    pub fn on_soft_certificate(&mut self, height: u64, certificate: B256) {
        self.soft.insert(height, certificate);
    }

    /// A MACH certificate on a finality vote (see [`MachFinality::on_vote_certificate`]).
    pub fn on_vote_certificate(
        &mut self,
        vote: crate::mach::FinalityVote,
        certificate: QuorumCertificate,
        roster: &Roster,
    ) -> Result<(), MachError> {
        self.mach.on_vote_certificate(vote, certificate, roster)
    }

    /// A MACH certificate on an alert (see [`MachFinality::on_alert_certificate`]): the block
    /// is alerted, and its batch will be challenged.
    pub fn on_alert_certificate(
        &mut self,
        alert: crate::mach::Alert,
        certificate: QuorumCertificate,
        roster: &Roster,
    ) -> Result<ConfirmedAlert, MachError> {
        let confirmed = self.mach.on_alert_certificate(alert, certificate, roster)?;
        let new: Vec<u64> = self.mach.confirmed_alerts()[self.alerts_seen..]
            .iter()
            .map(|confirmed: &ConfirmedAlert| confirmed.alert.height)
            .collect();
        self.alerts_seen = self.mach.confirmed_alerts().len();
        self.alerted.extend(new);
        self.match_alerts();
        Ok(confirmed)
    }

    /// Batches a confirmed alert asks VITAL to challenge, since the last call.
    pub fn take_challenges(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.challenges)
    }

    fn match_alerts(&mut self) {
        let mut matched = Vec::new();
        for height in &self.alerted {
            let batch = self
                .batches
                .iter()
                .find(|(_, (first, last))| (*first..=*last).contains(height));
            if let Some((index, _)) = batch {
                if !self.challenges.contains(index) {
                    self.challenges.push(*index);
                }
                matched.push(*height);
            }
        }
        for height in matched {
            self.alerted.remove(&height);
        }
    }
}

impl FinalityGadget for TieredFinality {
    type Message = std::convert::Infallible;

    /// Firm, then alerted, then fast, then committed to L1, then soft, then pending.
    fn status(&self, height: u64) -> FinalityStatus {
        match self.mach.status(height) {
            FinalityStatus::Pending | FinalityStatus::Unknown => match self.soft.get(&height) {
                Some(certificate) => FinalityStatus::SoftConfirmed {
                    certificate: *certificate,
                },
                None => self.mach.status(height),
            },
            status => status,
        }
    }

    fn finalized_height(&self) -> Option<u64> {
        self.mach.finalized_height()
    }

    /// The highest height up to which every block is fast-final or firm.
    fn safe_height(&self) -> Option<u64> {
        self.mach.safe_height()
    }

    fn on_block(&mut self, now_ms: u64, hash: B256, block: &Block) -> Vec<FinalityEvent> {
        self.mach.on_block(now_ms, hash, block)
    }

    fn on_soft(&mut self, height: u64, certificate: B256) {
        self.on_soft_certificate(height, certificate);
    }

    fn on_batch_committed(&mut self, batch: &BatchCommitment, at: u64) {
        let first = self
            .batches
            .range(..batch.index)
            .next_back()
            .map_or(1, |(_, (_, last))| last + 1);
        self.batches.insert(batch.index, (first, batch.last_height));
        self.mach.on_batch_committed(batch, at);
        self.match_alerts();
    }

    fn on_challenge(&mut self, batch: u64) {
        self.mach.on_challenge(batch);
    }

    fn on_challenge_failed(&mut self, batch: u64) {
        self.mach.on_challenge_failed(batch);
    }

    fn on_revert(&mut self, batch: u64, to_height: u64) {
        self.batches.split_off(&batch);
        self.soft.split_off(&(to_height + 1));
        self.alerted.split_off(&(to_height + 1));
        self.mach.on_revert(batch, to_height);
    }

    /// What is firm is forgotten (see [`MachFinality`]'s): its soft certificate and its batch.
    fn on_settlement_time(&mut self, now: u64) -> Option<u64> {
        let moved = self.mach.on_settlement_time(now);
        if let Some(finalized) = moved {
            self.soft = self.soft.split_off(&(finalized + 1));
            // The last firm batch stays: the next one's first height follows it.
            let last_firm = self
                .batches
                .iter()
                .rev()
                .find(|(_, (_, last))| *last <= finalized)
                .map(|(index, _)| *index);
            if let Some(index) = last_firm {
                self.batches = self.batches.split_off(&index);
            }
        }
        moved
    }
}
