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

use std::borrow::Cow;
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
    // Up to 15 characters and 3 decimals make at most 18 digits: no overflow is possible, so
    // the per-digit overflow checks of the general path are skipped.
    if text.len() <= 15 && decimals <= 3 {
        return parse_units_short(text.as_bytes(), decimals);
    }
    parse_units_checked(text, decimals)
}

#[inline]
fn parse_units_short(b: &[u8], decimals: u32) -> Option<u64> {
    const POW10: [u64; 4] = [1, 10, 100, 1000];
    let (mut v, mut int_digits, mut frac_digits, mut scale) = (0u64, 0u32, 0u32, 0u32);
    let mut dot = false;
    for &c in b {
        match c {
            b'0'..=b'9' if !dot => {
                v = v * 10 + u64::from(c - b'0');
                int_digits += 1;
            }
            b'0'..=b'9' => {
                frac_digits += 1;
                if scale < decimals {
                    v = v * 10 + u64::from(c - b'0');
                    scale += 1;
                } else if c != b'0' {
                    return None;
                }
            }
            b'.' if !dot => dot = true,
            _ => return None,
        }
    }
    if int_digits == 0 || (dot && frac_digits == 0) {
        return None;
    }
    Some(v * POW10[(decimals - scale) as usize])
}

fn parse_units_checked(text: &str, decimals: u32) -> Option<u64> {
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

/// The `depthUpdate` record as it is on the wire, borrowing its strings from the frame (the
/// strings are owned only if they contain escapes).
#[derive(Deserialize)]
struct WireDepthUpdate<'a> {
    #[serde(rename = "e", borrow)]
    event_type: Cow<'a, str>,
    #[serde(rename = "E")]
    event_time_ms: u64,
    #[serde(rename = "s", borrow)]
    symbol: Cow<'a, str>,
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

    /// The symbol this decoder accepts.
    pub fn symbol(&self) -> &str {
        &self.symbol
    }

    /// The market its events are for.
    pub fn market(&self) -> MarketId {
        self.market
    }

    /// Decode one frame: the borrowed scanner for the canonical shape, serde for anything else
    /// (escapes, unknown keys, missing fields), so every valid frame decodes and every invalid
    /// one gets serde's error.
    pub fn decode(&self, frame: &str) -> Result<(UpdateIds, BookUpdate), DecodeError> {
        match scan(frame) {
            Some(Ok(w)) => self.finish(w),
            Some(Err(e)) => Err(e),
            None => self.decode_serde(frame),
        }
    }

    /// Decode one frame with serde only (the Kana decoder's technique).
    pub fn decode_serde(&self, frame: &str) -> Result<(UpdateIds, BookUpdate), DecodeError> {
        let w: WireDepthUpdate<'_> =
            serde_json::from_str(frame).map_err(|e| DecodeError(format!("depthUpdate: {e}")))?;
        self.finish(w)
    }

    /// Decode one frame with the same borrowed record as [`DepthDecoder::decode_serde`], but
    /// sonic-rs's SIMD tokenizer in place of serde_json's.
    pub fn decode_sonic(&self, frame: &str) -> Result<(UpdateIds, BookUpdate), DecodeError> {
        let w: WireDepthUpdate<'_> =
            sonic_rs::from_str(frame).map_err(|e| DecodeError(format!("depthUpdate: {e}")))?;
        self.finish(w)
    }

    /// Decode one frame with the same borrowed record, through simd-json's SIMD tokenizer. simd-json
    /// rewrites its input in place, so the frame is copied into `scratch` first (part of its cost);
    /// its tape buffers are reused.
    pub fn decode_simd_json(
        &self,
        frame: &str,
        scratch: &mut Vec<u8>,
        buffers: &mut simd_json::Buffers,
    ) -> Result<(UpdateIds, BookUpdate), DecodeError> {
        scratch.clear();
        scratch.extend_from_slice(frame.as_bytes());
        let w: WireDepthUpdate<'_> = simd_json::serde::from_slice_with_buffers(scratch, buffers)
            .map_err(|e| DecodeError(format!("depthUpdate: {e}")))?;
        self.finish(w)
    }

    fn finish(&self, w: WireDepthUpdate<'_>) -> Result<(UpdateIds, BookUpdate), DecodeError> {
        if w.event_type != "depthUpdate" {
            return Err(DecodeError(format!(
                "field e: {:?} is not depthUpdate",
                w.event_type
            )));
        }
        if *w.symbol != *self.symbol {
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
// Borrowed scanner (fast path)
// ---------------------------------------------------------------------------------------------

/// A cursor over the frame's bytes; every slice it hands out borrows from the frame.
struct Cursor<'a> {
    text: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn ws(&mut self) {
        let b = self.text.as_bytes();
        while self.i < b.len() && matches!(b[self.i], b' ' | b'\n' | b'\r' | b'\t') {
            self.i += 1;
        }
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.text.as_bytes().get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    #[inline]
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.text.as_bytes().get(self.i).copied()
    }

    /// A string without escapes (`None` for one with escapes: the caller falls back to serde).
    #[inline]
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        let b = self.text.as_bytes();
        while self.i < b.len() {
            match b[self.i] {
                b'"' => {
                    self.i += 1;
                    // Both ends are ASCII quotes, so the slice is on char boundaries.
                    return self.text.get(start..self.i - 1);
                }
                b'\\' | 0..=0x1f => return None,
                _ => self.i += 1,
            }
        }
        None
    }

    #[inline]
    fn u64(&mut self) -> Option<u64> {
        self.ws();
        let b = self.text.as_bytes();
        let start = self.i;
        let mut v: u64 = 0;
        while self.i < b.len() && b[self.i].is_ascii_digit() {
            v = v
                .checked_mul(10)?
                .checked_add(u64::from(b[self.i] - b'0'))?;
            self.i += 1;
        }
        (self.i > start).then_some(v)
    }

    /// `[["price","qty"], …]` converted to levels. `None` for any other shape; a value off the
    /// grid is an error naming the field and the value.
    fn levels(&mut self, field: &str) -> Option<Result<Vec<Level>, DecodeError>> {
        self.eat(b'[')?;
        let mut out = Vec::with_capacity(8);
        if self.peek()? == b']' {
            self.i += 1;
            return Some(Ok(out));
        }
        loop {
            self.eat(b'[')?;
            let price = self.string()?;
            self.eat(b',')?;
            let qty = self.string()?;
            self.eat(b']')?;
            let Some(ticks) = parse_units(price, PRICE_DECIMALS) else {
                return Some(Err(DecodeError(format!(
                    "field {field}: price {price:?} is not a multiple of the 0.1 tick"
                ))));
            };
            let Some(lots) = parse_units(qty, SIZE_DECIMALS) else {
                return Some(Err(DecodeError(format!(
                    "field {field}: quantity {qty:?} is not a multiple of the 0.001 lot"
                ))));
            };
            out.push(Level {
                price: Ticks(ticks),
                lots: Lots(lots),
            });
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(Ok(out));
                }
                _ => return None,
            }
        }
    }
}

/// Scan a frame of the canonical `depthUpdate` shape into the same borrowed record serde
/// builds. `None` when the frame is not of that shape (the caller then uses serde).
fn scan(frame: &str) -> Option<Result<WireDepthUpdate<'_>, DecodeError>> {
    let mut c = Cursor { text: frame, i: 0 };
    c.eat(b'{')?;
    let (mut e, mut s) = (None, None);
    let (mut ev_time, mut first, mut last, mut prev) = (None, None, None, None);
    let (mut bids, mut asks) = (None, None);
    loop {
        let key = c.string()?;
        c.eat(b':')?;
        match key {
            "e" => e = Some(c.string()?),
            "s" => s = Some(c.string()?),
            "E" => ev_time = Some(c.u64()?),
            "T" => {
                c.u64()?;
            }
            "U" => first = Some(c.u64()?),
            "u" => last = Some(c.u64()?),
            "pu" => prev = Some(c.u64()?),
            "b" => match c.levels("b")? {
                Ok(l) => bids = Some(l),
                Err(err) => return Some(Err(err)),
            },
            "a" => match c.levels("a")? {
                Ok(l) => asks = Some(l),
                Err(err) => return Some(Err(err)),
            },
            _ => return None,
        }
        match c.peek()? {
            b',' => c.i += 1,
            b'}' => {
                c.i += 1;
                break;
            }
            _ => return None,
        }
    }
    c.ws();
    if c.i != frame.len() {
        return None;
    }
    Some(Ok(WireDepthUpdate {
        event_type: Cow::Borrowed(e?),
        event_time_ms: ev_time?,
        symbol: Cow::Borrowed(s?),
        first: first?,
        last: last?,
        prev_last: prev?,
        bids: WireLevels(bids?),
        asks: WireLevels(asks?),
    }))
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

/// perpbot-style decode of every frame with serde only (the Kana decoder's technique).
pub fn run_perpbot(frames: &[String]) -> Run {
    run_decoder(frames, DepthDecoder::decode_serde)
}

/// perpbot-style decode of every frame through the borrowed scanner (serde as fallback).
pub fn run_perpbot_scan(frames: &[String]) -> Run {
    run_decoder(frames, DepthDecoder::decode)
}

/// The borrowed serde record through sonic-rs.
pub fn run_sonic(frames: &[String]) -> Run {
    run_decoder(frames, DepthDecoder::decode_sonic)
}

/// The borrowed serde record through simd-json (a frame copy and reused tape buffers).
pub fn run_simd_json(frames: &[String]) -> Run {
    let dec = DepthDecoder::new("BTCUSDT", MarketId(1));
    let mut scratch = Vec::with_capacity(512);
    let mut buffers = simd_json::Buffers::default();
    let mut levels = 0;
    let start = Instant::now();
    for f in frames {
        match dec.decode_simd_json(black_box(f), &mut scratch, &mut buffers) {
            Ok((_, u)) => {
                levels += u.bids.len() + u.asks.len();
                black_box(u);
            }
            Err(e) => panic!("simd-json refused a generated frame: {e}"),
        }
    }
    Run {
        elapsed: start.elapsed(),
        levels,
    }
}

/// perpbot's one-pass decoder into one reused [`BookUpdate`] (see [`crate::sbs2_fast`]).
pub fn run_perpbot_fast(frames: &[String]) -> Run {
    let dec = DepthDecoder::new("BTCUSDT", MarketId(1));
    let mut out = crate::sbs2_fast::empty_update(MarketId(1));
    let mut levels = 0;
    let start = Instant::now();
    for f in frames {
        match dec.decode_into(black_box(f), &mut out) {
            Ok(ids) => {
                levels += out.bids.len() + out.asks.len();
                black_box((ids, &out));
            }
            Err(e) => panic!("perpbot decoder refused a generated frame: {e}"),
        }
    }
    Run {
        elapsed: start.elapsed(),
        levels,
    }
}

type DecodeFn = fn(&DepthDecoder, &str) -> Result<(UpdateIds, BookUpdate), DecodeError>;

fn run_decoder(frames: &[String], decode: DecodeFn) -> Run {
    let dec = DepthDecoder::new("BTCUSDT", MarketId(1));
    let mut levels = 0;
    let start = Instant::now();
    for f in frames {
        match decode(&dec, black_box(f)) {
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
        assert_eq!(parse_units("18446744073709551615", 0), Some(u64::MAX));
        assert_eq!(
            parse_units("1844674407370955161.6", 1),
            None,
            "overflow by the scale"
        );
        assert_eq!(parse_units("1.2.3", 1), None);
        assert_eq!(parse_units(".5", 1), None);
        for t in ["0", "7.5", "123456789012.345", "42.100", "0.0010"] {
            let d = 3;
            assert_eq!(
                parse_units_short(t.as_bytes(), d),
                parse_units_checked(t, d),
                "{t}"
            );
        }
    }

    #[test]
    fn both_decoders_read_the_same_levels() {
        let fr = frames(200);
        let dec = DepthDecoder::new("BTCUSDT", MarketId(1));
        for f in &fr {
            let (ids, ours) = dec.decode(f).unwrap();
            assert_eq!(
                dec.decode_serde(f).unwrap(),
                (ids, ours.clone()),
                "scan == serde"
            );
            assert_eq!(
                dec.decode_sonic(f).unwrap(),
                (ids, ours.clone()),
                "sonic-rs"
            );
            let (mut scratch, mut buffers) = (Vec::new(), simd_json::Buffers::default());
            assert_eq!(
                dec.decode_simd_json(f, &mut scratch, &mut buffers).unwrap(),
                (ids, ours.clone()),
                "simd-json"
            );
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
        let dec = DepthDecoder::new("BTCUSDT", MarketId(1));
        for err in [dec.decode(f).unwrap_err(), dec.decode_serde(f).unwrap_err()] {
            assert!(err.0.contains("field b") && err.0.contains("1.25"), "{err}");
        }
    }

    #[test]
    fn frames_off_the_canonical_shape_fall_back_to_serde() {
        let dec = DepthDecoder::new("BTCUSDT", MarketId(1));
        // Whitespace, an escaped string, an extra key, a missing key, trailing garbage.
        let spaced = r#" { "e" : "depthUpdate" , "E":1,"T":1,"s":"BTCUSDT","U":1,"u":2,"pu":0,"b":[ [ "1.0" , "2.000" ] ],"a":[]} "#;
        let escaped = r#"{"e":"depth\u0055pdate","E":1,"T":1,"s":"BTCUSDT","U":1,"u":2,"pu":0,"b":[],"a":[]}"#;
        let extra = r#"{"e":"depthUpdate","E":1,"x":[1,{"y":null}],"s":"BTCUSDT","U":1,"u":2,"pu":0,"b":[],"a":[]}"#;
        let missing = r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[]}"#;
        let trailing =
            r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"pu":0,"b":[],"a":[]} x"#;
        assert_eq!(
            dec.decode(spaced).unwrap().1.bids,
            vec![Level::new(10, 2000)]
        );
        assert!(dec.decode(escaped).is_ok());
        assert!(dec.decode(extra).is_ok());
        assert!(dec.decode(missing).unwrap_err().0.contains("pu"));
        assert!(dec.decode(trailing).is_err());
        for f in [spaced, escaped, extra, missing, trailing] {
            assert_eq!(dec.decode(f), dec.decode_serde(f), "{f}");
        }
    }
}
