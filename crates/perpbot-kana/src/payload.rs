//! The unsigned Aptos entry-function payload that Kana's REST write endpoints return
//! (reference §4, §5): `{"function": "0x…::module::name", "functionArguments": [...],
//! "typeArguments": [...]}`.
//!
//! Nothing happens on chain until the bot signs and submits the payload (see
//! [`perpbot_aptos::encode_entry_function`] for the typing/BCS step). Before that, a payload must
//! pass [`EntryFunctionPayload::validate`]: Kana has been seen returning `null` arguments when a
//! request was malformed (reference §4.3.4), and signing those would send garbage.
//!
//! # Exact numbers
//!
//! Kana's argument numbers can exceed 2^64 (u128 order ids, §2.2). Without serde_json's global
//! `arbitrary_precision` feature, a [`serde_json::Value`] would silently turn such a literal into
//! an `f64`. The deserializer here therefore reads every argument as raw JSON text first and
//! keeps integer literals that fit `u64`/`i64` as JSON numbers; **any other number literal
//! (larger integers, fractions, exponents) becomes a JSON string with the literal's exact text**,
//! which the ABI encoder accepts for integer Move types (and rejects, by name, for anything else).
//! Because of that raw read, deserialize with `serde_json::from_str` / `from_slice` /
//! `from_reader` (not `from_value`).
//!
//! ```
//! use perpbot_kana::payload::EntryFunctionPayload;
//!
//! let p: EntryFunctionPayload = serde_json::from_str(r#"{
//!     "function": "0x7a38039fffd016adcac2c53795ee49325e5ec6fddf3bf02651c09f9a583655a6::perpetual_scripts::cancel_multiple_orders",
//!     "functionArguments": [15, [161668980614256490457451450], [true]],
//!     "typeArguments": []
//! }"#).unwrap();
//! p.validate().unwrap();
//! // The u128 literal survived exactly (as a string).
//! assert_eq!(p.function_arguments[1][0], "161668980614256490457451450");
//! ```

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use perpbot_aptos::types::EntryFunctionId;

/// Why a payload may not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// An argument (or an element nested inside one) is JSON `null` (reference §4.3.4).
    #[error("argument {index}{path} is null")]
    NullArgument {
        /// Index of the top-level argument in `functionArguments`.
        index: usize,
        /// Location inside that argument (`""` for the argument itself, `"[0]"`, `".key"`, …).
        path: String,
    },
    /// `function` is not of the form `0x<address>::<module>::<name>`.
    #[error("function {0:?} is not of the form 0x<address>::<module>::<name>")]
    InvalidFunction(String),
    /// A type argument is empty.
    #[error("type argument {0} is empty")]
    EmptyTypeArgument(usize),
}

/// An unsigned Aptos entry-function call as returned by a Kana REST write endpoint.
///
/// Deserialized from Kana's camel-case names (`functionArguments`, `typeArguments`) and also from
/// the node's snake-case names (`type_arguments`, `arguments`, `function_arguments`). Missing or
/// `null` `typeArguments` mean none. Serializes with Kana's names. See the module docs for how
/// numbers are kept exact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryFunctionPayload {
    /// Fully-qualified function, `0x<address>::<module>::<name>`.
    pub function: String,
    /// Type arguments as Move type strings (Kana sends none for its own functions).
    #[serde(rename = "typeArguments")]
    pub type_arguments: Vec<String>,
    /// Arguments as JSON values (signer excluded). Integers beyond `u64`/`i64` and non-integer
    /// number literals are held as strings with their exact text.
    #[serde(rename = "functionArguments")]
    pub function_arguments: Vec<Value>,
}

impl EntryFunctionPayload {
    /// Check that the payload can be signed: `function` is `0x…::module::name` and no argument
    /// (nor any element or field nested in one) is `null`. The error names the argument's index.
    pub fn validate(&self) -> Result<(), PayloadError> {
        self.function_id()?;
        if let Some(i) = self.type_arguments.iter().position(|t| t.trim().is_empty()) {
            return Err(PayloadError::EmptyTypeArgument(i));
        }
        for (index, arg) in self.function_arguments.iter().enumerate() {
            if let Some(path) = null_path(arg) {
                return Err(PayloadError::NullArgument { index, path });
            }
        }
        Ok(())
    }

    /// The parsed function id (module address, module name, function name).
    pub fn function_id(&self) -> Result<EntryFunctionId, PayloadError> {
        let bad = || PayloadError::InvalidFunction(clip(&self.function));
        if !self.function.trim_start().starts_with("0x") {
            return Err(bad());
        }
        EntryFunctionId::from_str(&self.function).map_err(|_| bad())
    }
}

/// Where the first `null` in `v` is (depth first), below the argument: `""` for the value
/// itself, `"[0]"`, `".key"`, …; `None` when there is none. The path is written only on the way
/// back from a `null` found: written for every element, it cost more than all the other checks
/// of a payload.
fn null_path(v: &Value) -> Option<String> {
    match v {
        Value::Null => Some(String::new()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| null_path(item).map(|below| format!("[{i}]{below}"))),
        Value::Object(map) => map
            .iter()
            .find_map(|(k, item)| null_path(item).map(|below| format!(".{k}{below}"))),
        Value::Bool(_) | Value::Number(_) | Value::String(_) => None,
    }
}

fn clip(s: &str) -> String {
    const MAX: usize = 200;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", s.get(..i).unwrap_or(s)),
        None => s.to_owned(),
    }
}

/// Wire form accepted by the deserializer.
#[derive(Deserialize)]
struct WirePayload {
    function: String,
    #[serde(default, rename = "typeArguments", alias = "type_arguments")]
    type_arguments: Option<Vec<String>>,
    #[serde(
        default,
        rename = "functionArguments",
        alias = "function_arguments",
        alias = "arguments",
        deserialize_with = "present_raw"
    )]
    function_arguments: Option<Box<RawValue>>,
}

/// `Some(raw)` whenever the key is present, even for `null` (plain `Option` would map `null` to
/// `None`, hiding a `functionArguments: null` from Kana).
fn present_raw<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(d).map(Some)
}

impl<'de> Deserialize<'de> for EntryFunctionPayload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = WirePayload::deserialize(d)?;
        let function_arguments = match wire.function_arguments {
            None => Vec::new(),
            Some(raw) => match exact_value(&raw).map_err(de::Error::custom)? {
                Value::Array(items) => items,
                Value::Null => {
                    return Err(de::Error::custom("functionArguments is null"));
                }
                other => {
                    return Err(de::Error::custom(format_args!(
                        "functionArguments is not an array: {}",
                        clip(&other.to_string())
                    )));
                }
            },
        };
        Ok(EntryFunctionPayload {
            function: wire.function,
            type_arguments: wire.type_arguments.unwrap_or_default(),
            function_arguments,
        })
    }
}

/// Convert raw JSON to a [`Value`] without ever routing a number through `f64` (see the module
/// docs), in one pass over the text. Depth is bounded by serde_json's recursion limit, which
/// already applied when the outer document was parsed (and again here, as a guard).
///
/// Hand-written: serde_json keeps a number's text only with its crate-wide
/// `arbitrary_precision` feature, which would change every `Value` in the workspace. Reading each
/// array as raw elements and each element again (the way this was done before) scanned a
/// payload's bytes three or four times and allocated for every element; it was the largest part
/// of turning a REST payload into a signed transaction after the signature itself. Strings with
/// escapes are still unescaped by serde_json.
pub(crate) fn exact_value(raw: &RawValue) -> Result<Value, serde_json::Error> {
    let mut reader = ExactReader {
        b: raw.get().as_bytes(),
        i: 0,
    };
    let value = reader.value(0)?;
    reader.ws();
    if reader.i != reader.b.len() {
        return Err(reader.error("trailing characters"));
    }
    Ok(value)
}

/// serde_json's own limit on nesting.
const MAX_DEPTH: usize = 128;

/// A cursor over JSON text for [`exact_value`].
struct ExactReader<'a> {
    b: &'a [u8],
    i: usize,
}

impl ExactReader<'_> {
    fn error(&self, what: &str) -> serde_json::Error {
        <serde_json::Error as de::Error>::custom(format_args!("{what} at byte {}", self.i))
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, serde_json::Error> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        self.ws();
        match self.b.get(self.i) {
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                if self.close(b']') {
                    return Ok(Value::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    if self.separator(b']')? {
                        return Ok(Value::Array(items));
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut map = serde_json::Map::new();
                if self.close(b'}') {
                    return Ok(Value::Object(map));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    self.ws();
                    if self.b.get(self.i) != Some(&b':') {
                        return Err(self.error("expected `:`"));
                    }
                    self.i += 1;
                    map.insert(key, self.value(depth + 1)?);
                    if self.separator(b'}')? {
                        return Ok(Value::Object(map));
                    }
                }
            }
            Some(b'"') => self.string().map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            _ => Err(self.error("expected a JSON value")),
        }
    }

    /// Consume `close` if it comes next (an empty array or object).
    fn close(&mut self, close: u8) -> bool {
        self.ws();
        let found = self.b.get(self.i) == Some(&close);
        if found {
            self.i += 1;
        }
        found
    }

    /// After an element: `,` (`false`, more follow) or `close` (`true`, done).
    fn separator(&mut self, close: u8) -> Result<bool, serde_json::Error> {
        self.ws();
        match self.b.get(self.i) {
            Some(b',') => {
                self.i += 1;
                Ok(false)
            }
            Some(&c) if c == close => {
                self.i += 1;
                Ok(true)
            }
            _ => Err(self.error("expected `,` or the end of the array or object")),
        }
    }

    fn literal(&mut self, word: &[u8], value: Value) -> Result<Value, serde_json::Error> {
        if self.b.get(self.i..self.i + word.len()) != Some(word) {
            return Err(self.error("expected true, false or null"));
        }
        self.i += word.len();
        Ok(value)
    }

    /// A string at the cursor (on its opening quote). Without escapes it is copied as it is;
    /// with them serde_json unescapes the quoted text.
    fn string(&mut self) -> Result<String, serde_json::Error> {
        let start = self.i;
        if self.b.get(start) != Some(&b'"') {
            return Err(self.error("expected a string"));
        }
        let mut escaped = false;
        let mut at = start + 1;
        loop {
            match self.b.get(at) {
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    at += 2;
                }
                Some(&c) if c < 0x20 => return Err(self.error("control character in a string")),
                Some(_) => at += 1,
                None => return Err(self.error("unterminated string")),
            }
        }
        self.i = at + 1;
        let quoted = self
            .b
            .get(start..self.i)
            .and_then(|q| std::str::from_utf8(q).ok())
            .ok_or_else(|| self.error("string is not UTF-8"))?;
        if escaped {
            serde_json::from_str(quoted)
        } else {
            Ok(quoted
                .get(1..quoted.len() - 1)
                .unwrap_or_default()
                .to_owned())
        }
    }

    /// A number literal (JSON's grammar: `-? int frac? exp?`), kept exact by [`exact_number`].
    fn number(&mut self) -> Result<Value, serde_json::Error> {
        let start = self.i;
        let digits = |r: &mut Self| {
            let from = r.i;
            while r.b.get(r.i).is_some_and(u8::is_ascii_digit) {
                r.i += 1;
            }
            r.i > from
        };
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        let leading_zero = self.b.get(self.i) == Some(&b'0');
        let int_start = self.i;
        if !digits(self) || (leading_zero && self.i - int_start > 1) {
            return Err(self.error("invalid number"));
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if !digits(self) {
                return Err(self.error("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            if !digits(self) {
                return Err(self.error("invalid number"));
            }
        }
        let literal = self
            .b
            .get(start..self.i)
            .and_then(|t| std::str::from_utf8(t).ok())
            .ok_or_else(|| self.error("invalid number"))?;
        Ok(exact_number(literal))
    }
}

fn exact_number(literal: &str) -> Value {
    if let Ok(u) = literal.parse::<u64>() {
        Value::from(u)
    } else if let Ok(i) = literal.parse::<i64>() {
        Value::from(i)
    } else {
        Value::String(literal.to_owned())
    }
}

impl fmt::Display for EntryFunctionPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.function)?;
        for (i, a) in self.function_arguments.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{a}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FN: &str = "0x7a38039fffd016adcac2c53795ee49325e5ec6fddf3bf02651c09f9a583655a6::perpetual_scripts::cancel_multiple_orders";

    fn parse(s: &str) -> EntryFunctionPayload {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn camel_and_snake_names_are_accepted() {
        let camel = parse(&format!(
            r#"{{"function":"{FN}","functionArguments":["15",["1"],[true]],"typeArguments":[]}}"#
        ));
        let snake = parse(&format!(
            r#"{{"function":"{FN}","arguments":["15",["1"],[true]],"type_arguments":[]}}"#
        ));
        let snake2 = parse(&format!(
            r#"{{"function":"{FN}","function_arguments":["15",["1"],[true]]}}"#
        ));
        assert_eq!(camel, snake);
        assert_eq!(camel, snake2);
        assert_eq!(
            camel.function_arguments,
            vec![json!("15"), json!(["1"]), json!([true])]
        );
        camel.validate().unwrap();
        // Serializes back with Kana's names.
        let out = serde_json::to_value(&camel).unwrap();
        assert!(out.get("functionArguments").is_some());
        assert!(out.get("typeArguments").is_some());
    }

    #[test]
    fn big_and_fractional_numbers_stay_exact() {
        let p = parse(&format!(
            r#"{{"function":"{FN}","functionArguments":[15, -3, [161668980614256490457451450, 18446744073709551615], 0.0001, 1e3, {{"v": 340282366920938463463374607431768211455}}]}}"#
        ));
        assert_eq!(
            p.function_arguments,
            vec![
                json!(15),
                json!(-3),
                json!(["161668980614256490457451450", 18_446_744_073_709_551_615u64]),
                json!("0.0001"),
                json!("1e3"),
                json!({"v": "340282366920938463463374607431768211455"}),
            ]
        );
    }

    /// The reader this module used before the one-pass [`exact_value`]: each array read as raw
    /// elements, each element read again. Kept as the oracle.
    fn exact_value_by_raw_elements(raw: &RawValue) -> Result<Value, serde_json::Error> {
        let text = raw.get().trim();
        match text.as_bytes().first() {
            Some(b'[') => {
                let items: Vec<&RawValue> = serde_json::from_str(text)?;
                items
                    .into_iter()
                    .map(exact_value_by_raw_elements)
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array)
            }
            Some(b'{') => {
                let fields: std::collections::BTreeMap<String, &RawValue> =
                    serde_json::from_str(text)?;
                let mut map = serde_json::Map::new();
                for (k, v) in fields {
                    map.insert(k, exact_value_by_raw_elements(v)?);
                }
                Ok(Value::Object(map))
            }
            Some(b'-' | b'0'..=b'9') => Ok(exact_number(text)),
            _ => serde_json::from_str(text),
        }
    }

    #[test]
    fn one_pass_reader_reads_what_the_element_by_element_reader_read() {
        let fixed = [
            r#"["1338",["12907057702855018828273522","12907057702855018828273523"],[true,false],3,["0","0"]]"#,
            r#" [ 15 , -3 , [161668980614256490457451450, 18446744073709551615, 18446744073709551616], 0.0001, 1e3, -1.5E-7, 0, -0 ] "#,
            r#"[{"v": 340282366920938463463374607431768211455, "w": [], "x": {}}, [], {}, [[[]]]]"#,
            r#"["a\"b", "\u00e9\ud83d\ude00", "tab\there", "", "é", "\\"]"#,
            r#"[null, true, false, [null], {"a": null, "a": 1}]"#,
            r#"{"k": [1, "2", 3.0]}"#,
            r#""just a string""#,
            r#"-12345678901234567890123"#,
        ];
        for text in fixed {
            let raw: Box<RawValue> = serde_json::from_str(text).unwrap();
            assert_eq!(
                exact_value(&raw).unwrap(),
                exact_value_by_raw_elements(&raw).unwrap(),
                "{text}"
            );
        }
        // Random nested documents (seeded), built from the same pieces.
        let pieces = [
            "0",
            "7",
            "-1",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775809",
            "1.25",
            "2e10",
            "1E-3",
            "true",
            "false",
            "null",
            r#""x""#,
            r#""12907057702855018828273522""#,
            r#""q\"\n""#,
            r#""\u0041""#,
        ];
        let mut rng = {
            use rand::SeedableRng;
            rand_chacha::ChaCha8Rng::seed_from_u64(0x2545_f491_4f6c_dd1d)
        };
        let mut next = move |n: usize| rand::Rng::random_range(&mut rng, 0..n);
        fn build(next: &mut dyn FnMut(usize) -> usize, pieces: &[&str], depth: u32) -> String {
            match next(if depth > 3 { 1 } else { 4 }) {
                0 => pieces[next(pieces.len())].to_owned(),
                1 | 2 => {
                    let n = next(4);
                    let items: Vec<String> =
                        (0..n).map(|_| build(next, pieces, depth + 1)).collect();
                    format!("[{}]", items.join(if next(2) == 0 { "," } else { " , " }))
                }
                _ => {
                    let n = next(3);
                    let items: Vec<String> = (0..n)
                        .map(|_| format!(r#""k{}": {}"#, next(3), build(next, pieces, depth + 1)))
                        .collect();
                    format!("{{{}}}", items.join(","))
                }
            }
        }
        for _ in 0..2_000 {
            let text = build(&mut next, &pieces, 0);
            let raw: Box<RawValue> = serde_json::from_str(&text).unwrap();
            assert_eq!(
                exact_value(&raw).unwrap(),
                exact_value_by_raw_elements(&raw).unwrap(),
                "{text}"
            );
        }
    }

    #[test]
    fn null_arguments_are_rejected_by_index() {
        let p = parse(&format!(
            r#"{{"function":"{FN}","functionArguments":["15",null,null]}}"#
        ));
        let e = p.validate().unwrap_err();
        assert_eq!(
            e,
            PayloadError::NullArgument {
                index: 1,
                path: String::new()
            }
        );
        assert_eq!(e.to_string(), "argument 1 is null");
        let p = parse(&format!(
            r#"{{"function":"{FN}","functionArguments":["15",["1",null],[true]]}}"#
        ));
        assert_eq!(
            p.validate().unwrap_err().to_string(),
            "argument 1[1] is null"
        );
        let p = parse(&format!(
            r#"{{"function":"{FN}","functionArguments":["15",[true],[{{"a":1,"b":[2,null]}}]]}}"#
        ));
        assert_eq!(
            p.validate().unwrap_err().to_string(),
            "argument 2[0].b[1] is null"
        );
    }

    #[test]
    fn bad_functions_and_shapes_are_rejected() {
        for f in [
            "perpetual_scripts::x",
            "0x1::m",
            "7a38::m::f",
            "0xzz::m::f",
            "0x1::m::f::g",
            "",
        ] {
            let p = EntryFunctionPayload {
                function: f.into(),
                type_arguments: vec![],
                function_arguments: vec![],
            };
            assert!(
                matches!(p.validate(), Err(PayloadError::InvalidFunction(_))),
                "{f} should be rejected"
            );
        }
        assert!(
            serde_json::from_str::<EntryFunctionPayload>(&format!(
                r#"{{"function":"{FN}","functionArguments":null}}"#
            ))
            .is_err()
        );
        assert!(
            serde_json::from_str::<EntryFunctionPayload>(&format!(
                r#"{{"function":"{FN}","functionArguments":"15,1"}}"#
            ))
            .is_err()
        );
        let p = parse(&format!(r#"{{"function":"{FN}","typeArguments":null}}"#));
        assert!(p.type_arguments.is_empty() && p.function_arguments.is_empty());
    }
}
