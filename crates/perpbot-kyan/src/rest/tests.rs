//! The REST client against a mock on 127.0.0.1: exact signed bodies, 429 on reads, deadline
//! re-signing, ambiguity of writes.

use std::str::FromStr;

use alloy_primitives::{Address, U256};
use alloy_sol_types::SolStruct;
use rust_decimal_macros::dec;

use perpbot_model::Side;

use super::*;
use crate::signing::types::UserLimitOrder;
use crate::signing::{
    KyanSigner, TESTNET_CHAIN_ID, TESTNET_VERIFYING_CONTRACT, domain, recover, units,
};
use crate::testutil::{KEY, Mock, api};

fn order(side: Side, price: rust_decimal::Decimal) -> LimitOrder {
    LimitOrder {
        instrument: "BTC_USDC-PERPETUAL".into(),
        side,
        contracts: dec!(0.0015),
        price,
        post_only: true,
        mmp: false,
    }
}

#[tokio::test]
async fn a_signed_limit_batch_is_a_bare_array_whose_signatures_recover_to_the_maker() {
    let mock = Mock::start().await;
    let api = api(&mock.url);
    api.post_limit(&[
        order(Side::Buy, dec!(64000)),
        order(Side::Sell, dec!(66000.5)),
    ])
    .await
    .unwrap();
    let seen = mock.requests("POST /limit");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].headers.get("x-apikey").unwrap(), "test_key");
    // Numbers, not strings, exactly as signed.
    assert!(
        seen[0].body.contains(r#""contracts":0.0015"#),
        "{}",
        seen[0].body
    );
    assert!(
        seen[0].body.contains(r#""price":66000.5"#),
        "{}",
        seen[0].body
    );
    let body = seen[0].json();
    let items = body.as_array().expect("a bare array [D]");
    let maker = KyanSigner::from_hex(KEY).unwrap().address();
    let mut deadlines = Vec::new();
    for (item, (dir, d)) in items.iter().zip([("buy", 0u8), ("sell", 1u8)]) {
        assert_eq!(item["type"], "good_til_cancelled");
        assert_eq!(item["direction"], dir);
        assert_eq!(item["post_only"], true);
        assert_eq!(item["liquidation"], false);
        assert!(item["taker"].is_null());
        assert_eq!(
            Address::from_str(item["maker"].as_str().unwrap()).unwrap(),
            maker
        );
        let deadline = item["signature_deadline"].as_u64().unwrap();
        deadlines.push(deadline);
        let price = crate::decode::num::decimal(&item["price"]).unwrap();
        let msg = UserLimitOrder {
            deadline: U256::from(deadline),
            instrumentName: "BTC_USDC-PERPETUAL".into(),
            size: units("size", dec!(0.0015)).unwrap(),
            price: units("price", price).unwrap(),
            taker: Address::ZERO,
            maker,
            direction: d,
            isLiquidation: false,
            isPostOnly: true,
            mmp: false,
        };
        let digest = msg.eip712_signing_hash(&domain(TESTNET_CHAIN_ID, TESTNET_VERIFYING_CONTRACT));
        let sig =
            hex::decode(item["signature"].as_str().unwrap().trim_start_matches("0x")).unwrap();
        assert_eq!(sig.len(), 65);
        assert_eq!(recover(digest, &sig).unwrap(), maker);
    }
    // Each signature has its own, strictly later deadline.
    assert!(deadlines[1] > deadlines[0]);
}

#[tokio::test]
async fn reads_wait_out_429_as_told_but_writes_are_never_retried() {
    let mock = Mock::start().await;
    let api = api(&mock.url);
    mock.reply_with(
        "GET /orders",
        429,
        &[("retry-after", "0")],
        r#"{"error":"RATE_LIMIT_EXCEEDED"}"#,
    );
    mock.reply("GET /orders", 200, r#"{"orders":[]}"#);
    let v = api.rest.orders(&api.maker_text(), None).await.unwrap();
    assert_eq!(v["orders"], serde_json::json!([]));
    let seen = mock.requests("GET /orders");
    assert_eq!(seen.len(), 2);
    assert!(seen[0].query.starts_with("maker=0x"));

    mock.reply_with(
        "POST /limit",
        429,
        &[("retry-after", "0")],
        r#"{"error":"RATE_LIMIT_EXCEEDED","message":"slow"}"#,
    );
    let e = api
        .post_limit(&[order(Side::Buy, dec!(64000))])
        .await
        .unwrap_err();
    assert_eq!(
        e.kyan().unwrap().kind(),
        perpbot_core::venue::RefusalKind::RateLimited
    );
    assert!(!e.is_ambiguous());
    assert_eq!(mock.requests("POST /limit").len(), 1);
}

#[tokio::test]
async fn a_deadline_refusal_is_signed_again_once_with_a_later_deadline() {
    let mock = Mock::start().await;
    let api = api(&mock.url);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let server = now + 100;
    mock.reply("POST /limit", 400, &format!(r#"{{"error":"SIGNATURE_DEADLINE_INVALID","message":"deadline","serverTime":{server},"minTimestamp":{server},"maxTimestamp":{},"givenTimestamp":{}}}"#, server + 30, now + 20));
    mock.reply("POST /limit", 200, r#"{"posted":[],"rejected":[]}"#);
    api.post_limit(&[order(Side::Buy, dec!(64000))])
        .await
        .unwrap();
    let seen = mock.requests("POST /limit");
    assert_eq!(seen.len(), 2);
    let d0 = seen[0].json()[0]["signature_deadline"].as_u64().unwrap();
    let d1 = seen[1].json()[0]["signature_deadline"].as_u64().unwrap();
    assert!(d1 > d0);
    assert!(
        d1 >= server + 20,
        "the server's clock is used: {d1} vs {server}"
    );
    assert_ne!(
        seen[0].json()[0]["signature"],
        seen[1].json()[0]["signature"]
    );

    // A second refusal is returned, not retried again.
    mock.reply(
        "POST /limit",
        400,
        r#"{"error":"SIGNATURE_DEADLINE_INVALID"}"#,
    );
    mock.reply(
        "POST /limit",
        400,
        r#"{"error":"SIGNATURE_DEADLINE_INVALID"}"#,
    );
    mock.reply("POST /limit", 200, r#"{}"#);
    assert!(
        api.post_limit(&[order(Side::Buy, dec!(64000))])
            .await
            .is_err()
    );
    assert_eq!(mock.requests("POST /limit").len(), 4);
}

#[tokio::test]
async fn server_errors_and_timeouts_on_writes_are_ambiguous() {
    let mock = Mock::start().await;
    let api = api(&mock.url);
    mock.reply("DELETE /orders", 502, "<html>bad gateway</html>");
    let e = api.cancel_orders(&[0xb]).await.unwrap_err();
    assert!(e.is_ambiguous(), "{e}");
    let body = mock.requests("DELETE /orders")[0].json();
    assert_eq!(
        body["order_ids"],
        serde_json::json!(["0000000000000000000000000000000b"])
    );
    assert!(body["signature"].as_str().unwrap().starts_with("0x"));
    // Nothing listens here: a connect failure is not sent, so not ambiguous.
    let dead = crate::testutil::api("http://127.0.0.1:9");
    let e = dead.heartbeat(15).await.unwrap_err();
    assert!(!e.is_ambiguous(), "{e}");
}

#[tokio::test]
async fn a_one_click_session_replaces_signatures_where_kyan_accepts_it() {
    let mock = Mock::start().await;
    let api = api(&mock.url);
    mock.reply(
        "POST /session",
        200,
        r#"{"hash":"sess-1","expires_at_ms":1}"#,
    );
    api.open_session().await.unwrap();
    let body = mock.requests("POST /session")[0].json();
    assert_eq!(body["bind_to_ip"], false);
    assert!(body["signature"].as_str().is_some());
    api.post_limit(&[order(Side::Buy, dec!(64000))])
        .await
        .unwrap();
    let seen = &mock.requests("POST /limit")[0];
    assert_eq!(seen.headers.get("x-one-click").unwrap(), "sess-1");
    assert!(seen.json()[0].get("signature").is_none());
    // A market order is always signed.
    api.post_market(&MarketOrder {
        instrument: "BTC_USDC-PERPETUAL".into(),
        side: Side::Sell,
        contracts: dec!(0.001),
        limit_price: dec!(60000),
    })
    .await
    .unwrap();
    let m = &mock.requests("POST /market")[0];
    assert!(m.headers.get("x-one-click").is_none());
    assert!(m.json()["signature"].as_str().is_some());
    api.close_session().await.unwrap();
    assert_eq!(
        mock.requests("DELETE /session")[0]
            .headers
            .get("x-one-click")
            .unwrap(),
        "sess-1"
    );
}

#[tokio::test]
async fn the_mmp_config_is_signed_over_all_nine_fields() {
    let mock = Mock::start().await;
    let api = api(&mock.url);
    let c = MmpConfig {
        smart_account: api.maker(),
        pair: "BTC_USDC".into(),
        active: true,
        interval_secs: 10,
        frozen_secs: 30,
        quantity_limit: dec!(0),
        delta_limit: dec!(0.5),
        vega_limit: dec!(0),
    };
    api.set_mmp_config("/mmp_config", &c).await.unwrap();
    let body = mock.requests("POST /mmp_config")[0].json();
    assert_eq!(body["delta_limit"], serde_json::json!(0.5));
    let msg = signed::MMPConfigUpdate {
        smartAccountAddress: api.maker(),
        pairSymbol: "BTC_USDC".into(),
        status: "active".into(),
        interval: U256::from(10u64),
        frozenTime: U256::from(30u64),
        quantityLimit: U256::ZERO,
        deltaLimit: U256::from(500_000u64),
        vegaLimit: U256::ZERO,
        deadline: U256::from(body["signature_deadline"].as_u64().unwrap()),
    };
    let digest = msg.eip712_signing_hash(&domain(TESTNET_CHAIN_ID, TESTNET_VERIFYING_CONTRACT));
    let sig = hex::decode(body["signature"].as_str().unwrap().trim_start_matches("0x")).unwrap();
    assert_eq!(recover(digest, &sig).unwrap(), api.maker());
    // [C] type hash of the reference.
    assert_eq!(
        format!(
            "{:#x}",
            <signed::MMPConfigUpdate as SolStruct>::eip712_type_hash(&msg)
        ),
        "0x274bac0d63ad2fce9a78130ddc233fa1e4480a51c4fb35a89c0f76d3f279dc8f"
    );
}

#[tokio::test]
async fn concurrent_signed_writes_reach_kyan_in_deadline_order() {
    let mock = Mock::start().await;
    let api = api(&mock.url);
    let mut tasks = Vec::new();
    for i in 0..6u64 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                api.heartbeat(15).await.map(|_| ())
            } else {
                api.cancel_orders(&[u128::from(i)]).await.map(|_| ())
            }
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let deadlines: Vec<u64> = mock
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.json()["signature_deadline"].as_u64().unwrap())
        .collect();
    assert_eq!(deadlines.len(), 6);
    assert!(deadlines.windows(2).all(|w| w[1] > w[0]), "{deadlines:?}");
}

#[tokio::test]
async fn a_write_that_times_out_is_ambiguous_and_not_resent() {
    let mock = Mock::start().await;
    let api = api(&mock.url); // 1 s timeout
    mock.stall("POST /limit", std::time::Duration::from_millis(1_500));
    let e = api
        .post_limit(&[order(Side::Buy, dec!(64000))])
        .await
        .unwrap_err();
    assert!(matches!(e, RestError::Timeout(_)), "{e}");
    assert!(e.is_ambiguous());
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(mock.requests("POST /limit").len(), 1);
}
