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
    let ef =
        encode_entry_function(&abi, "transfer", &[], &[json!("0x2"), json!("1000000")]).unwrap();
    assert_eq!(hex::encode(&ef.args[1]), "40420f0000000000");
    // A module without ABI / garbage does not panic.
    let m: MoveModuleBytecode = serde_json::from_str(r#"{"bytecode":"0x"}"#).unwrap();
    assert!(m.abi.is_none());
    assert!(serde_json::from_str::<MoveModuleBytecode>(r#"{"abi": {"address": 5}}"#).is_err());
}

// The typed Move value and the bcs crate, the way arguments were encoded before the writer:
// the oracle the writer is compared with.
#[derive(serde::Serialize)]
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

fn to_move_value(ty: &TypeTag, v: &Value, depth: usize) -> Result<MoveValue, Conv> {
    // Type depth is bounded by the type parser; this is a second guard for hand-built TypeTags.
    if depth > crate::types::MAX_TYPE_DEPTH {
        return Err(Conv::Invalid("value nested too deeply".into()));
    }
    if v.is_null() && !is_option(ty) {
        return Err(Conv::Invalid(
            "null is not allowed (only Option<T> parameters accept null)".into(),
        ));
    }
    Ok(match ty {
        TypeTag::Bool => MoveValue::Bool(bool_of(v)?),
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

fn conv_text(e: Conv) -> String {
    match e {
        Conv::Invalid(reason) => reason,
        Conv::Unsupported => "unsupported".into(),
    }
}

/// The BCS writer against the `MoveValue` tree and the bcs crate, on every kind of type and on
/// values that fit, overflow, have the wrong shape or are null: same bytes, same errors.
#[test]
fn bcs_writer_writes_what_the_move_value_tree_writes() {
    let types = [
        "bool",
        "u8",
        "u16",
        "u32",
        "u64",
        "u128",
        "u256",
        "i8",
        "i16",
        "i32",
        "i64",
        "i128",
        "i256",
        "address",
        "signer",
        "vector<u8>",
        "vector<u64>",
        "vector<bool>",
        "vector<i64>",
        "vector<address>",
        "vector<vector<u128>>",
        "0x1::string::String",
        "vector<0x1::string::String>",
        "0x1::option::Option<u64>",
        "0x1::option::Option<0x1::string::String>",
        "vector<0x1::option::Option<u8>>",
        "0x1::object::Object<0x1::fungible_asset::Metadata>",
        "0x1::fixed_point32::FixedPoint32",
        "0x1::fixed_point64::FixedPoint64",
        "0xcafe::m::Unknown",
    ];
    let long: Vec<u64> = (0..300).collect();
    let long_bytes: Vec<u64> = (0..200).map(|i| i % 256).collect();
    let values = [
        json!(true),
        json!("false"),
        json!("yes"),
        json!(0),
        json!(255),
        json!(256),
        json!(65_535),
        json!(4_294_967_296u64),
        json!(u64::MAX),
        json!("18446744073709551616"),
        json!("340282366920938463463374607431768211455"),
        json!("340282366920938463463374607431768211456"),
        json!("115792089237316195423570985008687907853269984665640564039457584007913129639935"),
        json!(-1),
        json!("-128"),
        json!(-129),
        json!("-170141183460469231731687303715884105728"),
        json!(1.5),
        json!("abc"),
        json!("é, ünïcode"),
        json!(""),
        json!(null),
        json!("0x1"),
        json!("0xcafe"),
        json!("0x0102ff"),
        json!({"a": 1}),
        json!({"vec": []}),
        json!({"vec": [7]}),
        json!({"vec": [1, 2]}),
        json!({"vec": 1}),
        json!({"inner": "0xa"}),
        json!({"value": "4294967296"}),
        json!([]),
        json!([1, 2, 3]),
        json!([1, 256]),
        json!([true, "false"]),
        json!([null]),
        json!(["0x1", "0x2"]),
        json!(["a", "bc"]),
        json!([[1], ["2"], []]),
        json!([[1], [null]]),
        json!(long),
        json!(long_bytes),
    ];
    let mut encoded = 0;
    for t in types {
        let ty = TypeTag::parse(t).unwrap();
        for v in &values {
            let mut out = Vec::new();
            let written = bcs_writer::write_value(&ty, v, 0, &mut out)
                .map(|()| out)
                .map_err(conv_text);
            let tree = to_move_value(&ty, v, 0)
                .map(|mv| bcs::to_bytes(&mv).unwrap())
                .map_err(conv_text);
            assert_eq!(written, tree, "{t} {v}");
            encoded += usize::from(tree.is_ok());
        }
    }
    // Both outcomes are exercised: many values encode, many are refused.
    assert!(encoded > 100, "{encoded}");
}

/// The table of ready-made parameter types says what the parser says of each spelling.
#[test]
fn simple_types_are_what_the_parser_makes_of_them() {
    assert_eq!(SIMPLE_TYPES.len(), 16);
    for (name, ty) in SIMPLE_TYPES.iter() {
        let parsed = MoveType::parse(name).unwrap().substitute(&[]).unwrap();
        assert_eq!(&parsed, ty, "{name}");
        assert_eq!(ty.to_string(), *name);
        assert!(matches!(Param::of(name).unwrap(), Param::Simple(t) if t == ty));
    }
    assert!(Param::of("&signer").unwrap().is_signer());
    assert!(matches!(
        Param::of("vector<vector<u8>>").unwrap(),
        Param::Parsed(_)
    ));
}
