//! The Kana decoder's fast paths (issue 18, item 2), timed and fuzzed against its careful path.
//!
//! Differential fuzzer of both fast paths: `orderbook` pushes (every other input, half of them
//! damaged) and `trade_history`
//! pushes — most as the topic sends them, replaying the last fills, some mutated byte by byte —
//! go through two long-lived decoders, one with the fast paths and one with the careful path
//! alone (`KanaDecoder::careful_only`). Every push must give both the same result, the same
//! events and the same counters; any difference or panic is counted. Mutation-based like
//! [`crate::sbs2_fast::fuzz`], with `positions` pushes mixed in (they decide the side of
//! venue-made closes) and a small deduplication memory on some runs, so keys are forgotten.

use perpbot::model::{Lots, MarketSpec, Ticks, Timestamp};
use perpbot::sim::market::testnet_markets;
use perpbot::venue::kana::decode::{KanaDecoder, KanaUnits};

use crate::sbs2_fast::{FuzzReport, mutate};

/// Bytes that change a frame's structure or numbers, for the mutator.
const SIGNIFICANT: &[u8] = b"\"\\,:[]{}.-+eE0123456789 \tnulx";

fn decoders(capacity: usize) -> (KanaDecoder, KanaDecoder) {
    let d = || {
        KanaDecoder::new(testnet_markets(), KanaUnits::Auto)
            .expect("valid specs")
            .with_dedupe_capacity(capacity)
    };
    (d(), d().careful_only())
}

/// Fill record `n` of a stream on `spec` (order types 1–9; 9 has no side of its own).
fn record(spec: &MarketSpec, n: u64, next: &mut impl FnMut() -> u64) -> String {
    let order_type = 1 + next() % 9;
    let lots = spec.min_lots + next() % 5_000;
    let ticks = 5_450 + next() % 100;
    let version = if next().is_multiple_of(8) {
        String::new()
    } else {
        format!(r#","transaction_version":{}"#, 6_704_413_443 + n)
    };
    let order_id = if next().is_multiple_of(8) {
        String::new()
    } else {
        format!(
            r#","order_id":"{}""#,
            12_907_057_702_855_018_828_273_522u128 + u128::from(n)
        )
    };
    format!(
        r#"{{"address":"0x7","leverage":2,"market_id":"{}","timestamp":{},"size":"{}","order_type":{order_type},"price":"{}","pnl":"0","fee":"0.0326969090000000006806411505","trade_id":"{}","last_updated":1746177751{version}{order_id}}}"#,
        spec.id.0,
        1_746_177_750 + n,
        spec.lots_to_size(Lots(lots)),
        spec.ticks_to_price(Ticks(ticks)),
        176_609_127_761_695_247_172_922u128 + u128::from(n % 5),
    )
}

/// Run `executions` pushes; the report counts pushes both decoders accepted or refused alike,
/// mismatches and panics.
pub fn fuzz(executions: u64, seed: u64) -> FuzzReport {
    let spec = MarketSpec::kana_apt_testnet();
    let mut next = crate::sbs2_fast::xorshift(seed);
    let records: Vec<String> = (0..4_096).map(|n| record(&spec, n, &mut next)).collect();
    let books = book_frames(1_024);
    let mut report = FuzzReport::default();
    let mut input = String::with_capacity(16 * 1024);
    let mut pair = decoders(8);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..executions {
        // A new stream (fresh decoders) every 4,096 pushes, with a small or a large memory.
        if i % 4_096 == 0 {
            pair = decoders(if (i / 4_096) % 2 == 0 { 8 } else { 100_000 });
        }
        let push = (i % 4_096) as usize;
        input.clear();
        if i % 2 == 1 {
            // Every other input an orderbook push (the one-pass level reader), often damaged.
            input.push_str(&books[(next() % books.len() as u64) as usize]);
            if next().is_multiple_of(2) {
                for _ in 0..1 + next() % 3 {
                    mutate(&mut input, &mut next, SIGNIFICANT);
                }
            }
        } else if next().is_multiple_of(29) {
            let long = next().is_multiple_of(2);
            input.push_str(&format!(
                r#"{{"data":[{{"address":"0x7","entry_price":"5.5","is_long":{long},"last_updated":"1","leverage":2,"market_id":"{}","size":"10","trade_id":"{}"}}],"message":"positions"}}"#,
                spec.id.0,
                176_609_127_761_695_247_172_922u128 + u128::from(next() % 5)
            ));
        } else {
            let window = 1 + (next() % 20) as usize;
            input.push_str(r#"{"data":["#);
            for k in 0..window.min(push + 1) {
                if k > 0 {
                    input.push(',');
                }
                input.push_str(&records[push - k]);
            }
            input.push_str(r#"],"message":"trade_history"}"#);
            // Most pushes arrive intact (so replays are recognised); some are damaged.
            if next().is_multiple_of(4) {
                for _ in 0..1 + next() % 3 {
                    mutate(&mut input, &mut next, SIGNIFICANT);
                }
            }
        }
        report.executions += 1;
        let (fast, careful) = (&mut pair.0, &mut pair.1);
        a.clear();
        b.clear();
        let both = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let ra = fast.decode(&input, Timestamp::from_secs(42), &mut a);
            let rb = careful.decode(&input, Timestamp::from_secs(42), &mut b);
            let same = ra == rb
                && a == b
                && fast.stats() == careful.stats()
                && fast.last_skips() == careful.last_skips();
            (same, ra.is_ok())
        }));
        match both {
            Err(_) => report.panics += 1,
            Ok((false, _)) => {
                report.mismatches += 1;
                if report.mismatches <= 3 {
                    eprintln!("mismatch on push {i}: {input}");
                }
            }
            Ok((true, true)) => report.accepted += 1,
            Ok((true, false)) => report.refused += 1,
        }
    }
    report
}

/// `count` `trade_history` pushes as the topic sends them: push k replays fills k .. k + 20,
/// newest first (one new fill per push), every record with an order type of its own.
pub fn history_frames(count: usize) -> Vec<String> {
    let spec = MarketSpec::kana_apt_testnet();
    let mut next = crate::sbs2_fast::xorshift(0x9E37_79B9_u64);
    let records: Vec<String> = (0..count as u64 + 20)
        .map(|n| record(&spec, n, &mut next).replace(r#""order_type":9"#, r#""order_type":1"#))
        .collect();
    (0..count)
        .map(|k| {
            let recs: Vec<&str> = (0..20).map(|i| records[k + 19 - i].as_str()).collect();
            format!(
                r#"{{"data":[{}],"message":"trade_history"}}"#,
                recs.join(",")
            )
        })
        .collect()
}

/// Decode `frames` in order with one decoder (the fast paths, or the careful path alone);
/// returns the events emitted. Not inlined, so a profiler can collect this call alone.
#[inline(never)]
pub fn decode_history(frames: &[String], careful: bool) -> usize {
    decode_counting(frames, careful, |out| out.len())
}

/// Decode `frames` in order with one long-lived decoder and add up `count` of each frame's
/// events (frames it refuses count nothing).
fn decode_counting(
    frames: &[String],
    careful: bool,
    count: impl Fn(&[perpbot::model::Event]) -> usize,
) -> usize {
    let mut d = KanaDecoder::new(testnet_markets(), KanaUnits::Auto).expect("valid specs");
    if careful {
        d = d.careful_only();
    }
    let mut out = Vec::with_capacity(32);
    let mut total = 0;
    for f in frames {
        if d.decode(f, Timestamp::from_secs(42), &mut out).is_ok() {
            total += count(&out);
        }
        out.clear();
    }
    total
}

/// `count` `orderbook` pushes of 10 asks and 10 bids around a walking mid, as Kana sends them
/// (the reference sample's record layout, human decimals on the APT testnet grid).
pub fn book_frames(count: usize) -> Vec<String> {
    let spec = MarketSpec::kana_apt_testnet();
    let mut next = crate::sbs2_fast::xorshift(0x2545_F491_u64);
    let mut mid = 5_500u64;
    (0..count as u64)
        .map(|k| {
            mid = (mid + next() % 3).saturating_sub(1);
            let mut levels = Vec::with_capacity(20);
            for (is_ask, ticks) in (1..=10)
                .map(|i| (true, mid + i))
                .chain((1..=10).map(|i| (false, mid - i)))
            {
                levels.push(format!(
                    r#"{{"is_ask":{is_ask},"last_updated":{},"market_id":"{}","price":"{}","size":"{}"}}"#,
                    1_746_177_750 + k,
                    spec.id.0,
                    spec.ticks_to_price(Ticks(ticks)),
                    spec.lots_to_size(Lots(1 + next() % 5_000)),
                ));
            }
            format!(r#"{{"data":[{}],"message":"orderbook"}}"#, levels.join(","))
        })
        .collect()
}

/// Decode `frames` with one decoder (the fast paths, or the careful path alone); returns the
/// levels emitted. Not inlined, so a profiler can collect this call alone.
#[inline(never)]
pub fn decode_books(frames: &[String], careful: bool) -> usize {
    decode_counting(frames, careful, |out| {
        out.iter()
            .map(|e| match e {
                perpbot::model::Event::Book(b) => b.bids.len() + b.asks.len(),
                _ => 0,
            })
            .sum()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_fast_paths_agree_with_the_careful_path_on_20_000_inputs() {
        let r = super::fuzz(20_000, 0xCAFE);
        assert_eq!((r.mismatches, r.panics), (0, 0), "{r:?}");
        assert!(r.accepted > 10_000 && r.refused > 100, "{r:?}");
    }
}
