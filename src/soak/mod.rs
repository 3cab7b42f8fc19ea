//! Chaos soak: the strategy of a config (the built-in `market_maker` by default) runs against the
//! in-process simulator through the real Kana client — REST payload, BCS, Ed25519, node submit and
//! confirm, WebSocket indexer — while every fault the simulator can inject is switched on at a
//! seeded rate. At the end the bot's own account of the run is compared with the **simulator's
//! truth** (its exchange state and its transaction log), and a [`SoakReport`] says whether
//! anything was lost, duplicated, left behind or over-sized.
//!
//! The design and the reasons for it: `docs/design/soak.md`.
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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
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
    ClientOrderId, Direction, Lots, MarketId, OrderKind, OrderRequest, PositionSide, Ticks,
    VenueOrderId,
};
use crate::sim::server::{FaultConfig, FaultTally, Shared, SimHandle, TxnState};
use crate::state::{Anomalies, State};
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

mod common;
mod compare;
pub mod kyan;
mod report;

use common::{Held, Limits, Tap, check_sample, lock, tap};
use compare::*;
pub use report::*;

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

    /// The Kyan soak's settings (a config of `kind = "kyan_sim"`), with the config's
    /// `[venue.kyan_sim.faults]` as the storm where no rate is given and it switches one on.
    pub fn kyan_settings(&self, config: &Config) -> kyan::KyanSoakSettings {
        let mut settings = kyan::KyanSoakSettings::new(
            self.duration,
            self.seed,
            self.fault_rate.unwrap_or(DEFAULT_FAULT_RATE),
        );
        let configured = crate::sim::kyan::KyanFaults {
            seed: crate::sim::kyan::KyanFaults::default().seed,
            ..config.venue.kyan_sim.faults.clone()
        };
        if self.fault_rate.is_none() && configured != crate::sim::kyan::KyanFaults::default() {
            settings.faults = configured;
        }
        settings
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

    fn engine_alive(&self) {
        self.inner.engine_alive();
    }

    async fn execute(
        &self,
        request: VenueRequest,
        ctx: &crate::venue::RequestContext,
    ) -> RequestOutcome {
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
        // The request's own context, with a hook in front that files its tokens under `idx`.
        let spied = crate::venue::RequestContext {
            scope: ctx.scope,
            on_sent: Some(spy_sent_hook(Arc::clone(&self.log), idx, ctx.clone())),
        };
        let outcome = self.inner.execute(request, &spied).await;
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

/// A hook that files every token (transaction hash) under request `idx` of the log, accepted
/// ones included, then hands it to the request's own hook (`inner`: the journal's): two
/// requests can sign byte-identical transactions (same payload, a number freed by a refusal, the
/// same expiry second), and only the hashes of both tell the audit that the refused one's hash
/// committed as the other's.
fn spy_sent_hook(
    log: Arc<Mutex<WriteLog>>,
    idx: usize,
    inner: crate::venue::RequestContext,
) -> crate::venue::SentHook {
    Arc::new(move |_scope, token: &crate::venue::ResumeToken| {
        {
            let hash = token.handle.clone();
            let mut log = lock(&log);
            log.by_token.insert(hash.clone(), idx);
            if let Some(s) = log.sent.get_mut(idx)
                && !s.tokens.contains(&hash)
            {
                s.tokens.push(hash);
            }
        }
        inner.sent(token)
    })
}

// ---------------------------------------------------------------------------------------------
// The risk sampler
// ---------------------------------------------------------------------------------------------

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
    let (held, open_orders) = {
        let core = shared.core();
        let ex = &core.exchange;
        let held: Vec<Held> = ex
            .positions(profile)
            .iter()
            .map(|p| Held {
                key: format!("{}/{}", p.market, side_name(p.trade_side)),
                market: p.market,
                size: ex
                    .spec(p.market)
                    .map_or(Decimal::ZERO, |s| s.lots_to_size(p.size)),
                notional: p.value.abs(),
                leverage: Some(p.leverage),
            })
            .collect();
        (held, ex.open_orders(profile, None).len())
    };
    check_sample(&held, open_orders, limits, at, settling, seen);
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
        balance_poll_ms: 10_000,
        faucet_package: None,
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
        });
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
        stream_stats: session.stream_stats,
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
            anomalies = f.state.anomalies().clone();
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
mod tests;
