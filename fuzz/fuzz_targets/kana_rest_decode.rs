//! cargo-fuzz target `kana_rest_decode`: see `perpbot_fuzz::kana_rest_decode` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| perpbot_fuzz::kana_rest_decode(data));
