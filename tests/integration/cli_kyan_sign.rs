//! `perpbot kyan sign`: the printed signature verifies by standard EIP-712 recovery against the
//! signer's address, the digest is the reference's computed vector, and bad input is a clear
//! error naming the field, never a panic.

use std::process::Command;

use crate::common::{TempDir, owner_only};
use perpbot::venue::kyan::signing::{KyanSigner, recover};

const BIN: &str = env!("CARGO_BIN_EXE_perpbot");
/// Hardhat's first account: a public, throwaway key.
const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/// The reference's sample order (§3.3 [C]).
const ORDER: &str = r#"{"deadline":"1700000000","instrumentName":"BTC_USDC-PERPETUAL","size":"10000000000","price":"65000000000","taker":"0x0000000000000000000000000000000000000000","maker":"0x1234567890abcdef1234567890abcdef12345678","direction":"1","isLiquidation":false,"isPostOnly":false,"mmp":false}"#;

fn sign(args: &[&str], env_key: Option<&str>) -> (bool, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("kyan")
        .arg("sign")
        .args(args)
        .env_remove("PERPBOT_KYAN_PRIVATE_KEY");
    if let Some(k) = env_key {
        cmd.env("PERPBOT_KYAN_PRIVATE_KEY", k);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_signature_recovers_the_signer_and_the_digest_is_the_reference_vector() {
    let (ok, stdout, stderr) = sign(&["UserLimitOrder", "--message", ORDER], Some(KEY));
    assert!(ok, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let digest = v["digest"].as_str().unwrap();
    assert_eq!(
        digest,
        "0x05893bbc794a27811f7e65288434d7908198b0049880915a1b312a1b419e855d"
    );
    let signature = hex::decode(v["signature"].as_str().unwrap().trim_start_matches("0x")).unwrap();
    assert_eq!(signature.len(), 65);
    assert!(matches!(signature[64], 27 | 28));
    let signer = KyanSigner::from_hex(KEY).unwrap().address();
    assert_eq!(
        recover(digest.parse().unwrap(), &signature).unwrap(),
        signer
    );
    assert!(
        !stdout.contains(&KEY[2..]) && !stderr.contains(&KEY[2..]),
        "the key stays secret"
    );

    // The same from a key file; another chain id signs another digest.
    let dir = TempDir::new("kyan-sign");
    let file = dir.0.join("kyan.key");
    owner_only(&file, KEY);
    let (ok, from_file, stderr) = sign(
        &[
            "UserLimitOrder",
            "--message",
            ORDER,
            "--key-file",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(ok, "{stderr}");
    assert_eq!(from_file, stdout);
    // Another chain needs its contract named (mainnet's is not documented), and signs another
    // digest.
    let (ok, _, stderr) = sign(
        &["UserLimitOrder", "--message", ORDER, "--chain-id", "42161"],
        Some(KEY),
    );
    assert!(!ok && stderr.contains("--verifying-contract"), "{stderr}");
    let (ok, mainnet, stderr) = sign(
        &[
            "UserLimitOrder",
            "--message",
            ORDER,
            "--chain-id",
            "42161",
            "--verifying-contract",
            "0x1111111111111111111111111111111111111111",
        ],
        Some(KEY),
    );
    assert!(ok, "{stderr}");
    assert_ne!(mainnet, stdout);
}

#[test]
fn bad_input_is_a_clear_error_naming_the_field() {
    let bad = |s: &str, from: &str, to: &str| s.replace(from, to);
    let no_mmp = bad(ORDER, r#","mmp":false"#, "");
    let extra = bad(ORDER, r#""mmp":false"#, r#""mmp":false,"extra":1"#);
    let negative = bad(ORDER, r#""price":"65000000000""#, r#""price":"-1""#);
    let fraction = bad(ORDER, r#""price":"65000000000""#, r#""price":"6.5""#);
    let not_address = bad(
        ORDER,
        "0x1234567890abcdef1234567890abcdef12345678",
        "0xnothex",
    );
    let cases = [
        (vec!["UserLimitOrders", "--message", ORDER], "unknown type"),
        (vec!["UserLimitOrder", "--message", &no_mmp], "mmp: missing"),
        (
            vec!["UserLimitOrder", "--message", &extra],
            "extra: not a field",
        ),
        (
            vec!["UserLimitOrder", "--message", &negative],
            "price: \"-1\" is negative",
        ),
        (
            vec!["UserLimitOrder", "--message", &fraction],
            "price: \"6.5\" is not a whole number",
        ),
        (
            vec!["UserLimitOrder", "--message", &not_address],
            "maker: \"0xnothex\" is not an address",
        ),
        (
            vec![
                "UserLimitOrder",
                "--message",
                ORDER,
                "--verifying-contract",
                "0x12",
            ],
            "--verifying-contract",
        ),
    ];
    for (args, expected) in cases {
        let (ok, _, stderr) = sign(&args, Some(KEY));
        assert!(!ok, "{args:?} should fail");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // No key at all names where it is looked for; a bad key is refused without echoing it.
    let (ok, _, stderr) = sign(&["UserLimitOrder", "--message", ORDER], None);
    assert!(
        !ok && stderr.contains("PERPBOT_KYAN_PRIVATE_KEY"),
        "{stderr}"
    );
    let (ok, _, stderr) = sign(&["UserLimitOrder", "--message", ORDER], Some("0xdeadbeef"));
    assert!(!ok && stderr.contains("private key"), "{stderr}");
}
