//! The simulator's matching book ([`MatchingBook`]): Econia-style, one per market, holding the
//! resting orders of **every** participant in integer lots and ticks with price-time priority.
//!
//! (Not to be confused with [`perpbot_model::OrderBook`], the bot's aggregated L2 *view* of a
//! venue's book; [`MatchingBook::depth`] publishes this book in that shape.)
//!
//! * Each side is a `Vec` of price levels sorted with the **best level at the end** (bids
//!   ascending, asks descending), each level a FIFO `VecDeque`: the common operations — place,
//!   take and cancel at the touch — work at the end of the vector, and emptied queues are kept
//!   for reuse, so the hot path allocates only when the book grows.
//! * Rejections are [`Abort`]s with the codes the contracts use, checked in Econia's order:
//!   `E_PRICE_0` (11), `E_PRICE_TOO_HIGH` (12), `E_SIZE_TOO_SMALL` (14), size above `max_lots`
//!   (`E_SIZE_BASE_OVERFLOW`, 15 — Kana's own code for it is unknown),
//!   `E_FILL_OR_ABORT_NOT_CROSS_SPREAD` (25), `E_POST_OR_ABORT_CROSSES_SPREAD` (13), then during
//!   matching `E_SELF_MATCH` (19), `E_MIN_BASE_NOT_TRADED` (9, a fill-or-abort order that crosses
//!   but cannot fill completely) and Kana `E_INSUFFICIENT_LIQUIDITY_IN_ORDERBOOK` (1007).
//! * Every mutation is all-or-nothing: [`MatchingBook::atomically`] keeps an undo journal and rolls
//!   back on an abort, so a failing place, or any failing step of
//!   [`MatchingBook::cancel_and_place`], leaves the book exactly as it was (one Kana transaction).
//!
//! ## Decided rules
//!
//! * **Order ids** (`u128`, Econia-like): `counter << 64 | ask_bit << 32 | price_ticks` for an
//!   order that rests, `counter << 64` for one that never rested. The counter starts at 1 and
//!   counts every *accepted* order (Econia counts only orders that post; here takers get ids too
//!   so their fills name an order). An aborted transaction does not consume a counter value.
//!   The low bits let a cancel find the level without an index.
//! * **Self-match**: by default Econia's abort (`E_SELF_MATCH`, 19) as soon as the taker would
//!   trade with a resting order of the same account; [`SelfMatchBehavior`] selects Econia's
//!   other flags. Crossing one's own order is fine if other orders fill the taker first.
//! * **Market orders** ignore `price` and `restriction` (Kana's market call has neither) and must
//!   fill completely: [`MarketShortfall::Abort`] (default) refuses with Kana 1007;
//!   [`MarketShortfall::FillPartial`] fills what it can and cancels the rest (reason 5).
//! * **Cancels**: an id that is not resting (unknown, filled or cancelled) → `E_INVALID_MARKET_ORDER_ID`
//!   (22); someone else's order → `E_INVALID_USER` (24).

use std::collections::{BTreeSet, VecDeque};

use rust_decimal::Decimal;

use perpbot_aptos::{AccountAddress, EconiaAbort, KanaAbort};
use perpbot_model::{
    DepthWalk, Level, Lots, MAX_PRICE_TICKS, MarketSpec, OrderKind, Restriction, Side, Ticks,
    VenueOrderId,
};

use super::{Abort, CancelReason};

pub use super::orders::{
    BatchResult, CancelledOrder, MarketShortfall, Match, MatchingConfig, PlaceOrder, PlaceResult,
    RestingOrder, SelfMatchBehavior, book_side, decode_order_id, encode_order_id,
    restriction_from_code,
};

/// One price level: a FIFO queue (time priority) and its total size.
#[derive(Debug, Clone, Default)]
struct PriceLevel {
    price: Ticks,
    total: u64,
    orders: VecDeque<RestingOrder>,
}

/// One side of the book, best level at the end.
#[derive(Debug, Clone)]
struct BookSide {
    side: Side,
    levels: Vec<PriceLevel>,
}

impl BookSide {
    fn new(side: Side) -> BookSide {
        BookSide {
            side,
            levels: Vec::new(),
        }
    }

    /// Binary search for `price` in this side's order (bids ascending, asks descending).
    fn search(&self, price: Ticks) -> Result<usize, usize> {
        match self.side {
            Side::Buy => self.levels.binary_search_by(|l| l.price.cmp(&price)),
            Side::Sell => self.levels.binary_search_by(|l| price.cmp(&l.price)),
        }
    }

    fn level(&self, price: Ticks) -> Option<&PriceLevel> {
        self.search(price).ok().and_then(|i| self.levels.get(i))
    }

    fn best(&self) -> Option<&PriceLevel> {
        self.levels.last()
    }
}

/// Undo records of the journal (see [`MatchingBook::atomically`]).
#[derive(Debug, Clone)]
enum Undo {
    /// An order was appended to the back of its level.
    Rested { side: Side, price: Ticks },
    /// An order was removed from its level at this queue index.
    Removed { order: RestingOrder, index: usize },
    /// The front order of a level lost `lots` to a fill.
    Reduced { side: Side, price: Ticks, lots: u64 },
}

/// Emptied level queues kept for reuse.
const SPARE_QUEUES: usize = 64;

/// The matching engine of one simulated market: every participant's resting orders, each with
/// its owner and id, in price-time priority, which places, takes and cancels them as the venue's
/// contracts would. Unlike [`perpbot_model::OrderBook`], the bot's aggregated L2 view of a
/// venue's book (lots per price level, no orders), this book *is* the venue's; [`depth`] renders
/// it as that view.
///
/// [`depth`]: MatchingBook::depth
#[derive(Debug, Clone)]
pub struct MatchingBook {
    spec: MarketSpec,
    config: MatchingConfig,
    bids: BookSide,
    asks: BookSide,
    /// Resting order ids by owner (deterministic iteration).
    by_account: BTreeSet<(AccountAddress, VenueOrderId)>,
    resting: usize,
    next_counter: u64,
    journal: Vec<Undo>,
    depth: u32,
    spare: Vec<VecDeque<RestingOrder>>,
}

impl MatchingBook {
    /// An empty book for a market.
    pub fn new(spec: MarketSpec, config: MatchingConfig) -> MatchingBook {
        MatchingBook {
            spec,
            config,
            bids: BookSide::new(Side::Buy),
            asks: BookSide::new(Side::Sell),
            by_account: BTreeSet::new(),
            resting: 0,
            next_counter: 1,
            journal: Vec::new(),
            depth: 0,
            spare: Vec::new(),
        }
    }

    /// The market.
    pub fn spec(&self) -> &MarketSpec {
        &self.spec
    }

    /// The settings.
    pub fn config(&self) -> MatchingConfig {
        self.config
    }

    /// Number of resting orders.
    pub fn len(&self) -> usize {
        self.resting
    }

    /// True when nothing rests.
    pub fn is_empty(&self) -> bool {
        self.resting == 0
    }

    /// Best bid level.
    pub fn best_bid(&self) -> Option<Level> {
        self.bids.best().map(as_level)
    }

    /// Best ask level.
    pub fn best_ask(&self) -> Option<Level> {
        self.asks.best().map(as_level)
    }

    /// Mid of the best bid and ask in human price, when both exist.
    pub fn mid_price(&self) -> Option<Decimal> {
        let (bid, ask) = (self.best_bid()?, self.best_ask()?);
        let sum = self.spec.ticks_to_price(bid.price) + self.spec.ticks_to_price(ask.price);
        Some(sum / Decimal::TWO)
    }

    /// Up to `max_levels` levels per side, best first: `(bids, asks)`.
    pub fn depth(&self, max_levels: usize) -> (Vec<Level>, Vec<Level>) {
        let (mut bids, mut asks) = (Vec::new(), Vec::new());
        self.depth_into(max_levels, &mut bids, &mut asks);
        (bids, asks)
    }

    /// [`MatchingBook::depth`] into reused vectors (cleared first).
    pub fn depth_into(&self, max_levels: usize, bids: &mut Vec<Level>, asks: &mut Vec<Level>) {
        bids.clear();
        asks.clear();
        bids.extend(self.bids.levels.iter().rev().take(max_levels).map(as_level));
        asks.extend(self.asks.levels.iter().rev().take(max_levels).map(as_level));
    }

    /// A resting order by id.
    pub fn order(&self, id: VenueOrderId) -> Option<&RestingOrder> {
        let (_, (side, price)) = match decode_order_id(id) {
            (c, Some(sp)) => (c, sp),
            (_, None) => return None,
        };
        self.side(side)
            .level(price)?
            .orders
            .iter()
            .find(|o| o.id == id)
    }

    /// The resting orders of one account, by id (i.e. in placement order).
    pub fn orders_of(&self, account: AccountAddress) -> impl Iterator<Item = &RestingOrder> + '_ {
        self.by_account
            .range((account, VenueOrderId(0))..=(account, VenueOrderId(u128::MAX)))
            .filter_map(|(_, id)| self.order(*id))
    }

    /// What a taker on `side` could fill of `lots` up to `limit` (all prices when `None`),
    /// counting every resting order. For margin estimates before placing.
    pub fn walk(&self, side: Side, lots: Lots, limit: Option<Ticks>) -> DepthWalk {
        let mut walk = DepthWalk {
            filled: Lots::ZERO,
            notional_ticks: 0,
            worst_price: None,
        };
        for level in self.side(side.opposite()).levels.iter().rev() {
            if walk.filled >= lots || limit.is_some_and(|l| !reaches(side, level.price, l)) {
                break;
            }
            let take = level.total.min(lots.0 - walk.filled.0);
            walk.filled.0 += take;
            walk.notional_ticks += u128::from(take) * u128::from(level.price.0);
            walk.worst_price = Some(level.price);
        }
        walk
    }

    /// Run `f` as one transaction: if it returns an error every change it made to the book is
    /// undone (including the order-id counter). Transactions nest. Use it to make a book change
    /// and other checks (e.g. the ledger's) succeed or fail together.
    pub fn atomically<T>(
        &mut self,
        f: impl FnOnce(&mut MatchingBook) -> Result<T, Abort>,
    ) -> Result<T, Abort> {
        let (mark, counter) = (self.journal.len(), self.next_counter);
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        if result.is_err() {
            self.rollback(mark);
            self.next_counter = counter;
        }
        if self.depth == 0 {
            self.journal.clear();
        }
        result
    }

    /// Place an order: validate, match against the other side in price-time priority, rest the
    /// remainder where the order type allows. All-or-nothing.
    pub fn place(&mut self, order: &PlaceOrder) -> Result<PlaceResult, Abort> {
        let mut out = PlaceResult::default();
        self.place_into(order, &mut out)?;
        Ok(out)
    }

    /// [`MatchingBook::place`] into a reused result (its vectors are cleared, their memory kept).
    pub fn place_into(&mut self, order: &PlaceOrder, out: &mut PlaceResult) -> Result<(), Abort> {
        out.fills.clear();
        out.cancelled.clear();
        out.rested = None;
        out.unfilled = None;
        out.order_id = VenueOrderId(0);
        let result = self.atomically(|book| book.place_inner(order, out));
        if result.is_err() {
            out.fills.clear();
            out.cancelled.clear();
            out.rested = None;
            out.unfilled = None;
        }
        result
    }

    /// Cancel a resting order of `account`.
    pub fn cancel(
        &mut self,
        account: AccountAddress,
        id: VenueOrderId,
    ) -> Result<CancelledOrder, Abort> {
        let invalid = Abort::Econia(EconiaAbort::InvalidMarketOrderId);
        let (_, Some((side, price))) = decode_order_id(id) else {
            return Err(invalid);
        };
        let book_side = self.side(side);
        let level_idx = book_side.search(price).map_err(|_| invalid)?;
        let level = book_side.levels.get(level_idx).ok_or(invalid)?;
        let index = level
            .orders
            .iter()
            .position(|o| o.id == id)
            .ok_or(invalid)?;
        if level.orders.get(index).map(|o| o.account) != Some(account) {
            return Err(EconiaAbort::InvalidUser.into());
        }
        let order = self.remove_at(side, level_idx, index).ok_or(invalid)?;
        Ok(CancelledOrder {
            order,
            reason: CancelReason::ManualCancel,
        })
    }

    /// Kana's `cancelAndPlaceMultipleOrders`: cancel `cancels`, then place `places`, as one
    /// transaction — if any step aborts, nothing happens. Every place must belong to `account`
    /// (`E_INVALID_USER` otherwise).
    pub fn cancel_and_place(
        &mut self,
        account: AccountAddress,
        cancels: &[VenueOrderId],
        places: &[PlaceOrder],
    ) -> Result<BatchResult, Abort> {
        self.atomically(|book| {
            let mut out = BatchResult {
                cancelled: Vec::with_capacity(cancels.len()),
                placed: Vec::with_capacity(places.len()),
            };
            for id in cancels {
                out.cancelled.push(book.cancel(account, *id)?);
            }
            for order in places {
                if order.account != account {
                    return Err(EconiaAbort::InvalidUser.into());
                }
                out.placed.push(book.place(order)?);
            }
            Ok(out)
        })
    }

    // ---- internals ----

    fn side(&self, side: Side) -> &BookSide {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    fn side_mut(&mut self, side: Side) -> &mut BookSide {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    /// The checks Econia makes before matching, in its order.
    fn validate(&self, order: &PlaceOrder) -> Result<Option<Ticks>, Abort> {
        let limit = match order.kind {
            OrderKind::Market => None,
            OrderKind::Limit => {
                let price = order.price.unwrap_or(Ticks(0));
                if price.0 == 0 {
                    return Err(EconiaAbort::Price0.into());
                }
                if price.0 > MAX_PRICE_TICKS {
                    return Err(EconiaAbort::PriceTooHigh.into());
                }
                Some(price)
            }
        };
        if order.lots.0 < self.spec.min_lots.max(1) {
            return Err(EconiaAbort::SizeTooSmall.into());
        }
        if order.lots.0 > self.spec.max_lots {
            return Err(EconiaAbort::SizeBaseOverflow.into());
        }
        if let Some(price) = limit {
            let crosses = self
                .side(order.side.opposite())
                .best()
                .is_some_and(|best| reaches(order.side, best.price, price));
            match order.restriction {
                Restriction::FillOrAbort if !crosses => {
                    return Err(EconiaAbort::FillOrAbortNotCrossSpread.into());
                }
                Restriction::PostOnly if crosses => {
                    return Err(EconiaAbort::PostOrAbortCrossesSpread.into());
                }
                _ => {}
            }
        }
        Ok(limit)
    }

    fn place_inner(&mut self, order: &PlaceOrder, out: &mut PlaceResult) -> Result<(), Abort> {
        let limit = self.validate(order)?;
        let counter = self.next_counter;
        self.next_counter = counter.saturating_add(1);
        let taker_id = encode_order_id(counter, None);
        let mut remaining = order.lots.0;
        let mut taker_cancelled = false;
        let opposite = order.side.opposite();
        while remaining > 0 {
            let Some(level) = self.side(opposite).best() else {
                break;
            };
            let price = level.price;
            if limit.is_some_and(|l| !reaches(order.side, price, l)) {
                break;
            }
            let Some(maker) = level.orders.front() else {
                break; // unreachable: empty levels are removed
            };
            if maker.account == order.account {
                let behaviour = self.config.self_match;
                if behaviour == SelfMatchBehavior::Abort {
                    return Err(EconiaAbort::SelfMatch.into());
                }
                if matches!(
                    behaviour,
                    SelfMatchBehavior::CancelMaker | SelfMatchBehavior::CancelBoth
                ) {
                    let last = self.side(opposite).levels.len().saturating_sub(1);
                    if let Some(cancelled) = self.remove_at(opposite, last, 0) {
                        out.cancelled.push(CancelledOrder {
                            order: cancelled,
                            reason: CancelReason::SelfMatchMaker,
                        });
                    }
                }
                if behaviour != SelfMatchBehavior::CancelMaker {
                    taker_cancelled = true;
                    break;
                }
                continue;
            }
            let lots = remaining.min(maker.lots.0);
            let fill = Match {
                maker_order_id: maker.id,
                maker_account: maker.account,
                maker_direction: maker.direction,
                maker_leverage: maker.leverage,
                maker_take_profit: maker.take_profit,
                maker_stop_loss: maker.stop_loss,
                maker_remaining: Lots(maker.lots.0 - lots),
                taker_order_id: taker_id,
                taker_account: order.account,
                taker_side: order.side,
                price,
                lots: Lots(lots),
            };
            self.fill_front(opposite, lots);
            out.fills.push(fill);
            remaining -= lots;
        }

        let mut resting = None;
        if remaining > 0 {
            if taker_cancelled {
                out.unfilled = Some((Lots(remaining), CancelReason::SelfMatchTaker));
            } else {
                match (order.kind, limit) {
                    (OrderKind::Limit, Some(price)) => {
                        if order.restriction == Restriction::FillOrAbort {
                            return Err(EconiaAbort::MinBaseNotTraded.into());
                        }
                        resting = Some(price);
                    }
                    _ => match self.config.market_shortfall {
                        MarketShortfall::Abort => {
                            return Err(KanaAbort::InsufficientLiquidityInOrderbook.into());
                        }
                        MarketShortfall::FillPartial => {
                            out.unfilled =
                                Some((Lots(remaining), CancelReason::NotEnoughLiquidity));
                        }
                    },
                }
            }
        }

        let id = encode_order_id(counter, resting.map(|p| (order.side, p)));
        out.order_id = id;
        for fill in &mut out.fills {
            fill.taker_order_id = id;
        }
        if let Some(price) = resting {
            self.rest(RestingOrder {
                id,
                account: order.account,
                side: order.side,
                price,
                lots: Lots(remaining),
                original_lots: order.lots,
                direction: order.direction,
                leverage: order.leverage,
                take_profit: order.take_profit,
                stop_loss: order.stop_loss,
                placed_at: order.time,
            });
            out.rested = Some(Lots(remaining));
        }
        Ok(())
    }

    fn record(&mut self, undo: Undo) {
        if self.depth > 0 {
            self.journal.push(undo);
        }
    }

    /// Append an order to the back of its level (creating the level).
    fn rest(&mut self, order: RestingOrder) {
        let (side, price) = (order.side, order.price);
        self.insert_at(order, None);
        self.record(Undo::Rested { side, price });
    }

    /// Insert an order into its level at `index` (`None`: at the back). No journal record.
    fn insert_at(&mut self, order: RestingOrder, index: Option<usize>) {
        let (side, price, lots) = (order.side, order.price, order.lots.0);
        self.by_account.insert((order.account, order.id));
        self.resting += 1;
        let spare = self.spare.pop();
        let book_side = self.side_mut(side);
        let level_idx = match book_side.search(price) {
            Ok(i) => i,
            Err(i) => {
                let mut orders = spare.unwrap_or_default();
                orders.clear();
                book_side.levels.insert(
                    i,
                    PriceLevel {
                        price,
                        total: 0,
                        orders,
                    },
                );
                i
            }
        };
        if let Some(level) = book_side.levels.get_mut(level_idx) {
            level.total += lots;
            match index {
                Some(i) if i <= level.orders.len() => level.orders.insert(i, order),
                _ => level.orders.push_back(order),
            }
        }
    }

    /// Remove the order at `index` of level `level_idx`, dropping an emptied level. Journaled.
    fn remove_at(&mut self, side: Side, level_idx: usize, index: usize) -> Option<RestingOrder> {
        let order = self.take_at(side, level_idx, index)?;
        self.record(Undo::Removed {
            order: order.clone(),
            index,
        });
        Some(order)
    }

    /// Remove without a journal record.
    fn take_at(&mut self, side: Side, level_idx: usize, index: usize) -> Option<RestingOrder> {
        // Borrow the side field directly so `self.spare` stays available.
        let book_side = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        let level = book_side.levels.get_mut(level_idx)?;
        let order = level.orders.remove(index)?;
        level.total = level.total.saturating_sub(order.lots.0);
        if level.orders.is_empty() {
            let emptied = book_side.levels.remove(level_idx);
            if self.spare.len() < SPARE_QUEUES {
                self.spare.push(emptied.orders);
            }
        }
        self.by_account.remove(&(order.account, order.id));
        self.resting = self.resting.saturating_sub(1);
        Some(order)
    }

    /// Fill `lots` of the front order of the best level of `side`.
    fn fill_front(&mut self, side: Side, lots: u64) {
        let last = self.side(side).levels.len().saturating_sub(1);
        let Some(level) = self.side_mut(side).levels.get_mut(last) else {
            return;
        };
        let price = level.price;
        let Some(front) = level.orders.front_mut() else {
            return;
        };
        if front.lots.0 > lots {
            front.lots.0 -= lots;
            level.total = level.total.saturating_sub(lots);
            self.record(Undo::Reduced { side, price, lots });
        } else {
            // The journal keeps the order with the size it had before this fill.
            self.remove_at(side, last, 0);
        }
    }

    /// Undo journal entries back to `mark`, newest first.
    fn rollback(&mut self, mark: usize) {
        while self.journal.len() > mark {
            let Some(undo) = self.journal.pop() else {
                break;
            };
            match undo {
                Undo::Rested { side, price } => {
                    if let Ok(level_idx) = self.side(side).search(price) {
                        let index = self
                            .side(side)
                            .levels
                            .get(level_idx)
                            .map_or(0, |l| l.orders.len().saturating_sub(1));
                        self.take_at(side, level_idx, index);
                    }
                }
                Undo::Removed { order, index } => self.insert_at(order, Some(index)),
                Undo::Reduced { side, price, lots } => {
                    if let Ok(level_idx) = self.side(side).search(price)
                        && let Some(level) = self.side_mut(side).levels.get_mut(level_idx)
                        && let Some(front) = level.orders.front_mut()
                    {
                        front.lots.0 += lots;
                        level.total += lots;
                    }
                }
            }
        }
    }
}

/// Whether a taker on `side` with limit `limit` reaches a resting price.
fn reaches(side: Side, resting: Ticks, limit: Ticks) -> bool {
    match side {
        Side::Buy => resting <= limit,
        Side::Sell => resting >= limit,
    }
}

fn as_level(level: &PriceLevel) -> Level {
    Level {
        price: level.price,
        lots: Lots(level.total),
    }
}

#[cfg(test)]
mod tests;
