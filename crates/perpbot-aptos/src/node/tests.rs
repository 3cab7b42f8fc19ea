use super::fake_node::{FakeNode, Inner, LookupReply, SubmitReply, fast_poll};
use super::*;
use crate::abi::encode_entry_function;
use crate::keys::PrivateKey;
use crate::signing::sign_transaction;
use crate::types::RawTransaction;
use crate::vm_status::KnownAbort;
use serde_json::json;

fn client(node: &FakeNode) -> NodeClient {
    NodeClient::new(&node.base, Duration::from_secs(2))
        .unwrap()
        .with_poll_config(fast_poll())
}

fn transfer_abi() -> Value {
    json!({
        "address": "0x1", "name": "aptos_account", "friends": [],
        "exposed_functions": [{
            "name": "transfer", "visibility": "public", "is_entry": true, "is_view": false,
            "generic_type_params": [], "params": ["&signer", "address", "u64"], "return": []
        }],
        "structs": []
    })
}

fn signed_txn(key: &PrivateKey, seq: u64, expiration: u64) -> SignedTransaction {
    let abi: MoveModule = serde_json::from_value(transfer_abi()).unwrap();
    let call =
        encode_entry_function(&abi, "transfer", &[], &[json!("0x2"), json!("1000")]).unwrap();
    let raw = RawTransaction {
        sender: key.address(),
        sequence_number: seq,
        payload: call.into(),
        max_gas_amount: 10_000,
        gas_unit_price: 100,
        expiration_timestamp_secs: expiration,
        chain_id: 4,
    };
    sign_transaction(raw, key).unwrap()
}

const FAR_EXPIRY: u64 = 1_900_000_000;

#[tokio::test]
async fn ledger_info_reads_chain_id_and_time() {
    let node = FakeNode::start(Inner::default()).await;
    let info = client(&node).ledger_info().await.unwrap();
    assert_eq!(info.chain_id, 4);
    assert_eq!(info.ledger_version, Some(1234));
    assert_eq!(info.ledger_timestamp_usecs, 1_700_000_000_000_000);
}

#[tokio::test]
async fn account_and_missing_account() {
    let key = PrivateKey::from_test_seed(1);
    let mut inner = Inner::default();
    inner.accounts.insert(key.address(), 11);
    let node = FakeNode::start(inner).await;
    let c = client(&node);
    let a = c.account(key.address()).await.unwrap();
    assert_eq!(a.sequence_number, 11);
    assert!(a.exists);
    assert_eq!(a.authentication_key, key.address().to_bytes());

    let fresh = PrivateKey::from_test_seed(2).address();
    let b = c.account(fresh).await.unwrap();
    assert_eq!(
        b,
        AccountInfo {
            sequence_number: 0,
            authentication_key: fresh.to_bytes(),
            exists: false
        }
    );
}

#[tokio::test]
async fn gas_estimate_numbers() {
    let node = FakeNode::start(Inner::default()).await;
    let g = client(&node).estimate_gas_price().await.unwrap();
    assert_eq!(
        g,
        GasEstimate {
            gas_estimate: 100,
            deprioritized_gas_estimate: Some(100),
            prioritized_gas_estimate: Some(150)
        }
    );
}

#[tokio::test]
async fn decode_errors_name_endpoint_and_field() {
    let key = PrivateKey::from_test_seed(1);
    let node = FakeNode::start(Inner {
        gas: json!({"gas_estimate": "lots"}),
        ..Inner::default()
    })
    .await;
    let err = client(&node).estimate_gas_price().await.unwrap_err();
    match &err {
        NodeClientError::Decode {
            endpoint, field, ..
        } => {
            assert_eq!(endpoint, "GET /estimate_gas_price");
            assert_eq!(field, "gas_estimate");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("\"lots\""), "{err}");
    // An unknown module is an HTTP error with the parsed body.
    let err = client(&node)
        .module(key.address(), "nope")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert_eq!(
        err.node_error().map(|e| e.error_code.clone()),
        Some(NodeErrorCode::ModuleNotFound)
    );
    // Path injection is refused locally.
    assert!(matches!(
        client(&node).module(key.address(), "a/b").await,
        Err(NodeClientError::Aptos(_))
    ));
}

#[tokio::test]
async fn module_abi_is_fetched_once() {
    let mut inner = Inner::default();
    inner.modules.insert(
        (AccountAddress::ONE, "aptos_account".into()),
        transfer_abi(),
    );
    let node = FakeNode::start(inner).await;
    let c = client(&node);
    let m1 = c
        .module(AccountAddress::ONE, "aptos_account")
        .await
        .unwrap();
    let m2 = c
        .module(AccountAddress::ONE, "aptos_account")
        .await
        .unwrap();
    assert!(Arc::ptr_eq(&m1, &m2));
    assert!(m1.function("transfer").is_some());
    assert_eq!(node.lock().module_requests, 1);
}

#[tokio::test]
async fn submit_returns_the_local_hash() {
    let key = PrivateKey::from_test_seed(1);
    let node = FakeNode::start(Inner::default()).await;
    let signed = signed_txn(&key, 0, FAR_EXPIRY);
    let local = signed.hash().unwrap();
    let pending = client(&node).submit_bcs(&signed).await.unwrap();
    assert_eq!(pending.hash, local);
    let got = node.lock().received.clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].hash, local);
    assert!(got[0].sender_matches_key);
}

#[tokio::test]
async fn submit_5xx_is_ambiguous_and_not_retried() {
    let key = PrivateKey::from_test_seed(1);
    let mut inner = Inner::default();
    inner.submit_replies.push_back(SubmitReply::Error(
        500,
        json!({"message": "boom", "error_code": "internal_error", "vm_error_code": null}),
    ));
    let node = FakeNode::start(inner).await;
    let signed = signed_txn(&key, 3, FAR_EXPIRY);
    let err = client(&node).submit_bcs(&signed).await.unwrap_err();
    match err {
        SubmitError::Ambiguous {
            hash,
            sequence_number,
            expiration_timestamp_secs,
            ..
        } => {
            assert_eq!(hash, signed.hash().unwrap());
            assert_eq!(sequence_number, 3);
            assert_eq!(expiration_timestamp_secs, FAR_EXPIRY);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(node.lock().received.len(), 1);
}

#[tokio::test]
async fn submit_timeout_and_refused_connection_are_ambiguous() {
    let key = PrivateKey::from_test_seed(1);
    let mut inner = Inner::default();
    inner
        .submit_replies
        .push_back(SubmitReply::Delay(Duration::from_millis(500)));
    let node = FakeNode::start(inner).await;
    let c = NodeClient::new(&node.base, Duration::from_millis(100)).unwrap();
    let signed = signed_txn(&key, 0, FAR_EXPIRY);
    let err = c.submit_bcs(&signed).await.unwrap_err();
    assert!(err.is_ambiguous(), "{err}");
    assert_eq!(err.hash(), Some(signed.hash().unwrap()));

    // Nothing listens on a just-closed port.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let c = NodeClient::new(
        &format!("http://127.0.0.1:{port}/v1"),
        Duration::from_secs(1),
    )
    .unwrap();
    let err = c.submit_bcs(&signed).await.unwrap_err();
    assert!(err.is_ambiguous(), "{err}");
    // A read to the same place is a plain transport error.
    assert!(matches!(
        c.ledger_info().await,
        Err(NodeClientError::Transport {
            kind: TransportKind::Connect,
            ..
        })
    ));
}

#[tokio::test]
async fn submit_definite_rejections_are_classified() {
    let key = PrivateKey::from_test_seed(1);
    let mut inner = Inner::default();
    inner.accounts.insert(key.address(), 5);
    inner.submit_replies.extend([
            SubmitReply::Error(
                400,
                json!({"message": "Invalid transaction: Type: Validation Code: SEQUENCE_NUMBER_TOO_OLD",
                       "error_code": "vm_error", "vm_error_code": 3}),
            ),
            SubmitReply::Error(
                507,
                json!({"message": "Mempool is full", "error_code": "mempool_is_full", "vm_error_code": null}),
            ),
            SubmitReply::Error(
                400,
                json!({"message": "Invalid transaction: Type: Validation Code: INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE",
                       "error_code": "vm_error", "vm_error_code": 5}),
            ),
            SubmitReply::Error(429, json!("slow down")),
        ]);
    let node = FakeNode::start(inner).await;
    let c = client(&node);
    // The fixture's own mempool check: 4 < 5.
    let err = c
        .submit_bcs(&signed_txn(&key, 4, FAR_EXPIRY))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SubmitError::SequenceTooOld {
                sequence_number: 4,
                ..
            }
        ),
        "{err}"
    );
    // vm_error_code 3.
    let err = c
        .submit_bcs(&signed_txn(&key, 5, FAR_EXPIRY))
        .await
        .unwrap_err();
    assert!(matches!(err, SubmitError::SequenceTooOld { .. }), "{err}");
    let err = c
        .submit_bcs(&signed_txn(&key, 5, FAR_EXPIRY))
        .await
        .unwrap_err();
    assert!(matches!(err, SubmitError::MempoolFull { .. }), "{err}");
    let err = c
        .submit_bcs(&signed_txn(&key, 5, FAR_EXPIRY))
        .await
        .unwrap_err();
    assert_eq!(
        err.validation_code(),
        Some(VmValidationCode::InsufficientBalanceForTransactionFee)
    );
    assert!(!err.is_ambiguous());
    let err = c
        .submit_bcs(&signed_txn(&key, 5, FAR_EXPIRY))
        .await
        .unwrap_err();
    match err {
        SubmitError::Rejected { status, code, .. } => {
            assert_eq!(status, 429);
            assert_eq!(code, NodeErrorCode::Other("http_429".into()));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn simulate_reads_first_result() {
    let key = PrivateKey::from_test_seed(1);
    let node = FakeNode::start(Inner::default()).await;
    let signed = signed_txn(&key, 0, FAR_EXPIRY);
    let sim = SignedTransaction::for_simulation(signed.raw_txn.clone(), key.public_key());
    let r = client(&node).simulate(&sim).await.unwrap();
    assert!(!r.success);
    assert_eq!(r.gas_used, 12);
    assert!(matches!(r.status(), VmStatus::MoveAbort(a) if a.code == 0x10006));
    // A verifying signature is refused by the node.
    let err = client(&node).simulate(&signed).await.unwrap_err();
    assert_eq!(err.status(), Some(400));
}

#[tokio::test]
async fn wait_pending_then_committed() {
    let key = PrivateKey::from_test_seed(1);
    let mut inner = Inner::default();
    inner.lookup_replies.extend([
        LookupReply::NotFound,
        LookupReply::Pending,
        LookupReply::Pending,
        LookupReply::Committed {
            success: true,
            vm_status: "Executed successfully".into(),
        },
    ]);
    let node = FakeNode::start(inner).await;
    let c = client(&node);
    let signed = signed_txn(&key, 7, FAR_EXPIRY);
    let p = c.submit_bcs(&signed).await.unwrap();
    assert_eq!(
        c.transaction_by_hash(p.hash).await.unwrap(),
        TxnLookup::NotFound
    );
    let out = c
        .wait_for_transaction(p.hash, FAR_EXPIRY, Duration::from_secs(5))
        .await;
    match out {
        TxnOutcome::Committed { txn } => {
            assert_eq!(txn.version, 1_010_733_903);
            assert_eq!(txn.sequence_number, 7);
            assert_eq!(txn.gas_used, 57);
            assert_eq!(txn.events.len(), 1);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(node.lock().lookup_requests, 4);
}

#[tokio::test]
async fn committed_failure_is_parsed() {
    let key = PrivateKey::from_test_seed(1);
    let mut inner = Inner::default();
    inner.lookup_replies.push_back(LookupReply::Committed {
            success: false,
            vm_status: "Move abort in 0x7a38039fffd016adcac2c53795ee49325e5ec6fddf3bf02651c09f9a583655a6::perpetual_core: 0x3ee".into(),
        });
    let node = FakeNode::start(inner).await;
    let signed = signed_txn(&key, 0, FAR_EXPIRY);
    let out = client(&node)
        .wait_for_transaction(signed.hash().unwrap(), FAR_EXPIRY, Duration::from_secs(5))
        .await;
    match out {
        TxnOutcome::Failed {
            vm_status: VmStatus::MoveAbort(abort),
            txn,
        } => {
            assert!(!txn.success);
            assert_eq!(abort.code, 1006);
            assert_eq!(abort.module.as_deref(), Some("perpetual_core"));
            assert!(matches!(abort.known(), KnownAbort::Kana(_)));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn not_found_until_past_expiration_is_expired() {
    let key = PrivateKey::from_test_seed(1);
    let expiration = 1_700_000_010;
    let inner = Inner {
        // Ledger at expiration - 1 s, advancing 1 s per poll; margin is 2 s.
        ledger_usecs: (expiration - 1) * 1_000_000,
        ledger_step_usecs: 1_000_000,
        ..Inner::default()
    };
    let node = FakeNode::start(inner).await;
    let signed = signed_txn(&key, 0, expiration);
    let out = client(&node)
        .wait_for_transaction(signed.hash().unwrap(), expiration, Duration::from_secs(5))
        .await;
    assert_eq!(
        out,
        TxnOutcome::Expired {
            ledger_timestamp_usecs: (expiration + 3) * 1_000_000
        }
    );
    assert_eq!(node.lock().lookup_requests, 4);
}

#[tokio::test]
async fn still_pending_at_max_wait_is_unknown() {
    let key = PrivateKey::from_test_seed(1);
    let mut inner = Inner::default();
    inner.lookup_replies.push_back(LookupReply::Pending);
    let node = FakeNode::start(inner).await;
    let signed = signed_txn(&key, 0, FAR_EXPIRY);
    let out = client(&node)
        .wait_for_transaction(
            signed.hash().unwrap(),
            FAR_EXPIRY,
            Duration::from_millis(60),
        )
        .await;
    match out {
        TxnOutcome::Unknown { reason } => assert!(reason.contains("pending"), "{reason}"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(node.lock().lookup_requests >= 3);
}

#[test]
fn u64_values_accept_strings_and_numbers_only() {
    assert_eq!(value_u64(&json!("18446744073709551615")), Some(u64::MAX));
    assert_eq!(value_u64(&json!(100)), Some(100));
    assert_eq!(value_u64(&json!("18446744073709551616")), None);
    assert_eq!(value_u64(&json!("-1")), None);
    assert_eq!(value_u64(&json!("")), None);
    assert_eq!(value_u64(&json!(1.5)), None);
    assert_eq!(value_u64(&json!(null)), None);
}

#[test]
fn base_url_must_be_http() {
    assert!(matches!(
        NodeClient::new("ftp://x/v1", Duration::from_secs(1)),
        Err(NodeClientError::Setup(_))
    ));
    let c = NodeClient::new("http://127.0.0.1:8080/v1/", Duration::from_secs(1)).unwrap();
    assert_eq!(c.base_url(), "http://127.0.0.1:8080/v1");
}

/// A node whose `by_hash` always says pending and whose `wait_by_hash` (when served) holds the
/// request until the transaction "commits" (a flag another task sets): the long poll learns the
/// commit as it happens, and a node without the route falls back to polling.
mod long_poll {
    use super::*;
    use axum::routing::get;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    #[derive(Default)]
    struct Counts {
        committed: AtomicBool,
        by_hash: AtomicU32,
        waits: AtomicU32,
    }

    fn committed_json() -> serde_json::Value {
        json!({"type": "user_transaction", "version": "5", "success": true,
               "vm_status": "Executed successfully", "gas_used": "7", "events": [],
               "sequence_number": "3", "hash": "0x00"})
    }

    async fn node(serve_wait: bool, by_hash_commits: bool) -> (String, Arc<Counts>) {
        let counts = Arc::new(Counts::default());
        let c1 = Arc::clone(&counts);
        let mut app = axum::Router::new().route(
            "/v1/transactions/by_hash/{h}",
            get(move || {
                let c = Arc::clone(&c1);
                async move {
                    c.by_hash.fetch_add(1, Ordering::SeqCst);
                    if by_hash_commits {
                        axum::Json(committed_json())
                    } else {
                        axum::Json(json!({"type": "pending_transaction", "hash": "0x00"}))
                    }
                }
            }),
        );
        if serve_wait {
            let c2 = Arc::clone(&counts);
            app = app.route(
                "/v1/transactions/wait_by_hash/{h}",
                get(move || {
                    let c = Arc::clone(&c2);
                    async move {
                        c.waits.fetch_add(1, Ordering::SeqCst);
                        while !c.committed.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        axum::Json(committed_json())
                    }
                }),
            );
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}/v1"), counts)
    }

    fn client(base: &str, long_poll: bool) -> NodeClient {
        NodeClient::new(base, Duration::from_secs(5))
            .unwrap()
            .with_poll_config(PollConfig {
                // Polls far apart: only a long poll can learn the commit within max_wait.
                initial_interval: Duration::from_secs(30),
                backoff_percent: 100,
                max_interval: Duration::from_secs(30),
                expiry_margin: Duration::from_secs(1),
                long_poll,
            })
    }

    fn hash() -> TransactionHash {
        TransactionHash([7u8; 32])
    }

    #[tokio::test]
    async fn the_long_poll_learns_the_commit_when_it_happens() {
        let (base, counts) = node(true, false).await;
        let c = Arc::clone(&counts);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            c.committed.store(true, Ordering::SeqCst);
        });
        let out = client(&base, true)
            .wait_for_transaction(hash(), FAR_EXPIRY, Duration::from_secs(3))
            .await;
        assert!(matches!(out, TxnOutcome::Committed { .. }), "{out:?}");
        assert_eq!(counts.waits.load(Ordering::SeqCst), 1, "one held request");
        assert_eq!(counts.by_hash.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn polling_alone_misses_it_until_its_next_poll() {
        let (base, counts) = node(true, false).await;
        counts.committed.store(true, Ordering::SeqCst);
        let out = client(&base, false)
            .wait_for_transaction(hash(), FAR_EXPIRY, Duration::from_millis(200))
            .await;
        assert!(matches!(out, TxnOutcome::Unknown { .. }), "{out:?}");
        assert_eq!(counts.waits.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_node_without_the_route_is_polled_instead() {
        let (base, counts) = node(false, true).await;
        let out = client(&base, true)
            .wait_for_transaction(hash(), FAR_EXPIRY, Duration::from_secs(3))
            .await;
        assert!(matches!(out, TxnOutcome::Committed { .. }), "{out:?}");
        assert_eq!(counts.by_hash.load(Ordering::SeqCst), 1);
    }
}
