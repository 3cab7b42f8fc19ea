//! The Aptos faucet API, as a localnet's faucet serves it, so the official SDKs' `fundAccount`
//! and `perpbot`'s own path from an empty wallet work against the simulator: `POST /faucet/fund`
//! with `{"address": "0x…", "amount": octas}` answers `{"txn_hashes": ["0x…"]}`, and the legacy
//! `POST /faucet/mint?address=0x…&amount=octas` answers `["0x…"]`. The APT is credited at once
//! and the hash names a committed transaction the node serves, so a client that waits for it
//! finds it. (Test USDT, the collateral, comes from the on-chain `usdt::faucet` module instead,
//! as on Kana's testnet.)

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;

use super::driver::usecs;
use super::{Shared, TxnMeta, TxnState};
use perpbot_aptos::AccountAddress;

/// The account a localnet's faucet sends from (Aptos's core resources account).
const FAUCET_ACCOUNT: &str = "0xa550c18";

/// Most APT one request may mint, in octas (a localnet faucet has a cap too; 1,000 APT).
const MAX_OCTAS: u64 = 100_000_000_000;

/// The faucet's routes (under `/faucet`).
pub fn routes() -> axum::Router<Arc<Shared>> {
    axum::Router::new()
        .route("/faucet/fund", post(fund))
        .route("/faucet/mint", post(mint))
}

/// A funding request: `address` and `amount` (octas), as JSON or as query parameters.
#[derive(Debug, Deserialize)]
struct FundRequest {
    address: Option<String>,
    amount: Option<serde_json::Value>,
}

fn refused(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"message": message, "error_code": "InvalidRequest", "rejection_reasons": []})),
    )
        .into_response()
}

async fn fund(State(shared): State<Arc<Shared>>, body: Option<Json<FundRequest>>) -> Response {
    let Some(Json(req)) = body else {
        return refused("the body must be JSON: {\"address\": \"0x…\", \"amount\": octas}".into());
    };
    match credit(&shared, &req) {
        Ok(hash) => Json(json!({"txn_hashes": [hash]})).into_response(),
        Err(message) => refused(message),
    }
}

async fn mint(State(shared): State<Arc<Shared>>, Query(req): Query<FundRequest>) -> Response {
    match credit(&shared, &req) {
        Ok(hash) => Json(json!([hash])).into_response(),
        Err(message) => refused(message),
    }
}

/// Credit the APT and record a committed transaction for it; its hash.
fn credit(shared: &Shared, req: &FundRequest) -> Result<String, String> {
    let address = req
        .address
        .as_deref()
        .ok_or("address: missing")
        .and_then(|a| AccountAddress::from_hex(a).map_err(|_| "address: not an account address"))
        .map_err(str::to_string)?;
    let amount = match &req.amount {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
    .filter(|a| (1..=MAX_OCTAS).contains(a))
    .ok_or_else(|| format!("amount: a whole number of octas from 1 to {MAX_OCTAS}"))?;
    let now = shared.clock.now();
    let mut core = shared.core();
    let held = core.apt_octas(address);
    core.apt.insert(address, held.saturating_add(amount));
    core.version = core.version.saturating_add(1);
    let version = core.version;
    // A hash of its own per funding: the faucet's marker in the first bytes, the version after.
    let hash = format!("0xfa0cee{version:058x}");
    let event = json!({
        "type": "0x1::coin::CoinDeposit",
        "data": {"account": address.to_hex_long(), "amount": amount.to_string()},
    });
    // The sender a localnet's faucet uses (the core resources account), with its own sequence.
    let sender = AccountAddress::from_hex(FAUCET_ACCOUNT).map_err(|e| e.to_string())?;
    let sequence_number = core.sequence.get(&sender).copied().unwrap_or(0);
    core.sequence
        .insert(sender, sequence_number.saturating_add(1));
    core.txn_meta.insert(
        hash.clone(),
        TxnMeta {
            sender,
            sequence_number,
            max_gas_amount: 0,
            gas_unit_price: 0,
            expiration_secs: now.as_secs().saturating_add(60),
        },
    );
    core.txns.insert(
        hash.clone(),
        TxnState::Committed {
            version,
            success: true,
            vm_status: "Executed successfully".into(),
            gas_used: 0,
            timestamp_usecs: usecs(now),
            events: vec![event],
        },
    );
    Ok(hash)
}
