//! Sums over the live orders that every pre-trade check reads: each market side's resting size,
//! the notional of every opening order, and the margin of the opening orders the venue's last
//! balance does not count yet. They were a pass over the live orders per check — the largest
//! single piece of code a backtest ran per order (BENCHMARKS.md, eighth session), and grew with
//! every resting order — and are now kept as orders come, change and go: when an order's
//! liveness or remaining size changes the state moves its contribution (an acknowledgement or a
//! cancel request changes neither, so costs nothing), and a balance report, which moves the line
//! between margin the venue counts and margin it does not, has them counted afresh. A debug
//! assertion compares them with a fresh count on every read.

use litemap::LiteMap;
use perpbot_model::{Direction, Lots, MarketId, MarketSpec, NewOrder, Order, Side, Timestamp};

use crate::atto::{self, Round};

/// What one live order adds to the sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Contribution {
    market: MarketId,
    side: Side,
    direction: Direction,
    /// Remaining size.
    lots: u64,
    /// Notional at its price when it opens (an opening limit order of a known market), in
    /// [`atto`] units rounded up; otherwise zero.
    notional: i128,
    /// Its margin when it opens and the venue's last balance predates it, in [`atto`] units
    /// rounded up; otherwise zero.
    unseen_margin: i128,
}

impl Contribution {
    /// `order`'s part, or `None` when it is not live; `spec` is its market's, `balance_at` when
    /// the venue last reported the balance.
    pub(crate) fn of(
        order: &Order,
        spec: Option<&MarketSpec>,
        balance_at: Option<Timestamp>,
    ) -> Option<Contribution> {
        Contribution::of_as(
            order,
            (order.status.is_live(), order.remaining()),
            spec,
            balance_at,
        )
    }

    /// [`Contribution::of`] for `order` as it was when its liveness and remaining size were
    /// `was` (the rest of an order does not change).
    pub(crate) fn of_as(
        order: &Order,
        was: (bool, Lots),
        spec: Option<&MarketSpec>,
        balance_at: Option<Timestamp>,
    ) -> Option<Contribution> {
        let (live, remaining) = was;
        if !live {
            return None;
        }
        let unseen = balance_at.is_some_and(|at| order.created_at > at);
        Some(Contribution::of_new(
            &order.request.order,
            remaining,
            spec,
            unseen,
        ))
    }

    /// The part of `lots` of order `o`, not yet tracked, whose margin the venue's balance
    /// counts unless `unseen`.
    pub(crate) fn of_new(
        o: &NewOrder,
        lots: Lots,
        spec: Option<&MarketSpec>,
        unseen: bool,
    ) -> Contribution {
        let (mut notional, mut unseen_margin) = (0, 0);
        if let (Direction::Open, Some(price), Some(spec)) = (o.direction, o.price, spec) {
            notional = atto::notional(spec, lots, price, Round::Up);
            if unseen {
                unseen_margin = atto::margin(spec, lots, price, o.leverage, Round::Up);
            }
        }
        Contribution {
            market: o.market,
            side: o.side,
            direction: o.direction,
            lots: lots.0,
            notional,
            unseen_margin,
        }
    }

    /// Whether it rests on `market`'s `side`.
    pub(crate) fn is_on(&self, market: MarketId, side: Side) -> bool {
        self.market == market && self.side == side
    }

    /// Remaining size, and whether it opens.
    pub(crate) fn lots(&self) -> (u64, Direction) {
        (self.lots, self.direction)
    }

    /// Notional when it opens ([`atto`], rounded up).
    pub(crate) fn notional(&self) -> i128 {
        self.notional
    }

    /// Margin the venue's balance does not count yet ([`atto`], rounded up).
    pub(crate) fn unseen_margin(&self) -> i128 {
        self.unseen_margin
    }
}

/// The sums. Added and taken away with wrapping arithmetic, so that taking a contribution out
/// exactly undoes adding it; real sizes and notionals stay far below the types' limits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LiveSums {
    /// Remaining size per market and side (`true`: buy): (opening, closing). No entry for a
    /// side with nothing.
    lots: LiteMap<(MarketId, bool), (u64, u64)>,
    opening_notional: i128,
    unseen_margin: i128,
}

impl LiveSums {
    /// The sums over `contributions`.
    pub(crate) fn of(contributions: impl Iterator<Item = Contribution>) -> LiveSums {
        let mut sums = LiveSums::default();
        for c in contributions {
            sums.add(c);
        }
        sums
    }

    /// Count an order in.
    pub(crate) fn add(&mut self, c: Contribution) {
        if c.lots > 0 {
            let entry = self.lots.entry(key(c.market, c.side)).or_default();
            match c.direction {
                Direction::Open => entry.0 = entry.0.wrapping_add(c.lots),
                Direction::Close => entry.1 = entry.1.wrapping_add(c.lots),
            }
        }
        self.opening_notional = self.opening_notional.wrapping_add(c.notional);
        self.unseen_margin = self.unseen_margin.wrapping_add(c.unseen_margin);
    }

    /// Count an order out (it was counted in with the same contribution).
    pub(crate) fn sub(&mut self, c: Contribution) {
        let key = key(c.market, c.side);
        if c.lots > 0
            && let Some(entry) = self.lots.get_mut(&key)
        {
            match c.direction {
                Direction::Open => entry.0 = entry.0.wrapping_sub(c.lots),
                Direction::Close => entry.1 = entry.1.wrapping_sub(c.lots),
            }
            if *entry == (0, 0) {
                self.lots.remove(&key);
            }
        }
        self.opening_notional = self.opening_notional.wrapping_sub(c.notional);
        self.unseen_margin = self.unseen_margin.wrapping_sub(c.unseen_margin);
    }

    /// Resting size on `market`'s `side`: (opening, closing).
    pub(crate) fn lots(&self, market: MarketId, side: Side) -> (u64, u64) {
        self.lots
            .get(&key(market, side))
            .copied()
            .unwrap_or_default()
    }

    /// Notional of every opening order at its price ([`atto`], each rounded up).
    pub(crate) fn opening_notional(&self) -> i128 {
        self.opening_notional
    }

    /// Margin of the opening orders the venue's last balance does not count yet ([`atto`],
    /// each rounded up); zero before any balance.
    pub(crate) fn unseen_margin(&self) -> i128 {
        self.unseen_margin
    }
}

/// The sums' key for a market side (`Side` has no order).
fn key(market: MarketId, side: Side) -> (MarketId, bool) {
    (market, side == Side::Buy)
}
