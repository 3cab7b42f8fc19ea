//! A trader's secp256k1 key: signs EIP-712 digests as `eth_signTypedData_v4` does (65 bytes,
//! `r ‖ s ‖ v` with low `s` and `v` = 27/28) and knows its Ethereum address. The ECDSA is k256's;
//! the address is the last 20 bytes of the keccak-256 of the uncompressed public key.

use std::fmt;

use alloy_primitives::{Address, B256, keccak256};
use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

/// Why a key or a signature is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignerError {
    /// The private key text is not 32 bytes of hex, or not a valid secp256k1 scalar.
    #[error("private key: {0}")]
    Key(String),
    /// The signature is not 65 bytes of `r ‖ s ‖ v` with v = 27 or 28 over a valid point.
    #[error("signature: {0}")]
    Signature(String),
}

/// A Kyan trading key. `Debug` shows the address only.
pub struct KyanSigner {
    key: SigningKey,
    address: Address,
}

impl fmt::Debug for KyanSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KyanSigner")
            .field("address", &self.address)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl KyanSigner {
    /// A key from its hex text (`0x` optional); the text is not kept.
    pub fn from_hex(text: &str) -> Result<KyanSigner, SignerError> {
        let text = text.trim();
        let hex_digits = text.strip_prefix("0x").unwrap_or(text);
        let bytes = Zeroizing::new(
            hex::decode(hex_digits).map_err(|_| SignerError::Key("not hex".into()))?,
        );
        if bytes.len() != 32 {
            return Err(SignerError::Key(format!(
                "{} bytes; a secp256k1 key is 32",
                bytes.len()
            )));
        }
        let key = SigningKey::from_slice(&bytes)
            .map_err(|_| SignerError::Key("not a valid secp256k1 scalar".into()))?;
        let address = address_of(key.verifying_key());
        Ok(KyanSigner { key, address })
    }

    /// The Ethereum address of the key (the `maker` / `user` it signs for).
    pub fn address(&self) -> Address {
        self.address
    }

    /// Sign a 32-byte digest: `r ‖ s ‖ v`, `s` low, `v` = 27 + recovery id.
    pub fn sign_digest(&self, digest: B256) -> [u8; 65] {
        let (sig, recid) = self.key.sign_prehash_recoverable(digest.as_slice());
        // k256 signs with a low s already; normalising again keeps the promise if that changes
        // (negating s flips the parity of the recovered point).
        let low = sig.normalize_s();
        let (sig, recid) = if low == sig {
            (sig, recid)
        } else {
            (
                low,
                RecoveryId::new(!recid.is_y_odd(), recid.is_x_reduced()),
            )
        };
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&sig.to_bytes());
        out[64] = 27 + recid.to_byte();
        out
    }
}

/// The address of a public key.
fn address_of(key: &VerifyingKey) -> Address {
    let point = key.to_sec1_point(false);
    // An uncompressed point is 0x04 ‖ x ‖ y; the address hashes x ‖ y.
    let xy = point.as_bytes().get(1..).unwrap_or_default();
    Address::from_slice(&keccak256(xy)[12..])
}

/// The address that signed `digest` with `signature` (`r ‖ s ‖ v`, v = 27/28): a standard
/// `ecrecover`, for checking signatures (the simulator verifies with it).
pub fn recover(digest: B256, signature: &[u8]) -> Result<Address, SignerError> {
    let bad = |why: &str| SignerError::Signature(why.to_string());
    let (rs, v) = match signature {
        [rs @ .., v] if rs.len() == 64 => (rs, *v),
        _ => return Err(bad("65 bytes expected")),
    };
    let recid = match v {
        27 | 28 => RecoveryId::from_byte(v - 27).ok_or_else(|| bad("v"))?,
        _ => return Err(bad("v must be 27 or 28")),
    };
    let sig = Signature::from_slice(rs).map_err(|_| bad("r or s out of range"))?;
    if sig.normalize_s() != sig {
        return Err(bad("s is high (not canonical)"));
    }
    let key = VerifyingKey::recover_from_prehash(digest.as_slice(), &sig, recid)
        .map_err(|_| bad("recovers no key"))?;
    Ok(address_of(&key))
}
