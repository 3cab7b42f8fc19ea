//! Ed25519 keys, signatures and account-address derivation.
//!
//! [`PrivateKey`] wraps an `ed25519-dalek` signing key. It parses the text forms a bot operator is
//! likely to paste (64 hex digits with or without `0x`, AIP-80 `ed25519-priv-0x…`, or the 64-byte
//! `seed ‖ public key` export of some tools), never prints its bytes (`Debug`/`Display` show
//! `PrivateKey(<redacted>)`) and is wiped from memory when dropped.
//!
//! [`Ed25519PublicKey`] and [`Ed25519Signature`] are the byte containers that appear inside a
//! transaction authenticator; in BCS both are length-prefixed byte strings (`20 ‖ 32 bytes`,
//! `40 ‖ 64 bytes`).

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::hazmat::{ExpandedSecretKey, raw_sign};
use ed25519_dalek::{Sha512, Signature, SigningKey, VerifyingKey};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha3::{Digest, Sha3_256};
use zeroize::{ZeroizeOnDrop, Zeroizing};

use super::address::AccountAddress;
use super::error::AptosError;

/// Authentication-key scheme byte of a legacy single-key Ed25519 account.
const SCHEME_ED25519: u8 = 0x00;
/// Authentication-key scheme byte of a SingleKey account.
const SCHEME_SINGLE_KEY: u8 = 0x02;
/// AIP-80 prefix of an Ed25519 private key.
const AIP80_ED25519_PREFIX: &str = "ed25519-priv-";

/// SHA3-256 of the concatenation of `parts`.
/// SHA3-256 of the concatenated parts.
pub fn sha3_256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha3_256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Decode `0x`-optional hex of an exact byte length into a fixed array (used for keys/signatures).
fn decode_fixed_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let digits = s.strip_prefix("0x").unwrap_or(s);
    let mut out = [0u8; N];
    hex::decode_to_slice(digits, &mut out).ok()?;
    Some(out)
}

/// A 32-byte Ed25519 public key as carried in transactions.
///
/// The bytes are not checked to be a valid curve point on construction (a decoder must be able to
/// hold whatever a transaction contains); [`Ed25519PublicKey::verify`] does that check.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ed25519PublicKey([u8; 32]);

impl Ed25519PublicKey {
    /// Wrap 32 raw bytes.
    pub const fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parse 64 hex digits, with or without `0x`.
    pub fn from_hex(s: &str) -> Result<Self, AptosError> {
        decode_fixed_hex(s)
            .map(Self)
            .ok_or(AptosError::InvalidPublicKey)
    }

    /// Legacy Ed25519 authentication key `sha3_256(pubkey ‖ 0x00)`, which is also the address of
    /// an account created from this key that has never rotated it.
    pub fn authentication_key(&self) -> [u8; 32] {
        sha3_256(&[&self.0, &[SCHEME_ED25519]])
    }

    /// Address of a legacy Ed25519 account for this key (= its authentication key).
    pub fn to_address(&self) -> AccountAddress {
        AccountAddress::new(self.authentication_key())
    }

    /// Address of a *SingleKey* account for this key: `sha3_256(00 20 ‖ pubkey ‖ 0x02)`.
    ///
    /// Provided for diagnosis only (a wallet created with the newer scheme has this address); this
    /// layer signs with the legacy Ed25519 authenticator, which only works for
    /// [`Ed25519PublicKey::to_address`].
    pub fn single_key_address(&self) -> AccountAddress {
        AccountAddress::new(sha3_256(&[&[0x00, 0x20], &self.0, &[SCHEME_SINGLE_KEY]]))
    }

    /// Verify an Ed25519 signature over `message` with strict (RFC 8032 + small-order rejection)
    /// rules, matching what the Aptos VM accepts.
    pub fn verify(&self, message: &[u8], signature: &Ed25519Signature) -> Result<(), AptosError> {
        let vk = VerifyingKey::from_bytes(&self.0).map_err(|_| AptosError::InvalidPublicKey)?;
        let sig = Signature::from_bytes(&signature.0);
        vk.verify_strict(message, &sig)
            .map_err(|e| AptosError::SignatureInvalid(e.to_string()))
    }
}

impl fmt::Display for Ed25519PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Ed25519PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ed25519PublicKey({self})")
    }
}

/// A 64-byte Ed25519 signature (`R ‖ S`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ed25519Signature([u8; 64]);

impl Ed25519Signature {
    /// Wrap 64 raw bytes.
    pub const fn new(bytes: [u8; 64]) -> Self {
        Self(bytes)
    }

    /// The all-zero signature used for `/transactions/simulate` (which rejects valid signatures).
    pub const ZERO: Self = Self([0u8; 64]);

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }

    /// Parse 128 hex digits, with or without `0x`.
    pub fn from_hex(s: &str) -> Result<Self, AptosError> {
        decode_fixed_hex(s)
            .map(Self)
            .ok_or_else(|| AptosError::SignatureInvalid("not 64 hex-encoded bytes".into()))
    }
}

impl fmt::Display for Ed25519Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Ed25519Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ed25519Signature({self})")
    }
}

// Serde for the two byte containers is written by hand: aptos-core serialises them with
// `serialize_bytes` (ULEB128 length + bytes) in BCS, and as `0x` hex strings in JSON. Decoding goes
// through `Vec<u8>`, whose BCS form (length + bytes) is identical, then checks the exact length.
macro_rules! bytes_serde {
    ($ty:ident, $len:expr) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                if serializer.is_human_readable() {
                    serializer.collect_str(self)
                } else {
                    serializer.serialize_bytes(&self.0)
                }
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                if deserializer.is_human_readable() {
                    let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                    decode_fixed_hex::<$len>(&s).map(Self).ok_or_else(|| {
                        D::Error::custom(concat!(
                            stringify!($ty),
                            ": expected ",
                            $len,
                            " hex bytes"
                        ))
                    })
                } else {
                    let v = <Vec<u8>>::deserialize(deserializer)?;
                    <[u8; $len]>::try_from(v.as_slice()).map(Self).map_err(|_| {
                        D::Error::custom(format!(
                            concat!(stringify!($ty), ": expected ", $len, " bytes, got {}"),
                            v.len()
                        ))
                    })
                }
            }
        }
    };
}
bytes_serde!(Ed25519PublicKey, 32);
bytes_serde!(Ed25519Signature, 64);

/// An Ed25519 private key. Never printed, zeroized on drop.
///
/// ```
/// use perpbot_aptos::PrivateKey;
/// let key: PrivateKey =
///     "ed25519-priv-0xc5338cd251c22daa8c9c9cc94f498cc8a5c7e1d2e75287a5dda91096fe64efa5".parse()?;
/// assert_eq!(format!("{key:?}"), "PrivateKey(<redacted>)");
/// assert_eq!(
///     key.address().to_string(),
///     "0x978c213990c4833df71548df7ce49d54c759d6b6d932de22b24d56060b7af2aa"
/// );
/// # Ok::<(), perpbot_aptos::AptosError>(())
/// ```
pub struct PrivateKey {
    // `SigningKey` zeroizes itself on drop (ed25519-dalek `zeroize` feature).
    key: SigningKey,
    /// The key's expansion `SHA-512(seed)` (secret scalar and nonce prefix), made once here.
    /// `SigningKey::sign` hashes the seed again for every signature; signing with the kept
    /// expansion (`hazmat::raw_sign`) gives the same bytes without that. Derived only from
    /// `key`, whose verifying key goes with it, which is what `raw_sign` requires (a scalar
    /// paired with another key's public key would leak the secret). Zeroized on drop.
    expanded: ExpandedSecretKey,
    /// The account address, hashed once here: the submitter names the sender of every
    /// transaction, and a SHA3 per transaction for a constant was ~2 % of signing one.
    address: AccountAddress,
}

impl ZeroizeOnDrop for PrivateKey {}

impl Clone for PrivateKey {
    /// The expansion is not `Clone` (a secret the library keeps from being copied by accident):
    /// a clone expands its seed again.
    fn clone(&self) -> Self {
        Self::from_signing_key(self.key.clone())
    }
}

impl PrivateKey {
    /// Build from a 32-byte Ed25519 seed (the "private key" of the Aptos SDKs).
    ///
    /// Deterministic, so the simulator and tests can derive fixed keys.
    pub fn from_seed_bytes(seed: [u8; 32]) -> Self {
        let seed = Zeroizing::new(seed);
        Self::from_seed_ref(&seed)
    }

    fn from_seed_ref(seed: &[u8; 32]) -> Self {
        let key = SigningKey::from_bytes(seed);
        Self::from_signing_key(key)
    }

    fn from_signing_key(key: SigningKey) -> Self {
        let expanded = ExpandedSecretKey::from(key.as_bytes());
        let address = Ed25519PublicKey(key.verifying_key().to_bytes()).to_address();
        Self {
            key,
            expanded,
            address,
        }
    }

    /// A deterministic key for tests and the simulator: seed = `sha3_256("perpbot::test-key" ‖ n_le)`.
    /// Never use for real funds.
    pub fn from_test_seed(n: u64) -> Self {
        let seed = Zeroizing::new(sha3_256(&[b"perpbot::test-key", &n.to_le_bytes()]));
        Self::from_seed_ref(&seed)
    }

    /// Parse the accepted text forms:
    ///
    /// * 64 hex digits, with or without `0x`;
    /// * AIP-80 `ed25519-priv-0x<64 hex>`;
    /// * 128 hex digits = `seed ‖ public key`, accepted only if the second half is the public key
    ///   derived from the first half.
    ///
    /// Surrounding whitespace is ignored. Errors never quote the input.
    pub fn parse(input: &str) -> Result<Self, AptosError> {
        let s = input.trim();
        let s = match s.strip_prefix(AIP80_ED25519_PREFIX) {
            Some(rest) => rest,
            None if s.contains("-priv-") => {
                return Err(AptosError::InvalidKey(
                    "unsupported AIP-80 key type (only ed25519-priv- is supported)",
                ));
            }
            None => s,
        };
        let digits = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .unwrap_or(s);
        match digits.len() {
            64 => {
                let mut seed = Zeroizing::new([0u8; 32]);
                hex::decode_to_slice(digits, seed.as_mut_slice())
                    .map_err(|_| AptosError::InvalidKey("not a hex string"))?;
                Ok(Self::from_seed_ref(&seed))
            }
            128 => {
                let mut pair = Zeroizing::new([0u8; 64]);
                hex::decode_to_slice(digits, pair.as_mut_slice())
                    .map_err(|_| AptosError::InvalidKey("not a hex string"))?;
                let mut seed = Zeroizing::new([0u8; 32]);
                let mut public = [0u8; 32];
                let (a, b) = pair.split_at(32);
                seed.copy_from_slice(a);
                public.copy_from_slice(b);
                let key = Self::from_seed_ref(&seed);
                if key.public_key().as_bytes() != &public {
                    return Err(AptosError::InvalidKey(
                        "64-byte key: the last 32 bytes are not the public key of the first 32",
                    ));
                }
                Ok(key)
            }
            _ => Err(AptosError::InvalidKey(
                "expected 64 hex digits (32 bytes), optionally 0x- or ed25519-priv-0x-prefixed",
            )),
        }
    }

    /// The public key.
    pub fn public_key(&self) -> Ed25519PublicKey {
        Ed25519PublicKey(self.key.verifying_key().to_bytes())
    }

    /// The legacy Ed25519 account address `sha3_256(pubkey ‖ 0x00)`.
    pub fn address(&self) -> AccountAddress {
        self.address
    }

    /// Sign arbitrary bytes with plain Ed25519 (deterministic, no pre-hash).
    pub fn sign_message(&self, message: &[u8]) -> Ed25519Signature {
        let signature = raw_sign::<Sha512>(&self.expanded, message, self.key.as_ref());
        Ed25519Signature(signature.to_bytes())
    }

    /// Export as AIP-80 text (`ed25519-priv-0x…`). The result is secret: it is wiped when dropped,
    /// but do not log it.
    pub fn to_aip80_secret(&self) -> Zeroizing<String> {
        let seed = Zeroizing::new(self.key.to_bytes());
        let hex = Zeroizing::new(hex::encode(*seed));
        Zeroizing::new(format!("{AIP80_ED25519_PREFIX}0x{}", hex.as_str()))
    }
}

impl FromStr for PrivateKey {
    type Err = AptosError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

impl fmt::Display for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests;
