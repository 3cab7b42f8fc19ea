//! The bot's picture of the world: books, positions, orders, balance, funding, PnL and the
//! clock. One task (the engine) owns it and changes it **only** by applying events, so it can be
//! replayed and audited. Strategies and the risk check read it; nobody else writes it.

use std::collections::VecDeque;

use litemap::LiteMap;

use crate::dedupe::BoundedOrdSet;

use rust_decimal::Decimal;
use tracing::{debug, error, info, warn};

use crate::atto::{self, Round};

use perpbot_model::{
    ClientOrderId, Event, Fill, FundingRate, Lots, MarketId, MarketSpec, Order, OrderBook,
    OrderEvent, OrderRequest, OrderStatus, OrderUpdate, OrderUpdateKind, Position, PositionSide,
    Side, Timestamp, TradeId, Transition, VenueOrderId,
};

/// Counters of things that went wrong but were handled (surfaced in reports and logs).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Anomalies {
    /// Order events the state machine refused.
    pub illegal_transitions: u64,
    /// Fills for orders this bot did not place: venue-made closes (TP/SL, liquidation) or
    /// orders placed elsewhere. Positions still follow the venue's position events.
    pub unknown_order_fills: u64,
    /// Fills seen twice (same trade id).
    pub duplicate_fills: u64,
    /// Fills that named no order, matched to one by market, side, price, size and time
    /// ([`State::apply`]).
    pub attributed_fills: u64,
    /// Events for markets that are not configured.
    pub unknown_market_events: u64,
    /// Venue ids an open-orders match gave to the wrong order, found when the right order's
    /// acknowledgement arrived (the wrong one went back to `Unknown`).
    pub misattributed_venue_ids: u64,
}

/// Everything the bot knows. Read it through the accessors; change it only with [`State::apply`]
/// (venue events) and the order-tracking methods the engine calls for its own requests.
#[derive(Debug, Default)]
pub struct State {
    /// The per-market maps are sorted vectors: a bot trades a few markets, and every event
    /// looks its market up here (a hash lookup each was ~3 % of a backtest's time).
    specs: LiteMap<MarketId, MarketSpec>,
    books: LiteMap<MarketId, OrderBook>,
    /// Each market's mid price in human units, recomputed when its book changes (books change
    /// only in [`State::apply`]). The PnL that risk, the strategy and the run report read on
    /// every event values positions at it; computing it there (two decimal divisions) cost
    /// more than the rest of their work.
    mids: LiteMap<MarketId, Decimal>,
    /// By market and side, in that order (a sorted vector: a bot holds a few positions, and
    /// every PnL and exposure check walks them).
    positions: LiteMap<(MarketId, PositionSide), Position>,
    /// Each position's cost (entry × size) in [`atto`] units, rounded so its unrealised PnL
    /// errs low (up for a long, down for a short); set wherever `positions` is.
    basis_atto: LiteMap<(MarketId, PositionSide), i128>,
    /// Realised PnL less fees in [`atto`] units, each fill's rounded down (the figure the loss
    /// limits watch errs towards a loss).
    realized_net_atto: i128,
    /// Our orders, live and recently finished, with the venue's ids mapped back to them
    /// ([`OrderStore`]: the finished ones are kept apart so the live ones stay quick to reach).
    orders: OrderStore,
    /// Ids of the orders that are not terminal. Every read of "the live orders" (the strategy's
    /// quotes, every risk check's exposure and open-order count) walks this set instead of all
    /// orders: terminal orders stay in `orders` until pruned, and a market maker leaves two
    /// behind per requote, so walking them made each tick slower the longer the bot ran.
    /// In id order, like the B-tree set it was (a sorted vector: a handful of ids for a
    /// market maker, changed on every order's acknowledgement and end).
    live: LiteMap<ClientOrderId, ()>,
    /// Sums over the live orders for the pre-trade checks ([`LiveSums`]), moved whenever an
    /// order's liveness or remaining size changes.
    live_sums: LiveSums,
    funding: LiteMap<MarketId, FundingRate>,
    available: Decimal,
    total_balance: Decimal,
    balance_at: Option<Timestamp>,
    realized_pnl: Decimal,
    fees_paid: Decimal,
    /// Trade ids of the fills applied, the newest [`TRADE_IDS_REMEMBERED`] of them (a repeat
    /// is counted and ignored).
    seen_trades: SeenTrades,
    fills: u64,
    maker_fills: u64,
    now: Timestamp,
    anomalies: Anomalies,
    /// Orders acknowledged by a venue snapshot rather than by a request outcome, not yet reported
    /// to the strategy (the engine turns them into `Order` events).
    acknowledged: Vec<(ClientOrderId, VenueOrderId, MarketId)>,
    /// Fills that named a venue order id no order had yet: on Kana a taker's fill can stream in
    /// before its transaction's confirmation tells us the id. They are applied to the order when
    /// an acknowledgement brings that id (bounded: the oldest are dropped past the limit).
    unmatched_fills: VecDeque<(VenueOrderId, OrderEvent, Timestamp)>,
    /// The venue's latest complete list of our resting orders, for reconciliation.
    last_open_orders: Option<crate::reconcile::ReceivedOpenOrders>,
    /// Orders adopted from the venue so far (their client ids come from a reserved range).
    adopted: u64,
    /// Unfilled lots of the orders that stopped being live since the reconciler last took them
    /// ([`State::take_closed_unfilled`]), by market, position side and book side. A fill the
    /// stream lost may have come from any of them; without this, an order placed and closed
    /// between two reconciliations (most of a market maker's quotes) could explain nothing.
    closed_unfilled: Vec<((MarketId, PositionSide, Side), u64)>,
    /// Counts changes to what PnL is computed from (a mid, a position, a fill's PnL or fee), so
    /// the PnL limits are re-checked after an event only when it could have moved PnL: most
    /// book updates leave the top of the book, and so the mid, as it was.
    pnl_version: u64,
}

/// Client ids of adopted orders start here, far above any id a strategy's outbox reaches.
pub const EXTERNAL_CLIENT_IDS: u64 = 1 << 62;

/// How far an order's local creation time may be after a fill's venue time and still own it:
/// venue timestamps are whole seconds and the clocks differ a little \[INF\].
const ATTRIBUTION_CLOCK_SLACK: std::time::Duration = std::time::Duration::from_secs(5);

/// Trade ids remembered to refuse a fill applied twice. A bot that runs for months would
/// otherwise keep every id it ever saw; the venue decoders refuse replays with windows of
/// their own (Kana's 100,000), so this is the second line, as wide as the first.
const TRADE_IDS_REMEMBERED: usize = 100_000;

/// [`TRADE_IDS_REMEMBERED`] trade ids (its `Default` remembers that many, not none).
#[derive(Debug)]
struct SeenTrades(BoundedOrdSet<TradeId>);

impl Default for SeenTrades {
    fn default() -> SeenTrades {
        SeenTrades(BoundedOrdSet::new(TRADE_IDS_REMEMBERED))
    }
}

/// Most fills kept while waiting for their order's id.
const MAX_UNMATCHED_FILLS: usize = 1_024;

impl State {
    /// State for the given markets, with an empty book for each.
    pub fn new(markets: &[MarketSpec]) -> State {
        let mut state = State::default();
        for spec in markets {
            state.specs.insert(spec.id, spec.clone());
            state.books.insert(spec.id, OrderBook::new());
        }
        state
    }

    // ---- reading ---------------------------------------------------------------------------

    /// The current time as the engine's clock last set it.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Spec of a market.
    pub fn spec(&self, market: MarketId) -> Option<&MarketSpec> {
        self.specs.get(&market)
    }

    /// All configured markets.
    pub fn markets(&self) -> impl Iterator<Item = &MarketSpec> {
        self.specs.values()
    }

    /// Order book of a market.
    pub fn book(&self, market: MarketId) -> Option<&OrderBook> {
        self.books.get(&market)
    }

    /// Mid price of a market in human units, when both sides have a level.
    pub fn mid_price(&self, market: MarketId) -> Option<Decimal> {
        self.mids.get(&market).copied()
    }

    /// The mid price of `market` from its book and spec.
    fn compute_mid(&self, market: MarketId) -> Option<Decimal> {
        let spec = self.specs.get(&market)?;
        let mid_x2 = self.books.get(&market)?.mid_x2()?;
        Some(spec.mid_price(perpbot_model::Ticks(mid_x2)))
    }

    /// A position (flat positions may be absent).
    pub fn position(&self, market: MarketId, side: PositionSide) -> Option<&Position> {
        self.positions.get(&(market, side))
    }

    /// All positions, including flat ones that were once reported.
    pub fn positions(&self) -> impl Iterator<Item = &Position> {
        self.positions.values()
    }

    /// Net position of a market in lots (long − short).
    pub fn net_lots(&self, market: MarketId) -> i128 {
        [PositionSide::Long, PositionSide::Short]
            .iter()
            .filter_map(|s| self.positions.get(&(market, *s)))
            .map(Position::signed_lots)
            .sum()
    }

    /// One order by our id.
    pub fn order(&self, id: ClientOrderId) -> Option<&Order> {
        self.orders.get(&id)
    }

    /// Our id for a venue id.
    pub fn client_id_for(&self, venue_id: VenueOrderId) -> Option<ClientOrderId> {
        self.orders.client_id_for(&venue_id)
    }

    /// Every order the state still holds (live, and finished ones not yet pruned), by client id.
    pub fn orders(&self) -> impl Iterator<Item = &Order> {
        self.orders.by_id()
    }

    /// Orders that may be resting (not terminal), in one market or all, by ascending client id.
    pub fn live_orders(&self, market: Option<MarketId>) -> impl Iterator<Item = &Order> {
        self.live
            .keys()
            .filter_map(|id| self.orders.get(id))
            .filter(move |o| o.status.is_live() && market.is_none_or(|m| o.market() == m))
    }

    /// Number of live orders in one market or all.
    pub fn live_order_count(&self, market: Option<MarketId>) -> usize {
        match market {
            None => self.live.len(),
            Some(_) => self.live_orders(market).count(),
        }
    }

    /// Remaining size of live orders on one side of a market, split by direction
    /// (`(opening, closing)`): what could still add to or reduce positions.
    pub fn resting_lots(&self, market: MarketId, side: Side) -> (Lots, Lots) {
        let (open, close) = self.live_sums().lots(market, side);
        (Lots(open), Lots(close))
    }

    /// Latest funding rate of a market.
    pub fn funding(&self, market: MarketId) -> Option<&FundingRate> {
        self.funding.get(&market)
    }

    /// Collateral free to use.
    pub fn available_balance(&self) -> Decimal {
        self.available
    }

    /// Collateral including margin in use.
    pub fn total_balance(&self) -> Decimal {
        self.total_balance
    }

    /// When the venue last reported the balance (`None`: never, so nothing is known of the
    /// collateral and margin cannot be checked). Orders created after it are not in its figures.
    pub fn balance_at(&self) -> Option<Timestamp> {
        self.balance_at
    }

    /// PnL realised by fills since start (before fees).
    pub fn realized_pnl(&self) -> Decimal {
        self.realized_pnl
    }

    /// Fees paid since start.
    pub fn fees_paid(&self) -> Decimal {
        self.fees_paid
    }

    /// Unrealised PnL of all positions at the current mids (positions without a mid count 0).
    pub fn unrealized_pnl(&self) -> Decimal {
        self.positions
            .values()
            .filter(|p| !p.lots.is_zero())
            .filter_map(|p| {
                let spec = self.specs.get(&p.market)?;
                let mid = self.mid_price(p.market)?;
                Some(p.unrealized_pnl(spec, mid))
            })
            .sum()
    }

    /// Changes whenever an input of [`State::total_pnl`] may have changed (equal versions mean
    /// equal PnL).
    pub fn pnl_version(&self) -> u64 {
        self.pnl_version
    }

    /// Realised − fees + unrealised, exactly (the run report's figure).
    pub fn total_pnl(&self) -> Decimal {
        self.realized_pnl - self.fees_paid + self.unrealized_pnl()
    }

    /// [`State::total_pnl`] in [`atto`] units, for the loss limits that re-check it whenever a
    /// mid or a position moves: integers throughout, each term rounded towards a loss (it is
    /// exact wherever the venue's figures have at most 18 decimals).
    pub(crate) fn total_pnl_atto(&self) -> i128 {
        let mut sum = self.realized_net_atto;
        for (key, p) in self.positions.iter() {
            if p.lots.is_zero() {
                continue;
            }
            let (Some(spec), Some(mid_x2)) = (
                self.specs.get(&p.market),
                self.books.get(&p.market).and_then(OrderBook::mid_x2),
            ) else {
                continue;
            };
            let basis = self.basis_atto.get(key).copied().unwrap_or_default();
            let value = match p.side {
                PositionSide::Long => {
                    atto::notional_at_mid(spec, p.lots, mid_x2, Round::Down).saturating_sub(basis)
                }
                PositionSide::Short => {
                    basis.saturating_sub(atto::notional_at_mid(spec, p.lots, mid_x2, Round::Up))
                }
            };
            sum = sum.saturating_add(value);
        }
        sum
    }

    /// Fills seen and how many of them were maker fills.
    pub fn fill_counts(&self) -> (u64, u64) {
        (self.fills, self.maker_fills)
    }

    /// Handled anomalies so far.
    pub fn anomalies(&self) -> &Anomalies {
        &self.anomalies
    }

    // ---- writing ---------------------------------------------------------------------------

    /// Advance the clock.
    pub fn set_now(&mut self, now: Timestamp) {
        self.now = now;
    }

    /// Start tracking an order the engine is about to send.
    pub fn track_new_order(&mut self, request: OrderRequest) {
        let id = request.client_id;
        let order = Order::new(request, self.now);
        self.set_live(id, order.status.is_live());
        self.insert_order(id, order);
    }

    /// Track `order` under `id` (replacing an order of that id), counted in the live sums.
    fn insert_order(&mut self, id: ClientOrderId, order: Order) {
        if let Some(old) = self.orders.insert(id, order)
            && let Some(c) = Contribution::of(&old, self.specs.get(&old.market()), self.balance_at)
        {
            self.live_sums.sub(c);
        }
        if let Some(c) = self.contribution(id) {
            self.live_sums.add(c);
        }
    }

    /// Order `id` changed from liveness and remaining size `was`: move its contribution in the
    /// live sums (nothing to do when neither changed, as on an acknowledgement).
    fn recount_order(&mut self, id: ClientOrderId, was: (bool, Lots)) {
        let Some(o) = self.orders.get(&id) else {
            return;
        };
        if (o.status.is_live(), o.remaining()) == was {
            return;
        }
        let spec = self.specs.get(&o.market());
        let before = Contribution::of_as(o, was, spec, self.balance_at);
        let after = Contribution::of(o, spec, self.balance_at);
        if let Some(c) = before {
            self.live_sums.sub(c);
        }
        if let Some(c) = after {
            self.live_sums.add(c);
        }
    }

    /// What order `id` adds to the live sums, if it is tracked and live.
    pub(crate) fn contribution(&self, id: ClientOrderId) -> Option<Contribution> {
        let o = self.orders.get(&id)?;
        Contribution::of(o, self.specs.get(&o.market()), self.balance_at)
    }

    /// The live sums counted afresh.
    fn recount_live_sums(&self) -> LiveSums {
        LiveSums::of(self.live.keys().filter_map(|id| self.contribution(*id)))
    }

    /// Sums over the live orders (see [`LiveSums`]).
    pub(crate) fn live_sums(&self) -> &LiveSums {
        debug_assert_eq!(self.live_sums, self.recount_live_sums());
        &self.live_sums
    }

    /// Keep the live index in step with an order's status; an order leaving it is noted in
    /// `closed_unfilled` with what it had left.
    fn set_live(&mut self, id: ClientOrderId, live: bool) {
        if live {
            self.live.insert(id, ());
        } else if self.live.remove(&id).is_some() {
            self.note_closed(id);
        }
    }

    /// Add what order `id` had left unfilled to `closed_unfilled`.
    fn note_closed(&mut self, id: ClientOrderId) {
        let Some(o) = self.orders.get(&id) else {
            return;
        };
        let left = o.remaining().0;
        if left == 0 {
            return;
        }
        let r = &o.request.order;
        let key = (r.market, r.position_side(), r.side);
        match self.closed_unfilled.iter_mut().find(|(k, _)| *k == key) {
            Some((_, lots)) => *lots = lots.saturating_add(left),
            None => self.closed_unfilled.push((key, left)),
        }
    }

    /// The unfilled lots of every order that stopped being live since the last call, by
    /// market, position side and book side (for [`crate::reconcile`]); the tally starts again.
    pub fn take_closed_unfilled(&mut self) -> Vec<((MarketId, PositionSide, Side), u64)> {
        std::mem::take(&mut self.closed_unfilled)
    }

    /// Track an order as it was when an earlier process stopped (status, venue id, fills), under
    /// its old client id: the write-ahead journal's restart re-tracks every order it knows to be
    /// live, so none is orphaned. Replaces an order of the same id.
    pub fn restore_order(&mut self, order: Order) {
        let id = order.client_id();
        if let Some(v) = order.venue_id {
            self.orders.link_venue_id(v, id);
        }
        self.set_live(id, order.status.is_live());
        self.insert_order(id, order);
    }

    /// Apply an order event to one of our orders through its state machine. Illegal transitions
    /// are logged and counted, never fatal.
    pub fn apply_order_event(
        &mut self,
        id: ClientOrderId,
        event: &OrderEvent,
    ) -> Option<Transition> {
        let now = self.now;
        if let OrderEvent::Accepted { venue_id: Some(v) } = event {
            self.unlink_misattributed(*v, id);
        }
        let order = self.orders.get_mut(&id)?;
        let was = (order.status.is_live(), order.remaining());
        let applied = order.apply(event, now);
        let (live, venue_id) = (order.status.is_live(), order.venue_id);
        self.recount_order(id, was);
        match applied {
            Ok(t) => {
                self.set_live(id, live);
                if let Some(v) = venue_id
                    && self.orders.link_venue_id(v, id).is_none()
                {
                    self.apply_unmatched_fills(v, id);
                }
                Some(t)
            }
            Err(e) => {
                warn!(error = %e, "order event refused");
                self.anomalies.illegal_transitions += 1;
                None
            }
        }
    }

    /// `id` is acknowledged with venue id `v`, which another live order holds: that order took
    /// it from a guess (an open-orders match), since a request's own outcome names only its own
    /// orders. The acknowledgement wins; the other order loses the id and goes back to
    /// `Unknown`, for its request's resolution or reconciliation to settle.
    fn unlink_misattributed(&mut self, v: VenueOrderId, id: ClientOrderId) {
        let Some(holder) = self.orders.client_id_for(&v) else {
            return;
        };
        if holder == id {
            return;
        }
        let was = self
            .orders
            .get(&holder)
            .map(|o| (o.status.is_live(), o.remaining()));
        self.unlink_from(holder, v, id);
        if let Some(was) = was {
            self.recount_order(holder, was);
        }
    }

    /// [`State::unlink_misattributed`] once `holder` (not `id`) is known to hold `v`.
    fn unlink_from(&mut self, holder: ClientOrderId, v: VenueOrderId, id: ClientOrderId) {
        // An order adopted from the venue's list (reconciliation met it before its own
        // request's outcome was known: an ambiguous place) is this very order: it is folded
        // into `id`, which tracks it from now on, instead of being left as an unknown order.
        if let Some(other) = self.orders.get_mut(&holder)
            && other.external
            && other.venue_id == Some(v)
        {
            info!(adopted = %holder, client_id = %id, venue_id = %v, "the order adopted from the venue's list is this request's own: tracked under its own id");
            other.venue_id = None;
            other.status = OrderStatus::Cancelled;
            other.updated_at = self.now;
            self.set_live(holder, false);
            self.orders.link_venue_id(v, id);
            return;
        }
        self.anomalies.misattributed_venue_ids += 1;
        if let Some(other) = self.orders.get_mut(&holder)
            && other.venue_id == Some(v)
        {
            error!(client_id = %holder, claimed_by = %id, venue_id = %v, status = ?other.status, "venue id guessed for the wrong order; it goes back to unknown");
            other.venue_id = None;
            if other.status.is_live() {
                other.status = OrderStatus::Unknown;
                other.updated_at = self.now;
            }
        }
        self.orders.link_venue_id(v, id);
    }

    /// An order just got its venue id: apply the fills that arrived for that id before it did.
    fn apply_unmatched_fills(&mut self, venue_id: VenueOrderId, id: ClientOrderId) {
        if !self.unmatched_fills.iter().any(|(v, ..)| *v == venue_id) {
            return;
        }
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.unmatched_fills)
            .into_iter()
            .partition(|(v, ..)| *v == venue_id);
        self.unmatched_fills = rest.into();
        for (_, fill, _) in mine {
            info!(client_id = %id, venue_id = %venue_id, "fill that arrived before its order's acknowledgement applied");
            self.anomalies.unknown_order_fills =
                self.anomalies.unknown_order_fills.saturating_sub(1);
            self.apply_order_event(id, &fill);
        }
    }

    /// Drop terminal orders older than `keep` so memory stays bounded in a long run.
    pub fn prune_orders(&mut self, keep: std::time::Duration) {
        let now = self.now;
        self.unmatched_fills
            .retain(|(_, _, at)| now.since(*at) < keep);
        for id in self.orders.prune(now, keep) {
            self.live.remove(&id);
        }
    }

    /// Set the finished orders apart from the live ones ([`OrderStore::retire`]); the engine
    /// calls this on every tick. Changes nothing a reader sees.
    pub fn retire_finished_orders(&mut self) {
        self.orders.retire(self.now);
    }

    /// Resolve the client id an event refers to (directly or through the venue id).
    fn resolve_id(
        &self,
        client: Option<ClientOrderId>,
        venue: Option<VenueOrderId>,
    ) -> Option<ClientOrderId> {
        client
            .filter(|c| self.orders.contains(c))
            .or_else(|| venue.and_then(|v| self.orders.client_id_for(&v)))
    }

    /// Apply a venue event. Returns `false` when the event was a duplicate or concerned nothing
    /// known (so the engine need not wake the strategy for it).
    pub fn apply(&mut self, event: &Event) -> bool {
        if let Some(m) = event.market()
            && !self.specs.contains_key(&m)
        {
            self.anomalies.unknown_market_events += 1;
            debug!(market = %m, "event for an unconfigured market ignored");
            return false;
        }
        match event {
            Event::Book(u) => {
                if let Some(book) = self.books.get_mut(&u.market) {
                    let mid_before = book.mid_x2();
                    book.apply_update(u);
                    // The mid moves only with the best prices, and not when both move by the
                    // same amount in opposite directions; a size change at the top leaves the
                    // PnL (and so its version) as it was. `mids` holds a market exactly while
                    // its book has a mid (books change only here), so an unmoved mid needs no
                    // look at it.
                    let moved = book.mid_x2() != mid_before;
                    if moved {
                        match self.compute_mid(u.market) {
                            Some(mid) => self.mids.insert(u.market, mid),
                            None => self.mids.remove(&u.market),
                        };
                        self.pnl_version += 1;
                    }
                }
                true
            }
            Event::Fill(f) => self.apply_fill(f),
            Event::Position(u) => {
                self.pnl_version += 1;
                if u.snapshot {
                    // A position the snapshot leaves out is flat, and so costs nothing.
                    for (key, p) in self.positions.iter_mut() {
                        if !u.positions.iter().any(|q| (q.market, q.side) == *key) {
                            p.lots = Lots::ZERO;
                            if let Some(b) = self.basis_atto.get_mut(key) {
                                *b = 0;
                            }
                        }
                    }
                }
                for p in &u.positions {
                    self.hold_position(p);
                }
                true
            }
            Event::Balance(b) => {
                self.available = b.available;
                self.total_balance = b.total;
                // Never later than now: a report dated ahead would make orders placed since
                // look as if the venue had counted them.
                self.balance_at = Some(b.ts.min(self.now));
                // Which orders the venue's figure counts has moved: count the sums afresh.
                self.live_sums = self.recount_live_sums();
                true
            }
            Event::Funding(f) => {
                self.funding.insert(f.market, f.clone());
                true
            }
            Event::Order(u) => self.apply_order_update(u),
            Event::OpenOrders(snapshot) => self.apply_open_orders(snapshot),
            Event::Trade(_)
            | Event::BestPrice(_)
            | Event::Timer(_)
            | Event::Connection(_)
            | Event::RiskRejected(_)
            | Event::TradingState(_)
            | Event::Alert(_) => true,
        }
    }

    /// Hold `p` as the venue reports it. Its basis (the notional at its entry price) depends on
    /// its size and entry alone, so a position reported again with both as held keeps the
    /// basis it has: in hedge mode every snapshot repeats the side that did not trade, and
    /// pricing it afresh was most of the 3 % of a quoting backtest's time that applying
    /// position snapshots took (measured by switching it off).
    fn hold_position(&mut self, p: &Position) {
        let key = (p.market, p.side);
        // `basis_atto` holds a key exactly when `positions` does: both are written only here and
        // by the flattening of a snapshot in `State::apply`.
        if let Some(held) = self.positions.get_mut(&key)
            && held.lots == p.lots
            && held.entry_price == p.entry_price
        {
            held.clone_from(p);
            return;
        }
        let basis = self.specs.get(&p.market).map_or(0, |spec| {
            let round = match p.side {
                PositionSide::Long => Round::Up,
                PositionSide::Short => Round::Down,
            };
            atto::notional_at_price(spec, p.lots, p.entry_price, round)
        });
        self.basis_atto.insert(key, basis);
        self.positions.insert(key, p.clone());
    }

    fn apply_fill(&mut self, f: &Fill) -> bool {
        if !self.seen_trades.0.insert(f.trade_id) {
            self.anomalies.duplicate_fills += 1;
            return false;
        }
        self.fills += 1;
        if f.liquidity == perpbot_model::Liquidity::Maker {
            self.maker_fills += 1;
        }
        self.realized_pnl += f.realized_pnl;
        self.fees_paid += f.fee;
        self.realized_net_atto = self
            .realized_net_atto
            .saturating_add(atto::from_decimal(f.realized_pnl, Round::Down))
            .saturating_sub(atto::from_decimal(f.fee, Round::Up));
        self.pnl_version += 1;
        let attributed = if f.client_id.is_none() && f.venue_id.is_none() {
            let found = self.attribute(f);
            if found.is_some() {
                self.anomalies.attributed_fills += 1;
            }
            found
        } else {
            None
        };
        match attributed.or_else(|| self.resolve_id(f.client_id, f.venue_id)) {
            Some(id) => {
                let ev = OrderEvent::Fill {
                    trade_id: f.trade_id,
                    lots: f.lots,
                    price: f.price,
                };
                self.apply_order_event(id, &ev);
            }
            None => {
                self.anomalies.unknown_order_fills += 1;
                info!(trade_id = f.trade_id.0, market = %f.market, "fill for an order not known (yet): a TP/SL or liquidation, or one whose acknowledgement is still on its way");
                if let Some(v) = f.venue_id {
                    if self.unmatched_fills.len() == MAX_UNMATCHED_FILLS {
                        self.unmatched_fills.pop_front();
                    }
                    let ev = OrderEvent::Fill {
                        trade_id: f.trade_id,
                        lots: f.lots,
                        price: f.price,
                    };
                    self.unmatched_fills.push_back((v, ev, self.now));
                }
            }
        }
        true
    }

    /// The order a fill that names none belongs to (Kana's documented fill records carry no
    /// order id): an order of ours in the fill's market and side that can take its size and
    /// would trade at its price — a resting order at exactly that price (a maker fill), or one
    /// whose limit the price does not pass (a taker fill; any price for a market order) — and
    /// that existed by the fill's time. Orders the venue has closed (filled or cancelled) still
    /// count while they have room, since the records closing them may come before their fills,
    /// but only for fills from before they closed (within the clocks' slack): otherwise a quote
    /// cancelled minutes ago, older and so first in line, took the fills of the quote that
    /// replaced it at the same price.
    /// Among several, the venue's own priority decides \[INF\]: an order at exactly the fill
    /// price before one that crossed, then the oldest first (price-time priority at one level).
    /// `None` leaves the fill unattributed: counted, and its position change left to the
    /// venue's position events and to reconciliation.
    fn attribute(&self, f: &Fill) -> Option<ClientOrderId> {
        // A finished order qualifies only if it changed within the slack of the fill, so the
        // orders finished before that (most of the retention window) are not read at all.
        self.orders
            .changed_since(f.ts.minus(ATTRIBUTION_CLOCK_SLACK))
            .filter(|o| {
                let req = &o.request.order;
                req.market == f.market
                    && req.side == f.side
                    && o.remaining() >= f.lots
                    && !o.external
                    && o.created_at <= f.ts.plus(ATTRIBUTION_CLOCK_SLACK)
                    && (o.status.is_live() || f.ts <= o.updated_at.plus(ATTRIBUTION_CLOCK_SLACK))
                    && matches!(
                        o.status,
                        OrderStatus::PendingNew
                            | OrderStatus::Open
                            | OrderStatus::PartiallyFilled
                            | OrderStatus::PendingCancel
                            | OrderStatus::Unknown
                            | OrderStatus::Filled
                            | OrderStatus::Cancelled
                    )
                    && match (req.price, f.side) {
                        (None, _) => true,
                        (Some(limit), Side::Buy) => f.price <= limit,
                        (Some(limit), Side::Sell) => f.price >= limit,
                    }
            })
            .min_by_key(|o| {
                (
                    o.request.order.price != Some(f.price),
                    o.created_at,
                    o.client_id(),
                )
            })
            .map(Order::client_id)
    }

    fn apply_order_update(&mut self, u: &OrderUpdate) -> bool {
        let Some(id) = self.resolve_id(u.client_id, u.venue_id) else {
            debug!(market = %u.market, "order update for an unknown order");
            return false;
        };
        let ev = match &u.kind {
            OrderUpdateKind::Accepted => OrderEvent::Accepted {
                venue_id: u.venue_id,
            },
            OrderUpdateKind::Cancelled => OrderEvent::Cancelled,
            OrderUpdateKind::CancelRejected { .. } => OrderEvent::CancelRejected,
            OrderUpdateKind::Rejected { .. } => OrderEvent::Rejected,
            OrderUpdateKind::Expired => OrderEvent::Expired,
            OrderUpdateKind::Ambiguous { .. } => OrderEvent::Ambiguous,
            OrderUpdateKind::Filled => OrderEvent::FilledAtVenue,
        };
        matches!(
            self.apply_order_event(id, &ev),
            Some(Transition::Applied { .. })
        )
    }

    /// The venue's latest complete list of our resting orders, with when it arrived.
    pub fn last_open_orders(&self) -> Option<&crate::reconcile::ReceivedOpenOrders> {
        self.last_open_orders.as_ref()
    }

    /// Track an order the venue lists that this bot did not place (or no longer remembers):
    /// marked `external`, under a client id from a reserved range.
    pub fn adopt_external(&mut self, info: &perpbot_model::OpenOrderInfo) -> ClientOrderId {
        self.adopted += 1;
        let id = ClientOrderId(EXTERNAL_CLIENT_IDS + self.adopted);
        let mut order =
            perpbot_model::NewOrder::limit(info.market, info.side, info.total, info.price)
                .with_leverage(info.leverage);
        order.direction = info.direction;
        let mut o = Order::new(
            OrderRequest {
                client_id: id,
                order,
            },
            self.now,
        );
        o.venue_id = Some(info.venue_id);
        o.external = true;
        o.filled = info.total.saturating_sub(info.remaining);
        o.status = if o.filled.is_zero() {
            OrderStatus::Open
        } else {
            OrderStatus::PartiallyFilled
        };
        self.orders.link_venue_id(info.venue_id, id);
        self.set_live(id, o.status.is_live());
        self.insert_order(id, o);
        id
    }

    /// Learn venue ids from the venue's list of resting orders: an order of ours that has no
    /// venue id yet is matched by market, side, direction, price and size (Kana assigns ids on
    /// chain and does not echo client ids). A match is taken only when it is certain — exactly
    /// one unknown listed order and exactly one order of ours of that shape — because a wrong
    /// guess gives one order another's id: its cancel then removes the other order, and the
    /// other one's cancels are refused for ever (found by the chaos soak: an order whose submit
    /// was still being resolved took the id of a same-priced requote placed after it). Anything
    /// else waits for the request's own outcome. Orders missing from the list are left alone
    /// here — deciding that they are gone is reconciliation's job, with a query, not a guess.
    fn apply_open_orders(&mut self, snapshot: &perpbot_model::OpenOrdersSnapshot) -> bool {
        self.last_open_orders = Some(crate::reconcile::ReceivedOpenOrders {
            market: snapshot.market,
            orders: snapshot.orders.clone(),
            received: self.now,
        });
        let unknown: Vec<&perpbot_model::OpenOrderInfo> = snapshot
            .orders
            .iter()
            .filter(|i| !self.orders.knows_venue_id(&i.venue_id))
            .collect();
        for info in &unknown {
            let shape_of = |o: &Order| {
                let r = &o.request.order;
                r.side == info.side
                    && r.direction == info.direction
                    && r.price == Some(info.price)
                    && r.lots == info.total
            };
            let same_listed = unknown
                .iter()
                .filter(|i| {
                    i.market == info.market
                        && i.side == info.side
                        && i.direction == info.direction
                        && i.price == info.price
                        && i.total == info.total
                })
                .count();
            let (first, second) = {
                let mut candidates = self
                    .live_orders(Some(info.market))
                    .filter(|o| o.venue_id.is_none())
                    .filter(|o| shape_of(o))
                    .map(Order::client_id);
                (candidates.next(), candidates.next())
            };
            let candidate = match (first, second) {
                (Some(id), None) if same_listed == 1 => Some(id),
                (Some(_), _) => {
                    debug!(venue_id = %info.venue_id, listed = same_listed, "open orders: several orders of one shape; waiting for the requests' outcomes");
                    None
                }
                (None, _) => None,
            };
            if let Some(id) = candidate {
                let event = OrderEvent::Accepted {
                    venue_id: Some(info.venue_id),
                };
                if let Some(Transition::Applied { from, .. }) = self.apply_order_event(id, &event)
                    && matches!(from, OrderStatus::PendingNew | OrderStatus::Unknown)
                {
                    self.acknowledged.push((id, info.venue_id, info.market));
                }
            }
        }
        true
    }

    /// Orders the venue acknowledged through a snapshot since the last call (the engine reports
    /// them to the strategy as `Order` events, so every order is acknowledged exactly once
    /// whichever path the acknowledgement took).
    pub fn take_acknowledged(&mut self) -> Vec<(ClientOrderId, VenueOrderId, MarketId)> {
        std::mem::take(&mut self.acknowledged)
    }

    /// Status of an order, if tracked.
    pub fn order_status(&self, id: ClientOrderId) -> Option<OrderStatus> {
        self.orders.get(&id).map(|o| o.status)
    }
}

mod live_sums;
mod order_store;
#[cfg(test)]
mod tests;

pub(crate) use live_sums::{Contribution, LiveSums};
use order_store::OrderStore;
