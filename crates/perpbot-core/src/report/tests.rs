use rust_decimal_macros::dec;

use super::*;
use perpbot_model::{
    BookUpdate, BookUpdateKind, Fill, FundingRate, Level, Lots, MarketSpec, Ticks, TradeId,
};

const M: MarketId = MarketId(1338);

struct Run {
    state: State,
    tracker: PerformanceTracker,
    trade: u128,
}

impl Run {
    fn new() -> Run {
        let mut state = State::new(&[MarketSpec::kana_apt_testnet()]);
        state.set_now(Timestamp::from_secs(100));
        Run {
            state,
            tracker: PerformanceTracker::new(),
            trade: 0,
        }
    }

    fn at(&mut self, secs: u64) -> &mut Run {
        self.state.set_now(Timestamp::from_secs(secs));
        self
    }

    fn feed(&mut self, e: Event) {
        if self.state.apply(&e) {
            self.tracker.observe(&e, &self.state);
        }
    }

    fn book(&mut self, bid: u64, ask: u64) {
        let ts = self.state.now();
        self.feed(Event::Book(BookUpdate {
            market: M,
            kind: BookUpdateKind::Snapshot,
            bids: vec![Level::new(bid, 10_000)],
            asks: vec![Level::new(ask, 10_000)],
            ts,
        }));
    }

    fn fill(&mut self, side: Side, lots: u64, price: u64, fee: Decimal, liq: Liquidity) {
        self.fill_realizing(side, lots, price, fee, liq, Decimal::ZERO);
    }

    /// A fill with the PnL the venue says it realised.
    fn fill_realizing(
        &mut self,
        side: Side,
        lots: u64,
        price: u64,
        fee: Decimal,
        liq: Liquidity,
        realized_pnl: Decimal,
    ) {
        self.trade += 1;
        let ts = self.state.now();
        self.feed(Event::Fill(Box::new(Fill {
            market: M,
            client_id: None,
            venue_id: None,
            trade_id: TradeId(self.trade),
            side,
            direction: perpbot_model::Direction::Open,
            lots: Lots(lots),
            price: Ticks(price),
            fee,
            realized_pnl,
            liquidity: liq,
            ts,
        })));
    }
}

#[test]
fn splits_pnl_into_spread_inventory_and_fees() {
    let mut r = Run::new();
    r.book(5498, 5502); // mid 5.500
    // Buy 1 APT at 5.498 (2 ticks under the mid): spread capture +0.002.
    r.at(110)
        .fill(Side::Buy, 1000, 5498, dec!(0), Liquidity::Maker);
    // The mid rises to 5.510 while long 1: inventory +0.010.
    r.at(120).book(5508, 5512);
    // Sell 1 APT at 5.512 (2 ticks over the mid): spread +0.002; taker fee 0.002756.
    // The venue reports the round trip's realised PnL: 5.512 − 5.498.
    r.at(130).fill_realizing(
        Side::Sell,
        1000,
        5512,
        dec!(0.002756),
        Liquidity::Taker,
        dec!(0.014),
    );
    // Flat: later mid moves change nothing.
    r.at(140).book(5400, 5404);
    let p = r.tracker.performance();
    assert_eq!(p.spread_capture, dec!(0.004));
    assert_eq!(p.inventory_pnl, dec!(0.010));
    assert_eq!(p.fees, dec!(0.002756));
    assert_eq!(p.total_pnl, dec!(0.011244));
    assert_eq!(p.total_pnl, p.marked_to_mid());
    // The same as the state's own realised − fees + unrealised (flat: nothing unrealised).
    assert_eq!(p.total_pnl, r.state.total_pnl());
    let m = &p.markets[0];
    assert_eq!((m.maker_fills, m.taker_fills), (1, 1));
    assert_eq!(m.volume, dec!(2));
    assert_eq!(m.max_abs_inventory, dec!(1));
    // Long 1 APT for 20 of the 40 seconds: average 0.5.
    assert_eq!(m.avg_abs_inventory, dec!(0.5));
    assert_eq!(p.duration_secs, 40.0);
}

#[test]
fn adverse_selection_shows_as_inventory_loss() {
    let mut r = Run::new();
    r.book(5498, 5502);
    // Earn the spread on a buy, then the market falls through it.
    r.at(101)
        .fill(Side::Buy, 2000, 5499, dec!(0), Liquidity::Maker);
    r.at(102).book(5480, 5484);
    let p = r.tracker.performance();
    assert_eq!(p.spread_capture, dec!(0.002)); // 2 × (5.500 − 5.499)
    assert_eq!(p.inventory_pnl, dec!(-0.036)); // 2 × (5.482 − 5.500)
    assert_eq!(p.total_pnl, dec!(-0.034));
    assert_eq!(p.total_pnl, p.marked_to_mid());
    assert_eq!(p.max_drawdown, dec!(0.036), "from the +0.002 peak");
}

#[test]
fn duplicate_fills_are_not_counted_twice() {
    let mut r = Run::new();
    r.book(5498, 5502);
    r.fill(Side::Buy, 1000, 5499, dec!(0), Liquidity::Maker);
    r.trade -= 1; // the same trade id again
    r.fill(Side::Buy, 1000, 5499, dec!(0), Liquidity::Maker);
    let p = r.tracker.performance();
    assert_eq!(p.markets[0].maker_fills, 1);
    assert_eq!(p.markets[0].final_position, dec!(1));
}

#[test]
fn funding_settles_on_each_new_record_after_the_first() {
    let mut r = Run::new();
    r.book(5498, 5502);
    r.fill(Side::Buy, 2000, 5500, dec!(0), Liquidity::Maker);
    let funding = |ts: u64, rate: Decimal| {
        Event::Funding(FundingRate {
            market: M,
            rate,
            ts: Timestamp::from_secs(ts),
        })
    };
    r.feed(funding(100, dec!(0.0001))); // the first record: what the rate is, not a payment
    assert_eq!(r.tracker.performance().funding, dec!(0));
    r.feed(funding(3700, dec!(0.0001))); // long 2 at 5.5 pays 0.0011
    r.feed(funding(3700, dec!(0.0001))); // the same record again: no second payment
    let p = r.tracker.performance();
    assert_eq!(p.funding, dec!(-0.0011));
    assert_eq!(p.total_pnl, p.marked_to_mid());
}

#[test]
fn average_inventory_weighs_each_position_by_how_long_it_was_held_up_to_the_last_event() {
    let size = MarketSpec::kana_apt_testnet().lots_to_size(Lots(10));
    let mut r = Run::new();
    r.at(100).book(5_000, 5_002);
    r.at(110)
        .fill(Side::Buy, 10, 5_001, Decimal::ZERO, Liquidity::Maker);
    r.at(120)
        .fill(Side::Sell, 10, 5_001, Decimal::ZERO, Liquidity::Maker);
    // Later books at the same mid change nothing but the span.
    r.at(140).book(5_000, 5_002);
    let m = &r.tracker.performance().markets[0];
    assert_eq!(m.avg_abs_inventory, (size / dec!(4)).round_dp(8));

    // A position still held at the end counts up to the last event.
    let mut r = Run::new();
    r.at(100).book(5_000, 5_002);
    r.at(120)
        .fill(Side::Sell, 10, 5_001, Decimal::ZERO, Liquidity::Maker);
    r.at(140).book(5_000, 5_002);
    let m = &r.tracker.performance().markets[0];
    assert_eq!(m.avg_abs_inventory, (size / dec!(2)).round_dp(8));
    assert_eq!(m.max_abs_inventory, size);
}

/// The integer ledger reports what the plain decimal books give, over seeded runs of mid moves
/// (half ticks included), fills both ways (before any mid, too), fees and funding: the
/// decimal books are written out here as the tracker kept them before it counted in integers.
#[test]
fn the_integer_ledger_equals_plain_decimal_books() {
    let spec = MarketSpec::kana_apt_testnet();
    let mut next = crate::test_support::below(0xA076_1D64_78BD_642Fu64);
    for _ in 0..40 {
        let mut r = Run::new();
        // The decimal books.
        let (mut spread, mut inventory, mut cash, mut fees, mut funding) = (
            Decimal::ZERO,
            Decimal::ZERO,
            Decimal::ZERO,
            Decimal::ZERO,
            Decimal::ZERO,
        );
        let (mut position, mut volume, mut max_abs) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        let (mut peak, mut drawdown) = (Decimal::ZERO, Decimal::ZERO);
        let mut last_mid: Option<Decimal> = None;
        let mut seen_funding = false;
        let mut secs = 100;
        for _ in 0..200 {
            secs += 1;
            r.at(secs);
            match next(4) {
                0 | 1 => {
                    let bid = 5_000 + next(1_000);
                    r.book(bid, bid + 1 + next(4));
                    let mid = r.state.mid_price(M).expect("a mid");
                    if let Some(old) = last_mid {
                        inventory += position * (mid - old);
                    }
                    last_mid = Some(mid);
                }
                2 => {
                    let side = if next(2) == 0 { Side::Buy } else { Side::Sell };
                    let (lots, price) = (1 + next(3_000), 5_000 + next(1_000));
                    let fee = Decimal::new(next(5_000) as i64, 6);
                    r.fill(side, lots, price, fee, Liquidity::Maker);
                    let size = spec.lots_to_size(Lots(lots));
                    let px = spec.ticks_to_price(Ticks(price));
                    let signed = if side == Side::Buy { size } else { -size };
                    let mid = last_mid.unwrap_or(px);
                    spread += (mid - px) * signed;
                    cash -= px * signed;
                    fees += fee;
                    volume += size;
                    last_mid.get_or_insert(px);
                    position += signed;
                    max_abs = max_abs.max(position.abs());
                }
                _ => {
                    let rate = Decimal::new(next(2_000) as i64 - 1_000, 7);
                    r.feed(Event::Funding(FundingRate {
                        market: M,
                        rate,
                        ts: Timestamp::from_secs(secs),
                    }));
                    if seen_funding && let Some(mid) = last_mid {
                        funding -= rate * position * mid;
                    }
                    seen_funding = true;
                }
            }
            let total = spread + inventory - fees + funding;
            peak = peak.max(total);
            drawdown = drawdown.max(peak - total);
        }
        let p = r.tracker.performance();
        let m = &p.markets[0];
        assert_eq!(m.spread_capture, spread);
        assert_eq!(m.inventory_pnl, inventory);
        assert_eq!(m.cash, cash);
        assert_eq!(m.fees, fees);
        assert_eq!(m.funding, funding);
        assert_eq!(m.volume, volume);
        assert_eq!(m.max_abs_inventory, max_abs);
        assert_eq!(m.final_position, position);
        assert_eq!(m.last_mid, last_mid);
        assert_eq!(p.max_drawdown, drawdown);
        assert_eq!(p.total_pnl, p.marked_to_mid());
    }
}
