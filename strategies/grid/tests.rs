use super::*;
use perpbot_core::state::State;
use perpbot_core::strategy::Outbox;
use perpbot_model::{
    BookUpdate, BookUpdateKind, ConnectionEvent, Fill, Intent, Level, Liquidity, MarketSpec,
    OrderEvent, OrderUpdate, OrderUpdateKind, Position, PositionUpdate, RejectReason,
    RiskRejection, TradeId, TradingStateChange, VenueOrderId,
};

/// Three levels a side, five ticks apart, one APT (1000 lots) each.
const BASE: &str = "market = 1338\norder_size = 1\nlevels = 3\nmax_inventory = 10\n";

/// What a placement looks like, for comparing with hand-computed expectations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Placed {
    side: Side,
    price: u64,
    direction: Direction,
    leverage: u32,
    lots: u64,
}

fn open(side: Side, price: u64) -> Placed {
    Placed {
        side,
        price,
        direction: Direction::Open,
        leverage: 2,
        lots: 1000,
    }
}

fn close(side: Side, price: u64, leverage: u32) -> Placed {
    Placed {
        direction: Direction::Close,
        leverage,
        ..open(side, price)
    }
}

/// Every placement in `intents` (single places and those inside a replace), in order.
fn placed(intents: &[Intent]) -> Vec<Placed> {
    let one = |o: &NewOrder| {
        assert_eq!(o.restriction, perpbot_model::Restriction::PostOnly);
        Placed {
            side: o.side,
            price: o.price.map_or(0, |p| p.0),
            direction: o.direction,
            leverage: o.leverage,
            lots: o.lots.0,
        }
    };
    intents
        .iter()
        .flat_map(|i| match i {
            Intent::Place(r) => vec![one(&r.order)],
            Intent::ReplaceQuotes { place, .. } => place.iter().map(|r| one(&r.order)).collect(),
            _ => vec![],
        })
        .collect()
}

/// The strategy with a hand-made state, standing in for the engine: events are applied to
/// the state and handed to the strategy, and what it emits is tracked the way the engine and
/// executor track it (new orders pending, cancelled ones pending-cancel).
struct Harness {
    state: State,
    out: Outbox,
    grid: Grid,
    trading: TradingState,
    /// When false, placements are not tracked (as if the risk check refused them).
    track: bool,
}

impl Harness {
    fn new(params: &str) -> Harness {
        let spec = MarketSpec::kana_apt_testnet();
        let table: toml::Table = toml::from_str(params).unwrap();
        let mut h = Harness {
            state: State::new(std::slice::from_ref(&spec)),
            out: Outbox::new(0),
            grid: Grid::from_params(&table).unwrap(),
            trading: TradingState::Active,
            track: true,
        };
        h.at(10_000);
        let mut ctx = Context::new(&h.state, h.trading, &mut h.out);
        h.grid.on_start(&mut ctx).unwrap();
        assert_eq!(out_timers(&mut h.out), 1, "a revisit timer is set at start");
        h
    }

    fn at(&mut self, ms: u64) {
        self.state.set_now(Timestamp::from_millis(ms));
    }

    fn later(&mut self, ms: u64) {
        let now = self.state.now().as_millis();
        self.at(now + ms);
    }

    /// Apply to the state, then hand to the strategy (even when the state calls it a
    /// duplicate: the strategy must cope either way).
    fn feed(&mut self, event: Event) -> Vec<Intent> {
        self.state.apply(&event);
        let mut ctx = Context::new(&self.state, self.trading, &mut self.out);
        self.grid.on_event(&event, &mut ctx).unwrap();
        let intents = std::mem::take(&mut self.out.intents);
        self.out.timers.clear();
        for intent in &intents {
            match intent {
                Intent::Place(r) if self.track => self.state.track_new_order(r.clone()),
                Intent::ReplaceQuotes { cancel, place, .. } => {
                    cancel.iter().for_each(|id| self.cancel_requested(*id));
                    if self.track {
                        place
                            .iter()
                            .for_each(|r| self.state.track_new_order(r.clone()));
                    }
                }
                Intent::Cancel { client_id, .. } => self.cancel_requested(*client_id),
                Intent::CancelAll { .. } => {
                    for id in self.live() {
                        self.cancel_requested(id);
                    }
                }
                _ => {}
            }
        }
        intents
    }

    fn cancel_requested(&mut self, id: ClientOrderId) {
        if matches!(
            self.state.order_status(id),
            Some(OrderStatus::PendingNew | OrderStatus::Open | OrderStatus::PartiallyFilled)
        ) {
            self.state
                .apply_order_event(id, &OrderEvent::CancelRequested);
        }
    }

    fn live(&self) -> Vec<ClientOrderId> {
        let mut ids: Vec<_> = self
            .state
            .live_orders(None)
            .map(|o| o.client_id())
            .collect();
        ids.sort();
        ids
    }

    /// The live order resting at `price`.
    fn at_price(&self, price: u64) -> ClientOrderId {
        let found: Vec<_> = self
            .state
            .live_orders(None)
            .filter(|o| o.request.order.price == Some(Ticks(price)))
            .map(|o| o.client_id())
            .collect();
        assert_eq!(found.len(), 1, "one live order at {price}: {found:?}");
        found[0]
    }

    fn book(&mut self, bid: u64, ask: u64) -> Vec<Intent> {
        let ts = self.state.now();
        self.feed(Event::Book(BookUpdate {
            market: MarketId(1338),
            kind: BookUpdateKind::Snapshot,
            bids: vec![Level::new(bid, 10_000)],
            asks: vec![Level::new(ask, 10_000)],
            ts,
        }))
    }

    fn order_update(&mut self, id: ClientOrderId, kind: OrderUpdateKind) -> Vec<Intent> {
        let ts = self.state.now();
        self.feed(Event::Order(OrderUpdate {
            market: MarketId(1338),
            client_id: Some(id),
            venue_id: Some(VenueOrderId(u128::from(id.0) + 1000)),
            kind,
            ts,
        }))
    }

    /// Acknowledge every pending order.
    fn ack_all(&mut self) {
        let pending: Vec<_> = self
            .state
            .live_orders(None)
            .filter(|o| o.status == OrderStatus::PendingNew)
            .map(|o| o.client_id())
            .collect();
        for id in pending {
            assert!(self.order_update(id, OrderUpdateKind::Accepted).is_empty());
        }
    }

    fn fill_event(&self, id: ClientOrderId, trade: u128, lots: u64) -> Event {
        let o = &self.state.order(id).unwrap().request.order;
        Event::Fill(Box::new(Fill {
            market: MarketId(1338),
            client_id: Some(id),
            venue_id: None,
            trade_id: TradeId(trade),
            side: o.side,
            direction: o.direction,
            lots: Lots(lots),
            price: o.price.unwrap(),
            fee: Decimal::ZERO,
            realized_pnl: Decimal::ZERO,
            liquidity: Liquidity::Maker,
            ts: self.state.now(),
        }))
    }

    fn fill(&mut self, id: ClientOrderId, trade: u128, lots: u64) -> Vec<Intent> {
        let e = self.fill_event(id, trade, lots);
        self.feed(e)
    }

    /// The venue's position snapshot: one side held, the other flat.
    fn position(&mut self, side: PositionSide, lots: u64, leverage: u32) -> Vec<Intent> {
        let mut p = Position::flat(MarketId(1338), side, self.state.now());
        p.lots = Lots(lots);
        p.leverage = leverage;
        p.entry_price = Decimal::new(55, 1);
        self.feed(Event::Position(PositionUpdate {
            positions: vec![p],
            snapshot: true,
        }))
    }

    fn connection(&mut self, state: ConnectionState) -> Vec<Intent> {
        self.feed(Event::Connection(ConnectionEvent {
            stream: "kana-ws".into(),
            state,
            ts: Timestamp(0),
        }))
    }

    fn timer(&mut self) -> Vec<Intent> {
        self.feed(Event::Timer(perpbot_model::TimerId(1)))
    }
}

fn out_timers(out: &mut Outbox) -> usize {
    std::mem::take(&mut out.timers).len()
}

fn sorted(mut v: Vec<Placed>) -> Vec<Placed> {
    v.sort_by_key(|p| p.price);
    v
}

/// A grid of three levels a side, acknowledged, around the mid of 5518/5522 (centre 5520):
/// buys 5515/5510/5505, sells 5525/5530/5535.
fn running(params: &str) -> Harness {
    let mut h = Harness::new(params);
    assert_eq!(placed(&h.book(5518, 5522)).len(), 6);
    h.ack_all();
    h
}

#[test]
fn initial_grid_is_centred_on_the_first_mid_and_never_crosses() {
    // Mid of 5518/5521 is 5519.5 ticks, rounded down to a centre of 5519; step 5.
    let mut h = Harness::new(&format!("{BASE}step_ticks = 5"));
    assert!(h.timer().is_empty(), "no book, no grid");
    let intents = h.book(5518, 5521);
    assert!(
        intents.iter().all(|i| matches!(i, Intent::Place(_))),
        "separate places: {intents:?}"
    );
    let got = placed(&intents);
    assert_eq!(
        got,
        vec![
            open(Side::Buy, 5514),
            open(Side::Buy, 5509),
            open(Side::Buy, 5504),
            open(Side::Sell, 5524),
            open(Side::Sell, 5529),
            open(Side::Sell, 5534),
        ],
        "nearest the market first"
    );
    for p in &got {
        match p.side {
            Side::Buy => assert!(p.price < 5521, "{p:?} crosses the ask"),
            Side::Sell => assert!(p.price > 5518, "{p:?} crosses the bid"),
        }
    }
    assert_eq!(
        h.grid.layout(),
        Some(Layout {
            center: Ticks(5519),
            step: 5
        })
    );
    assert!(h.book(5518, 5521).is_empty(), "nothing placed twice");

    // step_bps: 10 bps of 5519 ticks is 5.519, rounded down to the same 5 ticks.
    let mut h = Harness::new(&format!("{BASE}step_bps = \"10\""));
    assert_eq!(placed(&h.book(5518, 5521)), got);
}

#[test]
fn a_filled_buy_is_replaced_by_a_closing_sell_one_step_up() {
    let mut h = running(&format!("{BASE}step_ticks = 5"));
    let buy = h.at_price(5515);
    h.book(5513, 5517);
    // Kana's stream reports the position before the fill; the close takes its leverage.
    assert!(h.position(PositionSide::Long, 1000, 3).is_empty());
    let intents = h.fill(buy, 1, 1000);
    assert_eq!(placed(&intents), vec![close(Side::Sell, 5520, 3)]);
    assert!(matches!(&intents[..], [Intent::Place(_)]));
}

#[test]
fn a_replacement_waits_for_the_position_its_fill_opened() {
    // The paper venue reports the fill first: the sell waits for the long it should close.
    let mut h = running(&format!("{BASE}step_ticks = 5"));
    let buy = h.at_price(5515);
    assert!(h.fill(buy, 1, 1000).is_empty(), "long not in the state yet");
    assert_eq!(
        placed(&h.position(PositionSide::Long, 1000, 2)),
        vec![close(Side::Sell, 5520, 2)]
    );

    // If the position never shows, the sell goes out as the state says after min_replace_ms.
    let mut h = running(&format!("{BASE}step_ticks = 5"));
    let buy = h.at_price(5515);
    assert!(h.fill(buy, 1, 1000).is_empty());
    h.later(999);
    assert!(h.timer().is_empty());
    h.later(1);
    assert_eq!(placed(&h.timer()), vec![open(Side::Sell, 5520)]);
}

#[test]
fn a_filled_sell_is_replaced_by_a_buy_one_step_down() {
    // An opening sell with the short it opened reported: a closing buy one step down.
    let mut h = running(&format!("{BASE}step_ticks = 5"));
    let sell = h.at_price(5525);
    h.position(PositionSide::Short, 1000, 4);
    assert_eq!(
        placed(&h.fill(sell, 1, 1000)),
        vec![close(Side::Buy, 5520, 4)]
    );

    // A round trip: buy 5515 → closing sell 5520 → it fills → an opening buy at 5515 again
    // (a closing fill opened nothing, so nothing to wait for).
    let mut h = running(&format!("{BASE}step_ticks = 5"));
    let buy = h.at_price(5515);
    h.position(PositionSide::Long, 1000, 2);
    assert_eq!(
        placed(&h.fill(buy, 1, 1000)),
        vec![close(Side::Sell, 5520, 2)]
    );
    h.ack_all();
    let sell = h.at_price(5520);
    assert_eq!(placed(&h.fill(sell, 2, 1000)), vec![open(Side::Buy, 5515)]);
    assert!(h.position(PositionSide::Long, 0, 2).is_empty());
}

#[test]
fn a_partial_fill_is_replaced_only_once_the_level_is_full() {
    let mut h = running(&format!("{BASE}step_ticks = 5"));
    let buy = h.at_price(5515);
    h.position(PositionSide::Long, 400, 2);
    assert!(h.fill(buy, 1, 400).is_empty(), "400 of 1000 lots: wait");
    h.position(PositionSide::Long, 1000, 2);
    assert!(h.timer().is_empty());
    assert_eq!(
        placed(&h.fill(buy, 2, 600)),
        vec![close(Side::Sell, 5520, 2)],
        "the full level, once complete"
    );
}

#[test]
fn a_duplicate_fill_emits_nothing() {
    let mut h = running(&format!("{BASE}step_ticks = 5"));
    let buy = h.at_price(5515);
    h.position(PositionSide::Long, 1000, 2);
    let partial = h.fill_event(buy, 1, 400);
    assert!(h.feed(partial.clone()).is_empty());
    assert!(h.feed(partial).is_empty());
    assert_eq!(
        h.state.order(buy).unwrap().filled,
        Lots(400),
        "state dedups"
    );
    let rest = h.fill_event(buy, 2, 600);
    assert_eq!(placed(&h.feed(rest.clone())).len(), 1);
    // The same completing fill again (the engine would drop it; the strategy copes anyway).
    assert!(h.feed(rest).is_empty(), "replaced once");
    assert_eq!(
        h.state
            .live_orders(None)
            .filter(|o| o.request.order.price == Some(Ticks(5520)))
            .count(),
        1
    );
}

#[test]
fn max_inventory_stops_the_opening_side() {
    // Flat with room for two APT either way: two levels a side, nearest the market.
    let mut h = Harness::new(
        "market = 1338\norder_size = 1\nlevels = 3\nstep_ticks = 5\nmax_inventory = 2",
    );
    assert_eq!(
        placed(&h.book(5518, 5522)),
        vec![
            open(Side::Buy, 5515),
            open(Side::Buy, 5510),
            open(Side::Sell, 5525),
            open(Side::Sell, 5530),
        ]
    );

    // Already long two APT (leverage 3): no buys at all; every sell may go, the first two
    // closing the long at its leverage, the third opening a short.
    let mut h = Harness::new(
        "market = 1338\norder_size = 1\nlevels = 3\nstep_ticks = 5\nmax_inventory = 2",
    );
    h.position(PositionSide::Long, 2000, 3);
    assert_eq!(
        placed(&h.book(5518, 5522)),
        vec![
            close(Side::Sell, 5525, 3),
            close(Side::Sell, 5530, 3),
            open(Side::Sell, 5535),
        ]
    );
    // Once a sell fills and the long shrinks, one buy fits again: the one nearest the
    // market, which is the fill's replacement one step down.
    h.ack_all();
    let sell = h.at_price(5525);
    assert!(
        h.fill(sell, 1, 1000).is_empty(),
        "the state is still long 2"
    );
    assert_eq!(
        placed(&h.position(PositionSide::Long, 1000, 3)),
        vec![open(Side::Buy, 5520)]
    );
    assert!(h.timer().is_empty(), "and only one");
}

#[test]
fn mid_anchor_recentres_when_the_mid_leaves_the_grid() {
    let mut h = Harness::new(
        "market = 1338\norder_size = 1\nlevels = 2\nstep_ticks = 5\nmax_inventory = 10",
    );
    assert_eq!(placed(&h.book(5518, 5522)).len(), 4);
    h.ack_all();
    let old = h.live();
    // Mid 5530: exactly two steps (recenter_levels = levels) from 5520: stay.
    assert!(h.book(5528, 5532).is_empty());
    assert!(h.book(5508, 5512).is_empty());
    // Mid 5531: out by more than two steps: one replace cancelling all, a new grid at 5531.
    let intents = h.book(5529, 5533);
    let [Intent::ReplaceQuotes { cancel, .. }] = &intents[..] else {
        panic!("{intents:?}")
    };
    assert_eq!(
        {
            let mut c = cancel.clone();
            c.sort();
            c
        },
        old
    );
    assert_eq!(
        sorted(placed(&intents)),
        vec![
            open(Side::Buy, 5521),
            open(Side::Buy, 5526),
            open(Side::Sell, 5536),
            open(Side::Sell, 5541),
        ]
    );
    assert_eq!(h.grid.layout().map(|l| l.center), Some(Ticks(5531)));
    // Cancels confirmed: the old orders are gone and nothing is re-placed for them.
    for id in old {
        assert!(h.order_update(id, OrderUpdateKind::Cancelled).is_empty());
    }
    h.ack_all();
    assert!(h.book(5529, 5533).is_empty());

    // recenter_levels widens the band.
    let mut h = Harness::new(
        "market = 1338\norder_size = 1\nlevels = 2\nstep_ticks = 5\nmax_inventory = 10\n\
             recenter_levels = 4",
    );
    h.book(5518, 5522);
    h.ack_all();
    assert!(h.book(5539, 5541).is_empty(), "4 steps: stay");
    assert_eq!(placed(&h.book(5540, 5542)).len(), 4, "over 4 steps: move");
}

#[test]
fn fixed_anchor_defers_crossing_levels_and_never_recentres() {
    let mut h = Harness::new(
        "market = 1338\norder_size = 1\nlevels = 2\nstep_ticks = 5\nmax_inventory = 10\n\
             anchor = \"fixed\"\ncenter_price = \"5.6004\"",
    );
    // 5.6004 rounds down to 5600 ticks, known before any book.
    assert_eq!(h.grid.layout().map(|l| l.center), Some(Ticks(5600)));
    // The market is at 5520: buys at 5595/5590 would cross the ask; they wait.
    assert_eq!(
        placed(&h.book(5518, 5522)),
        vec![open(Side::Sell, 5605), open(Side::Sell, 5610)]
    );
    h.ack_all();
    assert!(h.book(5588, 5590).is_empty(), "5590 would still cross");
    assert_eq!(placed(&h.book(5588, 5591)), vec![open(Side::Buy, 5590)]);
    assert_eq!(placed(&h.book(5594, 5596)), vec![open(Side::Buy, 5595)]);
    h.ack_all();
    // Far away: a mid grid would re-centre; a fixed one stays put.
    assert!(h.book(5800, 5802).is_empty());
    assert!(h.book(5300, 5302).is_empty());
    assert_eq!(h.grid.layout().map(|l| l.center), Some(Ticks(5600)));
}

#[test]
fn a_level_the_state_does_not_know_is_gone_and_waits_min_replace_ms() {
    let mut h = Harness::new(&format!("{BASE}step_ticks = 5"));
    // The risk check refuses everything: the state never tracks the orders.
    h.track = false;
    assert_eq!(placed(&h.book(5518, 5522)).len(), 6);
    h.track = true;
    let refusal = Event::RiskRejected(RiskRejection {
        intent: Intent::CancelAll {
            market: Some(MarketId(1338)),
        },
        reason: RejectReason::RateLimited,
        detail: "test".into(),
    });
    assert!(h.feed(refusal).is_empty(), "not before min_replace_ms");
    h.later(999);
    assert!(h.book(5518, 5522).is_empty());
    h.later(1);
    assert_eq!(placed(&h.timer()).len(), 6, "re-placed, once");
    assert!(h.timer().is_empty());

    // A venue rejection frees the level the same way.
    h.ack_all();
    let buy = h.at_price(5515);
    h.later(10);
    assert!(
        h.order_update(buy, OrderUpdateKind::Cancelled).is_empty(),
        "placed 10 ms ago"
    );
    h.later(990);
    assert_eq!(placed(&h.timer()), vec![open(Side::Buy, 5515)]);
}

#[test]
fn reconnect_pauses_and_resumes_from_what_actually_rests() {
    let mut h = running(&format!("{BASE}step_ticks = 5"));
    let intents = h.connection(ConnectionState::Reconnecting);
    assert_eq!(
        intents,
        vec![Intent::CancelAll {
            market: Some(MarketId(1338))
        }]
    );
    assert!(
        h.connection(ConnectionState::Reconnecting).is_empty(),
        "once"
    );
    h.later(5000);
    assert!(h.book(5518, 5522).is_empty(), "blind: nothing placed");
    assert!(h.timer().is_empty());
    // The cancels land, except the buy at 5515: it still rests (the cancel was refused).
    let keep = h.at_price(5515);
    for id in h.live() {
        let kind = if id == keep {
            OrderUpdateKind::CancelRejected {
                reason: "test".into(),
            }
        } else {
            OrderUpdateKind::Cancelled
        };
        assert!(h.order_update(id, kind).is_empty());
    }
    // A stray order the grid never placed rests off the grid.
    let stray = ClientOrderId(999);
    h.state.track_new_order(perpbot_model::OrderRequest {
        client_id: stray,
        order: NewOrder::limit(MarketId(1338), Side::Buy, Lots(1000), Ticks(5512)),
    });
    h.state.apply_order_event(
        stray,
        &OrderEvent::Accepted {
            venue_id: Some(VenueOrderId(1)),
        },
    );
    let intents = h.connection(ConnectionState::Resynced);
    assert!(
        intents.contains(&Intent::Cancel {
            market: MarketId(1338),
            client_id: stray
        }),
        "{intents:?}"
    );
    assert_eq!(
        sorted(placed(&intents)),
        vec![
            open(Side::Buy, 5505),
            open(Side::Buy, 5510),
            open(Side::Sell, 5525),
            open(Side::Sell, 5530),
            open(Side::Sell, 5535),
        ],
        "everything but the level that still rests"
    );
    assert_eq!(h.at_price(5515), keep);
}

#[test]
fn no_new_levels_unless_trading_is_active() {
    let mut h = Harness::new(&format!("{BASE}step_ticks = 5"));
    h.trading = TradingState::ReduceOnly;
    assert!(h.book(5518, 5522).is_empty());
    h.trading = TradingState::Active;
    let intents = h.feed(Event::TradingState(TradingStateChange {
        from: TradingState::ReduceOnly,
        to: TradingState::Active,
        reason: "test".into(),
    }));
    assert_eq!(placed(&intents).len(), 6);
}

#[test]
fn on_stop_cancels_the_market() {
    let mut h = running(&format!("{BASE}step_ticks = 5"));
    let mut ctx = Context::new(&h.state, h.trading, &mut h.out);
    h.grid.on_stop(&mut ctx).unwrap();
    assert_eq!(
        h.out.intents,
        vec![Intent::CancelAll {
            market: Some(MarketId(1338))
        }]
    );
}

fn params_error(params: &str) -> String {
    let table: toml::Table = toml::from_str(params).unwrap();
    Grid::from_params(&table).unwrap_err().to_string()
}

#[test]
fn bad_params_name_the_key() {
    let e = params_error(&format!("{BASE}step_ticks = 5\nstep_tick = 5"));
    assert!(e.contains("unknown field `step_tick`"), "{e}");
    let e = params_error(&format!("{BASE}step_ticks = 5\nstep_bps = \"10\""));
    assert!(
        e.contains("step_ticks and step_bps") && e.contains("not both"),
        "{e}"
    );
    let e = params_error(BASE);
    assert!(
        e.contains("step_ticks or step_bps") && e.contains("neither"),
        "{e}"
    );
    let e = params_error(
        "market = 1338\norder_size = 1\nlevels = 0\nstep_ticks = 5\nmax_inventory = 1",
    );
    assert!(e.contains("levels must be within 1..="), "{e}");
    let e = params_error(&format!("{BASE}step_ticks = 0"));
    assert!(e.contains("step_ticks must be at least 1"), "{e}");
    let e = params_error(&format!("{BASE}step_ticks = 5\nanchor = \"fixed\""));
    assert!(e.contains("center_price is required"), "{e}");
    let e = params_error(&format!("{BASE}step_ticks = 5\nanchor = \"moving\""));
    assert!(e.contains("anchor: expected"), "{e}");
    let e = params_error(&format!("{BASE}step_ticks = 5\ncenter_price = \"5.5\""));
    assert!(e.contains("center_price: only with anchor"), "{e}");
    let e = params_error(&format!("{BASE}step_ticks = 5\nmin_replace_ms = 10"));
    assert!(e.contains("min_replace_ms"), "{e}");
    let e = params_error(
        "market = 1338\norder_size = 2\nlevels = 1\nstep_ticks = 5\nmax_inventory = 1",
    );
    assert!(
        e.contains("max_inventory must be at least order_size"),
        "{e}"
    );

    // Checks against the market happen at start and name the key too.
    let start_error = |params: &str| {
        let spec = MarketSpec::kana_apt_testnet();
        let state = State::new(std::slice::from_ref(&spec));
        let mut out = Outbox::new(0);
        let mut ctx = Context::new(&state, TradingState::Active, &mut out);
        let table: toml::Table = toml::from_str(params).unwrap();
        let mut grid = Grid::from_params(&table).unwrap();
        grid.on_start(&mut ctx).unwrap_err().to_string()
    };
    let e = start_error(
        "market = 1338\norder_size = \"0.4999\"\nlevels = 1\nstep_ticks = 5\nmax_inventory = 1",
    );
    assert!(e.contains("order_size: size 499 lots is below"), "{e}");
    let e = start_error(&format!("{BASE}step_ticks = 5\nleverage = 21"));
    assert!(e.contains("leverage: leverage 21"), "{e}");
    let e =
        start_error("market = 7\norder_size = 1\nlevels = 1\nstep_ticks = 5\nmax_inventory = 1");
    assert!(e.contains("market: 7"), "{e}");
    let e = start_error(&format!(
        "{BASE}step_ticks = 5000\nanchor = \"fixed\"\ncenter_price = \"5.5\""
    ));
    assert!(e.contains("center_price: levels × step"), "{e}");
}

#[test]
fn registered_as_a_builtin() {
    let registry = crate::builtin_registry();
    assert!(registry.names().any(|n| n == NAME));
    let table: toml::Table = toml::from_str(&format!("{BASE}step_ticks = 5")).unwrap();
    assert_eq!(registry.build(NAME, &table).unwrap().name(), NAME);
}
