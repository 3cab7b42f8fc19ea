//! The single error type of the Aptos transaction layer.
//!
//! Every fallible function in [`crate`] returns [`AptosError`]. Messages are written for a
//! human reading a log line: they name what was being parsed and why it was rejected, but they never
//! contain private-key material.

use thiserror::Error;

/// Errors produced while parsing, encoding, signing or verifying Aptos transactions.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AptosError {
    /// An account address string was not 1–64 hex digits (optionally `0x`-prefixed).
    #[error("invalid account address {input:?}: {reason}")]
    InvalidAddress {
        /// The rejected input (truncated if very long).
        input: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// A Move identifier (module, function or struct name) was malformed.
    #[error("invalid Move identifier {0:?}")]
    InvalidIdentifier(String),

    /// A Move type string (e.g. `vector<u8>`, `0x1::string::String`) could not be parsed.
    #[error("invalid Move type {input:?}: {reason}")]
    InvalidType {
        /// The rejected type string (truncated if very long).
        input: String,
        /// Why it was rejected.
        reason: String,
    },

    /// A function id such as `0x1::coin::transfer` was malformed.
    #[error("invalid function id {0:?}: expected <address>::<module>::<function>")]
    InvalidFunctionId(String),

    /// A private key could not be parsed. The message never contains key material.
    #[error("invalid private key: {0}")]
    InvalidKey(&'static str),

    /// A public key was not a valid Ed25519 point.
    #[error("invalid Ed25519 public key")]
    InvalidPublicKey,

    /// A module ABI has no exposed function with that name.
    #[error("function {function:?} not found in module {module}")]
    FunctionNotFound {
        /// The module that was searched (`0x…::name`).
        module: String,
        /// The requested function name.
        function: String,
    },

    /// The function exists but is not an `entry` function, so it cannot be a transaction payload.
    #[error("function {0} is not an entry function")]
    NotEntryFunction(String),

    /// The caller supplied the wrong number of (non-signer) arguments.
    #[error("function {function} takes {expected} argument(s) after signers, got {got}")]
    ArgumentCount {
        /// Fully-qualified function name.
        function: String,
        /// Parameters after the leading signer parameters.
        expected: usize,
        /// Arguments supplied.
        got: usize,
    },

    /// The caller supplied the wrong number of type arguments.
    #[error("function {function} takes {expected} type argument(s), got {got}")]
    TypeArgumentCount {
        /// Fully-qualified function name.
        function: String,
        /// Generic type parameters declared in the ABI.
        expected: usize,
        /// Type arguments supplied.
        got: usize,
    },

    /// One argument value does not fit its Move parameter type.
    ///
    /// Display form: `argument 2 (u64): "abc" is not an unsigned integer`.
    #[error("argument {index} ({move_type}): {reason}")]
    InvalidArgument {
        /// Zero-based index among the non-signer arguments.
        index: usize,
        /// The (generic-substituted) Move type of the parameter.
        move_type: String,
        /// What is wrong with the value; quotes the offending JSON value.
        reason: String,
    },

    /// A parameter type cannot be passed as a transaction argument (e.g. an arbitrary struct).
    #[error("parameter {index} has type {move_type}, which cannot be a transaction argument")]
    UnsupportedParameter {
        /// Zero-based index among the non-signer parameters.
        index: usize,
        move_type: String,
    },

    /// BCS serialisation or deserialisation failed (malformed bytes, trailing bytes, bad tag, …).
    #[error("BCS error: {0}")]
    Bcs(#[from] bcs::Error),

    /// A signature did not verify against the signing message and public key.
    #[error("signature verification failed: {0}")]
    SignatureInvalid(String),

    /// The transaction uses an authenticator kind this layer cannot verify (keyless, passkey,
    /// account abstraction, or a variant newer than this code); the text names it.
    #[error("unsupported authenticator: {0} is not supported")]
    UnsupportedAuthenticator(String),
}

/// Truncate user-supplied text for inclusion in an error message (UTF-8 safe).
pub(crate) fn clip(input: &str) -> String {
    const MAX_CHARS: usize = 120;
    let mut chars = input.chars();
    let head: String = chars.by_ref().take(MAX_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_is_utf8_safe() {
        let s = "é".repeat(200);
        let c = clip(&s);
        assert!(c.ends_with('…'));
        assert_eq!(c.chars().count(), 121);
        assert_eq!(clip("short"), "short");
    }

    #[test]
    fn argument_error_display() {
        let e = AptosError::InvalidArgument {
            index: 2,
            move_type: "u64".into(),
            reason: "\"abc\" is not an unsigned integer".into(),
        };
        assert_eq!(
            e.to_string(),
            "argument 2 (u64): \"abc\" is not an unsigned integer"
        );
    }
}
