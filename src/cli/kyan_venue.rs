//! Kyan as the run's venue: the real client against Kyan (`kind = "kyan"`), or against the
//! embedded Kyan simulator started on loopback with a generated key (`kind = "kyan_sim"`), and
//! `perpbot sim --venue kyan`, which serves that simulator alone and prints its URLs.

use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use tracing::info;

use crate::clock::Clock;
use crate::config::{Config, KyanConfig, Secret};
use crate::outln;
use crate::sim::kyan::{KyanSimConfig, KyanSimHandle};
use crate::venue::kyan::signing::KyanSigner;
use crate::venue::kyan::{KyanCredentials, KyanVenue};

/// The Kyan venue of `[venue.kyan]`; its secrets are read when it connects.
pub fn live(config: &Config, clock: Clock) -> Result<KyanVenue> {
    let kyan = config
        .venue
        .kyan
        .clone()
        .ok_or_else(|| anyhow!("venue.kyan is missing"))?;
    Ok(KyanVenue::new(kyan, clock))
}

/// The key the embedded simulator's bot trades with: derived from the simulator's seed, so a run
/// is reproducible, and never a key anyone holds money with.
pub fn generated_key(seed: u64) -> Result<KyanSigner> {
    use sha3::{Digest, Sha3_256};
    let mut h = Sha3_256::new();
    h.update(b"perpbot embedded Kyan simulator bot");
    h.update(seed.to_le_bytes());
    let bytes: [u8; 32] = h.finalize().into();
    KyanSigner::from_hex(&hex::encode(bytes)).map_err(|e| anyhow!("generated Kyan key: {e}"))
}

/// The simulator's seed (its synthetic market's, or 0 without one).
pub fn sim_seed(sim: &KyanSimConfig) -> u64 {
    sim.synthetic.as_ref().map_or(0, |s| s.seed)
}

/// Client settings for a Kyan simulator at `handle`: its URLs, chain and contract, and every
/// instrument it lists under the id the simulator gives it. The other client keys come from
/// `client` (a config's `[venue.kyan]`, when it has one) or else their documented defaults with a
/// **one-click session**: Kyan accepts one signature deadline per second per maker (deadlines are
/// strictly increasing Unix seconds, at most 30 s ahead), so a market maker that cancels and
/// places several times a second must trade on a session, as Kyan recommends for bots.
pub fn client_config(
    handle: &KyanSimHandle,
    sim: &KyanSimConfig,
    client: Option<&KyanConfig>,
) -> Result<KyanConfig> {
    let markets: Vec<serde_json::Value> = sim
        .instruments
        .iter()
        .map(|i| {
            serde_json::json!({
                "id": i.id,
                "instrument": i.name,
                "price_increment": i.price_increment,
                "size_increment": i.contracts_increment,
            })
        })
        .collect();
    let value = serde_json::json!({
        "network": "local",
        "rest_url": handle.rest_url,
        "ws_url": handle.ws_url,
        "stream_url": handle.stream_url,
        "chain_id": sim.chain_id,
        "verifying_contract": sim.verifying_contract.to_string(),
        "markets": markets,
        "one_click": true,
    });
    let defaults: KyanConfig =
        serde_json::from_value(value).context("Kyan client settings for the simulator")?;
    let kyan = match client {
        Some(own) => KyanConfig {
            network: defaults.network,
            rest_url: defaults.rest_url,
            ws_url: defaults.ws_url,
            stream_url: defaults.stream_url,
            chain_id: defaults.chain_id,
            verifying_contract: defaults.verifying_contract,
            markets: defaults.markets,
            // The simulator's own key is used, whatever the file names.
            api_key: Default::default(),
            private_key: Default::default(),
            i_understand_this_is_mainnet: false,
            ..own.clone()
        },
        None => defaults,
    };
    kyan.validate("venue.kyan").map_err(anyhow::Error::msg)?;
    Ok(kyan)
}

/// Start the Kyan simulator of `[venue.kyan_sim]` on loopback for the life of the process and
/// return the real Kyan client pointed at it, with a generated key and the simulator's API key.
pub async fn embedded(config: &Config, clock: Clock) -> Result<KyanVenue> {
    let sim = config.venue.kyan_sim.clone();
    let handle = crate::sim::kyan::start(sim.clone(), "127.0.0.1:0".parse()?, clock)
        .await
        .map_err(anyhow::Error::msg)?;
    info!(rest = %handle.rest_url, ws = %handle.ws_url, stream = %handle.stream_url, "Kyan simulator started");
    let kyan = client_config(&handle, &sim, config.venue.kyan.as_ref())?;
    let credentials = KyanCredentials {
        api_key: Secret::new(handle.api_key()),
        key: generated_key(sim_seed(&sim))?,
    };
    // The simulator keeps running in its tasks for the life of the process.
    std::mem::forget(handle);
    Ok(KyanVenue::new(kyan, clock).with_credentials(credentials))
}

/// `perpbot sim --venue kyan`: serve the Kyan simulator (the config's `[venue.kyan_sim]`, or
/// the defaults) on `bind` until a stop signal, after printing where to reach it.
pub async fn serve(
    config: Option<&std::path::Path>,
    bind: std::net::SocketAddr,
) -> Result<ExitCode> {
    let sim = match config {
        Some(path) => Config::load(path)?.venue.kyan_sim,
        None => KyanSimConfig::default(),
    };
    sim.validate().map_err(anyhow::Error::msg)?;
    let chain_id = sim.chain_id;
    let contract = sim.verifying_contract;
    let instruments: Vec<String> = sim
        .instruments
        .iter()
        .map(|i| format!("{} (market {})", i.name, i.id))
        .collect();
    let handle = crate::sim::kyan::start(sim, bind, Clock::system())
        .await
        .map_err(anyhow::Error::msg)?;
    outln!(
        "Kyan REST          {}   (x-apikey: {})",
        handle.rest_url,
        handle.api_key()
    )?;
    outln!("Private WebSocket  {}", handle.ws_url)?;
    outln!(
        "Public stream      {}   (Centrifugo JSON, no key)",
        handle.stream_url
    )?;
    outln!("EIP-712 domain     Premia / 1 / chain {chain_id} / {contract}")?;
    outln!("Instruments        {}", instruments.join(", "))?;
    outln!(
        "New makers are credited with collateral on first sight. Ctrl-C or SIGTERM stops the simulator."
    )?;
    super::wait_for_stop_signal().await?;
    handle.stop();
    Ok(ExitCode::SUCCESS)
}
