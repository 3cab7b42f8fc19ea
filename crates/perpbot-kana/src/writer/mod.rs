//! Kana's writing half: every [`VenueRequest`] becomes one REST call that returns an unsigned
//! entry-function payload, which is ABI-encoded, signed, submitted to an Aptos fullnode and
//! confirmed — one transaction per request (a requote is one `cancelAndPlaceMultipleOrders`).
//! A delegate session (`delegate_for`) calls `delegated_scripts`, which has a batch cancel but
//! no batch place or cancel-and-place: there a request may become several transactions
//! ([`delegate_split`]), and the capabilities say it is not atomic.
//!
//! Outcomes are mapped so that nothing can be sent twice by accident:
//!
//! | what happened | outcome |
//! |---|---|
//! | REST refused or failed (nothing was signed) | `Rejected` |
//! | the node refused the transaction before mempool (bad signature, sequence, gas) | `Rejected` |
//! | committed, `success: true` | `Accepted` |
//! | committed, Move abort (e.g. post-only crossing) | `Rejected` with the decoded abort |
//! | expired before it committed (the chain's time passed its expiry) | `Rejected` |
//! | submit timed out / 5xx, or still pending when we stopped waiting | `Ambiguous` with the transaction hash; [`VenueWriter::resolve`] asks the node by hash |
//!
//! Kana does not echo client order ids and assigns order ids on chain; the ids are taken from the
//! committed transaction's events where they can be read, otherwise from the next `open_orders`
//! snapshot (the engine's state matches them by side, price and size).
//!
//! **Nothing the REST server returns is signed blindly** ([`check_payload`]): the function must
//! live in the pinned Kana package ([`default_package`], [`KanaWriter::with_package`]), in module
//! `perpetual_scripts` or `delegated_scripts`, and its name must fit the request (a place request
//! cannot come back as a withdrawal). A compromised or intercepted REST endpoint can then at
//! worst get a Kana call of the requested kind signed, never a transfer.
//!
//! Every outcome goes through the [`Submitter`]'s sequence-number bookkeeping, including the
//! later resolution of an ambiguous transaction: a transaction that turns out expired frees its
//! number, so one lost transaction cannot stall the ones after it. The gas of every charged
//! transaction (committed or aborted) is summed for [`VenueWriter::tx_costs`].

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde_json::Value;
use tracing::{debug, warn};

use perpbot_aptos::node::CommittedTxn;
use perpbot_aptos::signing::TransactionHash;
use perpbot_aptos::vm_status::{KANA_PERPS_PACKAGE, VmStatus};
use perpbot_aptos::{AccountAddress, Submitted, Submitter, TxnOutcome, encode_entry_function};
use perpbot_core::venue::{
    CancelOrder, RefusalKind, RequestContext, RequestOutcome, ResumeToken, TxCosts,
    VenueCapabilities, VenueRequest, VenueWriter,
};
use perpbot_model::{
    ClientOrderId, Direction, MarketId, MarketSpec, OrderKind, OrderRequest, Ticks, VenueOrderId,
    position_side,
};

use super::payload::EntryFunctionPayload;

pub mod delegate_split;
pub mod delegation;
use super::rest::{
    BatchOrder, CancelAndPlace, KanaRest, LimitOrderParams, MarketOrderParams, MultipleOrders,
};
pub use delegation::{DelegateInfo, DelegationFunctions, DelegationReceipt, parse_view};

/// How the writer submits.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Longest wait for a transaction to commit before the outcome is reported ambiguous.
    pub confirm_timeout: Duration,
    /// Most orders in one placing transaction (\[UNK\]: Kana documents no limit; kept small so a
    /// transaction stays well under the gas cap).
    pub max_batch: usize,
    /// Trade for this owner wallet with a delegate key (`delegated_scripts`, reference §9.6):
    /// the signer is the delegate, the owner's address is the first argument of every call.
    pub delegate_for: Option<AccountAddress>,
}

impl WriterConfig {
    /// What a writer with this configuration can do, for the executor (a function of the
    /// configuration alone, so a bench or a backtest can ask without a writer).
    pub fn capabilities(&self) -> VenueCapabilities {
        match self.delegate_for {
            // delegated_scripts (reference §6.2, [CHAIN] ABI dump) has a vector cancel
            // (`cancel_delegated_orders`: address, u64, vector<u128>, vector<bool>), so the
            // executor's cancel-only requests stay one transaction each, but only single-order
            // places and no cancel-and-place: one order per placing request, cancels apart, no
            // atomic requote (a request with more is split, see `delegate_split`).
            Some(_) => VenueCapabilities {
                atomic_replace: false,
                max_batch: 1,
                client_order_ids: false,
                one_restriction_per_batch: true,
                position_triggers: true,
                closing_orders: true,
                net_positions: false,
            },
            None => VenueCapabilities {
                atomic_replace: true,
                max_batch: self.max_batch,
                client_order_ids: false,
                one_restriction_per_batch: true,
                position_triggers: true,
                closing_orders: true,
                net_positions: false,
            },
        }
    }
}

impl Default for WriterConfig {
    fn default() -> WriterConfig {
        WriterConfig {
            confirm_timeout: Duration::from_secs(30),
            max_batch: 10,
            delegate_for: None,
        }
    }
}

/// The package whose payloads a writer signs when none is set with
/// [`KanaWriter::with_package`], by the chain the submitter signs for:
///
/// * chain 1 (Aptos mainnet): Kana's package, \[CHAIN\] (reference §1.4);
/// * chain 2 (Aptos testnet): the same address — \[INF\]: one testnet script uses it with
///   markets 1338–1340; the reference calls it "probably identical";
/// * any other chain (a local network, where no real funds exist): the simulator's
///   [`LOCAL_PACKAGE`], where perpbot's simulator publishes by default. A simulator started
///   with another `package` needs `venue.kana.package` ([`KanaWriter::with_package`]).
pub fn default_package(chain_id: u8) -> AccountAddress {
    match chain_id {
        1 | 2 => KANA_PERPS_PACKAGE,
        _ => AccountAddress::from_hex(LOCAL_PACKAGE).unwrap_or(KANA_PERPS_PACKAGE),
    }
}

/// The package address a local network's Kana is assumed at when the config names none: the
/// simulator's default (`perpbot sim` prints it). Kept here, not taken from the simulator, so
/// the client does not depend on its counterparty; a test of the app checks the two agree.
pub const LOCAL_PACKAGE: &str =
    "0x5157000000000000000000000000000000000000000000000000000000000001";

/// The Kana modules a REST payload may call: direct trading and delegated trading (§6).
pub const ALLOWED_MODULES: [&str; 2] = ["perpetual_scripts", "delegated_scripts"];

/// Why a REST payload was not signed (see [`check_payload`]). Each names the endpoint that
/// returned the payload and the function it asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadRefused {
    /// The function is not in the pinned Kana package.
    #[error(
        "{endpoint} returned {function}, outside the Kana package {expected}; refusing to sign"
    )]
    WrongPackage {
        /// REST endpoint that answered.
        endpoint: &'static str,
        /// The payload's `function`.
        function: String,
        /// The pinned package.
        expected: AccountAddress,
    },
    /// The function is in the package but not in one of [`ALLOWED_MODULES`].
    #[error(
        "{endpoint} returned {function}: module {module} is not perpetual_scripts or \
         delegated_scripts; refusing to sign"
    )]
    WrongModule {
        /// REST endpoint that answered.
        endpoint: &'static str,
        /// The payload's `function`.
        function: String,
        module: String,
    },
    /// The function does not do what was asked.
    #[error("{endpoint} returned {function}, which is not {expected}; refusing to sign")]
    WrongFunction {
        /// REST endpoint that answered.
        endpoint: &'static str,
        /// The payload's `function`.
        function: String,
        /// What the request needs, in words.
        expected: &'static str,
    },
}

/// What a payload is asked for: which REST endpoint produced it and which entry functions may
/// do it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteAction {
    /// One limit order (`/placeLimitOrder`).
    PlaceLimit,
    /// One market order (`/placeMarketOrder`).
    PlaceMarket,
    /// Several orders in one transaction (`/placeMultipleOrders`).
    PlaceMultiple,
    /// Cancels only (`/cancelMultipleOrders`).
    Cancel,
    /// Cancels and places in one transaction (`/cancelAndPlaceMultipleOrders`).
    CancelAndPlace,
    /// Set or clear a take-profit (`/updateTakeProfit`).
    TakeProfit,
    /// Set or clear a stop-loss (`/updateStopLoss`).
    StopLoss,
    /// Close a position: a closing market order (`/placeMarketOrder`).
    Close,
    /// Wallet → profile (`/deposit`).
    Deposit,
    /// Profile → wallet (`/withdrawSpecificMarket`).
    Withdraw,
    /// Margin into a position (`/addMargin`).
    AddMargin,
}

impl WriteAction {
    /// The action behind a venue request (mirrors how the writer picks the endpoint).
    pub fn of(request: &VenueRequest) -> WriteAction {
        match request {
            VenueRequest::Orders { cancel, place, .. } => {
                match (cancel.is_empty(), place.as_slice()) {
                    (false, []) => WriteAction::Cancel,
                    (true, [one])
                        if one.order.kind == OrderKind::Limit && one.order.price.is_some() =>
                    {
                        WriteAction::PlaceLimit
                    }
                    (true, [_]) => WriteAction::PlaceMarket,
                    (true, _) => WriteAction::PlaceMultiple,
                    (false, _) => WriteAction::CancelAndPlace,
                }
            }
            VenueRequest::SetTakeProfit { .. } => WriteAction::TakeProfit,
            VenueRequest::SetStopLoss { .. } => WriteAction::StopLoss,
            VenueRequest::ClosePosition { .. } => WriteAction::Close,
        }
    }

    /// The REST endpoint that returns the payload.
    pub fn endpoint(self) -> &'static str {
        match self {
            WriteAction::PlaceLimit => "/placeLimitOrder",
            WriteAction::PlaceMarket | WriteAction::Close => "/placeMarketOrder",
            WriteAction::PlaceMultiple => "/placeMultipleOrders",
            WriteAction::Cancel => "/cancelMultipleOrders",
            WriteAction::CancelAndPlace => "/cancelAndPlaceMultipleOrders",
            WriteAction::TakeProfit => "/updateTakeProfit",
            WriteAction::StopLoss => "/updateStopLoss",
            WriteAction::Deposit => "/deposit",
            WriteAction::Withdraw => "/withdrawSpecificMarket",
            WriteAction::AddMargin => "/addMargin",
        }
    }

    /// What a fitting function does, for error messages.
    fn expected(self) -> &'static str {
        match self {
            WriteAction::PlaceLimit => "a single limit-order placement",
            WriteAction::PlaceMarket | WriteAction::Close => "a single market-order placement",
            WriteAction::PlaceMultiple => "a batch placement without cancels",
            WriteAction::Cancel => "cancel_multiple_orders",
            WriteAction::CancelAndPlace => "a cancel-and-place",
            WriteAction::TakeProfit => "a take-profit update",
            WriteAction::StopLoss => "a stop-loss update",
            WriteAction::Deposit => "a deposit",
            WriteAction::Withdraw => "a withdrawal",
            WriteAction::AddMargin => "a margin addition",
        }
    }

    /// Whether the entry function `name` fits the action.
    ///
    /// Only `cancel_multiple_orders` is known by name (\[CHAIN\], reference §6.1); the other
    /// `perpetual_scripts` names are \[UNK\]. \[INF\]: each carries the words of its action,
    /// as the \[CHAIN\] delegated twins do (`place_delegated_limit_order`,
    /// `update_delegated_take_profit`, …), so the check asks for those words rather than exact
    /// names. Whatever the action, a name that speaks of withdrawing or transferring is refused
    /// unless a withdrawal was asked for.
    pub fn accepts(self, name: &str) -> bool {
        let has = |word: &str| name.contains(word);
        let fits = match self {
            WriteAction::PlaceLimit => {
                has("place") && has("limit") && !has("cancel") && !has("multiple")
            }
            WriteAction::PlaceMarket | WriteAction::Close => {
                has("place") && has("market") && !has("cancel") && !has("multiple")
            }
            WriteAction::PlaceMultiple => has("place") && has("multiple") && !has("cancel"),
            WriteAction::Cancel => name == "cancel_multiple_orders",
            WriteAction::CancelAndPlace => has("cancel") && has("place"),
            WriteAction::TakeProfit => has("take_profit"),
            WriteAction::StopLoss => has("stop_loss"),
            WriteAction::Deposit => has("deposit"),
            WriteAction::Withdraw => has("withdraw"),
            WriteAction::AddMargin => has("margin"),
        };
        let moves_funds_out = has("withdraw") || has("transfer");
        fits && (self == WriteAction::Withdraw || !moves_funds_out)
    }
}

/// Refuse a REST payload unless its function is in `package`, in one of [`ALLOWED_MODULES`],
/// and fits `action` ([`WriteAction::accepts`]). Runs before anything is encoded or signed.
pub fn check_payload(
    payload: &EntryFunctionPayload,
    action: WriteAction,
    package: AccountAddress,
) -> Result<(), PayloadRefused> {
    let endpoint = action.endpoint();
    let function = || clip(&payload.function);
    let id = payload
        .function_id()
        .map_err(|_| PayloadRefused::WrongFunction {
            endpoint,
            function: function(),
            expected: action.expected(),
        })?;
    if id.module.address != package {
        return Err(PayloadRefused::WrongPackage {
            endpoint,
            function: function(),
            expected: package,
        });
    }
    let module = id.module.name.as_str();
    if !ALLOWED_MODULES.contains(&module) {
        return Err(PayloadRefused::WrongModule {
            endpoint,
            function: function(),
            module: module.to_owned(),
        });
    }
    if !action.accepts(id.function.as_str()) {
        return Err(PayloadRefused::WrongFunction {
            endpoint,
            function: function(),
            expected: action.expected(),
        });
    }
    Ok(())
}

fn clip(s: &str) -> String {
    const MAX: usize = 200;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", s.get(..i).unwrap_or(s)),
        None => s.to_owned(),
    }
}

/// Gas counters behind [`VenueWriter::tx_costs`] (relaxed atomics: a report needs no ordering).
#[derive(Debug, Default)]
struct CostCounters {
    transactions: AtomicU64,
    failed: AtomicU64,
    gas_units: AtomicU64,
    octas: AtomicU64,
}

impl CostCounters {
    /// Count one charged transaction signed at `gas_unit_price`.
    fn record(&self, txn: &CommittedTxn, gas_unit_price: u64) {
        let add = |counter: &AtomicU64, n: u64| {
            let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_add(n))
            });
        };
        add(&self.transactions, 1);
        if !txn.success {
            add(&self.failed, 1);
        }
        add(&self.gas_units, txn.gas_used);
        add(&self.octas, txn.gas_used.saturating_mul(gas_unit_price));
    }

    fn snapshot(&self) -> TxCosts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TxCosts {
            transactions: get(&self.transactions),
            failed_transactions: get(&self.failed),
            gas_units: get(&self.gas_units),
            // 1 APT = 10^8 octas.
            native_fee: Decimal::from_i128_with_scale(i128::from(get(&self.octas)), 8).normalize(),
        }
    }
}

/// Executes requests on Kana (REST payload → BCS → Ed25519 → fullnode).
pub struct KanaWriter {
    rest: Arc<KanaRest>,
    submitter: Arc<Submitter>,
    specs: HashMap<MarketId, MarketSpec>,
    config: WriterConfig,
    /// The only package whose payloads are signed.
    package: AccountAddress,
    /// Transactions whose outcome is still open (ambiguous at submit, or unknown when the
    /// confirm wait ended), by hash: their sequence number and expiry let a later
    /// [`VenueWriter::resolve`] settle them through the submitter's bookkeeping.
    pending: std::sync::Mutex<HashMap<String, Submitted>>,
    costs: CostCounters,
}

/// The request account operations report under: no orders, so no order ids to assign.
const NO_ORDERS: VenueRequest = VenueRequest::Orders {
    market: MarketId(0),
    cancel: Vec::new(),
    place: Vec::new(),
};

impl KanaWriter {
    /// A writer over a REST client and a submitter for the trading key.
    pub fn new(
        rest: Arc<KanaRest>,
        submitter: Arc<Submitter>,
        specs: Vec<MarketSpec>,
        config: WriterConfig,
    ) -> KanaWriter {
        let package = default_package(submitter.chain_id());
        KanaWriter {
            rest,
            submitter,
            specs: specs.into_iter().map(|s| (s.id, s)).collect(),
            config,
            package,
            pending: std::sync::Mutex::new(HashMap::new()),
            costs: CostCounters::default(),
        }
    }

    /// Sign payloads of this package only (instead of [`default_package`] for the chain).
    pub fn with_package(mut self, package: AccountAddress) -> KanaWriter {
        self.package = package;
        self
    }

    /// The package whose payloads this writer signs.
    pub fn package(&self) -> AccountAddress {
        self.package
    }

    fn remember(&self, submitted: Submitted) {
        if let Ok(mut map) = self.pending.lock() {
            map.insert(submitted.hash.to_string(), submitted);
        }
    }

    fn pending(&self, hash: &str) -> Option<Submitted> {
        self.pending
            .lock()
            .ok()
            .and_then(|map| map.get(hash).copied())
    }

    fn forget(&self, hash: &str) -> Option<Submitted> {
        self.pending
            .lock()
            .ok()
            .and_then(|mut map| map.remove(hash))
    }

    /// Count the gas of a charged (committed or aborted) transaction.
    fn charge(&self, outcome: &TxnOutcome, gas_unit_price: u64) {
        if let TxnOutcome::Committed { txn } | TxnOutcome::Failed { txn, .. } = outcome {
            self.costs.record(txn, gas_unit_price);
        }
    }

    fn spec(&self, market: MarketId) -> Result<&MarketSpec, String> {
        self.specs
            .get(&market)
            .ok_or_else(|| format!("market {market} is not configured"))
    }

    /// Move collateral from the wallet into the trading profile (owner key only).
    pub async fn deposit(&self, wallet: AccountAddress, amount: Decimal) -> RequestOutcome {
        if self.config.delegate_for.is_some() {
            return RequestOutcome::rejected("a delegate key cannot deposit: use the owner's key");
        }
        match self.rest.deposit(wallet, amount).await {
            Ok(p) => self.account_op(p, WriteAction::Deposit).await,
            Err(e) => RequestOutcome::rejected(format!("Kana REST: {e}")),
        }
    }

    /// Withdraw collateral of one market back to the wallet (owner key only).
    pub async fn withdraw(
        &self,
        wallet: AccountAddress,
        market: MarketId,
        amount: Decimal,
    ) -> RequestOutcome {
        if self.config.delegate_for.is_some() {
            return RequestOutcome::rejected("a delegate key cannot withdraw: use the owner's key");
        }
        match self
            .rest
            .withdraw_specific_market(wallet, market, amount)
            .await
        {
            Ok(p) => self.account_op(p, WriteAction::Withdraw).await,
            Err(e) => RequestOutcome::rejected(format!("Kana REST: {e}")),
        }
    }

    /// Add margin to a position (lowers its liquidation price).
    pub async fn add_margin(
        &self,
        market: MarketId,
        side: perpbot_model::PositionSide,
        amount: Decimal,
    ) -> RequestOutcome {
        let payload = match self.rest.add_margin(market, side.is_long(), amount).await {
            Ok(p) => p,
            Err(e) => return RequestOutcome::rejected(format!("Kana REST: {e}")),
        };
        if let Err(e) = payload.validate() {
            return RequestOutcome::rejected(format!(
                "Kana REST returned an unusable payload: {e}"
            ));
        }
        if let Err(e) = check_payload(&payload, WriteAction::AddMargin, self.package) {
            warn!(error = %e, "REST payload refused");
            return RequestOutcome::rejected(e.to_string());
        }
        let payload = match self.config.delegate_for {
            None => payload,
            Some(owner) => match payload.function_id() {
                Ok(id) => {
                    let mut arguments = vec![Value::String(owner.to_string())];
                    arguments.extend(payload.function_arguments);
                    EntryFunctionPayload {
                        function: format!(
                            "{}::delegated_scripts::add_delegated_margin",
                            id.module.address
                        ),
                        type_arguments: payload.type_arguments,
                        function_arguments: arguments,
                    }
                }
                Err(e) => return RequestOutcome::rejected(format!("Kana REST payload: {e}")),
            },
        };
        self.submit_checked(&payload, &NO_ORDERS, &RequestContext::none())
            .await
    }

    async fn account_op(
        &self,
        payload: EntryFunctionPayload,
        action: WriteAction,
    ) -> RequestOutcome {
        if let Err(e) = payload.validate() {
            return RequestOutcome::rejected(format!(
                "Kana REST returned an unusable payload: {e}"
            ));
        }
        if let Err(e) = check_payload(&payload, action, self.package) {
            warn!(error = %e, "REST payload refused");
            return RequestOutcome::rejected(e.to_string());
        }
        self.submit_checked(&payload, &NO_ORDERS, &RequestContext::none())
            .await
    }

    /// Ask Kana for the payload that does `request`.
    async fn payload_for(&self, request: &VenueRequest) -> Result<EntryFunctionPayload, String> {
        let rest_err = |e: super::rest::KanaRestError| e.to_string();
        match request {
            VenueRequest::Orders {
                market,
                cancel,
                place,
            } => {
                let spec = self.spec(*market)?;
                let (ids, sides) = cancel_lists(cancel)?;
                let orders = place
                    .iter()
                    .map(|r| batch_order(spec, r))
                    .collect::<Vec<_>>();
                let restriction = common_restriction(place)?;
                match (cancel.is_empty(), place.as_slice()) {
                    (true, []) => Err("empty request".to_string()),
                    (false, []) => self
                        .rest
                        .cancel_multiple_orders(*market, &ids, &sides)
                        .await
                        .map_err(rest_err),
                    (true, [single]) => self.place_one(spec, single).await.map_err(rest_err),
                    (true, _) => {
                        let body = MultipleOrders {
                            market: *market,
                            restriction,
                            orders,
                        };
                        self.rest
                            .place_multiple_orders(&body)
                            .await
                            .map_err(rest_err)
                    }
                    (false, _) => {
                        let body = CancelAndPlace {
                            market: *market,
                            cancel_order_ids: ids,
                            cancel_trade_sides: sides,
                            restriction,
                            orders,
                        };
                        self.rest
                            .cancel_and_place_multiple_orders(&body)
                            .await
                            .map_err(rest_err)
                    }
                }
            }
            VenueRequest::SetTakeProfit {
                market,
                position,
                price,
            } => {
                let spec = self.spec(*market)?;
                let price = price.map_or(Decimal::ZERO, |t| spec.ticks_to_price(t));
                self.rest
                    .update_take_profit(*market, position.is_long(), price)
                    .await
                    .map_err(rest_err)
            }
            VenueRequest::SetStopLoss {
                market,
                position,
                price,
            } => {
                let spec = self.spec(*market)?;
                let price = price.map_or(Decimal::ZERO, |t| spec.ticks_to_price(t));
                self.rest
                    .update_stop_loss(*market, position.is_long(), price)
                    .await
                    .map_err(rest_err)
            }
            VenueRequest::ClosePosition {
                market,
                position,
                lots,
                leverage,
            } => {
                // A market order that closes the side: defined for one side (collapsePosition's
                // effect on the other hedge side is [UNK]).
                let spec = self.spec(*market)?;
                let p = MarketOrderParams {
                    market: *market,
                    trade_side: position.is_long(),
                    direction: true,
                    size: spec.lots_to_size(*lots),
                    leverage: *leverage,
                    take_profit: None,
                    stop_loss: None,
                };
                self.rest.place_market_order(&p).await.map_err(rest_err)
            }
        }
    }

    async fn place_one(
        &self,
        spec: &MarketSpec,
        r: &OrderRequest,
    ) -> Result<EntryFunctionPayload, super::rest::KanaRestError> {
        let o = &r.order;
        let trade_side = o.position_side().is_long();
        let direction = o.direction == Direction::Close;
        let tp = o.take_profit.map(|t| spec.ticks_to_price(t));
        let sl = o.stop_loss.map(|t| spec.ticks_to_price(t));
        match (o.kind, o.price) {
            (OrderKind::Limit, Some(price)) => {
                let p = LimitOrderParams {
                    market: o.market,
                    trade_side,
                    direction,
                    size: spec.lots_to_size(o.lots),
                    price: spec.ticks_to_price(price),
                    leverage: o.leverage,
                    restriction: o.restriction.code(),
                    take_profit: tp,
                    stop_loss: sl,
                };
                self.rest.place_limit_order(&p).await
            }
            _ => {
                let p = MarketOrderParams {
                    market: o.market,
                    trade_side,
                    direction,
                    size: spec.lots_to_size(o.lots),
                    leverage: o.leverage,
                    take_profit: tp,
                    stop_loss: sl,
                };
                self.rest.place_market_order(&p).await
            }
        }
    }

    /// Payload → signed transaction → node → outcome.
    async fn run(&self, request: &VenueRequest, ctx: &RequestContext) -> RequestOutcome {
        let payload = match self.payload_for(request).await {
            Ok(p) => p,
            Err(reason) => return RequestOutcome::rejected(format!("Kana REST: {reason}")),
        };
        if let Err(e) = payload.validate() {
            return RequestOutcome::rejected(format!(
                "Kana REST returned an unusable payload: {e}"
            ));
        }
        if let Err(e) = check_payload(&payload, WriteAction::of(request), self.package) {
            warn!(error = %e, "REST payload refused");
            return RequestOutcome::rejected(e.to_string());
        }
        let payload = match self.config.delegate_for {
            None => payload,
            Some(owner) => match delegated(payload, request, owner) {
                Ok(p) => p,
                Err(reason) => return RequestOutcome::rejected(reason),
            },
        };
        self.submit_checked(&payload, request, ctx).await
    }

    /// ABI-encode, sign, submit and confirm one payload that passed [`check_payload`] (or was
    /// derived from one by this writer). `request` supplies the order ids to report (empty for
    /// account operations). Each signed transaction's token goes to `ctx` before it is sent.
    async fn submit_checked(
        &self,
        payload: &EntryFunctionPayload,
        request: &VenueRequest,
        ctx: &RequestContext,
    ) -> RequestOutcome {
        let id = match payload.function_id() {
            Ok(id) => id,
            Err(e) => return RequestOutcome::rejected(format!("Kana REST payload: {e}")),
        };
        let abi = match self
            .submitter
            .node()
            .module(id.module.address, id.module.name.as_str())
            .await
        {
            Ok(abi) => abi,
            Err(e) => {
                return RequestOutcome::rejected(format!(
                    "cannot fetch the ABI of {}: {e}",
                    id.module
                ));
            }
        };
        let call = match encode_entry_function(
            &abi,
            id.function.as_str(),
            &payload.type_arguments,
            &payload.function_arguments,
        ) {
            Ok(call) => call,
            Err(e) => {
                return RequestOutcome::rejected(format!("encoding {}: {e}", payload.function));
            }
        };
        let before_send = |s: &Submitted| ctx.sent(&token_of(s));
        let submitted = match self.submitter.submit_with(call, &before_send).await {
            Ok(s) => s,
            Err(e) if e.is_ambiguous() => {
                warn!(error = %e, "submit outcome ambiguous; will resolve by hash");
                let token = e.hash().map(|h| h.to_string());
                if let Some(s) = e.submitted() {
                    self.remember(s);
                }
                return RequestOutcome::Ambiguous {
                    reason: e.to_string(),
                    token,
                };
            }
            Err(e) => {
                return RequestOutcome::rejected(format!("node refused the transaction: {e}"));
            }
        };
        debug!(hash = %submitted.hash, seq = submitted.sequence_number, function = %payload.function, "submitted");
        let outcome = self
            .submitter
            .confirm(&submitted, self.config.confirm_timeout)
            .await;
        let hash = submitted.hash.to_string();
        if matches!(outcome, TxnOutcome::Unknown { .. }) {
            self.remember(submitted);
        }
        self.charge(&outcome, submitted.gas_unit_price);
        self.map_outcome(request, outcome, &hash)
    }

    fn map_outcome(
        &self,
        request: &VenueRequest,
        outcome: TxnOutcome,
        hash: &str,
    ) -> RequestOutcome {
        match outcome {
            TxnOutcome::Committed { txn } => {
                debug!(%hash, version = txn.version, gas = txn.gas_used, "transaction committed");
                RequestOutcome::Accepted {
                    placed: placed_ids(request, &txn),
                }
            }
            TxnOutcome::Failed { vm_status, txn } => {
                let reason = describe(&vm_status);
                debug!(%hash, version = txn.version, %reason, "transaction aborted");
                RequestOutcome::Rejected {
                    reason,
                    kind: refusal_kind(&vm_status),
                }
            }
            TxnOutcome::Expired { .. } => RequestOutcome::Rejected {
                reason: format!("transaction {hash} expired before it committed"),
                kind: RefusalKind::Expired,
            },
            TxnOutcome::Unknown { reason } => RequestOutcome::Ambiguous {
                reason,
                token: Some(hash.to_string()),
            },
        }
    }
}

/// The `delegated_scripts` function that does what `request` asks (reference §6.2, \[CHAIN\] ABI).
/// Chosen from the request rather than from the REST payload's function name, whose
/// `perpetual_scripts` names are \[UNK\].
fn delegated_function(request: &VenueRequest) -> Result<&'static str, String> {
    match request {
        VenueRequest::Orders { cancel, place, .. } => match (cancel.is_empty(), place.as_slice()) {
            (false, []) => Ok("cancel_delegated_orders"),
            (true, [one]) if one.order.kind == OrderKind::Limit => {
                Ok("place_delegated_limit_order")
            }
            (true, [_]) => Ok("place_delegated_market_order"),
            // The writer splits such requests before they get here (`delegate_split`).
            _ => Err("a delegate places one order per transaction and cancels apart".into()),
        },
        VenueRequest::SetTakeProfit { .. } => Ok("update_delegated_take_profit"),
        VenueRequest::SetStopLoss { .. } => Ok("update_delegated_stop_loss"),
        VenueRequest::ClosePosition { .. } => Ok("place_delegated_market_order"),
    }
}

/// Turn Kana's direct payload into its delegated twin: same package, module `delegated_scripts`,
/// the owner's address prepended to the arguments. \[INF\]: the delegated twins take the direct
/// call's arguments in the same order (the ABI dump's parameter types match the REST query order).
fn delegated(
    payload: EntryFunctionPayload,
    request: &VenueRequest,
    owner: AccountAddress,
) -> Result<EntryFunctionPayload, String> {
    let id = payload
        .function_id()
        .map_err(|e| format!("Kana REST payload: {e}"))?;
    let function = delegated_function(request)?;
    let mut arguments = Vec::with_capacity(payload.function_arguments.len() + 1);
    arguments.push(Value::String(owner.to_string()));
    arguments.extend(payload.function_arguments);
    Ok(EntryFunctionPayload {
        function: format!("{}::delegated_scripts::{function}", id.module.address),
        type_arguments: payload.type_arguments,
        function_arguments: arguments,
    })
}

/// A readable reason for a committed failure.
fn describe(status: &VmStatus) -> String {
    match status {
        VmStatus::MoveAbort(abort) => abort.to_string(),
        other => format!("{other:?}"),
    }
}

/// Kana cancels by order id and the position side of each order (`tradeSide`).
fn cancel_lists(cancel: &[CancelOrder]) -> Result<(Vec<u128>, Vec<bool>), String> {
    let mut ids = Vec::with_capacity(cancel.len());
    let mut sides = Vec::with_capacity(cancel.len());
    for c in cancel {
        let id = c
            .venue_id
            .ok_or_else(|| format!("order {} has no Kana order id yet", c.client_id))?;
        ids.push(id.0);
        sides.push(position_side(c.side, c.direction).is_long());
    }
    Ok((ids, sides))
}

fn batch_order(spec: &MarketSpec, r: &OrderRequest) -> BatchOrder {
    let o = &r.order;
    BatchOrder {
        is_limit: o.kind == OrderKind::Limit,
        trade_side: o.position_side().is_long(),
        direction: o.direction == Direction::Close,
        size: spec.lots_to_size(o.lots),
        price: o
            .price
            .map_or(Decimal::ZERO, |t: Ticks| spec.ticks_to_price(t)),
        leverage: o.leverage,
        take_profit: o.take_profit.map(|t| spec.ticks_to_price(t)),
        stop_loss: o.stop_loss.map(|t| spec.ticks_to_price(t)),
    }
}

/// Kana's batch endpoints take one restriction for the whole batch (§4.3.3).
fn common_restriction(place: &[OrderRequest]) -> Result<u8, String> {
    let mut codes = place.iter().map(|r| r.order.restriction.code());
    let first = codes.next().unwrap_or(0);
    if codes.any(|c| c != first) {
        return Err("Kana batches take one restriction for all orders; split the request".into());
    }
    Ok(first)
}

/// Order ids of placed orders in a committed transaction's events, in order: events whose type
/// names an order being *placed* (contains "order" and "place" or "open", not "cancel") and
/// whose data has an `order_id`. \[INF\]: Kana's event names are not documented.
pub fn placed_order_ids(events: &[Value]) -> Vec<VenueOrderId> {
    events
        .iter()
        .filter(|e| {
            let ty = e
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_ascii_lowercase();
            ty.contains("order")
                && (ty.contains("place") || ty.contains("open"))
                && !ty.contains("cancel")
        })
        .filter_map(|e| {
            let v = e.get("data")?.get("order_id")?;
            let text = v
                .as_str()
                .map(str::to_string)
                .or_else(|| v.as_u64().map(|n| n.to_string()))?;
            text.parse::<u128>().ok().map(VenueOrderId)
        })
        .collect()
}

/// Venue ids for the placed orders of `request`: the ids from the transaction's events paired
/// with its resting (limit) orders when the counts match; otherwise none is guessed and the next
/// `open_orders` snapshot supplies them.
fn placed_ids(
    request: &VenueRequest,
    txn: &CommittedTxn,
) -> Vec<(ClientOrderId, Option<VenueOrderId>)> {
    let VenueRequest::Orders { place, .. } = request else {
        return Vec::new();
    };
    let ids = placed_order_ids(&txn.events);
    let resting: Vec<&OrderRequest> = place
        .iter()
        .filter(|r| r.order.kind == OrderKind::Limit)
        .collect();
    if ids.len() == resting.len() && !ids.is_empty() {
        let mut out: Vec<(ClientOrderId, Option<VenueOrderId>)> = resting
            .iter()
            .zip(ids)
            .map(|(r, id)| (r.client_id, Some(id)))
            .collect();
        out.extend(
            place
                .iter()
                .filter(|r| r.order.kind != OrderKind::Limit)
                .map(|r| (r.client_id, None)),
        );
        out
    } else {
        place.iter().map(|r| (r.client_id, None)).collect()
    }
}

#[async_trait]
impl VenueWriter for KanaWriter {
    fn capabilities(&self) -> VenueCapabilities {
        self.config.capabilities()
    }

    async fn execute(&self, request: VenueRequest, ctx: &RequestContext) -> RequestOutcome {
        if self.config.delegate_for.is_some() && delegate_split::needs_split(&request) {
            return self.run_split(&request, ctx).await;
        }
        self.run(&request, ctx).await
    }

    /// One short look at the transaction behind `token`: committed, failed, provably expired, or
    /// still unknown (asked again later). A transaction this writer submitted is settled through
    /// [`Submitter::confirm`], so its sequence number is consumed (committed) or freed (expired)
    /// and later transactions are not left waiting behind it.
    async fn resolve(&self, request: &VenueRequest, token: Option<&str>) -> RequestOutcome {
        let Some((hash, text)) =
            token.and_then(|t| t.parse::<TransactionHash>().ok().map(|h| (h, t)))
        else {
            return RequestOutcome::Ambiguous {
                reason: "no transaction hash to resolve by; left for reconciliation".into(),
                token: None,
            };
        };
        let key = hash.to_string();
        let outcome = match self.pending(&key) {
            Some(submitted) => {
                let outcome = self
                    .submitter
                    .confirm(&submitted, Duration::from_millis(1))
                    .await;
                // The entry leaves the map once settled; only the call that removes it counts
                // the gas, so concurrent resolves cannot count one transaction twice.
                if !matches!(outcome, TxnOutcome::Unknown { .. }) && self.forget(&key).is_some() {
                    self.charge(&outcome, submitted.gas_unit_price);
                }
                outcome
            }
            None => {
                // Not open here (settled already, or not submitted by this writer): look it up
                // without an expiry (never reported expired) and note a commit's number.
                let outcome = self
                    .submitter
                    .node()
                    .wait_for_transaction(hash, u64::MAX, Duration::from_millis(1))
                    .await;
                if let TxnOutcome::Committed { txn } | TxnOutcome::Failed { txn, .. } = &outcome {
                    self.submitter.observe_committed(txn.sequence_number).await;
                }
                outcome
            }
        };
        let mapped = self.map_outcome(request, outcome, text);
        if self.config.delegate_for.is_some() && delegate_split::needs_split(request) {
            // Only a split request's first transaction can have been left ambiguous.
            return delegate_split::resolve_split(request, mapped);
        }
        mapped
    }

    /// A transaction from an earlier process's journal joins the open ones, so
    /// [`resolve`](VenueWriter::resolve) settles it through [`Submitter::confirm`] with its real
    /// expiry (the chain's time decides when not-found means expired).
    fn adopt(&self, token: &ResumeToken) {
        match submitted_from_token(token) {
            Ok(submitted) => self.remember(submitted),
            Err(e) => {
                warn!(token = %token.handle, error = %e, "journaled transaction not understood; it is resolved without its expiry")
            }
        }
    }

    fn tx_costs(&self) -> TxCosts {
        self.costs.snapshot()
    }
}

/// The [`ResumeToken`] Kana writes for a signed transaction: the hash as the handle, and the
/// sequence number, expiry and gas price it needs to resolve the transaction after a restart.
pub fn token_of(s: &Submitted) -> ResumeToken {
    ResumeToken {
        handle: s.hash.to_string(),
        state: serde_json::json!({
            "sequence_number": s.sequence_number,
            "expiration_secs": s.expiration_timestamp_secs,
            "gas_unit_price": s.gas_unit_price,
        }),
    }
}

/// A signed transaction back from its [`ResumeToken`] ([`token_of`]).
pub fn submitted_from_token(token: &ResumeToken) -> Result<Submitted, String> {
    let hash = token
        .handle
        .parse::<TransactionHash>()
        .map_err(|e| format!("handle: {e}"))?;
    let field = |name: &str| {
        token
            .state
            .get(name)
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| format!("state.{name}: missing or not an unsigned integer"))
    };
    Ok(Submitted {
        hash,
        sequence_number: field("sequence_number")?,
        expiration_timestamp_secs: field("expiration_secs")?,
        gas_unit_price: field("gas_unit_price")?,
    })
}

/// What kind of refusal a failed transaction's VM status is (reference §8.6): the Econia book's
/// `E_INVALID_MARKET_ORDER_ID` (22 in module `market`) says a cancelled id does not rest,
/// `E_POST_OR_ABORT_CROSSES_SPREAD` (13) that a post-only order would cross; Kana's
/// `E_LOSS_GREATER_THAN_COLLATERAL` and `E_INSUFFICIENT_BALANCE_TO_EXIT_POSITION` mean too little
/// margin. \[INF\] which Kana abort an under-margined *opening* order raises is not documented;
/// it stays `Other` until seen.
fn refusal_kind(status: &VmStatus) -> RefusalKind {
    use perpbot_aptos::vm_status::{EconiaAbort, KanaAbort, KnownAbort};
    let VmStatus::MoveAbort(abort) = status else {
        return RefusalKind::Other;
    };
    match abort.known() {
        KnownAbort::Econia(EconiaAbort::InvalidMarketOrderId) => RefusalKind::UnknownOrder,
        KnownAbort::Econia(EconiaAbort::PostOrAbortCrossesSpread) => {
            RefusalKind::PostOnlyWouldCross
        }
        KnownAbort::Kana(
            KanaAbort::LossGreaterThanCollateral | KanaAbort::InsufficientBalanceToExitPosition,
        ) => RefusalKind::InsufficientMargin,
        _ => RefusalKind::Other,
    }
}

#[cfg(test)]
mod tests;
