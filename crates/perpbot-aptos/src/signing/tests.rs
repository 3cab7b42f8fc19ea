use super::*;
use crate::types::{EntryFunction, Identifier, ModuleId, TransactionPayload, TypeTag};

const K1: &str = "9bf49a6a0755f953811fce125f2683d50429c3bb49e074147e0089a52eae155f";
const K2: &str = "0564f879d27ae3c02ce82834acfa8c793a629f2ca0de6919610be82f411326be";
const K1_PUB: &str = "b9c6ee1630ef3e711144a648db06bbb2284f7274cfbee53ffcee503cc1a49200";

const A_RAW: &str = "7deeccb1080854f499ec8b4c1b213b82c5e34b925cf6875fec02d4b77adbd2d60b0000000000000002000000000000000000000000000000000000000000000000000000000000000104636f696e087472616e73666572010700000000000000000000000000000000000000000000000000000000000000010a6170746f735f636f696e094170746f73436f696e0002202d133ddd281bb6205558357cc6ac75661817e9aaeac3afebc32842759cbf7fa9088813000000000000d0070000000000000100000000000000d20296490000000004";
const A_SIG: &str = "f25b74ec60a38a1ed780fd2bef6ddb6eb4356e3ab39276c9176cdf0fcae2ab37d79b626abb43d926e91595b66503a4a3c90acbae36a28d405e308f3537af720b";
const A_SIGNED: &str = "7deeccb1080854f499ec8b4c1b213b82c5e34b925cf6875fec02d4b77adbd2d60b0000000000000002000000000000000000000000000000000000000000000000000000000000000104636f696e087472616e73666572010700000000000000000000000000000000000000000000000000000000000000010a6170746f735f636f696e094170746f73436f696e0002202d133ddd281bb6205558357cc6ac75661817e9aaeac3afebc32842759cbf7fa9088813000000000000d0070000000000000100000000000000d202964900000000040020b9c6ee1630ef3e711144a648db06bbb2284f7274cfbee53ffcee503cc1a4920040f25b74ec60a38a1ed780fd2bef6ddb6eb4356e3ab39276c9176cdf0fcae2ab37d79b626abb43d926e91595b66503a4a3c90acbae36a28d405e308f3537af720b";
const A_HASH: &str = "0xdb7e0f0b00b817ad8a9d2eae33cf4eec9e25110bac48fa6807000f43128f17ac";

const R_RAW: &str = "00000000000000000000000000000000000000000000000000000000000000012a000000000000000200000000000000000000000000000000000000000000000000000000000000010d6170746f735f6163636f756e74087472616e7366657200022000000000000000000000000000000000000000000000000000000000000000020840420f0000000000a0860100000000006400000000000000ffe30b540200000002";

const M_RAW: &str = "7deeccb1080854f499ec8b4c1b213b82c5e34b925cf6875fec02d4b77adbd2d60b0000000000000002000000000000000000000000000000000000000000000000000000000000000305746f6b656e166469726563745f7472616e736665725f7363726970740004202d133ddd281bb6205558357cc6ac75661817e9aaeac3afebc32842759cbf7fa9100f636f6c6c656374696f6e5f6e616d650b0a746f6b656e5f6e616d65080100000000000000d0070000000000000100000000000000d20296490000000004";
const M_SIGNED: &str = "7deeccb1080854f499ec8b4c1b213b82c5e34b925cf6875fec02d4b77adbd2d60b0000000000000002000000000000000000000000000000000000000000000000000000000000000305746f6b656e166469726563745f7472616e736665725f7363726970740004202d133ddd281bb6205558357cc6ac75661817e9aaeac3afebc32842759cbf7fa9100f636f6c6c656374696f6e5f6e616d650b0a746f6b656e5f6e616d65080100000000000000d0070000000000000100000000000000d20296490000000004020020b9c6ee1630ef3e711144a648db06bbb2284f7274cfbee53ffcee503cc1a4920040343e7b10aa323c480391a5d7cd2d0cf708d51529b96b5a2be08cbb365e4f11dcc2cf0655766cf70d40853b9c395b62dad7a9f58ed998803d8bf1901ba7a7a401012d133ddd281bb6205558357cc6ac75661817e9aaeac3afebc32842759cbf7fa9010020aef3f4a4b8eca1dfc343361bf8e436bd42de9259c04b8314eb8e2054dd6e82ab408a7f06e404ae8d9535b0cbbeafb7c9e34e95fe1425e4529758150a4f7ce7a683354148ad5c313ec36549e3fb29e669d90010f97467c9074ff0aec3ed87f76608";
const M_HASH: &str = "0xa5ecaf350b52d76ef913dcc05392ea9465aa45ee6bc86f46ff730bcf3ef5dbd2";

fn key(s: &str) -> PrivateKey {
    PrivateKey::parse(s).unwrap()
}

fn entry(
    addr: AccountAddress,
    module: &str,
    func: &str,
    ty: Vec<TypeTag>,
    args: Vec<Vec<u8>>,
) -> TransactionPayload {
    TransactionPayload::EntryFunction(EntryFunction {
        module: ModuleId::new(addr, Identifier::new(module).unwrap()),
        function: Identifier::new(func).unwrap(),
        ty_args: ty,
        args,
    })
}

/// Vector A inputs (§8.2).
fn vector_a_raw() -> RawTransaction {
    let k2 = key(K2).address();
    RawTransaction {
        sender: key(K1).address(),
        sequence_number: 11,
        payload: entry(
            AccountAddress::ONE,
            "coin",
            "transfer",
            vec![TypeTag::parse("0x1::aptos_coin::AptosCoin").unwrap()],
            vec![
                bcs::to_bytes(&k2).unwrap(),
                bcs::to_bytes(&5000u64).unwrap(),
            ],
        ),
        max_gas_amount: 2000,
        gas_unit_price: 1,
        expiration_timestamp_secs: 1234567890,
        chain_id: 4,
    }
}

fn vector_m_raw() -> RawTransaction {
    let k2 = key(K2).address();
    RawTransaction {
        sender: key(K1).address(),
        sequence_number: 11,
        payload: entry(
            AccountAddress::THREE,
            "token",
            "direct_transfer_script",
            vec![],
            vec![
                bcs::to_bytes(&k2).unwrap(),
                bcs::to_bytes("collection_name").unwrap(),
                bcs::to_bytes("token_name").unwrap(),
                bcs::to_bytes(&1u64).unwrap(),
            ],
        ),
        max_gas_amount: 2000,
        gas_unit_price: 1,
        expiration_timestamp_secs: 1234567890,
        chain_id: 4,
    }
}

#[test]
fn domain_prefixes() {
    // The cached prefixes are the hashes of their names.
    assert_eq!(
        raw_transaction_prefix(),
        sha3_256(&[b"APTOS::RawTransaction"])
    );
    assert_eq!(
        raw_transaction_with_data_prefix(),
        sha3_256(&[b"APTOS::RawTransactionWithData"])
    );
    assert_eq!(
        transaction_hash_prefix(),
        sha3_256(&[b"APTOS::Transaction"])
    );
    assert_eq!(
        hex::encode(raw_transaction_prefix()),
        "b5e97db07fa0bd0e5598aa3643a9bc6f6693bddc1a9fec9e674a461eaa00b193"
    );
    assert_eq!(
        hex::encode(raw_transaction_with_data_prefix()),
        "5efa3c4f02f83a0f4b2d69fc95c607cc02825cc4e7be536ef0992df050d9e67c"
    );
    assert_eq!(
        hex::encode(transaction_hash_prefix()),
        "fa210a9417ef3e7fa45bfa1d17a8dbd4d883711910a550d265fee189e9266dd4"
    );
}

#[test]
fn vector_a_end_to_end() {
    let raw = vector_a_raw();
    let raw_bytes = raw.to_bcs().unwrap();
    assert_eq!(raw_bytes.len(), 211);
    assert_eq!(hex::encode(&raw_bytes), A_RAW);
    let msg = signing_message(&raw).unwrap();
    assert_eq!(
        hex::encode(&msg),
        format!("b5e97db07fa0bd0e5598aa3643a9bc6f6693bddc1a9fec9e674a461eaa00b193{A_RAW}")
    );
    let signed = sign_transaction(raw.clone(), &key(K1)).unwrap();
    let TransactionAuthenticator::Ed25519 {
        public_key,
        signature,
    } = &signed.authenticator
    else {
        panic!("expected Ed25519");
    };
    assert_eq!(hex::encode(public_key.as_bytes()), K1_PUB);
    assert_eq!(hex::encode(signature.as_bytes()), A_SIG);
    let signed_bytes = signed.to_bytes().unwrap();
    assert_eq!(signed_bytes.len(), 310);
    assert_eq!(
        signed_bytes.len() - raw_bytes.len(),
        99,
        "99-byte authenticator"
    );
    assert_eq!(hex::encode(&signed_bytes), A_SIGNED);
    assert_eq!(signed.hash().unwrap().to_string(), A_HASH);

    // Sealed in one go: the vector's bytes and hash, and the same transaction.
    let sealed = seal_transaction(raw.clone(), &key(K1)).unwrap();
    assert_eq!(hex::encode(&sealed.bytes), A_SIGNED);
    assert_eq!(sealed.hash.to_string(), A_HASH);
    assert_eq!(sealed.signed, signed);

    // Report.
    let report = sign_to_report(raw, &key(K1)).unwrap();
    assert_eq!(report.raw_txn_hex, format!("0x{A_RAW}"));
    assert_eq!(
        report.signing_message_hex,
        format!("0x{}", hex::encode(&msg))
    );
    assert_eq!(report.signed_txn_hex, format!("0x{A_SIGNED}"));
    assert_eq!(report.hash.to_string(), A_HASH);
    let j = serde_json::to_value(&report).unwrap();
    assert_eq!(j["hash"], A_HASH);
    assert_eq!(j.as_object().unwrap().len(), 4);
}

#[test]
fn vector_a_decodes_and_verifies() {
    let bytes = hex::decode(A_SIGNED).unwrap();
    let v = verify_signed_transaction(&bytes).unwrap();
    assert!(v.sender_matches_key);
    assert_eq!(v.hash.to_string(), A_HASH);
    assert_eq!(v.signed.raw_txn, vector_a_raw());
    assert_eq!(v.signed.to_bytes().unwrap(), bytes, "round trip");
    let ef = v.signed.raw_txn.payload.entry_function();
    assert_eq!(ef.id().to_string(), "0x1::coin::transfer");
}

#[test]
fn vector_r_raw() {
    let raw = RawTransaction {
        sender: AccountAddress::ONE,
        sequence_number: 42,
        payload: entry(
            AccountAddress::ONE,
            "aptos_account",
            "transfer",
            vec![],
            vec![
                bcs::to_bytes(&AccountAddress::from_hex("0x2").unwrap()).unwrap(),
                bcs::to_bytes(&1_000_000u64).unwrap(),
            ],
        ),
        max_gas_amount: 100_000,
        gas_unit_price: 100,
        expiration_timestamp_secs: 9_999_999_999,
        chain_id: 2,
    };
    assert_eq!(hex::encode(raw.to_bcs().unwrap()), R_RAW);
    assert_eq!(
        bcs::from_bytes::<RawTransaction>(&hex::decode(R_RAW).unwrap()).unwrap(),
        raw
    );
}

#[test]
fn vector_m_multi_agent() {
    let raw = vector_m_raw();
    assert_eq!(hex::encode(raw.to_bcs().unwrap()), M_RAW);
    let k2 = key(K2);
    let msg = multi_agent_signing_message(&raw, &[k2.address()]).unwrap();
    assert_eq!(
        hex::encode(&msg),
        format!(
            "5efa3c4f02f83a0f4b2d69fc95c607cc02825cc4e7be536ef0992df050d9e67c00{M_RAW}01{}",
            "2d133ddd281bb6205558357cc6ac75661817e9aaeac3afebc32842759cbf7fa9"
        )
    );
    let signed = sign_multi_agent_transaction(raw, &key(K1), &[&k2]).unwrap();
    let bytes = signed.to_bytes().unwrap();
    assert_eq!(hex::encode(&bytes), M_SIGNED);
    assert_eq!(signed.hash().unwrap().to_string(), M_HASH);
    let v = verify_signed_transaction(&bytes).unwrap();
    assert!(v.sender_matches_key);
    assert_eq!(v.hash.to_string(), M_HASH);
}

#[test]
fn tampered_transactions_fail() {
    let good = hex::decode(A_SIGNED).unwrap();
    // Flip a bit in the amount (inside the raw transaction).
    let mut t = good.clone();
    let amount_at = A_RAW.find("8813000000000000").unwrap() / 2;
    t[amount_at] ^= 1;
    assert!(matches!(
        verify_signed_transaction(&t),
        Err(AptosError::SignatureInvalid(_))
    ));
    // Flip a bit in the signature.
    let mut t = good.clone();
    let last = t.len() - 1;
    t[last] ^= 0x40;
    assert!(verify_signed_transaction(&t).is_err());
    // Truncated, extended, empty, garbage: BCS errors, no panic.
    assert!(matches!(
        verify_signed_transaction(&good[..good.len() - 1]),
        Err(AptosError::Bcs(_))
    ));
    let mut longer = good.clone();
    longer.push(0);
    assert!(matches!(
        verify_signed_transaction(&longer),
        Err(AptosError::Bcs(_))
    ));
    assert!(verify_signed_transaction(&[]).is_err());
    assert!(verify_signed_transaction(&[0xff; 400]).is_err());
    // Multi-agent with a tampered secondary signature.
    let mut m = hex::decode(M_SIGNED).unwrap();
    let l = m.len() - 1;
    m[l] ^= 1;
    assert!(verify_signed_transaction(&m).is_err());
}

#[test]
fn wrong_key_is_detected() {
    // Signed by K2 but claiming sender K1: signature valid, sender mismatch reported.
    let signed = sign_transaction(vector_a_raw(), &key(K2)).unwrap();
    let v = verify_signed_transaction(&signed.to_bytes().unwrap()).unwrap();
    assert!(!v.sender_matches_key);
    // K2's public key with K1's signature: invalid signature.
    let good = sign_transaction(vector_a_raw(), &key(K1)).unwrap();
    let forged = SignedTransaction {
        raw_txn: good.raw_txn.clone(),
        authenticator: TransactionAuthenticator::Ed25519 {
            public_key: key(K2).public_key(),
            signature: match good.authenticator {
                TransactionAuthenticator::Ed25519 { signature, .. } => signature,
                _ => unreachable!(),
            },
        },
    };
    assert!(matches!(
        verify_signed_transaction(&forged.to_bytes().unwrap()),
        Err(AptosError::SignatureInvalid(_))
    ));
    // Simulation transactions never verify.
    let sim = SignedTransaction::for_simulation(vector_a_raw(), key(K1).public_key());
    assert!(verify_signed_transaction(&sim.to_bytes().unwrap()).is_err());
}

#[test]
fn hash_parse_round_trip() {
    let h: TransactionHash = A_HASH.parse().unwrap();
    assert_eq!(h.to_string(), A_HASH);
    assert_eq!(serde_json::to_string(&h).unwrap(), format!("\"{A_HASH}\""));
    assert!("0x12".parse::<TransactionHash>().is_err());
}

/// Sealing serialises the raw transaction once; it must give what signing, serialising and
/// hashing separately give, for any key and any payload length (the length prefixes change
/// size past 127 bytes).
#[test]
fn sealed_transactions_match_sign_then_serialise() {
    for n in 0..12u64 {
        let k = PrivateKey::from_test_seed(n);
        let args: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8; (i * 37) as usize]).collect();
        let raw = RawTransaction {
            sender: k.address(),
            sequence_number: n * 1_000_003,
            payload: entry(AccountAddress::ONE, "m", "f", vec![], args),
            max_gas_amount: 10_000 + n,
            gas_unit_price: 100,
            expiration_timestamp_secs: 1_746_177_781 + n,
            chain_id: 4,
        };
        let signed = sign_transaction(raw.clone(), &k).unwrap();
        let sealed = seal_transaction(raw, &k).unwrap();
        assert_eq!(sealed.signed, signed, "{n}");
        assert_eq!(sealed.bytes, signed.to_bytes().unwrap(), "{n}");
        assert_eq!(sealed.hash, signed.hash().unwrap(), "{n}");
    }
}
