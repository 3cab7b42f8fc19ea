//! The soak report: what was injected, how the bot handled it, and the invariants that held or
//! did not.

#[allow(unused_imports)]
use super::*;

/// One invariant and whether it held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invariant {
    /// Short name (`no_duplicates`, …).
    pub name: &'static str,
    /// Whether it held.
    pub ok: bool,
    /// What was measured.
    pub detail: String,
}

/// One fault kind: how often it was configured and injected.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultCount {
    /// The kind, as named in [`FaultTally`].
    pub kind: &'static str,
    /// Its probability during the storm.
    pub probability: f64,
    /// How often the simulator injected it.
    pub injected: u64,
    /// How the bot met it (the counters that show the handling).
    pub handled: String,
}

/// What the bot did with its requests, from the spy around the venue writer and the stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Handling {
    /// Requests handed to the venue.
    pub requests: u64,
    /// Orders in them.
    pub orders_sent: u64,
    /// Requests accepted at once.
    pub accepted: u64,
    /// Requests refused at once, by cause (`abort`, `expired`, `rest`, `node`, `other`).
    pub rejected: BTreeMap<String, u64>,
    /// Requests whose outcome was ambiguous at first.
    pub ambiguous: u64,
    /// Of those, resolved by query as accepted.
    pub resolved_accepted: u64,
    /// Of those, resolved by query as refused (aborted, expired, lost).
    pub resolved_rejected: u64,
    /// Of those, still unknown at the end (left for reconciliation).
    pub unresolved: u64,
    /// Queries made to resolve them.
    pub resolve_queries: u64,
    /// Requests still running when the run ended.
    pub in_flight_at_end: u64,
    /// Requests placing orders sent during the settle (faults off, before shutdown).
    pub placing_requests_in_settle: u64,
    /// Stream events: `Reconnecting`.
    pub reconnects: u64,
    /// Stream events: `Resynced` (state rebuilt from REST after a reconnect).
    pub resyncs: u64,
    /// Stream events: `Disconnected`.
    pub disconnects: u64,
    /// Events the stream delivered.
    pub stream_events: u64,
    /// Events that arrived after the engine stopped reading, applied to the final state.
    pub drained_after_stop: u64,
}

/// A duplicated client intent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Duplicate {
    /// The intent (`c12`, or `close#<request>` for a close-position request).
    pub intent: String,
    /// Venue orders it produced.
    pub venue_orders: Vec<String>,
    /// Requests it was put in.
    pub requests: usize,
}

/// A venue order of the bot that no request of the bot accounts for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VenueOrder {
    /// Market.
    pub market: u64,
    /// Venue order id.
    pub order_id: String,
    /// Transaction that placed it.
    pub tx_hash: String,
    /// Its sequence number.
    pub sequence_number: u64,
    /// Position side (`long` / `short`).
    pub side: String,
    /// `open` / `close`.
    pub direction: String,
    /// Price in ticks (0 for market orders).
    pub price_ticks: u64,
    /// Size in lots.
    pub lots: u64,
}

/// A request whose final outcome contradicts the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Misjudged {
    /// Transaction hash.
    pub tx_hash: String,
    /// What the bot concluded.
    pub bot: String,
    /// What the chain did.
    pub chain: String,
}

/// One market and side: the bot's position against the simulator's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PositionCheck {
    /// Market.
    pub market: u64,
    /// `long` / `short`.
    pub side: String,
    /// The bot's final state (lots).
    pub local_lots: u64,
    /// The same when the engine stopped, before the drain.
    pub local_lots_at_stop: u64,
    /// The simulator's (lots).
    pub venue_lots: u64,
}

/// A risk limit seen exceeded in the simulator's positions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Breach {
    /// Seconds into the run.
    pub at_secs: u64,
    /// The limit (`risk.max_position_notional`, …).
    pub limit: String,
    /// The value seen.
    pub value: String,
    /// The limit's value.
    pub max: String,
}

/// What the risk sampler saw.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RiskSeen {
    /// Samples taken.
    pub samples: u64,
    /// Largest position size per `market/side` (base coins).
    pub max_size: BTreeMap<String, Decimal>,
    /// Largest entry notional per `market/side` (quote).
    pub max_notional: BTreeMap<String, Decimal>,
    /// Largest total entry notional (quote).
    pub max_total_notional: Decimal,
    /// Most resting orders of the bot at once.
    pub max_open_orders: usize,
    /// Most resting orders of the bot at once during the settle (faults off): a market maker
    /// that recovered quotes again.
    pub max_open_orders_in_settle: usize,
    /// Samples with a breach.
    pub breached_samples: u64,
    /// The first breaches (at most 20).
    pub breaches: Vec<Breach>,
}

/// Orders: intents, venue orders and how they line up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OrderAudit {
    /// Client intents put into requests.
    pub intents: u64,
    /// Orders the bot's account placed on the venue (simulator's log).
    pub venue_orders: u64,
    /// Of those, attributed by the venue id the client reported.
    pub by_venue_id: u64,
    /// … by the request's transaction hash.
    pub by_tx_hash: u64,
    /// … by market, side, direction, price and size.
    pub by_fields: u64,
    /// Transactions of the bot the chain committed (successfully or aborted).
    pub committed_transactions: u64,
    /// Intents with more than one venue order, or put into more than one request.
    pub duplicates: Vec<Duplicate>,
    /// Venue orders no request accounts for (at most 50 listed).
    pub unexplained: Vec<VenueOrder>,
    /// Number of unexplained venue orders.
    pub unexplained_count: u64,
    /// Requests whose final outcome contradicts the chain (at most 50 listed).
    pub misjudged: Vec<Misjudged>,
    /// Number of misjudged requests.
    pub misjudged_count: u64,
    /// Venue orders of the bot still resting after shutdown.
    pub orphans: Vec<VenueOrder>,
    /// Transactions of the bot still pending after shutdown that would place orders.
    pub pending_placing_transactions: u64,
    /// How the bot's own state saw each orphan at exit (client id, status, fills), to tell a
    /// lost cancel from a wrongly closed order.
    pub orphans_as_the_bot_saw_them: Vec<String>,
}

/// The soak's verdict and everything behind it.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    /// Seed of faults, market and key.
    pub seed: u64,
    /// `wall clock`: see the module docs for why simulated time is not possible.
    pub time_base: &'static str,
    /// Configured run (s): storm plus settle.
    pub duration_secs: f64,
    /// Of which the fault-free settle at the end (s).
    pub settle_secs: f64,
    /// Wall time from connect to the end of the drain (s).
    pub elapsed_secs: f64,
    /// The faults in force during the storm.
    pub faults: FaultConfig,
    /// The simulator's tally of injected faults.
    pub injected: FaultTally,
    /// Per kind: configured, injected, handled.
    pub fault_counts: Vec<FaultCount>,
    /// Kinds switched on that were never injected.
    pub fault_kinds_missed: Vec<&'static str>,
    /// Kinds the dice had not produced by `force_missing_from` of the storm, forced once.
    pub forced: Vec<&'static str>,
    /// What the bot did with its requests and stream.
    pub handling: Handling,
    /// Intents against venue orders.
    pub orders: OrderAudit,
    /// Bot against simulator, per market and side.
    pub positions: Vec<PositionCheck>,
    /// The risk sampler's findings.
    pub risk: RiskSeen,
    /// Whether the engine task panicked.
    pub engine_panicked: bool,
    /// Whether the venue stream ended before shutdown.
    pub stream_ended_early: bool,
    /// What the bot's state counted as handled oddities.
    pub anomalies: Anomalies,
    /// The engine's own summary (absent if it panicked).
    pub run: Option<RunSummary>,
    /// The last requests (at most 100): seconds into the run, what, first and last outcome.
    pub request_log: Vec<String>,
    /// The verdict, one line each.
    pub invariants: Vec<Invariant>,
}

impl SoakReport {
    /// True when every invariant held.
    pub fn passed(&self) -> bool {
        self.invariants.iter().all(|i| i.ok)
    }

    /// The names of the invariants that failed.
    pub fn failures(&self) -> Vec<&'static str> {
        self.invariants
            .iter()
            .filter(|i| !i.ok)
            .map(|i| i.name)
            .collect()
    }

    /// The human summary `perpbot soak` prints.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\n── soak report (seed {}, {:.0} s {} incl. {:.0} s settle without faults; {:.0} s elapsed) ──",
            self.seed, self.duration_secs, self.time_base, self.settle_secs, self.elapsed_secs
        );
        let _ = writeln!(s, "  {:<16} {:>8} {:>8}  handled", "fault", "p", "injected");
        for f in &self.fault_counts {
            let _ = writeln!(
                s,
                "  {:<16} {:>8.4} {:>8}  {}",
                f.kind, f.probability, f.injected, f.handled
            );
        }
        if !self.forced.is_empty() {
            let _ = writeln!(
                s,
                "  (not met by the dice in time, forced once each: {})",
                self.forced.join(", ")
            );
        }
        if !self.fault_kinds_missed.is_empty() {
            let _ = writeln!(
                s,
                "  (switched on but never injected: {})",
                self.fault_kinds_missed.join(", ")
            );
        }
        let h = &self.handling;
        let rejected: u64 = h.rejected.values().sum();
        let _ = writeln!(
            s,
            "  requests         {} ({} orders): {} accepted, {} refused {:?}, {} ambiguous → {} accepted / {} refused / {} unresolved after {} queries; {} in flight at the end",
            h.requests,
            h.orders_sent,
            h.accepted,
            rejected,
            h.rejected,
            h.ambiguous,
            h.resolved_accepted,
            h.resolved_rejected,
            h.unresolved,
            h.resolve_queries,
            h.in_flight_at_end
        );
        let _ = writeln!(
            s,
            "  stream           {} events, {} reconnects, {} resyncs, {} disconnects; {} drained after stop",
            h.stream_events, h.reconnects, h.resyncs, h.disconnects, h.drained_after_stop
        );
        let o = &self.orders;
        let _ = writeln!(
            s,
            "  orders           {} intents, {} venue orders (by id {}, by tx {}, by fields {}), {} transactions committed",
            o.intents,
            o.venue_orders,
            o.by_venue_id,
            o.by_tx_hash,
            o.by_fields,
            o.committed_transactions
        );
        for p in &self.positions {
            let _ = writeln!(
                s,
                "  position {:>5} {:<5} bot {} lots (at stop {}), simulator {} lots",
                p.market, p.side, p.local_lots, p.local_lots_at_stop, p.venue_lots
            );
        }
        let r = &self.risk;
        let _ = writeln!(
            s,
            "  risk             {} samples; max size {:?}, max notional {:?}, max total {}, max resting orders {}",
            r.samples,
            r.max_size,
            r.max_notional,
            r.max_total_notional.round_dp(4),
            r.max_open_orders
        );
        if let Some(run) = &self.run {
            let _ = writeln!(
                s,
                "  run              {} fills, PnL {}, {} risk refusals, trading {:?}",
                run.fills,
                run.total_pnl.round_dp(4),
                run.risk_rejections,
                run.trading_state
            );
        }
        let _ = writeln!(s, "  invariants");
        for i in &self.invariants {
            let _ = writeln!(
                s,
                "    [{}] {:<22} {}",
                if i.ok { " ok " } else { "FAIL" },
                i.name,
                i.detail
            );
        }
        let _ = writeln!(
            s,
            "  verdict          {}",
            if self.passed() { "PASS" } else { "FAIL" }
        );
        s
    }
}
