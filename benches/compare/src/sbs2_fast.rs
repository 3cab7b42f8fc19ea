//! SBS-2's fastest perpbot decoder: one pass over the frame that tokenizes and converts at once,
//! into a [`BookUpdate`] whose level buffers are reused from frame to frame.
//!
//! Written by hand because no JSON crate does the part that matters here: turning a quoted
//! decimal string straight into exact integer ticks or lots while the tokenizer passes over it.
//! sonic-rs and simd-json (measured as rows of their own) tokenize with SIMD, but then hand each
//! string to serde, which is where most of a 334-byte frame's time goes; see BENCHMARKS.md.
//!
//! The fast path accepts only the canonical shape Binance sends (no whitespace, no escapes,
//! known keys once each, numeric strings on the grid). Anything else — including every invalid
//! frame — goes to [`DepthDecoder::decode`] (the borrowed scanner, then serde), so the errors are
//! exactly that path's, naming the field and the value.

use perpbot::model::{BookUpdate, BookUpdateKind, Level, Lots, MarketId, Ticks, Timestamp};

use crate::sbs2::{DecodeError, DepthDecoder, UpdateIds};

/// Powers of ten for scaling a value with fewer decimals than its unit.
const POW10: [u64; 4] = [1, 10, 100, 1000];

/// An empty update to decode into (its buffers grow once and are reused).
pub fn empty_update(market: MarketId) -> BookUpdate {
    BookUpdate {
        market,
        kind: BookUpdateKind::Delta,
        bids: Vec::with_capacity(16),
        asks: Vec::with_capacity(16),
        ts: Timestamp(0),
    }
}

impl DepthDecoder {
    /// Decode one frame into `out`, reusing its level buffers: the one-pass fast path for the
    /// canonical shape, [`DepthDecoder::decode`] for anything else (same result, same errors).
    pub fn decode_into(&self, frame: &str, out: &mut BookUpdate) -> Result<UpdateIds, DecodeError> {
        out.bids.clear();
        out.asks.clear();
        if let Some((ids, event_ms)) = fast(frame.as_bytes(), self.symbol().as_bytes(), out)
            && let Some(ts) = event_ms.checked_mul(1_000_000)
        {
            out.market = self.market();
            out.kind = BookUpdateKind::Delta;
            out.ts = Timestamp(ts);
            return Ok(ids);
        }
        out.bids.clear();
        out.asks.clear();
        let (ids, update) = self.decode(frame)?;
        out.bids.extend_from_slice(&update.bids);
        out.asks.extend_from_slice(&update.asks);
        out.market = update.market;
        out.kind = update.kind;
        out.ts = update.ts;
        Ok(ids)
    }
}

/// A byte cursor. Every read is checked (`get`): a frame that ends early is `None`, never a
/// panic.
struct Bytes<'a> {
    b: &'a [u8],
    i: usize,
}

impl Bytes<'_> {
    #[inline(always)]
    fn next(&mut self) -> Option<u8> {
        let c = *self.b.get(self.i)?;
        self.i += 1;
        Some(c)
    }

    #[inline(always)]
    fn expect(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    /// `literal` followed by a closing quote (the opening one already read).
    #[inline(always)]
    fn expect_string(&mut self, literal: &[u8]) -> Option<()> {
        let end = self.i + literal.len();
        if self.b.get(self.i..end)? != literal || *self.b.get(end)? != b'"' {
            return None;
        }
        self.i = end + 1;
        Some(())
    }

    /// An unsigned JSON integer of at most 19 digits (so no overflow is possible).
    #[inline(always)]
    fn integer(&mut self) -> Option<u64> {
        let start = self.i;
        let mut v = 0u64;
        while let Some(&c) = self.b.get(self.i) {
            let d = c.wrapping_sub(b'0');
            if d >= 10 {
                break;
            }
            v = v * 10 + u64::from(d);
            self.i += 1;
        }
        let len = self.i - start;
        (len > 0 && len <= 19).then_some(v)
    }

    /// A quoted decimal (opening quote already read) as an exact count of `10^-D` units,
    /// reading through the closing quote. `None` off the grid, for more than 15 integer digits
    /// (so at most 18 digits: no overflow), or for anything but digits and one dot.
    #[inline(always)]
    fn units<const D: u32>(&mut self) -> Option<u64> {
        let start = self.i;
        let mut v = 0u64;
        let mut c = self.next()?;
        while c.wrapping_sub(b'0') < 10 {
            v = v * 10 + u64::from(c - b'0');
            c = self.next()?;
        }
        let int_digits = self.i - 1 - start;
        if int_digits == 0 || int_digits > 15 {
            return None;
        }
        let mut scale = 0u32;
        if c == b'.' {
            let frac_start = self.i;
            c = self.next()?;
            while c.wrapping_sub(b'0') < 10 {
                if scale < D {
                    v = v * 10 + u64::from(c - b'0');
                    scale += 1;
                } else if c != b'0' {
                    return None;
                }
                c = self.next()?;
            }
            if self.i - 1 == frac_start {
                return None;
            }
        }
        if c != b'"' {
            return None;
        }
        Some(v * POW10[(D - scale) as usize])
    }

    /// `[["price","qty"],…]` into `out` (ticks of 0.1, lots of 0.001).
    #[inline(always)]
    fn levels(&mut self, out: &mut Vec<Level>) -> Option<()> {
        self.expect(b'[')?;
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
            return Some(());
        }
        loop {
            self.expect(b'[')?;
            self.expect(b'"')?;
            let price = self.units::<1>()?;
            self.expect(b',')?;
            self.expect(b'"')?;
            let lots = self.units::<3>()?;
            self.expect(b']')?;
            out.push(Level {
                price: Ticks(price),
                lots: Lots(lots),
            });
            match self.next()? {
                b',' => {}
                b']' => return Some(()),
                _ => return None,
            }
        }
    }
}

/// The fast path: `Some((ids, event time in ms))` for a canonical frame of `symbol`, the levels
/// pushed onto `out`; `None` for anything else (the caller clears `out` and takes the careful
/// path).
fn fast(b: &[u8], symbol: &[u8], out: &mut BookUpdate) -> Option<(UpdateIds, u64)> {
    const E: u16 = 1;
    const EV: u16 = 1 << 1;
    const S: u16 = 1 << 2;
    const FIRST: u16 = 1 << 3;
    const LAST: u16 = 1 << 4;
    const PREV: u16 = 1 << 5;
    const BIDS: u16 = 1 << 6;
    const ASKS: u16 = 1 << 7;
    const T: u16 = 1 << 8;
    const REQUIRED: u16 = E | EV | S | FIRST | LAST | PREV | BIDS | ASKS;
    let mut c = Bytes { b, i: 0 };
    c.expect(b'{')?;
    let mut seen = 0u16;
    let (mut ev, mut first, mut last, mut prev) = (0, 0, 0, 0);
    loop {
        c.expect(b'"')?;
        // Keys are one or two letters.
        let k0 = c.next()?;
        let k1 = c.next()?;
        let key = if k1 == b'"' {
            u16::from(k0)
        } else {
            c.expect(b'"')?;
            u16::from(k0) << 8 | u16::from(k1)
        };
        c.expect(b':')?;
        let bit = match key {
            0x65 /* e */ => {
                c.expect(b'"')?;
                c.expect_string(b"depthUpdate")?;
                E
            }
            0x45 /* E */ => {
                ev = c.integer()?;
                EV
            }
            0x54 /* T */ => {
                c.integer()?;
                T
            }
            0x73 /* s */ => {
                c.expect(b'"')?;
                c.expect_string(symbol)?;
                S
            }
            0x55 /* U */ => {
                first = c.integer()?;
                FIRST
            }
            0x75 /* u */ => {
                last = c.integer()?;
                LAST
            }
            0x7075 /* pu */ => {
                prev = c.integer()?;
                PREV
            }
            0x62 /* b */ => {
                c.levels(&mut out.bids)?;
                BIDS
            }
            0x61 /* a */ => {
                c.levels(&mut out.asks)?;
                ASKS
            }
            _ => return None,
        };
        if seen & bit != 0 {
            return None;
        }
        seen |= bit;
        match c.next()? {
            b',' => {}
            b'}' => break,
            _ => return None,
        }
    }
    if c.i != b.len() || seen & REQUIRED != REQUIRED {
        return None;
    }
    Some((
        UpdateIds {
            first,
            last,
            prev_last: prev,
        },
        ev,
    ))
}

/// What a differential fuzz run found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FuzzReport {
    /// Inputs decoded.
    pub executions: u64,
    /// Inputs both paths accepted.
    pub accepted: u64,
    /// Inputs both paths refused.
    pub refused: u64,
    /// Inputs on which the fast path and the careful path disagreed.
    pub mismatches: u64,
    /// Inputs on which either path panicked.
    pub panics: u64,
}

/// A seeded differential fuzzer (hand-written: libFuzzer cannot link the compare crate's
/// dependencies cheaply, and what must hold here is an equality, not just "no panic"). Each
/// input is a generated frame with one to four mutations: a byte replaced by a JSON-significant
/// one, a digit changed, a range deleted or duplicated, a cut, a multi-byte character inserted.
/// Every input goes through [`DepthDecoder::decode_into`] and [`DepthDecoder::decode`]; the two
/// must agree exactly (levels, ids, time, error text) and neither may panic.
pub fn fuzz(executions: u64, seed: u64) -> FuzzReport {
    const SIGNIFICANT: &[u8] = b"\"\\,:[]{}.-+eE0123456789 \tnul";
    let dec = DepthDecoder::new("BTCUSDT", MarketId(1));
    let corpus = crate::sbs2::frames(1_000);
    let mut next = xorshift(seed);
    let mut report = FuzzReport::default();
    let mut out = empty_update(MarketId(1));
    let mut input = String::with_capacity(1024);
    for _ in 0..executions {
        input.clear();
        input.push_str(&corpus[(next() % corpus.len() as u64) as usize]);
        for _ in 0..1 + next() % 4 {
            mutate(&mut input, &mut next, SIGNIFICANT);
        }
        report.executions += 1;
        let both = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let fast = dec
                .decode_into(&input, &mut out)
                .map(|ids| (ids, out.clone()));
            (fast, dec.decode(&input))
        }));
        match both {
            Err(_) => report.panics += 1,
            Ok((fast, careful)) if fast != careful => {
                report.mismatches += 1;
                if report.mismatches <= 3 {
                    eprintln!("mismatch on {input:?}:\n  fast    {fast:?}\n  careful {careful:?}");
                }
            }
            Ok((Ok(_), _)) => report.accepted += 1,
            Ok((Err(_), _)) => report.refused += 1,
        }
    }
    report
}

/// A seeded xorshift64* generator (the fuzzers' and generators' randomness; not for anything
/// that needs real randomness).
pub(crate) fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut rng = seed | 1;
    move || {
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// One mutation of an ASCII frame (positions are char boundaries until a multi-byte character
/// is inserted; after that, positions are moved back to the nearest boundary).
pub(crate) fn mutate(s: &mut String, next: &mut impl FnMut() -> u64, significant: &[u8]) {
    let boundary = |s: &String, mut i: usize| {
        i = i.min(s.len());
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    if s.is_empty() {
        s.push('{');
        return;
    }
    let at = boundary(s, (next() % s.len() as u64) as usize);
    let len = 1 + (next() % 8) as usize;
    let end = boundary(s, at + len);
    match next() % 7 {
        0 | 1 => {
            // A digit changed: most inputs stay well-formed and exercise the numeric paths.
            let digit = char::from(b'0' + (next() % 10) as u8);
            if let Some(pos) = s[at..].find(|c: char| c.is_ascii_digit()) {
                s.replace_range(at + pos..at + pos + 1, digit.encode_utf8(&mut [0; 4]));
            }
        }
        2 => {
            let c = char::from(significant[(next() % significant.len() as u64) as usize]);
            if let Some(old) = s[at..].chars().next() {
                s.replace_range(at..at + old.len_utf8(), c.encode_utf8(&mut [0; 4]));
            }
        }
        3 => s.replace_range(at..end, ""),
        4 => {
            let piece = s[at..end].to_string();
            s.insert_str(at, &piece);
        }
        5 => s.truncate(at),
        _ => s.insert_str(
            at,
            if next().is_multiple_of(2) {
                "é"
            } else {
                r"\u0041"
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sbs2::frames;

    type Decoded = Result<(UpdateIds, BookUpdate), DecodeError>;

    /// The fast path's answer (into a reused update) and the careful path's.
    fn both(dec: &DepthDecoder, f: &str) -> (Decoded, Decoded) {
        let mut out = empty_update(MarketId(9));
        let fast = dec.decode_into(f, &mut out).map(|ids| (ids, out.clone()));
        (fast, dec.decode(f))
    }

    #[test]
    fn the_fast_path_reads_what_the_careful_path_reads() {
        let dec = DepthDecoder::new("BTCUSDT", MarketId(1));
        let mut out = empty_update(MarketId(1));
        for f in frames(500) {
            let ids = dec.decode_into(&f, &mut out).unwrap();
            assert!(
                fast(f.as_bytes(), b"BTCUSDT", &mut empty_update(MarketId(1))).is_some(),
                "{f}"
            );
            assert_eq!(Ok((ids, out.clone())), dec.decode(&f));
        }
    }

    #[test]
    fn frames_off_the_canonical_shape_get_the_careful_paths_answer() {
        let dec = DepthDecoder::new("BTCUSDT", MarketId(1));
        let base = r#"{"e":"depthUpdate","E":1,"T":1,"s":"BTCUSDT","U":1,"u":2,"pu":0,"b":[["1.0","2.000"]],"a":[]}"#;
        let cases = [
            base.to_string(),
            base.replace(r#""1.0""#, r#""1.25""#), // off the tick grid
            base.replace(r#""2.000""#, r#""2.0005""#), // off the lot grid
            base.replace(r#""1.0""#, r#""1.""#),   // no fraction digits
            base.replace(r#""1.0""#, r#""1e1""#),  // exponent
            base.replace(r#""1.0""#, r#""-1.0""#), // negative
            base.replace("BTCUSDT", "ETHUSDT"),    // another symbol
            base.replace("depthUpdate", "depthUpdatex"), // another event
            base.replace(r#""pu":0,"#, ""),        // missing key
            base.replace(r#""T":1,"#, r#""T":1,"T":1,"#), // duplicate key
            base.replace(r#""T":1,"#, r#""x":[1],"#), // unknown key
            base.replace(r#""E":1"#, r#""E":99999999999999999999"#), // overflows u64
            base.replace(r#""E":1"#, r#""E":18446744073709551"#), // ms overflow as ns
            base.replace("[[", "[ ["),             // whitespace
            format!("{base} "),                    // trailing whitespace
            format!("{base}x"),                    // trailing garbage
            base[..base.len() - 3].to_string(),    // cut short
            base.replace(r#""1.0""#, r#""123456789012345678.0""#), // too many digits
            String::new(),
        ];
        for f in &cases {
            let (fast, careful) = both(&dec, f);
            assert_eq!(fast, careful, "{f}");
        }
        let (fast, _) = both(&dec, &cases[1]);
        assert!(fast.unwrap_err().0.contains("1.25"));
    }

    #[test]
    fn a_short_fuzz_run_finds_no_mismatch_and_meets_both_outcomes() {
        let r = fuzz(20_000, 7);
        assert_eq!((r.mismatches, r.panics), (0, 0), "{r:?}");
        assert!(r.accepted > 1_000 && r.refused > 1_000, "{r:?}");
    }

    #[test]
    fn buffers_are_reused_and_a_failed_frame_leaves_no_levels() {
        let dec = DepthDecoder::new("BTCUSDT", MarketId(1));
        let fr = frames(3);
        let mut out = empty_update(MarketId(1));
        dec.decode_into(&fr[0], &mut out).unwrap();
        let ptr = out.bids.as_ptr();
        dec.decode_into(&fr[1], &mut out).unwrap();
        assert_eq!(out.bids.as_ptr(), ptr, "no new allocation");
        let bad = fr[2].replacen("\"b\":[[\"", "\"b\":[[\"x", 1);
        assert!(dec.decode_into(&bad, &mut out).is_err());
        assert!(out.bids.is_empty() && out.asks.is_empty());
    }
}
