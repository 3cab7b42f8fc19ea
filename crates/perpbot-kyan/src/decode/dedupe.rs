//! The bounded set for repeats: `message_id`s of the private WebSocket and `(trade_id,
//! order_id)` of fills. It lives in perpbot-core, shared with Kana's decoder and the state.

pub use perpbot_core::dedupe::BoundedSet;
