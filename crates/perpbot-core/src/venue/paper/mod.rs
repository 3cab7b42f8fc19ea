//! The `paper` venue: a simulated exchange that needs no keys and no network.
//!
//! It takes a [`BookSource`] (a seeded synthetic market by default, a script in tests), fills
//! orders that cross the book at book prices up to the available depth (taker), fills resting
//! orders when the book trades or crosses through them — at their own price, after an estimated
//! queue ahead of them has traded (maker) — charges Kana's fees (maker 0 %, taker 0.05 % by
//! default) and keeps isolated-margin positions in hedge mode.
//!
//! ```no_run
//! # async fn demo() -> Result<(), perpbot_core::venue::VenueError> {
//! use perpbot_model::clock::Clock;
//! use perpbot_model::MarketSpec;
//! use perpbot_core::venue::Venue;
//! use perpbot_core::venue::paper::{PaperConfig, PaperVenue, RandomWalkSource};
//!
//! let config = PaperConfig::default();
//! let markets = vec![MarketSpec::kana_apt_testnet()];
//! let source = RandomWalkSource::new(config.source.clone(), &markets);
//! let venue = PaperVenue::new(config, markets, Box::new(source), Clock::system());
//! let session = Box::new(venue).connect(&[MarketSpec::kana_apt_testnet().id]).await?;
//! # drop(session); Ok(()) }
//! ```
//!
//! How it is built: one tokio task owns a [`PaperExchange`] (plain synchronous state, usable on
//! its own for backtests) and `select!`s between the next source step and requests arriving from
//! the [`PaperWriter`] over a bounded channel. Events go out on a bounded channel: a slow consumer
//! slows the simulation down, it never makes it buffer.
//!
//! Simplifications, on purpose: our resting orders are not shown in the public book; there is no
//! liquidation, funding or mark price (TP/SL trigger on the book's mid, checked whenever the book
//! changes); a request costs nothing (`cost: 0`); the outcome of a request is never ambiguous;
//! ClosePosition and TP/SL closes are venue-made orders whose fills carry no client id.

mod account;
mod exchange;
mod level_filter;
mod orders;
mod queue;
mod source;
mod table;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::venue::{
    RequestOutcome, Venue, VenueCapabilities, VenueError, VenueRequest, VenueSession, VenueWriter,
};
use perpbot_model::clock::Clock;
use perpbot_model::{Event, MarketId, MarketSpec};

pub use exchange::PaperExchange;
pub use orders::MAX_BATCH;
pub use queue::QueueModel;
pub use source::{
    BookSource, RandomWalkConfig, RandomWalkSource, ScriptedSource, SourceEvent, SourceSnapshot,
    SourceStep, market_data_of,
};

/// The venue's name in logs and errors.
const NAME: &str = "paper";

/// Requests waiting for the exchange task (the writer waits when it is full).
const REQUEST_BUFFER: usize = 64;

/// Settings of the paper venue (`[venue.paper]`). Every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaperConfig {
    /// Collateral at the start, in quote currency (default 10000).
    pub starting_balance: Decimal,
    /// Fee on maker fills as a fraction of notional (default 0, Kana's rate).
    pub maker_fee_rate: Decimal,
    /// Fee on taker fills as a fraction of notional (default 0.0005 = 0.05 %, Kana's rate).
    pub taker_fee_rate: Decimal,
    /// Capacity of the event channel (default 4096).
    pub event_buffer: usize,
    /// How our resting orders advance in the queue at their price (default `risk_averse`).
    pub queue: QueueModel,
    /// The synthetic market (`[venue.paper.source]`).
    pub source: RandomWalkConfig,
}

impl Default for PaperConfig {
    fn default() -> PaperConfig {
        PaperConfig {
            starting_balance: Decimal::from(10_000),
            maker_fee_rate: Decimal::ZERO,
            taker_fee_rate: Decimal::new(5, 4),
            event_buffer: 4096,
            queue: QueueModel::RiskAverse,
            source: RandomWalkConfig::default(),
        }
    }
}

impl PaperConfig {
    /// Check the settings; the message names the key (e.g. `venue.paper.taker_fee_rate`).
    pub fn validate(&self) -> Result<(), String> {
        if self.starting_balance < Decimal::ZERO {
            return Err("venue.paper.starting_balance must not be negative".into());
        }
        for (key, rate) in [
            ("maker_fee_rate", self.maker_fee_rate),
            ("taker_fee_rate", self.taker_fee_rate),
        ] {
            if rate < Decimal::ZERO || rate >= Decimal::ONE {
                return Err(format!("venue.paper.{key} must be within 0..1"));
            }
        }
        if self.event_buffer == 0 {
            return Err("venue.paper.event_buffer must be at least 1".into());
        }
        self.queue.validate()?;
        self.source.validate("venue.paper.source")
    }
}

/// One item of a live feed for the paper venue ([`PaperVenue::live`]).
#[derive(Debug, Clone)]
pub enum LiveFeed {
    /// Market data for the paper exchange: the book moves, trades print, resting orders fill.
    Market(SourceEvent),
    /// An event the bot sees as it is (funding, the feed's connection state).
    Bot(Event),
}

/// Where the paper exchange's market data comes from.
enum Feed {
    /// A source on its own schedule (synthetic, scripted).
    Scheduled(Box<dyn BookSource>),
    /// Data as it arrives (a venue's live public stream).
    Live(mpsc::Receiver<LiveFeed>),
}

/// The paper venue, before connecting.
pub struct PaperVenue {
    config: PaperConfig,
    markets: Vec<MarketSpec>,
    source: Feed,
    clock: Clock,
}

impl PaperVenue {
    /// A paper venue trading `markets`, fed by `source`, stamping events with `clock`.
    pub fn new(
        config: PaperConfig,
        markets: Vec<MarketSpec>,
        source: Box<dyn BookSource>,
        clock: Clock,
    ) -> PaperVenue {
        PaperVenue {
            config,
            markets,
            source: Feed::Scheduled(source),
            clock,
        }
    }

    /// A paper venue fed by a live stream (paper trading on a real book): each item is applied
    /// when it arrives, the strategy's orders fill against it with the queue model, and nothing
    /// is sent anywhere. The venue ends its stream when the feed does.
    pub fn live(
        config: PaperConfig,
        markets: Vec<MarketSpec>,
        feed: mpsc::Receiver<LiveFeed>,
        clock: Clock,
    ) -> PaperVenue {
        PaperVenue {
            config,
            markets,
            source: Feed::Live(feed),
            clock,
        }
    }
}

#[async_trait]
impl Venue for PaperVenue {
    fn name(&self) -> &'static str {
        NAME
    }

    /// Spawn the exchange task. Fails on an invalid config or spec, or a market without a spec.
    async fn connect(self: Box<Self>, markets: &[MarketId]) -> Result<VenueSession, VenueError> {
        let PaperVenue {
            config,
            markets: specs,
            source,
            clock,
        } = *self;
        let config_error = |detail: String| VenueError::Config {
            venue: NAME,
            detail,
        };
        config.validate().map_err(config_error)?;
        let mut chosen = Vec::with_capacity(markets.len());
        for id in markets {
            let spec = specs
                .iter()
                .find(|s| s.id == *id)
                .ok_or(VenueError::UnknownMarket {
                    venue: NAME,
                    market: *id,
                })?;
            spec.validate().map_err(config_error)?;
            chosen.push(spec.clone());
        }
        let (event_tx, event_rx) = mpsc::channel(config.event_buffer.max(1));
        let (request_tx, request_rx) = mpsc::channel(REQUEST_BUFFER);
        let exchange = PaperExchange::new(&config, chosen.clone());
        match source {
            Feed::Scheduled(source) => {
                tokio::spawn(run(exchange, source, clock, event_tx, request_rx));
            }
            Feed::Live(feed) => {
                tokio::spawn(run_live(exchange, feed, clock, event_tx, request_rx));
            }
        }
        Ok(VenueSession {
            markets: chosen,
            events: event_rx,
            writer: Arc::new(PaperWriter {
                requests: request_tx,
            }),
            // The paper exchange's stream is in-process: nothing to skip or reconnect.
            stream_stats: None,
        })
    }
}

/// A request for the exchange task and where its outcome goes.
type Command = (VenueRequest, oneshot::Sender<RequestOutcome>);

/// The writing half of the paper venue: hands requests to the exchange task and waits for the
/// outcome, which is always definite.
#[derive(Debug, Clone)]
pub struct PaperWriter {
    requests: mpsc::Sender<Command>,
}

/// Why a request to a stopped paper venue was refused.
const STOPPED: &str = "paper venue stopped";

#[async_trait]
impl VenueWriter for PaperWriter {
    fn capabilities(&self) -> VenueCapabilities {
        VenueCapabilities {
            atomic_replace: true,
            max_batch: MAX_BATCH,
            client_order_ids: true,
            one_restriction_per_batch: false,
            position_triggers: true,
            closing_orders: true,
            net_positions: false,
        }
    }

    async fn execute(
        &self,
        request: VenueRequest,
        _ctx: &crate::venue::RequestContext,
    ) -> RequestOutcome {
        let (tx, rx) = oneshot::channel();
        if self.requests.send((request, tx)).await.is_err() {
            return RequestOutcome::rejected(STOPPED);
        }
        // The task applies a request and replies without yielding in between, so a dropped
        // reply means the request was never applied.
        rx.await
            .unwrap_or_else(|_| RequestOutcome::rejected(STOPPED))
    }

    async fn resolve(&self, _request: &VenueRequest, _token: Option<&str>) -> RequestOutcome {
        RequestOutcome::rejected(
            "the paper venue never reports ambiguous outcomes, so there is nothing to resolve",
        )
    }
}

/// The exchange task: replays the source on its schedule and serves requests, until the event
/// receiver is dropped (or the source is exhausted and every writer is gone).
async fn run(
    mut exchange: PaperExchange,
    mut source: Box<dyn BookSource>,
    clock: Clock,
    events: mpsc::Sender<Event>,
    mut requests: mpsc::Receiver<Command>,
) {
    if !send_all(&events, exchange.start(clock.now())).await {
        return;
    }
    let mut due = tokio::time::Instant::now();
    let mut pending = None;
    let mut exhausted = false;
    let mut writers = true;
    loop {
        if pending.is_none() && !exhausted {
            match source.next() {
                Some(step) => {
                    due += step.after;
                    pending = Some(step.event);
                }
                None => exhausted = true,
            }
        }
        if exhausted && pending.is_none() && !writers {
            return;
        }
        let produced = tokio::select! {
            biased;
            () = events.closed() => return,
            command = requests.recv(), if writers => match command {
                Some((request, reply)) => {
                    let (outcome, produced) = exchange.execute(&request, clock.now());
                    // The writer may have given up waiting; the events still happened.
                    let _ = reply.send(outcome);
                    produced
                }
                None => {
                    writers = false;
                    Vec::new()
                }
            },
            () = tokio::time::sleep_until(due), if pending.is_some() => match pending.take() {
                Some(event) => exchange.on_source(&event, clock.now()),
                None => Vec::new(),
            },
        };
        if !send_all(&events, produced).await {
            return;
        }
    }
}

/// The exchange task on a live feed: applies each item as it arrives and serves requests, until
/// the event receiver is dropped, or the feed has ended and every writer is gone (after the feed
/// ends it still answers, so a shutdown can cancel what rests).
async fn run_live(
    mut exchange: PaperExchange,
    mut feed: mpsc::Receiver<LiveFeed>,
    clock: Clock,
    events: mpsc::Sender<Event>,
    mut requests: mpsc::Receiver<Command>,
) {
    if !send_all(&events, exchange.start(clock.now())).await {
        return;
    }
    let (mut writers, mut feeding) = (true, true);
    loop {
        if !writers && !feeding {
            return;
        }
        let produced = tokio::select! {
            biased;
            () = events.closed() => return,
            command = requests.recv(), if writers => match command {
                Some((request, reply)) => {
                    let (outcome, produced) = exchange.execute(&request, clock.now());
                    let _ = reply.send(outcome);
                    produced
                }
                None => {
                    writers = false;
                    Vec::new()
                }
            },
            item = feed.recv(), if feeding => match item {
                Some(LiveFeed::Market(source)) => exchange.on_source(&source, clock.now()),
                Some(LiveFeed::Bot(event)) => vec![event],
                None => {
                    feeding = false;
                    Vec::new()
                }
            },
        };
        if !send_all(&events, produced).await {
            return;
        }
    }
}

/// Send events in order, waiting for room; false once the receiver is gone.
async fn send_all(events: &mpsc::Sender<Event>, produced: Vec<Event>) -> bool {
    for event in produced {
        if events.send(event).await.is_err() {
            return false;
        }
    }
    true
}
