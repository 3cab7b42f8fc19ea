//! Tests of the simulator's WebSocket indexer: its frames go through the real Kana decoder, and
//! the real client (`venue::kana::ws`) connects to it over loopback.

use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

use crate::decode::{KanaDecoder, KanaUnits};
use crate::ws::{self, Subscriptions, WsConfig, WsStats};
use perpbot_aptos::{AccountAddress, encode_entry_function};
use perpbot_model::clock::Clock;
use perpbot_model::{
    ConnectionState, Event, Lots, MarketId, OrderUpdateKind, PositionSide, Rounding, Side, Ticks,
    Timestamp,
};
use perpbot_sim::abi::{PERPETUAL_SCRIPTS, module_abi};
use perpbot_sim::exchange::{Exchange, TxEffects, TxError};
use perpbot_sim::profile_address;
use perpbot_sim::server::indexer::{Connection, Subscription, malformed};
use perpbot_sim::server::{SimConfig, SimHandle, Update};

pub(super) const APT: MarketId = MarketId(1338);
pub(super) const T0: u64 = 1_750_000_000;
pub(super) const WAIT: Duration = Duration::from_secs(3);

pub(super) fn wallet(n: u8) -> AccountAddress {
    AccountAddress::new([n; 32])
}

pub(super) fn profile(n: u8) -> AccountAddress {
    profile_address(&wallet(n))
}

pub(super) fn now() -> Timestamp {
    Timestamp::from_secs(T0)
}

pub(super) fn call(
    ex: &mut Exchange,
    who: u8,
    function: &str,
    args: Vec<Value>,
) -> Result<TxEffects, TxError> {
    let abi = module_abi(ex.package(), PERPETUAL_SCRIPTS).expect("abi");
    let call = encode_entry_function(&abi, function, &[], &args).expect("encode");
    ex.execute(wallet(who), &call, now())
}

pub(super) fn deposit(ex: &mut Exchange, who: u8) {
    ex.mint_wallet(wallet(who), 1_000_000_000);
    let args = vec![json!(wallet(who).to_string()), json!("1000000000")];
    call(ex, who, "deposit", args).expect("deposit");
}

fn ticks(ex: &Exchange, price: Decimal) -> u64 {
    let spec = ex.spec(APT).expect("APT");
    spec.price_to_ticks(price, Rounding::Exact)
        .expect("on grid")
        .0
}

/// A limit order on APT: `buy` opens a long, otherwise a short.
pub(super) fn limit(ex: &mut Exchange, who: u8, buy: bool, lots: u64, price: Decimal) {
    let px = ticks(ex, price);
    let args = vec![
        json!(APT.0.to_string()),
        json!(buy),
        json!(false),
        json!(lots.to_string()),
        json!(px.to_string()),
        json!("5"),
        json!(0),
        json!("0"),
        json!("0"),
    ];
    call(ex, who, "place_limit_order", args).expect("place");
}

pub(super) fn decoder(specs: Vec<perpbot_model::MarketSpec>) -> KanaDecoder {
    KanaDecoder::new(specs, KanaUnits::Auto).expect("decoder")
}

fn decode_all(d: &mut KanaDecoder, frames: &[String]) -> Vec<Event> {
    let mut out = Vec::new();
    for f in frames {
        if let Err(e) = d.decode(f, now(), &mut out) {
            panic!("{e}\nframe: {f}");
        }
    }
    out
}

fn sub(text: &str) -> Subscription {
    Subscription::parse(text).expect(text)
}

#[test]
fn subscribe_messages_parse_leniently() {
    let p = profile(7);
    assert_eq!(
        Subscription::parse(r#"{"topic":"orderbook","market_id":"1338","extra":1}"#),
        Some(Subscription::Orderbook(APT))
    );
    assert_eq!(
        Subscription::parse(r#"{"topic":"recent_trades","market_id":1338}"#),
        Some(Subscription::RecentTrades(APT))
    );
    let short = p.to_hex_short();
    assert_eq!(
        Subscription::parse(&format!(r#"{{"topic":"positions","address":"{short}"}}"#)),
        Some(Subscription::Positions(p))
    );
    assert_eq!(
        Subscription::parse(r#"{"topic":"bestPrice"}"#),
        Some(Subscription::BestPrice)
    );
    for bad in [
        "{oops",
        "[]",
        r#"{"topic":"nope"}"#,
        r#"{"topic":"orderbook"}"#,
        r#"{"topic":"orderbook","market_id":"x"}"#,
        r#"{"topic":"positions","address":"0xzz"}"#,
        r#"{"topic":7}"#,
    ] {
        assert_eq!(Subscription::parse(bad), None, "{bad}");
    }
}

#[test]
fn malformed_frames_are_refused_by_the_decoder() {
    let mut d = decoder(perpbot_sim::market::testnet_markets());
    let book = r#"{"data":[{"is_ask":true,"last_updated":1,"market_id":"1338","price":"6.036","size":"1"}],"message":"orderbook"}"#;
    let bad = malformed(book);
    assert!(bad.contains("6x.036"), "{bad}");
    let mut out = Vec::new();
    assert!(d.decode(&bad, now(), &mut out).is_err());
    let empty = r#"{"data":[],"message":"positions"}"#;
    assert!(d.decode(&malformed(empty), now(), &mut out).is_err());
    assert!(out.is_empty());
}

/// Every topic's frames go through the real decoder; updates push only what is new.
#[tokio::test]
async fn frames_decode_with_the_real_decoder() {
    let config = SimConfig::default();
    let specs = config.markets.clone();
    let shared = perpbot_sim::server::build(config, Clock::starting_at(now())).expect("build");
    let mut core = shared.core();
    let ex = &mut core.exchange;
    for who in [7, 8] {
        deposit(ex, who);
    }
    limit(ex, 8, false, 1000, dec!(5.6)); // resting ask 1 APT
    limit(ex, 7, true, 500, dec!(5.6)); // takes 0.5 APT
    limit(ex, 7, true, 500, dec!(5.0)); // resting bid

    let p = profile(7);
    let addr = p.to_hex_long();
    let mut conn = Connection::new();
    let mut frames = Vec::new();
    for text in [
        r#"{"topic":"orderbook","market_id":"1338"}"#.to_owned(),
        r#"{"topic":"recent_trades","market_id":"1338"}"#.to_owned(),
        format!(r#"{{"topic":"positions","address":"{addr}"}}"#),
        format!(r#"{{"topic":"open_orders","address":"{addr}"}}"#),
        format!(r#"{{"topic":"order_history","address":"{addr}"}}"#),
        format!(r#"{{"topic":"trade_history","address":"{addr}"}}"#),
        r#"{"topic":"live_funding_rate"}"#.to_owned(),
        r#"{"topic":"bestPrice"}"#.to_owned(),
    ] {
        let got = conn.subscribe(ex, sub(&text), now());
        assert_eq!(got.len(), 1, "one frame per subscription: {text}");
        frames.extend(got);
    }
    let mut d = decoder(specs);
    let events = decode_all(&mut d, &frames);

    let Some(Event::Book(book)) = events.first() else {
        panic!("{events:?}")
    };
    assert_eq!(book.market, APT);
    assert_eq!(
        (book.asks.len(), book.bids.len()),
        (1, 1),
        "{book:?} from {}",
        frames[0]
    );
    assert_eq!(book.asks[0].price, Ticks(ticks(ex, dec!(5.6))));
    assert_eq!(book.asks[0].lots, Lots(500));
    assert_eq!(book.bids[0].price, Ticks(ticks(ex, dec!(5.0))));
    assert_eq!(book.ts, now());

    let trades: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Trade(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(trades.len(), 1, "both counterparties pair into one trade");
    assert_eq!(trades[0].lots, Lots(500));
    assert_eq!(trades[0].aggressor, Some(Side::Buy));

    let positions = events.iter().find_map(|e| match e {
        Event::Position(u) => Some(u),
        _ => None,
    });
    let positions = positions.expect("positions");
    assert!(positions.snapshot);
    assert_eq!(positions.positions.len(), 1);
    assert_eq!(positions.positions[0].side, PositionSide::Long);
    assert_eq!(positions.positions[0].lots, Lots(500));
    assert_eq!(positions.positions[0].leverage, 5);

    let open = events.iter().find_map(|e| match e {
        Event::OpenOrders(o) => Some(o),
        _ => None,
    });
    let open = open.expect("open orders");
    assert_eq!(open.orders.len(), 1);
    assert_eq!(open.orders[0].side, Side::Buy);
    assert_eq!(open.orders[0].remaining, Lots(500));

    let accepted = events
        .iter()
        .filter(|e| matches!(e, Event::Order(o) if o.kind == OrderUpdateKind::Accepted))
        .count();
    assert_eq!(
        accepted, 1,
        "the resting order is Open; the filled one emits nothing"
    );
    let fills: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Fill(f) => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(fills.len(), 1);
    assert_eq!((fills[0].side, fills[0].lots), (Side::Buy, Lots(500)));
    assert!(fills[0].fee > Decimal::ZERO, "a taker pays");
    let funding = events
        .iter()
        .filter(|e| matches!(e, Event::Funding(_)))
        .count();
    assert_eq!(funding, 4, "every market");
    let best = events.iter().find_map(|e| match e {
        Event::BestPrice(b) if b.market == APT => Some(b),
        _ => None,
    });
    let best = best.expect("best price");
    assert_eq!(best.bid, Some(Ticks(ticks(ex, dec!(5.0)))));
    assert_eq!(best.ask, Some(Ticks(ticks(ex, dec!(5.6)))));

    // Another fill: only the new records are pushed, and they decode as new events.
    limit(ex, 7, true, 500, dec!(5.6));
    let pushes = conn.pushes(
        ex,
        [Update::Book(APT), Update::Trades(APT), Update::Account(p)],
        false,
        now(),
    );
    let events = decode_all(&mut d, &pushes);
    let n = |f: fn(&Event) -> bool| events.iter().filter(|e| f(e)).count();
    assert_eq!(n(|e| matches!(e, Event::Fill(_))), 1, "{pushes:#?}");
    assert_eq!(n(|e| matches!(e, Event::Trade(_))), 1);
    assert_eq!(n(|e| matches!(e, Event::BestPrice(_))), 1);
    assert!(events.iter().any(|e| matches!(e, Event::Position(u)
        if u.positions.first().map(|p| p.lots) == Some(Lots(1000)))));
    // The ask side is empty now: the book frame carries the bid only.
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Book(b) if b.asks.is_empty() && b.bids.len() == 1))
    );

    // Nothing changed: nothing new for the history topics.
    let again = conn.pushes(ex, [Update::Account(p)], false, now());
    assert_eq!(again.len(), 2, "positions and open_orders only: {again:#?}");

    // A lagged receiver gets every subscription's full state; the decoder drops the repeats.
    let full = conn.pushes(ex, [], true, now());
    assert_eq!(full.len(), 8);
    let events = decode_all(&mut d, &full);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::Fill(_) | Event::Trade(_)))
    );
}

// ---------------------------------------------------------------------------------------------
// Over loopback with the real client
// ---------------------------------------------------------------------------------------------

pub(super) async fn start(config: SimConfig) -> SimHandle {
    let clock = Clock::starting_at(now());
    perpbot_sim::server::start(config, "127.0.0.1:0".parse().expect("addr"), clock)
        .await
        .expect("start")
}

pub(super) fn client(
    handle: &SimHandle,
    url: &str,
    who: Option<u8>,
) -> (
    tokio::task::JoinHandle<()>,
    Arc<WsStats>,
    mpsc::Receiver<Event>,
) {
    let specs = handle.shared.core().config.markets.clone();
    let mut subs = Subscriptions {
        markets: vec![APT],
        best_price: true,
        funding: true,
        ..Default::default()
    };
    if let Some(who) = who {
        subs = subs
            .with_profile(&profile(who).to_hex_long())
            .expect("profile");
    }
    let config = WsConfig {
        url: url.to_owned(),
        ping_interval: Duration::from_millis(500),
        silence_timeout: Duration::from_secs(5),
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(40),
        connect_timeout: Duration::from_secs(1),
        resync_timeout: Duration::from_secs(1),
    };
    let (tx, rx) = mpsc::channel(1024);
    let (task, stats) = ws::spawn(
        config,
        subs,
        decoder(specs),
        None,
        tx,
        Clock::starting_at(now()),
    );
    (task, stats, rx)
}

/// The next event matching `f`, within [`WAIT`].
pub(super) async fn until<T>(
    rx: &mut mpsc::Receiver<Event>,
    mut f: impl FnMut(&Event) -> Option<T>,
) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, rx.recv()).await {
            Ok(Some(e)) => {
                if let Some(t) = f(&e) {
                    return t;
                }
            }
            other => panic!("no matching event: {other:?}"),
        }
    }
}

pub(super) async fn connected(rx: &mut mpsc::Receiver<Event>) {
    until(rx, |e| match e {
        Event::Connection(c) if c.state == ConnectionState::Connected => Some(()),
        _ => None,
    })
    .await;
}

/// Make sure APT has both sides (the driver may not fill it) and tell the indexer.
pub(super) fn seed_book(handle: &SimHandle) {
    let mut core = handle.shared.core();
    let ex = &mut core.exchange;
    let filled = ex
        .book(APT)
        .is_some_and(|b| b.best_bid().is_some() && b.best_ask().is_some());
    if !filled {
        for who in [21, 22] {
            deposit(ex, who);
        }
        limit(ex, 21, true, 1000, dec!(4.0));
        limit(ex, 22, false, 1000, dec!(7.0));
    }
    drop(core);
    handle.shared.publish(Update::Book(APT));
}

#[tokio::test]
async fn real_client_gets_a_book_with_both_sides() {
    let handle = start(SimConfig::default()).await;
    let (task, stats, mut rx) = client(&handle, &handle.ws_url.clone(), None);
    connected(&mut rx).await;
    seed_book(&handle);
    let book = until(&mut rx, |e| match e {
        Event::Book(b) if b.market == APT && !b.bids.is_empty() && !b.asks.is_empty() => {
            Some(b.clone())
        }
        _ => None,
    })
    .await;
    assert!(book.bids[0].price < book.asks[0].price);
    until(&mut rx, |e| match e {
        Event::BestPrice(b) if b.market == APT && b.bid.is_some() && b.ask.is_some() => Some(()),
        _ => None,
    })
    .await;
    let s = stats.snapshot();
    assert_eq!((s.decode_errors, s.reconnects), (0, 0), "{s:?}");
    task.abort();
    handle.stop();
}

#[tokio::test]
async fn real_client_gets_account_snapshots_at_ws_without_slash() {
    let handle = start(SimConfig::default()).await;
    let url = handle.ws_url.trim_end_matches('/').to_owned();
    let (task, stats, mut rx) = client(&handle, &url, Some(7));
    connected(&mut rx).await;
    {
        let mut core = handle.shared.core();
        let ex = &mut core.exchange;
        for who in [7, 8] {
            deposit(ex, who);
        }
        // Liquidity for a market buy whatever the synthetic traders are doing (their asks, if
        // any, are cheaper and fill first).
        limit(ex, 8, false, 1000, dec!(6.5));
        let args = vec![
            json!(APT.0.to_string()),
            json!(true),
            json!(false),
            json!("1000"),
            json!("5"),
            json!("0"),
            json!("0"),
        ];
        call(ex, 7, "place_market_order", args).expect("market buy");
        limit(ex, 7, true, 500, dec!(1.0));
    }
    handle.shared.publish(Update::Account(profile(7)));
    let lots = until(&mut rx, |e| match e {
        Event::Position(u) if u.snapshot && !u.positions.is_empty() => {
            Some(u.positions.iter().map(|p| p.lots.0).sum::<u64>())
        }
        _ => None,
    })
    .await;
    assert!(lots >= 1000, "{lots}");
    let orders = until(&mut rx, |e| match e {
        Event::OpenOrders(o) if !o.orders.is_empty() => Some(o.orders.clone()),
        _ => None,
    })
    .await;
    assert!(orders.iter().any(|o| o.remaining == Lots(500)));
    until(&mut rx, |e| {
        matches!(e, Event::Fill(f) if f.market == APT).then_some(())
    })
    .await;
    let s = stats.snapshot();
    assert_eq!((s.decode_errors, s.reconnects), (0, 0), "{s:?}");
    task.abort();
    handle.stop();
}

#[tokio::test]
async fn malformed_fault_counts_decode_errors_and_stays_connected() {
    let mut config = SimConfig::default();
    config.faults.ws_malformed_probability = 1.0;
    let handle = start(config).await;
    let (task, stats, mut rx) = client(&handle, &handle.ws_url.clone(), None);
    connected(&mut rx).await;
    seed_book(&handle);
    let deadline = Instant::now() + WAIT;
    while stats.snapshot().decode_errors < 4 {
        assert!(Instant::now() < deadline, "{:?}", stats.snapshot());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let s = stats.snapshot();
    assert_eq!((s.connects, s.reconnects, s.events), (1, 0, 0), "{s:?}");
    task.abort();
    handle.stop();
}

#[tokio::test]
async fn drop_fault_makes_the_client_reconnect() {
    let mut config = SimConfig::default();
    config.faults.ws_drop_probability = 1.0;
    let handle = start(config).await;
    let (task, stats, mut rx) = client(&handle, &handle.ws_url.clone(), None);
    for _ in 0..2 {
        connected(&mut rx).await;
        until(&mut rx, |e| match e {
            Event::Connection(c) if c.state == ConnectionState::Reconnecting => Some(()),
            _ => None,
        })
        .await;
    }
    let s = stats.snapshot();
    assert!(s.reconnects >= 2 && s.connects >= 2, "{s:?}");
    assert_eq!(s.frames, 0, "every push was dropped");
    task.abort();
    handle.stop();
}

#[tokio::test]
async fn delay_fault_delays_pushes() {
    let mut config = SimConfig::default();
    config.faults.ws_delay_ms = 150;
    let handle = start(config).await;
    let (task, stats, mut rx) = client(&handle, &handle.ws_url.clone(), None);
    let started = Instant::now();
    connected(&mut rx).await;
    until(&mut rx, |e| matches!(e, Event::Funding(_)).then_some(())).await;
    // Four pushes (orderbook, recent_trades, funding …) each waited 150 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(stats.snapshot().decode_errors, 0);
    task.abort();
    handle.stop();
}

/// A liquidation at an off-grid mark still decodes (price rounded down to the grid) and is not
/// a public trade.
#[test]
fn liquidation_fill_is_put_on_the_grid() {
    use perpbot_model::{Direction, Liquidity, VenueOrderId};
    use perpbot_sim::exchange::{FillCause, TradeRecord};

    let specs = perpbot_sim::market::testnet_markets();
    let spec = specs.first().expect("APT").clone();
    let record = TradeRecord {
        address: profile(7),
        market: APT,
        order_id: VenueOrderId(0),
        fill_id: 41,
        trade_id: 3,
        trade_side: PositionSide::Long,
        direction: Direction::Close,
        liquidity: Liquidity::Taker,
        cause: FillCause::Liquidation,
        order_type: 7,
        price: dec!(5.12345),
        size: Lots(500),
        order_value: dec!(2.561725),
        fee: Decimal::ZERO,
        pnl: dec!(-1.5),
        leverage: 10,
        timestamp: now(),
    };
    let json = perpbot_sim::server::indexer::trade_json(&spec, &record);
    assert_eq!(json["price"], "5.123");
    assert_eq!(json["transaction_version"], 41);
    let frame = format!(r#"{{"data":[{json}],"message":"trade_history"}}"#);
    let mut d = decoder(specs);
    let events = decode_all(&mut d, &[frame]);
    let [Event::Fill(f)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(
        (f.price, f.side, f.realized_pnl),
        (Ticks(5123), Side::Sell, dec!(-1.5))
    );
}

/// A later subscription never swallows records an earlier one has not pushed yet; the `live_*`
/// topics push one record per frame.
#[tokio::test]
async fn history_cursors_are_per_topic_and_live_topics_push_single_records() {
    let config = SimConfig::default();
    let specs = config.markets.clone();
    let shared = perpbot_sim::server::build(config, Clock::starting_at(now())).expect("build");
    let mut core = shared.core();
    let ex = &mut core.exchange;
    for who in [7, 8] {
        deposit(ex, who);
    }
    let addr = profile(7).to_hex_long();
    let mut conn = Connection::new();
    let mut d = decoder(specs);
    let mut frames = Vec::new();
    for topic in ["trade_history", "live_trade_history", "live_order_history"] {
        let text = format!(r#"{{"topic":"{topic}","address":"{addr}"}}"#);
        frames.extend(conn.subscribe(ex, sub(&text), now()));
    }
    assert!(decode_all(&mut d, &frames).is_empty(), "nothing yet");

    limit(ex, 8, false, 1000, dec!(5.6));
    limit(ex, 7, true, 500, dec!(5.6));
    limit(ex, 7, true, 500, dec!(5.6));
    // Subscribed before the account update is processed.
    let text = format!(r#"{{"topic":"order_history","address":"{addr}"}}"#);
    frames = conn.subscribe(ex, sub(&text), now());
    frames.extend(conn.pushes(ex, [Update::Account(profile(7))], false, now()));
    let live_fills = frames
        .iter()
        .filter(|f| f.ends_with(r#""message":"live_trade_history"}"#))
        .count();
    assert_eq!(live_fills, 2, "one frame per record: {frames:#?}");
    let events = decode_all(&mut d, &frames);
    let fills = events
        .iter()
        .filter(|e| matches!(e, Event::Fill(_)))
        .count();
    assert_eq!(
        fills, 2,
        "both fills, once each (trade_history and live repeat them)"
    );
}
