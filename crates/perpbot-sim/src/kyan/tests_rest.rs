//! The REST API as a trader meets it, on loopback with two or three signers and no synthetic
//! traders (so every fill is one the test made): price-time priority and partial fills,
//! post-only and margin refusals, funding over a shortened interval, the heartbeat, one-click
//! sessions, MMP through a signed config, and the ambiguous 5xx.

use std::str::FromStr;
use std::time::Duration;

use alloy_primitives::{Address, U256};
use perpbot_kyan::signing::types::{
    HeartbeatType, OneClickSignature, OrderTyped, UserEditOrder, UserLimitOrder, UserMarketOrder,
};
use perpbot_kyan::signing::{KyanSigner, TypedMessage, domain, units};
use perpbot_model::Timestamp;
use perpbot_model::clock::Clock;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};

use super::auth::{MMPConfigUpdate, mmp_signing_hash};
use super::*;

pub(super) const KEYS: [&str; 3] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
];
pub(super) const BTC: &str = "BTC_USDC-PERPETUAL";

/// A signer and its next deadline (rising per request, as the client's counter does).
pub(super) struct Trader {
    pub signer: KyanSigner,
    pub deadline: u64,
}

impl Trader {
    pub fn new(i: usize, now: u64) -> Trader {
        Trader {
            signer: KyanSigner::from_hex(KEYS[i]).unwrap(),
            deadline: now + 5,
        }
    }

    pub fn addr(&self) -> Address {
        self.signer.address()
    }

    pub fn hex(&self) -> String {
        format!("{:#x}", self.addr())
    }

    pub fn next(&mut self) -> u64 {
        self.deadline += 1;
        self.deadline
    }

    pub fn sign(&self, m: TypedMessage) -> String {
        let d = domain(
            perpbot_kyan::signing::TESTNET_CHAIN_ID,
            perpbot_kyan::signing::TESTNET_VERIFYING_CONTRACT,
        );
        format!(
            "0x{}",
            hex::encode(self.signer.sign_digest(m.signing_hash(&d)))
        )
    }

    /// A signed limit order (`contracts`).
    pub fn limit(
        &mut self,
        buy: bool,
        price: &str,
        contracts: &str,
        post_only: bool,
        mmp: bool,
    ) -> Value {
        let deadline = self.next();
        let m = UserLimitOrder {
            deadline: U256::from(deadline),
            instrumentName: BTC.into(),
            size: units("size", Decimal::from_str(contracts).unwrap()).unwrap(),
            price: units("price", Decimal::from_str(price).unwrap()).unwrap(),
            taker: Address::ZERO,
            maker: self.addr(),
            direction: if buy { 0 } else { 1 },
            isLiquidation: false,
            isPostOnly: post_only,
            mmp,
        };
        json!({
            "instrument_name": BTC, "type": "good_til_cancelled", "contracts": contracts,
            "direction": if buy { "buy" } else { "sell" }, "price": price, "post_only": post_only,
            "mmp": mmp, "liquidation": false, "maker": self.hex(), "taker": null,
            "signature": self.sign(TypedMessage::LimitOrder(m)), "signature_deadline": deadline,
        })
    }

    /// A signed market order.
    pub fn market(&mut self, buy: bool, contracts: &str, limit: &str) -> Value {
        let deadline = self.next();
        let m = UserMarketOrder {
            deadline: U256::from(deadline),
            marketOrder: OrderTyped {
                instrumentName: BTC.into(),
                size: units("size", Decimal::from_str(contracts).unwrap()).unwrap(),
                direction: if buy { 0 } else { 1 },
            },
            limitPrice: units("price", Decimal::from_str(limit).unwrap()).unwrap(),
            taker: self.addr(),
        };
        json!({
            "market_order": {"instrument_name": BTC, "contracts": contracts, "direction": if buy { "buy" } else { "sell" }},
            "limit_price": limit, "taker": self.hex(),
            "signature": self.sign(TypedMessage::MarketOrder(m)), "signature_deadline": deadline,
        })
    }

    /// A signed edit.
    pub fn edit(&mut self, order_id: &str, price: &str, contracts: &str) -> Value {
        let deadline = self.next();
        let m = UserEditOrder {
            deadline: U256::from(deadline),
            size: units("size", Decimal::from_str(contracts).unwrap()).unwrap(),
            price: units("price", Decimal::from_str(price).unwrap()).unwrap(),
            orderId: order_id.into(),
        };
        json!({"order_id": order_id, "contracts": contracts, "price": price, "maker": self.hex(),
            "signature": self.sign(TypedMessage::EditOrder(m)), "signature_deadline": deadline})
    }

    /// A signed heartbeat.
    pub fn heartbeat(&mut self, timeout: u64) -> Value {
        let deadline = self.next();
        let m = HeartbeatType {
            deadline: U256::from(deadline),
            maker: self.addr(),
            timeout: U256::from(timeout),
        };
        json!({"maker": self.hex(), "timeout": timeout,
            "signature": self.sign(TypedMessage::Heartbeat(m)), "signature_deadline": deadline})
    }

    /// A signed one-click session request.
    pub fn session(&mut self) -> Value {
        let deadline = self.next();
        let m = OneClickSignature {
            deadline: U256::from(deadline),
            user: self.addr(),
            bindToIp: false,
        };
        json!({"user": self.hex(), "bind_to_ip": false,
            "signature": self.sign(TypedMessage::OneClick(m)), "signature_deadline": deadline})
    }
}

pub(super) fn quiet(cfg: KyanSimConfig) -> KyanSimConfig {
    KyanSimConfig {
        synthetic: None,
        ..cfg
    }
}

pub(super) async fn sim_with(cfg: KyanSimConfig) -> (KyanSimHandle, u64) {
    perpbot_aptos::node::ensure_crypto_provider();
    let now = 1_760_000_000;
    let h = start(
        cfg,
        "127.0.0.1:0".parse().unwrap(),
        Clock::starting_at(Timestamp::from_secs(now)),
    )
    .await
    .unwrap();
    (h, now)
}

/// A request; `(status, body)`.
pub(super) async fn call(
    h: &KyanSimHandle,
    method: &str,
    path: &str,
    body: Option<Value>,
    one_click: Option<&str>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", h.rest_url))
        .header("x-apikey", h.api_key());
    if let Some(b) = body {
        req = req.json(&b);
    }
    if let Some(s) = one_click {
        req = req.header("x-one-click", s);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn dec_of(v: &Value) -> Decimal {
    match v {
        Value::String(s) => Decimal::from_str(s).unwrap(),
        other => Decimal::from_str(&other.to_string()).unwrap(),
    }
}

async fn orders_of(h: &KyanSimHandle, t: &Trader) -> Vec<Value> {
    let (_, body) = call(h, "GET", &format!("/orders?maker={}", t.hex()), None, None).await;
    body["orders"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn price_time_priority_and_partial_fills_across_two_makers() {
    let (h, now) = sim_with(quiet(KyanSimConfig::default())).await;
    let (mut a, mut b, mut c) = (
        Trader::new(0, now),
        Trader::new(1, now),
        Trader::new(2, now),
    );
    // A's 0.2 rests first at 100,010, then B's 0.3 at the same price; A's 0.1 at 100,005 is better.
    let orders = [
        a.limit(false, "100010", "0.2", true, false),
        b.limit(false, "100010", "0.3", true, false),
        a.limit(false, "100005", "0.1", true, false),
    ];
    for o in orders {
        let (s, body) = call(&h, "POST", "/limit", Some(json!([o])), None).await;
        assert_eq!(
            (s, body["posted"].as_array().map(Vec::len)),
            (200, Some(1)),
            "{body}"
        );
    }
    // C buys 0.4 within 100,010: 0.1 @ 100,005 (price), 0.2 from A (time), 0.1 of B's 0.3.
    let (s, fill) = call(
        &h,
        "POST",
        "/market",
        Some(c.market(true, "0.4", "100010")),
        None,
    )
    .await;
    assert_eq!(s, 200, "{fill}");
    assert_eq!(fill["order_state"], "filled");
    assert_eq!(dec_of(&fill["filled_contracts"]), dec!(0.4));
    assert_eq!(
        dec_of(&fill["price"]),
        dec!(100008.75),
        "(0.1·100005 + 0.3·100010) / 0.4"
    );
    assert!(orders_of(&h, &a).await.is_empty());
    let left = orders_of(&h, &b).await;
    assert_eq!(left.len(), 1);
    assert_eq!(dec_of(&left[0]["filled_contracts"]), dec!(0.1));
    assert_eq!(dec_of(&left[0]["contracts"]), dec!(0.3));
    assert_eq!(h.truth(c.addr()).position(BTC), dec!(0.4));
    assert_eq!(h.truth(a.addr()).position(BTC), dec!(-0.3));
    // A crossing limit fills as taker and rests the rest: C bids 0.5 at 100,010, 0.2 fills.
    let (_, body) = call(
        &h,
        "POST",
        "/limit",
        Some(json!([c.limit(true, "100010", "0.5", false, false)])),
        None,
    )
    .await;
    let posted = &body["posted"][0];
    assert_eq!(
        (
            posted["order_state"].as_str(),
            dec_of(&posted["filled_contracts"])
        ),
        (Some("open"), dec!(0.2)),
        "{body}"
    );
    assert_eq!(h.truth(c.addr()).open_orders[0].remaining, dec!(0.3));
    assert!(orders_of(&h, &b).await.is_empty());
    // The trades read back over REST, newest first, one page at a time.
    let c_addr = format!("{:#x}", c.addr());
    let (s, page) = call(
        &h,
        "GET",
        &format!("/v2/account_history?address={c_addr}&event_types=trade&limit=1"),
        None,
        None,
    )
    .await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["has_more"], true, "{page}");
    assert_eq!(page["data"][0]["event_type"], "trade");
    assert_eq!(
        dec_of(&page["data"][0]["size"]),
        dec!(0.2),
        "the newest: the crossing limit"
    );
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let (_, page) = call(
        &h,
        "GET",
        &format!("/v2/account_history?address={c_addr}&limit=10&cursor={cursor}"),
        None,
        None,
    )
    .await;
    assert_eq!(page["has_more"], false, "{page}");
    assert_eq!(
        dec_of(&page["data"][0]["size"]),
        dec!(0.4),
        "then the market order"
    );
    let (s, _) = call(&h, "GET", "/v2/account_history?address=0x12", None, None).await;
    assert_eq!(s, 400, "a malformed address is refused");
    let (s, _) = call(
        &h,
        "GET",
        &format!("/v2/account_history?address={c_addr}&sort=up"),
        None,
        None,
    )
    .await;
    assert_eq!(s, 400, "an unknown sort is refused");
    h.stop();
}

#[tokio::test]
async fn post_only_crossing_and_insufficient_margin_are_rejected_and_not_recorded() {
    let cfg = KyanSimConfig {
        auto_fund_usdc: dec!(5000),
        ..quiet(KyanSimConfig::default())
    };
    let (h, now) = sim_with(cfg).await;
    let (mut a, mut b) = (Trader::new(0, now), Trader::new(1, now));
    call(
        &h,
        "POST",
        "/limit",
        Some(json!([a.limit(false, "100000", "0.01", true, false)])),
        None,
    )
    .await;
    let (s, body) = call(
        &h,
        "POST",
        "/limit",
        Some(json!([b.limit(true, "100000", "0.01", true, false)])),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        body["rejected"][0]["reason"], "POST_ONLY_WOULD_CROSS",
        "{body}"
    );
    assert!(body["posted"].as_array().unwrap().is_empty());
    // 1 BTC bid at 90,000 needs 9,000 of IM; the account holds 5,000.
    let (_, body) = call(
        &h,
        "POST",
        "/limit",
        Some(json!([b.limit(true, "90000", "1", true, false)])),
        None,
    )
    .await;
    assert_eq!(
        body["rejected"][0]["reason"], "INSUFFICIENT_MARGIN",
        "{body}"
    );
    assert!(orders_of(&h, &b).await.is_empty());
    // Off-grid price and size are 400s in [D]'s words.
    let (s, body) = call(
        &h,
        "POST",
        "/limit",
        Some(json!([b.limit(true, "90000.5", "0.01", true, false)])),
        None,
    )
    .await;
    assert_eq!(
        (s, body["error"].as_str()),
        (400, Some("MIN_INCREMENT_PRICE_VIOLATION")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Must be divisible by: 1")
    );
    let (_, body) = call(
        &h,
        "POST",
        "/limit",
        Some(json!([b.limit(true, "90000", "0.00001", true, false)])),
        None,
    )
    .await;
    assert_eq!(body["error"], "MIN_INCREMENT_SIZE_VIOLATION", "{body}");
    h.stop();
}

#[tokio::test]
async fn funding_flows_from_long_to_short_over_a_shortened_interval() {
    let mut cfg = quiet(KyanSimConfig::default());
    cfg.funding.interval_secs = 1;
    let (h, now) = sim_with(cfg).await;
    let (mut a, mut b) = (Trader::new(0, now), Trader::new(1, now));
    call(
        &h,
        "POST",
        "/limit",
        Some(json!([b.limit(false, "100000", "1", true, false)])),
        None,
    )
    .await;
    call(
        &h,
        "POST",
        "/limit",
        Some(json!([a.limit(true, "100000", "1", false, false)])),
        None,
    )
    .await;
    // The book trades rich: bid 101,000 (A), ask 101,100 (B).
    call(
        &h,
        "POST",
        "/limit",
        Some(json!([a.limit(true, "101000", "0.01", true, false)])),
        None,
    )
    .await;
    call(
        &h,
        "POST",
        "/limit",
        Some(json!([b.limit(false, "101100", "0.01", true, false)])),
        None,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1_400)).await;
    let (long, short) = (
        h.truth(a.addr()).funding_paid,
        h.truth(b.addr()).funding_paid,
    );
    assert!(
        long >= dec!(62.5),
        "the long paid at least one hourly 0.0625 %: {long}"
    );
    assert_eq!(short, -long, "the short received what the long paid");
    h.stop();
}

#[tokio::test]
async fn an_unrefreshed_heartbeat_cancels_all_orders() {
    let (h, now) = sim_with(quiet(KyanSimConfig::default())).await;
    let mut a = Trader::new(0, now);
    call(
        &h,
        "POST",
        "/limit",
        Some(json!([
            a.limit(true, "90000", "0.1", true, false),
            a.limit(true, "89000", "0.1", true, true)
        ])),
        None,
    )
    .await;
    let (s, body) = call(&h, "POST", "/heartbeat", Some(a.heartbeat(1)), None).await;
    assert_eq!((s, &body["success"]), (200, &json!(true)), "{body}");
    assert_eq!(orders_of(&h, &a).await.len(), 2);
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert!(orders_of(&h, &a).await.is_empty(), "the switch fired");
    h.stop();
}

#[tokio::test]
async fn a_one_click_session_places_without_signatures_but_not_edits() {
    let (h, now) = sim_with(quiet(KyanSimConfig::default())).await;
    let mut a = Trader::new(0, now);
    let (s, body) = call(&h, "POST", "/session", Some(a.session()), None).await;
    assert_eq!(s, 200, "{body}");
    let hash = body["sessionHash"].as_str().unwrap().to_string();
    assert_eq!(body["hash"], body["sessionHash"]);
    let mut o = a.limit(true, "90000", "0.1", true, false);
    let obj = o.as_object_mut().unwrap();
    obj.remove("signature");
    obj.remove("signature_deadline");
    let (s, body) = call(&h, "POST", "/limit", Some(json!([o])), Some(&hash)).await;
    assert_eq!(
        (s, body["posted"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{body}"
    );
    let id = body["posted"][0]["order_id"].as_str().unwrap().to_string();
    // An edit needs its UserEditOrder signature even with a session.
    let mut e = a.edit(&id, "90001", "0.1");
    let obj = e.as_object_mut().unwrap();
    obj.remove("signature");
    obj.remove("signature_deadline");
    let (s, body) = call(&h, "PATCH", "/limit", Some(json!([e])), Some(&hash)).await;
    assert_eq!(s, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("one-click"),
        "{body}"
    );
    // Signed, it works: a new id, the old one gone.
    let (s, body) = call(
        &h,
        "PATCH",
        "/limit",
        Some(json!([a.edit(&id, "90001", "0.1")])),
        None,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["posted"][0]["old_order_id"], json!(id));
    assert_ne!(body["posted"][0]["order_id"], json!(id));
    // Another user's session does not cover this maker; a wrong hash is refused.
    let (s, _) = call(
        &h,
        "POST",
        "/heartbeat",
        Some(json!({"maker": a.hex(), "timeout": 0})),
        Some("0xnope"),
    )
    .await;
    assert_eq!(s, 401);
    let (s, body) = call(
        &h,
        "POST",
        "/heartbeat",
        Some(json!({"maker": a.hex(), "timeout": 0})),
        Some(&hash),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (_, body) = call(&h, "DELETE", "/session", None, Some(&hash)).await;
    assert_eq!(body["revokedSessions"], 1);
    h.stop();
}

#[tokio::test]
async fn a_signed_mmp_config_arms_protection_for_mmp_orders_only() {
    let (h, now) = sim_with(quiet(KyanSimConfig::default())).await;
    let (mut a, mut b) = (Trader::new(0, now), Trader::new(1, now));
    let deadline = a.next();
    let m = MMPConfigUpdate {
        smartAccountAddress: a.addr(),
        pairSymbol: "BTC_USDC".into(),
        status: "active".into(),
        interval: U256::from(60),
        frozenTime: U256::from(60),
        quantityLimit: U256::ZERO,
        deltaLimit: units("limit", dec!(0.1)).unwrap(),
        vegaLimit: U256::ZERO,
        deadline: U256::from(deadline),
    };
    let sig = a.signer.sign_digest(mmp_signing_hash(
        &m,
        perpbot_kyan::signing::TESTNET_CHAIN_ID,
        perpbot_kyan::signing::TESTNET_VERIFYING_CONTRACT,
    ));
    let body = json!({"smart_account_address": a.hex(), "pair_symbol": "BTC_USDC", "status": "active",
        "interval": 60, "frozen_time": 60, "quantity_limit": 0, "delta_limit": 0.1, "vega_limit": 0,
        "signature": format!("0x{}", hex::encode(sig)), "signature_deadline": deadline});
    let (s, r) = call(&h, "POST", "/mmp_config", Some(body), None).await;
    assert_eq!(s, 200, "{r}");
    call(
        &h,
        "POST",
        "/limit",
        Some(json!([
            a.limit(true, "99000", "0.1", true, true),
            a.limit(true, "98000", "0.1", true, false)
        ])),
        None,
    )
    .await;
    call(
        &h,
        "POST",
        "/limit",
        Some(json!([b.limit(false, "99000", "0.1", false, false)])),
        None,
    )
    .await;
    let left = orders_of(&h, &a).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["mmp"], false);
    let (_, r) = call(
        &h,
        "POST",
        "/limit",
        Some(json!([a.limit(true, "97000", "0.1", true, true)])),
        None,
    )
    .await;
    assert_eq!(r["rejected"][0]["reason"], "MMP_FROZEN", "{r}");
    let (_, r) = call(
        &h,
        "GET",
        &format!(
            "/mmp_config?smart_account_address={}&pair_symbol=BTC_USDC",
            a.hex()
        ),
        None,
        None,
    )
    .await;
    assert_eq!(
        (r["status"].as_str(), r["frozen"].as_bool()),
        (Some("active"), Some(true)),
        "{r}"
    );
    h.stop();
}

#[tokio::test]
async fn a_5xx_after_apply_leaves_the_order_visible_in_open_orders() {
    let (h, now) = sim_with(quiet(KyanSimConfig::default())).await;
    let mut a = Trader::new(0, now);
    h.set_faults(KyanFaults {
        rest_5xx_probability: 1.0,
        ..KyanFaults::default()
    })
    .unwrap();
    let mut price = 90_000;
    while h.injected().rest_5xx_applied == 0 {
        price -= 1;
        let (s, _) = call(
            &h,
            "POST",
            "/limit",
            Some(json!([a.limit(
                true,
                &price.to_string(),
                "0.01",
                true,
                false
            )])),
            None,
        )
        .await;
        assert_eq!(s, 503);
        assert!(price > 89_900, "a seeded stream applies half of them");
    }
    h.set_faults(KyanFaults::default()).unwrap();
    let t = h.injected();
    let open = orders_of(&h, &a).await;
    assert_eq!(
        open.len() as u64,
        t.rest_5xx_applied,
        "applied ones rest, the others do not: {t:?}"
    );
    assert_eq!(
        dec_of(&open[0]["price"]),
        Decimal::from(price),
        "the ambiguous one is there"
    );
    // 429 carries retry-after.
    h.set_faults(KyanFaults {
        rest_429_probability: 1.0,
        retry_after_secs: 3,
        ..KyanFaults::default()
    })
    .unwrap();
    let resp = reqwest::Client::new()
        .get(format!("{}/orders?maker={}", h.rest_url, a.hex()))
        .header("x-apikey", "sim")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers()["retry-after"], "3");
    h.stop();
}

#[tokio::test]
async fn the_admin_routes_read_merge_and_tally_faults() {
    let (h, _) = sim_with(quiet(KyanSimConfig::default())).await;
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/admin/faults", h.rest_url))
        .header("x-apikey", "sim")
        .json(&json!({"ws_seq_gap_probability": 0.5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(h.faults().ws_seq_gap_probability, 0.5);
    let r = client
        .post(format!("{}/admin/faults", h.rest_url))
        .header("x-apikey", "sim")
        .json(&json!({"nope": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = client
        .get(format!("{}/admin/faults/injected", h.rest_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let info: Value = client
        .get(format!("{}/api/v1/exchange_info", h.rest_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        info["orderConstraints"]["priceIncrements"]["ETH_USDC"],
        json!(0.1),
        "no key needed: {info}"
    );
    assert_eq!(
        info["orderConstraints"]["perpetuals"]["sizeIncrements"]["BTC_USDC"],
        json!(0.0001)
    );
    h.stop();
}

/// Kyan's TypeScript client reads with the API key as the identity ([S]): no maker on
/// `GET /orders`, the account as a query, `GET /positions` bare, `?pair=` on the MMP config;
/// an unknown path answers in Kyan's JSON error body.
#[tokio::test]
async fn reads_without_an_address_in_the_path_answer_as_kyans_client_expects() {
    let (h, now) = sim_with(quiet(KyanSimConfig::default())).await;
    let mut a = Trader::new(0, now);
    let (s, body) = call(
        &h,
        "POST",
        "/limit",
        Some(json!([a.limit(true, "90000", "0.01", true, false)])),
        None,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = call(&h, "GET", "/orders", None, None).await;
    assert_eq!(
        (s, body["orders"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{body}"
    );
    let (s, body) = call(
        &h,
        "GET",
        &format!("/account-state?account={}", a.hex()),
        None,
        None,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert!(
        body["margin_accounts"]
            .as_array()
            .is_some_and(|l| l.iter().any(|m| m["pair"] == "BTC_USDC")),
        "{body}"
    );
    let (s, body) = call(&h, "GET", "/positions", None, None).await;
    assert_eq!(s, 200, "{body}");
    assert!(body["margin_accounts"].is_array(), "{body}");
    let (s, body) = call(&h, "GET", "/mmp-config?pair=BTC_USDC", None, None).await;
    assert_eq!(
        (s, body["status"].as_str()),
        (200, Some("inactive")),
        "{body}"
    );
    let (s, body) = call(&h, "GET", "/no-such-path", None, None).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (404, Some("NOT_FOUND")),
        "{body}"
    );
    let (s, body) = call(&h, "GET", "/account-state?account=0x12", None, None).await;
    assert_eq!(s, 400, "{body}");
    h.stop();
}
