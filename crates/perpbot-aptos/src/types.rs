//! The on-chain data model of an Aptos user transaction, encoded with BCS through `serde` derive.
//!
//! Field and variant order *is* the wire format (aptos-transactions.md §2): do not reorder fields
//! or variants. Enum variants that this layer never builds are declared with the uninhabited
//! [`Unsupported`] payload so that the variants we do use get the right index (`EntryFunction` is
//! payload variant 2); decoding bytes that use such a variant fails cleanly with a BCS error.
//! The authenticators live in [`crate::authenticator`] and are re-exported here.
//!
//! The module also contains a parser for Move type strings as they appear in module ABIs and in
//! `type_arguments` (`u8`, `vector<u8>`, `0x1::option::Option<u64>`, `T0`, `&signer`, …). No
//! crate in our dependency set does that, so it is written by hand ([`MoveType::parse`]).
//!
//! The serde derives exist for BCS. The JSON they produce (where implemented) is a debugging
//! representation, not the node's JSON transaction format.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::address::AccountAddress;
pub use super::authenticator::{AccountAuthenticator, TransactionAuthenticator};
use super::error::{AptosError, clip};

/// Deepest type nesting accepted by the type-string parser (`vector<vector<…>>`). Bounds recursion
/// on untrusted input. \[INF\] chosen well above anything a real entry function uses.
pub const MAX_TYPE_DEPTH: usize = 64;

/// An uninhabited placeholder for enum variants this layer never constructs (e.g. `Script`).
///
/// It exists only so the variants that follow it get their on-chain BCS index. A value of this
/// type cannot exist; BCS decoding of such a variant fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Unsupported {}

/// A Move identifier (module, function, struct or field name): an ASCII letter followed by
/// letters, digits or `_`, or `_` followed by at least one such character.
///
/// BCS: a length-prefixed string.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Identifier(String);

impl Identifier {
    /// Validate and wrap an identifier.
    pub fn new(s: impl Into<String>) -> Result<Self, AptosError> {
        let s = s.into();
        if Self::is_valid(&s) {
            Ok(Self(s))
        } else {
            Err(AptosError::InvalidIdentifier(clip(&s)))
        }
    }

    /// Whether `s` is a valid Move identifier.
    pub fn is_valid(s: &str) -> bool {
        let b = s.as_bytes();
        let rest_ok = |r: &[u8]| r.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_');
        match b.split_first() {
            Some((c, rest)) if c.is_ascii_alphabetic() => rest_ok(rest),
            Some((b'_', rest)) => !rest.is_empty() && rest_ok(rest),
            _ => false,
        }
    }

    /// The identifier text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Identifier {
    type Error = AptosError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<Identifier> for String {
    fn from(i: Identifier) -> Self {
        i.0
    }
}

impl FromStr for Identifier {
    type Err = AptosError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// A module id `address::name`, e.g. `0x1::coin`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModuleId {
    /// Address the module is published under.
    pub address: AccountAddress,
    /// Module name.
    pub name: Identifier,
}

impl ModuleId {
    /// Build a module id.
    pub fn new(address: AccountAddress, name: Identifier) -> Self {
        Self { address, name }
    }
}

impl fmt::Display for ModuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}::{}", self.address.to_hex_short(), self.name)
    }
}

/// A fully-qualified function id such as `0x1::coin::transfer`, as found in the `function` field
/// of REST payloads (Kana returns these for every order endpoint).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EntryFunctionId {
    /// The module that defines the function.
    pub module: ModuleId,
    /// The function name.
    pub function: Identifier,
}

impl FromStr for EntryFunctionId {
    type Err = AptosError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || AptosError::InvalidFunctionId(clip(s));
        // Exactly three parts, split left to right as `str::split` would (two `split_once`s
        // and no third separator: half the cost of the iterator, per payload signed).
        let (addr, rest) = s.trim().split_once("::").ok_or_else(bad)?;
        let (module, function) = rest.split_once("::").ok_or_else(bad)?;
        if function.contains("::") {
            return Err(bad());
        }
        let address = AccountAddress::from_hex(addr).map_err(|_| bad())?;
        Ok(Self {
            module: ModuleId::new(address, Identifier::new(module).map_err(|_| bad())?),
            function: Identifier::new(function).map_err(|_| bad())?,
        })
    }
}

impl fmt::Display for EntryFunctionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}::{}", self.module, self.function)
    }
}

/// A struct type `address::module::Name<type_params…>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StructTag {
    /// Address of the defining module.
    pub address: AccountAddress,
    /// Defining module name.
    pub module: Identifier,
    /// Struct name.
    pub name: Identifier,
    /// Concrete type parameters (JSON name `type_args` in node output; BCS ignores names).
    pub type_params: Vec<TypeTag>,
}

impl StructTag {
    /// True if this is `0x1::<module>::<name>` (any type parameters).
    pub fn is_std(&self, module: &str, name: &str) -> bool {
        self.address == AccountAddress::ONE
            && self.module.as_str() == module
            && self.name.as_str() == name
    }
}

impl fmt::Display for StructTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}::{}::{}",
            self.address.to_hex_short(),
            self.module,
            self.name
        )?;
        write_type_params(f, &self.type_params)
    }
}

fn write_type_params<T: fmt::Display>(f: &mut fmt::Formatter<'_>, params: &[T]) -> fmt::Result {
    if params.is_empty() {
        return Ok(());
    }
    f.write_str("<")?;
    for (i, p) in params.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{p}")?;
    }
    f.write_str(">")
}

/// A concrete Move type as it appears in `ty_args` of an entry function.
///
/// Variant order is the BCS tag (`bool`=0 … `u256`=10, `i8`…`i256`=11…16).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TypeTag {
    /// `bool` (tag 0).
    Bool,
    /// `u8` (tag 1).
    U8,
    /// `u64` (tag 2).
    U64,
    /// `u128` (tag 3).
    U128,
    /// `address` (tag 4).
    Address,
    /// `signer` (tag 5).
    Signer,
    /// `vector<T>` (tag 6).
    Vector(Box<TypeTag>),
    /// A struct type (tag 7).
    Struct(Box<StructTag>),
    /// `u16` (tag 8).
    U16,
    /// `u32` (tag 9).
    U32,
    /// `u256` (tag 10).
    U256,
    /// `i8` (tag 11, newer nodes only).
    I8,
    /// `i16` (tag 12, newer nodes only).
    I16,
    /// `i32` (tag 13, newer nodes only).
    I32,
    /// `i64` (tag 14, newer nodes only).
    I64,
    /// `i128` (tag 15, newer nodes only).
    I128,
    /// `i256` (tag 16, newer nodes only).
    I256,
}

impl TypeTag {
    /// Parse a concrete type string (no generics `T0`, no references).
    pub fn parse(s: &str) -> Result<Self, AptosError> {
        MoveType::parse(s)?.substitute(&[]).map_err(|e| match e {
            AptosError::InvalidType { reason, .. } => AptosError::InvalidType {
                input: clip(s),
                reason,
            },
            other => other,
        })
    }

    /// `0x1::string::String`.
    pub fn string() -> Self {
        Self::std_struct("string", "String", vec![])
    }

    fn std_struct(module: &str, name: &str, type_params: Vec<TypeTag>) -> Self {
        // Identifiers here are compile-time constants known to be valid.
        Self::Struct(Box::new(StructTag {
            address: AccountAddress::ONE,
            module: Identifier(module.to_owned()),
            name: Identifier(name.to_owned()),
            type_params,
        }))
    }
}

impl FromStr for TypeTag {
    type Err = AptosError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for TypeTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeTag::Bool => f.write_str("bool"),
            TypeTag::U8 => f.write_str("u8"),
            TypeTag::U16 => f.write_str("u16"),
            TypeTag::U32 => f.write_str("u32"),
            TypeTag::U64 => f.write_str("u64"),
            TypeTag::U128 => f.write_str("u128"),
            TypeTag::U256 => f.write_str("u256"),
            TypeTag::I8 => f.write_str("i8"),
            TypeTag::I16 => f.write_str("i16"),
            TypeTag::I32 => f.write_str("i32"),
            TypeTag::I64 => f.write_str("i64"),
            TypeTag::I128 => f.write_str("i128"),
            TypeTag::I256 => f.write_str("i256"),
            TypeTag::Address => f.write_str("address"),
            TypeTag::Signer => f.write_str("signer"),
            TypeTag::Vector(t) => write!(f, "vector<{t}>"),
            TypeTag::Struct(s) => write!(f, "{s}"),
        }
    }
}

/// A Move type as written in a module ABI: like [`TypeTag`] but may also be a generic parameter
/// (`T0`) or a reference (`&signer`, `&mut T`). Produced by [`MoveType::parse`]; turned into a
/// concrete [`TypeTag`] by [`MoveType::substitute`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MoveType {
    /// A primitive (`bool`, `u8`…`u256`, `i8`…`i256`, `address`, `signer`).
    Primitive(TypeTag),
    /// `vector<T>`.
    Vector(Box<MoveType>),
    /// `0xADDR::module::Name<…>`.
    Struct {
        /// Address of the defining module.
        address: AccountAddress,
        /// Defining module.
        module: Identifier,
        /// Struct name.
        name: Identifier,
        /// Type parameters (may contain generics).
        type_params: Vec<MoveType>,
    },
    /// Generic type parameter `T<n>`.
    Generic(u16),
    /// `&T` or `&mut T` (only meaningful for `&signer` in entry functions).
    Reference {
        /// `&mut`.
        mutable: bool,
        /// Referenced type.
        inner: Box<MoveType>,
    },
}

impl MoveType {
    /// Parse a Move type string such as `u8`, `vector<u8>`, `0x1::string::String`,
    /// `0x1::object::Object<0x1::fungible_asset::Metadata>`, `T0`, `&signer`.
    ///
    /// Whitespace between tokens is ignored. Struct addresses must be `0x`-hex (short or long);
    /// named addresses (`std::…`) are rejected. Nesting is limited to [`MAX_TYPE_DEPTH`].
    pub fn parse(s: &str) -> Result<Self, AptosError> {
        let mut p = TypeParser {
            input: s,
            tokens: tokenize(s)?,
            pos: 0,
        };
        let ty = p.parse_type(0, true)?;
        if let Some(tok) = p.peek() {
            return Err(p.err(format!("unexpected trailing token {tok:?}")));
        }
        Ok(ty)
    }

    /// True for `signer`, `&signer` and `&mut signer` — the parameters the VM fills in itself.
    pub fn is_signer(&self) -> bool {
        match self {
            MoveType::Primitive(TypeTag::Signer) => true,
            MoveType::Reference { inner, .. } => {
                matches!(inner.as_ref(), MoveType::Primitive(TypeTag::Signer))
            }
            _ => false,
        }
    }

    /// Replace generic parameters `T<n>` with `type_args[n]`, producing a concrete [`TypeTag`].
    ///
    /// Fails on an out-of-range generic index and on references.
    pub fn substitute(&self, type_args: &[TypeTag]) -> Result<TypeTag, AptosError> {
        let err = |reason: String| AptosError::InvalidType {
            input: clip(&self.to_string()),
            reason,
        };
        Ok(match self {
            MoveType::Primitive(t) => t.clone(),
            MoveType::Vector(inner) => TypeTag::Vector(Box::new(inner.substitute(type_args)?)),
            MoveType::Struct {
                address,
                module,
                name,
                type_params,
            } => TypeTag::Struct(Box::new(StructTag {
                address: *address,
                module: module.clone(),
                name: name.clone(),
                type_params: type_params
                    .iter()
                    .map(|t| t.substitute(type_args))
                    .collect::<Result<_, _>>()?,
            })),
            MoveType::Generic(i) => type_args.get(usize::from(*i)).cloned().ok_or_else(|| {
                err(format!(
                    "generic T{i} has no type argument ({} supplied)",
                    type_args.len()
                ))
            })?,
            MoveType::Reference { .. } => {
                return Err(err("references are not concrete types".into()));
            }
        })
    }
}

impl FromStr for MoveType {
    type Err = AptosError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for MoveType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MoveType::Primitive(t) => write!(f, "{t}"),
            MoveType::Vector(t) => write!(f, "vector<{t}>"),
            MoveType::Struct {
                address,
                module,
                name,
                type_params,
            } => {
                write!(f, "{}::{module}::{name}", address.to_hex_short())?;
                write_type_params(f, type_params)
            }
            MoveType::Generic(i) => write!(f, "T{i}"),
            MoveType::Reference { mutable, inner } => {
                write!(f, "&{}{inner}", if *mutable { "mut " } else { "" })
            }
        }
    }
}

// ---- hand-written Move type-string parser (no crate in the dependency set provides one) ----

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token<'a> {
    Word(&'a str),
    Lt,
    Gt,
    Comma,
    ColonColon,
    Amp,
}

fn tokenize(s: &str) -> Result<Vec<Token<'_>>, AptosError> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        let (tok, len) = match c {
            c if c.is_whitespace() => (None, c.len_utf8()),
            '<' => (Some(Token::Lt), 1),
            '>' => (Some(Token::Gt), 1),
            ',' => (Some(Token::Comma), 1),
            '&' => (Some(Token::Amp), 1),
            ':' if rest.starts_with("::") => (Some(Token::ColonColon), 2),
            c if c.is_ascii_alphanumeric() || c == '_' => {
                let len = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                (rest.get(..len).map(Token::Word), len)
            }
            other => {
                return Err(AptosError::InvalidType {
                    input: clip(s),
                    reason: format!("unexpected character {other:?}"),
                });
            }
        };
        if let Some(t) = tok {
            out.push(t);
        }
        rest = rest.get(len..).unwrap_or("");
    }
    Ok(out)
}

struct TypeParser<'a> {
    input: &'a str,
    tokens: Vec<Token<'a>>,
    pos: usize,
}

impl<'a> TypeParser<'a> {
    fn err(&self, reason: String) -> AptosError {
        AptosError::InvalidType {
            input: clip(self.input),
            reason,
        }
    }

    fn peek(&self) -> Option<&Token<'a>> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token<'a>> {
        let t = self.tokens.get(self.pos).cloned();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    fn expect(&mut self, want: Token<'static>, what: &str) -> Result<(), AptosError> {
        match self.next() {
            Some(ref t) if *t == want => Ok(()),
            Some(t) => Err(self.err(format!("expected {what}, found {t:?}"))),
            None => Err(self.err(format!("expected {what}, found end of input"))),
        }
    }

    fn ident(&mut self, what: &str) -> Result<Identifier, AptosError> {
        match self.next() {
            Some(Token::Word(w)) => {
                Identifier::new(w).map_err(|_| self.err(format!("invalid {what} name {w:?}")))
            }
            Some(t) => Err(self.err(format!("expected {what} name, found {t:?}"))),
            None => Err(self.err(format!("expected {what} name, found end of input"))),
        }
    }

    fn parse_type(&mut self, depth: usize, top: bool) -> Result<MoveType, AptosError> {
        if depth > MAX_TYPE_DEPTH {
            return Err(self.err(format!("type nesting deeper than {MAX_TYPE_DEPTH}")));
        }
        let word = match self.next() {
            Some(Token::Amp) => {
                if !top {
                    return Err(self.err("references are only allowed at the top level".into()));
                }
                let mutable = matches!(self.peek(), Some(Token::Word("mut")));
                if mutable {
                    self.pos += 1;
                }
                let inner = self.parse_type(depth + 1, false)?;
                return Ok(MoveType::Reference {
                    mutable,
                    inner: Box::new(inner),
                });
            }
            Some(Token::Word(w)) => w,
            Some(t) => return Err(self.err(format!("expected a type, found {t:?}"))),
            None => return Err(self.err("expected a type, found end of input".into())),
        };
        let prim = match word {
            "bool" => Some(TypeTag::Bool),
            "u8" => Some(TypeTag::U8),
            "u16" => Some(TypeTag::U16),
            "u32" => Some(TypeTag::U32),
            "u64" => Some(TypeTag::U64),
            "u128" => Some(TypeTag::U128),
            "u256" => Some(TypeTag::U256),
            "i8" => Some(TypeTag::I8),
            "i16" => Some(TypeTag::I16),
            "i32" => Some(TypeTag::I32),
            "i64" => Some(TypeTag::I64),
            "i128" => Some(TypeTag::I128),
            "i256" => Some(TypeTag::I256),
            "address" => Some(TypeTag::Address),
            "signer" => Some(TypeTag::Signer),
            _ => None,
        };
        if let Some(p) = prim {
            return Ok(MoveType::Primitive(p));
        }
        if word == "vector" {
            self.expect(Token::Lt, "'<' after vector")?;
            let inner = self.parse_type(depth + 1, false)?;
            self.expect(Token::Gt, "'>' closing vector")?;
            return Ok(MoveType::Vector(Box::new(inner)));
        }
        let is_struct = matches!(self.peek(), Some(Token::ColonColon));
        if !is_struct {
            let generic_index = word
                .strip_prefix('T')
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if let Some(n) = generic_index {
                let i: u16 = n
                    .parse()
                    .map_err(|_| self.err(format!("generic index {n} out of range")))?;
                return Ok(MoveType::Generic(i));
            }
            return Err(self.err(format!("unknown type {word:?}")));
        }
        if !(word.starts_with("0x") || word.starts_with("0X")) {
            return Err(self.err(format!(
                "struct address {word:?} must be 0x-hex (named addresses are not supported)"
            )));
        }
        let address = AccountAddress::from_hex(word)
            .map_err(|_| self.err(format!("invalid struct address {word:?}")))?;
        self.expect(Token::ColonColon, "'::'")?;
        let module = self.ident("module")?;
        self.expect(Token::ColonColon, "'::'")?;
        let name = self.ident("struct")?;
        let mut type_params = Vec::new();
        if matches!(self.peek(), Some(Token::Lt)) {
            self.pos += 1;
            loop {
                type_params.push(self.parse_type(depth + 1, false)?);
                match self.next() {
                    Some(Token::Comma) => continue,
                    Some(Token::Gt) => break,
                    Some(t) => {
                        return Err(self.err(format!("expected ',' or '>', found {t:?}")));
                    }
                    None => return Err(self.err("unclosed '<'".into())),
                }
            }
        }
        Ok(MoveType::Struct {
            address,
            module,
            name,
            type_params,
        })
    }
}

// ---- transactions ----

/// An entry-function call: the payload of almost every transaction a bot sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryFunction {
    /// Module that defines the function.
    pub module: ModuleId,
    /// Function name.
    pub function: Identifier,
    /// Concrete type arguments.
    pub ty_args: Vec<TypeTag>,
    /// Arguments, each already BCS-encoded for its parameter type (see [`crate::abi`]).
    pub args: Vec<Vec<u8>>,
}

impl EntryFunction {
    /// The `address::module::function` id of this call.
    pub fn id(&self) -> EntryFunctionId {
        EntryFunctionId {
            module: self.module.clone(),
            function: self.function.clone(),
        }
    }
}

/// What a transaction executes. Only `EntryFunction` (variant 2) is built by this layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransactionPayload {
    /// Variant 0 (`Script`) — placeholder, never constructed.
    Script(Unsupported),
    /// Variant 1 (`ModuleBundle`, deprecated) — placeholder, never constructed.
    ModuleBundle(Unsupported),
    /// Variant 2: call an entry function.
    EntryFunction(EntryFunction),
}

impl TransactionPayload {
    /// The entry function (the only inhabited variant).
    pub fn entry_function(&self) -> &EntryFunction {
        match self {
            TransactionPayload::EntryFunction(ef) => ef,
            TransactionPayload::Script(never) | TransactionPayload::ModuleBundle(never) => {
                match *never {}
            }
        }
    }
}

impl From<EntryFunction> for TransactionPayload {
    fn from(ef: EntryFunction) -> Self {
        TransactionPayload::EntryFunction(ef)
    }
}

/// The unsigned transaction. Its BCS bytes (after a domain prefix) are what gets signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawTransaction {
    /// Sending account.
    pub sender: AccountAddress,
    /// Sender's sequence number (must equal the on-chain value when executed).
    pub sequence_number: u64,
    /// What to execute.
    pub payload: TransactionPayload,
    /// Gas limit in gas units.
    pub max_gas_amount: u64,
    /// Octas per gas unit.
    pub gas_unit_price: u64,
    /// Expiry, Unix **seconds**.
    pub expiration_timestamp_secs: u64,
    /// Chain id (1 mainnet, 2 testnet, 4 local; devnet varies).
    pub chain_id: u8,
}

impl RawTransaction {
    /// BCS bytes of the raw transaction.
    pub fn to_bcs(&self) -> Result<Vec<u8>, AptosError> {
        Ok(bcs::to_bytes(self)?)
    }
}

/// What multi-agent and fee-payer signers sign (after the `APTOS::RawTransactionWithData`
/// prefix).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RawTransactionWithData {
    /// Variant 0: multi-agent.
    MultiAgent {
        /// The raw transaction.
        raw_txn: RawTransaction,
        /// The secondary signers' addresses, in order.
        secondary_signer_addresses: Vec<AccountAddress>,
    },
    /// Variant 1: multi-agent with a fee payer (sponsored transactions, with or without
    /// secondary signers).
    MultiAgentWithFeePayer {
        /// The raw transaction.
        raw_txn: RawTransaction,
        /// The secondary signers' addresses, in order.
        secondary_signer_addresses: Vec<AccountAddress>,
        /// The fee payer (`0x0` in what the sender signs with the TS SDK; see
        /// [`crate::authenticator::verify`]).
        fee_payer_address: AccountAddress,
    },
}

/// A raw transaction plus its authenticator: what `POST /v1/transactions` takes as BCS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTransaction {
    /// The signed raw transaction.
    pub raw_txn: RawTransaction,
    /// Signatures and public keys.
    pub authenticator: TransactionAuthenticator,
}

#[cfg(test)]
mod tests;
