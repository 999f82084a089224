//! A restaked rollup's operators in one place: the ALT ledger with the SQUAD, MACH and VITAL
//! operator sets of a rollup, development operators registered in them with BLS keys and
//! stake, and the rosters and members the in-process SQUAD set and MACH committee are made of.
//! What `altlayer devnet`, `altlayer launch`, the examples, the benchmarks and the tests build
//! a restaked rollup from, instead of each wiring the ledger by hand.

use crate::{
    ledger::{AltStake, FeePolicy},
    mach::{
        committee::{CommitteeMember, MachConduct},
        mach_set,
    },
    qc::{Roster, StakeSnapshot},
    squad::{Behaviour, sequencer::SetMember, squad_set},
    vital::Accounts,
};
use alloy_primitives::{Address, U256, keccak256};
use altlayer_core::{
    RollupId,
    bls::{BlsError, SecretKey},
    evidence::{OperatorSetId, Service},
};
use altlayer_staking::{AltLedger, OperatorKey, OperatorSetConfig, StakingError, StakingParams};
use std::sync::Arc;

/// One ALT: 10^18 base units.
pub fn alt(amount: u64) -> U256 {
    U256::from(amount) * U256::from(10u64).pow(U256::from(18u64))
}

/// Who runs a restaked rollup, and with what stake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestakedConfig {
    /// The rollup's EVM chain id (signed messages bind it).
    pub chain_id: u64,
    /// The rollup.
    pub rollup: RollupId,
    /// Staking parameters (fee split, unbonding, slash fractions).
    pub params: StakingParams,
    /// SQUAD sequencers (0: a single sequencer, registered alone in the SQUAD set).
    pub sequencers: usize,
    /// Stake delegated to each sequencer.
    pub sequencer_stake: U256,
    /// MACH operators.
    pub mach_operators: usize,
    /// Stake delegated to each MACH operator.
    pub mach_stake: U256,
    /// ALT each VITAL verifier holds for its challenge bonds.
    pub verifier_balance: U256,
    /// ALT charged per unit of gas a block uses, paid by the rollup's fee account.
    pub fee_per_gas: U256,
    /// Blocks per reward epoch (0: rewards are never distributed).
    pub epoch_blocks: u64,
    /// How each sequencer behaves, by index (the others are honest).
    pub sequencer_behaviours: Vec<(usize, Behaviour)>,
    /// How each MACH operator behaves, by index (the others are honest).
    pub mach_conducts: Vec<(usize, MachConduct)>,
}

impl Default for RestakedConfig {
    fn default() -> Self {
        Self {
            chain_id: 1_337,
            rollup: RollupId(1),
            params: StakingParams::default(),
            sequencers: 4,
            sequencer_stake: alt(100_000),
            mach_operators: 4,
            mach_stake: alt(100_000),
            verifier_balance: alt(10_000),
            fee_per_gas: U256::ZERO,
            epoch_blocks: 0,
            sequencer_behaviours: Vec::new(),
            mach_conducts: Vec::new(),
        }
    }
}

/// Why the operators could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestakedError {
    /// The ledger refused a registration.
    #[error("ledger: {0}")]
    Ledger(#[from] StakingError),
    /// A key could not be made.
    #[error(transparent)]
    Key(#[from] BlsError),
    /// A roster could not be read.
    #[error(transparent)]
    Roster(#[from] crate::qc::QcError),
}

/// The operators of a restaked rollup, registered and staked; see the [module docs](self).
#[derive(Debug)]
pub struct Restaked {
    /// The ALT ledger as the rollup's token ledger.
    pub ledger: AltStake,
    /// The SQUAD roster and its members, when sequencing is by a set.
    pub squad: Option<(Arc<Roster>, Vec<SetMember>)>,
    /// The MACH roster and its members (empty when there are none).
    pub mach: (Arc<Roster>, Vec<CommitteeMember>),
    /// Who posts batches and is slashed when one is proven wrong: the single sequencer, or
    /// the SQUAD set's first member (whose node runs the rollup).
    pub proposer: Address,
    /// The VITAL verifier.
    pub verifier: Address,
    /// The rollup's fee account, funded with ALT.
    pub fee_payer: Address,
}

/// A development key for member `index` of `service`, and its address (from the key).
pub fn dev_operator(service: Service, index: usize) -> Result<(SecretKey, Address), BlsError> {
    let tag: &[u8] = match service {
        Service::Squad => b"altlayer/squad/dev",
        Service::Mach => b"altlayer/mach/dev",
        Service::Vital => b"altlayer/vital/dev",
    };
    let key = SecretKey::from_seed(&[tag, &(index as u64).to_be_bytes()].concat())?;
    let address = Address::from_slice(&keccak256(key.public_key_g1().to_bytes())[12..]);
    Ok((key, address))
}

/// The authority of development ledgers: it creates operator sets and mints ALT.
pub const DEV_AUTHORITY: Address = Address::repeat_byte(0xaa);
const AUTHORITY: Address = DEV_AUTHORITY;
const ESCROW: Address = Address::repeat_byte(0xe5);
const SINGLE_SEQUENCER: Address = Address::repeat_byte(0x5e);
const VERIFIER: Address = Address::repeat_byte(0x7a);
const FEE_PAYER: Address = Address::repeat_byte(0xfe);

/// A new ALT ledger for `chain_id` whose [`DEV_AUTHORITY`] has created `sets`, each admitting
/// any operator with stake.
pub fn dev_ledger(
    params: StakingParams,
    chain_id: u64,
    sets: &[OperatorSetId],
) -> Result<AltLedger, StakingError> {
    let mut ledger = AltLedger::new(params, AUTHORITY, chain_id)?;
    for set in sets {
        ledger.create_set(
            &AUTHORITY,
            *set,
            OperatorSetConfig {
                min_stake: U256::from(1),
            },
        )?;
    }
    Ok(ledger)
}

/// Registers `address` as an operator with `key`, mints it `stake` ALT base units, stakes
/// and delegates them to itself, and joins it to `set` (at the ledger's current height).
pub fn stake_operator(
    ledger: &mut AltLedger,
    address: Address,
    key: OperatorKey,
    stake: U256,
    set: OperatorSetId,
) -> Result<(), StakingError> {
    ledger.register_operator(address, key, 0)?;
    ledger.mint(&AUTHORITY, &address, stake)?;
    ledger.stake(&address, stake)?;
    ledger.delegate(&address, &address, stake)?;
    ledger.join_set(&address, set)
}

impl Restaked {
    /// Registers and stakes development operators as `config` says, on a new ALT ledger at
    /// height 0, whose rosters at height 0 the SQUAD set and the MACH committee run with.
    pub fn dev(config: &RestakedConfig) -> Result<Self, RestakedError> {
        let squad = squad_set(config.rollup);
        let mach = mach_set(config.rollup);
        let vital = OperatorSetId::new(Service::Vital, config.rollup);
        let mut ledger = dev_ledger(
            config.params.clone(),
            config.chain_id,
            &[squad, mach, vital],
        )?;
        let register = stake_operator;
        let behaviour = |i: usize| {
            config
                .sequencer_behaviours
                .iter()
                .find(|(index, _)| *index == i)
                .map_or(Behaviour::Honest, |(_, b)| *b)
        };
        let mut squad_members = Vec::new();
        let proposer = if config.sequencers == 0 {
            register(
                &mut ledger,
                SINGLE_SEQUENCER,
                OperatorKey::EcdsaOnly,
                config.sequencer_stake,
                squad,
            )?;
            SINGLE_SEQUENCER
        } else {
            for i in 0..config.sequencers {
                let (key, address) = dev_operator(Service::Squad, i)?;
                let registration = OperatorKey::bn254(key.register(config.chain_id, address));
                register(
                    &mut ledger,
                    address,
                    registration,
                    config.sequencer_stake,
                    squad,
                )?;
                squad_members.push(SetMember {
                    key,
                    address,
                    behaviour: behaviour(i),
                });
            }
            squad_members[0].address
        };
        let mut mach_members = Vec::new();
        for i in 0..config.mach_operators {
            let (key, address) = dev_operator(Service::Mach, i)?;
            let registration = OperatorKey::bn254(key.register(config.chain_id, address));
            register(&mut ledger, address, registration, config.mach_stake, mach)?;
            mach_members.push(CommitteeMember {
                address,
                key,
                conduct: config
                    .mach_conducts
                    .iter()
                    .find(|(index, _)| *index == i)
                    .map_or(MachConduct::Honest, |(_, c)| *c),
            });
        }
        ledger.mint(&AUTHORITY, &VERIFIER, config.verifier_balance)?;
        ledger.register_fee_account(&AUTHORITY, FEE_PAYER, config.rollup)?;
        // Enough for a long run of full blocks.
        ledger.mint(&AUTHORITY, &FEE_PAYER, alt(1_000_000_000))?;
        let roster = |set| Roster::from_ledger(&ledger, StakeSnapshot::new(set, 0)).map(Arc::new);
        let squad = match config.sequencers {
            0 => None,
            _ => Some((roster(squad)?, squad_members)),
        };
        let mach = (roster(mach)?, mach_members);
        let fees = FeePolicy {
            rollup: config.rollup,
            payer: FEE_PAYER,
            per_gas: config.fee_per_gas,
            epoch_blocks: config.epoch_blocks,
            sets: vec![squad_set(config.rollup), mach_set(config.rollup), vital],
        };
        let accounts = Accounts {
            authority: AUTHORITY,
            escrow: ESCROW,
            proposers: squad_set(config.rollup),
        };
        Ok(Self {
            ledger: AltStake::new(ledger, accounts, Some(fees)),
            squad,
            mach,
            proposer,
            verifier: VERIFIER,
            fee_payer: FEE_PAYER,
        })
    }
}
