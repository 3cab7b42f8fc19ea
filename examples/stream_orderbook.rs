//! Stream a venue's order book and print the top of book — the smallest use of the venue API.
//!
//! ```text
//! cargo run --release --example stream_orderbook                       # the paper venue, 10 s
//! cargo run --release --example stream_orderbook -- config/testnet.toml 30
//! ```

use std::time::Duration;

use anyhow::Result;
use perpbot::clock::Clock;
use perpbot::model::Event;

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let config = perpbot::cli::load_config(args.next().as_deref().map(std::path::Path::new))?;
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(10);
    let mut session = perpbot::cli::connect_venue(&config, Clock::system()).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, session.events.recv()).await {
        let Event::Book(update) = event else { continue };
        let Some(spec) = session.markets.iter().find(|s| s.id == update.market) else {
            continue;
        };
        // Updates may be deltas; keep it simple and print the best levels this update carries.
        let bid = update.bids.iter().map(|l| l.price).max();
        let ask = update.asks.iter().map(|l| l.price).min();
        let show = |t: Option<perpbot::model::Ticks>| {
            t.map_or("-".to_string(), |t| spec.ticks_to_price(t).to_string())
        };
        println!(
            "{} {:?}: bid {} / ask {}",
            spec.name,
            update.kind,
            show(bid),
            show(ask)
        );
    }
    Ok(())
}
