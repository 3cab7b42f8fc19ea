//! Unit tests of `market_maker`: the quoting rules against hand-computed values, and the
//! strategy's reactions driven through a real `State` and `Context`.

use rust_decimal_macros::dec;

use super::*;
use perpbot_core::state::State;
use perpbot_core::strategy::Outbox;
use perpbot_model::{
    BookUpdate, BookUpdateKind, ClientOrderId, ConnectionEvent, FundingRate, Intent, Level,
    OrderRequest, Position, PositionUpdate,
};

const M: MarketId = MarketId(1338);

/// The test params (γ 0.05, fixed τ = 10 s, 1 APT quotes, 3 APT limit), `extra` overriding.
fn params(extra: &str) -> toml::Table {
    let mut t: toml::Table = toml::from_str(
        "market = 1338\norder_size = 1\nmax_inventory = 3\ngamma = 0.05\n\
         horizon = \"fixed\"\ntau_secs = 10",
    )
    .unwrap();
    t.extend(toml::from_str::<toml::Table>(extra).unwrap());
    t
}

fn mm_with(extra: &str) -> MarketMaker {
    let mut mm = MarketMaker::from_params(&params(extra)).unwrap();
    mm.set_limits(&MarketSpec::kana_apt_testnet()).unwrap();
    mm
}

fn mm() -> MarketMaker {
    mm_with("")
}

/// σ = 1 tick/√s, κ = 1 per tick (the defaults before any estimate).
fn market() -> MarketParams {
    mm().market_params()
}

fn book(bid: u64, ask: u64) -> OrderBook {
    let mut b = OrderBook::new();
    b.replace(
        &[Level::new(bid, 10_000)],
        &[Level::new(ask, 10_000)],
        Timestamp(1),
    );
    b
}

fn net(lots: i128) -> Inventory {
    Inventory {
        net: lots,
        ..Inventory::default()
    }
}

#[test]
fn defaults_before_any_estimate() {
    let m = market();
    assert_eq!((m.sigma, m.kappa, m.gamma), (1.0, 1.0, 0.05));
}

#[test]
fn flat_quotes_against_hand_computed_values() {
    // mid 5520, q = 0, γ = 0.05, σ = 1, τ = 10, κ = 1:
    // spread = 0.05·1·10 + (2/0.05)·ln(1.05) = 0.5 + 1.951606 = 2.451606; half 1.225803.
    // bid = floor(5518.774) = 5518, ask = ceil(5521.226) = 5522.
    let l = mm()
        .desired_quotes(&book(5518, 5522), net(0), &market(), 0.0, 0.0)
        .unwrap();
    assert!((l.model.reservation - 5520.0).abs() < 1e-9);
    assert!((l.model.half_spread - 1.225_803).abs() < 1e-6);
    assert_eq!(
        l.top,
        Quotes {
            bid: Some(Ticks(5518)),
            ask: Some(Ticks(5522))
        }
    );
    assert_eq!((l.bid_levels, l.ask_levels), (1, 1));
}

#[test]
fn inventory_moves_the_reservation_price_and_rounds_outward() {
    // Long 2 units: r = 5520 − 2·0.05·1·10 = 5519; bid floor(5517.774) = 5517, ask
    // ceil(5520.226) = 5521 — each rounded away from r, the safe direction.
    let l = mm()
        .desired_quotes(&book(5518, 5522), net(2000), &market(), 0.0, 0.0)
        .unwrap();
    assert!((l.model.reservation - 5519.0).abs() < 1e-9);
    assert_eq!(l.top.bid, Some(Ticks(5517)));
    assert_eq!(l.top.ask, Some(Ticks(5521)));
    // Short 2 units: r = 5521; bid floor(5519.774) = 5519, ask ceil(5522.226) = 5523.
    let s = mm()
        .desired_quotes(&book(5518, 5522), net(-2000), &market(), 0.0, 0.0)
        .unwrap();
    assert_eq!(s.top.bid, Some(Ticks(5519)));
    assert_eq!(s.top.ask, Some(Ticks(5523)));
}

#[test]
fn target_inventory_shifts_the_neutral_point() {
    // Target long 1: a position of 1 is neutral, flat is "short 1 unit".
    let m = mm_with("target_inventory = 1");
    let at_target = m
        .desired_quotes(&book(5518, 5522), net(1000), &market(), 0.0, 0.0)
        .unwrap();
    assert!((at_target.model.reservation - 5520.0).abs() < 1e-9);
    let flat = m
        .desired_quotes(&book(5518, 5522), net(0), &market(), 0.0, 0.0)
        .unwrap();
    assert!((flat.model.reservation - 5520.5).abs() < 1e-9);
}

#[test]
fn soft_limit_quotes_only_the_reducing_side() {
    let m = mm_with("soft_inventory = 2");
    let long = m
        .desired_quotes(&book(5518, 5522), net(2000), &market(), 0.0, 0.0)
        .unwrap();
    assert_eq!(long.top.bid, None, "past the soft limit long: no bid");
    assert!(long.top.ask.is_some());
    let short = m
        .desired_quotes(&book(5518, 5522), net(-2000), &market(), 0.0, 0.0)
        .unwrap();
    assert_eq!(short.top.ask, None, "past the soft limit short: no ask");
    assert!(short.top.bid.is_some());
}

#[test]
fn hard_limit_counts_the_worst_case_including_unknown_orders() {
    let m = mm_with("levels = 3\nlevel_spacing_ticks = 2");
    // Flat: 3 levels a side fit within 3 units.
    let flat = m
        .desired_quotes(&book(5518, 5522), net(0), &market(), 0.0, 0.0)
        .unwrap();
    assert_eq!((flat.bid_levels, flat.ask_levels), (3, 3));
    // Long 1: only 2 more bids fit; 4 asks would, capped at 3 levels.
    let long = m
        .desired_quotes(&book(5518, 5522), net(1000), &market(), 0.0, 0.0)
        .unwrap();
    assert_eq!((long.bid_levels, long.ask_levels), (2, 3));
    // An order of unknown outcome may still fill: one bid fewer.
    let unknown = Inventory {
        net: 1000,
        uncancellable_buys: 1000,
        uncancellable_sells: 0,
    };
    let l = m
        .desired_quotes(&book(5518, 5522), unknown, &market(), 0.0, 0.0)
        .unwrap();
    assert_eq!(l.bid_levels, 1);
    // At the hard limit: no bid at all.
    let full = m
        .desired_quotes(&book(5518, 5522), net(3000), &market(), 0.0, 0.0)
        .unwrap();
    assert_eq!((full.top.bid, full.bid_levels), (None, 0));
}

#[test]
fn quotes_never_cross_the_book() {
    // A big γ and a long position push the ask far below the best bid: clamped one tick above.
    let m = mm_with("gamma = 2");
    let l = m
        .desired_quotes(&book(5518, 5519), net(2000), &m.market_params(), 0.0, 0.0)
        .unwrap();
    assert_eq!(l.top.ask, Some(Ticks(5519)));
    assert!(l.top.bid.unwrap().0 < 5519);
    let s = m
        .desired_quotes(&book(5518, 5519), net(-2000), &m.market_params(), 0.0, 0.0)
        .unwrap();
    assert_eq!(s.top.bid, Some(Ticks(5518)));
    assert!(s.top.ask.unwrap().0 > 5518);
}

#[test]
fn positive_funding_leans_short() {
    let m = mm_with("funding_skew = 10");
    let neutral = m
        .desired_quotes(&book(5518, 5522), net(0), &market(), 0.0, 0.0)
        .unwrap();
    let longs_pay = m
        .desired_quotes(&book(5518, 5522), net(0), &market(), 0.0, 0.0001)
        .unwrap();
    let shorts_pay = m
        .desired_quotes(&book(5518, 5522), net(0), &market(), 0.0, -0.0001)
        .unwrap();
    // 10 · 0.0001 · 5520 = 5.52 ticks.
    assert!((neutral.model.reservation - longs_pay.model.reservation - 5.52).abs() < 1e-9);
    assert!(
        longs_pay.top.ask < neutral.top.ask,
        "cheaper ask: sell more"
    );
    assert!(shorts_pay.top.bid > neutral.top.bid, "richer bid: buy more");
}

#[test]
fn session_horizon_narrows_toward_the_session_end() {
    let m = mm_with("horizon = \"session\"\nsession_secs = 100");
    let b = book(5500, 5540);
    let early = m
        .desired_quotes(&b, net(1000), &market(), 0.0, 0.0)
        .unwrap();
    let late = m
        .desired_quotes(&b, net(1000), &market(), 99.0, 0.0)
        .unwrap();
    assert!(late.model.half_spread < early.model.half_spread);
    assert!(
        late.model.reservation > early.model.reservation,
        "less skew near the end"
    );
}

#[test]
fn glft_quotes_skew_against_inventory() {
    let m = mm_with("horizon = \"glft\"");
    let b = book(5500, 5540);
    let flat = m.desired_quotes(&b, net(0), &market(), 0.0, 0.0).unwrap();
    let long = m
        .desired_quotes(&b, net(2000), &market(), 0.0, 0.0)
        .unwrap();
    assert!(long.model.reservation < flat.model.reservation);
    assert_eq!(long.model.half_spread, flat.model.half_spread);
}

#[test]
fn requote_tolerance() {
    let mut m = mm();
    let resting = Quotes {
        bid: Some(Ticks(5514)),
        ask: Some(Ticks(5526)),
    };
    m.last_requote = Some(Timestamp(0));
    let now = Timestamp::from_millis(1000);
    let want = |bid, ask| Quotes { bid, ask };
    assert!(
        !m.needs_requote(resting, want(Some(Ticks(5516)), Some(Ticks(5526))), now),
        "2 ticks: within tolerance"
    );
    assert!(
        m.needs_requote(resting, want(Some(Ticks(5517)), Some(Ticks(5526))), now),
        "3 ticks: requote"
    );
    assert!(
        m.needs_requote(resting, want(None, Some(Ticks(5526))), now),
        "a side to pull"
    );
    assert!(
        m.needs_requote(resting, resting, Timestamp::from_millis(31_000)),
        "aged out"
    );
}

#[test]
fn take_profit_and_stop_loss_round_in_the_safe_direction() {
    let spec = MarketSpec::kana_apt_testnet();
    // Entry 5.5123, 10 bps = 0.0055123.
    let e = dec!(5.5123);
    let b = dec!(10);
    // Long TP 5.5178123 → up 5518; long SL 5.5067877 → up (toward entry) 5507.
    assert_eq!(
        trigger_ticks(&spec, Trigger::TakeProfit, PositionSide::Long, e, b),
        Some(Ticks(5518))
    );
    assert_eq!(
        trigger_ticks(&spec, Trigger::StopLoss, PositionSide::Long, e, b),
        Some(Ticks(5507))
    );
    // Short TP 5.5067877 → down 5506; short SL 5.5178123 → down (toward entry) 5517.
    assert_eq!(
        trigger_ticks(&spec, Trigger::TakeProfit, PositionSide::Short, e, b),
        Some(Ticks(5506))
    );
    assert_eq!(
        trigger_ticks(&spec, Trigger::StopLoss, PositionSide::Short, e, b),
        Some(Ticks(5517))
    );
}

#[test]
fn bad_params_name_the_key() {
    let cases = [
        (
            "market = 1338\norder_size = 1\nmax_inventory = 3\nspread = 3",
            "spread",
        ),
        (
            "market = 1338\norder_size = 2\nmax_inventory = 1",
            "max_inventory",
        ),
        (
            "market = 1338\norder_size = 1\nmax_inventory = 3\ngamma = -1",
            "gamma",
        ),
        (
            "market = 1338\norder_size = 1\nmax_inventory = 3\nsoft_inventory = 4",
            "soft_inventory",
        ),
        (
            "market = 1338\norder_size = 1\nmax_inventory = 3\nhorizon = \"forever\"",
            "horizon",
        ),
        (
            "market = 1338\norder_size = 1\nmax_inventory = 3\nkappa_floor = 5\nkappa_cap = 1",
            "kappa_floor",
        ),
        (
            "market = 1338\norder_size = 1\nmax_inventory = 3\nlevels = 0",
            "levels",
        ),
        (
            "market = 1338\norder_size = 1\nmax_inventory = 3\nstop_loss_bps = \"0\"",
            "stop_loss_bps",
        ),
    ];
    for (text, key) in cases {
        let t: toml::Table = toml::from_str(text).unwrap();
        let e = MarketMaker::from_params(&t).unwrap_err().to_string();
        assert!(e.contains(key), "{key}: {e}");
    }
}

// ---- driven through State and Context ---------------------------------------------------------

struct Harness {
    state: State,
    out: Outbox,
    mm: MarketMaker,
}

impl Harness {
    fn new(extra: &str) -> Harness {
        let spec = MarketSpec::kana_apt_testnet();
        let mut state = State::new(std::slice::from_ref(&spec));
        state.set_now(Timestamp::from_secs(10));
        let mut h = Harness {
            state,
            out: Outbox::new(0),
            mm: MarketMaker::from_params(&params(extra)).unwrap(),
        };
        let mut ctx = Context::new(&h.state, TradingState::Active, &mut h.out);
        h.mm.on_start(&mut ctx).unwrap();
        h.out.intents.clear();
        h
    }

    fn book_event(&self, bid: u64, ask: u64) -> Event {
        Event::Book(BookUpdate {
            market: M,
            kind: BookUpdateKind::Snapshot,
            bids: vec![Level::new(bid, 10_000)],
            asks: vec![Level::new(ask, 10_000)],
            ts: self.state.now(),
        })
    }

    /// Apply `e` to the state (as the engine does) and hand it to the strategy.
    fn feed(&mut self, e: &Event, trading: TradingState) -> Vec<Intent> {
        self.state.apply(e);
        let mut ctx = Context::new(&self.state, trading, &mut self.out);
        self.mm.on_event(e, &mut ctx).unwrap();
        std::mem::take(&mut self.out.intents)
    }

    fn advance(&mut self, ms: u64) {
        let now = self.state.now().plus(Duration::from_millis(ms));
        self.state.set_now(now);
    }

    fn track(&mut self, intents: &[Intent]) {
        for i in intents {
            if let Intent::ReplaceQuotes { place, .. } = i {
                for r in place {
                    self.state.track_new_order(r.clone());
                }
            }
        }
    }
}

fn conn(state: ConnectionState) -> Event {
    Event::Connection(ConnectionEvent {
        stream: "kana-ws".into(),
        state,
        ts: Timestamp(0),
    })
}

fn placed(intents: &[Intent]) -> Vec<(Side, u64)> {
    intents
        .iter()
        .flat_map(|i| match i {
            Intent::ReplaceQuotes { place, .. } => place
                .iter()
                .map(|r: &OrderRequest| (r.order.side, r.order.price.map_or(0, |p| p.0)))
                .collect(),
            _ => vec![],
        })
        .collect()
}

#[test]
fn quotes_a_ladder_as_one_post_only_replace() {
    let mut h = Harness::new("levels = 2\nlevel_spacing_ticks = 3");
    let e = h.book_event(5518, 5522);
    let out = h.feed(&e, TradingState::Active);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(
        placed(&out),
        vec![
            (Side::Buy, 5518),
            (Side::Buy, 5515),
            (Side::Sell, 5522),
            (Side::Sell, 5525)
        ]
    );
    let Intent::ReplaceQuotes { place, .. } = &out[0] else {
        unreachable!()
    };
    assert!(
        place
            .iter()
            .all(|r| r.order.restriction == perpbot_model::Restriction::PostOnly)
    );
}

#[test]
fn waits_for_orders_in_flight_and_respects_the_requote_interval() {
    let mut h = Harness::new("");
    let e = h.book_event(5518, 5522);
    let first = h.feed(&e, TradingState::Active);
    h.track(&first);
    // The quotes are pending: a moved book does not requote yet.
    h.advance(1_000);
    let moved = h.book_event(5530, 5534);
    assert!(h.feed(&moved, TradingState::Active).is_empty());
}

#[test]
fn pulls_quotes_while_the_stream_reconnects() {
    let mut h = Harness::new("");
    let book = h.book_event(5518, 5522);
    assert!(matches!(
        &h.feed(&book, TradingState::Active)[..],
        [Intent::ReplaceQuotes { .. }]
    ));
    let pulled = h.feed(&conn(ConnectionState::Reconnecting), TradingState::Active);
    assert!(
        matches!(&pulled[..], [Intent::CancelAll { market: Some(_) }]),
        "{pulled:?}"
    );
    h.mm.last_requote = None;
    assert!(
        h.feed(&book, TradingState::Active).is_empty(),
        "no quoting while blind"
    );
    assert!(
        h.feed(&conn(ConnectionState::Resynced), TradingState::Active)
            .is_empty()
    );
    assert!(
        matches!(
            &h.feed(&book, TradingState::Active)[..],
            [Intent::ReplaceQuotes { .. }]
        ),
        "quoting resumes"
    );
}

#[test]
fn stale_book_pulls_quotes_and_stops_quoting() {
    let mut h = Harness::new("stale_book_ms = 2000");
    let book = h.book_event(5518, 5522);
    let first = h.feed(&book, TradingState::Active);
    h.track(&first);
    // 3 s without a book update: the timer finds it stale and pulls the quotes.
    h.advance(3_000);
    let out = h.feed(
        &Event::Timer(perpbot_model::TimerId(1)),
        TradingState::Active,
    );
    assert!(
        matches!(&out[..], [Intent::CancelAll { market: Some(M) }]),
        "{out:?}"
    );
    // No new quotes on a stale book even with nothing resting.
    let mut fresh = Harness::new("stale_book_ms = 2000");
    fresh.feed(&book, TradingState::Active);
    fresh.advance(3_000);
    fresh.mm.last_requote = None;
    let out = fresh.feed(
        &Event::Timer(perpbot_model::TimerId(1)),
        TradingState::Active,
    );
    assert!(placed(&out).is_empty(), "{out:?}");
}

#[test]
fn reduce_only_stops_quoting() {
    let mut h = Harness::new("");
    let book = h.book_event(5518, 5522);
    let first = h.feed(&book, TradingState::Active);
    h.track(&first);
    let out = h.feed(&book, TradingState::ReduceOnly);
    assert!(
        matches!(&out[..], [Intent::CancelAll { market: Some(M) }]),
        "{out:?}"
    );
}

#[test]
fn own_drawdown_limit_stops_quoting_for_good() {
    let mut h = Harness::new("max_drawdown = \"50\"");
    // The PnL was 100 at its peak and is 0 now.
    h.mm.peak_pnl = dec!(100);
    let book = h.book_event(5518, 5522);
    let out = h.feed(&book, TradingState::Active);
    assert!(placed(&out).is_empty(), "{out:?}");
    assert!(h.mm.halted);
    h.mm.peak_pnl = Decimal::ZERO;
    h.advance(60_000);
    let later = h.book_event(5518, 5522);
    assert!(placed(&h.feed(&later, TradingState::Active)).is_empty());
}

#[test]
fn take_profit_and_stop_loss_follow_the_position_once() {
    let mut h = Harness::new("take_profit_bps = \"100\"\nstop_loss_bps = \"50\"");
    let book = h.book_event(5490, 5510);
    h.feed(&book, TradingState::Active);
    let mut long = Position::flat(M, PositionSide::Long, h.state.now());
    long.lots = Lots(1000);
    long.entry_price = dec!(5.5);
    long.leverage = 2;
    let pos = |p: &Position| {
        Event::Position(PositionUpdate {
            positions: vec![p.clone()],
            snapshot: true,
        })
    };
    let out = h.feed(&pos(&long), TradingState::Active);
    let tp_sl: Vec<_> = out
        .iter()
        .filter(|i| {
            matches!(
                i,
                Intent::UpdateTakeProfit { .. } | Intent::UpdateStopLoss { .. }
            )
        })
        .collect();
    // TP 5.5·1.01 = 5.555 → 5555; SL 5.5·0.995 = 5.4725 → 5473 (toward the entry).
    assert_eq!(
        tp_sl,
        vec![
            &Intent::UpdateTakeProfit {
                market: M,
                position: PositionSide::Long,
                price: Some(Ticks(5555))
            },
            &Intent::UpdateStopLoss {
                market: M,
                position: PositionSide::Long,
                price: Some(Ticks(5473))
            }
        ]
    );
    // The same position again: nothing new to send.
    let again = h.feed(&pos(&long), TradingState::Active);
    assert!(
        !again.iter().any(|i| matches!(
            i,
            Intent::UpdateTakeProfit { .. } | Intent::UpdateStopLoss { .. }
        )),
        "{again:?}"
    );
    // The entry moves by 0.01 (10 ticks, beyond the 5-tick tolerance): both move.
    long.entry_price = dec!(5.51);
    let moved = h.feed(&pos(&long), TradingState::Active);
    assert_eq!(
        moved
            .iter()
            .filter(|i| matches!(
                i,
                Intent::UpdateTakeProfit { .. } | Intent::UpdateStopLoss { .. }
            ))
            .count(),
        2
    );
}

#[test]
fn estimators_learn_from_books_and_trades() {
    let mut h = Harness::new(
        "min_volatility_samples = 3\nvolatility_sample_ms = 1000\nmin_intensity_trades = 5\nintensity_refit_ms = 0",
    );
    // The mid alternates ±2 ticks every second: σ² = 4 ticks²/s → σ = 2.
    for i in 0..6u64 {
        h.advance(1_000);
        let off = if i % 2 == 0 { 0 } else { 2 };
        let e = h.book_event(5518 + off, 5522 + off);
        h.feed(&e, TradingState::Active);
    }
    assert!((h.mm.market_params().sigma - 2.0).abs() < 1e-9);
    // Trades at 1, 2, 3, … ticks from the mid: a decaying intensity gets fitted.
    for (i, d) in [1u64, 1, 1, 1, 2, 2, 2, 3, 3, 4].into_iter().enumerate() {
        h.advance(100 * i as u64);
        let e = Event::Trade(perpbot_model::PublicTrade {
            market: M,
            price: Ticks(5522 + d),
            lots: Lots(1000),
            aggressor: Some(Side::Buy),
            ts: h.state.now(),
        });
        h.feed(&e, TradingState::Active);
    }
    let kappa = h.mm.market_params().kappa;
    assert!(kappa != 1.0 && kappa > 0.0, "κ = {kappa}");
}

/// A backlog of books worked through late — the engine stalled for three seconds, then caught
/// up — is sampled at the books' own times, so the estimate is the one the same books give on
/// time. Paired with the engine's clock instead, the first late book's move is spread over the
/// stall, and the next sample sees three seconds of the trend over one: the estimate is off
/// (here σ read as 1.36 instead of 2; other backlogs read it too high), and the quotes' spread
/// goes with σ².
#[test]
fn a_backlog_of_books_does_not_read_as_volatility() {
    let params = "min_volatility_samples = 3\nvolatility_sample_ms = 1000";
    // The mid rises two ticks a second: squared moves of 4 ticks² a second, σ = 2.
    let book = |h: &Harness, i: u64, at: Timestamp| match h.book_event(5518 + 2 * i, 5522 + 2 * i) {
        Event::Book(mut b) => {
            b.ts = at;
            Event::Book(b)
        }
        e => e,
    };
    let mut on_time = Harness::new(params);
    let mut late = Harness::new(params);
    let start = late.state.now();
    // When the late engine handles book i: the first on time, the next three after a stall of
    // three seconds (a millisecond apart), the rest a second apart again.
    let late_steps_ms = [1_000, 3_000, 1, 1, 1_000, 1_000, 1_000, 1_000, 1_000, 1_000];
    for (i, step) in (0..).zip(late_steps_ms) {
        let venue_time = start.plus(Duration::from_secs(i + 1));
        on_time.advance(1_000);
        let e = book(&on_time, i, venue_time);
        on_time.feed(&e, TradingState::Active);
        late.advance(step);
        let e = book(&late, i, venue_time);
        late.feed(&e, TradingState::Active);
    }
    let (a, b) = (
        on_time.mm.market_params().sigma,
        late.mm.market_params().sigma,
    );
    assert!((a - 2.0).abs() < 1e-9, "on time: σ = {a}");
    assert!((b - 2.0).abs() < 1e-9, "late: σ = {b}");
}

/// The same for trades: a backlog of trades worked through after a stall fits the same
/// order-arrival intensity as the trades on time. Stamped with the engine's clock, the late
/// trades would crowd the end of the window and the stall would stretch the span the counts
/// are divided by.
#[test]
fn a_backlog_of_trades_fits_the_intensity_the_trades_had() {
    let params = "min_intensity_trades = 5\nintensity_refit_ms = 0\nintensity_window_secs = 30";
    let mut on_time = Harness::new(params);
    let mut late = Harness::new(params);
    let start = late.state.now();
    let book = |h: &Harness, at: Timestamp| match h.book_event(5518, 5522) {
        Event::Book(mut b) => {
            b.ts = at;
            Event::Book(b)
        }
        e => e,
    };
    let first = book(&on_time, start);
    on_time.feed(&first, TradingState::Active);
    late.feed(&first, TradingState::Active);
    // Trades 1–4 ticks from the mid, half a second apart at the venue; the late engine stalls
    // for five seconds after the third and takes the rest a millisecond apart.
    let distances = [1u64, 1, 1, 2, 1, 2, 2, 3, 1, 3, 4, 2];
    for (i, d) in (0u64..).zip(distances) {
        let venue_time = start.plus(Duration::from_millis(500 * (i + 1)));
        let trade = Event::Trade(perpbot_model::PublicTrade {
            market: M,
            price: Ticks(5520 + d),
            lots: Lots(1000),
            aggressor: Some(Side::Buy),
            ts: venue_time,
        });
        on_time.advance(500);
        on_time.feed(&trade, TradingState::Active);
        late.advance(match i {
            0..=2 => 500,
            3 => 5_000,
            _ => 1,
        });
        late.feed(&trade, TradingState::Active);
    }
    assert!(
        late.state.now() > on_time.state.now(),
        "the late engine ends later"
    );
    let (a, b) = (on_time.mm.market_params(), late.mm.market_params());
    assert!(a.kappa != 1.0 && a.kappa > 0.0, "fitted: κ = {}", a.kappa);
    assert!(
        (a.kappa - b.kappa).abs() < 1e-12,
        "κ {} vs {}",
        a.kappa,
        b.kappa
    );
    assert!(
        (a.intensity - b.intensity).abs() < 1e-12,
        "A {} vs {}",
        a.intensity,
        b.intensity
    );
}

#[test]
fn funding_from_state_reaches_the_quotes() {
    let mut h = Harness::new("funding_skew = 10");
    h.feed(
        &Event::Funding(FundingRate {
            market: M,
            rate: dec!(0.001),
            ts: h.state.now(),
        }),
        TradingState::Active,
    );
    let book = h.book_event(5500, 5540);
    let out = placed(&h.feed(&book, TradingState::Active));
    // 10 · 0.001 · 5520 = 55.2 ticks lower: r = 5464.8, bid floor(5463.57) = 5463, and the
    // ask ceil(5466.03) = 5467 would cross the book: clamped one tick above the best bid.
    assert_eq!(out, vec![(Side::Buy, 5463), (Side::Sell, 5501)]);
}

#[test]
fn only_the_side_that_changed_is_replaced() {
    let mut h = Harness::new("soft_inventory = 2");
    let book = h.book_event(5518, 5522);
    let first = h.feed(&book, TradingState::Active);
    h.track(&first);
    let Intent::ReplaceQuotes { place, .. } = &first[0] else {
        panic!("{first:?}")
    };
    let ids: Vec<ClientOrderId> = place.iter().map(|r| r.client_id).collect();
    for (i, id) in ids.iter().enumerate() {
        h.state.apply_order_event(
            *id,
            &perpbot_model::OrderEvent::Accepted {
                venue_id: Some(perpbot_model::VenueOrderId(100 + i as u128)),
            },
        );
    }
    let (bid, ask) = (ids[0], ids[1]);
    // Long 2 APT (the soft limit): the bid must go; the ask moves by 1 tick, within the
    // tolerance, so it keeps its place in the queue.
    h.advance(1_000);
    let mut long = Position::flat(M, PositionSide::Long, h.state.now());
    long.lots = Lots(2000);
    long.entry_price = dec!(5.52);
    long.leverage = 2;
    let out = h.feed(
        &Event::Position(PositionUpdate {
            positions: vec![long],
            snapshot: true,
        }),
        TradingState::Active,
    );
    assert_eq!(out.len(), 1, "{out:?}");
    let Intent::ReplaceQuotes { cancel, place, .. } = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(
        cancel,
        &vec![bid],
        "only the bid is cancelled, the ask {ask} stays"
    );
    assert!(
        place.is_empty(),
        "no new bid past the soft limit: {place:?}"
    );
}
