use super::*;

/// (private key, public key, legacy address) — aptos-transactions.md §8.1.
const KEYS: [(&str, &str, &str); 4] = [
    (
        "9bf49a6a0755f953811fce125f2683d50429c3bb49e074147e0089a52eae155f",
        "b9c6ee1630ef3e711144a648db06bbb2284f7274cfbee53ffcee503cc1a49200",
        "7deeccb1080854f499ec8b4c1b213b82c5e34b925cf6875fec02d4b77adbd2d6",
    ),
    (
        "0564f879d27ae3c02ce82834acfa8c793a629f2ca0de6919610be82f411326be",
        "aef3f4a4b8eca1dfc343361bf8e436bd42de9259c04b8314eb8e2054dd6e82ab",
        "2d133ddd281bb6205558357cc6ac75661817e9aaeac3afebc32842759cbf7fa9",
    ),
    (
        "c5338cd251c22daa8c9c9cc94f498cc8a5c7e1d2e75287a5dda91096fe64efa5",
        "de19e5d1880cac87d57484ce9ed2e84cf0f9599f12e7cc3a52e4e7657a763f2c",
        "978c213990c4833df71548df7ce49d54c759d6b6d932de22b24d56060b7af2aa",
    ),
    (
        "f508cbef4e0fe463204aab724a90791c9a9dbe60a53b4978bbddbc712b55f2fd",
        "e425451a5dc888ac871976c3c724dec6118910e7d11d344b4b07a22cd94e8c2e",
        "7e6ae8050f223ef0b4bc79d0e8213afff413e87dcc83cb36a218940485d20cff",
    ),
];

#[test]
fn k1_to_k4_public_keys_and_legacy_addresses() {
    for (sk, pk, addr) in KEYS {
        let key = PrivateKey::parse(sk).unwrap();
        assert_eq!(hex::encode(key.public_key().as_bytes()), pk);
        assert_eq!(key.address().to_string(), format!("0x{addr}"));
        assert_eq!(key.public_key().to_address(), key.address());
    }
}

#[test]
fn k4_single_key_address() {
    let key = PrivateKey::parse(KEYS[3].0).unwrap();
    assert_eq!(
        key.public_key().single_key_address().to_string(),
        "0x5bdf77d5bf826c8c04273d4e7323f7bc4a85ee7ee34b37bd7458b7aed3639dd3"
    );
}

#[test]
fn hello_world_signatures_k3_k4() {
    let msg = b"hello world";
    assert_eq!(hex::encode(msg), "68656c6c6f20776f726c64");
    let k3 = PrivateKey::parse(KEYS[2].0).unwrap();
    let s3 = k3.sign_message(msg);
    assert_eq!(
        hex::encode(s3.as_bytes()),
        "9e653d56a09247570bb174a389e85b9226abd5c403ea6c504b386626a145158cd4efd66fc5e071c0e19538a96a05ddbda24d3c51e1e6a9dacc6bb1ce775cce07"
    );
    k3.public_key().verify(msg, &s3).unwrap();
    let k4 = PrivateKey::parse(KEYS[3].0).unwrap();
    let s4 = k4.sign_message(msg);
    assert_eq!(
        hex::encode(s4.as_bytes()),
        "c6f50f4e0cb1961f6f7b28be1a1d80e3ece240dfbb7bd8a8b03cc26bfd144fc176295d7c322c5bf3d9669d2ad49d8bdbfe77254b4a6393d8c49da04b40cee600"
    );
    // Wrong key / wrong message fail.
    assert!(k3.public_key().verify(msg, &s4).is_err());
    assert!(k3.public_key().verify(b"hello world!", &s3).is_err());
}

#[test]
fn parse_forms() {
    let (sk, pk, _) = KEYS[2];
    let expected = PrivateKey::parse(sk).unwrap().public_key();
    for form in [
        format!("0x{sk}"),
        format!("0X{sk}"),
        format!("ed25519-priv-0x{sk}"),
        format!("  {}\n", sk.to_uppercase()),
        format!("{sk}{pk}"),
        format!("0x{sk}{pk}"),
    ] {
        assert_eq!(
            PrivateKey::parse(&form).unwrap().public_key(),
            expected,
            "{form}"
        );
    }
    let k = PrivateKey::parse(sk).unwrap();
    assert_eq!(k.to_aip80_secret().as_str(), format!("ed25519-priv-0x{sk}"));
}

#[test]
fn parse_rejects_without_echoing_key() {
    let (sk, _, _) = KEYS[2];
    let other_pk = KEYS[0].1;
    let cases = [
        format!("{sk}{other_pk}"), // seed ‖ wrong pubkey
        format!("secp256k1-priv-0x{sk}"),
        sk[..62].to_string(),
        format!("{}zz", &sk[..62]),
        String::new(),
        "é".repeat(32),
    ];
    for c in cases {
        let e = PrivateKey::parse(&c).unwrap_err();
        let msg = format!("{e} {e:?}");
        assert!(!msg.contains(&sk[..16]), "{msg}");
        assert!(matches!(e, AptosError::InvalidKey(_)));
    }
}

#[test]
fn debug_and_display_are_redacted() {
    let (sk, _, _) = KEYS[0];
    let k = PrivateKey::parse(sk).unwrap();
    for s in [format!("{k:?}"), format!("{k}"), format!("{k:#?}")] {
        assert_eq!(s, "PrivateKey(<redacted>)");
        assert!(!s.contains(&sk[..8]));
    }
}

#[test]
fn deterministic_test_keys() {
    let a = PrivateKey::from_test_seed(1);
    let b = PrivateKey::from_test_seed(1);
    let c = PrivateKey::from_test_seed(2);
    assert_eq!(a.address(), b.address());
    assert_ne!(a.address(), c.address());
    let seed = [7u8; 32];
    assert_eq!(
        PrivateKey::from_seed_bytes(seed).public_key(),
        PrivateKey::parse(&hex::encode(seed)).unwrap().public_key()
    );
}

#[test]
fn key_and_signature_bcs_and_json() {
    let pk = Ed25519PublicKey::from_hex(KEYS[0].1).unwrap();
    let b = bcs::to_bytes(&pk).unwrap();
    assert_eq!(hex::encode(&b), format!("20{}", KEYS[0].1));
    assert_eq!(bcs::from_bytes::<Ed25519PublicKey>(&b).unwrap(), pk);
    assert!(bcs::from_bytes::<Ed25519PublicKey>(&[1, 0]).is_err());
    let sig = Ed25519Signature::ZERO;
    let b = bcs::to_bytes(&sig).unwrap();
    assert_eq!(b.len(), 65);
    assert_eq!(b[0], 0x40);
    let j = serde_json::to_string(&pk).unwrap();
    assert_eq!(j, format!("\"0x{}\"", KEYS[0].1));
    assert_eq!(serde_json::from_str::<Ed25519PublicKey>(&j).unwrap(), pk);
    assert!(serde_json::from_str::<Ed25519Signature>("\"0x00\"").is_err());
    // Invalid point → InvalidPublicKey, not a panic.
    let bad = Ed25519PublicKey::new([0xff; 32]);
    assert!(bad.verify(b"x", &Ed25519Signature::ZERO).is_err());
}

/// Signing with the kept expansion gives, byte for byte, what `ed25519-dalek`'s own
/// `SigningKey::sign` gives (Ed25519 is deterministic), for several keys and message lengths,
/// a clone included; and every signature verifies.
#[test]
fn the_kept_expansion_signs_exactly_as_the_library_does() {
    use ed25519_dalek::Signer;
    for n in 0..4 {
        let key = PrivateKey::from_test_seed(n);
        let copy = key.clone();
        for len in [0usize, 1, 31, 32, 33, 127, 128, 129, 450, 1000] {
            let message: Vec<u8> = (0..len)
                .map(|i| (i as u8).wrapping_mul(31) ^ n as u8)
                .collect();
            let ours = key.sign_message(&message);
            let library = key.key.sign(&message).to_bytes();
            assert_eq!(ours.0, library, "key {n}, {len} bytes");
            assert_eq!(copy.sign_message(&message).0, library, "clone, key {n}");
            key.public_key()
                .verify(&message, &ours)
                .expect("the signature verifies");
        }
    }
}
