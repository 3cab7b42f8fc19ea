//! Shutdown against a venue that never confirms cancels: the engine waits a bounded time, then
//! reports exactly which orders are left, and the summary is not clean (the CLI exits 2).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use perpbot::clock::Clock;
use perpbot::engine::{Control, Engine, EngineConfig};
use perpbot::executor::RateLimitConfig;
use perpbot::model::{
    BookUpdate, BookUpdateKind, ClientOrderId, Event, Level, Lots, MarketId, MarketSpec, NewOrder,
    OrderStatus, Side, Ticks, Timestamp, VenueOrderId,
};
use perpbot::risk::RiskConfig;
use perpbot::strategy::{Context, Strategy, StrategyError};
use perpbot::venue::{RequestOutcome, VenueCapabilities, VenueRequest, VenueSession, VenueWriter};
use tokio::sync::mpsc;

const M: MarketId = MarketId(1338);

/// Accepts orders at once; cancels hang forever (a venue that went silent).
struct SilentOnCancel;

#[async_trait]
impl VenueWriter for SilentOnCancel {
    fn capabilities(&self) -> VenueCapabilities {
        VenueCapabilities {
            atomic_replace: true,
            max_batch: 8,
            client_order_ids: true,
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
        match request {
            VenueRequest::Orders { place, .. } if !place.is_empty() => RequestOutcome::Accepted {
                placed: place
                    .iter()
                    .map(|r| (r.client_id, Some(VenueOrderId(r.client_id.0.into()))))
                    .collect(),
            },
            _ => std::future::pending().await,
        }
    }
    async fn resolve(&self, _: &VenueRequest, _: Option<&str>) -> RequestOutcome {
        std::future::pending().await
    }
}

struct PlaceOnce(bool);

impl Strategy for PlaceOnce {
    fn name(&self) -> &str {
        "place_once"
    }
    fn on_event(&mut self, event: &Event, ctx: &mut Context<'_>) -> Result<(), StrategyError> {
        if matches!(event, Event::Book(_)) && !self.0 {
            self.0 = true;
            ctx.place(NewOrder::limit(M, Side::Buy, Lots(1000), Ticks(5510)));
        }
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn unconfirmed_cancels_are_reported_after_a_bounded_wait() {
    let clock = Clock::starting_at(Timestamp::from_secs(1_700_000_000));
    let (event_tx, events) = mpsc::channel(16);
    let session = VenueSession {
        markets: vec![MarketSpec::kana_apt_testnet()],
        events,
        writer: Arc::new(SilentOnCancel),
        stream_stats: None,
    };
    let config = EngineConfig {
        shutdown_timeout_ms: 2_000,
        status_interval_ms: 0,
        ..EngineConfig::default()
    };
    let engine = Engine::new(
        session,
        Box::new(PlaceOnce(false)),
        RiskConfig::default(),
        RateLimitConfig::default(),
        config,
        clock,
    );
    event_tx
        .send(Event::Book(BookUpdate {
            market: M,
            kind: BookUpdateKind::Snapshot,
            bids: vec![Level::new(5518, 10_000)],
            asks: vec![Level::new(5522, 10_000)],
            ts: clock.now(),
        }))
        .await
        .unwrap();
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        tx.send(Control::Shutdown).await.unwrap();
        std::future::pending::<()>().await;
    });
    let started = tokio::time::Instant::now();
    let finished = engine.run(rx).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(2_000) && waited < Duration::from_millis(3_000),
        "{waited:?}"
    );
    assert_eq!(finished.summary.left_open, vec![ClientOrderId(1)]);
    assert!(!finished.summary.clean());
    assert_eq!(
        finished.state.order_status(ClientOrderId(1)),
        Some(OrderStatus::PendingCancel)
    );
    drop(event_tx);
}
