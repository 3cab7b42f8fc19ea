//! Sides and directions from Kana's codes, fill and trade identities for de-duplication, and
//! exact conversions of human decimals to lots and ticks on each market's grid.

#[allow(unused_imports)]
use super::*;
use foldhash::HashMap;

/// The hypothesis of reference §8.1 \[INF\]: odd codes act on the long side, even on the short
/// side; 1–4 open or increase, 5–8 decrease or close. Only parity and codes 1/2/4/7 have direct
/// support. Codes 0 and ≥ 9 are unknown.
pub fn order_type_meaning(code: u64) -> Option<(PositionSide, Direction)> {
    match code {
        1 | 3 => Some((PositionSide::Long, Direction::Open)),
        2 | 4 => Some((PositionSide::Short, Direction::Open)),
        5 | 7 => Some((PositionSide::Long, Direction::Close)),
        6 | 8 => Some((PositionSide::Short, Direction::Close)),
        _ => None,
    }
}

/// Book side of an order acting on `position` in `direction`: buy to open a long or close a short.
pub fn book_side(position: PositionSide, direction: Direction) -> Side {
    match (position, direction) {
        (PositionSide::Long, Direction::Open) | (PositionSide::Short, Direction::Close) => {
            Side::Buy
        }
        (PositionSide::Long, Direction::Close) | (PositionSide::Short, Direction::Open) => {
            Side::Sell
        }
    }
}

/// Side and direction from `order_type`, with an explicit `trade_side`/`is_long` flag taking
/// precedence for the position side (\[INF\]: an explicit field beats the parity hypothesis). For
/// an unknown code with a side flag, the direction is taken as `Close` (\[INF\]: codes ≥ 9 are
/// plausibly TP/SL/liquidation executions, all of which close).
pub(super) fn side_and_direction(code: u64, is_long: Option<bool>) -> Option<(Side, Direction)> {
    let flag = is_long.map(|l| {
        if l {
            PositionSide::Long
        } else {
            PositionSide::Short
        }
    });
    let (position, direction) = match (order_type_meaning(code), flag) {
        (Some((parity, dir)), flag) => (flag.unwrap_or(parity), dir),
        (None, Some(flag)) => (flag, Direction::Close),
        (None, None) => return None,
    };
    Some((book_side(position, direction), direction))
}

/// A fill's identity for deduplication. \[INF\]: Kana's `trade_id` looks like a *position* key
/// (the G2 samples give the position, its opening fill and a later order that added to it the same
/// `trade_id`), so it alone would drop a second fill of the same position. The key adds the order
/// id, the transaction version, the time, the order type and the size (and the price, for a
/// fill without an order id). The same fill can come twice — pushed, then read over REST by the
/// resync's missed-fills read — and must count once: counted twice, it "fills" an order still
/// resting, which the bot then never cancels. So the price is left out when the order id is
/// there (sources format it differently), and a record without a version matches one with any
/// version (REST may not send it \[INF\]): two sentinel versions mark "seen without a version"
/// and "seen with some version".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct FillKey {
    pub(super) trade_id: u128,
    pub(super) order_id: u128,
    pub(super) version: u64,
    pub(super) ts_secs: u64,
    pub(super) order_type: u64,
    pub(super) lots: u64,
    pub(super) price: u64,
}

/// A public trade's identity: both counterparties' records share it (§7.4 `recent_trades`).
/// \[INF\]: without `transaction_version`, the second stands in, so two equal trades in one second
/// would merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct TradeKey {
    pub(super) market: u64,
    pub(super) version: u64,
    pub(super) ts_secs: u64,
    pub(super) price: u64,
    pub(super) lots: u64,
}

impl FillKey {
    /// The version of a record that carries none (and of "seen without a version").
    pub(super) const NO_VERSION: u64 = 0;
    /// Marks "seen with some version" (no real transaction version gets this high).
    pub(super) const SOME_VERSION: u64 = u64::MAX;

    pub(super) fn with_version(self, version: u64) -> FillKey {
        FillKey { version, ..self }
    }

    /// The fill's id for the rest of the bot ([`TradeId`], the engine's dedupe key): the first
    /// 128 bits of SHA3-256 over the key's fields, so it is stable across reconnects and restarts.
    pub(super) fn id(&self) -> u128 {
        use sha3::{Digest, Sha3_256};
        let mut h = Sha3_256::new();
        h.update(self.trade_id.to_le_bytes());
        h.update(self.order_id.to_le_bytes());
        h.update(self.version.to_le_bytes());
        h.update(self.ts_secs.to_le_bytes());
        h.update(self.order_type.to_le_bytes());
        h.update(self.lots.to_le_bytes());
        h.update(self.price.to_le_bytes());
        let digest = h.finalize();
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        u128::from_le_bytes(first)
    }
}

/// The book side of the order that closes a position of `side`.
pub(super) fn close_side(side: PositionSide) -> Side {
    match side {
        PositionSide::Long => Side::Sell,
        PositionSide::Short => Side::Buy,
    }
}

/// Positions' sides by Kana `trade_id` (the position key, §4.4.2), bounded: the oldest is
/// forgotten first. Kept after a position closes, because the fill that closed it may be read
/// after the `positions` push that no longer lists it.
#[derive(Debug, Default)]
pub(super) struct PositionSides {
    sides: HashMap<u128, PositionSide>,
    order: std::collections::VecDeque<u128>,
}

impl PositionSides {
    /// Most positions remembered.
    const CAPACITY: usize = 4_096;

    pub(super) fn remember(&mut self, trade_id: u128, side: PositionSide) {
        if self.sides.insert(trade_id, side).is_none() {
            self.order.push_back(trade_id);
            if self.order.len() > Self::CAPACITY
                && let Some(old) = self.order.pop_front()
            {
                self.sides.remove(&old);
            }
        }
    }

    pub(super) fn side_of(&self, trade_id: u128) -> Option<PositionSide> {
        self.sides.get(&trade_id).copied()
    }
}

/// An order-status change's identity.
pub(super) type OrderKey = (u128, u8);

/// The configured markets and the units mode: everything a record conversion needs.
#[derive(Debug)]
pub(super) struct Markets {
    pub(super) specs: Vec<MarketSpec>,
    /// `grids[i]` is `specs[i]`'s grid for the fast conversions.
    pub(super) grids: Vec<Option<Grid>>,
    pub(super) units: KanaUnits,
}

impl Markets {
    pub(super) fn new(specs: Vec<MarketSpec>, units: KanaUnits) -> Markets {
        let grids = specs.iter().map(Grid::of).collect();
        Markets {
            specs,
            grids,
            units,
        }
    }

    pub(super) fn get(&self, id: u64) -> Option<(&MarketSpec, Option<&Grid>)> {
        let i = self.specs.iter().position(|s| s.id.0 == id)?;
        Some((
            self.specs.get(i)?,
            self.grids.get(i).and_then(Option::as_ref),
        ))
    }
}

/// A market's grid as reduced integer ratios, for the fast path of the conversions every level
/// and fill needs: a plain decimal `m · 10^-s` is `m · tick_num / (10^s · tick_den)` ticks and
/// `m · lot_num / (10^s · lot_den)` lots — the arithmetic of [`MarketSpec::price_to_ticks`] and
/// [`MarketSpec::size_to_lots`] with [`Rounding::Exact`], with the market's constant factors
/// multiplied and reduced once instead of per value, and no [`Decimal`] in between. Whatever
/// the fast path cannot do exactly (a remainder, an overflow, a form other than plain digits)
/// goes through those functions, which also word the errors, so results and errors are the same
/// either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Grid {
    pub(super) tick_num: u128,
    pub(super) tick_den: u128,
    pub(super) lot_num: u128,
    pub(super) lot_den: u128,
    /// For each number of digits after the point, the price factor `tick_num / (10^s ·
    /// tick_den)` in lowest terms when both parts fit `u64`: on a power-of-ten grid most are
    /// `(10^k, 1)`, so a price converts with one multiplication and no division.
    ticks_by_scale: [Option<(u64, u64)>; 20],
    /// The same for sizes (`lot_num / (10^s · lot_den)`).
    lots_by_scale: [Option<(u64, u64)>; 20],
}

impl Grid {
    /// `None` when a factor does not fit (no fast path for that market; never for Kana's).
    pub(super) fn of(spec: &MarketSpec) -> Option<Grid> {
        let pow10 = |e: u32| 10u128.checked_pow(e);
        let (tick_num, tick_den) = reduce(
            u128::from(spec.lot_size).checked_mul(pow10(spec.quote_decimals)?)?,
            u128::from(spec.tick_size).checked_mul(pow10(spec.base_decimals)?)?,
        )?;
        let (lot_num, lot_den) = reduce(pow10(spec.base_decimals)?, u128::from(spec.lot_size))?;
        Some(Grid {
            tick_num,
            tick_den,
            lot_num,
            lot_den,
            ticks_by_scale: by_scale(tick_num, tick_den),
            lots_by_scale: by_scale(lot_num, lot_den),
        })
    }

    /// `m / 10^scale` coins as exact ticks ([`exact_units`] with the tick factor).
    pub(super) fn ticks(&self, m: u64, scale: u32) -> Option<u64> {
        scaled_units(&self.ticks_by_scale, m, scale)
            .unwrap_or_else(|| exact_units(m, scale, self.tick_num, self.tick_den))
    }

    /// `m / 10^scale` coins as exact lots ([`exact_units`] with the lot factor).
    pub(super) fn lots(&self, m: u64, scale: u32) -> Option<u64> {
        scaled_units(&self.lots_by_scale, m, scale)
            .unwrap_or_else(|| exact_units(m, scale, self.lot_num, self.lot_den))
    }
}

/// `num / (10^s · den)` in lowest terms for each `s`, where both parts fit `u64`.
fn by_scale(num: u128, den: u128) -> [Option<(u64, u64)>; 20] {
    std::array::from_fn(|s| {
        let den = 10u128
            .checked_pow(u32::try_from(s).ok()?)?
            .checked_mul(den)?;
        let (n, d) = reduce(num, den)?;
        Some((u64::try_from(n).ok()?, u64::try_from(d).ok()?))
    })
}

/// `m · mul / div` from the table, when `m · mul` fits `u64`: `Some(None)` when not whole (a
/// reduced factor divides exactly when `div` divides the product), `None` when the table has no
/// answer and [`exact_units`] must decide.
fn scaled_units(table: &[Option<(u64, u64)>; 20], m: u64, scale: u32) -> Option<Option<u64>> {
    let (mul, div) = (*table.get(scale as usize)?)?;
    let n = m.checked_mul(mul)?;
    Some(if div == 1 {
        Some(n)
    } else {
        n.is_multiple_of(div).then_some(n / div)
    })
}

/// `num / den` in lowest terms; `None` for a zero denominator.
pub(super) fn reduce(num: u128, den: u128) -> Option<(u128, u128)> {
    let (mut a, mut b) = (num, den);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    (den != 0 && a != 0).then(|| (num / a, den / a))
}

/// `text` as a plain non-negative decimal `m · 10^-s` (`digits[.digits]`, at most 19
/// significant digits, at most 28 fractional ones — what `Num::decimal` reads exactly); `None`
/// for anything else (signs, exponents, spaces, longer numbers), which the slow path handles.
pub(super) fn plain_decimal(text: &str) -> Option<(u64, u32)> {
    let mut m = 0u64;
    let (mut int_digits, mut scale, mut dot) = (0u32, 0u32, false);
    for &b in text.as_bytes() {
        match b {
            b'0'..=b'9' => {
                m = m.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
                if dot {
                    scale += 1;
                } else {
                    int_digits += 1;
                }
            }
            b'.' if !dot => dot = true,
            _ => return None,
        }
    }
    (int_digits > 0 && (!dot || scale > 0) && scale <= 28).then_some((m, scale))
}

/// `text` as a plain unsigned integer (digits only) that fits `u64`; `None` otherwise (the slow
/// path then accepts `"1000.0"`, spaces and the like, or words the error).
pub(super) fn plain_u64(text: &str) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    let mut v = 0u64;
    for &b in text.as_bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

/// Powers of ten that fit `u64`.
pub(super) const POW10: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// `m · num / (10^s · den)` when it is a whole number that fits `u64`.
pub(super) fn exact_units(m: u64, scale: u32, num: u128, den: u128) -> Option<u64> {
    // The common case in 64 bits: every factor and both products fit.
    if let (Ok(num), Ok(den), Some(&p)) = (
        u64::try_from(num),
        u64::try_from(den),
        POW10.get(scale as usize),
    ) && let (Some(n), Some(d)) = (m.checked_mul(num), p.checked_mul(den))
    {
        return (n % d == 0).then_some(n / d);
    }
    let n = u128::from(m).checked_mul(num)?;
    let d = 10u128.checked_pow(scale)?.checked_mul(den)?;
    if n % d != 0 {
        return None;
    }
    u64::try_from(n / d).ok()
}

/// Conversions of one record's values, with errors naming topic and field.
#[derive(Clone, Copy)]
pub(super) struct Conv<'s> {
    pub(super) topic: Topic,
    pub(super) spec: &'s MarketSpec,
    pub(super) grid: Option<&'s Grid>,
    pub(super) raw: bool,
}

pub(super) fn unit_reason(e: &UnitError) -> String {
    match e {
        UnitError::OffGrid { unit, step, .. } => {
            format!("is not a multiple of the market's {unit} ({step})")
        }
        UnitError::Negative { .. } => "is negative".to_owned(),
        UnitError::Overflow { .. } => "overflows the market's integer units".to_owned(),
        other => other.to_string(),
    }
}

impl Conv<'_> {
    pub(super) fn num<T>(
        &self,
        field: &str,
        n: Num<'_>,
        r: Result<T, NumError>,
    ) -> Result<T, DecodeError> {
        r.map_err(|e| error(self.topic, field, n.text(), e))
    }

    pub(super) fn decimal(&self, field: &str, n: Num<'_>) -> Result<Decimal, DecodeError> {
        self.num(field, n, n.decimal())
    }

    /// A size: lots on the raw host, human coins (exactly on the lot grid) otherwise.
    pub(super) fn lots(&self, field: &str, n: Num<'_>) -> Result<Lots, DecodeError> {
        if self.raw {
            return u64_of(self.topic, field, n).map(Lots);
        }
        if let (Some(g), Some((m, scale))) = (self.grid, plain_decimal(n.text()))
            && let Some(lots) = g.lots(m, scale)
        {
            return Ok(Lots(lots));
        }
        let d = self.decimal(field, n)?;
        self.spec
            .size_to_lots(d, Rounding::Exact)
            .map_err(|e| error(self.topic, field, n.text(), unit_reason(&e)))
    }

    /// A price on the grid: ticks on the raw host, human (exactly on the tick grid) otherwise.
    pub(super) fn ticks(&self, field: &str, n: Num<'_>) -> Result<Ticks, DecodeError> {
        if self.raw {
            return u64_of(self.topic, field, n).map(Ticks);
        }
        if let (Some(g), Some((m, scale))) = (self.grid, plain_decimal(n.text()))
            && let Some(ticks) = g.ticks(m, scale)
        {
            return Ok(Ticks(ticks));
        }
        let d = self.decimal(field, n)?;
        self.spec
            .price_to_ticks(d, Rounding::Exact)
            .map_err(|e| error(self.topic, field, n.text(), unit_reason(&e)))
    }

    /// A human price that need not be on the grid (average entry, liquidation estimate, TP/SL).
    /// On the raw host it is in (possibly fractional) ticks.
    pub(super) fn price(&self, field: &str, n: Num<'_>) -> Result<Decimal, DecodeError> {
        let d = self.decimal(field, n)?;
        if !self.raw {
            return Ok(d);
        }
        d.checked_mul(self.spec.tick_in_price())
            .map(|d| d.normalize())
            .ok_or_else(|| error(self.topic, field, n.text(), "overflows a decimal price"))
    }

    /// A quote amount (fee, PnL, margin): human on G4/G5, quote sub-units on the raw host.
    pub(super) fn quote(&self, field: &str, n: Num<'_>) -> Result<Decimal, DecodeError> {
        let d = self.decimal(field, n)?;
        if !self.raw {
            return Ok(d);
        }
        let scale = Decimal::try_from_i128_with_scale(1, self.spec.quote_decimals)
            .map_err(|_| error(self.topic, field, n.text(), "has too many quote decimals"))?;
        d.checked_mul(scale)
            .map(|d| d.normalize())
            .ok_or_else(|| error(self.topic, field, n.text(), "overflows a decimal amount"))
    }
}

/// The error for a record whose `order_type` is unknown and which has no side flag.
pub(super) fn unknown_side(topic: Topic, order_type: Num<'_>) -> DecodeError {
    error(
        topic,
        "order_type",
        order_type.text(),
        "is not a known order type (1-8) and the record has no side flag",
    )
}

/// Identity of a reported record issue, to report a replayed record once.
pub(super) fn issue_key(e: &DecodeError) -> u64 {
    use std::hash::{DefaultHasher, Hasher};
    let mut h = DefaultHasher::new();
    e.hash(&mut h);
    h.finish()
}

/// A fill's price: exact on the grid; off the grid (human units only) rounded **against us** —
/// up for a buy, down for a sell — with the note to report as [`RecordIssue::Rounded`] (the
/// module docs say why the fill is kept).
pub(super) fn fill_price(
    conv: Conv<'_>,
    side: Side,
    n: Num<'_>,
) -> Result<(Ticks, Option<DecodeError>), DecodeError> {
    if conv.raw {
        return conv.ticks("price", n).map(|t| (t, None));
    }
    if let (Some(g), Some((m, scale))) = (conv.grid, plain_decimal(n.text()))
        && let Some(ticks) = g.ticks(m, scale)
    {
        return Ok((Ticks(ticks), None));
    }
    let refused = |e: &UnitError| error(conv.topic, "price", n.text(), unit_reason(e));
    let d = conv.decimal("price", n)?;
    match conv.spec.price_to_ticks(d, Rounding::Exact) {
        Ok(t) => return Ok((t, None)),
        Err(UnitError::OffGrid { .. }) => {}
        Err(e) => return Err(refused(&e)),
    }
    let (rounding, how, fill) = match side {
        Side::Buy => (Rounding::Up, "up", "buy"),
        Side::Sell => (Rounding::Down, "down", "sell"),
    };
    let ticks = conv
        .spec
        .price_to_ticks(d, rounding)
        .map_err(|e| refused(&e))?;
    let note = error(
        conv.topic,
        "price",
        n.text(),
        format_args!(
            "is not a multiple of the market's tick ({}): rounded {how} to {} (against us, a {fill} fill)",
            conv.spec.tick_in_price(),
            conv.spec.ticks_to_price(ticks)
        ),
    );
    Ok((ticks, Some(note)))
}

pub(super) fn ts_of(
    topic: Topic,
    field: &str,
    n: Option<Num<'_>>,
) -> Result<Option<Timestamp>, DecodeError> {
    match n {
        None => Ok(None),
        // Unix seconds [DOC]; string (old host) or number (new host).
        Some(n) => u64_of(topic, field, n).map(|s| Some(Timestamp::from_secs(s))),
    }
}

pub(super) fn u128_of(topic: Topic, field: &str, n: Num<'_>) -> Result<u128, DecodeError> {
    n.u128().map_err(|e| error(topic, field, n.text(), e))
}

/// A plain decimal field (a rate), named in the error.
pub(super) fn decimal_of(topic: Topic, field: &str, n: Num<'_>) -> Result<Decimal, DecodeError> {
    n.decimal().map_err(|e| error(topic, field, n.text(), e))
}

pub(super) fn u64_of(topic: Topic, field: &str, n: Num<'_>) -> Result<u64, DecodeError> {
    if let Some(v) = plain_u64(n.text()) {
        return Ok(v);
    }
    n.u64().map_err(|e| error(topic, field, n.text(), e))
}
