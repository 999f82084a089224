//! Collecting BLS signatures into quorum certificates: the sans-IO core.
//!
//! eigensdk-rs's `BlsAggregatorService` verifies every signature as it arrives (two pairings
//! each). This aggregator checks only what is cheap on arrival (the task, the signer, no
//! duplicate) and adds the signature to a running sum; when a quorum's threshold is reached it
//! verifies the aggregate once, with one multi-pairing. Only when that fails does it look for
//! the bad signatures, by bisection over the signers (each step one aggregate check), excludes
//! them, reports them, and carries on with the rest.
//!
//! Time is an input (milliseconds on any monotonic clock the driver chooses); nothing here
//! reads a clock, sleeps or does I/O. The `service` module (feature `runtime`) drives it with tokio.

use crate::qc::{QuorumCertificate, Roster, SignerBitmap, StakeSnapshot, Threshold};
use alloy_primitives::{Address, B256, U256};
use altlayer_core::bls::{self, PublicKeyG2, Signature};
use ark_bn254::{G1Affine, G1Projective, G2Projective};
use ark_ec::CurveGroup;
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::Arc,
};

/// One quorum of a task: a snapshot's roster and the share of its stake that must sign.
#[derive(Clone, Debug)]
pub struct Quorum {
    /// The operators and stakes.
    pub roster: Arc<Roster>,
    /// The threshold.
    pub threshold: Threshold,
}

/// A task: collect signatures on `digest` until every quorum reaches its threshold.
#[derive(Clone, Debug)]
pub struct TaskConfig {
    /// The digest operators sign.
    pub digest: B256,
    /// Quorums, each certified separately; an operator in several signs once.
    pub quorums: Vec<Quorum>,
    /// Milliseconds after creation at which an uncertified task expires.
    pub time_to_live_ms: u64,
    /// Milliseconds to keep collecting after every threshold is reached (more signers in
    /// the certificate); zero certifies at once.
    pub window_ms: u64,
}

/// Why an input was refused. A refused input changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AggregatorError {
    /// A task for this digest exists (or recently finished).
    #[error("a task for {0} exists already")]
    DuplicateTask(B256),
    /// No task for this digest.
    #[error("no task for {0}")]
    UnknownTask(B256),
    /// The task was certified or expired; it takes no more signatures.
    #[error("task {0} is closed")]
    TaskClosed(B256),
    /// The signer is in none of the task's quorums, or has no BLS key there.
    #[error("{0} is not a signer of this task")]
    UnknownSigner(Address),
    /// The signer has signed this task already.
    #[error("{0} signed this task already")]
    DuplicateSigner(Address),
    /// The signer's signature was found bad earlier in this task.
    #[error("{0} sent a bad signature for this task")]
    ExcludedSigner(Address),
    /// A task needs at least one quorum.
    #[error("a task needs at least one quorum")]
    NoQuorums,
}

/// What the aggregator reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AggregatorEvent {
    /// Every quorum of the task reached its threshold with a verified aggregate.
    Certified {
        /// The task.
        digest: B256,
        /// One certificate per quorum, in the task's order.
        certificates: Vec<QuorumCertificate>,
    },
    /// The task's time ran out before every threshold was reached.
    Expired {
        /// The task.
        digest: B256,
        /// Stake that signed validly, per quorum, and its total.
        signed: Vec<(StakeSnapshot, U256, U256)>,
    },
    /// A signature did not verify: the signer is excluded from the task. The signature on
    /// the digest is the evidence.
    InvalidSignature {
        /// The task.
        digest: B256,
        /// Who sent it.
        signer: Address,
        /// What it sent.
        signature: Signature,
    },
}

#[derive(Clone, Debug)]
struct QuorumState {
    quorum: Quorum,
    signers: SignerBitmap,
    stake: U256,
    signature: G1Projective,
    /// The running aggregate, once verified as it stands (cleared by every change).
    verified: Option<Signature>,
}

#[derive(Clone, Debug)]
struct Task {
    config: TaskConfig,
    point: G1Affine,
    expires_at: u64,
    /// When every threshold was first reached and the window started.
    ready_at: Option<u64>,
    signatures: BTreeMap<Address, Signature>,
    excluded: BTreeSet<Address>,
    quorums: Vec<QuorumState>,
}

/// The aggregator's state: open tasks, and recently closed ones (so late signatures are told
/// the task is closed, and the digest cannot be reused until its time-to-live passes).
#[derive(Debug, Default)]
pub struct Aggregator {
    tasks: HashMap<B256, Task>,
    closed: HashMap<B256, u64>,
}

impl Aggregator {
    /// An empty aggregator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Digests of the tasks closed recently, with the time until which each stays closed.
    pub fn closed(&self) -> impl Iterator<Item = (B256, u64)> + '_ {
        self.closed.iter().map(|(digest, until)| (*digest, *until))
    }

    /// Remembers `digest` as closed until `until` (an aggregator resumed after a restart):
    /// late signatures for it are refused, as they were before.
    pub fn close(&mut self, digest: B256, until: u64) {
        self.closed.insert(digest, until);
    }

    /// Opens a task at time `now`.
    pub fn new_task(&mut self, now: u64, config: TaskConfig) -> Result<(), AggregatorError> {
        if config.quorums.is_empty() {
            return Err(AggregatorError::NoQuorums);
        }
        if self.tasks.contains_key(&config.digest) || self.closed.contains_key(&config.digest) {
            return Err(AggregatorError::DuplicateTask(config.digest));
        }
        let quorums = config
            .quorums
            .iter()
            .map(|quorum| QuorumState {
                quorum: quorum.clone(),
                signers: SignerBitmap::new(quorum.roster.len()),
                stake: U256::ZERO,
                signature: G1Projective::default(),
                verified: None,
            })
            .collect();
        let task = Task {
            point: bls::hash_to_g1(&config.digest),
            expires_at: now.saturating_add(config.time_to_live_ms),
            ready_at: None,
            signatures: BTreeMap::new(),
            excluded: BTreeSet::new(),
            quorums,
            config,
        };
        self.tasks.insert(task.config.digest, task);
        Ok(())
    }

    /// Number of open tasks.
    pub fn open_tasks(&self) -> usize {
        self.tasks.len()
    }

    /// The earliest time at which [`Aggregator::tick`] has something to do.
    pub fn next_deadline(&self) -> Option<u64> {
        let tasks = self.tasks.values().map(|t| match t.ready_at {
            Some(ready) => (ready + t.config.window_ms).min(t.expires_at),
            None => t.expires_at,
        });
        tasks.chain(self.closed.values().copied()).min()
    }

    /// Takes a signature of `signer` on task `digest` at time `now`. Cheap unless it completes
    /// the task's thresholds, in which case the aggregates are verified (and bad signatures
    /// searched for) before anything is certified.
    pub fn add_signature(
        &mut self,
        now: u64,
        digest: B256,
        signer: Address,
        signature: Signature,
    ) -> Result<Vec<AggregatorEvent>, AggregatorError> {
        let Some(task) = self.tasks.get_mut(&digest) else {
            return Err(if self.closed.contains_key(&digest) {
                AggregatorError::TaskClosed(digest)
            } else {
                AggregatorError::UnknownTask(digest)
            });
        };
        if task.excluded.contains(&signer) {
            return Err(AggregatorError::ExcludedSigner(signer));
        }
        if task.signatures.contains_key(&signer) {
            return Err(AggregatorError::DuplicateSigner(signer));
        }
        let positions: Vec<(usize, usize)> = task
            .quorums
            .iter()
            .enumerate()
            .filter_map(|(q, state)| {
                let i = state.quorum.roster.index_of(&signer)?;
                state.quorum.roster.entries()[i].key.map(|_| (q, i))
            })
            .collect();
        if positions.is_empty() {
            return Err(AggregatorError::UnknownSigner(signer));
        }
        task.signatures.insert(signer, signature);
        for (q, i) in positions {
            let state = &mut task.quorums[q];
            state.signers.set(i);
            state.stake += state.quorum.roster.entries()[i].stake;
            state.signature += signature.point();
            state.verified = None;
        }
        let mut events = Vec::new();
        if task.ready_at.is_none() && task.thresholds_met() {
            events.extend(task.verify_all());
            if task.thresholds_met() {
                task.ready_at = Some(now);
            }
        }
        if task
            .ready_at
            .is_some_and(|ready| now >= ready + task.config.window_ms)
        {
            events.extend(self.certify(digest, now));
        }
        Ok(events)
    }

    /// Advances time: certifies tasks whose window ended, expires those whose time ran out,
    /// and forgets closed digests whose time-to-live passed.
    pub fn tick(&mut self, now: u64) -> Vec<AggregatorEvent> {
        self.closed.retain(|_, until| *until > now);
        let mut due: Vec<B256> = self
            .tasks
            .iter()
            .filter(|(_, t)| {
                t.expires_at <= now || t.ready_at.is_some_and(|r| r + t.config.window_ms <= now)
            })
            .map(|(digest, _)| *digest)
            .collect();
        due.sort();
        let mut events = Vec::new();
        for digest in due {
            let ready = self
                .tasks
                .get(&digest)
                .is_some_and(|t| t.ready_at.is_some());
            if ready {
                events.extend(self.certify(digest, now));
            } else if let Some(task) = self.tasks.remove(&digest) {
                self.closed.insert(digest, task.expires_at);
                events.push(AggregatorEvent::Expired {
                    digest,
                    signed: task
                        .quorums
                        .iter()
                        .map(|q| (q.quorum.roster.snapshot(), q.stake, q.quorum.roster.total()))
                        .collect(),
                });
            }
        }
        events
    }

    /// Verifies what came in during the window, then certifies, or goes back to waiting if
    /// bad signatures took a quorum below its threshold.
    fn certify(&mut self, digest: B256, now: u64) -> Vec<AggregatorEvent> {
        let Some(task) = self.tasks.get_mut(&digest) else {
            return Vec::new();
        };
        let mut events = task.verify_all();
        if !task.thresholds_met() {
            task.ready_at = None;
            return events;
        }
        let certificates: Option<Vec<_>> = task
            .quorums
            .iter()
            .map(|q| {
                Some(QuorumCertificate {
                    digest,
                    snapshot: q.quorum.roster.snapshot(),
                    signers: q.signers.clone(),
                    signature: q.verified?,
                })
            })
            .collect();
        let Some(certificates) = certificates else {
            task.ready_at = None;
            return events;
        };
        let expires_at = task.expires_at.max(now);
        self.tasks.remove(&digest);
        self.closed.insert(digest, expires_at);
        events.push(AggregatorEvent::Certified {
            digest,
            certificates,
        });
        events
    }
}

impl Task {
    fn thresholds_met(&self) -> bool {
        self.quorums
            .iter()
            .all(|q| q.quorum.threshold.is_met(q.stake, q.quorum.roster.total()))
    }

    /// Verifies every quorum's aggregate that is not verified as it stands; on a failure
    /// finds the bad signatures by bisection, excludes their signers from every quorum and
    /// reports them, and verifies again, until every aggregate verifies.
    fn verify_all(&mut self) -> Vec<AggregatorEvent> {
        let mut events = Vec::new();
        loop {
            let mut bad = BTreeSet::new();
            for q in &mut self.quorums {
                if q.verified.is_some() || q.signers.count() == 0 {
                    continue;
                }
                let key = q.quorum.roster.aggregate_key(&q.signers);
                let signature = Signature::from_trusted_sum(q.signature.into_affine());
                if let (Ok(key), Ok(signature)) = (key, signature)
                    && bls::verify_point(&key, &self.point, &signature)
                {
                    q.verified = Some(signature);
                    continue;
                }
                let members: Vec<usize> = q.signers.ones().collect();
                find_bad(
                    &q.quorum.roster,
                    &self.point,
                    &self.signatures,
                    &members,
                    &mut bad,
                );
            }
            if bad.is_empty() {
                return events;
            }
            for signer in bad {
                let Some(signature) = self.signatures.remove(&signer) else {
                    continue;
                };
                self.excluded.insert(signer);
                for q in &mut self.quorums {
                    if let Some(i) = q.quorum.roster.index_of(&signer)
                        && q.signers.get(i)
                    {
                        q.signers.clear(i);
                        q.stake -= q.quorum.roster.entries()[i].stake;
                        q.signature -= signature.point();
                        q.verified = None;
                    }
                }
                events.push(AggregatorEvent::InvalidSignature {
                    digest: self.config.digest,
                    signer,
                    signature,
                });
            }
        }
    }
}

/// Bisection: `members` (roster indices) hold at least one bad signature. The left half is
/// checked with one aggregate verification; if it passes the bad ones are all in the right
/// half, which is searched without a check of its own; if it fails it is searched, and the
/// right half is checked in turn.
pub(crate) fn find_bad(
    roster: &Roster,
    point: &G1Affine,
    signatures: &BTreeMap<Address, Signature>,
    members: &[usize],
    bad: &mut BTreeSet<Address>,
) {
    match members {
        [] => {}
        [only] => {
            bad.insert(roster.entries()[*only].operator);
        }
        _ => {
            let (left, right) = members.split_at(members.len() / 2);
            if verifies(roster, point, signatures, left) {
                find_bad(roster, point, signatures, right, bad);
            } else {
                find_bad(roster, point, signatures, left, bad);
                if !verifies(roster, point, signatures, right) {
                    find_bad(roster, point, signatures, right, bad);
                }
            }
        }
    }
}

/// Whether the aggregate of `members`' signatures verifies under the aggregate of their keys.
fn verifies(
    roster: &Roster,
    point: &G1Affine,
    signatures: &BTreeMap<Address, Signature>,
    members: &[usize],
) -> bool {
    let mut key = G2Projective::default();
    let mut signature = G1Projective::default();
    for i in members {
        let entry = &roster.entries()[*i];
        if let (Some(k), Some(s)) = (entry.key, signatures.get(&entry.operator)) {
            key += k.point();
            signature += s.point();
        }
    }
    match (
        PublicKeyG2::from_trusted_sum(key.into_affine()),
        Signature::from_trusted_sum(signature.into_affine()),
    ) {
        (Ok(key), Ok(signature)) => bls::verify_point(&key, point, &signature),
        _ => false,
    }
}
