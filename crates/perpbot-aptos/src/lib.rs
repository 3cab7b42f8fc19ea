//! Offline Aptos transaction layer: build, sign, hash and verify transactions without `aptos-sdk`.
//!
//! Kana Perps settles on Aptos. Its REST API answers every write (place/cancel order, deposit, …)
//! with an *unsigned* entry-function payload `{function, typeArguments, functionArguments}`; the
//! bot must turn that into a signed BCS transaction, submit it to a fullnode, and interpret the
//! outcome. This module is everything in that path that needs no network:
//!
//! * [`address`] — [`AccountAddress`] parsing/printing (all the text forms seen in the wild);
//! * [`types`] — the BCS data model ([`RawTransaction`], [`EntryFunction`], [`TypeTag`], …) and a
//!   Move type-string parser ([`MoveType`]);
//! * [`abi`] — module-ABI model and [`encode_entry_function`], which types the JSON arguments of a
//!   REST payload using the on-chain ABI and BCS-encodes them;
//! * [`keys`] — [`PrivateKey`] (redacted, zeroized), public keys, address derivation;
//! * [`secp256k1`] — secp256k1 ECDSA keys of single-key accounts;
//! * [`authenticator`] — every transaction/account authenticator kind (single-key, multi-key,
//!   fee payer, …), their authentication keys, verification and node JSON;
//! * [`signing`] — signing message, [`sign_transaction`], transaction hash, and
//!   [`verify_signed_transaction`] for the simulated venue;
//! * [`vm_status`] — parsing committed failures (`Move abort in …`) into Kana / Econia abort
//!   codes, and node error bodies;
//! * [`error`] — [`AptosError`].
//!
//! Byte layouts follow `docs/reference/aptos-transactions.md`; the unit tests assert its test
//! vectors byte for byte. HTTP (fetching the ABI, sequence number, gas price; submitting; polling)
//! lives elsewhere.
//!
//! # Example
//!
//! ```
//! use perpbot_aptos::{
//!     encode_entry_function, sign_transaction, verify_signed_transaction, MoveModule, PrivateKey,
//!     RawTransaction,
//! };
//! use serde_json::json;
//!
//! // ABI as served by `GET /v1/accounts/0x1/module/aptos_account` (abridged).
//! let abi: MoveModule = serde_json::from_value(json!({
//!     "address": "0x1",
//!     "name": "aptos_account",
//!     "exposed_functions": [{
//!         "name": "transfer", "visibility": "public", "is_entry": true, "is_view": false,
//!         "generic_type_params": [], "params": ["&signer", "address", "u64"], "return": []
//!     }]
//! }))?;
//!
//! let key = PrivateKey::from_seed_bytes([7u8; 32]);
//! let call = encode_entry_function(&abi, "transfer", &[], &[json!("0x2"), json!("1000000")])?;
//! let raw = RawTransaction {
//!     sender: key.address(),
//!     sequence_number: 0,
//!     payload: call.into(),
//!     max_gas_amount: 10_000,
//!     gas_unit_price: 100,
//!     expiration_timestamp_secs: 1_900_000_000,
//!     chain_id: 2,
//! };
//! let signed = sign_transaction(raw, &key)?;
//! let body = signed.to_bytes()?; // POST /v1/transactions, application/x.aptos.signed_transaction+bcs
//! let hash = signed.hash()?; // poll /v1/transactions/by_hash/{hash}
//!
//! let checked = verify_signed_transaction(&body)?;
//! assert!(checked.sender_matches_key);
//! assert_eq!(checked.hash, hash);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod abi;
pub mod address;
pub mod authenticator;
pub mod error;
pub mod keys;
pub mod node;
pub mod secp256k1;
pub mod sequence;
pub mod signing;
pub mod submit;
pub mod types;
pub mod vm_status;

pub use abi::{
    GenericTypeParam, MoveFunction, MoveModule, MoveModuleBytecode, MoveStruct, MoveStructField,
    encode_argument, encode_entry_function,
};
pub use address::AccountAddress;
pub use authenticator::{AnyPublicKey, AnySignature};
pub use error::AptosError;
pub use keys::{Ed25519PublicKey, Ed25519Signature, PrivateKey};
pub use node::{NodeClient, NodeClientError, SubmitError, TxnLookup, TxnOutcome};
pub use secp256k1::{Secp256k1PrivateKey, Secp256k1PublicKey, Secp256k1Signature};
pub use sequence::SequenceManager;
pub use signing::{
    AccountSigner, SealedTransaction, SignedTxnReport, SingleKeyEd25519, TransactionHash,
    VerifiedTransaction, fee_payer_signing_message, multi_agent_signing_message,
    raw_transaction_prefix, seal_transaction, sign_fee_payer_transaction,
    sign_multi_agent_transaction, sign_single_sender, sign_to_report, sign_transaction,
    signing_message, transaction_hash, verify_signed_transaction,
};
pub use submit::{BeforeSend, GasConfig, Submitted, Submitter};
pub use types::{
    AccountAuthenticator, EntryFunction, EntryFunctionId, Identifier, ModuleId, MoveType,
    RawTransaction, RawTransactionWithData, SignedTransaction, StructTag, TransactionAuthenticator,
    TransactionPayload, TypeTag,
};
pub use vm_status::{
    AbortCategory, EconiaAbort, KanaAbort, KnownAbort, MoveAbort, NodeError, NodeErrorCode,
    VmStatus, VmValidationCode,
};
