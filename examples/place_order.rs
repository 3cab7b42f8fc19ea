//! Place one post-only order through the whole pipeline — risk check, rate limiter, venue — and
//! watch what happens to it, then stop (which cancels it if it still rests).
//!
//! ```text
//! cargo run --release --example place_order                   # the paper venue
//! ```

use std::time::Duration;

use anyhow::Result;
use perpbot::clock::Clock;
use perpbot::engine::{Control, Engine};
use perpbot::model::{Event, Lots, MarketId, NewOrder, Side, Ticks};
use perpbot::strategy::{Context, Strategy, StrategyError};
use tokio::sync::mpsc;

/// Joins the best bid with the market's minimum size once, and reports every event about it.
struct PlaceOnce {
    market: MarketId,
    placed: bool,
}

impl Strategy for PlaceOnce {
    fn name(&self) -> &str {
        "place_once"
    }

    fn on_event(&mut self, event: &Event, ctx: &mut Context<'_>) -> Result<(), StrategyError> {
        match event {
            Event::Book(_) if !self.placed => {
                let (Some(book), Some(spec)) = (ctx.book(self.market), ctx.spec(self.market))
                else {
                    return Ok(());
                };
                let Some(bid) = book.best_bid() else {
                    return Ok(());
                };
                let (lots, size, price) = (
                    Lots(spec.min_lots),
                    spec.lots_to_size(Lots(spec.min_lots)),
                    spec.ticks_to_price(bid.price),
                );
                let order =
                    NewOrder::limit(self.market, Side::Buy, lots, Ticks(bid.price.0)).post_only();
                let id = ctx.place(order);
                println!("placed {id}: buy {size} @ {price}");
                self.placed = true;
            }
            Event::Order(u) => println!("order update: {:?} {:?}", u.client_id, u.kind),
            Event::Fill(f) => println!(
                "fill: {} lots @ {} ticks ({:?})",
                f.lots.0, f.price.0, f.liquidity
            ),
            Event::RiskRejected(r) => println!("refused: {:?} — {}", r.reason, r.detail),
            _ => {}
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let config = perpbot::cli::load_config(None)?;
    let clock = Clock::system();
    let session = perpbot::cli::connect_venue(&config, clock).await?;
    let market = MarketId(config.markets[0]);
    let strategy = Box::new(PlaceOnce {
        market,
        placed: false,
    });
    let engine = Engine::new(
        session,
        strategy,
        config.risk,
        config.rate_limits,
        config.engine,
        clock,
    );
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(8)).await;
        let _ = tx.send(Control::Shutdown).await;
    });
    let finished = engine.run(rx).await;
    println!(
        "left open: {:?}, fills: {}",
        finished.summary.left_open, finished.summary.fills
    );
    Ok(())
}
