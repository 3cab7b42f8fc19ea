//! The client reads a commit's placed order ids from the events the simulated contracts emit
//! (moved here from the simulator's exchange tests: the simulator does not depend on the client).

use serde_json::json;

use crate::writer::placed_order_ids;
use perpbot_aptos::{AccountAddress, encode_entry_function};
use perpbot_model::{MarketSpec, Timestamp};
use perpbot_sim::abi::{PERPETUAL_SCRIPTS, module_abi};
use perpbot_sim::exchange::{Exchange, ExchangeConfig, TxEffects};

fn wallet(n: u8) -> AccountAddress {
    AccountAddress::new([n; 32])
}

fn run(ex: &mut Exchange, who: u8, function: &str, args: Vec<serde_json::Value>) -> TxEffects {
    let abi = module_abi(ex.package(), PERPETUAL_SCRIPTS).unwrap();
    let call = encode_entry_function(&abi, function, &[], &args).unwrap();
    ex.execute(wallet(who), &call, Timestamp::from_secs(1_750_000_000))
        .unwrap()
}

fn funded() -> Exchange {
    let mut ex = Exchange::new(ExchangeConfig::default());
    ex.add_market(MarketSpec::kana_apt_testnet());
    for who in [1u8, 2] {
        ex.mint_wallet(wallet(who), 1_000_000_000);
        run(
            &mut ex,
            who,
            "deposit",
            vec![json!(wallet(who).to_string()), json!("1000000000")],
        );
    }
    ex
}

fn ids(fx: &TxEffects, ex: &Exchange) -> Vec<u128> {
    placed_order_ids(&fx.events_json(ex.package()))
        .into_iter()
        .map(|id| id.0)
        .collect()
}

#[test]
fn the_client_reads_the_limit_orders_of_a_batch_and_not_the_market_order() {
    let mut ex = funded();
    // Bob's resting ask, taken by Alice's market order in the batch.
    let ask = vec![
        json!("1338"),
        json!(false),
        json!(false),
        json!("1000"),
        json!("5500"),
        json!("10"),
        json!(0),
        json!("0"),
        json!("0"),
    ];
    run(&mut ex, 2, "place_limit_order", ask);
    let batch = vec![
        json!("1338"),
        json!([true, false, true]),
        json!([true, true, true]),
        json!([false, false, false]),
        json!(["1000", "1000", "1000"]),
        json!(["5000", "0", "4900"]),
        json!(["10", "10", "10"]),
        json!(0),
        json!([]),
        json!([]),
    ];
    let fx = run(&mut ex, 1, "place_multiple_orders", batch);
    assert_eq!(fx.placed.len(), 3);
    assert_eq!(ids(&fx, &ex), [fx.placed[0].0, fx.placed[2].0]);
}

#[test]
fn the_client_reads_the_placed_order_of_a_requote_and_not_the_cancelled_one() {
    let mut ex = funded();
    let bid = vec![
        json!("1338"),
        json!(true),
        json!(false),
        json!("1000"),
        json!("5000"),
        json!("5"),
        json!(3),
        json!("0"),
        json!("0"),
    ];
    let placed = run(&mut ex, 1, "place_limit_order", bid);
    let requote = vec![
        json!("1338"),
        json!([placed.placed[0].0.to_string()]),
        json!([true]),  // the cancelled order's side
        json!([true]),  // order types: limit
        json!([true]),  // sides: long
        json!([false]), // directions: open
        json!(["1000"]),
        json!(["5100"]),
        json!(["5"]),
        json!(3),
        json!([]),
        json!([]),
    ];
    let fx = run(&mut ex, 1, "cancel_and_place_multiple_orders", requote);
    assert_eq!(fx.cancelled.len(), 1);
    assert_eq!(ids(&fx, &ex), [fx.placed[0].0]);
}
