use super::*;
use rust_decimal_macros::dec;

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
    assert_eq!(events, vec![Event::Fill(g2_fill())]);
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
        vec![Event::Fill(g4_fill())]
    );
    // The live topic sends single records; an object instead of a list works too.
    let frame = format!(r#"{{"data":{FILL_REC},"message":"live_trade_history"}}"#);
    assert_eq!(
        decode_ok(&mut decoder(), &frame),
        vec![Event::Fill(g4_fill())]
    );
}

#[test]
fn a_fill_read_over_rest_after_its_push_counts_once() {
    // The resync's missed-fills read returns a fill the socket already delivered, as the
    // REST record has it: version 0, price with more digits. Counted twice, it would "fill"
    // an order still resting on the venue.
    let mut d = decoder();
    let pushed = format!(r#"{{"data":[{FILL_REC}],"message":"trade_history"}}"#);
    assert_eq!(decode_ok(&mut d, &pushed), vec![Event::Fill(g4_fill())]);
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
        vec![Event::Fill(g2_fill())]
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
        vec![Event::Fill(g4_fill())]
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
    assert_eq!(d.fills_seen.set.len(), 1);
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

/// The old conversions, without the fast path: what `Conv` must still return.
fn slow_units(spec: &MarketSpec, text: &str) -> (Option<Ticks>, Option<Lots>, Option<u64>) {
    let n = Num::from_str_value(text);
    let d = n.decimal().ok();
    (
        d.and_then(|d| spec.price_to_ticks(d, Rounding::Exact).ok()),
        d.and_then(|d| spec.size_to_lots(d, Rounding::Exact).ok()),
        n.u64().ok(),
    )
}

fn fast_units(spec: &MarketSpec, text: &str) -> (Option<Ticks>, Option<Lots>, Option<u64>) {
    let grid = Grid::of(spec);
    let conv = Conv {
        topic: Topic::Orderbook,
        spec,
        grid: grid.as_ref(),
        raw: false,
    };
    let n = Num::from_str_value(text);
    (
        conv.ticks("price", n).ok(),
        conv.lots("size", n).ok(),
        u64_of(Topic::Orderbook, "market_id", n).ok(),
    )
}

#[test]
fn fast_conversions_agree_with_the_exact_decimal_path() {
    let mut specs = perpbot_sim::market::testnet_markets();
    specs.push(MarketSpec {
        lot_size: 3,
        tick_size: 7,
        base_decimals: 0,
        quote_decimals: 18,
        ..apt_like(9)
    });
    let fixed = [
        "5.518",
        "5.5180",
        "05.518",
        "5",
        "5.",
        ".5",
        "-5.518",
        "-0",
        "0",
        "0.000",
        "5.5181",
        "1e3",
        "1E-3",
        " 5.518",
        "5.518 ",
        "+5",
        "1_000",
        "",
        ".",
        "5..1",
        "11.851",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999",
        "0.0000000000000000000000000001",
        "0.00000000000000000000000000010",
        "1234567890123456789.5",
        "1844674407370955161.5",
        "100000",
        "115300",
        "0.0001",
    ];
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut random = Vec::new();
    for _ in 0..20_000 {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let digits = 1 + (rng >> 59) as usize % 21;
        let m: String = (0..digits)
            .map(|i| char::from(b'0' + ((rng >> (i % 16 * 4)) % 10) as u8))
            .collect();
        let scale = (rng >> 40) as usize % 31;
        let text = if scale == 0 || scale >= m.len() {
            format!("{m}.{}", "0".repeat(scale % 3 + 1))
        } else {
            format!("{}.{}", &m[..m.len() - scale], &m[m.len() - scale..])
        };
        random.push(text);
    }
    for spec in &specs {
        for text in fixed
            .iter()
            .copied()
            .chain(random.iter().map(String::as_str))
        {
            assert_eq!(
                fast_units(spec, text),
                slow_units(spec, text),
                "market {} text {text:?}",
                spec.id
            );
        }
    }
}

#[test]
fn fast_conversions_report_the_same_errors() {
    let spec = MarketSpec::kana_apt_testnet();
    let grid = Grid::of(&spec);
    let conv = Conv {
        topic: Topic::Orderbook,
        spec: &spec,
        grid: grid.as_ref(),
        raw: false,
    };
    let slow = Conv { grid: None, ..conv };
    for text in ["5.5185", "-1", "abc", "1e400", "5."] {
        let n = Num::from_str_value(text);
        assert_eq!(conv.ticks("price", n), slow.ticks("price", n), "{text}");
        assert_eq!(conv.lots("size", n), slow.lots("size", n), "{text}");
    }
}

#[test]
fn string_len_stops_at_the_first_quote_backslash_or_control_character() {
    let slow = |s: &[u8]| s.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
    let mut rng = 7u64;
    for len in 0..40 {
        for _ in 0..200 {
            let s: Vec<u8> = (0..len)
                .map(|_| {
                    rng = rng
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    match (rng >> 33) % 12 {
                        0 => b'"',
                        1 => b'\\',
                        2 => (rng >> 40) as u8 % 0x20,
                        3 => 0x80 | (rng >> 40) as u8,
                        4 => 0x7f,
                        _ => b' ' + (rng >> 40) as u8 % 95,
                    }
                })
                .collect();
            assert_eq!(string_len(&s), slow(&s), "{s:?}");
        }
    }
}

/// What a decoder makes of `frame`: the result, the events and the counters.
fn outcome(
    mut d: KanaDecoder,
    frame: &str,
) -> (Result<usize, DecodeError>, Vec<Event>, DecodeStats) {
    let mut out = Vec::new();
    let r = d.decode(frame, Timestamp::from_secs(42), &mut out);
    (r, out, d.stats().clone())
}

/// The orderbook fast path must give exactly what the serde path gives, errors included.
fn same_as_serde(frame: &str) {
    let mut slow = decoder();
    slow.fast_path = false;
    assert_eq!(
        outcome(decoder(), frame),
        outcome(slow, frame),
        "frame {frame}"
    );
}

fn book_frame(levels: &[(bool, &str, &str)]) -> String {
    let recs: Vec<String> = levels
            .iter()
            .map(|(ask, p, s)| {
                format!(r#"{{"is_ask":{ask},"last_updated":1746177751,"market_id":"1338","price":"{p}","size":"{s}"}}"#)
            })
            .collect();
    format!(r#"{{"data":[{}],"message":"orderbook"}}"#, recs.join(","))
}

#[test]
fn orderbook_fast_path_takes_the_common_shape_and_matches_the_serde_path() {
    let canonical = book_frame(&[
        (true, "5.523", "169.320"),
        (true, "5.524", "1"),
        (false, "5.521", "174.998"),
        (false, "5.52", "0.001"),
    ]);
    let common = [
            canonical.clone(),
            G2_ORDERBOOK.to_owned(),
            // message first, whitespace everywhere, keys reordered, extra scalar keys
            " \n{ \"message\" : \"orderbook\" ,\r\n \"data\" : [ { \"size\" : \"1.5\" , \"price\" : 5.5 , \"is_ask\" : false , \"market_id\" : 1338 , \"extra\" : null , \"n\" : -1.5e-3 , \"t\" : true , \"u\" : \"x\" } ] } \t".to_owned(),
            // last_updated null or absent: the receive time
            r#"{"data":[{"is_ask":true,"last_updated":null,"market_id":"1338","price":"5.5","size":"1"}],"message":"orderbook"}"#.to_owned(),
            r#"{"data":[{"is_ask":true,"market_id":"1338","price":"5.5","size":"1"}],"message":"orderbook"}"#.to_owned(),
            // levels of an unknown market are skipped and counted
            r#"{"data":[{"is_ask":true,"market_id":"7","price":"5.5","size":"1"},{"is_ask":false,"market_id":"1338","price":"5.4","size":"1"}],"message":"orderbook"}"#.to_owned(),
            // two markets, two snapshots
            r#"{"data":[{"is_ask":true,"market_id":"396","price":"6036","size":"1"},{"is_ask":false,"market_id":"1338","price":"5.4","size":"1"}],"message":"orderbook"}"#.to_owned(),
            r#"{"data":[],"message":"orderbook"}"#.to_owned(),
        ];
    for frame in &common {
        let mut d = decoder();
        assert!(
            d.fast_orderbook(frame, Timestamp(0)).is_some(),
            "fast path taken: {frame}"
        );
        same_as_serde(frame);
    }
    // Everything else falls back to the serde path, with the same outcome.
    let others = [
        r#"{"data":[{"is_ask":"true","market_id":"1338","price":"5.5","size":"1"}],"message":"orderbook"}"#,
        r#"{"data":[{"is_ask":true,"market_id":"1338","price":"5.5\u0030","size":"1"}],"message":"orderbook"}"#,
        r#"{"data":[{"is_ask":true,"market_id":"1338","price":"5.5","size":"1","x":{"y":[1]}}],"message":"orderbook"}"#,
        r#"{"data":[{"is_ask":true,"market_id":"1338","price":"5.5","price":"5.6","size":"1"}],"message":"orderbook"}"#,
        r#"{"data":[{"is_ask":true,"market_id":"1338","size":"1"}],"message":"orderbook"}"#,
        r#"{"data":[{"is_ask":true,"market_id":"1338","price":null,"size":"1"}],"message":"orderbook"}"#,
        r#"{"data":[{"is_ask":true,"market_id":"1338","price":01,"size":"1"}],"message":"orderbook"}"#,
        r#"{"data":[{"is_ask":true,"market_id":"1338","price":"5.5","size":"1"}],"message":"orderbook"} x"#,
        r#"{"data":[{"is_ask":true,"market_id":"1338","price":"5.5","size":"1"}],"message":"orderbook""#,
        r#"{"data":[{"is_ask":true,"market_id":"1338","price":"5.5","size":"1"}],"message":"orderbook","data":[]}"#,
        r#"{"data":[{"is_ask":true,"market_id":"1338","price":"5.5","size":"1"}],"message":"orderbook","id":1}"#,
        r#"{"data":[{"is_ask":true,"market_id":"1338","price":"5.5","size":"1"}]}"#,
        r#"{"data":null,"message":"orderbook"}"#,
        r#"{"data":{"is_ask":true,"market_id":"1338","price":"5.5","size":"1"},"message":"orderbook"}"#,
        r#"{"data":[{"is_ask":true,"market_id":"1338","price":"5.5","size":"1"}],"message":"positions"}"#,
        "{\"data\":[{\"is_ask\":true,\"market_id\":\"1338\",\"price\":\"5.5\t\",\"size\":\"1\"}],\"message\":\"orderbook\"}",
    ];
    for frame in others {
        let mut d = decoder();
        assert!(d.fast_orderbook(frame, Timestamp(0)).is_none(), "{frame}");
        assert!(d.scratch.is_empty(), "nothing left behind: {frame}");
        same_as_serde(frame);
    }
    // Values the fast conversions do not take: the serde path reads them, or words the error.
    for frame in [
        r#"{"data":[{"is_ask":true,"market_id":"1338","price":5.5e0,"size":"1"}],"message":"orderbook"}"#,
        r#"{"data":[{"is_ask":true,"market_id":"1338","price":" 5.5","size":"1"}],"message":"orderbook"}"#,
        r#"{"data":[{"is_ask":true,"market_id":"396","price":"6036","size":"1000.0"}],"message":"orderbook"}"#,
        r#"{"data":[{"is_ask":true,"market_id":"1338.0","price":"5.5","size":"1"}],"message":"orderbook"}"#,
        r#"{"data":[{"is_ask":true,"market_id":"1338","price":"5.5","size":"1","last_updated":"1746177751.0"}],"message":"orderbook"}"#,
        r#"{"data":[{"is_ask":true,"market_id":"1338","price":"-5.5","size":"1"}],"message":"orderbook"}"#,
    ] {
        let mut d = decoder();
        assert!(d.fast_orderbook(frame, Timestamp(0)).is_none(), "{frame}");
        same_as_serde(frame);
    }
    // The one-pass reader of levels as sent, at the edges of what it takes.
    let sent = |last: &str, market: &str, price: &str, size: &str| {
        format!(
            r#"{{"data":[{{"is_ask":false,"last_updated":{last},"market_id":{market},"price":{price},"size":{size}}}],"message":"orderbook"}}"#
        )
    };
    for (last, market, price, size) in [
        ("1746177751", r#""1338""#, r#""5.523""#, r#""169.320""#),
        ("null", r#""1338""#, r#""5""#, r#""1""#),
        ("0", r#""01338""#, r#""05.5""#, r#""0.001""#),
        ("01", r#""1338""#, r#""5.5""#, r#""1""#),
        ("1.0", r#""1338""#, r#""5.5""#, r#""1""#),
        ("1e3", r#""1338""#, r#""5.5""#, r#""1""#),
        ("18446744073709551616", r#""1338""#, r#""5.5""#, r#""1""#),
        ("1", r#""13.38""#, r#""5.5""#, r#""1""#),
        ("1", r#""""#, r#""5.5""#, r#""1""#),
        ("1", "1338", r#""5.5""#, r#""1""#),
        ("1", r#""1338""#, r#""5.""#, r#""1""#),
        ("1", r#""1338""#, r#"".5""#, r#""1""#),
        ("1", r#""1338""#, r#""-5.5""#, r#""1""#),
        ("1", r#""1338""#, r#""5.5.5""#, r#""1""#),
        ("1", r#""1338""#, r#""5.5""#, r#""18446744073709551616""#),
        (
            "1",
            r#""1338""#,
            r#""5.5""#,
            r#""1.0000000000000000000000000001""#,
        ),
        ("1", r#""1338""#, r#""5.5""#, r#""1\u0030""#),
        ("1", r#""396""#, r#""6036""#, r#""1000""#),
        ("1", r#""7""#, r#""5.5""#, r#""1""#),
    ] {
        same_as_serde(&sent(last, market, price, size));
    }
    // A level that does not convert (off the grid): the serde path words the error.
    same_as_serde(
        r#"{"data":[{"is_ask":true,"market_id":"1338","price":"5.5","size":"1"},{"is_ask":true,"market_id":"1338","price":"5.5005","size":"1"}],"message":"orderbook"}"#,
    );
    // Random damage to a valid frame: whatever it becomes, both paths agree.
    let alphabet = br#"{}[]",:0123456789.-+eE tfnaulrs_x\"#;
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (rng >> 33) as usize
    };
    for _ in 0..5_000 {
        let mut bytes = canonical.clone().into_bytes();
        for _ in 0..1 + next() % 3 {
            let at = next() % bytes.len();
            let c = alphabet[next() % alphabet.len()];
            match next() % 3 {
                0 => bytes[at] = c,
                1 => bytes.insert(at, c),
                _ => {
                    bytes.remove(at);
                }
            }
        }
        let frame = String::from_utf8(bytes).expect("ASCII");
        same_as_serde(&frame);
    }
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

/// A fill record for the replay tests: record `n` of a stream, with variations that matter to
/// its identity (no version, no order id, an order type without a side, another market, a
/// size off the grid, a record missing its fee).
fn replay_record(n: u64, variant: u64) -> String {
    let order_type = if variant == 1 { 9 } else { 1 + n % 8 };
    let version = if variant == 2 {
        String::new()
    } else {
        format!(r#","transaction_version":{}"#, 6_704_413_443 + n)
    };
    let order_id = if variant == 3 {
        String::new()
    } else {
        format!(
            r#","order_id":"{}""#,
            12_907_057_702_855_018_828_273_522u128 + u128::from(n)
        )
    };
    let market = if variant == 4 { "7" } else { "1338" };
    let size = if variant == 5 { "1.0005" } else { "11.851" };
    let fee = if variant == 6 {
        String::new()
    } else {
        r#","fee":"0.0326969090000000006806411505""#.to_owned()
    };
    // The trade id names the position (its side comes from the positions topic for code 9).
    format!(
        r#"{{"address":"0x…","leverage":2,"market_id":"{market}","timestamp":{},"size":"{size}","order_type":{order_type},"price":"5.518","pnl":"0"{fee},"trade_id":"{}","last_updated":1746177751{version}{order_id}}}"#,
        1_746_177_750 + n / 3,
        176_609_127_761_695_247_172_922u128 + u128::from(n % 4),
    )
}

/// Replayed history pushes decoded with the replay memo give exactly what the careful path
/// gives — events, errors and every counter — however records change, vanish and come back,
/// keys fall out of a small deduplication memory, positions change the side of venue-made
/// closes, and frames fail half way.
#[test]
fn replayed_history_decodes_as_the_careful_path_does() {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut rand = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for capacity in [3usize, 10_000] {
        let mut fast = decoder().with_dedupe_capacity(capacity);
        let mut slow = decoder().with_dedupe_capacity(capacity);
        slow.fast_path = false;
        let mut emitted = 0;
        for push in 0..400u64 {
            let frame = if push % 37 == 36 {
                // The position behind venue-made closes changes side.
                let long = push % 2 == 0;
                format!(
                    r#"{{"data":[{{"address":"0x…","entry_price":"5.5","is_long":{long},"last_updated":"1","leverage":2,"market_id":"1338","size":"10","trade_id":"176609127761695247172922"}}],"message":"positions"}}"#
                )
            } else {
                let window = 1 + rand() % 20;
                let records: Vec<String> = (0..window)
                    .map(|i| {
                        let n = push.saturating_sub(i);
                        // Mostly the record as first sent; sometimes a variant of it.
                        let variant = if rand() % 10 == 0 {
                            rand() % 7
                        } else {
                            n % 11 / 10
                        };
                        replay_record(n, variant)
                    })
                    .collect();
                let mut data = records.join(",");
                if rand() % 50 == 0 {
                    // A record the fill shape does not read: the whole frame is refused.
                    data.push_str(r#",{"market_id":[1]}"#);
                }
                let topic = if push % 5 == 0 {
                    "live_trade_history"
                } else {
                    "trade_history"
                };
                format!(r#"{{"data":[{data}],"message":"{topic}"}}"#)
            };
            let mut a = Vec::new();
            let mut b = Vec::new();
            let ra = fast.decode(&frame, Timestamp::from_secs(42), &mut a);
            let rb = slow.decode(&frame, Timestamp::from_secs(42), &mut b);
            assert_eq!(ra, rb, "push {push}: {frame}");
            assert_eq!(a, b, "push {push}: {frame}");
            assert_eq!(fast.stats(), slow.stats(), "push {push}");
            assert_eq!(fast.last_skips(), slow.last_skips(), "push {push}");
            emitted += a.len();
        }
        assert!(emitted > 100, "the streams carried fills: {emitted}");
    }
}

/// The memo is what a replayed record meets: after one push, the records it held are known by
/// their text.
#[test]
fn a_replayed_push_is_recognised_by_its_records_text() {
    let mut d = decoder();
    let recs: Vec<String> = (0..20).map(|n| replay_record(n, 0)).collect();
    let frame = format!(
        r#"{{"data":[{}],"message":"trade_history"}}"#,
        recs.join(",")
    );
    assert_eq!(decode_ok(&mut d, &frame).len(), 20);
    assert!(d.replay.recall(&recs[7]).is_some());
    assert!(decode_ok(&mut d, &frame).is_empty());
}

/// The history fast path reads pushes of the shape Kana sends and nothing else; on either side
/// of that line every frame decodes exactly as the careful path decodes it.
#[test]
fn history_fast_path_takes_the_sent_shape_and_matches_the_careful_path() {
    let rec = replay_record(1, 0);
    let spaced = " { \"market_id\" : \"1338\" , \"order_type\" : 1 , \"size\" : \"11.851\" , \"price\" : \"5.518\" , \"fee\" : \"0\" , \"trade_id\" : \"1\" , \"timestamp\" : 1746177750 } ";
    let taken = [
        format!(r#"{{"data":[{rec}],"message":"trade_history"}}"#),
        format!(
            r#"{{"data":[{rec},{}],"message":"live_trade_history"}}"#,
            replay_record(2, 3)
        ),
        format!(r#"{{"data":[{spaced}],"message":"trade_history"}}"#),
        r#"{"data":[],"message":"trade_history"}"#.to_owned(),
        // Flat, but not a fill record: the careful path words the error.
        r#"{"data":[{"market_id":"1338"}],"message":"trade_history"}"#.to_owned(),
        r#"{"data":[{"market_id":"1338","size":true}],"message":"trade_history"}"#.to_owned(),
    ];
    let mut records = Vec::new();
    for frame in &taken {
        assert!(scan_history(frame, &mut records).is_some(), "{frame}");
        same_as_careful(frame);
    }
    let others = [
        format!(r#"{{"message":"trade_history","data":[{rec}]}}"#),
        format!(r#" {{"data":[{rec}],"message":"trade_history"}}"#),
        format!(r#"{{"data":[{rec}],"message":"trade_history"}} "#),
        format!(r#"{{"data":[{rec}],"message":"order_history"}}"#),
        format!(r#"{{"data":{rec},"message":"trade_history"}}"#),
        r#"{"data":null,"message":"trade_history"}"#.to_owned(),
        r#"{"data":[{"market_id":{"id":1}}],"message":"trade_history"}"#.to_owned(),
        r#"{"data":[{"market_id":"13\u00338"}],"message":"trade_history"}"#.to_owned(),
        r#"{"data":[{"market_id":"1338",}],"message":"trade_history"}"#.to_owned(),
        r#"{"data":[{"market_id":01}],"message":"trade_history"}"#.to_owned(),
        r#"{"data":[{"a":1}] x,"message":"trade_history"}"#.to_owned(),
        r#"{"data":[{"a":1},],"message":"trade_history"}"#.to_owned(),
    ];
    for frame in &others {
        assert!(scan_history(frame, &mut records).is_none(), "{frame}");
        same_as_careful(frame);
    }
}

/// Two fresh decoders, with and without the fast paths, make the same of `frame`.
fn same_as_careful(frame: &str) {
    assert_eq!(
        outcome(decoder(), frame),
        outcome(decoder().careful_only(), frame),
        "frame {frame}"
    );
}

/// The per-scale factor tables give what the general conversion gives, for every scale, on
/// grids of powers of ten and others, at the edges of `u64`.
#[test]
fn grid_tables_convert_as_exact_units_does() {
    let mut specs = builtin_specs();
    let mut odd = MarketSpec::kana_apt_testnet();
    odd.tick_size = 3;
    odd.lot_size = 7;
    specs.push(odd);
    let mut x: u64 = 0x1234_5678_9ABC_DEF1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for spec in &specs {
        let Some(g) = Grid::of(spec) else { continue };
        for i in 0..20_000u64 {
            let m = match i % 4 {
                0 => next(),
                1 => next() % 1_000_000,
                2 => (next() % 1000) * 10u64.pow((next() % 16) as u32),
                _ => u64::MAX - next() % 3,
            };
            let scale = (next() % 22) as u32;
            assert_eq!(
                g.ticks(m, scale),
                exact_units(m, scale, g.tick_num, g.tick_den),
                "{} ticks {m}e-{scale}",
                spec.name
            );
            assert_eq!(
                g.lots(m, scale),
                exact_units(m, scale, g.lot_num, g.lot_den),
                "{} lots {m}e-{scale}",
                spec.name
            );
        }
    }
}

/// Eight digits at once give what digit-by-digit reading gives, and anything else is refused.
#[test]
fn eight_digits_at_once_read_as_one_by_one() {
    let mut x: u64 = 0x0DDB_A115_EED0;
    for _ in 0..100_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let bytes: Vec<u8> = (0..9)
            .map(|k| {
                let r = (x >> (k * 7)) as u8;
                // Mostly digits, sometimes their neighbours and others.
                match r % 16 {
                    0 => b'/',
                    1 => b':',
                    2 => r,
                    _ => b'0' + r % 10,
                }
            })
            .collect();
        let want = bytes.get(..8).and_then(|b| {
            b.iter().try_fold(0u64, |v, &c| {
                c.is_ascii_digit().then(|| v * 10 + u64::from(c - b'0'))
            })
        });
        assert_eq!(eight_digits(&bytes), want, "{bytes:?}");
    }
    assert_eq!(eight_digits(b"1746177"), None);
    assert_eq!(eight_digits(b"17461777"), Some(17_461_777));
    assert_eq!(eight_digits(b"00000000"), Some(0));
    assert_eq!(eight_digits(b"99999999"), Some(99_999_999));
}
