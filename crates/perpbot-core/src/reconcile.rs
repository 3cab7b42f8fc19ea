//! Reconciliation: after every resynchronisation with the venue (start-up and each reconnect),
//! compare what the venue says — its complete list of our resting orders and our positions,
//! just re-read over REST — with what the bot believes, and explain every difference.
//!
//! - An order the venue lists that the bot does not know is **adopted** (marked `external`), so
//!   it is tracked, counted by risk and cancelled at shutdown: never orphaned.
//! - An order the bot believes live that the venue no longer lists (and that was acknowledged
//!   well before the list was taken) is **gone**: its cancel or fill was missed while the stream
//!   was down. It is closed locally; a missed fill shows up in the position check.
//! - A position that differs from the last reconciled position plus the fills seen since is
//!   explained as **missed fills** when orders the bot had on that side could have filled that
//!   much, or as a TP/SL trigger or a liquidation when the position shrank and one could have
//!   fired. Anything else is **unexplained**: trading switches to reduce-only and an alert is
//!   raised.
//!
//! Reconciliation only ever changes the bot's picture. It never places an order to "fix" a
//! mismatch: a bot that trades on a picture it cannot explain is how positions get opened by
//! accident.
//!
//! Orders of unknown outcome (ambiguous submits) are left to the executor, which resolves them
//! by querying the venue (by transaction hash on Kana) and never by resending.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::state::State;
use perpbot_model::{
    ClientOrderId, Direction, Fill, MarketId, OrderEvent, OrderStatus, PositionSide, Side,
    Timestamp, position_side,
};

/// How long after its acknowledgement an order must have been live before its absence from a
/// venue list counts as "gone" (the list may have been taken before the acknowledgement).
pub const ACK_GRACE: Duration = Duration::from_secs(5);

/// A position difference and how it was explained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PositionDiff {
    pub market: MarketId,
    /// Which hedge-mode position.
    pub side: PositionSide,
    /// What the bot expected (lots).
    pub expected: u64,
    /// What the venue reports (lots).
    pub venue: u64,
    /// How it was explained, or why it could not be.
    pub explanation: String,
}

/// What one reconciliation found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Findings {
    /// Venue orders the bot did not know, now tracked as external.
    pub adopted: Vec<ClientOrderId>,
    /// Orders the venue no longer lists, closed locally.
    pub gone: Vec<ClientOrderId>,
    /// Position differences explained by missed fills, TP/SL or liquidation.
    pub explained: Vec<PositionDiff>,
    /// Position differences nothing explains: trading must go reduce-only.
    pub unexplained: Vec<PositionDiff>,
    /// Positions found at the first reconciliation (held before the bot started).
    pub inherited: Vec<PositionDiff>,
}

impl Findings {
    /// True when nothing differed.
    pub fn is_clean(&self) -> bool {
        self.adopted.is_empty()
            && self.gone.is_empty()
            && self.explained.is_empty()
            && self.unexplained.is_empty()
    }
}

/// Keeps the expected positions between reconciliations.
#[derive(Debug, Clone, Default)]
pub struct Reconciler {
    /// Lots per position as of the last reconciliation plus every fill seen since.
    expected: BTreeMap<(MarketId, PositionSide), i128>,
    /// Unfilled lots of orders that were live at the last reconciliation, are live now, or were
    /// live in between (closed since, with what they had left when they closed), per position
    /// and side of the book — what missed fills could have come from. An order live at the last
    /// reconciliation and closed since counts twice; the bound errs towards explaining, as it
    /// must: a false "unexplained" stops the market maker quoting.
    could_fill: std::collections::HashMap<(MarketId, PositionSide, Side), u64>,
    /// Position changes reconciliation already took from the venue as missed fills (signed
    /// lots); the fills themselves may still stream in late and must not count twice.
    absorbed: BTreeMap<(MarketId, PositionSide), i128>,
    baseline: bool,
    reconciliations: u64,
    /// Compare net positions (a venue that nets, [`Reconciler::netting`]); the maps are then
    /// keyed by the market with [`PositionSide::Long`] and hold signed net lots.
    net: bool,
}

impl Reconciler {
    /// A reconciler that takes the venue's positions as they are at the first reconciliation.
    pub fn new() -> Reconciler {
        Reconciler::default()
    }

    /// A reconciler for a venue that keeps one net position per market (Kyan): fills count by
    /// their book side (a buy adds, a sell takes away) whatever direction the venue client
    /// inferred for them, and the venue's net (long minus short) is compared with that.
    pub fn netting() -> Reconciler {
        Reconciler {
            net: true,
            ..Reconciler::default()
        }
    }

    /// Reconciliations done.
    pub fn count(&self) -> u64 {
        self.reconciliations
    }

    /// Account for a fill the state applied.
    pub fn on_fill(&mut self, fill: &Fill) {
        let lots = i128::from(fill.lots.0);
        let (key, mut change) = if self.net {
            let signed = match fill.side {
                Side::Buy => lots,
                Side::Sell => -lots,
            };
            ((fill.market, PositionSide::Long), signed)
        } else {
            let change = match fill.direction {
                Direction::Open => lots,
                Direction::Close => -lots,
            };
            (
                (fill.market, position_side(fill.side, fill.direction)),
                change,
            )
        };
        // A late copy of a fill already taken from the venue's position: consume the credit.
        if let Some(credit) = self.absorbed.get_mut(&key)
            && credit.signum() == change.signum()
        {
            let used = if change > 0 {
                change.min(*credit)
            } else {
                change.max(*credit)
            };
            *credit -= used;
            change -= used;
        }
        *self.expected.entry(key).or_default() += change;
    }

    /// Compare `state` (which has just applied the venue's resynchronised lists) with the
    /// expectations, adjust the state's orders, and report. The caller acts on
    /// [`Findings::unexplained`].
    pub fn reconcile(&mut self, state: &mut State) -> Findings {
        self.reconciliations += 1;
        // Credits older than one reconciliation expire: the venue's figure is the reference.
        self.absorbed.clear();
        let mut findings = Findings::default();
        self.note_orders_that_could_fill(state);
        for (key, lots) in state.take_closed_unfilled() {
            self.could_fill_more(key, lots);
        }
        self.reconcile_orders(state, &mut findings);
        self.reconcile_positions(state, &mut findings);
        self.baseline = true;
        self.could_fill.clear();
        // What closed up to now (the orders found gone included) is in the venue's figure.
        drop(state.take_closed_unfilled());
        // What is live now could fill before the next reconciliation.
        self.note_orders_that_could_fill(state);
        findings
    }

    fn note_orders_that_could_fill(&mut self, state: &State) {
        for o in state.live_orders(None) {
            let r = &o.request.order;
            self.could_fill_more((r.market, r.position_side(), r.side), o.remaining().0);
        }
    }

    /// Add `lots` to what missed fills on `key` could have come from.
    fn could_fill_more(&mut self, key: (MarketId, PositionSide, Side), lots: u64) {
        let entry = self.could_fill.entry(key).or_default();
        *entry = entry.saturating_add(lots);
    }

    fn reconcile_orders(&mut self, state: &mut State, findings: &mut Findings) {
        let Some(list) = state.last_open_orders().cloned() else {
            return;
        };
        // Adopt what the venue lists and the bot does not know.
        for info in &list.orders {
            if state.client_id_for(info.venue_id).is_none() {
                let id = state.adopt_external(info);
                tracing::warn!(client_id = %id, venue_id = %info.venue_id, market = %info.market, "reconcile: adopted an order the venue lists and the bot did not know");
                findings.adopted.push(id);
            }
        }
        // Close what the bot believes live and the venue no longer lists.
        let listed: std::collections::HashSet<_> = list.orders.iter().map(|i| i.venue_id).collect();
        let gone: Vec<ClientOrderId> = state
            .live_orders(None)
            .filter(|o| list.market.is_none_or(|m| m == o.market()))
            .filter(|o| {
                matches!(
                    o.status,
                    OrderStatus::Open | OrderStatus::PartiallyFilled | OrderStatus::PendingCancel
                )
            })
            .filter(|o| o.venue_id.is_some_and(|v| !listed.contains(&v)))
            .filter(|o| list.received.since(o.updated_at) >= ACK_GRACE)
            .map(|o| o.client_id())
            .collect();
        for id in gone {
            tracing::warn!(client_id = %id, "reconcile: the venue no longer lists this order; closed locally (a missed fill shows in the position check)");
            state.apply_order_event(id, &OrderEvent::Cancelled);
            findings.gone.push(id);
        }
    }

    fn reconcile_positions(&mut self, state: &State, findings: &mut Findings) {
        if self.net {
            return self.reconcile_net_positions(state, findings);
        }
        let mut keys: Vec<(MarketId, PositionSide)> = self.expected.keys().copied().collect();
        keys.extend(state.positions().map(|p| (p.market, p.side)));
        keys.sort();
        keys.dedup();
        for (market, side) in keys {
            let position = state.position(market, side);
            let venue = position.map_or(0, |p| p.lots.0);
            let expected = self.expected.get(&(market, side)).copied().unwrap_or(0);
            let diff = |explanation: String| PositionDiff {
                market,
                side,
                expected: u64::try_from(expected.max(0)).unwrap_or(u64::MAX),
                venue,
                explanation,
            };
            if !self.baseline {
                if venue != 0 {
                    findings
                        .inherited
                        .push(diff("held when the bot started".into()));
                }
            } else if i128::from(venue) != expected {
                let delta = i128::from(venue) - expected;
                // Growing needs opening fills on the opening side of the book; shrinking needs
                // closing fills, or a TP/SL or a liquidation.
                let (opening, closing) = match side {
                    PositionSide::Long => (Side::Buy, Side::Sell),
                    PositionSide::Short => (Side::Sell, Side::Buy),
                };
                let book_side = if delta > 0 { opening } else { closing };
                let available = self
                    .could_fill
                    .get(&(market, side, book_side))
                    .copied()
                    .unwrap_or(0);
                let magnitude = delta.unsigned_abs();
                let had_trigger =
                    position.is_some_and(|p| p.take_profit.is_some() || p.stop_loss.is_some());
                if magnitude <= u128::from(available) {
                    self.absorbed.insert((market, side), delta);
                    let d = diff(format!(
                        "missed fills of {magnitude} lots on the {book_side:?} side, within the {available} lots our orders could fill"
                    ));
                    findings.explained.push(d);
                } else if delta < 0 && (had_trigger || venue == 0) {
                    let d = diff(format!(
                        "shrank by {magnitude} lots: a take-profit/stop-loss trigger or a liquidation"
                    ));
                    findings.explained.push(d);
                } else {
                    let d = diff(format!(
                        "changed by {delta} lots; our orders could account for {available} at most"
                    ));
                    findings.unexplained.push(d);
                }
            }
            // From here on the venue's figure is the reference.
            self.expected.insert((market, side), i128::from(venue));
        }
    }
}

impl Reconciler {
    /// [`Reconciler::reconcile_positions`] for a netting venue: per market, the venue's net
    /// (long minus short lots) against the last reconciled net plus every fill since.
    fn reconcile_net_positions(&mut self, state: &State, findings: &mut Findings) {
        let mut markets: Vec<MarketId> = self.expected.keys().map(|(m, _)| *m).collect();
        markets.extend(state.positions().map(|p| p.market));
        markets.sort();
        markets.dedup();
        for market in markets {
            let lots = |side| {
                state
                    .position(market, side)
                    .map_or(0, |p| i128::from(p.lots.0))
            };
            let venue = lots(PositionSide::Long) - lots(PositionSide::Short);
            let key = (market, PositionSide::Long);
            let expected = self.expected.get(&key).copied().unwrap_or(0);
            let held = |net: i128| {
                if net < 0 {
                    PositionSide::Short
                } else {
                    PositionSide::Long
                }
            };
            let diff = |explanation: String| PositionDiff {
                market,
                side: held(if venue == 0 { expected } else { venue }),
                expected: u64::try_from(expected.unsigned_abs()).unwrap_or(u64::MAX),
                venue: u64::try_from(venue.unsigned_abs()).unwrap_or(u64::MAX),
                explanation,
            };
            if !self.baseline {
                if venue != 0 {
                    findings.inherited.push(diff(format!(
                        "net {venue:+} lots held when the bot started"
                    )));
                }
            } else if venue != expected {
                let delta = venue - expected;
                let book_side = if delta > 0 { Side::Buy } else { Side::Sell };
                let available: u64 = [PositionSide::Long, PositionSide::Short]
                    .iter()
                    .map(|p| {
                        self.could_fill
                            .get(&(market, *p, book_side))
                            .copied()
                            .unwrap_or(0)
                    })
                    .sum();
                let magnitude = delta.unsigned_abs();
                if magnitude <= u128::from(available) {
                    self.absorbed.insert(key, delta);
                    findings.explained.push(diff(format!(
                        "net {expected:+} → {venue:+} lots: missed fills of {magnitude} lots on the {book_side:?} side, within the {available} lots our orders could fill"
                    )));
                } else if venue == 0 {
                    findings.explained.push(diff(format!(
                        "net {expected:+} → 0 lots: closed by the venue (a liquidation)"
                    )));
                } else {
                    findings.unexplained.push(diff(format!(
                        "net {expected:+} → {venue:+} lots: changed by {delta:+} lots; our orders could account for {available} at most"
                    )));
                }
            }
            self.expected.insert(key, venue);
        }
    }
}

/// The venue's list of our resting orders as last received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedOpenOrders {
    /// Market covered, or `None` for all.
    pub market: Option<MarketId>,
    pub orders: Vec<perpbot_model::OpenOrderInfo>,
    /// When the bot received it (its clock).
    pub received: Timestamp,
}

#[cfg(test)]
mod tests;
