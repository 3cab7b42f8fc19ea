//! `perpbot decode` turns every sample frame of the Kana reference (§7.4) into the right typed
//! event, reports undecodable frames on stderr with the reason, and exits 0.

use std::io::Write;
use std::process::{Command, Stdio};

fn decode(input: &str) -> (Vec<serde_json::Value>, String, bool) {
    let info = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/kana_market_info.json"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_perpbot"))
        .args(["decode", "--venue", "kana", "--market-info", info])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run perpbot decode");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let events = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each stdout line is one JSON event"))
        .collect();
    (
        events,
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

#[test]
fn every_reference_sample_becomes_a_typed_event() {
    let samples = include_str!("../fixtures/kana_ws_samples.jsonl");
    let (events, stderr, ok) = decode(samples);
    assert!(ok, "{stderr}");
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "position",
            "fill",
            "open_orders",
            "book",
            "trade",
            "funding",
            "funding",
            "open_orders"
        ],
        "{events:#?}"
    );
    // positions (old host, raw units): 1000 lots short at 6050 ticks = 6.05.
    let p = &events[0]["positions"][0];
    assert_eq!(
        (
            p["side"].as_str(),
            p["lots"].as_u64(),
            p["entry_price"].as_str()
        ),
        (Some("short"), Some(1000), Some("6.05"))
    );
    // trade_history: a taker fill opening a short, fee 0.05 % of 6.05 USDT.
    let f = &events[1];
    assert_eq!(
        (
            f["side"].as_str(),
            f["direction"].as_str(),
            f["liquidity"].as_str()
        ),
        (Some("sell"), Some("open"), Some("taker"))
    );
    assert_eq!(f["fee"].as_str(), Some("0.003025"));
    // open_orders: one resting bid of 1000 lots at 6002 ticks.
    let o = &events[2]["orders"][0];
    assert_eq!(
        (
            o["side"].as_str(),
            o["price"].as_u64(),
            o["remaining"].as_u64()
        ),
        (Some("buy"), Some(6002), Some(1000))
    );
    // orderbook: one ask and one bid level.
    assert_eq!(events[3]["asks"][0]["price"].as_u64(), Some(6036));
    assert_eq!(events[3]["bids"][0]["lots"].as_u64(), Some(174998));
    // recent_trades (no `message` key): one trade for the matched pair, 11.851 APT @ 5.518.
    assert_eq!(
        (events[4]["price"].as_u64(), events[4]["lots"].as_u64()),
        (Some(5518), Some(11851))
    );
    // live_funding_rate: markets 14 and 16.
    assert_eq!(
        (events[5]["market"].as_u64(), events[6]["market"].as_u64()),
        (Some(14), Some(16))
    );
    // The malformed frame is reported with topic, field and value; the others still decoded.
    assert!(
        stderr.contains("orderbook") && stderr.contains("price") && stderr.contains("60x6"),
        "{stderr}"
    );
    // Every frame is accounted for: recent_trades lists both counterparties of a match, so
    // the second record is a reasoned skip, not a second trade.
    let reports: Vec<&str> = stderr.lines().filter(|l| l.starts_with("line ")).collect();
    assert_eq!(
        reports,
        [
            "line 5: skipped 1 record(s): the other side of a match already emitted",
            "line 7: orderbook: field `price`: \"60x6\" is not an unsigned integer"
        ],
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().last(),
        Some("decoded 8 frames: 8 events, 1 records skipped (reasons above), 1 undecodable"),
        "{stderr}"
    );
}

#[test]
fn garbage_input_is_reported_not_fatal() {
    let (events, stderr, ok) = decode("not json\n\n{\"data\": 5}\n");
    assert!(ok);
    assert!(events.is_empty());
    // Line 1 is not JSON; line 3 is a frame of no known topic (a counted, reasoned skip, not
    // an error).
    let reports: Vec<&str> = stderr.lines().filter(|l| l.starts_with("line ")).collect();
    assert_eq!(reports.len(), 2, "{stderr}");
    assert!(
        reports[0].starts_with("line 1: unknown: field `frame`: \"not json\" is not a valid frame"),
        "{stderr}"
    );
    assert_eq!(
        reports[1],
        "line 3: skipped 1 record(s): its topic has no event"
    );
    assert_eq!(
        stderr.lines().last(),
        Some("decoded 2 frames: 0 events, 1 records skipped (reasons above), 1 undecodable"),
        "{stderr}"
    );
}
