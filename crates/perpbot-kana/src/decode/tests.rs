use super::*;
use rust_decimal_macros::dec;

mod fast_paths;

fn decoder() -> KanaDecoder {
    KanaDecoder::new(builtin_specs(), KanaUnits::Auto).unwrap()
}

fn decode_ok(d: &mut KanaDecoder, frame: &str) -> Vec<Event> {
    let mut out = Vec::new();
    let n = d.decode(frame, Timestamp::from_secs(42), &mut out).unwrap();
    assert_eq!(n, out.len());
    out
}

fn decode_err(d: &mut KanaDecoder, frame: &str) -> DecodeError {
    let mut out = vec![Event::Timer(perpbot_model::TimerId(7))];
    let e = d
        .decode(frame, Timestamp::from_secs(42), &mut out)
        .unwrap_err();
    assert_eq!(
        out,
        vec![Event::Timer(perpbot_model::TimerId(7))],
        "nothing appended"
    );
    e
}

fn secs(s: u64) -> Timestamp {
    Timestamp::from_secs(s)
}

fn apt_like(id: u64) -> MarketSpec {
    MarketSpec {
        id: MarketId(id),
        ..MarketSpec::kana_apt_testnet()
    }
}

// --- reference §7.4 samples -----------------------------------------------------------

const G2_POSITIONS: &str = r#"{"data":[{"address":"0x4d6dc68e391e86991e58ab4d548b7e92872430d1f51bc666fe0c206bad7ff770","entry_price":"6050","is_long":false,"last_updated":"1739788459","leverage":2,"liq_price":"8853.658536585366","margin":"3025000","market_id":"396","size":"1000","sl":null,"tp":null,"trade_id":"16509835945970048696716","value":"6050000"}],"message":"positions"}"#;

#[test]
fn g2_positions_sample_in_raw_units() {
    let events = decode_ok(&mut decoder(), G2_POSITIONS);
    let expected = Position {
        market: MarketId(396),
        side: PositionSide::Short,
        lots: Lots(1000),
        entry_price: dec!(6.05),
        margin: dec!(3.025),
        leverage: 2,
        liquidation_price: Some(dec!(8.853658536585366)),
        take_profit: None,
        stop_loss: None,
        updated_at: secs(1_739_788_459),
    };
    assert_eq!(
        events,
        vec![Event::Position(PositionUpdate {
            positions: vec![expected],
            snapshot: true
        })]
    );
}

const G2_TRADE_HISTORY: &str = r#"{"data":[{"address":"0x4d6d…f770","fee":"3025","last_updated":"1739788459","market_id":"396","order_type":2,"pnl":"0","price":"6050","size":"1000","timestamp":"1739788459","trade_id":"16509835945970048696716"}],"message":"trade_history"}"#;

fn g2_fill() -> Fill {
    Fill {
        market: MarketId(396),
        client_id: None,
        venue_id: None,
        trade_id: TradeId(
            FillKey {
                trade_id: 16_509_835_945_970_048_696_716,
                order_id: 0,
                version: 0,
                ts_secs: 1_739_788_459,
                order_type: 2,
                lots: 1000,
                price: 6050,
            }
            .id(),
        ),
        side: Side::Sell,
        direction: Direction::Open,
        lots: Lots(1000),
        price: Ticks(6050),
        fee: dec!(0.003025),
        realized_pnl: Decimal::ZERO,
        liquidity: Liquidity::Taker,
        ts: secs(1_739_788_459),
    }
}

#[test]
fn g2_trade_history_sample() {
    let events = decode_ok(&mut decoder(), G2_TRADE_HISTORY);
    assert_eq!(events, vec![Event::Fill(Box::new(g2_fill()))]);
}

#[test]
fn g2_open_orders_sample() {
    let frame = r#"{"data":[{"address":"0x4d6d…f770","last_updated":"1739790733","leverage":2,"market_id":"396","order_id":"12907057702855018828273522","order_type":1,"order_value":"6002000","price":"6002","remaining_size":"1000","timestamp":"1739790733","total_size":"1000","trade_id":"16528282690043758248332"}],"message":"open_orders"}"#;
    let events = decode_ok(&mut decoder(), frame);
    let order = OpenOrderInfo {
        market: MarketId(396),
        venue_id: VenueOrderId(12_907_057_702_855_018_828_273_522),
        side: Side::Buy,
        direction: Direction::Open,
        price: Ticks(6002),
        total: Lots(1000),
        remaining: Lots(1000),
        leverage: 2,
        updated_at: secs(1_739_790_733),
    };
    assert_eq!(
        events,
        vec![Event::OpenOrders(OpenOrdersSnapshot {
            market: None,
            orders: vec![order],
            ts: secs(1_739_790_733),
        })]
    );
}

#[test]
fn empty_open_orders_and_positions_are_snapshots() {
    let mut d = decoder();
    let events = decode_ok(&mut d, r#"{"data":[],"message":"open_orders"}"#);
    assert_eq!(
        events,
        vec![Event::OpenOrders(OpenOrdersSnapshot {
            market: None,
            orders: vec![],
            ts: secs(42)
        })]
    );
    let events = decode_ok(&mut d, r#"{"data":[],"message":"positions"}"#);
    assert_eq!(
        events,
        vec![Event::Position(PositionUpdate {
            positions: vec![],
            snapshot: true
        })]
    );
}

const G2_ORDERBOOK: &str = r#"{"data":[{"is_ask":true,"last_updated":"1739790988","market_id":"396","price":"6036","size":"169320"},
         {"is_ask":false,"last_updated":"1739790988","market_id":"396","price":"6031","size":"174998"}],
 "message":"orderbook"}"#;

#[test]
fn g2_orderbook_sample() {
    let events = decode_ok(&mut decoder(), G2_ORDERBOOK);
    assert_eq!(
        events,
        vec![Event::Book(BookUpdate {
            market: MarketId(396),
            kind: BookUpdateKind::Snapshot,
            bids: vec![Level::new(6031, 174_998)],
            asks: vec![Level::new(6036, 169_320)],
            ts: secs(1_739_790_988),
        })]
    );
}

const G4_RECENT_TRADES: &str = r#"{"data":[{"address":"0x73e73911c0771e4d58f17aea3d0c70980ca2bae32c665b37101d1a18f4ef60f1","fee":"0","last_updated":1746177751,"leverage":2,"market_id":"1338","order_type":1,"order_value":"65.393818","pnl":"0","price":"5.518","size":"11.851","timestamp":1746177750,"trade_id":"176590681017621537621306","transaction_version":6704413443},
         {"address":"0x85a0d7c3e1f5e243b80055b249d6e4cc4b2db5f599fa7a27b05850af8eccffdd","fee":"0.0326969090000000006806411505","last_updated":1746177751,"leverage":2,"market_id":"1338","order_type":7,"order_value":"65.393818","pnl":"-0.0682499090000000006806411505","price":"5.518","size":"11.851","timestamp":1746177750,"trade_id":"176609127761695247172922","transaction_version":6704413443}]}"#;

#[test]
fn g4_recent_trades_sample_without_message_emits_one_trade_per_pair() {
    let mut d = decoder();
    let events = decode_ok(&mut d, G4_RECENT_TRADES);
    let trade = PublicTrade {
        market: MarketId(1338),
        price: Ticks(5518),
        lots: Lots(11_851),
        // The taker (fee > 0) is order type 7 = close long = sell.
        aggressor: Some(Side::Sell),
        ts: secs(1_746_177_750),
    };
    assert_eq!(events, vec![Event::Trade(trade)]);
    assert_eq!(d.stats().topic(Topic::RecentTrades).skipped, 1);
    // The same list pushed again emits nothing.
    assert!(decode_ok(&mut d, G4_RECENT_TRADES).is_empty());
    // Taker listed first: the aggressor is the same.
    let inner = &G4_RECENT_TRADES[9..G4_RECENT_TRADES.len() - 2];
    let (maker, taker) = inner.split_once("},\n         {").unwrap();
    let swapped = format!("{{\"data\":[{{{taker},{maker}}}]}}");
    let mut d = decoder();
    let Event::Trade(t) = &decode_ok(&mut d, &swapped)[0] else {
        panic!()
    };
    assert_eq!(t.aggressor, Some(Side::Sell));
}

#[test]
fn g4_live_funding_rate_sample() {
    let frame = r#"{"data":[{"funding_rate":"0","funding_timestamp":0,"last_updated":1747382402,"market_id":"14","transaction_timestamp":1747382400,"transaction_version":2726355750},
         {"funding_rate":"0","funding_timestamp":0,"last_updated":1747382402,"market_id":"16","transaction_timestamp":1747382400,"transaction_version":2726355754}],
 "message":"live_funding_rate"}"#;
    let mut d = KanaDecoder::new(vec![apt_like(14), apt_like(16)], KanaUnits::Auto).unwrap();
    let events = decode_ok(&mut d, frame);
    let f = |m| {
        Event::Funding(FundingRate {
            market: MarketId(m),
            rate: dec!(0),
            ts: secs(1_747_382_400),
        })
    };
    assert_eq!(events, vec![f(14), f(16)]);
    // Only 14 configured: 16 is skipped silently and counted.
    let mut d = KanaDecoder::new(vec![apt_like(14)], KanaUnits::Auto).unwrap();
    assert_eq!(decode_ok(&mut d, frame), vec![f(14)]);
    assert_eq!(d.stats().topic(Topic::LiveFundingRate).skipped, 1);
}

// --- reference §4 REST records ------------------------------------------------------------

#[test]
fn rest_market_info_example() {
    let text = r#"{
          "success": true,
          "message": "Market information fetched successfully",
          "data": [{
            "__variant__": "V1", "base_decimals": 8, "base_name": "APT/USDC", "counter": "0",
            "creator": "0xb61d7b57333abf8ac036e752f19d0ba0c4baa5404db1cbf868c57dac3628f2bf",
            "custodian_id": "75",
            "fee_address": "0x7724a4a23b25b460abc2a5d9fe1fe3c47e2a0e10a156dd713a221f129579c388",
            "is_recognised": false, "lot_size": "100000", "maintenance_margin": "250",
            "market_address": "0xcfa0086c26787035de6b4a312875c7a70b2f9a29fa880d0cf633ef3dd0acd2c3",
            "market_id": "1338", "market_status": 1, "max_leverage": "20",
            "max_lots": "150000000", "max_position_value": "125000000", "min_lots": "500",
            "quote_decimals": 6, "quote_precision": 3, "tick_size": "1"
          }]
        }"#;
    let expected = MarketSpec {
        name: "APT/USDC".into(),
        ..MarketSpec::kana_apt_testnet()
    };
    assert_eq!(
        specs_from_market_info_json(text).unwrap(),
        vec![expected.clone()]
    );
    // G1 flag name, bare list, single object, `data` as one object.
    let g1 = text.replace("\"success\"", "\"status\"");
    assert_eq!(
        specs_from_market_info_json(&g1).unwrap(),
        vec![expected.clone()]
    );
    let start = text.find('[').unwrap();
    let end = text.rfind(']').unwrap();
    let list = &text[start..=end];
    assert_eq!(
        specs_from_market_info_json(list).unwrap(),
        vec![expected.clone()]
    );
    let object = &list[1..list.len() - 1];
    assert_eq!(
        specs_from_market_info_json(object).unwrap(),
        vec![expected.clone()]
    );
    let env_obj = format!(r#"{{"success":true,"message":"m","data":{object}}}"#);
    assert_eq!(
        specs_from_market_info_json(&env_obj).unwrap(),
        vec![expected]
    );
    // Failure flag carries the message.
    let failed = r#"{"success":false,"message":"Market not found","data":null}"#;
    assert_eq!(
        specs_from_market_info_json(failed),
        Err(WireError::Rest("Market not found".into()))
    );
    assert_eq!(
        specs_from_market_info_json(r#"{"success":true,"data":[]}"#),
        Ok(vec![])
    );
    assert!(matches!(
        specs_from_market_info_json("nope"),
        Err(WireError::Json(_))
    ));
}

#[test]
fn rest_open_order_record() {
    let rec = r#"{ "address": "0x…profile", "market_id": "1338", "leverage": 2, "order_type": 1,
  "timestamp": 1746177750, "price": "5.518", "total_size": "11.851",
  "remaining_size": "11.851", "order_value": "65.393818",
  "order_id": "12907057702855018828273522", "trade_id": "16528282690043758248332",
  "last_updated": 1746177751, "transaction_version": 6704413443 }"#;
    let frame = format!(r#"{{"data":[{rec}],"message":"open_orders"}}"#);
    let events = decode_ok(&mut decoder(), &frame);
    let order = OpenOrderInfo {
        market: MarketId(1338),
        venue_id: VenueOrderId(12_907_057_702_855_018_828_273_522),
        side: Side::Buy,
        direction: Direction::Open,
        price: Ticks(5518),
        total: Lots(11_851),
        remaining: Lots(11_851),
        leverage: 2,
        updated_at: secs(1_746_177_751),
    };
    assert_eq!(
        events,
        vec![Event::OpenOrders(OpenOrdersSnapshot {
            market: None,
            orders: vec![order],
            ts: secs(1_746_177_751),
        })]
    );
}

#[test]
fn rest_position_record_in_human_units() {
    // A BTC-like grid for market 15: lot 0.00001 BTC, tick 1 USD.
    let btc = MarketSpec {
        id: MarketId(15),
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
    let rec = r#"{ "address": "0x…profile", "market_id": "15", "leverage": 10, "trade_side": true,
  "size": "0.0001", "available_order_size": "0.0001", "value": "11.53",
  "entry_price": "115300", "liq_price": "106430.769", "margin": "1.153",
  "tp": null, "sl": null, "trade_id": "<u128 decimal string>",
  "last_updated": 1753165487, "transaction_version": 3102182809 }"#;
    let frame = format!(r#"{{"data":[{rec}],"message":"positions"}}"#);
    let mut d = KanaDecoder::new(vec![btc], KanaUnits::Auto).unwrap();
    let events = decode_ok(&mut d, &frame);
    let expected = Position {
        market: MarketId(15),
        side: PositionSide::Long,
        lots: Lots(10),
        entry_price: dec!(115300),
        margin: dec!(1.153),
        leverage: 10,
        liquidation_price: Some(dec!(106430.769)),
        take_profit: None,
        stop_loss: None,
        updated_at: secs(1_753_165_487),
    };
    assert_eq!(
        events,
        vec![Event::Position(PositionUpdate {
            positions: vec![expected],
            snapshot: true
        })]
    );
}

const ORDER_HISTORY_REC: &str = r#"{ "address": "0x…", "market_id": "396", "leverage": 2, "order_type": 4,
  "timestamp": "1739790700", "is_market_order": false, "size": "1000",
  "price": "6002", "order_value": "6002000", "status": "Filled",
  "order_id": "12906965467445688751095808", "trade_id": "16509835945970048696716",
  "last_updated": "1739790700" }"#;

#[test]
fn rest_order_history_record_and_status_changes() {
    let mut d = decoder();
    let filled = format!(r#"{{"data":[{ORDER_HISTORY_REC}],"message":"order_history"}}"#);
    // The order is closed; its amounts come with its fills from trade_history.
    assert_eq!(
        decode_ok(&mut d, &filled),
        vec![Event::Order(OrderUpdate {
            market: MarketId(396),
            client_id: None,
            venue_id: Some(VenueOrderId(12906965467445688751095808)),
            kind: OrderUpdateKind::Filled,
            ts: secs(1_739_790_700),
        })]
    );
    // Once per order and status; a partly filled record adds nothing to what its fills say.
    assert!(decode_ok(&mut d, &filled).is_empty());
    assert_eq!(d.stats().topic(Topic::OrderHistory).skipped, 1);
    let partly = filled.replace("\"Filled\"", "\"Partially Filled\"");
    assert!(decode_ok(&mut d, &partly).is_empty());
    assert_eq!(d.stats().topic(Topic::OrderHistory).skipped, 2);

    let open = ORDER_HISTORY_REC.replace("\"Filled\"", "\"Open\"");
    let cancelled = ORDER_HISTORY_REC
        .replace("\"Filled\"", "\"cancelled\"")
        .replace(
            "\"last_updated\": \"1739790700\"",
            "\"last_updated\": 1739790800",
        );
    let frame = format!(r#"{{"data":[{open},{cancelled}],"message":"order_history"}}"#);
    let update = |kind, ts| {
        Event::Order(OrderUpdate {
            market: MarketId(396),
            client_id: None,
            venue_id: Some(VenueOrderId(12_906_965_467_445_688_751_095_808)),
            kind,
            ts: secs(ts),
        })
    };
    assert_eq!(
        decode_ok(&mut d, &frame),
        vec![
            update(OrderUpdateKind::Accepted, 1_739_790_700),
            update(OrderUpdateKind::Cancelled, 1_739_790_800)
        ]
    );
    // The history replayed (and the newest record on the live topic) emits nothing new.
    assert!(decode_ok(&mut d, &frame).is_empty());
    let live = format!(r#"{{"data":[{cancelled}],"message":"live_order_history"}}"#);
    assert!(decode_ok(&mut d, &live).is_empty());
}

const FILL_REC: &str = r#"{ "address": "0x…", "leverage": 2, "market_id": "1338", "timestamp": 1746177750,
  "size": "11.851", "order_type": 7, "price": "5.518", "order_value": "65.393818",
  "pnl": "-0.0682499090000000006806411505", "fee": "0.0326969090000000006806411505",
  "trade_id": "176609127761695247172922", "last_updated": 1746177751,
  "transaction_version": 6704413443, "entry_price": null, "order_id": "12907057702855018828273522" }"#;

fn g4_fill() -> Fill {
    Fill {
        market: MarketId(1338),
        client_id: None,
        venue_id: Some(VenueOrderId(12_907_057_702_855_018_828_273_522)),
        trade_id: TradeId(
            FillKey {
                trade_id: 176_609_127_761_695_247_172_922,
                order_id: 12_907_057_702_855_018_828_273_522,
                version: 6_704_413_443,
                ts_secs: 1_746_177_750,
                order_type: 7,
                lots: 11_851,
                price: 0,
            }
            .id(),
        ),
        side: Side::Sell,
        direction: Direction::Close,
        lots: Lots(11_851),
        price: Ticks(5518),
        fee: dec!(0.0326969090000000006806411505),
        realized_pnl: dec!(-0.0682499090000000006806411505),
        liquidity: Liquidity::Taker,
        ts: secs(1_746_177_750),
    }
}

#[test]
fn rest_fill_record() {
    // `order_id` is "…" in the reference; a real id stands in.
    let frame = format!(r#"{{"data":[{FILL_REC}],"message":"trade_history"}}"#);
    assert_eq!(
        decode_ok(&mut decoder(), &frame),
        vec![Event::Fill(Box::new(g4_fill()))]
    );
    // The live topic sends single records; an object instead of a list works too.
    let frame = format!(r#"{{"data":{FILL_REC},"message":"live_trade_history"}}"#);
    assert_eq!(
        decode_ok(&mut decoder(), &frame),
        vec![Event::Fill(Box::new(g4_fill()))]
    );
}

#[test]
fn a_fill_read_over_rest_after_its_push_counts_once() {
    // The resync's missed-fills read returns a fill the socket already delivered, as the
    // REST record has it: version 0, price with more digits. Counted twice, it would "fill"
    // an order still resting on the venue.
    let mut d = decoder();
    let pushed = format!(r#"{{"data":[{FILL_REC}],"message":"trade_history"}}"#);
    assert_eq!(
        decode_ok(&mut d, &pushed),
        vec![Event::Fill(Box::new(g4_fill()))]
    );
    let rest = FILL_REC
        .replace(
            r#""transaction_version": 6704413443"#,
            r#""transaction_version": 0"#,
        )
        .replace(r#""price": "5.518""#, r#""price": "5.5180""#);
    assert_ne!(rest, FILL_REC);
    let read = format!(r#"{{"data":[{rest}],"message":"trade_history"}}"#);
    assert_eq!(decode_ok(&mut d, &read), Vec::<Event>::new());
    // With the same version and the price as pushed: the same fill again.
    let same = FILL_REC.replace(r#""price": "5.518""#, r#""price": "5.5180""#);
    let frame = format!(r#"{{"data":[{same}],"message":"trade_history"}}"#);
    assert_eq!(decode_ok(&mut d, &frame), Vec::<Event>::new());
    // Another fill of the same order in the same second, same size, but another
    // transaction: a fill of its own. So is one in another second.
    let other_tx = FILL_REC.replace("6704413443", "6704413444");
    let frame = format!(r#"{{"data":[{other_tx}],"message":"trade_history"}}"#);
    assert_eq!(decode_ok(&mut d, &frame).len(), 1);
    let later = FILL_REC.replace("1746177750", "1746177751");
    let frame = format!(r#"{{"data":[{later}],"message":"trade_history"}}"#);
    assert_eq!(decode_ok(&mut d, &frame).len(), 1);
    // Read first without a version, then pushed with one: once.
    let mut d = decoder();
    assert_eq!(decode_ok(&mut d, &read).len(), 1);
    assert_eq!(decode_ok(&mut d, &pushed), Vec::<Event>::new());
}

// --- malformed input and edge cases -----------------------------------------------------

#[test]
fn invalid_json_is_an_error_and_counted() {
    let mut d = decoder();
    let e = decode_err(&mut d, r#"{"data":[{"is_ask":true"#);
    assert_eq!(e.topic, "unknown");
    assert_eq!(e.field, "frame");
    assert!(e.reason.starts_with("is not a valid frame"), "{e}");
    assert_eq!(d.stats().topic(Topic::Unknown).errors, 1);
    let e = decode_err(&mut d, "");
    assert_eq!(e.field, "frame");
}

#[test]
fn bad_number_in_one_level_names_topic_field_and_value() {
    let mut d = decoder();
    let bad = G2_ORDERBOOK.replace("\"174998\"", "\"17x998\"");
    let e = decode_err(&mut d, &bad);
    assert_eq!(
        e.to_string(),
        "orderbook: field `size`: \"17x998\" is not an unsigned integer"
    );
    let human = r#"{"data":[{"is_ask":true,"market_id":1338,"price":"5.52","size":"1"},
            {"is_ask":false,"market_id":1338,"price":"5.5185","size":"1"}],"message":"orderbook"}"#;
    let e = decode_err(&mut d, human);
    assert_eq!(
        e.to_string(),
        "orderbook: field `price`: \"5.5185\" is not a multiple of the market's tick (0.001)"
    );
    let abc = G2_POSITIONS.replace("\"size\":\"1000\"", "\"size\":\"abc\"");
    let e = decode_err(&mut decoder(), &abc.replace("396", "1338"));
    assert_eq!(
        e.to_string(),
        "positions: field `size`: \"abc\" is not a decimal"
    );
    let missing = G2_POSITIONS.replace("\"margin\":\"3025000\",", "");
    let e = decode_err(&mut decoder(), &missing);
    assert_eq!(
        (e.topic.as_str(), e.field.as_str()),
        ("positions", "margin")
    );
    assert_eq!(d.stats().topic(Topic::Orderbook).errors, 2);
    assert_eq!(d.stats().topic(Topic::Orderbook).events, 0);
}

#[test]
fn unknown_topic_is_counted_not_an_error() {
    let mut d = decoder();
    assert!(decode_ok(&mut d, r#"{"data":[{"x":1}],"message":"pong"}"#).is_empty());
    assert!(decode_ok(&mut d, r#"{"message":"subscribed"}"#).is_empty());
    assert!(decode_ok(&mut d, r#"{"data":[{"x":1}]}"#).is_empty());
    let dw = r#"{"data":[{"amount":"10"}],"message":"deposit_withdraw_history"}"#;
    assert!(decode_ok(&mut d, dw).is_empty());
    let s = d.stats();
    assert_eq!(s.topic(Topic::Unknown).frames, 3);
    assert_eq!(s.topic(Topic::Unknown).errors, 0);
    assert_eq!(s.topic(Topic::DepositWithdrawHistory).frames, 1);
    assert_eq!(s.total().frames, 4);
}

#[test]
fn duplicate_fills_across_frames_emit_once() {
    let mut d = decoder();
    assert_eq!(decode_ok(&mut d, G2_TRADE_HISTORY).len(), 1);
    assert!(decode_ok(&mut d, G2_TRADE_HISTORY).is_empty());
    let live = G2_TRADE_HISTORY.replace("\"trade_history\"", "\"live_trade_history\"");
    assert!(decode_ok(&mut d, &live).is_empty());
    assert_eq!(d.stats().topic(Topic::TradeHistory).skipped, 1);
    // A later fill of the same position (same trade_id) is a different fill.
    let later = G2_TRADE_HISTORY.replace(
        "\"timestamp\":\"1739788459\"",
        "\"timestamp\":\"1739788999\"",
    );
    assert_eq!(decode_ok(&mut d, &later).len(), 1);
}

#[test]
fn failed_frame_does_not_commit_dedupe_memory() {
    let mut d = decoder();
    let good = &G2_TRADE_HISTORY[9..G2_TRADE_HISTORY.find("],\"message\"").unwrap()];
    // A record that is not even a fill record (no `size`) fails the whole frame.
    let bad = good
        .replace("\"size\":\"1000\",", "")
        .replace("16509835945970048696716", "1");
    let frame = format!(r#"{{"data":[{good},{bad}],"message":"trade_history"}}"#);
    let e = decode_err(&mut d, &frame);
    assert_eq!(e.field, "size");
    assert!(d.last_record_issues().is_empty());
    assert_eq!(
        decode_ok(&mut d, G2_TRADE_HISTORY),
        vec![Event::Fill(Box::new(g2_fill()))]
    );
}

#[test]
fn numbers_and_strings_give_identical_events() {
    let as_numbers = G2_ORDERBOOK
        .replace("\"1739790988\"", "1739790988")
        .replace("\"396\"", "396")
        .replace("\"6036\"", "6036")
        .replace("\"169320\"", "169320");
    assert_eq!(
        decode_ok(&mut decoder(), &as_numbers),
        decode_ok(&mut decoder(), G2_ORDERBOOK)
    );
    let fill_numbers = FILL_REC
        .replace("\"11.851\"", "11.851")
        .replace("\"5.518\"", "5.518")
        .replace(
            "\"-0.0682499090000000006806411505\"",
            "-0.0682499090000000006806411505",
        )
        .replace(
            "\"0.0326969090000000006806411505\"",
            "0.0326969090000000006806411505",
        )
        .replace("\"176609127761695247172922\"", "176609127761695247172922")
        .replace("\"1338\"", "1338");
    let frame = format!(r#"{{"data":[{fill_numbers}],"message":"trade_history"}}"#);
    assert_eq!(
        decode_ok(&mut decoder(), &frame),
        vec![Event::Fill(Box::new(g4_fill()))]
    );
}

#[test]
fn unknown_markets_are_skipped_and_counted() {
    let mut d = decoder();
    let other = G2_ORDERBOOK.replacen("\"396\"", "\"397\"", 1);
    let events = decode_ok(&mut d, &other);
    let Event::Book(b) = &events[0] else { panic!() };
    assert_eq!((b.asks.len(), b.bids.len()), (0, 1));
    assert_eq!(d.stats().topic(Topic::Orderbook).skipped, 1);
    let e = decode_err(&mut d, &G2_ORDERBOOK.replacen("\"396\"", "\"x\"", 1));
    assert_eq!(e.field, "market_id");
}

#[test]
fn orderbook_frames_spanning_markets_give_one_snapshot_each() {
    let two = G2_ORDERBOOK.replacen(
        "\"market_id\":\"396\",\"price\":\"6036\",\"size\":\"169320\"",
        "\"market_id\":\"1338\",\"price\":\"6.036\",\"size\":\"169.32\"",
        1,
    );
    let events = decode_ok(&mut decoder(), &two);
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].market(), Some(MarketId(1338)));
    let Event::Book(b) = &events[0] else { panic!() };
    assert_eq!(b.asks, vec![Level::new(6036, 169_320)]);
}

#[test]
fn order_type_parity_and_unknown_codes() {
    assert_eq!(
        side_and_direction(1, None),
        Some((Side::Buy, Direction::Open))
    );
    assert_eq!(
        side_and_direction(2, None),
        Some((Side::Sell, Direction::Open))
    );
    assert_eq!(
        side_and_direction(3, None),
        Some((Side::Buy, Direction::Open))
    );
    assert_eq!(
        side_and_direction(4, None),
        Some((Side::Sell, Direction::Open))
    );
    assert_eq!(
        side_and_direction(5, None),
        Some((Side::Sell, Direction::Close))
    );
    assert_eq!(
        side_and_direction(6, None),
        Some((Side::Buy, Direction::Close))
    );
    assert_eq!(
        side_and_direction(7, None),
        Some((Side::Sell, Direction::Close))
    );
    assert_eq!(
        side_and_direction(8, None),
        Some((Side::Buy, Direction::Close))
    );
    assert_eq!(side_and_direction(9, None), None);
    assert_eq!(side_and_direction(0, None), None);
    assert_eq!(
        side_and_direction(9, Some(true)),
        Some((Side::Sell, Direction::Close))
    );

    let nine = G2_TRADE_HISTORY.replace("\"order_type\":2", "\"order_type\":9");
    let mut d = decoder();
    assert!(
        decode_ok(&mut d, &nine).is_empty(),
        "the record is left out"
    );
    assert_eq!(
        d.last_record_issues()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "record skipped: trade_history: field `order_type`: \"9\" is not a known order type \
              (1-8) and the record has no side flag"
        ]
    );
    let with_side = nine.replace("\"pnl\"", "\"is_long\":false,\"pnl\"");
    let Event::Fill(f) = &decode_ok(&mut decoder(), &with_side)[0] else {
        panic!()
    };
    assert_eq!((f.side, f.direction), (Side::Buy, Direction::Close));
}

// --- one odd record among good ones -------------------------------------------------------

/// A fill on testnet APT (1338, human units) with the given order type, price and size.
fn human_fill(id: u64, order_type: u64, price: &str, size: &str) -> String {
    format!(
        r#"{{"address":"0x1","fee":"0.01","last_updated":1746177751,"market_id":"1338","order_type":{order_type},"pnl":"0","price":"{price}","size":"{size}","timestamp":1746177751,"trade_id":"{id}","transaction_version":{id}}}"#
    )
}

fn frame_of(topic: &str, records: &[String]) -> String {
    format!(r#"{{"data":[{}],"message":"{topic}"}}"#, records.join(","))
}

#[test]
fn one_bad_fill_among_good_ones_is_skipped_reported_and_counted() {
    let frame = frame_of(
        "trade_history",
        &[
            human_fill(1, 1, "5.518", "1"),
            human_fill(2, 9, "5.518", "1"), // unknown type, no side flag
            human_fill(3, 2, "5.518", "1.0005"), // size off the lot grid
            human_fill(4, 2, "abc", "1"),   // not a number
            human_fill(5, 2, "5.52", "2"),
        ],
    );
    let mut d = decoder();
    let events = decode_ok(&mut d, &frame);
    let prices: Vec<(u64, u64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Fill(f) => Some((f.price.0, f.lots.0)),
            _ => None,
        })
        .collect();
    assert_eq!(
        prices,
        [(5518, 1000), (5520, 2000)],
        "the good fills, in order"
    );
    let issues: Vec<(String, String, String)> = d
        .last_record_issues()
        .iter()
        .map(|i| {
            assert!(matches!(i, RecordIssue::Skipped(_)), "{i}");
            let e = i.error();
            (e.topic.clone(), e.field.clone(), e.value.clone())
        })
        .collect();
    let t = "trade_history".to_owned();
    assert_eq!(
        issues,
        [
            (t.clone(), "order_type".into(), "9".into()),
            (t.clone(), "size".into(), "1.0005".into()),
            (t.clone(), "price".into(), "abc".into()),
        ]
    );
    let stats = *d.stats().topic(Topic::TradeHistory);
    assert_eq!(
        (stats.frames, stats.events, stats.errors, stats.bad_records),
        (1, 2, 0, 3)
    );
    // History topics replay: the same list again emits nothing and reports nothing new.
    assert!(decode_ok(&mut d, &frame).is_empty());
    assert!(d.last_record_issues().is_empty());
    let again = *d.stats().topic(Topic::TradeHistory);
    assert_eq!((again.bad_records, again.skipped), (3, stats.skipped + 5));
    // A later fill still gets through.
    let later = frame_of("trade_history", &[human_fill(6, 1, "5.5", "1")]);
    assert_eq!(decode_ok(&mut d, &later).len(), 1);
}

#[test]
fn off_grid_fill_price_is_kept_and_rounded_against_us() {
    // Order type 1 opens a long (a buy), 2 opens a short (a sell).
    let frame = frame_of(
        "trade_history",
        &[
            human_fill(1, 1, "5.5181", "1"),
            human_fill(2, 2, "5.5189", "1"),
        ],
    );
    let mut d = decoder();
    let events = decode_ok(&mut d, &frame);
    let fills: Vec<(Side, u64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Fill(f) => Some((f.side, f.price.0)),
            _ => None,
        })
        .collect();
    assert_eq!(
        fills,
        [(Side::Buy, 5519), (Side::Sell, 5518)],
        "a buy rounds up, a sell down"
    );
    let notes: Vec<String> = d
        .last_record_issues()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        notes,
        [
            "record kept: trade_history: field `price`: \"5.5181\" is not a multiple of the \
                 market's tick (0.001): rounded up to 5.519 (against us, a buy fill)",
            "record kept: trade_history: field `price`: \"5.5189\" is not a multiple of the \
                 market's tick (0.001): rounded down to 5.518 (against us, a sell fill)",
        ]
    );
    let stats = d.stats().topic(Topic::TradeHistory);
    assert_eq!((stats.events, stats.rounded, stats.bad_records), (2, 2, 0));
    // Replayed: deduplicated, not reported again.
    assert!(decode_ok(&mut d, &frame).is_empty());
    assert!(d.last_record_issues().is_empty());
    assert_eq!(d.stats().topic(Topic::TradeHistory).rounded, 2);
}

#[test]
fn off_grid_public_trade_is_skipped_and_the_rest_kept() {
    let frame = frame_of(
        "recent_trades",
        &[
            human_fill(1, 7, "5.5185", "1"),
            human_fill(2, 1, "5.518", "2"),
        ],
    );
    let mut d = decoder();
    let events = decode_ok(&mut d, &frame);
    let [Event::Trade(t)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!((t.price, t.lots), (Ticks(5518), Lots(2000)));
    let [RecordIssue::Skipped(e)] = d.last_record_issues() else {
        panic!("{:?}", d.last_record_issues())
    };
    assert_eq!(
        (e.topic.as_str(), e.field.as_str(), e.value.as_str()),
        ("recent_trades", "price", "5.5185")
    );
    assert_eq!(d.stats().topic(Topic::RecentTrades).bad_records, 1);
}

#[test]
fn open_orders_leave_out_an_order_of_unknown_side_and_keep_the_rest() {
    let good = r#"{"market_id":"1338","leverage":2,"order_type":1,"price":"5.518","total_size":"1","remaining_size":"1","order_id":"11","last_updated":1746177751}"#;
    let odd = good
        .replace("\"order_type\":1", "\"order_type\":11")
        .replace("\"11\"", "\"12\"");
    let frame = frame_of("open_orders", &[good.to_owned(), odd]);
    let mut d = decoder();
    let events = decode_ok(&mut d, &frame);
    let [Event::OpenOrders(o)] = events.as_slice() else {
        panic!("{events:?}")
    };
    let ids: Vec<u128> = o.orders.iter().map(|o| o.venue_id.0).collect();
    assert_eq!(ids, [11]);
    let [RecordIssue::Skipped(e)] = d.last_record_issues() else {
        panic!("{:?}", d.last_record_issues())
    };
    assert_eq!((e.field.as_str(), e.value.as_str()), ("order_type", "11"));
    assert_eq!(d.stats().topic(Topic::OpenOrders).bad_records, 1);
}

#[test]
fn one_bad_order_history_record_does_not_block_the_others() {
    let record = |id: &str, status: &str| {
        format!(
            r#"{{"market_id":"1338","order_id":"{id}","status":"{status}","last_updated":1746177751}}"#
        )
    };
    let frame = frame_of(
        "order_history",
        &[
            record("21", "Open"),
            record("x", "Open"),
            record("22", "Cancelled"),
        ],
    );
    let mut d = decoder();
    let events = decode_ok(&mut d, &frame);
    let kinds: Vec<(u128, OrderUpdateKind)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Order(u) => Some((u.venue_id.map_or(0, |v| v.0), u.kind.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        [
            (21, OrderUpdateKind::Accepted),
            (22, OrderUpdateKind::Cancelled)
        ]
    );
    assert_eq!(d.stats().topic(Topic::OrderHistory).bad_records, 1);
}

#[test]
fn decode_lines_prints_odd_records_without_failing_the_frame() {
    let frame = frame_of(
        "trade_history",
        &[
            human_fill(1, 9, "5.518", "1"),
            human_fill(2, 1, "5.518", "1"),
        ],
    );
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let summary = decode_lines(frame.as_bytes(), &mut out, &mut err, &mut decoder()).unwrap();
    assert_eq!(
        summary,
        DecodeSummary {
            frames: 1,
            events: 1,
            errors: 0,
            skipped: 0
        }
    );
    assert_eq!(
        String::from_utf8(err).unwrap(),
        "line 1: record skipped: trade_history: field `order_type`: \"9\" is not a known \
             order type (1-8) and the record has no side flag\n"
    );
}

#[test]
fn maker_fill_has_zero_fee() {
    let maker = G2_TRADE_HISTORY.replace("\"fee\":\"3025\"", "\"fee\":0");
    let Event::Fill(f) = &decode_ok(&mut decoder(), &maker)[0] else {
        panic!()
    };
    assert_eq!((f.liquidity, f.fee), (Liquidity::Maker, Decimal::ZERO));
}

#[test]
fn since_filters_history() {
    let mut d = decoder().with_since(secs(1_739_788_460));
    assert!(decode_ok(&mut d, G2_TRADE_HISTORY).is_empty());
    assert_eq!(d.stats().topic(Topic::TradeHistory).skipped, 1);
    let mut d = decoder().with_since(secs(1_739_788_459));
    assert_eq!(decode_ok(&mut d, G2_TRADE_HISTORY).len(), 1);
}

#[test]
fn dedupe_memory_is_bounded() {
    let mut d = decoder().with_dedupe_capacity(1);
    let other = G2_TRADE_HISTORY.replace("16509835945970048696716", "2");
    assert_eq!(decode_ok(&mut d, G2_TRADE_HISTORY).len(), 1);
    assert_eq!(decode_ok(&mut d, &other).len(), 1);
    // The first was forgotten.
    assert_eq!(decode_ok(&mut d, G2_TRADE_HISTORY).len(), 1);
    assert_eq!(d.fills_seen.len(), 1);
}

#[test]
fn units_modes() {
    assert!(KanaUnits::Auto.is_raw(MarketId(396)));
    assert!(!KanaUnits::Auto.is_raw(MarketId(1338)));
    assert!(KanaUnits::Raw.is_raw(MarketId(1338)));
    assert!(!KanaUnits::Human.is_raw(MarketId(396)));
    // Forced human units read the G2 sample's "6036" as a price of 6036 USDT.
    let mut d = KanaDecoder::new(builtin_specs(), KanaUnits::Human).unwrap();
    let Event::Book(b) = &decode_ok(&mut d, G2_ORDERBOOK)[0] else {
        panic!()
    };
    assert_eq!(b.asks, vec![Level::new(6_036_000, 169_320_000)]);
}

#[test]
fn best_price_shapes() {
    let mut d = decoder();
    let obj = r#"{"data":{"market_id":"1338","bestBidPrice":5.518,"bestAskPrice":"5.523"},"message":"bestPrice"}"#;
    let expected = Event::BestPrice(BestPrice {
        market: MarketId(1338),
        bid: Some(Ticks(5518)),
        ask: Some(Ticks(5523)),
        ts: secs(42),
    });
    assert_eq!(decode_ok(&mut d, obj), vec![expected.clone()]);
    let list = r#"{"data":[{"market_id":1338,"best_bid_price":"5.518","best_ask_price":5.523}],"message":"best_price"}"#;
    assert_eq!(decode_ok(&mut d, list), vec![expected]);
    let empty_side =
        r#"{"data":[{"market_id":1338,"bid":null,"ask":"5.523"}],"message":"bestPrice"}"#;
    let Event::BestPrice(b) = &decode_ok(&mut d, empty_side)[0] else {
        panic!()
    };
    assert_eq!((b.bid, b.ask), (None, Some(Ticks(5523))));
    let no_market = r#"{"data":{"bestBidPrice":5.518,"bestAskPrice":5.523},"message":"bestPrice"}"#;
    assert!(decode_ok(&mut d, no_market).is_empty());
    assert_eq!(d.stats().topic(Topic::BestPrice).skipped, 1);
}

#[test]
fn invalid_specs_are_refused() {
    let mut bad = MarketSpec::kana_apt_testnet();
    bad.tick_size = 0;
    assert!(matches!(
        KanaDecoder::new(vec![bad], KanaUnits::Auto),
        Err(WireError::InvalidSpec(_))
    ));
}

#[test]
fn decode_lines_reports_counts_and_bad_lines() {
    let input = format!(
        "{G2_ORDERBOOK_LINE}\n\n{{\"data\":[{{\"is_ask\":tru\n{G2_TRADE_HISTORY}\n   \n",
        G2_ORDERBOOK_LINE = G2_ORDERBOOK.replace('\n', "")
    );
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let summary = decode_lines(input.as_bytes(), &mut out, &mut err, &mut decoder()).unwrap();
    assert_eq!(
        summary,
        DecodeSummary {
            frames: 3,
            events: 2,
            errors: 1,
            skipped: 0
        }
    );
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines[0].starts_with(r#"{"type":"book","market":396"#),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains(r#""type":"fill""#), "{}", lines[1]);
    let err = String::from_utf8(err).unwrap();
    assert!(err.starts_with("line 3: unknown: field `frame`:"), "{err}");
    assert_eq!(err.lines().count(), 1);
}

/// A venue-made close (take-profit, stop-loss, liquidation) in the documented fill shape: an
/// order type outside 1-8 and no side flag. The position it closes names its side.
#[test]
fn a_fill_whose_code_says_nothing_closes_the_position_its_trade_id_names() {
    let mut d = decoder();
    let close = G2_TRADE_HISTORY
        .replace("\"order_type\":2", "\"order_type\":11")
        .replace("\"pnl\":\"0\"", "\"pnl\":\"-1500\"");
    // Before any position is known: refused, reported, never silently dropped.
    assert!(decode_ok(&mut d, &close).is_empty());
    let issues: Vec<String> = d
        .last_record_issues()
        .iter()
        .map(|i| i.to_string())
        .collect();
    assert!(
        issues.iter().any(|i| i.contains("order_type")),
        "{issues:?}"
    );
    // The short position of the G2 sample carries that trade id.
    decode_ok(&mut d, G2_POSITIONS);
    let events = decode_ok(&mut d, &close.replace("1739788459", "1739788460"));
    let [Event::Fill(f)] = events.as_slice() else {
        panic!("one fill: {events:?}")
    };
    assert_eq!((f.side, f.direction), (Side::Buy, Direction::Close));
    assert_eq!(f.lots, Lots(1000));
    assert_eq!(f.realized_pnl, dec!(-0.0015));
    assert_eq!(f.fee, dec!(0.003025));
}

/// `perpbot decode`'s promise: every frame yields events, a refused record, or a counted skip
/// with its reason — never nothing.
#[test]
fn every_frame_yields_events_or_reasoned_skips() {
    let frames = [
        // Funding of a market with no spec: a rate needs no grid.
        r#"{"data":[{"funding_rate":"0.0001","funding_timestamp":0,"last_updated":1747382402,"market_id":"14","transaction_timestamp":1747382400}],"message":"live_funding_rate"}"#.to_string(),
        r#"{"data":[],"message":"deposit_withdraw_history"}"#.to_string(),
        r#"{"data":[],"message":"orderbook"}"#.to_string(),
        r#"{"data":[{"is_ask":true,"last_updated":"1739790988","market_id":"777","price":"6036","size":"169320"}],"message":"orderbook"}"#.to_string(),
        // The same fill twice: the second is a repeat.
        G2_TRADE_HISTORY.to_string(),
        G2_TRADE_HISTORY.to_string(),
        r#"{"data":[],"message":"pong"}"#.to_string(),
    ];
    let input = frames.join("\n");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut d = decoder().with_funding_for_any_market();
    let summary = decode_lines(input.as_bytes(), &mut out, &mut err, &mut d).unwrap();
    assert_eq!(
        summary,
        DecodeSummary {
            frames: 7,
            events: 2,
            errors: 0,
            skipped: 5
        }
    );
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.starts_with(r#"{"type":"funding","market":14,"rate":"0.0001""#),
        "{out}"
    );
    let err = String::from_utf8(err).unwrap();
    assert_eq!(
        err,
        "line 2: skipped 1 record(s): its topic has no event\n\
         line 3: skipped 1 record(s): an empty book push names no market\n\
         line 4: skipped 1 record(s): its market is not configured (no grid known: pass --market-info)\n\
         line 6: skipped 1 record(s): already decoded (replayed history)\n\
         line 7: skipped 1 record(s): its topic has no event\n"
    );
    // A bot's decoder leaves other markets' funding out, counted.
    let mut bot = decoder();
    assert!(decode_ok(&mut bot, &frames[0]).is_empty());
    assert_eq!(
        bot.last_skips().reasons().collect::<Vec<_>>(),
        [(SkipReason::UnconfiguredMarket, 1)]
    );
}

#[test]
fn book_sides_follow_position_and_direction() {
    assert_eq!(book_side(PositionSide::Long, Direction::Open), Side::Buy);
    assert_eq!(book_side(PositionSide::Long, Direction::Close), Side::Sell);
    assert_eq!(book_side(PositionSide::Short, Direction::Open), Side::Sell);
    assert_eq!(book_side(PositionSide::Short, Direction::Close), Side::Buy);
    assert_eq!(
        order_type_meaning(7),
        Some((PositionSide::Long, Direction::Close))
    );
    assert_eq!(order_type_meaning(9), None);
}
