//! What the simulated exchange ([`super::exchange::Exchange`]) reports: the effects of a
//! transaction or a tick, the on-chain events it emits, and the records its REST / WebSocket
//! layers will serve (reference §4.4, §7.4).
//!
//! Records keep exact units: sizes in [`Lots`], order prices in [`Ticks`], money and trade prices
//! (a liquidation closes at the mark, off the tick grid) in human `Decimal`. Converting to Kana's
//! wire strings is the serving layer's job.
//!
//! `order_type` follows the parity hypothesis of reference §8.1 (\[INF\]): odd = long side,
//! `1/2` open, `3/4` increase, `5/6` decrease (partial close), `7/8` close.

use std::collections::BTreeSet;
use std::fmt::Display;

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use perpbot_aptos::AccountAddress;
use perpbot_model::{
    Direction, Liquidity, Lots, MarketId, OrderKind, PositionSide, Restriction, Ticks, Timestamp,
    VenueOrderId,
};

use super::Abort;
use super::CancelReason;
use super::accounting::{FundingSummary, LiquidationOutcome, Trigger};

/// Module that emits the simulator's events (Kana's events come from `perpetual_core`, §6.3).
pub const EVENT_MODULE: &str = "perpetual_core";

/// The step an order or fill takes on its position (§8.1 hypothesis).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionStep {
    /// Opens a position from flat.
    Open,
    /// Adds to an existing position.
    Increase,
    /// Reduces a position without closing it.
    Decrease,
    /// Closes the position completely.
    Close,
}

/// Kana's `order_type` code for a step on a side (\[INF\] §8.1: odd long, even short).
pub fn order_type_code(side: PositionSide, step: PositionStep) -> u8 {
    let base = match step {
        PositionStep::Open => 1,
        PositionStep::Increase => 3,
        PositionStep::Decrease => 5,
        PositionStep::Close => 7,
    };
    base + u8::from(side == PositionSide::Short)
}

/// Status of an order in its history record (Kana: `"Open"`, `"Filled"`, and per clients
/// `"Partially Filled"`, `"Cancelled"`, §8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderState {
    /// Resting, nothing filled.
    Open,
    /// Resting, partly filled.
    PartiallyFilled,
    /// Completely filled.
    Filled,
    /// Left the book (or a market order's remainder) without filling completely.
    Cancelled,
}

impl OrderState {
    /// Kana's status string.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Open => "Open",
            OrderState::PartiallyFilled => "Partially Filled",
            OrderState::Filled => "Filled",
            OrderState::Cancelled => "Cancelled",
        }
    }

    /// Filled or cancelled: the record will not change again.
    pub fn is_terminal(self) -> bool {
        matches!(self, OrderState::Filled | OrderState::Cancelled)
    }
}

/// One order: the open-order record (§4.4.1) while it rests, the order-history / status record
/// (§4.4.3) always.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    /// Profile address.
    pub address: AccountAddress,
    /// Market.
    pub market: MarketId,
    /// Kana `order_id`.
    pub order_id: VenueOrderId,
    /// Position side (`trade_side`).
    pub trade_side: PositionSide,
    /// Open or close.
    pub direction: Direction,
    /// Limit or market (`is_market_order`).
    pub kind: OrderKind,
    /// §8.1 code, decided at placement from the position held then.
    pub order_type: u8,
    /// Limit price (`None` for market orders).
    pub price: Option<Ticks>,
    /// Size ordered (`total_size`).
    pub total_size: Lots,
    /// Size filled so far.
    pub filled_size: Lots,
    /// Size still resting (`remaining_size`; zero once terminal).
    pub remaining_size: Lots,
    /// Leverage.
    pub leverage: u32,
    /// Restriction (limit orders).
    pub restriction: Restriction,
    /// Take-profit attached.
    pub take_profit: Option<Ticks>,
    /// Stop-loss attached.
    pub stop_loss: Option<Ticks>,
    /// Status.
    pub status: OrderState,
    /// `trade_id` of the position it acted on, when one existed at placement.
    pub trade_id: Option<u128>,
    /// Placement time.
    pub timestamp: Timestamp,
    /// Last change.
    pub last_updated: Timestamp,
}

/// What caused a fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillCause {
    /// An order sent by the account (or the counterparty's).
    Order,
    /// The position's take-profit fired (a taker close, reference §9.4).
    TakeProfit,
    /// The position's stop-loss fired.
    StopLoss,
    /// The position was liquidated at the mark (no book trade, no fee).
    Liquidation,
}

/// One side of one trade: the trade-history record (§4.4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeRecord {
    /// Profile address.
    pub address: AccountAddress,
    /// Market.
    pub market: MarketId,
    /// The order that traded (`VenueOrderId(0)` for a liquidation).
    pub order_id: VenueOrderId,
    /// Unique per fill, increasing (Kana's `trade_id` is not unique per fill).
    pub fill_id: u64,
    /// Kana `trade_id`: names the position (opening and increasing fills share it).
    pub trade_id: u128,
    /// Position side.
    pub trade_side: PositionSide,
    /// Open or close.
    pub direction: Direction,
    /// Maker or taker.
    pub liquidity: Liquidity,
    /// Why it traded.
    pub cause: FillCause,
    /// §8.1 code from the position before and after the fill.
    pub order_type: u8,
    /// Trade price (human).
    pub price: Decimal,
    /// Size.
    pub size: Lots,
    /// `size · price` (quote).
    pub order_value: Decimal,
    /// Fee charged (quote).
    pub fee: Decimal,
    /// PnL realised by this fill (0 for opening fills).
    pub pnl: Decimal,
    /// Leverage.
    pub leverage: u32,
    /// Time.
    pub timestamp: Timestamp,
}

/// One open position: the position record (§4.4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionRecord {
    /// Profile address.
    pub address: AccountAddress,
    /// Market.
    pub market: MarketId,
    /// Side (`trade_side`).
    pub trade_side: PositionSide,
    /// Leverage.
    pub leverage: u32,
    /// Size.
    pub size: Lots,
    /// Size not committed to resting close orders (`available_order_size`, \[INF\]).
    pub available_order_size: Lots,
    /// `size · entry_price` (`value`).
    pub value: Decimal,
    /// Average entry price.
    pub entry_price: Decimal,
    /// Liquidation price estimate.
    pub liq_price: Option<Decimal>,
    /// Isolated margin.
    pub margin: Decimal,
    /// Take-profit price.
    pub tp: Option<Decimal>,
    /// Stop-loss price.
    pub sl: Option<Decimal>,
    /// Kana `trade_id` of the position.
    pub trade_id: Option<u128>,
    /// Last change.
    pub last_updated: Timestamp,
}

/// An order that left the book without filling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelRecord {
    /// Market.
    pub market: MarketId,
    /// Owner profile.
    pub address: AccountAddress,
    /// The order.
    pub order_id: VenueOrderId,
    /// Its position side.
    pub trade_side: PositionSide,
    /// Unfilled size it had.
    pub remaining: Lots,
    /// Econia's reason.
    pub reason: CancelReason,
    /// When.
    pub timestamp: Timestamp,
}

/// Which way collateral moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferKind {
    /// Into the profile (`deposit`, or the simulator's auto-funding of a new wallet).
    Deposit,
    /// Out of the profile (`withdraw`, `withdraw_multiple_markets`).
    Withdraw,
}

impl TransferKind {
    /// The record's `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::Deposit => "deposit",
            TransferKind::Withdraw => "withdraw",
        }
    }
}

/// One deposit or withdrawal of a profile: the `getDepositAndWithdrawHistory` /
/// `deposit_withdraw_history` record (shape \[UNK\] at Kana; see the serving layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRecord {
    /// Unique per record, increasing (history cursors).
    pub id: u64,
    /// Profile address.
    pub address: AccountAddress,
    /// The wallet that owns the profile.
    pub wallet: AccountAddress,
    /// Deposit or withdrawal.
    pub kind: TransferKind,
    /// The market a withdrawal named (none for deposits and multi-market withdrawals).
    pub market: Option<MarketId>,
    /// Markets a `withdraw_multiple_markets` named (empty otherwise).
    pub markets: Vec<MarketId>,
    /// Amount (quote, human).
    pub amount: Decimal,
    /// When.
    pub timestamp: Timestamp,
}

/// One funding payment of one position: the `getFundingHistory` record (shape \[UNK\] at
/// Kana; see the serving layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundingRecord {
    /// Unique per record, increasing.
    pub id: u64,
    /// Profile address.
    pub address: AccountAddress,
    /// Market.
    pub market: MarketId,
    /// Position side.
    pub trade_side: PositionSide,
    /// Position size at settlement.
    pub size: Lots,
    /// Rate applied (positive: longs pay shorts).
    pub rate: Decimal,
    /// Mark price used.
    pub mark: Decimal,
    /// What the position's margin gained (negative: it paid).
    pub amount: Decimal,
    /// Kana `trade_id` of the position.
    pub trade_id: Option<u128>,
    /// Settlement time.
    pub timestamp: Timestamp,
}

/// A liquidation done by a tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiquidationRecord {
    /// Market.
    pub market: MarketId,
    /// Profile.
    pub address: AccountAddress,
    /// Side.
    pub trade_side: PositionSide,
    /// Mark it closed at.
    pub mark: Decimal,
    /// What the ledger did.
    pub outcome: LiquidationOutcome,
}

/// One event a transaction emits, shaped like Kana's `perpetual_core` events (§6.3): a type
/// name and a `data` object whose integers are decimal strings (Aptos JSON). Event names and
/// fields other than `CancelOrderEvent`'s are \[INF\] (ours); placement events are named
/// `PlaceOrderEvent` and carry `data.order_id` so the real client learns the ids of the limit
/// orders it placed (`placed_ids` in `src/venue/kana/writer.rs`: types containing "order" and
/// "place"/"open", not "cancel", one per limit order, in order). Market orders emit
/// `MarketOrderEvent`, which that rule deliberately does not match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainEvent {
    /// Struct name, e.g. `PlaceOrderEvent`.
    pub name: &'static str,
    /// The `data` object.
    pub data: Value,
}

impl ChainEvent {
    /// A `data` field.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.data.get(field)
    }

    /// The Move type, e.g. `0x7a38…::perpetual_core::PlaceOrderEvent`.
    pub fn type_tag(&self, package: AccountAddress) -> String {
        format!("{}::{EVENT_MODULE}::{}", package.to_hex_short(), self.name)
    }

    /// As a node lists it in a committed transaction's `events` (module event: zero guid).
    pub fn to_json(&self, package: AccountAddress) -> Value {
        json!({
            "guid": {"creation_number": "0", "account_address": "0x0"},
            "sequence_number": "0",
            "type": self.type_tag(package),
            "data": self.data,
        })
    }

    pub(super) fn new(name: &'static str, fields: Vec<(&'static str, Value)>) -> ChainEvent {
        let mut data = Map::new();
        data.insert("__variant__".to_string(), Value::String("V1".to_string()));
        for (k, v) in fields {
            data.insert(k.to_string(), v);
        }
        ChainEvent {
            name,
            data: Value::Object(data),
        }
    }
}

/// A number as an Aptos JSON string.
pub(super) fn num(v: impl Display) -> Value {
    Value::String(v.to_string())
}

/// An optional tick price as a string, `"0"` when unset (the contracts' convention).
pub(super) fn opt_ticks(t: Option<Ticks>) -> Value {
    num(t.map_or(0, |t| t.0))
}

/// Everything one transaction (or one [`tick`](super::exchange::Exchange::tick)) changed, in
/// order: what the node puts in the committed transaction and what the indexer publishes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxEffects {
    /// Events, in emission order.
    pub events: Vec<ChainEvent>,
    /// Ids of the orders placed (limit and market), in request order.
    pub placed: Vec<VenueOrderId>,
    /// Records of the orders placed, as they stand after the transaction.
    pub orders: Vec<OrderRecord>,
    /// Both sides of every trade, in matching order (maker first).
    pub fills: Vec<TradeRecord>,
    /// Orders that left the book without filling.
    pub cancelled: Vec<CancelRecord>,
    /// Liquidations (ticks only).
    pub liquidations: Vec<LiquidationRecord>,
    /// Funding settlements (ticks only).
    pub funding: Vec<(MarketId, FundingSummary)>,
    /// Deposits and withdrawals.
    pub transfers: Vec<TransferRecord>,
    /// TP/SL triggers whose closing order was refused (e.g. 1007 on an empty book); the position
    /// stays and the trigger fires again on a later tick.
    pub failed_triggers: Vec<(Trigger, Abort)>,
    /// Markets whose book or positions changed.
    pub markets: BTreeSet<MarketId>,
    /// Profiles whose balances, orders or positions changed.
    pub accounts: BTreeSet<AccountAddress>,
}

impl TxEffects {
    /// Append another effect list (a later sub-transaction of a tick).
    pub fn absorb(&mut self, other: TxEffects) {
        self.events.extend(other.events);
        self.placed.extend(other.placed);
        self.orders.extend(other.orders);
        self.fills.extend(other.fills);
        self.cancelled.extend(other.cancelled);
        self.liquidations.extend(other.liquidations);
        self.funding.extend(other.funding);
        self.transfers.extend(other.transfers);
        self.failed_triggers.extend(other.failed_triggers);
        self.markets.extend(other.markets);
        self.accounts.extend(other.accounts);
    }

    /// The events as a node lists them.
    pub fn events_json(&self, package: AccountAddress) -> Vec<Value> {
        self.events.iter().map(|e| e.to_json(package)).collect()
    }

    /// True when nothing happened.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.fills.is_empty()
            && self.cancelled.is_empty()
            && self.failed_triggers.is_empty()
    }
}
