use super::*;

const MINIMAL: &str = r#"
markets = [1338]
[venue]
kind = "paper"
[[venue.markets]]
id = 1338
name = "APT-USD"
base_decimals = 8
quote_decimals = 6
lot_size = 100000
tick_size = 1
min_lots = 500
max_lots = 150000000
max_leverage = 20
maintenance_margin_bps = 250
quote_precision = 3
[strategy]
name = "market_maker"
"#;

fn with(extra: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str(&format!("{MINIMAL}\n{extra}"))
}

#[test]
fn shipped_configs_load() {
    for file in [
        "config/sim.toml",
        "config/paper.toml",
        "config/testnet.toml",
        "config/mainnet.toml",
        "config/grid.toml",
        "config/kyan-sim.toml",
        "config/kyan-testnet.toml",
        "examples/plugin/plugin.toml",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let config = Config::load(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        // A built-in strategy's params must build too (a renamed param fails here, not at
        // a user's start-up).
        let registry = crate::strategies::builtin_registry();
        if registry.names().any(|n| n == config.strategy.name) {
            registry
                .build(&config.strategy.name, &config.strategy.params)
                .unwrap_or_else(|e| panic!("{file}: {e}"));
        }
    }
}

#[test]
fn unknown_keys_are_named() {
    let err = with("[risk]\nmax_leverge = 3").unwrap_err().to_string();
    assert!(err.contains("max_leverge"), "{err}");
    let err =
        Config::from_toml_str(&MINIMAL.replace("kind = \"paper\"", "kind = \"paper\"\nhost = 1"))
            .unwrap_err()
            .to_string();
    assert!(err.contains("host"), "{err}");
}

#[test]
fn validation_names_the_key() {
    let err = with("[risk]\nmax_leverage = 0").unwrap_err().to_string();
    assert!(err.contains("risk.max_leverage"), "{err}");
    let err = Config::from_toml_str(&MINIMAL.replace("markets = [1338]", "markets = [1339]"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("market 1339 has no spec"), "{err}");
    let err = Config::from_toml_str(&MINIMAL.replace("lot_size = 100000", "lot_size = 0"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("venue.markets[0]") && err.contains("lot_size"),
        "{err}"
    );
    let err = with("[rate_limits]\norders_per_second = 0")
        .unwrap_err()
        .to_string();
    assert!(err.contains("rate_limits.orders_per_second"), "{err}");
}

#[test]
fn literal_secrets_are_refused_without_echoing_them() {
    let err = with("[venue.kana]\nprivate_key = \"0xdeadbeefcafe\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("venue.kana.private_key"), "{err}");
    assert!(
        !err.contains("deadbeef"),
        "the secret must not be echoed: {err}"
    );
}

#[test]
fn secrets_come_from_env_or_file_and_are_redacted() {
    let var = "PERPBOT_TEST_SECRET_CONFIG";
    // SAFETY: this test is the only user of this variable name.
    unsafe { std::env::set_var(var, "  s3cr3t-value \n") };
    let src = SecretSource {
        env: Some(var.into()),
        file: None,
    };
    let secret = src.load("venue.kana.api_key").unwrap();
    assert_eq!(secret.expose(), "s3cr3t-value");
    assert_eq!(
        format!("{secret:?} {secret}"),
        "Secret(<redacted>) <redacted>"
    );
    let missing = SecretSource {
        env: Some("PERPBOT_TEST_UNSET_VAR".into()),
        file: None,
    };
    assert!(
        missing
            .load("k")
            .unwrap_err()
            .contains("PERPBOT_TEST_UNSET_VAR is not set")
    );
    let dir = std::env::temp_dir().join(format!("perpbot-secret-{}", std::process::id()));
    std::fs::write(&dir, "filesecret\n").unwrap();
    let from_file = SecretSource {
        env: None,
        file: Some(dir.clone()),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = from_file.load("venue.kana.private_key").unwrap_err();
        assert!(
            e.contains("venue.kana.private_key") && e.contains("644") && e.contains("chmod 600"),
            "{e}"
        );
        assert!(
            !e.contains("filesecret"),
            "the error never shows the secret"
        );
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    assert_eq!(from_file.load("k").unwrap().expose(), "filesecret");
    assert_eq!(
        format!("{:?}", from_file.load("k").unwrap()),
        "Secret(<redacted>)"
    );
    std::fs::remove_file(dir).ok();
    assert!(SecretSource::default().load("k").is_err());
}

#[test]
fn a_local_network_is_any_chain_but_mainnets_and_testnets() {
    let kana = |chain: u8| {
        Config::from_toml_str(&format!(
            r#"markets = [1338]
[venue]
kind = "kana"
[venue.kana]
network = "local"
rest_url = "http://127.0.0.1:8787"
ws_url = "ws://127.0.0.1:8787/ws/"
node_url = "http://127.0.0.1:8787/v1"
chain_id = {chain}
api_key = {{ env = "KANA_API_KEY" }}
private_key = {{ env = "PERPBOT_PRIVATE_KEY" }}
[strategy]
name = "market_maker""#
        ))
    };
    let cfg = kana(4).unwrap();
    assert!(!cfg.is_mainnet());
    for chain in [1, 2] {
        let e = kana(chain).unwrap_err().to_string();
        assert!(e.contains("venue.kana.chain_id"), "{e}");
    }
}

#[test]
fn mainnet_needs_confirmation() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/mainnet.toml");
    let cfg = Config::load(&path).unwrap();
    assert!(cfg.is_mainnet());
    assert!(cfg.check_mainnet_confirmation(false).is_err());
    assert!(cfg.check_mainnet_confirmation(true).is_ok());
    let testnet =
        Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/testnet.toml")).unwrap();
    assert!(testnet.check_mainnet_confirmation(false).is_ok());
}

/// The bot's own config file reaches these settings under `[venue.sim]`, and its errors name
/// the full key.
#[test]
fn a_bot_config_sets_the_rules_and_names_bad_keys() {
    let text = |fee: &str| {
        format!(
            "markets = [1338]\n[venue]\nkind = \"sim\"\n[venue.sim.exchange]\n\
                 taker_fee = \"{fee}\"\nself_match = \"cancel_taker\"\n[venue.sim.gas]\n\
                 per_order_units = 7\n[strategy]\nname = \"market_maker\"\n"
        )
    };
    let ok = Config::from_toml_str(&text("0.001")).unwrap();
    assert_eq!(
        ok.venue.sim.exchange.taker_fee,
        rust_decimal_macros::dec!(0.001)
    );
    assert_eq!(
        ok.venue.sim.exchange.self_match,
        crate::sim::orders::SelfMatchBehavior::CancelTaker
    );
    assert_eq!(ok.venue.sim.gas.per_order_units, 7);
    let err = Config::from_toml_str(&text("2")).unwrap_err();
    assert!(
        err.message.starts_with("venue.sim.exchange.taker_fee"),
        "{}",
        err.message
    );
}

/// A Kyan config as `config/kyan-testnet.toml` writes it, with `edit` applied to its text.
fn kyan(edit: impl Fn(String) -> String) -> Result<Config, ConfigError> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/kyan-testnet.toml");
    Config::from_toml_str(&edit(std::fs::read_to_string(path).unwrap()))
}

#[test]
fn kyan_configs_fail_naming_the_key() {
    let err = |edit: &dyn Fn(String) -> String| kyan(edit).unwrap_err().to_string();
    // Mainnet without the (unknown) mainnet contract.
    let e = err(&|t| {
        t.replace("network = \"testnet\"", "network = \"mainnet\"")
            .replace("chain_id = 421614", "chain_id = 42161")
    });
    assert!(e.contains("venue.kyan.verifying_contract"), "{e}");
    // Testnet on mainnet's chain.
    let e = err(&|t| t.replace("chain_id = 421614", "chain_id = 42161"));
    assert!(e.contains("venue.kyan.chain_id"), "{e}");
    // A market the instrument table does not map.
    let e = err(&|t| t.replace("markets = [2]", "markets = [2, 3]"));
    assert!(e.contains("markets: market 3"), "{e}");
    // An instrument that is not a perpetual.
    let e = err(&|t| t.replace("\"ETH_USDC-PERPETUAL\"", "\"ETH_USDC-31OCT25-4700-P\""));
    assert!(e.contains("venue.kyan.markets"), "{e}");
    // A secret written into the file.
    let e = err(&|t| t.replace("api_key = { env = \"KYAN_API_KEY\" }", "api_key = \"abc\""));
    assert!(
        e.contains("venue.kyan.api_key: secrets are never read"),
        "{e}"
    );
    // An unknown key of the simulator's table names the table.
    let e = Config::from_toml_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("config/kyan-sim.toml"),
        )
        .unwrap()
        .replace("auto_fund_usdc = \"100000\"", "auto_fund_usdc = \"-1\""),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("venue.kyan_sim.auto_fund_usdc"), "{e}");
}

#[test]
fn kyan_mainnet_needs_confirmation_and_its_secrets() {
    let config = kyan(|t| {
        t.replace("network = \"testnet\"", "network = \"mainnet\"")
            .replace("chain_id = 421614", "chain_id = 42161")
            .replace(
                "# verifying_contract = \"0x746EE6b2689D56d9D593BC1bB733b48BfD4908D0\"",
                "verifying_contract = \"0x1111111111111111111111111111111111111111\"",
            )
            .replace("KYAN_API_KEY", "PERPBOT_TEST_UNSET_KYAN_KEY")
            .replace("PERPBOT_KYAN_PRIVATE_KEY", "PERPBOT_TEST_UNSET_KYAN_PK")
    })
    .unwrap();
    assert!(config.is_mainnet());
    let problems = config.not_ready(false);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("venue.kyan.i_understand_this_is_mainnet")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("venue.kyan.api_key")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("venue.kyan.private_key")),
        "{problems:?}"
    );
    assert!(!config.not_ready(true).iter().any(|p| p.contains("mainnet")));
}

#[test]
fn finished_order_retention_is_read_from_the_engine_section() {
    let default = with("").map(|c| c.engine.finished_order_retention_ms);
    assert_eq!(default.ok(), Some(600_000));
    let set = with("[engine]\nfinished_order_retention_ms = 0")
        .map(|c| c.engine.finished_order_retention_ms);
    assert_eq!(set.ok(), Some(0));
    let err = with("[engine]\nfinished_order_retention_ms = -1")
        .unwrap_err()
        .to_string();
    assert!(err.contains("finished_order_retention_ms"), "{err}");
}
