//! The integration tests in one binary (the chaos soaks have the second, `tests/soak`): one link
//! instead of eighteen, so `cargo test` builds faster and writes a fraction of the bytes. Each
//! module is one concern; run one with `cargo test --test integration <module>::`.

mod common;

mod alerts_webhook;
mod backtest_cli;
mod backtest_validation;
mod cli_decode;
mod cli_kyan_sign;
mod cli_tx_sign;
mod control_endpoint;
mod crash_restart;
mod deadman;
mod delegate;
mod emergency;
mod engine_paper;
mod from_empty_wallet;
mod fuzz_corpus;
mod kana_config;
mod kana_conformance;
mod kana_sim;
mod key_hygiene;
mod kyan_e2e;
mod market_maker_sim;
mod operator;
mod ops_config;
mod paper_live;
mod prop_book;
mod prop_order;
mod prop_units;
mod reconcile_engine;
mod shutdown_unconfirmed;
mod sim_e2e;
