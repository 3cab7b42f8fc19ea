//! What the private WebSocket subscribes to, and the REST resync it runs after every
//! (re)connect and `seq_id` gap.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::rest::KyanRest;
use crate::state::SharedState;

/// What the account subscribes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriptions {
    /// Our EOA (`orderbook_maker`'s maker), lower case.
    pub maker: String,
    /// The account of account channels: the smart account once learned, else the EOA
    /// \[ASSUMED\].
    pub account: String,
    /// Instruments (funding).
    pub instruments: Vec<String>,
    /// Pairs (index price).
    pub pairs: Vec<String>,
}

impl Subscriptions {
    /// The subscriptions, each `{channel, query}`.
    pub fn list(&self) -> Vec<Value> {
        let acct = &self.account;
        let mut out = vec![
            json!({"channel":"orderbook_maker","query":{"maker":self.maker}}),
            json!({"channel":"trade","query":{"account":acct}}),
            json!({"channel":"position","query":{"account":acct}}),
            json!({"channel":"account_state","query":{"account":acct}}),
            json!({"channel":"transfer","query":{"account":acct}}),
            json!({"channel":"mmp","query":{"smart_account_address":acct}}),
            // [ASSUMED] queried by account like the other account channels.
            json!({"channel":"bankruptcy","query":{"account":acct}}),
            json!({"channel":"account_liquidation","query":{"account":acct}}),
        ];
        for i in &self.instruments {
            out.push(json!({"channel":"funding","query":{"instrument_name":i}}));
        }
        let mut bases: Vec<&str> = Vec::new();
        for p in &self.pairs {
            out.push(json!({"channel":"index_price","query":{"pair":p}}));
            let base = p.split('_').next().unwrap_or(p);
            if !bases.contains(&base) {
                bases.push(base);
            }
        }
        for b in bases {
            out.push(json!({"channel":"instruments","query":{"market":b}}));
        }
        out
    }

    /// The account channels again, for a smart account learned later.
    pub(super) fn account_list(&self) -> Vec<Value> {
        self.list()
            .into_iter()
            .filter(|s| {
                matches!(
                    s.get("channel").and_then(Value::as_str),
                    Some("trade" | "position" | "account_state" | "mmp")
                )
            })
            .collect()
    }
}

/// What a resync reads over REST: each answer as Kyan gives it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fetched {
    /// `GET /orders` (open orders).
    pub orders: Value,
    /// `GET /positions/{account}`.
    pub positions: Value,
    /// `GET /account_state/{account}`.
    pub state: Value,
    /// `GET /v2/account_history` (own trades, newest first), when the venue serves it.
    pub trades: Option<Value>,
}

/// Fetches the account over REST after a (re)connect or a gap.
#[async_trait]
pub trait Resync: Send + Sync {
    /// The account's orders, positions, margin and recent trades.
    async fn fetch(&self) -> Result<Fetched, String>;
}

/// Trades read back per resync (the newest; older ones a gap of that length cannot hide).
const HISTORY_PAGE: u32 = 200;

/// The resync over [`KyanRest`]: `GET /v2/account_history` (a 404 there, a venue without the
/// endpoint, leaves the trades out: positions still settle what a lost fill changed), then
/// `GET /orders?maker=`, `GET /positions/{account}` and `GET /account_state/{account}`.
pub struct RestResync {
    /// The REST client.
    pub rest: KyanRest,
    /// Our EOA.
    pub maker: String,
    /// Where the smart account is learned.
    pub shared: Arc<SharedState>,
}

#[async_trait]
impl Resync for RestResync {
    async fn fetch(&self) -> Result<Fetched, String> {
        let account = self
            .shared
            .smart_account()
            .unwrap_or_else(|| self.maker.clone());
        // The trades first: every trade they list happened before the positions are read, so
        // the positions include them all. (Read the other way round, a trade between the two
        // reads would be in the fills but not yet in the positions: a position the venue never
        // had.) A trade between the reads is in the positions only; its fill arrives on the
        // stream and the reconciliation counts it once.
        let trades = match self.rest.trade_history(&account, HISTORY_PAGE).await {
            Ok(v) => Some(v),
            Err(crate::rest::RestError::Http(e)) if e.status == 404 => None,
            Err(e) => return Err(format!("GET /v2/account_history: {e}")),
        };
        let orders = self
            .rest
            .orders(&self.maker, None)
            .await
            .map_err(|e| format!("GET /orders: {e}"))?;
        let positions = self
            .rest
            .positions(&account)
            .await
            .map_err(|e| format!("GET /positions: {e}"))?;
        let state = self
            .rest
            .account_state(&account)
            .await
            .map_err(|e| format!("GET /account_state: {e}"))?;
        Ok(Fetched {
            orders,
            positions,
            state,
            trades,
        })
    }
}
