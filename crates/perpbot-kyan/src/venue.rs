//! [`KyanVenue`]: Kyan as a perpbot [`Venue`] — the private WebSocket and the public stream as
//! the event half, the signed REST [`KyanWriter`] as the writer half.
//!
//! Connecting: check the config (a mainnet run needs `i_understand_this_is_mainnet`), load the
//! two secrets, read `GET /api/v1/exchange_info` for each instrument's increments (falling back
//! to the config's; an instrument Kyan does not list fails with [`VenueError::UnknownMarket`]),
//! open a one-click session if configured, then start the private WebSocket (which resyncs
//! over REST after it connects), the public stream and the heartbeat.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::Address;
use async_trait::async_trait;
use rust_decimal::Decimal;
use serde_json::Value;
use tokio::sync::mpsc;
use tracing::{info, warn};

use perpbot_core::venue::{StreamCounters, Venue, VenueError, VenueSession};
use perpbot_model::MarketId;
use perpbot_model::clock::Clock;

use crate::config::{KyanConfig, KyanMarket, Network, Secret};
use crate::decode::num::decimal;
use crate::decode::{KyanDecoder, MarketEntry};
use crate::rest::{KyanApi, KyanRest};
use crate::signing::{KyanSigner, domain};
use crate::state::SharedState;
use crate::stream::{self, StreamConfig};
use crate::writer::{KyanWriter, WriterConfig};
use crate::ws::{self, RestResync, Resync, Subscriptions, WsConfig};

const NAME: &str = "kyan";
const PREFIX: &str = "venue.kyan";

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

/// The secrets a Kyan session needs: the API key and the EOA's secp256k1 key. `Debug` shows
/// neither.
pub struct KyanCredentials {
    /// REST and WebSocket API key.
    pub api_key: Secret,
    /// The signing key (its address is the maker).
    pub key: KyanSigner,
}

impl std::fmt::Debug for KyanCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KyanCredentials(<redacted>)")
    }
}

impl KyanCredentials {
    /// Load both from where the config says (environment variable or owner-only key file).
    pub fn load(config: &KyanConfig) -> Result<KyanCredentials, VenueError> {
        let api_key = config
            .api_key
            .load(&format!("{PREFIX}.api_key"))
            .map_err(config_error)?;
        let secret = config
            .private_key
            .load(&format!("{PREFIX}.private_key"))
            .map_err(config_error)?;
        let key = KyanSigner::from_hex(secret.expose())
            .map_err(|e| config_error(format!("{PREFIX}.private_key: {e}")))?;
        Ok(KyanCredentials { api_key, key })
    }
}

/// Kyan, ready to connect.
pub struct KyanVenue {
    config: KyanConfig,
    clock: Clock,
    credentials: Option<KyanCredentials>,
}

impl KyanVenue {
    /// A venue for these settings.
    pub fn new(config: KyanConfig, clock: Clock) -> KyanVenue {
        KyanVenue {
            config,
            clock,
            credentials: None,
        }
    }

    /// Use these credentials instead of loading them from the config's secret sources.
    pub fn with_credentials(mut self, credentials: KyanCredentials) -> KyanVenue {
        self.credentials = Some(credentials);
        self
    }
}

/// Merge the private and the public stream into one event stream whose connection states mean
/// what the engine takes them to mean. The engine reconciles the account on `Resynced` and the
/// market maker resumes quoting on it, so `Resynced` must follow a fresh REST read of the account
/// **and** find the book live:
/// - the public stream's own `Resynced` (it came back after a drop) is not passed on; it asks the
///   private stream for a REST resync instead, whose `Resynced` then speaks for both;
/// - a private `Resynced` while the public stream is down is held back, and the resync is asked
///   for again once the public stream is back;
/// - every `Reconnecting` and `Disconnected` goes through at once (quotes are pulled), and
///   everything that is not a connection state passes unchanged.
async fn connection_gate(
    mut private: mpsc::Receiver<perpbot_model::Event>,
    mut public: mpsc::Receiver<perpbot_model::Event>,
    events: mpsc::Sender<perpbot_model::Event>,
    resync_requests: Arc<tokio::sync::Notify>,
) {
    use perpbot_model::{ConnectionState, Event};
    let mut public_up = false;
    let mut owed = false;
    let (mut private_open, mut public_open) = (true, true);
    while private_open || public_open {
        let (event, from_public) = tokio::select! {
            e = private.recv(), if private_open => match e {
                Some(e) => (e, false),
                None => { private_open = false; continue; }
            },
            e = public.recv(), if public_open => match e {
                Some(e) => (e, true),
                None => { public_open = false; continue; }
            },
        };
        let pass = match (&event, from_public) {
            (Event::Connection(c), true) => match c.state {
                ConnectionState::Connected | ConnectionState::Resynced => {
                    public_up = true;
                    if c.state == ConnectionState::Resynced || owed {
                        owed = false;
                        resync_requests.notify_one();
                    }
                    c.state == ConnectionState::Connected
                }
                ConnectionState::Reconnecting | ConnectionState::Disconnected => {
                    public_up = false;
                    true
                }
            },
            (Event::Connection(c), false) if c.state == ConnectionState::Resynced && !public_up => {
                owed = true;
                false
            }
            _ => true,
        };
        if pass && events.send(event).await.is_err() {
            return;
        }
    }
}

/// A value of an increments map (`{BTC_USDC: 1}` or keyed by instrument), number or string.
fn increment(map: Option<&Value>, m: &KyanMarket) -> Option<Decimal> {
    let map = map?;
    [
        m.pair(),
        m.instrument.as_str(),
        m.pair().split('_').next().unwrap_or(""),
    ]
    .iter()
    .find_map(|k| map.get(*k).and_then(decimal))
    .filter(|d| *d > Decimal::ZERO)
}

/// The market entries from `exchange_info` (shape \[ASSUMED\]: `orderConstraints.
/// priceIncrements` and `orderConstraints.perpetuals.sizeIncrements`, keyed by pair or
/// instrument), the config's increments where it names none. A listed `instruments` or `pairs`
/// that lacks the market's makes it unknown.
pub fn market_entries(
    info: &Value,
    config: &KyanConfig,
    wanted: &[MarketId],
) -> Result<Vec<MarketEntry>, VenueError> {
    let constraints = info.get("orderConstraints");
    let prices = constraints.and_then(|c| c.get("priceIncrements"));
    let sizes = constraints.and_then(|c| c.pointer("/perpetuals/sizeIncrements"));
    let instruments: Option<Vec<String>> =
        info.get("instruments").and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(|i| {
                    i.as_str()
                        .or_else(|| i.get("instrument_name").and_then(Value::as_str))
                        .map(str::to_string)
                })
                .collect()
        });
    let pairs: Option<Vec<(String, String)>> =
        info.get("pairs").and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(|p| {
                    Some((
                        p.get("pair")?.as_str()?.to_string(),
                        p.get("status")
                            .and_then(Value::as_str)
                            .unwrap_or("active")
                            .to_string(),
                    ))
                })
                .collect()
        });
    let mut out = Vec::with_capacity(wanted.len());
    for &market in wanted {
        let m =
            config
                .markets
                .iter()
                .find(|m| m.id == market.0)
                .ok_or(VenueError::UnknownMarket {
                    venue: NAME,
                    market,
                })?;
        let listed = instruments
            .as_ref()
            .is_none_or(|l| l.is_empty() || l.contains(&m.instrument));
        let pair = pairs
            .as_ref()
            .and_then(|l| l.iter().find(|(p, _)| p == m.pair()));
        if !listed
            || pairs
                .as_ref()
                .is_some_and(|l| !l.is_empty() && pair.is_none())
        {
            return Err(VenueError::UnknownMarket {
                venue: NAME,
                market,
            });
        }
        if let Some((p, status)) = pair
            && status != "active"
        {
            return Err(config_error(format!(
                "{} ({p}) is {status} on Kyan, not active",
                m.instrument
            )));
        }
        let price = increment(prices, m).or(m.price_increment).ok_or_else(|| {
            config_error(format!(
                "{PREFIX}.markets.price_increment: exchange_info names none for {}; set it",
                m.instrument
            ))
        })?;
        let size = increment(sizes, m).or(m.size_increment).ok_or_else(|| {
            config_error(format!(
                "{PREFIX}.markets.size_increment: exchange_info names none for {}; set it",
                m.instrument
            ))
        })?;
        out.push(MarketEntry::new(market, &m.instrument, price, size).map_err(config_error)?);
    }
    Ok(out)
}

/// `exchange_info`'s `chainId` / `verifyingContract`, when it names them, must be the ones
/// orders are signed for.
fn check_chain(info: &Value, chain_id: u64, contract: Address) -> Result<(), VenueError> {
    if let Some(id) = info.get("chainId").and_then(crate::decode::num::uint)
        && id != chain_id
    {
        return Err(config_error(format!(
            "{PREFIX}.chain_id is {chain_id} but Kyan's exchange_info says {id}"
        )));
    }
    if let Some(text) = info.get("verifyingContract").and_then(Value::as_str)
        && let Ok(a) = Address::from_str(text)
        && a != contract
    {
        return Err(config_error(format!(
            "{PREFIX}.verifying_contract is {contract} but Kyan's exchange_info says {a}"
        )));
    }
    Ok(())
}

#[async_trait]
impl Venue for KyanVenue {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn connect(self: Box<Self>, markets: &[MarketId]) -> Result<VenueSession, VenueError> {
        let config = self.config;
        config.validate(PREFIX).map_err(config_error)?;
        if config.network == Network::Mainnet && !config.i_understand_this_is_mainnet {
            return Err(config_error(format!(
                "{PREFIX}: mainnet trades real money; set i_understand_this_is_mainnet = true"
            )));
        }
        let contract = config.verifying_contract(PREFIX).map_err(config_error)?;
        let credentials = match self.credentials {
            Some(c) => c,
            None => KyanCredentials::load(&config)?,
        };
        let KyanCredentials { api_key, key } = credentials;
        let timeout = Duration::from_millis(config.request_timeout_ms);
        let rest = KyanRest::new(&config.rest_url, Some(api_key.clone()), timeout)
            .map_err(config_error)?;
        let info_answer = rest
            .exchange_info()
            .await
            .map_err(|e| connection_error(format!("GET /api/v1/exchange_info: {e}")))?;
        check_chain(&info_answer, config.chain_id, contract)?;
        let wanted: Vec<MarketId> = if markets.is_empty() {
            config.markets.iter().map(|m| MarketId(m.id)).collect()
        } else {
            markets.to_vec()
        };
        let entries = market_entries(&info_answer, &config, &wanted)?;
        let specs = entries.iter().map(|e| e.spec.clone()).collect::<Vec<_>>();

        let shared = Arc::new(SharedState::default());
        let signer = Arc::new(key);
        let api = Arc::new(KyanApi::new(
            rest.clone(),
            Arc::clone(&signer),
            domain(config.chain_id, contract),
            config.deadline_secs,
            self.clock,
            config.size_field,
        ));
        let maker = api.maker_text();
        info!(%maker, network = ?config.network, markets = ?wanted, "Kyan account resolved");
        if config.one_click {
            api.open_session()
                .await
                .map_err(|e| connection_error(format!("POST /session: {e}")))?;
        }

        let (tx, events) = mpsc::channel(4096);
        let instruments: Vec<String> = entries.iter().map(|e| e.instrument.clone()).collect();
        let mut pairs: Vec<String> = Vec::new();
        for e in &entries {
            if !pairs.contains(&e.pair) {
                pairs.push(e.pair.clone());
            }
        }
        let mut private = KyanDecoder::new(entries.clone(), config.fee_fields, Arc::clone(&shared));
        let public = KyanDecoder::new(entries.clone(), config.fee_fields, Arc::clone(&shared));
        let mut ws_config = WsConfig::new(&config.ws_url, api_key);
        ws_config.session_max = Duration::from_secs(config.ws_session_max_secs);
        ws_config.backoff_max = Duration::from_millis(config.reconnect_backoff_max_ms);
        let subs = Subscriptions {
            maker: maker.clone(),
            account: maker.clone(),
            instruments: instruments.clone(),
            pairs: pairs.clone(),
        };
        let resync = Arc::new(RestResync {
            rest: rest.clone(),
            maker: maker.clone(),
            shared: Arc::clone(&shared),
        });
        // The account as it is before anything streams: a venue that cannot be read is not
        // traded blind.
        let since = self.clock.now();
        let fetched = resync.fetch().await.map_err(connection_error)?;
        let initial = ws::resync_events(&mut private, &fetched, since, self.clock.now())
            .map_err(|e| connection_error(format!("initial resync: {e}")))?;
        for e in initial {
            tx.send(e)
                .await
                .map_err(|_| connection_error("event channel closed"))?;
        }
        let resync_requests = Arc::new(tokio::sync::Notify::new());
        let (private_tx, private_rx) = mpsc::channel(4096);
        let (_ws, ws_stats) = ws::spawn(
            ws_config,
            subs,
            private,
            ws::AccountSync {
                resync,
                since,
                requests: Arc::clone(&resync_requests),
            },
            private_tx,
            self.clock,
        );
        // Both streams' events reach the engine through one gate (see `connection_gate`).
        let (public_tx, public_rx) = mpsc::channel(4096);
        let mut stream_config = StreamConfig::new(&config.stream_url);
        stream_config.backoff_max = Duration::from_millis(config.reconnect_backoff_max_ms);
        let (_stream, stream_stats) = stream::spawn(
            stream_config,
            stream::all_channels(&instruments, &pairs),
            public,
            public_tx,
            self.clock,
        );
        tokio::spawn(connection_gate(private_rx, public_rx, tx, resync_requests));

        let mut writer = KyanWriter::new(
            api,
            entries,
            shared,
            WriterConfig {
                max_batch: config.max_batch,
                mmp: config.mmp,
                close_slippage_bps: config.close_slippage_bps,
                heartbeat_timeout_secs: config.heartbeat_timeout_secs,
                heartbeat_interval: Duration::from_millis(config.heartbeat_interval_ms),
                ..WriterConfig::default()
            },
            self.clock,
        );
        writer.start_heartbeat();
        if config.heartbeat_timeout_secs == 0 {
            warn!("Kyan heartbeat off: orders stay on the book if the bot dies");
        }
        Ok(VenueSession {
            markets: specs,
            events,
            writer: Arc::new(writer),
            stream_stats: Some(Arc::new(move || {
                let get =
                    |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
                StreamCounters {
                    frames: get(&ws_stats.frames) + get(&stream_stats.frames),
                    decode_skips: get(&ws_stats.decode_errors) + get(&stream_stats.decode_errors),
                    reconnects: get(&ws_stats.reconnects) + get(&stream_stats.reconnects),
                    resyncs: get(&ws_stats.resyncs),
                }
            })),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{KEY, Mock};
    use rust_decimal_macros::dec;

    fn config(url: &str) -> KyanConfig {
        serde_json::from_value(serde_json::json!({"network":"local","rest_url":url,"ws_url":"ws://127.0.0.1:9/ws",
            "stream_url":"ws://127.0.0.1:9/stream/websocket","chain_id":421614,
            "markets":[{"id":1,"instrument":"BTC_USDC-PERPETUAL"},{"id":2,"instrument":"ETH_USDC-PERPETUAL","size_increment":"0.001"}]}))
        .unwrap()
    }

    fn creds() -> KyanCredentials {
        KyanCredentials {
            api_key: Secret::new("test_key".into()),
            key: KyanSigner::from_hex(KEY).unwrap(),
        }
    }

    const INFO: &str = r#"{"pairs":[{"pair":"BTC_USDC","base":"BTC","status":"active"},{"pair":"ETH_USDC","base":"ETH","status":"active"}],
        "instruments":["BTC_USDC-PERPETUAL","ETH_USDC-PERPETUAL"],
        "orderConstraints":{"priceIncrements":{"BTC_USDC":1,"ETH_USDC":"0.1"},"perpetuals":{"sizeIncrements":{"BTC_USDC":0.0001},"amountIncrement":1}},
        "chainId":421614}"#;

    #[tokio::test]
    async fn connect_builds_specs_from_exchange_info_and_config_fallbacks() {
        let mock = Mock::start().await;
        mock.default_reply("GET /api/v1/exchange_info", 200, INFO);
        let venue =
            Box::new(KyanVenue::new(config(&mock.url), Clock::system()).with_credentials(creds()));
        assert_eq!(venue.name(), "kyan");
        mock.default_reply("GET /orders", 200, r#"{"orders":[]}"#);
        mock.default_reply(&format!("GET /positions/{}", KyanSigner::from_hex(KEY).unwrap().address().to_string().to_lowercase()), 200,
            r#"{"margin_accounts":[{"id":"a","pair_id":"BTC_USDC","smart_account_address":"0x1111111111111111111111111111111111111111","positions":[{"id":"p","instrument":"BTC_USDC-PERPETUAL","instrument_type":"perp","size":0.002,"average_price":65000,"entry_fees":0}]}]}"#);
        let mut session = venue.connect(&[MarketId(1), MarketId(2)]).await.unwrap();
        // The initial resync is in the stream before connect returns.
        let first = session.events.try_recv().unwrap();
        assert!(
            matches!(first, perpbot_model::Event::OpenOrders(_)),
            "{first:?}"
        );
        let Ok(perpbot_model::Event::Position(p)) = session.events.try_recv() else {
            panic!("positions")
        };
        assert!(p.snapshot);
        assert_eq!(
            p.positions
                .iter()
                .find(|p| p.market == MarketId(1) && p.side == perpbot_model::PositionSide::Long)
                .unwrap()
                .lots
                .0,
            20
        );
        assert!(matches!(
            session.events.try_recv(),
            Ok(perpbot_model::Event::Balance(_))
        ));
        let btc = &session.markets[0];
        assert_eq!(
            (btc.lot_size, btc.tick_size, btc.base_decimals),
            (10_000, 100, 8)
        );
        // ETH's contracts increment came from the config.
        let eth = &session.markets[1];
        assert_eq!(eth.lot_in_coins(), dec!(0.001));
        assert_eq!(eth.tick_in_price(), dec!(0.1));
        let caps = session.writer.capabilities();
        assert!(
            !caps.atomic_replace
                && !caps.position_triggers
                && !caps.closing_orders
                && !caps.client_order_ids
        );
        assert_eq!(caps.max_batch, 10);
        // exchange_info needs no key.
        assert!(
            mock.requests("GET /api/v1/exchange_info")[0]
                .headers
                .get("x-apikey")
                .is_none()
        );
        assert!(session.stream_stats.is_some());
    }

    #[tokio::test]
    async fn an_unlisted_instrument_a_chain_mismatch_and_unconfirmed_mainnet_fail_the_connect() {
        let mock = Mock::start().await;
        mock.default_reply("GET /api/v1/exchange_info", 200, r#"{"pairs":[{"pair":"BTC_USDC","status":"active"}],"instruments":["BTC_USDC-PERPETUAL"],"orderConstraints":{"priceIncrements":{"BTC_USDC":1},"perpetuals":{"sizeIncrements":{"BTC_USDC":0.0001}}}}"#);
        let venue =
            Box::new(KyanVenue::new(config(&mock.url), Clock::system()).with_credentials(creds()));
        let e = venue.connect(&[MarketId(2)]).await.err().unwrap();
        assert!(
            matches!(
                e,
                VenueError::UnknownMarket {
                    market: MarketId(2),
                    ..
                }
            ),
            "{e}"
        );
        let venue =
            Box::new(KyanVenue::new(config(&mock.url), Clock::system()).with_credentials(creds()));
        let e = venue.connect(&[MarketId(7)]).await.err().unwrap();
        assert!(matches!(e, VenueError::UnknownMarket { .. }), "{e}");

        let other = Mock::start().await;
        other.default_reply("GET /api/v1/exchange_info", 200, r#"{"chainId":42161}"#);
        let venue =
            Box::new(KyanVenue::new(config(&other.url), Clock::system()).with_credentials(creds()));
        let e = venue.connect(&[MarketId(1)]).await.err().unwrap();
        assert!(e.to_string().contains("chain_id"), "{e}");

        let mut main = config(&mock.url);
        main.network = Network::Mainnet;
        main.chain_id = 42_161;
        main.verifying_contract = Some("0x746EE6b2689D56d9D593BC1bB733b48BfD4908D0".into());
        let venue = Box::new(KyanVenue::new(main, Clock::system()).with_credentials(creds()));
        let e = venue.connect(&[MarketId(1)]).await.err().unwrap();
        assert!(
            e.to_string().contains("i_understand_this_is_mainnet"),
            "{e}"
        );
        // Secrets never show.
        assert_eq!(format!("{:?}", creds()), "KyanCredentials(<redacted>)");
    }
}

#[cfg(test)]
mod gate_tests {
    use super::*;
    use perpbot_model::{ConnectionEvent, ConnectionState, Event, Timestamp};

    fn state(stream: &str, state: ConnectionState) -> Event {
        Event::Connection(ConnectionEvent {
            stream: stream.into(),
            state,
            ts: Timestamp(1),
        })
    }

    #[tokio::test]
    async fn resynced_reaches_the_engine_only_after_an_account_read_with_the_book_live() {
        let (private_tx, private_rx) = mpsc::channel(16);
        let (public_tx, public_rx) = mpsc::channel(16);
        let (tx, mut rx) = mpsc::channel(16);
        let requests = Arc::new(tokio::sync::Notify::new());
        tokio::spawn(connection_gate(
            private_rx,
            public_rx,
            tx,
            Arc::clone(&requests),
        ));
        let requested = || async {
            tokio::time::timeout(std::time::Duration::from_secs(1), requests.notified())
                .await
                .is_ok()
        };
        let next = |rx: &mut mpsc::Receiver<Event>| {
            let got = rx.try_recv().ok();
            got.map(|e| match e {
                Event::Connection(c) => (c.stream, c.state),
                _ => ("other".into(), ConnectionState::Disconnected),
            })
        };
        let settle = || tokio::time::sleep(std::time::Duration::from_millis(50));
        // Start: both up.
        private_tx
            .send(state("kyan-ws", ConnectionState::Connected))
            .await
            .unwrap();
        public_tx
            .send(state("kyan-stream", ConnectionState::Connected))
            .await
            .unwrap();
        settle().await;
        assert_eq!(next(&mut rx).map(|e| e.1), Some(ConnectionState::Connected));
        assert_eq!(next(&mut rx).map(|e| e.1), Some(ConnectionState::Connected));
        // The public stream drops and comes back: its Resynced becomes a resync request.
        public_tx
            .send(state("kyan-stream", ConnectionState::Reconnecting))
            .await
            .unwrap();
        public_tx
            .send(state("kyan-stream", ConnectionState::Resynced))
            .await
            .unwrap();
        settle().await;
        assert_eq!(
            next(&mut rx).map(|e| e.1),
            Some(ConnectionState::Reconnecting)
        );
        assert_eq!(next(&mut rx), None, "no Resynced from the public stream");
        assert!(requested().await, "an account resync was asked for");
        // The private resync's Resynced goes through (the book is live).
        private_tx
            .send(state("kyan-ws", ConnectionState::Resynced))
            .await
            .unwrap();
        settle().await;
        assert_eq!(next(&mut rx).map(|e| e.1), Some(ConnectionState::Resynced));
        // A private Resynced while the public stream is down is held back, and owed.
        public_tx
            .send(state("kyan-stream", ConnectionState::Reconnecting))
            .await
            .unwrap();
        settle().await;
        private_tx
            .send(state("kyan-ws", ConnectionState::Resynced))
            .await
            .unwrap();
        settle().await;
        assert_eq!(
            next(&mut rx).map(|e| e.1),
            Some(ConnectionState::Reconnecting)
        );
        assert_eq!(next(&mut rx), None, "held while the book is down");
        public_tx
            .send(state("kyan-stream", ConnectionState::Resynced))
            .await
            .unwrap();
        assert!(requested().await, "asked again once the book is back");
    }
}
