//! `GET /v2/account_history` (\[D\] changelog 1.15): a maker's own trades, cursor-paginated, so
//! a client that lost `trade` events (a dropped connection, a `seq_id` gap) can read its fills
//! back, as it reads its orders and positions.
//!
//! Query \[D\]: `address` (required), `event_types` (comma-separated; only `trade` is kept
//! here: transfers, settlement and funding records are **not** served), `sort` (`asc` | `desc`,
//! default `desc`), `limit` (default 100, at most 1,000), `cursor`. Answer **\[ASSUMED\]**
//! `{data: [records…], has_more, next_cursor}`; each record is the `trade` event's `data` plus
//! `event_type: "trade"`, with its `timestamp` in ms as on the WebSocket (\[S\] says the v2
//! endpoint uses seconds; a client should accept both).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::Shared;
use super::auth::check_key;
use super::parse::{Refusal, bad};

/// Most records in one page.
const MAX_LIMIT: usize = 1_000;

/// `GET /v2/account_history?address=0x…&event_types=trade&sort=desc&limit=100&cursor=…`.
pub async fn get_account_history(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<Value>, Refusal> {
    check_key(&headers, &shared.api_key)?;
    let address = q
        .get("address")
        .ok_or_else(|| bad("address: missing"))?
        .parse::<alloy_primitives::Address>()
        .map_err(|e| bad(format!("address: {e}")))?;
    let wants_trades = q
        .get("event_types")
        .is_none_or(|t| t.split(',').any(|e| e.trim() == "trade"));
    let ascending = match q.get("sort").map(String::as_str) {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(other) => return Err(bad(format!("sort: {other} is not asc or desc"))),
    };
    let limit = match q.get("limit") {
        None => 100,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| bad(format!("limit: {l} is not 1..={MAX_LIMIT}")))?,
    };
    // The cursor is the number of records already returned in this order.
    let skip = match q.get("cursor") {
        None => 0,
        Some(c) => c
            .parse::<usize>()
            .map_err(|_| bad(format!("cursor: {c} is not a cursor of this endpoint")))?,
    };
    let core = shared.lock()?;
    let records: Vec<&Value> = match core.makers.get(&address) {
        Some(m) if wants_trades => {
            if ascending {
                m.history.iter().collect()
            } else {
                m.history.iter().rev().collect()
            }
        }
        _ => Vec::new(),
    };
    let page: Vec<Value> = records
        .iter()
        .skip(skip)
        .take(limit)
        .map(|r| {
            let mut r = (*r).clone();
            if let Some(o) = r.as_object_mut() {
                o.insert("event_type".into(), json!("trade"));
            }
            r
        })
        .collect();
    let next = skip + page.len();
    let has_more = next < records.len();
    Ok(axum::Json(json!({
        "data": page,
        "has_more": has_more,
        "next_cursor": if has_more { json!(next.to_string()) } else { Value::Null },
    })))
}
