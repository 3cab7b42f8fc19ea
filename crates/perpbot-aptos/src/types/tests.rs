use super::*;

fn hx(b: &[u8]) -> String {
    hex::encode(b)
}

fn addr1_hex() -> String {
    format!("{}01", "00".repeat(31))
}

/// A tiny serde value whose BCS form is the ULEB128 of `0` (via the enum-variant index).
struct Uleb(u32);
impl Serialize for Uleb {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_unit_variant("Uleb", self.0, "v")
    }
}

#[test]
fn uleb128_table() {
    for (v, h) in [
        (0u32, "00"),
        (1, "01"),
        (127, "7f"),
        (128, "8001"),
        (240, "f001"),
        (255, "ff01"),
        (65535, "ffff03"),
        (16777215, "ffffff07"),
        (4294967295, "ffffffff0f"),
    ] {
        assert_eq!(hx(&bcs::to_bytes(&Uleb(v)).unwrap()), h, "{v}");
    }
    // Decoders reject non-minimal ULEB128 (0 written as 80 00).
    assert!(bcs::from_bytes::<Vec<u8>>(&[0x80, 0x00]).is_err());
    // Length 128 vector gets the 2-byte prefix 80 01.
    assert_eq!(&bcs::to_bytes(&vec![0u8; 128]).unwrap()[..2], &[0x80, 0x01]);
}

#[test]
fn primitive_table() {
    assert_eq!(hx(&bcs::to_bytes(&256u16).unwrap()), "0001");
    assert_eq!(hx(&bcs::to_bytes(&16777216u32).unwrap()), "00000001");
    assert_eq!(
        hx(&bcs::to_bytes(&4294967296u64).unwrap()),
        "0000000001000000"
    );
    assert_eq!(
        hx(&bcs::to_bytes(&1u128).unwrap()),
        format!("01{}", "00".repeat(15))
    );
    assert_eq!(hx(&bcs::to_bytes("").unwrap()), "00");
    assert_eq!(hx(&bcs::to_bytes("abc").unwrap()), "03616263");
    assert_eq!(hx(&bcs::to_bytes("😀🚀").unwrap()), "08f09f9880f09f9a80");
    assert_eq!(hx(&bcs::to_bytes(&vec![false, true]).unwrap()), "020001");
    assert_eq!(hx(&bcs::to_bytes(&vec![1u16, 3]).unwrap()), "0201000300");
    assert_eq!(hx(&bcs::to_bytes(&vec!["a", "b"]).unwrap()), "0201610162");
    assert_eq!(
        hx(&bcs::to_bytes(&vec![AccountAddress::ONE]).unwrap()),
        format!("01{}", addr1_hex())
    );
    assert_eq!(hx(&bcs::to_bytes(&Some(7u8)).unwrap()), "0107");
    assert_eq!(hx(&bcs::to_bytes(&None::<u8>).unwrap()), "00");
}

#[test]
fn type_tag_bytes_section_2_2() {
    let enc = |s: &str| hx(&bcs::to_bytes(&TypeTag::parse(s).unwrap()).unwrap());
    assert_eq!(enc("u8"), "01");
    assert_eq!(enc("vector<u8>"), "0601");
    let coin = format!(
        "07{}0a6170746f735f636f696e094170746f73436f696e00",
        addr1_hex()
    );
    assert_eq!(enc("0x1::aptos_coin::AptosCoin"), coin);
    let string = format!("07{}06737472696e6706537472696e6700", addr1_hex());
    assert_eq!(enc("0x1::string::String"), string);
    assert_eq!(enc("vector<0x1::string::String>"), format!("06{string}"));
    assert_eq!(
        TypeTag::string(),
        TypeTag::parse("0x1::string::String").unwrap()
    );
}

#[test]
fn type_tag_variant_indices() {
    let tags = [
        ("bool", 0u8),
        ("u8", 1),
        ("u64", 2),
        ("u128", 3),
        ("address", 4),
        ("signer", 5),
        ("u16", 8),
        ("u32", 9),
        ("u256", 10),
        ("i8", 11),
        ("i16", 12),
        ("i32", 13),
        ("i64", 14),
        ("i128", 15),
        ("i256", 16),
    ];
    for (s, idx) in tags {
        let t = TypeTag::parse(s).unwrap();
        assert_eq!(bcs::to_bytes(&t).unwrap(), vec![idx], "{s}");
        assert_eq!(t.to_string(), s);
        assert_eq!(bcs::from_bytes::<TypeTag>(&[idx]).unwrap(), t);
    }
    assert!(bcs::from_bytes::<TypeTag>(&[17]).is_err());
}

#[test]
fn parses_abi_type_strings() {
    let cases = [
        "u8",
        "vector<u8>",
        "0x1::string::String",
        "0x1::option::Option<u64>",
        "0x1::object::Object<0x1::fungible_asset::Metadata>",
        "T0",
        "vector<T1>",
        "0x1::option::Option<vector<0x1::option::Option<T0>>>",
        "0x1::simple_map::SimpleMap<u64, 0x1::string::String>",
        "&signer",
        "signer",
        "&mut 0x1::coin::Coin<T0>",
    ];
    for c in cases {
        let t = MoveType::parse(c).unwrap();
        assert_eq!(t.to_string(), c, "round trip");
    }
    assert!(MoveType::parse("&signer").unwrap().is_signer());
    assert!(MoveType::parse("signer").unwrap().is_signer());
    assert!(MoveType::parse("&mut signer").unwrap().is_signer());
    assert!(!MoveType::parse("address").unwrap().is_signer());
    // Whitespace and long addresses.
    let t = MoveType::parse(&format!(" 0x{}::coin::Coin < T0 > ", "0".repeat(63) + "1")).unwrap();
    assert_eq!(t.to_string(), "0x1::coin::Coin<T0>");
}

#[test]
fn substitutes_generics() {
    let t = MoveType::parse("vector<0x1::coin::Coin<T1>>").unwrap();
    let args = [
        TypeTag::U8,
        TypeTag::parse("0x1::aptos_coin::AptosCoin").unwrap(),
    ];
    assert_eq!(
        t.substitute(&args).unwrap().to_string(),
        "vector<0x1::coin::Coin<0x1::aptos_coin::AptosCoin>>"
    );
    assert!(t.substitute(&[TypeTag::U8]).is_err());
    assert!(MoveType::parse("&signer").unwrap().substitute(&[]).is_err());
    assert!(TypeTag::parse("T0").is_err());
}

#[test]
fn rejects_malformed_type_strings() {
    let deep = format!("{}u8{}", "vector<".repeat(200), ">".repeat(200));
    for bad in [
        "",
        "u9",
        "vector",
        "vector<u8",
        "vector<u8>>",
        "vector<>",
        "0x1::string",
        "0x1::string::",
        "std::string::String",
        "0x1::string::String<",
        "0x1::string::String<u8,>",
        "0x1::9bad::X",
        "vector<&u8>",
        "u8 u8",
        "u8$",
        ":",
        "T99999999",
        "0xzz::a::B",
        &deep,
    ] {
        assert!(
            matches!(MoveType::parse(bad), Err(AptosError::InvalidType { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn identifiers() {
    for ok in ["a", "A1", "coin", "_x", "__", "transfer_coins"] {
        assert!(Identifier::is_valid(ok), "{ok}");
    }
    for bad in ["", "_", "1a", "a-b", "a b", "é", "a::b"] {
        assert!(!Identifier::is_valid(bad), "{bad}");
    }
    // BCS decode validates too.
    let bytes = bcs::to_bytes("1bad").unwrap();
    assert!(bcs::from_bytes::<Identifier>(&bytes).is_err());
}

#[test]
fn entry_function_ids() {
    let id: EntryFunctionId = "0x1::coin::transfer".parse().unwrap();
    assert_eq!(id.module.address, AccountAddress::ONE);
    assert_eq!(id.to_string(), "0x1::coin::transfer");
    let padded: EntryFunctionId = " 0x1::coin::transfer\n".parse().unwrap();
    assert_eq!(padded, id);
    for bad in [
        "0x1::coin",
        "0x1::coin::transfer::x",
        "coin::transfer::x",
        "0x1::c oin::t",
        "0x1::::transfer",
        "0x1::coin::",
        "::coin::transfer",
        "0x1:::coin::transfer",
        "0x1::coin:::transfer",
        "0x1::coin::transfer::",
        "",
    ] {
        assert!(bad.parse::<EntryFunctionId>().is_err(), "{bad}");
    }
}

#[test]
fn placeholder_payload_variants_fail_to_decode() {
    // Tag 0 (Script) and tag 5 are rejected without panicking.
    assert!(bcs::from_bytes::<TransactionPayload>(&[0]).is_err());
    assert!(bcs::from_bytes::<TransactionPayload>(&[5]).is_err());
    assert!(bcs::from_bytes::<TransactionAuthenticator>(&[1]).is_err());
}

#[test]
fn deeply_nested_bcs_type_tag_is_rejected_not_overflowed() {
    let mut bytes = vec![6u8; 10_000];
    bytes.push(1);
    assert!(bcs::from_bytes::<TypeTag>(&bytes).is_err());
}
