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

use std::borrow::Cow;
use std::sync::LazyLock;

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
        .map(|p| Param::of(p))
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
        let ty = param.concrete(&ty_args)?;
        encoded.push(encode_argument(index, &ty, value)?);
    }

    Ok(EntryFunction {
        module: ModuleId::new(abi.address, Identifier::new(abi.name.as_str())?),
        function: Identifier::new(func.name.as_str())?,
        ty_args,
        args: encoded,
    })
}

/// A parameter of an entry function, resolved for one call.
enum Param {
    /// `&signer` (or another spelling of a signer): filled in by the VM, no argument.
    Signer(MoveType),
    /// A primitive or a vector of one, from [`SIMPLE_TYPES`]: no allocation per call.
    Simple(&'static TypeTag),
    /// Anything else, parsed (and substituted for each call's type arguments).
    Parsed(MoveType),
}

/// The concrete types of the parameters Kana's entry functions are made of (primitives and
/// vectors of them), built once. Parsing each for every call and substituting it into a
/// `TypeTag` allocated two boxes per vector parameter: about a fifth of encoding a Kana
/// cancel-and-place (`benches/sign.rs`, `2_abi_encode`).
static SIMPLE_TYPES: LazyLock<Vec<(&'static str, TypeTag)>> = LazyLock::new(|| {
    [
        ("bool", "vector<bool>", TypeTag::Bool),
        ("u8", "vector<u8>", TypeTag::U8),
        ("u16", "vector<u16>", TypeTag::U16),
        ("u32", "vector<u32>", TypeTag::U32),
        ("u64", "vector<u64>", TypeTag::U64),
        ("u128", "vector<u128>", TypeTag::U128),
        ("u256", "vector<u256>", TypeTag::U256),
        ("address", "vector<address>", TypeTag::Address),
    ]
    .into_iter()
    .flat_map(|(name, vector, t)| [(name, t.clone()), (vector, TypeTag::Vector(Box::new(t)))])
    .collect()
});

impl Param {
    fn of(p: &str) -> Result<Param, AptosError> {
        if let Some((_, t)) = SIMPLE_TYPES.iter().find(|(name, _)| *name == p) {
            return Ok(Param::Simple(t));
        }
        let parsed = param_type(p)?;
        Ok(if parsed.is_signer() {
            Param::Signer(parsed)
        } else {
            Param::Parsed(parsed)
        })
    }

    fn is_signer(&self) -> bool {
        matches!(self, Param::Signer(_))
    }

    /// The parameter's type with the call's type arguments in place of its generics.
    fn concrete(&self, type_args: &[TypeTag]) -> Result<Cow<'static, TypeTag>, AptosError> {
        match self {
            Param::Simple(t) => Ok(Cow::Borrowed(t)),
            Param::Parsed(m) | Param::Signer(m) => m.substitute(type_args).map(Cow::Owned),
        }
    }
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
    let named = |e| match e {
        Conv::Invalid(reason) => AptosError::InvalidArgument {
            index,
            move_type: ty.to_string(),
            reason,
        },
        Conv::Unsupported => AptosError::UnsupportedParameter {
            index,
            move_type: ty.to_string(),
        },
    };
    let mut out = Vec::new();
    bcs_writer::write_value(ty, value, 0, &mut out).map_err(named)?;
    Ok(out)
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

/// A bool from JSON `true`/`false` or the strings `"true"`/`"false"`.
fn bool_of(v: &Value) -> Result<bool, Conv> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        _ => Err(invalid(v, "is not a bool")),
    }
}

fn is_option(ty: &TypeTag) -> bool {
    matches!(ty, TypeTag::Struct(s) if s.is_std("option", "Option"))
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

mod bcs_writer;

#[cfg(test)]
mod tests;
