//! cargo-fuzz target `config_load`: see `perpbot_fuzz::config_load` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| perpbot_fuzz::config_load(data));
