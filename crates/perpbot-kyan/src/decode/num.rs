//! Reading Kyan's JSON values exactly: decimals from numbers or strings, 32-hex ids, timestamps.
//!
//! Kyan sends prices and sizes as JSON numbers on REST and the private WebSocket and as strings
//! on the public stream. `serde_json` (without `arbitrary_precision`) holds a non-integer number
//! as an `f64`; its shortest round-trip text is read back into a `Decimal`, which reproduces the
//! literal the server wrote for every value of up to 15 significant digits — far more than any
//! price or size on Kyan's grids (at most ~12). No arithmetic is ever done in `f64`.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

/// A decimal from a JSON number or numeric string.
pub fn decimal(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => {
            let text = n.to_string();
            Decimal::from_str(&text)
                .or_else(|_| Decimal::from_scientific(&text))
                .ok()
        }
        Value::String(s) => {
            let s = s.trim();
            Decimal::from_str(s)
                .or_else(|_| Decimal::from_scientific(s))
                .ok()
        }
        _ => None,
    }
}

/// The decimal at `key` of an object.
pub fn dec_at(v: &Value, key: &str) -> Option<Decimal> {
    v.get(key).and_then(decimal)
}

/// The first of `keys` present as a decimal.
pub fn dec_any(v: &Value, keys: &[&str]) -> Option<Decimal> {
    keys.iter().find_map(|k| dec_at(v, k))
}

/// A string at `key`.
pub fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// An unsigned integer from a number or a numeric string.
pub fn uint(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Kyan's 32-hex-digit ids (`order_id`, `trade_id`) as 128 bits; a `0x` prefix is accepted.
pub fn hex_id(text: &str) -> Option<u128> {
    let t = text.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    if t.is_empty() || t.len() > 32 {
        return None;
    }
    u128::from_str_radix(t, 16).ok()
}

/// An id back in Kyan's form: 32 lower-case hex digits.
pub fn hex_text(id: u128) -> String {
    format!("{id:032x}")
}

/// A timestamp in ms or s (values below 10^11 are taken as seconds) → nanoseconds.
pub fn timestamp_nanos(v: &Value) -> Option<u64> {
    let t = uint(v)?;
    let ms = if t < 100_000_000_000 {
        t.saturating_mul(1_000)
    } else {
        t
    };
    Some(ms.saturating_mul(1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use serde_json::json;

    #[test]
    fn numbers_and_strings_read_exactly() {
        assert_eq!(decimal(&json!(65000.5)), Some(dec!(65000.5)));
        assert_eq!(decimal(&json!(0.0001)), Some(dec!(0.0001)));
        assert_eq!(decimal(&json!("2500.10")), Some(dec!(2500.10)));
        assert_eq!(
            decimal(&json!(12345678.123456)),
            Some(dec!(12345678.123456))
        );
        assert_eq!(decimal(&json!(-1.5)), Some(dec!(-1.5)));
        assert_eq!(decimal(&json!(null)), None);
        assert_eq!(decimal(&json!("abc")), None);
    }

    #[test]
    fn ids_round_trip() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(hex_text(hex_id(id).unwrap()), id);
        assert_eq!(hex_id("zz"), None);
        assert_eq!(hex_id(&"f".repeat(33)), None);
    }
}
