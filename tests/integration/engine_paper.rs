//! The engine end to end on the paper venue over a scripted book: fills, positions, fees, risk
//! rejections delivered as events, the kill switch and cancel-on-shutdown. Time is tokio's paused
//! clock, so every run is identical and takes milliseconds.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use perpbot::clock::Clock;
use perpbot::engine::{Control, Engine, EngineConfig, Finished};
use perpbot::executor::RateLimitConfig;
use perpbot::model::{
    Event, Level, Liquidity, Lots, MarketId, MarketSpec, NewOrder, OrderStatus, PositionSide,
    RejectReason, Side, Ticks, Timestamp, TradingState,
};
use perpbot::risk::RiskConfig;
use perpbot::strategy::{Context, Strategy, StrategyError};
use perpbot::venue::Venue;
use perpbot::venue::paper::{PaperConfig, PaperVenue, ScriptedSource, SourceEvent, SourceStep};
use rust_decimal_macros::dec;
use tokio::sync::mpsc;

const M: MarketId = MarketId(1338);

/// What the scripted strategy does on its n-th book event.
type Action = Box<dyn Fn(&mut Context<'_>) + Send>;

/// A strategy driven by a script: on the n-th book snapshot it runs the n-th action. It records every
/// event it sees.
struct Scripted {
    actions: Vec<Action>,
    books_seen: usize,
    seen: Arc<Mutex<Vec<Event>>>,
}

impl Strategy for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }

    fn on_event(&mut self, event: &Event, ctx: &mut Context<'_>) -> Result<(), StrategyError> {
        self.seen.lock().unwrap().push(event.clone());
        // Only the source's snapshots drive the script (the venue also sends deltas when our own
        // orders take liquidity).
        if let Event::Book(b) = event
            && b.kind == perpbot::model::BookUpdateKind::Snapshot
        {
            if let Some(action) = self.actions.get(self.books_seen) {
                action(ctx);
            }
            self.books_seen += 1;
        }
        Ok(())
    }
}

fn step(after_ms: u64, event: SourceEvent) -> SourceStep {
    SourceStep {
        after: Duration::from_millis(after_ms),
        event,
    }
}

/// Bid 5.518 / ask 5.522, 10 APT on each level.
fn snapshot() -> SourceEvent {
    SourceEvent::snapshot(
        M,
        vec![Level::new(5518, 10_000), Level::new(5517, 10_000)],
        vec![Level::new(5522, 10_000), Level::new(5523, 10_000)],
    )
}

struct Run {
    finished: Finished,
    seen: Vec<Event>,
}

async fn run(
    steps: Vec<SourceStep>,
    actions: Vec<Action>,
    risk: RiskConfig,
    controls: Vec<(u64, Control)>,
) -> Run {
    let clock = Clock::starting_at(Timestamp::from_secs(1_700_000_000));
    let venue = PaperVenue::new(
        PaperConfig::default(),
        vec![MarketSpec::kana_apt_testnet()],
        Box::new(ScriptedSource::new(steps)),
        clock,
    );
    let session = Box::new(venue)
        .connect(&[M])
        .await
        .expect("paper venue connects");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let strategy = Scripted {
        actions,
        books_seen: 0,
        seen: seen.clone(),
    };
    let config = EngineConfig {
        status_interval_ms: 0,
        ..EngineConfig::default()
    };
    let engine = Engine::new(
        session,
        Box::new(strategy),
        risk,
        RateLimitConfig::default(),
        config,
        clock,
    );
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        for (at_ms, control) in controls {
            tokio::time::sleep(Duration::from_millis(at_ms)).await;
            let _ = tx.send(control).await;
        }
        // Keep the sender alive until the engine is done.
        std::future::pending::<()>().await;
    });
    let finished = engine.run(rx).await;
    let seen = seen.lock().unwrap().clone();
    Run { finished, seen }
}

fn fills(seen: &[Event]) -> Vec<&perpbot::model::Fill> {
    seen.iter().filter_map(Event::as_fill).collect()
}

#[tokio::test(start_paused = true)]
async fn taker_and_maker_fills_update_position_and_fees() {
    let steps = vec![
        step(10, snapshot()),
        // Someone sells 20 APT through 5.510: our resting bid there fills as maker.
        step(
            100,
            SourceEvent::Trade {
                market: M,
                price: Ticks(5505),
                lots: Lots(20_000),
                aggressor: Side::Sell,
            },
        ),
        step(100, snapshot()),
    ];
    let actions: Vec<Action> = vec![Box::new(|ctx| {
        // Crosses the ask: 1 APT taker at 5.522.
        ctx.place(NewOrder::limit(M, Side::Buy, Lots(1000), Ticks(5522)));
        // Rests at 5.510 until the trade goes through it.
        ctx.place(NewOrder::limit(M, Side::Buy, Lots(1000), Ticks(5510)).post_only());
    })];
    let r = run(
        steps,
        actions,
        RiskConfig::default(),
        vec![(1_000, Control::Shutdown)],
    )
    .await;
    let f = fills(&r.seen);
    assert_eq!(f.len(), 2, "{:?}", r.seen);
    assert_eq!(
        (f[0].liquidity, f[0].price),
        (Liquidity::Taker, Ticks(5522))
    );
    assert_eq!(f[0].fee, dec!(0.002761), "0.05 % of 5.522 USDT");
    assert_eq!(
        (f[1].liquidity, f[1].price, f[1].fee),
        (Liquidity::Maker, Ticks(5510), dec!(0))
    );
    let state = &r.finished.state;
    let long = state
        .position(M, PositionSide::Long)
        .expect("long position");
    assert_eq!(long.lots, Lots(2000));
    assert_eq!(long.entry_price, dec!(5.516));
    assert_eq!(state.fees_paid(), dec!(0.002761));
    let s = &r.finished.summary;
    assert_eq!((s.fills, s.maker_fills), (2, 1));
    assert!(s.clean());
    assert_eq!(s.fees, dec!(0.002761));
}

#[tokio::test(start_paused = true)]
async fn risk_rejections_reach_the_strategy_as_events() {
    let steps = vec![step(10, snapshot())];
    let actions: Vec<Action> = vec![Box::new(|ctx| {
        ctx.place(NewOrder::limit(M, Side::Buy, Lots(1000), Ticks(4000))); // fat finger
        ctx.place(NewOrder::limit(M, Side::Buy, Lots(1000), Ticks(5510)).with_leverage(50)); // leverage
        ctx.place(NewOrder::limit(M, Side::Buy, Lots(10), Ticks(5510))); // below min lots
        ctx.place(NewOrder::limit(M, Side::Sell, Lots(1000), Ticks(5530)).closing()); // nothing to close
        ctx.place(NewOrder::limit(M, Side::Buy, Lots(1000), Ticks(5510))); // fine
    })];
    let r = run(
        steps,
        actions,
        RiskConfig::default(),
        vec![(500, Control::Shutdown)],
    )
    .await;
    let reasons: Vec<RejectReason> = r
        .seen
        .iter()
        .filter_map(|e| {
            if let Event::RiskRejected(x) = e {
                Some(x.reason)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(
        reasons,
        vec![
            RejectReason::PriceBand,
            RejectReason::Leverage,
            RejectReason::InvalidOrder,
            RejectReason::PositionLimit
        ]
    );
    let s = &r.finished.summary;
    assert_eq!(
        (s.risk_rejections, s.orders_sent),
        (4, 1),
        "only the sane order left the process"
    );
    assert!(s.clean(), "the resting order was cancelled at shutdown");
}

#[tokio::test(start_paused = true)]
async fn kill_switch_cancels_everything_and_halts() {
    let steps = vec![step(10, snapshot()), step(500, snapshot())];
    let actions: Vec<Action> = vec![
        Box::new(|ctx| {
            ctx.place(NewOrder::limit(M, Side::Buy, Lots(1000), Ticks(5510)));
            ctx.place(NewOrder::limit(M, Side::Sell, Lots(1000), Ticks(5530)));
        }),
        // After the kill: a new order is refused.
        Box::new(|ctx| {
            ctx.place(NewOrder::limit(M, Side::Buy, Lots(1000), Ticks(5510)));
        }),
    ];
    let controls = vec![
        (200, Control::Kill("test".into())),
        (800, Control::Shutdown),
    ];
    let r = run(steps, actions, RiskConfig::default(), controls).await;
    let halted = r
        .seen
        .iter()
        .any(|e| matches!(e, Event::TradingState(c) if c.to == TradingState::Halted));
    assert!(halted, "the strategy learns that trading halted");
    let cancelled = r
        .seen
        .iter()
        .filter(|e| matches!(e, Event::Order(u) if matches!(u.kind, perpbot::model::OrderUpdateKind::Cancelled)))
        .count();
    assert!(
        cancelled >= 2,
        "both resting orders cancelled: {:?}",
        r.seen
    );
    let refused = r
        .seen
        .iter()
        .any(|e| matches!(e, Event::RiskRejected(x) if x.reason == RejectReason::Halted));
    assert!(refused, "orders after the kill are refused");
    assert_eq!(r.finished.summary.trading_state, TradingState::Halted);
    assert_eq!(r.finished.state.live_order_count(None), 0);
}

#[tokio::test(start_paused = true)]
async fn finished_orders_are_dropped_from_the_state_after_ten_minutes() {
    // A bot that runs for weeks must not keep every order it ever placed.
    let mut steps = vec![step(10, snapshot()), step(10, snapshot())];
    // A fresh book every second, so its quotes are not pulled as stale.
    steps.extend((0..750).map(|_| step(1_000, snapshot())));
    let ids = Arc::new(Mutex::new(Vec::new()));
    let (placed, cancel) = (Arc::clone(&ids), Arc::clone(&ids));
    let actions: Vec<Action> = vec![
        Box::new(move |ctx| {
            for price in [5510, 5509] {
                let id = ctx.place(NewOrder::limit(M, Side::Buy, Lots(1000), Ticks(price)));
                placed.lock().unwrap().push(id);
            }
        }),
        Box::new(move |ctx| ctx.cancel(M, cancel.lock().unwrap()[0])),
    ];
    let r = run(
        steps,
        actions,
        RiskConfig::default(),
        vec![(12 * 60_000 + 30_000, Control::Shutdown)],
    )
    .await;
    let ids = ids.lock().unwrap().clone();
    let state = &r.finished.state;
    assert!(
        state.order(ids[0]).is_none(),
        "cancelled 12 minutes before the end: dropped"
    );
    assert_eq!(
        state.order(ids[1]).map(|o| o.status),
        Some(OrderStatus::Cancelled),
        "cancelled at shutdown: still there"
    );
    assert_eq!(r.finished.summary.orders_sent, 2);
    assert!(r.finished.summary.clean());
}

#[tokio::test(start_paused = true)]
async fn shutdown_cancels_open_orders_and_waits_for_confirmation() {
    let steps = vec![step(10, snapshot())];
    let actions: Vec<Action> = vec![Box::new(|ctx| {
        for i in 0..3 {
            ctx.place(NewOrder::limit(M, Side::Buy, Lots(1000), Ticks(5510 - i)));
        }
    })];
    let r = run(
        steps,
        actions,
        RiskConfig::default(),
        vec![(300, Control::Shutdown)],
    )
    .await;
    let state = &r.finished.state;
    let orders: Vec<OrderStatus> = state.live_orders(None).map(|o| o.status).collect();
    assert!(orders.is_empty(), "{orders:?}");
    assert!(r.finished.summary.clean());
    assert_eq!(r.finished.summary.orders_sent, 3);
}

#[tokio::test(start_paused = true)]
async fn loss_limit_switches_to_reduce_only_and_pulls_opening_quotes() {
    // Buy 1 APT at 5.522, then the market drops to 5.0: a 0.52 loss > max_loss 0.5.
    let steps = vec![
        step(10, snapshot()),
        step(
            100,
            SourceEvent::snapshot(
                M,
                vec![Level::new(4998, 10_000)],
                vec![Level::new(5002, 10_000)],
            ),
        ),
    ];
    let actions: Vec<Action> = vec![
        Box::new(|ctx| {
            ctx.place(NewOrder::limit(M, Side::Buy, Lots(1000), Ticks(5522)));
            ctx.place(NewOrder::limit(M, Side::Buy, Lots(1000), Ticks(5400)));
        }),
        Box::new(|ctx| {
            ctx.place(NewOrder::limit(M, Side::Buy, Lots(1000), Ticks(4990))); // opening: refused
            ctx.place(NewOrder::limit(M, Side::Sell, Lots(1000), Ticks(5010)).closing()); // reducing: ok
        }),
    ];
    let risk = RiskConfig {
        max_loss: Some(dec!(0.5)),
        on_loss_limit: perpbot::risk::LimitAction::ReduceOnly,
        ..RiskConfig::default()
    };
    let r = run(steps, actions, risk, vec![(1_000, Control::Shutdown)]).await;
    let switched = r
        .seen
        .iter()
        .any(|e| matches!(e, Event::TradingState(c) if c.to == TradingState::ReduceOnly));
    assert!(switched);
    let reasons: Vec<RejectReason> = r
        .seen
        .iter()
        .filter_map(|e| {
            if let Event::RiskRejected(x) = e {
                Some(x.reason)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(reasons, vec![RejectReason::ReduceOnly]);
    assert_eq!(r.finished.summary.trading_state, TradingState::ReduceOnly);
    assert!(r.finished.summary.clean());
}
