//! The Aptos fullnode endpoints of the simulator, under `/v1`: ledger info, accounts (sequence
//! numbers), the simulated package's module ABIs, gas estimate, BCS submission (verified like a
//! node's prologue), simulation, and transactions by hash.
//!
//! Every response carries `X-APTOS-CHAIN-ID` and `X-APTOS-LEDGER-TIMESTAMPUSEC`; errors are the
//! node's `{message, error_code, vm_error_code}`. Submissions are stored as
//! [`TxnState::Pending`] and committed by the [driver](super::driver).
//!
//! Decisions: every account reads as existing (200 on `GET /accounts/{addr}`): one the node has
//! never seen is sequence 0 with its own address as authentication key, as on current networks
//! (feature `DEFAULT_ACCOUNT_RESOURCE`, aptos-transactions.md §6.2), so an SDK can build a
//! wallet's first transaction; simulation executes the call on a **clone** of the exchange
//! (nothing persists) and reports the gas the call would be charged ([`super::GasModel`]).
//! The prologue also refuses a sender (or the fee payer of a sponsored transaction) whose APT
//! balance cannot cover `max_gas_amount × gas_unit_price`
//! (`INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE`, 5).
//!
//! Authenticators: every kind the official SDKs send is verified with its own signing message
//! ([`perpbot_aptos::authenticator`]): legacy Ed25519, single-key Ed25519 and secp256k1,
//! MultiEd25519, multi-key, multi-agent and fee-payer. A bad signature is 400 `vm_error`
//! `INVALID_SIGNATURE` (1); keys that do not derive to the signer addresses are
//! `INVALID_AUTH_KEY` (2); a kind the simulator cannot verify (keyless, passkey, account
//! abstraction) is 400 `invalid_input` naming it. Transaction JSON carries `payload` and
//! `signature` ([`txn_json`]).
//!
//! Faults ([`super::FaultConfig`]): `node_429_probability` / `node_5xx_probability` answer a
//! submission or a transaction lookup (`by_hash`, `wait_by_hash`) with 429 + `Retry-After` or
//! 500 `internal_error` before looking at the request; the other routes (ledger info, accounts,
//! modules, gas price, simulate) are never faulted, so a client can always resynchronise.
//! `sequence_skew_probability` reports an account one behind; `tx_lose_probability` accepts a
//! transaction and forgets it.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::driver::{auto_fund, gas_units, usecs};
use super::{MempoolEntry, Shared, SimCore, TxnMeta, TxnState};
use perpbot_aptos::node::{BCS_SIGNED_TXN_CONTENT_TYPE, LEDGER_TIMESTAMP_HEADER};
use perpbot_aptos::{AccountAddress, AptosError, SignedTransaction, TransactionHash};
use perpbot_aptos::{transaction_hash, verify_signed_transaction};
pub use txn_json::{TxnExtra, ZERO_HASH};

mod delegate_view;
mod txn_json;

/// `vm_error_code` of `INVALID_SIGNATURE`.
pub const VM_INVALID_SIGNATURE: u64 = 1;
/// `vm_error_code` of `INVALID_AUTH_KEY`.
pub const VM_INVALID_AUTH_KEY: u64 = 2;
/// `vm_error_code` of `SEQUENCE_NUMBER_TOO_OLD`.
pub const VM_SEQUENCE_NUMBER_TOO_OLD: u64 = 3;
/// `vm_error_code` of `INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE`.
pub const VM_INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE: u64 = 5;
/// `vm_error_code` of `TRANSACTION_EXPIRED`.
pub const VM_TRANSACTION_EXPIRED: u64 = 6;
/// `vm_error_code` of `BAD_CHAIN_ID`.
pub const VM_BAD_CHAIN_ID: u64 = 23;

/// The node's routes under `/v1`.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1", get(index))
        .route("/v1/", get(index))
        .route("/v1/accounts/{addr}", get(account))
        .route("/v1/accounts/{addr}/module/{name}", get(module))
        .route("/v1/estimate_gas_price", get(gas))
        .route("/v1/transactions", post(submit))
        .route("/v1/transactions/simulate", post(simulate))
        .route("/v1/transactions/by_hash/{hash}", get(by_hash))
        .route("/v1/transactions/wait_by_hash/{hash}", get(wait_by_hash))
        .merge(delegate_view::routes())
}

/// A response with the node's headers.
fn reply(shared: &Shared, chain_id: u8, status: StatusCode, body: Value) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&usecs(shared.clock.now()).to_string()) {
        h.insert(LEDGER_TIMESTAMP_HEADER, v);
    }
    h.insert("x-aptos-chain-id", HeaderValue::from(u16::from(chain_id)));
    resp
}

/// The node's error body.
pub fn node_error(code: &str, message: &str, vm_error_code: Option<u64>) -> Value {
    json!({"message": message, "error_code": code, "vm_error_code": vm_error_code})
}

fn error(
    shared: &Shared,
    chain_id: u8,
    status: StatusCode,
    code: &str,
    message: &str,
    vm: Option<u64>,
) -> Response {
    reply(shared, chain_id, status, node_error(code, message, vm))
}

fn chain_id(shared: &Shared) -> u8 {
    shared.core().config.chain_id
}

/// The node faults of a submission or lookup: `Some(response)` to send instead.
fn node_fault(shared: &Shared) -> Option<Response> {
    let (chain, fault) = {
        let mut core = shared.core();
        let f = core.config.faults.clone();
        let fault = if core.draw(f.node_429_probability) {
            core.injected.node_429 += 1;
            Some(Some(f.retry_after_secs))
        } else if core.draw(f.node_5xx_probability) {
            core.injected.node_5xx += 1;
            Some(None)
        } else {
            None
        };
        (core.config.chain_id, fault)
    };
    match fault? {
        Some(secs) => {
            let mut resp = error(
                shared,
                chain,
                StatusCode::TOO_MANY_REQUESTS,
                "web_framework_error",
                "Too many requests (injected): retry after the Retry-After delay",
                None,
            );
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from(secs));
            Some(resp)
        }
        None => Some(error(
            shared,
            chain,
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal error (injected)",
            None,
        )),
    }
}

async fn index(State(shared): State<Arc<Shared>>) -> Response {
    let (chain, version) = {
        let core = shared.core();
        (core.config.chain_id, core.version)
    };
    let body = json!({
        "chain_id": chain,
        "epoch": "1",
        "ledger_version": version.to_string(),
        "oldest_ledger_version": "0",
        "ledger_timestamp": usecs(shared.clock.now()).to_string(),
        "node_role": "full_node",
        "oldest_block_height": "0",
        "block_height": version.to_string(),
        "git_hash": "perpbot-sim",
    });
    reply(&shared, chain, StatusCode::OK, body)
}

/// The sequence number reported for `addr`, with the skew fault applied. An account the node
/// has never seen is at 0 (it can send its first transaction with sequence number 0).
fn reported_sequence(core: &mut SimCore, addr: AccountAddress) -> u64 {
    let n = core.sequence.get(&addr).copied().unwrap_or(0);
    let p = core.config.faults.sequence_skew_probability;
    if n > 0 && core.draw(p) {
        core.injected.sequence_skews += 1;
        return n - 1;
    }
    n
}

async fn account(State(shared): State<Arc<Shared>>, Path(addr): Path<String>) -> Response {
    let (chain, seq) = {
        let mut core = shared.core();
        let chain = core.config.chain_id;
        match AccountAddress::from_hex(&addr) {
            Ok(a) => (chain, Ok((a, reported_sequence(&mut core, a)))),
            Err(e) => (chain, Err(e.to_string())),
        }
    };
    match seq {
        Err(e) => error(
            &shared,
            chain,
            StatusCode::BAD_REQUEST,
            "invalid_input",
            &format!("invalid address {addr:?}: {e}"),
            None,
        ),
        Ok((a, n)) => {
            // No key rotation in the simulator: the authentication key is the address.
            let body =
                json!({"sequence_number": n.to_string(), "authentication_key": a.to_string()});
            reply(&shared, chain, StatusCode::OK, body)
        }
    }
}

async fn module(
    State(shared): State<Arc<Shared>>,
    Path((addr, name)): Path<(String, String)>,
) -> Response {
    let (chain, package, faucet) = {
        let core = shared.core();
        (
            core.config.chain_id,
            core.package,
            AccountAddress::from_hex(&core.config.faucet_package).ok(),
        )
    };
    let body = AccountAddress::from_hex(&addr).ok().and_then(|a| {
        if a == package {
            crate::abi::module_json(a, &name)
        } else if Some(a) == faucet && name == crate::abi::FAUCET_MODULE {
            crate::abi::faucet_module_json(a)
        } else {
            None
        }
    });
    match body {
        Some(b) => reply(&shared, chain, StatusCode::OK, b),
        None => error(
            &shared,
            chain,
            StatusCode::NOT_FOUND,
            "module_not_found",
            &format!("Module not found by Address({addr}), Module name({name})"),
            None,
        ),
    }
}

async fn gas(State(shared): State<Arc<Shared>>) -> Response {
    let body = json!({
        "deprioritized_gas_estimate": 100,
        "gas_estimate": 100,
        "prioritized_gas_estimate": 150,
    });
    reply(&shared, chain_id(&shared), StatusCode::OK, body)
}

fn is_bcs(headers: &HeaderMap) -> bool {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().starts_with(BCS_SIGNED_TXN_CONTENT_TYPE))
}

/// Why a submission was refused: status, error code, message, vm_error_code.
type Refusal = (StatusCode, &'static str, String, Option<u64>);

fn vm_error(code: u64, name: &str) -> Refusal {
    (
        StatusCode::BAD_REQUEST,
        "vm_error",
        format!("Invalid transaction: Type: Validation Code: {name}"),
        Some(code),
    )
}

/// Validate and queue one verified transaction.
fn accept(
    core: &mut SimCore,
    v: &perpbot_aptos::VerifiedTransaction,
    now: perpbot_model::Timestamp,
) -> Result<Value, Refusal> {
    let raw = &v.signed.raw_txn;
    if !v.sender_matches_key {
        return Err(vm_error(VM_INVALID_AUTH_KEY, "INVALID_AUTH_KEY"));
    }
    if raw.chain_id != core.config.chain_id {
        return Err(vm_error(VM_BAD_CHAIN_ID, "BAD_CHAIN_ID"));
    }
    if raw.expiration_timestamp_secs <= now.as_secs() {
        return Err(vm_error(VM_TRANSACTION_EXPIRED, "TRANSACTION_EXPIRED"));
    }
    let sender = raw.sender;
    let seq = raw.sequence_number;
    let on_chain = core.sequence.get(&sender).copied().unwrap_or(0);
    if seq < on_chain {
        return Err((
            StatusCode::BAD_REQUEST,
            "sequence_number_too_old",
            format!(
                "Transaction with sequence number {seq} is too old; account {sender} is at {on_chain}"
            ),
            Some(VM_SEQUENCE_NUMBER_TOO_OLD),
        ));
    }
    let duplicate = core.mempool.iter().any(|e| {
        e.meta.sender == sender && e.meta.sequence_number == seq && e.hash != v.hash.to_string()
    });
    if duplicate {
        return Err((
            StatusCode::BAD_REQUEST,
            "invalid_transaction_update",
            format!("A transaction with sequence number {seq} from {sender} is already pending"),
            None,
        ));
    }
    let hash = v.hash.to_string();
    let extra = TxnExtra::of(core.package, &v.signed);
    let pending = json!({
        "type": "pending_transaction",
        "hash": hash,
        "sender": sender.to_string(),
        "sequence_number": seq.to_string(),
        "max_gas_amount": raw.max_gas_amount.to_string(),
        "gas_unit_price": raw.gas_unit_price.to_string(),
        "expiration_timestamp_secs": raw.expiration_timestamp_secs.to_string(),
        "payload": extra.payload,
        "signature": extra.signature,
    });
    if core.txns.contains_key(&hash) {
        // The same bytes again: already known, answer as a node does for a resubmission.
        return Ok(pending);
    }
    let max_fee = raw.max_gas_amount.saturating_mul(raw.gas_unit_price);
    let gas_payer = extra.fee_payer.unwrap_or(sender);
    if core.apt_octas(gas_payer) < max_fee {
        return Err(vm_error(
            VM_INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE,
            "INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE",
        ));
    }
    auto_fund(core, sender, now);
    core.sequence.entry(sender).or_insert(0);
    let meta = TxnMeta {
        sender,
        sequence_number: seq,
        max_gas_amount: raw.max_gas_amount,
        gas_unit_price: raw.gas_unit_price,
        expiration_secs: raw.expiration_timestamp_secs,
    };
    core.txn_meta.insert(hash.clone(), meta);
    core.txn_extra.insert(hash.clone(), extra);
    let lose = core.config.faults.tx_lose_probability;
    if core.draw(lose) {
        // Accepted, never committed: the mempool forgets it.
        core.injected.tx_lost += 1;
        core.txns.insert(hash, TxnState::Dropped);
        return Ok(pending);
    }
    let due_usecs = usecs(now).saturating_add(core.config.block_latency_ms.saturating_mul(1_000));
    core.txns
        .insert(hash.clone(), TxnState::Pending { due_usecs });
    core.mempool.push(MempoolEntry {
        hash,
        meta,
        call: raw.payload.entry_function().clone(),
    });
    Ok(pending)
}

async fn submit(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(fault) = node_fault(&shared) {
        return fault;
    }
    let chain = chain_id(&shared);
    if !is_bcs(&headers) {
        return error(
            &shared,
            chain,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "web_framework_error",
            &format!("expected content type {BCS_SIGNED_TXN_CONTENT_TYPE}"),
            None,
        );
    }
    let verified = match verify_signed_transaction(&body) {
        Ok(v) => v,
        Err(AptosError::SignatureInvalid(reason)) => {
            return error(
                &shared,
                chain,
                StatusCode::BAD_REQUEST,
                "vm_error",
                &format!(
                    "Invalid transaction: Type: Validation Code: INVALID_SIGNATURE ({reason})"
                ),
                Some(VM_INVALID_SIGNATURE),
            );
        }
        Err(e @ AptosError::UnsupportedAuthenticator(_)) => {
            // A real node would verify these; the simulator cannot, and says which.
            return error(
                &shared,
                chain,
                StatusCode::BAD_REQUEST,
                "invalid_input",
                &format!("The simulator cannot verify this transaction: {e}"),
                None,
            );
        }
        Err(e) => {
            return error(
                &shared,
                chain,
                StatusCode::BAD_REQUEST,
                "invalid_input",
                &format!("Failed to deserialize input into SignedTransaction: {e}"),
                None,
            );
        }
    };
    let now = shared.clock.now();
    let outcome = {
        let mut core = shared.core();
        accept(&mut core, &verified, now)
    };
    match outcome {
        Ok(pending) => reply(&shared, chain, StatusCode::ACCEPTED, pending),
        Err((status, code, message, vm)) => error(&shared, chain, status, code, &message, vm),
    }
}

async fn simulate(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let chain = chain_id(&shared);
    if !is_bcs(&headers) {
        return error(
            &shared,
            chain,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "web_framework_error",
            &format!("expected content type {BCS_SIGNED_TXN_CONTENT_TYPE}"),
            None,
        );
    }
    if verify_signed_transaction(&body).is_ok() {
        return error(
            &shared,
            chain,
            StatusCode::BAD_REQUEST,
            "invalid_input",
            "Simulated transactions must not have a valid signature",
            None,
        );
    }
    let signed = match SignedTransaction::from_bytes(&body) {
        Ok(s) => s,
        Err(e) => {
            return error(
                &shared,
                chain,
                StatusCode::BAD_REQUEST,
                "invalid_input",
                &format!("Failed to deserialize input into SignedTransaction: {e}"),
                None,
            );
        }
    };
    let hash = transaction_hash(&body).to_string();
    let now = shared.clock.now();
    let raw = &signed.raw_txn;
    let (success, vm_status, events, gas_used) = {
        let core = shared.core();
        let package = core.package;
        let gas_used = gas_units(&core, raw.payload.entry_function());
        let mut scratch = core.exchange.clone();
        drop(core);
        match scratch.execute(raw.sender, raw.payload.entry_function(), now) {
            Ok(fx) => (
                true,
                "Executed successfully".to_string(),
                fx.events_json(package),
                gas_used,
            ),
            Err(e) => (false, e.vm_status(package), Vec::new(), gas_used),
        }
    };
    let body = json!([{
        "type": "user_transaction",
        "version": "0",
        "hash": hash,
        "sender": raw.sender.to_string(),
        "sequence_number": raw.sequence_number.to_string(),
        "success": success,
        "vm_status": vm_status,
        "gas_used": gas_used.to_string(),
        "max_gas_amount": raw.max_gas_amount.to_string(),
        "gas_unit_price": raw.gas_unit_price.to_string(),
        "events": events,
        "changes": [],
    }]);
    reply(&shared, chain, StatusCode::OK, body)
}

/// How long `wait_by_hash` holds a request for a pending transaction (an Aptos fullnode's
/// default `wait_by_hash_timeout_ms` is 1,000).
const WAIT_BY_HASH: Duration = Duration::from_millis(1_000);

/// `GET /v1/transactions/wait_by_hash/{hash}`: as `by_hash`, but a pending transaction is
/// answered only once it commits or is dropped, or after [`WAIT_BY_HASH`] (then as pending), as
/// a fullnode long-polls. A client confirms as soon as the block is in, not at its next poll. The
/// simulator looks every 5 ms while it holds the request.
async fn wait_by_hash(State(shared): State<Arc<Shared>>, Path(hash): Path<String>) -> Response {
    if let Ok(h) = hash.parse::<TransactionHash>() {
        let key = h.to_string();
        let until = tokio::time::Instant::now() + WAIT_BY_HASH;
        while matches!(shared.core().txns.get(&key), Some(TxnState::Pending { .. }))
            && tokio::time::Instant::now() < until
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    by_hash(State(shared), Path(hash)).await
}

async fn by_hash(State(shared): State<Arc<Shared>>, Path(hash): Path<String>) -> Response {
    if let Some(fault) = node_fault(&shared) {
        return fault;
    }
    let chain = chain_id(&shared);
    let Ok(h) = hash.parse::<TransactionHash>() else {
        return error(
            &shared,
            chain,
            StatusCode::BAD_REQUEST,
            "invalid_input",
            &format!("invalid transaction hash {hash:?}"),
            None,
        );
    };
    let key = h.to_string();
    let found = {
        let core = shared.core();
        let state = core.txns.get(&key).cloned();
        let entry = core.txn_meta.get(&key).copied();
        let extra = core.txn_extra.get(&key).cloned();
        state.map(|s| (s, entry, extra))
    };
    let not_found = || {
        error(
            &shared,
            chain,
            StatusCode::NOT_FOUND,
            "transaction_not_found",
            &format!("Transaction not found by Transaction hash({key})"),
            None,
        )
    };
    match found {
        None | Some((TxnState::Dropped, _, _)) => not_found(),
        Some((TxnState::Pending { .. }, entry, extra)) => {
            let mut body = json!({"type": "pending_transaction", "hash": key});
            if let Some(obj) = body.as_object_mut() {
                obj.extend(meta_json(entry.as_ref(), extra.as_ref()));
            }
            reply(&shared, chain, StatusCode::OK, body)
        }
        Some((
            TxnState::Committed {
                version,
                success,
                vm_status,
                gas_used,
                timestamp_usecs,
                events,
            },
            entry,
            extra,
        )) => {
            let mut body = json!({
                "type": "user_transaction",
                "version": version.to_string(),
                "hash": key,
                "success": success,
                "vm_status": vm_status,
                "gas_used": gas_used.to_string(),
                "timestamp": timestamp_usecs.to_string(),
                "events": events,
                "changes": [],
                // No Merkle trees in the simulator: zero hashes (see `ZERO_HASH`).
                "state_change_hash": ZERO_HASH,
                "event_root_hash": ZERO_HASH,
                "accumulator_root_hash": ZERO_HASH,
                "state_checkpoint_hash": null,
            });
            if let Some(obj) = body.as_object_mut() {
                obj.extend(meta_json(entry.as_ref(), extra.as_ref()));
            }
            reply(&shared, chain, StatusCode::OK, body)
        }
    }
}

/// The sender, sequence number, gas, expiration, payload and signature fields of a
/// transaction's JSON (those the node has).
fn meta_json(meta: Option<&TxnMeta>, extra: Option<&TxnExtra>) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    if let Some(x) = extra {
        m.insert("payload".into(), x.payload.clone());
        m.insert("signature".into(), x.signature.clone());
    }
    let Some(meta) = meta else {
        return m;
    };
    m.insert("sender".into(), Value::String(meta.sender.to_string()));
    m.insert(
        "sequence_number".into(),
        Value::String(meta.sequence_number.to_string()),
    );
    m.insert(
        "max_gas_amount".into(),
        Value::String(meta.max_gas_amount.to_string()),
    );
    m.insert(
        "gas_unit_price".into(),
        Value::String(meta.gas_unit_price.to_string()),
    );
    m.insert(
        "expiration_timestamp_secs".into(),
        Value::String(meta.expiration_secs.to_string()),
    );
    m
}

#[cfg(test)]
mod tests;
