//! The node's JSON form of an authenticator: the `signature` field of a transaction in
//! `GET /v1/transactions/by_hash/…` and of submission answers.
//!
//! Shapes follow aptos-core `api/types/src/transaction.rs` (`TransactionSignature`,
//! `AccountSignature`, `PublicKey`/`Signature` tagged by `type` in snake case) and the TS SDK's
//! `TransactionSignature` types:
//!
//! * `{"type":"ed25519_signature","public_key":"0x…","signature":"0x…"}`
//! * `{"type":"multi_ed25519_signature","public_keys":[…],"signatures":[…],"threshold":n,"bitmap":"0x…"}`
//! * `{"type":"multi_agent_signature","sender":{…},"secondary_signer_addresses":[…],"secondary_signers":[…]}`
//! * `{"type":"fee_payer_signature", …, "fee_payer_address":"0x…","fee_payer_signer":{…}}`
//! * `{"type":"single_sender", …the sender's account signature fields…}`
//!
//! and account signatures `single_key_signature` (`public_key`/`signature` as
//! `{"type":"ed25519"|"secp256k1_ecdsa"|…,"value":"0x…"}`), `multi_key_signature`
//! (`public_keys`, `signatures` as `{"index","signature"}`, `signatures_required`),
//! `no_account_signature`.
//!
//! \[INF\] `single_sender`: aptos-core wraps an `AccountSignature` (itself tagged `type`) in a
//! variant tagged `type`; the TS SDK types it as `{type: "single_sender", public_key: {value,
//! type}, signature: {value, type}}`, so the outer tag is kept and the inner fields are merged
//! under it. \[INF\] a WebAuthn signature's `value` is the hex of its BCS bytes.

use serde_json::{Map, Value, json};

use super::{AccountAuthenticator, AnyPublicKey, AnySignature, TransactionAuthenticator};

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn any_public_key(k: &AnyPublicKey) -> Value {
    match k {
        AnyPublicKey::Ed25519 { public_key } => {
            json!({"type": "ed25519", "value": public_key.to_string()})
        }
        AnyPublicKey::Secp256k1Ecdsa { public_key } => {
            json!({"type": "secp256k1_ecdsa", "value": public_key.to_string()})
        }
        AnyPublicKey::Secp256r1Ecdsa { public_key } => {
            json!({"type": "secp256r1_ecdsa", "value": public_key.0.to_string()})
        }
    }
}

fn any_signature(s: &AnySignature) -> Value {
    match s {
        AnySignature::Ed25519 { signature } => {
            json!({"type": "ed25519", "value": signature.to_string()})
        }
        AnySignature::Secp256k1Ecdsa { signature } => {
            json!({"type": "secp256k1_ecdsa", "value": signature.to_string()})
        }
        AnySignature::WebAuthn { signature } => {
            let bytes = bcs::to_bytes(signature).unwrap_or_default();
            json!({"type": "web_authn", "value": hex0x(&bytes)})
        }
    }
}

/// Split a MultiEd25519 key or signature into its parts for JSON (malformed input is shown as
/// well as it can be: the simulator only stores authenticators that verified).
fn chunks(bytes: &[u8], size: usize) -> Vec<Value> {
    bytes
        .chunks_exact(size)
        .map(|c| Value::String(hex0x(c)))
        .collect()
}

/// The node's JSON of one account's signature (`AccountSignature`).
pub fn account_signature_json(auth: &AccountAuthenticator) -> Value {
    match auth {
        AccountAuthenticator::Ed25519 {
            public_key,
            signature,
        } => json!({
            "type": "ed25519_signature",
            "public_key": public_key.to_string(),
            "signature": signature.to_string(),
        }),
        AccountAuthenticator::MultiEd25519 {
            public_key,
            signature,
        } => {
            let key = &public_key.0.0;
            let (threshold, keys) = key.split_last().map_or((0, &[][..]), |(t, k)| (*t, k));
            let sig = &signature.0.0;
            let split = sig.len().saturating_sub(4);
            let (sigs, bitmap) = sig.split_at(split);
            json!({
                "type": "multi_ed25519_signature",
                "public_keys": chunks(keys, 32),
                "signatures": chunks(sigs, 64),
                "threshold": threshold,
                "bitmap": hex0x(bitmap),
            })
        }
        AccountAuthenticator::SingleKey {
            public_key,
            signature,
        } => json!({
            "type": "single_key_signature",
            "public_key": any_public_key(public_key),
            "signature": any_signature(signature),
        }),
        AccountAuthenticator::MultiKey {
            public_keys,
            signatures_required,
            signatures,
            signatures_bitmap,
        } => {
            let indices = super::verify::bitmap_indices(&signatures_bitmap.0);
            let sigs: Vec<Value> = indices
                .iter()
                .zip(signatures)
                .map(|(i, s)| json!({"index": i, "signature": any_signature(s)}))
                .collect();
            json!({
                "type": "multi_key_signature",
                "public_keys": public_keys.iter().map(any_public_key).collect::<Vec<_>>(),
                "signatures": sigs,
                "signatures_required": signatures_required,
            })
        }
        AccountAuthenticator::NoAccountAuthenticator => json!({"type": "no_account_signature"}),
        AccountAuthenticator::Abstraction(never) => match *never {},
    }
}

/// The node's JSON of a transaction's authenticator (`TransactionSignature`).
pub fn transaction_signature_json(auth: &TransactionAuthenticator) -> Value {
    match auth {
        TransactionAuthenticator::Ed25519 {
            public_key,
            signature,
        } => json!({
            "type": "ed25519_signature",
            "public_key": public_key.to_string(),
            "signature": signature.to_string(),
        }),
        TransactionAuthenticator::MultiEd25519 {
            public_key,
            signature,
        } => account_signature_json(&AccountAuthenticator::MultiEd25519 {
            public_key: public_key.clone(),
            signature: signature.clone(),
        }),
        TransactionAuthenticator::MultiAgent {
            sender,
            secondary_signer_addresses,
            secondary_signers,
        } => json!({
            "type": "multi_agent_signature",
            "sender": account_signature_json(sender),
            "secondary_signer_addresses":
                secondary_signer_addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "secondary_signers":
                secondary_signers.iter().map(account_signature_json).collect::<Vec<_>>(),
        }),
        TransactionAuthenticator::FeePayer {
            sender,
            secondary_signer_addresses,
            secondary_signers,
            fee_payer_address,
            fee_payer_signer,
        } => json!({
            "type": "fee_payer_signature",
            "sender": account_signature_json(sender),
            "secondary_signer_addresses":
                secondary_signer_addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "secondary_signers":
                secondary_signers.iter().map(account_signature_json).collect::<Vec<_>>(),
            "fee_payer_address": fee_payer_address.to_string(),
            "fee_payer_signer": account_signature_json(fee_payer_signer),
        }),
        TransactionAuthenticator::SingleSender { sender } => {
            let mut out = Map::new();
            if let Value::Object(inner) = account_signature_json(sender) {
                out.extend(inner);
            }
            out.insert("type".into(), Value::String("single_sender".into()));
            Value::Object(out)
        }
    }
}
