//! Shared inputs of the benchmarks: the seeded LCG of the issue, generated books, Kana WebSocket
//! frames shaped like the reference samples (`kana-perps-api.md` §7.4, scaled up), the
//! `config/sim.toml` settings, a poll-once driver for the strategy's futures and percentiles.
//!
//! Every bench includes this file with `mod common;` and uses a different part of it.
#![allow(dead_code)]

use std::fmt::Write as _;

use perpbot::config::Config;
use perpbot::model::{Level, Lots, MarketId, MarketSpec, Ticks};

/// The testnet APT market of the reference samples (lot 0.001 APT, tick 0.001 USD).
pub const APT: MarketId = MarketId(1338);

/// `last_updated` of the reference's G4 samples (Unix seconds); generated frames start here.
pub const T0_SECS: u64 = 1_746_177_751;

/// APT at 5.500 USD in ticks.
pub const APT_MID_TICKS: u64 = 5_500;

/// The issue's generator: x = x·6364136223846793005 + 1442695040888963407 (wrapping), draw
/// x >> 33.
#[derive(Debug, Clone)]
pub struct Lcg(pub u64);

impl Lcg {
    /// The next draw (31 bits).
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// `n` levels on one side of `mid`, best first, at one-tick spacing from `mid ± 1`, each with
/// 1 + r % 5000 lots.
pub fn levels(rng: &mut Lcg, mid: u64, n: u64, bid: bool) -> Vec<Level> {
    (1..=n)
        .map(|i| Level::new(if bid { mid - i } else { mid + i }, 1 + rng.next() % 5000))
        .collect()
}

/// The `config/sim.toml` the bot runs by default (market maker params, risk limits).
pub fn paper_config() -> Config {
    Config::from_toml_str(include_str!("../../config/sim.toml")).expect("config/sim.toml")
}

/// p50, p99, p99.9 and max of `samples` (sorted in place), nearest-rank.
pub fn percentiles(samples: &mut [u64]) -> [u64; 4] {
    samples.sort_unstable();
    let at = |q: f64| {
        let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
        samples[rank - 1]
    };
    [at(0.50), at(0.99), at(0.999), at(1.0)]
}

/// True when the binary runs as a benchmark (`cargo bench`), false in `cargo test --benches`
/// (criterion's quick test mode): the heavy one-off runs only happen in the former.
pub fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}

// ---- Kana WebSocket frames (G4 host: human decimals, numeric timestamps) ------------------------

fn price(spec: &MarketSpec, ticks: u64) -> String {
    spec.ticks_to_price(Ticks(ticks)).to_string()
}

fn size(spec: &MarketSpec, lots: u64) -> String {
    spec.lots_to_size(Lots(lots)).to_string()
}

/// A 64-hex profile address derived from `n`.
fn address(n: u64) -> String {
    format!(
        "0x{:016x}{:016x}{:016x}{:016x}",
        n,
        !n,
        n ^ 0x5a5a,
        n.rotate_left(17)
    )
}

/// An `orderbook` push: `per_side` asks ascending then `per_side` bids descending around
/// `mid_ticks` (best bid `mid − 1`, best ask `mid + 1`), one record per level as in the
/// reference sample (`is_ask`, `last_updated`, `market_id`, `price`, `size`).
pub fn orderbook_frame(
    spec: &MarketSpec,
    rng: &mut Lcg,
    mid_ticks: u64,
    per_side: u64,
    ts_secs: u64,
) -> String {
    let mut s = String::with_capacity(64 + 100 * 2 * per_side as usize);
    s.push_str(r#"{"data":["#);
    let market = spec.id.0;
    let mut first = true;
    let mut level = |s: &mut String, is_ask: bool, ticks: u64, lots: u64| {
        if !first {
            s.push(',');
        }
        first = false;
        let _ = write!(
            s,
            r#"{{"is_ask":{is_ask},"last_updated":{ts_secs},"market_id":"{market}","price":"{}","size":"{}"}}"#,
            price(spec, ticks),
            size(spec, lots)
        );
    };
    for i in 1..=per_side {
        level(&mut s, true, mid_ticks + i, 1 + rng.next() % 5000);
    }
    for i in 1..=per_side {
        level(&mut s, false, mid_ticks - i, 1 + rng.next() % 5000);
    }
    s.push_str(r#"],"message":"orderbook"}"#);
    s
}

/// A `positions` push: a long and a short (hedge mode) in each of `specs`, in the shape of the
/// reference sample and the REST position record (§4.4.2) with human units.
pub fn positions_frame(specs: &[MarketSpec], rng: &mut Lcg, ts_secs: u64) -> String {
    let mut recs = Vec::new();
    for (m, spec) in specs.iter().enumerate() {
        for is_long in [true, false] {
            let lots = spec.min_lots * (1 + rng.next() % 20);
            let entry = 1_000 + rng.next() % 100_000;
            let entry = spec.ticks_to_price(Ticks(entry));
            let value = spec.lots_to_size(Lots(lots)) * entry;
            let liq = if is_long {
                entry * rust_decimal::Decimal::new(6, 1)
            } else {
                entry * rust_decimal::Decimal::new(14, 1)
            };
            recs.push(format!(
                r#"{{"address":"{}","entry_price":"{entry}","is_long":{is_long},"last_updated":{ts_secs},"leverage":2,"liq_price":"{liq}","margin":"{}","market_id":"{}","size":"{}","sl":null,"tp":null,"trade_id":"{}","value":"{value}"}}"#,
                address(7),
                value / rust_decimal::Decimal::TWO,
                spec.id.0,
                size(spec, lots),
                16_509_835_945_970_048_696_716u128 + (m as u128) * 2 + u128::from(is_long)
            ));
        }
    }
    format!(r#"{{"data":[{}],"message":"positions"}}"#, recs.join(","))
}

/// One fill record (§4.4.4 shape; the reference's long fee / PnL decimals), unique by `n`.
fn fill_record(spec: &MarketSpec, rng: &mut Lcg, n: u64, ts_secs: u64) -> String {
    let order_type = 1 + rng.next() % 8;
    let lots = spec.min_lots + rng.next() % 10_000;
    let ticks = APT_MID_TICKS - 50 + rng.next() % 100;
    let (fee, pnl) = if rng.next().is_multiple_of(2) {
        ("0", "0")
    } else {
        (
            "0.0326969090000000006806411505",
            "-0.0682499090000000006806411505",
        )
    };
    format!(
        r#"{{"address":"{}","leverage":2,"market_id":"{}","timestamp":{ts_secs},"size":"{}","order_type":{order_type},"price":"{}","order_value":"65.393818","pnl":"{pnl}","fee":"{fee}","trade_id":"{}","last_updated":{ts_secs},"transaction_version":{},"entry_price":null,"order_id":"{}"}}"#,
        address(7),
        spec.id.0,
        size(spec, lots),
        price(spec, ticks),
        176_609_127_761_695_247_172_922u128 + u128::from(n),
        6_704_413_443 + n,
        12_907_057_702_855_018_828_273_522u128 + u128::from(n)
    )
}

/// `count` `trade_history` pushes as the topic sends them: each replays the last `window` fills,
/// one of them new (push k holds fills k .. k + window, newest first).
pub fn trade_history_frames(
    spec: &MarketSpec,
    rng: &mut Lcg,
    window: usize,
    count: usize,
) -> Vec<String> {
    let records: Vec<String> = (0..count + window)
        .map(|n| fill_record(spec, rng, n as u64, T0_SECS + n as u64))
        .collect();
    (0..count)
        .map(|k| {
            let recs: Vec<&str> = records[k..k + window]
                .iter()
                .rev()
                .map(String::as_str)
                .collect();
            format!(
                r#"{{"data":[{}],"message":"trade_history"}}"#,
                recs.join(",")
            )
        })
        .collect()
}

/// The two records of one public match (§7.4 `recent_trades`: the maker with fee 0, the taker
/// with a fee, the same transaction version, price and size).
fn trade_pair(spec: &MarketSpec, rng: &mut Lcg, n: u64, ts_secs: u64) -> String {
    let lots = spec.min_lots + rng.next() % 20_000;
    let ticks = APT_MID_TICKS - 20 + rng.next() % 40;
    let version = 6_704_413_443 + n;
    let common = format!(
        r#""last_updated":{},"leverage":2,"market_id":"{}","order_value":"65.393818","price":"{}","size":"{}","timestamp":{ts_secs}"#,
        ts_secs + 1,
        spec.id.0,
        price(spec, ticks),
        size(spec, lots)
    );
    format!(
        r#"{{"address":"{}","fee":"0",{common},"order_type":1,"pnl":"0","trade_id":"{}","transaction_version":{version}}},{{"address":"{}","fee":"0.0326969090000000006806411505",{common},"order_type":7,"pnl":"-0.0682499090000000006806411505","trade_id":"{}","transaction_version":{version}}}"#,
        address(2 * n),
        176_590_681_017_621_537_621_306u128 + u128::from(2 * n),
        address(2 * n + 1),
        176_590_681_017_621_537_621_306u128 + u128::from(2 * n + 1),
    )
}

/// `count` `recent_trades` pushes without `message` (as in the reference sample, routed by
/// record shape): each replays the last `pairs` matches (two records each), one of them new.
pub fn recent_trades_frames(
    spec: &MarketSpec,
    rng: &mut Lcg,
    pairs: usize,
    count: usize,
) -> Vec<String> {
    let matches: Vec<String> = (0..count + pairs)
        .map(|n| trade_pair(spec, rng, n as u64, T0_SECS + n as u64))
        .collect();
    (0..count)
        .map(|k| {
            let recs: Vec<&str> = matches[k..k + pairs]
                .iter()
                .rev()
                .map(String::as_str)
                .collect();
            format!(r#"{{"data":[{}]}}"#, recs.join(","))
        })
        .collect()
}

/// A `live_funding_rate` push with one record per market (the reference sample's shape).
pub fn funding_frame(specs: &[MarketSpec], ts_secs: u64) -> String {
    let recs: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                r#"{{"funding_rate":"0.0000{}","funding_timestamp":0,"last_updated":{},"market_id":"{}","transaction_timestamp":{ts_secs},"transaction_version":{}}}"#,
                125 + i,
                ts_secs + 2,
                s.id.0,
                2_726_355_750 + i as u64
            )
        })
        .collect();
    format!(
        r#"{{"data":[{}],"message":"live_funding_rate"}}"#,
        recs.join(",")
    )
}
