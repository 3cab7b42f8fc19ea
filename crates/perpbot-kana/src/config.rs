//! Kana's own settings (`[venue.kana]`) and how its secrets are read: an environment variable or
//! an owner-only key file, never the config file itself. [`Secret`] keeps a value out of `Debug`
//! and logs and wipes it from memory when dropped.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

/// Which network a live venue runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// Test money.
    Testnet,
    /// Real money: needs explicit confirmation.
    Mainnet,
    /// A network on this machine, with no real funds: the simulator of `perpbot sim` (chain 4)
    /// or a local Aptos testnet. Any chain id but mainnet's (1) and testnet's (2).
    Local,
}

/// Where a secret comes from: an environment variable or a file (one of the two).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// Name of the environment variable holding the secret.
    pub env: Option<String>,
    /// Path of a file holding the secret (first line, trimmed).
    pub file: Option<PathBuf>,
}

/// A secret value. `Debug` and `Display` never show it, and its memory is wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(zeroize::Zeroizing<String>);

impl Secret {
    /// Wrap a value.
    pub fn new(value: String) -> Secret {
        Secret(zeroize::Zeroizing::new(value))
    }

    /// The value, for the one place that needs it (signing, a request header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl SecretSource {
    /// Read the secret. The error names the key and the variable or file, never the value.
    pub fn load(&self, key: &str) -> Result<Secret, String> {
        match (&self.env, &self.file) {
            (Some(var), None) => match std::env::var(var).map(zeroize::Zeroizing::new) {
                Ok(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim().to_string())),
                _ => Err(format!("{key}: environment variable {var} is not set")),
            },
            (None, Some(path)) => {
                check_owner_only(key, path)?;
                let text =
                    zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                        format!("{key}: cannot read key file {}: {e}", path.display())
                    })?);
                let first = text.lines().next().unwrap_or("").trim();
                if first.is_empty() {
                    return Err(format!("{key}: key file {} is empty", path.display()));
                }
                Ok(Secret::new(first.to_string()))
            }
            (Some(_), Some(_)) => Err(format!("{key}: set either env or file, not both")),
            (None, None) => Err(format!(
                "{key}: set env (an environment variable name) or file"
            )),
        }
    }
}

/// Refuse a key file that anyone but its owner can read or write (Unix permissions).
fn check_owner_only(key: &str, path: &std::path::Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("{key}: cannot read key file {}: {e}", path.display()))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "{key}: key file {} has permissions {mode:03o}; it must be readable by its owner only (chmod 600)",
                path.display()
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = (key, path);
    Ok(())
}

/// Kana Perps connection settings (completed by the Kana venue work).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KanaConfig {
    /// Testnet or mainnet.
    pub network: Network,
    /// REST base URL.
    pub rest_url: String,
    /// WebSocket indexer URL.
    pub ws_url: String,
    /// Aptos fullnode REST URL (ending in `/v1`).
    pub node_url: String,
    /// Aptos chain id (1 mainnet, 2 testnet).
    pub chain_id: u8,
    /// Where the REST API key comes from.
    pub api_key: SecretSource,
    /// Where the Ed25519 private key comes from.
    pub private_key: SecretSource,
    /// Confirms that real money may be traded (required on mainnet, or the CLI flag).
    #[serde(default)]
    pub i_understand_this_is_mainnet: bool,
    /// Gas cap per transaction (gas units; a mainnet 8-order cancel used 175).
    #[serde(default = "kana_defaults::max_gas_amount")]
    pub max_gas_amount: u64,
    /// Gas unit price in octas; unset = the node's estimate.
    #[serde(default)]
    pub gas_unit_price: Option<u64>,
    /// A transaction expires this many seconds after it is built.
    #[serde(default = "kana_defaults::expiration_secs")]
    pub expiration_secs: u64,
    /// Longest wait for a transaction to commit before its outcome counts as ambiguous (ms).
    #[serde(default = "kana_defaults::confirm_timeout_ms")]
    pub confirm_timeout_ms: u64,
    /// Timeout of one REST or node request (ms).
    #[serde(default = "kana_defaults::request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// Most orders in one placing transaction.
    #[serde(default = "kana_defaults::max_batch")]
    pub max_batch: usize,
    /// Trade for this owner wallet with a delegate key (one-click trading, reference §9.6): the
    /// private key is then the delegate's, which can trade but never withdraw.
    #[serde(default)]
    pub delegate_for: Option<String>,
    /// The Kana package whose payloads may be signed (`0x…`). Default: Kana's published address
    /// on mainnet and testnet, the simulator's default on a local network
    /// ([`super::writer::default_package`]). \[INF\] testnet uses mainnet's address (reference
    /// §1.4): set this if Kana ever publishes testnet elsewhere.
    #[serde(default)]
    pub package: Option<String>,
}

mod kana_defaults {
    pub fn max_gas_amount() -> u64 {
        10_000
    }
    pub fn expiration_secs() -> u64 {
        60
    }
    pub fn confirm_timeout_ms() -> u64 {
        30_000
    }
    pub fn request_timeout_ms() -> u64 {
        10_000
    }
    pub fn max_batch() -> usize {
        10
    }
}
