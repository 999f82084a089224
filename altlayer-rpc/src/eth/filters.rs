//! Installed filters, as geth keeps them: each collects what happens from its installation on
//! (new block hashes, pooled transaction hashes, or matching logs, with `removed: true` for
//! logs a revert took away) until it is polled; a filter not polled for a while is dropped.

use super::{Eth, logs::block_logs};
use crate::{api::EthFilterApiServer, error::RpcError, provider::ChainEvent};
use alloy_primitives::{B256, keccak256};
use alloy_rpc_types_eth::{Filter, FilterBlockOption, FilterChanges, Log};
use jsonrpsee::core::{RpcResult, async_trait};
use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

/// What one filter holds until it is polled, at most this many items (the oldest go first).
const MAX_PENDING_ITEMS: usize = 100_000;

#[derive(Debug)]
enum Kind {
    Logs {
        filter: Box<Filter>,
        logs: VecDeque<Log>,
    },
    Blocks(VecDeque<B256>),
    Pending(VecDeque<B256>),
}

#[derive(Debug)]
struct Installed {
    kind: Kind,
    polled: Instant,
}

/// The installed filters.
#[derive(Debug)]
pub(crate) struct Filters {
    installed: Mutex<HashMap<String, Installed>>,
    max: usize,
    timeout: Duration,
    counter: AtomicU64,
    seed: u128,
}

/// A fresh random-looking id: `0x` and 32 hex digits, as geth's.
pub(crate) fn random_id(seed: u128, counter: u64) -> String {
    let hash = keccak256([seed.to_be_bytes().as_slice(), &counter.to_be_bytes()].concat());
    format!("0x{}", alloy_primitives::hex::encode(&hash[..16]))
}

fn push<T>(queue: &mut VecDeque<T>, items: impl IntoIterator<Item = T>) {
    queue.extend(items);
    while queue.len() > MAX_PENDING_ITEMS {
        queue.pop_front();
    }
}

impl Filters {
    pub(crate) fn new(max: usize, timeout: Duration) -> Self {
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Self {
            installed: Mutex::new(HashMap::new()),
            max,
            timeout,
            counter: AtomicU64::new(0),
            seed,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Installed>> {
        self.installed.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn install(&self, kind: Kind) -> Result<String, RpcError> {
        let mut installed = self.lock();
        self.expire(&mut installed);
        if installed.len() >= self.max {
            return Err(RpcError::LimitExceeded(format!(
                "too many filters installed (at most {})",
                self.max
            )));
        }
        let id = random_id(self.seed, self.counter.fetch_add(1, Ordering::Relaxed));
        installed.insert(
            id.clone(),
            Installed {
                kind,
                polled: Instant::now(),
            },
        );
        Ok(id)
    }

    fn expire(&self, installed: &mut HashMap<String, Installed>) {
        let timeout = self.timeout;
        installed.retain(|_, filter| filter.polled.elapsed() < timeout);
    }

    /// Hands an event to every filter that wants it.
    pub(crate) fn on_event(&self, event: &ChainEvent) {
        let mut installed = self.lock();
        self.expire(&mut installed);
        for filter in installed.values_mut() {
            match (&mut filter.kind, event) {
                (Kind::Blocks(hashes), ChainEvent::Block(block)) => push(hashes, [block.hash]),
                (Kind::Pending(hashes), ChainEvent::Pending(hash)) => push(hashes, [*hash]),
                (Kind::Logs { filter, logs }, ChainEvent::Block(block))
                    if in_range(filter, block.number()) =>
                {
                    let mut found = Vec::new();
                    block_logs(block, filter, false, &mut found);
                    push(logs, found);
                }
                (Kind::Logs { filter, logs }, ChainEvent::Reverted { removed, .. }) => {
                    let mut found = Vec::new();
                    for block in removed {
                        if in_range(filter, block.number()) {
                            block_logs(block, filter, true, &mut found);
                        }
                    }
                    push(logs, found);
                }
                _ => {}
            }
        }
    }

    fn changes(&self, id: &str) -> Result<FilterChanges, RpcError> {
        let mut installed = self.lock();
        self.expire(&mut installed);
        let filter = installed.get_mut(id).ok_or(RpcError::FilterNotFound)?;
        filter.polled = Instant::now();
        Ok(match &mut filter.kind {
            Kind::Logs { logs, .. } => FilterChanges::Logs(logs.drain(..).collect()),
            Kind::Blocks(hashes) | Kind::Pending(hashes) => {
                FilterChanges::Hashes(hashes.drain(..).collect())
            }
        })
    }

    fn log_filter(&self, id: &str) -> Result<Filter, RpcError> {
        let mut installed = self.lock();
        self.expire(&mut installed);
        let filter = installed.get_mut(id).ok_or(RpcError::FilterNotFound)?;
        filter.polled = Instant::now();
        match &filter.kind {
            Kind::Logs { filter, .. } => Ok((**filter).clone()),
            _ => Err(RpcError::FilterNotFound),
        }
    }

    fn uninstall(&self, id: &str) -> bool {
        self.lock().remove(id).is_some()
    }
}

/// Whether a block at `number` is within a filter's range (a range ending at a tag follows
/// the chain).
fn in_range(filter: &Filter, number: u64) -> bool {
    match &filter.block_option {
        FilterBlockOption::AtBlockHash(_) => false,
        FilterBlockOption::Range { .. } => filter.matches_block_range(number),
    }
}

#[async_trait]
impl EthFilterApiServer for Eth {
    fn new_filter(&self, filter: Filter) -> RpcResult<String> {
        if matches!(filter.block_option, FilterBlockOption::AtBlockHash(_)) {
            return Err(RpcError::InvalidParams(
                "a filter cannot be installed at one block hash".into(),
            )
            .into());
        }
        Ok(self.inner.filters.install(Kind::Logs {
            filter: Box::new(filter),
            logs: VecDeque::new(),
        })?)
    }

    fn new_block_filter(&self) -> RpcResult<String> {
        Ok(self.inner.filters.install(Kind::Blocks(VecDeque::new()))?)
    }

    fn new_pending_transaction_filter(&self) -> RpcResult<String> {
        Ok(self.inner.filters.install(Kind::Pending(VecDeque::new()))?)
    }

    fn filter_changes(&self, id: String) -> RpcResult<FilterChanges> {
        Ok(self.inner.filters.changes(&id)?)
    }

    async fn filter_logs(&self, id: String) -> RpcResult<Vec<Log>> {
        let filter = self.inner.filters.log_filter(&id)?;
        Ok(self.find_logs(&filter).await?)
    }

    fn uninstall_filter(&self, id: String) -> RpcResult<bool> {
        Ok(self.inner.filters.uninstall(&id))
    }
}
