//! cargo-fuzz target `kana_ws_decode`: see `perpbot_fuzz::kana_ws_decode` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| perpbot_fuzz::kana_ws_decode(data));
