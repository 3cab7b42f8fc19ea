//! Secp256k1 ECDSA keys and signatures, as Aptos single-key accounts use them.
//!
//! The TS SDK's `Secp256k1` account kind signs `sha3_256(signing message)` with secp256k1 ECDSA
//! (RFC 6979 deterministic nonce) and always emits the *low-s* form; aptos-core verifies the same
//! digest and refuses a high-s signature (malleability). In a transaction the public key is the
//! 65-byte uncompressed SEC1 point (`04 ‖ x ‖ y`) and the signature is `r ‖ s`, 64 bytes, both
//! length-prefixed bytes in BCS.
//!
//! [`Secp256k1PrivateKey`] exists so tools and tests can sign like such a wallet; it never prints
//! its bytes and the underlying `k256` key is wiped on drop.

use std::fmt;

use k256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use k256::ecdsa::{Signature, SigningKey, VerifyingKey};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::AptosError;
use super::keys::sha3_256;

/// Length of an uncompressed SEC1 secp256k1 public key (what aptos-core serialises).
pub const SECP256K1_PUBLIC_KEY_LENGTH: usize = 65;
/// Length of a compressed SEC1 secp256k1 public key.
pub const SECP256K1_COMPRESSED_PUBLIC_KEY_LENGTH: usize = 33;

/// A secp256k1 public key as carried in a transaction (SEC1 bytes).
///
/// Decoding accepts the 65-byte uncompressed form and, tolerantly, the 33-byte compressed form
/// (\[INF\] aptos-core parses keys with `libsecp256k1::PublicKey::parse_slice(bytes, None)`, which
/// takes either; it re-serialises them uncompressed, so [`Secp256k1PublicKey::uncompressed`] is what
/// authentication keys are derived from). The point itself is checked by
/// [`Secp256k1PublicKey::verify`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secp256k1PublicKey(Vec<u8>);

impl Secp256k1PublicKey {
    /// Wrap SEC1 bytes (33 or 65 bytes).
    pub fn from_sec1(bytes: &[u8]) -> Result<Self, AptosError> {
        if bytes.len() == SECP256K1_PUBLIC_KEY_LENGTH
            || bytes.len() == SECP256K1_COMPRESSED_PUBLIC_KEY_LENGTH
        {
            Ok(Self(bytes.to_vec()))
        } else {
            Err(AptosError::SignatureInvalid(format!(
                "a secp256k1 public key is 65 (or 33 compressed) bytes, got {}",
                bytes.len()
            )))
        }
    }

    /// The bytes as carried in the transaction.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn point(&self) -> Result<VerifyingKey, AptosError> {
        VerifyingKey::from_sec1_bytes(&self.0).map_err(|_| {
            AptosError::SignatureInvalid("secp256k1 public key is not a curve point".into())
        })
    }

    /// The 65-byte uncompressed form (`04 ‖ x ‖ y`), as aptos-core serialises the key when it
    /// derives an authentication key.
    pub fn uncompressed(&self) -> Result<Vec<u8>, AptosError> {
        Ok(self.point()?.to_sec1_point(false).as_bytes().to_vec())
    }

    /// Verify `signature` over `message`: ECDSA over `sha3_256(message)`, low-s only.
    pub fn verify(&self, message: &[u8], signature: &Secp256k1Signature) -> Result<(), AptosError> {
        let sig = Signature::from_slice(&signature.0).map_err(|_| {
            AptosError::SignatureInvalid("secp256k1 signature: r or s out of range".into())
        })?;
        // k256 refuses a high-s signature here (Secp256k1 sets NORMALIZE_S), as aptos-core does.
        self.point()?
            .verify_prehash(&sha3_256(&[message]), &sig)
            .map_err(|_| AptosError::SignatureInvalid("secp256k1 ECDSA signature".into()))
    }
}

impl fmt::Display for Secp256k1PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(&self.0))
    }
}

impl fmt::Debug for Secp256k1PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secp256k1PublicKey({self})")
    }
}

impl Serialize for Secp256k1PublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secp256k1PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v = <Vec<u8>>::deserialize(deserializer)?;
        Self::from_sec1(&v).map_err(D::Error::custom)
    }
}

/// A secp256k1 ECDSA signature `r ‖ s` (64 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Secp256k1Signature(pub [u8; 64]);

impl Secp256k1Signature {
    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }
}

impl fmt::Display for Secp256k1Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Secp256k1Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secp256k1Signature({self})")
    }
}

impl Serialize for Secp256k1Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secp256k1Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v = <Vec<u8>>::deserialize(deserializer)?;
        <[u8; 64]>::try_from(v.as_slice()).map(Self).map_err(|_| {
            D::Error::custom(format!(
                "Secp256k1Signature: expected 64 bytes, got {}",
                v.len()
            ))
        })
    }
}

/// A secp256k1 private key that signs like the Aptos SDKs (sha3-256 digest, RFC 6979, low-s).
///
/// Never printed; wiped on drop (by `k256`).
#[derive(Clone)]
pub struct Secp256k1PrivateKey(SigningKey);

impl Secp256k1PrivateKey {
    /// A key from 32 secret bytes (a scalar in `1..n`).
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, AptosError> {
        SigningKey::from_slice(bytes)
            .map(Self)
            .map_err(|_| AptosError::InvalidKey("not a valid secp256k1 scalar"))
    }

    /// The public key, uncompressed (what the TS SDK puts in a transaction).
    pub fn public_key(&self) -> Secp256k1PublicKey {
        Secp256k1PublicKey(
            self.0
                .verifying_key()
                .to_sec1_point(false)
                .as_bytes()
                .to_vec(),
        )
    }

    /// Sign `message`: ECDSA over `sha3_256(message)`, low-s.
    pub fn sign_message(&self, message: &[u8]) -> Result<Secp256k1Signature, AptosError> {
        let sig: Signature = self
            .0
            .sign_prehash(&sha3_256(&[message]))
            .map_err(|_| AptosError::SignatureInvalid("secp256k1 signing failed".into()))?;
        <[u8; 64]>::try_from(sig.normalize_s().to_bytes().as_slice())
            .map(Secp256k1Signature)
            .map_err(|_| AptosError::SignatureInvalid("secp256k1 signature is not 64 bytes".into()))
    }
}

impl fmt::Debug for Secp256k1PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secp256k1PrivateKey(<redacted>)")
    }
}
