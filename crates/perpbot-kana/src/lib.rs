//! Kana Perps: the venue ([`venue::KanaVenue`]) and its parts — wire types and the WebSocket
//! decoder, the REST client, the WebSocket client (reconnect, resubscribe, resync) and the
//! transaction writer (REST payload → BCS → Ed25519 → Aptos fullnode).

pub mod balance;
pub mod config;
pub mod decode;
pub mod market_data;
pub mod payload;
pub mod rest;
pub mod venue;
pub mod wire;
pub mod writer;
pub mod ws;

#[cfg(test)]
mod sim_tests;
