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

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::io::{self, BufRead, Write};
use std::marker::PhantomData;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::{self, SeqAccess, Visitor};

use super::wire::{
    MarketInfo, Num, NumError, RestEnvelope, WireBestPrice, WireError, WireFunding, WireLevel,
    WireOpenOrder, WireOrderHistory, WireOrderStatus, WirePosition, WireShape, WireTrade,
    WsEnvelope,
};
use perpbot_model::{
    BestPrice, BookUpdate, BookUpdateKind, Direction, Event, Fill, FundingRate, Level, Liquidity,
    Lots, MarketId, MarketSpec, OpenOrderInfo, OpenOrdersSnapshot, OrderUpdate, OrderUpdateKind,
    Position, PositionSide, PositionUpdate, PublicTrade, Rounding, Side, Ticks, Timestamp, TradeId,
    UnitError, VenueOrderId,
};

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

/// Counters for one topic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicStats {
    /// Frames routed to the topic (including ones that failed).
    pub frames: u64,
    /// Events emitted.
    pub events: u64,
    /// Frames that failed to decode (nothing was emitted for them).
    pub errors: u64,
    /// Records skipped without error: unknown markets, repeats, records older than `since`,
    /// statuses that produce no event.
    pub skipped: u64,
    /// Records refused and left out of a frame that otherwise decoded (each reported as a
    /// [`RecordIssue::Skipped`]).
    pub bad_records: u64,
    /// Fills kept with their price rounded onto the grid ([`RecordIssue::Rounded`]).
    pub rounded: u64,
}

impl TopicStats {
    fn add(&mut self, other: &TopicStats) {
        self.frames += other.frames;
        self.events += other.events;
        self.errors += other.errors;
        self.skipped += other.skipped;
        self.bad_records += other.bad_records;
        self.rounded += other.rounded;
    }
}

/// Per-topic counters of a [`KanaDecoder`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodeStats {
    topics: [TopicStats; Topic::ALL.len()],
}

impl DecodeStats {
    /// The counters of one topic.
    pub fn topic(&self, topic: Topic) -> &TopicStats {
        // `index` is always in range; `get` keeps this free of panics all the same.
        self.topics.get(topic.index()).unwrap_or(&EMPTY_STATS)
    }

    /// All topics added up.
    pub fn total(&self) -> TopicStats {
        let mut t = TopicStats::default();
        for s in &self.topics {
            t.add(s);
        }
        t
    }

    fn topic_mut(&mut self, topic: Topic) -> Option<&mut TopicStats> {
        self.topics.get_mut(topic.index())
    }
}

static EMPTY_STATS: TopicStats = TopicStats {
    frames: 0,
    events: 0,
    errors: 0,
    skipped: 0,
    bad_records: 0,
    rounded: 0,
};

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

/// Where a value sits in the frame: the content of a JSON string without escapes, or a number
/// literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
    string: bool,
}

/// One orderbook level as located by [`Scanner::level`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RawLevel {
    is_ask: bool,
    price: Span,
    size: Span,
    market_id: Span,
    last_updated: Option<Span>,
}

/// Length of the string content at the start of `rest`: bytes up to the first `"`, `\\` or
/// control character (which of them it is, the caller checks). Eight bytes at a time.
fn string_len(rest: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while let Some(chunk) = rest.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        // A high bit set in each byte that is zero after the xor (equal to `"` or `\\`) or
        // below 0x20; bits above the lowest may be spurious, the lowest never is.
        let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
        let hits = zero(x ^ (ONES * u64::from(b'"')))
            | zero(x ^ (ONES * u64::from(b'\\')))
            | (x.wrapping_sub(ONES * 0x20) & !x & HIGH);
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    rest.get(i..)?
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|n| i + n)
}

/// A byte cursor over a frame for [`scan_orderbook`]. Every method returns `None` (or `false`)
/// at the first byte it does not expect.
struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Skip whitespace, then consume `c`.
    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// Skip whitespace, then consume `word` if it is next.
    fn word(&mut self, word: &[u8]) -> bool {
        self.ws();
        let found = self.b.get(self.i..self.i + word.len()) == Some(word);
        if found {
            self.i += word.len();
        }
        found
    }

    /// A string without escapes or control characters.
    fn string(&mut self) -> Option<Span> {
        self.eat(b'"')?;
        let start = self.i;
        let end = start + string_len(self.b.get(start..)?)?;
        if self.b.get(end) != Some(&b'"') {
            return None;
        }
        self.i = end + 1;
        Some(Span {
            start,
            end,
            string: true,
        })
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
    }

    /// A number literal, by the JSON grammar.
    fn number(&mut self) -> Option<Span> {
        self.ws();
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        Some(Span {
            start,
            end: self.i,
            string: false,
        })
    }

    /// A string or a number.
    fn num(&mut self) -> Option<Span> {
        self.ws();
        match self.peek()? {
            b'"' => self.string(),
            _ => self.number(),
        }
    }

    /// Skip the scalar value of a key the level does not use (objects and arrays: `None`).
    fn skip_scalar(&mut self) -> Option<()> {
        self.ws();
        let ok = match self.peek()? {
            b'"' => self.string().is_some(),
            b't' => self.word(b"true"),
            b'f' => self.word(b"false"),
            b'n' => self.word(b"null"),
            _ => self.number().is_some(),
        };
        ok.then_some(())
    }

    /// After a member: `,` (more follow, `true`) or `close` (done, `false`).
    fn next_member(&mut self, close: u8) -> Option<bool> {
        self.ws();
        let c = self.peek()?;
        self.i += 1;
        match c {
            b',' => Some(true),
            c if c == close => Some(false),
            _ => None,
        }
    }

    /// Consume `bytes` if they come next, exactly.
    fn exact(&mut self, bytes: &[u8]) -> Option<()> {
        let found = self.b.get(self.i..self.i + bytes.len()) == Some(bytes);
        found.then(|| self.i += bytes.len())
    }

    /// The rest of a level (after `{`) laid out exactly as Kana sends it — the five keys in
    /// alphabetical order, no other key, no whitespace between members — read without looking
    /// keys up. `None` (the caller then rewinds and reads the record generically) for any other
    /// layout; what it accepts, [`Scanner::level`] would read to the same values.
    fn level_as_sent(&mut self) -> Option<RawLevel> {
        self.exact(br#""is_ask":"#)?;
        let is_ask = if self.exact(b"true").is_some() {
            true
        } else {
            self.exact(b"false")?;
            false
        };
        self.exact(br#","last_updated":"#)?;
        let last_updated = if self.exact(b"null").is_some() {
            None
        } else {
            Some(self.num()?)
        };
        self.exact(br#","market_id":"#)?;
        let market_id = self.num()?;
        self.exact(br#","price":"#)?;
        let price = self.num()?;
        self.exact(br#","size":"#)?;
        let size = self.num()?;
        self.exact(b"}")?;
        Some(RawLevel {
            is_ask,
            price,
            size,
            market_id,
            last_updated,
        })
    }

    /// One level record: the fields [`WireLevel`] reads, each once, in any order; other keys
    /// only with scalar values.
    fn level(&mut self, frame: &str) -> Option<RawLevel> {
        self.eat(b'{')?;
        let start = self.i;
        if let Some(level) = self.level_as_sent() {
            return Some(level);
        }
        self.i = start;
        let mut is_ask = None;
        let (mut price, mut size, mut market_id) = (None, None, None);
        let mut last_updated: Option<Option<Span>> = None;
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            match frame.get(key.start..key.end)? {
                "is_ask" if is_ask.is_none() => {
                    is_ask = Some(if self.word(b"true") {
                        true
                    } else if self.word(b"false") {
                        false
                    } else {
                        return None;
                    });
                }
                "price" if price.is_none() => price = Some(self.num()?),
                "size" if size.is_none() => size = Some(self.num()?),
                "market_id" if market_id.is_none() => market_id = Some(self.num()?),
                "last_updated" if last_updated.is_none() => {
                    last_updated = Some(if self.word(b"null") {
                        None
                    } else {
                        Some(self.num()?)
                    });
                }
                "is_ask" | "price" | "size" | "market_id" | "last_updated" => return None,
                _ => self.skip_scalar()?,
            }
            if !self.next_member(b'}')? {
                break;
            }
        }
        Some(RawLevel {
            is_ask: is_ask?,
            price: price?,
            size: size?,
            market_id: market_id?,
            last_updated: last_updated.flatten(),
        })
    }
}

/// Decode an `orderbook` push of the common shape — `{"data": [levels], "message":
/// "orderbook"}` (either order) whose levels hold strings without escapes, numbers, booleans
/// and `null` only — in one pass over the bytes, each level converted as soon as it is read
/// ([`Frame::orderbook_level_fast`]: the fast conversions [`Frame::orderbook_level`] tries
/// first, and the same snapshot building). `None` for anything else (other topics, escapes,
/// nesting, duplicate or missing fields, invalid JSON) and for a value the fast conversions do
/// not take: the caller then throws away what was emitted and the serde path decides, and words
/// any error. On `Some`, the serde path would have produced exactly the same events (tests
/// compare the two on samples, edge cases and thousands of damaged frames).
fn scan_orderbook<'d>(frame: &str, fr: &mut Frame<'d>) -> Option<()> {
    let mut sc = Scanner {
        b: frame.as_bytes(),
        i: 0,
    };
    sc.eat(b'{')?;
    let (mut data, mut message) = (false, false);
    let mut market = None;
    loop {
        let key = sc.string()?;
        sc.eat(b':')?;
        match frame.get(key.start..key.end)? {
            "data" if !data => {
                data = true;
                sc.eat(b'[')?;
                sc.ws();
                if sc.peek()? == b']' {
                    sc.i += 1;
                } else {
                    loop {
                        let level = sc.level(frame)?;
                        fr.orderbook_level_fast(frame, level, &mut market)?;
                        if !sc.next_member(b']')? {
                            break;
                        }
                    }
                }
            }
            "message" if !message => {
                message = true;
                let topic = sc.string()?;
                if frame.get(topic.start..topic.end)? != "orderbook" {
                    return None;
                }
            }
            _ => return None,
        }
        if !sc.next_member(b'}')? {
            break;
        }
    }
    sc.ws();
    (data && message && sc.i == sc.b.len()).then_some(())
}

/// The hypothesis of reference §8.1 \[INF\]: odd codes act on the long side, even on the short
/// side; 1–4 open or increase, 5–8 decrease or close. Only parity and codes 1/2/4/7 have direct
/// support. Codes 0 and ≥ 9 are unknown.
fn order_type_meaning(code: u64) -> Option<(PositionSide, Direction)> {
    match code {
        1 | 3 => Some((PositionSide::Long, Direction::Open)),
        2 | 4 => Some((PositionSide::Short, Direction::Open)),
        5 | 7 => Some((PositionSide::Long, Direction::Close)),
        6 | 8 => Some((PositionSide::Short, Direction::Close)),
        _ => None,
    }
}

/// Book side of an order acting on `position` in `direction`: buy to open a long or close a short.
fn book_side(position: PositionSide, direction: Direction) -> Side {
    match (position, direction) {
        (PositionSide::Long, Direction::Open) | (PositionSide::Short, Direction::Close) => {
            Side::Buy
        }
        (PositionSide::Long, Direction::Close) | (PositionSide::Short, Direction::Open) => {
            Side::Sell
        }
    }
}

/// Side and direction from `order_type`, with an explicit `trade_side`/`is_long` flag taking
/// precedence for the position side (\[INF\]: an explicit field beats the parity hypothesis). For
/// an unknown code with a side flag, the direction is taken as `Close` (\[INF\]: codes ≥ 9 are
/// plausibly TP/SL/liquidation executions, all of which close).
fn side_and_direction(code: u64, is_long: Option<bool>) -> Option<(Side, Direction)> {
    let flag = is_long.map(|l| {
        if l {
            PositionSide::Long
        } else {
            PositionSide::Short
        }
    });
    let (position, direction) = match (order_type_meaning(code), flag) {
        (Some((parity, dir)), flag) => (flag.unwrap_or(parity), dir),
        (None, Some(flag)) => (flag, Direction::Close),
        (None, None) => return None,
    };
    Some((book_side(position, direction), direction))
}

/// A fill's identity for deduplication. \[INF\]: Kana's `trade_id` looks like a *position* key
/// (the G2 samples give the position, its opening fill and a later order that added to it the same
/// `trade_id`), so it alone would drop a second fill of the same position. The key adds the order
/// id, the transaction version, the time, the order type and the size (and the price, for a
/// fill without an order id). The same fill can come twice — pushed, then read over REST by the
/// resync's missed-fills read — and must count once: counted twice, it "fills" an order still
/// resting, which the bot then never cancels. So the price is left out when the order id is
/// there (sources format it differently), and a record without a version matches one with any
/// version (REST may not send it \[INF\]): two sentinel versions mark "seen without a version"
/// and "seen with some version".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FillKey {
    trade_id: u128,
    order_id: u128,
    version: u64,
    ts_secs: u64,
    order_type: u64,
    lots: u64,
    price: u64,
}

/// A public trade's identity: both counterparties' records share it (§7.4 `recent_trades`).
/// \[INF\]: without `transaction_version`, the second stands in, so two equal trades in one second
/// would merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct TradeKey {
    market: u64,
    version: u64,
    ts_secs: u64,
    price: u64,
    lots: u64,
}

impl FillKey {
    /// The version of a record that carries none (and of "seen without a version").
    const NO_VERSION: u64 = 0;
    /// Marks "seen with some version" (no real transaction version gets this high).
    const SOME_VERSION: u64 = u64::MAX;

    fn with_version(self, version: u64) -> FillKey {
        FillKey { version, ..self }
    }

    /// The fill's id for the rest of the bot ([`TradeId`], the engine's dedupe key): the first
    /// 128 bits of SHA3-256 over the key's fields, so it is stable across reconnects and restarts.
    fn id(&self) -> u128 {
        use sha3::{Digest, Sha3_256};
        let mut h = Sha3_256::new();
        h.update(self.trade_id.to_le_bytes());
        h.update(self.order_id.to_le_bytes());
        h.update(self.version.to_le_bytes());
        h.update(self.ts_secs.to_le_bytes());
        h.update(self.order_type.to_le_bytes());
        h.update(self.lots.to_le_bytes());
        h.update(self.price.to_le_bytes());
        let digest = h.finalize();
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        u128::from_le_bytes(first)
    }
}

/// An order-status change's identity.
type OrderKey = (u128, bool);

/// A set that remembers at most `cap` keys, forgetting the oldest first.
#[derive(Debug)]
struct Seen<K> {
    set: HashSet<K>,
    order: VecDeque<K>,
    cap: usize,
}

impl<K: Copy + Eq + Hash> Seen<K> {
    fn new(cap: usize) -> Seen<K> {
        Seen {
            set: HashSet::new(),
            order: VecDeque::new(),
            cap,
        }
    }

    fn contains(&self, k: &K) -> bool {
        self.set.contains(k)
    }

    fn insert(&mut self, k: K) {
        if self.cap == 0 || !self.set.insert(k) {
            return;
        }
        self.order.push_back(k);
        while self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }
}

/// The configured markets and the units mode: everything a record conversion needs.
#[derive(Debug)]
struct Markets {
    specs: Vec<MarketSpec>,
    /// `grids[i]` is `specs[i]`'s grid for the fast conversions.
    grids: Vec<Option<Grid>>,
    units: KanaUnits,
}

impl Markets {
    fn new(specs: Vec<MarketSpec>, units: KanaUnits) -> Markets {
        let grids = specs.iter().map(Grid::of).collect();
        Markets {
            specs,
            grids,
            units,
        }
    }

    fn get(&self, id: u64) -> Option<(&MarketSpec, Option<&Grid>)> {
        let i = self.specs.iter().position(|s| s.id.0 == id)?;
        Some((
            self.specs.get(i)?,
            self.grids.get(i).and_then(Option::as_ref),
        ))
    }
}

/// A market's grid as reduced integer ratios, for the fast path of the conversions every level
/// and fill needs: a plain decimal `m · 10^-s` is `m · tick_num / (10^s · tick_den)` ticks and
/// `m · lot_num / (10^s · lot_den)` lots — the arithmetic of [`MarketSpec::price_to_ticks`] and
/// [`MarketSpec::size_to_lots`] with [`Rounding::Exact`], with the market's constant factors
/// multiplied and reduced once instead of per value, and no [`Decimal`] in between. Whatever
/// the fast path cannot do exactly (a remainder, an overflow, a form other than plain digits)
/// goes through those functions, which also word the errors, so results and errors are the same
/// either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Grid {
    tick_num: u128,
    tick_den: u128,
    lot_num: u128,
    lot_den: u128,
}

impl Grid {
    /// `None` when a factor does not fit (no fast path for that market; never for Kana's).
    fn of(spec: &MarketSpec) -> Option<Grid> {
        let pow10 = |e: u32| 10u128.checked_pow(e);
        let (tick_num, tick_den) = reduce(
            u128::from(spec.lot_size).checked_mul(pow10(spec.quote_decimals)?)?,
            u128::from(spec.tick_size).checked_mul(pow10(spec.base_decimals)?)?,
        )?;
        let (lot_num, lot_den) = reduce(pow10(spec.base_decimals)?, u128::from(spec.lot_size))?;
        Some(Grid {
            tick_num,
            tick_den,
            lot_num,
            lot_den,
        })
    }
}

/// `num / den` in lowest terms; `None` for a zero denominator.
fn reduce(num: u128, den: u128) -> Option<(u128, u128)> {
    let (mut a, mut b) = (num, den);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    (den != 0 && a != 0).then(|| (num / a, den / a))
}

/// `text` as a plain non-negative decimal `m · 10^-s` (`digits[.digits]`, at most 19
/// significant digits, at most 28 fractional ones — what `Num::decimal` reads exactly); `None`
/// for anything else (signs, exponents, spaces, longer numbers), which the slow path handles.
fn plain_decimal(text: &str) -> Option<(u64, u32)> {
    let mut m = 0u64;
    let (mut int_digits, mut scale, mut dot) = (0u32, 0u32, false);
    for &b in text.as_bytes() {
        match b {
            b'0'..=b'9' => {
                m = m.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
                if dot {
                    scale += 1;
                } else {
                    int_digits += 1;
                }
            }
            b'.' if !dot => dot = true,
            _ => return None,
        }
    }
    (int_digits > 0 && (!dot || scale > 0) && scale <= 28).then_some((m, scale))
}

/// `text` as a plain unsigned integer (digits only) that fits `u64`; `None` otherwise (the slow
/// path then accepts `"1000.0"`, spaces and the like, or words the error).
fn plain_u64(text: &str) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    let mut v = 0u64;
    for &b in text.as_bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

/// Powers of ten that fit `u64`.
const POW10: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// `m · num / (10^s · den)` when it is a whole number that fits `u64`.
fn exact_units(m: u64, scale: u32, num: u128, den: u128) -> Option<u64> {
    // The common case in 64 bits: every factor and both products fit.
    if let (Ok(num), Ok(den), Some(&p)) = (
        u64::try_from(num),
        u64::try_from(den),
        POW10.get(scale as usize),
    ) && let (Some(n), Some(d)) = (m.checked_mul(num), p.checked_mul(den))
    {
        return (n % d == 0).then_some(n / d);
    }
    let n = u128::from(m).checked_mul(num)?;
    let d = 10u128.checked_pow(scale)?.checked_mul(den)?;
    if n % d != 0 {
        return None;
    }
    u64::try_from(n / d).ok()
}

/// Conversions of one record's values, with errors naming topic and field.
#[derive(Clone, Copy)]
struct Conv<'s> {
    topic: Topic,
    spec: &'s MarketSpec,
    grid: Option<&'s Grid>,
    raw: bool,
}

fn unit_reason(e: &UnitError) -> String {
    match e {
        UnitError::OffGrid { unit, step, .. } => {
            format!("is not a multiple of the market's {unit} ({step})")
        }
        UnitError::Negative { .. } => "is negative".to_owned(),
        UnitError::Overflow { .. } => "overflows the market's integer units".to_owned(),
        other => other.to_string(),
    }
}

impl Conv<'_> {
    fn num<T>(&self, field: &str, n: Num<'_>, r: Result<T, NumError>) -> Result<T, DecodeError> {
        r.map_err(|e| error(self.topic, field, n.text(), e))
    }

    fn decimal(&self, field: &str, n: Num<'_>) -> Result<Decimal, DecodeError> {
        self.num(field, n, n.decimal())
    }

    /// A size: lots on the raw host, human coins (exactly on the lot grid) otherwise.
    fn lots(&self, field: &str, n: Num<'_>) -> Result<Lots, DecodeError> {
        if self.raw {
            return u64_of(self.topic, field, n).map(Lots);
        }
        if let (Some(g), Some((m, scale))) = (self.grid, plain_decimal(n.text()))
            && let Some(lots) = exact_units(m, scale, g.lot_num, g.lot_den)
        {
            return Ok(Lots(lots));
        }
        let d = self.decimal(field, n)?;
        self.spec
            .size_to_lots(d, Rounding::Exact)
            .map_err(|e| error(self.topic, field, n.text(), unit_reason(&e)))
    }

    /// A price on the grid: ticks on the raw host, human (exactly on the tick grid) otherwise.
    fn ticks(&self, field: &str, n: Num<'_>) -> Result<Ticks, DecodeError> {
        if self.raw {
            return u64_of(self.topic, field, n).map(Ticks);
        }
        if let (Some(g), Some((m, scale))) = (self.grid, plain_decimal(n.text()))
            && let Some(ticks) = exact_units(m, scale, g.tick_num, g.tick_den)
        {
            return Ok(Ticks(ticks));
        }
        let d = self.decimal(field, n)?;
        self.spec
            .price_to_ticks(d, Rounding::Exact)
            .map_err(|e| error(self.topic, field, n.text(), unit_reason(&e)))
    }

    /// A human price that need not be on the grid (average entry, liquidation estimate, TP/SL).
    /// On the raw host it is in (possibly fractional) ticks.
    fn price(&self, field: &str, n: Num<'_>) -> Result<Decimal, DecodeError> {
        let d = self.decimal(field, n)?;
        if !self.raw {
            return Ok(d);
        }
        d.checked_mul(self.spec.tick_in_price())
            .map(|d| d.normalize())
            .ok_or_else(|| error(self.topic, field, n.text(), "overflows a decimal price"))
    }

    /// A quote amount (fee, PnL, margin): human on G4/G5, quote sub-units on the raw host.
    fn quote(&self, field: &str, n: Num<'_>) -> Result<Decimal, DecodeError> {
        let d = self.decimal(field, n)?;
        if !self.raw {
            return Ok(d);
        }
        let scale = Decimal::try_from_i128_with_scale(1, self.spec.quote_decimals)
            .map_err(|_| error(self.topic, field, n.text(), "has too many quote decimals"))?;
        d.checked_mul(scale)
            .map(|d| d.normalize())
            .ok_or_else(|| error(self.topic, field, n.text(), "overflows a decimal amount"))
    }
}

/// The error for a record whose `order_type` is unknown and which has no side flag.
fn unknown_side(topic: Topic, order_type: Num<'_>) -> DecodeError {
    error(
        topic,
        "order_type",
        order_type.text(),
        "is not a known order type (1-8) and the record has no side flag",
    )
}

/// Identity of a reported record issue, to report a replayed record once.
fn issue_key(e: &DecodeError) -> u64 {
    use std::hash::{DefaultHasher, Hasher};
    let mut h = DefaultHasher::new();
    e.hash(&mut h);
    h.finish()
}

/// A fill's price: exact on the grid; off the grid (human units only) rounded **against us** —
/// up for a buy, down for a sell — with the note to report as [`RecordIssue::Rounded`] (the
/// module docs say why the fill is kept).
fn fill_price(
    conv: Conv<'_>,
    side: Side,
    n: Num<'_>,
) -> Result<(Ticks, Option<DecodeError>), DecodeError> {
    if conv.raw {
        return conv.ticks("price", n).map(|t| (t, None));
    }
    if let (Some(g), Some((m, scale))) = (conv.grid, plain_decimal(n.text()))
        && let Some(ticks) = exact_units(m, scale, g.tick_num, g.tick_den)
    {
        return Ok((Ticks(ticks), None));
    }
    let refused = |e: &UnitError| error(conv.topic, "price", n.text(), unit_reason(e));
    let d = conv.decimal("price", n)?;
    match conv.spec.price_to_ticks(d, Rounding::Exact) {
        Ok(t) => return Ok((t, None)),
        Err(UnitError::OffGrid { .. }) => {}
        Err(e) => return Err(refused(&e)),
    }
    let (rounding, how, fill) = match side {
        Side::Buy => (Rounding::Up, "up", "buy"),
        Side::Sell => (Rounding::Down, "down", "sell"),
    };
    let ticks = conv
        .spec
        .price_to_ticks(d, rounding)
        .map_err(|e| refused(&e))?;
    let note = error(
        conv.topic,
        "price",
        n.text(),
        format_args!(
            "is not a multiple of the market's tick ({}): rounded {how} to {} (against us, a {fill} fill)",
            conv.spec.tick_in_price(),
            conv.spec.ticks_to_price(ticks)
        ),
    );
    Ok((ticks, Some(note)))
}

fn ts_of(topic: Topic, field: &str, n: Option<Num<'_>>) -> Result<Option<Timestamp>, DecodeError> {
    match n {
        None => Ok(None),
        // Unix seconds [DOC]; string (old host) or number (new host).
        Some(n) => u64_of(topic, field, n).map(|s| Some(Timestamp::from_secs(s))),
    }
}

fn u128_of(topic: Topic, field: &str, n: Num<'_>) -> Result<u128, DecodeError> {
    n.u128().map_err(|e| error(topic, field, n.text(), e))
}

fn u64_of(topic: Topic, field: &str, n: Num<'_>) -> Result<u64, DecodeError> {
    if let Some(v) = plain_u64(n.text()) {
        return Ok(v);
    }
    n.u64().map_err(|e| error(topic, field, n.text(), e))
}

/// Decodes Kana WebSocket frames into typed events. One per connection (or one for all: it keeps
/// no per-connection state beyond deduplication memory).
#[derive(Debug)]
pub struct KanaDecoder {
    markets: Markets,
    since: Option<Timestamp>,
    stats: DecodeStats,
    fills_seen: Seen<FillKey>,
    orders_seen: Seen<OrderKey>,
    trades_seen: Seen<TradeKey>,
    scratch: Vec<Event>,
    pending_fills: HashSet<FillKey>,
    pending_orders: HashSet<OrderKey>,
    pending_trades: HashMap<TradeKey, usize>,
    issues: Vec<RecordIssue>,
    issues_seen: Seen<u64>,
    pending_issues: HashSet<u64>,
    /// Whether the fast path is tried (always, except in tests that compare it with the serde
    /// path).
    fast_path: bool,
}

/// Per-frame decoding state: borrowed pieces of the decoder.
struct Frame<'d> {
    topic: Topic,
    now: Timestamp,
    since: Option<Timestamp>,
    markets: &'d Markets,
    fills_seen: &'d Seen<FillKey>,
    orders_seen: &'d Seen<OrderKey>,
    trades_seen: &'d Seen<TradeKey>,
    pending_fills: &'d mut HashSet<FillKey>,
    pending_orders: &'d mut HashSet<OrderKey>,
    pending_trades: &'d mut HashMap<TradeKey, usize>,
    out: &'d mut Vec<Event>,
    issues: &'d mut Vec<RecordIssue>,
    issues_seen: &'d Seen<u64>,
    pending_issues: &'d mut HashSet<u64>,
    skipped: u64,
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
            fills_seen: Seen::new(DEFAULT_DEDUPE_CAPACITY),
            orders_seen: Seen::new(DEFAULT_DEDUPE_CAPACITY),
            trades_seen: Seen::new(DEFAULT_DEDUPE_CAPACITY),
            scratch: Vec::new(),
            pending_fills: HashSet::new(),
            pending_orders: HashSet::new(),
            pending_trades: HashMap::new(),
            issues: Vec::new(),
            issues_seen: Seen::new(DEFAULT_DEDUPE_CAPACITY),
            pending_issues: HashSet::new(),
            fast_path: true,
        })
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
        self.fills_seen = Seen::new(capacity);
        self.orders_seen = Seen::new(capacity);
        self.trades_seen = Seen::new(capacity);
        self.issues_seen = Seen::new(capacity);
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

        let (topic, result) = self.decode_frame(frame, now);
        let Some(stats) = self.stats.topic_mut(topic) else {
            return result.map(|_| 0);
        };
        stats.frames += 1;
        match result {
            Ok(skipped) => {
                let n = self.scratch.len();
                stats.events += n as u64;
                stats.skipped += skipped;
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

    /// Route and decode into `self.scratch`; returns the topic and the count of skipped records.
    fn decode_frame(&mut self, frame: &str, now: Timestamp) -> (Topic, Result<u64, DecodeError>) {
        if self.fast_path
            && let Some(skipped) = self.fast_orderbook(frame, now)
        {
            return (Topic::Orderbook, Ok(skipped));
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
            // No event is defined for deposits/withdrawals; the shape is [UNK] anyway.
            Topic::DepositWithdrawHistory => Ok(()),
            // Not an error: see the module docs.
            Topic::Unknown => Ok(()),
        };
        let skipped = fr.skipped;
        (topic, result.map(|()| skipped))
    }
}

impl KanaDecoder {
    /// The per-frame state over this decoder's memory, for one frame of `topic`.
    fn frame(&mut self, topic: Topic, now: Timestamp) -> Frame<'_> {
        Frame {
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
            skipped: 0,
        }
    }

    /// The orderbook fast path ([`scan_orderbook`]): the frame is read once and its levels
    /// converted on the way. `None` — with nothing left behind — when the frame is not of the
    /// common shape or a value needs the exact decimal path; the serde path then decodes it (or
    /// words its error) as it always did.
    fn fast_orderbook(&mut self, frame: &str, now: Timestamp) -> Option<u64> {
        let mut fr = self.frame(Topic::Orderbook, now);
        if scan_orderbook(frame, &mut fr).is_none() {
            self.scratch.clear();
            return None;
        }
        fr.orderbook_done();
        Some(fr.skipped)
    }
}

impl<'d> Frame<'d> {
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
                self.skipped += 1;
                Ok(None)
            }
        }
    }

    fn too_old(&mut self, ts: Timestamp) -> bool {
        let old = self.since.is_some_and(|since| ts < since);
        if old {
            self.skipped += 1;
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

    /// [`Frame::orderbook_level`] for a level located by the scanner, with the fast conversions
    /// only ([`plain_u64`], [`plain_decimal`], [`exact_units`] — what the conversions there try
    /// first): `None` when one of them does not apply, and the frame then goes to the serde path.
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
                let markets = self.markets;
                let conv = markets.get(plain_u64(id_text)?).map(|(spec, grid)| Conv {
                    topic: self.topic,
                    spec,
                    grid,
                    raw: markets.units.is_raw(spec.id),
                });
                *last = Some((id_text, conv));
                conv
            }
        };
        let Some(conv) = conv else {
            self.skipped += 1;
            return Some(());
        };
        let units = |span: Span, num: fn(&Grid) -> (u128, u128)| -> Option<u64> {
            let t = text(span)?;
            if conv.raw {
                return plain_u64(t);
            }
            let (n, d) = num(conv.grid?);
            let (m, scale) = plain_decimal(t)?;
            exact_units(m, scale, n, d)
        };
        let level = Level {
            price: Ticks(units(lv.price, |g| (g.tick_num, g.tick_den))?),
            lots: Lots(units(lv.size, |g| (g.lot_num, g.lot_den))?),
        };
        let ts = match lv.last_updated {
            Some(span) => Some(Timestamp::from_secs(plain_u64(text(span)?)?)),
            None => None,
        };
        self.push_level(conv.spec.id, lv.is_ask, level, ts);
        Some(())
    }

    /// Add a converted level to its market's snapshot (made on the market's first level).
    fn push_level(&mut self, market: MarketId, is_ask: bool, level: Level, ts: Option<Timestamp>) {
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
            if let Some(ts) = ts {
                book.ts = book.ts.max(ts);
            }
            if is_ask {
                book.asks.push(level);
            } else {
                book.bids.push(level);
            }
        }
    }

    /// After the last level: snapshots whose levels carried no time get the receive time.
    fn orderbook_done(&mut self) {
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
            self.skipped += 1;
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

    /// One fill record of [`Frame::fills`]; `Err` leaves it out.
    fn fill(&mut self, t: &WireTrade<'_>) -> Result<(), DecodeError> {
        let topic = self.topic;
        let Some(conv) = self.market(t.market_id)? else {
            return Ok(());
        };
        let ts = match ts_of(topic, "timestamp", t.timestamp)? {
            Some(ts) => ts,
            None => ts_of(topic, "last_updated", t.last_updated)?.unwrap_or(self.now),
        };
        let code = conv.num("order_type", t.order_type, t.order_type.u64())?;
        let (side, direction) = side_and_direction(code, t.is_long())
            .ok_or_else(|| unknown_side(topic, t.order_type))?;
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
        let trade_id = u128_of(topic, "trade_id", t.trade_id)?;
        let venue_id = match t.order_id {
            Some(n) => Some(VenueOrderId(u128_of(topic, "order_id", n)?)),
            None => None,
        };
        let version = match t.transaction_version {
            Some(n) => u64_of(topic, "transaction_version", n)?,
            None => 0,
        };
        if self.too_old(ts) {
            return Ok(());
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
        let seen = |k: &FillKey| self.fills_seen.contains(k) || self.pending_fills.contains(k);
        let without_version = key.with_version(FillKey::NO_VERSION);
        let with_some_version = key.with_version(FillKey::SOME_VERSION);
        let duplicate = if version == FillKey::NO_VERSION {
            seen(&without_version) || seen(&with_some_version)
        } else {
            seen(&key) || seen(&without_version)
        };
        if duplicate {
            self.skipped += 1;
            return Ok(());
        }
        self.pending_fills.insert(key);
        if version != FillKey::NO_VERSION {
            self.pending_fills.insert(with_some_version);
        }
        // Reported with the fill itself, so a replayed fill is not reported again.
        if let Some(note) = rounded {
            self.issues.push(RecordIssue::Rounded(note));
        }
        self.out.push(Event::Fill(Fill {
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
        }));
        Ok(())
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

    /// `order_history` / `live_order_history`: `Open` → accepted, `Cancelled` → cancelled, each
    /// once per (order id, status). `Filled` / `Partially Filled` emit nothing (fills come from
    /// `trade_history`); other statuses are skipped and counted. `live_order_history`'s record
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

    /// One record of [`Frame::order_history`]; `Err` leaves it out.
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
        let (kind, is_open) = match o.status {
            WireOrderStatus::Open => (OrderUpdateKind::Accepted, true),
            WireOrderStatus::Cancelled => (OrderUpdateKind::Cancelled, false),
            WireOrderStatus::Filled
            | WireOrderStatus::PartiallyFilled
            | WireOrderStatus::Other(_) => {
                self.skipped += 1;
                return Ok(());
            }
        };
        if self.too_old(ts) {
            return Ok(());
        }
        let key = (order_id, is_open);
        if self.orders_seen.contains(&key) || !self.pending_orders.insert(key) {
            self.skipped += 1;
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

    /// One record of [`Frame::recent_trades`]; `Err` leaves it out.
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
            self.skipped += 1;
            return Ok(());
        }
        if let Some(&idx) = self.pending_trades.get(&key) {
            // The other side of a pair already emitted in this frame.
            self.skipped += 1;
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
            let Some(conv) = self.market(f.market_id)? else {
                return Ok(());
            };
            let rate = conv.decimal("funding_rate", f.funding_rate)?;
            let ts = match ts_of(topic, "transaction_timestamp", f.transaction_timestamp)? {
                Some(ts) if ts != Timestamp(0) => ts,
                _ => ts_of(topic, "last_updated", f.last_updated)?.unwrap_or(self.now),
            };
            self.out.push(Event::Funding(FundingRate {
                market: conv.spec.id,
                rate,
                ts,
            }));
            Ok(())
        })
    }

    /// `bestPrice`: shape \[UNK\] (see [`WireBestPrice`]); records without a market id are skipped.
    fn best_price(&mut self, data: &str) -> Result<(), DecodeError> {
        let topic = self.topic;
        for_each_record::<WireBestPrice, _>(topic, data, |b| {
            let Some(id) = b.market_id else {
                self.skipped += 1;
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

// ---------------------------------------------------------------------------------------------
// Stream helper and market specs (backing `perpbot decode --venue kana`)
// ---------------------------------------------------------------------------------------------

/// What [`decode_lines`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeSummary {
    /// Non-blank input lines (frames).
    pub frames: u64,
    /// Events written.
    pub events: u64,
    /// Frames that could not be decoded.
    pub errors: u64,
}

/// Decode one frame per input line: each event as one JSON line on `out`, each undecodable frame
/// as `line N: <reason>` on `err`; blank lines are skipped. Nothing else is printed. Frames are
/// decoded with receive time `Timestamp(0)` (a file carries none), so events whose records have
/// no venue time get `ts` 0 and the output is reproducible.
pub fn decode_lines(
    mut input: impl BufRead,
    mut out: impl Write,
    mut err: impl Write,
    decoder: &mut KanaDecoder,
) -> io::Result<DecodeSummary> {
    let mut summary = DecodeSummary::default();
    let mut buf = Vec::new();
    let mut events = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        line_no += 1;
        let Ok(line) = std::str::from_utf8(&buf) else {
            summary.frames += 1;
            summary.errors += 1;
            writeln!(err, "line {line_no}: frame is not valid UTF-8")?;
            continue;
        };
        let frame = line.trim();
        if frame.is_empty() {
            continue;
        }
        summary.frames += 1;
        events.clear();
        match decoder.decode(frame, Timestamp(0), &mut events) {
            Ok(n) => {
                for event in &events {
                    serde_json::to_writer(&mut out, event)?;
                    out.write_all(b"\n")?;
                }
                for issue in decoder.last_record_issues() {
                    writeln!(err, "line {line_no}: {issue}")?;
                }
                summary.events += n as u64;
            }
            Err(e) => {
                summary.errors += 1;
                writeln!(err, "line {line_no}: {e}")?;
            }
        }
    }
    out.flush()?;
    err.flush()?;
    Ok(summary)
}

/// Market specs from `getMarketInfo` / `getPerpetualAssetsInfo/allMarkets` output: the REST
/// envelope `{success|status, message, data}` (with `data` a list or one object), a bare list, or
/// a single market object. An envelope whose flag is `false` is an error carrying its message;
/// an empty list gives an empty vector.
pub fn specs_from_market_info_json(text: &str) -> Result<Vec<MarketSpec>, WireError> {
    fn from_records(text: &str) -> Result<Vec<MarketSpec>, WireError> {
        match text.trim_start().as_bytes().first() {
            Some(b'[') => serde_json::from_str::<Vec<MarketInfo>>(text)?
                .iter()
                .map(MarketInfo::to_spec)
                .collect(),
            Some(b'{') => Ok(vec![serde_json::from_str::<MarketInfo>(text)?.to_spec()?]),
            _ => Err(WireError::Json(
                "expected a list or an object of market records".into(),
            )),
        }
    }
    if text.trim_start().starts_with('{') {
        let env: RestEnvelope = serde_json::from_str(text)?;
        if !env.succeeded() {
            let msg = env.message.as_ref().map_or("(no message)", |m| m.as_str());
            return Err(WireError::Rest(msg.to_owned()));
        }
        if let Some(data) = env.data {
            return from_records(data.get());
        }
    }
    from_records(text)
}

/// Built-in market specs: the one grid the reference documents exactly (testnet APT, market
/// 1338, §3.3) and — \[INF\] — the same grid under the dead G2 id 396, so that the reference's
/// raw-unit samples decode (their values fit it: 1000 lots × 6050 ticks = 6.05 USDT, §3.3).
pub fn builtin_specs() -> Vec<MarketSpec> {
    let apt = MarketSpec::kana_apt_testnet();
    let g2 = MarketSpec {
        id: MarketId(396),
        name: "APT/USDC (G2)".to_owned(),
        ..apt.clone()
    };
    vec![apt, g2]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn decoder() -> KanaDecoder {
        KanaDecoder::new(builtin_specs(), KanaUnits::Auto).unwrap()
    }

    fn decode_ok(d: &mut KanaDecoder, frame: &str) -> Vec<Event> {
        let mut out = Vec::new();
        let n = d.decode(frame, Timestamp::from_secs(42), &mut out).unwrap();
        assert_eq!(n, out.len());
        out
    }

    fn decode_err(d: &mut KanaDecoder, frame: &str) -> DecodeError {
        let mut out = vec![Event::Timer(perpbot_model::TimerId(7))];
        let e = d
            .decode(frame, Timestamp::from_secs(42), &mut out)
            .unwrap_err();
        assert_eq!(
            out,
            vec![Event::Timer(perpbot_model::TimerId(7))],
            "nothing appended"
        );
        e
    }

    fn secs(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    fn apt_like(id: u64) -> MarketSpec {
        MarketSpec {
            id: MarketId(id),
            ..MarketSpec::kana_apt_testnet()
        }
    }

    // --- reference §7.4 samples -----------------------------------------------------------

    const G2_POSITIONS: &str = r#"{"data":[{"address":"0x4d6dc68e391e86991e58ab4d548b7e92872430d1f51bc666fe0c206bad7ff770","entry_price":"6050","is_long":false,"last_updated":"1739788459","leverage":2,"liq_price":"8853.658536585366","margin":"3025000","market_id":"396","size":"1000","sl":null,"tp":null,"trade_id":"16509835945970048696716","value":"6050000"}],"message":"positions"}"#;

    #[test]
    fn g2_positions_sample_in_raw_units() {
        let events = decode_ok(&mut decoder(), G2_POSITIONS);
        let expected = Position {
            market: MarketId(396),
            side: PositionSide::Short,
            lots: Lots(1000),
            entry_price: dec!(6.05),
            margin: dec!(3.025),
            leverage: 2,
            liquidation_price: Some(dec!(8.853658536585366)),
            take_profit: None,
            stop_loss: None,
            updated_at: secs(1_739_788_459),
        };
        assert_eq!(
            events,
            vec![Event::Position(PositionUpdate {
                positions: vec![expected],
                snapshot: true
            })]
        );
    }

    const G2_TRADE_HISTORY: &str = r#"{"data":[{"address":"0x4d6d…f770","fee":"3025","last_updated":"1739788459","market_id":"396","order_type":2,"pnl":"0","price":"6050","size":"1000","timestamp":"1739788459","trade_id":"16509835945970048696716"}],"message":"trade_history"}"#;

    fn g2_fill() -> Fill {
        Fill {
            market: MarketId(396),
            client_id: None,
            venue_id: None,
            trade_id: TradeId(
                FillKey {
                    trade_id: 16_509_835_945_970_048_696_716,
                    order_id: 0,
                    version: 0,
                    ts_secs: 1_739_788_459,
                    order_type: 2,
                    lots: 1000,
                    price: 6050,
                }
                .id(),
            ),
            side: Side::Sell,
            direction: Direction::Open,
            lots: Lots(1000),
            price: Ticks(6050),
            fee: dec!(0.003025),
            realized_pnl: Decimal::ZERO,
            liquidity: Liquidity::Taker,
            ts: secs(1_739_788_459),
        }
    }

    #[test]
    fn g2_trade_history_sample() {
        let events = decode_ok(&mut decoder(), G2_TRADE_HISTORY);
        assert_eq!(events, vec![Event::Fill(g2_fill())]);
    }

    #[test]
    fn g2_open_orders_sample() {
        let frame = r#"{"data":[{"address":"0x4d6d…f770","last_updated":"1739790733","leverage":2,"market_id":"396","order_id":"12907057702855018828273522","order_type":1,"order_value":"6002000","price":"6002","remaining_size":"1000","timestamp":"1739790733","total_size":"1000","trade_id":"16528282690043758248332"}],"message":"open_orders"}"#;
        let events = decode_ok(&mut decoder(), frame);
        let order = OpenOrderInfo {
            market: MarketId(396),
            venue_id: VenueOrderId(12_907_057_702_855_018_828_273_522),
            side: Side::Buy,
            direction: Direction::Open,
            price: Ticks(6002),
            total: Lots(1000),
            remaining: Lots(1000),
            leverage: 2,
            updated_at: secs(1_739_790_733),
        };
        assert_eq!(
            events,
            vec![Event::OpenOrders(OpenOrdersSnapshot {
                market: None,
                orders: vec![order],
                ts: secs(1_739_790_733),
            })]
        );
    }

    #[test]
    fn empty_open_orders_and_positions_are_snapshots() {
        let mut d = decoder();
        let events = decode_ok(&mut d, r#"{"data":[],"message":"open_orders"}"#);
        assert_eq!(
            events,
            vec![Event::OpenOrders(OpenOrdersSnapshot {
                market: None,
                orders: vec![],
                ts: secs(42)
            })]
        );
        let events = decode_ok(&mut d, r#"{"data":[],"message":"positions"}"#);
        assert_eq!(
            events,
            vec![Event::Position(PositionUpdate {
                positions: vec![],
                snapshot: true
            })]
        );
    }

    const G2_ORDERBOOK: &str = r#"{"data":[{"is_ask":true,"last_updated":"1739790988","market_id":"396","price":"6036","size":"169320"},
         {"is_ask":false,"last_updated":"1739790988","market_id":"396","price":"6031","size":"174998"}],
 "message":"orderbook"}"#;

    #[test]
    fn g2_orderbook_sample() {
        let events = decode_ok(&mut decoder(), G2_ORDERBOOK);
        assert_eq!(
            events,
            vec![Event::Book(BookUpdate {
                market: MarketId(396),
                kind: BookUpdateKind::Snapshot,
                bids: vec![Level::new(6031, 174_998)],
                asks: vec![Level::new(6036, 169_320)],
                ts: secs(1_739_790_988),
            })]
        );
    }

    const G4_RECENT_TRADES: &str = r#"{"data":[{"address":"0x73e73911c0771e4d58f17aea3d0c70980ca2bae32c665b37101d1a18f4ef60f1","fee":"0","last_updated":1746177751,"leverage":2,"market_id":"1338","order_type":1,"order_value":"65.393818","pnl":"0","price":"5.518","size":"11.851","timestamp":1746177750,"trade_id":"176590681017621537621306","transaction_version":6704413443},
         {"address":"0x85a0d7c3e1f5e243b80055b249d6e4cc4b2db5f599fa7a27b05850af8eccffdd","fee":"0.0326969090000000006806411505","last_updated":1746177751,"leverage":2,"market_id":"1338","order_type":7,"order_value":"65.393818","pnl":"-0.0682499090000000006806411505","price":"5.518","size":"11.851","timestamp":1746177750,"trade_id":"176609127761695247172922","transaction_version":6704413443}]}"#;

    #[test]
    fn g4_recent_trades_sample_without_message_emits_one_trade_per_pair() {
        let mut d = decoder();
        let events = decode_ok(&mut d, G4_RECENT_TRADES);
        let trade = PublicTrade {
            market: MarketId(1338),
            price: Ticks(5518),
            lots: Lots(11_851),
            // The taker (fee > 0) is order type 7 = close long = sell.
            aggressor: Some(Side::Sell),
            ts: secs(1_746_177_750),
        };
        assert_eq!(events, vec![Event::Trade(trade)]);
        assert_eq!(d.stats().topic(Topic::RecentTrades).skipped, 1);
        // The same list pushed again emits nothing.
        assert!(decode_ok(&mut d, G4_RECENT_TRADES).is_empty());
        // Taker listed first: the aggressor is the same.
        let inner = &G4_RECENT_TRADES[9..G4_RECENT_TRADES.len() - 2];
        let (maker, taker) = inner.split_once("},\n         {").unwrap();
        let swapped = format!("{{\"data\":[{{{taker},{maker}}}]}}");
        let mut d = decoder();
        let Event::Trade(t) = &decode_ok(&mut d, &swapped)[0] else {
            panic!()
        };
        assert_eq!(t.aggressor, Some(Side::Sell));
    }

    #[test]
    fn g4_live_funding_rate_sample() {
        let frame = r#"{"data":[{"funding_rate":"0","funding_timestamp":0,"last_updated":1747382402,"market_id":"14","transaction_timestamp":1747382400,"transaction_version":2726355750},
         {"funding_rate":"0","funding_timestamp":0,"last_updated":1747382402,"market_id":"16","transaction_timestamp":1747382400,"transaction_version":2726355754}],
 "message":"live_funding_rate"}"#;
        let mut d = KanaDecoder::new(vec![apt_like(14), apt_like(16)], KanaUnits::Auto).unwrap();
        let events = decode_ok(&mut d, frame);
        let f = |m| {
            Event::Funding(FundingRate {
                market: MarketId(m),
                rate: dec!(0),
                ts: secs(1_747_382_400),
            })
        };
        assert_eq!(events, vec![f(14), f(16)]);
        // Only 14 configured: 16 is skipped silently and counted.
        let mut d = KanaDecoder::new(vec![apt_like(14)], KanaUnits::Auto).unwrap();
        assert_eq!(decode_ok(&mut d, frame), vec![f(14)]);
        assert_eq!(d.stats().topic(Topic::LiveFundingRate).skipped, 1);
    }

    // --- reference §4 REST records ------------------------------------------------------------

    #[test]
    fn rest_market_info_example() {
        let text = r#"{
          "success": true,
          "message": "Market information fetched successfully",
          "data": [{
            "__variant__": "V1", "base_decimals": 8, "base_name": "APT/USDC", "counter": "0",
            "creator": "0xb61d7b57333abf8ac036e752f19d0ba0c4baa5404db1cbf868c57dac3628f2bf",
            "custodian_id": "75",
            "fee_address": "0x7724a4a23b25b460abc2a5d9fe1fe3c47e2a0e10a156dd713a221f129579c388",
            "is_recognised": false, "lot_size": "100000", "maintenance_margin": "250",
            "market_address": "0xcfa0086c26787035de6b4a312875c7a70b2f9a29fa880d0cf633ef3dd0acd2c3",
            "market_id": "1338", "market_status": 1, "max_leverage": "20",
            "max_lots": "150000000", "max_position_value": "125000000", "min_lots": "500",
            "quote_decimals": 6, "quote_precision": 3, "tick_size": "1"
          }]
        }"#;
        let expected = MarketSpec {
            name: "APT/USDC".into(),
            ..MarketSpec::kana_apt_testnet()
        };
        assert_eq!(
            specs_from_market_info_json(text).unwrap(),
            vec![expected.clone()]
        );
        // G1 flag name, bare list, single object, `data` as one object.
        let g1 = text.replace("\"success\"", "\"status\"");
        assert_eq!(
            specs_from_market_info_json(&g1).unwrap(),
            vec![expected.clone()]
        );
        let start = text.find('[').unwrap();
        let end = text.rfind(']').unwrap();
        let list = &text[start..=end];
        assert_eq!(
            specs_from_market_info_json(list).unwrap(),
            vec![expected.clone()]
        );
        let object = &list[1..list.len() - 1];
        assert_eq!(
            specs_from_market_info_json(object).unwrap(),
            vec![expected.clone()]
        );
        let env_obj = format!(r#"{{"success":true,"message":"m","data":{object}}}"#);
        assert_eq!(
            specs_from_market_info_json(&env_obj).unwrap(),
            vec![expected]
        );
        // Failure flag carries the message.
        let failed = r#"{"success":false,"message":"Market not found","data":null}"#;
        assert_eq!(
            specs_from_market_info_json(failed),
            Err(WireError::Rest("Market not found".into()))
        );
        assert_eq!(
            specs_from_market_info_json(r#"{"success":true,"data":[]}"#),
            Ok(vec![])
        );
        assert!(matches!(
            specs_from_market_info_json("nope"),
            Err(WireError::Json(_))
        ));
    }

    #[test]
    fn rest_open_order_record() {
        let rec = r#"{ "address": "0x…profile", "market_id": "1338", "leverage": 2, "order_type": 1,
  "timestamp": 1746177750, "price": "5.518", "total_size": "11.851",
  "remaining_size": "11.851", "order_value": "65.393818",
  "order_id": "12907057702855018828273522", "trade_id": "16528282690043758248332",
  "last_updated": 1746177751, "transaction_version": 6704413443 }"#;
        let frame = format!(r#"{{"data":[{rec}],"message":"open_orders"}}"#);
        let events = decode_ok(&mut decoder(), &frame);
        let order = OpenOrderInfo {
            market: MarketId(1338),
            venue_id: VenueOrderId(12_907_057_702_855_018_828_273_522),
            side: Side::Buy,
            direction: Direction::Open,
            price: Ticks(5518),
            total: Lots(11_851),
            remaining: Lots(11_851),
            leverage: 2,
            updated_at: secs(1_746_177_751),
        };
        assert_eq!(
            events,
            vec![Event::OpenOrders(OpenOrdersSnapshot {
                market: None,
                orders: vec![order],
                ts: secs(1_746_177_751),
            })]
        );
    }

    #[test]
    fn rest_position_record_in_human_units() {
        // A BTC-like grid for market 15: lot 0.00001 BTC, tick 1 USD.
        let btc = MarketSpec {
            id: MarketId(15),
            name: "BTC-USD".into(),
            base_decimals: 8,
            quote_decimals: 6,
            lot_size: 1_000,
            tick_size: 10,
            min_lots: 10,
            max_lots: 1_000_000,
            max_leverage: 20,
            maintenance_margin_bps: 250,
            quote_precision: 0,
        };
        let rec = r#"{ "address": "0x…profile", "market_id": "15", "leverage": 10, "trade_side": true,
  "size": "0.0001", "available_order_size": "0.0001", "value": "11.53",
  "entry_price": "115300", "liq_price": "106430.769", "margin": "1.153",
  "tp": null, "sl": null, "trade_id": "<u128 decimal string>",
  "last_updated": 1753165487, "transaction_version": 3102182809 }"#;
        let frame = format!(r#"{{"data":[{rec}],"message":"positions"}}"#);
        let mut d = KanaDecoder::new(vec![btc], KanaUnits::Auto).unwrap();
        let events = decode_ok(&mut d, &frame);
        let expected = Position {
            market: MarketId(15),
            side: PositionSide::Long,
            lots: Lots(10),
            entry_price: dec!(115300),
            margin: dec!(1.153),
            leverage: 10,
            liquidation_price: Some(dec!(106430.769)),
            take_profit: None,
            stop_loss: None,
            updated_at: secs(1_753_165_487),
        };
        assert_eq!(
            events,
            vec![Event::Position(PositionUpdate {
                positions: vec![expected],
                snapshot: true
            })]
        );
    }

    const ORDER_HISTORY_REC: &str = r#"{ "address": "0x…", "market_id": "396", "leverage": 2, "order_type": 4,
  "timestamp": "1739790700", "is_market_order": false, "size": "1000",
  "price": "6002", "order_value": "6002000", "status": "Filled",
  "order_id": "12906965467445688751095808", "trade_id": "16509835945970048696716",
  "last_updated": "1739790700" }"#;

    #[test]
    fn rest_order_history_record_and_status_changes() {
        let mut d = decoder();
        let filled = format!(r#"{{"data":[{ORDER_HISTORY_REC}],"message":"order_history"}}"#);
        assert!(
            decode_ok(&mut d, &filled).is_empty(),
            "fills come from trade_history"
        );
        assert_eq!(d.stats().topic(Topic::OrderHistory).skipped, 1);

        let open = ORDER_HISTORY_REC.replace("\"Filled\"", "\"Open\"");
        let cancelled = ORDER_HISTORY_REC
            .replace("\"Filled\"", "\"cancelled\"")
            .replace(
                "\"last_updated\": \"1739790700\"",
                "\"last_updated\": 1739790800",
            );
        let frame = format!(r#"{{"data":[{open},{cancelled}],"message":"order_history"}}"#);
        let update = |kind, ts| {
            Event::Order(OrderUpdate {
                market: MarketId(396),
                client_id: None,
                venue_id: Some(VenueOrderId(12_906_965_467_445_688_751_095_808)),
                kind,
                ts: secs(ts),
            })
        };
        assert_eq!(
            decode_ok(&mut d, &frame),
            vec![
                update(OrderUpdateKind::Accepted, 1_739_790_700),
                update(OrderUpdateKind::Cancelled, 1_739_790_800)
            ]
        );
        // The history replayed (and the newest record on the live topic) emits nothing new.
        assert!(decode_ok(&mut d, &frame).is_empty());
        let live = format!(r#"{{"data":[{cancelled}],"message":"live_order_history"}}"#);
        assert!(decode_ok(&mut d, &live).is_empty());
    }

    const FILL_REC: &str = r#"{ "address": "0x…", "leverage": 2, "market_id": "1338", "timestamp": 1746177750,
  "size": "11.851", "order_type": 7, "price": "5.518", "order_value": "65.393818",
  "pnl": "-0.0682499090000000006806411505", "fee": "0.0326969090000000006806411505",
  "trade_id": "176609127761695247172922", "last_updated": 1746177751,
  "transaction_version": 6704413443, "entry_price": null, "order_id": "12907057702855018828273522" }"#;

    fn g4_fill() -> Fill {
        Fill {
            market: MarketId(1338),
            client_id: None,
            venue_id: Some(VenueOrderId(12_907_057_702_855_018_828_273_522)),
            trade_id: TradeId(
                FillKey {
                    trade_id: 176_609_127_761_695_247_172_922,
                    order_id: 12_907_057_702_855_018_828_273_522,
                    version: 6_704_413_443,
                    ts_secs: 1_746_177_750,
                    order_type: 7,
                    lots: 11_851,
                    price: 0,
                }
                .id(),
            ),
            side: Side::Sell,
            direction: Direction::Close,
            lots: Lots(11_851),
            price: Ticks(5518),
            fee: dec!(0.0326969090000000006806411505),
            realized_pnl: dec!(-0.0682499090000000006806411505),
            liquidity: Liquidity::Taker,
            ts: secs(1_746_177_750),
        }
    }

    #[test]
    fn rest_fill_record() {
        // `order_id` is "…" in the reference; a real id stands in.
        let frame = format!(r#"{{"data":[{FILL_REC}],"message":"trade_history"}}"#);
        assert_eq!(
            decode_ok(&mut decoder(), &frame),
            vec![Event::Fill(g4_fill())]
        );
        // The live topic sends single records; an object instead of a list works too.
        let frame = format!(r#"{{"data":{FILL_REC},"message":"live_trade_history"}}"#);
        assert_eq!(
            decode_ok(&mut decoder(), &frame),
            vec![Event::Fill(g4_fill())]
        );
    }

    #[test]
    fn a_fill_read_over_rest_after_its_push_counts_once() {
        // The resync's missed-fills read returns a fill the socket already delivered, as the
        // REST record has it: version 0, price with more digits. Counted twice, it would "fill"
        // an order still resting on the venue.
        let mut d = decoder();
        let pushed = format!(r#"{{"data":[{FILL_REC}],"message":"trade_history"}}"#);
        assert_eq!(decode_ok(&mut d, &pushed), vec![Event::Fill(g4_fill())]);
        let rest = FILL_REC
            .replace(
                r#""transaction_version": 6704413443"#,
                r#""transaction_version": 0"#,
            )
            .replace(r#""price": "5.518""#, r#""price": "5.5180""#);
        assert_ne!(rest, FILL_REC);
        let read = format!(r#"{{"data":[{rest}],"message":"trade_history"}}"#);
        assert_eq!(decode_ok(&mut d, &read), Vec::<Event>::new());
        // With the same version and the price as pushed: the same fill again.
        let same = FILL_REC.replace(r#""price": "5.518""#, r#""price": "5.5180""#);
        let frame = format!(r#"{{"data":[{same}],"message":"trade_history"}}"#);
        assert_eq!(decode_ok(&mut d, &frame), Vec::<Event>::new());
        // Another fill of the same order in the same second, same size, but another
        // transaction: a fill of its own. So is one in another second.
        let other_tx = FILL_REC.replace("6704413443", "6704413444");
        let frame = format!(r#"{{"data":[{other_tx}],"message":"trade_history"}}"#);
        assert_eq!(decode_ok(&mut d, &frame).len(), 1);
        let later = FILL_REC.replace("1746177750", "1746177751");
        let frame = format!(r#"{{"data":[{later}],"message":"trade_history"}}"#);
        assert_eq!(decode_ok(&mut d, &frame).len(), 1);
        // Read first without a version, then pushed with one: once.
        let mut d = decoder();
        assert_eq!(decode_ok(&mut d, &read).len(), 1);
        assert_eq!(decode_ok(&mut d, &pushed), Vec::<Event>::new());
    }

    // --- malformed input and edge cases -----------------------------------------------------

    #[test]
    fn invalid_json_is_an_error_and_counted() {
        let mut d = decoder();
        let e = decode_err(&mut d, r#"{"data":[{"is_ask":true"#);
        assert_eq!(e.topic, "unknown");
        assert_eq!(e.field, "frame");
        assert!(e.reason.starts_with("is not a valid frame"), "{e}");
        assert_eq!(d.stats().topic(Topic::Unknown).errors, 1);
        let e = decode_err(&mut d, "");
        assert_eq!(e.field, "frame");
    }

    #[test]
    fn bad_number_in_one_level_names_topic_field_and_value() {
        let mut d = decoder();
        let bad = G2_ORDERBOOK.replace("\"174998\"", "\"17x998\"");
        let e = decode_err(&mut d, &bad);
        assert_eq!(
            e.to_string(),
            "orderbook: field `size`: \"17x998\" is not an unsigned integer"
        );
        let human = r#"{"data":[{"is_ask":true,"market_id":1338,"price":"5.52","size":"1"},
            {"is_ask":false,"market_id":1338,"price":"5.5185","size":"1"}],"message":"orderbook"}"#;
        let e = decode_err(&mut d, human);
        assert_eq!(
            e.to_string(),
            "orderbook: field `price`: \"5.5185\" is not a multiple of the market's tick (0.001)"
        );
        let abc = G2_POSITIONS.replace("\"size\":\"1000\"", "\"size\":\"abc\"");
        let e = decode_err(&mut decoder(), &abc.replace("396", "1338"));
        assert_eq!(
            e.to_string(),
            "positions: field `size`: \"abc\" is not a decimal"
        );
        let missing = G2_POSITIONS.replace("\"margin\":\"3025000\",", "");
        let e = decode_err(&mut decoder(), &missing);
        assert_eq!(
            (e.topic.as_str(), e.field.as_str()),
            ("positions", "margin")
        );
        assert_eq!(d.stats().topic(Topic::Orderbook).errors, 2);
        assert_eq!(d.stats().topic(Topic::Orderbook).events, 0);
    }

    #[test]
    fn unknown_topic_is_counted_not_an_error() {
        let mut d = decoder();
        assert!(decode_ok(&mut d, r#"{"data":[{"x":1}],"message":"pong"}"#).is_empty());
        assert!(decode_ok(&mut d, r#"{"message":"subscribed"}"#).is_empty());
        assert!(decode_ok(&mut d, r#"{"data":[{"x":1}]}"#).is_empty());
        let dw = r#"{"data":[{"amount":"10"}],"message":"deposit_withdraw_history"}"#;
        assert!(decode_ok(&mut d, dw).is_empty());
        let s = d.stats();
        assert_eq!(s.topic(Topic::Unknown).frames, 3);
        assert_eq!(s.topic(Topic::Unknown).errors, 0);
        assert_eq!(s.topic(Topic::DepositWithdrawHistory).frames, 1);
        assert_eq!(s.total().frames, 4);
    }

    #[test]
    fn duplicate_fills_across_frames_emit_once() {
        let mut d = decoder();
        assert_eq!(decode_ok(&mut d, G2_TRADE_HISTORY).len(), 1);
        assert!(decode_ok(&mut d, G2_TRADE_HISTORY).is_empty());
        let live = G2_TRADE_HISTORY.replace("\"trade_history\"", "\"live_trade_history\"");
        assert!(decode_ok(&mut d, &live).is_empty());
        assert_eq!(d.stats().topic(Topic::TradeHistory).skipped, 1);
        // A later fill of the same position (same trade_id) is a different fill.
        let later = G2_TRADE_HISTORY.replace(
            "\"timestamp\":\"1739788459\"",
            "\"timestamp\":\"1739788999\"",
        );
        assert_eq!(decode_ok(&mut d, &later).len(), 1);
    }

    #[test]
    fn failed_frame_does_not_commit_dedupe_memory() {
        let mut d = decoder();
        let good = &G2_TRADE_HISTORY[9..G2_TRADE_HISTORY.find("],\"message\"").unwrap()];
        // A record that is not even a fill record (no `size`) fails the whole frame.
        let bad = good
            .replace("\"size\":\"1000\",", "")
            .replace("16509835945970048696716", "1");
        let frame = format!(r#"{{"data":[{good},{bad}],"message":"trade_history"}}"#);
        let e = decode_err(&mut d, &frame);
        assert_eq!(e.field, "size");
        assert!(d.last_record_issues().is_empty());
        assert_eq!(
            decode_ok(&mut d, G2_TRADE_HISTORY),
            vec![Event::Fill(g2_fill())]
        );
    }

    #[test]
    fn numbers_and_strings_give_identical_events() {
        let as_numbers = G2_ORDERBOOK
            .replace("\"1739790988\"", "1739790988")
            .replace("\"396\"", "396")
            .replace("\"6036\"", "6036")
            .replace("\"169320\"", "169320");
        assert_eq!(
            decode_ok(&mut decoder(), &as_numbers),
            decode_ok(&mut decoder(), G2_ORDERBOOK)
        );
        let fill_numbers = FILL_REC
            .replace("\"11.851\"", "11.851")
            .replace("\"5.518\"", "5.518")
            .replace(
                "\"-0.0682499090000000006806411505\"",
                "-0.0682499090000000006806411505",
            )
            .replace(
                "\"0.0326969090000000006806411505\"",
                "0.0326969090000000006806411505",
            )
            .replace("\"176609127761695247172922\"", "176609127761695247172922")
            .replace("\"1338\"", "1338");
        let frame = format!(r#"{{"data":[{fill_numbers}],"message":"trade_history"}}"#);
        assert_eq!(
            decode_ok(&mut decoder(), &frame),
            vec![Event::Fill(g4_fill())]
        );
    }

    #[test]
    fn unknown_markets_are_skipped_and_counted() {
        let mut d = decoder();
        let other = G2_ORDERBOOK.replacen("\"396\"", "\"397\"", 1);
        let events = decode_ok(&mut d, &other);
        let Event::Book(b) = &events[0] else { panic!() };
        assert_eq!((b.asks.len(), b.bids.len()), (0, 1));
        assert_eq!(d.stats().topic(Topic::Orderbook).skipped, 1);
        let e = decode_err(&mut d, &G2_ORDERBOOK.replacen("\"396\"", "\"x\"", 1));
        assert_eq!(e.field, "market_id");
    }

    #[test]
    fn orderbook_frames_spanning_markets_give_one_snapshot_each() {
        let two = G2_ORDERBOOK.replacen(
            "\"market_id\":\"396\",\"price\":\"6036\",\"size\":\"169320\"",
            "\"market_id\":\"1338\",\"price\":\"6.036\",\"size\":\"169.32\"",
            1,
        );
        let events = decode_ok(&mut decoder(), &two);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].market(), Some(MarketId(1338)));
        let Event::Book(b) = &events[0] else { panic!() };
        assert_eq!(b.asks, vec![Level::new(6036, 169_320)]);
    }

    #[test]
    fn order_type_parity_and_unknown_codes() {
        assert_eq!(
            side_and_direction(1, None),
            Some((Side::Buy, Direction::Open))
        );
        assert_eq!(
            side_and_direction(2, None),
            Some((Side::Sell, Direction::Open))
        );
        assert_eq!(
            side_and_direction(3, None),
            Some((Side::Buy, Direction::Open))
        );
        assert_eq!(
            side_and_direction(4, None),
            Some((Side::Sell, Direction::Open))
        );
        assert_eq!(
            side_and_direction(5, None),
            Some((Side::Sell, Direction::Close))
        );
        assert_eq!(
            side_and_direction(6, None),
            Some((Side::Buy, Direction::Close))
        );
        assert_eq!(
            side_and_direction(7, None),
            Some((Side::Sell, Direction::Close))
        );
        assert_eq!(
            side_and_direction(8, None),
            Some((Side::Buy, Direction::Close))
        );
        assert_eq!(side_and_direction(9, None), None);
        assert_eq!(side_and_direction(0, None), None);
        assert_eq!(
            side_and_direction(9, Some(true)),
            Some((Side::Sell, Direction::Close))
        );

        let nine = G2_TRADE_HISTORY.replace("\"order_type\":2", "\"order_type\":9");
        let mut d = decoder();
        assert!(
            decode_ok(&mut d, &nine).is_empty(),
            "the record is left out"
        );
        assert_eq!(
            d.last_record_issues()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [
                "record skipped: trade_history: field `order_type`: \"9\" is not a known order type \
              (1-8) and the record has no side flag"
            ]
        );
        let with_side = nine.replace("\"pnl\"", "\"is_long\":false,\"pnl\"");
        let Event::Fill(f) = &decode_ok(&mut decoder(), &with_side)[0] else {
            panic!()
        };
        assert_eq!((f.side, f.direction), (Side::Buy, Direction::Close));
    }

    // --- one odd record among good ones -------------------------------------------------------

    /// A fill on testnet APT (1338, human units) with the given order type, price and size.
    fn human_fill(id: u64, order_type: u64, price: &str, size: &str) -> String {
        format!(
            r#"{{"address":"0x1","fee":"0.01","last_updated":1746177751,"market_id":"1338","order_type":{order_type},"pnl":"0","price":"{price}","size":"{size}","timestamp":1746177751,"trade_id":"{id}","transaction_version":{id}}}"#
        )
    }

    fn frame_of(topic: &str, records: &[String]) -> String {
        format!(r#"{{"data":[{}],"message":"{topic}"}}"#, records.join(","))
    }

    #[test]
    fn one_bad_fill_among_good_ones_is_skipped_reported_and_counted() {
        let frame = frame_of(
            "trade_history",
            &[
                human_fill(1, 1, "5.518", "1"),
                human_fill(2, 9, "5.518", "1"), // unknown type, no side flag
                human_fill(3, 2, "5.518", "1.0005"), // size off the lot grid
                human_fill(4, 2, "abc", "1"),   // not a number
                human_fill(5, 2, "5.52", "2"),
            ],
        );
        let mut d = decoder();
        let events = decode_ok(&mut d, &frame);
        let prices: Vec<(u64, u64)> = events
            .iter()
            .filter_map(|e| match e {
                Event::Fill(f) => Some((f.price.0, f.lots.0)),
                _ => None,
            })
            .collect();
        assert_eq!(
            prices,
            [(5518, 1000), (5520, 2000)],
            "the good fills, in order"
        );
        let issues: Vec<(String, String, String)> = d
            .last_record_issues()
            .iter()
            .map(|i| {
                assert!(matches!(i, RecordIssue::Skipped(_)), "{i}");
                let e = i.error();
                (e.topic.clone(), e.field.clone(), e.value.clone())
            })
            .collect();
        let t = "trade_history".to_owned();
        assert_eq!(
            issues,
            [
                (t.clone(), "order_type".into(), "9".into()),
                (t.clone(), "size".into(), "1.0005".into()),
                (t.clone(), "price".into(), "abc".into()),
            ]
        );
        let stats = *d.stats().topic(Topic::TradeHistory);
        assert_eq!(
            (stats.frames, stats.events, stats.errors, stats.bad_records),
            (1, 2, 0, 3)
        );
        // History topics replay: the same list again emits nothing and reports nothing new.
        assert!(decode_ok(&mut d, &frame).is_empty());
        assert!(d.last_record_issues().is_empty());
        let again = *d.stats().topic(Topic::TradeHistory);
        assert_eq!((again.bad_records, again.skipped), (3, stats.skipped + 5));
        // A later fill still gets through.
        let later = frame_of("trade_history", &[human_fill(6, 1, "5.5", "1")]);
        assert_eq!(decode_ok(&mut d, &later).len(), 1);
    }

    #[test]
    fn off_grid_fill_price_is_kept_and_rounded_against_us() {
        // Order type 1 opens a long (a buy), 2 opens a short (a sell).
        let frame = frame_of(
            "trade_history",
            &[
                human_fill(1, 1, "5.5181", "1"),
                human_fill(2, 2, "5.5189", "1"),
            ],
        );
        let mut d = decoder();
        let events = decode_ok(&mut d, &frame);
        let fills: Vec<(Side, u64)> = events
            .iter()
            .filter_map(|e| match e {
                Event::Fill(f) => Some((f.side, f.price.0)),
                _ => None,
            })
            .collect();
        assert_eq!(
            fills,
            [(Side::Buy, 5519), (Side::Sell, 5518)],
            "a buy rounds up, a sell down"
        );
        let notes: Vec<String> = d
            .last_record_issues()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            notes,
            [
                "record kept: trade_history: field `price`: \"5.5181\" is not a multiple of the \
                 market's tick (0.001): rounded up to 5.519 (against us, a buy fill)",
                "record kept: trade_history: field `price`: \"5.5189\" is not a multiple of the \
                 market's tick (0.001): rounded down to 5.518 (against us, a sell fill)",
            ]
        );
        let stats = d.stats().topic(Topic::TradeHistory);
        assert_eq!((stats.events, stats.rounded, stats.bad_records), (2, 2, 0));
        // Replayed: deduplicated, not reported again.
        assert!(decode_ok(&mut d, &frame).is_empty());
        assert!(d.last_record_issues().is_empty());
        assert_eq!(d.stats().topic(Topic::TradeHistory).rounded, 2);
    }

    #[test]
    fn off_grid_public_trade_is_skipped_and_the_rest_kept() {
        let frame = frame_of(
            "recent_trades",
            &[
                human_fill(1, 7, "5.5185", "1"),
                human_fill(2, 1, "5.518", "2"),
            ],
        );
        let mut d = decoder();
        let events = decode_ok(&mut d, &frame);
        let [Event::Trade(t)] = events.as_slice() else {
            panic!("{events:?}")
        };
        assert_eq!((t.price, t.lots), (Ticks(5518), Lots(2000)));
        let [RecordIssue::Skipped(e)] = d.last_record_issues() else {
            panic!("{:?}", d.last_record_issues())
        };
        assert_eq!(
            (e.topic.as_str(), e.field.as_str(), e.value.as_str()),
            ("recent_trades", "price", "5.5185")
        );
        assert_eq!(d.stats().topic(Topic::RecentTrades).bad_records, 1);
    }

    #[test]
    fn open_orders_leave_out_an_order_of_unknown_side_and_keep_the_rest() {
        let good = r#"{"market_id":"1338","leverage":2,"order_type":1,"price":"5.518","total_size":"1","remaining_size":"1","order_id":"11","last_updated":1746177751}"#;
        let odd = good
            .replace("\"order_type\":1", "\"order_type\":11")
            .replace("\"11\"", "\"12\"");
        let frame = frame_of("open_orders", &[good.to_owned(), odd]);
        let mut d = decoder();
        let events = decode_ok(&mut d, &frame);
        let [Event::OpenOrders(o)] = events.as_slice() else {
            panic!("{events:?}")
        };
        let ids: Vec<u128> = o.orders.iter().map(|o| o.venue_id.0).collect();
        assert_eq!(ids, [11]);
        let [RecordIssue::Skipped(e)] = d.last_record_issues() else {
            panic!("{:?}", d.last_record_issues())
        };
        assert_eq!((e.field.as_str(), e.value.as_str()), ("order_type", "11"));
        assert_eq!(d.stats().topic(Topic::OpenOrders).bad_records, 1);
    }

    #[test]
    fn one_bad_order_history_record_does_not_block_the_others() {
        let record = |id: &str, status: &str| {
            format!(
                r#"{{"market_id":"1338","order_id":"{id}","status":"{status}","last_updated":1746177751}}"#
            )
        };
        let frame = frame_of(
            "order_history",
            &[
                record("21", "Open"),
                record("x", "Open"),
                record("22", "Cancelled"),
            ],
        );
        let mut d = decoder();
        let events = decode_ok(&mut d, &frame);
        let kinds: Vec<(u128, OrderUpdateKind)> = events
            .iter()
            .filter_map(|e| match e {
                Event::Order(u) => Some((u.venue_id.map_or(0, |v| v.0), u.kind.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            kinds,
            [
                (21, OrderUpdateKind::Accepted),
                (22, OrderUpdateKind::Cancelled)
            ]
        );
        assert_eq!(d.stats().topic(Topic::OrderHistory).bad_records, 1);
    }

    #[test]
    fn decode_lines_prints_odd_records_without_failing_the_frame() {
        let frame = frame_of(
            "trade_history",
            &[
                human_fill(1, 9, "5.518", "1"),
                human_fill(2, 1, "5.518", "1"),
            ],
        );
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let summary = decode_lines(frame.as_bytes(), &mut out, &mut err, &mut decoder()).unwrap();
        assert_eq!(
            summary,
            DecodeSummary {
                frames: 1,
                events: 1,
                errors: 0
            }
        );
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "line 1: record skipped: trade_history: field `order_type`: \"9\" is not a known \
             order type (1-8) and the record has no side flag\n"
        );
    }

    #[test]
    fn maker_fill_has_zero_fee() {
        let maker = G2_TRADE_HISTORY.replace("\"fee\":\"3025\"", "\"fee\":0");
        let Event::Fill(f) = &decode_ok(&mut decoder(), &maker)[0] else {
            panic!()
        };
        assert_eq!((f.liquidity, f.fee), (Liquidity::Maker, Decimal::ZERO));
    }

    #[test]
    fn since_filters_history() {
        let mut d = decoder().with_since(secs(1_739_788_460));
        assert!(decode_ok(&mut d, G2_TRADE_HISTORY).is_empty());
        assert_eq!(d.stats().topic(Topic::TradeHistory).skipped, 1);
        let mut d = decoder().with_since(secs(1_739_788_459));
        assert_eq!(decode_ok(&mut d, G2_TRADE_HISTORY).len(), 1);
    }

    #[test]
    fn dedupe_memory_is_bounded() {
        let mut d = decoder().with_dedupe_capacity(1);
        let other = G2_TRADE_HISTORY.replace("16509835945970048696716", "2");
        assert_eq!(decode_ok(&mut d, G2_TRADE_HISTORY).len(), 1);
        assert_eq!(decode_ok(&mut d, &other).len(), 1);
        // The first was forgotten.
        assert_eq!(decode_ok(&mut d, G2_TRADE_HISTORY).len(), 1);
        assert_eq!(d.fills_seen.set.len(), 1);
    }

    #[test]
    fn units_modes() {
        assert!(KanaUnits::Auto.is_raw(MarketId(396)));
        assert!(!KanaUnits::Auto.is_raw(MarketId(1338)));
        assert!(KanaUnits::Raw.is_raw(MarketId(1338)));
        assert!(!KanaUnits::Human.is_raw(MarketId(396)));
        // Forced human units read the G2 sample's "6036" as a price of 6036 USDT.
        let mut d = KanaDecoder::new(builtin_specs(), KanaUnits::Human).unwrap();
        let Event::Book(b) = &decode_ok(&mut d, G2_ORDERBOOK)[0] else {
            panic!()
        };
        assert_eq!(b.asks, vec![Level::new(6_036_000, 169_320_000)]);
    }

    #[test]
    fn best_price_shapes() {
        let mut d = decoder();
        let obj = r#"{"data":{"market_id":"1338","bestBidPrice":5.518,"bestAskPrice":"5.523"},"message":"bestPrice"}"#;
        let expected = Event::BestPrice(BestPrice {
            market: MarketId(1338),
            bid: Some(Ticks(5518)),
            ask: Some(Ticks(5523)),
            ts: secs(42),
        });
        assert_eq!(decode_ok(&mut d, obj), vec![expected.clone()]);
        let list = r#"{"data":[{"market_id":1338,"best_bid_price":"5.518","best_ask_price":5.523}],"message":"best_price"}"#;
        assert_eq!(decode_ok(&mut d, list), vec![expected]);
        let empty_side =
            r#"{"data":[{"market_id":1338,"bid":null,"ask":"5.523"}],"message":"bestPrice"}"#;
        let Event::BestPrice(b) = &decode_ok(&mut d, empty_side)[0] else {
            panic!()
        };
        assert_eq!((b.bid, b.ask), (None, Some(Ticks(5523))));
        let no_market =
            r#"{"data":{"bestBidPrice":5.518,"bestAskPrice":5.523},"message":"bestPrice"}"#;
        assert!(decode_ok(&mut d, no_market).is_empty());
        assert_eq!(d.stats().topic(Topic::BestPrice).skipped, 1);
    }

    /// The old conversions, without the fast path: what `Conv` must still return.
    fn slow_units(spec: &MarketSpec, text: &str) -> (Option<Ticks>, Option<Lots>, Option<u64>) {
        let n = Num::from_str_value(text);
        let d = n.decimal().ok();
        (
            d.and_then(|d| spec.price_to_ticks(d, Rounding::Exact).ok()),
            d.and_then(|d| spec.size_to_lots(d, Rounding::Exact).ok()),
            n.u64().ok(),
        )
    }

    fn fast_units(spec: &MarketSpec, text: &str) -> (Option<Ticks>, Option<Lots>, Option<u64>) {
        let grid = Grid::of(spec);
        let conv = Conv {
            topic: Topic::Orderbook,
            spec,
            grid: grid.as_ref(),
            raw: false,
        };
        let n = Num::from_str_value(text);
        (
            conv.ticks("price", n).ok(),
            conv.lots("size", n).ok(),
            u64_of(Topic::Orderbook, "market_id", n).ok(),
        )
    }

    #[test]
    fn fast_conversions_agree_with_the_exact_decimal_path() {
        let mut specs = perpbot_sim::market::testnet_markets();
        specs.push(MarketSpec {
            lot_size: 3,
            tick_size: 7,
            base_decimals: 0,
            quote_decimals: 18,
            ..apt_like(9)
        });
        let fixed = [
            "5.518",
            "5.5180",
            "05.518",
            "5",
            "5.",
            ".5",
            "-5.518",
            "-0",
            "0",
            "0.000",
            "5.5181",
            "1e3",
            "1E-3",
            " 5.518",
            "5.518 ",
            "+5",
            "1_000",
            "",
            ".",
            "5..1",
            "11.851",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999",
            "0.0000000000000000000000000001",
            "0.00000000000000000000000000010",
            "1234567890123456789.5",
            "1844674407370955161.5",
            "100000",
            "115300",
            "0.0001",
        ];
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut random = Vec::new();
        for _ in 0..20_000 {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let digits = 1 + (rng >> 59) as usize % 21;
            let m: String = (0..digits)
                .map(|i| char::from(b'0' + ((rng >> (i % 16 * 4)) % 10) as u8))
                .collect();
            let scale = (rng >> 40) as usize % 31;
            let text = if scale == 0 || scale >= m.len() {
                format!("{m}.{}", "0".repeat(scale % 3 + 1))
            } else {
                format!("{}.{}", &m[..m.len() - scale], &m[m.len() - scale..])
            };
            random.push(text);
        }
        for spec in &specs {
            for text in fixed
                .iter()
                .copied()
                .chain(random.iter().map(String::as_str))
            {
                assert_eq!(
                    fast_units(spec, text),
                    slow_units(spec, text),
                    "market {} text {text:?}",
                    spec.id
                );
            }
        }
    }

    #[test]
    fn fast_conversions_report_the_same_errors() {
        let spec = MarketSpec::kana_apt_testnet();
        let grid = Grid::of(&spec);
        let conv = Conv {
            topic: Topic::Orderbook,
            spec: &spec,
            grid: grid.as_ref(),
            raw: false,
        };
        let slow = Conv { grid: None, ..conv };
        for text in ["5.5185", "-1", "abc", "1e400", "5."] {
            let n = Num::from_str_value(text);
            assert_eq!(conv.ticks("price", n), slow.ticks("price", n), "{text}");
            assert_eq!(conv.lots("size", n), slow.lots("size", n), "{text}");
        }
    }

    #[test]
    fn string_len_stops_at_the_first_quote_backslash_or_control_character() {
        let slow = |s: &[u8]| s.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
        let mut rng = 7u64;
        for len in 0..40 {
            for _ in 0..200 {
                let s: Vec<u8> = (0..len)
                    .map(|_| {
                        rng = rng
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        match (rng >> 33) % 12 {
                            0 => b'"',
                            1 => b'\\',
                            2 => (rng >> 40) as u8 % 0x20,
                            3 => 0x80 | (rng >> 40) as u8,
                            4 => 0x7f,
                            _ => b' ' + (rng >> 40) as u8 % 95,
                        }
                    })
                    .collect();
                assert_eq!(string_len(&s), slow(&s), "{s:?}");
            }
        }
    }

    /// What a decoder makes of `frame`: the result, the events and the counters.
    fn outcome(
        mut d: KanaDecoder,
        frame: &str,
    ) -> (Result<usize, DecodeError>, Vec<Event>, DecodeStats) {
        let mut out = Vec::new();
        let r = d.decode(frame, Timestamp::from_secs(42), &mut out);
        (r, out, d.stats().clone())
    }

    /// The orderbook fast path must give exactly what the serde path gives, errors included.
    fn same_as_serde(frame: &str) {
        let mut slow = decoder();
        slow.fast_path = false;
        assert_eq!(
            outcome(decoder(), frame),
            outcome(slow, frame),
            "frame {frame}"
        );
    }

    fn book_frame(levels: &[(bool, &str, &str)]) -> String {
        let recs: Vec<String> = levels
            .iter()
            .map(|(ask, p, s)| {
                format!(r#"{{"is_ask":{ask},"last_updated":1746177751,"market_id":"1338","price":"{p}","size":"{s}"}}"#)
            })
            .collect();
        format!(r#"{{"data":[{}],"message":"orderbook"}}"#, recs.join(","))
    }

    #[test]
    fn orderbook_fast_path_takes_the_common_shape_and_matches_the_serde_path() {
        let canonical = book_frame(&[
            (true, "5.523", "169.320"),
            (true, "5.524", "1"),
            (false, "5.521", "174.998"),
            (false, "5.52", "0.001"),
        ]);
        let common = [
            canonical.clone(),
            G2_ORDERBOOK.to_owned(),
            // message first, whitespace everywhere, keys reordered, extra scalar keys
            " \n{ \"message\" : \"orderbook\" ,\r\n \"data\" : [ { \"size\" : \"1.5\" , \"price\" : 5.5 , \"is_ask\" : false , \"market_id\" : 1338 , \"extra\" : null , \"n\" : -1.5e-3 , \"t\" : true , \"u\" : \"x\" } ] } \t".to_owned(),
            // last_updated null or absent: the receive time
            r#"{"data":[{"is_ask":true,"last_updated":null,"market_id":"1338","price":"5.5","size":"1"}],"message":"orderbook"}"#.to_owned(),
            r#"{"data":[{"is_ask":true,"market_id":"1338","price":"5.5","size":"1"}],"message":"orderbook"}"#.to_owned(),
            // levels of an unknown market are skipped and counted
            r#"{"data":[{"is_ask":true,"market_id":"7","price":"5.5","size":"1"},{"is_ask":false,"market_id":"1338","price":"5.4","size":"1"}],"message":"orderbook"}"#.to_owned(),
            // two markets, two snapshots
            r#"{"data":[{"is_ask":true,"market_id":"396","price":"6036","size":"1"},{"is_ask":false,"market_id":"1338","price":"5.4","size":"1"}],"message":"orderbook"}"#.to_owned(),
            r#"{"data":[],"message":"orderbook"}"#.to_owned(),
        ];
        for frame in &common {
            let mut d = decoder();
            assert!(
                d.fast_orderbook(frame, Timestamp(0)).is_some(),
                "fast path taken: {frame}"
            );
            same_as_serde(frame);
        }
        // Everything else falls back to the serde path, with the same outcome.
        let others = [
            r#"{"data":[{"is_ask":"true","market_id":"1338","price":"5.5","size":"1"}],"message":"orderbook"}"#,
            r#"{"data":[{"is_ask":true,"market_id":"1338","price":"5.5\u0030","size":"1"}],"message":"orderbook"}"#,
            r#"{"data":[{"is_ask":true,"market_id":"1338","price":"5.5","size":"1","x":{"y":[1]}}],"message":"orderbook"}"#,
            r#"{"data":[{"is_ask":true,"market_id":"1338","price":"5.5","price":"5.6","size":"1"}],"message":"orderbook"}"#,
            r#"{"data":[{"is_ask":true,"market_id":"1338","size":"1"}],"message":"orderbook"}"#,
            r#"{"data":[{"is_ask":true,"market_id":"1338","price":null,"size":"1"}],"message":"orderbook"}"#,
            r#"{"data":[{"is_ask":true,"market_id":"1338","price":01,"size":"1"}],"message":"orderbook"}"#,
            r#"{"data":[{"is_ask":true,"market_id":"1338","price":"5.5","size":"1"}],"message":"orderbook"} x"#,
            r#"{"data":[{"is_ask":true,"market_id":"1338","price":"5.5","size":"1"}],"message":"orderbook""#,
            r#"{"data":[{"is_ask":true,"market_id":"1338","price":"5.5","size":"1"}],"message":"orderbook","data":[]}"#,
            r#"{"data":[{"is_ask":true,"market_id":"1338","price":"5.5","size":"1"}],"message":"orderbook","id":1}"#,
            r#"{"data":[{"is_ask":true,"market_id":"1338","price":"5.5","size":"1"}]}"#,
            r#"{"data":null,"message":"orderbook"}"#,
            r#"{"data":{"is_ask":true,"market_id":"1338","price":"5.5","size":"1"},"message":"orderbook"}"#,
            r#"{"data":[{"is_ask":true,"market_id":"1338","price":"5.5","size":"1"}],"message":"positions"}"#,
            "{\"data\":[{\"is_ask\":true,\"market_id\":\"1338\",\"price\":\"5.5\t\",\"size\":\"1\"}],\"message\":\"orderbook\"}",
        ];
        for frame in others {
            let mut d = decoder();
            assert!(d.fast_orderbook(frame, Timestamp(0)).is_none(), "{frame}");
            assert!(d.scratch.is_empty(), "nothing left behind: {frame}");
            same_as_serde(frame);
        }
        // Values the fast conversions do not take: the serde path reads them, or words the error.
        for frame in [
            r#"{"data":[{"is_ask":true,"market_id":"1338","price":5.5e0,"size":"1"}],"message":"orderbook"}"#,
            r#"{"data":[{"is_ask":true,"market_id":"1338","price":" 5.5","size":"1"}],"message":"orderbook"}"#,
            r#"{"data":[{"is_ask":true,"market_id":"396","price":"6036","size":"1000.0"}],"message":"orderbook"}"#,
            r#"{"data":[{"is_ask":true,"market_id":"1338.0","price":"5.5","size":"1"}],"message":"orderbook"}"#,
            r#"{"data":[{"is_ask":true,"market_id":"1338","price":"5.5","size":"1","last_updated":"1746177751.0"}],"message":"orderbook"}"#,
            r#"{"data":[{"is_ask":true,"market_id":"1338","price":"-5.5","size":"1"}],"message":"orderbook"}"#,
        ] {
            let mut d = decoder();
            assert!(d.fast_orderbook(frame, Timestamp(0)).is_none(), "{frame}");
            same_as_serde(frame);
        }
        // A level that does not convert (off the grid): the serde path words the error.
        same_as_serde(
            r#"{"data":[{"is_ask":true,"market_id":"1338","price":"5.5","size":"1"},{"is_ask":true,"market_id":"1338","price":"5.5005","size":"1"}],"message":"orderbook"}"#,
        );
        // Random damage to a valid frame: whatever it becomes, both paths agree.
        let alphabet = br#"{}[]",:0123456789.-+eE tfnaulrs_x\"#;
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (rng >> 33) as usize
        };
        for _ in 0..5_000 {
            let mut bytes = canonical.clone().into_bytes();
            for _ in 0..1 + next() % 3 {
                let at = next() % bytes.len();
                let c = alphabet[next() % alphabet.len()];
                match next() % 3 {
                    0 => bytes[at] = c,
                    1 => bytes.insert(at, c),
                    _ => {
                        bytes.remove(at);
                    }
                }
            }
            let frame = String::from_utf8(bytes).expect("ASCII");
            same_as_serde(&frame);
        }
    }

    #[test]
    fn invalid_specs_are_refused() {
        let mut bad = MarketSpec::kana_apt_testnet();
        bad.tick_size = 0;
        assert!(matches!(
            KanaDecoder::new(vec![bad], KanaUnits::Auto),
            Err(WireError::InvalidSpec(_))
        ));
    }

    #[test]
    fn decode_lines_reports_counts_and_bad_lines() {
        let input = format!(
            "{G2_ORDERBOOK_LINE}\n\n{{\"data\":[{{\"is_ask\":tru\n{G2_TRADE_HISTORY}\n   \n",
            G2_ORDERBOOK_LINE = G2_ORDERBOOK.replace('\n', "")
        );
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let summary = decode_lines(input.as_bytes(), &mut out, &mut err, &mut decoder()).unwrap();
        assert_eq!(
            summary,
            DecodeSummary {
                frames: 3,
                events: 2,
                errors: 1
            }
        );
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].starts_with(r#"{"type":"book","market":396"#),
            "{}",
            lines[0]
        );
        assert!(lines[1].contains(r#""type":"fill""#), "{}", lines[1]);
        let err = String::from_utf8(err).unwrap();
        assert!(err.starts_with("line 3: unknown: field `frame`:"), "{err}");
        assert_eq!(err.lines().count(), 1);
    }
}
