//! # perpbot
//!
//! A framework for automated trading on perpetual-futures exchanges: Kana Perps (on Aptos) first,
//! Kyan next. Strategies are plugins; every intent passes a risk check and a rate-limited
//! executor; the default venue is the built-in exchange simulator (Kana's wire formats on loopback),
//! which needs no keys and no network.
//!
//! ## Where everything lives
//!
//! The library is a workspace of crates (`docs/architecture.md`); this facade re-exports them
//! under one roof, so a plugin depends on `perpbot` alone and writes `perpbot::model::…`,
//! `perpbot::strategy::…`, `perpbot::venue::kana::…`.
//!
//! | module | crate | what it is for |
//! |---|---|---|
//! | [`model`] | perpbot-model | markets and exact units (lots, ticks), orders and their state machine, the order book, positions, events, intents — pure data and rules, no I/O |
//! | [`state`] | perpbot-core | the bot's picture of the world, changed only by applying events |
//! | [`strategy`] | perpbot-core | the [`Strategy`](strategy::Strategy) trait, its [`Context`](strategy::Context) and the [`StrategyRegistry`](strategy::StrategyRegistry) |
//! | [`strategies`] | perpbot-strategies | built-in strategies, registered by name |
//! | [`risk`] | perpbot-core | pre-trade checks, trading state (active / reduce-only / halted), kill switch |
//! | [`executor`] | perpbot-core | batching, rate limits, in-flight tracking, ambiguous-outcome resolution |
//! | [`engine`] | perpbot-core | the one task that owns state and runs venue → state → strategy → risk → executor |
//! | [`journal`] | perpbot-core | the write-ahead journal: requests recorded before they leave, outcomes, fills and snapshots; a restart settles what was left open and re-tracks live orders |
//! | [`venue`] | perpbot-core, perpbot-kana | the venue trait (stream + writer halves); the [`paper`](venue::paper) venue and [`kana`](venue::kana) (REST, WebSocket, Aptos transactions) |
//! | [`sim`] | perpbot-sim | the exchange simulator: Econia-style matching engine, Kana-style perp accounting (margin, fees, funding, liquidation, TP/SL), seeded synthetic market, and the loopback servers speaking Kana's REST, WebSocket and Aptos node formats |
//! | [`soak`] | perpbot (app) | the chaos soak: the strategy against the simulator with every fault on, audited against the simulator's truth (duplicates, orphans, positions, risk limits) |
//! | [`report`] | perpbot-core | the run report: PnL split into spread capture, inventory, fees and funding; inventory and drawdown |
//! | [`reconcile`] | perpbot-core | after every resync: adopt unknown venue orders, close vanished ones, explain position gaps or go reduce-only with an alert |
//! | [`watchdog`] | perpbot-core | the dead-man's switch for a stalled engine: cancels the last known live orders straight through the venue |
//! | [`aptos`] | perpbot-aptos | Aptos transactions: BCS, ABI-driven argument encoding, Ed25519 keys and signing, transaction hashes, abort decoding |
//! | [`config`] | perpbot (app) | TOML configuration, validated at start-up; secrets from env or key files |
//! | [`cli`] | perpbot (app) | the `perpbot` command line, reusable by plugin binaries |
//!
//! ## The flow
//!
//! ```text
//! venue stream ─► EngineCore: State.apply(event) ─► Strategy.on_event ─► intents
//!                                                   │
//!        venue writer ◄─ Jobs ◄─ Executor ◄─ Approved ◄─ RiskEngine.check
//! ```

pub use perpbot_aptos as aptos;
pub use perpbot_backtest as backtest;
pub use perpbot_core::{
    engine, executor, gas, journal, limits, reconcile, report, risk, state, strategy, watchdog,
};
pub use perpbot_model as model;
pub use perpbot_model::clock;
pub use perpbot_sim as sim;
pub use perpbot_strategies as strategies;

pub mod alerts;
pub mod cli;
pub mod config;
pub mod control;
pub mod history;
pub mod soak;
#[cfg(test)]
mod status_fixture;
pub mod tui;

/// Venues: the neutral trait and the paper venue ([`perpbot_core::venue`]), Kana
/// ([`perpbot_kana`]) and Kyan's request signing ([`perpbot_kyan`]).
pub mod venue {
    pub use perpbot_core::venue::*;
    pub use perpbot_kana as kana;
    pub use perpbot_kyan as kyan;
}
