use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::abi::{MoveModule, encode_entry_function};
use crate::node::fake_node::{FakeNode, Inner, LookupReply, SubmitReply, fast_poll};

fn payload(amount: u64) -> EntryFunction {
    let abi: MoveModule = serde_json::from_value(json!({
        "address": "0x1", "name": "aptos_account",
        "exposed_functions": [{
            "name": "transfer", "visibility": "public", "is_entry": true, "is_view": false,
            "generic_type_params": [], "params": ["&signer", "address", "u64"], "return": []
        }]
    }))
    .unwrap();
    encode_entry_function(&abi, "transfer", &[], &[json!("0x2"), json!(amount)]).unwrap()
}

fn gas(price: Option<u64>) -> GasConfig {
    GasConfig {
        max_gas_amount: 5_000,
        gas_unit_price: price,
        expiration_secs: 60,
    }
}

async fn setup(inner: Inner, key: &PrivateKey) -> (FakeNode, Submitter) {
    let node = FakeNode::start(inner).await;
    let client = NodeClient::new(&node.base, Duration::from_secs(2))
        .unwrap()
        .with_poll_config(fast_poll());
    let s = Submitter::connect(client, key.clone(), gas(None))
        .await
        .unwrap();
    (node, s)
}

fn with_account(key: &PrivateKey, seq: u64) -> Inner {
    let mut inner = Inner::default();
    inner.accounts.insert(key.address(), seq);
    inner
}

#[tokio::test]
async fn submit_signs_with_account_number_and_node_gas() {
    let key = PrivateKey::from_test_seed(1);
    let (node, s) = setup(with_account(&key, 11), &key).await;
    assert_eq!(s.chain_id(), 4);
    let a = s.submit(payload(1)).await.unwrap();
    let b = s.submit(payload(2)).await.unwrap();
    assert_eq!((a.sequence_number, b.sequence_number), (11, 12));
    assert_eq!(s.in_flight().await, vec![11, 12]);
    let fixture = node.lock();
    assert_eq!(fixture.received.len(), 2);
    assert_eq!(fixture.received[0].hash, a.hash);
    assert_eq!(fixture.received[1].hash, b.hash);
    assert!(fixture.received[0].sender_matches_key);
    assert_eq!(fixture.received[0].gas_unit_price, 100);
    assert_eq!(
        fixture.received[0].expiration_timestamp_secs,
        a.expiration_timestamp_secs
    );
    assert_eq!(fixture.account_requests, 1);
    assert_eq!(fixture.gas_requests, 1, "gas estimate cached");
}

#[tokio::test]
async fn fixed_gas_price_and_lazy_account_read() {
    let key = PrivateKey::from_test_seed(3);
    let node = FakeNode::start(Inner::default()).await;
    let client = NodeClient::new(&node.base, Duration::from_secs(2)).unwrap();
    let s = Submitter::new(client, key, 4, gas(Some(150)));
    let a = s.submit(payload(1)).await.unwrap();
    assert_eq!(a.sequence_number, 0, "404 account → 0");
    let fixture = node.lock();
    assert_eq!(fixture.gas_requests, 0);
    assert_eq!(fixture.received[0].gas_unit_price, 150);
}

#[tokio::test]
async fn pipelined_submits_get_consecutive_numbers() {
    let key = PrivateKey::from_test_seed(1);
    let (node, s) = setup(with_account(&key, 40), &key).await;
    let s = Arc::new(s);
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let s = Arc::clone(&s);
            tokio::spawn(async move { s.submit(payload(i)).await })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap().unwrap().sequence_number);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (40..46).collect::<Vec<_>>());
    assert_eq!(node.lock().received.len(), 6);
    assert_eq!(s.in_flight().await, seqs);
}

#[tokio::test]
async fn too_old_resyncs_and_rebuilds_once() {
    let key = PrivateKey::from_test_seed(1);
    let (node, s) = setup(with_account(&key, 5), &key).await;
    // Another client used 5..=8 meanwhile.
    node.lock().accounts.insert(key.address(), 9);
    let sent = s.submit(payload(1)).await.unwrap();
    assert_eq!(sent.sequence_number, 9);
    assert_eq!(s.in_flight().await, vec![9]);
    let fixture = node.lock();
    let seqs: Vec<u64> = fixture.received.iter().map(|r| r.sequence_number).collect();
    assert_eq!(seqs, vec![5, 9]);
    assert_eq!(fixture.received[1].hash, sent.hash);
}

#[tokio::test]
async fn too_old_twice_gives_up_after_one_rebuild() {
    let key = PrivateKey::from_test_seed(1);
    let (node, s) = setup(with_account(&key, 5), &key).await;
    let too_old = SubmitReply::Error(
        400,
        json!({"message": "too old", "error_code": "sequence_number_too_old", "vm_error_code": null}),
    );
    node.lock()
        .submit_replies
        .extend([too_old.clone(), too_old.clone(), too_old]);
    let err = s.submit(payload(1)).await.unwrap_err();
    assert!(matches!(err, SubmitError::SequenceTooOld { .. }), "{err}");
    assert_eq!(node.lock().received.len(), 2);
    assert!(s.in_flight().await.is_empty());
}

#[tokio::test]
async fn ambiguous_submit_is_not_resent_and_resolves_by_polling() {
    let key = PrivateKey::from_test_seed(1);
    let (node, s) = setup(with_account(&key, 2), &key).await;
    let s = s.with_reposts(2, Duration::from_millis(1));
    node.lock()
        .submit_replies
        .extend([internal_error(), internal_error(), internal_error()]);
    let err = s.submit(payload(1)).await.unwrap_err();
    assert!(err.is_ambiguous(), "{err}");
    let handle = err.submitted().unwrap();
    assert_eq!(handle.sequence_number, 2);
    assert_eq!(
        node.lock().received.len(),
        3,
        "the same bytes re-posted twice, nothing rebuilt"
    );
    for r in &node.lock().received {
        assert_eq!(Some(r.hash), err.hash());
    }
    assert_eq!(s.in_flight().await, vec![2], "still in flight");

    // The next transaction does not reuse the ambiguous number.
    let next = s.submit(payload(2)).await.unwrap();
    assert_eq!(next.sequence_number, 3);

    // The node had accepted it after all.
    node.lock()
        .lookup_replies
        .push_back(LookupReply::Committed {
            success: true,
            vm_status: "Executed successfully".into(),
        });
    let out = s.confirm(&handle, Duration::from_secs(2)).await;
    assert!(matches!(out, TxnOutcome::Committed { .. }), "{out:?}");
    assert_eq!(s.in_flight().await, vec![3]);
}

#[tokio::test]
async fn definite_rejection_frees_the_number() {
    let key = PrivateKey::from_test_seed(1);
    let (node, s) = setup(with_account(&key, 0), &key).await;
    node.lock().submit_replies.extend([
            SubmitReply::Accept,
            SubmitReply::Error(
                400,
                json!({"message": "Invalid transaction: Type: Validation Code: INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE",
                       "error_code": "vm_error", "vm_error_code": 5}),
            ),
        ]);
    assert_eq!(s.submit(payload(1)).await.unwrap().sequence_number, 0);
    let err = s.submit(payload(2)).await.unwrap_err();
    assert!(matches!(err, SubmitError::Rejected { .. }), "{err}");
    assert_eq!(s.in_flight().await, vec![0]);
    assert_eq!(s.submit(payload(3)).await.unwrap().sequence_number, 1);
}

#[tokio::test]
async fn expired_transaction_frees_its_number() {
    let key = PrivateKey::from_test_seed(1);
    let (node, s) = setup(with_account(&key, 7), &key).await;
    let sent = s.submit(payload(1)).await.unwrap();
    {
        let mut f = node.lock();
        f.lookup_replies.push_back(LookupReply::NotFound);
        f.ledger_usecs = (sent.expiration_timestamp_secs + 60) * 1_000_000;
    }
    let out = s.confirm(&sent, Duration::from_secs(2)).await;
    assert!(matches!(out, TxnOutcome::Expired { .. }), "{out:?}");
    assert!(s.in_flight().await.is_empty());
    assert_eq!(s.submit(payload(2)).await.unwrap().sequence_number, 7);
}

#[tokio::test]
async fn submit_and_confirm_failure_consumes_the_number() {
    let key = PrivateKey::from_test_seed(1);
    let (node, s) = setup(with_account(&key, 3), &key).await;
    node.lock().lookup_replies.extend([
        LookupReply::Pending,
        LookupReply::Committed {
            success: false,
            vm_status: "Move abort in 0x1::coin: EINSUFFICIENT_BALANCE(0x10006): low".into(),
        },
    ]);
    let (sent, out) = s
        .submit_and_confirm(payload(1), Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(sent.sequence_number, 3);
    assert!(matches!(out, TxnOutcome::Failed { .. }), "{out:?}");
    assert!(s.in_flight().await.is_empty());
    assert_eq!(s.submit(payload(2)).await.unwrap().sequence_number, 4);
}

/// "Too new" at run time: a leftover transaction of an earlier run holds 7 in mempool, so
/// our 7 is refused as a conflicting update and we go on with 8 and 9. Once the leftover is
/// gone nothing will ever execute 7, and 8 and 9 wait behind it. The first confirm that ends
/// unknown re-reads the account, and the next submission fills the gap at 7.
#[tokio::test]
async fn unknown_confirm_with_later_numbers_in_flight_resyncs_and_refills_the_gap() {
    let key = PrivateKey::from_test_seed(1);
    let (node, s) = setup(with_account(&key, 7), &key).await;
    let s = s.with_stall_check_interval(Duration::ZERO);
    node.lock().submit_replies.push_back(SubmitReply::Error(
            400,
            json!({"message": "conflict", "error_code": "invalid_transaction_update", "vm_error_code": null}),
        ));
    let err = s.submit(payload(1)).await.unwrap_err();
    assert!(
        matches!(
            err,
            SubmitError::Rejected {
                code: NodeErrorCode::InvalidTransactionUpdate,
                ..
            }
        ),
        "{err}"
    );
    let a = s.submit(payload(2)).await.unwrap();
    let b = s.submit(payload(3)).await.unwrap();
    assert_eq!((a.sequence_number, b.sequence_number), (8, 9));
    node.lock().lookup_replies.push_back(LookupReply::Pending);
    let reads_before = node.lock().account_requests;
    let out = s.confirm(&a, Duration::from_millis(20)).await;
    assert!(matches!(out, TxnOutcome::Unknown { .. }), "{out:?}");
    assert_eq!(
        node.lock().account_requests,
        reads_before + 1,
        "one stall check"
    );
    let c = s.submit(payload(4)).await.unwrap();
    assert_eq!(c.sequence_number, 7, "the gap is filled first");
    assert_eq!(s.in_flight().await, vec![7, 8, 9]);
}

#[tokio::test]
async fn stall_checks_run_only_with_later_numbers_in_flight_and_are_rate_limited() {
    let key = PrivateKey::from_test_seed(1);
    let (node, s) = setup(with_account(&key, 0), &key).await;
    node.lock().lookup_replies.push_back(LookupReply::Pending);
    let a = s.submit(payload(1)).await.unwrap();
    let reads = node.lock().account_requests;
    // Nothing above 0 in flight: no check.
    let _ = s.confirm(&a, Duration::from_millis(5)).await;
    assert_eq!(node.lock().account_requests, reads);
    // 1 in flight above 0: one check, then none within the default interval.
    let _b = s.submit(payload(2)).await.unwrap();
    let _ = s.confirm(&a, Duration::from_millis(5)).await;
    let _ = s.confirm(&a, Duration::from_millis(5)).await;
    assert_eq!(node.lock().account_requests, reads + 1);
    assert_eq!(s.in_flight().await, vec![0, 1], "nothing changed");
}

#[tokio::test]
async fn submitted_carries_the_signed_gas_price() {
    let key = PrivateKey::from_test_seed(1);
    let (node, s) = setup(with_account(&key, 0), &key).await;
    let a = s.submit(payload(1)).await.unwrap();
    assert_eq!(a.gas_unit_price, 100, "the node's estimate");
    assert_eq!(node.lock().received[0].gas_unit_price, a.gas_unit_price);
    let s = s.with_reposts(0, Duration::ZERO);
    node.lock().submit_replies.push_back(internal_error());
    let err = s.submit(payload(2)).await.unwrap_err();
    assert_eq!(err.submitted().map(|s| s.gas_unit_price), Some(100));
}

#[tokio::test]
async fn unknown_outcome_keeps_the_number_in_flight() {
    let key = PrivateKey::from_test_seed(1);
    let (node, s) = setup(with_account(&key, 0), &key).await;
    node.lock().lookup_replies.push_back(LookupReply::Pending);
    let (sent, out) = s
        .submit_and_confirm(payload(1), Duration::from_millis(30))
        .await
        .unwrap();
    assert!(matches!(out, TxnOutcome::Unknown { .. }), "{out:?}");
    assert_eq!(s.in_flight().await, vec![sent.sequence_number]);
}

fn internal_error() -> SubmitReply {
    SubmitReply::Error(
        503,
        json!({"message": "busy", "error_code": "internal_error", "vm_error_code": null}),
    )
}

/// Rule 2: a 5xx is answered by re-posting the same signed bytes (same hash), and an
/// acceptance then is a plain success, not an ambiguity for the executor to chase.
#[tokio::test]
async fn ambiguous_submit_reposts_the_same_bytes_and_succeeds() {
    let key = PrivateKey::from_test_seed(1);
    let (node, s) = setup(with_account(&key, 4), &key).await;
    let s = s.with_reposts(2, Duration::from_millis(1));
    node.lock()
        .submit_replies
        .extend([internal_error(), SubmitReply::Accept]);
    let sent = s.submit(payload(1)).await.unwrap();
    assert_eq!(sent.sequence_number, 4);
    let f = node.lock();
    assert_eq!(f.received.len(), 2);
    assert_eq!(f.received[0].hash, sent.hash, "same bytes");
    assert_eq!(f.received[1].hash, sent.hash, "same bytes");
}

/// Rule 2, bounded and never a rebuild: a re-post answered "too old" may be the first
/// post's own commit, so it stays ambiguous; no transaction with another hash is signed.
#[tokio::test]
async fn reposts_are_bounded_and_a_refused_repost_stays_ambiguous() {
    let key = PrivateKey::from_test_seed(1);
    let (node, s) = setup(with_account(&key, 4), &key).await;
    let s = s.with_reposts(2, Duration::from_millis(1));
    node.lock()
        .submit_replies
        .extend([internal_error(), internal_error(), internal_error()]);
    let err = s.submit(payload(1)).await.unwrap_err();
    assert!(err.is_ambiguous(), "{err}");
    assert_eq!(node.lock().received.len(), 3, "one post and two re-posts");
    node.lock().submit_replies.extend([
            internal_error(),
            SubmitReply::Error(
                400,
                json!({"message": "too old", "error_code": "sequence_number_too_old", "vm_error_code": null}),
            ),
        ]);
    let err = s.submit(payload(2)).await.unwrap_err();
    assert!(err.is_ambiguous(), "{err}");
    {
        let f = node.lock();
        assert_eq!(f.received.len(), 5, "no rebuild after the refused re-post");
        assert_eq!(f.received[3].hash, f.received[4].hash);
    }
    assert_eq!(s.in_flight().await, vec![4, 5], "both stay in flight");
}

/// Rule 1: a transaction past its expiration by the node's clock and not committed is found
/// dead before the next one is signed, which takes its number (fills the hole) at once.
/// Rule 4: the executor's later report of the same expiry does not free the number again,
/// now that the new transaction holds it.
#[tokio::test]
async fn dead_transaction_is_swept_before_signing_and_not_freed_twice() {
    let key = PrivateKey::from_test_seed(1);
    let node = FakeNode::start(with_account(&key, 7)).await;
    let client = NodeClient::new(&node.base, Duration::from_secs(2))
        .unwrap()
        .with_poll_config(fast_poll());
    let short = GasConfig {
        expiration_secs: 0,
        ..gas(Some(100))
    };
    let s = Submitter::connect(client, key.clone(), short)
        .await
        .unwrap();
    let lost = s.submit(payload(1)).await.unwrap();
    assert_eq!(lost.sequence_number, 7);
    // Lost in mempool: never found, and the chain's clock passes its expiration.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    node.lock().ledger_usecs = (lost.expiration_timestamp_secs + 60) * 1_000_000;
    let refill = s.submit(payload(2)).await.unwrap();
    assert_eq!(
        refill.sequence_number, 7,
        "the hole is filled, not queued behind"
    );
    // The executor resolves the lost one later: expired, and 7 stays with the refill.
    let out = s.confirm(&lost, Duration::from_millis(5)).await;
    assert!(matches!(out, TxnOutcome::Expired { .. }), "{out:?}");
    assert_eq!(s.in_flight().await, vec![7]);
    // (The refill itself is not dead: the chain's clock is back before its expiration.)
    node.lock().ledger_usecs = 1_700_000_000_000_000;
    let next = s.submit(payload(3)).await.unwrap();
    assert_eq!(
        next.sequence_number, 8,
        "7 is never handed out a third time"
    );
}
