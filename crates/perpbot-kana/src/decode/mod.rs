//! The Kana Perps WebSocket decoder: wire frames in, typed [`Event`]s out.
//!
//! Venue quirks end here (reference §7): frames are routed by `message` or, when it is missing
//! (the `recent_trades` sample), by record shape; numbers arrive as strings or JSON numbers and
//! are converted exactly; the old G2/G3 host sends lots, ticks and quote sub-units where the G4/G5
//! hosts send human decimals ([`KanaUnits`]); history topics repeat old records, so fills and
//! order updates are deduplicated with bounded memory.
//!
//! A bad frame never panics and never half-applies: each frame is decoded into a scratch buffer
//! that is appended to the caller's vector only when the whole frame decoded. Errors name the
//! topic, the field and the value, and every frame, event, error and skipped record is counted
//! per topic ([`DecodeStats`]).
//!
//! **One odd record does not fail its frame** where that would block the topic for good: the
//! history topics (`trade_history`, `order_history`, their `live_*` twins, `recent_trades`)
//! replay their recent records on every push, so a record the decoder refuses would otherwise
//! fail every later frame of the topic. Such a record is left out, and reported as a
//! [`RecordIssue`] ([`KanaDecoder::last_record_issues`], logged by the WebSocket client, printed
//! by `perpbot decode`) and counted ([`TopicStats::bad_records`]). In `open_orders`, an order
//! whose side cannot be known (an unknown `order_type` without a side flag) is left out the same
//! way; other snapshot failures (`open_orders`, `positions`, `orderbook`) still fail the frame,
//! because a snapshot with a record missing would be a wrong state rather than a gap.
//!
//! A fill whose price is off the tick grid is **kept**, with the price rounded one tick-fraction
//! *against us* — up for a buy, down for a sell — and reported as [`RecordIssue::Rounded`]
//! ([`TopicStats::rounded`]). Why keep it: the size, fee and realised PnL (which Kana reports
//! itself) are exact, and dropping a real fill would leave the position wrong until the next
//! `positions` snapshot; a price off by less than one tick only moves the average entry, and
//! rounding against us means the bot never books a better price than it got. A fill whose *size*
//! is off the lot grid is skipped instead (rounding it would make the position wrong), and so is
//! an off-grid public trade (a print off the grid — a liquidation or settlement — says nothing
//! about the book).
//!
//! **Speed.** An `orderbook` push — the frame a market maker reacts to — of the shape Kana sends
//! is read by a one-pass byte scanner (`scan_orderbook`) instead of serde, and plain decimals
//! convert to lots and ticks with integer arithmetic; anything unusual falls back to the serde
//! path and the exact decimal conversions, which decide and word every error. Both paths give
//! identical events and errors (tests compare them, on damaged frames too). `benches/decode.rs`
//! times every topic.
//!
//! ```
//! use perpbot_model::{Event, Timestamp};
//! use perpbot_kana::decode::{builtin_specs, KanaDecoder, KanaUnits};
//!
//! let mut decoder = KanaDecoder::new(builtin_specs(), KanaUnits::Auto).unwrap();
//! let frame = r#"{"data":[{"is_ask":false,"last_updated":1746177751,"market_id":"1338",
//!                 "price":"5.518","size":"11.851"}],"message":"orderbook"}"#;
//! let mut events = Vec::new();
//! decoder.decode(frame, Timestamp(0), &mut events).unwrap();
//! let Event::Book(book) = &events[0] else { panic!() };
//! assert_eq!((book.bids[0].price.0, book.bids[0].lots.0), (5518, 11851));
//! ```
//!
//! Topic handling (the decision for each is documented at its handler):
//!
//! | topic | event |
//! |---|---|
//! | `orderbook` | [`Event::Book`] snapshot, one per market in the frame |
//! | `positions` | [`Event::Position`] with `snapshot: true` (an empty list = all flat) |
//! | `trade_history`, `live_trade_history` | [`Event::Fill`] for fills not seen before |
//! | `open_orders` | [`Event::OpenOrders`] |
//! | `order_history`, `live_order_history` | [`Event::Order`] for `Open` → accepted and `Cancelled` → cancelled, once per (order, status) |
//! | `recent_trades` | [`Event::Trade`], one per matched pair |
//! | `live_funding_rate` | [`Event::Funding`] for configured markets |
//! | `bestPrice` / `best_price` | [`Event::BestPrice`] |
//! | `deposit_withdraw_history` | nothing (counted) |
//! | anything else | nothing; counted under [`Topic::Unknown`], **not** an error (the server may add topics or acknowledgements; the connection must not flap over them) |

use foldhash::fast::FixedState;

/// Keys a frame adds, committed to the deduplication memory when the frame succeeds. Hashed
/// with a fixed seed, so they are committed in an order that depends on the keys alone: with a
/// bounded memory, which key is forgotten first must not depend on a random seed (the same
/// recording must backtest the same way every run).
type Pending<K> = std::collections::HashSet<K, FixedState>;

/// [`Pending`] with a count per key.
type PendingCounts<K> = std::collections::HashMap<K, usize, FixedState>;
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::{self, SeqAccess, Visitor};

use super::wire::{
    Num, NumError, WireBestPrice, WireError, WireFunding, WireLevel, WireOpenOrder,
    WireOrderHistory, WireOrderStatus, WirePosition, WireShape, WireTrade, WsEnvelope,
};
use perpbot_model::{
    BestPrice, BookUpdate, BookUpdateKind, Direction, Event, Fill, FundingRate, Level, Liquidity,
    Lots, MarketId, MarketSpec, OpenOrderInfo, OpenOrdersSnapshot, OrderUpdate, OrderUpdateKind,
    Position, PositionSide, PositionUpdate, PublicTrade, Rounding, Side, Ticks, Timestamp, TradeId,
    UnitError, VenueOrderId,
};

mod lines;
mod replay;
mod scan;
mod stats;
mod units;
pub use lines::{DecodeSummary, builtin_specs, decode_lines, specs_from_market_info_json};
pub use stats::{DecodeStats, SkipReason, Skips, TopicStats};
pub use units::{book_side, order_type_meaning};

use perpbot_core::dedupe::BoundedSet;
use replay::ReplayMemo;
use scan::*;
use units::*;

/// How many fill keys, order-status keys and public-trade keys the decoder remembers (each) to
/// drop repeats; the oldest is forgotten first.
pub const DEFAULT_DEDUPE_CAPACITY: usize = 100_000;

/// Market ids of the dead G1–G3 deployments (66, 301, 396–398, 501–503; reference §3.1), whose
/// WebSocket host sent raw integer units (§7.6).
pub const RAW_UNIT_MARKETS: [u64; 8] = [66, 301, 396, 397, 398, 501, 502, 503];

/// Which units the WebSocket sends (reference §3.4, §7.6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KanaUnits {
    /// G4/G5 hosts: human decimals (sizes in base coins, prices in quote per coin, amounts in
    /// quote). Sizes and prices must lie exactly on the market's grid.
    Human,
    /// The old G2/G3 host: sizes in lots, prices in ticks, amounts in quote sub-units.
    Raw,
    /// `Raw` for the dead market ids in [`RAW_UNIT_MARKETS`], `Human` otherwise. \[INF\]: a
    /// heuristic that holds for every documented sample (the dead ids only ever appeared on
    /// the old host); it would misread a raw-unit host serving a current market id.
    #[default]
    Auto,
}

impl KanaUnits {
    /// Whether records of `market` carry raw integer units.
    pub fn is_raw(self, market: MarketId) -> bool {
        match self {
            KanaUnits::Human => false,
            KanaUnits::Raw => true,
            KanaUnits::Auto => RAW_UNIT_MARKETS.contains(&market.0),
        }
    }
}

/// A WebSocket topic, as named in the `message` field (reference §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// `orderbook`.
    Orderbook,
    /// `positions`.
    Positions,
    /// `trade_history`.
    TradeHistory,
    /// `live_trade_history`.
    LiveTradeHistory,
    /// `open_orders`.
    OpenOrders,
    /// `order_history`.
    OrderHistory,
    /// `live_order_history`.
    LiveOrderHistory,
    /// `recent_trades`.
    RecentTrades,
    /// `live_funding_rate`.
    LiveFundingRate,
    /// `bestPrice` (the docs also list `best_price`).
    BestPrice,
    /// `deposit_withdraw_history`.
    DepositWithdrawHistory,
    /// A topic this decoder does not know, a frame it could not route, or invalid JSON.
    Unknown,
}

impl Topic {
    /// Every topic, in the order of [`DecodeStats`]' counters.
    pub const ALL: [Topic; 12] = [
        Topic::Orderbook,
        Topic::Positions,
        Topic::TradeHistory,
        Topic::LiveTradeHistory,
        Topic::OpenOrders,
        Topic::OrderHistory,
        Topic::LiveOrderHistory,
        Topic::RecentTrades,
        Topic::LiveFundingRate,
        Topic::BestPrice,
        Topic::DepositWithdrawHistory,
        Topic::Unknown,
    ];

    /// The wire name (`unknown` for [`Topic::Unknown`]).
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Orderbook => "orderbook",
            Topic::Positions => "positions",
            Topic::TradeHistory => "trade_history",
            Topic::LiveTradeHistory => "live_trade_history",
            Topic::OpenOrders => "open_orders",
            Topic::OrderHistory => "order_history",
            Topic::LiveOrderHistory => "live_order_history",
            Topic::RecentTrades => "recent_trades",
            Topic::LiveFundingRate => "live_funding_rate",
            Topic::BestPrice => "bestPrice",
            Topic::DepositWithdrawHistory => "deposit_withdraw_history",
            Topic::Unknown => "unknown",
        }
    }

    /// The topic a `message` names (exact match; `best_price` is accepted for `bestPrice`).
    pub fn from_message(message: &str) -> Topic {
        match message {
            "best_price" => Topic::BestPrice,
            m => Topic::ALL
                .into_iter()
                .find(|t| *t != Topic::Unknown && t.as_str() == m)
                .unwrap_or(Topic::Unknown),
        }
    }

    fn index(self) -> usize {
        Topic::ALL
            .iter()
            .position(|t| *t == self)
            .unwrap_or(Topic::ALL.len() - 1)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a frame could not be decoded: the topic, the field, the value as sent and the reason.
/// Displays as ``positions: field `size`: "abc" is not a decimal``.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{topic}: field `{field}`: {value:?} {reason}")]
pub struct DecodeError {
    /// Topic of the frame (`unknown` when it could not be routed).
    pub topic: String,
    /// The offending field (`frame` / `data` / `record` for structural errors).
    pub field: String,
    /// The value as sent (truncated to 160 characters).
    pub value: String,
    /// Why it was refused; completes the sentence "`<value>` …".
    pub reason: String,
}

const MAX_VALUE_CHARS: usize = 160;

/// What the decoder did with one odd record of a frame that otherwise decoded (see the module
/// docs for which records and why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordIssue {
    /// The record was left out; the error names topic, field and value.
    Skipped(DecodeError),
    /// The record was kept with a value rounded onto the grid; the error names the value as sent
    /// and its reason says where it was rounded to.
    Rounded(DecodeError),
}

impl RecordIssue {
    /// The error behind the issue.
    pub fn error(&self) -> &DecodeError {
        match self {
            RecordIssue::Skipped(e) | RecordIssue::Rounded(e) => e,
        }
    }
}

impl fmt::Display for RecordIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordIssue::Skipped(e) => write!(f, "record skipped: {e}"),
            RecordIssue::Rounded(e) => write!(f, "record kept: {e}"),
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", s.get(..i).unwrap_or(s)),
        None => s.to_owned(),
    }
}

fn error(topic: Topic, field: &str, value: &str, reason: impl fmt::Display) -> DecodeError {
    DecodeError {
        topic: topic.as_str().to_owned(),
        field: field.to_owned(),
        value: truncate(value, MAX_VALUE_CHARS),
        reason: reason.to_string(),
    }
}

/// A serde error inside `data`: name the field when serde does (``missing field `x` ``), and show
/// the text around the error position.
fn serde_error(topic: Topic, data: &str, e: &serde_json::Error) -> DecodeError {
    let msg = e.to_string();
    let field = msg
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map_or("record", |(name, _)| name);
    let line = data.lines().nth(e.line().saturating_sub(1)).unwrap_or(data);
    let col = e.column();
    let start = line
        .char_indices()
        .map(|(i, _)| i)
        .take_while(|i| *i + 60 < col)
        .last();
    let around = line.get(start.unwrap_or(0)..).unwrap_or(line);
    error(
        topic,
        field,
        around,
        format_args!("is not a valid record: {msg}"),
    )
}

/// Recognise the topic of a frame without `message` from its first record's keys. \[INF\]: only
/// `recent_trades` is documented without `message`; the other shapes are recognised so that a
/// server that drops `message` elsewhere still routes. A trade-shaped record without `message`
/// is taken as `recent_trades` (public), never as our own fills.
fn sniff_topic(data: &str) -> Topic {
    let mut first: Option<WireShape> = None;
    let ok = for_each_record::<WireShape, _>(Topic::Unknown, data, |s| {
        first.get_or_insert(s);
        Ok(())
    });
    match (ok, first) {
        (Ok(()), Some(s)) => {
            if s.is_ask.0 {
                Topic::Orderbook
            } else if s.funding_rate.0 {
                Topic::LiveFundingRate
            } else if s.status.0 {
                Topic::OrderHistory
            } else if s.remaining_size.0 {
                Topic::OpenOrders
            } else if s.liq_price.0 || s.trade_side.0 || s.is_long.0 {
                Topic::Positions
            } else if s.fee.0 && s.trade_id.0 {
                Topic::RecentTrades
            } else if s.bestBidPrice.0
                || s.bestAskPrice.0
                || s.best_bid_price.0
                || s.best_ask_price.0
            {
                Topic::BestPrice
            } else {
                Topic::Unknown
            }
        }
        _ => Topic::Unknown,
    }
}

/// Call `f` on each record of `data`: a JSON list of records, a single record object, or `null`
/// (none). Records are deserialized one at a time from the borrowed text, so no list is built.
fn for_each_record<'a, T, F>(topic: Topic, data: &'a str, mut f: F) -> Result<(), DecodeError>
where
    T: Deserialize<'a>,
    F: FnMut(T) -> Result<(), DecodeError>,
{
    struct Records<'f, T, F> {
        f: &'f mut F,
        failure: &'f mut Option<DecodeError>,
        record: PhantomData<fn() -> T>,
    }
    impl<'de, T, F> Visitor<'de> for Records<'_, T, F>
    where
        T: Deserialize<'de>,
        F: FnMut(T) -> Result<(), DecodeError>,
    {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of records")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(record) = seq.next_element::<T>()? {
                if let Err(e) = (self.f)(record) {
                    *self.failure = Some(e);
                    return Err(de::Error::custom("record rejected"));
                }
            }
            Ok(())
        }
    }

    let trimmed = data.trim_start();
    match trimmed.as_bytes().first() {
        Some(b'[') => {
            let mut failure = None;
            let mut de = serde_json::Deserializer::from_str(data);
            let visitor = Records {
                f: &mut f,
                failure: &mut failure,
                record: PhantomData,
            };
            let res =
                serde::Deserializer::deserialize_seq(&mut de, visitor).and_then(|()| de.end());
            match (res, failure) {
                (_, Some(e)) => Err(e),
                (Err(e), None) => Err(serde_error(topic, data, &e)),
                (Ok(()), None) => Ok(()),
            }
        }
        Some(b'{') => {
            let record: T = serde_json::from_str(data).map_err(|e| serde_error(topic, data, &e))?;
            f(record)
        }
        _ if trimmed.trim_end() == "null" => Ok(()),
        _ => Err(error(
            topic,
            "data",
            data,
            "is not a list or an object of records",
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Fast path for `orderbook` pushes
// ---------------------------------------------------------------------------------------------

/// Decodes Kana WebSocket frames into typed events. One per connection (or one for all: it keeps
/// no per-connection state beyond deduplication memory).
#[derive(Debug)]
pub struct KanaDecoder {
    markets: Markets,
    since: Option<Timestamp>,
    stats: DecodeStats,
    fills_seen: BoundedSet<FillKey>,
    orders_seen: BoundedSet<OrderKey>,
    trades_seen: BoundedSet<TradeKey>,
    scratch: Vec<Event>,
    pending_fills: Pending<FillKey>,
    pending_orders: Pending<OrderKey>,
    pending_trades: PendingCounts<TradeKey>,
    issues: Vec<RecordIssue>,
    issues_seen: BoundedSet<u64>,
    pending_issues: Pending<u64>,
    /// The side of each position by its `trade_id`, as the `positions` topic last showed it.
    position_sides: PositionSides,
    /// What the last frame skipped, by reason.
    last_skips: Skips,
    /// Funding rates of markets without a spec are read too (`perpbot decode`).
    any_market_funding: bool,
    /// Whether the fast paths are tried (always, except in tests and benchmarks that compare
    /// them with the careful path).
    fast_path: bool,
    /// Replayed history records recognised by their text ([`ReplayMemo`]).
    replay: ReplayMemo,
    /// Where the records of the history push being decoded sit (reused).
    records: Vec<Span>,
}

/// The decoding of one WebSocket frame in progress: the frame's topic and arrival time, and the
/// decoder's memory lent to it until the frame is done (markets, deduplication memory read-only,
/// the keys this frame adds to it kept apart until the frame succeeds, the output buffer). Not
/// the frame itself, whose text is passed alongside, and not to be confused with the journal's
/// `Frame` (one record on disk).
struct FrameDecoding<'d> {
    topic: Topic,
    now: Timestamp,
    since: Option<Timestamp>,
    markets: &'d Markets,
    fills_seen: &'d BoundedSet<FillKey>,
    orders_seen: &'d BoundedSet<OrderKey>,
    trades_seen: &'d BoundedSet<TradeKey>,
    pending_fills: &'d mut Pending<FillKey>,
    pending_orders: &'d mut Pending<OrderKey>,
    pending_trades: &'d mut PendingCounts<TradeKey>,
    out: &'d mut Vec<Event>,
    issues: &'d mut Vec<RecordIssue>,
    issues_seen: &'d BoundedSet<u64>,
    pending_issues: &'d mut Pending<u64>,
    position_sides: &'d mut PositionSides,
    any_market_funding: bool,
    skips: Skips,
}

impl KanaDecoder {
    /// A decoder for these markets. Records of other markets are skipped (and counted). Every
    /// spec is validated, so no conversion can divide by zero later.
    pub fn new(specs: Vec<MarketSpec>, units: KanaUnits) -> Result<KanaDecoder, WireError> {
        for spec in &specs {
            spec.validate().map_err(WireError::InvalidSpec)?;
        }
        Ok(KanaDecoder {
            markets: Markets::new(specs, units),
            since: None,
            stats: DecodeStats::default(),
            fills_seen: BoundedSet::new(DEFAULT_DEDUPE_CAPACITY),
            orders_seen: BoundedSet::new(DEFAULT_DEDUPE_CAPACITY),
            trades_seen: BoundedSet::new(DEFAULT_DEDUPE_CAPACITY),
            scratch: Vec::new(),
            pending_fills: Pending::default(),
            pending_orders: Pending::default(),
            pending_trades: PendingCounts::default(),
            issues: Vec::new(),
            issues_seen: BoundedSet::new(DEFAULT_DEDUPE_CAPACITY),
            pending_issues: Pending::default(),
            position_sides: PositionSides::default(),
            last_skips: Skips::default(),
            any_market_funding: false,
            fast_path: true,
            replay: ReplayMemo::default(),
            records: Vec::new(),
        })
    }

    /// Read funding rates of every market, not only the decoder's (a rate needs no grid): for
    /// tools that show what a stream carries. A bot's decoder leaves them out (counted), since
    /// its state has no place for markets it does not trade.
    pub fn with_funding_for_any_market(mut self) -> KanaDecoder {
        self.any_market_funding = true;
        self
    }

    /// Decode every frame by the careful path alone (serde, then the exact conversions), never
    /// the fast ones (the one-pass `orderbook` scanner, the replay memo of the history topics).
    /// Both give the same events; this is for tests and benchmarks that compare them.
    pub fn careful_only(mut self) -> KanaDecoder {
        self.fast_path = false;
        self
    }

    /// Ignore fill and order-history records older than `since` (history topics replay the
    /// past on every subscription; reference §7.5).
    pub fn with_since(mut self, since: Timestamp) -> KanaDecoder {
        self.since = Some(since);
        self
    }

    /// Remember at most `capacity` keys per deduplication set (default
    /// [`DEFAULT_DEDUPE_CAPACITY`]); `0` turns deduplication off.
    pub fn with_dedupe_capacity(mut self, capacity: usize) -> KanaDecoder {
        self.fills_seen = BoundedSet::new(capacity);
        self.orders_seen = BoundedSet::new(capacity);
        self.trades_seen = BoundedSet::new(capacity);
        self.issues_seen = BoundedSet::new(capacity);
        self
    }

    /// The configured markets.
    pub fn specs(&self) -> &[MarketSpec] {
        &self.markets.specs
    }

    /// The units mode.
    pub fn units(&self) -> KanaUnits {
        self.markets.units
    }

    /// Counters so far.
    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }

    /// The odd records of the last frame [`decode`](Self::decode) accepted (empty after a frame
    /// that failed: nothing of it was applied). For logging; they are counted in the stats.
    pub fn last_record_issues(&self) -> &[RecordIssue] {
        &self.issues
    }

    /// What the last frame [`KanaDecoder::decode`] read skipped, by reason (nothing after an
    /// error: the whole frame was refused).
    pub fn last_skips(&self) -> &Skips {
        &self.last_skips
    }

    /// Decode one text frame, appending its events to `out` and returning how many were
    /// appended. `now` is the receive time, used only where a record carries no venue time.
    /// On error nothing is appended and no deduplication memory changes.
    pub fn decode(
        &mut self,
        frame: &str,
        now: Timestamp,
        out: &mut Vec<Event>,
    ) -> Result<usize, DecodeError> {
        self.scratch.clear();
        self.pending_fills.clear();
        self.pending_orders.clear();
        self.pending_trades.clear();
        self.issues.clear();
        self.pending_issues.clear();
        self.last_skips = Skips::default();

        let (topic, result) = self.decode_frame(frame, now);
        let Some(stats) = self.stats.topic_mut(topic) else {
            return result.map(|_| 0);
        };
        stats.frames += 1;
        match result {
            Ok(skips) => {
                let n = self.scratch.len();
                stats.events += n as u64;
                stats.skipped += skips.total();
                self.last_skips = skips;
                for issue in &self.issues {
                    match issue {
                        RecordIssue::Skipped(_) => stats.bad_records += 1,
                        RecordIssue::Rounded(_) => stats.rounded += 1,
                    }
                }
                for k in self.pending_fills.drain() {
                    self.fills_seen.insert(k);
                }
                for k in self.pending_orders.drain() {
                    self.orders_seen.insert(k);
                }
                for (k, _) in self.pending_trades.drain() {
                    self.trades_seen.insert(k);
                }
                for k in self.pending_issues.drain() {
                    self.issues_seen.insert(k);
                }
                out.append(&mut self.scratch);
                Ok(n)
            }
            Err(e) => {
                stats.errors += 1;
                self.scratch.clear();
                self.issues.clear();
                Err(e)
            }
        }
    }

    /// Route and decode into `self.scratch`; returns the topic and the records skipped.
    fn decode_frame(&mut self, frame: &str, now: Timestamp) -> (Topic, Result<Skips, DecodeError>) {
        if self.fast_path
            && let Some(skips) = self.fast_orderbook(frame, now)
        {
            return (Topic::Orderbook, Ok(skips));
        }
        if self.fast_path
            && let Some((topic, skips)) = self.fast_history(frame, now)
        {
            return (topic, Ok(skips));
        }
        let env: WsEnvelope = match serde_json::from_str(frame) {
            Ok(env) => env,
            Err(e) => {
                let reason = format!("is not a valid frame: {e}");
                return (
                    Topic::Unknown,
                    Err(error(Topic::Unknown, "frame", frame, reason)),
                );
            }
        };
        let data = env.data.map_or("null", |d| d.get());
        let topic = match &env.message {
            Some(m) => Topic::from_message(m.as_str()),
            None => sniff_topic(data),
        };
        let mut fr = self.frame(topic, now);
        let result = match topic {
            Topic::Orderbook => fr.orderbook(data),
            Topic::Positions => fr.positions(data),
            Topic::TradeHistory | Topic::LiveTradeHistory => fr.fills(data),
            Topic::OpenOrders => fr.open_orders(data),
            Topic::OrderHistory | Topic::LiveOrderHistory => fr.order_history(data),
            Topic::RecentTrades => fr.recent_trades(data),
            Topic::LiveFundingRate => fr.funding(data),
            Topic::BestPrice => fr.best_price(data),
            // No event is defined for deposits/withdrawals; the shape is [UNK] anyway. An
            // unknown topic is not an error (see the module docs). Either is a counted skip.
            Topic::DepositWithdrawHistory | Topic::Unknown => {
                fr.skips.add(SkipReason::TopicWithoutEvent);
                Ok(())
            }
        };
        let skips = fr.skips;
        (topic, result.map(|()| skips))
    }
}

impl KanaDecoder {
    /// The per-frame state over this decoder's memory, for one frame of `topic`.
    fn frame(&mut self, topic: Topic, now: Timestamp) -> FrameDecoding<'_> {
        FrameDecoding {
            topic,
            now,
            since: self.since,
            markets: &self.markets,
            fills_seen: &self.fills_seen,
            orders_seen: &self.orders_seen,
            trades_seen: &self.trades_seen,
            pending_fills: &mut self.pending_fills,
            pending_orders: &mut self.pending_orders,
            pending_trades: &mut self.pending_trades,
            out: &mut self.scratch,
            issues: &mut self.issues,
            issues_seen: &self.issues_seen,
            pending_issues: &mut self.pending_issues,
            position_sides: &mut self.position_sides,
            any_market_funding: self.any_market_funding,
            skips: Skips::default(),
        }
    }

    /// The orderbook fast path ([`scan_orderbook`]): the frame is read once and its levels
    /// converted on the way. `None` — with nothing left behind — when the frame is not of the
    /// common shape or a value needs the exact decimal path; the serde path then decodes it (or
    /// words its error) as it always did.
    fn fast_orderbook(&mut self, frame: &str, now: Timestamp) -> Option<Skips> {
        let mut fr = self.frame(Topic::Orderbook, now);
        if scan_orderbook(frame, &mut fr).is_none() {
            self.scratch.clear();
            return None;
        }
        fr.orderbook_done();
        Some(fr.skips)
    }
}

impl KanaDecoder {
    /// The history fast path: a `trade_history` / `live_trade_history` push of the shape Kana
    /// sends ([`scan_history`]) has its records read by the byte scanner instead of two serde
    /// passes, and replayed records recognised by the [`ReplayMemo`]. `None` — with nothing
    /// left behind — for any other frame; the careful path then decodes it as it always did.
    fn fast_history(&mut self, frame: &str, now: Timestamp) -> Option<(Topic, Skips)> {
        let mut records = std::mem::take(&mut self.records);
        let mut memo = std::mem::take(&mut self.replay);
        let done = scan_history(frame, &mut records).and_then(|topic| {
            let mut fr = self.frame(topic, now);
            fr.fills_replayed(frame, &records, &mut memo)?;
            Some((topic, fr.skips))
        });
        self.replay = memo;
        self.records = records;
        if done.is_none() {
            self.scratch.clear();
            self.pending_fills.clear();
            self.issues.clear();
            self.pending_issues.clear();
        }
        done
    }
}

impl<'d> FrameDecoding<'d> {
    /// The record's market and its conversions; `None` (counted as skipped) for unknown markets.
    fn market(&mut self, id: Num<'_>) -> Result<Option<Conv<'d>>, DecodeError> {
        let id = u64_of(self.topic, "market_id", id)?;
        let markets = self.markets;
        match markets.get(id) {
            Some((spec, grid)) => Ok(Some(Conv {
                topic: self.topic,
                spec,
                grid,
                raw: markets.units.is_raw(spec.id),
            })),
            None => {
                self.skips.add(SkipReason::UnconfiguredMarket);
                Ok(None)
            }
        }
    }

    fn too_old(&mut self, ts: Timestamp) -> bool {
        let old = self.since.is_some_and(|since| ts < since);
        if old {
            self.skips.add(SkipReason::BeforeStart);
        }
        old
    }

    /// `orderbook`: every push is the full book of its market (§7.5 \[INF\]: no deltas are
    /// documented), so each market in the frame becomes one snapshot. A push with no levels
    /// names no market and cannot be attributed, so it emits nothing (\[INF\]).
    fn orderbook(&mut self, data: &str) -> Result<(), DecodeError> {
        for_each_record::<WireLevel, _>(self.topic, data, |lv| self.orderbook_level(lv))?;
        self.orderbook_done();
        Ok(())
    }

    /// One level of an `orderbook` push, added to its market's snapshot.
    fn orderbook_level(&mut self, lv: WireLevel<'_>) -> Result<(), DecodeError> {
        let Some(conv) = self.market(lv.market_id)? else {
            return Ok(());
        };
        let level = Level {
            price: conv.ticks("price", lv.price)?,
            lots: conv.lots("size", lv.size)?,
        };
        let ts = ts_of(self.topic, "last_updated", lv.last_updated)?;
        self.push_level(conv.spec.id, lv.is_ask.0, level, ts);
        Ok(())
    }

    /// [`FrameDecoding::orderbook_level`] for a level located by the scanner, with the fast
    /// conversions only ([`plain_u64`], [`plain_decimal`], [`exact_units`] — what the conversions
    /// there try first): `None` when one of them does not apply, and the frame then goes to the
    /// serde path.
    /// `last` remembers the market of the previous level by its id text (a push names one market).
    fn orderbook_level_fast<'f>(
        &mut self,
        frame: &'f str,
        lv: RawLevel,
        last: &mut Option<(&'f str, Option<Conv<'d>>)>,
    ) -> Option<()> {
        let text = |span: Span| frame.get(span.start..span.end);
        let id_text = text(lv.market_id)?;
        let conv = match *last {
            Some((t, conv)) if t == id_text => conv,
            _ => {
                let conv = self.market_conv(plain_u64(id_text)?);
                *last = Some((id_text, conv));
                conv
            }
        };
        let Some(conv) = conv else {
            self.skips.add(SkipReason::UnconfiguredMarket);
            return Some(());
        };
        let units = |span: Span, convert: fn(&Grid, u64, u32) -> Option<u64>| -> Option<u64> {
            let t = text(span)?;
            if conv.raw {
                return plain_u64(t);
            }
            let (m, scale) = plain_decimal(t)?;
            convert(conv.grid?, m, scale)
        };
        let level = Level {
            price: Ticks(units(lv.price, Grid::ticks)?),
            lots: Lots(units(lv.size, Grid::lots)?),
        };
        let ts = match lv.last_updated {
            Some(span) => Some(Timestamp::from_secs(plain_u64(text(span)?)?)),
            None => None,
        };
        self.push_level(conv.spec.id, lv.is_ask, level, ts);
        Some(())
    }

    /// The conversions of market `id` (`None`: not configured), for the orderbook fast paths.
    fn market_conv(&self, id: u64) -> Option<Conv<'d>> {
        let markets = self.markets;
        markets.get(id).map(|(spec, grid)| Conv {
            topic: self.topic,
            spec,
            grid,
            raw: markets.units.is_raw(spec.id),
        })
    }

    /// A level [`Scanner::level_sent`] read, converted as [`FrameDecoding::orderbook_level_fast`]
    /// converts the same text (`last`: the market of the level before, and its conversions).
    /// `None` for a value the exact conversions do not take: the caller falls back.
    fn orderbook_level_sent(
        &mut self,
        lv: SentLevel,
        last: &mut Option<(u64, Option<Conv<'d>>)>,
    ) -> Option<()> {
        let conv = match *last {
            Some((id, conv)) if id == lv.market_id => conv,
            _ => {
                let conv = self.market_conv(lv.market_id);
                *last = Some((lv.market_id, conv));
                conv
            }
        };
        let Some(conv) = conv else {
            self.skips.add(SkipReason::UnconfiguredMarket);
            return Some(());
        };
        let units = |d: PlainDecimal, convert: fn(&Grid, u64, u32) -> Option<u64>| -> Option<u64> {
            if conv.raw {
                return (!d.point).then_some(d.mantissa);
            }
            convert(conv.grid?, d.mantissa, d.scale)
        };
        let level = Level {
            price: Ticks(units(lv.price, Grid::ticks)?),
            lots: Lots(units(lv.size, Grid::lots)?),
        };
        let ts = lv.last_updated.map(Timestamp::from_secs);
        self.push_level(conv.spec.id, lv.is_ask, level, ts);
        Some(())
    }

    /// Add a converted level to its market's snapshot (made on the market's first level).
    fn push_level(&mut self, market: MarketId, is_ask: bool, level: Level, ts: Option<Timestamp>) {
        // A push names one market, so its snapshot is nearly always the last event: found
        // without a search, and the level goes straight in.
        let book = match self.out.last_mut() {
            Some(Event::Book(book)) if book.market == market => Some(book),
            _ => None,
        };
        if let Some(book) = book {
            add_level(book, is_ask, level, ts);
            return;
        }
        let existing = self
            .out
            .iter()
            .position(|e| matches!(e, Event::Book(b) if b.market == market));
        let idx = match existing {
            Some(idx) => idx,
            None => {
                self.out.push(Event::Book(BookUpdate {
                    market,
                    kind: BookUpdateKind::Snapshot,
                    // Room for a typical push (the docs' sample has 9 asks, 10 bids)
                    // without regrowing per level.
                    bids: Vec::with_capacity(16),
                    asks: Vec::with_capacity(16),
                    ts: Timestamp(0),
                }));
                self.out.len() - 1
            }
        };
        if let Some(Event::Book(book)) = self.out.get_mut(idx) {
            add_level(book, is_ask, level, ts);
        }
    }

    /// After the last level: snapshots whose levels carried no time get the receive time.
    fn orderbook_done(&mut self) {
        if self.out.is_empty() && self.skips.total() == 0 {
            self.skips.add(SkipReason::EmptyBook);
        }
        for e in self.out.iter_mut() {
            match e {
                Event::Book(b) if b.ts == Timestamp(0) => b.ts = self.now,
                _ => {}
            }
        }
    }

    /// `positions`: a full snapshot of the profile's positions in configured markets (an empty
    /// list means everything is flat). `tp`/`sl` of `0` mean "not set" (\[INF\], §4.3.6).
    fn positions(&mut self, data: &str) -> Result<(), DecodeError> {
        let topic = self.topic;
        let now = self.now;
        let mut positions = Vec::new();
        for_each_record::<WirePosition, _>(topic, data, |p| {
            let Some(conv) = self.market(p.market_id)? else {
                return Ok(());
            };
            let side = match p.is_long() {
                Some(true) => PositionSide::Long,
                Some(false) => PositionSide::Short,
                None => {
                    return Err(error(
                        topic,
                        "trade_side",
                        "",
                        "is missing (and so is `is_long`)",
                    ));
                }
            };
            // Only to name the side of a later close; a position without a readable key is
            // still a position.
            if let Some(id) = p.trade_id.and_then(|n| u128_of(topic, "trade_id", n).ok()) {
                self.position_sides.remember(id, side);
            }
            let optional =
                |field: &str, n: Option<Num<'_>>| -> Result<Option<Decimal>, DecodeError> {
                    match n {
                        None => Ok(None),
                        Some(n) => conv.price(field, n).map(|d| (!d.is_zero()).then_some(d)),
                    }
                };
            positions.push(Position {
                market: conv.spec.id,
                side,
                lots: conv.lots("size", p.size)?,
                entry_price: conv.price("entry_price", p.entry_price)?,
                margin: conv.quote("margin", p.margin)?,
                leverage: conv.num("leverage", p.leverage, p.leverage.u32())?,
                liquidation_price: optional("liq_price", p.liq_price)?,
                take_profit: optional("tp", p.tp)?,
                stop_loss: optional("sl", p.sl)?,
                updated_at: ts_of(topic, "last_updated", p.last_updated)?.unwrap_or(now),
            });
            Ok(())
        })?;
        self.out.push(Event::Position(PositionUpdate {
            positions,
            snapshot: true,
        }));
        Ok(())
    }

    /// Leave a refused record out of the frame and report it once: history topics replay their
    /// records on every push, so a repeat of a record already reported only counts as skipped.
    fn skip_record(&mut self, e: DecodeError) {
        let key = issue_key(&e);
        if self.issues_seen.contains(&key) || !self.pending_issues.insert(key) {
            self.skips.add(SkipReason::RepeatOfRefused);
            return;
        }
        self.issues.push(RecordIssue::Skipped(e));
    }

    /// `trade_history` / `live_trade_history`: our fills, each emitted once (see [`FillKey`]).
    /// Liquidity is `Maker` when the fee is zero, else `Taker` (\[INF\] from §9.4: makers pay 0 %,
    /// so a maker rebate or a zero-fee taker tier would be misread). `live_trade_history`'s record
    /// shape is \[UNK\]; it is assumed equal to `trade_history`'s. A record the decoder refuses is
    /// left out and reported; an off-grid price is rounded against us (module docs).
    fn fills(&mut self, data: &str) -> Result<(), DecodeError> {
        let topic = self.topic;
        for_each_record::<WireTrade, _>(topic, data, |t| {
            if let Err(e) = self.fill(&t) {
                self.skip_record(e);
            }
            Ok(())
        })
    }

    /// [`FrameDecoding::fills`] for the records of a history push as [`scan_history`] found
    /// them, with the [`ReplayMemo`]: a record the last push held, whose key is still seen, is
    /// a repeat without being converted. `None` when a record does not read as a fill record
    /// (the careful path then decides, and words the error).
    fn fills_replayed(
        &mut self,
        frame: &str,
        records: &[Span],
        memo: &mut ReplayMemo,
    ) -> Option<()> {
        for record in records {
            let text = frame.get(record.start..record.end)?;
            if let Some(key) = memo.recall(text)
                && self.is_repeat(&key)
            {
                self.skips.add(SkipReason::Repeat);
                continue;
            }
            let t = serde_json::from_str::<WireTrade>(text).ok()?;
            match self.fill(&t) {
                Ok(Some(key)) => memo.remember(text, key),
                Ok(None) => {}
                Err(e) => self.skip_record(e),
            }
        }
        memo.push_done();
        Some(())
    }

    /// Whether a fill with `key` was emitted before (or earlier in this frame). A fill without
    /// a version matches one seen with or without a version; one with a version, the same
    /// version or one seen without any.
    fn is_repeat(&self, key: &FillKey) -> bool {
        let seen = |k: &FillKey| self.fills_seen.contains(k) || self.pending_fills.contains(k);
        if key.version == FillKey::NO_VERSION {
            seen(&key.with_version(FillKey::NO_VERSION))
                || seen(&key.with_version(FillKey::SOME_VERSION))
        } else {
            seen(key) || seen(&key.with_version(FillKey::NO_VERSION))
        }
    }

    /// One fill record of [`FrameDecoding::fills`]; `Err` leaves it out. Returns the record's
    /// key when it is a function of the record's text alone (emitted or a repeat, its side
    /// from its own order type): what the [`ReplayMemo`] may remember.
    fn fill(&mut self, t: &WireTrade<'_>) -> Result<Option<FillKey>, DecodeError> {
        let topic = self.topic;
        let Some(conv) = self.market(t.market_id)? else {
            return Ok(None);
        };
        let ts = match ts_of(topic, "timestamp", t.timestamp)? {
            Some(ts) => ts,
            None => ts_of(topic, "last_updated", t.last_updated)?.unwrap_or(self.now),
        };
        let code = conv.num("order_type", t.order_type, t.order_type.u64())?;
        let trade_id = u128_of(topic, "trade_id", t.trade_id)?;
        // A code outside the known ones with no side flag (documented fill records carry none):
        // a venue-made close — take-profit, stop-loss, liquidation \[INF\] — of the position
        // the record's `trade_id` names, whose side the `positions` topic showed. Unknown
        // position too: the record is refused and reported, and the position itself still
        // follows the `positions` topic.
        let own_side = side_and_direction(code, t.is_long());
        let (side, direction) = match own_side {
            Some(sd) => sd,
            None => {
                let position = self
                    .position_sides
                    .side_of(trade_id)
                    .ok_or_else(|| unknown_side(topic, t.order_type))?;
                (close_side(position), Direction::Close)
            }
        };
        let lots = conv.lots("size", t.size)?;
        let (price, rounded) = fill_price(conv, side, t.price)?;
        let fee = match t.fee {
            Some(n) => conv.quote("fee", n)?,
            None => return Err(error(topic, "fee", "", "is missing")),
        };
        let realized_pnl = match t.pnl {
            Some(n) => conv.quote("pnl", n)?,
            None => Decimal::ZERO,
        };
        let venue_id = match t.order_id {
            Some(n) => Some(VenueOrderId(u128_of(topic, "order_id", n)?)),
            None => None,
        };
        let version = match t.transaction_version {
            Some(n) => u64_of(topic, "transaction_version", n)?,
            None => 0,
        };
        if self.too_old(ts) {
            return Ok(None);
        }
        let key = FillKey {
            trade_id,
            order_id: venue_id.map_or(0, |v| v.0),
            version,
            ts_secs: ts.as_secs(),
            order_type: code,
            lots: lots.0,
            // Sources format the price differently; with an order id it is not needed.
            price: if venue_id.is_some() { 0 } else { price.0 },
        };
        let with_some_version = key.with_version(FillKey::SOME_VERSION);
        let memorable = own_side.map(|_| key);
        if self.is_repeat(&key) {
            self.skips.add(SkipReason::Repeat);
            return Ok(memorable);
        }
        self.pending_fills.insert(key);
        if version != FillKey::NO_VERSION {
            self.pending_fills.insert(with_some_version);
        }
        // Reported with the fill itself, so a replayed fill is not reported again.
        if let Some(note) = rounded {
            self.issues.push(RecordIssue::Rounded(note));
        }
        self.out.push(Event::Fill(Box::new(Fill {
            market: conv.spec.id,
            client_id: None,
            venue_id,
            trade_id: TradeId(key.id()),
            side,
            direction,
            lots,
            price,
            fee,
            realized_pnl,
            liquidity: if fee.is_zero() {
                Liquidity::Maker
            } else {
                Liquidity::Taker
            },
            ts,
        })));
        Ok(memorable)
    }

    /// `open_orders`: the full list of resting orders. `market` is `Some` only when every listed
    /// order is in one market; an empty list (or one spanning markets) gives `None` = all markets.
    fn open_orders(&mut self, data: &str) -> Result<(), DecodeError> {
        let topic = self.topic;
        let now = self.now;
        let mut orders: Vec<OpenOrderInfo> = Vec::new();
        let mut latest: Option<Timestamp> = None;
        for_each_record::<WireOpenOrder, _>(topic, data, |o| {
            let Some(conv) = self.market(o.market_id)? else {
                return Ok(());
            };
            let code = conv.num("order_type", o.order_type, o.order_type.u64())?;
            // \[INF\]: an order whose side cannot be known is not one this bot placed (its
            // limit orders carry codes 1-8), e.g. a TP/SL trigger; it is left out of the
            // snapshot and reported rather than failing it (which would block resync).
            let Some((side, direction)) = side_and_direction(code, o.is_long()) else {
                self.skip_record(unknown_side(topic, o.order_type));
                return Ok(());
            };
            let updated_at = match ts_of(topic, "last_updated", o.last_updated)? {
                Some(ts) => ts,
                None => ts_of(topic, "timestamp", o.timestamp)?.unwrap_or(now),
            };
            latest = latest.max(Some(updated_at));
            orders.push(OpenOrderInfo {
                market: conv.spec.id,
                venue_id: VenueOrderId(u128_of(topic, "order_id", o.order_id)?),
                side,
                direction,
                price: conv.ticks("price", o.price)?,
                total: conv.lots("total_size", o.total_size)?,
                remaining: conv.lots("remaining_size", o.remaining_size)?,
                leverage: conv.num("leverage", o.leverage, o.leverage.u32())?,
                updated_at,
            });
            Ok(())
        })?;
        // The topic is subscribed per profile and covers every market: the list is complete for
        // all of them, even when the orders left happen to be in one market.
        self.out.push(Event::OpenOrders(OpenOrdersSnapshot {
            market: None,
            orders,
            ts: latest.unwrap_or(now),
        }));
        Ok(())
    }

    /// `order_history` / `live_order_history`: `Open` → accepted, `Cancelled` → cancelled,
    /// `Filled` → filled (the order is closed; its amounts come with its fills from
    /// `trade_history`), each once per (order id, status). `Partially Filled` emits nothing (its
    /// fills say it); other statuses are skipped and counted. `live_order_history`'s record
    /// shape is \[UNK\]; it is assumed equal to `order_history`'s. A record the decoder refuses
    /// is left out and reported.
    fn order_history(&mut self, data: &str) -> Result<(), DecodeError> {
        let topic = self.topic;
        for_each_record::<WireOrderHistory, _>(topic, data, |o| {
            if let Err(e) = self.order_status(&o) {
                self.skip_record(e);
            }
            Ok(())
        })
    }

    /// One record of [`FrameDecoding::order_history`]; `Err` leaves it out.
    fn order_status(&mut self, o: &WireOrderHistory<'_>) -> Result<(), DecodeError> {
        let topic = self.topic;
        let Some(conv) = self.market(o.market_id)? else {
            return Ok(());
        };
        let order_id = u128_of(topic, "order_id", o.order_id)?;
        let ts = match ts_of(topic, "last_updated", o.last_updated)? {
            Some(ts) => ts,
            None => ts_of(topic, "timestamp", o.timestamp)?.unwrap_or(self.now),
        };
        // The status is part of the dedupe key: 0 open, 1 cancelled, 2 filled.
        let (kind, status) = match o.status {
            WireOrderStatus::Open => (OrderUpdateKind::Accepted, 0u8),
            WireOrderStatus::Cancelled => (OrderUpdateKind::Cancelled, 1),
            WireOrderStatus::Filled => (OrderUpdateKind::Filled, 2),
            // Its fills say how much: nothing to add until the order ends.
            WireOrderStatus::PartiallyFilled | WireOrderStatus::Other(_) => {
                self.skips.add(SkipReason::StatusWithoutEvent);
                return Ok(());
            }
        };
        if self.too_old(ts) {
            return Ok(());
        }
        let key = (order_id, status);
        if self.orders_seen.contains(&key) || !self.pending_orders.insert(key) {
            self.skips.add(SkipReason::Repeat);
            return Ok(());
        }
        self.out.push(Event::Order(OrderUpdate {
            market: conv.spec.id,
            client_id: None,
            venue_id: Some(VenueOrderId(order_id)),
            kind,
            ts,
        }));
        Ok(())
    }

    /// `recent_trades`: both counterparties of a match appear with the same transaction version,
    /// price and size (§7.4); one [`PublicTrade`] is emitted per match and remembered across
    /// frames. The aggressor is the side of the record that paid a fee (\[INF\]: makers pay 0,
    /// §9.4); `None` when no record of the pair did or its order type is unknown. A record the
    /// decoder refuses (an off-grid price included) is left out and reported.
    fn recent_trades(&mut self, data: &str) -> Result<(), DecodeError> {
        let topic = self.topic;
        for_each_record::<WireTrade, _>(topic, data, |t| {
            if let Err(e) = self.public_trade(&t) {
                self.skip_record(e);
            }
            Ok(())
        })
    }

    /// One record of [`FrameDecoding::recent_trades`]; `Err` leaves it out.
    fn public_trade(&mut self, t: &WireTrade<'_>) -> Result<(), DecodeError> {
        let topic = self.topic;
        let Some(conv) = self.market(t.market_id)? else {
            return Ok(());
        };
        let lots = conv.lots("size", t.size)?;
        let price = conv.ticks("price", t.price)?;
        let ts = match ts_of(topic, "timestamp", t.timestamp)? {
            Some(ts) => ts,
            None => ts_of(topic, "last_updated", t.last_updated)?.unwrap_or(self.now),
        };
        let version = match t.transaction_version {
            Some(n) => u64_of(topic, "transaction_version", n)?,
            None => 0,
        };
        let taker = match t.fee {
            Some(n) => conv.quote("fee", n)? > Decimal::ZERO,
            None => false,
        };
        let code = conv.num("order_type", t.order_type, t.order_type.u64())?;
        let aggressor = if taker {
            side_and_direction(code, t.is_long()).map(|(side, _)| side)
        } else {
            None
        };
        let key = TradeKey {
            market: conv.spec.id.0,
            version,
            ts_secs: if version == 0 { ts.as_secs() } else { 0 },
            price: price.0,
            lots: lots.0,
        };
        if self.trades_seen.contains(&key) {
            self.skips.add(SkipReason::Repeat);
            return Ok(());
        }
        if let Some(&idx) = self.pending_trades.get(&key) {
            // The other side of a pair already emitted in this frame.
            self.skips.add(SkipReason::CounterpartyLeg);
            if let Some(Event::Trade(trade)) = self.out.get_mut(idx) {
                trade.aggressor = trade.aggressor.or(aggressor);
            }
            return Ok(());
        }
        self.pending_trades.insert(key, self.out.len());
        self.out.push(Event::Trade(PublicTrade {
            market: conv.spec.id,
            price,
            lots,
            aggressor,
            ts,
        }));
        Ok(())
    }

    /// `live_funding_rate`: one event per configured market; others are skipped (counted). The
    /// rate is passed through as a fraction in both unit modes (\[UNK\]: only `"0"` was ever seen,
    /// §9.3). Time: `transaction_timestamp`, else `last_updated` (`funding_timestamp` is `0` in the
    /// samples).
    fn funding(&mut self, data: &str) -> Result<(), DecodeError> {
        let topic = self.topic;
        for_each_record::<WireFunding, _>(topic, data, |f| {
            // A rate is a plain fraction: no grid is needed to read it, so a decoder that
            // reports every market (`perpbot decode`) reads it for markets it has no spec of.
            let market = if self.any_market_funding {
                let id = u64_of(topic, "market_id", f.market_id)?;
                MarketId(id)
            } else {
                match self.market(f.market_id)? {
                    Some(conv) => conv.spec.id,
                    None => return Ok(()),
                }
            };
            let rate = decimal_of(topic, "funding_rate", f.funding_rate)?;
            let ts = match ts_of(topic, "transaction_timestamp", f.transaction_timestamp)? {
                Some(ts) if ts != Timestamp(0) => ts,
                _ => ts_of(topic, "last_updated", f.last_updated)?.unwrap_or(self.now),
            };
            self.out
                .push(Event::Funding(FundingRate { market, rate, ts }));
            Ok(())
        })
    }

    /// `bestPrice`: shape \[UNK\] (see [`WireBestPrice`]); records without a market id are skipped.
    fn best_price(&mut self, data: &str) -> Result<(), DecodeError> {
        let topic = self.topic;
        for_each_record::<WireBestPrice, _>(topic, data, |b| {
            let Some(id) = b.market_id else {
                self.skips.add(SkipReason::NoMarket);
                return Ok(());
            };
            let Some(conv) = self.market(id)? else {
                return Ok(());
            };
            let side = |field: &str, n: Option<Num<'_>>| match n {
                Some(n) => conv.ticks(field, n).map(Some),
                None => Ok(None),
            };
            let bid = side("bestBidPrice", b.best_bid)?;
            let ask = side("bestAskPrice", b.best_ask)?;
            let ts = ts_of(topic, "last_updated", b.last_updated)?.unwrap_or(self.now);
            self.out.push(Event::BestPrice(BestPrice {
                market: conv.spec.id,
                bid,
                ask,
                ts,
            }));
            Ok(())
        })
    }
}

/// Add a level to a snapshot; the snapshot's time is the latest of its levels'.
fn add_level(book: &mut BookUpdate, is_ask: bool, level: Level, ts: Option<Timestamp>) {
    if let Some(ts) = ts {
        book.ts = book.ts.max(ts);
    }
    if is_ask {
        book.asks.push(level);
    } else {
        book.bids.push(level);
    }
}

#[cfg(test)]
mod tests;
