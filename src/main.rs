//! The `perpbot` binary: the command line with the built-in strategies.

use std::process::ExitCode;

fn main() -> ExitCode {
    perpbot::cli::main_with(perpbot::strategies::builtin_registry())
}
