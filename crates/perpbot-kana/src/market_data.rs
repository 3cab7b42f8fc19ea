//! Kana's public market data alone — books, trades, funding — with no account, no key and no
//! writer: what a recorder or a paper bot on the live book needs.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::{KanaConfig, Secret};
use crate::decode::{KanaDecoder, KanaUnits};
use crate::rest::{KanaRest, RetryPolicy};
use crate::ws::{self, FrameTap, Subscriptions, WsConfig};
use perpbot_aptos::node::ensure_crypto_provider;
use perpbot_core::venue::VenueError;
use perpbot_core::venue::paper::{LiveFeed, market_data_of};
use perpbot_model::clock::Clock;
use perpbot_model::{Event, MarketId, MarketSpec, OrderBook};

const NAME: &str = "kana";

/// A running market-data subscription.
pub struct MarketData {
    /// The markets, as Kana describes them (`getMarketInfo`).
    pub markets: Vec<MarketSpec>,
    /// Decoded events (the receiver must be drained, or the stream slows to its pace).
    pub events: mpsc::Receiver<Event>,
    /// The WebSocket task; abort it to stop.
    pub task: JoinHandle<()>,
}

/// Subscribe to the `orderbook` and `recent_trades` of `markets` and to `live_funding_rate`, on
/// the config's WebSocket, handing every raw frame to `tap` with its receive time. The REST API
/// (for the markets' specs) takes `api_key` when the host asks for one.
pub async fn subscribe(
    config: &KanaConfig,
    api_key: Option<Secret>,
    markets: &[MarketId],
    clock: Clock,
    tap: Option<FrameTap>,
) -> Result<MarketData, VenueError> {
    ensure_crypto_provider();
    let timeout = Duration::from_millis(config.request_timeout_ms);
    let rest =
        KanaRest::new(&config.rest_url, api_key, timeout, RetryPolicy::default()).map_err(|e| {
            VenueError::Config {
                venue: NAME,
                detail: e.to_string(),
            }
        })?;
    let mut specs = Vec::with_capacity(markets.len());
    for &market in markets {
        let spec = rest.market_spec(market).await.map_err(|e| {
            if e.status() == Some(404) {
                VenueError::UnknownMarket {
                    venue: NAME,
                    market,
                }
            } else {
                VenueError::Connection {
                    venue: NAME,
                    detail: format!("getMarketInfo {market}: {e}"),
                }
            }
        })?;
        specs.push(spec);
    }
    let decoder =
        KanaDecoder::new(specs.clone(), KanaUnits::Auto).map_err(|e| VenueError::Config {
            venue: NAME,
            detail: e.to_string(),
        })?;
    let subs = Subscriptions {
        markets: markets.to_vec(),
        funding: true,
        ..Subscriptions::default()
    };
    let ws = WsConfig {
        url: config.ws_url.clone(),
        ..WsConfig::default()
    };
    let (tx, events) = mpsc::channel(4096);
    let (task, _stats) = ws::spawn_tapped(ws, subs, decoder, None, tx, clock, tap);
    Ok(MarketData {
        markets: specs,
        events,
        task,
    })
}

/// The units the decoder is told for a recording's manifest (Kana's are detected per market).
pub const UNITS: &str = "auto";

/// Kana's public market data as a live feed for the paper venue (paper trading on the real
/// book): books and trades go to the paper exchange, funding and the stream's connection state
/// to the bot as they are. Nothing here needs a key. The task ends when either side is gone.
pub fn paper_feed(mut events: mpsc::Receiver<Event>) -> (mpsc::Receiver<LiveFeed>, JoinHandle<()>) {
    let (tx, feed) = mpsc::channel(4096);
    let task = tokio::spawn(async move {
        // The feed's own copy of each book, for the mid a trade without a side is read against.
        let mut books: std::collections::HashMap<MarketId, OrderBook> =
            std::collections::HashMap::new();
        let mut sources = Vec::new();
        while let Some(event) = events.recv().await {
            if let Event::Book(b) = &event {
                books.entry(b.market).or_default().apply_update(b);
            }
            sources.clear();
            market_data_of(&event, |m| books.get(&m)?.mid_x2(), &mut sources);
            let items: Vec<LiveFeed> = if sources.is_empty() {
                match event {
                    Event::Funding(_) | Event::Connection(_) | Event::BestPrice(_) => {
                        vec![LiveFeed::Bot(event)]
                    }
                    _ => Vec::new(),
                }
            } else {
                sources.drain(..).map(LiveFeed::Market).collect()
            };
            for item in items {
                if tx.send(item).await.is_err() {
                    return;
                }
            }
        }
    });
    (feed, task)
}
