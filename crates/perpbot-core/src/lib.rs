//! perpbot's venue-neutral core: the state, the strategy interface, pre-trade risk, the
//! rate-limiting executor, the engine that runs them, the write-ahead journal, reconciliation,
//! performance reports, the stall watchdog, the venue trait and the paper venue.
//!
//! Nothing here knows a chain or an exchange's wire format: a venue (Kana in `perpbot-kana`)
//! implements [`venue::Venue`] and [`venue::VenueWriter`], and whatever it needs to remember
//! about a request in flight travels as an opaque [`venue::ResumeToken`].
//!
//! ```text
//! venue stream ─► EngineCore: State.apply(event) ─► Strategy.on_event ─► intents
//!                                                   │
//!        venue writer ◄─ Jobs ◄─ Executor ◄─ Approved ◄─ RiskEngine.check
//! ```

pub(crate) mod atto;
pub mod dedupe;
pub mod engine;
pub mod executor;
pub mod gas;
pub mod journal;
pub mod limits;
pub mod reconcile;
pub mod report;
pub mod risk;
pub mod secret;
pub mod state;
pub mod strategy;
#[cfg(test)]
pub(crate) mod test_support;
pub mod venue;
pub mod watchdog;
