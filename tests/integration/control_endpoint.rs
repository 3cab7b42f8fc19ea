//! The status, metrics and control endpoint of a running bot: the market maker trades the
//! simulator while a client scrapes `/metrics` (every line parses, the key series are there and
//! agree with `/status`), and the controls refuse a missing or wrong token, then pause and kill.

use std::net::SocketAddr;
use std::time::Duration;

use perpbot::clock::Clock;
use perpbot::config::Secret;
use perpbot::engine::{Control, Engine};
use perpbot::model::TradingState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// One HTTP/1.1 request on a fresh connection; (status code, body).
async fn http(addr: SocketAddr, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    // Chunked bodies: good enough to search in; the metrics lines are parsed one by one below.
    (code, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_status_and_authenticated_controls_of_a_running_bot() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/sim.toml")).unwrap();
    let mut config = perpbot::config::Config::from_toml_str(&text).unwrap();
    config.engine.kill_switch_file = None;
    config.engine.status_interval_ms = 0;
    config.venue.sim.block_latency_ms = 50;
    config.venue.sim.synthetic.step_ms = 100;
    let clock = Clock::system();
    let session = perpbot::cli::connect_venue(&config, clock).await.unwrap();
    let strategy = perpbot::strategies::builtin_registry()
        .build(&config.strategy.name, &config.strategy.params)
        .unwrap();
    let mut engine = Engine::new(
        session,
        strategy,
        config.risk.clone(),
        config.rate_limits.clone(),
        config.engine.clone(),
        clock,
    );
    let (tx, rx) = mpsc::channel(8);
    let status = engine.watch_status();
    let latencies = engine.latency_samples();
    let addr = perpbot::control::serve(
        "127.0.0.1:0".parse().unwrap(),
        status,
        tx.clone(),
        Some(Secret::new("s3cret".into())),
        latencies,
    )
    .await
    .unwrap();
    let run = tokio::spawn(engine.run(rx));

    // Let it quote and trade a while, then scrape.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let (code, body) = http(addr, "GET", "/metrics", None).await;
    assert_eq!(code, 200, "{body}");
    let mut samples = std::collections::BTreeMap::new();
    for line in body.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || !line.starts_with("perpbot_") {
            continue;
        }
        let (name, value) = line.rsplit_once(' ').expect("name value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("a number: {line}"));
        samples.insert(name.to_string(), value);
    }
    for name in [
        "perpbot_requests_total",
        "perpbot_pnl_net_quote",
        "perpbot_gas_paid_quote",
        "perpbot_trading_state",
        "perpbot_position_coins{market=\"APT-USD\"}",
        "perpbot_open_orders{market=\"APT-USD\"}",
        "perpbot_request_latency_seconds_count",
        "perpbot_request_latency_seconds_bucket{le=\"0.5\"}",
        "perpbot_volume_coins{market=\"APT-USD\"}",
        "perpbot_stream_frames_total",
        "perpbot_stream_decode_skips_total",
        "perpbot_stream_reconnects_total",
        "perpbot_fills_attributed_total",
        "perpbot_fills_unattributed_total",
    ] {
        assert!(samples.contains_key(name), "{name} missing from:\n{body}");
    }
    // Every series the shipped Grafana dashboard plots is in the scrape.
    let dashboard = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/grafana/perpbot-dashboard.json"
    ))
    .unwrap();
    for (i, _) in dashboard.match_indices("perpbot_") {
        let name: String = dashboard[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name == "perpbot_" {
            continue;
        }
        assert!(
            samples.keys().any(|k| k.starts_with(&name)),
            "the dashboard plots {name}, which the scrape does not have"
        );
    }
    assert!(samples["perpbot_requests_total"] > 0.0);
    assert!(samples["perpbot_stream_frames_total"] > 0.0);
    // Refusals by kind add up to the refusals.
    let by_kind: f64 = samples
        .iter()
        .filter(|(k, _)| k.starts_with("perpbot_venue_rejections_by_kind_total"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(by_kind, samples["perpbot_venue_rejections_total"], "{body}");
    assert_eq!(samples["perpbot_trading_state"], 0.0, "active");
    assert!(samples["perpbot_request_latency_seconds_count"] > 0.0);

    let (code, body) = http(addr, "GET", "/status", None).await;
    assert_eq!(code, 200);
    let json = body
        .find('{')
        .map(|i| &body[i..body.rfind('}').unwrap() + 1])
        .unwrap();
    let status: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(status["strategy"], "market_maker");
    assert_eq!(status["trading_state"], "active");
    assert_eq!(status["markets"][0]["name"], "APT-USD");
    assert!(status["latency"]["p50_ms"].as_f64().unwrap() > 0.0);

    // `perpbot status` prints the same, for a person.
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_perpbot"))
            .args(["status", "--addr", &addr.to_string()])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{printed}");
    assert!(printed.starts_with("market_maker  ACTIVE"), "{printed}");
    assert!(printed.contains("APT-USD  mid"), "{printed}");
    assert!(printed.contains("request latency p50"), "{printed}");

    // Controls: no token, a wrong one, then the right one.
    let (code, _) = http(addr, "POST", "/control/pause", None).await;
    assert_eq!(code, 401);
    let (code, _) = http(addr, "POST", "/control/kill", Some("guess")).await;
    assert_eq!(code, 401);
    let (code, body) = http(addr, "POST", "/control/pause", Some("s3cret")).await;
    assert_eq!(code, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (_, body) = http(addr, "GET", "/status", None).await;
    assert!(body.contains("\"trading_state\":\"reduce_only\""), "{body}");
    let (code, _) = http(addr, "POST", "/control/kill", Some("s3cret")).await;
    assert_eq!(code, 200);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let _ = tx.send(Control::Shutdown).await;
    let finished = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the run ends")
        .unwrap();
    assert_eq!(finished.summary.trading_state, TradingState::Halted);
    assert!(finished.summary.clean(), "{:?}", finished.summary.left_open);
}
