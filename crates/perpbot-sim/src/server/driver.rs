//! The simulator's clock work: block commits of the mempool, synthetic market steps and the
//! exchange's keeper, each publishing what changed.
//!
//! One loop on a short fixed tick ([`COMMIT_TICK_MS`]): every tick commits the mempool entries
//! that are due; every `synthetic.step_ms` it also steps the synthetic market and runs the
//! keeper ([`Exchange::tick`]). The core lock is taken once per tick and never held across an
//! `.await`.

use std::sync::Arc;
use std::time::Duration;

use super::{Shared, SimCore, TxnState, Update};
use crate::exchange::{Exchange, TxEffects, TxError};
use crate::market::{MarketAccess, SyntheticMarket};
use crate::matching::{CancelledOrder, PlaceOrder, PlaceResult};
use crate::{Abort, profile_address};
use perpbot_aptos::{AccountAddress, EntryFunction, KanaAbort};
use perpbot_model::{Level, MarketId, Timestamp, VenueOrderId};

/// Period of the commit tick, in milliseconds.
pub const COMMIT_TICK_MS: u64 = 20;

/// Credit the synthetic traders' profiles so they can trade.
pub fn fund_synthetic(exchange: &mut Exchange, market: &SyntheticMarket) {
    market.fund(exchange.ledger_mut());
}

/// Credit `auto_fund` to `wallet`'s profile the first time it is seen (node submit, REST
/// queries by wallet), as a deposit in its history; the profile's update is queued in
/// [`SimCore::pending`]. Returns the profile when it was funded now.
pub fn auto_fund(
    core: &mut SimCore,
    wallet: AccountAddress,
    now: Timestamp,
) -> Option<AccountAddress> {
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
    // The wallet holds `auto_fund` tokens and its profile `auto_fund` of collateral.
    core.exchange.mint_wallet(wallet, sub_units);
    let profile = core.exchange.faucet(wallet, sub_units, now);
    core.pending.push(Update::Account(profile));
    Some(profile)
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

/// Gas units of `call` under the simulator's [`GasModel`](super::GasModel): the base plus the
/// orders the call names (a call that does not decode costs the base).
pub fn gas_units(core: &SimCore, call: &EntryFunction) -> u64 {
    let orders = crate::abi::decode_call(core.package, call).map_or(0, |c| c.action.orders());
    core.config.gas.units(orders)
}

/// Commit every due mempool entry (in sequence order per sender), drop the expired ones.
/// A committed transaction (success or abort) consumes its sender's sequence number and charges
/// `gas_used × gas_unit_price` octas to the sender, or to the fee payer of a sponsored
/// transaction. Returns the updates to publish.
pub fn commit_due(core: &mut SimCore, now: Timestamp) -> Vec<Update> {
    let mut out = Vec::new();
    let now_us = usecs(now);
    let now_secs = now.as_secs();
    loop {
        let mut progressed = false;
        let mut i = 0;
        while i < core.mempool.len() {
            let Some((hash, meta)) = core.mempool.get(i).map(|e| (e.hash.clone(), e.meta)) else {
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
            let on_chain = core.sequence.get(&meta.sender).copied().unwrap_or(0);
            if meta.expiration_secs <= now_secs || meta.sequence_number < on_chain {
                core.txns.insert(hash, TxnState::Dropped);
                core.mempool.remove(i);
                continue;
            }
            if due > now_us || meta.sequence_number != on_chain {
                i += 1;
                continue;
            }
            let entry = core.mempool.remove(i);
            progressed = true;
            let faults = core.config.faults.clone();
            if core.draw(faults.tx_expire_probability) {
                core.injected.tx_expired += 1;
                core.txns.insert(hash, TxnState::Dropped);
                continue;
            }
            let package = core.package;
            let units = gas_units(core, &entry.call);
            let (result, gas_used) = if units > meta.max_gas_amount {
                // Execution would run past the limit: `Out of gas`, the whole limit charged.
                (Err(None), meta.max_gas_amount)
            } else if core.draw(faults.tx_abort_probability) {
                core.injected.tx_aborts += 1;
                (
                    Err(Some(TxError::Abort(Abort::Kana(faults.abort())))),
                    units,
                )
            } else {
                (
                    core.exchange
                        .execute(meta.sender, &entry.call, now)
                        .map_err(Some),
                    units,
                )
            };
            core.sequence
                .insert(meta.sender, meta.sequence_number.saturating_add(1));
            // A sponsored (fee-payer) transaction's gas is its fee payer's to pay.
            let payer = core
                .txn_extra
                .get(&hash)
                .and_then(|x| x.fee_payer)
                .unwrap_or(meta.sender);
            core.charge_gas(payer, gas_used.saturating_mul(meta.gas_unit_price));
            core.version = core.version.saturating_add(1);
            let (success, vm_status, events) = match result {
                Ok(fx) => {
                    updates_of(&fx, &mut out);
                    (
                        true,
                        "Executed successfully".to_string(),
                        fx.events_json(package),
                    )
                }
                Err(Some(e)) => (false, e.vm_status(package), Vec::new()),
                Err(None) => (false, "Out of gas".to_string(), Vec::new()),
            };
            out.push(Update::Account(profile_address(&meta.sender)));
            core.txns.insert(
                hash,
                TxnState::Committed {
                    version: core.version,
                    success,
                    vm_status,
                    gas_used,
                    timestamp_usecs: now_us,
                    events,
                },
            );
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
            updates.append(&mut core.pending);
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
