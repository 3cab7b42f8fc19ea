//! The dead-man's switch: quotes are cancelled within a bounded time when the strategy panics,
//! when the market data goes stale, and when the engine itself stalls.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use perpbot::clock::Clock;
use perpbot::engine::{Control, Engine, EngineConfig, Finished};
use perpbot::executor::RateLimitConfig;
use perpbot::model::{
    BookUpdate, BookUpdateKind, Event, Level, Lots, MarketId, MarketSpec, NewOrder, Side, Ticks,
    Timestamp, TradingState, VenueOrderId,
};
use perpbot::risk::RiskConfig;
use perpbot::strategy::{Context, Strategy, StrategyError};
use perpbot::venue::{RequestOutcome, VenueCapabilities, VenueRequest, VenueSession, VenueWriter};
use tokio::sync::mpsc;

const M: MarketId = MarketId(1338);

/// Accepts every request at once and records it with the (real) time it arrived.
#[derive(Default)]
struct Recorder {
    requests: Mutex<Vec<(Instant, VenueRequest)>>,
}

impl Recorder {
    fn cancels(&self) -> Vec<Instant> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, r)| r.is_cancel_only())
            .map(|(t, _)| *t)
            .collect()
    }
}

#[async_trait]
impl VenueWriter for Recorder {
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
        let placed = match &request {
            VenueRequest::Orders { place, .. } => place
                .iter()
                .map(|r| (r.client_id, Some(VenueOrderId(r.client_id.0.into()))))
                .collect(),
            _ => Vec::new(),
        };
        self.requests
            .lock()
            .unwrap()
            .push((Instant::now(), request));
        RequestOutcome::Accepted { placed }
    }
    async fn resolve(&self, r: &VenueRequest, _: Option<&str>) -> RequestOutcome {
        self.execute(r.clone(), &perpbot::venue::RequestContext::none())
            .await
    }
}

/// What the test strategy does on its second book event, after resting a bid on the first.
#[derive(Clone, Copy)]
enum Then {
    Nothing,
    Panic,
    Block(Duration),
}

struct Misbehaving {
    books: usize,
    then: Then,
}

impl Strategy for Misbehaving {
    fn name(&self) -> &str {
        "misbehaving"
    }
    fn on_event(&mut self, event: &Event, ctx: &mut Context<'_>) -> Result<(), StrategyError> {
        if !matches!(event, Event::Book(_)) {
            return Ok(());
        }
        self.books += 1;
        match (self.books, self.then) {
            (1, _) => {
                ctx.place(NewOrder::limit(M, Side::Buy, Lots(1000), Ticks(5510)).post_only());
            }
            (2, Then::Panic) => panic!("index out of bounds in my strategy"),
            (2, Then::Block(d)) => std::thread::sleep(d),
            _ => {}
        }
        Ok(())
    }
}

fn book(ts: Timestamp) -> Event {
    Event::Book(BookUpdate {
        market: M,
        kind: BookUpdateKind::Snapshot,
        bids: vec![Level::new(5518, 10_000)],
        asks: vec![Level::new(5522, 10_000)],
        ts,
    })
}

struct Setup {
    engine: Engine,
    events: mpsc::Sender<Event>,
    writer: Arc<Recorder>,
    clock: Clock,
}

fn setup(then: Then, risk: RiskConfig, config: EngineConfig) -> Setup {
    let clock = Clock::starting_at(Timestamp::from_secs(1_700_000_000));
    let (events, rx) = mpsc::channel(16);
    let writer = Arc::new(Recorder::default());
    let session = VenueSession {
        markets: vec![MarketSpec::kana_apt_testnet()],
        events: rx,
        writer: Arc::clone(&writer) as Arc<dyn VenueWriter>,
        stream_stats: None,
    };
    let engine = Engine::new(
        session,
        Box::new(Misbehaving { books: 0, then }),
        risk,
        RateLimitConfig::default(),
        config,
        clock,
    );
    Setup {
        engine,
        events,
        writer,
        clock,
    }
}

fn quiet() -> EngineConfig {
    EngineConfig {
        status_interval_ms: 0,
        ..EngineConfig::default()
    }
}

async fn run_for(engine: Engine, after: Duration) -> Finished {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        let _ = tx.send(Control::Shutdown).await;
        std::future::pending::<()>().await;
    });
    engine.run(rx).await
}

#[tokio::test(start_paused = true)]
async fn a_panicking_strategy_is_stopped_and_everything_cancelled_and_halted() {
    let s = setup(Then::Panic, RiskConfig::default(), quiet());
    let (events, clock) = (s.events.clone(), s.clock);
    tokio::spawn(async move {
        events.send(book(clock.now())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        events.send(book(clock.now())).await.unwrap();
        // The engine keeps running (halted) and keeps applying events.
        tokio::time::sleep(Duration::from_millis(100)).await;
        events.send(book(clock.now())).await.unwrap();
        std::future::pending::<()>().await;
    });
    let finished = run_for(s.engine, Duration::from_secs(1)).await;
    let summary = &finished.summary;
    let failure = summary.strategy_failure.as_deref().unwrap_or_default();
    assert!(
        failure.contains("index out of bounds in my strategy"),
        "{summary:#?}"
    );
    assert_eq!(summary.trading_state, TradingState::Halted);
    assert_eq!(s.writer.cancels().len(), 1, "the bid was cancelled once");
    assert!(summary.clean(), "{:?}", summary.left_open);
}

#[tokio::test(start_paused = true)]
async fn quotes_on_a_stale_book_are_pulled() {
    let risk = RiskConfig {
        stale_book_ms: 2_000,
        ..RiskConfig::default()
    };
    let s = setup(Then::Nothing, risk, quiet());
    let (events, clock) = (s.events.clone(), s.clock);
    tokio::spawn(async move {
        events.send(book(clock.now())).await.unwrap();
        // Then the venue goes quiet.
        std::future::pending::<()>().await;
    });
    let writer = Arc::clone(&s.writer);
    let started = Instant::now();
    let (tx, rx) = mpsc::channel(1);
    let watcher = Arc::clone(&writer);
    let pulled_at = Arc::new(Mutex::new(None));
    let pulled = Arc::clone(&pulled_at);
    tokio::spawn(async move {
        let t0 = tokio::time::Instant::now();
        while watcher.cancels().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        *pulled.lock().unwrap() = Some(t0.elapsed());
        let _ = tx.send(Control::Shutdown).await;
        std::future::pending::<()>().await;
    });
    let finished = s.engine.run(rx).await;
    let after = pulled_at.lock().unwrap().expect("the quote was pulled");
    assert!(
        after > Duration::from_millis(2_000) && after <= Duration::from_millis(2_600),
        "pulled {after:?} after the last book"
    );
    assert!(finished.summary.clean());
    assert!(started.elapsed() < Duration::from_secs(5), "paused time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_engine_has_its_orders_cancelled_by_the_watchdog() {
    let config = EngineConfig {
        stall_timeout_ms: 500,
        ..quiet()
    };
    let blocked_for = Duration::from_millis(2_500);
    let s = setup(Then::Block(blocked_for), RiskConfig::default(), config);
    let (events, clock) = (s.events.clone(), s.clock);
    let blocked_at = Arc::new(Mutex::new(None));
    let mark = Arc::clone(&blocked_at);
    tokio::spawn(async move {
        events.send(book(clock.now())).await.unwrap();
        // Let the bid rest and the engine beat with it live.
        tokio::time::sleep(Duration::from_millis(600)).await;
        *mark.lock().unwrap() = Some(Instant::now());
        events.send(book(clock.now())).await.unwrap(); // the strategy blocks the engine here
        std::future::pending::<()>().await;
    });
    let finished = run_for(s.engine, Duration::from_secs(4)).await;
    let blocked = blocked_at
        .lock()
        .unwrap()
        .expect("the blocking event was sent");
    let cancels = s.writer.cancels();
    let first = cancels.first().expect("the watchdog cancelled the bid");
    let delay = first.duration_since(blocked);
    assert!(
        delay < blocked_for,
        "cancelled {delay:?} into a {blocked_for:?} stall, before the engine came back"
    );
    assert!(finished.summary.clean());
}
