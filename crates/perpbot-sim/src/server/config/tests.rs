use super::*;
use rust_decimal_macros::dec;

fn parse(text: &str) -> Result<SimConfig, String> {
    let c: SimConfig = toml::from_str(text).map_err(|e| e.to_string())?;
    c.validate()?;
    Ok(c)
}

#[test]
fn defaults_are_the_previous_behaviour() {
    let c = parse("").unwrap();
    assert_eq!(c, SimConfig::default());
    let pkg = AccountAddress::new([5; 32]);
    let ex = c.exchange_config(pkg);
    // Besides the package, the config adds the test-USDT faucet (Kana testnet's address).
    let old = ExchangeConfig {
        package: pkg,
        faucet_package: AccountAddress::from_hex(TESTNET_USDT_FAUCET).ok(),
        ..ExchangeConfig::default()
    };
    assert_eq!(ex, old);
    assert_eq!(c.gas.units(0), 300);
    assert_eq!(c.gas.units(2), 600);
    assert_eq!(c.gas.initial_octas(), Some(100_000_000_000_000));
    assert_eq!(c.faults.abort(), KanaAbort::Paused);
}

#[test]
fn exchange_rules_reach_the_exchange_config() {
    let c = parse(
        r#"
            [exchange]
            maker_fee = "0.0001"
            taker_fee = "0.001"
            funding_interval_secs = 28800
            funding = { model = "premium", sensitivity = "0.5", cap = "0.002" }
            mark_source = "mid"
            self_match = "cancel_maker"
            market_shortfall = "fill_partial"
            "#,
    )
    .unwrap();
    let ex = c.exchange_config(AccountAddress::new([5; 32]));
    assert_eq!(ex.ledger.fees.maker, dec!(0.0001));
    assert_eq!(ex.ledger.fees.taker, dec!(0.001));
    assert_eq!(ex.ledger.funding_interval, Duration::from_secs(28_800));
    assert_eq!(
        ex.ledger.funding,
        FundingModel::Premium {
            sensitivity: dec!(0.5),
            cap: dec!(0.002)
        }
    );
    assert_eq!(ex.ledger.mark_source, MarkSource::Mid);
    assert_eq!(ex.matching.self_match, SelfMatchBehavior::CancelMaker);
    assert_eq!(ex.matching.market_shortfall, MarketShortfall::FillPartial);
}

#[test]
fn validation_names_the_key() {
    for (text, key) in [
        ("[exchange]\ntaker_fee = \"-0.1\"", "sim.exchange.taker_fee"),
        ("[exchange]\nmaker_fee = \"1\"", "sim.exchange.maker_fee"),
        (
            "[exchange]\nfunding_interval_secs = 0",
            "sim.exchange.funding_interval_secs",
        ),
        (
            "[exchange]\nfunding = { model = \"constant\", rate = \"2\" }",
            "sim.exchange.funding.rate",
        ),
        (
            "[exchange]\nfunding = { model = \"premium\", sensitivity = \"1\", cap = \"-1\" }",
            "sim.exchange.funding.cap",
        ),
        ("[gas]\nbase_units = 0", "sim.gas.base_units"),
        (
            "[gas]\napt_balance = \"0.000000001\"",
            "sim.gas.apt_balance",
        ),
        (
            "[faults]\nws_stall_probability = 1.5",
            "sim.faults.ws_stall_probability",
        ),
        (
            "[faults]\nnode_5xx_probability = -1",
            "sim.faults.node_5xx_probability",
        ),
        ("[faults]\ntx_abort_code = 7", "sim.faults.tx_abort_code"),
    ] {
        let err = parse(text).unwrap_err();
        assert!(err.starts_with(key), "{text}: {err}");
    }
    for (text, word) in [
        ("[exchange]\nself_match = \"sometimes\"", "sometimes"),
        ("[exchange]\nfees = 1", "fees"),
        ("[gas]\nper_order = 1", "per_order"),
    ] {
        let err = parse(text).unwrap_err();
        assert!(err.contains(word), "{text}: {err}");
    }
}

/// `build` hands the rules to the running exchange: a taker pays the configured fee.
#[test]
fn the_running_exchange_uses_the_configured_rules() {
    use crate::abi::{PERPETUAL_SCRIPTS, module_abi};
    use perpbot_aptos::encode_entry_function;
    use perpbot_model::clock::Clock;
    use perpbot_model::{MarketId, Timestamp};
    use serde_json::json;

    let mut c = SimConfig::default();
    c.exchange.taker_fee = dec!(0.001);
    c.exchange.funding_interval_secs = 60;
    c.exchange.market_shortfall = MarketShortfall::FillPartial;
    let t0 = Timestamp::from_secs(1_750_000_000);
    let shared = super::super::build(c, Clock::starting_at(t0)).unwrap();
    let mut core = shared.core();
    let ex = &mut core.exchange;
    assert_eq!(ex.ledger().config().fees.taker, dec!(0.001));
    assert_eq!(
        ex.ledger().config().funding_interval,
        Duration::from_secs(60)
    );
    assert_eq!(
        ex.config().matching.market_shortfall,
        MarketShortfall::FillPartial
    );
    for who in [1u8, 2] {
        ex.mint_wallet(AccountAddress::new([who; 32]), 1_000_000_000);
    }
    let abi = module_abi(ex.package(), PERPETUAL_SCRIPTS).unwrap();
    let mut run = |who: u8, function: &str, args: Vec<serde_json::Value>| {
        let call = encode_entry_function(&abi, function, &[], &args).unwrap();
        ex.execute(AccountAddress::new([who; 32]), &call, t0)
            .unwrap()
    };
    for who in [1u8, 2] {
        let to = AccountAddress::new([who; 32]).to_string();
        run(who, "deposit", vec![json!(to), json!("1000000000")]);
    }
    // 1 APT resting at 6.000 (6000 ticks), taken by a market buy: the taker pays 0.1 %.
    let limit = |long: bool| {
        vec![
            json!("1338"),
            json!(long),
            json!(false),
            json!("1000"),
            json!("6000"),
            json!("2"),
            json!(0),
            json!("0"),
            json!("0"),
        ]
    };
    run(2, "place_limit_order", limit(false));
    let market = vec![
        json!("1338"),
        json!(true),
        json!(false),
        json!("1000"),
        json!("2"),
        json!("0"),
        json!("0"),
    ];
    let fx = run(1, "place_market_order", market);
    let taker = fx
        .fills
        .iter()
        .find(|f| f.liquidity == perpbot_model::Liquidity::Taker)
        .unwrap();
    assert_eq!(taker.market, MarketId(1338));
    assert_eq!(taker.fee, dec!(0.006), "0.1 % of 6");
}
