//! Backtesting: record a venue's market data, then replay it through the same decoder and the
//! same synchronous engine core ([`perpbot_core::engine::EngineCore`]) in simulated time, against
//! the paper exchange with latency, queue, fee and gas models.
//!
//! Assumptions and where a backtest is optimistic: `docs/backtesting.md`.

pub mod export;
pub mod models;
pub mod plot;
pub mod recording;
pub mod run;
pub mod series;

pub use models::{FeedLatency, Models, OrderLatency};
pub use recording::Manifest;
pub use run::{BacktestError, Outcome, Report, Setup, run, run_market_data};
