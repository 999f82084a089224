//! The node's JSON-RPC: altlayer-rpc's server reading a [`MemoryChain`] the run loop feeds,
//! and submitting to the sequencer's pool through a channel to that loop, which owns the
//! rollup (so a submission is checked against the head the next block builds on).

use alloy_consensus::{TxEnvelope, transaction::Recovered};
use alloy_primitives::{Address, B256, U256, hex};
use altlayer_avs::{qc::Roster, restaked::Restaked};
use altlayer_core::{
    FinalityGadget, Sequencer, Settlement, dev::DevAccount, evidence::Service,
    ledger::RollupLedger, rollup::Rollup, sequencer::SubmitError, verifier::Verifier,
};
use altlayer_rpc::{
    MemoryChain, TxPool,
    provider::{OperatorInfo, OperatorSetInfo},
};
use tokio::sync::{mpsc, oneshot};

/// What the RPC asks of the pool; the run loop answers.
#[derive(Debug)]
pub enum PoolCommand {
    /// Pool a transaction.
    Submit(
        Box<Recovered<TxEnvelope>>,
        oneshot::Sender<Result<B256, SubmitError>>,
    ),
    /// A sender's next nonce counting its pooled transactions; `None` when the state cannot be read (the caller then reads
    /// the state itself, and reports that error).
    Nonce(Address, oneshot::Sender<Option<u64>>),
    /// A pooled transaction.
    Pooled(B256, oneshot::Sender<Option<Recovered<TxEnvelope>>>),
}

/// The [`TxPool`] the RPC submits to: requests to the run loop.
#[derive(Clone, Debug)]
pub struct NodePool {
    commands: mpsc::Sender<PoolCommand>,
}

impl NodePool {
    /// A pool whose requests arrive at `commands`' receiver, with room for `capacity` at once.
    pub fn channel(capacity: usize) -> (Self, mpsc::Receiver<PoolCommand>) {
        let (commands, receiver) = mpsc::channel(capacity.max(1));
        (Self { commands }, receiver)
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> PoolCommand) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(make(reply)).await.ok()?;
        answer.await.ok()
    }
}

#[async_trait::async_trait]
impl TxPool for NodePool {
    async fn submit(&self, tx: Recovered<TxEnvelope>) -> Result<B256, SubmitError> {
        // No loop to answer: the rollup has stopped.
        self.ask(|reply| PoolCommand::Submit(Box::new(tx), reply))
            .await
            .unwrap_or(Err(SubmitError::Ended))
    }

    async fn pending_nonce(&self, sender: Address) -> Option<u64> {
        self.ask(|reply| PoolCommand::Nonce(sender, reply))
            .await
            .flatten()
    }

    async fn pooled(&self, hash: B256) -> Option<Recovered<TxEnvelope>> {
        self.ask(|reply| PoolCommand::Pooled(hash, reply))
            .await
            .flatten()
    }
}

/// Answers one request against the rollup, announcing what enters the pool to `chain`.
pub fn answer<S, V, F, L, D, St>(
    rollup: &mut Rollup<S, V, F, L, D, St>,
    chain: &MemoryChain,
    command: PoolCommand,
) where
    S: Sequencer,
    V: Verifier,
    F: FinalityGadget,
    L: RollupLedger,
    D: altlayer_core::DataAvailability,
    St: Settlement,
{
    // A requester that went away does not care for the answer.
    match command {
        PoolCommand::Submit(tx, reply) => {
            let result = rollup.submit(*tx);
            if let Ok(hash) = result {
                chain.announce_pending(hash);
            }
            let _ = reply.send(result);
        }
        PoolCommand::Nonce(sender, reply) => {
            let _ = reply.send(rollup.pool_nonce(&sender).ok());
        }
        PoolCommand::Pooled(hash, reply) => {
            let _ = reply.send(rollup.pooled(&hash));
        }
    }
}

fn operator_set(service: Service, roster: &Roster, threshold: Option<u8>) -> OperatorSetInfo {
    OperatorSetInfo {
        service,
        snapshot: roster.snapshot().height,
        operators: roster
            .entries()
            .iter()
            .map(|entry| OperatorInfo {
                address: entry.operator,
                stake: entry.stake,
            })
            .collect(),
        total_stake: roster.total(),
        threshold_percent: threshold,
    }
}

/// The operator sets of an in-process restaked rollup, for `altlayer_operators`.
pub fn operator_sets(restaked: &Restaked, mach_threshold: u8) -> Vec<OperatorSetInfo> {
    let mut sets = Vec::new();
    if let Some((roster, _)) = &restaked.squad {
        sets.push(operator_set(Service::Squad, roster, None));
    } else {
        sets.push(OperatorSetInfo {
            service: Service::Squad,
            snapshot: 0,
            operators: vec![OperatorInfo {
                address: restaked.proposer,
                stake: U256::ZERO,
            }],
            total_stake: U256::ZERO,
            threshold_percent: None,
        });
    }
    if !restaked.mach.0.is_empty() {
        sets.push(operator_set(
            Service::Mach,
            &restaked.mach.0,
            Some(mach_threshold),
        ));
    }
    sets.push(OperatorSetInfo {
        service: Service::Vital,
        snapshot: 0,
        operators: vec![OperatorInfo {
            address: restaked.verifier,
            stake: U256::ZERO,
        }],
        total_stake: U256::ZERO,
        threshold_percent: None,
    });
    sets
}

/// The private keys of anvil's (and hardhat's) ten default accounts, from the mnemonic
/// `test test test test test test test test test test test junk`: public, known to every
/// Ethereum tool, for development only.
const WALLET_KEYS: [&str; 10] = [
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "dbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

/// A funded account a wallet can use: its address and private key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalletAccount {
    /// The address.
    pub address: Address,
    /// The private key, `0x`-prefixed hex.
    pub private_key: String,
}

/// anvil's ten default accounts, which the devnet funds for wallets (apart from the load
/// generator's).
pub fn wallet_accounts() -> Vec<WalletAccount> {
    WALLET_KEYS
        .iter()
        .filter_map(|key| {
            let bytes: [u8; 32] = hex::decode(key).ok()?.try_into().ok()?;
            let secret = secp256k1::SecretKey::from_byte_array(bytes).ok()?;
            Some(WalletAccount {
                address: DevAccount::from_secret(secret).address,
                private_key: format!("0x{key}"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::address;

    #[test]
    fn the_wallet_accounts_are_anvils() {
        let accounts = wallet_accounts();
        assert_eq!(accounts.len(), 10);
        // The addresses every Ethereum developer knows.
        assert_eq!(
            accounts[0].address,
            address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
        );
        assert_eq!(
            accounts[1].address,
            address!("70997970C51812dc3A010C7d01b50e0d17dc79C8")
        );
        assert_eq!(
            accounts[2].address,
            address!("3C44CdDdB6a900fa2b585dd299e03d12FA4293BC")
        );
        assert_eq!(
            accounts[9].address,
            address!("a0Ee7A142d267C1f36714E4a8F75612F20a79720")
        );
    }
}
