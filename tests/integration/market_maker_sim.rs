//! The built-in `market_maker` against the built-in simulator, through the real Kana client, with
//! the shipped default config (seeded market): it quotes both sides, gets filled, keeps its
//! position within its limit, never sends a post-only order that would cross the book it saw,
//! and ends with a report whose PnL parts add up to the total. It runs once per documented
//! shape of Kana's records the simulator can speak (`[venue.sim.wire]`): the simulator's own,
//! the G4 hosts' (numeric timestamps, fills without order ids) and the G2 samples' (string
//! timestamps, `is_long`, fills without order ids), where every fill must be attributed to its
//! order by the bot itself.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use perpbot::clock::Clock;
use perpbot::engine::{Control, Engine};
use perpbot::model::{Event, Intent, MarketId, NewOrder, Restriction, Side};
use perpbot::sim::server::wire_shape::{PositionSideField, TimestampForm, WireShape};
use perpbot::strategy::{Context, Strategy, StrategyError};
use rust_decimal::Decimal;
use tokio::sync::mpsc;

const APT: MarketId = MarketId(1338);

#[derive(Debug, Default)]
struct Observed {
    bids: usize,
    asks: usize,
    crossing: Vec<String>,
    max_abs_net_lots: u128,
}

/// Wraps the real strategy and checks every order it asks for against the book it saw.
struct Spy {
    inner: Box<dyn Strategy>,
    seen: Arc<Mutex<Observed>>,
}

impl Spy {
    fn check(&self, ctx: &Context<'_>, from: usize) {
        let mut seen = self.seen.lock().unwrap();
        seen.max_abs_net_lots = seen.max_abs_net_lots.max(ctx.net_lots(APT).unsigned_abs());
        let book = ctx.book(APT);
        let best_bid = book.and_then(|b| b.best_bid()).map(|l| l.price);
        let best_ask = book.and_then(|b| b.best_ask()).map(|l| l.price);
        let mut check = |o: &NewOrder| {
            match o.side {
                Side::Buy => seen.bids += 1,
                Side::Sell => seen.asks += 1,
            }
            if o.restriction != Restriction::PostOnly {
                return;
            }
            let crosses = match o.side {
                Side::Buy => best_ask.is_some_and(|a| o.price >= Some(a)),
                Side::Sell => best_bid.is_some_and(|b| o.price <= Some(b)),
            };
            if crosses {
                seen.crossing
                    .push(format!("{o:?} against bid {best_bid:?} / ask {best_ask:?}"));
            }
        };
        for intent in ctx.intents().get(from..).unwrap_or_default() {
            match intent {
                Intent::Place(r) => check(&r.order),
                Intent::ReplaceQuotes { place, .. } => place.iter().for_each(|r| check(&r.order)),
                _ => {}
            }
        }
    }
}

impl Strategy for Spy {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn on_start(&mut self, ctx: &mut Context<'_>) -> Result<(), StrategyError> {
        self.inner.on_start(ctx)
    }

    fn on_event(&mut self, event: &Event, ctx: &mut Context<'_>) -> Result<(), StrategyError> {
        let from = ctx.intents().len();
        let result = self.inner.on_event(event, ctx);
        self.check(ctx, from);
        result
    }

    fn on_stop(&mut self, ctx: &mut Context<'_>) -> Result<(), StrategyError> {
        self.inner.on_stop(ctx)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn market_maker_quotes_fills_and_reports_against_the_simulator() {
    market_maker_against(WireShape::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn market_maker_on_the_g4_documented_shape_attributes_every_fill() {
    market_maker_against(WireShape {
        fill_order_ids: false,
        ..WireShape::default()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn market_maker_on_the_g2_documented_shape_attributes_every_fill() {
    market_maker_against(WireShape {
        timestamps: TimestampForm::String,
        position_side: PositionSideField::IsLong,
        fill_order_ids: false,
    })
    .await;
}

async fn market_maker_against(wire: WireShape) {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/sim.toml")).unwrap();
    let mut config = perpbot::config::Config::from_toml_str(&text).unwrap();
    config.venue.sim.wire = wire;
    config.engine.kill_switch_file = None;
    config.engine.status_interval_ms = 0;
    // A faster chain and market than the demo's, so a short run sees plenty of flow.
    config.venue.sim.block_latency_ms = 50;
    config.venue.sim.synthetic.step_ms = 100;
    let max_inventory_lots: u128 = 5_000; // max_inventory = 5 APT, 1 lot = 0.001 APT

    let inner = perpbot::strategies::builtin_registry()
        .build(&config.strategy.name, &config.strategy.params)
        .expect("the shipped params are valid");
    let seen = Arc::new(Mutex::new(Observed::default()));
    let spy = Spy {
        inner,
        seen: Arc::clone(&seen),
    };
    let clock = Clock::system();
    let session = perpbot::cli::connect_venue(&config, clock)
        .await
        .expect("the client connects to the simulator");
    let engine = Engine::new(
        session,
        Box::new(spy),
        config.risk.clone(),
        config.rate_limits.clone(),
        config.engine.clone(),
        clock,
    );
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(20)).await;
        let _ = tx.send(Control::Shutdown).await;
        std::future::pending::<()>().await;
    });
    let finished = engine.run(rx).await;
    let s = &finished.summary;
    let seen = seen.lock().unwrap();

    assert!(
        seen.bids > 0 && seen.asks > 0,
        "quotes both sides: {seen:?}"
    );
    assert!(s.fills >= 1, "gets filled: {s:#?}");
    assert_eq!(s.fills, s.maker_fills, "post-only quotes only ever make");
    assert!(
        seen.crossing.is_empty(),
        "crossing post-only orders: {:#?}",
        seen.crossing
    );
    assert!(
        seen.max_abs_net_lots <= max_inventory_lots,
        "position {} lots beyond the 5 APT limit",
        seen.max_abs_net_lots
    );
    let p = &s.performance;
    assert!(p.markets[0].max_abs_inventory <= Decimal::from(5));
    assert_eq!(
        p.spread_capture + p.inventory_pnl - p.fees + p.funding,
        p.total_pnl,
        "the parts add up: {p:#?}"
    );
    assert_eq!(p.total_pnl, p.marked_to_mid(), "two computations agree");
    // The venue's own view (realised PnL on its fills, unrealised on its positions) agrees too;
    // funding, which the venue settles into margin, is the only allowed difference.
    assert!(
        (p.total_pnl - p.funding - s.total_pnl).abs() <= Decimal::new(1, 6),
        "report {} vs venue {}",
        p.total_pnl,
        s.total_pnl
    );
    assert!(s.orders_sent > 0 && s.fill_ratio > 0.0);
    assert!(s.clean(), "nothing left open: {:?}", s.left_open);
    // Every fill found its order: by its id, or (documented shapes) by market, side, price,
    // size and time.
    let a = finished.state.anomalies();
    let (attributed, unknown) = (a.attributed_fills, a.unknown_order_fills);
    // The run report says the same.
    assert_eq!(
        (s.attributed_fills, s.unattributed_fills),
        (attributed, unknown)
    );
    assert_eq!(unknown, 0, "fills no order owned");
    if wire.fill_order_ids {
        assert_eq!(attributed, 0, "fills with ids need no matching");
    } else {
        assert_eq!(attributed, s.fills, "every id-less fill attributed: {s:#?}");
    }
}
