//! Kyan's own settings (`[venue.kyan]`): where it lives, which chain and contract orders are
//! signed for, where the two secrets come from, which instruments map to the bot's markets, and
//! the few wire choices the reference leaves open (`docs/design/kyan-wire.md`).

use std::collections::HashSet;
use std::str::FromStr;

use alloy_primitives::Address;
use rust_decimal::Decimal;
use serde::Deserialize;

pub use perpbot_core::secret::{Network, Secret, SecretSource};

use crate::signing::{TESTNET_CHAIN_ID, TESTNET_VERIFYING_CONTRACT};

/// Arbitrum One, Kyan's production chain (reference §2).
pub const MAINNET_CHAIN_ID: u64 = 42_161;

/// Which field carries an order's size (reference §3.2: `contracts` is canonical in newer docs,
/// `amount` is the legacy USD notional on a $1 grid).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SizeField {
    /// Base-asset units (default).
    #[default]
    Contracts,
    /// USD notional; a size whose notional is off the $1 grid is refused.
    Amount,
}

/// How the `trade` event's fee fields read (UNKNOWN in the reference; the contract assumes
/// USDC amounts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeeFields {
    /// USDC charged (default).
    #[default]
    Amount,
    /// Fractions of the fill's notional.
    Rate,
}

/// One bot market and the Kyan instrument it trades.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KyanMarket {
    /// The bot's numeric market id.
    pub id: u64,
    /// Kyan's instrument, `{BASE}_USDC-PERPETUAL`.
    pub instrument: String,
    /// Price increment to use when `exchange_info` names none.
    #[serde(default)]
    pub price_increment: Option<Decimal>,
    /// Contracts increment to use when `exchange_info` names none.
    #[serde(default)]
    pub size_increment: Option<Decimal>,
}

impl KyanMarket {
    /// The pair of the instrument (`BTC_USDC` of `BTC_USDC-PERPETUAL`).
    pub fn pair(&self) -> &str {
        pair_of(&self.instrument)
    }
}

/// The pair of an instrument name (the part before `-PERPETUAL`).
pub fn pair_of(instrument: &str) -> &str {
    instrument.strip_suffix("-PERPETUAL").unwrap_or(instrument)
}

/// Kyan connection settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KyanConfig {
    /// Testnet, mainnet or a local simulator.
    pub network: Network,
    /// REST base URL (`https://staging.kyan.sh`).
    pub rest_url: String,
    /// Private WebSocket URL (`wss://staging.kyan.sh/ws`).
    pub ws_url: String,
    /// Public Centrifugo stream URL (`wss://staging.kyan.sh/stream/websocket`).
    pub stream_url: String,
    /// EIP-712 chain id: 421614 on testnet, 42161 on mainnet.
    pub chain_id: u64,
    /// EIP-712 verifying contract. Default: the testnet proxy on testnet and local; required on
    /// mainnet, whose proxy address is UNKNOWN (reference §1).
    #[serde(default)]
    pub verifying_contract: Option<String>,
    /// Where the API key comes from.
    #[serde(default)]
    pub api_key: SecretSource,
    /// Where the secp256k1 private key (hex) comes from.
    #[serde(default)]
    pub private_key: SecretSource,
    /// Confirms that real money may be traded (required on mainnet).
    #[serde(default)]
    pub i_understand_this_is_mainnet: bool,
    /// The bot's markets and their instruments.
    pub markets: Vec<KyanMarket>,
    /// Which size field orders carry.
    #[serde(default)]
    pub size_field: SizeField,
    /// How fee fields of fills read.
    #[serde(default)]
    pub fee_fields: FeeFields,
    /// The venue's cancel-all-after timer, seconds (`POST /heartbeat`); 0 switches it off.
    #[serde(default = "defaults::heartbeat_timeout_secs")]
    pub heartbeat_timeout_secs: u64,
    /// How often the heartbeat is sent while the engine is alive (ms).
    #[serde(default = "defaults::heartbeat_interval_ms")]
    pub heartbeat_interval_ms: u64,
    /// Sign once for a one-click session (`x-one-click`) instead of per request, where allowed.
    #[serde(default)]
    pub one_click: bool,
    /// The `mmp` flag sent on every limit order (market-maker protection).
    #[serde(default)]
    pub mmp: bool,
    /// Seconds ahead a signature deadline is set (at most 30, Kyan's window).
    #[serde(default = "defaults::deadline_secs")]
    pub deadline_secs: u64,
    /// Timeout of one REST request (ms); a write that times out is ambiguous.
    #[serde(default = "defaults::request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// Most orders in one `POST /limit`.
    #[serde(default = "defaults::max_batch")]
    pub max_batch: usize,
    /// Reconnect the private WebSocket after this long (Kyan caps a session at one hour).
    #[serde(default = "defaults::ws_session_max_secs")]
    pub ws_session_max_secs: u64,
    /// Longest wait before reconnecting either WebSocket (ms). The wait starts at 1 s and
    /// doubles per connection that ends within 30 s of opening, up to this.
    #[serde(default = "defaults::reconnect_backoff_max_ms")]
    pub reconnect_backoff_max_ms: u64,
    /// A market order without a price is limited to the index ± this many basis points.
    #[serde(default = "defaults::close_slippage_bps")]
    pub close_slippage_bps: u32,
    /// Path of the MMP config endpoint (\[D\] and \[S\] disagree: `/mmp_config`,
    /// `/mmp/config`, `/mmp-config`).
    #[serde(default = "defaults::mmp_config_path")]
    pub mmp_config_path: String,
}

mod defaults {
    pub fn heartbeat_timeout_secs() -> u64 {
        15
    }
    pub fn heartbeat_interval_ms() -> u64 {
        5_000
    }
    pub fn deadline_secs() -> u64 {
        20
    }
    pub fn request_timeout_ms() -> u64 {
        10_000
    }
    pub fn max_batch() -> usize {
        10
    }
    pub fn ws_session_max_secs() -> u64 {
        3_300
    }
    pub fn reconnect_backoff_max_ms() -> u64 {
        30_000
    }
    pub fn close_slippage_bps() -> u32 {
        100
    }
    pub fn mmp_config_path() -> String {
        "/mmp_config".to_string()
    }
}

/// Does `name` read `{BASE}_USDC-PERPETUAL` with an upper-case alphanumeric base?
pub fn is_perp_instrument(name: &str) -> bool {
    name.strip_suffix("_USDC-PERPETUAL").is_some_and(|base| {
        !base.is_empty()
            && base
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    })
}

impl KyanConfig {
    /// Check the settings; the error names the key (`{prefix}.chain_id`, …).
    pub fn validate(&self, prefix: &str) -> Result<(), String> {
        let key = |k: &str| format!("{prefix}.{k}");
        for (k, url, schemes) in [
            ("rest_url", &self.rest_url, ["http://", "https://"]),
            ("ws_url", &self.ws_url, ["ws://", "wss://"]),
            ("stream_url", &self.stream_url, ["ws://", "wss://"]),
        ] {
            if !schemes.iter().any(|s| url.starts_with(s)) {
                return Err(format!(
                    "{}: {url:?} must start with {} or {}",
                    key(k),
                    schemes[0],
                    schemes[1]
                ));
            }
        }
        match (self.network, self.chain_id) {
            (Network::Testnet | Network::Local, TESTNET_CHAIN_ID) => {}
            (Network::Mainnet, MAINNET_CHAIN_ID) => {}
            (Network::Local, _) => {}
            (network, id) => {
                return Err(format!(
                    "{}: {id} does not match network {network:?} (testnet {TESTNET_CHAIN_ID}, mainnet {MAINNET_CHAIN_ID})",
                    key("chain_id")
                ));
            }
        }
        if self.network == Network::Mainnet && self.verifying_contract.is_none() {
            return Err(format!(
                "{}: required on mainnet (Kyan's mainnet proxy address is not published)",
                key("verifying_contract")
            ));
        }
        self.verifying_contract(prefix)?;
        if self.markets.is_empty() {
            return Err(format!(
                "{}: at least one market is required",
                key("markets")
            ));
        }
        let (mut ids, mut names) = (HashSet::new(), HashSet::new());
        for m in &self.markets {
            if !is_perp_instrument(&m.instrument) {
                return Err(format!(
                    "{}: {:?} is not a Kyan perpetual ({{BASE}}_USDC-PERPETUAL)",
                    key("markets.instrument"),
                    m.instrument
                ));
            }
            if !ids.insert(m.id) || !names.insert(m.instrument.as_str()) {
                return Err(format!(
                    "{}: market {} / {} is listed twice",
                    key("markets"),
                    m.id,
                    m.instrument
                ));
            }
            for (k, v) in [
                ("price_increment", m.price_increment),
                ("size_increment", m.size_increment),
            ] {
                if v.is_some_and(|v| v <= Decimal::ZERO) {
                    return Err(format!(
                        "{}: must be positive",
                        key(&format!("markets.{k}"))
                    ));
                }
            }
        }
        if self.deadline_secs == 0 || self.deadline_secs > 30 {
            return Err(format!(
                "{}: {} must be within 1..=30 (Kyan's window)",
                key("deadline_secs"),
                self.deadline_secs
            ));
        }
        if self.max_batch == 0 {
            return Err(format!("{}: must be at least 1", key("max_batch")));
        }
        if self.request_timeout_ms == 0 {
            return Err(format!("{}: must be positive", key("request_timeout_ms")));
        }
        if self.heartbeat_timeout_secs > 0
            && (self.heartbeat_interval_ms == 0
                || self.heartbeat_interval_ms >= self.heartbeat_timeout_secs.saturating_mul(1000))
        {
            return Err(format!(
                "{}: {} ms must be positive and shorter than heartbeat_timeout_secs ({} s)",
                key("heartbeat_interval_ms"),
                self.heartbeat_interval_ms,
                self.heartbeat_timeout_secs
            ));
        }
        if self.ws_session_max_secs < 60 {
            return Err(format!(
                "{}: must be at least 60",
                key("ws_session_max_secs")
            ));
        }
        if self.reconnect_backoff_max_ms < 1_000 {
            return Err(format!(
                "{}: must be at least 1000 (the first reconnect waits up to 1 s)",
                key("reconnect_backoff_max_ms")
            ));
        }
        if self.close_slippage_bps == 0 || self.close_slippage_bps >= 10_000 {
            return Err(format!(
                "{}: must be within 1..10000",
                key("close_slippage_bps")
            ));
        }
        if !self.mmp_config_path.starts_with('/') {
            return Err(format!("{}: must start with /", key("mmp_config_path")));
        }
        Ok(())
    }

    /// The verifying contract orders are signed for: the configured one, or the testnet proxy
    /// off mainnet.
    pub fn verifying_contract(&self, prefix: &str) -> Result<Address, String> {
        match &self.verifying_contract {
            Some(text) => Address::from_str(text.trim()).map_err(|e| {
                format!("{prefix}.verifying_contract: {text:?} is not an address: {e}")
            }),
            None if self.network == Network::Mainnet => {
                Err(format!("{prefix}.verifying_contract: required on mainnet"))
            }
            None => Ok(TESTNET_VERIFYING_CONTRACT),
        }
    }

    /// The configured market of an instrument.
    pub fn market_of(&self, instrument: &str) -> Option<&KyanMarket> {
        self.markets.iter().find(|m| m.instrument == instrument)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> KyanConfig {
        toml_like(
            r#"{"network":"testnet","rest_url":"http://127.0.0.1:1","ws_url":"ws://127.0.0.1:1/ws",
            "stream_url":"ws://127.0.0.1:1/stream/websocket","chain_id":421614,
            "markets":[{"id":1,"instrument":"BTC_USDC-PERPETUAL"}]}"#,
        )
    }

    fn toml_like(json: &str) -> KyanConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn defaults_and_a_valid_testnet_config() {
        let c = sample();
        c.validate("venue.kyan").unwrap();
        assert_eq!(c.size_field, SizeField::Contracts);
        assert_eq!(c.fee_fields, FeeFields::Amount);
        assert_eq!(c.heartbeat_timeout_secs, 15);
        assert_eq!(c.deadline_secs, 20);
        assert_eq!(c.ws_session_max_secs, 3_300);
        assert_eq!(c.reconnect_backoff_max_ms, 30_000);
        assert_eq!(
            c.verifying_contract("v").unwrap(),
            TESTNET_VERIFYING_CONTRACT
        );
    }

    #[test]
    fn refusals_name_the_key() {
        let mut c = sample();
        c.chain_id = MAINNET_CHAIN_ID;
        assert!(
            c.validate("venue.kyan")
                .unwrap_err()
                .contains("venue.kyan.chain_id")
        );
        let mut c = sample();
        c.network = Network::Mainnet;
        c.chain_id = MAINNET_CHAIN_ID;
        let e = c.validate("venue.kyan").unwrap_err();
        assert!(e.contains("venue.kyan.verifying_contract"), "{e}");
        let mut c = sample();
        c.markets[0].instrument = "BTC-PERP".into();
        assert!(
            c.validate("k")
                .unwrap_err()
                .contains("k.markets.instrument")
        );
        let mut c = sample();
        c.deadline_secs = 31;
        assert!(c.validate("k").unwrap_err().contains("k.deadline_secs"));
        let mut c = sample();
        c.reconnect_backoff_max_ms = 999;
        assert!(
            c.validate("k")
                .unwrap_err()
                .contains("k.reconnect_backoff_max_ms")
        );
        let e = serde_json::from_str::<KyanConfig>(r#"{"network":"testnet","bogus":1}"#);
        assert!(e.is_err());
    }
}
