//! `perpbot delegate add|remove|list`: register, drop and show the owner wallet's delegate — the
//! key a bot trades with that can never withdraw (Kana "1-Click Trading", reference §9.6; the
//! walk-through is `docs/mainnet.md`).
//!
//! `add` and `remove` sign with the config's `venue.kana.private_key`, which must be the
//! **owner's** key (as for `perpbot funds`; a config with `delegate_for` is refused), and a
//! mainnet config needs `--i-understand-this-is-mainnet`. Each prints the transaction's hash.
//!
//! \[INF\] The function names (`perpetual_scripts::add_delegate(delegate, expires_at_secs)`,
//! `remove_delegate()`) are perpbot's simulator's; Kana does not document them. They live in one
//! place (`DelegationFunctions`); `--delegation-module`, `--add-function`, `--remove-function` and
//! `--view-function` override them. If the package has no such function, the ABI lookup fails
//! and nothing is signed. Expiry is in Unix seconds, 0 = none.
//!
//! `list` reads the delegate through the Aptos view function `…::get_delegate(owner)`: \[UNK\] on
//! Kana, which documents no way to read a delegate; perpbot's simulator serves it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};

use super::{exit, kana_config};
use crate::aptos::AccountAddress;
use crate::outln;
use crate::venue::RequestOutcome;
use crate::venue::kana::writer::{DelegationFunctions, DelegationReceipt, KanaWriter, parse_view};

/// Said wherever a delegate is read.
const LIST_SOURCE_NOTE: &str = "[UNK] on Kana: Kana documents no way to read a delegate; this asks the \
     node's view function, which perpbot's simulator serves";

/// Options of `perpbot delegate`.
#[derive(Debug, clap::Args)]
pub struct DelegateArgs {
    /// Config naming the venue and the **owner's** key.
    #[arg(long, default_value = "config/testnet.toml", global = true)]
    pub config: PathBuf,
    /// Allow a mainnet config to sign.
    #[arg(long, global = true)]
    pub i_understand_this_is_mainnet: bool,
    /// Module of the delegation functions (\[INF\] default `perpetual_scripts`).
    #[arg(long, global = true, default_value = "perpetual_scripts")]
    pub delegation_module: String,
    /// Entry function registering a delegate (\[INF\] default `add_delegate`).
    #[arg(long, global = true, default_value = "add_delegate")]
    pub add_function: String,
    /// Entry function removing the delegate (\[INF\] default `remove_delegate`).
    #[arg(long, global = true, default_value = "remove_delegate")]
    pub remove_function: String,
    /// View function reading the delegate (\[UNK\] on Kana; default `get_delegate`).
    #[arg(long, global = true, default_value = "get_delegate")]
    pub view_function: String,
    /// What to do.
    #[command(subcommand)]
    pub action: DelegateAction,
}

/// `perpbot delegate …`
#[derive(Debug, clap::Subcommand)]
pub enum DelegateAction {
    /// Register a delegate (replaces any earlier one). Without --expires-in/--expires-at it
    /// never expires.
    Add {
        /// The delegate's account address (`perpbot keygen` prints it).
        #[arg(long)]
        delegate: String,
        /// Expire after this long: `30d`, `12h`, `90m`.
        #[arg(long, conflicts_with = "expires_at")]
        expires_in: Option<String>,
        /// Expire at this Unix time (seconds).
        #[arg(long)]
        expires_at: Option<u64>,
    },
    /// Remove the delegate: its next order is refused by the chain.
    Remove,
    /// Show the owner's delegate and its expiry.
    List {
        /// Owner wallet to ask about (default: the config's `delegate_for`, else the key's).
        #[arg(long)]
        owner: Option<String>,
    },
}

/// Run `perpbot delegate`.
pub async fn run(args: DelegateArgs) -> Result<ExitCode> {
    let functions = DelegationFunctions {
        module: args.delegation_module.clone(),
        add: args.add_function.clone(),
        remove: args.remove_function.clone(),
        view: args.view_function.clone(),
    };
    functions.validate().map_err(|e| {
        exit::invalid_config(format!(
            "{e} (--delegation-module / --add-function / --remove-function / --view-function)"
        ))
    })?;
    match &args.action {
        DelegateAction::List { owner } => list(&args.config, &functions, owner.as_deref()).await,
        DelegateAction::Add {
            delegate,
            expires_in,
            expires_at,
        } => {
            let delegate = AccountAddress::from_hex(delegate.trim())
                .map_err(|e| anyhow::anyhow!("--delegate: {e}"))?;
            let expires = expiry(expires_in.as_deref(), *expires_at, now_secs()?)?;
            let (writer, owner) = owner_writer(&args).await?;
            let receipt = writer.add_delegate(&functions, delegate, expires).await;
            let what = format!(
                "registered {delegate} as the delegate of {owner}, {}",
                describe_expiry(expires)
            );
            report(receipt, &what)
        }
        DelegateAction::Remove => {
            let (writer, owner) = owner_writer(&args).await?;
            let receipt = writer.remove_delegate(&functions).await;
            report(receipt, &format!("removed the delegate of {owner}"))
        }
    }
}

/// The owner's writer: the mainnet confirmation and the owner-key check come before anything
/// connects.
async fn owner_writer(args: &DelegateArgs) -> Result<(KanaWriter, AccountAddress)> {
    let (config, kana) = kana_config(&args.config)?;
    config
        .check_mainnet_confirmation(args.i_understand_this_is_mainnet)
        .map_err(exit::invalid_config)?;
    if kana.delegate_for.is_some() {
        return Err(exit::invalid_config(format!(
            "{}: venue.kana.delegate_for is set, so the key is a delegate's; registering or \
             removing a delegate needs the owner's key (a config without delegate_for)",
            args.config.display()
        )));
    }
    let package = kana.package_address().map_err(exit::invalid_config)?;
    let access = crate::venue::kana::venue::KanaAccess::open(&kana).await?;
    let owner = access.wallet;
    let writer = KanaWriter::new(access.rest, access.submitter, Vec::new(), access.writer)
        .with_package(package);
    Ok((writer, owner))
}

fn report(receipt: DelegationReceipt, what: &str) -> Result<ExitCode> {
    let hash = receipt.hash.unwrap_or_else(|| "(none sent)".into());
    match receipt.outcome {
        RequestOutcome::Accepted { .. } => {
            outln!("{what}")?;
            outln!("transaction {hash}")?;
            Ok(ExitCode::SUCCESS)
        }
        RequestOutcome::Ambiguous { reason, .. } => {
            outln!("outcome unknown ({reason}); check transaction {hash} before retrying")?;
            Ok(ExitCode::from(exit::FAILURE))
        }
        RequestOutcome::Rejected { reason, .. } => bail!("refused (transaction {hash}): {reason}"),
        RequestOutcome::Partial { .. } => bail!("unexpected partial outcome"),
    }
}

async fn list(
    path: &std::path::Path,
    functions: &DelegationFunctions,
    owner: Option<&str>,
) -> Result<ExitCode> {
    let (_, kana) = kana_config(path)?;
    let owner = match (owner, &kana.delegate_for) {
        (Some(text), _) => {
            AccountAddress::from_hex(text.trim()).map_err(|e| anyhow::anyhow!("--owner: {e}"))?
        }
        (None, Some(text)) => AccountAddress::from_hex(text.trim())
            .map_err(|e| anyhow::anyhow!("venue.kana.delegate_for: {e}"))?,
        (None, None) => {
            let secret = kana
                .private_key
                .load("venue.kana.private_key")
                .map_err(anyhow::Error::msg)?;
            let key: crate::aptos::PrivateKey = secret
                .expose()
                .parse()
                .map_err(|e| anyhow::anyhow!("venue.kana.private_key: {e}"))?;
            key.address()
        }
    };
    let package = kana.package_address().map_err(exit::invalid_config)?;
    let body = functions.view_request(package, owner);
    let url = format!("{}/view", kana.node_url.trim_end_matches('/'));
    crate::aptos::node::ensure_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(kana.request_timeout_ms))
        .build()?;
    outln!("owner      {owner}")?;
    let answer = async {
        let resp = client.post(&url).json(&body).send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("{url} answered {status}: {}", clip(&text));
        }
        let value: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{url}: not JSON"))?;
        parse_view(&value).map_err(anyhow::Error::msg)
    }
    .await;
    let result = match answer {
        Ok(None) => {
            outln!("delegate   none")?;
            Ok(ExitCode::SUCCESS)
        }
        Ok(Some(info)) => {
            let state = if info.active { "active" } else { "expired" };
            outln!("delegate   {} ({state})", info.delegate)?;
            outln!(
                "expires    {}",
                describe_expiry(info.expires_at_secs.unwrap_or(0))
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            outln!("delegate   could not be read: {e:#}")?;
            Ok(ExitCode::from(exit::FAILURE))
        }
    };
    outln!("source     {}", body["function"].as_str().unwrap_or(""))?;
    outln!("           {LIST_SOURCE_NOTE}")?;
    result
}

fn clip(text: &str) -> String {
    text.chars().take(300).collect()
}

fn now_secs() -> Result<u64> {
    Ok(SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("system clock before 1970")?
        .as_secs())
}

/// The `expires_at_secs` argument: 0 for none, else a future Unix time.
fn expiry(expires_in: Option<&str>, expires_at: Option<u64>, now: u64) -> Result<u64> {
    match (expires_in, expires_at) {
        (Some(text), _) => {
            let d =
                parse_days_or_duration(text).map_err(|e| anyhow::anyhow!("--expires-in: {e}"))?;
            if d.as_secs() == 0 {
                bail!("--expires-in: must be at least one second");
            }
            now.checked_add(d.as_secs())
                .ok_or_else(|| anyhow::anyhow!("--expires-in: {text:?} is too long"))
        }
        (None, Some(at)) if at <= now => {
            bail!("--expires-at: {at} is not in the future (now is {now})")
        }
        (None, Some(at)) => Ok(at),
        (None, None) => Ok(0),
    }
}

/// `30d` as days, anything else as [`crate::clock::parse_duration`] reads it.
fn parse_days_or_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    match t.strip_suffix('d') {
        Some(days) => days
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(86_400))
            .map(Duration::from_secs)
            .ok_or_else(|| format!("{text:?}: expected a whole number of days, like 30d")),
        None => crate::clock::parse_duration(t),
    }
}

fn describe_expiry(secs: u64) -> String {
    if secs == 0 {
        "no expiry".into()
    } else {
        format!("expires at Unix time {secs}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_unix_seconds_in_the_future() {
        assert_eq!(expiry(None, None, 100).unwrap(), 0);
        assert_eq!(expiry(Some("30d"), None, 100).unwrap(), 100 + 30 * 86_400);
        assert_eq!(expiry(Some("2h"), None, 100).unwrap(), 100 + 7_200);
        assert_eq!(expiry(None, Some(500), 100).unwrap(), 500);
        assert!(
            expiry(None, Some(50), 100)
                .unwrap_err()
                .to_string()
                .contains("--expires-at")
        );
        assert!(
            expiry(Some("xd"), None, 100)
                .unwrap_err()
                .to_string()
                .contains("--expires-in")
        );
    }
}
