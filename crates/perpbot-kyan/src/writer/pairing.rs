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
    let list = |k: &str| -> Vec<Option<&Value>> {
        v.get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().map(Some).collect())
            .unwrap_or_default()
    };
    let (mut posted, mut refused) = (list("posted"), list("rejected"));
    let (n_posted, n_refused) = (posted.len(), refused.len());
    // Take the first record still unclaimed that `pred` accepts.
    fn take<'a>(
        records: &mut [Option<&'a Value>],
        pred: impl Fn(&Value) -> bool,
    ) -> Option<&'a Value> {
        records
            .iter_mut()
            .find(|r| r.is_some_and(&pred))
            .and_then(Option::take)
    }
    let reason = |r: &Value| {
        let code = str_at(r, "reason")
            .or_else(|| str_at(r, "error"))
            .unwrap_or("REJECTED");
        match str_at(r, "message") {
            Some(m) => format!("{code}: {m}"),
            None => code.to_string(),
        }
    };
    let id_of = |p: &Value| str_at(p, "order_id").and_then(hex_id).map(VenueOrderId);
    let mut slots: Vec<Option<Result<Option<VenueOrderId>, String>>> = reqs
        .iter()
        .map(|req| {
            if let Some(p) = take(&mut posted, |p| same_order(&req.order, p)) {
                Some(Ok(id_of(p)))
            } else {
                take(&mut refused, |r| same_order(&req.order, r)).map(|r| Err(reason(r)))
            }
        })
        .collect();
    for slot in slots.iter_mut().filter(|s| s.is_none()) {
        *slot = take(&mut posted, |_| true)
            .map(|p| Ok(id_of(p)))
            .or_else(|| take(&mut refused, |_| true).map(|r| Err(reason(r))));
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
                    n_posted + n_refused,
                    reqs.len()
                ));
            }
        }
    }
    Ok((placed, rejected))
}
