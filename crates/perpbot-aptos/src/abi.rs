//! Module ABIs and ABI-driven argument encoding.
//!
//! A REST venue (Kana) hands back a payload as `{function, typeArguments, functionArguments}` with
//! JSON arguments and no types. The types live in the module ABI served by the fullnode at
//! `GET /v1/accounts/{addr}/module/{name}`; [`MoveModuleBytecode`] models that response.
//! [`encode_entry_function`] combines the two into a BCS-ready [`EntryFunction`], following the
//! algorithm of the official SDKs (aptos-transactions.md §3.2).
//!
//! # Accepted JSON per Move type
//!
//! | Move type | accepted JSON |
//! |---|---|
//! | `u8` `u16` `u32` `u64` `u128` `u256` | non-negative integer number, or decimal string (digits only). Numbers above 2^64 must be strings: JSON floats are always rejected, nothing goes through `f64` |
//! | `i8` … `i256` | integer number or decimal string with optional leading `-` |
//! | `bool` | `true`/`false`, or the strings `"true"`/`"false"` |
//! | `address` | address string (`0x` optional, short forms left-padded) |
//! | `vector<u8>` | **`0x`-prefixed hex string** (the node's JSON convention, e.g. `"0xdeadbeef"`) or an array of byte numbers. A string without `0x` is rejected rather than guessed: the TS/Go SDKs would read it as UTF-8 text, the node as hex |
//! | `vector<T>` | JSON array |
//! | `0x1::string::String` | JSON string |
//! | `0x1::option::Option<T>` | `null` = none; `{"vec": []}` / `{"vec": [x]}`; anything else = some(x) |
//! | `0x1::object::Object<T>` | address string, or `{"inner": "0x…"}` |
//! | `0x1::fixed_point32::FixedPoint32` / `fixed_point64::FixedPoint64` | raw integer (as `u64` / `u128`), or `{"value": n}` |
//!
//! JSON `null` anywhere a non-`Option` value is required is an error (Kana's REST sometimes returns
//! `null` arguments; signing those would send garbage).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::address::AccountAddress;
use super::error::{AptosError, clip};
use super::types::{EntryFunction, Identifier, ModuleId, MoveType, StructTag, TypeTag};

/// Response of `GET /v1/accounts/{address}/module/{module_name}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveModuleBytecode {
    /// Module bytecode as `0x`-hex (unused here).
    #[serde(default)]
    pub bytecode: String,
    /// The ABI; absent for modules published without one.
    #[serde(default)]
    pub abi: Option<MoveModule>,
}

/// A module's ABI (`abi` field of [`MoveModuleBytecode`]). Unknown fields are ignored and missing
/// list fields default to empty.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveModule {
    /// Address the module is published under (short form in node output, e.g. `0x1`).
    pub address: AccountAddress,
    /// Module name.
    pub name: String,
    /// Friend modules.
    #[serde(default)]
    pub friends: Vec<String>,
    /// Public and entry functions.
    #[serde(default)]
    pub exposed_functions: Vec<MoveFunction>,
    /// Struct definitions.
    #[serde(default)]
    pub structs: Vec<MoveStruct>,
}

impl MoveModule {
    /// Look up an exposed function by name.
    pub fn function(&self, name: &str) -> Option<&MoveFunction> {
        self.exposed_functions.iter().find(|f| f.name == name)
    }

    /// `0x…::name` for messages.
    fn display_id(&self) -> String {
        format!("{}::{}", self.address.to_hex_short(), self.name)
    }
}

/// One exposed function of a module ABI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveFunction {
    /// Function name.
    pub name: String,
    /// `public`, `friend` or `private`.
    #[serde(default)]
    pub visibility: String,
    /// Callable as a transaction payload.
    #[serde(default)]
    pub is_entry: bool,
    /// Callable through `/v1/view`.
    #[serde(default)]
    pub is_view: bool,
    /// One entry per generic parameter `T0`, `T1`, ….
    #[serde(default)]
    pub generic_type_params: Vec<GenericTypeParam>,
    /// Parameter types as Move type strings (leading `&signer` included).
    #[serde(default)]
    pub params: Vec<String>,
    /// Return types.
    #[serde(default, rename = "return")]
    pub return_types: Vec<String>,
}

/// Constraints of one generic type parameter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenericTypeParam {
    /// Ability constraints (`copy`, `drop`, `store`, `key`).
    #[serde(default)]
    pub constraints: Vec<String>,
}

/// A struct definition in a module ABI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveStruct {
    /// Struct name.
    pub name: String,
    /// Native struct.
    #[serde(default)]
    pub is_native: bool,
    /// Declared `#[event]`.
    #[serde(default)]
    pub is_event: bool,
    /// Declared as an enum.
    #[serde(default)]
    pub is_enum: bool,
    /// Abilities.
    #[serde(default)]
    pub abilities: Vec<String>,
    /// Generic parameters.
    #[serde(default)]
    pub generic_type_params: Vec<GenericTypeParam>,
    /// Fields in declaration order.
    #[serde(default)]
    pub fields: Vec<MoveStructField>,
}

/// One field of a [`MoveStruct`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveStructField {
    /// Field name.
    pub name: String,
    /// Field type string.
    #[serde(rename = "type")]
    pub type_: String,
}

/// Build an [`EntryFunction`] for `abi::function_name` from string type arguments and JSON
/// arguments, checking every value against the parameter types in the ABI.
///
/// Steps (aptos-transactions.md §3.2): require `is_entry`; drop leading `signer`/`&signer`
/// parameters; check the type-argument and argument counts; substitute generics; encode each value
/// by its Move type (see the module docs for the accepted JSON). `args` excludes signers.
///
/// Errors name the argument, e.g. `argument 2 (u64): "abc" is not an unsigned integer`.
pub fn encode_entry_function(
    abi: &MoveModule,
    function_name: &str,
    type_args: &[String],
    args: &[Value],
) -> Result<EntryFunction, AptosError> {
    let func = abi
        .function(function_name)
        .ok_or_else(|| AptosError::FunctionNotFound {
            module: abi.display_id(),
            function: clip(function_name),
        })?;
    // Only errors name the function: formatting it (with the address in hex) cost more than
    // encoding a small argument, on every transaction.
    let full_name = || format!("{}::{}", abi.display_id(), func.name);
    if !func.is_entry {
        return Err(AptosError::NotEntryFunction(full_name()));
    }
    let params = func
        .params
        .iter()
        .map(|p| param_type(p))
        .collect::<Result<Vec<_>, _>>()?;
    let first_value = params
        .iter()
        .position(|p| !p.is_signer())
        .unwrap_or(params.len());
    let value_params = params.get(first_value..).unwrap_or(&[]);

    if type_args.len() != func.generic_type_params.len() {
        return Err(AptosError::TypeArgumentCount {
            function: full_name(),
            expected: func.generic_type_params.len(),
            got: type_args.len(),
        });
    }
    if args.len() != value_params.len() {
        return Err(AptosError::ArgumentCount {
            function: full_name(),
            expected: value_params.len(),
            got: args.len(),
        });
    }
    let ty_args = type_args
        .iter()
        .map(|s| TypeTag::parse(s))
        .collect::<Result<Vec<_>, _>>()?;

    let mut encoded = Vec::with_capacity(args.len());
    for (index, (param, value)) in value_params.iter().zip(args).enumerate() {
        let ty = param.substitute(&ty_args)?;
        encoded.push(encode_argument(index, &ty, value)?);
    }

    Ok(EntryFunction {
        module: ModuleId::new(abi.address, Identifier::new(abi.name.as_str())?),
        function: Identifier::new(func.name.as_str())?,
        ty_args,
        args: encoded,
    })
}

/// A parameter type of an ABI: the spellings entry functions use all the time (`&signer`, the
/// unsigned integers, `bool`, `address` and vectors of them) without the tokenizer and parser,
/// anything else through [`MoveType::parse`]. The result is the same either way (tested); the
/// parser cost more than encoding the argument, on every transaction.
fn param_type(p: &str) -> Result<MoveType, AptosError> {
    fn primitive(p: &str) -> Option<TypeTag> {
        Some(match p {
            "bool" => TypeTag::Bool,
            "u8" => TypeTag::U8,
            "u16" => TypeTag::U16,
            "u32" => TypeTag::U32,
            "u64" => TypeTag::U64,
            "u128" => TypeTag::U128,
            "u256" => TypeTag::U256,
            "address" => TypeTag::Address,
            _ => return None,
        })
    }
    if p == "&signer" {
        return Ok(MoveType::Reference {
            mutable: false,
            inner: Box::new(MoveType::Primitive(TypeTag::Signer)),
        });
    }
    if let Some(t) = primitive(p) {
        return Ok(MoveType::Primitive(t));
    }
    if let Some(t) = p
        .strip_prefix("vector<")
        .and_then(|rest| rest.strip_suffix('>'))
        .and_then(primitive)
    {
        return Ok(MoveType::Vector(Box::new(MoveType::Primitive(t))));
    }
    MoveType::parse(p)
}

/// BCS-encode one JSON value as the Move type `ty` (the bytes that go into `EntryFunction::args`).
///
/// `index` is only used in error messages.
pub fn encode_argument(index: usize, ty: &TypeTag, value: &Value) -> Result<Vec<u8>, AptosError> {
    let mv = to_move_value(ty, value, 0).map_err(|e| match e {
        Conv::Invalid(reason) => AptosError::InvalidArgument {
            index,
            move_type: ty.to_string(),
            reason,
        },
        Conv::Unsupported => AptosError::UnsupportedParameter {
            index,
            move_type: ty.to_string(),
        },
    })?;
    Ok(bcs::to_bytes(&mv)?)
}

/// A typed Move value ready for BCS. `untagged` makes serde emit only the inner value, so the
/// derived `Serialize` produces exactly the Move BCS layout (no variant tag).
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum MoveValue {
    Bool(bool),
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    U128(u128),
    I8(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    I128(i128),
    /// 256-bit integers as 32 little-endian bytes (serialised as a fixed tuple: no length).
    Word256([u8; 32]),
    Address(AccountAddress),
    Bytes(Vec<u8>),
    String(String),
    Vector(Vec<MoveValue>),
    Option(Option<Box<MoveValue>>),
}

/// Conversion failure before the argument index and type are attached.
enum Conv {
    Invalid(String),
    Unsupported,
}

fn show(v: &Value) -> String {
    clip(&v.to_string())
}

fn invalid(v: &Value, what: &str) -> Conv {
    Conv::Invalid(format!("{} {what}", show(v)))
}

fn to_move_value(ty: &TypeTag, v: &Value, depth: usize) -> Result<MoveValue, Conv> {
    // Type depth is bounded by the type parser; this is a second guard for hand-built TypeTags.
    if depth > super::types::MAX_TYPE_DEPTH {
        return Err(Conv::Invalid("value nested too deeply".into()));
    }
    if v.is_null() && !is_option(ty) {
        return Err(Conv::Invalid(
            "null is not allowed (only Option<T> parameters accept null)".into(),
        ));
    }
    Ok(match ty {
        TypeTag::Bool => MoveValue::Bool(match v {
            Value::Bool(b) => *b,
            Value::String(s) if s == "true" => true,
            Value::String(s) if s == "false" => false,
            _ => return Err(invalid(v, "is not a bool")),
        }),
        TypeTag::U8 => MoveValue::U8(unsigned_in_range(v, "u8")?),
        TypeTag::U16 => MoveValue::U16(unsigned_in_range(v, "u16")?),
        TypeTag::U32 => MoveValue::U32(unsigned_in_range(v, "u32")?),
        TypeTag::U64 => MoveValue::U64(unsigned_in_range(v, "u64")?),
        TypeTag::U128 => MoveValue::U128(unsigned(v)?),
        TypeTag::U256 => MoveValue::Word256(u256_le(v)?),
        TypeTag::I8 => MoveValue::I8(signed_in_range(v, "i8")?),
        TypeTag::I16 => MoveValue::I16(signed_in_range(v, "i16")?),
        TypeTag::I32 => MoveValue::I32(signed_in_range(v, "i32")?),
        TypeTag::I64 => MoveValue::I64(signed_in_range(v, "i64")?),
        TypeTag::I128 => MoveValue::I128(signed(v)?),
        TypeTag::I256 => MoveValue::Word256(i256_le(v)?),
        TypeTag::Address => MoveValue::Address(address(v)?),
        TypeTag::Signer => return Err(Conv::Unsupported),
        TypeTag::Vector(inner) if **inner == TypeTag::U8 => MoveValue::Bytes(bytes(v)?),
        TypeTag::Vector(inner) => {
            let Value::Array(items) = v else {
                return Err(invalid(v, "is not a JSON array"));
            };
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(to_move_value(inner, item, depth + 1).map_err(|e| match e {
                    Conv::Invalid(r) => Conv::Invalid(format!("element {i}: {r}")),
                    other => other,
                })?);
            }
            MoveValue::Vector(out)
        }
        TypeTag::Struct(tag) => struct_value(tag, v, depth)?,
    })
}

fn is_option(ty: &TypeTag) -> bool {
    matches!(ty, TypeTag::Struct(s) if s.is_std("option", "Option"))
}

fn struct_value(tag: &StructTag, v: &Value, depth: usize) -> Result<MoveValue, Conv> {
    if tag.is_std("string", "String") {
        return match v {
            Value::String(s) => Ok(MoveValue::String(s.clone())),
            _ => Err(invalid(v, "is not a JSON string")),
        };
    }
    if tag.is_std("option", "Option") {
        let [inner] = tag.type_params.as_slice() else {
            return Err(Conv::Unsupported);
        };
        let some = |x: &Value| -> Result<MoveValue, Conv> {
            let mv = to_move_value(inner, x, depth + 1).map_err(|e| match e {
                Conv::Invalid(r) => Conv::Invalid(format!("option value: {r}")),
                other => other,
            })?;
            Ok(MoveValue::Option(Some(Box::new(mv))))
        };
        return match v {
            Value::Null => Ok(MoveValue::Option(None)),
            Value::Object(map) if map.len() == 1 && map.contains_key("vec") => {
                match map.get("vec") {
                    Some(Value::Array(items)) => match items.as_slice() {
                        [] => Ok(MoveValue::Option(None)),
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
        return address(inner).map(MoveValue::Address);
    }
    if tag.is_std("fixed_point32", "FixedPoint32") {
        return unsigned_in_range(raw_value_field(v), "u64").map(MoveValue::U64);
    }
    if tag.is_std("fixed_point64", "FixedPoint64") {
        return unsigned(raw_value_field(v)).map(MoveValue::U128);
    }
    Err(Conv::Unsupported)
}

/// `{"value": n}` → `n`, anything else unchanged.
fn raw_value_field(v: &Value) -> &Value {
    match v {
        Value::Object(map) if map.len() == 1 => map.get("value").unwrap_or(v),
        _ => v,
    }
}

fn address(v: &Value) -> Result<AccountAddress, Conv> {
    match v {
        Value::String(s) => {
            AccountAddress::from_hex(s).map_err(|_| invalid(v, "is not a valid address"))
        }
        _ => Err(invalid(v, "is not an address string")),
    }
}

fn bytes(v: &Value) -> Result<Vec<u8>, Conv> {
    match v {
        Value::String(s) => {
            let Some(h) = s.strip_prefix("0x") else {
                return Err(invalid(
                    v,
                    "is not 0x-prefixed hex (vector<u8> strings are hex, e.g. \"0xdeadbeef\")",
                ));
            };
            hex::decode(h).map_err(|_| invalid(v, "is not valid hex"))
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, x)| {
                unsigned_in_range::<u8>(x, "u8").map_err(|e| match e {
                    Conv::Invalid(r) => Conv::Invalid(format!("element {i}: {r}")),
                    other => other,
                })
            })
            .collect(),
        _ => Err(invalid(v, "is not a 0x-hex string or an array of bytes")),
    }
}

/// Digits-only check (no sign, no `+`, no whitespace, no `0x`), bounded length.
fn decimal_digits(s: &str) -> bool {
    !s.is_empty() && s.len() <= 100 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Any unsigned value up to u128, from a JSON integer or a decimal string. Never via f64.
fn unsigned(v: &Value) -> Result<u128, Conv> {
    match v {
        Value::Number(n) => match n.as_u64() {
            Some(x) => Ok(u128::from(x)),
            None if n.is_i64() => Err(invalid(v, "is not an unsigned integer")),
            None => Err(invalid(
                v,
                "is not an unsigned integer (floats are rejected; send values above 2^64 as decimal strings)",
            )),
        },
        Value::String(s) if decimal_digits(s) => s
            .parse::<u128>()
            .map_err(|_| invalid(v, "is out of range for u128")),
        _ => Err(invalid(v, "is not an unsigned integer")),
    }
}

fn unsigned_in_range<T: TryFrom<u128>>(v: &Value, name: &str) -> Result<T, Conv> {
    let n = unsigned(v)?;
    T::try_from(n).map_err(|_| invalid(v, &format!("is out of range for {name}")))
}

/// Any signed value up to i128, from a JSON integer or a decimal string with optional `-`.
fn signed(v: &Value) -> Result<i128, Conv> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .ok_or_else(|| {
                invalid(
                    v,
                    "is not an integer (floats are rejected; send large values as decimal strings)",
                )
            }),
        Value::String(s) => {
            let digits = s.strip_prefix('-').unwrap_or(s);
            if !decimal_digits(digits) {
                return Err(invalid(v, "is not an integer"));
            }
            s.parse::<i128>()
                .map_err(|_| invalid(v, "is out of range for i128"))
        }
        _ => Err(invalid(v, "is not an integer")),
    }
}

fn signed_in_range<T: TryFrom<i128>>(v: &Value, name: &str) -> Result<T, Conv> {
    let n = signed(v)?;
    T::try_from(n).map_err(|_| invalid(v, &format!("is out of range for {name}")))
}

/// Parse a decimal digit string into a 256-bit little-endian magnitude; `None` on overflow.
fn decimal_to_u256_le(digits: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    for d in digits.bytes() {
        let mut carry = u16::from(d.checked_sub(b'0')?);
        for byte in out.iter_mut() {
            let x = u16::from(*byte) * 10 + carry;
            *byte = (x & 0xff) as u8;
            carry = x >> 8;
        }
        if carry != 0 {
            return None;
        }
    }
    Some(out)
}

fn u256_le(v: &Value) -> Result<[u8; 32], Conv> {
    match v {
        Value::String(s) if decimal_digits(s) => {
            decimal_to_u256_le(s).ok_or_else(|| invalid(v, "is out of range for u256"))
        }
        _ => {
            let n = unsigned(v)?;
            let mut out = [0u8; 32];
            for (dst, src) in out.iter_mut().zip(n.to_le_bytes()) {
                *dst = src;
            }
            Ok(out)
        }
    }
}

fn i256_le(v: &Value) -> Result<[u8; 32], Conv> {
    let (negative, digits) = match v {
        Value::String(s) => match s.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, s.as_str()),
        },
        _ => {
            let n = signed(v)?;
            let fill = if n < 0 { 0xff } else { 0 };
            let mut out = [fill; 32];
            for (dst, src) in out.iter_mut().zip(n.to_le_bytes()) {
                *dst = src;
            }
            return Ok(out);
        }
    };
    if !decimal_digits(digits) {
        return Err(invalid(v, "is not an integer"));
    }
    let out_of_range = || invalid(v, "is out of range for i256");
    let mag = decimal_to_u256_le(digits).ok_or_else(out_of_range)?;
    let top_bit = mag.last().is_some_and(|b| b & 0x80 != 0);
    if !negative {
        return if top_bit {
            Err(out_of_range())
        } else {
            Ok(mag)
        };
    }
    // Negative: two's complement; magnitude may be at most 2^255.
    let is_min = top_bit && mag.iter().take(31).all(|b| *b == 0) && mag.last() == Some(&0x80);
    if top_bit && !is_min {
        return Err(out_of_range());
    }
    let mut out = [0u8; 32];
    let mut carry = 1u16;
    for (dst, src) in out.iter_mut().zip(mag) {
        let x = u16::from(!src) + carry;
        *dst = (x & 0xff) as u8;
        carry = x >> 8;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn common_parameter_types_read_as_the_parser_reads_them() {
        let scalars = ["bool", "u8", "u16", "u32", "u64", "u128", "u256", "address"];
        let mut spellings: Vec<String> = vec!["&signer".into(), "signer".into()];
        for t in scalars {
            spellings.push(t.into());
            spellings.push(format!("vector<{t}>"));
            spellings.push(format!("vector< {t} >"));
            spellings.push(format!("vector<vector<{t}>>"));
        }
        spellings.extend(
            [
                "&mut signer",
                "vector<signer>",
                "0x1::string::String",
                "vector<0x1::string::String>",
                "T0",
                "vector<T0>",
                "i64",
                "u65",
                "vector<u64",
                "",
            ]
            .map(String::from),
        );
        for p in &spellings {
            assert_eq!(
                param_type(p).map_err(|e| e.to_string()),
                MoveType::parse(p).map_err(|e| e.to_string()),
                "{p:?}"
            );
        }
    }

    /// The fixture ABI of aptos-transactions.md §3.2 (`0xcafe::fixture::mixed_args`) extended with
    /// a generic function, signed integers, fixed points and a non-entry function.
    const FIXTURE: &str = r#"{
      "bytecode": "0x00",
      "abi": {
        "address": "0xcafe",
        "name": "fixture",
        "friends": [],
        "exposed_functions": [
          {
            "name": "mixed_args",
            "visibility": "public",
            "is_entry": true,
            "is_view": false,
            "generic_type_params": [ { "constraints": [] }, { "constraints": [] } ],
            "params": [ "&signer", "u8", "u16", "u32", "u64", "u128", "u256", "bool", "address",
                        "vector<u8>", "vector<u64>", "0x1::string::String", "0x1::option::Option<u64>",
                        "0x1::option::Option<address>",
                        "0x1::object::Object<0x1::fungible_asset::Metadata>", "vector<0x1::string::String>" ],
            "return": []
          },
          {
            "name": "generic",
            "is_entry": true,
            "generic_type_params": [ {}, {} ],
            "params": [ "signer", "&signer", "T1", "vector<T0>" ]
          },
          {
            "name": "signed",
            "is_entry": true,
            "params": [ "i8", "i16", "i32", "i64", "i128", "i256" ]
          },
          {
            "name": "fixed",
            "is_entry": true,
            "params": [ "0x1::fixed_point32::FixedPoint32", "0x1::fixed_point64::FixedPoint64" ]
          },
          {
            "name": "structy",
            "is_entry": true,
            "params": [ "&signer", "0xcafe::fixture::Thing" ]
          },
          { "name": "view_only", "is_entry": false, "is_view": true, "params": ["u64"], "return": ["u64"] }
        ],
        "structs": [ { "name": "Thing", "is_native": false, "abilities": ["store"],
                       "generic_type_params": [], "fields": [ {"name": "value", "type": "u64"} ],
                       "some_future_field": 1 } ],
        "unknown_top_level": true
      }
    }"#;

    fn fixture() -> MoveModule {
        let m: MoveModuleBytecode = serde_json::from_str(FIXTURE).unwrap();
        m.abi.unwrap()
    }

    fn one_arg(ty: &str, v: Value) -> Result<String, AptosError> {
        encode_argument(0, &TypeTag::parse(ty).unwrap(), &v).map(hex::encode)
    }

    fn addr_hex(last: &str) -> String {
        format!("{}{last}", "0".repeat(64 - last.len()))
    }

    fn two_generics() -> Vec<String> {
        vec!["u8".into(), "u64".into()]
    }

    fn mixed_args() -> Vec<Value> {
        vec![
            json!(171),
            json!(0x1234),
            json!(0x12345678),
            json!("1311768467463790320"), // 0x123456789abcdef0
            json!("1339673755198158349044581307228491536"), // 0x0102…0f10
            json!("0"),                   // u256: replaced with 0x0102…1f20 in the table test
            json!(true),
            json!("0x1"),
            json!("0xdeadbeef"),
            json!([1, 2]),
            json!("héllo"),
            json!(42),
            json!(null),
            json!("0xa"),
            json!(["a", "bc"]),
        ]
    }

    /// Every row of the §3.1 table, through the ABI encoder with the fixture ABI.
    #[test]
    fn section_3_1_table_via_abi() {
        let mut args = mixed_args();
        // u256 0x0102…1f20 as decimal (computed exactly, not via f64).
        let mut be = [0u8; 32];
        for (i, b) in be.iter_mut().enumerate() {
            *b = (i + 1) as u8;
        }
        args[5] = json!(be_to_decimal(&be));
        let ef = encode_entry_function(&fixture(), "mixed_args", &two_generics(), &args).unwrap();
        let got: Vec<String> = ef.args.iter().map(hex::encode).collect();
        let u256_le: String = (1..=32u8).rev().map(|b| format!("{b:02x}")).collect();
        let expected = vec![
            "ab".to_string(),
            "3412".into(),
            "78563412".into(),
            "f0debc9a78563412".into(),
            "100f0e0d0c0b0a090807060504030201".into(),
            u256_le,
            "01".into(),
            addr_hex("1"),
            "04deadbeef".into(),
            "0201000000000000000200000000000000".into(),
            "0668c3a96c6c6f".into(),
            "012a00000000000000".into(),
            "00".into(),
            addr_hex("a"),
            "020161026263".into(),
        ];
        assert_eq!(got, expected);
        // "as it appears inside args" column: each wrapped with its ULEB128 length.
        let inside: Vec<String> = ef
            .args
            .iter()
            .map(|a| hex::encode(bcs::to_bytes(a).unwrap()))
            .collect();
        assert_eq!(inside[0], "01ab");
        assert_eq!(inside[1], "023412");
        assert_eq!(inside[2], "0478563412");
        assert_eq!(inside[3], "08f0debc9a78563412");
        assert!(inside[4].starts_with("10") && inside[4].len() == 34);
        assert!(inside[5].starts_with("20") && inside[5].len() == 66);
        assert_eq!(inside[6], "0101");
        assert_eq!(inside[7], format!("20{}", addr_hex("1")));
        assert_eq!(inside[8], "0504deadbeef");
        assert_eq!(inside[9], "110201000000000000000200000000000000");
        assert_eq!(inside[10], "070668c3a96c6c6f");
        assert_eq!(inside[11], "09012a00000000000000");
        assert_eq!(inside[12], "0100");
        assert_eq!(inside[13], format!("20{}", addr_hex("a")));
        assert_eq!(inside[14], "06020161026263");
        assert_eq!(ef.module.to_string(), "0xcafe::fixture");
        assert_eq!(ef.function.as_str(), "mixed_args");
        assert_eq!(ef.ty_args, vec![TypeTag::U8, TypeTag::U64]);
    }

    /// Big-endian bytes → decimal string (test helper, exact arithmetic).
    fn be_to_decimal(be: &[u8]) -> String {
        let mut digits = vec![0u8]; // little-endian base-10 digits
        for &byte in be {
            let mut carry = u32::from(byte);
            for d in digits.iter_mut() {
                let x = u32::from(*d) * 256 + carry;
                *d = (x % 10) as u8;
                carry = x / 10;
            }
            while carry > 0 {
                digits.push((carry % 10) as u8);
                carry /= 10;
            }
        }
        digits.iter().rev().map(|d| (b'0' + d) as char).collect()
    }

    #[test]
    fn alternative_json_forms() {
        // Numbers as strings, bools as strings, vector<u8> as array, Option as {"vec"}, Object as {"inner"}.
        assert_eq!(one_arg("u8", json!("171")).unwrap(), "ab");
        assert_eq!(one_arg("u64", json!(5000)).unwrap(), "8813000000000000");
        assert_eq!(one_arg("bool", json!("false")).unwrap(), "00");
        assert_eq!(
            one_arg("vector<u8>", json!([222, 173, 190, 239])).unwrap(),
            "04deadbeef"
        );
        assert_eq!(one_arg("vector<u8>", json!("0x")).unwrap(), "00");
        assert_eq!(
            one_arg("0x1::option::Option<u64>", json!({"vec": ["42"]})).unwrap(),
            "012a00000000000000"
        );
        assert_eq!(
            one_arg("0x1::option::Option<u64>", json!({"vec": []})).unwrap(),
            "00"
        );
        assert_eq!(
            one_arg(
                "0x1::object::Object<0x1::fungible_asset::Metadata>",
                json!({"inner": "0xa"})
            )
            .unwrap(),
            addr_hex("a")
        );
        assert_eq!(
            one_arg("0x1::fixed_point32::FixedPoint32", json!({"value": "1"})).unwrap(),
            "0100000000000000"
        );
        assert_eq!(
            one_arg("0x1::fixed_point64::FixedPoint64", json!(2)).unwrap(),
            format!("02{}", "00".repeat(15))
        );
        // u128 order ids above 2^64 are exact.
        assert_eq!(
            one_arg("u128", json!("161668980614256490457451450")).unwrap(),
            hex::encode(161668980614256490457451450u128.to_le_bytes())
        );
        assert_eq!(
            one_arg("u128", json!(u128::MAX.to_string())).unwrap(),
            "ff".repeat(16)
        );
        assert_eq!(
            one_arg("u256", json!(1)).unwrap(),
            format!("01{}", "00".repeat(31))
        );
        let max256 = be_to_decimal(&[0xff; 32]);
        assert_eq!(one_arg("u256", json!(max256)).unwrap(), "ff".repeat(32));
        // Kana cancel: vector<u128> and vector<bool>.
        assert_eq!(
            one_arg("vector<u128>", json!(["1", 2])).unwrap(),
            format!("0201{}02{}", "00".repeat(15), "00".repeat(15))
        );
    }

    #[test]
    fn signed_integers() {
        let m = fixture();
        let ef = encode_entry_function(
            &m,
            "signed",
            &[],
            &[
                json!(-1),
                json!("-2"),
                json!(3),
                json!("-9223372036854775808"),
                json!("-170141183460469231731687303715884105728"),
                json!("-1"),
            ],
        )
        .unwrap();
        let got: Vec<String> = ef.args.iter().map(hex::encode).collect();
        assert_eq!(got[0], "ff");
        assert_eq!(got[1], "feff");
        assert_eq!(got[2], "03000000");
        assert_eq!(got[3], "0000000000000080");
        assert_eq!(got[4], format!("{}80", "00".repeat(15)));
        assert_eq!(got[5], "ff".repeat(32));
        // i256 extremes.
        let mut min = [0u8; 32];
        min[0] = 0x80;
        let min_dec = format!("-{}", be_to_decimal(&min));
        assert_eq!(
            one_arg("i256", json!(min_dec)).unwrap(),
            format!("{}80", "00".repeat(31))
        );
        let mut max = [0xffu8; 32];
        max[0] = 0x7f;
        assert_eq!(
            one_arg("i256", json!(be_to_decimal(&max))).unwrap(),
            format!("{}7f", "ff".repeat(31))
        );
        assert!(one_arg("i256", json!(be_to_decimal(&min))).is_err()); // +2^255 overflows
        assert_eq!(
            one_arg("i256", json!(-2)).unwrap(),
            format!("fe{}", "ff".repeat(31))
        );
        assert!(one_arg("i8", json!(128)).is_err());
        assert!(one_arg("i8", json!("-129")).is_err());
        assert!(one_arg("i64", json!("--1")).is_err());
        assert!(one_arg("i64", json!("-")).is_err());
    }

    #[test]
    fn generics_and_signers() {
        let m = fixture();
        // Two leading signers dropped; T1 = u64, vector<T0> = vector<u8> (hex).
        let ef = encode_entry_function(
            &m,
            "generic",
            &["u8".into(), "0x1::string::String".into()],
            &[json!("hi"), json!("0x0102")],
        )
        .unwrap();
        assert_eq!(hex::encode(&ef.args[0]), "026869");
        assert_eq!(hex::encode(&ef.args[1]), "020102");
        assert_eq!(ef.ty_args[1], TypeTag::string());
    }

    #[test]
    fn named_errors() {
        let m = fixture();
        let mut args = mixed_args();
        args[5] = json!("1");
        let err = |idx: usize, v: Value| {
            let mut a = args.clone();
            a[idx] = v;
            encode_entry_function(&m, "mixed_args", &two_generics(), &a)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(3, json!("abc")),
            r#"argument 3 (u64): "abc" is not an unsigned integer"#
        );
        assert_eq!(
            err(0, json!(256)),
            "argument 0 (u8): 256 is out of range for u8"
        );
        assert_eq!(
            err(0, json!(-1)),
            "argument 0 (u8): -1 is not an unsigned integer"
        );
        assert!(err(3, json!(1.5)).starts_with("argument 3 (u64): 1.5 is not an unsigned integer"));
        assert!(err(3, json!(18446744073709551616.0)).starts_with("argument 3 (u64): "));
        assert_eq!(
            err(3, json!("18446744073709551616")),
            r#"argument 3 (u64): "18446744073709551616" is out of range for u64"#
        );
        assert_eq!(
            err(3, json!(" 1")),
            r#"argument 3 (u64): " 1" is not an unsigned integer"#
        );
        assert_eq!(
            err(3, json!("+1")),
            r#"argument 3 (u64): "+1" is not an unsigned integer"#
        );
        assert_eq!(
            err(3, json!(null)),
            "argument 3 (u64): null is not allowed (only Option<T> parameters accept null)"
        );
        assert_eq!(err(6, json!(1)), "argument 6 (bool): 1 is not a bool");
        assert_eq!(
            err(7, json!("0xzz")),
            r#"argument 7 (address): "0xzz" is not a valid address"#
        );
        assert_eq!(
            err(8, json!("deadbeef")),
            r#"argument 8 (vector<u8>): "deadbeef" is not 0x-prefixed hex (vector<u8> strings are hex, e.g. "0xdeadbeef")"#
        );
        assert_eq!(
            err(8, json!("0xabc")),
            r#"argument 8 (vector<u8>): "0xabc" is not valid hex"#
        );
        assert_eq!(
            err(8, json!([1, 300])),
            "argument 8 (vector<u8>): element 1: 300 is out of range for u8"
        );
        assert_eq!(
            err(9, json!([1, "x"])),
            r#"argument 9 (vector<u64>): element 1: "x" is not an unsigned integer"#
        );
        assert_eq!(
            err(9, json!([1, null])),
            "argument 9 (vector<u64>): element 1: null is not allowed (only Option<T> parameters accept null)"
        );
        assert_eq!(
            err(9, json!("1,2")),
            r#"argument 9 (vector<u64>): "1,2" is not a JSON array"#
        );
        assert_eq!(
            err(10, json!(5)),
            "argument 10 (0x1::string::String): 5 is not a JSON string"
        );
        assert_eq!(
            err(11, json!("x")),
            r#"argument 11 (0x1::option::Option<u64>): option value: "x" is not an unsigned integer"#
        );
        assert_eq!(
            err(11, json!({"vec": [1, 2]})),
            r#"argument 11 (0x1::option::Option<u64>): {"vec":[1,2]} has more than one element in "vec""#
        );
        assert_eq!(
            err(13, json!(null)),
            "argument 13 (0x1::object::Object<0x1::fungible_asset::Metadata>): null is not allowed (only Option<T> parameters accept null)"
        );
        assert_eq!(
            err(14, json!(["a", null])),
            "argument 14 (vector<0x1::string::String>): element 1: null is not allowed (only Option<T> parameters accept null)"
        );
    }

    #[test]
    fn structural_errors() {
        let m = fixture();
        let e = encode_entry_function(&m, "nope", &[], &[]).unwrap_err();
        assert!(matches!(e, AptosError::FunctionNotFound { .. }));
        assert_eq!(
            e.to_string(),
            r#"function "nope" not found in module 0xcafe::fixture"#
        );
        let e = encode_entry_function(&m, "view_only", &[], &[json!(1)]).unwrap_err();
        assert!(matches!(e, AptosError::NotEntryFunction(_)));
        let e = encode_entry_function(&m, "mixed_args", &two_generics(), &[json!(1)]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "function 0xcafe::fixture::mixed_args takes 15 argument(s) after signers, got 1"
        );
        let e = encode_entry_function(&m, "mixed_args", &[], &mixed_args()).unwrap_err();
        assert!(matches!(
            e,
            AptosError::TypeArgumentCount {
                expected: 2,
                got: 0,
                ..
            }
        ));
        let e = encode_entry_function(
            &m,
            "generic",
            &["u8".into(), "T0".into()],
            &[json!(1), json!([])],
        )
        .unwrap_err();
        assert!(matches!(e, AptosError::InvalidType { .. }));
        let e = encode_entry_function(
            &m,
            "generic",
            &["u8".into(), "u9".into()],
            &[json!(1), json!([])],
        )
        .unwrap_err();
        assert!(matches!(e, AptosError::InvalidType { .. }));
        let e = encode_entry_function(&m, "structy", &[], &[json!({"value": 1})]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "parameter 0 has type 0xcafe::fixture::Thing, which cannot be a transaction argument"
        );
    }

    #[test]
    fn aptos_account_transfer_abi_and_tolerant_model() {
        // Minimal ABI as served by a node, with missing optional fields.
        let abi: MoveModule = serde_json::from_value(json!({
            "address": "0x1", "name": "aptos_account",
            "exposed_functions": [{"name": "transfer", "is_entry": true, "params": ["&signer", "address", "u64"]}]
        }))
        .unwrap();
        let ef = encode_entry_function(&abi, "transfer", &[], &[json!("0x2"), json!("1000000")])
            .unwrap();
        assert_eq!(hex::encode(&ef.args[1]), "40420f0000000000");
        // A module without ABI / garbage does not panic.
        let m: MoveModuleBytecode = serde_json::from_str(r#"{"bytecode":"0x"}"#).unwrap();
        assert!(m.abi.is_none());
        assert!(serde_json::from_str::<MoveModuleBytecode>(r#"{"abi": {"address": 5}}"#).is_err());
    }
}
