//! SBS-2: decode Binance USDⓈ-M futures `depthUpdate` frames (5 bids + 5 asks each).
//!
//! The frames are generated from the SBS-1 stream (seed 42): each frame takes the next five bid
//! deltas and the next five ask deltas, with prices and sizes written as strings the way Binance
//! writes them (`"100003.80"`, `"3.938"`; a deletion is `"0.000"`).
//!
//! Two decoders read the same text:
//!
//! * barter: `serde_json::from_str::<BinanceFuturesOrderBookL2Update>` — owned `String`
//!   subscription id, `DateTime<Utc>` times, `Vec<BinanceLevel>` of `rust_decimal::Decimal`.
//! * perpbot: [`DepthDecoder`], built the way perpbot's Kana decoder is: the wire record borrows
//!   from the frame (`&str` fields, no per-field allocation), numeric strings become integer
//!   ticks and lots exactly (no `f64`; a value off the grid is an error that names the field and
//!   the value), and the output is perpbot's own typed event, a [`BookUpdate`] delta.

use std::fmt::{self, Write as _};
use std::hint::black_box;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use barter_data::exchange::binance::futures::l2::BinanceFuturesOrderBookL2Update;
use perpbot::model::{BookUpdate, BookUpdateKind, Level, Lots, MarketId, Ticks, Timestamp};
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use crate::input::{Generator, SEED_BOOK};

/// Frames in the run.
pub const FRAMES: usize = 100_000;
/// Levels per side in a frame.
pub const LEVELS_PER_SIDE: usize = 5;

/// Generate `n` frames from the seed-42 delta stream.
pub fn frames(n: usize) -> Vec<String> {
    let (mut g, _) = Generator::new(SEED_BOOK);
    let mut out = Vec::with_capacity(n);
    let mut update_id = 1_000_000u64;
    for i in 0..n {
        let (mut bids, mut asks) = (Vec::new(), Vec::new());
        while bids.len() < LEVELS_PER_SIDE || asks.len() < LEVELS_PER_SIDE {
            let d = g.next_delta();
            let side = if d.is_bid { &mut bids } else { &mut asks };
            if side.len() < LEVELS_PER_SIDE {
                side.push((d.price, d.lots));
            }
        }
        let event_ms = 1_700_000_000_000u64 + i as u64 * 100;
        let first = update_id + 1;
        let last = update_id + 10;
        let mut f = String::with_capacity(320);
        write!(
            f,
            r#"{{"e":"depthUpdate","E":{},"T":{},"s":"BTCUSDT","U":{},"u":{},"pu":{},"b":["#,
            event_ms,
            event_ms - 2,
            first,
            last,
            update_id
        )
        .ok();
        push_levels(&mut f, &bids);
        f.push_str(r#"],"a":["#);
        push_levels(&mut f, &asks);
        f.push_str("]}");
        update_id = last;
        out.push(f);
    }
    out
}

fn push_levels(f: &mut String, levels: &[(u64, u64)]) {
    for (i, &(ticks, lots)) in levels.iter().enumerate() {
        if i > 0 {
            f.push(',');
        }
        // Tick 0.1 written with Binance's two price decimals; lot 0.001 with three.
        write!(
            f,
            r#"["{}.{}0","{}.{:03}"]"#,
            ticks / 10,
            ticks % 10,
            lots / 1000,
            lots % 1000
        )
        .ok();
    }
}

// ---------------------------------------------------------------------------------------------
// perpbot-style decoder
// ---------------------------------------------------------------------------------------------

/// Why a frame was refused; the text names the field and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

/// The sequence ids Binance uses to chain updates (`U`, `u`, `pu`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateIds {
    /// First update id in the event (`U`).
    pub first: u64,
    /// Last update id in the event (`u`).
    pub last: u64,
    /// Last update id of the previous event (`pu`).
    pub prev_last: u64,
}

/// Exact decimal text → integer count of `10^-decimals` units. `None` when the text is not a
/// plain non-negative decimal, has a non-zero digit below the unit (off the grid), or overflows.
#[inline]
pub fn parse_units(text: &str, decimals: u32) -> Option<u64> {
    let b = text.as_bytes();
    let mut v: u64 = 0;
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        v = v.checked_mul(10)?.checked_add(u64::from(b[i] - b'0'))?;
        i += 1;
    }
    if i == 0 {
        return None;
    }
    let mut scale = 0u32;
    if i < b.len() {
        if b[i] != b'.' || i + 1 == b.len() {
            return None;
        }
        i += 1;
        while i < b.len() {
            let c = b[i];
            if !c.is_ascii_digit() {
                return None;
            }
            if scale < decimals {
                v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
                scale += 1;
            } else if c != b'0' {
                return None;
            }
            i += 1;
        }
    }
    v.checked_mul(10u64.checked_pow(decimals - scale)?)
}

/// Levels of one side, converted while they are read (`ASK`: true for asks; it names the field in errors).
struct WireLevels<const ASK: bool>(Vec<Level>);

impl<'de, const ASK: bool> Deserialize<'de> for WireLevels<ASK> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const ASK: bool>(PhantomData<()>);
        impl<'de, const ASK: bool> Visitor<'de> for V<ASK> {
            type Value = WireLevels<ASK>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of [price, quantity] string pairs")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let field = if ASK { "a" } else { "b" };
                // Room for a typical frame without regrowing.
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(8).max(8));
                while let Some((price, qty)) = seq.next_element::<(&'de str, &'de str)>()? {
                    let ticks = parse_units(price, PRICE_DECIMALS).ok_or_else(|| {
                        de::Error::custom(format_args!(
                            "field {field}: price {price:?} is not a multiple of the 0.1 tick"
                        ))
                    })?;
                    let lots = parse_units(qty, SIZE_DECIMALS).ok_or_else(|| {
                        de::Error::custom(format_args!(
                            "field {field}: quantity {qty:?} is not a multiple of the 0.001 lot"
                        ))
                    })?;
                    out.push(Level {
                        price: Ticks(ticks),
                        lots: Lots(lots),
                    });
                }
                Ok(WireLevels(out))
            }
        }
        d.deserialize_seq(V::<ASK>(PhantomData))
    }
}

/// Decimals of the tick (0.1) and the lot (0.001): a price string times 10 is ticks, a size
/// string times 1000 is lots.
const PRICE_DECIMALS: u32 = 1;
const SIZE_DECIMALS: u32 = 3;

/// The `depthUpdate` record as it is on the wire, borrowing its strings from the frame.
#[derive(Deserialize)]
struct WireDepthUpdate<'a> {
    #[serde(rename = "e", borrow)]
    event_type: &'a str,
    #[serde(rename = "E")]
    event_time_ms: u64,
    #[serde(rename = "s", borrow)]
    symbol: &'a str,
    #[serde(rename = "U")]
    first: u64,
    #[serde(rename = "u")]
    last: u64,
    #[serde(rename = "pu")]
    prev_last: u64,
    #[serde(rename = "b")]
    bids: WireLevels<false>,
    #[serde(rename = "a")]
    asks: WireLevels<true>,
}

/// Decoder of Binance futures `depthUpdate` frames for one symbol into perpbot book deltas.
#[derive(Debug, Clone)]
pub struct DepthDecoder {
    symbol: String,
    market: MarketId,
}

impl DepthDecoder {
    /// A decoder for `symbol`, emitting events for `market`.
    pub fn new(symbol: &str, market: MarketId) -> DepthDecoder {
        DepthDecoder {
            symbol: symbol.to_string(),
            market,
        }
    }

    /// Decode one frame into a book delta and its sequence ids.
    pub fn decode(&self, frame: &str) -> Result<(UpdateIds, BookUpdate), DecodeError> {
        let w: WireDepthUpdate<'_> = serde_json::from_str(frame)
            .map_err(|e| DecodeError(format!("depthUpdate: {e}")))?;
        if w.event_type != "depthUpdate" {
            return Err(DecodeError(format!(
                "field e: {:?} is not depthUpdate",
                w.event_type
            )));
        }
        if w.symbol != self.symbol {
            return Err(DecodeError(format!(
                "field s: {:?} is not {}",
                w.symbol, self.symbol
            )));
        }
        let ts = w
            .event_time_ms
            .checked_mul(1_000_000)
            .ok_or_else(|| DecodeError(format!("field E: {} is out of range", w.event_time_ms)))?;
        Ok((
            UpdateIds {
                first: w.first,
                last: w.last,
                prev_last: w.prev_last,
            },
            BookUpdate {
                market: self.market,
                kind: BookUpdateKind::Delta,
                bids: w.bids.0,
                asks: w.asks.0,
                ts: Timestamp(ts),
            },
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------------------------

/// One timed run over all frames.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// Time to decode every frame.
    pub elapsed: Duration,
    /// Levels decoded (a check that every frame was read in full).
    pub levels: usize,
}

/// perpbot-style decode of every frame.
pub fn run_perpbot(frames: &[String]) -> Run {
    let dec = DepthDecoder::new("BTCUSDT", MarketId(1));
    let mut levels = 0;
    let start = Instant::now();
    for f in frames {
        match dec.decode(black_box(f)) {
            Ok((_, u)) => {
                levels += u.bids.len() + u.asks.len();
                black_box(u);
            }
            Err(e) => panic!("perpbot decoder refused a generated frame: {e}"),
        }
    }
    Run {
        elapsed: start.elapsed(),
        levels,
    }
}

/// barter's `BinanceFuturesOrderBookL2Update` deserialisation of every frame.
pub fn run_barter(frames: &[String]) -> Run {
    let mut levels = 0;
    let start = Instant::now();
    for f in frames {
        match serde_json::from_str::<BinanceFuturesOrderBookL2Update>(black_box(f)) {
            Ok(u) => {
                levels += u.bids.len() + u.asks.len();
                black_box(u);
            }
            Err(e) => panic!("barter refused a generated frame: {e}"),
        }
    }
    Run {
        elapsed: start.elapsed(),
        levels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse_exactly() {
        assert_eq!(parse_units("100003.80", 1), Some(1_000_038));
        assert_eq!(parse_units("100003.8", 1), Some(1_000_038));
        assert_eq!(parse_units("100003", 1), Some(1_000_030));
        assert_eq!(parse_units("3.938", 3), Some(3_938));
        assert_eq!(parse_units("0.000", 3), Some(0));
        assert_eq!(parse_units("100003.85", 1), None, "off the tick grid");
        assert_eq!(parse_units("1e3", 1), None);
        assert_eq!(parse_units("-1.0", 1), None);
        assert_eq!(parse_units("1.", 1), None);
        assert_eq!(parse_units("", 1), None);
        assert_eq!(parse_units("99999999999999999999", 1), None, "overflow");
    }

    #[test]
    fn both_decoders_read_the_same_levels() {
        let fr = frames(200);
        let dec = DepthDecoder::new("BTCUSDT", MarketId(1));
        for f in &fr {
            let (ids, ours) = dec.decode(f).unwrap();
            let theirs: BinanceFuturesOrderBookL2Update = serde_json::from_str(f).unwrap();
            assert_eq!(ids.last, theirs.last_update_id);
            assert_eq!(ids.prev_last, theirs.prev_last_update_id);
            assert_eq!(ours.bids.len(), LEVELS_PER_SIDE);
            for (a, b) in ours
                .bids
                .iter()
                .chain(&ours.asks)
                .zip(theirs.bids.iter().chain(&theirs.asks))
            {
                assert_eq!(rust_decimal::Decimal::new(a.price.0 as i64, 1), b.price);
                assert_eq!(rust_decimal::Decimal::new(a.lots.0 as i64, 3), b.amount);
            }
        }
    }

    #[test]
    fn an_off_grid_price_names_field_and_value() {
        let f = r#"{"e":"depthUpdate","E":1,"T":1,"s":"BTCUSDT","U":1,"u":2,"pu":0,"b":[["1.25","1.000"]],"a":[]}"#;
        let err = DepthDecoder::new("BTCUSDT", MarketId(1))
            .decode(f)
            .unwrap_err();
        assert!(err.0.contains("field b") && err.0.contains("1.25"), "{err}");
    }
}
