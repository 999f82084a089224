//! The altlayer node: the runtime that drives altlayer-core's sans-IO cores with tokio, and the
//! `altlayer` command-line tool.
//!
//! For now the node runs a whole rollup in one process ([`devnet`]) and offers the tools a rollup
//! builder needs day to day ([`cli`]): the state root of a genesis file and decoding of raw
//! transactions. Networking, JSON-RPC and persistence come with their issues.

pub mod cli;
pub mod devnet;
