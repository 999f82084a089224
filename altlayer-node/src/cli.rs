//! The `altlayer` command line.
//!
//! Every failure, in arguments or in files, ends in one line on standard error and a non-zero
//! exit code (2 for usage errors, 1 for everything else); nothing panics on bad input.

use crate::devnet::{self, DevnetConfig};
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
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
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
    /// Run a single-sequencer EVM rollup in this process, with a built-in load generator.
    Devnet(DevnetArgs),
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
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub sequencers: u64,
    /// Inject a fault to watch VITAL catch it: `bad-state-root-at BLOCK` (the sequencer
    /// corrupts its state before that block).
    #[arg(long, num_args = 1..=2, value_names = ["KIND", "BLOCK"])]
    pub fault: Vec<String>,
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
    let mut out = std::io::stdout();
    match run(cli, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", one_line(&err.to_string()));
            ExitCode::FAILURE
        }
    }
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
                fault: match args.fault.as_slice() {
                    [] => None,
                    parts => Some(parts.join(":").parse().map_err(CliError::Fault)?),
                },
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .map_err(CliError::Runtime)?;
            runtime.block_on(async {
                let stop = async {
                    // If the signal handler cannot be installed the devnet runs to --blocks.
                    if tokio::signal::ctrl_c().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                };
                devnet::run(config, out, stop).await
            })?;
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
