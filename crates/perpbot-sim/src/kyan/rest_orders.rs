//! REST order calls: `POST /limit` (\[D\] bare array with a signature per order, or \[S\]
//! `{orders, signature, signature_deadline}`, or `x-one-click`), `PATCH /limit`, `POST /market`,
//! `DELETE /orders`, `DELETE /orders_all`, `GET /orders`.
//!
//! A request is read and checked completely (fields, one maker and one market per batch, grids,
//! signatures, deadlines) before anything is applied: a refused request records nothing, not
//! even its deadlines. A business refusal of one order (post-only cross, margin, MMP freeze)
//! lands in `rejected`, in request order, and the others go ahead.

use std::collections::HashMap;
use std::sync::Arc;

use alloy_primitives::{Address, U256};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use perpbot_kyan::signing::types::{
    CancelAllOrdersType, CancelOrdersType, OrderTyped, UserEditOrder, UserLimitOrder,
    UserMarketOrder,
};
use perpbot_kyan::signing::{TypedMessage, domain, units};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::Shared;
use super::auth::{
    MAX_DEADLINE_AHEAD_SECS, Proof, check_deadline, check_key, check_session, check_signature,
    one_click_header,
};
use super::core::{Core, hex_id};
use super::parse::{Fields, Refusal, bad, body_json, direction, lots, refuse};
use super::trading::NewOrder;
use super::wire::num;

/// A signature and its deadline as sent.
struct Signed {
    bytes: Vec<u8>,
    text: String,
    deadline: u64,
}

fn read_signed(f: &mut Fields) -> Result<Signed, Refusal> {
    let (bytes, text) = f.signature("signature")?;
    let deadline = f
        .uint("signature_deadline")
        .map_err(|_| bad(format!("{}: Unix seconds", f.name("signature_deadline"))))?;
    Ok(Signed {
        bytes,
        text,
        deadline,
    })
}

/// The request's `x-one-click` session, else its `signature` and `signature_deadline`.
fn read_proof(headers: &HeaderMap, f: &mut Fields) -> Result<Proof, Refusal> {
    Ok(match one_click_header(headers) {
        Some(hash) => Proof::Session(hash),
        None => {
            let s = read_signed(f)?;
            Proof::Signed {
                signature: s.bytes,
                deadline: s.deadline,
            }
        }
    })
}

fn scaled(prefix: &str, field: &str, v: Decimal) -> Result<U256, Refusal> {
    units(field, v).map_err(|e| bad(format!("{prefix}.{e}")))
}

/// One limit order read from the body.
struct ReadOrder {
    message: UserLimitOrder,
    signed: Option<Signed>,
    inst: usize,
    order: NewOrder,
}

fn read_limit(core: &Core, index: usize, value: Value, signed: bool) -> Result<ReadOrder, Refusal> {
    let prefix = format!("orders[{index}]");
    let mut f = Fields::of(value, &prefix)?;
    let instrument = f.text("instrument_name")?;
    // [D] `type` is only ever "good_til_cancelled".
    if let Some(t) = f.take("type")
        && t != json!("good_til_cancelled")
    {
        return Err(bad(format!("{}: {t} is not supported", f.name("type"))));
    }
    let (size, is_amount) = match (f.take("amount"), f.take("contracts")) {
        (Some(v), None) => (f.decimal_of("amount", v)?, true),
        (None, Some(v)) => (f.decimal_of("contracts", v)?, false),
        _ => {
            return Err(bad(format!(
                "{prefix}: exactly one of amount and contracts"
            )));
        }
    };
    let buy = direction(&mut f)?;
    let price = f.decimal("price")?;
    let post_only = f.flag("post_only")?;
    let mmp = f.flag("mmp")?;
    let liquidation = f.flag("liquidation")?;
    let maker = f.address("maker")?;
    // v1.18: only the zero address (or null) as taker.
    match f.take("taker") {
        None => {}
        Some(Value::String(s)) if s.parse::<Address>().is_ok_and(|a| a.is_zero()) => {}
        Some(other) => {
            return Err(bad(format!(
                "{}: {other} (only the zero address)",
                f.name("taker")
            )));
        }
    }
    let sig = if signed {
        Some(read_signed(&mut f)?)
    } else {
        None
    };
    f.done()?;
    let message = UserLimitOrder {
        deadline: U256::from(sig.as_ref().map_or(0, |s| s.deadline)),
        instrumentName: instrument.clone(),
        size: scaled(&prefix, "size", size)?,
        price: scaled(&prefix, "price", price)?,
        taker: Address::ZERO,
        maker,
        direction: if buy { 0 } else { 1 },
        isLiquidation: liquidation,
        isPostOnly: post_only,
        mmp,
    };
    if liquidation {
        return Err(bad(format!("{prefix}.liquidation: must be false")));
    }
    let inst = core.instrument(&instrument).ok_or_else(|| {
        refuse(
            axum::http::StatusCode::BAD_REQUEST,
            "INVALID_INSTRUMENT",
            format!("{prefix}.instrument_name: {instrument:?} is not listed"),
        )
    })?;
    let i = &core.instruments[inst];
    let ticks = super::parse::ticks(&i.spec, i.cfg.price_increment, price)?;
    let lots = lots(&i.spec, i.cfg.contracts_increment, size, is_amount, price)?;
    Ok(ReadOrder {
        message,
        order: NewOrder {
            maker,
            inst,
            buy,
            price: ticks,
            lots,
            post_only,
            mmp,
            deadline: sig.as_ref().map_or(0, |s| s.deadline),
            signature: sig.as_ref().map_or(String::new(), |s| s.text.clone()),
        },
        signed: sig,
        inst,
    })
}

/// `POST /limit`.
pub async fn post_limit(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: String,
) -> Result<axum::Json<Value>, Refusal> {
    check_key(&headers, &shared.api_key)?;
    let mut core = shared.lock()?;
    let out = place(&mut core, &headers, &body, shared.chain())?;
    shared.publish(&mut core);
    Ok(axum::Json(out))
}

fn place(
    core: &mut Core,
    headers: &HeaderMap,
    body: &str,
    chain: (u64, Address),
) -> Result<Value, Refusal> {
    let session = one_click_header(headers);
    let value = body_json(body).map_err(|_| {
        bad("the body must be a JSON array of orders, or {orders, signature, signature_deadline}")
    })?;
    // [D] bare array, each signed; [S] {orders, signature, signature_deadline}, one signature.
    let (items, shared_sig) = match value {
        Value::Array(items) => (items, None),
        Value::Object(_) => {
            let mut f = Fields::of(value, "")?;
            let items = match f.need("orders") {
                Ok(Value::Array(items)) => items,
                _ => {
                    return Err(bad(
                        "the body must be a JSON array of orders, or {orders, signature, signature_deadline}",
                    ));
                }
            };
            let sig = if session.is_some() {
                None
            } else {
                Some(read_signed(&mut f).map_err(|_| {
                    bad("the body must be a JSON array of orders, or {orders, signature, signature_deadline} with both signature fields")
                })?)
            };
            f.done()?;
            (items, sig)
        }
        _ => return Err(bad("the body must be a JSON array of orders")),
    };
    if items.is_empty() {
        return Err(bad("an empty array of orders"));
    }
    let per_order_sig = session.is_none() && shared_sig.is_none();
    let mut orders = Vec::with_capacity(items.len());
    for (i, v) in items.into_iter().enumerate() {
        let mut o = read_limit(core, i, v, per_order_sig)?;
        if let Some(s) = &shared_sig {
            o.message.deadline = U256::from(s.deadline);
            o.order.deadline = s.deadline;
            o.order.signature = s.text.clone();
        }
        orders.push(o);
    }
    let Some(first) = orders.first() else {
        return Err(bad("an empty array of orders"));
    };
    let maker = first.order.maker;
    let pair = core.instruments[first.inst].cfg.pair().to_string();
    for (i, o) in orders.iter().enumerate() {
        if o.order.maker != maker {
            return Err(bad(format!("orders[{i}].maker: one maker per batch")));
        }
        if core.instruments[o.inst].cfg.pair() != pair {
            return Err(bad(format!(
                "orders[{i}].instrument_name: one market per batch"
            )));
        }
    }
    // Proof: session, one shared signature, or one per order; then deadlines.
    let d = domain(chain.0, chain.1);
    let mut pending: Option<u64> = None;
    if let Some(hash) = &session {
        check_session(core, hash, maker)?;
    } else {
        for (i, o) in orders.iter().enumerate() {
            let what = format!("orders[{i}]");
            let digest = TypedMessage::LimitOrder(o.message.clone()).signing_hash(&d);
            let sig = o.signed.as_ref().or(shared_sig.as_ref());
            let Some(sig) = sig else {
                return Err(bad(format!("{what}.signature: missing")));
            };
            check_signature(digest, &sig.bytes, maker, &what)?;
            if o.signed.is_some() || i == 0 {
                pending = Some(check_deadline(
                    core,
                    maker,
                    o.message.deadline,
                    pending,
                    MAX_DEADLINE_AHEAD_SECS,
                    &what,
                )?);
            }
        }
    }
    if let Some(last) = pending {
        core.last_deadline.insert(maker, last);
    }
    let (mut posted, mut rejected) = (Vec::new(), Vec::new());
    for o in orders {
        let echo = (o.order.inst, o.order.buy, o.order.price, o.order.lots);
        match core.place_limit(o.order) {
            Ok(v) => posted.push(v),
            Err(r) => {
                let i = &core.instruments[echo.0];
                let price = i.spec.ticks_to_price(echo.2);
                let contracts = i.spec.lots_to_size(perpbot_model::Lots(echo.3));
                rejected.push(json!({
                    "reason": r.code,
                    "message": r.message,
                    "instrument_name": i.cfg.name,
                    "direction": if echo.1 { "buy" } else { "sell" },
                    "price": num(price),
                    "contracts": num(contracts),
                    "amount": num(contracts * price),
                }));
            }
        }
    }
    Ok(json!({"posted": posted, "rejected": rejected}))
}

/// `PATCH /limit`: edits, each signed as `UserEditOrder`; no one-click \[D\].
pub async fn patch_limit(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: String,
) -> Result<axum::Json<Value>, Refusal> {
    check_key(&headers, &shared.api_key)?;
    let Value::Array(items) = body_json(&body)? else {
        return Err(bad("the body must be a JSON array of edits"));
    };
    if items.is_empty() {
        return Err(bad("an empty array of edits"));
    }
    let mut core = shared.lock()?;
    let d = domain(shared.chain().0, shared.chain().1);
    struct Edit {
        kid: Option<u128>,
        id_text: String,
        size: Decimal,
        is_amount: bool,
        price: Decimal,
        signed: Signed,
    }
    let mut edits = Vec::new();
    let mut maker = None;
    for (i, v) in items.into_iter().enumerate() {
        let prefix = format!("orders[{i}]");
        let mut f = Fields::of(v, &prefix)?;
        let id_text = f.text("order_id")?;
        let (size, is_amount) = match (f.take("amount"), f.take("contracts")) {
            (Some(v), None) => (f.decimal_of("amount", v)?, true),
            (None, Some(v)) => (f.decimal_of("contracts", v)?, false),
            _ => {
                return Err(bad(format!(
                    "{prefix}: exactly one of amount and contracts"
                )));
            }
        };
        let price = f.decimal("price")?;
        let m = f.address("maker")?;
        let signed = read_signed(&mut f).map_err(|e| {
            if one_click_header(&headers).is_some() {
                bad("PATCH /limit needs a UserEditOrder signature: one-click sessions are not accepted for edits")
            } else {
                e
            }
        })?;
        f.done()?;
        if maker.is_some_and(|x| x != m) {
            return Err(bad(format!("{prefix}.maker: one maker per batch")));
        }
        maker = Some(m);
        if edits.iter().any(|e: &Edit| e.id_text == id_text) {
            return Err(bad(format!("{prefix}.order_id: listed twice")));
        }
        let message = UserEditOrder {
            deadline: U256::from(signed.deadline),
            size: scaled(&prefix, "size", size)?,
            price: scaled(&prefix, "price", price)?,
            orderId: id_text.clone(),
        };
        let digest = TypedMessage::EditOrder(message).signing_hash(&d);
        check_signature(digest, &signed.bytes, m, &prefix)?;
        edits.push(Edit {
            kid: u128::from_str_radix(&id_text, 16).ok(),
            id_text,
            size,
            is_amount,
            price,
            signed,
        });
    }
    let Some(maker) = maker else {
        return Err(bad("an empty array of edits"));
    };
    // One market per batch, grids, deadlines: all before applying.
    let mut pair: Option<String> = None;
    let mut plans = Vec::new();
    let mut pending = None;
    for (i, e) in edits.iter().enumerate() {
        let prefix = format!("orders[{i}]");
        pending = Some(check_deadline(
            &core,
            maker,
            U256::from(e.signed.deadline),
            pending,
            MAX_DEADLINE_AHEAD_SECS,
            &prefix,
        )?);
        let Some(info) = e
            .kid
            .and_then(|k| core.orders.get(&k))
            .filter(|o| o.maker == maker)
        else {
            plans.push(None);
            continue;
        };
        let inst = &core.instruments[info.inst];
        let p = inst.cfg.pair().to_string();
        if pair.as_ref().is_some_and(|x| *x != p) {
            return Err(bad(format!("{prefix}: one market per batch")));
        }
        pair = Some(p);
        let ticks = super::parse::ticks(&inst.spec, inst.cfg.price_increment, e.price)?;
        let lots = lots(
            &inst.spec,
            inst.cfg.contracts_increment,
            e.size,
            e.is_amount,
            e.price,
        )?;
        plans.push(Some((ticks, lots)));
    }
    if let Some(last) = pending {
        core.last_deadline.insert(maker, last);
    }
    let (mut posted, mut rejected) = (Vec::new(), Vec::new());
    for (e, plan) in edits.into_iter().zip(plans) {
        let result = match (plan, e.kid) {
            (Some((ticks, lots)), Some(kid)) => {
                core.edit(maker, kid, ticks, lots, e.signed.deadline, e.signed.text)
            }
            _ => Err(super::core::Reject::new(
                "ORDER_NOT_FOUND",
                format!("order {} is not open", e.id_text),
            )),
        };
        match result {
            Ok(v) => posted.push(v),
            Err(r) => rejected
                .push(json!({"order_id": e.id_text, "reason": r.code, "message": r.message})),
        }
    }
    shared.publish(&mut core);
    Ok(axum::Json(json!({"posted": posted, "rejected": rejected})))
}

/// `POST /market`.
pub async fn post_market(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: String,
) -> Result<axum::Json<Value>, Refusal> {
    check_key(&headers, &shared.api_key)?;
    let mut f = Fields::of(body_json(&body)?, "")?;
    let mut mo = Fields::of(f.need("market_order")?, "market_order")?;
    let instrument = mo.text("instrument_name")?;
    let (size, is_amount) = match (mo.take("amount"), mo.take("contracts")) {
        (Some(v), None) => (mo.decimal_of("amount", v)?, true),
        (None, Some(v)) => (mo.decimal_of("contracts", v)?, false),
        _ => return Err(bad("market_order: exactly one of amount and contracts")),
    };
    let buy = direction(&mut mo)?;
    mo.done()?;
    let limit_price = f.decimal("limit_price")?;
    let taker = f.address("taker")?;
    let proof = read_proof(&headers, &mut f)?;
    f.done()?;
    let mut core = shared.lock()?;
    let inst = core.instrument(&instrument).ok_or_else(|| {
        refuse(
            axum::http::StatusCode::BAD_REQUEST,
            "INVALID_INSTRUMENT",
            format!("market_order.instrument_name: {instrument:?} is not listed"),
        )
    })?;
    let i = &core.instruments[inst];
    let ticks = super::parse::ticks(&i.spec, i.cfg.price_increment, limit_price)?;
    let lots = lots(
        &i.spec,
        i.cfg.contracts_increment,
        size,
        is_amount,
        limit_price,
    )?;
    proof.check(
        &mut core,
        shared.chain(),
        taker,
        "market order",
        |deadline| {
            Ok(TypedMessage::MarketOrder(UserMarketOrder {
                deadline,
                marketOrder: OrderTyped {
                    instrumentName: instrument.clone(),
                    size: scaled("market_order", "size", size)?,
                    direction: if buy { 0 } else { 1 },
                },
                limitPrice: scaled("", "limit_price", limit_price)?,
                taker,
            }))
        },
    )?;
    let out = core.place_market(taker, inst, buy, lots, ticks)?;
    let i = &core.instruments[inst];
    let contracts = i.spec.lots_to_size(perpbot_model::Lots(out.filled));
    let avg = if contracts.is_zero() {
        Decimal::ZERO
    } else {
        (out.notional / contracts).normalize()
    };
    let answer = json!({
        "trade_id": hex_id(out.kid),
        "instrument_name": instrument,
        "direction": if buy { "buy" } else { "sell" },
        "price": num(avg),
        "contracts": num(i.spec.lots_to_size(perpbot_model::Lots(lots))),
        "amount": num(out.notional),
        "filled_contracts": num(contracts),
        "order_state": if out.filled == lots { "filled" } else { "cancelled" },
    });
    shared.publish(&mut core);
    Ok(axum::Json(answer))
}

/// `DELETE /orders`.
pub async fn delete_orders(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: String,
) -> Result<axum::Json<Value>, Refusal> {
    check_key(&headers, &shared.api_key)?;
    let mut f = Fields::of(body_json(&body)?, "")?;
    let maker = f.address("maker")?;
    let Value::Array(ids) = f.need("order_ids")? else {
        return Err(bad("order_ids: an array of ids"));
    };
    let ids: Vec<String> = ids
        .into_iter()
        .map(|v| match v {
            Value::String(s) => Ok(s),
            other => Err(bad(format!("order_ids: {other} is not a string"))),
        })
        .collect::<Result<_, _>>()?;
    let proof = read_proof(&headers, &mut f)?;
    f.done()?;
    let mut core = shared.lock()?;
    proof.check(&mut core, shared.chain(), maker, "cancel", |deadline| {
        Ok(TypedMessage::CancelOrders(CancelOrdersType {
            deadline,
            maker,
            orderIds: ids.clone(),
        }))
    })?;
    let mut not_found: Vec<String> = Vec::new();
    let mut kids = Vec::new();
    for id in &ids {
        match u128::from_str_radix(id.trim_start_matches("0x"), 16) {
            Ok(k) => kids.push(k),
            Err(_) => not_found.push(id.clone()),
        }
    }
    let (done, missing) = core.cancel_ids(maker, &kids);
    not_found.extend(missing.into_iter().map(hex_id));
    shared.publish(&mut core);
    Ok(axum::Json(json!({
        "orders_cancelled": done.into_iter().map(hex_id).collect::<Vec<_>>(),
        "orders_pending_cancel": [],
        "rejected_cancellations": [],
        "orders_not_found": not_found,
    })))
}

/// `DELETE /orders_all`.
pub async fn delete_orders_all(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: String,
) -> Result<axum::Json<Value>, Refusal> {
    check_key(&headers, &shared.api_key)?;
    let mut f = Fields::of(body_json(&body)?, "")?;
    let maker = f.address("maker")?;
    let proof = read_proof(&headers, &mut f)?;
    f.done()?;
    let mut core = shared.lock()?;
    proof.check(&mut core, shared.chain(), maker, "cancel all", |deadline| {
        Ok(TypedMessage::CancelAllOrders(CancelAllOrdersType {
            deadline,
            maker,
        }))
    })?;
    let done = core.cancel_where(maker, |_| true);
    shared.publish(&mut core);
    Ok(axum::Json(json!({
        "orders_cancelled": done.into_iter().map(hex_id).collect::<Vec<_>>(),
        "orders_pending_cancel": [],
    })))
}

/// `GET /orders?maker=0x…[&instrument_name=…]` → `{orders:[…]}` **\[ASSUMED\]**.
pub async fn get_orders(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<Value>, Refusal> {
    check_key(&headers, &shared.api_key)?;
    // [S]'s client asks without a maker (the API key as the identity): every maker's then.
    let maker: Option<Address> = match q.get("maker") {
        Some(m) => Some(m.parse().map_err(|_| bad("maker: not an address"))?),
        None => None,
    };
    let core = shared.lock()?;
    let inst = match q.get("instrument_name") {
        Some(name) => Some(core.instrument(name).ok_or_else(|| {
            refuse(
                axum::http::StatusCode::BAD_REQUEST,
                "INVALID_INSTRUMENT",
                format!("instrument_name: {name:?} is not listed"),
            )
        })?),
        None => None,
    };
    let makers: Vec<Address> = match maker {
        Some(m) => vec![m],
        None => core.makers.keys().copied().collect(),
    };
    let orders: Vec<Value> = makers
        .into_iter()
        .flat_map(|m| core.open_orders(m, inst))
        .map(|o| core.order_json(o, "open"))
        .collect();
    Ok(axum::Json(json!({"orders": orders})))
}
