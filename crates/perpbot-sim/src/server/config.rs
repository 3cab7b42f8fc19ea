//! The simulator's settings: `perpbot sim --config FILE` and the `[venue.sim]` table of a bot
//! config both deserialise a [`SimConfig`] (TOML, `deny_unknown_fields`, every key optional with
//! the defaults written down once, in the `Default` impls below).
//!
//! ```toml
//! [venue.sim]
//! api_key = "sim"
//! chain_id = 4
//! block_latency_ms = 250
//! auto_fund = "10000"
//!
//! [venue.sim.exchange]          # the contract rules (defaults = Kana's documented ones)
//! maker_fee = "0"
//! taker_fee = "0.0005"
//! funding_interval_secs = 3600
//! funding = { model = "constant", rate = "0.0001" }
//! # funding = { model = "premium", sensitivity = "1", cap = "0.0002" }
//! mark_source = "index"         # index | mid | last_trade
//! self_match = "abort"          # abort | cancel_both | cancel_maker | cancel_taker
//! market_shortfall = "abort"    # abort | fill_partial
//!
//! [venue.sim.gas]               # what a transaction costs
//! base_units = 300
//! per_order_units = 150
//! apt_balance = "1000000"       # APT every wallet starts with
//!
//! [venue.sim.faults]            # all off by default; also readable / changeable at run time
//! rest_429_probability = 0.1    # through GET / POST /admin/faults (see super::admin)
//! retry_after_secs = 2
//! ```
//!
//! [`SimConfig::validate`] names the key of the first bad value (`sim.exchange.taker_fee …`; a
//! bot config prefixes `venue.`).

use std::time::Duration;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::exchange::ExchangeConfig;
use crate::funding::{FundingModel, MarkSource};
use crate::market::{SyntheticConfig, testnet_markets};
use crate::matching::{MarketShortfall, SelfMatchBehavior};
use perpbot_aptos::{AccountAddress, KanaAbort};
use perpbot_model::MarketSpec;

/// The simulator's package address (distinct from Kana's so nothing can be mistaken for real).
pub const SIM_PACKAGE: &str = "0x5157000000000000000000000000000000000000000000000000000000000001";

/// Octas (the APT sub-unit) per APT.
pub const OCTAS_PER_APT: u64 = 100_000_000;

/// Fault injection: every switch off by default. Probabilities are per event (a push round, a
/// REST call, a node call, a transaction) and drawn from their own seeded stream, so a run with
/// faults is as reproducible as one without. Readable and changeable while the simulator runs
/// through `GET` / `POST /admin/faults` ([`super::admin`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultConfig {
    /// Seed of the fault stream (changing it at run time restarts the stream).
    pub seed: u64,
    /// Close a WebSocket connection instead of sending a push.
    pub ws_drop_probability: f64,
    /// Delay every WebSocket push by this many ms (a fixed latency on every frame).
    pub ws_delay_ms: u64,
    /// Hold a round of WebSocket pushes for `ws_stall_ms` with the socket left open (an indexer
    /// that stops talking without disconnecting). Any change of the faults ends a stall early.
    pub ws_stall_probability: f64,
    /// How long a stall holds the pushes, in ms.
    pub ws_stall_ms: u64,
    /// Send a malformed frame instead of a push.
    pub ws_malformed_probability: f64,
    /// Answer a Kana REST call with 429 and `Retry-After`.
    pub rest_429_probability: f64,
    /// `Retry-After` seconds sent with a 429 (REST and node).
    pub retry_after_secs: u64,
    /// Answer a Kana REST call with a 503.
    pub rest_5xx_probability: f64,
    /// Stall a REST call past any sane client timeout.
    pub rest_timeout_probability: f64,
    /// Answer a node submit or transaction lookup (`POST /v1/transactions`,
    /// `GET /v1/transactions/by_hash/…`, `…/wait_by_hash/…`) with 429 and `Retry-After`, before
    /// looking at it (a submission refused this way is not in the mempool).
    pub node_429_probability: f64,
    /// Answer a node submit or transaction lookup with a 500 `internal_error`, before looking at
    /// it (the client cannot tell, so a submission is ambiguous to it).
    pub node_5xx_probability: f64,
    /// Abort a submitted transaction at commit (a Move abort with `tx_abort_code`).
    pub tx_abort_probability: f64,
    /// The Kana `perpetual_core` code of an injected abort (1001–1014; default 1002
    /// `E_PAUSED`, a transient refusal a client may meet on the real chain).
    pub tx_abort_code: u64,
    /// Let a submitted transaction expire instead of committing it.
    pub tx_expire_probability: f64,
    /// Accept a transaction and never commit it (lost).
    pub tx_lose_probability: f64,
    /// Report an account's sequence number out of step (one behind).
    pub sequence_skew_probability: f64,
}

impl Default for FaultConfig {
    fn default() -> FaultConfig {
        FaultConfig {
            seed: 1,
            ws_drop_probability: 0.0,
            ws_delay_ms: 0,
            ws_stall_probability: 0.0,
            ws_stall_ms: 5_000,
            ws_malformed_probability: 0.0,
            rest_429_probability: 0.0,
            retry_after_secs: 1,
            rest_5xx_probability: 0.0,
            rest_timeout_probability: 0.0,
            node_429_probability: 0.0,
            node_5xx_probability: 0.0,
            tx_abort_probability: 0.0,
            tx_abort_code: KanaAbort::Paused.code(),
            tx_expire_probability: 0.0,
            tx_lose_probability: 0.0,
            sequence_skew_probability: 0.0,
        }
    }
}

impl FaultConfig {
    /// Check every probability is within 0..=1 and the abort code is a known Kana code; the
    /// message names the key.
    pub fn validate(&self, prefix: &str) -> Result<(), String> {
        for (key, p) in [
            ("ws_drop_probability", self.ws_drop_probability),
            ("ws_stall_probability", self.ws_stall_probability),
            ("ws_malformed_probability", self.ws_malformed_probability),
            ("rest_429_probability", self.rest_429_probability),
            ("rest_5xx_probability", self.rest_5xx_probability),
            ("rest_timeout_probability", self.rest_timeout_probability),
            ("node_429_probability", self.node_429_probability),
            ("node_5xx_probability", self.node_5xx_probability),
            ("tx_abort_probability", self.tx_abort_probability),
            ("tx_expire_probability", self.tx_expire_probability),
            ("tx_lose_probability", self.tx_lose_probability),
            ("sequence_skew_probability", self.sequence_skew_probability),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{prefix}.{key} must be within 0..=1, got {p}"));
            }
        }
        if KanaAbort::from_code(self.tx_abort_code).is_none() {
            return Err(format!(
                "{prefix}.tx_abort_code must be a Kana perpetual_core code (1001..=1014), got {}",
                self.tx_abort_code
            ));
        }
        Ok(())
    }

    /// The abort an injected `tx_abort` fault commits.
    pub fn abort(&self) -> KanaAbort {
        KanaAbort::from_code(self.tx_abort_code).unwrap_or(KanaAbort::Paused)
    }
}

/// The contract rules (`[venue.sim.exchange]`): fees, funding, mark price, self-match and
/// market-order shortfall. Every default is the simulator's long-standing behaviour (Kana's
/// documented fees, reference §9.4; the rest is \[INF\], see [`crate::sim`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExchangeRules {
    /// Fee on maker fills, a fraction of notional (Kana: 0).
    pub maker_fee: Decimal,
    /// Fee on taker fills, a fraction of notional (Kana: 0.0005 = 0.05 %).
    pub taker_fee: Decimal,
    /// Funding-rate model (Kana's is unknown; default a constant 0.01 % per interval).
    pub funding: FundingModel,
    /// Seconds between funding settlements (Kana's interval is unknown; default one hour).
    pub funding_interval_secs: u64,
    /// Where the mark price comes from.
    pub mark_source: MarkSource,
    /// What a taker reaching its own resting order does (Econia's self-match flags; default
    /// abort with `E_SELF_MATCH`).
    pub self_match: SelfMatchBehavior,
    /// What a market order the book cannot fill does (default abort with Kana 1007).
    pub market_shortfall: MarketShortfall,
}

impl Default for ExchangeRules {
    fn default() -> ExchangeRules {
        let base = ExchangeConfig::default();
        ExchangeRules {
            maker_fee: base.ledger.fees.maker,
            taker_fee: base.ledger.fees.taker,
            funding: base.ledger.funding,
            funding_interval_secs: base.ledger.funding_interval.as_secs(),
            mark_source: base.ledger.mark_source,
            self_match: base.matching.self_match,
            market_shortfall: base.matching.market_shortfall,
        }
    }
}

impl ExchangeRules {
    /// Check the rules; the message names the key.
    pub fn validate(&self, prefix: &str) -> Result<(), String> {
        let one = Decimal::ONE;
        for (key, fee) in [("maker_fee", self.maker_fee), ("taker_fee", self.taker_fee)] {
            if fee.is_sign_negative() || fee >= one {
                return Err(format!(
                    "{prefix}.{key} must be a fraction of notional within 0..1, got {fee}"
                ));
            }
        }
        if self.funding_interval_secs == 0 {
            return Err(format!(
                "{prefix}.funding_interval_secs must be at least 1 (use a constant rate of 0 for no funding)"
            ));
        }
        match self.funding {
            FundingModel::Constant { rate } => {
                if rate.abs() >= one {
                    return Err(format!(
                        "{prefix}.funding.rate must be within -1..1 per interval, got {rate}"
                    ));
                }
            }
            FundingModel::Premium { sensitivity, cap } => {
                if sensitivity.is_sign_negative() {
                    return Err(format!(
                        "{prefix}.funding.sensitivity must not be negative, got {sensitivity}"
                    ));
                }
                if cap.is_sign_negative() || cap >= one {
                    return Err(format!(
                        "{prefix}.funding.cap must be within 0..1 per interval, got {cap}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// `base` with these rules applied.
    pub fn apply(&self, mut base: ExchangeConfig) -> ExchangeConfig {
        base.ledger.fees.maker = self.maker_fee;
        base.ledger.fees.taker = self.taker_fee;
        base.ledger.funding = self.funding;
        base.ledger.funding_interval = Duration::from_secs(self.funding_interval_secs);
        base.ledger.mark_source = self.mark_source;
        base.matching.self_match = self.self_match;
        base.matching.market_shortfall = self.market_shortfall;
        base
    }
}

/// What transactions cost (`[venue.sim.gas]`). Aptos charges `gas_used × gas_unit_price` octas
/// to the sender; the simulator's `gas_used` is a deterministic model, not a metered VM:
/// `base_units + per_order_units × orders`, where `orders` counts every order a call names
/// (each placed and each cancelled order; a collapse counts one). A failed transaction is charged
/// the same; one whose cost exceeds its `max_gas_amount` fails `Out of gas` and is charged its
/// `max_gas_amount`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GasModel {
    /// Gas units of any transaction (default 300).
    pub base_units: u64,
    /// Gas units per order named by the call (default 150).
    pub per_order_units: u64,
    /// APT every wallet holds when first seen, for gas (default 1 000 000).
    pub apt_balance: Decimal,
}

impl Default for GasModel {
    fn default() -> GasModel {
        GasModel {
            base_units: 300,
            per_order_units: 150,
            apt_balance: Decimal::from(1_000_000),
        }
    }
}

impl GasModel {
    /// Check the model; the message names the key.
    pub fn validate(&self, prefix: &str) -> Result<(), String> {
        if self.base_units == 0 {
            return Err(format!(
                "{prefix}.base_units must be at least 1 (every Aptos transaction costs gas)"
            ));
        }
        if self.initial_octas().is_none() {
            return Err(format!(
                "{prefix}.apt_balance must be a non-negative APT amount with at most 8 decimals \
                 that fits in u64 octas, got {}",
                self.apt_balance
            ));
        }
        Ok(())
    }

    /// `apt_balance` in octas; `None` when it is negative, finer than an octa or too large.
    pub fn initial_octas(&self) -> Option<u64> {
        use rust_decimal::prelude::ToPrimitive;
        let octas = self.apt_balance.checked_mul(Decimal::from(OCTAS_PER_APT))?;
        if octas.is_sign_negative() || !octas.fract().is_zero() {
            return None;
        }
        octas.to_u64()
    }

    /// Gas units of a call naming `orders` orders.
    pub fn units(&self, orders: u64) -> u64 {
        self.base_units
            .saturating_add(self.per_order_units.saturating_mul(orders))
    }
}

/// Simulator settings (`perpbot sim --config`, or `[venue.sim]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// The `x-api-key` the REST API (and the admin routes) require.
    pub api_key: String,
    /// Chain id the node reports and transactions must carry (4 = a local network).
    pub chain_id: u8,
    /// Address the simulated Kana package is published at.
    pub package: String,
    /// Time between a transaction's submission and its commit (one "block").
    pub block_latency_ms: u64,
    /// Collateral (quote units) credited to a wallet's profile the first time it is seen, so a
    /// fresh key can trade at once.
    pub auto_fund: Decimal,
    /// Markets (default: testnet's APT, BTC, ETH, SOL).
    pub markets: Vec<MarketSpec>,
    /// Contract rules: fees, funding, mark price, self-match, market shortfall.
    pub exchange: ExchangeRules,
    /// Transaction costs.
    pub gas: GasModel,
    /// The synthetic market.
    pub synthetic: SyntheticConfig,
    /// Fault injection.
    pub faults: FaultConfig,
    /// Which documented shape records take where Kana's docs disagree.
    pub wire: super::wire_shape::WireShape,
    /// Address of the test-USDT faucet module (`usdt::faucet`), default Kana testnet's
    /// (reference §1.4 \[DOC\]).
    pub faucet_package: String,
}

/// Kana testnet's test-USDT faucet package (reference §1.4 \[DOC\]).
pub const TESTNET_USDT_FAUCET: &str =
    "0x24246c14448a5994d9f23e3b978da2a354e64b6dfe54220debb8850586c448cc";

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            api_key: "sim".to_string(),
            chain_id: 4,
            package: SIM_PACKAGE.to_string(),
            block_latency_ms: 250,
            auto_fund: Decimal::from(10_000),
            markets: testnet_markets(),
            exchange: ExchangeRules::default(),
            gas: GasModel::default(),
            synthetic: SyntheticConfig::default(),
            faults: FaultConfig::default(),
            wire: super::wire_shape::WireShape::default(),
            faucet_package: TESTNET_USDT_FAUCET.to_string(),
        }
    }
}

impl SimConfig {
    /// Check the settings; messages name the key.
    pub fn validate(&self) -> Result<(), String> {
        AccountAddress::from_hex(&self.package).map_err(|e| format!("sim.package: {e}"))?;
        AccountAddress::from_hex(&self.faucet_package)
            .map_err(|e| format!("sim.faucet_package: {e}"))?;
        if self.markets.is_empty() {
            return Err("sim.markets: at least one market".into());
        }
        for (i, m) in self.markets.iter().enumerate() {
            m.validate().map_err(|e| format!("sim.markets[{i}]: {e}"))?;
        }
        self.exchange.validate("sim.exchange")?;
        self.gas.validate("sim.gas")?;
        self.synthetic.validate("sim.synthetic")?;
        self.faults.validate("sim.faults")
    }

    /// The exchange's settings for the simulated package at `package`.
    pub fn exchange_config(&self, package: AccountAddress) -> ExchangeConfig {
        self.exchange.apply(ExchangeConfig {
            package,
            faucet_package: AccountAddress::from_hex(&self.faucet_package).ok(),
            ..ExchangeConfig::default()
        })
    }
}

#[cfg(test)]
mod tests;
