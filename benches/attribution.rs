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

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use perpbot::model::{
    ClientOrderId, Direction, Event, Fill, Liquidity, Lots, MarketSpec, NewOrder, OrderEvent,
    OrderRequest, Side, Ticks, Timestamp, TradeId,
};
use perpbot::state::State;
use rust_decimal::Decimal;

/// Finished orders kept: ten minutes of a maker that replaces a quote every 100 ms.
const HISTORY: u64 = 6_000;
const PRICE: Ticks = Ticks(10_000);
/// One tick above the bids: no bid would buy there.
const ABOVE: Ticks = Ticks(10_001);

fn state_with_history(spec: &MarketSpec) -> State {
    let mut state = State::new(std::slice::from_ref(spec));
    let start = Timestamp(1_000_000_000_000);
    for i in 0..HISTORY {
        state.set_now(start.plus(Duration::from_millis(100 * i)));
        let id = ClientOrderId(i + 1);
        let order = NewOrder::limit(spec.id, Side::Buy, Lots(1), PRICE);
        state.track_new_order(OrderRequest {
            client_id: id,
            order,
        });
        state.apply_order_event(id, &OrderEvent::Accepted { venue_id: None });
        state.apply_order_event(id, &OrderEvent::Cancelled);
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

criterion_group!(benches, attribution);
criterion_main!(benches);
