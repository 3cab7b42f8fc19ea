//! `perpbot cancel-all` and `perpbot flatten` against a simulator on 127.0.0.1: orders placed and
//! a position opened through the real Kana client (REST payload → signed transaction → node),
//! then the real binary run with a config naming the same key file. The simulator's own lists
//! say what is left; the binary's output must name every order cancelled and position closed
//! with its transaction. A mainnet config is refused without the confirmation, before anything
//! connects; `venue.kana.package` is the package the commands sign for.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{TempDir, loopback_poll, owner_only, sim_bot_config};
use perpbot::aptos::{AccountAddress, GasConfig, NodeClient, PrivateKey, Submitter};
use perpbot::clock::Clock;
use perpbot::config::Secret;
use perpbot::model::{
    ClientOrderId, Lots, MarketId, MarketSpec, NewOrder, OrderRequest, Rounding, Side, Ticks,
};
use perpbot::sim::server::{SimConfig, SimHandle, start};
use perpbot::venue::kana::rest::{KanaRest, RetryPolicy};
use perpbot::venue::kana::writer::{KanaWriter, WriterConfig};
use perpbot::venue::{RequestContext, RequestOutcome, VenueRequest, VenueWriter};
use tokio::time::{Instant, sleep};

const BIN: &str = env!("CARGO_BIN_EXE_perpbot");
/// A throwaway key for the simulator's chain (never used anywhere else).
const KEY: &str = "0x6b1d3f5a7c9e0b2d4f6a8c1e3b5d7f9a2c4e6b8d0f1a3c5e7b9d2f4a6c8e0b1d";
const APT: MarketId = MarketId(1338);
/// A package the simulator can publish at instead of its default.
const OTHER_PACKAGE: &str = "0x5157000000000000000000000000000000000000000000000000000000000002";

fn sim_config(package: Option<&str>) -> SimConfig {
    let mut c = SimConfig {
        block_latency_ms: 30,
        ..SimConfig::default()
    };
    c.synthetic.step_ms = 30;
    if let Some(p) = package {
        c.package = p.to_string();
    }
    c
}

async fn sim(package: Option<&str>) -> SimHandle {
    start(
        sim_config(package),
        "127.0.0.1:0".parse().unwrap(),
        Clock::system(),
    )
    .await
    .unwrap()
}

fn wallet() -> AccountAddress {
    KEY.parse::<PrivateKey>().unwrap().address()
}

fn rest(h: &SimHandle) -> KanaRest {
    KanaRest::new(
        &h.rest_url,
        Some(Secret::new("sim".into())),
        Duration::from_secs(5),
        RetryPolicy::none(),
    )
    .unwrap()
}

/// A config for the simulator in `dir`, with the key and API key in owner-only files.
fn config(dir: &Path, h: &SimHandle, extra_kana: &str) -> PathBuf {
    owner_only(&dir.join("key"), KEY);
    sim_bot_config(
        dir,
        h,
        "bot.toml",
        "key",
        &format!("max_batch = 2\n{extra_kana}"),
        "",
    )
}

/// The Kana client the orders are placed with (same key as the config's).
async fn writer(h: &SimHandle, package: Option<&str>) -> (KanaWriter, MarketSpec) {
    let rest = Arc::new(rest(h));
    let spec = rest.market_spec(APT).await.unwrap();
    let poll = loopback_poll();
    let node = NodeClient::new(&h.node_url, Duration::from_secs(5))
        .unwrap()
        .with_poll_config(poll);
    let gas = GasConfig {
        max_gas_amount: 10_000,
        gas_unit_price: Some(100),
        expiration_secs: 30,
    };
    let submitter = Arc::new(Submitter::new(node, KEY.parse().unwrap(), 4, gas));
    let config = WriterConfig {
        confirm_timeout: Duration::from_secs(5),
        max_batch: 10,
        delegate_for: None,
    };
    let mut w = KanaWriter::new(rest, submitter, vec![spec.clone()], config);
    if let Some(p) = package {
        w = w.with_package(AccountAddress::from_hex(p).unwrap());
    }
    (w, spec)
}

/// Best bid and ask in ticks once the synthetic book is two-sided.
async fn wait_book(h: &SimHandle, spec: &MarketSpec) -> (Ticks, Ticks) {
    let rest = rest(h);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let p = rest.market_price(APT).await.unwrap();
        if let (Some(bid), Some(ask)) = (p.best_bid, p.best_ask) {
            let ticks = |d| spec.price_to_ticks(d, Rounding::Exact).unwrap();
            return (ticks(bid), ticks(ask));
        }
        assert!(Instant::now() < deadline, "no two-sided book");
        sleep(Duration::from_millis(30)).await;
    }
}

async fn execute(w: &KanaWriter, place: Vec<NewOrder>) {
    let request = VenueRequest::Orders {
        market: APT,
        cancel: vec![],
        place: place
            .into_iter()
            .enumerate()
            .map(|(i, order)| OrderRequest {
                client_id: ClientOrderId(i as u64 + 1),
                order,
            })
            .collect(),
    };
    let outcome = w.execute(request, &RequestContext::none()).await;
    assert!(
        matches!(outcome, RequestOutcome::Accepted { .. }),
        "{outcome:?}"
    );
}

/// Three post-only bids well under the book and two post-only asks (opening shorts) well over.
async fn rest_five_orders(h: &SimHandle, w: &KanaWriter, spec: &MarketSpec) {
    let (bid, ask) = wait_book(h, spec).await;
    let bids = (0..3)
        .map(|i| {
            NewOrder::limit(APT, Side::Buy, Lots(1000), Ticks(bid.0 - 100 - i))
                .post_only()
                .with_leverage(2)
        })
        .collect();
    execute(w, bids).await;
    let asks = (0..2)
        .map(|i| {
            NewOrder::limit(APT, Side::Sell, Lots(1000), Ticks(ask.0 + 100 + i))
                .post_only()
                .with_leverage(2)
        })
        .collect();
    execute(w, asks).await;
    assert_eq!(open_orders(h).await, 5);
}

/// A long of 1 APT, bought at market.
async fn open_long(h: &SimHandle, w: &KanaWriter, spec: &MarketSpec) {
    wait_book(h, spec).await;
    execute(
        w,
        vec![NewOrder::market(APT, Side::Buy, Lots(1000)).with_leverage(2)],
    )
    .await;
    assert_eq!(positions(h).await, 1, "the market order opened a long");
}

async fn open_orders(h: &SimHandle) -> usize {
    rest(h).open_orders(wallet(), None).await.unwrap().len()
}

/// Positions of non-zero size.
async fn positions(h: &SimHandle) -> usize {
    let listed = rest(h).positions(wallet(), None).await.unwrap();
    listed
        .parse()
        .unwrap()
        .iter()
        .filter(|p| !p.size.decimal().unwrap().is_zero())
        .count()
}

/// `perpbot ARGS…` run to the end (off the async runtime's threads).
async fn perpbot(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(&args)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn command(name: &str, config: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        name.to_string(),
        "--config".to_string(),
        config.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_all_cancels_every_open_order_and_names_each_with_its_transaction() {
    let dir = TempDir::new("emergency-cancel-all");
    let h = sim(None).await;
    let (w, spec) = writer(&h, None).await;
    let cfg = config(&dir.0, &h, "");
    rest_five_orders(&h, &w, &spec).await;
    open_long(&h, &w, &spec).await;

    // Another market's scope touches nothing here.
    let out = perpbot(command("cancel-all", &cfg, &["--market", "1339"])).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("open orders: none"), "{stdout}");
    assert_eq!(open_orders(&h).await, 5);

    let out = perpbot(command("cancel-all", &cfg, &[])).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let cancelled: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("cancelled"))
        .collect();
    assert_eq!(cancelled.len(), 5, "{stdout}");
    for line in &cancelled {
        assert!(
            line.contains("market 1338") && line.contains(" @ ") && line.contains("tx 0x"),
            "each cancel names its market, size, price and transaction: {line}"
        );
    }
    assert_eq!(
        cancelled
            .iter()
            .filter(|l| l.contains("buy (open long)"))
            .count(),
        3,
        "{stdout}"
    );
    assert_eq!(
        cancelled
            .iter()
            .filter(|l| l.contains("sell (open short)"))
            .count(),
        2,
        "{stdout}"
    );
    assert!(stdout.contains("remaining: nothing open"), "{stdout}");
    assert!(!stdout.contains(&KEY[2..]) && !stderr.contains(&KEY[2..]));
    assert_eq!(
        open_orders(&h).await,
        0,
        "the simulator lists no open order"
    );
    assert_eq!(positions(&h).await, 1, "cancel-all leaves the position");
    h.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flatten_cancels_the_resting_orders_then_closes_the_position() {
    let dir = TempDir::new("emergency-flatten");
    let h = sim(None).await;
    let (w, spec) = writer(&h, None).await;
    let cfg = config(&dir.0, &h, "");
    open_long(&h, &w, &spec).await;
    rest_five_orders(&h, &w, &spec).await;

    let out = perpbot(command("flatten", &cfg, &["--market", "1338"])).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    let first_close = lines.iter().position(|l| l.starts_with("closed"));
    let last_cancel = lines.iter().rposition(|l| l.starts_with("cancelled"));
    assert!(
        matches!((last_cancel, first_close), (Some(c), Some(p)) if c < p),
        "orders are cancelled before the position is closed:\n{stdout}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("cancelled")).count(),
        5,
        "{stdout}"
    );
    let closed: Vec<&&str> = lines.iter().filter(|l| l.starts_with("closed")).collect();
    assert_eq!(closed.len(), 1, "{stdout}");
    assert!(
        closed[0].contains("market 1338")
            && closed[0].contains("long 1")
            && closed[0].contains("entry")
            && closed[0].contains("tx 0x"),
        "{stdout}"
    );
    assert!(stdout.contains("remaining: nothing open"), "{stdout}");
    assert_eq!(open_orders(&h).await, 0, "no open order on the simulator");
    assert_eq!(positions(&h).await, 0, "no position on the simulator");
    h.stop();
}

#[test]
fn a_mainnet_config_is_refused_without_the_confirmation_before_anything_connects() {
    let mainnet = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/mainnet.toml");
    for name in ["cancel-all", "flatten"] {
        let out = Command::new(BIN)
            .args(command(name, &mainnet, &[]))
            .env_remove("KANA_API_KEY")
            .env_remove("PERPBOT_PRIVATE_KEY")
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(3), "{name}: {stdout}\n{stderr}");
        assert!(
            stderr.contains("--i-understand-this-is-mainnet"),
            "{name}: {stderr}"
        );
        assert!(
            !stdout.contains("open orders"),
            "{name} listed nothing: {stdout}"
        );
    }
}

/// `venue.kana.package` is what the commands sign for: with the simulator published elsewhere,
/// the default package refuses its payloads (and says so per order, exit 4: they are still
/// open); the configured one cancels them. `check-config` prints the package in force.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_package_is_the_one_signed_for() {
    let dir = TempDir::new("emergency-package");
    let h = sim(Some(OTHER_PACKAGE)).await;
    let (w, spec) = writer(&h, Some(OTHER_PACKAGE)).await;
    rest_five_orders(&h, &w, &spec).await;

    let default_cfg = config(&dir.0, &h, "");
    let out = perpbot(command("cancel-all", &default_cfg, &["--settle", "1s"])).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("FAILED") && stdout.contains("outside the Kana package"),
        "{stdout}"
    );
    assert!(stdout.contains("remaining: 5 still open"), "{stdout}");
    assert_eq!(open_orders(&h).await, 5);

    let cfg = config(&dir.0, &h, &format!("package = \"{OTHER_PACKAGE}\""));
    let check = perpbot(vec!["check-config".into(), cfg.display().to_string()]).await;
    let (stdout, stderr) = text(&check);
    assert_eq!(check.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("Kana package {OTHER_PACKAGE}")),
        "{stdout}"
    );
    let out = perpbot(command("cancel-all", &cfg, &[])).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("cancelled"))
            .count(),
        5,
        "{stdout}"
    );
    assert_eq!(open_orders(&h).await, 0);
    h.stop();
}
