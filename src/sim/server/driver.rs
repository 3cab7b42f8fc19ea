//! The simulator's clock work: block commits of the mempool, synthetic market steps and the
//! exchange's keeper, each publishing what changed.
//!
//! One loop on a short fixed tick ([`COMMIT_TICK_MS`]): every tick commits the mempool entries
//! that are due; every `synthetic.step_ms` it also steps the synthetic market and runs the
//! keeper ([`Exchange::tick`]). The core lock is taken once per tick and never held across an
//! `.await`.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use super::{Shared, SimCore, TxnState, Update};
use crate::aptos::{AccountAddress, KanaAbort};
use crate::model::{Level, MarketId, Timestamp, VenueOrderId};
use crate::sim::exchange::{Exchange, TxEffects, TxError};
use crate::sim::market::{MarketAccess, SyntheticMarket};
use crate::sim::matching::{CancelledOrder, PlaceOrder, PlaceResult};
use crate::sim::{Abort, profile_address};

/// Period of the commit tick, in milliseconds.
pub const COMMIT_TICK_MS: u64 = 20;

/// Credit the synthetic traders' profiles so they can trade.
pub fn fund_synthetic(exchange: &mut Exchange, market: &SyntheticMarket) {
    market.fund(exchange.ledger_mut());
}

/// Credit `auto_fund` to `wallet`'s profile the first time it is seen (node submit, REST
/// queries by wallet). Returns the profile when it was funded now.
pub fn auto_fund(core: &mut SimCore, wallet: AccountAddress) -> Option<AccountAddress> {
    if !core.funded.insert(wallet) {
        return None;
    }
    let decimals = core.exchange.ledger().config().quote_decimals;
    let scale = rust_decimal::Decimal::from(10u64.saturating_pow(decimals));
    let sub_units = core
        .config
        .auto_fund
        .checked_mul(scale)
        .and_then(|d| rust_decimal::prelude::ToPrimitive::to_u64(&d.trunc()))
        .unwrap_or(0);
    if sub_units == 0 {
        return None;
    }
    Some(core.exchange.ledger_mut().deposit(wallet, sub_units))
}

/// Ledger time in µs.
pub fn usecs(t: Timestamp) -> u64 {
    t.0 / 1_000
}

/// The synthetic traders' access to the exchange: every order goes through the ledger checks
/// and matching as its own transaction; the effects are collected for publishing.
struct Access<'a> {
    exchange: &'a mut Exchange,
    now: Timestamp,
    fx: TxEffects,
}

fn abort_of(e: TxError) -> Abort {
    e.abort().unwrap_or(Abort::Kana(KanaAbort::MarketNotFound))
}

impl MarketAccess for Access<'_> {
    fn place(&mut self, market: MarketId, order: &PlaceOrder) -> Result<PlaceResult, Abort> {
        let (result, fx) = self
            .exchange
            .place_order(market, order, self.now)
            .map_err(abort_of)?;
        self.fx.absorb(fx);
        Ok(result)
    }

    fn cancel(
        &mut self,
        market: MarketId,
        account: AccountAddress,
        order_id: VenueOrderId,
    ) -> Result<CancelledOrder, Abort> {
        let (cancelled, fx) = self
            .exchange
            .cancel_order(market, account, order_id, self.now)
            .map_err(abort_of)?;
        self.fx.absorb(fx);
        Ok(cancelled)
    }

    fn best_bid(&self, market: MarketId) -> Option<Level> {
        self.exchange.book(market)?.best_bid()
    }

    fn best_ask(&self, market: MarketId) -> Option<Level> {
        self.exchange.book(market)?.best_ask()
    }

    fn depth(&self, market: MarketId, max_levels: usize) -> (Vec<Level>, Vec<Level>) {
        self.exchange.depth(market, max_levels).unwrap_or_default()
    }

    fn resting_orders(&self, market: MarketId, account: AccountAddress) -> Vec<VenueOrderId> {
        self.exchange
            .book(market)
            .map(|b| b.orders_of(account).map(|o| o.id).collect())
            .unwrap_or_default()
    }
}

/// What to publish: books and trades of markets, accounts.
fn updates_of(fx: &TxEffects, out: &mut Vec<Update>) {
    for m in &fx.markets {
        out.push(Update::Book(*m));
    }
    let mut traded: Vec<MarketId> = fx.fills.iter().map(|f| f.market).collect();
    traded.dedup();
    for m in traded {
        out.push(Update::Trades(m));
    }
    for (m, _) in &fx.funding {
        out.push(Update::Funding(*m));
    }
    for a in &fx.accounts {
        out.push(Update::Account(*a));
    }
}

fn draw(core: &mut SimCore, p: f64) -> bool {
    p > 0.0 && core.faults.random::<f64>() < p
}

/// Commit every due mempool entry (in sequence order per sender), drop the expired ones.
/// Returns the updates to publish.
pub fn commit_due(core: &mut SimCore, now: Timestamp) -> Vec<Update> {
    let mut out = Vec::new();
    let now_us = usecs(now);
    let now_secs = now.as_secs();
    loop {
        let mut progressed = false;
        let mut i = 0;
        while i < core.mempool.len() {
            let Some((hash, sender, seq, expiration)) = core
                .mempool
                .get(i)
                .map(|(h, s, q, _, e)| (h.clone(), *s, *q, *e))
            else {
                break;
            };
            let due = match core.txns.get(&hash) {
                Some(TxnState::Pending { due_usecs }) => *due_usecs,
                _ => {
                    // Lost or otherwise settled: no longer in the mempool.
                    core.mempool.remove(i);
                    continue;
                }
            };
            let on_chain = core.sequence.get(&sender).copied().unwrap_or(0);
            if expiration <= now_secs || seq < on_chain {
                core.txns.insert(hash, TxnState::Dropped);
                core.mempool.remove(i);
                continue;
            }
            if due > now_us || seq != on_chain {
                i += 1;
                continue;
            }
            let entry = core.mempool.remove(i);
            progressed = true;
            let call = entry.3;
            let faults = core.config.faults.clone();
            if draw(core, faults.tx_expire_probability) {
                core.txns.insert(hash, TxnState::Dropped);
                continue;
            }
            let package = core.package;
            let result = if draw(core, faults.tx_abort_probability) {
                Err(TxError::Abort(Abort::Kana(KanaAbort::NotKana)))
            } else {
                core.exchange.execute(sender, &call, now)
            };
            core.sequence.insert(sender, seq.saturating_add(1));
            core.version = core.version.saturating_add(1);
            let state = match result {
                Ok(fx) => {
                    updates_of(&fx, &mut out);
                    TxnState::Committed {
                        version: core.version,
                        success: true,
                        vm_status: "Executed successfully".to_string(),
                        events: fx.events_json(package),
                    }
                }
                Err(e) => TxnState::Committed {
                    version: core.version,
                    success: false,
                    vm_status: e.vm_status(package),
                    events: Vec::new(),
                },
            };
            out.push(Update::Account(profile_address(&sender)));
            core.txns.insert(hash, state);
        }
        if !progressed {
            break;
        }
    }
    out
}

/// One market step plus the keeper at `now`. Returns the updates to publish.
pub fn step_market(core: &mut SimCore, now: Timestamp) -> Vec<Update> {
    let mut out = Vec::new();
    let SimCore {
        exchange, market, ..
    } = core;
    let mut access = Access {
        exchange,
        now,
        fx: TxEffects::default(),
    };
    market.step(now, &mut access);
    let fx = access.fx;
    updates_of(&fx, &mut out);
    let kept = core.exchange.tick(now);
    updates_of(&kept, &mut out);
    out
}

/// Run until aborted.
pub async fn run(shared: Arc<Shared>) {
    let step_ms = {
        let core = shared.core();
        core.config.synthetic.step_ms.max(1)
    };
    let mut interval = tokio::time::interval(Duration::from_millis(COMMIT_TICK_MS.min(step_ms)));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_step: Option<Timestamp> = None;
    loop {
        interval.tick().await;
        let now = shared.clock.now();
        let updates = {
            let mut core = shared.core();
            let mut updates = commit_due(&mut core, now);
            if next_step.is_none_or(|t| now >= t) {
                updates.extend(step_market(&mut core, now));
                next_step = Some(now.plus(Duration::from_millis(step_ms)));
            }
            updates
        };
        let mut seen = std::collections::BTreeSet::new();
        for u in updates {
            let key = format!("{u:?}");
            if seen.insert(key) {
                shared.publish(u);
            }
        }
    }
}
