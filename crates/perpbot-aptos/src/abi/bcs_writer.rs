//! An argument's BCS bytes written straight from its JSON value and Move type, for every type an
//! entry function takes: the integers, `bool`, `address`, vectors, `0x1::string::String`,
//! `0x1::option::Option<T>`, `0x1::object::Object<T>` and the fixed points.
//!
//! Hand-written because it is only the BCS layout of those types (little-endian integers,
//! ULEB128 lengths, 32-byte addresses, an option as a vector of at most one element); the bcs
//! crate would need a typed value built first, which cost more than the encoding on every
//! transaction. The tests keep that typed value and the bcs crate as the oracle.

use serde_json::Value;

use super::{
    Conv, StructTag, TypeTag, address, bool_of, bytes, i256_le, invalid, is_option,
    raw_value_field, signed, signed_in_range, u256_le, unsigned, unsigned_in_range,
};

/// Append the BCS of `v` as `ty` to `out`. On an error `out` holds part of the value; the caller
/// throws it away.
pub(super) fn write_value(
    ty: &TypeTag,
    v: &Value,
    depth: usize,
    out: &mut Vec<u8>,
) -> Result<(), Conv> {
    // Type depth is bounded by the type parser; this is a second guard for hand-built TypeTags.
    if depth > crate::types::MAX_TYPE_DEPTH {
        return Err(Conv::Invalid("value nested too deeply".into()));
    }
    if v.is_null() && !is_option(ty) {
        return Err(Conv::Invalid(
            "null is not allowed (only Option<T> parameters accept null)".into(),
        ));
    }
    match ty {
        TypeTag::Bool => out.push(u8::from(bool_of(v)?)),
        TypeTag::U8 => out.push(unsigned_in_range::<u8>(v, "u8")?),
        TypeTag::U16 => out.extend_from_slice(&unsigned_in_range::<u16>(v, "u16")?.to_le_bytes()),
        TypeTag::U32 => out.extend_from_slice(&unsigned_in_range::<u32>(v, "u32")?.to_le_bytes()),
        TypeTag::U64 => out.extend_from_slice(&unsigned_in_range::<u64>(v, "u64")?.to_le_bytes()),
        TypeTag::U128 => out.extend_from_slice(&unsigned(v)?.to_le_bytes()),
        TypeTag::U256 => out.extend_from_slice(&u256_le(v)?),
        TypeTag::I8 => out.extend_from_slice(&signed_in_range::<i8>(v, "i8")?.to_le_bytes()),
        TypeTag::I16 => out.extend_from_slice(&signed_in_range::<i16>(v, "i16")?.to_le_bytes()),
        TypeTag::I32 => out.extend_from_slice(&signed_in_range::<i32>(v, "i32")?.to_le_bytes()),
        TypeTag::I64 => out.extend_from_slice(&signed_in_range::<i64>(v, "i64")?.to_le_bytes()),
        TypeTag::I128 => out.extend_from_slice(&signed(v)?.to_le_bytes()),
        TypeTag::I256 => out.extend_from_slice(&i256_le(v)?),
        TypeTag::Address => out.extend_from_slice(address(v)?.as_bytes()),
        TypeTag::Signer => return Err(Conv::Unsupported),
        TypeTag::Vector(inner) if **inner == TypeTag::U8 => sequence(&bytes(v)?, out)?,
        TypeTag::Vector(inner) => {
            let Value::Array(items) = v else {
                return Err(invalid(v, "is not a JSON array"));
            };
            length(items.len(), out)?;
            for (i, item) in items.iter().enumerate() {
                write_value(inner, item, depth + 1, out).map_err(|e| match e {
                    Conv::Invalid(r) => Conv::Invalid(format!("element {i}: {r}")),
                    other => other,
                })?;
            }
        }
        TypeTag::Struct(tag) => write_struct(tag, v, depth, out)?,
    }
    Ok(())
}

/// The standard-library structs an entry function can take.
fn write_struct(tag: &StructTag, v: &Value, depth: usize, out: &mut Vec<u8>) -> Result<(), Conv> {
    if tag.is_std("string", "String") {
        return match v {
            Value::String(s) => sequence(s.as_bytes(), out),
            _ => Err(invalid(v, "is not a JSON string")),
        };
    }
    if tag.is_std("option", "Option") {
        let [inner] = tag.type_params.as_slice() else {
            return Err(Conv::Unsupported);
        };
        // An option is a vector of zero or one element.
        let mut some = |x: &Value| -> Result<(), Conv> {
            out.push(1);
            write_value(inner, x, depth + 1, out).map_err(|e| match e {
                Conv::Invalid(r) => Conv::Invalid(format!("option value: {r}")),
                other => other,
            })
        };
        return match v {
            Value::Null => {
                out.push(0);
                Ok(())
            }
            Value::Object(map) if map.len() == 1 && map.contains_key("vec") => {
                match map.get("vec") {
                    Some(Value::Array(items)) => match items.as_slice() {
                        [] => {
                            out.push(0);
                            Ok(())
                        }
                        [x] => some(x),
                        _ => Err(invalid(v, "has more than one element in \"vec\"")),
                    },
                    _ => Err(invalid(v, "has a non-array \"vec\"")),
                }
            }
            other => some(other),
        };
    }
    if tag.is_std("object", "Object") {
        let inner = match v {
            Value::Object(map) if map.len() == 1 => map.get("inner").unwrap_or(v),
            _ => v,
        };
        out.extend_from_slice(address(inner)?.as_bytes());
        return Ok(());
    }
    if tag.is_std("fixed_point32", "FixedPoint32") {
        let raw = unsigned_in_range::<u64>(raw_value_field(v), "u64")?;
        out.extend_from_slice(&raw.to_le_bytes());
        return Ok(());
    }
    if tag.is_std("fixed_point64", "FixedPoint64") {
        out.extend_from_slice(&unsigned(raw_value_field(v))?.to_le_bytes());
        return Ok(());
    }
    Err(Conv::Unsupported)
}

/// Bytes with their length in front (`vector<u8>`, a string's UTF-8).
fn sequence(bytes: &[u8], out: &mut Vec<u8>) -> Result<(), Conv> {
    length(bytes.len(), out)?;
    out.extend_from_slice(bytes);
    Ok(())
}

/// A sequence length as BCS writes it: ULEB128, at most `bcs::MAX_SEQUENCE_LENGTH`.
fn length(n: usize, out: &mut Vec<u8>) -> Result<(), Conv> {
    if n > bcs::MAX_SEQUENCE_LENGTH {
        return Err(Conv::Invalid(format!(
            "has {n} elements, more than BCS allows"
        )));
    }
    let mut n = n as u64;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return Ok(());
        }
        out.push(byte | 0x80);
    }
}
