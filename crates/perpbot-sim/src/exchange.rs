//! The simulator's transaction layer: every market's [`MatchingBook`], one [`Ledger`], order and
//! trade history and the delegation registry, driven by decoded entry-function calls.
//!
//! [`Exchange::execute`] runs one submitted call ([`super::abi`] decodes it) as one Move
//! transaction: all of it happens or none of it does (the book's undo journal plus a scratch copy
//! of the ledger, committed only on success). [`Exchange::tick`] is the keeper: funding, marks,
//! take-profit / stop-loss closes and liquidations. The read methods serve the REST and WebSocket
//! layers. Deterministic: same calls, same times → same state, ids and events.
//!
//! ## Decided rules (\[INF\] unless stated)
//!
//! * `perpetual_scripts` acts for `profile_address(sender)`; `delegated_scripts` acts for the
//!   owner wallet in its first argument and is refused with Kana `E_NOT_KANA` (1001, "caller
//!   lacks rights" — the nearest retrieved code; Kana's real delegation code is unknown) unless
//!   the sender is the owner's registered, unexpired delegate. A wallet registers one with the
//!   \[INF\] entry function `perpetual_scripts::add_delegate(delegate, expires_at_secs)` (0 = no
//!   expiry; a second call replaces the first) and drops it with `remove_delegate()`, or the
//!   Rust API sets it ([`Exchange::set_delegate`]). A
//!   `…_with_profile` call with a profile index other than 0 is refused with Econia
//!   `E_INVALID_USER` (24): the simulator has one profile per wallet.
//! * `deposit(user, amount)` credits `user`'s profile (wallet token balances are not simulated);
//!   `withdraw(market, amount)` checks the market (1003) and draws on the profile's single
//!   collateral balance (1009); `withdraw_multiple_markets(amount, markets)` checks every market
//!   (1003) and draws `amount` once from that balance; `settle_pnl(market)` only checks the
//!   market (realised PnL is in the balance already, nothing is pending). Every deposit and
//!   withdrawal is kept as a [`TransferRecord`]; every funding payment as a [`FundingRecord`].
//! * Cancels: each order's `trade_side` must be its position side, else
//!   `E_INVALID_MARKET_ORDER_ID` (22), as for an id that does not rest.
//! * Batches: every vector has the length of `order_types`; `take_profits` / `stop_losses` may
//!   also be empty (none for all). Other lengths fail like an out-of-range vector borrow
//!   ([`TxError::VectorLength`]). The single `restriction` applies to the limit orders.
//! * `collapse_position(market)` closes **both** hedge sides at market (no position: 1011); the
//!   side's resting close orders are cancelled first so the close can take the full size. TP/SL
//!   closes do the same. `update_position` only checks the market.
//! * Placement events: `PlaceOrderEvent` per limit order, `MarketOrderEvent` per market order
//!   (see [`ChainEvent`]); one `TradeEvent` per match; `CancelOrderEvent` per cancelled order.
//! * Kana's `trade_id` names a position: a new one (a counter from 1) when a side opens from
//!   flat, shared by its later fills, dropped when it closes.
//! * History keeps the last `history_limit` orders and fills per profile and per market.

use std::collections::{BTreeMap, VecDeque};

use rust_decimal::Decimal;
use serde_json::Value;

use perpbot_aptos::vm_status::KANA_PERPS_PACKAGE;
use perpbot_aptos::{AccountAddress, EconiaAbort, EntryFunction, KanaAbort};
use perpbot_model::{
    Direction, Level, Liquidity, Lots, MarketId, MarketSpec, OrderKind, PositionSide, Restriction,
    Ticks, Timestamp, VenueOrderId,
};

use super::abi::{self, Action, BatchArgs, Delegation, InvalidCall, OrderArgs};
use super::accounting::{
    AccountBalance, FillLeg, FillOutcome, FundingSummary, Trigger, TriggerReason,
};
use super::matching::{
    CancelledOrder, MatchingBook, MatchingConfig, PlaceOrder, PlaceResult, RestingOrder,
};
use super::orders::{book_side, restriction_from_code};
use super::{Abort, CancelReason, Ledger, LedgerConfig, profile_address};

pub use super::exchange_records::*;

/// Settings of an [`Exchange`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExchangeConfig {
    /// Address the simulated package is published at (default: Kana's mainnet package).
    pub package: AccountAddress,
    /// Book settings, for every market.
    pub matching: MatchingConfig,
    /// Ledger settings.
    pub ledger: LedgerConfig,
    /// Orders and fills kept per profile and per market.
    pub history_limit: usize,
    /// Account paid the liquidator's share (none: it goes to the insurance fund).
    pub liquidator: Option<AccountAddress>,
    /// Address of the test-USDT module (`usdt::faucet`) that mints collateral tokens to any
    /// wallet, as Kana's testnet faucet does (none: no faucet).
    pub faucet_package: Option<AccountAddress>,
}

impl Default for ExchangeConfig {
    fn default() -> ExchangeConfig {
        ExchangeConfig {
            package: KANA_PERPS_PACKAGE,
            matching: MatchingConfig::default(),
            ledger: LedgerConfig::default(),
            history_limit: 1000,
            liquidator: None,
            faucet_package: None,
        }
    }
}

/// Why a transaction failed. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// The call does not fit the package's ABI (no contract code ran).
    #[error("{status}: {0}", status = .0.status_name())]
    Invalid(#[from] InvalidCall),
    /// The contract aborted.
    #[error("{0}")]
    Abort(#[from] Abort),
    /// Vectors of one call disagree in length.
    #[error("{function}: vector arguments of different lengths")]
    VectorLength {
        /// `module::function` as called.
        function: String,
    },
}

impl TxError {
    /// The `vm_status` a node reports for the failed transaction ([`perpbot_aptos::VmStatus`]
    /// parses it back).
    pub fn vm_status(&self, package: AccountAddress) -> String {
        match self {
            TxError::Invalid(e) => e.status_name().to_string(),
            TxError::Abort(a) => a.vm_status(),
            TxError::VectorLength { function } => format!(
                "Execution failed in {}::{function} at code offset 0",
                package.to_hex_short()
            ),
        }
    }

    /// The abort, when the contract aborted.
    pub fn abort(&self) -> Option<Abort> {
        match self {
            TxError::Abort(a) => Some(*a),
            _ => None,
        }
    }
}

/// Ledger plus the counters that must roll back with it.
#[derive(Debug, Clone)]
struct Core {
    ledger: Ledger,
    position_ids: BTreeMap<(MarketId, AccountAddress, PositionSide), u128>,
    next_trade_id: u128,
    next_fill: u64,
}

impl Core {
    fn position_lots(&self, market: MarketId, account: AccountAddress, side: PositionSide) -> Lots {
        self.ledger
            .position(account, market, side)
            .map_or(Lots::ZERO, |p| p.lots)
    }

    fn next_fill_id(&mut self) -> u64 {
        self.next_fill += 1;
        self.next_fill
    }

    /// The position's `trade_id`, creating one for a side opening from flat.
    fn trade_id(&mut self, key: (MarketId, AccountAddress, PositionSide)) -> u128 {
        if let Some(id) = self.position_ids.get(&key) {
            return *id;
        }
        self.next_trade_id += 1;
        let id = self.next_trade_id;
        self.position_ids.insert(key, id);
        id
    }
}

/// The simulated exchange. See the module docs.
#[derive(Debug, Clone)]
pub struct Exchange {
    config: ExchangeConfig,
    books: BTreeMap<MarketId, MatchingBook>,
    core: Core,
    delegates: BTreeMap<AccountAddress, Delegate>,
    orders: BTreeMap<(MarketId, VenueOrderId), OrderRecord>,
    transfers: BTreeMap<AccountAddress, VecDeque<TransferRecord>>,
    funding_history: BTreeMap<AccountAddress, VecDeque<FundingRecord>>,
    next_record: u64,
    order_log: BTreeMap<AccountAddress, VecDeque<(MarketId, VenueOrderId)>>,
    trades: BTreeMap<AccountAddress, VecDeque<TradeRecord>>,
    market_trades: BTreeMap<MarketId, VecDeque<TradeRecord>>,
    /// Collateral tokens held in each wallet (outside any profile), in sub-units: a deposit
    /// draws on them, a withdrawal pays into them.
    wallet_tokens: BTreeMap<AccountAddress, u64>,
}

/// A registered delegate of an owner wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Delegate {
    address: AccountAddress,
    expires: Option<Timestamp>,
}

/// One transaction in progress on one market.
struct Tx<'a> {
    market: MarketId,
    book: &'a mut MatchingBook,
    core: &'a mut Core,
    fx: &'a mut TxEffects,
    orders: &'a BTreeMap<(MarketId, VenueOrderId), OrderRecord>,
    now: Timestamp,
}

fn kana(k: KanaAbort) -> Abort {
    Abort::Kana(k)
}

fn side_of(trade_side: bool) -> PositionSide {
    if trade_side {
        PositionSide::Long
    } else {
        PositionSide::Short
    }
}

fn nonzero(ticks: u64) -> Option<Ticks> {
    (ticks != 0).then_some(Ticks(ticks))
}

fn closing_side(side: PositionSide) -> perpbot_model::Side {
    book_side(side, Direction::Close)
}

/// An order from decoded arguments.
fn to_place(
    account: AccountAddress,
    args: &OrderArgs,
    now: Timestamp,
) -> Result<PlaceOrder, Abort> {
    let side = side_of(args.trade_side);
    let direction = if args.direction {
        Direction::Close
    } else {
        Direction::Open
    };
    let leverage = u32::try_from(args.leverage).map_err(|_| kana(KanaAbort::InvalidLeverage))?;
    let (kind, price, restriction) = if args.is_limit {
        (
            OrderKind::Limit,
            Some(Ticks(args.price)),
            restriction_from_code(args.restriction)?,
        )
    } else {
        (OrderKind::Market, None, Restriction::None)
    };
    Ok(PlaceOrder {
        account,
        side: book_side(side, direction),
        direction,
        kind,
        lots: Lots(args.size),
        price,
        restriction,
        leverage,
        take_profit: nonzero(args.take_profit),
        stop_loss: nonzero(args.stop_loss),
        time: now,
    })
}

/// The orders of a batch, or `None` when its vectors disagree in length.
fn batch_orders(batch: &BatchArgs) -> Option<Vec<OrderArgs>> {
    let n = batch.order_types.len();
    let same = [
        batch.trade_sides.len(),
        batch.directions.len(),
        batch.sizes.len(),
        batch.prices.len(),
        batch.leverages.len(),
    ]
    .iter()
    .all(|len| *len == n);
    let optional = |v: &Vec<u64>| v.is_empty() || v.len() == n;
    if !same || !optional(&batch.take_profits) || !optional(&batch.stop_losses) {
        return None;
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(OrderArgs {
            is_limit: *batch.order_types.get(i)?,
            trade_side: *batch.trade_sides.get(i)?,
            direction: *batch.directions.get(i)?,
            size: *batch.sizes.get(i)?,
            price: *batch.prices.get(i)?,
            leverage: *batch.leverages.get(i)?,
            restriction: batch.restriction,
            take_profit: batch.take_profits.get(i).copied().unwrap_or(0),
            stop_loss: batch.stop_losses.get(i).copied().unwrap_or(0),
        });
    }
    Some(out)
}

fn placement_step(direction: Direction, held: Lots, lots: Lots) -> PositionStep {
    match direction {
        Direction::Open if held.is_zero() => PositionStep::Open,
        Direction::Open => PositionStep::Increase,
        Direction::Close if lots >= held => PositionStep::Close,
        Direction::Close => PositionStep::Decrease,
    }
}

fn fill_step(direction: Direction, before: Lots, after: Lots) -> PositionStep {
    match direction {
        Direction::Open if before.is_zero() => PositionStep::Open,
        Direction::Open => PositionStep::Increase,
        Direction::Close if after.is_zero() => PositionStep::Close,
        Direction::Close => PositionStep::Decrease,
    }
}

impl Tx<'_> {
    fn spec(&self) -> MarketSpec {
        self.book.spec().clone()
    }

    /// Place one order: ledger check, book, book every fill, reserve what rests.
    fn place(&mut self, order: &PlaceOrder, cause: FillCause) -> Result<PlaceResult, Abort> {
        let market = self.market;
        let margin_price = match order.kind {
            OrderKind::Limit => order.price.unwrap_or(Ticks(0)),
            OrderKind::Market => self
                .book
                .walk(order.side, order.lots, None)
                .worst_price
                .unwrap_or(Ticks(0)),
        };
        self.core.ledger.check_order(market, order, margin_price)?;
        let side = order.position_side();
        let held = self.core.position_lots(market, order.account, side);
        let order_type = order_type_code(side, placement_step(order.direction, held, order.lots));
        let trade_id = self
            .core
            .position_ids
            .get(&(market, order.account, side))
            .copied();
        let result = self.book.place(order)?;
        let id = result.order_id;
        let spec = self.spec();
        let mut fill_events = Vec::with_capacity(result.fills.len());
        for m in &result.fills {
            let (maker, taker) = (FillLeg::maker(m), FillLeg::taker(order, m));
            let maker_before = self.core.position_lots(market, maker.account, maker.side);
            let taker_before = self.core.position_lots(market, taker.account, taker.side);
            let (mo, to) = self.core.ledger.apply_match(market, order, m, self.now)?;
            self.record_fill(&spec, &maker, &mo, maker_before, FillCause::Order);
            self.record_fill(&spec, &taker, &to, taker_before, cause);
            fill_events.push(ChainEvent::new(
                "TradeEvent",
                vec![
                    ("market_id", num(market.0)),
                    ("maker_order_id", num(m.maker_order_id.0)),
                    ("taker_order_id", num(id.0)),
                    ("maker_address", num(m.maker_account)),
                    ("taker_address", num(m.taker_account)),
                    ("maker_trade_side", maker.side.is_long().into()),
                    ("taker_trade_side", taker.side.is_long().into()),
                    ("price", num(m.price.0)),
                    ("size", num(m.lots.0)),
                    ("timestamp", num(self.now.as_secs())),
                ],
            ));
        }
        for c in &result.cancelled {
            self.core.ledger.release(market, c.order.id, None);
            self.record_cancel(&c.order, c.reason);
        }
        if result.rested.is_some()
            && let Some(resting) = self.book.order(id)
        {
            self.core.ledger.reserve(market, resting);
        }
        let filled = result.filled();
        let remaining = result.rested.unwrap_or(Lots::ZERO);
        let status = match result.rested {
            Some(_) if filled.is_zero() => OrderState::Open,
            Some(_) => OrderState::PartiallyFilled,
            None if filled == order.lots => OrderState::Filled,
            None => OrderState::Cancelled,
        };
        let event_name = match order.kind {
            OrderKind::Limit => "PlaceOrderEvent",
            OrderKind::Market => "MarketOrderEvent",
        };
        self.fx.events.push(ChainEvent::new(
            event_name,
            vec![
                ("market_id", num(market.0)),
                ("order_id", num(id.0)),
                ("order_type", order_type.into()),
                ("profile_address", num(order.account)),
                ("trade_side", side.is_long().into()),
                ("direction", (order.direction == Direction::Close).into()),
                ("price", num(order.price.map_or(0, |p| p.0))),
                ("size", num(order.lots.0)),
                ("remaining_size", num(remaining.0)),
                ("leverage", num(order.leverage)),
                ("restriction", order.restriction.code().into()),
                ("take_profit", opt_ticks(order.take_profit)),
                ("stop_loss", opt_ticks(order.stop_loss)),
                ("timestamp", num(self.now.as_secs())),
            ],
        ));
        self.fx.events.extend(fill_events);
        self.fx.placed.push(id);
        self.fx.orders.push(OrderRecord {
            address: order.account,
            market,
            order_id: id,
            trade_side: side,
            direction: order.direction,
            kind: order.kind,
            order_type,
            price: order.price,
            total_size: order.lots,
            filled_size: filled,
            remaining_size: remaining,
            leverage: order.leverage,
            restriction: order.restriction,
            take_profit: order.take_profit,
            stop_loss: order.stop_loss,
            status,
            trade_id,
            timestamp: self.now,
            last_updated: self.now,
        });
        self.touch(order.account);
        Ok(result)
    }

    fn touch(&mut self, account: AccountAddress) {
        self.fx.accounts.insert(account);
        self.fx.markets.insert(self.market);
    }

    fn record_fill(
        &mut self,
        spec: &MarketSpec,
        leg: &FillLeg,
        out: &FillOutcome,
        before: Lots,
        cause: FillCause,
    ) {
        let key = (self.market, leg.account, leg.side);
        let trade_id = self.core.trade_id(key);
        if out.position_lots.is_zero() {
            self.core.position_ids.remove(&key);
        }
        let fill_id = self.core.next_fill_id();
        self.fx.fills.push(TradeRecord {
            address: leg.account,
            market: self.market,
            order_id: leg.order_id.unwrap_or(VenueOrderId(0)),
            fill_id,
            trade_id,
            trade_side: leg.side,
            direction: leg.direction,
            liquidity: leg.liquidity,
            cause,
            order_type: order_type_code(
                leg.side,
                fill_step(leg.direction, before, out.position_lots),
            ),
            price: spec.ticks_to_price(leg.price),
            size: leg.lots,
            order_value: spec.notional(leg.lots, leg.price),
            fee: out.fee,
            pnl: out.realized_pnl,
            leverage: leg.leverage,
            timestamp: self.now,
        });
        self.touch(leg.account);
    }

    fn record_cancel(&mut self, order: &RestingOrder, reason: CancelReason) {
        let side = order.position_side();
        let order_type = self.orders.get(&(self.market, order.id)).map_or_else(
            || order_type_code(side, PositionStep::Open),
            |r| r.order_type,
        );
        self.fx.events.push(ChainEvent::new(
            "CancelOrderEvent",
            vec![
                ("market_id", num(self.market.0)),
                ("order_id", num(order.id.0)),
                ("order_type", order_type.into()),
                ("profile_address", num(order.account)),
                ("timestamp", num(self.now.as_secs())),
                ("trade_side", side.is_long().into()),
            ],
        ));
        self.fx.cancelled.push(CancelRecord {
            market: self.market,
            address: order.account,
            order_id: order.id,
            trade_side: side,
            remaining: order.lots,
            reason,
            timestamp: self.now,
        });
        self.touch(order.account);
    }

    /// Cancel a resting order of `account`; `trade_side` (when given) must be its position side.
    fn cancel(
        &mut self,
        account: AccountAddress,
        id: VenueOrderId,
        trade_side: Option<bool>,
    ) -> Result<(), Abort> {
        if let (Some(flag), Some(order)) = (trade_side, self.book.order(id))
            && order.position_side().is_long() != flag
        {
            return Err(EconiaAbort::InvalidMarketOrderId.into());
        }
        let cancelled = self.book.cancel(account, id)?;
        self.core.ledger.release(self.market, id, None);
        self.record_cancel(&cancelled.order, cancelled.reason);
        Ok(())
    }

    /// Close a whole side at market: cancel its resting closes, then a taker close order.
    fn close_side(
        &mut self,
        account: AccountAddress,
        side: PositionSide,
        cause: FillCause,
    ) -> Result<bool, Abort> {
        let Some((lots, leverage)) = self
            .core
            .ledger
            .position(account, self.market, side)
            .map(|p| (p.lots, p.leverage))
        else {
            return Ok(false);
        };
        let closes: Vec<VenueOrderId> = self
            .book
            .orders_of(account)
            .filter(|o| o.direction == Direction::Close && o.position_side() == side)
            .map(|o| o.id)
            .collect();
        for id in closes {
            self.cancel(account, id, None)?;
        }
        let mut order = PlaceOrder::market(account, closing_side(side), lots)
            .with_direction(Direction::Close)
            .with_leverage(leverage);
        order.time = self.now;
        self.place(&order, cause)?;
        Ok(true)
    }

    fn position_event(
        &mut self,
        name: &'static str,
        account: AccountAddress,
        side: PositionSide,
        value: Value,
    ) {
        self.fx.events.push(ChainEvent::new(
            name,
            vec![
                ("market_id", num(self.market.0)),
                ("profile_address", num(account)),
                ("trade_side", side.is_long().into()),
                ("value", value),
                ("timestamp", num(self.now.as_secs())),
            ],
        ));
        self.touch(account);
    }
}

impl Exchange {
    /// An exchange with no markets.
    pub fn new(config: ExchangeConfig) -> Exchange {
        Exchange {
            config,
            books: BTreeMap::new(),
            core: Core {
                ledger: Ledger::new(config.ledger),
                position_ids: BTreeMap::new(),
                next_trade_id: 0,
                next_fill: 0,
            },
            delegates: BTreeMap::new(),
            orders: BTreeMap::new(),
            transfers: BTreeMap::new(),
            funding_history: BTreeMap::new(),
            next_record: 0,
            order_log: BTreeMap::new(),
            trades: BTreeMap::new(),
            market_trades: BTreeMap::new(),
            wallet_tokens: BTreeMap::new(),
        }
    }

    /// Give `wallet` collateral tokens (outside its profile), as a token faucet would.
    pub fn mint_wallet(&mut self, wallet: AccountAddress, sub_units: u64) {
        let held = self.wallet_tokens.entry(wallet).or_insert(0);
        *held = held.saturating_add(sub_units);
    }

    /// Collateral tokens held in `wallet`, in sub-units (what `getWalletAccountBalance` reports).
    pub fn wallet_balance(&self, wallet: AccountAddress) -> u64 {
        self.wallet_tokens.get(&wallet).copied().unwrap_or(0)
    }

    /// The settings.
    pub fn config(&self) -> &ExchangeConfig {
        &self.config
    }

    /// The package address of the simulated modules.
    pub fn package(&self) -> AccountAddress {
        self.config.package
    }

    /// Add a market (an existing one keeps its book and gets the new spec in the ledger only).
    pub fn add_market(&mut self, spec: MarketSpec) {
        self.core.ledger.add_market(spec.clone());
        self.books
            .entry(spec.id)
            .or_insert_with(|| MatchingBook::new(spec, self.config.matching));
    }

    /// Market ids, ascending.
    pub fn markets(&self) -> impl Iterator<Item = MarketId> + '_ {
        self.books.keys().copied()
    }

    /// A market's spec.
    pub fn spec(&self, market: MarketId) -> Option<&MarketSpec> {
        self.books.get(&market).map(MatchingBook::spec)
    }

    /// Set a market's index (oracle) price, the default mark source.
    pub fn set_index(&mut self, market: MarketId, price: Decimal) {
        self.core.ledger.set_index(market, price);
    }

    /// Register `delegate` as the one delegate of `owner` (both wallets), replacing any other.
    pub fn set_delegate(&mut self, owner: AccountAddress, delegate: AccountAddress) {
        self.set_delegate_until(owner, delegate, None);
    }

    /// Register `delegate` for `owner` until `expires` (none: no expiry), replacing any other.
    pub fn set_delegate_until(
        &mut self,
        owner: AccountAddress,
        delegate: AccountAddress,
        expires: Option<Timestamp>,
    ) {
        self.delegates.insert(
            owner,
            Delegate {
                address: delegate,
                expires,
            },
        );
    }

    /// Remove `owner`'s delegate.
    pub fn remove_delegate(&mut self, owner: AccountAddress) {
        self.delegates.remove(&owner);
    }

    /// `owner`'s delegate (registered; it may have expired, see [`Exchange::delegate_at`]).
    pub fn delegate_of(&self, owner: AccountAddress) -> Option<AccountAddress> {
        self.delegates.get(&owner).map(|d| d.address)
    }

    /// `owner`'s delegate in force at `now`.
    pub fn delegate_at(&self, owner: AccountAddress, now: Timestamp) -> Option<AccountAddress> {
        self.delegates
            .get(&owner)
            .filter(|d| d.expires.is_none_or(|t| now < t))
            .map(|d| d.address)
    }

    /// Credit `sub_units` of collateral to `wallet`'s profile outside any transaction (the
    /// simulator's faucet for new wallets), recorded as a deposit. Returns the profile.
    pub fn faucet(
        &mut self,
        wallet: AccountAddress,
        sub_units: u64,
        now: Timestamp,
    ) -> AccountAddress {
        let profile = self.core.ledger.deposit(wallet, sub_units);
        let mut fx = TxEffects::default();
        self.transfer(
            &mut fx,
            wallet,
            TransferKind::Deposit,
            None,
            Vec::new(),
            sub_units,
            now,
        );
        self.commit(&fx);
        profile
    }

    /// The test-USDT faucet (reference §1.4 \[DOC\]: `usdt::faucet(amount: u64)`; the docs
    /// also link `faucet_to_address`, taken here as `(to: address, amount: u64)` \[INF\]):
    /// mints `amount` collateral sub-units to the signer's wallet (or `to`'s), no limit.
    fn faucet_call(
        &mut self,
        sender: AccountAddress,
        call: &EntryFunction,
        now: Timestamp,
    ) -> Result<TxEffects, TxError> {
        let (to, amount) = abi::decode_faucet_call(call)?;
        let to = to.unwrap_or(sender);
        self.mint_wallet(to, amount);
        let mut fx = TxEffects::default();
        fx.events.push(ChainEvent::new(
            "MintEvent",
            vec![
                ("user", num(to)),
                ("amount", num(amount)),
                ("timestamp", num(now.as_secs())),
            ],
        ));
        Ok(fx)
    }

    /// Record a deposit or withdrawal of `wallet`'s profile in `fx`.
    #[allow(clippy::too_many_arguments)]
    fn transfer(
        &mut self,
        fx: &mut TxEffects,
        wallet: AccountAddress,
        kind: TransferKind,
        market: Option<MarketId>,
        markets: Vec<MarketId>,
        sub_units: u64,
        now: Timestamp,
    ) {
        let decimals = self.core.ledger.config().quote_decimals;
        let amount = Decimal::try_from_i128_with_scale(i128::from(sub_units), decimals)
            .unwrap_or(Decimal::MAX);
        self.next_record += 1;
        let address = profile_address(&wallet);
        fx.transfers.push(TransferRecord {
            id: self.next_record,
            address,
            wallet,
            kind,
            market,
            markets,
            amount,
            timestamp: now,
        });
        fx.accounts.insert(address);
    }

    // ---- transactions ----

    /// Run one submitted call from `sender` (a wallet) at `now`, all-or-nothing.
    pub fn execute(
        &mut self,
        sender: AccountAddress,
        call: &EntryFunction,
        now: Timestamp,
    ) -> Result<TxEffects, TxError> {
        if let Some(faucet) = self.config.faucet_package
            && call.module.address == faucet
        {
            return self.faucet_call(sender, call, now);
        }
        let decoded = abi::decode_call(self.config.package, call)?;
        let wallet = self.acting_wallet(sender, decoded.delegation, now)?;
        let profile = profile_address(&wallet);
        let function = format!("{}::{}", call.module.name, call.function);
        let vectors = || TxError::VectorLength {
            function: function.clone(),
        };
        match decoded.action {
            Action::Deposit { user, amount } => {
                // The tokens leave the signer's wallet. [INF] A real deposit beyond the wallet's
                // balance aborts in the framework's fungible_asset module (EINSUFFICIENT_BALANCE),
                // which the simulator's abort table does not model; the nearest Kana code stands in.
                let held = self.wallet_balance(sender);
                if held < amount {
                    return Err(kana(KanaAbort::InsufficientFundInUserDeposits).into());
                }
                self.wallet_tokens.insert(sender, held - amount);
                let credited = self.core.ledger.deposit(user, amount);
                let mut fx = TxEffects::default();
                fx.events.push(ChainEvent::new(
                    "DepositEvent",
                    vec![
                        ("profile_address", num(credited)),
                        ("user", num(user)),
                        ("amount", num(amount)),
                        ("timestamp", num(now.as_secs())),
                    ],
                ));
                fx.accounts.insert(credited);
                self.transfer(
                    &mut fx,
                    user,
                    TransferKind::Deposit,
                    None,
                    Vec::new(),
                    amount,
                    now,
                );
                self.commit(&fx);
                Ok(fx)
            }
            Action::Withdraw { market, amount } => {
                let market = MarketId(market);
                if !self.books.contains_key(&market) {
                    return Err(kana(KanaAbort::MarketNotFound).into());
                }
                self.core.ledger.withdraw(wallet, amount)?;
                self.mint_wallet(wallet, amount);
                let mut fx = TxEffects::default();
                fx.events.push(ChainEvent::new(
                    "WithdrawEvent",
                    vec![
                        ("market_id", num(market.0)),
                        ("profile_address", num(profile)),
                        ("user", num(wallet)),
                        ("amount", num(amount)),
                        ("timestamp", num(now.as_secs())),
                    ],
                ));
                fx.accounts.insert(profile);
                let kind = TransferKind::Withdraw;
                self.transfer(&mut fx, wallet, kind, Some(market), Vec::new(), amount, now);
                self.commit(&fx);
                Ok(fx)
            }
            Action::WithdrawMultiple { amount, markets } => {
                let markets: Vec<MarketId> = markets.into_iter().map(MarketId).collect();
                if markets.is_empty() || markets.iter().any(|m| !self.books.contains_key(m)) {
                    return Err(kana(KanaAbort::MarketNotFound).into());
                }
                self.core.ledger.withdraw(wallet, amount)?;
                self.mint_wallet(wallet, amount);
                let mut fx = TxEffects::default();
                fx.events.push(ChainEvent::new(
                    "WithdrawEvent",
                    vec![
                        (
                            "market_ids",
                            Value::Array(markets.iter().map(|m| num(m.0)).collect()),
                        ),
                        ("profile_address", num(profile)),
                        ("user", num(wallet)),
                        ("amount", num(amount)),
                        ("timestamp", num(now.as_secs())),
                    ],
                ));
                fx.accounts.insert(profile);
                let kind = TransferKind::Withdraw;
                self.transfer(&mut fx, wallet, kind, None, markets, amount, now);
                self.commit(&fx);
                Ok(fx)
            }
            Action::SettlePnl { market } => {
                if !self.books.contains_key(&MarketId(market)) {
                    return Err(kana(KanaAbort::MarketNotFound).into());
                }
                Ok(TxEffects::default())
            }
            Action::AddDelegate {
                delegate,
                expires_at_secs,
            } => {
                let expires = (expires_at_secs != 0).then(|| Timestamp::from_secs(expires_at_secs));
                self.set_delegate_until(wallet, delegate, expires);
                let mut fx = TxEffects::default();
                fx.events.push(ChainEvent::new(
                    "DelegateAddedEvent",
                    vec![
                        ("user", num(wallet)),
                        ("delegate", num(delegate)),
                        ("expires_at", num(expires_at_secs)),
                        ("timestamp", num(now.as_secs())),
                    ],
                ));
                Ok(fx)
            }
            Action::RemoveDelegate => {
                let mut fx = TxEffects::default();
                if let Some(old) = self.delegates.remove(&wallet) {
                    fx.events.push(ChainEvent::new(
                        "DelegateRemovedEvent",
                        vec![
                            ("user", num(wallet)),
                            ("delegate", num(old.address)),
                            ("timestamp", num(now.as_secs())),
                        ],
                    ));
                }
                Ok(fx)
            }
            Action::Place { market, order } => self.transact(MarketId(market), now, |tx| {
                let o = to_place(profile, &order, tx.now)?;
                tx.place(&o, FillCause::Order).map(drop)
            }),
            Action::PlaceMultiple { market, batch } => {
                let orders = batch_orders(&batch).ok_or_else(vectors)?;
                self.transact(MarketId(market), now, |tx| {
                    for args in &orders {
                        let o = to_place(profile, args, tx.now)?;
                        tx.place(&o, FillCause::Order)?;
                    }
                    Ok(())
                })
            }
            Action::Cancel { market, ids, sides } => {
                if ids.len() != sides.len() {
                    return Err(vectors());
                }
                self.transact(MarketId(market), now, |tx| {
                    for (id, side) in ids.iter().zip(&sides) {
                        tx.cancel(profile, VenueOrderId(*id), Some(*side))?;
                    }
                    Ok(())
                })
            }
            Action::CancelAndPlace {
                market,
                ids,
                sides,
                batch,
            } => {
                let orders = batch_orders(&batch).ok_or_else(vectors)?;
                if ids.len() != sides.len() {
                    return Err(vectors());
                }
                self.transact(MarketId(market), now, |tx| {
                    for (id, side) in ids.iter().zip(&sides) {
                        tx.cancel(profile, VenueOrderId(*id), Some(*side))?;
                    }
                    for args in &orders {
                        let o = to_place(profile, args, tx.now)?;
                        tx.place(&o, FillCause::Order)?;
                    }
                    Ok(())
                })
            }
            Action::TakeProfit {
                market,
                trade_side,
                price,
            } => self.transact(MarketId(market), now, |tx| {
                let side = side_of(trade_side);
                tx.core
                    .ledger
                    .set_take_profit(profile, tx.market, side, nonzero(price))?;
                tx.position_event("UpdateTakeProfitEvent", profile, side, num(price));
                Ok(())
            }),
            Action::StopLoss {
                market,
                trade_side,
                price,
            } => self.transact(MarketId(market), now, |tx| {
                let side = side_of(trade_side);
                tx.core
                    .ledger
                    .set_stop_loss(profile, tx.market, side, nonzero(price))?;
                tx.position_event("UpdateStopLossEvent", profile, side, num(price));
                Ok(())
            }),
            Action::AddMargin {
                market,
                trade_side,
                amount,
            } => self.transact(MarketId(market), now, |tx| {
                let side = side_of(trade_side);
                tx.core
                    .ledger
                    .add_margin(profile, tx.market, side, amount)?;
                tx.position_event("AddMarginEvent", profile, side, num(amount));
                Ok(())
            }),
            Action::Collapse { market } => self.transact(MarketId(market), now, |tx| {
                let long = tx.close_side(profile, PositionSide::Long, FillCause::Order)?;
                let short = tx.close_side(profile, PositionSide::Short, FillCause::Order)?;
                if !long && !short {
                    return Err(kana(KanaAbort::TradeSizeExceedsExistingFilled));
                }
                Ok(())
            }),
            Action::UpdatePosition { market } => self.transact(MarketId(market), now, |_| Ok(())),
        }
    }

    /// The wallet a call acts for (delegation rules in the module docs).
    fn acting_wallet(
        &self,
        sender: AccountAddress,
        delegation: Option<Delegation>,
        now: Timestamp,
    ) -> Result<AccountAddress, Abort> {
        let Some(d) = delegation else {
            return Ok(sender);
        };
        if self.delegate_at(d.owner, now) != Some(sender) {
            return Err(kana(KanaAbort::NotKana));
        }
        if d.profile_index.is_some_and(|i| i != 0) {
            return Err(EconiaAbort::InvalidUser.into());
        }
        Ok(d.owner)
    }

    /// Run `body` as one transaction on `market`: on an abort the book and the ledger are left
    /// exactly as they were; on success the ledger and history are committed.
    fn transact(
        &mut self,
        market: MarketId,
        now: Timestamp,
        body: impl FnOnce(&mut Tx<'_>) -> Result<(), Abort>,
    ) -> Result<TxEffects, TxError> {
        let Exchange {
            books,
            core,
            orders,
            ..
        } = self;
        let orders: &BTreeMap<_, _> = orders;
        let book = books
            .get_mut(&market)
            .ok_or(kana(KanaAbort::MarketNotFound))?;
        let mut scratch = core.clone();
        let mut fx = TxEffects::default();
        book.atomically(|book| {
            let mut tx = Tx {
                market,
                book,
                core: &mut scratch,
                fx: &mut fx,
                orders,
                now,
            };
            body(&mut tx)
        })?;
        scratch.ledger.set_mid(market, book.mid_price());
        *core = scratch;
        self.commit(&fx);
        Ok(fx)
    }

    /// Fold a committed transaction's effects into the history.
    fn commit(&mut self, fx: &TxEffects) {
        let limit = self.config.history_limit.max(1);
        for record in &fx.orders {
            let key = (record.market, record.order_id);
            self.orders.insert(key, record.clone());
            let log = self.order_log.entry(record.address).or_default();
            log.push_back(key);
            while log.len() > limit {
                if let Some(old) = log.pop_front()
                    && self
                        .orders
                        .get(&old)
                        .is_some_and(|r| r.status.is_terminal())
                {
                    self.orders.remove(&old);
                }
            }
        }
        for fill in &fx.fills {
            if fill.liquidity == Liquidity::Maker
                && let Some(r) = self.orders.get_mut(&(fill.market, fill.order_id))
            {
                r.filled_size = Lots(r.filled_size.0.saturating_add(fill.size.0));
                r.remaining_size = r.remaining_size.saturating_sub(fill.size);
                r.status = if r.remaining_size.is_zero() {
                    OrderState::Filled
                } else {
                    OrderState::PartiallyFilled
                };
                r.last_updated = fill.timestamp;
            }
            push_capped(self.trades.entry(fill.address).or_default(), fill, limit);
            push_capped(
                self.market_trades.entry(fill.market).or_default(),
                fill,
                limit,
            );
        }
        for t in &fx.transfers {
            let log = self.transfers.entry(t.address).or_default();
            log.push_back(t.clone());
            while log.len() > limit {
                log.pop_front();
            }
        }
        for c in &fx.cancelled {
            if let Some(r) = self.orders.get_mut(&(c.market, c.order_id)) {
                r.status = OrderState::Cancelled;
                r.remaining_size = Lots::ZERO;
                r.last_updated = c.timestamp;
            }
        }
    }

    // ---- direct access (synthetic traders) ----

    /// Place `order` for its `account` (a **profile**) on `market` as one transaction, without
    /// an entry-function call: the synthetic traders' way in. Same ledger checks, matching,
    /// events and history as a submitted order.
    pub fn place_order(
        &mut self,
        market: MarketId,
        order: &PlaceOrder,
        now: Timestamp,
    ) -> Result<(PlaceResult, TxEffects), TxError> {
        let mut out = None;
        let fx = self.transact(market, now, |tx| {
            out = Some(tx.place(order, FillCause::Order)?);
            Ok(())
        })?;
        let result = out.ok_or(TxError::Abort(kana(KanaAbort::MarketNotFound)))?;
        Ok((result, fx))
    }

    /// Cancel a resting order of `account` (a profile) on `market` as one transaction.
    pub fn cancel_order(
        &mut self,
        market: MarketId,
        account: AccountAddress,
        order_id: VenueOrderId,
        now: Timestamp,
    ) -> Result<(CancelledOrder, TxEffects), TxError> {
        let mut out = None;
        let fx = self.transact(market, now, |tx| {
            let cancelled = tx.book.cancel(account, order_id)?;
            tx.core.ledger.release(tx.market, order_id, None);
            tx.record_cancel(&cancelled.order, cancelled.reason);
            out = Some(cancelled);
            Ok(())
        })?;
        let cancelled = out.ok_or(TxError::Abort(kana(KanaAbort::MarketNotFound)))?;
        Ok((cancelled, fx))
    }

    // ---- keeper ----

    /// The keeper's pass at `now`, market by market: refresh the book mid, settle funding when
    /// its interval has passed, fire take-profit / stop-loss closes (each its own transaction),
    /// then liquidate what is below maintenance at the mark.
    pub fn tick(&mut self, now: Timestamp) -> TxEffects {
        let mut all = TxEffects::default();
        let markets: Vec<MarketId> = self.books.keys().copied().collect();
        for market in markets {
            let mid = self.books.get(&market).and_then(MatchingBook::mid_price);
            self.core.ledger.set_mid(market, mid);
            if let Some(summary) = self.core.ledger.settle_funding(market, now) {
                all.events.push(ChainEvent::new(
                    "FundingEvent",
                    vec![
                        ("market_id", num(market.0)),
                        ("funding_rate", num(summary.rate)),
                        ("mark_price", num(summary.mark)),
                        ("timestamp", num(now.as_secs())),
                    ],
                ));
                self.record_funding(market, &summary, now);
                all.funding.push((market, summary));
                all.markets.insert(market);
                all.accounts
                    .extend(self.core.ledger.positions_in(market).map(|(a, _)| a));
            }
            let Some(mark) = self.core.ledger.mark(market) else {
                continue;
            };
            for trigger in self.core.ledger.triggered(market, mark) {
                let cause = trigger_cause(&trigger);
                match self.transact(market, now, |tx| {
                    tx.close_side(trigger.account, trigger.side, cause)
                        .map(drop)
                }) {
                    Ok(fx) => all.absorb(fx),
                    Err(e) => {
                        if let Some(abort) = e.abort() {
                            all.failed_triggers.push((trigger, abort));
                        }
                    }
                }
            }
            for candidate in self.core.ledger.positions_to_liquidate(market, mark) {
                let liquidator = self.config.liquidator;
                let done = self.transact(market, now, |tx| {
                    liquidate(tx, candidate.account, candidate.side, mark, liquidator)
                });
                if let Ok(fx) = done {
                    all.absorb(fx);
                }
            }
        }
        all
    }

    /// Keep every position's payment of a settlement as a [`FundingRecord`].
    fn record_funding(&mut self, market: MarketId, summary: &FundingSummary, now: Timestamp) {
        let limit = self.config.history_limit.max(1);
        for p in &summary.payments {
            self.next_record += 1;
            let record = FundingRecord {
                id: self.next_record,
                address: p.account,
                market,
                trade_side: p.side,
                size: p.lots,
                rate: summary.rate,
                mark: summary.mark,
                amount: -p.paid,
                trade_id: self
                    .core
                    .position_ids
                    .get(&(market, p.account, p.side))
                    .copied(),
                timestamp: now,
            };
            let log = self.funding_history.entry(p.account).or_default();
            log.push_back(record);
            while log.len() > limit {
                log.pop_front();
            }
        }
    }

    // ---- reads ----

    /// A profile's deposits and withdrawals, oldest first (the last `history_limit`).
    pub fn transfers(&self, profile: AccountAddress) -> impl Iterator<Item = &TransferRecord> + '_ {
        self.transfers.get(&profile).into_iter().flatten()
    }

    /// A profile's funding payments, oldest first (the last `history_limit`).
    pub fn funding_history(
        &self,
        profile: AccountAddress,
    ) -> impl Iterator<Item = &FundingRecord> + '_ {
        self.funding_history.get(&profile).into_iter().flatten()
    }

    /// A market's book.
    pub fn book(&self, market: MarketId) -> Option<&MatchingBook> {
        self.books.get(&market)
    }

    /// Up to `levels` levels per side, best first: `(bids, asks)`.
    pub fn depth(&self, market: MarketId, levels: usize) -> Option<(Vec<Level>, Vec<Level>)> {
        self.books.get(&market).map(|b| b.depth(levels))
    }

    /// The ledger (balances, positions, marks, insurance fund).
    pub fn ledger(&self) -> &Ledger {
        &self.core.ledger
    }

    /// The ledger, mutable: for funding outside a transaction (the simulator's synthetic
    /// traders and auto-funded wallets), never for trading.
    pub fn ledger_mut(&mut self) -> &mut Ledger {
        &mut self.core.ledger
    }

    /// Balances of a profile.
    pub fn balance(&self, profile: AccountAddress) -> Option<&AccountBalance> {
        self.core.ledger.balance(profile)
    }

    /// Resting orders of a profile (one market or all), by market then id.
    pub fn open_orders(
        &self,
        profile: AccountAddress,
        market: Option<MarketId>,
    ) -> Vec<OrderRecord> {
        let mut out = Vec::new();
        for (id, book) in &self.books {
            if market.is_some_and(|m| m != *id) {
                continue;
            }
            for o in book.orders_of(profile) {
                let mut r = self
                    .orders
                    .get(&(*id, o.id))
                    .cloned()
                    .unwrap_or_else(|| record_of_resting(*id, o));
                r.remaining_size = o.lots;
                out.push(r);
            }
        }
        out
    }

    /// One order's record (`fetchOrderStatusById`), while it is kept.
    pub fn order(&self, market: MarketId, order_id: VenueOrderId) -> Option<&OrderRecord> {
        self.orders.get(&(market, order_id))
    }

    /// A profile's order history, oldest first (the last `history_limit`).
    pub fn order_history(&self, profile: AccountAddress) -> Vec<&OrderRecord> {
        self.order_log
            .get(&profile)
            .map(|log| log.iter().filter_map(|k| self.orders.get(k)).collect())
            .unwrap_or_default()
    }

    /// A profile's fills, oldest first.
    pub fn trades(&self, profile: AccountAddress) -> impl Iterator<Item = &TradeRecord> + '_ {
        self.trades.get(&profile).into_iter().flatten()
    }

    /// A market's fills (both sides of each trade), oldest first.
    pub fn market_trades(&self, market: MarketId) -> impl Iterator<Item = &TradeRecord> + '_ {
        self.market_trades.get(&market).into_iter().flatten()
    }

    /// A profile's open positions.
    pub fn positions(&self, profile: AccountAddress) -> Vec<PositionRecord> {
        self.core
            .ledger
            .positions_of(profile)
            .filter_map(|p| {
                let spec = self.spec(p.market)?;
                let committed: u64 = self
                    .books
                    .get(&p.market)
                    .map(|b| {
                        b.orders_of(profile)
                            .filter(|o| {
                                o.direction == Direction::Close && o.position_side() == p.side
                            })
                            .map(|o| o.lots.0)
                            .sum()
                    })
                    .unwrap_or(0);
                Some(PositionRecord {
                    address: profile,
                    market: p.market,
                    trade_side: p.side,
                    leverage: p.leverage,
                    size: p.lots,
                    available_order_size: p.lots.saturating_sub(Lots(committed)),
                    value: spec.notional_at(p.lots, p.entry_price),
                    entry_price: p.entry_price,
                    liq_price: p.liquidation_price,
                    margin: p.margin,
                    tp: p.take_profit,
                    sl: p.stop_loss,
                    trade_id: self
                        .core
                        .position_ids
                        .get(&(p.market, profile, p.side))
                        .copied(),
                    last_updated: p.updated_at,
                })
            })
            .collect()
    }
}

fn push_capped(log: &mut VecDeque<TradeRecord>, fill: &TradeRecord, limit: usize) {
    log.push_back(fill.clone());
    while log.len() > limit {
        log.pop_front();
    }
}

/// A record for a resting order whose history entry was dropped.
fn record_of_resting(market: MarketId, o: &RestingOrder) -> OrderRecord {
    let side = o.position_side();
    let step = match o.direction {
        Direction::Open => PositionStep::Open,
        Direction::Close => PositionStep::Close,
    };
    let filled = o.original_lots.saturating_sub(o.lots);
    OrderRecord {
        address: o.account,
        market,
        order_id: o.id,
        trade_side: side,
        direction: o.direction,
        kind: OrderKind::Limit,
        order_type: order_type_code(side, step),
        price: Some(o.price),
        total_size: o.original_lots,
        filled_size: filled,
        remaining_size: o.lots,
        leverage: o.leverage,
        restriction: Restriction::None,
        take_profit: o.take_profit,
        stop_loss: o.stop_loss,
        status: if filled.is_zero() {
            OrderState::Open
        } else {
            OrderState::PartiallyFilled
        },
        trade_id: None,
        timestamp: o.placed_at,
        last_updated: o.placed_at,
    }
}

/// Liquidate one position at `mark` and cancel its now orphaned close orders.
fn liquidate(
    tx: &mut Tx<'_>,
    account: AccountAddress,
    side: PositionSide,
    mark: Decimal,
    liquidator: Option<AccountAddress>,
) -> Result<(), Abort> {
    let market = tx.market;
    let Some((leverage, lots)) = tx
        .core
        .ledger
        .position(account, market, side)
        .map(|p| (p.leverage, p.lots))
    else {
        return Err(kana(KanaAbort::TradeSizeExceedsExistingFilled));
    };
    let outcome = tx
        .core
        .ledger
        .liquidate(account, market, side, mark, liquidator)?;
    for id in &outcome.orphaned_close_orders {
        if tx.book.order(*id).is_some() {
            tx.cancel(account, *id, None)?;
        } else {
            tx.core.ledger.release(market, *id, None);
        }
    }
    let key = (market, account, side);
    let trade_id = tx.core.trade_id(key);
    tx.core.position_ids.remove(&key);
    let fill_id = tx.core.next_fill_id();
    let spec = tx.spec();
    tx.fx.fills.push(TradeRecord {
        address: account,
        market,
        order_id: VenueOrderId(0),
        fill_id,
        trade_id,
        trade_side: side,
        direction: Direction::Close,
        liquidity: Liquidity::Taker,
        cause: FillCause::Liquidation,
        order_type: order_type_code(side, PositionStep::Close),
        price: mark,
        size: lots,
        order_value: spec.notional_at(lots, mark),
        fee: Decimal::ZERO,
        pnl: outcome.realized_pnl,
        leverage,
        timestamp: tx.now,
    });
    tx.fx.events.push(ChainEvent::new(
        "LiquidationEvent",
        vec![
            ("market_id", num(market.0)),
            ("profile_address", num(account)),
            ("trade_side", side.is_long().into()),
            ("size", num(lots.0)),
            ("mark_price", num(mark)),
            ("pnl", num(outcome.realized_pnl)),
            ("timestamp", num(tx.now.as_secs())),
        ],
    ));
    tx.fx.liquidations.push(LiquidationRecord {
        market,
        address: account,
        trade_side: side,
        mark,
        outcome,
    });
    tx.touch(account);
    Ok(())
}

/// The fill cause of a trigger's close.
fn trigger_cause(trigger: &Trigger) -> FillCause {
    match trigger.reason {
        TriggerReason::TakeProfit => FillCause::TakeProfit,
        TriggerReason::StopLoss => FillCause::StopLoss,
    }
}

#[cfg(test)]
mod tests;
