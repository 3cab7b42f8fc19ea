//! perpbot's command line with the penny jumper registered beside the built-in strategies: the
//! same commands and config files as `perpbot`, plus `name = "penny_jumper"`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut registry = perpbot::strategies::builtin_registry();
    perpbot_plugin_example::register(&mut registry);
    perpbot::cli::main_with(registry)
}
