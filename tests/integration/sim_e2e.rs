//! The real Kana client against the built-in simulator, end to end: REST payload → BCS → Ed25519
//! → submit → commit → WebSocket events reaching a strategy. The strategy places a taker order
//! (fills against the synthetic liquidity), rests a bid, replaces it, sets a take-profit on the
//! position, and cancels; the engine cancels whatever is left at shutdown.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use perpbot::clock::Clock;
use perpbot::engine::{Control, Engine};
use perpbot::model::{
    ClientOrderId, Event, Lots, MarketId, NewOrder, OrderUpdateKind, PositionSide, Side, Ticks,
};
use perpbot::strategy::{Context, Strategy, StrategyError};
use tokio::sync::mpsc;

const APT: MarketId = MarketId(1338);

#[derive(Default)]
struct Seen {
    events: Vec<Event>,
}

/// Steps through a script as the venue confirms each action.
struct Script {
    step: u8,
    resting: Option<ClientOrderId>,
    seen: Arc<Mutex<Seen>>,
}

impl Strategy for Script {
    fn name(&self) -> &str {
        "sim_script"
    }

    fn on_event(&mut self, event: &Event, ctx: &mut Context<'_>) -> Result<(), StrategyError> {
        self.seen.lock().unwrap().events.push(event.clone());
        let Some(book) = ctx.book(APT) else {
            return Ok(());
        };
        let (Some(bid), Some(ask)) = (book.best_bid(), book.best_ask()) else {
            return Ok(());
        };
        let long = ctx
            .position(APT, PositionSide::Long)
            .map_or(Lots(0), |p| p.lots);
        match self.step {
            // 1. Take liquidity: buy 1 APT at the ask (a taker fill), and rest a bid well below.
            0 => {
                ctx.place(
                    NewOrder::limit(APT, Side::Buy, Lots(1000), Ticks(ask.price.0))
                        .with_leverage(2),
                );
                self.resting = Some(
                    ctx.place(
                        NewOrder::limit(APT, Side::Buy, Lots(500), Ticks(bid.price.0 - 50))
                            .post_only()
                            .with_leverage(2),
                    ),
                );
                self.step = 1;
            }
            // 2. Once long and the bid rests: replace the bid (one cancel-and-place transaction).
            1 if long >= Lots(1000)
                && self
                    .resting
                    .and_then(|id| ctx.order(id))
                    .is_some_and(|o| o.venue_id.is_some()) =>
            {
                let old = self.resting.take().into_iter().collect();
                let new = NewOrder::limit(APT, Side::Buy, Lots(500), Ticks(bid.price.0 - 60))
                    .post_only()
                    .with_leverage(2);
                self.resting = ctx.replace_quotes(APT, old, [new]).first().copied();
                ctx.update_take_profit(APT, PositionSide::Long, Some(Ticks(ask.price.0 + 500)));
                self.step = 2;
            }
            // 3. Once the new bid rests: cancel it.
            2 if self
                .resting
                .and_then(|id| ctx.order(id))
                .is_some_and(|o| o.venue_id.is_some()) =>
            {
                if let Some(id) = self.resting {
                    ctx.cancel(APT, id);
                }
                self.step = 3;
            }
            _ => {}
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kana_client_trades_against_the_simulator() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/sim.toml")).unwrap();
    let mut config = perpbot::config::Config::from_toml_str(&text).unwrap();
    config.engine.kill_switch_file = None;
    config.engine.status_interval_ms = 0;
    config.venue.sim.block_latency_ms = 50;
    config.venue.sim.synthetic.step_ms = 100;
    let clock = Clock::system();
    let session = perpbot::cli::connect_venue(&config, clock)
        .await
        .expect("the client connects to the simulator");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let strategy = Script {
        step: 0,
        resting: None,
        seen: Arc::clone(&seen),
    };
    let engine = Engine::new(
        session,
        Box::new(strategy),
        config.risk.clone(),
        config.rate_limits.clone(),
        config.engine.clone(),
        clock,
    );
    let (tx, rx) = mpsc::channel(1);
    let watcher = Arc::clone(&seen);
    tokio::spawn(async move {
        // Stop once the script is through (the cancel confirmed), or after 20 s.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let cancels = watcher
                .lock()
                .unwrap()
                .events
                .iter()
                .filter(|e| matches!(e, Event::Order(u) if u.kind == OrderUpdateKind::Cancelled))
                .count();
            if cancels >= 2 {
                break;
            }
        }
        let _ = tx.send(Control::Shutdown).await;
        std::future::pending::<()>().await;
    });
    let finished = engine.run(rx).await;
    let events = seen.lock().unwrap().events.clone();
    let count = |f: &dyn Fn(&Event) -> bool| events.iter().filter(|e| f(e)).count();
    assert!(
        count(&|e| matches!(e, Event::Book(_))) > 0,
        "the WebSocket book reached the strategy"
    );
    assert!(
        count(&|e| matches!(e, Event::Fill(_))) >= 1,
        "the taker order filled: {events:#?}"
    );
    let orders: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::Order(_) | Event::RiskRejected(_)))
        .collect();
    assert!(
        count(&|e| matches!(e, Event::Order(u) if u.kind == OrderUpdateKind::Accepted)) >= 2,
        "{orders:#?}"
    );
    assert!(
        count(&|e| matches!(e, Event::Order(u) if u.kind == OrderUpdateKind::Cancelled)) >= 2,
        "replace and cancel confirmed"
    );
    let long = finished
        .state
        .position(APT, PositionSide::Long)
        .expect("a long position");
    assert_eq!(long.lots, Lots(1000));
    assert!(
        long.take_profit.is_some(),
        "the take-profit was set on chain and streamed back"
    );
    assert!(
        finished.summary.clean(),
        "nothing left open: {:?}",
        finished.summary.left_open
    );
    assert_eq!(finished.summary.venue_rejections, 0);
}
