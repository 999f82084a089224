//! The bisection game over a batch's intermediate state roots, as a sans-IO state machine.
//!
//! A batch of `n` transactions takes the state from root `r0` (agreed: the previous batch's
//! post-state) to `rn` (the proposer's claim, disputed by the challenger). While the disputed
//! interval `(lo, hi)` spans more than one transaction, the proposer commits to the root at
//! its midpoint and the challenger says whether it agrees: agreement moves `lo` up, dispute
//! moves `hi` down. After at most `ceil(log2 n)` verdicts one transaction is left: the one that takes
//! `r_lo` (agreed) to `r_hi` (disputed), which a one-step proof decides. Every move has a
//! deadline in settlement time; the party that misses one loses. A proposer whose midpoint
//! root differs from the root it posted with the batch contradicts itself and loses at once.

use alloy_primitives::{Address, B256};
use serde::{Deserialize, Serialize};

/// The two sides of a dispute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Party {
    /// Posted the batch.
    Proposer,
    /// Disputes it.
    Challenger,
}

impl Party {
    /// The other side.
    pub const fn other(self) -> Self {
        match self {
            Self::Proposer => Self::Challenger,
            Self::Challenger => Self::Proposer,
        }
    }
}

/// A move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Move {
    /// The proposer's root after transaction `index` (1-based count of transactions applied).
    Root {
        /// Number of transactions applied.
        index: u64,
        /// The state root after them.
        root: B256,
    },
    /// The challenger's verdict on the last root committed.
    Verdict {
        /// Whether it agrees.
        agree: bool,
    },
}

/// Why a dispute ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    /// The loser missed a deadline.
    Timeout,
    /// The proposer committed to a root other than the one it posted with the batch.
    Contradiction,
    /// The one-step proof decided the last transaction.
    OneStepProof,
}

/// Where a dispute stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Narrowing down: `expected` moves next, before `deadline`.
    Bisecting {
        /// Who moves.
        turn: Party,
        /// Settlement time by which it must.
        deadline: u64,
    },
    /// One step left: step `index` (0-based; the batch's transaction of that number) takes
    /// `pre_root` (agreed) to what a one-step proof computes; the proposer claims
    /// `claimed_root`. Anyone may submit the proof before `deadline`; without one the
    /// proposer's claim stands (the challenger, who says it is wrong, has to show it).
    OneStep {
        /// The step's position in the batch (0-based).
        index: u64,
        /// The agreed root before it.
        pre_root: B256,
        /// The proposer's root after it.
        claimed_root: B256,
        /// Settlement time by which the proof must come.
        deadline: u64,
    },
    /// Over.
    Decided {
        /// Who won.
        winner: Party,
        /// Why.
        reason: Reason,
    },
}

/// Why a move was refused. A refused move changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DisputeError {
    /// The batch has no transactions to dispute.
    #[error("a dispute needs at least one transaction")]
    Empty,
    /// The posted roots do not match the batch's size.
    #[error("{got} posted roots for a batch of {expected} transactions")]
    PostedRoots {
        /// Transactions.
        expected: u64,
        /// Roots given.
        got: usize,
    },
    /// It is the other party's turn, or the kind of move is wrong.
    #[error("not {0:?}'s move")]
    NotYourMove(Party),
    /// The root is for another position than the midpoint.
    #[error("the root must be at {expected}, not {got}")]
    WrongIndex {
        /// The midpoint.
        expected: u64,
        /// Given.
        got: u64,
    },
    /// The dispute is no longer bisecting.
    #[error("the dispute is over or awaits its one-step proof")]
    NotBisecting,
}

/// A dispute over one batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    /// The batch's index.
    pub batch: u64,
    /// Who posted it.
    pub proposer: Address,
    /// Who disputes it.
    pub challenger: Address,
    move_timeout: u64,
    posted: Option<Vec<B256>>,
    lo: u64,
    hi: u64,
    lo_root: B256,
    hi_root: B256,
    /// The proposer's midpoint root awaiting the challenger's verdict.
    pending: Option<(u64, B256)>,
    verdicts: u32,
    status: Status,
}

impl Dispute {
    /// Opens a dispute at settlement time `now` over a batch of `transactions` from
    /// `pre_root` (agreed) to `post_root` (disputed). `posted` are the intermediate roots the
    /// proposer published with the batch (root after each transaction), if it did; each move
    /// must be made within `move_timeout` of the previous.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        batch: u64,
        proposer: Address,
        challenger: Address,
        transactions: u64,
        pre_root: B256,
        post_root: B256,
        posted: Option<Vec<B256>>,
        now: u64,
        move_timeout: u64,
    ) -> Result<Self, DisputeError> {
        if transactions == 0 {
            return Err(DisputeError::Empty);
        }
        if let Some(roots) = &posted
            && roots.len() as u64 != transactions
        {
            return Err(DisputeError::PostedRoots {
                expected: transactions,
                got: roots.len(),
            });
        }
        let mut dispute = Self {
            batch,
            proposer,
            challenger,
            move_timeout,
            posted,
            lo: 0,
            hi: transactions,
            lo_root: pre_root,
            hi_root: post_root,
            pending: None,
            verdicts: 0,
            status: Status::Decided {
                winner: Party::Challenger,
                reason: Reason::Timeout,
            },
        };
        dispute.advance(now);
        Ok(dispute)
    }

    /// Where the dispute stands.
    pub const fn status(&self) -> Status {
        self.status
    }

    /// Verdicts given so far (the game's rounds).
    pub const fn rounds(&self) -> u32 {
        self.verdicts
    }

    /// The step the game narrowed down to, once it did.
    pub const fn final_step(&self) -> Option<u64> {
        if self.hi - self.lo == 1 {
            Some(self.lo)
        } else {
            None
        }
    }

    /// The proposer's midpoint root awaiting the challenger's verdict: `(index, root)`.
    pub const fn pending(&self) -> Option<(u64, B256)> {
        self.pending
    }

    /// The root the proposer must commit to next: the midpoint of the disputed interval.
    pub const fn midpoint(&self) -> u64 {
        self.lo + (self.hi - self.lo) / 2
    }

    /// Sets the next status after a move at `now`.
    fn advance(&mut self, now: u64) {
        self.status = if self.hi - self.lo == 1 {
            Status::OneStep {
                index: self.lo,
                pre_root: self.lo_root,
                claimed_root: self.hi_root,
                deadline: now.saturating_add(self.move_timeout),
            }
        } else {
            Status::Bisecting {
                turn: if self.pending.is_some() {
                    Party::Challenger
                } else {
                    Party::Proposer
                },
                deadline: now.saturating_add(self.move_timeout),
            }
        };
    }

    /// Advances time: the party whose deadline passed loses; a one-step stage without a
    /// proof by its deadline goes to the proposer.
    pub fn tick(&mut self, now: u64) -> Status {
        let missed = match self.status {
            Status::Bisecting { turn, deadline } if now > deadline => Some(turn.other()),
            Status::OneStep { deadline, .. } if now > deadline => Some(Party::Proposer),
            _ => None,
        };
        if let Some(winner) = missed {
            self.status = Status::Decided {
                winner,
                reason: Reason::Timeout,
            };
        }
        self.status
    }

    /// Plays a move by `party` at settlement time `now`. A move after its deadline loses the
    /// game for the mover (the status says so) rather than being refused.
    pub fn play(&mut self, now: u64, party: Party, mv: Move) -> Result<Status, DisputeError> {
        let Status::Bisecting { turn, .. } = self.tick(now) else {
            return Err(DisputeError::NotBisecting);
        };
        match (turn, party, mv) {
            (Party::Proposer, Party::Proposer, Move::Root { index, root }) => {
                let mid = self.midpoint();
                if index != mid {
                    return Err(DisputeError::WrongIndex {
                        expected: mid,
                        got: index,
                    });
                }
                let posted = self
                    .posted
                    .as_ref()
                    .and_then(|roots| roots.get(usize::try_from(mid - 1).ok()?));
                if posted.is_some_and(|p| *p != root) {
                    self.status = Status::Decided {
                        winner: Party::Challenger,
                        reason: Reason::Contradiction,
                    };
                    return Ok(self.status);
                }
                self.pending = Some((mid, root));
            }
            (Party::Challenger, Party::Challenger, Move::Verdict { agree }) => {
                let Some((mid, root)) = self.pending.take() else {
                    return Err(DisputeError::NotYourMove(party));
                };
                if agree {
                    (self.lo, self.lo_root) = (mid, root);
                } else {
                    (self.hi, self.hi_root) = (mid, root);
                }
                self.verdicts += 1;
            }
            _ => return Err(DisputeError::NotYourMove(party)),
        }
        self.advance(now);
        Ok(self.status)
    }

    /// Settles the one-step stage with the post-state root a one-step proof computed for the
    /// disputed transaction from the agreed pre-state: the proposer wins if it matches its
    /// claim, the challenger otherwise.
    pub fn decide(&mut self, proven_root: B256) -> Result<Status, DisputeError> {
        let Status::OneStep { claimed_root, .. } = self.status else {
            return Err(DisputeError::NotBisecting);
        };
        let winner = if proven_root == claimed_root {
            Party::Proposer
        } else {
            Party::Challenger
        };
        self.status = Status::Decided {
            winner,
            reason: Reason::OneStepProof,
        };
        Ok(self.status)
    }

    /// Settles the one-step stage with a proof that the step cannot execute at all (an
    /// invalid transaction or block header): no root claimed for it is right, so the
    /// challenger wins.
    pub fn decide_invalid(&mut self) -> Result<Status, DisputeError> {
        let Status::OneStep { .. } = self.status else {
            return Err(DisputeError::NotBisecting);
        };
        self.status = Status::Decided {
            winner: Party::Challenger,
            reason: Reason::OneStepProof,
        };
        Ok(self.status)
    }
}

/// The proposer's move in a game over `batch` when it is its turn to bisect: the root it
/// posted at the midpoint (anything else would contradict the batch and lose at once).
pub fn proposer_move(batch: &crate::Batch, dispute: &Dispute) -> Option<Move> {
    let Status::Bisecting {
        turn: Party::Proposer,
        ..
    } = dispute.status()
    else {
        return None;
    };
    let index = dispute.midpoint();
    let root = *crate::execution::stateless::claimed_step_roots(batch)
        .get(usize::try_from(index).ok()?.checked_sub(1)?)?;
    Some(Move::Root { index, root })
}
