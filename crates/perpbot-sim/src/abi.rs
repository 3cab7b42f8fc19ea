//! The simulated Kana package's Move module ABIs — served by the simulator's fake node
//! (`GET /v1/accounts/{package}/module/{name}`) and used to decode submitted transactions into
//! typed [`ScriptCall`]s.
//!
//! Two modules at one configurable package address:
//!
//! * `perpetual_scripts` — direct calls, acting for the **sender's** profile. Only `deposit` and
//!   `cancel_multiple_orders` are known on chain (reference §6.1 \[COMM\]/\[CHAIN\]); every other
//!   function name and parameter list here is **\[INF\]**: the delegated twin of §6.2 without the
//!   leading owner `address` (which is what the real client assumes when it turns a direct
//!   payload into a delegated one, `src/venue/kana/writer.rs`). Functions without a delegated
//!   twin (`withdraw`, `place_multiple_orders`, `cancel_and_place_multiple_orders`) mirror the
//!   REST bodies of reference §4.1.7 / §4.3.3 / §4.3.5 in their documented field order.
//! * `delegated_scripts` — exactly the \[CHAIN\] ABI dump of reference §6.2 (types only), acting for
//!   the owner wallet passed as the first argument; each function also has a `…_with_profile`
//!   twin taking a `u64` profile index right after the owner.
//!
//! Units are on-chain integers: sizes in lots, prices in ticks, collateral in 6-decimal
//! sub-units; a take-profit / stop-loss of `0` means "not set" (reference §4.3.6).
//!
//! Decoding follows the node: unknown module → `LINKER_ERROR`, unknown function →
//! `FUNCTION_RESOLUTION_FAILURE`, wrong type-argument or argument count →
//! `NUMBER_OF_TYPE_ARGUMENTS_MISMATCH` / `NUMBER_OF_ARGUMENTS_MISMATCH`, bytes that are not a BCS
//! value of the parameter's type → `FAILED_TO_DESERIALIZE_ARGUMENT` ([`InvalidCall`]). Never a
//! panic.

use serde::de::DeserializeOwned;
use serde_json::Value;

use perpbot_aptos::{AccountAddress, EntryFunction, MoveFunction, MoveModule, MoveModuleBytecode};

/// Name of the direct-call module.
pub const PERPETUAL_SCRIPTS: &str = "perpetual_scripts";
/// Name of the delegated-call module.
pub const DELEGATED_SCRIPTS: &str = "delegated_scripts";

/// `perpetual_scripts` entry functions: name and parameters after `&signer`.
///
/// Parameter names are not part of an Aptos ABI; the meaning of each list is given per entry.
const PERPETUAL: &[(&str, &[&str])] = &[
    // [COMM] direct call on mainnet: (user_address, amount in sub-units).
    ("deposit", &["address", "u64"]),
    // [INF] (market_id, amount): REST `withdrawSpecificMarket` takes a market and an amount.
    ("withdraw", &["u64", "u64"]),
    // [INF] (market_id, trade_side, direction, size_lots, price_ticks, leverage, restriction,
    // take_profit_ticks, stop_loss_ticks) = place_delegated_limit_order minus the owner.
    (
        "place_limit_order",
        &[
            "u64", "bool", "bool", "u64", "u64", "u64", "u8", "u64", "u64",
        ],
    ),
    // [INF] (market_id, trade_side, direction, size_lots, leverage, take_profit_ticks,
    // stop_loss_ticks) = place_delegated_market_order minus the owner.
    (
        "place_market_order",
        &["u64", "bool", "bool", "u64", "u64", "u64", "u64"],
    ),
    // [INF] (market_id, order_types, trade_sides, directions, sizes, prices, leverages,
    // restriction, take_profits, stop_losses): REST §4.3.3 field order, one restriction.
    (
        "place_multiple_orders",
        &[
            "u64",
            "vector<bool>",
            "vector<bool>",
            "vector<bool>",
            "vector<u64>",
            "vector<u64>",
            "vector<u64>",
            "u8",
            "vector<u64>",
            "vector<u64>",
        ],
    ),
    // [CHAIN] (market_id, order_ids, trade_sides).
    (
        "cancel_multiple_orders",
        &["u64", "vector<u128>", "vector<bool>"],
    ),
    // [INF] (market_id, cancel_order_ids, cancel_trade_sides, then the place_multiple_orders
    // vectors: order_types, trade_sides, directions, sizes, prices, leverages, restriction,
    // take_profits, stop_losses). REST §4.3.5 lists leverages before prices; the on-chain order
    // is unknown, ours follows place_multiple_orders.
    (
        "cancel_and_place_multiple_orders",
        &[
            "u64",
            "vector<u128>",
            "vector<bool>",
            "vector<bool>",
            "vector<bool>",
            "vector<bool>",
            "vector<u64>",
            "vector<u64>",
            "vector<u64>",
            "u8",
            "vector<u64>",
            "vector<u64>",
        ],
    ),
    // [INF] (market_id, trade_side, price_ticks; 0 clears) = update_delegated_take_profit minus
    // the owner.
    ("update_take_profit", &["u64", "bool", "u64"]),
    // [INF] as update_take_profit.
    ("update_stop_loss", &["u64", "bool", "u64"]),
    // [INF] (market_id, trade_side, amount in sub-units) = add_delegated_margin minus the owner.
    ("add_margin", &["u64", "bool", "u64"]),
    // [INF] (market_id) = collapse_delegated_position minus the owner.
    ("collapse_position", &["u64"]),
    // [INF] (market_id) = update_delegated_position minus the owner; a no-op here.
    ("update_position", &["u64"]),
    // [INF] (amount in sub-units, market_ids): REST `withdrawMultipleMarkets` (§4.1.7) sends
    // `amount` and comma-separated `marketIds`, in that order.
    ("withdraw_multiple_markets", &["u64", "vector<u64>"]),
    // [INF] (market_id): REST `settlePnl` (§4.1.8) takes a market; the simulator books realised
    // PnL into the balance at once, so there is nothing pending to settle.
    ("settle_pnl", &["u64"]),
    // [INF] (delegate, expires_at_secs; 0 = no expiry): Kana registers "one delegate per user,
    // time-bounded, set / changed / extended / removed by an on-chain transaction from the main
    // wallet" (§9.6), but the function's name and module are unknown. The simulator puts it
    // beside the other main-wallet functions; a second call replaces (changes or extends).
    ("add_delegate", &["address", "u64"]),
    // [INF] () removes the sender's delegate (none: nothing to do).
    ("remove_delegate", &[]),
];

/// `delegated_scripts` functions (reference §6.2, \[CHAIN\] types) and their direct twin.
/// Parameters: `address` (owner wallet) then the twin's parameters.
const DELEGATED: &[(&str, &str)] = &[
    ("place_delegated_limit_order", "place_limit_order"),
    ("place_delegated_market_order", "place_market_order"),
    ("cancel_delegated_orders", "cancel_multiple_orders"),
    ("add_delegated_margin", "add_margin"),
    ("collapse_delegated_position", "collapse_position"),
    ("update_delegated_position", "update_position"),
    ("update_delegated_stop_loss", "update_stop_loss"),
    ("update_delegated_take_profit", "update_take_profit"),
];

/// Suffix of the delegated twins that take a profile index after the owner.
const WITH_PROFILE: &str = "_with_profile";

fn entry(name: &str, params: &[&str]) -> MoveFunction {
    MoveFunction {
        name: name.to_string(),
        visibility: "public".to_string(),
        is_entry: true,
        is_view: false,
        generic_type_params: Vec::new(),
        params: std::iter::once("&signer")
            .chain(params.iter().copied())
            .map(str::to_string)
            .collect(),
        return_types: Vec::new(),
    }
}

fn perpetual_params(name: &str) -> Option<&'static [&'static str]> {
    PERPETUAL
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, params)| *params)
}

/// The ABI of the simulated module `name` (`perpetual_scripts` or `delegated_scripts`) published
/// at `package`; `None` for any other module.
pub fn module_abi(package: AccountAddress, name: &str) -> Option<MoveModule> {
    let exposed_functions = match name {
        PERPETUAL_SCRIPTS => PERPETUAL.iter().map(|(n, p)| entry(n, p)).collect(),
        DELEGATED_SCRIPTS => {
            let mut out = Vec::with_capacity(DELEGATED.len() * 2);
            for (delegated, direct) in DELEGATED {
                let params = perpetual_params(direct).unwrap_or(&[]);
                let plain: Vec<&str> = std::iter::once("address")
                    .chain(params.iter().copied())
                    .collect();
                let indexed: Vec<&str> = ["address", "u64"]
                    .into_iter()
                    .chain(params.iter().copied())
                    .collect();
                out.push(entry(delegated, &plain));
                out.push(entry(&format!("{delegated}{WITH_PROFILE}"), &indexed));
            }
            out
        }
        _ => return None,
    };
    Some(MoveModule {
        address: package,
        name: name.to_string(),
        friends: Vec::new(),
        exposed_functions,
        structs: Vec::new(),
    })
}

/// The body the fake node serves for `GET /v1/accounts/{package}/module/{name}`
/// (`{"bytecode": "0x", "abi": {...}}`, the shape [`MoveModuleBytecode`] reads).
pub fn module_json(package: AccountAddress, name: &str) -> Option<Value> {
    let body = MoveModuleBytecode {
        bytecode: "0x".to_string(),
        abi: Some(module_abi(package, name)?),
    };
    serde_json::to_value(body).ok()
}

/// Why a submitted entry function could not be called (before any contract logic ran).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidCall {
    /// No such module at that address.
    #[error("no module {0}")]
    UnknownModule(String),
    /// No such entry function in the module.
    #[error("no entry function {0}")]
    UnknownFunction(String),
    /// Type arguments given to a non-generic function.
    #[error("{function} takes no type arguments, got {got}")]
    TypeArgumentCount {
        /// `module::function`.
        function: String,
        /// How many were sent.
        got: usize,
    },
    /// Wrong number of arguments.
    #[error("{function} takes {expected} arguments after the signer, got {got}")]
    ArgumentCount {
        /// `module::function`.
        function: String,
        /// Parameters after `&signer`.
        expected: usize,
        /// Arguments sent.
        got: usize,
    },
    /// An argument's bytes are not a BCS value of its type.
    #[error("{function}: argument {index} is not a BCS {move_type}: {reason}")]
    Argument {
        /// `module::function`.
        function: String,
        /// Index among the arguments after `&signer`.
        index: usize,
        /// Declared Move type.
        move_type: String,
        /// What the BCS decoder said.
        reason: String,
    },
}

impl InvalidCall {
    /// The Aptos status-code name a node reports for this failure.
    pub fn status_name(&self) -> &'static str {
        match self {
            InvalidCall::UnknownModule(_) => "LINKER_ERROR",
            InvalidCall::UnknownFunction(_) => "FUNCTION_RESOLUTION_FAILURE",
            InvalidCall::TypeArgumentCount { .. } => "NUMBER_OF_TYPE_ARGUMENTS_MISMATCH",
            InvalidCall::ArgumentCount { .. } => "NUMBER_OF_ARGUMENTS_MISMATCH",
            InvalidCall::Argument { .. } => "FAILED_TO_DESERIALIZE_ARGUMENT",
        }
    }
}

/// The owner a delegated call acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delegation {
    /// The owner wallet (first argument).
    pub owner: AccountAddress,
    /// Profile index of a `…_with_profile` call.
    pub profile_index: Option<u64>,
}

/// One order of a batch (or a single place call), as decoded. Units: lots, ticks, leverage as
/// sent (`u64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderArgs {
    /// `true` limit, `false` market.
    pub is_limit: bool,
    /// `true` long side.
    pub trade_side: bool,
    /// `true` close, `false` open.
    pub direction: bool,
    /// Size in lots.
    pub size: u64,
    /// Price in ticks (ignored for market orders).
    pub price: u64,
    /// Leverage.
    pub leverage: u64,
    /// Restriction code (limit orders).
    pub restriction: u8,
    /// Take-profit in ticks, 0 = none.
    pub take_profit: u64,
    /// Stop-loss in ticks, 0 = none.
    pub stop_loss: u64,
}

/// The vectors of a `place_multiple_orders` call (possibly of unequal lengths: checked when the
/// call runs, as the contract would).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchArgs {
    /// `true` limit / `false` market.
    pub order_types: Vec<bool>,
    /// `true` long side.
    pub trade_sides: Vec<bool>,
    /// `true` close.
    pub directions: Vec<bool>,
    /// Lots.
    pub sizes: Vec<u64>,
    /// Ticks.
    pub prices: Vec<u64>,
    /// Leverages.
    pub leverages: Vec<u64>,
    /// One restriction for every limit order.
    pub restriction: u8,
    /// Take-profits in ticks (empty: none for all).
    pub take_profits: Vec<u64>,
    /// Stop-losses in ticks (empty: none for all).
    pub stop_losses: Vec<u64>,
}

/// What a decoded call asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `deposit(user, amount)`.
    Deposit {
        /// Wallet whose profile is credited.
        user: AccountAddress,
        /// Sub-units.
        amount: u64,
    },
    /// `withdraw(market, amount)`.
    Withdraw {
        /// Market id.
        market: u64,
        /// Sub-units.
        amount: u64,
    },
    /// `place_limit_order` / `place_market_order` (`is_limit` tells which).
    Place {
        /// Market id.
        market: u64,
        /// The order.
        order: OrderArgs,
    },
    /// `place_multiple_orders`.
    PlaceMultiple {
        /// Market id.
        market: u64,
        /// The orders.
        batch: BatchArgs,
    },
    /// `cancel_multiple_orders`.
    Cancel {
        /// Market id.
        market: u64,
        /// Order ids.
        ids: Vec<u128>,
        /// Position side of each order (`true` long).
        sides: Vec<bool>,
    },
    /// `cancel_and_place_multiple_orders`.
    CancelAndPlace {
        /// Market id.
        market: u64,
        /// Order ids to cancel.
        ids: Vec<u128>,
        /// Their position sides.
        sides: Vec<bool>,
        /// Orders to place.
        batch: BatchArgs,
    },
    /// `update_take_profit`.
    TakeProfit {
        /// Market id.
        market: u64,
        /// `true` long.
        trade_side: bool,
        /// Ticks, 0 clears.
        price: u64,
    },
    /// `update_stop_loss`.
    StopLoss {
        /// Market id.
        market: u64,
        /// `true` long.
        trade_side: bool,
        /// Ticks, 0 clears.
        price: u64,
    },
    /// `add_margin`.
    AddMargin {
        /// Market id.
        market: u64,
        /// `true` long.
        trade_side: bool,
        /// Sub-units.
        amount: u64,
    },
    /// `collapse_position`.
    Collapse {
        /// Market id.
        market: u64,
    },
    /// `update_position`.
    UpdatePosition {
        /// Market id.
        market: u64,
    },
    /// `withdraw_multiple_markets`.
    WithdrawMultiple {
        /// Sub-units.
        amount: u64,
        /// Market ids.
        markets: Vec<u64>,
    },
    /// `settle_pnl`.
    SettlePnl {
        /// Market id.
        market: u64,
    },
    /// `add_delegate`.
    AddDelegate {
        /// The delegate wallet.
        delegate: AccountAddress,
        /// Unix seconds at which the delegation lapses; 0 = never.
        expires_at_secs: u64,
    },
    /// `remove_delegate`.
    RemoveDelegate,
}

impl Action {
    /// How many orders the call names: each placed and each cancelled order, one for a
    /// collapse (the gas model charges per order).
    pub fn orders(&self) -> u64 {
        let n = |len: usize| u64::try_from(len).unwrap_or(u64::MAX);
        match self {
            Action::Place { .. } | Action::Collapse { .. } => 1,
            Action::PlaceMultiple { batch, .. } => n(batch.order_types.len()),
            Action::Cancel { ids, .. } => n(ids.len()),
            Action::CancelAndPlace { ids, batch, .. } => {
                n(ids.len()).saturating_add(n(batch.order_types.len()))
            }
            Action::Deposit { .. }
            | Action::Withdraw { .. }
            | Action::TakeProfit { .. }
            | Action::StopLoss { .. }
            | Action::AddMargin { .. }
            | Action::UpdatePosition { .. }
            | Action::WithdrawMultiple { .. }
            | Action::SettlePnl { .. }
            | Action::AddDelegate { .. }
            | Action::RemoveDelegate => 0,
        }
    }
}

/// A decoded call to the simulated package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptCall {
    /// The entry function's name as called.
    pub function: String,
    /// `Some` for `delegated_scripts` calls.
    pub delegation: Option<Delegation>,
    /// What it does.
    pub action: Action,
}

/// Reads the BCS arguments of one call in order, by their declared types.
struct Args<'a> {
    function: String,
    params: Vec<&'a str>,
    args: &'a [Vec<u8>],
    next: usize,
}

impl Args<'_> {
    fn read<T: DeserializeOwned>(&mut self) -> Result<T, InvalidCall> {
        let index = self.next;
        self.next += 1;
        let move_type = self.params.get(index).copied().unwrap_or("?").to_string();
        let Some(bytes) = self.args.get(index) else {
            return Err(InvalidCall::ArgumentCount {
                function: self.function.clone(),
                expected: self.params.len(),
                got: self.args.len(),
            });
        };
        bcs::from_bytes(bytes).map_err(|e| InvalidCall::Argument {
            function: self.function.clone(),
            index,
            move_type,
            reason: e.to_string(),
        })
    }

    fn batch(&mut self) -> Result<BatchArgs, InvalidCall> {
        Ok(BatchArgs {
            order_types: self.read()?,
            trade_sides: self.read()?,
            directions: self.read()?,
            sizes: self.read()?,
            prices: self.read()?,
            leverages: self.read()?,
            restriction: self.read()?,
            take_profits: self.read()?,
            stop_losses: self.read()?,
        })
    }

    /// The action of a `perpetual_scripts` function (arguments read from the current position).
    fn action(&mut self, direct: &str) -> Result<Action, InvalidCall> {
        Ok(match direct {
            "deposit" => Action::Deposit {
                user: self.read()?,
                amount: self.read()?,
            },
            "withdraw" => Action::Withdraw {
                market: self.read()?,
                amount: self.read()?,
            },
            "place_limit_order" => Action::Place {
                market: self.read()?,
                order: OrderArgs {
                    is_limit: true,
                    trade_side: self.read()?,
                    direction: self.read()?,
                    size: self.read()?,
                    price: self.read()?,
                    leverage: self.read()?,
                    restriction: self.read()?,
                    take_profit: self.read()?,
                    stop_loss: self.read()?,
                },
            },
            "place_market_order" => Action::Place {
                market: self.read()?,
                order: OrderArgs {
                    is_limit: false,
                    trade_side: self.read()?,
                    direction: self.read()?,
                    size: self.read()?,
                    price: 0,
                    leverage: self.read()?,
                    restriction: 0,
                    take_profit: self.read()?,
                    stop_loss: self.read()?,
                },
            },
            "place_multiple_orders" => Action::PlaceMultiple {
                market: self.read()?,
                batch: self.batch()?,
            },
            "cancel_multiple_orders" => Action::Cancel {
                market: self.read()?,
                ids: self.read()?,
                sides: self.read()?,
            },
            "cancel_and_place_multiple_orders" => Action::CancelAndPlace {
                market: self.read()?,
                ids: self.read()?,
                sides: self.read()?,
                batch: self.batch()?,
            },
            "update_take_profit" => Action::TakeProfit {
                market: self.read()?,
                trade_side: self.read()?,
                price: self.read()?,
            },
            "update_stop_loss" => Action::StopLoss {
                market: self.read()?,
                trade_side: self.read()?,
                price: self.read()?,
            },
            "add_margin" => Action::AddMargin {
                market: self.read()?,
                trade_side: self.read()?,
                amount: self.read()?,
            },
            "collapse_position" => Action::Collapse {
                market: self.read()?,
            },
            "update_position" => Action::UpdatePosition {
                market: self.read()?,
            },
            "withdraw_multiple_markets" => Action::WithdrawMultiple {
                amount: self.read()?,
                markets: self.read()?,
            },
            "settle_pnl" => Action::SettlePnl {
                market: self.read()?,
            },
            "add_delegate" => Action::AddDelegate {
                delegate: self.read()?,
                expires_at_secs: self.read()?,
            },
            "remove_delegate" => Action::RemoveDelegate,
            other => return Err(InvalidCall::UnknownFunction(other.to_string())),
        })
    }
}

/// Name of the test-USDT faucet module (reference §1.4 \[DOC\]).
pub const FAUCET_MODULE: &str = "usdt";

/// Entry functions of the test-USDT faucet: `faucet(amount)` \[DOC\] and
/// `faucet_to_address(to, amount)` (named by the docs; parameters \[INF\]).
const FAUCET: &[(&str, &[&str])] = &[
    ("faucet", &["u64"]),
    ("faucet_to_address", &["address", "u64"]),
];

/// The faucet module's ABI as the node serves it (`GET /v1/accounts/{faucet}/module/usdt`).
pub fn faucet_module_json(faucet: AccountAddress) -> Option<Value> {
    let body = MoveModuleBytecode {
        bytecode: "0x".to_string(),
        abi: Some(MoveModule {
            address: faucet,
            name: FAUCET_MODULE.to_string(),
            friends: Vec::new(),
            exposed_functions: FAUCET.iter().map(|(n, p)| entry(n, p)).collect(),
            structs: Vec::new(),
        }),
    };
    serde_json::to_value(body).ok()
}

/// A call of the faucet module: the recipient (`None`: the signer) and the amount in collateral
/// sub-units.
pub fn decode_faucet_call(
    call: &EntryFunction,
) -> Result<(Option<AccountAddress>, u64), InvalidCall> {
    let module_id = format!(
        "{}::{}",
        call.module.address.to_hex_short(),
        call.module.name.as_str()
    );
    if call.module.name.as_str() != FAUCET_MODULE {
        return Err(InvalidCall::UnknownModule(module_id));
    }
    let name = call.function.as_str();
    let full = format!("{module_id}::{name}");
    let params = FAUCET
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, p)| *p)
        .ok_or_else(|| InvalidCall::UnknownFunction(full.clone()))?;
    if !call.ty_args.is_empty() {
        return Err(InvalidCall::TypeArgumentCount {
            function: full,
            got: call.ty_args.len(),
        });
    }
    if params.len() != call.args.len() {
        return Err(InvalidCall::ArgumentCount {
            function: full,
            expected: params.len(),
            got: call.args.len(),
        });
    }
    let mut args = Args {
        function: full,
        params: params.to_vec(),
        args: &call.args,
        next: 0,
    };
    let to = if params.len() == 2 {
        Some(args.read()?)
    } else {
        None
    };
    Ok((to, args.read()?))
}

/// Decode a submitted entry function against the simulated package at `package`.
pub fn decode_call(
    package: AccountAddress,
    call: &EntryFunction,
) -> Result<ScriptCall, InvalidCall> {
    let module_name = call.module.name.as_str();
    let module_id = format!("{}::{module_name}", call.module.address.to_hex_short());
    let abi = (call.module.address == package)
        .then(|| module_abi(package, module_name))
        .flatten()
        .ok_or_else(|| InvalidCall::UnknownModule(module_id.clone()))?;
    let name = call.function.as_str();
    let full = format!("{module_id}::{name}");
    let function = abi
        .function(name)
        .ok_or_else(|| InvalidCall::UnknownFunction(full.clone()))?;
    if !call.ty_args.is_empty() {
        return Err(InvalidCall::TypeArgumentCount {
            function: full,
            got: call.ty_args.len(),
        });
    }
    let params: Vec<&str> = function.params.iter().skip(1).map(String::as_str).collect();
    if params.len() != call.args.len() {
        return Err(InvalidCall::ArgumentCount {
            function: full,
            expected: params.len(),
            got: call.args.len(),
        });
    }
    let mut args = Args {
        function: full.clone(),
        params,
        args: &call.args,
        next: 0,
    };
    let (delegation, direct) = if module_name == DELEGATED_SCRIPTS {
        let base = name.strip_suffix(WITH_PROFILE).unwrap_or(name);
        let direct = DELEGATED
            .iter()
            .find(|(d, _)| *d == base)
            .map(|(_, direct)| *direct)
            .ok_or_else(|| InvalidCall::UnknownFunction(full.clone()))?;
        let owner = args.read()?;
        let profile_index = if base.len() == name.len() {
            None
        } else {
            Some(args.read()?)
        };
        (
            Some(Delegation {
                owner,
                profile_index,
            }),
            direct,
        )
    } else {
        (None, name)
    };
    let action = args.action(direct)?;
    Ok(ScriptCall {
        function: name.to_string(),
        delegation,
        action,
    })
}

#[cfg(test)]
mod tests;
