//! Paper trading on a live book: the market maker on the paper venue fed by a Kana-shaped public
//! stream (the simulator's, on loopback, as Kana's testnet would be): it quotes and gets paper
//! fills, and not one transaction reaches the venue.

use std::time::Duration;

use perpbot::clock::Clock;
use perpbot::config::{Config, KanaConfig, Network, SecretSource, VenueKind};
use perpbot::engine::{Control, Engine};
use perpbot::sim::server::{SimConfig, start};
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_market_maker_paper_trades_the_live_book_and_sends_nothing() {
    let mut sim = SimConfig {
        block_latency_ms: 50,
        ..SimConfig::default()
    };
    sim.synthetic.step_ms = 100;
    let h = start(sim.clone(), "127.0.0.1:0".parse().unwrap(), Clock::system())
        .await
        .unwrap();
    // The simulator's REST asks for its API key: paper trading sends one only when configured.
    let key_file = std::env::temp_dir().join(format!("perpbot-paper-live-{}", std::process::id()));
    std::fs::write(&key_file, &sim.api_key).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/sim-live-paper.toml"
    ))
    .unwrap();
    let mut config = Config::from_toml_str(&text).unwrap();
    assert_eq!(config.venue.kind, VenueKind::PaperSim);
    // The same path with the stream named explicitly (as config/testnet-paper.toml names Kana's).
    config.venue.kind = VenueKind::PaperKana;
    config.venue.kana = Some(KanaConfig {
        network: Network::Local,
        rest_url: h.rest_url.clone(),
        ws_url: h.ws_url.clone(),
        node_url: h.node_url.clone(),
        chain_id: sim.chain_id,
        api_key: SecretSource {
            env: None,
            file: Some(key_file.clone()),
        },
        private_key: SecretSource::default(),
        i_understand_this_is_mainnet: false,
        max_gas_amount: 10_000,
        gas_unit_price: None,
        expiration_secs: 30,
        confirm_timeout_ms: 5_000,
        request_timeout_ms: 5_000,
        max_batch: 10,
        delegate_for: None,
        package: None,
        balance_poll_ms: 0,
        faucet_package: None,
    });
    config.engine.kill_switch_file = None;
    config.engine.status_interval_ms = 0;
    config.validate().expect("valid");

    let clock = Clock::system();
    let session = perpbot::cli::connect_venue(&config, clock)
        .await
        .expect("the paper venue subscribes to the live book");
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
        tokio::time::sleep(Duration::from_secs(20)).await;
        let _ = tx.send(Control::Shutdown).await;
        std::future::pending::<()>().await;
    });
    let finished = engine.run(rx).await;
    let s = &finished.summary;
    assert!(s.orders_sent > 0, "it quoted: {s:#?}");
    assert!(s.fills > 0, "paper fills against the live book: {s:#?}");
    assert!(s.clean(), "nothing left open: {:?}", s.left_open);
    assert_eq!(s.tx_costs.transactions, 0, "no transaction: {s:#?}");
    // The venue whose book it traded saw nothing of it: no transaction, no order of the bot's.
    {
        let core = h.shared.core();
        assert!(
            core.txns.is_empty(),
            "{} transactions reached the node",
            core.txns.len()
        );
        assert!(core.mempool.is_empty());
    }
    let _ = std::fs::remove_file(&key_file);
    h.stop();
}
