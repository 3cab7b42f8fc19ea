//! # perpbot
//!
//! A framework for automated trading on perpetual-futures exchanges: Kana Perps (on Aptos) first,
//! Kyan next. Strategies are plugins; every intent passes a risk check and a rate-limited
//! executor; the default venue is the built-in exchange simulator (Kana's wire formats on loopback),
//! which needs no keys and no network.
//!
//! ## Where everything lives
//!
//! | module | what it is for |
//! |---|---|
//! | [`model`] | markets and exact units (lots, ticks), orders and their state machine, the order book, positions, events, intents — pure data and rules, no I/O |
//! | [`state`] | the bot's picture of the world, changed only by applying events |
//! | [`strategy`] | the [`Strategy`](strategy::Strategy) trait, its [`Context`](strategy::Context) and the [`StrategyRegistry`](strategy::StrategyRegistry) |
//! | [`strategies`] | built-in strategies, registered by name |
//! | [`risk`] | pre-trade checks, trading state (active / reduce-only / halted), kill switch |
//! | [`executor`] | batching, rate limits, in-flight tracking, ambiguous-outcome resolution |
//! | [`engine`] | the one task that owns state and runs venue → state → strategy → risk → executor |
//! | [`journal`] | the write-ahead journal: requests recorded before they leave, outcomes, fills and snapshots; a restart settles what was left open and re-tracks live orders |
//! | [`venue`] | the venue trait (stream + writer halves); the [`paper`](venue::paper) venue and [`kana`](venue::kana) (REST, WebSocket, Aptos transactions) |
//! | [`sim`] | the exchange simulator: Econia-style matching engine, Kana-style perp accounting (margin, fees, funding, liquidation, TP/SL), seeded synthetic market, and the loopback servers speaking Kana's REST, WebSocket and Aptos node formats |
//! | [`soak`] | the chaos soak: the strategy against the simulator with every fault on, audited against the simulator's truth (duplicates, orphans, positions, risk limits) |
//! | [`report`] | the run report: PnL split into spread capture, inventory, fees and funding; inventory and drawdown |
//! | [`reconcile`] | after every resync: adopt unknown venue orders, close vanished ones, explain position gaps or go reduce-only with an alert |
//! | [`watchdog`] | the dead-man's switch for a stalled engine: cancels the last known live orders straight through the venue |
//! | [`aptos`] | Aptos transactions: BCS, ABI-driven argument encoding, Ed25519 keys and signing, transaction hashes, abort decoding |
//! | [`config`] | TOML configuration, validated at start-up; secrets from env or key files |
//! | [`cli`] | the `perpbot` command line, reusable by plugin binaries |
//!
//! ## The flow
//!
//! ```text
//! venue stream ─► Engine: State.apply(event) ─► Strategy.on_event ─► intents
//!                                                   │
//!              venue writer ◄─ Executor ◄─ Approved ◄─ RiskEngine.check
//! ```

pub use perpbot_aptos as aptos;
pub mod cli;
pub use perpbot_model::clock;
pub mod config;
pub mod engine;
pub mod executor;
pub mod gas;
pub mod journal;
pub mod limits;
pub use perpbot_model as model;
pub mod reconcile;
pub mod report;
pub mod risk;
pub use perpbot_sim as sim;
pub mod soak;
pub mod state;
pub mod strategy;
pub mod venue;
pub mod watchdog;

#[path = "../strategies/mod.rs"]
pub mod strategies;
