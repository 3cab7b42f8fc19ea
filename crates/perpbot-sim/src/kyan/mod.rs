//! A Kyan exchange simulator on loopback: what perpbot's Kyan client (and Kyan's own TypeScript
//! client, URLs changed) trades against. It speaks the wire contract of
//! `docs/design/kyan-wire.md` (\[D\] shapes; \[D\] and \[S\] requests accepted).
//!
//! | module | job |
//! |---|---|
//! | [`config`] | [`KyanSimConfig`], [`KyanFaults`], validation naming the key |
//! | [`core`] | the exchange state: books, client orders, makers, margin accounts, events |
//! | [`trading`] | limit / market / edit / cancel |
//! | [`ledger`] | fills → positions, fees, margin (IM/MM/equity) |
//! | [`risk`] | MMP, heartbeat, funding, liquidation |
//! | [`synthetic`] | the synthetic traders' book access and their `orderbook_perps` events |
//! | [`truth`] | [`KyanTruth`]: the simulator's own view of a maker |
//! | [`wire`] | JSON shapes and exact number encoding |
//! | [`auth`], [`parse`] | key, sessions, EIP-712 signatures, deadlines; body reading |
//! | [`rest_orders`], [`rest_account`], [`rest_history`], [`rest_key`] | the REST routes |
//! | [`ws`] | private WebSocket `/ws` (channels, session recovery, session cap) |
//! | [`stream`] | public Centrifugo stream `/stream/websocket` |
//! | [`faults`] | fault injection and `/admin/faults` |
//!
//! Signatures are verified with `perpbot-kyan`'s typed messages and `recover` (pinned there by
//! the reference's computed vectors), so a client bug in them cannot hide behind the simulator
//! agreeing with itself. The driver task steps the synthetic traders (the Kana simulator's
//! [`SyntheticMarket`], seeded), runs heartbeats, liquidation and funding, and publishes the
//! public stream, all on the [`Clock`] it is given (tokio time: tests can pause it).
//!
//! ## Decisions beyond `kyan-wire.md` (each also noted where it is implemented)
//!
//! * Maker `Address` → book `AccountAddress`: 12 zero bytes then the 20 address bytes
//!   ([`core::account_of`]); smart account = EOA.
//! * Ids: the book's order id XOR `(instrument index + 1) << 120`, 32 hex digits; taker orders
//!   get one too (their `trade_id`). Margin-account UUIDs, `message_id`s, recovery tokens and
//!   session hashes come from an RNG seeded with the synthetic seed.
//! * Self-trade: a taker that would meet its own resting order is rejected `SELF_TRADE`.
//! * Market orders: IOC by default (`market_fok = true` for FOK → `INSUFFICIENT_LIQUIDITY`); a
//!   market `amount` converts at `limit_price`. A fill shortfall is `order_state: "cancelled"`.
//! * `amount` (USD) sizes: `amount / price` must land exactly on the contracts grid.
//! * Business refusals (`POST_ONLY_WOULD_CROSS`, `INSUFFICIENT_MARGIN`, `MMP_FROZEN`,
//!   `SELF_TRADE`) go to `rejected`; malformed, off-grid, unsigned or stale requests are 400s and
//!   record nothing. One-click also accepted on `DELETE /orders`, `/orders_all`, `/market`,
//!   `/heartbeat`; per-order signature fields under one-click are ignored.
//! * Session signatures may be up to 3600 s ahead and do not advance the deadline counter;
//!   `bind_to_ip` is accepted, not enforced; sessions last 24 h.
//! * Margin: mark = index; IM counts open orders at their limit price; only the part of a new
//!   order that grows the absolute position is checked, so closing is never refused;
//!   liquidation closes at the book then the mark; bankruptcy resets collateral to zero.
//! * Fees, funding and realised PnL are USDC amounts rounded to 6 decimals (half away from
//!   zero); average prices to 12 decimals.
//! * Funding: the configured interval is "the hour"; premium sampled every driver step;
//!   `funding_rate` / `rate_hourly` is the hourly rate; synthetic traders pay no funding.
//! * MMP triggers when |net delta| ≥ `delta_limit`; `frozen_time: 0` freezes until reconfigured.
//! * Private WS: faults act on events only; `orderbook_perps` carries every order (synthetic
//!   makers as the last 20 bytes of their account), with no snapshot; `resend` is not served (an error); a capped session is not parked for
//!   recovery; a subscriber lagging 8,192 events is dropped.
//! * Public stream: L2 snapshots every `step_ms`, BBO and index on change.
//! * `GET /account_state/…` and `/positions/…` of an unseen address create and auto-fund it.

pub mod auth;
pub mod config;
pub mod core;
pub mod faults;
pub mod ledger;
pub mod parse;
pub mod rest_account;
pub mod rest_history;
pub mod rest_key;
pub mod rest_orders;
pub mod risk;
pub mod stream;
pub mod synthetic;
pub mod trading;
pub mod truth;
pub mod wire;
pub mod ws;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_core;
#[cfg(test)]
mod tests_extra;
#[cfg(test)]
mod tests_rest;
#[cfg(test)]
mod tests_ws;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use alloy_primitives::Address;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use perpbot_model::Timestamp;
use perpbot_model::clock::Clock;
use serde_json::{Value, json};
use tokio::sync::broadcast;

pub use auth::MAX_DEADLINE_AHEAD_SECS;
pub use config::{InstrumentConfig, KyanFaultTally, KyanFaults, KyanSimConfig};
pub use truth::KyanTruth;

use self::core::{Core, Event};
use crate::market::SyntheticMarket;
use faults::FaultState;
use parse::{Refusal, refuse};

/// One publication of the public stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Publication {
    /// Channel.
    pub channel: String,
    /// Offset within the channel, from 1.
    pub offset: u64,
    /// Payload.
    pub data: Value,
}

/// The state every handler, connection and the driver share.
pub struct Shared {
    core: Mutex<Core>,
    /// The clock.
    pub clock: Clock,
    /// The API key.
    pub api_key: String,
    /// Private-WebSocket session cap, seconds.
    pub session_cap_secs: u64,
    /// Centrifugo ping period, seconds.
    pub ping_secs: u64,
    chain: (u64, Address),
    /// Private events.
    pub events: broadcast::Sender<Arc<Event>>,
    /// Public-stream publications.
    pub public: broadcast::Sender<Arc<Publication>>,
    /// The last publication per public channel (Centrifugo `recover`).
    pub stream_cache: Mutex<HashMap<String, Arc<Publication>>>,
    /// Faults.
    pub faults: Mutex<FaultState>,
    /// Parked sessions awaiting recovery, by token.
    pub recoveries: Mutex<HashMap<String, ws::Parked>>,
    /// Bumped when faults change (ends a stall).
    pub faults_changed: tokio::sync::watch::Sender<u64>,
    /// Set by [`KyanSimHandle::stop`]: open WebSockets close.
    pub shutdown: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    /// The core, its `now` set from the clock; a poisoned lock is a 500.
    pub fn lock(&self) -> Result<MutexGuard<'_, Core>, Refusal> {
        let mut g = self.core.lock().map_err(|_| {
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "state lock poisoned",
            )
        })?;
        g.now = self.clock.now();
        Ok(g)
    }

    /// Chain id and verifying contract of the signing domain.
    pub fn chain(&self) -> (u64, Address) {
        self.chain
    }

    /// Send the core's pending events and publications.
    pub fn publish(&self, core: &mut Core) {
        for e in core.events.drain(..) {
            let _ = self.events.send(Arc::new(e));
        }
        if core.public.is_empty() {
            return;
        }
        let Ok(mut cache) = self.stream_cache.lock() else {
            core.public.clear();
            return;
        };
        for (channel, data) in core.public.drain(..) {
            let offset = cache.get(&channel).map_or(1, |p| p.offset + 1);
            let p = Arc::new(Publication {
                channel: channel.clone(),
                offset,
                data,
            });
            cache.insert(channel, Arc::clone(&p));
            let _ = self.public.send(p);
        }
    }

    /// The simulator's own state for `maker` (empty for a maker it has not seen).
    pub fn truth(&self, maker: Address) -> KyanTruth {
        self.core.lock().map(|c| c.truth(maker)).unwrap_or_default()
    }

    /// The faults in force.
    pub fn faults(&self) -> KyanFaults {
        self.faults
            .lock()
            .map(|f| f.cfg.clone())
            .unwrap_or_default()
    }

    /// The tally.
    pub fn injected(&self) -> KyanFaultTally {
        self.faults
            .lock()
            .map(|f| f.tally.clone())
            .unwrap_or_default()
    }

    /// Validate and apply new faults.
    pub fn set_faults(&self, cfg: KyanFaults) -> Result<(), String> {
        cfg.validate("faults")?;
        self.faults
            .lock()
            .map_err(|_| "faults lock poisoned".to_string())?
            .set(cfg);
        self.faults_changed.send_modify(|n| *n += 1);
        Ok(())
    }

    /// One fault draw, counted in the tally by `count` when it fires.
    pub fn draw(
        &self,
        p: impl Fn(&KyanFaults) -> f64,
        count: impl Fn(&mut KyanFaultTally),
    ) -> bool {
        let Ok(mut f) = self.faults.lock() else {
            return false;
        };
        let p = p(&f.cfg);
        let hit = f.draw(p);
        if hit {
            count(&mut f.tally);
        }
        hit
    }
}

/// A running Kyan simulator.
pub struct KyanSimHandle {
    /// REST base URL (`http://127.0.0.1:port`).
    pub rest_url: String,
    /// Private WebSocket URL (`ws://…/ws`).
    pub ws_url: String,
    /// Public stream URL (`ws://…/stream/websocket`).
    pub stream_url: String,
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl KyanSimHandle {
    /// The API key it accepts.
    pub fn api_key(&self) -> String {
        self.shared.api_key.clone()
    }

    /// Replace the faults in force (validated).
    pub fn set_faults(&self, faults: KyanFaults) -> Result<(), String> {
        self.shared.set_faults(faults)
    }

    /// The faults in force.
    pub fn faults(&self) -> KyanFaults {
        self.shared.faults()
    }

    /// Faults injected so far.
    pub fn injected(&self) -> KyanFaultTally {
        self.shared.injected()
    }

    /// The simulator's own state for `maker`.
    pub fn truth(&self, maker: Address) -> KyanTruth {
        self.shared.truth(maker)
    }

    /// The shared state, for observers that outlive a borrow of the handle (a soak's sampler).
    pub fn shared(&self) -> Arc<Shared> {
        Arc::clone(&self.shared)
    }

    /// Open client orders across every maker.
    pub fn open_order_count(&self) -> usize {
        self.shared.core.lock().map(|c| c.orders.len()).unwrap_or(0)
    }

    /// Stop serving: the server, the driver, and every open WebSocket.
    pub fn stop(self) {
        self.shared.shutdown.send_replace(true);
        for t in self.tasks {
            t.abort();
        }
    }
}

/// Start the simulator on `bind` (`127.0.0.1:0` for any free port).
pub async fn start(
    config: KyanSimConfig,
    bind: SocketAddr,
    clock: Clock,
) -> Result<KyanSimHandle, String> {
    config.validate()?;
    let synthetic = match config.synthetic_config() {
        Some(s) => {
            let specs = config
                .instruments
                .iter()
                .map(|i| i.spec())
                .collect::<Result<Vec<_>, _>>()?;
            Some(SyntheticMarket::new(s, &specs)?)
        }
        None => None,
    };
    let seed = config.synthetic.as_ref().map_or(1, |s| s.seed);
    let mut core = Core::new(config.clone(), seed)?;
    core.now = clock.now();
    let (events, _) = broadcast::channel(8_192);
    let (public, _) = broadcast::channel(8_192);
    let shared = Arc::new(Shared {
        core: Mutex::new(core),
        clock,
        api_key: config.api_key.clone(),
        session_cap_secs: config.session_cap_secs,
        ping_secs: config.ping_secs,
        chain: (config.chain_id, config.verifying_contract),
        events,
        public,
        stream_cache: Mutex::new(HashMap::new()),
        faults: Mutex::new(FaultState::new(config.faults.clone())),
        recoveries: Mutex::new(HashMap::new()),
        faults_changed: tokio::sync::watch::channel(0).0,
        shutdown: tokio::sync::watch::channel(false).0,
    });
    let mmp = || get(rest_account::get_mmp).post(rest_account::post_mmp);
    let app = Router::new()
        .route(
            "/limit",
            post(rest_orders::post_limit).patch(rest_orders::patch_limit),
        )
        .route("/market", post(rest_orders::post_market))
        .route(
            "/orders",
            get(rest_orders::get_orders).delete(rest_orders::delete_orders),
        )
        .route(
            "/orders_all",
            axum::routing::delete(rest_orders::delete_orders_all),
        )
        .route("/heartbeat", post(rest_account::post_heartbeat))
        .route(
            "/session",
            post(rest_account::post_session).delete(rest_account::delete_session),
        )
        .route(
            "/account_state/{address}",
            get(rest_account::get_account_state),
        )
        // [S]'s kebab-case spellings, for Kyan's own TypeScript client.
        .route(
            "/account-state/{address}",
            get(rest_account::get_account_state),
        )
        .route("/index-price", get(rest_account::get_index_price))
        .route("/exchange-info", get(rest_account::exchange_info))
        .route("/positions/{address}", get(rest_account::get_positions))
        // [S]: the account as a query parameter, or none (the API key is the identity).
        .route("/account_state", get(rest_key::get_account_state))
        .route("/account-state", get(rest_key::get_account_state))
        .route("/positions", get(rest_key::get_positions))
        .route(
            "/v2/account_history",
            get(rest_history::get_account_history),
        )
        .route(
            "/v2/account-history",
            get(rest_history::get_account_history),
        )
        .route("/api/v1/exchange_info", get(rest_account::exchange_info))
        .route("/instruments", get(rest_account::get_instruments))
        .route("/index_price", get(rest_account::get_index_price))
        .route("/order_book", get(rest_account::get_order_book))
        .route("/mmp_config", mmp())
        .route("/mmp/config", mmp())
        .route("/mmp-config", mmp())
        .route("/ws", get(ws::upgrade))
        .route("/stream/websocket", get(stream::upgrade))
        .merge(faults::routes())
        // An unknown path answers in Kyan's error body (clients parse every answer as JSON).
        .fallback(
            |method: axum::http::Method, uri: axum::http::Uri| async move {
                parse::refuse(
                    StatusCode::NOT_FOUND,
                    "NOT_FOUND",
                    format!("no route {method} {}", uri.path()),
                )
            },
        )
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shared),
            faults::rest_faults,
        ))
        .with_state(Arc::clone(&shared));
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| format!("bind {bind}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let driver = tokio::spawn(drive(
        Arc::clone(&shared),
        synthetic,
        config.step_ms,
        config.funding.interval_secs,
    ));
    Ok(KyanSimHandle {
        rest_url: format!("http://{addr}"),
        ws_url: format!("ws://{addr}/ws"),
        stream_url: format!("ws://{addr}/stream/websocket"),
        shared,
        tasks: vec![server, driver],
    })
}

/// The driver: every `step_ms`, step the synthetic traders, take the index from their fair
/// mids, run heartbeats, liquidation and funding, and publish the public stream.
async fn drive(
    shared: Arc<Shared>,
    mut synthetic: Option<SyntheticMarket>,
    step_ms: u64,
    funding_secs: u64,
) {
    let start = shared.clock.now();
    let interval = Duration::from_secs(funding_secs);
    let mut next_funding = start.plus(interval);
    let mut last_bbo: HashMap<usize, Value> = HashMap::new();
    let mut last_index: HashMap<String, String> = HashMap::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(step_ms));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Ok(mut core) = shared.lock() else {
            return;
        };
        let now = core.now;
        if let Some(market) = synthetic.as_mut() {
            let report = market.step(now, &mut synthetic::SyntheticAccess(&mut core));
            for (id, _) in report.fair_mids {
                if let (Some(mid), Some(i)) = (
                    market.fair_mid_price(id),
                    core.instruments.iter_mut().find(|i| i.spec.id == id),
                ) {
                    i.index = mid;
                }
            }
        }
        let settle = now >= next_funding;
        if settle {
            next_funding = next_funding
                .plus(interval)
                .max(now.plus(Duration::from_millis(1)));
        }
        core.tick(now, settle);
        publish_market(&mut core, now, &mut last_bbo, &mut last_index);
        shared.publish(&mut core);
    }
}

/// The public stream's periodic channels: full L2 snapshots, BBO on change, index on change;
/// and the private `index_price` event.
fn publish_market(
    core: &mut Core,
    now: Timestamp,
    last_bbo: &mut HashMap<usize, Value>,
    last_index: &mut HashMap<String, String>,
) {
    let ms = now.as_millis();
    for inst in 0..core.instruments.len() {
        let name = core.instruments[inst].cfg.name.clone();
        let (bids, asks) = core.l2_levels(inst, 20);
        let top = |v: &[Value], k: usize| {
            v.first()
                .and_then(|l| l.get(k))
                .cloned()
                .unwrap_or(json!(""))
        };
        let bbo = json!([top(&bids, 0), top(&bids, 1), top(&asks, 0), top(&asks, 1)]);
        core.public.push((
            format!("l2:perps:{name}"),
            json!({"timestamp": ms, "bids": bids, "asks": asks}),
        ));
        if last_bbo.get(&inst) != Some(&bbo) {
            last_bbo.insert(inst, bbo.clone());
            let mut msg = vec![json!(ms)];
            if let Value::Array(a) = bbo {
                msg.extend(a);
            }
            core.public
                .push((format!("l2:bbo:{name}"), Value::Array(msg)));
        }
        let pair = core.instruments[inst].cfg.pair().to_string();
        let value = core.instruments[inst].index.normalize().to_string();
        if last_index.get(&pair) != Some(&value) {
            last_index.insert(pair.clone(), value.clone());
            core.public.push((
                format!("market:index_price:{pair}"),
                json!({"pair": pair, "value": value, "timestamp_ms": ms}),
            ));
            let v = wire::num(core.instruments[inst].index);
            core.emit(
                "index_price",
                "index_price",
                json!({"value": v, "timestamp": ms}),
                vec![("pair", pair)],
            );
        }
    }
}
