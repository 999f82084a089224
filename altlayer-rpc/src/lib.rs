#![doc = include_str!("../README.md")]

mod altlayer;
pub mod api;
pub mod chain;
pub mod convert;
mod debug;
pub mod error;
mod eth;
pub mod evm;
pub mod pool;
pub mod provider;
pub mod server;

pub use chain::{MemoryChain, MemoryChainOptions};
pub use error::RpcError;
pub use eth::Eth;
pub use pool::SharedRollup;
pub use provider::{ChainBlock, ChainEvent, ChainReader, ChainTip, StateView, TxPool};
pub use server::{RpcConfig, RpcServer, rpc_module};
