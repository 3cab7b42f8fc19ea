//! Venues: where events come from and where requests go.
//!
//! A venue has two halves, returned together by [`Venue::connect`] as a [`VenueSession`]:
//!
//! - a **stream** — a bounded channel of typed [`Event`]s (book, trades, fills, positions, order
//!   updates, funding, connection state). The venue's own tasks decode wire frames and feed it; a
//!   slow engine shows up as backpressure on that channel, never as growing memory.
//! - a **writer** — [`VenueWriter::execute`] takes one [`VenueRequest`] and reports its
//!   [`RequestOutcome`]. The engine's runner calls it from spawned tasks, so a slow venue never
//!   blocks the engine.
//!
//! The shapes fit both first venues without special cases in the engine: Kana's writes are
//! on-chain transactions built from a REST payload (a batch of cancels and places is one
//! transaction; the outcome is known when it commits; a lost one is *ambiguous* until queried by
//! its handle), Kyan's are signed REST orders (batch place, no atomic cancel-and-place). [`VenueCapabilities`] says which the executor may rely on.

pub mod backoff;
pub mod paper;

use std::sync::Arc;

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::Serialize;
use tokio::sync::mpsc;

use perpbot_model::{
    ClientOrderId, Direction, Event, Lots, MarketId, MarketSpec, OrderRequest, PositionSide, Side,
    Ticks, VenueOrderId,
};

/// Errors from connecting to or talking with a venue.
#[derive(Debug, thiserror::Error)]
pub enum VenueError {
    /// A market the config asks for does not exist on the venue.
    #[error("venue {venue}: unknown market {market}")]
    UnknownMarket {
        /// Venue name.
        venue: &'static str,
        market: MarketId,
    },
    /// Could not connect or the connection failed.
    #[error("venue {venue}: connection failed: {detail}")]
    Connection {
        /// Venue name.
        venue: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// The venue is misconfigured.
    #[error("venue {venue}: {detail}")]
    Config {
        /// Venue name.
        venue: &'static str,
        /// What is wrong.
        detail: String,
    },
}

/// One order to cancel, with everything a venue may need to address it (Kana cancels by venue
/// id *and* position side).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CancelOrder {
    /// Our id.
    pub client_id: ClientOrderId,
    /// The venue's id (required by venues without client ids).
    pub venue_id: Option<VenueOrderId>,
    pub market: MarketId,
    /// Book side of the order.
    pub side: Side,
    /// Open or close.
    pub direction: Direction,
}

/// A request to a venue. One request is one venue round trip (one Kana transaction).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum VenueRequest {
    /// Cancel and/or place orders in one market. With both lists non-empty this is an atomic
    /// replace where [`VenueCapabilities::atomic_replace`] holds.
    Orders {
        market: MarketId,
        /// Orders to cancel (processed before the places).
        cancel: Vec<CancelOrder>,
        /// Orders to place.
        place: Vec<OrderRequest>,
    },
    /// Set or clear a position's take-profit.
    SetTakeProfit {
        market: MarketId,
        /// Which position.
        position: PositionSide,
        /// New price; `None` clears.
        price: Option<Ticks>,
    },
    /// Set or clear a position's stop-loss.
    SetStopLoss {
        market: MarketId,
        /// Which position.
        position: PositionSide,
        /// New price; `None` clears.
        price: Option<Ticks>,
    },
    /// Close a whole position at market.
    ClosePosition {
        market: MarketId,
        /// Which position.
        position: PositionSide,
        /// Size the bot believes the position has (venues may close what they know instead).
        lots: Lots,
        /// The position's leverage (Kana refuses a close at any other leverage: abort 1004).
        leverage: u32,
    },
}

impl VenueRequest {
    /// The market the request concerns.
    pub fn market(&self) -> MarketId {
        match self {
            VenueRequest::Orders { market, .. }
            | VenueRequest::SetTakeProfit { market, .. }
            | VenueRequest::SetStopLoss { market, .. }
            | VenueRequest::ClosePosition { market, .. } => *market,
        }
    }

    /// True when the request only cancels (rate-limited on the cancel budget).
    pub fn is_cancel_only(&self) -> bool {
        matches!(self, VenueRequest::Orders { place, cancel, .. } if place.is_empty() && !cancel.is_empty())
    }
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RequestOutcome {
    /// The venue applied the request (Kana: the transaction committed successfully).
    Accepted {
        /// Venue ids assigned to the placed orders, where the venue reports them.
        placed: Vec<(ClientOrderId, Option<VenueOrderId>)>,
    },
    /// The venue refused the request as a whole; nothing took effect.
    Rejected {
        /// The venue's reason (e.g. a decoded Move abort), for people.
        reason: String,
        /// What kind of refusal it is, for code: the executor and strategies act on this, never
        /// on the text.
        kind: RefusalKind,
    },
    /// Some orders of a batch took effect and some did not (venues without atomic batches).
    Partial {
        /// Orders placed, with venue ids where known.
        placed: Vec<(ClientOrderId, Option<VenueOrderId>)>,
        /// Orders refused, with reasons.
        rejected: Vec<(ClientOrderId, String)>,
    },
    /// The request may or may not have taken effect (timeout, 5xx, transaction not found yet).
    /// It is resolved with [`VenueWriter::resolve`] and never resent blindly.
    Ambiguous {
        /// Why it is ambiguous.
        reason: String,
        /// Venue handle to resolve it by (Kana: the transaction hash).
        token: Option<String>,
    },
}

/// Why a venue refused a request, as far as the executor and a strategy act on it. Each venue maps
/// its own errors (Kana: Move aborts; Kyan: error codes) to these.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum RefusalKind {
    /// An order the request named does not rest on the venue: filled, cancelled or never
    /// placed. A cancel refused for this leaves nothing resting.
    UnknownOrder,
    /// Not enough margin or collateral.
    InsufficientMargin,
    /// A post-only order would have taken liquidity.
    PostOnlyWouldCross,
    /// The venue's own rate limit.
    RateLimited,
    /// The request expired before the venue applied it.
    Expired,
    /// Anything else; the reason says what.
    #[default]
    Other,
}

impl RequestOutcome {
    /// A refusal of kind [`RefusalKind::Other`].
    pub fn rejected(reason: impl Into<String>) -> RequestOutcome {
        RequestOutcome::Rejected {
            reason: reason.into(),
            kind: RefusalKind::Other,
        }
    }
}

/// What a venue's writer can do, so the executor batches only where it is safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VenueCapabilities {
    /// Cancels and places in one market can go in one atomic request.
    pub atomic_replace: bool,
    /// Most orders per placing request.
    pub max_batch: usize,
    /// The venue echoes our client order ids on its events.
    pub client_order_ids: bool,
    /// All orders of one placing request must share one restriction (Kana's batch endpoints
    /// take a single `restriction`), so the executor groups places by restriction.
    pub one_restriction_per_batch: bool,
    /// The venue keeps take-profit / stop-loss triggers on positions
    /// ([`VenueRequest::SetTakeProfit`] / [`VenueRequest::SetStopLoss`]). Kyan has none: the
    /// executor refuses those intents before they leave, naming the venue's limit.
    pub position_triggers: bool,
    /// Orders can be marked as closing a position, so they never open the other side (Kana's
    /// `Direction::Close`). Without it (Kyan: no reduce-only) a closing order is a plain order
    /// and may open the opposite side if the position shrank before it filled.
    pub closing_orders: bool,
    /// The venue keeps one net position per market (Kyan), not a long and a short side (Kana's
    /// hedge mode). Its positions still reach the bot as hedge-mode sides (the held side and a
    /// flat other), but which side a fill opened or closed is only the venue client's inference,
    /// so reconciliation compares net positions.
    pub net_positions: bool,
}

/// What a venue's own transactions have cost, for run reports: on Kana every transaction pays
/// the chain's fee, whether it executed or aborted; venues without on-chain writes report zeros.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TxCosts {
    /// Transactions that reached the chain and were charged (committed successfully or aborted).
    pub transactions: u64,
    /// Of those, the ones that aborted (charged all the same).
    pub failed_transactions: u64,
    /// Gas units used, summed over `transactions`.
    pub gas_units: u64,
    /// The fees in the chain's coin (APT on Kana), each transaction at the price it was signed
    /// with.
    pub native_fee: Decimal,
}

/// A venue's note about a request on its way, written before the request leaves the process
/// (Kana: a signed transaction, by its hash, with what it needs to resolve it). Opaque to
/// everything but the venue that wrote it: the journal stores it as it is, and after a restart
/// hands it back to the same venue ([`VenueWriter::adopt`]), which can then resolve the request
/// as if this process had sent it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResumeToken {
    /// The handle [`VenueWriter::resolve`] takes (Kana: the transaction hash, `0x…`).
    pub handle: String,
    /// The rest, in the venue's own format.
    #[serde(default)]
    pub state: serde_json::Value,
}

/// Which executor request a venue call belongs to (the journal files tokens under it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestScope {
    /// The executor's request id, as journaled.
    pub request: u64,
    /// True for a request that only cancels: it goes even if its token cannot be recorded.
    pub cancel_only: bool,
}

/// Called with each [`ResumeToken`] before the request's bytes leave the process (the
/// write-ahead journal's hook), with the request it belongs to (`None` outside any executor
/// request, like the stall watchdog's cancels). An error stops a placing request; a cancel goes
/// anyway.
pub type SentHook =
    std::sync::Arc<dyn Fn(Option<RequestScope>, &ResumeToken) -> Result<(), String> + Send + Sync>;

/// What a venue call carries besides the request: which request it is and who must see its
/// resume tokens before they leave. Passed explicitly to [`VenueWriter::execute`], so the link
/// between the executor, the venue's signer and the journal is in the signature.
#[derive(Clone, Default)]
pub struct RequestContext {
    /// The executor request this call executes; `None` for calls outside the executor.
    pub scope: Option<RequestScope>,
    /// The write-ahead hook, when a journal is kept.
    pub on_sent: Option<SentHook>,
}

impl RequestContext {
    /// A call outside any executor request, with no hook (tools, tests).
    pub fn none() -> RequestContext {
        RequestContext::default()
    }

    /// Tell the hook a token is about to leave. `Err` means a placing request must not be sent.
    pub fn sent(&self, token: &ResumeToken) -> Result<(), String> {
        match &self.on_sent {
            Some(hook) => hook(self.scope, token),
            None => Ok(()),
        }
    }
}

impl std::fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestContext")
            .field("scope", &self.scope)
            .field("on_sent", &self.on_sent.is_some())
            .finish()
    }
}

/// The writing half of a venue.
#[async_trait]
pub trait VenueWriter: Send + Sync {
    /// What the venue supports.
    fn capabilities(&self) -> VenueCapabilities;

    /// Execute one request and report how it ended. Must not panic; transport errors become
    /// [`RequestOutcome::Ambiguous`] when the request may have reached the venue, and
    /// [`RequestOutcome::Rejected`] only when it certainly did not take effect. A venue that
    /// writes [`ResumeToken`]s hands each to [`RequestContext::sent`] before the bytes leave.
    async fn execute(&self, request: VenueRequest, ctx: &RequestContext) -> RequestOutcome;

    /// Find out how an ambiguous request ended, by its token. Returns `Ambiguous` again while the
    /// venue still cannot tell.
    async fn resolve(&self, request: &VenueRequest, token: Option<&str>) -> RequestOutcome;

    /// Take over a request an earlier process sent (its [`ResumeToken`], from the journal), so
    /// that [`resolve`](Self::resolve) by its handle settles it like one of this writer's own
    /// (Kana: with its expiry, so a transaction the chain never saw ends *expired* rather than
    /// staying unknown). Venues that write no tokens ignore it.
    fn adopt(&self, _token: &ResumeToken) {}

    /// The engine's loop is making progress: called on every engine tick
    /// ([`crate::watchdog::TICK`]). A venue with its own cancel-all-after switch (Kyan's
    /// `POST /heartbeat`) keeps it armed only while these calls keep coming, so a stalled or
    /// dead engine has its orders cancelled by the venue itself. Must be cheap and must not
    /// block.
    fn engine_alive(&self) {}

    /// What the venue's own transactions have cost so far, for reports and the gas budget (on
    /// Kana, chain fees; zero where a venue charges none).
    fn tx_costs(&self) -> TxCosts {
        TxCosts::default()
    }
}

/// What a venue's stream has seen, for metrics: frames, the ones it skipped, reconnects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StreamCounters {
    /// Frames received.
    pub frames: u64,
    /// Frames that could not be decoded (logged and skipped).
    pub decode_skips: u64,
    /// Reconnections after a lost connection.
    pub reconnects: u64,
    /// Resynchronisations completed (after each connect).
    pub resyncs: u64,
}

/// Reads a venue's stream counters (cheap: atomics).
pub type StreamStats = Arc<dyn Fn() -> StreamCounters + Send + Sync>;

/// A connected venue: its markets, its event stream and its writer.
pub struct VenueSession {
    /// Specs of the markets subscribed, as the venue describes them.
    pub markets: Vec<MarketSpec>,
    /// Events from the venue (bounded).
    pub events: mpsc::Receiver<Event>,
    /// Where requests go.
    pub writer: Arc<dyn VenueWriter>,
    /// The stream's counters, where the venue keeps them.
    pub stream_stats: Option<StreamStats>,
}

/// A venue that can be connected to.
#[async_trait]
pub trait Venue: Send {
    /// Short name for logs (`paper`, `kana`).
    fn name(&self) -> &'static str;

    /// Connect, subscribe to the given markets and the account's private streams, and return the
    /// session. Fails if a market does not exist.
    async fn connect(self: Box<Self>, markets: &[MarketId]) -> Result<VenueSession, VenueError>;
}
