//! The chaos soak on Kyan: the config's strategy against the in-process **Kyan** simulator, through
//! the real Kyan client (signed session, REST orders, private WebSocket, public stream), while
//! every fault the Kyan simulator can inject is on at a seeded rate — WebSocket drops, stalls,
//! malformed frames and `seq_id` gaps, REST 429s, 5xx answers (half of them after the request
//! took effect: the ambiguous case) and stalls past the client's timeout — and the private
//! WebSocket session is capped at seconds instead of Kyan's hour. At the end the bot's account of
//! the run is compared with the simulator's truth (its books, positions and fills), as the Kana
//! soak does with its chain.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use perpbot::soak::kyan::{KyanSoakSettings, run};
//! let config = perpbot::config::Config::load("config/kyan-sim.toml".as_ref())?;
//! let settings = KyanSoakSettings::new(std::time::Duration::from_secs(60), 7, 0.05);
//! let report = run(&config, &perpbot::strategies::builtin_registry(), &settings).await?;
//! print!("{}", report.table());
//! assert!(report.passed());
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::Serialize;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::common::{Held, Limits, check_sample, lock, tap};
use super::{Invariant, RiskSeen, SoakError};
use crate::clock::Clock;
use crate::config::{Config, Secret, VenueKind};
use crate::engine::{Control, Engine, RunSummary};
use crate::sim::kyan::{KyanFaultTally, KyanFaults, KyanTruth};
use crate::strategy::StrategyRegistry;
use crate::venue::kyan::{KyanCredentials, KyanVenue};
use crate::venue::{
    RequestContext, RequestOutcome, TxCosts, Venue, VenueCapabilities, VenueRequest, VenueSession,
    VenueWriter,
};

/// How long, how stormy, how seeded.
#[derive(Debug, Clone, PartialEq)]
pub struct KyanSoakSettings {
    /// Whole run, wall clock: storm plus settle (the graceful shutdown comes after).
    pub duration: Duration,
    /// The last part of `duration`, with faults off.
    pub settle: Duration,
    /// Seeds the fault stream, the synthetic market and the bot's generated key.
    pub seed: u64,
    /// The faults in force during the storm (`seed` is replaced by [`KyanSoakSettings::seed`]).
    pub faults: KyanFaults,
    /// The private WebSocket session cap during the whole run (Kyan's is an hour).
    pub session_cap_secs: u64,
    /// How often the simulator's positions and orders are sampled for the risk check.
    pub sample_every: Duration,
    /// Wait after the engine stops before the truth is read (late answers and events land).
    pub drain: Duration,
}

impl KyanSoakSettings {
    /// `duration` of soak at `fault_rate` ([`fault_profile`]), seeded; the settle is a third of
    /// the run, at most 30 s; the session cap is a quarter of the run (at least 10 s).
    pub fn new(duration: Duration, seed: u64, fault_rate: f64) -> KyanSoakSettings {
        KyanSoakSettings {
            duration,
            settle: Duration::from_secs(30).min(duration / 3),
            seed,
            faults: fault_profile(fault_rate, seed),
            session_cap_secs: (duration.as_secs() / 4).max(10),
            sample_every: Duration::from_millis(250),
            drain: Duration::from_secs(2),
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
        if self.session_cap_secs == 0 {
            return Err("session_cap_secs must be positive".into());
        }
        self.faults.validate("faults")
    }
}

/// Every Kyan fault kind at a rate derived from one number, `rate` (the probability per REST
/// call), scaled for faults drawn on more frequent events so each kind is met at a similar pace:
///
/// | kind | probability |
/// |---|---|
/// | `rest_429`, `rest_5xx` | `rate / 2` each per REST call (half of the 5xx after applying) |
/// | `rest_timeout` | `rate / 5` per REST call (stalled 12 s: past the client's 10 s timeout) |
/// | `ws_drop`, `ws_stall` | `rate / 10` each per event (a stall holds 2 s) |
/// | `ws_malformed`, `ws_seq_gap` | `rate / 5` each per event |
///
/// Every probability is capped at 1; `rate = 0` switches everything off.
pub fn fault_profile(rate: f64, seed: u64) -> KyanFaults {
    let r = if rate.is_finite() { rate.max(0.0) } else { 0.0 };
    let p = |x: f64| x.min(1.0);
    KyanFaults {
        seed,
        ws_drop_probability: p(r / 10.0),
        ws_stall_probability: p(r / 10.0),
        ws_stall_ms: 2_000,
        ws_malformed_probability: p(r / 5.0),
        ws_seq_gap_probability: p(r / 5.0),
        rest_429_probability: p(r / 2.0),
        retry_after_secs: 1,
        rest_5xx_probability: p(r / 2.0),
        rest_timeout_probability: p(r / 5.0),
        rest_stall_ms: 12_000,
    }
}

/// How the bot's requests ended, as the writer reported them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RequestCounts {
    /// Requests executed.
    pub sent: u64,
    /// Orders those requests asked to place.
    pub orders_placed: u64,
    /// Accepted whole.
    pub accepted: u64,
    /// Partly taken effect.
    pub partial: u64,
    /// Refused whole, by refusal kind.
    pub rejected: BTreeMap<String, u64>,
    /// Ambiguous when answered.
    pub ambiguous: u64,
    /// Resolution attempts of ambiguous requests.
    pub resolves: u64,
    /// Resolutions still ambiguous.
    pub resolves_still_ambiguous: u64,
}

/// The writer under test, counting what it is asked and how it answers.
struct CountingWriter {
    inner: Arc<dyn VenueWriter>,
    counts: Arc<Mutex<RequestCounts>>,
}

impl CountingWriter {
    fn record(&self, outcome: &RequestOutcome) {
        let mut c = lock(&self.counts);
        match outcome {
            RequestOutcome::Accepted { .. } => c.accepted += 1,
            RequestOutcome::Partial { .. } => c.partial += 1,
            RequestOutcome::Rejected { kind, .. } => {
                *c.rejected.entry(format!("{kind:?}")).or_default() += 1;
            }
            RequestOutcome::Ambiguous { .. } => c.ambiguous += 1,
        }
    }
}

#[async_trait]
impl VenueWriter for CountingWriter {
    fn capabilities(&self) -> VenueCapabilities {
        self.inner.capabilities()
    }

    fn engine_alive(&self) {
        self.inner.engine_alive();
    }

    async fn execute(&self, request: VenueRequest, ctx: &RequestContext) -> RequestOutcome {
        {
            let mut c = lock(&self.counts);
            c.sent += 1;
            if let VenueRequest::Orders { place, .. } = &request {
                c.orders_placed += place.len() as u64;
            }
        }
        let outcome = self.inner.execute(request, ctx).await;
        self.record(&outcome);
        outcome
    }

    async fn resolve(&self, request: &VenueRequest, token: Option<&str>) -> RequestOutcome {
        let outcome = self.inner.resolve(request, token).await;
        let mut c = lock(&self.counts);
        c.resolves += 1;
        if matches!(outcome, RequestOutcome::Ambiguous { .. }) {
            c.resolves_still_ambiguous += 1;
        }
        outcome
    }

    fn tx_costs(&self) -> TxCosts {
        self.inner.tx_costs()
    }
}

/// One market's position: the bot's (net, after the events that came in after its stop) and
/// the simulator's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetPositionCheck {
    /// The bot's market id.
    pub market: u64,
    /// Kyan's instrument.
    pub instrument: String,
    /// The bot's net size (base units; negative = short).
    pub bot: Decimal,
    /// The simulator's.
    pub venue: Decimal,
}

/// What a Kyan soak found.
#[derive(Debug, Clone, Serialize)]
pub struct KyanSoakReport {
    /// Seed of faults, market and key.
    pub seed: u64,
    /// Configured length (s).
    pub duration_secs: f64,
    /// Fault-free settle at the end (s).
    pub settle_secs: f64,
    /// Wall time taken, shutdown included (s).
    pub elapsed_secs: f64,
    /// Faults during the storm.
    pub faults: KyanFaults,
    /// The private WebSocket session cap (s).
    pub session_cap_secs: u64,
    /// What the simulator injected.
    pub injected: KyanFaultTally,
    /// Fault kinds switched on that were never injected.
    pub fault_kinds_missed: Vec<&'static str>,
    /// Reconnects, resyncs and disconnects the bot's stream reported.
    pub reconnects: u64,
    /// Resyncs completed.
    pub resyncs: u64,
    /// How the bot's requests ended.
    pub requests: RequestCounts,
    /// Orders the simulator accepted from the bot.
    pub venue_orders_accepted: u64,
    /// Fill events the bot applied (a fill that turns a position around is two: its close and
    /// its open part, since perpbot keeps hedge-mode sides and Kyan nets).
    pub bot_fills: u64,
    /// The simulator's fill records of the bot.
    pub venue_fills: u64,
    /// Fees the bot booked (USDC).
    pub bot_fees: Decimal,
    /// Fees the simulator charged the bot (USDC).
    pub venue_fees: Decimal,
    /// Fault kinds forced at half-time because the dice had not produced them.
    pub forced: Vec<&'static str>,
    /// Orders of the bot resting on the simulator after the shutdown.
    pub orphans: Vec<String>,
    /// Positions, bot against simulator.
    pub positions: Vec<NetPositionCheck>,
    /// The risk sampler.
    pub risk: RiskSeen,
    /// The engine's summary (none if it did not return).
    pub run: Option<RunSummary>,
    /// The verdict.
    pub invariants: Vec<Invariant>,
}

impl KyanSoakReport {
    /// True when every invariant held.
    pub fn passed(&self) -> bool {
        self.invariants.iter().all(|i| i.ok)
    }

    /// The report as a table for people.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let t = &self.injected;
        let r = &self.requests;
        let _ = writeln!(
            s,
            "── Kyan soak (seed {}, {} s, settle {} s, session cap {} s; took {:.1} s) ──",
            self.seed,
            self.duration_secs,
            self.settle_secs,
            self.session_cap_secs,
            self.elapsed_secs
        );
        let _ = writeln!(
            s,
            "  injected        ws drops {}, stalls {}, malformed {}, seq gaps {}; REST 429 {}, 5xx {} (+{} after applying), timeouts {}",
            t.ws_drops,
            t.ws_stalls,
            t.ws_malformed,
            t.ws_seq_gaps,
            t.rest_429,
            t.rest_5xx_unapplied,
            t.rest_5xx_applied,
            t.rest_timeouts
        );
        if !self.fault_kinds_missed.is_empty() {
            let _ = writeln!(
                s,
                "  never injected  {}",
                self.fault_kinds_missed.join(", ")
            );
        }
        let _ = writeln!(
            s,
            "  stream          {} reconnects, {} resyncs",
            self.reconnects, self.resyncs
        );
        let _ = writeln!(
            s,
            "  requests        {} sent ({} orders): {} accepted, {} partial, {} ambiguous ({} resolves, {} still ambiguous), refused {:?}",
            r.sent,
            r.orders_placed,
            r.accepted,
            r.partial,
            r.ambiguous,
            r.resolves,
            r.resolves_still_ambiguous,
            r.rejected
        );
        let _ = writeln!(
            s,
            "  venue           {} orders accepted, {} fill records (the bot applied {} fill events), fees {} (the bot booked {})",
            self.venue_orders_accepted,
            self.venue_fills,
            self.bot_fills,
            self.venue_fees,
            self.bot_fees
        );
        if !self.forced.is_empty() {
            let _ = writeln!(s, "  forced          {}", self.forced.join(", "));
        }
        for p in &self.positions {
            let _ = writeln!(
                s,
                "  position        {} ({}): bot {} vs simulator {}",
                p.instrument, p.market, p.bot, p.venue
            );
        }
        for i in &self.invariants {
            let _ = writeln!(
                s,
                "  {} {:<22} {}",
                if i.ok { "PASS" } else { "FAIL" },
                i.name,
                i.detail
            );
        }
        let _ = writeln!(s, "  {}", if self.passed() { "PASSED" } else { "FAILED" });
        s
    }
}

/// One sample of the simulator's view of the bot: positions against the limits, resting orders.
fn sample(
    truth: &KyanTruth,
    markets: &[(u64, String)],
    limits: &Limits,
    at: u64,
    settling: bool,
    seen: &mut RiskSeen,
) {
    let held: Vec<Held> = truth
        .positions
        .iter()
        .filter_map(|p| {
            let (id, _) = markets.iter().find(|(_, name)| *name == p.instrument)?;
            let size = p.contracts.abs();
            Some(Held {
                key: p.instrument.clone(),
                market: crate::model::MarketId(*id),
                size,
                notional: size * p.average_price,
                // Kyan has no per-position leverage.
                leverage: None,
            })
        })
        .collect();
    check_sample(&held, truth.open_orders.len(), limits, at, settling, seen);
}

/// The fault kinds switched on in `faults` that `tally` never counted.
fn missed(faults: &KyanFaults, tally: &KyanFaultTally) -> Vec<&'static str> {
    [
        ("ws_drop", faults.ws_drop_probability, tally.ws_drops),
        ("ws_stall", faults.ws_stall_probability, tally.ws_stalls),
        (
            "ws_malformed",
            faults.ws_malformed_probability,
            tally.ws_malformed,
        ),
        (
            "ws_seq_gap",
            faults.ws_seq_gap_probability,
            tally.ws_seq_gaps,
        ),
        ("rest_429", faults.rest_429_probability, tally.rest_429),
        (
            "rest_5xx",
            faults.rest_5xx_probability,
            tally.rest_5xx_unapplied + tally.rest_5xx_applied,
        ),
        (
            "rest_timeout",
            faults.rest_timeout_probability,
            tally.rest_timeouts,
        ),
    ]
    .into_iter()
    .filter(|(_, p, n)| *p > 0.0 && *n == 0)
    .map(|(name, _, _)| name)
    .collect()
}

/// Raise every fault kind the dice have not produced yet to probability 1/2 until each has
/// been injected once (or the storm ends), then put the storm back: a short soak then still
/// meets every kind. Returns the kinds it had to force.
async fn force_missing(
    shared: &crate::sim::kyan::Shared,
    storm: &KyanFaults,
    until: tokio::time::Instant,
) -> Vec<&'static str> {
    let forced = missed(storm, &shared.injected());
    if forced.is_empty() {
        return forced;
    }
    info!(kinds = ?forced, "Kyan soak: forcing the fault kinds not met yet");
    while tokio::time::Instant::now() < until {
        let missing = missed(storm, &shared.injected());
        if missing.is_empty() {
            break;
        }
        let mut faults = storm.clone();
        for kind in &missing {
            let p = match *kind {
                "ws_drop" => &mut faults.ws_drop_probability,
                "ws_stall" => &mut faults.ws_stall_probability,
                "ws_malformed" => &mut faults.ws_malformed_probability,
                "ws_seq_gap" => &mut faults.ws_seq_gap_probability,
                "rest_429" => &mut faults.rest_429_probability,
                "rest_5xx" => &mut faults.rest_5xx_probability,
                _ => &mut faults.rest_timeout_probability,
            };
            *p = 0.5;
        }
        if shared.set_faults(faults).is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Err(e) = shared.set_faults(storm.clone()) {
        warn!(error = %e, "Kyan soak: cannot restore the storm's faults");
    }
    forced
}

/// Longest reconnect back-off of the soak's client (ms), see [`run`].
const SOAK_BACKOFF_MAX_MS: u64 = 4_000;

/// Run the Kyan soak: start the Kyan simulator, connect the real Kyan client, trade through the
/// storm and the settle, shut down gracefully and compare. Needs a multi-threaded runtime.
pub async fn run(
    config: &Config,
    registry: &StrategyRegistry,
    settings: &KyanSoakSettings,
) -> Result<KyanSoakReport, SoakError> {
    settings.validate().map_err(SoakError::Config)?;
    if config.venue.kind != VenueKind::KyanSim {
        return Err(SoakError::Config(format!(
            "the Kyan soak runs against the in-process Kyan simulator: use a config with [venue] kind = \"kyan_sim\" (this one is {:?})",
            config.venue.kind
        )));
    }
    let strategy = registry.build(&config.strategy.name, &config.strategy.params)?;
    let mut engine_config = config.engine.clone();
    engine_config.kill_switch_file = None;

    let mut sim = config.venue.kyan_sim.clone();
    if let Some(s) = sim.synthetic.as_mut() {
        s.seed = settings.seed;
    }
    sim.session_cap_secs = settings.session_cap_secs;
    let calm = KyanFaults {
        seed: settings.seed,
        ..KyanFaults::default()
    };
    let storm = KyanFaults {
        seed: settings.seed,
        ..settings.faults.clone()
    };
    sim.faults = calm.clone();
    let clock = Clock::system();
    let bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let handle = crate::sim::kyan::start(sim.clone(), bind, clock)
        .await
        .map_err(SoakError::Sim)?;
    let shared = handle.shared();
    let key = crate::cli::kyan_venue::generated_key(settings.seed)
        .map_err(|e| SoakError::Config(e.to_string()))?;
    let maker = key.address();
    let mut kyan = crate::cli::kyan_venue::client_config(&handle, &sim, config.venue.kyan.as_ref())
        .map_err(|e| SoakError::Config(e.to_string()))?;
    // The soak compresses hours into seconds (sessions capped at seconds, a settle of 15 s in
    // CI): a reconnect back-off grown to production's 30 s would outlast the settle itself, so
    // it is capped in proportion. The growth (1 s, 2 s, 4 s) is still exercised.
    kyan.reconnect_backoff_max_ms = kyan.reconnect_backoff_max_ms.min(SOAK_BACKOFF_MAX_MS);
    let markets: Vec<(u64, String)> = kyan
        .markets
        .iter()
        .map(|m| (m.id, m.instrument.clone()))
        .collect();
    info!(rest = %handle.rest_url, %maker, "Kyan soak: simulator started");
    let venue = KyanVenue::new(kyan, clock).with_credentials(KyanCredentials {
        api_key: Secret::new(handle.api_key()),
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
    let counts = Arc::new(Mutex::new(RequestCounts::default()));
    let writer: Arc<dyn VenueWriter> = Arc::new(CountingWriter {
        inner: session.writer,
        counts: Arc::clone(&counts),
    });
    let (events, tap_seen, tap_task) = tap(session.events);
    let engine = Engine::new(
        VenueSession {
            markets: session.markets,
            events,
            writer,
            stream_stats: session.stream_stats,
        },
        strategy,
        config.risk.clone(),
        config.rate_limits.clone(),
        engine_config,
        clock,
    );

    // When the settle began and ended (set by the timeline task).
    let phases: Arc<Mutex<(Option<tokio::time::Instant>, Option<tokio::time::Instant>)>> =
        Arc::new(Mutex::new((None, None)));
    let limits = Limits::of(&config.risk);
    let risk_seen = Arc::new(Mutex::new(RiskSeen::default()));
    let sampler = {
        let shared = Arc::clone(&shared);
        let seen = Arc::clone(&risk_seen);
        let phases = Arc::clone(&phases);
        let markets = markets.clone();
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
                let truth = shared.truth(maker);
                sample(&truth, &markets, &limits, at, settling, &mut lock(&seen));
            }
        })
    };
    if let Err(e) = handle.set_faults(storm.clone()) {
        sampler.abort();
        tap_task.abort();
        handle.stop();
        return Err(SoakError::Config(e));
    }
    info!(
        secs = settings.duration.as_secs_f64(),
        settle = settings.settle.as_secs_f64(),
        "Kyan soak: faults on"
    );
    let (control_tx, control_rx) = mpsc::channel(4);
    let forced: Arc<Mutex<Vec<&'static str>>> = Arc::new(Mutex::new(Vec::new()));
    let timeline = {
        let shared = Arc::clone(&shared);
        let phases = Arc::clone(&phases);
        let forced = Arc::clone(&forced);
        let storm_for = settings.duration.saturating_sub(settings.settle);
        let settle = settings.settle;
        let calm = calm.clone();
        let storm = storm.clone();
        tokio::spawn(async move {
            let storm_end = tokio::time::Instant::now() + storm_for;
            tokio::time::sleep(storm_for / 2).await;
            *lock(&forced) = force_missing(&shared, &storm, storm_end).await;
            tokio::time::sleep_until(storm_end).await;
            if let Err(e) = shared.set_faults(calm) {
                warn!(error = %e, "Kyan soak: cannot switch the faults off");
            }
            info!("Kyan soak: faults off; settling");
            lock(&phases).0 = Some(tokio::time::Instant::now());
            tokio::time::sleep(settle).await;
            lock(&phases).1 = Some(tokio::time::Instant::now());
            info!("Kyan soak: shutting down");
            let _ = control_tx.send(Control::Shutdown).await;
            // Keep the sender alive: a closed control channel is not a shutdown.
            std::future::pending::<()>().await;
        })
    };
    let joined = tokio::spawn(engine.run(control_rx)).await;
    timeline.abort();
    let _ = handle.set_faults(calm);
    tokio::time::sleep(settings.drain).await;
    sampler.abort();
    let (stream_ended_early, reconnects, resyncs, leftovers) = {
        let mut t = lock(&tap_seen);
        (
            t.ended,
            t.reconnects,
            t.resyncs,
            std::mem::take(&mut t.leftovers),
        )
    };
    tap_task.abort();
    let (finished, engine_panicked) = match joined {
        Ok(f) => (Some(f), false),
        Err(e) => {
            warn!(error = %e, "Kyan soak: the engine task did not return");
            (None, e.is_panic())
        }
    };
    let truth = handle.truth(maker);
    let injected = handle.injected();
    let elapsed = started.elapsed();
    handle.stop();

    let settled = {
        let p = lock(&phases);
        p.0.is_some() && p.1.is_some()
    };
    let traded = config.market_ids();
    let (run, positions, bot_fills, bot_fees) = match finished {
        Some(f) => {
            let mut state = f.state;
            for e in &leftovers {
                state.apply(e);
            }
            let positions = markets
                .iter()
                .filter(|(id, _)| traded.contains(&crate::model::MarketId(*id)))
                .map(|(id, instrument)| {
                    let market = crate::model::MarketId(*id);
                    let bot = state
                        .markets()
                        .find(|s| s.id == market)
                        .map_or(Decimal::ZERO, |spec| {
                            spec.signed_size(state.net_lots(market))
                        });
                    NetPositionCheck {
                        market: *id,
                        instrument: instrument.clone(),
                        bot,
                        venue: truth.position(instrument),
                    }
                })
                .collect();
            let fills = f.summary.fills;
            let fees = state.fees_paid();
            (Some(f.summary), positions, fills, fees)
        }
        None => (None, Vec::new(), 0, Decimal::ZERO),
    };
    let requests = lock(&counts).clone();
    let risk = lock(&risk_seen).clone();
    let orphans: Vec<String> = truth
        .open_orders
        .iter()
        .map(|o| {
            format!(
                "{} {} {} {} @ {}",
                o.order_id, o.instrument, o.direction, o.remaining, o.price
            )
        })
        .collect();
    let invariants = verdict(&Verdict {
        run: run.as_ref(),
        engine_panicked,
        stream_ended_early,
        settled,
        requests: &requests,
        truth: &truth,
        bot_fees,
        orphans: &orphans,
        positions: &positions,
        risk: &risk,
    });
    Ok(KyanSoakReport {
        seed: settings.seed,
        duration_secs: settings.duration.as_secs_f64(),
        settle_secs: settings.settle.as_secs_f64(),
        elapsed_secs: elapsed.as_secs_f64(),
        fault_kinds_missed: missed(&storm, &injected),
        faults: storm,
        session_cap_secs: settings.session_cap_secs,
        injected,
        reconnects,
        resyncs,
        requests,
        venue_orders_accepted: truth.orders_accepted,
        bot_fills,
        venue_fills: truth.fills,
        bot_fees,
        venue_fees: truth.fees_paid,
        forced: lock(&forced).clone(),
        orphans,
        positions,
        risk,
        run,
        invariants,
    })
}

/// Everything the verdict looks at.
struct Verdict<'a> {
    run: Option<&'a RunSummary>,
    engine_panicked: bool,
    stream_ended_early: bool,
    settled: bool,
    requests: &'a RequestCounts,
    truth: &'a KyanTruth,
    bot_fees: Decimal,
    orphans: &'a [String],
    positions: &'a [NetPositionCheck],
    risk: &'a RiskSeen,
}

fn verdict(v: &Verdict<'_>) -> Vec<Invariant> {
    let failure = v.run.and_then(|r| r.strategy_failure.clone());
    let left_open = v.run.map_or(0, |r| r.left_open.len());
    let mismatched: Vec<String> = v
        .positions
        .iter()
        .filter(|p| p.bot != p.venue)
        .map(|p| format!("{}: bot {} vs simulator {}", p.instrument, p.bot, p.venue))
        .collect();
    vec![
        Invariant {
            name: "no_panic",
            ok: !v.engine_panicked && failure.is_none() && v.run.is_some(),
            detail: match (&failure, v.engine_panicked) {
                (Some(f), _) => f.clone(),
                (None, true) => "the engine task panicked".into(),
                (None, false) if v.run.is_none() => "the engine task did not return".into(),
                _ => "the engine returned its summary; no strategy panic".into(),
            },
        },
        Invariant {
            name: "stream_stayed_up",
            ok: !v.stream_ended_early,
            detail: if v.stream_ended_early {
                "the venue stream ended before the shutdown".into()
            } else {
                "the venue stream ran until the end".into()
            },
        },
        Invariant {
            name: "no_duplicate_orders",
            ok: v.truth.orders_accepted <= v.requests.orders_placed,
            detail: format!(
                "the simulator accepted {} orders; the bot sent {} (an ambiguous request is resolved by reading, never resent)",
                v.truth.orders_accepted, v.requests.orders_placed
            ),
        },
        Invariant {
            // Every fill carries its fee (to the micro-dollar), so a fill counted twice shows as
            // more fees than the simulator charged; fewer means fills the streams lost (the
            // positions still settle them, see positions_match).
            name: "no_duplicate_fills",
            ok: v.bot_fees <= v.truth.fees_paid,
            detail: format!(
                "fees booked {} of the {} charged ({} unseen)",
                v.bot_fees,
                v.truth.fees_paid,
                v.truth.fees_paid - v.bot_fees
            ),
        },
        Invariant {
            name: "no_orphans",
            ok: v.orphans.is_empty(),
            detail: format!(
                "{} of the bot's orders resting on the simulator after shutdown{}",
                v.orphans.len(),
                v.orphans
                    .first()
                    .map(|o| format!(" (first: {o})"))
                    .unwrap_or_default()
            ),
        },
        Invariant {
            name: "clean_shutdown",
            ok: v.run.is_some() && left_open == 0,
            detail: format!("{left_open} orders the bot could not confirm closed at exit"),
        },
        Invariant {
            name: "quoting_after_storm",
            ok: v.settled && v.risk.max_open_orders_in_settle > 0,
            detail: format!(
                "during the fault-free settle: {} orders resting at most{}",
                v.risk.max_open_orders_in_settle,
                if v.settled {
                    ""
                } else {
                    " (the engine stopped before the settle ended)"
                }
            ),
        },
        Invariant {
            name: "positions_match",
            ok: mismatched.is_empty() && !v.positions.is_empty(),
            detail: if mismatched.is_empty() {
                format!("{} markets equal", v.positions.len())
            } else {
                mismatched.join("; ")
            },
        },
        Invariant {
            name: "risk_limits_held",
            ok: v.risk.breached_samples == 0 && v.risk.samples > 0,
            detail: format!(
                "{} of {} samples over a limit{}",
                v.risk.breached_samples,
                v.risk.samples,
                v.risk
                    .breaches
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
