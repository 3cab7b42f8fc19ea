use super::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap as AxHeaders, Method as AxMethod, StatusCode as AxStatus, Uri};
use axum::response::{IntoResponse, Response};
use rust_decimal_macros::dec;
use serde_json::json;

const WALLET: &str = "0xd01e3a233632a41463bd6d289e99e69e1b50815c7afff710e1c992659a8722f3";
const FN_LIMIT: &str = "0x7a38039fffd016adcac2c53795ee49325e5ec6fddf3bf02651c09f9a583655a6::perpetual_scripts::place_limit_order";
const FN_CANCEL: &str = "0x7a38039fffd016adcac2c53795ee49325e5ec6fddf3bf02651c09f9a583655a6::perpetual_scripts::cancel_multiple_orders";

/// §4.2.1 example, verbatim.
const MARKET_INFO_ANSWER: &str = r#"{
  "success": true,
  "message": "Market information fetched successfully",
  "data": [{
    "__variant__": "V1",
    "base_decimals": 8,
    "base_name": "APT/USDC",
    "counter": "0",
    "creator": "0xb61d7b57333abf8ac036e752f19d0ba0c4baa5404db1cbf868c57dac3628f2bf",
    "custodian_id": "75",
    "fee_address": "0x7724a4a23b25b460abc2a5d9fe1fe3c47e2a0e10a156dd713a221f129579c388",
    "is_recognised": false,
    "lot_size": "100000",
    "maintenance_margin": "250",
    "market_address": "0xcfa0086c26787035de6b4a312875c7a70b2f9a29fa880d0cf633ef3dd0acd2c3",
    "market_id": "1338",
    "market_status": 1,
    "max_leverage": "20",
    "max_lots": "150000000",
    "max_position_value": "125000000",
    "min_lots": "500",
    "quote_decimals": 6,
    "quote_precision": 3,
    "tick_size": "1"
  }]
}"#;

/// What the fixture saw.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: String,
    api_key: Option<String>,
    body: String,
}

/// What the fixture answers.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

fn ok(body: impl Into<String>) -> Reply {
    reply(200, body)
}

fn reply(status: u16, body: impl Into<String>) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: body.into(),
        delay: Duration::ZERO,
    }
}

fn envelope(data: &str) -> String {
    format!(r#"{{"success":true,"message":"ok","data":{data}}}"#)
}

type Responder = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

struct FixState {
    seen: Mutex<Vec<Seen>>,
    counts: Mutex<HashMap<String, usize>>,
    respond: Box<Responder>,
}

struct Fixture {
    base: String,
    state: Arc<FixState>,
}

impl Fixture {
    fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }
}

async fn handle(
    State(st): State<Arc<FixState>>,
    method: AxMethod,
    uri: Uri,
    headers: AxHeaders,
    body: String,
) -> Response {
    let seen = Seen {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        api_key: headers
            .get("x-api-key")
            .map(|v| v.to_str().unwrap().to_owned()),
        body,
    };
    let n = {
        let mut counts = st.counts.lock().unwrap();
        let c = counts.entry(seen.path.clone()).or_insert(0);
        *c += 1;
        *c - 1
    };
    st.seen.lock().unwrap().push(seen.clone());
    let r = (st.respond)(&seen, n);
    if !r.delay.is_zero() {
        tokio::time::sleep(r.delay).await;
    }
    let mut h = AxHeaders::new();
    for (k, v) in r.headers {
        h.insert(k, v.parse().unwrap());
    }
    (AxStatus::from_u16(r.status).unwrap(), h, r.body).into_response()
}

/// A loopback server answering every request with `respond(request, n)`, where `n` counts
/// earlier requests to the same path.
async fn fixture(respond: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Fixture {
    let state = Arc::new(FixState {
        seen: Mutex::new(Vec::new()),
        counts: Mutex::new(HashMap::new()),
        respond: Box::new(respond),
    });
    let app = Router::new().fallback(handle).with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Fixture {
        base: format!("http://{addr}"),
        state,
    }
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(4),
        max_retry_after: Duration::from_millis(50),
    }
}

fn client(fx: &Fixture) -> KanaRest {
    KanaRest::new(
        &format!("{}/", fx.base),
        Some(Secret::new("test-key-123".into())),
        Duration::from_secs(5),
        fast_retry(),
    )
    .unwrap()
}

fn wallet() -> AccountAddress {
    AccountAddress::from_hex(WALLET).unwrap()
}

fn payload_json(function: &str, args: &str) -> String {
    envelope(&format!(
        r#"{{"function":"{function}","functionArguments":{args},"typeArguments":[]}}"#
    ))
}

#[tokio::test]
async fn profile_address_is_normalised() {
    let fx = fixture(|_, _| {
        ok(
            r#"{ "success": true, "message": "Profile address fetched successfully",
  "data": "0x3c78886aa67752706b3502b12959edf92e68d85ae64b24226783d26ce6efc1e" }"#,
        )
    })
    .await;
    let addr = client(&fx).profile_address(wallet()).await.unwrap();
    assert_eq!(
        addr,
        "0x03c78886aa67752706b3502b12959edf92e68d85ae64b24226783d26ce6efc1e"
    );
    let seen = fx.seen();
    assert_eq!(seen[0].path, "/getProfileAddress");
    assert_eq!(seen[0].query, format!("userAddress={WALLET}"));
}

#[tokio::test]
async fn market_info_example_parses() {
    let fx = fixture(|s, _| match s.path.as_str() {
        "/getMarketInfo" => ok(MARKET_INFO_ANSWER),
        _ => ok(envelope(&format!(
            "[{}]",
            MARKET_INFO_ANSWER
                .split_once('[')
                .unwrap()
                .1
                .rsplit_once(']')
                .unwrap()
                .0
        ))),
    })
    .await;
    let rest = client(&fx);
    let rec = rest.market_info(MarketId(1338)).await.unwrap();
    let info = rec.parse().unwrap();
    assert_eq!(info.market_id.u64(), Ok(1338));
    assert_eq!(info.lot_size.u64(), Ok(100_000));
    let spec = rest.market_spec(MarketId(1338)).await.unwrap();
    assert_eq!(
        spec,
        MarketSpec {
            name: "APT/USDC".into(),
            ..MarketSpec::kana_apt_testnet()
        }
    );
    // Asking for another market but getting 1338 is an error naming both.
    let e = rest.market_spec(MarketId(14)).await.unwrap_err();
    assert!(
        e.to_string().contains("asked for market 14, got 1338"),
        "{e}"
    );
    let all = rest.all_market_specs().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(fx.seen()[3].path, "/getPerpetualAssetsInfo/allMarkets");
}

#[tokio::test]
async fn market_price_with_a_null_side() {
    let fx = fixture(|s, _| match s.query.as_str() {
        "marketId=15" => ok(envelope(r#"{"bestAskPrice": 5.523, "bestBidPrice": null}"#)),
        "marketId=16" => ok(envelope(
            r#"{"bestAskPrice": "115300.5", "bestBidPrice": 0}"#,
        )),
        _ => ok(envelope("null")),
    })
    .await;
    let rest = client(&fx);
    let p = rest.market_price(MarketId(15)).await.unwrap();
    assert_eq!(
        p,
        MarketPrice {
            best_bid: None,
            best_ask: Some(dec!(5.523))
        }
    );
    let p = rest.market_price(MarketId(16)).await.unwrap();
    assert_eq!(
        p,
        MarketPrice {
            best_bid: None,
            best_ask: Some(dec!(115300.5))
        }
    );
    let p = rest.market_price(MarketId(14)).await.unwrap();
    assert_eq!(p, MarketPrice::default());
}

#[tokio::test]
async fn api_key_header_sent_only_when_set() {
    let fx = fixture(|_, _| ok(envelope("12.5"))).await;
    let with_key = client(&fx);
    assert_eq!(
        with_key.wallet_account_balance(wallet()).await.unwrap(),
        dec!(12.5)
    );
    let without = KanaRest::new(&fx.base, None, Duration::from_secs(5), fast_retry()).unwrap();
    assert_eq!(
        without.profile_balance_snapshot(wallet()).await.unwrap(),
        dec!(12.5)
    );
    let seen = fx.seen();
    assert_eq!(seen[0].api_key.as_deref(), Some("test-key-123"));
    assert_eq!(seen[1].api_key, None);
    // Debug never shows the key.
    let dbg = format!("{with_key:?}");
    assert!(
        !dbg.contains("test-key-123") && dbg.contains("<redacted>"),
        "{dbg}"
    );
    assert!(format!("{without:?}").contains("api_key: None"));
}

#[tokio::test]
async fn balances_accept_numbers_and_strings() {
    let fx = fixture(|s, _| match s.path.as_str() {
        "/getWalletAccountBalance" => ok(envelope("611899")),
        "/getNetProfileBalance" => ok(envelope(r#""0.0326969090000000006806411505""#)),
        "/getAccountAptBalance" => ok(envelope("1.5e-3")),
        _ => ok(envelope(r#"{"balance": 1}"#)),
    })
    .await;
    let rest = client(&fx);
    assert_eq!(
        rest.wallet_account_balance(wallet()).await.unwrap(),
        dec!(611899)
    );
    assert_eq!(
        rest.net_profile_balance(wallet()).await.unwrap(),
        dec!(0.0326969090000000006806411505)
    );
    assert_eq!(
        rest.account_apt_balance(wallet()).await.unwrap(),
        dec!(0.0015)
    );
    let e = rest.profile_balance_snapshot(wallet()).await.unwrap_err();
    assert!(
        matches!(
            e,
            KanaRestError::Decode {
                endpoint: "/getProfileBalanceSnapshot",
                ..
            }
        ),
        "{e}"
    );
}

#[tokio::test]
async fn place_limit_order_query_matches_the_reference() {
    let fx = fixture(|_, _| {
        ok(payload_json(
            FN_LIMIT,
            r#"["15", true, false, "10", "115300", "10", 0, "0", "0"]"#,
        ))
    })
    .await;
    let payload = client(&fx)
        .place_limit_order(&LimitOrderParams {
            market: MarketId(15),
            trade_side: true,
            direction: false,
            size: dec!(0.0001),
            price: dec!(115300.00),
            leverage: 10,
            restriction: 0,
            take_profit: None,
            stop_loss: None,
        })
        .await
        .unwrap();
    let seen = fx.seen();
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].path, "/placeLimitOrder");
    assert_eq!(
        seen[0].query,
        "marketId=15&tradeSide=true&direction=false&size=0.0001&price=115300&leverage=10&restriction=0"
    );
    assert_eq!(payload.function, FN_LIMIT);
    assert!(payload.type_arguments.is_empty());
    assert_eq!(payload.function_arguments.len(), 9);
    assert_eq!(payload.function_arguments[1], json!(true));
    assert_eq!(
        payload.function_id().unwrap().function.to_string(),
        "place_limit_order"
    );
}

#[tokio::test]
async fn market_order_and_position_writes_send_the_documented_params() {
    let fx = fixture(|_, _| ok(payload_json(FN_LIMIT, r#"["15"]"#))).await;
    let rest = client(&fx);
    rest.place_market_order(&MarketOrderParams {
        market: MarketId(15),
        trade_side: false,
        direction: true,
        size: dec!(0.5),
        leverage: 2,
        take_profit: Some(dec!(100)),
        stop_loss: Some(dec!(0)),
    })
    .await
    .unwrap();
    rest.update_take_profit(MarketId(15), true, dec!(120000))
        .await
        .unwrap();
    rest.update_stop_loss(MarketId(15), false, dec!(0))
        .await
        .unwrap();
    rest.add_margin(MarketId(15), true, dec!(2.50))
        .await
        .unwrap();
    rest.collapse_position(MarketId(15)).await.unwrap();
    rest.deposit(wallet(), dec!(10)).await.unwrap();
    rest.withdraw_multiple_markets(wallet(), dec!(5), &[MarketId(14), MarketId(15)])
        .await
        .unwrap();
    rest.settle_pnl(wallet(), MarketId(14)).await.unwrap();
    let got: Vec<String> = fx
        .seen()
        .iter()
        .map(|s| format!("{}?{}", s.path, s.query))
        .collect();
    assert_eq!(
            got,
            vec![
                "/placeMarketOrder?marketId=15&tradeSide=false&direction=true&size=0.5&leverage=2&takeProfit=100&stopLoss=0".to_owned(),
                "/updateTakeProfit?marketId=15&tradeSide=true&newTakeProfitPrice=120000".into(),
                "/updateStopLoss?marketId=15&tradeSide=false&newStopLossPrice=0".into(),
                "/addMargin?marketId=15&tradeSide=true&amount=2.5".into(),
                "/collapsePosition?marketId=15".into(),
                format!("/deposit?userAddress={WALLET}&amount=10"),
                format!("/withdrawMultipleMarkets?userAddress={WALLET}&amount=5&marketIds=14,15"),
                format!("/settlePnl?userAddress={WALLET}&marketId=14"),
            ]
        );
    // Refused locally, nothing sent.
    let e = rest
        .add_margin(MarketId(15), true, dec!(0))
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        KanaRestError::InvalidArgument {
            endpoint: "/addMargin",
            ..
        }
    ));
    assert_eq!(fx.seen().len(), 8);
}

#[tokio::test]
async fn payload_with_a_null_argument_is_rejected_naming_the_index() {
    let fx = fixture(|_, _| ok(payload_json(FN_CANCEL, r#"["15", null, null]"#))).await;
    let e = client(&fx)
        .cancel_multiple_orders(MarketId(15), &[1], &[true])
        .await
        .unwrap_err();
    match &e {
        KanaRestError::InvalidPayload {
            endpoint,
            reason,
            payload,
        } => {
            assert_eq!(*endpoint, "/cancelMultipleOrders");
            assert_eq!(
                *reason,
                PayloadError::NullArgument {
                    index: 1,
                    path: String::new()
                }
            );
            assert_eq!(payload.function, FN_CANCEL);
        }
        other => panic!("unexpected {other}"),
    }
    assert!(e.to_string().contains("argument 1 is null"), "{e}");
}

#[tokio::test]
async fn cancel_multiple_orders_sends_both_naming_variants() {
    let fx = fixture(|_, _| {
        ok(payload_json(
            FN_CANCEL,
            r#"["15", [161668980614256490457451450, "2"], [true, false]]"#,
        ))
    })
    .await;
    let p = client(&fx)
        .cancel_multiple_orders(
            MarketId(15),
            &[161_668_980_614_256_490_457_451_450, 2],
            &[true, false],
        )
        .await
        .unwrap();
    // The u128 literal in the answer survived exactly.
    assert_eq!(
        p.function_arguments[1],
        json!(["161668980614256490457451450", "2"])
    );
    let seen = &fx.seen()[0];
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/cancelMultipleOrders");
    let body: Value = serde_json::from_str(&seen.body).unwrap();
    let ids = json!(["161668980614256490457451450", "2"]);
    assert_eq!(body["marketId"], json!(15));
    assert_eq!(body["orderIds"], ids);
    assert_eq!(body["cancelOrderIds"], ids);
    assert_eq!(body["cancelTradeSides"], json!([true, false]));
    assert_eq!(body["orderSides"], json!([true, false]));
    // Mismatched lengths are refused before sending.
    let e = client(&fx)
        .cancel_multiple_orders(MarketId(15), &[1, 2], &[true])
        .await
        .unwrap_err();
    assert!(matches!(e, KanaRestError::InvalidArgument { .. }), "{e}");
    assert_eq!(fx.seen().len(), 1);
}

#[tokio::test]
async fn batch_bodies_carry_exact_numbers_and_both_restriction_forms() {
    let fx = fixture(|_, _| ok(payload_json(FN_LIMIT, "[]"))).await;
    let rest = client(&fx);
    let order = |price: Decimal| BatchOrder {
        is_limit: true,
        trade_side: true,
        direction: false,
        size: dec!(0.0001),
        price,
        leverage: 10,
        take_profit: Some(dec!(115400)),
        stop_loss: None,
    };
    rest.place_multiple_orders(&MultipleOrders {
        market: MarketId(15),
        restriction: 3,
        orders: vec![order(dec!(115300)), order(dec!(115400.10))],
    })
    .await
    .unwrap();
    rest.cancel_and_place_multiple_orders(&CancelAndPlace {
        market: MarketId(15),
        cancel_order_ids: vec![12_907_057_702_855_018_828_273_522],
        cancel_trade_sides: vec![true],
        restriction: 0,
        orders: vec![order(dec!(5.518))],
    })
    .await
    .unwrap();
    let seen = fx.seen();
    assert_eq!(seen[0].path, "/placeMultipleOrders");
    // Raw text: numbers written from the decimal's digits.
    assert!(
        seen[0].body.contains(r#""sizes":[0.0001,0.0001]"#),
        "{}",
        seen[0].body
    );
    assert!(
        seen[0].body.contains(r#""prices":[115300,115400.1]"#),
        "{}",
        seen[0].body
    );
    let body: Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(body["marketId"], json!(15));
    assert_eq!(body["orderTypes"], json!([true, true]));
    assert_eq!(body["tradeSides"], json!([true, true]));
    assert_eq!(body["directions"], json!([false, false]));
    assert_eq!(body["leverages"], json!([10, 10]));
    assert_eq!(body["restriction"], json!(3));
    assert_eq!(body["restrictions"], json!([3, 3]));
    assert_eq!(body["takeProfits"], json!([115400, 115400]));
    assert_eq!(body["stopLosses"], json!([0, 0]));

    assert_eq!(seen[1].path, "/cancelAndPlaceMultipleOrders");
    assert!(
        seen[1].body.contains(r#""prices":[5.518]"#),
        "{}",
        seen[1].body
    );
    let body: Value = serde_json::from_str(&seen[1].body).unwrap();
    let ids = json!(["12907057702855018828273522"]);
    assert_eq!(body["orderIds"], ids);
    assert_eq!(body["cancelOrderIds"], ids);
    assert_eq!(body["cancelTradeSides"], json!([true]));
    assert_eq!(body["orderSides"], json!([true]));
    assert_eq!(body["orderTradeSides"], json!([true]));
    assert_eq!(body["orderTypes"], json!([true]));
    assert_eq!(body["restriction"], json!(0));
}

#[tokio::test]
async fn retry_after_429_then_success_retries_once() {
    let fx = fixture(|_, n| {
        if n == 0 {
            Reply {
                headers: vec![("retry-after", "0".into())],
                ..reply(429, r#"{"message":"slow down"}"#)
            }
        } else {
            ok(envelope("1.25"))
        }
    })
    .await;
    let bal = client(&fx).account_apt_balance(wallet()).await.unwrap();
    assert_eq!(bal, dec!(1.25));
    assert_eq!(fx.seen().len(), 2);
}

#[tokio::test]
async fn server_errors_are_retried_then_reported() {
    let fx = fixture(|_, _| reply(500, r#"{"success":false,"message":"indexer down"}"#)).await;
    let e = client(&fx)
        .place_market_order(&MarketOrderParams {
            market: MarketId(14),
            trade_side: true,
            direction: false,
            size: dec!(1),
            leverage: 2,
            take_profit: None,
            stop_loss: None,
        })
        .await
        .unwrap_err();
    assert_eq!(fx.seen().len(), 3);
    assert!(
        matches!(
            e,
            KanaRestError::Http {
                status: 500,
                attempts: 3,
                ..
            }
        ),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains("/placeMarketOrder") && text.contains("indexer down"),
        "{text}"
    );
    assert_eq!(e.endpoint(), "/placeMarketOrder");
    assert_eq!(e.status(), Some(500));
}

#[tokio::test]
async fn non_json_errors_and_auth_failures_are_reported() {
    let fx = fixture(|s, _| match s.path.as_str() {
        "/getPositions" => reply(403, r#"{"error":"invalid api key"}"#),
        _ => reply(400, "<html>Bad Request</html>"),
    })
    .await;
    let rest = client(&fx);
    let e = rest.positions(wallet(), None).await.unwrap_err();
    assert!(
        e.is_auth() && e.to_string().contains("invalid api key"),
        "{e}"
    );
    let e = rest.open_orders(wallet(), None).await.unwrap_err();
    assert!(e.to_string().contains("<html>Bad Request</html>"), "{e}");
    assert_eq!(fx.seen().len(), 2, "4xx are not retried");
}

#[tokio::test]
async fn success_false_is_an_error_with_the_message() {
    let fx = fixture(|_, _| {
        ok(r#"{"success":false,"message":"Insufficient balance to withdraw","data":null}"#)
    })
    .await;
    let e = client(&fx).deposit(wallet(), dec!(10)).await.unwrap_err();
    assert!(
        matches!(e, KanaRestError::Rejected { status: 200, .. }),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains("Insufficient balance to withdraw") && text.contains("/deposit"),
        "{text}"
    );
}

#[tokio::test]
async fn status_envelope_and_missing_message_are_accepted() {
    let fx = fixture(|s, _| match s.path.as_str() {
            "/getWalletAccountBalance" => ok(r#"{"status":true,"message":"Fetched wallet account balance successfully","data":611899}"#),
            "/getAllOpenOrderIds" => ok(r#"{"status":true,"data":["12907057702855018828273522", 7]}"#),
            "/getOpenOrders" => ok(r#"{"success":true,"data":[],"message":"There are no open orders"}"#),
            _ => ok(r#"{"status":false,"error":"unknown market"}"#),
        })
        .await;
    let rest = client(&fx);
    assert_eq!(
        rest.wallet_account_balance(wallet()).await.unwrap(),
        dec!(611899)
    );
    assert_eq!(
        rest.all_open_order_ids(wallet(), MarketId(15))
            .await
            .unwrap(),
        vec![12_907_057_702_855_018_828_273_522, 7]
    );
    assert!(
        rest.open_orders(wallet(), Some(MarketId(15)))
            .await
            .unwrap()
            .is_empty()
    );
    let e = rest
        .positions(wallet(), Some(MarketId(99)))
        .await
        .unwrap_err();
    assert!(
        matches!(e, KanaRestError::Rejected { .. }) && e.to_string().contains("unknown market"),
        "{e}"
    );
}

#[tokio::test]
async fn undecodable_bodies_are_errors() {
    let fx = fixture(|s, _| match s.path.as_str() {
        "/getPositions" => ok("not json"),
        "/getOpenOrders" => ok(envelope(r#"[{"market_id":"15"}]"#)),
        _ => ok(envelope(r#""abc""#)),
    })
    .await;
    let rest = client(&fx);
    let e = rest.positions(wallet(), None).await.unwrap_err();
    assert!(
        matches!(
            e,
            KanaRestError::Decode {
                endpoint: "/getPositions",
                status: 200,
                ..
            }
        ),
        "{e}"
    );
    let e = rest.open_orders(wallet(), None).await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("open order record 0") && text.contains("missing field"),
        "{text}"
    );
    let e = rest.all_trades(MarketId(15)).await.unwrap_err();
    assert!(e.to_string().contains("not a list"), "{e}");
}

#[tokio::test]
async fn user_query_records_parse_tolerantly() {
    let open = r#"{ "address": "0x4d6d", "market_id": "1338", "leverage": 2, "order_type": 1,
  "timestamp": 1746177750, "price": "5.518", "total_size": "11.851",
  "remaining_size": "11.851", "order_value": "65.393818",
  "order_id": "12907057702855018828273522", "trade_id": "16528282690043758248332",
  "last_updated": 1746177751, "transaction_version": 6704413443, "brand_new_field": [1] }"#;
    let pos = r#"{ "address": "0x4d6d", "market_id": "15", "leverage": 10, "trade_side": true,
  "size": "0.0001", "available_order_size": "0.0001", "value": "11.53",
  "entry_price": "115300", "liq_price": "106430.769", "margin": "1.153",
  "tp": null, "sl": null, "trade_id": "16528282690043758248332",
  "last_updated": 1753165487, "transaction_version": 3102182809 }"#;
    let fill = r#"{ "address": "0x4d6d", "leverage": 2, "market_id": "1338", "timestamp": 1746177750,
  "size": "11.851", "order_type": 7, "price": "5.518", "order_value": "65.393818",
  "pnl": "-0.0682499090000000006806411505", "fee": "0.0326969090000000006806411505",
  "trade_id": "176609127761695247172922", "last_updated": 1746177751,
  "transaction_version": 6704413443, "entry_price": null, "order_id": "5" }"#;
    let hist = r#"{ "address": "0x4d6d", "market_id": "396", "leverage": 2, "order_type": 4,
  "timestamp": "1739790700", "is_market_order": false, "size": "1000",
  "price": "6002", "order_value": "6002000", "status": "Filled",
  "order_id": "12906965467445688751095808", "trade_id": "16509835945970048696716",
  "last_updated": "1739790700" }"#;
    let (open, pos, fill, hist) = (
        open.to_owned(),
        pos.to_owned(),
        fill.to_owned(),
        hist.to_owned(),
    );
    let fx = fixture(move |s, _| match s.path.as_str() {
        "/getOpenOrders" | "/getOpenOrdersFromContract" => ok(envelope(&format!("[{open}]"))),
        "/getPositions" | "/getPositionsFromContract" => ok(envelope(&format!("[{pos}]"))),
        "/getTradeHistory" | "/getFillsForGivenTimestamp" | "/getAllTrades" => {
            ok(envelope(&format!("[{fill},{fill}]")))
        }
        "/getOrderHistory" => ok(envelope(&format!("[{hist}]"))),
        "/getFundingHistory" | "/getDepositAndWithdrawHistory" => ok(envelope(
            r#"[{"amount":"1.5","id":340282366920938463463374607431768211455}]"#,
        )),
        _ => ok(envelope("null")),
    })
    .await;
    let rest = client(&fx);
    let w = wallet();
    let m = Some(MarketId(1338));
    let oo = rest.open_orders(w, m).await.unwrap();
    let oo = oo.parse().unwrap();
    assert_eq!(
        oo[0].order_id.u128(),
        Ok(12_907_057_702_855_018_828_273_522)
    );
    assert_eq!(oo[0].price.decimal(), Ok(dec!(5.518)));
    assert_eq!(
        rest.open_orders_from_contract(w, MarketId(1338))
            .await
            .unwrap()
            .len(),
        1
    );
    let ps = rest.positions(w, None).await.unwrap();
    assert_eq!(ps.parse().unwrap()[0].is_long(), Some(true));
    assert_eq!(
        rest.positions_from_contract(w, MarketId(15))
            .await
            .unwrap()
            .len(),
        1
    );
    let th = rest.trade_history(w, m).await.unwrap();
    assert_eq!(th.len(), 2);
    assert_eq!(
        th.parse().unwrap()[0].fee.unwrap().decimal(),
        Ok(dec!(0.0326969090000000006806411505))
    );
    assert_eq!(rest.fills_between(w, 100, 200, m).await.unwrap().len(), 2);
    assert_eq!(rest.all_trades(MarketId(1338)).await.unwrap().len(), 2);
    let oh = rest.order_history(w, None).await.unwrap();
    assert_eq!(
        oh.parse().unwrap()[0].status,
        crate::wire::WireOrderStatus::Filled
    );
    let fh = rest
        .funding_history(
            w,
            Some(MarketId(14)),
            Some(0),
            Some(50),
            Some(SortOrder::Desc),
        )
        .await
        .unwrap();
    assert_eq!(
        fh,
        vec![json!({"amount": "1.5", "id": "340282366920938463463374607431768211455"})]
    );
    assert_eq!(rest.deposit_withdraw_history(w).await.unwrap().len(), 1);
    let seen = fx.seen();
    let fills = seen
        .iter()
        .find(|s| s.path == "/getFillsForGivenTimestamp")
        .unwrap();
    assert_eq!(
        fills.query,
        format!("userAddress={WALLET}&fromTimestamp=100&toTimestamp=200&marketId=1338")
    );
    let funding = seen
        .iter()
        .find(|s| s.path == "/getFundingHistory")
        .unwrap();
    assert_eq!(
        funding.query,
        format!("userAddress={WALLET}&marketId=14&offset=0&limit=50&order=desc")
    );
    let positions = seen.iter().find(|s| s.path == "/getPositions").unwrap();
    assert_eq!(positions.query, format!("userAddress={WALLET}"));
}

#[tokio::test]
async fn fallback_endpoints_on_404() {
    let fx = fixture(|s, _| match s.path.as_str() {
        "/withdrawSpecifiMarket" => ok(payload_json(FN_LIMIT, r#"["14","5"]"#)),
        "/getLastExecutionPrice" => ok(envelope("5.518")),
        "/getOrderStatusByOrderId" => ok(envelope(
            r#"[{"market_id":"15","status":"Open","order_id":"42","price":"115300"}]"#,
        )),
        _ => reply(404, "Cannot GET"),
    })
    .await;
    let rest = client(&fx);
    rest.withdraw_specific_market(wallet(), MarketId(14), dec!(5))
        .await
        .unwrap();
    assert_eq!(
        rest.last_price(MarketId(15)).await.unwrap(),
        Some(dec!(5.518))
    );
    let st = rest.order_status(MarketId(15), 42).await.unwrap().unwrap();
    let st = st.parse().unwrap();
    assert_eq!(st.order_id.u128(), Ok(42));
    assert_eq!(st.status, crate::wire::WireOrderStatus::Open);
    // The working name is remembered: a second call goes straight there.
    assert_eq!(
        rest.last_price(MarketId(15)).await.unwrap(),
        Some(dec!(5.518))
    );
    let paths: Vec<String> = fx.seen().iter().map(|s| s.path.clone()).collect();
    assert_eq!(
        paths,
        vec![
            "/withdrawSpecificMarket",
            "/withdrawSpecifiMarket",
            "/getLastPlacedPrice",
            "/getLastExecutionPrice",
            "/fetchOrderStatusById",
            "/getOrderStatusByOrderId",
            "/getLastExecutionPrice",
        ]
    );
    assert_eq!(
        fx.seen()[1].query,
        format!("userAddress={WALLET}&marketId=14&amount=5")
    );
    assert_eq!(fx.seen()[4].query, "marketId=15&orderId=42");
}

#[tokio::test]
async fn primary_endpoint_is_used_when_it_answers_and_both_404_names_both() {
    let fx = fixture(|s, _| match s.path.as_str() {
        "/getLastPlacedPrice" => ok(envelope("null")),
        "/fetchOrderStatusById" => reply(404, r#"{"message":"order not found"}"#),
        _ => reply(404, "Cannot GET"),
    })
    .await;
    let rest = client(&fx);
    assert_eq!(rest.last_price(MarketId(15)).await.unwrap(), None);
    let e = rest.order_status(MarketId(15), 1).await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("/fetchOrderStatusById")
            && text.contains("order not found")
            && text.contains("/getOrderStatusByOrderId"),
        "{text}"
    );
    assert_eq!(fx.seen().len(), 3);
}

#[tokio::test]
async fn timeouts_are_retried() {
    let fx = fixture(|_, n| {
        if n == 0 {
            Reply {
                delay: Duration::from_millis(400),
                ..ok(envelope("1"))
            }
        } else {
            ok(envelope("2"))
        }
    })
    .await;
    let rest = KanaRest::new(&fx.base, None, Duration::from_millis(100), fast_retry()).unwrap();
    assert_eq!(rest.account_apt_balance(wallet()).await.unwrap(), dec!(2));
    assert_eq!(fx.seen().len(), 2);
}

#[tokio::test]
async fn connection_failures_end_in_a_transport_error() {
    // Bind then drop a listener to get a port nobody listens on.
    let port = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let rest = KanaRest::new(
        &format!("http://127.0.0.1:{port}"),
        None,
        Duration::from_secs(2),
        fast_retry(),
    )
    .unwrap();
    let e = rest.collapse_position(MarketId(15)).await.unwrap_err();
    assert!(
        matches!(
            e,
            KanaRestError::Transport {
                endpoint: "/collapsePosition",
                attempts: 3,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn backoff_grows_caps_and_honours_retry_after() {
    let p = RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(350),
        max_retry_after: Duration::from_secs(2),
    };
    assert_eq!(p.backoff(1), Duration::from_millis(100));
    assert_eq!(p.backoff(2), Duration::from_millis(200));
    assert_eq!(p.backoff(3), Duration::from_millis(350));
    assert_eq!(p.backoff(40), Duration::from_millis(350));
    for retry in 1..4 {
        let d = p.delay(retry, None);
        assert!(d >= p.backoff(retry) / 2 && d <= p.backoff(retry), "{d:?}");
    }
    assert_eq!(p.delay(1, Some(Duration::ZERO)), Duration::ZERO);
    assert_eq!(
        p.delay(1, Some(Duration::from_secs(60))),
        Duration::from_secs(2)
    );
    let mut h = HeaderMap::new();
    h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
    assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
    h.insert(
        RETRY_AFTER,
        HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
    );
    assert_eq!(retry_after(&h), None);
}

#[test]
fn client_futures_and_records_are_send() {
    fn send<T: Send>(_: &T) {}
    fn send_sync<T: Send + Sync>() {}
    send_sync::<KanaRest>();
    send_sync::<Positions>();
    send_sync::<Record<MarketKind>>();
    send_sync::<KanaRestError>();
    let rest = KanaRest::new(
        TESTNET_BASE_URL,
        None,
        Duration::from_secs(1),
        RetryPolicy::none(),
    )
    .unwrap();
    send(&rest.positions(wallet(), None));
    send(&rest.cancel_multiple_orders(MarketId(1), &[1], &[true]));
    send(&rest.order_status(MarketId(1), 1));
}

#[test]
fn query_values_are_encoded() {
    let q = Query::default()
        .with("a", "x y&z")
        .with("ids", "14,15")
        .with_opt("n", None::<u8>);
    assert_eq!(q.0, "a=x%20y%26z&ids=14,15");
    assert_eq!(dec(dec!(115300.000)), "115300");
    assert_eq!(dec(dec!(0.00010)), "0.0001");
}

#[test]
fn bad_construction_is_an_error() {
    assert!(matches!(
        KanaRest::new(
            "not a url",
            None,
            Duration::from_secs(1),
            RetryPolicy::none()
        ),
        Err(KanaRestError::Client(_))
    ));
    let e = KanaRest::new(
        TESTNET_BASE_URL,
        Some(Secret::new("bad\nkey".into())),
        Duration::from_secs(1),
        RetryPolicy::none(),
    )
    .unwrap_err();
    assert!(!e.to_string().contains("bad\nkey"));
    let ok = KanaRest::new(
        MAINNET_BASE_URL,
        None,
        Duration::from_secs(1),
        RetryPolicy::none(),
    )
    .unwrap();
    assert_eq!(ok.base_url(), MAINNET_BASE_URL);
}
