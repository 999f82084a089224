//! The `altlayer` command line.
//!
//! Every failure, in arguments or in files, ends in one line on standard error and a non-zero
//! exit code (2 for usage errors, 1 for everything else); nothing panics on bad input.

use crate::{
    devnet::{self, DevnetConfig},
    launch::{self, RunOptions},
    spec::{Spec, SpecError, TEMPLATE},
};
use alloy_consensus::{Transaction as _, TxEnvelope, Typed2718};
use alloy_primitives::hex;
use altlayer_core::{
    genesis::{genesis_state_root, load_genesis},
    transaction::{
        DEFAULT_MAX_TX_SIZE, RecoveryBackend, TxError, decode_transaction, recover_sender,
    },
};
use clap::{Parser, Subcommand};
use serde_json::{Map, Value, json};
use std::{io::Write, path::PathBuf, process::ExitCode};

/// Command-line interface of the altlayer node.
#[derive(Debug, Parser)]
#[command(
    name = "altlayer",
    version,
    about = "Restaked rollups: node, devnet and tools"
)]
pub struct Cli {
    /// Log format on standard error (levels from `RUST_LOG`, `warn` by default).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How logs are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the Ethereum state root of a geth-style genesis file.
    GenesisRoot {
        /// The genesis JSON file.
        file: PathBuf,
    },
    /// Transaction tools.
    Tx {
        /// The tool.
        #[command(subcommand)]
        command: TxCommand,
    },
    /// Run a whole restaked rollup (SQUAD, MACH, VITAL, ALT) in this process, with a built-in
    /// load generator.
    Devnet(DevnetArgs),
    /// Rollup spec files: a documented template, and checking one.
    Spec {
        /// The tool.
        #[command(subcommand)]
        command: SpecCommand,
    },
    /// A node's database: what it holds, whether it is whole, pruning it (with the node
    /// stopped).
    Db {
        /// The tool.
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Settlement on an Ethereum L1.
    L1 {
        /// The tool.
        #[command(subcommand)]
        command: L1Command,
    },
    /// Run the rollup a spec file describes in this process, until Ctrl-C (or the end of its
    /// lifetime).
    Launch {
        /// The spec file.
        file: PathBuf,
        /// Serve the Ethereum JSON-RPC (HTTP and WebSocket) on this `host:port`, over the
        /// spec's `[rpc] http`.
        #[arg(long, value_name = "ADDR")]
        http: Option<std::net::SocketAddr>,
        /// Where the node keeps its data, over the spec's `[storage]`.
        #[command(flatten)]
        storage: StorageArgs,
    },
}

/// Storage flags of `altlayer launch` and `altlayer devnet`, over the spec's `[storage]`.
#[derive(Debug, Default, clap::Args)]
pub struct StorageArgs {
    /// Keep the chain and its state in a database in this directory (created if missing);
    /// without one the node runs in memory.
    #[arg(long, value_name = "DIR")]
    pub datadir: Option<PathBuf>,
    /// MiB of memory for state reads: redb's page cache and the decoded trie nodes.
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub cache_mb: Option<u64>,
    /// Blocks of state history kept behind the head.
    #[arg(long, value_name = "BLOCKS", value_parser = clap::value_parser!(u64).range(1..), conflicts_with = "archive")]
    pub history: Option<u64>,
    /// Keep all history (every past state) instead.
    #[arg(long)]
    pub archive: bool,
}

impl StorageArgs {
    /// Puts the flags given over `storage`; `--datadir` is relative to the working
    /// directory, so it is made absolute (the spec's is relative to the spec file).
    pub fn apply(&self, storage: &mut crate::spec::StorageSection) -> Result<(), CliError> {
        if let Some(dir) = &self.datadir {
            storage.datadir = Some(std::path::absolute(dir).map_err(|e| {
                CliError::Io(std::io::Error::new(
                    e.kind(),
                    format!("--datadir {}: {e}", dir.display()),
                ))
            })?);
        }
        if let Some(cache_mb) = self.cache_mb {
            storage.cache_mb = cache_mb;
        }
        if let Some(history) = self.history {
            storage.history = history;
            storage.archive = false;
        }
        if self.archive {
            storage.archive = true;
        }
        Ok(())
    }
}

/// Settlement tools.
#[derive(Debug, Subcommand)]
pub enum L1Command {
    /// Deploy the settlement contracts (rosters, MACH, the one-step verifier, batches, the
    /// bridge) for the rollup a spec describes, and write their addresses to a file.
    Deploy {
        /// The spec file.
        file: PathBuf,
        /// The L1's JSON-RPC URL.
        #[arg(long, value_name = "URL")]
        rpc: String,
        /// The deployer's (and batch proposer's) secret key in hex; or set ALTLAYER_L1_KEY.
        #[arg(long, value_name = "HEX", env = crate::l1::KEY_ENV, hide_env_values = true)]
        key: String,
        /// Where to write the contracts' addresses (JSON).
        #[arg(long, value_name = "FILE", default_value = "l1-contracts.json")]
        out: PathBuf,
        /// The proposer's bond per batch, in wei.
        #[arg(long, value_name = "WEI", default_value = "1000000000000000000")]
        proposer_bond_wei: alloy_primitives::U256,
        /// The least a challenger bonds, in wei.
        #[arg(long, value_name = "WEI", default_value = "100000000000000000")]
        challenge_bond_wei: alloy_primitives::U256,
    },
}

/// Database tools.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Sizes, heights and counts.
    Stats {
        /// The node's data directory.
        dir: PathBuf,
    },
    /// Recompute the state root from the stored state and from the stored trie, compare
    /// both with the head's, and check the indexes against the blocks.
    Check {
        /// The node's data directory.
        dir: PathBuf,
    },
    /// Delete the state history older than the last blocks and give the space back.
    Prune {
        /// The node's data directory.
        dir: PathBuf,
        /// Blocks of history to keep behind the head.
        #[arg(long, default_value_t = 128)]
        history: u64,
    },
}

/// Spec tools.
#[derive(Debug, Subcommand)]
pub enum SpecCommand {
    /// Print a documented spec with every key and its default.
    Init,
    /// Validate a spec file and print the configuration it resolves to.
    Check {
        /// The spec file.
        file: PathBuf,
    },
}

/// Transaction tools.
#[derive(Debug, Subcommand)]
pub enum TxCommand {
    /// Decode a raw EIP-2718 transaction and print it as one JSON object.
    Decode {
        /// The transaction, hex (with or without 0x).
        raw: String,
    },
}

/// Flags of `altlayer devnet`.
#[derive(Debug, clap::Args)]
pub struct DevnetArgs {
    /// Stop after this many blocks (default: run until Ctrl-C).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub blocks: Option<u64>,
    /// Transactions the load generator sends per block.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(0..=100_000))]
    pub txs_per_block: u64,
    /// Milliseconds between blocks.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub block_time_ms: u64,
    /// Blocks per batch posted to DA and settlement.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub batch_blocks: u64,
    /// Challenge window of the local settlement layer, in seconds.
    #[arg(long, default_value_t = 2)]
    pub challenge_window_secs: u64,
    /// EVM chain id of the devnet.
    #[arg(long, default_value_t = 1_337)]
    pub chain_id: u64,
    /// Sequencers: 1 for a single sequencer, 4 or more for a SQUAD BFT set in process.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub sequencers: u64,
    /// MACH operators giving fast finality (0: none; blocks are final when their window
    /// passes).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(0..=100))]
    pub mach_operators: u64,
    /// Inject a fault to watch the rollup catch it: `bad-state-root-at BLOCK` (the sequencer
    /// corrupts its state before that block), `equivocate` (a SQUAD sequencer double-signs),
    /// `mach-offline N` (N MACH operators stop signing).
    #[arg(long, num_args = 1..=2, value_names = ["KIND", "VALUE"])]
    pub fault: Vec<String>,
    /// Serve the Ethereum JSON-RPC (HTTP and WebSocket) on this `host:port` and print the
    /// funded accounts a wallet can use, with their keys.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<std::net::SocketAddr>,
    /// Where the node keeps its data.
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The genesis file could not be used.
    #[error(transparent)]
    Genesis(#[from] altlayer_core::genesis::GenesisError),
    /// The argument is not hex.
    #[error("raw transaction is not valid hex: {0}")]
    Hex(#[from] hex::FromHexError),
    /// The transaction is invalid.
    #[error("invalid transaction: {0}")]
    Transaction(#[from] TxError),
    /// The `--fault` argument is not a fault.
    #[error("--fault: {0}")]
    Fault(String),
    /// The devnet stopped with an error.
    #[error(transparent)]
    Devnet(#[from] devnet::DevnetError),
    /// The spec file is refused.
    #[error("spec {file}: {error}")]
    Spec {
        /// The file.
        file: String,
        /// What is wrong.
        error: SpecError,
    },
    /// The launched rollup stopped with an error.
    #[error(transparent)]
    Launch(#[from] launch::LaunchError),
    /// A database tool failed.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    /// An L1 command failed.
    #[error(transparent)]
    L1(#[from] crate::l1::L1CommandError),
    /// The async runtime could not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    /// Output could not be written.
    #[error("output: {0}")]
    Io(#[from] std::io::Error),
}

/// Entry point of the binary: parses arguments, runs the command, maps errors to one line and
/// an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            use clap::error::ErrorKind;
            if matches!(
                err.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = err.print();
                return if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    ExitCode::from(2)
                } else {
                    ExitCode::SUCCESS
                };
            }
            let rendered = err.render().to_string();
            let line = rendered
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid arguments");
            eprintln!("{line}");
            return ExitCode::from(2);
        }
    };
    init_tracing(cli.log_format);
    let mut out = std::io::stdout();
    match run(cli, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", one_line(&err.to_string()));
            ExitCode::FAILURE
        }
    }
}

/// Logs to standard error, filtered by `RUST_LOG` (default `warn`).
fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialisation (tests calling main twice) is refused harmlessly.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(CliError::Runtime)
}

/// Resolves when Ctrl-C is pressed (never, if its handler cannot be installed).
async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn load_spec(file: &std::path::Path) -> Result<Spec, CliError> {
    let refused = |error| CliError::Spec {
        file: file.display().to_string(),
        error,
    };
    let spec = Spec::load(file).map_err(refused)?;
    spec.validate().map_err(refused)?;
    Ok(spec)
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Runs a parsed command, writing its output to `out`.
pub fn run(cli: Cli, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    match cli.command {
        Command::GenesisRoot { file } => {
            let genesis = load_genesis(&file)?;
            writeln!(out, "{}", genesis_state_root(&genesis))?;
        }
        Command::Tx {
            command: TxCommand::Decode { raw },
        } => {
            let json = decode_to_json(&raw)?;
            writeln!(out, "{json}")?;
        }
        Command::Devnet(args) => {
            let config = DevnetConfig {
                blocks: args.blocks,
                txs_per_block: args.txs_per_block as usize,
                block_time_ms: args.block_time_ms,
                batch_blocks: args.batch_blocks,
                challenge_window_secs: args.challenge_window_secs,
                rollup: altlayer_core::RollupConfig {
                    chain_id: args.chain_id,
                    ..Default::default()
                },
                sequencers: args.sequencers as usize,
                mach_operators: args.mach_operators as usize,
                fault: match args.fault.as_slice() {
                    [] => None,
                    parts => Some(parts.join(":").parse().map_err(CliError::Fault)?),
                },
                http: args.http,
                storage: {
                    let mut storage = crate::spec::StorageSection::default();
                    args.storage.apply(&mut storage)?;
                    storage
                },
            };
            runtime()?.block_on(devnet::run(config, out, ctrl_c()))?;
        }
        Command::Spec {
            command: SpecCommand::Init,
        } => write!(out, "{TEMPLATE}")?,
        Command::Db { command } => match command {
            DbCommand::Stats { dir } => crate::db::stats(&dir, out)?,
            DbCommand::Check { dir } => crate::db::check(&dir, out)?,
            DbCommand::Prune { dir, history } => crate::db::prune(&dir, history, out)?,
        },
        Command::L1 {
            command:
                L1Command::Deploy {
                    file,
                    rpc,
                    key,
                    out: path,
                    proposer_bond_wei,
                    challenge_bond_wei,
                },
        } => {
            let spec = load_spec(&file)?;
            let base = file.parent().unwrap_or(std::path::Path::new("."));
            let args = crate::l1::DeployArgs {
                rpc,
                key,
                proposer_bond_wei,
                challenge_bond_wei,
            };
            let (deployment, _) =
                runtime()?.block_on(crate::l1::deploy(&spec, base, &args, out))?;
            deployment
                .write(&path)
                .map_err(crate::l1::L1CommandError::from)?;
            writeln!(out, "addresses written to {}", path.display())?;
        }
        Command::Spec {
            command: SpecCommand::Check { file },
        } => {
            let spec = load_spec(&file)?;
            let base = file.parent().unwrap_or(std::path::Path::new("."));
            let genesis = spec.genesis(base).map_err(|error| CliError::Spec {
                file: file.display().to_string(),
                error,
            })?;
            // The resolved configuration: every key with its value, derived ones included.
            let mut resolved = spec.clone();
            resolved.sequencing.sequencers = Some(spec.sequencing.sequencers());
            resolved.avs.vital.move_timeout_secs = Some(spec.move_timeout_secs());
            writeln!(out, "# {}: valid", file.display())?;
            writeln!(out, "# genesis state root {}", genesis.state_root())?;
            writeln!(
                out,
                "# a dispute game over the largest batch takes {} moves of at most {} s",
                spec.game_moves(),
                spec.move_timeout_secs()
            )?;
            let text = toml::to_string(&resolved)
                .map_err(|e| CliError::Io(std::io::Error::other(e.to_string())))?;
            write!(out, "{text}")?;
        }
        Command::Launch {
            file,
            http,
            storage,
        } => {
            let mut spec = load_spec(&file)?;
            storage.apply(&mut spec.storage)?;
            spec.validate().map_err(|error| CliError::Spec {
                file: file.display().to_string(),
                error,
            })?;
            let base = file
                .parent()
                .map(std::path::Path::to_path_buf)
                .unwrap_or_default();
            let options = RunOptions {
                rpc: http,
                ..Default::default()
            };
            runtime()?.block_on(launch::run(&spec, &base, options, out, ctrl_c()))?;
        }
    }
    Ok(())
}

fn quantity(value: impl std::fmt::LowerHex) -> Value {
    Value::String(format!("{value:#x}"))
}

/// Decodes a raw transaction and describes it as JSON-RPC does: quantities as 0x-hex.
///
/// ```
/// // EIP-155's worked example: 1 ether from 0x9d8a..4f, nonce 9, chain 1.
/// let json = altlayer_node::cli::decode_to_json("0xf86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83")?;
/// assert_eq!(json["from"], "0x9d8a62f656a8d1615c1294fd71e9cfb3e4855a4f");
/// assert_eq!(json["chainId"], "0x1");
/// # Ok::<(), altlayer_node::cli::CliError>(())
/// ```
pub fn decode_to_json(raw: &str) -> Result<Value, CliError> {
    let bytes = hex::decode(raw.trim())?;
    let tx: TxEnvelope = decode_transaction(&bytes, DEFAULT_MAX_TX_SIZE)?;
    let from = recover_sender(&tx, RecoveryBackend::Libsecp256k1)?;
    let mut object = Map::new();
    object.insert("type".into(), quantity(tx.ty()));
    object.insert(
        "chainId".into(),
        tx.chain_id().map_or(Value::Null, quantity),
    );
    object.insert("nonce".into(), quantity(tx.nonce()));
    object.insert("from".into(), json!(from));
    object.insert("to".into(), tx.to().map_or(Value::Null, |to| json!(to)));
    object.insert("value".into(), quantity(tx.value()));
    object.insert("gas".into(), quantity(tx.gas_limit()));
    if tx.is_legacy() || tx.is_eip2930() {
        object.insert("gasPrice".into(), quantity(tx.max_fee_per_gas()));
    } else {
        object.insert("maxFeePerGas".into(), quantity(tx.max_fee_per_gas()));
        object.insert(
            "maxPriorityFeePerGas".into(),
            quantity(tx.max_priority_fee_per_gas().unwrap_or_default()),
        );
    }
    object.insert("input".into(), json!(tx.input()));
    object.insert("hash".into(), json!(tx.tx_hash()));
    Ok(Value::Object(object))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_eip155_example() {
        let json = decode_to_json("0xf86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83").unwrap();
        assert_eq!(json["type"], "0x0");
        assert_eq!(json["chainId"], "0x1");
        assert_eq!(json["nonce"], "0x9");
        assert_eq!(json["from"], "0x9d8a62f656a8d1615c1294fd71e9cfb3e4855a4f");
        assert_eq!(json["to"], "0x3535353535353535353535353535353535353535");
        assert_eq!(json["value"], "0xde0b6b3a7640000");
        assert_eq!(json["gas"], "0x5208");
        assert_eq!(json["gasPrice"], "0x4a817c800");
        assert_eq!(json["input"], "0x");
        // keccak256 of the signed encoding, as any Ethereum client reports it.
        assert_eq!(
            json["hash"],
            "0x33469b22e9f636356c4160a87eb19df52b7412e8eac32a4a55ffe88ea8350788"
        );
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        assert!(matches!(decode_to_json("0xzz"), Err(CliError::Hex(_))));
        assert!(matches!(
            decode_to_json("0x"),
            Err(CliError::Transaction(_))
        ));
        assert!(matches!(
            decode_to_json("0x02c0"),
            Err(CliError::Transaction(_))
        ));
    }
}
