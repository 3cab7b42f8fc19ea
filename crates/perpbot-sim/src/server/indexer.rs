//! Kana's WebSocket indexer as the simulator serves it (reference §7), on `/ws/` (and `/ws`).
//!
//! Each connection reads subscribe messages (`{"topic": …, "address"?: …, "market_id"?: …}`,
//! §7.2; extra keys tolerated, unknown topics and bad JSON ignored, the socket is never dropped
//! for client input) and answers each with the topic's current state at once (§7.3). It then
//! follows [`Shared::updates`] and pushes, in the envelope `{"data":[…],"message":"<topic>"}`:
//!
//! | update | pushes |
//! |---|---|
//! | [`Update::Book`] | `orderbook` snapshot (both sides, one entry per level), `bestPrice` |
//! | [`Update::Trades`] (and `Book`) | `recent_trades`: records newer than the connection's cursor |
//! | [`Update::Account`] | `positions` and `open_orders` snapshots, new or changed `trade_history` / `order_history` records, new `deposit_withdraw_history` records, `live_*` one record per frame |
//! | [`Update::Funding`] | `live_funding_rate` for that market |
//!
//! Updates waiting in the channel are coalesced (a burst of `Book(1338)` gives one snapshot). A
//! lagged receiver resends every subscribed topic's full state (history topics: the recent list;
//! the client deduplicates). Frames are built under the core lock and sent after it is released.
//!
//! Units are the G4/G5 host's: sizes and prices as human decimal strings on the market's grid,
//! money as decimal strings, timestamps as Unix-second numbers, ids and `market_id` as decimal
//! strings, addresses as `0x` + 64 hex digits.
//!
//! Decisions (\[INF\], the simulator's own):
//!
//! * `transaction_version` of a fill record is the **match number** (the maker leg's fill id),
//!   shared by both counterparties of one match and unique per match. The simulator's records
//!   carry no ledger version; this is what the client's keys need (recent-trade pairing,
//!   fill deduplication) and it never merges two matches of one transaction.
//! * A liquidation fill closes at the mark, which may be off the tick grid; its record's price is
//!   rounded down to the grid (a client refuses off-grid prices, and would drop the whole frame).
//!   Liquidations are not public trades and are left out of `recent_trades`.
//! * `live_funding_rate` reports the funding model's rate at the current mark and index (the rate
//!   the next settlement would apply); `transaction_timestamp` is the last settlement (`0` before
//!   the first).
//! * `bestPrice` records are `{"market_id","bestBidPrice","bestAskPrice","last_updated"}` (the
//!   REST names, §4.2.3), `null` for an empty side.
//! * History snapshots hold the newest [`HISTORY_SNAPSHOT`] records; books show
//!   [`BOOK_LEVELS`] levels per side.
//! * `deposit_withdraw_history` has no sample anywhere (reference §7.4 \[UNK\]), nor has the REST
//!   `getDepositAndWithdrawHistory` record (§4.1.8 \[UNK\]): both serve [`transfer_json`], a
//!   record in the house style of the other profile topics (profile `address`, `market_id` as a
//!   string, human decimal `amount`, Unix-second `timestamp` / `last_updated`) plus `user` (the
//!   wallet), `type` (`"deposit"` / `"withdraw"`), `market_ids` and a unique `id`. The topic
//!   behaves like `trade_history`: the recent list on subscribe, then only new records.
//!
//! Faults ([`super::FaultConfig`]): every push is delayed by `ws_delay_ms`; with
//! `ws_drop_probability` the socket is closed instead of the push, with
//! `ws_malformed_probability` a malformed frame is sent instead (a bad number in an orderbook
//! level, otherwise truncated JSON); with `ws_stall_probability` a round of pushes is held for
//! `ws_stall_ms` with the socket open and unread (pings go unanswered meanwhile), then sent —
//! unless a change of the faults ([`Shared::set_faults`]) ends the stall first. Draws come from
//! the core's fault stream and are made only when a probability is above zero.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::{Shared, SimCore, Update};
use crate::exchange::{
    Exchange, FillCause, FundingRecord, OrderRecord, OrderState, PositionRecord, TradeRecord,
    TransferRecord,
};
use perpbot_aptos::AccountAddress;
use perpbot_model::{Level, Liquidity, Lots, MarketId, MarketSpec, Rounding, Ticks, Timestamp};

/// Levels per side in an `orderbook` push.
pub const BOOK_LEVELS: usize = 50;
/// Records in a history snapshot (`order_history`, `trade_history`, `recent_trades`).
pub const HISTORY_SNAPSHOT: usize = 100;
/// Updates coalesced into one round of pushes at most.
const COALESCE_MAX: usize = 4096;
/// A push the client does not take within this long ends the connection.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The WebSocket route (`/ws/`, also `/ws`).
pub fn routes() -> axum::Router<Arc<Shared>> {
    axum::Router::new()
        .route("/ws/", get(upgrade))
        .route("/ws", get(upgrade))
}

async fn upgrade(ws: WebSocketUpgrade, State(shared): State<Arc<Shared>>) -> Response {
    ws.on_upgrade(move |socket| serve(socket, shared))
}

// ---------------------------------------------------------------------------------------------
// Subscriptions
// ---------------------------------------------------------------------------------------------

/// One subscription (reference §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Subscription {
    /// `orderbook` of a market.
    Orderbook(MarketId),
    /// `recent_trades` of a market.
    RecentTrades(MarketId),
    /// `positions` of a profile.
    Positions(AccountAddress),
    /// `open_orders` of a profile.
    OpenOrders(AccountAddress),
    /// `order_history` of a profile.
    OrderHistory(AccountAddress),
    /// `trade_history` of a profile.
    TradeHistory(AccountAddress),
    /// `live_order_history` of a profile (one record per push).
    LiveOrderHistory(AccountAddress),
    /// `live_trade_history` of a profile (one record per push).
    LiveTradeHistory(AccountAddress),
    /// `deposit_withdraw_history` of a profile.
    DepositWithdrawHistory(AccountAddress),
    /// `live_funding_rate` (all markets).
    Funding,
    /// `bestPrice` (all markets).
    BestPrice,
}

impl Subscription {
    /// Parse a subscribe message; `None` for invalid JSON, an unknown topic, or a missing or
    /// invalid key. Extra keys are ignored; `market_id` may be a string or a number.
    pub fn parse(text: &str) -> Option<Subscription> {
        let v: Value = serde_json::from_str(text).ok()?;
        let topic = v.get("topic")?.as_str()?;
        let market = || -> Option<MarketId> {
            match v.get("market_id")? {
                Value::String(s) => s.trim().parse().ok().map(MarketId),
                Value::Number(n) => n.as_u64().map(MarketId),
                _ => None,
            }
        };
        let address = || -> Option<AccountAddress> {
            AccountAddress::from_hex(v.get("address")?.as_str()?.trim()).ok()
        };
        Some(match topic {
            "orderbook" => Subscription::Orderbook(market()?),
            "recent_trades" => Subscription::RecentTrades(market()?),
            "positions" => Subscription::Positions(address()?),
            "open_orders" => Subscription::OpenOrders(address()?),
            "order_history" => Subscription::OrderHistory(address()?),
            "trade_history" => Subscription::TradeHistory(address()?),
            "live_order_history" => Subscription::LiveOrderHistory(address()?),
            "live_trade_history" => Subscription::LiveTradeHistory(address()?),
            "deposit_withdraw_history" => Subscription::DepositWithdrawHistory(address()?),
            "live_funding_rate" => Subscription::Funding,
            "bestPrice" | "best_price" => Subscription::BestPrice,
            _ => return None,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Records (also usable by the REST half: same shapes as §4.4)
// ---------------------------------------------------------------------------------------------

fn secs(t: Timestamp) -> u64 {
    t.as_secs()
}

fn dec(d: Decimal) -> Value {
    Value::String(d.normalize().to_string())
}

fn size(spec: &MarketSpec, lots: Lots) -> Value {
    dec(spec.lots_to_size(lots))
}

fn price(spec: &MarketSpec, ticks: Ticks) -> Value {
    dec(spec.ticks_to_price(ticks))
}

fn opt_dec(d: Option<Decimal>) -> Value {
    d.map_or(Value::Null, dec)
}

/// A trade price on the market's grid: exact when it is, else rounded down (a liquidation at the
/// mark); the unrounded value when even that fails.
fn grid_price(spec: &MarketSpec, p: Decimal) -> Decimal {
    spec.price_to_ticks(p, Rounding::Exact)
        .or_else(|_| spec.price_to_ticks(p, Rounding::Down))
        .map_or(p, |t| spec.ticks_to_price(t))
}

/// The match a fill belongs to: the maker leg's fill id (the taker leg is recorded right after
/// it); a liquidation is its own match. The REST fill records carry it too: on Kana both come
/// from the same indexer.
pub(crate) fn match_id(t: &TradeRecord) -> u64 {
    if t.liquidity == Liquidity::Taker && t.cause != FillCause::Liquidation {
        t.fill_id.saturating_sub(1)
    } else {
        t.fill_id
    }
}

/// One `orderbook` level record.
pub fn level_json(spec: &MarketSpec, is_ask: bool, level: &Level, now: Timestamp) -> Value {
    json!({
        "is_ask": is_ask,
        "last_updated": secs(now),
        "market_id": spec.id.0.to_string(),
        "price": price(spec, level.price),
        "size": size(spec, level.lots),
    })
}

/// An open-order record (§4.4.1).
pub fn open_order_json(spec: &MarketSpec, o: &OrderRecord) -> Value {
    let px = o.price.unwrap_or(Ticks(0));
    json!({
        "address": o.address.to_hex_long(),
        "market_id": o.market.0.to_string(),
        "leverage": o.leverage,
        "order_type": o.order_type,
        "trade_side": o.trade_side.is_long(),
        "timestamp": secs(o.timestamp),
        "price": price(spec, px),
        "total_size": size(spec, o.total_size),
        "remaining_size": size(spec, o.remaining_size),
        "order_value": dec(spec.notional_at(o.total_size, spec.ticks_to_price(px))),
        "order_id": o.order_id.0.to_string(),
        "trade_id": o.trade_id.map_or(Value::Null, |t| Value::String(t.to_string())),
        "last_updated": secs(o.last_updated),
    })
}

/// An order-history record (§4.4.3, G4 form: human units).
pub fn order_history_json(spec: &MarketSpec, o: &OrderRecord) -> Value {
    let px = o.price.map(|t| spec.ticks_to_price(t));
    json!({
        "address": o.address.to_hex_long(),
        "market_id": o.market.0.to_string(),
        "leverage": o.leverage,
        "order_type": o.order_type,
        "trade_side": o.trade_side.is_long(),
        "timestamp": secs(o.timestamp),
        "is_market_order": o.kind == perpbot_model::OrderKind::Market,
        "size": size(spec, o.total_size),
        "price": opt_dec(px),
        "order_value": opt_dec(px.map(|p| spec.notional_at(o.total_size, p))),
        "status": o.status.as_str(),
        "order_id": o.order_id.0.to_string(),
        "trade_id": o.trade_id.map_or(Value::Null, |t| Value::String(t.to_string())),
        "last_updated": secs(o.last_updated),
        "total_filled": size(spec, o.filled_size),
        "remaining_size": size(spec, o.remaining_size),
    })
}

/// A position record (§4.4.2).
pub fn position_json(spec: &MarketSpec, p: &PositionRecord) -> Value {
    json!({
        "address": p.address.to_hex_long(),
        "market_id": p.market.0.to_string(),
        "leverage": p.leverage,
        "trade_side": p.trade_side.is_long(),
        "size": size(spec, p.size),
        "available_order_size": size(spec, p.available_order_size),
        "value": dec(p.value),
        "entry_price": dec(p.entry_price),
        "liq_price": opt_dec(p.liq_price),
        "margin": dec(p.margin),
        "tp": opt_dec(p.tp),
        "sl": opt_dec(p.sl),
        "trade_id": p.trade_id.map_or(Value::Null, |t| Value::String(t.to_string())),
        "last_updated": secs(p.last_updated),
    })
}

/// A fill record (§4.4.4): `trade_history`, `live_trade_history` and `recent_trades`.
pub fn trade_json(spec: &MarketSpec, t: &TradeRecord) -> Value {
    json!({
        "address": t.address.to_hex_long(),
        "market_id": t.market.0.to_string(),
        "leverage": t.leverage,
        "timestamp": secs(t.timestamp),
        "size": size(spec, t.size),
        "order_type": t.order_type,
        "trade_side": t.trade_side.is_long(),
        "price": dec(grid_price(spec, t.price)),
        "order_value": dec(t.order_value),
        "pnl": dec(t.pnl),
        "fee": dec(t.fee),
        "trade_id": t.trade_id.to_string(),
        "order_id": t.order_id.0.to_string(),
        "last_updated": secs(t.timestamp),
        "transaction_version": match_id(t),
    })
}

/// A `live_funding_rate` record of one market (see the module docs for the rate's meaning).
pub fn funding_json(ex: &Exchange, market: MarketId, now: Timestamp) -> Value {
    let ledger = ex.ledger();
    let state = ledger.markets.get(&market);
    let index = state.and_then(|s| s.index);
    let mark = ledger.mark(market).unwrap_or(Decimal::ZERO);
    let rate = ledger.config().funding.rate(mark, index);
    let last = state.and_then(|s| s.last_funding).map_or(0, secs);
    json!({
        "funding_rate": dec(rate),
        "funding_timestamp": 0,
        "last_updated": secs(now),
        "market_id": market.0.to_string(),
        "transaction_timestamp": last,
        // The simulator has no ledger versions of its own for funding: the settlement's time
        // stands in, so the field is present as in the G4 sample (§7.4).
        "transaction_version": last,
    })
}

/// A deposit / withdrawal record: `deposit_withdraw_history` and REST
/// `getDepositAndWithdrawHistory` (shape decided by the simulator, see the module docs).
pub fn transfer_json(t: &TransferRecord) -> Value {
    json!({
        "id": t.id.to_string(),
        "address": t.address.to_hex_long(),
        "user": t.wallet.to_hex_long(),
        "type": t.kind.as_str(),
        "market_id": t.market.map_or(Value::Null, |m| Value::String(m.0.to_string())),
        "market_ids": t.markets.iter().map(|m| m.0.to_string()).collect::<Vec<_>>(),
        "amount": dec(t.amount),
        "timestamp": secs(t.timestamp),
        "last_updated": secs(t.timestamp),
    })
}

/// A funding-payment record of REST `getFundingHistory` (shape \[UNK\] at Kana, §4.1.8; the
/// simulator's: the position's keys as in `positions`, the rate as in `live_funding_rate`,
/// `mark_price`, and `amount` = what the position's margin gained, negative when it paid).
pub fn funding_record_json(spec: &MarketSpec, f: &FundingRecord) -> Value {
    json!({
        "id": f.id.to_string(),
        "address": f.address.to_hex_long(),
        "market_id": f.market.0.to_string(),
        "trade_side": f.trade_side.is_long(),
        "size": size(spec, f.size),
        "funding_rate": dec(f.rate),
        "mark_price": dec(f.mark),
        "amount": dec(f.amount),
        "trade_id": f.trade_id.map_or(Value::Null, |t| Value::String(t.to_string())),
        "timestamp": secs(f.timestamp),
        "last_updated": secs(f.timestamp),
    })
}

/// A `bestPrice` record of one market.
pub fn best_price_json(ex: &Exchange, market: MarketId, now: Timestamp) -> Option<Value> {
    let spec = ex.spec(market)?;
    let book = ex.book(market)?;
    let side = |l: Option<Level>| l.map_or(Value::Null, |l| price(spec, l.price));
    Some(json!({
        "market_id": market.0.to_string(),
        "bestBidPrice": side(book.best_bid()),
        "bestAskPrice": side(book.best_ask()),
        "last_updated": secs(now),
    }))
}

fn frame(topic: &str, records: &[Value]) -> String {
    let texts: Vec<String> = records.iter().map(Value::to_string).collect();
    records_frame(topic, texts.iter().map(String::as_str))
}

/// The `orderbook` frame of a market: asks then bids, best first (an unknown market: no levels).
pub fn orderbook_frame(ex: &Exchange, market: MarketId, now: Timestamp) -> String {
    let mut records = Vec::new();
    if let (Some(spec), Some((bids, asks))) = (ex.spec(market), ex.depth(market, BOOK_LEVELS)) {
        records.extend(asks.iter().map(|l| level_json(spec, true, l, now)));
        records.extend(bids.iter().map(|l| level_json(spec, false, l, now)));
    }
    frame("orderbook", &records)
}

/// The `positions` frame of a profile (all markets).
pub fn positions_frame(ex: &Exchange, profile: AccountAddress) -> String {
    let records: Vec<Value> = ex
        .positions(profile)
        .iter()
        .filter_map(|p| Some(position_json(ex.spec(p.market)?, p)))
        .collect();
    frame("positions", &records)
}

/// The `open_orders` frame of a profile (all markets).
pub fn open_orders_frame(ex: &Exchange, profile: AccountAddress) -> String {
    let records: Vec<Value> = ex
        .open_orders(profile, None)
        .iter()
        .filter_map(|o| Some(with_trade_id(ex, o, open_order_json(ex.spec(o.market)?, o))))
        .collect();
    frame("open_orders", &records)
}

fn trades_json<'a>(ex: &Exchange, trades: impl IntoIterator<Item = &'a TradeRecord>) -> Vec<Value> {
    trades
        .into_iter()
        .filter_map(|t| Some(trade_json(ex.spec(t.market)?, t)))
        .collect()
}

fn orders_json<'a>(ex: &Exchange, orders: impl IntoIterator<Item = &'a OrderRecord>) -> Vec<Value> {
    orders
        .into_iter()
        .filter_map(|o| {
            Some(with_trade_id(
                ex,
                o,
                order_history_json(ex.spec(o.market)?, o),
            ))
        })
        .collect()
}

/// The `trade_id` of an order: the position's it acted on at placement, else the one its fills
/// opened (an order that opened a position from flat). Kana names one on every order record —
/// the G2 `open_orders` / `order_history` samples (§7.4) show it on an order that opens a side
/// without a position — while the exchange learns it only at the first fill; an order that
/// opened from flat and has not filled stays without (\[INF\]: Kana's id is not derivable).
pub(crate) fn order_trade_id(ex: &Exchange, o: &OrderRecord) -> Option<u128> {
    o.trade_id.or_else(|| {
        ex.trades(o.address)
            .find(|t| t.market == o.market && t.order_id == o.order_id)
            .map(|t| t.trade_id)
    })
}

/// An order record with its `trade_id` completed by [`order_trade_id`].
pub(crate) fn with_trade_id(ex: &Exchange, o: &OrderRecord, mut record: Value) -> Value {
    if let (Some(slot), Some(id)) = (record.get_mut("trade_id"), order_trade_id(ex, o))
        && slot.is_null()
    {
        *slot = Value::String(id.to_string());
    }
    record
}

/// The newest `n` items of a list, oldest first.
fn newest<T>(items: Vec<T>, n: usize) -> Vec<T> {
    let skip = items.len().saturating_sub(n);
    items.into_iter().skip(skip).collect()
}

// ---------------------------------------------------------------------------------------------
// Per-connection state
// ---------------------------------------------------------------------------------------------

/// What changed since the last round of pushes.
#[derive(Debug, Default)]
struct Dirty {
    books: BTreeSet<MarketId>,
    trades: BTreeSet<MarketId>,
    accounts: BTreeSet<AccountAddress>,
    funding: BTreeSet<MarketId>,
    full: bool,
}

impl Dirty {
    fn add(&mut self, update: Update) {
        match update {
            Update::Book(m) => {
                self.books.insert(m);
            }
            Update::Trades(m) => {
                self.trades.insert(m);
            }
            Update::Account(p) => {
                self.accounts.insert(p);
            }
            Update::Funding(m) => {
                self.funding.insert(m);
            }
        }
    }
}

/// What a profile's history topics have pushed already.
#[derive(Debug, Default)]
struct HistoryCursor {
    /// Highest fill id pushed (or skipped as old).
    last_fill: u64,
    /// Status and filled size of every order in the history, as last pushed.
    orders: HashMap<(MarketId, u128), (OrderState, Lots)>,
}

impl HistoryCursor {
    /// Fills newer than the cursor (advancing it).
    fn new_fills<'a>(&mut self, ex: &'a Exchange, profile: AccountAddress) -> Vec<&'a TradeRecord> {
        let last = self.last_fill;
        let fresh: Vec<&TradeRecord> = ex.trades(profile).filter(|t| t.fill_id > last).collect();
        if let Some(max) = fresh.iter().map(|t| t.fill_id).max() {
            self.last_fill = max;
        }
        fresh
    }

    /// Order records new or changed since the cursor (rebuilding it from the current history,
    /// so it never outgrows the exchange's own history).
    fn changed_orders<'a>(
        &mut self,
        ex: &'a Exchange,
        profile: AccountAddress,
    ) -> Vec<&'a OrderRecord> {
        let history = ex.order_history(profile);
        let mut now = HashMap::with_capacity(history.len());
        let mut changed = Vec::new();
        for o in history {
            let key = (o.market, o.order_id.0);
            let state = (o.status, o.filled_size);
            if self.orders.get(&key) != Some(&state) {
                changed.push(o);
            }
            now.insert(key, state);
        }
        self.orders = now;
        changed
    }

    /// Start the fills from the current history (everything in it counts as pushed).
    fn reset_fills(&mut self, ex: &Exchange, profile: AccountAddress) {
        self.last_fill = 0;
        self.new_fills(ex, profile);
    }

    /// Start the orders from the current history (everything in it counts as pushed).
    fn reset_orders(&mut self, ex: &Exchange, profile: AccountAddress) {
        self.orders.clear();
        self.changed_orders(ex, profile);
    }
}

/// One connection's subscriptions and cursors; builds its frames from the core.
#[derive(Debug, Default)]
pub struct Connection {
    subs: BTreeSet<Subscription>,
    /// `recent_trades`: highest fill id pushed per market.
    trade_cursor: BTreeMap<MarketId, u64>,
    /// `trade_history` / `order_history` per profile.
    history: BTreeMap<AccountAddress, HistoryCursor>,
    /// `live_trade_history` / `live_order_history` per profile.
    live: BTreeMap<AccountAddress, HistoryCursor>,
    /// `deposit_withdraw_history`: highest record id pushed per profile.
    transfer_cursor: BTreeMap<AccountAddress, u64>,
}

impl Connection {
    /// A connection with no subscriptions.
    pub fn new() -> Connection {
        Connection::default()
    }

    /// Add a subscription and return its current state as frames (§7.3).
    pub fn subscribe(&mut self, ex: &Exchange, sub: Subscription, now: Timestamp) -> Vec<String> {
        self.subs.insert(sub);
        self.snapshot(ex, sub, now)
    }

    /// The full state of every subscription (after a lagged receiver).
    pub fn resync(&mut self, ex: &Exchange, now: Timestamp) -> Vec<String> {
        let subs: Vec<Subscription> = self.subs.iter().copied().collect();
        subs.into_iter()
            .flat_map(|s| self.snapshot(ex, s, now))
            .collect()
    }

    fn snapshot(&mut self, ex: &Exchange, sub: Subscription, now: Timestamp) -> Vec<String> {
        match sub {
            Subscription::Orderbook(m) => vec![orderbook_frame(ex, m, now)],
            Subscription::RecentTrades(m) => {
                let all: Vec<&TradeRecord> = ex.market_trades(m).collect();
                if let Some(max) = all.iter().map(|t| t.fill_id).max() {
                    self.trade_cursor.insert(m, max);
                }
                let public: Vec<&TradeRecord> = all
                    .into_iter()
                    .filter(|t| t.cause != FillCause::Liquidation)
                    .collect();
                let records = trades_json(ex, newest(public, HISTORY_SNAPSHOT));
                vec![frame("recent_trades", &records)]
            }
            Subscription::Positions(p) => vec![positions_frame(ex, p)],
            Subscription::OpenOrders(p) => vec![open_orders_frame(ex, p)],
            Subscription::OrderHistory(p) => {
                self.history.entry(p).or_default().reset_orders(ex, p);
                let records = orders_json(ex, newest(ex.order_history(p), HISTORY_SNAPSHOT));
                vec![frame("order_history", &records)]
            }
            Subscription::TradeHistory(p) => {
                self.history.entry(p).or_default().reset_fills(ex, p);
                let fills: Vec<&TradeRecord> = ex.trades(p).collect();
                let records = trades_json(ex, newest(fills, HISTORY_SNAPSHOT));
                vec![frame("trade_history", &records)]
            }
            Subscription::LiveOrderHistory(p) => {
                self.live.entry(p).or_default().reset_orders(ex, p);
                let records = orders_json(ex, newest(ex.order_history(p), 1));
                vec![frame("live_order_history", &records)]
            }
            Subscription::LiveTradeHistory(p) => {
                self.live.entry(p).or_default().reset_fills(ex, p);
                let fills: Vec<&TradeRecord> = ex.trades(p).collect();
                let records = trades_json(ex, newest(fills, 1));
                vec![frame("live_trade_history", &records)]
            }
            Subscription::DepositWithdrawHistory(p) => {
                let all: Vec<&TransferRecord> = ex.transfers(p).collect();
                let last = all.iter().map(|t| t.id).max().unwrap_or(0);
                self.transfer_cursor.insert(p, last);
                let records: Vec<Value> = newest(all, HISTORY_SNAPSHOT)
                    .into_iter()
                    .map(transfer_json)
                    .collect();
                vec![frame("deposit_withdraw_history", &records)]
            }
            Subscription::Funding => {
                let records: Vec<Value> = ex.markets().map(|m| funding_json(ex, m, now)).collect();
                vec![frame("live_funding_rate", &records)]
            }
            Subscription::BestPrice => {
                let records: Vec<Value> = ex
                    .markets()
                    .filter_map(|m| best_price_json(ex, m, now))
                    .collect();
                vec![frame("bestPrice", &records)]
            }
        }
    }

    /// New recent trades of a market since the cursor (none → no frame).
    fn new_trades(&mut self, ex: &Exchange, m: MarketId, out: &mut Vec<String>) {
        let last = self.trade_cursor.get(&m).copied().unwrap_or(0);
        let fresh: Vec<&TradeRecord> = ex.market_trades(m).filter(|t| t.fill_id > last).collect();
        let Some(max) = fresh.iter().map(|t| t.fill_id).max() else {
            return;
        };
        self.trade_cursor.insert(m, max);
        let public: Vec<&TradeRecord> = fresh
            .into_iter()
            .filter(|t| t.cause != FillCause::Liquidation)
            .collect();
        if !public.is_empty() {
            out.push(frame(
                "recent_trades",
                &trades_json(ex, newest(public, HISTORY_SNAPSHOT)),
            ));
        }
    }

    fn account(&mut self, ex: &Exchange, p: AccountAddress, out: &mut Vec<String>) {
        if self.subs.contains(&Subscription::Positions(p)) {
            out.push(positions_frame(ex, p));
        }
        if self.subs.contains(&Subscription::OpenOrders(p)) {
            out.push(open_orders_frame(ex, p));
        }
        let (orders, trades) = (
            self.subs.contains(&Subscription::OrderHistory(p)),
            self.subs.contains(&Subscription::TradeHistory(p)),
        );
        if orders || trades {
            let cursor = self.history.entry(p).or_default();
            let fills = if trades {
                cursor.new_fills(ex, p)
            } else {
                Vec::new()
            };
            let changed = if orders {
                cursor.changed_orders(ex, p)
            } else {
                Vec::new()
            };
            if !fills.is_empty() {
                out.push(frame(
                    "trade_history",
                    &trades_json(ex, newest(fills, HISTORY_SNAPSHOT)),
                ));
            }
            if !changed.is_empty() {
                out.push(frame(
                    "order_history",
                    &orders_json(ex, newest(changed, HISTORY_SNAPSHOT)),
                ));
            }
        }
        if self.subs.contains(&Subscription::DepositWithdrawHistory(p)) {
            let last = self.transfer_cursor.get(&p).copied().unwrap_or(0);
            let fresh: Vec<&TransferRecord> = ex.transfers(p).filter(|t| t.id > last).collect();
            if let Some(max) = fresh.iter().map(|t| t.id).max() {
                self.transfer_cursor.insert(p, max);
                let records: Vec<Value> = newest(fresh, HISTORY_SNAPSHOT)
                    .into_iter()
                    .map(transfer_json)
                    .collect();
                out.push(frame("deposit_withdraw_history", &records));
            }
        }
        let (live_orders, live_trades) = (
            self.subs.contains(&Subscription::LiveOrderHistory(p)),
            self.subs.contains(&Subscription::LiveTradeHistory(p)),
        );
        if live_orders || live_trades {
            let cursor = self.live.entry(p).or_default();
            if live_trades {
                for t in newest(cursor.new_fills(ex, p), HISTORY_SNAPSHOT) {
                    out.push(frame("live_trade_history", &trades_json(ex, [t])));
                }
            }
            if live_orders {
                for o in newest(cursor.changed_orders(ex, p), HISTORY_SNAPSHOT) {
                    out.push(frame("live_order_history", &orders_json(ex, [o])));
                }
            }
        }
    }

    /// The pushes for a batch of updates (coalesced); `lagged` (updates were lost) resends the
    /// full state of every subscription instead.
    pub fn pushes(
        &mut self,
        ex: &Exchange,
        updates: impl IntoIterator<Item = Update>,
        lagged: bool,
        now: Timestamp,
    ) -> Vec<String> {
        let mut dirty = Dirty {
            full: lagged,
            ..Dirty::default()
        };
        for u in updates {
            dirty.add(u);
        }
        self.dirty_pushes(ex, &dirty, now)
    }

    fn dirty_pushes(&mut self, ex: &Exchange, dirty: &Dirty, now: Timestamp) -> Vec<String> {
        if dirty.full {
            return self.resync(ex, now);
        }
        let mut out = Vec::new();
        let best = self.subs.contains(&Subscription::BestPrice);
        let mut best_records = Vec::new();
        for &m in &dirty.books {
            if self.subs.contains(&Subscription::Orderbook(m)) {
                out.push(orderbook_frame(ex, m, now));
            }
            if best && let Some(r) = best_price_json(ex, m, now) {
                best_records.push(r);
            }
        }
        if !best_records.is_empty() {
            out.push(frame("bestPrice", &best_records));
        }
        // A book change may come from trades whose `Trades` update is still on its way (or
        // was never published): check the cursor on both.
        for &m in dirty.books.union(&dirty.trades) {
            if self.subs.contains(&Subscription::RecentTrades(m)) {
                self.new_trades(ex, m, &mut out);
            }
        }
        for &p in &dirty.accounts {
            self.account(ex, p, &mut out);
        }
        if !dirty.funding.is_empty() && self.subs.contains(&Subscription::Funding) {
            let records: Vec<Value> = dirty
                .funding
                .iter()
                .filter(|m| ex.spec(**m).is_some())
                .map(|m| funding_json(ex, *m, now))
                .collect();
            if !records.is_empty() {
                out.push(frame("live_funding_rate", &records));
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Faults and sending
// ---------------------------------------------------------------------------------------------

/// What to do with one push.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Push {
    Send(String),
    Malformed(String),
    Drop,
}

/// One round of pushes and how to send them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    pushes: Vec<Push>,
    /// Fixed delay before each push (`ws_delay_ms`).
    delay: Duration,
    /// Hold the round this long first (a `ws_stall` fault).
    stall: Option<Duration>,
}

/// Decide each frame's fate from the fault stream (the first drop ends the list), and whether
/// the round stalls (one draw per non-empty round).
fn plan(core: &mut SimCore, frames: Vec<String>) -> Plan {
    let faults = core.config.faults.clone();
    let stall = if !frames.is_empty() && core.draw(faults.ws_stall_probability) {
        core.injected.ws_stalls += 1;
        Some(Duration::from_millis(faults.ws_stall_ms))
    } else {
        None
    };
    let mut pushes = Vec::with_capacity(frames.len());
    for f in frames {
        if core.draw(faults.ws_drop_probability) {
            core.injected.ws_drops += 1;
            pushes.push(Push::Drop);
            break;
        }
        if core.draw(faults.ws_malformed_probability) {
            core.injected.ws_malformed += 1;
            pushes.push(Push::Malformed(malformed(&f)));
        } else {
            pushes.push(Push::Send(f));
        }
    }
    Plan {
        pushes,
        delay: Duration::from_millis(faults.ws_delay_ms),
        stall,
    }
}

/// A frame the client must refuse: an orderbook frame with a bad number in its first level's
/// price, anything else cut short (invalid JSON).
pub fn malformed(frame: &str) -> String {
    const KEY: &str = "\"price\":\"";
    if frame.contains("\"message\":\"orderbook\"")
        && let Some(i) = frame.find(KEY)
    {
        let at = i + KEY.len() + 1;
        if frame.is_char_boundary(at) {
            let mut s = String::with_capacity(frame.len() + 1);
            s.push_str(frame.get(..at).unwrap_or(""));
            s.push('x');
            s.push_str(frame.get(at..).unwrap_or(""));
            return s;
        }
    }
    let cut = frame.len().saturating_sub(1);
    frame.get(..cut).unwrap_or("").to_owned()
}

/// Send a round of pushes; `false` when the connection is over (a drop fault, or the client is
/// gone or not reading). A stall waits first, ended early by a change of the faults.
async fn send_all(
    socket: &mut WebSocket,
    plan: Plan,
    faults_changed: &mut tokio::sync::watch::Receiver<u64>,
) -> bool {
    if let Some(stall) = plan.stall {
        tokio::select! {
            () = tokio::time::sleep(stall) => {}
            _ = faults_changed.changed() => {}
        }
    }
    for push in plan.pushes {
        if !plan.delay.is_zero() {
            tokio::time::sleep(plan.delay).await;
        }
        let text = match push {
            Push::Drop => {
                let _ = tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Close(None))).await;
                return false;
            }
            Push::Send(t) | Push::Malformed(t) => t,
        };
        match tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text.into()))).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return false,
        }
    }
    true
}

// ---------------------------------------------------------------------------------------------
// The connection task
// ---------------------------------------------------------------------------------------------

/// Build frames under the lock, plan their faults, release the lock. The faults seen by the
/// plan are marked seen on `faults_changed`, so only a later change ends its stall.
fn build(
    shared: &Shared,
    f: impl FnOnce(&mut Connection, &Exchange, Timestamp) -> Vec<String>,
    conn: &mut Connection,
    faults_changed: &mut tokio::sync::watch::Receiver<u64>,
) -> Plan {
    let now = shared.clock.now();
    let mut core = shared.core();
    faults_changed.borrow_and_update();
    let wire = core.config.wire;
    let frames = f(conn, &core.exchange, now)
        .into_iter()
        .map(|frame| wire.reshape_frame(frame))
        .collect();
    plan(&mut core, frames)
}

async fn serve(mut socket: WebSocket, shared: Arc<Shared>) {
    // Subscribe to changes first, so nothing between a snapshot and the first push is lost.
    let mut updates = shared.updates.subscribe();
    let mut faults_changed = shared.watch_faults();
    let mut conn = Connection::new();
    loop {
        let plan = tokio::select! {
            msg = socket.recv() => {
                let text = match msg {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                    Some(Ok(Message::Text(t))) => t,
                    // Pings are answered by the WebSocket layer; nothing else is answered.
                    Some(Ok(_)) => continue,
                };
                let Some(sub) = Subscription::parse(text.as_str()) else {
                    continue;
                };
                build(&shared, |c, ex, now| c.subscribe(ex, sub, now), &mut conn, &mut faults_changed)
            }
            update = updates.recv() => {
                let mut dirty = Dirty::default();
                match update {
                    Ok(u) => dirty.add(u),
                    Err(RecvError::Lagged(_)) => dirty.full = true,
                    Err(RecvError::Closed) => return,
                }
                for _ in 0..COALESCE_MAX {
                    match updates.try_recv() {
                        Ok(u) => dirty.add(u),
                        Err(TryRecvError::Lagged(_)) => dirty.full = true,
                        Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                    }
                }
                build(
                    &shared,
                    |c, ex, now| c.dirty_pushes(ex, &dirty, now),
                    &mut conn,
                    &mut faults_changed,
                )
            }
        };
        if !send_all(&mut socket, plan, &mut faults_changed).await {
            return;
        }
    }
}

/// Wrap raw JSON records into one frame of `topic`: `{"data":[r1,r2,…],"message":"<topic>"}`,
/// the shape Kana's indexer sends. The simulator keeps its own builder rather than sharing the
/// client's, so a client bug is not mirrored by its counterparty.
pub fn records_frame<'a>(topic: &str, records: impl IntoIterator<Item = &'a str>) -> String {
    let topic = serde_json::to_string(topic).unwrap_or_else(|_| "\"\"".to_owned());
    let mut frame = String::from("{\"data\":[");
    for (i, record) in records.into_iter().enumerate() {
        if i > 0 {
            frame.push(',');
        }
        frame.push_str(record);
    }
    frame.push_str("],\"message\":");
    frame.push_str(&topic);
    frame.push('}');
    frame
}
