//! The full BCS model of Aptos transaction authenticators, and the authentication keys they
//! derive.
//!
//! Wallets built on the official SDKs do not only send the legacy `Ed25519` authenticator: the
//! TS SDK's newer `Ed25519` and `Secp256k1` accounts are *single-key* accounts
//! (`SingleSender { SingleKey { AnyPublicKey, AnySignature } }`), sponsored transactions use
//! `FeePayer`, and multisig wallets `MultiEd25519` / `MultiKey`. This module decodes all of them.
//!
//! Variant order is the wire format (aptos-transactions.md §4.3, aptos-core
//! `types/src/transaction/authenticator.rs`, TS SDK `AccountAuthenticatorVariant`,
//! `AnyPublicKeyVariant`, `AnySignatureVariant`):
//!
//! | enum | variants |
//! |---|---|
//! | [`TransactionAuthenticator`] | 0 Ed25519, 1 MultiEd25519, 2 MultiAgent, 3 FeePayer, 4 SingleSender |
//! | [`AccountAuthenticator`] | 0 Ed25519, 1 MultiEd25519, 2 SingleKey, 3 MultiKey, 4 NoAccountAuthenticator, 5 Abstraction |
//! | [`AnyPublicKey`] | 0 Ed25519, 1 Secp256k1Ecdsa, 2 Secp256r1Ecdsa, 3 Keyless, 4 FederatedKeyless, 5 SLH-DSA |
//! | [`AnySignature`] | 0 Ed25519, 1 Secp256k1Ecdsa, 2 WebAuthn, 3 Keyless, 4 SLH-DSA |
//!
//! Decoding is tolerant: a variant this layer cannot verify (keyless, SLH-DSA, account
//! abstraction, or a variant newer than this code) is refused while decoding with
//! [`AptosError::UnsupportedAuthenticator`] naming it, never a bare BCS error and never a panic.
//! WebAuthn signatures and secp256r1 keys decode (their layout is known) but are refused when
//! verified. Verification lives in [`verify`], the node's JSON form in [`json`].

pub mod json;
pub mod verify;

use std::fmt;

use serde::de::{EnumAccess, VariantAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::address::AccountAddress;
use super::error::AptosError;
use super::keys::{Ed25519PublicKey, Ed25519Signature, sha3_256};
use super::secp256k1::{Secp256k1PublicKey, Secp256k1Signature};

/// Authentication-key scheme bytes (the last byte of the hashed preimage).
pub mod scheme {
    /// Legacy single Ed25519 key.
    pub const ED25519: u8 = 0x00;
    /// K-of-N Ed25519 (`MultiEd25519`).
    pub const MULTI_ED25519: u8 = 0x01;
    /// One `AnyPublicKey` (`SingleKey`).
    pub const SINGLE_KEY: u8 = 0x02;
    /// K-of-N `AnyPublicKey`s (`MultiKey`).
    pub const MULTI_KEY: u8 = 0x03;
}

/// Most signatures one transaction may carry across all its signers (aptos-core
/// `MAX_NUM_OF_SIGS`); also the most keys of a multi-key account.
pub const MAX_NUM_OF_SIGS: usize = 32;

/// Prefix of the BCS custom-error text that marks a refused (unverifiable) variant, so
/// [`crate::SignedTransaction::from_bytes`] can turn it into
/// [`AptosError::UnsupportedAuthenticator`].
pub(crate) const UNSUPPORTED_MARKER: &str = "unsupported authenticator: ";

fn refuse<E: serde::de::Error>(what: &str) -> E {
    E::custom(format!("{UNSUPPORTED_MARKER}{what}"))
}

/// Turn a BCS error into [`AptosError`], recognising the refusals of this module.
pub(crate) fn from_bcs_error(e: bcs::Error) -> AptosError {
    match e {
        bcs::Error::Custom(m) if m.starts_with(UNSUPPORTED_MARKER) => {
            AptosError::UnsupportedAuthenticator(m.trim_start_matches(UNSUPPORTED_MARKER).into())
        }
        other => AptosError::Bcs(other),
    }
}

/// Length-prefixed bytes whose layout is checked only when used (multisig keys and signatures,
/// WebAuthn fields). BCS: `uleb128(len) ‖ bytes`.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Bytes(pub Vec<u8>);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(&self.0))
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({self})")
    }
}

/// A K-of-N Ed25519 public key: `key_1 ‖ … ‖ key_n ‖ threshold` (32·n + 1 bytes), as bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MultiEd25519PublicKey(pub Bytes);

/// A MultiEd25519 signature: `sig_1 ‖ … ‖ sig_k ‖ bitmap(4 bytes)` (64·k + 4 bytes), as bytes.
/// Bit `i` of the bitmap (most significant bit of byte 0 first) says key `i` signed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MultiEd25519Signature(pub Bytes);

/// A secp256r1 (P-256) public key, SEC1 bytes. Decoded so passkey wallets get a clear refusal;
/// never verified here.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Secp256r1PublicKey(pub Bytes);

/// The signature inside a WebAuthn assertion (only secp256r1 exists: variant 0).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AssertionSignature {
    /// Variant 0: a secp256r1 ECDSA signature (bytes).
    Secp256r1Ecdsa {
        /// `r ‖ s`.
        signature: Bytes,
    },
}

/// A WebAuthn (passkey) signature: the assertion signature plus the authenticator data and the
/// client data JSON it covers (TS SDK `WebAuthnSignature`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PartialAuthenticatorAssertionResponse {
    /// The signature.
    pub signature: AssertionSignature,
    /// Authenticator data.
    pub authenticator_data: Bytes,
    /// Client data JSON (contains the challenge = the signing-message digest).
    pub client_data_json: Bytes,
}

/// A public key of any single-key scheme. Serialisation is derived (variant index = position);
/// deserialisation is hand-written so unverifiable variants are refused by name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum AnyPublicKey {
    /// Variant 0.
    Ed25519 {
        /// The key.
        public_key: Ed25519PublicKey,
    },
    /// Variant 1.
    Secp256k1Ecdsa {
        /// The key (SEC1).
        public_key: Secp256k1PublicKey,
    },
    /// Variant 2 (passkeys; decoded, not verifiable here).
    Secp256r1Ecdsa {
        /// The key (SEC1).
        public_key: Secp256r1PublicKey,
    },
}

/// A signature of any single-key scheme (see [`AnyPublicKey`] for the serde split).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum AnySignature {
    /// Variant 0.
    Ed25519 {
        /// The signature.
        signature: Ed25519Signature,
    },
    /// Variant 1.
    Secp256k1Ecdsa {
        /// The signature.
        signature: Secp256k1Signature,
    },
    /// Variant 2 (passkeys; decoded, not verifiable here).
    WebAuthn {
        /// The assertion.
        signature: PartialAuthenticatorAssertionResponse,
    },
}

impl<'de> Deserialize<'de> for AnyPublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AnyPublicKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an AnyPublicKey")
            }
            fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<AnyPublicKey, A::Error> {
                let (index, variant): (u32, _) = data.variant()?;
                match index {
                    0 => Ok(AnyPublicKey::Ed25519 {
                        public_key: variant.newtype_variant()?,
                    }),
                    1 => Ok(AnyPublicKey::Secp256k1Ecdsa {
                        public_key: variant.newtype_variant()?,
                    }),
                    2 => Ok(AnyPublicKey::Secp256r1Ecdsa {
                        public_key: variant.newtype_variant()?,
                    }),
                    3 => Err(refuse(
                        "AnyPublicKey::Keyless (variant 3): keyless accounts",
                    )),
                    4 => Err(refuse(
                        "AnyPublicKey::FederatedKeyless (variant 4): keyless accounts",
                    )),
                    5 => Err(refuse("AnyPublicKey::SlhDsaSha2_128s (variant 5)")),
                    n => Err(refuse(&format!("AnyPublicKey variant {n} (unknown)"))),
                }
            }
        }
        deserializer.deserialize_enum("AnyPublicKey", ANY_PUBLIC_KEY_VARIANTS, V)
    }
}

const ANY_PUBLIC_KEY_VARIANTS: &[&str] = &[
    "Ed25519",
    "Secp256k1Ecdsa",
    "Secp256r1Ecdsa",
    "Keyless",
    "FederatedKeyless",
    "SlhDsa_Sha2_128s",
];

impl<'de> Deserialize<'de> for AnySignature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AnySignature;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an AnySignature")
            }
            fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<AnySignature, A::Error> {
                let (index, variant): (u32, _) = data.variant()?;
                match index {
                    0 => Ok(AnySignature::Ed25519 {
                        signature: variant.newtype_variant()?,
                    }),
                    1 => Ok(AnySignature::Secp256k1Ecdsa {
                        signature: variant.newtype_variant()?,
                    }),
                    2 => Ok(AnySignature::WebAuthn {
                        signature: variant.newtype_variant()?,
                    }),
                    3 => Err(refuse(
                        "AnySignature::Keyless (variant 3): keyless accounts",
                    )),
                    4 => Err(refuse("AnySignature::SlhDsaSha2_128s (variant 4)")),
                    n => Err(refuse(&format!("AnySignature variant {n} (unknown)"))),
                }
            }
        }
        deserializer.deserialize_enum("AnySignature", ANY_SIGNATURE_VARIANTS, V)
    }
}

const ANY_SIGNATURE_VARIANTS: &[&str] = &[
    "Ed25519",
    "Secp256k1Ecdsa",
    "WebAuthn",
    "Keyless",
    "SlhDsa_Sha2_128s",
];

impl AnyPublicKey {
    /// BCS of the key as aptos-core re-serialises it (secp256k1 keys uncompressed): the
    /// preimage of single-key and multi-key authentication keys.
    pub fn canonical_bcs(&self) -> Result<Vec<u8>, AptosError> {
        let canonical = match self {
            AnyPublicKey::Secp256k1Ecdsa { public_key } => AnyPublicKey::Secp256k1Ecdsa {
                public_key: Secp256k1PublicKey::from_sec1(&public_key.uncompressed()?)?,
            },
            other => other.clone(),
        };
        Ok(bcs::to_bytes(&canonical)?)
    }

    /// The authentication key (= address, never rotated) of a single-key account with this key:
    /// `sha3_256(bcs(AnyPublicKey) ‖ 0x02)`.
    pub fn single_key_authentication_key(&self) -> Result<[u8; 32], AptosError> {
        Ok(sha3_256(&[&self.canonical_bcs()?, &[scheme::SINGLE_KEY]]))
    }

    /// The kind, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            AnyPublicKey::Ed25519 { .. } => "Ed25519",
            AnyPublicKey::Secp256k1Ecdsa { .. } => "Secp256k1Ecdsa",
            AnyPublicKey::Secp256r1Ecdsa { .. } => "Secp256r1Ecdsa",
        }
    }
}

/// Uninhabited: account abstraction (`AccountAuthenticator` variant 5) is refused while decoding
/// (\[INF\] the TS SDK and aptos-core disagree on how its V1 authenticator bytes are framed, and
/// it needs an on-chain Move function to authenticate, which the simulator does not run).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum AbstractionRefused {}

impl<'de> Deserialize<'de> for AbstractionRefused {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(refuse(
            "AccountAuthenticator::Abstraction (variant 5): account abstraction",
        ))
    }
}

/// How one account authenticates (inside multi-agent, fee-payer and single-sender transactions).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AccountAuthenticator {
    /// Variant 0: legacy Ed25519 (`00 20 pubkey 40 signature`).
    Ed25519 {
        /// Signer's public key.
        public_key: Ed25519PublicKey,
        /// Signature over the signing message.
        signature: Ed25519Signature,
    },
    /// Variant 1: K-of-N Ed25519.
    MultiEd25519 {
        /// The keys and threshold.
        public_key: MultiEd25519PublicKey,
        /// The signatures and bitmap.
        signature: MultiEd25519Signature,
    },
    /// Variant 2: one key of any scheme (aptos-core wraps the two fields in a
    /// `SingleKeyAuthenticator` struct; BCS bytes are the same).
    SingleKey {
        /// The key.
        public_key: AnyPublicKey,
        /// Its signature.
        signature: AnySignature,
    },
    /// Variant 3: K-of-N keys of any scheme. aptos-core's `MultiKeyAuthenticator` is
    /// `{ MultiKey { public_keys, signatures_required }, signatures, signatures_bitmap }`; the
    /// fields here are that, flattened (same bytes).
    MultiKey {
        /// All keys of the account.
        public_keys: Vec<AnyPublicKey>,
        /// How many must sign.
        signatures_required: u8,
        /// The signatures present, in key order.
        signatures: Vec<AnySignature>,
        /// Which keys signed: bit `i` (most significant bit of byte 0 first) for key `i`.
        signatures_bitmap: Bytes,
    },
    /// Variant 4: no signature (only valid in simulation; a submission carrying it fails to
    /// verify).
    NoAccountAuthenticator,
    /// Variant 5: account abstraction — refused while decoding (see [`AbstractionRefused`]).
    Abstraction(AbstractionRefused),
}

impl AccountAuthenticator {
    /// The kind, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            AccountAuthenticator::Ed25519 { .. } => "Ed25519",
            AccountAuthenticator::MultiEd25519 { .. } => "MultiEd25519",
            AccountAuthenticator::SingleKey { .. } => "SingleKey",
            AccountAuthenticator::MultiKey { .. } => "MultiKey",
            AccountAuthenticator::NoAccountAuthenticator => "NoAccountAuthenticator",
            AccountAuthenticator::Abstraction(never) => match *never {},
        }
    }

    /// The authentication key this authenticator proves: `sha3_256(preimage ‖ scheme)` with
    /// preimage = the Ed25519 key (scheme 0), the MultiEd25519 key bytes (1), `bcs(AnyPublicKey)`
    /// (2) or `bcs(MultiKey)` (3). An account that never rotated its key has this as its address.
    /// `None` for [`AccountAuthenticator::NoAccountAuthenticator`].
    pub fn authentication_key(&self) -> Result<Option<[u8; 32]>, AptosError> {
        Ok(Some(match self {
            AccountAuthenticator::Ed25519 { public_key, .. } => public_key.authentication_key(),
            AccountAuthenticator::MultiEd25519 { public_key, .. } => {
                sha3_256(&[&public_key.0.0, &[scheme::MULTI_ED25519]])
            }
            AccountAuthenticator::SingleKey { public_key, .. } => {
                public_key.single_key_authentication_key()?
            }
            AccountAuthenticator::MultiKey {
                public_keys,
                signatures_required,
                ..
            } => {
                let mut preimage = Vec::new();
                uleb128(&mut preimage, public_keys.len());
                for k in public_keys {
                    preimage.extend_from_slice(&k.canonical_bcs()?);
                }
                preimage.push(*signatures_required);
                sha3_256(&[&preimage, &[scheme::MULTI_KEY]])
            }
            AccountAuthenticator::NoAccountAuthenticator => return Ok(None),
            AccountAuthenticator::Abstraction(never) => match *never {},
        }))
    }

    /// The address of an account created with this authenticator's key(s) that never rotated
    /// them (= its authentication key).
    pub fn derived_address(&self) -> Result<Option<AccountAddress>, AptosError> {
        Ok(self.authentication_key()?.map(AccountAddress::new))
    }
}

/// BCS length prefix (ULEB128).
fn uleb128(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// How a transaction is authenticated.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TransactionAuthenticator {
    /// Variant 0: single legacy Ed25519 signer — 99 bytes: `00 ‖ 20 pubkey ‖ 40 signature`.
    Ed25519 {
        /// Sender's public key.
        public_key: Ed25519PublicKey,
        /// Signature over `sha3("APTOS::RawTransaction") ‖ bcs(raw)`.
        signature: Ed25519Signature,
    },
    /// Variant 1: K-of-N Ed25519 sender.
    MultiEd25519 {
        /// The keys and threshold.
        public_key: MultiEd25519PublicKey,
        /// The signatures and bitmap.
        signature: MultiEd25519Signature,
    },
    /// Variant 2: sender plus secondary signers, all signing `RawTransactionWithData::MultiAgent`.
    MultiAgent {
        /// The sender's authenticator.
        sender: AccountAuthenticator,
        /// Addresses of the secondary signers, in order.
        secondary_signer_addresses: Vec<AccountAddress>,
        /// Their authenticators, same order.
        secondary_signers: Vec<AccountAuthenticator>,
    },
    /// Variant 3: a sponsored transaction: the fee payer pays the gas, every signer signs
    /// `RawTransactionWithData::MultiAgentWithFeePayer`.
    FeePayer {
        /// The sender's authenticator.
        sender: AccountAuthenticator,
        /// Addresses of the secondary signers, in order.
        secondary_signer_addresses: Vec<AccountAddress>,
        /// Their authenticators, same order.
        secondary_signers: Vec<AccountAuthenticator>,
        /// Who pays the gas.
        fee_payer_address: AccountAddress,
        /// The fee payer's authenticator.
        fee_payer_signer: AccountAuthenticator,
    },
    /// Variant 4: one sender with any [`AccountAuthenticator`] (single-key and multi-key
    /// accounts), signing the plain `RawTransaction` message.
    SingleSender {
        /// The sender's authenticator.
        sender: AccountAuthenticator,
    },
}

impl TransactionAuthenticator {
    /// Who pays the gas: the fee payer of a sponsored transaction, else `None` (the sender).
    pub fn fee_payer_address(&self) -> Option<AccountAddress> {
        match self {
            TransactionAuthenticator::FeePayer {
                fee_payer_address, ..
            } => Some(*fee_payer_address),
            _ => None,
        }
    }

    /// The kind, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            TransactionAuthenticator::Ed25519 { .. } => "Ed25519",
            TransactionAuthenticator::MultiEd25519 { .. } => "MultiEd25519",
            TransactionAuthenticator::MultiAgent { .. } => "MultiAgent",
            TransactionAuthenticator::FeePayer { .. } => "FeePayer",
            TransactionAuthenticator::SingleSender { .. } => "SingleSender",
        }
    }
}

#[cfg(test)]
mod tests;
