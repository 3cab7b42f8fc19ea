//! Kana Perps wire types: the WebSocket envelope and records, and the REST records that share
//! their shapes (reference §4.2.1, §4.4, §7).
//!
//! Kana is loose about JSON types (reference §2.2): amounts, prices and ids are usually decimal
//! strings, but `leverage`, `order_type`, timestamps and balances arrive as JSON numbers in some
//! generations and as strings in others. Every numeric field here is therefore a [`Num`]: the
//! borrowed text of either form, converted **exactly** later (never through `f64`), so that the
//! decoder can name the field and the value when a conversion fails.
//!
//! The record types borrow from the frame (`Deserialize<'a>`), so decoding a frame allocates
//! nothing per record. They must be deserialized with `serde_json::from_str` / `from_slice`
//! (they rely on `serde_json::value::RawValue`, which only serde_json's own deserializer
//! supports); a REST client reads the body to a `String` first, then parses from it.
//!
//! ```
//! use perpbot_kana::wire::WireLevel;
//!
//! let level: WireLevel = serde_json::from_str(
//!     r#"{"is_ask":true,"last_updated":"1739790988","market_id":"396","price":"6036","size":169320}"#,
//! ).unwrap();
//! assert_eq!(level.price.u64(), Ok(6036));
//! assert_eq!(level.size.u64(), Ok(169320)); // a JSON number and a string read the same
//! ```

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, Visitor};
use serde_json::value::RawValue;

use perpbot_model::{MarketId, MarketSpec};

// ---------------------------------------------------------------------------------------------
// Value types
// ---------------------------------------------------------------------------------------------

/// Why a [`Num`] could not be converted. The `Display` text completes a sentence that starts with
/// the value (`"abc" is not a decimal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumError {
    /// The JSON value is neither a number nor a string (null, bool, object, array).
    NotANumber,
    /// The text is not a plain decimal (`-?digits[.digits][e±digits]`).
    NotDecimal,
    /// The text is not a non-negative whole number.
    NotUnsigned,
    /// The value does not fit the target type.
    OutOfRange,
}

impl fmt::Display for NumError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NumError::NotANumber => "is not a number or a numeric string",
            NumError::NotDecimal => "is not a decimal",
            NumError::NotUnsigned => "is not an unsigned integer",
            NumError::OutOfRange => "is out of range",
        })
    }
}

/// How a [`Num`] appeared in the JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumForm {
    /// A JSON string (`"5.518"`); the text is the string's content.
    Str,
    /// A JSON number (`5.518`); the text is the number literal exactly as sent.
    Number,
    /// Something else (`null`, `true`, an object, an array); the text is the raw JSON. Every
    /// conversion fails with [`NumError::NotANumber`].
    Other,
}

/// A numeric field as it appeared on the wire: a JSON string **or** a JSON number, kept as
/// borrowed text and converted exactly on demand.
///
/// Hand-written because no crate does exactly this: serde_json parses JSON numbers to `f64`
/// (losing `5.518` and 28-digit fees) unless its global `arbitrary_precision` feature is on,
/// which changes `serde_json::Value` for the whole dependency graph. Reading the value as a
/// borrowed `RawValue` gets the literal text instead, at no allocation. Accepting any JSON
/// value here (and failing at conversion) lets the decoder name the field in its error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Num<'a> {
    text: &'a str,
    form: NumForm,
}

impl<'a> Num<'a> {
    /// A numeric string value (as if the JSON had `"text"`).
    pub const fn from_str_value(text: &'a str) -> Num<'a> {
        Num {
            text,
            form: NumForm::Str,
        }
    }

    /// Classify raw JSON text (as `RawValue::get` returns it).
    pub fn from_raw_json(raw: &'a str) -> Num<'a> {
        let raw = raw.trim();
        match raw.as_bytes().first() {
            Some(b'"') if raw.len() >= 2 && raw.ends_with('"') => Num {
                // Escapes are left in place: a numeric string never has any, and a string that
                // does fails conversion with its text shown.
                text: raw.get(1..raw.len() - 1).unwrap_or(""),
                form: NumForm::Str,
            },
            Some(b'-' | b'0'..=b'9') => Num {
                text: raw,
                form: NumForm::Number,
            },
            _ => Num {
                text: raw,
                form: NumForm::Other,
            },
        }
    }

    /// The text: the string's content, the number literal, or the raw JSON of anything else.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// How the value appeared.
    pub fn form(&self) -> NumForm {
        self.form
    }

    /// Exact decimal value. Values with more than 28 fractional digits (more than
    /// `rust_decimal` holds) are **rounded explicitly** to 28 significant digits, ties away
    /// from zero; Kana's longest observed values (fees such as `"0.0326969090000000006806411505"`)
    /// have exactly 28 and are kept exact.
    pub fn decimal(&self) -> Result<Decimal, NumError> {
        let t = self.checked_text()?;
        let (mantissa, exponent) = split_decimal(t).ok_or(NumError::NotDecimal)?;
        if exponent.is_some() {
            return Decimal::from_scientific(t).map_err(|_| NumError::OutOfRange);
        }
        match Decimal::from_str_exact(mantissa) {
            Ok(d) => Ok(d),
            // Too many fractional digits: round to the nearest representable value on purpose
            // (rust_decimal's `from_str` rounds half away from zero; see the unit test).
            Err(rust_decimal::Error::Underflow) => {
                Decimal::from_str(mantissa).map_err(|_| NumError::OutOfRange)
            }
            Err(_) => Err(NumError::OutOfRange),
        }
    }

    /// Exact non-negative integer. A zero fraction (`"1000.0"`) is accepted; anything else that
    /// is not a whole number is an error.
    pub fn u128(&self) -> Result<u128, NumError> {
        let t = self.checked_text()?;
        let (int, frac) = t.split_once('.').unwrap_or((t, ""));
        if int.is_empty()
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b == b'0')
            || (t.contains('.') && frac.is_empty())
        {
            return Err(NumError::NotUnsigned);
        }
        int.parse::<u128>().map_err(|_| NumError::OutOfRange)
    }

    /// Exact non-negative integer that fits `u64`.
    pub fn u64(&self) -> Result<u64, NumError> {
        u64::try_from(self.u128()?).map_err(|_| NumError::OutOfRange)
    }

    /// Exact non-negative integer that fits `u32`.
    pub fn u32(&self) -> Result<u32, NumError> {
        u32::try_from(self.u128()?).map_err(|_| NumError::OutOfRange)
    }

    fn checked_text(&self) -> Result<&'a str, NumError> {
        match self.form {
            NumForm::Other => Err(NumError::NotANumber),
            NumForm::Str | NumForm::Number => Ok(self.text.trim()),
        }
    }
}

/// Split `-?digits[.digits][(e|E)[+-]digits]` into (mantissa, exponent); `None` if the text is
/// not of that form. Stricter than `Decimal::from_str`, which also takes `1_000`, `+5`, `.5`.
fn split_decimal(t: &str) -> Option<(&str, Option<&str>)> {
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (t.get(..i)?, Some(t.get(i + 1..)?)),
        None => (t, None),
    };
    let unsigned = mantissa.strip_prefix('-').unwrap_or(mantissa);
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !digits(frac) {
        return None;
    }
    if let Some(e) = exponent {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        if !digits(e) {
            return None;
        }
    }
    Some((mantissa, exponent))
}

impl<'de: 'a, 'a> Deserialize<'de> for Num<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <&'de RawValue>::deserialize(d)?;
        Ok(Num::from_raw_json(raw.get()))
    }
}

/// A boolean that may also arrive as `"true"`/`"false"` or `1`/`0`. Kana sends real JSON
/// booleans in every sample; the other forms are accepted defensively (\[INF\], §2.2 says values
/// are loosely typed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a boolean")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Flag, E> {
                match v {
                    0 => Ok(Flag(false)),
                    1 => Ok(Flag(true)),
                    _ => Err(E::invalid_value(de::Unexpected::Unsigned(v), &self)),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Flag, E> {
                match v {
                    0 => Ok(Flag(false)),
                    1 => Ok(Flag(true)),
                    _ => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Flag, E> {
                if v.eq_ignore_ascii_case("true") {
                    Ok(Flag(true))
                } else if v.eq_ignore_ascii_case("false") {
                    Ok(Flag(false))
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A string that borrows from the frame when it has no escapes (serde's own `Cow<str>` impl
/// always allocates unless the field is marked `borrow`, which does not reach inside `Option`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<'a>(pub Cow<'a, str>);

impl Text<'_> {
    /// The string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// Marks that a key is present, whatever its value (even `null`). Used to recognise a record's
/// shape when a frame carries no `message`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Present(pub bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d).map(|_| Present(true))
    }
}

// ---------------------------------------------------------------------------------------------
// WebSocket envelope and records
// ---------------------------------------------------------------------------------------------

/// A WebSocket push: `{"data": [...], "message": "<topic>"}` (reference §7.3). `message` is
/// missing in the docs' `recent_trades` sample, so it is optional; `data` is kept raw so that it
/// can be parsed once the topic is known (the samples put `message` *after* `data`).
#[derive(Debug, Deserialize)]
pub struct WsEnvelope<'a> {
    /// The records (normally a list; `null` or absent means none).
    #[serde(borrow, default)]
    pub data: Option<&'a RawValue>,
    /// The topic name.
    #[serde(borrow, default)]
    pub message: Option<Text<'a>>,
}

/// One order-book level (`orderbook` topic, §7.4). Borrowed; no allocation per level.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct WireLevel<'a> {
    /// `true` for an ask level, `false` for a bid level.
    pub is_ask: Flag,
    /// Price: human quote per coin on G4/G5 hosts, ticks on the old host.
    #[serde(borrow)]
    pub price: Num<'a>,
    /// Total size at the level: human base coins on G4/G5 hosts, lots on the old host.
    #[serde(borrow)]
    pub size: Num<'a>,
    /// Market id (string or number).
    #[serde(borrow)]
    pub market_id: Num<'a>,
    /// Unix seconds of the level's last change.
    #[serde(borrow, default)]
    pub last_updated: Option<Num<'a>>,
}

/// A position (`positions` topic §7.4, REST `getPositions` §4.4.2).
#[derive(Debug, Clone, Deserialize)]
pub struct WirePosition<'a> {
    /// Profile address.
    #[serde(borrow, default)]
    pub address: Option<Text<'a>>,
    /// Market id.
    #[serde(borrow)]
    pub market_id: Num<'a>,
    /// `true` for the long side (REST and, presumably, the G4 WS).
    #[serde(default)]
    pub trade_side: Option<Flag>,
    /// `true` for the long side (old WS name of `trade_side`).
    #[serde(default)]
    pub is_long: Option<Flag>,
    /// Size (human coins / lots).
    #[serde(borrow)]
    pub size: Num<'a>,
    /// Size not already committed to closing orders (\[INF\] meaning).
    #[serde(borrow, default)]
    pub available_order_size: Option<Num<'a>>,
    /// Average entry price (human / fractional ticks).
    #[serde(borrow)]
    pub entry_price: Num<'a>,
    /// Notional (human quote / quote sub-units).
    #[serde(borrow, default)]
    pub value: Option<Num<'a>>,
    /// Isolated margin (human quote / quote sub-units).
    #[serde(borrow)]
    pub margin: Num<'a>,
    /// Leverage.
    #[serde(borrow)]
    pub leverage: Num<'a>,
    /// Liquidation price (human / fractional ticks).
    #[serde(borrow, default)]
    pub liq_price: Option<Num<'a>>,
    /// Take-profit price; `null` or `0` when not set.
    #[serde(borrow, default)]
    pub tp: Option<Num<'a>>,
    /// Stop-loss price; `null` or `0` when not set.
    #[serde(borrow, default)]
    pub sl: Option<Num<'a>>,
    /// Position key (u128 decimal string).
    #[serde(borrow, default)]
    pub trade_id: Option<Num<'a>>,
    /// Unix seconds of the last change.
    #[serde(borrow, default)]
    pub last_updated: Option<Num<'a>>,
    /// Aptos ledger version (G4).
    #[serde(borrow, default)]
    pub transaction_version: Option<Num<'a>>,
}

impl WirePosition<'_> {
    /// The position side flag, `trade_side` preferred over `is_long`.
    pub fn is_long(&self) -> Option<bool> {
        self.trade_side.or(self.is_long).map(|f| f.0)
    }
}

/// A fill / trade record: `trade_history`, `live_trade_history`, `recent_trades` (§7.4) and REST
/// `getTradeHistory` (§4.4.4).
#[derive(Debug, Clone, Deserialize)]
pub struct WireTrade<'a> {
    /// Profile address of the party this record belongs to.
    #[serde(borrow, default)]
    pub address: Option<Text<'a>>,
    /// Market id.
    #[serde(borrow)]
    pub market_id: Num<'a>,
    /// Leverage.
    #[serde(borrow, default)]
    pub leverage: Option<Num<'a>>,
    /// Unix seconds of the trade.
    #[serde(borrow, default)]
    pub timestamp: Option<Num<'a>>,
    /// Fill size (human coins / lots).
    #[serde(borrow)]
    pub size: Num<'a>,
    /// Kana order type code (§8.1).
    #[serde(borrow)]
    pub order_type: Num<'a>,
    /// Fill price (human / ticks).
    #[serde(borrow)]
    pub price: Num<'a>,
    /// Notional (human quote / sub-units).
    #[serde(borrow, default)]
    pub order_value: Option<Num<'a>>,
    /// Realised PnL of this fill (human quote / sub-units).
    #[serde(borrow, default)]
    pub pnl: Option<Num<'a>>,
    /// Fee charged (human quote / sub-units); `0` for makers.
    #[serde(borrow, default)]
    pub fee: Option<Num<'a>>,
    /// Trade (position) id, u128 decimal string.
    #[serde(borrow)]
    pub trade_id: Num<'a>,
    /// Order id, u128 decimal string, when given.
    #[serde(borrow, default)]
    pub order_id: Option<Num<'a>>,
    /// Unix seconds of the record's last change.
    #[serde(borrow, default)]
    pub last_updated: Option<Num<'a>>,
    /// Aptos ledger version (G4).
    #[serde(borrow, default)]
    pub transaction_version: Option<Num<'a>>,
    /// Entry price of the position (REST; often `null`).
    #[serde(borrow, default)]
    pub entry_price: Option<Num<'a>>,
    /// Position side, if the record carries it (not in any sample).
    #[serde(default)]
    pub trade_side: Option<Flag>,
    /// Position side, old name (not in any trade sample).
    #[serde(default)]
    pub is_long: Option<Flag>,
}

impl WireTrade<'_> {
    /// An explicit position-side flag, if the record has one.
    pub fn is_long(&self) -> Option<bool> {
        self.trade_side.or(self.is_long).map(|f| f.0)
    }
}

/// A resting order: `open_orders` (§7.4) and REST `getOpenOrders` (§4.4.1).
#[derive(Debug, Clone, Deserialize)]
pub struct WireOpenOrder<'a> {
    /// Profile address.
    #[serde(borrow, default)]
    pub address: Option<Text<'a>>,
    /// Market id.
    #[serde(borrow)]
    pub market_id: Num<'a>,
    /// Leverage.
    #[serde(borrow)]
    pub leverage: Num<'a>,
    /// Kana order type code (§8.1).
    #[serde(borrow)]
    pub order_type: Num<'a>,
    /// Unix seconds of placement.
    #[serde(borrow, default)]
    pub timestamp: Option<Num<'a>>,
    /// Limit price (human / ticks).
    #[serde(borrow)]
    pub price: Num<'a>,
    /// Original size (human / lots).
    #[serde(borrow)]
    pub total_size: Num<'a>,
    /// Size still resting (human / lots).
    #[serde(borrow)]
    pub remaining_size: Num<'a>,
    /// Notional.
    #[serde(borrow, default)]
    pub order_value: Option<Num<'a>>,
    /// Order id, u128 decimal string.
    #[serde(borrow)]
    pub order_id: Num<'a>,
    /// Position key the order belongs to.
    #[serde(borrow, default)]
    pub trade_id: Option<Num<'a>>,
    /// Unix seconds of the last change.
    #[serde(borrow, default)]
    pub last_updated: Option<Num<'a>>,
    /// Aptos ledger version (G4).
    #[serde(borrow, default)]
    pub transaction_version: Option<Num<'a>>,
    /// Position side, if the record carries it (not in any sample).
    #[serde(default)]
    pub trade_side: Option<Flag>,
    /// Position side, old name (not in any sample).
    #[serde(default)]
    pub is_long: Option<Flag>,
}

impl WireOpenOrder<'_> {
    /// An explicit position-side flag, if the record has one.
    pub fn is_long(&self) -> Option<bool> {
        self.trade_side.or(self.is_long).map(|f| f.0)
    }
}

/// An order's status string (§8.2), normalised case-insensitively, ignoring spaces, `_` and `-`.
/// `"Open"` and `"Filled"` are \[DOC\]; `"Partially Filled"` and `"Cancelled"` are \[COMM\].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireOrderStatus {
    /// Resting.
    Open,
    /// Partly filled (still resting).
    PartiallyFilled,
    /// Completely filled.
    Filled,
    /// Cancelled (`Cancelled` or `Canceled`).
    Cancelled,
    /// Anything else, verbatim.
    Other(String),
}

impl WireOrderStatus {
    /// Normalise a status string.
    pub fn parse(s: &str) -> WireOrderStatus {
        let is = |target: &str| {
            let mut a = s.bytes().filter(|b| !matches!(b, b' ' | b'_' | b'-'));
            let mut b = target.bytes();
            loop {
                match (a.next(), b.next()) {
                    (None, None) => return true,
                    (Some(x), Some(y)) if x.eq_ignore_ascii_case(&y) => {}
                    _ => return false,
                }
            }
        };
        if is("open") {
            WireOrderStatus::Open
        } else if is("partiallyfilled") {
            WireOrderStatus::PartiallyFilled
        } else if is("filled") {
            WireOrderStatus::Filled
        } else if is("cancelled") || is("canceled") {
            WireOrderStatus::Cancelled
        } else {
            WireOrderStatus::Other(s.to_owned())
        }
    }
}

impl<'de> Deserialize<'de> for WireOrderStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = WireOrderStatus;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an order status string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<WireOrderStatus, E> {
                Ok(WireOrderStatus::parse(v))
            }
        }
        d.deserialize_str(V)
    }
}

/// An order-history / order-status record: `order_history`, `live_order_history` (§7.4) and REST
/// `getOrderHistory` / `fetchOrderStatusById` (§4.4.3).
#[derive(Debug, Clone, Deserialize)]
pub struct WireOrderHistory<'a> {
    /// Profile address.
    #[serde(borrow, default)]
    pub address: Option<Text<'a>>,
    /// Market id.
    #[serde(borrow)]
    pub market_id: Num<'a>,
    /// Leverage.
    #[serde(borrow, default)]
    pub leverage: Option<Num<'a>>,
    /// Kana order type code (§8.1).
    #[serde(borrow, default)]
    pub order_type: Option<Num<'a>>,
    /// Unix seconds of placement.
    #[serde(borrow, default)]
    pub timestamp: Option<Num<'a>>,
    /// Market (`true`) or limit order.
    #[serde(default)]
    pub is_market_order: Option<Flag>,
    /// Order size (human / lots).
    #[serde(borrow, default)]
    pub size: Option<Num<'a>>,
    /// Limit price (human / ticks).
    #[serde(borrow, default)]
    pub price: Option<Num<'a>>,
    /// Notional.
    #[serde(borrow, default)]
    pub order_value: Option<Num<'a>>,
    pub status: WireOrderStatus,
    /// Order id, u128 decimal string.
    #[serde(borrow)]
    pub order_id: Num<'a>,
    /// Position key.
    #[serde(borrow, default)]
    pub trade_id: Option<Num<'a>>,
    /// Unix seconds of the last status change.
    #[serde(borrow, default)]
    pub last_updated: Option<Num<'a>>,
    /// Aptos ledger version (G4).
    #[serde(borrow, default)]
    pub transaction_version: Option<Num<'a>>,
    /// Filled so far (`fetchOrderStatusById`, \[COMM\]).
    #[serde(borrow, default)]
    pub total_filled: Option<Num<'a>>,
    /// Still resting (`fetchOrderStatusById`, \[COMM\]).
    #[serde(borrow, default)]
    pub remaining_size: Option<Num<'a>>,
    /// Total traded (`fetchOrderStatusById`, \[COMM\]).
    #[serde(borrow, default)]
    pub total_trade_size: Option<Num<'a>>,
}

/// A funding-rate record (`live_funding_rate`, §7.4).
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct WireFunding<'a> {
    /// Market id.
    #[serde(borrow)]
    pub market_id: Num<'a>,
    /// Rate per interval as a decimal fraction (\[UNK\] format of non-zero values, §9.3).
    #[serde(borrow)]
    pub funding_rate: Num<'a>,
    /// Unix seconds; `0` in the samples (\[UNK\] meaning).
    #[serde(borrow, default)]
    pub funding_timestamp: Option<Num<'a>>,
    /// Unix seconds of the record's last change.
    #[serde(borrow, default)]
    pub last_updated: Option<Num<'a>>,
    /// Unix seconds of the on-chain update (on the hour in the samples).
    #[serde(borrow, default)]
    pub transaction_timestamp: Option<Num<'a>>,
    /// Aptos ledger version.
    #[serde(borrow, default)]
    pub transaction_version: Option<Num<'a>>,
}

/// A best bid/ask record (`bestPrice` topic). The shape is \[UNK\] (no sample, §7.4): this accepts
/// the REST `getMarketPrice` names (`bestBidPrice`/`bestAskPrice`, §4.2.3) and the plausible
/// snake-case and short forms; either side may be `null` or missing (empty side).
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct WireBestPrice<'a> {
    /// Market id (records without one cannot be attributed and are skipped).
    #[serde(borrow, default)]
    pub market_id: Option<Num<'a>>,
    /// Best bid price.
    #[serde(
        borrow,
        default,
        rename = "bestBidPrice",
        alias = "best_bid_price",
        alias = "bestBid",
        alias = "best_bid",
        alias = "bid"
    )]
    pub best_bid: Option<Num<'a>>,
    /// Best ask price.
    #[serde(
        borrow,
        default,
        rename = "bestAskPrice",
        alias = "best_ask_price",
        alias = "bestAsk",
        alias = "best_ask",
        alias = "ask"
    )]
    pub best_ask: Option<Num<'a>>,
    /// Unix seconds of the last change, if given.
    #[serde(borrow, default, alias = "timestamp")]
    pub last_updated: Option<Num<'a>>,
}

/// The keys that tell one record shape from another, for frames without `message`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[allow(non_snake_case)]
pub struct WireShape {
    /// Orderbook level.
    #[serde(default)]
    pub is_ask: Present,
    /// Funding record.
    #[serde(default)]
    pub funding_rate: Present,
    /// Order-history record.
    #[serde(default)]
    pub status: Present,
    /// Open-order record.
    #[serde(default)]
    pub remaining_size: Present,
    /// Position record.
    #[serde(default)]
    pub liq_price: Present,
    /// Position record (REST / G4).
    #[serde(default)]
    pub trade_side: Present,
    /// Position record (old WS).
    #[serde(default)]
    pub is_long: Present,
    /// Trade / fill record.
    #[serde(default)]
    pub fee: Present,
    /// Trade / fill record.
    #[serde(default)]
    pub trade_id: Present,
    /// Best-price record.
    #[serde(default)]
    pub bestBidPrice: Present,
    /// Best-price record.
    #[serde(default)]
    pub bestAskPrice: Present,
    /// Best-price record.
    #[serde(default)]
    pub best_bid_price: Present,
    /// Best-price record.
    #[serde(default)]
    pub best_ask_price: Present,
}

// ---------------------------------------------------------------------------------------------
// REST: market info
// ---------------------------------------------------------------------------------------------

/// Errors turning REST / config JSON into typed values. Messages name the field and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The text is not the JSON expected.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// A field's value is unusable.
    #[error("field `{field}`: {value:?} {reason}")]
    Field {
        /// Field name.
        field: &'static str,
        /// The value as sent.
        value: String,
        /// Why it is unusable (completes "`<value>` …").
        reason: String,
    },
    /// The REST envelope says the call failed (`success`/`status` false).
    #[error("venue reported failure: {0}")]
    Rest(String),
    /// The resulting market spec does not describe a usable grid.
    #[error("invalid market spec: {0}")]
    InvalidSpec(String),
}

impl From<serde_json::Error> for WireError {
    fn from(e: serde_json::Error) -> WireError {
        WireError::Json(e.to_string())
    }
}

/// A market record from `getMarketInfo` / `getPerpetualAssetsInfo` (reference §3.2, §4.2.1).
/// Unknown extra fields (and `__variant__`) are tolerated.
#[derive(Debug, Clone, Deserialize)]
pub struct MarketInfo<'a> {
    /// Move enum variant, `"V1"` (G3+).
    #[serde(borrow, default, rename = "__variant__")]
    pub variant: Option<Text<'a>>,
    /// Market id.
    #[serde(borrow)]
    pub market_id: Num<'a>,
    /// Display name (`APT/USDC`, `BTC-USD`, …).
    #[serde(borrow, default)]
    pub base_name: Option<Text<'a>>,
    /// Decimals of the base asset.
    #[serde(borrow)]
    pub base_decimals: Num<'a>,
    /// Decimals of the quote asset.
    #[serde(borrow)]
    pub quote_decimals: Num<'a>,
    /// Decimals in a human price.
    #[serde(borrow)]
    pub quote_precision: Num<'a>,
    /// Base sub-units per lot.
    #[serde(borrow)]
    pub lot_size: Num<'a>,
    /// Quote sub-units per tick (per lot).
    #[serde(borrow)]
    pub tick_size: Num<'a>,
    /// Smallest order in lots.
    #[serde(borrow)]
    pub min_lots: Num<'a>,
    /// Largest order in lots.
    #[serde(borrow)]
    pub max_lots: Num<'a>,
    /// Highest leverage.
    #[serde(borrow)]
    pub max_leverage: Num<'a>,
    /// Maintenance margin in basis points of notional.
    #[serde(borrow)]
    pub maintenance_margin: Num<'a>,
    /// Position value cap (\[UNK\] unit).
    #[serde(borrow, default)]
    pub max_position_value: Option<Num<'a>>,
    /// `1` = active (\[COMM\]/\[INF\]).
    #[serde(borrow, default)]
    pub market_status: Option<Num<'a>>,
    /// Market object address.
    #[serde(borrow, default)]
    pub market_address: Option<Text<'a>>,
    /// Market creator (G3+).
    #[serde(borrow, default)]
    pub creator: Option<Text<'a>>,
    /// Market creator (G2 name).
    #[serde(borrow, default)]
    pub creator_address: Option<Text<'a>>,
    /// Fee wallet (G4).
    #[serde(borrow, default)]
    pub fee_address: Option<Text<'a>>,
    /// Econia custodian id (G4).
    #[serde(borrow, default)]
    pub custodian_id: Option<Num<'a>>,
    /// \[UNK\] meaning (G4).
    #[serde(default)]
    pub is_recognised: Option<Flag>,
    /// \[UNK\] meaning.
    #[serde(borrow, default)]
    pub counter: Option<Num<'a>>,
}

fn field<T>(name: &'static str, n: Num<'_>, r: Result<T, NumError>) -> Result<T, WireError> {
    r.map_err(|e| WireError::Field {
        field: name,
        value: n.text().to_owned(),
        reason: e.to_string(),
    })
}

impl MarketInfo<'_> {
    /// The market's grid as a validated [`MarketSpec`]. The name is `base_name` (or
    /// `market <id>` when missing).
    pub fn to_spec(&self) -> Result<MarketSpec, WireError> {
        let id = field("market_id", self.market_id, self.market_id.u64())?;
        let spec = MarketSpec {
            id: MarketId(id),
            name: self
                .base_name
                .as_ref()
                .map_or_else(|| format!("market {id}"), |n| n.as_str().to_owned()),
            base_decimals: field(
                "base_decimals",
                self.base_decimals,
                self.base_decimals.u32(),
            )?,
            quote_decimals: field(
                "quote_decimals",
                self.quote_decimals,
                self.quote_decimals.u32(),
            )?,
            lot_size: field("lot_size", self.lot_size, self.lot_size.u64())?,
            tick_size: field("tick_size", self.tick_size, self.tick_size.u64())?,
            min_lots: field("min_lots", self.min_lots, self.min_lots.u64())?,
            max_lots: field("max_lots", self.max_lots, self.max_lots.u64())?,
            max_leverage: field("max_leverage", self.max_leverage, self.max_leverage.u32())?,
            maintenance_margin_bps: field(
                "maintenance_margin",
                self.maintenance_margin,
                self.maintenance_margin.u32(),
            )?,
            quote_precision: field(
                "quote_precision",
                self.quote_precision,
                self.quote_precision.u32(),
            )?,
        };
        spec.validate().map_err(WireError::InvalidSpec)?;
        Ok(spec)
    }
}

/// The REST envelope `{success, message, data}` (G2+) or `{status, message, data}` (G0/G1),
/// reference §2.1. `success`/`status` are kept raw because their type varies.
#[derive(Debug, Deserialize)]
pub struct RestEnvelope<'a> {
    /// G2+ success flag.
    #[serde(borrow, default)]
    pub success: Option<&'a RawValue>,
    /// G0/G1 success flag.
    #[serde(borrow, default)]
    pub status: Option<&'a RawValue>,
    /// Human-readable message.
    #[serde(borrow, default)]
    pub message: Option<Text<'a>>,
    /// The payload.
    #[serde(borrow, default)]
    pub data: Option<&'a RawValue>,
}

impl RestEnvelope<'_> {
    /// False when `success` or `status` is the JSON literal `false` (or `"false"`); a missing
    /// flag counts as success (\[INF\]: no source shows an envelope without either flag; the
    /// payload is still checked, so a missing `data` fails where it is read).
    pub fn succeeded(&self) -> bool {
        let is_false = |v: Option<&RawValue>| {
            v.is_some_and(|r| matches!(r.get().trim(), "false" | "\"false\""))
        };
        !(is_false(self.success) || is_false(self.status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn num(json: &str) -> Num<'_> {
        serde_json::from_str::<Num>(json).unwrap()
    }

    #[test]
    fn num_reads_strings_and_numbers_exactly() {
        assert_eq!(num("\"5.518\"").decimal(), Ok(dec!(5.518)));
        assert_eq!(num("5.518").decimal(), Ok(dec!(5.518)));
        assert_eq!(num("1746177751").u64(), Ok(1_746_177_751));
        assert_eq!(num("\"1739788459\"").u64(), Ok(1_739_788_459));
        assert_eq!(
            num("\"0.0326969090000000006806411505\"").decimal(),
            Ok(dec!(0.0326969090000000006806411505))
        );
        assert_eq!(
            num("-0.0682499090000000006806411505").decimal(),
            Ok(dec!(-0.0682499090000000006806411505))
        );
        assert_eq!(
            num("\"161668980614256490457451450\"").u128(),
            Ok(161_668_980_614_256_490_457_451_450)
        );
        assert_eq!(num("\"1000.00\"").u64(), Ok(1000));
        assert_eq!(num("1.5e-3").decimal(), Ok(dec!(0.0015)));
    }

    #[test]
    fn num_rejects_loose_forms_and_names_them() {
        assert_eq!(num("\"abc\"").decimal(), Err(NumError::NotDecimal));
        assert_eq!(num("\"1_000\"").decimal(), Err(NumError::NotDecimal));
        assert_eq!(num("\"+5\"").decimal(), Err(NumError::NotDecimal));
        assert_eq!(num("\".5\"").decimal(), Err(NumError::NotDecimal));
        assert_eq!(num("\"\"").decimal(), Err(NumError::NotDecimal));
        assert_eq!(num("\"-1\"").u64(), Err(NumError::NotUnsigned));
        assert_eq!(num("\"1.5\"").u64(), Err(NumError::NotUnsigned));
        assert_eq!(num("\"1.\"").u64(), Err(NumError::NotUnsigned));
        assert_eq!(num("true").decimal(), Err(NumError::NotANumber));
        assert_eq!(num("{\"a\":1}").u64(), Err(NumError::NotANumber));
        assert_eq!(
            num("\"99999999999999999999\"").u64(),
            Err(NumError::OutOfRange)
        );
        assert_eq!(num("\"5.518\"").text(), "5.518");
        assert_eq!(num("\"5.518\"").form(), NumForm::Str);
        assert_eq!(num(" 5.518").form(), NumForm::Number);
    }

    #[test]
    fn num_rounds_beyond_28_digits_explicitly() {
        // 29 fractional digits: rounded to 28, ties away from zero.
        assert_eq!(
            num("\"0.12345678901234567890123456785\"").decimal(),
            Ok(dec!(0.1234567890123456789012345679))
        );
        assert_eq!(
            num("\"123456789012345678901234567890\"").decimal(),
            Err(NumError::OutOfRange)
        );
    }

    #[test]
    fn flags_and_statuses_are_tolerant() {
        assert_eq!(serde_json::from_str::<Flag>("true").unwrap(), Flag(true));
        assert_eq!(
            serde_json::from_str::<Flag>("\"False\"").unwrap(),
            Flag(false)
        );
        assert_eq!(serde_json::from_str::<Flag>("1").unwrap(), Flag(true));
        assert!(serde_json::from_str::<Flag>("\"maybe\"").is_err());
        let st = |s: &str| serde_json::from_str::<WireOrderStatus>(s).unwrap();
        assert_eq!(st("\"Open\""), WireOrderStatus::Open);
        assert_eq!(st("\"FILLED\""), WireOrderStatus::Filled);
        assert_eq!(st("\"Partially Filled\""), WireOrderStatus::PartiallyFilled);
        assert_eq!(st("\"partially_filled\""), WireOrderStatus::PartiallyFilled);
        assert_eq!(st("\"Canceled\""), WireOrderStatus::Cancelled);
        assert_eq!(st("\"cancelled\""), WireOrderStatus::Cancelled);
        assert_eq!(st("\"Expired\""), WireOrderStatus::Other("Expired".into()));
    }

    #[test]
    fn text_borrows_when_unescaped() {
        let t: Text = serde_json::from_str("\"orderbook\"").unwrap();
        assert!(matches!(t.0, Cow::Borrowed("orderbook")));
        let t: Text = serde_json::from_str("\"a\\\"b\"").unwrap();
        assert_eq!(t.as_str(), "a\"b");
    }

    const MARKET_INFO_1338: &str = r#"{
        "__variant__": "V1", "base_decimals": 8, "base_name": "APT/USDC", "counter": "0",
        "creator": "0xb61d7b57333abf8ac036e752f19d0ba0c4baa5404db1cbf868c57dac3628f2bf",
        "custodian_id": "75",
        "fee_address": "0x7724a4a23b25b460abc2a5d9fe1fe3c47e2a0e10a156dd713a221f129579c388",
        "is_recognised": false, "lot_size": "100000", "maintenance_margin": "250",
        "market_address": "0xcfa0086c26787035de6b4a312875c7a70b2f9a29fa880d0cf633ef3dd0acd2c3",
        "market_id": "1338", "market_status": 1, "max_leverage": "20", "max_lots": "150000000",
        "max_position_value": "125000000", "min_lots": "500", "quote_decimals": 6,
        "quote_precision": 3, "tick_size": "1", "last_updated": 1746177751, "extra": {"x": [1]}
    }"#;

    #[test]
    fn market_info_maps_to_the_documented_spec() {
        let info: MarketInfo = serde_json::from_str(MARKET_INFO_1338).unwrap();
        let spec = info.to_spec().unwrap();
        let expected = MarketSpec {
            name: "APT/USDC".into(),
            ..MarketSpec::kana_apt_testnet()
        };
        assert_eq!(spec, expected);
        assert_eq!(info.variant.as_ref().map(Text::as_str), Some("V1"));
    }

    #[test]
    fn market_info_errors_name_the_field() {
        let bad = MARKET_INFO_1338.replace(r#""lot_size": "100000""#, r#""lot_size": "1e5x""#);
        let info: MarketInfo = serde_json::from_str(&bad).unwrap();
        assert_eq!(
            info.to_spec().unwrap_err().to_string(),
            "field `lot_size`: \"1e5x\" is not an unsigned integer"
        );
        let zero = MARKET_INFO_1338.replace(r#""tick_size": "1""#, r#""tick_size": 0"#);
        let info: MarketInfo = serde_json::from_str(&zero).unwrap();
        assert!(
            matches!(info.to_spec(), Err(WireError::InvalidSpec(m)) if m.contains("tick_size"))
        );
    }

    #[test]
    fn rest_envelope_success_flags() {
        let ok: RestEnvelope = serde_json::from_str(r#"{"success":true,"data":[]}"#).unwrap();
        assert!(ok.succeeded());
        let bad: RestEnvelope =
            serde_json::from_str(r#"{"status":false,"message":"nope","data":null}"#).unwrap();
        assert!(!bad.succeeded());
    }
}
