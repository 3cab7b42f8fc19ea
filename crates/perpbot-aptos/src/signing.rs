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
use super::authenticator::verify::verify_transaction_authenticator;
use super::authenticator::{AnyPublicKey, AnySignature, from_bcs_error};
use super::error::{AptosError, clip};
use super::keys::{Ed25519PublicKey, Ed25519Signature, PrivateKey, sha3_256};
use super::secp256k1::Secp256k1PrivateKey;
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

/// The bytes a signer of a fee-payer (sponsored) transaction signs:
/// `prefix("APTOS::RawTransactionWithData") ‖ bcs(MultiAgentWithFeePayer { raw, secondary_addresses,
/// fee_payer_address })`. The fee payer signs with its own address; the TS SDK has the sender
/// and secondary signers sign with `fee_payer_address = 0x0` (both are accepted, §4.5).
pub fn fee_payer_signing_message(
    raw: &RawTransaction,
    secondary_signer_addresses: &[AccountAddress],
    fee_payer_address: AccountAddress,
) -> Result<Vec<u8>, AptosError> {
    let with_data = RawTransactionWithData::MultiAgentWithFeePayer {
        raw_txn: raw.clone(),
        secondary_signer_addresses: secondary_signer_addresses.to_vec(),
        fee_payer_address,
    };
    let mut msg = raw_transaction_with_data_prefix().to_vec();
    bcs::serialize_into(&mut msg, &with_data)?;
    Ok(msg)
}

/// An account that can sign a message and say which address it signs for: the legacy Ed25519
/// [`PrivateKey`], a [`SingleKeyEd25519`] account or a [`Secp256k1PrivateKey`] (always
/// single-key). Lets [`sign_single_sender`] and [`sign_fee_payer_transaction`] build every
/// authenticator kind a wallet produces.
pub trait AccountSigner {
    /// The address of the account (derived from the key; no rotation).
    fn account_address(&self) -> Result<AccountAddress, AptosError>;
    /// This account's authenticator over `message` (the full signing message).
    fn authenticate(&self, message: &[u8]) -> Result<AccountAuthenticator, AptosError>;
}

impl AccountSigner for PrivateKey {
    fn account_address(&self) -> Result<AccountAddress, AptosError> {
        Ok(self.address())
    }
    fn authenticate(&self, message: &[u8]) -> Result<AccountAuthenticator, AptosError> {
        Ok(AccountAuthenticator::Ed25519 {
            public_key: self.public_key(),
            signature: self.sign_message(message),
        })
    }
}

/// An Ed25519 key used as a *single-key* account (the TS SDK's newer `Ed25519` kind): its
/// address is `sha3_256(00 20 ‖ pubkey ‖ 0x02)`, not the legacy one.
#[derive(Clone, Copy, Debug)]
pub struct SingleKeyEd25519<'a>(pub &'a PrivateKey);

impl AccountSigner for SingleKeyEd25519<'_> {
    fn account_address(&self) -> Result<AccountAddress, AptosError> {
        Ok(self.0.public_key().single_key_address())
    }
    fn authenticate(&self, message: &[u8]) -> Result<AccountAuthenticator, AptosError> {
        Ok(AccountAuthenticator::SingleKey {
            public_key: AnyPublicKey::Ed25519 {
                public_key: self.0.public_key(),
            },
            signature: AnySignature::Ed25519 {
                signature: self.0.sign_message(message),
            },
        })
    }
}

impl AccountSigner for Secp256k1PrivateKey {
    fn account_address(&self) -> Result<AccountAddress, AptosError> {
        let key = AnyPublicKey::Secp256k1Ecdsa {
            public_key: self.public_key(),
        };
        Ok(AccountAddress::new(key.single_key_authentication_key()?))
    }
    fn authenticate(&self, message: &[u8]) -> Result<AccountAuthenticator, AptosError> {
        Ok(AccountAuthenticator::SingleKey {
            public_key: AnyPublicKey::Secp256k1Ecdsa {
                public_key: self.public_key(),
            },
            signature: AnySignature::Secp256k1Ecdsa {
                signature: self.sign_message(message)?,
            },
        })
    }
}

/// Sign `raw` as a single sender with any account kind
/// (`TransactionAuthenticator::SingleSender`, the plain `RawTransaction` signing message), as
/// the TS SDK does for single-key accounts.
pub fn sign_single_sender(
    raw: RawTransaction,
    signer: &dyn AccountSigner,
) -> Result<SignedTransaction, AptosError> {
    let sender = signer.authenticate(&signing_message(&raw)?)?;
    Ok(SignedTransaction {
        raw_txn: raw,
        authenticator: TransactionAuthenticator::SingleSender { sender },
    })
}

/// Sign a sponsored transaction: `sender` and `secondary` sign with `fee_payer_address = 0x0`
/// (as the TS SDK does), `fee_payer` with its own address, which pays the gas.
pub fn sign_fee_payer_transaction(
    raw: RawTransaction,
    sender: &dyn AccountSigner,
    secondary: &[&dyn AccountSigner],
    fee_payer: &dyn AccountSigner,
) -> Result<SignedTransaction, AptosError> {
    let addresses = secondary
        .iter()
        .map(|s| s.account_address())
        .collect::<Result<Vec<_>, _>>()?;
    let fee_payer_address = fee_payer.account_address()?;
    let zero = fee_payer_signing_message(&raw, &addresses, AccountAddress::ZERO)?;
    let real = fee_payer_signing_message(&raw, &addresses, fee_payer_address)?;
    Ok(SignedTransaction {
        authenticator: TransactionAuthenticator::FeePayer {
            sender: sender.authenticate(&zero)?,
            secondary_signers: secondary
                .iter()
                .map(|s| s.authenticate(&zero))
                .collect::<Result<_, _>>()?,
            secondary_signer_addresses: addresses,
            fee_payer_address,
            fee_payer_signer: fee_payer.authenticate(&real)?,
        },
        raw_txn: raw,
    })
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

/// A signed transaction together with its submit body (BCS) and its hash, each computed once.
///
/// The submitter needs the hash before it sends (for the resume token) and the node client needs
/// the bytes; each used to serialise and hash the transaction again (three serialisations and two
/// SHA3s of the same transaction per order).
#[derive(Clone, Debug)]
pub struct SealedTransaction {
    /// The transaction, as [`sign_transaction`] returns it.
    pub signed: SignedTransaction,
    /// `BCS(signed)`: the body of a BCS submission.
    pub bytes: Vec<u8>,
    /// The hash the node will report (of `bytes`).
    pub hash: TransactionHash,
}

/// [`sign_transaction`], then the submit body and the hash, with the raw transaction serialised
/// once: BCS of a signed transaction is BCS of its raw transaction followed by BCS of its
/// authenticator, and the signing message is the prefix followed by the same raw bytes. The
/// same signature, bytes and hash as signing, serialising and hashing separately (tested).
pub fn seal_transaction(
    raw: RawTransaction,
    key: &PrivateKey,
) -> Result<SealedTransaction, AptosError> {
    let message = signing_message(&raw)?;
    let signature = key.sign_message(&message);
    let authenticator = TransactionAuthenticator::Ed25519 {
        public_key: key.public_key(),
        signature,
    };
    let raw_bytes = message
        .get(RAW_TRANSACTION_PREFIX.len()..)
        .unwrap_or_default();
    // An Ed25519 authenticator is 99 bytes: variant, two length bytes, key and signature.
    let mut bytes = Vec::with_capacity(raw_bytes.len() + 128);
    bytes.extend_from_slice(raw_bytes);
    bcs::serialize_into(&mut bytes, &authenticator)?;
    let hash = transaction_hash(&bytes);
    Ok(SealedTransaction {
        signed: SignedTransaction {
            raw_txn: raw,
            authenticator,
        },
        bytes,
        hash,
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
    /// A variant this layer cannot verify (keyless, account abstraction, …) is
    /// [`AptosError::UnsupportedAuthenticator`] naming it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AptosError> {
        bcs::from_bytes_with_limit(bytes, DECODE_DEPTH_LIMIT).map_err(from_bcs_error)
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
    /// True if every signer's key(s) derive, under the scheme of its authenticator (legacy
    /// Ed25519, MultiEd25519, single key, multi key), to the address it signs for: `raw.sender`
    /// for the sender, each secondary signer address, and the fee payer address. A simulator
    /// with no key rotation should reject `false` as the node's `INVALID_AUTH_KEY`
    /// (vm_error_code 2).
    pub sender_matches_key: bool,
}

/// Decode submitted BCS bytes and verify them like a node's prologue would (for the simulator).
///
/// Every authenticator kind is checked with its own signing message
/// ([`crate::authenticator::verify`]):
///
/// * malformed bytes → [`AptosError::Bcs`];
/// * a kind this layer cannot verify (keyless, passkey, account abstraction) →
///   [`AptosError::UnsupportedAuthenticator`] naming it;
/// * any signature that does not verify → [`AptosError::SignatureInvalid`] (node:
///   `INVALID_SIGNATURE`, vm_error_code 1);
/// * key/address mismatch is *reported* in [`VerifiedTransaction::sender_matches_key`].
pub fn verify_signed_transaction(bytes: &[u8]) -> Result<VerifiedTransaction, AptosError> {
    let signed = SignedTransaction::from_bytes(bytes)?;
    let sender_matches_key =
        verify_transaction_authenticator(&signed.raw_txn, &signed.authenticator)?;
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
