//! The real Kana client against the simulator, for the failure paths: a lost transaction must
//! not stall the ones after it, an Econia abort surfaces by name, and every reconnect resyncs
//! open orders and positions over REST before it reports `Resynced`; the session reports the
//! collateral at the start and again soon after a fill.

use std::sync::Arc;
use std::time::Duration;

use perpbot::aptos::{GasConfig, NodeClient, PrivateKey, Submitter};
use perpbot::clock::Clock;
use perpbot::config::{KanaConfig, Network, Secret, SecretSource};
use perpbot::model::{
    ClientOrderId, ConnectionState, Event, Lots, MarketId, MarketSpec, NewOrder, OrderRequest,
    Rounding, Side, Ticks,
};
use perpbot::sim::server::{SimConfig, SimHandle, start};
use perpbot::venue::kana::rest::{KanaRest, RetryPolicy};
use perpbot::venue::kana::venue::{Credentials, KanaVenue};
use perpbot::venue::kana::writer::{KanaWriter, WriterConfig};
use perpbot::venue::kana::ws::WsConfig;
use perpbot::venue::{RequestOutcome, Venue, VenueRequest, VenueWriter};
use tokio::time::{Instant, sleep, timeout};

const APT: MarketId = MarketId(1338);

fn config() -> SimConfig {
    let mut c = SimConfig {
        block_latency_ms: 30,
        ..SimConfig::default()
    };
    c.synthetic.step_ms = 30;
    c
}

async fn sim(config: SimConfig) -> SimHandle {
    start(config, "127.0.0.1:0".parse().unwrap(), Clock::system())
        .await
        .unwrap()
}

fn rest(h: &SimHandle) -> KanaRest {
    KanaRest::new(
        &h.rest_url,
        Some(Secret::new("sim".into())),
        Duration::from_secs(5),
        RetryPolicy::none(),
    )
    .unwrap()
}

/// A writer for `key` whose transactions expire `expiration_secs` after they are built (the
/// node counts one expired as soon as its ledger time passes that) and which waits up to
/// `confirm` for a commit before reporting the outcome ambiguous.
async fn writer(
    h: &SimHandle,
    key: PrivateKey,
    expiration_secs: u64,
    confirm: Duration,
) -> (KanaWriter, MarketSpec) {
    let rest = Arc::new(rest(h));
    let spec = rest.market_spec(APT).await.unwrap();
    let poll = crate::common::loopback_poll();
    let node = NodeClient::new(&h.node_url, Duration::from_secs(5))
        .unwrap()
        .with_poll_config(poll);
    let gas = GasConfig {
        max_gas_amount: 10_000,
        gas_unit_price: Some(100),
        expiration_secs,
    };
    let submitter = Arc::new(Submitter::new(node, key, 4, gas));
    let config = WriterConfig {
        confirm_timeout: confirm,
        max_batch: 10,
        delegate_for: None,
    };
    (
        KanaWriter::new(rest, submitter, vec![spec.clone()], config),
        spec,
    )
}

/// Best bid and ask of the synthetic book, in ticks, once it is two-sided.
async fn wait_book(h: &SimHandle, spec: &MarketSpec) -> (Ticks, Ticks) {
    let rest = rest(h);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let p = rest.market_price(APT).await.unwrap();
        if let (Some(bid), Some(ask)) = (p.best_bid, p.best_ask) {
            let ticks = |d| spec.price_to_ticks(d, Rounding::Exact).unwrap();
            return (ticks(bid), ticks(ask));
        }
        assert!(Instant::now() < deadline, "no two-sided book");
        sleep(Duration::from_millis(30)).await;
    }
}

fn place(order: NewOrder) -> VenueRequest {
    VenueRequest::Orders {
        market: APT,
        cancel: vec![],
        place: vec![OrderRequest {
            client_id: ClientOrderId(1),
            order,
        }],
    }
}

/// A resting bid well below the book.
fn quiet_bid(bid: Ticks) -> NewOrder {
    NewOrder::limit(
        APT,
        Side::Buy,
        Lots(1000),
        Ticks(bid.0.saturating_sub(50).max(1)),
    )
    .post_only()
    .with_leverage(2)
}

/// One transaction is lost (accepted, never committed). Once the chain proves it expired, its
/// sequence number is free again, and the next order commits instead of queueing behind the gap
/// until it expires too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_transaction_expires_and_the_next_order_still_commits() {
    let mut c = config();
    c.faults.tx_lose_probability = 1.0;
    let h = sim(c).await;
    let (w, spec) = writer(
        &h,
        PrivateKey::from_seed_bytes([41u8; 32]),
        2,
        Duration::from_millis(300),
    )
    .await;
    let (bid, _) = wait_book(&h, &spec).await;

    let lost = place(quiet_bid(bid));
    let first = w
        .execute(lost.clone(), &perpbot::venue::RequestContext::none())
        .await;
    let RequestOutcome::Ambiguous { token, .. } = &first else {
        panic!("the lost transaction is ambiguous first: {first:?}");
    };
    // From now on every transaction commits.
    h.shared.core().config.faults.tx_lose_probability = 0.0;

    let deadline = Instant::now() + Duration::from_secs(20);
    let resolved = loop {
        let r = w.resolve(&lost, token.as_deref()).await;
        if !matches!(r, RequestOutcome::Ambiguous { .. }) {
            break r;
        }
        assert!(Instant::now() < deadline, "never resolved: {r:?}");
        sleep(Duration::from_millis(100)).await;
    };
    assert!(
        matches!(&resolved, RequestOutcome::Rejected { reason, .. } if reason.contains("expired")),
        "{resolved:?}"
    );

    let next = w
        .execute(
            place(quiet_bid(bid)),
            &perpbot::venue::RequestContext::none(),
        )
        .await;
    assert!(
        matches!(next, RequestOutcome::Accepted { .. }),
        "the next order commits: {next:?}"
    );
    h.stop();
}

/// A post-only bid above the ask aborts in Econia's `market` module with code 13; the rejection
/// names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crossing_post_only_order_is_rejected_naming_the_econia_abort() {
    let h = sim(config()).await;
    let (w, spec) = writer(
        &h,
        PrivateKey::from_seed_bytes([42u8; 32]),
        30,
        Duration::from_secs(3),
    )
    .await;
    let (_, ask) = wait_book(&h, &spec).await;
    let order = NewOrder::limit(APT, Side::Buy, Lots(1000), Ticks(ask.0 + 200))
        .post_only()
        .with_leverage(2);
    let outcome = w
        .execute(place(order), &perpbot::venue::RequestContext::none())
        .await;
    let RequestOutcome::Rejected { reason, .. } = &outcome else {
        panic!("{outcome:?}");
    };
    assert!(
        reason.contains("E_POST_OR_ABORT_CROSSES_SPREAD(0xd)"),
        "{reason}"
    );
    // Aptos charges gas for an abort: it is counted as a failed transaction.
    let costs = w.tx_costs();
    assert_eq!((costs.transactions, costs.failed_transactions), (1, 1));
    h.stop();
}

/// With the simulator dropping the socket now and then, every `Resynced` is preceded, since the
/// latest `Connected`, by the open-orders and positions snapshots of the REST resync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reconnect_resyncs_open_orders_and_positions_before_resynced() {
    let mut c = config();
    c.faults.ws_drop_probability = 0.05;
    c.faults.seed = 7;
    let chain_id = c.chain_id;
    let api_key = c.api_key.clone();
    let h = sim(c).await;
    let key = PrivateKey::from_seed_bytes([43u8; 32]);

    // Something to resync: one resting order.
    let (w, spec) = writer(&h, key.clone(), 30, Duration::from_secs(3)).await;
    let (bid, _) = wait_book(&h, &spec).await;
    let placed = w
        .execute(
            place(quiet_bid(bid)),
            &perpbot::venue::RequestContext::none(),
        )
        .await;
    assert!(
        matches!(placed, RequestOutcome::Accepted { .. }),
        "{placed:?}"
    );

    let kana = KanaConfig {
        network: Network::Testnet,
        rest_url: h.rest_url.clone(),
        ws_url: h.ws_url.clone(),
        node_url: h.node_url.clone(),
        chain_id,
        api_key: SecretSource::default(),
        private_key: SecretSource::default(),
        i_understand_this_is_mainnet: false,
        max_gas_amount: 10_000,
        gas_unit_price: Some(100),
        expiration_secs: 30,
        confirm_timeout_ms: 5_000,
        request_timeout_ms: 5_000,
        max_batch: 10,
        delegate_for: None,
        package: None,
        balance_poll_ms: 10_000,
        faucet_package: None,
    };
    let ws = WsConfig {
        url: h.ws_url.clone(),
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
        ..WsConfig::default()
    };
    let credentials = Credentials {
        api_key: Secret::new(api_key),
        key,
    };
    let venue = Box::new(
        KanaVenue::new(kana, Clock::system())
            .with_credentials(credentials)
            .with_ws_config(ws),
    );
    let mut session = venue.connect(&[APT]).await.expect("connects");

    let (mut connected, mut reconnecting, mut resynced) = (0, 0, 0);
    let (mut orders_seen, mut positions_seen) = (false, false);
    let mut resting_in_resync = false;
    let deadline = Instant::now() + Duration::from_secs(30);
    while resynced < 3 || reconnecting < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = match timeout(left, session.events.recv()).await {
            Ok(Some(e)) => e,
            other => panic!(
                "{connected} connects, {reconnecting} reconnects, {resynced} resyncs: {other:?}"
            ),
        };
        match event {
            Event::Connection(c) => match c.state {
                ConnectionState::Connected => {
                    connected += 1;
                    (orders_seen, positions_seen) = (false, false);
                }
                ConnectionState::Reconnecting => reconnecting += 1,
                ConnectionState::Resynced => {
                    assert!(
                        orders_seen && positions_seen,
                        "Resynced #{} after connect #{connected} without open orders \
                         ({orders_seen}) and positions ({positions_seen})",
                        resynced + 1
                    );
                    resynced += 1;
                }
                _ => {}
            },
            Event::OpenOrders(o) => {
                orders_seen = true;
                resting_in_resync |= o.orders.len() == 1;
            }
            Event::Position(_) => positions_seen = true,
            _ => {}
        }
    }
    assert!(connected >= 3, "{connected}");
    assert!(resting_in_resync, "the resting order was in the snapshots");
    h.stop();
}

/// The Kana venue reports the profile's collateral when the session starts, and reads it again
/// soon after the stream shows a fill or a deposit (long before its timer would), so risk checks
/// margin against a current figure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_reports_collateral_at_start_and_after_a_fill() {
    let h = sim(config()).await;
    let key = PrivateKey::from_seed_bytes([11; 32]);
    let kana = KanaConfig {
        network: Network::Testnet,
        rest_url: h.rest_url.clone(),
        ws_url: h.ws_url.clone(),
        node_url: h.node_url.clone(),
        chain_id: SimConfig::default().chain_id,
        api_key: SecretSource::default(),
        private_key: SecretSource::default(),
        i_understand_this_is_mainnet: false,
        max_gas_amount: 10_000,
        gas_unit_price: Some(100),
        expiration_secs: 30,
        confirm_timeout_ms: 5_000,
        request_timeout_ms: 5_000,
        max_batch: 10,
        delegate_for: None,
        package: None,
        // Far longer than the test: every reading after the first is the fill's.
        balance_poll_ms: 600_000,
        faucet_package: None,
    };
    let key_wallet = key.address();
    let credentials = Credentials {
        api_key: Secret::new("sim".into()),
        key: key.clone(),
    };
    let venue = Box::new(KanaVenue::new(kana, Clock::system()).with_credentials(credentials));
    let mut session = venue.connect(&[APT]).await.expect("connects");
    let first = next_balance(&mut session.events).await;
    // The simulator credits a new wallet's profile 10,000 (its auto_fund).
    assert_eq!(first.available, rust_decimal::Decimal::from(10_000));

    // A market buy fills at once: margin moves into a position and a fee is paid.
    let (w, spec) = writer(&h, key, 30, Duration::from_secs(5)).await;
    wait_book(&h, &spec).await;
    let mut buy = NewOrder::market(APT, Side::Buy, Lots(1000)).with_leverage(2);
    buy.direction = perpbot::model::Direction::Open;
    let outcome = w
        .execute(place(buy), &perpbot::venue::RequestContext::none())
        .await;
    assert!(
        matches!(outcome, RequestOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    let after = next_balance(&mut session.events).await;
    assert!(
        after.available < first.available,
        "the fill's margin and fee leave less available: {} then {}",
        first.available,
        after.available
    );
    // A deposit (the wallet holds the auto-funded tokens too) is read as soon as it shows.
    let deposited = w
        .deposit(key_wallet, rust_decimal::Decimal::from(250))
        .await;
    assert!(
        matches!(deposited, RequestOutcome::Accepted { .. }),
        "{deposited:?}"
    );
    let later = next_balance(&mut session.events).await;
    assert!(
        later.available >= after.available + rust_decimal::Decimal::from(249),
        "the deposit shows: {} then {}",
        after.available,
        later.available
    );
    h.stop();
}

/// The next balance event (other events are passed over), within 10 s.
async fn next_balance(events: &mut tokio::sync::mpsc::Receiver<Event>) -> perpbot::model::Balance {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, events.recv()).await {
            Ok(Some(Event::Balance(b))) => return b,
            Ok(Some(_)) => {}
            other => panic!("no balance event: {other:?}"),
        }
    }
}
