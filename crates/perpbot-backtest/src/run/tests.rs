//! A backtest over synthetic Kana frames: it trades, it is deterministic, and its models matter.

use std::time::Duration;

use rust_decimal::Decimal;

use super::*;
use crate::models::{FeedLatency, OrderLatency};
use perpbot_model::{MarketSpec, Ticks};

const T0: Timestamp = Timestamp(1_750_000_000_000_000_000);

/// The market maker of `config/sim.toml`, with its risk limits and rate limits.
fn setup(models: Models) -> Setup {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/sim.toml"
    ))
    .unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    let params = table["strategy"]["params"].as_table().unwrap().clone();
    let risk: RiskConfig = table["risk"].clone().try_into().unwrap();
    let strategy = perpbot_strategies::builtin_registry()
        .build("market_maker", &params)
        .unwrap();
    Setup {
        manifest: Manifest {
            venue: "kana".into(),
            markets: vec![MarketSpec::kana_apt_testnet()],
            units: "human".into(),
            source: "synthetic".into(),
        },
        strategy,
        risk,
        rate_limits: RateLimitConfig::default(),
        engine: EngineConfig::default(),
        paper: PaperConfig::default(),
        models,
    }
}

/// Ten levels a side around a mid that walks (seeded), a snapshot every 250 ms for `secs`
/// seconds; now and then it jumps three ticks, through resting quotes.
fn frames(secs: u64) -> Vec<Frame> {
    use rand::{Rng, SeedableRng};
    let spec = MarketSpec::kana_apt_testnet();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let mut next = move || rng.random::<u64>();
    let mut mid: u64 = 5_500;
    (0..secs * 4)
        .map(|i| {
            let step = next() % 16;
            mid = match step {
                0 => mid + 3,
                1 => mid - 3,
                2..=5 => mid + 1,
                6..=9 => mid - 1,
                _ => mid,
            };
            let received = T0.plus(Duration::from_millis(250 * i));
            let sizes: Vec<u64> = (0..20).map(|_| 20 + next() % 50).collect();
            let level = |is_ask: bool, ticks: u64, size: u64| {
                format!(
                    r#"{{"is_ask":{is_ask},"last_updated":{},"market_id":"1338","price":"{}","size":"{}"}}"#,
                    received.0 / 1_000_000_000,
                    spec.ticks_to_price(Ticks(ticks)),
                    Decimal::from(size)
                )
            };
            let mut levels: Vec<String> =
                (1..=10).map(|k| level(true, mid + k, sizes[k as usize - 1])).collect();
            levels.extend((1..=10).map(|k| level(false, mid - k, sizes[k as usize + 9])));
            Frame {
                received,
                text: format!(r#"{{"data":[{}],"message":"orderbook"}}"#, levels.join(",")),
            }
        })
        .collect()
}

fn backtest(models: Models, secs: u64) -> Outcome {
    run(setup(models), frames(secs)).unwrap()
}

#[test]
fn the_market_maker_trades_a_recording_and_the_report_adds_up() {
    let out = backtest(Models::default(), 120);
    let r = &out.report;
    assert_eq!(r.frames, 480);
    assert_eq!(r.decode_errors, 0);
    assert!(r.summary.fills > 0, "{:?}", r.summary);
    assert_eq!(r.summary.fills as usize, out.series.fills.len());
    assert!(r.summary.requests_sent > 0);
    assert!(
        r.summary.clean(),
        "nothing left resting: {:?}",
        r.summary.left_open
    );
    // Gas: one transaction per request that reached the exchange, at the configured price.
    let tx = r.summary.tx_costs.transactions;
    assert!(tx > 0);
    assert_eq!(
        r.summary.tx_costs.native_fee,
        Decimal::new(5, 4) * Decimal::from(tx)
    );
    assert!(r.summary.net_pnl < r.summary.total_pnl, "gas is charged");
    assert!((r.simulated_seconds - 119.75).abs() < 1e-9);
    // A row a second, for the one market.
    assert!(
        (119..=122).contains(&out.series.rows.len()),
        "{}",
        out.series.rows.len()
    );
    assert_eq!(r.markouts.0.len(), 3);
    assert!(r.markouts.0[0].fills > 0);
}

#[test]
fn the_same_data_config_and_seed_give_the_same_bytes() {
    let models = Models {
        order_latency: OrderLatency::UniformMs {
            min_ms: 100,
            max_ms: 700,
        },
        seed: 11,
        ..Models::default()
    };
    let a = backtest(models.clone(), 60);
    let b = backtest(models.clone(), 60);
    let json = |o: &Outcome| serde_json::to_string(&o.report).unwrap();
    assert_eq!(json(&a), json(&b));
    assert_eq!(a.series.rows, b.series.rows);
    // Another seed draws other latencies: the run differs somewhere.
    let c = backtest(Models { seed: 12, ..models }, 60);
    assert_ne!(json(&a), json(&c));
}

#[test]
fn latency_changes_what_fills() {
    let fast = backtest(
        Models {
            order_latency: OrderLatency::ConstantMs(10),
            ..Models::default()
        },
        120,
    );
    let slow = backtest(
        Models {
            order_latency: OrderLatency::ConstantMs(2_000),
            feed_latency: FeedLatency::ConstantMs(500),
            ..Models::default()
        },
        120,
    );
    assert_ne!(
        (fast.report.summary.fills, fast.report.summary.realized_pnl),
        (slow.report.summary.fills, slow.report.summary.realized_pnl)
    );
}

#[test]
fn a_recording_of_another_venue_or_units_is_refused_by_name() {
    let mut s = setup(Models::default());
    s.manifest.venue = "kyan".into();
    let err = run(s, frames(1)).unwrap_err();
    assert!(err.to_string().contains("kyan"), "{err}");
    let mut s = setup(Models::default());
    s.manifest.units = "lots".into();
    let err = run(s, frames(1)).unwrap_err();
    assert!(err.to_string().contains("lots"), "{err}");
    let err = run(setup(Models::default()), Vec::new()).unwrap_err();
    assert!(err.to_string().contains("no frames"), "{err}");
}

#[test]
fn a_frame_the_decoder_refuses_is_counted_and_skipped() {
    let mut data = frames(10);
    data[5].text = "{not json".into();
    let out = run(setup(Models::default()), data).unwrap();
    assert_eq!(out.report.decode_errors, 1);
    assert_eq!(out.report.frames, 40);
}

#[test]
fn charts_and_a_page_that_shows_them_are_written() {
    let out = backtest(Models::default(), 60);
    let dir = std::env::temp_dir().join(format!("perpbot-plot-{}", std::process::id()));
    let files = crate::plot::write_charts(&out.series, "market_maker", &dir).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["price.svg", "position.svg", "pnl.svg", "index.html"]
    );
    let price = std::fs::read_to_string(dir.join("price.svg")).unwrap();
    assert!(
        price.starts_with("<svg"),
        "{}",
        &price[..80.min(price.len())]
    );
    assert!(price.contains("mid, quotes and fills"));
    assert!(price.contains("<circle"), "fills are drawn");
    let page = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert_eq!(page.matches("<svg").count(), 3, "self-contained");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same books as [`frames`], as the paper exchange's own market data (decoded once here).
fn market_data(secs: u64) -> Vec<(Timestamp, SourceEvent)> {
    let mut decoder = setup(Models::default()).manifest.decoder().unwrap();
    let mut events = Vec::new();
    frames(secs)
        .into_iter()
        .flat_map(|f| {
            events.clear();
            decoder.decode(&f.text, f.received, &mut events).unwrap();
            events
                .drain(..)
                .filter_map(|e| match e {
                    Event::Book(b) => {
                        Some((f.received, SourceEvent::snapshot(b.market, b.bids, b.asks)))
                    }
                    _ => None,
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn market_data_replays_like_the_recorded_frames_it_came_from() {
    let models = Models {
        order_latency: OrderLatency::UniformMs {
            min_ms: 50,
            max_ms: 400,
        },
        ..Models::default()
    };
    let framed = backtest(models.clone(), 60);
    let direct = run_market_data(setup(models), market_data(60)).unwrap();
    assert!(framed.report.summary.fills > 0);
    let json = |o: &Outcome| serde_json::to_string(&o.report).unwrap();
    assert_eq!(json(&framed), json(&direct));
    assert_eq!(framed.series.rows, direct.series.rows);
    let err = run_market_data(setup(Models::default()), Vec::new()).unwrap_err();
    assert!(err.to_string().contains("no frames"), "{err}");
}

/// The market maker, with every balance it hears of noted (time heard, figure's date).
struct BalanceWatch {
    inner: Box<dyn Strategy>,
    heard: std::sync::Arc<std::sync::Mutex<Vec<(Timestamp, Timestamp)>>>,
}

impl Strategy for BalanceWatch {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn on_start(
        &mut self,
        ctx: &mut perpbot_core::strategy::Context<'_>,
    ) -> Result<(), perpbot_core::strategy::StrategyError> {
        self.inner.on_start(ctx)
    }

    fn on_event(
        &mut self,
        event: &Event,
        ctx: &mut perpbot_core::strategy::Context<'_>,
    ) -> Result<(), perpbot_core::strategy::StrategyError> {
        if let Event::Balance(b) = event {
            self.heard.lock().unwrap().push((ctx.now(), b.ts));
        }
        self.inner.on_event(event, ctx)
    }

    fn on_stop(
        &mut self,
        ctx: &mut perpbot_core::strategy::Context<'_>,
    ) -> Result<(), perpbot_core::strategy::StrategyError> {
        self.inner.on_stop(ctx)
    }
}

/// Run 120 s of [`frames`] under `reports`; the balances the strategy heard, and the fills.
fn balances_heard(reports: crate::models::BalanceReports) -> (Vec<(Timestamp, Timestamp)>, u64) {
    let heard = std::sync::Arc::default();
    let models = Models {
        balance_reports: reports,
        response_latency_ms: 20,
        ..Models::default()
    };
    let mut s = setup(models);
    s.strategy = Box::new(BalanceWatch {
        inner: s.strategy,
        heard: std::sync::Arc::clone(&heard),
    });
    let out = run(s, frames(120)).unwrap();
    let heard = heard.lock().unwrap().clone();
    (heard, out.report.summary.fills)
}

#[test]
fn the_bot_reads_its_balance_as_live_kana_does_unless_told_it_streams() {
    use crate::models::BalanceReports;
    let polled = BalanceReports::Polled {
        interval_ms: 10_000,
        after_fill_ms: 500,
    };
    let (reads, fills) = balances_heard(polled);
    assert!(fills > 0);
    // Each read is dated when it starts and heard a response latency later.
    assert!(
        reads
            .iter()
            .skip(1)
            .all(|(heard, at)| heard.since(*at) == Duration::from_millis(20)),
        "{reads:?}"
    );
    // Reads come at most every half second (after fills) and at least every 10 s.
    for pair in reads.windows(2).skip(1) {
        let gap = pair[1].1.since(pair[0].1);
        assert!(
            gap >= Duration::from_millis(500) && gap <= Duration::from_secs(10),
            "{gap:?} in {reads:?}"
        );
    }
    // Streamed: a figure after every change, far more often than polled.
    let (streamed, _) = balances_heard(BalanceReports::Streamed);
    assert!(
        streamed.len() > 2 * reads.len(),
        "{} vs {}",
        streamed.len(),
        reads.len()
    );
    assert!(
        reads.len() >= 12,
        "at least one read each 10 s: {}",
        reads.len()
    );
}
