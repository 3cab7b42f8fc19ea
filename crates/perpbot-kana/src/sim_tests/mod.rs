//! The Kana client against the simulator: REST, the WebSocket indexer, the Aptos node, faults
//! and history, end to end on loopback. These live with the client (the simulator's crate does
//! not depend on it); the simulator's own rules are tested in its crate.

mod fault;
mod history;
mod indexer;
mod placed_ids;
mod server;
