use super::*;
use crate::keys::PrivateKey;
use crate::secp256k1::Secp256k1PrivateKey;
use crate::signing::{
    AccountSigner, SingleKeyEd25519, fee_payer_signing_message, sign_fee_payer_transaction,
    sign_single_sender, sign_transaction, signing_message, verify_signed_transaction,
};
use crate::types::{
    EntryFunction, Identifier, ModuleId, RawTransaction, RawTransactionWithData, SignedTransaction,
};

/// K4 of aptos-transactions.md §8.1 (go-sdk `TestSingleSignerEd25519*`, verified-py): its
/// SingleKey-scheme address.
const K4: &str = "f508cbef4e0fe463204aab724a90791c9a9dbe60a53b4978bbddbc712b55f2fd";
const K4_SINGLE_KEY_ADDRESS: &str =
    "0x5bdf77d5bf826c8c04273d4e7323f7bc4a85ee7ee34b37bd7458b7aed3639dd3";

/// python-sdk `aptos_sdk/secp256k1_ecdsa.py` `test_vectors`: a secp256k1 key, its uncompressed
/// public key and an SDK signature of `b"Hello world"` (ECDSA over sha3-256).
const SECP_KEY: &str = "306fa009600e27c09d2659145ce1785249360dd5fb992da01a578fe67ed607f4";
const SECP_PUB: &str = "04210c9129e35337ff5d6488f90f18d842cf985f06e0baeff8df4bfb2ac4221863e2631b971a237b5db0aa71188e33250732dd461d56ee623cbe0426a5c2db79ef";
const SECP_SIG: &str = "a539b0973e76fa99b2a864eebd5da950b4dfb399c7afe57ddb34130e454fc9db04dceb2c3d4260b8cc3d3952ab21b5d36c7dc76277fe3747764e6762d12bd9a9";

/// python-sdk `aptos_sdk/transactions.py` `test_verify_fee_payer`: a real fee-payer
/// SignedTransaction (TransactionAuthenticator variant 3) produced by an official SDK, which
/// verifies.
const FEE_PAYER_SIGNED: &str = "4629fa78b6a7810c6c3a45565707896944c4936a5583f9d3981c0692beb9e3fe010000000000000002915efe6647e0440f927d46e39bcb5eb040a7e567e1756e002073bc6e26f2cd230c63616e7661735f746f6b656e04647261770004205d45bb2a6f391440ba10444c7734559bd5ef9053930e3ef53d05be332518522bc90164850086008700880089008a008b008c008d008e008f0090009100920093009400950096009700980099009a009b009c009d009e009f00a000a100a200a300a400a500a600a700a800a900aa00ab00ac00ad00ae00af00b000b100b200b300b400b500b600b700b800b900ba00bb00bc00bd00be00bf00c000c100c200c300c4009f00a000a100a200a300a400a500a600a700a800a900aa00ab00ac00ad00ae00af00b000b100b200b300b400b500b600b700b800b900ba00bb00bc00bd00be00bf00c000c100c200c90164b701b701b701b701b701b701b701b701b701b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601b601130213021302130213021302130213021302130213021302130213021302130213021302130213021302130213021302130213021302130213021302130213021302130213021302656400000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000400d030000000000640000000000000043663065000000000103002076585d13da61c3d65f786b082e75ef790be66639fa066e0fc3b6f427d6ceb89340e137736ee1a0b60e8bdac8d0c75f29f1e6c6e7378689928125ea7a13164f96244d98ed3584df98643f5db00624f0271931498ff19492558737fbd4dcd0e99c040000af621023eaa26d6f1139da3e146a43aa4757fd77552f73ceba34b00295c340ce0020c245d6e4f0ce0867b80f9b901c00be5d790ed73272f4e5126ce02a5a7d55a15c4002fbb70e7d79b536d692953e4bdc3f762b5a288839ab974f03c8597ebb1c51d1d7e0920991bd79ca8c0acd02a7fb7c38b9c1f4d7e53f19f88b130555b20ef60d";

/// python-sdk `test_deserialize_raw_transaction_fee_payer_with_data` (from the Go SDK): a
/// `RawTransactionWithData::MultiAgentWithFeePayer` with fee payer `0x0`.
const FEE_PAYER_WITH_DATA: &str = "01e5275b443b31ba82afc1780036e77b4bc11bb2d67cfbefd079abde7cf00a1c3b00000000000000000200000000000000000000000000000000000000000000000000000000000000010d6170746f735f6163636f756e74087472616e736665720002201152725822d847a4c4922f2d67af98ae76614b9137780cebcb9a14ea3646a63508e803000000000000a086010000000000640000000000000090392e67000000009d000000000000000000000000000000000000000000000000000000000000000000";

fn ed(seed: u8) -> PrivateKey {
    PrivateKey::from_seed_bytes([seed; 32])
}

fn secp(seed: u8) -> Secp256k1PrivateKey {
    Secp256k1PrivateKey::from_bytes(&[seed; 32]).unwrap()
}

fn raw(sender: AccountAddress) -> RawTransaction {
    RawTransaction {
        sender,
        sequence_number: 7,
        payload: EntryFunction {
            module: ModuleId::new(AccountAddress::ONE, Identifier::new("coin").unwrap()),
            function: Identifier::new("transfer").unwrap(),
            ty_args: vec![],
            args: vec![bcs::to_bytes(&5000u64).unwrap()],
        }
        .into(),
        max_gas_amount: 2000,
        gas_unit_price: 100,
        expiration_timestamp_secs: 1_900_000_000,
        chain_id: 4,
    }
}

fn round_trip(signed: &SignedTransaction) -> SignedTransaction {
    let bytes = signed.to_bytes().unwrap();
    let back = SignedTransaction::from_bytes(&bytes).unwrap();
    assert_eq!(&back, signed);
    assert_eq!(back.to_bytes().unwrap(), bytes);
    back
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

// ---- layouts and fixtures ----

#[test]
fn single_key_ed25519_address_matches_the_go_sdk_vector() {
    let k4 = PrivateKey::parse(K4).unwrap();
    let addr = SingleKeyEd25519(&k4).account_address().unwrap();
    assert_eq!(addr.to_string(), K4_SINGLE_KEY_ADDRESS);
    // The existing diagnosis helper agrees, and the legacy address differs.
    assert_eq!(k4.public_key().single_key_address(), addr);
    assert_ne!(k4.address(), addr);
}

#[test]
fn secp256k1_sdk_vector_verifies_and_our_key_derives_its_public_key() {
    let key = Secp256k1PrivateKey::from_bytes(&unhex(SECP_KEY).try_into().unwrap()).unwrap();
    assert_eq!(hex::encode(key.public_key().as_bytes()), SECP_PUB);
    let public = Secp256k1PublicKey::from_sec1(&unhex(SECP_PUB)).unwrap();
    let sdk_sig = Secp256k1Signature(unhex(SECP_SIG).try_into().unwrap());
    public.verify(b"Hello world", &sdk_sig).unwrap();
    // Our own signature verifies too; a different message does not.
    let ours = key.sign_message(b"Hello world").unwrap();
    public.verify(b"Hello world", &ours).unwrap();
    assert!(public.verify(b"Hello world!", &sdk_sig).is_err());
}

#[test]
fn secp256k1_high_s_signature_is_refused() {
    // n - s turns a valid low-s signature into its high-s twin; aptos-core refuses it.
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36,
        0x41, 0x41,
    ];
    let key = secp(5);
    let sig = key.sign_message(b"low-s check").unwrap();
    key.public_key().verify(b"low-s check", &sig).unwrap();
    let mut high = sig.0;
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(N[i]) - i16::from(sig.0[32 + i]) - borrow;
        high[32 + i] = d.rem_euclid(256) as u8;
        borrow = i16::from(d < 0);
    }
    assert_ne!(high, sig.0);
    let err = key
        .public_key()
        .verify(b"low-s check", &Secp256k1Signature(high))
        .unwrap_err();
    assert!(matches!(err, AptosError::SignatureInvalid(_)), "{err}");
}

#[test]
fn single_sender_single_key_ed25519_bytes_are_the_documented_layout() {
    let k = ed(1);
    let signer = SingleKeyEd25519(&k);
    let r = raw(signer.account_address().unwrap());
    let signed = sign_single_sender(r.clone(), &signer).unwrap();
    let sig = k.sign_message(&signing_message(&r).unwrap());
    // raw ‖ 04 (SingleSender) ‖ 02 (SingleKey) ‖ 00 20 pubkey (AnyPublicKey::Ed25519) ‖
    // 00 40 signature (AnySignature::Ed25519)
    let mut want = r.to_bcs().unwrap();
    want.extend_from_slice(&[0x04, 0x02, 0x00, 0x20]);
    want.extend_from_slice(k.public_key().as_bytes());
    want.extend_from_slice(&[0x00, 0x40]);
    want.extend_from_slice(sig.as_bytes());
    assert_eq!(signed.to_bytes().unwrap(), want);
    round_trip(&signed);
    let v = verify_signed_transaction(&want).unwrap();
    assert!(v.sender_matches_key);
}

#[test]
fn single_sender_secp256k1_layout_round_trip_and_verification() {
    let k = secp(9);
    let r = raw(k.account_address().unwrap());
    let signed = sign_single_sender(r.clone(), &k).unwrap();
    let bytes = signed.to_bytes().unwrap();
    // 04 02 | 01 41 <65-byte key> | 01 40 <64-byte signature>
    let tail = bytes.get(r.to_bcs().unwrap().len()..).unwrap();
    assert_eq!(tail.len(), 2 + 2 + 65 + 2 + 64);
    assert_eq!(tail.get(..4).unwrap(), &[0x04, 0x02, 0x01, 0x41]);
    assert_eq!(tail.get(4..69).unwrap(), k.public_key().as_bytes());
    assert_eq!(tail.get(69..71).unwrap(), &[0x01, 0x40]);
    round_trip(&signed);
    assert!(
        verify_signed_transaction(&bytes)
            .unwrap()
            .sender_matches_key
    );

    // The address is sha3(01 41 key ‖ 02), not anything Ed25519-like.
    let mut preimage = vec![0x01, 0x41];
    preimage.extend_from_slice(k.public_key().as_bytes());
    preimage.push(0x02);
    assert_eq!(
        k.account_address().unwrap(),
        AccountAddress::new(sha3_256(&[&preimage]))
    );
}

#[test]
fn tampered_single_key_signatures_are_invalid() {
    let ek = ed(2);
    let sk = secp(3);
    let single_ed = SingleKeyEd25519(&ek);
    for signer in [&single_ed as &dyn AccountSigner, &sk] {
        let r = raw(signer.account_address().unwrap());
        let mut signed = sign_single_sender(r, signer).unwrap();
        // Same signature, other transaction: the signature no longer covers it.
        signed.raw_txn.sequence_number += 1;
        let err = verify_signed_transaction(&signed.to_bytes().unwrap()).unwrap_err();
        assert!(matches!(err, AptosError::SignatureInvalid(_)), "{err}");
    }
}

#[test]
fn single_key_signing_for_another_address_is_reported() {
    let k = secp(4);
    let signed = sign_single_sender(raw(ed(4).address()), &k).unwrap();
    let v = verify_signed_transaction(&signed.to_bytes().unwrap()).unwrap();
    assert!(!v.sender_matches_key);
}

#[test]
fn sdk_fee_payer_transaction_decodes_round_trips_and_verifies() {
    let bytes = unhex(FEE_PAYER_SIGNED);
    let signed = SignedTransaction::from_bytes(&bytes).unwrap();
    assert_eq!(signed.to_bytes().unwrap(), bytes);
    let TransactionAuthenticator::FeePayer {
        sender,
        secondary_signer_addresses,
        fee_payer_address,
        fee_payer_signer,
        ..
    } = &signed.authenticator
    else {
        panic!("not a fee-payer authenticator: {:?}", signed.authenticator);
    };
    assert!(secondary_signer_addresses.is_empty());
    assert!(matches!(sender, AccountAuthenticator::Ed25519 { .. }));
    assert!(matches!(
        fee_payer_signer,
        AccountAuthenticator::Ed25519 { .. }
    ));
    assert_eq!(
        signed.authenticator.fee_payer_address(),
        Some(*fee_payer_address)
    );
    let v = verify_signed_transaction(&bytes).unwrap();
    assert_eq!(v.signed, signed);

    // One flipped bit in the fee payer's signature (the last byte) breaks it.
    let mut bad = bytes.clone();
    if let Some(last) = bad.last_mut() {
        *last ^= 1;
    }
    let err = verify_signed_transaction(&bad).unwrap_err();
    assert!(matches!(err, AptosError::SignatureInvalid(_)), "{err}");
}

#[test]
fn go_sdk_fee_payer_raw_transaction_with_data_round_trips() {
    let bytes = unhex(FEE_PAYER_WITH_DATA);
    let with_data: RawTransactionWithData = bcs::from_bytes(&bytes).unwrap();
    let RawTransactionWithData::MultiAgentWithFeePayer {
        secondary_signer_addresses,
        fee_payer_address,
        ..
    } = &with_data
    else {
        panic!("not a fee-payer variant: {with_data:?}");
    };
    assert!(secondary_signer_addresses.is_empty());
    assert_eq!(*fee_payer_address, AccountAddress::ZERO);
    assert_eq!(bcs::to_bytes(&with_data).unwrap(), bytes);
}

#[test]
fn fee_payer_signed_by_perpbot_verifies_with_either_sender_message() {
    let sender = ed(10);
    let payer = secp(11);
    let second = ed(12);
    let r = raw(sender.address());
    let signed = sign_fee_payer_transaction(r.clone(), &sender, &[&second], &payer).unwrap();
    let back = round_trip(&signed);
    let v = verify_signed_transaction(&back.to_bytes().unwrap()).unwrap();
    assert!(v.sender_matches_key);
    assert_eq!(
        back.authenticator.fee_payer_address(),
        Some(payer.account_address().unwrap())
    );

    // The sender may also sign with the real fee-payer address (legacy form).
    let payer_addr = payer.account_address().unwrap();
    let real = fee_payer_signing_message(&r, &[second.address()], payer_addr).unwrap();
    let mut legacy = signed.clone();
    if let TransactionAuthenticator::FeePayer { sender: s, .. } = &mut legacy.authenticator {
        *s = sender.authenticate(&real).unwrap();
    }
    assert_ne!(legacy, signed);
    assert!(verify_signed_transaction(&legacy.to_bytes().unwrap()).is_ok());

    // The fee payer must sign its real address: 0x0 is refused.
    let zero = fee_payer_signing_message(&r, &[second.address()], AccountAddress::ZERO).unwrap();
    let mut lazy_payer = signed.clone();
    if let TransactionAuthenticator::FeePayer {
        fee_payer_signer, ..
    } = &mut lazy_payer.authenticator
    {
        *fee_payer_signer = payer.authenticate(&zero).unwrap();
    }
    let err = verify_signed_transaction(&lazy_payer.to_bytes().unwrap()).unwrap_err();
    assert!(matches!(err, AptosError::SignatureInvalid(_)), "{err}");

    // A plain RawTransaction signature by the sender is not a fee-payer signature.
    let mut plain = signed;
    if let TransactionAuthenticator::FeePayer { sender: s, .. } = &mut plain.authenticator {
        *s = sender.authenticate(&signing_message(&r).unwrap()).unwrap();
    }
    assert!(verify_signed_transaction(&plain.to_bytes().unwrap()).is_err());
}

#[test]
fn fee_payer_whose_key_is_not_its_address_is_reported() {
    let sender = ed(20);
    let payer = ed(21);
    let r = raw(sender.address());
    let mut signed = sign_fee_payer_transaction(r, &sender, &[], &payer).unwrap();
    if let TransactionAuthenticator::FeePayer {
        fee_payer_address, ..
    } = &mut signed.authenticator
    {
        *fee_payer_address = ed(22).address();
    }
    // Re-sign the fee payer over the message naming the claimed address: the signature is
    // valid, but the key is not that account's.
    let msg = fee_payer_signing_message(&signed.raw_txn, &[], ed(22).address()).unwrap();
    if let TransactionAuthenticator::FeePayer {
        fee_payer_signer, ..
    } = &mut signed.authenticator
    {
        *fee_payer_signer = payer.authenticate(&msg).unwrap();
    }
    let v = verify_signed_transaction(&signed.to_bytes().unwrap()).unwrap();
    assert!(!v.sender_matches_key);
}

fn multi_ed25519(
    keys: &[&PrivateKey],
    threshold: u8,
    signers: &[usize],
    msg: &[u8],
) -> AccountAuthenticator {
    let mut pk = Vec::new();
    for k in keys {
        pk.extend_from_slice(k.public_key().as_bytes());
    }
    pk.push(threshold);
    let mut sig = Vec::new();
    let mut bitmap = [0u8; 4];
    for &i in signers {
        sig.extend_from_slice(keys[i].sign_message(msg).as_bytes());
        bitmap[i / 8] |= 0x80 >> (i % 8);
    }
    sig.extend_from_slice(&bitmap);
    AccountAuthenticator::MultiEd25519 {
        public_key: MultiEd25519PublicKey(Bytes(pk)),
        signature: MultiEd25519Signature(Bytes(sig)),
    }
}

#[test]
fn multi_ed25519_and_multi_key_verify_and_derive_their_addresses() {
    let (a, b, c) = (ed(30), ed(31), ed(32));
    let probe = raw(AccountAddress::ZERO);
    let msg = signing_message(&probe).unwrap();

    let multi = multi_ed25519(&[&a, &b, &c], 2, &[0, 2], &msg);
    multi.verify(&msg).unwrap();
    assert!(
        multi_ed25519(&[&a, &b, &c], 2, &[1], &msg)
            .verify(&msg)
            .is_err()
    );
    let addr = multi.derived_address().unwrap().unwrap();
    let AccountAuthenticator::MultiEd25519 {
        public_key,
        signature,
    } = multi
    else {
        unreachable!()
    };
    let signed = SignedTransaction {
        raw_txn: RawTransaction {
            sender: addr,
            ..probe.clone()
        },
        authenticator: TransactionAuthenticator::MultiEd25519 {
            public_key,
            signature,
        },
    };
    let msg_for_addr = signing_message(&signed.raw_txn).unwrap();
    let resigned = multi_ed25519(&[&a, &b, &c], 2, &[0, 1], &msg_for_addr);
    let AccountAuthenticator::MultiEd25519 {
        public_key,
        signature,
    } = resigned
    else {
        unreachable!()
    };
    let signed = SignedTransaction {
        authenticator: TransactionAuthenticator::MultiEd25519 {
            public_key,
            signature,
        },
        ..signed
    };
    let back = round_trip(&signed);
    assert!(
        verify_signed_transaction(&back.to_bytes().unwrap())
            .unwrap()
            .sender_matches_key
    );

    // MultiKey: an Ed25519 and a secp256k1 key, 1 of 2, signed by the secp256k1 key (bit 1).
    let s = secp(33);
    let keys = vec![
        AnyPublicKey::Ed25519 {
            public_key: a.public_key(),
        },
        AnyPublicKey::Secp256k1Ecdsa {
            public_key: s.public_key(),
        },
    ];
    let unsigned = AccountAuthenticator::MultiKey {
        public_keys: keys.clone(),
        signatures_required: 1,
        signatures: vec![],
        signatures_bitmap: Bytes(vec![0, 0, 0, 0]),
    };
    let addr = unsigned.derived_address().unwrap().unwrap();
    let r = RawTransaction {
        sender: addr,
        ..probe
    };
    let m = signing_message(&r).unwrap();
    let sender = AccountAuthenticator::MultiKey {
        public_keys: keys,
        signatures_required: 1,
        signatures: vec![AnySignature::Secp256k1Ecdsa {
            signature: s.sign_message(&m).unwrap(),
        }],
        signatures_bitmap: Bytes(vec![0b0100_0000, 0, 0, 0]),
    };
    let signed = SignedTransaction {
        raw_txn: r,
        authenticator: TransactionAuthenticator::SingleSender { sender },
    };
    let back = round_trip(&signed);
    let v = verify_signed_transaction(&back.to_bytes().unwrap()).unwrap();
    assert!(v.sender_matches_key);
    // The bitmap naming the wrong key (bit 0, the Ed25519 key) fails.
    let mut wrong = signed;
    if let TransactionAuthenticator::SingleSender {
        sender: AccountAuthenticator::MultiKey {
            signatures_bitmap, ..
        },
    } = &mut wrong.authenticator
    {
        *signatures_bitmap = Bytes(vec![0b1000_0000, 0, 0, 0]);
    }
    assert!(verify_signed_transaction(&wrong.to_bytes().unwrap()).is_err());
}

#[test]
fn multi_agent_and_no_account_authenticators_round_trip() {
    let signed =
        crate::signing::sign_multi_agent_transaction(raw(ed(40).address()), &ed(40), &[&ed(41)])
            .unwrap();
    round_trip(&signed);
    assert!(
        verify_signed_transaction(&signed.to_bytes().unwrap())
            .unwrap()
            .sender_matches_key
    );

    let none = SignedTransaction {
        raw_txn: raw(ed(40).address()),
        authenticator: TransactionAuthenticator::SingleSender {
            sender: AccountAuthenticator::NoAccountAuthenticator,
        },
    };
    let bytes = round_trip(&none).to_bytes().unwrap();
    assert_eq!(bytes.get(bytes.len() - 2..).unwrap(), &[0x04, 0x04]);
    let err = verify_signed_transaction(&bytes).unwrap_err();
    assert!(matches!(err, AptosError::SignatureInvalid(_)), "{err}");
}

// ---- refused variants: named, never a bare BCS error ----

fn with_tail(tail: &[u8]) -> Vec<u8> {
    let mut bytes = raw(ed(50).address()).to_bcs().unwrap();
    bytes.extend_from_slice(tail);
    bytes
}

fn refusal(bytes: &[u8]) -> String {
    match SignedTransaction::from_bytes(bytes) {
        Err(AptosError::UnsupportedAuthenticator(what)) => what,
        other => panic!("expected an unsupported-authenticator refusal, got {other:?}"),
    }
}

#[test]
fn keyless_abstraction_and_unknown_variants_are_refused_by_name() {
    // SingleSender(SingleKey(AnyPublicKey::Keyless …))
    assert!(refusal(&with_tail(&[4, 2, 3, 0, 0])).contains("Keyless"));
    assert!(refusal(&with_tail(&[4, 2, 4])).contains("FederatedKeyless"));
    assert!(refusal(&with_tail(&[4, 2, 5])).contains("SlhDsa"));
    assert!(refusal(&with_tail(&[4, 2, 9])).contains("variant 9"));
    // SingleSender(SingleKey(Ed25519 key, AnySignature::Keyless …))
    let mut tail = vec![4, 2, 0, 0x20];
    tail.extend_from_slice(ed(50).public_key().as_bytes());
    tail.push(3);
    assert!(refusal(&with_tail(&tail)).contains("AnySignature::Keyless"));
    // SingleSender(Abstraction …)
    assert!(refusal(&with_tail(&[4, 5, 0])).contains("Abstraction"));
    // The error's text names it for the node's answer.
    let e = SignedTransaction::from_bytes(&with_tail(&[4, 2, 3])).unwrap_err();
    assert!(e.to_string().contains("Keyless"), "{e}");
}

#[test]
fn webauthn_decodes_but_is_refused_when_verified() {
    let assertion = PartialAuthenticatorAssertionResponse {
        signature: AssertionSignature::Secp256r1Ecdsa {
            signature: Bytes(vec![7; 64]),
        },
        authenticator_data: Bytes(vec![1, 2, 3]),
        client_data_json: Bytes(b"{}".to_vec()),
    };
    let signed = SignedTransaction {
        raw_txn: raw(ed(51).address()),
        authenticator: TransactionAuthenticator::SingleSender {
            sender: AccountAuthenticator::SingleKey {
                public_key: AnyPublicKey::Secp256r1Ecdsa {
                    public_key: Secp256r1PublicKey(Bytes(vec![4; 65])),
                },
                signature: AnySignature::WebAuthn {
                    signature: assertion,
                },
            },
        },
    };
    let bytes = round_trip(&signed).to_bytes().unwrap();
    match verify_signed_transaction(&bytes) {
        Err(AptosError::UnsupportedAuthenticator(what)) => assert!(what.contains("WebAuthn")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn legacy_signing_still_produces_the_legacy_authenticator() {
    let k = ed(60);
    let signed = sign_transaction(raw(k.address()), &k).unwrap();
    assert!(matches!(
        signed.authenticator,
        TransactionAuthenticator::Ed25519 { .. }
    ));
    assert!(
        verify_signed_transaction(&signed.to_bytes().unwrap())
            .unwrap()
            .sender_matches_key
    );
}

#[test]
fn node_json_of_each_kind() {
    let k = ed(70);
    let single = sign_single_sender(
        raw(SingleKeyEd25519(&k).account_address().unwrap()),
        &SingleKeyEd25519(&k),
    )
    .unwrap();
    let j = json::transaction_signature_json(&single.authenticator);
    assert_eq!(j["type"], "single_sender");
    assert_eq!(j["public_key"]["type"], "ed25519");
    assert_eq!(j["public_key"]["value"], k.public_key().to_string());
    assert_eq!(j["signature"]["type"], "ed25519");

    let legacy = sign_transaction(raw(k.address()), &k).unwrap();
    let j = json::transaction_signature_json(&legacy.authenticator);
    assert_eq!(j["type"], "ed25519_signature");
    assert_eq!(j["public_key"], k.public_key().to_string());

    let payer = secp(71);
    let fp = sign_fee_payer_transaction(raw(k.address()), &k, &[], &payer).unwrap();
    let j = json::transaction_signature_json(&fp.authenticator);
    assert_eq!(j["type"], "fee_payer_signature");
    assert_eq!(j["sender"]["type"], "ed25519_signature");
    assert_eq!(j["fee_payer_signer"]["type"], "single_key_signature");
    assert_eq!(
        j["fee_payer_signer"]["public_key"]["type"],
        "secp256k1_ecdsa"
    );
    assert_eq!(
        j["fee_payer_address"],
        payer.account_address().unwrap().to_string()
    );
    assert_eq!(j["secondary_signer_addresses"], serde_json::json!([]));
}
