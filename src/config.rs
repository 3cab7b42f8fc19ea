//! Configuration: one TOML file, validated at start-up with errors that name the key.
//!
//! Every table denies unknown keys, so a misspelt limit fails loudly instead of silently keeping
//! its default. Secrets (API keys, private keys) are never read from the file: the file names an
//! environment variable or a key file, and [`Secret`] keeps the value out of `Debug` and logs.
//!
//! ```
//! let cfg = perpbot::config::Config::from_toml_str(r#"
//!     markets = [1338]
//!     [venue]
//!     kind = "paper"
//!     [[venue.markets]]
//!     id = 1338
//!     name = "APT-USD"
//!     base_decimals = 8
//!     quote_decimals = 6
//!     lot_size = 100000
//!     tick_size = 1
//!     min_lots = 500
//!     max_lots = 150000000
//!     max_leverage = 20
//!     maintenance_margin_bps = 250
//!     quote_precision = 3
//!     [strategy]
//!     name = "market_maker"
//! "#).unwrap();
//! assert_eq!(cfg.markets, vec![1338]);
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::engine::EngineConfig;
use crate::executor::RateLimitConfig;
use crate::model::{MarketId, MarketSpec};
use crate::risk::RiskConfig;
pub use crate::venue::kana::config::{KanaConfig, Network, Secret, SecretSource};
pub use crate::venue::kyan::KyanConfig;
use crate::venue::paper::PaperConfig;

/// A configuration problem, naming the file and the key.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct ConfigError {
    /// The file (or `<string>`).
    pub source_name: String,
    /// What is wrong, naming the key.
    pub message: String,
}

/// Which venue to trade on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VenueKind {
    /// Simulated fills against a simulated book; no keys, no network.
    Paper,
    /// Kana Perps on Aptos.
    Kana,
    /// The built-in exchange simulator, started in-process on loopback and traded through the
    /// real Kana client with a generated key: no keys, no network.
    Sim,
    /// Paper trading on Kana's live public book (`[venue.kana]`'s hosts): orders fill in the
    /// paper exchange against the real book and trades; no key, no transaction.
    PaperKana,
    /// The same against the embedded simulator's public topics (`[venue.sim]`): the live-paper
    /// path with no network, for trying and testing it.
    PaperSim,
    /// Kyan (`[venue.kyan]`): EIP-712-signed REST orders, its private WebSocket and public stream.
    Kyan,
    /// The built-in Kyan simulator (`[venue.kyan_sim]`), started in-process on loopback and
    /// traded through the real Kyan client with a generated key: no keys, no network.
    KyanSim,
}

impl VenueKind {
    /// The name a config file uses for it (`paper`, `kana`, `sim`, `paper_kana`, `paper_sim`,
    /// `kyan`, `kyan_sim`).
    pub fn name(self) -> &'static str {
        match self {
            VenueKind::Paper => "paper",
            VenueKind::Kana => "kana",
            VenueKind::Sim => "sim",
            VenueKind::PaperKana => "paper_kana",
            VenueKind::PaperSim => "paper_sim",
            VenueKind::Kyan => "kyan",
            VenueKind::KyanSim => "kyan_sim",
        }
    }

    /// Whether orders are filled by the in-process paper exchange (nothing is ever sent).
    pub fn is_paper(self) -> bool {
        matches!(
            self,
            VenueKind::Paper | VenueKind::PaperKana | VenueKind::PaperSim
        )
    }
}

/// The `[venue]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueConfig {
    /// Which venue.
    pub kind: VenueKind,
    /// Paper venue settings (`[venue.paper]`).
    #[serde(default)]
    pub paper: PaperConfig,
    /// Kana settings (`[venue.kana]`).
    pub kana: Option<KanaConfig>,
    /// Simulator settings (`[venue.sim]`).
    #[serde(default)]
    pub sim: crate::sim::server::SimConfig,
    /// Kyan settings (`[venue.kyan]`).
    pub kyan: Option<KyanConfig>,
    /// Kyan simulator settings (`[venue.kyan_sim]`).
    #[serde(default)]
    pub kyan_sim: crate::sim::kyan::KyanSimConfig,
    /// Market specs for venues that do not describe their markets themselves (paper).
    #[serde(default)]
    pub markets: Vec<MarketSpec>,
}

/// The `[strategy]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyConfig {
    /// Registered strategy name.
    pub name: String,
    /// The strategy's own params, checked by the strategy.
    #[serde(default)]
    pub params: toml::Table,
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Market ids to trade.
    pub markets: Vec<u64>,
    pub venue: VenueConfig,
    /// Pre-trade risk limits.
    #[serde(default)]
    pub risk: RiskConfig,
    /// Request budgets.
    #[serde(default)]
    pub rate_limits: RateLimitConfig,
    /// Engine settings.
    #[serde(default)]
    pub engine: EngineConfig,
    /// Strategy and its params.
    pub strategy: StrategyConfig,
    /// Models of a backtest over recorded data (`perpbot backtest`).
    #[serde(default)]
    pub backtest: perpbot_backtest::Models,
    /// The status, metrics and control endpoint of a running bot.
    #[serde(default)]
    pub control: crate::control::ControlConfig,
    /// Webhook alerts (halt, loss limit, mismatch, disconnect, unclean stop); absent = none.
    #[serde(default)]
    pub alerts: Option<crate::alerts::AlertsConfig>,
    /// The run history database.
    #[serde(default)]
    pub history: crate::history::HistoryConfig,
}

/// The keys that would hold a secret if someone wrote one into the file.
const SECRET_KEYS: &[&str] = &["private_key", "api_key", "secret", "password"];

impl Config {
    /// Load and validate a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            source_name: name.clone(),
            message: format!("cannot read: {e}"),
        })?;
        let mut config = Config::parse(&text, &name)?;
        let folder = path.parent().unwrap_or(Path::new(""));
        config.resolve_paths(folder);
        Ok(config)
    }

    /// Make every relative path of the file (kill switch, journal, key files) relative to the
    /// file's own folder, so the bot and `perpbot kill` agree on them from any working directory.
    pub fn resolve_paths(&mut self, folder: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = folder.join(&*p);
            }
        };
        if let Some(p) = &mut self.engine.kill_switch_file {
            resolve(p);
        }
        if let Some(p) = &mut self.engine.journal {
            resolve(p);
        }
        if let Some(p) = &mut self.risk.state_file {
            resolve(p);
        }
        if let Some(kana) = &mut self.venue.kana {
            for source in [&mut kana.api_key, &mut kana.private_key] {
                if let Some(p) = &mut source.file {
                    resolve(p);
                }
            }
        }
        if let Some(kyan) = &mut self.venue.kyan {
            for source in [&mut kyan.api_key, &mut kyan.private_key] {
                if let Some(p) = &mut source.file {
                    resolve(p);
                }
            }
        }
        if let Some(p) = self.control.token.as_mut().and_then(|t| t.file.as_mut()) {
            resolve(p);
        }
        if let Some(p) = self
            .alerts
            .as_mut()
            .and_then(|a| a.webhook_url.file.as_mut())
        {
            resolve(p);
        }
        if let Some(p) = &mut self.history.database {
            resolve(p);
        }
    }

    /// The history database: `[history] database`, else next to the journal
    /// (`JOURNAL.history.sqlite`), else none.
    pub fn history_database(&self) -> Option<PathBuf> {
        self.history.database.clone().or_else(|| {
            self.engine
                .journal
                .as_deref()
                .map(|j| crate::limits::appended(j, ".history.sqlite"))
        })
    }

    /// Parse and validate TOML text.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, "<string>")
    }

    fn parse(text: &str, name: &str) -> Result<Config, ConfigError> {
        let err = |message: String| ConfigError {
            source_name: name.to_string(),
            message,
        };
        let raw: toml::Table = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        if let Some(path) = find_literal_secret(&raw, "") {
            return Err(err(format!(
                "{path}: secrets are never read from the config file; name an environment variable \
                 ({path}.env = \"VAR\") or a key file ({path}.file = \"path\")"
            )));
        }
        let config: Config = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        config.validate().map_err(err)?;
        Ok(config)
    }

    /// Market ids as typed ids.
    pub fn market_ids(&self) -> Vec<MarketId> {
        self.markets.iter().copied().map(MarketId).collect()
    }

    /// Check everything that can be checked without the network.
    pub fn validate(&self) -> Result<(), String> {
        if self.markets.is_empty() {
            return Err("markets: list at least one market id".into());
        }
        let mut seen = std::collections::HashSet::new();
        for m in &self.markets {
            if !seen.insert(m) {
                return Err(format!("markets: market {m} is listed twice"));
            }
        }
        for (i, spec) in self.venue.markets.iter().enumerate() {
            spec.validate()
                .map_err(|e| format!("venue.markets[{i}]: {e}"))?;
        }
        match self.venue.kind {
            VenueKind::Paper => {
                for m in &self.markets {
                    if !self.venue.markets.iter().any(|s| s.id.0 == *m) {
                        return Err(format!(
                            "markets: market {m} has no spec in [[venue.markets]] (the paper venue needs one)"
                        ));
                    }
                }
                self.venue.paper.validate()?;
            }
            VenueKind::PaperKana => {
                let kana = self
                    .venue
                    .kana
                    .as_ref()
                    .ok_or("venue.kana: missing (kind = \"paper_kana\" reads its hosts)")?;
                kana.check_network_identity(&self.markets)?;
                self.venue.paper.validate()?;
            }
            VenueKind::Sim | VenueKind::PaperSim => {
                if self.venue.kind == VenueKind::PaperSim {
                    self.venue.paper.validate()?;
                }
                self.venue
                    .sim
                    .validate()
                    .map_err(|e| format!("venue.{e}"))?;
                for m in &self.markets {
                    if !self.venue.sim.markets.iter().any(|s| s.id.0 == *m) {
                        return Err(format!(
                            "markets: market {m} is not one of the simulator's markets"
                        ));
                    }
                }
            }
            VenueKind::Kana => {
                let kana = self
                    .venue
                    .kana
                    .as_ref()
                    .ok_or("venue.kana: missing (kind = \"kana\")")?;
                if kana.network == Network::Mainnet && kana.chain_id != 1 {
                    return Err(format!(
                        "venue.kana.chain_id: mainnet is chain 1, got {}",
                        kana.chain_id
                    ));
                }
                if kana.network == Network::Testnet && kana.chain_id != 2 {
                    return Err(format!(
                        "venue.kana.chain_id: testnet is chain 2, got {}",
                        kana.chain_id
                    ));
                }
                if kana.network == Network::Local && matches!(kana.chain_id, 1 | 2) {
                    return Err(format!(
                        "venue.kana.chain_id: a local network is not chain {} (that is {})",
                        kana.chain_id,
                        if kana.chain_id == 1 {
                            "mainnet"
                        } else {
                            "testnet"
                        }
                    ));
                }
                // Hosts and market ids of the other network, and a package that is no address.
                kana.check_network_identity(&self.markets)?;
                kana.package_address()?;
                kana.faucet_address()?;
                if let Some(owner) = &kana.delegate_for {
                    crate::aptos::AccountAddress::from_hex(owner.trim())
                        .map_err(|e| format!("venue.kana.delegate_for: {e}"))?;
                }
            }
            VenueKind::Kyan => {
                let kyan = self
                    .venue
                    .kyan
                    .as_ref()
                    .ok_or("venue.kyan: missing (kind = \"kyan\")")?;
                kyan.validate("venue.kyan")?;
                for m in &self.markets {
                    if !kyan.markets.iter().any(|k| k.id == *m) {
                        return Err(format!(
                            "markets: market {m} has no instrument in [[venue.kyan.markets]]"
                        ));
                    }
                }
            }
            VenueKind::KyanSim => {
                self.venue.kyan_sim.validate().map_err(|e| {
                    // The simulator names its keys `kyan.…`; here they sit in `[venue.kyan_sim]`.
                    format!("venue.kyan_sim.{}", e.strip_prefix("kyan.").unwrap_or(&e))
                })?;
                for m in &self.markets {
                    if !self.venue.kyan_sim.instruments.iter().any(|i| i.id == *m) {
                        return Err(format!(
                            "markets: market {m} is not one of the Kyan simulator's instruments"
                        ));
                    }
                }
            }
        }
        self.risk.validate(&self.market_ids())?;
        self.rate_limits.validate()?;
        self.backtest.validate()?;
        self.control.validate()?;
        if let Some(alerts) = &self.alerts {
            alerts.validate()?;
        }
        if self.strategy.name.trim().is_empty() {
            return Err("strategy.name: must name a registered strategy".into());
        }
        Ok(())
    }

    /// The secrets this config needs that cannot be read now (an unset environment variable,
    /// a missing or unsafe key file, a malformed key), each naming its key. Empty for venues
    /// that need none (the simulator, paper).
    pub fn missing_secrets(&self) -> Vec<String> {
        let mut missing = Vec::new();
        match (self.venue.kind, &self.venue.kana, &self.venue.kyan) {
            (VenueKind::Kana, Some(kana), _) => {
                if let Err(e) = kana.api_key.load("venue.kana.api_key") {
                    missing.push(e);
                }
                match kana.private_key.load("venue.kana.private_key") {
                    Err(e) => missing.push(e),
                    Ok(secret) => {
                        if let Err(e) = secret.expose().parse::<crate::aptos::PrivateKey>() {
                            missing.push(format!("venue.kana.private_key: {e}"));
                        }
                    }
                }
            }
            (VenueKind::Kyan, _, Some(kyan)) => {
                if let Err(e) = kyan.api_key.load("venue.kyan.api_key") {
                    missing.push(e);
                }
                match kyan.private_key.load("venue.kyan.private_key") {
                    Err(e) => missing.push(e),
                    Ok(secret) => {
                        if let Err(e) =
                            crate::venue::kyan::signing::KyanSigner::from_hex(secret.expose())
                        {
                            missing.push(format!("venue.kyan.private_key: {e}"));
                        }
                    }
                }
            }
            _ => {}
        }
        missing
    }

    /// What would stop this config from trading now, each naming its key: the secrets it cannot
    /// read ([`Config::missing_secrets`]) and a missing mainnet confirmation. Empty when ready.
    pub fn not_ready(&self, mainnet_flag: bool) -> Vec<String> {
        let mut problems = self.missing_secrets();
        if let Err(e) = self.check_mainnet_confirmation(mainnet_flag) {
            problems.push(e);
        }
        problems
    }

    /// Where the risk limits' history is saved between runs ([`crate::limits::state_file`]).
    pub fn limits_file(&self) -> Option<PathBuf> {
        crate::limits::state_file(
            self.risk.state_file.as_deref(),
            self.engine.journal.as_deref(),
        )
    }

    /// True when this config trades real money.
    pub fn is_mainnet(&self) -> bool {
        match self.venue.kind {
            VenueKind::Kana => self
                .venue
                .kana
                .as_ref()
                .is_some_and(|k| k.network == Network::Mainnet),
            VenueKind::Kyan => self
                .venue
                .kyan
                .as_ref()
                .is_some_and(|k| k.network == Network::Mainnet),
            _ => false,
        }
    }

    /// Refuse mainnet unless confirmed in the file or by the CLI flag.
    pub fn check_mainnet_confirmation(&self, cli_flag: bool) -> Result<(), String> {
        let (confirmed, key) = match self.venue.kind {
            VenueKind::Kyan => (
                self.venue
                    .kyan
                    .as_ref()
                    .is_some_and(|k| k.i_understand_this_is_mainnet),
                "venue.kyan.i_understand_this_is_mainnet",
            ),
            _ => (
                self.venue
                    .kana
                    .as_ref()
                    .is_some_and(|k| k.i_understand_this_is_mainnet),
                "venue.kana.i_understand_this_is_mainnet",
            ),
        };
        if self.is_mainnet() && !(cli_flag || confirmed) {
            return Err(format!(
                "this config trades real money on mainnet: pass --i-understand-this-is-mainnet \
                 or set {key} = true"
            ));
        }
        Ok(())
    }
}

/// The dotted path of a string value stored under a secret-looking key, if any.
fn find_literal_secret(table: &toml::Table, prefix: &str) -> Option<String> {
    for (k, v) in table {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::String(_) if SECRET_KEYS.iter().any(|s| k == s) => return Some(path),
            toml::Value::Table(t) => {
                if let Some(p) = find_literal_secret(t, &path) {
                    return Some(p);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests;
