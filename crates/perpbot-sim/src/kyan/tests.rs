//! The Kyan simulator's `POST /limit`: a signed order is accepted; a tampered signature, a
//! stale or reused deadline, a missing key and malformed bodies are refused with Kyan's error
//! body, and a refused request records nothing.

use std::str::FromStr;

use super::*;
use alloy_primitives::U256;
use perpbot_kyan::errors::KyanError;
use perpbot_kyan::signing::types::UserLimitOrder;
use perpbot_kyan::signing::{Deadlines, KyanSigner, TypedMessage, domain, units};
use perpbot_model::Timestamp;
use rust_decimal::Decimal;

/// Hardhat's first account: a public, throwaway key.
const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const NOW: u64 = 1_760_000_000;

async fn sim() -> KyanSimHandle {
    start(
        KyanSimConfig::default(),
        "127.0.0.1:0".parse().unwrap(),
        Clock::starting_at(Timestamp::from_secs(NOW)),
    )
    .await
    .unwrap()
}

/// One order as \[D\] shows it, signed by `signer` with `deadline`.
fn order(signer: &KyanSigner, deadline: u64, price: &str) -> Value {
    let message = UserLimitOrder {
        deadline: U256::from(deadline),
        instrumentName: "BTC_USDC-PERPETUAL".into(),
        size: units("size", Decimal::from_str("0.2").unwrap()).unwrap(),
        price: units("price", Decimal::from_str(price).unwrap()).unwrap(),
        taker: Address::ZERO,
        maker: signer.address(),
        direction: 0,
        isLiquidation: false,
        isPostOnly: true,
        mmp: false,
    };
    let d = domain(
        perpbot_kyan::signing::TESTNET_CHAIN_ID,
        perpbot_kyan::signing::TESTNET_VERIFYING_CONTRACT,
    );
    let sig = signer.sign_digest(TypedMessage::LimitOrder(message).signing_hash(&d));
    json!({
        "instrument_name": "BTC_USDC-PERPETUAL",
        "type": "good_til_cancelled",
        "contracts": 0.2,
        "direction": "buy",
        "price": price.parse::<f64>().unwrap(),
        "post_only": true,
        "mmp": false,
        "liquidation": false,
        "maker": format!("{:#x}", signer.address()),
        "taker": null,
        "signature": format!("0x{}", hex::encode(sig)),
        "signature_deadline": deadline,
    })
}

async fn post(h: &KyanSimHandle, key: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/limit", h.rest_url))
        .json(body);
    if let Some(k) = key {
        req = req.header("x-apikey", k);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_signed_order_is_accepted_and_a_tampered_one_refused() {
    perpbot_aptos::node::ensure_crypto_provider();
    let h = sim().await;
    let signer = KyanSigner::from_hex(KEY).unwrap();
    let (status, body) = post(&h, Some("sim"), &json!([order(&signer, NOW + 10, "85000")])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["posted"].as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(h.open_order_count(), 1);
    assert_eq!(h.truth(signer.address()).open_orders.len(), 1);

    // The price changed after signing: the signature no longer covers the order.
    let mut tampered = order(&signer, NOW + 11, "85000");
    tampered["price"] = json!(85001.0);
    let (status, body) = post(&h, Some("sim"), &json!([tampered])).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "INVALID_SIGNATURE", "{body}");
    // Another key signing for this maker is refused too.
    let other =
        KyanSigner::from_hex("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
            .unwrap();
    let mut forged = order(&other, NOW + 12, "85000");
    forged["maker"] = json!(format!("{:#x}", signer.address()));
    let (_, body) = post(&h, Some("sim"), &json!([forged])).await;
    assert_eq!(body["error"], "INVALID_SIGNATURE", "{body}");
    assert_eq!(h.open_order_count(), 1, "refused orders are not recorded");
    h.stop();
}

#[tokio::test]
async fn deadlines_must_rise_per_maker_and_the_error_tells_the_server_clock() {
    perpbot_aptos::node::ensure_crypto_provider();
    let h = sim().await;
    let signer = KyanSigner::from_hex(KEY).unwrap();
    let (status, _) = post(&h, Some("sim"), &json!([order(&signer, NOW + 10, "85000")])).await;
    assert_eq!(status, 200);
    // The same deadline again (a replay), one in the past, one too far ahead.
    for deadline in [NOW + 10, NOW - 5, NOW + 31] {
        let (status, body) =
            post(&h, Some("sim"), &json!([order(&signer, deadline, "85000")])).await;
        assert_eq!(status, 400, "{deadline}: {body}");
        assert_eq!(body["error"], "SIGNATURE_DEADLINE_INVALID", "{body}");
        assert_eq!(body["serverTime"], NOW, "{body}");
        assert_eq!(body["givenTimestamp"], deadline, "{body}");
    }
    // A client whose clock is 100 s behind learns the server's from the error, and its next
    // deadline is accepted.
    let mut deadlines = Deadlines::new(15);
    let local_now = NOW - 100;
    let stale = deadlines.next(signer.address(), local_now);
    let (_, body) = post(&h, Some("sim"), &json!([order(&signer, stale, "85000")])).await;
    let error = KyanError::parse(400, &body.to_string());
    assert!(deadlines.observe_error(&error, local_now));
    let fresh = deadlines.next(signer.address(), local_now);
    let (status, body) = post(&h, Some("sim"), &json!([order(&signer, fresh, "85000")])).await;
    assert_eq!(status, 200, "{body}");
    // Within one request deadlines may not fall (equal is accepted, [ASSUMED]); a refused batch
    // records nothing.
    let before = h.open_order_count();
    let falling = json!([
        order(&signer, fresh + 2, "85000"),
        order(&signer, fresh + 1, "85001")
    ]);
    let (_, body) = post(&h, Some("sim"), &falling).await;
    assert_eq!(body["error"], "SIGNATURE_DEADLINE_INVALID", "{body}");
    assert_eq!(h.open_order_count(), before);
    let shared = json!([
        order(&signer, fresh + 1, "85000"),
        order(&signer, fresh + 1, "85001")
    ]);
    let (status, body) = post(&h, Some("sim"), &shared).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(h.open_order_count(), before + 2);
    h.stop();
}

#[tokio::test]
async fn the_key_and_the_body_are_checked_naming_the_field() {
    perpbot_aptos::node::ensure_crypto_provider();
    let h = sim().await;
    let signer = KyanSigner::from_hex(KEY).unwrap();
    let good = order(&signer, NOW + 10, "85000");
    let (status, body) = post(&h, None, &json!([good.clone()])).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("UNAUTHORIZED"))
    );
    let (status, _) = post(&h, Some("wrong"), &json!([good.clone()])).await;
    assert_eq!(status, 401);
    let cases: Vec<(Value, &str)> = vec![
        (json!([]), "empty"),
        // [S]'s object form needs its top-level signature fields.
        (json!({"orders": [good.clone()]}), "JSON array"),
        (
            {
                let mut o = good.clone();
                o["amount"] = json!(10000);
                json!([o])
            },
            "exactly one of amount and contracts",
        ),
        (
            {
                let mut o = good.clone();
                o["extra"] = json!(1);
                json!([o])
            },
            "orders[0].extra: not a field",
        ),
        (
            {
                let mut o = good.clone();
                o["direction"] = json!("up");
                json!([o])
            },
            "orders[0].direction",
        ),
        (
            {
                let mut o = good.clone();
                o["taker"] = json!("0x1111111111111111111111111111111111111111");
                json!([o])
            },
            "orders[0].taker",
        ),
        (
            {
                let mut o = good.clone();
                o["price"] = json!(1.0000001);
                json!([o])
            },
            "orders[0].price",
        ),
        (
            {
                let mut o = good.clone();
                o.as_object_mut().unwrap().remove("maker");
                json!([o])
            },
            "orders[0].maker: missing",
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = post(&h, Some("sim"), &body).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            answer["message"].as_str().unwrap_or("").contains(expected),
            "{expected}: {answer}"
        );
    }
    assert_eq!(h.open_order_count(), 0);
    h.stop();
}
