//! What the journal stores: one [`Entry`] per record, JSON inside a checksummed frame.
//!
//! The on-disk shapes are the journal's own, not the in-memory types': the engine's types may
//! change without making old journals unreadable, and 128-bit ids (Kana order ids, trade ids)
//! are written as decimal strings, which every JSON reader keeps exact. Each record type converts
//! to and from the engine's type it mirrors.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::venue::{CancelOrder, RefusalKind, RequestOutcome, ResumeToken, VenueRequest};
use perpbot_model::{
    ClientOrderId, Direction, Fill, Liquidity, Lots, MarketId, Order, OrderRequest, OrderStatus,
    Position, PositionSide, Side, Ticks, Timestamp, TradeId, VenueOrderId,
};

/// One record as stored: its sequence number in the file, when it was written, and what it says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the journal (1, 2, 3 …, continued across restarts).
    pub seq: u64,
    /// Wall-clock time of writing, milliseconds since the Unix epoch.
    pub ts_ms: u64,
    /// The record.
    #[serde(flatten)]
    pub record: Record,
}

/// Everything the journal records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    /// A process started on this journal.
    Session(SessionRecord),
    /// An intent the risk check approved, as handed to the executor (for the audit trail; a
    /// restart does not replay intents).
    Intent {
        /// The intent, as the engine serialises it.
        intent: serde_json::Value,
    },
    /// A venue request, written **before** it is handed to the venue (write-ahead).
    Request {
        /// Request id, unique in the journal (the executor's id, continued across restarts).
        id: u64,
        request: RequestRecord,
    },
    /// A transaction signed for a request, written **before** it is sent (write-ahead; Kana).
    Signed(SignedRecord),
    /// How a request ended (or that it is still ambiguous).
    Outcome {
        /// The request.
        id: u64,
        outcome: OutcomeRecord,
        /// True when a restart resolved it (the process that sent it had stopped).
        #[serde(default)]
        at_start: bool,
    },
    /// An order's status changed (acknowledged, venue id learned, filled, cancelled …).
    Order(OrderRecord),
    /// A fill.
    Fill(FillRecord),
    /// A checkpoint: every live order and every unresolved request, the positions, the highest
    /// client id. A restart needs nothing before the last one.
    Snapshot(SnapshotRecord),
    /// The process stopped gracefully.
    Shutdown {
        /// True when every order was confirmed closed.
        clean: bool,
        /// Orders still live (not confirmed cancelled).
        left_open: Vec<ClientOrderId>,
    },
}

impl Record {
    /// The record kind's name (`request`, `fill` …), as stored in the `kind` field.
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Session(_) => "session",
            Record::Intent { .. } => "intent",
            Record::Request { .. } => "request",
            Record::Signed(_) => "signed",
            Record::Outcome { .. } => "outcome",
            Record::Order(_) => "order",
            Record::Fill(_) => "fill",
            Record::Snapshot(_) => "snapshot",
            Record::Shutdown { .. } => "shutdown",
        }
    }
}

/// Who wrote the records that follow, and whether they continue the ones before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Venue kind (`kana`, `sim`, `paper`).
    pub venue: String,
    /// Chain id for on-chain venues.
    pub chain_id: Option<u8>,
    /// Operating-system process id (for the operator).
    pub pid: u32,
    /// perpbot version.
    pub version: String,
    /// False when the venue starts afresh with the process (the embedded simulator, paper): what
    /// earlier sessions left is not carried over.
    pub carries_over: bool,
    /// True when the venue writer journals every transaction between signing and sending
    /// ([`Record::Signed`]): a request without one then certainly never reached the venue.
    pub signs_before_send: bool,
}

impl SessionRecord {
    /// What identifies the account's venue for a restart: kind and chain.
    pub fn venue_identity(&self) -> String {
        match self.chain_id {
            Some(c) => format!("{} (chain {c})", self.venue),
            None => self.venue.clone(),
        }
    }
}

/// A venue's [`ResumeToken`] for a request, journaled before the request left the process
/// (Kana: a signed transaction).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "SignedRecordWire")]
pub struct SignedRecord {
    /// The request it was written for; `None` when written outside the executor (the stall
    /// watchdog's cancel-all).
    pub request: Option<u64>,
    /// The venue's token, as the venue wrote it.
    pub token: ResumeToken,
}

/// Both shapes a journal may hold: the venue's token, or the flat record that journals written
/// before tokens existed carry: its `hash` is the handle and every other field is the state,
/// as it was (the venue that wrote it reads it back, so the journal need not understand it).
#[derive(Deserialize)]
#[serde(untagged)]
enum SignedRecordWire {
    Token {
        request: Option<u64>,
        token: ResumeToken,
    },
    Flat {
        request: Option<u64>,
        hash: String,
        #[serde(flatten)]
        state: serde_json::Map<String, serde_json::Value>,
    },
}

impl From<SignedRecordWire> for SignedRecord {
    fn from(wire: SignedRecordWire) -> SignedRecord {
        match wire {
            SignedRecordWire::Token { request, token } => SignedRecord { request, token },
            SignedRecordWire::Flat {
                request,
                hash,
                state,
            } => SignedRecord {
                request,
                token: ResumeToken {
                    handle: hash,
                    state: serde_json::Value::Object(state),
                },
            },
        }
    }
}

/// One order to cancel ([`CancelOrder`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelRecord {
    /// Our id.
    pub client_id: ClientOrderId,
    /// The venue's id, decimal.
    #[serde(with = "opt_u128_str", default)]
    pub venue_id: Option<u128>,
    pub market: MarketId,
    /// Book side.
    pub side: Side,
    /// Open or close.
    pub direction: Direction,
}

impl From<&CancelOrder> for CancelRecord {
    fn from(c: &CancelOrder) -> CancelRecord {
        CancelRecord {
            client_id: c.client_id,
            venue_id: c.venue_id.map(|v| v.0),
            market: c.market,
            side: c.side,
            direction: c.direction,
        }
    }
}

impl From<&CancelRecord> for CancelOrder {
    fn from(c: &CancelRecord) -> CancelOrder {
        CancelOrder {
            client_id: c.client_id,
            venue_id: c.venue_id.map(VenueOrderId),
            market: c.market,
            side: c.side,
            direction: c.direction,
        }
    }
}

/// A venue request ([`VenueRequest`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum RequestRecord {
    /// Cancel and/or place orders in one market.
    Orders {
        market: MarketId,
        /// Orders to cancel.
        cancel: Vec<CancelRecord>,
        /// Orders to place, with their client ids.
        place: Vec<OrderRequest>,
    },
    /// Set or clear a take-profit.
    SetTakeProfit {
        market: MarketId,
        position: PositionSide,
        /// Price; `None` clears.
        price: Option<Ticks>,
    },
    /// Set or clear a stop-loss.
    SetStopLoss {
        market: MarketId,
        position: PositionSide,
        /// Price; `None` clears.
        price: Option<Ticks>,
    },
    /// Close a position at market.
    ClosePosition {
        market: MarketId,
        position: PositionSide,
        /// Size believed.
        lots: Lots,
        /// The position's leverage.
        leverage: u32,
    },
}

impl From<&VenueRequest> for RequestRecord {
    fn from(r: &VenueRequest) -> RequestRecord {
        match r {
            VenueRequest::Orders {
                market,
                cancel,
                place,
            } => RequestRecord::Orders {
                market: *market,
                cancel: cancel.iter().map(CancelRecord::from).collect(),
                place: place.clone(),
            },
            VenueRequest::SetTakeProfit {
                market,
                position,
                price,
            } => RequestRecord::SetTakeProfit {
                market: *market,
                position: *position,
                price: *price,
            },
            VenueRequest::SetStopLoss {
                market,
                position,
                price,
            } => RequestRecord::SetStopLoss {
                market: *market,
                position: *position,
                price: *price,
            },
            VenueRequest::ClosePosition {
                market,
                position,
                lots,
                leverage,
            } => RequestRecord::ClosePosition {
                market: *market,
                position: *position,
                lots: *lots,
                leverage: *leverage,
            },
        }
    }
}

impl From<&RequestRecord> for VenueRequest {
    fn from(r: &RequestRecord) -> VenueRequest {
        match r {
            RequestRecord::Orders {
                market,
                cancel,
                place,
            } => VenueRequest::Orders {
                market: *market,
                cancel: cancel.iter().map(CancelOrder::from).collect(),
                place: place.clone(),
            },
            RequestRecord::SetTakeProfit {
                market,
                position,
                price,
            } => VenueRequest::SetTakeProfit {
                market: *market,
                position: *position,
                price: *price,
            },
            RequestRecord::SetStopLoss {
                market,
                position,
                price,
            } => VenueRequest::SetStopLoss {
                market: *market,
                position: *position,
                price: *price,
            },
            RequestRecord::ClosePosition {
                market,
                position,
                lots,
                leverage,
            } => VenueRequest::ClosePosition {
                market: *market,
                position: *position,
                lots: *lots,
                leverage: *leverage,
            },
        }
    }
}

/// An order placed by a request, with the venue's id where it was reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacedRecord {
    /// Our id.
    pub client_id: ClientOrderId,
    /// The venue's id, decimal.
    #[serde(with = "opt_u128_str", default)]
    pub venue_id: Option<u128>,
}

/// An order a request failed to place, with the venue's reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedRecord {
    /// Our id.
    pub client_id: ClientOrderId,
    /// Why.
    pub reason: String,
}

/// How a request ended ([`RequestOutcome`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum OutcomeRecord {
    /// Applied. (Journals written before costs reached risk by one path also carry a `cost`;
    /// it was always zero and is ignored.)
    Accepted {
        /// Orders placed.
        placed: Vec<PlacedRecord>,
    },
    /// Refused as a whole.
    Rejected {
        /// The venue's reason.
        reason: String,
        /// Its kind (journals written before kinds existed read as `other`).
        #[serde(default)]
        kind: RefusalKind,
    },
    /// Partly applied.
    Partial {
        /// Orders placed.
        placed: Vec<PlacedRecord>,
        /// Orders refused.
        rejected: Vec<RefusedRecord>,
    },
    /// Unknown yet.
    Ambiguous {
        /// Why.
        reason: String,
        /// Handle to resolve it by (Kana: the transaction hash).
        token: Option<String>,
    },
}

impl OutcomeRecord {
    /// True while the outcome is unknown.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, OutcomeRecord::Ambiguous { .. })
    }
}

fn placed_record(placed: &[(ClientOrderId, Option<VenueOrderId>)]) -> Vec<PlacedRecord> {
    placed
        .iter()
        .map(|(c, v)| PlacedRecord {
            client_id: *c,
            venue_id: v.map(|v| v.0),
        })
        .collect()
}

fn placed_outcome(placed: &[PlacedRecord]) -> Vec<(ClientOrderId, Option<VenueOrderId>)> {
    placed
        .iter()
        .map(|p| (p.client_id, p.venue_id.map(VenueOrderId)))
        .collect()
}

impl From<&RequestOutcome> for OutcomeRecord {
    fn from(o: &RequestOutcome) -> OutcomeRecord {
        match o {
            RequestOutcome::Accepted { placed } => OutcomeRecord::Accepted {
                placed: placed_record(placed),
            },
            RequestOutcome::Rejected { reason, kind } => OutcomeRecord::Rejected {
                reason: reason.clone(),
                kind: *kind,
            },
            RequestOutcome::Partial { placed, rejected } => OutcomeRecord::Partial {
                placed: placed_record(placed),
                rejected: rejected
                    .iter()
                    .map(|(c, r)| RefusedRecord {
                        client_id: *c,
                        reason: r.clone(),
                    })
                    .collect(),
            },
            RequestOutcome::Ambiguous { reason, token } => OutcomeRecord::Ambiguous {
                reason: reason.clone(),
                token: token.clone(),
            },
        }
    }
}

impl From<&OutcomeRecord> for RequestOutcome {
    fn from(o: &OutcomeRecord) -> RequestOutcome {
        match o {
            OutcomeRecord::Accepted { placed } => RequestOutcome::Accepted {
                placed: placed_outcome(placed),
            },
            OutcomeRecord::Rejected { reason, kind } => RequestOutcome::Rejected {
                reason: reason.clone(),
                kind: *kind,
            },
            OutcomeRecord::Partial { placed, rejected } => RequestOutcome::Partial {
                placed: placed_outcome(placed),
                rejected: rejected
                    .iter()
                    .map(|r| (r.client_id, r.reason.clone()))
                    .collect(),
            },
            OutcomeRecord::Ambiguous { reason, token } => RequestOutcome::Ambiguous {
                reason: reason.clone(),
                token: token.clone(),
            },
        }
    }
}

/// An order as the engine tracks it ([`Order`]): enough to re-track it after a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    /// The request as sent (with the client id).
    pub request: OrderRequest,
    /// The venue's id, decimal.
    #[serde(with = "opt_u128_str", default)]
    pub venue_id: Option<u128>,
    pub status: OrderStatus,
    /// Filled so far.
    pub filled: Lots,
    /// Σ lots·ticks over fills, decimal.
    #[serde(with = "u128_str")]
    pub filled_notional_ticks: u128,
    /// Trade ids applied, decimal.
    #[serde(with = "vec_u128_str", default)]
    pub trade_ids: Vec<u128>,
    /// Adopted from the venue rather than placed by this bot.
    #[serde(default)]
    pub external: bool,
    /// Created (engine clock).
    pub created_at: Timestamp,
    /// Last changed (engine clock).
    pub updated_at: Timestamp,
}

impl From<&Order> for OrderRecord {
    fn from(o: &Order) -> OrderRecord {
        OrderRecord {
            request: o.request.clone(),
            venue_id: o.venue_id.map(|v| v.0),
            status: o.status,
            filled: o.filled,
            filled_notional_ticks: o.filled_notional_ticks,
            trade_ids: o.trade_ids.iter().map(|t| t.0).collect(),
            external: o.external,
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

impl From<&OrderRecord> for Order {
    fn from(r: &OrderRecord) -> Order {
        Order {
            request: r.request.clone(),
            venue_id: r.venue_id.map(VenueOrderId),
            status: r.status,
            filled: r.filled,
            filled_notional_ticks: r.filled_notional_ticks,
            trade_ids: r.trade_ids.iter().copied().map(TradeId).collect(),
            external: r.external,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A fill ([`Fill`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FillRecord {
    pub market: MarketId,
    /// Our id, when known.
    pub client_id: Option<ClientOrderId>,
    /// The venue's order id, decimal.
    #[serde(with = "opt_u128_str", default)]
    pub venue_id: Option<u128>,
    /// Fill id, decimal.
    #[serde(with = "u128_str")]
    pub trade_id: u128,
    /// Book side of our order.
    pub side: Side,
    /// Open or close.
    pub direction: Direction,
    /// Size.
    pub lots: Lots,
    pub price: Ticks,
    /// Fee (quote).
    pub fee: Decimal,
    /// PnL realised (quote).
    pub realized_pnl: Decimal,
    /// Maker or taker.
    pub liquidity: Liquidity,
    /// When (venue time).
    pub ts: Timestamp,
}

impl From<&Fill> for FillRecord {
    fn from(f: &Fill) -> FillRecord {
        FillRecord {
            market: f.market,
            client_id: f.client_id,
            venue_id: f.venue_id.map(|v| v.0),
            trade_id: f.trade_id.0,
            side: f.side,
            direction: f.direction,
            lots: f.lots,
            price: f.price,
            fee: f.fee,
            realized_pnl: f.realized_pnl,
            liquidity: f.liquidity,
            ts: f.ts,
        }
    }
}

/// A request without a final outcome at a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenRequestRecord {
    /// Request id.
    pub id: u64,
    pub request: RequestRecord,
    /// Transactions signed for it.
    pub signed: Vec<SignedRecord>,
    /// The last ambiguity token the venue gave.
    pub token: Option<String>,
    /// Whether its session journaled transactions before sending them.
    pub signs_before_send: bool,
}

/// A checkpoint ([`Record::Snapshot`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    /// Highest client order id used so far.
    pub max_client_id: u64,
    /// Highest request id used so far.
    pub max_request_id: u64,
    /// Live orders.
    pub orders: Vec<OrderRecord>,
    /// Requests without a final outcome.
    pub open_requests: Vec<OpenRequestRecord>,
    /// Positions as the engine knew them (for the operator; a restart takes positions from the
    /// venue).
    pub positions: Vec<Position>,
}

/// `u128` as a decimal string (exact in every JSON reader).
pub(crate) mod u128_str {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// `Option<u128>` as a decimal string or null.
pub(crate) mod opt_u128_str {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<u128>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_some(&v.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u128>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => text.parse().map(Some).map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

/// `Vec<u128>` as decimal strings.
pub(crate) mod vec_u128_str {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u128], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|x| x.to_string()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u128>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|t| t.parse().map_err(serde::de::Error::custom))
            .collect()
    }
}
