//! `market_maker`: quotes one post-only bid and ask around the mid, skewed against inventory.
//!
//! The reservation price leans away from the position (long → quotes move down, so the ask is
//! hit more often), the side that would grow the position past `max_inventory` stops quoting, and
//! requotes are one `replace quotes` intent (one Kana transaction) sent only when a desired price
//! moved by more than `requote_tolerance_ticks` or a quote aged out — every requote costs gas.
//! While the venue stream reconnects it pulls its quotes and waits for `Resynced`.
//! Prices round in the safe direction (bid down, ask up) and never cross the book. While any of
//! its quotes is still in flight (pending, being cancelled or of unknown outcome) it waits.
//!
//! This is the framework's reference quoter; the Avellaneda–Stoikov model replaces its fixed
//! spread and linear skew in a later iteration without changing its interface.

pub mod estimators;
pub mod experiment;
pub mod model;

use std::time::Duration;

use async_trait::async_trait;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Deserialize;

use crate::model::{
    ClientOrderId, ConnectionState, Event, Lots, MarketId, NewOrder, OrderBook, OrderStatus,
    PositionSide, Rounding, Side, Ticks, Timestamp, TradingState,
};
use crate::strategy::{Context, Strategy, StrategyError, parse_params};

/// Name under which it is registered.
pub const NAME: &str = "market_maker";

/// `[strategy.params]` of `market_maker`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Market to quote.
    pub market: u64,
    /// Size of each quote (base coins; rounded down to the lot).
    pub order_size: Decimal,
    /// Distance of each quote from the reservation price, in basis points of the mid.
    #[serde(default = "defaults::half_spread_bps")]
    pub half_spread_bps: Decimal,
    /// Reservation-price shift per `order_size` of inventory, in basis points of the mid.
    #[serde(default = "defaults::skew_bps")]
    pub skew_bps: Decimal,
    /// Position (base coins) beyond which the side that would grow it stops quoting.
    pub max_inventory: Decimal,
    /// Requote only when a desired price moved by more than this many ticks.
    #[serde(default = "defaults::requote_tolerance_ticks")]
    pub requote_tolerance_ticks: u64,
    /// Minimum time between requotes (ms).
    #[serde(default = "defaults::min_requote_ms")]
    pub min_requote_ms: u64,
    /// Requote anyway when quotes are older than this (ms).
    #[serde(default = "defaults::max_quote_age_ms")]
    pub max_quote_age_ms: u64,
    /// Leverage of the quotes.
    #[serde(default = "defaults::leverage")]
    pub leverage: u32,
}

mod defaults {
    use rust_decimal::Decimal;
    pub fn half_spread_bps() -> Decimal {
        Decimal::from(10)
    }
    pub fn skew_bps() -> Decimal {
        Decimal::from(5)
    }
    pub fn requote_tolerance_ticks() -> u64 {
        2
    }
    pub fn min_requote_ms() -> u64 {
        500
    }
    pub fn max_quote_age_ms() -> u64 {
        30_000
    }
    pub fn leverage() -> u32 {
        2
    }
}

/// Register `market_maker`.
pub fn register(registry: &mut crate::strategy::StrategyRegistry) {
    registry.register(NAME, |params| {
        Ok(Box::new(MarketMaker::from_params(params)?))
    });
}

/// The desired quotes for one moment: prices in ticks, `None` where a side should not quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotes {
    /// Bid price.
    pub bid: Option<Ticks>,
    /// Ask price.
    pub ask: Option<Ticks>,
}

/// The strategy.
#[derive(Debug)]
pub struct MarketMaker {
    params: Params,
    market: MarketId,
    lots: Lots,
    max_inventory_lots: i128,
    last_requote: Option<Timestamp>,
    /// True between a `Reconnecting` and the next `Resynced`.
    paused: bool,
}

impl MarketMaker {
    /// Build from a params table; errors name the key.
    pub fn from_params(table: &toml::Table) -> Result<MarketMaker, StrategyError> {
        let params: Params = parse_params(NAME, table)?;
        let bad = |message: String| StrategyError::Params {
            strategy: NAME.into(),
            message,
        };
        if params.order_size <= Decimal::ZERO {
            return Err(bad("order_size must be positive".into()));
        }
        if params.max_inventory < params.order_size {
            return Err(bad("max_inventory must be at least order_size".into()));
        }
        if params.half_spread_bps <= Decimal::ZERO {
            return Err(bad("half_spread_bps must be positive".into()));
        }
        if params.skew_bps < Decimal::ZERO {
            return Err(bad("skew_bps must not be negative".into()));
        }
        if params.leverage == 0 {
            return Err(bad("leverage must be at least 1".into()));
        }
        Ok(MarketMaker {
            market: MarketId(params.market),
            params,
            lots: Lots::ZERO,
            max_inventory_lots: 0,
            last_requote: None,
            paused: false,
        })
    }

    /// Desired quotes given the book and the net inventory in lots. Pure: no state is changed.
    pub fn desired_quotes(&self, book: &OrderBook, inventory_lots: i128) -> Option<Quotes> {
        let (best_bid, best_ask) = (book.best_bid()?.price.0, book.best_ask()?.price.0);
        let mid = Decimal::from(best_bid + best_ask) / Decimal::TWO;
        let bps = Decimal::from(10_000);
        let units = Decimal::from(inventory_lots) / Decimal::from(self.lots.0.max(1));
        let reservation = mid - units * self.params.skew_bps * mid / bps;
        let half = (self.params.half_spread_bps * mid / bps).max(Decimal::ONE / Decimal::TWO);
        // Safe rounding: bid down, ask up; then never cross the book (post-only would abort).
        let bid = (reservation - half).floor();
        let ask = (reservation + half).ceil();
        let bid = bid.to_u64()?.min(best_ask.saturating_sub(1));
        let ask = ask.to_u64()?.max(best_bid + 1);
        let room_long = self.max_inventory_lots - inventory_lots;
        let room_short = self.max_inventory_lots + inventory_lots;
        let order = i128::from(self.lots.0);
        Some(Quotes {
            bid: (bid > 0 && room_long >= order).then_some(Ticks(bid)),
            ask: (room_short >= order).then_some(Ticks(ask)),
        })
    }

    /// True when the desired quotes differ enough from the resting ones to pay for a requote.
    pub fn needs_requote(&self, resting: Quotes, desired: Quotes, now: Timestamp) -> bool {
        let moved = |have: Option<Ticks>, want: Option<Ticks>| match (have, want) {
            (Some(h), Some(w)) => h.0.abs_diff(w.0) > self.params.requote_tolerance_ticks,
            (None, None) => false,
            _ => true,
        };
        let aged = self
            .last_requote
            .is_none_or(|t| now.since(t) >= Duration::from_millis(self.params.max_quote_age_ms));
        moved(resting.bid, desired.bid) || moved(resting.ask, desired.ask) || aged
    }

    /// Hedge mode: buy to close an existing short when it is big enough, else open a long.
    fn order_for(&self, ctx: &Context<'_>, side: Side, price: Ticks) -> NewOrder {
        let reduces = match side {
            Side::Buy => PositionSide::Short,
            Side::Sell => PositionSide::Long,
        };
        let held = ctx
            .position(self.market, reduces)
            .map_or(Lots::ZERO, |p| p.lots);
        let mut order = NewOrder::limit(self.market, side, self.lots, price)
            .post_only()
            .with_leverage(self.params.leverage);
        if held >= self.lots {
            order = order.closing();
            if let Some(p) = ctx.position(self.market, reduces) {
                order.leverage = p.leverage; // Kana requires the position's leverage on a close
            }
        }
        order
    }

    /// Requote from what actually rests: every live order of ours in the market is this
    /// strategy's quote, so an order restored by a refused replace is never orphaned.
    fn requote(&mut self, ctx: &mut Context<'_>) {
        if ctx.trading_state() != TradingState::Active {
            return;
        }
        let live: Vec<(ClientOrderId, Side, Option<Ticks>, OrderStatus)> = ctx
            .open_orders(self.market)
            .map(|o| {
                (
                    o.client_id(),
                    o.request.order.side,
                    o.request.order.price,
                    o.status,
                )
            })
            .collect();
        let in_flight = live.iter().any(|(.., status)| {
            matches!(
                status,
                OrderStatus::PendingNew | OrderStatus::PendingCancel | OrderStatus::Unknown
            )
        });
        let now = ctx.now();
        let too_soon = self
            .last_requote
            .is_some_and(|t| now.since(t) < Duration::from_millis(self.params.min_requote_ms));
        if in_flight || too_soon {
            return;
        }
        let Some(book) = ctx.book(self.market) else {
            return;
        };
        if book.is_crossed() {
            return;
        }
        let Some(desired) = self.desired_quotes(book, ctx.net_lots(self.market)) else {
            return;
        };
        let price_of = |side: Side| {
            live.iter()
                .filter(|(_, s, ..)| *s == side)
                .map(|(_, _, p, _)| *p)
                .collect::<Vec<_>>()
        };
        let (bids, asks) = (price_of(Side::Buy), price_of(Side::Sell));
        let tidy = bids.len() <= 1 && asks.len() <= 1;
        let resting = Quotes {
            bid: bids.first().copied().flatten(),
            ask: asks.first().copied().flatten(),
        };
        if tidy && !self.needs_requote(resting, desired, now) {
            return;
        }
        let cancel: Vec<ClientOrderId> = live.iter().map(|(id, ..)| *id).collect();
        let mut place = Vec::with_capacity(2);
        if let Some(p) = desired.bid {
            place.push(self.order_for(ctx, Side::Buy, p));
        }
        if let Some(p) = desired.ask {
            place.push(self.order_for(ctx, Side::Sell, p));
        }
        ctx.replace_quotes(self.market, cancel, place);
        self.last_requote = Some(now);
    }
}

#[async_trait]
impl Strategy for MarketMaker {
    fn name(&self) -> &str {
        NAME
    }

    async fn on_start(&mut self, ctx: &mut Context<'_>) -> Result<(), StrategyError> {
        let spec = ctx.spec(self.market).ok_or_else(|| StrategyError::Params {
            strategy: NAME.into(),
            message: format!(
                "market: {} is not one of the configured markets",
                self.market
            ),
        })?;
        let bad = |message: String| StrategyError::Params {
            strategy: NAME.into(),
            message,
        };
        self.lots = spec
            .size_to_lots(self.params.order_size, Rounding::Down)
            .map_err(|e| bad(format!("order_size: {e}")))?;
        spec.check_lots(self.lots)
            .map_err(|e| bad(format!("order_size: {e}")))?;
        spec.check_leverage(self.params.leverage)
            .map_err(|e| bad(format!("leverage: {e}")))?;
        let max = spec
            .size_to_lots(self.params.max_inventory, Rounding::Down)
            .map_err(|e| bad(format!("max_inventory: {e}")))?;
        self.max_inventory_lots = i128::from(max.0);
        ctx.set_interval(Duration::from_millis(self.params.min_requote_ms.max(100)));
        Ok(())
    }

    async fn on_event(
        &mut self,
        event: &Event,
        ctx: &mut Context<'_>,
    ) -> Result<(), StrategyError> {
        match event {
            // Blind while the stream reconnects: pull the quotes, resume once resynced.
            Event::Connection(c) if c.state == ConnectionState::Reconnecting => {
                self.paused = true;
                ctx.cancel_all(Some(self.market));
            }
            Event::Connection(c) if c.state == ConnectionState::Resynced => self.paused = false,
            _ if self.paused => {}
            Event::Book(b) if b.market == self.market => self.requote(ctx),
            Event::Timer(_) | Event::Fill(_) | Event::Order(_) => self.requote(ctx),
            _ => {}
        }
        Ok(())
    }

    async fn on_stop(&mut self, ctx: &mut Context<'_>) -> Result<(), StrategyError> {
        ctx.cancel_all(Some(self.market));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Level, MarketSpec};

    fn mm() -> MarketMaker {
        let table: toml::Table = toml::from_str(
            "market = 1338\norder_size = 1\nmax_inventory = 3\nhalf_spread_bps = 10\nskew_bps = 5",
        )
        .unwrap();
        let mut mm = MarketMaker::from_params(&table).unwrap();
        let spec = MarketSpec::kana_apt_testnet();
        mm.lots = spec.size_to_lots(Decimal::ONE, Rounding::Down).unwrap();
        mm.max_inventory_lots = 3000;
        mm
    }

    fn book(bid: u64, ask: u64) -> OrderBook {
        let mut b = OrderBook::new();
        b.replace(
            &[Level::new(bid, 10_000)],
            &[Level::new(ask, 10_000)],
            Timestamp(1),
        );
        b
    }

    #[test]
    fn flat_quotes_are_symmetric_and_rounded_outward() {
        // mid 5520 ticks, 10 bps → 5.52 ticks: bid floor(5514.48) = 5514, ask ceil(5525.52) = 5526.
        let q = mm().desired_quotes(&book(5518, 5522), 0).unwrap();
        assert_eq!(
            q,
            Quotes {
                bid: Some(Ticks(5514)),
                ask: Some(Ticks(5526))
            }
        );
    }

    #[test]
    fn inventory_skews_quotes_and_limits_sides() {
        let m = mm();
        let long = m.desired_quotes(&book(5518, 5522), 2000).unwrap();
        // 2 units × 5 bps × 5520 = 5.52 ticks lower: r = 5514.48 → bid floor(5508.96), ask ceil(5520.0).
        assert_eq!(
            long,
            Quotes {
                bid: Some(Ticks(5508)),
                ask: Some(Ticks(5520))
            }
        );
        let full = m.desired_quotes(&book(5518, 5522), 3000).unwrap();
        assert_eq!(full.bid, None, "no bid at max long inventory");
        assert!(full.ask.is_some());
        let short = m.desired_quotes(&book(5518, 5522), -3000).unwrap();
        assert_eq!(short.ask, None, "no ask at max short inventory");
    }

    #[test]
    fn quotes_never_cross_the_book() {
        // A big skew pushes the ask far below the best bid: it is clamped one tick above it.
        let mut m = mm();
        m.params.skew_bps = Decimal::from(50);
        let q = m.desired_quotes(&book(5518, 5519), 2000).unwrap();
        assert_eq!(q.ask, Some(Ticks(5519)));
        assert!(q.bid.unwrap().0 < 5519);
        // And the other way for a short position.
        let q = m.desired_quotes(&book(5518, 5519), -2000).unwrap();
        assert_eq!(q.bid, Some(Ticks(5518)));
        assert!(q.ask.unwrap().0 > 5518);
    }

    #[test]
    fn requote_tolerance() {
        let mut m = mm();
        let resting = Quotes {
            bid: Some(Ticks(5514)),
            ask: Some(Ticks(5526)),
        };
        m.last_requote = Some(Timestamp(0));
        let now = Timestamp::from_millis(1000);
        let want = |bid, ask| Quotes { bid, ask };
        assert!(
            !m.needs_requote(resting, want(Some(Ticks(5516)), Some(Ticks(5526))), now),
            "2 ticks: within tolerance"
        );
        assert!(
            m.needs_requote(resting, want(Some(Ticks(5517)), Some(Ticks(5526))), now),
            "3 ticks: requote"
        );
        assert!(
            m.needs_requote(resting, want(None, Some(Ticks(5526))), now),
            "a side to pull"
        );
        assert!(
            m.needs_requote(resting, resting, Timestamp::from_millis(31_000)),
            "aged out"
        );
    }

    #[test]
    fn pulls_quotes_while_the_stream_reconnects() {
        use crate::model::{BookUpdate, BookUpdateKind, ConnectionEvent, Intent};
        use crate::state::State;
        use crate::strategy::Outbox;
        let spec = MarketSpec::kana_apt_testnet();
        let mut state = State::new(std::slice::from_ref(&spec));
        state.set_now(Timestamp::from_secs(10));
        let book = Event::Book(BookUpdate {
            market: spec.id,
            kind: BookUpdateKind::Snapshot,
            bids: vec![Level::new(5518, 10_000)],
            asks: vec![Level::new(5522, 10_000)],
            ts: Timestamp::from_secs(10),
        });
        state.apply(&book);
        let conn = |state| {
            Event::Connection(ConnectionEvent {
                stream: "kana-ws".into(),
                state,
                ts: Timestamp(0),
            })
        };
        let mut m = mm();
        let mut out = Outbox::new(0);
        let feed = |m: &mut MarketMaker, e: &Event, out: &mut Outbox| {
            let mut ctx = Context::new(&state, TradingState::Active, out);
            futures_lite(m.on_event(e, &mut ctx)).unwrap();
            std::mem::take(&mut out.intents)
        };
        assert!(matches!(
            &feed(&mut m, &book, &mut out)[..],
            [Intent::ReplaceQuotes { .. }]
        ));
        let pulled = feed(&mut m, &conn(ConnectionState::Reconnecting), &mut out);
        assert!(
            matches!(&pulled[..], [Intent::CancelAll { market: Some(_) }]),
            "{pulled:?}"
        );
        m.last_requote = None;
        assert!(
            feed(&mut m, &book, &mut out).is_empty(),
            "no quoting while blind"
        );
        assert!(feed(&mut m, &conn(ConnectionState::Resynced), &mut out).is_empty());
        assert!(
            matches!(
                &feed(&mut m, &book, &mut out)[..],
                [Intent::ReplaceQuotes { .. }]
            ),
            "quoting resumes"
        );
    }

    /// Drive a future that never waits (strategy calls do no I/O) to completion.
    fn futures_lite<F: std::future::Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        loop {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    #[test]
    fn bad_params_name_the_key() {
        let t: toml::Table =
            toml::from_str("market = 1338\norder_size = 1\nmax_inventory = 3\nspread = 3").unwrap();
        let e = MarketMaker::from_params(&t).unwrap_err().to_string();
        assert!(e.contains("spread"), "{e}");
        let t: toml::Table =
            toml::from_str("market = 1338\norder_size = 2\nmax_inventory = 1").unwrap();
        let e = MarketMaker::from_params(&t).unwrap_err().to_string();
        assert!(e.contains("max_inventory"), "{e}");
    }
}
