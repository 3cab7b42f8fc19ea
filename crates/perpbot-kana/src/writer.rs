//! Kana's writing half: every [`VenueRequest`] becomes one REST call that returns an unsigned
//! entry-function payload, which is ABI-encoded, signed, submitted to an Aptos fullnode and
//! confirmed — one transaction per request (a requote is one `cancelAndPlaceMultipleOrders`).
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
    CancelOrder, RefusalKind, RequestOutcome, ResumeToken, SentHook, TxCosts, VenueCapabilities,
    VenueRequest, VenueWriter,
};
use perpbot_model::{
    ClientOrderId, Direction, MarketId, MarketSpec, OrderKind, OrderRequest, Ticks, VenueOrderId,
    position_side,
};

use super::payload::EntryFunctionPayload;
use super::rest::{
    BatchOrder, CancelAndPlace, KanaRest, LimitOrderParams, MarketOrderParams, MultipleOrders,
};

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
        /// Its module.
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

/// A request that failed before anything was signed: certainly not applied.
fn rejected(reason: impl Into<String>) -> RequestOutcome {
    RequestOutcome::rejected(reason)
}

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
            return rejected("a delegate key cannot deposit: use the owner's key");
        }
        match self.rest.deposit(wallet, amount).await {
            Ok(p) => self.account_op(p, WriteAction::Deposit).await,
            Err(e) => rejected(format!("Kana REST: {e}")),
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
            return rejected("a delegate key cannot withdraw: use the owner's key");
        }
        match self
            .rest
            .withdraw_specific_market(wallet, market, amount)
            .await
        {
            Ok(p) => self.account_op(p, WriteAction::Withdraw).await,
            Err(e) => rejected(format!("Kana REST: {e}")),
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
            Err(e) => return rejected(format!("Kana REST: {e}")),
        };
        if let Err(e) = payload.validate() {
            return rejected(format!("Kana REST returned an unusable payload: {e}"));
        }
        if let Err(e) = check_payload(&payload, WriteAction::AddMargin, self.package) {
            warn!(error = %e, "REST payload refused");
            return rejected(e.to_string());
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
                Err(e) => return rejected(format!("Kana REST payload: {e}")),
            },
        };
        self.submit_checked(&payload, &NO_ORDERS).await
    }

    async fn account_op(
        &self,
        payload: EntryFunctionPayload,
        action: WriteAction,
    ) -> RequestOutcome {
        if let Err(e) = payload.validate() {
            return rejected(format!("Kana REST returned an unusable payload: {e}"));
        }
        if let Err(e) = check_payload(&payload, action, self.package) {
            warn!(error = %e, "REST payload refused");
            return rejected(e.to_string());
        }
        self.submit_checked(&payload, &NO_ORDERS).await
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
    async fn run(&self, request: &VenueRequest) -> RequestOutcome {
        let payload = match self.payload_for(request).await {
            Ok(p) => p,
            Err(reason) => return rejected(format!("Kana REST: {reason}")),
        };
        if let Err(e) = payload.validate() {
            return rejected(format!("Kana REST returned an unusable payload: {e}"));
        }
        if let Err(e) = check_payload(&payload, WriteAction::of(request), self.package) {
            warn!(error = %e, "REST payload refused");
            return rejected(e.to_string());
        }
        let payload = match self.config.delegate_for {
            None => payload,
            Some(owner) => match delegated(payload, request, owner) {
                Ok(p) => p,
                Err(reason) => return rejected(reason),
            },
        };
        self.submit_checked(&payload, request).await
    }

    /// ABI-encode, sign, submit and confirm one payload that passed [`check_payload`] (or was
    /// derived from one by this writer). `request` supplies the order ids to report (empty for
    /// account operations).
    async fn submit_checked(
        &self,
        payload: &EntryFunctionPayload,
        request: &VenueRequest,
    ) -> RequestOutcome {
        let id = match payload.function_id() {
            Ok(id) => id,
            Err(e) => return rejected(format!("Kana REST payload: {e}")),
        };
        let abi = match self
            .submitter
            .node()
            .module(id.module.address, id.module.name.as_str())
            .await
        {
            Ok(abi) => abi,
            Err(e) => return rejected(format!("cannot fetch the ABI of {}: {e}", id.module)),
        };
        let call = match encode_entry_function(
            &abi,
            id.function.as_str(),
            &payload.type_arguments,
            &payload.function_arguments,
        ) {
            Ok(call) => call,
            Err(e) => return rejected(format!("encoding {}: {e}", payload.function)),
        };
        let submitted = match self.submitter.submit(call).await {
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
            Err(e) => return rejected(format!("node refused the transaction: {e}")),
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
        match self.config.delegate_for {
            // delegated_scripts has no batch-place or cancel-and-place twin ([UNK] beyond the ABI
            // dump of reference §6.2): one order per transaction, cancels apart.
            Some(_) => VenueCapabilities {
                atomic_replace: false,
                max_batch: 1,
                client_order_ids: false,
                one_restriction_per_batch: true,
            },
            None => VenueCapabilities {
                atomic_replace: true,
                max_batch: self.config.max_batch,
                client_order_ids: false,
                one_restriction_per_batch: true,
            },
        }
    }

    async fn execute(&self, request: VenueRequest) -> RequestOutcome {
        self.run(&request).await
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
        self.map_outcome(request, outcome, text)
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

/// Adapt a venue-neutral [`SentHook`] to the Aptos submitter's hook.
pub fn aptos_hook(hook: SentHook) -> perpbot_aptos::SignedHook {
    std::sync::Arc::new(move |s: &Submitted| hook(&token_of(s)))
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
mod tests {

    //! place → REST payload → ABI encode → sign → submit → confirm, against a fake Kana REST
    //! server and the fake fullnode (which verifies the signature and decodes the entry function).
    use super::*;
    use crate::rest::RetryPolicy;
    use axum::Json;
    use axum::extract::Query;
    use axum::routing::{get, post};
    use perpbot_aptos::node::fake_node::{FakeNode, Inner, LookupReply, SubmitReply, fast_poll};
    use perpbot_aptos::{AccountAddress, GasConfig, NodeClient, PrivateKey};
    use perpbot_model::{Lots, NewOrder, Restriction, Side};
    use serde_json::json;
    use std::collections::HashMap as Map;

    const PKG: &str = "0x7a38039fffd016adcac2c53795ee49325e5ec6fddf3bf02651c09f9a583655a6";

    /// The parts of `perpetual_scripts`' ABI the tests use. \[INF\]: parameter lists mirror the
    /// delegated twins of reference §6.2 without the owner address; cancel is \[CHAIN\].
    fn scripts_abi() -> Value {
        json!({
        "address": PKG, "name": "perpetual_scripts", "friends": [], "structs": [],
        "exposed_functions": [
            {"name": "place_limit_order", "visibility": "public", "is_entry": true, "is_view": false,
             "generic_type_params": [], "return": [],
             "params": ["&signer", "u64", "bool", "bool", "u64", "u64", "u64", "u8", "u64", "u64"]},
            {"name": "cancel_multiple_orders", "visibility": "public", "is_entry": true, "is_view": false,
             "generic_type_params": [], "return": [],
             "params": ["&signer", "u64", "vector<u128>", "vector<bool>"]}
        ]})
    }

    /// `delegated_scripts::place_delegated_limit_order` as in reference §6.2's ABI dump \[CHAIN\].
    fn delegated_abi() -> Value {
        json!({
        "address": PKG, "name": "delegated_scripts", "friends": [], "structs": [],
        "exposed_functions": [
            {"name": "place_delegated_limit_order", "visibility": "public", "is_entry": true, "is_view": false,
             "generic_type_params": [], "return": [],
             "params": ["&signer", "address", "u64", "bool", "bool", "u64", "u64", "u64", "u8", "u64", "u64"]}
        ]})
    }

    /// A Kana-shaped REST server whose payloads carry on-chain units, as the real one does \[INF\].
    /// `place_function` overrides the function `/placeLimitOrder` answers with.
    async fn fake_kana(null_argument: bool, place_function: Option<String>) -> String {
        let spec = MarketSpec::kana_apt_testnet();
        let place_function = place_function
            .unwrap_or_else(|| format!("{PKG}::perpetual_scripts::place_limit_order"));
        let place = move |Query(q): Query<Map<String, String>>| {
            let spec = spec.clone();
            let function = place_function.clone();
            async move {
                let dec = |k: &str| {
                    q.get(k)
                        .and_then(|v| v.parse::<Decimal>().ok())
                        .unwrap_or_default()
                };
                let lots = spec
                    .size_to_lots(dec("size"), perpbot_model::Rounding::Exact)
                    .map(|l| l.0)
                    .unwrap_or(0);
                let ticks = spec
                    .price_to_ticks(dec("price"), perpbot_model::Rounding::Exact)
                    .map(|t| t.0)
                    .unwrap_or(0);
                let market = if null_argument {
                    Value::Null
                } else {
                    json!(q.get("marketId").cloned().unwrap_or_default())
                };
                Json(json!({"success": true, "message": "ok", "data": {
                    "function": function,
                    "typeArguments": [],
                    "functionArguments": [market, q.get("tradeSide").map(|v| v == "true"), q.get("direction").map(|v| v == "true"),
                        lots.to_string(), ticks.to_string(), q.get("leverage").cloned().unwrap_or_default(),
                        q.get("restriction").and_then(|v| v.parse::<u8>().ok()).unwrap_or(0), "0", "0"]
                }}))
            }
        };
        let cancel = |Json(body): Json<Value>| async move {
            Json(json!({"success": true, "message": "ok", "data": {
                "function": format!("{PKG}::perpetual_scripts::cancel_multiple_orders"),
                "typeArguments": [],
                "functionArguments": [body["marketId"].to_string(), body["orderIds"], body["cancelTradeSides"]]
            }}))
        };
        let app = axum::Router::new()
            .route("/placeLimitOrder", get(place))
            .route("/cancelMultipleOrders", post(cancel));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    struct Setup {
        writer: KanaWriter,
        node: FakeNode,
    }

    async fn setup(
        null_argument: bool,
        lookups: Vec<LookupReply>,
        submits: Vec<SubmitReply>,
    ) -> Setup {
        setup_with(None, null_argument, lookups, submits).await
    }

    async fn setup_with(
        delegate_for: Option<AccountAddress>,
        null_argument: bool,
        lookups: Vec<LookupReply>,
        submits: Vec<SubmitReply>,
    ) -> Setup {
        setup_full(delegate_for, null_argument, None, lookups, submits).await
    }

    async fn setup_full(
        delegate_for: Option<AccountAddress>,
        null_argument: bool,
        place_function: Option<String>,
        lookups: Vec<LookupReply>,
        submits: Vec<SubmitReply>,
    ) -> Setup {
        let key = PrivateKey::from_seed_bytes([9u8; 32]);
        let mut inner = Inner::default();
        inner.modules.insert(
            (
                AccountAddress::from_hex(PKG).unwrap(),
                "perpetual_scripts".into(),
            ),
            scripts_abi(),
        );
        inner.modules.insert(
            (
                AccountAddress::from_hex(PKG).unwrap(),
                "delegated_scripts".into(),
            ),
            delegated_abi(),
        );
        inner.accounts.insert(key.address(), 7);
        inner.lookup_replies = lookups.into();
        inner.submit_replies = submits.into();
        let node = FakeNode::start(inner).await;
        let client = NodeClient::new(&node.base, Duration::from_secs(2))
            .unwrap()
            .with_poll_config(fast_poll());
        let gas = GasConfig {
            max_gas_amount: 10_000,
            gas_unit_price: Some(100),
            expiration_secs: 30,
        };
        // No re-posts: one scripted 5xx stays ambiguous, which is what these tests exercise (the
        // re-post itself is tested with the submitter).
        let submitter =
            Arc::new(Submitter::new(client, key, 4, gas).with_reposts(0, Duration::ZERO));
        let rest = KanaRest::new(
            &fake_kana(null_argument, place_function).await,
            None,
            Duration::from_secs(2),
            RetryPolicy::none(),
        )
        .unwrap();
        let config = WriterConfig {
            confirm_timeout: Duration::from_millis(300),
            max_batch: 10,
            delegate_for,
        };
        let writer = KanaWriter::new(
            Arc::new(rest),
            submitter,
            vec![MarketSpec::kana_apt_testnet()],
            config,
        );
        assert_eq!(
            writer.package().to_string(),
            LOCAL_PACKAGE,
            "chain 4 defaults to the simulator's package"
        );
        Setup {
            writer: writer.with_package(AccountAddress::from_hex(PKG).unwrap()),
            node,
        }
    }

    fn place_request() -> VenueRequest {
        let order = NewOrder::limit(MarketId(1338), Side::Buy, Lots(2500), Ticks(5518))
            .post_only()
            .with_leverage(2);
        VenueRequest::Orders {
            market: MarketId(1338),
            cancel: vec![],
            place: vec![OrderRequest {
                client_id: ClientOrderId(1),
                order,
            }],
        }
    }

    fn committed(success: bool, vm_status: &str) -> LookupReply {
        LookupReply::Committed {
            success,
            vm_status: vm_status.into(),
        }
    }

    #[tokio::test]
    async fn place_is_signed_submitted_and_confirmed() {
        let s = setup(
            false,
            vec![
                LookupReply::Pending,
                committed(true, "Executed successfully"),
            ],
            vec![],
        )
        .await;
        let outcome = s.writer.execute(place_request()).await;
        assert!(
            matches!(&outcome, RequestOutcome::Accepted { placed, .. } if placed == &vec![(ClientOrderId(1), None)]),
            "{outcome:?}"
        );
        let node = s.node.lock();
        assert_eq!(node.received.len(), 1);
        let r = &node.received[0];
        assert!(r.sender_matches_key);
        assert_eq!(
            r.sequence_number, 7,
            "the account's on-chain sequence number"
        );
        assert_eq!(r.function.function.as_str(), "place_limit_order");
        let args = &r.function.args;
        assert_eq!(args[0], 1338u64.to_le_bytes().to_vec(), "market id as u64");
        assert_eq!(
            (args[1].as_slice(), args[2].as_slice()),
            (&[1u8][..], &[0u8][..]),
            "long side, open"
        );
        assert_eq!(
            args[3],
            2500u64.to_le_bytes().to_vec(),
            "2.5 APT = 2500 lots"
        );
        assert_eq!(
            args[4],
            5518u64.to_le_bytes().to_vec(),
            "5.518 = 5518 ticks"
        );
        assert_eq!(args[5], 2u64.to_le_bytes().to_vec(), "leverage");
        assert_eq!(args[6], vec![Restriction::PostOnly.code()]);
    }

    #[tokio::test]
    async fn move_abort_becomes_a_rejection_with_the_decoded_code() {
        let abort = format!("Move abort in {PKG}::perpetual_core: 0x3ee");
        let s = setup(false, vec![committed(false, &abort)], vec![]).await;
        let outcome = s.writer.execute(place_request()).await;
        let RequestOutcome::Rejected { reason, .. } = outcome else {
            panic!("{outcome:?}")
        };
        assert!(
            reason.contains("1006") || reason.contains("E_INVALID_LEVERAGE"),
            "{reason}"
        );
    }

    #[tokio::test]
    async fn ambiguous_submit_is_resolved_by_hash_without_resubmitting() {
        let server_error =
            json!({"message": "boom", "error_code": "internal_error", "vm_error_code": null});
        let s = setup(
            false,
            vec![committed(true, "Executed successfully")],
            vec![SubmitReply::Error(500, server_error)],
        )
        .await;
        let request = place_request();
        let outcome = s.writer.execute(request.clone()).await;
        let RequestOutcome::Ambiguous {
            token: Some(token), ..
        } = outcome
        else {
            panic!("{outcome:?}")
        };
        let expected = s.node.lock().received[0].hash.to_string();
        assert_eq!(
            token, expected,
            "the token is the locally computed transaction hash"
        );
        let resolved = s.writer.resolve(&request, Some(&token)).await;
        assert!(
            matches!(resolved, RequestOutcome::Accepted { .. }),
            "{resolved:?}"
        );
        assert_eq!(s.node.lock().received.len(), 1, "never resubmitted");
    }

    #[tokio::test]
    async fn a_payload_with_a_null_argument_is_rejected_before_signing() {
        let s = setup(true, vec![], vec![]).await;
        let outcome = s.writer.execute(place_request()).await;
        let RequestOutcome::Rejected { reason, .. } = outcome else {
            panic!("{outcome:?}")
        };
        assert!(reason.contains("argument 0"), "{reason}");
        assert!(s.node.lock().received.is_empty());
    }

    #[tokio::test]
    async fn cancel_sends_ids_and_position_sides() {
        let s = setup(
            false,
            vec![committed(true, "Executed successfully")],
            vec![],
        )
        .await;
        let cancel = CancelOrder {
            client_id: ClientOrderId(3),
            venue_id: Some(VenueOrderId(161_668_980_614_256_490_457_451_450)),
            market: MarketId(1338),
            side: perpbot_model::Side::Sell,
            direction: Direction::Close, // closing a long: trade side true
        };
        let request = VenueRequest::Orders {
            market: MarketId(1338),
            cancel: vec![cancel],
            place: vec![],
        };
        let outcome = s.writer.execute(request).await;
        assert!(
            matches!(outcome, RequestOutcome::Accepted { .. }),
            "{outcome:?}"
        );
        let node = s.node.lock();
        let f = &node.received[0].function;
        assert_eq!(f.function.as_str(), "cancel_multiple_orders");
        let mut ids = vec![1u8];
        ids.extend_from_slice(&161_668_980_614_256_490_457_451_450u128.to_le_bytes());
        assert_eq!(f.args[1], ids);
        assert_eq!(f.args[2], vec![1u8, 1u8], "one side: true (long)");
    }

    #[tokio::test]
    async fn a_delegate_signs_the_delegated_twin_with_the_owner_first() {
        let owner = AccountAddress::from_hex(
            "0xd01e3a233632a41463bd6d289e99e69e1b50815c7afff710e1c992659a8722f3",
        )
        .unwrap();
        let s = setup_with(
            Some(owner),
            false,
            vec![committed(true, "Executed successfully")],
            vec![],
        )
        .await;
        assert_eq!(s.writer.capabilities().max_batch, 1);
        let outcome = s.writer.execute(place_request()).await;
        assert!(
            matches!(outcome, RequestOutcome::Accepted { .. }),
            "{outcome:?}"
        );
        let node = s.node.lock();
        let f = &node.received[0].function;
        assert_eq!(f.module.name.as_str(), "delegated_scripts");
        assert_eq!(f.function.as_str(), "place_delegated_limit_order");
        assert_eq!(
            f.args[0],
            owner.to_bytes().to_vec(),
            "the owner's address comes first"
        );
        assert_eq!(
            f.args[4],
            2500u64.to_le_bytes().to_vec(),
            "then the direct call's arguments"
        );
        assert!(
            node.received[0].sender_matches_key,
            "signed by the delegate key itself"
        );
    }

    /// An ambiguous transaction later found expired frees its sequence number through the
    /// submitter, so the next transaction takes it instead of waiting behind a gap for ever.
    #[tokio::test]
    async fn an_ambiguous_transaction_that_expires_frees_its_sequence_number() {
        let server_error =
            json!({"message": "boom", "error_code": "internal_error", "vm_error_code": null});
        let s = setup(
            false,
            vec![
                LookupReply::NotFound,
                committed(true, "Executed successfully"),
            ],
            vec![SubmitReply::Error(500, server_error)],
        )
        .await;
        let request = place_request();
        let RequestOutcome::Ambiguous { token, .. } = s.writer.execute(request.clone()).await
        else {
            panic!("ambiguous expected")
        };
        {
            let mut node = s.node.lock();
            let expiry = node.received[0].expiration_timestamp_secs;
            node.ledger_usecs = (expiry + 60) * 1_000_000;
        }
        let resolved = s.writer.resolve(&request, token.as_deref()).await;
        assert!(
            matches!(&resolved, RequestOutcome::Rejected { reason, .. } if reason.contains("expired")),
            "{resolved:?}"
        );
        let next = s.writer.execute(place_request()).await;
        assert!(matches!(next, RequestOutcome::Accepted { .. }), "{next:?}");
        let seqs: Vec<u64> = s
            .node
            .lock()
            .received
            .iter()
            .map(|r| r.sequence_number)
            .collect();
        assert_eq!(seqs, vec![7, 7], "the expired number is reused");
        assert_eq!(
            s.writer.tx_costs(),
            TxCosts {
                transactions: 1,
                failed_transactions: 0,
                gas_units: 57,
                native_fee: rust_decimal_macros::dec!(0.000057),
            }
        );
    }

    /// Gas is counted for committed and aborted transactions, at the signed gas price, and an
    /// ambiguous one once however often it is resolved.
    #[tokio::test]
    async fn gas_of_committed_and_aborted_transactions_is_counted_once() {
        let server_error =
            json!({"message": "boom", "error_code": "internal_error", "vm_error_code": null});
        let abort = format!("Move abort in {PKG}::perpetual_core: 0x3ee");
        let s = setup(
            false,
            vec![
                committed(true, "Executed successfully"),
                committed(false, &abort),
                committed(true, "Executed successfully"),
            ],
            vec![
                SubmitReply::Accept,
                SubmitReply::Accept,
                SubmitReply::Error(500, server_error),
            ],
        )
        .await;
        assert_eq!(s.writer.tx_costs(), TxCosts::default());
        let ok = s.writer.execute(place_request()).await;
        assert!(matches!(ok, RequestOutcome::Accepted { .. }), "{ok:?}");
        let aborted = s.writer.execute(place_request()).await;
        assert!(
            matches!(aborted, RequestOutcome::Rejected { .. }),
            "{aborted:?}"
        );
        assert_eq!(
            s.writer.tx_costs(),
            TxCosts {
                transactions: 2,
                failed_transactions: 1,
                gas_units: 114,
                native_fee: rust_decimal_macros::dec!(0.000114),
            }
        );
        let request = place_request();
        let RequestOutcome::Ambiguous { token, .. } = s.writer.execute(request.clone()).await
        else {
            panic!("ambiguous expected")
        };
        for _ in 0..2 {
            let r = s.writer.resolve(&request, token.as_deref()).await;
            assert!(matches!(r, RequestOutcome::Accepted { .. }), "{r:?}");
        }
        let costs = s.writer.tx_costs();
        assert_eq!((costs.transactions, costs.gas_units), (3, 171));
        assert_eq!(costs.native_fee, rust_decimal_macros::dec!(0.000171));
        assert_eq!(
            serde_json::to_value(costs).unwrap(),
            json!({"transactions": 3, "failed_transactions": 1, "gas_units": 171, "native_fee": "0.000171"})
        );
    }

    /// A REST answer for another package, another module or another action is never signed;
    /// the reason names the endpoint and the function.
    #[tokio::test]
    async fn payloads_outside_the_kana_package_or_not_matching_the_request_are_refused() {
        let cases = [
            (
                "0x1::aptos_account::transfer".to_owned(),
                "/placeLimitOrder returned 0x1::aptos_account::transfer, outside the Kana package",
            ),
            (
                format!("{PKG}::perpetual_core::place_limit_order"),
                "module perpetual_core is not perpetual_scripts or delegated_scripts",
            ),
            (
                format!("{PKG}::perpetual_scripts::withdraw"),
                "::perpetual_scripts::withdraw, which is not a single limit-order placement",
            ),
            (
                format!("{PKG}::perpetual_scripts::cancel_multiple_orders"),
                "/placeLimitOrder returned",
            ),
        ];
        for (function, expected) in cases {
            let s = setup_full(None, false, Some(function.clone()), vec![], vec![]).await;
            let outcome = s.writer.execute(place_request()).await;
            let RequestOutcome::Rejected { reason, .. } = outcome else {
                panic!("{function}: {outcome:?}")
            };
            assert!(reason.contains(expected), "{function}: {reason}");
            assert!(reason.contains(&function), "{reason}");
            let node = s.node.lock();
            assert!(node.received.is_empty(), "{function}: nothing signed");
            assert_eq!(node.module_requests, 0, "{function}: not even encoded");
        }
    }

    #[test]
    fn function_names_must_fit_the_request() {
        use WriteAction as A;
        let pkg = AccountAddress::from_hex(PKG).unwrap();
        let payload = |f: &str| EntryFunctionPayload {
            function: format!("{PKG}::{f}"),
            type_arguments: vec![],
            function_arguments: vec![],
        };
        let ok = [
            (A::PlaceLimit, "perpetual_scripts::place_limit_order"),
            (A::PlaceMarket, "perpetual_scripts::place_market_order"),
            (A::Close, "perpetual_scripts::place_market_order"),
            (A::PlaceMultiple, "perpetual_scripts::place_multiple_orders"),
            (A::Cancel, "perpetual_scripts::cancel_multiple_orders"),
            (
                A::CancelAndPlace,
                "perpetual_scripts::cancel_and_place_multiple_orders",
            ),
            (A::TakeProfit, "perpetual_scripts::update_take_profit"),
            (A::StopLoss, "perpetual_scripts::update_stop_loss"),
            (A::Deposit, "perpetual_scripts::deposit"),
            (A::Withdraw, "perpetual_scripts::withdraw"),
            (A::AddMargin, "perpetual_scripts::add_margin"),
            (A::AddMargin, "delegated_scripts::add_delegated_margin"),
            (
                A::PlaceLimit,
                "delegated_scripts::place_delegated_limit_order",
            ),
        ];
        for (action, f) in ok {
            assert_eq!(check_payload(&payload(f), action, pkg), Ok(()), "{f}");
        }
        let refused = [
            (A::PlaceLimit, "perpetual_scripts::place_market_order"),
            (A::PlaceMarket, "perpetual_scripts::place_multiple_orders"),
            (
                A::PlaceMultiple,
                "perpetual_scripts::cancel_and_place_multiple_orders",
            ),
            (
                A::Cancel,
                "perpetual_scripts::cancel_and_place_multiple_orders",
            ),
            (A::Cancel, "perpetual_scripts::cancel_all_and_withdraw"),
            (
                A::CancelAndPlace,
                "perpetual_scripts::cancel_multiple_orders",
            ),
            (A::TakeProfit, "perpetual_scripts::update_stop_loss"),
            (A::StopLoss, "perpetual_scripts::update_take_profit"),
            (A::Deposit, "perpetual_scripts::withdraw"),
            (A::AddMargin, "perpetual_scripts::withdraw_margin"),
            (
                A::PlaceLimit,
                "perpetual_scripts::place_limit_order_and_transfer",
            ),
        ];
        for (action, f) in refused {
            let e = check_payload(&payload(f), action, pkg).unwrap_err();
            assert!(
                matches!(e, PayloadRefused::WrongFunction { .. }),
                "{f}: {e}"
            );
            assert!(e.to_string().contains(action.endpoint()), "{e}");
        }
        let e = check_payload(
            &payload("perpetual_scripts::deposit"),
            A::Deposit,
            AccountAddress::ONE,
        )
        .unwrap_err();
        let expected = format!(
            "/deposit returned {PKG}::perpetual_scripts::deposit, outside the Kana package {}; refusing to sign",
            AccountAddress::ONE
        );
        assert_eq!(e.to_string(), expected);
        assert_eq!(default_package(1), KANA_PERPS_PACKAGE);
        assert_eq!(default_package(2), KANA_PERPS_PACKAGE);
    }

    #[test]
    fn mixed_restrictions_cannot_share_a_kana_batch() {
        let r = |restriction| OrderRequest {
            client_id: ClientOrderId(1),
            order: NewOrder {
                restriction,
                ..NewOrder::limit(MarketId(1), Side::Buy, Lots(1), Ticks(1))
            },
        };
        assert!(common_restriction(&[r(Restriction::PostOnly), r(Restriction::None)]).is_err());
        assert_eq!(
            common_restriction(&[r(Restriction::PostOnly), r(Restriction::PostOnly)]),
            Ok(3)
        );
    }

    #[test]
    fn only_the_books_unknown_order_abort_says_the_order_is_gone() {
        let kind = |s: &str| refusal_kind(&VmStatus::parse(s));
        assert_eq!(
            kind(
                "Move abort in 0xc0deb00c405f84c85dc13442e305df75d1288100cdd82675695f6148c7ece51c::market: E_INVALID_MARKET_ORDER_ID(0x16): market order id invalid"
            ),
            RefusalKind::UnknownOrder
        );
        assert_eq!(
            kind(
                "Move abort in 0xc0deb00c405f84c85dc13442e305df75d1288100cdd82675695f6148c7ece51c::market: E_POST_OR_ABORT_CROSSES_SPREAD(0xd): crosses"
            ),
            RefusalKind::PostOnlyWouldCross
        );
        assert_eq!(
            kind(
                "Move abort in 0x7a38039fffd016adcac2c53795ee49325e5ec6fddf3bf02651c09f9a583655a6::perpetual_core: 0x3f4"
            ),
            RefusalKind::InsufficientMargin,
            "E_LOSS_GREATER_THAN_COLLATERAL (1012)"
        );
        // The same code from another module, other failures: not an unknown order.
        for other in [
            "Move abort in 0x7a38039fffd016adcac2c53795ee49325e5ec6fddf3bf02651c09f9a583655a6::perpetual_core: 0x16",
            "Out of gas",
        ] {
            assert_eq!(kind(other), RefusalKind::Other, "{other}");
        }
    }

    #[test]
    fn a_transaction_in_an_older_journal_is_adopted_like_a_token_kana_writes() {
        use perpbot_core::journal::record::{Entry, Record};
        let hash = format!("0x{}", "ab".repeat(32));
        let old = format!(
            r#"{{"seq":4,"ts_ms":1,"kind":"signed","request":3,"hash":"{hash}","sequence_number":9,"expiration_secs":1900000000,"gas_unit_price":100}}"#
        );
        let entry: Entry = serde_json::from_str(&old).unwrap();
        let Record::Signed(s) = entry.record else {
            panic!("{entry:?}")
        };
        assert_eq!(s.request, Some(3));
        let tx = submitted_from_token(&s.token).unwrap();
        assert_eq!(
            (
                tx.hash.to_string(),
                tx.sequence_number,
                tx.expiration_timestamp_secs,
                tx.gas_unit_price
            ),
            (hash, 9, 1_900_000_000, 100)
        );
        assert_eq!(token_of(&tx), s.token, "what Kana writes today");
        let again: Entry = serde_json::from_str(
            &serde_json::to_string(&Entry {
                seq: 4,
                ts_ms: 1,
                record: Record::Signed(s.clone()),
            })
            .unwrap(),
        )
        .unwrap();
        assert_eq!(again.record, Record::Signed(s));
        let bad = ResumeToken {
            handle: "0xab".into(),
            state: serde_json::json!({}),
        };
        assert!(submitted_from_token(&bad).unwrap_err().contains("handle"));
    }
}
