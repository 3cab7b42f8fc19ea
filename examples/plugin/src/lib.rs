//! A strategy of its own: the penny jumper keeps one post-only order one tick inside a wide
//! spread. [`register`] adds it to a registry beside perpbot's built-ins; `main.rs` runs it
//! through perpbot's command line; the tests below drive it without an engine.

use perpbot::model::{Event, Lots, MarketId, NewOrder, OrderStatus, PositionSide, Side, Ticks};
use perpbot::strategy::{Context, Strategy, StrategyError, StrategyRegistry, parse_params};

/// Keeps one post-only order one tick inside the spread while it is wide: a bid when flat, an
/// ask that closes the position when long. Its params are its fields (`[strategy.params]`).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PennyJumper {
    /// The market it trades.
    pub market: MarketId,
    /// It quotes only while the spread is at least this wide.
    pub min_spread_ticks: u64,
}

impl Strategy for PennyJumper {
    fn name(&self) -> &str {
        "penny_jumper"
    }

    fn on_event(&mut self, ev: &Event, ctx: &mut Context<'_>) -> Result<(), StrategyError> {
        let m = self.market;
        let (Event::Book(_), Some(book), Some(spec)) = (ev, ctx.book(m), ctx.spec(m)) else {
            return Ok(());
        };
        let (Some(bid), Some(ask)) = (book.best_bid(), book.best_ask()) else {
            return Ok(());
        };
        if ask.price.0.saturating_sub(bid.price.0) < self.min_spread_ticks.max(2) {
            return Ok(());
        }
        // Long: sell it back one tick inside the ask. Flat: bid one tick above the best bid.
        let lots = Lots(spec.min_lots);
        let want = match ctx.position(m, PositionSide::Long) {
            Some(p) if p.lots >= lots => {
                NewOrder::limit(m, Side::Sell, lots, Ticks(ask.price.0 - 1)).closing()
            }
            _ => NewOrder::limit(m, Side::Buy, lots, Ticks(bid.price.0 + 1)),
        }
        .post_only();
        // Requote unless an order is in flight or ours is already there.
        let ours: Vec<_> = ctx
            .open_orders(m)
            .map(|o| (o.client_id(), o.status, o.request.order == want))
            .collect();
        let settled = ours
            .iter()
            .all(|&(_, status, same)| status == OrderStatus::Open && !same);
        if settled {
            ctx.replace_quotes(m, ours.iter().map(|&(id, ..)| id).collect(), [want]);
        }
        Ok(())
    }
}

/// Add the penny jumper to `registry` under `penny_jumper`.
pub fn register(registry: &mut StrategyRegistry) {
    registry.register("penny_jumper", |params| {
        Ok(Box::new(parse_params::<PennyJumper>(
            "penny_jumper",
            params,
        )?))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use perpbot::model::{
        BookUpdate, BookUpdateKind, Intent, Level, MarketSpec, Restriction, Timestamp, TradingState,
    };
    use perpbot::state::State;
    use perpbot::strategy::Outbox;

    fn book(bid: u64, ask: u64) -> Event {
        let level = |price| Level {
            price: Ticks(price),
            lots: Lots(1000),
        };
        Event::Book(BookUpdate {
            market: MarketSpec::kana_apt_testnet().id,
            kind: BookUpdateKind::Snapshot,
            bids: vec![level(bid)],
            asks: vec![level(ask)],
            ts: Timestamp(1),
        })
    }

    /// What the strategy emits for one book event on a fresh state.
    fn intents_after(bid: u64, ask: u64) -> Vec<Intent> {
        let spec = MarketSpec::kana_apt_testnet();
        let mut strategy = PennyJumper {
            market: spec.id,
            min_spread_ticks: 3,
        };
        let mut state = State::new(&[spec]);
        let event = book(bid, ask);
        state.apply(&event);
        let mut outbox = Outbox::new(1);
        let mut ctx = Context::new(&state, TradingState::Active, &mut outbox);
        strategy.on_event(&event, &mut ctx).unwrap();
        outbox.intents
    }

    #[test]
    fn a_wide_spread_gets_a_post_only_bid_one_tick_inside() {
        let intents = intents_after(5_000, 5_010);
        let [Intent::ReplaceQuotes { cancel, place, .. }] = intents.as_slice() else {
            panic!("one requote expected: {intents:?}")
        };
        assert!(cancel.is_empty());
        let [order] = place.as_slice() else {
            panic!("{place:?}")
        };
        assert_eq!(order.order.side, Side::Buy);
        assert_eq!(order.order.price, Some(Ticks(5_001)));
        assert_eq!(order.order.restriction, Restriction::PostOnly);
    }

    #[test]
    fn a_tight_spread_is_left_alone() {
        assert!(intents_after(5_000, 5_002).is_empty());
    }

    #[test]
    fn it_registers_beside_the_builtins_and_refuses_bad_params() {
        let mut registry = perpbot::strategies::builtin_registry();
        register(&mut registry);
        let params: toml::Table = toml::from_str("market = 1338\nmin_spread_ticks = 3").unwrap();
        assert!(registry.build("penny_jumper", &params).is_ok());
        let names: Vec<&str> = registry.names().collect();
        assert!(
            names.contains(&"market_maker") && names.contains(&"penny_jumper"),
            "{names:?}"
        );
        let bad: toml::Table = toml::from_str("market = 1338\nspread = 3").unwrap();
        let err = registry.build("penny_jumper", &bad).err().expect("refused");
        assert!(err.to_string().contains("spread"), "{err}");
    }
}
