//! A strategy written outside the library, registered beside the built-ins and run through the
//! same command line:
//!
//! ```text
//! cargo run --release --example custom_strategy -- run --config examples/custom_strategy.toml --duration 20
//! ```

use std::process::ExitCode;

use async_trait::async_trait;
use perpbot::model::{Event, Lots, MarketId, NewOrder, OrderStatus, PositionSide, Side, Ticks};
use perpbot::strategy::{Context, Strategy, StrategyError, parse_params};

/// Keeps one post-only order one tick inside the spread while it is wide: a bid when flat, an
/// ask that closes the position when long. Its params are its fields.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PennyJumper {
    market: MarketId,
    min_spread_ticks: u64,
}

#[async_trait]
impl Strategy for PennyJumper {
    fn name(&self) -> &str {
        "penny_jumper"
    }

    async fn on_event(&mut self, ev: &Event, ctx: &mut Context<'_>) -> Result<(), StrategyError> {
        let m = self.market;
        let (Event::Book(_), Some(book), Some(spec)) = (ev, ctx.book(m), ctx.spec(m)) else {
            return Ok(());
        };
        let (Some(bid), Some(ask)) = (book.best_bid(), book.best_ask()) else {
            return Ok(());
        };
        // Long: sell it back one tick inside the ask. Flat: bid one tick above the best bid.
        let lots = Lots(spec.min_lots);
        let want = match ctx.position(m, PositionSide::Long) {
            Some(p) if p.lots >= lots => {
                NewOrder::limit(m, Side::Sell, lots, Ticks(ask.price.0 - 1)).closing()
            }
            _ => NewOrder::limit(m, Side::Buy, lots, Ticks(bid.price.0 + 1)),
        }
        .post_only();
        // Requote unless the spread is too tight, an order is in flight, or ours is already there.
        let ours: Vec<_> = ctx
            .open_orders(m)
            .map(|o| (o.client_id(), o.status, o.request.order == want))
            .collect();
        let settled = ours
            .iter()
            .all(|&(_, status, same)| status == OrderStatus::Open && !same);
        if ask.price.0 - bid.price.0 >= self.min_spread_ticks && settled {
            ctx.replace_quotes(m, ours.iter().map(|&(id, ..)| id).collect(), [want]);
        }
        Ok(())
    }
}

fn main() -> ExitCode {
    let mut registry = perpbot::strategies::builtin_registry();
    registry.register("penny_jumper", |params| {
        Ok(Box::new(parse_params::<PennyJumper>(
            "penny_jumper",
            params,
        )?))
    });
    perpbot::cli::main_with(registry)
}
