//! Alerts reach a webhook: the market maker trades the simulator, the kill switch is pulled, and
//! a local HTTP receiver gets the halt alert in the configured (Slack) shape.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use perpbot::alerts::{AlertFormat, AlertsConfig};
use perpbot::clock::Clock;
use perpbot::config::{Secret, SecretSource};
use perpbot::engine::{Control, Engine};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// A webhook that answers 200 and keeps every request body.
async fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/hook/secret-token",
        listener.local_addr().unwrap()
    );
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&bodies);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let kept = Arc::clone(&kept);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the head, then as many body bytes as it announces.
                loop {
                    let n = stream.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            kept.lock().unwrap().push(body.to_string());
                            let _ = stream
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                                .await;
                            return;
                        }
                    }
                }
            });
        }
    });
    (url, bodies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_reaches_the_webhook_as_a_halt_alert() {
    let (url, bodies) = receiver().await;
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
    let alerts = AlertsConfig {
        webhook_url: SecretSource::default(),
        format: AlertFormat::Slack,
        telegram_chat_id: None,
        disconnect_after_secs: 60,
        repeat_after_secs: 300,
    };
    let (handle, task) = perpbot::alerts::start(&alerts, Secret::new(url), engine.watch_status());
    let (tx, rx) = mpsc::channel(8);
    let run = tokio::spawn(engine.run(rx));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        bodies.lock().unwrap().is_empty(),
        "nothing to say while active"
    );
    tx.send(Control::Kill("operator test".into()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    tx.send(Control::Shutdown).await.unwrap();
    let finished = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .unwrap()
        .unwrap();
    drop(handle);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("queued alerts are sent before the alerter ends")
        .unwrap();
    let bodies = bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "one alert: {bodies:?}");
    let json: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    let text = json["text"].as_str().unwrap();
    assert!(text.starts_with("[CRITICAL] perpbot HALTED"), "{text}");
    assert!(text.contains("operator test"), "the reason: {text}");
    assert!(finished.summary.clean());
}
