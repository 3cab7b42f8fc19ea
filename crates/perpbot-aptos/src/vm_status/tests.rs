use super::*;

const ECONIA: &str = "0xc0deb00c405f84c85dc13442e305df75d1288100cdd82675695f6148c7ece51c";
const KANA: &str = "0x7a38039fffd016adcac2c53795ee49325e5ec6fddf3bf02651c09f9a583655a6";

#[test]
fn address_constants() {
    assert_eq!(ECONIA_MAINNET.to_string(), ECONIA);
    assert_eq!(KANA_PERPS_PACKAGE.to_string(), KANA);
}

#[test]
fn parses_named_abort_with_description() {
    let s = "Move abort in 0x1::coin: EINSUFFICIENT_BALANCE(0x10006): Not enough coins to complete transaction";
    let VmStatus::MoveAbort(a) = VmStatus::parse(s) else {
        panic!("not an abort");
    };
    assert_eq!(a.address, Some(AccountAddress::ONE));
    assert_eq!(a.module.as_deref(), Some("coin"));
    assert_eq!(a.code, 0x10006);
    assert_eq!(a.name.as_deref(), Some("EINSUFFICIENT_BALANCE"));
    assert_eq!(
        a.description.as_deref(),
        Some("Not enough coins to complete transaction")
    );
    assert_eq!(a.category(), AbortCategory::InvalidArgument);
    assert_eq!(a.category_code(), 1);
    assert_eq!(a.reason(), 6);
    assert_eq!(a.known(), KnownAbort::Unknown);
    assert_eq!(
        a.to_string(),
        "abort in 0x1::coin: EINSUFFICIENT_BALANCE(0x10006)"
    );
}

#[test]
fn kana_codes_raw_and_with_category() {
    // Raw code 1007 = 0x3ef.
    let raw = format!("Move abort in {KANA}::perpetual_core: 0x3ef");
    let a = MoveAbort::parse(&raw).unwrap();
    assert_eq!(a.code, 1007);
    assert_eq!(a.name, None);
    assert_eq!(a.category(), AbortCategory::None);
    assert_eq!(
        a.known(),
        KnownAbort::Kana(KanaAbort::InsufficientLiquidityInOrderbook)
    );
    assert_eq!(a.known().name(), "E_INSUFFICIENT_LIQUIDITY_IN_ORDERBOOK");
    assert_eq!(
        a.to_string(),
        "abort in 0x7a38039fffd016adcac2c53795ee49325e5ec6fddf3bf02651c09f9a583655a6::perpetual_core: E_INSUFFICIENT_LIQUIDITY_IN_ORDERBOOK(0x3ef)"
    );
    // With std::error category INVALID_STATE (3) applied: 0x303ea = 3<<16 | 1002.
    let cat = format!("Move abort in {KANA}::perpetual_core: E_PAUSED(0x303ea): paused");
    let a = MoveAbort::parse(&cat).unwrap();
    assert_eq!(a.reason(), 1002);
    assert_eq!(a.category(), AbortCategory::InvalidState);
    assert_eq!(a.known(), KnownAbort::Kana(KanaAbort::Paused));
    // Every table entry round-trips.
    for code in 1001..=1014u64 {
        let k = KanaAbort::from_code(code).unwrap();
        assert_eq!(k.code(), code);
        assert!(k.name().starts_with("E_"));
    }
    assert_eq!(KanaAbort::from_code(1015), None);
    // Unknown Kana code → Unknown, no panic.
    let a = MoveAbort::parse(&format!("Move abort in {KANA}::perpetual_core: 0x3f7")).unwrap();
    assert_eq!(a.known(), KnownAbort::Unknown);
    assert_eq!(a.known().name(), "UNKNOWN");
    assert!(a.to_string().ends_with("UNKNOWN(0x3f7)"));
}

#[test]
fn econia_codes() {
    let a = MoveAbort::parse(&format!("Move abort in {ECONIA}::market: 0xd")).unwrap();
    assert_eq!(
        a.known(),
        KnownAbort::Econia(EconiaAbort::PostOrAbortCrossesSpread)
    );
    // Short address form, any deployment, with matching printed name.
    let a = MoveAbort::parse(
        "Move abort in 0xc0de11113b::market: E_PRICE_TOO_HIGH(0xc): Order price exceeds maximum",
    )
    .unwrap();
    assert_eq!(a.known(), KnownAbort::Econia(EconiaAbort::PriceTooHigh));
    // Some other package's `market` module without matching name → Unknown.
    let a = MoveAbort::parse("Move abort in 0xbeef::market: 0xc").unwrap();
    assert_eq!(a.known(), KnownAbort::Unknown);
    for code in 0..=33u64 {
        let e = EconiaAbort::from_code(code).unwrap();
        assert_eq!(e.code(), code);
    }
    assert_eq!(EconiaAbort::from_code(34), None);
    assert_eq!(
        EconiaAbort::from_code(25).unwrap().name(),
        "E_FILL_OR_ABORT_NOT_CROSS_SPREAD"
    );
}

#[test]
fn other_status_shapes() {
    assert_eq!(VmStatus::parse("Executed successfully"), VmStatus::Executed);
    assert!(VmStatus::parse("Executed successfully").is_success());
    assert_eq!(VmStatus::parse("Out of gas"), VmStatus::OutOfGas);
    let a = MoveAbort::parse("Move abort: code 0x10001").unwrap();
    assert_eq!(
        (a.address, a.module.as_deref(), a.code),
        (None, None, 0x10001)
    );
    assert_eq!(a.to_string(), "abort: UNKNOWN(0x10001)");
    assert_eq!(
        VmStatus::parse("Execution failed in 0x1::math64::mul at code offset 12"),
        VmStatus::ExecutionFailure {
            location: "0x1::math64::mul".into(),
            code_offset: Some(12),
            raw: "Execution failed in 0x1::math64::mul at code offset 12".into(),
        }
    );
    assert!(matches!(
        VmStatus::parse("Execution failed in somewhere"),
        VmStatus::ExecutionFailure {
            code_offset: None,
            ..
        }
    ));
    assert_eq!(
        VmStatus::parse("ARITHMETIC_ERROR"),
        VmStatus::Other("ARITHMETIC_ERROR".into())
    );
}

#[test]
fn malformed_statuses_do_not_panic() {
    for s in [
        "",
        "Move abort",
        "Move abort in ",
        "Move abort in 0x1::coin",
        "Move abort in 0x1::coin: ",
        "Move abort in 0x1::coin: NAME(",
        "Move abort in 0x1::coin: NAME(0x)",
        "Move abort in 0x1::coin: NAME(0xzz)",
        "Move abort in 0x1::coin: 0x1ffffffffffffffff",
        "Move abort in zz::coin: 0x1",
        "Move abort: code ",
        "Move abort: code 0x",
        "Move abort in 0x1::coin: é(0x1)",
        "Execution failed in ",
    ] {
        let _ = VmStatus::parse(s);
        let _ = MoveAbort::parse(s).map(|a| (a.known(), a.to_string()));
    }
    assert!(MoveAbort::parse("Move abort in 0x1::coin: NAME(0xzz)").is_none());
    // Decimal code is tolerated.
    assert_eq!(MoveAbort::parse("Move abort: code 7").unwrap().code, 7);
    // Name with empty description.
    let a = MoveAbort::parse("Move abort in 0x1::coin: ENAME(0x1):").unwrap();
    assert_eq!((a.name.as_deref(), a.description), (Some("ENAME"), None));
}

#[test]
fn node_error_bodies() {
    let e: NodeError = serde_json::from_str(
            r#"{"message":"Invalid transaction: Type: Validation Code: SEQUENCE_NUMBER_TOO_OLD","error_code":"vm_error","vm_error_code":3}"#,
        )
        .unwrap();
    assert_eq!(e.error_code, NodeErrorCode::VmError);
    assert_eq!(
        e.validation_code(),
        Some(VmValidationCode::SequenceNumberTooOld)
    );
    // Name fallback when vm_error_code is null.
    let e: NodeError = serde_json::from_str(
            r#"{"message":"Invalid transaction: Type: Validation Code: BAD_CHAIN_ID","error_code":"vm_error","vm_error_code":null}"#,
        )
        .unwrap();
    assert_eq!(e.validation_code(), Some(VmValidationCode::BadChainId));
    let e: NodeError = serde_json::from_str(
        r#"{"message":"Account not found","error_code":"account_not_found","extra":1}"#,
    )
    .unwrap();
    assert_eq!(e.error_code, NodeErrorCode::AccountNotFound);
    assert_eq!(e.vm_error_code, None);
    assert_eq!(e.validation_code(), None);
    let e: NodeError = serde_json::from_str(r#"{"error_code":"something_new"}"#).unwrap();
    assert_eq!(e.error_code, NodeErrorCode::Other("something_new".into()));
    assert_eq!(
        serde_json::to_value(&e).unwrap()["error_code"],
        "something_new"
    );
    // Every known code round-trips.
    for (s, c) in NODE_ERROR_CODES.iter() {
        assert_eq!(NodeErrorCode::parse(s), *c);
        assert_eq!(c.as_str(), *s);
        assert_eq!(c.to_string(), *s);
    }
}

#[test]
fn vm_validation_table() {
    for (code, name) in [
        (1, "INVALID_SIGNATURE"),
        (2, "INVALID_AUTH_KEY"),
        (3, "SEQUENCE_NUMBER_TOO_OLD"),
        (5, "INSUFFICIENT_BALANCE_FOR_TRANSACTION_FEE"),
        (6, "TRANSACTION_EXPIRED"),
        (7, "SENDING_ACCOUNT_DOES_NOT_EXIST"),
        (13, "MAX_GAS_UNITS_EXCEEDS_MAX_GAS_UNITS_BOUND"),
        (14, "MAX_GAS_UNITS_BELOW_MIN_TRANSACTION_GAS_UNITS"),
        (15, "GAS_UNIT_PRICE_BELOW_MIN_BOUND"),
        (16, "GAS_UNIT_PRICE_ABOVE_MAX_BOUND"),
        (23, "BAD_CHAIN_ID"),
    ] {
        let v = VmValidationCode::from_code(code);
        assert_eq!(v.name(), name);
        assert_eq!(v.code(), code);
        assert_eq!(VmValidationCode::from_name(name), Some(v));
    }
    assert_eq!(
        VmValidationCode::from_code(999),
        VmValidationCode::Other(999)
    );
    assert_eq!(VmValidationCode::Other(999).code(), 999);
    assert_eq!(VmValidationCode::Other(999).name(), "UNKNOWN");
}
