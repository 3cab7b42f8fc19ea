//! `perpbot tx sign` reproduces vector A of aptos-transactions.md §8.2 exactly, reads the key only
//! from the environment or an owner-only key file, and never prints the key.

use std::process::Command;

const K1: &str = "9bf49a6a0755f953811fce125f2683d50429c3bb49e074147e0089a52eae155f";
const A_RAW: &str = "0x7deeccb1080854f499ec8b4c1b213b82c5e34b925cf6875fec02d4b77adbd2d60b0000000000000002000000000000000000000000000000000000000000000000000000000000000104636f696e087472616e73666572010700000000000000000000000000000000000000000000000000000000000000010a6170746f735f636f696e094170746f73436f696e0002202d133ddd281bb6205558357cc6ac75661817e9aaeac3afebc32842759cbf7fa9088813000000000000d0070000000000000100000000000000d20296490000000004";
const A_SIGNED: &str = "0x7deeccb1080854f499ec8b4c1b213b82c5e34b925cf6875fec02d4b77adbd2d60b0000000000000002000000000000000000000000000000000000000000000000000000000000000104636f696e087472616e73666572010700000000000000000000000000000000000000000000000000000000000000010a6170746f735f636f696e094170746f73436f696e0002202d133ddd281bb6205558357cc6ac75661817e9aaeac3afebc32842759cbf7fa9088813000000000000d0070000000000000100000000000000d202964900000000040020b9c6ee1630ef3e711144a648db06bbb2284f7274cfbee53ffcee503cc1a4920040f25b74ec60a38a1ed780fd2bef6ddb6eb4356e3ab39276c9176cdf0fcae2ab37d79b626abb43d926e91595b66503a4a3c90acbae36a28d405e308f3537af720b";
const A_HASH: &str = "0xdb7e0f0b00b817ad8a9d2eae33cf4eec9e25110bac48fa6807000f43128f17ac";
const A_PREFIX: &str = "b5e97db07fa0bd0e5598aa3643a9bc6f6693bddc1a9fec9e674a461eaa00b193";

fn sign(envs: &[(&str, &str)], extra: &[&str]) -> std::process::Output {
    let abi = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/coin_abi.json");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_perpbot"));
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
    .args([
        "--sequence",
        "11",
        "--max-gas",
        "2000",
        "--gas-price",
        "1",
        "--expiration",
        "1234567890",
        "--chain-id",
        "4",
    ])
    .args(extra)
    .env_remove("PERPBOT_PRIVATE_KEY");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run perpbot")
}

#[test]
fn reproduces_vector_a() {
    let out = sign(&[("PERPBOT_PRIVATE_KEY", K1)], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["raw_txn_hex"], A_RAW);
    assert_eq!(
        json["signing_message_hex"],
        format!("0x{A_PREFIX}{}", &A_RAW[2..])
    );
    assert_eq!(json["signed_txn_hex"], A_SIGNED);
    assert_eq!(json["hash"], A_HASH);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(K1), "the key must never be printed");
}

#[test]
fn aip80_key_gives_the_same_transaction() {
    let aip80 = format!("ed25519-priv-0x{K1}");
    let out = sign(&[("PERPBOT_PRIVATE_KEY", &aip80)], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["hash"], A_HASH);
}

#[test]
fn missing_key_and_loose_key_files_are_refused() {
    let out = sign(&[], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PERPBOT_PRIVATE_KEY"));

    let dir = std::env::temp_dir().join(format!("perpbot-keyfile-{}", std::process::id()));
    std::fs::write(&dir, format!("{K1}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = sign(&[], &["--key-file", dir.to_str().unwrap()]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("owner only"), "{err}");
        assert!(!err.contains(K1));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let out = sign(&[], &["--key-file", dir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["hash"], A_HASH);
    std::fs::remove_file(dir).ok();
}

#[test]
fn a_bad_argument_is_named() {
    let abi = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/coin_abi.json");
    let out = Command::new(env!("CARGO_BIN_EXE_perpbot"))
        .args([
            "tx",
            "sign",
            "--abi",
            abi,
            "--function",
            "0x1::coin::transfer",
        ])
        .args([
            "--type-args",
            r#"["0x1::aptos_coin::AptosCoin"]"#,
            "--args",
            r#"["0x2", "abc"]"#,
        ])
        .args([
            "--sequence",
            "0",
            "--max-gas",
            "1",
            "--gas-price",
            "1",
            "--expiration",
            "1",
            "--chain-id",
            "4",
        ])
        .env("PERPBOT_PRIVATE_KEY", K1)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("argument 1") && err.contains("u64") && err.contains("abc"),
        "{err}"
    );
}
