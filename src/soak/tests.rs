use super::*;

#[test]
fn a_settle_not_longer_than_the_transaction_expiry_is_refused() {
    // 30 s used to give a 10 s settle, equal to the 10 s expiry: a false FAIL.
    let short = SoakSettings::new(Duration::from_secs(30), 1, 0.05);
    assert!(short.settle > Duration::from_secs(short.client.expiration_secs));
    assert_eq!(short.validate(), Ok(()));
    let mut settings = short.clone();
    settings.settle = Duration::from_secs(settings.client.expiration_secs);
    let err = settings.validate().unwrap_err();
    assert!(err.contains("transaction expiry"), "{err}");
}

#[test]
fn durations_parse_with_units() {
    assert_eq!(parse_duration("300"), Ok(Duration::from_secs(300)));
    assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3_600)));
    assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5_400)));
    assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert!(parse_duration("1d").unwrap_err().contains("unknown unit"));
    assert!(parse_duration("h").is_err());
    assert!(parse_duration("-5").is_err());
}

#[test]
fn the_profile_switches_every_fault_on_and_validates() {
    let f = fault_profile(0.05, 3);
    f.validate("faults").unwrap();
    assert_eq!(f.seed, 3);
    for p in [
        f.ws_drop_probability,
        f.ws_stall_probability,
        f.ws_malformed_probability,
        f.rest_429_probability,
        f.rest_5xx_probability,
        f.rest_timeout_probability,
        f.node_429_probability,
        f.node_5xx_probability,
        f.tx_abort_probability,
        f.tx_expire_probability,
        f.tx_lose_probability,
        f.sequence_skew_probability,
    ] {
        assert!(p > 0.0 && p <= 1.0, "{f:?}");
    }
    let off = fault_profile(0.0, 3);
    assert_eq!(
        off,
        FaultConfig {
            seed: 3,
            ws_stall_ms: 2_000,
            ..FaultConfig::default()
        }
    );
    fault_profile(5.0, 1).validate("faults").unwrap();
    fault_profile(f64::NAN, 1).validate("faults").unwrap();
}

#[test]
fn refusals_are_bucketed_by_cause() {
    assert_eq!(
        refusal_cause("transaction 0xab expired before it committed"),
        "expired"
    );
    assert_eq!(refusal_cause("Kana REST: 503 Service"), "rest");
    assert_eq!(refusal_cause("node refused the transaction: bad"), "node");
    assert_eq!(refusal_cause("Move abort 1002 E_PAUSED"), "abort");
}

#[test]
fn a_rejection_names_its_hash() {
    let h = format!("0x{}", "ab".repeat(32));
    assert_eq!(
        hash_in(&format!("transaction {h} expired before it committed")),
        Some(h)
    );
    assert_eq!(hash_in("no hash here"), None);
}

fn order(id: u128, hash: &str, price: u64) -> SimOrder {
    SimOrder {
        market: MarketId(1338),
        id: VenueOrderId(id),
        hash: hash.into(),
        seq: 1,
        side: PositionSide::Long,
        direction: Direction::Open,
        kind: OrderKind::Limit,
        price,
        lots: 1000,
    }
}

fn place(client: u64, price: u64) -> OrderRequest {
    OrderRequest {
        client_id: ClientOrderId(client),
        order: crate::model::NewOrder::limit(
            MarketId(1338),
            crate::model::Side::Buy,
            Lots(1000),
            Ticks(price),
        ),
    }
}

fn sent(place: Vec<OrderRequest>, first: RequestOutcome, last: RequestOutcome) -> Sent {
    let tokens = match &first {
        RequestOutcome::Ambiguous { token: Some(t), .. } => vec![t.clone()],
        _ => Vec::new(),
    };
    Sent {
        at: tokio::time::Instant::now(),
        request: VenueRequest::Orders {
            market: MarketId(1338),
            cancel: Vec::new(),
            place,
        },
        first: Some(first),
        last: Some(last),
        tokens,
        resolves: 0,
    }
}

fn accepted(placed: Vec<(u64, Option<u128>)>) -> RequestOutcome {
    RequestOutcome::Accepted {
        placed: placed
            .into_iter()
            .map(|(c, v)| (ClientOrderId(c), v.map(VenueOrderId)))
            .collect(),
    }
}

fn truth_of(orders: Vec<SimOrder>, txs: &[(&str, Chain)]) -> Truth {
    Truth {
        txs: txs
            .iter()
            .map(|(h, c)| ((*h).to_string(), (1, *c)))
            .collect(),
        orders,
        ..Truth::default()
    }
}

fn log_of(sent: Vec<Sent>) -> WriteLog {
    let mut log = WriteLog::default();
    for (i, s) in sent.iter().enumerate() {
        for t in &s.tokens {
            log.by_token.insert(t.clone(), i);
        }
    }
    log.sent = sent;
    log
}

/// Orders are attributed by id, by transaction hash and by shape; a clean run has no
/// duplicate and nothing unexplained.
#[test]
fn attribution_by_id_hash_and_shape() {
    let ambiguous = RequestOutcome::Ambiguous {
        reason: "timeout".into(),
        token: Some("0xh2".into()),
    };
    let log = log_of(vec![
        sent(
            vec![place(1, 100)],
            accepted(vec![(1, Some(11))]),
            accepted(vec![(1, Some(11))]),
        ),
        sent(vec![place(2, 101)], ambiguous.clone(), ambiguous),
        sent(
            vec![place(3, 102)],
            accepted(vec![(3, None)]),
            accepted(vec![(3, None)]),
        ),
    ]);
    let truth = truth_of(
        vec![
            order(11, "0xh1", 100),
            order(12, "0xh2", 101),
            order(13, "0xh3", 102),
        ],
        &[
            ("0xh1", Chain::Committed),
            ("0xh2", Chain::Committed),
            ("0xh3", Chain::Committed),
        ],
    );
    let a = audit(&log, &truth);
    assert_eq!((a.by_venue_id, a.by_tx_hash, a.by_fields), (1, 1, 1));
    assert!(a.duplicates.is_empty(), "{a:?}");
    assert_eq!(a.unexplained_count, 0);
    assert_eq!(a.misjudged_count, 0);
    assert_eq!(a.intents, 3);
}

/// An intent resubmitted after an ambiguous outcome that committed twice is a duplicate; a
/// refusal whose transaction committed is misjudged; an order nobody sent is unexplained.
#[test]
fn duplicates_misjudged_and_unexplained_are_found() {
    let ambiguous = RequestOutcome::Ambiguous {
        reason: "timeout".into(),
        token: Some("0xh1".into()),
    };
    let refused = RequestOutcome::rejected("transaction 0xh1 expired");
    let log = log_of(vec![
        sent(vec![place(1, 100)], ambiguous, refused),
        sent(
            vec![place(1, 100)],
            accepted(vec![(1, Some(12))]),
            accepted(vec![(1, Some(12))]),
        ),
    ]);
    let truth = truth_of(
        vec![
            order(11, "0xh1", 100),
            order(12, "0xh2", 100),
            order(13, "0xh9", 555),
        ],
        &[("0xh1", Chain::Committed), ("0xh2", Chain::Committed)],
    );
    let a = audit(&log, &truth);
    assert_eq!(a.duplicates.len(), 1, "{a:?}");
    assert_eq!(a.duplicates[0].intent, "c1");
    assert_eq!(a.duplicates[0].venue_orders.len(), 2);
    assert_eq!(a.duplicates[0].requests, 2);
    assert_eq!(a.misjudged_count, 1, "{a:?}");
    assert_eq!(a.unexplained_count, 1);
    assert_eq!(a.unexplained[0].price_ticks, 555);
}

/// A refused request and a later accepted one that signed the byte-identical transaction
/// (same payload, the freed number, the same expiry second): the chain executed it once, as
/// the accepted one's. The signing hook gives the accepted request its hash, so the refusal
/// is not counted as misjudged; without that hash it would be.
#[test]
fn a_refused_hash_committed_as_another_requests_is_not_misjudged() {
    let refused =
        RequestOutcome::rejected("node refused the transaction: 0xh1 rejected (HTTP 429)");
    let mut first = sent(vec![place(1, 100)], refused.clone(), refused);
    first.tokens = vec!["0xh1".into()];
    let mut second = sent(
        vec![place(2, 100)],
        accepted(vec![(2, Some(11))]),
        accepted(vec![(2, Some(11))]),
    );
    let truth = truth_of(vec![order(11, "0xh1", 100)], &[("0xh1", Chain::Committed)]);
    let unsigned = log_of(vec![first.clone(), second.clone()]);
    assert_eq!(audit(&unsigned, &truth).misjudged_count, 1);
    second.tokens = vec!["0xh1".into()];
    let a = audit(&log_of(vec![first, second]), &truth);
    assert_eq!(a.misjudged_count, 0, "{a:?}");
    assert!(a.duplicates.is_empty(), "{a:?}");
}

#[test]
fn the_sampler_flags_a_position_over_its_limits() {
    use crate::sim::server::{SimConfig, build};
    let shared = build(
        SimConfig::default(),
        Clock::starting_at(crate::model::Timestamp::from_secs(1_750_000_000)),
    )
    .unwrap();
    let profile = AccountAddress::new([9; 32]);
    let limits = Limits {
        size: BTreeMap::from([(MarketId(1338), Decimal::ONE)]),
        notional: Decimal::from(10),
        total: Decimal::from(10),
        leverage: 5,
        open_orders: 0,
    };
    let mut seen = RiskSeen::default();
    sample(&shared, profile, &limits, 0, false, &mut seen);
    assert_eq!(seen.samples, 1);
    assert_eq!(seen.breached_samples, 0, "nothing held, nothing breached");
}
