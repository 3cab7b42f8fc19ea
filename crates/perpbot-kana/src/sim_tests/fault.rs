//! Fault injection as clients see it: each fault's status, headers and error body on the wire
//! (read raw) and what the real clients make of it; the admin routes that switch faults while
//! the simulator runs; the WebSocket stall.

use std::time::Duration;

use serde_json::{Value, json};

use super::indexer as indexer_tests;
use super::server::{APT, config, node, now_secs, place, rest, signed, sim, wait_book, writer};
use perpbot_aptos::node::ensure_crypto_provider;
use perpbot_aptos::{
    KanaAbort, KnownAbort, NodeClientError, PrivateKey, SubmitError, TxnLookup, VmStatus,
};
use perpbot_core::venue::{RequestOutcome, VenueWriter};
use perpbot_model::{ConnectionState, Event, Lots, NewOrder, Side, Ticks};
use perpbot_sim::server::{FaultConfig, SimHandle};

fn http() -> reqwest::Client {
    ensure_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// A raw `GET` with the API key: status, `Retry-After` header, JSON body.
async fn get_raw(url: &str) -> (u16, Option<String>, Value) {
    let resp = http()
        .get(url)
        .header("x-api-key", "sim")
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, retry, resp.json().await.unwrap())
}

fn with(f: impl FnOnce(&mut FaultConfig)) -> perpbot_sim::server::SimConfig {
    let mut c = config();
    f(&mut c.faults);
    c
}

fn market_info_url(h: &SimHandle) -> String {
    format!("{}/getMarketInfo?marketId=1338", h.rest_url)
}

#[tokio::test]
async fn rest_429_carries_retry_after_and_kanas_envelope() {
    let h = sim(with(|f| {
        f.rest_429_probability = 1.0;
        f.retry_after_secs = 7;
    }))
    .await;
    let (status, retry, body) = get_raw(&market_info_url(&h)).await;
    assert_eq!(status, 429);
    assert_eq!(retry.as_deref(), Some("7"));
    assert_eq!(
        body,
        json!({"success": false, "message": "Too many requests", "data": null})
    );
    // The client reports the status (no retries configured here).
    let err = rest(&h, "sim").market_spec(APT).await.unwrap_err();
    assert_eq!(err.status(), Some(429), "{err}");
    assert!(h.shared.injected().rest_429 >= 2);
    // The node is not faulted by a REST switch.
    node(&h).ledger_info().await.unwrap();
    h.stop();
}

#[tokio::test]
async fn rest_5xx_is_503_with_kanas_envelope() {
    let h = sim(with(|f| f.rest_5xx_probability = 1.0)).await;
    let (status, retry, body) = get_raw(&market_info_url(&h)).await;
    assert_eq!((status, retry), (503, None));
    assert_eq!(body["success"], false);
    assert_eq!(body["data"], Value::Null);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("unavailable")),
        "{body}"
    );
    let err = rest(&h, "sim").market_spec(APT).await.unwrap_err();
    assert_eq!(err.status(), Some(503), "{err:?}");
    h.stop();
}

/// Node faults hit submissions and lookups, answered before the request is looked at; REST and
/// the node's other routes keep working.
#[tokio::test]
async fn node_429_and_5xx_hit_submit_and_lookup_only() {
    let h = sim(with(|f| {
        f.node_429_probability = 1.0;
        f.retry_after_secs = 3;
    }))
    .await;
    let key = PrivateKey::from_seed_bytes([31; 32]);
    rest(&h, "sim").market_spec(APT).await.unwrap();
    node(&h).account(key.address()).await.unwrap();
    let txn = signed(&h, &key, 0, now_secs() + 60, 4).await;

    let err = node(&h).submit_bcs(&txn).await.unwrap_err();
    let SubmitError::Rejected { status, .. } = &err else {
        panic!("a 429 is a definite refusal to the client: {err:?}");
    };
    assert_eq!(*status, 429);
    let url = format!(
        "{}/transactions/by_hash/{}",
        h.node_url,
        txn.hash().unwrap()
    );
    let (status, retry, body) = get_raw(&url).await;
    assert_eq!((status, retry.as_deref()), (429, Some("3")));
    assert_eq!(body["error_code"], "web_framework_error", "{body}");
    assert!(
        h.shared.core().mempool.is_empty(),
        "refused before the mempool"
    );

    let mut faults = h.shared.faults();
    faults.node_429_probability = 0.0;
    faults.node_5xx_probability = 1.0;
    h.shared.set_faults(faults).unwrap();
    let err = node(&h).submit_bcs(&txn).await.unwrap_err();
    assert!(
        err.is_ambiguous(),
        "a 500 may have reached mempool: {err:?}"
    );
    let lookup = node(&h)
        .transaction_by_hash(txn.hash().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(lookup, NodeClientError::Http { status: 500, .. }) && lookup.is_retryable(),
        "{lookup:?}"
    );
    let (status, _, body) = get_raw(&url).await;
    assert_eq!(status, 500);
    assert_eq!(
        body,
        json!({"message": "Internal error (injected)", "error_code": "internal_error", "vm_error_code": null})
    );
    let injected = h.shared.injected();
    assert_eq!((injected.node_429, injected.node_5xx), (2, 3));
    h.stop();
}

/// An injected abort commits as a Kana Move abort with the configured code: the sequence number
/// is consumed and gas is charged, like any failed transaction.
#[tokio::test]
async fn injected_abort_commits_as_a_kana_move_abort() {
    let h = sim(with(|f| {
        f.tx_abort_probability = 1.0;
        f.tx_abort_code = KanaAbort::Paused.code();
    }))
    .await;
    let (bid, _) = wait_book(&h).await;
    let key = PrivateKey::from_seed_bytes([32; 32]);
    let w = writer(&h, key.clone(), 30).await;
    let order = NewOrder::limit(
        APT,
        Side::Buy,
        Lots(1000),
        Ticks(bid.0.saturating_sub(50).max(1)),
    )
    .with_leverage(2);
    let outcome = w
        .execute(place(order), &perpbot_core::venue::RequestContext::none())
        .await;
    let RequestOutcome::Rejected { reason, .. } = &outcome else {
        panic!("{outcome:?}");
    };
    assert!(
        reason.contains("::perpetual_core: E_PAUSED(0x3ea)"),
        "{reason}"
    );
    let n = node(&h);
    let account = n.account(key.address()).await.unwrap();
    assert_eq!(account.sequence_number, 1, "an abort consumes the number");
    let hash = h
        .shared
        .core()
        .txns
        .keys()
        .next()
        .cloned()
        .expect("one transaction");
    let TxnLookup::Committed(txn) = n.transaction_by_hash(hash.parse().unwrap()).await.unwrap()
    else {
        panic!("not committed");
    };
    assert!(!txn.success);
    let VmStatus::MoveAbort(abort) = VmStatus::parse(&txn.vm_status) else {
        panic!("{}", txn.vm_status);
    };
    assert_eq!(abort.known(), KnownAbort::Kana(KanaAbort::Paused));
    assert_eq!(txn.gas_used, 300 + 150, "base + one order");
    assert_eq!(h.shared.injected().tx_aborts, 1);
    h.stop();
}

/// An injected expiry drops the transaction: the node answers 404 `transaction_not_found`, the
/// sequence number stays free and no gas is charged.
#[tokio::test]
async fn injected_expiry_is_not_found_and_frees_the_sequence_number() {
    let h = sim(with(|f| f.tx_expire_probability = 1.0)).await;
    let key = PrivateKey::from_seed_bytes([33; 32]);
    let n = node(&h);
    let txn = signed(&h, &key, 0, now_secs() + 60, 4).await;
    let pending = n.submit_bcs(&txn).await.unwrap();
    let mut lookup = TxnLookup::Pending;
    for _ in 0..100 {
        lookup = n.transaction_by_hash(pending.hash).await.unwrap();
        if lookup != TxnLookup::Pending {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(lookup, TxnLookup::NotFound);
    let url = format!("{}/transactions/by_hash/{}", h.node_url, pending.hash);
    let (status, _, body) = get_raw(&url).await;
    assert_eq!(status, 404);
    assert_eq!(body["error_code"], "transaction_not_found", "{body}");
    assert_eq!(n.account(key.address()).await.unwrap().sequence_number, 0);
    let apt = rest(&h, "sim")
        .account_apt_balance(key.address())
        .await
        .unwrap();
    assert_eq!(
        apt,
        rust_decimal::Decimal::from(1_000_000),
        "no gas charged"
    );
    assert_eq!(h.shared.injected().tx_expired, 1);
    h.stop();
}

/// Sequence skew reports an account one behind; a client that believes it submits a number the
/// node then refuses as too old (400, `sequence_number_too_old`, vm_error_code 3).
#[tokio::test]
async fn sequence_skew_reports_one_behind_and_the_stale_number_is_too_old() {
    let h = sim(config()).await;
    let key = PrivateKey::from_seed_bytes([34; 32]);
    let n = node(&h);
    let first = signed(&h, &key, 0, now_secs() + 60, 4).await;
    let pending = n.submit_bcs(&first).await.unwrap();
    let outcome = n
        .wait_for_transaction(pending.hash, now_secs() + 60, Duration::from_secs(3))
        .await;
    assert!(
        matches!(outcome, perpbot_aptos::TxnOutcome::Failed { .. }),
        "{outcome:?}"
    );
    assert_eq!(n.account(key.address()).await.unwrap().sequence_number, 1);

    let mut faults = h.shared.faults();
    faults.sequence_skew_probability = 1.0;
    h.shared.set_faults(faults).unwrap();
    let url = format!("{}/accounts/{}", h.node_url, key.address());
    let (status, _, body) = get_raw(&url).await;
    assert_eq!((status, &body["sequence_number"]), (200, &json!("0")));
    let believed = n.account(key.address()).await.unwrap().sequence_number;
    assert_eq!(believed, 0);
    let stale = signed(&h, &key, believed, now_secs() + 61, 4).await;
    let resp = http()
        .post(format!("{}/transactions", h.node_url))
        .header(
            "content-type",
            perpbot_aptos::node::BCS_SIGNED_TXN_CONTENT_TYPE,
        )
        .body(stale.to_bytes().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error_code"], "sequence_number_too_old", "{body}");
    assert_eq!(body["vm_error_code"], 3, "{body}");
    assert!(h.shared.injected().sequence_skews >= 2);
    h.stop();
}

/// `GET` / `POST /admin/faults` read and change the faults at run time; bad changes are refused
/// with the key named and change nothing.
#[tokio::test]
async fn admin_reads_and_changes_faults_at_run_time() {
    let h = sim(config()).await;
    let url = format!("{}/admin/faults", h.rest_url);
    let (status, _, body) = get_raw(&url).await;
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::to_value(FaultConfig::default()).unwrap());
    let unauthorised = http().get(&url).send().await.unwrap();
    assert_eq!(unauthorised.status().as_u16(), 401);

    let post = |body: Value| {
        let url = url.clone();
        async move {
            let resp = http()
                .post(&url)
                .header("x-api-key", "sim")
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = post(json!({"rest_5xx_probability": 1.0})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rest_5xx_probability"], 1.0);
    assert_eq!(body["retry_after_secs"], 1, "other keys kept");
    let err = rest(&h, "sim").market_spec(APT).await.unwrap_err();
    assert_eq!(err.status(), Some(503), "{err}");

    for (bad, named) in [
        (json!({"rest_5xx_probabilty": 0}), "rest_5xx_probabilty"),
        (
            json!({"ws_drop_probability": 2.0}),
            "faults.ws_drop_probability",
        ),
        (json!({"tx_abort_code": 5}), "faults.tx_abort_code"),
        (json!({"ws_stall_ms": "soon"}), "faults"),
        (json!([1, 2]), "JSON object"),
    ] {
        let (status, body) = post(bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(message.contains(named), "{bad}: {message}");
    }
    assert_eq!(h.shared.faults().rest_5xx_probability, 1.0, "unchanged");

    let (status, _) = post(json!({"rest_5xx_probability": 0})).await;
    assert_eq!(status, 200);
    rest(&h, "sim").market_spec(APT).await.unwrap();
    let (status, _, injected) = get_raw(&format!("{url}/injected")).await;
    assert_eq!(status, 200);
    assert_eq!(injected["rest_5xx"], 1, "{injected}");
    h.stop();
}

/// A stall holds the pushes with the socket open (no reconnect, unlike a drop); lifting it
/// through the admin route releases them at once.
#[tokio::test]
async fn stall_holds_pushes_until_lifted_without_disconnecting() {
    let mut c = perpbot_sim::server::SimConfig::default();
    c.faults.ws_stall_probability = 1.0;
    c.faults.ws_stall_ms = 60_000;
    let handle = indexer_tests::start(c).await;
    let (task, stats, mut rx) = indexer_tests::client(&handle, &handle.ws_url.clone(), None);
    indexer_tests::connected(&mut rx).await;
    for _ in 0..300 {
        if handle.shared.injected().ws_stalls > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        handle.shared.injected().ws_stalls > 0,
        "the first round stalls"
    );
    let s = stats.snapshot();
    assert_eq!((s.frames, s.connects, s.reconnects), (0, 1, 0), "{s:?}");

    let resp = http()
        .post(format!("{}/admin/faults", handle.rest_url))
        .header("x-api-key", "sim")
        .json(&json!({"ws_stall_probability": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    indexer_tests::seed_book(&handle);
    indexer_tests::until(&mut rx, |e| match e {
        Event::Book(b) if b.market == APT && !b.bids.is_empty() => Some(()),
        Event::Connection(c) if c.state == ConnectionState::Reconnecting => {
            panic!("a stall must not disconnect")
        }
        _ => None,
    })
    .await;
    let s = stats.snapshot();
    assert_eq!(
        (s.connects, s.reconnects, s.decode_errors),
        (1, 0, 0),
        "{s:?}"
    );
    assert!(s.frames > 0);
    task.abort();
    handle.stop();
}

/// Gas: a committed order and an aborted one both report `base + per_order × orders` and the
/// sender's APT balance drops by `gas_used × gas_unit_price`.
#[tokio::test]
async fn gas_is_charged_for_commits_and_aborts_and_reported_by_hash() {
    let h = sim(config()).await;
    let (bid, ask) = wait_book(&h).await;
    let key = PrivateKey::from_seed_bytes([35; 32]);
    let w = writer(&h, key.clone(), 30).await;
    let resting = NewOrder::limit(
        APT,
        Side::Buy,
        Lots(1000),
        Ticks(bid.0.saturating_sub(50).max(1)),
    )
    .post_only()
    .with_leverage(2);
    let outcome = w
        .execute(place(resting), &perpbot_core::venue::RequestContext::none())
        .await;
    assert!(
        matches!(outcome, RequestOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    let crossing = NewOrder::limit(APT, Side::Buy, Lots(1000), Ticks(ask.0 + 200))
        .post_only()
        .with_leverage(2);
    let outcome = w
        .execute(
            place(crossing),
            &perpbot_core::venue::RequestContext::none(),
        )
        .await;
    assert!(
        matches!(outcome, RequestOutcome::Rejected { .. }),
        "{outcome:?}"
    );

    let n = node(&h);
    let hashes: Vec<String> = h.shared.core().txns.keys().cloned().collect();
    assert_eq!(hashes.len(), 2);
    let mut total = 0;
    for hash in hashes {
        let url = format!("{}/transactions/by_hash/{hash}", h.node_url);
        let (status, _, body) = get_raw(&url).await;
        assert_eq!(status, 200);
        assert_eq!(body["gas_used"], "450", "{body}");
        assert_eq!(body["gas_unit_price"], "100", "{body}");
        let TxnLookup::Committed(txn) = n.transaction_by_hash(hash.parse().unwrap()).await.unwrap()
        else {
            panic!("not committed");
        };
        total += txn.gas_used * 100;
    }
    assert_eq!(total, 2 * 450 * 100);
    let apt = rest(&h, "sim")
        .account_apt_balance(key.address())
        .await
        .unwrap();
    let expected = rust_decimal::Decimal::from(1_000_000)
        - rust_decimal::Decimal::new(i64::try_from(total).unwrap(), 8);
    assert_eq!(apt, expected);
    h.stop();
}

/// A transaction whose cost exceeds its `max_gas_amount` fails `Out of gas` and is charged the
/// whole limit; a sender who cannot cover `max_gas_amount × gas_unit_price` is refused at
/// submission (`INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE`, 5).
#[tokio::test]
async fn out_of_gas_and_insufficient_balance_for_the_fee() {
    let mut c = config();
    c.gas.base_units = 20_000;
    c.gas.apt_balance = rust_decimal::Decimal::new(1, 2); // 0.01 APT = 1 000 000 octas
    let h = sim(c).await;
    let key = PrivateKey::from_seed_bytes([36; 32]);
    let n = node(&h);
    // 10 000 × 100 = 1 000 000 octas: exactly affordable; the call needs 20 000 units.
    let txn = signed(&h, &key, 0, now_secs() + 60, 4).await;
    let pending = n.submit_bcs(&txn).await.unwrap();
    let outcome = n
        .wait_for_transaction(pending.hash, now_secs() + 60, Duration::from_secs(3))
        .await;
    let perpbot_aptos::TxnOutcome::Failed { vm_status, txn } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(vm_status, VmStatus::OutOfGas);
    assert_eq!(txn.gas_used, 10_000);
    // The balance is spent: the next submission cannot pay its maximum fee.
    let next = signed(&h, &key, 1, now_secs() + 60, 4).await;
    let err = n.submit_bcs(&next).await.unwrap_err();
    let SubmitError::Rejected {
        status,
        vm_error_code,
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!((*status, *vm_error_code), (400, Some(5)), "{err}");
    h.stop();
}
