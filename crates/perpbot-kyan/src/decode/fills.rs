//! Own fills: `trade` records → [`Fill`]s with their direction, exact realised PnL and fee,
//! through the decoder's net-position tracker (see the module docs of [`super`]).

use alloy_primitives::keccak256;
use rust_decimal::Decimal;
use serde_json::Value;

use perpbot_model::{
    Direction, Event, Fill, Liquidity, Lots, Rounding, Timestamp, TradeId, VenueOrderId,
};

use super::num::{dec_any, dec_at, hex_id, str_at, timestamp_nanos};
use super::{DecodeError, KyanDecoder, NetPosition, SkipReason, direction_field, err, records};
use crate::config::FeeFields;

/// A derived 128-bit id: the first 16 bytes of keccak256 over the parts.
fn derived_id(trade: u128, order: u128, part: u8) -> TradeId {
    let mut bytes = [0u8; 33];
    bytes[..16].copy_from_slice(&trade.to_be_bytes());
    bytes[16..32].copy_from_slice(&order.to_be_bytes());
    bytes[32] = part;
    let h = keccak256(bytes);
    let mut out = [0u8; 16];
    out.copy_from_slice(&h[..16]);
    TradeId(u128::from_be_bytes(out))
}

impl KyanDecoder {
    // ---- fills -------------------------------------------------------------------------------

    pub(super) fn trades(
        &mut self,
        channel: &str,
        data: &Value,
        ts: Timestamp,
    ) -> Result<Vec<Event>, DecodeError> {
        let mut out = Vec::new();
        for t in records(data, &["trades"]) {
            out.extend(self.trade(channel, t, ts)?);
        }
        Ok(out)
    }

    /// Own trades read back over REST (`GET /v2/account_history`), for fills the streams lost:
    /// the records of this session (`timestamp` at or after `since`), oldest first, through the
    /// same path as pushed `trade` events, so one seen before is skipped as a repeat. The page
    /// may be `{data: […]}` **\[ASSUMED\]**, `{history|items|trades: […]}` or a bare array;
    /// records with an `event_type` other than `trade` and unreadable ones are counted and
    /// skipped (a resync does not fail on one bad record), timestamps in s or ms.
    pub fn history_trades(&mut self, channel: &str, page: &Value, since: Timestamp) -> Vec<Event> {
        let list = ["data", "history", "items", "trades"]
            .iter()
            .find_map(|k| page.get(*k).and_then(Value::as_array))
            .or_else(|| page.as_array());
        let Some(list) = list else {
            self.stats.skip(channel, SkipReason::HistoryRecord);
            return Vec::new();
        };
        let mut trades: Vec<(u64, &Value)> = Vec::with_capacity(list.len());
        for r in list {
            let kind = r.get("event_type").and_then(Value::as_str);
            let at = r.get("timestamp").and_then(timestamp_nanos);
            match (kind, at) {
                (Some(k), _) if k != "trade" => self.stats.skip(channel, SkipReason::HistoryRecord),
                (_, None) => self.stats.skip(channel, SkipReason::HistoryRecord),
                (_, Some(at)) if at < since.0 => {
                    self.stats.skip(channel, SkipReason::BeforeSession)
                }
                (_, Some(at)) => trades.push((at, r)),
            }
        }
        trades.sort_by_key(|(at, _)| *at);
        let mut out = Vec::new();
        for (at, t) in trades {
            match self.trade(channel, t, Timestamp(at)) {
                Ok(events) => out.extend(events),
                Err(e) => {
                    tracing::warn!(channel = %e.channel, field = %e.field, error = %e.detail, "Kyan history record not decoded: skipped");
                    self.stats.skip(channel, SkipReason::HistoryRecord);
                }
            }
        }
        out
    }

    /// One `trade` record → one fill, or two when it crosses zero (Close then Open).
    fn trade(
        &mut self,
        channel: &str,
        t: &Value,
        ts: Timestamp,
    ) -> Result<Vec<Event>, DecodeError> {
        self.learn_account(t);
        let instrument = str_at(t, "instrument_name")
            .ok_or_else(|| err(channel, "instrument_name", "missing"))?;
        let trade_id = str_at(t, "trade_id")
            .and_then(hex_id)
            .ok_or_else(|| err(channel, "trade_id", "missing or not 32 hex digits"))?;
        let order_id = str_at(t, "order_id")
            .and_then(hex_id)
            .ok_or_else(|| err(channel, "order_id", "missing or not 32 hex digits"))?;
        let Some(entry) = self.entry(instrument).cloned() else {
            self.stats.skip(channel, SkipReason::UnconfiguredMarket);
            return Ok(Vec::new());
        };
        let side = direction_field(t).ok_or_else(|| err(channel, "direction", "not buy/sell"))?;
        // [ASSUMED] size in base units (contracts); a sign, if any, is ignored: `direction` says.
        let size = dec_at(t, "size")
            .ok_or_else(|| err(channel, "size", "missing or not a number"))?
            .abs();
        let price = dec_any(t, &["average_price", "price"])
            .ok_or_else(|| err(channel, "average_price", "missing or not a number"))?;
        if price <= Decimal::ZERO {
            return Err(err(
                channel,
                "average_price",
                format!("{price} is not positive"),
            ));
        }
        // Seen before? Only after the record proved readable, so a broken one is not remembered.
        if !self.fills.insert((trade_id, order_id)) {
            self.stats.skip(channel, SkipReason::RepeatFill);
            return Ok(Vec::new());
        }
        let mut inexact = false;
        let lots = entry
            .lots_down(size, &mut inexact)
            .ok_or_else(|| err(channel, "size", format!("{size} does not fit the grid")))?;
        // An average price across levels may be off the tick grid: the fill carries the nearest
        // tick for the order book's sake; PnL and the tracker use the exact price.
        let ticks = entry
            .ticks(price, Rounding::Down, &mut inexact)
            .ok_or_else(|| {
                err(
                    channel,
                    "average_price",
                    format!("{price} does not fit the grid"),
                )
            })?;
        if inexact {
            self.count(channel, |s| s.inexact += 1);
        }
        let fee_of = |k: &str| dec_at(t, k).unwrap_or(Decimal::ZERO);
        let (maker_fee, taker_fee) = (fee_of("maker_fee"), fee_of("taker_fee"));
        let liquidity = if !taker_fee.is_zero() {
            Liquidity::Taker
        } else if !maker_fee.is_zero() {
            Liquidity::Maker
        } else if trade_id == order_id {
            Liquidity::Taker
        } else {
            Liquidity::Maker
        };
        let extra = fee_of("systemic_risk_fee") + fee_of("liquidation_fee");
        let fee_field = maker_fee + taker_fee + extra;
        let fee = match self.fee_fields {
            FeeFields::Amount => fee_field,
            FeeFields::Rate => fee_field * size * price,
        };
        let ts = t
            .get("timestamp")
            .and_then(timestamp_nanos)
            .map(Timestamp)
            .unwrap_or(ts);

        // Direction and PnL from the net tracker.
        let net = self.nets.entry(entry.market).or_default();
        let signed = i128::from(lots.0) * i128::from(side.sign());
        let before = *net;
        let closing = if before.lots != 0 && (before.lots > 0) != (signed > 0) {
            before.lots.unsigned_abs().min(signed.unsigned_abs())
        } else {
            0
        };
        let opening = signed.unsigned_abs() - closing;
        let closing_lots = Lots(u64::try_from(closing).unwrap_or(u64::MAX));
        let opening_lots = Lots(u64::try_from(opening).unwrap_or(u64::MAX));
        let close_size = entry.size(closing_lots);
        let open_size = entry.size(opening_lots);
        let realized = if before.lots > 0 {
            (price - before.entry) * close_size
        } else {
            (before.entry - price) * close_size
        };
        let after_lots = before.lots + signed;
        let entry_after = if after_lots == 0 {
            Decimal::ZERO
        } else if closing > 0 && opening == 0 {
            before.entry
        } else if closing > 0 {
            price
        } else {
            let held = entry.size(Lots(
                u64::try_from(before.lots.unsigned_abs()).unwrap_or(u64::MAX),
            ));
            let total = held + open_size;
            if total.is_zero() {
                price
            } else {
                (held * before.entry + open_size * price) / total
            }
        };
        *net = NetPosition {
            lots: after_lots,
            entry: entry_after,
        };
        // The position as this fill leaves it, at once: Kyan pushes positions only once a
        // second, and risk limits and PnL must not run a second behind the fills.
        let position = net_position_event(entry.market, *net, ts);

        let venue_id = Some(VenueOrderId(order_id));
        let fill = |trade_id, direction, lots, fee, realized_pnl| {
            Event::Fill(Box::new(Fill {
                market: entry.market,
                client_id: None,
                venue_id,
                trade_id,
                side,
                direction,
                lots,
                price: ticks,
                fee,
                realized_pnl,
                liquidity,
                ts,
            }))
        };
        let mut out = Vec::with_capacity(3);
        if t.get("liquidation").and_then(Value::as_bool) == Some(true) {
            out.push(Event::Alert(perpbot_model::Alert {
                kind: perpbot_model::AlertKind::Liquidation,
                detail: format!(
                    "Kyan liquidation fill on {}: {} {} at {price}",
                    entry.instrument,
                    if side == perpbot_model::Side::Buy {
                        "bought"
                    } else {
                        "sold"
                    },
                    entry.size(lots)
                ),
                ts,
            }));
        }
        match (closing > 0, opening > 0) {
            (true, true) => {
                // Fee shared by size, the close part rounded to USDC's 6 decimals, the rest on
                // the open part, so the two add up to the charge exactly.
                let total = Decimal::from(lots.0);
                let close_fee = if total.is_zero() {
                    Decimal::ZERO
                } else {
                    (fee * Decimal::from(closing_lots.0) / total).round_dp(6)
                };
                out.push(fill(
                    derived_id(trade_id, order_id, 0),
                    Direction::Close,
                    closing_lots,
                    close_fee,
                    realized,
                ));
                out.push(fill(
                    derived_id(trade_id, order_id, 1),
                    Direction::Open,
                    opening_lots,
                    fee - close_fee,
                    Decimal::ZERO,
                ));
            }
            (true, false) => out.push(fill(
                derived_id(trade_id, order_id, 0),
                Direction::Close,
                closing_lots,
                fee,
                realized,
            )),
            _ => out.push(fill(
                derived_id(trade_id, order_id, 0),
                Direction::Open,
                lots,
                fee,
                Decimal::ZERO,
            )),
        }
        out.push(position);
        Ok(out)
    }
}

/// A net position as perpbot's hedge-mode pair: the held side and a flat other.
fn net_position_event(market: perpbot_model::MarketId, net: NetPosition, ts: Timestamp) -> Event {
    use perpbot_model::{Position, PositionSide, PositionUpdate};
    let (held, flat) = if net.lots < 0 {
        (PositionSide::Short, PositionSide::Long)
    } else {
        (PositionSide::Long, PositionSide::Short)
    };
    let mut p = Position::flat(market, held, ts);
    p.lots = Lots(u64::try_from(net.lots.unsigned_abs()).unwrap_or(u64::MAX));
    p.entry_price = if net.lots == 0 {
        Decimal::ZERO
    } else {
        net.entry
    };
    Event::Position(PositionUpdate {
        positions: vec![p, Position::flat(market, flat, ts)],
        snapshot: false,
    })
}
