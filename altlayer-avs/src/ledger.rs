//! [`AltStake`]: the ALT ledger as a rollup's [`RollupLedger`]: it follows the chain and
//! charges each block's fee in ALT (split to the operator sets by the fee split, distributed
//! every epoch), holds VITAL challengers' bonds in escrow and moves them as settlement
//! decides, and slashes on evidence: a proposer whose batch was proven wrong, a sequencer or
//! finality operator that signed two conflicting messages.

use crate::vital::Accounts;
use alloy_primitives::{Address, U256};
use altlayer_core::{
    Header, RollupId, TokenLedger,
    evidence::{Evidence, OperatorSetId},
    ledger::{LedgerEvent, RollupLedger},
    settlement::Resolution,
};
use altlayer_staking::{AltLedger, StakingError};

/// How a rollup pays for its restaked services in ALT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeePolicy {
    /// The rollup.
    pub rollup: RollupId,
    /// The account blocks' fees are paid from (a registered fee account of the rollup, funded
    /// with ALT).
    pub payer: Address,
    /// ALT base units charged per unit of gas a block uses (zero charges nothing).
    pub per_gas: U256,
    /// Blocks per reward epoch: every `epoch_blocks` blocks the sets' accrued fees are
    /// distributed to their operators and delegators (zero never distributes).
    pub epoch_blocks: u64,
    /// The operator sets rewards are distributed to.
    pub sets: Vec<OperatorSetId>,
}

/// The ALT ledger behind a rollup; see the [module docs](self).
#[derive(Debug)]
pub struct AltStake {
    ledger: AltLedger,
    accounts: Accounts,
    fees: Option<FeePolicy>,
    /// Highest height whose fee was charged: a block built again after a revert is not
    /// charged twice.
    charged: u64,
    /// Evidence about heights the ledger has not reached yet (a consensus message is
    /// signed before its block is executed), with who submitted it.
    early: Vec<(Address, Evidence)>,
}

impl AltStake {
    /// The ledger, with VITAL's accounts (its authority records decided challenges and
    /// distributes epochs) and, optionally, a fee policy.
    pub const fn new(ledger: AltLedger, accounts: Accounts, fees: Option<FeePolicy>) -> Self {
        Self {
            ledger,
            accounts,
            fees,
            charged: 0,
            early: Vec::new(),
        }
    }

    /// The ALT ledger.
    pub const fn ledger(&self) -> &AltLedger {
        &self.ledger
    }

    /// The ALT ledger, mutably.
    pub const fn ledger_mut(&mut self) -> &mut AltLedger {
        &mut self.ledger
    }

    /// VITAL's accounts on it.
    pub const fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// Slashes on evidence; `None` when the infraction was already punished (the same
    /// evidence twice, or an operator already tombstoned for another equivocation).
    fn slash(&mut self, submitter: &Address, evidence: &Evidence) -> Option<LedgerEvent> {
        let operator = evidence.offender().unwrap_or_default();
        let infraction = evidence.infraction();
        match self.ledger.slash(submitter, evidence) {
            Ok(outcome) => Some(LedgerEvent::Slashed {
                operator: outcome.operator,
                amount: outcome.slashed,
                reward: outcome.reward,
                submitter: *submitter,
                infraction,
                tombstoned: matches!(evidence, Evidence::Equivocation { .. }),
            }),
            Err(StakingError::DuplicateEvidence(_) | StakingError::Tombstoned(_)) => None,
            Err(refused) => Some(LedgerEvent::SlashRefused {
                operator,
                reason: refused.to_string(),
            }),
        }
    }
}

/// [`AltStake`]'s record: the ledger and what follows the chain.
#[derive(serde::Serialize, serde::Deserialize)]
struct StakeRecord {
    ledger: AltLedger,
    charged: u64,
    early: Vec<(Address, Evidence)>,
}

impl RollupLedger for AltStake {
    type Error = StakingError;

    /// The whole ALT ledger (balances, stakes, delegations, unbondings, escrows, rewards,
    /// evidence seen), the last height charged and the evidence waiting for its height.
    fn persist(&self) -> Result<Vec<u8>, altlayer_core::persist::PersistError> {
        altlayer_core::persist::encode(
            "ledger",
            &StakeRecord {
                ledger: self.ledger.clone(),
                charged: self.charged,
                early: self.early.clone(),
            },
        )
    }

    fn restore(
        &mut self,
        record: &[u8],
        _replicas: &altlayer_core::persist::Replicas,
    ) -> Result<(), altlayer_core::persist::PersistError> {
        let record: StakeRecord = altlayer_core::persist::decode("ledger", record)?;
        self.ledger = record.ledger;
        self.charged = record.charged;
        self.early = record.early;
        Ok(())
    }

    /// Follows the rollup's height and time; charges the block's fee (once per height) and
    /// distributes an epoch's rewards at its last block.
    fn on_block(&mut self, header: &Header) -> Result<Vec<LedgerEvent>, StakingError> {
        let mut events = Vec::new();
        if header.height > self.ledger.height() {
            let now = header.timestamp.max(self.ledger.now());
            self.ledger.advance(header.height, now)?;
            let height = self.ledger.height();
            let (due, early): (Vec<_>, Vec<_>) = std::mem::take(&mut self.early)
                .into_iter()
                .partition(|(_, evidence)| evidence.height() <= height);
            self.early = early;
            for (submitter, evidence) in due {
                events.extend(self.slash(&submitter, &evidence));
            }
        }
        let Some(fees) = self.fees.clone() else {
            return Ok(events);
        };
        if header.height <= self.charged {
            return Ok(events);
        }
        self.charged = header.height;
        let amount = fees.per_gas.saturating_mul(U256::from(header.gas_used));
        if !amount.is_zero() {
            self.ledger.collect_fees(&fees.payer, fees.rollup, amount)?;
            events.push(LedgerEvent::Fees {
                height: header.height,
                amount,
            });
        }
        if fees.epoch_blocks > 0 && header.height.is_multiple_of(fees.epoch_blocks) {
            let mut distributed = U256::ZERO;
            for set in &fees.sets {
                let rewards = self
                    .ledger
                    .distribute_epoch(&self.accounts.authority, *set)?;
                distributed += rewards.distributed;
            }
            events.push(LedgerEvent::Rewards {
                height: header.height,
                amount: distributed,
            });
        }
        Ok(events)
    }

    /// Moves the bond to escrow.
    fn lock_bond(&mut self, challenger: &Address, bond: U256) -> Result<(), StakingError> {
        crate::vital::lock_bond(&mut self.ledger, &self.accounts, challenger, bond)
    }

    fn unlock_bond(&mut self, challenger: &Address, bond: U256) -> Result<(), StakingError> {
        self.ledger
            .transfer(&self.accounts.escrow, challenger, bond)
    }

    /// Bonds come back from escrow or go to the treasury; a proposer proven wrong is slashed
    /// with the decided challenge as the evidence, the challenger paid the submitter's share
    /// ([`crate::vital::enforce`]).
    fn on_resolution(&mut self, resolution: &Resolution) -> Result<Vec<LedgerEvent>, StakingError> {
        let enforcement = crate::vital::enforce(resolution, &mut self.ledger, &self.accounts)?;
        let mut events: Vec<LedgerEvent> = enforcement
            .returned
            .iter()
            .map(|(who, bond)| LedgerEvent::Bond {
                challenger: *who,
                amount: *bond,
                returned: true,
            })
            .collect();
        if !enforcement.forfeited.is_zero() {
            events.push(LedgerEvent::Bond {
                challenger: enforcement.decision.challenger,
                amount: enforcement.forfeited,
                returned: false,
            });
        }
        match (enforcement.slash, enforcement.slash_refused) {
            (Some(outcome), _) => events.push(LedgerEvent::Slashed {
                operator: outcome.operator,
                amount: outcome.slashed,
                reward: outcome.reward,
                submitter: enforcement.decision.challenger,
                infraction: "invalid state root",
                tombstoned: false,
            }),
            (None, Some(refused)) => events.push(LedgerEvent::SlashRefused {
                operator: enforcement.decision.proposer,
                reason: refused.to_string(),
            }),
            (None, None) => {}
        }
        Ok(events)
    }

    fn on_evidence(
        &mut self,
        submitter: &Address,
        evidence: &Evidence,
    ) -> Result<Vec<LedgerEvent>, StakingError> {
        if evidence.height() > self.ledger.height() {
            // Slashed once the ledger reaches its height.
            self.early.push((*submitter, evidence.clone()));
            return Ok(Vec::new());
        }
        Ok(self.slash(submitter, evidence).into_iter().collect())
    }
}
