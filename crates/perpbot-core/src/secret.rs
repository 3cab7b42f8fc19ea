//! Secrets and networks shared by every live venue: where a secret is read from (an environment
//! variable or an owner-only key file, never the config file itself), a [`Secret`] that stays out
//! of `Debug` and logs and is wiped from memory when dropped, and which [`Network`] real money is
//! on.

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
    /// A network on this machine, with no real funds: a simulator of `perpbot sim` or a local
    /// testnet (on Kana: any Aptos chain id but mainnet's 1 and testnet's 2).
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
