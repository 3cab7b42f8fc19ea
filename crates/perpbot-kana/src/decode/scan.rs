//! The borrowed scanner behind the `orderbook` fast path: levels read straight from the frame's
//! bytes, no per-level allocation.

#[allow(unused_imports)]
use super::*;

/// Where a value sits in the frame: the content of a JSON string without escapes, or a number
/// literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Span {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) string: bool,
}

/// The value of eight ASCII digits at the start of `bytes` (the first the most significant);
/// `None` when fewer than eight bytes remain or any of them is not a digit. Converts all eight
/// with three multiplications (pairs, then fours, then the eight) instead of eight steps.
pub(super) fn eight_digits(bytes: &[u8]) -> Option<u64> {
    let chunk: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    let x = u64::from_le_bytes(chunk);
    // A byte is a digit when its high nibble is 3 and adding 6 leaves it 3 (0x30..=0x39).
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    let nibbles = (x & HIGH) | ((x.wrapping_add(0x0606_0606_0606_0606) & HIGH) >> 4);
    if nibbles != 0x3333_3333_3333_3333 {
        return None;
    }
    let mut v = x & 0x0F0F_0F0F_0F0F_0F0F;
    v = (v.wrapping_mul(10).wrapping_add(v >> 8)) & 0x00FF_00FF_00FF_00FF;
    v = (v.wrapping_mul(100).wrapping_add(v >> 16)) & 0x0000_FFFF_0000_FFFF;
    v = (v.wrapping_mul(10_000).wrapping_add(v >> 32)) & 0xFFFF_FFFF;
    Some(v)
}

/// A plain decimal read by [`Scanner::plain_quoted`]: `mantissa / 10^scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PlainDecimal {
    pub(super) mantissa: u64,
    pub(super) scale: u32,
    /// Written with a decimal point (an integer in raw units must not be).
    pub(super) point: bool,
}

/// One orderbook level read and converted by [`Scanner::level_sent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SentLevel {
    pub(super) is_ask: bool,
    pub(super) last_updated: Option<u64>,
    pub(super) market_id: u64,
    pub(super) price: PlainDecimal,
    pub(super) size: PlainDecimal,
}

/// Where [`Scanner::market_quoted`] last read a market id (its digits and closing quote) and
/// the id they spell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct QuotedId {
    start: usize,
    len: usize,
    id: u64,
}

/// One orderbook level as located by [`Scanner::level`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RawLevel {
    pub(super) is_ask: bool,
    pub(super) price: Span,
    pub(super) size: Span,
    pub(super) market_id: Span,
    pub(super) last_updated: Option<Span>,
}

/// Length of the string content at the start of `rest`: bytes up to the first `"`, `\\` or
/// control character (which of them it is, the caller checks). Eight bytes at a time.
pub(super) fn string_len(rest: &[u8]) -> Option<usize> {
    pub(super) const ONES: u64 = 0x0101_0101_0101_0101;
    pub(super) const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while let Some(chunk) = rest.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        // A high bit set in each byte that is zero after the xor (equal to `"` or `\\`) or
        // below 0x20; bits above the lowest may be spurious, the lowest never is.
        let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
        let hits = zero(x ^ (ONES * u64::from(b'"')))
            | zero(x ^ (ONES * u64::from(b'\\')))
            | (x.wrapping_sub(ONES * 0x20) & !x & HIGH);
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    rest.get(i..)?
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|n| i + n)
}

/// The number of ASCII digits at the start of `bytes`, each appended to `m` (`m · 10 + d`).
/// Wraps past 19 digits; callers refuse such runs by their length. Only digits are tested in
/// the loop: what ended the run (a point, a quote) is the caller's to look at, once.
fn digit_run(bytes: &[u8], m: &mut u64) -> usize {
    let mut n = 0;
    for &c in bytes {
        let digit = c.wrapping_sub(b'0');
        if digit >= 10 {
            break;
        }
        *m = m.wrapping_mul(10).wrapping_add(u64::from(digit));
        n += 1;
    }
    n
}

/// Whether `bytes[a..a + len]` and `bytes[b..b + len]` exist and are equal. Short texts (a
/// market id) are compared as one masked word when eight bytes can be read at both places,
/// instead of a call to `memcmp`.
fn same_text(bytes: &[u8], a: usize, b: usize, len: usize) -> bool {
    let word = |at: usize| -> Option<u64> {
        let chunk: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
        Some(u64::from_le_bytes(chunk))
    };
    if (1..=8).contains(&len)
        && let (Some(x), Some(y)) = (word(a), word(b))
    {
        let mask = u64::MAX >> (64 - 8 * len as u32);
        return (x ^ y) & mask == 0;
    }
    let text = |at: usize| bytes.get(at..at + len);
    text(a).is_some() && text(a) == text(b)
}

/// A byte cursor over a frame for [`scan_orderbook`]. Every method returns `None` (or `false`)
/// at the first byte it does not expect.
pub(super) struct Scanner<'a> {
    pub(super) b: &'a [u8],
    pub(super) i: usize,
}

impl Scanner<'_> {
    pub(super) fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Skip whitespace, then consume `c`.
    pub(super) fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// Skip whitespace, then consume `word` if it is next.
    pub(super) fn word(&mut self, word: &[u8]) -> bool {
        self.ws();
        let found = self.b.get(self.i..self.i + word.len()) == Some(word);
        if found {
            self.i += word.len();
        }
        found
    }

    /// A string without escapes or control characters.
    pub(super) fn string(&mut self) -> Option<Span> {
        self.eat(b'"')?;
        let start = self.i;
        let end = start + string_len(self.b.get(start..)?)?;
        if self.b.get(end) != Some(&b'"') {
            return None;
        }
        self.i = end + 1;
        Some(Span {
            start,
            end,
            string: true,
        })
    }

    pub(super) fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
    }

    /// A number literal, by the JSON grammar.
    pub(super) fn number(&mut self) -> Option<Span> {
        self.ws();
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        Some(Span {
            start,
            end: self.i,
            string: false,
        })
    }

    /// A string or a number.
    pub(super) fn num(&mut self) -> Option<Span> {
        self.ws();
        match self.peek()? {
            b'"' => self.string(),
            _ => self.number(),
        }
    }

    /// Skip the scalar value of a key the level does not use (objects and arrays: `None`).
    pub(super) fn skip_scalar(&mut self) -> Option<()> {
        self.ws();
        let ok = match self.peek()? {
            b'"' => self.string().is_some(),
            b't' => self.word(b"true"),
            b'f' => self.word(b"false"),
            b'n' => self.word(b"null"),
            _ => self.number().is_some(),
        };
        ok.then_some(())
    }

    /// After a member: `,` (more follow, `true`) or `close` (done, `false`).
    pub(super) fn next_member(&mut self, close: u8) -> Option<bool> {
        self.ws();
        let c = self.peek()?;
        self.i += 1;
        match c {
            b',' => Some(true),
            c if c == close => Some(false),
            _ => None,
        }
    }

    /// Consume `bytes` if they come next, exactly.
    pub(super) fn exact(&mut self, bytes: &[u8]) -> Option<()> {
        let found = self.b.get(self.i..self.i + bytes.len()) == Some(bytes);
        found.then(|| self.i += bytes.len())
    }

    /// The rest of a level (after `{`) laid out exactly as Kana sends it — the five keys in
    /// alphabetical order, no other key, no whitespace between members — read without looking
    /// keys up. `None` (the caller then rewinds and reads the record generically) for any other
    /// layout; what it accepts, [`Scanner::level`] would read to the same values.
    pub(super) fn level_as_sent(&mut self) -> Option<RawLevel> {
        let is_ask = if self.exact(br#""is_ask":true,"last_updated":"#).is_some() {
            true
        } else {
            self.exact(br#""is_ask":false,"last_updated":"#)?;
            false
        };
        let last_updated = if self.exact(b"null").is_some() {
            None
        } else {
            Some(self.num()?)
        };
        self.exact(br#","market_id":"#)?;
        let market_id = self.num()?;
        self.exact(br#","price":"#)?;
        let price = self.num()?;
        self.exact(br#","size":"#)?;
        let size = self.num()?;
        self.exact(b"}")?;
        Some(RawLevel {
            is_ask,
            price,
            size,
            market_id,
            last_updated,
        })
    }

    /// An object whose values are all scalars (strings without escapes, numbers, booleans,
    /// `null`), the shape of every history record Kana sends; `None` for anything else.
    pub(super) fn flat_object(&mut self) -> Option<()> {
        self.eat(b'{')?;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            self.string()?;
            self.eat(b':')?;
            self.skip_scalar()?;
            if !self.next_member(b'}')? {
                return Some(());
            }
        }
    }

    /// The digits of a plain decimal up to and including the closing quote of its string
    /// (`5.523"`), converted as they are read: digits with at most one point, at least one
    /// digit before it and one after, at most 19 digits in all — a subset of what
    /// [`plain_decimal`] accepts, read to the same value. `None` for anything else.
    fn plain_quoted(&mut self) -> Option<PlainDecimal> {
        let rest = self.b.get(self.i..)?;
        let mut m = 0u64;
        let int_digits = digit_run(rest, &mut m);
        let (point, scale) = if rest.get(int_digits) == Some(&b'.') {
            (true, digit_run(rest.get(int_digits + 1..)?, &mut m))
        } else {
            (false, 0)
        };
        let end = int_digits + usize::from(point) + scale;
        if rest.get(end) != Some(&b'"') {
            return None;
        }
        self.i += end + 1;
        // Up to 19 digits always fit `u64`; longer numbers go to the careful readers, which
        // take those that fit.
        let fits = int_digits + scale <= 19;
        (fits && int_digits > 0 && (!point || scale > 0)).then_some(PlainDecimal {
            mantissa: m,
            scale: scale as u32,
            point,
        })
    }

    /// A JSON number that is a plain unsigned integer of at most 19 digits (no sign, fraction
    /// or exponent; no leading zero), read and converted at once; `None` for anything else.
    fn bare_u64(&mut self) -> Option<u64> {
        let start = self.i;
        let mut v = 0u64;
        // Eight digits at once when there are (a timestamp in seconds has ten).
        if let Some(eight) = self.b.get(self.i..).and_then(eight_digits) {
            v = eight;
            self.i += 8;
        }
        // Wraps only past 19 digits, which are refused below.
        self.i += digit_run(self.b.get(self.i..)?, &mut v);
        let digits = self.i - start;
        let leading_zero = digits > 1 && self.b.get(start) == Some(&b'0');
        let continues = matches!(self.peek(), Some(b'.' | b'e' | b'E'));
        (digits > 0 && digits <= 19 && !leading_zero && !continues).then_some(v)
    }

    /// A market id's digits and closing quote (`1338"`), as [`Scanner::plain_quoted`] reads them
    /// with no point. A push names one market, so the text is first compared with the previous
    /// level's (`last`) and converted only when it differs; equal text is the same id.
    fn market_quoted(&mut self, last: &mut Option<QuotedId>) -> Option<u64> {
        if let Some(prev) = *last
            && same_text(self.b, prev.start, self.i, prev.len)
        {
            self.i += prev.len;
            return Some(prev.id);
        }
        let start = self.i;
        let market = self.plain_quoted()?;
        if market.point {
            return None;
        }
        *last = Some(QuotedId {
            start,
            len: self.i - start,
            id: market.mantissa,
        });
        Some(market.mantissa)
    }

    /// The rest of a level (after `{`) exactly as Kana sends it — [`Scanner::level_as_sent`]'s
    /// layout with the market id, price and size as strings and the time as a number or `null`
    /// — read and converted in the same pass, with no text kept. `None` for anything else (the
    /// caller rewinds and reads the level by [`Scanner::level`]).
    pub(super) fn level_sent(&mut self, last_market: &mut Option<QuotedId>) -> Option<SentLevel> {
        self.exact(br#""is_ask":"#)?;
        let is_ask = if self.exact(b"true").is_some() {
            true
        } else {
            self.exact(b"false")?;
            false
        };
        self.exact(br#","last_updated":"#)?;
        let last_updated = if self.exact(b"null").is_some() {
            None
        } else {
            Some(self.bare_u64()?)
        };
        self.exact(br#","market_id":""#)?;
        let market_id = self.market_quoted(last_market)?;
        self.exact(br#","price":""#)?;
        let price = self.plain_quoted()?;
        self.exact(br#","size":""#)?;
        let size = self.plain_quoted()?;
        self.exact(b"}")?;
        Some(SentLevel {
            is_ask,
            last_updated,
            market_id,
            price,
            size,
        })
    }

    /// One level record: the fields [`WireLevel`] reads, each once, in any order; other keys
    /// only with scalar values.
    pub(super) fn level(&mut self, frame: &str) -> Option<RawLevel> {
        self.eat(b'{')?;
        let start = self.i;
        if let Some(level) = self.level_as_sent() {
            return Some(level);
        }
        self.i = start;
        let mut is_ask = None;
        let (mut price, mut size, mut market_id) = (None, None, None);
        let mut last_updated: Option<Option<Span>> = None;
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            match frame.get(key.start..key.end)? {
                "is_ask" if is_ask.is_none() => {
                    is_ask = Some(if self.word(b"true") {
                        true
                    } else if self.word(b"false") {
                        false
                    } else {
                        return None;
                    });
                }
                "price" if price.is_none() => price = Some(self.num()?),
                "size" if size.is_none() => size = Some(self.num()?),
                "market_id" if market_id.is_none() => market_id = Some(self.num()?),
                "last_updated" if last_updated.is_none() => {
                    last_updated = Some(if self.word(b"null") {
                        None
                    } else {
                        Some(self.num()?)
                    });
                }
                "is_ask" | "price" | "size" | "market_id" | "last_updated" => return None,
                _ => self.skip_scalar()?,
            }
            if !self.next_member(b'}')? {
                break;
            }
        }
        Some(RawLevel {
            is_ask: is_ask?,
            price: price?,
            size: size?,
            market_id: market_id?,
            last_updated: last_updated.flatten(),
        })
    }
}

/// Decode an `orderbook` push of the common shape — `{"data": [levels], "message":
/// "orderbook"}` (either order) whose levels hold strings without escapes, numbers, booleans
/// and `null` only — in one pass over the bytes, each level converted as soon as it is read
/// ([`FrameDecoding::orderbook_level_fast`]: the fast conversions
/// [`FrameDecoding::orderbook_level`] tries first, and the same snapshot building). `None` for
/// anything else (other topics, escapes, nesting, duplicate or missing fields, invalid JSON) and
/// for a value the fast conversions do not take: the caller then throws away what was emitted
/// and the serde path decides, and words any error. On `Some`, the serde path would have produced exactly the same events (tests
/// compare the two on samples, edge cases and thousands of damaged frames).
pub(super) fn scan_orderbook<'d>(frame: &str, fr: &mut FrameDecoding<'d>) -> Option<()> {
    let mut sc = Scanner {
        b: frame.as_bytes(),
        i: 0,
    };
    sc.eat(b'{')?;
    let (mut data, mut message) = (false, false);
    let mut market = None;
    let mut sent_market = None;
    let mut quoted_market = None;
    loop {
        let key = sc.string()?;
        sc.eat(b':')?;
        match frame.get(key.start..key.end)? {
            "data" if !data => {
                data = true;
                sc.eat(b'[')?;
                sc.ws();
                if sc.peek()? == b']' {
                    sc.i += 1;
                } else {
                    loop {
                        sc.ws();
                        let at = sc.i;
                        let sent = sc
                            .eat(b'{')
                            .and_then(|()| sc.level_sent(&mut quoted_market));
                        if let Some(level) = sent {
                            fr.orderbook_level_sent(level, &mut sent_market)?;
                        } else {
                            sc.i = at;
                            let level = sc.level(frame)?;
                            fr.orderbook_level_fast(frame, level, &mut market)?;
                        }
                        if !sc.next_member(b']')? {
                            break;
                        }
                    }
                }
            }
            "message" if !message => {
                message = true;
                let topic = sc.string()?;
                if frame.get(topic.start..topic.end)? != "orderbook" {
                    return None;
                }
            }
            _ => return None,
        }
        if !sc.next_member(b'}')? {
            break;
        }
    }
    sc.ws();
    (data && message && sc.i == sc.b.len()).then_some(())
}

/// The records of a history push laid out as Kana sends it — exactly `{"data":[…],"message":
/// "trade_history"}` or `"live_trade_history"`, the records flat objects ([`Scanner::
/// flat_object`]) — each as the span of its text, in `records` (cleared first), and the push's
/// topic. `None` for any other frame (other topics, another key order, extra keys, nesting,
/// escapes, invalid JSON): the careful path reads those. Read once, byte by byte, instead of
/// serde's two passes (the envelope, then the records), which cost most of such a push.
pub(super) fn scan_history(frame: &str, records: &mut Vec<Span>) -> Option<Topic> {
    records.clear();
    let body = frame.strip_prefix(r#"{"data":"#)?;
    let (topic, data) = [
        (Topic::TradeHistory, r#","message":"trade_history"}"#),
        (
            Topic::LiveTradeHistory,
            r#","message":"live_trade_history"}"#,
        ),
    ]
    .into_iter()
    .find_map(|(topic, suffix)| Some((topic, body.strip_suffix(suffix)?)))?;
    let offset = frame.len() - body.len();
    let mut sc = Scanner {
        b: data.as_bytes(),
        i: 0,
    };
    sc.eat(b'[')?;
    sc.ws();
    if sc.peek()? == b']' {
        sc.i += 1;
    } else {
        loop {
            sc.ws();
            let start = sc.i;
            sc.flat_object()?;
            records.push(Span {
                start: offset + start,
                end: offset + sc.i,
                string: false,
            });
            if !sc.next_member(b']')? {
                break;
            }
        }
    }
    sc.ws();
    (sc.i == sc.b.len()).then_some(topic)
}
