//! The node's handlers called directly (no socket): what the official SDKs send — single-key
//! Ed25519 and secp256k1 accounts, sponsored (fee-payer) transactions — is accepted, verified
//! with the right signing message and executed; tampered signatures and keys that are not the
//! sender's are refused as a node refuses them; unseen accounts read as sequence 0.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use serde_json::{Value, json};

use super::*;
use crate::abi::PERPETUAL_SCRIPTS;
use crate::server::{Shared, SimConfig, build, driver};
use perpbot_aptos::{
    AccountSigner, PrivateKey, RawTransaction, Secp256k1PrivateKey, SignedTransaction,
    SingleKeyEd25519, TransactionAuthenticator, encode_entry_function, sign_fee_payer_transaction,
    sign_single_sender,
};
use perpbot_model::clock::Clock;

fn shared() -> Arc<Shared> {
    let config = SimConfig {
        block_latency_ms: 0,
        ..SimConfig::default()
    };
    build(config, Clock::system()).unwrap()
}

async fn body_json(resp: Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

fn bcs_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        "content-type",
        HeaderValue::from_static(BCS_SIGNED_TXN_CONTENT_TYPE),
    );
    h
}

async fn post(shared: &Arc<Shared>, signed: &SignedTransaction) -> (u16, Value) {
    let bytes = Bytes::from(signed.to_bytes().unwrap());
    body_json(submit(State(Arc::clone(shared)), bcs_headers(), bytes).await).await
}

async fn lookup(shared: &Arc<Shared>, hash: &str) -> (u16, Value) {
    body_json(by_hash(State(Arc::clone(shared)), Path(hash.to_string())).await).await
}

async fn account_of(shared: &Arc<Shared>, addr: AccountAddress) -> (u16, Value) {
    body_json(account(State(Arc::clone(shared)), Path(addr.to_string())).await).await
}

/// Commit everything due (block latency 0).
fn commit(shared: &Arc<Shared>) {
    let now = shared.clock.now();
    let mut core = shared.core();
    driver::commit_due(&mut core, now);
}

/// `deposit(sender, 1)` of the simulated package: succeeds for any wallet the node funded.
fn raw(shared: &Arc<Shared>, sender: AccountAddress, seq: u64) -> RawTransaction {
    let package = shared.core().package;
    let abi = crate::abi::module_abi(package, PERPETUAL_SCRIPTS).unwrap();
    let call = encode_entry_function(
        &abi,
        "deposit",
        &[],
        &[json!(sender.to_string()), json!("1")],
    )
    .unwrap();
    RawTransaction {
        sender,
        sequence_number: seq,
        payload: call.into(),
        max_gas_amount: 10_000,
        gas_unit_price: 100,
        expiration_timestamp_secs: Clock::system().now().as_secs() + 60,
        chain_id: shared.core().config.chain_id,
    }
}

/// Submit, commit, and return the committed JSON (asserting it executed successfully).
async fn submit_and_commit(shared: &Arc<Shared>, signed: &SignedTransaction) -> Value {
    let (status, pending) = post(shared, signed).await;
    assert_eq!(status, 202, "{pending}");
    let hash = signed.hash().unwrap().to_string();
    assert_eq!(pending["hash"], hash);
    assert_eq!(pending["type"], "pending_transaction");
    commit(shared);
    let (status, done) = lookup(shared, &hash).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["type"], "user_transaction", "{done}");
    assert_eq!(done["success"], true, "{done}");
    assert_eq!(done["vm_status"], "Executed successfully");
    done
}

/// Flip one bit of the last signature in the authenticator (the transaction is unchanged).
fn tamper(signed: &SignedTransaction) -> Vec<u8> {
    let mut bytes = signed.to_bytes().unwrap();
    if let Some(last) = bytes.last_mut() {
        *last ^= 0x01;
    }
    bytes
}

async fn post_bytes(shared: &Arc<Shared>, bytes: Vec<u8>) -> (u16, Value) {
    body_json(submit(State(Arc::clone(shared)), bcs_headers(), Bytes::from(bytes)).await).await
}

fn assert_invalid_signature(status: u16, body: &Value) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_code"], "vm_error", "{body}");
    assert_eq!(body["vm_error_code"], VM_INVALID_SIGNATURE, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("Invalid transaction: Type: Validation Code: INVALID_SIGNATURE"),
        "{body}"
    );
}

#[tokio::test]
async fn single_key_ed25519_transaction_is_accepted_and_executed() {
    let shared = shared();
    let key = PrivateKey::from_seed_bytes([1; 32]);
    let signer = SingleKeyEd25519(&key);
    let sender = signer.account_address().unwrap();
    assert_ne!(sender, key.address());
    let signed = sign_single_sender(raw(&shared, sender, 0), &signer).unwrap();
    let done = submit_and_commit(&shared, &signed).await;

    assert_eq!(done["sender"], sender.to_string());
    assert_eq!(done["sequence_number"], "0");
    assert_eq!(done["signature"]["type"], "single_sender");
    assert_eq!(done["signature"]["public_key"]["type"], "ed25519");
    assert_eq!(
        done["signature"]["public_key"]["value"],
        key.public_key().to_string()
    );
    let (_, acct) = account_of(&shared, sender).await;
    assert_eq!(acct["sequence_number"], "1");
}

#[tokio::test]
async fn single_key_secp256k1_transaction_is_accepted_and_executed() {
    let shared = shared();
    let key = Secp256k1PrivateKey::from_bytes(&[7; 32]).unwrap();
    let sender = key.account_address().unwrap();
    let signed = sign_single_sender(raw(&shared, sender, 0), &key).unwrap();
    let done = submit_and_commit(&shared, &signed).await;
    assert_eq!(done["signature"]["type"], "single_sender");
    assert_eq!(done["signature"]["signature"]["type"], "secp256k1_ecdsa");
    let (_, acct) = account_of(&shared, sender).await;
    assert_eq!(acct["sequence_number"], "1");

    // A second transaction continues from the new sequence number.
    let next = sign_single_sender(raw(&shared, sender, 1), &key).unwrap();
    submit_and_commit(&shared, &next).await;
}

#[tokio::test]
async fn fee_payer_transaction_charges_the_fee_payer_and_advances_the_sender() {
    let shared = shared();
    let sender = PrivateKey::from_seed_bytes([2; 32]);
    let payer = PrivateKey::from_seed_bytes([3; 32]);
    let (s, p) = (sender.address(), payer.address());
    let signed = sign_fee_payer_transaction(raw(&shared, s, 0), &sender, &[], &payer).unwrap();
    let (sender_before, payer_before) = {
        let core = shared.core();
        (core.apt_octas(s), core.apt_octas(p))
    };
    let done = submit_and_commit(&shared, &signed).await;

    let gas_used: u64 = done["gas_used"].as_str().unwrap().parse().unwrap();
    assert!(gas_used > 0);
    let (sender_after, payer_after) = {
        let core = shared.core();
        (core.apt_octas(s), core.apt_octas(p))
    };
    assert_eq!(sender_after, sender_before, "the sender paid gas");
    assert_eq!(payer_before - payer_after, gas_used * 100);
    let (_, acct) = account_of(&shared, s).await;
    assert_eq!(acct["sequence_number"], "1");
    let (_, payer_acct) = account_of(&shared, p).await;
    assert_eq!(payer_acct["sequence_number"], "0");

    assert_eq!(done["signature"]["type"], "fee_payer_signature");
    assert_eq!(done["signature"]["fee_payer_address"], p.to_string());
    assert_eq!(done["signature"]["sender"]["type"], "ed25519_signature");
    assert_eq!(
        done["signature"]["fee_payer_signer"]["public_key"],
        payer.public_key().to_string()
    );
}

#[tokio::test]
async fn fee_payer_balance_is_what_the_prologue_checks() {
    let shared = shared();
    let sender = PrivateKey::from_seed_bytes([4; 32]);
    let payer = PrivateKey::from_seed_bytes([5; 32]);
    // The sender is broke; the fee payer is not: accepted.
    shared.core().apt.insert(sender.address(), 0);
    let signed =
        sign_fee_payer_transaction(raw(&shared, sender.address(), 0), &sender, &[], &payer)
            .unwrap();
    let (status, body) = post(&shared, &signed).await;
    assert_eq!(status, 202, "{body}");
    // A broke fee payer is refused.
    let other = PrivateKey::from_seed_bytes([6; 32]);
    let broke = PrivateKey::from_seed_bytes([8; 32]);
    shared.core().apt.insert(broke.address(), 0);
    let signed =
        sign_fee_payer_transaction(raw(&shared, other.address(), 0), &other, &[], &broke).unwrap();
    let (status, body) = post(&shared, &signed).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["vm_error_code"],
        VM_INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE
    );
}

#[tokio::test]
async fn tampered_signatures_are_invalid_signature() {
    let shared = shared();
    let ed = PrivateKey::from_seed_bytes([9; 32]);
    let single_ed = SingleKeyEd25519(&ed);
    let secp = Secp256k1PrivateKey::from_bytes(&[10; 32]).unwrap();
    let payer = PrivateKey::from_seed_bytes([11; 32]);

    let a = sign_single_sender(
        raw(&shared, single_ed.account_address().unwrap(), 0),
        &single_ed,
    )
    .unwrap();
    let b = sign_single_sender(raw(&shared, secp.account_address().unwrap(), 0), &secp).unwrap();
    let c = sign_fee_payer_transaction(raw(&shared, ed.address(), 0), &ed, &[], &payer).unwrap();
    for signed in [&a, &b, &c] {
        let (status, body) = post_bytes(&shared, tamper(signed)).await;
        assert_invalid_signature(status, &body);
        // Nothing was queued, and the genuine transaction is still accepted.
        let (status, body) = post(&shared, signed).await;
        assert_eq!(status, 202, "{body}");
    }

    // The sender of a fee-payer transaction signing the plain RawTransaction message (not
    // RawTransactionWithData) is refused too.
    let mut wrong_message = c.clone();
    wrong_message.raw_txn.sequence_number = 1;
    let plain = perpbot_aptos::signing_message(&wrong_message.raw_txn).unwrap();
    let zero_payer_msg =
        perpbot_aptos::fee_payer_signing_message(&wrong_message.raw_txn, &[], AccountAddress::ZERO)
            .unwrap();
    if let TransactionAuthenticator::FeePayer {
        sender,
        fee_payer_signer,
        fee_payer_address,
        ..
    } = &mut wrong_message.authenticator
    {
        *sender = ed.authenticate(&plain).unwrap();
        let real = perpbot_aptos::fee_payer_signing_message(
            &wrong_message.raw_txn,
            &[],
            *fee_payer_address,
        )
        .unwrap();
        *fee_payer_signer = payer.authenticate(&real).unwrap();
    }
    let (status, body) = post(&shared, &wrong_message).await;
    assert_invalid_signature(status, &body);
    // …and with the RawTransactionWithData message it passes.
    if let TransactionAuthenticator::FeePayer { sender, .. } = &mut wrong_message.authenticator {
        *sender = ed.authenticate(&zero_payer_msg).unwrap();
    }
    let (status, body) = post(&shared, &wrong_message).await;
    assert_eq!(status, 202, "{body}");
}

#[tokio::test]
async fn a_key_that_is_not_the_senders_is_invalid_auth_key() {
    let shared = shared();
    let key = Secp256k1PrivateKey::from_bytes(&[12; 32]).unwrap();
    let someone_else = PrivateKey::from_seed_bytes([13; 32]).address();
    // A valid signature by a key whose single-key address is not the sender.
    let signed = sign_single_sender(raw(&shared, someone_else, 0), &key).unwrap();
    let (status, body) = post(&shared, &signed).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_code"], "vm_error");
    assert_eq!(body["vm_error_code"], VM_INVALID_AUTH_KEY);

    // The same Ed25519 key used through the single-key scheme for its *legacy* address.
    let ed = PrivateKey::from_seed_bytes([14; 32]);
    let signed = sign_single_sender(raw(&shared, ed.address(), 0), &SingleKeyEd25519(&ed)).unwrap();
    let (status, body) = post(&shared, &signed).await;
    assert_eq!(
        (status, &body["vm_error_code"]),
        (400, &json!(VM_INVALID_AUTH_KEY))
    );

    // A fee payer whose key is not the fee-payer address.
    let sender = PrivateKey::from_seed_bytes([15; 32]);
    let payer = PrivateKey::from_seed_bytes([16; 32]);
    let mut signed =
        sign_fee_payer_transaction(raw(&shared, sender.address(), 0), &sender, &[], &payer)
            .unwrap();
    let claimed = PrivateKey::from_seed_bytes([17; 32]).address();
    let msg = perpbot_aptos::fee_payer_signing_message(&signed.raw_txn, &[], claimed).unwrap();
    if let TransactionAuthenticator::FeePayer {
        fee_payer_address,
        fee_payer_signer,
        ..
    } = &mut signed.authenticator
    {
        *fee_payer_address = claimed;
        *fee_payer_signer = payer.authenticate(&msg).unwrap();
    }
    let (status, body) = post(&shared, &signed).await;
    assert_eq!(
        (status, &body["vm_error_code"]),
        (400, &json!(VM_INVALID_AUTH_KEY))
    );
}

#[tokio::test]
async fn an_account_never_seen_reads_as_sequence_zero() {
    let shared = shared();
    let unseen = PrivateKey::from_seed_bytes([18; 32]).address();
    let (status, body) = account_of(&shared, unseen).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sequence_number"], "0");
    assert_eq!(body["authentication_key"], unseen.to_string());
    // Reading it neither funds nor registers it.
    assert!(!shared.core().funded.contains(&unseen));
    // A malformed address is still a 400.
    let resp = account(State(Arc::clone(&shared)), Path("0xnope".to_string())).await;
    let (status, body) = body_json(resp).await;
    assert_eq!(
        (status, &body["error_code"]),
        (400, &json!("invalid_input"))
    );
}

#[tokio::test]
async fn transaction_json_carries_payload_signature_and_hashes() {
    let shared = shared();
    let key = PrivateKey::from_seed_bytes([19; 32]);
    let r = raw(&shared, key.address(), 0);
    let signed = perpbot_aptos::sign_transaction(r.clone(), &key).unwrap();
    let hash = signed.hash().unwrap().to_string();
    let (status, pending) = post(&shared, &signed).await;
    assert_eq!(status, 202);
    let package = shared.core().package;
    let want_payload = json!({
        "type": "entry_function_payload",
        "function": format!("{}::{PERPETUAL_SCRIPTS}::deposit", package.to_hex_short()),
        "type_arguments": [],
        "arguments": [key.address().to_string(), "1"],
    });
    assert_eq!(pending["payload"], want_payload, "{pending}");
    assert_eq!(pending["signature"]["type"], "ed25519_signature");
    assert_eq!(pending["signature"]["signature"], {
        let TransactionAuthenticator::Ed25519 { signature, .. } = &signed.authenticator else {
            unreachable!()
        };
        json!(signature.to_string())
    });
    let (_, by_hash_pending) = lookup(&shared, &hash).await;
    assert_eq!(by_hash_pending["type"], "pending_transaction");
    assert_eq!(by_hash_pending["payload"], want_payload);

    commit(&shared);
    let (_, done) = lookup(&shared, &hash).await;
    for field in [
        "hash",
        "sender",
        "sequence_number",
        "max_gas_amount",
        "gas_unit_price",
        "expiration_timestamp_secs",
        "payload",
        "signature",
        "version",
        "success",
        "vm_status",
        "gas_used",
        "timestamp",
        "state_change_hash",
        "event_root_hash",
        "accumulator_root_hash",
    ] {
        assert!(done.get(field).is_some(), "{field} missing: {done}");
    }
    assert_eq!(done["hash"], hash);
    assert_eq!(done["payload"], want_payload);
    assert_eq!(done["max_gas_amount"], "10000");
    assert_eq!(
        done["expiration_timestamp_secs"],
        r.expiration_timestamp_secs.to_string()
    );
    assert_eq!(done["state_change_hash"], ZERO_HASH);
}

#[tokio::test]
async fn unverifiable_authenticators_are_refused_by_name() {
    let shared = shared();
    let sender = PrivateKey::from_seed_bytes([20; 32]).address();
    let mut bytes = raw(&shared, sender, 0).to_bcs().unwrap();
    // SingleSender(SingleKey(AnyPublicKey::Keyless …))
    bytes.extend_from_slice(&[4, 2, 3, 0]);
    let (status, body) = post_bytes(&shared, bytes).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_code"], "invalid_input");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("Keyless"), "{body}");
    assert!(!message.contains("BCS"), "{body}");
}
