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
mod tests;
