//! The SQUAD set the SQUAD tests run: sequencers registered and staked on a development
//! ledger, and the timeouts they use. (Each test file uses part of it.)
#![allow(dead_code)]

use alloy_primitives::{Address, U256};
use altlayer_avs::{
    Roster, StakeSnapshot,
    bls::SecretKey,
    restaked::{dev_ledger, stake_operator},
    squad::{CryptoMode, SquadConfig, squad_set},
};
use altlayer_core::{RollupId, dev::DevAccount};
use altlayer_staking::{AltLedger, OperatorKey, StakingParams};
use std::sync::Arc;

/// The chain the tests' SQUAD set signs for.
pub(crate) const CHAIN: u64 = 1_337;

/// A SQUAD set: its ledger, roster, keys and addresses.
pub(crate) struct Setup {
    pub(crate) ledger: AltLedger,
    pub(crate) roster: Arc<Roster>,
    pub(crate) keys: Vec<SecretKey>,
    pub(crate) peers: Arc<Vec<Address>>,
}

/// `n` sequencers with equal stake in the SQUAD set of rollup 1, registered with BLS keys.
pub(crate) fn setup(n: usize) -> Setup {
    let set = squad_set(RollupId(1));
    let mut ledger = dev_ledger(StakingParams::default(), CHAIN, &[set]).unwrap();
    let keys: Vec<_> = (0..n)
        .map(|i| SecretKey::from_seed(&[b's', i as u8]).unwrap())
        .collect();
    let mut peers = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let address = DevAccount::new(500 + i as u64).address;
        let registration = OperatorKey::bn254(key.register(CHAIN, address));
        stake_operator(&mut ledger, address, registration, U256::from(1_000), set).unwrap();
        peers.push(address);
    }
    ledger.advance(1, 1).unwrap();
    let roster = Arc::new(Roster::from_ledger(&ledger, StakeSnapshot::new(set, 0)).unwrap());
    Setup {
        ledger,
        roster,
        keys,
        peers: Arc::new(peers),
    }
}

pub(crate) fn config(crypto: CryptoMode) -> SquadConfig {
    SquadConfig {
        chain_id: CHAIN,
        crypto,
        timeout_propose_ms: 300,
        timeout_vote_ms: 200,
        timeout_delta_ms: 100,
        ..SquadConfig::default()
    }
}
