//! Interpreting failures: committed `vm_status` strings and node error bodies.
//!
//! A transaction that fails *during execution* is still committed (it consumed its sequence number
//! and gas) and reports `"success": false` with a `vm_status` string such as
//! `Move abort in 0x1::coin: EINSUFFICIENT_BALANCE(0x10006): <description>`. [`VmStatus::parse`]
//! turns that into a [`MoveAbort`] and [`MoveAbort::known`] maps the code to the Kana
//! (`perpetual_core`) or Econia (`market`) abort tables, so the engine can react to, e.g.,
//! `E_POST_OR_ABORT_CROSSES_SPREAD` without string matching.
//!
//! A transaction rejected *at submission* gets an HTTP error with a [`NodeError`] body
//! (`{message, error_code, vm_error_code}`); [`VmValidationCode`] names the common
//! `vm_error_code` values.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::address::AccountAddress;

/// Decode 64 hex digits at compile time (only used in `const` items, so a bad literal is a build
/// error, never a runtime panic).
const fn const_address(s: &str) -> AccountAddress {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("bad hex digit in address constant"),
        }
    }
    let b = s.as_bytes();
    assert!(b.len() == 64, "address constant must have 64 hex digits");
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nibble(b[2 * i]) << 4) | nibble(b[2 * i + 1]);
        i += 1;
    }
    AccountAddress::new(out)
}

/// Mainnet address of the Econia order book used by Kana (kana-perps-api.md §1.4).
pub const ECONIA_MAINNET: AccountAddress =
    const_address("c0deb00c405f84c85dc13442e305df75d1288100cdd82675695f6148c7ece51c");

/// Kana Perps package address (mainnet; \[INF\] same on testnet), kana-perps-api.md §1.4.
pub const KANA_PERPS_PACKAGE: AccountAddress =
    const_address("7a38039fffd016adcac2c53795ee49325e5ec6fddf3bf02651c09f9a583655a6");

/// Parsed `vm_status` of a committed transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VmStatus {
    /// `Executed successfully`.
    Executed,
    /// A Move `abort` (the usual business-logic failure).
    MoveAbort(MoveAbort),
    /// `Out of gas`: raise `max_gas_amount`.
    OutOfGas,
    /// `Execution failed in <module>::<fn> at code offset <n>` (arithmetic error, etc.).
    ExecutionFailure {
        /// `<module>::<fn>` as printed.
        location: String,
        /// Bytecode offset, if printed.
        code_offset: Option<u64>,
        /// The full status text.
        raw: String,
    },
    /// Any other status (the node prints the status-code name).
    Other(String),
}

impl VmStatus {
    /// Parse a `vm_status` string. Never fails: unknown shapes become [`VmStatus::Other`].
    pub fn parse(s: &str) -> Self {
        let t = s.trim();
        if t == "Executed successfully" {
            return VmStatus::Executed;
        }
        if t == "Out of gas" || t == "OUT_OF_GAS" {
            return VmStatus::OutOfGas;
        }
        if let Some(abort) = MoveAbort::parse(t) {
            return VmStatus::MoveAbort(abort);
        }
        if let Some(rest) = t.strip_prefix("Execution failed in ") {
            let (location, code_offset) = match rest.split_once(" at code offset ") {
                Some((loc, off)) => (loc.trim(), off.trim().parse().ok()),
                None => (rest.trim(), None),
            };
            return VmStatus::ExecutionFailure {
                location: location.to_owned(),
                code_offset,
                raw: t.to_owned(),
            };
        }
        VmStatus::Other(t.to_owned())
    }

    /// True for `Executed successfully`.
    pub fn is_success(&self) -> bool {
        matches!(self, VmStatus::Executed)
    }
}

/// A Move abort: where it happened and the abort code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoveAbort {
    /// Address of the aborting module (absent for `Move abort: code …` from scripts).
    pub address: Option<AccountAddress>,
    /// Name of the aborting module.
    pub module: Option<String>,
    /// The full abort code (`category << 16 | reason` when `std::error` is used).
    pub code: u64,
    /// Reason name printed by the node when the module has error metadata (`EINSUFFICIENT_BALANCE`).
    pub name: Option<String>,
    /// Description printed after the name, if any.
    pub description: Option<String>,
}

impl MoveAbort {
    /// Parse the three abort formats:
    ///
    /// * `Move abort in 0x<addr>::<module>: <NAME>(0x<code>): <description>`
    /// * `Move abort in 0x<addr>::<module>: 0x<code>`
    /// * `Move abort: code 0x<code>`
    ///
    /// Returns `None` if `s` is not an abort status.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if let Some(code) = s.strip_prefix("Move abort: code ") {
            return Some(Self {
                address: None,
                module: None,
                code: parse_code(code.trim())?,
                name: None,
                description: None,
            });
        }
        let rest = s.strip_prefix("Move abort in ")?;
        let (location, detail) = rest.split_once(": ")?;
        let (addr, module) = location.split_once("::")?;
        let address = AccountAddress::from_hex(addr.trim()).ok()?;
        let detail = detail.trim();
        let (code, name, description) = if let Some(code) = parse_code(detail) {
            (code, None, None)
        } else {
            // NAME(0x<code>)[: description]
            let (name, after) = detail.split_once('(')?;
            let (code, tail) = after.split_once(')')?;
            let description = tail
                .trim_start()
                .strip_prefix(':')
                .map(|d| d.trim().to_owned())
                .filter(|d| !d.is_empty());
            (
                parse_code(code.trim())?,
                Some(name.trim().to_owned()),
                description,
            )
        };
        Some(Self {
            address: Some(address),
            module: Some(module.trim().to_owned()),
            code,
            name: name.filter(|n| !n.is_empty()),
            description,
        })
    }

    /// `code >> 16`: the `std::error` category number (0 when the module aborts with a raw code).
    pub fn category_code(&self) -> u64 {
        self.code >> 16
    }

    /// `code & 0xffff`: the module-specific reason.
    pub fn reason(&self) -> u64 {
        self.code & 0xffff
    }

    /// The `std::error` category.
    pub fn category(&self) -> AbortCategory {
        AbortCategory::from_code(self.category_code())
    }

    /// Look the reason up in the known abort tables (by aborting module).
    ///
    /// * module `perpetual_core` (any address, since the testnet deployment address is \[INF\]) →
    ///   Kana table (codes 1001–1014, raw or with a category applied);
    /// * module `market` at the Econia mainnet address, or at any address when the printed reason
    ///   name matches Econia's name for that code → Econia table (0–33);
    /// * everything else → [`KnownAbort::Unknown`].
    pub fn known(&self) -> KnownAbort {
        let reason = self.reason();
        match self.module.as_deref() {
            Some("perpetual_core") => {
                KanaAbort::from_code(reason).map_or(KnownAbort::Unknown, KnownAbort::Kana)
            }
            Some("market") => match EconiaAbort::from_code(reason) {
                Some(e)
                    if self.address == Some(ECONIA_MAINNET)
                        || self.name.as_deref() == Some(e.name()) =>
                {
                    KnownAbort::Econia(e)
                }
                _ => KnownAbort::Unknown,
            },
            _ => KnownAbort::Unknown,
        }
    }
}

impl fmt::Display for MoveAbort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.address, &self.module) {
            (Some(a), Some(m)) => write!(f, "abort in {}::{m}: ", a.to_hex_short())?,
            _ => f.write_str("abort: ")?,
        }
        let name = self
            .name
            .clone()
            .or_else(|| match self.known() {
                KnownAbort::Unknown => None,
                k => Some(k.name().to_owned()),
            })
            .unwrap_or_else(|| "UNKNOWN".to_owned());
        write!(f, "{name}(0x{:x})", self.code)
    }
}

fn parse_code(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) if !h.is_empty() && h.len() <= 16 => u64::from_str_radix(h, 16).ok(),
        Some(_) => None,
        None if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        None => None,
    }
}

/// Move `std::error` abort categories (`code >> 16`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AbortCategory {
    /// 0: no category (raw module code).
    None,
    /// 1: caller passed an invalid argument.
    InvalidArgument,
    /// 2: value out of range.
    OutOfRange,
    /// 3: system in an invalid state for the operation.
    InvalidState,
    /// 4: authentication failed.
    Unauthenticated,
    /// 5: not allowed.
    PermissionDenied,
    /// 6: resource not found.
    NotFound,
    /// 7: aborted (e.g. concurrency conflict).
    Aborted,
    /// 8: already exists.
    AlreadyExists,
    /// 9: out of a resource (gas, quota).
    ResourceExhausted,
    /// 0xA: cancelled.
    Cancelled,
    /// 0xB: internal error.
    Internal,
    /// 0xC: not implemented.
    NotImplemented,
    /// 0xD: unavailable.
    Unavailable,
    /// Any other value.
    Other(u64),
}

impl AbortCategory {
    /// Map a category number.
    pub fn from_code(c: u64) -> Self {
        match c {
            0 => Self::None,
            1 => Self::InvalidArgument,
            2 => Self::OutOfRange,
            3 => Self::InvalidState,
            4 => Self::Unauthenticated,
            5 => Self::PermissionDenied,
            6 => Self::NotFound,
            7 => Self::Aborted,
            8 => Self::AlreadyExists,
            9 => Self::ResourceExhausted,
            0xA => Self::Cancelled,
            0xB => Self::Internal,
            0xC => Self::NotImplemented,
            0xD => Self::Unavailable,
            other => Self::Other(other),
        }
    }
}

/// Result of [`MoveAbort::known`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KnownAbort {
    /// A Kana `perpetual_core` code.
    Kana(KanaAbort),
    /// An Econia `market` code.
    Econia(EconiaAbort),
    /// Not in any table (the abort's own `name`, if printed, is still available).
    Unknown,
}

impl KnownAbort {
    /// Constant name (`E_PAUSED`), or `UNKNOWN`.
    pub fn name(&self) -> &'static str {
        match self {
            KnownAbort::Kana(k) => k.name(),
            KnownAbort::Econia(e) => e.name(),
            KnownAbort::Unknown => "UNKNOWN",
        }
    }

    /// One-line meaning.
    pub fn description(&self) -> &'static str {
        match self {
            KnownAbort::Kana(k) => k.description(),
            KnownAbort::Econia(e) => e.description(),
            KnownAbort::Unknown => "abort code not in the known tables",
        }
    }
}

/// Generates an abort-code enum with `code()`, `name()`, `description()` and `from_code()`.
macro_rules! abort_table {
    ($(#[$meta:meta])* $ty:ident { $($variant:ident = $code:literal, $name:literal, $desc:literal;)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $ty {
            $(
                #[doc = concat!("`", $name, "` (", stringify!($code), "): ", $desc)]
                $variant,
            )*
        }

        impl $ty {
            /// The numeric reason code.
            pub fn code(&self) -> u64 {
                match self { $($ty::$variant => $code,)* }
            }

            /// The Move constant name.
            pub fn name(&self) -> &'static str {
                match self { $($ty::$variant => $name,)* }
            }

            /// One-line meaning.
            pub fn description(&self) -> &'static str {
                match self { $($ty::$variant => $desc,)* }
            }

            /// Look up a reason code (`code & 0xffff`).
            pub fn from_code(code: u64) -> Option<Self> {
                match code { $($code => Some($ty::$variant),)* _ => None }
            }
        }
    };
}

abort_table! {
    /// Kana Perps `perpetual_core` abort codes (kana-perps-api.md §8.5; 1015+ not retrieved \[UNK\]).
    KanaAbort {
        NotKana = 1001, "E_NOT_KANA", "caller lacks Kana admin rights";
        Paused = 1002, "E_PAUSED", "protocol or function paused";
        MarketNotFound = 1003, "E_MARKET_NOT_FOUND", "unknown market id";
        LeverageMismatchClosePosition = 1004, "E_LEVERAGE_MISMATCH_CLOSE_POSITION", "leverage on a close differs from the position leverage";
        LeverageMismatchIncreasePosition = 1005, "E_LEVERAGE_MISMATCH_INCREASE_POSITION", "leverage on an increase differs from the position leverage";
        InvalidLeverage = 1006, "E_INVALID_LEVERAGE", "leverage 0 or above the market maximum";
        InsufficientLiquidityInOrderbook = 1007, "E_INSUFFICIENT_LIQUIDITY_IN_ORDERBOOK", "order book cannot fill the order";
        InsufficientBalanceToExitPosition = 1008, "E_INSUFFICIENT_BALANCE_TO_EXIT_POSITION", "not enough balance to close";
        InsufficientBalanceInTradingAccountToWithdraw = 1009, "E_INSUFFICIENT_BALANCE_IN_TRADING_ACCOUNT_TO_WITHDRAW", "withdrawal exceeds the trading balance";
        InsufficientFundInUserDeposits = 1010, "E_INSUFFICIENT_FUND_IN_USER_DEPOSITS", "withdrawal exceeds user deposits";
        TradeSizeExceedsExistingFilled = 1011, "E_TRADE_SIZE_EXCEEDS_EXISTING_FILLED", "close size exceeds the filled position size";
        LossGreaterThanCollateral = 1012, "E_LOSS_GREATER_THAN_COLLATERAL", "loss exceeds collateral";
        InvalidMaintenanceMargin = 1013, "E_INVALID_MAINTENANCE_MARGIN", "maintenance margin above the divisor (10 000)";
        InvalidInitialMargin = 1014, "E_INVALID_INITIAL_MARGIN", "max leverage makes initial margin smaller than maintenance margin";
    }
}

abort_table! {
    /// Econia `market.move` abort codes (kana-perps-api.md §8.6; names of 26–33 from Econia's
    /// `market.move` source).
    EconiaAbort {
        MaxBase0 = 0, "E_MAX_BASE_0", "maximum base trade amount specified as 0";
        MaxQuote0 = 1, "E_MAX_QUOTE_0", "maximum quote trade amount specified as 0";
        MinBaseExceedsMax = 2, "E_MIN_BASE_EXCEEDS_MAX", "minimum base trade amount exceeds maximum";
        MinQuoteExceedsMax = 3, "E_MIN_QUOTE_EXCEEDS_MAX", "minimum quote trade amount exceeds maximum";
        OverflowAssetIn = 4, "E_OVERFLOW_ASSET_IN", "filling the order would overflow the asset received";
        NotEnoughAssetOut = 5, "E_NOT_ENOUGH_ASSET_OUT", "not enough asset to trade away";
        InvalidMarketId = 6, "E_INVALID_MARKET_ID", "no market with the given id";
        InvalidBase = 7, "E_INVALID_BASE", "base asset type is invalid";
        InvalidQuote = 8, "E_INVALID_QUOTE", "quote asset type is invalid";
        MinBaseNotTraded = 9, "E_MIN_BASE_NOT_TRADED", "minimum base trade amount not met";
        MinQuoteNotTraded = 10, "E_MIN_QUOTE_NOT_TRADED", "minimum quote trade amount not met";
        Price0 = 11, "E_PRICE_0", "order price specified as 0";
        PriceTooHigh = 12, "E_PRICE_TOO_HIGH", "order price exceeds the maximum (2^32-1 ticks)";
        PostOrAbortCrossesSpread = 13, "E_POST_OR_ABORT_CROSSES_SPREAD", "post-only order would cross the spread";
        SizeTooSmall = 14, "E_SIZE_TOO_SMALL", "order size below the market minimum";
        SizeBaseOverflow = 15, "E_SIZE_BASE_OVERFLOW", "order size overflows the base amount";
        SizePriceTicksOverflow = 16, "E_SIZE_PRICE_TICKS_OVERFLOW", "size and price overflow the ticks amount";
        SizePriceQuoteOverflow = 17, "E_SIZE_PRICE_QUOTE_OVERFLOW", "size and price overflow the quote amount";
        InvalidRestriction = 18, "E_INVALID_RESTRICTION", "invalid restriction flag";
        SelfMatch = 19, "E_SELF_MATCH", "self match with abort behaviour";
        PriceTimePriorityTooLow = 20, "E_PRICE_TIME_PRIORITY_TOO_LOW", "no room to insert an order with such low price-time priority";
        InvalidUnderwriter = 21, "E_INVALID_UNDERWRITER", "underwriter invalid for the market";
        InvalidMarketOrderId = 22, "E_INVALID_MARKET_ORDER_ID", "market order id invalid";
        InvalidCustodian = 23, "E_INVALID_CUSTODIAN", "custodian not authorized";
        InvalidUser = 24, "E_INVALID_USER", "invalid user for the operation";
        FillOrAbortNotCrossSpread = 25, "E_FILL_OR_ABORT_NOT_CROSS_SPREAD", "fill-or-abort price does not cross the spread";
        HeadKeyPriceMismatch = 26, "E_HEAD_KEY_PRICE_MISMATCH", "AVL queue head price does not match head order price (internal)";
        NotSimulationAccount = 27, "E_NOT_SIMULATION_ACCOUNT", "simulation query called by an invalid account";
        InvalidSelfMatchBehavior = 28, "E_INVALID_SELF_MATCH_BEHAVIOR", "invalid self-match behaviour flag";
        InvalidPercent = 29, "E_INVALID_PERCENT", "passive advance percent above 100";
        SizeChangeInsertionError = 30, "E_SIZE_CHANGE_INSERTION_ERROR", "size change re-insertion key mismatch (internal)";
        OrderDidNotPost = 31, "E_ORDER_DID_NOT_POST", "order id belongs to an order that did not post";
        OrderPriceMismatch = 32, "E_ORDER_PRICE_MISMATCH", "order price does not match its queue key (internal)";
        SizeChangeBelowMinSize = 33, "E_SIZE_CHANGE_BELOW_MIN_SIZE", "new order size below the market minimum";
    }
}

// ---- node error bodies ----

/// Error body returned by every fullnode endpoint on a non-2xx status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeError {
    /// Human-readable text (do not branch on it).
    #[serde(default)]
    pub message: String,
    /// Machine-readable error class.
    pub error_code: NodeErrorCode,
    /// VM status code for `vm_error` (validation failures), else `null`.
    #[serde(default)]
    pub vm_error_code: Option<u64>,
}

impl NodeError {
    /// The validation status for `vm_error` responses: from `vm_error_code`, falling back to the
    /// name in `"… Validation Code: <NAME>"` of the message.
    pub fn validation_code(&self) -> Option<VmValidationCode> {
        if let Some(c) = self.vm_error_code {
            return Some(VmValidationCode::from_code(c));
        }
        let (_, name) = self.message.rsplit_once("Code: ")?;
        VmValidationCode::from_name(name.trim())
    }
}

/// The `error_code` values of a [`NodeError`] (aptos-transactions.md §6.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NodeErrorCode {
    /// `account_not_found` (a new account: sequence number 0).
    AccountNotFound,
    /// `resource_not_found`.
    ResourceNotFound,
    /// `module_not_found`.
    ModuleNotFound,
    /// `struct_field_not_found`.
    StructFieldNotFound,
    /// `version_not_found`.
    VersionNotFound,
    /// `transaction_not_found` (maybe not yet propagated, dropped or expired).
    TransactionNotFound,
    /// `table_item_not_found`.
    TableItemNotFound,
    /// `block_not_found`.
    BlockNotFound,
    /// `state_value_not_found`.
    StateValueNotFound,
    /// `version_pruned`.
    VersionPruned,
    /// `block_pruned`.
    BlockPruned,
    /// `invalid_input` (undecodable BCS, bad identifiers, …).
    InvalidInput,
    /// `invalid_transaction_update` (conflicting transaction with the same sequence number).
    InvalidTransactionUpdate,
    /// `sequence_number_too_old` (detected by mempool).
    SequenceNumberTooOld,
    /// `vm_error` (prologue/validation failure; see `vm_error_code`).
    VmError,
    /// `health_check_failed`.
    HealthCheckFailed,
    /// `mempool_is_full` (HTTP 507).
    MempoolIsFull,
    /// `internal_error`.
    InternalError,
    /// `web_framework_error`.
    WebFrameworkError,
    /// `bcs_not_supported`.
    BcsNotSupported,
    /// `api_disabled`.
    ApiDisabled,
    /// `rejected_by_filter` (newer nodes).
    RejectedByFilter,
    /// Anything else, verbatim.
    Other(String),
}

const NODE_ERROR_CODES: [(&str, NodeErrorCode); 22] = [
    ("account_not_found", NodeErrorCode::AccountNotFound),
    ("resource_not_found", NodeErrorCode::ResourceNotFound),
    ("module_not_found", NodeErrorCode::ModuleNotFound),
    ("struct_field_not_found", NodeErrorCode::StructFieldNotFound),
    ("version_not_found", NodeErrorCode::VersionNotFound),
    ("transaction_not_found", NodeErrorCode::TransactionNotFound),
    ("table_item_not_found", NodeErrorCode::TableItemNotFound),
    ("block_not_found", NodeErrorCode::BlockNotFound),
    ("state_value_not_found", NodeErrorCode::StateValueNotFound),
    ("version_pruned", NodeErrorCode::VersionPruned),
    ("block_pruned", NodeErrorCode::BlockPruned),
    ("invalid_input", NodeErrorCode::InvalidInput),
    (
        "invalid_transaction_update",
        NodeErrorCode::InvalidTransactionUpdate,
    ),
    (
        "sequence_number_too_old",
        NodeErrorCode::SequenceNumberTooOld,
    ),
    ("vm_error", NodeErrorCode::VmError),
    ("health_check_failed", NodeErrorCode::HealthCheckFailed),
    ("mempool_is_full", NodeErrorCode::MempoolIsFull),
    ("internal_error", NodeErrorCode::InternalError),
    ("web_framework_error", NodeErrorCode::WebFrameworkError),
    ("bcs_not_supported", NodeErrorCode::BcsNotSupported),
    ("api_disabled", NodeErrorCode::ApiDisabled),
    ("rejected_by_filter", NodeErrorCode::RejectedByFilter),
];

impl NodeErrorCode {
    /// The wire string (`account_not_found`, …).
    pub fn as_str(&self) -> &str {
        if let NodeErrorCode::Other(s) = self {
            return s;
        }
        NODE_ERROR_CODES
            .iter()
            .find(|(_, c)| c == self)
            .map_or("", |(s, _)| s)
    }

    /// Parse a wire string; unknown values become [`NodeErrorCode::Other`].
    pub fn parse(s: &str) -> Self {
        NODE_ERROR_CODES
            .iter()
            .find(|(name, _)| *name == s)
            .map_or_else(|| NodeErrorCode::Other(s.to_owned()), |(_, c)| c.clone())
    }
}

impl fmt::Display for NodeErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// Hand-written: a string enum with a catch-all `Other(String)` is not expressible with derive.
impl Serialize for NodeErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for NodeErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(Self::parse(&s))
    }
}

/// Validation status codes seen in `vm_error_code` (aptos-transactions.md §6.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VmValidationCode {
    /// 1: wrong signing bytes or key.
    InvalidSignature,
    /// 2: key does not match the account's authentication key.
    InvalidAuthKey,
    /// 3: sequence number already used; refetch the account.
    SequenceNumberTooOld,
    /// 4: ahead of the account (not reported at submit; the transaction waits in mempool).
    SequenceNumberTooNew,
    /// 5: balance < max_gas_amount × gas_unit_price.
    InsufficientBalanceForTransactionFee,
    /// 6: expiration already in the past.
    TransactionExpired,
    /// 7: sender account does not exist.
    SendingAccountDoesNotExist,
    /// 13: max_gas_amount above the bound.
    MaxGasUnitsExceedsMaxGasUnitsBound,
    /// 14: max_gas_amount below the intrinsic cost.
    MaxGasUnitsBelowMinTransactionGasUnits,
    /// 15: gas price below the minimum.
    GasUnitPriceBelowMinBound,
    /// 16: gas price above the maximum.
    GasUnitPriceAboveMaxBound,
    /// 23: wrong chain id.
    BadChainId,
    /// Any other code.
    Other(u64),
}

const VM_VALIDATION_CODES: [(u64, &str, VmValidationCode); 12] = [
    (1, "INVALID_SIGNATURE", VmValidationCode::InvalidSignature),
    (2, "INVALID_AUTH_KEY", VmValidationCode::InvalidAuthKey),
    (
        3,
        "SEQUENCE_NUMBER_TOO_OLD",
        VmValidationCode::SequenceNumberTooOld,
    ),
    (
        4,
        "SEQUENCE_NUMBER_TOO_NEW",
        VmValidationCode::SequenceNumberTooNew,
    ),
    (
        5,
        "INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE",
        VmValidationCode::InsufficientBalanceForTransactionFee,
    ),
    (
        6,
        "TRANSACTION_EXPIRED",
        VmValidationCode::TransactionExpired,
    ),
    (
        7,
        "SENDING_ACCOUNT_DOES_NOT_EXIST",
        VmValidationCode::SendingAccountDoesNotExist,
    ),
    (
        13,
        "MAX_GAS_UNITS_EXCEEDS_MAX_GAS_UNITS_BOUND",
        VmValidationCode::MaxGasUnitsExceedsMaxGasUnitsBound,
    ),
    (
        14,
        "MAX_GAS_UNITS_BELOW_MIN_TRANSACTION_GAS_UNITS",
        VmValidationCode::MaxGasUnitsBelowMinTransactionGasUnits,
    ),
    (
        15,
        "GAS_UNIT_PRICE_BELOW_MIN_BOUND",
        VmValidationCode::GasUnitPriceBelowMinBound,
    ),
    (
        16,
        "GAS_UNIT_PRICE_ABOVE_MAX_BOUND",
        VmValidationCode::GasUnitPriceAboveMaxBound,
    ),
    (23, "BAD_CHAIN_ID", VmValidationCode::BadChainId),
];

impl VmValidationCode {
    /// Map a numeric `vm_error_code`.
    pub fn from_code(code: u64) -> Self {
        VM_VALIDATION_CODES
            .iter()
            .find(|(c, _, _)| *c == code)
            .map_or(VmValidationCode::Other(code), |(_, _, v)| *v)
    }

    /// Map a status name such as `SEQUENCE_NUMBER_TOO_OLD`.
    pub fn from_name(name: &str) -> Option<Self> {
        VM_VALIDATION_CODES
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(_, _, v)| *v)
    }

    /// The numeric code.
    pub fn code(&self) -> u64 {
        if let VmValidationCode::Other(c) = self {
            return *c;
        }
        VM_VALIDATION_CODES
            .iter()
            .find(|(_, _, v)| v == self)
            .map_or(0, |(c, _, _)| *c)
    }

    /// The status name (`UNKNOWN` for `Other`).
    pub fn name(&self) -> &'static str {
        VM_VALIDATION_CODES
            .iter()
            .find(|(_, _, v)| v == self)
            .map_or("UNKNOWN", |(_, n, _)| n)
    }
}

#[cfg(test)]
mod tests;
