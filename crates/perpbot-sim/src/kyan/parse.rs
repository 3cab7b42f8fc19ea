//! Reading request bodies: each field read once, anything left over refused (v1.18: no extra
//! fields), numbers accepted as JSON numbers or strings and read exactly (never through a
//! float), and Kyan's error bodies.

use std::str::FromStr;

use alloy_primitives::Address;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use perpbot_model::{Lots, MarketSpec, Rounding, Ticks};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::core::Reject;

/// A refusal: HTTP status and Kyan's body.
#[derive(Debug)]
pub struct Refusal(pub StatusCode, pub Value);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

impl From<Reject> for Refusal {
    fn from(r: Reject) -> Refusal {
        refuse(StatusCode::BAD_REQUEST, r.code, r.message)
    }
}

/// `{error, message}` with a status.
pub fn refuse(status: StatusCode, code: &str, message: impl Into<String>) -> Refusal {
    Refusal(status, json!({"error": code, "message": message.into()}))
}

/// A 400 `INVALID_REQUEST`.
pub fn bad(message: impl Into<String>) -> Refusal {
    refuse(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
}

/// The JSON body, or a 400 naming the problem.
pub fn body_json(body: &str) -> Result<Value, Refusal> {
    serde_json::from_str(body).map_err(|e| bad(format!("the body is not JSON: {e}")))
}

/// The fields of one JSON object, each taken once; `done` refuses any left.
pub struct Fields {
    map: Map<String, Value>,
    prefix: String,
}

impl Fields {
    /// The object `value` (named `prefix` in messages), or a refusal.
    pub fn of(value: Value, prefix: &str) -> Result<Fields, Refusal> {
        match value {
            Value::Object(map) => Ok(Fields {
                map,
                prefix: prefix.to_string(),
            }),
            _ => Err(bad(format!("{prefix}: an object is expected"))),
        }
    }

    /// `prefix.key` (or `key` without a prefix).
    pub fn name(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    /// The field, if present (JSON `null` counts as absent).
    pub fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key).filter(|v| !v.is_null())
    }

    /// The field, or `key: missing`.
    pub fn need(&mut self, key: &str) -> Result<Value, Refusal> {
        self.take(key)
            .ok_or_else(|| bad(format!("{}: missing", self.name(key))))
    }

    /// A string field.
    pub fn text(&mut self, key: &str) -> Result<String, Refusal> {
        match self.need(key)? {
            Value::String(s) => Ok(s),
            other => Err(bad(format!("{}: a string, not {other}", self.name(key)))),
        }
    }

    /// A boolean field.
    pub fn flag(&mut self, key: &str) -> Result<bool, Refusal> {
        match self.need(key)? {
            Value::Bool(b) => Ok(b),
            other => Err(bad(format!(
                "{}: true or false, not {other}",
                self.name(key)
            ))),
        }
    }

    /// A decimal given as a JSON number or string, read from its text.
    pub fn decimal_of(&self, key: &str, value: Value) -> Result<Decimal, Refusal> {
        let text = match value {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s,
            other => return Err(bad(format!("{}: a number, not {other}", self.name(key)))),
        };
        Decimal::from_str(text.trim())
            .or_else(|_| Decimal::from_scientific(text.trim()))
            .map_err(|_| bad(format!("{}: {text:?} is not a number", self.name(key))))
    }

    /// A required decimal.
    pub fn decimal(&mut self, key: &str) -> Result<Decimal, Refusal> {
        let v = self.need(key)?;
        self.decimal_of(key, v)
    }

    /// A non-negative integer (number or string).
    pub fn uint(&mut self, key: &str) -> Result<u64, Refusal> {
        match self.need(key)? {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .ok_or_else(|| bad(format!("{}: a non-negative integer", self.name(key))))
    }

    /// An address field.
    pub fn address(&mut self, key: &str) -> Result<Address, Refusal> {
        let text = self.text(key)?;
        Address::from_str(text.trim())
            .map_err(|_| bad(format!("{}: {text:?} is not an address", self.name(key))))
    }

    /// A `0x…` signature.
    pub fn signature(&mut self, key: &str) -> Result<(Vec<u8>, String), Refusal> {
        let text = self.text(key)?;
        let bytes = hex::decode(text.trim_start_matches("0x"))
            .map_err(|_| bad(format!("{}: not hex", self.name(key))))?;
        Ok((bytes, text))
    }

    /// Refuse the first field not read.
    pub fn done(self) -> Result<(), Refusal> {
        match self.map.keys().next() {
            Some(extra) => Err(bad(format!("{}: not a field", self.name(extra)))),
            None => Ok(()),
        }
    }
}

/// `buy` → true, `sell` → false.
pub fn direction(f: &mut Fields) -> Result<bool, Refusal> {
    match f.text("direction")?.as_str() {
        "buy" => Ok(true),
        "sell" => Ok(false),
        other => Err(bad(format!(
            "{}: {other:?} is not buy or sell",
            f.name("direction")
        ))),
    }
}

/// A price on the instrument's grid, or `MIN_INCREMENT_PRICE_VIOLATION` in \[D\]'s words.
pub fn ticks(spec: &MarketSpec, inc: Decimal, price: Decimal) -> Result<Ticks, Refusal> {
    match spec.price_to_ticks(price, Rounding::Exact) {
        Ok(t) if t.0 > 0 => Ok(t),
        Ok(_) => Err(refuse(
            StatusCode::BAD_REQUEST,
            "INVALID_PRICE",
            format!("Price must be positive for {}. Price: {price}", spec.name),
        )),
        Err(_) => Err(refuse(
            StatusCode::BAD_REQUEST,
            "MIN_INCREMENT_PRICE_VIOLATION",
            format!(
                "Min price increment requirement violated for {}. Price: {price}, Must be divisible by: {}",
                spec.name,
                inc.normalize()
            ),
        )),
    }
}

/// A size in lots from `contracts`, or from legacy `amount` (USD notional ÷ price, which must
/// land exactly on the contracts grid); `MIN_INCREMENT_SIZE_VIOLATION` otherwise.
pub fn lots(
    spec: &MarketSpec,
    inc: Decimal,
    size: Decimal,
    is_amount: bool,
    price: Decimal,
) -> Result<u64, Refusal> {
    let violation = |what: &str| {
        refuse(
            StatusCode::BAD_REQUEST,
            "MIN_INCREMENT_SIZE_VIOLATION",
            format!(
                "Min size increment requirement violated for {}. {what}, Must be divisible by: {}",
                spec.name,
                inc.normalize()
            ),
        )
    };
    let contracts = if is_amount {
        if price.is_zero() {
            return Err(violation("Amount without a price"));
        }
        size.checked_div(price)
            .ok_or_else(|| violation("Amount out of range"))?
    } else {
        size
    };
    match spec.size_to_lots(contracts, Rounding::Exact) {
        // [ASSUMED] `amount / price` that is not exactly on the grid is refused (no rounding).
        Ok(Lots(l)) if l > 0 && (!is_amount || spec.lots_to_size(Lots(l)) * price == size) => Ok(l),
        Ok(Lots(0)) => Err(violation(&format!("Size: {size} is zero"))),
        _ => Err(violation(&format!(
            "{}: {size}",
            if is_amount { "Amount" } else { "Contracts" }
        ))),
    }
}
