//! Kana WebSocket decoding: one text frame → typed events through the real decoder
//! (`KanaDecoder::decode`, the call the WebSocket client makes for every frame), per topic.
//!
//! Timed per frame: JSON envelope, routing, per-record conversion to integer lots / ticks and
//! exact decimals, deduplication of history records, appending the events to the output vector
//! and dropping them again (`Vec::clear`, what the consumer pays once it is done with them).
//! Reported as time per message and bytes per second (criterion `Throughput::Bytes`).
//!
//! Inputs are the reference samples (`kana-perps-api.md` §7.4, G4 host: human decimals)
//! scaled up:
//! - `orderbook_20_levels`: 10 asks + 10 bids of the testnet APT market (the reference's real
//!   sample had 9 + 10); 256 different books from a mid walk, so branch predictors see variety;
//! - `orderbook_40_levels`: 20 + 20, for the cost per level;
//! - `positions_8`: a long and a short in each of the four testnet markets;
//! - `trade_history_20_replayed`: the history topic as it streams — each push replays the last
//!   20 fills and one of them is new, so 19 records are recognised as repeats and one is emitted;
//! - `recent_trades_10_pairs`: each push replays the last 10 matches (20 records, no `message`,
//!   routed by record shape), one match new;
//! - `live_funding_rate_4`: one record per testnet market.
//!
//! The history topics are measured in steady state: a fresh decoder first sees push 0 (the
//! replay of everything, untimed), then pushes 1.. are timed; after 1,023 pushes a fresh decoder
//! starts again (untimed), so the dedupe memory stays that of a live connection.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use perpbot::model::{Event, MarketSpec, Timestamp};
use perpbot::sim::market::testnet_markets;
use perpbot::venue::kana::decode::{KanaDecoder, KanaUnits};

use common::{APT_MID_TICKS, Lcg, T0_SECS};

fn decoder() -> KanaDecoder {
    KanaDecoder::new(testnet_markets(), KanaUnits::Auto).expect("valid specs")
}

fn apt() -> MarketSpec {
    MarketSpec::kana_apt_testnet()
}

fn average_len(frames: &[String]) -> u64 {
    (frames.iter().map(String::len).sum::<usize>() / frames.len()) as u64
}

/// Decode `frames` in a loop with one long-lived decoder (topics without deduplication).
fn bench_stateless(c: &mut Criterion, name: &str, frames: &[String], events_per_frame: usize) {
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Bytes(average_len(frames)));
    let mut d = decoder();
    let mut out: Vec<Event> = Vec::with_capacity(16);
    // Check once that the frames decode to what they should (not timed).
    let n = d
        .decode(&frames[0], Timestamp::from_secs(T0_SECS), &mut out)
        .expect("frame decodes");
    assert_eq!(n, events_per_frame, "{name}: events per frame");
    out.clear();
    let mut i = 0usize;
    group.bench_function(name, |b| {
        b.iter(|| {
            let frame = &frames[i % frames.len()];
            i += 1;
            let n = d.decode(black_box(frame), Timestamp::from_secs(T0_SECS), &mut out);
            black_box(&out);
            out.clear();
            n
        })
    });
    group.finish();
}

/// Decode a replaying history stream in steady state (see the module docs).
fn bench_history(
    c: &mut Criterion,
    name: &str,
    frames: &[String],
    new_per_frame: usize,
    decoder: fn() -> KanaDecoder,
) {
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Bytes(average_len(&frames[1..])));
    {
        let mut d = decoder();
        let mut out = Vec::new();
        d.decode(&frames[0], Timestamp::from_secs(T0_SECS), &mut out)
            .expect("first push decodes");
        out.clear();
        let n = d
            .decode(&frames[1], Timestamp::from_secs(T0_SECS), &mut out)
            .expect("second push decodes");
        assert_eq!(n, new_per_frame, "{name}: new events per push");
    }
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            let mut out: Vec<Event> = Vec::with_capacity(16);
            while done < iters {
                let mut d = decoder();
                let _ = d.decode(&frames[0], Timestamp::from_secs(T0_SECS), &mut out);
                out.clear();
                let n = (iters - done).min(frames.len() as u64 - 1) as usize;
                let start = Instant::now();
                for frame in &frames[1..=n] {
                    let r = d.decode(black_box(frame), Timestamp::from_secs(T0_SECS), &mut out);
                    black_box((&r, &out));
                    out.clear();
                }
                total += start.elapsed();
                done += n as u64;
            }
            total
        })
    });
    group.finish();
}

fn orderbook(c: &mut Criterion) {
    for per_side in [10u64, 20] {
        let mut rng = Lcg(42);
        let mut mid = APT_MID_TICKS;
        let frames: Vec<String> = (0..256)
            .map(|k| {
                mid = (mid + rng.next() % 3).saturating_sub(1);
                common::orderbook_frame(&apt(), &mut rng, mid, per_side, T0_SECS + k)
            })
            .collect();
        let name = format!("orderbook_{}_levels", 2 * per_side);
        bench_stateless(c, &name, &frames, 1);
    }
}

fn positions(c: &mut Criterion) {
    let mut rng = Lcg(42);
    let specs = testnet_markets();
    let frames: Vec<String> = (0..64)
        .map(|k| common::positions_frame(&specs, &mut rng, T0_SECS + k))
        .collect();
    bench_stateless(c, "positions_8", &frames, 1);
}

fn funding(c: &mut Criterion) {
    let specs = testnet_markets();
    let frames: Vec<String> = (0..64)
        .map(|k| common::funding_frame(&specs, T0_SECS + 3600 * k))
        .collect();
    bench_stateless(c, "live_funding_rate_4", &frames, 4);
}

fn history(c: &mut Criterion) {
    let mut rng = Lcg(42);
    let frames = common::trade_history_frames(&apt(), &mut rng, 20, 1024);
    bench_history(c, "trade_history_20_replayed", &frames, 1, decoder);
    // The same through the careful path alone (what every push cost before the replay memo),
    // for the ratio in one run.
    let careful = || decoder().careful_only();
    bench_history(c, "trade_history_20_replayed_careful", &frames, 1, careful);
    let frames = common::recent_trades_frames(&apt(), &mut rng, 10, 1024);
    bench_history(c, "recent_trades_10_pairs", &frames, 1, decoder);
}

criterion_group!(benches, orderbook, positions, history, funding);
criterion_main!(benches);
