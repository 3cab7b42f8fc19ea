//! Backtesting: record a venue's market data, then replay it through the same decoder and the
//! same synchronous engine core ([`perpbot_core::engine::EngineCore`]) in simulated time, against
//! the paper exchange with latency and queue models.
//!
//! Assumptions and where a backtest is optimistic: `docs/backtesting.md`.

pub mod recording;
