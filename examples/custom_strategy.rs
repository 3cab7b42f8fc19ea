//! A strategy written outside the library, registered beside the built-ins and run through the
//! same command line:
//!
//! ```text
//! cargo run --release --example custom_strategy -- run --config examples/custom_strategy.toml --duration 20
//! ```

use std::process::ExitCode;

use async_trait::async_trait;
use perpbot::model::{Event, Lots, MarketId, NewOrder, OrderStatus, PositionSide, Side, Ticks};
use perpbot::strategy::{Context, Strategy, StrategyError, StrategyRegistry, parse_params};

/// Keeps one post-only order one tick inside the spread while it is wide: a bid when flat, an
/// ask that closes the position when long.
struct PennyJumper {
    params: Params,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    market: u64,
    min_spread_ticks: u64,
}

#[async_trait]
impl Strategy for PennyJumper {
    fn name(&self) -> &str {
        "penny_jumper"
    }

    async fn on_event(
        &mut self,
        event: &Event,
        ctx: &mut Context<'_>,
    ) -> Result<(), StrategyError> {
        let market = MarketId(self.params.market);
        let Event::Book(_) = event else { return Ok(()) };
        let (Some(book), Some(spec)) = (ctx.book(market), ctx.spec(market)) else {
            return Ok(());
        };
        let (Some(bid), Some(ask)) = (book.best_bid(), book.best_ask()) else {
            return Ok(());
        };
        if ask.price.0 - bid.price.0 < self.params.min_spread_ticks {
            return Ok(());
        }
        // Long: sell it back one tick inside the ask. Flat: bid one tick above the best bid.
        let lots = Lots(spec.min_lots);
        let held = ctx
            .position(market, PositionSide::Long)
            .map_or(Lots(0), |p| p.lots);
        let want = if held >= lots {
            NewOrder::limit(market, Side::Sell, lots, Ticks(ask.price.0 - 1)).closing()
        } else {
            NewOrder::limit(market, Side::Buy, lots, Ticks(bid.price.0 + 1))
        };
        let want = want.post_only();
        if ctx
            .open_orders(market)
            .any(|o| o.status != OrderStatus::Open || o.request.order == want)
        {
            return Ok(()); // in flight, or already where we want it
        }
        let stale: Vec<_> = ctx.open_orders(market).map(|o| o.client_id()).collect();
        ctx.replace_quotes(market, stale, [want]);
        Ok(())
    }
}

fn main() -> ExitCode {
    let mut registry = StrategyRegistry::with_builtins();
    registry.register("penny_jumper", |params| {
        Ok(Box::new(PennyJumper {
            params: parse_params("penny_jumper", params)?,
        }))
    });
    perpbot::cli::main_with(registry)
}
