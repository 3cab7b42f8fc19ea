//! Property tests for markets and exact units (`perpbot::model::units`): human sizes and prices
//! to lots and ticks and back, in every rounding direction, on several market grids.
//!
//! The default case counts are small so that the normal `cargo test` stays fast (all three
//! `prop_*` files together take well under 5 s in a debug build). For a longer search set
//! `PROPTEST_CASES`, which overrides every property's default here:
//!
//! ```text
//! PROPTEST_CASES=100000 cargo test --release --test integration prop_units
//! ```
//!
//! A failure prints the minimal input found and proptest stores its seed under
//! `proptest-regressions/`; commit that file so the case is replayed on every run.

use perpbot::model::{Lots, MAX_PRICE_TICKS, MarketId, MarketSpec, Rounding, Ticks, UnitError};
use proptest::prelude::*;
use rust_decimal::Decimal;

/// Default cases per property; `PROPTEST_CASES` overrides (and `PROPTEST_RNG_SEED` the
/// fixed seed, [`crate::common::PROPTEST_SEED`]).
const CASES: u32 = 256;

fn config() -> ProptestConfig {
    crate::common::proptest_config(CASES)
}

// ---------------------------------------------------------------------------------------------
// Market specs
// ---------------------------------------------------------------------------------------------

/// A BTC-like grid (lot 1000 sats, price step 1 USD) next to the reference APT grid.
fn btc_like() -> MarketSpec {
    MarketSpec {
        id: MarketId(1339),
        name: "BTC-USD".into(),
        base_decimals: 8,
        quote_decimals: 6,
        lot_size: 1_000,
        tick_size: 10,
        min_lots: 10,
        max_lots: 1_000_000,
        max_leverage: 20,
        maintenance_margin_bps: 250,
        quote_precision: 0,
    }
}

fn spec(
    base_decimals: u32,
    quote_decimals: u32,
    lot_size: u64,
    tick_size: u64,
    (min_lots, max_lots): (u64, u64),
) -> MarketSpec {
    MarketSpec {
        id: MarketId(7),
        name: "GEN-USD".into(),
        base_decimals,
        quote_decimals,
        lot_size,
        tick_size,
        min_lots,
        max_lots,
        max_leverage: 10,
        maintenance_margin_bps: 250,
        quote_precision: 3,
    }
}

fn lot_bounds() -> impl Strategy<Value = (u64, u64)> {
    (1u64..1_000, 0u64..1_000_000).prop_map(|(min, extra)| (min, min + extra))
}

/// A "decimal" grid, like every Kana market: the lot size divides a power of ten (2^a · 5^b), so
/// every price on the grid is an exact decimal with few digits and every conversion round-trips.
/// Sizes are kept modest so that `u64` lots and ticks stay far from `Decimal`'s 96-bit mantissa.
fn decimal_spec() -> impl Strategy<Value = MarketSpec> {
    (
        0u32..=10,
        0u32..=10,
        0u32..=6,
        0u32..=6,
        1u64..=1_000,
        lot_bounds(),
    )
        .prop_map(|(base, quote, a, b, tick, bounds)| {
            spec(base, quote, 2u64.pow(a) * 5u64.pow(b), tick, bounds)
        })
}

/// Any grid `MarketSpec::validate` accepts, including lot sizes that do not divide a power of
/// ten (where prices on the grid may be repeating decimals) and extreme decimals.
fn any_valid_spec() -> impl Strategy<Value = MarketSpec> {
    (
        0u32..=18,
        0u32..=18,
        prop_oneof![
            1u64..=1_000_000,
            Just(3),
            Just(7),
            any::<u64>().prop_map(|x| x | 1)
        ],
        prop_oneof![1u64..=1_000, any::<u64>().prop_map(|x| x | 1)],
        lot_bounds(),
    )
        .prop_map(|(base, quote, lot, tick, bounds)| spec(base, quote, lot, tick, bounds))
}

/// The reference APT grid, the BTC-like grid and generated decimal grids.
fn exact_spec() -> impl Strategy<Value = MarketSpec> {
    prop_oneof![
        1 => Just(MarketSpec::kana_apt_testnet()),
        1 => Just(btc_like()),
        3 => decimal_spec(),
    ]
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/// Any `Decimal` at all: small and huge mantissas, every scale, both signs, the extremes.
fn any_decimal() -> impl Strategy<Value = Decimal> {
    let mantissa = prop_oneof![
        -1_000_000i128..1_000_000,
        any::<i64>().prop_map(i128::from),
        any::<u128>().prop_map(|m| (m >> 32) as i128),
        any::<u128>().prop_map(|m| -((m >> 32) as i128)),
    ];
    prop_oneof![
        8 => (mantissa, 0u32..=28).prop_map(|(m, s)| {
            Decimal::try_from_i128_with_scale(m, s).unwrap_or(Decimal::ZERO)
        }),
        1 => prop_oneof![
            Just(Decimal::MAX),
            Just(Decimal::MIN),
            Just(Decimal::ZERO),
            Just(-Decimal::ZERO),
            Just(Decimal::new(1, 28)),
            Just(Decimal::new(-1, 28)),
        ],
    ]
}

/// A non-negative decimal of moderate size: what a strategy plausibly asks for.
fn moderate_decimal() -> impl Strategy<Value = Decimal> {
    (0i64..=1_000_000_000_000, 0u32..=12).prop_map(|(m, s)| Decimal::new(m, s))
}

/// Lots or ticks, biased toward the values that matter: small, the market bounds, the largest.
fn units() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..100_000,
        2 => 0u64..=MAX_PRICE_TICKS,
        1 => Just(MAX_PRICE_TICKS),
        1 => any::<u64>(),
        1 => Just(u64::MAX),
    ]
}

/// The same value written with `extra` more trailing zeros (`5.518` → `5.518000`), if it fits.
fn rescaled(d: Decimal, extra: u32) -> Option<Decimal> {
    let m = d.mantissa().checked_mul(10i128.checked_pow(extra)?)?;
    Decimal::try_from_i128_with_scale(m, d.scale() + extra).ok()
}

/// True when the grid price of `ticks` has at most 28 significant digits (it has at most 6
/// fractional digits on a decimal grid, so an integer part below 10^22 is enough).
fn fits_exactly(spec: &MarketSpec, ticks: u64) -> bool {
    let n = u128::from(ticks) * u128::from(spec.tick_size);
    let whole = match spec.base_decimals.checked_sub(spec.quote_decimals) {
        Some(k) => n
            .checked_mul(10u128.pow(k))
            .map(|x| x / u128::from(spec.lot_size)),
        None => Some(
            n / u128::from(spec.lot_size) / 10u128.pow(spec.quote_decimals - spec.base_decimals),
        ),
    };
    whole.is_some_and(|w| w < 10u128.pow(22))
}

fn is_overflow(e: &UnitError) -> bool {
    matches!(e, UnitError::Overflow { .. })
}

const ALL: [Rounding; 3] = [Rounding::Down, Rounding::Up, Rounding::Exact];

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// Lots → size → lots is the identity in every rounding mode, whatever the trailing zeros.
    #[test]
    fn lots_round_trip_exactly(spec in exact_spec(), lots in units(), extra in 0u32..6) {
        let size = spec.lots_to_size(Lots(lots));
        for r in ALL {
            prop_assert_eq!(spec.size_to_lots(size, r), Ok(Lots(lots)), "{:?} {}", r, size);
        }
        if let Some(padded) = rescaled(size, extra) {
            prop_assert_eq!(spec.size_to_lots(padded, Rounding::Exact), Ok(Lots(lots)));
        }
    }

    /// Ticks → price → ticks is the identity in every rounding mode on decimal grids, for every
    /// price `Decimal` can hold exactly.
    #[test]
    fn ticks_round_trip_exactly(spec in exact_spec(), ticks in units(), extra in 0u32..6) {
        prop_assume!(fits_exactly(&spec, ticks), "price beyond Decimal's 28 digits");
        let price = spec.ticks_to_price(Ticks(ticks));
        for r in ALL {
            prop_assert_eq!(spec.price_to_ticks(price, r), Ok(Ticks(ticks)), "{:?} {}", r, price);
        }
        if let Some(padded) = rescaled(price, extra) {
            prop_assert_eq!(spec.price_to_ticks(padded, Rounding::Exact), Ok(Ticks(ticks)));
        }
    }

    /// Size → lots: Down never exceeds the input and is the largest such lot count; Up never falls
    /// below it; they differ by at most one lot and agree exactly when the size is on the grid,
    /// which is also exactly when `Exact` succeeds.
    #[test]
    fn size_rounding_brackets_the_input(spec in exact_spec(), size in moderate_decimal()) {
        let down = spec.size_to_lots(size, Rounding::Down);
        let up = spec.size_to_lots(size, Rounding::Up);
        let exact = spec.size_to_lots(size, Rounding::Exact);
        let (Ok(d), Ok(u)) = (down.clone(), up.clone()) else {
            // Only a result beyond u64 may fail, and then Up fails with it.
            prop_assert!(down.as_ref().err().is_none_or(is_overflow), "{:?}", down);
            prop_assert!(up.as_ref().is_err_and(is_overflow), "{:?}", up);
            return Ok(());
        };
        prop_assert!(spec.lots_to_size(d) <= size);
        prop_assert!(spec.lots_to_size(Lots(d.0 + 1)) > size, "Down is the floor");
        prop_assert!(spec.lots_to_size(u) >= size);
        prop_assert!(u.0 - d.0 <= 1, "{:?} {:?}", d, u);
        let on_grid = spec.lots_to_size(d) == size;
        prop_assert_eq!(on_grid, d == u);
        match exact {
            Ok(e) => prop_assert!(on_grid && e == d),
            Err(UnitError::OffGrid { step, .. }) => {
                prop_assert!(!on_grid);
                prop_assert_eq!(step, spec.lot_in_coins());
            }
            Err(other) => prop_assert!(false, "unexpected {other}"),
        }
    }

    /// Price → ticks: the same bracketing as sizes, on the tick grid.
    #[test]
    fn price_rounding_brackets_the_input(spec in exact_spec(), price in moderate_decimal()) {
        let down = spec.price_to_ticks(price, Rounding::Down);
        let up = spec.price_to_ticks(price, Rounding::Up);
        let exact = spec.price_to_ticks(price, Rounding::Exact);
        let (Ok(d), Ok(u)) = (down.clone(), up.clone()) else {
            prop_assert!(down.as_ref().err().is_none_or(is_overflow), "{:?}", down);
            prop_assert!(up.as_ref().is_err_and(is_overflow), "{:?}", up);
            return Ok(());
        };
        prop_assert!(spec.ticks_to_price(d) <= price);
        prop_assert!(spec.ticks_to_price(Ticks(d.0 + 1)) > price, "Down is the floor");
        prop_assert!(spec.ticks_to_price(u) >= price);
        prop_assert!(u.0 - d.0 <= 1, "{:?} {:?}", d, u);
        let on_grid = spec.ticks_to_price(d) == price;
        prop_assert_eq!(on_grid, d == u);
        match exact {
            Ok(e) => prop_assert!(on_grid && e == d),
            Err(UnitError::OffGrid { step, .. }) => {
                prop_assert!(!on_grid);
                prop_assert_eq!(step, spec.tick_in_price());
            }
            Err(other) => prop_assert!(false, "unexpected {other}"),
        }
    }

    /// On any valid grid and for any decimal at all: no panic; negative input is `Negative`;
    /// otherwise Down ≤ Up ≤ Down + 1, and `Exact` succeeds exactly when Down and Up agree.
    #[test]
    fn any_input_on_any_grid_is_a_value_or_an_error(
        spec in any_valid_spec(),
        x in any_decimal(),
    ) {
        prop_assert!(spec.validate().is_ok());
        let sizes = ALL.map(|r| spec.size_to_lots(x, r));
        let prices = ALL.map(|r| spec.price_to_ticks(x, r));
        if x.is_sign_negative() && !x.is_zero() {
            for e in &sizes {
                prop_assert!(matches!(e, Err(UnitError::Negative { .. })), "{:?}", e);
            }
            for e in &prices {
                prop_assert!(matches!(e, Err(UnitError::Negative { .. })), "{:?}", e);
            }
            return Ok(());
        }
        let check = |[down, up, exact]: [Result<u64, UnitError>; 3]| -> Result<(), TestCaseError> {
            match (down, up) {
                (Ok(d), Ok(u)) => {
                    prop_assert!(u >= d && u - d <= 1, "{} {}", d, u);
                    match exact {
                        Ok(e) => prop_assert!(d == u && e == d),
                        Err(UnitError::OffGrid { .. }) => prop_assert!(d != u),
                        Err(other) => prop_assert!(false, "unexpected {other}"),
                    }
                }
                (Ok(d), Err(e)) => prop_assert!(is_overflow(&e) && d == u64::MAX, "{e}"),
                (Err(e), up) => {
                    prop_assert!(is_overflow(&e), "{e}");
                    prop_assert!(up.is_err_and(|e| is_overflow(&e)));
                }
            }
            Ok(())
        };
        check(sizes.map(|r| r.map(|l| l.0)))?;
        check(prices.map(|r| r.map(|t| t.0)))?;
    }

    /// Going the other way never panics on any valid grid, for any lots and ticks: the human
    /// values are `Decimal`s (saturating beyond its range), the notional is exact in sub-units
    /// (saturating at `u128::MAX`).
    #[test]
    fn integer_to_human_never_panics(
        spec in any_valid_spec(),
        lots in units(),
        ticks in units(),
        price in any_decimal(),
    ) {
        let size = spec.lots_to_size(Lots(lots));
        prop_assert!(!size.is_sign_negative());
        let _ = spec.size_to_lots(size, Rounding::Down);
        let p = spec.ticks_to_price(Ticks(ticks));
        prop_assert!(!p.is_sign_negative());
        let _ = spec.price_to_ticks(p, Rounding::Up);
        let _ = spec.notional_sub_units(Lots(lots), Ticks(ticks));
        let _ = spec.notional(Lots(lots), Ticks(ticks));
        let _ = spec.notional_at(Lots(lots), price);
        let _ = spec.lot_in_coins();
        let _ = spec.tick_in_price();
        let _ = spec.check_lots(Lots(lots));
        let _ = spec.check_ticks(Ticks(ticks));
    }

    /// Notional in sub-units is `lots · ticks · tick_size`; in quote units it equals size × price
    /// and `notional_at` the grid price.
    #[test]
    fn notional_is_size_times_price(
        spec in exact_spec(),
        lots in 0u64..10_000_000,
        ticks in 0u64..=MAX_PRICE_TICKS,
    ) {
        let (l, t) = (Lots(lots), Ticks(ticks));
        prop_assert_eq!(
            spec.notional_sub_units(l, t),
            u128::from(lots) * u128::from(ticks) * u128::from(spec.tick_size)
        );
        let by_parts = spec.lots_to_size(l) * spec.ticks_to_price(t);
        prop_assert_eq!(spec.notional(l, t), by_parts.normalize());
        prop_assert_eq!(spec.notional_at(l, spec.ticks_to_price(t)).normalize(), by_parts.normalize());
        prop_assert_eq!(spec.lot_in_coins(), spec.lots_to_size(Lots(1)));
        prop_assert_eq!(spec.tick_in_price(), spec.ticks_to_price(Ticks(1)));
    }

    /// The bound checks accept exactly the documented ranges.
    #[test]
    fn bounds_are_the_documented_ranges(spec in exact_spec(), x in units(), lev in 0u32..64) {
        prop_assert_eq!(
            spec.check_lots(Lots(x)).is_ok(),
            (spec.min_lots..=spec.max_lots).contains(&x)
        );
        prop_assert_eq!(spec.check_ticks(Ticks(x)).is_ok(), (1..=MAX_PRICE_TICKS).contains(&x));
        prop_assert_eq!(spec.check_leverage(lev).is_ok(), (1..=spec.max_leverage).contains(&lev));
    }
}
