//! Kyan's signed endpoints: every write carries an EIP-712 signature over exactly the values of
//! its body (or, with a one-click session, the `x-one-click` header where Kyan accepts it), with
//! a per-maker strictly increasing deadline ([`Deadlines`]).
//!
//! A `SIGNATURE_DEADLINE_INVALID` refusal means nothing took effect: its `serverTime` corrects
//! the clock and the request is signed again with a fresh, later deadline — once. Anything else
//! is returned as it is; a write is never resent on a timeout or a 5xx.

use std::sync::{Arc, Mutex};

use alloy_primitives::{Address, U256};
use alloy_sol_types::{Eip712Domain, SolStruct};
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::Value;
use tracing::{info, warn};

use perpbot_model::Side;
use perpbot_model::clock::Clock;

use super::body::{Obj, array, str_array};
use super::{KyanRest, RestError};
use crate::config::{Secret, SizeField};
use crate::decode::num::hex_text;
use crate::errors::KyanError;
use crate::signing::deadline::MAX_AHEAD_SECS;
use crate::signing::types::{
    CancelAllOrdersType, CancelOrdersType, HeartbeatType, OneClickSignature, OrderTyped,
    UserEditOrder, UserLimitOrder, UserMarketOrder,
};
use crate::signing::{Deadlines, KyanSigner, units};

alloy_sol_types::sol! {
    /// The MMP config update as \[D\] signs it (9 fields; \[S\] claims the limits are not
    /// signed: CONFLICT, \[ASSUMED\] \[D\]).
    #[derive(Debug, PartialEq, Eq)]
    struct MMPConfigUpdate {
        address smartAccountAddress;
        string pairSymbol;
        string status;
        uint256 interval;
        uint256 frozenTime;
        uint256 quantityLimit;
        uint256 deltaLimit;
        uint256 vegaLimit;
        uint256 deadline;
    }
}

/// A market-maker-protection config for one pair (reference §10; for perps only
/// `delta_limit` applies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MmpConfig {
    /// The smart account (\[ASSUMED\] = the EOA until Kyan says otherwise).
    pub smart_account: Address,
    /// `BTC_USDC`.
    pub pair: String,
    /// Active or not (inactive removes the config and cancels mmp orders).
    pub active: bool,
    /// Window, seconds.
    pub interval_secs: u64,
    /// Freeze after a breach, seconds (0: until the config is posted again).
    pub frozen_secs: u64,
    /// Options only.
    pub quantity_limit: Decimal,
    /// Absolute net delta.
    pub delta_limit: Decimal,
    /// Options only.
    pub vega_limit: Decimal,
}

/// A limit order to place (sizes in base units, prices in USDC; exact decimals).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitOrder {
    /// Instrument name.
    pub instrument: String,
    /// Buy or sell.
    pub side: Side,
    /// Size in base units (contracts).
    pub contracts: Decimal,
    /// Limit price.
    pub price: Decimal,
    /// Refused rather than taking liquidity.
    pub post_only: bool,
    /// Counts toward market-maker protection.
    pub mmp: bool,
}

/// A market order: a marketable limit, immediate-or-cancel within `limit_price` \[ASSUMED\].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketOrder {
    /// Instrument name.
    pub instrument: String,
    /// Buy or sell.
    pub side: Side,
    /// Size in base units.
    pub contracts: Decimal,
    /// Worst acceptable average price.
    pub limit_price: Decimal,
}

fn direction(side: Side) -> (&'static str, u8) {
    match side {
        Side::Buy => ("buy", 0),
        Side::Sell => ("sell", 1),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Signed access to Kyan's REST API for one maker.
pub struct KyanApi {
    /// The transport (also used for reads).
    pub rest: KyanRest,
    signer: Arc<KyanSigner>,
    domain: Eip712Domain,
    deadlines: Mutex<Deadlines>,
    clock: Clock,
    session: Mutex<Option<Secret>>,
    size_field: SizeField,
    /// Held from signing to the answer of a signed write: Kyan accepts a deadline only above
    /// the last one it accepted for the maker, so two signed writes in flight together could
    /// arrive out of order and the later-signed one be refused. One-click writes carry no
    /// deadline and do not wait.
    in_order: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for KyanApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KyanApi")
            .field("rest", &self.rest)
            .field("maker", &self.signer.address())
            .field("one_click", &lock(&self.session).is_some())
            .finish()
    }
}

type NextDeadline<'a> = Option<&'a mut dyn FnMut() -> u64>;

impl KyanApi {
    /// Signed access for the signer's address as maker.
    pub fn new(
        rest: KyanRest,
        signer: Arc<KyanSigner>,
        domain: Eip712Domain,
        deadline_secs: u64,
        clock: Clock,
        size_field: SizeField,
    ) -> KyanApi {
        KyanApi {
            rest,
            signer,
            domain,
            deadlines: Mutex::new(Deadlines::new(deadline_secs)),
            clock,
            session: Mutex::new(None),
            size_field,
            in_order: tokio::sync::Mutex::new(()),
        }
    }

    /// The maker (our EOA).
    pub fn maker(&self) -> Address {
        self.signer.address()
    }

    /// The maker as Kyan writes it: `0x` + 40 lower-case hex digits.
    pub fn maker_text(&self) -> String {
        format!("{:#x}", self.signer.address())
    }

    fn now_secs(&self) -> u64 {
        self.clock.now().as_secs()
    }

    fn sign<T: SolStruct>(&self, message: &T) -> String {
        let digest = message.eip712_signing_hash(&self.domain);
        format!("0x{}", hex::encode(self.signer.sign_digest(digest)))
    }

    /// Size field and value of an order as sent and signed: contracts, or the USD notional at
    /// `price` (refused when off the $1 grid).
    fn size(&self, contracts: Decimal, price: Decimal) -> Result<(&'static str, Decimal), String> {
        match self.size_field {
            SizeField::Contracts => Ok(("contracts", contracts)),
            SizeField::Amount => {
                let amount = contracts * price;
                if amount.fract().is_zero() {
                    Ok(("amount", amount))
                } else {
                    Err(format!(
                        "notional {amount} (= {contracts} × {price}) is off Kyan's $1 amount grid"
                    ))
                }
            }
        }
    }

    /// Send a signed write; `build` writes the body, drawing one deadline per signature from
    /// its argument (`None` with a one-click session: no signature fields). Re-signed once on
    /// `SIGNATURE_DEADLINE_INVALID`.
    async fn signed_write(
        &self,
        method: Method,
        path: &str,
        one_click_ok: bool,
        build: impl Fn(NextDeadline<'_>) -> Result<String, String>,
    ) -> Result<Value, RestError> {
        for attempt in 0..2 {
            let session = if one_click_ok {
                lock(&self.session).clone()
            } else {
                None
            };
            let _in_order = match session {
                Some(_) => None,
                None => Some(self.in_order.lock().await),
            };
            let body = match &session {
                Some(_) => build(None),
                None => {
                    let now = self.now_secs();
                    let maker = self.maker();
                    let mut d = lock(&self.deadlines);
                    let before = d.last(maker);
                    let body = {
                        let mut next = || d.next(maker, now);
                        build(Some(&mut next))
                    };
                    if body.is_ok() && !d.within_window(maker, now) {
                        d.restore(maker, before);
                        return Err(RestError::Throttled(format!(
                            "{path}: no signature deadline left within Kyan's {MAX_AHEAD_SECS} s \
                             window (deadlines are strictly increasing seconds, so signed \
                             requests are limited to about one a second per maker; a one-click \
                             session, `one_click = true`, has no such limit)"
                        )));
                    }
                    if body.is_err() {
                        d.restore(maker, before);
                    }
                    body
                }
            }
            .map_err(RestError::Refused)?;
            let hash = session.as_ref().map(|s| s.expose().to_string());
            match self
                .rest
                .write(method.clone(), path, Some(&body), hash.as_deref())
                .await
            {
                Err(RestError::Http(e))
                    if attempt == 0
                        && session.is_none()
                        && e.code == "SIGNATURE_DEADLINE_INVALID" =>
                {
                    let corrected = lock(&self.deadlines).observe_error(&e, self.now_secs());
                    warn!(path, corrected, error = %e, "Kyan refused the signature deadline: signing again once");
                }
                other => return other,
            }
        }
        Err(RestError::Http(KyanError::parse(
            400,
            r#"{"error":"SIGNATURE_DEADLINE_INVALID","message":"refused twice"}"#,
        )))
    }

    fn limit_json(&self, o: &LimitOrder, deadline: NextDeadline<'_>) -> Result<String, String> {
        let (dir_text, dir) = direction(o.side);
        let (size_key, size) = self.size(o.contracts, o.price)?;
        let maker = self.maker_text();
        let mut obj = Obj::new()
            .str("instrument_name", &o.instrument)
            .str("type", "good_til_cancelled")
            .num(size_key, size)
            .str("direction", dir_text)
            .num("price", o.price)
            .bool("post_only", o.post_only)
            .bool("mmp", o.mmp)
            .bool("liquidation", false)
            .str("maker", &maker)
            .null("taker");
        if let Some(next) = deadline {
            let deadline = next();
            let msg = UserLimitOrder {
                deadline: U256::from(deadline),
                instrumentName: o.instrument.clone(),
                size: units("size", size).map_err(|e| e.to_string())?,
                price: units("price", o.price).map_err(|e| e.to_string())?,
                taker: Address::ZERO,
                maker: self.maker(),
                direction: dir,
                isLiquidation: false,
                isPostOnly: o.post_only,
                mmp: o.mmp,
            };
            obj = obj
                .str("signature", &self.sign(&msg))
                .int("signature_deadline", deadline);
        }
        Ok(obj.finish())
    }

    /// `POST /limit`: \[D\] a bare array, one signature per order (or one-click).
    pub async fn post_limit(&self, orders: &[LimitOrder]) -> Result<Value, RestError> {
        self.signed_write(Method::POST, "/limit", true, |mut next| {
            let mut items = Vec::with_capacity(orders.len());
            for o in orders {
                items.push(
                    self.limit_json(o, next.as_deref_mut().map(|n| n as &mut dyn FnMut() -> u64))?,
                );
            }
            Ok(array(items))
        })
        .await
    }

    /// `PATCH /limit`: edits (cancel-and-replace, new ids), always signed (\[D\]: no one-click).
    pub async fn edit_limit(&self, edits: &[(u128, Decimal, Decimal)]) -> Result<Value, RestError> {
        self.signed_write(Method::PATCH, "/limit", false, |mut next| {
            let mut items = Vec::with_capacity(edits.len());
            for (id, contracts, price) in edits {
                let (size_key, size) = self.size(*contracts, *price)?;
                let order_id = hex_text(*id);
                let deadline = next.as_deref_mut().map(|n| n()).unwrap_or_default();
                let msg = UserEditOrder {
                    deadline: U256::from(deadline),
                    size: units("size", size).map_err(|e| e.to_string())?,
                    price: units("price", *price).map_err(|e| e.to_string())?,
                    orderId: order_id.clone(),
                };
                items.push(
                    Obj::new()
                        .str("order_id", &order_id)
                        .num(size_key, size)
                        .num("price", *price)
                        .str("maker", &self.maker_text())
                        .str("signature", &self.sign(&msg))
                        .int("signature_deadline", deadline)
                        .finish(),
                );
            }
            Ok(array(items))
        })
        .await
    }

    /// `POST /market`, always signed.
    pub async fn post_market(&self, o: &MarketOrder) -> Result<Value, RestError> {
        self.signed_write(Method::POST, "/market", false, |next| {
            let (dir_text, dir) = direction(o.side);
            let (size_key, size) = self.size(o.contracts, o.limit_price)?;
            let deadline = next.map(|n| n()).unwrap_or_default();
            let msg = UserMarketOrder {
                deadline: U256::from(deadline),
                marketOrder: OrderTyped {
                    instrumentName: o.instrument.clone(),
                    size: units("size", size).map_err(|e| e.to_string())?,
                    direction: dir,
                },
                limitPrice: units("limit_price", o.limit_price).map_err(|e| e.to_string())?,
                taker: self.maker(),
            };
            let inner = Obj::new()
                .str("instrument_name", &o.instrument)
                .num(size_key, size)
                .str("direction", dir_text)
                .finish();
            Ok(Obj::new()
                .raw("market_order", &inner)
                .num("limit_price", o.limit_price)
                .str("taker", &self.maker_text())
                .str("signature", &self.sign(&msg))
                .int("signature_deadline", deadline)
                .finish())
        })
        .await
    }

    /// `DELETE /orders` for these ids.
    pub async fn cancel_orders(&self, ids: &[u128]) -> Result<Value, RestError> {
        let ids: Vec<String> = ids.iter().map(|i| hex_text(*i)).collect();
        self.signed_write(Method::DELETE, "/orders", true, |next| {
            let mut obj = Obj::new()
                .str("maker", &self.maker_text())
                .raw("order_ids", &str_array(ids.iter().map(String::as_str)));
            if let Some(next) = next {
                let deadline = next();
                let msg = CancelOrdersType {
                    deadline: U256::from(deadline),
                    maker: self.maker(),
                    orderIds: ids.clone(),
                };
                obj = obj
                    .str("signature", &self.sign(&msg))
                    .int("signature_deadline", deadline);
            }
            Ok(obj.finish())
        })
        .await
    }

    /// `DELETE /orders_all`.
    pub async fn cancel_all(&self) -> Result<Value, RestError> {
        self.signed_write(Method::DELETE, "/orders_all", true, |next| {
            let mut obj = Obj::new().str("maker", &self.maker_text());
            if let Some(next) = next {
                let deadline = next();
                let msg = CancelAllOrdersType {
                    deadline: U256::from(deadline),
                    maker: self.maker(),
                };
                obj = obj
                    .str("signature", &self.sign(&msg))
                    .int("signature_deadline", deadline);
            }
            Ok(obj.finish())
        })
        .await
    }

    /// `POST /heartbeat {maker, timeout}`: Kyan cancels every order of the maker if no
    /// heartbeat arrives within `timeout` seconds; 0 switches the timer off.
    pub async fn heartbeat(&self, timeout_secs: u64) -> Result<Value, RestError> {
        self.signed_write(Method::POST, "/heartbeat", true, |next| {
            let mut obj = Obj::new()
                .str("maker", &self.maker_text())
                .int("timeout", timeout_secs);
            if let Some(next) = next {
                let deadline = next();
                let msg = HeartbeatType {
                    deadline: U256::from(deadline),
                    maker: self.maker(),
                    timeout: U256::from(timeout_secs),
                };
                obj = obj
                    .str("signature", &self.sign(&msg))
                    .int("signature_deadline", deadline);
            }
            Ok(obj.finish())
        })
        .await
    }

    /// `POST /session`: a one-click session; later writes that allow it carry its hash.
    pub async fn open_session(&self) -> Result<(), RestError> {
        let v = self
            .signed_write(Method::POST, "/session", false, |next| {
                let deadline = next.map(|n| n()).unwrap_or_default();
                let msg = OneClickSignature {
                    deadline: U256::from(deadline),
                    user: self.maker(),
                    bindToIp: false,
                };
                Ok(Obj::new()
                    .str("user", &self.maker_text())
                    .bool("bind_to_ip", false)
                    .str("signature", &self.sign(&msg))
                    .int("signature_deadline", deadline)
                    .finish())
            })
            .await?;
        // [D] `sessionHash`, [S] `hash`.
        let hash = ["sessionHash", "hash"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str))
            .ok_or_else(|| {
                RestError::Decode("POST /session answer names no sessionHash/hash".into())
            })?;
        *lock(&self.session) = Some(Secret::new(hash.to_string()));
        info!("Kyan one-click session opened");
        Ok(())
    }

    /// `DELETE /session`: revoke our one-click session.
    pub async fn close_session(&self) -> Result<(), RestError> {
        let session = lock(&self.session).take();
        if let Some(s) = session {
            self.rest
                .write(Method::DELETE, "/session", None, Some(s.expose()))
                .await?;
        }
        Ok(())
    }

    /// Set the MMP config of a pair (`POST {path}`, signed as \[D\]'s `MMPConfigUpdate`; limits
    /// × 10^6 \[ASSUMED\], like every signed amount).
    pub async fn set_mmp_config(&self, path: &str, c: &MmpConfig) -> Result<Value, RestError> {
        self.signed_write(Method::POST, path, false, |next| {
            let deadline = next.map(|n| n()).unwrap_or_default();
            let status = if c.active { "active" } else { "inactive" };
            let msg = MMPConfigUpdate {
                smartAccountAddress: c.smart_account,
                pairSymbol: c.pair.clone(),
                status: status.to_string(),
                interval: U256::from(c.interval_secs),
                frozenTime: U256::from(c.frozen_secs),
                quantityLimit: units("quantity_limit", c.quantity_limit)
                    .map_err(|e| e.to_string())?,
                deltaLimit: units("delta_limit", c.delta_limit).map_err(|e| e.to_string())?,
                vegaLimit: units("vega_limit", c.vega_limit).map_err(|e| e.to_string())?,
                deadline: U256::from(deadline),
            };
            Ok(Obj::new()
                .str("smart_account_address", &format!("{:#x}", c.smart_account))
                .str("pair_symbol", &c.pair)
                .str("status", status)
                .int("interval", c.interval_secs)
                .int("frozen_time", c.frozen_secs)
                .num("quantity_limit", c.quantity_limit)
                .num("delta_limit", c.delta_limit)
                .num("vega_limit", c.vega_limit)
                .str("signature", &self.sign(&msg))
                .int("signature_deadline", deadline)
                .finish())
        })
        .await
    }

    /// Which size field orders carry.
    pub fn size_field(&self) -> SizeField {
        self.size_field
    }

    /// Whether a one-click session is in use.
    pub fn has_session(&self) -> bool {
        lock(&self.session).is_some()
    }
}
