//! Loopback tests of the simulator's node, REST API and driver, driven by the real clients.

use std::sync::Arc;
use std::time::Duration;

use rust_decimal_macros::dec;

use crate::config::Secret;
use crate::rest::{KanaRest, RetryPolicy};
use crate::writer::{KanaWriter, WriterConfig};
use perpbot_aptos::node::PollConfig;
use perpbot_aptos::{
    GasConfig, NodeClient, PrivateKey, RawTransaction, SignedTransaction, SubmitError, Submitter,
    sign_transaction,
};
use perpbot_core::venue::{RequestOutcome, VenueRequest, VenueWriter};
use perpbot_model::clock::Clock;
use perpbot_model::{ClientOrderId, Lots, MarketId, NewOrder, OrderRequest, Side, Ticks};
use perpbot_sim::profile_address;
use perpbot_sim::server::{SimConfig, SimHandle, start};

pub(super) const APT: MarketId = MarketId(1338);

pub(super) fn config() -> SimConfig {
    let mut c = SimConfig {
        block_latency_ms: 30,
        ..SimConfig::default()
    };
    c.synthetic.step_ms = 30;
    c
}

pub(super) async fn sim(config: SimConfig) -> SimHandle {
    start(config, "127.0.0.1:0".parse().unwrap(), Clock::system())
        .await
        .unwrap()
}

pub(super) fn poll() -> PollConfig {
    PollConfig {
        initial_interval: Duration::from_millis(10),
        backoff_percent: 150,
        max_interval: Duration::from_millis(50),
        expiry_margin: Duration::ZERO,
        long_poll: true,
    }
}

pub(super) fn node(h: &SimHandle) -> NodeClient {
    NodeClient::new(&h.node_url, Duration::from_secs(5))
        .unwrap()
        .with_poll_config(poll())
}

pub(super) fn rest(h: &SimHandle, key: &str) -> KanaRest {
    KanaRest::new(
        &h.rest_url,
        Some(Secret::new(key.into())),
        Duration::from_secs(5),
        RetryPolicy::none(),
    )
    .unwrap()
}

pub(super) fn gas(expiration_secs: u64) -> GasConfig {
    GasConfig {
        max_gas_amount: 10_000,
        gas_unit_price: Some(100),
        expiration_secs,
    }
}

pub(super) async fn writer(h: &SimHandle, key: PrivateKey, expiration_secs: u64) -> KanaWriter {
    let rest = Arc::new(rest(h, "sim"));
    let spec = rest.market_spec(APT).await.unwrap();
    let submitter = Arc::new(Submitter::new(node(h), key, 4, gas(expiration_secs)));
    KanaWriter::new(
        rest,
        submitter,
        vec![spec],
        WriterConfig {
            confirm_timeout: Duration::from_secs(3),
            max_batch: 10,
            delegate_for: None,
        },
    )
}

pub(super) fn place(order: NewOrder) -> VenueRequest {
    VenueRequest::Orders {
        market: APT,
        cancel: vec![],
        place: vec![OrderRequest {
            client_id: ClientOrderId(1),
            order,
        }],
    }
}

/// A signed transfer-free call (`collapse_position(1338)`) with the given fields.
pub(super) async fn signed(
    h: &SimHandle,
    key: &PrivateKey,
    seq: u64,
    expiration: u64,
    chain_id: u8,
) -> SignedTransaction {
    signed_for(h, key.address(), key, seq, expiration, chain_id).await
}

/// As [`signed`], for `sender` but signed by `key` (which need not be the sender's).
pub(super) async fn signed_for(
    h: &SimHandle,
    sender: perpbot_aptos::AccountAddress,
    key: &PrivateKey,
    seq: u64,
    expiration: u64,
    chain_id: u8,
) -> SignedTransaction {
    let rest = rest(h, "sim");
    let payload = rest.collapse_position(APT).await.unwrap();
    let package = h.shared.core().package;
    let abi = node(h).module(package, "perpetual_scripts").await.unwrap();
    let call = perpbot_aptos::encode_entry_function(
        &abi,
        "collapse_position",
        &[],
        &payload.function_arguments,
    )
    .unwrap();
    let raw = RawTransaction {
        sender,
        sequence_number: seq,
        payload: call.into(),
        max_gas_amount: 10_000,
        gas_unit_price: 100,
        expiration_timestamp_secs: expiration,
        chain_id,
    };
    sign_transaction(raw, key).unwrap()
}

pub(super) fn now_secs() -> u64 {
    Clock::system().now().as_secs()
}

/// Sign and submit `module::function(args)` of the simulated package with `key` (ABI from the
/// node, as a client builds a call Kana's REST does not offer) and wait for its outcome.
pub(super) async fn run_call(
    h: &SimHandle,
    key: &PrivateKey,
    module: &str,
    function: &str,
    args: &[serde_json::Value],
) -> perpbot_aptos::TxnOutcome {
    let package = h.shared.core().package;
    let abi = node(h).module(package, module).await.unwrap();
    let call = perpbot_aptos::encode_entry_function(&abi, function, &[], args).unwrap();
    let submitter = Submitter::new(node(h), key.clone(), 4, gas(30));
    let (_, outcome) = submitter
        .submit_and_confirm(call, Duration::from_secs(3))
        .await
        .unwrap();
    outcome
}

/// Run a payload a REST write endpoint returned.
pub(super) async fn run_payload(
    h: &SimHandle,
    key: &PrivateKey,
    payload: &crate::payload::EntryFunctionPayload,
) -> perpbot_aptos::TxnOutcome {
    let mut parts = payload.function.rsplitn(3, "::");
    let (Some(function), Some(module)) = (parts.next(), parts.next()) else {
        panic!("not a function id: {}", payload.function);
    };
    run_call(h, key, module, function, &payload.function_arguments).await
}

#[tokio::test]
async fn market_info_parses_into_the_configured_spec() {
    let h = sim(config()).await;
    let r = rest(&h, "sim");
    let spec = r.market_spec(APT).await.unwrap();
    let configured = h.shared.core().exchange.spec(APT).cloned().unwrap();
    assert_eq!(spec, configured);
    let all = r.all_market_specs().await.unwrap();
    assert_eq!(all.len(), h.shared.core().config.markets.len());
    h.stop();
}

#[tokio::test]
async fn wrong_api_key_is_401() {
    let h = sim(config()).await;
    let err = rest(&h, "nope").market_spec(APT).await.unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    h.stop();
}

#[tokio::test]
async fn synthetic_traders_make_a_two_sided_book() {
    let h = sim(config()).await;
    let r = rest(&h, "sim");
    let mut two_sided = false;
    for _ in 0..50 {
        let p = r.market_price(APT).await.unwrap();
        if let (Some(bid), Some(ask)) = (p.best_bid, p.best_ask) {
            assert!(bid < ask, "{bid} < {ask}");
            two_sided = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert!(two_sided);
    h.stop();
}

/// Wait until the synthetic book is two-sided; best (bid, ask) in ticks.
pub(super) async fn wait_book(h: &SimHandle) -> (Ticks, Ticks) {
    for _ in 0..100 {
        {
            let core = h.shared.core();
            if let Some(b) = core.exchange.book(APT)
                && let (Some(bid), Some(ask)) = (b.best_bid(), b.best_ask())
            {
                return (bid.price, ask.price);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no two-sided book");
}

#[tokio::test]
async fn placed_order_commits_and_rests() {
    let h = sim(config()).await;
    let (bid, _) = wait_book(&h).await;
    let key = PrivateKey::from_seed_bytes([1u8; 32]);
    let w = writer(&h, key.clone(), 30).await;
    let price = Ticks(bid.0.saturating_sub(50).max(1));
    let order = NewOrder::limit(APT, Side::Buy, Lots(1000), price)
        .post_only()
        .with_leverage(2);
    let outcome = w
        .execute(place(order), &perpbot_core::venue::RequestContext::none())
        .await;
    let RequestOutcome::Accepted { placed, .. } = &outcome else {
        panic!("{outcome:?}");
    };
    let id = placed
        .first()
        .and_then(|p| p.1)
        .expect("venue id from the event");
    let profile = profile_address(&key.address());
    let open = h.shared.core().exchange.open_orders(profile, Some(APT));
    assert!(open.iter().any(|o| o.order_id == id), "{open:?}");
    // The REST view agrees.
    let ids = rest(&h, "sim")
        .all_open_order_ids(key.address(), APT)
        .await
        .unwrap();
    assert_eq!(ids, vec![id.0]);
    let orders = rest(&h, "sim")
        .open_orders(key.address(), Some(APT))
        .await
        .unwrap();
    assert_eq!(orders.len(), 1);
    orders.parse().unwrap();
    h.stop();
}

#[tokio::test]
async fn crossing_post_only_is_rejected_with_econia_13() {
    let h = sim(config()).await;
    let (_, ask) = wait_book(&h).await;
    let key = PrivateKey::from_seed_bytes([2u8; 32]);
    let w = writer(&h, key, 30).await;
    let order = NewOrder::limit(APT, Side::Buy, Lots(1000), Ticks(ask.0 + 200))
        .post_only()
        .with_leverage(2);
    let outcome = w
        .execute(place(order), &perpbot_core::venue::RequestContext::none())
        .await;
    let RequestOutcome::Rejected { reason, .. } = &outcome else {
        panic!("{outcome:?}");
    };
    // The name and hex code of Econia's abort, raised by its `market` module (the Econia
    // address itself contains "13", so a bare "13" would prove nothing).
    assert!(
        reason.contains("::market: E_POST_OR_ABORT_CROSSES_SPREAD(0xd)"),
        "{reason}"
    );
    // The node served exactly that abort.
    let statuses: Vec<String> = h
        .shared
        .core()
        .txns
        .values()
        .filter_map(|t| match t {
            perpbot_sim::server::TxnState::Committed {
                success: false,
                vm_status,
                ..
            } => Some(vm_status.clone()),
            _ => None,
        })
        .collect();
    let [status] = statuses.as_slice() else {
        panic!("one failed transaction expected: {statuses:?}");
    };
    let perpbot_aptos::VmStatus::MoveAbort(abort) = perpbot_aptos::VmStatus::parse(status) else {
        panic!("not an abort: {status}");
    };
    assert_eq!(
        abort.known(),
        perpbot_aptos::KnownAbort::Econia(perpbot_aptos::EconiaAbort::PostOrAbortCrossesSpread),
        "{status}"
    );
    assert_eq!(abort.code, 13, "{status}");
    h.stop();
}

#[tokio::test]
async fn tampered_signature_is_invalid_signature() {
    let h = sim(config()).await;
    let key = PrivateKey::from_seed_bytes([3u8; 32]);
    let txn = signed(&h, &key, 0, now_secs() + 60, 4).await;
    let mut bytes = txn.to_bytes().unwrap();
    if let Some(last) = bytes.last_mut() {
        *last ^= 1;
    }
    let tampered = SignedTransaction::from_bytes(&bytes).unwrap();
    let err = node(&h).submit_bcs(&tampered).await.unwrap_err();
    let SubmitError::Rejected {
        status,
        vm_error_code,
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!((*status, *vm_error_code), (400, Some(1)), "{err}");
    h.stop();
}

/// A transaction for account A signed with key B verifies as a signature but not as A's key:
/// the node refuses it with `INVALID_AUTH_KEY` (vm_error_code 2) and nothing is queued.
#[tokio::test]
async fn wrong_key_is_invalid_auth_key() {
    let h = sim(config()).await;
    let owner = PrivateKey::from_seed_bytes([8u8; 32]);
    let intruder = PrivateKey::from_seed_bytes([9u8; 32]);
    let txn = signed_for(&h, owner.address(), &intruder, 0, now_secs() + 60, 4).await;
    let err = node(&h).submit_bcs(&txn).await.unwrap_err();
    let SubmitError::Rejected {
        status,
        code,
        vm_error_code,
        message,
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!((*status, *vm_error_code), (400, Some(2)), "{err}");
    assert_eq!(code.as_str(), "vm_error", "{err}");
    assert!(message.ends_with("INVALID_AUTH_KEY"), "{message}");
    assert!(h.shared.core().mempool.is_empty());
    // A refused transaction changes nothing: the account still reads as a fresh one.
    let account = node(&h).account(owner.address()).await.unwrap();
    assert_eq!(
        account.sequence_number, 0,
        "a refused transaction creates nothing"
    );
    h.stop();
}

#[tokio::test]
async fn expired_and_wrong_chain_are_refused() {
    let h = sim(config()).await;
    let key = PrivateKey::from_seed_bytes([4u8; 32]);
    let expired = signed(&h, &key, 0, now_secs().saturating_sub(1), 4).await;
    let err = node(&h).submit_bcs(&expired).await.unwrap_err();
    assert!(
        matches!(
            err,
            SubmitError::Rejected {
                vm_error_code: Some(6),
                ..
            }
        ),
        "{err:?}"
    );
    let wrong_chain = signed(&h, &key, 0, now_secs() + 60, 9).await;
    let err = node(&h).submit_bcs(&wrong_chain).await.unwrap_err();
    assert!(
        matches!(
            err,
            SubmitError::Rejected {
                vm_error_code: Some(23),
                ..
            }
        ),
        "{err:?}"
    );
    h.stop();
}

#[tokio::test]
async fn replayed_sequence_is_too_old_and_the_submitter_rebuilds_once() {
    let h = sim(config()).await;
    let key = PrivateKey::from_seed_bytes([5u8; 32]);
    let n = node(&h);
    // A committed failure (no position to collapse) still consumes sequence number 0.
    let first = signed(&h, &key, 0, now_secs() + 60, 4).await;
    let pending = n.submit_bcs(&first).await.unwrap();
    let outcome = n
        .wait_for_transaction(pending.hash, now_secs() + 60, Duration::from_secs(3))
        .await;
    assert!(
        matches!(outcome, perpbot_aptos::TxnOutcome::Failed { .. }),
        "{outcome:?}"
    );
    let replay = signed(&h, &key, 0, now_secs() + 61, 4).await;
    let err = n.submit_bcs(&replay).await.unwrap_err();
    assert!(matches!(err, SubmitError::SequenceTooOld { .. }), "{err:?}");
    // Two submitters both read 1; after the first commits, the second's 1 is too old and it
    // rebuilds once with 2.
    let payload = replay.raw_txn.payload.entry_function().clone();
    let a = Submitter::new(node(&h), key.clone(), 4, gas(60));
    let stale = Submitter::new(node(&h), key, 4, gas(60));
    a.resync().await.unwrap();
    stale.resync().await.unwrap();
    let sa = a.submit(payload.clone()).await.unwrap();
    assert_eq!(sa.sequence_number, 1);
    let _ = a.confirm(&sa, Duration::from_secs(3)).await;
    let sb = stale.submit(payload).await.unwrap();
    assert_eq!(
        sb.sequence_number, 2,
        "rebuilt after sequence_number_too_old"
    );
    h.stop();
}

#[tokio::test]
async fn lost_transaction_is_ambiguous_until_expiry_then_rejected() {
    let mut c = config();
    c.faults.tx_lose_probability = 1.0;
    let h = sim(c).await;
    let (bid, _) = wait_book(&h).await;
    let key = PrivateKey::from_seed_bytes([6u8; 32]);
    let rest = Arc::new(rest(&h, "sim"));
    let spec = rest.market_spec(APT).await.unwrap();
    let submitter = Arc::new(Submitter::new(node(&h), key, 4, gas(2)));
    let w = KanaWriter::new(
        rest,
        submitter,
        vec![spec],
        WriterConfig {
            confirm_timeout: Duration::from_millis(300),
            max_batch: 10,
            delegate_for: None,
        },
    );
    let request = place(
        NewOrder::limit(
            APT,
            Side::Buy,
            Lots(1000),
            Ticks(bid.0.saturating_sub(50).max(1)),
        )
        .with_leverage(2),
    );
    let outcome = w
        .execute(
            request.clone(),
            &perpbot_core::venue::RequestContext::none(),
        )
        .await;
    let RequestOutcome::Ambiguous { token, .. } = &outcome else {
        panic!("{outcome:?}");
    };
    let token = token.clone();
    let again = w.resolve(&request, token.as_deref()).await;
    assert!(
        matches!(again, RequestOutcome::Ambiguous { .. }),
        "{again:?}"
    );
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let last = w.resolve(&request, token.as_deref()).await;
    assert!(matches!(last, RequestOutcome::Rejected { .. }), "{last:?}");
    h.stop();
}

#[tokio::test]
async fn rest_refuses_off_grid_sizes_naming_the_parameter() {
    let h = sim(config()).await;
    let r = rest(&h, "sim");
    let err = r
        .place_limit_order(&crate::rest::LimitOrderParams {
            market: APT,
            trade_side: true,
            direction: false,
            size: dec!(0.0001),
            price: dec!(5.5),
            leverage: 2,
            restriction: 0,
            take_profit: None,
            stop_loss: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(err.to_string().contains("size"), "{err}");
    h.stop();
}

#[tokio::test]
async fn pending_duplicate_is_refused_and_simulation_does_not_commit() {
    let mut c = config();
    c.block_latency_ms = 60_000;
    let h = sim(c).await;
    let key = PrivateKey::from_seed_bytes([7u8; 32]);
    let n = node(&h);
    // An account the node has never seen reads as sequence 0, as wallets expect.
    let account = n.account(key.address()).await.unwrap();
    assert_eq!(account.sequence_number, 0);
    let first = signed(&h, &key, 0, now_secs() + 60, 4).await;
    let pending = n.submit_bcs(&first).await.unwrap();
    assert_eq!(
        n.transaction_by_hash(pending.hash).await.unwrap(),
        perpbot_aptos::TxnLookup::Pending
    );
    let other = signed(&h, &key, 0, now_secs() + 61, 4).await;
    let err = n.submit_bcs(&other).await.unwrap_err();
    assert!(
        err.to_string().contains("invalid_transaction_update"),
        "{err}"
    );
    let sim_txn = SignedTransaction::for_simulation(other.raw_txn.clone(), key.public_key());
    let result = n.simulate(&sim_txn).await.unwrap();
    assert!(!result.success, "nothing to collapse: {result:?}");
    let account = n.account(key.address()).await.unwrap();
    assert_eq!((account.exists, account.sequence_number), (true, 0));
    h.stop();
}
