//! `perpbot check-config`: is this file valid, and could it trade as it is?
//!
//! Validity (every key, the strategy's params) is checked as at start-up. Readiness is what a
//! start-up would trip on next: a secret variable that is not set, a key file that is missing or
//! readable by others, the mainnet confirmation. With `--effective` it also prints the config
//! with every default filled in, so an operator sees the limits actually in force.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use super::exit;
use crate::config::Config;
use crate::outln;
use crate::strategy::StrategyRegistry;

/// Options of `check-config`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    pub file: PathBuf,
    /// Also print the effective config, with every default filled in.
    #[arg(long)]
    pub effective: bool,
    /// Count the mainnet confirmation as given (as `run --i-understand-this-is-mainnet` would).
    #[arg(long)]
    pub i_understand_this_is_mainnet: bool,
}

/// Run the check: exit 0 when the file is valid and ready, 3 (invalid config) otherwise.
pub fn check_config(args: &CheckArgs, registry: &StrategyRegistry) -> Result<ExitCode> {
    let config = Config::load(&args.file)?;
    registry.build(&config.strategy.name, &config.strategy.params)?;
    let problems = config.not_ready(args.i_understand_this_is_mainnet);
    if args.effective {
        outln!("{config:#?}")?;
    }
    // The Kana package whose payloads the writer will sign (`venue.kana.package`, or the
    // network's default), so an operator sees which contract the key may be used with.
    let package = match (&config.venue.kind, &config.venue.kana) {
        (crate::config::VenueKind::Kana, Some(kana)) => kana
            .package_address()
            .map(|p| format!(", Kana package {p}"))
            .map_err(exit::invalid_config)?,
        // Kyan: the EIP-712 domain every order is signed for.
        (crate::config::VenueKind::Kyan, _) => match &config.venue.kyan {
            Some(kyan) => kyan
                .verifying_contract("venue.kyan")
                .map(|c| {
                    format!(
                        ", EIP-712 domain Premia/1 chain {} contract {c}",
                        kyan.chain_id
                    )
                })
                .map_err(exit::invalid_config)?,
            None => String::new(),
        },
        _ => String::new(),
    };
    if problems.is_empty() {
        outln!(
            "{}: ok — venue {:?}, markets {:?}, strategy `{}`{package}{}",
            args.file.display(),
            config.venue.kind,
            config.markets,
            config.strategy.name,
            if config.is_mainnet() {
                ", MAINNET (confirmed)"
            } else {
                ""
            }
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{}: valid{package}, but not ready to trade:",
        args.file.display()
    )?;
    for p in &problems {
        outln!("  - {p}")?;
    }
    Ok(ExitCode::from(exit::INVALID_CONFIG))
}
