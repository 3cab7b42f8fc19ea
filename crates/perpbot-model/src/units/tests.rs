use super::*;
use crate::test_rng::seeded;
use rust_decimal_macros::dec;

fn apt() -> MarketSpec {
    MarketSpec::kana_apt_testnet()
}

#[test]
fn the_base_asset_is_read_from_either_name_style() {
    let mut m = apt();
    for (name, base) in [("APT-USD", "APT"), ("APT/USDC", "APT"), ("SOL_USD", "SOL")] {
        m.name = name.into();
        assert_eq!(m.base_asset(), base);
    }
    m.name = "APT".into();
    assert_eq!(m.base_asset(), "APT", "a bare name is its own base");
}

#[test]
fn a_signed_size_is_negative_when_short_and_saturates_instead_of_wrapping() {
    let m = apt();
    assert_eq!(m.signed_size(1500), dec!(1.5));
    assert_eq!(m.signed_size(-1500), dec!(-1.5));
    assert_eq!(m.signed_size(0), Decimal::ZERO);
    assert_eq!(m.signed_size(i128::MIN), -m.lots_to_size(Lots(u64::MAX)));
}

#[test]
fn worked_apt_example_from_reference_3_3() {
    let m = apt();
    assert_eq!(m.lot_in_coins(), dec!(0.001));
    assert_eq!(m.tick_in_price(), dec!(0.001));
    let lots = m.size_to_lots(dec!(2.5), Rounding::Exact).unwrap();
    let ticks = m.price_to_ticks(dec!(5.518), Rounding::Exact).unwrap();
    assert_eq!(lots, Lots(2500));
    assert_eq!(ticks, Ticks(5518));
    assert_eq!(m.notional_sub_units(lots, ticks), 13_795_000);
    assert_eq!(m.notional(lots, ticks), dec!(13.795));
    // 10x leverage: initial margin 1.3795 USDT.
    assert_eq!(m.notional(lots, ticks) / dec!(10), dec!(1.3795));
    // Minimum order is 500 lots = 0.5 APT, maximum 150 000 APT.
    assert_eq!(m.lots_to_size(Lots(m.min_lots)), dec!(0.5));
    assert_eq!(m.lots_to_size(Lots(m.max_lots)), dec!(150000));
}

#[test]
fn old_websocket_position_sample_reads_as_lots_and_ticks() {
    // positions (G2 host): size "1000", entry_price "6050", value "6050000", margin "3025000",
    // leverage 2, trade fee "3025".
    let m = apt();
    let (lots, ticks) = (Lots(1000), Ticks(6050));
    assert_eq!(m.lots_to_size(lots), dec!(1));
    assert_eq!(m.ticks_to_price(ticks), dec!(6.05));
    assert_eq!(m.notional_sub_units(lots, ticks), 6_050_000);
    assert_eq!(
        m.notional_sub_units(lots, ticks) / 2,
        3_025_000,
        "margin = value / leverage"
    );
    assert_eq!(
        m.notional(lots, ticks) * dec!(0.0005),
        dec!(0.003025),
        "taker fee 0.05 %"
    );
    assert_eq!(m.sub_units_to_quote(3025), dec!(0.003025));
}

#[test]
fn rounding_directions_are_explicit() {
    let m = apt();
    assert_eq!(
        m.size_to_lots(dec!(2.5004), Rounding::Down).unwrap(),
        Lots(2500)
    );
    assert_eq!(
        m.size_to_lots(dec!(2.5004), Rounding::Up).unwrap(),
        Lots(2501)
    );
    assert_eq!(
        m.price_to_ticks(dec!(5.5185), Rounding::Down).unwrap(),
        Ticks(5518)
    );
    assert_eq!(
        m.price_to_ticks(dec!(5.5185), Rounding::Up).unwrap(),
        Ticks(5519)
    );
    // On-grid values are unaffected by the direction.
    assert_eq!(
        m.price_to_ticks(dec!(5.518000), Rounding::Up).unwrap(),
        Ticks(5518)
    );
}

#[test]
fn off_grid_exact_names_value_and_step() {
    let m = apt();
    let err = m.size_to_lots(dec!(2.5004), Rounding::Exact).unwrap_err();
    assert_eq!(
        err.to_string(),
        "size 2.5004 is not a multiple of the market's lot (0.001)"
    );
    let err = m.price_to_ticks(dec!(5.5185), Rounding::Exact).unwrap_err();
    assert!(err.to_string().contains("5.5185"), "{err}");
}

#[test]
fn negative_and_overflowing_inputs_are_errors() {
    let m = apt();
    assert!(matches!(
        m.size_to_lots(dec!(-1), Rounding::Down),
        Err(UnitError::Negative { .. })
    ));
    assert!(matches!(
        m.price_to_ticks(Decimal::MAX, Rounding::Down),
        Err(UnitError::Overflow { .. })
    ));
    assert_eq!(
        m.size_to_lots(Decimal::ZERO, Rounding::Exact).unwrap(),
        Lots(0)
    );
}

#[test]
fn bounds_name_value_and_limit() {
    let m = apt();
    assert_eq!(
        m.check_lots(Lots(499)).unwrap_err().to_string(),
        "size 499 lots is below the market minimum of 500 lots"
    );
    assert!(m.check_lots(Lots(150_000_001)).is_err());
    assert!(m.check_lots(Lots(500)).is_ok());
    assert!(matches!(
        m.check_ticks(Ticks(0)),
        Err(UnitError::ZeroPrice { .. })
    ));
    assert!(matches!(
        m.check_ticks(Ticks(MAX_PRICE_TICKS + 1)),
        Err(UnitError::PriceTooHigh { .. })
    ));
    assert_eq!(
        m.check_leverage(21).unwrap_err().to_string(),
        "leverage 21 is outside 1..=20"
    );
    assert!(m.check_leverage(0).is_err());
}

#[test]
fn btc_like_grid_round_trips() {
    // A BTC-like grid: lot 0.00001 BTC (1000 sats), price step 1 USD.
    let m = MarketSpec {
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
    };
    assert_eq!(m.tick_in_price(), dec!(1));
    let t = m.price_to_ticks(dec!(115300), Rounding::Exact).unwrap();
    assert_eq!(m.ticks_to_price(t), dec!(115300));
    let l = m.size_to_lots(dec!(0.0001), Rounding::Exact).unwrap();
    assert_eq!(l, Lots(10));
    assert_eq!(m.notional(l, t), dec!(11.53));
}

/// Found by `tests/integration/prop_units.rs`: an on-grid value written with many trailing zeros (as a
/// wire decimal may be) was refused as `Overflow`, because the raw mantissa was scaled up.
#[test]
fn trailing_zeros_do_not_overflow() {
    use std::str::FromStr;
    let m = apt();
    let price = Decimal::from_str("5518.000000000000000000000000").unwrap();
    assert_eq!(price.scale(), 24);
    assert_eq!(
        m.price_to_ticks(price, Rounding::Exact),
        Ok(Ticks(5_518_000))
    );
    let wide = MarketSpec {
        base_decimals: 18,
        lot_size: 1,
        ..apt()
    };
    let size = Decimal::from_str("2.500000000000000000000000000").unwrap();
    assert_eq!(
        wide.size_to_lots(size, Rounding::Exact),
        Ok(Lots(2_500_000_000_000_000_000))
    );
}

/// Found by `tests/integration/prop_units.rs`: on grids `validate` accepts, with extreme but valid `u64`
/// lots and ticks, conversions panicked (integer or `Decimal` overflow) instead of saturating
/// or returning an error.
#[test]
fn extreme_grids_and_values_do_not_panic() {
    // One tick is ~7.9e28 quote per coin: `tick_in_price` overflows `Decimal`. Converting even
    // 0 panicked, because the `OffGrid` error (which names the tick) was built eagerly.
    let huge_tick = MarketSpec {
        base_decimals: 16,
        quote_decimals: 0,
        lot_size: 1,
        tick_size: 7_922_816_251_427,
        ..apt()
    };
    assert!(huge_tick.validate().is_ok());
    assert_eq!(
        huge_tick.price_to_ticks(Decimal::ZERO, Rounding::Exact),
        Ok(Ticks(0))
    );
    assert_eq!(huge_tick.tick_in_price(), Decimal::MAX, "saturates");

    // Intermediate overflow although the price itself fits: exact after the fix.
    let wide = MarketSpec {
        base_decimals: 10,
        quote_decimals: 0,
        lot_size: 1_000_000,
        tick_size: 1_000,
        ..apt()
    };
    let top = wide.ticks_to_price(Ticks(u64::MAX));
    assert_eq!(top, dec!(184467440737095516150000000));
    assert_eq!(
        wide.price_to_ticks(top, Rounding::Exact),
        Ok(Ticks(u64::MAX))
    );

    // lots · lot_size beyond i128 (and beyond Decimal): saturates or rounds, never panics.
    let big_lot = MarketSpec {
        base_decimals: 0,
        lot_size: u64::MAX,
        ..apt()
    };
    assert_eq!(big_lot.lots_to_size(Lots(u64::MAX)), Decimal::MAX);
    assert_eq!(
        MarketSpec {
            base_decimals: 18,
            ..big_lot.clone()
        }
        .lots_to_size(Lots(2)),
        dec!(36.89348814741910323)
    );

    // Notional: the u128 product wrapped in release builds (a tiny notional for a huge
    // order); it now saturates.
    let btc = MarketSpec {
        tick_size: 10,
        ..apt()
    };
    assert_eq!(
        btc.notional_sub_units(Lots(u64::MAX), Ticks(u64::MAX)),
        u128::MAX
    );
    assert_eq!(
        apt().notional_at(Lots(u64::MAX), Decimal::MAX),
        Decimal::MAX
    );
    assert_eq!(
        apt().notional_at(Lots(u64::MAX), Decimal::MIN),
        Decimal::MIN
    );
}

#[test]
fn validate_names_the_field() {
    let mut m = apt();
    m.lot_size = 0;
    assert!(m.validate().unwrap_err().contains("lot_size"));
    let mut m = apt();
    m.min_lots = m.max_lots + 1;
    assert!(m.validate().unwrap_err().contains("min_lots"));
    assert!(apt().validate().is_ok());
}

/// The zero-stripping conversions give exactly what `Decimal`'s own `normalize()` gives (same
/// mantissa and scale, so the same text), over seeded values of every size and scale, powers of
/// ten and other grids.
#[test]
fn fast_normalised_conversions_equal_decimal_normalize() {
    let mut next = seeded(0x9E37_79B9_7F4A_7C15);
    for i in 0..20_000u32 {
        let r = next();
        // Values with many trailing zeros, small values and values near u64::MAX.
        let units = match i % 4 {
            0 => u128::from(r % 1000) * 10u128.pow(r as u32 % 12),
            1 => u128::from(r),
            2 => u128::from(r) * u128::from(next()),
            _ => u128::from(r % 10),
        };
        let scale = (next() % 29) as u32;
        let reference = i128::try_from(units)
            .ok()
            .and_then(|u| Decimal::try_from_i128_with_scale(u, scale).ok())
            .map(|d| d.normalize());
        if let Some(want) = reference {
            let got = scaled(units, scale).expect("fits");
            assert_eq!(got, want);
            assert_eq!(got.to_string(), want.to_string(), "{units} / 10^{scale}");
            assert_eq!(got.scale(), want.scale());
        }
        // Powers of ten, twos and fives (a mid's half tick, lots of 2·10^k, 2^40 whose
        // multiplier overflows), and dens with other factors.
        let den = [
            1u128,
            10,
            1000,
            100_000,
            3,
            7,
            250,
            10u128.pow(18),
            2,
            200_000,
            64,
            1u128 << 40,
            5u128.pow(7) * 3,
            2 * 5u128.pow(20),
        ][i as usize % 14];
        let want = ratio(units, den).map(|d| d.normalize());
        let got = ratio_normalized(units, den);
        assert_eq!(
            got.map(|d| d.to_string()),
            want.map(|d| d.to_string()),
            "{units} / {den}"
        );
    }
}

/// The initial margin equals the notional divided by the leverage, over seeded sizes, prices
/// and leverages (ones that divide the notional and ones that do not, and 0, which counts as 1).
#[test]
fn initial_margin_equals_notional_over_leverage() {
    let spec = apt();
    let mut next = seeded(0xD1B5_4A32_D192_ED03);
    for _ in 0..20_000 {
        let lots = Lots(next() % 10_000_000);
        let ticks = Ticks(next() % 100_000_000);
        let leverage = [0u32, 1, 2, 3, 5, 7, 10, 20, 50, 100][(next() % 10) as usize];
        let want = spec.notional(lots, ticks) / Decimal::from(leverage.max(1));
        assert_eq!(
            spec.initial_margin(lots, ticks, leverage),
            want,
            "{lots:?} at {ticks:?}, leverage {leverage}"
        );
    }
}

/// A mid in one ratio equals half the price of its doubled ticks, normalised, on grids of
/// every shape the venues use (and a few they do not), at seeded tick counts.
#[test]
fn mid_price_is_half_the_price_of_the_doubled_ticks() {
    let mut exact = 0;
    let mut next = seeded(0x2545_F491_4F6C_DD1D);
    for i in 0..20_000u32 {
        let mut spec = apt();
        spec.lot_size = [1, 10, 25, 100_000, 1 << 20, 5u64.pow(9), 10u64.pow(12)][i as usize % 7];
        spec.tick_size = [1, 5, 100, 1_000_000][(i / 7) as usize % 4];
        spec.base_decimals = [0, 6, 8, 18][(i / 28) as usize % 4];
        spec.quote_decimals = [0, 6, 8][(i / 112) as usize % 3];
        let ticks = Ticks(match i % 3 {
            0 => next() % 1_000,
            1 => next() % 10_000_000_000,
            _ => next(),
        });
        let price = spec.ticks_to_price(ticks);
        if price == Decimal::MAX {
            continue; // saturated: no price to halve
        }
        let want = (price / Decimal::TWO).normalize();
        let got = spec.mid_price(ticks);
        if got == want {
            assert_eq!(got.to_string(), want.to_string(), "{spec:?} at {ticks:?}");
            exact += 1;
        } else {
            // Past 28 digits the two round: once here, twice there (the conversion, then the
            // halving), so the old way may be off by up to two units of the last digit.
            let ulp = Decimal::new(2, want.scale().max(got.scale()));
            assert!(
                (got - want).abs() <= ulp,
                "{spec:?} at {ticks:?}: {got} vs {want}"
            );
        }
    }
    assert!(exact > 15_000, "{exact}");
}

/// A price at `u64::MAX` ticks with a 28-digit mantissa converts back to its ticks: the
/// conversion cancels the common power of ten before multiplying (it overflowed `i128` on the
/// way, the case the `ticks_round_trip_exactly` property found).
#[test]
fn a_price_at_the_largest_tick_count_converts_back() {
    let spec = MarketSpec {
        id: MarketId(7),
        name: "GEN-USD".into(),
        base_decimals: 0,
        quote_decimals: 10,
        lot_size: 64,
        tick_size: 931,
        min_lots: 1,
        max_lots: 1,
        max_leverage: 10,
        maintenance_margin_bps: 250,
        quote_precision: 3,
    };
    let ticks = Ticks(u64::MAX);
    let price = spec.ticks_to_price(ticks);
    assert_eq!(price, dec!(26834248019.7243633649453125));
    for r in [Rounding::Down, Rounding::Up, Rounding::Exact] {
        assert_eq!(spec.price_to_ticks(price, r), Ok(ticks), "{r:?}");
    }
    // One tick's worth more is still refused as an overflow, not wrapped.
    let beyond = price + spec.ticks_to_price(Ticks(1));
    assert!(matches!(
        spec.price_to_ticks(beyond, Rounding::Down),
        Err(UnitError::Overflow { .. })
    ));
}
