//! Positions, fees and margin: what a fill does to the two parties' margin accounts, and the
//! portfolio-margin view (IM, MM, equity) per (maker, pair).
//!
//! Rounding, stated once: fees, realised PnL and funding are USDC amounts rounded to 6 decimals
//! (half away from zero); an average entry price is rounded to 12 decimals (half to even) when
//! the exact quotient has more. Sizes and prices on the book are integer lots and ticks.

use alloy_primitives::Address;
use perpbot_aptos::AccountAddress;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::json;

use super::core::{Core, Position, hex_id, maker_of};
use super::wire::num;
use crate::matching::Match;

/// USDC rounding.
pub fn usdc(x: Decimal) -> Decimal {
    x.round_dp_with_strategy(6, RoundingStrategy::MidpointAwayFromZero)
}

/// Who took liquidity in a batch of fills.
#[derive(Debug, Clone)]
pub struct Taker {
    /// Book account.
    pub account: AccountAddress,
    /// Kyan id of the taker order (= the `trade_id`).
    pub kid: u128,
    /// Its limit price (none for a liquidation close).
    pub limit: Option<rust_decimal::Decimal>,
    /// A liquidation trade.
    pub liquidation: bool,
}

/// A maker's margin on one pair.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarginView {
    /// Collateral (deposits, realised PnL, fees, funding).
    pub collateral: Decimal,
    /// Unrealised PnL at mark.
    pub upnl: Decimal,
    /// `collateral + upnl`.
    pub equity: Decimal,
    /// Initial margin (positions and open orders).
    pub im: Decimal,
    /// Maintenance margin (positions).
    pub mm: Decimal,
    /// Σ |position notional at mark|.
    pub notional: Decimal,
    /// Net delta in contracts (single-perp pairs: the position).
    pub delta: Decimal,
}

/// Apply a fill of `delta` lots (signed) at `price` to a position; returns the realised PnL.
pub fn trade(pos: &mut Position, delta: i128, contracts: Decimal, price: Decimal) -> Decimal {
    let old = pos.lots;
    let new = old + delta;
    let size_of = |lots: i128| -> Decimal {
        if delta == 0 {
            Decimal::ZERO
        } else {
            contracts * Decimal::from(lots.unsigned_abs() as i128)
                / Decimal::from(delta.unsigned_abs() as i128)
        }
    };
    let mut realised = Decimal::ZERO;
    if old == 0 || (old > 0) == (delta > 0) {
        let (a, b) = (size_of(old), contracts);
        let total = a + b;
        if !total.is_zero() {
            pos.avg = ((a * pos.avg + b * price) / total)
                .round_dp_with_strategy(12, RoundingStrategy::MidpointNearestEven)
                .normalize();
        }
    } else {
        let closed = old.unsigned_abs().min(delta.unsigned_abs()) as i128;
        let sign = if old > 0 { Decimal::ONE } else { -Decimal::ONE };
        realised = usdc(size_of(closed) * (price - pos.avg) * sign);
        if new == 0 {
            pos.avg = Decimal::ZERO;
        } else if (new > 0) != (old > 0) {
            pos.avg = price;
        }
    }
    pos.lots = new;
    realised
}

impl Core {
    /// The margin view of `maker` on `pair` (zero for an unknown maker).
    pub fn margin(&self, maker: Address, pair: &str) -> MarginView {
        let Some(acct) = self.makers.get(&maker).and_then(|m| m.accounts.get(pair)) else {
            return MarginView::default();
        };
        let mut v = MarginView {
            collateral: acct.collateral,
            ..MarginView::default()
        };
        for (inst, pos) in &acct.positions {
            let Some(i) = self.instruments.get(*inst) else {
                continue;
            };
            let size = i.spec.signed_size(pos.lots);
            let mark = i.index;
            v.upnl += size * (mark - pos.avg);
            v.notional += (size * mark).abs();
            v.delta += size;
        }
        let mut orders = Decimal::ZERO;
        for o in self.orders.values().filter(|o| o.maker == maker) {
            if let Some(i) = self.instruments.get(o.inst)
                && i.cfg.pair() == pair
            {
                orders += i.spec.notional(perpbot_model::Lots(o.remaining()), o.price);
            }
        }
        v.upnl = usdc(v.upnl);
        v.equity = v.collateral + v.upnl;
        v.im = usdc((v.notional + orders) * self.cfg.margin.im_rate);
        v.mm = usdc(v.notional * self.cfg.margin.mm_rate);
        v
    }

    /// Refuse an order whose notional would lift the pair's IM above its equity.
    pub fn check_margin(
        &self,
        maker: Address,
        pair: &str,
        extra_notional: Decimal,
        freed_notional: Decimal,
    ) -> Result<(), super::core::Reject> {
        let added = extra_notional - freed_notional;
        if added <= Decimal::ZERO {
            // An order that frees margin is never refused for margin.
            return Ok(());
        }
        let v = self.margin(maker, pair);
        let im = v.im + usdc(added * self.cfg.margin.im_rate);
        if im > v.equity {
            return Err(super::core::Reject::new(
                "INSUFFICIENT_MARGIN",
                format!(
                    "initial margin {im} would exceed equity {} of the {pair} account",
                    v.equity
                ),
            ));
        }
        Ok(())
    }

    /// Book every fill of one taker order: positions, fees, resting orders, trade records (one
    /// per maker fill, one for the whole taker order), book events, MMP and the public tape.
    pub fn settle_fills(&mut self, inst: usize, taker: &Taker, fills: &[Match]) {
        if fills.is_empty() {
            return;
        }
        let Some(i) = self.instruments.get(inst) else {
            return;
        };
        let spec = i.spec.clone();
        let name = i.cfg.name.clone();
        let pair = i.cfg.pair().to_string();
        let index = i.index;
        let now_ms = self.now.as_millis();
        let fees = self.cfg.fees.clone();
        let taker_eoa = maker_of(taker.account).filter(|a| self.makers.contains_key(a));
        let taker_buy = fills
            .first()
            .is_some_and(|f| f.taker_side == perpbot_model::Side::Buy);
        let (mut t_lots, mut t_notional, mut t_fee, mut t_sys) =
            (0u64, Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        let mut touched: Vec<Address> = Vec::new();
        // MMP is judged after the whole taker order is booked, so its cancels never race a
        // fill of the same batch.
        let mut mmp_hits: Vec<(Address, Decimal)> = Vec::new();
        for f in fills {
            let price = spec.ticks_to_price(f.price);
            let contracts = spec.lots_to_size(f.lots);
            let notional = spec.notional(f.lots, f.price);
            // Public tape: one message per trade, signed by the taker's side [D].
            let signed = if taker_buy { contracts } else { -contracts };
            self.public.push((
                format!("trades_perp:{name}"),
                json!([price.to_string(), signed.to_string(), now_ms]),
            ));
            t_lots += f.lots.0;
            t_notional += notional;
            // The maker side.
            let maker_kid = super::core::kyan_id(inst, f.maker_order_id);
            if let Some(m) = maker_of(f.maker_account).filter(|a| self.makers.contains_key(a)) {
                let fee = usdc(notional * fees.maker);
                let sys = usdc(notional * fees.systemic);
                let delta = if taker_buy {
                    -(f.lots.0 as i128)
                } else {
                    f.lots.0 as i128
                };
                let (realised, uuid) =
                    self.book_fill(m, &pair, inst, delta, contracts, price, fee + sys);
                let _ = realised;
                let mut limit = None;
                let mut mmp = false;
                if let Some(o) = self.orders.get_mut(&maker_kid) {
                    o.filled = o.filled.saturating_add(f.lots.0);
                    limit = Some(spec.ticks_to_price(o.price));
                    mmp = o.mmp;
                }
                if let Some(o) = self.orders.get(&maker_kid).cloned() {
                    let state = if o.remaining() == 0 { "filled" } else { "open" };
                    let data = self.order_json(&o, state);
                    self.book_event("update_order", &o, data);
                    if o.remaining() == 0 {
                        self.orders.remove(&maker_kid);
                    }
                }
                let data = json!({
                    "margin_account_id": uuid,
                    "smart_account_address": format!("{m:#x}"),
                    "trade_id": hex_id(taker.kid),
                    "order_id": hex_id(maker_kid),
                    "size": num(contracts),
                    "timestamp": now_ms,
                    "direction": if taker_buy { "sell" } else { "buy" },
                    "index_price": num(index),
                    "instrument_name": name,
                    "average_price": num(price),
                    "limit_price": limit.map(num),
                    "liquidation": false,
                    "taker_fee": 0,
                    "maker_fee": num(fee),
                    "systemic_risk_fee": num(sys),
                    "liquidation_fee": 0,
                    "realised_funding": 0,
                });
                self.trade_event(m, &pair, if taker_buy { "sell" } else { "buy" }, data);
                if mmp {
                    let d = if taker_buy { -contracts } else { contracts };
                    mmp_hits.push((m, d));
                }
                if !touched.contains(&m) {
                    touched.push(m);
                }
            } else {
                self.synthetic_fill_event(inst, f);
            }
            // The taker side, position per fill, one record at the end.
            if let Some(t) = taker_eoa {
                let fee = usdc(notional * fees.taker);
                let sys = usdc(notional * fees.systemic);
                t_fee += fee;
                t_sys += sys;
                let delta = if taker_buy {
                    f.lots.0 as i128
                } else {
                    -(f.lots.0 as i128)
                };
                self.book_fill(t, &pair, inst, delta, contracts, price, fee + sys);
            }
        }
        if let Some(t) = taker_eoa {
            let contracts = spec.lots_to_size(perpbot_model::Lots(t_lots));
            let avg = if contracts.is_zero() {
                Decimal::ZERO
            } else {
                (t_notional / contracts).normalize()
            };
            let uuid = self
                .makers
                .get(&t)
                .and_then(|m| m.accounts.get(&pair))
                .map(|a| a.uuid.clone())
                .unwrap_or_default();
            let direction = if taker_buy { "buy" } else { "sell" };
            let data = json!({
                "margin_account_id": uuid,
                "smart_account_address": format!("{t:#x}"),
                "trade_id": hex_id(taker.kid),
                "order_id": hex_id(taker.kid),
                "size": num(contracts),
                "timestamp": now_ms,
                "direction": direction,
                "index_price": num(index),
                "instrument_name": name,
                "average_price": num(avg),
                "limit_price": taker.limit.map(num),
                "liquidation": taker.liquidation,
                "taker_fee": num(t_fee),
                "maker_fee": 0,
                "systemic_risk_fee": num(t_sys),
                "liquidation_fee": 0,
                "realised_funding": 0,
            });
            self.trade_event(t, &pair, direction, data);
            if !touched.contains(&t) {
                touched.push(t);
            }
        }
        for (m, d) in mmp_hits {
            self.mmp_fill(m, &pair, d);
        }
        for m in touched {
            self.account_state_event(m, &pair);
        }
    }

    /// One party's fill: position, realised PnL and fees into the pair account; returns the
    /// realised PnL and the account's UUID.
    #[allow(clippy::too_many_arguments)]
    fn book_fill(
        &mut self,
        maker: Address,
        pair: &str,
        inst: usize,
        delta: i128,
        contracts: Decimal,
        price: Decimal,
        fee: Decimal,
    ) -> (Decimal, String) {
        let m = self.maker(maker);
        m.fills += 1;
        m.fees_paid += fee;
        let Some(acct) = m.accounts.get_mut(pair) else {
            return (Decimal::ZERO, String::new());
        };
        let pos = acct.positions.entry(inst).or_default();
        let opening = pos.lots == 0 || (pos.lots > 0) == (delta > 0);
        let realised = trade(pos, delta, contracts, price);
        if opening {
            pos.entry_fees += fee;
        }
        if pos.lots == 0 {
            acct.positions.remove(&inst);
        }
        acct.realised_pnl += realised;
        acct.collateral += realised - fee;
        (realised, acct.uuid.clone())
    }

    fn trade_event(
        &mut self,
        maker: Address,
        pair: &str,
        direction: &str,
        data: serde_json::Value,
    ) {
        let history = &mut self.maker(maker).history;
        if history.len() == super::core::HISTORY_LIMIT {
            history.pop_front();
        }
        history.push_back(data.clone());
        self.emit(
            "trade",
            "trade",
            data,
            vec![
                ("account", format!("{maker:#x}")),
                ("pair", pair.to_string()),
                ("direction", direction.to_string()),
            ],
        );
    }

    /// An `account_state` event for one pair account.
    pub fn account_state_event(&mut self, maker: Address, pair: &str) {
        if let Some(data) = self.account_state_json(maker, pair) {
            self.emit(
                "account_state",
                "account_state",
                data,
                vec![
                    ("account", format!("{maker:#x}")),
                    ("pair", pair.to_string()),
                ],
            );
        }
    }

    /// A book event (`post_order`, `cancel_order`, `update_order`) for `orderbook_maker` and
    /// `orderbook_perps`; `data` is one order object, sent as a one-element array \[D\].
    pub fn book_event(
        &mut self,
        kind: &'static str,
        o: &super::core::OrderInfo,
        data: serde_json::Value,
    ) {
        let Some(i) = self.instruments.get(o.inst) else {
            return;
        };
        let pair = i.cfg.pair().to_string();
        let name = i.cfg.name.clone();
        let direction = if o.buy { "buy" } else { "sell" };
        self.emit(
            "orderbook_maker",
            kind,
            json!([data.clone()]),
            vec![("maker", format!("{:#x}", o.maker)), ("pair", pair.clone())],
        );
        self.emit(
            "orderbook_perps",
            kind,
            json!([data]),
            vec![
                ("instrument_name", name),
                ("pair", pair),
                ("direction", direction.to_string()),
            ],
        );
    }
}
