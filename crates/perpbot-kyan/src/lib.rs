//! Kyan (an options and perpetuals exchange on Arbitrum: off-chain matching, EIP-712-signed
//! REST orders) for perpbot: request signing and error reading, the REST client, the private
//! WebSocket and the public Centrifugo stream, their decoding into perpbot events, and the
//! [`KyanVenue`] with its writer (`docs/design/kyan-wire.md`, `docs/reference/kyan-api.md`).

pub mod config;
pub mod decode;
pub mod errors;
pub mod rest;
pub mod signing;
pub mod state;
pub mod stream;
pub mod venue;
pub mod writer;
pub mod ws;

#[cfg(test)]
mod e2e_tests;
#[cfg(test)]
mod testutil;

pub use config::{FeeFields, KyanConfig, KyanMarket, SizeField};
pub use venue::{KyanCredentials, KyanVenue};
pub use writer::KyanWriter;
