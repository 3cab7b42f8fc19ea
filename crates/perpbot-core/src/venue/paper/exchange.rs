//! The paper exchange: plain synchronous state — books, our resting orders, the account — with
//! the market-data side of matching (source events, resting fills, TP/SL triggers) and the
//! bookkeeping every operation ends with. Requests are handled in [`super::orders`].
//!
//! Every operation returns the [`Event`]s it caused, in order, stamped with the `now` it was
//! given, so the whole exchange is testable without tokio and replays identically.

use std::sync::Arc;

use litemap::LiteMap;

use rust_decimal::Decimal;

use super::PaperConfig;
use super::account::{Account, AccountFill};
use super::source::SourceEvent;
use super::table::OrderTable;
use perpbot_model::{
    Balance, BookUpdate, BookUpdateKind, ClientOrderId, ConnectionEvent, ConnectionState,
    Direction, Event, Fill, Level, Liquidity, Lots, MarketId, MarketSpec, OrderBook, OrderUpdate,
    OrderUpdateKind, Position, PositionSide, PositionUpdate, PublicTrade, QuoteSum, Side, Ticks,
    Timestamp, TradeId, VenueOrderId, position_side,
};

/// One of our orders resting on the paper book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RestingOrder {
    /// Our id.
    pub client_id: ClientOrderId,
    /// The paper venue's id (sequential: also the time priority).
    pub venue_id: VenueOrderId,
    pub market: MarketId,
    /// Book side.
    pub side: Side,
    /// Open or close.
    pub direction: Direction,
    /// Limit price.
    pub price: Ticks,
    /// Size still to fill.
    pub remaining: Lots,
    pub leverage: u32,
    /// Estimated public size ahead of us at our price.
    pub queue_ahead: Lots,
    /// The size the book showed at our price when the estimate was last updated.
    pub level_seen: Lots,
    /// Take-profit to attach to the position it opens.
    pub take_profit: Option<Ticks>,
    /// Stop-loss to attach to the position it opens.
    pub stop_loss: Option<Ticks>,
}

impl RestingOrder {
    /// The position the order acts on.
    pub fn position(&self) -> PositionSide {
        position_side(self.side, self.direction)
    }

    /// Whether the order rests at `price` on `side` of `market`.
    ///
    /// One comparison of the fields' differences, not one per field: the market-data path asks
    /// this of every resting order on every delta, and with `==` per field the compiler branches
    /// on the side, which follows the order (half bids, half asks) and so is mispredicted about
    /// every other order (SBS-3: 2.8 mispredictions per market event, BENCHMARKS.md).
    #[inline]
    pub fn rests_at(&self, market: MarketId, side: Side, price: Ticks) -> bool {
        ((self.market.0 ^ market.0) | (self.price.0 ^ price.0) | u64::from(self.side != side)) == 0
    }

    /// Whether a book whose best levels are `bid` and `ask` has crossed the order's price, for
    /// an order of `market` (false for any other). Branch-free for the same reason as
    /// [`RestingOrder::rests_at`].
    #[inline]
    pub fn crossed_by(&self, market: MarketId, bid: Option<Ticks>, ask: Option<Ticks>) -> bool {
        let ask_crosses = ask.is_some_and(|a| a <= self.price);
        let bid_crosses = bid.is_some_and(|b| b >= self.price);
        let is_buy = self.side == Side::Buy;
        (self.market == market) & ((is_buy & ask_crosses) | (!is_buy & bid_crosses))
    }

    /// What a fill of this order needs to know.
    pub fn order_ref(&self) -> OrderRef {
        OrderRef {
            client_id: Some(self.client_id),
            venue_id: self.venue_id,
            market: self.market,
            side: self.side,
            direction: self.direction,
            leverage: self.leverage,
            take_profit: self.take_profit,
            stop_loss: self.stop_loss,
        }
    }
}

/// The order a fill belongs to (a resting order, a taking order or a venue-made close).
#[derive(Debug, Clone, Copy)]
pub(super) struct OrderRef {
    /// Our id; `None` for closes the venue makes (ClosePosition, TP/SL).
    pub client_id: Option<ClientOrderId>,
    /// The venue's id.
    pub venue_id: VenueOrderId,
    pub market: MarketId,
    /// Book side.
    pub side: Side,
    /// Open or close.
    pub direction: Direction,
    pub leverage: u32,
    /// Take-profit to attach on opening fills.
    pub take_profit: Option<Ticks>,
    /// Stop-loss to attach on opening fills.
    pub stop_loss: Option<Ticks>,
}

/// The simulated exchange behind [`super::PaperVenue`], usable directly for backtests: feed it
/// [`SourceEvent`]s with [`PaperExchange::on_source`] and requests with
/// [`PaperExchange::execute`]; each returns the events a venue stream would carry.
#[derive(Debug, Clone)]
pub struct PaperExchange {
    pub(super) queue: super::QueueModel,
    pub(super) maker_fee_rate: Decimal,
    pub(super) taker_fee_rate: Decimal,
    /// Shared, so a request holds its market's spec while it changes the exchange without
    /// copying it (and its name) every time.
    pub(super) specs: LiteMap<MarketId, Arc<MarketSpec>>,
    pub(super) books: LiteMap<MarketId, OrderBook>,
    /// Resting orders by venue id (ascending = time priority).
    pub(super) orders: OrderTable,
    pub(super) account: Account,
    pub(super) next_order_id: u128,
    pub(super) next_trade_id: u128,
    reported_positions: Option<Vec<Position>>,
    reported_balance: Option<(Decimal, Decimal)>,
    /// Whether the balance goes out with every change (a venue that streams it); otherwise the
    /// owner reads it with [`PaperExchange::balance`] when it chooses (Kana: its stream has
    /// none, so the bot polls).
    stream_balance: bool,
    /// The holdings version (`Account::holdings_version`) `reported_positions` was last
    /// compared for.
    snapshot_of: Option<u64>,
    /// The memory of the last request's checkpoint of the resting orders, reused by the next.
    pub(super) spare_checkpoint: Vec<RestingOrder>,
    /// The fills a public trade causes, gathered before they are applied (a buffer kept between
    /// trades: one in ten public trades fills a quote, and each took an allocation).
    spare_fills: Vec<(VenueOrderId, Lots)>,
    /// Level buffers of book events handed back with [`PaperExchange::recycle`], reused by the
    /// next delta echo so replaying market data allocates nothing per delta.
    spare_levels: SpareLevels,
}

/// Spare level buffers kept at most: more would only hold memory.
const SPARE_LEVELS: usize = 16;

/// Empty level buffers for reuse. Not part of the exchange's state: its `Debug` shows none of
/// them, so two exchanges in the same state print the same.
#[derive(Clone, Default)]
struct SpareLevels(Vec<Vec<Level>>);

impl std::fmt::Debug for SpareLevels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SpareLevels")
    }
}

impl PaperExchange {
    /// An exchange for `markets` with the config's balance and fees and empty books.
    pub fn new(config: &PaperConfig, markets: Vec<MarketSpec>) -> PaperExchange {
        let books = markets.iter().map(|m| (m.id, OrderBook::new())).collect();
        PaperExchange {
            queue: config.queue,
            maker_fee_rate: config.maker_fee_rate,
            taker_fee_rate: config.taker_fee_rate,
            specs: markets.into_iter().map(|m| (m.id, Arc::new(m))).collect(),
            books,
            orders: OrderTable::new(),
            account: Account::new(config.starting_balance),
            next_order_id: 1,
            next_trade_id: 1,
            reported_positions: None,
            reported_balance: None,
            stream_balance: true,
            snapshot_of: None,
            spare_checkpoint: Vec::new(),
            spare_fills: Vec::new(),
            spare_levels: SpareLevels::default(),
        }
    }

    /// Stream the balance with every change (`true`, the default: a venue with a balance stream)
    /// or only report it when read with [`PaperExchange::balance`] (a venue whose balance is
    /// polled, as Kana's is). The first events of a session carry it either way.
    pub fn set_balance_stream(&mut self, on: bool) {
        self.stream_balance = on;
    }

    /// The balance as a read of it at `now` would find it.
    pub fn balance(&self, now: Timestamp) -> Balance {
        Balance {
            available: self.available(),
            total: self.account.total(),
            ts: now,
        }
    }

    /// Take back the buffers of an event this exchange emitted, once the caller is done with
    /// it: a book event's level buffers (left empty in `event`) are reused by later deltas.
    pub fn recycle(&mut self, event: &mut Event) {
        if let Event::Book(b) = event {
            for levels in [&mut b.bids, &mut b.asks] {
                if levels.capacity() > 0 && self.spare_levels.0.len() < SPARE_LEVELS {
                    let mut spare = std::mem::take(levels);
                    spare.clear();
                    self.spare_levels.0.push(spare);
                }
            }
        }
    }

    /// A book delta event for levels of one side, in a recycled buffer when there is one.
    fn book_delta(
        &mut self,
        market: MarketId,
        side: Side,
        levels: &[Level],
        now: Timestamp,
    ) -> Event {
        let mut buffer = self.spare_levels.0.pop().unwrap_or_default();
        buffer.extend_from_slice(levels);
        let (bids, asks) = match side {
            Side::Buy => (buffer, Vec::new()),
            Side::Sell => (Vec::new(), buffer),
        };
        Event::Book(BookUpdate {
            market,
            kind: BookUpdateKind::Delta,
            bids,
            asks,
            ts: now,
        })
    }

    /// The first events of a session: connected, the balance, an (empty) positions snapshot.
    pub fn start(&mut self, now: Timestamp) -> Vec<Event> {
        let positions = self.account.snapshot(&self.specs);
        let balance = self.balance(now);
        self.reported_positions = Some(positions.clone());
        self.reported_balance = Some((balance.available, balance.total));
        vec![
            Event::Connection(ConnectionEvent {
                stream: "paper".into(),
                state: ConnectionState::Connected,
                ts: now,
            }),
            Event::Balance(balance),
            Event::Position(PositionUpdate {
                positions,
                snapshot: true,
            }),
        ]
    }

    /// Apply one step of market data: update the book, fill resting orders it trades or crosses
    /// through, fire TP/SL. Events for markets this exchange does not know are ignored.
    pub fn on_source(&mut self, event: &SourceEvent, now: Timestamp) -> Vec<Event> {
        let mut out = Vec::with_capacity(1);
        self.on_source_into(event, now, &mut out);
        out
    }

    /// [`PaperExchange::on_source`], appending to `out` (a backtest reuses one vector).
    pub fn on_source_into(&mut self, event: &SourceEvent, now: Timestamp, out: &mut Vec<Event>) {
        let first = out.len();
        let market = event.market();
        let Some(book) = self.books.get_mut(&market) else {
            return;
        };
        match event {
            SourceEvent::Snapshot(snapshot) => {
                book.replace(&snapshot.bids, &snapshot.asks, now);
                let (bids, asks) = (snapshot.bids.clone(), snapshot.asks.clone());
                out.push(Event::Book(BookUpdate {
                    market,
                    kind: BookUpdateKind::Snapshot,
                    bids,
                    asks,
                    ts: now,
                }));
                self.after_book_change(market, None, now, out);
            }
            SourceEvent::Delta {
                side, price, lots, ..
            } => {
                let top = (book.best_bid(), book.best_ask());
                book.apply_delta(*side, *price, *lots, now);
                let top_moved = (book.best_bid(), book.best_ask()) != top;
                let echo = self.book_delta(
                    market,
                    *side,
                    &[Level {
                        price: *price,
                        lots: *lots,
                    }],
                    now,
                );
                out.push(echo);
                if top_moved {
                    self.after_book_change(market, Some((*side, *price)), now, out);
                } else {
                    // Below the top: nothing can have crossed and the mid (the triggers'
                    // price) stands; only the queue at that level moves.
                    self.refresh_queue_at(market, *side, *price);
                }
            }
            SourceEvent::Trade {
                price,
                lots,
                aggressor,
                ..
            } => {
                let (price, lots) = (*price, *lots);
                out.push(Event::Trade(PublicTrade {
                    market,
                    price,
                    lots,
                    aggressor: Some(*aggressor),
                    ts: now,
                }));
                self.match_trade(market, price, lots, *aggressor, now, out);
            }
        }
        // The echo of the market data is the first event. Anything after it is a fill or an
        // order update (triggers too close positions through fills): only then can positions,
        // balance or close orders have changed, so only then are they compared (building the
        // snapshots costs more than the rest of a book update).
        if out.len() > first + 1 {
            self.finish(now, out);
        }
    }

    /// The paper book of a market.
    pub fn book(&self, market: MarketId) -> Option<&OrderBook> {
        self.books.get(&market)
    }

    /// Open positions as the venue reports them.
    pub fn positions(&self) -> Vec<Position> {
        self.account.snapshot(&self.specs)
    }

    /// Collateral free for new margin.
    pub fn available(&self) -> Decimal {
        self.account.available(self.reserved_margin())
    }

    /// Collateral including all margin.
    pub fn total(&self) -> Decimal {
        self.account.total()
    }

    /// Number of our orders resting on the paper book.
    pub fn resting_orders(&self) -> usize {
        self.orders.len()
    }

    /// Margin reserved by resting opening orders (`notional / leverage` at their price).
    /// Kept by the order table as `Σ lots × ticks` per market and leverage, so this costs one
    /// conversion per market and leverage in use, not a pass over the orders.
    pub(super) fn reserved_margin(&self) -> Decimal {
        debug_assert_eq!(self.orders.reserve(), &self.orders.reserve_recounted());
        let mut sum = QuoteSum::new();
        for (&(market, leverage), &lots_ticks) in self.orders.reserve().iter() {
            if let Some(spec) = self.specs.get(&market) {
                let notional = lots_ticks.saturating_mul(u128::from(spec.tick_size));
                sum.add(spec, spec.margin_of_notional(notional, leverage));
            }
        }
        sum.total()
    }

    /// A fresh venue order id.
    pub(super) fn next_order_id(&mut self) -> VenueOrderId {
        let id = VenueOrderId(self.next_order_id);
        self.next_order_id = self.next_order_id.saturating_add(1);
        id
    }

    /// After the book moved (at one level, or everywhere for `None`): lower queue estimates,
    /// fill orders the book crossed, fire TP/SL.
    fn after_book_change(
        &mut self,
        market: MarketId,
        level: Option<(Side, Ticks)>,
        now: Timestamp,
        out: &mut Vec<Event>,
    ) {
        match level {
            Some((side, price)) => self.refresh_queue_at(market, side, price),
            None => self.refresh_queues(market),
        }
        let Some(book) = self.books.get(&market) else {
            return;
        };
        let (bid, ask) = (
            book.best_bid().map(|l| l.price),
            book.best_ask().map(|l| l.price),
        );
        let crossed: Vec<(VenueOrderId, Lots)> = self
            .orders
            .values()
            .filter(|o| o.crossed_by(market, bid, ask))
            .map(|o| (o.venue_id, o.remaining))
            .collect();
        for (id, lots) in crossed {
            self.fill_resting(id, lots, now, out);
        }
        self.check_triggers(market, now, out);
    }

    /// The queue model's new estimate of the size ahead of each order, from the size now shown
    /// at its price.
    pub(super) fn refresh_queues(&mut self, market: MarketId) {
        let Some(book) = self.books.get(&market) else {
            return;
        };
        for o in self.orders.values_mut().filter(|o| o.market == market) {
            let now_shown = book.lots_at(o.side, o.price);
            o.queue_ahead = self
                .queue
                .after_level_change(o.queue_ahead, o.level_seen, now_shown);
            o.level_seen = now_shown;
        }
    }

    /// [`PaperExchange::refresh_queues`] for the orders at one level, the only ones a delta
    /// there can move. (Refreshing the others would also undo the lowered `level_seen` a trade
    /// at their price left until the book's own update for that price arrives.)
    fn refresh_queue_at(&mut self, market: MarketId, side: Side, price: Ticks) {
        if !self.orders.may_rest_at(market, side, price) {
            return;
        }
        // The size shown is looked up only once an order rests at the level: most deltas touch
        // levels where none does.
        let mut shown: Option<Option<Lots>> = None;
        for o in self
            .orders
            .values_mut()
            .filter(|o| o.rests_at(market, side, price))
        {
            let books = &self.books;
            let Some(now_shown) =
                *shown.get_or_insert_with(|| books.get(&market).map(|b| b.lots_at(side, price)))
            else {
                return;
            };
            o.queue_ahead = self
                .queue
                .after_level_change(o.queue_ahead, o.level_seen, now_shown);
            o.level_seen = now_shown;
        }
    }

    /// A public trade: orders it went strictly through fill fully; orders at its price fill by
    /// what exceeds the queue ahead of them (earlier orders of ours at that price first).
    fn match_trade(
        &mut self,
        market: MarketId,
        price: Ticks,
        lots: Lots,
        aggressor: Side,
        now: Timestamp,
        out: &mut Vec<Event>,
    ) {
        let maker_side = aggressor.opposite();
        let mut taken_at_price = 0u64;
        let mut fills = std::mem::take(&mut self.spare_fills);
        for o in self
            .orders
            .values_mut()
            .filter(|o| (o.market == market) & (o.side == maker_side))
        {
            let through = match maker_side {
                Side::Buy => o.price > price,
                Side::Sell => o.price < price,
            };
            if through {
                fills.push((o.venue_id, o.remaining));
            } else if o.price == price && !self.queue.fills_at_own_price() {
                o.queue_ahead = o.queue_ahead.saturating_sub(lots);
                o.level_seen = o.level_seen.saturating_sub(lots);
            } else if o.price == price {
                // The trade took its size out of the level: the book's shrink that follows is
                // not a second advance.
                o.level_seen = o.level_seen.saturating_sub(lots);
                let excess = lots
                    .0
                    .saturating_sub(o.queue_ahead.0)
                    .saturating_sub(taken_at_price);
                o.queue_ahead = o.queue_ahead.saturating_sub(lots);
                let fill = excess.min(o.remaining.0);
                if fill > 0 {
                    taken_at_price += fill;
                    fills.push((o.venue_id, Lots(fill)));
                }
            }
        }
        for (id, lots) in fills.drain(..) {
            self.fill_resting(id, lots, now, out);
        }
        self.spare_fills = fills;
    }

    /// Fill a resting order as maker at its own price (close orders clamped to the position).
    fn fill_resting(&mut self, id: VenueOrderId, lots: Lots, now: Timestamp, out: &mut Vec<Event>) {
        let Some(order) = self.orders.get(&id).cloned() else {
            return;
        };
        let mut lots = lots.min(order.remaining);
        if order.direction == Direction::Close {
            lots = lots.min(self.account.lots(order.market, order.position()));
        }
        if lots.is_zero() {
            return;
        }
        self.fill(
            &order.order_ref(),
            lots,
            order.price,
            Liquidity::Maker,
            now,
            out,
        );
        self.orders.reduce(&id, lots);
    }

    /// Book one fill: fee, position, realised PnL, TP/SL attached by an opening order, the event.
    pub(super) fn fill(
        &mut self,
        order: &OrderRef,
        lots: Lots,
        price: Ticks,
        liquidity: Liquidity,
        now: Timestamp,
        out: &mut Vec<Event>,
    ) {
        let Some(spec) = self.specs.get(&order.market) else {
            return;
        };
        let rate = match liquidity {
            Liquidity::Maker => self.maker_fee_rate,
            Liquidity::Taker => self.taker_fee_rate,
        };
        let fee = fee_of(spec.notional(lots, price), rate);
        let position = position_side(order.side, order.direction);
        let fill = AccountFill {
            market: order.market,
            position,
            direction: order.direction,
            lots,
            price,
            leverage: order.leverage,
            fee,
        };
        let realized_pnl = self.account.apply_fill(spec, fill, now);
        if order.direction == Direction::Open
            && let Some(h) = self.account.holding_mut(order.market, position)
        {
            h.take_profit = order.take_profit.or(h.take_profit);
            h.stop_loss = order.stop_loss.or(h.stop_loss);
        }
        let trade_id = TradeId(self.next_trade_id);
        self.next_trade_id = self.next_trade_id.saturating_add(1);
        out.push(Event::Fill(Box::new(Fill {
            market: order.market,
            client_id: order.client_id,
            venue_id: Some(order.venue_id),
            trade_id,
            side: order.side,
            direction: order.direction,
            lots,
            price,
            fee,
            realized_pnl,
            liquidity,
            ts: now,
        })));
    }

    /// Take up to `lots` from the paper book as a taker of `side` (no worse than `limit`): the
    /// consumed size leaves the local book until the next snapshot, and one book delta reports
    /// it. Returns the legs `(price, lots)`, best price first.
    pub(super) fn take(
        &mut self,
        market: MarketId,
        side: Side,
        lots: Lots,
        limit: Option<Ticks>,
        now: Timestamp,
        out: &mut Vec<Event>,
    ) -> Vec<(Ticks, Lots)> {
        let Some(book) = self.books.get_mut(&market) else {
            return Vec::new();
        };
        let book_side = side.opposite();
        let mut legs = Vec::new();
        let mut left = lots.0;
        for level in book.levels(book_side) {
            let acceptable = match (side, limit) {
                (_, None) => true,
                (Side::Buy, Some(l)) => level.price <= l,
                (Side::Sell, Some(l)) => level.price >= l,
            };
            if left == 0 || !acceptable {
                break;
            }
            let take = left.min(level.lots.0);
            left -= take;
            legs.push((level.price, Lots(take)));
        }
        let mut changed = Vec::with_capacity(legs.len());
        for (price, take) in &legs {
            let rest = book.lots_at(book_side, *price).saturating_sub(*take);
            book.apply_delta(book_side, *price, rest, now);
            changed.push(Level {
                price: *price,
                lots: rest,
            });
        }
        if !changed.is_empty() {
            let echo = self.book_delta(market, book_side, &changed, now);
            out.push(echo);
            self.refresh_queues(market);
        }
        legs
    }

    /// Close up to `lots` of a position at market as a taker (a venue-made order without a
    /// client id). Returns the size closed.
    pub(super) fn market_close(
        &mut self,
        market: MarketId,
        position: PositionSide,
        lots: Lots,
        now: Timestamp,
        out: &mut Vec<Event>,
    ) -> Lots {
        let Some(leverage) = self.account.holding(market, position).map(|h| h.leverage) else {
            return Lots::ZERO;
        };
        let side = match position {
            PositionSide::Long => Side::Sell,
            PositionSide::Short => Side::Buy,
        };
        let order = OrderRef {
            client_id: None,
            venue_id: self.next_order_id(),
            market,
            side,
            direction: Direction::Close,
            leverage,
            take_profit: None,
            stop_loss: None,
        };
        let legs = self.take(market, side, lots, None, now, out);
        let mut closed = Lots::ZERO;
        for (price, lots) in legs {
            self.fill(&order, lots, price, Liquidity::Taker, now, out);
            closed = Lots(closed.0 + lots.0);
        }
        closed
    }

    /// TP/SL: when the mid reaches a trigger, close the position at market (as much as the book
    /// holds; a remainder stays armed). Long TP fires at mid ≥ tp, long SL at mid ≤ sl; shorts
    /// the other way round.
    fn check_triggers(&mut self, market: MarketId, now: Timestamp, out: &mut Vec<Event>) {
        let Some(book) = self.books.get(&market) else {
            return;
        };
        let Some(mid_x2) = book.mid_x2() else { return };
        let reached = |t: Option<Ticks>, at_or_above: bool| {
            t.is_some_and(|t| {
                let t2 = t.0.saturating_mul(2);
                if at_or_above {
                    mid_x2 >= t2
                } else {
                    mid_x2 <= t2
                }
            })
        };
        let fired: Vec<(PositionSide, Lots)> = self
            .account
            .holdings_in(market)
            .filter(|(side, h)| match side {
                PositionSide::Long => reached(h.take_profit, true) || reached(h.stop_loss, false),
                PositionSide::Short => reached(h.take_profit, false) || reached(h.stop_loss, true),
            })
            .map(|(side, h)| {
                let close_side = if side == PositionSide::Long {
                    Side::Sell
                } else {
                    Side::Buy
                };
                (side, book.walk(close_side, h.lots, None).filled)
            })
            .filter(|(_, lots)| !lots.is_zero())
            .collect();
        for (side, lots) in fired {
            self.market_close(market, side, lots, now, out);
        }
    }

    /// End of every operation: cancel close orders the position no longer covers, then report
    /// positions and balance if they changed.
    pub(super) fn finish(&mut self, now: Timestamp, out: &mut Vec<Event>) {
        self.cancel_uncovered_closes(now, out);
        // The snapshot is a function of the holdings alone, and building it (liquidation
        // estimates) costs far more than comparing them: most requests change no position.
        let version = self.account.holdings_version();
        if self.snapshot_of != Some(version) {
            let positions = self.account.snapshot(&self.specs);
            if self.reported_positions.as_ref() != Some(&positions) {
                // The copy kept for the next comparison reuses the last one's memory.
                self.reported_positions
                    .get_or_insert_with(Vec::new)
                    .clone_from(&positions);
                out.push(Event::Position(PositionUpdate {
                    positions,
                    snapshot: true,
                }));
            }
            self.snapshot_of = Some(version);
        }
        if !self.stream_balance {
            return;
        }
        let balance = self.balance(now);
        let figures = (balance.available, balance.total);
        if self.reported_balance != Some(figures) {
            self.reported_balance = Some(figures);
            out.push(Event::Balance(balance));
        }
    }

    /// Resting close orders beyond what their position still holds (after a ClosePosition or a
    /// TP/SL close) are cancelled, newest first.
    fn cancel_uncovered_closes(&mut self, now: Timestamp, out: &mut Vec<Event>) {
        let mut used: LiteMap<(MarketId, PositionSide), u64> = LiteMap::new();
        let mut uncovered = Vec::new();
        for o in self
            .orders
            .values()
            .filter(|o| o.direction == Direction::Close)
        {
            let cap = self.account.lots(o.market, o.position()).0;
            let u = used.entry((o.market, o.position())).or_default();
            if u.saturating_add(o.remaining.0) > cap {
                uncovered.push(o.venue_id);
            } else {
                *u += o.remaining.0;
            }
        }
        for id in uncovered {
            self.cancel_resting(id, now, out);
        }
    }

    /// Remove a resting order and report it cancelled.
    pub(super) fn cancel_resting(
        &mut self,
        id: VenueOrderId,
        now: Timestamp,
        out: &mut Vec<Event>,
    ) {
        if let Some(o) = self.orders.remove(&id) {
            out.push(Event::Order(OrderUpdate {
                market: o.market,
                client_id: Some(o.client_id),
                venue_id: Some(o.venue_id),
                kind: OrderUpdateKind::Cancelled,
                ts: now,
            }));
        }
    }
}

/// `notional × rate` as `Decimal`'s product is, to the digit and the scale: the two mantissas'
/// product at the sum of their scales whenever that is exact (a fee always is, at any real
/// notional and rate), and the general product (a 96-bit multiply and a rescale) only beyond,
/// saturating where it overflows. It runs on every fill; SBS-3 charges no fees, so its time
/// there was not measured.
pub(super) fn fee_of(notional: Decimal, rate: Decimal) -> Decimal {
    if rate.is_zero() || notional.is_zero() {
        return Decimal::ZERO;
    }
    notional
        .mantissa()
        .checked_mul(rate.mantissa())
        .and_then(|m| Decimal::try_from_i128_with_scale(m, notional.scale() + rate.scale()).ok())
        .or_else(|| notional.checked_mul(rate))
        // Past `Decimal`'s range (no real notional and rate come near): saturated, not a panic.
        .unwrap_or(if notional.is_sign_negative() != rate.is_sign_negative() {
            Decimal::MIN
        } else {
            Decimal::MAX
        })
}
