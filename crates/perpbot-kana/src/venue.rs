//! [`KanaVenue`]: Kana Perps as a [`Venue`] — the WebSocket indexer as the stream half and the
//! REST → Aptos transaction [`KanaWriter`] as the writer half.
//!
//! Connecting resolves everything the session needs once: the trading key and its address (or
//! the owner's, when trading with a delegate key), the chain id (checked against the config), the
//! account's sequence number, each market's spec (`getMarketInfo`), and the profile address the
//! WebSocket keys account topics by (`getProfileAddress`, normalised). After every (re)connect
//! the WebSocket client resubscribes and resynchronises open orders and positions over REST
//! before it reports `Resynced`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, mpsc};
use tracing::{info, warn};

use crate::balance::{self, BalancePolling};

use crate::config::KanaConfig;
use perpbot_aptos::node::ensure_crypto_provider;
use perpbot_aptos::{AccountAddress, GasConfig, NodeClient, PrivateKey, Submitter};
use perpbot_core::venue::{Venue, VenueError, VenueSession};
use perpbot_model::clock::Clock;
use perpbot_model::{MarketId, MarketSpec};

use super::decode::{KanaDecoder, KanaUnits};
use super::rest::{KanaRest, RetryPolicy};
use super::writer::{KanaWriter, WriterConfig};
use super::ws::{self, FrameTap, RestResync, Subscriptions, WsConfig};

const NAME: &str = "kana";

fn config_error(detail: impl Into<String>) -> VenueError {
    VenueError::Config {
        venue: NAME,
        detail: detail.into(),
    }
}

fn connection_error(detail: impl Into<String>) -> VenueError {
    VenueError::Connection {
        venue: NAME,
        detail: detail.into(),
    }
}

/// The authenticated pieces every Kana operation needs: REST client, transaction submitter and
/// the wallet the account lives under.
pub struct KanaAccess {
    /// REST client (with the API key).
    pub rest: Arc<KanaRest>,
    /// Signs and submits transactions for the trading key.
    pub submitter: Arc<Submitter>,
    /// The wallet whose profile trades: the key's address, or the owner's with a delegate key.
    pub wallet: AccountAddress,
    /// Writer settings derived from the config.
    pub writer: WriterConfig,
}

impl KanaAccess {
    /// Load the secrets named by the config, check the node's chain id and read the account's
    /// sequence number.
    pub async fn open(config: &KanaConfig) -> Result<KanaAccess, VenueError> {
        let credentials = Credentials::load(config)?;
        KanaAccess::open_with(config, credentials).await
    }

    /// The same with credentials already in hand (the embedded simulator generates its own).
    pub async fn open_with(
        config: &KanaConfig,
        credentials: Credentials,
    ) -> Result<KanaAccess, VenueError> {
        ensure_crypto_provider();
        let timeout = Duration::from_millis(config.request_timeout_ms);
        let Credentials { api_key, key } = credentials;
        let owner = match &config.delegate_for {
            Some(text) => Some(
                AccountAddress::from_hex(text)
                    .map_err(|e| config_error(format!("venue.kana.delegate_for: {e}")))?,
            ),
            None => None,
        };
        let wallet = owner.unwrap_or_else(|| key.address());
        let rest = KanaRest::new(
            &config.rest_url,
            Some(api_key),
            timeout,
            RetryPolicy::default(),
        )
        .map_err(|e| config_error(e.to_string()))?;
        let node =
            NodeClient::new(&config.node_url, timeout).map_err(|e| config_error(e.to_string()))?;
        let gas = GasConfig {
            max_gas_amount: config.max_gas_amount,
            gas_unit_price: config.gas_unit_price,
            expiration_secs: config.expiration_secs,
        };
        let submitter = Submitter::connect(node, key, gas)
            .await
            .map_err(|e| connection_error(format!("Aptos node {}: {e}", config.node_url)))?;
        if submitter.chain_id() != config.chain_id {
            return Err(config_error(format!(
                "venue.kana.chain_id is {} but the node at {} serves chain {}",
                config.chain_id,
                config.node_url,
                submitter.chain_id()
            )));
        }
        let writer = WriterConfig {
            confirm_timeout: Duration::from_millis(config.confirm_timeout_ms),
            max_batch: config.max_batch,
            delegate_for: owner,
        };
        Ok(KanaAccess {
            rest: Arc::new(rest),
            submitter: Arc::new(submitter),
            wallet,
            writer,
        })
    }
}

/// The secrets a Kana session needs. `Debug` shows neither.
pub struct Credentials {
    /// REST API key.
    pub api_key: crate::config::Secret,
    /// The trading key (the owner's, or a delegate's).
    pub key: PrivateKey,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

impl Credentials {
    /// Load both from where the config says (environment variable or key file).
    pub fn load(config: &KanaConfig) -> Result<Credentials, VenueError> {
        let api_key = config
            .api_key
            .load("venue.kana.api_key")
            .map_err(config_error)?;
        let secret = config
            .private_key
            .load("venue.kana.private_key")
            .map_err(config_error)?;
        let key: PrivateKey = secret
            .expose()
            .parse()
            .map_err(|e| config_error(format!("venue.kana.private_key: {e}")))?;
        Ok(Credentials { api_key, key })
    }
}

/// Kana Perps, ready to connect.
pub struct KanaVenue {
    config: KanaConfig,
    clock: Clock,
    ws: WsConfig,
    credentials: Option<Credentials>,
    package: Option<AccountAddress>,
}

impl KanaVenue {
    /// A venue for the given settings.
    pub fn new(config: KanaConfig, clock: Clock) -> KanaVenue {
        let ws = WsConfig {
            url: config.ws_url.clone(),
            ..WsConfig::default()
        };
        KanaVenue {
            config,
            clock,
            ws,
            credentials: None,
            package: None,
        }
    }

    /// Sign only payloads of this Kana package. Without it the writer pins
    /// [`super::writer::default_package`] for the node's chain (Kana's own address on mainnet
    /// and testnet), or the config's `venue.kana.package`.
    pub fn with_package(mut self, package: AccountAddress) -> KanaVenue {
        self.package = Some(package);
        self
    }

    /// Use these credentials instead of loading them from the config's secret sources.
    pub fn with_credentials(mut self, credentials: Credentials) -> KanaVenue {
        self.credentials = Some(credentials);
        self
    }

    /// Replace the WebSocket settings (ping, silence, back-off).
    pub fn with_ws_config(mut self, ws: WsConfig) -> KanaVenue {
        self.ws = ws;
        self
    }
}

/// Kana's `market_status` of an active market (\[COMM\]/\[INF\], reference §3.2).
const MARKET_ACTIVE: u64 = 1;

/// Fetch the specs of the markets to trade; a market Kana does not know fails the connect. A
/// market whose status is not active (paused, delisted) is left out of the session, with a
/// warning naming it: the engine then knows no such market and risk refuses every order for it.
/// With no active market left the connect fails. A record without a status (older generations)
/// counts as active \[INF\].
async fn market_specs(
    rest: &KanaRest,
    markets: &[MarketId],
) -> Result<Vec<MarketSpec>, VenueError> {
    let mut specs = Vec::with_capacity(markets.len());
    let mut inactive = Vec::new();
    for &market in markets {
        let (spec, status) = rest.market_spec_and_status(market).await.map_err(|e| {
            if e.status() == Some(404) {
                VenueError::UnknownMarket {
                    venue: NAME,
                    market,
                }
            } else {
                connection_error(format!("getMarketInfo {market}: {e}"))
            }
        })?;
        match status {
            Some(s) if s != MARKET_ACTIVE => {
                warn!(%market, market_status = s, "market is not active on Kana: not traded");
                inactive.push(format!("{market} (market_status {s})"));
            }
            _ => specs.push(spec),
        }
    }
    if specs.is_empty() && !inactive.is_empty() {
        return Err(config_error(format!(
            "no market to trade: not active on Kana: {}",
            inactive.join(", ")
        )));
    }
    Ok(specs)
}

#[async_trait]
impl Venue for KanaVenue {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn connect(self: Box<Self>, markets: &[MarketId]) -> Result<VenueSession, VenueError> {
        let credentials = match self.credentials {
            Some(c) => c,
            None => Credentials::load(&self.config)?,
        };
        let access = KanaAccess::open_with(&self.config, credentials).await?;
        let specs = market_specs(&access.rest, markets).await?;
        // Only the active markets are subscribed and traded.
        let markets: Vec<MarketId> = specs.iter().map(|s| s.id).collect();
        let markets = markets.as_slice();
        let profile = access
            .rest
            .profile_address(access.wallet)
            .await
            .map_err(|e| connection_error(format!("getProfileAddress: {e}")))?;
        info!(wallet = %access.wallet, %profile, markets = ?markets, "Kana account resolved");
        let decoder = KanaDecoder::new(specs.clone(), KanaUnits::Auto)
            .map_err(|e| config_error(e.to_string()))?;
        let subs = Subscriptions {
            markets: markets.to_vec(),
            funding: true,
            // Deposits and withdrawals wake the balance reader.
            transfers: self.config.balance_poll_ms > 0,
            ..Subscriptions::default()
        }
        .with_profile(&profile)
        .map_err(|e| connection_error(format!("profile address {profile}: {e}")))?;
        let resync = RestResync::new(Arc::clone(&access.rest), access.wallet, Vec::new())
            .with_missed_fills(self.clock);
        let (tx, events) = mpsc::channel(4096);
        // The collateral: read now, on a timer, and soon after the stream shows a fill or a
        // transfer (the tap sees every live frame).
        let balance = (self.config.balance_poll_ms > 0).then(|| {
            let wake = Arc::new(Notify::new());
            let polling = BalancePolling {
                interval: Duration::from_millis(self.config.balance_poll_ms),
                ..BalancePolling::default()
            };
            (wake, polling)
        });
        let tap: Option<FrameTap> = balance.as_ref().map(|(wake, _)| {
            let wake = Arc::clone(wake);
            Arc::new(move |_: perpbot_model::Timestamp, frame: &str| {
                if balance::moves_collateral(frame) {
                    wake.notify_one();
                }
            }) as FrameTap
        });
        if let Some((wake, polling)) = balance {
            balance::spawn(
                Arc::clone(&access.rest),
                access.wallet,
                self.clock,
                polling,
                wake,
                tx.clone(),
            );
        }
        let (_task, ws_stats) = ws::spawn_tapped(
            self.ws.clone(),
            subs,
            decoder,
            Some(Arc::new(resync)),
            tx,
            self.clock,
            tap,
        );
        let mut writer =
            KanaWriter::new(access.rest, access.submitter, specs.clone(), access.writer);
        let configured = match &self.config.package {
            Some(text) => Some(
                AccountAddress::from_hex(text)
                    .map_err(|e| config_error(format!("venue.kana.package: {e}")))?,
            ),
            None => None,
        };
        if let Some(package) = self.package.or(configured) {
            writer = writer.with_package(package);
        }
        info!(package = %writer.package(), "signing only payloads of this Kana package");
        Ok(VenueSession {
            markets: specs,
            events,
            writer: Arc::new(writer),
            stream_stats: Some(Arc::new(move || {
                let c = ws_stats.snapshot();
                perpbot_core::venue::StreamCounters {
                    frames: c.frames,
                    decode_skips: c.decode_errors,
                    reconnects: c.reconnects,
                    resyncs: c.resyncs,
                }
            })),
        })
    }
}

#[cfg(test)]
mod tests;
