//! Requests against the paper exchange. Each request is atomic like a Kana transaction: it runs
//! step by step (cancels, then places in order, each seeing the effects of the ones before) on
//! the exchange itself, after a [`Checkpoint`] of what it can change; if a step fails, the
//! checkpoint is put back. A refusal names the order's client id and the rule, using Kana's and
//! Econia's abort names.

use std::sync::Arc;

use rust_decimal::Decimal;

use super::account::Account;
use super::exchange::{OrderRef, PaperExchange, RestingOrder};
use super::table::SavedOrders;
use crate::atto::{self, Round};
use crate::venue::{CancelOrder, RefusalKind, RequestOutcome, VenueRequest};
use perpbot_model::{
    ClientOrderId, Direction, Event, Liquidity, Lots, MarketId, MarketSpec, OrderBook, OrderKind,
    OrderRequest, PositionSide, Restriction, Side, Ticks, Timestamp, UnitError, VenueOrderId,
};

/// Most orders placed by one request (the writer's `max_batch`).
pub const MAX_BATCH: usize = 32;

/// Which trigger a request sets.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    TakeProfit,
    StopLoss,
}

/// What a request can change, saved before it runs so that a refused request leaves the
/// exchange as it was. Cheaper than copying the exchange (the books are its largest part): a
/// book is saved only when the request can take from it, which a post-only place never does,
/// and the account only when the request can fill or touch a position — a market maker's
/// usual request (cancels and post-only places) changes only the resting orders.
struct Checkpoint {
    orders: SavedOrders,
    account: Option<Account>,
    next_order_id: u128,
    next_trade_id: u128,
    book: Option<(MarketId, OrderBook)>,
}

impl Checkpoint {
    fn before(ex: &mut PaperExchange, request: &VenueRequest) -> Checkpoint {
        let takes_from = match request {
            VenueRequest::Orders { market, place, .. } => place
                .iter()
                .any(|r| r.order.restriction != Restriction::PostOnly)
                .then_some(*market),
            VenueRequest::ClosePosition { market, .. } => Some(*market),
            VenueRequest::SetTakeProfit { .. } | VenueRequest::SetStopLoss { .. } => None,
        };
        // Only fills (taking from the book) and position requests change the account.
        let changes_account =
            takes_from.is_some() || !matches!(request, VenueRequest::Orders { .. });
        Checkpoint {
            orders: ex
                .orders
                .save_into(std::mem::take(&mut ex.spare_checkpoint)),
            account: changes_account.then(|| ex.account.clone()),
            next_order_id: ex.next_order_id,
            next_trade_id: ex.next_trade_id,
            book: takes_from.and_then(|m| Some((m, ex.books.get(&m)?.clone()))),
        }
    }

    fn restore(self, ex: &mut PaperExchange) {
        ex.spare_checkpoint = ex.orders.restore(self.orders);
        if let Some(account) = self.account {
            ex.account = account;
        }
        ex.next_order_id = self.next_order_id;
        ex.next_trade_id = self.next_trade_id;
        if let Some((market, book)) = self.book {
            ex.books.insert(market, book);
        }
    }
}

/// How a validated order will execute.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// Size it takes from the book now.
    take: Lots,
    /// Size that rests afterwards.
    rest: Lots,
}

impl PaperExchange {
    /// Execute one request atomically: either all of it applies and the outcome is `Accepted`
    /// (with the events it caused), or nothing does and the outcome is `Rejected` with no events.
    pub fn execute(
        &mut self,
        request: &VenueRequest,
        now: Timestamp,
    ) -> (RequestOutcome, Vec<Event>) {
        let mut out = Vec::new();
        let outcome = self.execute_into(request, now, &mut out);
        (outcome, out)
    }

    /// [`PaperExchange::execute`], appending the events to `out` (a buffer the caller reuses):
    /// on a refusal nothing is appended.
    pub fn execute_into(
        &mut self,
        request: &VenueRequest,
        now: Timestamp,
        out: &mut Vec<Event>,
    ) -> RequestOutcome {
        let checkpoint = Checkpoint::before(self, request);
        let draft = &mut *self;
        let from = out.len();
        let result = match request {
            VenueRequest::Orders {
                market,
                cancel,
                place,
            } => draft.orders(*market, cancel, place, now, out),
            VenueRequest::SetTakeProfit {
                market,
                position,
                price,
            } => draft
                .set_trigger(Trigger::TakeProfit, *market, *position, *price, now)
                .map(|()| Vec::new())
                .map_err(Refusal::from),
            VenueRequest::SetStopLoss {
                market,
                position,
                price,
            } => draft
                .set_trigger(Trigger::StopLoss, *market, *position, *price, now)
                .map(|()| Vec::new())
                .map_err(Refusal::from),
            VenueRequest::ClosePosition {
                market, position, ..
            } => draft
                .close_position(*market, *position, now, out)
                .map(|()| Vec::new())
                .map_err(Refusal::from),
        };
        match result {
            Ok(placed) => {
                draft.spare_checkpoint = checkpoint.orders.into_buffer();
                draft.finish(now, out);
                RequestOutcome::Accepted { placed }
            }
            Err(Refusal { kind, reason }) => {
                checkpoint.restore(self);
                out.truncate(from);
                RequestOutcome::Rejected { reason, kind }
            }
        }
    }

    fn spec(&self, market: MarketId) -> Result<Arc<MarketSpec>, String> {
        self.specs
            .get(&market)
            .cloned()
            .ok_or_else(|| format!("market {market}: E_MARKET_NOT_FOUND (Kana 1003)"))
    }

    /// Cancels then places, in order.
    fn orders(
        &mut self,
        market: MarketId,
        cancel: &[CancelOrder],
        place: &[OrderRequest],
        now: Timestamp,
        out: &mut Vec<Event>,
    ) -> Result<Vec<(ClientOrderId, Option<VenueOrderId>)>, Refusal> {
        let spec = self.spec(market)?;
        if place.len() > MAX_BATCH {
            return Err(format!(
                "{} orders in one request; the most is {MAX_BATCH}",
                place.len()
            )
            .into());
        }
        for c in cancel {
            self.cancel(market, c, now, out)?;
        }
        let mut placed = Vec::with_capacity(place.len());
        for req in place {
            let id = self.place(&spec, req, now, out).map_err(|r| Refusal {
                reason: format!("order {}: {}", req.client_id, r.reason),
                ..r
            })?;
            placed.push((req.client_id, Some(id)));
        }
        Ok(placed)
    }

    /// Cancel one resting order, found by venue id when given, else by client id.
    fn cancel(
        &mut self,
        market: MarketId,
        c: &CancelOrder,
        now: Timestamp,
        out: &mut Vec<Event>,
    ) -> Result<(), Refusal> {
        let found = self
            .orders
            .values()
            .find(|o| {
                o.market == market
                    && c.venue_id
                        .map_or(o.client_id == c.client_id, |v| v == o.venue_id)
            })
            .map(|o| o.venue_id);
        let Some(id) = found else {
            return Err(Refusal {
                kind: RefusalKind::UnknownOrder,
                reason: format!(
                    "cancel {}: no such order resting in market {market} (E_INVALID_MARKET_ORDER_ID, Econia 22)",
                    c.client_id
                ),
            });
        };
        self.cancel_resting(id, now, out);
        Ok(())
    }

    /// Validate one order against the current (draft) state, then take and/or rest it.
    fn place(
        &mut self,
        spec: &MarketSpec,
        req: &OrderRequest,
        now: Timestamp,
        out: &mut Vec<Event>,
    ) -> Result<VenueOrderId, Refusal> {
        check_shape(spec, req)?;
        let plan = self.plan(spec, req)?;
        let o = &req.order;
        let venue_id = self.next_order_id();
        let order = OrderRef {
            client_id: Some(req.client_id),
            venue_id,
            market: spec.id,
            side: o.side,
            direction: o.direction,
            leverage: o.leverage,
            take_profit: o.take_profit,
            stop_loss: o.stop_loss,
        };
        let limit = if o.kind == OrderKind::Limit {
            o.price
        } else {
            None
        };
        for (price, lots) in self.take(spec.id, o.side, plan.take, limit, now, out) {
            self.fill(&order, lots, price, Liquidity::Taker, now, out);
        }
        if let (false, Some(price)) = (plan.rest.is_zero(), o.price) {
            let queue_ahead = self
                .books
                .get(&spec.id)
                .map_or(Lots::ZERO, |b| b.lots_at(o.side, price));
            let resting = RestingOrder {
                client_id: req.client_id,
                venue_id,
                market: spec.id,
                side: o.side,
                direction: o.direction,
                price,
                remaining: plan.rest,
                leverage: o.leverage,
                queue_ahead,
                level_seen: queue_ahead,
                take_profit: o.take_profit,
                stop_loss: o.stop_loss,
            };
            self.orders.insert(resting);
        }
        Ok(venue_id)
    }

    /// The rules that depend on state, in Kana's order of concern.
    fn plan(&self, spec: &MarketSpec, req: &OrderRequest) -> Result<Plan, Refusal> {
        let o = &req.order;
        if let Some(r) = self.orders.values().find(|r| r.client_id == req.client_id) {
            return Err(format!(
                "client order id already rests as venue order {}",
                r.venue_id
            )
            .into());
        }
        self.check_leverage_matches(spec.id, req)?;
        self.check_close_covered(spec.id, req)?;
        let empty = OrderBook::new();
        let book = self.books.get(&spec.id).unwrap_or(&empty);
        let plan = execution_plan(book, req)?;
        self.check_self_match(spec.id, req, book, plan)?;
        if o.direction == Direction::Open {
            self.check_margin(spec, req, book, plan)?;
        }
        Ok(plan)
    }

    /// Kana 1004/1005: an order's leverage must equal its position's (and, for opening orders,
    /// that of other resting opening orders on the same position).
    fn check_leverage_matches(&self, market: MarketId, req: &OrderRequest) -> Result<(), String> {
        let o = &req.order;
        let side = o.position_side();
        let rule = match o.direction {
            Direction::Open => "E_LEVERAGE_MISMATCH_INCREASE_POSITION (Kana 1005)",
            Direction::Close => "E_LEVERAGE_MISMATCH_CLOSE_POSITION (Kana 1004)",
        };
        if let Some(h) = self.account.holding(market, side)
            && h.leverage != o.leverage
        {
            return Err(format!(
                "{rule}: leverage {} differs from the {} position's leverage {}",
                o.leverage,
                side_name(side),
                h.leverage
            ));
        }
        if o.direction == Direction::Open
            && let Some(r) = self.orders.values().find(|r| {
                r.market == market
                    && r.direction == Direction::Open
                    && r.position() == side
                    && r.leverage != o.leverage
            })
        {
            return Err(format!(
                "{rule}: leverage {} differs from resting opening order {}'s leverage {}",
                o.leverage, r.client_id, r.leverage
            ));
        }
        Ok(())
    }

    /// Kana 1011: a close may not exceed the position minus other resting closes on it.
    fn check_close_covered(&self, market: MarketId, req: &OrderRequest) -> Result<(), String> {
        let o = &req.order;
        if o.direction != Direction::Close {
            return Ok(());
        }
        let side = o.position_side();
        let size = self.account.lots(market, side);
        let resting: u64 = self
            .orders
            .values()
            .filter(|r| {
                r.market == market && r.direction == Direction::Close && r.position() == side
            })
            .map(|r| r.remaining.0)
            .sum();
        if o.lots.0 > size.0.saturating_sub(resting) {
            return Err(format!(
                "E_TRADE_SIZE_EXCEEDS_EXISTING_FILLED (Kana 1011): close of {} exceeds the {} position's {} minus {resting} lots in resting close orders",
                o.lots,
                side_name(side),
                size
            ));
        }
        Ok(())
    }

    /// Econia 19: an order may not trade against (or rest across) one of our own orders.
    fn check_self_match(
        &self,
        market: MarketId,
        req: &OrderRequest,
        book: &OrderBook,
        plan: Plan,
    ) -> Result<(), String> {
        let o = &req.order;
        let reach = match o.kind {
            OrderKind::Limit => o.price,
            OrderKind::Market => book.walk(o.side, plan.take, None).worst_price,
        };
        let Some(reach) = reach else { return Ok(()) };
        let crossing = self.orders.values().find(|r| {
            r.market == market
                && r.side == o.side.opposite()
                && match o.side {
                    Side::Buy => r.price <= reach,
                    Side::Sell => r.price >= reach,
                }
        });
        match crossing {
            Some(r) => Err(format!(
                "E_SELF_MATCH (Econia 19): would cross our own resting order {} at {}",
                r.client_id, r.price
            )),
            None => Ok(()),
        }
    }

    /// Available balance must cover `notional / leverage` of the whole order plus the taker fee
    /// of the part that takes.
    fn check_margin(
        &self,
        spec: &MarketSpec,
        req: &OrderRequest,
        book: &OrderBook,
        plan: Plan,
    ) -> Result<(), Refusal> {
        let o = &req.order;
        let walk = book.walk(
            o.side,
            plan.take,
            o.price.filter(|_| o.kind == OrderKind::Limit),
        );
        let taken_sub_units = walk
            .notional_ticks
            .saturating_mul(u128::from(spec.tick_size));
        let resting_sub_units = o.price.map_or(0, |p| spec.notional_sub_units(plan.rest, p));
        // In atto units, each part rounded up, so that the check errs towards refusing: on
        // every order, where the decimal division and products were a per-order cost the
        // matching itself did not have. Decimals only for the refusal's message.
        let notional = atto::from_sub_units(
            taken_sub_units.saturating_add(resting_sub_units),
            spec.quote_decimals,
            Round::Up,
        );
        let margin = atto::div(notional, i128::from(o.leverage.max(1)), Round::Up);
        let taker_fee = if taken_sub_units == 0 || self.taker_fee_rate.is_zero() {
            0
        } else {
            let taken = spec.sub_units_to_quote(taken_sub_units);
            atto::from_decimal(taken * self.taker_fee_rate, Round::Up)
        };
        let available = self.available();
        if margin.saturating_add(taker_fee) > atto::from_decimal(available, Round::Down) {
            let leverage = Decimal::from(o.leverage.max(1));
            let taken = spec.sub_units_to_quote(taken_sub_units);
            let resting = spec.sub_units_to_quote(resting_sub_units);
            let required = (taken + resting) / leverage + taken * self.taker_fee_rate;
            return Err(Refusal {
                kind: RefusalKind::InsufficientMargin,
                reason: format!(
                    "insufficient available balance (Kana 1012-style): needs {required} for margin and fees, {available} available"
                ),
            });
        }
        Ok(())
    }

    /// ClosePosition: market-close the whole position the venue knows.
    fn close_position(
        &mut self,
        market: MarketId,
        position: PositionSide,
        now: Timestamp,
        out: &mut Vec<Event>,
    ) -> Result<(), String> {
        self.spec(market)?;
        let lots = self.account.lots(market, position);
        if lots.is_zero() {
            return Err(format!(
                "close position: no {} position in market {market}",
                side_name(position)
            ));
        }
        let side = if position == PositionSide::Long {
            Side::Sell
        } else {
            Side::Buy
        };
        let depth = self
            .books
            .get(&market)
            .map_or(Lots::ZERO, |b| b.walk(side, lots, None).filled);
        if depth < lots {
            return Err(format!(
                "close position: E_INSUFFICIENT_LIQUIDITY_IN_ORDERBOOK (Kana 1007): the book holds {depth} of the {lots} to close"
            ));
        }
        self.market_close(market, position, lots, now, out);
        Ok(())
    }

    /// SetTakeProfit / SetStopLoss on an open position.
    fn set_trigger(
        &mut self,
        trigger: Trigger,
        market: MarketId,
        position: PositionSide,
        price: Option<Ticks>,
        now: Timestamp,
    ) -> Result<(), String> {
        let spec = self.spec(market)?;
        let what = match trigger {
            Trigger::TakeProfit => "take-profit",
            Trigger::StopLoss => "stop-loss",
        };
        if let Some(p) = price {
            spec.check_ticks(p)
                .map_err(|e| format!("{what}: {}", price_rule(&e)))?;
        }
        let Some(h) = self.account.holding_mut(market, position) else {
            return Err(format!(
                "{what}: no {} position in market {market}",
                side_name(position)
            ));
        };
        match trigger {
            Trigger::TakeProfit => h.take_profit = price,
            Trigger::StopLoss => h.stop_loss = price,
        }
        h.updated_at = now;
        Ok(())
    }
}

/// The rules that depend only on the order and the market.
fn check_shape(spec: &MarketSpec, req: &OrderRequest) -> Result<(), String> {
    let o = &req.order;
    if o.market != spec.id {
        return Err(format!(
            "order is for market {} but the request is for market {}",
            o.market, spec.id
        ));
    }
    spec.check_lots(o.lots).map_err(|e| match e {
        UnitError::BelowMinLots { .. } => format!("E_SIZE_TOO_SMALL (Econia 14): {e}"),
        _ => format!("E_SIZE_BASE_OVERFLOW (Econia 15): {e}"),
    })?;
    spec.check_leverage(o.leverage)
        .map_err(|e| format!("E_INVALID_LEVERAGE (Kana 1006): {e}"))?;
    match (o.kind, o.price) {
        (OrderKind::Limit, None) => return Err("limit order without a price".into()),
        (OrderKind::Limit, Some(p)) => spec.check_ticks(p).map_err(|e| price_rule(&e))?,
        (OrderKind::Market, _) => {}
    }
    for (what, t) in [("take-profit", o.take_profit), ("stop-loss", o.stop_loss)] {
        if let Some(t) = t {
            spec.check_ticks(t)
                .map_err(|e| format!("{what}: {}", price_rule(&e)))?;
        }
    }
    Ok(())
}

/// Econia's name for a bad price.
fn price_rule(e: &UnitError) -> String {
    match e {
        UnitError::ZeroPrice { .. } => format!("E_PRICE_0 (Econia 11): {e}"),
        _ => format!("E_PRICE_TOO_HIGH (Econia 12): {e}"),
    }
}

/// How much of the order takes and how much rests, or why it cannot execute.
fn execution_plan(book: &OrderBook, req: &OrderRequest) -> Result<Plan, Refusal> {
    let o = &req.order;
    let none = Plan {
        take: Lots::ZERO,
        rest: Lots::ZERO,
    };
    match (o.kind, o.price, o.restriction) {
        (OrderKind::Market, _, _) => {
            let depth = book.walk(o.side, o.lots, None).filled;
            if depth < o.lots {
                return Err(format!(
                    "E_INSUFFICIENT_LIQUIDITY_IN_ORDERBOOK (Kana 1007): market order of {} but the book holds {depth}",
                    o.lots
                ).into());
            }
            Ok(Plan {
                take: o.lots,
                ..none
            })
        }
        (OrderKind::Limit, None, _) => Err(String::from("limit order without a price").into()),
        (OrderKind::Limit, Some(price), Restriction::PostOnly) => {
            let opposite = book.best(o.side.opposite()).map(|l| l.price);
            let crosses = opposite.is_some_and(|best| match o.side {
                Side::Buy => best <= price,
                Side::Sell => best >= price,
            });
            if crosses {
                return Err(Refusal {
                    kind: RefusalKind::PostOnlyWouldCross,
                    reason: format!(
                        "E_POST_OR_ABORT_CROSSES_SPREAD (Econia 13): post-only {} at {price} crosses the best {} at {}",
                        side_word(o.side),
                        if o.side == Side::Buy { "ask" } else { "bid" },
                        opposite.unwrap_or_default()
                    ),
                });
            }
            Ok(Plan {
                rest: o.lots,
                ..none
            })
        }
        (OrderKind::Limit, Some(price), Restriction::FillOrAbort) => {
            let filled = book.walk(o.side, o.lots, Some(price)).filled;
            if filled.is_zero() {
                return Err(format!(
                    "E_FILL_OR_ABORT_NOT_CROSS_SPREAD (Econia 25): nothing to take at {price}"
                )
                .into());
            }
            if filled < o.lots {
                return Err(format!(
                    "E_MIN_BASE_NOT_TRADED (Econia 9): fill-or-abort of {} but only {filled} available at {price} or better",
                    o.lots
                ).into());
            }
            Ok(Plan {
                take: o.lots,
                ..none
            })
        }
        (OrderKind::Limit, Some(price), Restriction::None) => {
            let take = book.walk(o.side, o.lots, Some(price)).filled;
            Ok(Plan {
                take,
                rest: o.lots.saturating_sub(take),
            })
        }
    }
}

/// Why a request is refused, with the kind the live Kana writer would read from the same venue
/// code in a failed transaction's VM status. The executor handles some kinds apart (above all a
/// replace that lost the race with a fill), so a paper or backtest refusal carries the kind a
/// live one would, set where the refusal is raised.
pub(super) struct Refusal {
    kind: RefusalKind,
    reason: String,
}

/// A refusal the executor handles like any other.
impl From<String> for Refusal {
    fn from(reason: String) -> Refusal {
        Refusal {
            kind: RefusalKind::Other,
            reason,
        }
    }
}

fn side_name(side: PositionSide) -> &'static str {
    match side {
        PositionSide::Long => "long",
        PositionSide::Short => "short",
    }
}

fn side_word(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}
