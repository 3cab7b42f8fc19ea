//! `grid`: resting post-only limit orders on a fixed price grid; each filled level is replaced on
//! the opposite side one step away.
//!
//! Levels sit at `center + k·step` ticks for `k = ±1 ..= ±levels`: buys below the centre, sells
//! above it, the centre itself empty. A filled buy at level `k` (price `p`) becomes a sell at
//! `k + 1` (`p + step`); a filled sell at `k` becomes a buy at `k − 1` (`p − step`); the level
//! that filled is then empty. So the grid keeps one empty level between its highest buy and its
//! lowest sell, and every round trip (buy at `p`, sell at `p + step`) earns one step.
//!
//! ```toml
//! [strategy]
//! name = "grid"
//! [strategy.params]
//! market = 1338
//! order_size = "1"      # base coins per level, rounded down to the lot
//! levels = 4            # per side
//! step_ticks = 5        # or step_bps = "9" (exactly one of the two)
//! max_inventory = "4"   # base coins, worst case (position + every resting order on a side)
//! # anchor = "fixed"    # with center_price = "5.5"; the default "mid" centres on the first mid
//! ```
//!
//! ## Decided rules
//!
//! * **Partial fills.** A level is replaced only once its order has filled completely, and then
//!   for the full `order_size`. Replacing proportionally would create orders below the market's
//!   minimum size and break the one-order-per-level picture. A level that fills partly and is
//!   then cancelled (re-centre, reconnect, expiry) is re-placed whole at its own price; its
//!   filled part is not paired — it shows in the position, which the inventory limit and the
//!   open/close choice follow.
//! * **Crossing levels are deferred, not skipped.** A level whose post-only order would cross
//!   the book (a buy at or above the best ask, a sell at or below the best bid) keeps its side
//!   and is placed at the first later event at which it would rest. Nothing is placed while the
//!   book is one-sided or crossed.
//! * **Hedge mode.** A sell closes the long position when the long, minus what resting closing
//!   sells already commit, covers the order — at the position's leverage (Kana refuses a close
//!   at any other, 1004). Otherwise it opens a short at `leverage`. Buys mirror this against the
//!   short. Several closes planned in one event share the position.
//! * **Fills before positions.** Fills and positions arrive as separate events in either order
//!   (the paper venue sends the fill first, Kana's stream the position first). The replacement
//!   of an *opening* fill should close the position that fill opened, so while the state does
//!   not show that position yet the replacement waits — for a later position event, or at most
//!   `min_replace_ms`, after which it is placed as the state then says.
//! * **Inventory.** A level whose fill could push `|net position|` past `max_inventory` is not
//!   placed, counting every resting order on its side as filled (worst case). Levels nearest the
//!   market are placed first. A blocked level is placed once the worst case allows it.
//! * **One order per level.** A replacement that lands on a level already quoted on its side
//!   keeps the resting order; one quoted on the other side has that order cancelled first.
//! * **Re-placement.** A level whose order was rejected, cancelled, expired or is unknown to the
//!   state (refused by the risk check, say) is re-placed no sooner than `min_replace_ms` after it
//!   was last placed; a timer every `min_replace_ms` revisits the grid, so it never loops on
//!   events and never forgets a level.
//! * **Re-centring** (`anchor = "mid"`). When the mid is more than `recenter_levels` steps from
//!   the centre — with the default (`levels`) as soon as it is beyond the outermost level — the
//!   grid is rebuilt around the mid (rounded down to a tick) in one replace-quotes intent that
//!   cancels every live order in the market. It waits while any order is in flight and happens at
//!   most once per `min_replace_ms`. `anchor = "fixed"` never re-centres.
//! * **The venue is the truth.** The grid keeps a map level → client id, but every event first
//!   reconciles it with the state: an order the state does not know, or knows as finished, no
//!   longer holds its level. The grid owns every live order in its market: a live order it does
//!   not map is adopted when it rests on an empty level of its side, otherwise cancelled.
//! * **Reconnects and trading state.** While the venue stream reconnects the grid cancels its
//!   market and waits; after `Resynced` it rebuilds from what actually rests. While trading is
//!   not `Active` no level is placed (fills are still recorded, so the levels they ask for go out
//!   when trading resumes).

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Deserializer};

use perpbot_core::strategy::{Context, Strategy, StrategyError, parse_params};
use perpbot_model::{
    ClientOrderId, ConnectionState, Direction, Event, Lots, MAX_PRICE_TICKS, MarketId, NewOrder,
    OrderStatus, PositionSide, Rounding, Side, Ticks, Timestamp, TradingState,
};

/// Name under which it is registered.
pub const NAME: &str = "grid";

/// Where the grid is centred.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Anchor {
    /// On the first mid seen; re-centred when the mid leaves the grid (`"mid"`, the default).
    #[default]
    Mid,
    /// On `center_price`, for good (`"fixed"`).
    Fixed,
}

impl<'de> Deserialize<'de> for Anchor {
    /// Hand-written so that a bad value names the key (serde's enum error would not).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Anchor, D::Error> {
        let value = String::deserialize(deserializer)?;
        match value.as_str() {
            "mid" => Ok(Anchor::Mid),
            "fixed" => Ok(Anchor::Fixed),
            other => Err(serde::de::Error::custom(format!(
                "anchor: expected \"mid\" or \"fixed\", got {other:?}"
            ))),
        }
    }
}

/// `[strategy.params]` of `grid`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Market to trade.
    pub market: u64,
    /// Size of each level (base coins; rounded down to the lot, checked against min/max lots).
    pub order_size: Decimal,
    /// Levels per side (at least 1).
    pub levels: u32,
    /// Grid spacing in ticks. Exactly one of `step_ticks` and `step_bps`.
    pub step_ticks: Option<u64>,
    /// Grid spacing in basis points of the centre price, rounded down to whole ticks (at least
    /// one) each time the grid is centred. Exactly one of `step_ticks` and `step_bps`.
    pub step_bps: Option<Decimal>,
    /// `"mid"` (default) or `"fixed"`.
    #[serde(default)]
    pub anchor: Anchor,
    /// Centre of a fixed grid (quote per coin; rounded down to the tick). Only with
    /// `anchor = "fixed"`, and required there.
    pub center_price: Option<Decimal>,
    /// A mid-anchored grid re-centres when the mid is more than this many steps from the centre.
    /// Default: `levels` (re-centre once the mid is beyond the outermost level). Only with
    /// `anchor = "mid"`.
    pub recenter_levels: Option<u32>,
    /// Leverage of opening orders (closes use the position's). Checked against the market.
    #[serde(default = "defaults::leverage")]
    pub leverage: u32,
    /// Largest `|net position|` (base coins) any level's fill may lead to, counting every resting
    /// order on that side as filled.
    pub max_inventory: Decimal,
    /// Least time (ms) between two placements of a level whose order did not fill, and between
    /// two re-centrings; also the period of the grid's revisit timer. At least 100.
    #[serde(default = "defaults::min_replace_ms")]
    pub min_replace_ms: u64,
}

mod defaults {
    pub fn leverage() -> u32 {
        2
    }
    pub fn min_replace_ms() -> u64 {
        1000
    }
}

/// The most levels per side the grid accepts (each is an order; risk limits bite far earlier).
pub const MAX_LEVELS: u32 = 1000;

/// Register `grid`.
pub fn register(registry: &mut perpbot_core::strategy::StrategyRegistry) {
    registry.register(NAME, |params| Ok(Box::new(Grid::from_params(params)?)));
}

/// How the step is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepRule {
    Ticks(u64),
    Bps(Decimal),
}

/// Where the grid's levels are: `center + k·step` ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Centre (an empty level at start).
    pub center: Ticks,
    /// Spacing between levels, in ticks (at least 1).
    pub step: u64,
}

impl Layout {
    /// Price of level `k`, or `None` when it is off the order book's price range.
    pub fn price(&self, k: i64) -> Option<Ticks> {
        let p = i128::from(self.center.0) + i128::from(k) * i128::from(self.step);
        u64::try_from(p)
            .ok()
            .filter(|p| (1..=MAX_PRICE_TICKS).contains(p))
            .map(Ticks)
    }

    /// The level a price sits on, if it is on the grid.
    pub fn level_of(&self, price: Ticks) -> Option<i64> {
        let d = i128::from(price.0) - i128::from(self.center.0);
        let step = i128::from(self.step);
        (step > 0 && d % step == 0)
            .then(|| i64::try_from(d / step).ok())
            .flatten()
    }
}

/// One level of the grid as the strategy sees it.
#[derive(Debug, Clone, Default)]
struct GridLevel {
    /// The side this level should be quoted on; `None` for the empty level(s).
    want: Option<Side>,
    /// Our order resting (or on its way) at this level.
    order: Option<ClientOrderId>,
    /// When this level's order was placed (or adopted).
    placed_at: Option<Timestamp>,
    /// Do not place before this (set when an order ended without filling).
    not_before: Timestamp,
    /// Set by an opening fill: until this time, place only as a close (the state may not show
    /// the position the fill opened yet).
    await_position: Option<Timestamp>,
}

/// The strategy.
#[derive(Debug)]
pub struct Grid {
    params: Params,
    market: MarketId,
    step: StepRule,
    recenter_levels: u32,
    lots: Lots,
    max_inventory_lots: i128,
    layout: Option<Layout>,
    levels: BTreeMap<i64, GridLevel>,
    /// True between a `Reconnecting` and the next `Resynced`.
    paused: bool,
    last_recenter: Option<Timestamp>,
}

impl Grid {
    /// Build from a params table; errors name the key. Market-dependent checks (lots, leverage,
    /// `center_price`) happen in `on_start`, against the market's spec.
    pub fn from_params(table: &toml::Table) -> Result<Grid, StrategyError> {
        let params: Params = parse_params(NAME, table)?;
        let bad = |message: &str| {
            Err(StrategyError::Params {
                strategy: NAME.into(),
                message: message.to_string(),
            })
        };
        if params.order_size <= Decimal::ZERO {
            return bad("order_size must be positive");
        }
        if params.levels == 0 || params.levels > MAX_LEVELS {
            return bad(&format!("levels must be within 1..={MAX_LEVELS}"));
        }
        let step = match (params.step_ticks, params.step_bps) {
            (Some(_), Some(_)) => {
                return bad("step_ticks and step_bps: give exactly one of them, not both");
            }
            (None, None) => {
                return bad("step_ticks or step_bps: give exactly one of them (neither is set)");
            }
            (Some(0), None) => return bad("step_ticks must be at least 1"),
            (Some(t), None) => StepRule::Ticks(t),
            (None, Some(b)) if b <= Decimal::ZERO || b > Decimal::from(10_000) => {
                return bad("step_bps must be within (0, 10000]");
            }
            (None, Some(b)) => StepRule::Bps(b),
        };
        match (params.anchor, params.center_price, params.recenter_levels) {
            (Anchor::Fixed, None, _) => {
                return bad("center_price is required with anchor = \"fixed\"");
            }
            (Anchor::Fixed, Some(p), _) if p <= Decimal::ZERO => {
                return bad("center_price must be positive");
            }
            (Anchor::Fixed, _, Some(_)) => {
                return bad("recenter_levels: a fixed grid never re-centres (anchor = \"fixed\")");
            }
            (Anchor::Mid, Some(_), _) => {
                return bad(
                    "center_price: only with anchor = \"fixed\" (a mid grid centres on the mid)",
                );
            }
            (Anchor::Mid, None, Some(0)) => return bad("recenter_levels must be at least 1"),
            _ => {}
        }
        if params.max_inventory < params.order_size {
            return bad("max_inventory must be at least order_size");
        }
        if params.leverage == 0 {
            return bad("leverage must be at least 1");
        }
        if params.min_replace_ms < 100 {
            return bad("min_replace_ms must be at least 100");
        }
        Ok(Grid {
            market: MarketId(params.market),
            step,
            recenter_levels: params.recenter_levels.unwrap_or(params.levels),
            lots: Lots::ZERO,
            max_inventory_lots: 0,
            layout: None,
            levels: BTreeMap::new(),
            paused: false,
            last_recenter: None,
            params,
        })
    }

    /// Where the levels are now; `None` until a mid-anchored grid has seen its first mid.
    pub fn layout(&self) -> Option<Layout> {
        self.layout
    }

    fn min_replace(&self) -> Duration {
        Duration::from_millis(self.params.min_replace_ms)
    }

    /// The grid centred on `center`, with the step for that centre (bps round down, at least 1).
    fn layout_at(&self, center: Ticks) -> Layout {
        let step = match self.step {
            StepRule::Ticks(t) => t,
            StepRule::Bps(bps) => Decimal::from(center.0)
                .checked_mul(bps)
                .and_then(|v| v.checked_div(Decimal::from(10_000)))
                .and_then(|v| v.floor().to_u64())
                .unwrap_or(1)
                .max(1),
        };
        Layout { center, step }
    }

    /// Fresh levels: buys below the centre, sells above, the centre empty.
    fn fresh_levels(&self) -> BTreeMap<i64, GridLevel> {
        let mut levels = BTreeMap::new();
        for k in 1..=i64::from(self.params.levels) {
            for (key, side) in [(-k, Side::Buy), (k, Side::Sell)] {
                levels.insert(
                    key,
                    GridLevel {
                        want: Some(side),
                        ..GridLevel::default()
                    },
                );
            }
        }
        levels
    }

    /// Twice the mid in ticks, when the book has both sides and is not crossed.
    fn mid_x2(&self, ctx: &Context<'_>) -> Option<u64> {
        let book = ctx.book(self.market)?;
        if book.is_crossed() {
            return None;
        }
        book.mid_x2()
    }

    /// One pass: reconcile with the state, centre (or re-centre), tidy, place what is wanted.
    fn run(&mut self, ctx: &mut Context<'_>) {
        if self.paused {
            return;
        }
        self.sync(ctx);
        if !self.anchor(ctx) {
            return;
        }
        self.tidy(ctx);
        if ctx.trading_state() != TradingState::Active {
            return;
        }
        let now = ctx.now();
        for (k, order) in self.plan(ctx, &[]) {
            let id = ctx.place(order);
            self.placed(k, id, now);
        }
    }

    /// Reconcile levels with the state: filled orders ask for their opposite level, orders that
    /// ended otherwise (or that the state does not know) free their level.
    fn sync(&mut self, ctx: &mut Context<'_>) {
        let now = ctx.now();
        let retry = self.min_replace();
        let mut filled = Vec::new();
        for (&k, level) in &mut self.levels {
            let Some(id) = level.order else { continue };
            match ctx.order(id) {
                Some(o) if o.status == OrderStatus::Filled => {
                    filled.push((k, o.request.order.side, o.request.order.direction));
                    level.want = None;
                }
                Some(o) if o.status.is_live() => continue,
                // Cancelled, rejected, expired — or unknown to the state: gone.
                Some(_) | None => {
                    level.not_before = level.placed_at.map_or(now, |t| t.plus(retry));
                }
            }
            level.order = None;
        }
        for (k, side, direction) in filled {
            let want = side.opposite();
            let target = k + side.sign();
            let level = self.levels.entry(target).or_default();
            if let Some(id) = level.order {
                let resting = ctx.order(id).map(|o| (o.request.order.side, o.status));
                match resting {
                    Some((s, _)) if s == want => continue, // already quoted on that side
                    Some((
                        _,
                        OrderStatus::PendingNew | OrderStatus::Open | OrderStatus::PartiallyFilled,
                    )) => ctx.cancel(self.market, id),
                    _ => {}
                }
            }
            level.want = Some(want);
            level.not_before = Timestamp(0);
            level.await_position = (direction == Direction::Open).then(|| now.plus(retry));
        }
    }

    /// Make sure the grid has a layout; re-centre a mid grid whose mid left it. Returns `false`
    /// when there is nothing more to do in this pass (no layout yet, or a rebuild was emitted).
    fn anchor(&mut self, ctx: &mut Context<'_>) -> bool {
        let Some(layout) = self.layout else {
            // Only a mid grid lacks a layout (a fixed one gets it in on_start).
            let Some(mid_x2) = self.mid_x2(ctx) else {
                return false;
            };
            self.layout = Some(self.layout_at(Ticks(mid_x2 / 2)));
            self.levels = self.fresh_levels();
            return true;
        };
        if self.params.anchor == Anchor::Fixed {
            return true;
        }
        let Some(mid_x2) = self.mid_x2(ctx) else {
            return true;
        };
        let off = i128::from(mid_x2) - 2 * i128::from(layout.center.0);
        let limit = 2 * i128::from(self.recenter_levels) * i128::from(layout.step);
        if off.abs() <= limit {
            return true;
        }
        self.recenter(ctx, Ticks(mid_x2 / 2));
        false
    }

    /// Cancel everything in the market and rebuild around `center` in one replace-quotes intent.
    fn recenter(&mut self, ctx: &mut Context<'_>, center: Ticks) {
        let now = ctx.now();
        if ctx.trading_state() != TradingState::Active
            || self
                .last_recenter
                .is_some_and(|t| now.since(t) < self.min_replace())
        {
            return;
        }
        let mut cancel = Vec::new();
        for o in ctx.open_orders(self.market) {
            if matches!(
                o.status,
                OrderStatus::PendingNew | OrderStatus::PendingCancel | OrderStatus::Unknown
            ) {
                return; // wait until nothing is in flight
            }
            cancel.push(o.client_id());
        }
        self.layout = Some(self.layout_at(center));
        self.levels = self.fresh_levels();
        self.last_recenter = Some(now);
        let plan = self.plan(ctx, &cancel);
        if cancel.is_empty() && plan.is_empty() {
            return;
        }
        let ids = ctx.replace_quotes(
            self.market,
            cancel,
            plan.iter().map(|(_, order)| order.clone()),
        );
        for ((k, _), id) in plan.iter().zip(ids) {
            self.placed(*k, id, now);
        }
    }

    /// Live orders in the market that no level maps: adopt those resting on an empty level of
    /// their side, cancel the rest (the grid owns its market).
    fn tidy(&mut self, ctx: &mut Context<'_>) {
        let Some(layout) = self.layout else { return };
        let ours: HashSet<ClientOrderId> = self.levels.values().filter_map(|l| l.order).collect();
        let strays: Vec<(ClientOrderId, Side, Option<Ticks>)> = ctx
            .open_orders(self.market)
            .filter(|o| !ours.contains(&o.client_id()))
            .filter(|o| matches!(o.status, OrderStatus::Open | OrderStatus::PartiallyFilled))
            .map(|o| (o.client_id(), o.request.order.side, o.request.order.price))
            .collect();
        let now = ctx.now();
        for (id, side, price) in strays {
            let level = price
                .and_then(|p| layout.level_of(p))
                .and_then(|k| self.levels.get_mut(&k))
                .filter(|l| l.order.is_none() && l.want == Some(side));
            match level {
                Some(level) => {
                    level.order = Some(id);
                    level.placed_at = Some(now);
                    level.await_position = None;
                }
                None => ctx.cancel(self.market, id),
            }
        }
    }

    /// The orders to place now for levels that want one, nearest the market first. `excluded`
    /// orders are being cancelled in the same request and no longer count as resting.
    fn plan(&self, ctx: &Context<'_>, excluded: &[ClientOrderId]) -> Vec<(i64, NewOrder)> {
        let mut out = Vec::new();
        let Some(layout) = self.layout else {
            return out;
        };
        let Some(book) = ctx.book(self.market) else {
            return out;
        };
        let (Some(bid), Some(ask)) = (book.best_bid(), book.best_ask()) else {
            return out;
        };
        if bid.price >= ask.price {
            return out;
        }
        let now = ctx.now();
        let lots = i128::from(self.lots.0);
        let max = self.max_inventory_lots;
        let held = |side| {
            ctx.position(self.market, side)
                .map_or(0, |p| i128::from(p.lots.0))
        };
        // Worst-case net position if every resting buy (sell) filled, and how much of each
        // position is still free for closing orders.
        let net = ctx.net_lots(self.market);
        let (mut worst_buy, mut worst_sell) = (net, net);
        let (mut free_long, mut free_short) = (held(PositionSide::Long), held(PositionSide::Short));
        for o in ctx
            .open_orders(self.market)
            .filter(|o| !excluded.contains(&o.client_id()))
        {
            let rest = i128::from(o.remaining().0);
            let closing = o.request.order.direction == Direction::Close;
            match o.request.order.side {
                Side::Buy => {
                    worst_buy += rest;
                    free_short -= if closing { rest } else { 0 };
                }
                Side::Sell => {
                    worst_sell -= rest;
                    free_long -= if closing { rest } else { 0 };
                }
            }
        }
        let wanted = |side: Side| {
            move |(k, l): (&i64, &GridLevel)| {
                (l.want == Some(side) && l.order.is_none() && now >= l.not_before).then_some((
                    *k,
                    side,
                    l.await_position,
                ))
            }
        };
        let buys = self.levels.iter().rev().filter_map(wanted(Side::Buy));
        let sells = self.levels.iter().filter_map(wanted(Side::Sell));
        for (k, side, await_position) in buys.chain(sells) {
            let Some(price) = layout.price(k) else {
                continue;
            };
            let (crosses, worst, free, reduces) = match side {
                Side::Buy => (
                    price >= ask.price,
                    &mut worst_buy,
                    &mut free_short,
                    PositionSide::Short,
                ),
                Side::Sell => (
                    price <= bid.price,
                    &mut worst_sell,
                    &mut free_long,
                    PositionSide::Long,
                ),
            };
            let worst_after = *worst + i128::from(side.sign()) * lots;
            let too_much = worst_after.abs() > max && worst_after.abs() > worst.abs();
            if crosses || too_much {
                continue; // deferred: crosses the book, or could push inventory past the limit
            }
            let mut order = NewOrder::limit(self.market, side, self.lots, price)
                .post_only()
                .with_leverage(self.params.leverage);
            if *free >= lots {
                *free -= lots;
                order = order.closing();
                if let Some(p) = ctx.position(self.market, reduces) {
                    order.leverage = p.leverage; // Kana refuses a close at any other leverage
                }
            } else if await_position.is_some_and(|deadline| now < deadline) {
                continue; // the position this level should close is not in the state yet
            }
            *worst = worst_after;
            out.push((k, order));
        }
        out
    }

    /// Record that level `k` now has order `id`.
    fn placed(&mut self, k: i64, id: ClientOrderId, now: Timestamp) {
        let level = self.levels.entry(k).or_default();
        level.order = Some(id);
        level.placed_at = Some(now);
        level.await_position = None;
    }
}

impl Strategy for Grid {
    fn name(&self) -> &str {
        NAME
    }

    fn on_start(&mut self, ctx: &mut Context<'_>) -> Result<(), StrategyError> {
        let bad = |message: String| StrategyError::Params {
            strategy: NAME.into(),
            message,
        };
        let spec = ctx.spec(self.market).ok_or_else(|| {
            bad(format!(
                "market: {} is not one of the configured markets",
                self.market
            ))
        })?;
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
        if let (Anchor::Fixed, Some(price)) = (self.params.anchor, self.params.center_price) {
            // A centre is neither a bid nor an ask: round down, the grid moves by under a tick.
            let center = spec
                .price_to_ticks(price, Rounding::Down)
                .map_err(|e| bad(format!("center_price: {e}")))?;
            spec.check_ticks(center)
                .map_err(|e| bad(format!("center_price: {e}")))?;
            let layout = self.layout_at(center);
            let reach = i64::from(self.params.levels);
            if layout.price(-reach).is_none() || layout.price(reach).is_none() {
                return Err(bad(format!(
                    "center_price: levels × step ({} × {} ticks) reach outside the order book's \
                     prices around {center}",
                    self.params.levels, layout.step
                )));
            }
            self.layout = Some(layout);
            self.levels = self.fresh_levels();
        }
        ctx.set_interval(self.min_replace());
        Ok(())
    }

    fn on_event(&mut self, event: &Event, ctx: &mut Context<'_>) -> Result<(), StrategyError> {
        match event {
            // Blind while the stream reconnects: pull the grid once, rebuild after Resynced.
            Event::Connection(c)
                if matches!(
                    c.state,
                    ConnectionState::Reconnecting | ConnectionState::Disconnected
                ) =>
            {
                if !self.paused {
                    self.paused = true;
                    ctx.cancel_all(Some(self.market));
                }
            }
            Event::Connection(c) if c.state == ConnectionState::Resynced => {
                self.paused = false;
                self.run(ctx);
            }
            _ if self.paused => {}
            _ if event.market().is_some_and(|m| m != self.market) => {}
            _ => self.run(ctx),
        }
        Ok(())
    }

    fn on_stop(&mut self, ctx: &mut Context<'_>) -> Result<(), StrategyError> {
        ctx.cancel_all(Some(self.market));
        Ok(())
    }
}

#[cfg(test)]
mod tests;
