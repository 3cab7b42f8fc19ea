//! Process exit codes, one meaning each, and writing to a standard output that may be closed.
//!
//! The codes are part of the command line's contract (the README and `perpbot --help` list
//! them): a supervisor or a script tells "orders were left resting" from "the config is wrong"
//! without reading the log.

use std::fmt;
use std::io::Write;
use std::process::ExitCode;

/// Everything went as asked.
pub const SUCCESS: u8 = 0;
/// A runtime failure: the network, the venue, a file that could not be written.
pub const FAILURE: u8 = 1;
/// The command line was wrong (clap's own code for a usage error).
pub const USAGE: u8 = 2;
/// The config file is invalid, or what it needs (a secret, the mainnet confirmation) is missing.
pub const INVALID_CONFIG: u8 = 3;
/// The bot stopped with orders it could not confirm cancelled: look at the venue now.
pub const ORDERS_LEFT_OPEN: u8 = 4;
/// The bot stopped cleanly after a risk limit or the kill switch halted its trading.
pub const HALTED: u8 = 5;

/// The table printed under `perpbot --help`.
pub const HELP: &str = "Exit codes:\n  \
    0  success\n  \
    1  runtime failure (network, venue, files)\n  \
    2  usage error (the command line)\n  \
    3  invalid config (or a missing secret or mainnet confirmation)\n  \
    4  orders left open at shutdown: check the venue\n  \
    5  stopped after a risk limit or the kill switch halted trading";

/// An error that names its own exit code (the others exit with [`FAILURE`]).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CodedError {
    /// The exit code.
    pub code: u8,
    /// What went wrong.
    pub message: String,
}

/// A config problem found by the command line rather than the config loader.
pub fn invalid_config(message: impl Into<String>) -> anyhow::Error {
    CodedError {
        code: INVALID_CONFIG,
        message: message.into(),
    }
    .into()
}

/// Standard output was closed by its reader (`perpbot account | head`). Not a failure: the
/// command stops writing and ends quietly.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed")]
pub struct StdoutClosed;

/// The exit code for an error that ended a command.
pub fn code_of(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if cause.is::<StdoutClosed>() {
            return SUCCESS;
        }
        if let Some(coded) = cause.downcast_ref::<CodedError>() {
            return coded.code;
        }
        if cause.is::<crate::config::ConfigError>() || cause.is::<crate::strategy::StrategyError>()
        {
            return INVALID_CONFIG;
        }
    }
    FAILURE
}

/// Report an error on stderr (unless it is only a closed stdout) and give its exit code.
pub fn report(error: &anyhow::Error) -> ExitCode {
    let code = code_of(error);
    if !error.chain().any(|c| c.is::<StdoutClosed>()) {
        eprintln!("error: {error:#}");
    }
    ExitCode::from(code)
}

/// Write one line to stdout. A closed stdout is [`StdoutClosed`], never a panic (`println!`
/// panics there).
pub fn write_line(args: fmt::Arguments<'_>) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("writing to standard output")),
    }
}

/// `println!` for commands: `outln!("…", …)?` returns [`StdoutClosed`] when the reader is gone.
#[macro_export]
#[doc(hidden)]
macro_rules! outln {
    () => { $crate::cli::exit::write_line(format_args!("")) };
    ($($arg:tt)*) => { $crate::cli::exit::write_line(format_args!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_error_has_its_own_code() {
        let config = anyhow::Error::new(crate::config::ConfigError {
            source_name: "x.toml".into(),
            message: "risk.max_loss must be positive".into(),
        })
        .context("loading");
        assert_eq!(code_of(&config), INVALID_CONFIG);
        assert_eq!(code_of(&invalid_config("no key")), INVALID_CONFIG);
        assert_eq!(code_of(&anyhow::anyhow!("connection refused")), FAILURE);
        let closed = anyhow::Error::new(StdoutClosed).context("printing");
        assert_eq!(code_of(&closed), SUCCESS);
        let codes = [
            SUCCESS,
            FAILURE,
            USAGE,
            INVALID_CONFIG,
            ORDERS_LEFT_OPEN,
            HALTED,
        ];
        let distinct: std::collections::HashSet<u8> = codes.iter().copied().collect();
        assert_eq!(distinct.len(), codes.len());
        for code in codes {
            assert!(
                HELP.contains(&format!("  {code}  ")),
                "{code} is documented"
            );
        }
    }
}
