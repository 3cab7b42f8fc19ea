//! Side-by-side benchmarks: perpbot against barter-data 0.13 and hftbacktest 0.9 on identical
//! seeded input, in one process, printing one table of medians over five runs and perpbot's
//! speed ratio to each contender.
//!
//! ```text
//! CARGO_TARGET_DIR=target-compare cargo run --release --manifest-path benches/compare/Cargo.toml
//! ```
//!
//! * SBS-1 ([`sbs1`]): L2 delta apply + top-of-book read, 1,000,000 deltas over 500 levels, with
//!   a correctness gate (best bid/ask equal across all books every 10,000 deltas).
//! * SBS-2 ([`sbs2`]): JSON decode of 100,000 Binance futures `depthUpdate` frames.
//! * SBS-3 ([`sbs3`]): a quoting backtest over 2,000,000 events with queue-aware fills: through
//!   perpbot's real backtest (engine core, strategy, risk, executor, paper exchange:
//!   [`sbs3_engine`]; once keeping finished orders as briefly as hftbacktest's loop does, once
//!   with the engine's default ten minutes), through a hand-written replay on perpbot's
//!   `OrderBook`, and through hftbacktest.
//!
//! An optional argument (`sbs1`, `sbs2`, `sbs3`) runs one benchmark alone, for profiling.
//!
//! The input ([`input`]) is the issue's LCG stream. Runs of different contenders are interleaved
//! (run 1 of each, then run 2 of each, …) so that a slow phase of a shared machine lands on all
//! of them, and the median of five is reported.

mod input;
mod kana;
mod sbs1;
mod sbs2;
mod sbs2_fast;
mod sbs3;
mod sbs3_engine;

use std::process::ExitCode;
use std::time::Duration;

/// Runs per contender.
const RUNS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// One row of the table.
struct Row {
    bench: &'static str,
    contender: &'static str,
    median: Duration,
    /// Units of work in one run (deltas, frames, events).
    units: usize,
    /// Per-unit label and optional throughput text.
    per_unit: &'static str,
    extra: String,
}

impl Row {
    fn ns_per_unit(&self) -> f64 {
        self.median.as_nanos() as f64 / self.units as f64
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "| Benchmark | Contender | Median of {RUNS} | Per unit | Throughput | perpbot is | Notes |"
    );
    println!("|---|---|---:|---:|---:|---:|---|");
    for r in rows {
        let perp = rows
            .iter()
            .find(|p| p.bench == r.bench && p.contender.starts_with("perpbot"))
            .expect("every benchmark has a perpbot row");
        let ratio = if std::ptr::eq(perp, r) {
            "—".to_string()
        } else if r.contender.starts_with("perpbot") {
            // A second perpbot variant: its ratio to the other contenders goes in the notes.
            "(variant)".to_string()
        } else {
            let x = r.median.as_secs_f64() / perp.median.as_secs_f64();
            if x >= 1.0 {
                format!("{x:.2}× faster")
            } else {
                format!("{:.2}× slower", 1.0 / x)
            }
        };
        let throughput = r.units as f64 / r.median.as_secs_f64();
        let mut extra = r.extra.clone();
        if r.contender.starts_with("perpbot") && !std::ptr::eq(perp, r) {
            for other in rows
                .iter()
                .filter(|o| o.bench == r.bench && !o.contender.starts_with("perpbot"))
            {
                let x = other.median.as_secs_f64() / r.median.as_secs_f64();
                extra.push_str(&format!("; {x:.2}× as fast as {}", other.contender));
            }
        }
        let tp = match r.per_unit {
            "ns/event" => format!("{:.2} M events/s", throughput / 1e6),
            "ns/frame" => format!("{:.2} M frames/s", throughput / 1e6),
            _ => format!("{:.1} M deltas/s", throughput / 1e6),
        };
        println!(
            "| {} | {} | {:.1} ms | {:.1} {} | {} | {} | {} |",
            r.bench,
            r.contender,
            r.median.as_secs_f64() * 1e3,
            r.ns_per_unit(),
            r.per_unit,
            tp,
            ratio,
            extra
        );
    }
}

fn sbs1_rows(rows: &mut Vec<Row>) -> Result<(), String> {
    eprintln!("SBS-1: generating {} deltas (seed 42)…", sbs1::DELTAS);
    let (snap, deltas) = input::deltas(input::SEED_BOOK, sbs1::DELTAS);
    let p = sbs1::Prepared::new(snap, deltas);
    type RunFn = fn(&sbs1::Prepared) -> sbs1::Run;
    let contenders: [(&'static str, RunFn); 4] = [
        ("perpbot `OrderBook`", sbs1::run_perpbot),
        ("barter-data `OrderBook`", sbs1::run_barter),
        ("hftbacktest `HashMapMarketDepth`", sbs1::run_hbt_hashmap),
        ("hftbacktest `ROIVectorMarketDepth`", sbs1::run_hbt_roi),
    ];
    let mut times = vec![Vec::new(); contenders.len()];
    for run in 0..RUNS {
        let results: Vec<sbs1::Run> = contenders.iter().map(|(_, f)| f(&p)).collect();
        let named: Vec<(&str, &sbs1::Run)> = contenders
            .iter()
            .map(|(n, _)| *n)
            .zip(results.iter())
            .collect();
        sbs1::gate(&named)?;
        for (t, r) in times.iter_mut().zip(&results) {
            t.push(r.elapsed);
        }
        eprintln!("SBS-1: run {} of {RUNS} done, gate passed", run + 1);
    }
    for ((name, _), t) in contenders.iter().zip(times) {
        rows.push(Row {
            bench: "SBS-1 book delta + top",
            contender: name,
            median: median(t),
            units: sbs1::DELTAS,
            per_unit: "ns/delta",
            extra: "gate: equal best bid/ask every 10,000 deltas".into(),
        });
    }
    Ok(())
}

fn sbs2_rows(rows: &mut Vec<Row>) {
    eprintln!("SBS-2: generating {} frames…", sbs2::FRAMES);
    let frames = sbs2::frames(sbs2::FRAMES);
    let bytes: usize = frames.iter().map(String::len).sum();
    type RunFn = fn(&[String]) -> sbs2::Run;
    let contenders: [(&'static str, RunFn); 6] = [
        (
            "perpbot decoder, one pass into a reused `BookUpdate` (careful path as fallback)",
            sbs2::run_perpbot_fast,
        ),
        (
            "barter-data `BinanceFuturesOrderBookL2Update`",
            sbs2::run_barter,
        ),
        (
            "perpbot-style decoder, serde (Kana's technique)",
            sbs2::run_perpbot,
        ),
        (
            "perpbot-style decoder, borrowed scanner + serde fallback",
            sbs2::run_perpbot_scan,
        ),
        (
            "perpbot-style decoder, serde record through sonic-rs (SIMD)",
            sbs2::run_sonic,
        ),
        (
            "perpbot-style decoder, serde record through simd-json (SIMD)",
            sbs2::run_simd_json,
        ),
    ];
    let mut times = vec![Vec::new(); contenders.len()];
    for run in 0..RUNS {
        for ((_, f), t) in contenders.iter().zip(times.iter_mut()) {
            let r = f(&frames);
            assert_eq!(r.levels, sbs2::FRAMES * 2 * sbs2::LEVELS_PER_SIDE);
            t.push(r.elapsed);
        }
        eprintln!("SBS-2: run {} of {RUNS} done", run + 1);
    }
    for ((name, _), t) in contenders.iter().zip(times) {
        let m = median(t);
        let mbps = bytes as f64 / m.as_secs_f64() / 1e6;
        rows.push(Row {
            bench: "SBS-2 depthUpdate decode",
            contender: name,
            median: m,
            units: sbs2::FRAMES,
            per_unit: "ns/frame",
            extra: format!(
                "{mbps:.0} MB/s over {:.1} MB ({} B/frame)",
                bytes as f64 / 1e6,
                bytes / sbs2::FRAMES
            ),
        });
    }
}

fn sbs3_rows(rows: &mut Vec<Row>) {
    eprintln!("SBS-3: generating {} events (seed 7)…", sbs3::EVENTS);
    let (snap, events) = input::events(input::SEED_BACKTEST, sbs3::EVENTS);
    let hbt_rows = sbs3::hbt_rows(&events);
    let mut engine = Vec::new();
    let mut engine_default = Vec::new();
    let mut replay = Vec::new();
    let mut hbt = Vec::new();
    let default_retention = perpbot::engine::EngineConfig::default().finished_order_retention_ms;
    for run in 0..RUNS {
        engine.push(sbs3_engine::run(&mut sbs3_engine::market_data(
            &snap, &events,
        )));
        let mut data = sbs3_engine::market_data(&snap, &events);
        engine_default.push(sbs3_engine::run_with(&mut data, true, default_retention));
        replay.push(sbs3::PerpbotReplay::new(&snap).run(&events));
        let bt = sbs3::hbt_build(&snap, &hbt_rows);
        hbt.push(sbs3::run_hbt(bt, events.len()));
        eprintln!("SBS-3: run {} of {RUNS} done", run + 1);
    }
    eprintln!(
        "SBS-3: {:.0} s of simulated time",
        sbs3_engine::simulated(events.len()).as_secs_f64()
    );
    for (name, runs) in [
        (
            "perpbot real backtest (engine core + risk + executor + paper exchange)",
            engine,
        ),
        (
            "perpbot real backtest, finished orders kept 10 min (the engine's default)",
            engine_default,
        ),
        ("perpbot `OrderBook` + prob. queue/latency model", replay),
        ("hftbacktest `Backtest<HashMapMarketDepth>`", hbt),
    ] {
        let r = runs[0];
        rows.push(Row {
            bench: "SBS-3 quoting backtest",
            contender: name,
            median: median(runs.iter().map(|r| r.elapsed).collect()),
            units: r.events,
            per_unit: "ns/event",
            extra: format!(
                "fills {} ({} buy / {} sell), orders placed {}, end position {} lots",
                r.fills.0 + r.fills.1,
                r.fills.0,
                r.fills.1,
                r.placed,
                r.position
            ),
        });
    }
}

fn main() -> ExitCode {
    // Optional filter for profiling: `sbs1`, `sbs2` or `sbs3` runs that benchmark alone;
    // `sbs1:N` runs SBS-1's contender N (0 = perpbot) once, untimed, for callgrind;
    // `sbs3:engine[:N]` runs SBS-3 (its first N events) once through the real backtest, for a
    // profiler; `sbs3:engine-md[:N]` the same with the quoter's orders off (the market-data path
    // alone); `sbs3:hbt[:N]` the same through hftbacktest, `sbs3:hbt-md[:N]` without its orders;
    // `sbs3:ratio[:ROUNDS]` the two in turn, for their ratio.
    let only = std::env::args().nth(1);
    if let Some(n) = only.as_deref().and_then(|o| o.strip_prefix("sbs1:")) {
        let (snap, deltas) = input::deltas(input::SEED_BOOK, sbs1::DELTAS);
        let p = sbs1::Prepared::new(snap, deltas);
        let f = [
            sbs1::run_perpbot,
            sbs1::run_barter,
            sbs1::run_hbt_hashmap,
            sbs1::run_hbt_roi,
        ];
        let Some(f) = n.parse::<usize>().ok().and_then(|n| f.get(n)) else {
            eprintln!("sbs1:N takes N in 0..4");
            return ExitCode::FAILURE;
        };
        let r = f(&p);
        eprintln!("checksum {}", r.checksum);
        return ExitCode::SUCCESS;
    }
    // `sbs2:fuzz[:N]` runs the SBS-2 differential fuzzer, `kana:fuzz[:N]` the Kana decoder's
    // (fast paths against the careful path), over N inputs (default 10,000,000).
    for (mode, fuzz, seed) in [
        (
            "sbs2:fuzz",
            sbs2_fast::fuzz as fn(u64, u64) -> sbs2_fast::FuzzReport,
            0x5B52,
        ),
        ("kana:fuzz", kana::fuzz, 0x4B41),
    ] {
        let Some(n) = only.as_deref().and_then(|o| o.strip_prefix(mode)) else {
            continue;
        };
        let n = n.trim_start_matches(':').parse().unwrap_or(10_000_000);
        let start = std::time::Instant::now();
        let r = fuzz(n, seed);
        println!("{r:?} in {:.1} s", start.elapsed().as_secs_f64());
        return if r.mismatches == 0 && r.panics == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    // `kana:history` / `kana:book`: 4,096 replayed trade_history pushes, or 4,096 orderbook pushes
    // of 20 levels, through the Kana decoder, fast paths and careful path alternately (median
    // of 5 each, one process); with `:fast` or `:careful`, one pass only (for a profiler).
    for (mode, frames, decode, unit) in [
        (
            "kana:history",
            kana::history_frames as fn(usize) -> Vec<String>,
            kana::decode_history as fn(&[String], bool) -> usize,
            "trade_history, 20 records per push, 1 new (events",
        ),
        (
            "kana:book",
            kana::book_frames,
            kana::decode_books,
            "orderbook, 20 levels (levels",
        ),
    ] {
        let Some(rest) = only.as_deref().and_then(|o| o.strip_prefix(mode)) else {
            continue;
        };
        let frames = frames(4_096);
        if !rest.is_empty() {
            let n = decode(&frames, rest == ":careful");
            eprintln!("{unit}: {n})");
            return ExitCode::SUCCESS;
        }
        let (mut fast, mut careful) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            for (careful_only, times) in [(false, &mut fast), (true, &mut careful)] {
                let start = std::time::Instant::now();
                let n = decode(&frames, careful_only);
                times.push((start.elapsed(), n));
            }
        }
        let same = fast.iter().chain(&careful).all(|t| t.1 == fast[0].1);
        let per = |v: Vec<(std::time::Duration, usize)>| {
            median(v.into_iter().map(|t| t.0).collect()).as_secs_f64() * 1e9 / 4_096.0
        };
        let (f, c) = (per(fast), per(careful));
        println!(
            "{unit} out, equal both ways: {same}): fast {f:.0} ns/push, careful {c:.0} ns/push, {:.2}×",
            c / f
        );
        return if same {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    if let Some(rest) = only.as_deref().and_then(|o| o.strip_prefix("sbs3:engine")) {
        // `sbs3:engine` runs all events; `sbs3:engine:N` the first N; `-md` without orders;
        // `-kept` (before the count) keeps finished orders as long as the engine's default.
        let (kept, rest) = match rest.strip_prefix("-kept") {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        let retention = if kept {
            perpbot::engine::EngineConfig::default().finished_order_retention_ms
        } else {
            sbs3_engine::RETENTION_LIKE_HFTBACKTEST_MS
        };
        let (quoting, n) = quoting_and_count(rest);
        let (snap, events) = input::events(input::SEED_BACKTEST, n.unwrap_or(sbs3::EVENTS));
        let mut data = sbs3_engine::market_data(&snap, &events);
        let r = sbs3_engine::run_with(&mut data, quoting, retention);
        eprintln!("{r:?}");
        return ExitCode::SUCCESS;
    }
    if let Some(rest) = only.as_deref().and_then(|o| o.strip_prefix("sbs3:ratio")) {
        // `sbs3:ratio[:ROUNDS]`: the real engine and hftbacktest in turn (which goes first
        // alternates), ROUNDS times (default 11) on one generated stream, printing each round's
        // ratio and their median. Adjacent runs share the host's state, so the ratio of a pair
        // moves far less than either time: the way to tell a change of a few per cent.
        let rounds = rest
            .strip_prefix(':')
            .and_then(|n| n.parse().ok())
            .unwrap_or(11usize);
        let (snap, events) = input::events(input::SEED_BACKTEST, sbs3::EVENTS);
        let rows = sbs3::hbt_rows(&events);
        let mut ratios = Vec::with_capacity(rounds);
        for round in 0..rounds {
            let engine = || sbs3_engine::run(&mut sbs3_engine::market_data(&snap, &events)).elapsed;
            let hbt = || sbs3::run_hbt(sbs3::hbt_build(&snap, &rows), events.len()).elapsed;
            let (e, h) = if round % 2 == 0 {
                let e = engine();
                (e, hbt())
            } else {
                let h = hbt();
                (engine(), h)
            };
            let ratio = e.as_secs_f64() / h.as_secs_f64();
            println!(
                "round {round}: engine {:.1} ms, hftbacktest {:.1} ms, {ratio:.3}×",
                e.as_secs_f64() * 1e3,
                h.as_secs_f64() * 1e3
            );
            ratios.push(ratio);
        }
        ratios.sort_by(f64::total_cmp);
        let median = ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN);
        println!("median engine/hftbacktest over {rounds} rounds: {median:.3}×");
        return ExitCode::SUCCESS;
    }
    if let Some(rest) = only.as_deref().and_then(|o| o.strip_prefix("sbs3:hbt")) {
        // `sbs3:hbt[:N]`: the same through hftbacktest, to profile the two side by side;
        // `-md` without orders.
        let (quoting, n) = quoting_and_count(rest);
        let (snap, events) = input::events(input::SEED_BACKTEST, n.unwrap_or(sbs3::EVENTS));
        let bt = sbs3::hbt_build(&snap, &sbs3::hbt_rows(&events));
        let r = sbs3::run_hbt_with(bt, events.len(), quoting);
        eprintln!("{r:?}");
        return ExitCode::SUCCESS;
    }
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o == name);
    let mut rows = Vec::new();
    if wanted("sbs1")
        && let Err(e) = sbs1_rows(&mut rows)
    {
        eprintln!("{e}");
        eprintln!("aborting: the books disagree, so their timings would not be comparable");
        return ExitCode::FAILURE;
    }
    if wanted("sbs2") {
        sbs2_rows(&mut rows);
    }
    if wanted("sbs3") {
        sbs3_rows(&mut rows);
    }
    println!();
    print_table(&rows);
    ExitCode::SUCCESS
}

/// What follows `sbs3:engine` or `sbs3:hbt` in a one-path mode: whether the quoter's orders are
/// on (off after `-md`) and how many events to run (after `:`; all when absent or unreadable).
fn quoting_and_count(rest: &str) -> (bool, Option<usize>) {
    let (quoting, count) = match rest.strip_prefix("-md") {
        Some(count) => (false, count),
        None => (true, rest),
    };
    (
        quoting,
        count.strip_prefix(':').and_then(|n| n.parse().ok()),
    )
}
