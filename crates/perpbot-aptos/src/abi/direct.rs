//! BCS written straight from JSON for the argument types entry functions take all the time —
//! `bool`, the integers, `address` and vectors of them — without building a [`MoveValue`] tree
//! and serialising it again. The tree and the bcs crate stay for everything else (strings,
//! options, objects, fixed points). Same bytes and same errors either way (tested against the
//! tree path).
//!
//! Hand-written because it is only the BCS layout of those types (little-endian integers,
//! ULEB128 lengths, 32-byte addresses); the bcs crate needs a typed value to serialise.

use serde_json::Value;

use super::{
    Conv, MoveValue, TypeTag, address, bool_of, bytes, i256_le, invalid, is_option, signed,
    signed_in_range, u256_le, unsigned, unsigned_in_range,
};

/// Whether [`write_value`] writes `ty` itself (no struct anywhere in it).
pub(super) fn is_direct(ty: &TypeTag) -> bool {
    match ty {
        TypeTag::Vector(inner) => is_direct(inner),
        TypeTag::Struct(_) | TypeTag::Signer => false,
        _ => true,
    }
}

/// Append the BCS of `v` as `ty` (a type [`is_direct`] accepts) to `out`; the same bytes as
/// `bcs::to_bytes(&to_move_value(ty, v, depth)?)`, and the same errors.
pub(super) fn write_value(
    ty: &TypeTag,
    v: &Value,
    depth: usize,
    out: &mut Vec<u8>,
) -> Result<(), Conv> {
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
        TypeTag::Vector(inner) if **inner == TypeTag::U8 => {
            let b = bytes(v)?;
            length(b.len(), out)?;
            out.extend_from_slice(&b);
        }
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
        TypeTag::Struct(_) | TypeTag::Signer => {
            // Not a direct type: the caller checks `is_direct` first. Kept exact anyway.
            let mv: MoveValue = super::to_move_value(ty, v, depth)?;
            let encoded = bcs::to_bytes(&mv)
                .map_err(|e| Conv::Invalid(format!("cannot be BCS-encoded: {e}")))?;
            out.extend_from_slice(&encoded);
        }
    }
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
