//! The backtest's models of what recorded data cannot tell: how late the bot sees the market,
//! how late its requests take effect, and what each transaction costs. The queue and fee models
//! are the paper exchange's (`[venue.paper]`: `queue`, `maker_fee_rate`, `taker_fee_rate`).

use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// When the bot sees what the exchange did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FeedLatency {
    /// The exchange changes at the recorded receive time and the bot sees it then: the feed's
    /// own delay is already in the recording (it was the live bot's view).
    #[default]
    Recorded,
    /// The exchange changes at the recorded receive time and the bot sees it this much later.
    ConstantMs(u64),
}

impl FeedLatency {
    /// The delay from the exchange to the bot.
    pub fn delay(&self) -> Duration {
        match *self {
            FeedLatency::Recorded => Duration::ZERO,
            FeedLatency::ConstantMs(ms) => Duration::from_millis(ms),
        }
    }
}

/// How long a request takes from the bot deciding it to taking effect at the exchange; its
/// outcome reaches the bot when it takes effect (Kana: the writer learns it at commit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OrderLatency {
    /// Always this long.
    ConstantMs(u64),
    /// Drawn per request, uniformly in `[min_ms, max_ms]`, from the run's seeded generator.
    UniformMs {
        /// Shortest.
        min_ms: u64,
        /// Longest.
        max_ms: u64,
    },
}

impl Default for OrderLatency {
    /// 300 ms: Kana's REST payload round trip plus one block at the simulator's default block
    /// time of 250 ms. \[INF\] mainnet's confirmation time is not measured here; set it from
    /// your own recordings.
    fn default() -> OrderLatency {
        OrderLatency::ConstantMs(300)
    }
}

impl OrderLatency {
    /// The latency of the next request.
    pub fn draw(&self, rng: &mut ChaCha8Rng) -> Duration {
        match *self {
            OrderLatency::ConstantMs(ms) => Duration::from_millis(ms),
            OrderLatency::UniformMs { min_ms, max_ms } => {
                Duration::from_millis(rng.random_range(min_ms..=max_ms.max(min_ms)))
            }
        }
    }
}

/// When the bot learns its collateral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum BalanceReports {
    /// Read as the live Kana venue reads it (its stream carries no balance): at the start,
    /// every `interval_ms`, and `after_fill_ms` after a fill reaches the bot (fills close
    /// together make one read). Between reads risk counts the margin of orders placed since
    /// the last figure, as live.
    Polled {
        /// Between reads when nothing happens (ms).
        interval_ms: u64,
        /// From a fill reaching the bot to the read (ms).
        after_fill_ms: u64,
    },
    /// With every change, as a venue that streams its balance: the bot always knows the
    /// exchange's figure (optimistic for Kana).
    Streamed,
}

impl Default for BalanceReports {
    /// The live Kana venue's polling: `balance_poll_ms` (10 s) and half a second after a fill.
    fn default() -> BalanceReports {
        let live = perpbot_kana::balance::BalancePolling::default();
        BalanceReports::Polled {
            interval_ms: u64::try_from(live.interval.as_millis()).unwrap_or(u64::MAX),
            after_fill_ms: u64::try_from(live.after_activity.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// Settings of a backtest (`[backtest]`); every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Models {
    /// Seed of every random draw (order latency); the same data, config and seed give the same
    /// result, byte for byte.
    pub seed: u64,
    /// When the bot sees market data and its own fills.
    pub feed_latency: FeedLatency,
    /// When its requests take effect.
    pub order_latency: OrderLatency,
    /// When the bot learns its collateral (default: polled, as the live Kana venue).
    pub balance_reports: BalanceReports,
    /// How much later the bot learns what happened to its own orders than the exchange did
    /// (ms): request outcomes, and on top of the feed latency, order updates and fills.
    /// Default 0: on Kana the writer learns an outcome at commit and fills stream with the book
    /// \[INF\]. A venue that answers over a slower private channel (and hftbacktest's
    /// `ConstantLatency` response leg) sets it.
    pub response_latency_ms: u64,
    /// Gas per transaction in the chain's coin (each request is one Kana transaction, charged
    /// whether it executes or aborts). Default 0.0005 APT \[INF\]: about what the simulator
    /// charges a batch at its default gas price; set it from a live run's report.
    pub gas_per_transaction: Decimal,
    /// The engine's periodic duties (stale books, gas, pruning), in simulated time (ms).
    pub tick_ms: u64,
    /// Interval of the time series' rows (ms).
    pub series_ms: u64,
}

impl Default for Models {
    fn default() -> Models {
        Models {
            seed: 7,
            feed_latency: FeedLatency::Recorded,
            order_latency: OrderLatency::default(),
            balance_reports: BalanceReports::default(),
            response_latency_ms: 0,
            gas_per_transaction: Decimal::new(5, 4),
            tick_ms: 250,
            series_ms: 1_000,
        }
    }
}

impl Models {
    /// Check the settings; errors name the key.
    pub fn validate(&self) -> Result<(), String> {
        if let OrderLatency::UniformMs { min_ms, max_ms } = self.order_latency
            && min_ms > max_ms
        {
            return Err("backtest.order_latency.uniform_ms: min_ms must not exceed max_ms".into());
        }
        if self.gas_per_transaction < Decimal::ZERO {
            return Err("backtest.gas_per_transaction must not be negative".into());
        }
        if let BalanceReports::Polled { interval_ms: 0, .. } = self.balance_reports {
            return Err("backtest.balance_reports.polled.interval_ms must be at least 1".into());
        }
        for (key, v) in [("tick_ms", self.tick_ms), ("series_ms", self.series_ms)] {
            if v == 0 {
                return Err(format!("backtest.{key} must be at least 1"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_config_spells_each_model_and_bad_values_name_their_key() {
        let m: Models = toml::from_str(
            "seed = 3\nfeed_latency = { constant_ms = 40 }\norder_latency = { uniform_ms = { min_ms = 100, max_ms = 900 } }",
        )
        .unwrap();
        assert_eq!(m.feed_latency.delay(), Duration::from_millis(40));
        assert!(m.validate().is_ok());
        let recorded: Models = toml::from_str("feed_latency = \"recorded\"").unwrap();
        assert_eq!(recorded.feed_latency.delay(), Duration::ZERO);
        let bad: Models =
            toml::from_str("order_latency = { uniform_ms = { min_ms = 9, max_ms = 1 } }").unwrap();
        assert!(bad.validate().unwrap_err().contains("min_ms"));
        assert!(toml::from_str::<Models>("seeds = 1").is_err());
        assert_eq!(
            m.balance_reports,
            BalanceReports::Polled {
                interval_ms: 10_000,
                after_fill_ms: 500
            },
            "polled as the live Kana venue by default"
        );
        let streamed: Models = toml::from_str("balance_reports = \"streamed\"").unwrap();
        assert_eq!(streamed.balance_reports, BalanceReports::Streamed);
        let never: Models = toml::from_str(
            "balance_reports = { polled = { interval_ms = 0, after_fill_ms = 500 } }",
        )
        .unwrap();
        assert!(never.validate().unwrap_err().contains("interval_ms"));
    }

    #[test]
    fn uniform_latency_stays_in_range_and_repeats_with_the_seed() {
        let model = OrderLatency::UniformMs {
            min_ms: 100,
            max_ms: 200,
        };
        let draws = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..100).map(|_| model.draw(&mut rng)).collect::<Vec<_>>()
        };
        let a = draws(1);
        assert_eq!(a, draws(1));
        assert_ne!(a, draws(2));
        assert!(
            a.iter()
                .all(|d| (100..=200).contains(&(d.as_millis() as u64)))
        );
    }
}
