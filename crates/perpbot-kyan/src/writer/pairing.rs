//! Pairing Kyan's answers with the orders sent: `POST /limit`'s `{posted, rejected}` and the
//! open orders read to resolve an ambiguous place.

use serde_json::Value;

use perpbot_model::{ClientOrderId, Side, VenueOrderId};

use super::Ready;
use crate::decode::num::{dec_any, hex_id, str_at};
use crate::rest::LimitOrder;

/// Does a Kyan order record (`posted` / `rejected` entry) describe this request?
pub(super) fn same_order(o: &LimitOrder, v: &Value) -> bool {
    let dir = match o.side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    };
    let size_ok = match (dec_any(v, &["contracts"]), dec_any(v, &["amount"])) {
        (Some(c), _) => c == o.contracts,
        (None, Some(a)) => a == o.contracts * o.price,
        (None, None) => true,
    };
    str_at(v, "instrument_name").is_none_or(|i| i == o.instrument)
        && str_at(v, "direction").is_none_or(|d| d.eq_ignore_ascii_case(dir))
        && dec_any(v, &["price"]).is_none_or(|p| p == o.price)
        && size_ok
}

/// Pair a `POST /limit` answer (`{posted, rejected}`) with the requests: by (instrument,
/// direction, price, size) in order, then what is left by position \[ASSUMED: both lists keep
/// request order\]. An answer that accounts for fewer orders than were sent is an error (the
/// caller treats it as ambiguous).
#[allow(clippy::type_complexity)]
pub(super) fn pair_answer(
    reqs: &[Ready],
    v: &Value,
) -> Result<
    (
        Vec<(ClientOrderId, Option<VenueOrderId>)>,
        Vec<(ClientOrderId, String)>,
    ),
    String,
> {
    let empty = Vec::new();
    let posted = v.get("posted").and_then(Value::as_array).unwrap_or(&empty);
    let refused = v
        .get("rejected")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let mut used_p = vec![false; posted.len()];
    let mut used_r = vec![false; refused.len()];
    let mut slots: Vec<Option<Result<Option<VenueOrderId>, String>>> = vec![None; reqs.len()];
    let reason = |r: &Value| {
        let code = str_at(r, "reason")
            .or_else(|| str_at(r, "error"))
            .unwrap_or("REJECTED");
        match str_at(r, "message") {
            Some(m) => format!("{code}: {m}"),
            None => code.to_string(),
        }
    };
    for (i, req) in reqs.iter().enumerate() {
        if let Some(j) = (0..posted.len())
            .find(|j| !used_p[*j] && posted.get(*j).is_some_and(|p| same_order(&req.order, p)))
        {
            used_p[j] = true;
            let id = posted
                .get(j)
                .and_then(|p| str_at(p, "order_id"))
                .and_then(hex_id)
                .map(VenueOrderId);
            slots[i] = Some(Ok(id));
        } else if let Some(j) = (0..refused.len())
            .find(|j| !used_r[*j] && refused.get(*j).is_some_and(|r| same_order(&req.order, r)))
        {
            used_r[j] = true;
            slots[i] = refused.get(j).map(|r| Err(reason(r)));
        }
    }
    let mut left_p = (0..posted.len()).filter(|j| !used_p[*j]);
    let mut left_r = (0..refused.len()).filter(|j| !used_r[*j]);
    for slot in slots.iter_mut().filter(|s| s.is_none()) {
        if let Some(j) = left_p.next() {
            *slot = Some(Ok(posted
                .get(j)
                .and_then(|p| str_at(p, "order_id"))
                .and_then(hex_id)
                .map(VenueOrderId)));
        } else if let Some(j) = left_r.next() {
            *slot = refused.get(j).map(|r| Err(reason(r)));
        }
    }
    let mut placed = Vec::new();
    let mut rejected = Vec::new();
    for (req, slot) in reqs.iter().zip(slots) {
        match slot {
            Some(Ok(id)) => placed.push((req.client_id, id)),
            Some(Err(r)) => rejected.push((req.client_id, r)),
            None => {
                return Err(format!(
                    "POST /limit answer accounts for {} of {} orders",
                    posted.len() + refused.len(),
                    reqs.len()
                ));
            }
        }
    }
    Ok((placed, rejected))
}
