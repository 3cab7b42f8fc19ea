//! A running bot at a glance: what `GET /status`, `/metrics` and a dashboard show. Built by the
//! engine core on demand, in human units, and published by the runner on its tick.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

use super::EngineCore;
use perpbot_model::{ClientOrderId, OrderStatus, Side, Timestamp, TradingState};

/// The bot now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// The strategy.
    pub strategy: String,
    /// Active, reduce-only or halted.
    pub trading_state: TradingState,
    /// Why trading was last tightened (kill switch, a loss limit, reconciliation, an operator).
    pub trading_reason: Option<String>,
    /// Since when the venue's stream has been reconnecting; none while it is up.
    pub disconnected_since: Option<Timestamp>,
    /// When the venue's stream last started reconnecting.
    pub last_reconnect: Option<Timestamp>,
    /// The bot's latest fills, newest last (set by the runner).
    pub recent_fills: Vec<FillLine>,
    /// Position differences reconciliation could not explain, over the run.
    pub unexplained_mismatches: u64,
    /// When this was taken (engine time).
    pub ts: Timestamp,
    /// Per market: mid, position, its notional and the bot's open orders.
    pub markets: Vec<MarketStatus>,
    /// PnL and its parts (quote).
    pub pnl: PnlStatus,
    /// The loss limits and how far the bot is from each.
    pub limits: LimitsStatus,
    /// Counts since the start of the run.
    pub counts: Counts,
    /// Request latency, decision to outcome (set by the runner).
    pub latency: Option<Latency>,
    /// Requests the venue refused, by kind of refusal.
    pub venue_rejections_by_kind: BTreeMap<String, u64>,
    /// Intents refused before leaving, by the check that refused them.
    pub risk_rejections_by_check: BTreeMap<String, u64>,
    /// The venue stream's counters (set by the runner, where the venue keeps them).
    pub stream: Option<crate::venue::StreamCounters>,
    /// Journal records written and write errors, when a journal is kept.
    pub journal: Option<JournalCounts>,
}

/// What the journal wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct JournalCounts {
    /// Records written.
    pub records: u64,
    /// fsyncs done.
    pub fsyncs: u64,
    /// Records that could not be written.
    pub write_errors: u64,
}

/// A snake_case name of an enum that serialises as one (for labels).
fn name_of<T: Serialize + std::fmt::Debug>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{v:?}"),
    }
}

/// One market.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MarketStatus {
    /// Id.
    pub market: u64,
    /// Name (`APT-USD`).
    pub name: String,
    /// Mid of the book (quote per coin).
    pub mid: Option<Decimal>,
    /// Net position in coins, negative when short.
    pub position: Decimal,
    /// |position| × mid (quote).
    pub notional: Decimal,
    /// The bot's traded volume (coins).
    pub volume: Decimal,
    /// The bot's live orders.
    pub orders: Vec<OrderStatusLine>,
    /// The book's best bids, best first (at most [`BOOK_LEVELS`]).
    pub bids: Vec<LevelLine>,
    /// The book's best asks, best first.
    pub asks: Vec<LevelLine>,
}

/// How many levels a side the status shows.
pub const BOOK_LEVELS: usize = 5;

/// One book level in human units.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LevelLine {
    /// Price (quote per coin).
    pub price: Decimal,
    /// Size (coins).
    pub size: Decimal,
}

/// One of the bot's fills in human units.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FillLine {
    /// When the bot learnt of it.
    pub ts: Timestamp,
    /// The market's name.
    pub market: String,
    /// Buy or sell.
    pub side: Side,
    /// Price (quote per coin).
    pub price: Decimal,
    /// Size (coins).
    pub size: Decimal,
    /// Maker or taker.
    pub liquidity: perpbot_model::Liquidity,
}

/// One live order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderStatusLine {
    /// The bot's id.
    pub client_id: ClientOrderId,
    /// Buy or sell.
    pub side: Side,
    /// Limit price (quote per coin), none for a market order.
    pub price: Option<Decimal>,
    /// Size still open (coins).
    pub remaining: Decimal,
    /// Where it is in its life.
    pub status: OrderStatus,
}

/// PnL and its parts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PnlStatus {
    /// After fees and gas: what the run made.
    pub net: Decimal,
    /// Before gas.
    pub before_gas: Decimal,
    /// Earned by quoting: each fill's distance from the mid.
    pub spread_capture: Decimal,
    /// Earned or lost by holding inventory.
    pub inventory: Decimal,
    /// Paid on fills.
    pub fees: Decimal,
    /// Transaction fees in the quote currency.
    pub gas: Decimal,
    /// Funding paid (negative) or received.
    pub funding: Decimal,
}

/// The loss limits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LimitsStatus {
    /// PnL over the loss window (net of gas).
    pub window_pnl: Decimal,
    /// Drawdown over the loss window.
    pub drawdown: Decimal,
    /// `risk.max_loss`, if set.
    pub max_loss: Option<Decimal>,
    /// How much more may be lost before `max_loss` trips.
    pub loss_headroom: Option<Decimal>,
    /// `risk.max_drawdown`, if set.
    pub max_drawdown: Option<Decimal>,
    /// How much more drawdown before `max_drawdown` trips.
    pub drawdown_headroom: Option<Decimal>,
}

/// Counts since the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Fills.
    pub fills: u64,
    /// Of which maker fills.
    pub maker_fills: u64,
    /// Requests sent to the venue.
    pub requests_sent: u64,
    /// Orders sent.
    pub orders_sent: u64,
    /// Requests the venue refused.
    pub venue_rejections: u64,
    /// Intents refused by the risk check or the rate limiter.
    pub risk_rejections: u64,
    /// Strategy callbacks that returned an error.
    pub strategy_errors: u64,
    /// Fills that named no order, matched to one by market, side, price, size and time.
    pub attributed_fills: u64,
    /// Fills no order of the bot owned (TP/SL, liquidation, orders placed elsewhere).
    pub unattributed_fills: u64,
}

/// Request latency over the recent requests.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    /// Requests measured.
    pub samples: usize,
    /// Median (ms).
    pub p50_ms: f64,
    /// 99th percentile (ms).
    pub p99_ms: f64,
}

impl EngineCore {
    /// The bot now (see [`Status`]).
    pub fn status(&self) -> Status {
        let s = self.state();
        let perf = self.tracker.performance();
        let markets = s
            .markets()
            .map(|spec| {
                let mid = s.mid_price(spec.id);
                let book = s.book(spec.id);
                let side_levels = |levels: Vec<perpbot_model::Level>| {
                    levels
                        .into_iter()
                        .map(|l| LevelLine {
                            price: spec.ticks_to_price(l.price),
                            size: spec.lots_to_size(l.lots),
                        })
                        .collect::<Vec<_>>()
                };
                let bids = side_levels(
                    book.map(|b| b.bids().take(BOOK_LEVELS).collect())
                        .unwrap_or_default(),
                );
                let asks = side_levels(
                    book.map(|b| b.asks().take(BOOK_LEVELS).collect())
                        .unwrap_or_default(),
                );
                let position = spec.signed_size(s.net_lots(spec.id));
                MarketStatus {
                    market: spec.id.0,
                    name: spec.name.clone(),
                    mid,
                    position,
                    notional: position.abs() * mid.unwrap_or_default(),
                    volume: perf
                        .markets
                        .iter()
                        .find(|m| m.market == spec.id)
                        .map_or(Decimal::ZERO, |m| m.volume),
                    orders: s
                        .live_orders(Some(spec.id))
                        .map(|o| OrderStatusLine {
                            client_id: o.client_id(),
                            side: o.request.order.side,
                            price: o.request.order.price.map(|p| spec.ticks_to_price(p)),
                            remaining: spec.lots_to_size(o.remaining()),
                            status: o.status,
                        })
                        .collect(),
                    bids,
                    asks,
                }
            })
            .collect();
        let gas = self.risk.gas_in_quote();
        let (window_pnl, drawdown) = self.risk.window_pnl_and_drawdown();
        let config = self.risk.config();
        let (fills, maker_fills) = s.fill_counts();
        let stats = self.executor_stats();
        Status {
            strategy: self.strategy_name().to_string(),
            trading_state: self.risk.trading_state(),
            trading_reason: self.risk.last_change().map(|c| c.reason.clone()),
            disconnected_since: self.disconnected_since,
            last_reconnect: self.last_reconnect,
            recent_fills: Vec::new(),
            unexplained_mismatches: self.reconciliation.unexplained,
            ts: s.now(),
            markets,
            pnl: PnlStatus {
                net: self.risk.net_pnl(s),
                before_gas: perf.total_pnl,
                spread_capture: perf.spread_capture,
                inventory: perf.inventory_pnl,
                fees: perf.fees,
                gas,
                funding: perf.funding,
            },
            limits: LimitsStatus {
                window_pnl,
                drawdown,
                max_loss: config.max_loss,
                loss_headroom: config.max_loss.map(|m| m + window_pnl),
                max_drawdown: config.max_drawdown,
                drawdown_headroom: config.max_drawdown.map(|m| m - drawdown),
            },
            counts: Counts {
                fills,
                maker_fills,
                requests_sent: stats.requests_sent,
                orders_sent: stats.orders_sent,
                venue_rejections: stats.rejected_requests,
                risk_rejections: self.risk_rejections,
                strategy_errors: self.strategy_errors,
                attributed_fills: self.state().anomalies().attributed_fills,
                unattributed_fills: self.state().anomalies().unknown_order_fills,
            },
            latency: None,
            venue_rejections_by_kind: stats
                .rejected_by_kind
                .iter()
                .map(|(k, n)| (name_of(k), *n))
                .collect(),
            risk_rejections_by_check: self
                .rejections_by_check
                .iter()
                .map(|(k, n)| (name_of(k), *n))
                .collect(),
            stream: None,
            journal: self.journal_stats().map(|j| JournalCounts {
                records: j.records,
                fsyncs: j.fsyncs,
                write_errors: j.write_errors,
            }),
        }
    }
}
