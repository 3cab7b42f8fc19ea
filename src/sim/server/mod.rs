//! The simulator on loopback: Kana's REST API, its WebSocket indexer and the Aptos fullnode
//! endpoints a client uses, all served by one axum app over one [`Shared`] state.
//!
//! The real Kana client code path runs against it unchanged: REST returns entry-function
//! payloads naming the simulator's own package; the node endpoint verifies each signed
//! transaction (signature, sender, sequence number, expiration, chain id), commits it after a
//! block latency by executing it on the [`Exchange`], and serves its outcome by hash; the
//! indexer pushes Kana-shaped records. A driver task steps the synthetic market and the exchange's
//! keeper (funding, TP/SL, liquidations) and publishes [`Update`]s to the indexer.
//!
//! Halves: [`node`] + [`rest`] + [`driver`] (the chain and the API), [`indexer`] (the WebSocket).

pub mod driver;
pub mod indexer;
pub mod node;
pub mod rest;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod indexer_tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use rust_decimal::Decimal;
use serde::Deserialize;
use tokio::sync::broadcast;

use crate::aptos::AccountAddress;
use crate::clock::Clock;
use crate::model::{MarketId, MarketSpec};
use crate::sim::exchange::{Exchange, ExchangeConfig};
use crate::sim::market::{SyntheticConfig, SyntheticMarket, testnet_markets};

/// The simulator's package address (distinct from Kana's so nothing can be mistaken for real).
pub const SIM_PACKAGE: &str = "0x5157000000000000000000000000000000000000000000000000000000000001";

/// Fault injection: every switch off by default. Probabilities are per event (a push, a REST
/// call, a transaction) and drawn from their own seeded stream, so a run with faults is as
/// reproducible as one without.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultConfig {
    /// Seed of the fault stream.
    pub seed: u64,
    /// Close a WebSocket connection instead of sending a push.
    pub ws_drop_probability: f64,
    /// Delay every WebSocket push by this many ms.
    pub ws_delay_ms: u64,
    /// Send a malformed frame instead of a push.
    pub ws_malformed_probability: f64,
    /// Answer a REST call with 429 and `Retry-After`.
    pub rest_429_probability: f64,
    /// `Retry-After` seconds sent with a 429.
    pub retry_after_secs: u64,
    /// Answer a REST call with a 5xx.
    pub rest_5xx_probability: f64,
    /// Stall a REST call past any sane client timeout.
    pub rest_timeout_probability: f64,
    /// Abort a submitted transaction at commit (Move abort with a Kana code).
    pub tx_abort_probability: f64,
    /// Let a submitted transaction expire instead of committing it.
    pub tx_expire_probability: f64,
    /// Accept a transaction and never commit it (lost).
    pub tx_lose_probability: f64,
    /// Report an account's sequence number out of step (one behind).
    pub sequence_skew_probability: f64,
}

impl Default for FaultConfig {
    fn default() -> FaultConfig {
        FaultConfig {
            seed: 1,
            ws_drop_probability: 0.0,
            ws_delay_ms: 0,
            ws_malformed_probability: 0.0,
            rest_429_probability: 0.0,
            retry_after_secs: 1,
            rest_5xx_probability: 0.0,
            rest_timeout_probability: 0.0,
            tx_abort_probability: 0.0,
            tx_expire_probability: 0.0,
            tx_lose_probability: 0.0,
            sequence_skew_probability: 0.0,
        }
    }
}

impl FaultConfig {
    /// Check every probability is within 0..=1; the message names the key.
    pub fn validate(&self, prefix: &str) -> Result<(), String> {
        for (key, p) in [
            ("ws_drop_probability", self.ws_drop_probability),
            ("ws_malformed_probability", self.ws_malformed_probability),
            ("rest_429_probability", self.rest_429_probability),
            ("rest_5xx_probability", self.rest_5xx_probability),
            ("rest_timeout_probability", self.rest_timeout_probability),
            ("tx_abort_probability", self.tx_abort_probability),
            ("tx_expire_probability", self.tx_expire_probability),
            ("tx_lose_probability", self.tx_lose_probability),
            ("sequence_skew_probability", self.sequence_skew_probability),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{prefix}.{key} must be within 0..=1, got {p}"));
            }
        }
        Ok(())
    }
}

/// Simulator settings (`perpbot sim --config`, or `[venue.sim]` later).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// The `x-api-key` the REST API requires.
    pub api_key: String,
    /// Chain id the node reports and transactions must carry (4 = a local network).
    pub chain_id: u8,
    /// Address the simulated Kana package is published at.
    pub package: String,
    /// Time between a transaction's submission and its commit (one "block").
    pub block_latency_ms: u64,
    /// Collateral (quote units) credited to a wallet's profile the first time it is seen, so a
    /// fresh key can trade at once.
    pub auto_fund: Decimal,
    /// Markets (default: testnet's APT, BTC, ETH, SOL).
    pub markets: Vec<MarketSpec>,
    /// The synthetic market.
    pub synthetic: SyntheticConfig,
    /// Fault injection.
    pub faults: FaultConfig,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            api_key: "sim".to_string(),
            chain_id: 4,
            package: SIM_PACKAGE.to_string(),
            block_latency_ms: 250,
            auto_fund: Decimal::from(10_000),
            markets: testnet_markets(),
            synthetic: SyntheticConfig::default(),
            faults: FaultConfig::default(),
        }
    }
}

impl SimConfig {
    /// Check the settings; messages name the key.
    pub fn validate(&self) -> Result<(), String> {
        AccountAddress::from_hex(&self.package).map_err(|e| format!("sim.package: {e}"))?;
        if self.markets.is_empty() {
            return Err("sim.markets: at least one market".into());
        }
        for (i, m) in self.markets.iter().enumerate() {
            m.validate().map_err(|e| format!("sim.markets[{i}]: {e}"))?;
        }
        self.synthetic.validate("sim.synthetic")?;
        self.faults.validate("sim.faults")
    }
}

/// What changed, for the indexer to push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// A market's book changed.
    Book(MarketId),
    /// Public trades happened in a market (indices into the exchange's market trade history are
    /// not stable; the indexer reads the newest records).
    Trades(MarketId),
    /// An account's (profile's) orders, positions, fills or balance changed.
    Account(AccountAddress),
    /// A market's funding rate changed.
    Funding(MarketId),
}

/// A transaction as the node knows it.
#[derive(Debug, Clone, PartialEq)]
pub enum TxnState {
    /// Accepted into the "mempool", to commit at `due` (µs of the ledger clock).
    Pending {
        /// Commit time (µs).
        due_usecs: u64,
    },
    /// Committed (successfully or with an abort).
    Committed {
        /// Ledger version.
        version: u64,
        /// Whether it executed successfully.
        success: bool,
        /// The node's `vm_status` text.
        vm_status: String,
        /// Events as the node serves them.
        events: Vec<serde_json::Value>,
    },
    /// Will never commit (expired, or lost by fault injection).
    Dropped,
}

/// Everything the simulator knows; guarded by one mutex (no await while it is held).
pub struct SimCore {
    /// Settings.
    pub config: SimConfig,
    /// Package address.
    pub package: AccountAddress,
    /// The exchange (books, ledger, history).
    pub exchange: Exchange,
    /// The synthetic traders.
    pub market: SyntheticMarket,
    /// On-chain sequence number per sender.
    pub sequence: BTreeMap<AccountAddress, u64>,
    /// Known transactions by hash (`0x…`).
    pub txns: HashMap<String, TxnState>,
    /// Submitted transactions waiting for their block, in submission order: (hash, sender,
    /// sequence number, the decoded call, expiration secs).
    pub mempool: Vec<(
        String,
        AccountAddress,
        u64,
        crate::aptos::EntryFunction,
        u64,
    )>,
    /// Sender and sequence number of every accepted transaction, by hash (a committed
    /// transaction's JSON carries them).
    pub txn_meta: HashMap<String, (AccountAddress, u64)>,
    /// Ledger version of the last commit.
    pub version: u64,
    /// Wallets already credited with `auto_fund`.
    pub funded: BTreeSet<AccountAddress>,
    /// Fault stream.
    pub faults: rand_chacha::ChaCha8Rng,
}

/// The state every handler and the driver share.
pub struct Shared {
    core: Mutex<SimCore>,
    /// Changes for the indexer (bounded; slow subscribers lag and resynchronise from snapshots).
    pub updates: broadcast::Sender<Update>,
    /// The clock (tokio-driven, so tests can pause time).
    pub clock: Clock,
}

impl Shared {
    /// Lock the core. A poisoned lock (a handler panicked) is recovered: the core has no
    /// invariants a half-finished handler can break, because every mutation is one exchange call.
    pub fn core(&self) -> MutexGuard<'_, SimCore> {
        self.core
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Publish changes (nobody listening is fine).
    pub fn publish(&self, update: Update) {
        let _ = self.updates.send(update);
    }
}

/// Build the shared state: the exchange with every market, the synthetic traders funded.
pub fn build(config: SimConfig, clock: Clock) -> Result<Arc<Shared>, String> {
    use rand::SeedableRng;
    config.validate()?;
    let package =
        AccountAddress::from_hex(&config.package).map_err(|e| format!("sim.package: {e}"))?;
    let mut exchange = Exchange::new(ExchangeConfig {
        package,
        ..ExchangeConfig::default()
    });
    for spec in &config.markets {
        exchange.add_market(spec.clone());
    }
    let market = SyntheticMarket::new(config.synthetic.clone(), &config.markets)?;
    driver::fund_synthetic(&mut exchange, &market);
    let (updates, _) = broadcast::channel(4096);
    let faults = rand_chacha::ChaCha8Rng::seed_from_u64(config.faults.seed);
    let core = SimCore {
        package,
        exchange,
        market,
        sequence: BTreeMap::new(),
        txns: HashMap::new(),
        mempool: Vec::new(),
        txn_meta: HashMap::new(),
        version: 0,
        funded: BTreeSet::new(),
        faults,
        config,
    };
    Ok(Arc::new(Shared {
        core: Mutex::new(core),
        updates,
        clock,
    }))
}

/// A running simulator.
pub struct SimHandle {
    /// Kana REST base URL.
    pub rest_url: String,
    /// Kana WebSocket URL.
    pub ws_url: String,
    /// Aptos node base URL (ending in `/v1`).
    pub node_url: String,
    /// The shared state (tests inspect it).
    pub shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
    driver: tokio::task::JoinHandle<()>,
}

impl SimHandle {
    /// Stop serving.
    pub fn stop(self) {
        self.server.abort();
        self.driver.abort();
    }
}

/// Start the simulator on `bind` (`127.0.0.1:0` for an ephemeral port).
pub async fn start(config: SimConfig, bind: SocketAddr, clock: Clock) -> Result<SimHandle, String> {
    let shared = build(config, clock)?;
    let app = axum::Router::new()
        .merge(node::routes())
        .merge(rest::routes())
        .merge(indexer::routes())
        .with_state(Arc::clone(&shared));
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| format!("bind {bind}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "simulator server stopped");
        }
    });
    let driver = tokio::spawn(driver::run(Arc::clone(&shared)));
    Ok(SimHandle {
        rest_url: format!("http://{addr}"),
        ws_url: format!("ws://{addr}/ws/"),
        node_url: format!("http://{addr}/v1"),
        shared,
        server,
        driver,
    })
}
