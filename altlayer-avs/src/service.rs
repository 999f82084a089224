//! The aggregator as a tokio service: a handle to send tasks and signatures, a receiver of
//! events, and a task that drives the sans-IO [`Aggregator`] with the runtime's clock (the
//! shape of eigensdk-rs's `BlsAggregatorService`).
//!
//! ```
//! use altlayer_avs::{service, AggregatorEvent, Quorum, Roster, RosterEntry, StakeSnapshot, TaskConfig, Threshold};
//! use altlayer_avs::bls::SecretKey;
//! use altlayer_core::RollupId;
//! use altlayer_staking::{OperatorSetId, Service};
//! use alloy_primitives::{Address, B256, U256};
//! use std::sync::Arc;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
//! let keys: Vec<_> = (1..=3u8).map(|i| SecretKey::from_seed(&[i]).unwrap()).collect();
//! let snapshot = StakeSnapshot::new(OperatorSetId::new(Service::Mach, RollupId(1)), 0);
//! let roster = Roster::new(snapshot, keys.iter().enumerate().map(|(i, k)| RosterEntry {
//!     operator: Address::repeat_byte(i as u8 + 1), stake: U256::from(100), key: Some(k.public_key_g2()),
//! }).collect());
//! let (handle, mut events, _service) = service::spawn(64);
//! let digest = B256::repeat_byte(9);
//! handle.initialize_task(TaskConfig {
//!     digest, quorums: vec![Quorum { roster: Arc::new(roster), threshold: Threshold::default() }],
//!     time_to_live_ms: 60_000, window_ms: 0,
//! }).await?;
//! for (i, key) in keys.iter().enumerate().take(2) {
//!     handle.process_signature(digest, Address::repeat_byte(i as u8 + 1), key.sign(&digest)).await?;
//! }
//! // Two of three (200 x 100 >= 300 x 66): certified.
//! assert!(matches!(events.recv().await, Some(AggregatorEvent::Certified { .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::aggregator::{Aggregator, AggregatorError, AggregatorEvent, TaskConfig};
use alloy_primitives::{Address, B256};
use altlayer_core::bls::Signature;
use std::time::Duration;
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
    time::Instant,
};

/// Why a request to the service failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The aggregator refused the input.
    #[error(transparent)]
    Aggregator(#[from] AggregatorError),
    /// The service has stopped.
    #[error("the aggregator service has stopped")]
    Stopped,
}

enum Command {
    NewTask(
        Box<TaskConfig>,
        oneshot::Sender<Result<(), AggregatorError>>,
    ),
    Signature {
        digest: B256,
        signer: Address,
        signature: Signature,
        reply: oneshot::Sender<Result<(), AggregatorError>>,
    },
}

/// Sends tasks and signatures to a running service; cheap to clone.
#[derive(Clone, Debug)]
pub struct AggregatorHandle {
    commands: mpsc::Sender<Command>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NewTask(config, _) => write!(f, "NewTask({})", config.digest),
            Self::Signature { digest, signer, .. } => write!(f, "Signature({digest}, {signer})"),
        }
    }
}

impl AggregatorHandle {
    async fn request(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<(), AggregatorError>>) -> Command,
    ) -> Result<(), ServiceError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| ServiceError::Stopped)?;
        answer.await.map_err(|_| ServiceError::Stopped)??;
        Ok(())
    }

    /// Opens a task.
    pub async fn initialize_task(&self, config: TaskConfig) -> Result<(), ServiceError> {
        self.request(|reply| Command::NewTask(Box::new(config), reply))
            .await
    }

    /// Hands in a signature; refused signatures (unknown task or signer, duplicates) are
    /// reported here, bad ones as [`AggregatorEvent::InvalidSignature`] events.
    pub async fn process_signature(
        &self,
        digest: B256,
        signer: Address,
        signature: Signature,
    ) -> Result<(), ServiceError> {
        self.request(|reply| Command::Signature {
            digest,
            signer,
            signature,
            reply,
        })
        .await
    }
}

/// Starts the service on the current tokio runtime: returns the handle, the event receiver
/// (`capacity` events buffered) and the service's task, which ends when every handle is
/// dropped or the receiver is.
pub fn spawn(
    capacity: usize,
) -> (
    AggregatorHandle,
    mpsc::Receiver<AggregatorEvent>,
    JoinHandle<()>,
) {
    let (commands, inbox) = mpsc::channel(capacity.max(1));
    let (events, outbox) = mpsc::channel(capacity.max(1));
    let task = tokio::spawn(run(Aggregator::new(), inbox, events));
    (AggregatorHandle { commands }, outbox, task)
}

async fn run(
    mut aggregator: Aggregator,
    mut inbox: mpsc::Receiver<Command>,
    events: mpsc::Sender<AggregatorEvent>,
) {
    let start = Instant::now();
    let now = || u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    loop {
        let deadline = aggregator
            .next_deadline()
            .map(|ms| start + Duration::from_millis(ms));
        let out = tokio::select! {
            command = inbox.recv() => match command {
                None => return,
                Some(Command::NewTask(config, reply)) => {
                    let _ = reply.send(aggregator.new_task(now(), *config));
                    Vec::new()
                }
                Some(Command::Signature { digest, signer, signature, reply }) => {
                    match aggregator.add_signature(now(), digest, signer, signature) {
                        Ok(out) => {
                            let _ = reply.send(Ok(()));
                            out
                        }
                        Err(error) => {
                            let _ = reply.send(Err(error));
                            Vec::new()
                        }
                    }
                }
            },
            () = sleep_until(deadline) => aggregator.tick(now()),
        };
        for event in out {
            if events.send(event).await.is_err() {
                return;
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
