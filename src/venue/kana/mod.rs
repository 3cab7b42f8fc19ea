//! Kana Perps: wire types, the WebSocket decoder, and (as they land) the REST client, the
//! WebSocket client and the transaction writer.

pub mod decode;
pub mod payload;
pub mod rest;
pub mod wire;
pub mod writer;
pub mod ws;
