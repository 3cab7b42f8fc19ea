//! Reconciliation in the engine: after a resync, a position nothing explains switches trading to
//! reduce-only and raises an alert the strategy sees — and nothing is traded to "fix" it; an
//! order the venue lists that the bot never placed is adopted and cancelled at shutdown.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use perpbot::clock::Clock;
use perpbot::engine::{Control, Engine, EngineConfig};
use perpbot::executor::RateLimitConfig;
use perpbot::model::{
    AlertKind, ConnectionEvent, ConnectionState, Direction, Event, Lots, MarketId, MarketSpec,
    OpenOrderInfo, OpenOrdersSnapshot, Position, PositionSide, PositionUpdate, Side, Ticks,
    Timestamp, TradingState, VenueOrderId,
};
use perpbot::risk::RiskConfig;
use perpbot::strategy::{Context, Strategy, StrategyError};
use perpbot::venue::{RequestOutcome, VenueCapabilities, VenueRequest, VenueSession, VenueWriter};
use rust_decimal::Decimal;
use tokio::sync::mpsc;

const M: MarketId = MarketId(1338);

#[derive(Default)]
struct Recorder(Mutex<Vec<VenueRequest>>);

#[async_trait]
impl VenueWriter for Recorder {
    fn capabilities(&self) -> VenueCapabilities {
        VenueCapabilities {
            atomic_replace: true,
            max_batch: 8,
            client_order_ids: false,
            one_restriction_per_batch: false,
            position_triggers: true,
            closing_orders: true,
            net_positions: false,
        }
    }
    async fn execute(
        &self,
        request: VenueRequest,
        _ctx: &perpbot::venue::RequestContext,
    ) -> RequestOutcome {
        self.0.lock().unwrap().push(request);
        RequestOutcome::Accepted { placed: vec![] }
    }
    async fn resolve(&self, r: &VenueRequest, _: Option<&str>) -> RequestOutcome {
        self.execute(r.clone(), &perpbot::venue::RequestContext::none())
            .await
    }
}

/// Records what it sees; never trades.
struct Watcher(Arc<Mutex<Vec<Event>>>);

impl Strategy for Watcher {
    fn name(&self) -> &str {
        "watcher"
    }
    fn on_event(&mut self, e: &Event, _: &mut Context<'_>) -> Result<(), StrategyError> {
        self.0.lock().unwrap().push(e.clone());
        Ok(())
    }
}

fn resynced() -> Event {
    Event::Connection(ConnectionEvent {
        stream: "kana-ws".into(),
        state: ConnectionState::Resynced,
        ts: Timestamp(0),
    })
}

fn long(lots: u64, now: Timestamp) -> Event {
    let mut p = Position::flat(M, PositionSide::Long, now);
    p.lots = Lots(lots);
    p.entry_price = Decimal::new(55, 1);
    p.leverage = 2;
    Event::Position(PositionUpdate {
        positions: vec![p],
        snapshot: true,
    })
}

fn open_orders(orders: Vec<OpenOrderInfo>, now: Timestamp) -> Event {
    Event::OpenOrders(OpenOrdersSnapshot {
        market: None,
        orders,
        ts: now,
    })
}

#[tokio::test(start_paused = true)]
async fn an_unexplained_position_goes_reduce_only_with_an_alert_and_no_trade() {
    let clock = Clock::starting_at(Timestamp::from_secs(1_700_000_000));
    let (tx, events) = mpsc::channel(16);
    let writer = Arc::new(Recorder::default());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let engine = Engine::new(
        VenueSession {
            markets: vec![MarketSpec::kana_apt_testnet()],
            events,
            writer: Arc::clone(&writer) as Arc<dyn VenueWriter>,
            stream_stats: None,
        },
        Box::new(Watcher(Arc::clone(&seen))),
        RiskConfig::default(),
        RateLimitConfig::default(),
        EngineConfig {
            status_interval_ms: 0,
            ..EngineConfig::default()
        },
        clock,
    );
    // Start-up: flat, and one resting order the venue knows that this bot never placed.
    let stranger = OpenOrderInfo {
        market: M,
        venue_id: VenueOrderId(99),
        side: Side::Sell,
        direction: Direction::Open,
        price: Ticks(5600),
        total: Lots(1000),
        remaining: Lots(1000),
        leverage: 2,
        updated_at: clock.now(),
    };
    tx.send(long(0, clock.now())).await.unwrap();
    tx.send(open_orders(vec![stranger.clone()], clock.now()))
        .await
        .unwrap();
    tx.send(resynced()).await.unwrap();
    // After a reconnect: long 3 APT that no order of ours could have bought.
    tx.send(long(3000, clock.now())).await.unwrap();
    tx.send(open_orders(vec![stranger], clock.now()))
        .await
        .unwrap();
    tx.send(resynced()).await.unwrap();
    let (ctl, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _ = ctl.send(Control::Shutdown).await;
        std::future::pending::<()>().await;
    });
    let finished = engine.run(rx).await;
    let s = &finished.summary;
    assert_eq!(s.reconciliation.runs, 2);
    assert_eq!(s.reconciliation.adopted, 1);
    assert_eq!(s.reconciliation.unexplained, 1);
    assert_eq!(s.trading_state, TradingState::ReduceOnly);
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter().any(|e| matches!(e, Event::Alert(a) if a.kind == AlertKind::ReconciliationMismatch && a.detail.contains("3000"))),
        "the strategy sees the alert"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::TradingState(c) if c.to == TradingState::ReduceOnly))
    );
    // Nothing was placed to "fix" it; the adopted order was cancelled at shutdown.
    let requests = writer.0.lock().unwrap();
    assert!(
        requests
            .iter()
            .all(|r| matches!(r, VenueRequest::Orders { place, .. } if place.is_empty())),
        "{requests:?}"
    );
    assert!(requests.iter().any(|r| matches!(r, VenueRequest::Orders { cancel, .. } if cancel.iter().any(|c| c.venue_id == Some(VenueOrderId(99))))));
}
