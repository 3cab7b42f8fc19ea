//! `perpbot kill` and `perpbot rearm`: steering a bot from outside its process.
//!
//! The kill switch is a file the running bot watches (`[engine] kill_switch_file`, relative to
//! the config file's folder, so the bot and this command agree from any working directory).
//! The bot answers by halting and writing `FILE.ack`; `kill` waits for that answer and says
//! plainly when none came, instead of claiming a halt nobody performed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use super::{exit, load_config};
use crate::clock::parse_duration;
use crate::engine::kill_ack_file;
use crate::outln;

/// Options of `kill`.
#[derive(Debug, clap::Args)]
pub struct KillArgs {
    /// The running bot's config (names the kill-switch file).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// How long to wait for the bot to acknowledge (`10s`, `1m` or seconds).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// Options of `rearm`.
#[derive(Debug, clap::Args)]
pub struct RearmArgs {
    /// The bot's config (names the journal or `risk.state_file`).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Pull the kill switch and wait for a bot to acknowledge it.
pub async fn kill(args: &KillArgs) -> Result<ExitCode> {
    let config = load_config(args.config.as_deref())?;
    let Some(path) = config.engine.kill_switch_file else {
        return Err(exit::invalid_config(
            "engine.kill_switch_file is not set in that config; send SIGUSR1 to the bot instead",
        ));
    };
    let ack = kill_ack_file(&path);
    match std::fs::remove_file(&ack) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e).with_context(|| format!("cannot remove the old {}", ack.display()));
        }
    }
    std::fs::write(&path, b"kill\n")
        .with_context(|| format!("cannot create {}", path.display()))?;
    outln!("kill switch pulled: created {}", path.display())?;
    let deadline = Instant::now() + args.timeout;
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(&ack) {
            outln!(
                "acknowledged by the running bot: {} — it cancelled its orders and halts; remove {} before trading again",
                text.trim(),
                path.display()
            )?;
            return Ok(ExitCode::SUCCESS);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(anyhow::anyhow!(
        "no running bot acknowledged the kill switch within {} s (no {}): is a bot running on this \
         config? The kill file stays, so a bot started on this config refuses to trade",
        args.timeout.as_secs_f64(),
        ack.display()
    ))
}

/// Clear a tripped loss or drawdown limit.
pub fn rearm(args: &RearmArgs) -> Result<ExitCode> {
    let config = load_config(args.config.as_deref())?;
    let Some(path) = config.limits_file() else {
        return Err(exit::invalid_config(
            "this config saves no risk limits (set engine.journal or risk.state_file): nothing to re-arm",
        ));
    };
    let Some(mut saved) = crate::limits::load(&path)? else {
        outln!("{}: no saved limits; nothing to re-arm", path.display())?;
        return Ok(ExitCode::SUCCESS);
    };
    let cleared = saved.rearm();
    crate::limits::save(&path, &saved)?;
    match cleared {
        Some(t) => outln!(
            "re-armed: cleared \"{}\"; loss and drawdown now count from a PnL of {} ({})",
            t.reason,
            saved.cumulative_pnl.round_dp(6),
            path.display()
        )?,
        None => outln!(
            "no limit was tripped; loss and drawdown now count from a PnL of {} ({})",
            saved.cumulative_pnl.round_dp(6),
            path.display()
        )?,
    }
    Ok(ExitCode::SUCCESS)
}
