//! cargo-fuzz target `bcs_arg_encode`: see `perpbot_fuzz::bcs_arg_encode` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| perpbot_fuzz::bcs_arg_encode(data));
