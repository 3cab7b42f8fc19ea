//! \[S\]'s account reads without an address in the path: Kyan's TypeScript client calls
//! `GET /account-state?account=0x…` and `GET /positions` (the API key as the identity), where
//! \[D\] shows `/account_state/{address}` and `/positions/{address}`. With an `account` the
//! answer is that account's; without one, every account the simulator knows (one API key is
//! everyone here) **\[ASSUMED\]**.

use std::collections::HashMap;
use std::sync::Arc;

use alloy_primitives::Address;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::Shared;
use super::auth::check_key;
use super::parse::{Refusal, bad};

/// The accounts a query names: `account` (or `address`), else every maker seen.
fn accounts(
    core: &mut super::core::Core,
    q: &HashMap<String, String>,
) -> Result<Vec<Address>, Refusal> {
    match q.get("account").or_else(|| q.get("address")) {
        Some(a) => {
            let maker: Address = a
                .parse()
                .map_err(|_| bad(format!("account: {a:?} is not an address")))?;
            core.maker(maker);
            Ok(vec![maker])
        }
        None => Ok(core.makers.keys().copied().collect()),
    }
}

/// The `margin_accounts` entries of every account a query names.
fn margin_accounts(
    shared: &Shared,
    q: &HashMap<String, String>,
    one: impl Fn(&super::core::Core, Address) -> Vec<Value>,
) -> Result<Value, Refusal> {
    let mut core = shared.lock()?;
    let makers = accounts(&mut core, q)?;
    let list: Vec<Value> = makers.into_iter().flat_map(|m| one(&core, m)).collect();
    shared.publish(&mut core);
    Ok(json!({ "margin_accounts": list }))
}

/// `GET /account_state?account=` and `/account-state?account=` (or no account: all).
pub async fn get_account_state(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<Value>, Refusal> {
    check_key(&headers, &shared.api_key)?;
    let v = margin_accounts(&shared, &q, |core, maker| {
        core.pairs()
            .iter()
            .filter_map(|p| core.account_state_json(maker, p))
            .collect()
    })?;
    Ok(axum::Json(v))
}

/// `GET /positions?account=` (or no account: all).
pub async fn get_positions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<Value>, Refusal> {
    check_key(&headers, &shared.api_key)?;
    let v = margin_accounts(&shared, &q, |core, maker| {
        core.positions_rest(maker)
            .get("margin_accounts")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    })?;
    Ok(axum::Json(v))
}
