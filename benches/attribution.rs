//! What a fill that names no order costs the engine's state, with a busy maker's history.
//!
//! Kana's documented fill records carry no order id, so `State::apply` finds the order by
//! market, side, size, price and time among the orders it keeps. A maker requoting five times
//! a second keeps 6,000 finished orders under the default ten-minute retention. Set up (not
//! timed): one live bid of a billion lots at tick 10,000 and `HISTORY` cancelled bids at the
//! same price, finished one every 100 ms before it, all retired to the finished tier as the
//! engine's tick does. Timed: `State::apply` of one 1-lot buy fill with a fresh trade id, one
//! tick above the bids, so that every order passes every test of the search but the price and
//! none is taken: the timed call is the search itself, and no order's state grows between
//! iterations. A fill that is attributed costs the same search plus applying it to the order.
//!
//! Also timed: the prune that drops finished orders once they are older than the retention,
//! which the engine runs every minute under the default. Set up (not timed, afresh for each
//! run): `PRUNE_HISTORY` cancelled orders with venue ids, one finishing every 10 ms (ten
//! minutes of a maker replacing a hundred quotes a second), retired as they finish. Timed: one
//! prune a minute past the retention, which drops the oldest minute (a tenth of them).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use perpbot::model::{
    ClientOrderId, Direction, Event, Fill, Liquidity, Lots, MarketSpec, NewOrder, OrderEvent,
    OrderRequest, Side, Ticks, Timestamp, TradeId, VenueOrderId,
};
use perpbot::state::State;
use rust_decimal::Decimal;

/// Finished orders kept: ten minutes of a maker that replaces a quote every 100 ms.
const HISTORY: u64 = 6_000;
const PRICE: Ticks = Ticks(10_000);
/// One tick above the bids: no bid would buy there.
const ABOVE: Ticks = Ticks(10_001);

/// At `at`, a one-lot bid at `PRICE` as order `id`, accepted by the venue (as `venue_id`) and
/// cancelled.
fn cancelled_bid(
    state: &mut State,
    spec: &MarketSpec,
    id: u64,
    venue_id: Option<VenueOrderId>,
    at: Timestamp,
) {
    state.set_now(at);
    let id = ClientOrderId(id);
    state.track_new_order(OrderRequest {
        client_id: id,
        order: NewOrder::limit(spec.id, Side::Buy, Lots(1), PRICE),
    });
    state.apply_order_event(id, &OrderEvent::Accepted { venue_id });
    state.apply_order_event(id, &OrderEvent::Cancelled);
}

fn state_with_history(spec: &MarketSpec) -> State {
    let mut state = State::new(std::slice::from_ref(spec));
    let start = Timestamp(1_000_000_000_000);
    for i in 0..HISTORY {
        let at = start.plus(Duration::from_millis(100 * i));
        cancelled_bid(&mut state, spec, i + 1, None, at);
        state.retire_finished_orders();
    }
    let live = ClientOrderId(HISTORY + 1);
    state.track_new_order(OrderRequest {
        client_id: live,
        order: NewOrder::limit(spec.id, Side::Buy, Lots(1_000_000_000), PRICE),
    });
    state.apply_order_event(live, &OrderEvent::Accepted { venue_id: None });
    state
}

fn attribution(c: &mut Criterion) {
    let spec = MarketSpec::kana_apt_testnet();
    let mut state = state_with_history(&spec);
    let now = state.now();
    let mut trade = 0u128;
    let mut group = c.benchmark_group("state");
    group.throughput(Throughput::Elements(1));
    group.bench_function("fill_without_order_id_6000_finished_orders_kept", |b| {
        b.iter(|| {
            trade += 1;
            let fill = Event::Fill(Box::new(Fill {
                market: spec.id,
                client_id: None,
                venue_id: None,
                trade_id: TradeId(trade),
                side: Side::Buy,
                direction: Direction::Open,
                lots: Lots(1),
                price: ABOVE,
                fee: Decimal::ZERO,
                realized_pnl: Decimal::ZERO,
                liquidity: Liquidity::Maker,
                ts: now,
            }));
            black_box(state.apply(black_box(&fill)))
        })
    });
    group.finish();
    let anomalies = state.anomalies();
    assert_eq!(
        anomalies.attributed_fills, 0,
        "no bid would buy above its limit"
    );
    println!("fills searched for: {}", anomalies.unknown_order_fills);
}

/// Finished orders kept for the prune: ten minutes of a maker finishing one every 10 ms.
const PRUNE_HISTORY: u64 = 60_000;
/// The engine's default retention.
const RETENTION: Duration = Duration::from_secs(600);

/// `PRUNE_HISTORY` cancelled orders with venue ids, one finishing every 10 ms from `start`,
/// retired every 250 ms as the engine's tick retires them.
fn state_with_finished_orders(spec: &MarketSpec, start: Timestamp) -> State {
    let mut state = State::new(std::slice::from_ref(spec));
    for i in 0..PRUNE_HISTORY {
        let at = start.plus(Duration::from_millis(10 * i));
        let venue_id = Some(VenueOrderId(u128::from(i) + 1));
        cancelled_bid(&mut state, spec, i + 1, venue_id, at);
        if i % 25 == 0 {
            state.retire_finished_orders();
        }
    }
    state.retire_finished_orders();
    state
}

fn prune(c: &mut Criterion) {
    let spec = MarketSpec::kana_apt_testnet();
    let start = Timestamp(1_000_000_000_000);
    // A minute past the retention of the first order: the oldest minute goes.
    let at = start.plus(RETENTION).plus(Duration::from_secs(60));
    let mut group = c.benchmark_group("state");
    group.sample_size(10);
    group.bench_function("prune_one_minute_of_60000_finished_orders", |b| {
        b.iter_batched_ref(
            || state_with_finished_orders(&spec, start),
            |state| {
                state.set_now(at);
                state.prune_orders(RETENTION);
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
    let mut state = state_with_finished_orders(&spec, start);
    state.set_now(at);
    state.prune_orders(RETENTION);
    let kept = state.orders().count();
    // Orders finished at or before `at − RETENTION` (the first minute, 6,001) are gone.
    assert_eq!(
        kept as u64,
        PRUNE_HISTORY - 6_001,
        "orders kept after the prune"
    );
    println!("orders kept after the prune: {kept}");
}

criterion_group!(benches, attribution, prune);
criterion_main!(benches);
