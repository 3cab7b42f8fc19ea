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
//! Halves: [`node`] + [`rest`] + [`driver`] (the chain and the API), [`indexer`] (the WebSocket),
//! and [`admin`] (fault switches at run time). Settings: [`config`].
//!
//! ## Routes
//!
//! | path | what |
//! |---|---|
//! | `/get…`, `/place…`, `/cancel…`, … | Kana's REST API ([`rest`]), `x-api-key` |
//! | `/ws/`, `/ws` | Kana's WebSocket indexer ([`indexer`]) |
//! | `/v1/…` | the Aptos fullnode endpoints a client uses ([`node`]) |
//! | `GET`/`POST /admin/faults` | read / change [`FaultConfig`] while running ([`admin`]), `x-api-key` |
//! | `GET /admin/faults/injected` | how many faults of each kind were injected ([`FaultTally`]) |

pub mod admin;
pub mod config;
pub mod driver;
pub mod faucet;
pub mod indexer;
pub mod node;
pub mod rest;
pub mod synthetic;
pub mod wire_shape;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use tokio::sync::{broadcast, watch};

use crate::exchange::Exchange;
use crate::market::SyntheticMarket;
use perpbot_aptos::{AccountAddress, EntryFunction};
use perpbot_model::MarketId;
use perpbot_model::clock::Clock;

pub use config::{ExchangeRules, FaultConfig, GasModel, OCTAS_PER_APT, SIM_PACKAGE, SimConfig};

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
        /// Gas units charged ([`GasModel`]).
        gas_used: u64,
        /// Commit time (µs of the ledger clock).
        timestamp_usecs: u64,
        /// Events as the node serves them.
        events: Vec<serde_json::Value>,
    },
    /// Will never commit (expired, or lost by fault injection).
    Dropped,
}

/// What the node keeps of an accepted transaction (its JSON carries these fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnMeta {
    /// Sender wallet.
    pub sender: AccountAddress,
    /// Sequence number.
    pub sequence_number: u64,
    /// Gas limit in units.
    pub max_gas_amount: u64,
    /// Octas per gas unit.
    pub gas_unit_price: u64,
    /// Expiration (Unix seconds).
    pub expiration_secs: u64,
}

/// A submitted transaction waiting for its block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MempoolEntry {
    /// Transaction hash (`0x…`).
    pub hash: String,
    /// Sender, sequence number, gas and expiration.
    pub meta: TxnMeta,
    /// The decoded entry-function call.
    pub call: EntryFunction,
}

/// How many faults of each kind were injected since start (`GET /admin/faults/injected`), so a
/// chaos run can tell what it exercised.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FaultTally {
    /// WebSocket connections closed instead of a push.
    pub ws_drops: u64,
    /// Rounds of WebSocket pushes held by a stall.
    pub ws_stalls: u64,
    /// Malformed frames sent.
    pub ws_malformed: u64,
    /// REST calls answered 429.
    pub rest_429: u64,
    /// REST calls answered 503.
    pub rest_5xx: u64,
    /// REST calls stalled.
    pub rest_timeouts: u64,
    /// Node calls answered 429.
    pub node_429: u64,
    /// Node calls answered 500.
    pub node_5xx: u64,
    /// Transactions aborted at commit.
    pub tx_aborts: u64,
    /// Transactions let expire.
    pub tx_expired: u64,
    /// Transactions lost after acceptance.
    pub tx_lost: u64,
    /// Sequence numbers reported one behind.
    pub sequence_skews: u64,
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
    /// Submitted transactions waiting for their block, in submission order.
    pub mempool: Vec<MempoolEntry>,
    /// Sender, sequence number and gas of every accepted transaction, by hash (a committed
    /// transaction's JSON carries them).
    pub txn_meta: HashMap<String, TxnMeta>,
    /// The payload and signature JSON and the fee payer of every accepted transaction, by hash
    /// ([`node::TxnExtra`]); the driver charges a sponsored transaction's gas to its fee payer.
    pub txn_extra: HashMap<String, node::TxnExtra>,
    /// APT (gas token) balance of every wallet seen, in octas; an unseen wallet holds
    /// [`GasModel::apt_balance`].
    pub apt: BTreeMap<AccountAddress, u64>,
    /// Ledger version of the last commit.
    pub version: u64,
    /// Wallets already credited with `auto_fund`.
    pub funded: BTreeSet<AccountAddress>,
    /// Fault stream.
    pub faults: rand_chacha::ChaCha8Rng,
    /// Faults injected so far.
    pub injected: FaultTally,
    /// Updates made outside the driver and the node (a REST query auto-funding a wallet),
    /// published by whoever releases the lock next ([`Shared::flush`]).
    pub pending: Vec<Update>,
}

impl SimCore {
    /// A wallet's APT balance in octas.
    pub fn apt_octas(&self, wallet: AccountAddress) -> u64 {
        self.apt
            .get(&wallet)
            .copied()
            .unwrap_or_else(|| self.config.gas.initial_octas().unwrap_or(0))
    }

    /// Charge `octas` of gas to `wallet` (never below zero: the prologue checked the maximum).
    pub fn charge_gas(&mut self, wallet: AccountAddress, octas: u64) {
        let left = self.apt_octas(wallet).saturating_sub(octas);
        self.apt.insert(wallet, left);
    }

    /// Draw one fault with probability `p` from the fault stream (no draw when `p` is 0, so
    /// switching a fault off does not shift the others).
    pub fn draw(&mut self, p: f64) -> bool {
        use rand::Rng;
        p > 0.0 && self.faults.random::<f64>() < p
    }
}

/// The state every handler and the driver share.
pub struct Shared {
    core: Mutex<SimCore>,
    /// Changes for the indexer (bounded; slow subscribers lag and resynchronise from snapshots).
    pub updates: broadcast::Sender<Update>,
    /// The clock (tokio-driven, so tests can pause time).
    pub clock: Clock,
    /// Bumped whenever the faults change at run time (a stall in progress ends on it).
    faults_changed: watch::Sender<u64>,
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

    /// Publish the updates queued in [`SimCore::pending`].
    pub fn flush(&self) {
        let pending = std::mem::take(&mut self.core().pending);
        for u in pending {
            self.publish(u);
        }
    }

    /// The faults in force.
    pub fn faults(&self) -> FaultConfig {
        self.core().config.faults.clone()
    }

    /// Replace the faults while running (validated first; a new seed restarts the fault
    /// stream). Ends any WebSocket stall in progress.
    pub fn set_faults(&self, faults: FaultConfig) -> Result<(), String> {
        use rand::SeedableRng;
        faults.validate("faults")?;
        {
            let mut core = self.core();
            if faults.seed != core.config.faults.seed {
                core.faults = rand_chacha::ChaCha8Rng::seed_from_u64(faults.seed);
            }
            core.config.faults = faults;
        }
        self.faults_changed.send_modify(|g| *g = g.wrapping_add(1));
        Ok(())
    }

    /// A receiver that sees every later [`Shared::set_faults`].
    pub fn watch_faults(&self) -> watch::Receiver<u64> {
        self.faults_changed.subscribe()
    }

    /// Faults injected so far.
    pub fn injected(&self) -> FaultTally {
        self.core().injected
    }
}

/// Build the shared state: the exchange with every market, the synthetic traders funded.
pub fn build(config: SimConfig, clock: Clock) -> Result<Arc<Shared>, String> {
    use rand::SeedableRng;
    config.validate()?;
    let package =
        AccountAddress::from_hex(&config.package).map_err(|e| format!("sim.package: {e}"))?;
    let mut exchange = Exchange::new(config.exchange_config(package));
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
        txn_extra: HashMap::new(),
        apt: BTreeMap::new(),
        version: 0,
        funded: BTreeSet::new(),
        faults,
        injected: FaultTally::default(),
        pending: Vec::new(),
        config,
    };
    let (faults_changed, _) = watch::channel(0);
    Ok(Arc::new(Shared {
        core: Mutex::new(core),
        updates,
        clock,
        faults_changed,
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
    /// Aptos faucet API base URL (`POST {faucet_url}/fund`), as a localnet's.
    pub faucet_url: String,
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
        .merge(admin::routes())
        .merge(faucet::routes())
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
        faucet_url: format!("http://{addr}/faucet"),
        shared,
        server,
        driver,
    })
}
