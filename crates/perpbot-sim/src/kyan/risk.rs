//! The venue's protections and periodic work: market-maker protection, the heartbeat
//! dead-man's switch, hourly funding and liquidation.
//!
//! Decisions (Kyan leaves them open):
//! * MMP triggers when |net delta of `mmp:true` fills within `interval`| **reaches**
//!   `delta_limit` (≥) **\[ASSUMED\]**; the freeze ends after `frozen_time` (0: until the
//!   config is posted again) and resets the window \[D\].
//! * Funding: the configured interval is "the hour": each settlement pays the hourly rate once.
//!   The premium is sampled at every driver step and averaged (\[D\]: every minute, time
//!   weighted); the perp price is the book mid, the index when the book is one-sided beyond the
//!   rules or the spread exceeds 1 % of the index \[D\]. Payment = size × mark × rate, longs pay
//!   when positive, rounded to 6 decimals per account. Funding is not netted to zero across
//!   accounts (synthetic traders have no ledger).
//! * Liquidation: equity < MM closes the pair account's positions at the book (market orders,
//!   IOC, no price bound); any remainder is closed at the mark. It cancels the pair's orders,
//!   emits `account_liquidation`, and `bankruptcy` when equity ends below zero (then the account
//!   is reset to zero collateral: the insurance fund pays).

use alloy_primitives::Address;
use perpbot_model::{Level, Lots, Ticks, Timestamp};
use rust_decimal::Decimal;
use serde_json::json;

use super::core::{Core, MmpConfig, MmpState, kyan_id};
use super::ledger::{Taker, usdc};
use super::wire::num;
use crate::matching::PlaceOrder;

impl Core {
    /// Count a fill of an `mmp:true` order; trigger when the window's net delta reaches the
    /// limit.
    pub fn mmp_fill(&mut self, maker: Address, pair: &str, delta: Decimal) {
        let now = self.now;
        let Some(st) = self
            .makers
            .get_mut(&maker)
            .and_then(|m| m.mmp.get_mut(pair))
        else {
            return;
        };
        if !st.cfg.active || st.frozen_until.is_some() {
            return;
        }
        let horizon = Timestamp(
            now.0
                .saturating_sub(st.cfg.interval.saturating_mul(1_000_000_000)),
        );
        while st.window.front().is_some_and(|(t, _)| *t < horizon) {
            st.window.pop_front();
        }
        st.window.push_back((now, delta));
        let net: Decimal = st.window.iter().map(|(_, d)| *d).sum();
        if st.cfg.delta_limit.is_zero() || net.abs() < st.cfg.delta_limit {
            return;
        }
        let frozen = st.cfg.frozen_time;
        st.frozen_until = Some(if frozen == 0 {
            Timestamp(u64::MAX)
        } else {
            now.plus(std::time::Duration::from_secs(frozen))
        });
        st.window.clear();
        let pair_owned = pair.to_string();
        let insts: Vec<usize> = (0..self.instruments.len())
            .filter(|i| self.instruments[*i].cfg.pair() == pair)
            .collect();
        self.cancel_where(maker, |o| o.mmp && insts.contains(&o.inst));
        let until_ms = (frozen > 0).then(|| now.as_millis() + frozen * 1000);
        let addr = format!("{maker:#x}");
        self.emit(
            "mmp",
            "mmp_triggered",
            json!({
                "smart_account_address": addr,
                "pair_symbol": pair_owned,
                "frozen_until": until_ms,
                "frozen_duration_seconds": frozen,
            }),
            vec![
                ("smart_account_address", addr.clone()),
                ("pair", pair_owned),
            ],
        );
    }

    /// Set (or with `active: false` remove) the MMP config of (maker, pair); returns the ids of
    /// the `mmp:true` orders cancelled (on deactivation) \[D\].
    pub fn mmp_configure(&mut self, maker: Address, pair: &str, cfg: MmpConfig) -> Vec<u128> {
        self.maker(maker);
        let active = cfg.active;
        if let Some(m) = self.makers.get_mut(&maker) {
            if active {
                m.mmp.insert(
                    pair.to_string(),
                    MmpState {
                        cfg,
                        window: Default::default(),
                        frozen_until: None,
                    },
                );
            } else {
                m.mmp.remove(pair);
            }
        }
        if active {
            return Vec::new();
        }
        let insts: Vec<usize> = (0..self.instruments.len())
            .filter(|i| self.instruments[*i].cfg.pair() == pair)
            .collect();
        self.cancel_where(maker, |o| o.mmp && insts.contains(&o.inst))
    }

    /// Arm (or with `timeout == 0` disarm) the heartbeat; returns its expiry in ms (0 when off).
    pub fn heartbeat(&mut self, maker: Address, timeout: u64) -> u64 {
        let now = self.now;
        let m = self.maker(maker);
        if timeout == 0 {
            m.heartbeat = None;
            return 0;
        }
        let at = now.plus(std::time::Duration::from_secs(timeout));
        m.heartbeat = Some((timeout, at));
        at.as_millis()
    }

    /// The periodic work at `now`: expired heartbeats, liquidations, funding samples and (when
    /// `settle`) the funding settlement.
    pub fn tick(&mut self, now: Timestamp, settle: bool) {
        self.now = now;
        let expired: Vec<Address> = self
            .makers
            .iter()
            .filter(|(_, m)| m.heartbeat.is_some_and(|(_, at)| now >= at))
            .map(|(a, _)| *a)
            .collect();
        for maker in expired {
            if let Some(m) = self.makers.get_mut(&maker) {
                m.heartbeat = None;
            }
            self.cancel_where(maker, |_| true);
        }
        self.liquidate_all();
        self.sample_premiums();
        if settle {
            self.settle_funding();
        }
    }

    /// The perp price for funding \[D\]: book mid; the index when the book is empty or the spread
    /// exceeds 1 % of the index; one-sided: the bid above the index, the ask below it, else the
    /// index.
    pub fn perp_price(&self, inst: usize) -> Decimal {
        let index = self.mark(inst);
        let Some(book) = self.book(inst) else {
            return index;
        };
        let px = |l: Option<Level>| l.map(|l| self.price(inst, l.price));
        match (px(book.best_bid()), px(book.best_ask())) {
            (Some(b), Some(a)) => {
                if a - b > index / Decimal::from(100) {
                    index
                } else {
                    (a + b) / Decimal::TWO
                }
            }
            (Some(b), None) if b > index => b,
            (None, Some(a)) if a < index => a,
            _ => index,
        }
    }

    fn sample_premiums(&mut self) {
        for inst in 0..self.instruments.len() {
            let index = self.mark(inst);
            if index.is_zero() {
                continue;
            }
            let p = (self.perp_price(inst) - index) / index;
            if let Some(i) = self.instruments.get_mut(inst) {
                i.premium_sum += p;
                i.premium_n += 1;
            }
        }
    }

    /// The hourly rate of an average premium \[D newest\]: dead zone, clamp, divide.
    pub fn funding_rate(&self, premium: Decimal) -> Decimal {
        let f = &self.cfg.funding;
        let shrunk = if premium.abs() <= f.dead_zone {
            Decimal::ZERO
        } else if premium > Decimal::ZERO {
            premium - f.dead_zone
        } else {
            premium + f.dead_zone
        };
        (shrunk.clamp(-f.clamp, f.clamp) / f.divisor).round_dp(12)
    }

    /// Pay funding on every position and publish the new rates.
    pub fn settle_funding(&mut self) {
        let now_ms = self.now.as_millis();
        for inst in 0..self.instruments.len() {
            if self.instruments[inst].premium_n == 0 {
                self.sample_premiums();
            }
            let i = &self.instruments[inst];
            let avg = i.premium_sum / Decimal::from(i.premium_n.max(1));
            let rate = self.funding_rate(avg);
            let mark = i.index;
            let spec = i.spec.clone();
            let name = i.cfg.name.clone();
            let pair = i.cfg.pair().to_string();
            let perp = self.perp_price(inst);
            if let Some(i) = self.instruments.get_mut(inst) {
                i.premium_sum = Decimal::ZERO;
                i.premium_n = 0;
                i.funding_rate = rate;
            }
            let mut paid_by = Vec::new();
            for (addr, m) in self.makers.iter_mut() {
                let Some(acct) = m.accounts.get_mut(&pair) else {
                    continue;
                };
                let Some(pos) = acct.positions.get(&inst) else {
                    continue;
                };
                let pay = usdc(spec.signed_size(pos.lots) * mark * rate);
                acct.collateral -= pay;
                acct.funding -= pay;
                m.funding_paid += pay;
                paid_by.push(*addr);
            }
            self.emit(
                "funding",
                "funding",
                json!({
                    "instrument_name": name,
                    "timestamp": now_ms,
                    "spot_price": num(mark),
                    "perp_price": num(perp),
                    "funding_rate": num(rate),
                }),
                vec![("instrument_name", name.clone())],
            );
            self.public.push((
                format!("market:funding:current:{name}"),
                json!({
                    "instrument_name": name,
                    "period": "1h",
                    "rate_yearly": (rate * Decimal::from(8760)).normalize().to_string(),
                    "rate_hourly": rate.normalize().to_string(),
                    "timestamp_ms": now_ms,
                }),
            ));
            for a in paid_by {
                self.account_state_event(a, &pair);
            }
        }
    }

    fn liquidate_all(&mut self) {
        let mut due = Vec::new();
        for (addr, m) in &self.makers {
            for (pair, acct) in &m.accounts {
                if acct.positions.is_empty() {
                    continue;
                }
                let v = self.margin(*addr, pair);
                if v.equity < v.mm {
                    due.push((*addr, pair.clone()));
                }
            }
        }
        for (maker, pair) in due {
            self.liquidate(maker, &pair);
        }
    }

    /// Close a pair account at the book (the rest at the mark) and emit the events.
    pub fn liquidate(&mut self, maker: Address, pair: &str) {
        let insts: Vec<usize> = (0..self.instruments.len())
            .filter(|i| self.instruments[*i].cfg.pair() == pair)
            .collect();
        self.cancel_where(maker, |o| insts.contains(&o.inst));
        let account = super::core::account_of(maker);
        for inst in insts {
            let lots = self
                .makers
                .get(&maker)
                .and_then(|m| m.accounts.get(pair))
                .and_then(|a| a.positions.get(&inst))
                .map(|p| p.lots)
                .unwrap_or(0);
            if lots == 0 {
                continue;
            }
            let buy = lots < 0;
            let size = u64::try_from(lots.unsigned_abs()).unwrap_or(u64::MAX);
            let limit = if buy {
                Ticks(perpbot_model::MAX_PRICE_TICKS)
            } else {
                Ticks(1)
            };
            let req = PlaceOrder::limit(account, Core::side(buy), Lots(size), limit);
            let result = self.book_mut(inst).and_then(|b| {
                b.atomically(|b| {
                    let r = b.place(&req)?;
                    if r.rested.is_some() {
                        b.cancel(account, r.order_id)?;
                    }
                    Ok(r)
                })
                .ok()
            });
            if let Some(r) = result {
                let t = Taker {
                    account,
                    kid: kyan_id(inst, r.order_id),
                    limit: None,
                    liquidation: true,
                };
                self.settle_fills(inst, &t, &r.fills);
            }
            // Whatever the book could not take closes at the mark.
            let mark = self.mark(inst);
            if let Some(acct) = self
                .makers
                .get_mut(&maker)
                .and_then(|m| m.accounts.get_mut(pair))
                && let Some(pos) = acct.positions.remove(&inst)
            {
                let size = self.instruments[inst].spec.signed_size(pos.lots);
                let pnl = usdc(size * (mark - pos.avg));
                acct.realised_pnl += pnl;
                acct.collateral += pnl;
            }
        }
        let addr = format!("{maker:#x}");
        let now_ms = self.now.as_millis();
        let (id, equity) = match self
            .makers
            .get_mut(&maker)
            .and_then(|m| m.accounts.get_mut(pair))
        {
            Some(a) => {
                a.liquidated = true;
                let e = a.collateral;
                if e < Decimal::ZERO {
                    a.collateral = Decimal::ZERO;
                }
                (a.id, e)
            }
            None => return,
        };
        let data = json!({"smart_account_address": addr, "pair": pair, "margin_account": id, "timestamp": now_ms});
        let attrs = vec![("account", addr.clone()), ("pair", pair.to_string())];
        self.emit(
            "account_liquidation",
            "account_liquidation",
            data.clone(),
            attrs.clone(),
        );
        if equity < Decimal::ZERO {
            self.emit("bankruptcy", "bankruptcy", data, attrs);
        }
        self.account_state_event(maker, pair);
    }
}
