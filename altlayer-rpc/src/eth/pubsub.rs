//! `eth_subscribe` over WebSocket: `newHeads` (and, after a revert, the new head), `logs`
//! (with `removed: true` for logs a revert took away) and `newPendingTransactions` (hashes,
//! or full transactions with `true`).

use super::{Eth, logs::block_logs};
use crate::{api::EthPubSubApiServer, convert, error::RpcError, provider::ChainEvent};
use alloy_rpc_types_eth::{
    Filter,
    pubsub::{Params, SubscriptionKind, SubscriptionResult as Item},
};
use alloy_serde::WithOtherFields;
use jsonrpsee::{
    PendingSubscriptionSink, SubscriptionSink,
    core::{SubscriptionResult, async_trait},
    types::ErrorObjectOwned,
};
use tokio::sync::broadcast::error::RecvError;

enum Wanted {
    Heads,
    Logs(Box<Filter>),
    Pending { full: bool },
    Nothing,
}

#[async_trait]
impl EthPubSubApiServer for Eth {
    async fn subscribe(
        &self,
        pending: PendingSubscriptionSink,
        kind: SubscriptionKind,
        params: Option<Params>,
    ) -> SubscriptionResult {
        let wanted = match (kind, params.unwrap_or_default()) {
            (SubscriptionKind::NewHeads, Params::None) => Wanted::Heads,
            (SubscriptionKind::Logs, Params::Logs(filter)) => Wanted::Logs(filter),
            (SubscriptionKind::Logs, Params::None) => Wanted::Logs(Box::default()),
            (SubscriptionKind::NewPendingTransactions, Params::None) => {
                Wanted::Pending { full: false }
            }
            (SubscriptionKind::NewPendingTransactions, Params::Bool(full)) => {
                Wanted::Pending { full }
            }
            // Never syncing: accepted, and nothing to say.
            (SubscriptionKind::Syncing, Params::None) => Wanted::Nothing,
            (kind, params) => {
                let error: ErrorObjectOwned = RpcError::InvalidParams(format!(
                    "unsupported subscription {kind:?} with {params:?}"
                ))
                .into();
                pending.reject(error).await;
                return Ok(());
            }
        };
        let events = self.chain().subscribe();
        let sink = pending.accept().await?;
        let this = self.clone();
        tokio::spawn(async move { this.feed(sink, wanted, events).await });
        Ok(())
    }
}

impl Eth {
    async fn feed(
        &self,
        sink: SubscriptionSink,
        wanted: Wanted,
        mut events: tokio::sync::broadcast::Receiver<ChainEvent>,
    ) {
        loop {
            let event = tokio::select! {
                _ = sink.closed() => return,
                event = events.recv() => event,
            };
            let event = match event {
                Ok(event) => event,
                // A subscriber too slow to keep up misses what it fell behind by.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            };
            for item in self.items(&wanted, &event).await {
                let Ok(message) = serde_json::value::to_raw_value(&item) else {
                    continue;
                };
                if sink.send(message).await.is_err() {
                    return;
                }
            }
        }
    }

    async fn items(&self, wanted: &Wanted, event: &ChainEvent) -> Vec<Item> {
        let config = self.chain().config();
        match (wanted, event) {
            (Wanted::Heads, ChainEvent::Block(block)) => {
                vec![Item::Header(Box::new(WithOtherFields::new(
                    convert::rpc_header(block, config),
                )))]
            }
            (Wanted::Heads, ChainEvent::Reverted { head, .. }) => self
                .chain()
                .block(*head)
                .map(|block| {
                    Item::Header(Box::new(WithOtherFields::new(convert::rpc_header(
                        &block, config,
                    ))))
                })
                .into_iter()
                .collect(),
            (Wanted::Logs(filter), ChainEvent::Block(block)) => {
                let mut logs = Vec::new();
                block_logs(block, filter, false, &mut logs);
                logs.into_iter()
                    .map(|log| Item::Log(Box::new(log)))
                    .collect()
            }
            (Wanted::Logs(filter), ChainEvent::Reverted { removed, .. }) => {
                let mut logs = Vec::new();
                for block in removed {
                    block_logs(block, filter, true, &mut logs);
                }
                logs.into_iter()
                    .map(|log| Item::Log(Box::new(log)))
                    .collect()
            }
            (Wanted::Pending { full: false }, ChainEvent::Pending(hash)) => {
                vec![Item::TransactionHash(*hash)]
            }
            (Wanted::Pending { full: true }, ChainEvent::Pending(hash)) => self
                .inner
                .pool
                .pooled(*hash)
                .await
                .map(|tx| Item::FullTransaction(Box::new(convert::rpc_pending_transaction(tx))))
                .into_iter()
                .collect(),
            _ => Vec::new(),
        }
    }
}
