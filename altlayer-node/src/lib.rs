#![doc = include_str!("../README.md")]

pub mod cli;
pub mod da;
pub mod db;
pub mod devnet;
pub mod l1;
pub mod launch;
pub mod report;
pub mod rpc;
pub mod runner;
pub mod spec;
pub mod storage;
