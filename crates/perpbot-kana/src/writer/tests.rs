//! place → REST payload → ABI encode → sign → submit → confirm, against a fake Kana REST
//! server and the fake fullnode (which verifies the signature and decodes the entry function).
use super::*;
use crate::rest::RetryPolicy;
use axum::Json;
use axum::extract::Query;
use axum::routing::{get, post};
use perpbot_aptos::node::fake_node::{FakeNode, Inner, LookupReply, SubmitReply, fast_poll};
use perpbot_aptos::{AccountAddress, GasConfig, NodeClient, PrivateKey};
use perpbot_model::{Lots, NewOrder, Restriction, Side};
use serde_json::json;
use std::collections::HashMap as Map;

const PKG: &str = "0x7a38039fffd016adcac2c53795ee49325e5ec6fddf3bf02651c09f9a583655a6";

/// The parts of `perpetual_scripts`' ABI the tests use. \[INF\]: parameter lists mirror the
/// delegated twins of reference §6.2 without the owner address; cancel is \[CHAIN\].
fn scripts_abi() -> Value {
    json!({
    "address": PKG, "name": "perpetual_scripts", "friends": [], "structs": [],
    "exposed_functions": [
        {"name": "place_limit_order", "visibility": "public", "is_entry": true, "is_view": false,
         "generic_type_params": [], "return": [],
         "params": ["&signer", "u64", "bool", "bool", "u64", "u64", "u64", "u8", "u64", "u64"]},
        {"name": "cancel_multiple_orders", "visibility": "public", "is_entry": true, "is_view": false,
         "generic_type_params": [], "return": [],
         "params": ["&signer", "u64", "vector<u128>", "vector<bool>"]}
    ]})
}

/// `delegated_scripts::place_delegated_limit_order` as in reference §6.2's ABI dump \[CHAIN\].
fn delegated_abi() -> Value {
    json!({
    "address": PKG, "name": "delegated_scripts", "friends": [], "structs": [],
    "exposed_functions": [
        {"name": "place_delegated_limit_order", "visibility": "public", "is_entry": true, "is_view": false,
         "generic_type_params": [], "return": [],
         "params": ["&signer", "address", "u64", "bool", "bool", "u64", "u64", "u64", "u8", "u64", "u64"]}
    ]})
}

/// A Kana-shaped REST server whose payloads carry on-chain units, as the real one does \[INF\].
/// `place_function` overrides the function `/placeLimitOrder` answers with.
async fn fake_kana(null_argument: bool, place_function: Option<String>) -> String {
    let spec = MarketSpec::kana_apt_testnet();
    let place_function =
        place_function.unwrap_or_else(|| format!("{PKG}::perpetual_scripts::place_limit_order"));
    let place = move |Query(q): Query<Map<String, String>>| {
        let spec = spec.clone();
        let function = place_function.clone();
        async move {
            let dec = |k: &str| {
                q.get(k)
                    .and_then(|v| v.parse::<Decimal>().ok())
                    .unwrap_or_default()
            };
            let lots = spec
                .size_to_lots(dec("size"), perpbot_model::Rounding::Exact)
                .map(|l| l.0)
                .unwrap_or(0);
            let ticks = spec
                .price_to_ticks(dec("price"), perpbot_model::Rounding::Exact)
                .map(|t| t.0)
                .unwrap_or(0);
            let market = if null_argument {
                Value::Null
            } else {
                json!(q.get("marketId").cloned().unwrap_or_default())
            };
            Json(json!({"success": true, "message": "ok", "data": {
                "function": function,
                "typeArguments": [],
                "functionArguments": [market, q.get("tradeSide").map(|v| v == "true"), q.get("direction").map(|v| v == "true"),
                    lots.to_string(), ticks.to_string(), q.get("leverage").cloned().unwrap_or_default(),
                    q.get("restriction").and_then(|v| v.parse::<u8>().ok()).unwrap_or(0), "0", "0"]
            }}))
        }
    };
    let cancel = |Json(body): Json<Value>| async move {
        Json(json!({"success": true, "message": "ok", "data": {
            "function": format!("{PKG}::perpetual_scripts::cancel_multiple_orders"),
            "typeArguments": [],
            "functionArguments": [body["marketId"].to_string(), body["orderIds"], body["cancelTradeSides"]]
        }}))
    };
    let app = axum::Router::new()
        .route("/placeLimitOrder", get(place))
        .route("/cancelMultipleOrders", post(cancel));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

struct Setup {
    writer: KanaWriter,
    node: FakeNode,
}

async fn setup(null_argument: bool, lookups: Vec<LookupReply>, submits: Vec<SubmitReply>) -> Setup {
    setup_with(None, null_argument, lookups, submits).await
}

async fn setup_with(
    delegate_for: Option<AccountAddress>,
    null_argument: bool,
    lookups: Vec<LookupReply>,
    submits: Vec<SubmitReply>,
) -> Setup {
    setup_full(delegate_for, null_argument, None, lookups, submits).await
}

async fn setup_full(
    delegate_for: Option<AccountAddress>,
    null_argument: bool,
    place_function: Option<String>,
    lookups: Vec<LookupReply>,
    submits: Vec<SubmitReply>,
) -> Setup {
    let key = PrivateKey::from_seed_bytes([9u8; 32]);
    let mut inner = Inner::default();
    inner.modules.insert(
        (
            AccountAddress::from_hex(PKG).unwrap(),
            "perpetual_scripts".into(),
        ),
        scripts_abi(),
    );
    inner.modules.insert(
        (
            AccountAddress::from_hex(PKG).unwrap(),
            "delegated_scripts".into(),
        ),
        delegated_abi(),
    );
    inner.accounts.insert(key.address(), 7);
    inner.lookup_replies = lookups.into();
    inner.submit_replies = submits.into();
    let node = FakeNode::start(inner).await;
    let client = NodeClient::new(&node.base, Duration::from_secs(2))
        .unwrap()
        .with_poll_config(fast_poll());
    let gas = GasConfig {
        max_gas_amount: 10_000,
        gas_unit_price: Some(100),
        expiration_secs: 30,
    };
    // No re-posts: one scripted 5xx stays ambiguous, which is what these tests exercise (the
    // re-post itself is tested with the submitter).
    let submitter = Arc::new(Submitter::new(client, key, 4, gas).with_reposts(0, Duration::ZERO));
    let rest = KanaRest::new(
        &fake_kana(null_argument, place_function).await,
        None,
        Duration::from_secs(2),
        RetryPolicy::none(),
    )
    .unwrap();
    let config = WriterConfig {
        confirm_timeout: Duration::from_millis(300),
        max_batch: 10,
        delegate_for,
    };
    let writer = KanaWriter::new(
        Arc::new(rest),
        submitter,
        vec![MarketSpec::kana_apt_testnet()],
        config,
    );
    assert_eq!(
        writer.package().to_string(),
        LOCAL_PACKAGE,
        "chain 4 defaults to the simulator's package"
    );
    Setup {
        writer: writer.with_package(AccountAddress::from_hex(PKG).unwrap()),
        node,
    }
}

fn place_request() -> VenueRequest {
    let order = NewOrder::limit(MarketId(1338), Side::Buy, Lots(2500), Ticks(5518))
        .post_only()
        .with_leverage(2);
    VenueRequest::Orders {
        market: MarketId(1338),
        cancel: vec![],
        place: vec![OrderRequest {
            client_id: ClientOrderId(1),
            order,
        }],
    }
}

fn committed(success: bool, vm_status: &str) -> LookupReply {
    LookupReply::Committed {
        success,
        vm_status: vm_status.into(),
    }
}

#[tokio::test]
async fn place_is_signed_submitted_and_confirmed() {
    let s = setup(
        false,
        vec![
            LookupReply::Pending,
            committed(true, "Executed successfully"),
        ],
        vec![],
    )
    .await;
    let outcome = s
        .writer
        .execute(
            place_request(),
            &perpbot_core::venue::RequestContext::none(),
        )
        .await;
    assert!(
        matches!(&outcome, RequestOutcome::Accepted { placed, .. } if placed == &vec![(ClientOrderId(1), None)]),
        "{outcome:?}"
    );
    let node = s.node.lock();
    assert_eq!(node.received.len(), 1);
    let r = &node.received[0];
    assert!(r.sender_matches_key);
    assert_eq!(
        r.sequence_number, 7,
        "the account's on-chain sequence number"
    );
    assert_eq!(r.function.function.as_str(), "place_limit_order");
    let args = &r.function.args;
    assert_eq!(args[0], 1338u64.to_le_bytes().to_vec(), "market id as u64");
    assert_eq!(
        (args[1].as_slice(), args[2].as_slice()),
        (&[1u8][..], &[0u8][..]),
        "long side, open"
    );
    assert_eq!(
        args[3],
        2500u64.to_le_bytes().to_vec(),
        "2.5 APT = 2500 lots"
    );
    assert_eq!(
        args[4],
        5518u64.to_le_bytes().to_vec(),
        "5.518 = 5518 ticks"
    );
    assert_eq!(args[5], 2u64.to_le_bytes().to_vec(), "leverage");
    assert_eq!(args[6], vec![Restriction::PostOnly.code()]);
}

#[tokio::test]
async fn move_abort_becomes_a_rejection_with_the_decoded_code() {
    let abort = format!("Move abort in {PKG}::perpetual_core: 0x3ee");
    let s = setup(false, vec![committed(false, &abort)], vec![]).await;
    let outcome = s
        .writer
        .execute(
            place_request(),
            &perpbot_core::venue::RequestContext::none(),
        )
        .await;
    let RequestOutcome::Rejected { reason, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        reason.contains("1006") || reason.contains("E_INVALID_LEVERAGE"),
        "{reason}"
    );
}

#[tokio::test]
async fn ambiguous_submit_is_resolved_by_hash_without_resubmitting() {
    let server_error =
        json!({"message": "boom", "error_code": "internal_error", "vm_error_code": null});
    let s = setup(
        false,
        vec![committed(true, "Executed successfully")],
        vec![SubmitReply::Error(500, server_error)],
    )
    .await;
    let request = place_request();
    let outcome = s
        .writer
        .execute(
            request.clone(),
            &perpbot_core::venue::RequestContext::none(),
        )
        .await;
    let RequestOutcome::Ambiguous {
        token: Some(token), ..
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    let expected = s.node.lock().received[0].hash.to_string();
    assert_eq!(
        token, expected,
        "the token is the locally computed transaction hash"
    );
    let resolved = s.writer.resolve(&request, Some(&token)).await;
    assert!(
        matches!(resolved, RequestOutcome::Accepted { .. }),
        "{resolved:?}"
    );
    assert_eq!(s.node.lock().received.len(), 1, "never resubmitted");
}

#[tokio::test]
async fn a_payload_with_a_null_argument_is_rejected_before_signing() {
    let s = setup(true, vec![], vec![]).await;
    let outcome = s
        .writer
        .execute(
            place_request(),
            &perpbot_core::venue::RequestContext::none(),
        )
        .await;
    let RequestOutcome::Rejected { reason, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("argument 0"), "{reason}");
    assert!(s.node.lock().received.is_empty());
}

#[tokio::test]
async fn cancel_sends_ids_and_position_sides() {
    let s = setup(
        false,
        vec![committed(true, "Executed successfully")],
        vec![],
    )
    .await;
    let cancel = CancelOrder {
        client_id: ClientOrderId(3),
        venue_id: Some(VenueOrderId(161_668_980_614_256_490_457_451_450)),
        market: MarketId(1338),
        side: perpbot_model::Side::Sell,
        direction: Direction::Close, // closing a long: trade side true
    };
    let request = VenueRequest::Orders {
        market: MarketId(1338),
        cancel: vec![cancel],
        place: vec![],
    };
    let outcome = s
        .writer
        .execute(request, &perpbot_core::venue::RequestContext::none())
        .await;
    assert!(
        matches!(outcome, RequestOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    let node = s.node.lock();
    let f = &node.received[0].function;
    assert_eq!(f.function.as_str(), "cancel_multiple_orders");
    let mut ids = vec![1u8];
    ids.extend_from_slice(&161_668_980_614_256_490_457_451_450u128.to_le_bytes());
    assert_eq!(f.args[1], ids);
    assert_eq!(f.args[2], vec![1u8, 1u8], "one side: true (long)");
}

#[tokio::test]
async fn a_delegate_signs_the_delegated_twin_with_the_owner_first() {
    let owner = AccountAddress::from_hex(
        "0xd01e3a233632a41463bd6d289e99e69e1b50815c7afff710e1c992659a8722f3",
    )
    .unwrap();
    let s = setup_with(
        Some(owner),
        false,
        vec![committed(true, "Executed successfully")],
        vec![],
    )
    .await;
    assert_eq!(s.writer.capabilities().max_batch, 1);
    let outcome = s
        .writer
        .execute(
            place_request(),
            &perpbot_core::venue::RequestContext::none(),
        )
        .await;
    assert!(
        matches!(outcome, RequestOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    let node = s.node.lock();
    let f = &node.received[0].function;
    assert_eq!(f.module.name.as_str(), "delegated_scripts");
    assert_eq!(f.function.as_str(), "place_delegated_limit_order");
    assert_eq!(
        f.args[0],
        owner.to_bytes().to_vec(),
        "the owner's address comes first"
    );
    assert_eq!(
        f.args[4],
        2500u64.to_le_bytes().to_vec(),
        "then the direct call's arguments"
    );
    assert!(
        node.received[0].sender_matches_key,
        "signed by the delegate key itself"
    );
}

/// An ambiguous transaction later found expired frees its sequence number through the
/// submitter, so the next transaction takes it instead of waiting behind a gap for ever.
#[tokio::test]
async fn an_ambiguous_transaction_that_expires_frees_its_sequence_number() {
    let server_error =
        json!({"message": "boom", "error_code": "internal_error", "vm_error_code": null});
    let s = setup(
        false,
        vec![
            LookupReply::NotFound,
            committed(true, "Executed successfully"),
        ],
        vec![SubmitReply::Error(500, server_error)],
    )
    .await;
    let request = place_request();
    let RequestOutcome::Ambiguous { token, .. } = s
        .writer
        .execute(
            request.clone(),
            &perpbot_core::venue::RequestContext::none(),
        )
        .await
    else {
        panic!("ambiguous expected")
    };
    {
        let mut node = s.node.lock();
        let expiry = node.received[0].expiration_timestamp_secs;
        node.ledger_usecs = (expiry + 60) * 1_000_000;
    }
    let resolved = s.writer.resolve(&request, token.as_deref()).await;
    assert!(
        matches!(&resolved, RequestOutcome::Rejected { reason, .. } if reason.contains("expired")),
        "{resolved:?}"
    );
    let next = s
        .writer
        .execute(
            place_request(),
            &perpbot_core::venue::RequestContext::none(),
        )
        .await;
    assert!(matches!(next, RequestOutcome::Accepted { .. }), "{next:?}");
    let seqs: Vec<u64> = s
        .node
        .lock()
        .received
        .iter()
        .map(|r| r.sequence_number)
        .collect();
    assert_eq!(seqs, vec![7, 7], "the expired number is reused");
    assert_eq!(
        s.writer.tx_costs(),
        TxCosts {
            transactions: 1,
            failed_transactions: 0,
            gas_units: 57,
            native_fee: rust_decimal_macros::dec!(0.000057),
        }
    );
}

/// Gas is counted for committed and aborted transactions, at the signed gas price, and an
/// ambiguous one once however often it is resolved.
#[tokio::test]
async fn gas_of_committed_and_aborted_transactions_is_counted_once() {
    let server_error =
        json!({"message": "boom", "error_code": "internal_error", "vm_error_code": null});
    let abort = format!("Move abort in {PKG}::perpetual_core: 0x3ee");
    let s = setup(
        false,
        vec![
            committed(true, "Executed successfully"),
            committed(false, &abort),
            committed(true, "Executed successfully"),
        ],
        vec![
            SubmitReply::Accept,
            SubmitReply::Accept,
            SubmitReply::Error(500, server_error),
        ],
    )
    .await;
    assert_eq!(s.writer.tx_costs(), TxCosts::default());
    let ok = s
        .writer
        .execute(
            place_request(),
            &perpbot_core::venue::RequestContext::none(),
        )
        .await;
    assert!(matches!(ok, RequestOutcome::Accepted { .. }), "{ok:?}");
    let aborted = s
        .writer
        .execute(
            place_request(),
            &perpbot_core::venue::RequestContext::none(),
        )
        .await;
    assert!(
        matches!(aborted, RequestOutcome::Rejected { .. }),
        "{aborted:?}"
    );
    assert_eq!(
        s.writer.tx_costs(),
        TxCosts {
            transactions: 2,
            failed_transactions: 1,
            gas_units: 114,
            native_fee: rust_decimal_macros::dec!(0.000114),
        }
    );
    let request = place_request();
    let RequestOutcome::Ambiguous { token, .. } = s
        .writer
        .execute(
            request.clone(),
            &perpbot_core::venue::RequestContext::none(),
        )
        .await
    else {
        panic!("ambiguous expected")
    };
    for _ in 0..2 {
        let r = s.writer.resolve(&request, token.as_deref()).await;
        assert!(matches!(r, RequestOutcome::Accepted { .. }), "{r:?}");
    }
    let costs = s.writer.tx_costs();
    assert_eq!((costs.transactions, costs.gas_units), (3, 171));
    assert_eq!(costs.native_fee, rust_decimal_macros::dec!(0.000171));
    assert_eq!(
        serde_json::to_value(costs).unwrap(),
        json!({"transactions": 3, "failed_transactions": 1, "gas_units": 171, "native_fee": "0.000171"})
    );
}

/// A REST answer for another package, another module or another action is never signed;
/// the reason names the endpoint and the function.
#[tokio::test]
async fn payloads_outside_the_kana_package_or_not_matching_the_request_are_refused() {
    let cases = [
        (
            "0x1::aptos_account::transfer".to_owned(),
            "/placeLimitOrder returned 0x1::aptos_account::transfer, outside the Kana package",
        ),
        (
            format!("{PKG}::perpetual_core::place_limit_order"),
            "module perpetual_core is not perpetual_scripts or delegated_scripts",
        ),
        (
            format!("{PKG}::perpetual_scripts::withdraw"),
            "::perpetual_scripts::withdraw, which is not a single limit-order placement",
        ),
        (
            format!("{PKG}::perpetual_scripts::cancel_multiple_orders"),
            "/placeLimitOrder returned",
        ),
    ];
    for (function, expected) in cases {
        let s = setup_full(None, false, Some(function.clone()), vec![], vec![]).await;
        let outcome = s
            .writer
            .execute(
                place_request(),
                &perpbot_core::venue::RequestContext::none(),
            )
            .await;
        let RequestOutcome::Rejected { reason, .. } = outcome else {
            panic!("{function}: {outcome:?}")
        };
        assert!(reason.contains(expected), "{function}: {reason}");
        assert!(reason.contains(&function), "{reason}");
        let node = s.node.lock();
        assert!(node.received.is_empty(), "{function}: nothing signed");
        assert_eq!(node.module_requests, 0, "{function}: not even encoded");
    }
}

#[test]
fn function_names_must_fit_the_request() {
    use WriteAction as A;
    let pkg = AccountAddress::from_hex(PKG).unwrap();
    let payload = |f: &str| EntryFunctionPayload {
        function: format!("{PKG}::{f}"),
        type_arguments: vec![],
        function_arguments: vec![],
    };
    let ok = [
        (A::PlaceLimit, "perpetual_scripts::place_limit_order"),
        (A::PlaceMarket, "perpetual_scripts::place_market_order"),
        (A::Close, "perpetual_scripts::place_market_order"),
        (A::PlaceMultiple, "perpetual_scripts::place_multiple_orders"),
        (A::Cancel, "perpetual_scripts::cancel_multiple_orders"),
        (
            A::CancelAndPlace,
            "perpetual_scripts::cancel_and_place_multiple_orders",
        ),
        (A::TakeProfit, "perpetual_scripts::update_take_profit"),
        (A::StopLoss, "perpetual_scripts::update_stop_loss"),
        (A::Deposit, "perpetual_scripts::deposit"),
        (A::Withdraw, "perpetual_scripts::withdraw"),
        (A::AddMargin, "perpetual_scripts::add_margin"),
        (A::AddMargin, "delegated_scripts::add_delegated_margin"),
        (
            A::PlaceLimit,
            "delegated_scripts::place_delegated_limit_order",
        ),
    ];
    for (action, f) in ok {
        assert_eq!(check_payload(&payload(f), action, pkg), Ok(()), "{f}");
    }
    let refused = [
        (A::PlaceLimit, "perpetual_scripts::place_market_order"),
        (A::PlaceMarket, "perpetual_scripts::place_multiple_orders"),
        (
            A::PlaceMultiple,
            "perpetual_scripts::cancel_and_place_multiple_orders",
        ),
        (
            A::Cancel,
            "perpetual_scripts::cancel_and_place_multiple_orders",
        ),
        (A::Cancel, "perpetual_scripts::cancel_all_and_withdraw"),
        (
            A::CancelAndPlace,
            "perpetual_scripts::cancel_multiple_orders",
        ),
        (A::TakeProfit, "perpetual_scripts::update_stop_loss"),
        (A::StopLoss, "perpetual_scripts::update_take_profit"),
        (A::Deposit, "perpetual_scripts::withdraw"),
        (A::AddMargin, "perpetual_scripts::withdraw_margin"),
        (
            A::PlaceLimit,
            "perpetual_scripts::place_limit_order_and_transfer",
        ),
    ];
    for (action, f) in refused {
        let e = check_payload(&payload(f), action, pkg).unwrap_err();
        assert!(
            matches!(e, PayloadRefused::WrongFunction { .. }),
            "{f}: {e}"
        );
        assert!(e.to_string().contains(action.endpoint()), "{e}");
    }
    let e = check_payload(
        &payload("perpetual_scripts::deposit"),
        A::Deposit,
        AccountAddress::ONE,
    )
    .unwrap_err();
    let expected = format!(
        "/deposit returned {PKG}::perpetual_scripts::deposit, outside the Kana package {}; refusing to sign",
        AccountAddress::ONE
    );
    assert_eq!(e.to_string(), expected);
    assert_eq!(default_package(1), KANA_PERPS_PACKAGE);
    assert_eq!(default_package(2), KANA_PERPS_PACKAGE);
}

#[test]
fn mixed_restrictions_cannot_share_a_kana_batch() {
    let r = |restriction| OrderRequest {
        client_id: ClientOrderId(1),
        order: NewOrder {
            restriction,
            ..NewOrder::limit(MarketId(1), Side::Buy, Lots(1), Ticks(1))
        },
    };
    assert!(common_restriction(&[r(Restriction::PostOnly), r(Restriction::None)]).is_err());
    assert_eq!(
        common_restriction(&[r(Restriction::PostOnly), r(Restriction::PostOnly)]),
        Ok(3)
    );
}

#[test]
fn only_the_books_unknown_order_abort_says_the_order_is_gone() {
    let kind = |s: &str| refusal_kind(&VmStatus::parse(s));
    assert_eq!(
        kind(
            "Move abort in 0xc0deb00c405f84c85dc13442e305df75d1288100cdd82675695f6148c7ece51c::market: E_INVALID_MARKET_ORDER_ID(0x16): market order id invalid"
        ),
        RefusalKind::UnknownOrder
    );
    assert_eq!(
        kind(
            "Move abort in 0xc0deb00c405f84c85dc13442e305df75d1288100cdd82675695f6148c7ece51c::market: E_POST_OR_ABORT_CROSSES_SPREAD(0xd): crosses"
        ),
        RefusalKind::PostOnlyWouldCross
    );
    assert_eq!(
        kind(
            "Move abort in 0x7a38039fffd016adcac2c53795ee49325e5ec6fddf3bf02651c09f9a583655a6::perpetual_core: 0x3f4"
        ),
        RefusalKind::InsufficientMargin,
        "E_LOSS_GREATER_THAN_COLLATERAL (1012)"
    );
    // The same code from another module, other failures: not an unknown order.
    for other in [
        "Move abort in 0x7a38039fffd016adcac2c53795ee49325e5ec6fddf3bf02651c09f9a583655a6::perpetual_core: 0x16",
        "Out of gas",
    ] {
        assert_eq!(kind(other), RefusalKind::Other, "{other}");
    }
}

#[test]
fn a_transaction_in_an_older_journal_is_adopted_like_a_token_kana_writes() {
    use perpbot_core::journal::record::{Entry, Record};
    let hash = format!("0x{}", "ab".repeat(32));
    let old = format!(
        r#"{{"seq":4,"ts_ms":1,"kind":"signed","request":3,"hash":"{hash}","sequence_number":9,"expiration_secs":1900000000,"gas_unit_price":100}}"#
    );
    let entry: Entry = serde_json::from_str(&old).unwrap();
    let Record::Signed(s) = entry.record else {
        panic!("{entry:?}")
    };
    assert_eq!(s.request, Some(3));
    let tx = submitted_from_token(&s.token).unwrap();
    assert_eq!(
        (
            tx.hash.to_string(),
            tx.sequence_number,
            tx.expiration_timestamp_secs,
            tx.gas_unit_price
        ),
        (hash, 9, 1_900_000_000, 100)
    );
    assert_eq!(token_of(&tx), s.token, "what Kana writes today");
    let again: Entry = serde_json::from_str(
        &serde_json::to_string(&Entry {
            seq: 4,
            ts_ms: 1,
            record: Record::Signed(s.clone()),
        })
        .unwrap(),
    )
    .unwrap();
    assert_eq!(again.record, Record::Signed(s));
    let bad = ResumeToken {
        handle: "0xab".into(),
        state: serde_json::json!({}),
    };
    assert!(submitted_from_token(&bad).unwrap_err().contains("handle"));
}
