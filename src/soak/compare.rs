//! The comparison: the bot's own view against the simulator's truth — duplicates, orphans,
//! positions, risk limits — turned into the report's invariants.

#[allow(unused_imports)]
use super::*;

/// What an intent is called in the report.
pub(super) fn intent_name(client: Option<ClientOrderId>, request: usize) -> String {
    client.map_or_else(|| format!("close#{request}"), |c| c.to_string())
}

/// The orders a request places, each as (intent, market, side, direction, kind, price, lots).
pub(super) fn places_of(request: &VenueRequest, idx: usize) -> Vec<(String, PlaceShape)> {
    match request {
        VenueRequest::Orders { place, .. } => place
            .iter()
            .map(|r| (intent_name(Some(r.client_id), idx), PlaceShape::of(r)))
            .collect(),
        VenueRequest::ClosePosition {
            market,
            position,
            lots,
            ..
        } => vec![(
            intent_name(None, idx),
            PlaceShape {
                market: *market,
                side: *position,
                direction: Direction::Close,
                kind: OrderKind::Market,
                price: 0,
                lots: lots.0,
            },
        )],
        _ => Vec::new(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PlaceShape {
    market: MarketId,
    side: PositionSide,
    direction: Direction,
    kind: OrderKind,
    price: u64,
    lots: u64,
}

impl PlaceShape {
    fn of(r: &OrderRequest) -> PlaceShape {
        let o = &r.order;
        PlaceShape {
            market: o.market,
            side: o.position_side(),
            direction: o.direction,
            kind: o.kind,
            price: o.price.map_or(0, |t: Ticks| t.0),
            lots: o.lots.0,
        }
    }

    /// Whether a venue order could be this place (a close-position's size is the bot's belief;
    /// the venue closes what it holds, so its size is not compared).
    fn fits(&self, o: &SimOrder) -> bool {
        self.market == o.market
            && self.side == o.side
            && self.direction == o.direction
            && self.kind == o.kind
            && (self.kind == OrderKind::Market || self.price == o.price)
            && (self.kind == OrderKind::Market && self.direction == Direction::Close
                || self.lots == o.lots)
    }
}

pub(super) fn final_kind(outcome: Option<&RequestOutcome>) -> &'static str {
    match outcome {
        Some(RequestOutcome::Accepted { .. }) => "accepted",
        Some(RequestOutcome::Partial { .. }) => "partially accepted",
        Some(RequestOutcome::Rejected { .. }) => "refused",
        Some(RequestOutcome::Ambiguous { .. }) => "unknown",
        None => "in flight",
    }
}

/// Why a request was refused, in a few buckets.
pub(super) fn refusal_cause(reason: &str) -> &'static str {
    let r = reason.to_ascii_lowercase();
    if r.contains("expired") {
        "expired"
    } else if r.starts_with("kana rest") {
        "rest"
    } else if r.contains("node refused") {
        "node"
    } else if r.contains("abort") || r.contains("e_") || r.contains("move") {
        "abort"
    } else {
        "other"
    }
}

pub(super) fn handling_of(
    log: &WriteLog,
    tap: &Tap,
    drained: u64,
    settle: Option<(tokio::time::Instant, tokio::time::Instant)>,
) -> Handling {
    let mut h = Handling {
        reconnects: tap.reconnects,
        resyncs: tap.resyncs,
        disconnects: tap.disconnects,
        stream_events: tap.events,
        drained_after_stop: drained,
        ..Handling::default()
    };
    for s in &log.sent {
        h.requests += 1;
        if let VenueRequest::Orders { place, .. } = &s.request {
            h.orders_sent += place.len() as u64;
        }
        h.resolve_queries += s.resolves;
        let places = matches!(&s.request, VenueRequest::Orders { place, .. } if !place.is_empty());
        if places && settle.is_some_and(|(from, to)| s.at >= from && s.at < to) {
            h.placing_requests_in_settle += 1;
        }
        match &s.first {
            None => h.in_flight_at_end += 1,
            Some(RequestOutcome::Accepted { .. } | RequestOutcome::Partial { .. }) => {
                h.accepted += 1;
            }
            Some(RequestOutcome::Rejected { reason, .. }) => {
                *h.rejected.entry(refusal_cause(reason).into()).or_default() += 1;
            }
            Some(RequestOutcome::Ambiguous { .. }) => {
                h.ambiguous += 1;
                match &s.last {
                    Some(RequestOutcome::Accepted { .. } | RequestOutcome::Partial { .. }) => {
                        h.resolved_accepted += 1;
                    }
                    Some(RequestOutcome::Rejected { .. }) => h.resolved_rejected += 1,
                    _ => h.unresolved += 1,
                }
            }
        }
    }
    h
}

pub(super) fn audit(log: &WriteLog, truth: &Truth) -> OrderAudit {
    let mut a = OrderAudit {
        venue_orders: truth.orders.len() as u64,
        committed_transactions: truth
            .txs
            .values()
            .filter(|(_, c)| matches!(c, Chain::Committed | Chain::Aborted))
            .count() as u64,
        pending_placing_transactions: truth.pending_placing,
        ..OrderAudit::default()
    };
    // Intents and the requests they were put in.
    let mut requests_of: BTreeMap<String, usize> = BTreeMap::new();
    for (idx, s) in log.sent.iter().enumerate() {
        for (intent, _) in places_of(&s.request, idx) {
            *requests_of.entry(intent).or_default() += 1;
        }
    }
    a.intents = requests_of.len() as u64;

    // Venue id → intent, from what the client reported.
    let mut by_id: HashMap<(MarketId, VenueOrderId), String> = HashMap::new();
    for s in &log.sent {
        let market = s.request.market();
        for outcome in [s.first.as_ref(), s.last.as_ref()].into_iter().flatten() {
            let placed = match outcome {
                RequestOutcome::Accepted { placed, .. }
                | RequestOutcome::Partial { placed, .. } => placed,
                _ => continue,
            };
            for (client, venue) in placed {
                if let Some(v) = venue {
                    by_id.insert((market, *v), client.to_string());
                }
            }
        }
    }
    // Transaction hash → request.
    let mut by_hash: HashMap<&str, usize> = HashMap::new();
    for (idx, s) in log.sent.iter().enumerate() {
        for t in &s.tokens {
            by_hash.insert(t.as_str(), idx);
        }
    }
    let mut orders_by_hash: HashMap<&str, Vec<&SimOrder>> = HashMap::new();
    for o in &truth.orders {
        orders_by_hash.entry(o.hash.as_str()).or_default().push(o);
    }

    let mut venue_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut claimed_shapes: HashSet<String> = HashSet::new();
    let mut unexplained: Vec<&SimOrder> = Vec::new();
    for o in &truth.orders {
        if let Some(intent) = by_id.get(&(o.market, o.id)) {
            a.by_venue_id += 1;
            claimed_shapes.insert(intent.clone());
            venue_of
                .entry(intent.clone())
                .or_default()
                .push(o.id.to_string());
            continue;
        }
        let by_tx = by_hash.get(o.hash.as_str()).and_then(|&idx| {
            let s = log.sent.get(idx)?;
            let places = places_of(&s.request, idx);
            // Pair the transaction's orders with the request's places in order, by kind.
            let siblings = orders_by_hash.get(o.hash.as_str())?;
            let nth = siblings
                .iter()
                .filter(|x| x.kind == o.kind)
                .position(|x| x.id == o.id)?;
            places
                .into_iter()
                .filter(|(_, p)| p.kind == o.kind)
                .nth(nth)
                .map(|(intent, _)| intent)
        });
        if let Some(intent) = by_tx {
            a.by_tx_hash += 1;
            claimed_shapes.insert(intent.clone());
            venue_of.entry(intent).or_default().push(o.id.to_string());
            continue;
        }
        unexplained.push(o);
    }
    // Fallback: accepted requests whose orders got no venue id, matched by shape.
    let mut still = Vec::new();
    for o in unexplained {
        let hit = log.sent.iter().enumerate().find_map(|(idx, s)| {
            if !matches!(
                s.last,
                Some(RequestOutcome::Accepted { .. } | RequestOutcome::Partial { .. })
            ) {
                return None;
            }
            places_of(&s.request, idx)
                .into_iter()
                .find(|(intent, p)| !claimed_shapes.contains(intent) && p.fits(o))
                .map(|(intent, _)| intent)
        });
        match hit {
            Some(intent) => {
                a.by_fields += 1;
                claimed_shapes.insert(intent.clone());
                venue_of.entry(intent).or_default().push(o.id.to_string());
            }
            None => still.push(o),
        }
    }
    a.unexplained_count = still.len() as u64;
    a.unexplained = still.iter().take(50).map(|o| o.describe()).collect();

    for (intent, requests) in &requests_of {
        let venue = venue_of.get(intent).cloned().unwrap_or_default();
        if venue.len() > 1 || *requests > 1 {
            a.duplicates.push(Duplicate {
                intent: intent.clone(),
                venue_orders: venue,
                requests: *requests,
            });
        }
    }

    // Final outcomes against the chain, for every request whose transaction is known. Two
    // requests can sign byte-identical transactions (same payload, sequence number freed by a
    // refusal, same expiry second, so the same hash); the chain executed it once, and a refused
    // request's hash that committed is explained when an accepted request carries that hash.
    let accepted_tokens: std::collections::HashSet<&String> = log
        .sent
        .iter()
        .filter(|s| {
            matches!(
                final_kind(s.last.as_ref()),
                "accepted" | "partially accepted"
            )
        })
        .flat_map(|s| s.tokens.iter())
        .collect();
    for s in &log.sent {
        let bot = final_kind(s.last.as_ref());
        for t in &s.tokens {
            let Some(&(_, chain)) = truth.txs.get(t) else {
                continue;
            };
            let contradicts = match (bot, chain) {
                ("accepted" | "partially accepted", Chain::Committed) => false,
                ("accepted" | "partially accepted", _) => true,
                ("refused", Chain::Committed) => !accepted_tokens.contains(t),
                _ => false,
            };
            if contradicts {
                a.misjudged_count += 1;
                if a.misjudged.len() < 50 {
                    a.misjudged.push(Misjudged {
                        tx_hash: t.clone(),
                        bot: bot.into(),
                        chain: chain.name().into(),
                    });
                }
            }
        }
    }
    a.orphans = truth.open.iter().map(SimOrder::describe).collect();
    a
}

/// One line per request, the last 100.
pub(super) fn request_log(log: &WriteLog, started: tokio::time::Instant) -> Vec<String> {
    let short = |o: Option<&RequestOutcome>| match o {
        None => "in flight".to_string(),
        Some(RequestOutcome::Accepted { .. }) => "accepted".into(),
        Some(RequestOutcome::Partial { .. }) => "partial".into(),
        Some(RequestOutcome::Rejected { reason, .. }) => {
            format!("refused ({})", reason.chars().take(90).collect::<String>())
        }
        Some(RequestOutcome::Ambiguous { reason, .. }) => {
            format!(
                "ambiguous ({})",
                reason.chars().take(60).collect::<String>()
            )
        }
    };
    let skip = log.sent.len().saturating_sub(100);
    log.sent
        .iter()
        .skip(skip)
        .map(|s| {
            let what = match &s.request {
                VenueRequest::Orders { cancel, place, .. } => format!(
                    "cancel [{}] place [{}]",
                    cancel
                        .iter()
                        .map(|c| c.client_id.to_string())
                        .collect::<Vec<_>>()
                        .join(" "),
                    place
                        .iter()
                        .map(|p| p.client_id.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                VenueRequest::SetTakeProfit { .. } => "take-profit".into(),
                VenueRequest::SetStopLoss { .. } => "stop-loss".into(),
                VenueRequest::ClosePosition { .. } => "close position".into(),
            };
            format!(
                "{:>7.2}s {what} → {} → {}",
                s.at.saturating_duration_since(started).as_secs_f64(),
                short(s.first.as_ref()),
                short(s.last.as_ref())
            )
        })
        .collect()
}

pub(super) fn positions_of(state: &State) -> BTreeMap<(MarketId, PositionSide), u64> {
    state
        .positions()
        .filter(|p| p.lots > Lots::ZERO)
        .map(|p| ((p.market, p.side), p.lots.0))
        .collect()
}

pub(super) fn fault_counts(f: &FaultConfig, t: &FaultTally, h: &Handling) -> Vec<FaultCount> {
    let rejected = |k: &str| h.rejected.get(k).copied().unwrap_or(0);
    let ambiguous = format!(
        "{} ambiguous → {} resolved accepted, {} resolved refused, {} unresolved",
        h.ambiguous, h.resolved_accepted, h.resolved_rejected, h.unresolved
    );
    let stream = format!("{} reconnects, {} resyncs", h.reconnects, h.resyncs);
    let row = |kind, probability, injected, handled: String| FaultCount {
        kind,
        probability,
        injected,
        handled,
    };
    vec![
        row(
            "ws_drops",
            f.ws_drop_probability,
            t.ws_drops,
            stream.clone(),
        ),
        row(
            "ws_stalls",
            f.ws_stall_probability,
            t.ws_stalls,
            format!("held {} ms each; {stream}", f.ws_stall_ms),
        ),
        row(
            "ws_malformed",
            f.ws_malformed_probability,
            t.ws_malformed,
            "frame skipped by the decoder, connection kept (counter not reachable)".into(),
        ),
        row(
            "rest_429",
            f.rest_429_probability,
            t.rest_429,
            format!(
                "REST retried after Retry-After; {} requests refused on REST",
                rejected("rest")
            ),
        ),
        row(
            "rest_5xx",
            f.rest_5xx_probability,
            t.rest_5xx,
            format!(
                "REST retried with back-off; {} requests refused on REST",
                rejected("rest")
            ),
        ),
        row(
            "rest_timeouts",
            f.rest_timeout_probability,
            t.rest_timeouts,
            "client timeout, then retried (nothing was signed)".into(),
        ),
        row(
            "node_429",
            f.node_429_probability,
            t.node_429,
            format!(
                "{} refused by the node; lookups polled again",
                rejected("node")
            ),
        ),
        row(
            "node_5xx",
            f.node_5xx_probability,
            t.node_5xx,
            ambiguous.clone(),
        ),
        row(
            "tx_aborts",
            f.tx_abort_probability,
            t.tx_aborts,
            format!("{} requests refused with a Move abort", rejected("abort")),
        ),
        row(
            "tx_expired",
            f.tx_expire_probability,
            t.tx_expired,
            format!(
                "{} requests refused as expired (at once or on resolution)",
                rejected("expired") + h.resolved_rejected
            ),
        ),
        row("tx_lost", f.tx_lose_probability, t.tx_lost, ambiguous),
        row(
            "sequence_skews",
            f.sequence_skew_probability,
            t.sequence_skews,
            "too-old refusal, refetch and rebuild once".into(),
        ),
    ]
}
