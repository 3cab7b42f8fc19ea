//! The client: one method per Kana REST endpoint, each returning typed records or a typed
//! error, over one retrying HTTP call.

#[allow(unused_imports)]
use super::*;

/// An endpoint with two names (§11 item 6): the preferred one is tried first; on HTTP 404 the
/// other is tried, and the one that answered is preferred from then on.
#[derive(Debug)]
pub(super) struct Route {
    primary: &'static str,
    fallback: &'static str,
    use_fallback: AtomicBool,
}

impl Route {
    const fn new(primary: &'static str, fallback: &'static str) -> Route {
        Route {
            primary,
            fallback,
            use_fallback: AtomicBool::new(false),
        }
    }

    fn order(&self) -> (&'static str, &'static str) {
        if self.use_fallback.load(Ordering::Relaxed) {
            (self.fallback, self.primary)
        } else {
            (self.primary, self.fallback)
        }
    }

    fn prefer(&self, path: &'static str) {
        self.use_fallback
            .store(path == self.fallback, Ordering::Relaxed);
    }
}

/// The Kana Perps REST client. Cheap to share behind an `Arc`; all methods take `&self`.
///
/// `Debug` shows whether an API key is set, never the key.
pub struct KanaRest {
    client: reqwest::Client,
    base_url: String,
    api_key: Option<HeaderValue>,
    timeout: Duration,
    retry: RetryPolicy,
    withdraw_route: Route,
    last_price_route: Route,
    order_status_route: Route,
}

impl fmt::Debug for KanaRest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KanaRest")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

/// A request before it is sent.
pub(super) struct Call {
    method: Method,
    path: &'static str,
    query: Query,
    body: Option<String>,
}

impl Call {
    fn get(path: &'static str, query: Query) -> Call {
        Call {
            method: Method::GET,
            path,
            query,
            body: None,
        }
    }

    fn post(path: &'static str, body: String) -> Call {
        Call {
            method: Method::POST,
            path,
            query: Query::default(),
            body: Some(body),
        }
    }

    fn method_name(&self) -> &'static str {
        if self.method == Method::POST {
            "POST"
        } else {
            "GET"
        }
    }
}

/// A successful (2xx, `success` not false) answer.
pub(super) struct Answer {
    pub(super) method: &'static str,
    pub(super) endpoint: &'static str,
    pub(super) status: u16,
    pub(super) data: Option<Box<RawValue>>,
}

impl KanaRest {
    /// Build a client for `base_url` (e.g. [`TESTNET_BASE_URL`]). `timeout` bounds each attempt
    /// (connect to last body byte); `retry` says how 429/5xx/timeouts are retried.
    ///
    /// Installs rustls' `ring` crypto provider as the process default if none is installed yet.
    pub fn new(
        base_url: &str,
        api_key: Option<Secret>,
        timeout: Duration,
        retry: RetryPolicy,
    ) -> Result<KanaRest, KanaRestError> {
        let base_url = base_url.trim().trim_end_matches('/').to_owned();
        reqwest::Url::parse(&base_url)
            .map_err(|e| KanaRestError::Client(format!("base URL {base_url:?}: {e}")))?;
        let api_key = match api_key {
            None => None,
            Some(secret) => {
                let mut v = HeaderValue::from_str(secret.expose().trim()).map_err(|_| {
                    KanaRestError::Client(
                        "API key contains characters not allowed in a header".into(),
                    )
                })?;
                v.set_sensitive(true);
                Some(v)
            }
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| KanaRestError::Client(error_chain(&e)))?;
        Ok(KanaRest {
            client,
            base_url,
            api_key,
            timeout,
            retry,
            withdraw_route: Route::new("/withdrawSpecificMarket", "/withdrawSpecifiMarket"),
            last_price_route: Route::new("/getLastPlacedPrice", "/getLastExecutionPrice"),
            order_status_route: Route::new("/fetchOrderStatusById", "/getOrderStatusByOrderId"),
        })
    }

    /// The base URL (without trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    // -- account ------------------------------------------------------------------------------

    /// `GET /getProfileAddress` (§4.1.1): the trade-profile address of `wallet`, normalised to
    /// `0x` + 64 lowercase hex digits (the server may strip a leading zero, §1.3).
    pub async fn profile_address(&self, wallet: AccountAddress) -> Result<String, KanaRestError> {
        let a = self
            .send(&Call::get("/getProfileAddress", user(wallet)))
            .await?;
        let text = a.string()?;
        AccountAddress::from_hex(text.trim())
            .map(|addr| addr.to_string())
            .map_err(|e| a.decode_error(format!("profile address {text:?}: {e}")))
    }

    /// `GET /getWalletAccountBalance` (§4.1.2): collateral-token balance in the wallet (not
    /// deposited), human units.
    pub async fn wallet_account_balance(
        &self,
        wallet: AccountAddress,
    ) -> Result<Decimal, KanaRestError> {
        self.send(&Call::get("/getWalletAccountBalance", user(wallet)))
            .await?
            .decimal()
    }

    /// `GET /getProfileBalanceSnapshot` (§4.1.3): available balance in the trading profile.
    pub async fn profile_balance_snapshot(
        &self,
        wallet: AccountAddress,
    ) -> Result<Decimal, KanaRestError> {
        self.send(&Call::get("/getProfileBalanceSnapshot", user(wallet)))
            .await?
            .decimal()
    }

    /// `GET /getNetProfileBalance` (§4.1.4): available balance plus unsettled balances of closed
    /// positions.
    pub async fn net_profile_balance(
        &self,
        wallet: AccountAddress,
    ) -> Result<Decimal, KanaRestError> {
        self.send(&Call::get("/getNetProfileBalance", user(wallet)))
            .await?
            .decimal()
    }

    /// `GET /getAccountAptBalance` (§4.1.5): the wallet's APT (gas) balance.
    pub async fn account_apt_balance(
        &self,
        wallet: AccountAddress,
    ) -> Result<Decimal, KanaRestError> {
        self.send(&Call::get("/getAccountAptBalance", user(wallet)))
            .await?
            .decimal()
    }

    /// `GET /deposit` (§4.1.6) → payload depositing `amount` collateral (human units) into the
    /// profile of `wallet`.
    pub async fn deposit(
        &self,
        wallet: AccountAddress,
        amount: Decimal,
    ) -> Result<EntryFunctionPayload, KanaRestError> {
        const P: &str = "/deposit";
        positive(P, "amount", amount)?;
        let q = user(wallet).with("amount", dec(amount));
        self.send(&Call::get(P, q)).await?.payload()
    }

    /// `GET /withdrawSpecificMarket` (§4.1.7) → payload withdrawing `amount` from one market.
    /// On HTTP 404 the documented misspelling `/withdrawSpecifiMarket` is tried.
    pub async fn withdraw_specific_market(
        &self,
        wallet: AccountAddress,
        market: MarketId,
        amount: Decimal,
    ) -> Result<EntryFunctionPayload, KanaRestError> {
        positive(self.withdraw_route.primary, "amount", amount)?;
        let q = user(wallet)
            .with("marketId", market)
            .with("amount", dec(amount));
        self.send_routed(&self.withdraw_route, q).await?.payload()
    }

    /// `GET /withdrawMultipleMarkets` (§4.1.7) → payload withdrawing `amount` across `markets`
    /// (sent comma-separated, e.g. `14,15,16,31`).
    pub async fn withdraw_multiple_markets(
        &self,
        wallet: AccountAddress,
        amount: Decimal,
        markets: &[MarketId],
    ) -> Result<EntryFunctionPayload, KanaRestError> {
        const P: &str = "/withdrawMultipleMarkets";
        positive(P, "amount", amount)?;
        if markets.is_empty() {
            return Err(invalid(P, "no markets given"));
        }
        let ids = markets
            .iter()
            .map(|m| m.0.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let q = user(wallet)
            .with("amount", dec(amount))
            .with("marketIds", ids);
        self.send(&Call::get(P, q)).await?.payload()
    }

    /// `GET /settlePnl` (§4.1.8) → payload settling pending PnL of closed positions in `market`
    /// into the available balance (\[INF\] meaning).
    pub async fn settle_pnl(
        &self,
        wallet: AccountAddress,
        market: MarketId,
    ) -> Result<EntryFunctionPayload, KanaRestError> {
        let q = user(wallet).with("marketId", market);
        self.send(&Call::get("/settlePnl", q)).await?.payload()
    }

    /// `GET /getDepositAndWithdrawHistory` (§4.1.8). Record shape \[UNK\], hence raw JSON values
    /// (numbers that do not fit `u64`/`i64` exactly are kept as strings of their literal).
    pub async fn deposit_withdraw_history(
        &self,
        wallet: AccountAddress,
    ) -> Result<Vec<Value>, KanaRestError> {
        self.send(&Call::get("/getDepositAndWithdrawHistory", user(wallet)))
            .await?
            .values()
    }

    /// `GET /getFundingHistory` (§4.1.8): funding payments. Record shape \[UNK\] (see
    /// [`KanaRest::deposit_withdraw_history`] for how numbers are kept).
    pub async fn funding_history(
        &self,
        wallet: AccountAddress,
        market: Option<MarketId>,
        offset: Option<u64>,
        limit: Option<u64>,
        order: Option<SortOrder>,
    ) -> Result<Vec<Value>, KanaRestError> {
        let q = user(wallet)
            .with_opt("marketId", market)
            .with_opt("offset", offset)
            .with_opt("limit", limit)
            .with_opt("order", order);
        self.send(&Call::get("/getFundingHistory", q))
            .await?
            .values()
    }

    // -- market data --------------------------------------------------------------------------

    /// `GET /getMarketInfo` (§4.2.1): the market's record (`data` is a one-element array).
    pub async fn market_info(&self, market: MarketId) -> Result<Record<MarketKind>, KanaRestError> {
        let a = self
            .send(&Call::get("/getMarketInfo", market_q(market)))
            .await?;
        a.single::<MarketKind>()?
            .ok_or_else(|| a.decode_error("no market record".into()))
    }

    /// [`KanaRest::market_info`] converted to a validated [`MarketSpec`]; the record must be
    /// about `market`.
    pub async fn market_spec(&self, market: MarketId) -> Result<MarketSpec, KanaRestError> {
        let record = self.market_info(market).await?;
        let spec = to_spec(&record.inner, record.parse()?)?;
        if spec.id != market {
            return Err(record
                .inner
                .error(format!("asked for market {market}, got {}", spec.id)));
        }
        Ok(spec)
    }

    /// [`KanaRest::market_spec`] and the market's `market_status` (`1` = active \[COMM\]/\[INF\];
    /// `None` when the record carries none, as older generations' do not).
    pub async fn market_spec_and_status(
        &self,
        market: MarketId,
    ) -> Result<(MarketSpec, Option<u64>), KanaRestError> {
        let record = self.market_info(market).await?;
        let info = record.parse()?;
        let status = match info.market_status {
            Some(n) => Some(
                n.u64()
                    .map_err(|e| record.inner.error(format!("market_status: {e}")))?,
            ),
            None => None,
        };
        let spec = to_spec(&record.inner, info)?;
        if spec.id != market {
            return Err(record
                .inner
                .error(format!("asked for market {market}, got {}", spec.id)));
        }
        Ok((spec, status))
    }

    /// `GET /getPerpetualAssetsInfo/allMarkets` (§4.2.2): every market.
    pub async fn all_markets(&self) -> Result<Markets, KanaRestError> {
        let call = Call::get("/getPerpetualAssetsInfo/allMarkets", Query::default());
        self.send(&call).await?.records()
    }

    /// [`KanaRest::all_markets`] converted to validated [`MarketSpec`]s (fails on the first
    /// market that does not convert, naming it).
    pub async fn all_market_specs(&self) -> Result<Vec<MarketSpec>, KanaRestError> {
        let markets = self.all_markets().await?;
        markets.iter().map(|m| to_spec(&markets, m?)).collect()
    }

    /// `GET /getMarketPrice` (§4.2.3): best bid and ask; either may be absent.
    pub async fn market_price(&self, market: MarketId) -> Result<MarketPrice, KanaRestError> {
        let a = self
            .send(&Call::get("/getMarketPrice", market_q(market)))
            .await?;
        let Some(raw) = a.data.as_deref().filter(|r| r.get().trim() != "null") else {
            return Ok(MarketPrice::default());
        };
        let best: WireBestPrice<'_> = serde_json::from_str(raw.get())
            .map_err(|e| a.decode_error(format!("{e} in {}", clip(raw.get()))))?;
        Ok(MarketPrice {
            best_bid: a.price_field("bestBidPrice", best.best_bid)?,
            best_ask: a.price_field("bestAskPrice", best.best_ask)?,
        })
    }

    /// Last traded price: `GET /getLastPlacedPrice` (G5), falling back to
    /// `/getLastExecutionPrice` on HTTP 404 (§4.2.4). `None` when the market has no price
    /// (`null`, or — \[INF\] — `0`).
    pub async fn last_price(&self, market: MarketId) -> Result<Option<Decimal>, KanaRestError> {
        let a = self
            .send_routed(&self.last_price_route, market_q(market))
            .await?;
        let raw = a.data.as_deref().map_or("null", |r| r.get());
        a.price_field("data", Some(Num::from_raw_json(raw)))
    }

    /// `GET /getAllTrades` (§4.2.5): recent public trades of the market.
    pub async fn all_trades(&self, market: MarketId) -> Result<Trades, KanaRestError> {
        self.send(&Call::get("/getAllTrades", market_q(market)))
            .await?
            .records()
    }

    // -- trading (→ payload) --------------------------------------------------------------------

    /// `GET /placeLimitOrder` (§4.3.1) → payload. Query order: `marketId, tradeSide, direction,
    /// size, price, leverage, restriction[, takeProfit][, stopLoss]`.
    pub async fn place_limit_order(
        &self,
        p: &LimitOrderParams,
    ) -> Result<EntryFunctionPayload, KanaRestError> {
        const P: &str = "/placeLimitOrder";
        positive(P, "size", p.size)?;
        positive(P, "price", p.price)?;
        non_negative_opt(P, "takeProfit", p.take_profit)?;
        non_negative_opt(P, "stopLoss", p.stop_loss)?;
        let q = market_q(p.market)
            .with("tradeSide", p.trade_side)
            .with("direction", p.direction)
            .with("size", dec(p.size))
            .with("price", dec(p.price))
            .with("leverage", p.leverage)
            .with("restriction", p.restriction)
            .with_opt("takeProfit", p.take_profit.map(dec))
            .with_opt("stopLoss", p.stop_loss.map(dec));
        self.send(&Call::get(P, q)).await?.payload()
    }

    /// `GET /placeMarketOrder` (§4.3.2) → payload.
    pub async fn place_market_order(
        &self,
        p: &MarketOrderParams,
    ) -> Result<EntryFunctionPayload, KanaRestError> {
        const P: &str = "/placeMarketOrder";
        positive(P, "size", p.size)?;
        non_negative_opt(P, "takeProfit", p.take_profit)?;
        non_negative_opt(P, "stopLoss", p.stop_loss)?;
        let q = market_q(p.market)
            .with("tradeSide", p.trade_side)
            .with("direction", p.direction)
            .with("size", dec(p.size))
            .with("leverage", p.leverage)
            .with_opt("takeProfit", p.take_profit.map(dec))
            .with_opt("stopLoss", p.stop_loss.map(dec));
        self.send(&Call::get(P, q)).await?.payload()
    }

    /// `POST /placeMultipleOrders` (§4.3.3) → payload placing all orders in one transaction.
    /// Sends both `restriction` (docs) and `restrictions` (one mainnet bot), since which one the
    /// server reads is \[UNK\]; `None` TP/SL are sent as `0`.
    pub async fn place_multiple_orders(
        &self,
        orders: &MultipleOrders,
    ) -> Result<EntryFunctionPayload, KanaRestError> {
        const P: &str = "/placeMultipleOrders";
        if orders.orders.is_empty() {
            return Err(invalid(P, "no orders given"));
        }
        let batch = BatchBody::new(P, &orders.orders, orders.restriction)?;
        let body = PlaceMultipleBody {
            market_id: orders.market.0,
            batch,
        };
        self.send(&Call::post(P, to_json(P, &body)?))
            .await?
            .payload()
    }

    /// `POST /cancelMultipleOrders` (§4.3.4) → payload cancelling `order_ids` (with the position
    /// side of each, `true` = long) in one transaction. The body carries **both** documented
    /// naming variants (`orderIds`/`cancelTradeSides` and `cancelOrderIds`/`orderSides`); ids go
    /// as decimal strings. The returned payload is rejected if any argument is `null`.
    pub async fn cancel_multiple_orders(
        &self,
        market: MarketId,
        order_ids: &[u128],
        sides: &[bool],
    ) -> Result<EntryFunctionPayload, KanaRestError> {
        const P: &str = "/cancelMultipleOrders";
        if order_ids.is_empty() {
            return Err(invalid(P, "no order ids given"));
        }
        let cancel = CancelBody::new(P, order_ids, sides)?;
        let body = CancelMultipleBody {
            market_id: market.0,
            cancel,
        };
        self.send(&Call::post(P, to_json(P, &body)?))
            .await?
            .payload()
    }

    /// `POST /cancelAndPlaceMultipleOrders` (§4.3.5) → payload that cancels and places in one
    /// transaction. The cancel part uses both naming variants (as
    /// [`KanaRest::cancel_multiple_orders`]); the new orders' sides go as `orderTradeSides`.
    pub async fn cancel_and_place_multiple_orders(
        &self,
        req: &CancelAndPlace,
    ) -> Result<EntryFunctionPayload, KanaRestError> {
        const P: &str = "/cancelAndPlaceMultipleOrders";
        if req.cancel_order_ids.is_empty() && req.orders.is_empty() {
            return Err(invalid(P, "nothing to cancel or place"));
        }
        let cancel = CancelBody::new(P, &req.cancel_order_ids, &req.cancel_trade_sides)?;
        let batch = BatchBody::new(P, &req.orders, req.restriction)?;
        let body = CancelAndPlaceBody {
            market_id: req.market.0,
            cancel,
            order_types: batch.order_types,
            order_trade_sides: batch.trade_sides,
            directions: batch.directions,
            sizes: batch.sizes,
            prices: batch.prices,
            leverages: batch.leverages,
            restriction: batch.restriction,
            restrictions: batch.restrictions,
            take_profits: batch.take_profits,
            stop_losses: batch.stop_losses,
        };
        self.send(&Call::post(P, to_json(P, &body)?))
            .await?
            .payload()
    }

    /// `GET /updateTakeProfit` (§4.3.6) → payload setting the take-profit of the
    /// (`market`, `trade_side`) position to `price` (`0` = none).
    pub async fn update_take_profit(
        &self,
        market: MarketId,
        trade_side: bool,
        price: Decimal,
    ) -> Result<EntryFunctionPayload, KanaRestError> {
        const P: &str = "/updateTakeProfit";
        non_negative_opt(P, "newTakeProfitPrice", Some(price))?;
        let q = market_q(market)
            .with("tradeSide", trade_side)
            .with("newTakeProfitPrice", dec(price));
        self.send(&Call::get(P, q)).await?.payload()
    }

    /// `GET /updateStopLoss` (§4.3.6) → payload setting the stop-loss of the
    /// (`market`, `trade_side`) position to `price` (`0` = none).
    pub async fn update_stop_loss(
        &self,
        market: MarketId,
        trade_side: bool,
        price: Decimal,
    ) -> Result<EntryFunctionPayload, KanaRestError> {
        const P: &str = "/updateStopLoss";
        non_negative_opt(P, "newStopLossPrice", Some(price))?;
        let q = market_q(market)
            .with("tradeSide", trade_side)
            .with("newStopLossPrice", dec(price));
        self.send(&Call::get(P, q)).await?.payload()
    }

    /// `GET /addMargin` (§4.3.7) → payload adding `amount` collateral to the (`market`,
    /// `trade_side`) position.
    pub async fn add_margin(
        &self,
        market: MarketId,
        trade_side: bool,
        amount: Decimal,
    ) -> Result<EntryFunctionPayload, KanaRestError> {
        const P: &str = "/addMargin";
        positive(P, "amount", amount)?;
        let q = market_q(market)
            .with("tradeSide", trade_side)
            .with("amount", dec(amount));
        self.send(&Call::get(P, q)).await?.payload()
    }

    /// `GET /collapsePosition` (§4.3.8) → payload closing the caller's position(s) in `market` at
    /// market (whether both hedge sides is \[UNK\]).
    pub async fn collapse_position(
        &self,
        market: MarketId,
    ) -> Result<EntryFunctionPayload, KanaRestError> {
        self.send(&Call::get("/collapsePosition", market_q(market)))
            .await?
            .payload()
    }

    // -- user queries ----------------------------------------------------------------------------

    /// `GET /getOpenOrders` (§4.4): open orders of `wallet` (indexer), optionally in one market.
    pub async fn open_orders(
        &self,
        wallet: AccountAddress,
        market: Option<MarketId>,
    ) -> Result<OpenOrders, KanaRestError> {
        let q = user(wallet).with_opt("marketId", market);
        self.send(&Call::get("/getOpenOrders", q)).await?.records()
    }

    /// `GET /getOpenOrdersFromContract` (§4.4): open orders read from chain state (fresher than
    /// the indexer right after a transaction, \[INF\]).
    pub async fn open_orders_from_contract(
        &self,
        wallet: AccountAddress,
        market: MarketId,
    ) -> Result<OpenOrders, KanaRestError> {
        let q = user(wallet).with("marketId", market);
        self.send(&Call::get("/getOpenOrdersFromContract", q))
            .await?
            .records()
    }

    /// `GET /getPositions` (§4.4): positions of `wallet` (indexer), optionally in one market.
    pub async fn positions(
        &self,
        wallet: AccountAddress,
        market: Option<MarketId>,
    ) -> Result<Positions, KanaRestError> {
        let q = user(wallet).with_opt("marketId", market);
        self.send(&Call::get("/getPositions", q)).await?.records()
    }

    /// `GET /getPositionsFromContract` (§4.4): positions read from chain state.
    pub async fn positions_from_contract(
        &self,
        wallet: AccountAddress,
        market: MarketId,
    ) -> Result<Positions, KanaRestError> {
        let q = user(wallet).with("marketId", market);
        self.send(&Call::get("/getPositionsFromContract", q))
            .await?
            .records()
    }

    /// `GET /getOrderHistory` (§4.4, G5 parameters): order records of `wallet`.
    pub async fn order_history(
        &self,
        wallet: AccountAddress,
        market: Option<MarketId>,
    ) -> Result<Orders, KanaRestError> {
        let q = user(wallet).with_opt("marketId", market);
        self.send(&Call::get("/getOrderHistory", q))
            .await?
            .records()
    }

    /// `GET /getTradeHistory` (§4.4): fills of `wallet`.
    pub async fn trade_history(
        &self,
        wallet: AccountAddress,
        market: Option<MarketId>,
    ) -> Result<Trades, KanaRestError> {
        let q = user(wallet).with_opt("marketId", market);
        self.send(&Call::get("/getTradeHistory", q))
            .await?
            .records()
    }

    /// `GET /getAllOpenOrderIds` (§4.4): ids of `wallet`'s open orders in `market` (strings or
    /// numbers on the wire, u128 here).
    pub async fn all_open_order_ids(
        &self,
        wallet: AccountAddress,
        market: MarketId,
    ) -> Result<Vec<u128>, KanaRestError> {
        let q = user(wallet).with("marketId", market);
        let a = self.send(&Call::get("/getAllOpenOrderIds", q)).await?;
        a.list()?
            .iter()
            .enumerate()
            .map(|(i, raw)| {
                let n = Num::from_raw_json(raw.get());
                n.u128()
                    .map_err(|e| a.decode_error(format!("order id {i}: {:?} {e}", n.text())))
            })
            .collect()
    }

    /// One order's status: `GET /fetchOrderStatusById` (G5), falling back to
    /// `/getOrderStatusByOrderId` on HTTP 404 (§4.4). `None` when `data` is `null` or an empty
    /// list; a list answer yields its first record.
    pub async fn order_status(
        &self,
        market: MarketId,
        order_id: u128,
    ) -> Result<Option<Record<OrderKind>>, KanaRestError> {
        let q = market_q(market).with("orderId", order_id);
        self.send_routed(&self.order_status_route, q)
            .await?
            .single::<OrderKind>()
    }

    /// `GET /getFillsForGivenTimestamp` (§4.4): fills of `wallet` between two Unix-second
    /// timestamps, optionally in one market.
    pub async fn fills_between(
        &self,
        wallet: AccountAddress,
        from_secs: u64,
        to_secs: u64,
        market: Option<MarketId>,
    ) -> Result<Trades, KanaRestError> {
        const P: &str = "/getFillsForGivenTimestamp";
        if from_secs > to_secs {
            return Err(invalid(
                P,
                &format!("from {from_secs} is after to {to_secs}"),
            ));
        }
        let q = user(wallet)
            .with("fromTimestamp", from_secs)
            .with("toTimestamp", to_secs)
            .with_opt("marketId", market);
        self.send(&Call::get(P, q)).await?.records()
    }

    // -- transport ---------------------------------------------------------------------------

    /// Try the route's preferred name, then (on HTTP 404) the other one.
    async fn send_routed(&self, route: &Route, query: Query) -> Result<Answer, KanaRestError> {
        let (first, second) = route.order();
        match self.send(&Call::get(first, query.clone())).await {
            Err(e) if e.status() == Some(404) => {
                tracing::info!(
                    endpoint = first,
                    fallback = second,
                    "kana rest: 404, trying other name"
                );
                match self.send(&Call::get(second, query)).await {
                    Ok(a) => {
                        route.prefer(second);
                        Ok(a)
                    }
                    Err(e2) => Err(KanaRestError::Fallback {
                        primary: Box::new(e),
                        fallback: Box::new(e2),
                    }),
                }
            }
            other => other,
        }
    }

    /// Send with retries; interpret the envelope.
    async fn send(&self, call: &Call) -> Result<Answer, KanaRestError> {
        let url = if call.query.0.is_empty() {
            format!("{}{}", self.base_url, call.path)
        } else {
            format!("{}{}?{}", self.base_url, call.path, call.query.0)
        };
        let method = call.method_name();
        let max = self.retry.max_attempts.max(1);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            tracing::debug!(method, endpoint = call.path, attempt, "kana rest request");
            let mut rb = self.client.request(call.method.clone(), &url);
            if let Some(key) = &self.api_key {
                rb = rb.header("x-api-key", key.clone());
            }
            if let Some(body) = &call.body {
                rb = rb
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let outcome = match rb.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = retry_after(resp.headers());
                    match resp.text().await {
                        Ok(text) => Ok((status, retry_after, text)),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            match outcome {
                Ok((status, retry_after, text)) => {
                    let retryable =
                        status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                    if retryable && attempt < max {
                        let delay = self.retry.delay(attempt, retry_after);
                        tracing::warn!(
                            method,
                            endpoint = call.path,
                            status = status.as_u16(),
                            attempt,
                            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                            message = %server_message(&text),
                            "kana rest: retrying"
                        );
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return interpret(method, call.path, status, &text, attempt);
                }
                Err(e) => {
                    let timed_out = e.is_timeout();
                    let retryable = timed_out || e.is_connect();
                    let detail = error_chain(&e.without_url());
                    if retryable && attempt < max {
                        let delay = self.retry.delay(attempt, None);
                        tracing::warn!(
                            method,
                            endpoint = call.path,
                            attempt,
                            error = %detail,
                            "kana rest: transport failure, retrying"
                        );
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return Err(KanaRestError::Transport {
                        method,
                        endpoint: call.path,
                        detail,
                        timed_out,
                        attempts: attempt,
                    });
                }
            }
        }
    }
}

/// Turn a final HTTP answer into an [`Answer`] or an error.
pub(super) fn interpret(
    method: &'static str,
    endpoint: &'static str,
    status: StatusCode,
    text: &str,
    attempts: u32,
) -> Result<Answer, KanaRestError> {
    let code = status.as_u16();
    if !status.is_success() {
        return Err(KanaRestError::Http {
            method,
            endpoint,
            status: code,
            message: server_message(text),
            attempts,
        });
    }
    let env: RestEnvelope<'_> = serde_json::from_str(text).map_err(|e| KanaRestError::Decode {
        method,
        endpoint,
        status: code,
        detail: format!("not a Kana envelope ({e}): {}", clip(text)),
    })?;
    if !env.succeeded() {
        return Err(KanaRestError::Rejected {
            method,
            endpoint,
            status: code,
            message: server_message(text),
        });
    }
    Ok(Answer {
        method,
        endpoint,
        status: code,
        data: env.data.map(|r| r.to_owned()),
    })
}

impl Answer {
    fn decode_error(&self, detail: String) -> KanaRestError {
        KanaRestError::Decode {
            method: self.method,
            endpoint: self.endpoint,
            status: self.status,
            detail,
        }
    }

    fn data_text(&self) -> &str {
        self.data.as_deref().map_or("null", |r| r.get().trim())
    }

    /// `data` as a list: `null`/missing = empty, an object = one record.
    fn list(&self) -> Result<Vec<Box<RawValue>>, KanaRestError> {
        let text = self.data_text();
        match text.as_bytes().first() {
            Some(b'[') => serde_json::from_str(text)
                .map_err(|e| self.decode_error(format!("data: {e} in {}", clip(text)))),
            Some(b'{') => Ok(self.data.iter().cloned().collect()),
            _ if text == "null" => Ok(Vec::new()),
            _ => Err(self.decode_error(format!("data is not a list: {}", clip(text)))),
        }
    }

    fn records<K: RecordKind>(self) -> Result<Records<K>, KanaRestError> {
        let items = self.list()?;
        Records::new(&self, items)
    }

    /// The first record, if any.
    fn single<K: RecordKind>(&self) -> Result<Option<Record<K>>, KanaRestError> {
        let mut items = self.list()?;
        items.truncate(1);
        if items.is_empty() {
            return Ok(None);
        }
        Records::new(self, items).map(|inner| Some(Record { inner }))
    }

    fn values(self) -> Result<Vec<Value>, KanaRestError> {
        self.list()?
            .iter()
            .map(|raw| {
                exact_value(raw)
                    .map_err(|e| self.decode_error(format!("{e} in {}", clip(raw.get()))))
            })
            .collect()
    }

    fn string(&self) -> Result<String, KanaRestError> {
        let text = self.data_text();
        serde_json::from_str::<String>(text)
            .map_err(|_| self.decode_error(format!("data is not a string: {}", clip(text))))
    }

    fn decimal(self) -> Result<Decimal, KanaRestError> {
        let n = Num::from_raw_json(self.data_text());
        n.decimal()
            .map_err(|e| self.decode_error(format!("data: {:?} {e}", clip(n.text()))))
    }

    /// A price that may be absent: `null`/missing and (per \[INF\]) `0` mean none.
    fn price_field(
        &self,
        name: &str,
        n: Option<Num<'_>>,
    ) -> Result<Option<Decimal>, KanaRestError> {
        let Some(n) = n.filter(|n| n.text().trim() != "null") else {
            return Ok(None);
        };
        let d = n
            .decimal()
            .map_err(|e| self.decode_error(format!("{name}: {:?} {e}", clip(n.text()))))?;
        Ok(if d.is_zero() { None } else { Some(d) })
    }

    fn payload(self) -> Result<EntryFunctionPayload, KanaRestError> {
        let text = self.data_text();
        let payload: EntryFunctionPayload = serde_json::from_str(text)
            .map_err(|e| self.decode_error(format!("payload: {e} in {}", clip(text))))?;
        if let Err(reason) = payload.validate() {
            tracing::warn!(endpoint = self.endpoint, %reason, "kana rest: unsignable payload");
            return Err(KanaRestError::InvalidPayload {
                endpoint: self.endpoint,
                reason,
                payload: Box::new(payload),
            });
        }
        Ok(payload)
    }
}

impl<K: RecordKind> Records<K> {
    fn error(&self, detail: String) -> KanaRestError {
        KanaRestError::Decode {
            method: self.method,
            endpoint: self.endpoint,
            status: self.status,
            detail,
        }
    }
}

pub(super) fn to_spec<K: RecordKind>(
    from: &Records<K>,
    info: MarketInfo<'_>,
) -> Result<MarketSpec, KanaRestError> {
    info.to_spec()
        .map_err(|e| from.error(format!("market {}: {e}", info.market_id.text())))
}
