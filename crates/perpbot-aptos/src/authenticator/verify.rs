//! Signature verification of every authenticator the simulator accepts, as a node's validator
//! does before the prologue.
//!
//! * single signers (`Ed25519`, `MultiEd25519`, `SingleSender`) sign
//!   `sha3("APTOS::RawTransaction") ‖ bcs(raw)`;
//! * multi-agent signers sign `sha3("APTOS::RawTransactionWithData") ‖ bcs(MultiAgent {…})`;
//! * fee-payer signers sign `… ‖ bcs(MultiAgentWithFeePayer { raw, secondaries, fee_payer })`.
//!   The fee payer signs with its real address; the sender and secondary signers may sign with
//!   either `0x0` (what the TS SDK and aptos-core's helpers do) or the real fee-payer address —
//!   aptos-core tries `0x0` first and falls back (aptos-transactions.md §4.5, aptos-core
//!   `TransactionAuthenticator::verify`).
//!
//! Ed25519 is verified strictly (ed25519-dalek `verify_strict`), secp256k1 as ECDSA over
//! `sha3_256(message)` with low-s only. WebAuthn (passkey) signatures decode but are refused
//! with [`AptosError::UnsupportedAuthenticator`].

use super::{
    AccountAuthenticator, AnyPublicKey, AnySignature, MAX_NUM_OF_SIGS, MultiEd25519PublicKey,
    MultiEd25519Signature, TransactionAuthenticator,
};
use crate::address::AccountAddress;
use crate::error::AptosError;
use crate::keys::{Ed25519PublicKey, Ed25519Signature};
use crate::signing::{fee_payer_signing_message, multi_agent_signing_message, signing_message};
use crate::types::RawTransaction;

fn invalid(reason: impl Into<String>) -> AptosError {
    AptosError::SignatureInvalid(reason.into())
}

/// Indices of the set bits of a signer bitmap, most significant bit of byte 0 first (bit `i` of
/// the bitmap is `byte[i / 8] & (0x80 >> (i % 8))`), as aptos-core's `BitVec` and the TS SDK.
pub(crate) fn bitmap_indices(bitmap: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    for (byte_index, byte) in bitmap.iter().enumerate() {
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                out.push(byte_index * 8 + bit);
            }
        }
    }
    out
}

fn ed25519_key(bytes: &[u8]) -> Option<Ed25519PublicKey> {
    <[u8; 32]>::try_from(bytes).ok().map(Ed25519PublicKey::new)
}

fn ed25519_signature(bytes: &[u8]) -> Option<Ed25519Signature> {
    <[u8; 64]>::try_from(bytes).ok().map(Ed25519Signature::new)
}

/// Verify a K-of-N Ed25519 signature.
fn verify_multi_ed25519(
    message: &[u8],
    public_key: &MultiEd25519PublicKey,
    signature: &MultiEd25519Signature,
) -> Result<(), AptosError> {
    let key_bytes = &public_key.0.0;
    let (threshold, keys) = key_bytes
        .split_last()
        .ok_or_else(|| invalid("MultiEd25519 public key is empty"))?;
    if keys.is_empty() || keys.len() % 32 != 0 || keys.len() / 32 > MAX_NUM_OF_SIGS {
        return Err(invalid(
            "MultiEd25519 public key is not 1 to 32 keys and a threshold",
        ));
    }
    let n = keys.len() / 32;
    if *threshold == 0 || usize::from(*threshold) > n {
        return Err(invalid(format!(
            "MultiEd25519 threshold {threshold} out of range for {n} keys"
        )));
    }
    let sig_bytes = &signature.0.0;
    let split = sig_bytes
        .len()
        .checked_sub(4)
        .ok_or_else(|| invalid("MultiEd25519 signature has no bitmap"))?;
    let (sigs, bitmap) = sig_bytes.split_at(split);
    if sigs.len() % 64 != 0 {
        return Err(invalid("MultiEd25519 signatures are not 64-byte multiples"));
    }
    let signers = bitmap_indices(bitmap);
    if signers.len() != sigs.len() / 64 {
        return Err(invalid(
            "MultiEd25519 bitmap does not match the signature count",
        ));
    }
    if signers.len() < usize::from(*threshold) {
        return Err(invalid(
            "MultiEd25519 has fewer signatures than its threshold",
        ));
    }
    for (index, sig) in signers.iter().zip(sigs.chunks_exact(64)) {
        let key = keys
            .chunks_exact(32)
            .nth(*index)
            .and_then(ed25519_key)
            .ok_or_else(|| invalid(format!("MultiEd25519 bitmap names key {index} of {n}")))?;
        let sig = ed25519_signature(sig).ok_or_else(|| invalid("MultiEd25519 signature"))?;
        key.verify(message, &sig)?;
    }
    Ok(())
}

/// Verify one single-key signature.
pub fn verify_any(
    message: &[u8],
    public_key: &AnyPublicKey,
    signature: &AnySignature,
) -> Result<(), AptosError> {
    match (public_key, signature) {
        (AnyPublicKey::Ed25519 { public_key }, AnySignature::Ed25519 { signature }) => {
            public_key.verify(message, signature)
        }
        (
            AnyPublicKey::Secp256k1Ecdsa { public_key },
            AnySignature::Secp256k1Ecdsa { signature },
        ) => public_key.verify(message, signature),
        (_, AnySignature::WebAuthn { .. }) => Err(AptosError::UnsupportedAuthenticator(
            "AnySignature::WebAuthn (variant 2): passkey signatures cannot be verified by this \
             node"
                .into(),
        )),
        (key, _) => Err(invalid(format!(
            "a {} public key with a signature of another scheme",
            key.kind()
        ))),
    }
}

impl AccountAuthenticator {
    /// Verify this authenticator's signature(s) over `message` (the full signing message,
    /// prefix included).
    pub fn verify(&self, message: &[u8]) -> Result<(), AptosError> {
        match self {
            AccountAuthenticator::Ed25519 {
                public_key,
                signature,
            } => public_key.verify(message, signature),
            AccountAuthenticator::MultiEd25519 {
                public_key,
                signature,
            } => verify_multi_ed25519(message, public_key, signature),
            AccountAuthenticator::SingleKey {
                public_key,
                signature,
            } => verify_any(message, public_key, signature),
            AccountAuthenticator::MultiKey {
                public_keys,
                signatures_required,
                signatures,
                signatures_bitmap,
            } => {
                if public_keys.is_empty() || public_keys.len() > MAX_NUM_OF_SIGS {
                    return Err(invalid("MultiKey has no keys or more than 32"));
                }
                if *signatures_required == 0
                    || usize::from(*signatures_required) > public_keys.len()
                {
                    return Err(invalid("MultiKey signatures_required out of range"));
                }
                let signers = bitmap_indices(&signatures_bitmap.0);
                if signers.len() != signatures.len() {
                    return Err(invalid(
                        "MultiKey bitmap does not match the signature count",
                    ));
                }
                if signers.len() < usize::from(*signatures_required) {
                    return Err(invalid("MultiKey has fewer signatures than required"));
                }
                for (index, sig) in signers.iter().zip(signatures) {
                    let key = public_keys.get(*index).ok_or_else(|| {
                        invalid(format!(
                            "MultiKey bitmap names key {index} of {}",
                            public_keys.len()
                        ))
                    })?;
                    verify_any(message, key, sig)?;
                }
                Ok(())
            }
            AccountAuthenticator::NoAccountAuthenticator => Err(invalid(
                "NoAccountAuthenticator carries no signature (simulation only)",
            )),
            AccountAuthenticator::Abstraction(never) => match *never {},
        }
    }

    /// How many signatures this authenticator carries (for the per-transaction limit).
    fn number_of_signatures(&self) -> usize {
        match self {
            AccountAuthenticator::Ed25519 { .. } | AccountAuthenticator::SingleKey { .. } => 1,
            AccountAuthenticator::MultiEd25519 { signature, .. } => {
                signature.0.0.len().saturating_sub(4) / 64
            }
            AccountAuthenticator::MultiKey { signatures, .. } => signatures.len(),
            AccountAuthenticator::NoAccountAuthenticator => 0,
            AccountAuthenticator::Abstraction(never) => match *never {},
        }
    }

    /// Whether this authenticator's key(s) derive to `address` (no key rotation assumed).
    fn matches(&self, address: &AccountAddress) -> Result<bool, AptosError> {
        Ok(self.derived_address()?.as_ref() == Some(address))
    }
}

/// Verify every signature of `authenticator` over `raw`, with the right signing message for its
/// kind. Returns whether every signer's key derives to the address it signs for (sender,
/// secondary signers, fee payer) — `false` is the node's `INVALID_AUTH_KEY` for an account that
/// never rotated its key.
///
/// Errors: [`AptosError::SignatureInvalid`] (`INVALID_SIGNATURE`) for any signature that does not
/// verify or a malformed multisig; [`AptosError::UnsupportedAuthenticator`] for WebAuthn.
pub fn verify_transaction_authenticator(
    raw: &RawTransaction,
    authenticator: &TransactionAuthenticator,
) -> Result<bool, AptosError> {
    match authenticator {
        TransactionAuthenticator::Ed25519 {
            public_key,
            signature,
        } => {
            public_key.verify(&signing_message(raw)?, signature)?;
            Ok(public_key.to_address() == raw.sender)
        }
        TransactionAuthenticator::MultiEd25519 {
            public_key,
            signature,
        } => {
            let sender = AccountAuthenticator::MultiEd25519 {
                public_key: public_key.clone(),
                signature: signature.clone(),
            };
            sender.verify(&signing_message(raw)?)?;
            sender.matches(&raw.sender)
        }
        TransactionAuthenticator::SingleSender { sender } => {
            sender.verify(&signing_message(raw)?)?;
            sender.matches(&raw.sender)
        }
        TransactionAuthenticator::MultiAgent {
            sender,
            secondary_signer_addresses,
            secondary_signers,
        } => {
            check_signers(sender, secondary_signer_addresses, secondary_signers, None)?;
            let msg = multi_agent_signing_message(raw, secondary_signer_addresses)?;
            let mut all_match = true;
            for (addr, auth) in std::iter::once((&raw.sender, sender))
                .chain(secondary_signer_addresses.iter().zip(secondary_signers))
            {
                auth.verify(&msg)?;
                all_match &= auth.matches(addr)?;
            }
            Ok(all_match)
        }
        TransactionAuthenticator::FeePayer {
            sender,
            secondary_signer_addresses,
            secondary_signers,
            fee_payer_address,
            fee_payer_signer,
        } => {
            check_signers(
                sender,
                secondary_signer_addresses,
                secondary_signers,
                Some(fee_payer_signer),
            )?;
            let with_zero =
                fee_payer_signing_message(raw, secondary_signer_addresses, AccountAddress::ZERO)?;
            let with_payer =
                fee_payer_signing_message(raw, secondary_signer_addresses, *fee_payer_address)?;
            let mut all_match = true;
            for (addr, auth) in std::iter::once((&raw.sender, sender))
                .chain(secondary_signer_addresses.iter().zip(secondary_signers))
            {
                if auth.verify(&with_zero).is_err() {
                    auth.verify(&with_payer)?;
                }
                all_match &= auth.matches(addr)?;
            }
            fee_payer_signer.verify(&with_payer)?;
            all_match &= fee_payer_signer.matches(fee_payer_address)?;
            Ok(all_match)
        }
    }
}

/// Shape checks shared by multi-agent and fee-payer authenticators.
fn check_signers(
    sender: &AccountAuthenticator,
    addresses: &[AccountAddress],
    signers: &[AccountAuthenticator],
    fee_payer: Option<&AccountAuthenticator>,
) -> Result<(), AptosError> {
    if addresses.len() != signers.len() {
        return Err(invalid(
            "secondary signer count does not match address count",
        ));
    }
    let total = sender.number_of_signatures()
        + signers
            .iter()
            .map(AccountAuthenticator::number_of_signatures)
            .sum::<usize>()
        + fee_payer.map_or(0, AccountAuthenticator::number_of_signatures);
    if total > MAX_NUM_OF_SIGS {
        return Err(invalid(format!(
            "{total} signatures, more than the {MAX_NUM_OF_SIGS} a transaction may carry"
        )));
    }
    Ok(())
}
