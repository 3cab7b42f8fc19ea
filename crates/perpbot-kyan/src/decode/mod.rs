//! Kyan's frames and REST answers as perpbot [`Event`]s.
//!
//! One [`KyanDecoder`] per venue session serves the private WebSocket, the REST resync and the
//! public stream (in [`public`]). It keeps what the translation needs across frames:
//!
//! - a **net-position tracker** per market: Kyan nets positions, perpbot's model is hedge mode.
//!   A net long is `Position{side: Long}` with the short side flat (and vice versa). Each own
//!   fill gets its [`Direction`] from the tracker (Open if it grows |position|, Close if it
//!   shrinks); a fill that crosses zero is split into a Close part and an Open part, with
//!   distinct derived trade ids, and its realised PnL is computed exactly from the tracked
//!   average entry. The tracker is seeded by position snapshots (REST and the `position`
//!   channel, both authoritative) and advanced by fills in between.
//! - the fills seen, by `(trade_id, order_id)` (Kyan gives the maker and taker records of one
//!   match the same `trade_id`), in bounded memory.
//! - per pair account, equity and initial margin, summed into one [`Balance`].
//!
//! A frame that cannot be read is an error naming the channel and the field; the caller logs
//! and counts it and the connection stays up. Records that produce no event are counted with a
//! [`SkipReason`].

pub mod dedupe;
mod fills;
pub mod num;
pub mod public;
pub mod spec;
pub mod stats;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use rust_decimal::Decimal;
use serde_json::Value;

use perpbot_model::{
    Alert, AlertKind, Balance, Direction, Event, FundingRate, Lots, MarketId, OpenOrderInfo,
    OpenOrdersSnapshot, OrderUpdate, OrderUpdateKind, Position, PositionSide, PositionUpdate,
    Rounding, Side, Timestamp, VenueOrderId,
};

use crate::config::FeeFields;
use crate::state::SharedState;
use dedupe::BoundedSet;
use num::{dec_any, dec_at, hex_id, str_at, timestamp_nanos, uint};
pub use spec::{MarketEntry, market_spec};
pub use stats::{ChannelStats, DecodeStats, SkipReason};

/// Fills remembered for deduplication.
const FILLS_REMEMBERED: usize = 100_000;

/// A frame that could not be decoded: the channel, the field and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{channel}: field {field}: {detail}")]
pub struct DecodeError {
    /// The channel or REST answer.
    pub channel: String,
    /// The field at fault.
    pub field: String,
    /// What was wrong.
    pub detail: String,
}

fn err(channel: &str, field: &str, detail: impl Into<String>) -> DecodeError {
    DecodeError {
        channel: channel.to_string(),
        field: field.to_string(),
        detail: detail.into(),
    }
}

/// The net position the decoder tracks for one market: signed lots and the average entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetPosition {
    /// Signed size in lots (negative = short).
    pub lots: i128,
    /// Average entry price.
    pub entry: Decimal,
}

/// Translates Kyan's wire into perpbot events (see the module docs).
#[derive(Debug)]
pub struct KyanDecoder {
    markets: Vec<MarketEntry>,
    fee_fields: FeeFields,
    shared: Arc<SharedState>,
    nets: HashMap<MarketId, NetPosition>,
    /// A pushed position that disagreed with the tracker once (see [`KyanDecoder::reseed`]).
    disagreed: HashMap<MarketId, NetPosition>,
    fills: BoundedSet<(u128, u128)>,
    /// Pair account (pair name or account id) → (equity, initial margin).
    accounts: HashMap<String, (Decimal, Decimal)>,
    stats: DecodeStats,
}

fn side_of(text: &str) -> Option<Side> {
    match text.trim().to_ascii_lowercase().as_str() {
        "buy" | "bid" | "long" | "0" => Some(Side::Buy),
        "sell" | "ask" | "short" | "1" => Some(Side::Sell),
        _ => None,
    }
}

fn direction_field(v: &Value) -> Option<Side> {
    match v.get("direction")? {
        Value::String(s) => side_of(s),
        Value::Number(n) => side_of(&n.to_string()),
        _ => None,
    }
}

/// The records of a `data` that is one object, an array, or an object holding the array under
/// one of `keys`.
fn records<'a>(data: &'a Value, keys: &[&str]) -> Vec<&'a Value> {
    if let Some(a) = data.as_array() {
        return a.iter().collect();
    }
    for k in keys {
        if let Some(a) = data.get(*k).and_then(Value::as_array) {
            return a.iter().collect();
        }
    }
    vec![data]
}

impl KyanDecoder {
    /// A decoder for these markets.
    pub fn new(
        markets: Vec<MarketEntry>,
        fee_fields: FeeFields,
        shared: Arc<SharedState>,
    ) -> KyanDecoder {
        KyanDecoder {
            markets,
            fee_fields,
            shared,
            nets: HashMap::new(),
            disagreed: HashMap::new(),
            fills: BoundedSet::new(FILLS_REMEMBERED),
            accounts: HashMap::new(),
            stats: DecodeStats::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }

    /// Mutable counters (the stream tasks count their own skips and errors here).
    pub fn stats_mut(&mut self) -> &mut DecodeStats {
        &mut self.stats
    }

    /// The markets.
    pub fn markets(&self) -> &[MarketEntry] {
        &self.markets
    }

    /// The shared state the decoder writes to.
    pub fn shared(&self) -> &Arc<SharedState> {
        &self.shared
    }

    /// The tracked net position of a market.
    pub fn net(&self, market: MarketId) -> NetPosition {
        self.nets.get(&market).copied().unwrap_or_default()
    }

    fn entry(&self, instrument: &str) -> Option<&MarketEntry> {
        self.markets.iter().find(|m| m.instrument == instrument)
    }

    /// The market a record names by the first of `keys` it has (an instrument name); `None`,
    /// counted as skipped, for an instrument not configured; an error when it names none.
    fn record_market(
        &mut self,
        channel: &str,
        record: &Value,
        keys: &[&str],
    ) -> Result<Option<MarketId>, DecodeError> {
        let instrument = keys
            .iter()
            .find_map(|k| str_at(record, k))
            .ok_or_else(|| err(channel, "instrument_name", "missing"))?;
        let market = self.entry(instrument).map(|e| e.market);
        if market.is_none() {
            self.stats.skip(channel, SkipReason::UnconfiguredMarket);
        }
        Ok(market)
    }

    fn entry_by_pair(&self, pair: &str) -> Vec<&MarketEntry> {
        let pair = pair.trim();
        self.markets
            .iter()
            .filter(|m| m.pair == pair || m.pair.split('_').next() == Some(pair))
            .collect()
    }

    fn count(&mut self, channel: &str, f: impl FnOnce(&mut ChannelStats)) {
        f(self.stats.get_mut(channel));
    }

    /// Decode one private WebSocket event (`type`, `subscription.channel`, `data`) received at
    /// `ts`. Errors name the channel and field; the caller logs, counts and carries on.
    pub fn private_event(
        &mut self,
        ty: &str,
        channel: &str,
        data: &Value,
        ts: Timestamp,
    ) -> Result<Vec<Event>, DecodeError> {
        let name = if channel.is_empty() { ty } else { channel };
        self.count(name, |s| s.frames += 1);
        let result = self.route_private(ty, name, data, ts);
        match &result {
            Ok(events) => {
                let n = events.len() as u64;
                self.count(name, |s| s.events += n);
            }
            Err(_) => self.count(name, |s| s.errors += 1),
        }
        result
    }

    fn route_private(
        &mut self,
        ty: &str,
        channel: &str,
        data: &Value,
        ts: Timestamp,
    ) -> Result<Vec<Event>, DecodeError> {
        match ty {
            // [S guess, ASSUMED] the first event of `orderbook_maker`; also [S]'s `ob_snapshot`.
            "ob_maker_orders" | "ob_snapshot" => self.open_orders(channel, data, ts),
            "post_order" | "cancel_order" | "update_order" | "ob_update" => {
                self.book_events(ty, channel, data, ts)
            }
            "trade" => self.trades(channel, data, ts),
            "position" => self.positions(channel, data, false, ts),
            "account_state" => self.account_state(channel, data, ts),
            "funding" => self.funding(channel, data, ts),
            "index_price" => {
                let pair = data.get("pair").and_then(Value::as_str).map(str::to_string);
                if let (Some(pair), Some(v)) = (pair, dec_at(data, "value")) {
                    self.shared.set_index(&pair, v);
                }
                self.stats.skip(channel, SkipReason::IndexPriceKept);
                Ok(Vec::new())
            }
            "mmp_triggered" => self.mmp(channel, data, ts),
            "bankruptcy" | "account_liquidation" | "liquidation" => {
                let detail = format!("Kyan {ty}: {}", clip(data));
                Ok(vec![Event::Alert(Alert {
                    kind: AlertKind::Liquidation,
                    detail,
                    ts,
                })])
            }
            _ => {
                self.stats.skip(channel, SkipReason::ChannelWithoutEvent);
                Ok(Vec::new())
            }
        }
    }

    fn learn_account(&self, v: &Value) {
        if let Some(a) = str_at(v, "smart_account_address").filter(|a| a.starts_with("0x")) {
            self.shared.set_smart_account(a);
        }
    }

    // ---- orders ------------------------------------------------------------------------------

    /// A full list of our resting orders (REST `GET /orders`, or `ob_maker_orders`): `{orders:
    /// […]}`, `{maker, orders:[…]}` or a bare array. Orders of other instruments are skipped.
    pub fn open_orders(
        &mut self,
        channel: &str,
        data: &Value,
        ts: Timestamp,
    ) -> Result<Vec<Event>, DecodeError> {
        let list = match data {
            Value::Array(a) => a,
            _ => data
                .get("orders")
                .and_then(Value::as_array)
                .ok_or_else(|| err(channel, "orders", "neither an array nor {orders:[…]}"))?,
        };
        let mut orders = Vec::with_capacity(list.len());
        for o in list {
            if str_at(o, "order_state").is_some_and(|s| s != "open") {
                continue;
            }
            match self.order_info(channel, o, ts)? {
                Some(info) => orders.push(info),
                None => self.stats.skip(channel, SkipReason::UnconfiguredMarket),
            }
        }
        Ok(vec![Event::OpenOrders(OpenOrdersSnapshot {
            market: None,
            orders,
            ts,
        })])
    }

    fn order_info(
        &mut self,
        channel: &str,
        o: &Value,
        ts: Timestamp,
    ) -> Result<Option<OpenOrderInfo>, DecodeError> {
        let instrument = str_at(o, "instrument_name")
            .ok_or_else(|| err(channel, "instrument_name", "missing"))?;
        let Some(entry) = self.entry(instrument).cloned() else {
            return Ok(None);
        };
        let id = str_at(o, "order_id")
            .and_then(hex_id)
            .ok_or_else(|| err(channel, "order_id", "missing or not 32 hex digits"))?;
        let side = direction_field(o).ok_or_else(|| err(channel, "direction", "not buy/sell"))?;
        let price =
            dec_at(o, "price").ok_or_else(|| err(channel, "price", "missing or not a number"))?;
        let mut inexact = false;
        let rounding = match side {
            Side::Buy => Rounding::Down,
            Side::Sell => Rounding::Up,
        };
        let ticks = entry
            .ticks(price, rounding, &mut inexact)
            .ok_or_else(|| err(channel, "price", format!("{price} does not fit the grid")))?;
        let size = |total: &str, filled: &str| -> Option<(Decimal, Decimal)> {
            let t = dec_at(o, total)?;
            Some((t, dec_at(o, filled).unwrap_or(Decimal::ZERO)))
        };
        let (total, remaining) = if let Some((t, f)) = size("contracts", "filled_contracts") {
            (
                entry.lots_down(t, &mut inexact),
                entry.lots_down((t - f).max(Decimal::ZERO), &mut inexact),
            )
        } else if let Some((t, f)) = size("amount", "filled_amount") {
            (
                entry.notional_to_lots(t, price, &mut inexact),
                entry.notional_to_lots((t - f).max(Decimal::ZERO), price, &mut inexact),
            )
        } else {
            return Err(err(channel, "contracts", "neither contracts nor amount"));
        };
        if inexact {
            self.count(channel, |s| s.inexact += 1);
        }
        let updated_at = o
            .get("creation_timestamp")
            .and_then(timestamp_nanos)
            .map(Timestamp)
            .unwrap_or(ts);
        Ok(Some(OpenOrderInfo {
            market: entry.market,
            venue_id: VenueOrderId(id),
            side,
            // Kyan has no closing orders: every order is a plain one.
            direction: Direction::Open,
            price: ticks,
            total: total.unwrap_or(Lots::ZERO),
            remaining: remaining.unwrap_or(Lots::ZERO),
            leverage: 1,
            updated_at,
        }))
    }

    fn book_events(
        &mut self,
        ty: &str,
        channel: &str,
        data: &Value,
        ts: Timestamp,
    ) -> Result<Vec<Event>, DecodeError> {
        let mut out = Vec::new();
        for o in records(data, &["orders"]) {
            let Some(market) = self.record_market(channel, o, &["instrument_name"])? else {
                continue;
            };
            let id = str_at(o, "order_id")
                .and_then(hex_id)
                .ok_or_else(|| err(channel, "order_id", "missing or not 32 hex digits"))?;
            let state = str_at(o, "order_state").unwrap_or("");
            let kind = match (ty, state) {
                (_, "filled") => OrderUpdateKind::Filled,
                ("cancel_order", _) | (_, "cancelled") => OrderUpdateKind::Cancelled,
                ("post_order", _) => OrderUpdateKind::Accepted,
                _ => {
                    self.stats.skip(channel, SkipReason::StatusWithoutEvent);
                    continue;
                }
            };
            out.push(Event::Order(OrderUpdate {
                market,
                client_id: None,
                venue_id: Some(VenueOrderId(id)),
                kind,
                ts,
            }));
        }
        Ok(out)
    }

    // ---- positions ---------------------------------------------------------------------------

    /// Positions: the `position` event (`{margin_account, market, positions:[…]}`) or REST
    /// `GET /positions` (`{margin_accounts:[{positions:[…]}]}`); with `snapshot` every configured
    /// market not listed is flat. Each market yields both hedge sides: the net one with its size,
    /// the other flat. The tracker is reseeded from what is listed.
    pub fn positions(
        &mut self,
        channel: &str,
        data: &Value,
        snapshot: bool,
        ts: Timestamp,
    ) -> Result<Vec<Event>, DecodeError> {
        let mut listed: Vec<&Value> = Vec::new();
        let accounts = records(data, &["margin_accounts"]);
        for a in &accounts {
            self.learn_account(a);
            if let Some(ps) = a.get("positions").and_then(Value::as_array) {
                listed.extend(ps.iter());
            } else if a.get("size").is_some() {
                listed.push(a);
            }
        }
        // Markets this update covers: with a snapshot all; else those of the event's `market`
        // (a pair or base) and those listed.
        let mut covered: Vec<MarketId> = if snapshot {
            self.markets.iter().map(|m| m.market).collect()
        } else {
            data.get("market")
                .and_then(Value::as_str)
                .map(|p| self.entry_by_pair(p).iter().map(|m| m.market).collect())
                .unwrap_or_default()
        };
        let mut found: HashMap<MarketId, (Decimal, Decimal)> = HashMap::new();
        for p in listed {
            self.learn_account(p);
            if p.get("instrument_type")
                .and_then(Value::as_str)
                .is_some_and(|t| t != "perp")
            {
                self.stats.skip(channel, SkipReason::ChannelWithoutEvent);
                continue;
            }
            let Some(market) =
                self.record_market(channel, p, &["instrument_name", "instrument"])?
            else {
                continue;
            };
            let size =
                dec_at(p, "size").ok_or_else(|| err(channel, "size", "missing or not a number"))?;
            let avg = dec_any(p, &["average_price", "entry_price"]).unwrap_or(Decimal::ZERO);
            let e = found
                .entry(market)
                .or_insert((Decimal::ZERO, Decimal::ZERO));
            // Two records of one market (two accounts?) add up, weighting the entries.
            let total = e.0 + size;
            e.1 = if total.is_zero() {
                Decimal::ZERO
            } else {
                (e.0 * e.1 + size * avg) / total
            };
            e.0 = total;
            if !covered.contains(&market) {
                covered.push(market);
            }
        }
        let mut positions = Vec::with_capacity(covered.len() * 2);
        let mut inexact = false;
        for market in covered {
            let Some(entry) = self.markets.iter().find(|m| m.market == market).cloned() else {
                continue;
            };
            let (size, avg) = found.get(&market).copied().unwrap_or_default();
            let lots = entry
                .lots_down(size, &mut inexact)
                .ok_or_else(|| err(channel, "size", format!("{size} does not fit the grid")))?;
            let signed = i128::from(lots.0) * if size < Decimal::ZERO { -1 } else { 1 };
            let listed = NetPosition {
                lots: signed,
                entry: if signed == 0 { Decimal::ZERO } else { avg },
            };
            self.reseed(market, listed, snapshot);
            let (held, flat) = if signed < 0 {
                (PositionSide::Short, PositionSide::Long)
            } else {
                (PositionSide::Long, PositionSide::Short)
            };
            let mut p = Position::flat(market, held, ts);
            p.lots = lots;
            p.entry_price = if lots.is_zero() { Decimal::ZERO } else { avg };
            positions.push(p);
            positions.push(Position::flat(market, flat, ts));
        }
        if inexact {
            self.count(channel, |s| s.inexact += 1);
        }
        Ok(vec![Event::Position(PositionUpdate {
            positions,
            snapshot,
        })])
    }

    /// Seed the tracker from a listed position. A REST snapshot is taken at once. A pushed
    /// `position` event (every second) may have been computed just before or after a fill
    /// whose `trade` event is still on its way, so it replaces the tracker only when two pushes
    /// in a row disagree with it the same way: a transient race does not misclassify the next
    /// fill, a real difference (a fill the stream missed) is corrected within two seconds.
    fn reseed(&mut self, market: MarketId, listed: NetPosition, snapshot: bool) {
        let tracked = self.nets.get(&market).copied().unwrap_or_default();
        if snapshot || tracked.lots == listed.lots {
            self.disagreed.remove(&market);
            // Same size: the venue's average entry is the reference.
            self.nets.insert(market, listed);
            return;
        }
        if self
            .disagreed
            .get(&market)
            .is_some_and(|d| d.lots == listed.lots)
        {
            self.disagreed.remove(&market);
            self.nets.insert(market, listed);
        } else {
            self.disagreed.insert(market, listed);
        }
    }

    // ---- balance -----------------------------------------------------------------------------

    /// Account state (one pair account per event, or REST's `{margin_accounts:[…]}`): each pair
    /// account's equity and initial margin are kept; the [`Balance`] is their sum, `available`
    /// = Σ(equity − IM). \[ASSUMED\] margin is per pair and not transferable on its own: the
    /// sum is what the bot's risk sees as one collateral pool.
    pub fn account_state(
        &mut self,
        channel: &str,
        data: &Value,
        ts: Timestamp,
    ) -> Result<Vec<Event>, DecodeError> {
        // An account with no margin account yet may answer `{}` or `null`.
        let empty = data.is_null() || data.as_object().is_some_and(|o| o.is_empty());
        for a in records(data, &["margin_accounts"])
            .into_iter()
            .filter(|_| !empty)
        {
            let key = str_at(a, "pair")
                .map(str::to_string)
                .or_else(|| a.get("margin_account").map(|v| v.to_string()))
                .ok_or_else(|| err(channel, "pair", "neither pair nor margin_account"))?;
            let equity = dec_at(a, "equity")
                .ok_or_else(|| err(channel, "equity", "missing or not a number"))?;
            let im = dec_at(a, "im").unwrap_or(Decimal::ZERO);
            self.accounts.insert(key, (equity, im));
        }
        let total: Decimal = self.accounts.values().map(|(e, _)| *e).sum();
        let available: Decimal = self.accounts.values().map(|(e, im)| *e - *im).sum();
        Ok(vec![Event::Balance(Balance {
            available,
            total,
            ts,
        })])
    }

    // ---- funding, mmp ------------------------------------------------------------------------

    fn funding(
        &mut self,
        channel: &str,
        data: &Value,
        ts: Timestamp,
    ) -> Result<Vec<Event>, DecodeError> {
        let mut out = Vec::new();
        for f in records(data, &["funding"]) {
            let Some(market) = self.record_market(channel, f, &["instrument_name"])? else {
                continue;
            };
            // [ASSUMED] the hourly rate, as market:funding's `rate_hourly`.
            let rate = dec_any(f, &["funding_rate", "rate_hourly", "rate"])
                .ok_or_else(|| err(channel, "funding_rate", "missing or not a number"))?;
            out.push(Event::Funding(FundingRate { market, rate, ts }));
        }
        Ok(out)
    }

    fn mmp(
        &mut self,
        channel: &str,
        data: &Value,
        ts: Timestamp,
    ) -> Result<Vec<Event>, DecodeError> {
        let pair = str_at(data, "pair_symbol")
            .or_else(|| str_at(data, "pair"))
            .ok_or_else(|| err(channel, "pair_symbol", "missing"))?
            .to_string();
        let now_ms = ts.as_millis();
        let until = match (
            data.get("frozen_until").and_then(uint),
            data.get("frozen_duration_seconds").and_then(uint),
        ) {
            (Some(u), _) if u > 0 => {
                if u < 100_000_000_000 {
                    u.saturating_mul(1_000)
                } else {
                    u
                }
            }
            (_, Some(d)) if d > 0 => now_ms.saturating_add(d.saturating_mul(1_000)),
            // [D] a zero freeze lasts until the config is posted again: refuse until restart.
            _ => u64::MAX,
        };
        self.shared.freeze(&pair, until);
        Ok(vec![Event::Alert(Alert {
            kind: AlertKind::MarketMakerProtection,
            detail: format!(
                "Kyan market-maker protection triggered on {pair}: mmp orders cancelled, new ones refused until {until} ms"
            ),
            ts,
        })])
    }
}

fn clip(v: &Value) -> String {
    v.to_string().chars().take(300).collect()
}
