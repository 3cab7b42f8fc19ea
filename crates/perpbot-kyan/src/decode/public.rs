//! The public Centrifugo stream's publications as events (`docs/design/kyan-wire.md`, "Public
//! stream"): `l2:perps:{instrument}` (20-level snapshots, USD-notional amounts converted to lots
//! rounding down), `l2:bbo:{instrument}`, `trades_perp:{instrument}`,
//! `market:funding:current:{instrument}` and `market:index_price:{pair}` (kept for market-order
//! limits).

use rust_decimal::Decimal;
use serde_json::Value;

use perpbot_model::{
    BestPrice, BookUpdate, BookUpdateKind, Event, FundingRate, Level, PublicTrade, Rounding, Side,
    Timestamp,
};

use super::num::{dec_any, decimal, str_at, timestamp_nanos};
use super::{DecodeError, KyanDecoder, MarketEntry, SkipReason, err};

/// The channels of one instrument.
pub fn channels(instrument: &str) -> [String; 4] {
    [
        format!("l2:perps:{instrument}"),
        format!("l2:bbo:{instrument}"),
        format!("trades_perp:{instrument}"),
        format!("market:funding:current:{instrument}"),
    ]
}

/// The index channel of a pair.
pub fn index_channel(pair: &str) -> String {
    format!("market:index_price:{pair}")
}

/// The channel family (the part before the instrument), for counters.
fn family(channel: &str) -> &str {
    for f in [
        "l2:perps",
        "l2:bbo",
        "trades_perp",
        "market:funding:current",
        "market:index_price",
    ] {
        if channel.starts_with(f) {
            return f;
        }
    }
    "stream:other"
}

impl KyanDecoder {
    /// Decode one publication of `channel`, received at `ts`.
    pub fn public(
        &mut self,
        channel: &str,
        data: &Value,
        ts: Timestamp,
    ) -> Result<Vec<Event>, DecodeError> {
        let fam = family(channel);
        self.count(fam, |s| s.frames += 1);
        let result = self.route_public(fam, channel, data, ts);
        match &result {
            Ok(e) => {
                let n = e.len() as u64;
                self.count(fam, |s| s.events += n);
            }
            Err(_) => self.count(fam, |s| s.errors += 1),
        }
        result
    }

    fn route_public(
        &mut self,
        fam: &str,
        channel: &str,
        data: &Value,
        ts: Timestamp,
    ) -> Result<Vec<Event>, DecodeError> {
        let name = channel
            .strip_prefix(fam)
            .and_then(|r| r.strip_prefix(':'))
            .unwrap_or("");
        if fam == "market:index_price" {
            if let Some(v) = dec_any(data, &["value", "price"]) {
                let pair = str_at(data, "pair").unwrap_or(name).to_string();
                self.shared.set_index(&pair, v);
            }
            self.stats.skip(fam, SkipReason::IndexPriceKept);
            return Ok(Vec::new());
        }
        let Some(entry) = self.entry(name).cloned() else {
            self.stats.skip(fam, SkipReason::UnconfiguredMarket);
            return Ok(Vec::new());
        };
        match fam {
            "l2:perps" => self.l2(fam, &entry, data, ts),
            "l2:bbo" => self.bbo(fam, &entry, data, ts),
            "trades_perp" => self.public_trades(fam, &entry, data, ts),
            "market:funding:current" => {
                let rate = dec_any(data, &["rate_hourly", "funding_rate"])
                    .ok_or_else(|| err(fam, "rate_hourly", "missing or not a number"))?;
                let ts = data
                    .get("timestamp_ms")
                    .and_then(timestamp_nanos)
                    .map(Timestamp)
                    .unwrap_or(ts);
                Ok(vec![Event::Funding(FundingRate {
                    market: entry.market,
                    rate,
                    ts,
                })])
            }
            _ => {
                self.stats.skip(fam, SkipReason::ChannelWithoutEvent);
                Ok(Vec::new())
            }
        }
    }

    fn levels(
        &mut self,
        fam: &str,
        entry: &MarketEntry,
        side: Side,
        raw: Option<&Value>,
    ) -> Result<Vec<Level>, DecodeError> {
        let field = match side {
            Side::Buy => "bids",
            Side::Sell => "asks",
        };
        let Some(list) = raw else {
            return Ok(Vec::new());
        };
        let list = list
            .as_array()
            .ok_or_else(|| err(fam, field, "not an array"))?;
        let mut out = Vec::with_capacity(list.len());
        for l in list {
            let price = l
                .get(0)
                .and_then(decimal)
                .ok_or_else(|| err(fam, field, "level price missing or not a number"))?;
            let amount = l
                .get(1)
                .and_then(decimal)
                .ok_or_else(|| err(fam, field, "level amount missing or not a number"))?;
            let mut inexact = false;
            // An off-grid level price is rounded away from the spread (bids down, asks up).
            let rounding = if side == Side::Buy {
                Rounding::Down
            } else {
                Rounding::Up
            };
            let ticks = entry
                .ticks(price, rounding, &mut inexact)
                .ok_or_else(|| err(fam, field, format!("price {price} does not fit the grid")))?;
            let lots = entry
                .notional_to_lots(amount, price, &mut inexact)
                .ok_or_else(|| {
                    err(
                        fam,
                        field,
                        format!("amount {amount} at {price} does not convert"),
                    )
                })?;
            if inexact {
                self.count(fam, |s| s.inexact += 1);
            }
            if lots.is_zero() {
                self.stats.skip(fam, SkipReason::LevelBelowOneLot);
                continue;
            }
            out.push(Level { price: ticks, lots });
        }
        Ok(out)
    }

    fn l2(
        &mut self,
        fam: &str,
        entry: &MarketEntry,
        data: &Value,
        ts: Timestamp,
    ) -> Result<Vec<Event>, DecodeError> {
        let bids = self.levels(fam, entry, Side::Buy, data.get("bids"))?;
        let asks = self.levels(fam, entry, Side::Sell, data.get("asks"))?;
        let ts = data
            .get("timestamp")
            .and_then(timestamp_nanos)
            .map(Timestamp)
            .unwrap_or(ts);
        Ok(vec![Event::Book(BookUpdate {
            market: entry.market,
            kind: BookUpdateKind::Snapshot,
            bids,
            asks,
            ts,
        })])
    }

    fn bbo(
        &mut self,
        fam: &str,
        entry: &MarketEntry,
        data: &Value,
        ts: Timestamp,
    ) -> Result<Vec<Event>, DecodeError> {
        let a = data
            .as_array()
            .ok_or_else(|| err(fam, "data", "not [ts, bid_px, bid_amt, ask_px, ask_amt]"))?;
        let px = |i: usize, rounding| -> Result<Option<perpbot_model::Ticks>, DecodeError> {
            match a.get(i) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.is_empty() => Ok(None),
                Some(v) => {
                    let p = decimal(v).ok_or_else(|| err(fam, "price", "not a number"))?;
                    let mut inexact = false;
                    Ok(entry.ticks(p, rounding, &mut inexact))
                }
            }
        };
        let bid = px(1, Rounding::Down)?;
        let ask = px(3, Rounding::Up)?;
        let ts = a
            .first()
            .and_then(timestamp_nanos)
            .map(Timestamp)
            .unwrap_or(ts);
        Ok(vec![Event::BestPrice(BestPrice {
            market: entry.market,
            bid,
            ask,
            ts,
        })])
    }

    fn public_trades(
        &mut self,
        fam: &str,
        entry: &MarketEntry,
        data: &Value,
        ts: Timestamp,
    ) -> Result<Vec<Event>, DecodeError> {
        let a = data
            .as_array()
            .ok_or_else(|| err(fam, "data", "not [price, size, ts]"))?;
        // One trade `[price, size, ts]`, or an array of them.
        let list: Vec<&Value> = if a.first().is_some_and(Value::is_array) {
            a.iter().collect()
        } else {
            vec![data]
        };
        let mut out = Vec::with_capacity(list.len());
        for t in list {
            let price = t
                .get(0)
                .and_then(decimal)
                .ok_or_else(|| err(fam, "price", "missing or not a number"))?;
            let size = t
                .get(1)
                .and_then(decimal)
                .ok_or_else(|| err(fam, "size", "missing or not a number"))?;
            let mut inexact = false;
            let ticks = entry
                .ticks(price, Rounding::Down, &mut inexact)
                .ok_or_else(|| err(fam, "price", format!("{price} does not fit the grid")))?;
            let lots = entry
                .lots_down(size.abs(), &mut inexact)
                .ok_or_else(|| err(fam, "size", format!("{size} does not fit the grid")))?;
            if inexact {
                self.count(fam, |s| s.inexact += 1);
            }
            let aggressor = if size > Decimal::ZERO {
                Some(Side::Buy)
            } else if size < Decimal::ZERO {
                Some(Side::Sell)
            } else {
                None
            };
            let ts = t
                .get(2)
                .and_then(timestamp_nanos)
                .map(Timestamp)
                .unwrap_or(ts);
            out.push(Event::Trade(PublicTrade {
                market: entry.market,
                price: ticks,
                lots,
                aggressor,
                ts,
            }));
        }
        Ok(out)
    }
}
