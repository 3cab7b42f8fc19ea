//! The parts of a transaction's node JSON that come from its bytes: `payload` (an
//! `entry_function_payload` with its arguments decoded through the simulated package's ABI) and
//! `signature` (the authenticator, [`perpbot_aptos::authenticator::json`]), plus who pays the
//! gas. Kept per hash from submission so pending and committed answers can carry them.

use serde_json::{Value, json};

use perpbot_aptos::authenticator::json::transaction_signature_json;
use perpbot_aptos::types::{MoveType, TypeTag};
use perpbot_aptos::{AccountAddress, EntryFunction, SignedTransaction};

/// `0x` + 64 zeros: the simulator has no state, event or accumulator Merkle trees, so the hash
/// fields a real node fills from them (`state_change_hash`, `event_root_hash`,
/// `accumulator_root_hash`) carry this instead, as a real node's simulation answer does.
pub const ZERO_HASH: &str = "0x0000000000000000000000000000000000000000000000000000000000000000";

/// What the node keeps of a transaction beyond [`super::super::TxnMeta`].
#[derive(Debug, Clone, PartialEq)]
pub struct TxnExtra {
    /// The fee payer of a sponsored transaction (charged the gas instead of the sender).
    pub fee_payer: Option<AccountAddress>,
    /// The `payload` JSON.
    pub payload: Value,
    /// The `signature` JSON.
    pub signature: Value,
}

impl TxnExtra {
    /// Extract from a decoded (verified) transaction.
    pub fn of(package: AccountAddress, signed: &SignedTransaction) -> Self {
        Self {
            fee_payer: signed.authenticator.fee_payer_address(),
            payload: payload_json(package, signed.raw_txn.payload.entry_function()),
            signature: transaction_signature_json(&signed.authenticator),
        }
    }
}

fn hex0x(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(2 + 2 * bytes.len());
    out.push_str("0x");
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The node's JSON of an entry-function payload. Arguments are decoded with the parameter types
/// of the simulated package's ABI, as a node decodes them with the on-chain ABI (`u64`/`u128`
/// as decimal strings, `u8`–`u32` as numbers, `bool`, addresses and `vector<u8>` as `0x` hex,
/// vectors as arrays). An argument the decoder cannot type (a function outside the simulated
/// package, a type it does not decode) is shown as the `0x` hex of its BCS bytes.
pub fn payload_json(package: AccountAddress, call: &EntryFunction) -> Value {
    let params = param_types(package, call);
    let arguments: Vec<Value> = call
        .args
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            params
                .as_ref()
                .and_then(|p| p.get(i))
                .and_then(|ty| decode_whole(ty, bytes))
                .unwrap_or_else(|| Value::String(hex0x(bytes)))
        })
        .collect();
    json!({
        "type": "entry_function_payload",
        "function": call.id().to_string(),
        "type_arguments": call.ty_args.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
        "arguments": arguments,
    })
}

/// The non-signer parameter types of `call`, from the simulated package's ABI.
fn param_types(package: AccountAddress, call: &EntryFunction) -> Option<Vec<TypeTag>> {
    if call.module.address != package {
        return None;
    }
    let module = crate::abi::module_abi(package, call.module.name.as_str())?;
    let function = module.function(call.function.as_str())?;
    function
        .params
        .iter()
        .filter_map(|p| MoveType::parse(p).ok())
        .filter(|t| !t.is_signer())
        .map(|t| t.substitute(&call.ty_args).ok())
        .collect()
}

/// Decode one argument; `None` unless the bytes are exactly one value of `ty`.
fn decode_whole(ty: &TypeTag, bytes: &[u8]) -> Option<Value> {
    let mut r = Reader(bytes);
    let v = r.value(ty, 0)?;
    r.0.is_empty().then_some(v)
}

/// A bounds-checked cursor over argument bytes.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn uleb(&mut self) -> Option<usize> {
        let mut out: u64 = 0;
        for shift in (0..64).step_by(7) {
            let [b] = self.array::<1>()?;
            out |= u64::from(b & 0x7f).checked_shl(shift)?;
            if b & 0x80 == 0 {
                return usize::try_from(out).ok();
            }
        }
        None
    }

    fn value(&mut self, ty: &TypeTag, depth: usize) -> Option<Value> {
        if depth > 8 {
            return None;
        }
        Some(match ty {
            TypeTag::Bool => match self.array::<1>()? {
                [0] => Value::Bool(false),
                [1] => Value::Bool(true),
                _ => return None,
            },
            TypeTag::U8 => json!(u8::from_le_bytes(self.array()?)),
            TypeTag::U16 => json!(u16::from_le_bytes(self.array()?)),
            TypeTag::U32 => json!(u32::from_le_bytes(self.array()?)),
            TypeTag::U64 => Value::String(u64::from_le_bytes(self.array()?).to_string()),
            TypeTag::U128 => Value::String(u128::from_le_bytes(self.array()?).to_string()),
            TypeTag::Address => Value::String(AccountAddress::new(self.array()?).to_string()),
            TypeTag::Vector(inner) if **inner == TypeTag::U8 => {
                let n = self.uleb()?;
                Value::String(hex0x(self.take(n)?))
            }
            TypeTag::Vector(inner) => {
                let n = self.uleb()?;
                // Each element takes at least one byte: a longer count cannot be honest.
                if n > self.0.len() {
                    return None;
                }
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(inner, depth + 1)?);
                }
                Value::Array(items)
            }
            TypeTag::Struct(s) if s.is_std("string", "String") => {
                let n = self.uleb()?;
                Value::String(String::from_utf8(self.take(n)?.to_vec()).ok()?)
            }
            _ => return None,
        })
    }
}
