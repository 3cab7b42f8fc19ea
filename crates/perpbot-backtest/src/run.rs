//! One backtest: recorded frames → the Kana decoder → the paper exchange, and the exchange's
//! events → the engine core, all on one simulated clock. [`run`] replays recorded venue frames;
//! [`run_market_data`] replays the exchange's own market-data events (a stream built in memory,
//! data from elsewhere, a benchmark), skipping the decoder.
//!
//! Everything that happens is an item on a timeline ordered by (time, sequence): the next
//! recorded frame, a request arriving at the exchange, an outcome or an event reaching the bot,
//! the strategy's next timer, the engine's tick, the next queued cancel. Nothing reads the wall
//! clock and the only randomness is the seeded order latency, so the same data, config and seed
//! give the same result.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::models::{BalanceReports, Models};
use crate::recording::{Frame, Manifest};
use crate::series::{Markouts, Series};
use perpbot_core::engine::{EngineConfig, EngineCore, RunSummary};
use perpbot_core::executor::{ExecReport, Job, RateLimitConfig};
use perpbot_core::risk::RiskConfig;
use perpbot_core::strategy::Strategy;
use perpbot_core::venue::paper::{PaperConfig, PaperExchange, SourceEvent, market_data_of};
use perpbot_core::venue::{RequestOutcome, TxCosts, VenueCapabilities, VenueRequest};
use perpbot_kana::decode::KanaDecoder;
use perpbot_model::{Event, Timestamp};

mod balance_reads;
#[cfg(test)]
mod tests;

use balance_reads::BalanceReads;

/// Everything a backtest needs besides the data.
pub struct Setup {
    /// What the recording is of (markets, units).
    pub manifest: Manifest,
    /// The strategy under test.
    pub strategy: Box<dyn Strategy>,
    /// Pre-trade risk limits, as live.
    pub risk: RiskConfig,
    /// Request budgets, as live (on simulated time).
    pub rate_limits: RateLimitConfig,
    /// Engine settings (shutdown, reaction budget).
    pub engine: EngineConfig,
    /// The simulated exchange: balance, fees, queue model.
    pub paper: PaperConfig,
    /// Latency and cost models.
    pub models: Models,
}

/// What a backtest produced.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The run report, as a live run prints it.
    pub summary: RunSummary,
    /// Markouts of the bot's fills: the mid some time after each fill against its price.
    pub markouts: Markouts,
    /// Recorded frames (or, in [`run_market_data`], market-data items) replayed.
    pub frames: u64,
    /// Frames the decoder refused (named in the log, skipped).
    pub decode_errors: u64,
    /// Recording files that ended in a torn tail (the reader knows: whoever read the recording
    /// fills this in from `RecordingReader::stats` once the run has drained it).
    pub torn_files: u64,
    /// Public trades without an aggressor side (inferred from the book's mid).
    pub inferred_aggressors: u64,
    /// Simulated time covered, first to last frame (s).
    pub simulated_seconds: f64,
    /// Events the engine core handled.
    pub engine_events: u64,
}

/// A backtest's report and time series.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The report.
    pub report: Report,
    /// Mid, quotes, position and PnL over time.
    pub series: Series,
}

/// Errors that stop a backtest before it runs.
#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    /// The manifest cannot be decoded: another venue, unknown units, an invalid market.
    #[error("recording manifest: {0}")]
    Manifest(String),
    /// A model setting is out of range.
    #[error("{0}")]
    Config(String),
}

/// The paper exchange's capabilities, as the executor sees them in a backtest: Kana's.
const CAPS: VenueCapabilities = VenueCapabilities {
    atomic_replace: true,
    max_batch: perpbot_core::venue::paper::MAX_BATCH,
    client_order_ids: true,
    one_restriction_per_batch: true,
    position_triggers: true,
    closing_orders: true,
    net_positions: false,
};

/// Something due on the timeline.
#[derive(Debug)]
enum Item {
    /// A request arrives at the exchange.
    AtExchange(
        perpbot_core::executor::RequestId,
        std::sync::Arc<VenueRequest>,
    ),
    /// A request's outcome reaches the bot.
    Report(ExecReport),
    /// An event from the exchange reaches the bot.
    ToBot(Event),
}

/// When an item is due and where it waits; ordered by (time, scheduling order) alone. Small,
/// so the heap moves 24 bytes per step rather than an event.
struct Due {
    at: Timestamp,
    seq: u64,
    slot: u32,
}

impl PartialEq for Due {
    fn eq(&self, other: &Due) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Due) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    fn cmp(&self, other: &Due) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Items by due time; the items themselves wait in reused slots.
struct Timeline {
    heap: BinaryHeap<Reverse<Due>>,
    slots: Vec<Option<Item>>,
    free: Vec<u32>,
    seq: u64,
}

impl Timeline {
    fn new() -> Timeline {
        Timeline {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            seq: 0,
        }
    }

    fn push(&mut self, at: Timestamp, item: Item) {
        self.seq += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                if let Some(s) = self.slots.get_mut(slot as usize) {
                    *s = Some(item);
                }
                slot
            }
            None => {
                self.slots.push(Some(item));
                // More than 2^32 items waiting at once would need more memory than any run has.
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.heap.push(Reverse(Due {
            at,
            seq: self.seq,
            slot,
        }));
    }

    fn next_at(&self) -> Option<Timestamp> {
        self.heap.peek().map(|Reverse(d)| d.at)
    }

    fn pop(&mut self) -> Option<(Timestamp, Item)> {
        let Reverse(due) = self.heap.pop()?;
        let item = self.slots.get_mut(due.slot as usize)?.take()?;
        self.free.push(due.slot);
        Some((due.at, item))
    }
}

/// The running backtest.
struct Sim {
    core: EngineCore,
    exchange: PaperExchange,
    timeline: Timeline,
    models: Models,
    rng: ChaCha8Rng,
    feed: Duration,
    /// Delay of what the bot learns about its own orders (`response_latency_ms`).
    response: Duration,
    costs: TxCosts,
    gas_per_tx: Decimal,
    series: Series,
    /// When the bot reads its balance (`None`: the exchange streams it).
    balance_reads: Option<BalanceReads>,
    /// What the exchange emitted for one piece of market data (reused).
    exchange_out: Vec<Event>,
    inferred_aggressors: u64,
    engine_events: u64,
    shutting_down: bool,
}

/// Run `setup` over recorded `frames` (in receive-time order), reading them as it goes.
pub fn run(
    setup: Setup,
    frames: impl IntoIterator<Item = Frame>,
) -> Result<Outcome, BacktestError> {
    let decoder = setup.manifest.decoder().map_err(BacktestError::Manifest)?;
    drive(
        setup,
        FrameFeed {
            frames: frames.into_iter().peekable(),
            decoder,
            scratch: Vec::new(),
            sources: Vec::new(),
            decode_errors: 0,
        },
    )
}

/// Run `setup` over market data the paper exchange takes directly, each item at its time (in
/// time order): book snapshots and deltas and public trades (with their aggressor), for the
/// markets of `setup.manifest` (its venue and units are not used: nothing is decoded).
pub fn run_market_data(
    setup: Setup,
    data: impl IntoIterator<Item = (Timestamp, SourceEvent)>,
) -> Result<Outcome, BacktestError> {
    drive(
        setup,
        SourceFeed {
            items: data.into_iter().peekable(),
        },
    )
}

/// Market data the backtest replays, in time order.
trait Feed {
    /// When the next item is due, or `None` when the data is exhausted.
    fn next_at(&mut self) -> Option<Timestamp>;
    /// Apply the next item at `now` (the market data reaches the exchange).
    fn apply_next(&mut self, sim: &mut Sim, now: Timestamp);
    /// Items the decoder refused (named in the log, skipped).
    fn decode_errors(&self) -> u64 {
        0
    }
}

/// Recorded venue frames, through the Kana decoder.
struct FrameFeed<I: Iterator<Item = Frame>> {
    frames: std::iter::Peekable<I>,
    decoder: KanaDecoder,
    /// One frame's decoded events (reused).
    scratch: Vec<Event>,
    /// The market data of one decoded event, as the paper exchange takes it (reused).
    sources: Vec<SourceEvent>,
    decode_errors: u64,
}

impl<I: Iterator<Item = Frame>> Feed for FrameFeed<I> {
    fn next_at(&mut self) -> Option<Timestamp> {
        self.frames.peek().map(|f| f.received)
    }

    fn apply_next(&mut self, sim: &mut Sim, now: Timestamp) {
        if let Some(frame) = self.frames.next() {
            self.on_frame(&frame, sim, now);
        }
    }

    fn decode_errors(&self) -> u64 {
        self.decode_errors
    }
}

/// Market-data events as the paper exchange takes them.
struct SourceFeed<I: Iterator<Item = (Timestamp, SourceEvent)>> {
    items: std::iter::Peekable<I>,
}

impl<I: Iterator<Item = (Timestamp, SourceEvent)>> Feed for SourceFeed<I> {
    fn next_at(&mut self) -> Option<Timestamp> {
        self.items.peek().map(|(at, _)| *at)
    }

    fn apply_next(&mut self, sim: &mut Sim, now: Timestamp) {
        if let Some((_, source)) = self.items.next() {
            sim.on_source(&source, now);
        }
    }
}

/// The backtest loop over any feed.
fn drive(setup: Setup, mut feed: impl Feed) -> Result<Outcome, BacktestError> {
    setup.models.validate().map_err(BacktestError::Config)?;
    setup.paper.validate().map_err(BacktestError::Config)?;
    let markets = setup.manifest.markets.clone();
    let Some(start) = feed.next_at() else {
        return Err(BacktestError::Config(
            "the recording holds no frames in the time range".into(),
        ));
    };
    let core = EngineCore::new(
        &markets,
        CAPS,
        setup.strategy,
        setup.risk,
        setup.rate_limits,
        setup.engine,
        start,
    );
    let mut sim = Sim {
        core,
        exchange: PaperExchange::new(&setup.paper, markets.clone()),
        timeline: Timeline::new(),
        rng: ChaCha8Rng::seed_from_u64(setup.models.seed),
        feed: setup.models.feed_latency.delay(),
        response: Duration::from_millis(setup.models.response_latency_ms),
        costs: TxCosts::default(),
        gas_per_tx: setup.models.gas_per_transaction,
        series: Series::new(markets, Duration::from_millis(setup.models.series_ms)),
        balance_reads: BalanceReads::new(setup.models.balance_reports, start),
        models: setup.models,
        exchange_out: Vec::new(),
        inferred_aggressors: 0,
        engine_events: 0,
        shutting_down: false,
    };
    sim.exchange
        .set_balance_stream(sim.models.balance_reports == BalanceReports::Streamed);
    for event in sim.exchange.start(start) {
        sim.timeline.push(start, Item::ToBot(event));
    }
    let started = sim.core.start(start);
    sim.take_jobs(start);
    let tick = Duration::from_millis(sim.models.tick_ms);
    let mut next_tick = start.plus(tick);
    let mut pump_at: Option<Timestamp> = None;
    let mut now = start;
    let mut frame_count = 0u64;
    let mut last_frame = start;
    // A strategy that failed to start goes straight to shutdown, as live.
    while started && !sim.shutting_down {
        let frame_at = feed.next_at();
        let item_at = sim.timeline.next_at();
        let Some(data_at) = earliest(frame_at, item_at) else {
            break;
        };
        let timer_at = sim.core.next_timer();
        let read_at = sim.balance_reads.as_ref().map(BalanceReads::next_at);
        let due = earliest(
            earliest(Some(data_at), timer_at),
            earliest(earliest(Some(next_tick), pump_at), read_at),
        )
        .unwrap_or(data_at);
        now = now.max(due);
        sim.series.sample_until(now, sim.core.state());
        if item_at == Some(due) {
            if let Some((_, item)) = sim.timeline.pop() {
                sim.deliver(item, now);
            }
        } else if frame_at == Some(due) {
            frame_count += 1;
            last_frame = due;
            feed.apply_next(&mut sim, now);
        } else if timer_at == Some(due) {
            sim.core.fire_timers(now);
            sim.engine_events += 1;
        } else if read_at == Some(due) {
            sim.read_balance(now);
        } else if next_tick == due {
            sim.core.on_tick(now, sim.costs);
            next_tick = now.plus(tick);
        }
        // Otherwise the queued cancels were due: the pump below sends them.
        pump_at = sim
            .core
            .pump(now)
            .map(|wait| now.plus(wait.max(Duration::from_millis(1))));
        sim.take_jobs(now);
    }
    // End of data: stop as a live run stops, with the exchange still answering.
    sim.shutting_down = true;
    sim.core.begin_shutdown(now);
    sim.take_jobs(now);
    let deadline = now.plus(Duration::from_millis(sim.core.config().shutdown_timeout_ms));
    while sim.core.state().live_order_count(None) > 0 {
        let Some(at) = sim.timeline.next_at() else {
            break;
        };
        if at > deadline {
            break;
        }
        now = now.max(at);
        if let Some((_, item)) = sim.timeline.pop() {
            sim.deliver(item, now);
        }
        if let Some(wait) = sim.core.pump(now) {
            now = now.plus(wait).min(deadline);
            let _ = sim.core.pump(now);
        }
        sim.take_jobs(now);
    }
    sim.series.sample_until(now, sim.core.state());
    let finished = sim.core.finish(now, sim.costs);
    let markouts = Markouts::of(&sim.series);
    Ok(Outcome {
        report: Report {
            summary: finished.summary,
            markouts,
            frames: frame_count,
            decode_errors: feed.decode_errors(),
            torn_files: 0,
            inferred_aggressors: sim.inferred_aggressors,
            simulated_seconds: last_frame.since(start).as_secs_f64(),
            engine_events: sim.engine_events,
        },
        series: sim.series,
    })
}

/// The earlier of two optional times (runs once per item replayed: plain comparisons, not an
/// iterator over an array).
#[inline]
fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

impl Sim {
    /// Hand the core's venue work to the timeline: requests reach the exchange after the order
    /// latency; an answer the executor made itself comes back at once.
    fn take_jobs(&mut self, now: Timestamp) {
        if !self.core.has_jobs() {
            return;
        }
        for job in self.core.take_jobs() {
            match job {
                Job::Execute { id, request, .. } => {
                    let at = now.plus(self.models.order_latency.draw(&mut self.rng));
                    self.timeline.push(at, Item::AtExchange(id, request));
                }
                Job::Answer(report) => self.timeline.push(now, Item::Report(report)),
                // The paper exchange never answers ambiguously, so nothing is ever resolved.
                Job::Resolve { id, .. } => self.timeline.push(
                    now,
                    Item::Report(ExecReport {
                        id,
                        outcome: RequestOutcome::rejected("backtest: nothing to resolve"),
                    }),
                ),
            }
        }
    }

    fn deliver(&mut self, item: Item, now: Timestamp) {
        match item {
            Item::AtExchange(id, request) => {
                let mut events = std::mem::take(&mut self.exchange_out);
                let outcome = self.exchange.execute_into(&request, now, &mut events);
                self.costs.transactions += 1;
                if matches!(outcome, RequestOutcome::Rejected { .. }) {
                    self.costs.failed_transactions += 1;
                }
                self.costs.native_fee += self.gas_per_tx;
                self.timeline.push(
                    now.plus(self.response),
                    Item::Report(ExecReport { id, outcome }),
                );
                // Order updates and fills of the request come over the stream, as its own do.
                let at = now.plus(self.feed).plus(self.response);
                for event in events.drain(..) {
                    self.timeline.push(at, Item::ToBot(event));
                }
                self.exchange_out = events;
            }
            Item::Report(report) => {
                self.engine_events += 1;
                if self.shutting_down {
                    self.core.on_report_in_shutdown(report, now);
                } else {
                    self.core.on_report(report, now);
                }
            }
            Item::ToBot(event) => {
                self.engine_events += 1;
                // Only books (their market) and fills matter to the series. A fill's row needs
                // nothing the engine changes, so it is taken before the event moves there.
                let book = match &event {
                    Event::Book(b) => Some(b.market),
                    _ => None,
                };
                if let Event::Fill(f) = &event {
                    if let Some(reads) = &mut self.balance_reads {
                        reads.wake(now);
                    }
                    self.series.observe_fill(f, now);
                }
                if self.shutting_down {
                    self.core.on_venue_event_in_shutdown(event, now);
                } else {
                    self.core.on_venue_event(event, now);
                }
                if let Some(market) = book {
                    self.series.observe_book(market, now, self.core.state());
                }
            }
        }
    }

    /// The bot reads its balance (polled reports): the exchange's figure now, dated now, reaches
    /// it after the response latency (the read's round trip).
    fn read_balance(&mut self, now: Timestamp) {
        let Some(reads) = &mut self.balance_reads else {
            return;
        };
        reads.read(now);
        let balance = self.exchange.balance(now);
        self.timeline.push(
            now.plus(self.response),
            Item::ToBot(Event::Balance(balance)),
        );
    }

    /// One piece of market data reaches the exchange; what the exchange emits reaches the bot
    /// after the feed latency (the book and trades as the bot sees them) and the response
    /// latency on top (fills of resting orders, order updates).
    fn on_source(&mut self, source: &SourceEvent, now: Timestamp) {
        let mut out = std::mem::take(&mut self.exchange_out);
        self.exchange.on_source_into(source, now, &mut out);
        // The first event is the market data itself; the rest concern our orders.
        let public = now.plus(self.feed);
        let private = public.plus(self.response);
        // With no feed latency and nothing else due by now, the echo would be the timeline's
        // very next item: hand it over at once instead, without the round trip through the
        // heap, after the same pump the loop would run first.
        let direct = !out.is_empty()
            && public == now
            && !self.shutting_down
            && self.timeline.next_at().is_none_or(|t| t > now);
        if direct {
            for event in out.drain(1..) {
                self.timeline.push(private, Item::ToBot(event));
            }
            let _ = self.core.pump(now);
            self.take_jobs(now);
            if let Some(echo) = out.first_mut() {
                self.deliver_public(echo, now);
                self.exchange.recycle(echo);
            }
            out.clear();
        } else {
            for (i, event) in out.drain(..).enumerate() {
                let at = if i == 0 { public } else { private };
                self.timeline.push(at, Item::ToBot(event));
            }
        }
        self.exchange_out = out;
    }

    /// Market data from the exchange reaches the bot (outside shutdown; it carries no order
    /// ids to fill in).
    fn deliver_public(&mut self, event: &Event, now: Timestamp) {
        self.engine_events += 1;
        self.core.on_venue_event_ref(event, now);
        if let Event::Book(b) = event {
            self.series.observe_book(b.market, now, self.core.state());
        }
    }
}

impl<I: Iterator<Item = Frame>> FrameFeed<I> {
    /// Decode a recorded frame and apply its market data to the exchange; what the exchange
    /// emits (the book and trades as the bot sees them, fills of resting orders) goes to the bot
    /// after the feed latency. Funding goes to the bot as recorded.
    fn on_frame(&mut self, frame: &Frame, sim: &mut Sim, now: Timestamp) {
        self.scratch.clear();
        if let Err(e) = self.decoder.decode(&frame.text, now, &mut self.scratch) {
            self.decode_errors += 1;
            tracing::warn!(error = %e, "recorded frame not decoded; skipped");
            return;
        }
        let at = now.plus(sim.feed);
        let events = std::mem::take(&mut self.scratch);
        let mut sources = std::mem::take(&mut self.sources);
        for event in &events {
            sources.clear();
            if let Event::Funding(_) | Event::BestPrice(_) = event {
                sim.timeline.push(at, Item::ToBot(event.clone()));
                continue;
            }
            // A recording holds market data only; anything else is not the exchange's to say.
            let exchange = &sim.exchange;
            if market_data_of(event, |m| exchange.book(m)?.mid_x2(), &mut sources) {
                sim.inferred_aggressors += 1;
            }
            for source in &sources {
                sim.on_source(source, now);
            }
        }
        self.sources = sources;
        self.scratch = events;
    }
}
