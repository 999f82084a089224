//! The server: HTTP and WebSocket on one port (jsonrpsee, as reth), every namespace, and the
//! limits that keep one client from taking the node down.

use crate::{
    api::{
        AltlayerApiServer, DebugApiServer, EthApiServer, EthFilterApiServer, EthPubSubApiServer,
        NetApiServer, Web3ApiServer,
    },
    eth::{Eth, filters::random_id},
    provider::{ChainReader, TxPool},
};
use jsonrpsee::{
    RpcModule,
    server::{BatchRequestConfig, IdProvider, Server, ServerConfig, ServerHandle},
    types::SubscriptionId,
};
use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};
use tokio::sync::broadcast::error::RecvError;
use tower_http::cors::{Any, CorsLayer};

/// The server's settings and limits.
#[derive(Clone, Debug, PartialEq)]
pub struct RpcConfig {
    /// What `web3_clientVersion` answers.
    pub client_version: String,
    /// The largest request body (HTTP) or message (WebSocket), in bytes.
    pub max_request_bytes: u32,
    /// The largest response, in bytes.
    pub max_response_bytes: u32,
    /// Connections (and HTTP requests in flight) at once.
    pub max_connections: u32,
    /// Calls in one batch request.
    pub max_batch_len: u32,
    /// Subscriptions on one WebSocket connection.
    pub max_subscriptions_per_connection: u32,
    /// The most gas an `eth_call` (or a trace) may use (geth's `--rpc.gascap`).
    pub gas_cap: u64,
    /// How long an `eth_call`, estimate, trace or log query may take (geth's
    /// `--rpc.evmtimeout`).
    pub evm_timeout: Duration,
    /// The widest block range `eth_getLogs` covers.
    pub max_logs_range: u64,
    /// The most logs `eth_getLogs` returns.
    pub max_logs: usize,
    /// The most storage keys one `eth_getProof` proves.
    pub max_proof_slots: usize,
    /// Filters installed at once.
    pub max_filters: usize,
    /// A filter not polled for this long is dropped (geth: 5 minutes).
    pub filter_timeout: Duration,
    /// Answer browsers' cross-origin requests from any origin (dApps in a page calling the
    /// node directly). Off by default, as geth's: any page a user visits could otherwise
    /// call the node.
    pub cors: bool,
    /// Take legacy transactions without a chain id (no EIP-155 replay protection); geth
    /// refuses them over RPC unless told otherwise.
    pub allow_unprotected_txs: bool,
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            client_version: format!("altlayer/v{}/rust", env!("CARGO_PKG_VERSION")),
            max_request_bytes: 5 * 1024 * 1024,
            max_response_bytes: 100 * 1024 * 1024,
            max_connections: 500,
            max_batch_len: 1_000,
            max_subscriptions_per_connection: 1_024,
            gas_cap: 50_000_000,
            evm_timeout: Duration::from_secs(5),
            max_logs_range: 100_000,
            max_logs: 10_000,
            max_proof_slots: 1_024,
            max_filters: 10_000,
            filter_timeout: Duration::from_secs(300),
            cors: false,
            allow_unprotected_txs: false,
        }
    }
}

/// Subscription ids as geth gives them: `0x` and 32 hex digits.
#[derive(Debug)]
struct HexIds {
    seed: u128,
    counter: AtomicU64,
}

impl IdProvider for HexIds {
    fn next_id(&self) -> SubscriptionId<'static> {
        SubscriptionId::Str(
            random_id(self.seed, self.counter.fetch_add(1, Ordering::Relaxed)).into(),
        )
    }
}

/// Every namespace's methods over `chain` and `pool`, to serve with any jsonrpsee server (or
/// call in process).
pub fn rpc_module(eth: Eth) -> RpcModule<()> {
    let mut module = RpcModule::new(());
    // The names are distinct by construction: each trait has its own.
    let parts: [jsonrpsee::Methods; 7] = [
        Web3ApiServer::into_rpc(eth.clone()).into(),
        NetApiServer::into_rpc(eth.clone()).into(),
        EthApiServer::into_rpc(eth.clone()).into(),
        EthFilterApiServer::into_rpc(eth.clone()).into(),
        EthPubSubApiServer::into_rpc(eth.clone()).into(),
        DebugApiServer::into_rpc(eth.clone()).into(),
        AltlayerApiServer::into_rpc(eth).into(),
    ];
    for part in parts {
        if let Err(error) = module.merge(part) {
            // Two traits declaring one name is a bug in this crate, caught by its tests.
            tracing::error!(%error, "duplicate RPC method");
        }
    }
    module
}

/// A running server.
#[derive(Debug)]
pub struct RpcServer {
    addr: SocketAddr,
    handle: ServerHandle,
    filters: tokio::task::JoinHandle<()>,
}

impl RpcServer {
    /// Serves the chain and pool on `addr` (HTTP and WebSocket on one port; port 0 picks a
    /// free one).
    pub async fn start(
        addr: SocketAddr,
        chain: Arc<dyn ChainReader>,
        pool: Arc<dyn TxPool>,
        config: RpcConfig,
    ) -> std::io::Result<Self> {
        let server_config = ServerConfig::builder()
            .max_request_body_size(config.max_request_bytes)
            .max_response_body_size(config.max_response_bytes)
            .max_connections(config.max_connections)
            .max_subscriptions_per_connection(config.max_subscriptions_per_connection)
            .set_batch_request_config(BatchRequestConfig::Limit(config.max_batch_len))
            .set_id_provider(HexIds {
                seed: SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos()),
                counter: AtomicU64::new(0),
            })
            .build();
        let cors = config.cors.then(|| {
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods(Any)
                .allow_headers(Any)
        });
        let server = Server::builder()
            .set_config(server_config)
            .set_http_middleware(tower::ServiceBuilder::new().option_layer(cors))
            .build(addr)
            .await?;
        let addr = server.local_addr()?;
        let eth = Eth::new(chain, pool, config);
        let filters = tokio::spawn(feed_filters(eth.clone()));
        let handle = server.start(rpc_module(eth));
        tracing::info!(%addr, "JSON-RPC listening (HTTP and WebSocket)");
        Ok(Self {
            addr,
            handle,
            filters,
        })
    }

    /// Where it listens.
    pub const fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://` URL of the server.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://` URL of the server.
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Stops serving and waits until it has.
    pub async fn stop(self) {
        // Already stopped is fine.
        let _ = self.handle.stop();
        self.handle.stopped().await;
        self.filters.abort();
    }
}

/// Hands the chain's events to the installed filters until the chain goes away.
async fn feed_filters(eth: Eth) {
    let mut events = eth.chain().subscribe();
    loop {
        match events.recv().await {
            Ok(event) => eth.inner.filters.on_event(&event),
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "filters fell behind the chain's events");
            }
            Err(RecvError::Closed) => return,
        }
    }
}
