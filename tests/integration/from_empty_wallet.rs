//! Testnet from nothing, against a simulator whose wallets start empty (as `perpbot sim` starts
//! them): a fresh key from `perpbot keygen`, gas from the Aptos faucet API (what the SDKs'
//! `fundAccount` calls), test USDT from the `usdt::faucet` module (`perpbot funds faucet`), a
//! deposit, `check-config`, a short run of the market maker, and a withdrawal — every step
//! through the real binary, the simulator's own state checked in between.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{TempDir, sim_bot_config};
use perpbot::aptos::AccountAddress;
use perpbot::clock::Clock;
use perpbot::sim::server::{SimConfig, SimHandle, start};
use rust_decimal::Decimal;

const BIN: &str = env!("CARGO_BIN_EXE_perpbot");

async fn perpbot(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
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

fn ok(out: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn config(dir: &Path, h: &SimHandle) -> PathBuf {
    sim_bot_config(
        dir,
        h,
        "bot.toml",
        "key.txt",
        "",
        "leverage = 2\n\n[engine]\nshutdown_timeout_ms = 5000\n",
    )
}

/// Collateral tokens in the wallet and available collateral in its profile.
fn balances(h: &SimHandle, wallet: AccountAddress) -> (Decimal, Decimal) {
    let core = h.shared.core();
    let wallet_tokens = Decimal::new(core.exchange.wallet_balance(wallet) as i64, 6);
    let profile = perpbot::sim::profile_address(&wallet);
    let available = core
        .exchange
        .balance(profile)
        .map_or(Decimal::ZERO, |b| b.available());
    (wallet_tokens, available)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_wallet_gets_gas_and_test_usdt_deposits_trades_and_withdraws() {
    let dir = TempDir::new("from-empty-wallet");
    let mut sim = SimConfig {
        block_latency_ms: 30,
        auto_fund: Decimal::ZERO,
        ..SimConfig::default()
    };
    sim.gas.apt_balance = Decimal::ZERO;
    sim.synthetic.step_ms = 50;
    let h = start(sim, "127.0.0.1:0".parse().unwrap(), Clock::system())
        .await
        .unwrap();
    let cfg = config(&dir.0, &h);
    let cfg = cfg.to_str().unwrap();

    // A key of its own.
    let key_file = dir.0.join("key.txt");
    let out = ok(
        &perpbot(&["keygen", "--out", key_file.to_str().unwrap()]).await,
        "keygen",
    );
    let address = out
        .split_whitespace()
        .find(|w| w.starts_with("0x") && w.len() == 66)
        .unwrap_or_else(|| panic!("an address in {out}"));
    let wallet = AccountAddress::from_hex(address).unwrap();

    // Empty: no gas, no collateral. A deposit cannot even pay for its transaction.
    assert_eq!(h.shared.core().apt_octas(wallet), 0);
    let out = perpbot(&["funds", "--config", cfg, "deposit", "--amount", "10"]).await;
    assert!(
        !out.status.success(),
        "a deposit from an empty wallet fails"
    );

    // Gas from the Aptos faucet API, as the SDKs' fundAccount asks for it.
    perpbot::aptos::node::ensure_crypto_provider();
    let funded: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/fund", h.faucet_url))
        .json(&serde_json::json!({"address": address, "amount": 10_000_000_000u64}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hash = funded["txn_hashes"][0]
        .as_str()
        .expect("a transaction hash");
    let node =
        perpbot::aptos::NodeClient::new(&h.node_url, std::time::Duration::from_secs(5)).unwrap();
    assert!(
        matches!(
            node.transaction_by_hash(hash.parse().unwrap())
                .await
                .unwrap(),
            perpbot::aptos::TxnLookup::Committed(_)
        ),
        "the faucet's transaction is committed"
    );
    assert_eq!(h.shared.core().apt_octas(wallet), 10_000_000_000);

    // Test USDT from the faucet module, then a deposit.
    let out = ok(
        &perpbot(&["funds", "--config", cfg, "faucet", "--amount", "1000"]).await,
        "funds faucet",
    );
    assert!(out.contains("minted 1000 test USDT"), "{out}");
    assert_eq!(balances(&h, wallet), (Decimal::from(1000), Decimal::ZERO));
    ok(
        &perpbot(&["funds", "--config", cfg, "deposit", "--amount", "500"]).await,
        "deposit",
    );
    assert_eq!(
        balances(&h, wallet),
        (Decimal::from(500), Decimal::from(500))
    );

    ok(&perpbot(&["check-config", cfg]).await, "check-config");
    let report = ok(
        &perpbot(&["run", "--config", cfg, "--duration", "6s"]).await,
        "run",
    );
    assert!(report.contains("run report"), "{report}");
    assert!(report.contains("open orders left  none"), "{report}");

    ok(
        &perpbot(&[
            "funds", "--config", cfg, "withdraw", "--market", "1338", "--amount", "100",
        ])
        .await,
        "withdraw",
    );
    let (in_wallet, _) = balances(&h, wallet);
    assert_eq!(
        in_wallet,
        Decimal::from(600),
        "500 left after the deposit, 100 back"
    );
    h.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_faucet_refuses_what_it_cannot_fund_naming_the_field() {
    let h = start(
        SimConfig::default(),
        "127.0.0.1:0".parse().unwrap(),
        Clock::system(),
    )
    .await
    .unwrap();
    perpbot::aptos::node::ensure_crypto_provider();
    let client = reqwest::Client::new();
    for (body, field) in [
        (serde_json::json!({"amount": 5}), "address"),
        (
            serde_json::json!({"address": "0xzz", "amount": 5}),
            "address",
        ),
        (serde_json::json!({"address": "0x1", "amount": 0}), "amount"),
        (
            serde_json::json!({"address": "0x1", "amount": -3}),
            "amount",
        ),
        (
            serde_json::json!({"address": "0x1", "amount": "lots"}),
            "amount",
        ),
    ] {
        let r = client
            .post(format!("{}/fund", h.faucet_url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert!(
            v["message"].as_str().unwrap_or("").starts_with(field),
            "{body}: {v}"
        );
    }
    // The legacy form takes query parameters.
    let r = client
        .post(format!("{}/mint?address=0x1&amount=7", h.faucet_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let hashes: Vec<String> = r.json().await.unwrap();
    assert_eq!(hashes.len(), 1);
    h.stop();
}
