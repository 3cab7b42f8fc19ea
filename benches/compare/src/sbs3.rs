//! SBS-3: a quoting backtest over the same 2,000,000-event stream (seed 7: deltas plus 10 %
//! trades at mid ± 1, 100 µs apart).
//!
//! Both sides run the same [`Quoter`]: one post-only order of one lot on each side, the bid at
//! `⌊mid⌋ − 1` ticks and the ask at `⌈mid⌉ + 1` (joining the touch when the spread is two ticks);
//! when the mid moves a side's price, its order is cancelled and the new one placed at once
//! (cancel and place together). An order whose cancel is impossible (still unacknowledged, or
//! a request already in flight) is left alone until it can be. A filled, cancelled or expired
//! order is replaced at the current price.
//!
//! The market model is the same on both sides:
//!
//! * order latency: constant 1 ms to the exchange and 1 ms back; market data reaches the
//!   strategy with no delay (`local_ts == exch_ts`);
//! * the exchange fills a whole order at once (no partial fills); a post-only order that would
//!   cross on arrival expires;
//! * queue position: hftbacktest's probabilistic model with `PowerProbQueueFunc3(3)`: a new
//!   order queues behind the size shown at its price; trades at its price advance it; a size
//!   decrease at its price advances it by the share `1 − (front / (front + back))³` of the
//!   decrease; an order fills when the queue ahead of it is more than half a lot below zero,
//!   when a trade goes through its price, or when the other side's best moves onto it.
//!
//! hftbacktest runs it with `Backtest<HashMapMarketDepth>`, `ConstantLatency`,
//! `ProbQueueModel` and `NoPartialFillExchange`, stepping with `elapse(100 µs)`. perpbot's side
//! is [`PerpbotReplay`]: two `perpbot::model::OrderBook`s (the exchange's and the strategy's, as
//! hftbacktest keeps two depths) and the same queue and latency model written here, because the
//! paper venue's queue estimate (`venue::paper::PaperExchange`) is the conservative one — the
//! queue ahead only shrinks to the size shown, never by a probabilistic share — and it models no
//! latency; it would not be the same model.

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::{Duration, Instant};

use hftbacktest::backtest::assettype::LinearAsset;
use hftbacktest::backtest::data::{Data, DataSource};
use hftbacktest::backtest::models::{
    CommonFees, ConstantLatency, PowerProbQueueFunc3, ProbQueueModel, TradingValueFeeModel,
};
use hftbacktest::backtest::{Backtest, ExchangeKind, L2AssetBuilder};
use hftbacktest::depth::{
    ApplySnapshot, HashMapMarketDepth, INVALID_MAX, INVALID_MIN, MarketDepth,
};
use hftbacktest::types::{
    BUY_EVENT, Bot, DEPTH_EVENT, DEPTH_SNAPSHOT_EVENT, EXCH_EVENT, ElapseResult, Event,
    LOCAL_EVENT, OrdType, SELL_EVENT, Status, TRADE_EVENT, TimeInForce,
};
use perpbot::model::{Level, Lots, OrderBook, Side, Ticks, Timestamp};

use crate::input::{EVENT_SPACING_NS, LOT, MarketEvent, Snapshot, TICK};

/// Events in the run.
pub const EVENTS: usize = 2_000_000;
/// Order latency each way, in nanoseconds.
pub const LATENCY_NS: i64 = 1_000_000;
/// Time of the first event (1 s, so every timestamp is positive).
pub const T0: i64 = 1_000_000_000;
/// Quote size in lots.
pub const QUOTE_LOTS: u64 = 1;
/// Exponent of `PowerProbQueueFunc3`.
pub const QUEUE_POWER: f64 = 3.0;

// ---------------------------------------------------------------------------------------------
// The strategy, shared
// ---------------------------------------------------------------------------------------------

/// What the strategy knows about one of its orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderState {
    /// Sent or resting; `cancellable` when acknowledged and no request is in flight.
    Working {
        /// A cancel may be sent now.
        cancellable: bool,
    },
    /// Filled, cancelled or expired: no longer the strategy's concern.
    Done,
}

/// An instruction from the strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Cancel an order.
    Cancel(u64),
    /// Place a post-only limit order of [`QUOTE_LOTS`].
    Place {
        /// New order id.
        id: u64,
        /// Bid side.
        is_bid: bool,
        /// Price in ticks.
        price: u64,
    },
}

/// The fixed-spread quoter: state in, actions out, identical for both backtests.
#[derive(Debug, Clone, Default)]
pub struct Quoter {
    /// The current order of each side (bid, ask): id and price.
    live: [Option<(u64, u64)>; 2],
    next_id: u64,
    /// Actions of the last step.
    pub actions: Vec<Action>,
}

impl Quoter {
    /// A quoter with no orders.
    pub fn new() -> Quoter {
        Quoter {
            live: [None, None],
            next_id: 1,
            actions: Vec::with_capacity(4),
        }
    }

    /// Quote prices for a top of book: `⌊mid⌋ − 1` and `⌈mid⌉ + 1`.
    pub fn targets(best_bid: u64, best_ask: u64) -> (u64, u64) {
        let m2 = best_bid + best_ask;
        (m2 / 2 - 1, m2.div_ceil(2) + 1)
    }

    /// One decision after an event; fills [`Quoter::actions`].
    pub fn step(&mut self, top: Option<(u64, u64)>, state: impl Fn(u64) -> OrderState) {
        self.actions.clear();
        let Some((b, a)) = top else { return };
        let (tb, ta) = Quoter::targets(b, a);
        for (side, target) in [(0usize, tb), (1, ta)] {
            if let Some((id, price)) = self.live[side] {
                match state(id) {
                    OrderState::Done => self.live[side] = None,
                    OrderState::Working { .. } if price == target => continue,
                    OrderState::Working { cancellable: true } => {
                        self.actions.push(Action::Cancel(id));
                        self.live[side] = None;
                    }
                    OrderState::Working { cancellable: false } => continue,
                }
            }
            let id = self.next_id;
            self.next_id += 1;
            self.actions.push(Action::Place {
                id,
                is_bid: side == 0,
                price: target,
            });
            self.live[side] = Some((id, target));
        }
    }
}

/// Result of one backtest run.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// Time of the event loop (building the backtest is not timed).
    pub elapsed: Duration,
    /// Market events replayed.
    pub events: usize,
    /// Fills the strategy saw (buy, sell).
    pub fills: (u64, u64),
    /// Orders the strategy placed.
    pub placed: u64,
    /// Position in lots at the end.
    pub position: i64,
}

// ---------------------------------------------------------------------------------------------
// hftbacktest
// ---------------------------------------------------------------------------------------------

/// The stream as hftbacktest rows (every row is both an exchange and a local event).
pub fn hbt_rows(events: &[MarketEvent]) -> Vec<Event> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let ts = T0 + i as i64 * EVENT_SPACING_NS;
            let (ev, px, qty) = match *e {
                MarketEvent::Delta(d) => (
                    DEPTH_EVENT | if d.is_bid { BUY_EVENT } else { SELL_EVENT },
                    d.price,
                    d.lots,
                ),
                MarketEvent::Trade(t) => (
                    TRADE_EVENT
                        | if t.buyer_aggressor {
                            BUY_EVENT
                        } else {
                            SELL_EVENT
                        },
                    t.price,
                    t.lots,
                ),
            };
            Event {
                ev: ev | EXCH_EVENT | LOCAL_EVENT,
                exch_ts: ts,
                local_ts: ts,
                px: px as f64 * TICK,
                qty: qty as f64 * LOT,
                order_id: 0,
                ival: 0,
                fval: 0.0,
            }
        })
        .collect()
}

fn snapshot_rows(s: &Snapshot) -> Vec<Event> {
    let row = |flag: u64, &(px, q): &(u64, u64)| Event {
        ev: EXCH_EVENT | LOCAL_EVENT | DEPTH_SNAPSHOT_EVENT | flag,
        exch_ts: 0,
        local_ts: 0,
        px: px as f64 * TICK,
        qty: q as f64 * LOT,
        order_id: 0,
        ival: 0,
        fval: 0.0,
    };
    let mut v: Vec<Event> = s.bids.iter().map(|l| row(BUY_EVENT, l)).collect();
    v.extend(s.asks.iter().map(|l| row(SELL_EVENT, l)));
    v
}

/// Build hftbacktest's backtest over `rows` starting from `snapshot` (not timed).
pub fn hbt_build(snapshot: &Snapshot, rows: &[Event]) -> Backtest<HashMapMarketDepth> {
    let snap = Data::from_data(&snapshot_rows(snapshot));
    let data = Data::from_data(rows);
    let asset = L2AssetBuilder::new()
        .data(vec![DataSource::Data(data)])
        .latency_model(ConstantLatency::new(LATENCY_NS, LATENCY_NS))
        .asset_type(LinearAsset::new(1.0))
        .fee_model(TradingValueFeeModel::new(CommonFees::new(0.0, 0.0)))
        .exchange(ExchangeKind::NoPartialFillExchange)
        .queue_model(ProbQueueModel::new(PowerProbQueueFunc3::new(QUEUE_POWER)))
        .depth(move || {
            let mut depth = HashMapMarketDepth::new(TICK, LOT);
            depth.apply_snapshot(&snap);
            depth
        })
        .build()
        .expect("hftbacktest asset");
    Backtest::builder()
        .add_asset(asset)
        .build()
        .expect("hftbacktest backtest")
}

/// Run the quoter on hftbacktest.
pub fn run_hbt(hbt: Backtest<HashMapMarketDepth>, events: usize) -> Run {
    run_hbt_with(hbt, events, true)
}

/// [`run_hbt`], or with `quoting` off the same loop with the quoter's actions dropped: the
/// market-data path alone, to set beside the real engine's (`sbs3:engine-md`).
pub fn run_hbt_with(mut hbt: Backtest<HashMapMarketDepth>, events: usize, quoting: bool) -> Run {
    let mut q = Quoter::new();
    let mut placed = 0u64;
    let mut steps = 0u64;
    let start = Instant::now();
    loop {
        match hbt.elapse(EVENT_SPACING_NS) {
            Ok(ElapseResult::EndOfData) => break,
            Ok(_) => {}
            Err(e) => panic!("hftbacktest: {e:?}"),
        }
        steps += 1;
        let depth = hbt.depth(0);
        let (b, a) = (depth.best_bid_tick(), depth.best_ask_tick());
        let top = (b != INVALID_MIN && a != INVALID_MAX).then_some((b as u64, a as u64));
        let orders = hbt.orders(0);
        q.step(top, |id| match orders.get(&id) {
            None => OrderState::Done,
            Some(o) => match o.status {
                Status::Filled | Status::Canceled | Status::Expired | Status::Rejected => {
                    OrderState::Done
                }
                _ => OrderState::Working {
                    cancellable: o.cancellable(),
                },
            },
        });
        let actions = if quoting { q.actions.as_slice() } else { &[] };
        for act in actions.iter().copied() {
            let r = match act {
                Action::Cancel(id) => hbt.cancel(0, id, false),
                Action::Place { id, is_bid, price } => {
                    placed += 1;
                    let px = price as f64 * TICK;
                    let qty = QUOTE_LOTS as f64 * LOT;
                    if is_bid {
                        hbt.submit_buy_order(
                            0,
                            id,
                            px,
                            qty,
                            TimeInForce::GTX,
                            OrdType::Limit,
                            false,
                        )
                    } else {
                        hbt.submit_sell_order(
                            0,
                            id,
                            px,
                            qty,
                            TimeInForce::GTX,
                            OrdType::Limit,
                            false,
                        )
                    }
                }
            };
            r.unwrap_or_else(|e| panic!("hftbacktest refused {act:?}: {e:?}"));
        }
        if steps.is_multiple_of(1024) {
            hbt.clear_inactive_orders(Some(0));
        }
    }
    let elapsed = start.elapsed();
    let sv = hbt.state_values(0);
    let fills = sv.num_trades as u64;
    let position = (hbt.position(0) / LOT).round() as i64;
    // hftbacktest counts fills, not their side: split them from the position.
    let buys = (fills as i64 + position) / 2;
    Run {
        elapsed,
        events,
        fills: (buys as u64, fills - buys as u64),
        placed: black_box(placed),
        position,
    }
}

// ---------------------------------------------------------------------------------------------
// perpbot
// ---------------------------------------------------------------------------------------------

/// hftbacktest's `PowerProbQueueFunc3`: the share of a decrease that came from ahead of us.
#[inline]
fn prob(front: f64, back: f64) -> f64 {
    1.0 - (front / (front + back)).powf(QUEUE_POWER)
}

/// One of our orders resting at the simulated exchange.
#[derive(Debug, Clone, Copy)]
struct Resting {
    id: u64,
    is_bid: bool,
    price: u64,
    /// Estimated size ahead of us, in lots (an estimate, so fractional).
    front: f64,
    /// Traded at our price since the last depth change, in lots.
    cum_trade: f64,
}

/// A message on the wire between strategy and exchange.
#[derive(Debug, Clone, Copy)]
enum Msg {
    /// Strategy → exchange.
    New {
        id: u64,
        is_bid: bool,
        price: u64,
    },
    Cancel {
        id: u64,
    },
    /// Exchange → strategy.
    Acked {
        id: u64,
    },
    Filled {
        id: u64,
        is_bid: bool,
    },
    Gone {
        id: u64,
    },
    CancelRefused {
        id: u64,
    },
}

/// The strategy's view of one order.
#[derive(Debug, Clone, Copy)]
struct LocalOrder {
    id: u64,
    acked: bool,
    request_in_flight: bool,
}

/// perpbot's replay: perpbot `OrderBook`s driven directly, with the queue and latency model of
/// this module.
pub struct PerpbotReplay {
    exch_book: OrderBook,
    local_book: OrderBook,
    resting: Vec<Resting>,
    local: Vec<LocalOrder>,
    to_exch: VecDeque<(i64, Msg)>,
    to_local: VecDeque<(i64, Msg)>,
    fills: (u64, u64),
    placed: u64,
}

impl PerpbotReplay {
    /// A replay starting from `snapshot` on both books.
    pub fn new(snapshot: &Snapshot) -> PerpbotReplay {
        let bids: Vec<Level> = snapshot
            .bids
            .iter()
            .map(|&(p, q)| Level::new(p, q))
            .collect();
        let asks: Vec<Level> = snapshot
            .asks
            .iter()
            .map(|&(p, q)| Level::new(p, q))
            .collect();
        let mut book = OrderBook::new();
        book.replace(&bids, &asks, Timestamp(0));
        PerpbotReplay {
            exch_book: book.clone(),
            local_book: book,
            resting: Vec::with_capacity(8),
            local: Vec::with_capacity(8),
            to_exch: VecDeque::with_capacity(16),
            to_local: VecDeque::with_capacity(16),
            fills: (0, 0),
            placed: 0,
        }
    }

    fn fill(&mut self, idx: usize, now: i64) {
        let o = self.resting.swap_remove(idx);
        self.to_local.push_back((
            now + LATENCY_NS,
            Msg::Filled {
                id: o.id,
                is_bid: o.is_bid,
            },
        ));
    }

    /// The exchange side of one market event.
    fn exchange_event(&mut self, e: &MarketEvent, now: i64) {
        match *e {
            MarketEvent::Delta(d) => {
                let side = if d.is_bid { Side::Buy } else { Side::Sell };
                let ours = self
                    .resting
                    .iter()
                    .any(|o| o.is_bid == d.is_bid && o.price == d.price);
                let prev_qty = if ours {
                    self.exch_book.lots_at(side, Ticks(d.price)).0 as f64
                } else {
                    0.0
                };
                let prev_best = self.exch_book.best(side).map(|l| l.price.0);
                self.exch_book.apply_delta(
                    side,
                    Ticks(d.price),
                    Lots(d.lots),
                    Timestamp(now as u64),
                );
                if ours {
                    let new_qty = d.lots as f64;
                    for o in self
                        .resting
                        .iter_mut()
                        .filter(|o| o.is_bid == d.is_bid && o.price == d.price)
                    {
                        let chg = prev_qty - new_qty - o.cum_trade;
                        o.cum_trade = 0.0;
                        if chg < 0.0 {
                            o.front = o.front.min(new_qty);
                            continue;
                        }
                        let front = o.front;
                        let back = prev_qty - front;
                        let mut p = prob(front, back);
                        if p.is_infinite() {
                            p = 1.0;
                        }
                        let est = front - (1.0 - p) * chg + (back - p * chg).min(0.0);
                        o.front = est.min(new_qty);
                    }
                }
                // The best of a side moved onto or past our orders of the other side: they fill.
                let new_best = self.exch_book.best(side).map(|l| l.price.0);
                let improved = match (prev_best, new_best) {
                    (_, None) => false,
                    (None, Some(_)) => true,
                    (Some(p), Some(n)) => {
                        if d.is_bid {
                            n > p
                        } else {
                            n < p
                        }
                    }
                };
                if improved && let Some(best) = new_best {
                    let mut i = 0;
                    while i < self.resting.len() {
                        let o = self.resting[i];
                        let crossed = if d.is_bid {
                            !o.is_bid && o.price <= best
                        } else {
                            o.is_bid && o.price >= best
                        };
                        if crossed {
                            self.fill(i, now);
                        } else {
                            i += 1;
                        }
                    }
                }
            }
            MarketEvent::Trade(t) => {
                // A buyer lifts asks: our sells at or below the price; a seller hits our bids.
                let maker_is_bid = !t.buyer_aggressor;
                let qty = t.lots as f64;
                let mut i = 0;
                while i < self.resting.len() {
                    let o = &mut self.resting[i];
                    if o.is_bid != maker_is_bid {
                        i += 1;
                        continue;
                    }
                    let through = if maker_is_bid {
                        o.price > t.price
                    } else {
                        o.price < t.price
                    };
                    let filled = through
                        || (o.price == t.price && {
                            o.front -= qty;
                            o.cum_trade += qty;
                            (-o.front).round() as i64 > 0
                        });
                    if filled {
                        self.fill(i, now);
                    } else {
                        i += 1;
                    }
                }
            }
        }
    }

    /// Requests that reached the exchange by `now`.
    fn exchange_orders(&mut self, now: i64) {
        while let Some(&(at, msg)) = self.to_exch.front() {
            if at > now {
                break;
            }
            self.to_exch.pop_front();
            let reply = match msg {
                Msg::New { id, is_bid, price } => {
                    let crosses = if is_bid {
                        self.exch_book
                            .best_ask()
                            .is_some_and(|a| price >= a.price.0)
                    } else {
                        self.exch_book
                            .best_bid()
                            .is_some_and(|b| price <= b.price.0)
                    };
                    if crosses {
                        Msg::Gone { id }
                    } else {
                        let side = if is_bid { Side::Buy } else { Side::Sell };
                        let front = self.exch_book.lots_at(side, Ticks(price)).0 as f64;
                        self.resting.push(Resting {
                            id,
                            is_bid,
                            price,
                            front,
                            cum_trade: 0.0,
                        });
                        Msg::Acked { id }
                    }
                }
                Msg::Cancel { id } => match self.resting.iter().position(|o| o.id == id) {
                    Some(i) => {
                        self.resting.swap_remove(i);
                        Msg::Gone { id }
                    }
                    None => Msg::CancelRefused { id },
                },
                _ => continue,
            };
            self.to_local.push_back((now + LATENCY_NS, reply));
        }
    }

    /// Responses that reached the strategy by `now`.
    fn local_responses(&mut self, now: i64) {
        while let Some(&(at, msg)) = self.to_local.front() {
            if at > now {
                break;
            }
            self.to_local.pop_front();
            let id = match msg {
                Msg::Acked { id }
                | Msg::Filled { id, .. }
                | Msg::Gone { id }
                | Msg::CancelRefused { id } => id,
                _ => continue,
            };
            let Some(i) = self.local.iter().position(|o| o.id == id) else {
                continue;
            };
            match msg {
                Msg::Acked { .. } => {
                    self.local[i].acked = true;
                    self.local[i].request_in_flight = false;
                }
                Msg::CancelRefused { .. } => self.local[i].request_in_flight = false,
                Msg::Filled { is_bid, .. } => {
                    if is_bid {
                        self.fills.0 += 1;
                    } else {
                        self.fills.1 += 1;
                    }
                    self.local.swap_remove(i);
                }
                _ => {
                    self.local.swap_remove(i);
                }
            }
        }
    }

    fn local_event(&mut self, e: &MarketEvent, now: i64) {
        if let MarketEvent::Delta(d) = *e {
            let side = if d.is_bid { Side::Buy } else { Side::Sell };
            self.local_book
                .apply_delta(side, Ticks(d.price), Lots(d.lots), Timestamp(now as u64));
        }
    }

    fn strategy(&mut self, q: &mut Quoter, now: i64) {
        let top = match (self.local_book.best_bid(), self.local_book.best_ask()) {
            (Some(b), Some(a)) => Some((b.price.0, a.price.0)),
            _ => None,
        };
        let local = &self.local;
        q.step(top, |id| match local.iter().find(|o| o.id == id) {
            None => OrderState::Done,
            Some(o) => OrderState::Working {
                cancellable: o.acked && !o.request_in_flight,
            },
        });
        for act in q.actions.iter().copied() {
            match act {
                Action::Cancel(id) => {
                    if let Some(o) = self.local.iter_mut().find(|o| o.id == id) {
                        o.request_in_flight = true;
                    }
                    self.to_exch
                        .push_back((now + LATENCY_NS, Msg::Cancel { id }));
                }
                Action::Place { id, is_bid, price } => {
                    self.placed += 1;
                    self.local.push(LocalOrder {
                        id,
                        acked: false,
                        request_in_flight: true,
                    });
                    self.to_exch
                        .push_back((now + LATENCY_NS, Msg::New { id, is_bid, price }));
                }
            }
        }
    }

    /// Replay every event, in hftbacktest's order within one timestamp: the strategy's book,
    /// responses reaching the strategy, the exchange's book and fills, requests reaching the
    /// exchange, then the strategy decides.
    pub fn run(mut self, events: &[MarketEvent]) -> Run {
        let mut q = Quoter::new();
        let start = Instant::now();
        for (i, e) in events.iter().enumerate() {
            let now = T0 + i as i64 * EVENT_SPACING_NS;
            self.local_event(e, now);
            self.local_responses(now);
            self.exchange_event(e, now);
            self.exchange_orders(now);
            // hftbacktest's first elapse() covers the first two events.
            if i > 0 {
                self.strategy(&mut q, now);
            }
        }
        // Messages still in flight arrive after the data ends.
        let mut now = T0 + events.len() as i64 * EVENT_SPACING_NS;
        while !self.to_exch.is_empty() || !self.to_local.is_empty() {
            self.local_responses(now);
            self.exchange_orders(now);
            now += EVENT_SPACING_NS;
        }
        let elapsed = start.elapsed();
        Run {
            elapsed,
            events: events.len(),
            fills: self.fills,
            placed: self.placed,
            position: self.fills.0 as i64 - self.fills.1 as i64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{SEED_BACKTEST, events};

    #[test]
    fn targets_join_the_touch_on_a_two_tick_spread() {
        assert_eq!(Quoter::targets(99, 101), (99, 101));
        assert_eq!(Quoter::targets(99, 102), (99, 102));
        assert_eq!(Quoter::targets(97, 101), (98, 100));
    }

    #[test]
    fn both_backtests_fill_in_the_same_ballpark_on_a_short_run() {
        let (snap, ev) = events(SEED_BACKTEST, 100_000);
        let hbt = run_hbt(hbt_build(&snap, &hbt_rows(&ev)), ev.len());
        let ours = PerpbotReplay::new(&snap).run(&ev);
        let (h, p) = (hbt.fills.0 + hbt.fills.1, ours.fills.0 + ours.fills.1);
        assert!(h > 100, "hftbacktest filled {h}");
        let diff = h.abs_diff(p) as f64 / h as f64;
        assert!(diff < 0.1, "fills: hftbacktest {h}, perpbot {p}");
    }
}
