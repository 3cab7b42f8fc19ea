//! A typed message from JSON, as `perpbot kyan sign` takes it: the EIP-712 field names,
//! integers as decimal strings (JSON integers are taken too), addresses as `0x` hex, nested
//! structs as objects. Strict: a missing or unknown field, a negative or fractional integer, an
//! integer too large for its type or a malformed address is an error naming the field.

use std::str::FromStr;

use alloy_primitives::{Address, U256};
use serde_json::{Map, Value};

use super::types::{
    CancelAllOrdersType, CancelOrdersType, HeartbeatType, OneClickSignature, OrderTyped,
    TypedMessage, UserEditOrder, UserLimitOrder, UserMarketOrder,
};

/// Why a message cannot be read; names the field (`marketOrder.size` for nested ones).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Not one of the typed messages.
    #[error("unknown type {0:?}; one of {types}", types = TypedMessage::TYPES.join(", "))]
    UnknownType(String),
    /// Not a JSON object.
    #[error("the message must be a JSON object: {0}")]
    NotAnObject(String),
    /// A field the type has is absent.
    #[error("{0}: missing")]
    Missing(String),
    /// A field the type does not have.
    #[error("{0}: not a field of {1}")]
    Extra(String, &'static str),
    /// A field's value is wrong.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

/// The fields of one object, each taken once; what is left at the end is an error.
struct Fields {
    prefix: String,
    obj: Map<String, Value>,
    ty: &'static str,
}

impl Fields {
    fn new(value: Value, prefix: &str, ty: &'static str) -> Result<Fields, MessageError> {
        match value {
            Value::Object(obj) => Ok(Fields {
                prefix: prefix.to_string(),
                obj,
                ty,
            }),
            other => Err(MessageError::Invalid {
                field: if prefix.is_empty() {
                    "message".into()
                } else {
                    prefix.trim_end_matches('.').to_string()
                },
                reason: format!("an object is expected, not {other}"),
            }),
        }
    }

    fn name(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn take(&mut self, key: &str) -> Result<Value, MessageError> {
        self.obj
            .remove(key)
            .ok_or_else(|| MessageError::Missing(self.name(key)))
    }

    fn invalid(&self, key: &str, reason: impl Into<String>) -> MessageError {
        MessageError::Invalid {
            field: self.name(key),
            reason: reason.into(),
        }
    }

    fn uint(&mut self, key: &str, bits: usize) -> Result<U256, MessageError> {
        let text = match self.take(key)? {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            other => return Err(self.invalid(key, format!("an integer is expected, not {other}"))),
        };
        let text = text.trim();
        if text.starts_with('-') {
            return Err(self.invalid(key, format!("{text:?} is negative")));
        }
        if !text.bytes().all(|b| b.is_ascii_digit()) || text.is_empty() {
            return Err(self.invalid(
                key,
                format!("{text:?} is not a whole number in decimal digits"),
            ));
        }
        let v = U256::from_str_radix(text, 10)
            .map_err(|_| self.invalid(key, format!("{text:?} does not fit in uint256")))?;
        if bits < 256 && v >= (U256::from(1u8) << bits) {
            return Err(self.invalid(key, format!("{text} does not fit in uint{bits}")));
        }
        Ok(v)
    }

    fn u8(&mut self, key: &str) -> Result<u8, MessageError> {
        let v = self.uint(key, 8)?;
        u8::try_from(v).map_err(|_| self.invalid(key, "does not fit in uint8"))
    }

    fn bool(&mut self, key: &str) -> Result<bool, MessageError> {
        match self.take(key)? {
            Value::Bool(b) => Ok(b),
            other => Err(self.invalid(key, format!("true or false is expected, not {other}"))),
        }
    }

    fn string(&mut self, key: &str) -> Result<String, MessageError> {
        match self.take(key)? {
            Value::String(s) => Ok(s),
            other => Err(self.invalid(key, format!("a string is expected, not {other}"))),
        }
    }

    fn strings(&mut self, key: &str) -> Result<Vec<String>, MessageError> {
        match self.take(key)? {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s),
                    other => Err(self.invalid(
                        &format!("{key}[{i}]"),
                        format!("a string is expected, not {other}"),
                    )),
                })
                .collect(),
            other => {
                Err(self.invalid(key, format!("an array of strings is expected, not {other}")))
            }
        }
    }

    fn address(&mut self, key: &str) -> Result<Address, MessageError> {
        let text = self.string(key)?;
        let digits = text.strip_prefix("0x").unwrap_or("");
        if digits.len() != 40 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.invalid(
                key,
                format!("{text:?} is not an address (0x and 40 hex digits)"),
            ));
        }
        Address::from_str(&text).map_err(|e| self.invalid(key, e.to_string()))
    }

    fn nested(&mut self, key: &str, ty: &'static str) -> Result<Fields, MessageError> {
        let value = self.take(key)?;
        Fields::new(value, &format!("{}{key}.", self.prefix), ty)
    }

    /// Every field was read: anything left over is not the type's.
    fn done(self) -> Result<(), MessageError> {
        match self.obj.keys().next() {
            Some(extra) => Err(MessageError::Extra(
                format!("{}{extra}", self.prefix),
                self.ty,
            )),
            None => Ok(()),
        }
    }
}

fn order_typed(mut f: Fields) -> Result<OrderTyped, MessageError> {
    let m = OrderTyped {
        instrumentName: f.string("instrumentName")?,
        size: f.uint("size", 256)?,
        direction: f.u8("direction")?,
    };
    f.done()?;
    Ok(m)
}

/// Read the message of type `ty` from its JSON text.
pub fn parse(ty: &str, text: &str) -> Result<TypedMessage, MessageError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| MessageError::NotAnObject(e.to_string()))?;
    let ty_static = TypedMessage::TYPES
        .into_iter()
        .find(|t| *t == ty)
        .ok_or_else(|| MessageError::UnknownType(ty.to_string()))?;
    let mut f = Fields::new(value, "", ty_static)?;
    let message = match ty_static {
        "UserLimitOrder" => TypedMessage::LimitOrder(UserLimitOrder {
            deadline: f.uint("deadline", 256)?,
            instrumentName: f.string("instrumentName")?,
            size: f.uint("size", 256)?,
            price: f.uint("price", 256)?,
            taker: f.address("taker")?,
            maker: f.address("maker")?,
            direction: f.u8("direction")?,
            isLiquidation: f.bool("isLiquidation")?,
            isPostOnly: f.bool("isPostOnly")?,
            mmp: f.bool("mmp")?,
        }),
        "UserEditOrder" => TypedMessage::EditOrder(UserEditOrder {
            deadline: f.uint("deadline", 256)?,
            size: f.uint("size", 256)?,
            price: f.uint("price", 256)?,
            orderId: f.string("orderId")?,
        }),
        "UserMarketOrder" => TypedMessage::MarketOrder(UserMarketOrder {
            deadline: f.uint("deadline", 256)?,
            marketOrder: order_typed(f.nested("marketOrder", "OrderTyped")?)?,
            limitPrice: f.uint("limitPrice", 256)?,
            taker: f.address("taker")?,
        }),
        "CancelOrdersType" => TypedMessage::CancelOrders(CancelOrdersType {
            deadline: f.uint("deadline", 256)?,
            maker: f.address("maker")?,
            orderIds: f.strings("orderIds")?,
        }),
        "CancelAllOrdersType" => TypedMessage::CancelAllOrders(CancelAllOrdersType {
            deadline: f.uint("deadline", 256)?,
            maker: f.address("maker")?,
        }),
        "OneClickSignature" => TypedMessage::OneClick(OneClickSignature {
            deadline: f.uint("deadline", 256)?,
            user: f.address("user")?,
            bindToIp: f.bool("bindToIp")?,
        }),
        _ => TypedMessage::Heartbeat(HeartbeatType {
            deadline: f.uint("deadline", 256)?,
            maker: f.address("maker")?,
            timeout: f.uint("timeout", 256)?,
        }),
    };
    f.done()?;
    Ok(message)
}
