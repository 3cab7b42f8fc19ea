//! Signing, transaction hashes and verification of submitted transactions.
//!
//! * signing message = `sha3_256("APTOS::RawTransaction") ‖ bcs(raw)`, signed with plain Ed25519;
//! * signed bytes = `bcs(SignedTransaction)` = `bcs(raw) ‖ bcs(authenticator)` — the body of
//!   `POST /v1/transactions` with `Content-Type: application/x.aptos.signed_transaction+bcs`;
//! * hash = `sha3_256(sha3_256("APTOS::Transaction") ‖ 0x00 ‖ signed bytes)` — the `hash` the node
//!   reports, known before submitting so a lost response can still be tracked.
//!
//! [`verify_signed_transaction`] is the inverse, for a simulated venue: decode submitted bytes,
//! check every signature and report whether the signer keys match the claimed addresses.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use super::address::AccountAddress;
use super::error::{AptosError, clip};
use super::keys::{Ed25519PublicKey, Ed25519Signature, PrivateKey, sha3_256};
use super::types::{
    AccountAuthenticator, RawTransaction, RawTransactionWithData, SignedTransaction,
    TransactionAuthenticator,
};

/// BCS container-depth limit used when decoding untrusted transaction bytes. Far above what a
/// real transaction needs (type arguments nest a few levels) and low enough to bound recursion.
const DECODE_DEPTH_LIMIT: usize = 100;

// The domain prefixes are hashed once per process, not once per transaction (each is a full
// Keccak permutation; signing and hashing one transaction used to compute two of them).
static RAW_TRANSACTION_PREFIX: LazyLock<[u8; 32]> =
    LazyLock::new(|| sha3_256(&[b"APTOS::RawTransaction"]));
static RAW_TRANSACTION_WITH_DATA_PREFIX: LazyLock<[u8; 32]> =
    LazyLock::new(|| sha3_256(&[b"APTOS::RawTransactionWithData"]));
static TRANSACTION_HASH_PREFIX: LazyLock<[u8; 32]> =
    LazyLock::new(|| sha3_256(&[b"APTOS::Transaction"]));

/// Domain-separation prefix for single-signer signing: `sha3_256("APTOS::RawTransaction")`.
pub fn raw_transaction_prefix() -> [u8; 32] {
    *RAW_TRANSACTION_PREFIX
}

/// Domain-separation prefix for multi-agent / fee-payer signing:
/// `sha3_256("APTOS::RawTransactionWithData")`.
pub fn raw_transaction_with_data_prefix() -> [u8; 32] {
    *RAW_TRANSACTION_WITH_DATA_PREFIX
}

/// Prefix of the committed-transaction hash: `sha3_256("APTOS::Transaction")`.
pub fn transaction_hash_prefix() -> [u8; 32] {
    *TRANSACTION_HASH_PREFIX
}

/// The exact bytes a single signer signs: prefix ‖ BCS(raw).
pub fn signing_message(raw: &RawTransaction) -> Result<Vec<u8>, AptosError> {
    // Room for the prefix and a typical entry-function transaction: one allocation.
    let mut msg = Vec::with_capacity(512);
    msg.extend_from_slice(&*RAW_TRANSACTION_PREFIX);
    bcs::serialize_into(&mut msg, raw)?;
    Ok(msg)
}

/// The bytes every signer of a multi-agent transaction signs:
/// `prefix("APTOS::RawTransactionWithData") ‖ bcs(MultiAgent { raw, secondary_addresses })`.
pub fn multi_agent_signing_message(
    raw: &RawTransaction,
    secondary_signer_addresses: &[AccountAddress],
) -> Result<Vec<u8>, AptosError> {
    let with_data = RawTransactionWithData::MultiAgent {
        raw_txn: raw.clone(),
        secondary_signer_addresses: secondary_signer_addresses.to_vec(),
    };
    let mut msg = raw_transaction_with_data_prefix().to_vec();
    bcs::serialize_into(&mut msg, &with_data)?;
    Ok(msg)
}

/// Sign `raw` with `key` (legacy Ed25519 authenticator).
///
/// Does not check that `raw.sender` is `key.address()`: after a key rotation the two legitimately
/// differ. Use [`verify_signed_transaction`] to check.
pub fn sign_transaction(
    raw: RawTransaction,
    key: &PrivateKey,
) -> Result<SignedTransaction, AptosError> {
    let signature = key.sign_message(&signing_message(&raw)?);
    Ok(SignedTransaction {
        raw_txn: raw,
        authenticator: TransactionAuthenticator::Ed25519 {
            public_key: key.public_key(),
            signature,
        },
    })
}

/// Sign a multi-agent transaction: `sender` signs for `raw.sender`, each secondary key signs for
/// its own (legacy) address, which becomes the secondary signer address list.
pub fn sign_multi_agent_transaction(
    raw: RawTransaction,
    sender: &PrivateKey,
    secondary: &[&PrivateKey],
) -> Result<SignedTransaction, AptosError> {
    let addresses: Vec<AccountAddress> = secondary.iter().map(|k| k.address()).collect();
    let msg = multi_agent_signing_message(&raw, &addresses)?;
    let auth = |k: &PrivateKey| AccountAuthenticator::Ed25519 {
        public_key: k.public_key(),
        signature: k.sign_message(&msg),
    };
    Ok(SignedTransaction {
        authenticator: TransactionAuthenticator::MultiAgent {
            sender: auth(sender),
            secondary_signer_addresses: addresses,
            secondary_signers: secondary.iter().map(|k| auth(k)).collect(),
        },
        raw_txn: raw,
    })
}

impl SignedTransaction {
    /// A transaction for `POST /v1/transactions/simulate`: real public key, all-zero signature
    /// (the node rejects simulations whose signature verifies).
    pub fn for_simulation(raw: RawTransaction, public_key: Ed25519PublicKey) -> Self {
        Self {
            raw_txn: raw,
            authenticator: TransactionAuthenticator::Ed25519 {
                public_key,
                signature: Ed25519Signature::ZERO,
            },
        }
    }

    /// BCS bytes: the body of a BCS submission.
    pub fn to_bytes(&self) -> Result<Vec<u8>, AptosError> {
        Ok(bcs::to_bytes(self)?)
    }

    /// Decode BCS bytes (no signature check; see [`verify_signed_transaction`]). Trailing bytes,
    /// unknown variants and malformed fields are errors.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AptosError> {
        Ok(bcs::from_bytes_with_limit(bytes, DECODE_DEPTH_LIMIT)?)
    }

    /// The transaction hash the node will report for this transaction.
    pub fn hash(&self) -> Result<TransactionHash, AptosError> {
        Ok(transaction_hash(&self.to_bytes()?))
    }
}

/// Hash of already-serialised signed-transaction bytes.
pub fn transaction_hash(signed_bytes: &[u8]) -> TransactionHash {
    TransactionHash(sha3_256(&[
        &*TRANSACTION_HASH_PREFIX,
        &[0x00],
        signed_bytes,
    ]))
}

/// A 32-byte transaction hash. Displays and serialises as `0x` + 64 lowercase hex (node format).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransactionHash(pub [u8; 32]);

impl fmt::Display for TransactionHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for TransactionHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransactionHash({self})")
    }
}

impl FromStr for TransactionHash {
    type Err = AptosError;
    /// Parse `0x` + 64 hex digits (the `0x` is optional).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.strip_prefix("0x").unwrap_or(s);
        let mut out = [0u8; 32];
        hex::decode_to_slice(digits, &mut out).map_err(|_| AptosError::InvalidAddress {
            input: clip(s),
            reason: "a transaction hash is 64 hex digits",
        })?;
        Ok(Self(out))
    }
}

impl Serialize for TransactionHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TransactionHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Result of [`verify_signed_transaction`]: the decoded transaction with all signatures valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedTransaction {
    /// The decoded transaction.
    pub signed: SignedTransaction,
    /// Its hash (over the submitted bytes).
    pub hash: TransactionHash,
    /// True if every signer's public key derives (legacy Ed25519 scheme) to the address it signs
    /// for: `raw.sender` for the sender, and each secondary signer address. A simulator with no
    /// key rotation should reject `false` as the node's `INVALID_AUTH_KEY` (vm_error_code 2).
    pub sender_matches_key: bool,
}

/// Decode submitted BCS bytes and verify them like a node's prologue would (for the simulator).
///
/// * malformed bytes → [`AptosError::Bcs`];
/// * any signature that does not verify → [`AptosError::SignatureInvalid`] (node:
///   `INVALID_SIGNATURE`, vm_error_code 1);
/// * key/address mismatch is *reported* in [`VerifiedTransaction::sender_matches_key`].
pub fn verify_signed_transaction(bytes: &[u8]) -> Result<VerifiedTransaction, AptosError> {
    let signed = SignedTransaction::from_bytes(bytes)?;
    let raw = &signed.raw_txn;
    let sender_matches_key = match &signed.authenticator {
        TransactionAuthenticator::Ed25519 {
            public_key,
            signature,
        } => {
            public_key.verify(&signing_message(raw)?, signature)?;
            public_key.to_address() == raw.sender
        }
        TransactionAuthenticator::MultiAgent {
            sender,
            secondary_signer_addresses,
            secondary_signers,
        } => {
            if secondary_signer_addresses.len() != secondary_signers.len() {
                return Err(AptosError::SignatureInvalid(
                    "secondary signer count does not match address count".into(),
                ));
            }
            let msg = multi_agent_signing_message(raw, secondary_signer_addresses)?;
            let mut all_match = true;
            let signers = std::iter::once((&raw.sender, sender))
                .chain(secondary_signer_addresses.iter().zip(secondary_signers));
            for (addr, auth) in signers {
                match auth {
                    AccountAuthenticator::Ed25519 {
                        public_key,
                        signature,
                    } => {
                        public_key.verify(&msg, signature)?;
                        all_match &= public_key.to_address() == *addr;
                    }
                }
            }
            all_match
        }
        TransactionAuthenticator::MultiEd25519(never) => match *never {},
    };
    Ok(VerifiedTransaction {
        hash: transaction_hash(bytes),
        signed,
        sender_matches_key,
    })
}

/// The four artefacts of signing one transaction, as `0x`-hex strings. Backs `perpbot tx sign`,
/// which prints this as JSON so it can be cross-checked against an SDK or a node's
/// `encode_submission`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTxnReport {
    /// `bcs(RawTransaction)`.
    pub raw_txn_hex: String,
    /// `sha3_256("APTOS::RawTransaction") ‖ bcs(RawTransaction)` — what was signed.
    pub signing_message_hex: String,
    /// `bcs(SignedTransaction)` — the submission body.
    pub signed_txn_hex: String,
    /// The transaction hash.
    pub hash: TransactionHash,
}

/// Sign `raw` with `key` and collect the report (see [`SignedTxnReport`]).
pub fn sign_to_report(
    raw: RawTransaction,
    key: &PrivateKey,
) -> Result<SignedTxnReport, AptosError> {
    let raw_bytes = bcs::to_bytes(&raw)?;
    let message = signing_message(&raw)?;
    let signed = sign_transaction(raw, key)?;
    let signed_bytes = signed.to_bytes()?;
    Ok(SignedTxnReport {
        raw_txn_hex: format!("0x{}", hex::encode(raw_bytes)),
        signing_message_hex: format!("0x{}", hex::encode(message)),
        hash: transaction_hash(&signed_bytes),
        signed_txn_hex: format!("0x{}", hex::encode(signed_bytes)),
    })
}

#[cfg(test)]
mod tests {
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
}
