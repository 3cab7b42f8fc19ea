//! Kyan request signing: the EIP-712 typed messages and domain ([`types`]), their reading from
//! JSON ([`message_json`]), exact amounts ([`amount`]), per-maker monotonic deadlines
//! ([`deadline`]) and the secp256k1 signer ([`signer`]).

pub mod amount;
pub mod deadline;
pub mod message_json;
pub mod signer;
pub mod types;

#[cfg(test)]
mod tests;

pub use amount::units;
pub use deadline::Deadlines;
pub use signer::{KyanSigner, SignerError, recover};
pub use types::{TESTNET_CHAIN_ID, TESTNET_VERIFYING_CONTRACT, TypedMessage, domain};
