//! Strategies: state in, intents out.
//!
//! A [`Strategy`] receives typed [`Event`]s and a [`Context`] through which it reads the bot's
//! state (books, positions, orders, balance, specs, clock) and emits intents (place, cancel,
//! replace quotes, TP/SL, close) and timers. It never performs I/O, so the same strategy runs
//! unchanged against the paper venue, the simulator and a live venue, and can be unit-tested with
//! a hand-made [`State`].
//!
//! ```
//! use perpbot_model::{Event, Lots, MarketId, NewOrder, Side, Ticks};
//! use perpbot_core::strategy::{Context, Strategy, StrategyError};
//!
//! /// Buys one minimum lot whenever the spread is wider than 5 ticks.
//! struct WideSpreadBuyer { market: MarketId }
//!
//! impl Strategy for WideSpreadBuyer {
//!     fn name(&self) -> &str { "wide_spread_buyer" }
//!
//!     fn on_event(&mut self, event: &Event, ctx: &mut Context<'_>) -> Result<(), StrategyError> {
//!         let Event::Book(_) = event else { return Ok(()) };
//!         let Some(book) = ctx.book(self.market) else { return Ok(()) };
//!         if let (Some(bid), Some(5..)) = (book.best_bid(), book.spread_ticks()) {
//!             let lots = Lots(ctx.spec(self.market).map_or(1, |s| s.min_lots));
//!             ctx.place(NewOrder::limit(self.market, Side::Buy, lots, Ticks(bid.price.0 + 1)).post_only());
//!         }
//!         Ok(())
//!     }
//! }
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::de::DeserializeOwned;

use crate::state::State;
use perpbot_model::{
    ClientOrderId, Event, FundingRate, Intent, MarketId, MarketSpec, NewOrder, Order, OrderBook,
    OrderRequest, Position, PositionSide, Ticks, TimerId, Timestamp, TradingState,
};

/// Why a strategy could not be built or failed while running.
#[derive(Debug, thiserror::Error)]
pub enum StrategyError {
    /// The `[strategy.params]` table is wrong; the message names the key.
    #[error("strategy `{strategy}`: bad params: {message}")]
    Params {
        /// Strategy name.
        strategy: String,
        /// What is wrong, naming the key.
        message: String,
    },
    /// No strategy is registered under that name.
    #[error("unknown strategy `{name}` (registered: {known})")]
    Unknown {
        /// The name asked for.
        name: String,
        /// Names that exist, comma-separated.
        known: String,
    },
    /// The strategy failed at run time.
    #[error("strategy failed: {0}")]
    Failed(String),
}

/// A trading strategy. Implement `on_event`; `on_start` and `on_stop` are optional.
///
/// The callbacks are synchronous: a strategy reads state and emits intents through its
/// [`Context`] and never does I/O, so the same code runs at CPU speed over recorded data and
/// live, with no future allocated per event.
pub trait Strategy: Send {
    /// Name for logs and reports.
    fn name(&self) -> &str;

    /// Called once after the venue is connected, before any event.
    fn on_start(&mut self, ctx: &mut Context<'_>) -> Result<(), StrategyError> {
        let _ = ctx;
        Ok(())
    }

    /// Called for every event, after the state already reflects it.
    fn on_event(&mut self, event: &Event, ctx: &mut Context<'_>) -> Result<(), StrategyError>;

    /// Called once on shutdown, before the engine cancels remaining orders.
    fn on_stop(&mut self, ctx: &mut Context<'_>) -> Result<(), StrategyError> {
        let _ = ctx;
        Ok(())
    }
}

/// A timer request a strategy made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerCommand {
    /// Fire once after a delay.
    Once {
        /// Id to fire with.
        id: TimerId,
        /// Delay.
        after: Duration,
    },
    /// Fire repeatedly.
    Every {
        /// Id to fire with.
        id: TimerId,
        /// Period.
        every: Duration,
    },
    /// Stop a timer.
    Cancel(TimerId),
}

/// What a strategy emitted during one call: intents and timer commands, plus the id counters.
/// Owned by the engine and reused across calls so emitting allocates nothing in steady state.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Intents in the order emitted.
    pub intents: Vec<Intent>,
    /// Timer commands in the order emitted.
    pub timers: Vec<TimerCommand>,
    next_client_id: u64,
    next_timer_id: u64,
}

impl Outbox {
    /// An empty outbox whose client ids start after `first_client_id - 1` (a restart can begin
    /// above ids used before).
    pub fn new(first_client_id: u64) -> Outbox {
        Outbox {
            next_client_id: first_client_id,
            ..Outbox::default()
        }
    }

    /// Reserve the next client order id.
    pub fn next_client_id(&mut self) -> ClientOrderId {
        self.next_client_id += 1;
        ClientOrderId(self.next_client_id)
    }
}

/// The strategy's window on the bot: read state, emit intents and timers.
pub struct Context<'a> {
    state: &'a State,
    trading_state: TradingState,
    out: &'a mut Outbox,
}

impl<'a> Context<'a> {
    /// A context over `state` that collects into `out`. The engine builds one per call; tests
    /// can build their own around a hand-made [`State`].
    pub fn new(state: &'a State, trading_state: TradingState, out: &'a mut Outbox) -> Context<'a> {
        Context {
            state,
            trading_state,
            out,
        }
    }

    // ---- reading ---------------------------------------------------------------------------

    /// Current time.
    pub fn now(&self) -> Timestamp {
        self.state.now()
    }

    /// Intents emitted so far in this call, in order — for strategies that wrap another one
    /// (a filter, a recorder, a test spy) and want to see what it asked for.
    pub fn intents(&self) -> &[Intent] {
        &self.out.intents
    }

    /// The whole state, for anything the shortcuts below do not cover.
    pub fn state(&self) -> &State {
        self.state
    }

    /// Spec of a market.
    pub fn spec(&self, market: MarketId) -> Option<&MarketSpec> {
        self.state.spec(market)
    }

    /// Order book of a market.
    pub fn book(&self, market: MarketId) -> Option<&OrderBook> {
        self.state.book(market)
    }

    /// One side's position in a market.
    pub fn position(&self, market: MarketId, side: PositionSide) -> Option<&Position> {
        self.state.position(market, side)
    }

    /// Net position in lots (long − short).
    pub fn net_lots(&self, market: MarketId) -> i128 {
        self.state.net_lots(market)
    }

    /// Live orders (including pending and unknown ones) in a market.
    pub fn open_orders(&self, market: MarketId) -> impl Iterator<Item = &Order> {
        self.state.live_orders(Some(market))
    }

    /// One order by id.
    pub fn order(&self, id: ClientOrderId) -> Option<&Order> {
        self.state.order(id)
    }

    /// Free collateral.
    pub fn available_balance(&self) -> Decimal {
        self.state.available_balance()
    }

    /// Latest funding rate.
    pub fn funding(&self, market: MarketId) -> Option<&FundingRate> {
        self.state.funding(market)
    }

    /// Whether new exposure is allowed right now.
    pub fn trading_state(&self) -> TradingState {
        self.trading_state
    }

    // ---- emitting --------------------------------------------------------------------------

    /// Place an order; returns the id it will be known by.
    pub fn place(&mut self, order: NewOrder) -> ClientOrderId {
        let client_id = self.out.next_client_id();
        self.out
            .intents
            .push(Intent::Place(OrderRequest { client_id, order }));
        client_id
    }

    /// Cancel one order.
    pub fn cancel(&mut self, market: MarketId, client_id: ClientOrderId) {
        self.out.intents.push(Intent::Cancel { market, client_id });
    }

    /// Cancel every live order in a market, or everywhere with `None`.
    pub fn cancel_all(&mut self, market: Option<MarketId>) {
        self.out.intents.push(Intent::CancelAll { market });
    }

    /// Cancel `cancel` and place `place` in one request (one Kana transaction). Returns the ids
    /// of the new orders in the order given.
    pub fn replace_quotes(
        &mut self,
        market: MarketId,
        cancel: Vec<ClientOrderId>,
        place: impl IntoIterator<Item = NewOrder>,
    ) -> Vec<ClientOrderId> {
        let place: Vec<OrderRequest> = place
            .into_iter()
            .map(|order| OrderRequest {
                client_id: self.out.next_client_id(),
                order,
            })
            .collect();
        let ids = place.iter().map(|r| r.client_id).collect();
        self.out.intents.push(Intent::ReplaceQuotes {
            market,
            cancel,
            place,
        });
        ids
    }

    /// Set (or clear with `None`) a position's take-profit.
    pub fn update_take_profit(
        &mut self,
        market: MarketId,
        position: PositionSide,
        price: Option<Ticks>,
    ) {
        self.out.intents.push(Intent::UpdateTakeProfit {
            market,
            position,
            price,
        });
    }

    /// Set (or clear with `None`) a position's stop-loss.
    pub fn update_stop_loss(
        &mut self,
        market: MarketId,
        position: PositionSide,
        price: Option<Ticks>,
    ) {
        self.out.intents.push(Intent::UpdateStopLoss {
            market,
            position,
            price,
        });
    }

    /// Close a whole position at market.
    pub fn close_position(&mut self, market: MarketId, position: PositionSide) {
        self.out
            .intents
            .push(Intent::ClosePosition { market, position });
    }

    /// Fire [`Event::Timer`] once after `after`.
    pub fn set_timer(&mut self, after: Duration) -> TimerId {
        let id = self.next_timer_id();
        self.out.timers.push(TimerCommand::Once { id, after });
        id
    }

    /// Fire [`Event::Timer`] every `every` until cancelled.
    pub fn set_interval(&mut self, every: Duration) -> TimerId {
        let id = self.next_timer_id();
        self.out.timers.push(TimerCommand::Every { id, every });
        id
    }

    /// Stop a timer.
    pub fn cancel_timer(&mut self, id: TimerId) {
        self.out.timers.push(TimerCommand::Cancel(id));
    }

    fn next_timer_id(&mut self) -> TimerId {
        self.out.next_timer_id += 1;
        TimerId(self.out.next_timer_id)
    }
}

/// Builds a strategy from its `[strategy.params]` table.
pub type StrategyFactory =
    Box<dyn Fn(&toml::Table) -> Result<Box<dyn Strategy>, StrategyError> + Send + Sync>;

/// Maps strategy names to constructors. Built-ins are registered by
/// `perpbot_strategies::builtin_registry`; a user's own strategy registers beside them and is then
/// named in config files like any built-in.
#[derive(Default)]
pub struct StrategyRegistry {
    factories: BTreeMap<String, StrategyFactory>,
}

impl StrategyRegistry {
    /// An empty registry.
    pub fn new() -> StrategyRegistry {
        StrategyRegistry::default()
    }

    /// Register (or replace) a strategy under `name`.
    pub fn register<F>(&mut self, name: &str, factory: F)
    where
        F: Fn(&toml::Table) -> Result<Box<dyn Strategy>, StrategyError> + Send + Sync + 'static,
    {
        self.factories.insert(name.to_string(), Box::new(factory));
    }

    /// Names registered.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.factories.keys().map(String::as_str)
    }

    /// Build the strategy named `name` from its params.
    pub fn build(
        &self,
        name: &str,
        params: &toml::Table,
    ) -> Result<Box<dyn Strategy>, StrategyError> {
        let factory = self
            .factories
            .get(name)
            .ok_or_else(|| StrategyError::Unknown {
                name: name.to_string(),
                known: self.names().collect::<Vec<_>>().join(", "),
            })?;
        factory(params)
    }
}

/// Deserialize a strategy's params table into its typed params struct. Give the struct
/// `#[serde(deny_unknown_fields)]` so a misspelt key is an error that names it.
pub fn parse_params<T: DeserializeOwned>(
    strategy: &str,
    params: &toml::Table,
) -> Result<T, StrategyError> {
    let bad = |message: String| StrategyError::Params {
        strategy: strategy.to_string(),
        message,
    };
    // Through text rather than `toml::Value`, so an error carries a span and the message can
    // name the key whose value was refused (serde's own message names only the value).
    let text = toml::to_string(params).map_err(|e| bad(e.to_string()))?;
    toml::from_str(&text).map_err(|e| {
        let key = e
            .span()
            .and_then(|span| {
                let line_start = text.get(..span.start)?.rfind('\n').map_or(0, |i| i + 1);
                let line = text.get(line_start..)?.lines().next()?;
                let (key, _) = line.split_once('=')?;
                Some(key.trim().trim_matches('"').to_string())
            })
            .filter(|k| !k.is_empty() && !e.message().contains(&format!("`{k}`")));
        match key {
            Some(key) => bad(format!("{key}: {}", e.message())),
            None => bad(e.message().to_string()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Params {
        market: u64,
        #[serde(default)]
        levels: u32,
    }

    struct Noop;

    impl Strategy for Noop {
        fn name(&self) -> &str {
            "noop"
        }
        fn on_event(&mut self, _: &Event, _: &mut Context<'_>) -> Result<(), StrategyError> {
            Ok(())
        }
    }

    fn registry() -> StrategyRegistry {
        let mut r = StrategyRegistry::new();
        r.register("noop", |params| {
            let _p: Params = parse_params("noop", params)?;
            Ok(Box::new(Noop))
        });
        r
    }

    #[test]
    fn unknown_name_lists_the_known_ones() {
        let err = registry().build("nope", &toml::Table::new()).err().unwrap();
        assert_eq!(
            err.to_string(),
            "unknown strategy `nope` (registered: noop)"
        );
    }

    #[test]
    fn bad_params_name_the_key() {
        let params: toml::Table = toml::from_str("market = 1\nlevles = 2").unwrap();
        let err = registry().build("noop", &params).err().unwrap().to_string();
        assert!(err.contains("levles"), "{err}");
        let params: toml::Table = toml::from_str("market = \"x\"").unwrap();
        let err = registry().build("noop", &params).err().unwrap().to_string();
        assert!(err.contains("invalid type"), "{err}");
        let params: toml::Table = toml::from_str("levels = 2").unwrap();
        let err = registry().build("noop", &params).err().unwrap().to_string();
        assert!(err.contains("market"), "{err}");
        let params: toml::Table = toml::from_str("market = 1").unwrap();
        assert!(registry().build("noop", &params).is_ok());
    }

    #[test]
    fn context_assigns_ids_and_collects_intents() {
        let state = State::new(&[MarketSpec::kana_apt_testnet()]);
        let mut out = Outbox::new(100);
        let mut ctx = Context::new(&state, TradingState::Active, &mut out);
        let m = MarketId(1338);
        let a = ctx.place(NewOrder::limit(
            m,
            perpbot_model::Side::Buy,
            perpbot_model::Lots(500),
            Ticks(1),
        ));
        let ids = ctx.replace_quotes(
            m,
            vec![a],
            vec![NewOrder::limit(
                m,
                perpbot_model::Side::Sell,
                perpbot_model::Lots(500),
                Ticks(9),
            )],
        );
        let t = ctx.set_interval(Duration::from_secs(1));
        assert_eq!(a, ClientOrderId(101));
        assert_eq!(ids, vec![ClientOrderId(102)]);
        assert_eq!(out.intents.len(), 2);
        assert_eq!(
            out.timers,
            vec![TimerCommand::Every {
                id: t,
                every: Duration::from_secs(1)
            }]
        );
    }
}
