//! Chaos soak: the strategy of a config (the built-in `market_maker` by default) runs against the
//! in-process simulator through the real Kana client — REST payload, BCS, Ed25519, node submit and
//! confirm, WebSocket indexer — while every fault the simulator can inject is switched on at a
//! seeded rate. At the end the bot's own account of the run is compared with the **simulator's
//! truth** (its exchange state and its transaction log), and a [`SoakReport`] says whether
//! anything was lost, duplicated, left behind or over-sized.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use perpbot::soak::{SoakSettings, run};
//! let config = perpbot::cli::load_config(None)?; // config/sim.toml: market_maker on the simulator
//! let settings = SoakSettings::new(std::time::Duration::from_secs(60), 7, 0.05);
//! let report = run(&config, &perpbot::strategies::builtin_registry(), &settings).await?;
//! print!("{}", report.table());
//! assert!(report.passed());
//! # Ok(()) }
//! ```
//!
//! ## Time
//!
//! The run is **wall-clock** time. Simulated time faster than real time is not possible here:
//! the client and the simulator talk over real loopback sockets (reqwest, tokio-tungstenite,
//! axum), whose timeouts would fire as soon as a paused tokio clock auto-advanced past an I/O
//! wait, and the Aptos submitter stamps each transaction's expiry from the system clock
//! (`src/aptos/submit.rs`), which the simulator checks against its own clock. A one-hour soak
//! takes one hour.
//!
//! ## Phases
//!
//! 1. The simulator starts with faults **off** and the client connects (a connect refused by an
//!    injected 503 would end the run before it starts; the soak is about running, and start-up
//!    refusals are covered by the Kana client's own tests).
//! 2. **Storm**: the faults are switched on (as `POST /admin/faults` would) for
//!    `duration − settle`.
//! 3. **Settle**: the faults are switched off for `settle`; the bot keeps trading and must
//!    converge (stalls end, sockets reconnect, snapshots heal what malformed frames dropped).
//! 4. Graceful shutdown (cancel everything, bounded wait), then a short drain of the stream for
//!    events that arrived after the engine stopped reading, then the comparison.
//!
//! ## What is compared, and how
//!
//! * **Duplicates.** A *client intent* is one order the engine approved and gave a
//!   [`ClientOrderId`] (or one close-position request). Every venue request is seen by a spy
//!   around the writer, with its outcome, its later resolution and its transaction hash where the
//!   client reports one. The simulator's log gives every order the bot's account ever placed
//!   (the `PlaceOrderEvent` / `MarketOrderEvent` of its committed transactions) with the
//!   transaction that placed it. A venue order is attributed to its intent by the venue id the
//!   client reported for it, else by the hash of the request's transaction, else (no id, no
//!   hash) by market, side, direction, price and size among the accepted requests. A
//!   **duplicate** is an intent with more than one venue order, or an intent the bot put into more
//!   than one request (a resubmission, e.g. after an ambiguous outcome). A venue order no request
//!   accounts for is **unexplained**, and a request whose final outcome contradicts what the
//!   chain did with its transaction is **misjudged**.
//! * **Orphans.** Venue orders of the bot still resting after the graceful shutdown, plus
//!   transactions of the bot still pending in the simulator's mempool that would place orders
//!   (they could rest later).
//! * **Positions.** The bot's final [`State`] position per market and side (lots) against the
//!   simulator's.
//! * **Risk limits.** The simulator's positions of the bot are sampled every `sample_every`
//!   during the whole run and checked against `[risk]`: size per side
//!   (`markets.<id>.max_position_size`), entry notional per side (`max_position_notional`), their
//!   sum (`max_total_notional`), leverage (`max_leverage`) and resting orders
//!   (`max_open_orders`).
//! * **Panics.** The engine runs in its own task: a panic there shows as a failed join; a
//!   strategy panic as the run summary's `strategy_failure`.
//! * **Faults and handling.** The simulator's own tally ([`FaultTally`], also served at
//!   `GET /admin/faults/injected`), next to what the bot did: requests accepted, rejected (by
//!   cause), ambiguous and then resolved or not (from the spy), and the stream's reconnects and
//!   resyncs (its `Connection` events). The Kana WebSocket client's own counters (decode errors
//!   of malformed frames, silence timeouts) are not reachable from here: `KanaVenue::connect`
//!   drops them (`src/venue/kana/venue.rs`, `ws::spawn`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::aptos::{AccountAddress, PrivateKey};
use crate::clock::Clock;
use crate::config::{Config, KanaConfig, Network, Secret, SecretSource, VenueKind};
use crate::engine::{Control, Engine, RunSummary};
use crate::model::{
    ClientOrderId, ConnectionState, Direction, Event, Lots, MarketId, OrderKind, OrderRequest,
    PositionSide, Ticks, VenueOrderId,
};
use crate::risk::RiskConfig;
use crate::sim::server::{FaultConfig, FaultTally, Shared, SimHandle, TxnState};
use crate::state::State;
use crate::strategy::{StrategyError, StrategyRegistry};
use crate::venue::kana::venue::{Credentials, KanaVenue};
use crate::venue::{
    RequestOutcome, TxCosts, Venue, VenueCapabilities, VenueError, VenueRequest, VenueSession,
    VenueWriter,
};

/// Why a soak could not run (an invariant that fails is not an error: it is in the report).
#[derive(Debug, thiserror::Error)]
pub enum SoakError {
    /// The config cannot be soaked as it is.
    #[error("soak: {0}")]
    Config(String),
    /// The simulator did not start.
    #[error("soak: the simulator did not start: {0}")]
    Sim(String),
    /// The Kana client could not connect to the simulator.
    #[error("soak: connecting the Kana client to the simulator: {0}")]
    Connect(#[from] VenueError),
    /// The strategy could not be built.
    #[error("soak: {0}")]
    Strategy(#[from] StrategyError),
}

/// How long, how stormy, how seeded.
#[derive(Debug, Clone, PartialEq)]
pub struct SoakSettings {
    /// Whole run, wall clock: storm plus settle (the graceful shutdown comes after).
    pub duration: Duration,
    /// The last part of `duration`, with faults off.
    pub settle: Duration,
    /// Seeds the fault stream, the synthetic market and the bot's generated key.
    pub seed: u64,
    /// The faults in force during the storm (`seed` is replaced by [`SoakSettings::seed`]).
    pub faults: FaultConfig,
    /// How often the simulator's positions are sampled for the risk check.
    pub sample_every: Duration,
    /// How long the stream is drained after the engine stopped (events it had not read yet).
    pub drain: Duration,
    /// The Kana client's timings against the simulator.
    pub client: ClientTimings,
    /// From this fraction of the storm on, the fault kinds that are switched on but have not
    /// been injected yet are forced (probability 1), one at a time, until each fires once, then
    /// set back, so every kind is met even in a short run; `None` leaves everything to the dice.
    pub force_missing_from: Option<f64>,
}

/// The Kana client's timings for the soak (`[venue.kana]` keys of the same names). The defaults
/// are those of `kind = "sim"` in `perpbot run`; a short soak shortens them so that a lost or
/// expired transaction is proven dead (and its orders released) within the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClientTimings {
    /// A transaction expires this many seconds after it is signed.
    pub expiration_secs: u64,
    /// Longest wait for a commit before the outcome is reported ambiguous (ms).
    pub confirm_timeout_ms: u64,
    /// Timeout of one REST or node request (ms).
    pub request_timeout_ms: u64,
}

impl Default for ClientTimings {
    /// 10 s expiry (40 blocks of the simulator's default 250 ms), 3 s confirm and request
    /// timeouts: long enough for a calm local chain, short enough that a lost transaction is
    /// proven dead — and the orders in it released — within half a minute.
    fn default() -> ClientTimings {
        ClientTimings {
            expiration_secs: 10,
            confirm_timeout_ms: 3_000,
            request_timeout_ms: 3_000,
        }
    }
}

/// The fault rate used when none is given.
pub const DEFAULT_FAULT_RATE: f64 = 0.05;

impl SoakSettings {
    /// `duration` of soak at `fault_rate` ([`fault_profile`]), seeded, with the default settle
    /// (30 s, at most a third of the run: a lost transaction takes the client's expiry plus the
    /// executor's query back-off to be proven dead), 250 ms sampling, a 2 s drain, the default
    /// [`ClientTimings`] and missing kinds forced from half-time.
    pub fn new(duration: Duration, seed: u64, fault_rate: f64) -> SoakSettings {
        SoakSettings {
            duration,
            // A third of the run, at most 30 s, and always past the client's transaction expiry.
            settle: Duration::from_secs(30)
                .min(duration / 3)
                .max(Duration::from_secs(
                    ClientTimings::default().expiration_secs + 5,
                )),
            seed,
            faults: fault_profile(fault_rate, seed),
            sample_every: Duration::from_millis(250),
            drain: Duration::from_secs(2),
            client: ClientTimings::default(),
            force_missing_from: Some(0.5),
        }
    }

    /// Check the settings; the message names the setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.duration.is_zero() {
            return Err("duration must be positive".into());
        }
        if self.settle > self.duration {
            return Err(format!(
                "settle ({} s) must not be longer than duration ({} s)",
                self.settle.as_secs_f64(),
                self.duration.as_secs_f64()
            ));
        }
        if self.sample_every.is_zero() {
            return Err("sample_every must be positive".into());
        }
        if self
            .force_missing_from
            .is_some_and(|f| !(0.0..=1.0).contains(&f))
        {
            return Err("force_missing_from must be a fraction within 0..=1".into());
        }
        let c = &self.client;
        if c.expiration_secs == 0 || c.confirm_timeout_ms == 0 || c.request_timeout_ms == 0 {
            return Err("client timings must be positive".into());
        }
        if self.settle <= Duration::from_secs(c.expiration_secs) {
            return Err(format!(
                "settle ({} s) must be longer than the transaction expiry ({} s): a transaction \
                 lost at the storm's end holds the orders behind it until it expires, and the bot \
                 then needs time to quote again, so a shorter settle reports a false FAIL; run \
                 the soak for longer (the settle is a third of it, at most 30 s)",
                self.settle.as_secs_f64(),
                c.expiration_secs
            ));
        }
        self.faults.validate("faults")
    }
}

/// Every fault kind at a rate derived from one number, `rate`: the probability of a fault per
/// transaction, scaled for faults drawn on more frequent events so that each kind is met at a
/// similar pace without drowning the bot (a WebSocket fault is drawn per pushed frame, several
/// per second; an account read happens only when the client resynchronises its sequence numbers).
///
/// | kind | probability |
/// |---|---|
/// | `tx_abort`, `tx_expire`, `tx_lose` | `rate`, `rate / 2`, `rate / 2` per transaction |
/// | `node_429`, `node_5xx` | `rate / 2` each per submit or lookup |
/// | `rest_429`, `rest_5xx` | `rate / 2` each per REST call |
/// | `rest_timeout` | `rate / 5` per REST call (each one costs a client timeout) |
/// | `ws_drop`, `ws_stall` | `rate / 10` each per push round (a stall holds 2 s) |
/// | `ws_malformed` | `rate / 5` per frame |
/// | `sequence_skew` | `10 × rate` per account read |
///
/// Every probability is capped at 1. `rate = 0` switches everything off.
pub fn fault_profile(rate: f64, seed: u64) -> FaultConfig {
    let r = if rate.is_finite() { rate.max(0.0) } else { 0.0 };
    let p = |x: f64| x.min(1.0);
    FaultConfig {
        seed,
        ws_drop_probability: p(r / 10.0),
        ws_delay_ms: 0,
        ws_stall_probability: p(r / 10.0),
        ws_stall_ms: 2_000,
        ws_malformed_probability: p(r / 5.0),
        rest_429_probability: p(r / 2.0),
        retry_after_secs: 1,
        rest_5xx_probability: p(r / 2.0),
        rest_timeout_probability: p(r / 5.0),
        node_429_probability: p(r / 2.0),
        node_5xx_probability: p(r / 2.0),
        tx_abort_probability: p(r),
        tx_abort_code: crate::aptos::KanaAbort::Paused.code(),
        tx_expire_probability: p(r / 2.0),
        tx_lose_probability: p(r / 2.0),
        sequence_skew_probability: p(r * 10.0),
    }
}

/// A fault kind: its name in [`FaultTally`], its probability in [`FaultConfig`], its count.
type Kind = (
    &'static str,
    fn(&mut FaultConfig) -> &mut f64,
    fn(&FaultTally) -> u64,
);

/// Every fault kind the simulator counts.
fn kinds() -> [Kind; 12] {
    [
        ("ws_drops", |f| &mut f.ws_drop_probability, |t| t.ws_drops),
        (
            "ws_stalls",
            |f| &mut f.ws_stall_probability,
            |t| t.ws_stalls,
        ),
        (
            "ws_malformed",
            |f| &mut f.ws_malformed_probability,
            |t| t.ws_malformed,
        ),
        ("rest_429", |f| &mut f.rest_429_probability, |t| t.rest_429),
        ("rest_5xx", |f| &mut f.rest_5xx_probability, |t| t.rest_5xx),
        (
            "rest_timeouts",
            |f| &mut f.rest_timeout_probability,
            |t| t.rest_timeouts,
        ),
        ("node_429", |f| &mut f.node_429_probability, |t| t.node_429),
        ("node_5xx", |f| &mut f.node_5xx_probability, |t| t.node_5xx),
        (
            "tx_aborts",
            |f| &mut f.tx_abort_probability,
            |t| t.tx_aborts,
        ),
        (
            "tx_expired",
            |f| &mut f.tx_expire_probability,
            |t| t.tx_expired,
        ),
        ("tx_lost", |f| &mut f.tx_lose_probability, |t| t.tx_lost),
        (
            "sequence_skews",
            |f| &mut f.sequence_skew_probability,
            |t| t.sequence_skews,
        ),
    ]
}

/// The probability of `kind` in `faults`.
fn probability(kind: &Kind, faults: &FaultConfig) -> f64 {
    *(kind.1)(&mut faults.clone())
}

/// The order in which missing kinds are forced: transaction and node faults first, while the
/// bot is busy sending, then REST, then the WebSocket (a reconnect pulls quotes, which makes
/// everything after it slower to reach).
const FORCE_ORDER: [&str; 12] = [
    "tx_aborts",
    "tx_expired",
    "tx_lost",
    "node_429",
    "node_5xx",
    "sequence_skews",
    "rest_429",
    "rest_5xx",
    "rest_timeouts",
    "ws_malformed",
    "ws_stalls",
    "ws_drops",
];

/// Force the kinds still missing in the tally, one at a time in [`FORCE_ORDER`]: probability 1
/// until it fires once (or its share of the time left runs out), then back to `storm`; kinds
/// still missing after that pass get a second one before `until`, and up to two more before
/// `overtime` (the storm then lasts longer than planned; the settle follows it). Returns the
/// kinds that were forced.
async fn force_missing(
    shared: &Shared,
    storm: &FaultConfig,
    until: tokio::time::Instant,
    overtime: tokio::time::Instant,
) -> Vec<&'static str> {
    let all = kinds();
    let mut forced = Vec::new();
    let queue: Vec<&Kind> = FORCE_ORDER
        .iter()
        .filter_map(|name| all.iter().find(|k| k.0 == *name))
        .filter(|k| probability(k, storm) > 0.0)
        .collect();
    // A kind can miss its share of the time through no fault of its own (a transaction fault
    // while the bot is waiting on an earlier one sends nothing), so the kinds still missing after
    // one pass get another, in the same order, while time is left.
    // If some are still missing when the storm's time is up (a bot kept waiting on transaction
    // faults sends little), the storm runs on for them, up to `overtime`, rather than leave a
    // kind untested.
    let mut queue = queue;
    for pass in 0..4 {
        if pass > 0 {
            queue.retain(|k| (k.2)(&shared.injected()) == 0);
            if queue.is_empty() {
                break;
            }
        }
        let end = if pass < 2 { until } else { overtime };
        if tokio::time::Instant::now() >= end && pass >= 2 {
            break;
        }
        if !force_pass(shared, storm, end, &queue, &mut forced).await {
            break;
        }
    }
    forced
}

/// One pass of [`force_missing`] over `queue`; `false` if the faults could not be set.
async fn force_pass(
    shared: &Shared,
    storm: &FaultConfig,
    until: tokio::time::Instant,
    queue: &[&Kind],
    forced: &mut Vec<&'static str>,
) -> bool {
    for (i, kind) in queue.iter().enumerate() {
        let now = tokio::time::Instant::now();
        if now >= until {
            break;
        }
        if (kind.2)(&shared.injected()) > 0 {
            continue;
        }
        let left = u32::try_from(queue.len() - i).unwrap_or(1).max(1);
        let deadline = now + until.saturating_duration_since(now) / left;
        let mut current = storm.clone();
        *(kind.1)(&mut current) = 1.0;
        // A skewed sequence number is only ever read after a hole (the client rereads the
        // account when a transaction is lost or too old), so forcing it alone may meet no read:
        // lose the transactions meanwhile, so a hole is sure to come.
        if kind.0 == "sequence_skews" && storm.tx_lose_probability > 0.0 {
            current.tx_lose_probability = 1.0;
        }
        if let Err(e) = shared.set_faults(current) {
            warn!(error = %e, "soak: cannot force a fault");
            return false;
        }
        info!(kind = kind.0, "soak: forcing a fault kind not met yet");
        if !forced.contains(&kind.0) {
            forced.push(kind.0);
        }
        while (kind.2)(&shared.injected()) == 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Err(e) = shared.set_faults(storm.clone()) {
            warn!(error = %e, "soak: cannot restore the faults");
            return false;
        }
    }
    true
}

pub use crate::clock::parse_duration;

/// Options of `perpbot soak`.
#[derive(Debug, Clone, clap::Args)]
pub struct SoakArgs {
    /// Config to soak: its strategy, risk limits, rate limits and `[venue.sim]` (kind = "sim";
    /// default: config/sim.toml, or the embedded copy of it). A `[venue.sim.faults]` table with
    /// any fault switched on is used as the storm unless --fault-rate is given.
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// How long to run, in WALL-CLOCK time (`1h`, `30m`, `300s` or seconds): the client and the
    /// simulator talk over real loopback sockets, so time cannot run faster than real time. The
    /// last 30 s (at most a third) run without faults so the bot can settle before it stops;
    /// fault kinds the dice have not produced by half-time are forced once.
    #[arg(long, default_value = "60", value_parser = parse_duration)]
    pub duration: Duration,
    /// Seed of the fault stream, the synthetic market and the bot's generated key.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Fault probability per transaction; every other fault kind is scaled from it (see
    /// `perpbot::soak::fault_profile`). Default 0.05, or the config's `[venue.sim.faults]`.
    #[arg(long)]
    pub fault_rate: Option<f64>,
    /// Also write the soak report as JSON to this file.
    #[arg(long)]
    pub report: Option<std::path::PathBuf>,
}

impl SoakArgs {
    /// The settings these options ask for with `config`'s faults where no rate is given.
    pub fn settings(&self, config: &Config) -> SoakSettings {
        let mut settings = SoakSettings::new(
            self.duration,
            self.seed,
            self.fault_rate.unwrap_or(DEFAULT_FAULT_RATE),
        );
        let configured = FaultConfig {
            seed: FaultConfig::default().seed,
            ..config.venue.sim.faults.clone()
        };
        if self.fault_rate.is_none() && configured != FaultConfig::default() {
            settings.faults = configured;
        }
        settings
    }
}

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

/// One invariant and whether it held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invariant {
    /// Short name (`no_duplicates`, …).
    pub name: &'static str,
    /// Whether it held.
    pub ok: bool,
    /// What was measured.
    pub detail: String,
}

/// One fault kind: how often it was configured and injected.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultCount {
    /// The kind, as named in [`FaultTally`].
    pub kind: &'static str,
    /// Its probability during the storm.
    pub probability: f64,
    /// How often the simulator injected it.
    pub injected: u64,
    /// How the bot met it (the counters that show the handling).
    pub handled: String,
}

/// What the bot did with its requests, from the spy around the venue writer and the stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Handling {
    /// Requests handed to the venue.
    pub requests: u64,
    /// Orders in them.
    pub orders_sent: u64,
    /// Requests accepted at once.
    pub accepted: u64,
    /// Requests refused at once, by cause (`abort`, `expired`, `rest`, `node`, `other`).
    pub rejected: BTreeMap<String, u64>,
    /// Requests whose outcome was ambiguous at first.
    pub ambiguous: u64,
    /// Of those, resolved by query as accepted.
    pub resolved_accepted: u64,
    /// Of those, resolved by query as refused (aborted, expired, lost).
    pub resolved_rejected: u64,
    /// Of those, still unknown at the end (left for reconciliation).
    pub unresolved: u64,
    /// Queries made to resolve them.
    pub resolve_queries: u64,
    /// Requests still running when the run ended.
    pub in_flight_at_end: u64,
    /// Requests placing orders sent during the settle (faults off, before shutdown).
    pub placing_requests_in_settle: u64,
    /// Stream events: `Reconnecting`.
    pub reconnects: u64,
    /// Stream events: `Resynced` (state rebuilt from REST after a reconnect).
    pub resyncs: u64,
    /// Stream events: `Disconnected`.
    pub disconnects: u64,
    /// Events the stream delivered.
    pub stream_events: u64,
    /// Events that arrived after the engine stopped reading, applied to the final state.
    pub drained_after_stop: u64,
}

/// A duplicated client intent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Duplicate {
    /// The intent (`c12`, or `close#<request>` for a close-position request).
    pub intent: String,
    /// Venue orders it produced.
    pub venue_orders: Vec<String>,
    /// Requests it was put in.
    pub requests: usize,
}

/// A venue order of the bot that no request of the bot accounts for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VenueOrder {
    /// Market.
    pub market: u64,
    /// Venue order id.
    pub order_id: String,
    /// Transaction that placed it.
    pub tx_hash: String,
    /// Its sequence number.
    pub sequence_number: u64,
    /// Position side (`long` / `short`).
    pub side: String,
    /// `open` / `close`.
    pub direction: String,
    /// Price in ticks (0 for market orders).
    pub price_ticks: u64,
    /// Size in lots.
    pub lots: u64,
}

/// A request whose final outcome contradicts the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Misjudged {
    /// Transaction hash.
    pub tx_hash: String,
    /// What the bot concluded.
    pub bot: String,
    /// What the chain did.
    pub chain: String,
}

/// One market and side: the bot's position against the simulator's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PositionCheck {
    /// Market.
    pub market: u64,
    /// `long` / `short`.
    pub side: String,
    /// The bot's final state (lots).
    pub local_lots: u64,
    /// The same when the engine stopped, before the drain.
    pub local_lots_at_stop: u64,
    /// The simulator's (lots).
    pub venue_lots: u64,
}

/// A risk limit seen exceeded in the simulator's positions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Breach {
    /// Seconds into the run.
    pub at_secs: u64,
    /// The limit (`risk.max_position_notional`, …).
    pub limit: String,
    /// The value seen.
    pub value: String,
    /// The limit's value.
    pub max: String,
}

/// What the risk sampler saw.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RiskSeen {
    /// Samples taken.
    pub samples: u64,
    /// Largest position size per `market/side` (base coins).
    pub max_size: BTreeMap<String, Decimal>,
    /// Largest entry notional per `market/side` (quote).
    pub max_notional: BTreeMap<String, Decimal>,
    /// Largest total entry notional (quote).
    pub max_total_notional: Decimal,
    /// Most resting orders of the bot at once.
    pub max_open_orders: usize,
    /// Most resting orders of the bot at once during the settle (faults off): a market maker
    /// that recovered quotes again.
    pub max_open_orders_in_settle: usize,
    /// Samples with a breach.
    pub breached_samples: u64,
    /// The first breaches (at most 20).
    pub breaches: Vec<Breach>,
}

/// Oddities the bot's state counted and handled (see [`crate::state::Anomalies`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Anomalies {
    /// Order events the order state machine refused.
    pub illegal_transitions: u64,
    /// Fills of orders the bot did not know.
    pub unknown_order_fills: u64,
    /// Fills seen twice.
    pub duplicate_fills: u64,
    /// Events of markets not configured.
    pub unknown_market_events: u64,
    /// Venue ids an open-orders match had given to the wrong order.
    pub misattributed_venue_ids: u64,
}

/// Orders: intents, venue orders and how they line up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OrderAudit {
    /// Client intents put into requests.
    pub intents: u64,
    /// Orders the bot's account placed on the venue (simulator's log).
    pub venue_orders: u64,
    /// Of those, attributed by the venue id the client reported.
    pub by_venue_id: u64,
    /// … by the request's transaction hash.
    pub by_tx_hash: u64,
    /// … by market, side, direction, price and size.
    pub by_fields: u64,
    /// Transactions of the bot the chain committed (successfully or aborted).
    pub committed_transactions: u64,
    /// Intents with more than one venue order, or put into more than one request.
    pub duplicates: Vec<Duplicate>,
    /// Venue orders no request accounts for (at most 50 listed).
    pub unexplained: Vec<VenueOrder>,
    /// Number of unexplained venue orders.
    pub unexplained_count: u64,
    /// Requests whose final outcome contradicts the chain (at most 50 listed).
    pub misjudged: Vec<Misjudged>,
    /// Number of misjudged requests.
    pub misjudged_count: u64,
    /// Venue orders of the bot still resting after shutdown.
    pub orphans: Vec<VenueOrder>,
    /// Transactions of the bot still pending after shutdown that would place orders.
    pub pending_placing_transactions: u64,
    /// How the bot's own state saw each orphan at exit (client id, status, fills), to tell a
    /// lost cancel from a wrongly closed order.
    pub orphans_as_the_bot_saw_them: Vec<String>,
}

/// The soak's verdict and everything behind it.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    /// Seed of faults, market and key.
    pub seed: u64,
    /// `wall clock`: see the module docs for why simulated time is not possible.
    pub time_base: &'static str,
    /// Configured run (s): storm plus settle.
    pub duration_secs: f64,
    /// Of which the fault-free settle at the end (s).
    pub settle_secs: f64,
    /// Wall time from connect to the end of the drain (s).
    pub elapsed_secs: f64,
    /// The faults in force during the storm.
    pub faults: FaultConfig,
    /// The simulator's tally of injected faults.
    pub injected: FaultTally,
    /// Per kind: configured, injected, handled.
    pub fault_counts: Vec<FaultCount>,
    /// Kinds switched on that were never injected.
    pub fault_kinds_missed: Vec<&'static str>,
    /// Kinds the dice had not produced by `force_missing_from` of the storm, forced once.
    pub forced: Vec<&'static str>,
    /// What the bot did with its requests and stream.
    pub handling: Handling,
    /// Intents against venue orders.
    pub orders: OrderAudit,
    /// Bot against simulator, per market and side.
    pub positions: Vec<PositionCheck>,
    /// The risk sampler's findings.
    pub risk: RiskSeen,
    /// Whether the engine task panicked.
    pub engine_panicked: bool,
    /// Whether the venue stream ended before shutdown.
    pub stream_ended_early: bool,
    /// What the bot's state counted as handled oddities.
    pub anomalies: Anomalies,
    /// The engine's own summary (absent if it panicked).
    pub run: Option<RunSummary>,
    /// The last requests (at most 100): seconds into the run, what, first and last outcome.
    pub request_log: Vec<String>,
    /// The verdict, one line each.
    pub invariants: Vec<Invariant>,
}

impl SoakReport {
    /// True when every invariant held.
    pub fn passed(&self) -> bool {
        self.invariants.iter().all(|i| i.ok)
    }

    /// The names of the invariants that failed.
    pub fn failures(&self) -> Vec<&'static str> {
        self.invariants
            .iter()
            .filter(|i| !i.ok)
            .map(|i| i.name)
            .collect()
    }

    /// The human summary `perpbot soak` prints.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\n── soak report (seed {}, {:.0} s {} incl. {:.0} s settle without faults; {:.0} s elapsed) ──",
            self.seed, self.duration_secs, self.time_base, self.settle_secs, self.elapsed_secs
        );
        let _ = writeln!(s, "  {:<16} {:>8} {:>8}  handled", "fault", "p", "injected");
        for f in &self.fault_counts {
            let _ = writeln!(
                s,
                "  {:<16} {:>8.4} {:>8}  {}",
                f.kind, f.probability, f.injected, f.handled
            );
        }
        if !self.forced.is_empty() {
            let _ = writeln!(
                s,
                "  (not met by the dice in time, forced once each: {})",
                self.forced.join(", ")
            );
        }
        if !self.fault_kinds_missed.is_empty() {
            let _ = writeln!(
                s,
                "  (switched on but never injected: {})",
                self.fault_kinds_missed.join(", ")
            );
        }
        let h = &self.handling;
        let rejected: u64 = h.rejected.values().sum();
        let _ = writeln!(
            s,
            "  requests         {} ({} orders): {} accepted, {} refused {:?}, {} ambiguous → {} accepted / {} refused / {} unresolved after {} queries; {} in flight at the end",
            h.requests,
            h.orders_sent,
            h.accepted,
            rejected,
            h.rejected,
            h.ambiguous,
            h.resolved_accepted,
            h.resolved_rejected,
            h.unresolved,
            h.resolve_queries,
            h.in_flight_at_end
        );
        let _ = writeln!(
            s,
            "  stream           {} events, {} reconnects, {} resyncs, {} disconnects; {} drained after stop",
            h.stream_events, h.reconnects, h.resyncs, h.disconnects, h.drained_after_stop
        );
        let o = &self.orders;
        let _ = writeln!(
            s,
            "  orders           {} intents, {} venue orders (by id {}, by tx {}, by fields {}), {} transactions committed",
            o.intents,
            o.venue_orders,
            o.by_venue_id,
            o.by_tx_hash,
            o.by_fields,
            o.committed_transactions
        );
        for p in &self.positions {
            let _ = writeln!(
                s,
                "  position {:>5} {:<5} bot {} lots (at stop {}), simulator {} lots",
                p.market, p.side, p.local_lots, p.local_lots_at_stop, p.venue_lots
            );
        }
        let r = &self.risk;
        let _ = writeln!(
            s,
            "  risk             {} samples; max size {:?}, max notional {:?}, max total {}, max resting orders {}",
            r.samples,
            r.max_size,
            r.max_notional,
            r.max_total_notional.round_dp(4),
            r.max_open_orders
        );
        if let Some(run) = &self.run {
            let _ = writeln!(
                s,
                "  run              {} fills, PnL {}, {} risk refusals, trading {:?}",
                run.fills,
                run.total_pnl.round_dp(4),
                run.risk_rejections,
                run.trading_state
            );
        }
        let _ = writeln!(s, "  invariants");
        for i in &self.invariants {
            let _ = writeln!(
                s,
                "    [{}] {:<22} {}",
                if i.ok { " ok " } else { "FAIL" },
                i.name,
                i.detail
            );
        }
        let _ = writeln!(
            s,
            "  verdict          {}",
            if self.passed() { "PASS" } else { "FAIL" }
        );
        s
    }
}

// ---------------------------------------------------------------------------------------------
// The spy around the venue writer
// ---------------------------------------------------------------------------------------------

/// One request as the spy saw it.
#[derive(Debug, Clone)]
struct Sent {
    request: VenueRequest,
    /// When it was handed to the writer.
    at: tokio::time::Instant,
    /// The outcome `execute` returned (`None` while running).
    first: Option<RequestOutcome>,
    /// The latest outcome (after resolution queries).
    last: Option<RequestOutcome>,
    /// Transaction hashes the client reported for it.
    tokens: Vec<String>,
    resolves: u64,
}

#[derive(Debug, Default)]
struct WriteLog {
    sent: Vec<Sent>,
    by_token: HashMap<String, usize>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The hash a rejection names (`transaction 0x… expired before it committed`).
fn hash_in(reason: &str) -> Option<String> {
    reason
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| w.len() == 66 && w.starts_with("0x"))
        .map(str::to_string)
}

impl WriteLog {
    fn note_tokens(&mut self, idx: usize, outcome: &RequestOutcome) {
        let token = match outcome {
            RequestOutcome::Ambiguous { token, .. } => token.clone(),
            RequestOutcome::Rejected { reason, .. } => hash_in(reason),
            _ => None,
        };
        if let Some(t) = token {
            self.by_token.insert(t.clone(), idx);
            if let Some(s) = self.sent.get_mut(idx)
                && !s.tokens.contains(&t)
            {
                s.tokens.push(t);
            }
        }
    }
}

/// Passes every call to the real writer and keeps what went in and out.
struct SpyWriter {
    inner: Arc<dyn VenueWriter>,
    log: Arc<Mutex<WriteLog>>,
}

#[async_trait]
impl VenueWriter for SpyWriter {
    fn capabilities(&self) -> VenueCapabilities {
        self.inner.capabilities()
    }

    async fn execute(&self, request: VenueRequest) -> RequestOutcome {
        let idx = {
            let mut log = lock(&self.log);
            log.sent.push(Sent {
                request: request.clone(),
                at: tokio::time::Instant::now(),
                first: None,
                last: None,
                tokens: Vec::new(),
                resolves: 0,
            });
            log.sent.len() - 1
        };
        let outcome = SPY_REQUEST.scope(idx, self.inner.execute(request)).await;
        let mut log = lock(&self.log);
        log.note_tokens(idx, &outcome);
        if let Some(s) = log.sent.get_mut(idx) {
            s.first = Some(outcome.clone());
            s.last = Some(outcome.clone());
        }
        outcome
    }

    async fn resolve(&self, request: &VenueRequest, token: Option<&str>) -> RequestOutcome {
        let outcome = self.inner.resolve(request, token).await;
        let mut log = lock(&self.log);
        let idx = token
            .and_then(|t| log.by_token.get(t).copied())
            .or_else(|| {
                log.sent.iter().rposition(|s| {
                    &s.request == request
                        && matches!(s.last, Some(RequestOutcome::Ambiguous { .. }))
                })
            });
        if let Some(idx) = idx {
            log.note_tokens(idx, &outcome);
            if let Some(s) = log.sent.get_mut(idx) {
                s.last = Some(outcome.clone());
                s.resolves += 1;
            }
        }
        outcome
    }

    fn tx_costs(&self) -> TxCosts {
        self.inner.tx_costs()
    }
}

tokio::task_local! {
    /// The [`WriteLog`] entry a [`SpyWriter::execute`] call is running for.
    static SPY_REQUEST: usize;
}

/// A signing hook that files every transaction hash under the request signing it, accepted
/// ones included: two requests can sign byte-identical transactions (same payload, a number
/// freed by a refusal, the same expiry second), and only the hashes of both tell the audit that
/// the refused one's hash committed as the other's.
fn spy_signed_hook(log: Arc<Mutex<WriteLog>>) -> crate::venue::SentHook {
    Arc::new(move |signed: &crate::venue::ResumeToken| {
        if let Ok(idx) = SPY_REQUEST.try_with(|i| *i) {
            let hash = signed.handle.clone();
            let mut log = lock(&log);
            log.by_token.insert(hash.clone(), idx);
            if let Some(s) = log.sent.get_mut(idx)
                && !s.tokens.contains(&hash)
            {
                s.tokens.push(hash);
            }
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// The tap on the venue stream
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Tap {
    events: u64,
    reconnects: u64,
    resyncs: u64,
    disconnects: u64,
    ended: bool,
    /// Events that arrived after the engine stopped reading (bounded).
    leftovers: Vec<Event>,
}

/// Most events kept after the engine stopped.
const MAX_LEFTOVERS: usize = 100_000;

/// Forward `events` to a new channel, counting connection changes; once the receiving end is
/// gone, keep what still arrives for the final state.
fn tap(
    mut events: mpsc::Receiver<Event>,
) -> (
    mpsc::Receiver<Event>,
    Arc<Mutex<Tap>>,
    tokio::task::JoinHandle<()>,
) {
    // One slot: at most one event can be lost between the engine's last read and its exit.
    let (tx, rx) = mpsc::channel(1);
    let seen = Arc::new(Mutex::new(Tap::default()));
    let shared = Arc::clone(&seen);
    let task = tokio::spawn(async move {
        let mut engine_open = true;
        while let Some(event) = events.recv().await {
            {
                let mut t = lock(&shared);
                t.events += 1;
                if let Event::Connection(c) = &event {
                    match c.state {
                        ConnectionState::Reconnecting => t.reconnects += 1,
                        ConnectionState::Resynced => t.resyncs += 1,
                        ConnectionState::Disconnected => t.disconnects += 1,
                        ConnectionState::Connected => {}
                    }
                }
            }
            let left = if engine_open {
                match tx.send(event).await {
                    Ok(()) => None,
                    Err(mpsc::error::SendError(event)) => {
                        engine_open = false;
                        Some(event)
                    }
                }
            } else {
                Some(event)
            };
            if let Some(event) = left {
                let mut t = lock(&shared);
                if t.leftovers.len() < MAX_LEFTOVERS {
                    t.leftovers.push(event);
                }
            }
        }
        lock(&shared).ended = true;
    });
    (rx, seen, task)
}

// ---------------------------------------------------------------------------------------------
// The risk sampler
// ---------------------------------------------------------------------------------------------

/// The limits the sampler checks, resolved per market.
#[derive(Debug, Clone)]
struct Limits {
    size: BTreeMap<MarketId, Decimal>,
    notional: Decimal,
    total: Decimal,
    leverage: u32,
    open_orders: usize,
}

impl Limits {
    fn of(risk: &RiskConfig) -> Limits {
        let size = risk
            .markets
            .iter()
            .filter_map(|(k, l)| Some((MarketId(k.parse().ok()?), l.max_position_size?)))
            .collect();
        Limits {
            size,
            notional: risk.max_position_notional,
            total: risk.max_total_notional,
            leverage: risk.max_leverage,
            open_orders: risk.max_open_orders,
        }
    }
}

fn side_name(side: PositionSide) -> &'static str {
    if side.is_long() { "long" } else { "short" }
}

/// One sample of the simulator's positions and resting orders of `profile`.
fn sample(
    shared: &Shared,
    profile: AccountAddress,
    limits: &Limits,
    at: u64,
    settling: bool,
    seen: &mut RiskSeen,
) {
    let (positions, open_orders, sizes) = {
        let core = shared.core();
        let ex = &core.exchange;
        let positions = ex.positions(profile);
        let sizes: Vec<Decimal> = positions
            .iter()
            .map(|p| {
                ex.spec(p.market)
                    .map_or(Decimal::ZERO, |s| s.lots_to_size(p.size))
            })
            .collect();
        (positions, ex.open_orders(profile, None).len(), sizes)
    };
    seen.samples += 1;
    seen.max_open_orders = seen.max_open_orders.max(open_orders);
    if settling {
        seen.max_open_orders_in_settle = seen.max_open_orders_in_settle.max(open_orders);
    }
    let mut breaches = Vec::new();
    let mut total = Decimal::ZERO;
    for (p, size) in positions.iter().zip(sizes) {
        let key = format!("{}/{}", p.market, side_name(p.trade_side));
        let notional = p.value.abs();
        total += notional;
        let max_size = seen.max_size.entry(key.clone()).or_default();
        *max_size = (*max_size).max(size);
        let max_notional = seen.max_notional.entry(key.clone()).or_default();
        *max_notional = (*max_notional).max(notional);
        if let Some(limit) = limits.size.get(&p.market)
            && size > *limit
        {
            breaches.push(Breach {
                at_secs: at,
                limit: format!("risk.markets.{}.max_position_size ({key})", p.market),
                value: size.to_string(),
                max: limit.to_string(),
            });
        }
        if notional > limits.notional {
            breaches.push(Breach {
                at_secs: at,
                limit: format!("risk.max_position_notional ({key})"),
                value: notional.round_dp(6).to_string(),
                max: limits.notional.to_string(),
            });
        }
        if p.leverage > limits.leverage {
            breaches.push(Breach {
                at_secs: at,
                limit: format!("risk.max_leverage ({key})"),
                value: p.leverage.to_string(),
                max: limits.leverage.to_string(),
            });
        }
    }
    seen.max_total_notional = seen.max_total_notional.max(total);
    if total > limits.total {
        breaches.push(Breach {
            at_secs: at,
            limit: "risk.max_total_notional".into(),
            value: total.round_dp(6).to_string(),
            max: limits.total.to_string(),
        });
    }
    if open_orders > limits.open_orders {
        breaches.push(Breach {
            at_secs: at,
            limit: "risk.max_open_orders".into(),
            value: open_orders.to_string(),
            max: limits.open_orders.to_string(),
        });
    }
    if !breaches.is_empty() {
        seen.breached_samples += 1;
        for b in breaches {
            if seen.breaches.len() < 20 {
                seen.breaches.push(b);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The simulator's truth
// ---------------------------------------------------------------------------------------------

/// An order the bot's account placed, from a committed transaction's events.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SimOrder {
    market: MarketId,
    id: VenueOrderId,
    hash: String,
    seq: u64,
    side: PositionSide,
    direction: Direction,
    kind: OrderKind,
    price: u64,
    lots: u64,
}

impl SimOrder {
    fn describe(&self) -> VenueOrder {
        VenueOrder {
            market: self.market.0,
            order_id: self.id.to_string(),
            tx_hash: self.hash.clone(),
            sequence_number: self.seq,
            side: side_name(self.side).into(),
            direction: match self.direction {
                Direction::Open => "open".into(),
                Direction::Close => "close".into(),
            },
            price_ticks: self.price,
            lots: self.lots,
        }
    }
}

/// What a transaction of the bot became on the simulated chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chain {
    Committed,
    Aborted,
    Pending,
    Dropped,
}

impl Chain {
    fn name(self) -> &'static str {
        match self {
            Chain::Committed => "committed",
            Chain::Aborted => "aborted",
            Chain::Pending => "still pending",
            Chain::Dropped => "dropped (expired or lost)",
        }
    }
}

#[derive(Debug, Default)]
struct Truth {
    txs: HashMap<String, (u64, Chain)>,
    orders: Vec<SimOrder>,
    open: Vec<SimOrder>,
    positions: BTreeMap<(MarketId, PositionSide), u64>,
    pending_placing: u64,
}

fn field_u128(data: &Value, key: &str) -> Option<u128> {
    match data.get(key)? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64().map(u128::from),
        _ => None,
    }
}

fn field_bool(data: &Value, key: &str) -> Option<bool> {
    data.get(key)?.as_bool()
}

/// The placed orders in a committed transaction's events.
fn placed_in(events: &[Value], profile: AccountAddress, hash: &str, seq: u64) -> Vec<SimOrder> {
    let mut out = Vec::new();
    for e in events {
        let ty = e.get("type").and_then(Value::as_str).unwrap_or("");
        let kind = if ty.ends_with("::PlaceOrderEvent") {
            OrderKind::Limit
        } else if ty.ends_with("::MarketOrderEvent") {
            OrderKind::Market
        } else {
            continue;
        };
        let Some(data) = e.get("data") else { continue };
        let owner = data
            .get("profile_address")
            .and_then(Value::as_str)
            .and_then(|a| AccountAddress::from_hex(a).ok());
        if owner != Some(profile) {
            continue;
        }
        let (Some(market), Some(id)) =
            (field_u128(data, "market_id"), field_u128(data, "order_id"))
        else {
            continue;
        };
        let long = field_bool(data, "trade_side").unwrap_or(true);
        let close = field_bool(data, "direction").unwrap_or(false);
        out.push(SimOrder {
            market: MarketId(u64::try_from(market).unwrap_or(u64::MAX)),
            id: VenueOrderId(id),
            hash: hash.to_string(),
            seq,
            side: if long {
                PositionSide::Long
            } else {
                PositionSide::Short
            },
            direction: if close {
                Direction::Close
            } else {
                Direction::Open
            },
            kind,
            price: field_u128(data, "price")
                .and_then(|p| u64::try_from(p).ok())
                .unwrap_or(0),
            lots: field_u128(data, "size")
                .and_then(|p| u64::try_from(p).ok())
                .unwrap_or(0),
        });
    }
    out
}

fn read_truth(shared: &Shared, wallet: AccountAddress, profile: AccountAddress) -> Truth {
    let core = shared.core();
    let mut truth = Truth::default();
    for (hash, meta) in &core.txn_meta {
        if meta.sender != wallet {
            continue;
        }
        let chain = match core.txns.get(hash) {
            Some(TxnState::Committed {
                success: true,
                events,
                ..
            }) => {
                truth
                    .orders
                    .extend(placed_in(events, profile, hash, meta.sequence_number));
                Chain::Committed
            }
            Some(TxnState::Committed { success: false, .. }) => Chain::Aborted,
            Some(TxnState::Pending { .. }) => Chain::Pending,
            Some(TxnState::Dropped) | None => Chain::Dropped,
        };
        truth
            .txs
            .insert(hash.clone(), (meta.sequence_number, chain));
    }
    truth.pending_placing = core
        .mempool
        .iter()
        .filter(|e| e.meta.sender == wallet)
        .filter(|e| {
            crate::sim::abi::decode_call(core.package, &e.call).is_ok_and(|c| {
                matches!(
                    c.action,
                    crate::sim::abi::Action::Place { .. }
                        | crate::sim::abi::Action::PlaceMultiple { .. }
                        | crate::sim::abi::Action::CancelAndPlace { .. }
                        | crate::sim::abi::Action::Collapse { .. }
                )
            })
        })
        .count() as u64;
    truth.orders.sort_by_key(|o| (o.seq, o.id));
    let ex = &core.exchange;
    for r in ex.open_orders(profile, None) {
        truth.open.push(SimOrder {
            market: r.market,
            id: r.order_id,
            hash: String::new(),
            seq: 0,
            side: r.trade_side,
            direction: r.direction,
            kind: r.kind,
            price: r.price.map_or(0, |t| t.0),
            lots: r.remaining_size.0,
        });
    }
    for p in ex.positions(profile) {
        truth.positions.insert((p.market, p.trade_side), p.size.0);
    }
    truth
}

// ---------------------------------------------------------------------------------------------
// The comparison
// ---------------------------------------------------------------------------------------------

/// What an intent is called in the report.
fn intent_name(client: Option<ClientOrderId>, request: usize) -> String {
    client.map_or_else(|| format!("close#{request}"), |c| c.to_string())
}

/// The orders a request places, each as (intent, market, side, direction, kind, price, lots).
fn places_of(request: &VenueRequest, idx: usize) -> Vec<(String, PlaceShape)> {
    match request {
        VenueRequest::Orders { place, .. } => place
            .iter()
            .map(|r| (intent_name(Some(r.client_id), idx), PlaceShape::of(r)))
            .collect(),
        VenueRequest::ClosePosition {
            market,
            position,
            lots,
            ..
        } => vec![(
            intent_name(None, idx),
            PlaceShape {
                market: *market,
                side: *position,
                direction: Direction::Close,
                kind: OrderKind::Market,
                price: 0,
                lots: lots.0,
            },
        )],
        _ => Vec::new(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PlaceShape {
    market: MarketId,
    side: PositionSide,
    direction: Direction,
    kind: OrderKind,
    price: u64,
    lots: u64,
}

impl PlaceShape {
    fn of(r: &OrderRequest) -> PlaceShape {
        let o = &r.order;
        PlaceShape {
            market: o.market,
            side: o.position_side(),
            direction: o.direction,
            kind: o.kind,
            price: o.price.map_or(0, |t: Ticks| t.0),
            lots: o.lots.0,
        }
    }

    /// Whether a venue order could be this place (a close-position's size is the bot's belief;
    /// the venue closes what it holds, so its size is not compared).
    fn fits(&self, o: &SimOrder) -> bool {
        self.market == o.market
            && self.side == o.side
            && self.direction == o.direction
            && self.kind == o.kind
            && (self.kind == OrderKind::Market || self.price == o.price)
            && (self.kind == OrderKind::Market && self.direction == Direction::Close
                || self.lots == o.lots)
    }
}

fn final_kind(outcome: Option<&RequestOutcome>) -> &'static str {
    match outcome {
        Some(RequestOutcome::Accepted { .. }) => "accepted",
        Some(RequestOutcome::Partial { .. }) => "partially accepted",
        Some(RequestOutcome::Rejected { .. }) => "refused",
        Some(RequestOutcome::Ambiguous { .. }) => "unknown",
        None => "in flight",
    }
}

/// Why a request was refused, in a few buckets.
fn refusal_cause(reason: &str) -> &'static str {
    let r = reason.to_ascii_lowercase();
    if r.contains("expired") {
        "expired"
    } else if r.starts_with("kana rest") {
        "rest"
    } else if r.contains("node refused") {
        "node"
    } else if r.contains("abort") || r.contains("e_") || r.contains("move") {
        "abort"
    } else {
        "other"
    }
}

fn handling_of(
    log: &WriteLog,
    tap: &Tap,
    drained: u64,
    settle: Option<(tokio::time::Instant, tokio::time::Instant)>,
) -> Handling {
    let mut h = Handling {
        reconnects: tap.reconnects,
        resyncs: tap.resyncs,
        disconnects: tap.disconnects,
        stream_events: tap.events,
        drained_after_stop: drained,
        ..Handling::default()
    };
    for s in &log.sent {
        h.requests += 1;
        if let VenueRequest::Orders { place, .. } = &s.request {
            h.orders_sent += place.len() as u64;
        }
        h.resolve_queries += s.resolves;
        let places = matches!(&s.request, VenueRequest::Orders { place, .. } if !place.is_empty());
        if places && settle.is_some_and(|(from, to)| s.at >= from && s.at < to) {
            h.placing_requests_in_settle += 1;
        }
        match &s.first {
            None => h.in_flight_at_end += 1,
            Some(RequestOutcome::Accepted { .. } | RequestOutcome::Partial { .. }) => {
                h.accepted += 1;
            }
            Some(RequestOutcome::Rejected { reason, .. }) => {
                *h.rejected.entry(refusal_cause(reason).into()).or_default() += 1;
            }
            Some(RequestOutcome::Ambiguous { .. }) => {
                h.ambiguous += 1;
                match &s.last {
                    Some(RequestOutcome::Accepted { .. } | RequestOutcome::Partial { .. }) => {
                        h.resolved_accepted += 1;
                    }
                    Some(RequestOutcome::Rejected { .. }) => h.resolved_rejected += 1,
                    _ => h.unresolved += 1,
                }
            }
        }
    }
    h
}

fn audit(log: &WriteLog, truth: &Truth) -> OrderAudit {
    let mut a = OrderAudit {
        venue_orders: truth.orders.len() as u64,
        committed_transactions: truth
            .txs
            .values()
            .filter(|(_, c)| matches!(c, Chain::Committed | Chain::Aborted))
            .count() as u64,
        pending_placing_transactions: truth.pending_placing,
        ..OrderAudit::default()
    };
    // Intents and the requests they were put in.
    let mut requests_of: BTreeMap<String, usize> = BTreeMap::new();
    for (idx, s) in log.sent.iter().enumerate() {
        for (intent, _) in places_of(&s.request, idx) {
            *requests_of.entry(intent).or_default() += 1;
        }
    }
    a.intents = requests_of.len() as u64;

    // Venue id → intent, from what the client reported.
    let mut by_id: HashMap<(MarketId, VenueOrderId), String> = HashMap::new();
    for s in &log.sent {
        let market = s.request.market();
        for outcome in [s.first.as_ref(), s.last.as_ref()].into_iter().flatten() {
            let placed = match outcome {
                RequestOutcome::Accepted { placed, .. }
                | RequestOutcome::Partial { placed, .. } => placed,
                _ => continue,
            };
            for (client, venue) in placed {
                if let Some(v) = venue {
                    by_id.insert((market, *v), client.to_string());
                }
            }
        }
    }
    // Transaction hash → request.
    let mut by_hash: HashMap<&str, usize> = HashMap::new();
    for (idx, s) in log.sent.iter().enumerate() {
        for t in &s.tokens {
            by_hash.insert(t.as_str(), idx);
        }
    }
    let mut orders_by_hash: HashMap<&str, Vec<&SimOrder>> = HashMap::new();
    for o in &truth.orders {
        orders_by_hash.entry(o.hash.as_str()).or_default().push(o);
    }

    let mut venue_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut claimed_shapes: HashSet<String> = HashSet::new();
    let mut unexplained: Vec<&SimOrder> = Vec::new();
    for o in &truth.orders {
        if let Some(intent) = by_id.get(&(o.market, o.id)) {
            a.by_venue_id += 1;
            claimed_shapes.insert(intent.clone());
            venue_of
                .entry(intent.clone())
                .or_default()
                .push(o.id.to_string());
            continue;
        }
        let by_tx = by_hash.get(o.hash.as_str()).and_then(|&idx| {
            let s = log.sent.get(idx)?;
            let places = places_of(&s.request, idx);
            // Pair the transaction's orders with the request's places in order, by kind.
            let siblings = orders_by_hash.get(o.hash.as_str())?;
            let nth = siblings
                .iter()
                .filter(|x| x.kind == o.kind)
                .position(|x| x.id == o.id)?;
            places
                .into_iter()
                .filter(|(_, p)| p.kind == o.kind)
                .nth(nth)
                .map(|(intent, _)| intent)
        });
        if let Some(intent) = by_tx {
            a.by_tx_hash += 1;
            claimed_shapes.insert(intent.clone());
            venue_of.entry(intent).or_default().push(o.id.to_string());
            continue;
        }
        unexplained.push(o);
    }
    // Fallback: accepted requests whose orders got no venue id, matched by shape.
    let mut still = Vec::new();
    for o in unexplained {
        let hit = log.sent.iter().enumerate().find_map(|(idx, s)| {
            if !matches!(
                s.last,
                Some(RequestOutcome::Accepted { .. } | RequestOutcome::Partial { .. })
            ) {
                return None;
            }
            places_of(&s.request, idx)
                .into_iter()
                .find(|(intent, p)| !claimed_shapes.contains(intent) && p.fits(o))
                .map(|(intent, _)| intent)
        });
        match hit {
            Some(intent) => {
                a.by_fields += 1;
                claimed_shapes.insert(intent.clone());
                venue_of.entry(intent).or_default().push(o.id.to_string());
            }
            None => still.push(o),
        }
    }
    a.unexplained_count = still.len() as u64;
    a.unexplained = still.iter().take(50).map(|o| o.describe()).collect();

    for (intent, requests) in &requests_of {
        let venue = venue_of.get(intent).cloned().unwrap_or_default();
        if venue.len() > 1 || *requests > 1 {
            a.duplicates.push(Duplicate {
                intent: intent.clone(),
                venue_orders: venue,
                requests: *requests,
            });
        }
    }

    // Final outcomes against the chain, for every request whose transaction is known. Two
    // requests can sign byte-identical transactions (same payload, sequence number freed by a
    // refusal, same expiry second, so the same hash); the chain executed it once, and a refused
    // request's hash that committed is explained when an accepted request carries that hash.
    let accepted_tokens: std::collections::HashSet<&String> = log
        .sent
        .iter()
        .filter(|s| {
            matches!(
                final_kind(s.last.as_ref()),
                "accepted" | "partially accepted"
            )
        })
        .flat_map(|s| s.tokens.iter())
        .collect();
    for s in &log.sent {
        let bot = final_kind(s.last.as_ref());
        for t in &s.tokens {
            let Some(&(_, chain)) = truth.txs.get(t) else {
                continue;
            };
            let contradicts = match (bot, chain) {
                ("accepted" | "partially accepted", Chain::Committed) => false,
                ("accepted" | "partially accepted", _) => true,
                ("refused", Chain::Committed) => !accepted_tokens.contains(t),
                _ => false,
            };
            if contradicts {
                a.misjudged_count += 1;
                if a.misjudged.len() < 50 {
                    a.misjudged.push(Misjudged {
                        tx_hash: t.clone(),
                        bot: bot.into(),
                        chain: chain.name().into(),
                    });
                }
            }
        }
    }
    a.orphans = truth.open.iter().map(SimOrder::describe).collect();
    a
}

/// One line per request, the last 100.
fn request_log(log: &WriteLog, started: tokio::time::Instant) -> Vec<String> {
    let short = |o: Option<&RequestOutcome>| match o {
        None => "in flight".to_string(),
        Some(RequestOutcome::Accepted { .. }) => "accepted".into(),
        Some(RequestOutcome::Partial { .. }) => "partial".into(),
        Some(RequestOutcome::Rejected { reason, .. }) => {
            format!("refused ({})", reason.chars().take(90).collect::<String>())
        }
        Some(RequestOutcome::Ambiguous { reason, .. }) => {
            format!(
                "ambiguous ({})",
                reason.chars().take(60).collect::<String>()
            )
        }
    };
    let skip = log.sent.len().saturating_sub(100);
    log.sent
        .iter()
        .skip(skip)
        .map(|s| {
            let what = match &s.request {
                VenueRequest::Orders { cancel, place, .. } => format!(
                    "cancel [{}] place [{}]",
                    cancel
                        .iter()
                        .map(|c| c.client_id.to_string())
                        .collect::<Vec<_>>()
                        .join(" "),
                    place
                        .iter()
                        .map(|p| p.client_id.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                VenueRequest::SetTakeProfit { .. } => "take-profit".into(),
                VenueRequest::SetStopLoss { .. } => "stop-loss".into(),
                VenueRequest::ClosePosition { .. } => "close position".into(),
            };
            format!(
                "{:>7.2}s {what} → {} → {}",
                s.at.saturating_duration_since(started).as_secs_f64(),
                short(s.first.as_ref()),
                short(s.last.as_ref())
            )
        })
        .collect()
}

fn positions_of(state: &State) -> BTreeMap<(MarketId, PositionSide), u64> {
    state
        .positions()
        .filter(|p| p.lots > Lots::ZERO)
        .map(|p| ((p.market, p.side), p.lots.0))
        .collect()
}

fn fault_counts(f: &FaultConfig, t: &FaultTally, h: &Handling) -> Vec<FaultCount> {
    let rejected = |k: &str| h.rejected.get(k).copied().unwrap_or(0);
    let ambiguous = format!(
        "{} ambiguous → {} resolved accepted, {} resolved refused, {} unresolved",
        h.ambiguous, h.resolved_accepted, h.resolved_rejected, h.unresolved
    );
    let stream = format!("{} reconnects, {} resyncs", h.reconnects, h.resyncs);
    let row = |kind, probability, injected, handled: String| FaultCount {
        kind,
        probability,
        injected,
        handled,
    };
    vec![
        row(
            "ws_drops",
            f.ws_drop_probability,
            t.ws_drops,
            stream.clone(),
        ),
        row(
            "ws_stalls",
            f.ws_stall_probability,
            t.ws_stalls,
            format!("held {} ms each; {stream}", f.ws_stall_ms),
        ),
        row(
            "ws_malformed",
            f.ws_malformed_probability,
            t.ws_malformed,
            "frame skipped by the decoder, connection kept (counter not reachable)".into(),
        ),
        row(
            "rest_429",
            f.rest_429_probability,
            t.rest_429,
            format!(
                "REST retried after Retry-After; {} requests refused on REST",
                rejected("rest")
            ),
        ),
        row(
            "rest_5xx",
            f.rest_5xx_probability,
            t.rest_5xx,
            format!(
                "REST retried with back-off; {} requests refused on REST",
                rejected("rest")
            ),
        ),
        row(
            "rest_timeouts",
            f.rest_timeout_probability,
            t.rest_timeouts,
            "client timeout, then retried (nothing was signed)".into(),
        ),
        row(
            "node_429",
            f.node_429_probability,
            t.node_429,
            format!(
                "{} refused by the node; lookups polled again",
                rejected("node")
            ),
        ),
        row(
            "node_5xx",
            f.node_5xx_probability,
            t.node_5xx,
            ambiguous.clone(),
        ),
        row(
            "tx_aborts",
            f.tx_abort_probability,
            t.tx_aborts,
            format!("{} requests refused with a Move abort", rejected("abort")),
        ),
        row(
            "tx_expired",
            f.tx_expire_probability,
            t.tx_expired,
            format!(
                "{} requests refused as expired (at once or on resolution)",
                rejected("expired") + h.resolved_rejected
            ),
        ),
        row("tx_lost", f.tx_lose_probability, t.tx_lost, ambiguous),
        row(
            "sequence_skews",
            f.sequence_skew_probability,
            t.sequence_skews,
            "too-old refusal, refetch and rebuild once".into(),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

/// The bot's key, from the seed (reproducible, distinct from the embedded simulator's).
fn bot_key(seed: u64) -> PrivateKey {
    use sha3::{Digest, Sha3_256};
    let mut h = Sha3_256::new();
    h.update(b"perpbot soak bot");
    h.update(seed.to_le_bytes());
    PrivateKey::from_seed_bytes(h.finalize().into())
}

/// A Kana client config for a simulator at `handle` (the embedded simulator's settings).
fn kana_for(handle: &SimHandle, chain_id: u8, t: ClientTimings) -> KanaConfig {
    KanaConfig {
        network: Network::Testnet,
        rest_url: handle.rest_url.clone(),
        ws_url: handle.ws_url.clone(),
        node_url: handle.node_url.clone(),
        chain_id,
        api_key: SecretSource::default(),
        private_key: SecretSource::default(),
        i_understand_this_is_mainnet: false,
        max_gas_amount: 10_000,
        gas_unit_price: Some(100),
        expiration_secs: t.expiration_secs,
        confirm_timeout_ms: t.confirm_timeout_ms,
        request_timeout_ms: t.request_timeout_ms,
        max_batch: 10,
        delegate_for: None,
        package: None,
    }
}

/// Run the soak: start the simulator, connect the real Kana client, trade through the storm and
/// the settle, shut down gracefully and compare. Needs a multi-threaded tokio runtime.
pub async fn run(
    config: &Config,
    registry: &StrategyRegistry,
    settings: &SoakSettings,
) -> Result<SoakReport, SoakError> {
    settings.validate().map_err(SoakError::Config)?;
    if config.venue.kind != VenueKind::Sim {
        return Err(SoakError::Config(format!(
            "the soak runs against the in-process simulator: use a config with [venue] kind = \"sim\" (this one is {:?})",
            config.venue.kind
        )));
    }
    let strategy = registry.build(&config.strategy.name, &config.strategy.params)?;
    let mut engine_config = config.engine.clone();
    engine_config.kill_switch_file = None;

    let mut sim = config.venue.sim.clone();
    sim.synthetic.seed = settings.seed;
    sim.faults = FaultConfig {
        seed: settings.seed,
        ..FaultConfig::default()
    };
    let storm = FaultConfig {
        seed: settings.seed,
        ..settings.faults.clone()
    };
    let calm = FaultConfig {
        seed: settings.seed,
        ..FaultConfig::default()
    };
    let chain_id = sim.chain_id;
    let api_key = sim.api_key.clone();
    let clock = Clock::system();
    let bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let handle = crate::sim::server::start(sim, bind, clock)
        .await
        .map_err(SoakError::Sim)?;
    let shared = Arc::clone(&handle.shared);
    let key = bot_key(settings.seed);
    let wallet = key.address();
    let profile = crate::sim::profile_address(&wallet);
    info!(rest = %handle.rest_url, %wallet, %profile, "soak: simulator started");

    let log = Arc::new(Mutex::new(WriteLog::default()));
    let venue = KanaVenue::new(kana_for(&handle, chain_id, settings.client), clock)
        .with_credentials(Credentials {
            api_key: Secret::new(api_key),
            key,
        })
        .with_signed_hook(spy_signed_hook(Arc::clone(&log)));
    let session = match Box::new(venue).connect(&config.market_ids()).await {
        Ok(s) => s,
        Err(e) => {
            handle.stop();
            return Err(e.into());
        }
    };
    let started = tokio::time::Instant::now();

    let spy: Arc<dyn VenueWriter> = Arc::new(SpyWriter {
        inner: session.writer,
        log: Arc::clone(&log),
    });
    let (events, tap_seen, tap_task) = tap(session.events);
    let session = VenueSession {
        markets: session.markets,
        events,
        writer: spy,
    };
    let engine = Engine::new(
        session,
        strategy,
        config.risk.clone(),
        config.rate_limits.clone(),
        engine_config,
        clock,
    );

    // When the settle began and ended (set by the timeline task).
    let phases: Arc<Mutex<(Option<tokio::time::Instant>, Option<tokio::time::Instant>)>> =
        Arc::new(Mutex::new((None, None)));
    // The risk sampler runs for the whole run, storm and settle and shutdown.
    let limits = Limits::of(&config.risk);
    let risk_seen = Arc::new(Mutex::new(RiskSeen::default()));
    let sampler = {
        let shared = Arc::clone(&shared);
        let seen = Arc::clone(&risk_seen);
        let phases = Arc::clone(&phases);
        let every = settings.sample_every;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let at = started.elapsed().as_secs();
                let settling = {
                    let p = lock(&phases);
                    p.0.is_some() && p.1.is_none()
                };
                let mut s = lock(&seen);
                sample(&shared, profile, &limits, at, settling, &mut s);
            }
        })
    };

    if let Err(e) = shared.set_faults(storm.clone()) {
        sampler.abort();
        tap_task.abort();
        handle.stop();
        return Err(SoakError::Config(e));
    }
    info!(
        secs = settings.duration.as_secs_f64(),
        settle = settings.settle.as_secs_f64(),
        "soak: faults on"
    );
    let (control_tx, control_rx) = mpsc::channel(4);
    let forced: Arc<Mutex<Vec<&'static str>>> = Arc::new(Mutex::new(Vec::new()));
    let timeline = {
        let shared = Arc::clone(&shared);
        let phases = Arc::clone(&phases);
        let forced = Arc::clone(&forced);
        let storm_for = settings.duration.saturating_sub(settings.settle);
        let storm_end = tokio::time::Instant::now() + storm_for;
        let force_at = settings.force_missing_from.map(|f| storm_for.mul_f64(f));
        let settle = settings.settle;
        let storm = storm.clone();
        tokio::spawn(async move {
            if let Some(at) = force_at {
                tokio::time::sleep(at).await;
                let overtime = storm_end + storm_for / 2;
                let names = force_missing(&shared, &storm, storm_end, overtime).await;
                *lock(&forced) = names;
            }
            tokio::time::sleep_until(storm_end).await;
            if let Err(e) = shared.set_faults(calm) {
                warn!(error = %e, "soak: cannot switch the faults off");
            }
            info!("soak: faults off; settling");
            lock(&phases).0 = Some(tokio::time::Instant::now());
            tokio::time::sleep(settle).await;
            lock(&phases).1 = Some(tokio::time::Instant::now());
            info!("soak: shutting down");
            let _ = control_tx.send(Control::Shutdown).await;
            // Keep the sender alive: a closed control channel is not a shutdown.
            std::future::pending::<()>().await;
        })
    };
    let joined = tokio::spawn(engine.run(control_rx)).await;
    timeline.abort();
    // Whatever stopped the engine, the faults are off for the drain and the comparison.
    let _ = shared.set_faults(FaultConfig {
        seed: settings.seed,
        ..FaultConfig::default()
    });
    tokio::time::sleep(settings.drain).await;
    sampler.abort();
    let stream_ended_early = {
        let t = lock(&tap_seen);
        t.ended
    };
    tap_task.abort();

    let (finished, engine_panicked) = match joined {
        Ok(f) => (Some(f), false),
        Err(e) => {
            warn!(error = %e, "soak: the engine task did not return");
            (None, e.is_panic())
        }
    };
    let (leftovers, tap_final) = {
        let mut t = lock(&tap_seen);
        let leftovers = std::mem::take(&mut t.leftovers);
        let snapshot = Tap {
            events: t.events,
            reconnects: t.reconnects,
            resyncs: t.resyncs,
            disconnects: t.disconnects,
            ended: t.ended,
            leftovers: Vec::new(),
        };
        (leftovers, snapshot)
    };
    let truth = read_truth(&shared, wallet, profile);
    let injected = shared.injected();
    let elapsed = started.elapsed();
    handle.stop();

    let mut anomalies = Anomalies::default();
    let mut orphan_views = Vec::new();
    let (run, local_at_stop, local) = match finished {
        Some(f) => {
            let a = f.state.anomalies();
            anomalies = Anomalies {
                illegal_transitions: a.illegal_transitions,
                unknown_order_fills: a.unknown_order_fills,
                duplicate_fills: a.duplicate_fills,
                unknown_market_events: a.unknown_market_events,
                misattributed_venue_ids: a.misattributed_venue_ids,
            };
            let at_stop = positions_of(&f.state);
            orphan_views = truth
                .open
                .iter()
                .map(|o| {
                    let id = f.state.client_id_for(o.id);
                    match id.and_then(|id| f.state.order(id)) {
                        Some(order) => format!(
                            "{} ({}): {:?}, filled {} of {} lots, venue id {:?}",
                            order.client_id(),
                            o.id,
                            order.status,
                            order.filled.0,
                            order.request.order.lots.0,
                            order.venue_id.map(|v| v.to_string())
                        ),
                        None => format!("{}: not known to the bot", o.id),
                    }
                })
                .collect();
            let mut state = f.state;
            for e in &leftovers {
                state.apply(e);
            }
            (Some(f.summary), at_stop, positions_of(&state))
        }
        None => (None, BTreeMap::new(), BTreeMap::new()),
    };
    let log = lock(&log);
    let settle_window = {
        let p = lock(&phases);
        p.0.zip(p.1)
    };
    let handling = handling_of(&log, &tap_final, leftovers.len() as u64, settle_window);
    let mut orders = audit(&log, &truth);
    orders.orphans_as_the_bot_saw_them = orphan_views;
    let request_log = request_log(&log, started);
    drop(log);
    let risk = lock(&risk_seen).clone();

    let mut keys: Vec<(MarketId, PositionSide)> = truth.positions.keys().copied().collect();
    keys.extend(local.keys().copied());
    keys.extend(local_at_stop.keys().copied());
    keys.sort();
    keys.dedup();
    let positions: Vec<PositionCheck> = keys
        .into_iter()
        .map(|k| PositionCheck {
            market: k.0.0,
            side: side_name(k.1).into(),
            local_lots: local.get(&k).copied().unwrap_or(0),
            local_lots_at_stop: local_at_stop.get(&k).copied().unwrap_or(0),
            venue_lots: truth.positions.get(&k).copied().unwrap_or(0),
        })
        .collect();

    let fault_counts = fault_counts(&storm, &injected, &handling);
    let forced = lock(&forced).clone();
    let fault_kinds_missed = fault_counts
        .iter()
        .filter(|f| f.probability > 0.0 && f.injected == 0)
        .map(|f| f.kind)
        .collect();
    let invariants = verdict(&Findings {
        orders: &orders,
        positions: &positions,
        risk: &risk,
        handling: &handling,
        run: run.as_ref(),
        engine_panicked,
        stream_ended_early,
        settled: settle_window.is_some(),
    });
    Ok(SoakReport {
        seed: settings.seed,
        time_base: "wall clock",
        duration_secs: settings.duration.as_secs_f64(),
        settle_secs: settings.settle.as_secs_f64(),
        elapsed_secs: elapsed.as_secs_f64(),
        faults: storm,
        injected,
        fault_counts,
        fault_kinds_missed,
        forced,
        handling,
        orders,
        positions,
        risk,
        engine_panicked,
        stream_ended_early,
        anomalies,
        run,
        request_log,
        invariants,
    })
}

/// Everything the verdict looks at.
struct Findings<'a> {
    orders: &'a OrderAudit,
    positions: &'a [PositionCheck],
    risk: &'a RiskSeen,
    handling: &'a Handling,
    run: Option<&'a RunSummary>,
    engine_panicked: bool,
    stream_ended_early: bool,
    /// The settle ran to its end (the engine did not stop before).
    settled: bool,
}

fn verdict(f: &Findings<'_>) -> Vec<Invariant> {
    let Findings {
        orders,
        positions,
        risk,
        handling,
        run,
        engine_panicked,
        stream_ended_early,
        settled,
    } = *f;
    let failure = run.and_then(|r| r.strategy_failure.clone());
    let mismatched: Vec<String> = positions
        .iter()
        .filter(|p| p.local_lots != p.venue_lots)
        .map(|p| {
            format!(
                "{}/{}: bot {} vs simulator {} lots",
                p.market, p.side, p.local_lots, p.venue_lots
            )
        })
        .collect();
    let left_open = run.map_or(0, |r| r.left_open.len());
    vec![
        Invariant {
            name: "no_panic",
            ok: !engine_panicked && failure.is_none() && run.is_some(),
            detail: match (&failure, engine_panicked) {
                (Some(f), _) => f.clone(),
                (None, true) => "the engine task panicked".into(),
                (None, false) if run.is_none() => "the engine task did not return".into(),
                _ => "the engine returned its summary; no strategy panic".into(),
            },
        },
        Invariant {
            name: "stream_stayed_up",
            ok: !stream_ended_early,
            detail: if stream_ended_early {
                "the venue stream ended before the shutdown".into()
            } else {
                "the venue stream ran until the end".into()
            },
        },
        Invariant {
            name: "no_duplicates",
            ok: orders.duplicates.is_empty(),
            detail: format!(
                "{} intents, {} venue orders, {} duplicated",
                orders.intents,
                orders.venue_orders,
                orders.duplicates.len()
            ),
        },
        Invariant {
            name: "all_orders_explained",
            ok: orders.unexplained_count == 0 && orders.misjudged_count == 0,
            detail: format!(
                "{} venue orders no request accounts for; {} outcomes contradicting the chain",
                orders.unexplained_count, orders.misjudged_count
            ),
        },
        Invariant {
            name: "no_orphans",
            ok: orders.orphans.is_empty() && orders.pending_placing_transactions == 0,
            detail: format!(
                "{} of the bot's orders resting on the venue after shutdown, {} placing transactions pending",
                orders.orphans.len(),
                orders.pending_placing_transactions,
            ),
        },
        Invariant {
            name: "clean_shutdown",
            ok: run.is_some() && left_open == 0,
            detail: format!(
                "{left_open} orders the bot could not confirm closed at exit (`perpbot run` would exit 2)"
            ),
        },
        Invariant {
            name: "quoting_after_storm",
            ok: settled && risk.max_open_orders_in_settle > 0,
            detail: format!(
                "during the fault-free settle: {} orders resting at most, {} placing requests sent{}",
                risk.max_open_orders_in_settle,
                handling.placing_requests_in_settle,
                if settled {
                    ""
                } else {
                    " (the engine stopped before the settle ended)"
                }
            ),
        },
        Invariant {
            name: "positions_match",
            ok: mismatched.is_empty(),
            detail: if mismatched.is_empty() {
                format!("{} market sides equal", positions.len())
            } else {
                mismatched.join("; ")
            },
        },
        Invariant {
            name: "risk_limits_held",
            ok: risk.breached_samples == 0 && risk.samples > 0,
            detail: format!(
                "{} of {} samples over a limit{}",
                risk.breached_samples,
                risk.samples,
                risk.breaches
                    .first()
                    .map(|b| format!(
                        "; first at {} s: {} {} > {}",
                        b.at_secs, b.limit, b.value, b.max
                    ))
                    .unwrap_or_default()
            ),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settle_not_longer_than_the_transaction_expiry_is_refused() {
        // 30 s used to give a 10 s settle, equal to the 10 s expiry: a false FAIL.
        let short = SoakSettings::new(Duration::from_secs(30), 1, 0.05);
        assert!(short.settle > Duration::from_secs(short.client.expiration_secs));
        assert_eq!(short.validate(), Ok(()));
        let mut settings = short.clone();
        settings.settle = Duration::from_secs(settings.client.expiration_secs);
        let err = settings.validate().unwrap_err();
        assert!(err.contains("transaction expiry"), "{err}");
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("300"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3_600)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("1d").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("-5").is_err());
    }

    #[test]
    fn the_profile_switches_every_fault_on_and_validates() {
        let f = fault_profile(0.05, 3);
        f.validate("faults").unwrap();
        assert_eq!(f.seed, 3);
        for p in [
            f.ws_drop_probability,
            f.ws_stall_probability,
            f.ws_malformed_probability,
            f.rest_429_probability,
            f.rest_5xx_probability,
            f.rest_timeout_probability,
            f.node_429_probability,
            f.node_5xx_probability,
            f.tx_abort_probability,
            f.tx_expire_probability,
            f.tx_lose_probability,
            f.sequence_skew_probability,
        ] {
            assert!(p > 0.0 && p <= 1.0, "{f:?}");
        }
        let off = fault_profile(0.0, 3);
        assert_eq!(
            off,
            FaultConfig {
                seed: 3,
                ws_stall_ms: 2_000,
                ..FaultConfig::default()
            }
        );
        fault_profile(5.0, 1).validate("faults").unwrap();
        fault_profile(f64::NAN, 1).validate("faults").unwrap();
    }

    #[test]
    fn refusals_are_bucketed_by_cause() {
        assert_eq!(
            refusal_cause("transaction 0xab expired before it committed"),
            "expired"
        );
        assert_eq!(refusal_cause("Kana REST: 503 Service"), "rest");
        assert_eq!(refusal_cause("node refused the transaction: bad"), "node");
        assert_eq!(refusal_cause("Move abort 1002 E_PAUSED"), "abort");
    }

    #[test]
    fn a_rejection_names_its_hash() {
        let h = format!("0x{}", "ab".repeat(32));
        assert_eq!(
            hash_in(&format!("transaction {h} expired before it committed")),
            Some(h)
        );
        assert_eq!(hash_in("no hash here"), None);
    }

    fn order(id: u128, hash: &str, price: u64) -> SimOrder {
        SimOrder {
            market: MarketId(1338),
            id: VenueOrderId(id),
            hash: hash.into(),
            seq: 1,
            side: PositionSide::Long,
            direction: Direction::Open,
            kind: OrderKind::Limit,
            price,
            lots: 1000,
        }
    }

    fn place(client: u64, price: u64) -> OrderRequest {
        OrderRequest {
            client_id: ClientOrderId(client),
            order: crate::model::NewOrder::limit(
                MarketId(1338),
                crate::model::Side::Buy,
                Lots(1000),
                Ticks(price),
            ),
        }
    }

    fn sent(place: Vec<OrderRequest>, first: RequestOutcome, last: RequestOutcome) -> Sent {
        let tokens = match &first {
            RequestOutcome::Ambiguous { token: Some(t), .. } => vec![t.clone()],
            _ => Vec::new(),
        };
        Sent {
            at: tokio::time::Instant::now(),
            request: VenueRequest::Orders {
                market: MarketId(1338),
                cancel: Vec::new(),
                place,
            },
            first: Some(first),
            last: Some(last),
            tokens,
            resolves: 0,
        }
    }

    fn accepted(placed: Vec<(u64, Option<u128>)>) -> RequestOutcome {
        RequestOutcome::Accepted {
            placed: placed
                .into_iter()
                .map(|(c, v)| (ClientOrderId(c), v.map(VenueOrderId)))
                .collect(),
        }
    }

    fn truth_of(orders: Vec<SimOrder>, txs: &[(&str, Chain)]) -> Truth {
        Truth {
            txs: txs
                .iter()
                .map(|(h, c)| ((*h).to_string(), (1, *c)))
                .collect(),
            orders,
            ..Truth::default()
        }
    }

    fn log_of(sent: Vec<Sent>) -> WriteLog {
        let mut log = WriteLog::default();
        for (i, s) in sent.iter().enumerate() {
            for t in &s.tokens {
                log.by_token.insert(t.clone(), i);
            }
        }
        log.sent = sent;
        log
    }

    /// Orders are attributed by id, by transaction hash and by shape; a clean run has no
    /// duplicate and nothing unexplained.
    #[test]
    fn attribution_by_id_hash_and_shape() {
        let ambiguous = RequestOutcome::Ambiguous {
            reason: "timeout".into(),
            token: Some("0xh2".into()),
        };
        let log = log_of(vec![
            sent(
                vec![place(1, 100)],
                accepted(vec![(1, Some(11))]),
                accepted(vec![(1, Some(11))]),
            ),
            sent(vec![place(2, 101)], ambiguous.clone(), ambiguous),
            sent(
                vec![place(3, 102)],
                accepted(vec![(3, None)]),
                accepted(vec![(3, None)]),
            ),
        ]);
        let truth = truth_of(
            vec![
                order(11, "0xh1", 100),
                order(12, "0xh2", 101),
                order(13, "0xh3", 102),
            ],
            &[
                ("0xh1", Chain::Committed),
                ("0xh2", Chain::Committed),
                ("0xh3", Chain::Committed),
            ],
        );
        let a = audit(&log, &truth);
        assert_eq!((a.by_venue_id, a.by_tx_hash, a.by_fields), (1, 1, 1));
        assert!(a.duplicates.is_empty(), "{a:?}");
        assert_eq!(a.unexplained_count, 0);
        assert_eq!(a.misjudged_count, 0);
        assert_eq!(a.intents, 3);
    }

    /// An intent resubmitted after an ambiguous outcome that committed twice is a duplicate; a
    /// refusal whose transaction committed is misjudged; an order nobody sent is unexplained.
    #[test]
    fn duplicates_misjudged_and_unexplained_are_found() {
        let ambiguous = RequestOutcome::Ambiguous {
            reason: "timeout".into(),
            token: Some("0xh1".into()),
        };
        let refused = RequestOutcome::rejected("transaction 0xh1 expired");
        let log = log_of(vec![
            sent(vec![place(1, 100)], ambiguous, refused),
            sent(
                vec![place(1, 100)],
                accepted(vec![(1, Some(12))]),
                accepted(vec![(1, Some(12))]),
            ),
        ]);
        let truth = truth_of(
            vec![
                order(11, "0xh1", 100),
                order(12, "0xh2", 100),
                order(13, "0xh9", 555),
            ],
            &[("0xh1", Chain::Committed), ("0xh2", Chain::Committed)],
        );
        let a = audit(&log, &truth);
        assert_eq!(a.duplicates.len(), 1, "{a:?}");
        assert_eq!(a.duplicates[0].intent, "c1");
        assert_eq!(a.duplicates[0].venue_orders.len(), 2);
        assert_eq!(a.duplicates[0].requests, 2);
        assert_eq!(a.misjudged_count, 1, "{a:?}");
        assert_eq!(a.unexplained_count, 1);
        assert_eq!(a.unexplained[0].price_ticks, 555);
    }

    /// A refused request and a later accepted one that signed the byte-identical transaction
    /// (same payload, the freed number, the same expiry second): the chain executed it once, as
    /// the accepted one's. The signing hook gives the accepted request its hash, so the refusal
    /// is not counted as misjudged; without that hash it would be.
    #[test]
    fn a_refused_hash_committed_as_another_requests_is_not_misjudged() {
        let refused =
            RequestOutcome::rejected("node refused the transaction: 0xh1 rejected (HTTP 429)");
        let mut first = sent(vec![place(1, 100)], refused.clone(), refused);
        first.tokens = vec!["0xh1".into()];
        let mut second = sent(
            vec![place(2, 100)],
            accepted(vec![(2, Some(11))]),
            accepted(vec![(2, Some(11))]),
        );
        let truth = truth_of(vec![order(11, "0xh1", 100)], &[("0xh1", Chain::Committed)]);
        let unsigned = log_of(vec![first.clone(), second.clone()]);
        assert_eq!(audit(&unsigned, &truth).misjudged_count, 1);
        second.tokens = vec!["0xh1".into()];
        let a = audit(&log_of(vec![first, second]), &truth);
        assert_eq!(a.misjudged_count, 0, "{a:?}");
        assert!(a.duplicates.is_empty(), "{a:?}");
    }

    #[test]
    fn the_sampler_flags_a_position_over_its_limits() {
        use crate::sim::server::{SimConfig, build};
        let shared = build(
            SimConfig::default(),
            Clock::starting_at(crate::model::Timestamp::from_secs(1_750_000_000)),
        )
        .unwrap();
        let profile = AccountAddress::new([9; 32]);
        let limits = Limits {
            size: BTreeMap::from([(MarketId(1338), Decimal::ONE)]),
            notional: Decimal::from(10),
            total: Decimal::from(10),
            leverage: 5,
            open_orders: 0,
        };
        let mut seen = RiskSeen::default();
        sample(&shared, profile, &limits, 0, false, &mut seen);
        assert_eq!(seen.samples, 1);
        assert_eq!(seen.breached_samples, 0, "nothing held, nothing breached");
    }
}
