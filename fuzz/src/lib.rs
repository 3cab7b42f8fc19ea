//! Bodies of perpbot's fuzz targets, one function per target.
//!
//! Each takes the raw fuzzer input and asserts only "no panic" plus cheap invariants (an error
//! leaves nothing behind, decode → re-encode → decode is stable, two paths agree). The binaries
//! under `fuzz_targets/` call them through `libfuzzer-sys`; `tests/integration/fuzz_corpus.rs` at the root
//! includes this file by path and runs every file of `fuzz/corpus/<target>/` through them, so
//! the normal `cargo test` exercises the corpus on a stable toolchain. This file may therefore
//! use only what the root crate also depends on (perpbot, serde_json, bcs).

use perpbot::aptos::abi::{MoveFunction, MoveModule, encode_argument, encode_entry_function};
use perpbot::aptos::address::AccountAddress;
use perpbot::aptos::types::{MoveType, TypeTag};
use perpbot::config::Config;
use perpbot::model::{BookUpdateKind, Event, OrderBook, Timestamp};
use perpbot::venue::kana::decode::{
    KanaDecoder, KanaUnits, builtin_specs, specs_from_market_info_json,
};
use perpbot::venue::kana::payload::EntryFunctionPayload;
use perpbot::venue::kana::wire::{
    MarketInfo, Num, RestEnvelope, WireBestPrice, WireOpenOrder, WireOrderHistory, WirePosition,
    WireTrade,
};
use perpbot::venue::kana::ws::records_frame;
use serde_json::value::RawValue;

/// The Kana WebSocket decoder (`KanaDecoder::decode`) on one frame, in each units mode.
///
/// Invariants: an error appends nothing; `Ok(n)` appended exactly `n` events; every event
/// serializes (as `perpbot decode` prints it); book snapshots load into an [`OrderBook`] whose
/// top-of-book queries do not panic; decoding the same frame again (history topics repeat) never
/// yields more events than the first time.
pub fn kana_ws_decode(data: &[u8]) {
    let Ok(frame) = std::str::from_utf8(data) else {
        return;
    };
    for units in [KanaUnits::Auto, KanaUnits::Raw, KanaUnits::Human] {
        let mut decoder =
            KanaDecoder::new(builtin_specs(), units).expect("builtin specs are valid");
        let first = decode_frame(&mut decoder, frame);
        let second = decode_frame(&mut decoder, frame);
        assert!(
            second <= first,
            "a repeated frame yielded more events ({second} > {first})"
        );
        let stats = decoder.stats().total();
        assert_eq!(stats.frames, 2, "each frame counted once");
        assert!(stats.errors == 0 || stats.events == 0, "{stats:?}");
    }
}

/// Decode one frame and check it; the number of events.
fn decode_frame(decoder: &mut KanaDecoder, frame: &str) -> usize {
    let mut events = Vec::new();
    match decoder.decode(frame, Timestamp(0), &mut events) {
        Ok(n) => assert_eq!(n, events.len(), "Ok(n) must match the events appended"),
        Err(e) => {
            assert!(events.is_empty(), "an error must append nothing");
            let _ = e.to_string();
        }
    }
    for event in &events {
        serde_json::to_string(event).expect("events serialize");
        if let Event::Book(update) = event {
            let mut book = OrderBook::new();
            match update.kind {
                BookUpdateKind::Snapshot => book.replace(&update.bids, &update.asks, update.ts),
                BookUpdateKind::Delta => {}
            }
            let _ = (book.spread_ticks(), book.mid_ticks(), book.is_crossed());
        }
    }
    events.len()
}

/// The REST response decoders: the envelope (`RestEnvelope`), every list record type of
/// `rest::Records` (open orders, positions, order history, trades, markets, best price), market
/// specs (`specs_from_market_info_json`, `MarketInfo::to_spec`), numeric fields (`Num`) and the
/// entry-function payload of the write endpoints (`EntryFunctionPayload`). Open orders and
/// positions then go the way `ws::RestResync` sends them: wrapped as a WebSocket frame into the
/// decoder.
///
/// Invariants: a spec that `to_spec` accepts passes `validate` and builds a decoder; a payload
/// that parses survives serialize → parse unchanged (numbers stay exact).
pub fn kana_rest_decode(data: &[u8]) {
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    // The whole body as an envelope (what the client parses) and as bare `data`.
    if let Ok(env) = serde_json::from_str::<RestEnvelope>(body) {
        let _ = env.succeeded();
        if let Some(data) = env.data {
            rest_data(data.get());
        }
    }
    rest_data(body);
    let _ = specs_from_market_info_json(body);
}

fn rest_data(text: &str) {
    let text = text.trim();
    // A number or string answer (balances, prices, addresses).
    let n = Num::from_raw_json(text);
    let _ = (n.decimal(), n.u128(), n.u64(), n.u32());

    // A payload answer.
    if let Ok(payload) = serde_json::from_str::<EntryFunctionPayload>(text) {
        let _ = (
            payload.validate(),
            payload.function_id(),
            payload.to_string(),
        );
        let json = serde_json::to_string(&payload).expect("a payload serializes");
        let again: EntryFunctionPayload =
            serde_json::from_str(&json).expect("a serialized payload parses");
        assert_eq!(again, payload, "payload changed through serialize → parse");
    }

    // A list answer: `[...]`, or one object standing for a list of one.
    let items: Vec<&RawValue> = match text.as_bytes().first() {
        Some(b'[') => serde_json::from_str(text).unwrap_or_default(),
        Some(b'{') => serde_json::from_str(text)
            .map(|r| vec![r])
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let mut orders = Vec::new();
    let mut positions = Vec::new();
    for item in items {
        let raw = item.get();
        if serde_json::from_str::<WireOpenOrder>(raw).is_ok() {
            orders.push(raw);
        }
        if serde_json::from_str::<WirePosition>(raw).is_ok() {
            positions.push(raw);
        }
        let _ = serde_json::from_str::<WireOrderHistory>(raw);
        if let Ok(t) = serde_json::from_str::<WireTrade>(raw) {
            let _ = (
                t.size.decimal(),
                t.price.decimal(),
                t.trade_id.u128(),
                t.is_long(),
            );
        }
        if let Ok(b) = serde_json::from_str::<WireBestPrice>(raw) {
            let _ = (
                b.best_bid.map(|n| n.decimal()),
                b.best_ask.map(|n| n.decimal()),
            );
        }
        if let Ok(info) = serde_json::from_str::<MarketInfo>(raw)
            && let Ok(spec) = info.to_spec()
        {
            assert_eq!(spec.validate(), Ok(()), "to_spec returns valid specs");
            let _ = (spec.tick_in_price(), spec.lot_in_coins());
            KanaDecoder::new(vec![spec], KanaUnits::Auto).expect("a valid spec builds a decoder");
        }
    }
    // Resync: the records as the decoder receives them.
    let mut decoder = KanaDecoder::new(builtin_specs(), KanaUnits::Auto).expect("builtin specs");
    for (topic, records) in [("open_orders", orders), ("positions", positions)] {
        let frame = records_frame(topic, records);
        let mut events = Vec::new();
        if decoder.decode(&frame, Timestamp(0), &mut events).is_err() {
            assert!(events.is_empty(), "an error must append nothing");
        }
    }
}

/// The config loader (`Config::from_toml_str`): parse, validate, and on success the derived
/// queries. Invariants: a loaded config validates again; its `Debug` output is producible.
pub fn config_load(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::from_toml_str(text) {
        Ok(config) => {
            assert_eq!(config.validate(), Ok(()), "a loaded config validates");
            let _ = (config.market_ids(), config.is_mainnet());
            let _ = config.check_mainnet_confirmation(false);
            let _ = format!("{config:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// The ABI-driven BCS argument encoder. Input: a Move type string on the first line, a JSON
/// value after it (e.g. `u64\n"1311768467463790320"`). The value is read the way a Kana payload
/// argument is (numbers kept exact), then encoded by `encode_argument` and, through a one-function
/// ABI, by `encode_entry_function`.
///
/// Invariants: a parsed type prints and parses back to itself (and through BCS); the two encoding
/// paths agree; fixed-width types have their width; a `bool` is one byte, 0 or 1.
pub fn bcs_arg_encode(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (ty_text, json) = text.split_once('\n').unwrap_or((text, "null"));
    if let Ok(mt) = MoveType::parse(ty_text) {
        let printed = mt.to_string();
        assert_eq!(MoveType::parse(&printed).ok(), Some(mt), "{printed}");
    }
    let Ok(ty) = TypeTag::parse(ty_text) else {
        return;
    };
    let printed = ty.to_string();
    assert_eq!(
        TypeTag::parse(&printed).ok().as_ref(),
        Some(&ty),
        "{printed}"
    );
    if let Ok(bytes) = bcs::to_bytes(&ty) {
        let back: TypeTag = bcs::from_bytes(&bytes).expect("a TypeTag's BCS decodes");
        assert_eq!(back, ty);
    }

    // The value as a payload argument.
    let payload = format!(r#"{{"function":"0x1::fuzz::f","functionArguments":[{json}]}}"#);
    let Ok(payload) = serde_json::from_str::<EntryFunctionPayload>(&payload) else {
        return;
    };
    let [value] = payload.function_arguments.as_slice() else {
        return;
    };
    let direct = encode_argument(0, &ty, value);
    if let Ok(bytes) = &direct {
        let width = match ty {
            TypeTag::Bool | TypeTag::U8 | TypeTag::I8 => Some(1),
            TypeTag::U16 | TypeTag::I16 => Some(2),
            TypeTag::U32 | TypeTag::I32 => Some(4),
            TypeTag::U64 | TypeTag::I64 => Some(8),
            TypeTag::U128 | TypeTag::I128 => Some(16),
            TypeTag::U256 | TypeTag::I256 | TypeTag::Address => Some(32),
            _ => None,
        };
        if let Some(w) = width {
            assert_eq!(bytes.len(), w, "{printed} encodes to {w} bytes");
        }
        if ty == TypeTag::Bool {
            assert!(bytes[0] <= 1, "bool byte {}", bytes[0]);
        }
    }
    let abi = MoveModule {
        address: AccountAddress::ONE,
        name: "fuzz".into(),
        friends: Vec::new(),
        exposed_functions: vec![MoveFunction {
            name: "f".into(),
            visibility: "public".into(),
            is_entry: true,
            is_view: false,
            generic_type_params: Vec::new(),
            params: vec!["&signer".into(), ty_text.into()],
            return_types: Vec::new(),
        }],
        structs: Vec::new(),
    };
    match encode_entry_function(&abi, "f", &[], &payload.function_arguments) {
        Ok(call) => assert_eq!(Some(&call.args[0]), direct.as_ref().ok(), "paths disagree"),
        Err(_) => assert!(
            direct.is_err(),
            "entry function refused what encode_argument took"
        ),
    }
}
