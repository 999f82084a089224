//! `altlayer devnet`: a built-in spec plus a load generator. By default the whole restaked
//! rollup in one process: a SQUAD set of 4 sequencers, a MACH committee of 4 operators
//! (66 %), one VITAL verifier, and the ALT ledger charging fees and splitting them to the
//! operator sets. `--sequencers 1` runs a single sequencer instead.
//!
//! A load generator signs transfers from deterministic funded accounts plus a contract
//! deployment and calls; the transactions go through the full pipeline (EIP-2718 bytes,
//! parallel sender recovery, SQUAD consensus, EVM execution on every replica, receipts, state
//! roots), blocks become soft (SQUAD), fast (MACH) and firm (the challenge window passed),
//! batches are published to DA, committed to settlement and re-executed by the verifier.
//!
//! Faults (`--fault`) show the rollup catching misbehaviour:
//! - `bad-state-root-at N`: before block N the sequencer credits itself 1,000 ether outside
//!   any transaction. MACH's operators alert on the block, it never becomes fast-final, the
//!   verifier challenges its batch, the bisection game and a one-step proof decide it,
//!   settlement reverts, the sequencer is slashed, the challenger paid, and the chain goes on
//!   from the last valid block.
//! - `equivocate`: a SQUAD sequencer signs two different messages for every slot; the others
//!   catch it, and the ALT ledger slashes and tombstones it.
//! - `mach-offline N`: N MACH operators stop signing; below the threshold no block becomes
//!   fast-final (each one is reported), while firm finality still comes.

use crate::{
    launch::{self, Faults, LaunchError, RunOptions},
    report::Summary,
    rpc::wallet_accounts,
    spec::{
        AllocAccount, AvsSection, GenesisSection, MachSection, RollupSection, RpcSection,
        SequencingMode, SequencingSection, Spec, TokenSection, VitalSection,
    },
};
use alloy_eips::Encodable2718;
use alloy_primitives::{Address, Bytes, TxKind, U256};
use altlayer_core::{
    RollupConfig,
    dev::{DevAccount, counter_init_code},
};
use std::io::Write;

/// What each wallet account holds at genesis: 10,000 ether, as anvil gives.
fn wallet_balance() -> U256 {
    U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18u64))
}

/// The accounts a wallet can use, with their keys, and where the RPC is, as anvil prints
/// them.
fn accounts_banner(addr: std::net::SocketAddr, chain_id: u64) -> String {
    let mut lines = vec![
        "Available accounts (10000 ETH each; the keys are public, for this devnet only)".to_owned(),
    ];
    for (i, account) in wallet_accounts().iter().enumerate() {
        lines.push(format!("({i}) {} {}", account.address, account.private_key));
    }
    lines.push(format!(
        "RPC URL: http://{addr}  (chain id {chain_id}; ws://{addr} for subscriptions)"
    ));
    lines.join("\n")
}

/// What a devnet run did.
pub type DevnetSummary = Summary;

/// A fault the devnet injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Before building this block the sequencer credits itself 1,000 ether outside any
    /// transaction: the block's state root is wrong.
    BadStateRootAt(u64),
    /// A SQUAD sequencer signs two different messages for every slot.
    Equivocate,
    /// This many MACH operators stop signing.
    MachOffline(usize),
}

impl std::str::FromStr for Fault {
    type Err = String;

    /// `bad-state-root-at:N`, `equivocate`, `mach-offline:N` (`=` works as well as `:`).
    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, value) = match s.split_once([':', '=']) {
            Some((kind, value)) => (kind, Some(value)),
            None => (s, None),
        };
        let number = |what: &str| -> Result<u64, String> {
            let value = value.ok_or_else(|| format!("fault {kind}: expected {kind} {what}"))?;
            value
                .parse()
                .map_err(|_| format!("fault {s:?}: {value:?} is not {what}"))
        };
        match kind {
            "bad-state-root-at" => {
                let height = number("a block height")?;
                if height == 0 {
                    return Err("fault: the genesis block cannot be faulty".into());
                }
                Ok(Self::BadStateRootAt(height))
            }
            "equivocate" if value.is_none() => Ok(Self::Equivocate),
            "equivocate" => Err("fault equivocate takes no value".into()),
            "mach-offline" => {
                let n = number("a number of operators")?;
                if n == 0 {
                    return Err("fault mach-offline: at least one operator goes offline".into());
                }
                usize::try_from(n)
                    .map(Self::MachOffline)
                    .map_err(|_| format!("fault mach-offline: {n} operators is too many"))
            }
            other => Err(format!(
                "unknown fault {other:?}; the faults are: bad-state-root-at N, equivocate, mach-offline N"
            )),
        }
    }
}

/// Settings of a devnet run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevnetConfig {
    /// Blocks to produce before stopping; `None` runs until Ctrl-C.
    pub blocks: Option<u64>,
    /// Transactions the load generator sends per block.
    pub txs_per_block: usize,
    /// Time between blocks.
    pub block_time_ms: u64,
    /// Blocks per batch posted to DA and settlement.
    pub batch_blocks: u64,
    /// Challenge window of the local settlement layer, in seconds.
    pub challenge_window_secs: u64,
    /// The rollup's execution settings (chain id, rollup id, EVM rules, gas limit).
    pub rollup: RollupConfig,
    /// Sequencers: 1 runs the single sequencer, 4 or more a SQUAD set.
    pub sequencers: usize,
    /// MACH operators (0: no fast finality).
    pub mach_operators: usize,
    /// A fault to inject.
    pub fault: Option<Fault>,
    /// Where to serve the JSON-RPC (`None`: no RPC).
    pub http: Option<std::net::SocketAddr>,
    /// Where the node keeps its data (`datadir: None`: in memory).
    pub storage: crate::spec::StorageSection,
}

impl Default for DevnetConfig {
    fn default() -> Self {
        Self {
            blocks: None,
            txs_per_block: 200,
            block_time_ms: 1_000,
            batch_blocks: 5,
            challenge_window_secs: 2,
            rollup: RollupConfig::default(),
            sequencers: 4,
            mach_operators: 4,
            fault: None,
            http: None,
            storage: crate::spec::StorageSection::default(),
        }
    }
}

/// Why a devnet run stopped early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevnetError {
    /// A setting is out of range, or settings that cannot go together.
    #[error("invalid devnet setting: {0}")]
    Config(String),
    /// The rollup stopped.
    #[error(transparent)]
    Launch(#[from] LaunchError),
}

impl DevnetConfig {
    /// Funded accounts the load generator sends from.
    pub fn accounts(&self) -> usize {
        self.txs_per_block.clamp(16, 100_000)
    }

    /// The devnet as a spec: the rollup the devnet runs, written down.
    pub fn spec(&self) -> Result<Spec, DevnetError> {
        let config = |reason: String| DevnetError::Config(reason);
        if self.block_time_ms == 0 {
            return Err(config("--block-time-ms must be at least 1".into()));
        }
        if self.batch_blocks == 0 {
            return Err(config("--batch-blocks must be at least 1".into()));
        }
        let mode = match self.sequencers {
            1 => SequencingMode::Single,
            n if n >= altlayer_avs::squad::MIN_SEQUENCERS => SequencingMode::Squad,
            n => {
                return Err(config(format!(
                    "--sequencers {n}: 1 runs a single sequencer, a SQUAD set needs at least {}",
                    altlayer_avs::squad::MIN_SEQUENCERS
                )));
            }
        };
        match self.fault {
            Some(Fault::Equivocate) if mode == SequencingMode::Single => {
                return Err(config(
                    "--fault equivocate needs a SQUAD set (--sequencers 4 or more)".into(),
                ));
            }
            Some(Fault::MachOffline(n)) if n > self.mach_operators => {
                return Err(config(format!(
                    "--fault mach-offline {n}: there are {} MACH operators",
                    self.mach_operators
                )));
            }
            _ => {}
        }
        let spec = Spec {
            rollup: RollupSection {
                chain_id: self.rollup.chain_id,
                rollup_id: self.rollup.rollup_id.0,
                evm: <&'static str>::from(self.rollup.spec).to_ascii_lowercase(),
                block_time_ms: self.block_time_ms,
                gas_limit: self.rollup.block_gas_limit,
                max_txs_per_block: self.txs_per_block.max(1),
                blocks_per_batch: self.batch_blocks,
            },
            genesis: GenesisSection {
                dev_accounts: self.accounts() as u64,
                // anvil's accounts, for wallets: apart from the load generator's.
                alloc: wallet_accounts()
                    .into_iter()
                    .map(|account| {
                        let balance = AllocAccount {
                            balance: wallet_balance(),
                            ..Default::default()
                        };
                        (account.address, balance)
                    })
                    .collect(),
                ..Default::default()
            },
            sequencing: SequencingSection {
                mode,
                sequencers: Some(self.sequencers),
                ..Default::default()
            },
            avs: AvsSection {
                mach: MachSection {
                    operators: self.mach_operators,
                    delay_ms: 2,
                    ..Default::default()
                },
                vital: VitalSection {
                    challenge_window_secs: self.challenge_window_secs,
                    ..Default::default()
                },
            },
            token: TokenSection {
                epoch_blocks: 10,
                ..Default::default()
            },
            // dApps in a browser page call a development node directly, as anvil allows.
            rpc: RpcSection {
                cors: true,
                ..Default::default()
            },
            storage: self.storage.clone(),
            ..Default::default()
        };
        spec.validate().map_err(|e| config(e.to_string()))?;
        Ok(spec)
    }
}

/// The load generator: funded accounts, each with its next nonce, and the counter contract.
struct Load {
    chain_id: u64,
    accounts: Vec<DevAccount>,
    nonces: Vec<u64>,
    cursor: usize,
    contract: Option<Address>,
    per_block: usize,
    /// Whether the nonces were read from the chain (once, before the first block).
    synced: bool,
}

impl Load {
    fn new(chain_id: u64, accounts: usize, per_block: usize) -> Self {
        Self {
            chain_id,
            accounts: DevAccount::many(accounts as u64),
            nonces: vec![0; accounts],
            cursor: 0,
            contract: None,
            per_block,
            synced: false,
        }
    }

    /// Signed EIP-2718 bytes for the next block: the first deploys the counter (first block)
    /// or calls it (later blocks); the rest are transfers, each from a different account
    /// while there are enough of them.
    fn next_block(&mut self, head: &altlayer_core::EvmStateTransition) -> Vec<Bytes> {
        use altlayer_core::StateTransition;
        use rayon::prelude::*;
        if !self.synced {
            // A resumed devnet goes on from the stored nonces (its pool was not kept).
            self.synced = true;
            for (account, nonce) in self.accounts.iter().zip(&mut self.nonces) {
                *nonce = head.nonce(&account.address).unwrap_or(*nonce);
            }
        }
        let count = self.per_block;
        let mut plan = Vec::with_capacity(count);
        for i in 0..count {
            let index = self.cursor;
            self.cursor = (self.cursor + 1) % self.accounts.len();
            let nonce = self.nonces[index];
            self.nonces[index] += 1;
            let kind = match (i, self.contract) {
                (0, None) => {
                    let address = self.accounts[index].address.create(nonce);
                    self.contract = Some(address);
                    TxKind::Create
                }
                (0, Some(contract)) => TxKind::Call(contract),
                _ => TxKind::Call(self.accounts[(index + 1) % self.accounts.len()].address),
            };
            plan.push((index, nonce, kind, i == 0));
        }
        let chain_id = self.chain_id;
        let accounts = &self.accounts;
        plan.into_par_iter()
            .map(|(index, nonce, kind, contract_tx)| {
                let account = &accounts[index];
                let tx = match (contract_tx, kind) {
                    (true, TxKind::Create) => {
                        account.call(chain_id, nonce, kind, counter_init_code(), 200_000)
                    }
                    (true, _) => account.call(chain_id, nonce, kind, Bytes::new(), 200_000),
                    (false, TxKind::Call(to)) => {
                        account.transfer(chain_id, nonce, to, U256::from(1_000_000_000u64))
                    }
                    (false, TxKind::Create) => {
                        account.call(chain_id, nonce, kind, Bytes::new(), 100_000)
                    }
                };
                tx.encoded_2718().into()
            })
            .collect()
    }
}

/// Runs a devnet, writing one line per block, per tier, per batch and per step of every
/// challenge, and a summary, to `out`, until the configured number of blocks or until `stop`
/// resolves (Ctrl-C in the binary).
pub async fn run(
    config: DevnetConfig,
    out: &mut (dyn Write + Send),
    stop: impl std::future::Future<Output = ()>,
) -> Result<DevnetSummary, DevnetError> {
    let spec = config.spec()?;
    let mut load = Load::new(
        config.rollup.chain_id,
        config.accounts(),
        config.txs_per_block,
    );
    let faults = Faults {
        bad_state_root_at: match config.fault {
            Some(Fault::BadStateRootAt(height)) => Some(height),
            _ => None,
        },
        equivocate: config.fault == Some(Fault::Equivocate),
        mach_offline: match config.fault {
            Some(Fault::MachOffline(n)) => n,
            _ => 0,
        },
    };
    let chain_id = config.rollup.chain_id;
    let options = RunOptions {
        rpc: config.http,
        on_rpc: Some(Box::new(move |addr| accounts_banner(addr, chain_id))),
        blocks: config.blocks,
        workload: Some(Box::new(move |head| load.next_block(head))),
        faults,
        title: Some(format!(
            "{} funded accounts, {} tx/block, ",
            config.accounts(),
            config.txs_per_block
        )),
    };
    Ok(launch::run(&spec, std::path::Path::new("."), options, out, stop).await?)
}
