//! The reference's computed vectors (§3.3 \[C\]): every type hash, the staging domain separator,
//! and one order's struct hash and digest; then signing and recovery.

use alloy_primitives::{Address, B256, U256, address, b256, keccak256};
use alloy_sol_types::SolStruct;

use super::message_json::parse;
use super::types::*;
use super::*;

fn type_hash(encoded_type: &str) -> B256 {
    keccak256(encoded_type.as_bytes())
}

#[test]
fn type_strings_and_hashes_are_the_reference_vectors() {
    let cases: [(String, B256); 8] = [
        (
            UserLimitOrder::eip712_encode_type().into_owned(),
            b256!("0xe559e12fed223ef46e758a676cf3700728649c01640f8dc8d55d2fb1f0daac5c"),
        ),
        (
            UserEditOrder::eip712_encode_type().into_owned(),
            b256!("0x619b00825580064c4c6eeb90b7c6e1ab5eed8c32e0aa8d3bb6fd2ad0593cf282"),
        ),
        (
            UserMarketOrder::eip712_encode_type().into_owned(),
            b256!("0x33dce548f6488f4aea9fe50be397bfd88558929109969d67a12b9f04a428b875"),
        ),
        (
            CancelOrdersType::eip712_encode_type().into_owned(),
            b256!("0xfa9fd8d04448157ad61d65aa6a689617e4d9f9ae3bd4ba1a02953d786cb3fb85"),
        ),
        (
            CancelAllOrdersType::eip712_encode_type().into_owned(),
            b256!("0xc92cdc4a6671c3804a3526e75c4890db39833586185c49baca44af45727ac5c0"),
        ),
        (
            OneClickSignature::eip712_encode_type().into_owned(),
            b256!("0xeef3ce04dff56c68f55553f8a06b899a8d93cf2e7212dcb9cb19e28ab73f5d3c"),
        ),
        (
            HeartbeatType::eip712_encode_type().into_owned(),
            b256!("0x235a70c24ebf50e268a4f424bd9aa76c4642b743c52f0d6e5185bd70e7245e9b"),
        ),
        (
            "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
                .to_string(),
            b256!("0x8b73c3c69bb8fe3d512ecc4cf759cc79239f7b179b0ffacaa9a75d522b39400f"),
        ),
    ];
    for (encoded, expected) in cases {
        assert_eq!(type_hash(&encoded), expected, "{encoded}");
    }
    assert_eq!(
        UserMarketOrder::eip712_encode_type(),
        "UserMarketOrder(uint256 deadline,OrderTyped marketOrder,uint256 limitPrice,address taker)\
         OrderTyped(string instrumentName,uint256 size,uint8 direction)"
    );
}

fn sample_order() -> UserLimitOrder {
    UserLimitOrder {
        deadline: U256::from(1_700_000_000u64),
        instrumentName: "BTC_USDC-PERPETUAL".into(),
        size: U256::from(10_000_000_000u64),
        price: U256::from(65_000_000_000u64),
        taker: Address::ZERO,
        maker: address!("0x1234567890abcdef1234567890abcdef12345678"),
        direction: 1,
        isLiquidation: false,
        isPostOnly: false,
        mmp: false,
    }
}

fn market_order() -> UserMarketOrder {
    UserMarketOrder {
        deadline: U256::from(1u64),
        marketOrder: OrderTyped {
            instrumentName: "ETH_USDC-PERPETUAL".into(),
            size: U256::from(2u64),
            direction: 0,
        },
        limitPrice: U256::from(3u64),
        taker: Address::ZERO,
    }
}

#[test]
fn the_staging_domain_and_a_limit_order_digest_are_the_reference_vectors() {
    let d = domain(TESTNET_CHAIN_ID, TESTNET_VERIFYING_CONTRACT);
    assert_eq!(
        d.separator(),
        b256!("0xbf851db7f89f20c3317f34460bc387466279666e611aeb3a01e47fd73f419fcf")
    );
    let order = sample_order();
    assert_eq!(
        order.eip712_hash_struct(),
        b256!("0x3bb7a3bdfdcf06abd869af3662090260e63bf8295b2050c6715707b94b6cc7ba")
    );
    assert_eq!(
        TypedMessage::LimitOrder(order).signing_hash(&d),
        b256!("0x05893bbc794a27811f7e65288434d7908198b0049880915a1b312a1b419e855d")
    );
}

/// A throwaway key (Hardhat's first account; its address is public knowledge).
const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const KEY_ADDRESS: Address = address!("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");

#[test]
fn signatures_are_65_bytes_v_27_or_28_and_recover_the_signer() {
    let signer = KyanSigner::from_hex(KEY).unwrap();
    assert_eq!(signer.address(), KEY_ADDRESS);
    assert!(
        !format!("{signer:?}").contains("ac0974"),
        "the key is redacted"
    );
    let d = domain(TESTNET_CHAIN_ID, TESTNET_VERIFYING_CONTRACT);
    let digest = TypedMessage::LimitOrder(sample_order()).signing_hash(&d);
    let sig = signer.sign_digest(digest);
    assert!(sig[64] == 27 || sig[64] == 28);
    assert_eq!(recover(digest, &sig).unwrap(), KEY_ADDRESS);
    // Deterministic (RFC 6979): the same digest, the same bytes.
    assert_eq!(signer.sign_digest(digest), sig);
    // A tampered signature or message recovers someone else, or nothing.
    let mut tampered = sig;
    tampered[10] ^= 1;
    assert_ne!(recover(digest, &tampered).ok(), Some(KEY_ADDRESS));
    let other = TypedMessage::LimitOrder(UserLimitOrder {
        direction: 0,
        ..sample_order()
    })
    .signing_hash(&d);
    assert_ne!(recover(other, &sig).unwrap(), KEY_ADDRESS);
    let mut bad_v = sig;
    bad_v[64] = 29;
    assert!(recover(digest, &bad_v).is_err());
    assert!(recover(digest, &sig[..64]).is_err());
}

#[test]
fn bad_keys_are_refused_without_echoing_them() {
    for text in [
        "0x12",
        "nothex",
        "0x0000000000000000000000000000000000000000000000000000000000000000",
    ] {
        let e = KyanSigner::from_hex(text).unwrap_err().to_string();
        assert!(
            !e.contains(text.trim_start_matches("0x")) || text.len() < 8,
            "{e}"
        );
    }
}

#[test]
fn json_messages_read_every_type_and_name_the_bad_field() {
    let limit = r#"{"deadline":"1700000000","instrumentName":"BTC_USDC-PERPETUAL","size":"10000000000",
        "price":"65000000000","taker":"0x0000000000000000000000000000000000000000",
        "maker":"0x1234567890abcdef1234567890abcdef12345678","direction":"1",
        "isLiquidation":false,"isPostOnly":false,"mmp":false}"#;
    assert_eq!(
        parse("UserLimitOrder", limit).unwrap(),
        TypedMessage::LimitOrder(sample_order())
    );
    let market = r#"{"deadline":"1","marketOrder":{"instrumentName":"ETH_USDC-PERPETUAL","size":"2","direction":0},
        "limitPrice":"3","taker":"0x0000000000000000000000000000000000000000"}"#;
    assert_eq!(
        parse("UserMarketOrder", market).unwrap(),
        TypedMessage::MarketOrder(market_order())
    );
    for (ty, text) in [
        (
            "UserEditOrder",
            r#"{"deadline":"5","size":"1","price":"2","orderId":"abc"}"#,
        ),
        (
            "CancelOrdersType",
            r#"{"deadline":"5","maker":"0x1234567890abcdef1234567890abcdef12345678","orderIds":["a","b"]}"#,
        ),
        (
            "CancelAllOrdersType",
            r#"{"deadline":"5","maker":"0x1234567890abcdef1234567890abcdef12345678"}"#,
        ),
        (
            "OneClickSignature",
            r#"{"deadline":"5","user":"0x1234567890abcdef1234567890abcdef12345678","bindToIp":true}"#,
        ),
        (
            "HeartbeatType",
            r#"{"deadline":"5","maker":"0x1234567890abcdef1234567890abcdef12345678","timeout":"10"}"#,
        ),
    ] {
        parse(ty, text).unwrap_or_else(|e| panic!("{ty}: {e}"));
    }
    let cases = [
        ("UserLimitOrders", limit.to_string(), "unknown type"),
        (
            "UserLimitOrder",
            limit.replace(r#""mmp":false"#, r#""mmp":false,"nonce":"1""#),
            "nonce: not a field",
        ),
        (
            "UserLimitOrder",
            limit.replace(r#","mmp":false"#, ""),
            "mmp: missing",
        ),
        (
            "UserLimitOrder",
            limit.replace(r#""size":"10000000000""#, r#""size":"-5""#),
            "size: \"-5\" is negative",
        ),
        (
            "UserLimitOrder",
            limit.replace(r#""size":"10000000000""#, r#""size":"1.5""#),
            "size: \"1.5\" is not a whole number",
        ),
        (
            "UserLimitOrder",
            limit.replace(r#""direction":"1""#, r#""direction":"256""#),
            "direction: 256 does not fit in uint8",
        ),
        (
            "UserLimitOrder",
            limit.replace("0x1234567890abcdef1234567890abcdef12345678", "0x1234"),
            "maker: \"0x1234\" is not an address",
        ),
        (
            "UserLimitOrder",
            limit.replace(r#""isPostOnly":false"#, r#""isPostOnly":"no""#),
            "isPostOnly: true or false",
        ),
        (
            "UserMarketOrder",
            market.replace(r#""direction":0"#, r#""direction":0,"x":1"#),
            "marketOrder.x: not a field of OrderTyped",
        ),
        (
            "UserMarketOrder",
            market.replace(r#""size":"2","#, ""),
            "marketOrder.size: missing",
        ),
        (
            "UserLimitOrder",
            "[1,2]".to_string(),
            "message: an object is expected",
        ),
        (
            "UserLimitOrder",
            "{not json".to_string(),
            "must be a JSON object",
        ),
    ];
    for (ty, text, expected) in cases {
        let e = parse(ty, &text).unwrap_err().to_string();
        assert!(e.contains(expected), "{ty} {text}: {e}");
    }
}
