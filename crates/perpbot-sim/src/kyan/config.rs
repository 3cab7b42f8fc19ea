//! The Kyan simulator's settings ([`KyanSimConfig`]) and fault switches ([`KyanFaults`]): every
//! key has a default, so an empty table is a working venue (both perpetuals, synthetic traders,
//! Kyan's documented fees), and every refusal names the key.

use alloy_primitives::Address;
use perpbot_model::{MarketId, MarketSpec};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::market::{MarketProcessConfig, SyntheticConfig};

/// Decimals of the base asset inside the simulator's books (lots are `contracts_increment`, so
/// any increment with at most 8 decimals is exact).
pub const BASE_DECIMALS: u32 = 8;
/// Decimals of USDC (Kyan's collateral and its signed amounts, reference §3.2).
pub const QUOTE_DECIMALS: u32 = 6;

/// One perpetual the simulator lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentConfig {
    /// The book's numeric id inside the simulator (and the synthetic market's key).
    pub id: u64,
    /// `BTC_USDC-PERPETUAL`, …: `{PAIR}-PERPETUAL`.
    pub name: String,
    /// Price grid in USDC (\[D 1.14\]: BTC 1, ETH 0.1).
    pub price_increment: Decimal,
    /// Size grid in contracts (base units) (**\[ASSUMED\]**: BTC 0.0001, ETH 0.001).
    pub contracts_increment: Decimal,
    /// Where the synthetic fair price (the index) starts.
    pub start_price: Decimal,
}

impl InstrumentConfig {
    /// `BTC_USDC` of `BTC_USDC-PERPETUAL`.
    pub fn pair(&self) -> &str {
        self.name.split('-').next().unwrap_or(&self.name)
    }

    /// `BTC` of `BTC_USDC-PERPETUAL`.
    pub fn base(&self) -> &str {
        self.pair().split('_').next().unwrap_or(self.pair())
    }

    /// The book's grid: a lot is one `contracts_increment`, a tick one `price_increment`.
    pub fn spec(&self) -> Result<MarketSpec, String> {
        let scale = |d: Decimal, exp: u32| -> Option<u64> {
            let v = d.checked_mul(Decimal::from(10u64.checked_pow(exp)?))?;
            (v.fract().is_zero() && v > Decimal::ZERO)
                .then(|| rust_decimal::prelude::ToPrimitive::to_u64(&v))
                .flatten()
        };
        let lot_size = scale(self.contracts_increment, BASE_DECIMALS).ok_or_else(|| {
            format!(
                "contracts_increment {} must be positive with at most {BASE_DECIMALS} decimals",
                self.contracts_increment
            )
        })?;
        let tick_size = self
            .price_increment
            .checked_mul(self.contracts_increment)
            .and_then(|q| scale(q, QUOTE_DECIMALS))
            .ok_or_else(|| {
                format!(
                    "price_increment {} × contracts_increment {} must be a positive multiple of 10^-{QUOTE_DECIMALS} USDC",
                    self.price_increment, self.contracts_increment
                )
            })?;
        let spec = MarketSpec {
            id: MarketId(self.id),
            name: self.name.clone(),
            base_decimals: BASE_DECIMALS,
            quote_decimals: QUOTE_DECIMALS,
            lot_size,
            tick_size,
            min_lots: 1,
            max_lots: 1_000_000_000_000,
            // Not used by Kyan's margin (portfolio margin below); present for the shared spec.
            max_leverage: 20,
            maintenance_margin_bps: 500,
            quote_precision: self.price_increment.normalize().scale(),
        };
        spec.validate()?;
        Ok(spec)
    }
}

/// Fees as fractions of notional, charged as USDC amounts on every fill (\[D\] getting-started:
/// maker 0 bps, taker 8 bps, systemic-risk 0.25 bps on every trade).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KyanFees {
    /// Maker fee (default 0).
    pub maker: Decimal,
    /// Taker fee (default 0.0008).
    pub taker: Decimal,
    /// Systemic-risk fee on maker and taker alike (default 0.000025).
    pub systemic: Decimal,
}

impl Default for KyanFees {
    fn default() -> KyanFees {
        KyanFees {
            maker: Decimal::ZERO,
            taker: Decimal::new(8, 4),
            systemic: Decimal::new(25, 6),
        }
    }
}

/// Portfolio margin per underlying, simplified (Kyan's matrix risk is UNKNOWN in detail):
/// `IM = Σ|position notional at mark| × im_rate + Σ open-order notional × im_rate`,
/// `MM = Σ|position notional at mark| × mm_rate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KyanMargin {
    /// Initial-margin rate (default 0.10).
    pub im_rate: Decimal,
    /// Maintenance-margin rate (default 0.05).
    pub mm_rate: Decimal,
}

impl Default for KyanMargin {
    fn default() -> KyanMargin {
        KyanMargin {
            im_rate: Decimal::new(10, 2),
            mm_rate: Decimal::new(5, 2),
        }
    }
}

/// Funding (\[D\] funding-rate-specification, newest version).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KyanFunding {
    /// Seconds between settlements (Kyan: 3600). The hourly rate is paid once per interval, so a
    /// shortened interval is a fast-forwarded hour.
    pub interval_secs: u64,
    /// Premium dead zone (default 0.0005).
    pub dead_zone: Decimal,
    /// Premium clamp (default 0.005).
    pub clamp: Decimal,
    /// Divisor from the clamped premium to the hourly rate (default 8).
    pub divisor: Decimal,
}

impl Default for KyanFunding {
    fn default() -> KyanFunding {
        KyanFunding {
            interval_secs: 3_600,
            dead_zone: Decimal::new(5, 4),
            clamp: Decimal::new(5, 3),
            divisor: Decimal::from(8),
        }
    }
}

/// Fault injection, seeded (mirrors the Kana simulator's `FaultConfig`). A probability of 0 draws
/// nothing from the stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KyanFaults {
    /// Seed of the fault stream.
    pub seed: u64,
    /// Close a private or public WebSocket instead of sending an event.
    pub ws_drop_probability: f64,
    /// Hold a connection's events for `ws_stall_ms` with the socket open.
    pub ws_stall_probability: f64,
    /// Length of a stall in ms.
    pub ws_stall_ms: u64,
    /// Send a malformed frame instead of an event.
    pub ws_malformed_probability: f64,
    /// Skip an event on the private WebSocket while advancing `seq_id` (a gap).
    pub ws_seq_gap_probability: f64,
    /// Answer a REST call 429 `RATE_LIMIT_EXCEEDED` with `retry-after`.
    pub rest_429_probability: f64,
    /// `retry-after` seconds.
    pub retry_after_secs: u64,
    /// Answer a REST call 503; half of them after the request was applied (ambiguous).
    pub rest_5xx_probability: f64,
    /// Stall a REST call for `rest_stall_ms` (a client timeout), then drop it unapplied.
    pub rest_timeout_probability: f64,
    /// Length of a REST stall in ms.
    pub rest_stall_ms: u64,
}

impl Default for KyanFaults {
    fn default() -> KyanFaults {
        KyanFaults {
            seed: 1,
            ws_drop_probability: 0.0,
            ws_stall_probability: 0.0,
            ws_stall_ms: 5_000,
            ws_malformed_probability: 0.0,
            ws_seq_gap_probability: 0.0,
            rest_429_probability: 0.0,
            retry_after_secs: 1,
            rest_5xx_probability: 0.0,
            rest_timeout_probability: 0.0,
            rest_stall_ms: 30_000,
        }
    }
}

impl KyanFaults {
    /// Every probability within 0..=1; the message names the key.
    pub fn validate(&self, prefix: &str) -> Result<(), String> {
        for (key, p) in [
            ("ws_drop_probability", self.ws_drop_probability),
            ("ws_stall_probability", self.ws_stall_probability),
            ("ws_malformed_probability", self.ws_malformed_probability),
            ("ws_seq_gap_probability", self.ws_seq_gap_probability),
            ("rest_429_probability", self.rest_429_probability),
            ("rest_5xx_probability", self.rest_5xx_probability),
            ("rest_timeout_probability", self.rest_timeout_probability),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{prefix}.{key} must be within 0..=1, got {p}"));
            }
        }
        Ok(())
    }
}

/// Faults injected so far, by kind (`GET /admin/faults/injected`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KyanFaultTally {
    /// WebSocket connections dropped.
    pub ws_drops: u64,
    /// WebSocket stalls.
    pub ws_stalls: u64,
    /// Malformed frames sent.
    pub ws_malformed: u64,
    /// `seq_id` gaps made.
    pub ws_seq_gaps: u64,
    /// REST 429s.
    pub rest_429: u64,
    /// REST 503s before applying.
    pub rest_5xx_unapplied: u64,
    /// REST 503s after applying (the ambiguous case).
    pub rest_5xx_applied: u64,
    /// REST stalls.
    pub rest_timeouts: u64,
}

/// Settings of the Kyan simulator (e.g. `[venue.kyan.sim]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KyanSimConfig {
    /// The `x-apikey` (and WebSocket `api_key`) it accepts (default `sim`).
    pub api_key: String,
    /// Chain id of the EIP-712 domain (default 421614, Arbitrum Sepolia).
    pub chain_id: u64,
    /// Verifying contract of the domain (default Kyan's testnet proxy), as `0x…` text.
    #[serde(with = "address_text")]
    pub verifying_contract: Address,
    /// The perpetuals listed (default BTC and ETH).
    pub instruments: Vec<InstrumentConfig>,
    /// The synthetic traders; `None` leaves the books to the clients (the index stays at each
    /// instrument's start price).
    pub synthetic: Option<SyntheticConfig>,
    /// Fees.
    pub fees: KyanFees,
    /// Margin.
    pub margin: KyanMargin,
    /// Funding.
    pub funding: KyanFunding,
    /// Market orders fill-or-kill instead of immediate-or-cancel (\[D\] says "IOC/FOK"; default
    /// IOC, **\[ASSUMED\]**).
    pub market_fok: bool,
    /// USDC credited to a new maker's margin account of each pair on first sight (default
    /// 1,000,000), so a bot trades with no setup.
    pub auto_fund_usdc: Decimal,
    /// A private WebSocket session is closed (code 4000) after this many seconds (Kyan: 3600).
    pub session_cap_secs: u64,
    /// Centrifugo server ping period in seconds (default 25).
    pub ping_secs: u64,
    /// Period of the driver (synthetic step, public stream, heartbeats, liquidation) in ms.
    pub step_ms: u64,
    /// Fault injection.
    pub faults: KyanFaults,
}

impl Default for KyanSimConfig {
    fn default() -> KyanSimConfig {
        KyanSimConfig {
            api_key: "sim".into(),
            chain_id: perpbot_kyan::signing::TESTNET_CHAIN_ID,
            verifying_contract: perpbot_kyan::signing::TESTNET_VERIFYING_CONTRACT,
            instruments: default_instruments(),
            synthetic: Some(SyntheticConfig::default()),
            fees: KyanFees::default(),
            margin: KyanMargin::default(),
            funding: KyanFunding::default(),
            market_fok: false,
            auto_fund_usdc: Decimal::from(1_000_000),
            session_cap_secs: 3_600,
            ping_secs: 25,
            step_ms: 250,
            faults: KyanFaults::default(),
        }
    }
}

/// BTC (id 1, tick 1, lot 0.0001, start 100,000) and ETH (id 2, tick 0.1, lot 0.001, 3,500).
pub fn default_instruments() -> Vec<InstrumentConfig> {
    vec![
        InstrumentConfig {
            id: 1,
            name: "BTC_USDC-PERPETUAL".into(),
            price_increment: Decimal::ONE,
            contracts_increment: Decimal::new(1, 4),
            start_price: Decimal::from(100_000),
        },
        InstrumentConfig {
            id: 2,
            name: "ETH_USDC-PERPETUAL".into(),
            price_increment: Decimal::new(1, 1),
            contracts_increment: Decimal::new(1, 3),
            start_price: Decimal::from(3_500),
        },
    ]
}

impl KyanSimConfig {
    /// Check every key; the message names the first bad one (`kyan.<key>`).
    pub fn validate(&self) -> Result<(), String> {
        if self.api_key.is_empty() {
            return Err("kyan.api_key must not be empty".into());
        }
        if self.instruments.is_empty() {
            return Err("kyan.instruments must list at least one perpetual".into());
        }
        let mut ids = std::collections::BTreeSet::new();
        let mut names = std::collections::BTreeSet::new();
        for (i, inst) in self.instruments.iter().enumerate() {
            let key = format!("kyan.instruments[{i}]");
            if !inst.name.ends_with("-PERPETUAL") || !inst.pair().contains('_') {
                return Err(format!(
                    "{key}.name {:?} must be {{BASE}}_{{QUOTE}}-PERPETUAL",
                    inst.name
                ));
            }
            if !ids.insert(inst.id) || !names.insert(inst.name.clone()) {
                return Err(format!("{key}: id or name listed twice"));
            }
            inst.spec().map_err(|e| format!("{key}: {e}"))?;
            if inst.start_price <= Decimal::ZERO {
                return Err(format!("{key}.start_price must be positive"));
            }
        }
        if let Some(s) = &self.synthetic {
            s.validate("kyan.synthetic")?;
        }
        for (key, v) in [
            ("fees.maker", self.fees.maker),
            ("fees.taker", self.fees.taker),
            ("fees.systemic", self.fees.systemic),
            ("margin.im_rate", self.margin.im_rate),
            ("margin.mm_rate", self.margin.mm_rate),
            ("funding.dead_zone", self.funding.dead_zone),
            ("funding.clamp", self.funding.clamp),
            ("auto_fund_usdc", self.auto_fund_usdc),
        ] {
            if v.is_sign_negative() && !v.is_zero() {
                return Err(format!("kyan.{key} must not be negative, got {v}"));
            }
        }
        if self.margin.mm_rate > self.margin.im_rate {
            return Err("kyan.margin.mm_rate must not exceed kyan.margin.im_rate".into());
        }
        if self.funding.divisor <= Decimal::ZERO {
            return Err("kyan.funding.divisor must be positive".into());
        }
        for (key, v) in [
            ("funding.interval_secs", self.funding.interval_secs),
            ("session_cap_secs", self.session_cap_secs),
            ("ping_secs", self.ping_secs),
            ("step_ms", self.step_ms),
        ] {
            if v == 0 {
                return Err(format!("kyan.{key} must be positive"));
            }
        }
        self.faults.validate("kyan.faults")
    }

    /// The synthetic market's config with each instrument's start price filled in.
    pub(crate) fn synthetic_config(&self) -> Option<SyntheticConfig> {
        let mut s = self.synthetic.clone()?;
        for inst in &self.instruments {
            let entry = s
                .markets
                .entry(inst.id.to_string())
                .or_insert_with(MarketProcessConfig::default);
            if entry.start_price.is_none() {
                entry.start_price = Some(inst.start_price);
            }
        }
        Some(s)
    }
}

/// `Address` as `0x…` text in config (alloy's serde feature is not built in this workspace).
mod address_text {
    use std::str::FromStr;

    use alloy_primitives::Address;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(a: &Address, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{a:#x}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Address, D::Error> {
        let text = String::deserialize(d)?;
        Address::from_str(text.trim()).map_err(|_| {
            serde::de::Error::custom(format!("{text:?} is not a 0x-prefixed 20-byte address"))
        })
    }
}
