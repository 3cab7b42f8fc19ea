//! Kana's own settings (`[venue.kana]`) and how its secrets are read: an environment variable or
//! an owner-only key file, never the config file itself. [`Secret`] keeps a value out of `Debug`
//! and logs and wipes it from memory when dropped.

use serde::Deserialize;

pub use perpbot_core::secret::{Network, Secret, SecretSource};

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
    /// Where the REST API key comes from (required to trade; paper trading on the live book
    /// sends it only when set).
    #[serde(default)]
    pub api_key: SecretSource,
    /// Where the Ed25519 private key comes from (required to trade; paper trading needs none).
    #[serde(default)]
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
    /// How often the profile's collateral is read when nothing moves it (ms; it is also read
    /// at the start and half a second after each fill or transfer). `0` never reads it: risk
    /// then cannot check margin.
    #[serde(default = "kana_defaults::balance_poll_ms")]
    pub balance_poll_ms: u64,
    /// The test-USDT faucet package (`usdt::faucet`, `perpbot funds faucet`). Default: Kana
    /// testnet's (reference §1.4 \[DOC\]).
    #[serde(default)]
    pub faucet_package: Option<String>,
}

/// Kana testnet's test-USDT faucet package (reference §1.4 \[DOC\]).
pub const TESTNET_USDT_FAUCET: &str =
    "0x24246c14448a5994d9f23e3b978da2a354e64b6dfe54220debb8850586c448cc";

mod kana_defaults {
    pub fn balance_poll_ms() -> u64 {
        10_000
    }
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

impl KanaConfig {
    /// The Kana package whose payloads may be signed: `venue.kana.package` when set, otherwise
    /// today's address for the network ([`crate::writer::default_package`] of the chain id:
    /// Kana's published package on mainnet and testnet, the simulator's on a local network).
    /// The error names the key.
    pub fn package_address(&self) -> Result<perpbot_aptos::AccountAddress, String> {
        match &self.package {
            Some(text) => perpbot_aptos::AccountAddress::from_hex(text.trim())
                .map_err(|e| format!("venue.kana.package: {e}")),
            None => Ok(crate::writer::default_package(self.chain_id)),
        }
    }

    /// The test-USDT faucet package: `venue.kana.faucet_package`, else Kana testnet's. The error
    /// names the key.
    pub fn faucet_address(&self) -> Result<perpbot_aptos::AccountAddress, String> {
        let text = self
            .faucet_package
            .as_deref()
            .unwrap_or(TESTNET_USDT_FAUCET);
        perpbot_aptos::AccountAddress::from_hex(text.trim())
            .map_err(|e| format!("venue.kana.faucet_package: {e}"))
    }

    /// Refuse settings that belong to the other network: a host of Kana's or Aptos's other
    /// network in `rest_url`, `ws_url` or `node_url`, or a market id of the other network in
    /// `markets`. The error names the key and why. (The chain id is checked by the app's
    /// config validation.) Unknown hosts (a proxy, a private fullnode) and unknown market ids
    /// pass: only what is known to be the other network's is refused.
    pub fn check_network_identity(&self, markets: &[u64]) -> Result<(), String> {
        for (key, url) in [
            ("rest_url", &self.rest_url),
            ("ws_url", &self.ws_url),
            ("node_url", &self.node_url),
        ] {
            let host = url_host(url);
            let Some(owner) = host_network(&host) else {
                continue;
            };
            if owner != self.network {
                return Err(format!(
                    "venue.kana.{key}: {host} is a {} host, but venue.kana.network is {}",
                    network_name(owner),
                    network_name(self.network)
                ));
            }
        }
        let other = match self.network {
            Network::Testnet => Some((Network::Mainnet, MAINNET_MARKETS, TESTNET_MARKETS)),
            Network::Mainnet => Some((Network::Testnet, TESTNET_MARKETS, MAINNET_MARKETS)),
            // The simulator and a local network number their markets as they like.
            Network::Local => None,
        };
        if let Some((other, theirs, ours)) = other {
            for m in markets {
                if let Some((_, asset)) = theirs.iter().find(|(id, _)| id == m) {
                    let ours: Vec<String> =
                        ours.iter().map(|(id, a)| format!("{id} {a}")).collect();
                    return Err(format!(
                        "markets: {m} is Kana's {} {asset} market, but venue.kana.network is {} \
                         (its markets: {})",
                        network_name(other),
                        network_name(self.network),
                        ours.join(", ")
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Kana's current mainnet market ids (reference §3.1, \[DOC G4/G5\]).
const MAINNET_MARKETS: &[(u64, &str)] = &[(14, "APT"), (15, "BTC"), (16, "ETH"), (31, "SOL")];
/// Kana's current testnet market ids (reference §3.1, \[DOC G4/G5\]).
const TESTNET_MARKETS: &[(u64, &str)] =
    &[(1338, "APT"), (1339, "BTC"), (1340, "ETH"), (2387, "SOL")];

/// How a config spells a network.
fn network_name(network: Network) -> &'static str {
    match network {
        Network::Testnet => "testnet",
        Network::Mainnet => "mainnet",
        Network::Local => "local",
    }
}

/// The host of a URL (`wss://user@host:443/ws/` → `host`), lowercased; the whole text when it
/// has no scheme.
fn url_host(url: &str) -> String {
    let rest = url.trim().split_once("://").map_or(url.trim(), |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host_port.starts_with('[') {
        // An IPv6 literal keeps its colons.
        host_port
            .split(']')
            .next()
            .unwrap_or("")
            .trim_start_matches('[')
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Which network a host is known to serve, if any.
///
/// * Kana's hosts (reference §1.1, \[DOC G4/G5\]): mainnet `perps-tradeapi.kana.trade` and
///   `perpetuals-indexer-ws.kana.trade`, testnet `perps-tradeapi.kanalabs.io` and
///   `perpetuals-indexer-ws-develop.kanalabs.io`. \[INF\]: every other `kana.trade` host is
///   mainnet too (that domain serves only the mainnet deployment today); other `kanalabs.io`
///   hosts (the legacy G2/G3 ones) are not classified.
/// * Aptos Labs' fullnodes: `*.mainnet.aptoslabs.com` / `mainnet.aptoslabs.com` and the testnet
///   twins (Aptos's own naming, reference §1.1 \[DOC\]/\[COMM\]).
fn host_network(host: &str) -> Option<Network> {
    const TESTNET_KANA: [&str; 2] = [
        "perps-tradeapi.kanalabs.io",
        "perpetuals-indexer-ws-develop.kanalabs.io",
    ];
    let under = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
    if under("kana.trade") || under("mainnet.aptoslabs.com") {
        Some(Network::Mainnet)
    } else if TESTNET_KANA.contains(&host) || under("testnet.aptoslabs.com") {
        Some(Network::Testnet)
    } else {
        None
    }
}

#[cfg(test)]
mod identity_tests {
    use super::*;

    #[test]
    fn hosts_are_read_from_urls_and_classified() {
        assert_eq!(
            url_host("wss://perpetuals-indexer-ws.kana.trade/ws/"),
            "perpetuals-indexer-ws.kana.trade"
        );
        assert_eq!(url_host("http://127.0.0.1:8787/v1"), "127.0.0.1");
        assert_eq!(
            url_host("https://u@API.Mainnet.aptoslabs.com:443"),
            "api.mainnet.aptoslabs.com"
        );
        assert_eq!(url_host("http://[::1]:80/"), "::1");
        assert_eq!(
            host_network("perps-tradeapi.kana.trade"),
            Some(Network::Mainnet)
        );
        assert_eq!(
            host_network("api.testnet.aptoslabs.com"),
            Some(Network::Testnet)
        );
        assert_eq!(
            host_network("perps-tradeapi.kanalabs.io"),
            Some(Network::Testnet)
        );
        assert_eq!(host_network("notkana.trade"), None);
        assert_eq!(host_network("127.0.0.1"), None);
    }
}
