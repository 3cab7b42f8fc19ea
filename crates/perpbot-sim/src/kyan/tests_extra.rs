//! More of what a client meets: legacy `amount` sizes and \[S\]'s one-signature body, trading
//! against the synthetic traders, the account and position streams, `seq_id` gaps, and config
//! validation naming the key.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::tests_rest::{BTC, Trader, call, quiet, sim_with};
use super::*;

fn to_amount(mut order: Value) -> Value {
    let obj = order.as_object_mut().unwrap();
    let size = obj.remove("contracts").unwrap();
    obj.insert("amount".into(), size);
    order
}

#[tokio::test]
async fn legacy_amount_sizes_and_the_one_signature_body_are_accepted() {
    let (h, now) = sim_with(quiet(KyanSimConfig::default())).await;
    let mut a = Trader::new(0, now);
    // $9,000 at 90,000 is 0.1 BTC; the signature covers the amount as sent.
    let (s, body) = call(
        &h,
        "POST",
        "/limit",
        Some(json!([to_amount(
            a.limit(true, "90000", "9000", true, false)
        )])),
        None,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["posted"][0]["contracts"], json!(0.1), "{body}");
    // $9,001 at 90,000 is not on the 0.0001 grid.
    let (s, body) = call(
        &h,
        "POST",
        "/limit",
        Some(json!([to_amount(
            a.limit(true, "90000", "9.01", true, false)
        )])),
        None,
    )
    .await;
    assert_eq!(
        (s, body["error"].as_str()),
        (400, Some("MIN_INCREMENT_SIZE_VIOLATION")),
        "{body}"
    );
    // [S]: {orders, signature, signature_deadline}.
    let mut o = a.limit(true, "89000", "0.2", true, false);
    let obj = o.as_object_mut().unwrap();
    let sig = obj.remove("signature").unwrap();
    let deadline = obj.remove("signature_deadline").unwrap();
    let (s, body) = call(
        &h,
        "POST",
        "/limit",
        Some(json!({"orders": [o], "signature": sig, "signature_deadline": deadline})),
        None,
    )
    .await;
    assert_eq!(
        (s, body["posted"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{body}"
    );
    // Numbers as JSON numbers work as well as strings.
    let mut o = a.limit(true, "88000", "0.3", true, false);
    o["price"] = json!(88000);
    o["contracts"] = json!(0.3);
    let (s, body) = call(&h, "POST", "/limit", Some(json!([o])), None).await;
    assert_eq!(
        (s, body["posted"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{body}"
    );
    assert_eq!(h.truth(a.addr()).open_orders.len(), 3);
    h.stop();
}

#[tokio::test]
async fn the_synthetic_traders_quote_and_a_client_trades_against_them() {
    let (h, now) = sim_with(KyanSimConfig::default()).await;
    let mut a = Trader::new(0, now);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (_, book) = call(
        &h,
        "GET",
        &format!("/order_book?instrument_name={BTC}"),
        None,
        None,
    )
    .await;
    let ask = book["asks"][0][0].as_f64().expect("the LPs quote");
    let bid = book["bids"][0][0].as_f64().expect("the LPs quote");
    assert!(bid < ask && (ask - bid) / bid < 0.01, "{book}");
    let (_, idx) = call(&h, "GET", "/index_price?pair=BTC_USDC", None, None).await;
    let index = idx["value"].as_f64().unwrap();
    assert!(bid <= index * 1.01 && ask >= index * 0.99, "{idx} {book}");
    // A marketable buy 1 % above the best ask fills at once against an LP.
    let limit = format!("{}", (ask * 1.01).round());
    let (s, fill) = call(
        &h,
        "POST",
        "/market",
        Some(a.market(true, "0.001", &limit)),
        None,
    )
    .await;
    assert_eq!(
        (s, fill["order_state"].as_str()),
        (200, Some("filled")),
        "{fill}"
    );
    let t = h.truth(a.addr());
    assert_eq!(t.position(BTC), dec!(0.001));
    assert!(t.fills >= 1, "one fill record per level taken");
    assert!(t.fees_paid > Decimal::ZERO);
    h.stop();
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next(ws: &mut Ws) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(3), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(t.as_str()).ok(),
            Ok(Some(Ok(_))) => {}
            _ => return None,
        }
    }
}

async fn subscribed(h: &KyanSimHandle, subs: Value) -> Ws {
    let mut ws = tokio_tungstenite::connect_async(&h.ws_url).await.unwrap().0;
    for m in [
        json!({"type": "auth", "api_key": "sim"}),
        json!({"type": "subscribe", "id": 1, "subscriptions": subs}),
    ] {
        ws.send(Message::Text(m.to_string().into())).await.unwrap();
    }
    ws
}

#[tokio::test]
async fn account_state_follows_a_fill_and_positions_come_every_second() {
    let (h, now) = sim_with(quiet(KyanSimConfig::default())).await;
    let (mut a, mut b) = (Trader::new(0, now), Trader::new(1, now));
    let mut ws = subscribed(
        &h,
        json!([
        {"channel": "account_state", "query": {"account": a.hex(), "pair": "BTC_USDC"}},
        {"channel": "position", "query": {"account": a.hex(), "market": "BTC"}}]),
    )
    .await;
    call(
        &h,
        "POST",
        "/limit",
        Some(json!([a.limit(false, "100000", "0.5", true, false)])),
        None,
    )
    .await;
    call(
        &h,
        "POST",
        "/market",
        Some(b.market(true, "0.5", "100000")),
        None,
    )
    .await;
    let mut got_state = false;
    let mut got_position = false;
    while !(got_state && got_position) {
        let v = next(&mut ws).await.expect("events");
        if v["type"] == "account_state"
            && v["data"]["positions"]
                .as_array()
                .is_some_and(|p| !p.is_empty())
        {
            assert_eq!(v["data"]["pair"], "BTC_USDC");
            assert_eq!(v["data"]["im"], json!(5000), "10 % of 0.5 × 100,000: {v}");
            assert_eq!(v["data"]["mm"], json!(2500));
            got_state = true;
        }
        if v["type"] == "position"
            && v["data"]["positions"]
                .as_array()
                .is_some_and(|p| !p.is_empty())
        {
            let p = &v["data"]["positions"][0];
            assert_eq!(
                (p["size"].clone(), p["average_price"].clone()),
                (json!(-0.5), json!(100000)),
                "{v}"
            );
            assert_eq!(v["data"]["market"], "BTC");
            got_position = true;
        }
    }
    h.stop();
}

#[tokio::test]
async fn a_seq_gap_fault_skips_an_event_but_advances_seq_id() {
    let (h, now) = sim_with(quiet(KyanSimConfig::default())).await;
    let mut a = Trader::new(0, now);
    let mut ws = subscribed(
        &h,
        json!([{"channel": "orderbook_maker", "query": {"maker": a.hex()}}]),
    )
    .await;
    // auth, subscribe, snapshot (seq 1).
    for _ in 0..3 {
        next(&mut ws).await.unwrap();
    }
    h.set_faults(KyanFaults {
        ws_seq_gap_probability: 0.5,
        seed: 3,
        ..KyanFaults::default()
    })
    .unwrap();
    for p in 0..8 {
        call(
            &h,
            "POST",
            "/limit",
            Some(json!([a.limit(
                true,
                &format!("{}", 90_000 - p),
                "0.01",
                true,
                false
            )])),
            None,
        )
        .await;
    }
    let mut seqs = Vec::new();
    while let Some(v) = next(&mut ws).await {
        seqs.push(v["seq_id"].as_u64().unwrap());
        if seqs.len() as u64 + h.injected().ws_seq_gaps == 8 {
            break;
        }
    }
    let gaps = h.injected().ws_seq_gaps;
    assert!(gaps > 0 && gaps < 8, "{gaps}");
    assert_eq!(seqs.len() as u64, 8 - gaps);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    assert!(
        seqs.windows(2).any(|w| w[1] > w[0] + 1) || seqs.first() != Some(&2),
        "a gap shows: {seqs:?}"
    );
    h.stop();
}

#[test]
fn the_config_reads_from_toml_and_refusals_name_the_key() {
    let cfg: KyanSimConfig = toml::from_str(
        "api_key = \"k\"\nverifying_contract = \"0x746EE6b2689D56d9D593BC1bB733b48BfD4908D0\"\n[margin]\nim_rate = \"0.2\"\n[faults]\nrest_429_probability = 0.1\n",
    )
    .unwrap();
    assert_eq!(cfg.margin.im_rate, dec!(0.2));
    assert!(cfg.validate().is_ok());
    assert!(
        toml::from_str::<KyanSimConfig>("nope = 1").is_err(),
        "unknown keys are refused"
    );
    let bad = KyanSimConfig {
        session_cap_secs: 0,
        ..KyanSimConfig::default()
    };
    assert!(
        bad.validate()
            .unwrap_err()
            .contains("kyan.session_cap_secs")
    );
    let mut bad = KyanSimConfig::default();
    bad.instruments[1].price_increment = dec!(0.0000001);
    assert!(bad.validate().unwrap_err().contains("kyan.instruments[1]"));
    let mut bad = KyanSimConfig::default();
    bad.faults.ws_drop_probability = 2.0;
    assert!(
        bad.validate()
            .unwrap_err()
            .contains("kyan.faults.ws_drop_probability")
    );
}

#[tokio::test]
async fn orderbook_perps_carries_the_synthetic_traders_orders() {
    let (h, _) = sim_with(KyanSimConfig::default()).await;
    let mut ws = subscribed(
        &h,
        json!([{"channel": "orderbook_perps", "query": {"instrument_name": BTC}}]),
    )
    .await;
    let mut kinds = std::collections::BTreeSet::new();
    while kinds.len() < 2 {
        let v = next(&mut ws).await.expect("book events");
        if v["kind"] != "event" {
            continue;
        }
        let o = &v["data"][0];
        assert_eq!(o["instrument_name"], BTC, "{v}");
        assert_eq!(o["order_id"].as_str().map(str::len), Some(32));
        assert!(o["maker"].as_str().is_some_and(|m| m.len() == 42));
        kinds.insert(v["type"].as_str().unwrap().to_string());
    }
    assert!(kinds.contains("post_order"), "{kinds:?}");
    h.stop();
}

#[tokio::test]
async fn cancels_by_id_and_cancel_all_are_signed_and_sort_their_answers() {
    use alloy_primitives::U256;
    use perpbot_kyan::signing::TypedMessage;
    use perpbot_kyan::signing::types::{CancelAllOrdersType, CancelOrdersType};

    let (h, now) = sim_with(quiet(KyanSimConfig::default())).await;
    let (mut a, b) = (Trader::new(0, now), Trader::new(1, now));
    let (_, body) = call(
        &h,
        "POST",
        "/limit",
        Some(json!([
            a.limit(true, "90000", "0.1", true, false),
            a.limit(true, "89000", "0.1", true, false),
            a.limit(true, "88000", "0.1", true, false)
        ])),
        None,
    )
    .await;
    let ids: Vec<String> = body["posted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_id"].as_str().unwrap().to_string())
        .collect();
    let missing = "0".repeat(32);
    let order_ids = vec![ids[0].clone(), missing.clone()];
    let deadline = a.next();
    let m = CancelOrdersType {
        deadline: U256::from(deadline),
        maker: a.addr(),
        orderIds: order_ids.clone(),
    };
    // Signed by someone else: refused, nothing cancelled.
    let forged = b.sign(TypedMessage::CancelOrders(m.clone()));
    let (s, _) = call(&h, "DELETE", "/orders", Some(json!({"maker": a.hex(), "order_ids": order_ids, "signature": forged, "signature_deadline": deadline})), None).await;
    assert_eq!(s, 400);
    assert_eq!(h.truth(a.addr()).open_orders.len(), 3);
    let sig = a.sign(TypedMessage::CancelOrders(m));
    let (s, r) = call(&h, "DELETE", "/orders", Some(json!({"maker": a.hex(), "order_ids": order_ids, "signature": sig, "signature_deadline": deadline})), None).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["orders_cancelled"], json!([ids[0]]));
    assert_eq!(r["orders_not_found"], json!([missing]));
    let deadline = a.next();
    let sig = a.sign(TypedMessage::CancelAllOrders(CancelAllOrdersType {
        deadline: U256::from(deadline),
        maker: a.addr(),
    }));
    let (s, r) = call(
        &h,
        "DELETE",
        "/orders_all",
        Some(json!({"maker": a.hex(), "signature": sig, "signature_deadline": deadline})),
        None,
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["orders_cancelled"].as_array().map(Vec::len), Some(2));
    assert!(h.truth(a.addr()).open_orders.is_empty());
    h.stop();
}
