//! Key hygiene, end to end through the `perpbot` binary: with a known private key and a known API
//! key, and every log at trace level, nothing the bot prints or writes shows either secret in any
//! encoding — not on stdout, not on stderr, not in the `--report` JSON, not in an error chain.
//!
//! Runs covered (each scanned):
//!
//! * `perpbot run` with `kind = "sim"` (the embedded simulator; the key is in the environment
//!   but not used);
//! * `perpbot run` with `kind = "kana"` against a simulator this test starts on loopback (chain
//!   2, Kana's package address), the key from `PERPBOT_PRIVATE_KEY` (hex and AIP-80) and from an
//!   owner-only key file (hex and AIP-80), the API key from an environment variable — the bot
//!   signs and submits real transactions with it;
//! * `perpbot check-config` and `perpbot tx sign` (env, AIP-80, key file, and a mistyped key
//!   whose error must not echo it).
//!
//! Encodings searched: hex with and without `0x`, lower and upper case, AIP-80
//! (`ed25519-priv-0x…`), base64 (standard and URL-safe, padded or not) and the raw 32 bytes; the
//! API key as is. (There is no journal in this build; when `perpbot journal` lands its files
//! belong in the scan.)
//!
//! Also: a key file readable by others is refused with a message naming the key and `chmod 600`,
//! and a mainnet config without confirmation refuses to start.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// The private key every run uses (never a real one).
const KEY_HEX: &str = "4d2f6c1b9a8e7d3c5b0a1f2e3d4c5b6a79881726354453627180f9e8d7c6b5a4";
/// The REST API key.
const API_KEY: &str = "hygiene-api-key-7Q3xZp9K";

fn key_bytes() -> Vec<u8> {
    (0..KEY_HEX.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&KEY_HEX[i..i + 2], 16).unwrap())
        .collect()
}

fn base64(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = [(n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63];
        for (i, c) in chars.iter().enumerate() {
            if i <= chunk.len() {
                out.push(alphabet[*c as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Every text form of the secrets that must never appear.
fn forbidden() -> Vec<String> {
    const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = key_bytes();
    let mut v = vec![
        KEY_HEX.to_string(),
        KEY_HEX.to_uppercase(),
        format!("0x{KEY_HEX}"),
        format!("0X{}", KEY_HEX.to_uppercase()),
        format!("ed25519-priv-0x{KEY_HEX}"),
        API_KEY.to_string(),
    ];
    for alphabet in [STD, URL] {
        for pad in [true, false] {
            v.push(base64(&bytes, alphabet, pad));
        }
    }
    // A long enough prefix catches a key cut short by a log line's width.
    v.push(KEY_HEX[..24].to_string());
    v.push(KEY_HEX[..24].to_uppercase());
    v
}

/// Panic if `what` contains any form of a secret.
fn scan(label: &str, what: &[u8]) {
    let text = String::from_utf8_lossy(what);
    for f in forbidden() {
        assert!(
            !text.contains(&f),
            "{label}: a secret appears in the output as {f:?}"
        );
    }
    let raw = key_bytes();
    assert!(
        !what.windows(raw.len()).any(|w| w == raw.as_slice()),
        "{label}: the raw key bytes appear in the output"
    );
}

fn scan_output(label: &str, out: &Output) {
    scan(&format!("{label} stdout"), &out.stdout);
    scan(&format!("{label} stderr"), &out.stderr);
}

/// A fresh directory for one test's files.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("perpbot-hygiene-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_mode(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = mode;
}

/// The bot binary at trace level (flag and RUST_LOG), in `dir`, without inherited secrets.
fn perpbot(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_perpbot"));
    cmd.current_dir(dir)
        .env_remove("PERPBOT_PRIVATE_KEY")
        .env_remove("PERPBOT_TEST_API_KEY")
        .env("RUST_LOG", "trace")
        .args(["--log-level", "trace"]);
    cmd
}

/// The strategy, risk and engine tables of the shipped default config.
fn shipped_tail() -> String {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/sim.toml")).unwrap();
    let at = text.find("[strategy]").unwrap();
    text[at..]
        .replace("kill_switch_file = \"perpbot.kill\"\n", "")
        .replace("status_interval_ms = 3000", "status_interval_ms = 500")
}

/// A `kind = "kana"` config for a simulator at `base` (`127.0.0.1:port`).
fn kana_config(base: &str, private_key: &str) -> String {
    format!(
        "markets = [1338]\n\
         [venue]\n\
         kind = \"kana\"\n\
         [venue.kana]\n\
         network = \"testnet\"\n\
         rest_url = \"http://{base}\"\n\
         ws_url = \"ws://{base}/ws/\"\n\
         node_url = \"http://{base}/v1\"\n\
         chain_id = 2\n\
         api_key = {{ env = \"PERPBOT_TEST_API_KEY\" }}\n\
         private_key = {private_key}\n\
         gas_unit_price = 100\n\
         expiration_secs = 30\n\
         confirm_timeout_ms = 5000\n\
         request_timeout_ms = 5000\n\n{}",
        shipped_tail()
    )
}

/// A simulator on loopback that looks like Kana testnet to the client: chain 2, Kana's package
/// address, the test's API key.
async fn testnet_like_sim() -> perpbot::sim::server::SimHandle {
    let sim = perpbot::sim::server::SimConfig {
        api_key: API_KEY.to_string(),
        chain_id: 2,
        package: perpbot::aptos::vm_status::KANA_PERPS_PACKAGE.to_string(),
        block_latency_ms: 50,
        ..perpbot::sim::server::SimConfig::default()
    };
    perpbot::sim::server::start(
        sim,
        "127.0.0.1:0".parse().unwrap(),
        perpbot::clock::Clock::system(),
    )
    .await
    .expect("the simulator starts")
}

/// `perpbot run --duration 4 --report …` with `config` in `dir`; returns its output and report.
fn run_bot(dir: &Path, config: &str, envs: &[(&str, &str)]) -> (Output, Vec<u8>) {
    let config_path = dir.join("config.toml");
    std::fs::write(&config_path, config).unwrap();
    let report = dir.join("report.json");
    let mut cmd = perpbot(dir);
    cmd.arg("run")
        .arg("--config")
        .arg(&config_path)
        .args(["--duration", "4", "--report"])
        .arg(&report);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run perpbot");
    let report = std::fs::read(&report).unwrap_or_default();
    (out, report)
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One trading run: its directory, its `private_key` source and its environment.
type Case = (String, String, Vec<(&'static str, String)>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trading_run_at_trace_level_never_shows_the_keys() {
    let aip80 = format!("ed25519-priv-0x{KEY_HEX}");
    // Four runs against four simulators (one account each, so their sequence numbers never
    // race): key in the environment as hex and as AIP-80, key file with each.
    let mut cases: Vec<Case> = Vec::new();
    let root = temp_dir("trading");
    for (i, (name, key, in_file)) in [
        ("env-hex", KEY_HEX.to_string(), false),
        ("env-aip80", aip80.clone(), false),
        ("file-hex", format!("0x{KEY_HEX}\n"), true),
        ("file-aip80", format!("{aip80}\n"), true),
    ]
    .into_iter()
    .enumerate()
    {
        let dir = root.join(format!("{i}-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        let (source, mut envs) = if in_file {
            let path = dir.join("trading.key");
            write_mode(&path, &key, 0o600);
            (
                format!("{{ file = {:?} }}", path.display().to_string()),
                Vec::new(),
            )
        } else {
            (
                "{ env = \"PERPBOT_PRIVATE_KEY\" }".to_string(),
                vec![("PERPBOT_PRIVATE_KEY", key)],
            )
        };
        envs.push(("PERPBOT_TEST_API_KEY", API_KEY.to_string()));
        cases.push((dir.display().to_string(), source, envs));
    }
    let mut sims = Vec::new();
    let mut jobs = Vec::new();
    for (dir, source, envs) in cases {
        let sim = testnet_like_sim().await;
        let base = sim.rest_url.trim_start_matches("http://").to_string();
        let shared = std::sync::Arc::clone(&sim.shared);
        sims.push(sim);
        let config = kana_config(&base, &source);
        jobs.push(tokio::task::spawn_blocking(move || {
            let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (out, report) = run_bot(Path::new(&dir), &config, &envs);
            (dir, out, report, shared)
        }));
    }
    for job in jobs {
        let (dir, out, report, shared) = job.await.unwrap();
        scan_output(&dir, &out);
        scan(&format!("{dir} report"), &report);
        assert!(
            !report.is_empty(),
            "{dir}: the run wrote its report: {}",
            stderr_of(&out)
        );
        // The bot really used the key: the simulator accepted its signed transactions.
        let signed = shared.core().txn_meta.len();
        assert!(signed > 0, "{dir}: no transaction reached the simulator");
        // Trace level really was on (so the scan covered the most talkative logs).
        // Logs go to stderr (stdout carries the report alone).
        let all = String::from_utf8_lossy(&out.stderr);
        assert!(all.contains("TRACE"), "{dir}: no trace-level line");
    }
    for sim in sims {
        sim.stop();
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn the_embedded_simulator_run_and_the_offline_commands_never_show_the_keys() {
    let dir = temp_dir("offline");
    // kind = "sim": the key in the environment is not used, and must not leak either.
    let sim_config =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/sim.toml"))
            .unwrap()
            .replace("kill_switch_file = \"perpbot.kill\"\n", "");
    let (out, report) = run_bot(
        &dir,
        &sim_config,
        &[
            ("PERPBOT_PRIVATE_KEY", KEY_HEX),
            ("PERPBOT_TEST_API_KEY", API_KEY),
        ],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    scan_output("run kind=sim", &out);
    scan("run kind=sim report", &report);

    // check-config of a Kana config whose secrets are set.
    let path = dir.join("kana.toml");
    std::fs::write(
        &path,
        kana_config("127.0.0.1:9", "{ env = \"PERPBOT_PRIVATE_KEY\" }"),
    )
    .unwrap();
    let out = perpbot(&dir)
        .arg("check-config")
        .arg(&path)
        .env("PERPBOT_PRIVATE_KEY", KEY_HEX)
        .env("PERPBOT_TEST_API_KEY", API_KEY)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    scan_output("check-config", &out);

    // tx sign: hex, AIP-80, key file; and a mistyped key whose error must not echo it.
    let abi = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/coin_abi.json");
    let key_file = dir.join("sign.key");
    write_mode(&key_file, &format!("ed25519-priv-0x{KEY_HEX}\n"), 0o600);
    let sign = |env_key: Option<&str>, file: Option<&Path>| {
        let mut cmd = perpbot(&dir);
        cmd.args([
            "tx",
            "sign",
            "--abi",
            abi,
            "--function",
            "0x1::coin::transfer",
        ])
        .args(["--type-args", r#"["0x1::aptos_coin::AptosCoin"]"#])
        .args([
            "--args",
            r#"["0x2d133ddd281bb6205558357cc6ac75661817e9aaeac3afebc32842759cbf7fa9", "5000"]"#,
        ])
        .args(["--sequence", "1", "--max-gas", "2000", "--gas-price", "100"])
        .args(["--expiration", "1234567890", "--chain-id", "4"]);
        if let Some(k) = env_key {
            cmd.env("PERPBOT_PRIVATE_KEY", k);
        }
        if let Some(f) = file {
            cmd.arg("--key-file").arg(f);
        }
        cmd.output().unwrap()
    };
    let aip80 = format!("ed25519-priv-0x{KEY_HEX}");
    for (label, out) in [
        ("tx sign hex", sign(Some(KEY_HEX), None)),
        ("tx sign aip80", sign(Some(&aip80), None)),
        ("tx sign key file", sign(None, Some(&key_file))),
    ] {
        assert!(out.status.success(), "{label}: {}", stderr_of(&out));
        scan_output(label, &out);
    }
    let typo = &KEY_HEX[..63];
    let out = sign(Some(typo), None);
    assert!(!out.status.success());
    scan_output("tx sign mistyped key", &out);
    assert!(
        !stderr_of(&out).contains(&typo[..24]),
        "the error echoes the mistyped key: {}",
        stderr_of(&out)
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(unix)]
#[test]
fn a_key_file_others_can_read_is_refused_by_name() {
    let dir = temp_dir("wide");
    let key = dir.join("trading.key");
    write_mode(&key, &format!("{KEY_HEX}\n"), 0o644);
    let config = kana_config(
        "127.0.0.1:9",
        &format!("{{ file = {:?} }}", key.display().to_string()),
    );
    let (out, report) = run_bot(&dir, &config, &[("PERPBOT_TEST_API_KEY", API_KEY)]);
    assert!(!out.status.success(), "a world-readable key file was used");
    let err = stderr_of(&out);
    assert!(
        err.contains("venue.kana.private_key") && err.contains("chmod 600") && err.contains("644"),
        "the refusal names the key, the mode and the fix: {err}"
    );
    scan_output("wide key file", &out);
    assert!(report.is_empty(), "nothing ran");

    // tx sign refuses the same file.
    let out = perpbot(&dir)
        .args(["tx", "sign", "--abi"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/coin_abi.json"
        ))
        .args(["--function", "0x1::coin::transfer", "--args", "[]"])
        .args(["--sequence", "1", "--max-gas", "1", "--gas-price", "1"])
        .args(["--expiration", "1", "--chain-id", "4", "--key-file"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("chmod 600"), "{}", stderr_of(&out));
    scan_output("tx sign wide key file", &out);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_mainnet_config_without_confirmation_refuses_to_start() {
    let dir = temp_dir("mainnet");
    let out = perpbot(&dir)
        .args(["run", "--duration", "1", "--config"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/config/mainnet.toml"))
        .env("PERPBOT_PRIVATE_KEY", KEY_HEX)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "mainnet started without confirmation"
    );
    let err = stderr_of(&out);
    assert!(
        err.contains("mainnet") && err.contains("--i-understand-this-is-mainnet"),
        "{err}"
    );
    scan_output("mainnet refusal", &out);
    let _ = std::fs::remove_dir_all(dir);
}

/// The scan itself finds every encoding it claims to (so a clean scan means something).
#[test]
fn the_scan_finds_every_encoding() {
    let mut samples: Vec<Vec<u8>> = forbidden()
        .into_iter()
        .map(|f| format!("log line … {f} … end").into_bytes())
        .collect();
    let mut raw = b"binary ".to_vec();
    raw.extend(key_bytes());
    samples.push(raw);
    for sample in samples {
        let caught = std::panic::catch_unwind(|| scan("sample", &sample));
        assert!(
            caught.is_err(),
            "not caught: {}",
            String::from_utf8_lossy(&sample)
        );
    }
    scan("clean", b"nothing secret here");
}
