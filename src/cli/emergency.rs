//! `perpbot cancel-all` and `perpbot flatten`: the emergency commands, for when no bot is running
//! (or the one running cannot be trusted) and the account must be made safe from a shell.
//!
//! Both read the config `perpbot run` reads, take the key the way `perpbot funds` does (the
//! config's environment variable or owner-only key file), list what is open on the venue over
//! Kana's REST API (`getOpenOrders`, `getPositions`, reference §4.4), act on each item, and then
//! re-read the venue and print what remains. Every item is printed with what happened to it and
//! the transaction that did it; an item that failed is printed with the reason and makes the exit
//! code non-zero. Nothing is skipped without a line saying so.
//!
//! * `cancel-all` cancels every open order through the writer's cancel path
//!   (`POST /cancelMultipleOrders` → `cancel_multiple_orders`, reference §4.3.4/§6.1 \[CHAIN\]),
//!   in batches of `venue.kana.max_batch` per market. A batch the chain refuses (one of its orders
//!   was filled meanwhile aborts the whole transaction) is retried one order at a time.
//! * `flatten` cancels the resting orders first (so none can reopen a position), then closes each
//!   position — each hedge side apart — with the writer's close: a closing market order
//!   (`/placeMarketOrder` with `direction = true`, the position's side and its leverage,
//!   reference §4.3 \[DOC\]). Not `collapsePosition`: whether it closes both hedge sides is
//!   \[UNK\] (§4.3.8) and the writer refuses to sign a payload it does not know by name.
//!
//! Exit codes: 0 when everything was done and nothing remains; 4 ([`exit::ORDERS_LEFT_OPEN`])
//! when the venue still lists something in scope at the end; 1 when an item failed but nothing
//! remains in scope; 3 for a config problem or the missing mainnet confirmation.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use rust_decimal::Decimal;

use super::exit;
use crate::aptos::AccountAddress;
use crate::clock::parse_duration;
use crate::model::{Direction, MarketId, MarketSpec, PositionSide, Rounding, Side};
use crate::outln;
use crate::venue::kana::decode::{book_side, order_type_meaning};
use crate::venue::kana::rest::KanaRest;
use crate::venue::kana::venue::KanaAccess;
use crate::venue::kana::wire::{WireOpenOrder, WirePosition};
use crate::venue::kana::writer::KanaWriter;
use crate::venue::{
    CancelOrder, RefusalKind, RequestContext, RequestOutcome, VenueRequest, VenueWriter,
};

/// Options of `cancel-all` and `flatten`.
#[derive(Debug, clap::Args)]
pub struct EmergencyArgs {
    /// The config `perpbot run` uses (a Kana venue: `[venue.kana]` names the hosts and the key).
    #[arg(long)]
    pub config: PathBuf,
    /// Only this market (default: every market the account has anything open in).
    #[arg(long)]
    pub market: Option<u64>,
    /// Allow a mainnet config to move real money.
    #[arg(long)]
    pub i_understand_this_is_mainnet: bool,
    /// How long to wait for the venue's lists to show the result at the end, and for a
    /// transaction whose outcome was unknown (`10s`, `1m`). \[INF\] the REST lists come from
    /// Kana's indexer, which can lag the chain by a moment.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub settle: Duration,
}

/// Which emergency command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Cancel every open order.
    CancelAll,
    /// Cancel every open order, then close every position.
    Flatten,
}

/// Run `cancel-all` or `flatten`; the exit code is described in the module docs.
pub async fn run(args: &EmergencyArgs, action: Action) -> Result<ExitCode> {
    let config = crate::config::Config::load(&args.config)?;
    let kana = config.venue.kana.clone().ok_or_else(|| {
        exit::invalid_config(format!(
            "{}: venue.kana is not configured (the emergency commands act on a Kana account)",
            args.config.display()
        ))
    })?;
    config
        .check_mainnet_confirmation(args.i_understand_this_is_mainnet)
        .map_err(exit::invalid_config)?;
    let package = kana.package_address().map_err(exit::invalid_config)?;
    let access = KanaAccess::open(&kana).await?;
    let scope = args.market.map(MarketId);
    let wallet = access.wallet;
    let rest = Arc::clone(&access.rest);
    outln!(
        "{} for wallet {wallet} on {}{}",
        match action {
            Action::CancelAll => "cancel-all",
            Action::Flatten => "flatten",
        },
        format!("{:?}", kana.network).to_lowercase(),
        scope.map_or(String::new(), |m| format!(", market {m}"))
    )?;

    let orders = list_orders(&rest, wallet, scope).await?;
    let positions = match action {
        Action::Flatten => list_positions(&rest, wallet, scope).await?,
        Action::CancelAll => Vec::new(),
    };
    let markets: BTreeSet<MarketId> = orders
        .iter()
        .filter_map(|o| o.market)
        .chain(positions.iter().filter_map(|p| p.market))
        .collect();
    let mut specs = BTreeMap::new();
    let mut spec_errors = BTreeMap::new();
    for market in markets {
        match rest.market_spec(market).await {
            Ok(spec) => {
                specs.insert(market, spec);
            }
            Err(e) => {
                spec_errors.insert(market, format!("getMarketInfo {market}: {e}"));
            }
        }
    }
    let writer = KanaWriter::new(
        access.rest,
        access.submitter,
        specs.values().cloned().collect(),
        access.writer,
    )
    .with_package(package);
    let mut run = Run {
        writer,
        specs,
        spec_errors,
        settle: args.settle,
        failures: 0,
    };

    run.cancel_orders(orders).await?;
    if action == Action::Flatten {
        run.close_positions(positions).await?;
    }

    let remaining = remaining(&rest, wallet, scope, action, args.settle, &run.specs).await?;
    if remaining.is_empty() {
        outln!("remaining: nothing open{}", in_scope(scope))?;
    } else {
        outln!(
            "remaining: {} still open{}",
            remaining.len(),
            in_scope(scope)
        )?;
        for line in &remaining {
            outln!("  {line}")?;
        }
    }
    let code = if !remaining.is_empty() {
        exit::ORDERS_LEFT_OPEN
    } else if run.failures > 0 {
        exit::FAILURE
    } else {
        exit::SUCCESS
    };
    if code != exit::SUCCESS {
        outln!(
            "{} item(s) failed; {} still open: look at the venue now",
            run.failures,
            remaining.len()
        )?;
    }
    Ok(ExitCode::from(code))
}

fn in_scope(scope: Option<MarketId>) -> String {
    scope.map_or(String::new(), |m| format!(" in market {m}"))
}

/// One open order as the venue lists it. Fields that did not parse are `None` and the order is
/// reported as failed rather than guessed at.
#[derive(Debug, Clone)]
struct ListedOrder {
    market: Option<MarketId>,
    market_text: String,
    id: Option<u128>,
    id_text: String,
    /// Position side and direction (reference §8.1).
    meaning: Option<(PositionSide, Direction)>,
    order_type: String,
    price: String,
    remaining: String,
}

impl ListedOrder {
    fn from_wire(o: &WireOpenOrder<'_>) -> ListedOrder {
        let code = o.order_type.u64().ok();
        ListedOrder {
            market: o.market_id.u64().ok().map(MarketId),
            market_text: o.market_id.text().to_string(),
            id: o.order_id.u128().ok(),
            id_text: o.order_id.text().to_string(),
            meaning: order_meaning(code, o.is_long()),
            order_type: o.order_type.text().to_string(),
            price: o.price.text().to_string(),
            remaining: o.remaining_size.text().to_string(),
        }
    }

    /// `1338 APT-USD buy (open long) 1.000 @ 5.400 order 123`
    fn describe(&self, specs: &BTreeMap<MarketId, MarketSpec>) -> String {
        let side = match self.meaning {
            Some((position, direction)) => {
                let book = match book_side(position, direction) {
                    Side::Buy => "buy",
                    Side::Sell => "sell",
                };
                format!(
                    "{book} ({} {})",
                    match direction {
                        Direction::Open => "open",
                        Direction::Close => "close",
                    },
                    position_name(position)
                )
            }
            None => format!("side unknown (order_type {})", self.order_type),
        };
        format!(
            "market {}{}  {side}  {} @ {}  order {}",
            self.market_text,
            market_name(self.market, specs),
            self.remaining,
            self.price,
            self.id_text
        )
    }
}

/// One position as the venue lists it (see [`ListedOrder`] for the `None`s).
#[derive(Debug, Clone)]
struct ListedPosition {
    market: Option<MarketId>,
    market_text: String,
    side: Option<PositionSide>,
    size: Option<Decimal>,
    size_text: String,
    leverage: Option<u32>,
    leverage_text: String,
    entry: String,
}

impl ListedPosition {
    fn from_wire(p: &WirePosition<'_>) -> ListedPosition {
        ListedPosition {
            market: p.market_id.u64().ok().map(MarketId),
            market_text: p.market_id.text().to_string(),
            side: p.is_long().map(|long| {
                if long {
                    PositionSide::Long
                } else {
                    PositionSide::Short
                }
            }),
            size: p.size.decimal().ok(),
            size_text: p.size.text().to_string(),
            leverage: p.leverage.u32().ok(),
            leverage_text: p.leverage.text().to_string(),
            entry: p.entry_price.text().to_string(),
        }
    }

    /// A record of size zero is no position (the venue may keep an emptied one listed).
    fn is_empty(&self) -> bool {
        self.size.is_some_and(|s| s.is_zero())
    }

    /// `1338 APT-USD long 1.5 (entry 5.4, leverage 2x)`
    fn describe(&self, specs: &BTreeMap<MarketId, MarketSpec>) -> String {
        format!(
            "market {}{}  {} {} (entry {}, leverage {}x)",
            self.market_text,
            market_name(self.market, specs),
            self.side.map_or("side unknown", position_name),
            self.size_text,
            self.entry,
            self.leverage_text
        )
    }
}

fn market_name(market: Option<MarketId>, specs: &BTreeMap<MarketId, MarketSpec>) -> String {
    market
        .and_then(|m| specs.get(&m))
        .map_or(String::new(), |s| format!(" {}", s.name))
}

fn position_name(side: PositionSide) -> &'static str {
    match side {
        PositionSide::Long => "long",
        PositionSide::Short => "short",
    }
}

/// Position side and direction of an open order: an explicit `trade_side`/`is_long` flag wins
/// for the side; otherwise Kana's `order_type` code. \[INF\] (reference §8.1, a hypothesis with
/// direct support for parity and codes 1/2/4/7): odd codes act on the long side, even on the
/// short; 1–4 open or increase, 5–8 close. A cancel needs only the side, so a known flag with an
/// unknown code still cancels (the direction is then shown as `open`, which does not matter to
/// the cancel).
fn order_meaning(code: Option<u64>, is_long: Option<bool>) -> Option<(PositionSide, Direction)> {
    let from_code = code.and_then(order_type_meaning);
    let flag = is_long.map(|l| {
        if l {
            PositionSide::Long
        } else {
            PositionSide::Short
        }
    });
    match (from_code, flag) {
        (Some((parity, direction)), flag) => Some((flag.unwrap_or(parity), direction)),
        (None, Some(side)) => Some((side, Direction::Open)),
        (None, None) => None,
    }
}

/// The open orders in scope. \[INF\] `getOpenOrders` takes `marketId` as optional (G5); the
/// filter is applied here as well, so a server that ignores it cannot widen the scope.
async fn list_orders(
    rest: &KanaRest,
    wallet: AccountAddress,
    scope: Option<MarketId>,
) -> Result<Vec<ListedOrder>> {
    let records = rest
        .open_orders(wallet, scope)
        .await
        .context("listing open orders (getOpenOrders)")?;
    let parsed = records
        .parse()
        .context("listing open orders (getOpenOrders)")?;
    Ok(parsed
        .iter()
        .map(ListedOrder::from_wire)
        .filter(|o| scope.is_none() || o.market == scope)
        .collect())
}

/// The positions in scope (size-zero records left out: they hold nothing).
async fn list_positions(
    rest: &KanaRest,
    wallet: AccountAddress,
    scope: Option<MarketId>,
) -> Result<Vec<ListedPosition>> {
    let records = rest
        .positions(wallet, scope)
        .await
        .context("listing positions (getPositions)")?;
    let parsed = records
        .parse()
        .context("listing positions (getPositions)")?;
    Ok(parsed
        .iter()
        .map(ListedPosition::from_wire)
        .filter(|p| scope.is_none() || p.market == scope)
        .filter(|p| !p.is_empty())
        .collect())
}

/// What is still open at the end, one line each; polled until empty or `settle` has passed.
async fn remaining(
    rest: &KanaRest,
    wallet: AccountAddress,
    scope: Option<MarketId>,
    action: Action,
    settle: Duration,
    specs: &BTreeMap<MarketId, MarketSpec>,
) -> Result<Vec<String>> {
    let deadline = Instant::now() + settle;
    loop {
        let mut lines: Vec<String> = list_orders(rest, wallet, scope)
            .await?
            .iter()
            .map(|o| format!("order     {}", o.describe(specs)))
            .collect();
        if action == Action::Flatten {
            lines.extend(
                list_positions(rest, wallet, scope)
                    .await?
                    .iter()
                    .map(|p| format!("position  {}", p.describe(specs))),
            );
        }
        if lines.is_empty() || Instant::now() >= deadline {
            return Ok(lines);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The state of one command's run: the writer, the markets' specs and the failures so far.
struct Run {
    writer: KanaWriter,
    specs: BTreeMap<MarketId, MarketSpec>,
    spec_errors: BTreeMap<MarketId, String>,
    settle: Duration,
    failures: usize,
}

/// How one venue request ended, with the transaction that carried it.
struct Ended {
    outcome: RequestOutcome,
    tx: Option<String>,
}

impl Ended {
    fn tx(&self) -> String {
        self.tx.clone().unwrap_or_else(|| "(none sent)".into())
    }
}

impl Run {
    fn fail(&mut self, what: &str, item: &str, reason: &str) -> Result<()> {
        self.failures += 1;
        outln!("FAILED    {what} {item}: {reason}")?;
        Ok(())
    }

    /// Execute one request, capturing the hash of the transaction it signed; an ambiguous
    /// outcome is asked after (by hash) until `settle` has passed.
    async fn execute(&self, request: VenueRequest) -> Ended {
        let hashes: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = Arc::clone(&hashes);
        let ctx = RequestContext {
            scope: None,
            on_sent: Some(Arc::new(move |_, token| {
                if let Ok(mut h) = seen.lock() {
                    h.push(token.handle.clone());
                }
                Ok(())
            })),
        };
        let mut outcome = self.writer.execute(request.clone(), &ctx).await;
        let deadline = Instant::now() + self.settle;
        while let RequestOutcome::Ambiguous { token, .. } = &outcome {
            if Instant::now() >= deadline || token.is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            let token = token.clone();
            outcome = self.writer.resolve(&request, token.as_deref()).await;
        }
        let tx = hashes.lock().ok().and_then(|h| h.last().cloned());
        Ended { outcome, tx }
    }

    /// Cancel `orders`, per market in batches of the writer's batch size; a refused batch is
    /// retried one order at a time.
    async fn cancel_orders(&mut self, orders: Vec<ListedOrder>) -> Result<()> {
        if orders.is_empty() {
            outln!("open orders: none")?;
            return Ok(());
        }
        outln!("open orders: {}", orders.len())?;
        let mut by_market: BTreeMap<MarketId, Vec<(ListedOrder, CancelOrder)>> = BTreeMap::new();
        for order in orders {
            let item = order.describe(&self.specs);
            let (Some(market), Some(id)) = (order.market, order.id) else {
                self.fail(
                    "cancel",
                    &item,
                    "the venue's record has no usable market_id or order_id",
                )?;
                continue;
            };
            let Some((position, direction)) = order.meaning else {
                self.fail(
                    "cancel",
                    &item,
                    "cannot tell the order's side (no trade_side, unknown order_type): cancel it by hand",
                )?;
                continue;
            };
            if let Some(e) = self.spec_errors.get(&market).cloned() {
                self.fail("cancel", &item, &e)?;
                continue;
            }
            let cancel = CancelOrder {
                // Kana has no client ids; the writer cancels by the venue's id.
                client_id: crate::model::ClientOrderId(0),
                venue_id: Some(crate::model::VenueOrderId(id)),
                market,
                side: book_side(position, direction),
                direction,
            };
            by_market.entry(market).or_default().push((order, cancel));
        }
        let batch = self.writer.capabilities().max_batch.max(1);
        for (market, items) in by_market {
            for chunk in items.chunks(batch) {
                let request = VenueRequest::Orders {
                    market,
                    cancel: chunk.iter().map(|(_, c)| c.clone()).collect(),
                    place: Vec::new(),
                };
                let ended = self.execute(request).await;
                match &ended.outcome {
                    RequestOutcome::Accepted { .. } => {
                        for (order, _) in chunk {
                            outln!(
                                "cancelled {}  tx {}",
                                order.describe(&self.specs),
                                ended.tx()
                            )?;
                        }
                    }
                    // Refused on chain: one order of the batch (filled meanwhile) aborts the
                    // whole transaction, so the others are tried one at a time. A refusal before
                    // anything was signed (REST, payload check) would refuse each alike.
                    RequestOutcome::Rejected { reason, .. }
                        if chunk.len() > 1 && ended.tx.is_some() =>
                    {
                        outln!(
                            "batch of {} in market {market} refused ({reason}; tx {}); cancelling one at a time",
                            chunk.len(),
                            ended.tx()
                        )?;
                        for one in chunk {
                            self.cancel_one(market, one).await?;
                        }
                    }
                    _ => {
                        for one in chunk {
                            self.report_cancel(one, &ended)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    async fn cancel_one(
        &mut self,
        market: MarketId,
        one: &(ListedOrder, CancelOrder),
    ) -> Result<()> {
        let request = VenueRequest::Orders {
            market,
            cancel: vec![one.1.clone()],
            place: Vec::new(),
        };
        let ended = self.execute(request).await;
        self.report_cancel(one, &ended)
    }

    /// Print how the cancel of one order ended.
    fn report_cancel(&mut self, one: &(ListedOrder, CancelOrder), ended: &Ended) -> Result<()> {
        let item = one.0.describe(&self.specs);
        match &ended.outcome {
            RequestOutcome::Accepted { .. } => {
                outln!("cancelled {item}  tx {}", ended.tx())?;
            }
            RequestOutcome::Rejected {
                reason,
                kind: RefusalKind::UnknownOrder,
            } => {
                // Econia says the id does not rest: filled or cancelled since it was listed.
                // Not a failure by itself; the re-read at the end says whether anything remains.
                outln!(
                    "gone      {item}: no longer resting (filled or cancelled meanwhile: {reason}; tx {})",
                    ended.tx()
                )?;
            }
            RequestOutcome::Rejected { reason, .. } => {
                let reason = format!("{reason} (tx {})", ended.tx());
                self.fail("cancel", &item, &reason)?;
            }
            RequestOutcome::Ambiguous { reason, token } => {
                let reason = format!(
                    "outcome unknown ({reason}); check transaction {}",
                    token.clone().unwrap_or_else(|| ended.tx())
                );
                self.fail("cancel", &item, &reason)?;
            }
            RequestOutcome::Partial { rejected, .. } => {
                let reason = format!("partly refused: {rejected:?} (tx {})", ended.tx());
                self.fail("cancel", &item, &reason)?;
            }
        }
        Ok(())
    }

    /// Close each position with a closing market order of its size, side and leverage.
    async fn close_positions(&mut self, positions: Vec<ListedPosition>) -> Result<()> {
        if positions.is_empty() {
            outln!("positions: none")?;
            return Ok(());
        }
        outln!("positions: {}", positions.len())?;
        for position in positions {
            let item = position.describe(&self.specs);
            let (Some(market), Some(side), Some(size), Some(leverage)) = (
                position.market,
                position.side,
                position.size,
                position.leverage,
            ) else {
                self.fail(
                    "close",
                    &item,
                    "the venue's record lacks a usable market_id, trade_side, size or leverage: close it by hand",
                )?;
                continue;
            };
            if let Some(e) = self.spec_errors.get(&market).cloned() {
                self.fail("close", &item, &e)?;
                continue;
            }
            let Some(spec) = self.specs.get(&market) else {
                self.fail("close", &item, "no market spec")?;
                continue;
            };
            // \[INF\] REST positions carry human sizes (reference §3.4); the close is sized
            // exactly, never rounded: an off-grid size means the record is not what we think.
            let lots = match spec.size_to_lots(size, Rounding::Exact) {
                Ok(l) => l,
                Err(e) => {
                    self.fail("close", &item, &format!("size: {e}"))?;
                    continue;
                }
            };
            let ended = self
                .execute(VenueRequest::ClosePosition {
                    market,
                    position: side,
                    lots,
                    leverage,
                })
                .await;
            match &ended.outcome {
                RequestOutcome::Accepted { .. } => {
                    outln!("closed    {item} at market  tx {}", ended.tx())?;
                }
                RequestOutcome::Rejected { reason, .. } => {
                    let reason = format!("{reason} (tx {})", ended.tx());
                    self.fail("close", &item, &reason)?;
                }
                RequestOutcome::Ambiguous { reason, token } => {
                    let reason = format!(
                        "outcome unknown ({reason}); check transaction {}",
                        token.clone().unwrap_or_else(|| ended.tx())
                    );
                    self.fail("close", &item, &reason)?;
                }
                RequestOutcome::Partial { rejected, .. } => {
                    let reason = format!("partly refused: {rejected:?} (tx {})", ended.tx());
                    self.fail("close", &item, &reason)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_side_flag_beats_the_order_type_parity() {
        assert_eq!(
            order_meaning(Some(1), None),
            Some((PositionSide::Long, Direction::Open))
        );
        assert_eq!(
            order_meaning(Some(8), None),
            Some((PositionSide::Short, Direction::Close))
        );
        assert_eq!(
            order_meaning(Some(1), Some(false)),
            Some((PositionSide::Short, Direction::Open))
        );
        assert_eq!(
            order_meaning(Some(42), Some(true)),
            Some((PositionSide::Long, Direction::Open))
        );
        assert_eq!(order_meaning(Some(42), None), None);
        assert_eq!(order_meaning(None, None), None);
    }
}
