//! `perpbot keygen` (an owner-only key file the loaders read back, its address printed and
//! nothing secret), and `check-config` refusing a Kana config whose hosts, chain id or market
//! ids belong to the other network, while the shipped configs still load.

use std::path::Path;
use std::process::Command;

use crate::common::TempDir;
use perpbot::config::{Config, SecretSource};

const BIN: &str = env!("CARGO_BIN_EXE_perpbot");

fn keygen(out: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("keygen")
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn keygen_writes_an_owner_only_key_the_loaders_read_and_prints_its_address() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("keygen");
    let path = dir.0.join("trading.key");
    let out = keygen(&path, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode {mode:o}");

    // Both loaders read it: the CLI's (tx sign) and the config's secret source.
    let key = perpbot::cli::read_key_file(&path).unwrap();
    let source = SecretSource {
        env: None,
        file: Some(path.clone()),
    };
    let secret = source.load("venue.kana.private_key").unwrap();
    let again: perpbot::aptos::PrivateKey = secret.expose().parse().unwrap();
    assert_eq!(key.address(), again.address());

    let address = key.address().to_string();
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("address") && l.trim_end().ends_with(&address)),
        "the printed address is the key's ({address}):\n{stdout}"
    );
    let secret_hex = secret
        .expose()
        .trim_start_matches("ed25519-priv-")
        .trim_start_matches("0x")
        .to_string();
    assert_eq!(secret_hex.len(), 64);
    assert!(
        !stdout.contains(&secret_hex) && !stderr.contains(&secret_hex),
        "nothing secret printed"
    );

    // No overwrite without --force; with it, a new key, still owner-only.
    let out = keygen(&path, &[]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--force"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        perpbot::cli::read_key_file(&path).unwrap().address(),
        key.address(),
        "the refused run left the key alone"
    );
    let out = keygen(&path, &["--force"]);
    assert_eq!(out.status.code(), Some(0));
    let replaced = perpbot::cli::read_key_file(&path).unwrap();
    assert_ne!(replaced.address(), key.address());
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(
        std::fs::read_dir(&dir.0).unwrap().count(),
        1,
        "no temporary file left"
    );
}

fn shipped(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("config")
            .join(name),
    )
    .unwrap()
}

/// `check-config` on `text`: exit code and stdout + stderr.
fn check(dir: &Path, name: &str, text: &str) -> (Option<i32>, String) {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let out = Command::new(BIN)
        .arg("check-config")
        .arg(&path)
        .env("KANA_API_KEY", "k")
        .env(
            "PERPBOT_PRIVATE_KEY",
            "0x6b1d3f5a7c9e0b2d4f6a8c1e3b5d7f9a2c4e6b8d0f1a3c5e7b9d2f4a6c8e0b1d",
        )
        .output()
        .unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn replaced(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} not in the shipped config");
    text.replacen(from, to, 1)
}

#[test]
fn check_config_refuses_hosts_chain_ids_and_markets_of_the_other_network() {
    let dir = TempDir::new("network-identity");
    let testnet = shipped("testnet.toml");
    let mainnet = shipped("mainnet.toml");

    let (code, out) = check(dir.0.as_path(), "ok.toml", &testnet);
    assert_eq!(code, Some(0), "the shipped testnet config passes: {out}");

    // A delegate owner or a faucet that is no address fails at start-up, naming the key.
    for (key, line) in [
        (
            "venue.kana.delegate_for",
            "delegate_for = \"0xnot-an-address\"",
        ),
        ("venue.kana.faucet_package", "faucet_package = \"nope\""),
    ] {
        let bad = replaced(
            &testnet,
            "max_batch = 10",
            &format!("max_batch = 10\n{line}"),
        );
        let (code, out) = check(&dir.0, "bad-address.toml", &bad);
        assert_eq!(code, Some(3), "{out}");
        assert!(out.contains(key), "{key}: {out}");
    }

    // Hosts.
    let bad = replaced(
        &testnet,
        "https://perps-tradeapi.kanalabs.io",
        "https://perps-tradeapi.kana.trade",
    );
    let (code, out) = check(&dir.0, "rest.toml", &bad);
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("venue.kana.rest_url")
            && out.contains("perps-tradeapi.kana.trade is a mainnet host"),
        "{out}"
    );
    let bad = replaced(
        &testnet,
        "https://api.testnet.aptoslabs.com/v1",
        "https://api.mainnet.aptoslabs.com/v1",
    );
    let (code, out) = check(&dir.0, "node.toml", &bad);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("venue.kana.node_url"), "{out}");
    let bad = replaced(
        &mainnet,
        "wss://perpetuals-indexer-ws.kana.trade/ws/",
        "wss://perpetuals-indexer-ws-develop.kanalabs.io/ws/",
    );
    let (code, out) = check(&dir.0, "ws.toml", &bad);
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("venue.kana.ws_url") && out.contains("testnet host"),
        "{out}"
    );

    // Chain id.
    let bad = replaced(&testnet, "chain_id = 2", "chain_id = 1");
    let (code, out) = check(&dir.0, "chain.toml", &bad);
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("venue.kana.chain_id") && out.contains("testnet is chain 2"),
        "{out}"
    );

    // Market ids.
    let bad = replaced(&testnet, "markets = [1338]", "markets = [1338, 14]");
    let (code, out) = check(&dir.0, "market.toml", &bad);
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("markets: 14 is Kana's mainnet APT market"),
        "{out}"
    );
    let bad = replaced(&mainnet, "markets = [14]", "markets = [14, 1339]");
    let (code, out) = check(&dir.0, "market2.toml", &bad);
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("markets: 1339 is Kana's testnet BTC market"),
        "{out}"
    );
}

#[test]
fn every_shipped_config_still_loads() {
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("config")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) == Some("toml") {
            Config::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
}
