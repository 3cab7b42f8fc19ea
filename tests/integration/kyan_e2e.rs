//! The built-in `market_maker` on Kyan, end to end: the shipped `config/kyan-sim.toml` strategy
//! and limits, the real Kyan client (EIP-712-signed session, `POST /limit`, `DELETE /orders`, the
//! private WebSocket's own-order, fill, position and account feeds, the public Centrifugo book)
//! against the Kyan simulator on loopback. It quotes both sides, gets filled as a maker, never
//! asks for a take-profit or stop-loss Kyan cannot keep, and on shutdown cancels everything: the
//! simulator's own books hold none of its orders and its position is the bot's.

use std::time::Duration;

use perpbot::cli::kyan_venue::{client_config, generated_key, sim_seed};
use perpbot::clock::Clock;
use perpbot::config::{Config, Secret};
use perpbot::engine::{Control, Engine};
use perpbot::model::{MarketId, PositionSide};
use perpbot::venue::Venue;
use perpbot::venue::kyan::{KyanCredentials, KyanVenue};
use rust_decimal::Decimal;
use tokio::sync::mpsc;

const ETH: MarketId = MarketId(2);

fn shipped_config() -> Config {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/kyan-sim.toml"))
            .unwrap();
    let mut config = Config::from_toml_str(&text).unwrap();
    config.engine.kill_switch_file = None;
    config.engine.status_interval_ms = 0;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_market_maker_trades_on_the_kyan_simulator_and_leaves_nothing_resting() {
    let config = shipped_config();
    let sim = config.venue.kyan_sim.clone();
    let clock = Clock::system();
    let handle = perpbot::sim::kyan::start(sim.clone(), "127.0.0.1:0".parse().unwrap(), clock)
        .await
        .unwrap();
    let key = generated_key(sim_seed(&sim)).unwrap();
    let maker = key.address();
    let kyan = client_config(&handle, &sim, None).unwrap();
    assert!(
        kyan.one_click,
        "a market maker trades on a one-click session"
    );
    let venue = KyanVenue::new(kyan, clock).with_credentials(KyanCredentials {
        api_key: Secret::new(handle.api_key()),
        key,
    });
    let session = Box::new(venue)
        .connect(&config.market_ids())
        .await
        .expect("the Kyan client connects to the simulator");
    let caps = session.writer.capabilities();
    assert!(!caps.position_triggers && !caps.closing_orders && !caps.atomic_replace);
    let strategy = perpbot::strategies::builtin_registry()
        .build(&config.strategy.name, &config.strategy.params)
        .unwrap();
    let engine = Engine::new(
        session,
        strategy,
        config.risk.clone(),
        config.rate_limits.clone(),
        config.engine.clone(),
        clock,
    );
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(25)).await;
        let _ = tx.send(Control::Shutdown).await;
        std::future::pending::<()>().await;
    });
    let finished = engine.run(rx).await;
    // Let the last cancel's book events land before reading the simulator.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let truth = handle.truth(maker);
    let s = &finished.summary;

    assert!(s.orders_sent > 0, "{s:#?}");
    assert!(s.fills >= 1, "gets filled: {s:#?}");
    assert_eq!(s.fills, s.maker_fills, "post-only quotes only ever make");
    // Every fill record reached the bot (a fill that turns the position around is two fill
    // events: its close and its open part); the fees below prove none came twice.
    assert!(
        s.fills >= truth.fills,
        "the simulator made {} fills, the bot saw {}",
        truth.fills,
        s.fills
    );
    assert!(s.clean(), "nothing left open: {:?}", s.left_open);
    assert!(
        truth.open_orders.is_empty(),
        "resting on the simulator after shutdown: {:?}",
        truth.open_orders
    );
    // Kyan nets; the bot's hedge-mode sides must add up to the simulator's net position.
    let spec = finished
        .state
        .markets()
        .find(|m| m.id == ETH)
        .cloned()
        .unwrap();
    let net = spec.signed_size(finished.state.net_lots(ETH));
    assert_eq!(
        net,
        truth.position("ETH_USDC-PERPETUAL"),
        "bot vs simulator position"
    );
    let open_sides = [PositionSide::Long, PositionSide::Short]
        .iter()
        .filter(|side| {
            finished
                .state
                .position(ETH, **side)
                .is_some_and(|p| !p.lots.is_zero())
        })
        .count();
    assert!(open_sides <= 1, "a netting venue never shows both sides");
    // The fees the bot booked are the simulator's, to the micro-dollar.
    assert_eq!(s.performance.fees, truth.fees_paid, "{s:#?}");
    assert_eq!(
        s.performance.spread_capture + s.performance.inventory_pnl - s.performance.fees
            + s.performance.funding,
        s.performance.total_pnl
    );
    assert!(s.performance.markets[0].max_abs_inventory <= Decimal::new(5, 1));
    // The venue's view (realised PnL on its fills, unrealised on its positions at the mid) agrees
    // with the report's own accounting.
    assert!(
        (s.performance.total_pnl - s.performance.funding - s.total_pnl).abs() <= Decimal::new(1, 6),
        "report {} vs venue {}",
        s.performance.total_pnl,
        s.total_pnl
    );
    handle.stop();
}
