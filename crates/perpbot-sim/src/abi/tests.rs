use super::*;
use perpbot_aptos::{Identifier, ModuleId, encode_entry_function};
use serde_json::json;

fn pkg() -> AccountAddress {
    AccountAddress::new([0x5a; 32])
}

/// A JSON value of the right type for each parameter, as a REST payload would carry.
fn sample(ty: &str) -> Value {
    match ty {
        "address" => json!(AccountAddress::new([9; 32]).to_string()),
        "bool" => json!(true),
        "u8" => json!(3),
        "u64" => json!("7"),
        "vector<u128>" => json!(["340282366920938463463374607431768211455"]),
        "vector<bool>" => json!([true, false]),
        "vector<u64>" => json!(["1", "2"]),
        other => panic!("no sample for {other}"),
    }
}

#[test]
fn every_function_round_trips_through_the_clients_encoder() {
    for module in [PERPETUAL_SCRIPTS, DELEGATED_SCRIPTS] {
        let abi = module_abi(pkg(), module).unwrap();
        assert!(!abi.exposed_functions.is_empty());
        for f in &abi.exposed_functions {
            assert_eq!(f.params.first().map(String::as_str), Some("&signer"));
            let args: Vec<Value> = f.params.iter().skip(1).map(|p| sample(p)).collect();
            let call = encode_entry_function(&abi, &f.name, &[], &args).unwrap();
            let decoded =
                decode_call(pkg(), &call).unwrap_or_else(|e| panic!("{module}::{}: {e}", f.name));
            assert_eq!(decoded.function, f.name);
            assert_eq!(
                decoded.delegation.is_some(),
                module == DELEGATED_SCRIPTS,
                "{}",
                f.name
            );
        }
    }
    // The ABI round-trips through the node's JSON.
    let served = module_json(pkg(), DELEGATED_SCRIPTS).unwrap();
    let parsed: MoveModuleBytecode = serde_json::from_value(served).unwrap();
    assert_eq!(parsed.abi, module_abi(pkg(), DELEGATED_SCRIPTS));
    assert!(module_abi(pkg(), "perpetual_core").is_none());
}

#[test]
fn delegated_limit_order_matches_the_chain_abi_and_decodes_the_owner() {
    let abi = module_abi(pkg(), DELEGATED_SCRIPTS).unwrap();
    let f = abi.function("place_delegated_limit_order").unwrap();
    assert_eq!(
        f.params,
        [
            "&signer", "address", "u64", "bool", "bool", "u64", "u64", "u64", "u8", "u64", "u64"
        ]
    );
    let owner = AccountAddress::new([4; 32]);
    let args = [
        json!(owner.to_string()),
        json!("1338"),
        json!(true),
        json!(false),
        json!("1000"),
        json!("5518"),
        json!("2"),
        json!(3),
        json!("0"),
        json!("5000"),
    ];
    let call = encode_entry_function(&abi, "place_delegated_limit_order", &[], &args).unwrap();
    let decoded = decode_call(pkg(), &call).unwrap();
    assert_eq!(
        decoded.delegation,
        Some(Delegation {
            owner,
            profile_index: None
        })
    );
    assert_eq!(
        decoded.action,
        Action::Place {
            market: 1338,
            order: OrderArgs {
                is_limit: true,
                trade_side: true,
                direction: false,
                size: 1000,
                price: 5518,
                leverage: 2,
                restriction: 3,
                take_profit: 0,
                stop_loss: 5000,
            }
        }
    );
}

#[test]
fn bad_calls_are_errors_not_panics() {
    let abi = module_abi(pkg(), PERPETUAL_SCRIPTS).unwrap();
    let good = encode_entry_function(&abi, "collapse_position", &[], &[json!("1")]).unwrap();
    let with = |f: &dyn Fn(&mut EntryFunction)| {
        let mut c = good.clone();
        f(&mut c);
        decode_call(pkg(), &c).unwrap_err().status_name()
    };
    assert_eq!(with(&|c| c.args.clear()), "NUMBER_OF_ARGUMENTS_MISMATCH");
    assert_eq!(
        with(&|c| c.args.push(vec![1])),
        "NUMBER_OF_ARGUMENTS_MISMATCH"
    );
    assert_eq!(
        with(&|c| c.args[0] = vec![1, 2, 3]),
        "FAILED_TO_DESERIALIZE_ARGUMENT"
    );
    assert_eq!(
        with(&|c| c.function = Identifier::new("nope").unwrap()),
        "FUNCTION_RESOLUTION_FAILURE"
    );
    assert_eq!(
        with(&|c| c.module = ModuleId::new(pkg(), Identifier::new("other").unwrap())),
        "LINKER_ERROR"
    );
    assert_eq!(
        with(&|c| c.module.address = AccountAddress::ONE),
        "LINKER_ERROR"
    );
    assert_eq!(
        with(&|c| c.ty_args.push(perpbot_aptos::TypeTag::Bool)),
        "NUMBER_OF_TYPE_ARGUMENTS_MISMATCH"
    );
    // A bool byte other than 0/1 is not a bool.
    let call = encode_entry_function(
        &abi,
        "update_take_profit",
        &[],
        &[json!("1"), json!(true), json!("5")],
    )
    .unwrap();
    let mut bad = call.clone();
    bad.args[1] = vec![2];
    let err = decode_call(pkg(), &bad).unwrap_err();
    assert!(
        matches!(&err, InvalidCall::Argument { index: 1, move_type, .. } if move_type == "bool"),
        "{err}"
    );
}
