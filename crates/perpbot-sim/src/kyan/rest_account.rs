//! REST calls beyond orders: heartbeat, one-click sessions, account state and positions, market
//! data (`exchange_info`, instruments, index, book) and the MMP config.

use std::collections::HashMap;
use std::sync::Arc;

use alloy_primitives::{Address, U256};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use perpbot_kyan::signing::types::{HeartbeatType, OneClickSignature};
use perpbot_kyan::signing::{TypedMessage, domain};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::Shared;
use super::auth::{
    MMPConfigUpdate, Proof, SESSION_DEADLINE_AHEAD_SECS, SESSION_TTL_MS, accept_signed,
    check_deadline, check_key, check_signature, mmp_signing_hash, one_click_header,
};
use super::core::{MmpConfig, Session, hex_id};
use super::parse::{Fields, Refusal, bad, body_json, refuse};
use super::wire::num;

/// `POST /heartbeat {maker, timeout}` signed or under one-click; `timeout: 0` switches the
/// timer off **\[ASSUMED\]**.
pub async fn post_heartbeat(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: String,
) -> Result<axum::Json<Value>, Refusal> {
    check_key(&headers, &shared.api_key)?;
    let session = one_click_header(&headers);
    let mut f = Fields::of(body_json(&body)?, "")?;
    let maker = f.address("maker")?;
    let timeout = f.uint("timeout")?;
    let proof = match session {
        Some(hash) => Proof::Session(hash),
        None => {
            let (signature, _) = f.signature("signature")?;
            let deadline = f.uint("signature_deadline")?;
            Proof::Signed {
                signature,
                deadline,
            }
        }
    };
    f.done()?;
    let mut core = shared.lock()?;
    proof.check(&mut core, shared.chain(), maker, "heartbeat", |deadline| {
        Ok(TypedMessage::Heartbeat(HeartbeatType {
            deadline,
            maker,
            timeout: U256::from(timeout),
        }))
    })?;
    let expires = core.heartbeat(maker, timeout);
    shared.publish(&mut core);
    Ok(axum::Json(
        json!({"success": true, "timeout": timeout, "expires_at_ms": expires}),
    ))
}

/// `POST /session {user, bind_to_ip?, signature, signature_deadline}` → both hash names.
pub async fn post_session(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: String,
) -> Result<axum::Json<Value>, Refusal> {
    check_key(&headers, &shared.api_key)?;
    let mut f = Fields::of(body_json(&body)?, "")?;
    let user = f.address("user")?;
    let bind = match f.take("bind_to_ip") {
        None => true,
        Some(Value::Bool(b)) => b,
        Some(other) => return Err(bad(format!("bind_to_ip: true or false, not {other}"))),
    };
    let (bytes, _) = f.signature("signature")?;
    let deadline = f.uint("signature_deadline")?;
    f.done()?;
    let mut core = shared.lock()?;
    let m = OneClickSignature {
        deadline: U256::from(deadline),
        user,
        bindToIp: bind,
    };
    let (c, v) = shared.chain();
    check_signature(
        TypedMessage::OneClick(m).signing_hash(&domain(c, v)),
        &bytes,
        user,
        "session",
    )?;
    // [ASSUMED] a longer window, and the shared counter is not advanced (see auth.rs).
    check_deadline(
        &core,
        user,
        U256::from(deadline),
        None,
        SESSION_DEADLINE_AHEAD_SECS,
        "session",
    )?;
    // [ASSUMED] bind_to_ip is accepted and not enforced: every client is on 127.0.0.1.
    let hash = core.random_hash();
    let expires_ms = core.now.as_millis() + SESSION_TTL_MS;
    core.sessions
        .insert(hash.clone(), Session { user, expires_ms });
    core.maker(user);
    shared.publish(&mut core);
    Ok(axum::Json(
        json!({"sessionHash": hash, "hash": hash, "expires_at_ms": expires_ms}),
    ))
}

/// `DELETE /session`: the one in `x-one-click`, or every session without it.
pub async fn delete_session(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, Refusal> {
    check_key(&headers, &shared.api_key)?;
    let mut core = shared.lock()?;
    let n = match one_click_header(&headers) {
        Some(h) => usize::from(core.sessions.remove(&h).is_some()),
        None => {
            let n = core.sessions.len();
            core.sessions.clear();
            n
        }
    };
    Ok(axum::Json(json!({"revokedSessions": n})))
}

fn address(text: &str) -> Result<Address, Refusal> {
    text.trim()
        .parse()
        .map_err(|_| bad(format!("{text:?} is not an address")))
}

/// `GET /account_state/{address}` → `{margin_accounts:[…]}` \[S\]. A new address is auto-funded.
pub async fn get_account_state(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(addr): Path<String>,
) -> Result<axum::Json<Value>, Refusal> {
    check_key(&headers, &shared.api_key)?;
    let maker = address(&addr)?;
    let mut core = shared.lock()?;
    core.maker(maker);
    let accounts: Vec<Value> = core
        .pairs()
        .iter()
        .filter_map(|p| core.account_state_json(maker, p))
        .collect();
    shared.publish(&mut core);
    Ok(axum::Json(json!({"margin_accounts": accounts})))
}

/// `GET /positions/{address}` \[D getpositions\].
pub async fn get_positions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(addr): Path<String>,
) -> Result<axum::Json<Value>, Refusal> {
    check_key(&headers, &shared.api_key)?;
    let maker = address(&addr)?;
    let mut core = shared.lock()?;
    core.maker(maker);
    let v = core.positions_rest(maker);
    shared.publish(&mut core);
    Ok(axum::Json(v))
}

/// `GET /api/v1/exchange_info` (no key) **\[ASSUMED shape\]**.
pub async fn exchange_info(
    State(shared): State<Arc<Shared>>,
) -> Result<axum::Json<Value>, Refusal> {
    let core = shared.lock()?;
    let mut pairs = Vec::new();
    let mut prices = serde_json::Map::new();
    let mut sizes = serde_json::Map::new();
    let mut instruments = Vec::new();
    for i in &core.instruments {
        let pair = i.cfg.pair().to_string();
        if !pairs.iter().any(|p: &Value| p["pair"] == json!(pair)) {
            pairs.push(json!({"pair": pair, "base": i.cfg.base(), "status": "active"}));
        }
        prices.insert(pair.clone(), num(i.cfg.price_increment));
        sizes.insert(pair.clone(), num(i.cfg.contracts_increment));
        instruments.push(json!({
            "instrument_name": i.cfg.name,
            "pair": pair,
            "instrument_type": "perp",
            "price_increment": num(i.cfg.price_increment),
            "contracts_increment": num(i.cfg.contracts_increment),
        }));
    }
    Ok(axum::Json(json!({
        "pairs": pairs,
        "instruments": instruments,
        "orderConstraints": {
            "priceIncrements": prices,
            "perpetuals": {"sizeIncrements": sizes, "amountIncrement": 1},
            "options": {"sizeIncrements": {}},
        },
        "chainId": core.cfg.chain_id,
        "verifyingContract": format!("{:#x}", core.cfg.verifying_contract),
    })))
}

/// `GET /instruments?market=BTC` → `{timestamp, instruments}` \[D 1.11\].
pub async fn get_instruments(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<Value>, Refusal> {
    check_key(&headers, &shared.api_key)?;
    let core = shared.lock()?;
    Ok(axum::Json(json!({
        "timestamp": core.now.as_millis(),
        "instruments": core.instrument_names(q.get("market").map(String::as_str)),
    })))
}

/// `GET /index_price?pair=BTC_USDC` → `{pair, value, timestamp}` **\[ASSUMED\]**.
pub async fn get_index_price(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<Value>, Refusal> {
    check_key(&headers, &shared.api_key)?;
    let core = shared.lock()?;
    let pair = q
        .get("pair")
        .or_else(|| q.get("market"))
        .ok_or_else(|| bad("pair: missing"))?;
    let i = core
        .instruments
        .iter()
        .find(|i| i.cfg.pair() == pair || i.cfg.base() == pair)
        .ok_or_else(|| {
            refuse(
                StatusCode::BAD_REQUEST,
                "INVALID_INSTRUMENT",
                format!("pair {pair:?} is not listed"),
            )
        })?;
    Ok(axum::Json(
        json!({"pair": i.cfg.pair(), "value": num(i.index), "timestamp": core.now.as_millis()}),
    ))
}

/// `GET /order_book?instrument_name=…` → levels `[price, contracts, count]` **\[ASSUMED\]**.
pub async fn get_order_book(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<Value>, Refusal> {
    check_key(&headers, &shared.api_key)?;
    let core = shared.lock()?;
    let name = q
        .get("instrument_name")
        .cloned()
        .or_else(|| q.get("pair").map(|p| format!("{p}-PERPETUAL")))
        .ok_or_else(|| bad("instrument_name: missing"))?;
    let inst = core.instrument(&name).ok_or_else(|| {
        refuse(
            StatusCode::BAD_REQUEST,
            "INVALID_INSTRUMENT",
            format!("{name:?} is not listed"),
        )
    })?;
    let i = &core.instruments[inst];
    let (bids, asks) = core.book(inst).map(|b| b.depth(50)).unwrap_or_default();
    let render = |levels: Vec<perpbot_model::Level>| -> Vec<Value> {
        levels
            .into_iter()
            .map(|l| {
                json!([
                    num(i.spec.ticks_to_price(l.price)),
                    num(i.spec.lots_to_size(l.lots)),
                    1
                ])
            })
            .collect()
    };
    Ok(axum::Json(json!({
        "instrument_name": name,
        "timestamp": core.now.as_millis(),
        "bids": render(bids),
        "asks": render(asks),
    })))
}

/// `POST /mmp_config` (and `/mmp/config`, `/mmp-config`), signed as \[D\]'s nine-field
/// `MMPConfigUpdate`.
pub async fn post_mmp(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: String,
) -> Result<axum::Json<Value>, Refusal> {
    check_key(&headers, &shared.api_key)?;
    let mut f = Fields::of(body_json(&body)?, "")?;
    let maker = f.address("smart_account_address")?;
    let pair = f.text("pair_symbol")?;
    let status = f.text("status")?;
    let active = match status.as_str() {
        "active" => true,
        "inactive" => false,
        other => return Err(bad(format!("status: {other:?} is not active or inactive"))),
    };
    let interval = f.uint("interval")?;
    let frozen_time = f.uint("frozen_time")?;
    let limit = |f: &mut Fields, key: &str| -> Result<Decimal, Refusal> {
        match f.take(key) {
            None => Ok(Decimal::ZERO),
            Some(v) => f.decimal_of(key, v),
        }
    };
    let quantity_limit = limit(&mut f, "quantity_limit")?;
    let delta_limit = limit(&mut f, "delta_limit")?;
    let vega_limit = limit(&mut f, "vega_limit")?;
    let (bytes, _) = f.signature("signature")?;
    let deadline = f.uint("signature_deadline")?;
    f.done()?;
    if active && delta_limit.is_zero() && quantity_limit.is_zero() && vega_limit.is_zero() {
        return Err(bad("an active config needs at least one limit"));
    }
    let mut core = shared.lock()?;
    if !core.pairs().contains(&pair) {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "INVALID_INSTRUMENT",
            format!("pair_symbol {pair:?} is not listed"),
        ));
    }
    let u = |d: Decimal| perpbot_kyan::signing::units("limit", d).map_err(|e| bad(e.to_string()));
    let m = MMPConfigUpdate {
        smartAccountAddress: maker,
        pairSymbol: pair.clone(),
        status: status.clone(),
        interval: U256::from(interval),
        frozenTime: U256::from(frozen_time),
        quantityLimit: u(quantity_limit)?,
        deltaLimit: u(delta_limit)?,
        vegaLimit: u(vega_limit)?,
        deadline: U256::from(deadline),
    };
    let (c, v) = shared.chain();
    let digest = mmp_signing_hash(&m, c, v);
    accept_signed(&mut core, digest, &bytes, maker, deadline, "mmp config")?;
    let cancelled = core.mmp_configure(
        maker,
        &pair,
        MmpConfig {
            active,
            interval,
            frozen_time,
            quantity_limit,
            delta_limit,
            vega_limit,
        },
    );
    shared.publish(&mut core);
    Ok(axum::Json(json!({
        "success": true,
        "cancelled_order_ids": cancelled.into_iter().map(hex_id).collect::<Vec<_>>(),
    })))
}

/// `GET /mmp_config?smart_account_address=&pair_symbol=`.
pub async fn get_mmp(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<Value>, Refusal> {
    check_key(&headers, &shared.api_key)?;
    // [S]'s client asks `?pair=` with no address (the API key as the identity): the first
    // account with a config for the pair then.
    let pair = q
        .get("pair_symbol")
        .or_else(|| q.get("pair"))
        .ok_or_else(|| bad("pair_symbol: missing"))?;
    let core = shared.lock()?;
    let maker = match q.get("smart_account_address") {
        Some(a) => address(a)?,
        None => core
            .makers
            .iter()
            .find(|(_, m)| m.mmp.contains_key(pair))
            .map_or(Address::ZERO, |(a, _)| *a),
    };
    let st = core.makers.get(&maker).and_then(|m| m.mmp.get(pair));
    Ok(axum::Json(match st {
        None => {
            json!({"smart_account_address": format!("{maker:#x}"), "pair_symbol": pair, "status": "inactive"})
        }
        Some(s) => json!({
            "smart_account_address": format!("{maker:#x}"),
            "pair_symbol": pair,
            "status": if s.cfg.active { "active" } else { "inactive" },
            "interval": s.cfg.interval,
            "frozen_time": s.cfg.frozen_time,
            "quantity_limit": num(s.cfg.quantity_limit),
            "delta_limit": num(s.cfg.delta_limit),
            "vega_limit": num(s.cfg.vega_limit),
            "frozen": s.frozen_until.is_some_and(|t| t > core.now),
            "frozen_until": s.frozen_until.filter(|t| t.0 != u64::MAX).map(|t| t.as_millis()),
        }),
    }))
}
